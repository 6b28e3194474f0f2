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

/// Two clients with one client id take the session from each other at every connect. Paho starts its
/// backoff over at each CONNACK and so reconnects every `min_delay` for ever; here the backoff keeps
/// doubling while connections end soon after their CONNACK, and the log says once that another client
/// probably uses the same id. With a 20 ms minimum, a reset at every CONNACK would make dozens of
/// connections in the 1.5 s watched; doubling makes at most about seven per client.
#[test]
fn two_clients_with_one_id_back_off_instead_of_storming_and_the_log_says_why() {
    use pahoish::LogLevel;
    use std::time::Instant;

    let broker = TestBroker::start().expect("TestBroker");
    let (warn_tx, warn_rx) = mpsc::channel();
    let clients: Vec<Client> = (0..2)
        .map(|_| {
            let c = Client::new("same-id");
            c.reconnect_delay_set(Duration::from_millis(20), Duration::from_secs(2))
                .expect("reconnect_delay_set");
            let tx = warn_tx.clone();
            c.on_log(move |_, _, level, line| {
                if level == LogLevel::Warning && line.contains("same client id") {
                    let _ = tx.send(line.to_owned());
                }
            });
            c.connect_async("127.0.0.1", broker.port(), 60)
                .expect("connect_async");
            c.loop_start().expect("loop_start");
            c
        })
        .collect();
    let line = warn_rx
        .recv_timeout(WAIT)
        .expect("no warning about the client id");
    assert!(line.contains("soon after accepting"), "{line}");
    let watched = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watched {
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in &clients {
        let _ = c.disconnect();
        c.loop_stop().expect("loop_stop");
    }
    let connects = broker
        .packets("same-id")
        .iter()
        .filter(|(d, p)| *d == Direction::Received && p.name() == "CONNECT")
        .count();
    assert!(
        connects <= 20,
        "{connects} CONNECTs from two clients: the backoff did not grow"
    );
    // Once per run of short-lived connections, per client: not a line per reconnect.
    assert!(warn_rx.try_iter().count() <= 1, "the warning was repeated");
}
