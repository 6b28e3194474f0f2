//! The session driven without sockets or clocks: packets in, bytes and events out.

use super::*;
use crate::packet::{decode, ConnAck, Disconnect, MAX_REMAINING_LENGTH};
use crate::properties::Property;

mod auth;
mod connection;
mod incoming;
mod mqtt5;
mod outgoing;
mod reconnect;

fn t0() -> Instant {
    Instant::now()
}

fn connect_packet() -> Connect {
    Connect {
        protocol: Protocol::V311,
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

fn info(state: Arc<PublishState>) -> crate::completion::MessageInfo {
    crate::completion::MessageInfo {
        mid: 0,
        rc: ErrorCode::Success,
        state,
        signal: Arc::new(crate::completion::PublishSignal::default()),
    }
}

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

/// The protocol versions a test runs at when the code it checks serves both (MQTT 3.1.1 and 5).
const BOTH: [Protocol; 2] = [Protocol::V311, Protocol::V5];

/// `connect` at `protocol`.
fn at(protocol: Protocol, connect: Connect) -> Connect {
    Connect {
        protocol,
        ..connect
    }
}

/// Connected at `protocol` with `connect` (its protocol replaced) and a CONNACK with no session and
/// no properties; output and events cleared.
fn connected_at(protocol: Protocol, cfg: SessionConfig, connect: Connect) -> (Session, Instant) {
    connected_with(cfg, &at(protocol, connect))
}

/// Decodes everything in `s.out` in the session's protocol and clears it.
fn sent_any(s: &mut Session) -> Vec<Packet> {
    match s.protocol {
        Protocol::V5 => sent_v5(s),
        _ => sent(s),
    }
}

/// A successful CONNACK saying whether the session is present.
fn connack(session_present: bool) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present,
        ..ConnAck::default()
    })
}

/// Closes the connection, opens the next with `connect` and takes a successful CONNACK saying
/// `session_present`; the CONNECT and the `Connected` event are cleared, `after_connect` not yet run.
fn reconnect(s: &mut Session, connect: &Connect, session_present: bool, now: Instant) {
    s.connection_closed();
    s.connection_opened(connect, now);
    s.handle(connack(session_present), now).unwrap();
    s.out.clear();
    s.events.clear();
}

/// The PUBLISHes among `packets`, as (id, QoS, DUP), and whether anything else was there.
fn publishes(packets: &[Packet]) -> Vec<(u16, QoS, bool)> {
    packets
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => (p.pkid, p.qos, p.dup),
            other => panic!("not a PUBLISH: {other:?}"),
        })
        .collect()
}
