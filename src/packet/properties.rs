//! The MQTT 5 property block (MQTT 5.0 section 2.2.2): a variable byte integer length, then each property
//! as a variable byte integer identifier and a value whose type the identifier fixes.
//!
//! The values are [`crate::properties`]' [`Property`] and [`Properties`]; this file holds only their wire
//! form. Encoding writes a set as it is stored (identifier order, repeated properties in the order they were
//! set) and checks nothing: [`Properties::set`] checked the values when the set was built. Decoding checks
//! everything the specification forbids, because the bytes come from the peer.

use super::{field_len, vbi_len, write_bytes, write_string, write_vbi, DecodeError, Reader};
use crate::properties::{PacketTypes, Properties, Property};

/// A property value seen by its wire type, so that the encoder and the length agree on one table.
enum Value<'a> {
    Byte(u8),
    TwoByte(u16),
    FourByte(u32),
    VariableByte(u32),
    Binary(&'a [u8]),
    Utf8(&'a str),
    Pair(&'a str, &'a str),
}

impl Property {
    /// The value with its wire type.
    fn wire_value(&self) -> Value<'_> {
        use Property::*;
        match self {
            PayloadFormatIndicator(v)
            | RequestProblemInformation(v)
            | RequestResponseInformation(v)
            | MaximumQoS(v)
            | RetainAvailable(v)
            | WildcardSubscriptionAvailable(v)
            | SubscriptionIdentifierAvailable(v)
            | SharedSubscriptionAvailable(v) => Value::Byte(*v),
            ServerKeepAlive(v) | ReceiveMaximum(v) | TopicAliasMaximum(v) | TopicAlias(v) => {
                Value::TwoByte(*v)
            }
            MessageExpiryInterval(v)
            | SessionExpiryInterval(v)
            | WillDelayInterval(v)
            | MaximumPacketSize(v) => Value::FourByte(*v),
            SubscriptionIdentifier(v) => Value::VariableByte(*v),
            CorrelationData(b) | AuthenticationData(b) => Value::Binary(b),
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s) => Value::Utf8(s),
            UserProperty(k, v) => Value::Pair(k, v),
        }
    }
}

/// Appends the property block of `props`: its length, then every property in the order the set keeps.
pub(crate) fn encode(props: &Properties, out: &mut Vec<u8>) {
    write_vbi(out, body_len(props));
    encode_body(props, out);
}

/// Appends every property of `props`, without the block's length.
fn encode_body(props: &Properties, out: &mut Vec<u8>) {
    for p in props {
        write_vbi(out, usize::from(p.id()));
        match p.wire_value() {
            Value::Byte(v) => out.push(v),
            Value::TwoByte(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::FourByte(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::VariableByte(v) => write_vbi(out, v as usize),
            Value::Binary(b) => write_bytes(out, b),
            Value::Utf8(s) => write_string(out, s),
            Value::Pair(k, v) => {
                write_string(out, k);
                write_string(out, v);
            }
        }
    }
}

/// [`encode`] with a Topic Alias after the properties of `props` (which hold none): the block an
/// automatic alias adds to a PUBLISH without copying its properties.
pub(crate) fn encode_with_alias(props: &Properties, alias: u16, out: &mut Vec<u8>) {
    write_vbi(out, body_len(props) + 3);
    encode_body(props, out);
    out.push(0x23);
    out.extend_from_slice(&alias.to_be_bytes());
}

/// The number of bytes [`encode_with_alias`] appends.
pub(crate) fn wire_len_with_alias(props: &Properties) -> usize {
    let n = body_len(props) + 3;
    vbi_len(n) + n
}

/// The number of bytes [`encode`] appends for `props`, its length prefix included (1 for an empty set).
pub(crate) fn wire_len(props: &Properties) -> usize {
    let n = body_len(props);
    vbi_len(n) + n
}

/// The length of the block after its length prefix.
fn body_len(props: &Properties) -> usize {
    props
        .iter()
        .map(|p| {
            let value = match p.wire_value() {
                Value::Byte(_) => 1,
                Value::TwoByte(_) => 2,
                Value::FourByte(_) => 4,
                Value::VariableByte(v) => vbi_len(v as usize),
                Value::Binary(b) => field_len(b.len()),
                Value::Utf8(s) => field_len(s.len()),
                Value::Pair(k, v) => field_len(k.len()) + field_len(v.len()),
            };
            vbi_len(usize::from(p.id())) + value
        })
        .sum()
}

/// Reads the property block at `r`'s position for a packet of `packet_type` (`WILLMESSAGE` for the will's
/// properties inside CONNECT), leaving `r` just after it.
///
/// Fails on a length or identifier of over four bytes, a block longer than the rest of the packet, an
/// unknown identifier, a property the packet type may not carry, a second value of a single-valued property
/// (and of `SubscriptionIdentifier` in SUBSCRIBE, MQTT 5.0 section 3.8.2.1.2), a value running past the
/// block, a string that is not UTF-8 or holds U+0000, and a value the specification forbids.
pub(crate) fn decode(r: &mut Reader, packet_type: PacketTypes) -> Result<Properties, DecodeError> {
    let owner = packet_type as u8;
    let declared = r.vbi()? as usize;
    if declared > r.remaining() {
        return Err(DecodeError::PropertiesTooLong {
            packet_type: owner,
            declared,
            left: r.remaining(),
        });
    }
    // A reader over the block alone, so that a value claiming more than the block holds fails even when
    // the packet has the bytes.
    let mut block = Reader::new(owner, r.take(declared)?);
    let mut props = Properties::new(packet_type);
    // Every identifier is below 64, so one bit each records the ones seen.
    let mut seen = 0u64;
    while block.remaining() > 0 {
        let id = block.vbi().map_err(past_block(owner, None))?;
        let Some(id) = u8::try_from(id)
            .ok()
            .filter(|&id| crate::properties::property_name(id).is_some())
        else {
            return Err(DecodeError::UnknownProperty(id));
        };
        let property = read_value(&mut block, id).map_err(past_block(owner, Some(id)))?;
        if !property.allowed_in(packet_type) {
            return Err(DecodeError::PropertyNotAllowed {
                id,
                packet_type: owner,
            });
        }
        let once =
            !property.allows_multiple() || (id == 0x0B && packet_type == PacketTypes::SUBSCRIBE);
        if once && seen & (1 << id) != 0 {
            return Err(DecodeError::DuplicateProperty(id));
        }
        seen |= 1 << id;
        if let Some(problem) = wire_problem(&property) {
            return Err(DecodeError::InvalidPropertyValue { id, problem });
        }
        props.insert(property);
    }
    Ok(props)
}

/// [`decode`] when `v5`, else an empty set without reading: what MQTT 3.1/3.1.1 have where MQTT 5 has
/// properties.
pub(crate) fn decode_if(
    v5: bool,
    r: &mut Reader,
    packet_type: PacketTypes,
) -> Result<Properties, DecodeError> {
    if v5 {
        decode(r, packet_type)
    } else {
        Ok(Properties::new(packet_type))
    }
}

/// Turns a read that ran out of block into [`DecodeError::PropertyTruncated`]; other errors pass.
fn past_block(packet_type: u8, id: Option<u8>) -> impl Fn(DecodeError) -> DecodeError {
    move |e| match e {
        DecodeError::Truncated { .. } => DecodeError::PropertyTruncated { packet_type, id },
        e => e,
    }
}

/// Reads the value of property `id`, a known identifier.
fn read_value(r: &mut Reader, id: u8) -> Result<Property, DecodeError> {
    use Property::*;
    let string = |r: &mut Reader| r.string().map(str::to_owned);
    Ok(match id {
        0x01 => PayloadFormatIndicator(r.u8()?),
        0x02 => MessageExpiryInterval(r.u32()?),
        0x03 => ContentType(string(r)?),
        0x08 => ResponseTopic(string(r)?),
        0x09 => CorrelationData(r.bytes()?.to_vec()),
        0x0B => SubscriptionIdentifier(r.vbi()?),
        0x11 => SessionExpiryInterval(r.u32()?),
        0x12 => AssignedClientIdentifier(string(r)?),
        0x13 => ServerKeepAlive(r.u16()?),
        0x15 => AuthenticationMethod(string(r)?),
        0x16 => AuthenticationData(r.bytes()?.to_vec()),
        0x17 => RequestProblemInformation(r.u8()?),
        0x18 => WillDelayInterval(r.u32()?),
        0x19 => RequestResponseInformation(r.u8()?),
        0x1A => ResponseInformation(string(r)?),
        0x1C => ServerReference(string(r)?),
        0x1F => ReasonString(string(r)?),
        0x21 => ReceiveMaximum(r.u16()?),
        0x22 => TopicAliasMaximum(r.u16()?),
        0x23 => TopicAlias(r.u16()?),
        0x24 => MaximumQoS(r.u8()?),
        0x25 => RetainAvailable(r.u8()?),
        0x26 => UserProperty(string(r)?, string(r)?),
        0x27 => MaximumPacketSize(r.u32()?),
        0x28 => WildcardSubscriptionAvailable(r.u8()?),
        0x29 => SubscriptionIdentifierAvailable(r.u8()?),
        0x2A => SharedSubscriptionAvailable(r.u8()?),
        other => return Err(DecodeError::UnknownProperty(other.into())),
    })
}

/// What the specification forbids in a received value: what Paho refuses when a property is set, except
/// that a `MaximumPacketSize` over 268,435,455 is legal on the wire (the specification forbids only 0).
fn wire_problem(p: &Property) -> Option<&'static str> {
    match p {
        Property::MaximumPacketSize(v) if *v > 0 => None,
        p => p.range_problem(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::PacketTypes::*;
    use crate::properties::Property::*;

    /// Decodes `bytes` as a whole property block of a `packet_type` packet.
    fn decode_all(packet_type: PacketTypes, bytes: &[u8]) -> Result<Properties, DecodeError> {
        let mut r = Reader::new(packet_type as u8, bytes);
        let props = decode(&mut r, packet_type)?;
        r.finish()?;
        Ok(props)
    }

    fn encoded(props: &Properties) -> Vec<u8> {
        let mut out = Vec::new();
        encode(props, &mut out);
        out
    }

    /// Every property once, in a packet type that may carry it, and its bytes (identifier and value).
    fn every_property() -> Vec<(PacketTypes, Property, &'static [u8])> {
        vec![
            (
                PUBLISH,
                PayloadFormatIndicator(1),
                &[
                    0x01, // PayloadFormatIndicator
                    0x01, // byte 1: UTF-8 text
                ],
            ),
            (
                PUBLISH,
                MessageExpiryInterval(0x0102_0304),
                &[
                    0x02, // MessageExpiryInterval
                    0x01, 0x02, 0x03, 0x04, // four-byte integer 0x01020304
                ],
            ),
            (
                PUBLISH,
                ContentType("a/b".into()),
                &[
                    0x03, // ContentType
                    0x00, 0x03, b'a', b'/', b'b', // string "a/b"
                ],
            ),
            (
                WILLMESSAGE,
                ResponseTopic("r".into()),
                &[
                    0x08, // ResponseTopic
                    0x00, 0x01, b'r', // string "r"
                ],
            ),
            (
                PUBLISH,
                CorrelationData(vec![0x00, 0xff]),
                &[
                    0x09, // CorrelationData
                    0x00, 0x02, 0x00, 0xff, // binary [0x00, 0xff]
                ],
            ),
            (
                PUBLISH,
                SubscriptionIdentifier(268_435_455),
                &[
                    0x0b, // SubscriptionIdentifier
                    0xff, 0xff, 0xff, 0x7f, // variable byte integer 268,435,455 (the largest)
                ],
            ),
            (
                CONNECT,
                SessionExpiryInterval(u32::MAX),
                &[
                    0x11, // SessionExpiryInterval
                    0xff, 0xff, 0xff, 0xff, // four-byte integer 0xffffffff: never expires
                ],
            ),
            (
                CONNACK,
                AssignedClientIdentifier("id".into()),
                &[
                    0x12, // AssignedClientIdentifier
                    0x00, 0x02, b'i', b'd', // string "id"
                ],
            ),
            (
                CONNACK,
                ServerKeepAlive(30),
                &[
                    0x13, // ServerKeepAlive
                    0x00, 0x1e, // two-byte integer 30
                ],
            ),
            (
                AUTH,
                AuthenticationMethod("SCRAM".into()),
                &[
                    0x15, // AuthenticationMethod
                    0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // string "SCRAM"
                ],
            ),
            (
                AUTH,
                AuthenticationData(vec![1, 2, 3]),
                &[
                    0x16, // AuthenticationData
                    0x00, 0x03, 0x01, 0x02, 0x03, // binary [1, 2, 3]
                ],
            ),
            (
                CONNECT,
                RequestProblemInformation(0),
                &[
                    0x17, // RequestProblemInformation
                    0x00, // byte 0
                ],
            ),
            (
                WILLMESSAGE,
                WillDelayInterval(60),
                &[
                    0x18, // WillDelayInterval
                    0x00, 0x00, 0x00, 0x3c, // four-byte integer 60
                ],
            ),
            (
                CONNECT,
                RequestResponseInformation(1),
                &[
                    0x19, // RequestResponseInformation
                    0x01, // byte 1
                ],
            ),
            (
                CONNACK,
                ResponseInformation("re/".into()),
                &[
                    0x1a, // ResponseInformation
                    0x00, 0x03, b'r', b'e', b'/', // string "re/"
                ],
            ),
            (
                DISCONNECT,
                ServerReference("b:1".into()),
                &[
                    0x1c, // ServerReference
                    0x00, 0x03, b'b', b':', b'1', // string "b:1"
                ],
            ),
            (
                PUBACK,
                ReasonString("busy".into()),
                &[
                    0x1f, // ReasonString
                    0x00, 0x04, b'b', b'u', b's', b'y', // string "busy"
                ],
            ),
            (
                CONNECT,
                ReceiveMaximum(65_535),
                &[
                    0x21, // ReceiveMaximum
                    0xff, 0xff, // two-byte integer 65,535
                ],
            ),
            (
                CONNACK,
                TopicAliasMaximum(10),
                &[
                    0x22, // TopicAliasMaximum
                    0x00, 0x0a, // two-byte integer 10
                ],
            ),
            (
                PUBLISH,
                TopicAlias(1),
                &[
                    0x23, // TopicAlias
                    0x00, 0x01, // two-byte integer 1
                ],
            ),
            (
                CONNACK,
                MaximumQoS(1),
                &[
                    0x24, // MaximumQoS
                    0x01, // byte 1
                ],
            ),
            (
                CONNACK,
                RetainAvailable(0),
                &[
                    0x25, // RetainAvailable
                    0x00, // byte 0
                ],
            ),
            (
                SUBSCRIBE,
                UserProperty("k".into(), "v".into()),
                &[
                    0x26, // UserProperty
                    0x00, 0x01, b'k', // name "k"
                    0x00, 0x01, b'v', // value "v"
                ],
            ),
            (
                CONNECT,
                MaximumPacketSize(1024),
                &[
                    0x27, // MaximumPacketSize
                    0x00, 0x00, 0x04, 0x00, // four-byte integer 1024
                ],
            ),
            (
                CONNACK,
                WildcardSubscriptionAvailable(1),
                &[
                    0x28, // WildcardSubscriptionAvailable
                    0x01, // byte 1
                ],
            ),
            (
                CONNACK,
                SubscriptionIdentifierAvailable(0),
                &[
                    0x29, // SubscriptionIdentifierAvailable
                    0x00, // byte 0
                ],
            ),
            (
                CONNACK,
                SharedSubscriptionAvailable(1),
                &[
                    0x2a, // SharedSubscriptionAvailable
                    0x01, // byte 1
                ],
            ),
        ]
    }

    #[test]
    fn every_property_round_trips_through_its_bytes() {
        let cases = every_property();
        let mut ids: Vec<u8> = cases.iter().map(|(_, p, _)| p.id()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 27, "one case per property, in identifier order");
        for (packet_type, property, bytes) in cases {
            let mut props = Properties::new(packet_type);
            props.set(property.clone()).unwrap();
            let mut block = vec![bytes.len() as u8]; // property length (one byte: under 128)
            block.extend_from_slice(bytes); // the property
            assert_eq!(encoded(&props), block, "{property:?}");
            assert_eq!(wire_len(&props), block.len(), "{property:?}");
            assert_eq!(decode_all(packet_type, &block), Ok(props), "{property:?}");
        }
    }

    #[test]
    fn an_empty_set_is_one_zero_byte() {
        let props = Properties::new(PUBLISH);
        assert_eq!(encoded(&props), [0x00]); // property length 0
        assert_eq!(wire_len(&props), 1);
        assert_eq!(decode_all(PUBLISH, &[0x00]), Ok(props));
        assert_eq!(wire_len(&Properties::default()), 1);
    }

    #[test]
    fn a_set_is_written_in_the_order_it_keeps_and_read_back_in_that_order() {
        let mut props = Properties::new(PUBLISH);
        props.set(UserProperty("b".into(), "2".into())).unwrap();
        props.set(SubscriptionIdentifier(200)).unwrap();
        props.set(UserProperty("a".into(), "1".into())).unwrap();
        props.set(SubscriptionIdentifier(3)).unwrap();
        props.set(PayloadFormatIndicator(0)).unwrap();
        let bytes = [
            0x15, // property length 21
            0x01, 0x00, // PayloadFormatIndicator 0
            0x0b, 0xc8, 0x01, // SubscriptionIdentifier 200 (two-byte variable byte integer)
            0x0b, 0x03, // SubscriptionIdentifier 3
            0x26, 0x00, 0x01, b'b', 0x00, 0x01, b'2', // UserProperty ("b", "2")
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'1', // UserProperty ("a", "1")
        ];
        assert_eq!(encoded(&props), bytes);
        assert_eq!(decode_all(PUBLISH, &bytes), Ok(props));
    }

    #[test]
    fn a_set_read_in_another_order_is_kept_in_identifier_order() {
        let bytes = [
            0x08, // property length 8
            0x23, 0x00, 0x07, // TopicAlias 7
            0x02, 0x00, 0x00, 0x00, 0x09, // MessageExpiryInterval 9
        ];
        let props = decode_all(PUBLISH, &bytes).unwrap();
        let ids: Vec<u8> = props.iter().map(Property::id).collect();
        assert_eq!(ids, [0x02, 0x23]);
    }

    #[test]
    fn a_block_of_128_bytes_or_more_has_a_two_byte_length() {
        let mut props = Properties::new(PUBACK);
        props.set(ReasonString("x".repeat(200))).unwrap();
        let out = encoded(&props);
        // 1 (identifier) + 2 (string length) + 200 = 203: 0xcb 0x01.
        assert_eq!(&out[..4], [0xcb, 0x01, 0x1f, 0x00]);
        assert_eq!((wire_len(&props), out.len()), (205, 205));
        assert_eq!(decode_all(PUBACK, &out), Ok(props));
    }

    #[test]
    fn leaves_the_reader_after_the_block() {
        let bytes = [
            0x02, // property length 2
            0x01, 0x01, // PayloadFormatIndicator 1
            b'h', b'i', // what follows the block (a payload)
        ];
        let mut r = Reader::new(3, &bytes);
        decode(&mut r, PUBLISH).unwrap();
        assert_eq!(r.rest(), b"hi");
    }

    #[test]
    fn refuses_a_variable_byte_integer_of_five_bytes() {
        for (bytes, what) in [
            (&[0x80, 0x80, 0x80, 0x80, 0x01][..], "the length"),
            (&[0x05, 0x80, 0x80, 0x80, 0x80, 0x01], "an identifier"),
            (
                &[
                    0x06, // property length 6
                    0x0b, // SubscriptionIdentifier
                    0x80, 0x80, 0x80, 0x80, 0x01, // a five-byte value
                ],
                "a SubscriptionIdentifier",
            ),
        ] {
            assert_eq!(
                decode_all(PUBLISH, bytes),
                Err(DecodeError::MalformedVariableByteInteger),
                "{what}"
            );
        }
    }

    #[test]
    fn refuses_a_block_longer_than_the_packet() {
        let bytes = [
            0x05, // property length 5
            0x01, 0x00, // only two bytes follow
        ];
        let e = decode_all(PUBLISH, &bytes).unwrap_err();
        assert_eq!(
            e,
            DecodeError::PropertiesTooLong {
                packet_type: 3,
                declared: 5,
                left: 2
            }
        );
        assert_eq!(
            e.to_string(),
            "PUBLISH property length 5 is over the 2 bytes left in the packet"
        );
        // A length cut in the middle is a truncated packet.
        assert_eq!(
            decode_all(PUBLISH, &[0x80]),
            Err(DecodeError::Truncated { packet_type: 3 })
        );
    }

    #[test]
    fn refuses_an_unknown_identifier() {
        let bytes = [
            0x02, // property length 2
            0x04, 0x00, // identifier 0x04: not defined
        ];
        let e = decode_all(PUBLISH, &bytes).unwrap_err();
        assert_eq!(e, DecodeError::UnknownProperty(4));
        assert_eq!(e.to_string(), "unknown property identifier 0x04");
        let bytes = [
            0x03, // property length 3
            0x80, 0x01, // identifier 128, in two bytes
            0x00, // a value byte
        ];
        assert_eq!(
            decode_all(PUBLISH, &bytes),
            Err(DecodeError::UnknownProperty(128))
        );
    }

    #[test]
    fn refuses_a_property_the_packet_type_may_not_carry() {
        let bytes = [
            0x03, // property length 3
            0x23, 0x00, 0x01, // TopicAlias 1: PUBLISH only
        ];
        let e = decode_all(SUBSCRIBE, &bytes).unwrap_err();
        assert_eq!(
            e,
            DecodeError::PropertyNotAllowed {
                id: 0x23,
                packet_type: 8
            }
        );
        assert_eq!(
            e.to_string(),
            "property TopicAlias is not allowed in SUBSCRIBE properties"
        );
        let bytes = [
            0x05, // property length 5
            0x18, 0x00, 0x00, 0x00, 0x01, // WillDelayInterval 1: the will only
        ];
        assert!(decode_all(WILLMESSAGE, &bytes).is_ok());
        let e = decode_all(PUBLISH, &bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "property WillDelayInterval is not allowed in PUBLISH properties"
        );
        let bytes = [
            0x02, // property length 2
            0x24, 0x01, // MaximumQoS 1: CONNACK only
        ];
        assert_eq!(
            decode_all(WILLMESSAGE, &bytes).unwrap_err().to_string(),
            "property MaximumQoS is not allowed in will properties"
        );
    }

    #[test]
    fn refuses_a_single_valued_property_twice() {
        let bytes = [
            0x04, // property length 4
            0x01, 0x00, // PayloadFormatIndicator 0
            0x01, 0x01, // PayloadFormatIndicator 1, again
        ];
        let e = decode_all(PUBLISH, &bytes).unwrap_err();
        assert_eq!(e, DecodeError::DuplicateProperty(1));
        assert_eq!(
            e.to_string(),
            "property PayloadFormatIndicator appears more than once"
        );
        // Several SubscriptionIdentifiers are for a PUBLISH only: a SUBSCRIBE carries one.
        let bytes = [
            0x04, // property length 4
            0x0b, 0x01, // SubscriptionIdentifier 1
            0x0b, 0x02, // SubscriptionIdentifier 2
        ];
        assert_eq!(
            decode_all(PUBLISH, &bytes)
                .unwrap()
                .subscription_identifiers()
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            decode_all(SUBSCRIBE, &bytes),
            Err(DecodeError::DuplicateProperty(0x0b))
        );
        let bytes = [
            0x0e, // property length 14
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1', // UserProperty ("k", "1")
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1', // the same pair again: allowed
        ];
        assert_eq!(decode_all(SUBSCRIBE, &bytes).unwrap().len(), 2);
    }

    #[test]
    fn refuses_a_value_that_runs_past_the_block_though_not_past_the_packet() {
        let cases: [(&[u8], Option<u8>); 6] = [
            (
                &[
                    0x03, // property length 3
                    0x03, 0x00, 0x05, // ContentType of 5 bytes, but the block ends here
                    b'a', b'b', b'c', b'd', b'e', // the rest of the packet
                ],
                Some(0x03),
            ),
            (
                &[
                    0x04, // property length 4
                    0x09, 0x00, 0x03, 0x01, // CorrelationData of 3 bytes, 1 in the block
                    0x02, 0x03, // the rest of the packet
                ],
                Some(0x09),
            ),
            (
                &[
                    0x05, // property length 5
                    0x26, 0x00, 0x01, b'k', // UserProperty name "k"
                    0x00, // half a value length
                    0x01, b'v', // the rest of the packet
                ],
                Some(0x26),
            ),
            (
                &[
                    0x03, // property length 3
                    0x02, 0x00, 0x00, // MessageExpiryInterval with two of its four bytes
                    0x00, 0x09, // the rest of the packet
                ],
                Some(0x02),
            ),
            (
                &[
                    0x02, // property length 2
                    0x0b, 0x80, // SubscriptionIdentifier cut after a continuation byte
                    0x01, // the rest of the packet
                ],
                Some(0x0b),
            ),
            (
                &[
                    0x01, // property length 1
                    0x80, // an identifier cut after a continuation byte
                    0x01, // the rest of the packet
                ],
                None,
            ),
        ];
        for (bytes, id) in cases {
            let mut r = Reader::new(3, bytes);
            assert_eq!(
                decode(&mut r, PUBLISH),
                Err(DecodeError::PropertyTruncated { packet_type: 3, id }),
                "{bytes:02x?}"
            );
        }
        assert_eq!(
            DecodeError::PropertyTruncated {
                packet_type: 3,
                id: Some(3)
            }
            .to_string(),
            "property ContentType runs past the end of the PUBLISH property block"
        );
        assert_eq!(
            DecodeError::PropertyTruncated {
                packet_type: 99,
                id: None
            }
            .to_string(),
            "a property identifier runs past the end of the will property block"
        );
    }

    /// [MQTT-1.5.4-3]: a property string keeps a leading EF BB BF as U+FEFF, in a pair too.
    #[test]
    fn a_property_string_keeps_its_u_feff() {
        let bytes = [
            0x10, // property length 16
            0x03, 0x00, 0x04, 0xef, 0xbb, 0xbf, b'a', // ContentType "\u{feff}a"
            0x26, 0x00, 0x01, b'k', // UserProperty, key "k"
            0x00, 0x03, 0xef, 0xbb, 0xbf, // value "\u{feff}"
        ];
        let props = decode_all(PUBLISH, &bytes).unwrap();
        assert_eq!(props.content_type(), Some("\u{feff}a"));
        assert_eq!(
            props.user_properties().collect::<Vec<_>>(),
            [("k", "\u{feff}")]
        );
    }

    #[test]
    fn refuses_a_string_that_is_not_utf8_or_holds_u0000() {
        for bytes in [
            &[
                0x04, // property length 4
                0x03, 0x00, 0x01, 0xff, // ContentType: 0xff is never UTF-8
            ][..],
            &[
                0x05, // property length 5
                0x03, 0x00, 0x02, b'a', 0x00, // ContentType "a\0"
            ],
            &[
                0x07, // property length 7
                0x26, 0x00, 0x01, b'k', 0x00, 0x01,
                0xc3, // UserProperty value: a cut sequence
            ],
        ] {
            assert_eq!(
                decode_all(PUBLISH, bytes),
                Err(DecodeError::InvalidUtf8),
                "{bytes:02x?}"
            );
        }
        // Binary data may hold anything.
        let bytes = [
            0x05, // property length 5
            0x09, 0x00, 0x02, 0xff, 0x00, // CorrelationData [0xff, 0x00]
        ];
        assert!(decode_all(PUBLISH, &bytes).is_ok());
    }

    #[test]
    fn refuses_the_values_the_specification_forbids() {
        let cases: [(PacketTypes, &[u8], &str); 12] = [
            (PUBLISH, &[0x01, 0x02], "PayloadFormatIndicator"), // 2: not 0 or 1
            (CONNECT, &[0x17, 0x02], "RequestProblemInformation"), // 2
            (CONNECT, &[0x19, 0x02], "RequestResponseInformation"), // 2
            (CONNACK, &[0x24, 0x02], "MaximumQoS"),             // 2
            (CONNACK, &[0x25, 0x02], "RetainAvailable"),        // 2
            (CONNACK, &[0x28, 0xff], "WildcardSubscriptionAvailable"), // 255
            (CONNACK, &[0x29, 0x02], "SubscriptionIdentifierAvailable"), // 2
            (CONNACK, &[0x2a, 0x02], "SharedSubscriptionAvailable"), // 2
            (CONNECT, &[0x21, 0x00, 0x00], "ReceiveMaximum"),   // 0
            (PUBLISH, &[0x23, 0x00, 0x00], "TopicAlias"),       // 0
            (SUBSCRIBE, &[0x0b, 0x00], "SubscriptionIdentifier"), // 0
            (
                CONNACK,
                &[0x27, 0x00, 0x00, 0x00, 0x00],
                "MaximumPacketSize",
            ), // 0
        ];
        for (packet_type, property, name) in cases {
            let mut bytes = vec![property.len() as u8]; // property length
            bytes.extend_from_slice(property); // the property, with a forbidden value
            let e = decode_all(packet_type, &bytes).unwrap_err();
            assert!(
                matches!(e, DecodeError::InvalidPropertyValue { id, .. } if id == property[0]),
                "{name}: {e:?}"
            );
            assert!(e.to_string().starts_with(name), "{e}");
        }
        assert_eq!(
            DecodeError::InvalidPropertyValue {
                id: 0x24,
                problem: "must be 0 or 1"
            }
            .to_string(),
            "MaximumQoS property value must be 0 or 1"
        );
        // A MaximumPacketSize over what a packet can be is meaningless but legal.
        let bytes = [
            0x05, // property length 5
            0x27, 0xff, 0xff, 0xff, 0xff, // MaximumPacketSize 0xffffffff
        ];
        assert_eq!(
            decode_all(CONNACK, &bytes).unwrap().maximum_packet_size(),
            Some(u32::MAX)
        );
    }
}
