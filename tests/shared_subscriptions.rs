//! Shared subscriptions (`$share/{group}/{filter}`) end to end: each message goes to one member of the
//! group, reaches a `message_callback_add("$share/...")` callback (which gets nothing in Paho 2.2,
//! paho.mqtt.python #472), and the membership survives a reconnect through the automatic resubscribe.
//! Against mosquitto 2.0.11 with MQTT 3.1.1 clients (it takes `$share` from them) and against
//! TestBroker with MQTT 5.0 ones.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver};

use common::{client_id, recv, watchdog, Live, Mosquitto, TEST_LIMIT};
use pahoish::testing::TestBroker;
use pahoish::{Client, MQTTv311, MQTTv5, Protocol};

const GROUP_FILTER: &str = "$share/workers/jobs/+";

/// A group member: its `message_callback_add` callback sends (member, payload); its `on_message` would
/// say "fallback", which must never happen. It subscribes in `on_connect`, and says when SUBACK came.
fn member(
    name: &'static str,
    protocol: Protocol,
    tx: mpsc::Sender<(&'static str, String)>,
) -> (Client, Receiver<()>) {
    let client = Client::builder()
        .client_id(client_id(name))
        .protocol(protocol)
        .build()
        .unwrap();
    let fallback = tx.clone();
    client
        .message_callback_add(GROUP_FILTER, move |_, _, m| {
            let _ = tx.send((name, String::from_utf8_lossy(&m.payload).into_owned()));
        })
        .unwrap();
    client.on_message(move |_, _, m| {
        let _ = fallback.send(("fallback", m.topic.clone()));
    });
    let (sub_tx, sub_rx) = mpsc::channel();
    client.on_connect(|c, _, _, _, _| {
        c.subscribe(GROUP_FILTER, 1).unwrap();
    });
    client.on_subscribe(move |_, _, _, codes, _| {
        assert!(codes.iter().all(|c| !c.is_failure()), "{codes:?}");
        let _ = sub_tx.send(());
    });
    (client, sub_rx)
}

/// Publishes `range` at QoS 1 on jobs/N and collects who got what: every message exactly once across
/// the group.
fn publish_and_collect(
    publisher: &Client,
    rx: &Receiver<(&'static str, String)>,
    range: std::ops::Range<u32>,
) -> BTreeMap<&'static str, Vec<u32>> {
    for n in range.clone() {
        publisher
            .publish(&format!("jobs/{n}"), n.to_string(), 1, false)
            .unwrap();
    }
    let mut got: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for _ in range.clone() {
        let (who, payload) = recv(rx, "a message for the group");
        assert_ne!(
            who, "fallback",
            "on_message got {payload}: the callback did not match"
        );
        got.entry(who).or_default().push(payload.parse().unwrap());
    }
    let mut all: Vec<u32> = got.values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, range.collect::<Vec<_>>(), "each message once: {got:?}");
    got
}

fn one_message_per_member(port: u16, protocol: Protocol) {
    let _dog = watchdog(TEST_LIMIT);
    let (tx, rx) = mpsc::channel();
    let (a, a_sub) = member("a", protocol, tx.clone());
    let (b, b_sub) = member("b", protocol, tx);
    let a = Live::connect(a, port);
    let b = Live::connect(b, port);
    recv(&a_sub, "member a's SUBACK");
    recv(&b_sub, "member b's SUBACK");
    let publisher = Client::builder().protocol(protocol).build().unwrap();
    let publisher = Live::connect(publisher, port);

    let got = publish_and_collect(&publisher, &rx, 0..20);
    assert!(
        got.len() == 2,
        "both members should get some of 20 messages: {got:?}"
    );

    // After a reconnect the automatic resubscribe puts member a back in the group.
    a.reconnect().unwrap();
    recv(&a_sub, "member a's SUBACK after the reconnect");
    let got = publish_and_collect(&publisher, &rx, 20..40);
    assert!(
        got.contains_key("a"),
        "member a is back in the group: {got:?}"
    );
    assert!(rx.try_recv().is_err(), "nothing more arrives");
    drop(b);
}

#[test]
fn shared_group_on_mosquitto_with_mqtt_3_1_1() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    one_message_per_member(broker.port, MQTTv311);
}

#[test]
fn shared_group_on_test_broker_with_mqtt_5() {
    let broker = TestBroker::start().expect("starting a TestBroker");
    one_message_per_member(broker.port(), MQTTv5);
}
