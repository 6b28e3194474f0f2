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
