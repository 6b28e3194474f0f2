//! DISCONNECT, MQTT 3.1.1 section 3.14 (a fixed header with remaining length 0) and MQTT 5.0 section 3.14
//! (a reason code and properties, both left out when empty).

use super::{check_flags, DecodeError, Reader};

super::ack::reason_packet! {
    /// DISCONNECT: the last packet a client sends before closing the connection cleanly; the broker then
    /// discards the will message. In MQTT 5 either side sends it, with a reason code and properties.
    Disconnect,
    DISCONNECT,
    "DISCONNECT",
    "The reason code (0 normal disconnection, 4 disconnect with will message, 0x80 and up errors). MQTT 5 \
     only: not sent in MQTT 3.1.1, and 0 when decoded there.",
    "The properties. MQTT 5 only: not sent in MQTT 3.1.1, and empty when decoded there."
}

impl Disconnect {
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
    use crate::properties::{PacketTypes, Properties, Property};

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

    /// MQTT 5 with reason 0 and no properties: the same two bytes as 3.1.1.
    const V5_MINIMAL: [u8; 2] = [
        0xe0,
        0x00, // DISCONNECT (type 14, flags 0), remaining length 0: reason 0, no properties
    ];

    /// MQTT 5 with a reason code and no properties.
    const V5_REASON: [u8; 3] = [
        0xe0, 0x01, // DISCONNECT, remaining length 1
        0x04, // reason code 4: disconnect with will message
    ];

    /// MQTT 5 with a reason code and properties.
    const V5_PROPERTIES: [u8; 16] = [
        0xe0, 0x0e, // DISCONNECT, remaining length 14
        0x8b, // reason code 0x8b: server shutting down
        0x0c, // property length 12
        0x11, 0x00, 0x00, 0x00, 0x00, // SessionExpiryInterval 0
        0x1f, 0x00, 0x04, b'b', b'y', b'e', b'!', // ReasonString "bye!"
    ];

    fn v5_cases() -> [(Disconnect, &'static [u8]); 3] {
        let mut props = Properties::new(PacketTypes::DISCONNECT);
        props.set(Property::SessionExpiryInterval(0)).unwrap();
        props.set(Property::ReasonString("bye!".into())).unwrap();
        [
            (Disconnect::default(), &V5_MINIMAL),
            (
                Disconnect {
                    reason: 4,
                    ..Disconnect::default()
                },
                &V5_REASON,
            ),
            (
                Disconnect {
                    reason: 0x8b,
                    properties: props,
                },
                &V5_PROPERTIES,
            ),
        ]
    }

    #[test]
    fn encodes_and_decodes_the_three_mqtt5_forms() {
        for (p, bytes) in v5_cases() {
            crate::packet::assert_form(
                p,
                bytes,
                Disconnect::encode_v5,
                Disconnect::remaining_length_v5,
                Disconnect::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt5_decodes_a_reason_with_an_empty_property_block() {
        let body = [
            0x04, // reason code 4
            0x00, // property length 0
        ];
        assert_eq!(
            Disconnect::decode_v5(0, &body),
            Ok(Disconnect {
                reason: 4,
                ..Disconnect::default()
            })
        );
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        for flags in 1..16 {
            assert_eq!(
                Disconnect::decode_v5(flags, &[]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 14,
                    flags
                })
            );
        }
        let cases: [(&[u8], DecodeError); 3] = [
            (
                &[
                    0x00, // reason code 0
                    0x02, 0x23, 0x00, // property length 2: a TopicAlias cut short
                ],
                DecodeError::PropertyTruncated {
                    packet_type: 14,
                    id: Some(0x23),
                },
            ),
            (
                &[
                    0x00, // reason code 0
                    0x02, 0x24, 0x01, // property length 2: MaximumQoS 1, a CONNACK property
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x24,
                    packet_type: 14,
                },
            ),
            (
                &[
                    0x00, // reason code 0
                    0x00, // property length 0
                    0x00, // one byte too many
                ],
                DecodeError::TrailingBytes { packet_type: 14 },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(Disconnect::decode_v5(0, body), Err(e), "{body:02x?}");
        }
    }
}
