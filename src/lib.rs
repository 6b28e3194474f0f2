//! # pahoish
//!
//! A blocking, thread-based MQTT 3.1 / 3.1.1 / 5.0 client whose API mirrors Eclipse Paho's Python client, so
//! that a Paho script ports to Rust line by line.
//!
//! ```no_run
//! use pahoish as mqtt;
//!
//! let client = mqtt::Client::new("");
//! client.on_connect(|client, _userdata, _flags, rc, _props| {
//!     println!("Connected with result code {rc}");
//!     client.subscribe("$SYS/broker/version", 0).ok();
//! });
//! client.on_message(|_client, _userdata, msg| {
//!     println!("{} {}", msg.topic, msg.payload_repr());
//! });
//! client.connect("localhost", 1883, 60)?;
//! client.loop_forever()?;
//! # Ok::<(), mqtt::Error>(())
//! ```
//!
//! ## Usage flow
//! 1. Create a [`Client`] ([`Client::new`], or [`Client::builder`] for Paho's other constructor
//!    arguments), set callbacks (`on_connect`, `on_message`, ...) and options (`username_pw_set`,
//!    `will_set`, ...).
//! 2. [`Client::connect`] (blocking TCP connect, then CONNECT is queued) or [`Client::connect_async`].
//! 3. Run the network loop: [`Client::loop_forever`] on this thread, [`Client::loop_start`] on a thread of
//!    its own, or [`Client::loop`](struct.Client.html#method.loop) / `loop_read` / `loop_write` / `loop_misc` from your own event loop.
//! 4. [`Client::publish`], [`Client::subscribe`], [`Client::unsubscribe`] from any thread or callback.
//! 5. [`Client::disconnect`], then `loop_stop` if `loop_start` was used.
//!
//! Instead of `on_message`, [`Client::messages`] hands the received messages over through a bounded
//! channel, for a `for` loop (a slow consumer slows the broker down; nothing is dropped).
//!
//! ## Threads
//! `Client` is `Clone + Send + Sync`: clone it to use it from other threads. Callbacks run on the
//! thread running the loop, with two exceptions as in Paho: `connect`/`reconnect` run `on_pre_connect`
//! and `on_socket_open` on the calling thread, and when no loop runs, the thread whose call writes to the
//! socket (`publish`, `disconnect`) runs the callbacks that completes (QoS 0 `on_publish`,
//! `on_disconnect`). A publish from another thread wakes the loop and is written at once; a publish from
//! a callback is written as soon as the callback returns. Callbacks run with no internal lock held but
//! the userdata one (to pass `&mut U`), so they may call any method; the few that need what the running
//! callback holds ([`MessageInfo::wait_for_publish`], `loop()`, `loop_forever`, `connect`,
//! `user_data_get`) return [`Error::WouldDeadlock`] instead of hanging. A panic in a callback is caught and logged (see
//! [`Builder::suppress_exceptions`]). An idle client sleeps in `poll(2)` until the next keepalive
//! deadline: no CPU is used between packets. docs/architecture.md in the repository has the details:
//! which lock each method takes and the path of one message from `publish()` to the socket.
//!
//! ## Where this differs from Paho
//! - Subscriptions the broker did not keep are restored after a reconnect, without sending again what
//!   `on_connect` subscribes ([`Builder::resubscribe_on_reconnect`]).
//! - `wait_for_publish` never hangs: it has a timeout and fails fast when it could never complete.
//! - Paho's `ValueError`s are [`Error`]s naming the problem; nothing passed in or received panics.
//!
//! ## Transports
//! TCP by default; TLS with [`Client::tls_set`] (or [`Client::tls_set_with`] for Paho's other `tls_set`
//! arguments); WebSockets with [`Transport::Websockets`] and [`Client::ws_set_options`]; Unix sockets with
//! [`Transport::Unix`]; SOCKS and HTTP proxies with [`Client::proxy_set`] or Paho's `mqtt_proxy`
//! environment variable; and URLs (`mqtt://`, `mqtts://`, `ws://`, `wss://`, `unix://`) with
//! [`Client::connect_url`]. All run in the same loop on one socket.
//!
//! ```no_run
//! let client = pahoish::Client::new("");
//! client.tls_set(Some("ca.crt"), Some("client.crt"), Some("client.key"))?;
//! client.username_pw_set("guest", Some("12345678"))?;
//! client.connect("localhost", 8883, 60)?;
//! # Ok::<(), pahoish::Error>(())
//! ```
//!
//! ## Features
//! - `tls` (default): TLS through native-tls (OpenSSL on Linux); re-exported as [`native_tls`].
//! - `websockets` (default): MQTT over WebSockets through tungstenite.
//! - `testing`: brokers for your own tests: [`testing::TestBroker`], a small working broker on loopback, and
//!   [`testing::MockBroker`], a scripted, byte-exact fake one ([`testing::guide`] shows both).
//!
//! `default-features = false` leaves TCP and Unix sockets, with no TLS library to link, for small
//! embedded builds.
//!
//! ## Modules
//! Layers, lowest first; a module imports only from the layers below it (tests/layers.rs checks it,
//! docs/architecture.md has the table).
//!
//! | where | what |
//! | --- | --- |
//! | `error` | [`Error`], [`ErrorCode`] (`MQTT_ERR_*`), [`error_string`], [`connack_string`] |
//! | `types` | [`QoS`], [`Protocol`], [`IntoQos`], [`Seconds`], [`Transport`], [`TlsOptions`], [`Proxy`], [`ConnectFlags`], [`DisconnectFlags`], [`LogLevel`], [`MessageType`], [`ConnackCode`], [`MessageState`], [`Password`] |
//! | [`packet`] | the MQTT 3.1/3.1.1 codec, one file per packet |
//! | `reason` | [`ReasonCode`], [`Properties`] |
//! | `topic` | [`topic_matches_sub`], [`validate_topic`], [`validate_filter`], [`SubscribeTopics`], [`UnsubscribeTopics`] |
//! | `message` | [`Message`], [`Payload`] |
//! | `completion` | [`MessageInfo`] and what `wait_for_publish` waits on |
//! | `store` | persistence (opt-in): [`Store`], [`MemoryStore`], [`FileStore`], [`SyncPolicy`] |
//! | `session` | the protocol state machine (no sockets, no clocks) |
//! | `net` | connecting (TCP, proxies, TLS, websockets, Unix sockets), `poll(2)`, the wake-up channel |
//! | `engine` | connections, `loop`/`loop_forever`/`loop_start`, reading, writing, dispatch |
//! | `client` | [`Client`], [`Builder`], [`DisconnectOnDrop`]: settings, callbacks (Paho's VERSION1 shapes too: [`ConnackFlags`], [`DisconnectRc`], [`ReasonCodes`]), publish, subscribe |
//! | `helpers` | what [`publish`] and [`subscribe`] share: their options and connection |
//! | [`publish`] | `publish::single`, `publish::multiple`: connect, publish, wait, disconnect |
//! | [`subscribe`] | `subscribe::simple`, `subscribe::callback`: connect, subscribe, receive |
//! | [`testing`] | `TestBroker`, `MockBroker`, the testing `guide` (feature `testing`) |
#![deny(unsafe_code)]
// three exceptions, with their safety arguments: poll(2), setsockopt(2) in net/mod.rs, flock(2) in store/file.rs
#![deny(missing_docs)]

mod client;
mod completion;
mod engine;
mod error;
mod helpers;
mod message;
mod net;
pub mod packet;
mod properties;
pub mod publish;
mod reason;
mod session;
mod store;
pub mod subscribe;
mod topic;
mod types;

#[cfg(feature = "testing")]
pub mod testing;

/// The TLS library, re-exported so that [`Client::tls_set_context`] takes the same version's
/// `TlsConnector` that this crate was built with (feature `tls`).
#[cfg(feature = "tls")]
pub use native_tls;

/// The channel crate, re-exported so that [`Client::messages`]'s `Receiver` can be named, and used in
/// `select!`, with the version this crate was built with.
pub use crossbeam_channel;

pub use client::{
    Builder, Client, ConnackFlags, ConnectOptions, DisconnectOnDrop, DisconnectRc, ReasonCodes,
};
pub use completion::MessageInfo;
pub use error::*;
pub use message::{Message, Payload};
pub use properties::{PacketTypes, Properties, Property};
pub use reason::ReasonCode;
pub use store::{FileStore, MemoryStore, Store, SyncPolicy};
pub use topic::{
    shared_filter, topic_matches_sub, validate_filter, validate_topic, IntoSubscribeOptions,
    SubscribeTopics, UnsubscribeTopics,
};
pub use types::{
    CertReqs, CleanStart, ConnackCode, ConnectFlags, DisconnectFlags, IntoQos, LogLevel, MQTTv31,
    MQTTv311, MQTTv5, MessageState, MessageType, OptionalStr, Password, Protocol, Proxy, ProxyType,
    QoS, Seconds, SubscribeOptions, TlsOptions, TlsVersion, Transport, MQTT_CLEAN_START_FIRST_ONLY,
    MQTT_LOG_DEBUG, MQTT_LOG_ERR, MQTT_LOG_INFO, MQTT_LOG_NOTICE, MQTT_LOG_WARNING,
    RETAIN_DO_NOT_SEND, RETAIN_SEND_IF_NEW_SUB, RETAIN_SEND_ON_SUBSCRIBE,
};
