//! Against a real cluster: aedes nodes sharing sessions and messages through one redis-server (see
//! `nodes`). aedes speaks MQTT 3.1.1, so these are 3.1.1 clients; sessions persist with
//! `clean_session(false)`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pahoish::{Client, LogLevel, Message};

use crate::common::{client_id, subscribe_and_wait, watchdog, Live, WAIT};
use crate::nodes::Cluster;
use crate::{record, Events};

/// A client with a persistent session (3.1.1: `clean_session(false)`).
fn persistent(id: &str) -> Client {
    Client::builder()
        .client_id(id)
        .clean_session(false)
        .build()
        .unwrap()
}

/// Collects the sequence numbers (the payloads) of messages on `topic` into `seen` (how often each
/// arrived) until every one of `0..n` has arrived, within `limit`.
fn collect_into(
    events: &Events,
    topic: &str,
    n: usize,
    limit: Duration,
    mut seen: BTreeMap<usize, usize>,
) -> BTreeMap<usize, usize> {
    let deadline = Instant::now() + limit;
    while seen.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            let missing: Vec<_> = (0..n).filter(|i| !seen.contains_key(i)).collect();
            panic!(
                "{} of {n} messages on {topic} arrived within {limit:?}; missing {missing:?}",
                seen.len()
            );
        };
        if let Ok(m) = events.messages.recv_timeout(left) {
            if m.topic == topic {
                *seen.entry(seq(&m)).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// What arrives on `topic` of `0..n` (how often each did) until all did or `limit` passed.
fn collect_some(events: &Events, topic: &str, n: usize, limit: Duration) -> BTreeMap<usize, usize> {
    let deadline = Instant::now() + limit;
    let mut seen = BTreeMap::new();
    while seen.len() < n {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        if let Ok(m) = events.messages.recv_timeout(left) {
            if m.topic == topic {
                *seen.entry(seq(&m)).or_insert(0) += 1;
            }
        }
    }
    seen
}

/// [`collect_into`] from nothing.
fn collect(events: &Events, topic: &str, n: usize, limit: Duration) -> BTreeMap<usize, usize> {
    collect_into(events, topic, n, limit, BTreeMap::new())
}

fn seq(m: &Message) -> usize {
    std::str::from_utf8(&m.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a sequence number: {m:?}"))
}

/// Publishes `0..n` on `topic` at QoS 1, one every `every`, on a thread of its own; `stop` ends it
/// early. Returns the thread, which waits for every acknowledgement before it ends and returns the
/// message ids, in the order of the sequence numbers.
fn publish_steadily(
    client: Client,
    topic: &'static str,
    n: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<u16>> {
    thread::spawn(move || {
        let mut infos = Vec::with_capacity(n);
        for i in 0..n {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            infos.push(client.publish(topic, i.to_string(), 1, false).unwrap());
            thread::sleep(every); // the pace of the flow, not a synchronisation
        }
        infos
            .into_iter()
            .map(|info| {
                let acked = info.wait_for_publish(Some(WAIT * 2));
                assert!(acked.is_ok_and(|a| a), "{topic}: {info:?} not acknowledged");
                info.mid
            })
            .collect()
    })
}

/// A message published on one node reaches a subscriber on the other, at QoS 0 and 1.
#[test]
fn a_message_published_on_one_node_reaches_a_subscriber_on_the_other() {
    let _w = watchdog(WAIT * 3);
    let Some(cluster) = Cluster::start_or_skip(2) else {
        return;
    };
    let sub = Client::new(&client_id("cross-sub"));
    let events = record(&sub);
    sub.connect_url(&cluster.url(0), 60).unwrap();
    sub.loop_start().unwrap();
    let sub = Live::adopt(sub);
    subscribe_and_wait(&sub, "cross/#", 1);
    let publisher = Live::connect(Client::new(&client_id("cross-pub")), cluster.port(1));
    for i in 0..20 {
        let qos = i % 2;
        let info = publisher
            .publish(&format!("cross/{qos}"), i.to_string(), qos, false)
            .unwrap();
        if qos == 1 {
            info.wait_for_publish(Some(WAIT)).unwrap();
        }
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        let m = crate::common::recv(&events.messages, "a message from the other node");
        got.push((m.topic.clone(), seq(&m)));
    }
    got.sort_by_key(|(_, i)| *i);
    let want: Vec<_> = (0..20).map(|i| (format!("cross/{}", i % 2), i)).collect();
    assert_eq!(got, want);
    publisher.stop().unwrap();
    sub.stop().unwrap();
}

/// The node a client is on is killed while QoS 1 messages flow both ways: 600 to it from a
/// publisher on the other node, 600 from it to an observer there. The client fails over to the other
/// node within a couple of seconds, and that node continues its session (session present): every
/// message sent to the client arrives (duplicates allowed, as QoS 1 allows them), and every message
/// the client sent is acknowledged, by the dead node or, sent again, by the other.
///
/// What the client cannot answer for: a message the dying node acknowledged in its last moments can
/// miss the observer (aedes with redis; one to eight messages in some runs on a loaded machine,
/// neither delivered nor kept in the observer's session). The test checks that each message the
/// observer missed was acknowledged by the node that died, and says how many there were.
#[test]
fn killing_the_node_the_client_is_on_fails_over_within_seconds_and_loses_nothing() {
    const N: usize = 600;
    const EVERY: Duration = Duration::from_millis(5);
    let _w = watchdog(WAIT * 6);
    let Some(mut cluster) = Cluster::start_or_skip(2) else {
        return;
    };
    let id = client_id("failover");
    let client = persistent(&id);
    let events = record(&client);
    client
        .connect_urls_async(&[cluster.url(0), cluster.url(1)], 10)
        .unwrap();
    client.loop_start().unwrap();
    let client = Live::adopt(client);
    let first = events.connected("on_connect on node 0");
    assert_eq!(first.server, Some(cluster.url(0)));
    subscribe_and_wait(&client, "flow/down", 1);

    let observer = persistent(&client_id("observer"));
    let observed = record(&observer);
    observer.connect_url(&cluster.url(1), 60).unwrap();
    observer.loop_start().unwrap();
    let observer = Live::adopt(observer);
    subscribe_and_wait(&observer, "flow/up", 1);
    let publisher = Live::connect(Client::new(&client_id("flow-pub")), cluster.port(1));

    let stop = Arc::new(AtomicBool::new(false));
    let down = publish_steadily(
        publisher.client().clone(),
        "flow/down",
        N,
        EVERY,
        stop.clone(),
    );
    let (ack_tx, acks) = std::sync::mpsc::channel();
    client.on_publish(move |c, _u, mid, _rc, _p| {
        let _ = ack_tx.send((mid, c.server_url()));
    });
    let up = publish_steadily(client.client().clone(), "flow/up", N, EVERY, stop.clone());

    // Kill node 0 once a sixth of the messages have come down through it.
    let down_seen = collect(&events, "flow/down", N / 6, WAIT);
    cluster.kill(0);
    let killed = Instant::now();
    let again = events.connected("on_connect after node 0 died");
    let failover = again.at - killed;
    assert_eq!(again.server, Some(cluster.url(1)));
    assert!(again.session_present, "node 1 did not continue the session");
    assert!(
        failover < Duration::from_secs(3),
        "the failover took {failover:?}"
    );

    let down_seen = collect_into(&events, "flow/down", N, WAIT * 2, down_seen);
    // Every message the client sent acknowledged (the thread checks each one).
    let up_mids = up.join().expect("the client's publishing thread");
    down.join().expect("the publisher's thread");
    let up_seen = collect_some(&observed, "flow/up", N, WAIT);
    stop.store(true, Ordering::SeqCst);
    // What the observer missed must be messages node 0 acknowledged: the cluster's to deliver.
    let acked_by: BTreeMap<u16, Option<String>> = acks.try_iter().collect();
    let missed: Vec<_> = (0..N).filter(|i| !up_seen.contains_key(i)).collect();
    for &i in &missed {
        let by = acked_by.get(&up_mids[i]);
        assert_eq!(
            by,
            Some(&Some(cluster.url(0))),
            "message {i} (mid {}) missed by the observer was acknowledged by {by:?}, not by the \
             node that died",
            up_mids[i]
        );
    }
    let dup = |seen: &BTreeMap<usize, usize>| seen.values().map(|k| k - 1).sum::<usize>();
    println!(
        "node killed: failover in {failover:?}; lost 0 of {N} sent to the client; of the {N} it \
         sent, all acknowledged, and {} acknowledged by the dying node in its last moments never \
         reached the observer {missed:?}; duplicates: {} down, {} up",
        missed.len(),
        dup(&down_seen),
        dup(&up_seen)
    );
    publisher.stop().unwrap();
    observer.stop().unwrap();
    client.stop().unwrap();
}

/// The session continues on another node: subscribed on node 0, the client goes away, and node 0
/// dies; 200 QoS 1 messages are published on node 1 meanwhile. The client's `reconnect()` goes to
/// node 1 (the next server), which answers session present and delivers the 200, and the client sends
/// no SUBSCRIBE there.
#[test]
fn the_session_continues_on_the_other_node_without_subscribing_again() {
    const N: usize = 200;
    let _w = watchdog(WAIT * 4);
    let Some(mut cluster) = Cluster::start_or_skip(2) else {
        return;
    };
    let id = client_id("session");
    let client = persistent(&id);
    let events = record(&client);
    client
        .connect_urls(&[cluster.url(0), cluster.url(1)], 60)
        .unwrap();
    client.loop_start().unwrap();
    events.connected("on_connect on node 0");
    subscribe_and_wait(&client, "queued/+", 1);
    client.disconnect().unwrap();
    client.loop_stop().unwrap();
    // The node goes too: the session can only continue on node 1.
    cluster.kill(0);

    let publisher = Live::connect(Client::new(&client_id("queue-pub")), cluster.port(1));
    for i in 0..N {
        let info = publisher
            .publish("queued/x", i.to_string(), 1, false)
            .unwrap();
        if i + 1 == N {
            info.wait_for_publish(Some(WAIT)).unwrap();
        }
    }
    let _ = events.log_lines(); // forget the first connection's lines
    client.reconnect().expect("reconnect");
    client.loop_start().unwrap();
    let client = Live::adopt(client);
    let c = events.connected("on_connect on node 1");
    assert_eq!(c.server, Some(cluster.url(1)));
    assert!(c.session_present);
    let seen = collect(&events, "queued/x", N, WAIT);
    let lines: Vec<_> = events
        .logs
        .try_iter()
        .filter(|(level, _)| *level == LogLevel::Debug)
        .map(|(_, l)| l)
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("Received CONNACK")),
        "no packet log: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("Sending SUBSCRIBE")),
        "subscribed again: {lines:?}"
    );
    println!(
        "session on the other node: {N} queued messages delivered, {} duplicates, no SUBSCRIBE",
        seen.values().map(|k| k - 1).sum::<usize>()
    );
    publisher.stop().unwrap();
    client.stop().unwrap();
}

/// Two clients with one client id on two nodes take the id from each other (MQTT 3.1.1: the cluster
/// closes the older connection, without a word). The log says another client probably uses the
/// id, and the backoff keeps growing: after the first seconds, the two together reconnect no more
/// than about once every few seconds. Paho would reconnect each every second for ever.
#[test]
fn two_clients_with_one_id_on_two_nodes_do_not_fight_in_a_loop() {
    const WATCH: Duration = Duration::from_secs(10);
    let _w = watchdog(WAIT * 4);
    let Some(cluster) = Cluster::start_or_skip(2) else {
        return;
    };
    let id = client_id("twins");
    let start = Instant::now();
    let twins: Vec<_> = [[0, 1], [1, 0]]
        .iter()
        .map(|order| {
            let c = Client::new(&id);
            let events = record(&c);
            c.connect_urls_async(&[cluster.url(order[0]), cluster.url(order[1])], 60)
                .unwrap();
            c.loop_start().unwrap();
            (Live::adopt(c), events)
        })
        .collect();
    let mut connects = Vec::new();
    let mut warned = false;
    while let Some(left) = (start + WATCH).checked_duration_since(Instant::now()) {
        let wait = left.min(Duration::from_millis(100));
        if let Ok(c) = twins[0].1.connects.recv_timeout(wait) {
            connects.push(c.at - start);
        }
        for (_, events) in &twins {
            connects.extend(events.connects.try_iter().map(|c| c.at - start));
            warned |= events
                .logs
                .try_iter()
                .any(|(level, l)| level == LogLevel::Warning && l.contains("same client id"));
        }
    }
    connects.sort();
    let late = connects.iter().filter(|t| **t >= WATCH / 2).count();
    println!(
        "two clients, one id, two nodes: {} connects in {WATCH:?}, {late} in the last half: {:?}",
        connects.len(),
        connects
    );
    assert!(warned, "no warning about the client id");
    assert!(
        late <= 3,
        "{late} connects in the last {:?}: {connects:?}",
        WATCH / 2
    );
    for (c, _) in twins {
        c.stop().unwrap();
    }
}
