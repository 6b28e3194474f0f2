//! `-D command identifier value` (`--property`): MQTT 5 properties, with mosquitto_pub's and
//! mosquitto_sub's command and property names and their error messages. The properties are built with
//! the library's checked [`Properties::set`], so a property the packet may not carry, or a value out of
//! its range, is refused while the command line is read.

use pahoish::{PacketTypes, Properties, Property};

use super::{Args, Failure};

/// The commands mosquitto's tools know, the packet each names, and whether the tools send that packet
/// with the properties given (the others are refused, as mosquitto refuses them).
const COMMANDS: &[(&str, PacketTypes, bool)] = &[
    ("connect", PacketTypes::CONNECT, true),
    ("connack", PacketTypes::CONNACK, false),
    ("publish", PacketTypes::PUBLISH, true),
    ("puback", PacketTypes::PUBACK, false),
    ("pubrec", PacketTypes::PUBREC, false),
    ("pubrel", PacketTypes::PUBREL, false),
    ("pubcomp", PacketTypes::PUBCOMP, false),
    ("subscribe", PacketTypes::SUBSCRIBE, true),
    ("unsubscribe", PacketTypes::UNSUBSCRIBE, true),
    ("disconnect", PacketTypes::DISCONNECT, true),
    ("auth", PacketTypes::AUTH, false),
    ("will", PacketTypes::WILLMESSAGE, true),
];

/// How a property's value is written on the command line.
#[derive(Clone, Copy)]
enum Kind {
    /// A number up to this maximum.
    Number(u32),
    /// Text (a UTF-8 string, or binary data given as text).
    Text,
    /// `user-property`: a name and a value.
    Pair,
}

/// What `make` is given: the user property's name (empty for the others), the text and the number.
type Make = fn(&str, &str, u32) -> Property;

/// mosquitto's property names, how their values are written, and the property each makes.
const PROPERTIES: &[(&str, Kind, Make)] = &[
    ("payload-format-indicator", Kind::Number(255), |_, _, n| {
        Property::PayloadFormatIndicator(n as u8)
    }),
    (
        "message-expiry-interval",
        Kind::Number(u32::MAX),
        |_, _, n| Property::MessageExpiryInterval(n),
    ),
    ("content-type", Kind::Text, |_, v, _| {
        Property::ContentType(v.into())
    }),
    ("response-topic", Kind::Text, |_, v, _| {
        Property::ResponseTopic(v.into())
    }),
    ("correlation-data", Kind::Text, |_, v, _| {
        Property::CorrelationData(v.as_bytes().to_vec())
    }),
    (
        "subscription-identifier",
        Kind::Number(u32::MAX),
        |_, _, n| Property::SubscriptionIdentifier(n),
    ),
    (
        "session-expiry-interval",
        Kind::Number(u32::MAX),
        |_, _, n| Property::SessionExpiryInterval(n),
    ),
    ("assigned-client-identifier", Kind::Text, |_, v, _| {
        Property::AssignedClientIdentifier(v.into())
    }),
    ("server-keep-alive", Kind::Number(65_535), |_, _, n| {
        Property::ServerKeepAlive(n as u16)
    }),
    ("authentication-method", Kind::Text, |_, v, _| {
        Property::AuthenticationMethod(v.into())
    }),
    ("authentication-data", Kind::Text, |_, v, _| {
        Property::AuthenticationData(v.as_bytes().to_vec())
    }),
    (
        "request-problem-information",
        Kind::Number(255),
        |_, _, n| Property::RequestProblemInformation(n as u8),
    ),
    ("will-delay-interval", Kind::Number(u32::MAX), |_, _, n| {
        Property::WillDelayInterval(n)
    }),
    (
        "request-response-information",
        Kind::Number(255),
        |_, _, n| Property::RequestResponseInformation(n as u8),
    ),
    ("response-information", Kind::Text, |_, v, _| {
        Property::ResponseInformation(v.into())
    }),
    ("server-reference", Kind::Text, |_, v, _| {
        Property::ServerReference(v.into())
    }),
    ("reason-string", Kind::Text, |_, v, _| {
        Property::ReasonString(v.into())
    }),
    ("receive-maximum", Kind::Number(65_535), |_, _, n| {
        Property::ReceiveMaximum(n as u16)
    }),
    ("topic-alias-maximum", Kind::Number(65_535), |_, _, n| {
        Property::TopicAliasMaximum(n as u16)
    }),
    ("topic-alias", Kind::Number(65_535), |_, _, n| {
        Property::TopicAlias(n as u16)
    }),
    ("maximum-qos", Kind::Number(255), |_, _, n| {
        Property::MaximumQoS(n as u8)
    }),
    ("retain-available", Kind::Number(255), |_, _, n| {
        Property::RetainAvailable(n as u8)
    }),
    ("user-property", Kind::Pair, |k, v, _| {
        Property::UserProperty(k.into(), v.into())
    }),
    ("maximum-packet-size", Kind::Number(u32::MAX), |_, _, n| {
        Property::MaximumPacketSize(n)
    }),
    (
        "wildcard-subscription-available",
        Kind::Number(255),
        |_, _, n| Property::WildcardSubscriptionAvailable(n as u8),
    ),
    (
        "subscription-identifier-available",
        Kind::Number(255),
        |_, _, n| Property::SubscriptionIdentifierAvailable(n as u8),
    ),
    (
        "shared-subscription-available",
        Kind::Number(255),
        |_, _, n| Property::SharedSubscriptionAvailable(n as u8),
    ),
];

/// The properties given with `-D`, one set per packet.
#[derive(Debug, Clone, Default)]
pub struct Props {
    sets: Vec<Properties>,
}

impl Props {
    /// Whether no `-D` was given.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The properties given for `packet` (`WILLMESSAGE` for `-D will`), if any.
    pub fn get(&self, packet: PacketTypes) -> Option<Properties> {
        self.sets
            .iter()
            .find(|s| s.packet_type() == Some(packet))
            .cloned()
    }

    /// Reads `command identifier value` (`command user-property name value`) after `-D`.
    pub fn parse(&mut self, args: &mut Args) -> Result<(), Failure> {
        let not_enough = || {
            Failure::usage("Error: --property argument given but not enough arguments specified.")
        };
        let mut next = || -> Result<String, Failure> {
            let v = args.bytes("-D", "value").map_err(|_| not_enough())?;
            String::from_utf8(v)
                .map_err(|_| Failure::usage("Error: Malformed UTF-8 in --property argument."))
        };
        let command = next()?;
        let name = next()?;
        let Some(&(command, packet, sent)) = COMMANDS
            .iter()
            .find(|(c, _, _)| c.eq_ignore_ascii_case(&command))
        else {
            return Err(Failure::usage(
                "Error: Invalid command given in --property argument.",
            ));
        };
        let Some(&(name, kind, make)) = PROPERTIES
            .iter()
            .find(|(p, _, _)| p.eq_ignore_ascii_case(&name))
        else {
            return Err(Failure::usage(
                "Error: Invalid property name given in --property argument.",
            ));
        };
        let (key, value) = match kind {
            Kind::Pair => (next()?, next()?),
            _ => (String::new(), next()?),
        };
        let number = match kind {
            Kind::Number(max) => match value.trim().parse::<i64>() {
                Ok(n) if (0..=i64::from(max)).contains(&n) => n as u32,
                Ok(n) => {
                    return Err(Failure::usage(format!(
                        "Error: Property value ({n}) out of range for property {name}."
                    )))
                }
                Err(_) => {
                    return Err(Failure::usage(format!(
                        "Error: Invalid property value '{value}' for property {name}: it must be a whole number."
                    )))
                }
            },
            _ => {
                if key.len() > 65_535 || value.len() > 65_535 {
                    return Err(Failure::usage(format!(
                        "Error: Property value too long for property {name}."
                    )));
                }
                0
            }
        };
        let property = make(&key, &value, number);
        let not_supported = (packet == PacketTypes::PUBLISH
            && matches!(property, Property::SubscriptionIdentifier(_)))
            || !sent;
        if !property.allowed_in(packet) {
            return Err(Failure::usage(format!(
                "Error: {name} property not allowed for {command} in --property argument."
            )));
        }
        if not_supported {
            return Err(Failure::usage(format!(
                "Error: {name} property not supported for {command} in --property argument."
            )));
        }
        let at = match self
            .sets
            .iter()
            .position(|s| s.packet_type() == Some(packet))
        {
            Some(at) => at,
            None => {
                self.sets.push(Properties::new(packet));
                self.sets.len() - 1
            }
        };
        let set = &mut self.sets[at];
        // Only user properties may repeat: a SUBSCRIBE carries one subscription identifier.
        if !matches!(property, Property::UserProperty(..)) && set.get(property.id()).is_some() {
            return Err(Failure::usage(format!(
                "Error: {name} property given twice for {command}: it may be given once."
            )));
        }
        set.set(property).map_err(|e| {
            let why = match &e {
                pahoish::Error::InvalidArgument { reason, .. } => reason
                    .split_once("property value ")
                    .map_or(reason.as_str(), |(_, why)| why)
                    .to_owned(),
                other => other.to_string(),
            };
            Failure::usage(format!(
                "Error: Property value ({value}) out of range for property {name}: it {why}."
            ))
        })
    }
}
