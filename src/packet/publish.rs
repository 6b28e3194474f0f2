//! PUBLISH, MQTT 3.1.1 and 5.0 section 3.3: an application message, in either direction.

use super::{
    begin_packet, debug_v5_when_set, field_len, properties, write_string, DecodeError, QoS, Reader,
};
use crate::properties::{PacketTypes, Properties};

/// PUBLISH: an application message sent to a topic, by the client to the broker or by the broker to a
/// subscribed client.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// Whether this is a redelivery of a QoS 1 or 2 message (the DUP flag). Always false at QoS 0: the
    /// encoder clears it there, as the specification requires.
    pub dup: bool,
    /// The quality of service the message is delivered with.
    pub qos: QoS,
    /// Whether the broker should keep the message as the topic's retained message (or, from the broker,
    /// whether it is one).
    pub retain: bool,
    /// The topic the message is published to: not empty, no wildcards.
    pub topic: String,
    /// The packet identifier, non-zero at QoS 1 and 2. Not sent at QoS 0 (ignored when encoding, 0 when
    /// decoded).
    pub pkid: u16,
    /// The application message, possibly empty.
    pub payload: Vec<u8>,
    /// MQTT 5: the properties. Not sent in MQTT 3.1.1, and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(Publish { dup, qos, retain, topic, pkid, payload } { properties });

impl Default for Publish {
    /// QoS 0, not a duplicate, not retained, an empty topic (to be set) and payload, no properties.
    fn default() -> Self {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: String::new(),
            pkid: 0,
            payload: Vec::new(),
            properties: Properties::new(PacketTypes::PUBLISH),
        }
    }
}

impl Publish {
    pub(crate) const PACKET_TYPE: u8 = PacketTypes::PUBLISH as u8;

    /// Appends the whole MQTT 3.1.1 packet to `out`; the same as [`Publish::encode_parts`] with this packet's
    /// fields. The properties are not sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        Self::encode_parts(
            out,
            self.dup,
            self.qos,
            self.retain,
            &self.topic,
            self.pkid,
            &self.payload,
        );
    }

    /// Appends the whole MQTT 5 packet to `out`; the same as [`Publish::encode_parts_v5`] with this packet's
    /// fields.
    pub fn encode_v5(&self, out: &mut Vec<u8>) {
        Self::encode_parts_v5(
            out,
            self.dup,
            self.qos,
            self.retain,
            &self.topic,
            self.pkid,
            &self.payload,
            &self.properties,
        );
    }

    /// Appends an MQTT 3.1.1 PUBLISH packet built from borrowed parts, without constructing a [`Publish`]
    /// (the client's publish path). `pkid` is written only at QoS 1 and 2, and `dup` is ignored at QoS 0.
    ///
    /// ```
    /// use pahoish::packet::Publish;
    /// use pahoish::QoS;
    /// let mut out = Vec::new();
    /// Publish::encode_parts(&mut out, false, QoS::AtMostOnce, false, "a/b", 0, b"hi");
    /// assert_eq!(out, [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i']);
    /// ```
    pub fn encode_parts(
        out: &mut Vec<u8>,
        dup: bool,
        qos: QoS,
        retain: bool,
        topic: &str,
        pkid: u16,
        payload: &[u8],
    ) {
        let remaining = Self::parts_remaining_length(topic.len(), qos, payload.len());
        Self::write_head(out, dup, qos, retain, topic, pkid, remaining);
        out.extend_from_slice(payload);
    }

    /// [`encode_parts`](Publish::encode_parts) in MQTT 5: the properties (an empty set is one byte, the
    /// property length 0) come between the packet identifier and the payload. The topic may be empty when
    /// the properties hold a `TopicAlias`.
    ///
    /// ```
    /// use pahoish::packet::Publish;
    /// use pahoish::{PacketTypes, Properties, QoS};
    /// let mut out = Vec::new();
    /// let props = Properties::new(PacketTypes::PUBLISH);
    /// Publish::encode_parts_v5(&mut out, false, QoS::AtMostOnce, false, "a/b", 0, b"hi", &props);
    /// assert_eq!(out, [0x30, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, b'h', b'i']);
    /// ```
    #[allow(clippy::too_many_arguments)] // encode_parts' arguments and the properties
    pub fn encode_parts_v5(
        out: &mut Vec<u8>,
        dup: bool,
        qos: QoS,
        retain: bool,
        topic: &str,
        pkid: u16,
        payload: &[u8],
        properties: &Properties,
    ) {
        let remaining =
            Self::parts_remaining_length_v5(topic.len(), qos, payload.len(), properties);
        Self::write_head(out, dup, qos, retain, topic, pkid, remaining);
        properties::encode(properties, out);
        out.extend_from_slice(payload);
    }

    /// [`encode_parts_v5`](Publish::encode_parts_v5) with a Topic Alias added after `properties`
    /// (which hold none); `topic` is what goes on the wire: the full topic when the alias is set, empty
    /// when it is used.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode_parts_v5_aliased(
        out: &mut Vec<u8>,
        dup: bool,
        qos: QoS,
        retain: bool,
        topic: &str,
        pkid: u16,
        payload: &[u8],
        properties: &Properties,
        alias: u16,
    ) {
        let remaining = Self::parts_remaining_length(topic.len(), qos, payload.len())
            + properties::wire_len_with_alias(properties);
        Self::write_head(out, dup, qos, retain, topic, pkid, remaining);
        properties::encode_with_alias(properties, alias, out);
        out.extend_from_slice(payload);
    }

    /// Reserves room for the whole packet and appends what both versions begin with: the fixed header
    /// (DUP cleared at QoS 0), the topic and, at QoS 1 and 2, the packet identifier.
    #[inline]
    fn write_head(
        out: &mut Vec<u8>,
        dup: bool,
        qos: QoS,
        retain: bool,
        topic: &str,
        pkid: u16,
        remaining: usize,
    ) {
        let dup = dup && qos != QoS::AtMostOnce;
        let header =
            (Self::PACKET_TYPE << 4) | (u8::from(dup) << 3) | ((qos as u8) << 1) | u8::from(retain);
        begin_packet(out, header, remaining);
        write_string(out, topic);
        if qos != QoS::AtMostOnce {
            out.extend_from_slice(&pkid.to_be_bytes());
        }
    }

    /// The remaining length of an MQTT 3.1.1 PUBLISH with a topic of `topic_len` bytes, the given QoS and a
    /// payload of `payload_len` bytes: what [`Publish::encode_parts`] writes after the fixed header.
    pub fn parts_remaining_length(topic_len: usize, qos: QoS, payload_len: usize) -> usize {
        let pkid_len = if qos == QoS::AtMostOnce { 0 } else { 2 };
        field_len(topic_len) + pkid_len + payload_len
    }

    /// The remaining length of an MQTT 5 PUBLISH: what [`Publish::encode_parts_v5`] writes after the fixed
    /// header, the property block included.
    pub fn parts_remaining_length_v5(
        topic_len: usize,
        qos: QoS,
        payload_len: usize,
        properties: &Properties,
    ) -> usize {
        Self::parts_remaining_length(topic_len, qos, payload_len) + properties::wire_len(properties)
    }

    /// Decodes an MQTT 3.1.1 PUBLISH body whose fixed-header flags (DUP, QoS, RETAIN) are `flags`.
    ///
    /// Fails on QoS 3, DUP at QoS 0, a topic that is empty, not UTF-8 or holds a wildcard, and packet
    /// identifier 0 at QoS 1 or 2. Everything after the topic (and packet identifier) is the payload.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_reusing(flags, body, Vec::new())
    }

    /// As [`decode`](Publish::decode), with the payload copied into `buf` (cleared first) instead of a
    /// new allocation: the loop passes the buffer of a message it has delivered.
    pub fn decode_reusing(flags: u8, body: &[u8], buf: Vec<u8>) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, buf, false)
    }

    /// Decodes an MQTT 5 PUBLISH body: as [`decode`](Publish::decode), with the properties after the packet
    /// identifier. An empty topic is accepted when the properties hold a `TopicAlias` (the receiver's
    /// alias table names the topic).
    pub fn decode_v5(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_reusing_v5(flags, body, Vec::new())
    }

    /// As [`decode_v5`](Publish::decode_v5), with the payload copied into `buf` (cleared first), as
    /// [`decode_reusing`](Publish::decode_reusing) does.
    pub fn decode_reusing_v5(flags: u8, body: &[u8], buf: Vec<u8>) -> Result<Self, DecodeError> {
        Self::decode_as(flags, body, buf, true)
    }

    fn decode_as(flags: u8, body: &[u8], mut buf: Vec<u8>, v5: bool) -> Result<Self, DecodeError> {
        let (mut publish, payload_at) = Self::decode_fields(flags, body, v5)?;
        buf.clear();
        buf.extend_from_slice(&body[payload_at..]);
        publish.payload = buf;
        Ok(publish)
    }

    /// Decodes the PUBLISH whose body is `packet[body_at..]` with no copy of its payload: `packet`
    /// becomes the payload (its bytes moved to the front). For a large message, whose buffer would
    /// otherwise be held twice while the payload is copied out of it.
    pub(crate) fn decode_taking(
        flags: u8,
        mut packet: Vec<u8>,
        body_at: usize,
        v5: bool,
    ) -> Result<Self, DecodeError> {
        let (mut publish, payload_at) = Self::decode_fields(flags, &packet[body_at..], v5)?;
        packet.drain(..body_at + payload_at);
        publish.payload = packet;
        Ok(publish)
    }

    /// Everything of a PUBLISH but its payload (left empty), and where in `body` the payload starts.
    fn decode_fields(flags: u8, body: &[u8], v5: bool) -> Result<(Self, usize), DecodeError> {
        let qos = QoS::try_from((flags >> 1) & 0x03)?;
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::InvalidFlags {
                packet_type: Self::PACKET_TYPE,
                flags,
            });
        }
        let mut r = Reader::new(Self::PACKET_TYPE, body);
        let topic = r.string()?;
        // MQTT 5 may leave the topic to a TopicAlias, which only the properties further on can show.
        if topic.is_empty() && !v5 {
            return Err(DecodeError::Protocol("empty topic in PUBLISH"));
        }
        if topic.contains(['+', '#']) {
            return Err(DecodeError::Protocol("wildcard in PUBLISH topic"));
        }
        let pkid = if qos == QoS::AtMostOnce {
            0
        } else {
            match r.u16()? {
                0 => return Err(DecodeError::ZeroPacketId),
                pkid => pkid,
            }
        };
        let properties = properties::decode_if(v5, &mut r, PacketTypes::PUBLISH)?;
        if topic.is_empty() && properties.topic_alias().is_none() {
            return Err(DecodeError::Protocol(
                "empty topic in PUBLISH without a TopicAlias",
            ));
        }
        let payload_at = body.len() - r.rest().len();
        Ok((
            Publish {
                dup,
                qos,
                retain,
                topic: topic.to_owned(),
                pkid,
                payload: Vec::new(),
                properties,
            },
            payload_at,
        ))
    }

    /// The length of the MQTT 3.1.1 body after the fixed header: topic, packet identifier (QoS 1 and 2) and
    /// payload.
    pub fn remaining_length(&self) -> usize {
        Self::parts_remaining_length(self.topic.len(), self.qos, self.payload.len())
    }

    /// The length of the MQTT 5 body after the fixed header: as in 3.1.1, and the property block.
    pub fn remaining_length_v5(&self) -> usize {
        Self::parts_remaining_length_v5(
            self.topic.len(),
            self.qos,
            self.payload.len(),
            &self.properties,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An automatic alias: set (topic and alias) and used (empty topic, alias), after the message's
    /// own properties.
    #[test]
    fn aliased_encodings() {
        let mut out = Vec::new();
        Publish::encode_parts_v5_aliased(
            &mut out,
            false,
            QoS::AtMostOnce,
            false,
            "a/b",
            0,
            b"x",
            &Properties::default(),
            1,
        );
        #[rustfmt::skip]
        assert_eq!(out, [
            0x30, 0x0a, // PUBLISH QoS 0, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x03, 0x23, 0x00, 0x01, // properties: Topic Alias 1
            b'x',
        ]);
        out.clear();
        let props = Properties::new(crate::properties::PacketTypes::PUBLISH)
            .with(crate::properties::Property::ContentType("t".into()))
            .unwrap();
        Publish::encode_parts_v5_aliased(
            &mut out,
            true,
            QoS::AtLeastOnce,
            false,
            "",
            7,
            b"x",
            &props,
            258,
        );
        #[rustfmt::skip]
        assert_eq!(out, [
            0x3a, 0x0d, // PUBLISH QoS 1 DUP, remaining length 13
            0x00, 0x00, // empty topic
            0x00, 0x07, // packet identifier 7
            0x07, 0x03, 0x00, 0x01, b't', 0x23, 0x01, 0x02, // Content Type "t", Topic Alias 258
            b'x',
        ]);
        let decoded = Publish::decode_v5(0x0a, &out[2..]).unwrap();
        assert_eq!(decoded.properties.topic_alias(), Some(258));
        assert_eq!(decoded.properties.content_type(), Some("t"));
    }
    use crate::packet::{decode, frame, vbi_len, Packet};
    use crate::properties::Property;

    const QOS0: [u8; 9] = [
        0x30, 0x07, // PUBLISH, QoS 0, no DUP, no RETAIN; remaining length 7
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        b'h', b'i', // payload "hi"
    ];

    const QOS1_DUP_RETAIN: [u8; 11] = [
        0x3b,
        0x09, // PUBLISH, DUP (bit 3), QoS 1 (bits 2-1 = 01), RETAIN (bit 0); remaining length 9
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, 0x0a, // packet identifier 10
        b'h', b'i', // payload "hi"
    ];

    const QOS2_EMPTY: [u8; 7] = [
        0x34, 0x05, // PUBLISH, QoS 2 (bits 2-1 = 10); remaining length 5
        0x00, 0x01, b't', // topic "t"
        0xff, 0xff, // packet identifier 65535, then an empty payload
    ];

    fn qos0() -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a/b".into(),
            pkid: 0,
            payload: b"hi".to_vec(),
            ..Publish::default()
        }
    }

    fn qos1_dup_retain() -> Publish {
        Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b".into(),
            pkid: 10,
            payload: b"hi".to_vec(),
            ..Publish::default()
        }
    }

    fn qos2_empty() -> Publish {
        Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: "t".into(),
            pkid: 0xffff,
            payload: Vec::new(),
            ..Publish::default()
        }
    }

    fn cases() -> [(Publish, &'static [u8]); 3] {
        [
            (qos0(), &QOS0),
            (qos1_dup_retain(), &QOS1_DUP_RETAIN),
            (qos2_empty(), &QOS2_EMPTY),
        ]
    }

    fn encoded(p: &Publish) -> Vec<u8> {
        let mut out = Vec::new();
        p.encode(&mut out);
        out
    }

    #[test]
    fn encodes_to_the_spec_bytes() {
        for (p, bytes) in cases() {
            assert_eq!(encoded(&p), bytes, "{p:?}");
            assert_eq!(p.remaining_length(), bytes.len() - 2);
        }
    }

    #[test]
    fn encode_parts_matches_encode_and_appends() {
        for (p, bytes) in cases() {
            let mut out = vec![0xaa];
            Publish::encode_parts(
                &mut out, p.dup, p.qos, p.retain, &p.topic, p.pkid, &p.payload,
            );
            assert_eq!(out[0], 0xaa);
            assert_eq!(&out[1..], bytes);
            assert_eq!(
                Publish::parts_remaining_length(p.topic.len(), p.qos, p.payload.len()),
                p.remaining_length()
            );
        }
    }

    #[test]
    fn decodes_the_spec_bytes() {
        for (p, bytes) in cases() {
            assert_eq!(Publish::decode(bytes[0] & 0x0f, &bytes[2..]), Ok(p.clone()));
            assert_eq!(
                decode(bytes, 1024),
                Ok(Some((Packet::Publish(p), bytes.len())))
            );
        }
    }

    #[test]
    fn decode_reusing_copies_the_payload_into_the_given_buffer() {
        let (p, bytes) = cases().into_iter().last().expect("a case");
        let mut spare = Vec::with_capacity(4096);
        spare.extend_from_slice(b"left over from the last message");
        let at = spare.as_ptr();
        let got = Publish::decode_reusing(bytes[0] & 0x0f, &bytes[2..], spare).unwrap();
        assert_eq!(got, p);
        assert_eq!(
            got.payload.as_ptr(),
            at,
            "a new allocation instead of the spare"
        );
    }

    #[test]
    fn round_trips_every_flag_combination() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for dup in [false, true] {
                for retain in [false, true] {
                    let p = Publish {
                        dup: dup && qos != QoS::AtMostOnce,
                        qos,
                        retain,
                        topic: "sensors/\u{e9}t\u{e9}/\u{1f321}".into(),
                        pkid: if qos == QoS::AtMostOnce { 0 } else { 0x1234 },
                        payload: vec![0, 1, 2, 0xff],
                        ..Publish::default()
                    };
                    let out = encoded(&p);
                    assert_eq!(out.len(), 2 + p.remaining_length());
                    assert_eq!(Publish::decode(out[0] & 0x0f, &out[2..]), Ok(p));
                }
            }
        }
    }

    #[test]
    fn qos0_never_carries_dup_or_a_packet_identifier() {
        let p = Publish {
            dup: true,
            pkid: 77,
            ..qos0()
        };
        assert_eq!(encoded(&p), QOS0);
        assert_eq!(p.remaining_length(), QOS0.len() - 2);
    }

    #[test]
    fn rejects_qos_3() {
        for flags in [0b0110, 0b0111, 0b1110, 0b1111] {
            assert_eq!(
                Publish::decode(flags, &QOS0[2..]),
                Err(DecodeError::InvalidQoS(3))
            );
        }
    }

    #[test]
    fn rejects_dup_at_qos0() {
        for flags in [0b1000, 0b1001] {
            assert_eq!(
                Publish::decode(flags, &QOS0[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 3,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_a_topic_that_is_not_utf8() {
        let body = [
            0x00, 0x02, 0xc3, 0x28, // topic: an invalid two-byte UTF-8 sequence
            b'x', // payload
        ];
        assert_eq!(Publish::decode(0, &body), Err(DecodeError::InvalidUtf8));
        let body = [
            0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b": U+0000 is not allowed
        ];
        assert_eq!(Publish::decode(0, &body), Err(DecodeError::InvalidUtf8));
    }

    /// [MQTT-1.5.3-3], [MQTT-1.5.4-3]: EF BB BF is U+FEFF wherever it is, never skipped or stripped.
    #[test]
    fn a_topic_starting_with_ef_bb_bf_keeps_its_u_feff() {
        let body = [
            0x00, 0x04, 0xef, 0xbb, 0xbf, b'a', // topic "\u{feff}a"
            b'x', // payload
        ];
        let p = Publish::decode(0, &body).unwrap();
        assert_eq!((p.topic.as_str(), &p.payload[..]), ("\u{feff}a", &b"x"[..]));
        let body_v5 = [
            0x00, 0x04, 0xef, 0xbb, 0xbf, b'a', // topic "\u{feff}a"
            0x00, // property length 0
            b'x', // payload
        ];
        let p = Publish::decode_v5(0, &body_v5).unwrap();
        assert_eq!((p.topic.as_str(), &p.payload[..]), ("\u{feff}a", &b"x"[..]));
    }

    #[test]
    fn rejects_an_empty_topic() {
        let body = [
            0x00, 0x00, // topic: empty
            b'x', // payload
        ];
        assert_eq!(
            Publish::decode(0, &body),
            Err(DecodeError::Protocol("empty topic in PUBLISH"))
        );
    }

    #[test]
    fn rejects_wildcards_in_the_topic() {
        for topic in [&b"a/+"[..], b"#", b"a/#", b"+/b"] {
            let mut body = vec![0x00, topic.len() as u8]; // topic length
            body.extend_from_slice(topic); // topic with a wildcard
            assert_eq!(
                Publish::decode(0, &body),
                Err(DecodeError::Protocol("wildcard in PUBLISH topic"))
            );
        }
    }

    #[test]
    fn rejects_packet_identifier_zero_at_qos_1_and_2() {
        for flags in [0b0010, 0b0100] {
            let body = [
                0x00, 0x01, b't', // topic "t"
                0x00, 0x00, // packet identifier 0
            ];
            assert_eq!(
                Publish::decode(flags, &body),
                Err(DecodeError::ZeroPacketId)
            );
        }
    }

    #[test]
    fn a_body_cut_before_the_payload_is_truncated_and_after_it_is_a_shorter_payload() {
        for (p, bytes) in cases() {
            let body = &bytes[2..];
            let payload_start = body.len() - p.payload.len();
            for n in 0..body.len() {
                let got = Publish::decode(bytes[0] & 0x0f, &body[..n]);
                if n < payload_start {
                    assert_eq!(
                        got,
                        Err(DecodeError::Truncated { packet_type: 3 }),
                        "cut at {n}"
                    );
                } else {
                    let shorter = Publish {
                        payload: body[payload_start..n].to_vec(),
                        ..p.clone()
                    };
                    assert_eq!(got, Ok(shorter), "cut at {n}");
                }
            }
        }
    }

    #[test]
    fn a_topic_length_past_the_end_is_truncated() {
        let body = [
            0x00, 0x05, b'a', b'b', // topic length 5, only 2 bytes follow
        ];
        assert_eq!(
            Publish::decode(0, &body),
            Err(DecodeError::Truncated { packet_type: 3 })
        );
    }

    #[test]
    fn a_64_kib_payload_round_trips_with_three_length_bytes() {
        let payload: Vec<u8> = (0..65_536u32).map(|i| (i % 251) as u8).collect();
        let p = Publish {
            payload,
            pkid: 9,
            ..qos1_dup_retain()
        };
        // 2 + 3 (topic) + 2 (packet identifier) + 65536 = 65543 = 0x10007:
        // 0x87 (7 | continuation), 0x80 (0 | continuation), 0x04.
        assert_eq!(p.remaining_length(), 65_543);
        let out = encoded(&p);
        assert_eq!(&out[..4], [0x3b, 0x87, 0x80, 0x04]);
        assert_eq!(out.len(), 4 + 65_543);
        let f = frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!((f.header_len, f.remaining_length), (4, 65_543));
        assert_eq!(
            decode(&out, 1 << 20),
            Ok(Some((Packet::Publish(p), out.len())))
        );
    }

    #[test]
    fn the_length_byte_count_changes_at_128_and_16384() {
        // Remaining length = 2 + 1 (topic "t") + payload length, at QoS 0.
        let cases: &[(usize, &[u8])] = &[
            (127, &[0x30, 0x7f]),
            (128, &[0x30, 0x80, 0x01]),
            (16_383, &[0x30, 0xff, 0x7f]),
            (16_384, &[0x30, 0x80, 0x80, 0x01]),
        ];
        for (remaining, header) in cases {
            let p = Publish {
                topic: "t".into(),
                payload: vec![7; remaining - 3],
                ..qos0()
            };
            assert_eq!(p.remaining_length(), *remaining);
            let out = encoded(&p);
            assert_eq!(&out[..header.len()], *header);
            assert_eq!(out.len(), header.len() + remaining);
            assert_eq!(Publish::decode(0, &out[header.len()..]), Ok(p));
        }
    }

    #[test]
    fn an_overlong_topic_is_cut_consistently_with_remaining_length() {
        let p = Publish {
            topic: "x".repeat(70_000),
            ..qos0()
        };
        let out = encoded(&p);
        assert_eq!(p.remaining_length(), 2 + 65_535 + 2);
        assert_eq!(
            out.len(),
            1 + vbi_len(p.remaining_length()) + p.remaining_length()
        );
    }

    /// MQTT 5 at QoS 0 without properties: the property length 0 is still there.
    const V5_QOS0: [u8; 10] = [
        0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, // property length 0
        b'h', b'i', // payload "hi"
    ];

    /// MQTT 5 at QoS 1 with properties.
    const V5_QOS1_PROPERTIES: [u8; 22] = [
        0x32, 0x14, // PUBLISH, QoS 1; remaining length 20
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, 0x0a, // packet identifier 10
        0x0a, // property length 10
        0x01, 0x01, // PayloadFormatIndicator 1: UTF-8 text
        0x02, 0x00, 0x00, 0x00, 0x3c, // MessageExpiryInterval 60
        0x23, 0x00, 0x03, // TopicAlias 3
        b'h', b'i', // payload "hi"
    ];

    /// MQTT 5 with an empty topic: the TopicAlias names it.
    const V5_ALIAS_ONLY: [u8; 9] = [
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x00, // topic "" (empty)
        0x03, // property length 3
        0x23, 0x00, 0x03, // TopicAlias 3
        b'x', // payload "x"
    ];

    fn v5_cases() -> [(Publish, &'static [u8]); 3] {
        let mut with_alias = Properties::new(PacketTypes::PUBLISH);
        with_alias.set(Property::TopicAlias(3)).unwrap();
        let mut qos1 = with_alias.clone();
        qos1.set(Property::PayloadFormatIndicator(1)).unwrap();
        qos1.set(Property::MessageExpiryInterval(60)).unwrap();
        [
            (qos0(), &V5_QOS0),
            (
                Publish {
                    dup: false,
                    retain: false,
                    properties: qos1,
                    ..qos1_dup_retain()
                },
                &V5_QOS1_PROPERTIES,
            ),
            (
                Publish {
                    topic: String::new(),
                    payload: b"x".to_vec(),
                    properties: with_alias,
                    ..qos0()
                },
                &V5_ALIAS_ONLY,
            ),
        ]
    }

    #[test]
    fn mqtt5_encodes_and_decodes_the_spec_bytes() {
        for (p, bytes) in v5_cases() {
            crate::packet::assert_form(
                p,
                bytes,
                Publish::encode_v5,
                Publish::remaining_length_v5,
                Publish::decode_v5,
            );
        }
    }

    #[test]
    fn encode_parts_v5_matches_encode_v5_and_appends() {
        for (p, bytes) in v5_cases() {
            let mut out = vec![0xaa];
            Publish::encode_parts_v5(
                &mut out,
                p.dup,
                p.qos,
                p.retain,
                &p.topic,
                p.pkid,
                &p.payload,
                &p.properties,
            );
            assert_eq!(out[0], 0xaa);
            assert_eq!(&out[1..], bytes);
            assert_eq!(
                Publish::parts_remaining_length_v5(
                    p.topic.len(),
                    p.qos,
                    p.payload.len(),
                    &p.properties
                ),
                p.remaining_length_v5()
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_properties_out() {
        let (p, _) = v5_cases().into_iter().nth(1).expect("a case");
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(
            out,
            [
                0x32, 0x09, // PUBLISH, QoS 1; remaining length 9
                0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
                0x00, 0x0a, // packet identifier 10
                b'h', b'i', // payload "hi"
            ]
        );
    }

    #[test]
    fn mqtt5_decode_reusing_copies_the_payload_into_the_given_buffer() {
        let mut spare = Vec::with_capacity(4096);
        spare.extend_from_slice(b"left over");
        let at = spare.as_ptr();
        let got = Publish::decode_reusing_v5(0x02, &V5_QOS1_PROPERTIES[2..], spare).unwrap();
        assert_eq!(got.payload, b"hi");
        assert_eq!(
            got.payload.as_ptr(),
            at,
            "a new allocation instead of the spare"
        );
    }

    #[test]
    fn mqtt5_rejects_an_empty_topic_without_a_topic_alias() {
        let body = [
            0x00, 0x00, // topic "" (empty)
            0x00, // property length 0: no TopicAlias
            b'x', // payload
        ];
        assert_eq!(
            Publish::decode_v5(0, &body),
            Err(DecodeError::Protocol(
                "empty topic in PUBLISH without a TopicAlias"
            ))
        );
        // MQTT 3.1.1 refuses it before looking further.
        assert_eq!(
            Publish::decode(0, &body),
            Err(DecodeError::Protocol("empty topic in PUBLISH"))
        );
    }

    #[test]
    fn mqtt5_rejects_what_it_must() {
        let cases: [(u8, &[u8], DecodeError); 5] = [
            (
                0x00,
                &[
                    0x00, 0x01, b'+', // topic "+": a wildcard
                    0x00, // property length 0
                ],
                DecodeError::Protocol("wildcard in PUBLISH topic"),
            ),
            (
                0x00,
                &[
                    0x00, 0x01, b't', // topic "t"
                    0x03, 0x21, 0x00,
                    0x01, // property length 3: ReceiveMaximum 1, a CONNECT property
                ],
                DecodeError::PropertyNotAllowed {
                    id: 0x21,
                    packet_type: 3,
                },
            ),
            (
                0x00,
                &[
                    0x00, 0x01, b't', // topic "t"
                    0x03, 0x23, 0x00, 0x00, // property length 3: TopicAlias 0
                ],
                DecodeError::InvalidPropertyValue {
                    id: 0x23,
                    problem: "must be in the range 1-65535",
                },
            ),
            (
                0x02,
                &[
                    0x00, 0x01, b't', // topic "t"
                    0x00, 0x00, // packet identifier 0 at QoS 1
                    0x00, // property length 0
                ],
                DecodeError::ZeroPacketId,
            ),
            (
                0x00,
                &[
                    0x00, 0x01, b't', // topic "t"
                    0x09, 0x26, 0x00, // property length 9, of which two bytes remain
                ],
                DecodeError::PropertiesTooLong {
                    packet_type: 3,
                    declared: 9,
                    left: 2,
                },
            ),
        ];
        for (flags, body, e) in cases {
            assert_eq!(Publish::decode_v5(flags, body), Err(e), "{body:02x?}");
        }
        assert_eq!(
            Publish::decode_v5(0b0110, &V5_QOS0[2..]),
            Err(DecodeError::InvalidQoS(3))
        );
        assert!(matches!(
            Publish::decode_v5(0b1000, &V5_QOS0[2..]),
            Err(DecodeError::InvalidFlags { .. })
        ));
        // Cut before the property length: truncated, not an empty property block.
        assert_eq!(
            Publish::decode_v5(0, &V5_QOS0[2..7]),
            Err(DecodeError::Truncated { packet_type: 3 })
        );
    }
}
