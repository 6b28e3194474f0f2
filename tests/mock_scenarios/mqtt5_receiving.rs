//! MQTT 5 messages from the broker, after mosquitto's client tests (test/lib of
//! eclipse-mosquitto/mosquitto: 11-prop-recv-qos0, -qos1 and -qos2), and what the client enforces
//! beyond Paho on what arrives: topic aliases (resolved, and forgotten with the connection), its own
//! Receive Maximum and Maximum Packet Size, and well-formed packets, each violation answered with the
//! DISCONNECT reason code MQTT 5 names for it.

use std::sync::mpsc;

use pahoish::testing::MockBroker;
use pahoish::{Client, MQTTv5, PacketTypes, Properties, Property};

use crate::support::{
    connect_v5, expect_disconnect, packet, record_v5, run, start_v5, stop_between_connections,
    stop_loop, v5_client, v5_connected, v5_disconnected, v5_lost, v5_message, v5_protocol_error,
    wait_turn, CONNACK_V5, WAIT,
};

// ---- properties received ----

/// The properties of the scenarios' PUBLISH, in the order the broker sends them.
const RECV_PROPS: [&[u8]; 9] = [
    &[0x29],                                     // property length 41
    &[0x03, 0x00, 0x0a],                         // Content Type, length 10
    b"plain/text",                               // its value
    &[0x08, 0x00, 0x07],                         // Response Topic, length 7
    b"msg/123",                                  // its value
    &[0x09, 0x00, 0x02, 0x00, 0xff],             // Correlation Data: 2 bytes, 00 ff
    &[0x26, 0x00, 0x03],                         // User Property: name length 3
    b"key",                                      // name
    &[0x00, 0x05, b'v', b'a', b'l', b'u', b'e'], // value "value"
];

/// What `on_message` must see of [`RECV_PROPS`].
fn recv_props() -> Vec<Property> {
    vec![
        Property::ContentType("plain/text".into()),
        Property::ResponseTopic("msg/123".into()),
        Property::CorrelationData(vec![0x00, 0xff]),
        Property::UserProperty("key".into(), "value".into()),
    ]
}

/// prop-recv-qos0/1/2: the broker sends a PUBLISH at `qos` with Content Type, Response Topic,
/// Correlation Data and a User Property; `on_message` gets them all in `Message::properties`, and the
/// acknowledgements are MQTT 5's short forms (reason Success, no properties).
fn prop_recv(qos: u8) {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_v5(b"pr", 0x02))?;
        s.send(&CONNACK_V5)?;
        let header: &[u8] = match qos {
            0 => &[0x30, 0x3c], // PUBLISH QoS 0, remaining length 60
            1 => &[0x32, 0x3e], // PUBLISH QoS 1, remaining length 62
            _ => &[0x34, 0x3e], // PUBLISH QoS 2, remaining length 62
        };
        let mid: &[u8] = if qos == 0 { &[] } else { &[0x00, 0x01] }; // message id 1
        let mut publish = packet(&[header, &[0x00, 0x09], b"prop/test", mid]); // topic "prop/test"
        publish.extend(RECV_PROPS.concat());
        publish.extend(b"message"); // payload
        s.send(&publish)?;
        match qos {
            0 => {}
            1 => s.expect(&[
                0x40, 0x02, // PUBACK, remaining length 2
                0x00, 0x01, // message id 1
            ])?,
            _ => {
                s.expect(&[
                    0x50, 0x02, // PUBREC, remaining length 2
                    0x00, 0x01, // message id 1
                ])?;
                s.send(&[
                    0x62, 0x02, // PUBREL, remaining length 2
                    0x00, 0x01, // message id 1
                ])?;
                s.expect(&[
                    0x70, 0x02, // PUBCOMP, remaining length 2
                    0x00, 0x01, // message id 1
                ])?;
            }
        }
        // The acknowledgement follows on_message's return: only now may the body disconnect.
        let _ = turn_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("pr");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let mid = u16::from(qos != 0);
        events.expect(v5_message("prop/test", b"message", qos, mid, recv_props()));
        turn_rx.recv_timeout(WAIT).expect("the acknowledgement");
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// prop-recv-qos0: the properties of a QoS 0 message reach `on_message`.
#[test]
fn prop_recv_qos0() {
    prop_recv(0);
}

/// prop-recv-qos1: the properties of a QoS 1 message reach `on_message`; PUBACK follows.
#[test]
fn prop_recv_qos1() {
    prop_recv(1);
}

/// prop-recv-qos2: the properties of a QoS 2 message reach `on_message` on PUBREL; PUBCOMP follows.
#[test]
fn prop_recv_qos2() {
    prop_recv(2);
}

// ---- topic aliases ----

/// CONNECT of the MQTT 5 client "ta" with Topic Alias Maximum 5 and the connect flags `flags`.
fn connect_ta(flags: u8) -> [u8; 20] {
    [
        0x10, 0x12, // CONNECT, remaining length 18
        0x00, 0x04, b'M', b'Q', b'T', b'T',  // protocol name "MQTT"
        0x05,  // protocol level 5
        flags, // connect flags
        0x00, 0x3c, // keepalive 60 s
        0x03, // property length 3
        0x22, 0x00, 0x05, // Topic Alias Maximum 5
        0x00, 0x02, b't', b'a', // client id "ta"
    ]
}

/// A QoS 0 PUBLISH with an empty topic and Topic Alias 1, and the three-byte `payload`.
fn publish_alias_only(payload: &[u8; 3]) -> Vec<u8> {
    packet(&[
        &[0x30, 0x09],       // PUBLISH QoS 0, remaining length 9
        &[0x00, 0x00],       // topic: zero length
        &[0x03],             // property length 3
        &[0x23, 0x00, 0x01], // Topic Alias 1
        payload,             // payload
    ])
}

/// Beyond Paho: with Topic Alias Maximum 5 in CONNECT, a PUBLISH that sets alias 1 with its topic and
/// one that uses it alone both reach `on_message` with the full topic (the alias still in the
/// properties). The alias dies with the connection ([MQTT-3.3.2-7]): on the next one, a PUBLISH with
/// alias 1 alone is refused with DISCONNECT 0x94 (Topic alias invalid) and never delivered; the
/// client reconnects.
#[test]
fn incoming_topic_alias_is_resolved_and_forgotten_on_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_ta(0x02))?; // clean start
        s.send(&CONNACK_V5)?;
        s.send(&packet(&[
            &[0x30, 0x14],       // PUBLISH QoS 0, remaining length 20
            &[0x00, 0x0b],       // topic length 11
            b"alias/topic",      // topic
            &[0x03],             // property length 3
            &[0x23, 0x00, 0x01], // Topic Alias 1
            b"one",              // payload
        ]))?;
        s.send(&publish_alias_only(b"two"))?;
        wait_turn(&turn_rx)?; // the body saw both messages
        s.close();
        s.accept()?;
        s.expect(&connect_ta(0x00))?; // no clean start
        s.send(&CONNACK_V5)?;
        s.send(&publish_alias_only(b"thr"))?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x94, // reason code 0x94: Topic alias invalid
        ])?;
        s.expect_closed()?;
        s.accept()?;
        s.expect(&connect_ta(0x00))?;
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("ta");
        let events = record_v5(&client);
        let props = Properties::new(PacketTypes::CONNECT)
            .with(Property::TopicAliasMaximum(5))
            .unwrap();
        start_v5(&client, port, Some(props));
        events.expect(v5_connected(vec![]));
        let alias = || vec![Property::TopicAlias(1)];
        events.expect(v5_message("alias/topic", b"one", 0, 0, alias()));
        events.expect(v5_message("alias/topic", b"two", 0, 0, alias()));
        turn_tx.send(()).unwrap();
        events.expect(v5_lost());
        events.expect(v5_connected(vec![]));
        events.expect(v5_protocol_error());
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- the client's own limits ----

/// An MQTT 5 client with manual acknowledgement whose reconnect waits long enough (5 s, cut short by
/// `disconnect()`) that a test ending between connections sees no further attempt.
fn manual_ack_client(client_id: &str) -> Client {
    let client = Client::builder()
        .client_id(client_id)
        .protocol(MQTTv5)
        .manual_ack(true)
        .build()
        .unwrap();
    client.reconnect_delay_set(5, 10).unwrap();
    client
}

/// A QoS 1 PUBLISH to "t" with message id `mid` and a one-byte `payload`, no properties.
fn publish_qos1(mid: u8, payload: u8) -> [u8; 9] {
    [
        0x32, 0x07, // PUBLISH QoS 1, remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x00, mid,  // message id
        0x00, // property length 0
        payload,
    ]
}

/// Beyond Paho: with Receive Maximum 1 in CONNECT (and manual acknowledgement, so that the count is
/// the test's to control), a second QoS 1 message is accepted once the first is acknowledged, and a
/// third while the second is not is refused with DISCONNECT 0x93 (Receive maximum exceeded,
/// [MQTT-3.3.4-9]) and never delivered.
#[test]
fn own_receive_maximum_exceeded_disconnects_with_0x93() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x12, // CONNECT, remaining length 18
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x02, // connect flags: clean start
            0x00, 0x3c, // keepalive 60 s
            0x03, // property length 3
            0x21, 0x00, 0x01, // Receive Maximum 1
            0x00, 0x02, b'r', b'x', // client id "rx"
        ])?;
        s.send(&CONNACK_V5)?;
        s.send(&publish_qos1(1, b'1'))?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&publish_qos1(2, b'2'))?;
        wait_turn(&turn_rx)?; // the body saw message 2 and does not acknowledge it
        s.send(&publish_qos1(3, b'3'))?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x93, // reason code 0x93: Receive maximum exceeded
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = manual_ack_client("rx");
        let events = record_v5(&client);
        let props = Properties::new(PacketTypes::CONNECT)
            .with(Property::ReceiveMaximum(1))
            .unwrap();
        start_v5(&client, port, Some(props));
        events.expect(v5_connected(vec![]));
        events.expect(v5_message("t", b"1", 1, 1, vec![]));
        client.ack(1, 1).unwrap();
        events.expect(v5_message("t", b"2", 1, 2, vec![]));
        turn_tx.send(()).unwrap();
        events.expect(v5_protocol_error());
        stop_between_connections(&client);
        events.assert_idle();
    });
}

/// A QoS 0 PUBLISH to "t" whose whole packet is `6 + payload.len()` bytes, no properties.
fn publish_sized(payload: &[u8]) -> Vec<u8> {
    let remaining = u8::try_from(4 + payload.len()).unwrap();
    packet(&[
        &[0x30, remaining],  // PUBLISH QoS 0, remaining length
        &[0x00, 0x01, b't'], // topic "t"
        &[0x00],             // property length 0
        payload,             // payload
    ])
}

/// Beyond Paho: with Maximum Packet Size 20 in CONNECT, a 20-byte PUBLISH is delivered and a 21-byte
/// one, which the server must not send (MQTT 5.0 section 3.1.2.11.4), is refused with DISCONNECT
/// 0x95 (Packet too large) and never delivered.
#[test]
fn own_maximum_packet_size_exceeded_disconnects_with_0x95() {
    packet_size_limited(Some(20), None);
}

/// `max_packet_size_set` alone puts Maximum Packet Size in CONNECT and enforces it.
#[test]
fn max_packet_size_set_is_sent_as_maximum_packet_size() {
    packet_size_limited(None, Some(20));
}

/// With both, the smaller limit is sent and enforced (here the setting, under a property of 100).
#[test]
fn the_smaller_of_property_and_setting_is_sent() {
    packet_size_limited(Some(100), Some(20));
}

/// The 0x95 scenario with a limit of 20 bytes that comes from `property` in `connect_with`'s
/// properties and `setting` from `max_packet_size_set`, whichever is smaller.
fn packet_size_limited(property: Option<u32>, setting: Option<u32>) {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x14, // CONNECT, remaining length 20
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x02, // connect flags: clean start
            0x00, 0x3c, // keepalive 60 s
            0x05, // property length 5
            0x27, 0x00, 0x00, 0x00, 0x14, // Maximum Packet Size 20
            0x00, 0x02, b'm', b'x', // client id "mx"
        ])?;
        s.send(&CONNACK_V5)?;
        s.send(&publish_sized(b"fourteen bytes"))?; // 20 bytes in all
        wait_turn(&turn_rx)?; // the body saw it
        s.send(&publish_sized(b"fifteen bytes!!"))?; // 21 bytes in all
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x95, // reason code 0x95: Packet too large
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = manual_ack_client("mx");
        let events = record_v5(&client);
        if let Some(size) = setting {
            client.max_packet_size_set(size).unwrap();
        }
        let props = property.map(|size| {
            Properties::new(PacketTypes::CONNECT)
                .with(Property::MaximumPacketSize(size))
                .unwrap()
        });
        start_v5(&client, port, props);
        events.expect(v5_connected(vec![]));
        events.expect(v5_message("t", b"fourteen bytes", 0, 0, vec![]));
        turn_tx.send(()).unwrap();
        events.expect(v5_protocol_error());
        stop_between_connections(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: a malformed packet (a PUBLISH with the unknown property identifier 0x7F) makes the
/// client say why before it closes: DISCONNECT 0x81 (Malformed packet, MQTT 5.0 section 4.13).
#[test]
fn malformed_packet_disconnects_with_0x81() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"mf", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.send(&[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x02, // property length 2
            0x7f, 0x00, // property 0x7F: no such property
        ])?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x81, // reason code 0x81: Malformed packet
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = manual_ack_client("mf");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        events.expect(v5_protocol_error());
        stop_between_connections(&client);
        events.assert_idle();
    });
}
