//! AUTH, MQTT 5.0 section 3.15: a step of enhanced authentication. MQTT 5 only: MQTT 3.1.1 has no packet
//! type 15, and its framer refuses one.

super::ack::reason_packet! {
    /// AUTH: a step of an enhanced authentication exchange, in either direction, after CONNECT names an
    /// `AuthenticationMethod` (MQTT 5 only). Like DISCONNECT, its body is a reason code and properties, both
    /// left out when empty.
    Auth,
    AUTH,
    "AUTH",
    "The reason code: 0 success, 0x18 continue authentication, 0x19 re-authenticate.",
    "The properties: `AuthenticationMethod`, `AuthenticationData`, `ReasonString`, `UserProperty`."
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{assert_form, decode, decode_v5, DecodeError, Packet};
    use crate::properties::{PacketTypes, Properties, Property};

    /// Reason 0 and no properties: an empty body.
    const MINIMAL: [u8; 2] = [
        0xf0,
        0x00, // AUTH (type 15, flags 0), remaining length 0: reason 0 (success), no properties
    ];

    /// A reason code and no properties.
    const REASON: [u8; 3] = [
        0xf0, 0x01, // AUTH, remaining length 1
        0x19, // reason code 0x19: re-authenticate
    ];

    /// A reason code and properties: a step of a SCRAM exchange.
    const CONTINUE: [u8; 17] = [
        0xf0, 0x0f, // AUTH, remaining length 15
        0x18, // reason code 0x18: continue authentication
        0x0d, // property length 13
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // AuthenticationMethod "SCRAM"
        0x16, 0x00, 0x02, 0xab, 0xcd, // AuthenticationData [0xab, 0xcd]
    ];

    fn cases() -> [(Auth, &'static [u8]); 3] {
        let mut props = Properties::new(PacketTypes::AUTH);
        props
            .set(Property::AuthenticationMethod("SCRAM".into()))
            .unwrap();
        props
            .set(Property::AuthenticationData(vec![0xab, 0xcd]))
            .unwrap();
        [
            (Auth::default(), &MINIMAL),
            (
                Auth {
                    reason: 0x19,
                    ..Auth::default()
                },
                &REASON,
            ),
            (
                Auth {
                    reason: 0x18,
                    properties: props,
                },
                &CONTINUE,
            ),
        ]
    }

    #[test]
    fn encodes_and_decodes_the_spec_bytes() {
        for (p, bytes) in cases() {
            assert_form(
                p.clone(),
                bytes,
                Auth::encode_v5,
                Auth::remaining_length_v5,
                Auth::decode_v5,
            );
            assert_eq!(
                decode_v5(bytes, 1024),
                Ok(Some((Packet::Auth(p), bytes.len())))
            );
        }
    }

    #[test]
    fn decodes_a_reason_with_an_empty_property_block() {
        let body = [
            0x18, // reason code 0x18
            0x00, // property length 0
        ];
        assert_eq!(
            Auth::decode_v5(0, &body),
            Ok(Auth {
                reason: 0x18,
                ..Auth::default()
            })
        );
    }

    #[test]
    fn is_no_packet_in_mqtt_3_1_1() {
        for (_, bytes) in cases() {
            assert_eq!(decode(bytes, 1024), Err(DecodeError::InvalidPacketType(15)));
            assert_eq!(
                Packet::decode_frame(bytes[0], &bytes[2..]),
                Err(DecodeError::InvalidPacketType(15))
            );
        }
    }

    #[test]
    fn rejects_what_it_must() {
        for flags in 1..16 {
            assert_eq!(
                Auth::decode_v5(flags, &[]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 15,
                    flags
                })
            );
        }
        let cases: [(&[u8], DecodeError); 3] = [
            (
                &[
                    0x18, // reason code 0x18
                    0x05, 0x11, 0x00, 0x00, 0x00,
                    0x0a, // SessionExpiryInterval 10: not in AUTH
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x11,
                    packet_type: 15,
                },
            ),
            (
                &[
                    0x18, // reason code 0x18
                    0x08, // property length 8
                    0x15, 0x00, 0x01, b'A', // AuthenticationMethod "A"
                    0x15, 0x00, 0x01, b'B', // AuthenticationMethod "B": a second one
                ],
                DecodeError::DuplicateProperty(0x15),
            ),
            (
                &[
                    0x18, // reason code 0x18
                    0x04, 0x16, 0x00, 0x05,
                    0x01, // AuthenticationData of 5 bytes, 1 in the block
                    0x02, 0x03, 0x04, 0x05, // the rest of the packet
                ],
                DecodeError::PropertyTruncated {
                    packet_type: 15,
                    id: Some(0x16),
                },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(Auth::decode_v5(0, body), Err(e), "{body:02x?}");
        }
    }
}
