//! PUBREC, MQTT 3.1.1 section 3.5: a fixed header and a packet identifier.

super::ack::ack_packet! {
    /// PUBREC: the first acknowledgement of a QoS 2 PUBLISH ("publish received"), answered with PUBREL
    /// (MQTT 3.1.1 section 3.5).
    PubRec, 5, 0b0000, "PUBREC"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, DecodeError, Packet};

    const BYTES: [u8; 4] = [
        0x50, 0x02, // PUBREC (type 5, flags 0), remaining length 2
        0x12, 0x34, // packet identifier 0x1234
    ];

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = Vec::new();
        PubRec { pkid: 0x1234 }.encode(&mut out);
        assert_eq!(out, BYTES);
        assert_eq!(PubRec { pkid: 0x1234 }.remaining_length(), 2);
    }

    #[test]
    fn encode_appends_to_what_is_already_there() {
        let mut out = vec![0xaa];
        PubRec { pkid: 1 }.encode(&mut out);
        assert_eq!(out, [0xaa, 0x50, 0x02, 0x00, 0x01]);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(
            PubRec::decode(0b0000, &BYTES[2..]),
            Ok(PubRec { pkid: 0x1234 })
        );
        let (p, used) = decode(&BYTES, 1024).unwrap().unwrap();
        assert_eq!(p, Packet::PubRec(PubRec { pkid: 0x1234 }));
        assert_eq!(used, 4);
    }

    #[test]
    fn round_trips_every_edge_identifier() {
        for pkid in [1, 0x00ff, 0x0100, 0x7fff, 0x8000, u16::MAX] {
            let p = PubRec { pkid };
            let mut out = Vec::new();
            p.encode(&mut out);
            assert_eq!(out.len(), 2 + p.remaining_length());
            assert_eq!(PubRec::decode(out[0] & 0x0f, &out[2..]), Ok(p));
        }
    }

    #[test]
    fn rejects_every_other_flag_value() {
        for flags in (0u8..16).filter(|&f| f != 0b0000) {
            assert_eq!(
                PubRec::decode(flags, &BYTES[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 5,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_a_truncated_body() {
        for n in 0..2 {
            assert_eq!(
                PubRec::decode(0b0000, &BYTES[2..2 + n]),
                Err(DecodeError::Truncated { packet_type: 5 })
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
            PubRec::decode(0b0000, &body),
            Err(DecodeError::TrailingBytes { packet_type: 5 })
        );
    }

    #[test]
    fn rejects_packet_identifier_zero() {
        let body = [
            0x00, 0x00, // packet identifier 0
        ];
        assert_eq!(
            PubRec::decode(0b0000, &body),
            Err(DecodeError::ZeroPacketId)
        );
    }
}
