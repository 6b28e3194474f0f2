//! The state of a [`TestBroker`](super::TestBroker) and the routing of messages through it: the sessions
//! kept for client ids (subscriptions, messages in flight and queued), the retained messages, the
//! connections and the packet log.
//!
//! Nothing here blocks or takes a lock: all of it sits behind the broker's one lock, which a reader thread
//! holds for each packet it handles and the handle's hooks for each call.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

use super::{Direction, Limits};
use crate::packet::{packet_name, Disconnect, LastWill, Packet, Protocol, PubRel, Publish, QoS};
use crate::properties::{PacketTypes, Properties, Property};
use crate::topic::matches_literally;
use crate::types::SubscribeOptions;

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
    /// The MQTT 5 limits the broker announces and enforces.
    pub(super) limits: Limits,
    /// Round-robin counters of the shared subscriptions, by `(group, filter)`.
    pub(super) shared_next: HashMap<(String, String), usize>,
    /// MQTT 5 wills waiting for their Will Delay Interval: `(client id, when, will)`.
    pub(super) delayed_wills: Vec<(String, Instant, Msg)>,
    /// Wakes the timer thread (which waits on it with this state's lock) when a deadline is added or the
    /// broker stops; nothing else wakes it, so packets cost it nothing.
    pub(super) timer_wake: Arc<Condvar>,
}

/// The connections and the packet log: what sending a packet touches, kept apart from the sessions so
/// that a session can send while it is borrowed.
#[derive(Default)]
pub(super) struct Wire {
    pub(super) conns: HashMap<u64, Conn>,
    pub(super) log: PacketLog,
    /// The most bytes held for one client: waiting for its writer, and (QoS 1/2) in its session's
    /// queue (`TestBrokerBuilder::max_queued_bytes`).
    pub(super) max_queued_bytes: usize,
    /// Messages not delivered because a client's queue was full.
    pub(super) dropped: u64,
}

/// The packet log: by client id, the packets each sent and was sent, the oldest forgotten beyond a
/// limit on all of them together.
#[derive(Default)]
pub(super) struct PacketLog {
    /// By client id: its packets, of which the first `.1` are forgotten (removed in batches, so that
    /// forgetting one costs nothing and the rest stays one slice).
    by_client: HashMap<String, (Vec<(Direction, Packet)>, usize)>,
    /// The client id of every packet kept, oldest first.
    order: VecDeque<String>,
    /// The most packets kept (`TestBrokerBuilder::packet_log_limit`).
    pub(super) limit: usize,
}

impl PacketLog {
    /// The packets kept for `client_id`, oldest first.
    pub(super) fn get(&self, client_id: &str) -> &[(Direction, Packet)] {
        self.by_client
            .get(client_id)
            .map_or(&[][..], |(log, start)| &log[*start..])
    }

    pub(super) fn push(&mut self, client_id: &str, direction: Direction, packet: Packet) {
        if self.limit == 0 {
            return;
        }
        if self.order.len() >= self.limit {
            self.forget_oldest();
        }
        let (log, _) = self.by_client.entry(client_id.to_owned()).or_default();
        log.push((direction, packet));
        self.order.push_back(client_id.to_owned());
    }

    fn forget_oldest(&mut self) {
        let Some(id) = self.order.pop_front() else {
            return;
        };
        let Some((log, start)) = self.by_client.get_mut(&id) else {
            return;
        };
        *start += 1;
        if *start == log.len() {
            self.by_client.remove(&id);
        } else if *start >= 1024 && *start * 2 >= log.len() {
            log.drain(..*start);
            *start = 0;
        }
    }

    pub(super) fn clear(&mut self) {
        self.by_client.clear();
        self.order.clear();
    }
}

impl Wire {
    /// Logs `packet` under `client_id` and queues it for connection `conn`'s writer; does neither when the
    /// connection has ended.
    pub(super) fn send(&mut self, conn: u64, client_id: &str, packet: Packet) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(out) = c.out.as_ref() else {
            return;
        };
        let mut packet = packet;
        if let (Packet::Publish(p), Some((max, aliases))) = (&mut packet, &mut c.aliases_out) {
            // The topic's alias once it has one; a new alias while there are free ones.
            if let Some(alias) = aliases.get(&p.topic) {
                p.properties.insert(Property::TopicAlias(*alias));
                p.topic.clear();
            } else if aliases.len() < usize::from(*max) {
                let alias = aliases.len() as u16 + 1;
                aliases.insert(p.topic.clone(), alias);
                p.properties.insert(Property::TopicAlias(alias));
            }
        }
        let mut bytes = Vec::new();
        packet.encode_as(&mut bytes, c.protocol);
        c.backlog.fetch_add(bytes.len(), Ordering::SeqCst);
        // The writer is gone only after a write failed, which also ends the connection.
        let _ = out.send(bytes);
        self.record(client_id, Direction::Sent, packet);
    }

    /// Whether connection `conn` has more than `max_queued_bytes` waiting for its writer (a client that
    /// does not read): no more messages go to it until that drains.
    pub(super) fn backed_up(&self, conn: u64) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.backlog.load(Ordering::SeqCst) > self.max_queued_bytes)
    }

    /// Whether `packet` is larger than the Maximum Packet Size the client of connection `conn` set (MQTT 5:
    /// the broker then discards the message, section 3.1.2.11.4).
    fn too_big(&self, conn: u64, packet: &Packet) -> bool {
        let Some(max) = self.conns.get(&conn).and_then(|c| c.max_packet) else {
            return false;
        };
        let mut bytes = Vec::new();
        packet.encode_v5(&mut bytes);
        bytes.len() > max as usize
    }

    /// Whether connection `conn` speaks MQTT 5.
    pub(super) fn v5(&self, conn: u64) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.protocol == Protocol::V5)
    }

    pub(super) fn record(&mut self, client_id: &str, direction: Direction, packet: Packet) {
        self.log.push(client_id, direction, packet);
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
    /// The protocol of the CONNECT (3.1.1 until one is accepted); what the broker sends is encoded in it.
    pub(super) protocol: Protocol,
    /// MQTT 5: the client's Maximum Packet Size, from its CONNECT.
    pub(super) max_packet: Option<u32>,
    /// MQTT 5, when the broker sends topic aliases: the client's Topic Alias Maximum and the aliases
    /// given so far, by topic.
    pub(super) aliases_out: Option<(u16, HashMap<String, u16>)>,
    /// Bytes handed to the writer and not yet written (the writer counts them down).
    pub(super) backlog: Arc<AtomicUsize>,
}

pub(super) struct Retained {
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
    /// MQTT 5: the message's properties (without Message Expiry Interval, which `expires_at` keeps).
    pub(super) properties: Properties,
    pub(super) expires_at: Option<Instant>,
}

/// An application message on its way to subscribers.
#[derive(Debug, Clone)]
pub(super) struct Msg {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) qos: QoS,
    pub(super) retain: bool,
    /// MQTT 5: the properties passed on (user properties, content type, ...), without Topic Alias,
    /// Subscription Identifier and Message Expiry Interval.
    pub(super) properties: Properties,
    /// MQTT 5: when the message expires (from its Message Expiry Interval).
    pub(super) expires_at: Option<Instant>,
    /// MQTT 5: the subscription identifiers of the subscriptions it is delivered for.
    pub(super) sub_ids: Vec<u32>,
}

impl Msg {
    /// A message with these properties; takes its expiry from their Message Expiry Interval, and drops
    /// what is not passed on.
    pub(super) fn new(
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        mut properties: Properties,
    ) -> Msg {
        let expires_at = properties
            .message_expiry_interval()
            .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
        let mut props = Properties::new(PacketTypes::PUBLISH);
        for p in properties.iter() {
            if !matches!(
                p,
                Property::TopicAlias(_)
                    | Property::SubscriptionIdentifier(_)
                    | Property::MessageExpiryInterval(_)
                    | Property::WillDelayInterval(_)
            ) {
                props.insert(p.clone());
            }
        }
        properties.clear();
        Msg {
            topic,
            payload,
            qos,
            retain,
            properties: props,
            expires_at,
            sub_ids: Vec::new(),
        }
    }

    /// Whether the message expired by `now`.
    pub(super) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The PUBLISH of this message; with its properties (and the time left to live) on MQTT 5.
    fn publish(&self, pkid: u16, dup: bool, v5: bool) -> Packet {
        let mut properties = Properties::new(PacketTypes::PUBLISH);
        if v5 {
            properties = self.properties.clone();
            if let Some(at) = self.expires_at {
                let left = at.saturating_duration_since(Instant::now());
                let secs = u32::try_from(left.as_secs()).unwrap_or(u32::MAX);
                properties.insert(Property::MessageExpiryInterval(secs));
            }
            for id in &self.sub_ids {
                properties.insert(Property::SubscriptionIdentifier(*id));
            }
        }
        Packet::Publish(Publish {
            dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.clone(),
            pkid,
            payload: self.payload.clone(),
            properties,
        })
    }
}

impl From<LastWill> for Msg {
    fn from(w: LastWill) -> Msg {
        Msg::new(w.topic, w.payload, w.qos, w.retain, w.properties)
    }
}

impl From<Publish> for Msg {
    fn from(p: Publish) -> Msg {
        Msg::new(p.topic, p.payload, p.qos, p.retain, p.properties)
    }
}

/// One subscription of a session.
#[derive(Debug, Clone)]
pub(super) struct Sub {
    /// The filter as subscribed, `$share/group/` included.
    pub(super) filter: String,
    pub(super) options: SubscribeOptions,
    /// MQTT 5: the Subscription Identifier of the SUBSCRIBE.
    pub(super) id: Option<u32>,
    /// Whether a `$share/group/filter` is a shared subscription (MQTT 5 only).
    pub(super) share: bool,
}

impl Sub {
    /// The share group and the filter proper of a `$share/group/filter` subscription.
    pub(super) fn shared(&self) -> Option<(&str, &str)> {
        split_shared(&self.filter).filter(|_| self.share)
    }

    /// The filter topics are matched against (without `$share/group/`).
    fn topic_filter(&self) -> &str {
        self.shared().map_or(&self.filter, |(_, f)| f)
    }
}

/// The group and filter of `$share/group/filter`; `None` for another filter.
pub(super) fn split_shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix("$share/")?;
    rest.split_once('/')
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
    /// Whether the session ends with its connection.
    pub(super) clean: bool,
    /// MQTT 5: how long a session that is not `clean` outlives its connection (`None`: for ever, as
    /// 3.1.1's persistent sessions do).
    pub(super) expiry: Option<Duration>,
    /// MQTT 5: when the session, offline, expires.
    pub(super) expires_at: Option<Instant>,
    /// The client's Receive Maximum: how many QoS 1/2 messages may be in flight to it.
    pub(super) receive_max: u16,
    /// The connection that has this session now, if any.
    pub(super) conn: Option<u64>,
    pub(super) subs: Vec<Sub>,
    next_pkid: u16,
    /// Outgoing QoS 1/2 messages in flight, in the order they were sent.
    inflight: Vec<(u16, Inflight)>,
    /// QoS 1/2 messages waiting for the client to be connected (or for a free packet identifier, or for
    /// its connection's backlog to drain).
    queued: VecDeque<Msg>,
    /// The bytes of `queued` (topics and payloads).
    pub(super) queued_bytes: usize,
    /// Incoming QoS 2 messages received and waiting for their PUBREL.
    pub(super) incoming: Vec<(u16, Msg)>,
}

impl ClientSession {
    pub(super) fn new(clean: bool) -> ClientSession {
        ClientSession {
            clean,
            expiry: None,
            expires_at: None,
            receive_max: u16::MAX,
            conn: None,
            subs: Vec::new(),
            next_pkid: 1,
            inflight: Vec::new(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            incoming: Vec::new(),
        }
    }

    /// What the non-shared subscriptions matching `topic` ask for, if any matches (and is not a No Local
    /// one, `own` saying the message is the client's own): the highest QoS granted, whether any keeps the
    /// retain flag, and their subscription identifiers.
    fn granted(&self, topic: &str, own: bool) -> Option<(QoS, bool, Vec<u32>)> {
        let mut found: Option<(QoS, bool, Vec<u32>)> = None;
        for sub in &self.subs {
            if sub.shared().is_some()
                || (own && sub.options.no_local)
                || !matches_literally(&sub.filter, topic)
            {
                continue;
            }
            let f = found.get_or_insert((sub.options.qos, false, Vec::new()));
            f.0 = f.0.max(sub.options.qos);
            f.1 |= sub.options.retain_as_published;
            f.2.extend(sub.id);
        }
        found
    }

    fn free_pkid(&mut self) -> Option<u16> {
        if self.inflight.len() >= usize::from(self.receive_max.max(1)) {
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
                if wire.backed_up(conn) {
                    // A client that does not read: QoS 0 is dropped beyond the bound.
                    wire.dropped += 1;
                    log::debug!(
                        "TestBroker: {client_id:?} is not reading: a QoS 0 message dropped"
                    );
                } else if !msg.expired(Instant::now()) {
                    let v5 = wire.v5(conn);
                    let packet = msg.publish(0, false, v5);
                    if v5 && wire.too_big(conn, &packet) {
                        log::debug!("TestBroker: a message too large for {client_id:?} discarded");
                    } else {
                        wire.send(conn, client_id, packet)
                    }
                }
            }
            None if msg.qos == QoS::AtMostOnce => {}
            _ => {
                let cost = msg.topic.len() + msg.payload.len();
                if !self.queued.is_empty() && self.queued_bytes + cost > wire.max_queued_bytes {
                    // The queue is full (an offline client, or one that does not read): dropped, as
                    // mosquitto drops what is beyond its max_queued_messages / max_queued_bytes.
                    wire.dropped += 1;
                    log::debug!(
                        "TestBroker: the queue of {client_id:?} is full: a message dropped"
                    );
                    return;
                }
                self.queued_bytes += cost;
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
        let v5 = wire.v5(conn);
        let now = Instant::now();
        let before = self.queued.len();
        self.queued.retain(|m| !m.expired(now));
        if self.queued.len() != before {
            self.queued_bytes = self
                .queued
                .iter()
                .map(|m| m.topic.len() + m.payload.len())
                .sum();
        }
        while !self.queued.is_empty() {
            if wire.backed_up(conn) {
                // Sent once the client reads again (at its next acknowledgement or message).
                return;
            }
            let Some(pkid) = self.free_pkid() else {
                return;
            };
            let Some(msg) = self.queued.pop_front() else {
                return;
            };
            self.queued_bytes -= msg.topic.len() + msg.payload.len();
            let packet = msg.publish(pkid, false, v5);
            if v5 && wire.too_big(conn, &packet) {
                log::debug!("TestBroker: a message too large for {client_id:?} discarded");
                continue;
            }
            wire.send(conn, client_id, packet);
            self.inflight.push((pkid, Inflight::Publish(msg)));
        }
    }

    /// After a reconnect to this session: sends again what is in flight, then what is queued.
    pub(super) fn resume(&mut self, wire: &mut Wire, client_id: &str) {
        let Some(conn) = self.conn else {
            return;
        };
        let v5 = wire.v5(conn);
        for (pkid, inflight) in &self.inflight {
            let packet = match inflight {
                Inflight::Publish(msg) => msg.publish(*pkid, true, v5),
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
    ///
    /// `from` is the client id of the publisher (`None` for a will), for No Local subscriptions. Returns
    /// how many sessions the message went to.
    pub(super) fn route(&mut self, msg: Msg, from: Option<&str>) -> usize {
        if msg.retain {
            if msg.payload.is_empty() {
                self.retained.remove(&msg.topic);
            } else {
                if msg.expires_at.is_some() {
                    self.timer_wake.notify_all();
                }
                self.retained.insert(
                    msg.topic.clone(),
                    Retained {
                        payload: msg.payload.clone(),
                        qos: msg.qos,
                        properties: msg.properties.clone(),
                        expires_at: msg.expires_at,
                    },
                );
            }
        }
        let mut delivered = 0;
        for (client_id, session) in &mut self.sessions {
            let own = from == Some(client_id.as_str());
            if let Some((granted, keep_retain, sub_ids)) = session.granted(&msg.topic, own) {
                let copy = Msg {
                    qos: msg.qos.min(granted),
                    retain: msg.retain && keep_retain,
                    sub_ids,
                    ..msg.clone()
                };
                session.deliver(&mut self.wire, client_id, copy);
                delivered += 1;
            }
        }
        // Shared subscriptions: each group gets the message once, its members in turn (those connected
        // when any is).
        let mut groups: BTreeMap<(String, String), Vec<(String, bool)>> = BTreeMap::new();
        for (client_id, session) in &self.sessions {
            for sub in &session.subs {
                if let Some((group, filter)) = sub.shared() {
                    if matches_literally(filter, &msg.topic) {
                        let members = groups
                            .entry((group.to_owned(), filter.to_owned()))
                            .or_default();
                        if !members.iter().any(|(id, _)| id == client_id) {
                            members.push((client_id.clone(), session.conn.is_some()));
                        }
                    }
                }
            }
        }
        for (key, mut members) in groups {
            if members.iter().any(|(_, online)| *online) {
                members.retain(|(_, online)| *online);
            }
            members.sort();
            let next = self.shared_next.entry(key.clone()).or_default();
            let (client_id, _) = &members[*next % members.len()];
            *next = next.wrapping_add(1);
            let Some(session) = self.sessions.get_mut(client_id) else {
                continue;
            };
            let shared_filter = format!("$share/{}/{}", key.0, key.1);
            let Some(sub) = session.subs.iter().find(|s| s.filter == shared_filter) else {
                continue;
            };
            let copy = Msg {
                qos: msg.qos.min(sub.options.qos),
                retain: msg.retain && sub.options.retain_as_published,
                sub_ids: sub.id.into_iter().collect(),
                ..msg.clone()
            };
            session.deliver(&mut self.wire, client_id, copy);
            delivered += 1;
        }
        delivered
    }

    /// Whether a message on `topic` from `from` would reach any subscription.
    pub(super) fn has_subscribers(&self, topic: &str, from: &str) -> bool {
        self.sessions.iter().any(|(id, s)| {
            s.subs.iter().any(|sub| {
                !(sub.options.no_local && sub.shared().is_none() && id == from)
                    && matches_literally(sub.topic_filter(), topic)
            })
        })
    }

    /// Ends what is due by `now`: sessions whose expiry passed, wills whose delay passed, expired retained
    /// messages. Returns whether anything ended, and when the next of these is due.
    pub(super) fn tick(&mut self, now: Instant) -> (bool, Option<Instant>) {
        let before = (self.sessions.len(), self.retained.len());
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.conn.is_none() && s.expires_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            log::debug!("TestBroker: the session of {id:?} expired");
            self.sessions.remove(&id);
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed_wills)
            .into_iter()
            .partition(|(_, at, _)| *at <= now);
        self.delayed_wills = later;
        let changed = !due.is_empty();
        for (id, _, will) in due {
            log::debug!("TestBroker: publishing the delayed will of {id:?}");
            self.route(will, None);
        }
        self.retained
            .retain(|_, r| r.expires_at.is_none_or(|at| at > now));
        let sessions = self.sessions.values().filter_map(|s| s.expires_at);
        let wills = self.delayed_wills.iter().map(|(_, at, _)| *at);
        let retained = self.retained.values().filter_map(|r| r.expires_at);
        let next = sessions.chain(wills).chain(retained).min();
        let changed = changed || before != (self.sessions.len(), self.retained.len());
        (changed, next)
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
        let mut will_delay = None;
        if let Some(session) = self.sessions.get_mut(&client_id) {
            if session.conn == Some(conn) {
                session.conn = None;
                if session.clean {
                    self.sessions.remove(&client_id);
                } else if let Some(expiry) = session.expiry {
                    session.expires_at = Some(Instant::now() + expiry);
                    self.timer_wake.notify_all();
                    will_delay = Some(expiry);
                } else {
                    will_delay = Some(Duration::MAX);
                }
            }
        }
        if end == End::Unclean {
            if let Some(will) = will {
                let delay = will
                    .properties
                    .will_delay_interval()
                    .map_or(Duration::ZERO, |s| Duration::from_secs(u64::from(s)))
                    .min(will_delay.unwrap_or(Duration::ZERO));
                if delay.is_zero() {
                    self.route(will.into(), None);
                } else {
                    let at = Instant::now() + delay;
                    self.delayed_wills.push((client_id, at, will.into()));
                    self.timer_wake.notify_all();
                }
            }
        }
    }

    /// Ends connection `conn` of `client_id` as the broker does: with a DISCONNECT carrying `reason` and
    /// `properties` on MQTT 5 (then the connection's end of stream), by cutting it on 3.1.1, which has no
    /// such packet. The will is published either way.
    pub(super) fn disconnect(
        &mut self,
        conn: u64,
        client_id: &str,
        reason: u8,
        properties: Properties,
        why: &str,
    ) {
        if !self.wire.v5(conn) {
            self.cut(conn, why);
            return;
        }
        let disconnect = Disconnect { reason, properties };
        self.wire
            .send(conn, client_id, Packet::Disconnect(disconnect));
        self.close(conn, End::Unclean, why);
        // The reader sees an end of stream; the writer sends the DISCONNECT, then ends.
        if let Some(c) = self.wire.conns.get(&conn) {
            let _ = c.stream.shutdown(Shutdown::Read);
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
