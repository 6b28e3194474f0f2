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
//! # TLS, websockets, Unix sockets and proxies
//!
//! [`Options::tls`], [`Options::transport`] and [`Options::proxy`] set them up as Paho's `tls=`,
//! `transport=` and `proxy_args=` do:
//!
//! ```no_run
//! use pahoish::publish::{self, Options, Proxy, ProxyType, Tls, Transport};
//!
//! let tls = Options {
//!     hostname: "broker.example".into(),
//!     port: 8883,
//!     tls: Some(Tls { ca_certs: Some("/etc/mosquitto/ca.crt".into()), ..Default::default() }),
//!     ..Default::default()
//! };
//! publish::single("sensors/7/status", "online", 1, true, &tls)?;
//!
//! // The host is the socket's path; the port is ignored.
//! let unix = Options { hostname: "/run/mosquitto/mqtt.sock".into(), transport: Transport::Unix, ..Default::default() };
//! publish::single("sensors/7/status", "online", 1, true, &unix)?;
//!
//! // ws://broker.example:9001/mqtt through a SOCKS5 proxy.
//! let ws = Options {
//!     hostname: "broker.example".into(),
//!     port: 9001,
//!     transport: Transport::Websockets,
//!     proxy: Some(Proxy { proxy_port: Some(1080), ..Proxy::new(ProxyType::Socks5, "proxy.example") }),
//!     ..Default::default()
//! };
//! publish::single("sensors/7/status", "online", 1, true, &ws)?;
//! # Ok::<(), pahoish::Error>(())
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

use crate::client::{Client, DisconnectOnDrop};
use crate::completion::MessageInfo;
use crate::engine::relock;
use crate::error::{Error, Result};
use crate::message::{Message, Payload};
use crate::packet::{Protocol, Publish, QoS, MAX_REMAINING_LENGTH};
use crate::reason::ReasonCode;
use crate::topic::validate_topic;
pub use crate::types::{CertReqs, Proxy, ProxyType, TlsVersion, Transport};
use crate::types::{IntoQos, LogLevel, TlsOptions};

/// Connection settings for the [`publish`](self) and [`subscribe`](crate::subscribe) helpers: Paho's
/// keyword arguments `hostname=`, `port=`, `client_id=`, `keepalive=`, `will=`, `auth=`, `tls=`,
/// `protocol=`, `transport=`, `proxy_args=`.
///
/// Every field states its default; write the ones you change and end with `..Default::default()`.
/// TLS ([`Options::tls`]), a proxy ([`Options::proxy`]) and the websockets and Unix socket transports
/// ([`Options::transport`]) work as with a [`Client`] of your own; MQTT 5 is refused with
/// [`Error::NotSupported`] before connecting.
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
    /// TLS settings (Paho's `tls=`), as [`Client::tls_set_with`] and
    /// [`Client::tls_insecure_set`] take them: over TCP, or with [`Transport::Websockets`] for `wss://`.
    /// Defaults to `None`: no TLS. Files that cannot be read or parsed fail the helper before it
    /// connects, naming the file. Remember the port: TLS brokers usually listen on 8883.
    pub tls: Option<Tls>,
    /// The protocol version. Defaults to [`MQTTv311`](crate::MQTTv311); [`MQTTv31`](crate::MQTTv31) works
    /// too, [`MQTTv5`](crate::MQTTv5) is refused with [`Error::NotSupported`].
    pub protocol: Protocol,
    /// The transport (Paho's `transport=`). Defaults to [`Transport::Tcp`].
    /// [`Transport::Websockets`] connects to `ws://hostname:port/mqtt` (`wss://` with [`Options::tls`]);
    /// [`Transport::Unix`] connects to the Unix socket whose path is [`Options::hostname`], and ignores
    /// the port. TLS over a Unix socket is not supported ([`Error::NotSupported`]).
    pub transport: Transport,
    /// A proxy to connect through (Paho's `proxy_args`), as [`Client::proxy_set`] takes it. Defaults to
    /// `None`: none, unless the `mqtt_proxy` (or `MQTT_PROXY`) environment variable names one, as with
    /// any client. Not used with [`Transport::Unix`], so giving one there is an
    /// [`Error::InvalidArgument`].
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

    /// Refuses, before connecting, what this version cannot do and what cannot work together.
    fn check_supported(&self) -> Result<()> {
        if self.protocol == Protocol::V5 {
            return Err(Error::NotSupported(
                "MQTT 5 (MQTTv5) is not supported yet: use MQTTv311 or MQTTv31".into(),
            ));
        }
        if self.transport == Transport::Unix {
            if self.tls.is_some() {
                return Err(Error::NotSupported(
                    "TLS over a Unix socket (Options::tls with Transport::Unix)".into(),
                ));
            }
            if self.proxy.is_some() {
                return Err(Error::invalid(
                    "proxy",
                    "a Unix socket (Transport::Unix) is not reached through a proxy",
                ));
            }
        }
        Ok(())
    }

    /// Configures TLS and the proxy on a helper's client, as Paho's helpers call `tls_set`,
    /// `tls_insecure_set` and `proxy_set`.
    fn configure(&self, client: &Client) -> Result<()> {
        if let Some(tls) = &self.tls {
            client.tls_set_with(tls.options())?;
            if tls.insecure {
                client.tls_insecure_set(true)?;
            }
        }
        if let Some(proxy) = &self.proxy {
            client.proxy_set(proxy.clone())?;
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
    pub fn new<'p>(
        topic: impl Into<String>,
        payload: impl Into<Payload<'p>>,
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

/// The TLS settings of [`Options::tls`], with the keys of Paho's `tls={...}` dictionary: the arguments
/// of `tls_set` (see [`TlsOptions`] for what each accepts) and `insecure`, which Paho's helpers pass to
/// `tls_insecure_set`.
///
/// Paho's helpers also take an `ssl.SSLContext` as `tls=`; for a connector built by hand, use a
/// [`Client`] with [`Client::tls_set_context`].
///
/// Everything is checked before the helper connects: a CA file that cannot be read fails at once,
/// naming it.
///
/// ```
/// use pahoish::publish::{self, Options, Tls, TlsVersion};
///
/// let options = Options {
///     hostname: "127.0.0.1".into(),
///     port: 8883,
///     tls: Some(Tls {
///         ca_certs: Some("/no/such/ca.pem".into()),
///         tls_version: Some(TlsVersion::Tlsv1_2),
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
/// let err = publish::single("a/b", "x", 0, false, &options).unwrap_err();
/// # if cfg!(feature = "tls") {
/// assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");
/// # } else {
/// # assert!(matches!(err, pahoish::Error::NotSupported(_)), "without the tls feature: {err}");
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// CA certificates to trust (`ca_certs`), a PEM file. Defaults to `None`: the system's trusted
    /// roots (Paho's helpers document `ca_certs` as required; Python's `tls_set` then also falls back
    /// to the system's).
    pub ca_certs: Option<PathBuf>,
    /// The client certificate (`certfile`), for brokers that require one. Defaults to `None`.
    pub certfile: Option<PathBuf>,
    /// The client certificate's private key (`keyfile`). Defaults to `None`: read from `certfile`.
    pub keyfile: Option<PathBuf>,
    /// The password of an encrypted `keyfile` (`keyfile_password`). Defaults to `None`.
    pub keyfile_password: Option<String>,
    /// Whether the broker's certificate must verify (`cert_reqs`). Defaults to
    /// [`CertReqs::Required`].
    pub cert_reqs: CertReqs,
    /// The lowest TLS version accepted (`tls_version`; Paho takes `ssl.PROTOCOL_TLSv1_2` and the
    /// like). Defaults to `None`: the TLS library's minimum (TLS 1.2 with current OpenSSL).
    pub tls_version: Option<TlsVersion>,
    /// The allowed ciphers (`ciphers`). The TLS library offers no cipher selection, so `Some` is
    /// refused with [`Error::NotSupported`] rather than ignored. Defaults to `None`.
    pub ciphers: Option<String>,
    /// ALPN protocols to offer (`alpn_protocols`). Defaults to none.
    pub alpn_protocols: Vec<String>,
    /// Skip the check that the broker's certificate names the host (`insecure`; its chain is still
    /// verified). Defaults to `false`.
    pub insecure: bool,
}

impl Tls {
    /// The `tls_set` arguments (everything but `insecure`).
    fn options(&self) -> TlsOptions {
        TlsOptions {
            ca_certs: self.ca_certs.clone(),
            certfile: self.certfile.clone(),
            keyfile: self.keyfile.clone(),
            keyfile_password: self.keyfile_password.clone(),
            cert_reqs: self.cert_reqs,
            tls_version: self.tls_version,
            alpn_protocols: self.alpn_protocols.clone(),
            ciphers: self.ciphers.clone(),
        }
    }
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

impl<'a, T, P, Q> IntoMessage for (T, P, Q, bool)
where
    T: AsRef<str>,
    P: Into<Payload<'a>>,
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
pub fn single<'p>(
    topic: &str,
    payload: impl Into<Payload<'p>>,
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
/// - for options this version does not support ([`Error::NotSupported`]: MQTT 5, TLS ciphers, TLS over
///   a Unix socket), and for TLS files that cannot be read or used (the error names the file);
/// - when the TLS handshake fails ([`Error::Tls`]: `certificate verify failed: ...` for a broker
///   certificate that does not verify), the proxy refuses ([`Error::Proxy`]) or the websocket upgrade
///   fails ([`Error::Websocket`]);
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
    pub(crate) client: DisconnectOnDrop,
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
        options.configure(&client)?;
        let (tx, rx) = mpsc::sync_channel(EVENT_QUEUE);
        let closing = Arc::new(AtomicBool::new(false));
        let last_problem = Arc::new(Mutex::new(None));
        install_callbacks(&client, &tx, filters, &closing, &last_problem);
        client.connect(&options.hostname, options.port, options.keepalive)?;
        client.loop_start()?;
        Ok(Connection {
            client: client.disconnect_on_drop(),
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
        // Then the client's guard disconnects and stops the loop.
        drop(self.events.take());
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
            let _ = events.send(Event::Connected(Err(rc.connack_code())));
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Nothing listens on this port: a helper that got as far as connecting to it would fail with
    /// "Connection refused", so any other error was raised before connecting.
    fn nowhere() -> Options {
        Options {
            hostname: "127.0.0.1".into(),
            port: 1,
            ..Default::default()
        }
    }

    #[test]
    fn mqtt5_and_impossible_combinations_are_refused_before_connecting() {
        let v5 = Options {
            protocol: Protocol::V5,
            ..nowhere()
        };
        assert!(matches!(
            single("a", "x", 0, false, &v5),
            Err(Error::NotSupported(_))
        ));
        let unix_tls = Options {
            transport: Transport::Unix,
            tls: Some(Tls::default()),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &unix_tls).unwrap_err();
        assert!(
            matches!(&e, Error::NotSupported(s) if s.contains("Unix socket")),
            "{e}"
        );
        let unix_proxy = Options {
            transport: Transport::Unix,
            proxy: Some(Proxy::new(ProxyType::Socks5, "127.0.0.1")),
            ..nowhere()
        };
        let e = subscribe_err(&unix_proxy);
        assert!(
            matches!(&e, Error::InvalidArgument { name: "proxy", .. }),
            "{e}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_files_are_read_before_connecting_and_named_when_missing() {
        let o = Options {
            tls: Some(Tls {
                ca_certs: Some("/nonexistent/pahoish/ca.pem".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "ca_certs", reason } if reason.contains("/nonexistent/pahoish/ca.pem")),
            "{e}"
        );
        let o = Options {
            tls: Some(Tls {
                keyfile: Some("/nonexistent/pahoish/client.key".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(e.to_string().contains("needs its certfile"), "{e}");
        let o = Options {
            tls: Some(Tls {
                ciphers: Some("HIGH".into()),
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = subscribe_err(&o);
        assert!(
            matches!(&e, Error::NotSupported(s) if s.contains("ciphers")),
            "{e}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_with_the_system_roots_and_insecure_reaches_the_connect() {
        // Valid settings (the system's roots, no host-name check) get as far as the TCP connect.
        let o = Options {
            tls: Some(Tls {
                insecure: true,
                tls_version: Some(TlsVersion::Tlsv1_2),
                alpn_protocols: vec!["mqtt".into()],
                ..Default::default()
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused),
            "{e}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_needs_the_tls_feature() {
        let o = Options {
            tls: Some(Tls::default()),
            ..nowhere()
        };
        assert!(matches!(
            single("a", "x", 0, false, &o),
            Err(Error::NotSupported(_))
        ));
    }

    #[test]
    fn the_unix_transport_connects_to_the_socket_named_by_hostname() {
        let path = "/nonexistent/pahoish/mqtt.sock";
        let o = Options {
            hostname: path.into(),
            port: 1,
            transport: Transport::Unix,
            ..Default::default()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        assert!(
            matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
        assert!(e.to_string().contains(path), "{e}");
    }

    /// A server that reads what a client sends first, hands it to the test and closes the connection.
    /// Join it with [`first_bytes`].
    fn first_bytes_server() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            buf.truncate(n);
            buf
        });
        (port, server)
    }

    /// What the client sent first to [`first_bytes_server`]. A connection of our own first, so that a
    /// client which never connected fails the test (with nothing read) instead of hanging the accept.
    fn first_bytes(port: u16, server: std::thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
        let _unblock = std::net::TcpStream::connect(("127.0.0.1", port));
        server.join().unwrap()
    }

    #[test]
    fn a_socks5_proxy_is_asked_for_the_broker() {
        let (port, server) = first_bytes_server();
        let o = Options {
            proxy: Some(Proxy {
                proxy_port: Some(port),
                ..Proxy::new(ProxyType::Socks5, "127.0.0.1")
            }),
            ..nowhere()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        // The SOCKS5 greeting (version 5, then the methods offered), not an MQTT CONNECT.
        assert_eq!(first_bytes(port, server).first(), Some(&5), "{e}");
        assert!(matches!(e, Error::Proxy { .. } | Error::Io(_)), "{e}");
    }

    #[cfg(feature = "websockets")]
    #[test]
    fn the_websockets_transport_sends_an_upgrade_request() {
        let (port, server) = first_bytes_server();
        let o = Options {
            hostname: "127.0.0.1".into(),
            port,
            transport: Transport::Websockets,
            ..Default::default()
        };
        let e = single("a", "x", 0, false, &o).unwrap_err();
        let request = String::from_utf8_lossy(&first_bytes(port, server)).into_owned();
        assert!(request.starts_with("GET /mqtt HTTP/1.1\r\n"), "{request:?}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("sec-websocket-protocol: mqtt"),
            "{request:?}"
        );
        assert!(matches!(e, Error::Websocket { .. } | Error::Io(_)), "{e}");
    }

    /// The error of `subscribe::simple` with these options (the subscribe helpers share `Connection`).
    fn subscribe_err(o: &Options) -> Error {
        crate::subscribe::simple("a", 0, 1, true, o).unwrap_err()
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
