//! One-call publishing, as Paho's `paho.mqtt.publish` module: [`single`] and [`multiple`].
//!
//! Each call connects, publishes, waits until every message is published (QoS 0 written to the socket,
//! QoS 1 acknowledged by PUBACK, QoS 2 by PUBCOMP), disconnects cleanly and returns. The connection
//! settings are an [`Options`] value, shared with the [`subscribe`](crate::subscribe) helpers; build it
//! with `..Default::default()` for the fields you leave alone.
//!
//! ```no_run
//! use pahoish as mqtt;
//! use mqtt::publish::Options;
//!
//! let options = Options { hostname: "broker.example".into(), ..Default::default() };
//! mqtt::publish::single("sensors/7/temperature", 21.5, 1, false, &options)?;
//! mqtt::publish::multiple(
//!     [("sensors/7/status", "online", 1, true), ("sensors/7/humidity", "40", 0, false)],
//!     &options,
//! )?;
//! # Ok::<(), mqtt::Error>(())
//! ```
//!
//! # How long the helpers wait
//!
//! Paho's helpers wait forever. These give up when the broker makes no progress for
//! [`Options::ack_timeout`]: twice the keepalive (120 s with the default keepalive of 60, and also when
//! keepalive is 0). Progress is an accepted CONNACK, a published message or a SUBACK, so a long batch to
//! a slow but working broker never times out. Meanwhile a lost connection is re-established with the
//! client's backoff (1 s doubling to 120 s): unacknowledged QoS 1/2 messages are sent again with DUP
//! set, and QoS 0 messages the connection took with it unwritten are published again on the new one.
//! A timeout is an [`Error::Io`] of kind [`TimedOut`](std::io::ErrorKind::TimedOut) whose text says
//! how many messages were left and the last problem seen (a failed reconnect, say).
//!
//! # Shared with `subscribe`
//!
//! The connection logic lives here once for both modules: `Connection` builds a client from the
//! options, runs its loop on a `loop_start` thread, and turns callbacks into events the calling thread
//! reads from a channel, so the helper's own logic is plain sequential code on the caller's thread.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::callbacks::LogLevel;
use crate::client::{relock, Client};
use crate::error::{Error, Result};
use crate::message::{Message, MessageInfo, Payload};
use crate::options::{IntoQos, Transport};
pub use crate::options::{Proxy, ProxyType};
use crate::packet::{Protocol, Publish, QoS, MAX_REMAINING_LENGTH};
use crate::reason::ReasonCode;
use crate::topic::validate_topic;

/// Connection settings for the [`publish`](self) and [`subscribe`](crate::subscribe) helpers: Paho's
/// keyword arguments `hostname=`, `port=`, `client_id=`, `keepalive=`, `will=`, `auth=`, `tls=`,
/// `protocol=`, `transport=`, `proxy_args=`.
///
/// Every field states its default; write the ones you change and end with `..Default::default()`.
/// `tls`, `proxy` and a `transport` other than TCP arrive with issue #3 (TLS and websockets) and
/// MQTT 5 later: until then a helper given them fails with [`Error::NotSupported`] before connecting,
/// rather than silently connecting without them.
///
/// ```
/// use pahoish::publish::{Auth, Options, Will};
///
/// let options = Options {
///     hostname: "broker.example".into(),
///     client_id: "sensor-7".into(),
///     auth: Some(Auth::new("sensor-7", Some("secret"))),
///     will: Some(Will::new("sensors/7/status", "offline", 1, true)),
///     ..Default::default()
/// };
/// assert_eq!((options.port, options.keepalive), (1883, 60));
/// assert_eq!(options.protocol, pahoish::MQTTv311);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The broker's host name or address. Defaults to `"localhost"`.
    pub hostname: String,
    /// The broker's port. Defaults to 1883.
    pub port: u16,
    /// The client id. Defaults to `""`: on MQTT 3.1.1 the broker assigns one; on MQTT 3.1 a random id is
    /// generated, as Paho does.
    pub client_id: String,
    /// The keepalive interval in seconds (0 turns keepalive off). Defaults to 60. Also sets how long the
    /// helpers wait without progress: see [`Options::ack_timeout`].
    pub keepalive: u16,
    /// The will the broker publishes if the connection drops without DISCONNECT. Defaults to `None`.
    pub will: Option<Will>,
    /// User name and password. Defaults to `None`.
    pub auth: Option<Auth>,
    /// TLS settings. Defaults to `None`. Not supported yet (issue #3): `Some` is refused with
    /// [`Error::NotSupported`].
    pub tls: Option<Tls>,
    /// The protocol version. Defaults to [`MQTTv311`](crate::MQTTv311); [`MQTTv31`](crate::MQTTv31) works
    /// too, [`MQTTv5`](crate::MQTTv5) is refused with [`Error::NotSupported`].
    pub protocol: Protocol,
    /// The transport. Defaults to [`Transport::Tcp`]; websockets and Unix sockets arrive with issue #3
    /// and are refused with [`Error::NotSupported`] until then.
    pub transport: Transport,
    /// A proxy to connect through (Paho's `proxy_args`). Defaults to `None`. Not supported yet (issue
    /// #3): `Some` is refused with [`Error::NotSupported`].
    pub proxy: Option<Proxy>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hostname: "localhost".into(),
            port: 1883,
            client_id: String::new(),
            keepalive: 60,
            will: None,
            auth: None,
            tls: None,
            protocol: Protocol::V311,
            transport: Transport::Tcp,
            proxy: None,
        }
    }
}

impl Options {
    /// How long a helper waits for the broker to make progress (accept the connection, acknowledge a
    /// message or a subscription) before it gives up: twice [`keepalive`](Options::keepalive), or 120
    /// seconds when keepalive is 0. Every bit of progress starts the wait afresh.
    ///
    /// ```
    /// use pahoish::publish::Options;
    /// use std::time::Duration;
    ///
    /// assert_eq!(Options::default().ack_timeout(), Duration::from_secs(120));
    /// let quick = Options { keepalive: 5, ..Default::default() };
    /// assert_eq!(quick.ack_timeout(), Duration::from_secs(10));
    /// ```
    pub fn ack_timeout(&self) -> Duration {
        let keepalive = if self.keepalive == 0 {
            60
        } else {
            self.keepalive
        };
        Duration::from_secs(2 * u64::from(keepalive))
    }

    /// Refuses what this version cannot do, naming the option and when it arrives.
    fn check_supported(&self) -> Result<()> {
        let refuse = |what: &str| Err(Error::NotSupported(format!("{what} arrives with issue #3")));
        if self.tls.is_some() {
            return refuse("TLS (Options::tls)");
        }
        if self.proxy.is_some() {
            return refuse("connecting through a proxy (Options::proxy)");
        }
        match self.transport {
            Transport::Tcp => {}
            Transport::Websockets => return refuse("the websockets transport"),
            Transport::Unix => return refuse("the Unix socket transport"),
        }
        if self.protocol == Protocol::V5 {
            return Err(Error::NotSupported(
                "MQTT 5 (MQTTv5) is not supported yet: use MQTTv311 or MQTTv31".into(),
            ));
        }
        Ok(())
    }
}

/// The will of [`Options::will`] (Paho's `will={'topic': ..., 'payload': ..., 'qos': ..., 'retain': ...}`).
///
/// The topic and QoS are checked when a helper connects, as `will_set` checks them.
///
/// ```
/// use pahoish::publish::Will;
///
/// let will = Will::new("sensors/7/status", "offline", 1, true);
/// assert_eq!(will.payload, b"offline");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// The topic the will is published to (no wildcards).
    pub topic: String,
    /// The will message; may be empty.
    pub payload: Vec<u8>,
    /// Its QoS: 0, 1 or 2.
    pub qos: u8,
    /// Whether the broker retains it.
    pub retain: bool,
}

impl Will {
    /// A will; `payload` takes what `publish` takes (text, bytes, numbers, `()`).
    ///
    /// ```
    /// let will = pahoish::publish::Will::new("status", (), 0, false);
    /// assert!(will.payload.is_empty());
    /// ```
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Payload>,
        qos: u8,
        retain: bool,
    ) -> Will {
        Will {
            topic: topic.into(),
            payload: payload.into().into_bytes(),
            qos,
            retain,
        }
    }
}

/// The credentials of [`Options::auth`] (Paho's `auth={'username': ..., 'password': ...}`).
///
/// ```
/// use pahoish::publish::Auth;
///
/// let auth = Auth::new("guest", None);
/// assert_eq!((auth.username.as_str(), auth.password), ("guest", None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The user name.
    pub username: String,
    /// The password, if any.
    pub password: Option<String>,
}

impl Auth {
    /// User name and optional password.
    ///
    /// ```
    /// let auth = pahoish::publish::Auth::new("bob", Some("secret"));
    /// assert_eq!(auth.password.as_deref(), Some("secret"));
    /// ```
    pub fn new(username: impl Into<String>, password: Option<&str>) -> Auth {
        Auth {
            username: username.into(),
            password: password.map(str::to_owned),
        }
    }
}

/// The TLS settings of [`Options::tls`], with the keys of Paho's `tls={...}` dictionary.
///
/// Not supported yet: TLS arrives with issue #3, and until then a helper given `tls: Some(..)` fails
/// with [`Error::NotSupported`] instead of connecting in the clear.
///
/// ```
/// use pahoish::publish::{self, Options, Tls};
///
/// let options = Options {
///     tls: Some(Tls { ca_certs: Some("/etc/ssl/ca.pem".into()), ..Default::default() }),
///     ..Default::default()
/// };
/// let err = publish::single("a/b", "x", 0, false, &options).unwrap_err();
/// assert!(matches!(err, pahoish::Error::NotSupported(_)));
/// assert!(err.to_string().contains("issue #3"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// CA certificates to trust (`ca_certs`).
    pub ca_certs: Option<PathBuf>,
    /// The client certificate (`certfile`).
    pub certfile: Option<PathBuf>,
    /// The client certificate's private key (`keyfile`).
    pub keyfile: Option<PathBuf>,
    /// The TLS version (`tls_version`).
    pub tls_version: Option<String>,
    /// The allowed ciphers (`ciphers`).
    pub ciphers: Option<String>,
    /// Skip the check that the certificate names the host (`insecure`).
    pub insecure: bool,
}

/// One message for [`multiple`]: a `(topic, payload, qos, retain)` tuple, as in Paho, or a [`Message`].
///
/// The tuple takes what [`Client::publish`] takes: a `&str` or `String` topic, any [`Payload`] (text,
/// bytes, numbers, `()`), the QoS as an integer or [`QoS`].
///
/// ```
/// use pahoish::publish::IntoMessage;
///
/// let m = ("a/b", 21.5, 1, true).into_message()?;
/// assert_eq!((m.topic.as_str(), m.payload.as_slice(), m.qos, m.retain), ("a/b", &b"21.5"[..], 1, true));
/// assert!(("a/b", "x", 3, false).into_message().is_err());
/// let m = pahoish::Message::new("c", "d", 0, false).into_message()?;
/// assert_eq!(m.topic, "c");
/// # Ok::<(), pahoish::Error>(())
/// ```
pub trait IntoMessage {
    /// The message, or [`Error::InvalidQos`] for a QoS other than 0, 1, 2.
    fn into_message(self) -> Result<Message>;
}

impl IntoMessage for Message {
    fn into_message(self) -> Result<Message> {
        self.qos.into_qos()?;
        Ok(self)
    }
}

impl IntoMessage for &Message {
    fn into_message(self) -> Result<Message> {
        self.clone().into_message()
    }
}

impl<T, P, Q> IntoMessage for (T, P, Q, bool)
where
    T: AsRef<str>,
    P: Into<Payload>,
    Q: IntoQos,
{
    fn into_message(self) -> Result<Message> {
        let (topic, payload, qos, retain) = self;
        let qos = qos.into_qos()?;
        Ok(Message::new(topic.as_ref(), payload, qos as u8, retain))
    }
}

/// Publishes one message and disconnects (Paho's `publish.single`).
///
/// The same as [`multiple`] with one message: it returns once the message is published (QoS 0 written,
/// QoS 1 acknowledged, QoS 2 completed), and fails as `multiple` fails.
///
/// ```no_run
/// use pahoish::publish::{self, Options};
///
/// publish::single("paho/test/single", "boo", 0, false, &Options::default())?;
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn single(
    topic: &str,
    payload: impl Into<Payload>,
    qos: impl IntoQos,
    retain: bool,
    options: &Options,
) -> Result<()> {
    multiple([(topic, payload, qos, retain)], options)
}

/// Publishes every message in `msgs`, in order, then disconnects (Paho's `publish.multiple`).
///
/// `msgs` is any list or iterator of `(topic, payload, qos, retain)` tuples or [`Message`]s (see
/// [`IntoMessage`]). The call connects, publishes them all after the broker accepts the connection,
/// waits until each is published (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP), sends DISCONNECT and
/// returns. A lost connection is re-established and nothing is given up on (see the
/// [module docs](self#how-long-the-helpers-wait)).
///
/// Every message is checked before anything is sent, so a bad one does not leave half a batch
/// published. Fails:
/// - for an empty `msgs` ([`Error::InvalidArgument`]), an invalid topic, QoS or payload size;
/// - for options this version does not support ([`Error::NotSupported`]);
/// - when the first connection cannot be made (the I/O error, for instance "Connection refused");
/// - when the broker refuses the connection: [`Error::ConnectionRefused`] with the CONNACK code, whose
///   text is Paho's `connack_string` (`"Connection Refused: not authorised."`);
/// - when the broker makes no progress for [`Options::ack_timeout`] (an [`Error::Io`] of kind
///   `TimedOut`).
///
/// ```
/// use pahoish::publish::{self, Options};
///
/// let none: Vec<(&str, &str, i32, bool)> = Vec::new();
/// let err = publish::multiple(none, &Options::default()).unwrap_err();
/// assert!(err.to_string().contains("no messages"));
/// ```
///
/// ```no_run
/// use pahoish::publish::{self, Options};
///
/// let msgs = vec![("paho/test/multiple", "multiple 1", 0, false), ("paho/test/multiple", "multiple 2", 0, false)];
/// publish::multiple(msgs, &Options::default())?;
/// # Ok::<(), pahoish::Error>(())
/// ```
pub fn multiple<I>(msgs: I, options: &Options) -> Result<()>
where
    I: IntoIterator,
    I::Item: IntoMessage,
{
    let msgs: Vec<Message> = msgs
        .into_iter()
        .map(IntoMessage::into_message)
        .collect::<Result<_>>()?;
    if msgs.is_empty() {
        return Err(Error::invalid(
            "msgs",
            "there are no messages to publish: the list is empty",
        ));
    }
    for m in &msgs {
        validate_topic(&m.topic)?;
        let qos = m.qos.into_qos()?;
        if Publish::parts_remaining_length(m.topic.len(), qos, m.payload.len())
            > MAX_REMAINING_LENGTH
        {
            return Err(Error::PayloadTooLarge(m.payload.len()));
        }
    }
    let mut conn = Connection::open(options, None)?;
    let mut feeder = Feeder::new(msgs);
    while !feeder.done() {
        let Some(event) = conn.next_event(true)? else {
            return Err(conn.timed_out(&format!(
                "publish: {} of {} message(s) not yet published",
                feeder.unfinished(),
                feeder.total()
            )));
        };
        match event {
            Event::Connected(Ok(())) => feeder.feed(&conn.client, true)?,
            Event::Connected(Err(code)) => return Err(Error::ConnectionRefused(code)),
            Event::Published => feeder.feed(&conn.client, false)?,
            _ => {}
        }
    }
    conn.close();
    Ok(())
}

/// Hands messages to the client and tracks them until they are published.
struct Feeder {
    msgs: Vec<Message>,
    /// How many messages (from the front of `msgs`) have been handed to the client.
    fed: usize,
    /// Messages handed over and not yet seen published, oldest first, by index into `msgs`.
    outstanding: VecDeque<(usize, MessageInfo)>,
    /// Whether the client has been connected at least once, so publishing makes sense.
    connected: bool,
}

impl Feeder {
    fn new(msgs: Vec<Message>) -> Feeder {
        Feeder {
            msgs,
            fed: 0,
            outstanding: VecDeque::new(),
            connected: false,
        }
    }

    fn total(&self) -> usize {
        self.msgs.len()
    }

    fn unfinished(&self) -> usize {
        self.msgs.len() - self.fed + self.outstanding.len()
    }

    fn done(&self) -> bool {
        self.fed == self.msgs.len() && self.outstanding.is_empty()
    }

    /// Drops what is published from the front, publishes again the QoS 0 messages a lost connection
    /// discarded (after a new CONNACK, `reconnected`), and hands over more messages until the client's
    /// queue is full.
    fn feed(&mut self, client: &Client, reconnected: bool) -> Result<()> {
        self.connected |= reconnected;
        if !self.connected {
            return Ok(());
        }
        // Messages complete nearly in order, so pruning from the front keeps this cheap; the rest go
        // when they reach the front.
        while self
            .outstanding
            .front()
            .is_some_and(|(_, i)| i.is_published())
        {
            self.outstanding.pop_front();
        }
        if reconnected {
            // A QoS 0 message still unwritten when its connection closed is gone (QoS 1/2 messages are
            // kept by the client and sent again on their own). It never reached the broker whole, so
            // publishing it again cannot duplicate it.
            for (index, info) in self.outstanding.iter_mut() {
                if discarded(info) {
                    let m = &self.msgs[*index];
                    *info = client.publish(&m.topic, m.payload.as_slice(), m.qos, m.retain)?;
                }
            }
        }
        while self.fed < self.msgs.len() {
            let m = &self.msgs[self.fed];
            match client.publish(&m.topic, m.payload.as_slice(), m.qos, m.retain) {
                Ok(info) => {
                    self.outstanding.push_back((self.fed, info));
                    self.fed += 1;
                }
                // Out of message ids: more go out as acknowledgements free some.
                Err(Error::QueueFull) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether the client discarded the message (a QoS 0 message whose connection closed before it was
/// written, or published while there was no connection). A zero wait reads the state without waiting.
fn discarded(info: &MessageInfo) -> bool {
    matches!(
        info.wait_for_publish(Some(Duration::ZERO)),
        Err(Error::PublishDiscarded(_))
    )
}

// ---- the connection shared with subscribe.rs ----

/// What the client's callbacks report to the helper's thread.
pub(crate) enum Event {
    /// CONNACK: accepted, or refused with this MQTT 3.1/3.1.1 return code.
    Connected(std::result::Result<(), u8>),
    /// A message was published (written, PUBACK or PUBCOMP).
    Published,
    /// SUBACK, with one code per filter.
    Subscribed(Vec<ReasonCode>),
    /// A message arrived.
    Message(Message),
    /// The connection closed; `true` after a `disconnect()` (the helper's own or a subscribe callback's).
    Disconnected(bool),
}

/// How many events may wait for the helper's thread. When it is this far behind (a slow subscribe
/// callback, typically), the loop thread waits, and TCP tells the broker to slow down.
const EVENT_QUEUE: usize = 1024;

/// A client connected for a helper, its loop running on a `loop_start` thread, reporting through
/// [`Event`]s. Dropping it disconnects and stops the loop.
pub(crate) struct Connection {
    pub(crate) client: Client,
    events: Option<Receiver<Event>>,
    /// The last warning or error the client logged, for timeout errors.
    last_problem: Arc<Mutex<Option<String>>>,
    /// Set when the helper is done, so a connection the loop opens after that is closed at once.
    closing: Arc<AtomicBool>,
    timeout: Duration,
    last_progress: Instant,
}

impl Connection {
    /// Checks the options, builds the client, connects (failing at once if the broker cannot be
    /// reached) and starts the loop. With `filters`, every accepted connection subscribes to them from
    /// `on_connect`, as Paho's subscribe helpers do, and incoming QoS 1/2 messages are acknowledged by
    /// [`Connection::ack`] rather than on arrival.
    pub(crate) fn open(
        options: &Options,
        filters: Option<Vec<(String, QoS)>>,
    ) -> Result<Connection> {
        options.check_supported()?;
        let client = Client::builder()
            .client_id(options.client_id.as_str())
            .protocol(options.protocol)
            .transport(options.transport)
            .manual_ack(filters.is_some())
            .build()?;
        if let Some(w) = &options.will {
            client.will_set(&w.topic, w.payload.as_slice(), w.qos, w.retain)?;
        }
        if let Some(a) = &options.auth {
            client.username_pw_set(&a.username, a.password.as_deref())?;
        }
        let (tx, rx) = mpsc::sync_channel(EVENT_QUEUE);
        let closing = Arc::new(AtomicBool::new(false));
        let last_problem = Arc::new(Mutex::new(None));
        install_callbacks(&client, &tx, filters, &closing, &last_problem);
        client.connect(&options.hostname, options.port, options.keepalive)?;
        client.loop_start()?;
        Ok(Connection {
            client,
            events: Some(rx),
            last_problem,
            closing,
            timeout: options.ack_timeout(),
            last_progress: Instant::now(),
        })
    }

    /// The next event. With `bounded`, `Ok(None)` once the broker has made no progress for the
    /// timeout; otherwise waits as long as it takes.
    pub(crate) fn next_event(&mut self, bounded: bool) -> Result<Option<Event>> {
        let Some(rx) = self.events.as_ref() else {
            return Err(Error::ConnectionLost);
        };
        let event = if bounded {
            let left =
                (self.last_progress + self.timeout).saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err(Error::ConnectionLost),
            }
        } else {
            rx.recv().map_err(|_| Error::ConnectionLost)?
        };
        if matches!(
            event,
            Event::Connected(Ok(())) | Event::Published | Event::Subscribed(_)
        ) {
            self.last_progress = Instant::now();
        }
        Ok(Some(event))
    }

    /// Acknowledges a message received on a subscribing connection once the helper has handled it, so
    /// the PUBACK or PUBCOMP goes out when the user's callback returns (as in Paho) and always before
    /// the DISCONNECT that follows the last message.
    pub(crate) fn ack(&self, msg: &Message) {
        if msg.qos > 0 {
            // The only failures are manual ack being off or QoS 0, neither of which applies here.
            let _ = self.client.ack(msg.mid, msg.qos);
        }
    }

    /// The error for a wait that ran out: `what` was left, and the last problem the client logged.
    pub(crate) fn timed_out(&self, what: &str) -> Error {
        let mut text = format!(
            "{what} after {} s without progress from the broker (the helpers wait 2 x keepalive)",
            self.timeout.as_secs()
        );
        if let Some(p) = relock(&self.last_problem).as_deref() {
            text.push_str("; last problem: ");
            text.push_str(p);
        }
        Error::Io(io::Error::new(io::ErrorKind::TimedOut, text))
    }

    /// Disconnects cleanly and stops the loop (what dropping does; this names the intent).
    pub(crate) fn close(self) {}
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // No more events are read: a callback blocked on a full queue must not hold up the loop.
        drop(self.events.take());
        // NoConn just means the connection is already gone; the loop stops either way.
        let _ = self.client.disconnect();
        // After disconnect() the loop ends as soon as the connection is closed. The only error is a
        // callback panic, and these callbacks do not panic.
        let _ = self.client.loop_stop();
    }
}

/// The callbacks of a helper's client: each forwards what happened to the helper's thread.
fn install_callbacks(
    client: &Client,
    tx: &SyncSender<Event>,
    filters: Option<Vec<(String, QoS)>>,
    closing: &Arc<AtomicBool>,
    last_problem: &Arc<Mutex<Option<String>>>,
) {
    let (events, closing) = (tx.clone(), Arc::clone(closing));
    client.on_connect(move |client, _, _, rc, _| {
        if closing.load(Ordering::SeqCst) {
            // Connected again while the helper shuts down (its disconnect() found no connection).
            let _ = client.disconnect();
            return;
        }
        if rc.is_failure() {
            let _ = events.send(Event::Connected(Err(connack_code(rc))));
            return;
        }
        if let Some(f) = &filters {
            // NoConn: the connection closed meanwhile; the next on_connect subscribes.
            let _ = client.subscribe(f.clone(), 0);
        }
        let _ = events.send(Event::Connected(Ok(())));
    });
    let events = tx.clone();
    client.on_publish(move |_, _, _, _, _| {
        let _ = events.send(Event::Published);
    });
    let events = tx.clone();
    client.on_subscribe(move |_, _, _, codes, _| {
        let _ = events.send(Event::Subscribed(codes.to_vec()));
    });
    let events = tx.clone();
    client.on_message(move |_, _, msg| {
        let _ = events.send(Event::Message(msg.clone()));
    });
    let events = tx.clone();
    client.on_disconnect(move |_, _, _, rc, _| {
        let _ = events.send(Event::Disconnected(rc == 0));
    });
    let problem = Arc::clone(last_problem);
    client.on_log(move |_, _, level, line| {
        if matches!(level, LogLevel::Warning | LogLevel::Err) {
            *relock(&problem) = Some(line.to_owned());
        }
    });
}

/// The MQTT 3.1/3.1.1 CONNACK return code behind an `on_connect` reason code (the inverse of
/// [`ReasonCode::connack`]). Reserved codes (6 and up) all arrive as Unspecified error and come back as
/// 128, which `connack_string` calls an unknown reason.
fn connack_code(rc: ReasonCode) -> u8 {
    match rc.value() {
        0x00 => 0,
        0x84 => 1,
        0x85 => 2,
        0x88 => 3,
        0x86 => 4,
        0x87 => 5,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_codes_round_trip() {
        for code in 0..=5 {
            assert_eq!(connack_code(ReasonCode::connack(code)), code);
        }
        assert_eq!(connack_code(ReasonCode::connack(9)), 0x80);
    }

    #[test]
    fn bad_messages_are_refused_before_connecting() {
        // Port 1 on loopback: nothing listens there, but these fail before any connection attempt.
        let o = Options {
            hostname: "127.0.0.1".into(),
            port: 1,
            ..Default::default()
        };
        assert!(matches!(
            single("a/+", "x", 0, false, &o),
            Err(Error::InvalidTopic { .. })
        ));
        assert!(matches!(
            multiple([("a", "x", 0, false), ("b", "y", 7, false)], &o),
            Err(Error::InvalidQos(7))
        ));
        let mut m = Message::new("a", "x", 0, false);
        m.qos = 3;
        assert!(matches!(multiple([m], &o), Err(Error::InvalidQos(3))));
        let big = vec![0u8; MAX_REMAINING_LENGTH];
        assert!(matches!(
            single("a", big, 0, false, &o),
            Err(Error::PayloadTooLarge(_))
        ));
    }

    #[test]
    fn unsupported_options_name_the_issue() {
        let cases = [
            Options {
                transport: Transport::Websockets,
                ..Default::default()
            },
            Options {
                transport: Transport::Unix,
                ..Default::default()
            },
            Options {
                proxy: Some(Proxy::new(ProxyType::Http, "p")),
                ..Default::default()
            },
            Options {
                tls: Some(Tls::default()),
                ..Default::default()
            },
        ];
        for o in cases {
            let e = single("a", "x", 0, false, &o).unwrap_err();
            assert!(
                matches!(&e, Error::NotSupported(s) if s.contains("issue #3")),
                "{e}"
            );
        }
        let v5 = Options {
            protocol: Protocol::V5,
            ..Default::default()
        };
        assert!(matches!(
            single("a", "x", 0, false, &v5),
            Err(Error::NotSupported(_))
        ));
    }

    #[test]
    fn ack_timeout_is_twice_keepalive() {
        let o = |k| Options {
            keepalive: k,
            ..Default::default()
        };
        assert_eq!(o(0).ack_timeout(), Duration::from_secs(120));
        assert_eq!(o(1).ack_timeout(), Duration::from_secs(2));
        assert_eq!(o(u16::MAX).ack_timeout(), Duration::from_secs(131_070));
    }
}
