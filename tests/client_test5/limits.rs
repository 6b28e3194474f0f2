//! Limits both ways: topic aliases from the client and from the server, Maximum Packet Size, Server
//! Keep Alive, Receive Maximum (flow control).

use std::sync::mpsc;
use std::time::Duration;

use crate::common::{client_id, WAIT};
use crate::support::{by_payload, publish_props, raw_publish, summary, Conn, Raw};
use crate::Broker;
use pahoish::packet::{Disconnect, Packet};
use pahoish::testing::Direction;
use pahoish::{Error, PacketTypes, Properties, Property};

fn m(topic: &str, payload: &str, qos: u8, retain: bool) -> (String, String, u8, bool) {
    (topic.to_owned(), payload.to_owned(), qos, retain)
}

/// Topic aliases from the client. The broker announces a Topic Alias Maximum (both: 10). Alias 0 is
/// refused when the property is set, and one over the maximum at the publish (Paho sends both and is
/// disconnected). A `Client` sends every message with its full topic, alias or not. A raw client that
/// sets an alias and then sends an empty topic with it is understood; on a new connection the alias is
/// unknown, and the broker ends the connection.
pub fn client_topic_aliases(b: &Broker) {
    let s = Conn::new("alias-sub").start(b);
    s.sub("ct5/alias/#", 2);
    let a = Conn::new("alias-pub").start(b);
    let max = a
        .connack_props()
        .topic_alias_maximum()
        .unwrap_or_else(|| panic!("{}: no Topic Alias Maximum", b.name()));
    assert!(max >= 1, "{}", b.name());
    assert!(Properties::new(PacketTypes::PUBLISH)
        .set(Property::TopicAlias(0))
        .is_err());
    let over = publish_props(&[Property::TopicAlias(max + 1)]);
    let r = a.live.publish_with("ct5/alias/a", "over", 1, false, over);
    assert!(
        matches!(r, Err(Error::NotSupported(_))),
        "{}: {r:?}",
        b.name()
    );
    for payload in ["alias 1 set", "alias 1 again"] {
        let props = publish_props(&[Property::TopicAlias(1)]);
        a.publish_props("ct5/alias/a", payload.as_bytes(), 1, false, props);
    }
    assert_eq!(
        summary(&s.sync(&a)),
        [
            m("ct5/alias/a", "alias 1 set", 1, false),
            m("ct5/alias/a", "alias 1 again", 1, false),
        ],
        "{}",
        b.name()
    );
    assert!(a.live.is_connected(), "{}", b.name());

    let (mut raw, _) = Raw::connect(b, &client_id("alias-raw"), true, 60, &[], None);
    raw.send(&raw_publish(
        "ct5/alias/b",
        "set",
        1,
        1,
        &[Property::TopicAlias(1)],
    ));
    raw.send(&raw_publish("", "used", 1, 2, &[Property::TopicAlias(1)]));
    for pkid in [1, 2] {
        match raw.recv() {
            Some(Packet::PubAck(ack)) if ack.pkid == pkid && ack.reason < 0x80 => {}
            other => panic!("{}: PUBACK {pkid}: {other:?}", b.name()),
        }
    }
    raw.send(&Packet::Disconnect(Disconnect::default()));
    raw.until_closed();
    assert_eq!(
        summary(&s.sync(&a)),
        [
            m("ct5/alias/b", "set", 1, false),
            m("ct5/alias/b", "used", 1, false),
        ],
        "{}",
        b.name()
    );

    let (mut raw, _) = Raw::connect(b, &client_id("alias-raw2"), true, 60, &[], None);
    raw.send(&raw_publish(
        "",
        "unknown alias",
        1,
        1,
        &[Property::TopicAlias(1)],
    ));
    let rest = raw.until_closed();
    // Both brokers say Protocol error (0x82); Topic alias invalid (0x94) would do as well.
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == 0x82 || d.reason == 0x94),
        "{}: {rest:?}",
        b.name()
    );
    s.expect_nothing(&a, "a message with an unknown topic alias");
    s.stop();
    a.stop();
}

/// Subscribes to `topic` and publishes to it at QoS 0, 1 and 2 from the same client; returns what
/// arrived, by payload.
fn three_to_self(a: &crate::support::V5, topic: &str) -> Vec<pahoish::Message> {
    a.sub(topic, 2);
    for qos in 0..3 {
        a.publish(topic, &format!("qos {qos}"), qos, false);
    }
    let got = by_payload(a.sync(a));
    assert_eq!(got.len(), 3, "{:?}", summary(&got));
    assert!(got.iter().all(|m| m.topic == topic), "{:?}", summary(&got));
    got
}

/// A client that does not accept topic aliases (no Topic Alias Maximum, or 0) gets none.
pub fn server_topic_aliases_not_asked(b: &Broker) {
    for conn in [
        Conn::new("no-alias"),
        Conn::new("alias-max-0").prop(Property::TopicAliasMaximum(0)),
    ] {
        let a = conn.start(b);
        for msg in three_to_self(&a, "ct5/server-alias") {
            assert_eq!(msg.properties.topic_alias(), None, "{}", b.name());
        }
        a.stop();
    }
}

/// Topic aliases from the server, to a client that accepts one (Topic Alias Maximum 1): the first
/// message on a topic sets the alias, the next ones carry it with an empty topic (as TestBroker's
/// packet log shows), and the client gives each message its full topic; the properties still show
/// the alias. Then as [`server_topic_aliases_not_asked`].
pub fn server_topic_aliases(b: &Broker) {
    let a = Conn::new("alias-1")
        .prop(Property::TopicAliasMaximum(1))
        .start(b);
    let aliases: Vec<Option<u16>> = three_to_self(&a, "ct5/server-alias")
        .iter()
        .map(|m| m.properties.topic_alias())
        .collect();
    assert_eq!(aliases, [Some(1); 3], "{}", b.name());
    if let Some(tb) = b.test_broker() {
        let sent: Vec<(String, Option<u16>)> = tb
            .packets(&a.id)
            .into_iter()
            .filter_map(|(dir, p)| match (dir, p) {
                (Direction::Sent, Packet::Publish(p)) if !p.topic.starts_with("$sync") => {
                    Some((p.topic, p.properties.topic_alias()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("ct5/server-alias".to_string(), Some(1)),
                (String::new(), Some(1)),
                (String::new(), Some(1)),
            ]
        );
    }
    a.stop();
    server_topic_aliases_not_asked(b);
}

/// Maximum Packet Size both ways. The broker's (1000 bytes) is in its CONNACK and a `Client` keeps to
/// it: a larger publish fails at the call and the connection stays up (Paho sends it and is
/// disconnected with 0x95, as a raw client here is). The client's (64 bytes, in its CONNECT): the broker
/// sends it a message that fits, and drops one that does not.
pub fn maximum_packet_size(b: &Broker) {
    let a = Conn::new("max-packet").start(b);
    assert_eq!(
        a.connack_props().maximum_packet_size(),
        Some(1000),
        "{}",
        b.name()
    );
    let r = a.live.publish("ct5/max-packet", vec![b'.'; 1000], 0, false);
    assert!(
        matches!(r, Err(Error::PacketTooLarge { max: 1000, .. })),
        "{}: {r:?}",
        b.name()
    );
    assert!(a.live.is_connected(), "{}", b.name());

    let (mut raw, _) = Raw::connect(b, &client_id("max-packet-raw"), true, 60, &[], None);
    raw.send(&raw_publish("ct5/max-packet", &".".repeat(1000), 0, 0, &[]));
    let rest = raw.until_closed();
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == 0x95),
        "{}: {rest:?}",
        b.name()
    );

    let small = Conn::new("max-packet-64")
        .prop(Property::MaximumPacketSize(64))
        .start(b);
    small.sub("ct5/max-packet", 1);
    a.publish("ct5/max-packet", &".".repeat(32), 0, false);
    a.publish("ct5/max-packet", &"x".repeat(64), 1, false);
    assert_eq!(
        summary(&small.sync(&a)),
        [m("ct5/max-packet", &".".repeat(32), 0, false)],
        "{}",
        b.name()
    );
    small.stop();
    a.stop();
}

/// A client asking a keepalive of 120 s from a broker that allows 60 gets Server Keep Alive 60.
pub fn server_keep_alive(b: &Broker) {
    let a = Conn::new("server-keepalive").keepalive(120).start(b);
    assert_eq!(
        a.connack_props().server_keep_alive(),
        Some(60),
        "{}",
        b.name()
    );
    a.stop();
}

/// A client asking 60 s from a broker that allows less (TestBroker 1 s; mosquitto 10 s, the least it
/// can be set to) keeps to the broker's: it pings, and is answered, well before 60 s, and the broker,
/// which ends a connection silent for 1.5 times its keepalive, keeps it.
pub fn server_keep_alive_adopted(b: &Broker) {
    let a = Conn::new("server-keepalive-short").keepalive(60).start(b);
    let k = a
        .connack_props()
        .server_keep_alive()
        .unwrap_or_else(|| panic!("{}: no Server Keep Alive", b.name()));
    assert!(k <= 10, "{}: Server Keep Alive {k}", b.name());
    let (tx, lines) = mpsc::channel();
    a.live.on_log(move |_c, _u, _level, line| {
        if line == "Received PINGRESP" {
            let _ = tx.send(());
        }
    });
    let limit = Duration::from_secs(2 * u64::from(k)) + WAIT;
    assert!(
        lines.recv_timeout(limit).is_ok(),
        "{}: no PINGRESP within {limit:?} (Server Keep Alive {k})",
        b.name()
    );
    assert!(
        a.disconnects.try_recv().is_err(),
        "{}: disconnected",
        b.name()
    );
    assert!(a.live.is_connected(), "{}", b.name());
    a.stop();
}

/// The client's Receive Maximum (2): with two QoS 1 messages unacknowledged (manual ack), the broker
/// holds the third; a QoS 0 message, which Receive Maximum does not count, overtakes it; acknowledging
/// the first releases the third.
pub fn flow_control_client_receive_maximum(b: &Broker) {
    let a = Conn::new("receive-max-2")
        .prop(Property::ReceiveMaximum(2))
        .manual_ack()
        .start(b);
    a.sub("ct5/flow", 1);
    let p = Conn::new("flow-pub").start(b);
    for i in 1..=3 {
        p.publish("ct5/flow", &format!("message {i}"), 1, false);
    }
    let first = a.next("message 1");
    let second = a.next("message 2");
    assert_eq!(
        summary(&[first.clone(), second.clone()]),
        [
            m("ct5/flow", "message 1", 1, false),
            m("ct5/flow", "message 2", 1, false),
        ],
        "{}",
        b.name()
    );
    p.publish("ct5/flow", "qos 0", 0, false);
    let next = a.next("the QoS 0 message");
    assert_eq!(
        next.payload,
        b"qos 0",
        "{}: message 3 was sent beyond the client's Receive Maximum",
        b.name()
    );
    a.live.ack(first.mid, 1).unwrap();
    let third = a.next("message 3, once message 1 is acknowledged");
    assert_eq!(third.payload, b"message 3", "{}", b.name());
    a.live.ack(second.mid, 1).unwrap();
    a.live.ack(third.mid, 1).unwrap();
    assert!(
        a.disconnects.try_recv().is_err(),
        "{}: disconnected",
        b.name()
    );
    a.stop();
    p.stop();
}

/// The broker's Receive Maximum (2) is in its CONNACK and a `Client` keeps to it: ten QoS 2 messages
/// published at once all complete, in order, without a disconnection.
pub fn flow_control_server_receive_maximum(b: &Broker) {
    let s = Conn::new("flow2-sub").start(b);
    s.sub("ct5/flow2", 2);
    let a = Conn::new("flow2-pub").start(b);
    assert_eq!(a.connack_props().receive_maximum(), Some(2), "{}", b.name());
    let infos: Vec<_> = (0..10)
        .map(|i| {
            a.live
                .publish("ct5/flow2", format!("message {i}"), 2, false)
                .unwrap()
        })
        .collect();
    for info in &infos {
        let done = info.wait_for_publish(Some(WAIT));
        assert!(
            matches!(done, Ok(true)),
            "{}: message {}: {done:?}",
            b.name(),
            info.mid
        );
    }
    let got: Vec<String> = s
        .sync(&a)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    let sent: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
    assert_eq!(got, sent, "{}", b.name());
    assert!(
        a.disconnects.try_recv().is_err(),
        "{}: disconnected",
        b.name()
    );
    s.stop();
    a.stop();
}

/// A raw client that sends a third QoS 2 message while two wait for their PUBREL, beyond the broker's
/// Receive Maximum of 2, gets DISCONNECT 0x93 (Receive maximum exceeded).
pub fn flow_control_broker_enforces_receive_maximum(b: &Broker) {
    let (mut raw, connack) = Raw::connect(b, &client_id("flow-raw"), true, 60, &[], None);
    assert_eq!(connack.properties.receive_maximum(), Some(2));
    for pkid in 1..=3 {
        raw.send(&raw_publish("ct5/flow-raw", "message", 2, pkid, &[]));
    }
    let got = raw.until_closed();
    assert!(
        matches!(got.as_slice(), [Packet::PubRec(r1), Packet::PubRec(r2), Packet::Disconnect(d)]
            if r1.pkid == 1 && r2.pkid == 2 && d.reason == 0x93),
        "{}: {got:?}",
        b.name()
    );
}
