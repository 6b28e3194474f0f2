//! Paho's VERSION1 callback shapes (`mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)`), for scripts
//! written against them: `on_connect(client, userdata, flags, rc)` with `rc` the integer CONNACK
//! return code, `on_disconnect(client, userdata, rc)` with `rc` an `MQTT_ERR_*` code, and so on.
//!
//! A Rust closure is typed by the method it is given to, so each shape has a setter of its own
//! (`on_connect_v1`, and `on_connect_v1_mqtt5` for the shape Paho uses on MQTT 5) rather than a
//! version chosen at construction. Each fills the same slot as the VERSION2 setter of the same name:
//! the callback set last is the one called, as in Paho, where `client.on_connect = ...` replaces the
//! previous function. The VERSION1 callback is stored wrapped in a closure of the VERSION2 shape that
//! turns the VERSION2 arguments into Paho's VERSION1 values.

use std::fmt;
use std::ops::Deref;

use super::callbacks::{slot, OnConnect, OnDisconnect, OnPublish, OnSubscribe};
use super::Client;
use crate::error::ErrorCode;
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::types::{ConnectFlags, DisconnectFlags, Protocol};

/// The `flags` a VERSION1 `on_connect` gets: Paho's dict `{'session present': 0}`.
///
/// `flags['session present']` is [`session_present`](ConnackFlags::session_present) (0 or 1, an
/// integer as in Paho), or `flags.get("session present")`. It prints as Paho's dict does.
///
/// ```
/// let client = pahoish::Client::new("");
/// client.on_connect_v1(|_client, _userdata, flags, rc| {
///     println!("flags: {flags} result code: {rc}"); // flags: {'session present': 0} result code: 0
///     if flags.session_present == 1 {
///         println!("the broker kept our session");
///     }
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct ConnackFlags {
    /// 1 if the broker resumed a session it kept for this client id, else 0 (Paho's
    /// `flags['session present']`).
    pub session_present: u8,
}

impl ConnackFlags {
    /// The value under `key`, as Paho's dict gives it: `Some` only for `"session present"` (where
    /// Python raises `KeyError`, this returns `None`).
    ///
    /// ```
    /// use pahoish::{ConnackFlags, ConnectFlags};
    /// let flags = ConnackFlags::from(ConnectFlags::default());
    /// assert_eq!(flags.get("session present"), Some(0));
    /// assert_eq!(flags.get("session_present"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<u8> {
        (key == "session present").then_some(self.session_present)
    }
}

impl From<ConnectFlags> for ConnackFlags {
    fn from(flags: ConnectFlags) -> ConnackFlags {
        ConnackFlags {
            session_present: u8::from(flags.session_present),
        }
    }
}

/// Paho's `str(flags)`: `{'session present': 0}`.
impl fmt::Display for ConnackFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{'session present': {}}}", self.session_present)
    }
}

/// The same as [`Display`](fmt::Display): Paho's `repr(flags)` of the dict.
impl fmt::Debug for ConnackFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The `rc` of Paho's VERSION1 `on_disconnect` on MQTT 5 ([`Client::on_disconnect_v1_mqtt5`]): the
/// reason code of the server's DISCONNECT packet when the server sent one, else Paho's `MQTT_ERR_*`
/// code (an integer there: 0 after `disconnect()`, 7 for a lost connection, ...).
///
/// It prints as Paho's does (the reason code's name, or the integer), and compares with an integer
/// by value, as both of Paho's types do.
///
/// ```
/// use pahoish::{DisconnectRc, ReasonCode, MQTT_ERR_CONN_LOST};
/// let lost = DisconnectRc::Code(MQTT_ERR_CONN_LOST);
/// assert_eq!((lost.to_string(), lost == 7), ("7".to_owned(), true));
/// let kicked = DisconnectRc::Reason(ReasonCode::disconnect(0x8e));
/// assert_eq!((kicked.to_string(), kicked.value()), ("Session taken over".to_owned(), 0x8e));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DisconnectRc {
    /// The client closed the connection, or it was lost: Paho's VERSION1 `MQTT_ERR_*` code.
    Code(ErrorCode),
    /// The server closed the connection with a DISCONNECT packet carrying this reason code.
    Reason(ReasonCode),
}

impl DisconnectRc {
    /// The numeric value: the `MQTT_ERR_*` code, or the reason code's value.
    pub fn value(&self) -> i32 {
        match self {
            DisconnectRc::Code(code) => *code as i32,
            DisconnectRc::Reason(reason) => i32::from(reason.value()),
        }
    }
}

/// The reason code's name, or the `MQTT_ERR_*` code as an integer (`7`), as Python prints either.
impl fmt::Display for DisconnectRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectRc::Code(code) => write!(f, "{}", *code as i32),
            DisconnectRc::Reason(reason) => fmt::Display::fmt(reason, f),
        }
    }
}

/// The reason code's `repr()`, or the `MQTT_ERR_*` code's name (`MQTT_ERR_CONN_LOST`).
impl fmt::Debug for DisconnectRc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectRc::Code(code) => write!(f, "{code:?}"),
            DisconnectRc::Reason(reason) => fmt::Debug::fmt(reason, f),
        }
    }
}

impl PartialEq<i32> for DisconnectRc {
    fn eq(&self, other: &i32) -> bool {
        self.value() == *other
    }
}

/// The `reason_codes` of Paho's VERSION1 `on_unsubscribe` on MQTT 5
/// ([`Client::on_unsubscribe_v1_mqtt5`]): one reason code per filter. Paho passes the reason code
/// itself when there is one filter and a list otherwise; this prints the same way (`Success`, or
/// `[ReasonCode(Unsuback, 'Success'), ...]`) and is always a slice to index and iterate.
///
/// ```
/// use pahoish::{ReasonCode, ReasonCodes};
/// let one = [ReasonCode::unsuback_success()];
/// assert_eq!(ReasonCodes::from(&one[..]).to_string(), "Success");
/// let two = [ReasonCode::unsuback_success(), ReasonCode::new(11, 0x11)];
/// let codes = ReasonCodes::from(&two[..]);
/// assert_eq!(
///     codes.to_string(),
///     "[ReasonCode(Unsuback, 'Success'), ReasonCode(Unsuback, 'No subscription found')]"
/// );
/// assert_eq!((codes.len(), codes[1].value()), (2, 0x11));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReasonCodes<'a>(&'a [ReasonCode]);

impl<'a> ReasonCodes<'a> {
    /// The reason codes, one per filter.
    pub fn as_slice(&self) -> &'a [ReasonCode] {
        self.0
    }
}

impl<'a> From<&'a [ReasonCode]> for ReasonCodes<'a> {
    fn from(codes: &'a [ReasonCode]) -> ReasonCodes<'a> {
        ReasonCodes(codes)
    }
}

impl Deref for ReasonCodes<'_> {
    type Target = [ReasonCode];

    fn deref(&self) -> &[ReasonCode] {
        self.0
    }
}

/// Python's `str()` of what Paho passes: the one reason code's name, or the list.
impl fmt::Display for ReasonCodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => fmt::Display::fmt(one, f),
            many => write!(f, "{many:?}"),
        }
    }
}

/// Python's `repr()` of what Paho passes: the one reason code's, or the list's.
impl fmt::Debug for ReasonCodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => fmt::Debug::fmt(one, f),
            many => write!(f, "{many:?}"),
        }
    }
}

impl<U: Send + 'static> Client<U> {
    /// Whether this client speaks MQTT 5, which decides some of Paho's VERSION1 values.
    fn speaks_v5(&self) -> bool {
        self.settings().protocol == Protocol::V5
    }

    /// Paho's VERSION1 `on_connect(client, userdata, flags, rc)`: called when the broker answers
    /// CONNECT, with `flags` Paho's dict ([`ConnackFlags`], printing `{'session present': 0}`) and
    /// `rc` the integer CONNACK return code: 0 accepted, 1..=5 refused (give it to
    /// [`connack_string`](crate::connack_string) for Paho's text); a refusal is followed by
    /// `on_disconnect`. On MQTT 5, where Paho calls the shape of
    /// [`on_connect_v1_mqtt5`](Client::on_connect_v1_mqtt5) instead, `rc` is the CONNACK's reason code
    /// byte, Paho's `result` (135 for Not authorized).
    ///
    /// Replaces any `on_connect` callback set before, of any shape, as assigning `client.on_connect`
    /// does in Paho.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_connect_v1(|client, _userdata, _flags, rc| {
    ///     println!("Connected with result code {rc}"); // Connected with result code 0
    ///     let _ = client.subscribe("$SYS/#", 0);
    /// });
    /// ```
    pub fn on_connect_v1<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, ConnackFlags, i32) + Send + 'static,
    {
        let wrapped: Box<OnConnect<U>> = Box::new(
            move |client: &Client<U>, ud: &mut U, flags: ConnectFlags, rc: ReasonCode, _p: &_| {
                // The CONNACK byte: 3.x codes travel as reason codes, which `connack_code` maps back.
                let rc = if client.speaks_v5() {
                    rc.value()
                } else {
                    rc.connack_code()
                };
                callback(client, ud, ConnackFlags::from(flags), i32::from(rc))
            },
        );
        self.callbacks().on_connect = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_connect(client, userdata, flags, reason_code, properties)` for MQTT 5:
    /// `flags` is Paho's dict ([`ConnackFlags`]), the reason code and the CONNACK's properties as
    /// [`on_connect`](Client::on_connect) gets them. On MQTT 3.1/3.1.1 the return code comes as its
    /// reason code (5 as `Not authorized`), the properties empty.
    ///
    /// Replaces any `on_connect` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::builder().protocol(pahoish::MQTTv5).build()?;
    /// client.on_connect_v1_mqtt5(|_client, _userdata, flags, reason_code, _properties| {
    ///     println!("Connected: {reason_code}, flags {flags}"); // Connected: Success, flags {...}
    /// });
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn on_connect_v1_mqtt5<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, ConnackFlags, ReasonCode, &Properties) + Send + 'static,
    {
        let wrapped: Box<OnConnect<U>> = Box::new(
            move |client: &Client<U>, ud: &mut U, flags: ConnectFlags, rc, props: &Properties| {
                callback(client, ud, ConnackFlags::from(flags), rc, props)
            },
        );
        self.callbacks().on_connect = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_disconnect(client, userdata, rc)`: called when the connection closes, with
    /// `rc` Paho's `MQTT_ERR_*` code as an integer: 0 (`MQTT_ERR_SUCCESS`) after `disconnect()`, 7
    /// (`MQTT_ERR_CONN_LOST`) when the connection was lost (closed by the broker, or a read or write
    /// failed), 16 (`MQTT_ERR_KEEPALIVE`) when the broker stopped answering or no CONNACK came in
    /// time, 2 (`MQTT_ERR_PROTOCOL`) after a protocol error, 5 (`MQTT_ERR_CONN_REFUSED`) after a
    /// refused CONNACK (on MQTT 5 Paho gives 2 there). On MQTT 5 a DISCONNECT from the server gives
    /// 7 here; [`on_disconnect_v1_mqtt5`](Client::on_disconnect_v1_mqtt5) gets its reason code.
    ///
    /// Compare with the constants as integers: `rc == MQTT_ERR_CONN_LOST as i32`. Replaces any
    /// `on_disconnect` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_disconnect_v1(|_client, _userdata, rc| {
    ///     if rc != 0 {
    ///         println!("Unexpected disconnection: {rc}"); // Unexpected disconnection: 7
    ///     }
    /// });
    /// ```
    pub fn on_disconnect_v1<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, i32) + Send + 'static,
    {
        let wrapped: Box<OnDisconnect<U>> = Box::new(
            move |client: &Client<U>,
                  ud: &mut U,
                  _flags: DisconnectFlags,
                  _rc: ReasonCode,
                  _props: &Properties,
                  v1_rc: ErrorCode| callback(client, ud, v1_rc as i32),
        );
        self.callbacks().on_disconnect = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_disconnect(client, userdata, rc, properties)` for MQTT 5: when the server
    /// closed the connection with a DISCONNECT packet, `rc` is its reason code and `properties` its
    /// properties; otherwise `rc` is Paho's `MQTT_ERR_*` code (as for
    /// [`on_disconnect_v1`](Client::on_disconnect_v1)) and `properties` is `None`, Python's `None`.
    ///
    /// Replaces any `on_disconnect` callback set before, of any shape.
    ///
    /// ```
    /// use pahoish::DisconnectRc;
    /// let client = pahoish::Client::builder().protocol(pahoish::MQTTv5).build()?;
    /// client.on_disconnect_v1_mqtt5(|_client, _userdata, rc, properties| {
    ///     match rc {
    ///         DisconnectRc::Reason(reason) => println!("the server said {reason}: {properties:?}"),
    ///         DisconnectRc::Code(_) if rc == 0 => println!("disconnected"),
    ///         DisconnectRc::Code(_) => println!("connection lost: {rc}"),
    ///     }
    /// });
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn on_disconnect_v1_mqtt5<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, DisconnectRc, Option<&Properties>) + Send + 'static,
    {
        let wrapped: Box<OnDisconnect<U>> = Box::new(
            move |client: &Client<U>,
                  ud: &mut U,
                  flags: DisconnectFlags,
                  rc: ReasonCode,
                  props: &Properties,
                  v1_rc: ErrorCode| {
                if flags.is_disconnect_packet_from_server {
                    callback(client, ud, DisconnectRc::Reason(rc), Some(props))
                } else {
                    callback(client, ud, DisconnectRc::Code(v1_rc), None)
                }
            },
        );
        self.callbacks().on_disconnect = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_publish(client, userdata, mid)`, the same on every protocol version:
    /// called when a published message is done (QoS 0 once written, QoS 1 on PUBACK, QoS 2 on
    /// PUBCOMP), with its message id.
    ///
    /// Replaces any `on_publish` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_publish_v1(|_client, _userdata, mid| println!("mid: {mid}"));
    /// ```
    pub fn on_publish_v1<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, u16) + Send + 'static,
    {
        let wrapped: Box<OnPublish<U>> = Box::new(
            move |client: &Client<U>, ud: &mut U, mid: u16, _rc: ReasonCode, _p: &Properties| {
                callback(client, ud, mid)
            },
        );
        self.callbacks().on_publish = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_subscribe(client, userdata, mid, granted_qos)`: called on SUBACK with the
    /// message id `subscribe` returned and the broker's return code for each filter, as integers:
    /// the granted QoS (0, 1, 2) or 128 for a refused filter. (On MQTT 5 these are the reason codes'
    /// values; Paho's VERSION1 shape there is [`on_subscribe`](Client::on_subscribe)'s, with reason
    /// codes and properties.)
    ///
    /// Replaces any `on_subscribe` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_subscribe_v1(|_client, _userdata, mid, granted_qos| {
    ///     println!("Subscribed: {mid} {granted_qos:?}"); // Subscribed: 1 [0]
    ///     if granted_qos.contains(&128) {
    ///         eprintln!("a subscription was refused");
    ///     }
    /// });
    /// ```
    pub fn on_subscribe_v1<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, u16, &[u8]) + Send + 'static,
    {
        let wrapped: Box<OnSubscribe<U>> = Box::new(
            move |client: &Client<U>,
                  ud: &mut U,
                  mid: u16,
                  codes: &[ReasonCode],
                  _p: &Properties| {
                let granted: Vec<u8> = codes.iter().map(ReasonCode::value).collect();
                callback(client, ud, mid, &granted)
            },
        );
        self.callbacks().on_subscribe = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_unsubscribe(client, userdata, mid)`: called on UNSUBACK with the message id
    /// `unsubscribe` returned.
    ///
    /// Replaces any `on_unsubscribe` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// client.on_unsubscribe_v1(|_client, _userdata, mid| println!("Unsubscribed: {mid}"));
    /// ```
    pub fn on_unsubscribe_v1<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, u16) + Send + 'static,
    {
        let wrapped: Box<OnSubscribe<U>> = Box::new(
            move |client: &Client<U>, ud: &mut U, mid: u16, _codes: &[ReasonCode], _p: &_| {
                callback(client, ud, mid)
            },
        );
        self.callbacks().on_unsubscribe = slot(wrapped);
        self.callbacks_changed();
    }

    /// Paho's VERSION1 `on_unsubscribe(client, userdata, mid, properties, reason_codes)` for MQTT 5
    /// (the properties come before the reason codes there, unlike every other callback): one reason
    /// code per filter, as [`ReasonCodes`], which prints as Paho's argument does (the reason code
    /// itself for one filter, a list for more) and derefs to a slice. On MQTT 3.1/3.1.1 it is empty
    /// and the properties too.
    ///
    /// Replaces any `on_unsubscribe` callback set before, of any shape.
    ///
    /// ```
    /// let client = pahoish::Client::builder().protocol(pahoish::MQTTv5).build()?;
    /// client.on_unsubscribe_v1_mqtt5(|_client, _userdata, mid, _properties, reason_codes| {
    ///     println!("Unsubscribed: {mid} {reason_codes}"); // Unsubscribed: 2 Success
    /// });
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn on_unsubscribe_v1_mqtt5<F>(&self, mut callback: F)
    where
        F: FnMut(&Client<U>, &mut U, u16, &Properties, ReasonCodes<'_>) + Send + 'static,
    {
        let wrapped: Box<OnSubscribe<U>> = Box::new(
            move |client: &Client<U>,
                  ud: &mut U,
                  mid: u16,
                  codes: &[ReasonCode],
                  props: &Properties| {
                callback(client, ud, mid, props, ReasonCodes(codes))
            },
        );
        self.callbacks().on_unsubscribe = slot(wrapped);
        self.callbacks_changed();
    }
}
