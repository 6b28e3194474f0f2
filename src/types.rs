//! Value types: QoS, the protocol version, the transport and its settings (TLS, proxies), the flags and
//! log levels the callbacks receive, and the small conversion traits that let methods take arguments
//! the way Python does (QoS as an integer, seconds as a number).
//!
//! Imports nothing of the crate but `error`: every other module may use these.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// The MQTT protocol version spoken on a connection.
///
/// Paho's integer constants [`MQTTv31`](crate::MQTTv31), [`MQTTv311`](crate::MQTTv311) and
/// [`MQTTv5`](crate::MQTTv5) are values of this type.
///
/// ```
/// assert_eq!(pahoish::MQTTv311, pahoish::Protocol::V311);
/// assert_eq!(pahoish::Protocol::V311.level(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4. The default.
    V311,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5,
}

impl Protocol {
    /// The protocol level byte sent in CONNECT (3, 4 or 5), which is also Paho's constant value.
    pub fn level(self) -> u8 {
        match self {
            Protocol::V31 => 3,
            Protocol::V311 => 4,
            Protocol::V5 => 5,
        }
    }

    /// The protocol name sent in CONNECT: `MQIsdp` for 3.1, `MQTT` otherwise.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V31 => "MQIsdp",
            _ => "MQTT",
        }
    }
}

impl Default for Protocol {
    /// MQTT 3.1.1, as in Paho.
    fn default() -> Self {
        Protocol::V311
    }
}

/// Quality of service of a message or subscription.
///
/// The client API takes QoS as a plain integer (0, 1, 2) as Paho does; this enum is what the packets carry.
///
/// ```
/// use pahoish::QoS;
/// assert_eq!(QoS::try_from(2u8), Ok(QoS::ExactlyOnce));
/// assert!(QoS::try_from(3u8).is_err());
/// assert_eq!(QoS::AtLeastOnce as u8, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    /// QoS 0: at most once, no acknowledgement.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once, acknowledged by PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: exactly once, PUBREC / PUBREL / PUBCOMP.
    ExactlyOnce = 2,
}

/// How the client reaches the broker (Paho's `transport=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (`"tcp"`). The default.
    #[default]
    Tcp,
    /// MQTT over WebSockets (`"websockets"`), `ws://` or, with TLS configured, `wss://`; see
    /// [`Client::ws_set_options`](crate::Client::ws_set_options). Needs the `websockets` feature (on by default).
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

/// Every argument of Paho's `tls_set`, for [`Client::tls_set_with`](crate::Client::tls_set_with); [`Client::tls_set`](crate::Client::tls_set) takes the
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
#[derive(Clone, Default, PartialEq, Eq)]
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
    /// Whether the broker's certificate may name another host (`insecure`, the key Paho's helpers
    /// take and pass to `tls_insecure_set`): `true` is [`Client::tls_insecure_set`](crate::Client::tls_insecure_set)`(true)`,
    /// the chain is still verified. Defaults to `false`.
    pub insecure: bool,
}

/// The password is not printed.
impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_certs", &self.ca_certs)
            .field("certfile", &self.certfile)
            .field("keyfile", &self.keyfile)
            .field(
                "keyfile_password",
                &self.keyfile_password.as_ref().map(|_| Redacted),
            )
            .field("cert_reqs", &self.cert_reqs)
            .field("tls_version", &self.tls_version)
            .field("alpn_protocols", &self.alpn_protocols)
            .field("ciphers", &self.ciphers)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Stands for a secret in Debug output.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
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
/// `proxy_args`). See [`Client::proxy_set`](crate::Client::proxy_set).
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
#[derive(Clone, PartialEq, Eq)]
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

/// The password is not printed.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("proxy_type", &self.proxy_type)
            .field("proxy_addr", &self.proxy_addr)
            .field("proxy_port", &self.proxy_port)
            .field("proxy_rdns", &self.proxy_rdns)
            .field("proxy_username", &self.proxy_username)
            .field(
                "proxy_password",
                &self.proxy_password.as_ref().map(|_| Redacted),
            )
            .finish()
    }
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

// Paho's names for the protocol versions, kept so that a search for the Python name finds the Rust
// one.
#[allow(non_upper_case_globals)]
/// `MQTTv31`: MQTT 3.1 (protocol level 3).
pub const MQTTv31: Protocol = Protocol::V31;
#[allow(non_upper_case_globals)]
/// `MQTTv311`: MQTT 3.1.1 (protocol level 4), the default.
pub const MQTTv311: Protocol = Protocol::V311;
#[allow(non_upper_case_globals)]
/// `MQTTv5`: MQTT 5 (protocol level 5).
pub const MQTTv5: Protocol = Protocol::V5;

/// Checks a string MQTT sends as UTF-8 (a client id, a user name): at most 65,535 bytes and no
/// U+0000, which MQTT forbids in every string ([MQTT-1.5.3-2]).
pub(crate) fn check_mqtt_string(name: &'static str, s: &str) -> Result<()> {
    if s.len() > 65_535 {
        return Err(Error::invalid(name, "must be at most 65535 bytes of UTF-8"));
    }
    if s.contains('\0') {
        return Err(Error::invalid(
            name,
            "must not contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}

/// MQTT 5's Clean Start flag for [`ConnectOptions::clean_start`](crate::ConnectOptions::clean_start)
/// (Paho's `clean_start=`: `True`, `False` or `MQTT_CLEAN_START_FIRST_ONLY`).
///
/// ```
/// use pahoish::{CleanStart, MQTT_CLEAN_START_FIRST_ONLY};
/// assert_eq!(CleanStart::from(true), CleanStart::Always);
/// assert_eq!(CleanStart::default(), MQTT_CLEAN_START_FIRST_ONLY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CleanStart {
    /// `False`: every CONNECT continues the session the server kept, if any.
    Never,
    /// `True`: every CONNECT starts a new session.
    Always,
    /// `MQTT_CLEAN_START_FIRST_ONLY` (Paho's default): a new session on the CONNECTs of one `connect()`
    /// until the first CONNACK arrives (accepting or refusing), then the session continues on every
    /// reconnect. Each `connect()` starts over.
    #[default]
    FirstOnly,
}

impl From<bool> for CleanStart {
    fn from(clean: bool) -> CleanStart {
        if clean {
            CleanStart::Always
        } else {
            CleanStart::Never
        }
    }
}

/// `MQTT_CLEAN_START_FIRST_ONLY`: see [`CleanStart::FirstOnly`].
pub const MQTT_CLEAN_START_FIRST_ONLY: CleanStart = CleanStart::FirstOnly;

/// MQTT 5's Retain Handling, as Paho names it: send retained messages on every subscribe (0, the
/// default).
pub const RETAIN_SEND_ON_SUBSCRIBE: u8 = 0;
/// Retain Handling 1: send retained messages only if the subscription did not exist before.
pub const RETAIN_SEND_IF_NEW_SUB: u8 = 1;
/// Retain Handling 2: never send retained messages on subscribe.
pub const RETAIN_DO_NOT_SEND: u8 = 2;

/// The options of one subscription (Paho's `SubscribeOptions`): the QoS, and on MQTT 5 No Local,
/// Retain As Published and Retain Handling. On MQTT 3.1/3.1.1 only the QoS is sent.
///
/// ```
/// use pahoish::{QoS, SubscribeOptions, RETAIN_DO_NOT_SEND};
/// let o = SubscribeOptions { no_local: true, retain_handling: RETAIN_DO_NOT_SEND, ..SubscribeOptions::new(2)? };
/// assert_eq!(o.qos, QoS::ExactlyOnce);
/// assert_eq!(o.byte(), 0b0010_0110);
/// assert_eq!(o.to_string(), "{QoS=2, noLocal=True, retainAsPublished=False, retainHandling=2}");
/// assert!(SubscribeOptions::from_byte(0b0011_0000).is_none()); // Retain Handling 3 is reserved
/// # Ok::<(), pahoish::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscribeOptions {
    /// The maximum QoS of the messages sent for this subscription (`QoS`). Defaults to 0.
    pub qos: QoS,
    /// MQTT 5: the server does not send this client its own messages (`noLocal`). Defaults to `false`.
    pub no_local: bool,
    /// MQTT 5: messages keep the retain flag they were published with (`retainAsPublished`). Defaults to
    /// `false`.
    pub retain_as_published: bool,
    /// MQTT 5: when retained messages are sent (`retainHandling`): [`RETAIN_SEND_ON_SUBSCRIBE`] (the
    /// default), [`RETAIN_SEND_IF_NEW_SUB`] or [`RETAIN_DO_NOT_SEND`].
    pub retain_handling: u8,
}

impl SubscribeOptions {
    /// Options with this QoS (0, 1, 2 or a [`QoS`]) and MQTT 5's defaults; fails for another QoS.
    pub fn new(qos: impl IntoQos) -> Result<SubscribeOptions> {
        Ok(SubscribeOptions {
            qos: qos.into_qos()?,
            ..SubscribeOptions::default()
        })
    }

    /// Fails for a Retain Handling other than 0, 1, 2 (Paho raises `AssertionError`).
    pub fn check(&self) -> Result<()> {
        if self.retain_handling > RETAIN_DO_NOT_SEND {
            return Err(Error::invalid(
                "retain_handling",
                format!("{} is not 0, 1 or 2", self.retain_handling),
            ));
        }
        Ok(())
    }

    /// The subscription options byte of an MQTT 5 SUBSCRIBE: `retainHandling << 4 | rap << 3 | nl << 2
    /// | qos`.
    pub fn byte(&self) -> u8 {
        (self.retain_handling & 0x03) << 4
            | u8::from(self.retain_as_published) << 3
            | u8::from(self.no_local) << 2
            | self.qos as u8
    }

    /// The options an MQTT 5 options byte holds; `None` for reserved bits set, QoS 3 or Retain
    /// Handling 3.
    pub fn from_byte(b: u8) -> Option<SubscribeOptions> {
        let qos = match b & 0x03 {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => return None,
        };
        let retain_handling = (b >> 4) & 0x03;
        if b & 0xc0 != 0 || retain_handling == 3 {
            return None;
        }
        Some(SubscribeOptions {
            qos,
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling,
        })
    }
}

impl From<QoS> for SubscribeOptions {
    fn from(qos: QoS) -> SubscribeOptions {
        SubscribeOptions {
            qos,
            ..SubscribeOptions::default()
        }
    }
}

/// Paho's `str()`: `{QoS=1, noLocal=False, retainAsPublished=False, retainHandling=0}`.
impl fmt::Display for SubscribeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let py = |b: bool| if b { "True" } else { "False" };
        write!(
            f,
            "{{QoS={}, noLocal={}, retainAsPublished={}, retainHandling={}}}",
            self.qos as u8,
            py(self.no_local),
            py(self.retain_as_published),
            self.retain_handling
        )
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

/// The flags passed to `on_connect` (Paho's `ConnectFlags`).
///
/// Debug (`{flags:?}`) prints what Python prints for Paho's dataclass, so `print(flags)` ports as
/// `println!("{flags:?}")`:
///
/// ```
/// let flags = pahoish::ConnectFlags::default();
/// assert_eq!(format!("{flags:?}"), "ConnectFlags(session_present=False)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectFlags {
    /// Whether the broker resumed a session it kept for this client id.
    pub session_present: bool,
}

impl fmt::Debug for ConnectFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ConnectFlags(session_present={})",
            py_bool(self.session_present)
        )
    }
}

/// The flags passed to `on_disconnect` (Paho's `DisconnectFlags`).
///
/// Debug prints what Python prints for Paho's dataclass:
///
/// ```
/// let flags = pahoish::DisconnectFlags::default();
/// assert_eq!(
///     format!("{flags:?}"),
///     "DisconnectFlags(is_disconnect_packet_from_server=False)"
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DisconnectFlags {
    /// Whether the broker sent a DISCONNECT packet (MQTT 5 only; always false on 3.1/3.1.1).
    pub is_disconnect_packet_from_server: bool,
}

impl fmt::Debug for DisconnectFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DisconnectFlags(is_disconnect_packet_from_server={})",
            py_bool(self.is_disconnect_packet_from_server)
        )
    }
}

/// Python's `str(bool)`.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The level of an `on_log` line, with Paho's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum LogLevel {
    /// `MQTT_LOG_INFO` (1).
    Info = 1,
    /// `MQTT_LOG_NOTICE` (2).
    Notice = 2,
    /// `MQTT_LOG_WARNING` (4).
    Warning = 4,
    /// `MQTT_LOG_ERR` (8).
    Err = 8,
    /// `MQTT_LOG_DEBUG` (16).
    Debug = 16,
}

/// `MQTT_LOG_INFO`.
pub const MQTT_LOG_INFO: LogLevel = LogLevel::Info;
/// `MQTT_LOG_NOTICE`.
pub const MQTT_LOG_NOTICE: LogLevel = LogLevel::Notice;
/// `MQTT_LOG_WARNING`.
pub const MQTT_LOG_WARNING: LogLevel = LogLevel::Warning;
/// `MQTT_LOG_ERR`.
pub const MQTT_LOG_ERR: LogLevel = LogLevel::Err;
/// `MQTT_LOG_DEBUG`.
pub const MQTT_LOG_DEBUG: LogLevel = LogLevel::Debug;

impl LogLevel {
    pub(crate) fn to_log(self) -> log::Level {
        match self {
            LogLevel::Info | LogLevel::Notice => log::Level::Info,
            LogLevel::Warning => log::Level::Warn,
            LogLevel::Err => log::Level::Error,
            LogLevel::Debug => log::Level::Debug,
        }
    }
}

impl LogLevel {
    /// Paho's name for the level: `"MQTT_LOG_INFO"`, `"MQTT_LOG_NOTICE"`, `"MQTT_LOG_WARNING"`,
    /// `"MQTT_LOG_ERR"` or `"MQTT_LOG_DEBUG"`.
    ///
    /// ```
    /// assert_eq!(pahoish::MQTT_LOG_DEBUG.name(), "MQTT_LOG_DEBUG");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Info => "MQTT_LOG_INFO",
            LogLevel::Notice => "MQTT_LOG_NOTICE",
            LogLevel::Warning => "MQTT_LOG_WARNING",
            LogLevel::Err => "MQTT_LOG_ERR",
            LogLevel::Debug => "MQTT_LOG_DEBUG",
        }
    }
}

/// The level's value, as `str(level)` and `print(level)` show Paho's `LogLevel` (an `IntEnum`) on
/// Python 3.11 and later: `16` for `MQTT_LOG_DEBUG`. [`LogLevel::name`] gives the name; `{:?}` the
/// variant.
///
/// ```
/// use pahoish as mqtt;
/// assert_eq!(mqtt::MQTT_LOG_DEBUG.to_string(), "16");
/// assert_eq!(format!("level {}", mqtt::MQTT_LOG_WARNING), "level 4");
/// ```
impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&(*self as u8), f)
    }
}

/// The MQTT packet types as the first byte of a packet carries them (Paho's `MessageType`, an
/// `IntEnum` of `paho.mqtt.enums`): the type in the high four bits, `CONNECT = 0x10` ...
/// `AUTH = 0xF0`. [`PacketTypes`](crate::PacketTypes) numbers the same packets 1 to 15, as Paho's
/// `PacketTypes` does for properties.
///
/// ```
/// use pahoish::MessageType;
/// assert_eq!(MessageType::PUBLISH as u8, 0x30);
/// assert_eq!(MessageType::from_u8(0x32), Some(MessageType::PUBLISH)); // flags ignored
/// assert_eq!(MessageType::PINGREQ.to_string(), "192");
/// ```
#[allow(clippy::upper_case_acronyms)] // Paho's names, so that a search for them finds these
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageType {
    /// CONNECT (0x10).
    CONNECT = 0x10,
    /// CONNACK (0x20).
    CONNACK = 0x20,
    /// PUBLISH (0x30).
    PUBLISH = 0x30,
    /// PUBACK (0x40).
    PUBACK = 0x40,
    /// PUBREC (0x50).
    PUBREC = 0x50,
    /// PUBREL (0x60).
    PUBREL = 0x60,
    /// PUBCOMP (0x70).
    PUBCOMP = 0x70,
    /// SUBSCRIBE (0x80).
    SUBSCRIBE = 0x80,
    /// SUBACK (0x90).
    SUBACK = 0x90,
    /// UNSUBSCRIBE (0xA0).
    UNSUBSCRIBE = 0xA0,
    /// UNSUBACK (0xB0).
    UNSUBACK = 0xB0,
    /// PINGREQ (0xC0).
    PINGREQ = 0xC0,
    /// PINGRESP (0xD0).
    PINGRESP = 0xD0,
    /// DISCONNECT (0xE0).
    DISCONNECT = 0xE0,
    /// AUTH (0xF0, MQTT 5).
    AUTH = 0xF0,
}

impl MessageType {
    /// The type of a packet from its first byte (the low four bits, the flags, are ignored); `None`
    /// for 0x00-0x0F, which MQTT reserves.
    pub fn from_u8(byte: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match byte & 0xF0 {
            0x10 => CONNECT,
            0x20 => CONNACK,
            0x30 => PUBLISH,
            0x40 => PUBACK,
            0x50 => PUBREC,
            0x60 => PUBREL,
            0x70 => PUBCOMP,
            0x80 => SUBSCRIBE,
            0x90 => SUBACK,
            0xA0 => UNSUBSCRIBE,
            0xB0 => UNSUBACK,
            0xC0 => PINGREQ,
            0xD0 => PINGRESP,
            0xE0 => DISCONNECT,
            0xF0 => AUTH,
            _ => return None,
        })
    }
}

/// The value, as Python 3.11 and later print an `IntEnum`.
impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&(*self as u8), f)
    }
}

/// The return codes of an MQTT 3.1/3.1.1 CONNACK (Paho's `ConnackCode`). The same values are the
/// `CONNACK_*` constants (`u8`), and [`connack_string`](crate::connack_string) gives Paho's text.
///
/// ```
/// use pahoish as mqtt;
/// use mqtt::ConnackCode;
/// assert_eq!(ConnackCode::CONNACK_REFUSED_NOT_AUTHORIZED as u8, mqtt::CONNACK_REFUSED_NOT_AUTHORIZED);
/// assert_eq!(ConnackCode::from_u8(4), Some(ConnackCode::CONNACK_REFUSED_BAD_USERNAME_PASSWORD));
/// assert_eq!(mqtt::connack_string(ConnackCode::CONNACK_ACCEPTED as u8), "Connection Accepted.");
/// ```
#[allow(non_camel_case_types)] // Paho's names, so that a search for them finds these
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ConnackCode {
    /// 0: the connection is accepted.
    CONNACK_ACCEPTED = 0,
    /// 1: the broker does not speak the protocol version asked for.
    CONNACK_REFUSED_PROTOCOL_VERSION = 1,
    /// 2: the client identifier is not allowed.
    CONNACK_REFUSED_IDENTIFIER_REJECTED = 2,
    /// 3: the MQTT service is unavailable.
    CONNACK_REFUSED_SERVER_UNAVAILABLE = 3,
    /// 4: the user name or password is wrong.
    CONNACK_REFUSED_BAD_USERNAME_PASSWORD = 4,
    /// 5: the client is not authorised to connect.
    CONNACK_REFUSED_NOT_AUTHORIZED = 5,
}

impl ConnackCode {
    /// The code for a CONNACK return code; `None` beyond 5.
    pub fn from_u8(rc: u8) -> Option<ConnackCode> {
        use ConnackCode::*;
        Some(match rc {
            0 => CONNACK_ACCEPTED,
            1 => CONNACK_REFUSED_PROTOCOL_VERSION,
            2 => CONNACK_REFUSED_IDENTIFIER_REJECTED,
            3 => CONNACK_REFUSED_SERVER_UNAVAILABLE,
            4 => CONNACK_REFUSED_BAD_USERNAME_PASSWORD,
            5 => CONNACK_REFUSED_NOT_AUTHORIZED,
            _ => return None,
        })
    }
}

/// The value, as Python 3.11 and later print an `IntEnum`.
impl fmt::Display for ConnackCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&(*self as u8), f)
    }
}

impl From<ConnackCode> for i32 {
    fn from(rc: ConnackCode) -> i32 {
        i32::from(rc as u8)
    }
}

/// Where a message stands in its QoS flow (Paho's `MessageState`, the `MQTTMessage.state` values
/// `mqtt_ms_*`). A message given to `on_message` is `MQTT_MS_INVALID` at QoS 0 and 1 and
/// `MQTT_MS_WAIT_FOR_PUBREL` at QoS 2 (it arrives with the PUBREL, and its PUBCOMP is sent when the
/// callback returns), as in Paho: [`Message::state`](crate::Message::state).
///
/// ```
/// use pahoish::MessageState;
/// assert_eq!(MessageState::MQTT_MS_WAIT_FOR_PUBREL as u8, 5);
/// assert_eq!(MessageState::MQTT_MS_QUEUED.to_string(), "9");
/// ```
#[allow(non_camel_case_types)] // Paho's names, so that a search for them finds these
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageState {
    /// 0: no flow (a received QoS 0 or 1 message).
    MQTT_MS_INVALID = 0,
    /// 1: to be published.
    MQTT_MS_PUBLISH = 1,
    /// 2: sent at QoS 1, waiting for PUBACK.
    MQTT_MS_WAIT_FOR_PUBACK = 2,
    /// 3: sent at QoS 2, waiting for PUBREC.
    MQTT_MS_WAIT_FOR_PUBREC = 3,
    /// 4: PUBREL to be sent again.
    MQTT_MS_RESEND_PUBREL = 4,
    /// 5: received at QoS 2, waiting for PUBREL.
    MQTT_MS_WAIT_FOR_PUBREL = 5,
    /// 6: PUBCOMP to be sent again.
    MQTT_MS_RESEND_PUBCOMP = 6,
    /// 7: PUBREL sent, waiting for PUBCOMP.
    MQTT_MS_WAIT_FOR_PUBCOMP = 7,
    /// 8: PUBREC to be sent.
    MQTT_MS_SEND_PUBREC = 8,
    /// 9: waiting for an inflight slot.
    MQTT_MS_QUEUED = 9,
}

/// The value, as Python 3.11 and later print an `IntEnum`.
impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&(*self as u8), f)
    }
}

/// A password as the client holds it (what [`Client::password`](crate::Client::password) returns):
/// its Debug and Display print `<redacted>`, so a `{:?}` of it, or of a struct holding it, never puts
/// the secret in a log. The bytes are there for the code that asked: [`Password::as_bytes`],
/// [`Password::as_str`].
///
/// ```
/// let password = pahoish::Password::new(b"s3cret".to_vec());
/// assert_eq!(format!("{password} {password:?}"), "<redacted> Password(<redacted>)");
/// assert_eq!(password.as_str(), Some("s3cret"));
/// assert_eq!(password, "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// A password of these bytes.
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(bytes)
    }

    /// The bytes sent in CONNECT.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The password as text (Paho's `password` property decodes it as UTF-8); `None` if it is not
    /// UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The bytes, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl PartialEq<str> for Password {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Password {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// A user name argument that may be absent: `&str`, `&String`, or an `Option<&str>` (`None` clears
/// the credentials, as Paho's `username_pw_set(None)`), for
/// [`Client::username_pw_set`](crate::Client::username_pw_set).
///
/// ```
/// use pahoish::OptionalStr;
/// assert_eq!("guest".into_option(), Some("guest"));
/// assert_eq!(None::<&str>.into_option(), None);
/// ```
pub trait OptionalStr<'a> {
    /// The text, or `None`.
    fn into_option(self) -> Option<&'a str>;
}

impl<'a> OptionalStr<'a> for &'a str {
    fn into_option(self) -> Option<&'a str> {
        Some(self)
    }
}

impl<'a> OptionalStr<'a> for &'a String {
    fn into_option(self) -> Option<&'a str> {
        Some(self.as_str())
    }
}

impl<'a> OptionalStr<'a> for Option<&'a str> {
    fn into_option(self) -> Option<&'a str> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pahos_enums_have_pahos_values_and_print_as_python_does() {
        let levels = [
            LogLevel::Info,
            LogLevel::Notice,
            LogLevel::Warning,
            LogLevel::Err,
            LogLevel::Debug,
        ];
        let shown: Vec<String> = levels.iter().map(|l| format!("{l} {}", l.name())).collect();
        assert_eq!(
            shown,
            [
                "1 MQTT_LOG_INFO",
                "2 MQTT_LOG_NOTICE",
                "4 MQTT_LOG_WARNING",
                "8 MQTT_LOG_ERR",
                "16 MQTT_LOG_DEBUG"
            ]
        );
        for byte in 0x10..=0xFFu8 {
            let t = MessageType::from_u8(byte).unwrap();
            assert_eq!(t as u8, byte & 0xF0);
            assert_eq!(t.to_string(), (byte & 0xF0).to_string());
        }
        assert_eq!(MessageType::from_u8(0x0F), None);
        assert_eq!(MessageType::DISCONNECT as u8, 0xE0);
        for rc in 0..=5u8 {
            assert_eq!(ConnackCode::from_u8(rc).map(|c| c as u8), Some(rc));
        }
        assert_eq!(ConnackCode::from_u8(6), None);
        assert_eq!(
            i32::from(ConnackCode::CONNACK_REFUSED_SERVER_UNAVAILABLE),
            3
        );
        assert_eq!(MessageState::MQTT_MS_SEND_PUBREC as u8, 8);
    }

    #[test]
    fn a_password_never_prints() {
        let p = Password::new(b"s3cret".to_vec());
        let text = format!("{p} {p:?} {:?}", Some(p.clone()));
        assert!(!text.contains("s3cret") && !text.contains("115"), "{text}");
        assert_eq!(p.as_str(), Some("s3cret"));
        assert_eq!(Password::new(vec![0xff]).as_str(), None);
        assert_eq!(p.into_bytes(), b"s3cret");
    }

    #[test]
    fn debug_output_keeps_passwords_out() {
        let tls = TlsOptions {
            keyfile_password: Some("s3cret".into()),
            ..Default::default()
        };
        let proxy = Proxy {
            proxy_password: Some("s3cret".into()),
            ..Proxy::new(ProxyType::Http, "h")
        };
        for text in [format!("{tls:?}"), format!("{proxy:?}")] {
            assert!(
                !text.contains("s3cret") && text.contains("<redacted>"),
                "{text}"
            );
        }
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
