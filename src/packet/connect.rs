//! CONNECT, MQTT 3.1.1 and 5.0 section 3.1 (and its MQTT 3.1 form): the first packet a client sends.
//!
//! Unlike the other packets, CONNECT names its own protocol version, so one `encode` and one `decode` serve
//! every version: the `protocol` field, or the level in the bytes, decides the form.

use super::{
    begin_packet, check_flags, debug_v5_when_set, field_len, properties, write_bytes, write_string,
    DecodeError, Protocol, QoS, Reader,
};
use crate::properties::{PacketTypes, Properties};
use crate::types::Redacted;

/// Connect flag bits (MQTT 3.1.1 section 3.1.2.3; in MQTT 5 clean session is named clean start).
const RESERVED: u8 = 0x01;
const CLEAN_SESSION: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
/// The protocol-level bit that marks a bridge (mosquitto's convention, which Paho follows).
const BRIDGE: u8 = 0x80;

/// CONNECT: the first packet of a connection, naming the protocol version, the client and its session,
/// keepalive, credentials and last will.
///
/// The encoder writes the fields as given; checks such as "a password needs a user name" (which the 3.1.1
/// decoder enforces) are the caller's job.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol version, which also decides the packet's form: [`Protocol::V31`] (name `MQIsdp`,
    /// level 3), [`Protocol::V311`] (`MQTT`, level 4) or [`Protocol::V5`] (`MQTT`, level 5, with properties).
    pub protocol: Protocol,
    /// The client identifier (may be empty in MQTT 3.1.1 when `clean_session` is set, and in MQTT 5).
    pub client_id: String,
    /// Whether the broker should discard any previous session and start a new one (MQTT 5's clean start).
    pub clean_session: bool,
    /// The keepalive interval in seconds; 0 turns the keepalive mechanism off.
    pub keepalive: u16,
    /// The user name, if any.
    pub username: Option<String>,
    /// The password, if any (binary data; MQTT 3.1/3.1.1 require a user name with it, MQTT 5 does not).
    pub password: Option<Vec<u8>>,
    /// The message the broker publishes if the connection ends without a DISCONNECT.
    pub will: Option<LastWill>,
    /// MQTT 5: the properties (after the keepalive). Not sent in MQTT 3.1/3.1.1, and empty when decoded
    /// there.
    pub properties: Properties,
    /// Bridge mode (Paho's `enable_bridge_mode`): the high bit of the protocol level is set (0x83,
    /// 0x84 or 0x85), which mosquitto and RSMB read as "this client is a bridge" (no own messages
    /// echoed back, retain flags kept as published). Not part of the MQTT standard.
    pub bridge: bool,
}

/// The password is not printed (this Debug reaches logs and `TestBroker::packets()` output); the MQTT 5
/// properties only when set, as the other packets print them.
impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Connect");
        d.field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("keepalive", &self.keepalive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("will", &self.will);
        if self.bridge {
            d.field("bridge", &self.bridge);
        }
        if self.properties.authentication_data().is_some() {
            // Enhanced authentication's data may be a credential: shown as the password is.
            let mut shown = self.properties.clone();
            shown.remove(0x16);
            d.field("properties", &shown)
                .field("authentication_data", &Redacted);
        } else if !self.properties.is_empty() {
            d.field("properties", &self.properties);
        }
        d.finish()
    }
}

impl Default for Connect {
    /// MQTT 3.1.1, an empty client id, no clean session, keepalive 0 (off), no credentials, no will, no
    /// properties: every field's zero, for `..Connect::default()`.
    fn default() -> Self {
        Connect {
            protocol: Protocol::V311,
            client_id: String::new(),
            clean_session: false,
            keepalive: 0,
            username: None,
            password: None,
            will: None,
            properties: Properties::new(PacketTypes::CONNECT),
            bridge: false,
        }
    }
}

/// The last will of a [`Connect`]: a message the broker publishes for the client when its connection is
/// lost without a DISCONNECT.
#[derive(Clone, PartialEq, Eq)]
pub struct LastWill {
    /// The topic the will is published to: not empty, no wildcards.
    pub topic: String,
    /// The will message (binary, possibly empty).
    pub payload: Vec<u8>,
    /// The QoS the will is published with.
    pub qos: QoS,
    /// Whether the will is published as a retained message.
    pub retain: bool,
    /// MQTT 5: the will's properties (`WILLMESSAGE`, before the will topic). Not sent in MQTT 3.1/3.1.1,
    /// and empty when decoded there.
    pub properties: Properties,
}

debug_v5_when_set!(LastWill { topic, payload, qos, retain } { properties });

impl Default for LastWill {
    /// An empty topic (to be set) and payload, QoS 0, not retained, no properties.
    fn default() -> Self {
        LastWill {
            topic: String::new(),
            payload: Vec::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::new(PacketTypes::WILLMESSAGE),
        }
    }
}

impl Connect {
    const PACKET_TYPE: u8 = PacketTypes::CONNECT as u8;

    /// Appends the whole packet to `out`, in the form of its `protocol`: with [`Protocol::V5`] the
    /// properties follow the keepalive and the will's properties come before the will topic; otherwise
    /// neither is sent.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let v5 = self.protocol == Protocol::V5;
        begin_packet(out, Self::PACKET_TYPE << 4, self.remaining_length());
        write_string(out, self.protocol.name());
        out.push(self.protocol.level() | if self.bridge { BRIDGE } else { 0 });
        out.push(self.connect_flags());
        out.extend_from_slice(&self.keepalive.to_be_bytes());
        if v5 {
            properties::encode(&self.properties, out);
        }
        write_string(out, &self.client_id);
        if let Some(will) = &self.will {
            if v5 {
                properties::encode(&will.properties, out);
            }
            write_string(out, &will.topic);
            write_bytes(out, &will.payload);
        }
        if let Some(username) = &self.username {
            write_string(out, username);
        }
        if let Some(password) = &self.password {
            write_bytes(out, password);
        }
    }

    /// The connect flags byte for this packet's fields.
    fn connect_flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= CLEAN_SESSION;
        }
        if let Some(will) = &self.will {
            flags |= WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        flags
    }

    /// Decodes a CONNECT body (`flags` must be 0), of whichever version its protocol level names.
    ///
    /// Accepts MQTT 3.1 (`MQIsdp`, level 3), 3.1.1 (`MQTT`, level 4) and 5 (`MQTT`, level 5, with its
    /// properties and the will's). Fails on any other protocol name or level, the reserved connect flag,
    /// will QoS 3, will QoS or retain without a will, a password without a user name (before MQTT 5), an
    /// empty or wildcard will topic, invalid UTF-8, a property block MQTT 5 forbids, a missing field or
    /// bytes after the last one.
    pub fn decode(flags: u8, body: &[u8]) -> Result<Self, DecodeError> {
        check_flags(Self::PACKET_TYPE, flags, 0)?;
        let mut r = Reader::new(Self::PACKET_TYPE, body);

        let name = r.bytes()?;
        let level = r.u8()?;
        let bridge = level & BRIDGE != 0;
        let protocol = match (name, level & !BRIDGE) {
            (b"MQIsdp", 3) => Protocol::V31,
            (b"MQTT", 4) => Protocol::V311,
            (b"MQTT", 5) => Protocol::V5,
            _ => return Err(DecodeError::Protocol("unsupported protocol name or level")),
        };

        let cflags = r.u8()?;
        if cflags & RESERVED != 0 {
            return Err(DecodeError::Protocol("reserved CONNECT flag set"));
        }
        let will_qos = QoS::try_from((cflags >> WILL_QOS_SHIFT) & 0x03)?;
        let will_retain = cflags & WILL_RETAIN != 0;
        let has_will = cflags & WILL != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::Protocol(
                "will QoS or retain set without the will flag",
            ));
        }
        let has_username = cflags & USERNAME != 0;
        let has_password = cflags & PASSWORD != 0;
        if has_password && !has_username && protocol != Protocol::V5 {
            return Err(DecodeError::Protocol(
                "password flag set without the user name flag",
            ));
        }
        let keepalive = r.u16()?;
        let v5 = protocol == Protocol::V5;
        let properties = properties::decode_if(v5, &mut r, PacketTypes::CONNECT)?;

        let client_id = r.string()?.to_owned();
        let will = if has_will {
            let properties = properties::decode_if(v5, &mut r, PacketTypes::WILLMESSAGE)?;
            let topic = r.string()?;
            if topic.is_empty() {
                return Err(DecodeError::Protocol("empty will topic in CONNECT"));
            }
            if topic.contains(['+', '#']) {
                return Err(DecodeError::Protocol("wildcard in CONNECT will topic"));
            }
            let payload = r.bytes()?;
            Some(LastWill {
                topic: topic.to_owned(),
                payload: payload.to_vec(),
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(r.string()?.to_owned())
        } else {
            None
        };
        let password = if has_password {
            Some(r.bytes()?.to_vec())
        } else {
            None
        };
        r.finish()?;

        Ok(Connect {
            protocol,
            client_id,
            clean_session: cflags & CLEAN_SESSION != 0,
            keepalive,
            username,
            password,
            will,
            properties,
            bridge,
        })
    }

    /// The length of the body after the fixed header, in the form of `protocol`: variable header
    /// (protocol name and level, flags, keepalive, and in MQTT 5 properties) plus payload.
    pub fn remaining_length(&self) -> usize {
        let v5 = self.protocol == Protocol::V5;
        let properties_len = |p| if v5 { properties::wire_len(p) } else { 0 };
        let mut n = field_len(self.protocol.name().len())
            + 1
            + 1
            + 2
            + properties_len(&self.properties)
            + field_len(self.client_id.len());
        if let Some(will) = &self.will {
            n += properties_len(&will.properties)
                + field_len(will.topic.len())
                + field_len(will.payload.len());
        }
        if let Some(username) = &self.username {
            n += field_len(username.len());
        }
        if let Some(password) = &self.password {
            n += field_len(password.len());
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_mode_sets_the_high_bit_of_the_protocol_level() {
        for (protocol, level) in [
            (Protocol::V31, 0x83),
            (Protocol::V311, 0x84),
            (Protocol::V5, 0x85),
        ] {
            let c = Connect {
                protocol,
                client_id: "b".into(),
                bridge: true,
                ..Connect::default()
            };
            let mut out = Vec::new();
            c.encode(&mut out);
            let name_len = usize::from(out[3]);
            assert_eq!(out[4 + name_len], level, "{protocol:?}: {out:02x?}");
            assert_eq!(Connect::decode(0, &out[2..]), Ok(c));
        }
        // As Paho sends it for a 3.1.1 bridge: MQTT, level 0x84.
        let mut out = Vec::new();
        Connect {
            bridge: true,
            ..minimal_311()
        }
        .encode(&mut out);
        let mut expected = MINIMAL_311.to_vec();
        expected[8] = 0x84;
        assert_eq!(out, expected);
    }

    #[test]
    fn debug_keeps_the_password_out() {
        let c = Connect {
            username: Some("u".into()),
            password: Some(b"s3cret".to_vec()),
            ..Connect::default()
        };
        let text = format!("{c:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("115, 51"),
            "{text}"
        );
        assert!(text.contains("<redacted>"), "{text}");
    }

    /// Enhanced authentication's data may be a credential: Debug does not show it (nor does the on_log
    /// line: `session::tests::log_keeps_the_authentication_data_out`).
    #[test]
    fn debug_keeps_the_authentication_data_out() {
        let mut c = Connect {
            protocol: Protocol::V5,
            ..Connect::default()
        };
        c.properties
            .insert(Property::AuthenticationMethod("TOKEN".into()));
        c.properties
            .insert(Property::AuthenticationData(b"t0ken".to_vec()));
        let text = format!("{c:?}");
        assert!(
            !text.contains("t0ken") && !text.contains("116, 48"),
            "{text}"
        );
        assert!(
            text.contains("TOKEN") && text.contains("<redacted>"),
            "{text}"
        );
    }
    use crate::packet::{decode, Packet};
    use crate::properties::Property;

    const MINIMAL_311: [u8; 17] = [
        0x10, 0x0f, // CONNECT (type 1, flags 0), remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4 (3.1.1)
        0x02, // connect flags: clean session
        0x00, 0x3c, // keepalive 60 s
        0x00, 0x03, b'a', b'b', b'c', // client id "abc"
    ];

    fn minimal_311() -> Connect {
        Connect {
            protocol: Protocol::V311,
            client_id: "abc".into(),
            clean_session: true,
            keepalive: 60,
            username: None,
            password: None,
            will: None,
            ..Connect::default()
        }
    }

    const FULL_31: [u8; 30] = [
        0x10, 0x1c, // CONNECT, remaining length 28
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
        0x03, // protocol level 3 (3.1)
        0xee, // flags: user name, password, will retain, will QoS 1, will, clean session
        0x00, 0x0a, // keepalive 10 s
        0x00, 0x01, b'c', // client id "c"
        0x00, 0x01, b'w', // will topic "w"
        0x00, 0x02, 0x00, 0xff, // will payload [0x00, 0xff]
        0x00, 0x01, b'u', // user name "u"
        0x00, 0x01, 0x01, // password [0x01]
    ];

    fn full_31() -> Connect {
        Connect {
            protocol: Protocol::V31,
            client_id: "c".into(),
            clean_session: true,
            keepalive: 10,
            username: Some("u".into()),
            password: Some(vec![0x01]),
            will: Some(LastWill {
                topic: "w".into(),
                payload: vec![0x00, 0xff],
                qos: QoS::AtLeastOnce,
                retain: true,
                ..LastWill::default()
            }),
            ..Connect::default()
        }
    }

    const USER_AND_WILL_311: [u8; 26] = [
        0x10, 0x18, // CONNECT, remaining length 24
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x94, // flags: user name, will QoS 2, will; no clean session
        0x00, 0x00, // keepalive 0: off
        0x00, 0x00, // client id "" (empty)
        0x00, 0x03, b'a', b'/', b'b', // will topic "a/b"
        0x00, 0x00, // will payload: empty
        0x00, 0x03, b'u', b's', b'r', // user name "usr"
    ];

    fn user_and_will_311() -> Connect {
        Connect {
            protocol: Protocol::V311,
            client_id: String::new(),
            clean_session: false,
            keepalive: 0,
            username: Some("usr".into()),
            password: None,
            will: Some(LastWill {
                topic: "a/b".into(),
                payload: Vec::new(),
                qos: QoS::ExactlyOnce,
                retain: false,
                ..LastWill::default()
            }),
            ..Connect::default()
        }
    }

    fn cases() -> [(Connect, &'static [u8]); 3] {
        [
            (minimal_311(), &MINIMAL_311),
            (full_31(), &FULL_31),
            (user_and_will_311(), &USER_AND_WILL_311),
        ]
    }

    /// A 3.1.1 CONNECT body with connect flags `cflags`, keepalive 0, followed by `payload`.
    fn body_311(cflags: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0x00, // connect flags, replaced by `cflags` below
            0x00, 0x00, // keepalive 0
        ];
        body[7] = cflags;
        body.extend_from_slice(payload);
        body
    }

    #[test]
    fn encodes_to_the_spec_bytes() {
        for (p, bytes) in cases() {
            let mut out = vec![0xaa];
            p.encode(&mut out);
            assert_eq!(&out[1..], bytes, "{p:?}");
            assert_eq!(p.remaining_length(), bytes.len() - 2);
        }
    }

    #[test]
    fn decodes_the_spec_bytes() {
        for (p, bytes) in cases() {
            assert_eq!(Connect::decode(0, &bytes[2..]), Ok(p.clone()));
            assert_eq!(
                decode(bytes, 1024),
                Ok(Some((Packet::Connect(p), bytes.len())))
            );
        }
    }

    #[test]
    fn round_trips_every_combination_of_optional_fields() {
        for protocol in [Protocol::V31, Protocol::V311] {
            for mask in 0..16u8 {
                for will_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                    let has_username = mask & 1 != 0;
                    let p = Connect {
                        protocol,
                        client_id: "client-\u{e9}".into(),
                        clean_session: mask & 2 != 0,
                        keepalive: 0xfffe,
                        username: has_username.then(|| "user".into()),
                        password: (has_username && mask & 4 != 0).then(|| vec![0, 1, 2]),
                        will: (mask & 8 != 0).then(|| LastWill {
                            topic: "will/topic".into(),
                            payload: b"gone".to_vec(),
                            qos: will_qos,
                            retain: mask & 2 == 0,
                            ..LastWill::default()
                        }),
                        ..Connect::default()
                    };
                    let mut out = Vec::new();
                    p.encode(&mut out);
                    assert_eq!(out.len(), 2 + p.remaining_length());
                    assert_eq!(Connect::decode(out[0] & 0x0f, &out[2..]), Ok(p));
                }
            }
        }
    }

    #[test]
    fn rejects_every_nonzero_flag_value() {
        for flags in 1..16 {
            assert_eq!(
                Connect::decode(flags, &MINIMAL_311[2..]),
                Err(DecodeError::InvalidFlags {
                    packet_type: 1,
                    flags
                })
            );
        }
    }

    #[test]
    fn rejects_unsupported_protocol_names_and_levels() {
        let cases: &[(&[u8], u8)] = &[
            (b"MQTT", 3),
            (b"MQIsdp", 4),
            (b"MQTX", 4),
            (b"", 4),
            (b"MQTT", 0),
            (b"MQTT", 6),
            (b"MQIsdp", 5),
            (b"\xff\xfe", 4),
        ];
        for (name, level) in cases {
            let mut body = vec![0x00, name.len() as u8]; // protocol name length
            body.extend_from_slice(name); // protocol name
            body.extend_from_slice(&[
                *level, 0x02, // protocol level; flags: clean session
                0x00, 0x00, // keepalive
                0x00, 0x00, // client id ""
            ]);
            assert_eq!(
                Connect::decode(0, &body),
                Err(DecodeError::Protocol("unsupported protocol name or level")),
                "{name:?} level {level}"
            );
        }
    }

    /// MQTT 5 with every field: properties, a will with properties, user name and password.
    const FULL_5: [u8; 45] = [
        0x10, 0x2b, // CONNECT, remaining length 43
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0xee, // flags: user name, password, will retain, will QoS 1, will, clean start
        0x00, 0x3c, // keepalive 60 s
        0x08, // property length 8
        0x11, 0x00, 0x00, 0x0e, 0x10, // SessionExpiryInterval 3600
        0x21, 0x00, 0x14, // ReceiveMaximum 20
        0x00, 0x01, b'c', // client id "c"
        0x07, // will property length 7
        0x01, 0x01, // PayloadFormatIndicator 1: UTF-8 text
        0x18, 0x00, 0x00, 0x00, 0x0a, // WillDelayInterval 10
        0x00, 0x01, b'w', // will topic "w"
        0x00, 0x02, 0x00, 0xff, // will payload [0x00, 0xff]
        0x00, 0x01, b'u', // user name "u"
        0x00, 0x01, 0x01, // password [0x01]
    ];

    fn full_5() -> Connect {
        let mut p = full_31();
        p.protocol = Protocol::V5;
        p.keepalive = 60;
        p.properties
            .set(Property::SessionExpiryInterval(3600))
            .unwrap();
        p.properties.set(Property::ReceiveMaximum(20)).unwrap();
        if let Some(will) = &mut p.will {
            will.properties
                .set(Property::PayloadFormatIndicator(1))
                .unwrap();
            will.properties
                .set(Property::WillDelayInterval(10))
                .unwrap();
        }
        p
    }

    /// MQTT 5 with nothing optional: an empty property block, an empty client id.
    const MINIMAL_5: [u8; 15] = [
        0x10, 0x0d, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // flags: clean start
        0x00, 0x3c, // keepalive 60 s
        0x00, // property length 0
        0x00, 0x00, // client id "" (empty)
    ];

    fn minimal_5() -> Connect {
        Connect {
            protocol: Protocol::V5,
            clean_session: true,
            keepalive: 60,
            ..Connect::default()
        }
    }

    /// MQTT 5 with a password and no user name, which MQTT 5 allows.
    const PASSWORD_ONLY_5: [u8; 19] = [
        0x10, 0x11, // CONNECT, remaining length 17
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x42, // flags: password, clean start; no user name
        0x00, 0x00, // keepalive 0: off
        0x00, // property length 0
        0x00, 0x01, b'x', // client id "x"
        0x00, 0x01, b'p', // password "p"
    ];

    fn password_only_5() -> Connect {
        Connect {
            protocol: Protocol::V5,
            client_id: "x".into(),
            clean_session: true,
            password: Some(b"p".to_vec()),
            ..Connect::default()
        }
    }

    fn cases_5() -> [(Connect, &'static [u8]); 3] {
        [
            (full_5(), &FULL_5),
            (minimal_5(), &MINIMAL_5),
            (password_only_5(), &PASSWORD_ONLY_5),
        ]
    }

    #[test]
    fn mqtt5_encodes_and_decodes_the_spec_bytes() {
        for (p, bytes) in cases_5() {
            crate::packet::assert_form(
                p.clone(),
                bytes,
                Connect::encode,
                Connect::remaining_length,
                Connect::decode,
            );
            assert_eq!(
                decode(bytes, 1024),
                Ok(Some((Packet::Connect(p), bytes.len())))
            );
        }
    }

    #[test]
    fn mqtt_3_1_1_leaves_the_properties_out() {
        let p = Connect {
            protocol: Protocol::V31,
            keepalive: 10,
            ..full_5()
        };
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, FULL_31);
        assert_eq!(p.remaining_length(), FULL_31.len() - 2);
    }

    #[test]
    fn mqtt5_rejects_a_property_the_will_or_the_connect_may_not_carry() {
        let mut body = MINIMAL_5[2..].to_vec();
        body.splice(
            10..11,
            [
                0x02, 0x24, 0x01, // property length 2: MaximumQoS 1, a CONNACK property
            ],
        );
        assert_eq!(
            Connect::decode(0, &body),
            Err(DecodeError::PropertyNotAllowed {
                id: 0x24,
                packet_type: 1
            })
        );
        let mut body = FULL_5[2..].to_vec();
        body[25] = 0x11; // the will's WillDelayInterval becomes SessionExpiryInterval
        assert_eq!(
            Connect::decode(0, &body),
            Err(DecodeError::PropertyNotAllowed {
                id: 0x11,
                packet_type: 99
            })
        );
    }

    #[test]
    fn mqtt5_keeps_the_other_flag_checks() {
        for (cflags, e) in [
            (0x03, DecodeError::Protocol("reserved CONNECT flag set")),
            (
                0x08,
                DecodeError::Protocol("will QoS or retain set without the will flag"),
            ),
            (0x1c, DecodeError::InvalidQoS(3)),
        ] {
            let mut body = MINIMAL_5[2..].to_vec();
            body[7] = cflags;
            assert_eq!(Connect::decode(0, &body), Err(e), "flags {cflags:#04x}");
        }
    }

    #[test]
    fn mqtt5_round_trips_every_combination_of_optional_fields() {
        for mask in 0..32u8 {
            let mut properties = Properties::new(PacketTypes::CONNECT);
            if mask & 16 != 0 {
                properties
                    .set(Property::UserProperty("k".into(), "v".into()))
                    .unwrap();
            }
            let mut will_properties = Properties::new(PacketTypes::WILLMESSAGE);
            if mask & 1 != 0 {
                will_properties
                    .set(Property::ContentType("text/plain".into()))
                    .unwrap();
            }
            let p = Connect {
                protocol: Protocol::V5,
                client_id: "client-\u{e9}".into(),
                clean_session: mask & 2 != 0,
                keepalive: 0xfffe,
                username: (mask & 4 != 0).then(|| "user".into()),
                password: (mask & 2 != 0).then(|| vec![0, 1, 2]),
                will: (mask & 8 != 0).then(|| LastWill {
                    topic: "will/topic".into(),
                    payload: b"gone".to_vec(),
                    qos: QoS::ExactlyOnce,
                    retain: mask & 2 == 0,
                    properties: will_properties,
                }),
                properties,
                bridge: mask & 4 != 0,
            };
            let mut out = Vec::new();
            p.encode(&mut out);
            assert_eq!(out.len(), 2 + p.remaining_length());
            assert_eq!(Connect::decode(out[0] & 0x0f, &out[2..]), Ok(p));
        }
    }

    #[test]
    fn mqtt5_rejects_a_body_cut_anywhere() {
        for (_, bytes) in cases_5() {
            let body = &bytes[2..];
            for n in 0..body.len() {
                let got = Connect::decode(0, &body[..n]);
                assert!(
                    matches!(
                        got,
                        Err(DecodeError::Truncated { packet_type: 1 }
                            | DecodeError::PropertiesTooLong { .. })
                    ),
                    "cut at {n} of {bytes:02x?}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn rejects_the_reserved_connect_flag() {
        // Flags: reserved bit 0, clean session; client id "".
        let body = body_311(0x03, &[0x00, 0x00]);
        assert_eq!(
            Connect::decode(0, &body),
            Err(DecodeError::Protocol("reserved CONNECT flag set"))
        );
    }

    #[test]
    fn rejects_will_qos_3() {
        for cflags in [0x1c, 0x18] {
            // 0x1c: will QoS 3 with the will flag; 0x18: will QoS 3 without it.
            let body = body_311(
                cflags,
                &[
                    0x00, 0x00, // client id ""
                    0x00, 0x01, b'w', // will topic "w"
                    0x00, 0x00, // will payload: empty
                ],
            );
            assert_eq!(Connect::decode(0, &body), Err(DecodeError::InvalidQoS(3)));
        }
    }

    #[test]
    fn rejects_will_qos_or_retain_without_a_will() {
        for cflags in [
            0x08, // will QoS 1, no will flag
            0x10, // will QoS 2, no will flag
            0x20, // will retain, no will flag
        ] {
            let body = body_311(cflags, &[0x00, 0x00]); // client id ""
            assert!(
                matches!(Connect::decode(0, &body), Err(DecodeError::Protocol(_))),
                "flags {cflags:#04x}"
            );
        }
    }

    #[test]
    fn rejects_a_password_without_a_user_name_before_mqtt_5() {
        let body = body_311(
            0x42, // flags: password, clean session; no user name
            &[
                0x00, 0x00, // client id ""
                0x00, 0x01, b'p', // password "p"
            ],
        );
        assert_eq!(
            Connect::decode(0, &body),
            Err(DecodeError::Protocol(
                "password flag set without the user name flag"
            ))
        );
    }

    #[test]
    fn rejects_an_empty_or_wildcard_will_topic() {
        for (topic, what) in [
            (&b""[..], "empty will topic in CONNECT"),
            (b"a/+", "wildcard in CONNECT will topic"),
            (b"#", "wildcard in CONNECT will topic"),
        ] {
            let mut payload = vec![0x00, 0x00]; // client id ""
            payload.extend_from_slice(&[0x00, topic.len() as u8]); // will topic length
            payload.extend_from_slice(topic); // will topic
            payload.extend_from_slice(&[0x00, 0x00]); // will payload: empty
            let body = body_311(0x06, &payload); // flags: will, clean session
            assert_eq!(Connect::decode(0, &body), Err(DecodeError::Protocol(what)));
        }
    }

    #[test]
    fn rejects_invalid_utf8_in_every_string_field() {
        let bad = [0x00, 0x02, 0xc3, 0x28]; // a string with an invalid two-byte UTF-8 sequence
        let good = [0x00, 0x01, b'x']; // the string "x"
        let empty = [0x00, 0x00]; // an empty string / binary field

        // Client id.
        let body = body_311(0x02, &bad);
        assert_eq!(Connect::decode(0, &body), Err(DecodeError::InvalidUtf8));
        // Will topic.
        let body = body_311(0x06, &[&good[..], &bad, &empty].concat());
        assert_eq!(Connect::decode(0, &body), Err(DecodeError::InvalidUtf8));
        // User name.
        let body = body_311(0x82, &[&good[..], &bad].concat());
        assert_eq!(Connect::decode(0, &body), Err(DecodeError::InvalidUtf8));
        // U+0000 in the client id.
        let body = body_311(0x02, &[0x00, 0x01, 0x00]);
        assert_eq!(Connect::decode(0, &body), Err(DecodeError::InvalidUtf8));
        // The password and will payload are binary: any bytes are fine.
        let body = body_311(0xc6, &[&good[..], &good, &bad, &good, &bad].concat());
        let p = Connect::decode(0, &body).unwrap();
        assert_eq!(p.password, Some(vec![0xc3, 0x28]));
        assert_eq!(p.will.unwrap().payload, vec![0xc3, 0x28]);
    }

    #[test]
    fn rejects_a_body_truncated_anywhere() {
        for (_, bytes) in cases() {
            let body = &bytes[2..];
            for n in 0..body.len() {
                assert_eq!(
                    Connect::decode(0, &body[..n]),
                    Err(DecodeError::Truncated { packet_type: 1 }),
                    "cut at {n} of {bytes:02x?}"
                );
            }
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        for (_, bytes) in cases() {
            let mut body = bytes[2..].to_vec();
            body.push(0x00); // one byte past the last field
            assert_eq!(
                Connect::decode(0, &body),
                Err(DecodeError::TrailingBytes { packet_type: 1 })
            );
        }
    }
}
