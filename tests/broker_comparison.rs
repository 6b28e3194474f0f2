//! One list of scenarios, run against TestBroker and against a real mosquitto, comparing what the
//! subscribers see: topics, payloads, QoS, retain flags, the session-present flag of each connection, and
//! the order of all of these.
//!
//! Each scenario runs on a fresh broker of each kind, with our `Client` as publisher and observers. To make
//! what an observer sees deterministic, every publish is followed by a sync: the publisher sends a QoS 2
//! marker to a `$sync/...` topic only that observer subscribes to (no wildcard matches a `$` topic, so
//! the marker never mixes with a scenario's own messages), and the observer's messages are collected up to
//! the marker. Within one such segment our client delivers QoS 2 on PUBREL, a round trip after QoS 0 and 1
//! messages sent behind it, so a segment is compared with its QoS 2 messages after the others (each class
//! in the order it arrived).
//!
//! mosquitto is started by the test on a free loopback port (`common::Mosquitto`). Without it the
//! scenarios still run against TestBroker, and the comparison prints that it skipped, unless
//! `PAHOISH_REQUIRE_MOSQUITTO=1` makes that a failure.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};

use common::{
    client_id, expect_raw_connack, raw_connect_with_will, read_until_eof, recv, subscribe_and_wait,
    watchdog, Live, Mosquitto, HOST, TEST_LIMIT,
};
use pahoish::testing::TestBroker;
use pahoish::{Client, Message};

/// What an observer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// A connection was accepted; `session_present` is the CONNACK flag.
    Connected { session_present: bool },
    /// A message arrived.
    Message {
        topic: String,
        payload: String,
        qos: u8,
        retain: bool,
    },
}

impl Event {
    fn from_message(m: &Message) -> Event {
        let payload = if m.topic == "$SYS/broker/version" {
            // "mosquitto version 2.0.11" and "pahoish TestBroker 0.1.0" are meant to differ.
            "<broker version>".to_string()
        } else {
            String::from_utf8_lossy(&m.payload).into_owned()
        };
        Event::Message {
            topic: m.topic.clone(),
            payload,
            qos: m.qos,
            retain: m.retain,
        }
    }

    fn is_message(&self) -> bool {
        matches!(self, Event::Message { .. })
    }
}

/// A scenario: a name, the steps, and how many messages TestBroker must show in all (a check that the
/// scenario observes something, since a comparison of two empty lists proves nothing).
struct Scenario {
    name: &'static str,
    run: fn(&mut Run),
    messages: usize,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "QoS 0/1/2 delivery and downgrade",
        run: qos_delivery_and_downgrade,
        messages: 9,
    },
    Scenario {
        name: "retained set, replace, clear",
        run: retained_set_replace_clear,
        messages: 12,
    },
    Scenario {
        name: "wildcards and $ topics",
        run: wildcards_and_dollar_topics,
        messages: 15,
    },
    Scenario {
        name: "will on unclean disconnect, none on clean",
        run: wills,
        messages: 3,
    },
    Scenario {
        name: "persistent session queueing",
        run: persistent_session,
        messages: 4,
    },
    Scenario {
        name: "unsubscribe",
        run: unsubscribe,
        messages: 6,
    },
];

// ---- the scenarios ----

/// Three subscriptions granted QoS 0, 1 and 2; each gets a message at each QoS, delivered at the lower.
fn qos_delivery_and_downgrade(r: &mut Run) {
    r.observe(
        "granted 0/1/2",
        true,
        &[("cmp/q/0", 0), ("cmp/q/1", 1), ("cmp/q/2", 2)],
    );
    for granted in 0..3 {
        for qos in 0..3 {
            r.publish(
                &format!("cmp/q/{granted}"),
                &format!("at {qos}"),
                qos,
                false,
            );
        }
    }
}

/// A retained message is sent to new subscribers (flagged, at the lower QoS), replaced by the next
/// retained one, untouched by a live one, and cleared by an empty payload, which still reaches current
/// subscribers.
fn retained_set_replace_clear(r: &mut Run) {
    r.publish("cmp/r/t", "first", 1, true);
    r.observe("early", true, &[("cmp/r/t", 2)]);
    r.publish("cmp/r/t", "second", 2, true);
    r.observe("after replace", true, &[("cmp/r/+", 1)]);
    r.publish("cmp/r/t", "live", 0, false);
    r.observe("after live", true, &[("cmp/r/t", 0)]);
    r.publish("cmp/r/t", "", 1, true);
    r.observe("after clear", true, &[("cmp/r/#", 2)]);
    r.publish("cmp/r/u", "kept", 2, true);
    r.observe("other topic", true, &[("cmp/r/u", 1)]);
}

/// `+` (one level, possibly empty) and `#` (any levels, including the parent), and the `$` rule: no
/// wildcard in the first level matches a `$` topic, an explicit `$` filter does, and a client cannot
/// publish to `$SYS`. `$SYS/broker/version` is retained.
fn wildcards_and_dollar_topics(r: &mut Run) {
    r.observe("plus and hash", true, &[("cmp/w/+/x", 1), ("cmp/w/y/#", 1)]);
    r.observe("hash", true, &[("#", 1)]);
    r.observe("plus first", true, &[("+/w/+", 1)]);
    r.observe("dollar", true, &[("$cmp/+", 1)]);
    r.observe("version", true, &[("$SYS/broker/version", 0)]);
    r.observe("$SYS written by a client", true, &[("$SYS/cmp", 1)]);
    for topic in [
        "cmp/w/a/x",
        "cmp/w//x",
        "cmp/w/a/b/x",
        "cmp/w/y",
        "cmp/w/y/z/q",
        "cmp/w/a",
        "/cmp/w/a",
        "$cmp/a",
        "$cmp/a/b",
        "$cmp/w/a",
        "$SYS/cmp",
    ] {
        r.publish(topic, topic, 1, false);
    }
}

/// A will is published when a connection closes without DISCONNECT (at the lower QoS, and retained when
/// asked), and not when the client sent DISCONNECT.
fn wills(r: &mut Run) {
    let watcher = r.observe("watcher", true, &[("cmp/will/#", 1)]);
    r.cut_with_will("cmp/will/cut", 1, false);
    r.await_message(watcher, "cmp/will/cut");
    r.cut_with_will("cmp/will/kept", 2, true);
    r.await_message(watcher, "cmp/will/kept");
    r.observe("late", true, &[("cmp/will/kept", 2)]);
    r.disconnect_with_will("cmp/will/clean");
    r.sync_all();
}

/// A persistent session keeps its subscriptions and queues QoS 1 and 2 messages (not QoS 0) while its
/// client is offline; the reconnect reports the session and delivers the queue. A clean session discards
/// it.
fn persistent_session(r: &mut Run) {
    let p = r.observe("persistent", false, &[("cmp/p/+", 2)]);
    r.disconnect(p);
    r.publish("cmp/p/a", "zero", 0, false);
    r.publish("cmp/p/b", "one", 1, false);
    r.publish("cmp/p/c", "two", 2, false);
    r.publish("cmp/p/d", "three", 1, false);
    r.reconnect(p, false);
    r.publish("cmp/p/e", "online", 1, false);
    r.disconnect(p);
    r.reconnect(p, true);
    r.publish("cmp/p/f", "clean", 1, false);
    r.disconnect(p);
    r.reconnect(p, false);
}

/// UNSUBSCRIBE removes exactly the filters named; an unknown one is acknowledged too.
fn unsubscribe(r: &mut Run) {
    let o = r.observe(
        "unsubscriber",
        true,
        &[("cmp/u/a", 1), ("cmp/u/b", 1), ("cmp/u/+/c", 1)],
    );
    let all = |r: &mut Run| {
        for topic in ["cmp/u/a", "cmp/u/b", "cmp/u/x/c"] {
            r.publish(topic, topic, 1, false);
        }
    };
    all(r);
    r.unsubscribe(o, "cmp/u/a");
    all(r);
    r.unsubscribe(o, "cmp/u/+/c");
    r.unsubscribe(o, "cmp/u/nothing");
    all(r);
}

// ---- running a scenario ----

/// One run of a scenario against one broker.
struct Run {
    /// "TestBroker" or "mosquitto", for messages.
    broker: &'static str,
    scenario: &'static str,
    port: u16,
    publisher: Live,
    observers: Vec<Observer>,
}

struct Observer {
    name: &'static str,
    id: String,
    /// The `$sync/...` topic its markers go to.
    marker: String,
    /// The connection and its messages while connected.
    live: Option<(Live, Receiver<Message>)>,
    events: Vec<Event>,
}

impl Run {
    fn new(broker: &'static str, scenario: &'static str, port: u16) -> Run {
        Run {
            broker,
            scenario,
            port,
            publisher: Live::connect(Client::new(&client_id("cmp-pub")), port),
            observers: Vec::new(),
        }
    }

    fn context(&self) -> String {
        format!("{} on {}", self.scenario, self.broker)
    }

    /// Connects a new observer with its subscriptions and returns its index.
    fn observe(&mut self, name: &'static str, clean: bool, filters: &[(&str, i32)]) -> usize {
        let id = client_id("cmp-obs");
        self.observers.push(Observer {
            name,
            marker: format!("$sync/{id}"),
            id,
            live: None,
            events: Vec::new(),
        });
        let i = self.observers.len() - 1;
        self.connect(i, clean, filters);
        i
    }

    /// Connects observer `i` (again), subscribing to its marker unless the broker kept its session, and
    /// to `filters`; then collects what arrives (retained messages, a persistent session's queue).
    fn connect(&mut self, i: usize, clean: bool, filters: &[(&str, i32)]) {
        let context = self.context();
        let o = &mut self.observers[i];
        let client = Client::builder()
            .client_id(o.id.as_str())
            .clean_session(clean)
            .reconnect_on_failure(false)
            .build()
            .expect("building an observer");
        let (ctx, connects) = mpsc::channel();
        client.on_connect(move |_c, _u, flags, rc, _p| {
            let _ = ctx.send((flags.session_present, rc.to_string()));
        });
        let (tx, rx) = mpsc::channel();
        client.on_message(move |_c, _u, msg| {
            let _ = tx.send(msg.clone());
        });
        let live = Live::connect(client, self.port);
        let (session_present, rc) = recv(&connects, &format!("{context}: CONNACK of {}", o.name));
        assert_eq!(rc, "Success", "{context}: CONNACK of {}", o.name);
        o.events.push(Event::Connected { session_present });
        if !session_present {
            subscribe_and_wait(&live, &o.marker, 2);
        }
        for (filter, qos) in filters {
            subscribe_and_wait(&live, filter, *qos);
        }
        o.live = Some((live, rx));
        self.sync(i);
    }

    /// Reconnects observer `i`, without subscribing to anything but its marker.
    fn reconnect(&mut self, i: usize, clean: bool) {
        self.connect(i, clean, &[]);
    }

    /// Collects what observer `i` has, then disconnects it cleanly.
    fn disconnect(&mut self, i: usize) {
        self.sync(i);
        if let Some((live, _)) = self.observers[i].live.take() {
            live.stop().expect("observer loop_stop");
        }
    }

    fn unsubscribe(&mut self, i: usize, filter: &str) {
        let context = self.context();
        let o = &self.observers[i];
        let (live, _) = o.live.as_ref().expect("a connected observer");
        let (tx, unsubacks) = mpsc::channel();
        live.on_unsubscribe(move |_c, _u, mid, _codes, _p| {
            let _ = tx.send(mid);
        });
        let mid = live.unsubscribe(filter).expect("unsubscribe");
        assert_eq!(
            recv(&unsubacks, &format!("{context}: UNSUBACK for {filter}")),
            mid
        );
        self.sync(i);
    }

    /// Publishes from the publisher, waits until that completes, then syncs every connected observer.
    fn publish(&mut self, topic: &str, payload: &str, qos: i32, retain: bool) {
        self.publish_only(topic, payload, qos, retain);
        self.sync_all();
    }

    fn publish_only(&self, topic: &str, payload: &str, qos: i32, retain: bool) {
        let info = self
            .publisher
            .publish(topic, payload, qos, retain)
            .unwrap_or_else(|e| panic!("{}: publish to {topic}: {e}", self.context()));
        let done = info.wait_for_publish(Some(common::WAIT));
        assert!(
            matches!(done, Ok(true)),
            "{}: publish to {topic} at QoS {qos} did not complete: {done:?}",
            self.context()
        );
    }

    fn sync_all(&mut self) {
        for i in 0..self.observers.len() {
            self.sync(i);
        }
    }

    /// Publishes a marker to observer `i`'s marker topic and records what it receives before it.
    fn sync(&mut self, i: usize) {
        let marker = format!("marker {}", common::unique());
        let topic = self.observers[i].marker.clone();
        if self.observers[i].live.is_none() {
            return;
        }
        self.publish_only(&topic, &marker, 2, false);
        let context = self.context();
        let o = &mut self.observers[i];
        let Some((_, rx)) = &o.live else {
            return;
        };
        let mut segment = Vec::new();
        loop {
            let msg = recv(rx, &format!("{context}: the marker for {}", o.name));
            if msg.topic == topic && msg.payload == marker.as_bytes() {
                break;
            }
            segment.push(Event::from_message(&msg));
        }
        segment.sort_by_key(|e| matches!(e, Event::Message { qos: 2, .. }));
        o.events.extend(segment);
    }

    /// Waits until observer `i` receives a message on `topic` (recording what comes before), then syncs.
    fn await_message(&mut self, i: usize, topic: &str) {
        let context = self.context();
        let o = &mut self.observers[i];
        let (_, rx) = o.live.as_ref().expect("a connected observer");
        loop {
            let msg = recv(
                rx,
                &format!("{context}: a message on {topic} for {}", o.name),
            );
            o.events.push(Event::from_message(&msg));
            if msg.topic == topic {
                break;
            }
        }
        self.sync(i);
    }

    /// Connects a raw client with a will on `topic` (payload "gone") and closes its socket without
    /// DISCONNECT.
    fn cut_with_will(&mut self, topic: &str, qos: u8, retain: bool) {
        let connect = raw_connect_with_will(&client_id("cmp-will"), topic, b"gone", qos, retain);
        let mut stream = TcpStream::connect((HOST, self.port)).expect("connect");
        stream.write_all(&connect).expect("send CONNECT");
        expect_raw_connack(&mut stream);
        drop(stream);
    }

    /// Connects a raw client with a will on `topic`, sends DISCONNECT and waits until the broker closes
    /// the connection: it has then handled the DISCONNECT, so no will can follow.
    fn disconnect_with_will(&mut self, topic: &str) {
        let connect = raw_connect_with_will(&client_id("cmp-will"), topic, b"gone", 1, false);
        let mut stream = TcpStream::connect((HOST, self.port)).expect("connect");
        stream.write_all(&connect).expect("send CONNECT");
        expect_raw_connack(&mut stream);
        stream.write_all(&[0xe0, 0x00]).expect("send DISCONNECT");
        read_until_eof(&mut stream);
    }

    /// Syncs and disconnects everyone; returns what each observer saw.
    fn finish(mut self) -> Vec<(&'static str, Vec<Event>)> {
        for i in 0..self.observers.len() {
            self.disconnect(i);
        }
        self.publisher.stop().expect("publisher loop_stop");
        self.observers
            .into_iter()
            .map(|o| (o.name, o.events))
            .collect()
    }
}

fn run(scenario: &Scenario, broker: &'static str, port: u16) -> Vec<(&'static str, Vec<Event>)> {
    let mut r = Run::new(broker, scenario.name, port);
    (scenario.run)(&mut r);
    r.finish()
}

/// Both observation lists side by side, one line per event, marking where they differ.
fn describe_difference(
    ours: &[(&'static str, Vec<Event>)],
    theirs: &[(&'static str, Vec<Event>)],
) -> String {
    let mut out = String::new();
    for (i, (name, ours)) in ours.iter().enumerate() {
        let empty = Vec::new();
        let theirs = theirs.get(i).map_or(&empty, |(_, e)| e);
        out.push_str(&format!("  observer {name:?}:\n"));
        for j in 0..ours.len().max(theirs.len()) {
            let (a, b) = (ours.get(j), theirs.get(j));
            let mark = if a == b { " " } else { "!" };
            out.push_str(&format!(
                "  {mark} TestBroker {:<70} mosquitto {}\n",
                a.map_or("-".to_string(), |e| format!("{e:?}")),
                b.map_or("-".to_string(), |e| format!("{e:?}"))
            ));
        }
    }
    out
}

/// Every scenario on TestBroker and on mosquitto: the observers must see the same thing.
#[test]
fn test_broker_behaves_like_mosquitto() {
    let _wd = watchdog(TEST_LIMIT);
    let mut mosquitto_present = true;
    let mut differences = Vec::new();
    for scenario in SCENARIOS {
        let broker = TestBroker::start().expect("starting a TestBroker");
        let ours = run(scenario, "TestBroker", broker.port());
        drop(broker);
        let messages = ours
            .iter()
            .flat_map(|(_, events)| events)
            .filter(|e| e.is_message())
            .count();
        assert_eq!(
            messages, scenario.messages,
            "{}: messages seen on TestBroker: {ours:#?}",
            scenario.name
        );
        if !mosquitto_present {
            continue;
        }
        let Some(mosquitto) = Mosquitto::start_or_skip() else {
            mosquitto_present = false;
            continue;
        };
        let theirs = run(scenario, "mosquitto", mosquitto.port);
        drop(mosquitto);
        if ours == theirs {
            println!(
                "{}: TestBroker and mosquitto agree ({messages} messages)",
                scenario.name
            );
        } else {
            differences.push(format!(
                "{}:\n{}",
                scenario.name,
                describe_difference(&ours, &theirs)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "TestBroker and mosquitto differ:\n{}",
        differences.join("\n")
    );
}
