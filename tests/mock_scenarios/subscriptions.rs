//! Subscribing and unsubscribing in each of Paho's shapes, and the automatic resubscribe after a
//! reconnect (scenarios 7 and 14).

use std::sync::mpsc;

use pahoish::testing::MockBroker;
use pahoish::Client;

use crate::support::{
    accept_default, connected, disconnected, expect_disconnect, lost, message, reconnecting_client,
    record, run, start, stop_loop, subscribed, wait_turn, Ev, CONNACK_ACCEPTED,
};

// ---- 7. subscribe and unsubscribe ----

/// subscribe in each of Paho's shapes (filter and QoS, a pair, a list) sends one SUBSCRIBE each, the
/// list's filters in one packet; on_subscribe gets the message id and "Granted QoS n", or "Unspecified
/// error" for a 0x80.
#[test]
fn subscribe_single_pair_and_list() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x08, // SUBSCRIBE, remaining length 8
            0x00, 0x01, // message id 1
            0x00, 0x03, b'a', b'/', b'b', 0x00, // "a/b", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x00, // granted QoS 0
        ])?;
        s.expect(&[
            0x82, 0x08, // SUBSCRIBE, remaining length 8
            0x00, 0x02, // message id 2
            0x00, 0x03, b'c', b'/', b'd', 0x01, // "c/d", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x01, // granted QoS 1
        ])?;
        s.expect(&[
            0x82, 0x0c, // SUBSCRIBE, remaining length 12
            0x00, 0x03, // message id 3
            0x00, 0x01, b'e', 0x02, // "e", QoS 2
            0x00, 0x03, b'f', b'/', b'#', 0x00, // "f/#", QoS 0
        ])?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x03, // message id 3
            0x02, // "e": granted QoS 2
            0x80, // "f/#": refused
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("a/b", 0).unwrap(), 1);
        events.expect(subscribed(1, &[(0, "Granted QoS 0")]));
        assert_eq!(client.subscribe(("c/d", 1), 0).unwrap(), 2);
        events.expect(subscribed(2, &[(1, "Granted QoS 1")]));
        assert_eq!(client.subscribe([("e", 2), ("f/#", 0)], 0).unwrap(), 3);
        events.expect(subscribed(
            3,
            &[(2, "Granted QoS 2"), (0x80, "Unspecified error")],
        ));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// unsubscribe of one filter and of a list sends one UNSUBSCRIBE each; UNSUBACK calls on_unsubscribe
/// with the message id.
#[test]
fn unsubscribe_single_and_list() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0xa2, 0x07, // UNSUBSCRIBE (flags 0b0010), remaining length 7
            0x00, 0x01, // message id 1
            0x00, 0x03, b'a', b'/', b'b', // "a/b"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0xa2, 0x0a, // UNSUBSCRIBE, remaining length 10
            0x00, 0x02, // message id 2
            0x00, 0x03, b'c', b'/', b'd', // "c/d"
            0x00, 0x01, b'e', // "e"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.unsubscribe("a/b").unwrap(), 1);
        events.expect(Ev::Unsubscribe { mid: 1 });
        assert_eq!(client.unsubscribe(["c/d", "e"]).unwrap(), 2);
        events.expect(Ev::Unsubscribe { mid: 2 });
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 14. automatic resubscribe ----

/// The Paho idiom, subscribing in on_connect: after the broker drops the connection and reconnects
/// without a session, exactly one SUBSCRIBE is sent (on_connect's), not a second automatic one.
#[test]
fn subscribe_in_on_connect_is_not_sent_twice_after_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x01, // granted QoS 1
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        accept_default(s)?; // session present 0
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x02, // message id 2
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x01, // granted QoS 1
        ])?;
        // A second, automatic SUBSCRIBE would have been written with on_connect's, before DISCONNECT.
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        let tx = events.sender();
        client.on_connect(move |c, _, flags, rc, _| {
            let _ = tx.send(Ev::Connect {
                rc: rc.value(),
                name: rc.to_string(),
                session_present: flags.session_present,
            });
            c.subscribe("a", 1).unwrap();
        });
        start(&client, port, 60);
        events.expect(connected());
        events.expect(subscribed(1, &[(1, "Granted QoS 1")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(connected());
        events.expect(subscribed(2, &[(1, "Granted QoS 1")]));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A subscription made after CONNACK, outside on_connect, is restored by an automatic SUBSCRIBE after
/// a reconnect without a session, and messages on it arrive again.
#[test]
fn subscription_outside_on_connect_is_restored_after_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'b', 0x02, // "b", QoS 2
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x02, // granted QoS 2
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        accept_default(s)?; // session present 0
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x02, // message id 2
            0x00, 0x01, b'b', 0x02, // "b", QoS 2, restored automatically
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x02, // granted QoS 2
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'b', // topic "b"
            b'!', // payload "!"
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("b", 2).unwrap(), 1);
        events.expect(subscribed(1, &[(2, "Granted QoS 2")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(connected());
        // Whether the automatic SUBSCRIBE's SUBACK is reported is the library's choice; the message on
        // the restored subscription must arrive.
        let mut ev = events.next();
        if ev == subscribed(2, &[(2, "Granted QoS 2")]) {
            ev = events.next();
        }
        assert_eq!(ev, message("b", b"!", 0, 0));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// After a reconnect whose CONNACK says the broker kept the session, nothing is resubscribed.
#[test]
fn nothing_is_resubscribed_when_the_session_is_present() {
    const CONNECT_C: [u8; 15] = [
        0x10, 0x0d, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x00, // connect flags: none (clean session off)
        0x00, 0x3c, // keepalive 60 s
        0x00, 0x01, b'c', // client id "c"
    ];
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_C)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'b', 0x00, // "b", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x00, // granted QoS 0
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        s.accept()?;
        s.expect(&CONNECT_C)?;
        s.send(&[
            0x20, 0x02, // CONNACK, remaining length 2
            0x01, // session present
            0x00, // accepted
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'b', // topic "b"
            b'!', // payload "!"
        ])?;
        // A resubscribe would have been written right after on_connect, before DISCONNECT.
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .client_id("c")
            .clean_session(false)
            .build()
            .unwrap();
        client.reconnect_delay_set(0.05, 0.2).unwrap();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("b", 0).unwrap(), 1);
        events.expect(subscribed(1, &[(0, "Granted QoS 0")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(Ev::Connect {
            rc: 0,
            name: "Success".into(),
            session_present: true,
        });
        events.expect(message("b", b"!", 0, 0));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
