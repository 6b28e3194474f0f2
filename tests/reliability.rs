//! Reliability: what must hold however threads interleave and connections come and go. Against
//! `TestBroker`, so nothing needs installing.

use std::sync::mpsc;
use std::time::Duration;

use pahoish::testing::{Direction, TestBroker};
use pahoish::Client;

/// Every wait here is bounded by this, so a failure fails instead of hanging.
const WAIT: Duration = Duration::from_secs(10);

/// `loop_start()` before `connect()` opens one connection: the loop thread, woken by the host that
/// `connect()` records, waits for `connect()`'s opening instead of opening a second connection beside
/// it (Paho's `test_publish_before_connect` documents this race in Paho). 100 rounds, each checked
/// by the CONNECTs the broker received and the `on_connect` calls the client made.
#[test]
fn loop_start_before_connect_opens_one_connection() {
    let broker = TestBroker::start().expect("TestBroker");
    for round in 0..100 {
        let id = format!("one-connection-{round}");
        let client = Client::new(&id);
        let (tx, rx) = mpsc::channel();
        client.on_connect(move |_, _, _, rc, _| {
            let _ = tx.send(rc);
        });
        client.loop_start().expect("loop_start");
        client
            .connect("127.0.0.1", broker.port(), 60)
            .expect("connect");
        let rc = rx.recv_timeout(WAIT).expect("no on_connect");
        assert_eq!(rc, 0, "round {round}");
        client.disconnect().expect("disconnect");
        client.loop_stop().expect("loop_stop");
        // The loop has ended: no connection can come after this.
        assert!(rx.try_recv().is_err(), "round {round}: on_connect twice");
        let connects = broker
            .packets(&id)
            .iter()
            .filter(|(d, p)| *d == Direction::Received && p.name() == "CONNECT")
            .count();
        assert_eq!(connects, 1, "round {round}: {connects} CONNECTs");
    }
}
