//! MQTT 5: the server's CONNACK limits on what the client sends, after mosquitto's client tests
//! (test/lib of eclipse-mosquitto/mosquitto: 03-publish-c2b-qos2-maximum-qos-0 and -1,
//! 11-prop-oversize-packet), and beyond Paho: Maximum QoS, Retain Available and Maximum Packet Size
//! are checked at the call (`Error::NotSupported`, `Error::PacketTooLarge`), nothing refused is
//! sent or uses a message id, and a message queued before the CONNACK that breaks them is never sent.

use pahoish::testing::MockBroker;
use pahoish::{
    ConnectOptions, Error, ErrorCode, PacketTypes, Properties, Property, SubscribeOptions,
};

use crate::support::{
    connect_v5, expect_disconnect, packet, puback, record_v5, run, start_v5, stop_loop, v5_client,
    v5_connected, v5_disconnected, v5_published, HELD, HOST, PUBLISH_WAIT, V5,
};

// ---- Maximum QoS ----

/// PUBLISH QoS 0 of "message" to "maximum/qos/qos0", no properties.
fn publish_qos0_message() -> Vec<u8> {
    packet(&[
        &[0x30, 0x1a],       // PUBLISH QoS 0, remaining length 26
        &[0x00, 0x10],       // topic length 16
        b"maximum/qos/qos0", // topic
        &[0x00],             // property length 0
        b"message",          // payload
    ])
}

/// PUBLISH QoS 1 of "message" to "maximum/qos/qos1" with message id 2, no properties.
fn publish_qos1_message() -> Vec<u8> {
    packet(&[
        &[0x32, 0x1c],       // PUBLISH QoS 1, remaining length 28
        &[0x00, 0x10],       // topic length 16
        b"maximum/qos/qos1", // topic
        &[0x00, 0x02],       // message id 2
        &[0x00],             // property length 0
        b"message",          // payload
    ])
}

/// publish-c2b-qos2-maximum-qos-0: after a CONNACK with Maximum QoS 0, QoS 2 and QoS 1 publishes fail
/// at the call with `Error::NotSupported` and send nothing; the QoS 0 one that follows is the first
/// packet after CONNACK.
#[test]
fn publish_c2b_qos2_maximum_qos_0() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"mq", 0x02))?;
        s.send(&[
            0x20, 0x05, // CONNACK, remaining length 5
            0x00, // no session present
            0x00, // Success
            0x02, // property length 2
            0x24, 0x00, // Maximum QoS 0
        ])?;
        s.expect(&publish_qos0_message())?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("mq");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::MaximumQoS(0)]));
        for qos in [2, 1] {
            let r = client.publish("maximum/qos/qos2", "message", qos, false);
            assert!(matches!(r, Err(Error::NotSupported(_))), "QoS {qos}: {r:?}");
        }
        let info = client
            .publish("maximum/qos/qos0", "message", 0, false)
            .unwrap();
        assert_eq!((info.mid, info.rc), (1, ErrorCode::Success));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(v5_published(1));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// publish-c2b-qos2-maximum-qos-1: after a CONNACK with Maximum QoS 1 a QoS 2 publish fails at the
/// call; QoS 1 and QoS 0 go out. Beyond Paho, a QoS 2 message queued before `connect` is never sent
/// once the CONNACK says QoS 2 is not supported: `on_publish` gets 0x9B (QoS not supported) and its
/// `wait_for_publish` reports it discarded with `MQTT_ERR_NOT_SUPPORTED`.
#[test]
fn publish_c2b_qos2_maximum_qos_1() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"mq", 0x02))?;
        s.send(&[
            0x20, 0x05, // CONNACK, remaining length 5
            0x00, // no session present
            0x00, // Success
            0x02, // property length 2
            0x24, 0x01, // Maximum QoS 1
        ])?;
        // The first packet after CONNACK: the queued QoS 2 message (id 1) was not sent.
        s.expect(&publish_qos1_message())?;
        s.send(&puback(2))?;
        s.expect(&publish_qos0_message())?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("mq");
        let events = record_v5(&client);
        let queued = client
            .publish("maximum/qos/qos2", "message", 2, false)
            .unwrap();
        assert_eq!((queued.mid, queued.rc), (1, ErrorCode::NoConn));
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::MaximumQoS(1)]));
        events.expect(V5::Publish {
            mid: 1,
            rc: (0x9b, "QoS not supported"),
            props: vec![],
        });
        assert!(matches!(
            queued.wait_for_publish(PUBLISH_WAIT),
            Err(Error::PublishDiscarded(ErrorCode::NotSupported))
        ));
        assert!(!queued.is_published());

        let r = client.publish("maximum/qos/qos2", "message", 2, false);
        assert!(matches!(r, Err(Error::NotSupported(_))), "{r:?}");
        let info = client
            .publish("maximum/qos/qos1", "message", 1, false)
            .unwrap();
        assert_eq!(info.mid, 2);
        events.expect(v5_published(2));
        let info = client
            .publish("maximum/qos/qos0", "message", 0, false)
            .unwrap();
        assert_eq!(info.mid, 3);
        events.expect(v5_published(3));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho, the common case of "queued before the CONNACK": a QoS 2 message published between
/// `connect` and the CONNACK (the usual `connect(); loop_start(); publish()` order) is held until the
/// CONNACK's limits are known, then refused there as one queued before `connect` is: the broker,
/// which answers CONNECT only after a pause, sees no PUBLISH before its CONNACK, and after it only
/// the QoS 1 message published next.
#[test]
fn publish_while_connecting_waits_for_the_connack_limits() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"mq", 0x02))?;
        // Nothing before the CONNACK: the client cannot know the server's limits yet.
        s.expect_silence(HELD)?;
        s.send(&[
            0x20, 0x05, // CONNACK, remaining length 5
            0x00, // no session present
            0x00, // Success
            0x02, // property length 2
            0x24, 0x01, // Maximum QoS 1
        ])?;
        // The first packet after CONNACK: the QoS 2 message (id 1) was never sent.
        s.expect(&publish_qos1_message())?;
        s.send(&puback(2))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("mq");
        let events = record_v5(&client);
        client
            .connect_with(HOST, port, 60, ConnectOptions::default())
            .unwrap();
        let queued = client
            .publish("maximum/qos/qos2", "message", 2, false)
            .unwrap();
        assert_eq!(queued.mid, 1);
        client.loop_start().unwrap();
        events.expect(v5_connected(vec![Property::MaximumQoS(1)]));
        events.expect(V5::Publish {
            mid: 1,
            rc: (0x9b, "QoS not supported"),
            props: vec![],
        });
        assert!(matches!(
            queued.wait_for_publish(PUBLISH_WAIT),
            Err(Error::PublishDiscarded(ErrorCode::NotSupported))
        ));
        let info = client
            .publish("maximum/qos/qos1", "message", 1, false)
            .unwrap();
        assert_eq!(info.mid, 2);
        events.expect(v5_published(2));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- Retain Available ----

/// Beyond Paho: after a CONNACK with Retain Available 0 a retained publish fails at the call with
/// `Error::NotSupported`, and a retained QoS 1 message queued before `connect` is never sent
/// (`on_publish` 0x9A, Retain not supported; discarded with `MQTT_ERR_NOT_SUPPORTED`); a message
/// without retain goes out, and is the first packet after the CONNACK.
#[test]
fn retain_available_0_refuses_retained_messages() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"rt", 0x02))?;
        s.send(&[
            0x20, 0x05, // CONNACK, remaining length 5
            0x00, // no session present
            0x00, // Success
            0x02, // property length 2
            0x25, 0x00, // Retain Available 0
        ])?;
        // The first packet after CONNACK: the queued retained message (id 1) was not sent.
        s.expect(&[
            0x32, 0x0c, // PUBLISH QoS 1, retain 0, remaining length 12
            0x00, 0x03, b'r', b'/', b't', // topic "r/t"
            0x00, 0x02, // message id 2
            0x00, // property length 0
            b'l', b'i', b'v', b'e', // payload "live"
        ])?;
        s.send(&puback(2))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("rt");
        let events = record_v5(&client);
        let queued = client.publish("r/t", "kept", 1, true).unwrap();
        assert_eq!((queued.mid, queued.rc), (1, ErrorCode::NoConn));
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::RetainAvailable(0)]));
        events.expect(V5::Publish {
            mid: 1,
            rc: (0x9a, "Retain not supported"),
            props: vec![],
        });
        assert!(matches!(
            queued.wait_for_publish(PUBLISH_WAIT),
            Err(Error::PublishDiscarded(ErrorCode::NotSupported))
        ));
        for qos in [0, 1] {
            let r = client.publish("r/t", "kept", qos, true);
            assert!(matches!(r, Err(Error::NotSupported(_))), "QoS {qos}: {r:?}");
        }
        let info = client.publish("r/t", "live", 1, false).unwrap();
        assert_eq!(info.mid, 2);
        events.expect(v5_published(2));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- Maximum Packet Size ----

/// prop-oversize-packet: after a CONNACK with Maximum Packet Size 30, a PUBLISH (QoS 0 or 1), a
/// SUBSCRIBE or an UNSUBSCRIBE of 31 bytes fails at the call with `Error::PacketTooLarge { size: 31,
/// max: 30 }`, sends nothing and uses no message id; each of 30 bytes exactly goes out. (mosquitto's
/// own library leaves the fixed header's first byte out of the size, and lets 31 bytes through.)
#[test]
fn prop_oversize_packet() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"os", 0x02))?;
        s.send(&[
            0x20, 0x0e, // CONNACK, remaining length 14
            0x00, // no session present
            0x00, // Success
            0x0b, // property length 11
            0x22, 0x00, 0x0a, // Topic Alias Maximum 10
            0x27, 0x00, 0x00, 0x00, 0x1e, // Maximum Packet Size 30
            0x21, 0x00, 0x14, // Receive Maximum 20
        ])?;
        s.expect(&packet(&[
            &[0x30, 0x1c],        // PUBLISH QoS 0, remaining length 28: 30 bytes in all
            &[0x00, 0x08],        // topic length 8
            b"pub/test",          // topic
            &[0x00],              // property length 0
            b"01234567890123456", // payload, 17 bytes
        ]))?;
        s.expect(&packet(&[
            &[0x32, 0x1c],      // PUBLISH QoS 1, remaining length 28: 30 bytes in all
            &[0x00, 0x08],      // topic length 8
            b"pub/test",        // topic
            &[0x00, 0x02],      // message id 2
            &[0x00],            // property length 0
            b"012345678901234", // payload, 15 bytes
        ]))?;
        s.send(&puback(2))?;
        s.expect(&packet(&[
            &[0x82, 0x0e], // SUBSCRIBE, remaining length 14
            &[0x00, 0x03], // message id 3
            &[0x00],       // property length 0
            &[0x00, 0x08], // filter length 8
            b"sub/test",   // filter
            &[0x00],       // options: QoS 0
        ]))?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x03, // message id 3
            0x00, // property length 0
            0x00, // Granted QoS 0
        ])?;
        s.expect(&packet(&[
            &[0xa2, 0x0d], // UNSUBSCRIBE, remaining length 13
            &[0x00, 0x04], // message id 4
            &[0x00],       // property length 0
            &[0x00, 0x08], // filter length 8
            b"sub/test",   // filter
        ]))?;
        s.send(&[
            0xb0, 0x04, // UNSUBACK, remaining length 4
            0x00, 0x04, // message id 4
            0x00, // property length 0
            0x00, // Success
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("os");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![
            Property::ReceiveMaximum(20),
            Property::TopicAliasMaximum(10),
            Property::MaximumPacketSize(30),
        ]));
        let too_large = |r: pahoish::Result<()>, what: &str| {
            assert!(
                matches!(r, Err(Error::PacketTooLarge { size: 31, max: 30 })),
                "{what}: {r:?}"
            );
        };
        let r = client.publish("pub/test", "012345678901234567", 0, false);
        too_large(r.map(drop), "PUBLISH QoS 0 of 31 bytes");
        let info = client
            .publish("pub/test", "01234567890123456", 0, false)
            .unwrap();
        assert_eq!(info.mid, 1);
        events.expect(v5_published(1));

        let r = client.publish("pub/test", "0123456789012345", 1, false);
        too_large(r.map(drop), "PUBLISH QoS 1 of 31 bytes");
        let info = client
            .publish("pub/test", "012345678901234", 1, false)
            .unwrap();
        assert_eq!(info.mid, 2);
        events.expect(v5_published(2));

        let options = SubscribeOptions::new(0).unwrap();
        let r = client.subscribe_with("sub/0123456789012345678", options, None);
        too_large(r.map(drop), "SUBSCRIBE of 31 bytes");
        assert_eq!(client.subscribe_with("sub/test", options, None).unwrap(), 3);
        events.expect(V5::Subscribe {
            mid: 3,
            codes: vec![(0, "Granted QoS 0")],
            props: vec![],
        });

        let r = client.unsubscribe("sub/01234567890123456789");
        too_large(r.map(drop), "UNSUBSCRIBE of 31 bytes");
        assert_eq!(client.unsubscribe("sub/test").unwrap(), 4);
        events.expect(V5::Unsubscribe {
            mid: 4,
            codes: vec![(0, "Success")],
            props: vec![],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- Topic Alias Maximum ----

/// Item 16 of the conformance gaps ([MQTT-3.2.2-18], [MQTT-3.3.2-9]): a QoS 1 message published with
/// Topic Alias 1 before the CONNACK, which then has no Topic Alias Maximum (the server takes no
/// alias), goes out without the alias: its full topic, its other properties, id 1.
#[test]
fn a_queued_topic_alias_the_connack_does_not_allow_never_goes_out() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"ta", 0x02))?;
        s.expect_silence(HELD)?;
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, // no session present
            0x00, // Success
            0x00, // property length 0: no Topic Alias Maximum, so no alias at all
        ])?;
        s.expect(&[
            0x32, 0x0d, // PUBLISH QoS 1, remaining length 13
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x01, // message id 1
            0x04, // property length 4: no Topic Alias
            0x03, 0x00, 0x01, b'c', // Content Type "c"
            b'm', // payload "m"
        ])?;
        s.send(&puback(1))?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("ta");
        let events = record_v5(&client);
        client
            .connect_with(HOST, port, 60, ConnectOptions::default())
            .unwrap();
        let props = Properties::new(PacketTypes::PUBLISH)
            .with(Property::TopicAlias(1))
            .unwrap()
            .with(Property::ContentType("c".into()))
            .unwrap();
        let info = client.publish_with("a/b", "m", 1, false, props).unwrap();
        client.loop_start().unwrap();
        events.expect(v5_connected(vec![]));
        events.expect(v5_published(1));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- Maximum Packet Size and DISCONNECT ----

/// Item 23 ([MQTT-3.2.2-15], [MQTT-3.14.2-3], [MQTT-3.14.2-4]): after a CONNACK with Maximum Packet
/// Size 10, `disconnect_with` a Reason String that makes the DISCONNECT 11 bytes fails with
/// `Error::PacketTooLarge` and sends nothing; a plain `disconnect()` then goes out.
#[test]
fn a_disconnect_over_the_servers_maximum_packet_size_fails_and_sends_nothing() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"dm", 0x02))?;
        s.send(&[
            0x20, 0x08, // CONNACK, remaining length 8
            0x00, // no session present
            0x00, // Success
            0x05, // property length 5
            0x27, 0x00, 0x00, 0x00, 0x0a, // Maximum Packet Size 10
        ])?;
        expect_disconnect(s) // e0 00: the 11-byte DISCONNECT never went out
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("dm");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::MaximumPacketSize(10)]));
        // e0 09 00 07 1f 00 04 "abcd": 11 bytes.
        let reason_string = Properties::new(PacketTypes::DISCONNECT)
            .with(Property::ReasonString("abcd".into()))
            .unwrap();
        let e = client
            .disconnect_with(None, Some(reason_string))
            .unwrap_err();
        assert!(
            matches!(e, Error::PacketTooLarge { size: 11, max: 10 }),
            "{e}"
        );
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
