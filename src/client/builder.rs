//! [`Builder`]: Paho's constructor arguments (`client_id=`, `clean_session=`, `userdata=`, ...).

use std::sync::{Arc, Mutex};

use super::Client;
use crate::error::{Error, Result};
use crate::net::WsUpgrade;
use crate::store::Store;
use crate::types::{check_mqtt_string, Protocol, Transport};

/// Builds a [`Client`] with Paho's constructor arguments (`client_id=`, `clean_session=`, `userdata=`,
/// `protocol=`, `transport=`, `reconnect_on_failure=`, `manual_ack=`) and a few of ours.
///
/// ```
/// use pahoish as mqtt;
/// let client = mqtt::Client::builder()
///     .client_id("sensor-7")
///     .clean_session(false)
///     .userdata(vec![0u8; 0])
///     .protocol(mqtt::MQTTv311)
///     .build()?;
/// # Ok::<(), mqtt::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder<U = ()> {
    pub(super) client_id: String,
    pub(super) clean_session: Option<bool>,
    pub(super) userdata: U,
    pub(super) protocol: Protocol,
    pub(super) transport: Transport,
    /// Set with `transport` (see `net::ws_upgrade`).
    pub(super) ws: Option<WsUpgrade>,
    pub(super) reconnect_on_failure: bool,
    pub(super) manual_ack: bool,
    pub(super) suppress_exceptions: bool,
    pub(super) resubscribe: bool,
    pub(super) store: StoreSlot,
}

/// The store given to [`Builder::persistence`]: shared by clones of the builder, taken by the first
/// client built.
#[derive(Clone, Default)]
pub(super) struct StoreSlot(Option<Arc<Mutex<Option<BoxedStore>>>>);

type BoxedStore = Box<dyn Store>;

impl std::fmt::Debug for StoreSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(Store)"
        } else {
            "None"
        })
    }
}

impl StoreSlot {
    /// The store, if one was given: `Err` if another client took it already.
    pub(super) fn take(&self) -> Result<Option<BoxedStore>> {
        let Some(slot) = &self.0 else {
            return Ok(None);
        };
        crate::engine::relock(slot).take().map(Some).ok_or_else(|| {
            Error::invalid(
                "persistence",
                "the store was given to another client built from this builder",
            )
        })
    }
}

impl Default for Builder<()> {
    fn default() -> Self {
        Builder {
            client_id: String::new(),
            clean_session: None,
            userdata: (),
            protocol: Protocol::V311,
            transport: Transport::Tcp,
            ws: None,
            reconnect_on_failure: true,
            manual_ack: false,
            suppress_exceptions: true,
            resubscribe: true,
            store: StoreSlot::default(),
        }
    }
}

impl<U> Builder<U> {
    /// The client id sent in CONNECT. Defaults to `""`: on MQTT 3.1.1 a zero-length id is sent and the
    /// broker assigns one (a clean session is then required); on MQTT 3.1 a random 22-character id is
    /// generated, as Paho does.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Whether the broker discards the session when the client disconnects. Defaults to `true`.
    /// `false` needs a non-empty client id (`build()` fails otherwise, as Paho raises ValueError).
    pub fn clean_session(mut self, clean_session: bool) -> Self {
        self.clean_session = Some(clean_session);
        self
    }

    /// The value passed as `userdata` to every callback. Defaults to `()`.
    pub fn userdata<V>(self, userdata: V) -> Builder<V> {
        Builder {
            client_id: self.client_id,
            clean_session: self.clean_session,
            userdata,
            protocol: self.protocol,
            transport: self.transport,
            ws: self.ws,
            reconnect_on_failure: self.reconnect_on_failure,
            manual_ack: self.manual_ack,
            suppress_exceptions: self.suppress_exceptions,
            resubscribe: self.resubscribe,
            store: self.store,
        }
    }

    /// The protocol version: [`MQTTv311`](crate::MQTTv311) (the default) or [`MQTTv31`](crate::MQTTv31).
    /// [`MQTTv5`](crate::MQTTv5): then `clean_session` is refused (MQTT 5 has Clean Start, given to
    /// [`Client::connect_with`]) and an empty client id is allowed (the server assigns one, which the
    /// client keeps for its reconnects).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The transport (Paho's `transport=`). Defaults to [`Transport::Tcp`]. TLS is not a transport: it
    /// comes with [`Client::tls_set`], over TCP or websockets.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self.ws = crate::net::ws_upgrade(transport);
        self
    }

    /// Whether `loop_forever` and `loop_start` reconnect after the connection is lost. Defaults to
    /// `true`. With `false`, `loop_forever` returns the error that closed the connection.
    pub fn reconnect_on_failure(mut self, reconnect: bool) -> Self {
        self.reconnect_on_failure = reconnect;
        self
    }

    /// Whether incoming QoS 1/2 messages are acknowledged only when the application calls
    /// [`Client::ack`]. Defaults to `false` (acknowledged when `on_message` returns).
    pub fn manual_ack(mut self, manual_ack: bool) -> Self {
        self.manual_ack = manual_ack;
        self
    }

    /// Whether a panic in a callback is caught, logged (`log` and `on_log`) and the loop goes on.
    /// Defaults to `true` (Paho's default is to let exceptions escape and kill the loop; see the porting
    /// guide). With `false`, the panic propagates out of `loop_forever`/`loop()`, or ends the
    /// `loop_start` thread and is reported by `loop_stop`.
    pub fn suppress_exceptions(mut self, suppress: bool) -> Self {
        self.suppress_exceptions = suppress;
        self
    }

    /// Whether subscriptions the broker did not keep are restored after a reconnect. Defaults to `true`.
    /// Subscriptions that `on_connect` makes again are not sent twice.
    pub fn resubscribe_on_reconnect(mut self, resubscribe: bool) -> Self {
        self.resubscribe = resubscribe;
        self
    }

    /// Keeps the session in `store` (persistence; not in Paho Python, Paho C's `persistence_type`):
    /// the outgoing QoS 1/2 messages not yet acknowledged (the offline queue included) and their
    /// state, the incoming QoS 2 messages awaiting PUBREL, the client id and the subscriptions. The
    /// store is opened when the client is built, and what it holds is taken up: a client built on the
    /// store a crashed process used sends what was not acknowledged again (with the packet ids the
    /// broker may hold), sends PUBREL for what awaited PUBCOMP, and delivers each held QoS 2 message
    /// once, when its PUBREL comes. Without a store (the default) all this lives in memory only.
    ///
    /// Continuing a session needs the broker's side of it too: a fixed client id and
    /// `clean_session(false)` (MQTT 5: Clean Start off and a Session Expiry Interval). With a clean
    /// session the stored messages are still sent (nothing is lost), but the broker has forgotten
    /// their packet ids, so a QoS 2 message may arrive twice. An incoming QoS 2 message is
    /// forgotten when `on_message` returns (with manual ack, at `ack()`; with
    /// [`Client::messages`](crate::Client::messages), once it is in the channel): a crash while
    /// `on_message` runs delivers it again, one in the channel and not yet read is lost. What survives a power loss depends on the store ([`SyncPolicy`](
    /// crate::SyncPolicy) for [`FileStore`](crate::FileStore)). `build()` fails if the store does
    /// not open.
    ///
    /// ```
    /// use pahoish::{Client, FileStore, SyncPolicy};
    /// let dir = std::env::temp_dir().join(format!("pahoish-doc-persistence-{}", std::process::id()));
    /// let client = Client::builder()
    ///     .client_id("sensor-7")
    ///     .clean_session(false)
    ///     .persistence(FileStore::new(&dir, SyncPolicy::Always))
    ///     .build()?;
    /// // A QoS 1 message published while offline is on disk until the broker acknowledges it.
    /// client.publish("sensors/7", "21.5", 1, false)?;
    /// # drop(client);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn persistence(mut self, store: impl Store + 'static) -> Self {
        self.store = StoreSlot(Some(Arc::new(Mutex::new(Some(Box::new(store))))));
        self
    }

    /// Checks the options and creates the client.
    ///
    /// Fails when `clean_session(false)` is given with an empty client id, for `clean_session` with
    /// MQTT 5 (as Paho's ValueError "Clean session is not used for MQTT 5.0"), for websockets in a build
    /// without the `websockets` feature, and for a client id over 65,535 bytes or with U+0000.
    pub fn build(self) -> Result<Client<U>> {
        if self.protocol == Protocol::V5 && self.clean_session.is_some() {
            // Paho's ValueError: 5.0 has Clean Start, given to connect_with.
            return Err(Error::invalid(
                "clean_session",
                "clean session is not used for MQTT 5.0 (use ConnectOptions::clean_start)",
            ));
        }
        if self.transport == Transport::Websockets && !cfg!(feature = "websockets") {
            return Err(Error::NotSupported(
                "the websockets transport: this build lacks the `websockets` feature".into(),
            ));
        }
        if self.protocol != Protocol::V5
            && self.clean_session == Some(false)
            && self.client_id.is_empty()
        {
            return Err(Error::invalid(
                "clean_session",
                "a client id must be provided if clean_session is false",
            ));
        }
        check_mqtt_string("client_id", &self.client_id)?;
        let store = self.store.take()?;
        let client_id = self.client_id.clone();
        let client = Client::from_builder(self);
        if let Some(store) = store {
            let stored = client.engine().open_store(store, &client_id)?;
            if let Some(id) = stored.filter(|_| client_id.is_empty()) {
                // The id the server assigned to this session (MQTT 5), to continue it.
                client.settings().client_id = id;
            }
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_constructions_are_refused_with_the_reason() {
        let e = Builder::default().clean_session(false).build().unwrap_err();
        assert!(e.to_string().contains("client id must be provided"), "{e}");
        // MQTT 5: Clean Start instead of clean_session, and an empty id is fine (the server assigns).
        let e = Builder::default()
            .protocol(Protocol::V5)
            .clean_session(true)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("not used for MQTT 5.0"), "{e}");
        assert!(Builder::default().protocol(Protocol::V5).build().is_ok());
        let built = Builder::default().transport(Transport::Websockets).build();
        assert_eq!(built.is_ok(), cfg!(feature = "websockets"));
        assert!(Builder::default()
            .client_id("x")
            .clean_session(false)
            .build()
            .is_ok());
    }
}
