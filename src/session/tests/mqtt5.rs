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

/// Item 16 ([MQTT-3.2.2-17], [MQTT-3.3.2-9]): once connected, a Topic Alias above the server's Topic
/// Alias Maximum fails at the call with `Error::NotSupported` and sends nothing; one within it goes.
#[test]
fn a_topic_alias_over_the_servers_maximum_fails_at_the_call() {
    let connack = Properties::new(PacketTypes::CONNACK)
        .with(Property::TopicAliasMaximum(2))
        .unwrap();
    let (mut s, _) = connected_v5(connack);
    let alias = |a| {
        Some(
            Properties::new(PacketTypes::PUBLISH)
                .with(Property::TopicAlias(a))
                .unwrap(),
        )
    };
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        assert!(matches!(
            s.publish("t", b"x".to_vec(), qos, false, alias(3)),
            Err(Error::NotSupported(_))
        ));
    }
    assert!(s.out.is_empty(), "nothing refused was sent");
    assert_eq!(s.pending_messages(), 0);
    s.publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, alias(2))
        .unwrap();
    let out = sent_v5(&mut s);
    assert!(
        matches!(&out[..], [Packet::Publish(p)] if p.properties.topic_alias() == Some(2)),
        "{out:?}"
    );
}

/// Item 16 ([MQTT-3.2.2-18]): a message queued before the CONNACK with a Topic Alias the CONNACK
/// then does not allow (no Topic Alias Maximum: none at all) goes out without it, with its full
/// topic and its other properties.
#[test]
fn a_queued_messages_topic_alias_the_connack_does_not_allow_is_dropped() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    s.connection_opened(&at(Protocol::V5, connect_packet()), now);
    s.out.clear();
    let props = Properties::new(PacketTypes::PUBLISH)
        .with(Property::TopicAlias(1))
        .unwrap()
        .with(Property::ContentType("c".into()))
        .unwrap();
    s.publish("a/b", b"x".to_vec(), QoS::AtLeastOnce, false, Some(props))
        .unwrap();
    assert!(s.out.is_empty(), "nothing before the CONNACK");
    s.handle(Packet::ConnAck(ConnAck::default()), now).unwrap();
    s.after_connect(false);
    let out = sent_v5(&mut s);
    let [Packet::Publish(p)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(p.topic, "a/b");
    assert_eq!(p.properties.topic_alias(), None);
    assert_eq!(p.properties.content_type(), Some("c"));
}

/// Item 20 (MQTT 5 section 3.1.2.11.7): after Request Problem Information 0, a Reason String or
/// User Property on a packet other than PUBLISH, CONNACK or DISCONNECT is a protocol error
/// (DISCONNECT 0x82); on a PUBLISH it is accepted.
#[test]
fn after_request_problem_information_0_a_reason_string_on_an_ack_is_a_protocol_error() {
    let connect = Connect {
        properties: Properties::new(PacketTypes::CONNECT)
            .with(Property::RequestProblemInformation(0))
            .unwrap(),
        ..at(Protocol::V5, connect_packet())
    };
    let problems = [
        Property::ReasonString("why".into()),
        Property::UserProperty("k".into(), "v".into()),
    ];
    for problem in problems {
        let (mut s, now) = connected_with(SessionConfig::default(), &connect);
        let mut publish = publish_pkt(0, QoS::AtMostOnce, false);
        if let (Packet::Publish(p), Property::UserProperty(..)) = (&mut publish, &problem) {
            p.properties.set(problem.clone()).unwrap();
        }
        s.handle(publish, now).unwrap();
        let (mid, ..) = s
            .publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
        s.out.clear();
        let puback = Packet::PubAck(PubAck {
            reason: 0x10,
            properties: Properties::new(PacketTypes::PUBACK)
                .with(problem.clone())
                .unwrap(),
            ..PubAck::new(mid)
        });
        assert!(
            matches!(s.handle(puback, now), Err(Error::Protocol { .. })),
            "{problem:?}"
        );
        s.violation_disconnect(None);
        let out = sent_v5(&mut s);
        assert!(
            matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x82),
            "{out:?}"
        );
    }
    // Without Request Problem Information 0 the same PUBACK is fine.
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    let (mid, ..) = s
        .publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    let puback = Packet::PubAck(PubAck {
        reason: 0x10,
        properties: Properties::new(PacketTypes::PUBACK)
            .with(Property::ReasonString("why".into()))
            .unwrap(),
        ..PubAck::new(mid)
    });
    s.handle(puback, now).unwrap();
}

/// Item 20 (MQTT 5 section 3.14.2.2.2): after a CONNECT whose Session Expiry Interval was 0 or
/// absent, a DISCONNECT may not set a non-zero one: `disconnect` fails and queues nothing; 0 is fine.
#[test]
fn a_disconnect_may_not_give_a_session_expiry_the_connect_did_not() {
    let expiry = |v| {
        Properties::new(PacketTypes::DISCONNECT)
            .with(Property::SessionExpiryInterval(v))
            .unwrap()
    };
    let (mut s, _) = connected_v5(Properties::new(PacketTypes::CONNACK));
    assert!(matches!(
        s.disconnect(0, Some(&expiry(60))),
        Err(Error::InvalidArgument {
            name: "properties",
            ..
        })
    ));
    assert!(s.out.is_empty() && !s.is_disconnecting());
    s.disconnect(0, Some(&expiry(0))).unwrap();
    assert!(matches!(&sent_v5(&mut s)[..], [Packet::Disconnect(_)]));
    // A CONNECT with an expiry lets the DISCONNECT change it.
    let connect = Connect {
        properties: Properties::new(PacketTypes::CONNECT)
            .with(Property::SessionExpiryInterval(10))
            .unwrap(),
        ..at(Protocol::V5, persistent())
    };
    let (mut s, _) = connected_with(SessionConfig::default(), &connect);
    s.disconnect(0, Some(&expiry(60))).unwrap();
    assert!(matches!(&sent_v5(&mut s)[..], [Packet::Disconnect(_)]));
}

/// Item 22 ([MQTT-3.3.4-8], [MQTT-4.9.0-3]): a full send window (the server's Receive Maximum 1)
/// holds back PUBLISHes only: a SUBSCRIBE, the PUBACK of an incoming message and a keepalive PINGREQ
/// go out at once while the queued PUBLISH waits.
#[test]
fn a_full_window_holds_back_publishes_only() {
    let connack = Properties::new(PacketTypes::CONNACK)
        .with(Property::ReceiveMaximum(1))
        .unwrap();
    let (mut s, now) = connected_v5(connack);
    for _ in 0..2 {
        s.publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
    }
    assert_eq!(sent_v5(&mut s).len(), 1, "one in flight, one queued");
    let sub = s
        .subscribe(
            vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
            None,
        )
        .unwrap();
    s.handle(publish_pkt(40, QoS::AtLeastOnce, false), now)
        .unwrap();
    for ev in std::mem::take(&mut s.events) {
        if let Event::Message { msg, generation } = ev {
            s.message_handled(msg.mid, msg.qos, generation);
        }
    }
    s.tick(now + Duration::from_secs(60)).unwrap();
    let out = sent_v5(&mut s);
    assert!(
        matches!(
            &out[..],
            [Packet::Subscribe(p), Packet::PubAck(a), Packet::PingReq]
                if p.pkid == sub && a.pkid == 40
        ),
        "{out:?}"
    );
}
