//! The shapes several packets share.
//!
//! - PUBACK, PUBREC, PUBREL and PUBCOMP: a fixed header and a two-byte packet identifier (in MQTT 3.1.1,
//!   nothing else; in MQTT 5, a reason code and properties may follow). [`ack_packet!`] writes the struct
//!   and its methods once; each packet's own file invokes it and holds that packet's tests. UNSUBACK has the
//!   same MQTT 3.1.1 body ([`write_pkid_only`], [`read_pkid_only`]).
//! - DISCONNECT and AUTH in MQTT 5: a reason code and properties, nothing else ([`reason_packet!`]).
//! - SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK: a packet identifier and, in MQTT 5, properties first
//!   ([`write_pkid_and_properties`], [`read_pkid_and_properties`]); SUBACK and the MQTT 5 UNSUBACK then
//!   end in one code or more ([`write_codes`], [`read_codes`]).
//!
//! Both MQTT 5 shapes end in the same "reason tail", each part left out when it and what follows are
//! empty ([`write_reason_tail`], [`read_reason_tail`]).

/// Defines a packet type whose body is a non-zero two-byte packet identifier, with an MQTT 5 reason code
/// and properties.
///
/// `ack_packet!(/// docs, Name, PACKETTYPE, flags, "NAME")`: `PACKETTYPE` is the
/// [`PacketTypes`] variant (its number is the high nibble of the first byte),
/// `flags` the low nibble the specification requires, `"NAME"` the name used in the generated documentation.
macro_rules! ack_packet {
    ($(#[$meta:meta])* $name:ident, $packet_type:ident, $flags:expr, $label:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            /// The packet identifier of the exchange this packet belongs to (never 0).
            pub pkid: u16,
            /// MQTT 5: the reason code (0 success). Not sent in MQTT 3.1.1, and 0 when decoded there.
            pub reason: u8,
            /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
            pub properties: $crate::properties::Properties,
        }

        $crate::packet::debug_v5_when_set!($name { pkid } { reason, properties });

        impl Default for $name {
            /// Packet identifier 0 (to be set), reason 0, no properties.
            fn default() -> Self {
                Self::new(0)
            }
        }

        impl $name {
            /// The packet type number in the high nibble of the first byte.
            const PACKET_TYPE: u8 = $crate::properties::PacketTypes::$packet_type as u8;
            /// The fixed-header flags the specification requires.
            const FLAGS: u8 = $flags;

            #[doc = concat!(
                "A ", $label, " for packet identifier `pkid`, with reason 0 (success) and no properties: ",
                "the only kind MQTT 3.1.1 has."
            )]
            pub fn new(pkid: u16) -> Self {
                $name {
                    pkid,
                    reason: 0,
                    properties: $crate::properties::Properties::new(
                        $crate::properties::PacketTypes::$packet_type,
                    ),
                }
            }

            #[doc = concat!(
                "Appends the whole MQTT 3.1.1 ", $label, " packet (fixed header, remaining length 2, packet ",
                "identifier) to `out`; the reason code and properties are not sent."
            )]
            pub fn encode(&self, out: &mut Vec<u8>) {
                $crate::packet::ack::write_pkid_only(out, (Self::PACKET_TYPE << 4) | Self::FLAGS, self.pkid);
            }

            #[doc = concat!(
                "Decodes the body of an MQTT 3.1.1 ", $label, " packet whose fixed-header flags are `flags`. The body must be ",
                "exactly a non-zero two-byte packet identifier."
            )]
            pub fn decode(flags: u8, body: &[u8]) -> Result<Self, $crate::packet::DecodeError> {
                $crate::packet::check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
                $crate::packet::ack::read_pkid_only(Self::PACKET_TYPE, body).map($name::new)
            }

            /// The length of the MQTT 3.1.1 body after the fixed header: always 2.
            pub fn remaining_length(&self) -> usize {
                2
            }

            #[doc = concat!(
                "Appends the whole MQTT 5 ", $label, " packet to `out`, as short as the fields allow: the ",
                "packet identifier alone for reason 0 without properties, with the reason code when there are ",
                "no properties, else the reason code and properties."
            )]
            pub fn encode_v5(&self, out: &mut Vec<u8>) {
                $crate::packet::ack::write_ack_v5(
                    out,
                    (Self::PACKET_TYPE << 4) | Self::FLAGS,
                    self.pkid,
                    self.reason,
                    &self.properties,
                );
            }

            #[doc = concat!(
                "Decodes the body of an MQTT 5 ", $label, " packet whose fixed-header flags are `flags`: a ",
                "non-zero packet identifier, then (when the body goes on) the reason code, then (when it goes ",
                "on again) the properties."
            )]
            pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, $crate::packet::DecodeError> {
                $crate::packet::check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
                let (pkid, reason, properties) = $crate::packet::ack::read_ack_v5(
                    $crate::properties::PacketTypes::$packet_type,
                    body,
                )?;
                Ok($name { pkid, reason, properties })
            }

            /// The length of the MQTT 5 body after the fixed header: 2, 3, or more with properties.
            pub fn remaining_length_v5(&self) -> usize {
                2 + $crate::packet::ack::reason_tail_len(self.reason, &self.properties)
            }
        }
    };
}

pub(crate) use ack_packet;

/// Defines an MQTT 5 packet type whose body is a reason code and properties (DISCONNECT, AUTH), both
/// left out when the reason is 0 and there are no properties.
///
/// `reason_packet!(/// docs, Name, PACKETTYPE, "NAME", "reason docs", "properties docs")`: `PACKETTYPE` is
/// the [`PacketTypes`] variant, `"NAME"` the name used in the generated
/// documentation, the last two the documentation of the `reason` and `properties` fields. The fixed-header
/// flags are 0.
macro_rules! reason_packet {
    (
        $(#[$meta:meta])* $name:ident, $packet_type:ident, $label:expr, $reason_doc:expr, $properties_doc:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            #[doc = $reason_doc]
            pub reason: u8,
            #[doc = $properties_doc]
            pub properties: $crate::properties::Properties,
        }

        $crate::packet::debug_v5_when_set!($name {} { reason, properties });

        impl Default for $name {
            /// Reason 0, no properties.
            fn default() -> Self {
                $name {
                    reason: 0,
                    properties: $crate::properties::Properties::new(
                        $crate::properties::PacketTypes::$packet_type,
                    ),
                }
            }
        }

        impl $name {
            /// The packet type number in the high nibble of the first byte.
            const PACKET_TYPE: u8 = $crate::properties::PacketTypes::$packet_type as u8;

            #[doc = concat!(
                "Appends the whole MQTT 5 ", $label, " packet to `out`, as short as the fields allow: an empty ",
                "body for reason 0 without properties, the reason code alone when there are no properties, ",
                "else the reason code and properties."
            )]
            pub fn encode_v5(&self, out: &mut Vec<u8>) {
                let remaining = self.remaining_length_v5();
                $crate::packet::begin_packet(out, Self::PACKET_TYPE << 4, remaining);
                $crate::packet::ack::write_reason_tail(out, self.reason, &self.properties);
            }

            #[doc = concat!(
                "Decodes the body of an MQTT 5 ", $label, " packet (`flags` must be 0): empty (reason 0), ",
                "the reason code alone, or the reason code and properties."
            )]
            pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, $crate::packet::DecodeError> {
                $crate::packet::check_flags(Self::PACKET_TYPE, flags, 0)?;
                let mut r = $crate::packet::Reader::new(Self::PACKET_TYPE, body);
                let (reason, properties) = $crate::packet::ack::read_reason_tail(
                    &mut r,
                    $crate::properties::PacketTypes::$packet_type,
                )?;
                Ok($name { reason, properties })
            }

            /// The length of the MQTT 5 body after the fixed header: 0, 1, or more with properties.
            pub fn remaining_length_v5(&self) -> usize {
                $crate::packet::ack::reason_tail_len(self.reason, &self.properties)
            }
        }
    };
}

pub(crate) use reason_packet;

use super::{begin_packet, properties, write_fixed_header, DecodeError, Reader};
use crate::properties::{PacketTypes, Properties};

/// Appends a packet whose whole body is `pkid`: every MQTT 3.1.1 ack (UNSUBACK included), and an MQTT 5 one
/// with reason 0 and no properties.
pub(crate) fn write_pkid_only(out: &mut Vec<u8>, header: u8, pkid: u16) {
    out.reserve(4);
    write_fixed_header(out, header, 2);
    out.extend_from_slice(&pkid.to_be_bytes());
}

/// Reads a body that must be exactly a non-zero packet identifier (an MQTT 3.1.1 ack's).
pub(crate) fn read_pkid_only(packet_type: u8, body: &[u8]) -> Result<u16, DecodeError> {
    let mut r = Reader::new(packet_type, body);
    let pkid = r.u16()?;
    r.finish()?;
    if pkid == 0 {
        return Err(DecodeError::ZeroPacketId);
    }
    Ok(pkid)
}

/// Appends an MQTT 5 ack: `pkid`, then the reason tail.
pub(crate) fn write_ack_v5(
    out: &mut Vec<u8>,
    header: u8,
    pkid: u16,
    reason: u8,
    properties: &Properties,
) {
    begin_packet(out, header, 2 + reason_tail_len(reason, properties));
    out.extend_from_slice(&pkid.to_be_bytes());
    write_reason_tail(out, reason, properties);
}

/// Reads an MQTT 5 ack body: a non-zero packet identifier and the reason tail.
pub(crate) fn read_ack_v5(
    packet_type: PacketTypes,
    body: &[u8],
) -> Result<(u16, u8, Properties), DecodeError> {
    let mut r = Reader::new(packet_type as u8, body);
    let pkid = r.u16()?;
    if pkid == 0 {
        return Err(DecodeError::ZeroPacketId);
    }
    let (reason, properties) = read_reason_tail(&mut r, packet_type)?;
    Ok((pkid, reason, properties))
}

/// The length [`write_reason_tail`] appends: nothing for reason 0 without properties, the reason code
/// alone without properties, else the reason code and the property block.
pub(crate) fn reason_tail_len(reason: u8, props: &Properties) -> usize {
    if !props.is_empty() {
        1 + properties::wire_len(props)
    } else {
        usize::from(reason != 0)
    }
}

/// Appends the reason code and properties that end an MQTT 5 ack, DISCONNECT or AUTH, leaving out what
/// MQTT 5.0 sections 3.4.2.1, 3.14.2.1 and 3.15.2.1 allow: the property length when there are no
/// properties, and then the reason code too when it is 0.
pub(crate) fn write_reason_tail(out: &mut Vec<u8>, reason: u8, props: &Properties) {
    if !props.is_empty() {
        out.push(reason);
        properties::encode(props, out);
    } else if reason != 0 {
        out.push(reason);
    }
}

/// Reads the reason tail at `r`'s position to the end of the body: a reason code if any byte is left (0
/// otherwise), then properties if any byte is still left (none otherwise).
pub(crate) fn read_reason_tail(
    r: &mut Reader,
    packet_type: PacketTypes,
) -> Result<(u8, Properties), DecodeError> {
    let reason = if r.remaining() == 0 { 0 } else { r.u8()? };
    let props = if r.remaining() == 0 {
        Properties::new(packet_type)
    } else {
        properties::decode(r, packet_type)?
    };
    r.finish()?;
    Ok((reason, props))
}

/// Appends what SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK begin with: the packet identifier, then in
/// MQTT 5 the properties.
pub(crate) fn write_pkid_and_properties(
    out: &mut Vec<u8>,
    pkid: u16,
    props: &Properties,
    v5: bool,
) {
    out.extend_from_slice(&pkid.to_be_bytes());
    if v5 {
        properties::encode(props, out);
    }
}

/// The length [`write_pkid_and_properties`] appends.
pub(crate) fn pkid_and_properties_len(props: &Properties, v5: bool) -> usize {
    2 + if v5 { properties::wire_len(props) } else { 0 }
}

/// Reads what SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK begin with: a non-zero packet identifier, then
/// in MQTT 5 the properties (an empty set before MQTT 5).
pub(crate) fn read_pkid_and_properties(
    r: &mut Reader,
    packet_type: PacketTypes,
    v5: bool,
) -> Result<(u16, Properties), DecodeError> {
    let pkid = r.u16()?;
    if pkid == 0 {
        return Err(DecodeError::ZeroPacketId);
    }
    let props = properties::decode_if(v5, r, packet_type)?;
    Ok((pkid, props))
}

/// Reads a SUBACK body, or an MQTT 5 UNSUBACK body: the packet identifier and properties, then one code or
/// more, which are the rest of the body (`none` is the error when there is none).
pub(crate) fn read_codes<'a>(
    packet_type: PacketTypes,
    body: &'a [u8],
    v5: bool,
    none: &'static str,
) -> Result<(u16, Properties, &'a [u8]), DecodeError> {
    let mut r = Reader::new(packet_type as u8, body);
    let (pkid, props) = read_pkid_and_properties(&mut r, packet_type, v5)?;
    let codes = r.rest();
    if codes.is_empty() {
        return Err(DecodeError::Protocol(none));
    }
    Ok((pkid, props, codes))
}

/// Appends a whole SUBACK, or an MQTT 5 UNSUBACK: what [`read_codes`] reads.
pub(crate) fn write_codes(
    out: &mut Vec<u8>,
    header: u8,
    pkid: u16,
    props: &Properties,
    codes: &[u8],
    v5: bool,
) {
    begin_packet(out, header, codes_len(props, codes, v5));
    write_pkid_and_properties(out, pkid, props, v5);
    out.extend_from_slice(codes);
}

/// The remaining length [`write_codes`] writes.
pub(crate) fn codes_len(props: &Properties, codes: &[u8], v5: bool) -> usize {
    pkid_and_properties_len(props, v5) + codes.len()
}

/// The byte-level tests every ack-shaped packet gets: `ack_packet_tests!(Name, packet_type, flags, BYTES)`
/// where `BYTES` is the packet's annotated spec encoding with packet identifier 0x1234.
#[cfg(test)]
macro_rules! ack_packet_tests {
    ($name:ident, $packet_type:expr, $flags:expr, $bytes:expr) => {
        use crate::packet::{decode, DecodeError, Packet};

        #[test]
        fn encodes_to_the_spec_bytes() {
            let mut out = Vec::new();
            $name::new(0x1234).encode(&mut out);
            assert_eq!(out, $bytes);
            assert_eq!($name::new(0x1234).remaining_length(), 2);
        }

        #[test]
        fn encode_appends_to_what_is_already_there() {
            let mut out = vec![0xaa];
            $name::new(1).encode(&mut out);
            assert_eq!(out, [0xaa, $bytes[0], 0x02, 0x00, 0x01]);
        }

        #[test]
        fn decodes_the_spec_bytes() {
            assert_eq!($name::decode($flags, &$bytes[2..]), Ok($name::new(0x1234)));
            let (p, used) = decode(&$bytes, 1024).unwrap().unwrap();
            assert_eq!(p, Packet::$name($name::new(0x1234)));
            assert_eq!(used, 4);
        }

        #[test]
        fn round_trips_every_edge_identifier() {
            for pkid in [1, 0x00ff, 0x0100, 0x7fff, 0x8000, u16::MAX] {
                let p = $name::new(pkid);
                let mut out = Vec::new();
                p.encode(&mut out);
                assert_eq!(out.len(), 2 + p.remaining_length());
                assert_eq!($name::decode(out[0] & 0x0f, &out[2..]), Ok(p));
            }
        }

        #[test]
        fn rejects_every_other_flag_value() {
            for flags in (0u8..16).filter(|&f| f != $flags) {
                assert_eq!(
                    $name::decode(flags, &$bytes[2..]),
                    Err(DecodeError::InvalidFlags {
                        packet_type: $packet_type,
                        flags
                    })
                );
            }
        }

        #[test]
        fn rejects_a_truncated_body() {
            for n in 0..2 {
                assert_eq!(
                    $name::decode($flags, &$bytes[2..2 + n]),
                    Err(DecodeError::Truncated {
                        packet_type: $packet_type
                    })
                );
            }
        }

        #[test]
        fn rejects_trailing_bytes() {
            let body = [
                0x12, 0x34, // packet identifier
                0x00, // one byte too many
            ];
            assert_eq!(
                $name::decode($flags, &body),
                Err(DecodeError::TrailingBytes {
                    packet_type: $packet_type
                })
            );
        }

        #[test]
        fn rejects_packet_identifier_zero() {
            let body = [
                0x00, 0x00, // packet identifier 0
            ];
            assert_eq!($name::decode($flags, &body), Err(DecodeError::ZeroPacketId));
        }
    };
}

#[cfg(test)]
pub(crate) use ack_packet_tests;

/// The byte-level tests of the MQTT 5 forms every ack gets: `ack_packet_v5_tests!(Name, packet_type,
/// flags, BYTES, V5_REASON, V5_PROPERTIES)` where, with packet identifier 0x1234, `BYTES` is the shortest
/// form (reason 0, no properties, as in 3.1.1), `V5_REASON` the form with a non-zero reason code and no
/// properties, and `V5_PROPERTIES` that reason code with the property ReasonString "busy".
#[cfg(test)]
macro_rules! ack_packet_v5_tests {
    ($name:ident, $packet_type:expr, $flags:expr, $bytes:expr, $v5_reason:expr, $v5_properties:expr) => {
        /// The packet of `V5_REASON` (reason `reason` instead), with ReasonString "busy" if `busy`.
        fn v5_packet(reason: u8, busy: bool) -> $name {
            let mut p = $name::new(0x1234);
            p.reason = reason;
            if busy {
                p.properties
                    .set(crate::properties::Property::ReasonString("busy".into()))
                    .unwrap();
            }
            p
        }

        #[test]
        fn encodes_and_decodes_the_three_mqtt5_forms() {
            let reason = $v5_reason[4];
            for (p, bytes) in [
                ($name::new(0x1234), &$bytes[..]),
                (v5_packet(reason, false), &$v5_reason[..]),
                (v5_packet(reason, true), &$v5_properties[..]),
            ] {
                crate::packet::assert_form(
                    p,
                    bytes,
                    $name::encode_v5,
                    $name::remaining_length_v5,
                    $name::decode_v5,
                );
            }
        }

        #[test]
        fn mqtt5_reason_zero_with_properties_is_sent_with_its_reason_byte() {
            let p = v5_packet(0, true);
            let mut out = Vec::new();
            p.encode_v5(&mut out);
            let mut expected = $v5_properties.to_vec();
            expected[4] = 0x00; // reason 0: success
            assert_eq!(out, expected);
            assert_eq!($name::decode_v5($flags, &out[2..]), Ok(p));
        }

        #[test]
        fn mqtt5_decodes_a_reason_with_an_empty_property_block() {
            let body = [
                0x12,
                0x34,          // packet identifier 0x1234
                $v5_reason[4], // reason code
                0x00,          // property length 0
            ];
            assert_eq!(
                $name::decode_v5($flags, &body),
                Ok(v5_packet($v5_reason[4], false))
            );
        }

        #[test]
        fn mqtt5_rejects_what_it_must() {
            let cases: [(&[u8], DecodeError); 5] = [
                (
                    &[0x12], // half a packet identifier
                    DecodeError::Truncated {
                        packet_type: $packet_type,
                    },
                ),
                (
                    &[0x00, 0x00], // packet identifier 0
                    DecodeError::ZeroPacketId,
                ),
                (
                    &[
                        0x12, 0x34, // packet identifier
                        0x00, // reason code 0
                        0x05, 0x1f, // property length 5, one byte of it present
                    ],
                    DecodeError::PropertiesTooLong {
                        packet_type: $packet_type,
                        declared: 5,
                        left: 1,
                    },
                ),
                (
                    &[
                        0x12, 0x34, // packet identifier
                        0x00, // reason code 0
                        0x03, 0x23, 0x00,
                        0x01, // property length 3: TopicAlias 1, a PUBLISH property
                    ],
                    DecodeError::PropertyNotAllowed {
                        id: 0x23,
                        packet_type: $packet_type,
                    },
                ),
                (
                    &[
                        0x12, 0x34, // packet identifier
                        0x00, // reason code 0
                        0x00, // property length 0
                        0xff, // one byte too many
                    ],
                    DecodeError::TrailingBytes {
                        packet_type: $packet_type,
                    },
                ),
            ];
            for (body, e) in cases {
                assert_eq!($name::decode_v5($flags, body), Err(e), "{body:02x?}");
            }
            for flags in (0u8..16).filter(|&f| f != $flags) {
                assert_eq!(
                    $name::decode_v5(flags, &$bytes[2..]),
                    Err(DecodeError::InvalidFlags {
                        packet_type: $packet_type,
                        flags
                    })
                );
            }
        }
    };
}

#[cfg(test)]
pub(crate) use ack_packet_v5_tests;
