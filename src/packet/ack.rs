//! The shape shared by PUBACK, PUBREC, PUBREL and PUBCOMP: a fixed header and a two-byte packet identifier
//! (in MQTT 3.1.1, nothing else; in MQTT 5, a reason code and properties may follow).
//!
//! [`ack_packet!`] writes the struct and its methods once; each packet's own file invokes it and holds that
//! packet's tests.

/// Defines a packet type whose body is a non-zero two-byte packet identifier, with an MQTT 5 reason code
/// and properties.
///
/// `ack_packet!(/// docs, Name, PACKETTYPE, flags, "NAME")`: `PACKETTYPE` is the
/// [`PacketTypes`](crate::properties::PacketTypes) variant (its number is the high nibble of the first byte),
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
        }
    };
}

pub(crate) use ack_packet;

use super::{write_fixed_header, DecodeError, Reader};

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
