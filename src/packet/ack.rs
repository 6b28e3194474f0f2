//! The shape shared by PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a fixed header and a two-byte packet
//! identifier, nothing else.
//!
//! [`ack_packet!`] writes the struct and its `encode` / `decode` / `remaining_length` once; each packet's own
//! file invokes it and holds that packet's tests.

/// Defines a packet type whose whole body is a non-zero two-byte packet identifier.
///
/// `ack_packet!(/// docs, Name, packet_type, flags, "NAME")`: `packet_type` is the high nibble of the first
/// byte (1..=14), `flags` the low nibble the specification requires, `"NAME"` the name used in the
/// generated documentation.
macro_rules! ack_packet {
    ($(#[$meta:meta])* $name:ident, $packet_type:expr, $flags:expr, $label:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The packet identifier of the exchange this packet belongs to (never 0).
            pub pkid: u16,
        }

        impl $name {
            /// The packet type number in the high nibble of the first byte.
            const PACKET_TYPE: u8 = $packet_type;
            /// The fixed-header flags the specification requires.
            const FLAGS: u8 = $flags;

            #[doc = concat!(
                "Appends the whole ", $label, " packet (fixed header, remaining length 2, packet identifier) to `out`."
            )]
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.reserve(4);
                $crate::packet::write_fixed_header(out, (Self::PACKET_TYPE << 4) | Self::FLAGS, 2);
                out.extend_from_slice(&self.pkid.to_be_bytes());
            }

            #[doc = concat!(
                "Decodes the body of a ", $label, " packet whose fixed-header flags are `flags`. The body must be ",
                "exactly a non-zero two-byte packet identifier."
            )]
            pub fn decode(flags: u8, body: &[u8]) -> Result<Self, $crate::packet::DecodeError> {
                $crate::packet::check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
                let mut r = $crate::packet::Reader::new(Self::PACKET_TYPE, body);
                let pkid = r.u16()?;
                r.finish()?;
                if pkid == 0 {
                    return Err($crate::packet::DecodeError::ZeroPacketId);
                }
                Ok($name { pkid })
            }

            /// The length of the body after the fixed header: always 2.
            pub fn remaining_length(&self) -> usize {
                2
            }
        }
    };
}

pub(crate) use ack_packet;

/// The byte-level tests every ack-shaped packet gets: `ack_packet_tests!(Name, packet_type, flags, BYTES)`
/// where `BYTES` is the packet's annotated spec encoding with packet identifier 0x1234.
#[cfg(test)]
macro_rules! ack_packet_tests {
    ($name:ident, $packet_type:expr, $flags:expr, $bytes:expr) => {
        use crate::packet::{decode, DecodeError, Packet};

        #[test]
        fn encodes_to_the_spec_bytes() {
            let mut out = Vec::new();
            $name { pkid: 0x1234 }.encode(&mut out);
            assert_eq!(out, $bytes);
            assert_eq!($name { pkid: 0x1234 }.remaining_length(), 2);
        }

        #[test]
        fn encode_appends_to_what_is_already_there() {
            let mut out = vec![0xaa];
            $name { pkid: 1 }.encode(&mut out);
            assert_eq!(out, [0xaa, $bytes[0], 0x02, 0x00, 0x01]);
        }

        #[test]
        fn decodes_the_spec_bytes() {
            assert_eq!(
                $name::decode($flags, &$bytes[2..]),
                Ok($name { pkid: 0x1234 })
            );
            let (p, used) = decode(&$bytes, 1024).unwrap().unwrap();
            assert_eq!(p, Packet::$name($name { pkid: 0x1234 }));
            assert_eq!(used, 4);
        }

        #[test]
        fn round_trips_every_edge_identifier() {
            for pkid in [1, 0x00ff, 0x0100, 0x7fff, 0x8000, u16::MAX] {
                let p = $name { pkid };
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
