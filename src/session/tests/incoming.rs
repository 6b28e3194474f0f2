//! Incoming messages: delivery and acknowledgement.

use super::*;

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
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        s.handle(publish_pkt(9, QoS::ExactlyOnce, false), now)
            .unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
        assert!(s.events.is_empty());
        // A duplicate PUBLISH before PUBREL: PUBREC again, still one delivery.
        s.handle(publish_pkt(9, QoS::ExactlyOnce, true), now)
            .unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
        s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
        assert_eq!(s.events.len(), 1);
        let Event::Message { msg, generation } = s.events.remove(0) else {
            panic!()
        };
        assert!(s.out.is_empty());
        s.message_handled(msg.mid, msg.qos, generation);
        assert_eq!(sent_any(&mut s), vec![Packet::PubComp(PubComp::new(9))]);
        // A PUBREL we know nothing of still gets PUBCOMP (at 5.0 saying Packet identifier not found).
        s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
        let reason = if protocol == Protocol::V5 { 0x92 } else { 0 };
        assert_eq!(
            sent_any(&mut s),
            vec![Packet::PubComp(PubComp {
                reason,
                ..PubComp::new(9)
            })]
        );
        assert!(s.events.is_empty());
    }
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
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
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
        sent_any(&mut s);
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
}

/// The ids are looked for in both halves of a ring that has wrapped around.
#[test]
fn held_messages_come_back_first_and_in_order() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(publish_pkt(1, QoS::AtLeastOnce, false), now)
        .unwrap();
    s.handle(publish_pkt(2, QoS::AtLeastOnce, false), now)
        .unwrap();
    let mut events = Vec::new();
    assert!(s.take_events(&mut events));
    // Both held (undelivered); a third arrives meanwhile and goes after them.
    s.handle(publish_pkt(3, QoS::AtLeastOnce, false), now)
        .unwrap();
    s.hold_events(std::mem::take(&mut events));
    assert!(s.take_events(&mut events));
    let mids: Vec<u16> = events
        .iter()
        .map(|e| match e {
            Event::Message { msg, .. } => msg.mid,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(mids, [1, 2, 3]);
    // Nothing was acknowledged while they were held.
    assert!(sent(&mut s).is_empty());
}

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

/// Runs `on_message` for every delivered message (acknowledging it as the loop does) and returns
/// their ids and DUP flags.
fn deliver(s: &mut Session) -> Vec<(u16, bool)> {
    let mut got = Vec::new();
    for ev in std::mem::take(&mut s.events) {
        if let Event::Message { msg, generation } = ev {
            s.message_handled(msg.mid, msg.qos, generation);
            got.push((msg.mid, msg.dup));
        }
    }
    got
}

/// Item 6 ([MQTT-4.3.2-2] of 3.1.1, [MQTT-4.3.2-5] of 5.0): once a QoS 1 message is acknowledged,
/// a PUBLISH with the same id is a new message, DUP or not: delivered and acknowledged again.
#[test]
fn after_its_puback_a_qos1_id_starts_a_new_message_even_with_dup() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        s.handle(publish_pkt(7, QoS::AtLeastOnce, false), now)
            .unwrap();
        assert_eq!(deliver(&mut s), [(7, false)], "{protocol:?}");
        assert_eq!(sent_any(&mut s), vec![Packet::PubAck(PubAck::new(7))]);
        s.handle(publish_pkt(7, QoS::AtLeastOnce, true), now)
            .unwrap();
        assert_eq!(
            deliver(&mut s),
            [(7, true)],
            "{protocol:?}: delivered again"
        );
        assert_eq!(sent_any(&mut s), vec![Packet::PubAck(PubAck::new(7))]);
    }
}

/// Item 7 ([MQTT-4.3.3-2] of 3.1.1, [MQTT-4.3.3-12] of 5.0): once a QoS 2 exchange ends with
/// PUBCOMP, a PUBLISH with the same id is a new message: PUBREC, and a second delivery at its PUBREL.
#[test]
fn after_its_pubcomp_a_qos2_id_starts_a_new_message() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        for round in 0..2 {
            s.handle(publish_pkt(9, QoS::ExactlyOnce, false), now)
                .unwrap();
            assert_eq!(sent_any(&mut s), vec![Packet::PubRec(PubRec::new(9))]);
            assert!(s.events.is_empty());
            s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
            assert_eq!(deliver(&mut s), [(9, false)], "{protocol:?} round {round}");
            assert_eq!(sent_any(&mut s), vec![Packet::PubComp(PubComp::new(9))]);
        }
    }
}

/// Item 8 ([MQTT-4.6.0-2], [MQTT-4.6.0-3]): PUBACKs go in the order their PUBLISHes arrived, and so
/// do PUBRECs.
#[test]
fn pubacks_and_pubrecs_go_in_the_order_their_publishes_arrived() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        for mid in [5, 3, 4] {
            s.handle(publish_pkt(mid, QoS::AtLeastOnce, false), now)
                .unwrap();
        }
        deliver(&mut s);
        let ids = [5, 3, 4].map(|m| Packet::PubAck(PubAck::new(m)));
        assert_eq!(sent_any(&mut s), ids, "{protocol:?}");
        for mid in [8, 6, 7] {
            s.handle(publish_pkt(mid, QoS::ExactlyOnce, false), now)
                .unwrap();
        }
        let ids = [8, 6, 7].map(|m| Packet::PubRec(PubRec::new(m)));
        assert_eq!(sent_any(&mut s), ids, "{protocol:?}");
    }
}

/// Item 24 ([MQTT-3.7.2-1]): at 5.0 a PUBREL for an id the client does not hold gets PUBCOMP with
/// 0x92, Packet identifier not found, in its four-byte form.
#[test]
fn at_5_a_pubrel_for_an_unknown_id_gets_pubcomp_0x92() {
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    s.handle(Packet::PubRel(PubRel::new(0x1234)), now).unwrap();
    assert_eq!(
        s.out,
        [
            0x70, 0x03, // PUBCOMP, remaining length 3
            0x12, 0x34, // packet identifier 0x1234
            0x92, // reason code: Packet identifier not found
        ]
    );
    assert!(s.events.is_empty());
}
