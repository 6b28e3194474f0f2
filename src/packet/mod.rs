//! The MQTT packet codec, for MQTT 3.1, 3.1.1 and 5.0: one file per packet type, all with the same shape.
//!
//! Every packet type has a struct (or a unit value) with:
//! - `encode(&self, out: &mut Vec<u8>)`: append the whole MQTT 3.1.1 packet (fixed header included) to
//!   `out`;
//! - `decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError>`: parse the variable header and payload of
//!   an MQTT 3.1.1 packet whose fixed header has already been framed (`flags` is the low nibble of the first
//!   byte, `body` is exactly the remaining length);
//! - `remaining_length(&self) -> usize`: the length `encode` writes after the fixed header;
//! - `encode_v5`, `decode_v5` and `remaining_length_v5`: the same for MQTT 5.0, where the packet differs
//!   (CONNECT names its own version, so its `encode` and `decode` serve both; PINGREQ and PINGRESP are the
//!   same in both; AUTH exists only in MQTT 5).
//!
//! The MQTT 5 fields of the structs (reason codes, properties) are not sent in MQTT 3.1.1 and come back empty
//! from its decoders. The property block itself is the crate-internal `properties` module's.
//!
//! [`frame`] finds the next whole packet in a buffer without copying it (`Ok(None)` means "need more
//! bytes", which is not an error), and [`decode`] frames and decodes one packet; [`frame_v5`] and
//! [`decode_v5`] do so for MQTT 5, whose acks, CONNACK and DISCONNECT have no fixed length. Decoding never
//! panics: every malformed input is a [`DecodeError`] naming the problem.
//!
//! This module is public so that tests can build and inspect packets (for instance with
//! [`MockBroker`](crate::testing::MockBroker)); applications do not need it.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod pingreq;
mod pingresp;
pub(crate) mod properties;
mod puback;
mod pubcomp;
mod publish;
mod pubrec;
mod pubrel;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, LastWill};
pub use disconnect::Disconnect;
pub use pingreq::PingReq;
pub use pingresp::PingResp;
pub use puback::PubAck;
pub use pubcomp::PubComp;
pub use publish::Publish;
pub use pubrec::PubRec;
pub use pubrel::PubRel;
pub use suback::SubAck;
pub use subscribe::Subscribe;
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use std::fmt;

use crate::error::Error;
use crate::properties::Properties;
pub use crate::types::{Protocol, QoS};

/// The largest remaining length MQTT can express (four length bytes): 268,435,455 bytes.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// A decoding failure closes the connection as a protocol error that keeps the [`DecodeError`].
impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        Error::Protocol {
            reason: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl TryFrom<u8> for QoS {
    type Error = DecodeError;

    fn try_from(value: u8) -> Result<Self, DecodeError> {
        match value {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            other => Err(DecodeError::InvalidQoS(other)),
        }
    }
}

/// Why bytes could not be decoded as an MQTT packet.
///
/// A client that receives such bytes closes the connection with a protocol error
/// ([`Error::Protocol`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The remaining-length field uses more than four bytes, or a non-minimal continuation.
    MalformedRemainingLength,
    /// The declared remaining length is larger than the maximum packet size accepted.
    PacketTooLarge {
        /// The remaining length the packet declares.
        declared: usize,
        /// The largest remaining length accepted.
        max: usize,
    },
    /// The packet type nibble is 0 (reserved), or 15 (AUTH) outside MQTT 5.
    InvalidPacketType(u8),
    /// The fixed-header flags are not the ones the specification requires for this packet type.
    InvalidFlags {
        /// The packet type (1..=15).
        packet_type: u8,
        /// The flags found (low nibble of the first byte).
        flags: u8,
    },
    /// The body ends before a field it declares.
    Truncated {
        /// The packet type being decoded.
        packet_type: u8,
    },
    /// The body has bytes left over after the last field.
    TrailingBytes {
        /// The packet type being decoded.
        packet_type: u8,
    },
    /// A string field is not valid UTF-8 (or contains U+0000).
    InvalidUtf8,
    /// A QoS value of 3.
    InvalidQoS(u8),
    /// A QoS 1 or 2 packet with packet identifier 0.
    ZeroPacketId,
    /// A packet type whose length is fixed (in MQTT 3.1.1 CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP,
    /// UNSUBACK: 2; PINGREQ, PINGRESP, DISCONNECT: 0; in MQTT 5 only PINGREQ and PINGRESP: 0) declares
    /// another remaining length. Caught from the fixed header alone, so a hostile length is never waited
    /// for.
    InvalidRemainingLength {
        /// The packet type.
        packet_type: u8,
        /// The remaining length declared.
        declared: usize,
    },
    /// A variable byte integer in the body (a property block's length, a property identifier, a
    /// `SubscriptionIdentifier` value) runs over four bytes.
    MalformedVariableByteInteger,
    /// An MQTT 5 property block declares more bytes than are left in the packet.
    PropertiesTooLong {
        /// The packet type whose properties these are (99: the will's, inside CONNECT).
        packet_type: u8,
        /// The property length declared.
        declared: usize,
        /// The bytes left in the packet after the property length.
        left: usize,
    },
    /// A property's value, or its identifier, runs past the end of its property block (even when the
    /// packet goes on: the block's declared length is the bound).
    PropertyTruncated {
        /// The packet type whose properties these are (99: the will's, inside CONNECT).
        packet_type: u8,
        /// The property whose value is cut, or `None` when the identifier itself is.
        id: Option<u8>,
    },
    /// A property identifier MQTT 5 does not define. (An identifier is a variable byte integer, so it
    /// can be larger than a byte.)
    UnknownProperty(u32),
    /// A property that a packet may carry once appears again (`SubscriptionIdentifier` included, in
    /// SUBSCRIBE).
    DuplicateProperty(u8),
    /// A property the packet type may not carry.
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet type (99: the will's properties, inside CONNECT).
        packet_type: u8,
    },
    /// A property value the specification forbids (a 0 or 1 byte that is neither, a `ReceiveMaximum`,
    /// `MaximumPacketSize`, `TopicAlias` or `SubscriptionIdentifier` of 0).
    InvalidPropertyValue {
        /// The property identifier.
        id: u8,
        /// What the value must be, as Paho words it (`"must be 0 or 1"`).
        problem: &'static str,
    },
    /// Any other violation of the specification, described.
    Protocol(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MalformedRemainingLength => f.write_str("malformed remaining length"),
            DecodeError::PacketTooLarge { declared, max } => {
                write!(
                    f,
                    "declared packet length {declared} is over the maximum {max}"
                )
            }
            DecodeError::InvalidPacketType(t) => write!(f, "invalid packet type {t}"),
            DecodeError::InvalidFlags { packet_type, flags } => write!(
                f,
                "invalid fixed-header flags {flags:#06b} for {}",
                packet_name(*packet_type)
            ),
            DecodeError::Truncated { packet_type } => {
                write!(f, "truncated {} packet", packet_name(*packet_type))
            }
            DecodeError::TrailingBytes { packet_type } => {
                write!(
                    f,
                    "unexpected bytes after the end of {}",
                    packet_name(*packet_type)
                )
            }
            DecodeError::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            DecodeError::InvalidQoS(q) => write!(f, "invalid QoS {q}"),
            DecodeError::ZeroPacketId => f.write_str("packet identifier 0 on a QoS 1/2 packet"),
            DecodeError::InvalidRemainingLength {
                packet_type,
                declared,
            } => write!(
                f,
                "{} declares remaining length {declared}, but its length is fixed at {}",
                packet_name(*packet_type),
                fixed_remaining_length(*packet_type).unwrap_or(0)
            ),
            DecodeError::MalformedVariableByteInteger => {
                f.write_str("malformed variable byte integer (over four bytes)")
            }
            DecodeError::PropertiesTooLong {
                packet_type,
                declared,
                left,
            } => write!(
                f,
                "{} property length {declared} is over the {left} bytes left in the packet",
                properties_owner(*packet_type)
            ),
            DecodeError::PropertyTruncated {
                packet_type,
                id: Some(id),
            } => write!(
                f,
                "property {} runs past the end of the {} property block",
                PropertyName(*id),
                properties_owner(*packet_type)
            ),
            DecodeError::PropertyTruncated {
                packet_type,
                id: None,
            } => write!(
                f,
                "a property identifier runs past the end of the {} property block",
                properties_owner(*packet_type)
            ),
            DecodeError::UnknownProperty(id) => write!(f, "unknown property identifier {id:#04x}"),
            DecodeError::DuplicateProperty(id) => {
                write!(f, "property {} appears more than once", PropertyName(*id))
            }
            DecodeError::PropertyNotAllowed { id, packet_type } => write!(
                f,
                "property {} is not allowed in {} properties",
                PropertyName(*id),
                properties_owner(*packet_type)
            ),
            DecodeError::InvalidPropertyValue { id, problem } => {
                write!(f, "{} property value {problem}", PropertyName(*id))
            }
            DecodeError::Protocol(what) => f.write_str(what),
        }
    }
}

/// A property identifier as its Paho name (`ContentType`), or in hex when it has none.
struct PropertyName(u8);

impl fmt::Display for PropertyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::properties::property_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#04x}", self.0),
        }
    }
}

/// Whose property block a packet type number names in messages: the packet's, or the will's (99).
fn properties_owner(packet_type: u8) -> &'static str {
    if packet_type == crate::properties::PacketTypes::WILLMESSAGE as u8 {
        "will"
    } else {
        packet_name(packet_type)
    }
}

impl std::error::Error for DecodeError {}

/// The name of a packet type (1..=15), for messages and logs.
pub fn packet_name(packet_type: u8) -> &'static str {
    match packet_type {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "reserved packet type",
    }
}

/// The remaining length a packet type must have in MQTT 3.1/3.1.1, for the types whose length is fixed.
fn fixed_remaining_length(packet_type: u8) -> Option<usize> {
    match packet_type {
        2 | 4 | 5 | 6 | 7 | 11 => Some(2),
        12..=14 => Some(0),
        _ => None,
    }
}

/// The remaining length a packet type must have in MQTT 5: only PINGREQ's and PINGRESP's is fixed, the
/// others carrying reason codes and properties of any length.
fn fixed_remaining_length_v5(packet_type: u8) -> Option<usize> {
    match packet_type {
        12 | 13 => Some(0),
        _ => None,
    }
}

/// Where one whole packet sits at the front of a buffer, as found by [`frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The first byte of the fixed header: packet type in the high nibble, flags in the low one.
    pub header: u8,
    /// Length of the fixed header (1 + 1..=4 length bytes).
    pub header_len: usize,
    /// The remaining length (variable header plus payload).
    pub remaining_length: usize,
}

impl Frame {
    /// The packet type, 1..=15 (15, AUTH, from [`frame_v5`] only).
    pub fn packet_type(&self) -> u8 {
        self.header >> 4
    }

    /// The fixed-header flags (low nibble).
    pub fn flags(&self) -> u8 {
        self.header & 0x0f
    }

    /// Total length of the packet: fixed header plus remaining length.
    pub fn len(&self) -> usize {
        self.header_len + self.remaining_length
    }

    /// Always false: a frame has at least a one-byte header. (Here for clippy's `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Looks for one whole packet at the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole packet (read more and call again), `Ok(Some)`
/// with the packet's extent when it does, and an error when the fixed header is invalid or declares a
/// remaining length over `max_remaining` (checked before any byte of the body is needed, so a hostile length
/// never makes the caller allocate).
///
/// ```
/// use pahoish::packet::frame;
/// // PINGRESP: type 13, remaining length 0.
/// let f = frame(&[0xd0, 0x00, 0xff], 1024).unwrap().unwrap();
/// assert_eq!((f.packet_type(), f.len()), (13, 2));
/// // A PUBLISH whose body has not arrived yet.
/// assert_eq!(frame(&[0x30, 0x05, 0x00], 1024).unwrap(), None);
/// ```
pub fn frame(buf: &[u8], max_remaining: usize) -> Result<Option<Frame>, DecodeError> {
    frame_as(buf, max_remaining, false)
}

/// [`frame`] for MQTT 5: only PINGREQ and PINGRESP have a fixed remaining length (0).
///
/// ```
/// use pahoish::packet::{frame, frame_v5};
/// // A PUBACK with a reason code: three bytes of body, which MQTT 3.1.1 refuses.
/// let puback = [0x40, 0x03, 0x00, 0x07, 0x10];
/// assert_eq!(frame_v5(&puback, 1024).unwrap().unwrap().len(), 5);
/// assert!(frame(&puback, 1024).is_err());
/// ```
pub fn frame_v5(buf: &[u8], max_remaining: usize) -> Result<Option<Frame>, DecodeError> {
    frame_as(buf, max_remaining, true)
}

/// [`frame`] or [`frame_v5`]: the same framing but for the packet types whose length is fixed.
fn frame_as(buf: &[u8], max_remaining: usize, v5: bool) -> Result<Option<Frame>, DecodeError> {
    let Some(&header) = buf.first() else {
        return Ok(None);
    };
    let packet_type = header >> 4;
    if packet_type == 0 || (packet_type == 15 && !v5) {
        return Err(DecodeError::InvalidPacketType(packet_type));
    }
    let mut remaining: usize = 0;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        remaining |= ((byte & 0x7f) as usize) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            // A continuation byte followed by a final 0 is a non-minimal encoding, which 3.1.1 forbids
            // only implicitly; we accept it (as mosquitto does) as long as it fits in four bytes.
            break;
        }
        shift += 7;
        if i > 4 {
            return Err(DecodeError::MalformedRemainingLength);
        }
    }
    let fixed = if v5 {
        fixed_remaining_length_v5(packet_type)
    } else {
        fixed_remaining_length(packet_type)
    };
    if let Some(fixed) = fixed {
        if remaining != fixed {
            return Err(DecodeError::InvalidRemainingLength {
                packet_type,
                declared: remaining,
            });
        }
    }
    if remaining > max_remaining {
        return Err(DecodeError::PacketTooLarge {
            declared: remaining,
            max: max_remaining,
        });
    }
    let f = Frame {
        header,
        header_len: i,
        remaining_length: remaining,
    };
    if buf.len() < f.len() {
        return Ok(None);
    }
    Ok(Some(f))
}

/// The whole length (fixed header included) the packet at the front of `buf` declares, once its
/// fixed header is complete; `None` before then or for a malformed length (which [`frame`] reports).
/// Lets a reader make room for a large packet in one step.
pub(crate) fn declared_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, &byte) in buf.iter().enumerate().skip(1).take(4) {
        remaining |= usize::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            return Some(i + 1 + remaining);
        }
    }
    None
}

/// Frames and decodes one packet from the front of `buf`.
///
/// Returns the packet and the number of bytes it used, `Ok(None)` when more bytes are needed, or the
/// reason the bytes are not a valid packet.
///
/// ```
/// use pahoish::packet::{decode, Packet, PubAck};
/// let (p, used) = decode(&[0x40, 0x02, 0x00, 0x07], 1024).unwrap().unwrap();
/// assert_eq!(p, Packet::PubAck(PubAck::new(7)));
/// assert_eq!(used, 4);
/// ```
pub fn decode(buf: &[u8], max_remaining: usize) -> Result<Option<(Packet, usize)>, DecodeError> {
    decode_as(buf, max_remaining, Protocol::V311)
}

/// [`decode`] for MQTT 5: [`frame_v5`], then [`Packet::decode_frame_v5`].
///
/// ```
/// use pahoish::packet::{decode_v5, Packet, PubAck};
/// let (p, used) = decode_v5(&[0x40, 0x03, 0x00, 0x07, 0x10], 1024).unwrap().unwrap();
/// assert_eq!(p, Packet::PubAck(PubAck { reason: 0x10, ..PubAck::new(7) }));
/// assert_eq!(used, 5);
/// ```
pub fn decode_v5(buf: &[u8], max_remaining: usize) -> Result<Option<(Packet, usize)>, DecodeError> {
    decode_as(buf, max_remaining, Protocol::V5)
}

/// [`decode`] or [`decode_v5`], as `protocol` says.
fn decode_as(
    buf: &[u8],
    max_remaining: usize,
    protocol: Protocol,
) -> Result<Option<(Packet, usize)>, DecodeError> {
    let Some(f) = frame_as(buf, max_remaining, protocol == Protocol::V5)? else {
        return Ok(None);
    };
    let body = &buf[f.header_len..f.len()];
    let packet = Packet::decode_frame_as(f.header, body, protocol)?;
    Ok(Some((packet, f.len())))
}

/// Any MQTT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (client to broker).
    Connect(Connect),
    /// CONNACK (broker to client).
    ConnAck(ConnAck),
    /// PUBLISH (both ways).
    Publish(Publish),
    /// PUBACK (both ways).
    PubAck(PubAck),
    /// PUBREC (both ways).
    PubRec(PubRec),
    /// PUBREL (both ways).
    PubRel(PubRel),
    /// PUBCOMP (both ways).
    PubComp(PubComp),
    /// SUBSCRIBE (client to broker).
    Subscribe(Subscribe),
    /// SUBACK (broker to client).
    SubAck(SubAck),
    /// UNSUBSCRIBE (client to broker).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (broker to client).
    UnsubAck(UnsubAck),
    /// PINGREQ (client to broker).
    PingReq,
    /// PINGRESP (broker to client).
    PingResp,
    /// DISCONNECT (client to broker; in MQTT 5 both ways).
    Disconnect(Disconnect),
    /// AUTH (both ways; MQTT 5 only).
    Auth(Auth),
}

impl Packet {
    /// Decodes the body of a framed MQTT 3.1/3.1.1 packet whose first byte is `header`.
    pub fn decode_frame(header: u8, body: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_frame_with(header, body, false)
    }

    /// Decodes the body of a framed MQTT 5 packet whose first byte is `header`: each type's `decode_v5`
    /// (CONNECT's `decode`, which reads any version; PINGREQ's and PINGRESP's, which MQTT 5 keeps).
    pub fn decode_frame_v5(header: u8, body: &[u8]) -> Result<Packet, DecodeError> {
        Packet::decode_frame_with(header, body, true)
    }

    /// [`decode_frame`](Packet::decode_frame) or [`decode_frame_v5`](Packet::decode_frame_v5), as
    /// `protocol` says (MQTT 3.1 and 3.1.1 share their packets).
    pub fn decode_frame_as(
        header: u8,
        body: &[u8],
        protocol: Protocol,
    ) -> Result<Packet, DecodeError> {
        Packet::decode_frame_with(header, body, protocol == Protocol::V5)
    }

    /// The one dispatch on the packet type behind the `decode_frame` functions.
    fn decode_frame_with(header: u8, body: &[u8], v5: bool) -> Result<Packet, DecodeError> {
        let flags = header & 0x0f;
        // The type's decoder for the version, for the types whose two versions differ.
        macro_rules! decode {
            ($ty:ident) => {
                if v5 {
                    $ty::decode_v5(flags, body)?
                } else {
                    $ty::decode(flags, body)?
                }
            };
        }
        Ok(match header >> 4 {
            1 => Packet::Connect(Connect::decode(flags, body)?),
            2 => Packet::ConnAck(decode!(ConnAck)),
            3 => Packet::Publish(decode!(Publish)),
            4 => Packet::PubAck(decode!(PubAck)),
            5 => Packet::PubRec(decode!(PubRec)),
            6 => Packet::PubRel(decode!(PubRel)),
            7 => Packet::PubComp(decode!(PubComp)),
            8 => Packet::Subscribe(decode!(Subscribe)),
            9 => Packet::SubAck(decode!(SubAck)),
            10 => Packet::Unsubscribe(decode!(Unsubscribe)),
            11 => Packet::UnsubAck(decode!(UnsubAck)),
            12 => {
                PingReq::decode(flags, body)?;
                Packet::PingReq
            }
            13 => {
                PingResp::decode(flags, body)?;
                Packet::PingResp
            }
            14 => Packet::Disconnect(decode!(Disconnect)),
            15 if v5 => Packet::Auth(Auth::decode_v5(flags, body)?),
            other => return Err(DecodeError::InvalidPacketType(other)),
        })
    }

    /// Appends the encoded MQTT 3.1/3.1.1 packet to `out` (a CONNECT in the form of its own `protocol`). AUTH,
    /// which MQTT 3.1.1 does not have, is written in its MQTT 5 form, the only one there is.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with(out, false);
    }

    /// Appends the encoded MQTT 5 packet to `out`: each type's `encode_v5` (CONNECT's `encode`, in the
    /// form of its own `protocol`; PINGREQ's and PINGRESP's, which MQTT 5 keeps).
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        self.encode_with(out, true);
    }

    /// [`encode`](Packet::encode) or [`encode_v5`](Packet::encode_v5), as `protocol` says.
    pub fn encode_as(&self, out: &mut Vec<u8>, protocol: Protocol) {
        self.encode_with(out, protocol == Protocol::V5);
    }

    /// The one dispatch on the packet type behind the `encode` functions.
    fn encode_with(&self, out: &mut Vec<u8>, v5: bool) {
        // The packet's encoder for the version, for the types whose two versions differ.
        macro_rules! encode {
            ($p:expr) => {
                if v5 {
                    $p.encode_v5(out)
                } else {
                    $p.encode(out)
                }
            };
        }
        match self {
            Packet::Connect(p) => p.encode(out),
            Packet::ConnAck(p) => encode!(p),
            Packet::Publish(p) => encode!(p),
            Packet::PubAck(p) => encode!(p),
            Packet::PubRec(p) => encode!(p),
            Packet::PubRel(p) => encode!(p),
            Packet::PubComp(p) => encode!(p),
            Packet::Subscribe(p) => encode!(p),
            Packet::SubAck(p) => encode!(p),
            Packet::Unsubscribe(p) => encode!(p),
            Packet::UnsubAck(p) => encode!(p),
            Packet::PingReq => PingReq.encode(out),
            Packet::PingResp => PingResp.encode(out),
            Packet::Disconnect(p) => encode!(p),
            Packet::Auth(p) => p.encode_v5(out),
        }
    }

    /// The encoded MQTT 3.1/3.1.1 packet as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// The packet type name (`"PUBLISH"`, ...), for logs.
    pub fn name(&self) -> &'static str {
        packet_name(match self {
            Packet::Connect(_) => 1,
            Packet::ConnAck(_) => 2,
            Packet::Publish(_) => 3,
            Packet::PubAck(_) => 4,
            Packet::PubRec(_) => 5,
            Packet::PubRel(_) => 6,
            Packet::PubComp(_) => 7,
            Packet::Subscribe(_) => 8,
            Packet::SubAck(_) => 9,
            Packet::Unsubscribe(_) => 10,
            Packet::UnsubAck(_) => 11,
            Packet::PingReq => 12,
            Packet::PingResp => 13,
            Packet::Disconnect(_) => 14,
            Packet::Auth(_) => 15,
        })
    }
}

// ---- helpers shared by the packet files ----

/// `Debug` for a packet struct: the fields MQTT 3.1.1 has always, then the MQTT 5 ones (a reason code,
/// reason codes, properties) only when they are set, so that a 3.1.1 packet prints as it did before MQTT 5
/// (MockBroker's reports and the logs print packets).
///
/// `debug_v5_when_set!(Name { field, ... } { v5_field, ... })`.
macro_rules! debug_v5_when_set {
    ($name:ident { $($field:ident),* } { $($v5:ident),* }) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                $(d.field(stringify!($field), &self.$field);)*
                $(
                    if !$crate::packet::Unset::is_unset(&self.$v5) {
                        d.field(stringify!($v5), &self.$v5);
                    }
                )*
                d.finish()
            }
        }
    };
}

pub(crate) use debug_v5_when_set;

/// Whether an MQTT 5 field holds what a 3.1.1 packet has there: nothing.
pub(crate) trait Unset {
    fn is_unset(&self) -> bool;
}

impl Unset for u8 {
    fn is_unset(&self) -> bool {
        *self == 0
    }
}

impl Unset for Vec<u8> {
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

impl Unset for Properties {
    fn is_unset(&self) -> bool {
        self.is_empty()
    }
}

/// Reserves room for a whole packet whose body is `remaining` bytes, and appends its fixed header.
pub(crate) fn begin_packet(out: &mut Vec<u8>, header: u8, remaining: usize) {
    out.reserve(1 + vbi_len(remaining) + remaining);
    write_fixed_header(out, header, remaining);
}

/// Appends the fixed header: `header` byte, then `remaining` as a variable byte integer.
pub(crate) fn write_fixed_header(out: &mut Vec<u8>, header: u8, remaining: usize) {
    out.push(header);
    write_vbi(out, remaining);
}

/// Appends `value` as a variable byte integer (MQTT 5.0 section 1.5.5, the remaining length's encoding in
/// 3.1.1 too): seven bits a byte, least significant first, the high bit saying another byte follows.
/// Callers keep `value` within [`MAX_REMAINING_LENGTH`], the most four bytes hold.
pub(crate) fn write_vbi(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            break;
        }
    }
}

/// The number of bytes [`write_vbi`] appends for `value` (1 to 4 within [`MAX_REMAINING_LENGTH`]).
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Appends a two-byte big-endian length and the bytes of `s`. Callers validate that `s` fits in 65,535
/// bytes before encoding; a longer one is cut to keep the packet well-formed rather than panic.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    write_bytes(out, s.as_bytes());
}

/// The number of bytes [`write_string`] or [`write_bytes`] appends for a field of `len` bytes: the two-byte
/// length plus the field, cut to 65,535 bytes as those functions cut it.
pub(crate) fn field_len(len: usize) -> usize {
    2 + len.min(u16::MAX as usize)
}

/// Appends a two-byte big-endian length and `b` (cut to 65,535 bytes; see [`write_string`]).
pub(crate) fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

/// A cursor over a packet body for the decoders: every read checks bounds and fails with
/// [`DecodeError::Truncated`].
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    packet_type: u8,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(packet_type: u8, buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            packet_type,
        }
    }

    fn truncated(&self) -> DecodeError {
        DecodeError::Truncated {
            packet_type: self.packet_type,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A variable byte integer (MQTT 5.0 section 1.5.5). A fifth byte is
    /// [`DecodeError::MalformedVariableByteInteger`]; a non-minimal encoding is accepted, as the framer
    /// accepts it in the remaining length.
    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0;
        for shift in [0, 7, 14, 21] {
            let byte = self.u8()?;
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::MalformedVariableByteInteger)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.truncated());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A length-prefixed binary field.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    /// A length-prefixed UTF-8 string (U+0000 is rejected, as MQTT 3.1.1 section 1.5.3 requires).
    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let b = self.bytes()?;
        let s = std::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(DecodeError::InvalidUtf8);
        }
        Ok(s)
    }

    /// The rest of the body.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless the whole body was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                packet_type: self.packet_type,
            });
        }
        Ok(())
    }
}

/// Fails with [`DecodeError::InvalidFlags`] unless `flags` is `expected`.
pub(crate) fn check_flags(packet_type: u8, flags: u8, expected: u8) -> Result<(), DecodeError> {
    if flags != expected {
        return Err(DecodeError::InvalidFlags { packet_type, flags });
    }
    Ok(())
}

/// Checks one case of a packet file's byte-annotated tests: `p` encodes to exactly `bytes` (after what the
/// buffer already holds), its remaining length is the rest of `bytes` after a one-byte length, and the body
/// of `bytes` decodes back to `p` with the flags of `bytes`.
#[cfg(test)]
pub(crate) fn assert_form<P: PartialEq + fmt::Debug>(
    p: P,
    bytes: &[u8],
    encode: fn(&P, &mut Vec<u8>),
    remaining_length: fn(&P) -> usize,
    decode: fn(u8, &[u8]) -> Result<P, DecodeError>,
) {
    let mut out = vec![0xaa];
    encode(&p, &mut out);
    assert_eq!(&out[1..], bytes, "{p:?}");
    assert_eq!(remaining_length(&p), bytes.len() - 2, "{p:?}");
    assert_eq!(decode(bytes[0] & 0x0f, &bytes[2..]), Ok(p));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SubscribeOptions;

    #[test]
    fn a_decoding_failure_is_a_protocol_error_that_keeps_it_as_its_source() {
        use std::error::Error as _;
        let e = Error::from(DecodeError::InvalidPacketType(15));
        assert!(matches!(e, Error::Protocol { .. }));
        let source = e.source().and_then(|s| s.downcast_ref::<DecodeError>());
        assert_eq!(source, Some(&DecodeError::InvalidPacketType(15)));
    }

    #[test]
    fn declared_len_is_known_once_the_fixed_header_is() {
        assert_eq!(declared_len(&[]), None);
        assert_eq!(declared_len(&[0x30]), None);
        assert_eq!(declared_len(&[0x30, 0x80]), None);
        assert_eq!(declared_len(&[0xd0, 0x00]), Some(2));
        assert_eq!(declared_len(&[0x30, 0x80, 0x01]), Some(3 + 128));
        assert_eq!(
            declared_len(&[0x30, 0xff, 0xff, 0xff, 0x7f]),
            Some(5 + MAX_REMAINING_LENGTH)
        );
        assert_eq!(declared_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), None);
    }

    #[test]
    fn publish_decoded_taking_its_buffer_equals_the_copying_decode() {
        for v5 in [false, true] {
            let p = Publish {
                qos: QoS::AtLeastOnce,
                topic: "a/b".into(),
                pkid: 9,
                payload: vec![7u8; 300],
                ..Publish::default()
            };
            let mut wire = Vec::new();
            if v5 {
                p.encode_v5(&mut wire);
            } else {
                p.encode(&mut wire);
            }
            let f = frame_as(&wire, MAX_REMAINING_LENGTH, v5).unwrap().unwrap();
            let body = &wire[f.header_len..];
            let copied = if v5 {
                Publish::decode_v5(f.flags(), body)
            } else {
                Publish::decode(f.flags(), body)
            };
            let taken = Publish::decode_taking(f.flags(), wire.clone(), f.header_len, v5);
            assert_eq!(taken.unwrap(), copied.unwrap());
        }
    }

    #[test]
    fn remaining_length_round_trips_at_every_boundary() {
        for n in [
            0usize,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_REMAINING_LENGTH,
        ] {
            let mut out = Vec::new();
            write_fixed_header(&mut out, 0x30, n);
            assert_eq!(out.len(), 1 + vbi_len(n), "length bytes for {n}");
            // The same bytes read back as a variable byte integer, as the property decoder reads one.
            let mut r = Reader::new(3, &out[1..]);
            assert_eq!(r.vbi(), Ok(n as u32));
            assert_eq!(r.remaining(), 0);
            // Frame with no body present: either "need more" or, for n == 0, a whole frame.
            let got = frame(&out, MAX_REMAINING_LENGTH).unwrap();
            if n == 0 {
                assert_eq!(got.unwrap().remaining_length, 0);
            } else {
                assert_eq!(got, None);
            }
            let mut whole = out.clone();
            whole.resize(out.len() + n.min(4), 0);
            if n <= 4 {
                assert_eq!(
                    frame(&whole, MAX_REMAINING_LENGTH)
                        .unwrap()
                        .unwrap()
                        .remaining_length,
                    n
                );
            }
        }
    }

    #[test]
    fn remaining_length_encodings_match_the_spec_examples() {
        // MQTT 3.1.1 table 2.4: 0 -> 0x00, 127 -> 0x7F, 128 -> 0x80 0x01, 16383 -> 0xFF 0x7F,
        // 16384 -> 0x80 0x80 0x01, 268435455 -> 0xFF 0xFF 0xFF 0x7F.
        let cases: &[(usize, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (n, bytes) in cases {
            let mut out = Vec::new();
            write_fixed_header(&mut out, 0x30, *n);
            assert_eq!(&out[1..], *bytes, "encoding of {n}");
        }
    }

    #[test]
    fn the_reader_takes_a_non_minimal_variable_byte_integer() {
        // As the framer takes one in the remaining length.
        let non_minimal = [
            0x81, 0x00, // 1, with a needless continuation
        ];
        assert_eq!(Reader::new(3, &non_minimal).vbi(), Ok(1));
    }

    #[test]
    fn a_variable_byte_integer_of_five_bytes_is_malformed_and_a_cut_one_truncated() {
        let five = [0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            Reader::new(3, &five).vbi(),
            Err(DecodeError::MalformedVariableByteInteger)
        );
        let cut = [0xff, 0xff];
        assert_eq!(
            Reader::new(3, &cut).vbi(),
            Err(DecodeError::Truncated { packet_type: 3 })
        );
    }

    #[test]
    fn a_fifth_length_byte_is_malformed() {
        let buf = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            frame(&buf, usize::MAX),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn a_declared_length_over_the_maximum_fails_before_the_body_arrives() {
        // 16384 declared, 1024 accepted: rejected with only the header in hand.
        let buf = [0x30, 0x80, 0x80, 0x01];
        assert_eq!(
            frame(&buf, 1024),
            Err(DecodeError::PacketTooLarge {
                declared: 16_384,
                max: 1024
            })
        );
    }

    #[test]
    fn a_fixed_size_packet_with_another_length_fails_from_the_header_alone() {
        // PUBACK declaring 200,000,000 bytes: rejected with four bytes in hand, not waited for.
        let buf = [0x40, 0x80, 0x84, 0xaf, 0x5f];
        assert_eq!(
            frame(&buf, MAX_REMAINING_LENGTH),
            Err(DecodeError::InvalidRemainingLength {
                packet_type: 4,
                declared: 200_000_000
            })
        );
        assert!(matches!(
            frame(&[0x20, 0x03], 10),
            Err(DecodeError::InvalidRemainingLength { .. })
        ));
        assert!(matches!(
            frame(&[0xd0, 0x01], 10),
            Err(DecodeError::InvalidRemainingLength { .. })
        ));
        assert_eq!(frame(&[0x20, 0x02], 10), Ok(None));
    }

    #[test]
    fn reserved_packet_types_are_rejected() {
        assert_eq!(
            frame(&[0x00, 0x00], 10),
            Err(DecodeError::InvalidPacketType(0))
        );
        assert_eq!(
            frame(&[0xf0, 0x00], 10),
            Err(DecodeError::InvalidPacketType(15))
        );
        // 15 is AUTH in MQTT 5; 0 stays reserved.
        assert_eq!(frame_v5(&[0xf0, 0x00], 10).unwrap().unwrap().len(), 2);
        assert_eq!(
            frame_v5(&[0x00, 0x00], 10),
            Err(DecodeError::InvalidPacketType(0))
        );
    }

    #[test]
    fn an_empty_or_partial_header_needs_more_bytes() {
        assert_eq!(frame(&[], 10), Ok(None));
        assert_eq!(frame(&[0x30], 10), Ok(None));
        assert_eq!(frame(&[0x30, 0x80], 10_000), Ok(None));
    }

    #[test]
    fn decode_reports_bytes_used_and_leaves_the_next_packet() {
        let buf = [0xd0, 0x00, 0x40, 0x02, 0x00, 0x01];
        let (p, used) = decode(&buf, 100).unwrap().unwrap();
        assert_eq!((p, used), (Packet::PingResp, 2));
        let (p, used) = decode(&buf[2..], 100).unwrap().unwrap();
        assert_eq!((p, used), (Packet::PubAck(PubAck::new(1)), 4));
    }

    #[test]
    fn mqtt5_frames_acks_connack_and_disconnect_of_any_length() {
        let cases: [&[u8]; 4] = [
            &[
                0x40, 0x03, // PUBACK, remaining length 3
                0x00, 0x01, 0x10, // packet identifier 1, reason code 0x10
            ],
            &[
                0x20, 0x03, // CONNACK, remaining length 3
                0x00, 0x00, 0x00, // no session, success, property length 0
            ],
            &[
                0xb0, 0x04, // UNSUBACK, remaining length 4
                0x00, 0x01, 0x00, 0x00, // packet identifier 1, property length 0, success
            ],
            &[
                0xe0, 0x01, // DISCONNECT, remaining length 1
                0x04, // reason code 4
            ],
        ];
        for buf in cases {
            assert!(
                matches!(
                    frame(buf, 100),
                    Err(DecodeError::InvalidRemainingLength { .. })
                ),
                "{buf:02x?}"
            );
            assert_eq!(frame_v5(buf, 100).unwrap().unwrap().len(), buf.len());
            assert!(decode_v5(buf, 100).unwrap().is_some(), "{buf:02x?}");
        }
        // PINGREQ and PINGRESP keep their length of 0, checked from the fixed header alone.
        for buf in [&[0xc0, 0x01][..], &[0xd0, 0x05]] {
            assert!(matches!(
                frame_v5(buf, 100),
                Err(DecodeError::InvalidRemainingLength { declared, .. }) if declared == usize::from(buf[1])
            ));
        }
        // The other checks of the fixed header are the same.
        assert_eq!(
            frame_v5(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], usize::MAX),
            Err(DecodeError::MalformedRemainingLength)
        );
        assert_eq!(
            frame_v5(&[0x40, 0x80, 0x80, 0x01], 1024),
            Err(DecodeError::PacketTooLarge {
                declared: 16_384,
                max: 1024
            })
        );
        assert_eq!(
            frame_v5(&[0x00, 0x00], 10),
            Err(DecodeError::InvalidPacketType(0))
        );
        assert_eq!(frame_v5(&[0x40, 0x03, 0x00], 10), Ok(None));
    }

    #[test]
    fn the_as_functions_pick_the_version() {
        let p = Packet::PubAck(PubAck {
            reason: 0x10,
            ..PubAck::new(7)
        });
        let v311 = [
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // packet identifier 7; no reason code in 3.1.1
        ];
        let v5 = [
            0x40, 0x03, // PUBACK, remaining length 3
            0x00, 0x07, // packet identifier 7
            0x10, // reason code 0x10: no matching subscribers
        ];
        for (protocol, bytes) in [
            (Protocol::V31, &v311[..]),
            (Protocol::V311, &v311),
            (Protocol::V5, &v5),
        ] {
            let mut out = Vec::new();
            p.encode_as(&mut out, protocol);
            assert_eq!(out, bytes, "{protocol:?}");
        }
        assert_eq!(
            Packet::decode_frame_as(0x40, &v5[2..], Protocol::V5),
            Ok(p.clone())
        );
        assert_eq!(
            Packet::decode_frame_as(0x40, &v5[2..], Protocol::V311),
            Err(DecodeError::TrailingBytes { packet_type: 4 })
        );
        assert_eq!(decode_v5(&v5, 100), Ok(Some((p, 5))));
    }

    #[test]
    fn a_connect_keeps_its_own_version_under_either_encoder() {
        for protocol in [Protocol::V31, Protocol::V311, Protocol::V5] {
            let p = Packet::Connect(Connect {
                protocol,
                client_id: "c".into(),
                ..Connect::default()
            });
            let (mut a, mut b) = (Vec::new(), Vec::new());
            p.encode(&mut a);
            p.encode_v5(&mut b);
            assert_eq!(a, b, "{protocol:?}");
            let level_at = 4 + protocol.name().len(); // after the fixed header and the protocol name
            assert_eq!(a[level_at], protocol.level(), "{protocol:?}");
            // Either decoder reads the version the packet names.
            assert_eq!(decode(&a, 100), Ok(Some((p.clone(), a.len()))));
            assert_eq!(decode_v5(&a, 100), Ok(Some((p, a.len()))));
        }
    }

    #[test]
    fn every_packet_type_has_a_name() {
        for t in 1..=15 {
            assert_ne!(packet_name(t), "reserved packet type");
        }
    }

    /// A tiny xorshift64 generator, so the fuzz test needs no dependency and always sees the same inputs.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Decodes `body` as every packet type of `protocol` with fixed-header flags `flags`. Whatever decodes
    /// must re-encode to the same flags, with a fixed header matching its remaining length, and decode again
    /// to the same value; a 3.1.1 packet must also re-encode to the same body. (An MQTT 5 one need not: its
    /// properties are kept in identifier order, and a non-minimal length or an empty property block of an
    /// ack is written shorter.)
    fn decode_as_every_type(flags: u8, body: &[u8], protocol: Protocol) {
        fn check(p: Packet, remaining_length: usize, flags: u8, body: &[u8], protocol: Protocol) {
            let mut out = Vec::new();
            p.encode_as(&mut out, protocol);
            let header_len = 1 + vbi_len(remaining_length);
            assert_eq!(out.len(), header_len + remaining_length, "{p:?}");
            assert_eq!(out[0] & 0x0f, flags, "{p:?}");
            let v5 = protocol == Protocol::V5
                || matches!(&p, Packet::Connect(c) if c.protocol == Protocol::V5);
            if !v5 {
                assert_eq!(&out[header_len..], body, "{p:?}");
            }
            assert_eq!(
                decode_as(&out, MAX_REMAINING_LENGTH, protocol),
                Ok(Some((p, out.len())))
            );
        }
        macro_rules! check {
            (unit: $($ty:ident),*) => {
                $(
                    if let Ok(p) = $ty::decode(flags, body) {
                        check(Packet::$ty, p.remaining_length(), flags, body, protocol);
                    }
                )*
            };
            ($decode:ident, $len:ident: $($ty:ident),*) => {
                $(
                    if let Ok(p) = $ty::$decode(flags, body) {
                        let n = p.$len();
                        check(Packet::$ty(p), n, flags, body, protocol);
                    }
                )*
            };
        }
        // The same in both versions: CONNECT reads the version it names, the pings have no body.
        check!(decode, remaining_length: Connect);
        check!(unit: PingReq, PingResp);
        if protocol == Protocol::V5 {
            check!(decode_v5, remaining_length_v5: ConnAck, Publish, PubAck, PubRec, PubRel, PubComp,
                Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect, Auth);
        } else {
            check!(decode, remaining_length: ConnAck, Publish, PubAck, PubRec, PubRel, PubComp,
                Subscribe, SubAck, Unsubscribe, UnsubAck, Disconnect);
        }
    }

    /// Frames and decodes `buf` as `protocol`; a packet that decodes must re-encode to bytes that decode to
    /// it again.
    fn decode_framed(buf: &[u8], protocol: Protocol) {
        if let Ok(Some((p, used))) = decode_as(buf, 1 << 20, protocol) {
            assert!(used <= buf.len());
            let mut out = Vec::new();
            p.encode_as(&mut out, protocol);
            assert_eq!(
                decode_as(&out, MAX_REMAINING_LENGTH, protocol),
                Ok(Some((p, out.len())))
            );
        }
    }

    /// One valid packet of each type (two CONNECTs and PUBLISHes), encoded in MQTT 3.1.1, then one of each
    /// MQTT 5 type with properties, encoded in MQTT 5; each with the version it is in.
    fn samples() -> Vec<(Protocol, Vec<u8>)> {
        let packets = [
            Packet::Connect(Connect {
                protocol: Protocol::V311,
                client_id: "id".into(),
                clean_session: true,
                keepalive: 60,
                username: Some("u".into()),
                password: Some(b"pw".to_vec()),
                will: Some(LastWill {
                    topic: "w/t".into(),
                    payload: b"bye".to_vec(),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    ..LastWill::default()
                }),
                ..Connect::default()
            }),
            Packet::Connect(Connect {
                protocol: Protocol::V31,
                client_id: "c".into(),
                clean_session: false,
                keepalive: 0,
                username: None,
                password: None,
                will: None,
                ..Connect::default()
            }),
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                ..ConnAck::default()
            }),
            Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: true,
                topic: "a/b".into(),
                pkid: 0,
                payload: b"hello".to_vec(),
                ..Publish::default()
            }),
            Packet::Publish(Publish {
                dup: true,
                qos: QoS::ExactlyOnce,
                retain: false,
                topic: "t".into(),
                pkid: 513,
                payload: vec![0, 1, 2],
                ..Publish::default()
            }),
            Packet::PubAck(PubAck::new(1)),
            Packet::PubRec(PubRec::new(2)),
            Packet::PubRel(PubRel::new(3)),
            Packet::PubComp(PubComp::new(4)),
            Packet::Subscribe(Subscribe {
                pkid: 5,
                filters: vec![
                    ("a/#".into(), QoS::AtLeastOnce.into()),
                    ("+".into(), QoS::ExactlyOnce.into()),
                ],
                ..Subscribe::default()
            }),
            Packet::SubAck(SubAck {
                pkid: 5,
                return_codes: vec![1, 0x80],
                ..SubAck::default()
            }),
            Packet::Unsubscribe(Unsubscribe {
                pkid: 6,
                filters: vec!["a/#".into(), "b".into()],
                ..Unsubscribe::default()
            }),
            Packet::UnsubAck(UnsubAck::new(6)),
            Packet::PingReq,
            Packet::PingResp,
            Packet::Disconnect(Disconnect::default()),
        ];
        let mut samples: Vec<_> = packets
            .iter()
            .map(|p| (Protocol::V311, p.to_bytes()))
            .collect();
        for p in samples_v5() {
            let mut out = Vec::new();
            p.encode_v5(&mut out);
            samples.push((Protocol::V5, out));
        }
        samples
    }

    /// One MQTT 5 packet of each type, with properties where it may have them.
    fn samples_v5() -> Vec<Packet> {
        use crate::properties::{PacketTypes as T, Property as P};
        let props = |t: T, items: Vec<P>| {
            let mut props = Properties::new(t);
            for p in items {
                props.set(p).unwrap();
            }
            props
        };
        let reason = |t: T| props(t, vec![P::ReasonString("why".into())]);
        vec![
            Packet::Connect(Connect {
                protocol: Protocol::V5,
                client_id: "id".into(),
                clean_session: true,
                keepalive: 60,
                password: Some(b"pw".to_vec()),
                will: Some(LastWill {
                    topic: "w/t".into(),
                    payload: b"bye".to_vec(),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: props(
                        T::WILLMESSAGE,
                        vec![P::WillDelayInterval(5), P::ContentType("text".into())],
                    ),
                }),
                properties: props(
                    T::CONNECT,
                    vec![
                        P::SessionExpiryInterval(60),
                        P::ReceiveMaximum(10),
                        P::UserProperty("k".into(), "v".into()),
                    ],
                ),
                ..Connect::default()
            }),
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                properties: props(
                    T::CONNACK,
                    vec![
                        P::TopicAliasMaximum(5),
                        P::MaximumQoS(1),
                        P::RetainAvailable(0),
                    ],
                ),
            }),
            Packet::Publish(Publish {
                qos: QoS::ExactlyOnce,
                topic: "t".into(),
                pkid: 513,
                payload: vec![0, 1, 2],
                properties: props(
                    T::PUBLISH,
                    vec![
                        P::TopicAlias(2),
                        P::SubscriptionIdentifier(300),
                        P::CorrelationData(vec![9]),
                    ],
                ),
                ..Publish::default()
            }),
            Packet::PubAck(PubAck {
                reason: 0x10,
                properties: reason(T::PUBACK),
                ..PubAck::new(1)
            }),
            Packet::PubRec(PubRec {
                reason: 0x80,
                ..PubRec::new(2)
            }),
            Packet::PubRel(PubRel {
                properties: reason(T::PUBREL),
                ..PubRel::new(3)
            }),
            Packet::PubComp(PubComp::new(4)),
            Packet::Subscribe(Subscribe {
                pkid: 5,
                filters: vec![(
                    "a/#".into(),
                    SubscribeOptions::from_byte(0x2d).expect("valid options"),
                )],
                properties: props(T::SUBSCRIBE, vec![P::SubscriptionIdentifier(7)]),
            }),
            Packet::SubAck(SubAck {
                pkid: 5,
                return_codes: vec![1, 0x87],
                properties: reason(T::SUBACK),
            }),
            Packet::Unsubscribe(Unsubscribe {
                pkid: 6,
                filters: vec!["a/#".into()],
                properties: props(
                    T::UNSUBSCRIBE,
                    vec![P::UserProperty("k".into(), "v".into())],
                ),
            }),
            Packet::UnsubAck(UnsubAck {
                pkid: 6,
                codes: vec![0x00, 0x11],
                properties: reason(T::UNSUBACK),
            }),
            Packet::Disconnect(Disconnect {
                reason: 0x8b,
                properties: props(
                    T::DISCONNECT,
                    vec![P::SessionExpiryInterval(0), P::ServerReference("b".into())],
                ),
            }),
            Packet::Auth(Auth {
                reason: 0x18,
                properties: props(
                    T::AUTH,
                    vec![
                        P::AuthenticationMethod("SCRAM".into()),
                        P::AuthenticationData(vec![1, 2]),
                    ],
                ),
            }),
        ]
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let samples = samples();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut buf = Vec::with_capacity(64);
        for _ in 0..200_000 {
            buf.clear();
            match rng.below(3) {
                // Random bytes.
                0 => buf.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
                // Random bytes whose second byte declares exactly the rest, so that the framer hands the
                // body to a decoder.
                1 => {
                    let len = 2 + rng.below(62);
                    buf.extend((0..len).map(|_| rng.next() as u8));
                    buf[1] = (len - 2) as u8;
                }
                // A valid packet (3.1.1 or 5.0) with one to three bytes replaced.
                _ => {
                    buf.extend_from_slice(&samples[rng.below(samples.len())].1);
                    for _ in 0..1 + rng.below(3) {
                        let i = rng.below(buf.len());
                        buf[i] = rng.next() as u8;
                    }
                }
            }
            // The same bytes as either version.
            let first = buf.first().copied().unwrap_or(0);
            let body = buf.get(2..).unwrap_or(&[]);
            let other_flags = [0, 0b0010, first >> 4][rng.below(3)];
            for protocol in [Protocol::V311, Protocol::V5] {
                decode_framed(&buf, protocol);
                decode_as_every_type(first & 0x0f, body, protocol);
                decode_as_every_type(other_flags, body, protocol);
            }
        }
        for (version, bytes) in &samples {
            let f = frame_as(bytes, MAX_REMAINING_LENGTH, *version == Protocol::V5)
                .unwrap()
                .unwrap();
            assert_eq!(f.len(), bytes.len());
            let flags = f.flags();
            for n in 0..bytes.len() {
                assert_eq!(
                    decode_as(&bytes[..n], MAX_REMAINING_LENGTH, *version),
                    Ok(None)
                );
                for protocol in [Protocol::V311, Protocol::V5] {
                    decode_as_every_type(flags, &bytes[f.header_len.min(n)..n], protocol);
                }
            }
            for protocol in [Protocol::V311, Protocol::V5] {
                decode_framed(bytes, protocol);
                decode_as_every_type(flags, &bytes[f.header_len..], protocol);
            }
            // Each sample decodes in its own version.
            assert!(decode_as(bytes, MAX_REMAINING_LENGTH, *version).is_ok());
        }
    }
}
