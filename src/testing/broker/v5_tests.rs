//! Tests of [`TestBroker`] at MQTT 5, driven with the real [`Client`] (and, where a test needs a byte the
//! client would never send, a raw connection), one per feature.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::{Direction, TestBroker};
use crate::client::{Client, ConnectOptions};
use crate::message::Message;
use crate::packet::{
    self, Connect, Disconnect, Packet, Protocol, Publish, QoS, Subscribe, MAX_REMAINING_LENGTH,
};
use crate::properties::{PacketTypes, Properties, Property};
use crate::types::{CleanStart, MQTTv5, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(5);

/// An MQTT 5 client of `id`, connected (CONNACK received) with `options`, its messages on a channel;
/// returns it with its CONNACK's session-present flag and properties.
fn v5_client(
    broker: &TestBroker,
    id: &str,
    options: ConnectOptions,
) -> (Client, Receiver<Message>, bool, Properties) {
    let client = Client::builder()
        .client_id(id)
        .protocol(MQTTv5)
        .reconnect_on_failure(false)
        .build()
        .unwrap();
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let (ctx, connacks) = mpsc::channel();
    client.on_connect(move |_c, _u, flags, rc, props| {
        let _ = ctx.send((flags.session_present, rc.value(), props.clone()));
    });
    client
        .connect_with("127.0.0.1", broker.port(), 60, options)
        .unwrap();
    client.loop_start().unwrap();
    let (present, rc, props) = connacks.recv_timeout(WAIT).expect("CONNACK");
    assert_eq!(rc, 0, "CONNACK of {id}");
    (client, messages, present, props)
}

fn connected(broker: &TestBroker, id: &str) -> (Client, Receiver<Message>) {
    let (c, m, _, _) = v5_client(broker, id, ConnectOptions::default());
    (c, m)
}

fn stop(client: Client) {
    let _ = client.disconnect();
    client.loop_stop().unwrap();
}

/// Subscribes and waits for the SUBACK; returns its reason codes.
fn subscribe(
    broker: &TestBroker,
    client: &Client,
    id: &str,
    filter: &str,
    options: SubscribeOptions,
    properties: Option<Properties>,
) -> Vec<u8> {
    let before = suback_count(broker, id);
    client.subscribe_with(filter, options, properties).unwrap();
    let mut codes = None;
    broker.wait_for_packets(id, WAIT, |log| {
        let subacks: Vec<_> = log
            .iter()
            .filter_map(|(_, p)| match p {
                Packet::SubAck(s) => Some(s.return_codes.clone()),
                _ => None,
            })
            .collect();
        codes = subacks.get(before).cloned();
        codes.is_some()
    });
    codes.expect("SUBACK")
}

fn suback_count(broker: &TestBroker, id: &str) -> usize {
    broker
        .packets(id)
        .iter()
        .filter(|(_, p)| matches!(p, Packet::SubAck(_)))
        .count()
}

fn opts(qos: u8) -> SubscribeOptions {
    SubscribeOptions::new(qos).unwrap()
}

fn publish(client: &Client, topic: &str, payload: &str, qos: u8, retain: bool, props: Properties) {
    client
        .publish_with(topic, payload, qos, retain, props)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
}

fn no_props() -> Properties {
    Properties::new(PacketTypes::PUBLISH)
}

/// A raw MQTT 5 connection, for what the client would not send.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(broker: &TestBroker, id: &str) -> Raw {
        Raw::connect_with(broker, id, Properties::new(PacketTypes::CONNECT))
    }

    fn connect_with(broker: &TestBroker, id: &str, properties: Properties) -> Raw {
        let stream = TcpStream::connect(broker.addr()).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        raw.send(Packet::Connect(Connect {
            protocol: Protocol::V5,
            client_id: id.into(),
            clean_session: true,
            keepalive: 60,
            properties,
            ..Connect::default()
        }));
        assert!(matches!(raw.recv(), Some(Packet::ConnAck(c)) if c.code == 0));
        raw
    }

    fn send(&mut self, p: Packet) {
        let mut out = Vec::new();
        p.encode_v5(&mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// The next packet; `None` at the end of the stream.
    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some((p, n)) = packet::decode_v5(&self.buf, MAX_REMAINING_LENGTH).unwrap() {
                self.buf.drain(..n);
                return Some(p);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// 1 and 2: an MQTT 5 client gets an MQTT 5 CONNACK with the broker's limits and the client id it
/// assigned; a 3.1.1 client beside it still gets 3.1.1 packets.
#[test]
fn connack_carries_the_limits_and_the_assigned_id() {
    let broker = TestBroker::builder()
        .receive_maximum(20)
        .maximum_packet_size(10_000)
        .topic_alias_maximum(3)
        .server_keep_alive(30)
        .maximum_qos(1)
        .retain_available(false)
        .wildcard_subscription_available(false)
        .shared_subscription_available(false)
        .subscription_identifier_available(false)
        .start()
        .unwrap();
    let (client, _, present, props) = v5_client(&broker, "", ConnectOptions::default());
    assert!(!present);
    assert_eq!(props.assigned_client_identifier(), Some("auto-1"));
    assert_eq!(props.receive_maximum(), Some(20));
    assert_eq!(props.maximum_packet_size(), Some(10_000));
    assert_eq!(props.topic_alias_maximum(), Some(3));
    assert_eq!(props.server_keep_alive(), Some(30));
    assert_eq!(props.maximum_qos(), Some(1));
    assert_eq!(props.retain_available(), Some(0));
    assert_eq!(props.wildcard_subscription_available(), Some(0));
    assert_eq!(props.shared_subscription_available(), Some(0));
    assert_eq!(props.subscription_identifier_available(), Some(0));
    stop(client);

    // The defaults announce only the topic alias maximum.
    let broker = TestBroker::start().unwrap();
    let (client, _, _, props) = v5_client(&broker, "plain", ConnectOptions::default());
    let ids: Vec<u8> = props.iter().map(Property::id).collect();
    assert_eq!(ids, [0x22]);
    assert_eq!(props.topic_alias_maximum(), Some(10));
    stop(client);
}

/// 2: SUBACK and UNSUBACK reason codes per filter, and PUBACK 0x10 when nobody subscribes.
#[test]
fn acknowledgements_carry_reason_codes() {
    let broker = TestBroker::builder()
        .wildcard_subscription_available(false)
        .shared_subscription_available(false)
        .maximum_qos(1)
        .start()
        .unwrap();
    // The client refuses to send what the CONNACK said the broker does not support: a raw one does.
    let mut raw = Raw::connect(&broker, "raw");
    let filters = ["a/b", "a/+", "$share/g/a", "a/#/b"]
        .map(|f| (f.to_string(), opts(2)))
        .to_vec();
    raw.send(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters,
        ..Subscribe::default()
    }));
    assert!(
        matches!(raw.recv(), Some(Packet::SubAck(s)) if s.return_codes == [1, 0xA2, 0x9E, 0x8F])
    );
    let (c, _) = connected(&broker, "acks");
    assert_eq!(subscribe(&broker, &c, "acks", "a/b", opts(2), None), [1]);
    c.unsubscribe(vec!["a/b", "never"]).unwrap();
    let unsuback = broker.wait_for_packet("acks", WAIT, |_, p| matches!(p, Packet::UnsubAck(_)));
    assert!(matches!(unsuback, Some(Packet::UnsubAck(u)) if u.codes == [0, 0x11]));

    let (tx, rx) = mpsc::channel();
    c.on_publish(move |_c, _u, _mid, rc, _p| {
        let _ = tx.send(rc.value());
    });
    publish(&c, "nobody/listens", "x", 1, false, no_props());
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0x10);
    stop(c);

    let broker = TestBroker::builder()
        .subscription_identifier_available(false)
        .start()
        .unwrap();
    let mut raw = Raw::connect(&broker, "ids");
    raw.send(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![("t".into(), opts(0))],
        properties: Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::SubscriptionIdentifier(3))
            .unwrap(),
    }));
    assert!(matches!(raw.recv(), Some(Packet::SubAck(s)) if s.return_codes == [0xA1]));
}

/// 3: a session with a Session Expiry Interval survives its connection, keeps what arrives meanwhile,
/// and is resumed with Clean Start 0 (session present); it ends when its interval has passed.
#[test]
fn session_expiry_and_clean_start() {
    let broker = TestBroker::start().unwrap();
    let options = |secs: u32, clean_start: CleanStart| ConnectOptions {
        clean_start,
        properties: Some(
            Properties::new(PacketTypes::CONNECT)
                .with(Property::SessionExpiryInterval(secs))
                .unwrap(),
        ),
        ..ConnectOptions::default()
    };
    let (c, _, present, _) = v5_client(&broker, "keeper", options(60, CleanStart::Always));
    assert!(!present);
    subscribe(&broker, &c, "keeper", "news", opts(1), None);
    stop(c);
    assert!(broker.wait_disconnected("keeper", WAIT));
    assert!(broker.has_session("keeper"));

    let (p, _) = connected(&broker, "publisher");
    publish(&p, "news", "while away", 1, false, no_props());
    let (c, messages, present, _) = v5_client(&broker, "keeper", options(1, CleanStart::Never));
    assert!(present);
    assert_eq!(messages.recv_timeout(WAIT).unwrap().payload, b"while away");
    stop(c);
    // Its new interval: 1 s.
    assert!(broker.wait_disconnected("keeper", WAIT));
    let deadline = Instant::now() + WAIT;
    while broker.has_session("keeper") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!broker.has_session("keeper"));

    // Without a Session Expiry Interval the session ends with the connection.
    let (c, _) = connected(&broker, "brief");
    stop(c);
    assert!(broker.wait_disconnected("brief", WAIT));
    assert!(!broker.has_session("brief"));
    stop(p);
}

/// 4: No Local, Retain As Published and Retain Handling 0, 1 and 2.
#[test]
fn subscription_options() {
    let broker = TestBroker::start().unwrap();
    let (c, messages) = connected(&broker, "opts");
    publish(&c, "r/1", "kept", 1, true, no_props());
    let mut nl = opts(1);
    nl.no_local = true;
    subscribe(&broker, &c, "opts", "own", nl, None);
    publish(&c, "own", "mine", 1, false, no_props());

    // Retain handling 0: the retained message, flagged retain.
    subscribe(&broker, &c, "opts", "r/+", opts(1), None);
    let m = messages.recv_timeout(WAIT).unwrap();
    assert_eq!((m.topic.as_str(), m.retain), ("r/1", true));
    // Handling 1 on an existing subscription: nothing; on a new one: the retained message.
    let mut rh1 = opts(1);
    rh1.retain_handling = 1;
    subscribe(&broker, &c, "opts", "r/+", rh1, None);
    subscribe(&broker, &c, "opts", "r/#", rh1, None);
    let m = messages.recv_timeout(WAIT).unwrap();
    assert_eq!((m.topic.as_str(), m.retain), ("r/1", true));
    // Handling 2: never.
    let mut rh2 = opts(1);
    rh2.retain_handling = 2;
    subscribe(&broker, &c, "opts", "r/1", rh2, None);
    // Retain As Published keeps the flag on a live message; the other subscriptions clear it.
    let mut rap = opts(1);
    rap.retain_as_published = true;
    rap.retain_handling = 2;
    subscribe(&broker, &c, "opts", "rap", rap, None);
    publish(&c, "rap", "flagged", 1, true, no_props());
    let m = messages.recv_timeout(WAIT).unwrap();
    // Nothing between: not "mine" (No Local), no retained message for handling 2.
    assert_eq!((m.topic.as_str(), m.retain), ("rap", true));
    publish(&c, "r/1", "live", 1, true, no_props());
    let m = messages.recv_timeout(WAIT).unwrap();
    assert_eq!((m.topic.as_str(), m.retain), ("r/1", false));
    stop(c);
}

/// 4: subscription identifiers come back in the PUBLISH; shared subscriptions deliver each message to
/// one member, in turn.
#[test]
fn subscription_identifiers_and_shared_subscriptions() {
    let broker = TestBroker::start().unwrap();
    let (a, a_msgs) = connected(&broker, "a");
    let (b, b_msgs) = connected(&broker, "b");
    let props = Properties::new(PacketTypes::SUBSCRIBE)
        .with(Property::SubscriptionIdentifier(42))
        .unwrap();
    subscribe(&broker, &a, "a", "work/+", opts(1), Some(props));
    let m = {
        publish(&b, "work/1", "x", 1, false, no_props());
        a_msgs.recv_timeout(WAIT).unwrap()
    };
    assert_eq!(
        m.properties.subscription_identifiers().collect::<Vec<_>>(),
        [42]
    );
    a.unsubscribe("work/+").unwrap();
    assert!(broker
        .wait_for_packet("a", WAIT, |_, p| matches!(p, Packet::UnsubAck(_)))
        .is_some());

    assert_eq!(
        subscribe(&broker, &a, "a", "$share/g/jobs", opts(1), None),
        [1]
    );
    assert_eq!(
        subscribe(&broker, &b, "b", "$share/g/jobs", opts(1), None),
        [1]
    );
    for i in 0..4 {
        publish(&b, "jobs", &i.to_string(), 1, false, no_props());
    }
    let got = |rx: &Receiver<Message>| -> Vec<Vec<u8>> {
        (0..2)
            .map(|_| rx.recv_timeout(WAIT).unwrap().payload)
            .collect()
    };
    assert_eq!(got(&a_msgs), [b"0".to_vec(), b"2".to_vec()]);
    assert_eq!(got(&b_msgs), [b"1".to_vec(), b"3".to_vec()]);
    assert_eq!(
        broker.subscriptions("a"),
        [("$share/g/jobs".to_string(), 1)]
    );
    stop(a);
    stop(b);
}

/// 5: message properties pass through to MQTT 5 subscribers (and not to 3.1.1 ones); the Message
/// Expiry Interval counts down while a message waits, and an expired one is not delivered.
#[test]
fn message_properties_and_expiry() {
    let broker = TestBroker::start().unwrap();
    let (sub, messages) = connected(&broker, "sub");
    subscribe(&broker, &sub, "sub", "data/#", opts(1), None);
    let old = Client::new("old");
    old.connect("127.0.0.1", broker.port(), 60).unwrap();
    old.loop_start().unwrap();
    old.subscribe("data/#", 1).unwrap();
    assert!(broker
        .wait_for_packet("old", WAIT, |_, p| matches!(p, Packet::SubAck(_)))
        .is_some());

    let (publ, _) = connected(&broker, "pub");
    let props = Properties::new(PacketTypes::PUBLISH)
        .with(Property::UserProperty("unit".into(), "C".into()))
        .unwrap()
        .with(Property::ContentType("text/plain".into()))
        .unwrap()
        .with(Property::PayloadFormatIndicator(1))
        .unwrap()
        .with(Property::ResponseTopic("replies".into()))
        .unwrap()
        .with(Property::CorrelationData(b"req-1".to_vec()))
        .unwrap()
        .with(Property::MessageExpiryInterval(60))
        .unwrap();
    publish(&publ, "data/t", "21.5", 1, false, props);
    let m = messages.recv_timeout(WAIT).unwrap();
    let p = &m.properties;
    assert_eq!(p.user_properties().collect::<Vec<_>>(), [("unit", "C")]);
    assert_eq!(p.content_type(), Some("text/plain"));
    assert_eq!(p.payload_format_indicator(), Some(1));
    assert_eq!(p.response_topic(), Some("replies"));
    assert_eq!(p.correlation_data(), Some(&b"req-1"[..]));
    assert!(p
        .message_expiry_interval()
        .is_some_and(|s| (58..=60).contains(&s)));
    let to_old = broker.wait_for_packet("old", WAIT, |d, p| {
        d == Direction::Sent && matches!(p, Packet::Publish(_))
    });
    assert!(matches!(to_old, Some(Packet::Publish(p)) if p.properties.is_empty()));
    old.disconnect().unwrap();
    old.loop_stop().unwrap();

    // A retained message that expires is gone after its interval.
    let short = Properties::new(PacketTypes::PUBLISH)
        .with(Property::MessageExpiryInterval(1))
        .unwrap();
    publish(&publ, "gone", "soon", 1, true, short);
    assert!(broker.retained().iter().any(|(t, _, _)| t == "gone"));
    let deadline = Instant::now() + WAIT;
    while broker.retained().iter().any(|(t, _, _)| t == "gone") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!broker.retained().iter().any(|(t, _, _)| t == "gone"));
    stop(sub);
    stop(publ);
}

/// 5: a will with a Will Delay Interval is published when the delay has passed, with its properties;
/// a will whose client comes back first is not.
#[test]
fn will_properties_and_delay() {
    let broker = TestBroker::start().unwrap();
    let (watcher, messages) = connected(&broker, "watcher");
    subscribe(&broker, &watcher, "watcher", "wills/#", opts(1), None);

    let expiring = ConnectOptions {
        properties: Some(
            Properties::new(PacketTypes::CONNECT)
                .with(Property::SessionExpiryInterval(60))
                .unwrap(),
        ),
        ..ConnectOptions::default()
    };
    let will_props = |delay: u32| {
        Properties::new(PacketTypes::WILLMESSAGE)
            .with(Property::WillDelayInterval(delay))
            .unwrap()
            .with(Property::UserProperty("why".into(), "lost".into()))
            .unwrap()
    };
    for (id, delay) in [("late", 1), ("back", 3)] {
        let c = Client::builder()
            .client_id(id)
            .protocol(MQTTv5)
            .reconnect_on_failure(false)
            .build()
            .unwrap();
        c.will_set_with(&format!("wills/{id}"), "gone", 1, false, will_props(delay))
            .unwrap();
        c.connect_with("127.0.0.1", broker.port(), 60, expiring.clone())
            .unwrap();
        c.loop_start().unwrap();
        assert!(broker.wait_connected(id, WAIT));
        let started = Instant::now();
        assert!(broker.drop_client(id));
        c.loop_stop().unwrap();
        if id == "late" {
            let m = messages.recv_timeout(WAIT).unwrap();
            assert!(started.elapsed() >= Duration::from_millis(900));
            assert_eq!(m.topic, "wills/late");
            assert_eq!(
                m.properties.user_properties().collect::<Vec<_>>(),
                [("why", "lost")]
            );
        }
    }
    // "back" reconnects within its delay: its will is dropped.
    let (c, _, present, _) = v5_client(&broker, "back", ConnectOptions::default());
    assert!(!present);
    stop(c);
    std::thread::sleep(Duration::from_millis(3200));
    assert!(messages.try_recv().is_err());
    stop(watcher);
}

/// 6: topic aliases from the client are resolved; one above the Topic Alias Maximum gets DISCONNECT
/// 0x94.
#[test]
fn topic_aliases() {
    let broker = TestBroker::builder()
        .topic_alias_maximum(2)
        .start()
        .unwrap();
    let (sub, messages) = connected(&broker, "sub");
    subscribe(&broker, &sub, "sub", "long/topic", opts(0), None);
    let mut raw = Raw::connect(&broker, "aliaser");
    let alias = |n: u16| {
        Properties::new(PacketTypes::PUBLISH)
            .with(Property::TopicAlias(n))
            .unwrap()
    };
    for (topic, payload) in [("long/topic", "1"), ("", "2")] {
        raw.send(Packet::Publish(Publish {
            topic: topic.into(),
            payload: payload.into(),
            properties: alias(2),
            ..Publish::default()
        }));
    }
    for expected in ["1", "2"] {
        let m = messages.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice()),
            ("long/topic", expected.as_bytes())
        );
        assert!(m.properties.topic_alias().is_none());
    }
    raw.send(Packet::Publish(Publish {
        topic: "x".into(),
        properties: alias(3),
        ..Publish::default()
    }));
    assert_eq!(
        raw.recv(),
        Some(Packet::Disconnect(Disconnect {
            reason: 0x94,
            ..Disconnect::default()
        }))
    );
    assert_eq!(raw.recv(), None);
    stop(sub);
}

/// 7: the broker's DISCONNECT with a reason reaches the client; packets can be injected.
#[test]
fn server_disconnect_and_injected_packets() {
    let broker = TestBroker::start().unwrap();
    let (c, messages) = connected(&broker, "target");
    let (tx, rx) = mpsc::channel();
    c.on_disconnect(move |_c, _u, _f, rc, props| {
        let _ = tx.send((rc.value(), props.reason_string().map(str::to_owned)));
    });
    let injected = Publish {
        topic: "injected".into(),
        payload: b"hi".to_vec(),
        qos: QoS::AtMostOnce,
        ..Publish::default()
    };
    assert!(broker.send_packet("target", Packet::Publish(injected)));
    assert_eq!(messages.recv_timeout(WAIT).unwrap().topic, "injected");
    let mut raw_publish = Vec::new();
    Packet::Publish(Publish {
        topic: "raw".into(),
        ..Publish::default()
    })
    .encode_v5(&mut raw_publish);
    assert!(broker.send_raw("target", &raw_publish));
    assert_eq!(messages.recv_timeout(WAIT).unwrap().topic, "raw");
    let props = Properties::new(PacketTypes::DISCONNECT)
        .with(Property::ReasonString("maintenance".into()))
        .unwrap();
    assert!(broker.disconnect_client("target", 0x8B, props));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (0x8B, Some("maintenance".to_string()))
    );
    assert!(broker.wait_disconnected("target", WAIT));
    assert!(!broker.disconnect_client("target", 0x8B, Properties::new(PacketTypes::DISCONNECT)));
    c.loop_stop().unwrap();
}

/// The client's Maximum Packet Size: a message that would make a larger PUBLISH is not sent to it.
#[test]
fn the_clients_maximum_packet_size_is_respected() {
    let broker = TestBroker::start().unwrap();
    let props = Properties::new(PacketTypes::CONNECT)
        .with(Property::MaximumPacketSize(40))
        .unwrap();
    let mut raw = Raw::connect_with(&broker, "small", props);
    raw.send(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![("t".into(), opts(1))],
        ..Subscribe::default()
    }));
    assert!(matches!(raw.recv(), Some(Packet::SubAck(_))));
    let (p, _) = connected(&broker, "pub");
    publish(&p, "t", &"x".repeat(100), 1, false, no_props());
    publish(&p, "t", "small", 1, false, no_props());
    match raw.recv() {
        Some(Packet::Publish(m)) => assert_eq!(m.payload, b"small"),
        other => panic!("expected the small PUBLISH, got {other:?}"),
    }
    stop(p);
}

/// The broker's own DISCONNECTs: 0x8E to a connection whose client id a new one takes over, 0x8D to a
/// client silent for 1.5 times its keepalive.
#[test]
fn takeover_and_keepalive_disconnects() {
    let broker = TestBroker::start().unwrap();
    let mut first = Raw::connect(&broker, "same");
    let _second = Raw::connect(&broker, "same");
    assert!(matches!(first.recv(), Some(Packet::Disconnect(d)) if d.reason == 0x8E));
    assert_eq!(first.recv(), None);

    let stream = TcpStream::connect(broker.addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut silent = Raw {
        stream,
        buf: Vec::new(),
    };
    silent.send(Packet::Connect(Connect {
        protocol: Protocol::V5,
        client_id: "silent".into(),
        clean_session: true,
        keepalive: 1,
        ..Connect::default()
    }));
    assert!(matches!(silent.recv(), Some(Packet::ConnAck(_))));
    assert!(matches!(silent.recv(), Some(Packet::Disconnect(d)) if d.reason == 0x8D));
    assert_eq!(silent.recv(), None);
}

/// A DISCONNECT that sets a Session Expiry Interval when CONNECT had none is a protocol error: the broker
/// answers DISCONNECT 0x82 (and publishes the will).
#[test]
fn session_expiry_cannot_be_set_on_disconnect_after_zero() {
    let broker = TestBroker::start().unwrap();
    let mut raw = Raw::connect(&broker, "late-expiry");
    raw.send(Packet::Disconnect(Disconnect {
        reason: 0,
        properties: Properties::new(PacketTypes::DISCONNECT)
            .with(Property::SessionExpiryInterval(60))
            .unwrap(),
    }));
    assert!(matches!(raw.recv(), Some(Packet::Disconnect(d)) if d.reason == 0x82));
    assert_eq!(raw.recv(), None);
    assert!(broker.wait_disconnected("late-expiry", WAIT));
    assert!(!broker.has_session("late-expiry"));
}

/// MQTT 3.1.1 has no shared subscriptions: there `$share/g/t` is a filter like another, as before.
#[test]
fn share_filters_stay_literal_on_3_1_1() {
    let broker = TestBroker::start().unwrap();
    let (tx, messages) = mpsc::channel();
    let old = Client::new("old");
    old.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.topic.clone());
    });
    old.connect("127.0.0.1", broker.port(), 60).unwrap();
    old.loop_start().unwrap();
    old.subscribe("$share/g/t", 1).unwrap();
    assert!(broker
        .wait_for_packet("old", WAIT, |_, p| matches!(p, Packet::SubAck(_)))
        .is_some());
    let (p, _) = connected(&broker, "pub");
    publish(&p, "t", "shared?", 1, false, no_props());
    publish(&p, "$share/g/t", "literal", 1, false, no_props());
    assert_eq!(messages.recv_timeout(WAIT).unwrap(), "$share/g/t");
    stop(p);
    stop(old);
}

/// With `send_topic_aliases`, the broker gives a topic an alias on its first PUBLISH to a client that
/// accepts aliases, and sends the alias alone afterwards; the real client resolves them.
#[test]
fn the_broker_sends_topic_aliases_when_asked() {
    let broker = TestBroker::builder()
        .send_topic_aliases(true)
        .start()
        .unwrap();
    let props = Properties::new(PacketTypes::CONNECT)
        .with(Property::TopicAliasMaximum(1))
        .unwrap();
    let mut raw = Raw::connect_with(&broker, "raw", props);
    raw.send(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![("a/#".into(), opts(0))],
        ..Subscribe::default()
    }));
    assert!(matches!(raw.recv(), Some(Packet::SubAck(_))));
    let (p, _) = connected(&broker, "pub");
    for topic in ["a/1", "a/1", "a/2"] {
        publish(&p, topic, "x", 0, false, no_props());
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        match raw.recv() {
            Some(Packet::Publish(m)) => seen.push((m.topic, m.properties.topic_alias())),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            ("a/1".to_string(), Some(1)),
            (String::new(), Some(1)),
            ("a/2".to_string(), None),
        ]
    );

    let options = ConnectOptions {
        properties: Some(
            Properties::new(PacketTypes::CONNECT)
                .with(Property::TopicAliasMaximum(5))
                .unwrap(),
        ),
        ..ConnectOptions::default()
    };
    let (c, messages, _, _) = v5_client(&broker, "real", options);
    subscribe(&broker, &c, "real", "b", opts(0), None);
    publish(&p, "b", "1", 0, false, no_props());
    publish(&p, "b", "2", 0, false, no_props());
    for _ in 0..2 {
        assert_eq!(messages.recv_timeout(WAIT).unwrap().topic, "b");
    }
    stop(c);
    stop(p);
}

/// MQTT 5 packets with random bytes changed never break the broker: each bad one ends only its own
/// connection, and the broker serves the next client.
#[test]
fn mangled_mqtt5_packets_never_break_the_broker() {
    let broker = TestBroker::builder()
        .topic_alias_maximum(3)
        .send_topic_aliases(true)
        .start()
        .unwrap();
    let mut watcher = Raw::connect_with(
        &broker,
        "watcher",
        Properties::new(PacketTypes::CONNECT)
            .with(Property::TopicAliasMaximum(2))
            .unwrap(),
    );
    watcher.send(Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![("#".into(), opts(2)), ("$share/g/#".into(), opts(1))],
        ..Subscribe::default()
    }));
    assert!(matches!(watcher.recv(), Some(Packet::SubAck(_))));

    let mut template = Vec::new();
    Packet::Connect(Connect {
        protocol: Protocol::V5,
        client_id: "fuzz".into(),
        clean_session: false,
        keepalive: 60,
        properties: Properties::new(PacketTypes::CONNECT)
            .with(Property::SessionExpiryInterval(5))
            .unwrap(),
        ..Connect::default()
    })
    .encode_v5(&mut template);
    let connect_len = template.len();
    Packet::Subscribe(Subscribe {
        pkid: 2,
        filters: vec![("$share/g/a".into(), opts(1)), ("a/+".into(), opts(2))],
        properties: Properties::new(PacketTypes::SUBSCRIBE)
            .with(Property::SubscriptionIdentifier(9))
            .unwrap(),
    })
    .encode_v5(&mut template);
    for (topic, qos) in [("a/b", QoS::ExactlyOnce), ("", QoS::AtLeastOnce)] {
        Packet::Publish(Publish {
            topic: topic.into(),
            qos,
            pkid: 3,
            retain: true,
            payload: b"payload".to_vec(),
            properties: Properties::new(PacketTypes::PUBLISH)
                .with(Property::TopicAlias(1))
                .unwrap()
                .with(Property::MessageExpiryInterval(1))
                .unwrap(),
            ..Publish::default()
        })
        .encode_v5(&mut template);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..300 {
        let mut bytes = template.clone();
        for _ in 0..(i % 4) + 1 {
            // Mostly after the CONNECT, so that the other packets are reached.
            let at = if next() % 4 == 0 {
                next() as usize % bytes.len()
            } else {
                connect_len + next() as usize % (bytes.len() - connect_len)
            };
            bytes[at] = next() as u8;
        }
        let mut stream = TcpStream::connect(broker.addr()).unwrap();
        // The broker may close before reading everything; that is fine.
        let _ = stream.write_all(&bytes);
    }
    let mut after = Raw::connect(&broker, "after");
    after.send(Packet::PingReq);
    assert_eq!(after.recv(), Some(Packet::PingResp));
}

/// Request Response Information 1 gets Response Information `response/<client id>` in the CONNACK.
#[test]
fn response_information_when_requested() {
    let broker = TestBroker::start().unwrap();
    let options = ConnectOptions {
        properties: Some(
            Properties::new(PacketTypes::CONNECT)
                .with(Property::RequestResponseInformation(1))
                .unwrap(),
        ),
        ..ConnectOptions::default()
    };
    let (c, _, _, props) = v5_client(&broker, "asker", options);
    assert_eq!(props.response_information(), Some("response/asker"));
    stop(c);
    let (c, _, _, props) = v5_client(&broker, "quiet", ConnectOptions::default());
    assert_eq!(props.response_information(), None);
    stop(c);
}
