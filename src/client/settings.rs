//! The user's settings: where and how to connect (the `*_set` options) and what CONNECT is built
//! from, plus the options that go to the session and the engine (limits, backoff, manual ack).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::callbacks::Callbacks;
use super::servers::Server;
use super::{Builder, Client};
use crate::completion::{in_callback_of, not_in_callback};
use crate::engine::{relock, Plan};
use crate::error::{Error, Result};
use crate::message::Payload;
use crate::net::{Target, TlsLayer, WsUpgrade};
use crate::packet::{Connect, LastWill};
use crate::properties::{PacketTypes, Properties, Property};
use crate::session::{SessionConfig, MAX_PACKET, MIN_PACKET};
use crate::topic::{validate_topic, MAX_TOPIC_LEN};
use crate::types::{
    check_mqtt_string, CleanStart, IntoQos, LogLevel, OptionalStr, Protocol, Proxy, Seconds,
    TlsOptions, Transport,
};

/// The longest wait `read_coalescing_set` takes: beyond it, a publisher waiting for its
/// acknowledgements would stall for nothing.
const MAX_READ_COALESCING: Duration = Duration::from_millis(10);

/// Where and how to connect, behind the `settings` lock.
pub(crate) struct Settings {
    pub client_id: String,
    pub clean_session: bool,
    pub protocol: Protocol,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<LastWill>,
    /// `None` before `connect`/`connect_async`.
    pub host: Option<String>,
    pub port: u16,
    pub keepalive: u16,
    pub transport: Transport,
    /// Set with `transport` (see `net::ws_upgrade`).
    pub ws: Option<WsUpgrade>,
    /// `tls_set` and friends; `None`: no TLS.
    pub tls: Option<Arc<dyn TlsLayer>>,
    pub ws_path: String,
    pub ws_headers: Vec<(String, String)>,
    pub proxy: Option<Proxy>,
    pub connect_timeout: Duration,
    /// MQTT 5 server redirection followed (`server_redirect_set`).
    pub follow_redirects: bool,
    /// A Use another server (0x9C) for the next connection only.
    pub redirect_once: Option<super::redirect::Redirect>,
    /// The host and port the last planned connection went to instead, after a Use another server.
    pub redirected: Option<(String, u16)>,
    /// The DNS server `connect_srv` asks (`srv_resolver_set`); `/etc/resolv.conf`'s when `None`.
    pub srv_resolver: Option<std::net::SocketAddr>,
    /// `connect_with`'s `bind_address` and `bind_port`; `None`: the system chooses.
    pub bind: Option<(String, u16)>,
    /// MQTT 5: `connect_with`'s Clean Start.
    pub clean_start: CleanStart,
    /// A CONNACK (accepting or refusing) has arrived since the last `connect`: `FirstOnly` stops
    /// asking for a clean start.
    pub first_connack_seen: bool,
    /// MQTT 5: `connect_with`'s CONNECT properties.
    pub connect_properties: Option<Properties>,
    /// The builder's, kept for `reinitialise`.
    pub reconnect_on_failure: bool,
    /// `enable_bridge_mode`: CONNECT's protocol level gets its high bit.
    pub bridge: bool,
    /// MQTT 5 enhanced authentication (`auth_method_set`): the Authentication Method and the initial
    /// Authentication Data (empty: none) of CONNECT.
    pub auth: Option<(String, Vec<u8>)>,
    /// `connect_urls`' servers; empty for a single one (`connect`, `connect_url`). The planned one's
    /// host, port and transport are copied into the fields above.
    pub servers: Vec<Server>,
    /// The index in `servers` of the last planned connection.
    pub server: usize,
}

impl Settings {
    pub(super) fn new(
        client_id: String,
        clean_session: bool,
        protocol: Protocol,
        transport: Transport,
        ws: Option<WsUpgrade>,
        reconnect_on_failure: bool,
    ) -> Settings {
        Settings {
            client_id,
            clean_session,
            protocol,
            username: None,
            password: None,
            will: None,
            host: None,
            port: 1883,
            keepalive: 60,
            transport,
            ws,
            tls: None,
            ws_path: "/mqtt".to_owned(),
            ws_headers: Vec::new(),
            proxy: None,
            connect_timeout: Duration::from_secs(5),
            srv_resolver: None,
            follow_redirects: false,
            redirect_once: None,
            redirected: None,
            bind: None,
            clean_start: CleanStart::default(),
            first_connack_seen: false,
            connect_properties: None,
            reconnect_on_failure,
            bridge: false,
            auth: None,
            servers: Vec::new(),
            server: 0,
        }
    }

    /// Where the next connection goes; fails before `connect`/`connect_async`. With a `connect_urls`
    /// list, `server` (modulo the list's length) picks the server, which becomes the current one.
    /// Follows a server redirection: `permanent` (Server moved) replaces the server (the list's
    /// current one), otherwise (Use another server) the next connection only goes there.
    pub(super) fn redirect(&mut self, to: super::redirect::Redirect, permanent: bool) {
        if !permanent {
            self.redirect_once = Some(to);
            return;
        }
        if self.servers.is_empty() {
            if let Some(port) = to.port {
                self.port = port;
            }
            self.host = Some(to.host);
        } else {
            let current = self.server % self.servers.len();
            self.servers[current].moved_to(to.host, to.port);
        }
    }

    pub(super) fn plan(&mut self, server: usize) -> Result<Plan> {
        let mut tls = self.tls.clone();
        let mut ws_path = self.ws_path.clone();
        if !self.servers.is_empty() {
            self.server = server % self.servers.len();
            let s = &self.servers[self.server];
            self.host = Some(s.host.clone());
            self.port = s.port;
            self.transport = s.transport;
            self.ws = s.ws;
            if !s.tls {
                tls = None;
            }
            if let Some(path) = &s.ws_path {
                ws_path.clone_from(path);
            }
        }
        let Some(mut host) = self.host.clone() else {
            return Err(Error::invalid(
                "host",
                "no host: call connect() or connect_async() first",
            ));
        };
        let mut port = self.port;
        self.redirected = None;
        if let Some(once) = self.redirect_once.take() {
            host = once.host;
            port = once.port.unwrap_or(port);
            self.redirected = Some((host.clone(), port));
        }
        Ok(Plan {
            target: Target {
                transport: self.transport,
                ws: self.ws,
                host,
                port,
                tls,
                ws_path,
                ws_headers: self.ws_headers.clone(),
                proxy: self.proxy.clone(),
                bind: self.bind.clone(),
            },
            timeout: self.connect_timeout,
            servers: self.servers.len().max(1),
        })
    }

    /// The `connect_urls` server of the last planned connection, if there is a list.
    pub(super) fn current_server(&self) -> Option<&Server> {
        self.servers.get(self.server)
    }

    /// The CONNECT packet these settings make. On MQTT 5 the clean-session flag is Clean Start, from
    /// `connect_with`'s `clean_start`.
    pub(super) fn connect_packet(&self) -> Connect {
        let v5 = self.protocol == Protocol::V5;
        let clean = if v5 {
            match self.clean_start {
                CleanStart::Always => true,
                CleanStart::Never => false,
                CleanStart::FirstOnly => !self.first_connack_seen,
            }
        } else {
            self.clean_session
        };
        // A `connect_urls` URL with a user name (and password) uses them for its server.
        let (username, password) = match self.current_server().and_then(Server::credentials) {
            Some((user, password)) => (Some(user.to_owned()), password.map(<[u8]>::to_vec)),
            // As Paho: no password without a user name (`username_pw_set(None, ..)`).
            None => (
                self.username.clone(),
                self.username.as_ref().and(self.password.clone()),
            ),
        };
        let mut connect = Connect {
            protocol: self.protocol,
            client_id: self.client_id.clone(),
            clean_session: clean,
            keepalive: self.keepalive,
            username,
            password,
            will: self.will.clone(),
            bridge: self.bridge,
            ..Connect::default()
        };
        if let (true, Some(props)) = (v5, &self.connect_properties) {
            connect.properties = props.clone();
        }
        if let (true, Some((method, data))) = (v5, &self.auth) {
            // `auth_method_set` wins over a method given in `connect_with`'s properties.
            let props = &mut connect.properties;
            props.insert(Property::AuthenticationMethod(method.clone()));
            props.remove(0x16);
            if !data.is_empty() {
                props.insert(Property::AuthenticationData(data.clone()));
            }
        }
        connect
    }

    /// Records where to connect (`connect`, `connect_async`, `connect_url`).
    pub(super) fn set_target(&mut self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        if host.is_empty() {
            return Err(Error::invalid("host", "must not be empty"));
        }
        if port == 0 && self.transport != Transport::Unix {
            return Err(Error::invalid("port", "must be 1..=65535"));
        }
        self.host = Some(host.to_owned());
        self.port = port;
        self.keepalive = keepalive;
        self.servers.clear();
        self.server = 0;
        Ok(())
    }
}

impl<U: Send + 'static> Client<U> {
    /// Resets the client as if it were new (Paho's `reinitialise`): closes any connection without
    /// callbacks, discards every message held (their `MessageInfo`s report it), forgets subscriptions,
    /// settings (TLS, websocket options and proxy included) and callbacks (Paho clears them too), ends
    /// the [`messages`](Client::messages) channel, and sets a new id, clean-session flag and userdata.
    /// The protocol and transport stay.
    ///
    /// Fails while a network loop runs (`loop_stop` first) and for a persistent session without an id.
    pub fn reinitialise(&self, client_id: &str, clean_session: bool, userdata: U) -> Result<()> {
        not_in_callback(&self.engine().signal, "reinitialise from a callback")?;
        if self.engine().forever_running() {
            return Err(Error::LoopAlreadyRunning);
        }
        if !clean_session && client_id.is_empty() {
            return Err(Error::invalid(
                "clean_session",
                "a client id must be provided if clean_session is false",
            ));
        }
        check_mqtt_string("client_id", client_id)?;
        let (b, cfg) = {
            let st = self.settings();
            let b = Builder::default()
                .client_id(client_id)
                .clean_session(clean_session)
                .protocol(st.protocol)
                .transport(st.transport)
                .reconnect_on_failure(st.reconnect_on_failure);
            let old = self.engine().with_session(|s| s.config().clone());
            (b, old)
        };
        let cfg = SessionConfig {
            manual_ack: cfg.manual_ack,
            resubscribe: cfg.resubscribe,
            ..SessionConfig::default()
        };
        self.engine().reset(cfg, b.reconnect_on_failure);
        *self.settings() = super::settings_of(&b);
        *self.callbacks() = Callbacks::default();
        self.end_messages();
        *relock(&self.inner.userdata) = userdata;
        self.callbacks_changed();
        Ok(())
    }

    /// Sets the user name and password sent in CONNECT (from the next connection on). An empty user
    /// name is sent as such. `None` as the user name clears the credentials, as Paho's
    /// `username_pw_set(None)`: CONNECT then carries neither (a password is sent only with a user name,
    /// as in Paho).
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.username_pw_set("guest", Some("12345678"))?;
    /// assert_eq!(client.username().as_deref(), Some("guest"));
    /// client.username_pw_set(None, None)?; // no credentials any more
    /// assert_eq!(client.username(), None);
    /// assert!(client.password().is_none());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn username_pw_set<'a>(
        &self,
        username: impl OptionalStr<'a>,
        password: Option<&str>,
    ) -> Result<()> {
        let username = username.into_option();
        if let Some(username) = username {
            check_mqtt_string("username", username)?;
        }
        if password.is_some_and(|p| p.len() > MAX_TOPIC_LEN) {
            return Err(Error::invalid("password", "must be at most 65535 bytes"));
        }
        let mut st = self.settings();
        st.username = username.map(str::to_owned);
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
        let insecure = options.insecure;
        let config = tls_config(options)?;
        {
            let mut st = self.settings();
            if st.tls.is_some() {
                return Err(tls_twice());
            }
            st.tls = Some(config);
        }
        if insecure {
            self.warn_insecure();
        }
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
        let mut st = self.settings();
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
            let mut st = self.settings();
            let Some(tls) = st.tls.as_mut() else {
                return Err(Error::invalid(
                    "tls_insecure_set",
                    "configure TLS first (tls_set, tls_set_with or tls_set_context)",
                ));
            };
            *tls = tls.with_insecure(insecure)?;
        }
        if insecure {
            self.warn_insecure();
        }
        Ok(())
    }

    fn warn_insecure(&self) {
        self.log(
            LogLevel::Warning,
            "tls_insecure_set(true): the broker's certificate need not name its host",
        );
    }

    fn tls_not_configured(&self) -> Result<()> {
        if self.settings().tls.is_some() {
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
        let mut st = self.settings();
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
        self.settings().proxy = Some(proxy);
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
        self.will_set_inner(topic, payload, qos, retain, None)
    }

    /// [`will_set`](Client::will_set) with MQTT 5 will properties (Paho's `properties=`: a
    /// `Properties::new(PacketTypes::WILLMESSAGE)` with, say, a `WillDelayInterval`,
    /// `MessageExpiryInterval`, `ContentType` or `UserProperty`). Fails for properties on MQTT
    /// 3.1/3.1.1, and for a property a will may not carry.
    ///
    /// ```
    /// use pahoish::{Client, PacketTypes, Properties, Property, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let props = Properties::new(PacketTypes::WILLMESSAGE).with(Property::WillDelayInterval(30))?;
    /// client.will_set_with("status/sensor-7", "offline", 1, true, props)?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn will_set_with<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
        properties: Properties,
    ) -> Result<()> {
        self.check_properties(&properties, PacketTypes::WILLMESSAGE)?;
        self.will_set_inner(topic, payload, qos, retain, Some(properties))
    }

    fn will_set_inner<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
        properties: Option<Properties>,
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
        let mut will = LastWill {
            topic: topic.to_owned(),
            payload,
            qos,
            retain,
            ..LastWill::default()
        };
        if let Some(props) = properties {
            will.properties = props;
        }
        self.settings().will = Some(will);
        Ok(())
    }

    /// Removes the will.
    pub fn will_clear(&self) {
        self.settings().will = None;
    }

    /// Replaces the userdata passed to callbacks. From inside a callback it takes effect when that
    /// callback returns.
    pub fn user_data_set(&self, userdata: U) {
        if in_callback_of(&self.engine().signal) {
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
            &self.engine().signal,
            "user_data_get inside a callback: use its userdata argument",
        )?;
        Ok(relock(&self.inner.userdata).clone())
    }

    /// How many QoS 1/2 messages may await acknowledgement at once; 0 = unlimited. Defaults to 20.
    /// Messages beyond it wait in the queue and go out as acknowledgements free slots.
    pub fn max_inflight_messages_set(&self, inflight: usize) {
        self.engine().with_session(|s| s.set_max_inflight(inflight));
    }

    /// How many QoS 1/2 messages may be held (in flight plus queued); 0 = unlimited. Defaults to 0.
    /// When full, `publish` of QoS 1/2 returns an info with rc `MQTT_ERR_QUEUE_SIZE` (the message not
    /// queued, as in Paho; its `wait_for_publish` fails with [`Error::QueueFull`]) and nothing already
    /// held is lost.
    pub fn max_queued_messages_set(&self, queue_size: usize) {
        self.engine().with_session(|s| s.set_max_queued(queue_size));
    }

    /// The largest packet this client takes from the broker, in bytes with the fixed header (not in
    /// Paho, which takes anything MQTT can express). Defaults to 268,435,460, MQTT's own limit; takes
    /// effect from the next connection.
    ///
    /// A packet over the limit closes the connection with a protocol error, before any of its body is
    /// buffered beyond the bytes already read (on MQTT 5 with DISCONNECT reason 0x95, Packet too
    /// large), so a broker cannot make the client hold more than about this much for one message. On
    /// MQTT 5 the limit is also sent in CONNECT as Maximum Packet Size (the smaller of this and a
    /// `MaximumPacketSize` in `connect_with`'s properties), and the server then drops, rather than
    /// sends, a message over it ([MQTT-3.1.2-25]). MQTT 3.1/3.1.1 have no way to tell the broker, so
    /// there a message over the limit costs the connection (and the reconnect backoff grows if it is
    /// sent again at each connection).
    ///
    /// Fails for a size below 4 (a CONNACK must fit) or above 268,435,460.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.max_packet_size_set(1 << 20)?; // 1 MiB
    /// assert!(client.max_packet_size_set(2).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn max_packet_size_set(&self, size: u32) -> Result<()> {
        if !(MIN_PACKET..=MAX_PACKET).contains(&size) {
            return Err(Error::invalid(
                "max_packet_size",
                format!("{size} is outside {MIN_PACKET}..={MAX_PACKET}"),
            ));
        }
        self.engine().with_session(|s| s.set_max_packet_size(size));
        Ok(())
    }

    /// The most bytes (topics and payloads) this client holds in incoming QoS 2 messages awaiting
    /// their PUBREL (not in Paho, whose only bound is the 65,535 message ids: 268 MB at 4 KiB a
    /// message). Defaults to 64 MiB; applies from the next message.
    ///
    /// A QoS 2 message is kept from its PUBLISH to its PUBREL and delivered then. A new one that would
    /// take the bytes held past this bound is neither kept nor acknowledged: the connection closes with
    /// a protocol error (on MQTT 5 after DISCONNECT with reason 0x97, Quota exceeded), and
    /// `on_disconnect` reports it. Nothing is lost: without its PUBREC the broker still owns that
    /// message and sends it again on the next connection of the session, after the PUBRELs of those
    /// held, which free their room (MQTT 3.1.1 section 4.4). A single message larger than the bound
    /// is taken when none is held ([`max_packet_size_set`](Client::max_packet_size_set) bounds it).
    /// A broker that keeps within MQTT 5's Receive Maximum, or a 3.1.1 broker's in-flight limit
    /// (mosquitto's `max_inflight_messages`, 20 by default), reaches it only with messages of several
    /// megabytes.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.max_awaiting_pubrel_bytes_set(16 << 20); // 16 MiB
    /// ```
    pub fn max_awaiting_pubrel_bytes_set(&self, bytes: usize) {
        self.engine()
            .with_session(|s| s.set_max_awaiting_pubrel_bytes(bytes));
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
        self.engine().set_read_coalescing(wait);
        Ok(())
    }

    /// Accepted and ignored, as in Paho 1.6 (removed in 2.0): unacknowledged messages are re-sent on
    /// reconnect, never on a timer while connected, as MQTT 3.1.1 requires.
    pub fn message_retry_set(&self, _retry: u32) {}

    /// The reconnect backoff of `loop_forever`/`loop_start`: the first wait is `min_delay`, doubled after
    /// each attempt up to `max_delay`, each wait spread by ±25% (so that clients dropped together do not
    /// come back together). Defaults to 1 and 120 seconds. Takes seconds (`1`, `0.5`) or a `Duration`.
    ///
    /// Unlike Paho, which starts over from `min_delay` at every accepted CONNACK, the backoff starts
    /// over only once a connection has stayed up for 10 seconds: a broker that accepts the client and
    /// drops it at once (another client with the same id, a message it refuses) is not hammered once a
    /// second. After three such connections in a row the log says (once, as a warning) that another
    /// client probably uses the same client id.
    ///
    /// With a list of servers ([`connect_urls`](Client::connect_urls)) the wait is once per round of
    /// the list: a server that refuses is followed by the next one at once.
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
        self.engine().set_reconnect_delay(min, max);
        Ok(())
    }

    /// How long `connect` waits for the TCP connection (Paho's `connect_timeout` property). Defaults to
    /// 5 seconds.
    pub fn connect_timeout_set(&self, timeout: impl Seconds) -> Result<()> {
        self.settings().connect_timeout = timeout.to_duration("connect_timeout")?;
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
    /// Defaults to off: PUBACK or PUBCOMP follows each `on_message`.
    ///
    /// When on, whether and in which order the acknowledgements are sent is the application's: MQTT
    /// asks for one per message ([MQTT-4.5.0-2]), in the order the messages arrived
    /// ([MQTT-4.6.0-2]), and the client checks neither.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.manual_ack_set(true);
    /// client.ack(1, 2)?; // PUBCOMP for message 1, once connected
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn manual_ack_set(&self, on: bool) {
        self.engine().with_session(|s| s.set_manual_ack(on));
    }

    /// Updates whether the session formats per-packet log lines (only worth it if someone reads them).
    pub(crate) fn callbacks_changed(&self) {
        let (has_on_log, watch_writes) = {
            let cbs = self.callbacks();
            (cbs.on_log.is_some(), cbs.on_socket_register_write.is_some())
        };
        self.engine().set_watch_writes(watch_writes);
        let trace = has_on_log
            || (self.logger_enabled() && log::log_enabled!(target: "pahoish", log::Level::Debug));
        self.engine().with_session(|s| s.set_trace(trace));
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
fn no_tls() -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_headers_follow_http_rules() {
        assert!(check_ws_header("X-Client", "sensor 7\tok").is_ok());
        assert!(check_ws_header("Authorization", "Bearer a.b-c").is_ok());
        assert!(check_ws_header("bad name", "v").is_err());
        assert!(check_ws_header("", "v").is_err());
        assert!(check_ws_header("X", "line\r\nInjected: 1").is_err());
    }
}
