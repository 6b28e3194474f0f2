//! CONNACK, MQTT 3.1.1 section 3.2: the broker's answer to CONNECT.

use super::{check_flags, debug_v5_when_set, write_fixed_header, DecodeError, Reader};
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
        out.reserve(4);
        write_fixed_header(out, Self::PACKET_TYPE << 4, 2);
        out.push(u8::from(self.session_present));
        out.push(self.code);
    }

    /// Decodes an MQTT 3.1.1 CONNACK body: `flags` must be 0, the body exactly the acknowledge flags (only bit 0 may be
    /// set) and the return code (any value).
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let ack_flags = r.u8()?;
        let code = r.u8()?;
        r.finish()?;
        if ack_flags & 0xfe != 0 {
            return Err(DecodeError::Protocol(
                "reserved CONNACK acknowledge flag set",
            ));
        }
        Ok(ConnAck {
            session_present: ack_flags & 0x01 != 0,
            code,
            ..ConnAck::default()
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: always 2.
    pub fn remaining_length(&self) -> usize {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};

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
}
