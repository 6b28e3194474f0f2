//! The byte bound on incoming QoS 2 messages awaiting PUBREL (`max_awaiting_pubrel_bytes`).

use super::*;
use crate::packet::{decode_v5, ConnAck, Disconnect, MAX_REMAINING_LENGTH};

fn connected(cfg: SessionConfig, protocol: Protocol) -> (Session, Instant) {
    let now = Instant::now();
    let mut s = Session::new(cfg, now);
    let connect = Connect {
        protocol,
        client_id: "c".into(),
        clean_session: true,
        keepalive: 60,
        ..Connect::default()
    };
    s.connection_opened(&connect, now);
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

fn qos2(mid: u16, len: usize) -> Packet {
    Packet::Publish(Publish {
        qos: QoS::ExactlyOnce,
        topic: "t".into(),
        pkid: mid,
        payload: vec![7; len],
        ..Publish::default()
    })
}

fn bounded(max: usize) -> SessionConfig {
    SessionConfig {
        max_awaiting_pubrel_bytes: max,
        ..SessionConfig::default()
    }
}

#[test]
fn qos2_messages_awaiting_pubrel_past_the_byte_bound_fail_the_connection_unacknowledged() {
    // Each message costs 1 + 300 bytes (topic and payload): three fit in 1,000, a fourth does not.
    let (mut s, now) = connected(bounded(1000), Protocol::V311);
    for mid in 1..=3 {
        s.handle(qos2(mid, 300), now).unwrap();
    }
    assert_eq!(s.awaiting_pubrel_bytes(), 903);
    s.out.clear();
    let e = s.handle(qos2(4, 300), now).unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("max_awaiting_pubrel_bytes"), "{e}");
    assert_eq!(s.awaiting_pubrel_bytes(), 903, "the fourth was kept");
    assert!(s.out.is_empty(), "the fourth was acknowledged");
    // A resend of one held is not new: it is answered, whatever the bound.
    s.handle(qos2(2, 300), now).unwrap();
    assert_eq!(s.awaiting_pubrel_bytes(), 903);
    // A PUBREL frees room for the next one.
    s.handle(Packet::PubRel(PubRel::new(1)), now).unwrap();
    assert_eq!(s.awaiting_pubrel_bytes(), 602);
    s.handle(qos2(4, 300), now).unwrap();
    assert_eq!(s.awaiting_pubrel_bytes(), 903);
}

#[test]
fn a_lone_message_larger_than_the_bound_is_taken() {
    let (mut s, now) = connected(bounded(10), Protocol::V311);
    s.handle(qos2(1, 5000), now).unwrap();
    assert_eq!(s.awaiting_pubrel_bytes(), 5001);
    assert!(s.handle(qos2(2, 1), now).is_err());
}

#[test]
fn on_mqtt5_the_bound_ends_the_connection_with_quota_exceeded() {
    let (mut s, now) = connected(bounded(100), Protocol::V5);
    s.handle(qos2(1, 80), now).unwrap();
    s.out.clear();
    assert!(s.handle(qos2(2, 80), now).is_err());
    s.violation_disconnect(None);
    let (p, _) = decode_v5(&s.out, MAX_REMAINING_LENGTH).unwrap().unwrap();
    match p {
        Packet::Disconnect(Disconnect { reason, .. }) => assert_eq!(reason, 0x97),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}

#[test]
fn the_default_bound_holds_64_mib() {
    // Without a bound, 65,535 ids of 4 KiB each held 268 MB (issue #18).
    let (mut s, now) = connected(SessionConfig::default(), Protocol::V311);
    let mut refused = None;
    for mid in 1..=u16::MAX {
        if s.handle(qos2(mid, 4095), now).is_err() {
            refused = Some(mid);
            break;
        }
        s.out.clear();
    }
    assert_eq!(
        refused,
        Some(16385),
        "64 MiB / 4 KiB messages, then refused"
    );
    assert!(s.awaiting_pubrel_bytes() <= MAX_AWAITING_PUBREL_BYTES);
}
