//! Publishing, subscribing, acknowledging, and the connection's state as the application sees it.

use std::borrow::Cow;
use std::os::unix::io::RawFd;
use std::sync::Arc;

use super::Client;
use crate::completion::MessageInfo;
use crate::error::{Error, Result};
use crate::message::Payload;
use crate::session::ConnState;
use crate::topic::{validate_topic, SubscribeTopics, UnsubscribeTopics};
use crate::types::{IntoQos, QoS};

/// A borrowed QoS 1/2 payload up to this size is copied into its buffer with the `state` lock held;
/// a larger one before, so that the loop is not kept waiting for the copy.
const COPY_UNDER_LOCK: usize = 4096;

impl<U: Send + 'static> Client<U> {
    /// Acknowledges an incoming message when manual ack is on: PUBACK for QoS 1, PUBCOMP for QoS 2.
    ///
    /// Fails if manual ack is off or `qos` is not 1 or 2.
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
    /// Fails for an invalid topic (empty, wildcards, over 65,535 bytes), an invalid QoS, a payload over
    /// MQTT's limit, and with [`Error::QueueFull`] when `max_queued_messages` QoS 1/2 messages are held.
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
        let (mid, rc, state) = self
            .engine()
            .with_session(|s| s.publish(topic, payload, qos, retain))?;
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
        let filters = topic.into_filters(qos.into_qos()?)?;
        let mid = self.engine().with_session(|s| s.subscribe(filters))?;
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
        let mid = self.engine().with_session(|s| s.unsubscribe(filters))?;
        self.kick();
        Ok(mid)
    }

    /// Gets queued bytes moving (see the engine's `kick`).
    pub(crate) fn kick(&self) {
        self.engine().kick(self.handler());
    }
}
