//! Messages both ways: broker-to-client QoS 1 and 2, client-to-broker QoS 1 and 2 across a dropped
//! connection, payload shapes and retain, and the inflight window (scenarios 8, 9, 10 and 16).

use std::sync::mpsc;

use pahoish::testing::MockBroker;
use pahoish::{Client, ErrorCode};

use crate::support::{
    accept_default, connected, disconnected, expect_disconnect, lost, message, published,
    reconnecting_client, record, run, start, stop_loop, subscribed, wait_turn, Ev, Events, Msg,
    CONNACK_ACCEPTED, PUBLISH_WAIT, WAIT,
};

// ---- 8. broker-to-client QoS 1 and 2 ----

/// The QoS 0 PUBLISH the `on_message` of the receiving scenarios sends: whatever `on_message` sends
/// precedes an acknowledgement that is only sent once `on_message` has returned.
const MARKER: [u8; 6] = [
    0x30, 0x04, // PUBLISH QoS 0, remaining length 4
    0x00, 0x01, b'm', // topic "m"
    b'x', // payload "x"
];

/// An `on_message` that reports the message and then publishes `MARKER`.
fn on_message_publishes_marker(client: &Client, events: &Events) {
    let tx = events.sender();
    client.on_message(move |c, _, m| {
        let _ = tx.send(Ev::Message(Msg::of(m)));
        c.publish("m", "x", 0, false)
            .expect("publish from on_message");
    });
}

/// An incoming QoS 1 PUBLISH is passed to on_message, and PUBACK goes out after on_message returns
/// (after what on_message itself published).
#[test]
fn incoming_qos1_is_acknowledged_after_on_message() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.send(&[
            0x32, 0x0a, // PUBLISH QoS 1, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x07, // message id 7
            b'h', b'e', b'y', // payload "hey"
        ])?;
        s.expect(&MARKER)?; // from on_message
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // message id 7
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        on_message_publishes_marker(&client, &events);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("a/b", b"hey", 1, 7));
        events.expect(published(1)); // the marker (QoS 0, written)
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A message over 4 MiB (which the client hands on in its read buffer rather than copying it out)
/// arrives whole and acknowledged, and the small one after it is read into a fresh buffer.
#[test]
fn a_large_incoming_message_arrives_intact_and_the_next_one_after_it() {
    let big: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut publish = vec![0x32]; // PUBLISH QoS 1
    let mut remaining = 2 + 3 + 2 + big.len(); // topic length, "a/b", message id, payload
    while remaining > 0x7f {
        publish.push((remaining & 0x7f) as u8 | 0x80);
        remaining >>= 7;
    }
    publish.push(remaining as u8);
    publish.extend_from_slice(&[0x00, 0x03, b'a', b'/', b'b', 0x00, 0x07]); // "a/b", id 7
    publish.extend_from_slice(&big);
    // The test disconnects once the second PUBACK is in: the PUBACK is queued after on_message
    // returns, and a DISCONNECT queued first would leave it unsent.
    let (acked_tx, acked_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.send(&publish)?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // message id 7
        ])?;
        s.send(&[
            0x32, 0x0a, // PUBLISH QoS 1, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x08, // message id 8
            b'h', b'e', b'y', // payload "hey"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        let _ = acked_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("a/b", &big, 1, 7));
        events.expect(message("a/b", b"hey", 1, 8));
        acked_rx
            .recv_timeout(WAIT)
            .expect("the broker got the second PUBACK");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// An incoming QoS 2 PUBLISH gets PUBREC at once without on_message (also when repeated with DUP);
/// PUBREL delivers it once to on_message, then PUBCOMP; a PUBREL for an unknown id still gets PUBCOMP.
#[test]
fn incoming_qos2_is_delivered_on_pubrel() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.send(&[
            0x34, 0x0a, // PUBLISH QoS 2, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x08, // message id 8
            b'h', b'e', b'y', // payload "hey"
        ])?;
        // Had on_message run now, MARKER would come before PUBREC.
        s.expect(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x3c, 0x0a, // PUBLISH QoS 2 DUP, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x08, // message id 8
            b'h', b'e', b'y', // payload "hey"
        ])?;
        s.expect(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x62, 0x02, // PUBREL (flags 0b0010), remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.expect(&MARKER)?; // on_message ran, once
        s.expect(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x63, // message id 99: unknown
        ])?;
        s.expect(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x63, // message id 99
        ])?;
        let _ = turn_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        on_message_publishes_marker(&client, &events);
        start(&client, port, 60);
        events.expect(connected());
        match events.next() {
            Ev::Message(m) => assert_eq!(
                (&m.topic[..], &m.payload[..], m.qos, m.mid, m.retain),
                ("a/b", &b"hey"[..], 2, 8, false)
            ),
            other => panic!("expected on_message, got {other:?}"),
        }
        events.expect(published(1)); // the marker
        turn_rx.recv_timeout(WAIT).expect("the script's turn");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 9. client-to-broker QoS 1 and 2 across a dropped connection ----

/// A QoS 1 PUBLISH the broker drops the connection on is sent again with DUP after the reconnect's
/// CONNACK; its PUBACK completes it: one on_publish, and wait_for_publish returns true.
#[test]
fn qos1_publish_is_resent_with_dup_after_reconnect() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.close(); // no PUBACK
        accept_default(s)?;
        s.expect(&[
            0x3a, 0x06, // PUBLISH QoS 1 with DUP, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 1, false).unwrap();
        assert_eq!((info.mid, info.rc), (1, ErrorCode::Success));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        assert!(info.is_published());
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle(); // on_publish fired once
    });
}

/// A QoS 2 PUBLISH the broker drops the connection on before PUBREC is sent again with DUP after the
/// reconnect, then completes with PUBREC, PUBREL, PUBCOMP.
#[test]
fn qos2_publish_is_resent_with_dup_after_reconnect() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x34, 0x06, // PUBLISH QoS 2, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.close(); // no PUBREC
        accept_default(s)?;
        s.expect(&[
            0x3c, 0x06, // PUBLISH QoS 2 with DUP, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 2, false).unwrap();
        assert_eq!(info.mid, 1);
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A QoS 2 message whose PUBREC arrived before the drop is not published again when the broker kept
/// the session (CleanSession 0, Session Present 1): after the reconnect the client sends PUBREL again
/// and PUBCOMP completes it ([MQTT-4.3.3-1], [MQTT-4.4.0-1]).
#[test]
fn qos2_pubrel_is_resent_after_reconnect() {
    const CONNECT_KEEP: [u8; 16] = [
        0x10, 0x0e, // CONNECT, remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4 (MQTT 3.1.1)
        0x00, // connect flags: no clean session
        0x00, 0x3c, // keepalive 60 s
        0x00, 0x02, b'q', b'2', // client id "q2"
    ];
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_KEEP)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x34, 0x06, // PUBLISH QoS 2, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.close(); // no PUBCOMP
        s.accept()?;
        s.expect(&CONNECT_KEEP)?;
        s.send(&[
            0x20, 0x02, // CONNACK, remaining length 2
            0x01, // session present
            0x00, // accepted
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL again, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .client_id("q2")
            .clean_session(false)
            .build()
            .unwrap();
        client.reconnect_delay_set(0.05, 0.2).unwrap();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 2, false).unwrap();
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(lost());
        events.expect(Ev::Connect {
            rc: 0,
            name: "Success".into(),
            session_present: true,
        });
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// As Paho does with `clean_session=True`: a QoS 2 message whose PUBREC arrived before the drop starts
/// over from its PUBLISH (with DUP) when the new connection has no session. A PUBREL would name an id
/// the new session never saw: the broker would answer PUBCOMP and the message would count as
/// published without ever being delivered.
#[test]
fn qos2_awaiting_pubcomp_starts_over_from_publish_without_a_session() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x34, 0x06, // PUBLISH QoS 2, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.close(); // no PUBCOMP
        accept_default(s)?; // CleanSession 1, no session present
        s.expect(&[
            0x3c, 0x06, // PUBLISH QoS 2 with DUP, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 2, false).unwrap();
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 10. payloads and retain ----

/// An empty payload `()`, a retained message, and payloads given as an integer and a float (sent as
/// their decimal text, b"42" and b"4.2"), each completed by on_publish once written.
#[test]
fn publish_payload_shapes_and_retain() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x30, 0x03, // PUBLISH QoS 0, remaining length 3
            0x00, 0x01, b't', // topic "t", empty payload
        ])?;
        s.expect(&[
            0x31, 0x04, // PUBLISH QoS 0 retained, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'r', // payload "r"
        ])?;
        s.expect(&[
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x01, b't', // topic "t"
            b'4', b'2', // payload 42 as text
        ])?;
        s.expect(&[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x01, b't', // topic "t"
            b'4', b'.', b'2', // payload 4.2 as text
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        // One at a time, each written before the next: bursts from this thread are another scenario
        // (publishes_from_another_thread_always_go_out).
        let written = |info: pahoish::MessageInfo, mid: u16| {
            assert_eq!((info.mid, info.rc), (mid, ErrorCode::Success));
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
            events.expect(published(mid));
        };
        written(client.publish("t", (), 0, false).unwrap(), 1);
        written(client.publish("t", "r", 0, true).unwrap(), 2);
        written(client.publish("t", 42, 0, false).unwrap(), 3);
        written(client.publish("t", 4.2, 0, false).unwrap(), 4);
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 16. inflight window ----

/// With `max_inflight_messages_set(2)` a third QoS 1 message, published while two await PUBACK, waits:
/// a SUBSCRIBE made after it goes out first, and the message follows the first PUBACK.
#[test]
fn max_inflight_holds_the_third_message_until_a_puback() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'1', // payload "1"
        ])?;
        let _ = seen_tx.send(());
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            b'2', // payload "2"
        ])?;
        let _ = seen_tx.send(());
        wait_turn(&turn_rx)?; // the third publish() has returned
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'g', // topic "g"
            b'o', // payload "o": its on_message subscribes to "z"
        ])?;
        // The third PUBLISH (id 3) is held back; the SUBSCRIBE made after it is not.
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x04, // message id 4
            0x00, 0x01, b'z', 0x00, // "z", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x04, // message id 4
            0x00, // granted QoS 0
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x03, // message id 3
            b'3', // payload "3"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x03, // message id 3
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        client.max_inflight_messages_set(2);
        let events = record(&client);
        let tx = events.sender();
        client.on_message(move |c, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            assert_eq!(c.subscribe("z", 0).unwrap(), 4);
        });
        start(&client, port, 60);
        events.expect(connected());
        // One call at a time from this thread, each seen by the broker before the next (bursts from
        // another thread are publishes_from_another_thread_always_go_out).
        let mut infos = Vec::new();
        for payload in ["1", "2"] {
            infos.push(client.publish("t", payload, 1, false).unwrap());
            seen_rx
                .recv_timeout(WAIT)
                .expect("the broker got the PUBLISH");
        }
        infos.push(client.publish("t", "3", 1, false).unwrap());
        turn_tx.send(()).unwrap();
        events.expect(message("g", b"o", 0, 0));
        events.expect(subscribed(4, &[(0, "Granted QoS 0")]));
        events.expect(published(1));
        events.expect(published(2));
        events.expect(published(3));
        for info in &infos {
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        }
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
