//! `Client`: Paho's API, a facade over the engine, the user's settings and the callbacks.
//!
//! - `builder`: [`Builder`], Paho's constructor arguments.
//! - `settings`: the `*_set` options and what CONNECT is built from.
//! - `url`: `connect_url`'s URLs turned into settings.
//! - `servers`: `connect_urls`' list of servers, and `server_url`.
//! - `connection`: `connect`, `disconnect` and the loop calls, handed to the engine.
//! - `properties_access`: Paho's readable properties (`host`, `keepalive`, ...) as getters and their
//!   setters, `enable_bridge_mode`, `Message::state`/`info`.
//! - `pubsub`: `publish`, `subscribe`, `unsubscribe`, `ack` and the state queries.
//! - `callbacks`: the `on_*` slots and setters, running a callback, and the engine's [`Handler`].
//! - `callbacks_v1`: the setters of Paho's VERSION1 callback shapes (`on_connect_v1`, ...), filling the
//!   same slots, and their value types.
//! - `messages`: `messages()`, the received messages through a bounded channel instead of `on_message`.
//!
//! About threads and locks (see also docs/architecture.md). A `Client` is an `Arc` around [`Shared`]:
//! - the engine's own locks: `state` (the session: message ids, inflight and queued messages,
//!   subscriptions, keepalive) and `io` (the socket and its buffers). Only the engine takes `io`; the
//!   client reaches the session through `Engine::with_session`, for the time it takes to encode one
//!   packet into the output buffer. Lock order: `io`, then `state`.
//! - `settings` (a Mutex): where and how to connect. Held only to read or change a setting, never
//!   while taking another lock.
//! - `callbacks` (a Mutex, held only to clone a callback out of its slot or to set one), `userdata` (a
//!   Mutex, held while a callback runs, so the callback gets `&mut U`), `pending_userdata` (a
//!   `user_data_set` made inside a callback). Lock order: `userdata` before the engine's locks, never
//!   after.
//!
//! No internal lock is held while a callback runs (except the userdata one and the callback's own), so
//! callbacks may call any method.

mod auth;
mod builder;
mod callbacks;
mod callbacks_v1;
mod connection;
mod messages;
mod properties_access;
mod pubsub;
mod redirect;
mod request;
mod servers;
mod settings;
mod srv;
mod url;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;

pub use builder::Builder;
use callbacks::Callbacks;
pub use callbacks_v1::{ConnackFlags, DisconnectRc, ReasonCodes};
pub use connection::ConnectOptions;
use settings::Settings;

use crate::completion::MessageInfo;
use crate::engine::{relock, Engine, Handler};
use crate::session::SessionConfig;
use crate::types::Protocol;

/// What a `Client` shares between its clones.
pub(crate) struct Shared<U> {
    engine: Arc<Engine>,
    settings: Mutex<Settings>,
    callbacks: Mutex<Callbacks<U>>,
    userdata: Mutex<U>,
    /// `user_data_set` called from inside a callback (when the userdata lock is held): applied when the
    /// callback returns.
    pending_userdata: Mutex<Option<U>>,
    /// `request`'s response topic and the requests waiting for replies.
    requests: Mutex<request::Requests>,
    /// Whether `request` ever subscribed a response topic: until then no message is a reply, and
    /// delivering one takes no lock for it.
    requests_used: AtomicBool,
    /// `messages()`: the channel that takes `on_message`'s messages, while there is one. A leaf lock,
    /// held to clone it out or replace it.
    messages: Mutex<Option<Arc<dyn messages::Sink>>>,
    suppress_exceptions: bool,
    logger: AtomicBool,
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
    inner: Arc<Shared<U>>,
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
        let st = self.settings();
        f.debug_struct("Client")
            .field("client_id", &st.client_id)
            .field("host", &st.host)
            .field("port", &st.port)
            .field("state", &self.inner.engine.conn_state())
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

/// The session settings a builder asks for.
fn session_config<U>(b: &Builder<U>) -> SessionConfig {
    SessionConfig {
        manual_ack: b.manual_ack,
        resubscribe: b.resubscribe,
        ..Default::default()
    }
}

/// The settings a builder asks for: an MQTT 3.1 client with no id gets a random one.
fn settings_of<U>(b: &Builder<U>) -> Settings {
    let client_id = if b.client_id.is_empty() && b.protocol == Protocol::V31 {
        random_client_id()
    } else {
        b.client_id.clone()
    };
    Settings::new(
        client_id,
        b.clean_session.unwrap_or(true),
        b.protocol,
        b.transport,
        b.ws,
        b.reconnect_on_failure,
    )
}

impl<U> Client<U> {
    pub(crate) fn from_builder(b: Builder<U>) -> Client<U> {
        let engine = Engine::new(session_config(&b), b.reconnect_on_failure);
        Client {
            inner: Arc::new(Shared {
                engine: Arc::new(engine),
                settings: Mutex::new(settings_of(&b)),
                callbacks: Mutex::new(Callbacks::default()),
                userdata: Mutex::new(b.userdata),
                pending_userdata: Mutex::new(None),
                requests: Mutex::new(request::Requests::default()),
                requests_used: AtomicBool::new(false),
                messages: Mutex::new(None),
                suppress_exceptions: b.suppress_exceptions,
                logger: AtomicBool::new(true),
            }),
        }
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        relock(&self.inner.settings)
    }

    fn callbacks(&self) -> MutexGuard<'_, Callbacks<U>> {
        relock(&self.inner.callbacks)
    }
}

impl<U: Send + 'static> Client<U> {
    /// A guard that calls [`disconnect`](Client::disconnect) and then
    /// [`loop_stop`](Client::loop_stop) when it is dropped, for code that must not leave a connection
    /// or a loop thread behind on any path out of a scope.
    pub fn disconnect_on_drop(&self) -> DisconnectOnDrop<U> {
        DisconnectOnDrop {
            client: self.clone(),
        }
    }

    /// The engine's handler: this client.
    fn handler(&self) -> &dyn Handler {
        self
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

/// Compile-time check that the client can be shared across threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn shared<T: Send + Sync + Clone>() {}
    fn sendable<T: Send + Sync>() {}
    shared::<Client<()>>();
    shared::<Client<Vec<u8>>>();
    shared::<MessageInfo>();
    sendable::<crate::error::Error>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn mqtt31_gets_a_random_id_and_311_keeps_an_empty_one() {
        let c = Client::builder().protocol(Protocol::V31).build().unwrap();
        let id = c.settings().client_id.clone();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let c = Client::new("");
        assert_eq!(c.settings().client_id, "");
    }

    #[test]
    fn defaults_are_pahos() {
        let c = Client::new("x");
        let st = c.settings();
        assert_eq!((st.port, st.keepalive), (1883, 60));
        assert_eq!(st.connect_timeout, Duration::from_secs(5));
        assert!(st.clean_session);
        let cfg = c.engine().with_session(|s| s.config().clone());
        assert_eq!((cfg.max_inflight, cfg.max_queued), (20, 0));
    }
}
