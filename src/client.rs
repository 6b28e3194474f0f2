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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::callbacks::{in_callback_of, not_in_callback, Callbacks};
use crate::error::{Error, Result};
use crate::message::{MessageInfo, Payload, PublishSignal, PublishState};
use crate::net::{NetStream, Waker};
use crate::options::{Builder, IntoQos, Seconds};
use crate::packet::{Connect, LastWill, Protocol, QoS};
use crate::session::{ConnState, Session, SessionConfig};
use crate::topic::{validate_topic, SubscribeTopics, UnsubscribeTopics, MAX_TOPIC_LEN};

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
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// The next backoff wait grows from here; `None` after a successful CONNACK.
    pub reconnect_delay: Option<Duration>,
    pub reconnect_on_failure: bool,
    /// `disconnect()` was called: the loop ends once the connection is closed.
    pub disconnect_requested: bool,
}

impl State {
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

/// The socket and its buffers, behind the `io` lock.
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
        connect_timeout: Duration::from_secs(5),
        reconnect_min: Duration::from_secs(1),
        reconnect_max: Duration::from_secs(120),
        reconnect_delay: None,
        reconnect_on_failure: b.reconnect_on_failure,
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
                    stream: None,
                    rbuf: Vec::new(),
                    rstart: 0,
                    rend: 0,
                    wbuf: Vec::new(),
                    wpos: 0,
                    wqos0: Vec::new(),
                    ack_owed: false,
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
    /// settings and callbacks (Paho clears them too), and sets a new id, clean-session flag and userdata.
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
    pub fn will_set(
        &self,
        topic: &str,
        payload: impl Into<Payload>,
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<()> {
        validate_topic(topic)?;
        let qos = qos.into_qos()?;
        let payload = payload.into().0;
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
        io.stream.is_some()
            && (io.wpos < io.wbuf.len() || !self.inner.state().session.out.is_empty())
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
    pub fn publish(
        &self,
        topic: &str,
        payload: impl Into<Payload>,
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<MessageInfo> {
        validate_topic(topic)?;
        let qos = qos.into_qos()?;
        let payload = payload.into().0;
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
