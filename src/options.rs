//! Construction options (`Builder`), the transport choice, and the small conversion traits that let
//! methods take arguments the way Python does (QoS as an integer, seconds as a number).

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
    /// MQTT over WebSockets (`"websockets"`): not supported by this version; `build()` says so.
    Websockets,
    /// A Unix domain socket (`"unix"`): not supported by this version; `build()` says so.
    Unix,
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

    /// The transport. Defaults to [`Transport::Tcp`], the only one this version supports.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
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
    /// Fails when `clean_session(false)` is given with an empty client id, for an MQTT 5 protocol or a
    /// transport this version does not support, and for a client id over 65,535 bytes.
    pub fn build(self) -> Result<Client<U>> {
        if self.protocol == Protocol::V5 {
            return Err(Error::NotSupported(
                "MQTT 5 (protocol MQTTv5): use MQTTv311 or MQTTv31".into(),
            ));
        }
        if self.transport != Transport::Tcp {
            return Err(Error::NotSupported(format!(
                "the {:?} transport: this version connects over TCP only",
                self.transport
            )));
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
        let e = Builder::default()
            .transport(Transport::Websockets)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::NotSupported(_)));
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
