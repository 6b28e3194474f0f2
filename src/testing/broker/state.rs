//! The state of a [`TestBroker`](super::TestBroker) and the routing of messages through it: the sessions
//! kept for client ids (subscriptions, messages in flight and queued), the retained messages, the
//! connections and the packet log.
//!
//! Nothing here blocks or takes a lock: all of it sits behind the broker's one lock, which a reader thread
//! holds for each packet it handles and the handle's hooks for each call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::Sender;

use super::Direction;
use crate::packet::{packet_name, LastWill, Packet, PubRel, Publish, QoS};
use crate::topic::topic_matches_sub;

/// The broker's state, behind [`BrokerShared::state`](super::BrokerShared::state).
#[derive(Default)]
pub(super) struct BrokerState {
    pub(super) stopping: bool,
    pub(super) paused: bool,
    pub(super) auth: Option<(String, Vec<u8>)>,
    pub(super) next_conn: u64,
    pub(super) next_auto_id: u64,
    pub(super) wire: Wire,
    pub(super) sessions: HashMap<String, ClientSession>,
    pub(super) retained: BTreeMap<String, Retained>,
}

/// The connections and the packet log: what sending a packet touches, kept apart from the sessions so
/// that a session can send while it is borrowed.
#[derive(Default)]
pub(super) struct Wire {
    pub(super) conns: HashMap<u64, Conn>,
    pub(super) log: HashMap<String, Vec<(Direction, Packet)>>,
}

impl Wire {
    /// Logs `packet` under `client_id` and queues it for connection `conn`'s writer; does neither when the
    /// connection has ended.
    pub(super) fn send(&mut self, conn: u64, client_id: &str, packet: Packet) {
        let Some(out) = self.conns.get(&conn).and_then(|c| c.out.as_ref()) else {
            return;
        };
        // The writer is gone only after a write failed, which also ends the connection.
        let _ = out.send(packet.to_bytes());
        self.record(client_id, Direction::Sent, packet);
    }

    pub(super) fn record(&mut self, client_id: &str, direction: Direction, packet: Packet) {
        self.log
            .entry(client_id.to_owned())
            .or_default()
            .push((direction, packet));
    }
}

/// One client connection, from accept until its reader thread ends.
pub(super) struct Conn {
    /// A handle on the socket, to shut it down from another thread.
    pub(super) stream: TcpStream,
    /// The writer thread's queue; `None` once the MQTT side of the connection has ended.
    pub(super) out: Option<Sender<Vec<u8>>>,
    /// Set when CONNECT is accepted.
    pub(super) client_id: Option<String>,
    pub(super) will: Option<LastWill>,
}

pub(super) struct Retained {
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
}

/// An application message on its way to subscribers.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
    pub(super) retain: bool,
}

impl Msg {
    fn publish(&self, pkid: u16, dup: bool) -> Packet {
        Packet::Publish(Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.clone(),
            pkid,
            payload: self.payload.clone(),
            ..Publish::default()
        })
    }
}

impl From<LastWill> for Msg {
    fn from(w: LastWill) -> Msg {
        Msg {
            topic: w.topic,
            payload: w.payload,
            qos: w.qos,
            retain: w.retain,
        }
    }
}

impl From<Publish> for Msg {
    fn from(p: Publish) -> Msg {
        Msg {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
        }
    }
}

/// A message sent to a client and not yet completely acknowledged.
enum Inflight {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Publish(Msg),
    /// PUBREL sent; waiting for PUBCOMP.
    Released,
}

/// What the broker keeps for a client id: its MQTT session, clean or persistent, with or without a
/// connection.
pub(super) struct ClientSession {
    clean: bool,
    /// The connection that has this session now, if any.
    pub(super) conn: Option<u64>,
    pub(super) subs: Vec<(String, QoS)>,
    next_pkid: u16,
    /// Outgoing QoS 1/2 messages in flight, in the order they were sent.
    inflight: Vec<(u16, Inflight)>,
    /// QoS 1/2 messages waiting for the client to be connected (or for a free packet identifier).
    queued: VecDeque<Msg>,
    /// Incoming QoS 2 messages received and waiting for their PUBREL.
    pub(super) incoming: Vec<(u16, Msg)>,
}

impl ClientSession {
    pub(super) fn new(clean: bool) -> ClientSession {
        ClientSession {
            clean,
            conn: None,
            subs: Vec::new(),
            next_pkid: 1,
            inflight: Vec::new(),
            queued: VecDeque::new(),
            incoming: Vec::new(),
        }
    }

    /// The highest QoS granted to a subscription matching `topic`, if any matches.
    fn granted(&self, topic: &str) -> Option<QoS> {
        self.subs
            .iter()
            .filter(|(filter, _)| topic_matches_sub(filter, topic))
            .map(|(_, qos)| *qos)
            .max()
    }

    fn free_pkid(&mut self) -> Option<u16> {
        if self.inflight.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            let id = self.next_pkid.max(1);
            self.next_pkid = id.wrapping_add(1);
            if !self.inflight.iter().any(|(p, _)| *p == id) {
                return Some(id);
            }
        }
    }

    /// Sends `msg` to the client now, or queues it while the client is offline (QoS 0 is then dropped).
    pub(super) fn deliver(&mut self, wire: &mut Wire, client_id: &str, msg: Msg) {
        match self.conn {
            Some(conn) if msg.qos == QoS::AtMostOnce => {
                wire.send(conn, client_id, msg.publish(0, false))
            }
            None if msg.qos == QoS::AtMostOnce => {}
            _ => {
                self.queued.push_back(msg);
                self.flush(wire, client_id);
            }
        }
    }

    /// Sends queued messages while connected and packet identifiers are free.
    fn flush(&mut self, wire: &mut Wire, client_id: &str) {
        let Some(conn) = self.conn else {
            return;
        };
        while !self.queued.is_empty() {
            let Some(pkid) = self.free_pkid() else {
                return;
            };
            let Some(msg) = self.queued.pop_front() else {
                return;
            };
            wire.send(conn, client_id, msg.publish(pkid, false));
            self.inflight.push((pkid, Inflight::Publish(msg)));
        }
    }

    /// After a reconnect to this session: sends again what is in flight, then what is queued.
    pub(super) fn resume(&mut self, wire: &mut Wire, client_id: &str) {
        let Some(conn) = self.conn else {
            return;
        };
        for (pkid, inflight) in &self.inflight {
            let packet = match inflight {
                Inflight::Publish(msg) => msg.publish(*pkid, true),
                Inflight::Released => Packet::PubRel(PubRel::new(*pkid)),
            };
            wire.send(conn, client_id, packet);
        }
        self.flush(wire, client_id);
    }

    /// Handles PUBACK, PUBREC or PUBCOMP (`ack`: 4, 5 or 7) for an outgoing message.
    pub(super) fn acked(&mut self, wire: &mut Wire, client_id: &str, ack: u8, pkid: u16) {
        let Some(i) = self.inflight.iter().position(|(p, _)| *p == pkid) else {
            log::debug!(
                "TestBroker: {client_id:?} sent {} for unknown packet id {pkid}",
                packet_name(ack)
            );
            return;
        };
        match (ack, &self.inflight[i].1) {
            (4, Inflight::Publish(m)) if m.qos == QoS::AtLeastOnce => {
                self.inflight.remove(i);
            }
            (5, Inflight::Publish(m)) if m.qos == QoS::ExactlyOnce => {
                self.inflight[i].1 = Inflight::Released;
                if let Some(conn) = self.conn {
                    wire.send(conn, client_id, Packet::PubRel(PubRel::new(pkid)));
                }
            }
            // A PUBREC repeated after our PUBREL: repeat the PUBREL.
            (5, Inflight::Released) => {
                if let Some(conn) = self.conn {
                    wire.send(conn, client_id, Packet::PubRel(PubRel::new(pkid)));
                }
            }
            (7, Inflight::Released) => {
                self.inflight.remove(i);
            }
            _ => log::debug!(
                "TestBroker: {client_id:?} sent {} for packet id {pkid}, which is in another state",
                packet_name(ack)
            ),
        }
        self.flush(wire, client_id);
    }
}

/// How the MQTT side of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// DISCONNECT: no will.
    Clean,
    /// Anything else after CONNECT was accepted: the will is published.
    Unclean,
    /// The broker is stopping: no will.
    Stopped,
}

impl BrokerState {
    /// Sends a message published by a client (or a will) to every matching subscription, and updates the
    /// retained message of its topic when it is flagged `retain`.
    pub(super) fn route(&mut self, msg: Msg) {
        if msg.retain {
            if msg.payload.is_empty() {
                self.retained.remove(&msg.topic);
            } else {
                self.retained.insert(
                    msg.topic.clone(),
                    Retained {
                        payload: msg.payload.clone(),
                        qos: msg.qos,
                    },
                );
            }
        }
        for (client_id, session) in &mut self.sessions {
            if let Some(granted) = session.granted(&msg.topic) {
                let copy = Msg {
                    qos: msg.qos.min(granted),
                    retain: false,
                    ..msg.clone()
                };
                session.deliver(&mut self.wire, client_id, copy);
            }
        }
    }

    /// Ends the MQTT side of connection `conn` (once; later calls do nothing): detaches it from its
    /// session (a clean session ends with it) and publishes its will after an unclean end. The socket is
    /// left to the connection's reader thread.
    pub(super) fn close(&mut self, conn: u64, end: End, why: &str) {
        let Some(c) = self.wire.conns.get_mut(&conn) else {
            return;
        };
        if c.out.take().is_none() {
            return;
        }
        let will = c.will.take();
        let Some(client_id) = c.client_id.take() else {
            log::debug!("TestBroker: connection {conn} closed before CONNECT was accepted: {why}");
            return;
        };
        log::debug!("TestBroker: {client_id:?} disconnected: {why}");
        if let Some(session) = self.sessions.get_mut(&client_id) {
            if session.conn == Some(conn) {
                session.conn = None;
                if session.clean {
                    self.sessions.remove(&client_id);
                }
            }
        }
        if end == End::Unclean {
            if let Some(will) = will {
                self.route(will.into());
            }
        }
    }

    /// Cuts connection `conn` (the client reads an end of stream) and ends it uncleanly.
    pub(super) fn cut(&mut self, conn: u64, why: &str) {
        if let Some(c) = self.wire.conns.get(&conn) {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        self.close(conn, End::Unclean, why);
    }
}
