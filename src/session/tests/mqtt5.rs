//! MQTT 5 only: property blocks, the server's limits, reason codes, topic aliases.

use super::*;

#[test]
fn every_mqtt5_publish_has_a_property_block_qos_0_included() {
    let (mut s, _) = connected_v5(Properties::new(PacketTypes::CONNACK));
    s.publish("t", b"x".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    s.publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    assert_eq!(
        s.out,
        [
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x01, b't', // topic "t"
            0x00, // property length 0
            b'x', // payload
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // packet identifier 2 (QoS 0 took 1, as Paho numbers it too)
            0x00, // property length 0
            b'x', // payload
        ]
    );
}

#[test]
fn the_servers_receive_maximum_caps_the_window_and_its_limits_apply_at_the_call() {
    let connack = Properties::new(PacketTypes::CONNACK)
        .with(Property::ReceiveMaximum(2))
        .unwrap()
        .with(Property::MaximumQoS(1))
        .unwrap()
        .with(Property::RetainAvailable(0))
        .unwrap()
        .with(Property::MaximumPacketSize(20))
        .unwrap();
    let (mut s, now) = connected_v5(connack);
    for _ in 0..3 {
        s.publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
    }
    assert_eq!(sent_v5(&mut s).len(), 2, "two in flight, the third waits");
    s.handle(
        Packet::PubAck(PubAck {
            properties: Properties::new(PacketTypes::PUBACK),
            ..PubAck::new(1)
        }),
        now,
    )
    .unwrap();
    assert_eq!(
        sent_v5(&mut s).len(),
        1,
        "the third goes out as the first is acknowledged"
    );
    assert!(matches!(
        s.publish("t", b"x".to_vec(), QoS::ExactlyOnce, false, None),
        Err(Error::NotSupported(_))
    ));
    assert!(matches!(
        s.publish("t", b"x".to_vec(), QoS::AtMostOnce, true, None),
        Err(Error::NotSupported(_))
    ));
    assert!(matches!(
        s.publish("t", vec![0; 20], QoS::AtMostOnce, false, None),
        Err(Error::PacketTooLarge { max: 20, .. })
    ));
    assert!(s.out.is_empty(), "nothing refused was sent");
}

#[test]
fn a_failed_puback_or_pubrec_ends_the_flow_and_says_why() {
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    let (m1, _, info1) = s
        .publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    let (m2, _, info2) = s
        .publish("t", b"x".to_vec(), QoS::ExactlyOnce, false, None)
        .unwrap();
    s.out.clear();
    s.handle(
        Packet::PubAck(PubAck {
            reason: 0x87,
            ..PubAck::new(m1)
        }),
        now,
    )
    .unwrap();
    s.handle(
        Packet::PubRec(PubRec {
            reason: 0x80,
            ..PubRec::new(m2)
        }),
        now,
    )
    .unwrap();
    assert!(s.out.is_empty(), "no PUBREL after a failed PUBREC");
    assert_eq!(s.pending_messages(), 0, "nothing left to resend");
    let reasons: Vec<u8> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PublishedWith { reason, .. } => Some(reason.value()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [0x87, 0x80]);
    for (state, code) in [(info1, 0x87), (info2, 0x80)] {
        let info = info(state);
        assert_eq!(info.reason_code().map(|r| r.value()), Some(code));
        assert!(!info.is_published());
    }
}

#[test]
fn incoming_topic_aliases_resolve_within_the_connection_and_too_high_ones_are_refused() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    let connect = Connect {
        protocol: Protocol::V5,
        properties: Properties::new(PacketTypes::CONNECT)
            .with(Property::TopicAliasMaximum(2))
            .unwrap(),
        ..connect_packet()
    };
    s.connection_opened(&connect, now);
    s.handle(Packet::ConnAck(ConnAck::default()), now).unwrap();
    s.out.clear();
    let aliased = |topic: &str, alias| {
        Packet::Publish(Publish {
            topic: topic.into(),
            payload: b"p".to_vec(),
            properties: Properties::new(PacketTypes::PUBLISH)
                .with(Property::TopicAlias(alias))
                .unwrap(),
            ..Publish::default()
        })
    };
    s.handle(aliased("a/b", 1), now).unwrap();
    s.handle(aliased("", 1), now).unwrap();
    let topics: Vec<&str> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Message { msg, .. } => Some(msg.topic.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["a/b", "a/b"]);
    assert!(s.handle(aliased("x", 3), now).is_err(), "over the maximum");
    s.violation_disconnect(None);
    let out = sent_v5(&mut s);
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x94),
        "{out:?}"
    );
    // A new connection starts without aliases.
    s.connection_closed();
    s.connection_opened(&connect, now);
    s.handle(Packet::ConnAck(ConnAck::default()), now).unwrap();
    assert!(s.handle(aliased("", 1), now).is_err());
}
