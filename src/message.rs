//! `Message` (what `on_message` receives) and `Payload` (what `publish` accepts).

use std::borrow::Cow;
use std::time::Instant;

use crate::properties::{bytes_repr, PacketTypes, Properties};

/// A message received from the broker, as passed to `on_message`.
///
/// ```
/// let msg = pahoish::Message::new("a/b", "hello", 1, false);
/// assert_eq!(msg.topic, "a/b");
/// assert_eq!(msg.payload, b"hello");
/// assert_eq!(msg.payload_str(), Some("hello"));
/// assert_eq!(msg.payload_repr(), "b'hello'");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The topic it was published to.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The QoS it was delivered with: 0, 1 or 2.
    pub qos: u8,
    /// Whether the broker sent it as a retained message (on subscription).
    pub retain: bool,
    /// The message id (0 for QoS 0).
    pub mid: u16,
    /// Whether the broker flagged it as a possible duplicate.
    pub dup: bool,
    /// When it arrived (monotonic clock), like Paho's `timestamp`.
    pub timestamp: Instant,
    /// MQTT 5 properties (always empty on 3.1/3.1.1).
    pub properties: Properties,
}

impl Message {
    /// A message with the given fields; `mid` 0, not a duplicate, timestamped now. Useful in tests of
    /// code that handles messages.
    pub fn new<'p>(
        topic: impl Into<String>,
        payload: impl Into<Payload<'p>>,
        qos: u8,
        retain: bool,
    ) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into().into_bytes(),
            qos,
            retain,
            mid: 0,
            dup: false,
            timestamp: Instant::now(),
            properties: Properties::new(PacketTypes::PUBLISH),
        }
    }

    /// The payload as text, if it is valid UTF-8 (Python: `msg.payload.decode()`).
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The payload as Python prints a `bytes` value (`str(msg.payload)`), for example `b'21.5'` or
    /// `b'\x00\x01'`, so that a ported script prints exactly what the Python one printed.
    ///
    /// ```
    /// let msg = pahoish::Message::new("t", &b"it's\n\x00"[..], 0, false);
    /// assert_eq!(msg.payload_repr(), r#"b"it's\n\x00""#);
    /// ```
    pub fn payload_repr(&self) -> String {
        bytes_repr(&self.payload)
    }
}

/// A message payload: what `publish` and `will_set` accept.
///
/// Converts from `&str`, `String`, `&[u8]`, `Vec<u8>`, byte arrays, integers and floats (as their decimal
/// text, like Paho: `42` is `b"42"`, `4.2` is `b"4.2"`), and `()` or `Option::None` for an empty payload.
///
/// The borrowed forms (`&str`, `&[u8]`, `&Vec<u8>`, `&String`, `&[u8; N]`) are not copied until they must
/// be: `publish` at QoS 0 encodes them straight into the output buffer, and at QoS 1 and 2 copies them
/// once, into a buffer kept until the broker acknowledges the message (an owned `Vec<u8>` or `String`
/// moves in without a copy).
///
/// ```
/// use pahoish::Payload;
/// assert_eq!(Payload::from(42).as_bytes(), b"42");
/// assert_eq!(Payload::from(4.2).as_bytes(), b"4.2");
/// assert_eq!(Payload::from(()).as_bytes(), b"");
/// assert_eq!(Payload::from(None::<&str>).as_bytes(), b"");
/// assert_eq!(Payload::from(vec![1u8, 2]).as_bytes(), &[1, 2]);
/// let reading = String::from("21.5");
/// assert_eq!(Payload::from(&reading).as_bytes(), b"21.5"); // borrowed, not copied
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload<'a>(pub(crate) Cow<'a, [u8]>);

impl Payload<'_> {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The payload bytes, owned (copied if they were borrowed).
    pub fn into_bytes(self) -> Vec<u8> {
        self.0.into_owned()
    }
}

impl<'a> From<&'a str> for Payload<'a> {
    fn from(s: &'a str) -> Payload<'a> {
        Payload(Cow::Borrowed(s.as_bytes()))
    }
}
impl From<String> for Payload<'_> {
    fn from(s: String) -> Self {
        Payload(Cow::Owned(s.into_bytes()))
    }
}
impl<'a> From<&'a String> for Payload<'a> {
    fn from(s: &'a String) -> Payload<'a> {
        Payload(Cow::Borrowed(s.as_bytes()))
    }
}
impl<'a> From<&'a [u8]> for Payload<'a> {
    fn from(b: &'a [u8]) -> Payload<'a> {
        Payload(Cow::Borrowed(b))
    }
}
impl From<Vec<u8>> for Payload<'_> {
    fn from(b: Vec<u8>) -> Self {
        Payload(Cow::Owned(b))
    }
}
impl<'a> From<&'a Vec<u8>> for Payload<'a> {
    fn from(b: &'a Vec<u8>) -> Payload<'a> {
        Payload(Cow::Borrowed(b))
    }
}
impl<const N: usize> From<[u8; N]> for Payload<'_> {
    fn from(b: [u8; N]) -> Self {
        Payload(Cow::Owned(b.to_vec()))
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Payload<'a> {
    fn from(b: &'a [u8; N]) -> Payload<'a> {
        Payload(Cow::Borrowed(b))
    }
}
impl From<()> for Payload<'_> {
    fn from(_: ()) -> Self {
        Payload::default()
    }
}
impl<'a, T: Into<Payload<'a>>> From<Option<T>> for Payload<'a> {
    fn from(p: Option<T>) -> Payload<'a> {
        p.map(Into::into).unwrap_or_default()
    }
}

macro_rules! payload_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Payload<'_> {
            /// The number's decimal text, as Paho sends `str(n)`.
            fn from(n: $t) -> Self {
                Payload(Cow::Owned(n.to_string().into_bytes()))
            }
        }
    )*};
}
payload_from_number!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl From<f64> for Payload<'_> {
    /// Python's `str(float)`: `4.2` is `"4.2"`, `1.0` is `"1.0"`, `1e21` is `"1e+21"`, `1.5e-05` likewise.
    fn from(n: f64) -> Self {
        let text = python_float_str(n.abs(), n.is_nan(), n.to_string(), format!("{n:e}"));
        Payload(Cow::Owned(text.into_bytes()))
    }
}

impl From<f32> for Payload<'_> {
    /// As for `f64`, with the shortest digits that identify the `f32` (`4.2f32` is `"4.2"`, not the
    /// `"4.199999809265137"` that widening to `f64` would print).
    fn from(n: f32) -> Self {
        let abs = f64::from(n.abs());
        let text = python_float_str(abs, n.is_nan(), n.to_string(), format!("{n:e}"));
        Payload(Cow::Owned(text.into_bytes()))
    }
}

/// Formats a float as Python's `repr`/`str` does, from Rust's shortest round-trip renderings of it
/// (`plain` from `{}`, `sci` from `{:e}`): exponent form when the decimal exponent is below -4 or at least
/// 16, and always a `.0` on integral values.
fn python_float_str(abs: f64, nan: bool, plain: String, sci: String) -> String {
    if nan {
        return "nan".into();
    }
    if abs.is_infinite() {
        return plain; // "inf" / "-inf", as Python
    }
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Rust's `{:e}` has the same digits; Python writes the exponent signed, two digits at least.
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let mut s = plain;
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_bytes_repr() {
        assert_eq!(bytes_repr(b""), "b''");
        assert_eq!(
            bytes_repr(b"mosquitto version 2.0.11"),
            "b'mosquitto version 2.0.11'"
        );
        assert_eq!(bytes_repr(b"a'b"), "b\"a'b\"");
        assert_eq!(bytes_repr(b"a'b\""), "b'a\\'b\"'");
        assert_eq!(
            bytes_repr(b"\\\t\r\n\x7f\xff"),
            "b'\\\\\\t\\r\\n\\x7f\\xff'"
        );
    }

    #[test]
    fn floats_print_as_python_does() {
        assert_eq!(Payload::from(1.0).as_bytes(), b"1.0");
        assert_eq!(Payload::from(-0.5).as_bytes(), b"-0.5");
        assert_eq!(Payload::from(1e21).as_bytes(), b"1e+21");
        assert_eq!(Payload::from(1.5e-5).as_bytes(), b"1.5e-05");
        assert_eq!(Payload::from(1e16).as_bytes(), b"1e+16");
        assert_eq!(Payload::from(123456789.0).as_bytes(), b"123456789.0");
        assert_eq!(Payload::from(0.0001).as_bytes(), b"0.0001");
        assert_eq!(Payload::from(f64::NAN).as_bytes(), b"nan");
        assert_eq!(Payload::from(f64::NEG_INFINITY).as_bytes(), b"-inf");
        assert_eq!(Payload::from(4.2f32).as_bytes(), b"4.2");
        assert_eq!(Payload::from(1e20f32).as_bytes(), b"1e+20");
        assert_eq!(Payload::from(3f32).as_bytes(), b"3.0");
        assert_eq!(Payload::from(-7i64).as_bytes(), b"-7");
    }
}
