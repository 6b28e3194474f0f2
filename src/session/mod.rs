//! The MQTT session state machine.
//!
//! Design:
//! - No sockets, no clocks. Inputs are "the user asked for X" (`publish`, `subscribe`, ...), "this packet
//!   arrived" (`handle`), "a connection opened/closed", and "it is now T" (`tick`). Outputs are bytes to
//!   write (`out`, taken by the loop in one piece so that everything pending goes out in one write) and
//!   events for the callbacks (`events`).
//! - One message-id space (1..=65535, wrapping to 1) for PUBLISH, SUBSCRIBE and UNSUBSCRIBE, tracked in a
//!   bitmap so an id still in use is never handed out twice.
//! - Outgoing QoS 1/2 messages live in `inflight` (sent, awaiting an ack; at most `max_inflight`) and
//!   `queued` (waiting for a slot). Together they hold at most `max_queued` messages. Each message
//!   remembers the connection *generation* it was last sent on; after a reconnect everything sent on an
//!   earlier generation is sent again. With the session present: PUBLISH with DUP set, or PUBREL for
//!   QoS 2 awaiting PUBCOMP. Without it (a clean session, or a server that lost it) every message
//!   starts over from its PUBLISH, since a PUBREL for an id the new session never saw would complete
//!   a message nobody received: on MQTT 3.1.1 with DUP set, as Paho sends them; on MQTT 5 as new
//!   messages (DUP 0, [MQTT-3.2.2-5]) back through the queue, within the new connection's Receive
//!   Maximum. That is why a QoS 2 message keeps its payload until PUBCOMP.
//! - Subscriptions are remembered with the generation they were last sent on, which is how automatic
//!   resubscribe knows what the user's `on_connect` already restored: after a CONNACK without a session,
//!   only filters last sent on an earlier connection are subscribed again.
//! - Keepalive follows Paho 2.2: when `keepalive` passes without a packet sent or received, send PINGREQ
//!   (and count both directions as fresh); if it passes again with the PINGREQ unanswered, or a CONNACK
//!   never came, the connection is dead.
//! - No allocation per published message beyond the payload the caller hands over (docs/performance.md):
//!   a QoS 0 message is encoded straight into `out`, and the QoS 0 messages in one `out` buffer share one
//!   completion flag (they are written, or lost, together); a QoS 1/2 message shares its topic with the
//!   message before it when the topic is the same, and takes a completion flag whose `MessageInfo` is
//!   gone from the ones kept back for reuse.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::completion::PublishState;
use crate::error::{Error, ErrorCode, Result};
use crate::message::Message;
use crate::packet::{
    self, Connect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, QoS, SubAck, Subscribe,
    Unsubscribe,
};
use crate::properties::{PacketTypes, Properties, Property};
use crate::reason::ReasonCode;
use crate::types::{Protocol, SubscribeOptions};

mod aliases;
mod awaiting;
mod ids;
mod limits;
mod logline;
mod out_aliases;
mod persist;

use aliases::TopicAliases;
use awaiting::AwaitingPubrel;
pub(crate) use ids::mids_from;
use ids::{mid_after, MidSet};
use limits::ServerLimits;
use limits::{packet_len, OwnLimits};
pub(crate) use limits::{MAX_PACKET, MIN_PACKET};
use out_aliases::{AliasUse, OutgoingAliases};

/// Settings the session follows. Given to [`Session::new`] and changed through its setters; they apply
/// from the next packet on.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    /// Most QoS 1/2 messages awaiting acknowledgement at once; 0 = unlimited.
    pub max_inflight: usize,
    /// Most QoS 1/2 messages held (inflight + queued); 0 = unlimited.
    pub max_queued: usize,
    /// Whether PUBACK/PUBCOMP for incoming messages wait for `ack()`.
    pub manual_ack: bool,
    /// Whether subscriptions the broker lost are restored after a reconnect.
    pub resubscribe: bool,
    /// The largest packet this client takes, fixed header included (on MQTT 5 also sent as its
    /// Maximum Packet Size); [`MAX_PACKET`], the protocol's limit, by default.
    pub max_packet_size: u32,
    /// MQTT 5: how many topics this client gives an alias of its own (capped by the server's Topic
    /// Alias Maximum); 0, the default, for none.
    pub auto_topic_aliases: u16,
    /// The most bytes (topics and payloads) held in incoming QoS 2 messages awaiting PUBREL; a new one
    /// that would go past it fails the connection (see `handle_publish`). At least one message is
    /// always taken.
    pub max_awaiting_pubrel_bytes: usize,
}

/// The default of [`SessionConfig::max_awaiting_pubrel_bytes`]: 64 MiB.
pub(crate) const MAX_AWAITING_PUBREL_BYTES: usize = 64 * 1024 * 1024;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_inflight: 20,
            max_queued: 0,
            manual_ack: false,
            resubscribe: true,
            max_packet_size: MAX_PACKET,
            auto_topic_aliases: 0,
            max_awaiting_pubrel_bytes: MAX_AWAITING_PUBREL_BYTES,
        }
    }
}

/// Something for the callbacks, produced by the session.
#[derive(Debug)]
pub(crate) enum Event {
    /// CONNACK accepted, with its properties (MQTT 5; empty on 3.1.1).
    Connected {
        session_present: bool,
        props: Properties,
    },
    /// CONNACK refused: the reason code (a 3.1.1 return code mapped as Paho maps it) and properties.
    ConnectRefused {
        reason: ReasonCode,
        props: Properties,
    },
    /// Outgoing messages completed (QoS 0 written, PUBACK, PUBCOMP): `count` of them, with the ids
    /// from `first` on, one after the other as they are handed out ([`mids_from`]). Consecutive
    /// completions (a batch of QoS 0 messages written together, PUBACKs in order) share one event.
    Published { first: u16, count: u16 },
    /// One outgoing message completed with what its acknowledgement said (MQTT 5: a reason code other
    /// than Success, properties, or a failure that ended its flow).
    PublishedWith {
        mid: u16,
        reason: ReasonCode,
        props: Properties,
    },
    /// SUBACK for a subscribe the user made.
    Subscribed {
        mid: u16,
        codes: Vec<ReasonCode>,
        props: Properties,
    },
    /// UNSUBACK for an unsubscribe the user made (no codes on 3.1.1).
    Unsubscribed {
        mid: u16,
        codes: Vec<ReasonCode>,
        props: Properties,
    },
    /// The server sent DISCONNECT (MQTT 5): the connection ends with this reason and properties.
    ServerDisconnect {
        reason: ReasonCode,
        props: Properties,
    },
    /// An incoming message to deliver; `generation` identifies the connection it arrived on, so that its
    /// PUBACK/PUBCOMP is only sent on that same connection.
    Message { msg: Message, generation: u64 },
    /// MQTT 5 enhanced authentication: a step for the user's `on_auth`. `reason` is Continue
    /// authentication (0x18: a server challenge, answered with [`Session::auth_continue`]) or Success
    /// (0x00: the CONNACK that ends the CONNECT's exchange, or the AUTH that ends a re-authentication);
    /// `props` are that packet's (its Authentication Data among them).
    Auth {
        reason: ReasonCode,
        props: Properties,
    },
    /// A debug line for `on_log` (only produced while tracing is on).
    Log(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What an outgoing QoS 1/2 message waits for.
enum OutState {
    Puback,
    Pubrec,
    Pubcomp,
}

#[derive(Debug)]
struct OutMsg {
    /// Its key in the store (0: not stored): a sequence number never reused, unlike `mid`.
    seq: u64,
    mid: u16,
    qos: QoS,
    retain: bool,
    /// Shared with the other messages to the same topic published one after the other.
    topic: Arc<str>,
    payload: Vec<u8>,
    state: OutState,
    /// Connection generation this message was last sent on (0: never sent).
    sent_gen: u64,
    info: Arc<PublishState>,
    /// MQTT 5 properties, boxed so that a message without any (every 3.1.1 one) costs a pointer.
    props: Option<Box<Properties>>,
}

#[derive(Debug)]
enum Request {
    Subscribe {
        filters: Vec<String>,
        internal: bool,
    },
    Unsubscribe,
}

#[derive(Debug)]
struct Subscription {
    filter: String,
    options: SubscribeOptions,
    sent_gen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// No connection.
    Closed,
    /// Connection open, CONNECT sent, CONNACK not yet received.
    Connecting,
    /// CONNACK accepted.
    Connected,
}

// The buffer and pool sizes keep one line of why each; docs/performance.md ("The tuning constants")
// has the measurements behind the values.

/// Capacity reserved up front for `out` and the loop's buffer it trades places with: address space
/// past glibc's mmap threshold, resident only as writes reach it.
pub(crate) const OUT_RESERVE: usize = 256 * 1024;
/// Completion flags kept back for reuse: a burst of this many QoS 1/2 publishes allocates none.
const SPARE_STATES: usize = 1024;
/// Payload buffers kept for reuse by the next incoming PUBLISH or QoS 1/2 `publish`, at most this many
/// and [`SPARE_PAYLOAD_BYTES`] in all.
const SPARE_PAYLOADS: usize = 64;
/// The payload buffers kept for reuse hold at most this much.
const SPARE_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// How many PUBLISH packets a broker may send before its CONNACK; they are held and handled after it.
/// aedes does this when it resumes a session while messages flow (it subscribes the session before it
/// writes CONNACK); Paho handles them as they come. Beyond this many the connection is refused as a
/// protocol error, as any other packet before CONNACK is.
const EARLY_PUBLISH_LIMIT: usize = 1024;

/// The protocol state of one client, across connections.
#[derive(Debug)]
pub(crate) struct Session {
    cfg: SessionConfig,
    /// The protocol of the current (or last) connection, from its CONNECT.
    protocol: Protocol,
    /// What the server's CONNACK allows (MQTT 5; everything on 3.1.1 and before the CONNACK).
    limits: ServerLimits,
    /// What this client's CONNECT asked of the server (MQTT 5).
    own: OwnLimits,
    /// The server's topic aliases on the current connection (MQTT 5).
    aliases: TopicAliases,
    /// The aliases this client set on the connection (automatic aliases only).
    out_aliases: OutgoingAliases,
    /// Incoming QoS 1/2 messages not yet acknowledged, held against this client's Receive Maximum.
    unacked_in: usize,
    /// The MQTT 5 reason code of the last protocol violation `handle` found (for the DISCONNECT the
    /// engine sends before closing).
    violation: Option<u8>,
    /// The current connection's CONNECT asked for a clean session (Clean Start on MQTT 5).
    clean_start: bool,
    /// The keepalive of the current connection's CONNECT; zero disables PINGREQ and the checks.
    keepalive: Duration,
    last_mid: u16,
    mids: MidSet,
    inflight: VecDeque<OutMsg>,
    queued: VecDeque<OutMsg>,
    requests: HashMap<u16, Request>,
    /// Incoming QoS 2 messages: PUBREC sent, waiting for PUBREL (delivered then, as Paho does).
    incoming_qos2: AwaitingPubrel,
    subs: Vec<Subscription>,
    conn: ConnState,
    generation: u64,
    disconnecting: bool,
    connect_sent: Instant,
    last_out: Instant,
    last_in: Instant,
    ping_outstanding: bool,
    /// PUBLISH packets the broker sent before its CONNACK, handled once it accepts the connection (see
    /// [`EARLY_PUBLISH_LIMIT`]).
    early: Vec<Publish>,
    /// Bytes to write, in order.
    out: Vec<u8>,
    /// QoS 0 messages in `out`, completed once `out` is written. They all share one `PublishState`: the
    /// loop writes `out` whole (or loses it whole with the connection), so they complete together.
    qos0_pending: Vec<(u16, Arc<PublishState>)>,
    events: Vec<Event>,
    /// The topic of the last QoS 1/2 message, shared by the next ones to the same topic.
    last_topic: Option<Arc<str>>,
    /// Completion flags of acknowledged QoS 1/2 messages nobody held any more, for new messages.
    spare_states: Vec<Arc<PublishState>>,
    /// See [`SPARE_PAYLOADS`]; `spare_payload_bytes` is their capacity in all.
    spare_payloads: Vec<Vec<u8>>,
    spare_payload_bytes: usize,
    /// Produce `Event::Log` lines for every packet (costs a format per packet; off unless someone listens).
    trace: bool,
    /// MQTT 5: the Authentication Method of the current connection's CONNECT (enhanced
    /// authentication); every AUTH and the successful CONNACK must carry the same ([MQTT-4.12.0-5]).
    auth_method: Option<String>,
    /// A re-authentication (AUTH 0x19) is under way: the server answers with AUTH 0x18 or 0x00.
    reauthenticating: bool,
    /// SUBSCRIBE and UNSUBSCRIBE made while an enhanced authentication runs before the CONNACK: only
    /// AUTH and DISCONNECT may go out then ([MQTT-3.1.2-30]); these follow once the CONNACK is in.
    held: Vec<u8>,
    /// The records for a store, when the client has one (`enable_persistence`); `None` costs nothing.
    persist: Option<Box<persist::Persist>>,
}

impl Session {
    pub(crate) fn new(cfg: SessionConfig, now: Instant) -> Session {
        Session {
            cfg,
            protocol: Protocol::V311,
            limits: ServerLimits::default(),
            own: OwnLimits::default(),
            aliases: TopicAliases::default(),
            out_aliases: OutgoingAliases::default(),
            unacked_in: 0,
            violation: None,
            clean_start: true,
            keepalive: Duration::ZERO,
            last_mid: 0,
            mids: MidSet::new(),
            inflight: VecDeque::new(),
            queued: VecDeque::new(),
            requests: HashMap::new(),
            incoming_qos2: AwaitingPubrel::default(),
            subs: Vec::new(),
            conn: ConnState::Closed,
            generation: 0,
            disconnecting: false,
            connect_sent: now,
            last_out: now,
            last_in: now,
            ping_outstanding: false,
            early: Vec::new(),
            out: Vec::with_capacity(OUT_RESERVE),
            qos0_pending: Vec::new(),
            events: Vec::new(),
            last_topic: None,
            spare_states: Vec::new(),
            spare_payloads: Vec::new(),
            spare_payload_bytes: 0,
            trace: false,
            auth_method: None,
            reauthenticating: false,
            held: Vec::new(),
            persist: None,
        }
    }

    pub(crate) fn state(&self) -> ConnState {
        self.conn
    }

    pub(crate) fn is_disconnecting(&self) -> bool {
        self.disconnecting
    }

    /// QoS 1/2 messages not yet acknowledged (inflight + queued).
    pub(crate) fn pending_messages(&self) -> usize {
        self.inflight.len() + self.queued.len()
    }

    /// The settings in force.
    pub(crate) fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The protocol of the current (or last) connection.
    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The largest remaining length this client takes in a packet (its own Maximum Packet Size on
    /// MQTT 5, less the smallest fixed header).
    pub(crate) fn max_incoming_remaining(&self) -> usize {
        (self.own.maximum_packet_size as usize)
            .saturating_sub(2)
            .min(packet::MAX_REMAINING_LENGTH)
    }

    /// MQTT 5: ends the connection from our side for a protocol violation, with the reason code the
    /// spec names for it (`reason`, or the one `handle` recorded): DISCONNECT is queued, nothing after
    /// it. The caller writes it (best effort) and closes. Nothing on MQTT 3.1.1, whose clients just
    /// close.
    pub(crate) fn violation_disconnect(&mut self, reason: Option<u8>) {
        let Some(code) = reason.or(self.violation.take()) else {
            return;
        };
        if self.protocol != Protocol::V5 || self.conn == ConnState::Closed || self.disconnecting {
            return;
        }
        self.disconnecting = true;
        packet::Disconnect {
            reason: code,
            ..packet::Disconnect::default()
        }
        .encode_v5(&mut self.out);
        self.log(|| logline::disconnect_sent(Some(ReasonCode::disconnect(code)), None, true));
    }

    /// A protocol error with its MQTT 5 reason code recorded for [`violation_disconnect`].
    fn violated(&mut self, code: u8, why: impl Into<String>) -> Error {
        self.violation = Some(code);
        Error::protocol(why)
    }

    /// How many QoS 1/2 messages may await acknowledgement at once (0: unlimited). A lower limit
    /// holds back new messages only, those in flight stay; a higher one lets queued messages out as the
    /// next acknowledgement arrives.
    /// How many topics get an automatic alias from the next connection on (MQTT 5; 0 for none).
    pub(crate) fn set_auto_topic_aliases(&mut self, max: u16) {
        self.cfg.auto_topic_aliases = max;
    }

    pub(crate) fn set_max_inflight(&mut self, max: usize) {
        self.cfg.max_inflight = max;
    }

    /// How many QoS 1/2 messages may be held at once (0: unlimited).
    pub(crate) fn set_max_queued(&mut self, max: usize) {
        self.cfg.max_queued = max;
    }

    /// The largest packet this client takes, from the next connection on (at least
    /// [`MIN_PACKET`], at most [`MAX_PACKET`]: the caller checks).
    pub(crate) fn set_max_packet_size(&mut self, size: u32) {
        self.cfg.max_packet_size = size;
    }

    /// The most bytes held in incoming QoS 2 messages awaiting PUBREL (applies to the next message).
    pub(crate) fn set_max_awaiting_pubrel_bytes(&mut self, max: usize) {
        self.cfg.max_awaiting_pubrel_bytes = max;
    }

    /// The bytes held in incoming QoS 2 messages awaiting PUBREL.
    #[cfg(test)]
    pub(crate) fn awaiting_pubrel_bytes(&self) -> usize {
        self.incoming_qos2.held_bytes()
    }

    /// Whether incoming QoS 1/2 messages wait for [`send_ack`](Session::send_ack).
    pub(crate) fn set_manual_ack(&mut self, on: bool) {
        self.cfg.manual_ack = on;
    }

    /// Whether to produce [`Event::Log`] lines for every packet (a format per packet: only worth it
    /// when someone reads them).
    pub(crate) fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// The output buffer's capacity (for the buffer-size tests).
    #[cfg(test)]
    pub(crate) fn out_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// How many bytes wait for [`take_output`](Session::take_output).
    pub(crate) fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Whether bytes are waiting for [`take_output`](Session::take_output).
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Hands over everything to write, in one piece, with the QoS 0 messages it holds (published once
    /// it is written): swapped with the caller's empty buffers, so that neither side allocates.
    pub(crate) fn take_output(
        &mut self,
        out: &mut Vec<u8>,
        qos0: &mut Vec<(u16, Arc<PublishState>)>,
    ) {
        debug_assert!(out.is_empty() && qos0.is_empty());
        std::mem::swap(out, &mut self.out);
        std::mem::swap(qos0, &mut self.qos0_pending);
    }

    /// Moves the pending events into `events` (empty), swapping lists so both keep their capacity: a
    /// turn's events allocate nothing once the lists have grown to the usual batch size. Returns
    /// whether there were any.
    pub(crate) fn take_events(&mut self, events: &mut Vec<Event>) -> bool {
        debug_assert!(events.is_empty());
        if self.events.is_empty() {
            if self.events.capacity() < events.capacity() {
                std::mem::swap(&mut self.events, events);
            }
            return false;
        }
        std::mem::swap(&mut self.events, events);
        true
    }

    /// Puts back `held`, messages a dispatch could not deliver (the messages channel was full and the
    /// loop stopping), ahead of any event reported since: the next dispatch offers them first, in their
    /// order, and they stay unacknowledged until then.
    /// How many events wait for the callbacks (or for room in a `messages()` channel).
    pub(crate) fn pending_events(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn hold_events(&mut self, mut held: Vec<Event>) {
        held.append(&mut self.events);
        self.events = held;
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if self.trace {
            self.events.push(Event::Log(line()));
        }
    }

    /// Queues a packet, unless the connection is closed or DISCONNECT is already queued: nothing may
    /// follow DISCONNECT on a connection (MQTT 3.1.1 section 3.14.4).
    fn send(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.conn != ConnState::Closed && !self.disconnecting {
            encode(&mut self.out);
        }
    }

    // ---- message ids ----

    /// A buffer for a payload (of an incoming PUBLISH, or a borrowed one `publish` must keep): one a
    /// delivered or acknowledged message gave back, or a new (empty) one.
    pub(crate) fn spare_payload(&mut self) -> Vec<u8> {
        match self.spare_payloads.pop() {
            Some(buf) => {
                self.spare_payload_bytes -= buf.capacity();
                buf
            }
            None => Vec::new(),
        }
    }

    /// Keeps the payload buffer of a delivered or acknowledged message for
    /// [`spare_payload`](Session::spare_payload), while the spares stay within their bounds.
    pub(crate) fn give_back_payload(&mut self, buf: Vec<u8>) {
        let capacity = buf.capacity();
        if capacity > 0
            && self.spare_payloads.len() < SPARE_PAYLOADS
            && self.spare_payload_bytes + capacity <= SPARE_PAYLOAD_BYTES
        {
            self.spare_payload_bytes += capacity;
            self.spare_payloads.push(buf);
        }
    }

    /// Reports `mid` completed: extends the last event when that is a run `mid` continues.
    pub(crate) fn published(&mut self, mid: u16) {
        if let Some(Event::Published { first, count }) = self.events.last_mut() {
            if *count < u16::MAX && mid_after(*first, *count) == mid {
                *count += 1;
                return;
            }
        }
        self.events.push(Event::Published {
            first: mid,
            count: 1,
        });
    }

    fn next_mid(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            self.last_mid = if self.last_mid == u16::MAX {
                1
            } else {
                self.last_mid + 1
            };
            if !self.mids.contains(self.last_mid) {
                return Some(self.last_mid);
            }
        }
        None
    }

    fn reserve_mid(&mut self) -> Result<u16> {
        let mid = self.next_mid().ok_or(Error::QueueFull)?;
        self.mids.insert(mid);
        Ok(mid)
    }

    // ---- connection lifecycle ----

    /// A new connection is open: forget what was pending on the old one and queue CONNECT first.
    pub(crate) fn connection_opened(&mut self, connect: &Connect, now: Instant) {
        self.connection_closed();
        self.generation += 1;
        self.conn = ConnState::Connecting;
        self.disconnecting = false;
        self.keepalive = Duration::from_secs(connect.keepalive.into());
        self.protocol = connect.protocol;
        self.limits = ServerLimits::default();
        let v5 = connect.protocol == Protocol::V5;
        self.own = if v5 {
            OwnLimits::from_connect(&connect.properties)
        } else {
            OwnLimits::default()
        };
        let own_max = self.cfg.max_packet_size;
        let mut narrowed = None;
        if own_max < self.own.maximum_packet_size {
            self.own.maximum_packet_size = own_max;
            if v5 {
                // The server is told the limit it must respect ([MQTT-3.1.2-24]): the smaller of
                // the CONNECT's own property and the client's setting.
                let mut c = connect.clone();
                c.properties.insert(Property::MaximumPacketSize(
                    own_max.min(packet::MAX_REMAINING_LENGTH as u32),
                ));
                narrowed = Some(c);
            }
        }
        let connect = narrowed.as_ref().unwrap_or(connect);
        self.aliases.clear();
        self.out_aliases.reset(0);
        self.unacked_in = 0;
        self.violation = None;
        self.auth_method = connect
            .properties
            .authentication_method()
            .filter(|_| v5)
            .map(str::to_owned);
        self.reauthenticating = false;
        self.clean_start = connect.clean_session;
        self.connect_sent = now;
        self.last_out = now;
        self.last_in = now;
        if !connect.client_id.is_empty() {
            self.remember_client_id(&connect.client_id);
        }
        connect.encode(&mut self.out);
        let v5 = connect.protocol == Protocol::V5;
        self.log(|| logline::connect(connect, v5));
    }

    /// The connection is gone. Unwritten bytes are dropped (QoS 1/2 messages stay and are sent again
    /// after the next CONNACK; QoS 0 messages not yet written are lost, as MQTT allows, and their
    /// `MessageInfo` says so); pending SUBSCRIBE/UNSUBSCRIBE acks will never come.
    pub(crate) fn connection_closed(&mut self) {
        self.conn = ConnState::Closed;
        self.ping_outstanding = false;
        self.early.clear();
        self.out.clear();
        self.held.clear();
        for (_, info) in self.qos0_pending.drain(..) {
            info.set_discarded(ErrorCode::ConnLost);
        }
        for (mid, _) in self.requests.drain() {
            self.mids.remove(mid);
        }
    }

    /// The user called `disconnect()`: queue DISCONNECT, on MQTT 5 with `reason` and `props` (checked
    /// by the caller against the packet type). Fails for a DISCONNECT over the server's Maximum Packet
    /// Size.
    pub(crate) fn disconnect(&mut self, reason: u8, props: Option<&Properties>) -> Result<()> {
        if self.conn == ConnState::Closed {
            return Err(Error::NoConn);
        }
        if self.disconnecting {
            // A DISCONNECT is queued already (or the server's came in): nothing may follow it
            // ([MQTT-3.14.4-1]). Paho would send another.
            return Ok(());
        }
        if self.protocol == Protocol::V5 {
            let expiry = props.and_then(Properties::session_expiry_interval);
            if self.own.session_expiry_interval == 0 && expiry.is_some_and(|e| e != 0) {
                // MQTT 5 section 3.14.2.2.2: a session that CONNECT said ends with the connection
                // cannot be given an expiry at DISCONNECT (the server would close with 0x82).
                return Err(Error::invalid(
                    "properties",
                    "SessionExpiryInterval cannot be set at DISCONNECT when the CONNECT's was 0 or absent",
                ));
            }
            let p = packet::Disconnect {
                reason,
                properties: props
                    .cloned()
                    .unwrap_or_else(|| Properties::new(PacketTypes::DISCONNECT)),
            };
            self.limits
                .check_size(packet_len(p.remaining_length_v5()))?;
            self.disconnecting = true;
            p.encode_v5(&mut self.out);
        } else {
            self.disconnecting = true;
            packet::Disconnect::default().encode(&mut self.out);
        }
        // `disconnect()` passes Normal disconnection and no properties: Paho's `None`s.
        let v5 = self.protocol == Protocol::V5;
        let given = (reason != 0).then(|| ReasonCode::disconnect(reason));
        self.log(|| logline::disconnect_sent(given, props, v5));
        Ok(())
    }

    /// Bytes were written to the socket at `now` (keepalive counts traffic sent).
    pub(crate) fn wrote(&mut self, now: Instant) {
        self.last_out = now;
    }

    /// The user's `on_connect` has run after a successful CONNACK: restore the subscriptions the broker
    /// lost (those not subscribed again by `on_connect`), then send again what the last connection left
    /// unacknowledged, then fill the window from the queue.
    pub(crate) fn after_connect(&mut self, session_present: bool) {
        // Nothing more goes out after a DISCONNECT that on_connect asked for.
        if self.conn != ConnState::Connected || self.disconnecting {
            return;
        }
        if !self.held.is_empty() {
            // What was subscribed while the authentication ran goes first, in the order called.
            let held = std::mem::take(&mut self.held);
            self.out.splice(0..0, held);
        }
        let gen = self.generation;
        if !session_present && self.cfg.resubscribe {
            let stale: Vec<(String, SubscribeOptions)> = self
                .subs
                .iter()
                .filter(|s| s.sent_gen < gen)
                .map(|s| (s.filter.clone(), s.options))
                .collect();
            if !stale.is_empty() {
                // Subscriptions are re-sent best effort: if no id is free the user will see on_subscribe
                // for none of them, and the log says why. (Without the properties of the SUBSCRIBEs
                // that made them: one packet restores them all.)
                match self.send_subscribe(stale, None, true) {
                    Ok(mid) => self.log(|| format!("Resubscribing after reconnect (m{mid})")),
                    Err(e) => self.log(|| format!("Could not resubscribe: {e}")),
                }
            }
        }
        if !session_present && self.protocol == Protocol::V5 {
            self.restart_as_new(gen);
        }
        let mut out = std::mem::take(&mut self.out);
        let mut lines = Vec::new();
        let mut failed = Vec::new();
        for (i, m) in self.inflight.iter_mut().enumerate() {
            if m.sent_gen >= gen {
                continue;
            }
            m.sent_gen = gen;
            if !session_present && m.state == OutState::Pubcomp {
                // MQTT 3.1.1 without a session (Paho's `clean_session` resend): the server never saw
                // this id, so a PUBREL would complete a message nobody received. It starts over
                // from its PUBLISH, with DUP as Paho sends it.
                m.state = OutState::Pubrec;
                if let Some(p) = self.persist.as_deref_mut() {
                    p.put_out(m);
                }
            }
            if m.state == OutState::Pubcomp {
                encode_pubrel(&mut out, self.protocol, m.mid);
                if self.trace {
                    lines.push(format!("Sending PUBREL (Mid: {})", m.mid));
                }
                continue;
            }
            // The server's limits may have changed with the connection: a message over them now
            // fails rather than being sent to be refused.
            if let Some(reason) = exceeds(&self.limits, self.protocol, m) {
                failed.push((i, reason));
                continue;
            }
            if let Some(props) = m.props.as_deref_mut() {
                // An alias belongs to the connection it was set on ([MQTT-3.3.2-7]): the resend
                // carries the full topic only (Paho resends the alias and loops, #893).
                props.remove(0x23);
            }
            encode_publish(&mut out, self.protocol, true, m);
            if self.trace {
                lines.push(publish_line(true, self.protocol, m));
            }
        }
        self.out = out;
        for (i, reason) in failed.into_iter().rev() {
            if let Some(m) = self.inflight.remove(i) {
                self.fail_message(m, reason);
            }
        }
        // One line per packet sent again, as Paho logs its resends.
        self.events.extend(lines.into_iter().map(Event::Log));
        self.fill_window();
    }

    /// MQTT 5 after a CONNACK without a session ([MQTT-3.2.2-5], [MQTT-4.4.0-1]): the messages the old
    /// session left unacknowledged are not re-sent (no DUP, no PUBREL for ids the new session never
    /// saw) but go back to the front of the queue, in their order, to be sent as new messages within
    /// the new connection's limits. Nothing the user handed over is dropped.
    fn restart_as_new(&mut self, gen: u64) {
        let mut restart = Vec::new();
        let mut keep = VecDeque::with_capacity(self.inflight.len());
        for m in self.inflight.drain(..) {
            if m.sent_gen < gen {
                restart.push(m);
            } else {
                keep.push_back(m);
            }
        }
        self.inflight = keep;
        if restart.is_empty() {
            return;
        }
        let n = restart.len();
        self.log(|| {
            format!("Session not present: {n} unacknowledged messages sent again as new messages")
        });
        for mut m in restart.into_iter().rev() {
            let was = m.state;
            m.state = if m.qos == QoS::AtLeastOnce {
                OutState::Puback
            } else {
                OutState::Pubrec
            };
            if was != m.state {
                if let Some(p) = self.persist.as_deref_mut() {
                    // A new process must start it over too, not send its PUBREL.
                    p.put_out(&mut m);
                }
            }
            m.sent_gen = 0;
            if let Some(props) = m.props.as_deref_mut() {
                // The alias belonged to the old connection ([MQTT-3.3.2-7]).
                props.remove(0x23);
            }
            self.queued.push_front(m);
        }
    }

    // ---- user requests ----

    /// Queues a PUBLISH. Returns the message id, Paho's return code (`NoConn` when there is no
    /// connection: a QoS 0 message is then dropped, a QoS 1/2 message kept for the next connection) and
    /// the completion state for `MessageInfo`.
    ///
    /// On MQTT 5 `props` go with it, and once the server's CONNACK is in, its limits apply at the call:
    /// Maximum QoS, Retain Available, Maximum Packet Size and Topic Alias Maximum.
    pub(crate) fn publish<'p>(
        &mut self,
        topic: &str,
        payload: impl Into<Cow<'p, [u8]>>,
        qos: QoS,
        retain: bool,
        props: Option<Properties>,
    ) -> Result<(u16, ErrorCode, Arc<PublishState>)> {
        let payload = payload.into();
        let v5 = self.protocol == Protocol::V5;
        let props = props.filter(|p| !p.is_empty() && v5);
        if self.cfg.auto_topic_aliases > 0
            && props.as_ref().is_some_and(|p| p.topic_alias().is_some())
        {
            // Its alias could stand for another topic in the client's table at the server.
            return Err(Error::invalid(
                "properties",
                "a Topic Alias of the application's own while automatic topic aliases are on",
            ));
        }
        let no_props = Properties::default();
        let len = if v5 {
            let p = props.as_ref().unwrap_or(&no_props);
            Publish::parts_remaining_length_v5(topic.len(), qos, payload.len(), p)
        } else {
            Publish::parts_remaining_length(topic.len(), qos, payload.len())
        };
        if len > packet::MAX_REMAINING_LENGTH {
            return Err(Error::PayloadTooLarge(payload.len()));
        }
        if self.protocol == Protocol::V5 && self.conn == ConnState::Connected {
            self.limits.check_publish(qos, retain, packet_len(len))?;
            if let Some(alias) = props.as_ref().and_then(|p| p.topic_alias()) {
                if alias > self.limits.topic_alias_maximum {
                    return Err(Error::NotSupported(format!(
                        "topic alias {alias}: the server's Topic Alias Maximum is {}",
                        self.limits.topic_alias_maximum
                    )));
                }
            }
        }
        // On MQTT 5 nothing is published before the CONNACK, whose limits it must meet: QoS 0 is
        // refused as when disconnected, QoS 1/2 waits in the queue.
        let open = self.may_publish();
        if qos == QoS::AtMostOnce {
            let mid = self.next_mid().unwrap_or(0);
            if !open {
                let info = Arc::new(PublishState::default());
                info.set_discarded(ErrorCode::NoConn);
                return Ok((mid, ErrorCode::NoConn, info));
            }
            // Everything in `qos0_pending` goes out with this message, in the same buffer.
            let info = match self.qos0_pending.last() {
                Some((_, batch)) => Arc::clone(batch),
                None => self.new_state(),
            };
            if v5 {
                // Every MQTT 5 PUBLISH has a property block, if only its zero length.
                encode_new_v5(
                    &mut self.out,
                    &mut self.out_aliases,
                    qos,
                    retain,
                    topic,
                    mid,
                    &payload,
                    props.as_ref().unwrap_or(&no_props),
                )
            } else {
                Publish::encode_parts(&mut self.out, false, qos, retain, topic, mid, &payload)
            }
            self.log(|| {
                logline::publish_sent(
                    false,
                    qos,
                    retain,
                    mid,
                    topic,
                    props.as_ref(),
                    payload.len(),
                    v5,
                )
            });
            self.qos0_pending.push((mid, info.clone()));
            return Ok((mid, ErrorCode::Success, info));
        }
        if self.cfg.max_queued > 0 && self.pending_messages() >= self.cfg.max_queued {
            return Err(Error::QueueFull);
        }
        let mid = self.reserve_mid()?;
        let info = self.new_state();
        // Kept until acknowledged: a borrowed payload is copied into a spare buffer (one an acknowledged
        // or delivered message gave back), so a steady stream of publishes allocates nothing.
        let payload = match payload {
            Cow::Owned(owned) => owned,
            Cow::Borrowed(bytes) => {
                let mut buf = self.spare_payload();
                buf.clear();
                buf.extend_from_slice(bytes);
                buf
            }
        };
        let mut msg = OutMsg {
            seq: 0,
            mid,
            qos,
            retain,
            topic: self.shared_topic(topic),
            payload,
            state: if qos == QoS::AtLeastOnce {
                OutState::Puback
            } else {
                OutState::Pubrec
            },
            sent_gen: 0,
            info: info.clone(),
            props: props.map(Box::new),
        };
        if let Some(p) = self.persist.as_deref_mut() {
            p.put_out(&mut msg);
        }
        self.queued.push_back(msg);
        self.fill_window();
        let rc = if open {
            ErrorCode::Success
        } else {
            ErrorCode::NoConn
        };
        Ok((mid, rc, info))
    }

    /// A fresh completion flag: a spare one if there is one.
    fn new_state(&mut self) -> Arc<PublishState> {
        self.spare_states.pop().unwrap_or_default()
    }

    /// `topic` as an `Arc`, the last message's when it is the same topic (publishers mostly repeat one).
    fn shared_topic(&mut self, topic: &str) -> Arc<str> {
        match &self.last_topic {
            Some(last) if **last == *topic => Arc::clone(last),
            _ => {
                let shared: Arc<str> = Arc::from(topic);
                self.last_topic = Some(Arc::clone(&shared));
                shared
            }
        }
    }

    /// Where a SUBSCRIBE or UNSUBSCRIBE goes: `out`, or `held` while an enhanced authentication runs
    /// before the CONNACK ([MQTT-3.1.2-30]).
    fn wire(&mut self) -> &mut Vec<u8> {
        if self.conn == ConnState::Connecting && self.auth_method.is_some() {
            &mut self.held
        } else {
            &mut self.out
        }
    }

    /// Whether a PUBLISH may go out now: on a connection not being closed, and on MQTT 5 only once the
    /// CONNACK has said what the server allows.
    fn may_publish(&self) -> bool {
        match self.conn {
            ConnState::Closed => false,
            ConnState::Connecting if self.protocol == Protocol::V5 => false,
            _ => !self.disconnecting,
        }
    }

    /// Whether another message may go out: within `max_inflight` and, on MQTT 5, the server's Receive
    /// Maximum ([MQTT-4.9.0-2]).
    fn window_has_room(&self) -> bool {
        let n = self.inflight.len();
        (self.cfg.max_inflight == 0 || n < self.cfg.max_inflight)
            && n < usize::from(self.limits.receive_maximum)
    }

    /// Moves queued messages into the inflight window and onto the wire while there is room and a
    /// connection to send on.
    fn fill_window(&mut self) {
        if !self.may_publish() {
            return;
        }
        while self.window_has_room() {
            let Some(mut m) = self.queued.pop_front() else {
                break;
            };
            self.strip_alias_over_maximum(&mut m);
            if let Some(reason) = exceeds(&self.limits, self.protocol, &m) {
                self.fail_message(m, reason);
                continue;
            }
            m.sent_gen = self.generation;
            match self.protocol {
                Protocol::V5 => encode_new_v5(
                    &mut self.out,
                    &mut self.out_aliases,
                    m.qos,
                    m.retain,
                    &m.topic,
                    m.mid,
                    &m.payload,
                    m.props.as_deref().unwrap_or(&Properties::default()),
                ),
                _ => encode_publish(&mut self.out, self.protocol, false, &m),
            }
            if self.trace {
                let line = publish_line(false, self.protocol, &m);
                self.events.push(Event::Log(line));
            }
            self.inflight.push_back(m);
        }
    }

    /// A Topic Alias the application set on a message queued before the CONNACK, above the server's
    /// Topic Alias Maximum ([MQTT-3.2.2-17], [MQTT-3.2.2-18], [MQTT-3.3.2-9]): the message goes out
    /// without it, with its full topic, which every PUBLISH of this client carries anyway. (Once
    /// connected, `publish` refuses such an alias at the call.)
    fn strip_alias_over_maximum(&mut self, m: &mut OutMsg) {
        let max = self.limits.topic_alias_maximum;
        let Some(props) = m.props.as_deref_mut() else {
            return;
        };
        if let Some(alias) = props.topic_alias().filter(|a| *a > max) {
            props.remove(0x23);
            let mid = m.mid;
            self.log(|| {
                format!(
                    "Message {mid}: topic alias {alias} dropped, over the server's Topic Alias Maximum of {max}"
                )
            });
        }
    }

    /// Queues a SUBSCRIBE for `filters` (already validated) and remembers them for resubscribe. On
    /// MQTT 5 the server's limits apply (wildcard, shared and subscription-identifier availability,
    /// Maximum Packet Size) and `props` go with it.
    pub(crate) fn subscribe(
        &mut self,
        filters: Vec<(String, SubscribeOptions)>,
        props: Option<&Properties>,
    ) -> Result<u16> {
        if self.conn == ConnState::Closed || self.disconnecting {
            return Err(Error::NoConn);
        }
        if self.protocol == Protocol::V5 {
            let empty = Properties::default();
            let p = props.unwrap_or(&empty);
            self.limits
                .check_subscribe(filters.iter().map(|(f, _)| f.as_str()), p)?;
        }
        self.send_subscribe(filters, props, false)
    }

    fn send_subscribe(
        &mut self,
        filters: Vec<(String, SubscribeOptions)>,
        props: Option<&Properties>,
        internal: bool,
    ) -> Result<u16> {
        let mut p = Subscribe {
            pkid: 0,
            filters,
            ..Subscribe::default()
        };
        if let (Protocol::V5, Some(props)) = (self.protocol, props) {
            p.properties = props.clone();
        }
        if self.protocol == Protocol::V5 {
            self.limits
                .check_size(packet_len(p.remaining_length_v5()))?;
        }
        let mid = self.reserve_mid()?;
        p.pkid = mid;
        let gen = self.generation;
        for (filter, options) in &p.filters {
            match self.subs.iter_mut().find(|s| &s.filter == filter) {
                Some(s) => {
                    s.options = *options;
                    s.sent_gen = gen;
                }
                None => self.subs.push(Subscription {
                    filter: filter.clone(),
                    options: *options,
                    sent_gen: gen,
                }),
            }
        }
        if !internal {
            self.store_meta();
        }
        let v5 = self.protocol == Protocol::V5;
        let out = self.wire();
        if v5 {
            p.encode_v5(out)
        } else {
            p.encode(out)
        }
        self.log(|| logline::subscribe(mid, &p.filters, v5));
        let names = p.filters.into_iter().map(|(f, _)| f).collect();
        self.requests.insert(
            mid,
            Request::Subscribe {
                filters: names,
                internal,
            },
        );
        Ok(mid)
    }

    /// Queues an UNSUBSCRIBE (with `props` on MQTT 5) and forgets the filters, so a reconnect does not
    /// restore them.
    pub(crate) fn unsubscribe(
        &mut self,
        filters: Vec<String>,
        props: Option<&Properties>,
    ) -> Result<u16> {
        if self.conn == ConnState::Closed || self.disconnecting {
            return Err(Error::NoConn);
        }
        let mut p = Unsubscribe {
            pkid: 0,
            filters,
            ..Unsubscribe::default()
        };
        if self.protocol == Protocol::V5 {
            if let Some(props) = props {
                p.properties = props.clone();
            }
            self.limits
                .check_size(packet_len(p.remaining_length_v5()))?;
        }
        let mid = self.reserve_mid()?;
        p.pkid = mid;
        self.subs.retain(|s| !p.filters.contains(&s.filter));
        self.store_meta();
        let v5 = self.protocol == Protocol::V5;
        let out = self.wire();
        if v5 {
            p.encode_v5(out)
        } else {
            p.encode(out)
        }
        self.log(|| logline::unsubscribe(mid, &p.filters, &p.properties, v5));
        self.requests.insert(mid, Request::Unsubscribe);
        Ok(mid)
    }

    /// The user's `on_message` returned for an incoming message: acknowledge it (unless manual ack is
    /// on, then `ack()` does it), on the connection it arrived on only.
    pub(crate) fn message_handled(&mut self, mid: u16, qos: u8, generation: u64) {
        if qos == 2 && !self.cfg.manual_ack {
            // Handled: a new process must not deliver it again, whether or not PUBCOMP gets out.
            self.unstore_in(mid);
        }
        if self.cfg.manual_ack || generation != self.generation || self.conn == ConnState::Closed {
            return;
        }
        self.send_ack(mid, qos);
    }

    /// Sends PUBACK (QoS 1) or PUBCOMP (QoS 2) for an incoming message: `ack()` with manual ack.
    pub(crate) fn send_ack(&mut self, mid: u16, qos: u8) {
        if qos == 2 {
            self.unstore_in(mid);
        }
        if self.conn == ConnState::Closed {
            return;
        }
        let v5 = self.protocol == Protocol::V5;
        match qos {
            1 => {
                self.send(|out| {
                    let p = PubAck::new(mid);
                    if v5 {
                        p.encode_v5(out)
                    } else {
                        p.encode(out)
                    }
                });
                self.log(|| format!("Sending PUBACK (Mid: {mid})"));
            }
            2 => {
                self.send(|out| encode_pubcomp(out, v5, mid, 0));
                self.log(|| format!("Sending PUBCOMP (Mid: {mid})"));
            }
            _ => return,
        }
        self.unacked_in = self.unacked_in.saturating_sub(1);
    }

    /// Drops every message held (for `reinitialise`); their `MessageInfo`s report `rc`.
    pub(crate) fn discard_messages(&mut self, rc: ErrorCode) {
        for m in self.inflight.drain(..).chain(self.queued.drain(..)) {
            m.info.set_discarded(rc);
            self.mids.remove(m.mid);
            if let Some(p) = self.persist.as_deref_mut() {
                p.remove_out(m.seq);
            }
        }
        for (_, info) in self.qos0_pending.drain(..) {
            info.set_discarded(rc);
        }
    }

    // ---- time ----

    /// Checks keepalive at `now`: may queue a PINGREQ; fails when the broker stayed silent too long.
    pub(crate) fn tick(&mut self, now: Instant) -> Result<()> {
        let ka = self.keepalive;
        if ka.is_zero() || self.conn == ConnState::Closed {
            return Ok(());
        }
        if self.conn == ConnState::Connecting {
            if now.duration_since(self.connect_sent) >= ka {
                return Err(Error::Keepalive);
            }
            return Ok(());
        }
        let idle_out = now.duration_since(self.last_out) >= ka;
        let idle_in = now.duration_since(self.last_in) >= ka;
        if idle_out || idle_in {
            if self.ping_outstanding {
                return Err(Error::Keepalive);
            }
            self.send(|out| packet::PingReq.encode(out));
            self.log(|| "Sending PINGREQ".into());
            self.ping_outstanding = true;
            self.last_out = now;
            self.last_in = now;
        }
        Ok(())
    }

    /// `tick` for a loop that waits for a slow consumer (the messages channel is full) and so reads
    /// nothing: a PINGREQ when one is due, so that the broker keeps the connection, but no verdict on a
    /// PINGRESP that cannot have been read. Counting from this ping, a loop that reads again has a whole
    /// keepalive interval to find the PINGRESP before `tick` gives up on the broker.
    pub(crate) fn stalled_tick(&mut self, now: Instant) {
        let ka = self.keepalive;
        if ka.is_zero() || self.conn != ConnState::Connected {
            return;
        }
        if now.duration_since(self.last_out) >= ka || now.duration_since(self.last_in) >= ka {
            self.send(|out| packet::PingReq.encode(out));
            self.log(|| "Sending PINGREQ".into());
            self.ping_outstanding = true;
            self.last_out = now;
            self.last_in = now;
        }
    }

    /// When `tick` next has something to do, if ever.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let ka = self.keepalive;
        if ka.is_zero() {
            return None;
        }
        match self.conn {
            ConnState::Closed => None,
            ConnState::Connecting => Some(self.connect_sent + ka),
            ConnState::Connected => Some(self.last_out.min(self.last_in) + ka),
        }
    }

    // ---- incoming packets ----

    /// Handles one packet from the broker. An error means the connection must be closed.
    pub(crate) fn handle(&mut self, packet: Packet, now: Instant) -> Result<()> {
        self.last_in = now;
        let before_connack_ok = match &packet {
            Packet::ConnAck(_) => true,
            // MQTT 5: a server may end the attempt with DISCONNECT instead.
            Packet::Disconnect(_) => self.protocol == Protocol::V5,
            // MQTT 5 enhanced authentication: the server's challenges come before the CONNACK.
            Packet::Auth(_) => self.auth_method.is_some(),
            _ => false,
        };
        if self.conn == ConnState::Connecting && self.early.len() < EARLY_PUBLISH_LIMIT {
            if let Packet::Publish(p) = packet {
                // [MQTT-3.2.0-1] says CONNACK comes first, but a cluster resuming a session can let
                // a live message overtake it: keep it for after the CONNACK rather than refuse the
                // connection (and, with messages flowing, every one after it).
                self.log(|| "Received PUBLISH before CONNACK: handled after it".to_owned());
                self.early.push(p);
                return Ok(());
            }
        }
        if self.conn == ConnState::Connecting && !before_connack_ok {
            return Err(Error::protocol(format!(
                "the broker sent {} before CONNACK",
                packet.name()
            )));
        }
        if self.protocol == Protocol::V5 && !self.own.problem_information {
            self.check_problem_information(&packet)?;
        }
        match packet {
            Packet::ConnAck(c) => {
                if self.conn != ConnState::Connecting {
                    return Err(Error::protocol(
                        "unexpected CONNACK on an established connection",
                    ));
                }
                let v5 = self.protocol == Protocol::V5;
                self.log(|| logline::connack(c.session_present, c.code, &c.properties, v5));
                if c.code != 0 {
                    // On 5.0 a code below 0x80 can only come from a 3.1.1 server refusing the
                    // protocol level: mapped as Paho maps 3.1.1 codes ("Unsupported protocol
                    // version").
                    let reason = if v5 && c.code >= 0x80 {
                        ReasonCode::new(PacketTypes::CONNACK as u8, c.code)
                    } else {
                        ReasonCode::connack(c.code)
                    };
                    self.early.clear();
                    self.events.push(Event::ConnectRefused {
                        reason,
                        props: c.properties,
                    });
                    return Ok(());
                }
                if let Some(method) = &self.auth_method {
                    // [MQTT-4.12.0-5]: a successful CONNACK names the CONNECT's method.
                    if c.properties.authentication_method() != Some(method.as_str()) {
                        let why = mismatch("CONNACK", method, &c.properties);
                        return Err(self.violated(0x82, why));
                    }
                }
                if c.session_present && self.clean_start {
                    // [MQTT-3.2.2-4] (3.1.1: [MQTT-3.2.2-1]): no session can be present after a
                    // clean start.
                    return Err(self.violated(
                        0x82,
                        "CONNACK says session present after a clean-session CONNECT",
                    ));
                }
                self.conn = ConnState::Connected;
                if !c.session_present {
                    // A new session: the broker will never send PUBREL for what the old one held.
                    if let Some(p) = self.persist.as_deref_mut() {
                        let held: Vec<u16> = p
                            .incoming
                            .iter()
                            .copied()
                            .filter(|&mid| self.incoming_qos2.contains(mid))
                            .collect();
                        for mid in held {
                            p.remove_in(mid);
                        }
                    }
                    self.incoming_qos2.clear();
                }
                if v5 {
                    if let Some(id) = c.properties.assigned_client_identifier() {
                        self.remember_client_id(id);
                    }
                }
                if v5 {
                    self.limits = ServerLimits::from_connack(&c.properties);
                    self.out_aliases.reset(
                        self.cfg
                            .auto_topic_aliases
                            .min(self.limits.topic_alias_maximum),
                    );
                    if let Some(keepalive) = c.properties.server_keep_alive() {
                        // The server decides ([MQTT-3.2.2-21]).
                        self.keepalive = Duration::from_secs(keepalive.into());
                    }
                }
                if self.auth_method.is_some() {
                    // The exchange ended: `on_auth` sees the server's last data (to verify it)
                    // before `on_connect`.
                    self.events.push(Event::Auth {
                        reason: ReasonCode::new(PacketTypes::AUTH as u8, 0),
                        props: c.properties.clone(),
                    });
                }
                self.events.push(Event::Connected {
                    session_present: c.session_present,
                    props: c.properties,
                });
                for p in std::mem::take(&mut self.early) {
                    self.handle_publish(p, now)?;
                }
            }
            Packet::Publish(p) => self.handle_publish(p, now)?,
            Packet::PubAck(PubAck {
                pkid,
                reason,
                properties,
            }) => {
                self.log(|| format!("Received PUBACK (Mid: {pkid})"));
                let reason = ReasonCode::new(PacketTypes::PUBACK as u8, reason);
                self.complete(pkid, OutState::Puback, reason, properties);
            }
            Packet::PubRec(PubRec {
                pkid,
                reason,
                properties,
            }) => {
                self.log(|| format!("Received PUBREC (Mid: {pkid})"));
                let Some(i) = self
                    .inflight
                    .iter()
                    .position(|m| m.mid == pkid && m.qos == QoS::ExactlyOnce)
                else {
                    return Ok(());
                };
                if reason >= 0x80 {
                    // A failure ends the flow: no PUBREL, no resend ([MQTT-4.3.3-4]).
                    let reason = ReasonCode::new(PacketTypes::PUBREC as u8, reason);
                    if let Some(m) = self.inflight.remove(i) {
                        self.refused(m, reason, properties);
                    }
                    self.fill_window();
                    return Ok(());
                }
                // The payload stays until PUBCOMP: if the server loses the session before then, the
                // message starts over from its PUBLISH (`after_connect`).
                self.inflight[i].state = OutState::Pubcomp;
                if let Some(p) = self.persist.as_deref_mut() {
                    // Stored before the PUBREL is written: from here on a new process sends PUBREL,
                    // not the PUBLISH, to a broker that kept the session.
                    p.put_out(&mut self.inflight[i]);
                }
                let protocol = self.protocol;
                self.send(|out| encode_pubrel(out, protocol, pkid));
                self.log(|| format!("Sending PUBREL (Mid: {pkid})"));
            }
            Packet::PubRel(PubRel { pkid, .. }) => {
                self.log(|| format!("Received PUBREL (Mid: {pkid})"));
                match self.incoming_qos2.release(pkid) {
                    Some(msg) => {
                        self.events.push(Event::Message {
                            msg,
                            generation: self.generation,
                        });
                    }
                    // Unknown (already completed): PUBCOMP at once so the broker can finish.
                    None => self.send_ack_now(pkid),
                }
            }
            Packet::PubComp(PubComp {
                pkid,
                reason,
                properties,
            }) => {
                self.log(|| format!("Received PUBCOMP (Mid: {pkid})"));
                let reason = ReasonCode::new(PacketTypes::PUBCOMP as u8, reason);
                self.complete(pkid, OutState::Pubcomp, reason, properties);
            }
            Packet::SubAck(SubAck {
                pkid,
                return_codes,
                properties,
            }) => {
                // Paho's line has no message id.
                self.log(|| "Received SUBACK".into());
                match self.requests.remove(&pkid) {
                    Some(Request::Subscribe { filters, internal }) => {
                        if return_codes.len() != filters.len() {
                            return Err(self.violated(
                                0x82,
                                format!(
                                    "SUBACK {pkid} has {} codes for {} filters",
                                    return_codes.len(),
                                    filters.len()
                                ),
                            ));
                        }
                        self.mids.remove(pkid);
                        if return_codes.iter().any(|&c| c >= 0x80) {
                            let before = self.subs.len();
                            self.subs.retain(|s| {
                                !filters
                                    .iter()
                                    .zip(&return_codes)
                                    .any(|(f, &c)| c >= 0x80 && *f == s.filter)
                            });
                            if self.subs.len() != before {
                                self.store_meta();
                            }
                        }
                        for (filter, code) in filters.iter().zip(&return_codes) {
                            if *code >= 0x80 {
                                // Refused: do not restore it after a reconnect.
                                self.subs.retain(|s| &s.filter != filter);
                                self.log(|| {
                                    format!("Subscription to {filter:?} refused by the broker")
                                });
                            }
                        }
                        if !internal {
                            let codes = return_codes.into_iter().map(ReasonCode::suback).collect();
                            self.events.push(Event::Subscribed {
                                mid: pkid,
                                codes,
                                props: properties,
                            });
                        }
                    }
                    other => self.keep_unmatched(pkid, other, "SUBACK"),
                }
            }
            Packet::UnsubAck(packet::UnsubAck {
                pkid,
                codes,
                properties,
            }) => {
                self.log(|| format!("Received UNSUBACK (Mid: {pkid})"));
                match self.requests.remove(&pkid) {
                    Some(Request::Unsubscribe) => {
                        self.mids.remove(pkid);
                        let codes = codes
                            .into_iter()
                            .map(|c| ReasonCode::new(PacketTypes::UNSUBACK as u8, c))
                            .collect();
                        self.events.push(Event::Unsubscribed {
                            mid: pkid,
                            codes,
                            props: properties,
                        });
                    }
                    other => self.keep_unmatched(pkid, other, "UNSUBACK"),
                }
            }
            // Only a client sends PINGREQ. On MQTT 3.1.1 it is answered, as Paho answers it; on MQTT 5
            // it is the protocol error it is ([MQTT-4.8.0-1] of 3.1.1 asks the same, Paho's behaviour
            // is kept there).
            Packet::PingReq if self.protocol == Protocol::V5 => {
                return Err(self.violated(
                    0x82,
                    "the server sent PINGREQ, which only a client may send",
                ));
            }
            Packet::PingReq => {
                self.send(|out| packet::PingResp.encode(out));
            }
            Packet::PingResp => {
                self.log(|| "Received PINGRESP".into());
                self.ping_outstanding = false;
            }
            Packet::Disconnect(d) if self.protocol == Protocol::V5 => {
                let reason = ReasonCode::new(PacketTypes::DISCONNECT as u8, d.reason);
                self.log(|| logline::disconnect_received(d.reason, &d.properties));
                self.events.push(Event::ServerDisconnect {
                    reason,
                    props: d.properties,
                });
                // Nothing more may be sent on this connection: the engine closes it.
                self.disconnecting = true;
                return Err(Error::ServerDisconnected(d.reason));
            }
            p @ (Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::Disconnect(_)) => {
                return Err(Error::protocol(format!(
                    "the broker sent {}, which only a client may send",
                    p.name()
                )));
            }
            Packet::Auth(a) => self.handle_auth(a)?,
        }
        Ok(())
    }

    /// An AUTH from the server (MQTT 5 enhanced authentication).
    fn handle_auth(&mut self, a: packet::Auth) -> Result<()> {
        let Some(method) = &self.auth_method else {
            // Enhanced authentication is not asked for (CONNECT carries no Authentication Method),
            // so the server may not send AUTH: a protocol error ([MQTT-4.12.0-6]). (The 3.1.1 framer
            // refuses packet type 15 before it gets here.)
            return Err(self.violated(
                0x82,
                "the server sent AUTH, but no authentication method was set",
            ));
        };
        if a.properties.authentication_method() != Some(method.as_str()) {
            // [MQTT-4.12.0-5]: every AUTH names the CONNECT's method.
            let why = mismatch("AUTH", method, &a.properties);
            return Err(self.violated(0x82, why));
        }
        let reason = ReasonCode::new(PacketTypes::AUTH as u8, a.reason);
        self.log(|| format!("Received AUTH ({reason})"));
        let connected = self.conn == ConnState::Connected;
        match a.reason {
            // A challenge: while connecting, or answering our re-authentication.
            0x18 if !connected || self.reauthenticating => {}
            // The end of a re-authentication (a CONNECT's exchange ends with the CONNACK).
            0x00 if connected && self.reauthenticating => self.reauthenticating = false,
            code => {
                let when = if !connected {
                    "before CONNACK"
                } else {
                    "with no re-authentication under way"
                };
                return Err(self.violated(
                    0x82,
                    format!("the server sent AUTH with reason 0x{code:02x} {when}"),
                ));
            }
        }
        self.events.push(Event::Auth {
            reason,
            props: a.properties,
        });
        Ok(())
    }

    /// With Request Problem Information 0 in CONNECT, the server may send a Reason String or User
    /// Property on PUBLISH, CONNACK and DISCONNECT only; on any other packet it is a protocol error
    /// (MQTT 5 section 3.1.2.11.7).
    fn check_problem_information(&mut self, packet: &Packet) -> Result<()> {
        let props = match packet {
            Packet::PubAck(p) => &p.properties,
            Packet::PubRec(p) => &p.properties,
            Packet::PubRel(p) => &p.properties,
            Packet::PubComp(p) => &p.properties,
            Packet::SubAck(p) => &p.properties,
            Packet::UnsubAck(p) => &p.properties,
            Packet::Auth(p) => &p.properties,
            _ => return Ok(()),
        };
        for (id, name) in [(0x1F, "Reason String"), (0x26, "User Property")] {
            if props.get(id).is_some() {
                return Err(self.violated(
                    0x82,
                    format!(
                        "the server sent a {name} on {} after Request Problem Information 0",
                        packet.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The user's `on_auth` answered a server challenge (AUTH 0x18): the next AUTH 0x18, with
    /// `data` as its Authentication Data ([MQTT-4.12.0-3]).
    pub(crate) fn auth_continue(&mut self, data: Vec<u8>) -> Result<()> {
        self.send_auth(0x18, data)
    }

    /// Starts a re-authentication on the live connection: AUTH 0x19 with the connection's method and
    /// `data` ([MQTT-4.12.1-1]). Fails without a connection, for a CONNECT without an Authentication
    /// Method (none to re-authenticate with, [MQTT-4.12.0-7]), and while one is under way.
    pub(crate) fn reauthenticate(&mut self, data: Vec<u8>) -> Result<()> {
        if self.conn != ConnState::Connected || self.disconnecting {
            return Err(Error::NoConn);
        }
        if self.auth_method.is_none() {
            return Err(Error::invalid(
                "reauthenticate",
                "the connection has no authentication method (auth_method_set before connect; MQTT 5)",
            ));
        }
        if self.reauthenticating {
            return Err(Error::invalid(
                "reauthenticate",
                "a re-authentication is already under way",
            ));
        }
        self.send_auth(0x19, data)?;
        self.reauthenticating = true;
        Ok(())
    }

    /// Queues an AUTH with `reason`, the connection's method and `data` (when not empty).
    fn send_auth(&mut self, reason: u8, data: Vec<u8>) -> Result<()> {
        let Some(method) = self.auth_method.clone() else {
            return Err(Error::NoConn);
        };
        if self.conn == ConnState::Closed || self.disconnecting {
            return Err(Error::NoConn);
        }
        let mut properties = Properties::new(PacketTypes::AUTH);
        properties.insert(Property::AuthenticationMethod(method));
        if !data.is_empty() {
            properties.insert(Property::AuthenticationData(data));
        }
        let p = packet::Auth { reason, properties };
        if self.conn == ConnState::Connected {
            self.limits
                .check_size(packet_len(p.remaining_length_v5()))?;
        }
        p.encode_v5(&mut self.out);
        let reason = ReasonCode::new(PacketTypes::AUTH as u8, reason);
        self.log(|| format!("Sending AUTH ({reason})"));
        Ok(())
    }

    /// The user's `on_auth` ended the exchange with `reason`: DISCONNECT with it, nothing after.
    pub(crate) fn auth_abort(&mut self, reason: u8) {
        self.violation_disconnect(Some(reason));
    }

    /// An ack whose id matches no request of that kind: put back what we took and ignore it, as Paho
    /// does (a late ack after a reconnect is harmless).
    fn keep_unmatched(&mut self, pkid: u16, taken: Option<Request>, what: &str) {
        if let Some(r) = taken {
            self.requests.insert(pkid, r);
        }
        self.log(|| format!("Ignoring {what} for unknown message id {pkid}"));
    }

    fn send_ack_now(&mut self, pkid: u16) {
        // MQTT 5 says why: Packet identifier not found.
        let v5 = self.protocol == Protocol::V5;
        self.send(|out| encode_pubcomp(out, v5, pkid, 0x92));
        self.log(|| format!("Sending PUBCOMP (Mid: {pkid})"));
    }

    fn handle_publish(&mut self, mut p: Publish, now: Instant) -> Result<()> {
        if self.protocol == Protocol::V5 {
            let alias = p.properties.topic_alias();
            let topic = std::mem::take(&mut p.topic);
            match self
                .aliases
                .resolve(topic, alias, self.own.topic_alias_maximum)
            {
                Ok(topic) => p.topic = topic,
                Err(e) => {
                    let code = if alias.is_some() { 0x94 } else { 0x82 };
                    self.violation = Some(code);
                    return Err(e);
                }
            }
            let new_qos2 = p.qos == QoS::ExactlyOnce && !self.incoming_qos2.contains(p.pkid);
            if p.qos == QoS::AtLeastOnce || new_qos2 {
                if self.unacked_in >= usize::from(self.own.receive_maximum) {
                    // [MQTT-3.3.4-7]: more than this client's Receive Maximum unacknowledged.
                    return Err(self.violated(
                        0x93,
                        format!(
                            "the server sent more than this client's Receive Maximum of {} \
                             unacknowledged QoS 1/2 messages",
                            self.own.receive_maximum
                        ),
                    ));
                }
                self.unacked_in += 1;
            }
        }
        let v5 = self.protocol == Protocol::V5;
        self.log(|| {
            logline::publish_received(
                p.dup,
                p.qos,
                p.retain,
                p.pkid,
                &p.topic,
                &p.properties,
                p.payload.len(),
                v5,
            )
        });
        let msg = Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos as u8,
            retain: p.retain,
            mid: p.pkid,
            dup: p.dup,
            timestamp: now,
            properties: p.properties,
        };
        match p.qos {
            QoS::AtMostOnce | QoS::AtLeastOnce => {
                self.events.push(Event::Message {
                    msg,
                    generation: self.generation,
                });
            }
            QoS::ExactlyOnce => {
                let max = self.cfg.max_awaiting_pubrel_bytes;
                if !self.incoming_qos2.contains(msg.mid)
                    && self.incoming_qos2.would_exceed(awaiting::cost(&msg), max)
                {
                    // Neither dropped nor acknowledged: without its PUBREC the broker still owns the
                    // message and sends it again on the next connection, after the PUBRELs that free
                    // room (MQTT 3.1.1 section 4.4). MQTT 5: Quota exceeded, an implementation's
                    // limit (the broker kept within Receive Maximum, so 0x93 would be untrue).
                    return Err(self.violated(
                        0x97,
                        format!(
                            "incoming QoS 2 messages awaiting PUBREL would hold more than {max} \
                             bytes (max_awaiting_pubrel_bytes; {} held)",
                            self.incoming_qos2.held_bytes()
                        ),
                    ));
                }
                // Store until PUBREL (delivered then, as Paho does); a duplicate only gets PUBREC again.
                if let Some(persist) = self.persist.as_deref_mut() {
                    if !self.incoming_qos2.contains(msg.mid) {
                        persist.put_in(&msg);
                    }
                }
                self.incoming_qos2.insert(msg);
                let v5 = self.protocol == Protocol::V5;
                self.send(|out| {
                    let r = PubRec::new(p.pkid);
                    if v5 {
                        r.encode_v5(out)
                    } else {
                        r.encode(out)
                    }
                });
                self.log(|| format!("Sending PUBREC (Mid: {})", p.pkid));
            }
        }
        Ok(())
    }

    /// PUBACK or PUBCOMP for an outgoing message: it is done (refused, if `reason` is a failure); a slot
    /// frees up for the queue.
    fn complete(&mut self, pkid: u16, expected: OutState, reason: ReasonCode, props: Properties) {
        let Some(i) = self
            .inflight
            .iter()
            .position(|m| m.mid == pkid && m.state == expected)
        else {
            self.log(|| format!("Ignoring acknowledgement for unknown message id {pkid}"));
            return;
        };
        if reason.is_failure() {
            // [MQTT-4.4.0-2]: acknowledged, never sent again; reported as refused.
            if let Some(m) = self.inflight.remove(i) {
                self.refused(m, reason, props);
            }
            self.fill_window();
            return;
        }
        if let Some(mut m) = self.inflight.remove(i) {
            self.mids.remove(pkid);
            self.unstore_out(m.seq);
            let payload = std::mem::take(&mut m.payload);
            self.give_back_payload(payload);
            if reason.value() != 0 || !props.is_empty() {
                // What the acknowledgement said goes to on_publish with this message alone.
                m.info.set_published();
                self.events.push(Event::PublishedWith {
                    mid: pkid,
                    reason,
                    props,
                });
                self.fill_window();
                return;
            }
            match Arc::get_mut(&mut m.info) {
                // No `MessageInfo` is left to see the flag (the session holds the only reference, and
                // only the session hands out new ones): keep it for the next message instead.
                Some(state) if self.spare_states.len() < SPARE_STATES => {
                    state.reset();
                    self.spare_states.push(m.info);
                }
                _ => m.info.set_published(),
            }
            self.published(pkid);
        }
        self.fill_window();
    }

    /// An outgoing message the server refused (a PUBACK, PUBREC or PUBCOMP with a failure reason): it
    /// is done, its `MessageInfo` says so, and `on_publish` gets the reason and properties.
    fn refused(&mut self, mut m: OutMsg, reason: ReasonCode, props: Properties) {
        self.mids.remove(m.mid);
        self.unstore_out(m.seq);
        let payload = std::mem::take(&mut m.payload);
        self.give_back_payload(payload);
        m.info.set_failed(reason);
        self.log(|| format!("Message {} refused by the server: {reason}", m.mid));
        self.events.push(Event::PublishedWith {
            mid: m.mid,
            reason,
            props,
        });
    }

    /// A queued message the server's limits, learned after it was queued, do not allow: it is never
    /// sent; its `MessageInfo` reports it discarded with `rc`, and `on_publish` gets `reason`.
    /// Paho's `drop_out_messages`: every outgoing QoS 1/2 message not yet acknowledged (in flight or
    /// queued) is dropped and handed back, in the order they were published, with the id it had. Their
    /// ids are free again and their `MessageInfo`s report them discarded (`MQTT_ERR_NOT_FOUND`); nothing
    /// more is sent for them (a PUBREC or PUBCOMP the broker still sends for one is ignored).
    pub(crate) fn drop_out_messages(&mut self, now: Instant) -> Vec<Message> {
        let mut dropped: Vec<OutMsg> = self.inflight.drain(..).collect();
        dropped.extend(self.queued.drain(..));
        dropped
            .into_iter()
            .map(|m| {
                self.mids.remove(m.mid);
                self.unstore_out(m.seq);
                m.info.set_discarded(ErrorCode::NotFound);
                Message {
                    topic: m.topic.to_string(),
                    payload: m.payload,
                    qos: m.qos as u8,
                    retain: m.retain,
                    mid: m.mid,
                    dup: false,
                    timestamp: now,
                    properties: m.props.map(|p| *p).unwrap_or_default(),
                }
            })
            .collect()
    }

    fn fail_message(&mut self, mut m: OutMsg, (reason, rc): (ReasonCode, ErrorCode)) {
        self.mids.remove(m.mid);
        self.unstore_out(m.seq);
        let payload = std::mem::take(&mut m.payload);
        self.give_back_payload(payload);
        m.info.set_discarded(rc);
        self.log(|| {
            format!(
                "Message {} not sent: the server's limits refuse it ({reason})",
                m.mid
            )
        });
        self.events.push(Event::PublishedWith {
            mid: m.mid,
            reason,
            props: Properties::new(PacketTypes::PUBACK),
        });
    }
}

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod tests;

/// Why a CONNACK or AUTH with `props` breaks [MQTT-4.12.0-5], given the CONNECT's `method`.
fn mismatch(what: &str, method: &str, props: &Properties) -> String {
    match props.authentication_method() {
        Some(other) => format!(
            "{what} has authentication method {other:?}, but CONNECT's is {method:?} [MQTT-4.12.0-5]"
        ),
        None => format!(
            "{what} has no authentication method, but CONNECT's is {method:?} [MQTT-4.12.0-5]"
        ),
    }
}

/// Why `m` may not go out under the server's `limits` (MQTT 5), as the reason `on_publish` reports
/// and the code its `MessageInfo` gets; `None` when it may.
fn exceeds(
    limits: &ServerLimits,
    protocol: Protocol,
    m: &OutMsg,
) -> Option<(ReasonCode, ErrorCode)> {
    if protocol != Protocol::V5 {
        return None;
    }
    let empty = Properties::default();
    let props = m.props.as_deref().unwrap_or(&empty);
    let len = Publish::parts_remaining_length_v5(m.topic.len(), m.qos, m.payload.len(), props);
    let reason = |code| ReasonCode::new(PacketTypes::PUBACK as u8, code);
    match limits.check_publish(m.qos, m.retain, packet_len(len)) {
        Ok(()) => None,
        Err(Error::PacketTooLarge { .. }) => Some((reason(0x95), ErrorCode::PayloadSize)),
        Err(_) if m.qos > limits.maximum_qos => Some((reason(0x9b), ErrorCode::NotSupported)),
        Err(_) => Some((reason(0x9a), ErrorCode::NotSupported)),
    }
}

/// Appends `m`'s PUBLISH in the connection's protocol.
/// The `on_log` line for sending this message.
fn publish_line(dup: bool, protocol: Protocol, m: &OutMsg) -> String {
    logline::publish_sent(
        dup,
        m.qos,
        m.retain,
        m.mid,
        &m.topic,
        m.props.as_deref(),
        m.payload.len(),
        protocol == Protocol::V5,
    )
}

/// Appends the first sending of an MQTT 5 PUBLISH, with an automatic topic alias when they are on and
/// the message has no alias of the application's.
#[allow(clippy::too_many_arguments)]
fn encode_new_v5(
    out: &mut Vec<u8>,
    aliases: &mut OutgoingAliases,
    qos: QoS,
    retain: bool,
    topic: &str,
    mid: u16,
    payload: &[u8],
    props: &Properties,
) {
    let assigned = if props.topic_alias().is_some() {
        AliasUse::None
    } else {
        aliases.assign(topic)
    };
    match assigned {
        AliasUse::None => {
            Publish::encode_parts_v5(out, false, qos, retain, topic, mid, payload, props)
        }
        AliasUse::Set(alias) => Publish::encode_parts_v5_aliased(
            out, false, qos, retain, topic, mid, payload, props, alias,
        ),
        AliasUse::Reuse(alias) => Publish::encode_parts_v5_aliased(
            out, false, qos, retain, "", mid, payload, props, alias,
        ),
    }
}

fn encode_publish(out: &mut Vec<u8>, protocol: Protocol, dup: bool, m: &OutMsg) {
    match (protocol, m.props.as_deref()) {
        (Protocol::V5, props) => {
            let empty = Properties::default();
            Publish::encode_parts_v5(
                out,
                dup,
                m.qos,
                m.retain,
                &m.topic,
                m.mid,
                &m.payload,
                props.unwrap_or(&empty),
            )
        }
        _ => Publish::encode_parts(out, dup, m.qos, m.retain, &m.topic, m.mid, &m.payload),
    }
}

/// Appends a PUBREL (reason Success) in the connection's protocol.
fn encode_pubrel(out: &mut Vec<u8>, protocol: Protocol, pkid: u16) {
    let p = PubRel::new(pkid);
    match protocol {
        Protocol::V5 => p.encode_v5(out),
        _ => p.encode(out),
    }
}

/// Appends a PUBCOMP: on MQTT 5 with `reason` (3.1.1 has none).
fn encode_pubcomp(out: &mut Vec<u8>, v5: bool, pkid: u16, reason: u8) {
    if v5 {
        PubComp {
            reason,
            ..PubComp::new(pkid)
        }
        .encode_v5(out)
    } else {
        PubComp::new(pkid).encode(out)
    }
}
