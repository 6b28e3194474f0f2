//! A manual `loop()` whose caller never drains its full `messages()` channel: the messages the loop
//! cannot hand over wait in the session, and past `PENDING_EVENTS_BOUND` the loop reads nothing more,
//! so they stay bounded however much the broker sends and however often `loop()` is called.

use std::time::{Duration, Instant};

use super::io::PENDING_EVENTS_BOUND;
use crate::testing::TestBroker;
use crate::Client;

#[test]
fn a_manual_loop_never_drained_holds_a_bounded_number_of_messages() {
    let broker = TestBroker::start().expect("TestBroker");
    let client = Client::new("held");
    let rx = client.messages(1);
    client.connect("127.0.0.1", broker.port(), 60).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.is_connected() {
        assert!(Instant::now() < deadline, "no CONNACK");
        client.r#loop(0.05).unwrap();
    }
    client.subscribe("flood", 0).unwrap();
    let publisher = Client::new("flooder");
    publisher.connect("127.0.0.1", broker.port(), 60).unwrap();
    publisher.loop_start().unwrap();
    // Wait for the SUBACK through the loop (the channel takes one message, then is full).
    let mut subscribed = false;
    while !subscribed {
        assert!(Instant::now() < deadline, "no SUBACK");
        client.r#loop(0.05).unwrap();
        subscribed = broker
            .subscriptions("held")
            .iter()
            .any(|(f, _)| f == "flood");
    }
    for i in 0..5_000u32 {
        publisher.publish("flood", i.to_string(), 0, false).unwrap();
    }
    let mut most = 0;
    for _ in 0..400 {
        client.r#loop(0.005).unwrap();
        most = most.max(client.engine().state().session.pending_events());
    }
    // One read's batch may come on top of the bound before the loop stops reading.
    assert!(
        most <= PENDING_EVENTS_BOUND + 256,
        "{most} events held for a channel nobody drains"
    );
    assert!(
        most > 64,
        "the flood never filled the session ({most}): the test checks nothing"
    );
    // Drained, the loop reads again and the messages come, in order.
    let first: Vec<String> = rx
        .try_iter()
        .take(2)
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(first.first().map(String::as_str), Some("0"));
    publisher.disconnect().unwrap();
    publisher.loop_stop().unwrap();
}
