//! UNSUBSCRIBE, MQTT 3.1.1 and 5.0 section 3.10: the client removes subscriptions.

use super::ack::{pkid_and_properties_len, read_pkid_and_properties, write_pkid_and_properties};
use super::{
    begin_packet, check_flags, debug_v5_when_set, field_len, write_string, DecodeError, Reader,
};
use crate::properties::{PacketTypes, Properties};

/// UNSUBSCRIBE: the client asks the broker to remove its subscriptions to one or more topic filters.
#[derive(Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// The packet identifier, echoed by the broker's UNSUBACK (never 0).
    pub pkid: u16,
    /// The topic filters to remove, exactly as they were subscribed; at least one.
    pub filters: Vec<String>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(Unsubscribe { pkid, filters } { properties });

impl Default for Unsubscribe {
    /// Packet identifier 0 (to be set), no filters (at least one is to be added), no properties.
    fn default() -> Self {
        Unsubscribe {
            pkid: 0,
            filters: Vec::new(),
            properties: Properties::new(PacketTypes::UNSUBSCRIBE),
        }
    }
}

impl Unsubscribe {
    const PACKET_TYPE: u8 = PacketTypes::UNSUBSCRIBE as u8;
    const FLAGS: u8 = 0b0010;

    /// Appends the whole MQTT 3.1.1 packet (fixed header `0xa2`) to `out`; the properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_as(out, false);
    }

    /// Appends the whole MQTT 5 packet to `out`: packet identifier, properties, filters.
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        self.encode_as(out, true);
    }

    fn encode_as(&self, out: &mut Vec<u8>, v5: bool) {
        let remaining = self.remaining_length_as(v5);
        begin_packet(out, (Self::PACKET_TYPE << 4) | Self::FLAGS, remaining);
        write_pkid_and_properties(out, self.pkid, &self.properties, v5);
        for filter in &self.filters {
            write_string(out, filter);
        }
    }

    /// Decodes an MQTT 3.1.1 UNSUBSCRIBE body (`flags` must be `0b0010`): a non-zero packet identifier and at
    /// least one non-empty UTF-8 topic filter.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, false)
    }

    /// Decodes an MQTT 5 UNSUBSCRIBE body (`flags` must be `0b0010`): as [`decode`](Unsubscribe::decode),
    /// with the properties after the packet identifier.
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, true)
    }

    fn decode_as(flags: u8, body: &[u8], v5: bool) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let (pkid, properties) = read_pkid_and_properties(&mut r, PacketTypes::UNSUBSCRIBE, v5)?;
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string()?;
            if filter.is_empty() {
                return Err(DecodeError::Protocol("empty topic filter in UNSUBSCRIBE"));
            }
            filters.push(filter.to_owned());
        }
        if filters.is_empty() {
            return Err(DecodeError::Protocol("UNSUBSCRIBE with no topic filters"));
        }
        Ok(Unsubscribe {
            pkid,
            filters,
            properties,
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: packet identifier and filters.
    pub fn remaining_length(&self) -> usize {
        self.remaining_length_as(false)
    }

    /// The length of the MQTT 5 body after the fixed header: packet identifier, properties and filters.
    pub fn remaining_length_v5(&self) -> usize {
        self.remaining_length_as(true)
    }

    fn remaining_length_as(&self, v5: bool) -> usize {
        pkid_and_properties_len(&self.properties, v5)
            + self
                .filters
                .iter()
                .map(|f| field_len(f.len()))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};
    use crate::properties::Property;

    /// The example of MQTT 3.1.1 section 3.10.3.
    const TWO_FILTERS: [u8; 14] = [
        0xa2, 0x0c, // UNSUBSCRIBE (type 10, flags 0b0010), remaining length 12
        0x00, 0x0a, // packet identifier 10
        0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
        0x00, 0x03, b'c', b'/', b'd', // filter "c/d"
    ];

    fn two_filters() -> Unsubscribe {
        Unsubscribe {
            pkid: 10,
            filters: vec!["a/b".into(), "c/d".into()],
            ..Unsubscribe::default()
        }
    }

    #[test]
    fn encodes_to_the_spec_bytes() {
        let mut out = vec![0xaa];
        two_filters().encode(&mut out);
        assert_eq!(&out[1..], TWO_FILTERS);
        assert_eq!(two_filters().remaining_length(), 12);
    }

    #[test]
    fn decodes_the_spec_bytes() {
        assert_eq!(
            Unsubscribe::decode(0b0010, &TWO_FILTERS[2..]),
            Ok(two_filters())
        );
        assert_eq!(
            decode(&TWO_FILTERS, 1024),
            Ok(Some((
                Packet::Unsubscribe(two_filters()),
                TWO_FILTERS.len()
            )))
        );
    }

    #[test]
    fn round_trips() {
        let p = Unsubscribe {
            pkid: 0xffff,
            filters: vec!["#".into(), "a/+/\u{e9}".into()],
            ..Unsubscribe::default()
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), 2 + p.remaining_length());
        assert_eq!(Unsubscribe::decode(out[0] & 0x0f, &out[2..]), Ok(p));
    }

    #[test]
    fn rejects_every_other_flag_value() {
        for flags in (0..16).filter(|&f| f != 0b0010) {
            assert_eq!(
                Unsubscribe::decode(flags, &TWO_FILTERS[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 10,
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
            Unsubscribe::decode(0b0010, &body),
            Err(DecodeError::Protocol("UNSUBSCRIBE with no topic filters"))
        );
    }

    #[test]
    fn rejects_packet_identifier_zero() {
        let body = [
            0x00, 0x00, // packet identifier 0
            0x00, 0x01, b'a', // filter "a"
        ];
        assert_eq!(
            Unsubscribe::decode(0b0010, &body),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn rejects_an_empty_filter() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'a', // filter "a"
            0x00, 0x00, // filter "" (empty)
        ];
        assert_eq!(
            Unsubscribe::decode(0b0010, &body),
            Err(DecodeError::Protocol("empty topic filter in UNSUBSCRIBE"))
        );
    }

    #[test]
    fn rejects_an_invalid_utf8_filter() {
        let body = [
            0x00, 0x01, // packet identifier 1
            0x00, 0x03, 0xe2, 0x82, b'x', // filter: a cut three-byte UTF-8 sequence
        ];
        assert_eq!(
            Unsubscribe::decode(0b0010, &body),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn a_cut_body_is_truncated_unless_it_ends_between_filters() {
        let body = &TWO_FILTERS[2..];
        for n in 0..body.len() {
            let got = Unsubscribe::decode(0b0010, &body[..n]);
            match n {
                2 => assert!(matches!(got, Err(DecodeError::Protocol(_)))),
                7 => assert_eq!(
                    got,
                    Ok(Unsubscribe {
                        pkid: 10,
                        filters: vec!["a/b".into()],
                        ..Unsubscribe::default()
                    })
                ),
                _ => assert_eq!(
                    got,
                    Err(DecodeError::Truncated { packet_type: 10 }),
                    "cut {n}"
                ),
            }
        }
    }

    /// MQTT 5, with a user property.
    const V5_USER: [u8; 21] = [
        0xa2, 0x13, // UNSUBSCRIBE (type 10, flags 0b0010), remaining length 19
        0x00, 0x0a, // packet identifier 10
        0x07, // property length 7
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // UserProperty ("k", "v")
        0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
        0x00, 0x02, b'c', b'/', // filter "c/"
    ];

    fn v5_user() -> Unsubscribe {
        let mut properties = Properties::new(PacketTypes::UNSUBSCRIBE);
        properties
            .set(Property::UserProperty("k".into(), "v".into()))
            .unwrap();
        Unsubscribe {
            pkid: 10,
            filters: vec!["a/b".into(), "c/".into()],
            properties,
        }
    }

    #[test]
    fn mqtt5_encodes_and_decodes_the_spec_bytes() {
        const BARE: [u8; 8] = [
            0xa2, 0x06, // UNSUBSCRIBE, remaining length 6
            0x00, 0x01, // packet identifier 1
            0x00, // property length 0
            0x00, 0x01, b'#', // filter "#"
        ];
        let bare = Unsubscribe {
            pkid: 1,
            filters: vec!["#".into()],
            ..Unsubscribe::default()
        };
        for (p, bytes) in [(v5_user(), &V5_USER[..]), (bare, &BARE)] {
            crate::packet::assert_form(
                p,
                bytes,
                Unsubscribe::encode_v5,
                Unsubscribe::remaining_length_v5,
                Unsubscribe::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_properties_out() {
        let mut out = Vec::new();
        v5_user().encode(&mut out);
        assert_eq!(
            out,
            [
                0xa2, 0x0b, // UNSUBSCRIBE, remaining length 11
                0x00, 0x0a, // packet identifier 10
                0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
                0x00, 0x02, b'c', b'/', // filter "c/"
            ]
        );
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        let cases: [(&[u8], DecodeError); 3] = [
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x00, // property length 0, and no filter
                ],
                DecodeError::Protocol("UNSUBSCRIBE with no topic filters"),
            ),
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x02, 0x0b, 0x01, // property length 2: SubscriptionIdentifier 1, not here
                    0x00, 0x01, b'a', // filter "a"
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x0b,
                    packet_type: 10,
                },
            ),
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x00, // property length 0
                    0x00, 0x00, // filter "" (empty)
                ],
                DecodeError::Protocol("empty topic filter in UNSUBSCRIBE"),
            ),
        ];
        for (body, e) in cases {
            assert_eq!(Unsubscribe::decode_v5(0b0010, body), Err(e), "{body:02x?}");
        }
    }
}
