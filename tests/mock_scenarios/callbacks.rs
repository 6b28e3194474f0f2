//! Callbacks and the loop: Paho's callback order, publishing from on_message, and publishes from
//! another thread waking the loop (scenarios 13 and 15, and the loop's wake-ups).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pahoish::testing::MockBroker;
use pahoish::Client;

use crate::support::{
    accept_default, connected, disconnected, expect_disconnect, message, published,
    reconnecting_client, record, run, start, stop_loop, Ev, Msg, CONNACK_REFUSED_5,
    CONNECT_DEFAULT, WAIT,
};

// ---- 13. callback order ----

/// The callbacks of one session come in Paho's order: on_connect, on_subscribe, on_publish, on_message,
/// on_unsubscribe, on_disconnect (each step started from the previous callback, the Paho way).
#[test]
fn callback_order_within_a_session() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b't', 0x01, // "t", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x01, // granted QoS 1
        ])?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            b'x', // payload "x"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'x', // payload "x"
        ])?;
        s.expect(&[
            0xa2, 0x05, // UNSUBSCRIBE, remaining length 5
            0x00, 0x03, // message id 3
            0x00, 0x01, b't', // "t"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x03, // message id 3
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .userdata(Vec::<&'static str>::new())
            .build()
            .unwrap();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        client.on_connect(|c, seen, _, _, _| {
            seen.push("on_connect");
            c.subscribe("t", 1).unwrap();
        });
        client.on_subscribe(|c, seen, _, _, _| {
            seen.push("on_subscribe");
            c.publish("t", "x", 1, false).unwrap();
        });
        client.on_publish(|_, seen, _, _, _| seen.push("on_publish"));
        client.on_message(|c, seen, _| {
            seen.push("on_message");
            c.unsubscribe("t").unwrap();
        });
        client.on_unsubscribe(|c, seen, _, _, _| {
            seen.push("on_unsubscribe");
            c.disconnect().unwrap();
        });
        client.on_disconnect(move |_, seen, _, _, _| {
            seen.push("on_disconnect");
            let _ = done_tx.send(());
        });
        start(&client, port, 60);
        done_rx.recv_timeout(WAIT).expect("on_disconnect");
        stop_loop(&client);
        assert_eq!(
            client.user_data_get().unwrap(),
            [
                "on_connect",
                "on_subscribe",
                "on_publish",
                "on_message",
                "on_unsubscribe",
                "on_disconnect"
            ]
        );
    });
}

// ---- 15. publishing from on_message ----

/// A publish made inside on_message goes out as soon as the callback returns, not a keepalive later,
/// and ahead of the PUBACK of the message being handled.
#[test]
fn publish_from_on_message_goes_out_at_once() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.send(&[
            0x32, 0x0a, // PUBLISH QoS 1, remaining length 10
            0x00, 0x02, b'i', b'n', // topic "in"
            0x00, 0x05, // message id 5
            b'p', b'i', b'n', b'g', // payload "ping"
        ])?;
        // Keepalive is 60 s: waiting for the loop's next wake-up would miss this by far.
        s.set_timeout(Duration::from_secs(2));
        s.expect(&[
            0x32, 0x0b, // PUBLISH QoS 1, remaining length 11
            0x00, 0x03, b'o', b'u', b't', // topic "out"
            0x00, 0x01, // message id 1
            b'p', b'o', b'n', b'g', // payload "pong"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x05, // message id 5
        ])?;
        s.set_timeout(Duration::from_secs(5));
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        let tx = events.sender();
        client.on_message(move |c, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            c.publish("out", "pong", 1, false).unwrap();
        });
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("in", b"ping", 1, 5));
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- waking the loop ----

/// Publishes from another thread always reach the wire, however they fall against the loop's wake-ups:
/// bursts of two QoS 0 publishes from the test thread, 0 to 99 µs apart, each burst written before the
/// next.
#[test]
fn publishes_from_another_thread_always_go_out() {
    const BURSTS: usize = 500;
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        for _ in 0..2 * BURSTS {
            s.expect(&[
                0x30, 0x03, // PUBLISH QoS 0, remaining length 3
                0x00, 0x01, b't', // topic "t", empty payload
            ])?;
        }
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let (tx, rx) = mpsc::channel();
        client.on_connect(move |_, _, _, rc, _| {
            let _ = tx.send(rc.value());
        });
        start(&client, port, 60);
        assert_eq!(rx.recv_timeout(WAIT), Ok(0));
        for burst in 0..BURSTS {
            let first = client.publish("t", (), 0, false).unwrap();
            // Sweep the gap between the two wake-ups across the loop's reaction to the first (this
            // spin only varies timing; nothing waits on it).
            let gap = Duration::from_micros((burst % 100) as u64);
            let spin = Instant::now();
            while spin.elapsed() < gap {
                std::hint::spin_loop();
            }
            let second = client.publish("t", (), 0, false).unwrap();
            for info in [first, second] {
                let done = info.wait_for_publish(Some(Duration::from_secs(2)));
                assert!(
                    matches!(done, Ok(true)),
                    "burst {burst}: message {} not written within 2 s: {done:?}",
                    info.mid
                );
            }
        }
        client.disconnect().unwrap();
        stop_loop(&client);
    });
}

/// Userdata shared with a callback through `Arc<Mutex<_>>` works as well as the userdata argument:
/// on_connect and on_disconnect record into it across a refused and an accepted connection.
#[test]
fn callbacks_record_into_shared_state_across_a_refusal() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_REFUSED_5)?;
        s.expect_closed()?;
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let client = reconnecting_client();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let s = Arc::clone(&seen);
        client.on_connect(move |c, _, _, rc, _| {
            s.lock().unwrap().push(format!("connect {rc}"));
            if rc == 0 {
                c.disconnect().unwrap();
            }
        });
        let s = Arc::clone(&seen);
        client.on_disconnect(move |_, _, _, rc, _| {
            s.lock().unwrap().push(format!("disconnect {}", rc.value()));
            if rc == 0 {
                let _ = done_tx.send(());
            }
        });
        start(&client, port, 60);
        done_rx.recv_timeout(WAIT).expect("the final on_disconnect");
        stop_loop(&client);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "connect Not authorized",
                "disconnect 128",
                "connect Success",
                "disconnect 0"
            ]
        );
    });
}
