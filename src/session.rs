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
//!   earlier generation is sent again, PUBLISH with DUP set, or PUBREL for QoS 2 awaiting PUBCOMP.
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

use crate::error::{Error, ErrorCode, Result};
use crate::message::{Message, PublishState};
use crate::packet::{
    self, Connect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, QoS, SubAck, Subscribe,
    Unsubscribe,
};
use crate::reason::{Properties, ReasonCode};

/// Settings the session follows; the client owns them and copies them in before each connection.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    /// Keepalive interval; zero disables PINGREQ and the keepalive checks.
    pub keepalive: Duration,
    /// Most QoS 1/2 messages awaiting acknowledgement at once; 0 = unlimited.
    pub max_inflight: usize,
    /// Most QoS 1/2 messages held (inflight + queued); 0 = unlimited.
    pub max_queued: usize,
    /// Whether PUBACK/PUBCOMP for incoming messages wait for `ack()`.
    pub manual_ack: bool,
    /// Whether subscriptions the broker lost are restored after a reconnect.
    pub resubscribe: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            keepalive: Duration::from_secs(60),
            max_inflight: 20,
            max_queued: 0,
            manual_ack: false,
            resubscribe: true,
        }
    }
}

/// Something for the callbacks, produced by the session.
#[derive(Debug)]
pub(crate) enum Event {
    /// CONNACK accepted.
    Connected { session_present: bool },
    /// CONNACK refused with this 3.1.1 return code.
    ConnectRefused { code: u8 },
    /// Outgoing messages completed (QoS 0 written, PUBACK, PUBCOMP): `count` of them, with the ids
    /// from `first` on, one after the other as they are handed out ([`mids_from`]). Consecutive
    /// completions (a batch of QoS 0 messages written together, PUBACKs in order) share one event.
    Published { first: u16, count: u16 },
    /// SUBACK for a subscribe the user made.
    Subscribed { mid: u16, codes: Vec<ReasonCode> },
    /// UNSUBACK for an unsubscribe the user made.
    Unsubscribed { mid: u16 },
    /// An incoming message to deliver; `generation` identifies the connection it arrived on, so that its
    /// PUBACK/PUBCOMP is only sent on that same connection.
    Message { msg: Message, generation: u64 },
    /// A debug line for `on_log` (only produced while tracing is on).
    Log(String),
}

/// The message ids from `first` on, in the order `next_mid` hands them out: 65,535 is followed by 1.
pub(crate) fn mids_from(first: u16) -> impl Iterator<Item = u16> {
    std::iter::successors(Some(first), |&m| {
        Some(if m == u16::MAX { 1 } else { m + 1 })
    })
}

/// The id `steps` after `first` in that order (ids run 1..=65,535).
fn mid_after(first: u16, steps: u16) -> u16 {
    let zero_based = (u32::from(first.max(1)) - 1 + u32::from(steps)) % u32::from(u16::MAX);
    // In range: the remainder is below 65,535.
    (zero_based + 1) as u16
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
    qos: QoS,
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

/// Which message ids are in use: 65,536 bits.
#[derive(Debug)]
struct MidSet(Box<[u64; 1024]>);

impl MidSet {
    fn new() -> Self {
        MidSet(Box::new([0; 1024]))
    }
    fn contains(&self, mid: u16) -> bool {
        self.0[usize::from(mid >> 6)] & (1 << (mid & 63)) != 0
    }
    fn insert(&mut self, mid: u16) {
        self.0[usize::from(mid >> 6)] |= 1 << (mid & 63);
    }
    fn remove(&mut self, mid: u16) {
        self.0[usize::from(mid >> 6)] &= !(1 << (mid & 63));
    }
}

/// Incoming QoS 2 messages awaiting PUBREL, in the order they arrived (which is the order brokers send
/// PUBREL in, so the one released is nearly always the first).
///
/// Not a map: a `HashMap<u16, Message>` holding a few hundred messages (a broker with no in-flight limit,
/// under load) had tables of 41 and 82 KB, with the old one alive beside the new one while growing; the
/// messages here cost their own size, and the ids scanned for duplicates are two bytes apiece in a
/// slice of their own.
#[derive(Debug, Default)]
struct AwaitingPubrel {
    mids: VecDeque<u16>,
    msgs: VecDeque<Message>,
}

impl AwaitingPubrel {
    fn contains(&self, mid: u16) -> bool {
        let (a, b) = self.mids.as_slices();
        a.contains(&mid) || b.contains(&mid)
    }

    /// Keeps `msg` until its PUBREL, unless a message with its id is already held (a resend of it, as
    /// after a reconnect): then `msg` is dropped and the first one kept.
    fn insert(&mut self, msg: Message) {
        if !self.contains(msg.mid) {
            self.mids.push_back(msg.mid);
            self.msgs.push_back(msg);
        }
    }

    fn release(&mut self, mid: u16) -> Option<Message> {
        let i = self.mids.iter().position(|&m| m == mid)?;
        self.mids.remove(i);
        self.msgs.remove(i)
    }

    fn clear(&mut self) {
        self.mids.clear();
        self.msgs.clear();
    }
}

/// Capacity reserved up front for each of the two output buffers: `out`, and the loop's buffer it
/// trades places with. Past glibc's mmap threshold (128 KiB), so it is address space rather than memory:
/// a page becomes resident only when a write reaches it. A burst of publishes then fills a buffer that
/// was there from the start, where growing one by doubling from 4 KiB left each outgrown block behind
/// on the heap, resident (at QoS 0, peak RSS about 100 KB lower: docs/performance.md, P16).
pub(crate) const OUT_RESERVE: usize = 256 * 1024;

/// Completion flags kept back for reuse: a publishing burst of up to this many QoS 1/2 messages at a
/// time allocates none.
const SPARE_STATES: usize = 1024;

/// Payload buffers kept for reuse, given back by delivered incoming messages and by acknowledged
/// outgoing ones, and taken by the next PUBLISH decoded and the next QoS 1/2 `publish` of a borrowed
/// payload: at most this many, holding at most [`SPARE_PAYLOAD_BYTES`] in all. A stream of messages
/// then reuses the same few buffers instead of allocating one per message; with large messages, instead
/// of having the allocator hand out fresh memory (and the kernel fault it in) for every one: with QoS
/// 2's messages held until PUBREL, glibc returned freed space to the system and took it back for each
/// message, a quarter of the CPU time at 1 MiB.
const SPARE_PAYLOADS: usize = 64;
const SPARE_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// The protocol state of one client, across connections.
#[derive(Debug)]
pub(crate) struct Session {
    pub cfg: SessionConfig,
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
    /// Bytes to write, in order.
    pub out: Vec<u8>,
    /// QoS 0 messages in `out`, completed once `out` is written. They all share one `PublishState`: the
    /// loop writes `out` whole (or loses it whole with the connection), so they complete together.
    pub qos0_pending: Vec<(u16, Arc<PublishState>)>,
    pub events: Vec<Event>,
    /// The topic of the last QoS 1/2 message, shared by the next ones to the same topic.
    last_topic: Option<Arc<str>>,
    /// Completion flags of acknowledged QoS 1/2 messages nobody held any more, for new messages.
    spare_states: Vec<Arc<PublishState>>,
    /// See [`SPARE_PAYLOADS`]; `spare_payload_bytes` is their capacity in all.
    spare_payloads: Vec<Vec<u8>>,
    spare_payload_bytes: usize,
    /// Produce `Event::Log` lines for every packet (costs a format per packet; off unless someone listens).
    pub trace: bool,
}

impl Session {
    pub(crate) fn new(cfg: SessionConfig, now: Instant) -> Session {
        Session {
            cfg,
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
            out: Vec::with_capacity(OUT_RESERVE),
            qos0_pending: Vec::new(),
            events: Vec::new(),
            last_topic: None,
            spare_states: Vec::new(),
            spare_payloads: Vec::new(),
            spare_payload_bytes: 0,
            trace: false,
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
        self.connect_sent = now;
        self.last_out = now;
        self.last_in = now;
        connect.encode(&mut self.out);
        self.log(|| {
            format!(
                "Sending CONNECT (u{}, p{}, wr{}, wq{}, wf{}, c{}, k{}) client_id={:?}",
                u8::from(connect.username.is_some()),
                u8::from(connect.password.is_some()),
                u8::from(connect.will.as_ref().is_some_and(|w| w.retain)),
                connect.will.as_ref().map_or(0, |w| w.qos as u8),
                u8::from(connect.will.is_some()),
                u8::from(connect.clean_session),
                connect.keepalive,
                connect.client_id
            )
        });
    }

    /// The connection is gone. Unwritten bytes are dropped (QoS 1/2 messages stay and are sent again
    /// after the next CONNACK; QoS 0 messages not yet written are lost, as MQTT allows, and their
    /// `MessageInfo` says so); pending SUBSCRIBE/UNSUBSCRIBE acks will never come.
    pub(crate) fn connection_closed(&mut self) {
        self.conn = ConnState::Closed;
        self.ping_outstanding = false;
        self.out.clear();
        for (_, info) in self.qos0_pending.drain(..) {
            info.set_discarded(ErrorCode::ConnLost);
        }
        for (mid, _) in self.requests.drain() {
            self.mids.remove(mid);
        }
    }

    /// The user called `disconnect()`: queue DISCONNECT.
    pub(crate) fn disconnect(&mut self) -> Result<()> {
        if self.conn == ConnState::Closed {
            return Err(Error::NoConn);
        }
        self.disconnecting = true;
        packet::Disconnect.encode(&mut self.out);
        self.log(|| "Sending DISCONNECT".into());
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
        let gen = self.generation;
        if !session_present && self.cfg.resubscribe {
            let stale: Vec<(String, QoS)> = self
                .subs
                .iter()
                .filter(|s| s.sent_gen < gen)
                .map(|s| (s.filter.clone(), s.qos))
                .collect();
            if !stale.is_empty() {
                // Subscriptions are re-sent best effort: if no id is free the user will see on_subscribe
                // for none of them, and the log says why.
                match self.send_subscribe(stale, true) {
                    Ok(mid) => self.log(|| format!("Resubscribing after reconnect (m{mid})")),
                    Err(e) => self.log(|| format!("Could not resubscribe: {e}")),
                }
            }
        }
        let mut out = std::mem::take(&mut self.out);
        let mut resent = 0usize;
        for m in self.inflight.iter_mut().filter(|m| m.sent_gen < gen) {
            m.sent_gen = gen;
            resent += 1;
            match m.state {
                OutState::Pubcomp => PubRel { pkid: m.mid }.encode(&mut out),
                _ => Publish::encode_parts(
                    &mut out, true, m.qos, m.retain, &m.topic, m.mid, &m.payload,
                ),
            }
        }
        self.out = out;
        if resent > 0 {
            self.log(|| format!("Resending {resent} unacknowledged message(s) with DUP set"));
        }
        self.fill_window();
    }

    // ---- user requests ----

    /// Queues a PUBLISH. Returns the message id, Paho's return code (`NoConn` when there is no
    /// connection: a QoS 0 message is then dropped, a QoS 1/2 message kept for the next connection) and
    /// the completion state for `MessageInfo`.
    pub(crate) fn publish<'p>(
        &mut self,
        topic: &str,
        payload: impl Into<Cow<'p, [u8]>>,
        qos: QoS,
        retain: bool,
    ) -> Result<(u16, ErrorCode, Arc<PublishState>)> {
        let payload = payload.into();
        let len = Publish::parts_remaining_length(topic.len(), qos, payload.len());
        if len > packet::MAX_REMAINING_LENGTH {
            return Err(Error::PayloadTooLarge(payload.len()));
        }
        let open = self.conn != ConnState::Closed && !self.disconnecting;
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
            Publish::encode_parts(&mut self.out, false, qos, retain, topic, mid, &payload);
            self.log(|| {
                format!(
                    "Sending PUBLISH (d0, q0, r{}, m{mid}), '{topic}', ... ({} bytes)",
                    u8::from(retain),
                    payload.len()
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
        let msg = OutMsg {
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
        };
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

    fn window_has_room(&self) -> bool {
        self.cfg.max_inflight == 0 || self.inflight.len() < self.cfg.max_inflight
    }

    /// Moves queued messages into the inflight window and onto the wire while there is room and a
    /// connection to send on.
    fn fill_window(&mut self) {
        if self.conn == ConnState::Closed || self.disconnecting {
            return;
        }
        while self.window_has_room() {
            let Some(mut m) = self.queued.pop_front() else {
                break;
            };
            m.sent_gen = self.generation;
            Publish::encode_parts(
                &mut self.out,
                false,
                m.qos,
                m.retain,
                &m.topic,
                m.mid,
                &m.payload,
            );
            if self.trace {
                let line = format!(
                    "Sending PUBLISH (d0, q{}, r{}, m{}), '{}', ... ({} bytes)",
                    m.qos as u8,
                    u8::from(m.retain),
                    m.mid,
                    m.topic,
                    m.payload.len()
                );
                self.events.push(Event::Log(line));
            }
            self.inflight.push_back(m);
        }
    }

    /// Queues a SUBSCRIBE for `filters` (already validated) and remembers them for resubscribe.
    pub(crate) fn subscribe(&mut self, filters: Vec<(String, QoS)>) -> Result<u16> {
        if self.conn == ConnState::Closed || self.disconnecting {
            return Err(Error::NoConn);
        }
        self.send_subscribe(filters, false)
    }

    fn send_subscribe(&mut self, filters: Vec<(String, QoS)>, internal: bool) -> Result<u16> {
        let mid = self.reserve_mid()?;
        let gen = self.generation;
        for (filter, qos) in &filters {
            match self.subs.iter_mut().find(|s| &s.filter == filter) {
                Some(s) => {
                    s.qos = *qos;
                    s.sent_gen = gen;
                }
                None => self.subs.push(Subscription {
                    filter: filter.clone(),
                    qos: *qos,
                    sent_gen: gen,
                }),
            }
        }
        let p = Subscribe { pkid: mid, filters };
        p.encode(&mut self.out);
        self.log(|| format!("Sending SUBSCRIBE (d0, m{mid}) {:?}", p.filters));
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

    /// Queues an UNSUBSCRIBE and forgets the filters, so a reconnect does not restore them.
    pub(crate) fn unsubscribe(&mut self, filters: Vec<String>) -> Result<u16> {
        if self.conn == ConnState::Closed || self.disconnecting {
            return Err(Error::NoConn);
        }
        let mid = self.reserve_mid()?;
        self.subs.retain(|s| !filters.contains(&s.filter));
        let p = Unsubscribe { pkid: mid, filters };
        p.encode(&mut self.out);
        self.log(|| format!("Sending UNSUBSCRIBE (d0, m{mid}) {:?}", p.filters));
        self.requests.insert(mid, Request::Unsubscribe);
        Ok(mid)
    }

    /// The user's `on_message` returned for an incoming message: acknowledge it (unless manual ack is
    /// on, then `ack()` does it), on the connection it arrived on only.
    pub(crate) fn message_handled(&mut self, mid: u16, qos: u8, generation: u64) {
        if self.cfg.manual_ack || generation != self.generation || self.conn == ConnState::Closed {
            return;
        }
        self.send_ack(mid, qos);
    }

    /// Sends PUBACK (QoS 1) or PUBCOMP (QoS 2) for an incoming message: `ack()` with manual ack.
    pub(crate) fn send_ack(&mut self, mid: u16, qos: u8) {
        if self.conn == ConnState::Closed {
            return;
        }
        match qos {
            1 => {
                self.send(|out| PubAck { pkid: mid }.encode(out));
                self.log(|| format!("Sending PUBACK (Mid: {mid})"));
            }
            2 => {
                self.send(|out| PubComp { pkid: mid }.encode(out));
                self.log(|| format!("Sending PUBCOMP (Mid: {mid})"));
            }
            _ => {}
        }
    }

    /// Drops every message held (for `reinitialise`); their `MessageInfo`s report `rc`.
    pub(crate) fn discard_messages(&mut self, rc: ErrorCode) {
        for m in self.inflight.drain(..).chain(self.queued.drain(..)) {
            m.info.set_discarded(rc);
            self.mids.remove(m.mid);
        }
        for (_, info) in self.qos0_pending.drain(..) {
            info.set_discarded(rc);
        }
    }

    // ---- time ----

    /// Checks keepalive at `now`: may queue a PINGREQ; fails when the broker stayed silent too long.
    pub(crate) fn tick(&mut self, now: Instant) -> Result<()> {
        let ka = self.cfg.keepalive;
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

    /// When `tick` next has something to do, if ever.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let ka = self.cfg.keepalive;
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
        if self.conn == ConnState::Connecting && !matches!(packet, Packet::ConnAck(_)) {
            return Err(Error::Protocol(format!(
                "the broker sent {} before CONNACK",
                packet.name()
            )));
        }
        match packet {
            Packet::ConnAck(c) => {
                if self.conn != ConnState::Connecting {
                    return Err(Error::Protocol(
                        "unexpected CONNACK on an established connection".into(),
                    ));
                }
                self.log(|| {
                    format!(
                        "Received CONNACK ({}, {})",
                        u8::from(c.session_present),
                        c.code
                    )
                });
                if c.code != 0 {
                    self.events.push(Event::ConnectRefused { code: c.code });
                    return Ok(());
                }
                self.conn = ConnState::Connected;
                if !c.session_present {
                    // A new session: the broker will never send PUBREL for what the old one held.
                    self.incoming_qos2.clear();
                }
                self.events.push(Event::Connected {
                    session_present: c.session_present,
                });
            }
            Packet::Publish(p) => self.handle_publish(p, now),
            Packet::PubAck(PubAck { pkid }) => {
                self.log(|| format!("Received PUBACK (Mid: {pkid})"));
                self.complete(pkid, OutState::Puback);
            }
            Packet::PubRec(PubRec { pkid }) => {
                self.log(|| format!("Received PUBREC (Mid: {pkid})"));
                if let Some(m) = self
                    .inflight
                    .iter_mut()
                    .find(|m| m.mid == pkid && m.qos == QoS::ExactlyOnce)
                {
                    m.state = OutState::Pubcomp;
                    // The broker owns the message now: only its id is needed from here on. (The topic
                    // is shared with the messages around it, so keeping it costs nothing.)
                    let payload = std::mem::take(&mut m.payload);
                    self.give_back_payload(payload);
                    self.send(|out| PubRel { pkid }.encode(out));
                    self.log(|| format!("Sending PUBREL (Mid: {pkid})"));
                }
            }
            Packet::PubRel(PubRel { pkid }) => {
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
            Packet::PubComp(PubComp { pkid }) => {
                self.log(|| format!("Received PUBCOMP (Mid: {pkid})"));
                self.complete(pkid, OutState::Pubcomp);
            }
            Packet::SubAck(SubAck { pkid, return_codes }) => {
                self.log(|| format!("Received SUBACK (Mid: {pkid})"));
                match self.requests.remove(&pkid) {
                    Some(Request::Subscribe { filters, internal }) => {
                        self.mids.remove(pkid);
                        for (filter, code) in filters.iter().zip(&return_codes) {
                            if *code == 0x80 {
                                // Refused: do not restore it after a reconnect.
                                self.subs.retain(|s| &s.filter != filter);
                                self.log(|| {
                                    format!("Subscription to {filter:?} refused by the broker")
                                });
                            }
                        }
                        if !internal {
                            let codes = return_codes.into_iter().map(ReasonCode::suback).collect();
                            self.events.push(Event::Subscribed { mid: pkid, codes });
                        }
                    }
                    other => self.keep_unmatched(pkid, other, "SUBACK"),
                }
            }
            Packet::UnsubAck(packet::UnsubAck { pkid }) => {
                self.log(|| format!("Received UNSUBACK (Mid: {pkid})"));
                match self.requests.remove(&pkid) {
                    Some(Request::Unsubscribe) => {
                        self.mids.remove(pkid);
                        self.events.push(Event::Unsubscribed { mid: pkid });
                    }
                    other => self.keep_unmatched(pkid, other, "UNSUBACK"),
                }
            }
            Packet::PingReq => {
                self.send(|out| packet::PingResp.encode(out));
            }
            Packet::PingResp => {
                self.log(|| "Received PINGRESP".into());
                self.ping_outstanding = false;
            }
            p @ (Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::Disconnect) => {
                return Err(Error::Protocol(format!(
                    "the broker sent {}, which only a client may send",
                    p.name()
                )));
            }
        }
        Ok(())
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
        self.send(|out| PubComp { pkid }.encode(out));
        self.log(|| format!("Sending PUBCOMP (Mid: {pkid})"));
    }

    fn handle_publish(&mut self, p: Publish, now: Instant) {
        self.log(|| {
            format!(
                "Received PUBLISH (d{}, q{}, r{}, m{}), '{}', ...  ({} bytes)",
                u8::from(p.dup),
                p.qos as u8,
                u8::from(p.retain),
                p.pkid,
                p.topic,
                p.payload.len()
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
            properties: Properties::default(),
        };
        match p.qos {
            QoS::AtMostOnce | QoS::AtLeastOnce => {
                self.events.push(Event::Message {
                    msg,
                    generation: self.generation,
                });
            }
            QoS::ExactlyOnce => {
                // Store until PUBREL (delivered then, as Paho does); a duplicate only gets PUBREC again.
                self.incoming_qos2.insert(msg);
                self.send(|out| PubRec { pkid: p.pkid }.encode(out));
                self.log(|| format!("Sending PUBREC (Mid: {})", p.pkid));
            }
        }
    }

    /// PUBACK or PUBCOMP for an outgoing message: it is done; a slot frees up for the queue.
    fn complete(&mut self, pkid: u16, expected: OutState) {
        let Some(i) = self
            .inflight
            .iter()
            .position(|m| m.mid == pkid && m.state == expected)
        else {
            self.log(|| format!("Ignoring acknowledgement for unknown message id {pkid}"));
            return;
        };
        if let Some(mut m) = self.inflight.remove(i) {
            self.mids.remove(pkid);
            let payload = std::mem::take(&mut m.payload);
            self.give_back_payload(payload);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, ConnAck, MAX_REMAINING_LENGTH};

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
        }
    }

    /// A session with a connection open and CONNACK accepted; output and events cleared.
    fn connected(cfg: SessionConfig) -> (Session, Instant) {
        let now = t0();
        let mut s = Session::new(cfg, now);
        s.connection_opened(&connect_packet(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
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
        })
    }

    #[test]
    fn connect_is_the_first_thing_written_and_connack_connects() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        assert_eq!(s.state(), ConnState::Closed);
        s.connection_opened(&connect_packet(), now);
        assert!(matches!(sent(&mut s)[..], [Packet::Connect(_)]));
        assert_eq!(s.state(), ConnState::Connecting);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
            }),
            now,
        )
        .unwrap();
        assert_eq!(s.state(), ConnState::Connected);
        assert!(matches!(
            s.events[..],
            [Event::Connected {
                session_present: true
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
            }),
            now,
        )
        .unwrap();
        assert!(matches!(s.events[..], [Event::ConnectRefused { code: 5 }]));
        assert_eq!(s.state(), ConnState::Connecting);
    }

    #[test]
    fn packets_before_connack_are_a_protocol_error() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        s.connection_opened(&connect_packet(), now);
        assert!(matches!(
            s.handle(Packet::PingResp, now),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn message_ids_are_shared_start_at_one_and_skip_ids_in_use() {
        let (mut s, _) = connected(SessionConfig::default());
        let (m1, _, _) = s.publish("t", vec![], QoS::AtLeastOnce, false).unwrap();
        let m2 = s.subscribe(vec![("a".into(), QoS::AtMostOnce)]).unwrap();
        let m3 = s.unsubscribe(vec!["a".into()]).unwrap();
        assert_eq!((m1, m2, m3), (1, 2, 3));
        // Wrap around: 65535 -> 1, but 1 is still in flight, so 2 (SUBACK not yet received, also in use)
        // is skipped too... 2 and 3 are in use: the next free id is 4.
        s.last_mid = u16::MAX - 1;
        assert_eq!(
            s.publish("t", vec![], QoS::AtLeastOnce, false).unwrap().0,
            u16::MAX
        );
        assert_eq!(
            s.publish("t", vec![], QoS::AtLeastOnce, false).unwrap().0,
            4
        );
    }

    #[test]
    fn qos1_flow_completes_on_puback() {
        let (mut s, now) = connected(SessionConfig::default());
        let (mid, rc, info) = s
            .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(rc, ErrorCode::Success);
        assert_eq!(
            sent(&mut s),
            vec![publish_pkt(mid, QoS::AtLeastOnce, false)]
        );
        s.handle(Packet::PubAck(PubAck { pkid: mid }), now).unwrap();
        assert!(matches!(
            s.events[..],
            [Event::Published { first: 1, count: 1 }]
        ));
        assert_eq!(s.pending_messages(), 0);
        let signal = Arc::new(crate::message::PublishSignal::default());
        let mi = crate::MessageInfo {
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
        s.events.push(Event::Unsubscribed { mid: 9 });
        s.published(5);
        assert!(matches!(
            s.events[..],
            [
                Event::Published {
                    first: 65534,
                    count: 4
                },
                Event::Published { first: 4, count: 1 },
                Event::Unsubscribed { mid: 9 },
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
            .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false)
            .unwrap();
        sent(&mut s);
        s.handle(Packet::PubRec(PubRec { pkid: mid }), now).unwrap();
        assert_eq!(sent(&mut s), vec![Packet::PubRel(PubRel { pkid: mid })]);
        assert!(s.events.is_empty());
        s.handle(Packet::PubComp(PubComp { pkid: mid }), now)
            .unwrap();
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
        assert_eq!(sent(&mut s), vec![Packet::PubAck(PubAck { pkid: 7 })]);
    }

    #[test]
    fn incoming_qos2_pubrec_at_once_delivery_on_pubrel_then_pubcomp() {
        let (mut s, now) = connected(SessionConfig::default());
        s.handle(publish_pkt(9, QoS::ExactlyOnce, false), now)
            .unwrap();
        assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec { pkid: 9 })]);
        assert!(s.events.is_empty());
        // A duplicate PUBLISH before PUBREL: PUBREC again, still one delivery.
        s.handle(publish_pkt(9, QoS::ExactlyOnce, true), now)
            .unwrap();
        assert_eq!(sent(&mut s), vec![Packet::PubRec(PubRec { pkid: 9 })]);
        s.handle(Packet::PubRel(PubRel { pkid: 9 }), now).unwrap();
        assert_eq!(s.events.len(), 1);
        let Event::Message { msg, generation } = s.events.remove(0) else {
            panic!()
        };
        assert!(s.out.is_empty());
        s.message_handled(msg.mid, msg.qos, generation);
        assert_eq!(sent(&mut s), vec![Packet::PubComp(PubComp { pkid: 9 })]);
        // A PUBREL we know nothing of still gets PUBCOMP.
        s.handle(Packet::PubRel(PubRel { pkid: 9 }), now).unwrap();
        assert_eq!(sent(&mut s), vec![Packet::PubComp(PubComp { pkid: 9 })]);
        assert!(s.events.is_empty());
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
            s.handle(Packet::PubRel(PubRel { pkid: mid }), now).unwrap();
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
    fn awaiting_pubrel_finds_ids_after_wrapping() {
        let msg = |mid| Message {
            mid,
            ..Message::new("t", &b""[..], 2, false)
        };
        let mut held = AwaitingPubrel {
            mids: VecDeque::with_capacity(4),
            msgs: VecDeque::with_capacity(4),
        };
        for mid in 1..=4 {
            held.insert(msg(mid));
        }
        assert_eq!(held.release(1).map(|m| m.mid), Some(1));
        assert_eq!(held.release(2).map(|m| m.mid), Some(2));
        held.insert(msg(5));
        held.insert(msg(6));
        let (front, back) = held.mids.as_slices();
        assert!(!front.is_empty() && !back.is_empty(), "{front:?} {back:?}");
        for mid in 3..=6 {
            assert!(held.contains(mid), "{mid}");
        }
        held.insert(msg(6));
        assert_eq!(held.mids.len(), 4);
        assert_eq!(held.release(6).map(|m| m.mid), Some(6));
        assert_eq!(held.release(6).map(|m| m.mid), None);
        held.clear();
        assert!(!held.contains(3) && held.msgs.is_empty());
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
        assert_eq!(sent(&mut s), vec![Packet::PubAck(PubAck { pkid: 3 })]);
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
            s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
                .unwrap();
        }
        assert_eq!(sent(&mut s).len(), 2);
        s.handle(Packet::PubAck(PubAck { pkid: 1 }), now).unwrap();
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
            s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
                .unwrap();
        }
        assert!(matches!(
            s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false),
            Err(Error::QueueFull)
        ));
        assert_eq!(s.pending_messages(), 3);
        // QoS 0 is not counted against the queue.
        assert!(s
            .publish("t", b"p".to_vec(), QoS::AtMostOnce, false)
            .is_ok());
    }

    #[test]
    fn while_disconnected_qos0_is_dropped_and_qos1_is_kept_for_the_next_connection() {
        let now = t0();
        let mut s = Session::new(SessionConfig::default(), now);
        let (_, rc0, _) = s
            .publish("t", b"p".to_vec(), QoS::AtMostOnce, false)
            .unwrap();
        let (mid, rc1, _) = s
            .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!((rc0, rc1), (ErrorCode::NoConn, ErrorCode::NoConn));
        assert!(s.out.is_empty());
        s.connection_opened(&connect_packet(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
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
    fn after_reconnect_unacked_messages_are_resent_with_dup_and_qos2_awaiting_pubcomp_resends_pubrel(
    ) {
        let (mut s, now) = connected(SessionConfig::default());
        let (m1, ..) = s
            .publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        let (m2, ..) = s
            .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false)
            .unwrap();
        let (m3, ..) = s
            .publish("t", b"p".to_vec(), QoS::ExactlyOnce, false)
            .unwrap();
        s.handle(Packet::PubRec(PubRec { pkid: m3 }), now).unwrap();
        sent(&mut s);
        s.connection_closed();
        s.connection_opened(&connect_packet(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
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
                Packet::PubRel(PubRel { pkid: m3 }),
            ]
        );
    }

    #[test]
    fn resubscribe_restores_only_what_on_connect_did_not() {
        let (mut s, now) = connected(SessionConfig::default());
        let mid = s
            .subscribe(vec![
                ("a".into(), QoS::AtLeastOnce),
                ("b".into(), QoS::AtMostOnce),
            ])
            .unwrap();
        s.handle(
            Packet::SubAck(SubAck {
                pkid: mid,
                return_codes: vec![1, 0],
            }),
            now,
        )
        .unwrap();
        s.subscribe(vec![("c".into(), QoS::ExactlyOnce)]).unwrap();
        s.unsubscribe(vec!["c".into()]).unwrap();
        s.connection_closed();
        s.connection_opened(&connect_packet(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
            }),
            now,
        )
        .unwrap();
        sent(&mut s);
        // The user's on_connect subscribes to "a" again (the Paho idiom).
        s.subscribe(vec![("a".into(), QoS::AtLeastOnce)]).unwrap();
        let from_on_connect = sent(&mut s);
        s.after_connect(false);
        let restored = sent(&mut s);
        assert!(
            matches!(&from_on_connect[..], [Packet::Subscribe(p)] if p.filters == vec![("a".to_string(), QoS::AtLeastOnce)])
        );
        assert!(
            matches!(&restored[..], [Packet::Subscribe(p)] if p.filters == vec![("b".to_string(), QoS::AtMostOnce)])
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
            }),
            now,
        )
        .unwrap();
        assert!(s.events.is_empty());
    }

    #[test]
    fn a_disconnect_from_on_connect_stops_the_resubscribe_and_resend() {
        let (mut s, now) = connected(SessionConfig::default());
        s.subscribe(vec![("a".into(), QoS::AtMostOnce)]).unwrap();
        s.publish("t", b"p".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        s.connection_opened(&connect_packet(), now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 0,
            }),
            now,
        )
        .unwrap();
        sent(&mut s);
        s.disconnect().unwrap(); // the user's on_connect
        s.after_connect(false);
        assert_eq!(sent(&mut s), vec![Packet::Disconnect]);
    }

    #[test]
    fn no_resubscribe_when_the_broker_kept_the_session_or_when_disabled() {
        for (present, enabled) in [(true, true), (false, false)] {
            let (mut s, now) = connected(SessionConfig {
                resubscribe: enabled,
                ..Default::default()
            });
            s.subscribe(vec![("a".into(), QoS::AtMostOnce)]).unwrap();
            s.connection_opened(&connect_packet(), now);
            s.handle(
                Packet::ConnAck(ConnAck {
                    session_present: present,
                    code: 0,
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
            .subscribe(vec![
                ("a".into(), QoS::AtMostOnce),
                ("b".into(), QoS::AtMostOnce),
            ])
            .unwrap();
        s.handle(
            Packet::SubAck(SubAck {
                pkid: mid,
                return_codes: vec![0x80, 0],
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
        let (mut s, now) = connected(SessionConfig {
            keepalive: ka,
            ..Default::default()
        });
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
        let (mut s, now) = connected(SessionConfig {
            keepalive: ka,
            ..Default::default()
        });
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
        let mut s = Session::new(
            SessionConfig {
                keepalive: Duration::from_secs(5),
                ..Default::default()
            },
            now,
        );
        s.connection_opened(&connect_packet(), now);
        assert!(matches!(
            s.tick(now + Duration::from_secs(5)),
            Err(Error::Keepalive)
        ));
        let (mut s, now) = connected(SessionConfig {
            keepalive: Duration::ZERO,
            ..Default::default()
        });
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
            s.handle(Packet::Disconnect, now),
            Err(Error::Protocol(_))
        ));
        let (mut s, now) = connected(SessionConfig::default());
        let c = Packet::ConnAck(ConnAck {
            session_present: false,
            code: 0,
        });
        assert!(matches!(s.handle(c, now), Err(Error::Protocol(_))));
    }

    #[test]
    fn closing_discards_unwritten_qos0_and_pending_acks_free_their_ids() {
        let (mut s, _) = connected(SessionConfig::default());
        let (_, _, info) = s
            .publish("t", b"p".to_vec(), QoS::AtMostOnce, false)
            .unwrap();
        let mid = s.subscribe(vec![("a".into(), QoS::AtMostOnce)]).unwrap();
        s.connection_closed();
        assert!(s.out.is_empty());
        let signal = Arc::new(crate::message::PublishSignal::default());
        let mi = crate::MessageInfo {
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
        s.disconnect().unwrap();
        assert_eq!(sent(&mut s), vec![Packet::Disconnect]);
        let (_, rc, _) = s.publish("t", vec![], QoS::AtMostOnce, false).unwrap();
        assert_eq!(rc, ErrorCode::NoConn);
        assert!(matches!(
            s.subscribe(vec![("a".into(), QoS::AtMostOnce)]),
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
        s.disconnect().unwrap();
        // The callback returns after disconnect(), a QoS 2 message and a PINGREQ arrive, keepalive is due.
        s.message_handled(msg.mid, msg.qos, generation);
        s.handle(publish_pkt(5, QoS::ExactlyOnce, false), now)
            .unwrap();
        s.handle(Packet::PingReq, now).unwrap();
        s.tick(now + Duration::from_secs(3600)).unwrap();
        assert_eq!(sent(&mut s), vec![Packet::Disconnect]);
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
            s.publish(topic, too_big, QoS::AtMostOnce, false),
            Err(Error::PayloadTooLarge(_))
        ));
    }

    fn info(state: Arc<PublishState>) -> crate::MessageInfo {
        crate::MessageInfo {
            mid: 0,
            rc: ErrorCode::Success,
            state,
            signal: Arc::new(crate::message::PublishSignal::default()),
        }
    }

    #[test]
    fn qos0_messages_in_one_buffer_share_a_completion_flag_and_the_next_buffer_gets_its_own() {
        let (mut s, _) = connected(SessionConfig::default());
        let (_, _, a) = s
            .publish("t", b"a".to_vec(), QoS::AtMostOnce, false)
            .unwrap();
        let (_, _, b) = s
            .publish("u", b"b".to_vec(), QoS::AtMostOnce, false)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(s.qos0_pending.len(), 2);
        // The loop takes `out` and `qos0_pending` together (a swap) and writes them.
        let written = std::mem::take(&mut s.qos0_pending);
        s.out.clear();
        let (_, _, c) = s
            .publish("t", b"c".to_vec(), QoS::AtMostOnce, false)
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
            .publish("t", b"1".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        let dropped_addr = Arc::as_ptr(&dropped);
        drop(dropped);
        let (m2, _, held) = s
            .publish("t", b"2".to_vec(), QoS::AtLeastOnce, false)
            .unwrap();
        s.handle(Packet::PubAck(PubAck { pkid: m1 }), now).unwrap();
        s.handle(Packet::PubAck(PubAck { pkid: m2 }), now).unwrap();
        assert!(matches!(
            s.events[..],
            [Event::Published { first, count: 2 }] if first == m1
        ));
        assert!(info(held).is_published());
        // The next message gets the first one's flag back, reset to pending.
        let (_, _, reused) = s
            .publish("t", b"3".to_vec(), QoS::AtLeastOnce, false)
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
            s.publish(topic, payload.as_bytes(), QoS::AtLeastOnce, false)
                .unwrap();
        }
        assert!(Arc::ptr_eq(&s.inflight[0].topic, &s.queued[0].topic));
        assert!(!Arc::ptr_eq(&s.queued[0].topic, &s.queued[1].topic));
        let mut got = Vec::new();
        for _ in 0..3 {
            for p in sent(&mut s) {
                let Packet::Publish(p) = p else { panic!() };
                got.push((p.topic.clone(), p.payload.clone()));
                s.handle(Packet::PubAck(PubAck { pkid: p.pkid }), now)
                    .unwrap();
            }
        }
        let want: Vec<(String, Vec<u8>)> = [("a/b", "1"), ("a/b", "2"), ("c", "3")]
            .iter()
            .map(|(t, p)| (t.to_string(), p.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
    }
}
