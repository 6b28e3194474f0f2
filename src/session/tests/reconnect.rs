//! What a new connection restores: unacknowledged messages and subscriptions.

use super::*;

#[test]
fn while_disconnected_qos0_is_dropped_and_qos1_is_kept_for_the_next_connection() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    let (_, rc0, _) = s
        .publish("t", b"p".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    let (mid, rc1, _) = s
        .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    assert_eq!((rc0, rc1), (ErrorCode::NoConn, ErrorCode::NoConn));
    assert!(s.out.is_empty());
    s.connection_opened(&connect_packet(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    let p = sent(&mut s);
    assert!(
        matches!(p[..], [Packet::Connect(_)]),
        "nothing but CONNECT before on_connect: {p:?}"
    );
    s.after_connect(false);
    assert_eq!(
        sent(&mut s),
        vec![publish_pkt(mid, QoS::AtLeastOnce, false)]
    );
}

#[test]
fn after_reconnect_unacked_messages_are_resent_with_dup_and_qos2_awaiting_pubcomp_resends_pubrel() {
    let (mut s, now) = connected(SessionConfig::default());
    let (m1, ..) = s
        .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    let (m2, ..) = s
        .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false, None)
        .unwrap();
    let (m3, ..) = s
        .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false, None)
        .unwrap();
    s.handle(Packet::PubRec(PubRec::new(m3)), now).unwrap();
    sent(&mut s);
    s.connection_closed();
    s.connection_opened(&persistent(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: true,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    sent(&mut s);
    s.after_connect(true);
    assert_eq!(
        sent(&mut s),
        vec![
            publish_pkt(m1, QoS::AtLeastOnce, true),
            publish_pkt(m2, QoS::ExactlyOnce, true),
            Packet::PubRel(PubRel::new(m3)),
        ]
    );
}

#[test]
fn resubscribe_restores_only_what_on_connect_did_not() {
    let (mut s, now) = connected(SessionConfig::default());
    let mid = s
        .subscribe(
            vec![
                ("a".into(), SubscribeOptions::from(QoS::AtLeastOnce)),
                ("b".into(), SubscribeOptions::from(QoS::AtMostOnce)),
            ],
            None,
        )
        .unwrap();
    s.handle(
        Packet::SubAck(SubAck {
            pkid: mid,
            return_codes: vec![1, 0],
            ..SubAck::default()
        }),
        now,
    )
    .unwrap();
    s.subscribe(
        vec![("c".into(), SubscribeOptions::from(QoS::ExactlyOnce))],
        None,
    )
    .unwrap();
    s.unsubscribe(vec!["c".into()], None).unwrap();
    s.connection_closed();
    s.connection_opened(&connect_packet(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    sent(&mut s);
    // The user's on_connect subscribes to "a" again (the Paho idiom).
    s.subscribe(
        vec![("a".into(), SubscribeOptions::from(QoS::AtLeastOnce))],
        None,
    )
    .unwrap();
    let from_on_connect = sent(&mut s);
    s.after_connect(false);
    let restored = sent(&mut s);
    assert!(
        matches!(&from_on_connect[..], [Packet::Subscribe(p)] if p.filters == vec![("a".to_string(), QoS::AtLeastOnce.into())])
    );
    assert!(
        matches!(&restored[..], [Packet::Subscribe(p)] if p.filters == vec![("b".to_string(), QoS::AtMostOnce.into())])
    );
    // The SUBACK of the automatic resubscribe is not reported to on_subscribe.
    let Packet::Subscribe(p) = &restored[0] else {
        unreachable!()
    };
    s.events.clear();
    s.handle(
        Packet::SubAck(SubAck {
            pkid: p.pkid,
            return_codes: vec![0],
            ..SubAck::default()
        }),
        now,
    )
    .unwrap();
    assert!(s.events.is_empty());
}

#[test]
fn a_disconnect_from_on_connect_stops_the_resubscribe_and_resend() {
    let (mut s, now) = connected(SessionConfig::default());
    s.subscribe(
        vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
        None,
    )
    .unwrap();
    s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    s.connection_opened(&connect_packet(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    sent(&mut s);
    s.disconnect(0, None).unwrap(); // the user's on_connect
    s.after_connect(false);
    assert_eq!(
        sent(&mut s),
        vec![Packet::Disconnect(Disconnect::default())]
    );
}

#[test]
fn no_resubscribe_when_the_broker_kept_the_session_or_when_disabled() {
    for (present, enabled) in [(true, true), (false, false)] {
        let (mut s, now) = connected(SessionConfig {
            resubscribe: enabled,
            ..Default::default()
        });
        s.subscribe(
            vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
            None,
        )
        .unwrap();
        s.connection_opened(&persistent(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: present,
                code: 0,
                ..ConnAck::default()
            }),
            now,
        )
        .unwrap();
        sent(&mut s);
        s.after_connect(present);
        assert!(s.out.is_empty());
    }
}

#[test]
fn a_refused_subscription_is_not_restored() {
    let (mut s, now) = connected(SessionConfig::default());
    let mid = s
        .subscribe(
            vec![
                ("a".into(), SubscribeOptions::from(QoS::AtMostOnce)),
                ("b".into(), SubscribeOptions::from(QoS::AtMostOnce)),
            ],
            None,
        )
        .unwrap();
    s.handle(
        Packet::SubAck(SubAck {
            pkid: mid,
            return_codes: vec![0x80, 0],
            ..SubAck::default()
        }),
        now,
    )
    .unwrap();
    assert!(
        matches!(&s.events[..], [Event::Subscribed { codes, .. }] if codes[0].is_failure() && codes[1] == 0)
    );
    s.connection_opened(&connect_packet(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    sent(&mut s);
    s.after_connect(false);
    assert!(
        matches!(&sent(&mut s)[..], [Packet::Subscribe(p)] if p.filters.len() == 1 && p.filters[0].0 == "b")
    );
}

/// Publishes a QoS 1 message, a QoS 2 one left awaiting PUBREC and a QoS 2 one left awaiting PUBCOMP
/// on `s`'s connection; returns their ids and completion flags.
fn three_unacknowledged(s: &mut Session, now: Instant) -> [(u16, Arc<PublishState>); 3] {
    let mut publish = |qos| {
        let (mid, _, info) = s.publish("t", b"p".to_vec(), qos, false, None).unwrap();
        (mid, info)
    };
    let m = [
        publish(QoS::AtLeastOnce),
        publish(QoS::ExactlyOnce),
        publish(QoS::ExactlyOnce),
    ];
    s.handle(Packet::PubRec(PubRec::new(m[2].0)), now).unwrap();
    s.out.clear();
    m
}

/// Item 1 of the conformance gaps, decided for Paho ([MQTT-3.1.2-6] at 3.1.1): after a reconnect
/// without a session, the old session's messages are sent again as Paho sends them with
/// `clean_session=True`, PUBLISH with DUP, and a QoS 2 message awaiting PUBCOMP starts over from its
/// PUBLISH: a PUBREL would name an id the new session never saw, and complete a message nobody got.
#[test]
fn at_311_without_a_session_messages_are_resent_with_dup_and_qos2_starts_over_from_publish() {
    let (mut s, now) = connected(SessionConfig::default());
    let [(m1, _), (m2, _), (m3, _)] = three_unacknowledged(&mut s, now);
    reconnect(&mut s, &connect_packet(), false, now);
    s.after_connect(false);
    assert_eq!(
        sent(&mut s),
        vec![
            publish_pkt(m1, QoS::AtLeastOnce, true),
            publish_pkt(m2, QoS::ExactlyOnce, true),
            publish_pkt(m3, QoS::ExactlyOnce, true),
        ]
    );
    // The restarted QoS 2 message runs its whole flow again.
    s.handle(Packet::PubRec(PubRec::new(m3)), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRel(PubRel::new(m3))]);
    s.handle(Packet::PubComp(PubComp::new(m3)), now).unwrap();
    assert!(matches!(s.events[..], [Event::Published { first, count: 1 }] if first == m3));
}

/// Item 14 ([MQTT-3.1.2-4], [MQTT-3.2.2-5], [MQTT-4.4.0-1]): at 5.0, after a CONNACK with Session
/// Present 0, the old session's messages go out as new messages: no DUP, no PUBREL, QoS 2 from its
/// PUBLISH, in their order, within the new Receive Maximum; none is dropped, and each completes as
/// the new flow ends.
#[test]
fn at_5_without_a_session_unacknowledged_messages_go_out_as_new_ones() {
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    let [(m1, i1), (m2, i2), (m3, i3)] = three_unacknowledged(&mut s, now);
    let connect = at(Protocol::V5, persistent());
    s.connection_closed();
    s.connection_opened(&connect, now);
    let receive_maximum_2 = Properties::new(PacketTypes::CONNACK)
        .with(Property::ReceiveMaximum(2))
        .unwrap();
    s.handle(
        Packet::ConnAck(ConnAck {
            properties: receive_maximum_2,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    s.out.clear();
    s.after_connect(false);
    assert_eq!(
        publishes(&sent_v5(&mut s)),
        [(m1, QoS::AtLeastOnce, false), (m2, QoS::ExactlyOnce, false)],
        "new messages, within Receive Maximum 2"
    );
    s.handle(Packet::PubAck(PubAck::new(m1)), now).unwrap();
    assert_eq!(
        publishes(&sent_v5(&mut s)),
        [(m3, QoS::ExactlyOnce, false)],
        "the QoS 2 message that awaited PUBCOMP starts over from its PUBLISH"
    );
    for m in [m2, m3] {
        s.handle(Packet::PubRec(PubRec::new(m)), now).unwrap();
        s.handle(Packet::PubComp(PubComp::new(m)), now).unwrap();
    }
    assert_eq!(s.pending_messages(), 0);
    for state in [i1, i2, i3] {
        assert!(info(state).is_published());
    }
}

/// With the session present, 5.0 re-sends as 3.1.1 does ([MQTT-4.4.0-1]): PUBLISH with DUP, PUBREL
/// for QoS 2 awaiting PUBCOMP, with their original ids.
#[test]
fn at_5_with_the_session_present_messages_are_resent_with_dup_and_pubrel() {
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    let [(m1, _), (m2, _), (m3, _)] = three_unacknowledged(&mut s, now);
    reconnect(&mut s, &at(Protocol::V5, persistent()), true, now);
    s.after_connect(true);
    let out = sent_v5(&mut s);
    assert_eq!(
        publishes(&out[..2]),
        [(m1, QoS::AtLeastOnce, true), (m2, QoS::ExactlyOnce, true)]
    );
    assert_eq!(out[2..], [Packet::PubRel(PubRel::new(m3))]);
}

/// Item 4 ([MQTT-3.1.2-6], [MQTT-3.2.2-5]): an incoming QoS 2 message awaiting PUBREL belongs to the
/// session; a CONNACK without one forgets it, so a PUBREL for its id completes nothing: PUBCOMP (at
/// 5.0 with 0x92, Packet identifier not found) and no delivery.
#[test]
fn an_incoming_qos2_awaiting_pubrel_is_forgotten_with_the_session() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), persistent());
        s.handle(publish_pkt(9, QoS::ExactlyOnce, false), now)
            .unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
        reconnect(&mut s, &at(protocol, persistent()), false, now);
        s.after_connect(false);
        s.events.clear();
        s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
        let reason = if protocol == Protocol::V5 { 0x92 } else { 0 };
        assert_eq!(
            sent_any(&mut s),
            vec![Packet::PubComp(PubComp {
                reason,
                ..PubComp::new(9)
            })],
            "{protocol:?}"
        );
        assert!(s.events.is_empty(), "{protocol:?}: nothing delivered");
    }
}

/// Item 11 ([MQTT-3.2.2-4] at 5.0, MQTT-3.2.2-1 at 3.1.1): a CONNACK with Session Present 1 after a
/// clean-session CONNECT is a protocol error: no `Connected` event, and at 5.0 DISCONNECT 0x82.
#[test]
fn session_present_after_a_clean_session_connect_is_a_protocol_error() {
    for protocol in BOTH {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        s.connection_opened(&at(protocol, connect_packet()), now);
        s.out.clear();
        assert!(
            matches!(s.handle(connack(true), now), Err(Error::Protocol { .. })),
            "{protocol:?}"
        );
        assert!(s.events.is_empty(), "{protocol:?}: no on_connect");
        assert_ne!(s.state(), ConnState::Connected);
        s.violation_disconnect(None);
        let out = sent_any(&mut s);
        match protocol {
            Protocol::V5 => assert!(
                matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x82),
                "{out:?}"
            ),
            _ => assert!(out.is_empty(), "3.1.1 just closes: {out:?}"),
        }
    }
}

/// Item 12 (an observation, [MQTT-4.6.0-1]): a message published from `on_connect` goes out before
/// the re-sends of older unacknowledged ones, since `after_connect` runs after `on_connect` (as in
/// Paho). The re-sends keep their own order; the order across the two is this one, pinned here.
#[test]
fn a_message_published_from_on_connect_goes_before_the_resends() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), persistent());
        let (old, ..) = s
            .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
        s.out.clear();
        reconnect(&mut s, &at(protocol, persistent()), true, now);
        // The user's on_connect publishes.
        let (new, ..) = s
            .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
        s.after_connect(true);
        assert_eq!(
            publishes(&sent_any(&mut s)),
            [
                (new, QoS::AtLeastOnce, false),
                (old, QoS::AtLeastOnce, true)
            ],
            "{protocol:?}"
        );
    }
}
