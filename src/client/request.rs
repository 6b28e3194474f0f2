//! MQTT 5 request/response (not in Paho): [`Client::request`] publishes a request with a Response
//! Topic and Correlation Data and waits for the reply, [`Client::respond`] answers one.
//!
//! Each client has one response topic, subscribed on the first request: under the server's Response
//! Information when the CONNACK gave one (the client asks for it with the CONNECT property Request
//! Response Information 1), else under `pahoish/responses/`, followed by a random part, so that no
//! other client shares it. Replies are told apart by their Correlation Data, 16 random bytes per
//! request, so any number of requests can wait at once, from any number of threads. A reply on that
//! topic goes to its request only; one that matches no waiting request (it came after the timeout)
//! is dropped with a log line rather than reaching `on_message`.

use std::collections::HashMap;
use std::sync::mpsc::{self, SyncSender};

use rand::Rng;

use super::Client;
use crate::completion::{not_in_callback, MessageInfo};
use crate::error::{Error, ErrorCode, Result};
use crate::message::{Message, Payload};
use crate::properties::{PacketTypes, Properties, Property};
use crate::types::{IntoQos, LogLevel, Protocol, Seconds};

/// The requests waiting for their replies, and where the replies come.
#[derive(Default)]
pub(crate) struct Requests {
    /// The response topic, once subscribed.
    topic: Option<String>,
    /// The server's Response Information from the last CONNACK, if it gave one.
    pub(super) server_prefix: Option<String>,
    /// Correlation data → the waiting request.
    waiting: HashMap<Vec<u8>, SyncSender<Message>>,
}

/// Removes a request from the waiting ones however `request` returns.
struct Waiting<'a, U: Send + 'static> {
    client: &'a Client<U>,
    correlation: Vec<u8>,
}

impl<U: Send + 'static> Drop for Waiting<'_, U> {
    fn drop(&mut self) {
        self.client.requests().waiting.remove(&self.correlation);
    }
}

impl<U: Send + 'static> Client<U> {
    /// Sends a request and waits for its reply (MQTT 5; not in Paho): publishes `payload` to `topic`
    /// with a Response Topic and a Correlation Data of the client's own, and returns the first message
    /// that comes back on that topic with that correlation data, or [`Error::Timeout`] after `timeout`.
    ///
    /// A responder answers with [`respond`](Client::respond) (or any client that publishes to the
    /// request's Response Topic with its Correlation Data, as `mosquitto_rr`'s responders do). The
    /// client subscribes to its response topic on the first request (QoS 1); the automatic resubscribe
    /// keeps it across reconnects. Any number of requests may wait at once, from many threads. The
    /// network loop must be running (`loop_start`, or `loop_forever` on another thread), and the
    /// client connected: a request made while it is not fails with [`Error::NoConn`] at once rather
    /// than waiting out its timeout.
    ///
    /// Fails with [`Error::NotSupported`] on MQTT 3.1/3.1.1, which have no such properties;
    /// [`Error::WouldDeadlock`] from a callback (the reply is delivered by the loop that runs the
    /// callback); and as [`publish`](Client::publish) fails.
    ///
    /// ```
    /// use pahoish::{testing::TestBroker, Client, MQTTv5};
    ///
    /// let broker = TestBroker::start()?;
    /// // A responder: doubles the number it is sent.
    /// let responder = Client::builder().protocol(MQTTv5).build()?;
    /// responder.on_connect(|c, _, _, _, _| {
    ///     c.subscribe("calc/double", 1).unwrap();
    /// });
    /// responder.on_message(|c, _, request| {
    ///     let n: i64 = request.payload_str().unwrap_or("0").parse().unwrap_or(0);
    ///     c.respond(request, (2 * n).to_string(), 1).unwrap();
    /// });
    /// let (tx, subscribed) = std::sync::mpsc::channel();
    /// responder.on_subscribe(move |_, _, _, _, _| tx.send(()).unwrap());
    /// responder.connect("127.0.0.1", broker.port(), 60)?;
    /// responder.loop_start()?;
    /// subscribed.recv_timeout(std::time::Duration::from_secs(5))?;
    ///
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let (tx, connected) = std::sync::mpsc::channel();
    /// client.on_connect(move |_, _, _, _, _| tx.send(()).unwrap());
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// connected.recv_timeout(std::time::Duration::from_secs(5))?;
    /// let reply = client.request("calc/double", "21", 1, 5.0)?;
    /// assert_eq!(reply.payload, b"42");
    /// # client.disconnect()?; client.loop_stop()?; responder.disconnect()?; responder.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn request<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        timeout: impl Seconds,
    ) -> Result<Message> {
        self.request_with(topic, payload, qos, None, timeout)
    }

    /// [`request`](Client::request) with more MQTT 5 PUBLISH properties (a Content Type, User
    /// Properties, a Message Expiry Interval, ...). They may not hold a Response Topic or Correlation
    /// Data: the request sets those.
    ///
    /// ```
    /// use pahoish::{Client, MQTTv5, PacketTypes, Properties, Property};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let props = Properties::new(PacketTypes::PUBLISH)
    ///     .with(Property::ContentType("application/json".into()))?;
    /// // Not connected: refused at once.
    /// let e = client.request_with("svc/echo", "{}", 1, Some(props), 1.0).unwrap_err();
    /// assert!(matches!(e, pahoish::Error::NoConn));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn request_with<'p>(
        &self,
        topic: &str,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
        properties: Option<Properties>,
        timeout: impl Seconds,
    ) -> Result<Message> {
        let timeout = timeout.to_duration("timeout")?;
        if self.protocol() != Protocol::V5 {
            return Err(Error::NotSupported(
                "request/response needs MQTT 5 (Response Topic and Correlation Data are 5.0 \
                 properties): build the client with protocol(MQTTv5)"
                    .into(),
            ));
        }
        not_in_callback(&self.engine().signal, "request from a callback")?;
        let mut props = properties.unwrap_or_else(|| Properties::new(PacketTypes::PUBLISH));
        if props.response_topic().is_some() || props.correlation_data().is_some() {
            return Err(Error::invalid(
                "properties",
                "a request sets its own Response Topic and Correlation Data",
            ));
        }
        if !self.is_connected() {
            return Err(Error::NoConn);
        }
        let response_topic = self.response_topic()?;
        let correlation: Vec<u8> = rand::thread_rng().gen::<[u8; 16]>().to_vec();
        props.set(Property::ResponseTopic(response_topic))?;
        props.set(Property::CorrelationData(correlation.clone()))?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.requests().waiting.insert(correlation.clone(), tx);
        let _waiting = Waiting {
            client: self,
            correlation,
        };
        let info = self.publish_with(topic, payload, qos, false, props)?;
        match info.rc {
            ErrorCode::Success => {}
            ErrorCode::NoConn => return Err(Error::NoConn),
            ErrorCode::QueueSize => return Err(Error::QueueFull),
            rc => return Err(Error::PublishDiscarded(rc)),
        }
        rx.recv_timeout(timeout)
            .map_err(|_| Error::Timeout(timeout))
    }

    /// Answers a request (MQTT 5; not in Paho): publishes `payload` to the request's Response Topic
    /// with its Correlation Data, as a [`request`](Client::request) or `mosquitto_rr` waits for it.
    /// Call it from `on_message` (or anywhere later) with the request message.
    ///
    /// Fails with [`Error::InvalidArgument`] when the message has no Response Topic (it is no
    /// request), and as [`publish_with`](Client::publish_with) fails.
    ///
    /// ```
    /// use pahoish::{Client, Message, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// let not_a_request = Message::new("t", "x", 0, false);
    /// assert!(client.respond(&not_a_request, "y", 0).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn respond<'p>(
        &self,
        request: &Message,
        payload: impl Into<Payload<'p>>,
        qos: impl IntoQos,
    ) -> Result<MessageInfo> {
        let Some(topic) = request.properties.response_topic() else {
            return Err(Error::invalid(
                "request",
                format!(
                    "the message on {:?} has no Response Topic: it asks for no reply",
                    request.topic
                ),
            ));
        };
        let mut props = Properties::new(PacketTypes::PUBLISH);
        if let Some(data) = request.properties.correlation_data() {
            props.set(Property::CorrelationData(data.to_vec()))?;
        }
        self.publish_with(topic, payload, qos, false, props)
    }

    /// The client's response topic, subscribed to on first use.
    fn response_topic(&self) -> Result<String> {
        let mut requests = self.requests();
        if let Some(topic) = &requests.topic {
            return Ok(topic.clone());
        }
        let suffix: String = (0..16)
            .map(|_| char::from(b"0123456789abcdef"[rand::thread_rng().gen_range(0..16)]))
            .collect();
        let topic = match requests.server_prefix.as_deref() {
            Some(prefix) if prefix.ends_with('/') => format!("{prefix}{suffix}"),
            Some(prefix) => format!("{prefix}/{suffix}"),
            None => format!("pahoish/responses/{suffix}"),
        };
        // Subscribed before the request is published: the server handles one client's packets in
        // order, so the reply cannot come before the subscription.
        self.subscribe(topic.as_str(), 1)?;
        requests.topic = Some(topic.clone());
        self.inner
            .requests_used
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(topic)
    }

    /// Hands `msg` to the request waiting for it; `true` when it was a reply on the response topic
    /// (delivered or, when nothing waits for it any more, dropped), which then goes nowhere else.
    pub(super) fn take_reply(&self, msg: &Message) -> bool {
        if !self
            .inner
            .requests_used
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return false;
        }
        let mut requests = self.requests();
        if requests.topic.as_deref() != Some(msg.topic.as_str()) {
            return false;
        }
        let waiting = msg
            .properties
            .correlation_data()
            .and_then(|c| requests.waiting.remove(c));
        drop(requests);
        match waiting {
            Some(tx) => {
                let _ = tx.try_send(msg.clone());
            }
            None => self.log(
                LogLevel::Debug,
                "Dropped a reply on the response topic that no request waits for (it came after \
                 its request timed out?)",
            ),
        }
        true
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}
