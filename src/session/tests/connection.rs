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
