//! The scenarios MQTT 5 shares with 3.1.1, at 5.0: connecting, QoS 0/1/2, retained messages, wills,
//! empty client ids, offline queueing, overlapping subscriptions, keepalive, redelivery, a refused
//! subscription, `$` topics, unsubscribing.

use std::time::Instant;

use crate::common::client_id;
use crate::support::{by_payload, opts, publish_props, summary, Conn, Raw};
use crate::Broker;
use pahoish::packet::{Connect, Disconnect, LastWill, Packet, Subscribe};
use pahoish::{PacketTypes, Properties, Property, Protocol, QoS, ReasonCode};

/// The filter the `subscribe_failure` scenario's broker refuses.
pub const FORBIDDEN: &str = "ct5/nosubscribe";

/// (topic, payload, qos, retain), as `summary` gives them.
fn m(topic: &str, payload: &str, qos: u8, retain: bool) -> (String, String, u8, bool) {
    (topic.to_owned(), payload.to_owned(), qos, retain)
}

/// Connect, disconnect, connect again ("Success"), then a subscription at QoS 2 gets the client's own
/// messages at QoS 0, 1 and 2.
pub fn basic(b: &Broker) {
    let id = client_id("basic");
    Conn::with_id(&id).start(b).stop();
    let a = Conn::with_id(&id).start(b);
    assert_eq!(a.connack.1.to_string(), "Success", "{}", b.name());
    a.sub("ct5/basic", 2);
    for qos in 0..3 {
        a.publish("ct5/basic", &format!("qos {qos}"), qos, false);
    }
    assert_eq!(
        summary(&by_payload(a.sync(&a))),
        [
            m("ct5/basic", "qos 0", 0, false),
            m("ct5/basic", "qos 1", 1, false),
            m("ct5/basic", "qos 2", 2, false),
        ],
        "{}",
        b.name()
    );
    a.stop();
}

/// A second CONNECT on a connection, and a CONNECT with a protocol name that is not MQTT's, end the
/// connection (after at most a DISCONNECT or a refusing CONNACK).
pub fn connect_errors(b: &Broker) {
    let id = client_id("twice");
    let (mut raw, _) = Raw::connect(b, &id, true, 60, &[], None);
    raw.send(&Packet::Connect(Connect {
        protocol: Protocol::V5,
        client_id: id,
        clean_session: true,
        keepalive: 60,
        ..Connect::default()
    }));
    // Both brokers close it without a word; a DISCONNECT 0x82 (Protocol error) first would do too.
    let rest = raw.until_closed();
    assert!(
        rest.iter()
            .all(|p| matches!(p, Packet::Disconnect(d) if d.reason == 0x82)),
        "{}: after a second CONNECT: {rest:?}",
        b.name()
    );

    // Protocol name "hj", level 5, clean start, keepalive 60, no properties, client id "x".
    let body = [0, 2, b'h', b'j', 5, 0x02, 0, 60, 0, 0, 1, b'x'];
    let mut raw = Raw::open(b);
    raw.send_bytes(&[&[0x10, body.len() as u8][..], &body].concat());
    let rest = raw.until_closed();
    assert!(
        rest.iter()
            .all(|p| matches!(p, Packet::ConnAck(c) if c.code >= 0x80)),
        "{}: after a CONNECT for protocol \"hj\": {rest:?}",
        b.name()
    );
}

/// Retained messages at QoS 0, 1 and 2, with user properties, reach a later wildcard subscription
/// flagged retained, at their QoS, with their user properties in order; an empty retained message
/// clears each.
pub fn retained_message(b: &Broker) {
    let p = Conn::new("retain-pub").start(b);
    let props = [
        Property::UserProperty("a".into(), "2".into()),
        Property::UserProperty("c".into(), "3".into()),
    ];
    for qos in 0..3 {
        let payload = format!("qos {qos}");
        p.publish_props(
            &format!("ct5/retain/{qos}"),
            payload.as_bytes(),
            qos,
            true,
            publish_props(&props),
        );
    }
    // The broker has handled the QoS 0 one too once a marker from the same connection is back.
    p.sync(&p);
    let s = Conn::new("retain-sub").start(b);
    s.sub("ct5/retain/+", 2);
    let got = by_payload(s.sync(&p));
    assert_eq!(
        summary(&got),
        [
            m("ct5/retain/0", "qos 0", 0, true),
            m("ct5/retain/1", "qos 1", 1, true),
            m("ct5/retain/2", "qos 2", 2, true),
        ],
        "{}",
        b.name()
    );
    for msg in &got {
        assert_eq!(
            msg.properties.user_properties().collect::<Vec<_>>(),
            [("a", "2"), ("c", "3")],
            "{}: {}",
            b.name(),
            msg.topic
        );
    }
    s.stop();

    for qos in 0..3 {
        p.publish(&format!("ct5/retain/{qos}"), "", qos, true);
    }
    p.sync(&p);
    let s = Conn::new("retain-late").start(b);
    s.sub("ct5/retain/+", 2);
    s.expect_nothing(&p, "retained messages after clearing them");
    s.stop();
    p.stop();
}

/// A will with user properties is published when the connection is cut, with its properties in
/// order; none after a normal DISCONNECT; one after DISCONNECT with reason 0x04 (Disconnect with will
/// message).
pub fn will_message(b: &Broker) {
    let w = Conn::new("will-watch").start(b);
    w.sub("ct5/will/#", 2);

    let a = Conn::new("will-cut")
        .will(
            "ct5/will/cut",
            "will message",
            1,
            &[
                Property::WillDelayInterval(0),
                Property::UserProperty("a".into(), "2".into()),
                Property::UserProperty("c".into(), "3".into()),
            ],
        )
        .start(b);
    a.cut();
    let will = w.next("the will of the cut connection");
    assert_eq!(
        summary(std::slice::from_ref(&will)),
        [m("ct5/will/cut", "will message", 1, false)],
        "{}",
        b.name()
    );
    assert_eq!(
        will.properties.user_properties().collect::<Vec<_>>(),
        [("a", "2"), ("c", "3")],
        "{}",
        b.name()
    );

    Conn::new("will-clean")
        .will("ct5/will/clean", "not sent", 1, &[])
        .start(b)
        .stop();
    let asked = Conn::new("will-asked")
        .will("ct5/will/asked", "asked for", 1, &[])
        .start(b);
    let reason = ReasonCode::from_name(PacketTypes::DISCONNECT, "Disconnect with will message")
        .expect("a DISCONNECT reason");
    asked.live.disconnect_with(Some(reason), None).unwrap();
    let (_, rc, _) = crate::common::recv(&asked.disconnects, "on_disconnect");
    assert!(!rc.is_failure(), "{}: {rc}", b.name());
    asked.stop_quietly();
    assert_eq!(
        summary(&w.sync(&w)),
        [m("ct5/will/asked", "asked for", 1, false)],
        "{}: no will after a normal DISCONNECT, one after reason 0x04",
        b.name()
    );
    w.stop();
}

/// An empty client id is accepted with Clean Start 0 and with Clean Start 1 (MQTT 5 allows both), and
/// the broker assigns an id each time.
pub fn zero_length_client_id(b: &Broker) {
    for resume in [true, false] {
        let conn = Conn::new("");
        let conn = if resume { conn.resume() } else { conn };
        let a = conn.start(b);
        let assigned = a.connack_props().assigned_client_identifier();
        assert!(
            assigned.is_some_and(|id| !id.is_empty()),
            "{}: Clean Start {}: {}",
            b.name(),
            u8::from(!resume),
            a.connack_props()
        );
        a.stop();
    }
}

/// A session kept while its client is offline (Session Expiry Interval 300) keeps its subscription and
/// queues the QoS 1 and 2 messages published meanwhile; the reconnect (Clean Start 0) says session
/// present and delivers them. QoS 0 ones are not queued by either broker (Paho's scenario accepts
/// both).
pub fn offline_message_queueing(b: &Broker) {
    let id = client_id("offline");
    let a = Conn::with_id(&id).expiry(300).start(b);
    a.sub("ct5/offline/+", 2);
    a.stop();
    b.wait_disconnected(&id);

    let p = Conn::new("offline-pub").start(b);
    for qos in 0..3 {
        p.publish(
            &format!("ct5/offline/{qos}"),
            &format!("qos {qos}"),
            qos,
            false,
        );
    }
    p.sync(&p);
    let a = Conn::with_id(&id).resume().expiry(300).start(b);
    assert!(a.session_present(), "{}", b.name());
    assert_eq!(
        summary(&by_payload(a.sync(&p))),
        [
            m("ct5/offline/1", "qos 1", 1, false),
            m("ct5/offline/2", "qos 2", 2, false),
        ],
        "{}",
        b.name()
    );
    a.stop();
    p.stop();
}

/// Two subscriptions of one client match a message: the broker sends either one copy at the higher
/// QoS or one per subscription at its QoS (the specification allows both; TestBroker sends one,
/// mosquitto one per subscription).
pub fn overlapping_subscriptions(b: &Broker) {
    let a = Conn::new("overlap").start(b);
    let codes = a.subscribe_codes(
        &[("ct5/overlap/#", opts(2)), ("ct5/overlap/+", opts(1))],
        None,
    );
    assert_eq!(
        codes.iter().map(|c| c.value()).collect::<Vec<_>>(),
        [2, 1],
        "{}",
        b.name()
    );
    a.publish("ct5/overlap/c", "overlapping", 2, false);
    let got = a.sync(&a);
    let mut qos: Vec<u8> = got.iter().map(|m| m.qos).collect();
    qos.sort_unstable();
    match qos.as_slice() {
        [2] => println!("{}: one message for overlapping subscriptions", b.name()),
        [1, 2] => println!("{}: one message per overlapping subscription", b.name()),
        _ => panic!("{}: {:?}", b.name(), summary(&got)),
    }
    a.stop();
}

/// A client silent for longer than its keepalive (1 s; the broker allows 1.5 times that) is
/// disconnected and its will published. A raw connection, since `Client` keeps its keepalive.
pub fn keepalive(b: &Broker) {
    let w = Conn::new("keepalive-watch").start(b);
    w.sub("ct5/keepalive", 2);
    let start = Instant::now();
    let will = LastWill {
        topic: "ct5/keepalive".into(),
        payload: b"keepalive expiry".to_vec(),
        qos: QoS::AtLeastOnce,
        ..LastWill::default()
    };
    let (mut raw, _) = Raw::connect(b, &client_id("silent"), true, 1, &[], Some(will));
    let msg = w.next("the will of the silent client");
    let took = start.elapsed();
    assert_eq!(msg.payload, b"keepalive expiry", "{}", b.name());
    assert!(
        took.as_secs_f64() >= 1.0,
        "{}: disconnected after {took:?}, within its keepalive",
        b.name()
    );
    let rest = raw.until_closed();
    // TestBroker says why (0x8D, Keep alive timeout); mosquitto closes the connection without a word.
    assert!(
        rest.iter()
            .all(|p| matches!(p, Packet::Disconnect(d) if d.reason == 0x8D)),
        "{}: {rest:?}",
        b.name()
    );
    w.stop();
}

/// QoS 1 and 2 messages sent to a client that did not acknowledge them are sent again, flagged DUP,
/// when it reconnects to its session. The first connection is raw (it never acknowledges); the
/// reconnect is a `Client`'s, which receives both.
pub fn redelivery_on_reconnect(b: &Broker) {
    let id = client_id("redeliver");
    let (mut raw, _) = Raw::connect(
        b,
        &id,
        true,
        60,
        &[Property::SessionExpiryInterval(300)],
        None,
    );
    raw.send(&Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: vec![("ct5/redeliver/#".into(), opts(2))],
        properties: Properties::new(PacketTypes::SUBSCRIBE),
    }));
    match raw.recv() {
        Some(Packet::SubAck(s)) if s.return_codes == [2] => {}
        other => panic!("{}: SUBACK: {other:?}", b.name()),
    }
    let p = Conn::new("redeliver-pub").start(b);
    p.publish("ct5/redeliver/1", "qos 1", 1, false);
    p.publish("ct5/redeliver/2", "qos 2", 2, false);
    for qos in [1, 2] {
        match raw.recv() {
            Some(Packet::Publish(m)) if m.qos as u8 == qos && !m.dup => {}
            other => panic!("{}: the QoS {qos} PUBLISH: {other:?}", b.name()),
        }
    }
    raw.send(&Packet::Disconnect(Disconnect::default()));
    raw.until_closed();
    b.wait_disconnected(&id);

    let a = Conn::with_id(&id).resume().expiry(300).start(b);
    assert!(a.session_present(), "{}", b.name());
    let got = by_payload(a.sync(&p));
    assert_eq!(
        summary(&got),
        [
            m("ct5/redeliver/1", "qos 1", 1, false),
            m("ct5/redeliver/2", "qos 2", 2, false),
        ],
        "{}",
        b.name()
    );
    assert!(got.iter().all(|m| m.dup), "{}: DUP not set", b.name());
    a.stop();
    p.stop();
}

/// A SUBSCRIBE one of whose filters the broker refuses gets a failure code for it (0x87 Not
/// authorized) and the QoS for the other; the client carries on, and nothing is delivered for the
/// refused filter.
pub fn subscribe_failure(b: &Broker) {
    let a = Conn::new("subfail").start(b);
    let codes = a.subscribe_codes(&[(FORBIDDEN, opts(2)), ("ct5/allowed", opts(2))], None);
    assert!(codes[0].is_failure(), "{}: {codes:?}", b.name());
    assert_eq!(codes[0].to_string(), "Not authorized", "{}", b.name());
    assert_eq!(codes[1].value(), 2, "{}", b.name());
    a.publish(FORBIDDEN, "refused", 1, false);
    a.publish("ct5/allowed", "granted", 1, false);
    assert_eq!(
        summary(&a.sync(&a)),
        [m("ct5/allowed", "granted", 1, false)],
        "{}",
        b.name()
    );
    a.stop();
}

/// A topic starting with `$` is matched by no filter starting with a wildcard (`#`, `+/x`), and by a
/// filter that names its first level.
pub fn dollar_topics(b: &Broker) {
    let p = Conn::new("dollar-pub").start(b);
    let hash = Conn::new("dollar-hash").start(b);
    hash.sub("#", 1);
    let plus = Conn::new("dollar-plus").start(b);
    plus.sub("+/x", 1);
    let named = Conn::new("dollar-named").start(b);
    named.sub("$ct5/+", 1);
    p.publish("$ct5/x", "dollar", 1, false);
    p.publish("ct5/x", "plain", 1, false);
    for (who, what) in [(&hash, "#"), (&plus, "+/x")] {
        assert_eq!(
            summary(&who.sync(&p)),
            [m("ct5/x", "plain", 1, false)],
            "{}: {what}",
            b.name()
        );
    }
    assert_eq!(
        summary(&named.sync(&p)),
        [m("$ct5/x", "dollar", 1, false)],
        "{}: $ct5/+",
        b.name()
    );
    for c in [hash, plus, named, p] {
        c.stop();
    }
}

/// UNSUBSCRIBE removes the filter named (UNSUBACK 0x00) and no other; a filter never subscribed gets
/// 0x11 (No subscription existed).
pub fn unsubscribe(b: &Broker) {
    let s = Conn::new("unsub").start(b);
    for i in 0..3 {
        s.sub(&format!("ct5/unsub/{i}"), 2);
    }
    let codes = s.unsubscribe("ct5/unsub/0");
    assert_eq!(codes.len(), 1, "{}", b.name());
    assert_eq!(codes[0].value(), 0, "{}: {codes:?}", b.name());
    let codes = s.unsubscribe("ct5/unsub/never");
    assert_eq!(codes.len(), 1, "{}", b.name());
    assert_eq!(codes[0].value(), 0x11, "{}: {codes:?}", b.name());
    let p = Conn::new("unsub-pub").start(b);
    for i in 0..3 {
        p.publish(&format!("ct5/unsub/{i}"), &format!("topic {i}"), 1, false);
    }
    assert_eq!(
        summary(&s.sync(&p)),
        [
            m("ct5/unsub/1", "topic 1", 1, false),
            m("ct5/unsub/2", "topic 2", 1, false),
        ],
        "{}",
        b.name()
    );
    s.stop();
    p.stop();
}
