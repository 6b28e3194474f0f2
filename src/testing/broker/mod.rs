//! [`TestBroker`]: a small working MQTT 3.1 / 3.1.1 / 5 broker on loopback, for tests that need a real
//! peer rather than a script. Each connection speaks the version of its CONNECT.
//!
//! Design: all broker state (sessions, retained messages, the packet log) sits behind one mutex; each
//! packet is handled whole under it, so what a test observes through the hooks is always a state between
//! two packets. A condition variable on that mutex wakes `pause`d readers and the `wait_*` hooks. One
//! accept thread, and per client connection a reader thread (which owns the connection: it reads, handles
//! packets, and ends it) and a writer thread fed by a channel. Stopping shuts every socket down (which
//! ends blocked reads and writes), wakes the accept thread with a connection of its own, and joins every
//! thread. A timer thread ends what MQTT 5 times out: expired sessions, delayed wills, expired retained
//! messages.
//!
//! - This file: the handle, [`TestBroker`] and [`Direction`] with their public docs; starting and stopping.
//! - [`state`]: the state behind the mutex, and routing a message to the sessions that subscribe to it.
//! - [`protocol`]: what the broker does with each packet of a connection, CONNECT first.
//! - [`threads`]: the threads, their reads and writes, keepalive, and what they share.
//! - `tests.rs`: the tests, which drive the broker from outside through raw sockets.

mod auth;
#[cfg(test)]
mod bounds_tests;
mod protocol;
mod state;
#[cfg(test)]
mod tests;
mod threads;
#[cfg(test)]
mod v5_tests;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::packet::{Packet, QoS};
use crate::properties::{PacketTypes, Properties};

pub use auth::{AuthStep, Authenticator};
use state::{BrokerState, Retained};
use threads::{accept_loop, timer_loop, BrokerShared};

/// The retained topic that names the broker, as in mosquitto.
const VERSION_TOPIC: &str = "$SYS/broker/version";

/// Which way a packet in [`TestBroker::packets`] went, seen from the broker.
///
/// ```
/// use pahoish::testing::Direction;
/// assert_ne!(Direction::Received, Direction::Sent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The client sent it to the broker.
    Received,
    /// The broker sent it to the client.
    Sent,
}

/// The MQTT 5 limits a [`TestBroker`] announces in its CONNACK and enforces; set with
/// [`TestBrokerBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) receive_maximum: u16,
    pub(crate) maximum_packet_size: Option<u32>,
    pub(crate) topic_alias_maximum: u16,
    pub(crate) server_keep_alive: Option<u16>,
    pub(crate) maximum_qos: QoS,
    pub(crate) retain_available: bool,
    pub(crate) wildcard_subscription_available: bool,
    pub(crate) shared_subscription_available: bool,
    pub(crate) subscription_identifier_available: bool,
    pub(crate) send_topic_aliases: bool,
    /// Not MQTT 5's: the most bytes held for one client ([`TestBrokerBuilder::max_queued_bytes`]).
    pub(crate) max_queued_bytes: usize,
    /// Not MQTT 5's: the most packets logged ([`TestBrokerBuilder::packet_log_limit`]).
    pub(crate) packet_log_limit: usize,
    /// Not MQTT 5's: how long a connection may take to send its CONNECT
    /// ([`TestBrokerBuilder::connect_timeout`]).
    pub(crate) connect_timeout: Duration,
    /// Filters whose subscriptions are refused (see [`TestBrokerBuilder::deny_subscriptions`]).
    pub(crate) denied: Vec<String>,
    /// MQTT 5 enhanced authentication: makes the authenticator of each exchange.
    pub(crate) authenticator: Option<auth::AuthFactory>,
}

impl Limits {
    /// Whether a SUBSCRIBE for `filter` is refused by [`TestBrokerBuilder::deny_subscriptions`]: one of
    /// the denied filters matches it, read as a topic (so `secret/#` denies `secret/a` and `secret/+`).
    pub(crate) fn denies(&self, filter: &str) -> bool {
        let inner = state::split_shared(filter).map_or(filter, |(_, inner)| inner);
        self.denied
            .iter()
            .any(|d| d == inner || crate::topic::topic_matches_sub(d, inner))
    }
}

/// The default of [`TestBrokerBuilder::max_queued_bytes`]: 64 MiB.
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
/// The default of [`TestBrokerBuilder::packet_log_limit`].
const PACKET_LOG_LIMIT: usize = 100_000;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            topic_alias_maximum: 10,
            server_keep_alive: None,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            shared_subscription_available: true,
            subscription_identifier_available: true,
            send_topic_aliases: false,
            denied: Vec::new(),
            authenticator: None,
            max_queued_bytes: MAX_QUEUED_BYTES,
            packet_log_limit: PACKET_LOG_LIMIT,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Starts a [`TestBroker`] with MQTT 5 limits other than the defaults; from [`TestBroker::builder`].
///
/// Each limit is announced in the CONNACK an MQTT 5 client gets (only when it differs from what MQTT 5
/// assumes without it) and enforced on MQTT 5 clients: a PUBLISH over a limit gets a DISCONNECT with the
/// reason code MQTT 5 gives it, a SUBSCRIBE filter the broker does not support a SUBACK refusal for that
/// filter. MQTT 3.1 and 3.1.1 clients see only [`maximum_qos`](TestBrokerBuilder::maximum_qos), in the QoS
/// their SUBACK grants.
///
/// ```
/// use pahoish::testing::TestBroker;
/// let broker = TestBroker::builder()
///     .maximum_qos(1)
///     .retain_available(false)
///     .shared_subscription_available(false)
///     .start()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestBrokerBuilder {
    limits: Limits,
}

impl TestBrokerBuilder {
    /// How many incoming QoS 2 messages an MQTT 5 client may have waiting for their PUBREL (Receive
    /// Maximum); one more gets DISCONNECT 0x93. Defaults to 65,535 (not announced). 0 is taken as 1.
    pub fn receive_maximum(mut self, max: u16) -> Self {
        self.limits.receive_maximum = max.max(1);
        self
    }

    /// The largest packet, in bytes with its fixed header, a client may send (announced to MQTT 5
    /// clients as Maximum Packet Size). A larger one ends the connection, after DISCONNECT 0x95 on MQTT 5
    /// (just closed on 3.1/3.1.1); it is refused from its fixed header, before its body is buffered, so a
    /// client cannot make the broker hold more than this for one packet. Defaults to no limit (not
    /// announced) but MQTT's own; a CONNECT is always limited to 1 MiB (or this, when smaller).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::builder().maximum_packet_size(64 * 1024).start()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn maximum_packet_size(mut self, max: u32) -> Self {
        self.limits.maximum_packet_size = Some(max.max(1));
        self
    }

    /// The highest topic alias an MQTT 5 client may use (Topic Alias Maximum); 0 or a higher one gets
    /// DISCONNECT 0x94. Defaults to 10. The broker sends topic aliases itself only when
    /// [`send_topic_aliases`](TestBrokerBuilder::send_topic_aliases) asks.
    pub fn topic_alias_maximum(mut self, max: u16) -> Self {
        self.limits.topic_alias_maximum = max;
        self
    }

    /// The keepalive, in seconds, MQTT 5 clients must use instead of theirs (Server Keep Alive), and that
    /// the broker enforces on them. Defaults to none: the client's own.
    pub fn server_keep_alive(mut self, seconds: u16) -> Self {
        self.limits.server_keep_alive = Some(seconds);
        self
    }

    /// The highest QoS the broker supports, 0, 1 or 2 (Maximum QoS; higher values are taken as 2).
    /// SUBACK grants at most this QoS (to MQTT 3.1.1 clients too); an MQTT 5 PUBLISH above it gets
    /// DISCONNECT 0x9B. Defaults to 2 (not announced).
    pub fn maximum_qos(mut self, qos: u8) -> Self {
        self.limits.maximum_qos = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        self
    }

    /// Whether retained messages are supported (Retain Available); without them an MQTT 5 PUBLISH with
    /// retain gets DISCONNECT 0x9A. Defaults to `true` (not announced).
    pub fn retain_available(mut self, available: bool) -> Self {
        self.limits.retain_available = available;
        self
    }

    /// Whether filters with `+` or `#` are accepted (Wildcard Subscription Available); without them an
    /// MQTT 5 SUBACK refuses such a filter with 0xA2. Defaults to `true` (not announced).
    pub fn wildcard_subscription_available(mut self, available: bool) -> Self {
        self.limits.wildcard_subscription_available = available;
        self
    }

    /// Whether `$share/group/filter` subscriptions are accepted (Shared Subscription Available); without
    /// them an MQTT 5 SUBACK refuses one with 0x9E. Defaults to `true` (not announced).
    pub fn shared_subscription_available(mut self, available: bool) -> Self {
        self.limits.shared_subscription_available = available;
        self
    }

    /// Whether SUBSCRIBE may carry a Subscription Identifier (Subscription Identifier Available); without
    /// them an MQTT 5 SUBACK refuses the filters of a SUBSCRIBE that has one with 0xA1. Defaults to
    /// `true` (not announced).
    pub fn subscription_identifier_available(mut self, available: bool) -> Self {
        self.limits.subscription_identifier_available = available;
        self
    }

    /// Whether the broker sends topic aliases to MQTT 5 clients that accept them (a Topic Alias Maximum
    /// in their CONNECT): each connection's first PUBLISHes on a topic give it the next free alias, and
    /// later ones on that topic carry the alias and an empty topic. Defaults to `false`: no aliases sent.
    pub fn send_topic_aliases(mut self, send: bool) -> Self {
        self.limits.send_topic_aliases = send;
        self
    }

    /// Refuses every subscription to a filter that `filter` matches (read as a topic: `secret/#` refuses
    /// `secret/a`, `secret/+` and `secret/#`; `$share/group/` prefixes are looked through), as an
    /// access control list would: the SUBACK has 0x87 (Not authorized) for it on MQTT 5 and 0x80 on
    /// MQTT 3.1.1, and the other filters of the SUBSCRIBE are granted. May be called more than once.
    /// Defaults to refusing nothing.
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use pahoish::{Client, MQTTv5};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::builder().deny_subscriptions("secret/#").start()?;
    /// let (tx, rx) = mpsc::channel();
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.on_subscribe(move |_c, _u, _mid, codes, _p| {
    ///     let _ = tx.send(codes.iter().map(|c| c.value()).collect::<Vec<u8>>());
    /// });
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// client.subscribe([("open/a", 1), ("secret/a", 1)], 0)?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(5))?, [1, 0x87]);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deny_subscriptions(mut self, filter: &str) -> Self {
        self.limits.denied.push(filter.to_owned());
        self
    }

    /// MQTT 5 enhanced authentication: a CONNECT with an Authentication Method runs an exchange with
    /// an [`Authenticator`] that `make` returns (a new one per exchange): AUTH Continue authentication
    /// both ways until it decides, then CONNACK Success with the method and its data, or a refusing
    /// CONNACK with its reason code. An AUTH Re-authenticate (0x19) on the accepted connection runs
    /// one more, ending with AUTH Success (or DISCONNECT with the reason). Every AUTH must carry the
    /// CONNECT's method, and nothing but AUTH or DISCONNECT may come before the CONNACK: otherwise
    /// CONNACK (or DISCONNECT) 0x82, Protocol error. Without an authenticator, a CONNECT with a
    /// method gets CONNACK 0x8C, Bad authentication method. A CONNECT without a method is not
    /// affected (user name and password are checked as [`TestBroker::set_auth`] says, before
    /// either).
    ///
    /// ```
    /// use pahoish::testing::{AuthStep, TestBroker};
    /// use pahoish::{Client, MQTTv5};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// // Accepts a client that sends "pass" when asked.
    /// struct Ask(bool);
    /// impl pahoish::testing::Authenticator for Ask {
    ///     fn step(&mut self, _method: &str, data: &[u8]) -> AuthStep {
    ///         if !self.0 {
    ///             self.0 = true;
    ///             return AuthStep::Continue(b"say the word".to_vec());
    ///         }
    ///         if data == b"pass" { AuthStep::Success(b"welcome".to_vec()) } else { AuthStep::Fail(0x87) }
    ///     }
    /// }
    /// let broker = TestBroker::builder().authenticator(|| Ask(false)).start()?;
    ///
    /// let client = Client::builder().protocol(MQTTv5).reconnect_on_failure(false).build()?;
    /// client.auth_method_set("ASK", None)?;
    /// let (tx, rx) = mpsc::channel();
    /// client.on_auth(move |_c, _u, reason, data, _p| {
    ///     let _ = tx.send((reason.to_string(), data.to_vec()));
    ///     Ok(b"pass".to_vec())
    /// });
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// let first = rx.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(first, ("Continue authentication".to_string(), b"say the word".to_vec()));
    /// let last = rx.recv_timeout(Duration::from_secs(5))?; // the CONNACK
    /// assert_eq!(last, ("Success".to_string(), b"welcome".to_vec()));
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authenticator<A, F>(mut self, make: F) -> Self
    where
        A: Authenticator + 'static,
        F: Fn() -> A + Send + Sync + 'static,
    {
        self.limits.authenticator = Some(auth::AuthFactory::new(make));
        self
    }

    /// The most bytes the broker holds for one client (not an MQTT limit; mosquitto has
    /// `max_queued_bytes` and `max_queued_messages`). Defaults to 64 MiB. Two things are bounded by it:
    ///
    /// - what waits to be written to a connection (a subscriber that does not read): beyond it, QoS 0
    ///   messages for that client are dropped, and QoS 1/2 messages wait in its session's queue (in
    ///   order, sent again once it reads: at its next acknowledgement or the next message for it);
    /// - that queue (also the queue of an offline persistent session): a QoS 1/2 message that would
    ///   take it beyond the bound is dropped, as mosquitto drops messages beyond its limits. A message
    ///   larger than the bound goes in when the queue is empty;
    /// - the broker's answers to a client that sends and does not read (acknowledgements, PINGRESPs,
    ///   retained messages after SUBSCRIBE): while more than the bound waits for its writer, nothing more
    ///   is read from that client, so its packets stop counting for keepalive, which ends the
    ///   connection if it never reads.
    ///
    /// [`TestBroker::dropped_messages`] counts what was dropped.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::builder().max_queued_bytes(1 << 20).start()?;
    /// assert_eq!(broker.dropped_messages(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_queued_bytes = bytes;
        self
    }

    /// The most packets [`TestBroker::packets`] keeps, all client ids together: beyond it the oldest are
    /// forgotten, so a long test does not keep every payload. Defaults to 100,000; payloads are kept
    /// whole. `usize::MAX` keeps everything, 0 nothing.
    /// [`clear_packets`](TestBroker::clear_packets) empties the log at any time.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::builder().packet_log_limit(1000).start()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn packet_log_limit(mut self, packets: usize) -> Self {
        self.limits.packet_log_limit = packets;
        self
    }

    /// How long a new connection may take to send its whole CONNECT before it is closed. Defaults to 10
    /// seconds. It counts the whole packet, not its bytes: a client trickling its CONNECT a byte at a
    /// time is closed all the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// let broker = pahoish::testing::TestBroker::builder()
    ///     .connect_timeout(Duration::from_secs(2))
    ///     .start()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// Starts the broker, as [`TestBroker::start`] does.
    pub fn start(self) -> io::Result<TestBroker> {
        TestBroker::start_with(self.limits)
    }
}

/// A small working MQTT 3.1 / 3.1.1 / 5 broker listening on `127.0.0.1`, for tests of code that publishes
/// and subscribes, with hooks to observe and disturb it.
///
/// It is a real peer: QoS 0, 1 and 2 in both directions, clean and persistent sessions (QoS 1 and 2
/// messages queued for an offline persistent client), retained messages, `+` and `#` wildcards (which do
/// not match topics starting with `$`), will messages, keepalive enforcement, client id takeover, and a
/// retained `$SYS/broker/version`. Each connection speaks the protocol version of its CONNECT, and MQTT 5
/// clients get MQTT 5's features (see [MQTT 5](#mqtt-5) below). [`start`](TestBroker::start) runs it on
/// threads of its own; dropping it stops it and joins them; [`builder`](TestBroker::builder) starts one
/// with other MQTT 5 limits.
///
/// # Examples
///
/// A subscriber and a publisher, both [`Client`](crate::Client)s, talk through the broker:
///
/// ```
/// use pahoish::packet::Packet;
/// use pahoish::testing::{Direction, TestBroker};
/// use pahoish::Client;
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let broker = TestBroker::start()?;
///
/// let (tx, messages) = mpsc::channel();
/// let sub = Client::new("sub");
/// sub.on_message(move |_client, _userdata, msg| {
///     let _ = tx.send(msg.clone());
/// });
/// sub.connect("127.0.0.1", broker.port(), 60)?;
/// sub.loop_start()?;
/// sub.subscribe("sensors/+/temperature", 1)?;
/// // Publish only once the subscription is in place.
/// let suback = broker.wait_for_packet("sub", Duration::from_secs(5), |dir, p| {
///     dir == Direction::Sent && matches!(p, Packet::SubAck(_))
/// });
/// assert!(suback.is_some());
///
/// let publ = Client::new("pub");
/// publ.connect("127.0.0.1", broker.port(), 60)?;
/// publ.loop_start()?;
/// publ.publish("sensors/kitchen/temperature", "21.5", 1, false)?
///     .wait_for_publish(Some(Duration::from_secs(5)))?;
///
/// let msg = messages.recv_timeout(Duration::from_secs(5))?;
/// assert_eq!((msg.topic.as_str(), msg.payload_repr(), msg.qos), ("sensors/kitchen/temperature", "b'21.5'".to_string(), 1));
///
/// for client in [sub, publ] {
///     client.disconnect()?;
///     client.loop_stop()?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Behaviour
///
/// - CONNECT: protocol `MQTT` level 5 (5.0) and 4 (3.1.1) and `MQIsdp` level 3 (3.1) are accepted; another
///   level of either name gets CONNACK 1, another name a closed connection. An empty client id
///   gets CONNACK 2 with `clean_session` false or on MQTT 3.1, and an id of the form `auto-N` otherwise
///   (see [`connected_clients`](TestBroker::connected_clients)). With [`set_auth`](TestBroker::set_auth),
///   CONNACK 5 refuses a client without a user name and 4 a wrong user name or password.
/// - A second connection with a client id already connected takes it over: the old connection is closed
///   as if it had been cut, so its will is published.
/// - Sessions: a clean session ends with its connection. A persistent one keeps its subscriptions, the
///   QoS 1 and 2 messages in flight and those that arrive while the client is offline (QoS 0 ones are
///   not kept, as in mosquitto); on reconnect CONNACK says `session_present` (not on 3.1), then the
///   messages in flight are sent again (PUBLISH with DUP, or PUBREL) and the queued ones follow in order.
/// - Delivery: each message goes once to each session with a matching subscription, at the lower of its
///   QoS and the highest QoS granted to a matching filter, with `retain` cleared. There is no limit on
///   messages in flight. Incoming QoS 2 messages are delivered when their PUBREL arrives (as mosquitto
///   does), and a PUBLISH sent again before that is not delivered twice. Publishes to `$SYS/...` topics
///   from clients are acknowledged and dropped, as in mosquitto.
/// - Retained messages: a retained PUBLISH replaces the topic's retained message, or clears it when its
///   payload is empty (and is delivered to current subscribers either way). Each granted filter of a
///   SUBSCRIBE (even one already held) is sent the matching retained messages, flagged `retain`, after the
///   SUBACK.
/// - SUBACK grants the QoS requested (at most the [`maximum_qos`](TestBrokerBuilder::maximum_qos)), or
///   returns `0x80` for an invalid filter (`a/#/b`, `a+`) or one refused by
///   [`deny_subscriptions`](TestBrokerBuilder::deny_subscriptions).
/// - Will: published when a connection ends without DISCONNECT (the client closed it, the broker cut it
///   for a protocol error or a keepalive timeout, [`drop_client`](TestBroker::drop_client), or takeover);
///   not after a DISCONNECT, and not when the broker stops.
/// - Keepalive: a client with keepalive `k` that sends no whole packet for `1.5 * k` seconds is
///   disconnected. A connection that sends no whole CONNECT within 10 seconds (see
///   [`connect_timeout`](TestBrokerBuilder::connect_timeout)) is closed. Both count
///   packets, not bytes: a client trickling a byte now and then is closed all the same.
/// - Memory: a packet over [`maximum_packet_size`](TestBrokerBuilder::maximum_packet_size) (a CONNECT
///   over 1 MiB) is refused from its header; what is held for a client is bounded by
///   [`max_queued_bytes`](TestBrokerBuilder::max_queued_bytes) and the packet log by
///   [`packet_log_limit`](TestBrokerBuilder::packet_log_limit).
/// - Any malformed or out-of-order packet (a second CONNECT, a packet only a broker sends) closes that
///   connection; it never stops the broker.
///
/// # MQTT 5
///
/// What the list above says holds for MQTT 5 clients too, with these differences and additions:
///
/// - CONNACK carries the limits set with [`TestBrokerBuilder`] that differ from MQTT 5's defaults (by
///   default only Topic Alias Maximum 10), and Assigned Client Identifier (`auto-N`) for an empty client
///   id, which is never refused, and Response Information `response/<client id>` to a client that sets
///   Request Response Information. Refusals are 0x87 (no user name) and 0x86 (bad user name or
///   password).
/// - Sessions: Clean Start 1 discards the session kept for the client id, 0 resumes it (session present).
///   The Session Expiry Interval of CONNECT (or of the client's DISCONNECT) says how long the session
///   outlives its connection: 0 (the default) not at all, `0xFFFFFFFF` for ever. The client's Receive
///   Maximum limits the QoS 1 and 2 messages in flight to it (the rest wait in order), and a message
///   whose PUBLISH would exceed its Maximum Packet Size is not sent to it.
/// - Reason codes: SUBACK per filter (the QoS granted; 0x8F invalid filter, 0xA2 wildcards, 0x9E shared
///   subscriptions or 0xA1 subscription identifiers not supported, 0x87 for a filter refused by
///   [`deny_subscriptions`](TestBrokerBuilder::deny_subscriptions)); UNSUBACK 0x00, or 0x11 for a filter
///   that was not subscribed; PUBACK and PUBREC 0x10 when no subscription matches.
/// - Subscription options: No Local (the client's own messages are not sent back), Retain As Published
///   (delivered messages keep their retain flag), Retain Handling 0 (retained messages on every
///   SUBSCRIBE), 1 (only for a new subscription), 2 (never). The Subscription Identifier of a SUBSCRIBE
///   comes back in the PUBLISHes it matches (all of them, when several subscriptions match).
/// - Shared subscriptions `$share/group/filter`: each message goes to one member of the group, in turn
///   (the connected ones, when any is), and no retained messages are sent for them.
/// - Messages keep their properties (user properties, content type, payload format, response topic,
///   correlation data); their Message Expiry Interval is counted down while they wait, and an expired
///   message is not sent (nor kept retained). A 3.1.1 subscriber gets the same messages without
///   properties.
/// - Wills keep their properties; a Will Delay Interval delays the will (at most until the session
///   expires), and a reconnect of the client within it cancels it. DISCONNECT with reason 0x04 publishes
///   the will.
/// - Topic aliases from the client are resolved (up to the Topic Alias Maximum); the broker sends none
///   unless [`send_topic_aliases`](TestBrokerBuilder::send_topic_aliases) asks.
/// - A packet the broker refuses (an invalid one, an unknown or too high topic alias, a limit exceeded)
///   gets a DISCONNECT with the reason code before the connection is closed, as does a connection taken
///   over by another with its client id (0x8E) and one silent beyond its keepalive (0x8D).
///   [`disconnect_client`](TestBroker::disconnect_client) sends one with the reason a test chooses.
///
/// # Threads and locks
///
/// Every method takes the broker's one lock briefly; none blocks on the network. The `wait_*` methods wait
/// on a condition variable, at most the time they are given.
pub struct TestBroker {
    addr: SocketAddr,
    shared: Arc<BrokerShared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestBroker {
    /// Starts a broker listening on `127.0.0.1` on a port the system picks, running on threads of its own.
    ///
    /// Fails when the system refuses to listen on loopback or to start a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// assert_ne!(broker.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start() -> io::Result<TestBroker> {
        TestBroker::builder().start()
    }

    /// A [`TestBrokerBuilder`], to start a broker with other MQTT 5 limits than the defaults.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::builder().topic_alias_maximum(5).start()?;
    /// assert_ne!(broker.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> TestBrokerBuilder {
        TestBrokerBuilder::default()
    }

    fn start_with(limits: Limits) -> io::Result<TestBroker> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let mut state = BrokerState {
            limits,
            ..BrokerState::default()
        };
        state.wire.max_queued_bytes = state.limits.max_queued_bytes;
        state.wire.log.limit = state.limits.packet_log_limit;
        state.retained.insert(
            VERSION_TOPIC.to_owned(),
            Retained {
                payload: format!("pahoish TestBroker {}", env!("CARGO_PKG_VERSION")).into_bytes(),
                qos: QoS::AtMostOnce,
                properties: Properties::new(PacketTypes::PUBLISH),
                expires_at: None,
            },
        );
        let shared = Arc::new(BrokerShared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            port: addr.port(),
        });
        let for_timer = Arc::clone(&shared);
        let timer = thread::Builder::new()
            .name(format!("tb-{}-timer", addr.port()))
            .spawn(move || timer_loop(for_timer))?;
        shared
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(timer);
        let for_acceptor = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("tb-{}-accept", addr.port()))
            .spawn(move || accept_loop(listener, for_acceptor));
        let acceptor = match acceptor {
            Ok(a) => a,
            Err(e) => {
                // Stops the timer (dropping a broker without an acceptor).
                drop(TestBroker {
                    addr,
                    shared,
                    acceptor: None,
                });
                return Err(e);
            }
        };
        Ok(TestBroker {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The port the broker listens on (on `127.0.0.1`).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// let client = pahoish::Client::new("");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the broker listens on: `127.0.0.1` and [`port`](TestBroker::port).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// assert!(broker.addr().ip().is_loopback());
    /// std::net::TcpStream::connect(broker.addr())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker's address as a URL: `mqtt://127.0.0.1:PORT`.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// Every packet the broker received from and sent to connections of `client_id`, in order, since the
    /// broker started (or since [`clear_packets`](TestBroker::clear_packets)), across reconnects; of
    /// the last [`packet_log_limit`](TestBrokerBuilder::packet_log_limit) packets (100,000 by
    /// default) of all client ids, the older ones forgotten.
    ///
    /// A CONNECT is logged under the client id it carries, or under the id the broker assigned for an
    /// empty one; the packets of a connection refused before it has an id (CONNACK 1 or 2) are logged
    /// under `""`. Packets are logged when the broker handles or sends them.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::packet::{ConnAck, Disconnect, Packet};
    /// use pahoish::testing::{Direction, TestBroker};
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("logged");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("logged", Duration::from_secs(5)));
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// assert!(broker.wait_disconnected("logged", Duration::from_secs(5)));
    ///
    /// let log = broker.packets("logged");
    /// assert!(matches!(&log[0], (Direction::Received, Packet::Connect(c)) if c.client_id == "logged"));
    /// assert_eq!(log[1], (Direction::Sent, Packet::ConnAck(ConnAck::default())));
    /// assert_eq!(log[2], (Direction::Received, Packet::Disconnect(Disconnect::default())));
    /// assert_eq!(log.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn packets(&self, client_id: &str) -> Vec<(Direction, Packet)> {
        self.shared.lock().wire.log.get(client_id).to_vec()
    }

    /// How many messages the broker dropped because a client's queue was full (see
    /// [`TestBrokerBuilder::max_queued_bytes`]).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// assert_eq!(broker.dropped_messages(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dropped_messages(&self) -> u64 {
        self.shared.lock().wire.dropped
    }

    /// Forgets the packets logged so far for every client id (see [`packets`](TestBroker::packets)).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// broker.clear_packets();
    /// assert!(broker.packets("anyone").is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn clear_packets(&self) {
        self.shared.lock().wire.log.clear();
    }

    /// Cuts the connection of `client_id` without a DISCONNECT, as a network failure would: the client
    /// reads an end of stream, and the broker publishes its will. Returns whether that client was
    /// connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let (tx, lost) = mpsc::channel();
    /// let client = pahoish::Client::builder()
    ///     .client_id("fragile")
    ///     .reconnect_on_failure(false)
    ///     .build()?;
    /// client.on_disconnect(move |_c, _u, _flags, rc, _p| {
    ///     let _ = tx.send(rc);
    /// });
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("fragile", Duration::from_secs(5)));
    ///
    /// assert!(broker.drop_client("fragile"));
    /// let rc = lost.recv_timeout(Duration::from_secs(5))?;
    /// assert!(rc.is_failure()); // not a normal disconnection
    /// assert!(!broker.drop_client("fragile"));
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_client(&self, client_id: &str) -> bool {
        let conn = {
            let mut st = self.shared.lock();
            let conn = st.sessions.get(client_id).and_then(|s| s.conn);
            if let Some(conn) = conn {
                st.cut(conn, "dropped by TestBroker::drop_client");
            }
            conn
        };
        self.shared.changed.notify_all();
        conn.is_some()
    }

    /// Ends the connection of `client_id` with a DISCONNECT from the broker carrying `reason` and
    /// `properties` (MQTT 5; a 3.1.1 client, which has no such packet, has its connection cut as by
    /// [`drop_client`](TestBroker::drop_client)). The will is published, as for a connection the broker
    /// ends. Returns whether that client was connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use pahoish::{Client, PacketTypes, Properties, MQTTv5};
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let (tx, rx) = mpsc::channel();
    /// let client = Client::builder().client_id("kicked").protocol(MQTTv5).reconnect_on_failure(false).build()?;
    /// client.on_disconnect(move |_c, _u, _flags, rc, _p| {
    ///     let _ = tx.send(rc.value());
    /// });
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("kicked", Duration::from_secs(5)));
    /// // 0x8B: Server shutting down.
    /// assert!(broker.disconnect_client("kicked", 0x8B, Properties::new(PacketTypes::DISCONNECT)));
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(5))?, 0x8B);
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn disconnect_client(&self, client_id: &str, reason: u8, properties: Properties) -> bool {
        let conn = {
            let mut st = self.shared.lock();
            let conn = st.sessions.get(client_id).and_then(|s| s.conn);
            if let Some(conn) = conn {
                st.disconnect(
                    conn,
                    client_id,
                    reason,
                    properties,
                    "disconnected by TestBroker::disconnect_client",
                );
            }
            conn
        };
        self.shared.changed.notify_all();
        conn.is_some()
    }

    /// Sends `packet` to the connection of `client_id`, encoded in the protocol version of that
    /// connection, as if the broker had sent it (it is logged as sent); the broker's own state does not
    /// change. For testing how a client handles a packet the broker would not send by itself. Returns
    /// whether that client was connected.
    ///
    /// ```
    /// use pahoish::packet::Packet;
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("pinged");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("pinged", Duration::from_secs(5)));
    /// assert!(broker.send_packet("pinged", Packet::PingResp)); // unasked for
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_packet(&self, client_id: &str, packet: Packet) -> bool {
        self.shared.update(|st| {
            let conn = st.sessions.get(client_id).and_then(|s| s.conn);
            if let Some(conn) = conn {
                st.wire.send(conn, client_id, packet);
            }
            conn.is_some()
        })
    }

    /// Sends `bytes` as they are to the connection of `client_id` (not logged: they need not be a
    /// packet). Returns whether that client was connected.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// assert!(!broker.send_raw("nobody", &[0xd0, 0x00]));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_raw(&self, client_id: &str, bytes: &[u8]) -> bool {
        let st = self.shared.lock();
        let out = st
            .sessions
            .get(client_id)
            .and_then(|s| s.conn)
            .and_then(|conn| st.wire.conns.get(&conn))
            .and_then(|c| c.out.as_ref());
        match out {
            Some(out) => out.send(bytes.to_vec()).is_ok(),
            None => false,
        }
    }

    /// Requires every new connection to authenticate with this user name and password. A client without
    /// a user name then gets CONNACK 5 (not authorised), one with another user name or password CONNACK 4
    /// (bad user name or password). Clients already connected stay connected. Defaults to no
    /// authentication.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// broker.set_auth("alice", "secret");
    ///
    /// // The reason code on_connect reports (Paho's name for the CONNACK code).
    /// let connect = |password: &str| -> Result<String, Box<dyn std::error::Error>> {
    ///     let (tx, rx) = mpsc::channel();
    ///     let client = pahoish::Client::builder().reconnect_on_failure(false).build()?;
    ///     client.username_pw_set("alice", Some(password))?;
    ///     client.on_connect(move |_c, _u, _f, rc, _p| {
    ///         let _ = tx.send(rc.to_string());
    ///     });
    ///     client.connect("127.0.0.1", broker.port(), 60)?;
    ///     client.loop_start()?;
    ///     let rc = rx.recv_timeout(Duration::from_secs(5))?;
    ///     let _ = client.disconnect();
    ///     client.loop_stop()?;
    ///     Ok(rc)
    /// };
    /// assert_eq!(connect("secret")?, "Success");
    /// assert_eq!(connect("guess")?, "Bad user name or password"); // CONNACK 4
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_auth(&self, username: &str, password: &str) {
        self.shared.lock().auth = Some((username.to_owned(), password.as_bytes().to_vec()));
    }

    /// Accepts new connections without credentials again, as before [`set_auth`](TestBroker::set_auth).
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// broker.set_auth("alice", "secret");
    /// broker.clear_auth();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn clear_auth(&self) {
        self.shared.lock().auth = None;
    }

    /// Stops answering: from the time this returns the broker handles no packet from any client (not even
    /// PINGREQ or CONNECT) and sends nothing new, until [`resume`](TestBroker::resume). Connections stay
    /// open and what clients send waits unread. The broker's own keepalive clock stops too: no client is
    /// disconnected for its silence while paused, and one whose keepalive period ran out meanwhile gets a
    /// whole new period after `resume`. For testing a client's keepalive handling.
    ///
    /// # Examples
    ///
    /// A client with a 1 second keepalive gives up on a broker that does not answer its PINGREQ:
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let (tx, lost) = mpsc::channel();
    /// let client = pahoish::Client::builder()
    ///     .client_id("sleepy")
    ///     .reconnect_on_failure(false)
    ///     .build()?;
    /// client.on_disconnect(move |_c, _u, _flags, rc, _p| {
    ///     let _ = tx.send(rc.to_string());
    /// });
    /// client.connect("127.0.0.1", broker.port(), 1)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("sleepy", Duration::from_secs(5)));
    ///
    /// broker.pause();
    /// assert_eq!(lost.recv_timeout(Duration::from_secs(10))?, "Keep alive timeout");
    /// broker.resume();
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pause(&self) {
        self.shared.lock().paused = true;
        self.shared.changed.notify_all();
    }

    /// Answers again after [`pause`](TestBroker::pause): the packets clients sent meanwhile are handled in
    /// order.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// broker.pause();
    /// broker.resume();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resume(&self) {
        self.shared.lock().paused = false;
        self.shared.changed.notify_all();
    }

    /// The retained messages, as `(topic, payload, qos)` sorted by topic. `$SYS/broker/version` is always
    /// there, with the payload `pahoish TestBroker <crate version>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let version = format!("pahoish TestBroker {}", env!("CARGO_PKG_VERSION"));
    /// assert_eq!(broker.retained(), vec![("$SYS/broker/version".to_string(), version.into_bytes(), 0)]);
    ///
    /// let client = pahoish::Client::new("");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// client.publish("home/door", "open", 1, true)?.wait_for_publish(Some(Duration::from_secs(5)))?;
    /// assert_eq!(broker.retained()[1], ("home/door".to_string(), b"open".to_vec(), 1));
    ///
    /// // An empty retained payload clears the topic.
    /// client.publish("home/door", (), 1, true)?.wait_for_publish(Some(Duration::from_secs(5)))?;
    /// assert_eq!(broker.retained().len(), 1);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retained(&self) -> Vec<(String, Vec<u8>, u8)> {
        self.shared
            .lock()
            .retained
            .iter()
            .map(|(topic, r)| (topic.clone(), r.payload.clone(), r.qos as u8))
            .collect()
    }

    /// The client ids connected right now (CONNECT accepted, connection not yet ended), sorted. Ids the
    /// broker assigned to clients that sent an empty one appear as `auto-N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("auto-1", Duration::from_secs(5)));
    /// assert_eq!(broker.connected_clients(), ["auto-1"]);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connected_clients(&self) -> Vec<String> {
        let st = self.shared.lock();
        let mut ids: Vec<String> = st
            .sessions
            .iter()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Whether the broker holds a session for `client_id`: a connected client's, or a persistent one
    /// kept while its client is offline.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::builder().client_id("keeper").clean_session(false).build()?;
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// assert!(broker.wait_connected("keeper", Duration::from_secs(5)));
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// assert!(broker.wait_disconnected("keeper", Duration::from_secs(5)));
    /// assert!(broker.has_session("keeper"));
    /// assert!(!broker.has_session("stranger"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_session(&self, client_id: &str) -> bool {
        self.shared.lock().sessions.contains_key(client_id)
    }

    /// The subscriptions of `client_id`'s session as `(filter, granted qos)`, in the order they were first
    /// made; empty when there is no session.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("subscriber");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// client.subscribe([("a/#", 1), ("b/+", 2)], 0)?;
    /// let suback = broker.wait_for_packet("subscriber", Duration::from_secs(5), |_, p| {
    ///     matches!(p, pahoish::packet::Packet::SubAck(_))
    /// });
    /// assert!(suback.is_some());
    /// assert_eq!(broker.subscriptions("subscriber"), [("a/#".to_string(), 1), ("b/+".to_string(), 2)]);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscriptions(&self, client_id: &str) -> Vec<(String, u8)> {
        self.shared
            .lock()
            .sessions
            .get(client_id)
            .map(|s| {
                s.subs
                    .iter()
                    .map(|sub| (sub.filter.clone(), sub.options.qos as u8))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until a client with `client_id` is connected, at most `timeout`; returns whether it is.
    ///
    /// See [`packets`](TestBroker::packets) for an example.
    pub fn wait_connected(&self, client_id: &str, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| {
                st.sessions
                    .get(client_id)
                    .is_some_and(|s| s.conn.is_some())
                    .then_some(())
            })
            .is_some()
    }

    /// Waits until no client with `client_id` is connected (the broker has handled its DISCONNECT or
    /// noticed the connection end), at most `timeout`; returns whether none is. True at once for an id
    /// that never connected.
    ///
    /// See [`packets`](TestBroker::packets) for an example.
    pub fn wait_disconnected(&self, client_id: &str, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |st| {
                st.sessions
                    .get(client_id)
                    .is_none_or(|s| s.conn.is_none())
                    .then_some(())
            })
            .is_some()
    }

    /// Waits until the log of `client_id` (see [`packets`](TestBroker::packets)) holds a packet for which
    /// `matches(direction, packet)` is true, at most `timeout`, and returns the first such packet. Packets
    /// logged before the call count; [`clear_packets`](TestBroker::clear_packets) forgets them.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::packet::Packet;
    /// use pahoish::testing::{Direction, TestBroker};
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("pinger");
    /// client.connect("127.0.0.1", broker.port(), 1)?;
    /// client.loop_start()?;
    /// // A client with a 1 s keepalive pings an idle broker within about a second.
    /// let ping = broker.wait_for_packet("pinger", Duration::from_secs(5), |dir, p| {
    ///     dir == Direction::Received && *p == Packet::PingReq
    /// });
    /// assert_eq!(ping, Some(Packet::PingReq));
    /// assert_eq!(broker.wait_for_packet("pinger", Duration::from_millis(1), |_, p| matches!(p, Packet::Disconnect(_))), None);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_packet(
        &self,
        client_id: &str,
        timeout: Duration,
        mut matches: impl FnMut(Direction, &Packet) -> bool,
    ) -> Option<Packet> {
        self.shared.wait_until(timeout, |st| {
            st.wire
                .log
                .get(client_id)
                .iter()
                .find(|(dir, p)| matches(*dir, p))
                .map(|(_, p)| p.clone())
        })
    }

    /// Waits until `ready` returns true for the log of `client_id` (see [`packets`](TestBroker::packets)),
    /// at most `timeout`; returns whether it did. `ready` is called with the whole log each time it grows,
    /// so it can count packets or look at their order.
    ///
    /// # Examples
    ///
    /// Wait for the second SUBACK a client was sent:
    ///
    /// ```
    /// use pahoish::packet::Packet;
    /// use pahoish::testing::TestBroker;
    /// use std::time::Duration;
    ///
    /// let broker = TestBroker::start()?;
    /// let client = pahoish::Client::new("twice");
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// client.subscribe("a", 0)?;
    /// client.subscribe("b", 0)?;
    /// let two_subacks = broker.wait_for_packets("twice", Duration::from_secs(5), |log| {
    ///     log.iter().filter(|(_, p)| matches!(p, Packet::SubAck(_))).count() == 2
    /// });
    /// assert!(two_subacks);
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_packets(
        &self,
        client_id: &str,
        timeout: Duration,
        mut ready: impl FnMut(&[(Direction, Packet)]) -> bool,
    ) -> bool {
        self.shared
            .wait_until(timeout, |st| {
                ready(st.wire.log.get(client_id)).then_some(())
            })
            .is_some()
    }

    /// Stops the broker: the same as dropping it, spelled out. Every connection is closed (without
    /// publishing wills) and every thread of the broker has ended when this returns.
    ///
    /// ```
    /// let broker = pahoish::testing::TestBroker::start()?;
    /// let addr = broker.addr();
    /// broker.stop();
    /// assert!(std::net::TcpStream::connect(addr).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(self) {}
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.stopping = true;
            st.timer_wake.notify_all();
            // Ends blocked reads (the reader threads then see an end of stream) and writes.
            for conn in st.wire.conns.values() {
                let _ = conn.stream.shutdown(Shutdown::Both);
            }
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        // The acceptor blocks in accept(), which std can neither time out nor cancel: a connection of our
        // own wakes it to see the flag. The listener is alive until the acceptor returns, so this connect
        // lands in its backlog at once.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // The acceptor is gone, so no connection thread starts after this.
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}

impl fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("TestBroker")
            .field("addr", &self.addr)
            .field("connections", &st.wire.conns.len())
            .field("sessions", &st.sessions.len())
            .field("retained", &st.retained.len())
            .field("paused", &st.paused)
            .finish_non_exhaustive()
    }
}
