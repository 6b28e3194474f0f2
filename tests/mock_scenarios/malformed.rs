//! Malformed packets from the broker: the client closes the connection, reports it, and recovers
//! with nothing of the bad bytes kept (scenario 12).

use std::sync::mpsc;

use pahoish::testing::MockBroker;

use crate::support::{
    accept_default, connected, disconnected, expect_disconnect, lost, message, protocol_error,
    published, reconnecting_client, record, run, start, stop_loop, wait_turn, Ev, Msg,
    CONNACK_ACCEPTED, CONNECT_DEFAULT, PUBLISH_WAIT, WAIT,
};

/// The broker sends `bad` (after CONNACK, once the test body saw on_connect, or instead of CONNACK): the
/// client closes the connection, on_disconnect fires, and after reconnecting to a clean script a QoS 1
/// exchange both ways works (nothing of the bad bytes was kept).
fn malformed_then_recovers(bad: &'static [u8], after_connack: bool) {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (acked_tx, acked_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        if after_connack {
            s.send(&CONNACK_ACCEPTED)?;
            wait_turn(&turn_rx)?;
        }
        s.send(bad)?;
        s.expect_closed()?;
        accept_default(s)?;
        s.expect(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'o', b'k', // payload "ok"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'i', b'n', // payload "in"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        let _ = acked_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        if after_connack {
            events.expect(connected());
            turn_tx.send(()).unwrap();
        }
        events.expect(protocol_error());
        events.expect(connected());
        let info = client.publish("t", "ok", 1, false).unwrap();
        events.expect(published(1));
        events.expect(message("t", b"in", 1, 1));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        // on_message reports before it returns; the PUBACK follows its return.
        acked_rx.recv_timeout(WAIT).expect("the PUBACK of \"in\"");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: `max_packet_size_set(20)` on MQTT 3.1.1, which cannot tell the broker: a 20-byte
/// PUBLISH is delivered, a 21-byte one closes the connection as a protocol error (from its header,
/// before its body is read) and is never delivered.
#[test]
fn max_packet_size_set_bounds_what_mqtt_311_takes() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.send(&[
            0x30, 0x12, // PUBLISH QoS 0, remaining length 18: 20 bytes in all
            0x00, 0x01, b't', // topic "t"
            b'f', b'i', b'f', b't', b'e', b'e', b'n', b' ', b'b', b'y', b't', b'e', b's', b'!',
            b'!', // payload "fifteen bytes!!"
        ])?;
        wait_turn(&turn_rx)?; // the body saw it
        s.send(&[
            0x30,
            0x13, // PUBLISH QoS 0, remaining length 19: 21 bytes (the body never follows)
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = pahoish::Client::new("");
        client.max_packet_size_set(20).unwrap();
        client.reconnect_delay_set(60, 120).unwrap(); // no reconnect within the test
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("t", b"fifteen bytes!!", 0, 0));
        turn_tx.send(()).unwrap();
        events.expect(protocol_error());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A remaining length with five continuation bytes (MQTT allows four) closes the connection.
#[test]
fn malformed_remaining_length() {
    malformed_then_recovers(
        &[
            0x30, // PUBLISH QoS 0
            0xff, 0xff, 0xff, 0xff, 0xff, // remaining length: five continuation bytes
        ],
        true,
    );
}

/// A PUBACK with reserved flag bits set (0x41 instead of 0x40) closes the connection.
#[test]
fn puback_with_reserved_flags() {
    malformed_then_recovers(
        &[
            0x41, 0x02, // PUBACK with flags 0b0001 (must be 0), remaining length 2
            0x00, 0x01, // message id 1
        ],
        true,
    );
}

/// A PUBLISH whose topic is not UTF-8 closes the connection.
#[test]
fn publish_with_non_utf8_topic() {
    malformed_then_recovers(
        &[
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x02, 0xc3, 0x28, // topic: c3 28 is not UTF-8
            b'p', // payload "p"
        ],
        true,
    );
}

/// A CONNACK with remaining length 3 (it must be 2), in answer to CONNECT, closes the connection.
#[test]
fn connack_with_remaining_length_3() {
    malformed_then_recovers(
        &[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, 0x00, 0x00, // flags, return code, and one byte too many
        ],
        false,
    );
}

/// A PUBACK that declares a remaining length of 268,435,455 bytes (it must be 2) closes the connection
/// at once, instead of waiting for (and buffering) 256 MB that can only be a malformed packet.
#[test]
fn puback_declaring_a_huge_length() {
    malformed_then_recovers(
        &[
            0x40, // PUBACK
            0xff, 0xff, 0xff, 0x7f, // remaining length 268,435,455 (the MQTT maximum)
        ],
        true,
    );
}

/// CONNACK and a malformed packet read in one go: on_connect still runs before on_disconnect, and only
/// once for that connection (Paho handles each packet as it reads it).
#[test]
fn connack_and_a_malformed_packet_in_one_read() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&[
            0x20, 0x02, 0x00, 0x00, // CONNACK, accepted
            0x41, 0x02, 0x00, 0x01, // PUBACK with reserved flags: malformed
        ])?;
        s.expect_closed()?;
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(protocol_error());
        events.expect(connected());
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A message read together with the broker's close is delivered before on_disconnect, not after it (nor
/// on the next connection).
#[test]
fn a_message_read_together_with_the_close_comes_before_on_disconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        wait_turn(&turn_rx)?; // on_connect seen
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'A', // payload "A": its on_message holds the loop
        ])?;
        wait_turn(&turn_rx)?; // on_message of A is running
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'B', // payload "B"
        ])?;
        s.close(); // the end of stream right behind B: the client reads both at once
        let _ = sent_tx.send(());
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let tx = events.sender();
        client.on_message(move |_, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            if m.payload == b"A" {
                let _ = gate_rx.recv_timeout(WAIT);
            }
        });
        start(&client, port, 60);
        events.expect(connected());
        turn_tx.send(()).unwrap();
        events.expect(message("t", b"A", 0, 0));
        turn_tx.send(()).unwrap();
        sent_rx.recv_timeout(WAIT).expect("B and the close sent");
        gate_tx.send(()).unwrap();
        events.expect(message("t", b"B", 0, 0));
        events.expect(lost());
        events.expect(connected());
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Item 9 of the conformance gaps ([MQTT-4.8.0-2]): the broker sends half a PUBLISH and drops the
/// connection. That ends the connection with an error (on_disconnect reports it), the half message is
/// never delivered, and the next connection starts clean: the same id then carries a whole message,
/// delivered once.
#[test]
fn half_a_publish_then_the_connection_drops() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (acked_tx, acked_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        wait_turn(&turn_rx)?;
        s.send(&[
            0x32, 0x09, // PUBLISH QoS 1, remaining length 9
            0x00, 0x01, b't', // topic "t"
            0x00, // half of the message id: the rest never comes
        ])?;
        s.close();
        accept_default(s)?;
        s.send(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'o', b'k', // payload "ok"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        let _ = acked_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(connected());
        events.expect(message("t", b"ok", 1, 1));
        acked_rx.recv_timeout(WAIT).expect("the PUBACK of \"ok\"");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
