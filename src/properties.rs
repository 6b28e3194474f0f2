//! MQTT 5 properties as Paho names them: [`PacketTypes`], [`Property`] (one variant per property, named
//! as Paho's attribute) and [`Properties`] (the set one packet carries, checked as it is built).
//!
//! The wire form (the property block) is the codec's: `packet::properties`.

use std::fmt;

use crate::error::{Error, Result};

/// The packet types, with Paho's names (`PacketTypes.PUBLISH`, ...); `WILLMESSAGE` is the will's
/// properties inside CONNECT.
///
/// ```
/// use pahoish::PacketTypes;
/// assert_eq!(PacketTypes::PUBACK as u8, 4);
/// assert_eq!(PacketTypes::WILLMESSAGE.to_string(), "WillMessage");
/// ```
#[allow(clippy::upper_case_acronyms)] // Paho's names, so that a search for them finds these
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PacketTypes {
    /// CONNECT (1).
    CONNECT = 1,
    /// CONNACK (2).
    CONNACK = 2,
    /// PUBLISH (3).
    PUBLISH = 3,
    /// PUBACK (4).
    PUBACK = 4,
    /// PUBREC (5).
    PUBREC = 5,
    /// PUBREL (6).
    PUBREL = 6,
    /// PUBCOMP (7).
    PUBCOMP = 7,
    /// SUBSCRIBE (8).
    SUBSCRIBE = 8,
    /// SUBACK (9).
    SUBACK = 9,
    /// UNSUBSCRIBE (10).
    UNSUBSCRIBE = 10,
    /// UNSUBACK (11).
    UNSUBACK = 11,
    /// PINGREQ (12).
    PINGREQ = 12,
    /// PINGRESP (13).
    PINGRESP = 13,
    /// DISCONNECT (14).
    DISCONNECT = 14,
    /// AUTH (15, MQTT 5 only).
    AUTH = 15,
    /// The will's properties, carried inside CONNECT (99 in Paho).
    WILLMESSAGE = 99,
}

impl PacketTypes {
    /// The packet type of a fixed header's high nibble (1..=15).
    pub fn from_u8(value: u8) -> Option<PacketTypes> {
        use PacketTypes::*;
        Some(match value {
            1 => CONNECT,
            2 => CONNACK,
            3 => PUBLISH,
            4 => PUBACK,
            5 => PUBREC,
            6 => PUBREL,
            7 => PUBCOMP,
            8 => SUBSCRIBE,
            9 => SUBACK,
            10 => UNSUBSCRIBE,
            11 => UNSUBACK,
            12 => PINGREQ,
            13 => PINGRESP,
            14 => DISCONNECT,
            15 => AUTH,
            99 => WILLMESSAGE,
            _ => return None,
        })
    }

    /// Paho's name (`PacketTypes.Names`): `"Connect"`, `"Puback"`, ..., `"WillMessage"`.
    pub fn name(self) -> &'static str {
        use PacketTypes::*;
        match self {
            CONNECT => "Connect",
            CONNACK => "Connack",
            PUBLISH => "Publish",
            PUBACK => "Puback",
            PUBREC => "Pubrec",
            PUBREL => "Pubrel",
            PUBCOMP => "Pubcomp",
            SUBSCRIBE => "Subscribe",
            SUBACK => "Suback",
            UNSUBSCRIBE => "Unsubscribe",
            UNSUBACK => "Unsuback",
            PINGREQ => "Pingreq",
            PINGRESP => "Pingresp",
            DISCONNECT => "Disconnect",
            AUTH => "Auth",
            WILLMESSAGE => "WillMessage",
        }
    }
}

impl fmt::Display for PacketTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One MQTT 5 property, named as Paho's attribute (`props.ContentType = ...` in Python is
/// `props.set(Property::ContentType(...))` here).
///
/// ```
/// use pahoish::Property;
/// let p = Property::UserProperty("unit".into(), "C".into());
/// assert_eq!((p.id(), p.name()), (0x26, "UserProperty"));
/// ```
#[allow(non_snake_case)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Property {
    /// 0x01: 0 (bytes) or 1 (UTF-8 text). PUBLISH, will.
    PayloadFormatIndicator(u8),
    /// 0x02: seconds until the message expires. PUBLISH, will.
    MessageExpiryInterval(u32),
    /// 0x03: the payload's content type. PUBLISH, will.
    ContentType(String),
    /// 0x08: the topic for a response. PUBLISH, will.
    ResponseTopic(String),
    /// 0x09: data that ties a response to its request. PUBLISH, will.
    CorrelationData(Vec<u8>),
    /// 0x0B: 1..=268,435,455; several may be present. PUBLISH, SUBSCRIBE.
    SubscriptionIdentifier(u32),
    /// 0x11: seconds the session outlives the connection. CONNECT, CONNACK, DISCONNECT.
    SessionExpiryInterval(u32),
    /// 0x12: the client id the server gave a client that sent none. CONNACK.
    AssignedClientIdentifier(String),
    /// 0x13: the keepalive the server wants instead of the client's. CONNACK.
    ServerKeepAlive(u16),
    /// 0x15: the enhanced authentication method. CONNECT, CONNACK, AUTH.
    AuthenticationMethod(String),
    /// 0x16: the enhanced authentication data. CONNECT, CONNACK, AUTH.
    AuthenticationData(Vec<u8>),
    /// 0x17: 0 or 1, whether the server may send reason strings and user properties on failures.
    /// CONNECT.
    RequestProblemInformation(u8),
    /// 0x18: seconds the server waits before publishing the will. Will.
    WillDelayInterval(u32),
    /// 0x19: 0 or 1, whether the server should send Response Information. CONNECT.
    RequestResponseInformation(u8),
    /// 0x1A: the basis for response topics. CONNACK.
    ResponseInformation(String),
    /// 0x1C: another server to use. CONNACK, DISCONNECT.
    ServerReference(String),
    /// 0x1F: a human-readable reason. Acknowledgements, CONNACK, DISCONNECT, AUTH.
    ReasonString(String),
    /// 0x21: 1..=65,535, how many QoS 1/2 messages the sender accepts in flight. CONNECT, CONNACK.
    ReceiveMaximum(u16),
    /// 0x22: the highest topic alias the sender accepts. CONNECT, CONNACK.
    TopicAliasMaximum(u16),
    /// 0x23: 1..=65,535, a topic alias. PUBLISH.
    TopicAlias(u16),
    /// 0x24: 0 or 1, the highest QoS the server supports. CONNACK.
    MaximumQoS(u8),
    /// 0x25: 0 or 1, whether the server supports retained messages. CONNACK.
    RetainAvailable(u8),
    /// 0x26: a name and a value; several may be present, in order. Every packet with properties, and
    /// the will.
    UserProperty(String, String),
    /// 0x27: 1..=268,435,455, the largest packet the sender accepts. CONNECT, CONNACK.
    MaximumPacketSize(u32),
    /// 0x28: 0 or 1, whether the server supports wildcard subscriptions. CONNACK.
    WildcardSubscriptionAvailable(u8),
    /// 0x29: 0 or 1, whether the server supports subscription identifiers. CONNACK.
    SubscriptionIdentifierAvailable(u8),
    /// 0x2A: 0 or 1, whether the server supports shared subscriptions. CONNACK.
    SharedSubscriptionAvailable(u8),
}

/// Which packets a property may appear in, by packet type number (99: the will).
fn allowed_in(id: u8) -> &'static [u8] {
    const PUB_WILL: &[u8] = &[3, 99];
    const CONNACK: &[u8] = &[2];
    match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => PUB_WILL,
        0x0B => &[3, 8],
        0x11 => &[1, 2, 14],
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => CONNACK,
        0x15 | 0x16 => &[1, 2, 15],
        0x17 | 0x19 => &[1],
        0x18 => &[99],
        0x1C => &[2, 14],
        0x1F => &[2, 4, 5, 6, 7, 9, 11, 14, 15],
        0x21 | 0x22 | 0x27 => &[1, 2],
        0x23 => &[3],
        0x26 => &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 99],
        _ => &[],
    }
}

impl Property {
    /// The property identifier (0x01 ... 0x2A).
    pub fn id(&self) -> u8 {
        use Property::*;
        match self {
            PayloadFormatIndicator(_) => 0x01,
            MessageExpiryInterval(_) => 0x02,
            ContentType(_) => 0x03,
            ResponseTopic(_) => 0x08,
            CorrelationData(_) => 0x09,
            SubscriptionIdentifier(_) => 0x0B,
            SessionExpiryInterval(_) => 0x11,
            AssignedClientIdentifier(_) => 0x12,
            ServerKeepAlive(_) => 0x13,
            AuthenticationMethod(_) => 0x15,
            AuthenticationData(_) => 0x16,
            RequestProblemInformation(_) => 0x17,
            WillDelayInterval(_) => 0x18,
            RequestResponseInformation(_) => 0x19,
            ResponseInformation(_) => 0x1A,
            ServerReference(_) => 0x1C,
            ReasonString(_) => 0x1F,
            ReceiveMaximum(_) => 0x21,
            TopicAliasMaximum(_) => 0x22,
            TopicAlias(_) => 0x23,
            MaximumQoS(_) => 0x24,
            RetainAvailable(_) => 0x25,
            UserProperty(..) => 0x26,
            MaximumPacketSize(_) => 0x27,
            WildcardSubscriptionAvailable(_) => 0x28,
            SubscriptionIdentifierAvailable(_) => 0x29,
            SharedSubscriptionAvailable(_) => 0x2A,
        }
    }

    /// Paho's attribute name (`"ContentType"`, ...).
    pub fn name(&self) -> &'static str {
        property_name(self.id()).unwrap_or("")
    }

    /// Whether a packet may carry this property more than once (`UserProperty`,
    /// `SubscriptionIdentifier`).
    pub fn allows_multiple(&self) -> bool {
        matches!(
            self,
            Property::UserProperty(..) | Property::SubscriptionIdentifier(_)
        )
    }

    /// Whether the property may appear in a packet of `packet_type`.
    pub fn allowed_in(&self, packet_type: PacketTypes) -> bool {
        allowed_in(self.id()).contains(&(packet_type as u8))
    }

    /// The range check Paho makes when a property is set, and the specification's ban on U+0000 in a
    /// string ([MQTT-1.5.4-2], which Paho does not check): `None` when the value is allowed, otherwise
    /// what is wrong.
    pub(crate) fn range_problem(&self) -> Option<&'static str> {
        use Property::*;
        match self {
            ContentType(s)
            | ResponseTopic(s)
            | AssignedClientIdentifier(s)
            | AuthenticationMethod(s)
            | ResponseInformation(s)
            | ServerReference(s)
            | ReasonString(s)
                if s.contains('\0') =>
            {
                Some("must not contain the NUL character")
            }
            UserProperty(k, v) if k.contains('\0') || v.contains('\0') => {
                Some("must not contain the NUL character")
            }
            ReceiveMaximum(0) => Some("must be in the range 1-65535"),
            TopicAlias(0) => Some("must be in the range 1-65535"),
            MaximumPacketSize(v) | SubscriptionIdentifier(v) if !(1..=268_435_455).contains(v) => {
                Some("must be in the range 1-268435455")
            }
            RequestResponseInformation(v)
            | RequestProblemInformation(v)
            | PayloadFormatIndicator(v)
            | MaximumQoS(v)
            | RetainAvailable(v)
            | WildcardSubscriptionAvailable(v)
            | SubscriptionIdentifierAvailable(v)
            | SharedSubscriptionAvailable(v)
                if *v > 1 =>
            {
                Some("must be 0 or 1")
            }
            _ => None,
        }
    }
}

impl Property {
    /// A Response Topic is a topic name ([MQTT-3.3.2-14]): not empty, no wildcard. Checked when the
    /// application sets one (what a server sends is delivered as it came).
    fn topic_problem(&self) -> Option<&'static str> {
        match self {
            Property::ResponseTopic(t) if t.is_empty() => Some("must not be empty"),
            Property::ResponseTopic(t) if t.contains(['+', '#']) => {
                Some("must not contain the wildcards '+' or '#'")
            }
            _ => None,
        }
    }
}

/// Paho's attribute name for a property identifier.
pub(crate) fn property_name(id: u8) -> Option<&'static str> {
    Some(match id {
        0x01 => "PayloadFormatIndicator",
        0x02 => "MessageExpiryInterval",
        0x03 => "ContentType",
        0x08 => "ResponseTopic",
        0x09 => "CorrelationData",
        0x0B => "SubscriptionIdentifier",
        0x11 => "SessionExpiryInterval",
        0x12 => "AssignedClientIdentifier",
        0x13 => "ServerKeepAlive",
        0x15 => "AuthenticationMethod",
        0x16 => "AuthenticationData",
        0x17 => "RequestProblemInformation",
        0x18 => "WillDelayInterval",
        0x19 => "RequestResponseInformation",
        0x1A => "ResponseInformation",
        0x1C => "ServerReference",
        0x1F => "ReasonString",
        0x21 => "ReceiveMaximum",
        0x22 => "TopicAliasMaximum",
        0x23 => "TopicAlias",
        0x24 => "MaximumQoS",
        0x25 => "RetainAvailable",
        0x26 => "UserProperty",
        0x27 => "MaximumPacketSize",
        0x28 => "WildcardSubscriptionAvailable",
        0x29 => "SubscriptionIdentifierAvailable",
        0x2A => "SharedSubscriptionAvailable",
        _ => return None,
    })
}

/// The MQTT 5 properties of one packet (Paho's `Properties(PacketTypes.X)`), kept in identifier order
/// (the order Paho packs and prints them in), several `UserProperty` and `SubscriptionIdentifier`
/// values in the order they were set.
///
/// Setting checks what Paho checks: the property must be one the packet type may carry, and its value
/// in range. Setting a single-valued property again replaces it; a multi-valued one is appended. On
/// MQTT 3.1/3.1.1 every `Properties` a callback receives is empty.
///
/// [`Display`](fmt::Display) is Paho's `str()`, which its log lines print:
///
/// ```
/// use pahoish::{PacketTypes, Properties, Property};
/// let mut props = Properties::new(PacketTypes::PUBLISH);
/// props.set(Property::UserProperty("a".into(), "1".into()))?;
/// props.set(Property::ContentType("text/plain".into()))?;
/// assert_eq!(props.to_string(), "[ContentType : text/plain, UserProperty : [('a', '1')]]");
/// assert_eq!(props.content_type(), Some("text/plain"));
/// // Not a PUBLISH property, and out of range:
/// assert!(props.set(Property::ReceiveMaximum(10)).is_err());
/// assert!(props.set(Property::TopicAlias(0)).is_err());
/// # Ok::<(), pahoish::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// `None` for [`Properties::default`]: an empty set for no packet in particular, which takes no
    /// property.
    packet_type: Option<PacketTypes>,
    items: Vec<Property>,
}

impl Properties {
    /// An empty set for a packet of `packet_type`.
    pub fn new(packet_type: PacketTypes) -> Properties {
        Properties {
            packet_type: Some(packet_type),
            items: Vec::new(),
        }
    }

    /// The packet type the set is for (`None` for [`Properties::default`]).
    pub fn packet_type(&self) -> Option<PacketTypes> {
        self.packet_type
    }

    /// Sets a property (appends one of the multi-valued ones). Fails, changing nothing, when the packet
    /// type may not carry it or the value is out of range, as Paho's attribute assignment raises.
    pub fn set(&mut self, property: Property) -> Result<()> {
        let name = property.name();
        let fits = self.packet_type.is_some_and(|t| property.allowed_in(t));
        if !fits {
            let packet = self.packet_type.map_or("no packet type", PacketTypes::name);
            return Err(Error::invalid(
                "properties",
                format!("property {name} does not apply to packet type {packet}"),
            ));
        }
        if let Some(problem) = property.range_problem().or(property.topic_problem()) {
            return Err(Error::invalid(
                "properties",
                format!("{name} property value {problem}"),
            ));
        }
        self.insert(property);
        Ok(())
    }

    /// [`set`](Properties::set), by value, for building a set in one expression.
    ///
    /// ```
    /// use pahoish::{PacketTypes, Properties, Property};
    /// let props = Properties::new(PacketTypes::CONNECT)
    ///     .with(Property::SessionExpiryInterval(3600))?
    ///     .with(Property::ReceiveMaximum(10))?;
    /// assert_eq!(props.session_expiry_interval(), Some(3600));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn with(mut self, property: Property) -> Result<Properties> {
        self.set(property)?;
        Ok(self)
    }

    /// Puts a property in its place by identifier without checks (for the decoder, which checks the
    /// packet type and repetitions itself, and for the client's own derived sets).
    pub(crate) fn insert(&mut self, property: Property) {
        let id = property.id();
        if !property.allows_multiple() {
            if let Some(old) = self.items.iter_mut().find(|p| p.id() == id) {
                *old = property;
                return;
            }
        }
        let at = self.items.partition_point(|p| p.id() <= id);
        self.items.insert(at, property);
    }

    /// Removes every value of the property with this identifier; returns whether there was one.
    pub fn remove(&mut self, id: u8) -> bool {
        let before = self.items.len();
        self.items.retain(|p| p.id() != id);
        self.items.len() != before
    }

    /// Whether no property is set (Paho's `isEmpty()`).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many property values are set.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Removes every property (Paho's `clear()`); the packet type stays.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The properties in identifier order.
    pub fn iter(&self) -> std::slice::Iter<'_, Property> {
        self.items.iter()
    }

    /// The value of the single-valued property with this identifier.
    pub fn get(&self, id: u8) -> Option<&Property> {
        self.items.iter().find(|p| p.id() == id)
    }

    /// The `UserProperty` pairs, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.items.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }

    /// The `SubscriptionIdentifier` values, in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.items.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }
}

macro_rules! getters {
    ($($(#[$doc:meta])* $fn:ident -> $ty:ty, $variant:ident, $v:ident => $conv:expr;)*) => {
        impl Properties {
            $(
                $(#[$doc])*
                pub fn $fn(&self) -> Option<$ty> {
                    self.items.iter().find_map(|p| match p {
                        Property::$variant($v) => Some($conv),
                        _ => None,
                    })
                }
            )*
        }
    };
}

getters! {
    /// `PayloadFormatIndicator`.
    payload_format_indicator -> u8, PayloadFormatIndicator, v => *v;
    /// `MessageExpiryInterval`, seconds.
    message_expiry_interval -> u32, MessageExpiryInterval, v => *v;
    /// `ContentType`.
    content_type -> &str, ContentType, v => v.as_str();
    /// `ResponseTopic`.
    response_topic -> &str, ResponseTopic, v => v.as_str();
    /// `CorrelationData`.
    correlation_data -> &[u8], CorrelationData, v => v.as_slice();
    /// `SessionExpiryInterval`, seconds.
    session_expiry_interval -> u32, SessionExpiryInterval, v => *v;
    /// `AssignedClientIdentifier`.
    assigned_client_identifier -> &str, AssignedClientIdentifier, v => v.as_str();
    /// `ServerKeepAlive`, seconds.
    server_keep_alive -> u16, ServerKeepAlive, v => *v;
    /// `AuthenticationMethod`.
    authentication_method -> &str, AuthenticationMethod, v => v.as_str();
    /// `AuthenticationData`.
    authentication_data -> &[u8], AuthenticationData, v => v.as_slice();
    /// `RequestProblemInformation`.
    request_problem_information -> u8, RequestProblemInformation, v => *v;
    /// `WillDelayInterval`, seconds.
    will_delay_interval -> u32, WillDelayInterval, v => *v;
    /// `RequestResponseInformation`.
    request_response_information -> u8, RequestResponseInformation, v => *v;
    /// `ResponseInformation`.
    response_information -> &str, ResponseInformation, v => v.as_str();
    /// `ServerReference`.
    server_reference -> &str, ServerReference, v => v.as_str();
    /// `ReasonString`.
    reason_string -> &str, ReasonString, v => v.as_str();
    /// `ReceiveMaximum`.
    receive_maximum -> u16, ReceiveMaximum, v => *v;
    /// `TopicAliasMaximum`.
    topic_alias_maximum -> u16, TopicAliasMaximum, v => *v;
    /// `TopicAlias`.
    topic_alias -> u16, TopicAlias, v => *v;
    /// `MaximumQoS`.
    maximum_qos -> u8, MaximumQoS, v => *v;
    /// `RetainAvailable`.
    retain_available -> u8, RetainAvailable, v => *v;
    /// `MaximumPacketSize`, bytes.
    maximum_packet_size -> u32, MaximumPacketSize, v => *v;
    /// `WildcardSubscriptionAvailable`.
    wildcard_subscription_available -> u8, WildcardSubscriptionAvailable, v => *v;
    /// `SubscriptionIdentifierAvailable`.
    subscription_identifier_available -> u8, SubscriptionIdentifierAvailable, v => *v;
    /// `SharedSubscriptionAvailable`.
    shared_subscription_available -> u8, SharedSubscriptionAvailable, v => *v;
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Property;
    type IntoIter = std::slice::Iter<'a, Property>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// Python's `repr()` of a `str`: single quotes unless the text holds one and no double quote.
fn py_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `repr(bytes)`: single quotes unless the bytes contain `'` and no `"`.
pub(crate) fn bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut s = String::with_capacity(b.len() + 3);
    s.push('b');
    s.push(quote as char);
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c == quote => {
                s.push('\\');
                s.push(c as char);
            }
            0x20..=0x7e => s.push(c as char),
            c => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push(quote as char);
    s
}

/// Paho's `str()` of a property set: `[Name : value, ...]`, in identifier order, the value as Python's
/// `str()` of it (`[('a', '1')]` for user properties, `b'...'` for binary data, `[1, 2]` for
/// subscription identifiers).
impl fmt::Display for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("[");
        let mut i = 0;
        while i < self.items.len() {
            let p = &self.items[i];
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(p.name());
            out.push_str(" : ");
            match p {
                Property::UserProperty(..) | Property::SubscriptionIdentifier(_) => {
                    // Python keeps these as a list of every value.
                    let id = p.id();
                    out.push('[');
                    let mut first = true;
                    while i < self.items.len() && self.items[i].id() == id {
                        if !first {
                            out.push_str(", ");
                        }
                        first = false;
                        match &self.items[i] {
                            Property::UserProperty(k, v) => {
                                out.push('(');
                                py_str_repr(k, &mut out);
                                out.push_str(", ");
                                py_str_repr(v, &mut out);
                                out.push(')');
                            }
                            Property::SubscriptionIdentifier(v) => out.push_str(&v.to_string()),
                            _ => {}
                        }
                        i += 1;
                    }
                    out.push(']');
                    continue;
                }
                Property::CorrelationData(b) | Property::AuthenticationData(b) => {
                    out.push_str(&bytes_repr(b));
                }
                Property::PayloadFormatIndicator(v)
                | Property::RequestProblemInformation(v)
                | Property::RequestResponseInformation(v)
                | Property::MaximumQoS(v)
                | Property::RetainAvailable(v)
                | Property::WildcardSubscriptionAvailable(v)
                | Property::SubscriptionIdentifierAvailable(v)
                | Property::SharedSubscriptionAvailable(v) => out.push_str(&v.to_string()),
                Property::MessageExpiryInterval(v)
                | Property::SessionExpiryInterval(v)
                | Property::WillDelayInterval(v)
                | Property::MaximumPacketSize(v) => out.push_str(&v.to_string()),
                Property::ServerKeepAlive(v)
                | Property::ReceiveMaximum(v)
                | Property::TopicAliasMaximum(v)
                | Property::TopicAlias(v) => out.push_str(&v.to_string()),
                Property::ContentType(s)
                | Property::ResponseTopic(s)
                | Property::AssignedClientIdentifier(s)
                | Property::AuthenticationMethod(s)
                | Property::ResponseInformation(s)
                | Property::ServerReference(s)
                | Property::ReasonString(s) => out.push_str(s),
            }
            i += 1;
        }
        out.push(']');
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_pahos_str_in_identifier_order() {
        let mut p = Properties::new(PacketTypes::CONNACK);
        p.insert(Property::MaximumPacketSize(200));
        p.insert(Property::TopicAliasMaximum(10));
        p.insert(Property::ReceiveMaximum(2));
        p.insert(Property::ServerKeepAlive(30));
        p.insert(Property::AssignedClientIdentifier("auto-1".into()));
        assert_eq!(
            p.to_string(),
            "[AssignedClientIdentifier : auto-1, ServerKeepAlive : 30, ReceiveMaximum : 2, \
             TopicAliasMaximum : 10, MaximumPacketSize : 200]"
        );
        let mut p = Properties::new(PacketTypes::PUBLISH);
        p.set(Property::UserProperty("a".into(), "1".into()))
            .unwrap();
        p.set(Property::UserProperty("b".into(), "it's".into()))
            .unwrap();
        p.set(Property::CorrelationData(b"\x01id".to_vec()))
            .unwrap();
        p.set(Property::SubscriptionIdentifier(3)).unwrap();
        p.set(Property::SubscriptionIdentifier(9)).unwrap();
        assert_eq!(
            p.to_string(),
            "[CorrelationData : b'\\x01id', SubscriptionIdentifier : [3, 9], \
             UserProperty : [('a', '1'), ('b', \"it's\")]]"
        );
        assert_eq!(Properties::default().to_string(), "[]");
    }

    #[test]
    fn setting_checks_the_packet_type_and_the_range_as_paho_does() {
        let mut p = Properties::new(PacketTypes::CONNECT);
        for bad in [
            Property::ReceiveMaximum(0),
            Property::MaximumPacketSize(0),
            Property::RequestProblemInformation(2),
            Property::TopicAlias(1),         // PUBLISH only
            Property::ServerKeepAlive(10),   // CONNACK only
            Property::WillDelayInterval(10), // the will only
            Property::UserProperty("k\0".into(), "v".into()),
            Property::UserProperty("k".into(), "\0".into()),
            Property::AuthenticationMethod("a\0".into()),
        ] {
            assert!(p.set(bad.clone()).is_err(), "{bad:?}");
        }
        let mut publish = Properties::new(PacketTypes::PUBLISH);
        for bad in [
            Property::ContentType("a\0".into()),
            Property::ResponseTopic("a\0".into()),
            Property::ResponseTopic("a/+".into()),
            Property::ResponseTopic("#".into()),
            Property::ResponseTopic(String::new()),
            Property::TopicAlias(0),
            Property::SubscriptionIdentifier(0),
            Property::SubscriptionIdentifier(268_435_456),
        ] {
            assert!(publish.set(bad.clone()).is_err(), "{bad:?}");
        }
        assert!(publish.is_empty());
        let e = publish
            .set(Property::ContentType("a\0".into()))
            .unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        for good in [
            Property::ContentType("a".into()),
            Property::ResponseTopic("a/b".into()),
            Property::TopicAlias(1),
            Property::SubscriptionIdentifier(1),
        ] {
            publish.set(good).unwrap();
        }
        assert!(p.is_empty());
        p.set(Property::SessionExpiryInterval(10)).unwrap();
        p.set(Property::SessionExpiryInterval(20)).unwrap();
        assert_eq!((p.len(), p.session_expiry_interval()), (1, Some(20)));
        let e = Properties::default()
            .set(Property::ContentType("x".into()))
            .unwrap_err();
        assert!(e.to_string().contains("no packet type"), "{e}");
        let will = Properties::new(PacketTypes::WILLMESSAGE)
            .with(Property::WillDelayInterval(5))
            .unwrap();
        assert_eq!(will.will_delay_interval(), Some(5));
    }

    #[test]
    fn every_identifier_has_a_name_and_packet_types() {
        for id in 0..=0x2Au8 {
            match property_name(id) {
                Some(name) => assert!(!allowed_in(id).is_empty(), "{name}"),
                None => assert!(allowed_in(id).is_empty(), "{id}"),
            }
        }
        assert_eq!((1..=0x2Au8).filter_map(property_name).count(), 27);
    }
}
