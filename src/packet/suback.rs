//! SUBACK, MQTT 3.1.1 and 5.0 section 3.9: the broker's answer to SUBSCRIBE.

use super::ack::{codes_len, read_codes, write_codes};
use super::{check_flags, debug_v5_when_set, DecodeError};
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
        self.encode_as(out, false);
    }

    /// Appends the whole MQTT 5 packet to `out`: packet identifier, properties, reason codes.
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        self.encode_as(out, true);
    }

    fn encode_as(&self, out: &mut Vec<u8>, v5: bool) {
        let header = Self::PACKET_TYPE << 4;
        write_codes(
            out,
            header,
            self.pkid,
            &self.properties,
            &self.return_codes,
            v5,
        );
    }

    /// Decodes an MQTT 3.1.1 SUBACK body (`flags` must be 0): a non-zero packet identifier and at least one
    /// return code, each 0, 1, 2 or `0x80`.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let p = Self::decode_as(flags, body, false)?;
        if !p
            .return_codes
            .iter()
            .all(|c| matches!(c, 0x00 | 0x01 | 0x02 | 0x80))
        {
            return Err(DecodeError::Protocol("invalid SUBACK return code"));
        }
        Ok(p)
    }

    /// Decodes an MQTT 5 SUBACK body (`flags` must be 0): a non-zero packet identifier, the properties and at
    /// least one reason code. The codes are passed on as received: MQTT 5 has many, and what one means is
    /// for the receiver to judge.
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, true)
    }

    fn decode_as(flags: u8, body: &[u8], v5: bool) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let (pkid, properties, codes) =
            read_codes(PacketTypes::SUBACK, body, v5, "SUBACK with no return codes")?;
        Ok(SubAck {
            pkid,
            return_codes: codes.to_vec(),
            properties,
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: packet identifier and return codes.
    pub fn remaining_length(&self) -> usize {
        codes_len(&self.properties, &self.return_codes, false)
    }

    /// The length of the MQTT 5 body after the fixed header: packet identifier, properties and reason codes.
    pub fn remaining_length_v5(&self) -> usize {
        codes_len(&self.properties, &self.return_codes, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, vbi_len, Packet};
    use crate::properties::{PacketTypes, Properties, Property};

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

    /// MQTT 5, with properties and reason codes MQTT 3.1.1 does not have.
    const V5_CODES: [u8; 14] = [
        0x90, 0x0c, // SUBACK (type 9, flags 0), remaining length 12
        0x00, 0x0a, // packet identifier 10
        0x06, // property length 6
        0x1f, 0x00, 0x03, b'q', b'u', b'o', // ReasonString "quo"
        0x01, // granted QoS 1
        0x87, // not authorized
        0x97, // quota exceeded
    ];

    /// MQTT 5 without properties: the property length 0 is still there.
    const V5_BARE: [u8; 6] = [
        0x90, 0x04, // SUBACK, remaining length 4
        0x00, 0x0a, // packet identifier 10
        0x00, // property length 0
        0x02, // granted QoS 2
    ];

    fn v5_cases() -> [(SubAck, &'static [u8]); 2] {
        let mut props = Properties::new(PacketTypes::SUBACK);
        props.set(Property::ReasonString("quo".into())).unwrap();
        [
            (
                SubAck {
                    pkid: 10,
                    return_codes: vec![0x01, 0x87, 0x97],
                    properties: props,
                },
                &V5_CODES,
            ),
            (
                SubAck {
                    pkid: 10,
                    return_codes: vec![0x02],
                    ..SubAck::default()
                },
                &V5_BARE,
            ),
        ]
    }

    #[test]
    fn mqtt5_encodes_and_decodes_the_spec_bytes() {
        for (p, bytes) in v5_cases() {
            crate::packet::assert_form(
                p,
                bytes,
                SubAck::encode_v5,
                SubAck::remaining_length_v5,
                SubAck::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_properties_out() {
        let (p, _) = v5_cases().into_iter().next().expect("a case");
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(
            out,
            [
                0x90, 0x05, // SUBACK, remaining length 5
                0x00, 0x0a, // packet identifier 10
                0x01, 0x87, 0x97, // the codes, as given
            ]
        );
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        let cases: [(&[u8], DecodeError); 3] = [
            (
                &[
                    0x00, 0x0a, // packet identifier 10
                    0x00, // property length 0, and no reason code
                ],
                DecodeError::Protocol("SUBACK with no return codes"),
            ),
            (
                &[
                    0x00, 0x00, // packet identifier 0
                    0x00, // property length 0
                    0x00, // granted QoS 0
                ],
                DecodeError::ZeroPacketId,
            ),
            (
                &[
                    0x00, 0x0a, // packet identifier 10
                    0x02, 0x01,
                    0x01, // property length 2: PayloadFormatIndicator, a PUBLISH property
                    0x00, // granted QoS 0
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x01,
                    packet_type: 9,
                },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(SubAck::decode_v5(0, body), Err(e), "{body:02x?}");
        }
        assert!(matches!(
            SubAck::decode_v5(1, &V5_BARE[2..]),
            Err(DecodeError::InvalidFlags { .. })
        ));
    }
}
