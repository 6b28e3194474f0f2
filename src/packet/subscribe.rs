//! SUBSCRIBE, MQTT 3.1.1 section 3.8: the client asks for the messages matching topic filters.

use super::{
    check_flags, debug_v5_when_set, field_len, vbi_len, write_fixed_header, write_string,
    DecodeError, QoS, Reader,
};
use crate::properties::{PacketTypes, Properties};
use crate::types::SubscribeOptions;

/// SUBSCRIBE: the client asks the broker for the messages matching one or more topic filters, each with
/// the maximum QoS it wants them delivered with (and, in MQTT 5, the other subscription options).
#[derive(Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// The packet identifier, echoed by the broker's SUBACK (never 0).
    pub pkid: u16,
    /// The topic filters (which may contain wildcards) and the options of each, in order; at least one.
    /// MQTT 3.1.1 sends only each one's QoS, and decodes the others as their defaults.
    pub filters: Vec<(String, SubscribeOptions)>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(Subscribe { pkid, filters } { properties });

impl Default for Subscribe {
    /// Packet identifier 0 (to be set), no filters (at least one is to be added), no properties.
    fn default() -> Self {
        Subscribe {
            pkid: 0,
            filters: Vec::new(),
            properties: Properties::new(PacketTypes::SUBSCRIBE),
        }
    }
}

impl Subscribe {
    const PACKET_TYPE: u8 = PacketTypes::SUBSCRIBE as u8;
    const FLAGS: u8 = 0b0010;

    /// Appends the whole MQTT 3.1.1 packet (fixed header `0x82`) to `out`: each filter with its QoS alone.
    /// The properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let remaining = self.remaining_length();
        out.reserve(1 + vbi_len(remaining) + remaining);
        write_fixed_header(out, (Self::PACKET_TYPE << 4) | Self::FLAGS, remaining);
        out.extend_from_slice(&self.pkid.to_be_bytes());
        for (filter, options) in &self.filters {
            write_string(out, filter);
            out.push(options.qos as u8);
        }
    }

    /// Decodes an MQTT 3.1.1 SUBSCRIBE body (`flags` must be `0b0010`).
    ///
    /// Fails on packet identifier 0, no filters, an empty or non-UTF-8 filter, a requested-QoS byte with
    /// reserved bits set or QoS 3, and a body that ends inside a filter.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let pkid = r.u16()?;
        if pkid == 0 {
            return Err(DecodeError::ZeroPacketId);
        }
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string()?;
            if filter.is_empty() {
                return Err(DecodeError::Protocol("empty topic filter in SUBSCRIBE"));
            }
            let requested = r.u8()?;
            if requested & 0xfc != 0 {
                return Err(DecodeError::Protocol(
                    "reserved bits set in SUBSCRIBE requested QoS",
                ));
            }
            let options = SubscribeOptions::from(QoS::try_from(requested)?);
            filters.push((filter.to_owned(), options));
        }
        if filters.is_empty() {
            return Err(DecodeError::Protocol("SUBSCRIBE with no topic filters"));
        }
        Ok(Subscribe {
            pkid,
            filters,
            ..Subscribe::default()
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: packet identifier, then each filter and its
    /// QoS byte.
    pub fn remaining_length(&self) -> usize {
        2 + self
            .filters
            .iter()
            .map(|(f, _)| field_len(f.len()) + 1)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};

    /// The example of MQTT 3.1.1 section 3.8.3.
    const TWO_FILTERS: [u8; 16] = [
        0x82, 0x0e, // SUBSCRIBE (type 8, flags 0b0010), remaining length 14
        0x00, 0x0a, // packet identifier 10
        0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
        0x01, // requested QoS 1
        0x00, 0x03, b'c', b'/', b'd', // filter "c/d"
        0x02, // requested QoS 2
    ];

    fn two_filters() -> Subscribe {
        Subscribe {
            pkid: 10,
            filters: vec![
                ("a/b".into(), QoS::AtLeastOnce.into()),
                ("c/d".into(), QoS::ExactlyOnce.into()),
            ],
            ..Subscribe::default()
        }
    }

    const WILDCARDS: [u8; 18] = [
        0x82, 0x10, // SUBSCRIBE, remaining length 16
        0xff, 0xff, // packet identifier 65535
        0x00, 0x07, b's', b'p', b'o', b'r', b't', b'/', b'#', // filter "sport/#"
        0x00, // requested QoS 0
        0x00, 0x01, b'+', // filter "+"
        0x01, // requested QoS 1
    ];

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = vec![0xaa];
        two_filters().encode(&mut out);
        assert_eq!(&out[1..], TWO_FILTERS);
        assert_eq!(two_filters().remaining_length(), 14);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(
            Subscribe::decode(0b0010, &TWO_FILTERS[2..]),
            Ok(two_filters())
        );
        assert_eq!(
            decode(&TWO_FILTERS, 1024),
            Ok(Some((Packet::Subscribe(two_filters()), TWO_FILTERS.len())))
        );
    }

    #[test]
    fn round_trips() {
        let p = Subscribe {
            pkid: 0x0102,
            filters: vec![
                ("sport/#".into(), QoS::AtMostOnce.into()),
                ("+".into(), QoS::AtLeastOnce.into()),
                ("\u{e9}t\u{e9}/+/x".into(), QoS::ExactlyOnce.into()),
            ],
            ..Subscribe::default()
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), 2 + p.remaining_length());
        assert_eq!(Subscribe::decode(out[0] & 0x0f, &out[2..]), Ok(p));
    }

    #[test]
    fn rejects_every_other_flag_value() {
        for flags in (0..16).filter(|&f| f != 0b0010) {
            assert_eq!(
                Subscribe::decode(flags, &TWO_FILTERS[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 8,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_no_filters() {
        let body = [
            0x00, 0x0a, // packet identifier 10, and nothing else
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::Protocol("SUBSCRIBE with no topic filters"))
        );
    }

    #[test]
    fn rejects_packet_identifier_zero() {
        let body = [
            0x00, 0x00, // packet identifier 0
            0x00, 0x01, b'a', // filter "a"
            0x00, // QoS 0
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn rejects_an_empty_filter() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x00, // filter "" (empty)
            0x00, // QoS 0
        ];
        assert!(matches!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn rejects_an_invalid_utf8_filter() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, 0xff, // filter: 0xff is never valid UTF-8
            0x00, // QoS 0
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn rejects_qos_3_and_reserved_qos_bits() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'a', // filter "a"
            0x03, // requested QoS 3
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::InvalidQoS(3))
        );
        for reserved in [0x04, 0x41, 0x80, 0xfc] {
            let body = [
                0x00, 0x01, // packet identifier 1
                0x00, 0x01, b'a', reserved, // filter "a", QoS byte with reserved bits 7-2 set
            ];
            assert!(matches!(
                Subscribe::decode(0b0010, &body),
                Err(DecodeError::Protocol(_))
            ));
        }
    }

    #[test]
    fn a_cut_body_is_truncated_unless_it_ends_between_filters() {
        for bytes in [&TWO_FILTERS[..], &WILDCARDS] {
            let whole = Subscribe::decode(0b0010, &bytes[2..]).unwrap();
            let body = &bytes[2..];
            // Offsets where a filter (with its QoS byte) ends.
            let mut ends = vec![2];
            for (f, _) in &whole.filters {
                ends.push(ends[ends.len() - 1] + 2 + f.len() + 1);
            }
            for n in 0..body.len() {
                let got = Subscribe::decode(0b0010, &body[..n]);
                match ends.iter().position(|&e| e == n) {
                    None => assert_eq!(
                        got,
                        Err(DecodeError::Truncated { packet_type: 8 }),
                        "cut {n}"
                    ),
                    Some(0) => assert!(matches!(got, Err(DecodeError::Protocol(_))), "cut {n}"),
                    Some(k) => assert_eq!(got.unwrap().filters, whole.filters[..k], "cut {n}"),
                }
            }
        }
    }

    #[test]
    fn a_filter_cut_after_its_string_is_truncated() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'a', // filter "a", then no QoS byte
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::Truncated { packet_type: 8 })
        );
    }
}
