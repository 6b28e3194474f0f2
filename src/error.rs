//! The crate's error type, Paho's integer error codes, and their strings.

use std::fmt;
use std::io;

/// Paho's `MQTT_ERR_*` codes (`MQTTErrorCode` in Python), for code that compares return codes.
///
/// Every [`Error`] maps to one of these with [`Error::rc`]; [`error_string`] gives Paho's text.
///
/// ```
/// use pahoish::{ErrorCode, MQTT_ERR_NO_CONN};
/// assert_eq!(MQTT_ERR_NO_CONN, ErrorCode::NoConn);
/// assert_eq!(ErrorCode::NoConn as i32, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// -1: try again (internal to Paho's loop).
    Again = -1,
    /// 0: no error.
    Success = 0,
    /// 1: out of memory.
    NoMem = 1,
    /// 2: a protocol error: the broker sent something invalid.
    Protocol = 2,
    /// 3: invalid function arguments.
    Inval = 3,
    /// 4: not connected.
    NoConn = 4,
    /// 5: the connection was refused (CONNACK with a failure code).
    ConnRefused = 5,
    /// 6: message not found.
    NotFound = 6,
    /// 7: the connection was lost.
    ConnLost = 7,
    /// 8: a TLS error.
    Tls = 8,
    /// 9: payload too large.
    PayloadSize = 9,
    /// 10: not supported.
    NotSupported = 10,
    /// 11: authorisation failed.
    Auth = 11,
    /// 12: access denied by ACL.
    AclDenied = 12,
    /// 13: unknown error.
    Unknown = 13,
    /// 14: an operating-system error (errno).
    Errno = 14,
    /// 15: the message queue is full.
    QueueSize = 15,
    /// 16: no traffic within the keepalive interval.
    Keepalive = 16,
}

impl ErrorCode {
    /// The code for an integer, if it is one of Paho's.
    pub fn from_i32(rc: i32) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match rc {
            -1 => Again,
            0 => Success,
            1 => NoMem,
            2 => Protocol,
            3 => Inval,
            4 => NoConn,
            5 => ConnRefused,
            6 => NotFound,
            7 => ConnLost,
            8 => Tls,
            9 => PayloadSize,
            10 => NotSupported,
            11 => Auth,
            12 => AclDenied,
            13 => Unknown,
            14 => Errno,
            15 => QueueSize,
            16 => Keepalive,
            _ => return None,
        })
    }
}

impl From<ErrorCode> for i32 {
    fn from(rc: ErrorCode) -> i32 {
        rc as i32
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(error_string(*self))
    }
}

/// `MQTT_ERR_AGAIN` (-1).
pub const MQTT_ERR_AGAIN: ErrorCode = ErrorCode::Again;
/// `MQTT_ERR_SUCCESS` (0).
pub const MQTT_ERR_SUCCESS: ErrorCode = ErrorCode::Success;
/// `MQTT_ERR_NOMEM` (1).
pub const MQTT_ERR_NOMEM: ErrorCode = ErrorCode::NoMem;
/// `MQTT_ERR_PROTOCOL` (2).
pub const MQTT_ERR_PROTOCOL: ErrorCode = ErrorCode::Protocol;
/// `MQTT_ERR_INVAL` (3).
pub const MQTT_ERR_INVAL: ErrorCode = ErrorCode::Inval;
/// `MQTT_ERR_NO_CONN` (4).
pub const MQTT_ERR_NO_CONN: ErrorCode = ErrorCode::NoConn;
/// `MQTT_ERR_CONN_REFUSED` (5).
pub const MQTT_ERR_CONN_REFUSED: ErrorCode = ErrorCode::ConnRefused;
/// `MQTT_ERR_NOT_FOUND` (6).
pub const MQTT_ERR_NOT_FOUND: ErrorCode = ErrorCode::NotFound;
/// `MQTT_ERR_CONN_LOST` (7).
pub const MQTT_ERR_CONN_LOST: ErrorCode = ErrorCode::ConnLost;
/// `MQTT_ERR_TLS` (8).
pub const MQTT_ERR_TLS: ErrorCode = ErrorCode::Tls;
/// `MQTT_ERR_PAYLOAD_SIZE` (9).
pub const MQTT_ERR_PAYLOAD_SIZE: ErrorCode = ErrorCode::PayloadSize;
/// `MQTT_ERR_NOT_SUPPORTED` (10).
pub const MQTT_ERR_NOT_SUPPORTED: ErrorCode = ErrorCode::NotSupported;
/// `MQTT_ERR_AUTH` (11).
pub const MQTT_ERR_AUTH: ErrorCode = ErrorCode::Auth;
/// `MQTT_ERR_ACL_DENIED` (12).
pub const MQTT_ERR_ACL_DENIED: ErrorCode = ErrorCode::AclDenied;
/// `MQTT_ERR_UNKNOWN` (13).
pub const MQTT_ERR_UNKNOWN: ErrorCode = ErrorCode::Unknown;
/// `MQTT_ERR_ERRNO` (14).
pub const MQTT_ERR_ERRNO: ErrorCode = ErrorCode::Errno;
/// `MQTT_ERR_QUEUE_SIZE` (15).
pub const MQTT_ERR_QUEUE_SIZE: ErrorCode = ErrorCode::QueueSize;
/// `MQTT_ERR_KEEPALIVE` (16).
pub const MQTT_ERR_KEEPALIVE: ErrorCode = ErrorCode::Keepalive;

/// `CONNACK_ACCEPTED` (0).
pub const CONNACK_ACCEPTED: u8 = 0;
/// `CONNACK_REFUSED_PROTOCOL_VERSION` (1).
pub const CONNACK_REFUSED_PROTOCOL_VERSION: u8 = 1;
/// `CONNACK_REFUSED_IDENTIFIER_REJECTED` (2).
pub const CONNACK_REFUSED_IDENTIFIER_REJECTED: u8 = 2;
/// `CONNACK_REFUSED_SERVER_UNAVAILABLE` (3).
pub const CONNACK_REFUSED_SERVER_UNAVAILABLE: u8 = 3;
/// `CONNACK_REFUSED_BAD_USERNAME_PASSWORD` (4).
pub const CONNACK_REFUSED_BAD_USERNAME_PASSWORD: u8 = 4;
/// `CONNACK_REFUSED_NOT_AUTHORIZED` (5).
pub const CONNACK_REFUSED_NOT_AUTHORIZED: u8 = 5;

/// Paho's text for an error code, as `mqtt.error_string(rc)` returns it.
///
/// Takes an [`ErrorCode`] or a plain integer; an unknown integer gives `"Unknown error."`.
///
/// ```
/// use pahoish::{error_string, MQTT_ERR_QUEUE_SIZE};
/// assert_eq!(error_string(MQTT_ERR_QUEUE_SIZE), "Message queue full.");
/// assert_eq!(error_string(0), "No error.");
/// assert_eq!(error_string(99), "Unknown error.");
/// ```
pub fn error_string(rc: impl Into<i32>) -> &'static str {
    match ErrorCode::from_i32(rc.into()) {
        Some(ErrorCode::Success) => "No error.",
        Some(ErrorCode::NoMem) => "Out of memory.",
        Some(ErrorCode::Protocol) => {
            "A network protocol error occurred when communicating with the broker."
        }
        Some(ErrorCode::Inval) => "Invalid function arguments provided.",
        Some(ErrorCode::NoConn) => "The client is not currently connected.",
        Some(ErrorCode::ConnRefused) => "The connection was refused.",
        Some(ErrorCode::NotFound) => "Message not found (internal error).",
        Some(ErrorCode::ConnLost) => "The connection was lost.",
        Some(ErrorCode::Tls) => "A TLS error occurred.",
        Some(ErrorCode::PayloadSize) => "Payload too large.",
        Some(ErrorCode::NotSupported) => "This feature is not supported.",
        Some(ErrorCode::Auth) => "Authorisation failed.",
        Some(ErrorCode::AclDenied) => "Access denied by ACL.",
        Some(ErrorCode::Errno) => "Error defined by errno.",
        Some(ErrorCode::QueueSize) => "Message queue full.",
        Some(ErrorCode::Keepalive) => {
            "Client or broker did not communicate in the keepalive interval."
        }
        Some(ErrorCode::Unknown) | Some(ErrorCode::Again) | None => "Unknown error.",
    }
}

/// Paho's text for a CONNACK result, as `mqtt.connack_string(rc)` returns it: for the integer return
/// code of MQTT 3.1/3.1.1 (what a VERSION1 `on_connect` gets), the 3.x text; for a
/// [`ReasonCode`](crate::ReasonCode) (what `on_connect` gets), its name, as Paho 2.2 returns `str(rc)`.
///
/// ```
/// use pahoish::{connack_string, ReasonCode};
/// assert_eq!(connack_string(0), "Connection Accepted.");
/// assert_eq!(connack_string(5), "Connection Refused: not authorised.");
/// assert_eq!(connack_string(42), "Connection Refused: unknown reason.");
/// // A refused login as on_connect reports it: reason code 0x87 on MQTT 3.1.1 and 5 alike.
/// assert_eq!(connack_string(ReasonCode::connack(5)), "Not authorized");
/// assert_eq!(connack_string(ReasonCode::connack(0)), "Success");
/// ```
pub fn connack_string(rc: impl ConnackResult) -> &'static str {
    rc.connack_str()
}

/// What [`connack_string`] takes: an integer CONNACK return code (MQTT 3.1/3.1.1, as a VERSION1
/// `on_connect` gets it) or a [`ReasonCode`](crate::ReasonCode) (as `on_connect` gets it), which
/// Paho 2.2's `connack_string` both accept.
///
/// ```
/// use pahoish::{ConnackResult, ReasonCode};
/// assert_eq!(4u8.connack_str(), "Connection Refused: bad user name or password.");
/// assert_eq!(ReasonCode::connack(4).connack_str(), "Bad user name or password");
/// ```
pub trait ConnackResult {
    /// Paho's `connack_string` of this value.
    fn connack_str(&self) -> &'static str;
}

/// Paho's text for an MQTT 3.1/3.1.1 CONNACK return code; anything else is an unknown reason.
fn connack_text(rc: i64) -> &'static str {
    match rc {
        0 => "Connection Accepted.",
        1 => "Connection Refused: unacceptable protocol version.",
        2 => "Connection Refused: identifier rejected.",
        3 => "Connection Refused: broker unavailable.",
        4 => "Connection Refused: bad user name or password.",
        5 => "Connection Refused: not authorised.",
        _ => "Connection Refused: unknown reason.",
    }
}

macro_rules! connack_result_int {
    ($($t:ty),*) => {$(
        impl ConnackResult for $t {
            fn connack_str(&self) -> &'static str {
                // Values beyond i64 are no return code: the unknown reason, as any other.
                connack_text(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
connack_result_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl<T: ConnackResult + ?Sized> ConnackResult for &T {
    fn connack_str(&self) -> &'static str {
        (**self).connack_str()
    }
}

/// Everything that can go wrong, one enum for the whole crate.
///
/// Each variant names the problem; [`Error::rc`] gives the Paho `MQTT_ERR_*` code a ported script compares
/// against. What Python Paho raises as `ValueError` is one of the `Invalid*` variants here.
///
/// An error that comes from a lower layer keeps it: [`source`](std::error::Error::source) returns the
/// operating system's `io::Error`, the TLS library's error, the websocket library's error or the
/// codec's [`DecodeError`](crate::packet::DecodeError), for code that needs its type. The
/// [`Display`](fmt::Display) text already includes what it says, so that one line printed (as a ported
/// script prints an exception) tells the whole story.
///
/// ```
/// let client = pahoish::Client::new("");
/// let err = client.publish("a/+", "x", 0, false).unwrap_err();
/// assert!(matches!(err, pahoish::Error::InvalidTopic { .. }));
/// assert_eq!(err.rc(), pahoish::MQTT_ERR_INVAL);
/// assert!(err.to_string().contains("wildcard"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A topic name given to `publish` or `will_set` is not valid.
    InvalidTopic {
        /// The topic as given.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A topic filter given to `subscribe`, `unsubscribe` or `message_callback_add` is not valid.
    InvalidFilter {
        /// The filter as given.
        filter: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A QoS outside 0..=2.
    InvalidQos(i64),
    /// A payload too large for one MQTT packet: with the topic, over the limit of 268,435,455 bytes.
    PayloadTooLarge(usize),
    /// An MQTT 5 packet larger than the server's Maximum Packet Size (its CONNACK said so): refused at
    /// the call, never sent (`MQTT_ERR_PAYLOAD_SIZE`).
    PacketTooLarge {
        /// The packet's size in bytes, header included.
        size: usize,
        /// The server's Maximum Packet Size.
        max: usize,
    },
    /// The server refused a published message (MQTT 5): its PUBACK or PUBREC carried this failure
    /// reason code (0x80 and above; see [`ReasonCode`](crate::ReasonCode) for its name). Reported by
    /// `wait_for_publish`.
    PublishFailed(u8),
    /// The server closed the connection with a DISCONNECT packet (MQTT 5) carrying this reason code;
    /// `on_disconnect` gets it with its properties.
    ServerDisconnected(u8),
    /// Any other invalid argument: names the argument and the problem.
    InvalidArgument {
        /// The argument's name, as in Paho's documentation.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The call needs a connection and there is none (`MQTT_ERR_NO_CONN`).
    NoConn,
    /// `max_queued_messages` QoS 1/2 messages are already held; this one was not accepted
    /// (`MQTT_ERR_QUEUE_SIZE`). Nothing already queued was dropped.
    QueueFull,
    /// The broker refused the connection: CONNACK carried this return code (see [`connack_string`]).
    ConnectionRefused(u8),
    /// The connection was lost (closed by the broker, or a read or write failed).
    ConnectionLost,
    /// No PINGRESP (or no CONNACK) arrived within the keepalive interval.
    Keepalive,
    /// The broker sent bytes that are not valid MQTT, or a packet MQTT does not allow at that point; the
    /// connection was closed.
    Protocol {
        /// What was wrong.
        reason: String,
        /// The decoding error or websocket error behind it, if any.
        source: Option<Source>,
    },
    /// An I/O error from the operating system (DNS, connect, read, write).
    Io(io::Error),
    /// TLS failed (`MQTT_ERR_TLS`): the handshake, or a certificate or key that could not be used. A
    /// broker certificate that does not verify reads `certificate verify failed: <why>`, the why being
    /// for instance `unable to get local issuer certificate` (wrong CA), `certificate has expired` or
    /// `hostname mismatch`.
    Tls {
        /// What failed, with the TLS library's words.
        reason: String,
        /// The TLS library's error (or the I/O error) behind it, if any.
        source: Option<Source>,
    },
    /// The websocket upgrade failed: the server answered something else than `101 Switching
    /// Protocols` with the `mqtt` subprotocol, or the URL or a header was not valid.
    Websocket {
        /// What failed.
        reason: String,
        /// The websocket library's error behind it, if any.
        source: Option<Source>,
    },
    /// The proxy could not open the connection to the broker (refused, failed authentication, or did
    /// not speak its protocol).
    Proxy {
        /// What failed.
        reason: String,
        /// The I/O error behind it, if any.
        source: Option<Source>,
    },
    /// The feature is not supported by this build or version.
    NotSupported(String),
    /// The call would wait on the network loop from the loop's own thread (for instance `wait_for_publish`
    /// inside a callback), which could never complete.
    WouldDeadlock(&'static str),
    /// The network loop is already running (`loop_start` twice, or `loop_forever` beside `loop_start`).
    LoopAlreadyRunning,
    /// The message will never be published: it was discarded. The code says why: `NoConn` for QoS 0
    /// published while not connected, or for anything `reinitialise` dropped; `ConnLost` for QoS 0 still
    /// unwritten when its connection closed.
    PublishDiscarded(ErrorCode),
    /// [`Client::request`](crate::Client::request) got no reply within this time.
    Timeout(std::time::Duration),
    /// A callback panicked on the `loop_start` thread of a client built with `suppress_exceptions(false)`;
    /// reported by `loop_stop`.
    CallbackPanicked(String),
    /// MQTT 5 enhanced authentication ended on the client's side: `on_auth` returned an error (or a
    /// server challenge came with no `on_auth` set), and the connection was closed with a DISCONNECT
    /// carrying this reason code (`MQTT_ERR_AUTH`).
    AuthenticationFailed(u8),
}

impl Error {
    /// The Paho `MQTT_ERR_*` code for this error.
    pub fn rc(&self) -> ErrorCode {
        match self {
            Error::InvalidTopic { .. }
            | Error::InvalidFilter { .. }
            | Error::InvalidQos(_)
            | Error::InvalidArgument { .. }
            | Error::WouldDeadlock(_)
            | Error::LoopAlreadyRunning => ErrorCode::Inval,
            Error::PayloadTooLarge(_) | Error::PacketTooLarge { .. } => ErrorCode::PayloadSize,
            Error::PublishFailed(0x87) => ErrorCode::AclDenied,
            Error::PublishFailed(_) => ErrorCode::Unknown,
            Error::ServerDisconnected(_) => ErrorCode::ConnLost,
            Error::NoConn => ErrorCode::NoConn,
            Error::QueueFull => ErrorCode::QueueSize,
            Error::ConnectionRefused(_) => ErrorCode::ConnRefused,
            Error::ConnectionLost => ErrorCode::ConnLost,
            Error::Keepalive => ErrorCode::Keepalive,
            Error::Protocol { .. } => ErrorCode::Protocol,
            Error::Io(_) => ErrorCode::Errno,
            Error::Tls { .. } => ErrorCode::Tls,
            Error::Websocket { .. } => ErrorCode::ConnRefused,
            Error::Proxy { .. } => ErrorCode::ConnRefused,
            Error::NotSupported(_) => ErrorCode::NotSupported,
            Error::PublishDiscarded(rc) => *rc,
            Error::CallbackPanicked(_) | Error::Timeout(_) => ErrorCode::Unknown,
            Error::AuthenticationFailed(_) => ErrorCode::Auth,
        }
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name,
            reason: reason.into(),
        }
    }

    /// A protocol error with no lower-level error behind it.
    pub(crate) fn protocol(reason: impl Into<String>) -> Error {
        Error::Protocol {
            reason: reason.into(),
            source: None,
        }
    }

    /// A TLS error caused by `source`.
    pub(crate) fn tls_from(reason: impl Into<String>, source: impl Into<Source>) -> Error {
        Error::Tls {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// A websocket error, caused by `source` if given.
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))] // only net/websocket.rs makes them
    pub(crate) fn websocket(reason: impl Into<String>, source: Option<Source>) -> Error {
        Error::Websocket {
            reason: reason.into(),
            source,
        }
    }

    /// A proxy error, caused by `source` if given.
    pub(crate) fn proxy(reason: impl Into<String>, source: Option<Source>) -> Error {
        Error::Proxy {
            reason: reason.into(),
            source,
        }
    }
}

/// Paho's ValueError text for a bad argument of this name, where Paho has one sentence for it.
fn paho_value_error(name: &str, reason: &str) -> Option<&'static str> {
    Some(match name {
        "host" => "Invalid host.",
        "port" => "Invalid port number.",
        "bind_port" => "Invalid bind port number.",
        "timeout" => "Invalid timeout.",
        "keepalive" if reason.contains("negative") => "Keepalive must be >=0.",
        "max_inflight_messages" | "inflight" => "Invalid inflight.",
        "max_queued_messages" | "queue_size" => "Invalid queue size.",
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Paho's ValueError text first (what a user searches for), then the details.
            Error::InvalidTopic { topic, reason } => {
                let paho = if topic.contains(['+', '#']) {
                    "Publish topic cannot contain wildcards."
                } else {
                    "Invalid topic."
                };
                write!(f, "{paho} (invalid topic {topic:?}: {reason})")
            }
            Error::InvalidFilter { filter, reason } => write!(
                f,
                "Invalid subscription filter. (invalid topic filter {filter:?}: {reason})"
            ),
            Error::InvalidQos(q) => write!(
                f,
                "Invalid QoS level. (invalid QoS {q}: QoS must be 0, 1 or 2)"
            ),
            Error::PayloadTooLarge(n) => write!(
                f,
                "Payload too large. (payload of {n} bytes is too large: with its topic, the packet \
                 would be over MQTT's limit of 268435455 bytes)"
            ),
            Error::PacketTooLarge { size, max } => write!(
                f,
                "the packet would be {size} bytes, over the server's Maximum Packet Size of {max}"
            ),
            Error::PublishFailed(code) => write!(
                f,
                "the server refused the message with reason code {code:#04x}"
            ),
            Error::ServerDisconnected(code) => write!(
                f,
                "the server closed the connection with DISCONNECT, reason code {code:#04x}"
            ),
            Error::AuthenticationFailed(code) => write!(
                f,
                "enhanced authentication failed: the client closed the connection with DISCONNECT, \
                 reason code {code:#04x}"
            ),
            Error::InvalidArgument { name, reason } => match paho_value_error(name, reason) {
                Some(paho) => write!(f, "{paho} (invalid {name}: {reason})"),
                None => write!(f, "invalid {name}: {reason}"),
            },
            Error::NoConn => f.write_str("the client is not currently connected"),
            Error::QueueFull => f.write_str(
                "message queue full: max_queued_messages QoS 1/2 messages are already held; \
                 wait for acknowledgements or raise the limit",
            ),
            Error::ConnectionRefused(rc) => {
                write!(f, "{} (CONNACK code {rc})", connack_string(*rc))
            }
            Error::ConnectionLost => f.write_str("the connection was lost"),
            Error::Keepalive => {
                f.write_str("the broker did not answer within the keepalive interval")
            }
            Error::Protocol { reason, .. } => write!(f, "protocol error: {reason}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Tls { reason, .. } => write!(f, "TLS error: {reason}"),
            Error::Websocket { reason, .. } => write!(f, "websocket error: {reason}"),
            Error::Proxy { reason, .. } => write!(f, "proxy error: {reason}"),
            Error::NotSupported(what) => write!(f, "not supported: {what}"),
            Error::WouldDeadlock(what) => write!(f, "would deadlock: {what}"),
            Error::LoopAlreadyRunning => f.write_str(
                "the network loop is already running (loop_start or loop_forever); stop it first",
            ),
            Error::PublishDiscarded(rc) => {
                write!(
                    f,
                    "the message was discarded and will not be published: {}",
                    error_string(*rc)
                )
            }
            Error::CallbackPanicked(msg) => write!(f, "a callback panicked: {msg}"),
            Error::Timeout(after) => write!(f, "timed out: no reply within {after:?}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol { source, .. }
            | Error::Tls { source, .. }
            | Error::Websocket { source, .. }
            | Error::Proxy { source, .. } => source.as_deref().map(|e| e as _),
            _ => None,
        }
    }
}

/// The lower-level error an [`Error`] keeps as its [`source`](std::error::Error::source).
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 48,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    /// A ported script's error prints Paho's ValueError sentence first, then what exactly was wrong.
    #[test]
    fn texts_start_with_pahos_value_error() {
        let cases = [
            (
                Error::InvalidTopic {
                    topic: String::new(),
                    reason: "must not be empty",
                },
                "Invalid topic. (invalid topic \"\": must not be empty)",
            ),
            (
                Error::InvalidTopic {
                    topic: "a/+".into(),
                    reason: "must not contain wildcards",
                },
                "Publish topic cannot contain wildcards. (invalid topic \"a/+\": must not \
                 contain wildcards)",
            ),
            (
                Error::InvalidFilter {
                    filter: "a/#/b".into(),
                    reason: "'#' must be last",
                },
                "Invalid subscription filter. (invalid topic filter \"a/#/b\": '#' must be last)",
            ),
            (
                Error::InvalidQos(3),
                "Invalid QoS level. (invalid QoS 3: QoS must be 0, 1 or 2)",
            ),
            (
                Error::invalid("port", "must be 1..=65535"),
                "Invalid port number. (invalid port: must be 1..=65535)",
            ),
            (
                Error::invalid("host", "must not be empty"),
                "Invalid host. (invalid host: must not be empty)",
            ),
            (
                Error::invalid("keepalive", "-1 is negative"),
                "Keepalive must be >=0. (invalid keepalive: -1 is negative)",
            ),
            // No one Paho sentence: ours only.
            (
                Error::invalid("headers", "bad header"),
                "invalid headers: bad header",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
        assert!(Error::PayloadTooLarge(268_435_456)
            .to_string()
            .starts_with("Payload too large. (payload of 268435456 bytes"));
    }

    #[test]
    fn every_code_round_trips_and_has_a_string() {
        for rc in -1..=16 {
            let code = ErrorCode::from_i32(rc).unwrap();
            assert_eq!(code as i32, rc);
            assert!(!error_string(code).is_empty());
        }
        assert_eq!(ErrorCode::from_i32(17), None);
        assert_eq!(
            error_string(MQTT_ERR_KEEPALIVE),
            "Client or broker did not communicate in the keepalive interval."
        );
        assert_eq!(
            error_string(MQTT_ERR_NO_CONN),
            "The client is not currently connected."
        );
    }

    #[test]
    fn connack_strings_are_pahos() {
        assert_eq!(
            connack_string(1),
            "Connection Refused: unacceptable protocol version."
        );
        assert_eq!(
            connack_string(2),
            "Connection Refused: identifier rejected."
        );
        assert_eq!(connack_string(3), "Connection Refused: broker unavailable.");
        assert_eq!(
            connack_string(4),
            "Connection Refused: bad user name or password."
        );
        // Every integer type a ported script may hold the code in, and out-of-range values.
        assert_eq!(connack_string(5u8), "Connection Refused: not authorised.");
        assert_eq!(connack_string(5i64), "Connection Refused: not authorised.");
        let by_ref: &u16 = &5;
        assert_eq!(
            connack_string(by_ref),
            "Connection Refused: not authorised."
        );
        assert_eq!(connack_string(-1), "Connection Refused: unknown reason.");
        assert_eq!(
            connack_string(u64::MAX),
            "Connection Refused: unknown reason."
        );
        assert_eq!(connack_string(0x87), "Connection Refused: unknown reason.");
    }

    #[test]
    fn errors_map_to_pahos_codes() {
        assert_eq!(Error::QueueFull.rc(), MQTT_ERR_QUEUE_SIZE);
        assert_eq!(Error::ConnectionRefused(5).rc(), MQTT_ERR_CONN_REFUSED);
        assert_eq!(Error::InvalidQos(3).rc(), MQTT_ERR_INVAL);
        assert_eq!(Error::Keepalive.rc(), MQTT_ERR_KEEPALIVE);
        assert!(Error::ConnectionRefused(4)
            .to_string()
            .contains("bad user name or password"));
        let big = Error::PacketTooLarge { size: 31, max: 30 };
        assert_eq!(big.rc(), MQTT_ERR_PAYLOAD_SIZE);
        assert!(
            big.to_string().contains("Maximum Packet Size of 30"),
            "{big}"
        );
        assert_eq!(Error::PublishFailed(0x87).rc(), MQTT_ERR_ACL_DENIED);
        assert_eq!(Error::ServerDisconnected(0x8e).rc(), MQTT_ERR_CONN_LOST);
    }
}
