//! SUBSCRIBE, MQTT 3.1.1 and 5.0 section 3.8: the client asks for the messages matching topic filters.

use super::ack::{pkid_and_properties_len, read_pkid_and_properties, write_pkid_and_properties};
use super::{
    begin_packet, check_flags, debug_v5_when_set, field_len, write_string, DecodeError, QoS, Reader,
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
        self.encode_as(out, false);
    }

    /// Appends the whole MQTT 5 packet to `out`: packet identifier, properties, then each filter with its
    /// subscription options byte ([`SubscribeOptions::byte`]).
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        self.encode_as(out, true);
    }

    fn encode_as(&self, out: &mut Vec<u8>, v5: bool) {
        let remaining = self.remaining_length_as(v5);
        begin_packet(out, (Self::PACKET_TYPE << 4) | Self::FLAGS, remaining);
        write_pkid_and_properties(out, self.pkid, &self.properties, v5);
        for (filter, options) in &self.filters {
            write_string(out, filter);
            out.push(if v5 {
                options.byte()
            } else {
                options.qos as u8
            });
        }
    }

    /// Decodes an MQTT 3.1.1 SUBSCRIBE body (`flags` must be `0b0010`).
    ///
    /// Fails on packet identifier 0, no filters, an empty or non-UTF-8 filter, a requested-QoS byte with
    /// reserved bits set or QoS 3, and a body that ends inside a filter.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, false)
    }

    /// Decodes an MQTT 5 SUBSCRIBE body (`flags` must be `0b0010`): as [`decode`](Subscribe::decode), with
    /// the properties after the packet identifier and an options byte per filter, which fails on QoS 3,
    /// Retain Handling 3 and the reserved bits 6 and 7.
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, true)
    }

    fn decode_as(flags: u8, body: &[u8], v5: bool) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, Self::FLAGS)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let (pkid, properties) = read_pkid_and_properties(&mut r, PacketTypes::SUBSCRIBE, v5)?;
        let mut filters = Vec::new();
        while r.remaining() > 0 {
            let filter = r.string()?;
            if filter.is_empty() {
                return Err(DecodeError::Protocol("empty topic filter in SUBSCRIBE"));
            }
            let byte = r.u8()?;
            let options = if v5 {
                options_v5(byte)?
            } else {
                options_311(byte)?
            };
            filters.push((filter.to_owned(), options));
        }
        if filters.is_empty() {
            return Err(DecodeError::Protocol("SUBSCRIBE with no topic filters"));
        }
        Ok(Subscribe {
            pkid,
            filters,
            properties,
        })
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: packet identifier, then each filter and its
    /// QoS byte.
    pub fn remaining_length(&self) -> usize {
        self.remaining_length_as(false)
    }

    /// The length of the MQTT 5 body after the fixed header: packet identifier, properties, then each filter
    /// and its options byte.
    pub fn remaining_length_v5(&self) -> usize {
        self.remaining_length_as(true)
    }

    fn remaining_length_as(&self, v5: bool) -> usize {
        pkid_and_properties_len(&self.properties, v5)
            + self
                .filters
                .iter()
                .map(|(f, _)| field_len(f.len()) + 1)
                .sum::<usize>()
    }
}

/// The options an MQTT 3.1.1 requested-QoS byte holds: the QoS, the other options their defaults.
fn options_311(byte: u8) -> Result<SubscribeOptions, DecodeError> {
    if byte & 0xfc != 0 {
        return Err(DecodeError::Protocol(
            "reserved bits set in SUBSCRIBE requested QoS",
        ));
    }
    Ok(SubscribeOptions::from(QoS::try_from(byte)?))
}

/// The options an MQTT 5 subscription options byte holds (MQTT 5.0 section 3.8.3.1).
fn options_v5(byte: u8) -> Result<SubscribeOptions, DecodeError> {
    QoS::try_from(byte & 0x03)?;
    SubscribeOptions::from_byte(byte).ok_or(DecodeError::Protocol(
        "reserved bits or Retain Handling 3 in SUBSCRIBE options",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{decode, Packet};
    use crate::properties::Property;
    use crate::types::{RETAIN_DO_NOT_SEND, RETAIN_SEND_IF_NEW_SUB};

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

    /// MQTT 5, with a SubscriptionIdentifier and every option.
    const V5_OPTIONS: [u8; 19] = [
        0x82, 0x11, // SUBSCRIBE (type 8, flags 0b0010), remaining length 17
        0x00, 0x0a, // packet identifier 10
        0x02, // property length 2
        0x0b, 0x07, // SubscriptionIdentifier 7
        0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
        0x29, // options: Retain Handling 2, Retain As Published, QoS 1 (0b10_1_0_01)
        0x00, 0x03, b'c', b'/', b'd', // filter "c/d"
        0x16, // options: Retain Handling 1, No Local, QoS 2 (0b01_0_1_10)
    ];

    fn v5_options() -> Subscribe {
        let mut properties = Properties::new(PacketTypes::SUBSCRIBE);
        properties.set(Property::SubscriptionIdentifier(7)).unwrap();
        Subscribe {
            pkid: 10,
            filters: vec![
                (
                    "a/b".into(),
                    SubscribeOptions {
                        qos: QoS::AtLeastOnce,
                        retain_as_published: true,
                        retain_handling: RETAIN_DO_NOT_SEND,
                        ..SubscribeOptions::default()
                    },
                ),
                (
                    "c/d".into(),
                    SubscribeOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_handling: RETAIN_SEND_IF_NEW_SUB,
                        ..SubscribeOptions::default()
                    },
                ),
            ],
            properties,
        }
    }

    /// MQTT 5 without properties: the property length 0 is still there.
    const V5_BARE: [u8; 9] = [
        0x82, 0x07, // SUBSCRIBE, remaining length 7
        0x00, 0x01, // packet identifier 1
        0x00, // property length 0
        0x00, 0x01, b'#', // filter "#"
        0x00, // options: QoS 0, the rest their defaults
    ];

    #[test]
    fn mqtt5_encodes_and_decodes_the_spec_bytes() {
        let bare = Subscribe {
            pkid: 1,
            filters: vec![("#".into(), QoS::AtMostOnce.into())],
            ..Subscribe::default()
        };
        for (p, bytes) in [(v5_options(), &V5_OPTIONS[..]), (bare, &V5_BARE)] {
            crate::packet::assert_form(
                p,
                bytes,
                Subscribe::encode_v5,
                Subscribe::remaining_length_v5,
                Subscribe::decode_v5,
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_sends_only_the_qos_of_each_filter() {
        let mut out = Vec::new();
        v5_options().encode(&mut out);
        assert_eq!(
            out,
            [
                0x82, 0x0e, // SUBSCRIBE, remaining length 14
                0x00, 0x0a, // packet identifier 10
                0x00, 0x03, b'a', b'/', b'b', // filter "a/b"
                0x01, // QoS 1
                0x00, 0x03, b'c', b'/', b'd', // filter "c/d"
                0x02, // QoS 2
            ]
        );
        // And refuses the MQTT 5 options when it decodes.
        let body = [
            0x00, 0x0a, // packet identifier 10
            0x00, 0x01, b'a', // filter "a"
            0x29, // MQTT 5 options: Retain Handling 2, Retain As Published, QoS 1
        ];
        assert_eq!(
            Subscribe::decode(0b0010, &body),
            Err(DecodeError::Protocol(
                "reserved bits set in SUBSCRIBE requested QoS"
            ))
        );
    }

    #[test]
    fn mqtt5_rejects_bad_options() {
        for (options, e) in [
            (0x03, DecodeError::InvalidQoS(3)), // QoS 3
            (
                0x30, // Retain Handling 3
                DecodeError::Protocol("reserved bits or Retain Handling 3 in SUBSCRIBE options"),
            ),
            (
                0x40, // reserved bit 6
                DecodeError::Protocol("reserved bits or Retain Handling 3 in SUBSCRIBE options"),
            ),
            (
                0x81, // reserved bit 7, QoS 1
                DecodeError::Protocol("reserved bits or Retain Handling 3 in SUBSCRIBE options"),
            ),
        ] {
            let body = [
                0x00, 0x01, // packet identifier 1
                0x00, // property length 0
                0x00, 0x01, b'a',    // filter "a"
                options, // subscription options
            ];
            assert_eq!(
                Subscribe::decode_v5(0b0010, &body),
                Err(e),
                "{options:#04x}"
            );
        }
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        let cases: [(&[u8], DecodeError); 4] = [
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x00, // property length 0, and no filter
                ],
                DecodeError::Protocol("SUBSCRIBE with no topic filters"),
            ),
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x04, 0x0b, 0x01, 0x0b,
                    0x02, // property length 4: SubscriptionIdentifier twice
                    0x00, 0x01, b'a', 0x00, // filter "a", QoS 0
                ],
                DecodeError::DuplicateProperty(0x0b),
            ),
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x02, 0x0b, 0x00, // property length 2: SubscriptionIdentifier 0
                    0x00, 0x01, b'a', 0x00, // filter "a", QoS 0
                ],
                DecodeError::InvalidPropertyValue {
                    id: 0x0b,
                    problem: "must be in the range 1-268435455",
                },
            ),
            (
                &[
                    0x00, 0x01, // packet identifier 1
                    0x00, // property length 0
                    0x00, 0x01, b'a', // filter "a", and no options byte
                ],
                DecodeError::Truncated { packet_type: 8 },
            ),
        ];
        for (body, e) in cases {
            assert_eq!(Subscribe::decode_v5(0b0010, body), Err(e), "{body:02x?}");
        }
        assert!(matches!(
            Subscribe::decode_v5(0, &V5_OPTIONS[2..]),
            Err(DecodeError::InvalidFlags { .. })
        ));
    }
}
