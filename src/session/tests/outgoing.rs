//! Outgoing messages: ids, flows, the window, the queue and the buffers they reuse.

use super::*;

#[test]
fn message_ids_are_shared_start_at_one_and_skip_ids_in_use() {
    for protocol in BOTH {
        let (mut s, _) = connected_at(protocol, SessionConfig::default(), connect_packet());
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
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        let (mid, _, _) = s
            .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false, None)
            .unwrap();
        sent_any(&mut s);
        s.handle(Packet::PubRec(PubRec::new(mid)), now).unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PubRel(PubRel::new(mid))]);
        assert!(s.events.is_empty());
        s.handle(Packet::PubComp(PubComp::new(mid)), now).unwrap();
        assert!(matches!(s.events[..], [Event::Published { .. }]));
    }
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

/// Item 8 ([MQTT-4.6.0-4]): PUBRELs go in the order their PUBRECs arrived, whatever the order the
/// PUBLISHes went in.
#[test]
fn pubrels_go_in_the_order_their_pubrecs_arrived() {
    for protocol in BOTH {
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
        let mids: Vec<u16> = (0..3)
            .map(|_| {
                s.publish("t", b"p".to_vec(), QoS::ExactlyOnce, false, None)
                    .unwrap()
                    .0
            })
            .collect();
        s.out.clear();
        let order = [mids[2], mids[0], mids[1]];
        for mid in order {
            s.handle(Packet::PubRec(PubRec::new(mid)), now).unwrap();
        }
        let want = order.map(|m| Packet::PubRel(PubRel::new(m)));
        assert_eq!(sent_any(&mut s), want, "{protocol:?}");
    }
}
