//! The readable properties of Paho 2.x's `Client` (`client.host`, `client.keepalive`, ...) as getters,
//! and their property setters (`client.host = ...`) as `*_set` methods with Paho's rules: a setter
//! refuses while a connection is open, where Paho raises RuntimeError "updating X on established
//! connection is not supported". Also `enable_bridge_mode`, and `Message::state`/`Message::info`
//! (Paho's `MQTTMessage.state` and `.info`), which need the client layer's view of both types.

use std::time::Duration;

use super::Client;
use crate::completion::MessageInfo;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::types::{MessageState, OptionalStr, Password, Protocol, QoS, Transport};

/// The log target the client's lines go to when the logger is on (see [`Client::logger`]).
const LOG_TARGET: &str = "pahoish";

impl<U> Client<U> {
    /// Fails, as Paho's property setters raise RuntimeError, while a connection is open.
    fn not_while_open(&self, name: &'static str) -> Result<()> {
        if self.engine().socket().is_some() {
            return Err(Error::invalid(
                name,
                format!("updating {name} on established connection is not supported"),
            ));
        }
        Ok(())
    }

    /// The host to connect to (Paho's `host` property): what `connect`, `connect_async`,
    /// `connect_url` or [`host_set`](Client::host_set) gave; `""` before that, as in Paho. For
    /// [`Transport::Unix`] it is the socket's path.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.host(), "");
    /// client.host_set("broker.example")?;
    /// assert_eq!(client.host(), "broker.example");
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn host(&self) -> String {
        self.settings().host.clone().unwrap_or_default()
    }

    /// Sets the host for the next connection (Paho's `client.host = ...`), as `reconnect` and the
    /// loop's reconnects use it. Fails for an empty host ("Invalid host.") and while a connection is
    /// open.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.host_set("localhost")?;
    /// assert!(client.host_set("").is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn host_set(&self, host: &str) -> Result<()> {
        self.not_while_open("host")?;
        if host.is_empty() {
            return Err(Error::invalid("host", "Invalid host."));
        }
        self.settings().host = Some(host.to_owned());
        Ok(())
    }

    /// The broker's port (Paho's `port` property). Defaults to 1883.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.port(), 1883);
    /// ```
    pub fn port(&self) -> u16 {
        self.settings().port
    }

    /// Sets the port for the next connection (Paho's `client.port = ...`). Fails for 0 ("Invalid port
    /// number.", except with [`Transport::Unix`], which ignores the port) and while a connection is
    /// open.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.port_set(8883)?;
    /// assert_eq!(client.port(), 8883);
    /// assert!(client.port_set(0).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn port_set(&self, port: u16) -> Result<()> {
        self.not_while_open("port")?;
        let mut st = self.settings();
        if port == 0 && st.transport != Transport::Unix {
            return Err(Error::invalid("port", "Invalid port number."));
        }
        st.port = port;
        Ok(())
    }

    /// The keepalive interval in seconds (Paho's `keepalive` property). Defaults to 60; `connect`
    /// sets it, and so does an MQTT 5 server's Server Keep Alive.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.keepalive(), 60);
    /// ```
    pub fn keepalive(&self) -> u16 {
        self.settings().keepalive
    }

    /// Sets the keepalive for the next connection (Paho's `client.keepalive = ...`; 0 turns it off).
    /// Fails while a connection is open.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.keepalive_set(30)?;
    /// assert_eq!(client.keepalive(), 30);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn keepalive_set(&self, keepalive: u16) -> Result<()> {
        self.not_while_open("keepalive")?;
        self.settings().keepalive = keepalive;
        Ok(())
    }

    /// The transport (Paho's `transport` property, `"tcp"`, `"websockets"` or `"unix"`). Defaults to
    /// [`Transport::Tcp`].
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.transport(), pahoish::Transport::Tcp);
    /// ```
    pub fn transport(&self) -> Transport {
        self.settings().transport
    }

    /// Sets the transport for the next connection (Paho's `client.transport = ...`). Fails while a
    /// connection is open, and with [`Error::NotSupported`] for [`Transport::Websockets`] in a build
    /// without the `websockets` feature.
    ///
    /// ```
    /// use pahoish::Transport;
    /// let client = pahoish::Client::new("");
    /// client.transport_set(Transport::Unix)?;
    /// assert_eq!(client.transport(), Transport::Unix);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn transport_set(&self, transport: Transport) -> Result<()> {
        self.not_while_open("transport")?;
        if transport == Transport::Websockets && !cfg!(feature = "websockets") {
            return Err(Error::NotSupported(
                "the websockets transport: this build lacks the `websockets` feature".into(),
            ));
        }
        let mut st = self.settings();
        st.transport = transport;
        st.ws = crate::net::ws_upgrade(transport);
        Ok(())
    }

    /// The protocol version (Paho's read-only `protocol` property), as the builder chose it.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.protocol(), pahoish::MQTTv311);
    /// ```
    pub fn protocol(&self) -> Protocol {
        self.settings().protocol
    }

    /// How long connecting may take (Paho's `connect_timeout` property). Defaults to 5 seconds; set
    /// with [`connect_timeout_set`](Client::connect_timeout_set).
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.connect_timeout(), std::time::Duration::from_secs(5));
    /// ```
    pub fn connect_timeout(&self) -> Duration {
        self.settings().connect_timeout
    }

    /// The user name sent in CONNECT (Paho's `username` property), or `None`.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.username(), None);
    /// client.username_pw_set("guest", None)?;
    /// assert_eq!(client.username().as_deref(), Some("guest"));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn username(&self) -> Option<String> {
        self.settings().username.clone()
    }

    /// Sets the user name alone (Paho's `client.username = ...`; `None` for none), keeping the
    /// password. Fails while a connection is open, and for more than 65,535 bytes.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.username_set("guest")?;
    /// client.username_set(None)?;
    /// assert_eq!(client.username(), None);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn username_set<'a>(&self, username: impl OptionalStr<'a>) -> Result<()> {
        self.not_while_open("username")?;
        let username = username.into_option();
        if let Some(name) = username {
            crate::types::check_mqtt_string("username", name)?;
        }
        self.settings().username = username.map(str::to_owned);
        Ok(())
    }

    /// The password sent in CONNECT (Paho's `password` property), or `None`. A [`Password`] prints
    /// as `<redacted>` (Debug and Display), so it cannot reach a log by accident;
    /// [`Password::as_str`] and [`Password::as_bytes`] give the secret to the code that asks.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.username_pw_set("guest", Some("12345678"))?;
    /// let password = client.password().unwrap();
    /// assert_eq!(format!("{password:?}"), "Password(<redacted>)");
    /// assert_eq!(password.as_str(), Some("12345678"));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn password(&self) -> Option<Password> {
        self.settings().password.clone().map(Password::new)
    }

    /// Sets the password alone (Paho's `client.password = ...`; `None` for none), keeping the user
    /// name. As in Paho it is sent only with a user name. Fails while a connection is open, and for
    /// more than 65,535 bytes.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.username_set("guest")?;
    /// client.password_set(Some("12345678"))?;
    /// assert_eq!(client.password().unwrap(), "12345678");
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn password_set(&self, password: Option<&str>) -> Result<()> {
        self.not_while_open("password")?;
        if password.is_some_and(|p| p.len() > usize::from(u16::MAX)) {
            return Err(Error::invalid("password", "must be at most 65535 bytes"));
        }
        self.settings().password = password.map(|p| p.as_bytes().to_vec());
        Ok(())
    }

    /// How many QoS 1/2 messages may be in flight at once (Paho's `max_inflight_messages`
    /// property); 0 = unlimited. Defaults to 20. Set with
    /// [`max_inflight_messages_set`](Client::max_inflight_messages_set), at any time.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.max_inflight_messages(), 20);
    /// client.max_inflight_messages_set(100);
    /// assert_eq!(client.max_inflight_messages(), 100);
    /// ```
    pub fn max_inflight_messages(&self) -> usize {
        self.engine().with_session(|s| s.config().max_inflight)
    }

    /// How many QoS 1/2 messages may be held, in flight and queued (Paho's `max_queued_messages`
    /// property); 0 = unlimited, the default. Set with
    /// [`max_queued_messages_set`](Client::max_queued_messages_set), at any time.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.max_queued_messages(), 0);
    /// ```
    pub fn max_queued_messages(&self) -> usize {
        self.engine().with_session(|s| s.config().max_queued)
    }

    /// The will's topic (Paho's read-only `will_topic` property), or `None` without a will. Set with
    /// [`will_set`](Client::will_set).
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.will_topic(), None);
    /// client.will_set("status/7", "offline", 1, true)?;
    /// assert_eq!(client.will_topic().as_deref(), Some("status/7"));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn will_topic(&self) -> Option<String> {
        self.settings().will.as_ref().map(|w| w.topic.clone())
    }

    /// The will's payload (Paho's read-only `will_payload` property), or `None` without a will.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.will_set("status/7", "offline", 1, true)?;
    /// assert_eq!(client.will_payload().as_deref(), Some(&b"offline"[..]));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn will_payload(&self) -> Option<Vec<u8>> {
        self.settings().will.as_ref().map(|w| w.payload.clone())
    }

    /// The will's QoS and retain flag, or `None` without a will (not properties in Paho, which keeps
    /// them in private attributes).
    ///
    /// ```
    /// use pahoish::QoS;
    /// let client = pahoish::Client::new("");
    /// client.will_set("status/7", "offline", 1, true)?;
    /// assert_eq!(client.will_qos_retain(), Some((QoS::AtLeastOnce, true)));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn will_qos_retain(&self) -> Option<(QoS, bool)> {
        self.settings().will.as_ref().map(|w| (w.qos, w.retain))
    }

    /// Where log lines go besides `on_log` (Paho's `logger` property): `Some("pahoish")`, the `log`
    /// crate target, while the logger is on (the default), `None` after
    /// [`disable_logger`](Client::disable_logger). Paho's `client.logger = x` is
    /// [`enable_logger`](Client::enable_logger) (the application picks the logger by installing one
    /// for the `log` crate) and `client.logger = None` is `disable_logger`.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.logger(), Some("pahoish"));
    /// client.disable_logger();
    /// assert_eq!(client.logger(), None);
    /// ```
    pub fn logger(&self) -> Option<&'static str> {
        self.inner
            .logger
            .load(std::sync::atomic::Ordering::Relaxed)
            .then_some(LOG_TARGET)
    }

    /// The local address the connection is bound to: `connect_with`'s `bind_address`, `""` when the
    /// system chooses (Paho's default, and its `_bind_address`).
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!((client.bind_address(), client.bind_port()), (String::new(), 0));
    /// ```
    pub fn bind_address(&self) -> String {
        self.settings()
            .bind
            .as_ref()
            .map(|(a, _)| a.clone())
            .unwrap_or_default()
    }

    /// The local port the connection is bound to: `connect_with`'s `bind_port`, 0 when the system
    /// chooses.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert_eq!(client.bind_port(), 0);
    /// ```
    pub fn bind_port(&self) -> u16 {
        self.settings().bind.as_ref().map_or(0, |(_, p)| *p)
    }

    /// Makes this client a bridge (Paho's `enable_bridge_mode`): from the next connection on, the
    /// protocol level in CONNECT has its high bit set (0x84 for MQTT 3.1.1, 0x83 for 3.1, 0x85 for
    /// 5.0, as Paho sends it). Brokers that know the convention (mosquitto, RSMB) then send the bridge
    /// none of its own messages back and keep the retain flag of what they forward, so a bridge may
    /// subscribe to `#` without loops. Other brokers refuse the connection. `reinitialise` turns it
    /// off, as in Paho.
    ///
    /// ```
    /// let client = pahoish::Client::new("bridge-1");
    /// assert!(!client.is_bridge());
    /// client.enable_bridge_mode();
    /// assert!(client.is_bridge());
    /// ```
    pub fn enable_bridge_mode(&self) {
        self.settings().bridge = true;
    }

    /// Whether [`enable_bridge_mode`](Client::enable_bridge_mode) was called (not in Paho, whose
    /// `_client_mode` is private).
    pub fn is_bridge(&self) -> bool {
        self.settings().bridge
    }
}

impl Message {
    /// Where this message stands in its QoS flow (Paho's `MQTTMessage.state`): a message given to
    /// `on_message` is `MQTT_MS_INVALID` at QoS 0 and 1, and `MQTT_MS_WAIT_FOR_PUBREL` at QoS 2 (it
    /// was delivered on PUBREL; PUBCOMP goes out when the callback returns), as Paho sets them.
    ///
    /// ```
    /// use pahoish::{Message, MessageState};
    /// assert_eq!(Message::new("a", "x", 2, false).state(), MessageState::MQTT_MS_WAIT_FOR_PUBREL);
    /// assert_eq!(Message::new("a", "x", 1, false).state(), MessageState::MQTT_MS_INVALID);
    /// ```
    pub fn state(&self) -> MessageState {
        if self.qos == 2 {
            MessageState::MQTT_MS_WAIT_FOR_PUBREL
        } else {
            MessageState::MQTT_MS_INVALID
        }
    }

    /// The message's `MessageInfo` (Paho's `MQTTMessage.info`): its `mid` and `rc` `MQTT_ERR_SUCCESS`.
    /// A received message is not this client's to publish, so `is_published()` is false, as in
    /// Paho, and `wait_for_publish` fails at once with `PublishDiscarded(MQTT_ERR_NOT_FOUND)` rather
    /// than wait for nothing (Paho's waits until its timeout).
    ///
    /// ```
    /// use pahoish::{Message, MQTT_ERR_SUCCESS};
    /// let mut msg = Message::new("a", "x", 1, false);
    /// msg.mid = 7;
    /// let info = msg.info();
    /// assert_eq!((info.rc, info.mid), (MQTT_ERR_SUCCESS, 7));
    /// assert!(!info.is_published());
    /// assert!(info.wait_for_publish(None).is_err());
    /// ```
    pub fn info(&self) -> MessageInfo {
        MessageInfo::received(self.mid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MQTTv5;

    #[test]
    fn getters_read_what_the_setters_and_builder_set() {
        let c = Client::builder().protocol(MQTTv5).build().unwrap();
        assert_eq!(c.protocol(), MQTTv5);
        assert_eq!(
            (c.host(), c.port(), c.keepalive()),
            (String::new(), 1883, 60)
        );
        c.host_set("h").unwrap();
        c.port_set(1884).unwrap();
        c.keepalive_set(0).unwrap();
        c.connect_timeout_set(2.5).unwrap();
        assert_eq!(
            (c.host(), c.port(), c.keepalive()),
            ("h".to_owned(), 1884, 0)
        );
        assert_eq!(c.connect_timeout(), Duration::from_millis(2500));
        c.max_queued_messages_set(7);
        assert_eq!(c.max_queued_messages(), 7);
        c.transport_set(Transport::Unix).unwrap();
        c.port_set(0).unwrap(); // ignored for Unix sockets, so allowed
        assert_eq!(c.transport(), Transport::Unix);
    }

    #[test]
    fn credentials_come_back_and_the_password_stays_redacted() {
        let c = Client::new("");
        c.username_pw_set("u", Some("s3cret")).unwrap();
        let p = c.password().unwrap();
        assert_eq!(p.as_bytes(), b"s3cret");
        let shown = format!("{p} {p:?} {:?}", c.password());
        assert!(!shown.contains("s3cret"), "{shown}");
        // username_pw_set(None): no credentials, and no password in CONNECT.
        c.username_pw_set(None, Some("s3cret")).unwrap();
        let connect = c.settings().connect_packet();
        assert_eq!((connect.username, connect.password), (None, None));
        // The property setters, one at a time.
        c.username_set("v").unwrap();
        c.password_set(Some("pw")).unwrap();
        let connect = c.settings().connect_packet();
        assert_eq!(connect.username.as_deref(), Some("v"));
        assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
        c.password_set(None).unwrap();
        assert!(c.password().is_none());
    }

    #[test]
    fn bridge_mode_reaches_connect_and_reinitialise_clears_it() {
        let c = Client::new("b");
        assert!(!c.settings().connect_packet().bridge);
        c.enable_bridge_mode();
        assert!(c.settings().connect_packet().bridge);
        c.reinitialise("b", true, ()).unwrap();
        assert!(!c.is_bridge());
    }

    #[test]
    fn bind_address_and_port_come_from_connect_with() {
        let c = Client::new("");
        c.settings().bind = Some(("127.0.0.1".into(), 4000));
        assert_eq!(
            (c.bind_address(), c.bind_port()),
            ("127.0.0.1".into(), 4000)
        );
    }
}
