//! The session driven without sockets or clocks: packets in, bytes and events out.

use super::*;
use crate::packet::{decode, ConnAck, Disconnect, MAX_REMAINING_LENGTH};
use crate::properties::Property;

fn t0() -> Instant {
    Instant::now()
}

fn connect_packet() -> Connect {
    Connect {
        protocol: crate::Protocol::V311,
        client_id: "c".into(),
        clean_session: true,
        keepalive: 60,
        username: None,
        password: None,
        will: None,
        ..Connect::default()
    }
}

/// A session with a connection open and CONNACK accepted; output and events cleared.
/// A CONNECT that continues a session (clean session 0), so that a CONNACK may say session present.
fn persistent() -> Connect {
    Connect {
        clean_session: false,
        ..connect_packet()
    }
}

fn connected(cfg: SessionConfig) -> (Session, Instant) {
    connected_with(cfg, &connect_packet())
}

/// Connected with the keepalive (seconds) that CONNECT carried.
fn connected_keepalive(keepalive: u16) -> (Session, Instant) {
    let connect = Connect {
        keepalive,
        ..connect_packet()
    };
    connected_with(SessionConfig::default(), &connect)
}

fn connected_with(cfg: SessionConfig, connect: &Connect) -> (Session, Instant) {
    let now = t0();
    let mut s = Session::new(cfg, now);
    s.connection_opened(connect, now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    s.after_connect(false);
    s.out.clear();
    s.events.clear();
    (s, now)
}

/// Decodes everything in `s.out` and clears it.
fn sent(s: &mut Session) -> Vec<Packet> {
    let mut v = Vec::new();
    let mut buf = &s.out[..];
    while let Some((p, n)) = decode(buf, MAX_REMAINING_LENGTH).unwrap() {
        v.push(p);
        buf = &buf[n..];
    }
    assert!(buf.is_empty(), "partial packet left in output");
    s.out.clear();
    v
}

fn publish_pkt(mid: u16, qos: QoS, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos,
        retain: false,
        topic: "t".into(),
        pkid: mid,
        payload: b"p".to_vec(),
        ..Publish::default()
    })
}

#[test]
fn connect_is_the_first_thing_written_and_connack_connects() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    assert_eq!(s.state(), ConnState::Closed);
    s.connection_opened(&persistent(), now);
    assert!(matches!(sent(&mut s)[..], [Packet::Connect(_)]));
    assert_eq!(s.state(), ConnState::Connecting);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: true,
            code: 0,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    assert_eq!(s.state(), ConnState::Connected);
    assert!(matches!(
        s.events[..],
        [Event::Connected {
            session_present: true,
            ..
        }]
    ));
}

#[test]
fn a_refused_connack_is_an_event_and_does_not_connect() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    s.connection_opened(&connect_packet(), now);
    s.handle(
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: 5,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    assert!(matches!(&s.events[..], [Event::ConnectRefused { reason, .. }] if *reason == 0x87));
    assert_eq!(s.state(), ConnState::Connecting);
}

#[test]
fn packets_before_connack_are_a_protocol_error() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    s.connection_opened(&connect_packet(), now);
    assert!(matches!(
        s.handle(Packet::PingResp, now),
        Err(Error::Protocol { .. })
    ));
}

#[test]
fn message_ids_are_shared_start_at_one_and_skip_ids_in_use() {
    let (mut s, _) = connected(SessionConfig::default());
    let (m1, _, _) = s
        .publish("t", vec![], QoS::AtLeastOnce, false, None)
        .unwrap();
    let m2 = s
        .subscribe(
            vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
            None,
        )
        .unwrap();
    let m3 = s.unsubscribe(vec!["a".into()], None).unwrap();
    assert_eq!((m1, m2, m3), (1, 2, 3));
    // Wrap around: 65535 -> 1, but 1 is still in flight, so 2 (SUBACK not yet received, also in use)
    // is skipped too... 2 and 3 are in use: the next free id is 4.
    s.last_mid = u16::MAX - 1;
    assert_eq!(
        s.publish("t", vec![], QoS::AtLeastOnce, false, None)
            .unwrap()
            .0,
        u16::MAX
    );
    assert_eq!(
        s.publish("t", vec![], QoS::AtLeastOnce, false, None)
            .unwrap()
            .0,
        4
    );
}

#[test]
fn qos1_flow_completes_on_puback() {
    let (mut s, now) = connected(SessionConfig::default());
    let (mid, rc, info) = s
        .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    assert_eq!(rc, ErrorCode::Success);
    assert_eq!(
        sent(&mut s),
        vec![publish_pkt(mid, QoS::AtLeastOnce, false)]
    );
    s.handle(Packet::PubAck(PubAck::new(mid)), now).unwrap();
    assert!(matches!(
        s.events[..],
        [Event::Published { first: 1, count: 1 }]
    ));
    assert_eq!(s.pending_messages(), 0);
    let signal = Arc::new(crate::completion::PublishSignal::default());
    let mi = crate::completion::MessageInfo {
        mid,
        rc,
        state: info,
        signal,
    };
    assert!(mi.is_published());
}

#[test]
fn delivered_payload_buffers_are_kept_within_their_bounds_and_handed_out_again() {
    let (mut s, _) = connected(SessionConfig::default());
    assert_eq!(
        s.spare_payload().capacity(),
        0,
        "nothing kept yet: a new buffer"
    );
    let mib = 1024 * 1024;
    let kept: Vec<*const u8> = (0..5)
        .map(|_| {
            let buf = Vec::with_capacity(mib);
            let at = buf.as_ptr();
            s.give_back_payload(buf);
            at
        })
        .collect();
    // Four 1 MiB buffers fill SPARE_PAYLOAD_BYTES; the fifth is freed.
    assert_eq!(s.spare_payloads.len(), SPARE_PAYLOAD_BYTES / mib);
    for &at in kept[..4].iter().rev() {
        let buf = s.spare_payload();
        assert_eq!(buf.as_ptr(), at);
    }
    assert_eq!(
        (s.spare_payload().capacity(), s.spare_payload_bytes),
        (0, 0)
    );
    // Small ones up to SPARE_PAYLOADS, and never an empty one.
    s.give_back_payload(Vec::new());
    for _ in 0..SPARE_PAYLOADS + 10 {
        s.give_back_payload(Vec::with_capacity(64));
    }
    assert_eq!(s.spare_payloads.len(), SPARE_PAYLOADS);
}

#[test]
fn consecutive_completions_share_one_event_and_a_gap_or_another_event_starts_a_new_one() {
    let (mut s, _) = connected(SessionConfig::default());
    for mid in [65534, 65535, 1, 2] {
        s.published(mid);
    }
    s.published(4); // 3 is missing
    s.events.push(Event::Unsubscribed {
        mid: 9,
        codes: Vec::new(),
        props: Properties::default(),
    });
    s.published(5);
    assert!(matches!(
        s.events[..],
        [
            Event::Published {
                first: 65534,
                count: 4
            },
            Event::Published { first: 4, count: 1 },
            Event::Unsubscribed { mid: 9, .. },
            Event::Published { first: 5, count: 1 },
        ]
    ));
    let wrapped: Vec<u16> = mids_from(65534).take(4).collect();
    assert_eq!(wrapped, [65534, 65535, 1, 2]);
    for (first, steps) in [
        (1, 0),
        (1, 1),
        (65534, 1),
        (65534, 2),
        (65535, 3),
        (7, 65535),
    ] {
        let walked = mids_from(first).nth(usize::from(steps));
        assert_eq!(Some(mid_after(first, steps)), walked, "{first} + {steps}");
    }
}

#[test]
fn qos2_flow_sends_pubrel_on_pubrec_and_completes_on_pubcomp() {
    let (mut s, now) = connected(SessionConfig::default());
    let (mid, _, _) = s
        .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false, None)
        .unwrap();
    sent(&mut s);
    s.handle(Packet::PubRec(PubRec::new(mid)), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRel(PubRel::new(mid))]);
    assert!(s.events.is_empty());
    s.handle(Packet::PubComp(PubComp::new(mid)), now).unwrap();
    assert!(matches!(s.events[..], [Event::Published { .. }]));
}

#[test]
fn incoming_qos1_is_delivered_then_acked_after_the_callback() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(publish_pkt(7, QoS::AtLeastOnce, false), now)
        .unwrap();
    assert!(
        s.out.is_empty(),
        "PUBACK must wait for on_message to return"
    );
    let Event::Message { msg, generation } = s.events.remove(0) else {
        panic!()
    };
    s.message_handled(msg.mid, msg.qos, generation);
    assert_eq!(sent(&mut s), vec![Packet::PubAck(PubAck::new(7))]);
}

#[test]
fn incoming_qos2_pubrec_at_once_delivery_on_pubrel_then_pubcomp() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(publish_pkt(9, QoS::ExactlyOnce, false), now)
        .unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
    assert!(s.events.is_empty());
    // A duplicate PUBLISH before PUBREL: PUBREC again, still one delivery.
    s.handle(publish_pkt(9, QoS::ExactlyOnce, true), now)
        .unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
    s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
    assert_eq!(s.events.len(), 1);
    let Event::Message { msg, generation } = s.events.remove(0) else {
        panic!()
    };
    assert!(s.out.is_empty());
    s.message_handled(msg.mid, msg.qos, generation);
    assert_eq!(sent(&mut s), vec![Packet::PubComp(PubComp::new(9))]);
    // A PUBREL we know nothing of still gets PUBCOMP.
    s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubComp(PubComp::new(9))]);
    assert!(s.events.is_empty());
}

/// Issue #18: a broker that restarts between its PUBLISH and its PUBREL resends the PUBLISH (DUP) on the
/// resumed session. That copy must not be kept beside the first: one PUBREL delivers the message once,
/// and nothing is left behind for the id, so the next message to reuse it (65,535 messages later with
/// mosquitto) is delivered as itself. (libmosquitto keeps both copies, and that PUBREL then delivers the
/// stale one again while the new message waits for good: the losses the issue saw.)
#[test]
fn incoming_qos2_resent_after_a_reconnect_is_kept_once_and_its_id_is_free_for_the_next_message() {
    let with_payload = |mid, dup, payload: &[u8]| {
        let mut p = publish_pkt(mid, QoS::ExactlyOnce, dup);
        if let Packet::Publish(p) = &mut p {
            p.payload = payload.to_vec();
        }
        p
    };
    let (mut s, now) = connected_with(SessionConfig::default(), &persistent());
    s.handle(with_payload(7, false, b"first"), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec::new(7))]);
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
    s.after_connect(true);
    sent(&mut s);
    s.events.clear();
    s.handle(with_payload(7, true, b"first"), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec::new(7))]);
    let mut delivered = Vec::new();
    let release = |s: &mut Session, delivered: &mut Vec<Vec<u8>>| {
        s.handle(Packet::PubRel(PubRel::new(7)), now).unwrap();
        for ev in std::mem::take(&mut s.events) {
            if let Event::Message { msg, generation } = ev {
                s.message_handled(msg.mid, msg.qos, generation);
                delivered.push(msg.payload);
            }
        }
        assert_eq!(sent(s), vec![Packet::PubComp(PubComp::new(7))]);
    };
    release(&mut s, &mut delivered);
    // The id comes round again, for another message.
    s.handle(with_payload(7, false, b"next"), now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec::new(7))]);
    release(&mut s, &mut delivered);
    assert_eq!(delivered, [b"first".to_vec(), b"next".to_vec()]);
}

#[test]
fn incoming_qos2_released_out_of_order_delivers_each_once() {
    let (mut s, now) = connected(SessionConfig::default());
    for mid in [4, 5, 6] {
        s.handle(publish_pkt(mid, QoS::ExactlyOnce, false), now)
            .unwrap();
    }
    // A resend of 5 with another payload changes nothing: the first copy is the one delivered.
    let mut resend = publish_pkt(5, QoS::ExactlyOnce, true);
    if let Packet::Publish(p) = &mut resend {
        p.payload = b"other".to_vec();
    }
    s.handle(resend, now).unwrap();
    sent(&mut s);
    let mut delivered = Vec::new();
    for mid in [6, 4, 5, 5] {
        s.handle(Packet::PubRel(PubRel::new(mid)), now).unwrap();
        for ev in s.events.drain(..) {
            if let Event::Message { msg, .. } = ev {
                delivered.push((msg.mid, msg.payload));
            }
        }
    }
    assert_eq!(
        delivered,
        [(6, b"p".to_vec()), (4, b"p".to_vec()), (5, b"p".to_vec())]
    );
}

/// The ids are looked for in both halves of a ring that has wrapped around.
#[test]
fn manual_ack_leaves_the_ack_to_the_user() {
    let (mut s, now) = connected(SessionConfig {
        manual_ack: true,
        ..Default::default()
    });
    s.handle(publish_pkt(3, QoS::AtLeastOnce, false), now)
        .unwrap();
    let Event::Message { msg, generation } = s.events.remove(0) else {
        panic!()
    };
    s.message_handled(msg.mid, msg.qos, generation);
    assert!(s.out.is_empty());
    s.send_ack(3, 1);
    assert_eq!(sent(&mut s), vec![Packet::PubAck(PubAck::new(3))]);
}

#[test]
fn no_ack_is_sent_on_a_newer_connection_than_the_message_came_on() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(publish_pkt(3, QoS::AtLeastOnce, false), now)
        .unwrap();
    let Event::Message { msg, generation } = s.events.remove(0) else {
        panic!()
    };
    s.connection_opened(&connect_packet(), now);
    s.out.clear();
    s.message_handled(msg.mid, msg.qos, generation);
    assert!(s.out.is_empty());
}

#[test]
fn the_inflight_window_holds_back_messages_until_acks_free_slots() {
    let (mut s, now) = connected(SessionConfig {
        max_inflight: 2,
        ..Default::default()
    });
    for _ in 0..5 {
        s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
    }
    assert_eq!(sent(&mut s).len(), 2);
    s.handle(Packet::PubAck(PubAck::new(1)), now).unwrap();
    assert_eq!(sent(&mut s), vec![publish_pkt(3, QoS::AtLeastOnce, false)]);
    assert_eq!(s.pending_messages(), 4);
}

#[test]
fn a_full_queue_refuses_new_messages_and_keeps_the_old_ones() {
    let (mut s, _) = connected(SessionConfig {
        max_inflight: 1,
        max_queued: 3,
        ..Default::default()
    });
    for _ in 0..3 {
        s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None)
            .unwrap();
    }
    assert!(matches!(
        s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false, None),
        Err(Error::QueueFull)
    ));
    assert_eq!(s.pending_messages(), 3);
    // QoS 0 is not counted against the queue.
    assert!(s
        .publish("t", b"p".to_vec(), QoS::AtMostOnce, false, None)
        .is_ok());
}

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

#[test]
fn keepalive_pings_after_idle_and_fails_without_pingresp() {
    let ka = Duration::from_secs(10);
    let (mut s, now) = connected_keepalive(10);
    assert_eq!(s.next_deadline(), Some(now + ka));
    s.tick(now + Duration::from_secs(9)).unwrap();
    assert!(s.out.is_empty());
    s.tick(now + ka).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    s.handle(Packet::PingResp, now + Duration::from_secs(11))
        .unwrap();
    // Answered: the next ping is due a keepalive after the last traffic.
    s.tick(now + Duration::from_secs(19)).unwrap();
    assert!(s.out.is_empty());
    s.tick(now + Duration::from_secs(20)).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    // Unanswered for another keepalive: dead.
    assert!(matches!(
        s.tick(now + Duration::from_secs(30)),
        Err(Error::Keepalive)
    ));
}

#[test]
fn keepalive_counts_incoming_traffic_only_one_way() {
    // Paho 2.2: a client that only receives still pings, because nothing went out.
    let ka = Duration::from_secs(10);
    let (mut s, now) = connected_keepalive(10);
    s.handle(
        publish_pkt(0, QoS::AtMostOnce, false),
        now + Duration::from_secs(9),
    )
    .unwrap();
    s.tick(now + ka).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
}

#[test]
fn waiting_too_long_for_connack_fails_and_keepalive_zero_disables_everything() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    let connect = Connect {
        keepalive: 5,
        ..connect_packet()
    };
    s.connection_opened(&connect, now);
    assert!(matches!(
        s.tick(now + Duration::from_secs(5)),
        Err(Error::Keepalive)
    ));
    let (mut s, now) = connected_keepalive(0);
    assert_eq!(s.next_deadline(), None);
    s.tick(now + Duration::from_secs(100_000)).unwrap();
    assert!(s.out.is_empty());
}

#[test]
fn the_broker_pinging_us_gets_pingresp() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(Packet::PingReq, now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PingResp]);
}

#[test]
fn client_only_packets_from_the_broker_are_protocol_errors() {
    let (mut s, now) = connected(SessionConfig::default());
    assert!(matches!(
        s.handle(Packet::Disconnect(Disconnect::default()), now),
        Err(Error::Protocol { .. })
    ));
    let (mut s, now) = connected(SessionConfig::default());
    let c = Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        ..ConnAck::default()
    });
    assert!(matches!(s.handle(c, now), Err(Error::Protocol { .. })));
}

#[test]
fn closing_discards_unwritten_qos0_and_pending_acks_free_their_ids() {
    let (mut s, _) = connected(SessionConfig::default());
    let (_, _, info) = s
        .publish("t", b"p".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    let mid = s
        .subscribe(
            vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
            None,
        )
        .unwrap();
    s.connection_closed();
    assert!(s.out.is_empty());
    let signal = Arc::new(crate::completion::PublishSignal::default());
    let mi = crate::completion::MessageInfo {
        mid: 0,
        rc: ErrorCode::Success,
        state: info,
        signal,
    };
    assert!(matches!(
        mi.wait_for_publish(None),
        Err(Error::PublishDiscarded(ErrorCode::ConnLost))
    ));
    assert!(!s.mids.contains(mid));
}

#[test]
fn disconnect_queues_disconnect_and_stops_new_publishes() {
    let (mut s, _) = connected(SessionConfig::default());
    s.disconnect(0, None).unwrap();
    assert_eq!(
        sent(&mut s),
        vec![Packet::Disconnect(Disconnect::default())]
    );
    let (_, rc, _) = s
        .publish("t", vec![], QoS::AtMostOnce, false, None)
        .unwrap();
    assert_eq!(rc, ErrorCode::NoConn);
    assert!(matches!(
        s.subscribe(
            vec![("a".into(), SubscribeOptions::from(QoS::AtMostOnce))],
            None
        ),
        Err(Error::NoConn)
    ));
}

#[test]
fn nothing_follows_disconnect() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(publish_pkt(4, QoS::AtLeastOnce, false), now)
        .unwrap();
    let Event::Message { msg, generation } = s.events.remove(0) else {
        panic!()
    };
    s.disconnect(0, None).unwrap();
    // The callback returns after disconnect(), a QoS 2 message and a PINGREQ arrive, keepalive is due.
    s.message_handled(msg.mid, msg.qos, generation);
    s.handle(publish_pkt(5, QoS::ExactlyOnce, false), now)
        .unwrap();
    s.handle(Packet::PingReq, now).unwrap();
    s.tick(now + Duration::from_secs(3600)).unwrap();
    // A second disconnect() (a drop guard after an explicit one) sends no second DISCONNECT.
    s.disconnect(0, None).unwrap();
    assert_eq!(
        sent(&mut s),
        vec![Packet::Disconnect(Disconnect::default())]
    );
}

#[test]
fn a_payload_over_the_protocol_limit_is_refused() {
    let (mut s, _) = connected(SessionConfig::default());
    // Not allocated for real: the length check comes first, so a too-large claim is cheap to test with
    // a short topic and a payload exactly at the limit minus the topic's two length bytes and 1 byte.
    let topic = "t";
    let fits = MAX_REMAINING_LENGTH - 2 - topic.len();
    assert_eq!(
        Publish::parts_remaining_length(topic.len(), QoS::AtMostOnce, fits),
        MAX_REMAINING_LENGTH
    );
    let too_big = vec![0u8; fits + 1];
    assert!(matches!(
        s.publish(topic, too_big, QoS::AtMostOnce, false, None),
        Err(Error::PayloadTooLarge(_))
    ));
}

fn info(state: Arc<PublishState>) -> crate::completion::MessageInfo {
    crate::completion::MessageInfo {
        mid: 0,
        rc: ErrorCode::Success,
        state,
        signal: Arc::new(crate::completion::PublishSignal::default()),
    }
}

#[test]
fn qos0_messages_in_one_buffer_share_a_completion_flag_and_the_next_buffer_gets_its_own() {
    let (mut s, _) = connected(SessionConfig::default());
    let (_, _, a) = s
        .publish("t", b"a".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    let (_, _, b) = s
        .publish("u", b"b".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(s.qos0_pending.len(), 2);
    // The loop takes `out` and `qos0_pending` together (a swap) and writes them.
    let written = std::mem::take(&mut s.qos0_pending);
    s.out.clear();
    let (_, _, c) = s
        .publish("t", b"c".to_vec(), QoS::AtMostOnce, false, None)
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    for (_, state) in &written {
        state.set_published();
    }
    assert!(info(a).is_published() && info(b).is_published());
    assert!(!info(c.clone()).is_published());
    // Lost with the connection: only the unwritten one says so.
    s.connection_closed();
    assert!(matches!(
        info(c).wait_for_publish(None),
        Err(Error::PublishDiscarded(ErrorCode::ConnLost))
    ));
}

#[test]
fn a_qos1_completion_flag_nobody_holds_is_reused_and_one_still_held_is_set() {
    let (mut s, now) = connected(SessionConfig::default());
    let (m1, _, dropped) = s
        .publish("t", b"1".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    let dropped_addr = Arc::as_ptr(&dropped);
    drop(dropped);
    let (m2, _, held) = s
        .publish("t", b"2".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    s.handle(Packet::PubAck(PubAck::new(m1)), now).unwrap();
    s.handle(Packet::PubAck(PubAck::new(m2)), now).unwrap();
    assert!(matches!(
        s.events[..],
        [Event::Published { first, count: 2 }] if first == m1
    ));
    assert!(info(held).is_published());
    // The next message gets the first one's flag back, reset to pending.
    let (_, _, reused) = s
        .publish("t", b"3".to_vec(), QoS::AtLeastOnce, false, None)
        .unwrap();
    assert_eq!(Arc::as_ptr(&reused), dropped_addr);
    assert!(!info(reused).is_published());
}

#[test]
fn queued_messages_to_the_same_topic_share_it_and_go_out_unchanged() {
    let cfg = SessionConfig {
        max_inflight: 1,
        ..SessionConfig::default()
    };
    let (mut s, now) = connected(cfg);
    for (topic, payload) in [("a/b", "1"), ("a/b", "2"), ("c", "3")] {
        s.publish(topic, payload.as_bytes(), QoS::AtLeastOnce, false, None)
            .unwrap();
    }
    assert!(Arc::ptr_eq(&s.inflight[0].topic, &s.queued[0].topic));
    assert!(!Arc::ptr_eq(&s.queued[0].topic, &s.queued[1].topic));
    let mut got = Vec::new();
    for _ in 0..3 {
        for p in sent(&mut s) {
            let Packet::Publish(p) = p else { panic!() };
            got.push((p.topic.clone(), p.payload.clone()));
            s.handle(Packet::PubAck(PubAck::new(p.pkid)), now).unwrap();
        }
    }
    let want: Vec<(String, Vec<u8>)> = [("a/b", "1"), ("a/b", "2"), ("c", "3")]
        .iter()
        .map(|(t, p)| (t.to_string(), p.as_bytes().to_vec()))
        .collect();
    assert_eq!(got, want);
}

// ---- MQTT 5 ----

/// Connected on MQTT 5, the CONNACK carrying `connack`'s properties; output and events cleared.
fn connected_v5(connack: Properties) -> (Session, Instant) {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    let connect = Connect {
        protocol: Protocol::V5,
        ..connect_packet()
    };
    s.connection_opened(&connect, now);
    s.handle(
        Packet::ConnAck(ConnAck {
            properties: connack,
            ..ConnAck::default()
        }),
        now,
    )
    .unwrap();
    s.after_connect(false);
    s.out.clear();
    s.events.clear();
    (s, now)
}

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

/// Decodes everything in `s.out` as MQTT 5 and clears it.
fn sent_v5(s: &mut Session) -> Vec<Packet> {
    let mut v = Vec::new();
    let mut buf = &s.out[..];
    while let Some((p, n)) = crate::packet::decode_v5(buf, MAX_REMAINING_LENGTH).unwrap() {
        v.push(p);
        buf = &buf[n..];
    }
    s.out.clear();
    v
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
