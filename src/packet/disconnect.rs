//! DISCONNECT, MQTT 3.1.1 section 3.14: a fixed header with remaining length 0.

use super::{check_flags, debug_v5_when_set, DecodeError, Reader};
use crate::properties::{PacketTypes, Properties};

/// DISCONNECT: the last packet a client sends before closing the connection cleanly; the broker then
/// discards the will message. In MQTT 5 either side sends it, with a reason code and properties.
#[derive(Clone, PartialEq, Eq)]
pub struct Disconnect {
    /// MQTT 5: the reason code (0 normal disconnection; 4 disconnect with will message; 0x80 and up errors).
    /// Not sent in MQTT 3.1.1, and 0 when decoded there.
    pub reason: u8,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(Disconnect {} { reason, properties });

impl Default for Disconnect {
    /// Reason 0 (normal disconnection), no properties: the only DISCONNECT of MQTT 3.1.1.
    fn default() -> Self {
        Disconnect {
            reason: 0,
            properties: Properties::new(PacketTypes::DISCONNECT),
        }
    }
}

impl Disconnect {
    const PACKET_TYPE: u8 = PacketTypes::DISCONNECT as u8;

    /// Appends the two bytes of the MQTT 3.1.1 packet (`0xe0 0x00`) to `out`; the reason code and properties
    /// are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[Self::PACKET_TYPE << 4, 0x00]);
    }

    /// Decodes an MQTT 3.1.1 DISCONNECT body: `flags` must be 0 and `body` empty.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        Reader::new(Self::PACKET_TYPE, body).finish()?;
        Ok(Disconnect::default())
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: always 0.
    pub fn remaining_length(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};

    const BYTES: [u8; 2] = [
        0xe0, 0x00, // DISCONNECT (type 14, flags 0), remaining length 0
    ];

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = vec![0xaa];
        Disconnect::default().encode(&mut out);
        assert_eq!(out, [0xaa, BYTES[0], BYTES[1]]);
        assert_eq!(Disconnect::default().remaining_length(), 0);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(Disconnect::decode(0, &[]), Ok(Disconnect::default()));
        assert_eq!(
            decode(&BYTES, 1024),
            Ok(Some((Packet::Disconnect(Disconnect::default()), 2)))
        );
    }

    #[test]
    fn round_trips() {
        let mut out = Vec::new();
        Disconnect::default().encode(&mut out);
        assert_eq!(
            Disconnect::decode(out[0] & 0x0f, &out[2..]),
            Ok(Disconnect::default())
        );
    }

    #[test]
    fn rejects_every_nonzero_flag_value() {
        for flags in 1..16 {
            assert_eq!(
                Disconnect::decode(flags, &[]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 14,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_a_body() {
        for body in [&[0x00][..], &[0x00, 0x00], &[0xff; 5]] {
            assert_eq!(
                Disconnect::decode(0, body),
                Err(DecodeError::TrailingBytes { packet_type: 14 })
            );
        }
        // Through the framer: a length other than 0 is rejected from the fixed header.
        let bytes = [
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x00, // unexpected body
        ];
        assert_eq!(
            decode(&bytes, 1024),
            Err(DecodeError::InvalidRemainingLength {
                packet_type: 14,
                declared: 1
            })
        );
    }
}
