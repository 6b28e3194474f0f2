//! PUBREL, MQTT 3.1.1 section 3.6: a fixed header and a packet identifier.

super::ack::ack_packet! {
    /// PUBREL: the answer to PUBREC in a QoS 2 exchange ("publish release"), answered with PUBCOMP. Its
    /// fixed-header flags are `0b0010` (MQTT 3.1.1 section 3.6).
    PubRel, 6, 0b0010, "PUBREL"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, DecodeError, Packet};

    const BYTES: [u8; 4] = [
        0x62, 0x02, // PUBREL (type 6, flags 0b0010), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = Vec::new();
        PubRel { pkid: 0x1234 }.encode(&mut out);
        assert_eq!(out, BYTES);
        assert_eq!(PubRel { pkid: 0x1234 }.remaining_length(), 2);
    }

    #[test]
    fn encode_appends_to_what_is_already_there() {
        let mut out = vec![0xaa];
        PubRel { pkid: 1 }.encode(&mut out);
        assert_eq!(out, [0xaa, 0x62, 0x02, 0x00, 0x01]);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(
            PubRel::decode(0b0010, &BYTES[2..]),
            Ok(PubRel { pkid: 0x1234 })
        );
        let (p, used) = decode(&BYTES, 1024).unwrap().unwrap();
        assert_eq!(p, Packet::PubRel(PubRel { pkid: 0x1234 }));
        assert_eq!(used, 4);
    }

    #[test]
    fn round_trips_every_edge_identifier() {
        for pkid in [1, 0x00ff, 0x0100, 0x7fff, 0x8000, u16::MAX] {
            let p = PubRel { pkid };
            let mut out = Vec::new();
            p.encode(&mut out);
            assert_eq!(out.len(), 2 + p.remaining_length());
            assert_eq!(PubRel::decode(out[0] & 0x0f, &out[2..]), Ok(p));
        }
    }

    #[test]
    fn rejects_every_other_flag_value() {
        for flags in (0u8..16).filter(|&f| f != 0b0010) {
            assert_eq!(
                PubRel::decode(flags, &BYTES[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 6,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_a_truncated_body() {
        for n in 0..2 {
            assert_eq!(
                PubRel::decode(0b0010, &BYTES[2..2 + n]),
                Err(DecodeError::Truncated { packet_type: 6 })
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
            PubRel::decode(0b0010, &body),
            Err(DecodeError::TrailingBytes { packet_type: 6 })
        );
    }

    #[test]
    fn rejects_packet_identifier_zero() {
        let body = [
            0x00, 0x00, // packet identifier 0
        ];
        assert_eq!(
            PubRel::decode(0b0010, &body),
            Err(DecodeError::ZeroPacketId)
        );
    }
}
