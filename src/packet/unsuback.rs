//! UNSUBACK, MQTT 3.1.1 section 3.11 (a fixed header and a packet identifier) and MQTT 5.0 section 3.11
//! (properties and a reason code per topic filter follow).

use super::ack::{codes_len, read_codes, read_pkid_only, write_codes, write_pkid_only};
use super::{check_flags, debug_v5_when_set, DecodeError};
use crate::properties::{PacketTypes, Properties};

/// UNSUBACK: the broker's acknowledgement of an UNSUBSCRIBE, carrying its packet identifier (MQTT 3.1.1
/// section 3.11) and, in MQTT 5, a reason code per topic filter.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The packet identifier of the UNSUBSCRIBE being answered (never 0).
    pub pkid: u16,
    /// MQTT 5: one reason code per topic filter, in the UNSUBSCRIBE's order (0 success, 0x11 no subscription
    /// existed, 0x80 and up failures). Not sent in MQTT 3.1.1, and empty when decoded there.
    pub codes: Vec<u8>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(UnsubAck { pkid } { codes, properties });

impl Default for UnsubAck {
    /// Packet identifier 0 (to be set), no codes, no properties.
    fn default() -> Self {
        Self::new(0)
    }
}

impl UnsubAck {
    const PACKET_TYPE: u8 = PacketTypes::UNSUBACK as u8;

    /// An UNSUBACK for packet identifier `pkid` with no reason codes and no properties: the MQTT 3.1.1 kind.
    pub fn new(pkid: u16) -> Self {
        UnsubAck {
            pkid,
            codes: Vec::new(),
            properties: Properties::new(PacketTypes::UNSUBACK),
        }
    }

    /// Appends the whole MQTT 3.1.1 packet (fixed header, remaining length 2, packet identifier) to `out`; the
    /// codes and properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        write_pkid_only(out, Self::PACKET_TYPE << 4, self.pkid);
    }

    /// Decodes the body of an MQTT 3.1.1 UNSUBACK (`flags` must be 0): exactly a non-zero two-byte packet
    /// identifier.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        read_pkid_only(Self::PACKET_TYPE, body).map(UnsubAck::new)
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: always 2.
    pub fn remaining_length(&self) -> usize {
        2
    }

    /// Appends the whole MQTT 5 packet to `out`: packet identifier, properties, reason codes.
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        let header = Self::PACKET_TYPE << 4;
        write_codes(out, header, self.pkid, &self.properties, &self.codes, true);
    }

    /// Decodes an MQTT 5 UNSUBACK body (`flags` must be 0): a non-zero packet identifier, the properties and
    /// at least one reason code, passed on as received.
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let (pkid, properties, codes) = read_codes(
            PacketTypes::UNSUBACK,
            body,
            true,
            "UNSUBACK with no reason codes",
        )?;
        Ok(UnsubAck {
            pkid,
            codes: codes.to_vec(),
            properties,
        })
    }

    /// The length of the MQTT 5 body after the fixed header: packet identifier, properties and reason codes.
    pub fn remaining_length_v5(&self) -> usize {
        codes_len(&self.properties, &self.codes, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::Property;

    const BYTES: [u8; 4] = [
        0xb0, 0x02, // UNSUBACK (type 11, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    crate::packet::ack::ack_packet_tests!(UnsubAck, 11, 0b0000, BYTES);

    /// MQTT 5, with properties and a reason code per filter.
    const V5_CODES: [u8; 13] = [
        0xb0, 0x0b, // UNSUBACK (type 11, flags 0), remaining length 11
        0x12, 0x34, // packet identifier 0x1234
        0x06, // property length 6
        0x1f, 0x00, 0x03, b'g', b'o', b'n', // ReasonString "gon"
        0x00, // success
        0x11, // no subscription existed
    ];

    /// MQTT 5 without properties: the property length 0 is still there.
    const V5_BARE: [u8; 6] = [
        0xb0, 0x04, // UNSUBACK, remaining length 4
        0x12, 0x34, // packet identifier 0x1234
        0x00, // property length 0
        0x00, // success
    ];

    fn v5_cases() -> [(UnsubAck, &'static [u8]); 2] {
        let mut props = Properties::new(PacketTypes::UNSUBACK);
        props.set(Property::ReasonString("gon".into())).unwrap();
        [
            (
                UnsubAck {
                    pkid: 0x1234,
                    codes: vec![0x00, 0x11],
                    properties: props,
                },
                &V5_CODES,
            ),
            (
                UnsubAck {
                    codes: vec![0x00],
                    ..UnsubAck::new(0x1234)
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
                UnsubAck::encode_v5,
                UnsubAck::remaining_length_v5,
                UnsubAck::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_codes_and_properties_out() {
        let (p, _) = v5_cases().into_iter().next().expect("a case");
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, BYTES);
        assert_eq!(p.remaining_length(), 2);
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        let cases: [(&[u8], DecodeError); 4] = [
            (
                &[
                    0x12, 0x34, // packet identifier 0x1234, and nothing else
                ],
                DecodeError::Truncated { packet_type: 11 },
            ),
            (
                &[
                    0x12, 0x34, // packet identifier 0x1234
                    0x00, // property length 0, and no reason code
                ],
                DecodeError::Protocol("UNSUBACK with no reason codes"),
            ),
            (
                &[
                    0x00, 0x00, // packet identifier 0
                    0x00, // property length 0
                    0x00, // success
                ],
                DecodeError::ZeroPacketId,
            ),
            (
                &[
                    0x12, 0x34, // packet identifier 0x1234
                    0x02, 0x0b, 0x01, // property length 2: SubscriptionIdentifier 1
                    0x00, // success
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x0b,
                    packet_type: 11,
                },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(UnsubAck::decode_v5(0, body), Err(e), "{body:02x?}");
        }
        assert!(matches!(
            UnsubAck::decode_v5(2, &V5_BARE[2..]),
            Err(DecodeError::InvalidFlags { .. })
        ));
    }
}
