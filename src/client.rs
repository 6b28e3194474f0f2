//! `Client`: Paho's API, a thin facade over shared state.
//!
//! About threads and locks (see also docs/architecture.md). A `Client` is an `Arc` around:
//! - `state` (a Mutex): the session (message ids, inflight and queued messages, subscriptions, keepalive)
//!   and the connection settings. Every method that queues something takes it for the time it takes to
//!   encode one packet into the output buffer; the loop takes it to hand over the output buffer and to
//!   feed the session the packets it read.
//! - `io` (a Mutex): the socket and its read and write buffers. The loop takes it to read and write (or,
//!   when no loop runs, the thread that just queued something), and so do the short accessors
//!   (`socket`, `want_write`) and the calls that replace the socket (`connect`, `reconnect`,
//!   `reinitialise`). Never held while a callback runs. Lock order: `io`, then `state`.
//! - `callbacks` (a Mutex, held only to clone a callback out of its slot or to set one), `userdata` (a
//!   Mutex, held while a callback runs, so the callback gets `&mut U`), `pending_userdata` (a
//!   `user_data_set` made inside a callback), and `thread` (the `loop_start` join handle). Lock order:
//!   `userdata` before `io` and `state`, never after.
//!
//! No internal lock is held while a callback runs (except the userdata one and the callback's own), so
//! callbacks may call any method.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::callbacks::{in_callback_of, not_in_callback, Callbacks};
use crate::error::{Error, Result};
use crate::message::{MessageInfo, Payload, PublishSignal, PublishState};
use crate::net::{NetStream, TlsLayer, Waker};
use crate::options::{Builder, IntoQos, Proxy, Seconds, TlsOptions, Transport};
use crate::packet::{Connect, LastWill, Protocol, QoS};
use crate::session::{ConnState, Session, SessionConfig};
use crate::topic::{validate_topic, SubscribeTopics, UnsubscribeTopics, MAX_TOPIC_LEN};

/// A borrowed QoS 1/2 payload up to this size is copied into its buffer with the `state` lock held;
/// a larger one before, so that the loop is not kept waiting for the copy.
const COPY_UNDER_LOCK: usize = 4096;

/// The longest wait `read_coalescing_set` takes: beyond it, a publisher waiting for its
/// acknowledgements would stall for nothing.
const MAX_READ_COALESCING: Duration = Duration::from_millis(10);

/// Connection settings and the protocol session, behind the `state` lock.
pub(crate) struct State {
    pub session: Session,
    pub client_id: String,
    pub clean_session: bool,
    pub protocol: Protocol,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<LastWill>,
    pub host: Option<String>,
    pub port: u16,
    pub keepalive: u16,
    pub transport: Transport,
    /// Set with `transport` (see `net::ws_upgrade`).
    pub ws: Option<crate::net::WsUpgrade>,
    /// `tls_set` and friends; `None`: no TLS.
    pub tls: Option<Arc<dyn TlsLayer>>,
    pub ws_path: String,
    pub ws_headers: Vec<(String, String)>,
    pub proxy: Option<Proxy>,
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// The next backoff wait grows from here; `None` after a successful CONNACK.
    pub reconnect_delay: Option<Duration>,
    pub reconnect_on_failure: bool,
    /// `read_coalescing_set`: how long the loop waits after a turn that read a stream's worth.
    pub read_coalescing: Duration,
    /// `disconnect()` was called: the loop ends once the connection is closed.
    pub disconnect_requested: bool,
}

impl State {
    /// Where the next connection goes, for `net::open`; `None` before `connect`/`connect_async`.
    pub(crate) fn target(&self) -> Option<crate::net::Target> {
        Some(crate::net::Target {
            transport: self.transport,
            ws: self.ws,
            host: self.host.clone()?,
            port: self.port,
            tls: self.tls.clone(),
            ws_path: self.ws_path.clone(),
            ws_headers: self.ws_headers.clone(),
            proxy: self.proxy.clone(),
        })
    }

    pub(crate) fn connect_packet(&self) -> Connect {
        Connect {
            protocol: self.protocol,
            client_id: self.client_id.clone(),
            clean_session: self.clean_session,
            keepalive: self.keepalive,
            username: self.username.clone(),
            password: self.password.clone(),
            will: self.will.clone(),
        }
    }
}

/// The socket and its buffers, behind the `io` lock. `Default`: no connection, empty buffers.
#[derive(Default)]
pub(crate) struct Io {
    pub stream: Option<Box<dyn NetStream>>,
    /// Read buffer: bytes `rstart..rend` are received and not yet decoded.
    pub rbuf: Vec<u8>,
    pub rstart: usize,
    pub rend: usize,
    /// Write buffer taken from the session in one piece; `wpos` bytes of it are written.
    pub wbuf: Vec<u8>,
    pub wpos: usize,
    /// QoS 0 messages in `wbuf`, published once it is written.
    pub wqos0: Vec<(u16, Arc<PublishState>)>,
    /// Bytes were read and nothing has been written since (so our ACK for them would be delayed).
    pub ack_owed: bool,
    /// Whole packets decoded since the last `settle_acks`.
    pub packets_in: usize,
    /// An acknowledgement left to the kernel's delayed ACK must have gone by then (see `settle_acks`).
    pub ack_due: Option<Instant>,
    /// Read again without waiting for poll, which cannot see what is pending: the last read stopped
    /// at its budget on a stream whose layers buffer (TLS, websocket), or at `TURN_PACKETS` with
    /// whole packets left in `rbuf`.
    pub read_more: bool,
    /// The last read emptied the socket: it ended on a short read or WouldBlock, not on its budget.
    pub drained: bool,
    /// The lengths of the last `SHRINK_AFTER` write batches, in a ring (see `SHRINK_AFTER`).
    pub recent_batches: [usize; crate::event_loop::SHRINK_AFTER],
    /// Write batches so far (wrapping): where the next length goes in `recent_batches`.
    pub batches: usize,
    /// Reads into an empty read buffer since it last held more than `BUFFER_KEEP` (see `make_room`).
    pub quiet_reads: usize,
}

pub(crate) struct Inner<U> {
    pub state: Mutex<State>,
    pub io: Mutex<Io>,
    pub callbacks: Mutex<Callbacks<U>>,
    pub userdata: Mutex<U>,
    /// `user_data_set` called from inside a callback (when the userdata lock is held): applied when the
    /// callback returns.
    pub pending_userdata: Mutex<Option<U>>,
    pub signal: Arc<PublishSignal>,
    /// Created by the first loop that needs it; `None` inside if the OS refused the socket pair.
    pub waker: OnceLock<Option<Waker>>,
    /// Wakes the reconnect backoff wait (paired with `state`).
    pub cv: Condvar,
    pub thread: Mutex<Option<JoinHandle<()>>>,
    /// `loop_stop()` was called.
    pub stop: AtomicBool,
    /// A `loop_forever` (possibly the `loop_start` thread) is running.
    pub forever_running: AtomicBool,
    pub suppress_exceptions: bool,
    logger: AtomicBool,
}

/// Locks, ignoring poisoning. Our own locks guard plain data a panic cannot leave half-updated in a way
/// that matters more than refusing service forever; a callback's own mutex is poisoned whenever that
/// callback panics, and the callback stays usable, as in Paho.
pub(crate) fn relock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<U> Inner<U> {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }
    pub(crate) fn io(&self) -> MutexGuard<'_, Io> {
        relock(&self.io)
    }
    pub(crate) fn callbacks(&self) -> MutexGuard<'_, Callbacks<U>> {
        relock(&self.callbacks)
    }
    pub(crate) fn logger_enabled(&self) -> bool {
        self.logger.load(Ordering::Relaxed)
    }
    pub(crate) fn waker(&self) -> Option<&Waker> {
        self.waker.get().and_then(Option::as_ref)
    }
}

/// An MQTT client with Paho's API.
///
/// `Client<U>` is `Clone + Send + Sync` (an `Arc` inside): clone it to publish from other threads while
/// `loop_start` runs. `U` is the type of the userdata passed to every callback.
///
/// ```no_run
/// use pahoish as mqtt;
///
/// let client = mqtt::Client::new("");
/// client.on_connect(|client, _userdata, _flags, rc, _props| {
///     println!("Connected with result code {rc}");
///     client.subscribe("$SYS/broker/version", 0).ok();
/// });
/// client.on_message(|_client, _userdata, msg| {
///     println!("{} {}", msg.topic, msg.payload_repr());
/// });
/// client.connect("localhost", 1883, 60)?;
/// client.loop_forever()?;
/// # Ok::<(), mqtt::Error>(())
/// ```
pub struct Client<U = ()> {
    pub(crate) inner: Arc<Inner<U>>,
}

impl<U> Clone for Client<U> {
    fn clone(&self) -> Self {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<U> std::fmt::Debug for Client<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.state();
        f.debug_struct("Client")
            .field("client_id", &st.client_id)
            .field("host", &st.host)
            .field("port", &st.port)
            .field("state", &st.session.state())
            .finish_non_exhaustive()
    }
}

impl Client<()> {
    /// A client with this id and every other option at Paho's default (clean session, MQTT 3.1.1, TCP):
    /// `mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id)`. `""` lets the broker assign an id.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(!client.is_connected());
    /// ```
    pub fn new(client_id: &str) -> Client<()> {
        Client::from_builder(Builder::default().client_id(client_id))
    }

    /// A [`Builder`] for the other constructor arguments (`clean_session`, `userdata`, `protocol`, ...).
    pub fn builder() -> Builder<()> {
        Builder::default()
    }
}

/// A random 22-character base62 id, as Paho generates for MQTT 3.1 (which does not allow an empty one).
fn random_client_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn new_state<U>(b: &Builder<U>, now: Instant) -> State {
    let client_id = if b.client_id.is_empty() && b.protocol == Protocol::V31 {
        random_client_id()
    } else {
        b.client_id.clone()
    };
    let cfg = SessionConfig {
        manual_ack: b.manual_ack,
        resubscribe: b.resubscribe,
        ..Default::default()
    };
    State {
        session: Session::new(cfg, now),
        client_id,
        clean_session: b.clean_session.unwrap_or(true),
        protocol: b.protocol,
        username: None,
        password: None,
        will: None,
        host: None,
        port: 1883,
        keepalive: 60,
        transport: b.transport,
        ws: b.ws,
        tls: None,
        ws_path: "/mqtt".to_owned(),
        ws_headers: Vec::new(),
        proxy: None,
        connect_timeout: Duration::from_secs(5),
        reconnect_min: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(120),
        reconnect_delay: None,
        reconnect_on_failure: b.reconnect_on_failure,
        read_coalescing: crate::event_loop::READ_COALESCING,
        disconnect_requested: false,
    }
}

impl<U> Client<U> {
    pub(crate) fn from_builder(b: Builder<U>) -> Client<U> {
        let state = new_state(&b, Instant::now());
        Client {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                io: Mutex::new(Io {
                    wbuf: Vec::with_capacity(crate::session::OUT_RESERVE),
                    ..Io::default()
                }),
                callbacks: Mutex::new(Callbacks::default()),
                userdata: Mutex::new(b.userdata),
                pending_userdata: Mutex::new(None),
                signal: Arc::new(PublishSignal::default()),
                waker: OnceLock::new(),
                cv: Condvar::new(),
                thread: Mutex::new(None),
                stop: AtomicBool::new(false),
                forever_running: AtomicBool::new(false),
                suppress_exceptions: b.suppress_exceptions,
                logger: AtomicBool::new(true),
            }),
        }
    }
}

impl<U: Send + 'static> Client<U> {
    // ---- configuration ----

    /// Resets the client as if it were new (Paho's `reinitialise`): closes any connection without
    /// callbacks, discards every message held (their `MessageInfo`s report it), forgets subscriptions,
    /// settings (TLS, websocket options and proxy included) and callbacks (Paho clears them too), and
    /// sets a new id, clean-session flag and userdata. The protocol and transport stay.
    ///
    /// Fails while a network loop runs (`loop_stop` first) and for a persistent session without an id.
    pub fn reinitialise(&self, client_id: &str, clean_session: bool, userdata: U) -> Result<()> {
        not_in_callback(&self.inner.signal, "reinitialise from a callback")?;
        if self.inner.forever_running.load(Ordering::SeqCst) {
            return Err(Error::LoopAlreadyRunning);
        }
        if !clean_session && client_id.is_empty() {
            return Err(Error::invalid(
                "clean_session",
                "a client id must be provided if clean_session is false",
            ));
        }
        let old_stream = {
            let mut io = self.inner.io();
            let stream = io.stream.take();
            io.rstart = 0;
            io.rend = 0;
            io.wbuf.clear();
            io.wpos = 0;
            for (_, info) in io.wqos0.drain(..) {
                info.set_discarded(crate::ErrorCode::NoConn);
            }
            let mut st = self.inner.state();
            st.session.connection_closed();
            st.session.discard_messages(crate::ErrorCode::NoConn);
            let b = Builder::default()
                .client_id(client_id)
                .clean_session(clean_session)
                .protocol(st.protocol)
                .transport(st.transport)
                .reconnect_on_failure(st.reconnect_on_failure);
            let mut fresh = new_state(&b, Instant::now());
            fresh.session.cfg.manual_ack = st.session.cfg.manual_ack;
            fresh.session.cfg.resubscribe = st.session.cfg.resubscribe;
            *st = fresh;
            stream
        };
        drop(old_stream);
        *self.inner.callbacks() = Callbacks::default();
        *relock(&self.inner.userdata) = userdata;
        self.inner.signal.manual_loop.store(false, Ordering::SeqCst);
        self.inner.signal.notify();
        Ok(())
    }

    /// Sets the user name and password sent in CONNECT (from the next connection on). An empty user
    /// name is sent as such.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.username_pw_set("guest", Some("12345678"))?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn username_pw_set(&self, username: &str, password: Option<&str>) -> Result<()> {
        if username.len() > MAX_TOPIC_LEN {
            return Err(Error::invalid(
                "username",
                "must be at most 65535 bytes of UTF-8",
            ));
        }
        if password.is_some_and(|p| p.len() > MAX_TOPIC_LEN) {
            return Err(Error::invalid("password", "must be at most 65535 bytes"));
        }
        let mut st = self.inner.state();
        st.username = Some(username.to_owned());
        st.password = password.map(|p| p.as_bytes().to_vec());
        Ok(())
    }

    /// Configures TLS with Paho's first three `tls_set` arguments: the CA certificates to trust (`None`:
    /// the system's), and the client certificate and its key for brokers that require one. PEM files;
    /// the key forms accepted are listed at [`TlsOptions`]. [`tls_set_with`](Client::tls_set_with) takes
    /// the other arguments.
    ///
    /// The broker's certificate must chain to a trusted CA and name the host given to `connect` (see
    /// [`tls_insecure_set`](Client::tls_insecure_set)). A certificate that does not verify fails the
    /// connection with [`Error::Tls`] (`certificate verify failed: ...`).
    ///
    /// Fails when a file cannot be read or parsed (the error names it), when TLS is already configured
    /// (as Paho's ValueError), and in a build without the `tls` feature.
    ///
    /// ```
    /// # if cfg!(feature = "tls") {
    /// let client = pahoish::Client::new("");
    /// let e = client.tls_set(Some("/no/such/ca.crt"), None, None).unwrap_err();
    /// assert!(e.to_string().contains("/no/such/ca.crt"));
    /// client.tls_set(None, None, None)?; // the system's roots
    /// assert!(client.tls_set(None, None, None).is_err()); // once only
    /// # }
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn tls_set(
        &self,
        ca_certs: Option<&str>,
        certfile: Option<&str>,
        keyfile: Option<&str>,
    ) -> Result<()> {
        self.tls_set_with(TlsOptions {
            ca_certs: ca_certs.map(Into::into),
            certfile: certfile.map(Into::into),
            keyfile: keyfile.map(Into::into),
            ..Default::default()
        })
    }

    /// Configures TLS with every argument of Paho's `tls_set` (`keyfile_password`, `cert_reqs`,
    /// `tls_version`, `alpn_protocols`, ...); see [`tls_set`](Client::tls_set).
    ///
    /// ```no_run
    /// use pahoish::{Client, TlsOptions};
    /// let client = Client::new("");
    /// client.tls_set_with(TlsOptions {
    ///     ca_certs: Some("ca.crt".into()),
    ///     certfile: Some("client.crt".into()),
    ///     keyfile: Some("client.key".into()),
    ///     keyfile_password: Some("secret".into()),
    ///     ..Default::default()
    /// })?;
    /// client.connect("broker.example", 8883, 60)?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn tls_set_with(&self, options: TlsOptions) -> Result<()> {
        self.tls_not_configured()?;
        let config = tls_config(options)?;
        let mut st = self.inner.state();
        if st.tls.is_some() {
            return Err(tls_twice());
        }
        st.tls = Some(config);
        Ok(())
    }

    /// Configures TLS with a connector the application built (Paho's `tls_set_context`), for settings
    /// [`TlsOptions`] does not have. Fails when TLS is already configured.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let connector = pahoish::native_tls::TlsConnector::builder()
    ///     .min_protocol_version(Some(pahoish::native_tls::Protocol::Tlsv12))
    ///     .build()
    ///     .unwrap();
    /// client.tls_set_context(connector)?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_set_context(&self, connector: native_tls::TlsConnector) -> Result<()> {
        let mut st = self.inner.state();
        if st.tls.is_some() {
            return Err(tls_twice());
        }
        st.tls = Some(crate::net::tls::from_connector(connector));
        Ok(())
    }

    /// With `true`, the broker's certificate need not name the host connected to (Paho's
    /// `tls_insecure_set`); its chain is still verified. This lets anyone holding a certificate from
    /// your CA pose as the broker, so a warning is logged. Defaults to `false`.
    ///
    /// Fails before TLS is configured, as in Paho, and after [`tls_set_context`](Client::tls_set_context)
    /// (that connector decides).
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(client.tls_insecure_set(true).is_err()); // tls_set first
    /// # if cfg!(feature = "tls") {
    /// client.tls_set(None, None, None)?;
    /// client.tls_insecure_set(true)?;
    /// # }
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn tls_insecure_set(&self, insecure: bool) -> Result<()> {
        {
            let mut st = self.inner.state();
            let Some(tls) = st.tls.as_mut() else {
                return Err(Error::invalid(
                    "tls_insecure_set",
                    "configure TLS first (tls_set, tls_set_with or tls_set_context)",
                ));
            };
            *tls = tls.with_insecure(insecure)?;
        }
        if insecure {
            self.log(
                crate::LogLevel::Warning,
                "tls_insecure_set(true): the broker's certificate need not name its host",
            );
        }
        Ok(())
    }

    fn tls_not_configured(&self) -> Result<()> {
        if self.inner.state().tls.is_some() {
            return Err(tls_twice());
        }
        Ok(())
    }

    /// The websocket request path and extra HTTP headers (Paho's `ws_set_options`). Defaults to
    /// `"/mqtt"` and no headers; the `Sec-WebSocket-Protocol: mqtt` header is always sent. Applies to
    /// [`Transport::Websockets`](crate::Transport::Websockets), from the next connection on.
    ///
    /// Fails for a path not starting with `/` and for a header name or value HTTP does not allow.
    ///
    /// ```
    /// let client = pahoish::Client::new(""); // with .transport(pahoish::Transport::Websockets)
    /// client.ws_set_options("/ws", &[("Authorization", "Bearer t0k3n")])?;
    /// assert!(client.ws_set_options("ws", &[]).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn ws_set_options(&self, path: &str, headers: &[(&str, &str)]) -> Result<()> {
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "path",
                format!("{path:?} is not a request path (it starts with /, without spaces)"),
            ));
        }
        for (name, value) in headers {
            check_ws_header(name, value)?;
        }
        let mut st = self.inner.state();
        st.ws_path = path.to_owned();
        st.ws_headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        Ok(())
    }

    /// Connects through a proxy (Paho's `proxy_set`): SOCKS5, SOCKS4 or HTTP CONNECT, spoken before
    /// TLS and the websocket upgrade, from the next connection on. Without it, the `mqtt_proxy` (or
    /// `MQTT_PROXY`) environment variable is used as in Paho: `http://[user:pass@]host:port` or
    /// `socks://[user:pass@]host:port`, unless `no_proxy` lists the broker's host. Not used for Unix
    /// sockets.
    ///
    /// Fails for an empty proxy address.
    ///
    /// ```
    /// use pahoish::{Proxy, ProxyType};
    /// let client = pahoish::Client::new("");
    /// client.proxy_set(Proxy { proxy_port: Some(1080), ..Proxy::new(ProxyType::Socks5, "127.0.0.1") })?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn proxy_set(&self, proxy: Proxy) -> Result<()> {
        if proxy.proxy_addr.is_empty() {
            return Err(Error::invalid("proxy_addr", "must not be empty"));
        }
        self.inner.state().proxy = Some(proxy);
        Ok(())
    }

    /// Sets the will: the message the broker publishes if this client disconnects without DISCONNECT.
    ///
    /// The topic must be a valid topic name (no wildcards) and the payload at most 65,535 bytes.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.will_set("status/sensor-7", "offline", 1, true)?;
    /// assert!(client.will_set("status/#", "offline", 1, true).is_err());
    /// client.will_clear();
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn will_set<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<()> {
        validate_topic(topic)?;
        let qos = qos.into_qos()?;
        let payload = payload.into().into_bytes();
        if payload.len() > MAX_TOPIC_LEN {
            return Err(Error::invalid(
                "payload",
                "a will payload must be at most 65535 bytes",
            ));
        }
        self.inner.state().will = Some(LastWill {
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
        });
        Ok(())
    }

    /// Removes the will.
    pub fn will_clear(&self) {
        self.inner.state().will = None;
    }

    /// Replaces the userdata passed to callbacks. From inside a callback it takes effect when that
    /// callback returns.
    pub fn user_data_set(&self, userdata: U) {
        if in_callback_of(&self.inner.signal) {
            *relock(&self.inner.pending_userdata) = Some(userdata);
        } else {
            *relock(&self.inner.userdata) = userdata;
        }
    }

    /// A copy of the userdata. From inside a callback use the callback's `userdata` argument instead
    /// (this returns [`Error::WouldDeadlock`] there, because the callback holds it).
    ///
    /// ```
    /// let client = pahoish::Client::builder().userdata(41).build()?;
    /// client.user_data_set(42);
    /// assert_eq!(client.user_data_get()?, 42);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn user_data_get(&self) -> Result<U>
    where
        U: Clone,
    {
        not_in_callback(
            &self.inner.signal,
            "user_data_get inside a callback: use its userdata argument",
        )?;
        Ok(relock(&self.inner.userdata).clone())
    }

    /// How many QoS 1/2 messages may await acknowledgement at once; 0 = unlimited. Defaults to 20.
    /// Messages beyond it wait in the queue and go out as acknowledgements free slots.
    pub fn max_inflight_messages_set(&self, inflight: usize) {
        self.inner.state().session.cfg.max_inflight = inflight;
    }

    /// How many QoS 1/2 messages may be held (in flight plus queued); 0 = unlimited. Defaults to 0.
    /// When full, `publish` of QoS 1/2 fails with [`Error::QueueFull`] and nothing already held is lost.
    pub fn max_queued_messages_set(&self, queue_size: usize) {
        self.inner.state().session.cfg.max_queued = queue_size;
    }

    /// How long the network loop waits, after a turn that read a stream of packets, before it looks
    /// for more (not in Paho: its loop reads a packet at a time). Defaults to 50 µs; `Duration::ZERO`
    /// turns it off. At most 10 ms.
    ///
    /// When packets stream in (a subscriber behind a busy topic, a publisher collecting its
    /// acknowledgements), waking for each one costs a wake-up, a read and a write for one packet's
    /// worth of work. After a turn that read two packets or more and emptied the socket, the loop
    /// waits this long instead, so that the next turn handles a batch. A reply or a lone message comes
    /// one packet at a time and never waits; a `publish` or `disconnect` from another thread ends the
    /// wait at once. The cost is that a packet arriving just after a batch is read up to this much
    /// later. On a 2-core machine shared with the broker, the default cut the client's CPU time for a
    /// stream of QoS 1 messages to about a fifth and raised its rate about 1.6 × (docs/performance.md,
    /// P13).
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = pahoish::Client::new("");
    /// client.read_coalescing_set(Duration::ZERO)?; // every packet as soon as it arrives
    /// assert!(client.read_coalescing_set(Duration::from_secs(1)).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn read_coalescing_set(&self, wait: Duration) -> Result<()> {
        if wait > MAX_READ_COALESCING {
            return Err(Error::invalid(
                "read_coalescing",
                format!("{wait:?} is longer than the limit, {MAX_READ_COALESCING:?}"),
            ));
        }
        self.inner.state().read_coalescing = wait;
        Ok(())
    }

    /// Accepted and ignored, as in Paho 1.6 (removed in 2.0): unacknowledged messages are re-sent on
    /// reconnect, never on a timer while connected, as MQTT 3.1.1 requires.
    pub fn message_retry_set(&self, _retry: u32) {}

    /// The reconnect backoff of `loop_forever`/`loop_start`: the first wait is `min_delay`, doubled after
    /// each failed attempt up to `max_delay`, and back to `min_delay` after a successful CONNACK.
    /// Defaults to 1 and 120 seconds. Takes seconds (`1`, `0.5`) or a `Duration`.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.reconnect_delay_set(1, 120)?;
    /// assert!(client.reconnect_delay_set(10, 1).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn reconnect_delay_set(
        &self,
        min_delay: impl Seconds,
        max_delay: impl Seconds,
    ) -> Result<()> {
        let min = min_delay.to_duration("min_delay")?;
        let max = max_delay.to_duration("max_delay")?;
        if min > max {
            return Err(Error::invalid(
                "min_delay",
                format!("{min:?} is larger than max_delay {max:?}"),
            ));
        }
        let mut st = self.inner.state();
        st.reconnect_min = min;
        st.reconnect_max = max;
        Ok(())
    }

    /// How long `connect` waits for the TCP connection (Paho's `connect_timeout` property). Defaults to
    /// 5 seconds.
    pub fn connect_timeout_set(&self, timeout: impl Seconds) -> Result<()> {
        self.inner.state().connect_timeout = timeout.to_duration("connect_timeout")?;
        Ok(())
    }

    /// Sends the client's log lines to the `log` crate (target `pahoish`) as well as to `on_log`. This is
    /// the default: the `log` facade prints nothing unless the application installs a logger.
    pub fn enable_logger(&self) {
        self.inner.logger.store(true, Ordering::Relaxed);
        self.callbacks_changed();
    }

    /// Stops sending log lines to the `log` crate (`on_log` still gets them).
    pub fn disable_logger(&self) {
        self.inner.logger.store(false, Ordering::Relaxed);
        self.callbacks_changed();
    }

    /// Turns manual acknowledgement of incoming QoS 1/2 messages on or off (see [`Client::ack`]).
    pub fn manual_ack_set(&self, on: bool) {
        self.inner.state().session.cfg.manual_ack = on;
    }

    /// Acknowledges an incoming message when manual ack is on: PUBACK for QoS 1, PUBCOMP for QoS 2.
    ///
    /// Fails if manual ack is off or `qos` is not 1 or 2.
    pub fn ack(&self, mid: u16, qos: impl IntoQos) -> Result<()> {
        let qos = qos.into_qos()?;
        if qos == QoS::AtMostOnce {
            return Err(Error::invalid("qos", "QoS 0 messages are not acknowledged"));
        }
        {
            let mut st = self.inner.state();
            if !st.session.cfg.manual_ack {
                return Err(Error::invalid(
                    "ack",
                    "ack() needs manual_ack: messages are acknowledged automatically",
                ));
            }
            st.session.send_ack(mid, qos as u8);
        }
        self.kick();
        Ok(())
    }

    /// Updates whether the session formats per-packet log lines (only worth it if someone reads them).
    pub(crate) fn callbacks_changed(&self) {
        let has_on_log = self.inner.callbacks().on_log.is_some();
        let trace = has_on_log
            || (self.inner.logger_enabled()
                && log::log_enabled!(target: "pahoish", log::Level::Debug));
        self.inner.state().session.trace = trace;
    }

    // ---- state ----

    /// Whether the client is connected: CONNACK accepted and the connection still open.
    pub fn is_connected(&self) -> bool {
        self.inner.state().session.state() == ConnState::Connected
    }

    /// The socket's file descriptor while connected (for an external event loop: poll it for reading,
    /// and for writing when [`want_write`](Client::want_write) is true).
    pub fn socket(&self) -> Option<std::os::unix::io::RawFd> {
        self.inner.io().stream.as_ref().map(|s| s.raw_fd())
    }

    /// Whether bytes are waiting to be written (then call `loop_write` when the socket is writable).
    pub fn want_write(&self) -> bool {
        let io = self.inner.io();
        io.stream.is_some() && crate::event_loop::wants_write(&io, &self.inner.state())
    }

    // ---- publish / subscribe ----

    /// Publishes a message (Paho's `publish`).
    ///
    /// `payload` may be text, bytes, a number (sent as its decimal text) or `()` for none; `qos` is 0, 1
    /// or 2. Returns a [`MessageInfo`] with the message id and Paho's return code: `MQTT_ERR_NO_CONN`
    /// when not connected (QoS 0 is then dropped; QoS 1/2 is kept and sent after the next CONNACK).
    ///
    /// Fails for an invalid topic (empty, wildcards, over 65,535 bytes), an invalid QoS, a payload over
    /// MQTT's limit, and with [`Error::QueueFull`] when `max_queued_messages` QoS 1/2 messages are held.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let info = client.publish("a/b", 21.5, 1, false)?;
    /// assert_eq!(info.rc, pahoish::MQTT_ERR_NO_CONN); // kept, sent once connected
    /// assert!(client.publish("a/b", "x", 3, false).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn publish<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<MessageInfo> {
        validate_topic(topic)?;
        let qos = qos.into_qos()?;
        let payload = match payload.into().0 {
            // A QoS 1/2 message is kept until acknowledged, so a borrowed payload is copied into a
            // spare buffer of the session's. A large one is copied here, outside the `state` lock,
            // which the loop needs meanwhile; a small one (a few hundred nanoseconds) under it.
            Cow::Borrowed(bytes) if qos != QoS::AtMostOnce && bytes.len() > COPY_UNDER_LOCK => {
                let mut buf = self.inner.state().session.spare_payload();
                buf.clear();
                buf.extend_from_slice(bytes);
                Cow::Owned(buf)
            }
            payload => payload,
        };
        let (mid, rc, state) = self
            .inner
            .state()
            .session
            .publish(topic, payload, qos, retain)?;
        self.kick();
        Ok(MessageInfo {
            mid,
            rc,
            state,
            signal: Arc::clone(&self.inner.signal),
        })
    }

    /// Subscribes (Paho's `subscribe`) and returns the message id of the SUBSCRIBE packet.
    ///
    /// `topic` takes every shape Paho accepts: a filter (`"a/b"`, with `qos`), a `(filter, qos)` pair, or
    /// a list of pairs or of filters (one SUBSCRIBE packet for the list); `qos` applies to bare filters.
    /// The subscription is remembered and restored after a reconnect if the broker lost it.
    ///
    /// Fails with [`Error::NoConn`] when not connected, and for an empty list, an invalid filter or QoS.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(matches!(client.subscribe("a/b", 0), Err(pahoish::Error::NoConn)));
    /// assert!(matches!(client.subscribe([("a", 0), ("b#", 1)], 0), Err(pahoish::Error::InvalidFilter { .. })));
    /// assert!(client.subscribe(Vec::<&str>::new(), 0).is_err());
    /// ```
    pub fn subscribe(&self, topic: impl SubscribeTopics, qos: impl IntoQos) -> Result<u16> {
        let filters = topic.into_filters(qos.into_qos()?)?;
        let mid = self.inner.state().session.subscribe(filters)?;
        self.kick();
        Ok(mid)
    }

    /// Unsubscribes from one filter or a list of them (one UNSUBSCRIBE packet) and returns its message
    /// id. The filters are forgotten, so a reconnect does not restore them.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(matches!(client.unsubscribe(["a/b", "c/#"]), Err(pahoish::Error::NoConn)));
    /// assert!(matches!(client.unsubscribe(""), Err(pahoish::Error::InvalidFilter { .. })));
    /// ```
    pub fn unsubscribe(&self, topic: impl UnsubscribeTopics) -> Result<u16> {
        let filters = topic.into_filters()?;
        let mid = self.inner.state().session.unsubscribe(filters)?;
        self.kick();
        Ok(mid)
    }

    /// A guard that calls [`disconnect`](Client::disconnect) and then
    /// [`loop_stop`](Client::loop_stop) when it is dropped, for code that must not leave a connection
    /// or a loop thread behind on any path out of a scope.
    pub fn disconnect_on_drop(&self) -> DisconnectOnDrop<U> {
        DisconnectOnDrop {
            client: self.clone(),
        }
    }

    /// Gets queued bytes moving: from inside a callback, nothing (the loop running it writes when it
    /// returns); with a loop running, wake it; otherwise write now from this thread.
    pub(crate) fn kick(&self) {
        if in_callback_of(&self.inner.signal) {
            return;
        }
        if self.inner.signal.loops_running.load(Ordering::SeqCst) > 0 {
            if let Some(w) = self.inner.waker() {
                w.wake();
            }
            return;
        }
        self.flush_inline();
    }
}

/// Disconnects and stops the [`loop_start`](Client::loop_start) thread when dropped, however the
/// scope holding it ends (a return, `?`, a panic). Made by [`Client::disconnect_on_drop`]; it derefs
/// to the client.
///
/// ```
/// let client = pahoish::Client::new("");
/// {
///     let client = client.disconnect_on_drop();
///     assert!(!client.is_connected()); // a `Client` method, through the guard
/// } // disconnect() and loop_stop() here; that there was no connection is no error
/// ```
#[must_use = "dropping the guard disconnects at once"]
pub struct DisconnectOnDrop<U: Send + 'static = ()> {
    client: Client<U>,
}

impl<U: Send + 'static> std::ops::Deref for DisconnectOnDrop<U> {
    type Target = Client<U>;
    fn deref(&self) -> &Client<U> {
        &self.client
    }
}

impl<U: Send + 'static> std::fmt::Debug for DisconnectOnDrop<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DisconnectOnDrop")
            .field(&self.client)
            .finish()
    }
}

impl<U: Send + 'static> Drop for DisconnectOnDrop<U> {
    fn drop(&mut self) {
        // NoConn only says the connection is already gone, and loop_stop fails only when no
        // loop_start thread runs (or reports a callback's panic, which the loop already logged): the
        // loop is stopped either way.
        let _ = self.client.disconnect();
        let _ = self.client.loop_stop();
    }
}

fn tls_twice() -> Error {
    Error::invalid("tls", "SSL/TLS has already been configured")
}

#[cfg(feature = "tls")]
fn tls_config(options: TlsOptions) -> Result<Arc<dyn TlsLayer>> {
    crate::net::tls::configure(options)
}

#[cfg(not(feature = "tls"))]
fn tls_config(_: TlsOptions) -> Result<Arc<dyn TlsLayer>> {
    Err(no_tls())
}

#[cfg(not(feature = "tls"))]
pub(crate) fn no_tls() -> Error {
    Error::NotSupported("TLS: this build lacks the `tls` feature".into())
}

/// Checks a websocket header against HTTP's rules (RFC 9110, 5.1 and 5.5): the name a token, the value
/// without control characters (so no CR/LF that could smuggle a header in).
fn check_ws_header(name: &str, value: &str) -> Result<()> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(Error::invalid(
            "headers",
            format!("{name:?} is not a valid header name"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::invalid(
            "headers",
            format!("the value of {name} is not a valid header value (control characters)"),
        ));
    }
    Ok(())
}

/// Compile-time check that the client can be shared across threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn shared<T: Send + Sync + Clone>() {}
    fn sendable<T: Send + Sync>() {}
    shared::<Client<()>>();
    shared::<Client<Vec<u8>>>();
    shared::<MessageInfo>();
    sendable::<crate::Error>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt31_gets_a_random_id_and_311_keeps_an_empty_one() {
        let c = Client::builder().protocol(Protocol::V31).build().unwrap();
        let id = c.inner.state().client_id.clone();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let c = Client::new("");
        assert_eq!(c.inner.state().client_id, "");
    }

    #[test]
    fn websocket_headers_follow_http_rules() {
        assert!(check_ws_header("X-Client", "sensor 7\tok").is_ok());
        assert!(check_ws_header("Authorization", "Bearer a.b-c").is_ok());
        assert!(check_ws_header("bad name", "v").is_err());
        assert!(check_ws_header("", "v").is_err());
        assert!(check_ws_header("X", "line\r\nInjected: 1").is_err());
    }

    #[test]
    fn defaults_are_pahos() {
        let c = Client::new("x");
        let st = c.inner.state();
        assert_eq!((st.port, st.keepalive), (1883, 60));
        assert_eq!(st.connect_timeout, Duration::from_secs(5));
        assert_eq!(
            (st.reconnect_min, st.reconnect_max),
            (Duration::from_secs(1), Duration::from_secs(120))
        );
        assert_eq!(
            (st.session.cfg.max_inflight, st.session.cfg.max_queued),
            (20, 0)
        );
        assert!(st.clean_session && st.reconnect_on_failure);
    }
}
