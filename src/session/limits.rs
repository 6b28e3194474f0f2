//! MQTT 5's limits, both ways: what the server's CONNACK allows this client (Receive Maximum, Maximum
//! Packet Size, Maximum QoS, Retain Available, the wildcard, shared and subscription-identifier
//! subscriptions, Topic Alias Maximum), checked before anything is sent; and what this client's
//! CONNECT asked of the server (its own Receive Maximum, Maximum Packet Size and Topic Alias Maximum),
//! enforced on what arrives. Paho sends whatever it is given; a server then disconnects the client,
//! and Paho resends the same packet after the reconnect, for ever.

use crate::error::{Error, Result};
use crate::packet::MAX_REMAINING_LENGTH;
use crate::properties::Properties;
use crate::types::QoS;

/// The largest whole packet MQTT can express: the remaining length's maximum plus a five-byte header.
pub(crate) const MAX_PACKET: u32 = MAX_REMAINING_LENGTH as u32 + 5;
/// The smallest packet size limit a client may set: a CONNACK without properties (4 bytes) must fit.
pub(crate) const MIN_PACKET: u32 = 4;

/// The size of a whole packet whose remaining length is `remaining`: the fixed header's byte, the
/// length's bytes, and the rest.
pub(crate) fn packet_len(remaining: usize) -> usize {
    1 + crate::packet::vbi_len(remaining) + remaining
}

/// What the server allows, from its CONNACK; everything allowed before one arrives and on MQTT 3.1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    /// QoS 1/2 messages the server takes unacknowledged at once (Receive Maximum, default 65,535).
    pub receive_maximum: u16,
    /// The largest packet the server accepts, header included (Maximum Packet Size).
    pub maximum_packet_size: u32,
    /// The highest QoS the server supports (Maximum QoS, default 2).
    pub maximum_qos: QoS,
    /// Retained messages supported (Retain Available, default yes).
    pub retain_available: bool,
    /// Wildcards in filters supported (default yes).
    pub wildcard_available: bool,
    /// Shared subscriptions supported (default yes).
    pub shared_available: bool,
    /// Subscription identifiers supported (default yes).
    pub subscription_identifiers_available: bool,
    /// The highest topic alias the server accepts from this client (default 0: none).
    pub topic_alias_maximum: u16,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_available: true,
            shared_available: true,
            subscription_identifiers_available: true,
            topic_alias_maximum: 0,
        }
    }
}

impl ServerLimits {
    /// The limits a CONNACK's properties set (absent ones at their defaults).
    pub(crate) fn from_connack(props: &Properties) -> ServerLimits {
        let d = ServerLimits::default();
        ServerLimits {
            receive_maximum: props.receive_maximum().unwrap_or(d.receive_maximum),
            maximum_packet_size: props.maximum_packet_size().unwrap_or(d.maximum_packet_size),
            maximum_qos: match props.maximum_qos() {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                _ => d.maximum_qos,
            },
            retain_available: props.retain_available() != Some(0),
            wildcard_available: props.wildcard_subscription_available() != Some(0),
            shared_available: props.shared_subscription_available() != Some(0),
            subscription_identifiers_available: props.subscription_identifier_available()
                != Some(0),
            topic_alias_maximum: props.topic_alias_maximum().unwrap_or(0),
        }
    }

    /// Whether a PUBLISH may go out as it is ([MQTT-3.2.2-11], [MQTT-3.2.2-14], [MQTT-3.1.2-24]);
    /// the error names the limit.
    pub(crate) fn check_publish(&self, qos: QoS, retain: bool, size: usize) -> Result<()> {
        if qos > self.maximum_qos {
            return Err(Error::NotSupported(format!(
                "QoS {} publishing: the server's Maximum QoS is {}",
                qos as u8, self.maximum_qos as u8
            )));
        }
        if retain && !self.retain_available {
            return Err(Error::NotSupported(
                "retained messages: the server's Retain Available is 0".into(),
            ));
        }
        self.check_size(size)
    }

    /// Whether a packet of `size` bytes fits the server's Maximum Packet Size.
    pub(crate) fn check_size(&self, size: usize) -> Result<()> {
        if size > self.maximum_packet_size as usize {
            return Err(Error::PacketTooLarge {
                size,
                max: self.maximum_packet_size as usize,
            });
        }
        Ok(())
    }

    /// Whether the server supports what a SUBSCRIBE of these filters asks for.
    pub(crate) fn check_subscribe<'a>(
        &self,
        mut filters: impl Iterator<Item = &'a str>,
        props: &Properties,
    ) -> Result<()> {
        if !self.subscription_identifiers_available && props.subscription_identifiers().count() > 0
        {
            return Err(Error::NotSupported(
                "subscription identifiers: the server's Subscription Identifier Available is 0"
                    .into(),
            ));
        }
        filters.try_for_each(|f| {
            if !self.shared_available && f.starts_with("$share/") {
                return Err(Error::NotSupported(format!(
                    "the shared subscription {f:?}: the server's Shared Subscription Available is 0"
                )));
            }
            if !self.wildcard_available && f.contains(['+', '#']) {
                return Err(Error::NotSupported(format!(
                    "the wildcard filter {f:?}: the server's Wildcard Subscription Available is 0"
                )));
            }
            Ok(())
        })
    }
}

/// What this client asked of the server in its CONNECT (MQTT 5), enforced on what arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnLimits {
    /// QoS 1/2 messages this client takes unacknowledged at once (default 65,535).
    pub receive_maximum: u16,
    /// The largest packet this client takes, header included.
    pub maximum_packet_size: u32,
    /// The highest topic alias the server may use (default 0: none).
    pub topic_alias_maximum: u16,
    /// Request Problem Information (default yes): when not, the server may send a Reason String or
    /// User Property on PUBLISH, CONNACK and DISCONNECT only.
    pub problem_information: bool,
    /// The CONNECT's Session Expiry Interval (default 0): when 0, the client's DISCONNECT may not set
    /// another.
    pub session_expiry_interval: u32,
}

impl Default for OwnLimits {
    fn default() -> Self {
        OwnLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET,
            topic_alias_maximum: 0,
            problem_information: true,
            session_expiry_interval: 0,
        }
    }
}

impl OwnLimits {
    /// The limits a CONNECT's properties set.
    pub(crate) fn from_connect(props: &Properties) -> OwnLimits {
        let d = OwnLimits::default();
        OwnLimits {
            receive_maximum: props.receive_maximum().unwrap_or(d.receive_maximum),
            maximum_packet_size: props.maximum_packet_size().unwrap_or(d.maximum_packet_size),
            topic_alias_maximum: props.topic_alias_maximum().unwrap_or(0),
            problem_information: props.request_problem_information() != Some(0),
            session_expiry_interval: props.session_expiry_interval().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::{PacketTypes, Property};

    #[test]
    fn a_connack_without_properties_allows_everything_and_each_property_narrows_it() {
        let none = Properties::new(PacketTypes::CONNACK);
        assert_eq!(ServerLimits::from_connack(&none), ServerLimits::default());
        let mut p = Properties::new(PacketTypes::CONNACK);
        for prop in [
            Property::ReceiveMaximum(2),
            Property::MaximumPacketSize(30),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::WildcardSubscriptionAvailable(0),
            Property::SharedSubscriptionAvailable(0),
            Property::SubscriptionIdentifierAvailable(0),
            Property::TopicAliasMaximum(5),
        ] {
            p.set(prop).unwrap();
        }
        let l = ServerLimits::from_connack(&p);
        assert_eq!((l.receive_maximum, l.maximum_packet_size), (2, 30));
        assert_eq!(
            (l.maximum_qos, l.topic_alias_maximum),
            (QoS::AtLeastOnce, 5)
        );
        assert!(matches!(
            l.check_publish(QoS::ExactlyOnce, false, 10),
            Err(Error::NotSupported(_))
        ));
        assert!(l.check_publish(QoS::AtLeastOnce, true, 10).is_err());
        assert!(matches!(
            l.check_publish(QoS::AtLeastOnce, false, 31),
            Err(Error::PacketTooLarge { size: 31, max: 30 })
        ));
        assert!(l.check_publish(QoS::AtLeastOnce, false, 30).is_ok());
        let empty = Properties::default();
        assert!(l.check_subscribe(["a/+"].into_iter(), &empty).is_err());
        assert!(l
            .check_subscribe(["$share/g/a"].into_iter(), &empty)
            .is_err());
        assert!(l.check_subscribe(["a/b"].into_iter(), &empty).is_ok());
        let with_id = Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::SubscriptionIdentifier(1))
            .unwrap();
        assert!(l.check_subscribe(["a/b"].into_iter(), &with_id).is_err());
    }
}
