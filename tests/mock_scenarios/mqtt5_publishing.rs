//! MQTT 5 publishing, after mosquitto's client tests (test/lib of eclipse-mosquitto/mosquitto:
//! 03-publish-c2b-qos1-receive-maximum, 03-publish-c2b-qos2-pubrec-error, 11-prop-send-content-type,
//! 11-prop-send-payload-format), and what the client does beyond Paho: the server's Receive Maximum
//! caps the messages in flight, a refused message is never resent, and a resend carries no topic
//! alias.

use std::sync::mpsc;

use pahoish::testing::MockBroker;
use pahoish::{Error, PacketTypes, Properties, Property};

use crate::support::{
    connect_v5, expect_disconnect, packet, puback, record_v5, run, start_v5, stop_loop, v5_client,
    v5_connected, v5_disconnected, v5_lost, v5_published, wait_turn, CONNACK_V5, HELD,
    PUBLISH_WAIT, V5,
};

// ---- Receive Maximum ----

/// PUBLISH QoS 1 of "12345" to "topic" with message id `mid`, no properties.
fn publish_12345(mid: u8) -> [u8; 17] {
    [
        0x32, 0x0f, // PUBLISH QoS 1, remaining length 15
        0x00, 0x05, b't', b'o', b'p', b'i', b'c', // topic "topic"
        0x00, mid,  // message id
        0x00, // property length 0
        b'1', b'2', b'3', b'4', b'5', // payload "12345"
    ]
}

/// publish-c2b-qos1-receive-maximum: the CONNACK's Receive Maximum 3 caps the QoS 1 messages in
/// flight (the client's own limit, 20, would allow all six published in `on_connect`): exactly
/// three go out, and each PUBACK lets the next one out, in order.
#[test]
fn publish_c2b_qos1_receive_maximum() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"rm", 0x02))?;
        s.send(&[
            0x20, 0x06, // CONNACK, remaining length 6
            0x00, // no session present
            0x00, // Success
            0x03, // property length 3
            0x21, 0x00, 0x03, // Receive Maximum 3
        ])?;
        // All six were queued in on_connect, before anything was written.
        s.expect(&[publish_12345(1), publish_12345(2), publish_12345(3)].concat())?;
        s.expect_silence(HELD)?;
        s.send(&puback(1))?;
        s.send(&puback(2))?;
        s.expect(&[publish_12345(4), publish_12345(5)].concat())?;
        s.expect_silence(HELD)?;
        s.send(&puback(3))?;
        s.expect(&publish_12345(6))?;
        s.send(&puback(4))?;
        s.send(&puback(5))?;
        s.send(&puback(6))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("rm");
        let events = record_v5(&client);
        let tx = events.sender();
        client.on_connect(move |c, _, flags, rc, props| {
            let _ = tx.send(V5::Connect {
                session_present: flags.session_present,
                rc: (rc.value(), rc.name()),
                props: props.iter().cloned().collect(),
            });
            for _ in 0..6 {
                c.publish("topic", "12345", 1, false).unwrap();
            }
        });
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::ReceiveMaximum(3)]));
        for mid in 1..=6 {
            events.expect(v5_published(mid));
        }
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- the PUBLISH form ----

/// An MQTT 5 PUBLISH always has a property length, 0 when there are no properties ([MQTT 5.0
/// 3.3.2.3]): `publish()` at QoS 0 and 1 on an MQTT 5 connection sends it, so that the server does not
/// read the payload's first byte as one.
#[test]
fn publish_without_properties_has_a_zero_property_length() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"pl", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&[
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x01, b't', // topic "t"
            0x00, // property length 0
            b'a', // payload "a"
        ])?;
        s.expect(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            0x00, // property length 0
            b'b', // payload "b"
        ])?;
        s.send(&puback(2))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pl");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        client.publish("t", "a", 0, false).unwrap();
        events.expect(v5_published(1));
        client.publish("t", "b", 1, false).unwrap();
        events.expect(v5_published(2));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- a failed flow ----

/// PUBLISH QoS 2 to "topic" with message id `mid` and an eight-byte `payload`, no properties.
fn publish_qos2(mid: u8, payload: &[u8; 8]) -> Vec<u8> {
    packet(&[
        &[0x34, 0x12],                               // PUBLISH QoS 2, remaining length 18
        &[0x00, 0x05, b't', b'o', b'p', b'i', b'c'], // topic "topic"
        &[0x00, mid],                                // message id
        &[0x00],                                     // property length 0
        payload,                                     // payload
    ])
}

/// publish-c2b-qos2-pubrec-error: with Receive Maximum 1, the second QoS 2 message waits for the first;
/// a PUBREC with reason 0x80 ends the first message's flow (no PUBREL, and it frees the slot), so the
/// second goes out and completes. `on_publish` gets the failure with the PUBREC's Reason String, and
/// the first `MessageInfo` reports it: `reason_code()` 0x80, not published, `wait_for_publish`
/// `Error::PublishFailed(0x80)`.
#[test]
fn publish_c2b_qos2_pubrec_error() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_v5(b"pe", 0x02))?;
        s.send(&[
            0x20, 0x06, // CONNACK, remaining length 6
            0x00, // no session present
            0x00, // Success
            0x03, // property length 3
            0x21, 0x00, 0x01, // Receive Maximum 1
        ])?;
        s.expect(&publish_qos2(1, b"rejected"))?;
        wait_turn(&turn_rx)?; // both publish() calls have returned
        s.expect_silence(HELD)?; // the second waits for the first
        s.send(&[
            0x50, 0x09, // PUBREC, remaining length 9
            0x00, 0x01, // message id 1
            0x80, // reason code 0x80: Unspecified error
            0x05, // property length 5
            0x1f, 0x00, 0x02, b'n', b'o', // Reason String "no"
        ])?;
        // No PUBREL for message 1: the next packet is the second message.
        s.expect(&publish_qos2(2, b"accepted"))?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2 (Success)
            0x00, 0x02, // message id 2
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2 (Success)
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2 (Success)
            0x00, 0x02, // message id 2
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pe");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::ReceiveMaximum(1)]));
        let rejected = client.publish("topic", "rejected", 2, false).unwrap();
        let accepted = client.publish("topic", "accepted", 2, false).unwrap();
        assert_eq!((rejected.mid, accepted.mid), (1, 2));
        turn_tx.send(()).unwrap();
        events.expect(V5::Publish {
            mid: 1,
            rc: (0x80, "Unspecified error"),
            props: vec![Property::ReasonString("no".into())],
        });
        events.expect(v5_published(2));
        let rc = rejected.reason_code().expect("the PUBREC's reason code");
        assert_eq!(
            (rc.value(), rc.packet_type()),
            (0x80, PacketTypes::PUBREC as u8)
        );
        assert!(!rejected.is_published());
        assert!(matches!(
            rejected.wait_for_publish(PUBLISH_WAIT),
            Err(Error::PublishFailed(0x80))
        ));
        assert!(matches!(accepted.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        assert!(accepted.reason_code().is_none());
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: a PUBACK with a failure reason (0x87 Not authorized) completes the message as refused
/// (`on_publish` and `MessageInfo::reason_code()` say so) and it is never resent: after a reconnect,
/// the first packet is the next message, with the next id, not message 1 again with DUP.
#[test]
fn puback_failure_is_reported_and_never_resent() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_v5(b"pf", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            0x00, // property length 0
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x40, 0x03, // PUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x87, // reason code 0x87: Not authorized (no properties)
        ])?;
        wait_turn(&turn_rx)?; // the body saw on_publish
        s.close();
        s.accept()?;
        s.expect(&connect_v5(b"pf", 0x00))?; // no clean start
        s.send(&CONNACK_V5)?;
        s.expect(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            0x00, // property length 0
            b'n', // payload "n"
        ])?;
        s.send(&puback(2))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pf");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let refused = client.publish("t", "m", 1, false).unwrap();
        events.expect(V5::Publish {
            mid: 1,
            rc: (0x87, "Not authorized"),
            props: vec![],
        });
        let rc = refused.reason_code().expect("the PUBACK's reason code");
        assert_eq!((rc.value(), rc.name()), (0x87, "Not authorized"));
        assert!(!refused.is_published());
        assert!(matches!(
            refused.wait_for_publish(PUBLISH_WAIT),
            Err(Error::PublishFailed(0x87))
        ));
        turn_tx.send(()).unwrap();
        events.expect(v5_lost());
        events.expect(v5_connected(vec![]));
        let next = client.publish("t", "n", 1, false).unwrap();
        assert_eq!(next.mid, 2);
        events.expect(v5_published(2));
        assert_eq!(refused.reason_code().map(|rc| rc.value()), Some(0x87));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- topic alias on resend ----

/// CONNECT of the MQTT 5 client "ra" with Session Expiry Interval 60 (so that the server may keep its
/// session) and the connect flags `flags` (0x02: Clean Start).
fn connect_ra_expiry_60(flags: u8) -> [u8; 22] {
    [
        0x10, 0x14, // CONNECT, remaining length 20
        0x00, 0x04, b'M', b'Q', b'T', b'T',  // protocol name "MQTT"
        0x05,  // protocol level 5
        flags, // connect flags
        0x00, 0x3c, // keepalive 60 s
        0x05, // property length 5
        0x11, 0x00, 0x00, 0x00, 0x3c, // Session Expiry Interval 60
        0x00, 0x02, b'r', b'a', // client id "ra"
    ]
}

/// Beyond Paho: a QoS 1 message published with Topic Alias 1 (the server allows 2) and left
/// unacknowledged by a dropped connection is resent on the resumed session (Session Present 1) with
/// DUP, its full topic and its other properties, but without the alias, which belonged to the old
/// connection ([MQTT-3.3.2-7]); Paho resends the alias, which the server cannot resolve.
#[test]
fn resend_after_reconnect_drops_the_topic_alias() {
    let broker = MockBroker::start(|s| {
        let connack_alias_max_2 = |session_present| {
            [
                0x20,
                0x06,            // CONNACK, remaining length 6
                session_present, // acknowledge flags
                0x00,            // Success
                0x03,            // property length 3
                0x22,
                0x00,
                0x02, // Topic Alias Maximum 2
            ]
        };
        s.accept()?;
        s.expect(&connect_ra_expiry_60(0x02))?;
        s.send(&connack_alias_max_2(0x00))?;
        s.expect(&[
            0x32, 0x13, // PUBLISH QoS 1, remaining length 19
            0x00, 0x03, b't', b'/', b'a', // topic "t/a"
            0x00, 0x01, // message id 1
            0x0a, // property length 10
            0x23, 0x00, 0x01, // Topic Alias 1
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property "k" = "v"
            b'm', // payload "m"
        ])?;
        s.close(); // no PUBACK
        s.accept()?;
        s.expect(&connect_ra_expiry_60(0x00))?; // no clean start
        s.send(&connack_alias_max_2(0x01))?; // session present
        s.expect(&[
            0x3a, 0x10, // PUBLISH QoS 1 with DUP, remaining length 16
            0x00, 0x03, b't', b'/', b'a', // topic "t/a"
            0x00, 0x01, // message id 1
            0x07, // property length 7: no Topic Alias
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property "k" = "v"
            b'm', // payload "m"
        ])?;
        s.send(&puback(1))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("ra");
        let events = record_v5(&client);
        let expiry = Properties::new(PacketTypes::CONNECT)
            .with(Property::SessionExpiryInterval(60))
            .unwrap();
        start_v5(&client, port, Some(expiry));
        events.expect(v5_connected(vec![Property::TopicAliasMaximum(2)]));
        let props = Properties::new(PacketTypes::PUBLISH)
            .with(Property::UserProperty("k".into(), "v".into()))
            .unwrap()
            .with(Property::TopicAlias(1))
            .unwrap();
        let info = client.publish_with("t/a", "m", 1, false, props).unwrap();
        assert_eq!(info.mid, 1);
        events.expect(v5_lost());
        events.expect(V5::Connect {
            session_present: true,
            rc: (0, "Success"),
            props: vec![Property::TopicAliasMaximum(2)],
        });
        events.expect(v5_published(1));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho ([MQTT-3.2.2-5], [MQTT-4.4.0-1]): after a CONNACK with Session Present 0 the old
/// session's unacknowledged messages are not re-sent (no DUP, no PUBREL for an id the new session
/// never saw), nor dropped: they go out again as new messages, a QoS 2 one awaiting PUBCOMP from its
/// PUBLISH, within the new connection's Receive Maximum (1 here: the second waits for the first's
/// PUBACK), and without the Topic Alias of the old connection. Paho resends with DUP and PUBREL.
#[test]
fn without_a_session_unacknowledged_messages_go_out_again_as_new_ones() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"rn", 0x02))?;
        s.send(&[
            0x20, 0x06, // CONNACK, remaining length 6
            0x00, // no session present
            0x00, // Success
            0x03, // property length 3
            0x22, 0x00, 0x01, // Topic Alias Maximum 1
        ])?;
        s.expect(&[
            0x32, 0x0c, // PUBLISH QoS 1, remaining length 12
            0x00, 0x03, b't', b'/', b'a', // topic "t/a"
            0x00, 0x01, // message id 1
            0x03, // property length 3
            0x23, 0x00, 0x01, // Topic Alias 1
            b'1', // payload "1"
        ])?;
        s.expect(&[
            0x34, 0x09, // PUBLISH QoS 2, remaining length 9
            0x00, 0x03, b't', b'/', b'b', // topic "t/b"
            0x00, 0x02, // message id 2
            0x00, // property length 0
            b'2', // payload "2"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.close(); // neither PUBACK nor PUBCOMP
        s.accept()?;
        s.expect(&connect_v5(b"rn", 0x00))?; // no clean start
        s.send(&[
            0x20, 0x06, // CONNACK, remaining length 6
            0x00, // no session present: the server has no session for "rn"
            0x00, // Success
            0x03, // property length 3
            0x21, 0x00, 0x01, // Receive Maximum 1
        ])?;
        s.expect(&[
            0x32, 0x09, // PUBLISH QoS 1, no DUP, remaining length 9
            0x00, 0x03, b't', b'/', b'a', // topic "t/a"
            0x00, 0x01, // message id 1
            0x00, // property length 0: no Topic Alias
            b'1', // payload "1"
        ])?;
        s.expect_silence(HELD)?; // Receive Maximum 1: the QoS 2 message waits
        s.send(&puback(1))?;
        s.expect(&[
            0x34, 0x09, // PUBLISH QoS 2, no DUP (not a PUBREL), remaining length 9
            0x00, 0x03, b't', b'/', b'b', // topic "t/b"
            0x00, 0x02, // message id 2
            0x00, // property length 0
            b'2', // payload "2"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("rn");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::TopicAliasMaximum(1)]));
        let alias = Properties::new(PacketTypes::PUBLISH)
            .with(Property::TopicAlias(1))
            .unwrap();
        let first = client.publish_with("t/a", "1", 1, false, alias).unwrap();
        let second = client.publish("t/b", "2", 2, false).unwrap();
        events.expect(v5_lost());
        events.expect(v5_connected(vec![Property::ReceiveMaximum(1)]));
        events.expect(v5_published(1));
        events.expect(v5_published(2));
        for info in [first, second] {
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        }
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- properties sent ----

/// prop-send-content-type: `publish_with` a Content Type sends it in the PUBLISH's property block,
/// between the topic and the payload.
#[test]
fn prop_send_content_type() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"pt", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&packet(&[
            &[0x30, 0x26],       // PUBLISH QoS 0, remaining length 38
            &[0x00, 0x09],       // topic length 9
            b"prop/qos0",        // topic
            &[0x13],             // property length 19
            &[0x03, 0x00, 0x10], // Content Type, length 16
            b"application/json", // its value
            b"message",          // payload
        ]))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pt");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let props = Properties::new(PacketTypes::PUBLISH)
            .with(Property::ContentType("application/json".into()))
            .unwrap();
        let info = client
            .publish_with("prop/qos0", "message", 0, false, props)
            .unwrap();
        events.expect(v5_published(info.mid));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// prop-send-payload-format: `publish_with` a Payload Format Indicator of 1 (UTF-8) sends the
/// two-byte property.
#[test]
fn prop_send_payload_format() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"pt", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&packet(&[
            &[0x30, 0x15], // PUBLISH QoS 0, remaining length 21
            &[0x00, 0x09], // topic length 9
            b"prop/qos0",  // topic
            &[0x02],       // property length 2
            &[0x01, 0x01], // Payload Format Indicator 1 (UTF-8)
            b"message",    // payload
        ]))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pt");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let props = Properties::new(PacketTypes::PUBLISH)
            .with(Property::PayloadFormatIndicator(1))
            .unwrap();
        let info = client
            .publish_with("prop/qos0", "message", 0, false, props)
            .unwrap();
        events.expect(v5_published(info.mid));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
