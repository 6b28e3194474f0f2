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
