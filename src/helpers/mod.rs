//! What the `publish` and `subscribe` helpers share: their [`Options`] (Paho's keyword arguments),
//! and the connection that runs a client on a `loop_start` thread and turns its callbacks into events
//! the helper's thread reads from a channel, so that a helper's own logic is plain sequential code on
//! the caller's thread.
//!
//! [`crate::publish`] and [`crate::subscribe`] are the public fronts; they re-export the option types.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{Client, DisconnectOnDrop};
use crate::engine::relock;
use crate::error::{Error, Result};
use crate::message::{Message, Payload};
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::types::{LogLevel, Protocol, Proxy, Redacted, SubscribeOptions, TlsOptions, Transport};

/// The TLS settings of [`Options::tls`]: [`TlsOptions`], whose fields are the keys of Paho's
/// `tls={...}` dictionary (the arguments of `tls_set`, and `insecure`, which Paho's helpers pass to
/// `tls_insecure_set`).
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
pub type Tls = TlsOptions;

/// Connection settings for the [`publish`](crate::publish) and [`subscribe`](crate::subscribe) helpers: Paho's
/// keyword arguments `hostname=`, `port=`, `client_id=`, `keepalive=`, `will=`, `auth=`, `tls=`,
/// `protocol=`, `transport=`, `proxy_args=`.
///
/// Every field states its default; write the ones you change and end with `..Default::default()`.
/// TLS ([`Options::tls`]), a proxy ([`Options::proxy`]) and the websockets and Unix socket transports
/// ([`Options::transport`]) work as with a [`Client`] of your own, and so does MQTT 5
/// ([`Options::protocol`]).
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
    /// The protocol version. Defaults to [`MQTTv311`](crate::MQTTv311); [`MQTTv31`](crate::MQTTv31) and
    /// [`MQTTv5`](crate::MQTTv5) work too.
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
    /// Whether the broker starts a new session for the helper's client and forgets it when the
    /// connection ends (Paho's `clean_session=` of `subscribe.simple` and `subscribe.callback`).
    /// Defaults to `true`. `false` keeps the subscriptions and the QoS 1/2 messages sent while the
    /// helper was away, for the next run with the same [`client_id`](Options::client_id); it needs a
    /// client id (else [`Error::InvalidArgument`], Paho's ValueError). Ignored on MQTT 5 (as Paho's
    /// `subscribe.simple` ignores it there), where each connection starts clean.
    pub clean_session: bool,
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
            clean_session: true,
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
    pub(crate) fn check_supported(&self) -> Result<()> {
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
    pub(crate) fn configure(&self, client: &Client) -> Result<()> {
        if let Some(tls) = &self.tls {
            client.tls_set_with(tls.clone())?;
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
    /// MQTT 5 will properties (Paho's will dict's `properties`), for example a Will Delay Interval;
    /// empty by default. Refused when the protocol is not MQTT 5.
    pub properties: Properties,
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
            properties: Properties::default(),
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
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// The user name.
    pub username: String,
    /// The password, if any.
    pub password: Option<String>,
}

/// The password is not printed.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .finish()
    }
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
        filters: Option<Vec<(String, SubscribeOptions)>>,
    ) -> Result<Connection> {
        options.check_supported()?;
        let mut builder = Client::builder()
            .client_id(options.client_id.as_str())
            .protocol(options.protocol)
            .transport(options.transport)
            .manual_ack(filters.is_some());
        if options.protocol != Protocol::V5 {
            builder = builder.clean_session(options.clean_session);
        }
        let client = builder.build()?;
        if let Some(w) = &options.will {
            if w.properties.is_empty() {
                client.will_set(&w.topic, w.payload.as_slice(), w.qos, w.retain)?;
            } else {
                let props = w.properties.clone();
                client.will_set_with(&w.topic, w.payload.as_slice(), w.qos, w.retain, props)?;
            }
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
    filters: Option<Vec<(String, SubscribeOptions)>>,
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
