//! CONNACK, MQTT 3.1.1 and 5.0 section 3.2: the broker's answer to CONNECT.

use super::{begin_packet, check_flags, debug_v5_when_set, properties, DecodeError, Reader};
use crate::properties::{PacketTypes, Properties};

/// CONNACK: the broker's answer to CONNECT, saying whether the connection is accepted (`code` 0) and whether
/// the broker kept a session for this client.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the broker resumed a stored session (the "session present" flag, MQTT 3.1.1 and 5; always
    /// false from a 3.1 broker).
    pub session_present: bool,
    /// MQTT 3.1/3.1.1: the connect return code: 0 accepted, 1 unacceptable protocol version, 2 identifier
    /// rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized. MQTT 5: the reason
    /// code (0 success, 0x80 and up refusals). Other values are passed on as received.
    pub code: u8,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(ConnAck { session_present, code } { properties });

impl Default for ConnAck {
    /// No session present, code 0 (accepted), no properties.
    fn default() -> Self {
        ConnAck {
            session_present: false,
            code: 0,
            properties: Properties::new(PacketTypes::CONNACK),
        }
    }
}

impl ConnAck {
    const PACKET_TYPE: u8 = PacketTypes::CONNACK as u8;

    /// Appends the whole MQTT 3.1.1 packet (four bytes) to `out`; the properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_as(out, false);
    }

    /// Appends the whole MQTT 5 packet to `out`: the acknowledge flags, the reason code and the properties
    /// (their length is always sent, 0 when there are none).
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        self.encode_as(out, true);
    }

    fn encode_as(&self, out: &mut Vec<u8>, v5: bool) {
        let remaining = if v5 {
            self.remaining_length_v5()
        } else {
            self.remaining_length()
        };
        begin_packet(out, Self::PACKET_TYPE << 4, remaining);
        out.push(u8::from(self.session_present));
        out.push(self.code);
        if v5 {
            properties::encode(&self.properties, out);
        }
    }

    /// Decodes an MQTT 3.1.1 CONNACK body: `flags` must be 0, the body exactly the acknowledge flags (only
    /// bit 0 may be set) and the return code (any value).
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, false)
    }

    /// Decodes an MQTT 5 CONNACK body: as [`decode`](ConnAck::decode), then the properties, which MQTT 5
    /// always sends (a missing property length is a truncated packet).
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, true)
    }

    fn decode_as(flags: u8, body: &[u8], v5: bool) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let ack_flags = r.u8()?;
        let code = r.u8()?;
        // A server that speaks only MQTT 3.1.1 answers a 5.0 CONNECT with its own two-byte CONNACK
        // (return code 1, unacceptable protocol version): read it as one without properties, so that
        // the client reports the refusal rather than a malformed packet (as Paho does).
        let three_one_one_refusal = v5 && body.len() == 2 && body[1] != 0;
        let properties =
            properties::decode_if(v5 && !three_one_one_refusal, &mut r, PacketTypes::CONNACK)?;
        r.finish()?;
        if ack_flags & 0xfe != 0 {
            return Err(DecodeError::Protocol(
                "reserved CONNACK acknowledge flag set",
            ));
        }
        Ok(ConnAck {
            session_present: ack_flags & 0x01 != 0,
            code,
            properties,
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: always 2.
    pub fn remaining_length(&self) -> usize {
        2
    }

    /// The length of the MQTT 5 body after the fixed header: 2 and the property block.
    pub fn remaining_length_v5(&self) -> usize {
        2 + properties::wire_len(&self.properties)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_byte_connack_to_an_mqtt5_connect_is_a_3_1_1_servers_refusal() {
        let body = [
            0x00, // acknowledge flags
            0x01, // 3.1.1 return code 1: unacceptable protocol version
        ];
        let c = ConnAck::decode_v5(0, &body).unwrap();
        assert_eq!((c.code, c.properties.is_empty()), (1, true));
    }
    use crate::packet::{decode, Packet};
    use crate::properties::Property;

    const ACCEPTED_WITH_SESSION: [u8; 4] = [
        0x20, 0x02, // CONNACK (type 2, flags 0), remaining length 2
        0x01, // acknowledge flags: session present
        0x00, // return code 0: connection accepted
    ];

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = Vec::new();
        let p = ConnAck {
            session_present: true,
            code: 0,
            ..ConnAck::default()
        };
        p.encode(&mut out);
        assert_eq!(out, ACCEPTED_WITH_SESSION);
        assert_eq!(p.remaining_length(), 2);

        let mut out = vec![0xaa];
        ConnAck {
            session_present: false,
            code: 5,
            ..ConnAck::default()
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                0xaa, // already there
                0x20, 0x02, // CONNACK, remaining length 2
                0x00, // no session present
                0x05, // return code 5: not authorized
            ]
        );
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(
            ConnAck::decode(0, &ACCEPTED_WITH_SESSION[2..]),
            Ok(ConnAck {
                session_present: true,
                code: 0,
                ..ConnAck::default()
            })
        );
        let (p, used) = decode(&ACCEPTED_WITH_SESSION, 1024).unwrap().unwrap();
        assert_eq!(
            p,
            Packet::ConnAck(ConnAck {
                session_present: true,
                code: 0,
                ..ConnAck::default()
            })
        );
        assert_eq!(used, 4);
    }

    #[test]
    fn round_trips_every_code() {
        for session_present in [false, true] {
            for code in 0..=255 {
                let p = ConnAck {
                    session_present,
                    code,
                    ..ConnAck::default()
                };
                let mut out = Vec::new();
                p.encode(&mut out);
                assert_eq!(ConnAck::decode(out[0] & 0x0f, &out[2..]), Ok(p));
            }
        }
    }

    #[test]
    fn rejects_every_nonzero_flag_value() {
        for flags in 1..16 {
            assert_eq!(
                ConnAck::decode(flags, &ACCEPTED_WITH_SESSION[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 2,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_reserved_acknowledge_flags() {
        for bit in 1..8 {
            let body = [
                1 << bit, // a reserved acknowledge flag
                0x00,     // accepted
            ];
            assert!(matches!(
                ConnAck::decode(0, &body),
                Err(DecodeError::Protocol(_))
            ));
        }
    }

    #[test]
    fn rejects_a_truncated_body() {
        for n in 0..2 {
            assert_eq!(
                ConnAck::decode(0, &ACCEPTED_WITH_SESSION[2..2 + n]),
                Err(DecodeError::Truncated { packet_type: 2 })
            );
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let body = [
            0x00, // acknowledge flags
            0x00, // accepted
            0x00, // one byte too many
        ];
        assert_eq!(
            ConnAck::decode(0, &body),
            Err(DecodeError::TrailingBytes { packet_type: 2 })
        );
    }

    /// MQTT 5: accepted, with the properties a broker typically sends.
    const V5_ACCEPTED: [u8; 18] = [
        0x20, 0x10, // CONNACK, remaining length 16
        0x01, // acknowledge flags: session present
        0x00, // reason code 0: success
        0x0d, // property length 13
        0x12, 0x00, 0x02, b'i', b'd', // AssignedClientIdentifier "id"
        0x21, 0x00, 0x14, // ReceiveMaximum 20
        0x22, 0x00, 0x0a, // TopicAliasMaximum 10
        0x24, 0x01, // MaximumQoS 1
    ];

    /// MQTT 5: refused, with a reason string.
    const V5_REFUSED: [u8; 12] = [
        0x20, 0x0a, // CONNACK, remaining length 10
        0x00, // acknowledge flags: no session
        0x87, // reason code 0x87: not authorized
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'n', b'o', b'p', b'e', // ReasonString "nope"
    ];

    /// MQTT 5: accepted, no properties (the property length is still there).
    const V5_BARE: [u8; 5] = [
        0x20, 0x03, // CONNACK, remaining length 3
        0x00, // acknowledge flags: no session
        0x00, // reason code 0: success
        0x00, // property length 0
    ];

    fn v5_cases() -> [(ConnAck, &'static [u8]); 3] {
        let mut accepted = Properties::new(PacketTypes::CONNACK);
        for p in [
            Property::AssignedClientIdentifier("id".into()),
            Property::ReceiveMaximum(20),
            Property::TopicAliasMaximum(10),
            Property::MaximumQoS(1),
        ] {
            accepted.set(p).unwrap();
        }
        let mut refused = Properties::new(PacketTypes::CONNACK);
        refused.set(Property::ReasonString("nope".into())).unwrap();
        [
            (
                ConnAck {
                    session_present: true,
                    code: 0,
                    properties: accepted,
                },
                &V5_ACCEPTED,
            ),
            (
                ConnAck {
                    code: 0x87,
                    properties: refused,
                    ..ConnAck::default()
                },
                &V5_REFUSED,
            ),
            (ConnAck::default(), &V5_BARE),
        ]
    }

    #[test]
    fn encodes_and_decodes_the_mqtt5_spec_bytes() {
        for (p, bytes) in v5_cases() {
            crate::packet::assert_form(
                p,
                bytes,
                ConnAck::encode_v5,
                ConnAck::remaining_length_v5,
                ConnAck::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_properties_out() {
        let (p, _) = v5_cases().into_iter().next().expect("a case");
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, ACCEPTED_WITH_SESSION);
        assert_eq!(p.remaining_length(), 2);
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        // No property length: MQTT 5 always sends one in CONNACK.
        assert_eq!(
            ConnAck::decode_v5(0, &ACCEPTED_WITH_SESSION[2..]),
            Err(DecodeError::Truncated { packet_type: 2 })
        );
        let cases: [(&[u8], DecodeError); 3] = [
            (
                &[
                    0x00, 0x00, // no session, success
                    0x03, 0x23, 0x00,
                    0x01, // property length 3: TopicAlias 1, a PUBLISH property
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x23,
                    packet_type: 2,
                },
            ),
            (
                &[
                    0x02, // a reserved acknowledge flag
                    0x00, // success
                    0x00, // property length 0
                ],
                DecodeError::Protocol("reserved CONNACK acknowledge flag set"),
            ),
            (
                &[
                    0x00, 0x00, // no session, success
                    0x00, // property length 0
                    0x00, // one byte too many
                ],
                DecodeError::TrailingBytes { packet_type: 2 },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(ConnAck::decode_v5(0, body), Err(e), "{body:02x?}");
        }
        for flags in 1..16 {
            assert!(matches!(
                ConnAck::decode_v5(flags, &V5_BARE[2..]),
                Err(DecodeError::InvalidFlags { .. })
            ));
        }
    }
}
