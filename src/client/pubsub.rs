//! Publishing, subscribing, acknowledging, and the connection's state as the application sees it.

use std::borrow::Cow;
use std::os::unix::io::RawFd;
use std::sync::Arc;
use std::time::Instant;

use super::Client;
use crate::completion::MessageInfo;
use crate::error::{Error, Result};
use crate::message::{Message, Payload};
use crate::properties::{PacketTypes, Properties};
use crate::session::ConnState;
use crate::topic::{validate_topic, SubscribeTopics, UnsubscribeTopics};
use crate::types::{IntoQos, Protocol, QoS, SubscribeOptions};

/// A borrowed QoS 1/2 payload up to this size is copied into its buffer with the `state` lock held;
/// a larger one before, so that the loop is not kept waiting for the copy.
const COPY_UNDER_LOCK: usize = 4096;

impl<U: Send + 'static> Client<U> {
    /// Acknowledges an incoming message when manual ack is on: PUBACK for QoS 1, PUBCOMP for QoS 2.
    ///
    /// With manual ack the protocol's acknowledgement duties are the application's: MQTT asks that
    /// every QoS 1/2 message be acknowledged, processed or not ([MQTT-4.5.0-2]), and that PUBACKs
    /// and PUBCOMPs go in the order their messages arrived ([MQTT-4.6.0-2]). The client sends them
    /// when and in the order `ack` is called, and checks neither.
    ///
    /// Fails if manual ack is off or `qos` is not 1 or 2.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(client.ack(1, 1).is_err(), "manual ack is off");
    /// client.manual_ack_set(true);
    /// client.ack(1, 1)?; // in on_message: client.ack(msg.mid, msg.qos)
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn ack(&self, mid: u16, qos: impl IntoQos) -> Result<()> {
        let qos = qos.into_qos()?;
        if qos == QoS::AtMostOnce {
            return Err(Error::invalid("qos", "QoS 0 messages are not acknowledged"));
        }
        self.engine().with_session(|s| {
            if !s.config().manual_ack {
                return Err(Error::invalid(
                    "ack",
                    "ack() needs manual_ack: messages are acknowledged automatically",
                ));
            }
            s.send_ack(mid, qos as u8);
            Ok(())
        })?;
        self.kick();
        Ok(())
    }

    /// Drops every outgoing QoS 1/2 message not yet acknowledged, in flight or queued, and returns them
    /// in the order they were published, each with the `mid` it had (Paho's `drop_out_messages`).
    ///
    /// Their [`MessageInfo`]s report them discarded (`rc` `MQTT_ERR_NOT_FOUND`), and nothing more is
    /// sent for them: not after a reconnect either. Paho suggests it in `on_connect` against the
    /// topic-alias loop of paho.mqtt.python #893; pahoish needs no such workaround (a resend never
    /// carries an alias), so use it when the messages should no longer go out at all, or to move them
    /// elsewhere. Nothing is lost silently: the caller holds what was dropped.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let info = client.publish("t", "kept until dropped", 1, false)?; // not connected: queued
    /// let dropped = client.drop_out_messages();
    /// assert_eq!(dropped.len(), 1);
    /// assert_eq!((dropped[0].topic.as_str(), dropped[0].mid), ("t", info.mid));
    /// assert!(!info.is_published());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn drop_out_messages(&self) -> Vec<Message> {
        self.engine()
            .with_session(|s| s.drop_out_messages(Instant::now()))
    }

    /// Automatic topic aliases (MQTT 5; not in Paho, which leaves aliases to the application): from the
    /// next connection on, the client gives the topics it publishes on an alias each, up to `max` of
    /// them or the server's Topic Alias Maximum, whichever is smaller (none when the server allows
    /// none), replacing the least recently used alias once all are taken. The first message with an
    /// alias on a connection carries its topic as well; later ones carry the alias and an empty topic,
    /// which saves the topic's bytes on every message to a topic used again. Nothing alias-related
    /// survives a reconnect: the table starts empty, and a message sent again carries its full topic.
    /// `0`, the default, turns them off.
    ///
    /// While they are on, `publish_with` refuses a `TopicAlias` property of the application's own,
    /// which could stand for another topic at the server. docs/performance.md measures what they save.
    ///
    /// ```
    /// use pahoish::{Client, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.auto_topic_aliases_set(16);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn auto_topic_aliases_set(&self, max: u16) {
        self.engine()
            .with_session(|s| s.set_auto_topic_aliases(max));
    }

    /// How many outgoing QoS 1/2 messages are not yet acknowledged, in flight or queued (not in
    /// Paho): 0 once the broker has them all. With a store ([`Builder::persistence`](
    /// crate::Builder::persistence)) it counts those taken up from the store too.
    ///
    /// ```
    /// let client = pahoish::Client::new("sensor-7");
    /// client.publish("sensors/7", "21.5", 1, false)?;
    /// assert_eq!(client.pending_messages(), 1);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn pending_messages(&self) -> usize {
        self.engine().with_session(|s| s.pending_messages())
    }

    /// Whether the client is connected: CONNACK accepted and the connection still open.
    pub fn is_connected(&self) -> bool {
        self.engine().conn_state() == ConnState::Connected
    }

    /// The socket's file descriptor while connected (for an external event loop: poll it for reading,
    /// and for writing when [`want_write`](Client::want_write) is true).
    pub fn socket(&self) -> Option<RawFd> {
        self.engine().socket()
    }

    /// Whether bytes are waiting to be written (then call `loop_write` when the socket is writable).
    pub fn want_write(&self) -> bool {
        self.engine().want_write()
    }

    /// Publishes a message (Paho's `publish`).
    ///
    /// `payload` may be text, bytes, a number (sent as its decimal text) or `()` for none; `qos` is 0, 1
    /// or 2. Returns a [`MessageInfo`] with the message id and Paho's return code: `MQTT_ERR_NO_CONN`
    /// when not connected (QoS 0 is then dropped; QoS 1/2 is kept and sent after the next CONNACK).
    ///
    /// When `max_queued_messages` QoS 1/2 messages are already held, the message is not queued and the
    /// info's `rc` is `MQTT_ERR_QUEUE_SIZE`, as Paho returns it: `is_published()` stays false and
    /// `wait_for_publish` fails with [`Error::QueueFull`], so the loss cannot pass unseen by a script
    /// that checks either.
    ///
    /// Fails for an invalid topic (empty, wildcards, over 65,535 bytes), an invalid QoS and a payload
    /// over MQTT's limit.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let info = client.publish("a/b", 21.5, 1, false)?;
    /// assert_eq!(info.rc, pahoish::MQTT_ERR_NO_CONN); // kept, sent once connected
    /// assert!(client.publish("a/b", "x", 3, false).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn publish<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
    ) -> Result<MessageInfo> {
        self.publish_inner(topic, payload, qos, retain, None)
    }

    /// [`publish`](Client::publish) with MQTT 5 properties (Paho's `properties=`): a
    /// `Properties::new(PacketTypes::PUBLISH)` with, say, a `ContentType`, `ResponseTopic`,
    /// `CorrelationData`, `MessageExpiryInterval` or `UserProperty`.
    ///
    /// Once connected, the server's CONNACK limits are checked here, not sent to be refused: a QoS over
    /// its Maximum QoS or a retained message when it has no Retain Available fail with
    /// [`Error::NotSupported`], a packet over its Maximum Packet Size with [`Error::PacketTooLarge`]. A
    /// message queued before the CONNACK that breaks them is never sent: its `MessageInfo` reports it
    /// discarded and `on_publish` gets the reason (0x9B, 0x9A or 0x95).
    ///
    /// Fails, besides, for properties on MQTT 3.1/3.1.1 (as Paho's ValueError "Properties only apply
    /// to MQTT V5") and for a property PUBLISH may not carry.
    ///
    /// ```
    /// use pahoish::{Client, PacketTypes, Properties, Property, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let props = Properties::new(PacketTypes::PUBLISH)
    ///     .with(Property::ContentType("text/plain".into()))?
    ///     .with(Property::UserProperty("unit".into(), "C".into()))?;
    /// let info = client.publish_with("sensors/7/temp", "21.5", 1, false, props)?;
    /// assert_eq!(info.rc, pahoish::MQTT_ERR_NO_CONN); // kept, sent once connected
    /// let v311 = Client::new("");
    /// let props = Properties::new(PacketTypes::PUBLISH).with(Property::ContentType("x".into()))?;
    /// assert!(v311.publish_with("a", "x", 0, false, props).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn publish_with<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
        properties: Properties,
    ) -> Result<MessageInfo> {
        self.check_properties(&properties, PacketTypes::PUBLISH)?;
        if properties.subscription_identifiers().next().is_some() {
            // Only the server sets it, on what it forwards ([MQTT-3.3.4-6]); Paho sends it.
            return Err(Error::invalid(
                "properties",
                "property SubscriptionIdentifier is the server's: a client must not send it",
            ));
        }
        self.publish_inner(topic, payload, qos, retain, Some(properties))
    }

    fn publish_inner<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        retain: bool,
        props: Option<Properties>,
    ) -> Result<MessageInfo> {
        validate_topic(topic)?;
        let qos = qos.into_qos()?;
        let payload = match payload.into().0 {
            // A QoS 1/2 message is kept until acknowledged, so a borrowed payload is copied into a
            // spare buffer of the session's. A large one is copied here, outside the `state` lock,
            // which the loop needs meanwhile; a small one (a few hundred nanoseconds) under it.
            Cow::Borrowed(bytes) if qos != QoS::AtMostOnce && bytes.len() > COPY_UNDER_LOCK => {
                let mut buf = self.engine().with_session(|s| s.spare_payload());
                buf.clear();
                buf.extend_from_slice(bytes);
                Cow::Owned(buf)
            }
            payload => payload,
        };
        let published = self
            .engine()
            .with_session(|s| s.publish(topic, payload, qos, retain, props));
        let (mid, rc, state) = match published {
            // As Paho: an info with rc MQTT_ERR_QUEUE_SIZE, the message not queued.
            Err(Error::QueueFull) => {
                return Ok(MessageInfo::queue_full(Arc::clone(&self.engine().signal)))
            }
            other => other?,
        };
        self.kick();
        Ok(MessageInfo {
            mid,
            rc,
            state,
            signal: Arc::clone(&self.engine().signal),
        })
    }

    /// Subscribes (Paho's `subscribe`) and returns the message id of the SUBSCRIBE packet.
    ///
    /// `topic` takes every shape Paho accepts: a filter (`"a/b"`, with `qos`), a `(filter, qos)` pair, or
    /// a list of pairs or of filters (one SUBSCRIBE packet for the list); `qos` applies to bare filters.
    /// The subscription is remembered and restored after a reconnect if the broker lost it.
    ///
    /// Fails with [`Error::NoConn`] when not connected, and for an empty list, an invalid filter or QoS.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(matches!(client.subscribe("a/b", 0), Err(pahoish::Error::NoConn)));
    /// assert!(matches!(client.subscribe([("a", 0), ("b#", 1)], 0), Err(pahoish::Error::InvalidFilter { .. })));
    /// assert!(client.subscribe(Vec::<&str>::new(), 0).is_err());
    /// ```
    pub fn subscribe(&self, topic: impl SubscribeTopics, qos: impl IntoQos) -> Result<u16> {
        let filters = topic.into_filters(SubscribeOptions::new(qos)?)?;
        self.subscribe_inner(filters, None)
    }

    /// [`subscribe`](Client::subscribe) with MQTT 5's subscription options and properties (Paho's
    /// `subscribe(topic, options=..., properties=...)`): `options` applies to bare filters, as `qos`
    /// does; pairs may carry [`SubscribeOptions`] of their own. `properties` (a
    /// `Properties::new(PacketTypes::SUBSCRIBE)`) may hold a `SubscriptionIdentifier` and
    /// `UserProperty`s.
    ///
    /// Once connected, the server's CONNACK limits are checked here: a wildcard, shared or
    /// subscription-identifier subscription the server does not support fails with
    /// [`Error::NotSupported`], a SUBSCRIBE over its Maximum Packet Size with [`Error::PacketTooLarge`].
    /// Fails, besides, for No Local on a shared subscription ([MQTT-3.8.3-4]), and on MQTT 3.1/3.1.1
    /// for options beyond the QoS or for properties.
    ///
    /// ```
    /// use pahoish::{Client, SubscribeOptions, MQTTv5, RETAIN_DO_NOT_SEND};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let options = SubscribeOptions {
    ///     no_local: true,
    ///     retain_handling: RETAIN_DO_NOT_SEND,
    ///     ..SubscribeOptions::new(1)?
    /// };
    /// assert!(matches!(client.subscribe_with("chat/#", options, None), Err(pahoish::Error::NoConn)));
    /// assert!(client.subscribe_with("$share/g/chat", options, None).is_err()); // No Local, shared
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn subscribe_with(
        &self,
        topic: impl SubscribeTopics,
        options: SubscribeOptions,
        properties: Option<Properties>,
    ) -> Result<u16> {
        let filters = topic.into_filters(options)?;
        if let Some(p) = &properties {
            self.check_properties(p, PacketTypes::SUBSCRIBE)?;
        }
        self.subscribe_inner(filters, properties.as_ref())
    }

    fn subscribe_inner(
        &self,
        filters: Vec<(String, SubscribeOptions)>,
        props: Option<&Properties>,
    ) -> Result<u16> {
        let v5 = self.settings().protocol == Protocol::V5;
        for (filter, o) in &filters {
            if !v5 && (o.no_local || o.retain_as_published || o.retain_handling != 0) {
                return Err(Error::invalid(
                    "options",
                    "subscribe options other than the QoS only apply to MQTT V5",
                ));
            }
            if v5 && o.no_local && filter.starts_with("$share/") {
                return Err(Error::invalid(
                    "options",
                    format!("No Local cannot be set on the shared subscription {filter:?}"),
                ));
            }
        }
        let mid = self
            .engine()
            .with_session(|s| s.subscribe(filters, props))?;
        self.kick();
        Ok(mid)
    }

    /// Unsubscribes from one filter or a list of them (one UNSUBSCRIBE packet) and returns its message
    /// id. The filters are forgotten, so a reconnect does not restore them.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// assert!(matches!(client.unsubscribe(["a/b", "c/#"]), Err(pahoish::Error::NoConn)));
    /// assert!(matches!(client.unsubscribe(""), Err(pahoish::Error::InvalidFilter { .. })));
    /// ```
    pub fn unsubscribe(&self, topic: impl UnsubscribeTopics) -> Result<u16> {
        let filters = topic.into_filters()?;
        let mid = self
            .engine()
            .with_session(|s| s.unsubscribe(filters, None))?;
        self.kick();
        Ok(mid)
    }

    /// [`unsubscribe`](Client::unsubscribe) with MQTT 5 properties (Paho's `properties=`: a
    /// `Properties::new(PacketTypes::UNSUBSCRIBE)` with `UserProperty`s). Fails for properties on
    /// MQTT 3.1/3.1.1, and for an UNSUBSCRIBE over the server's Maximum Packet Size.
    pub fn unsubscribe_with(
        &self,
        topic: impl UnsubscribeTopics,
        properties: Properties,
    ) -> Result<u16> {
        self.check_properties(&properties, PacketTypes::UNSUBSCRIBE)?;
        let filters = topic.into_filters()?;
        let mid = self
            .engine()
            .with_session(|s| s.unsubscribe(filters, Some(&properties)))?;
        self.kick();
        Ok(mid)
    }

    /// Properties given for a packet of `packet`: refused on MQTT 3.1/3.1.1, as Paho refuses them, and
    /// each must be one the packet may carry.
    pub(super) fn check_properties(&self, props: &Properties, packet: PacketTypes) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        if self.settings().protocol != Protocol::V5 {
            return Err(Error::invalid(
                "properties",
                "properties only apply to MQTT V5",
            ));
        }
        match props.iter().find(|p| !p.allowed_in(packet)) {
            Some(p) => Err(Error::invalid(
                "properties",
                format!(
                    "property {} does not apply to packet type {}",
                    p.name(),
                    packet.name()
                ),
            )),
            None => Ok(()),
        }
    }

    /// Gets queued bytes moving (see the engine's `kick`).
    pub(crate) fn kick(&self) {
        self.engine().kick(self.handler());
    }
}
