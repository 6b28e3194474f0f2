//! What the scenarios share: MQTT 5 clients whose callbacks feed channels ([`Conn`], [`V5`]), the
//! marker sync that shows nothing else arrived ([`V5::sync`]), and a raw connection for what a `Client`
//! never does ([`Raw`]).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};

use crate::common::{client_id, recv, unique, Live, HOST, WAIT};
use crate::Broker;
use pahoish::packet::{self, Connect, LastWill, Packet};
use pahoish::{
    CleanStart, Client, ConnectOptions, MQTTv5, Message, PacketTypes, Properties, Property,
    Protocol, QoS, ReasonCode, SubscribeOptions,
};

/// What `on_connect` reported: session present, the reason code, the CONNACK's properties.
pub type Connack = (bool, ReasonCode, Properties);

/// What `on_disconnect` reported: whether the server sent DISCONNECT, its reason and properties.
pub type Disconnected = (bool, ReasonCode, Properties);

/// A will for [`Conn::will`].
struct Will {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    props: Properties,
}

/// An MQTT 5 connection to make: a client id, Clean Start, CONNECT properties, keepalive, a will.
pub struct Conn {
    id: String,
    clean_start: CleanStart,
    props: Properties,
    keepalive: u16,
    will: Option<Will>,
    manual_ack: bool,
}

impl Conn {
    /// A client with the id `client_id(tag)` (or an empty id, for the broker to assign, when `tag` is
    /// empty): Clean Start, keepalive 60, no properties.
    pub fn new(tag: &str) -> Conn {
        let id = if tag.is_empty() {
            String::new()
        } else {
            client_id(tag)
        };
        Conn::with_id(&id)
    }

    /// A client with exactly this id.
    pub fn with_id(id: &str) -> Conn {
        Conn {
            id: id.to_owned(),
            clean_start: CleanStart::Always,
            props: Properties::new(PacketTypes::CONNECT),
            keepalive: 60,
            will: None,
            manual_ack: false,
        }
    }

    /// Continues the session the broker kept (Clean Start 0).
    pub fn resume(mut self) -> Conn {
        self.clean_start = CleanStart::Never;
        self
    }

    /// Adds a CONNECT property.
    pub fn prop(mut self, p: Property) -> Conn {
        self.props.set(p).expect("a CONNECT property");
        self
    }

    /// Session Expiry Interval.
    pub fn expiry(self, secs: u32) -> Conn {
        self.prop(Property::SessionExpiryInterval(secs))
    }

    pub fn keepalive(mut self, secs: u16) -> Conn {
        self.keepalive = secs;
        self
    }

    /// A will with these WILLMESSAGE properties.
    pub fn will(mut self, topic: &str, payload: &str, qos: u8, props: &[Property]) -> Conn {
        let mut p = Properties::new(PacketTypes::WILLMESSAGE);
        for prop in props {
            p.set(prop.clone()).expect("a will property");
        }
        self.will = Some(Will {
            topic: topic.to_owned(),
            payload: payload.as_bytes().to_vec(),
            qos,
            props: p,
        });
        self
    }

    /// Messages are acknowledged only by [`Client::ack`].
    pub fn manual_ack(mut self) -> Conn {
        self.manual_ack = true;
        self
    }

    /// Connects (no reconnecting on failure: a scenario sees every disconnection) and waits for the
    /// CONNACK, which must accept.
    pub fn start(self, b: &Broker) -> V5 {
        let v = self.start_any(b);
        assert!(
            !v.connack.1.is_failure(),
            "{}: CONNACK refused: {}",
            b.name(),
            v.connack.1
        );
        v
    }

    /// [`Conn::start`] without checking the CONNACK's reason code.
    pub fn start_any(self, b: &Broker) -> V5 {
        let client = Client::builder()
            .client_id(self.id.as_str())
            .protocol(MQTTv5)
            .reconnect_on_failure(false)
            .manual_ack(self.manual_ack)
            .build()
            .expect("building a client");
        if let Some(w) = self.will {
            client
                .will_set_with(&w.topic, w.payload, w.qos, false, w.props)
                .expect("will_set_with");
        }
        let (tx, connacks) = mpsc::channel();
        client.on_connect(move |_c, _u, flags, rc, props| {
            let _ = tx.send((flags.session_present, rc, props.clone()));
        });
        let (tx, messages) = mpsc::channel();
        client.on_message(move |_c, _u, m| {
            let _ = tx.send(m.clone());
        });
        let (tx, disconnects) = mpsc::channel();
        client.on_disconnect(move |_c, _u, flags, rc, props| {
            let _ = tx.send((flags.is_disconnect_packet_from_server, rc, props.clone()));
        });
        let (tx, subacks) = mpsc::channel();
        client.on_subscribe(move |_c, _u, mid, codes, _p| {
            let _ = tx.send((mid, codes.to_vec()));
        });
        let (tx, unsubacks) = mpsc::channel();
        client.on_unsubscribe(move |_c, _u, mid, codes, _p| {
            let _ = tx.send((mid, codes.to_vec()));
        });
        let options = ConnectOptions {
            clean_start: self.clean_start,
            properties: (!self.props.is_empty()).then_some(self.props),
            ..ConnectOptions::default()
        };
        client
            .connect_with(HOST, b.port, self.keepalive, options)
            .unwrap_or_else(|e| panic!("{}: connect: {e}", b.name()));
        client.loop_start().expect("loop_start");
        let live = Live::adopt(client);
        let connack: Connack = recv(&connacks, &format!("{}: the CONNACK", b.name()));
        let id = match connack.2.assigned_client_identifier() {
            Some(assigned) if self.id.is_empty() => assigned.to_owned(),
            _ => self.id,
        };
        V5 {
            live,
            id,
            broker: b.name(),
            marker: format!("$sync/{}", unique()),
            marker_subscribed: std::cell::Cell::new(false),
            connack,
            messages,
            disconnects,
            subacks,
            unsubacks,
        }
    }
}

/// A connected MQTT 5 client and what its callbacks reported.
pub struct V5 {
    pub live: Live,
    /// Its client id (the assigned one, for an empty id).
    pub id: String,
    broker: &'static str,
    /// The `$sync/...` topic of its markers (no wildcard matches a `$` topic).
    marker: String,
    marker_subscribed: std::cell::Cell<bool>,
    pub connack: Connack,
    pub messages: Receiver<Message>,
    pub disconnects: Receiver<Disconnected>,
    subacks: Receiver<(u16, Vec<ReasonCode>)>,
    unsubacks: Receiver<(u16, Vec<ReasonCode>)>,
}

impl std::ops::Deref for V5 {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.live
    }
}

impl V5 {
    /// Whether the CONNACK said session present.
    pub fn session_present(&self) -> bool {
        self.connack.0
    }

    /// The CONNACK's properties.
    pub fn connack_props(&self) -> &Properties {
        &self.connack.2
    }

    /// Subscribes and waits for the SUBACK; returns its reason codes.
    pub fn subscribe_codes(
        &self,
        filters: &[(&str, SubscribeOptions)],
        props: Option<Properties>,
    ) -> Vec<ReasonCode> {
        let list: Vec<(&str, SubscribeOptions)> = filters.to_vec();
        let mid = self
            .live
            .subscribe_with(list, SubscribeOptions::default(), props)
            .unwrap_or_else(|e| panic!("{}: subscribe {filters:?}: {e}", self.broker));
        let (got, codes) = recv(&self.subacks, &format!("{}: the SUBACK", self.broker));
        assert_eq!(got, mid, "{}: the SUBACK of another SUBSCRIBE", self.broker);
        assert_eq!(codes.len(), filters.len(), "{}: {codes:?}", self.broker);
        codes
    }

    /// Subscribes to `filter` with `options` (and `props`) and checks the QoS granted is the one asked.
    pub fn subscribe_opts(
        &self,
        filter: &str,
        options: SubscribeOptions,
        props: Option<Properties>,
    ) {
        let codes = self.subscribe_codes(&[(filter, options)], props);
        assert_eq!(
            codes[0].value(),
            options.qos as u8,
            "{}: SUBACK for {filter:?}: {codes:?}",
            self.broker
        );
    }

    /// Subscribes to `filter` at `qos` and checks it was granted.
    pub fn sub(&self, filter: &str, qos: u8) {
        self.subscribe_opts(filter, opts(qos), None);
    }

    /// Unsubscribes and waits for the UNSUBACK; returns its reason codes.
    pub fn unsubscribe(&self, filter: &str) -> Vec<ReasonCode> {
        let mid = self
            .live
            .unsubscribe(filter)
            .unwrap_or_else(|e| panic!("{}: unsubscribe {filter:?}: {e}", self.broker));
        let (got, codes) = recv(&self.unsubacks, &format!("{}: the UNSUBACK", self.broker));
        assert_eq!(
            got, mid,
            "{}: the UNSUBACK of another UNSUBSCRIBE",
            self.broker
        );
        codes
    }

    /// Publishes and waits until the message is published (for QoS 0: written).
    pub fn publish_props(
        &self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        props: Properties,
    ) {
        let info = self
            .live
            .publish_with(topic, payload, qos, retain, props)
            .unwrap_or_else(|e| panic!("{}: publish to {topic:?}: {e}", self.broker));
        let done = info.wait_for_publish(Some(WAIT));
        assert!(
            matches!(done, Ok(true)),
            "{}: publish to {topic:?} at QoS {qos}: {done:?}",
            self.broker
        );
    }

    /// [`V5::publish_props`] without properties.
    pub fn publish(&self, topic: &str, payload: &str, qos: u8, retain: bool) {
        self.publish_props(topic, payload.as_bytes(), qos, retain, publish_props(&[]));
    }

    /// The next message, within [`WAIT`].
    pub fn next(&self, what: &str) -> Message {
        recv(&self.messages, &format!("{}: {what}", self.broker))
    }

    /// Every message that arrives before a marker `via` publishes now (QoS 2, so that it comes after
    /// any QoS 0, 1 or 2 message the broker sent this client before it). `via` may be this client.
    pub fn sync(&self, via: &V5) -> Vec<Message> {
        if !self.marker_subscribed.replace(true) {
            self.sub(&self.marker, 2);
        }
        let marker = format!("marker {}", unique());
        via.publish(&self.marker, &marker, 2, false);
        let mut got = Vec::new();
        loop {
            let m = self.next("the marker");
            if m.topic == self.marker && m.payload == marker.as_bytes() {
                return got;
            }
            got.push(m);
        }
    }

    /// Checks that nothing arrives before a marker from `via`.
    pub fn expect_nothing(&self, via: &V5, what: &str) {
        let got = self.sync(via);
        assert!(
            got.is_empty(),
            "{}: {what}: nothing should have arrived, got {:?}",
            self.broker,
            summary(&got)
        );
    }

    /// Sends DISCONNECT with these properties (none: a plain DISCONNECT) and stops the loop.
    pub fn disconnect_props(self, props: &[Property]) {
        let mut p = Properties::new(PacketTypes::DISCONNECT);
        for prop in props {
            p.set(prop.clone()).expect("a DISCONNECT property");
        }
        self.live
            .disconnect_with(None, Some(p))
            .unwrap_or_else(|e| panic!("{}: disconnect: {e}", self.broker));
        let (from_server, rc, _) = recv(&self.disconnects, "on_disconnect");
        assert!(!from_server && !rc.is_failure(), "{}: {rc}", self.broker);
        self.stop();
    }

    /// Disconnects normally and stops the loop.
    pub fn stop(self) {
        self.live
            .stop()
            .unwrap_or_else(|e| panic!("{}: loop_stop: {e}", self.broker));
    }

    /// Ends the connection without DISCONNECT, as a network failure would (the broker sees the TCP
    /// connection close and publishes the will); waits until the client has seen it.
    pub fn cut(self) {
        let fd = self.live.socket().expect("a connected client has a socket");
        // SAFETY: shutdown(2) on the client's own open socket; the client keeps owning it and closes
        // it when it sees the end of stream this causes.
        let rc = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
        let (from_server, rc, _) = recv(&self.disconnects, "on_disconnect after the cut");
        assert!(!from_server && rc.is_failure(), "{}: {rc}", self.broker);
        self.stop_quietly();
    }

    /// Stops the loop of a client whose connection is gone.
    pub fn stop_quietly(self) {
        let _ = self.live.stop();
    }
}

/// `SubscribeOptions` with this QoS.
pub fn opts(qos: u8) -> SubscribeOptions {
    SubscribeOptions::new(qos).expect("a QoS")
}

/// PUBLISH properties.
pub fn publish_props(props: &[Property]) -> Properties {
    let mut p = Properties::new(PacketTypes::PUBLISH);
    for prop in props {
        p.set(prop.clone()).expect("a PUBLISH property");
    }
    p
}

/// Topic, payload, QoS and retain of each message, for assertions and failure messages.
pub fn summary(msgs: &[Message]) -> Vec<(String, String, u8, bool)> {
    msgs.iter()
        .map(|m| {
            (
                m.topic.clone(),
                String::from_utf8_lossy(&m.payload).into_owned(),
                m.qos,
                m.retain,
            )
        })
        .collect()
}

/// The messages sorted by payload: for comparing what arrived, where our client delivers QoS 2
/// messages (on PUBREL) behind QoS 0 and 1 ones sent after them.
pub fn by_payload(mut msgs: Vec<Message>) -> Vec<Message> {
    msgs.sort_by(|a, b| a.payload.cmp(&b.payload));
    msgs
}

/// A raw MQTT 5 connection, for what `Client` never does: stay silent past its keepalive, leave
/// messages unacknowledged, send a topic alias the broker never saw, a second CONNECT.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Opens a TCP connection to the broker (nothing sent yet).
    pub fn open(b: &Broker) -> Raw {
        let stream = TcpStream::connect((HOST, b.port)).expect("connecting");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Opens a connection and sends CONNECT (MQTT 5, `id`, clean start as asked, keepalive, the
    /// properties and will given); returns it and the CONNACK, which must accept.
    pub fn connect(
        b: &Broker,
        id: &str,
        clean_start: bool,
        keepalive: u16,
        props: &[Property],
        will: Option<LastWill>,
    ) -> (Raw, pahoish::packet::ConnAck) {
        let mut raw = Raw::open(b);
        let mut properties = Properties::new(PacketTypes::CONNECT);
        for p in props {
            properties.set(p.clone()).unwrap();
        }
        raw.send(&Packet::Connect(Connect {
            protocol: Protocol::V5,
            client_id: id.to_owned(),
            clean_session: clean_start,
            keepalive,
            will,
            properties,
            ..Connect::default()
        }));
        match raw.recv() {
            Some(Packet::ConnAck(c)) if c.code == 0 => (raw, c),
            other => panic!("{}: expected an accepting CONNACK, got {other:?}", b.name()),
        }
    }

    pub fn send(&mut self, p: &Packet) {
        let mut out = Vec::new();
        p.encode_v5(&mut out);
        self.send_bytes(&out);
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("writing to the broker");
    }

    /// The next packet, or `None` when the broker closes the connection (or resets it). Fails after
    /// [`WAIT`] without either.
    pub fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some((p, used)) =
                packet::decode_v5(&self.buf, 268_435_455).expect("a packet from the broker")
            {
                self.buf.drain(..used);
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading from the broker (within {WAIT:?}): {e}"),
            }
        }
    }

    /// Reads until the connection ends; returns the packets that came before.
    pub fn until_closed(&mut self) -> Vec<Packet> {
        let mut got = Vec::new();
        while let Some(p) = self.recv() {
            got.push(p);
        }
        got
    }
}

/// A raw PUBLISH.
pub fn raw_publish(topic: &str, payload: &str, qos: u8, pkid: u16, props: &[Property]) -> Packet {
    Packet::Publish(packet::Publish {
        qos: match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        },
        topic: topic.to_owned(),
        pkid,
        payload: payload.as_bytes().to_vec(),
        properties: publish_props(props),
        ..packet::Publish::default()
    })
}
