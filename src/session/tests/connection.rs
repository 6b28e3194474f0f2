//! Connecting, keepalive and disconnecting.

use super::*;

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

/// A PUBLISH before CONNACK (aedes resuming a session while messages flow) is held, and handled after
/// the CONNACK: `on_connect` first, then the message, acknowledged on the connection. A refused
/// CONNACK or a closed connection drops what was held; past the limit it is a protocol error again.
#[test]
fn a_publish_before_connack_is_handled_after_it() {
    let now = t0();
    let mut s = Session::new(SessionConfig::default(), now);
    s.connection_opened(&persistent(), now);
    s.out.clear();
    s.handle(publish_pkt(7, QoS::AtLeastOnce, false), now)
        .expect("held, not refused");
    assert!(
        s.events.is_empty() && s.out.is_empty(),
        "nothing before CONNACK"
    );
    let connack = |code| {
        Packet::ConnAck(ConnAck {
            session_present: true,
            code,
            ..ConnAck::default()
        })
    };
    s.handle(connack(0), now).unwrap();
    let order: Vec<&str> = s
        .events
        .iter()
        .map(|e| match e {
            Event::Connected { .. } => "connected",
            Event::Message { msg, .. } if msg.mid == 7 => "message 7",
            _ => "other",
        })
        .collect();
    assert_eq!(order, ["connected", "message 7"]);

    // Refused, or closed: what was held goes.
    s.connection_opened(&persistent(), now);
    s.events.clear();
    s.handle(publish_pkt(8, QoS::AtLeastOnce, false), now)
        .unwrap();
    s.handle(connack(5), now).unwrap();
    assert!(s.early.is_empty());
    assert!(!s.events.iter().any(|e| matches!(e, Event::Message { .. })));
    s.connection_opened(&persistent(), now);
    s.handle(publish_pkt(9, QoS::AtLeastOnce, false), now)
        .unwrap();
    s.connection_closed();
    assert!(s.early.is_empty());

    // Without limit it would be a way to fill memory before any CONNACK.
    s.connection_opened(&persistent(), now);
    for i in 0..EARLY_PUBLISH_LIMIT {
        s.handle(publish_pkt(i as u16 + 1, QoS::AtMostOnce, false), now)
            .unwrap();
    }
    assert!(matches!(
        s.handle(publish_pkt(1, QoS::AtMostOnce, false), now),
        Err(Error::Protocol { .. })
    ));
}

#[test]
fn packets_before_connack_are_a_protocol_error() {
    for protocol in BOTH {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        s.connection_opened(&at(protocol, connect_packet()), now);
        assert!(matches!(
            s.handle(Packet::PingResp, now),
            Err(Error::Protocol { .. })
        ));
    }
}

#[test]
fn keepalive_pings_after_idle_and_fails_without_pingresp() {
    for protocol in BOTH {
        let ka = Duration::from_secs(10);
        let connect = Connect {
            keepalive: 10,
            ..connect_packet()
        };
        let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect);
        assert_eq!(s.next_deadline(), Some(now + ka));
        s.tick(now + Duration::from_secs(9)).unwrap();
        assert!(s.out.is_empty());
        s.tick(now + ka).unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PingReq]);
        s.handle(Packet::PingResp, now + Duration::from_secs(11))
            .unwrap();
        // Answered: the next ping is due a keepalive after the last traffic.
        s.tick(now + Duration::from_secs(19)).unwrap();
        assert!(s.out.is_empty());
        s.tick(now + Duration::from_secs(20)).unwrap();
        assert_eq!(sent_any(&mut s), vec![Packet::PingReq]);
        // Unanswered for another keepalive: dead.
        assert!(matches!(
            s.tick(now + Duration::from_secs(30)),
            Err(Error::Keepalive)
        ));
    }
}

#[test]
fn a_stalled_loop_pings_without_judging_and_gets_a_keepalive_to_read_the_answer() {
    // The loop waits for a full messages channel and reads nothing: it keeps pinging the broker, and
    // a PINGRESP it could not read is no reason to give up on the connection.
    let ka = Duration::from_secs(10);
    let (mut s, now) = connected_keepalive(10);
    s.stalled_tick(now + Duration::from_secs(9));
    assert!(s.out.is_empty());
    s.stalled_tick(now + ka);
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    // Unanswered (unread) for another interval: still a ping, no verdict.
    s.stalled_tick(now + 2 * ka);
    assert_eq!(sent(&mut s), vec![Packet::PingReq]);
    assert_eq!(s.next_deadline(), Some(now + 3 * ka));
    // Reading again: the answer has a keepalive from the last ping to come.
    s.tick(now + 3 * ka - Duration::from_secs(1)).unwrap();
    s.handle(Packet::PingResp, now + 3 * ka - Duration::from_secs(1))
        .unwrap();
    s.tick(now + 3 * ka).unwrap();
    // Not connected: nothing.
    s.connection_closed();
    s.stalled_tick(now + 10 * ka);
    assert!(s.out.is_empty());
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

/// Item 2 of the conformance gaps ([MQTT-4.8.0-1]), decided: only a client sends PINGREQ. At 3.1.1 a
/// broker's PINGREQ is answered with PINGRESP, as Paho answers it; at 5.0 it is the protocol error it
/// is, and the client's DISCONNECT says 0x82.
#[test]
fn a_pingreq_from_the_broker_is_answered_at_311_and_a_protocol_error_at_5() {
    let (mut s, now) = connected(SessionConfig::default());
    s.handle(Packet::PingReq, now).unwrap();
    assert_eq!(sent(&mut s), vec![Packet::PingResp]);
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    assert!(matches!(
        s.handle(Packet::PingReq, now),
        Err(Error::Protocol { .. })
    ));
    s.violation_disconnect(None);
    let out = sent_v5(&mut s);
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x82),
        "{out:?}"
    );
}

/// Item 11 (MQTT-3.8.4-6, MQTT-3.9.3-1 of 3.1.1; MQTT-3.9.3-1 of 5.0, server side): a SUBACK with
/// another number of codes than the SUBSCRIBE had filters is a protocol error, with no `Subscribed`
/// event, at both versions (at 5.0 the client's DISCONNECT says 0x82).
#[test]
fn a_suback_with_another_number_of_codes_than_filters_is_a_protocol_error() {
    for protocol in BOTH {
        for codes in [vec![0, 0, 0], vec![0]] {
            let (mut s, now) = connected_at(protocol, SessionConfig::default(), connect_packet());
            let mid = s
                .subscribe(
                    vec![
                        ("a".into(), SubscribeOptions::from(QoS::AtMostOnce)),
                        ("b".into(), SubscribeOptions::from(QoS::AtMostOnce)),
                    ],
                    None,
                )
                .unwrap();
            s.out.clear();
            let suback = Packet::SubAck(SubAck {
                pkid: mid,
                return_codes: codes.clone(),
                ..SubAck::default()
            });
            assert!(
                matches!(s.handle(suback, now), Err(Error::Protocol { .. })),
                "{protocol:?} {codes:?}"
            );
            assert!(
                s.events.is_empty(),
                "{protocol:?} {codes:?}: no on_subscribe"
            );
            s.violation_disconnect(None);
            let out = sent_any(&mut s);
            if protocol == Protocol::V5 {
                assert!(
                    matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x82),
                    "{out:?}"
                );
            }
        }
    }
}

/// Item 26: the client sends no Authentication Method, so a server may not send AUTH (the server's
/// side, MQTT-4.12.0-6): it is a protocol error, and the client's DISCONNECT says 0x82.
#[test]
fn a_server_auth_is_refused_with_disconnect_0x82() {
    let (mut s, now) = connected_v5(Properties::new(PacketTypes::CONNACK));
    let auth = Packet::Auth(crate::packet::Auth {
        reason: 0x18,
        properties: Properties::new(PacketTypes::AUTH),
    });
    assert!(matches!(s.handle(auth, now), Err(Error::Protocol { .. })));
    s.violation_disconnect(None);
    let out = sent_v5(&mut s);
    assert!(
        matches!(&out[..], [Packet::Disconnect(d)] if d.reason == 0x82),
        "{out:?}"
    );
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
