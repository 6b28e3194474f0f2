//! Construction options (`Builder`), the transport choice and its settings (TLS, proxies), and the small
//! conversion traits that let methods take arguments the way Python does (QoS as an integer, seconds as
//! a number).

use std::path::PathBuf;
use std::time::Duration;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::packet::{Protocol, QoS};

/// How the client reaches the broker (Paho's `transport=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (`"tcp"`). The default.
    #[default]
    Tcp,
    /// MQTT over WebSockets (`"websockets"`), `ws://` or, with TLS configured, `wss://`; see
    /// [`Client::ws_set_options`]. Needs the `websockets` feature (on by default).
    Websockets,
    /// A Unix domain socket (`"unix"`): the host given to `connect` is the socket's path and the port
    /// is ignored.
    Unix,
}

/// Whether the broker's certificate must verify (Paho's `cert_reqs`: `ssl.CERT_REQUIRED` or
/// `ssl.CERT_NONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CertReqs {
    /// The certificate chain must lead to a trusted CA and name the host. The default.
    #[default]
    Required,
    /// Nothing about the broker's certificate is checked: the connection is encrypted but anyone can
    /// pose as the broker. For tests only.
    None,
}

/// The lowest TLS version to accept (Paho's `tls_version`, which in Python picks the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.0 (`ssl.PROTOCOL_TLSv1`); deprecated by RFC 8996.
    Tlsv1,
    /// TLS 1.1 (`ssl.PROTOCOL_TLSv1_1`); deprecated by RFC 8996.
    Tlsv1_1,
    /// TLS 1.2 (`ssl.PROTOCOL_TLSv1_2`).
    Tlsv1_2,
    /// TLS 1.3.
    Tlsv1_3,
}

/// Every argument of Paho's `tls_set`, for [`Client::tls_set_with`]; [`Client::tls_set`] takes the
/// first three.
///
/// Files are PEM. `ca_certs` may hold several certificates (a bundle); `certfile` may hold the client
/// certificate followed by its chain, and the key too when `keyfile` is `None`. The key may be PKCS#8
/// (`BEGIN PRIVATE KEY`), PKCS#8 encrypted (`BEGIN ENCRYPTED PRIVATE KEY`, with `keyfile_password`), or
/// the traditional OpenSSL forms (`BEGIN RSA PRIVATE KEY`, `BEGIN EC PRIVATE KEY`, encrypted or not).
///
/// ```
/// use pahoish::{CertReqs, TlsOptions, TlsVersion};
///
/// let options = TlsOptions {
///     ca_certs: Some("/etc/mosquitto/ca/ca.crt".into()),
///     tls_version: Some(TlsVersion::Tlsv1_2),
///     alpn_protocols: vec!["mqtt".into()],
///     ..Default::default()
/// };
/// assert_eq!(options.cert_reqs, CertReqs::Required);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates to trust instead of the system's (`ca_certs`). Defaults to `None`: the
    /// system's trusted roots.
    pub ca_certs: Option<PathBuf>,
    /// The client certificate, for brokers that require one (`certfile`). Defaults to `None`.
    pub certfile: Option<PathBuf>,
    /// The client certificate's private key (`keyfile`). Defaults to `None`: the key is read from
    /// `certfile`.
    pub keyfile: Option<PathBuf>,
    /// The password of an encrypted `keyfile` (`keyfile_password`). Defaults to `None`.
    pub keyfile_password: Option<String>,
    /// Whether the broker's certificate must verify (`cert_reqs`). Defaults to [`CertReqs::Required`].
    pub cert_reqs: CertReqs,
    /// The lowest TLS version accepted (`tls_version`). Defaults to `None`: the TLS library's own
    /// minimum (TLS 1.2 with current OpenSSL).
    pub tls_version: Option<TlsVersion>,
    /// ALPN protocols to offer (`alpn_protocols`), for instance `"mqtt"` or `"x-amzn-mqtt-ca"`. Defaults
    /// to none.
    pub alpn_protocols: Vec<String>,
    /// Paho's `ciphers`. The TLS library offers no cipher selection, so `Some` is refused with
    /// [`Error::NotSupported`] rather than ignored. Defaults to `None`: the library's secure defaults.
    pub ciphers: Option<String>,
}

/// The kind of proxy in a [`Proxy`] (PySocks' `socks.HTTP`, `socks.SOCKS4`, `socks.SOCKS5`).
///
/// ```
/// use pahoish::ProxyType;
/// assert_ne!(ProxyType::Http, ProxyType::Socks5);
/// assert_eq!(ProxyType::Socks5.default_port(), 1080);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyType {
    /// An HTTP proxy, through the CONNECT method (RFC 9110, 9.3.6).
    Http,
    /// SOCKS4, or SOCKS4a when the proxy resolves the name (`proxy_rdns`).
    Socks4,
    /// SOCKS5 (RFC 1928), with user name and password (RFC 1929) when given.
    Socks5,
}

impl ProxyType {
    /// The port used when [`Proxy::proxy_port`] is `None`: 8080 for HTTP, 1080 for SOCKS (PySocks').
    pub fn default_port(self) -> u16 {
        match self {
            ProxyType::Http => 8080,
            ProxyType::Socks4 | ProxyType::Socks5 => 1080,
        }
    }
}

/// A proxy to reach the broker through: the arguments of Paho's `proxy_set` (and the helpers'
/// `proxy_args`). See [`Client::proxy_set`].
///
/// ```
/// use pahoish::{Proxy, ProxyType};
///
/// let proxy = Proxy {
///     proxy_port: Some(1080),
///     proxy_username: Some("me".into()),
///     proxy_password: Some("secret".into()),
///     ..Proxy::new(ProxyType::Socks5, "127.0.0.1")
/// };
/// assert!(proxy.proxy_rdns);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The kind of proxy (`proxy_type`).
    pub proxy_type: ProxyType,
    /// The proxy's host (`proxy_addr`).
    pub proxy_addr: String,
    /// The proxy's port (`proxy_port`); `None` for [`ProxyType::default_port`].
    pub proxy_port: Option<u16>,
    /// Whether the proxy resolves the broker's name (`proxy_rdns`); with `false` this client resolves
    /// it and hands the proxy an address. Always true for HTTP.
    pub proxy_rdns: bool,
    /// User name for the proxy (`proxy_username`).
    pub proxy_username: Option<String>,
    /// Password for the proxy (`proxy_password`).
    pub proxy_password: Option<String>,
}

impl Proxy {
    /// A proxy of this kind at this address, on its usual port, resolving names itself, without
    /// credentials.
    ///
    /// ```
    /// use pahoish::{Proxy, ProxyType};
    /// let proxy = Proxy::new(ProxyType::Http, "proxy.example");
    /// assert_eq!((proxy.proxy_port, proxy.proxy_rdns), (None, true));
    /// ```
    pub fn new(proxy_type: ProxyType, proxy_addr: impl Into<String>) -> Proxy {
        Proxy {
            proxy_type,
            proxy_addr: proxy_addr.into(),
            proxy_port: None,
            proxy_rdns: true,
            proxy_username: None,
            proxy_password: None,
        }
    }

    /// The port to connect to.
    pub(crate) fn port(&self) -> u16 {
        self.proxy_port.unwrap_or(self.proxy_type.default_port())
    }
}

/// A number of seconds, as Paho takes it (`1`, `0.5`), or a [`Duration`].
///
/// Negative, NaN and infinite values are rejected with [`Error::InvalidArgument`].
///
/// ```
/// use pahoish::Seconds;
/// use std::time::Duration;
/// assert_eq!(1.5.to_duration("timeout").unwrap(), Duration::from_millis(1500));
/// assert_eq!(2.to_duration("timeout").unwrap(), Duration::from_secs(2));
/// assert!((-1.0).to_duration("timeout").is_err());
/// ```
pub trait Seconds {
    /// The value as a `Duration`; `name` is the argument's name for the error message.
    fn to_duration(self, name: &'static str) -> Result<Duration>;
}

impl Seconds for Duration {
    fn to_duration(self, _: &'static str) -> Result<Duration> {
        Ok(self)
    }
}

impl Seconds for f64 {
    fn to_duration(self, name: &'static str) -> Result<Duration> {
        Duration::try_from_secs_f64(self)
            .map_err(|_| Error::invalid(name, format!("{self} is not a number of seconds >= 0")))
    }
}

impl Seconds for f32 {
    fn to_duration(self, name: &'static str) -> Result<Duration> {
        f64::from(self).to_duration(name)
    }
}

impl Seconds for i32 {
    fn to_duration(self, name: &'static str) -> Result<Duration> {
        u64::try_from(self)
            .map(Duration::from_secs)
            .map_err(|_| Error::invalid(name, format!("{self} is negative")))
    }
}

impl Seconds for i64 {
    fn to_duration(self, name: &'static str) -> Result<Duration> {
        u64::try_from(self)
            .map(Duration::from_secs)
            .map_err(|_| Error::invalid(name, format!("{self} is negative")))
    }
}

impl Seconds for u32 {
    fn to_duration(self, _: &'static str) -> Result<Duration> {
        Ok(Duration::from_secs(self.into()))
    }
}

impl Seconds for u64 {
    fn to_duration(self, _: &'static str) -> Result<Duration> {
        Ok(Duration::from_secs(self))
    }
}

/// A QoS given as Python gives it (the integers 0, 1, 2) or as [`QoS`].
///
/// ```
/// use pahoish::{IntoQos, QoS};
/// assert_eq!(1.into_qos().unwrap(), QoS::AtLeastOnce);
/// assert!(matches!(3.into_qos(), Err(pahoish::Error::InvalidQos(3))));
/// ```
pub trait IntoQos {
    /// The QoS, or [`Error::InvalidQos`] for anything but 0, 1, 2.
    fn into_qos(self) -> Result<QoS>;
}

impl IntoQos for QoS {
    fn into_qos(self) -> Result<QoS> {
        Ok(self)
    }
}

macro_rules! int_into_qos {
    ($($t:ty),*) => {$(
        impl IntoQos for $t {
            fn into_qos(self) -> Result<QoS> {
                #[allow(clippy::unnecessary_fallible_conversions)] // i64::try_from(i64) for the macro's sake
                let v = i64::try_from(self).unwrap_or(i64::MAX);
                match v {
                    0 => Ok(QoS::AtMostOnce),
                    1 => Ok(QoS::AtLeastOnce),
                    2 => Ok(QoS::ExactlyOnce),
                    other => Err(Error::InvalidQos(other)),
                }
            }
        }
    )*};
}
int_into_qos!(i32, i64, u8, u32, u64, usize);

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
    pub(crate) client_id: String,
    pub(crate) clean_session: Option<bool>,
    pub(crate) userdata: U,
    pub(crate) protocol: Protocol,
    pub(crate) transport: Transport,
    /// Set with `transport` (see `net::ws_upgrade`).
    pub(crate) ws: Option<crate::net::WsUpgrade>,
    pub(crate) reconnect_on_failure: bool,
    pub(crate) manual_ack: bool,
    pub(crate) suppress_exceptions: bool,
    pub(crate) resubscribe: bool,
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
        }
    }

    /// The protocol version: [`MQTTv311`](crate::MQTTv311) (the default) or [`MQTTv31`](crate::MQTTv31).
    /// [`MQTTv5`](crate::MQTTv5) is not supported by this version and `build()` says so.
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

    /// Checks the options and creates the client.
    ///
    /// Fails when `clean_session(false)` is given with an empty client id, for MQTT 5 (not supported by
    /// this version), for websockets in a build without the `websockets` feature, and for a client id
    /// over 65,535 bytes.
    pub fn build(self) -> Result<Client<U>> {
        if self.protocol == Protocol::V5 {
            return Err(Error::NotSupported(
                "MQTT 5 (protocol MQTTv5): use MQTTv311 or MQTTv31".into(),
            ));
        }
        if self.transport == Transport::Websockets && !cfg!(feature = "websockets") {
            return Err(Error::NotSupported(
                "the websockets transport: this build lacks the `websockets` feature".into(),
            ));
        }
        if self.clean_session == Some(false) && self.client_id.is_empty() {
            return Err(Error::invalid(
                "clean_session",
                "a client id must be provided if clean_session is false",
            ));
        }
        if self.client_id.len() > crate::topic::MAX_TOPIC_LEN {
            return Err(Error::invalid(
                "client_id",
                "must be at most 65535 bytes of UTF-8",
            ));
        }
        Ok(Client::from_builder(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_constructions_are_refused_with_the_reason() {
        let e = Builder::default().clean_session(false).build().unwrap_err();
        assert!(e.to_string().contains("client id must be provided"), "{e}");
        let e = Builder::default()
            .protocol(Protocol::V5)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::NotSupported(_)));
        let built = Builder::default().transport(Transport::Websockets).build();
        assert_eq!(built.is_ok(), cfg!(feature = "websockets"));
        assert!(Builder::default()
            .client_id("x")
            .clean_session(false)
            .build()
            .is_ok());
    }

    #[test]
    fn seconds_conversions() {
        assert!(f64::NAN.to_duration("t").is_err());
        assert!(f64::INFINITY.to_duration("t").is_err());
        assert!((-1i32).to_duration("t").is_err());
        assert_eq!(0.to_duration("t").unwrap(), Duration::ZERO);
    }

    #[test]
    fn qos_conversions() {
        assert_eq!(2u8.into_qos().unwrap(), QoS::ExactlyOnce);
        assert!(matches!((-1).into_qos(), Err(Error::InvalidQos(-1))));
        assert!(u64::MAX.into_qos().is_err());
    }
}
