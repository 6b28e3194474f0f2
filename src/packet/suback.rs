//! SUBACK, MQTT 3.1.1 section 3.9: the broker's answer to SUBSCRIBE.

use super::{check_flags, debug_v5_when_set, vbi_len, write_fixed_header, DecodeError, Reader};
use crate::properties::{PacketTypes, Properties};

/// SUBACK: the broker's answer to SUBSCRIBE, with one return code per requested filter: the QoS granted
/// (0, 1 or 2) or `0x80` for failure (in MQTT 5, a reason code: `0x80` and up are failures).
#[derive(Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The packet identifier of the SUBSCRIBE being answered (never 0).
    pub pkid: u16,
    /// One return code per filter, in the SUBSCRIBE's order: 0, 1, 2 (granted QoS) or `0x80` (failure); in
    /// MQTT 5 a reason code, passed on as received.
    pub return_codes: Vec<u8>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(SubAck { pkid, return_codes } { properties });

impl Default for SubAck {
    /// Packet identifier 0 (to be set), no codes (one per filter is to be added), no properties.
    fn default() -> Self {
        SubAck {
            pkid: 0,
            return_codes: Vec::new(),
            properties: Properties::new(PacketTypes::SUBACK),
        }
    }
}

impl SubAck {
    const PACKET_TYPE: u8 = PacketTypes::SUBACK as u8;

    /// Appends the whole MQTT 3.1.1 packet (fixed header `0x90`) to `out`; the properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let remaining = self.remaining_length();
        out.reserve(1 + vbi_len(remaining) + remaining);
        write_fixed_header(out, Self::PACKET_TYPE << 4, remaining);
        out.extend_from_slice(&self.pkid.to_be_bytes());
        out.extend_from_slice(&self.return_codes);
    }

    /// Decodes an MQTT 3.1.1 SUBACK body (`flags` must be 0): a non-zero packet identifier and at least one return code,
    /// each 0, 1, 2 or `0x80`.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let pkid = r.u16()?;
        if pkid == 0 {
            return Err(DecodeError::ZeroPacketId);
        }
        let return_codes = r.rest();
        if return_codes.is_empty() {
            return Err(DecodeError::Protocol("SUBACK with no return codes"));
        }
        if !return_codes
            .iter()
            .all(|c| matches!(c, 0x00 | 0x01 | 0x02 | 0x80))
        {
            return Err(DecodeError::Protocol("invalid SUBACK return code"));
        }
        Ok(SubAck {
            pkid,
            return_codes: return_codes.to_vec(),
            ..SubAck::default()
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: packet identifier and return codes.
    pub fn remaining_length(&self) -> usize {
        2 + self.return_codes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};

    const FOUR_CODES: [u8; 8] = [
        0x90, 0x06, // SUBACK (type 9, flags 0), remaining length 6
        0x00, 0x0a, // packet identifier 10
        0x00, // granted QoS 0
        0x01, // granted QoS 1
        0x02, // granted QoS 2
        0x80, // failure
    ];

    fn four_codes() -> SubAck {
        SubAck {
            pkid: 10,
            return_codes: vec![0x00, 0x01, 0x02, 0x80],
            ..SubAck::default()
        }
    }

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = vec![0xaa];
        four_codes().encode(&mut out);
        assert_eq!(&out[1..], FOUR_CODES);
        assert_eq!(four_codes().remaining_length(), 6);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(SubAck::decode(0, &FOUR_CODES[2..]), Ok(four_codes()));
        assert_eq!(
            decode(&FOUR_CODES, 1024),
            Ok(Some((Packet::SubAck(four_codes()), FOUR_CODES.len())))
        );
    }

    #[test]
    fn round_trips_one_and_many_codes() {
        for return_codes in [vec![0x01], vec![0x80; 200]] {
            let p = SubAck {
                pkid: 0xfedc,
                return_codes,
                ..SubAck::default()
            };
            let mut out = Vec::new();
            p.encode(&mut out);
            assert_eq!(
                out.len(),
                1 + vbi_len(p.remaining_length()) + p.remaining_length()
            );
            assert_eq!(decode(&out, 1024), Ok(Some((Packet::SubAck(p), out.len()))));
        }
    }

    #[test]
    fn rejects_every_nonzero_flag_value() {
        for flags in 1..16 {
            assert_eq!(
                SubAck::decode(flags, &FOUR_CODES[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 9,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_invalid_return_codes() {
        for code in (0..=255u8).filter(|c| !matches!(c, 0 | 1 | 2 | 0x80)) {
            let body = [
                0x00, 0x01, // packet identifier 1
                0x00, // a valid code
                code, // an invalid one
            ];
            assert_eq!(
                SubAck::decode(0, &body),
                Err(DecodeError::Protocol("invalid SUBACK return code")),
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn rejects_no_return_codes() {
        let body = [
            0x00, 0x01, // packet identifier 1, and nothing else
        ];
        assert_eq!(
            SubAck::decode(0, &body),
            Err(DecodeError::Protocol("SUBACK with no return codes"))
        );
    }

    #[test]
    fn rejects_packet_identifier_zero() {
        let body = [
            0x00, 0x00, // packet identifier 0
            0x00, // granted QoS 0
        ];
        assert_eq!(SubAck::decode(0, &body), Err(DecodeError::ZeroPacketId));
    }

    #[test]
    fn a_cut_body_is_truncated_or_has_fewer_codes() {
        let body = &FOUR_CODES[2..];
        for n in 0..2 {
            assert_eq!(
                SubAck::decode(0, &body[..n]),
                Err(DecodeError::Truncated { packet_type: 9 })
            );
        }
        assert!(matches!(
            SubAck::decode(0, &body[..2]),
            Err(DecodeError::Protocol(_))
        ));
        for n in 3..body.len() {
            assert_eq!(
                SubAck::decode(0, &body[..n]),
                Ok(SubAck {
                    pkid: 10,
                    return_codes: body[2..n].to_vec(),
                    ..SubAck::default()
                })
            );
        }
    }
}
