//! TestBroker driven by our own `Client`: every feature of the broker as a user's test would use it, and
//! the client features that need a real peer (keepalive against a silent broker, resend and resubscribe
//! after a cut connection).
//!
//! Every wait is a channel receive or a broker `wait_*` bounded by `common::WAIT`; absence is checked with
//! a marker message published after the event, which a correct broker delivers after anything the event
//! caused. A watchdog fails a test that hangs anyway.

mod common;

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::{
    client_id, publisher, recv, subscribe_and_wait, subscriber, watchdog, Live, HOST, TEST_LIMIT,
    WAIT,
};
use pahoish::packet::{Disconnect, Packet};
use pahoish::testing::{Direction, TestBroker};
use pahoish::{Client, Message};

fn start() -> TestBroker {
    TestBroker::start().expect("starting a TestBroker")
}

/// Publishes and waits until the publish completes (written at QoS 0, PUBACK at 1, PUBCOMP at 2).
fn publish_and_wait(client: &Client, topic: &str, payload: &[u8], qos: i32, retain: bool) -> u16 {
    let info = client
        .publish(topic, payload, qos, retain)
        .unwrap_or_else(|e| panic!("publish to {topic:?}: {e}"));
    assert!(
        info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"),
        "message to {topic:?} at QoS {qos} not published within {WAIT:?}"
    );
    info.mid
}

/// Publishes a QoS 2 marker to `topic` from `via` and returns the messages `rx` delivers before it. Every
/// message the broker sent `rx`'s client before handling the marker comes first (QoS 0 and 1 on receipt,
/// QoS 2 on PUBREL, which follows the marker's own PUBREL), so "nothing else arrived" is checked without
/// waiting for a timeout.
fn until_marker(via: &Client, topic: &str, rx: &Receiver<Message>) -> Vec<Message> {
    let marker = format!("marker {}", common::unique());
    publish_and_wait(via, topic, marker.as_bytes(), 2, false);
    let mut before = Vec::new();
    loop {
        let msg = recv(rx, &format!("the marker {marker:?} on {topic:?}"));
        if msg.topic == topic && msg.payload == marker.as_bytes() {
            return before;
        }
        before.push(msg);
    }
}

/// Topic, payload as text, QoS and retain.
fn seen(m: &Message) -> (String, String, u8, bool) {
    (
        m.topic.clone(),
        String::from_utf8_lossy(&m.payload).into_owned(),
        m.qos,
        m.retain,
    )
}

fn s(topic: &str, payload: &str, qos: u8, retain: bool) -> (String, String, u8, bool) {
    (topic.into(), payload.into(), qos, retain)
}

/// A client without automatic reconnect, whose `on_connect` and `on_disconnect` report on the channels
/// returned: `(session_present, reason)` and the reason.
fn observed(builder: pahoish::Builder) -> (Client, Receiver<(bool, String)>, Receiver<String>) {
    let client = builder.build().expect("building the client");
    let (ctx, connects) = mpsc::channel();
    let (dtx, disconnects) = mpsc::channel();
    client.on_connect(move |_c, _u, flags, rc, _p| {
        let _ = ctx.send((flags.session_present, rc.to_string()));
    });
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = dtx.send(rc.to_string());
    });
    (client, connects, disconnects)
}

/// CONNECT / CONNACK and DISCONNECT through our client: `on_connect` sees Success without a session, the
/// broker lists the client, `disconnect()` gives Normal disconnection, and the broker's log has the
/// exchange.
#[test]
fn connect_and_disconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("hello");
    let (client, connects, disconnects) = observed(Client::builder().client_id(id.as_str()));
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect"), (false, "Success".into()));
    assert_eq!(broker.connected_clients(), [id.as_str()]);
    live.disconnect().unwrap();
    assert_eq!(recv(&disconnects, "on_disconnect"), "Normal disconnection");
    assert!(broker.wait_disconnected(&id, WAIT));
    let log = broker.packets(&id);
    assert!(
        matches!(&log[0], (Direction::Received, Packet::Connect(c)) if c.client_id == id && c.keepalive == 60)
    );
    assert!(matches!(&log[1], (Direction::Sent, Packet::ConnAck(c)) if c.code == 0));
    assert_eq!(
        log.last(),
        Some(&(
            Direction::Received,
            Packet::Disconnect(Disconnect::default())
        ))
    );
    live.stop().unwrap();
}

/// A client with an empty client id (clean session) is given one by the broker.
#[test]
fn an_empty_client_id_is_assigned() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let (client, connects, _) = observed(Client::builder());
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect").1, "Success");
    let ids = broker.connected_clients();
    assert!(
        ids.len() == 1 && ids[0].starts_with("auto-"),
        "connected: {ids:?}"
    );
    live.stop().unwrap();
}

/// The quickstart's script: subscribing to `$SYS/broker/version` in `on_connect` gets the broker's
/// retained version message.
#[test]
fn the_quickstart_script_gets_the_broker_version() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let client = Client::new(&client_id("quickstart"));
    client.on_connect(|client, _userdata, _flags, _rc, _props| {
        client.subscribe("$SYS/broker/version", 0).unwrap();
    });
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client, broker.port());
    let msg = recv(&rx, "the version message");
    let version = format!("pahoish TestBroker {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(seen(&msg), s("$SYS/broker/version", &version, 0, true));
    assert_eq!(
        msg.payload_repr(),
        format!("b'pahoish TestBroker {}'", env!("CARGO_PKG_VERSION"))
    );
    live.stop().unwrap();
}

/// QoS 0, 1 and 2 from our publisher to subscribers granted QoS 0, 1 and 2: each message arrives once, at
/// the lower QoS, and the publisher's QoS 2 runs PUBLISH / PUBREC / PUBREL / PUBCOMP with the broker.
#[test]
fn qos_delivery_and_downgrade() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let subs: Vec<_> = (0..3)
        .map(|granted| subscriber(broker.port(), &format!("qos/{granted}"), granted))
        .collect();
    let publ = publisher(broker.port());
    for (granted, (_, rx)) in subs.iter().enumerate() {
        let topic = format!("qos/{granted}");
        for qos in 0..3 {
            let payload = format!("published at {qos}");
            publish_and_wait(&publ, &topic, payload.as_bytes(), qos, false);
            let msg = recv(rx, &format!("{payload} on {topic}"));
            let expected = qos.min(granted as i32) as u8;
            assert_eq!(seen(&msg), s(&topic, &payload, expected, false));
        }
    }
    for (granted, (_, rx)) in subs.iter().enumerate() {
        let topic = format!("qos/{granted}");
        assert!(
            until_marker(&publ, &topic, rx).is_empty(),
            "nothing more on {topic}"
        );
    }
    let id = broker
        .connected_clients()
        .into_iter()
        .find(|id| id.contains("-pub-"))
        .expect("the publisher is connected");
    let flow: Vec<&str> = broker
        .packets(&id)
        .iter()
        .filter(|(_, p)| {
            matches!(p, Packet::Publish(p) if p.qos as u8 == 2)
                || matches!(
                    p,
                    Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_)
                )
        })
        .take(4)
        .map(|(_, p)| p.name())
        .collect();
    assert_eq!(flow, ["PUBLISH", "PUBREC", "PUBREL", "PUBCOMP"]);
    publ.stop().unwrap();
    for (sub, _) in subs {
        sub.stop().unwrap();
    }
}

/// Retained messages through our client: set, replaced (a new subscriber gets the latest, flagged
/// retain, at the lower QoS), delivered live without the flag, cleared by an empty payload.
#[test]
fn retained_set_replace_clear() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let publ = publisher(broker.port());
    publish_and_wait(&publ, "ret/t", b"first", 1, true);
    publish_and_wait(&publ, "ret/t", b"second", 2, true);
    assert_eq!(
        broker.retained().last(),
        Some(&("ret/t".to_string(), b"second".to_vec(), 2))
    );

    let (a, a_rx) = subscriber(broker.port(), "ret/#", 1);
    assert_eq!(
        seen(&recv(&a_rx, "the retained message")),
        s("ret/t", "second", 1, true)
    );
    publish_and_wait(&publ, "ret/t", b"live", 0, false);
    assert_eq!(
        seen(&recv(&a_rx, "a live message")),
        s("ret/t", "live", 0, false)
    );

    publish_and_wait(&publ, "ret/t", b"", 1, true);
    assert_eq!(
        seen(&recv(&a_rx, "the clearing message")),
        s("ret/t", "", 1, false)
    );
    assert_eq!(
        broker.retained().len(),
        1,
        "only $SYS/broker/version is left"
    );

    let (b, b_rx) = subscriber(broker.port(), "ret/#", 2);
    assert!(until_marker(&publ, "ret/marker", &b_rx).is_empty());
    a.stop().unwrap();
    b.stop().unwrap();
    publ.stop().unwrap();
}

/// `+` and `#` wildcards, and the `$` rule: `#` gets neither `$SYS` nor other `$` topics, an explicit
/// `$`-filter does, and a client's publish to `$SYS` is dropped.
#[test]
fn wildcards_and_dollar_topics() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let (all, all_rx) = subscriber(broker.port(), "#", 1);
    let (plus, plus_rx) = subscriber(broker.port(), "w/+/x", 1);
    let (dollar, dollar_rx) = subscriber(broker.port(), "$app/#", 1);
    let publ = publisher(broker.port());
    for topic in ["w/a/x", "w/a/b/x", "w//x", "w/a", "$app/one", "$SYS/forged"] {
        publish_and_wait(&publ, topic, topic.as_bytes(), 1, false);
    }
    let topics = |rx, marker| {
        until_marker(&publ, marker, rx)
            .iter()
            .map(|m| m.topic.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        topics(&all_rx, "w/marker"),
        ["w/a/x", "w/a/b/x", "w//x", "w/a"]
    );
    assert_eq!(topics(&plus_rx, "w/m/x"), ["w/a/x", "w//x"]);
    assert_eq!(topics(&dollar_rx, "$app/marker"), ["$app/one"]);
    for live in [all, plus, dollar, publ] {
        live.stop().unwrap();
    }
}

/// A persistent session through our client: subscriptions survive a disconnect, QoS 1 and 2 messages
/// published meanwhile are queued (QoS 0 is not) and delivered in order after the reconnect, whose
/// `on_connect` reports the session present. A clean session then discards it.
#[test]
fn persistent_session_queues_while_offline() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("persistent");
    let persistent = || {
        let (client, connects, _) = observed(
            Client::builder()
                .client_id(id.as_str())
                .clean_session(false),
        );
        let (tx, rx) = mpsc::channel();
        client.on_message(move |_c, _u, msg| {
            let _ = tx.send(msg.clone());
        });
        (client, connects, rx)
    };
    let (client, connects, _) = persistent();
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect"), (false, "Success".into()));
    subscribe_and_wait(&live, "p/#", 2);
    live.stop().unwrap();
    assert!(broker.wait_disconnected(&id, WAIT));
    assert!(broker.has_session(&id));

    let publ = publisher(broker.port());
    publish_and_wait(&publ, "p/0", b"zero", 0, false);
    publish_and_wait(&publ, "p/1", b"one", 1, false);
    publish_and_wait(&publ, "p/2", b"two", 2, false);
    publish_and_wait(&publ, "p/3", b"three", 1, false);

    let (client, connects, rx) = persistent();
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect"), (true, "Success".into()));
    let mut got: Vec<_> = until_marker(&publ, "p/marker", &rx)
        .iter()
        .map(seen)
        .collect();
    // QoS 2 is delivered on PUBREL, a round trip after the QoS 1 message sent behind it: compare the
    // order within each QoS.
    got.sort_by_key(|m| m.2 == 2);
    assert_eq!(
        got,
        [
            s("p/1", "one", 1, false),
            s("p/3", "three", 1, false),
            s("p/2", "two", 2, false)
        ]
    );
    live.stop().unwrap();
    assert!(broker.wait_disconnected(&id, WAIT));

    let (client, connects, _) =
        observed(Client::builder().client_id(id.as_str()).clean_session(true));
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect"), (false, "Success".into()));
    assert!(broker.subscriptions(&id).is_empty());
    live.stop().unwrap();
    assert!(broker.wait_disconnected(&id, WAIT));
    assert!(!broker.has_session(&id));
    publ.stop().unwrap();
}

/// Subscribes a watcher to `will/#` at QoS 2.
fn will_watcher(broker: &TestBroker) -> (Live, Receiver<Message>) {
    subscriber(broker.port(), "will/#", 2)
}

/// A client with a will and no automatic reconnect.
fn with_will(
    id: &str,
    topic: &str,
    retain: bool,
) -> (Client, Receiver<(bool, String)>, Receiver<String>) {
    let (client, connects, disconnects) =
        observed(Client::builder().client_id(id).reconnect_on_failure(false));
    client.will_set(topic, "gone", 1, retain).unwrap();
    (client, connects, disconnects)
}

/// The will of our client is published when the broker cuts its connection (`drop_client`), retained
/// when asked; it is not published after `disconnect()`.
#[test]
fn will_on_cut_connection_not_on_disconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let (watcher, rx) = will_watcher(&broker);

    let id = client_id("will-cut");
    let (client, connects, disconnects) = with_will(&id, "will/cut", true);
    let cut = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    assert!(broker.drop_client(&id));
    assert_ne!(recv(&disconnects, "on_disconnect"), "Normal disconnection");
    assert_eq!(
        seen(&recv(&rx, "the will")),
        s("will/cut", "gone", 1, false)
    );
    assert!(broker
        .retained()
        .contains(&("will/cut".into(), b"gone".to_vec(), 1)));
    cut.stop().unwrap();

    let id = client_id("will-clean");
    let (client, connects, disconnects) = with_will(&id, "will/clean", false);
    let clean = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    clean.disconnect().unwrap();
    assert_eq!(recv(&disconnects, "on_disconnect"), "Normal disconnection");
    assert!(broker.wait_disconnected(&id, WAIT));
    assert!(until_marker(&watcher, "will/marker", &rx).is_empty());
    clean.stop().unwrap();
    watcher.stop().unwrap();
}

/// A client whose loop does not run sends no PINGREQ: the broker closes its connection after 1.5 times
/// its keepalive and publishes its will.
#[test]
fn keepalive_is_enforced() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let (watcher, rx) = will_watcher(&broker);
    let id = client_id("silent");
    let (client, _, _) = with_will(&id, "will/silent", false);
    let started = Instant::now();
    client.connect(HOST, broker.port(), 1).unwrap();
    // No loop: connect() wrote CONNECT itself, and nothing more is sent.
    assert!(broker.wait_connected(&id, WAIT));
    assert_eq!(
        seen(&recv(&rx, "the will")),
        s("will/silent", "gone", 1, false)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400),
        "closed after {took:?}, before 1.5 x the keepalive of 1 s"
    );
    assert!(broker.wait_disconnected(&id, WAIT));
    watcher.stop().unwrap();
}

/// A second client with the same id takes the connection over: the first one's connection is closed
/// (its `on_disconnect` reports an error) and the broker keeps one connection for the id.
#[test]
fn takeover_closes_the_old_connection() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("twin");
    let (first, connects, disconnects) = observed(
        Client::builder()
            .client_id(id.as_str())
            .reconnect_on_failure(false),
    );
    let first = Live::connect(first, broker.port());
    recv(&connects, "first on_connect");
    let (second, connects2, _) = observed(Client::builder().client_id(id.as_str()));
    let second = Live::connect(second, broker.port());
    recv(&connects2, "second on_connect");
    assert_ne!(
        recv(&disconnects, "first on_disconnect"),
        "Normal disconnection"
    );
    assert_eq!(broker.connected_clients(), [id.as_str()]);
    let connects_logged = broker
        .packets(&id)
        .iter()
        .filter(|(_, p)| matches!(p, Packet::Connect(_)))
        .count();
    assert_eq!(connects_logged, 2);
    first.stop().unwrap();
    second.stop().unwrap();
}

/// `set_auth`: our client's `on_connect` sees Not authorized without credentials, Bad user name or
/// password with wrong ones, Success with the right ones.
#[test]
fn authentication_refusals_reach_on_connect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    broker.set_auth("user", "pw");
    for (creds, expected) in [
        (None, "Not authorized"),
        (Some(("user", "nope")), "Bad user name or password"),
        (Some(("other", "pw")), "Bad user name or password"),
        (Some(("user", "pw")), "Success"),
    ] {
        let (client, connects, _) = observed(Client::builder().reconnect_on_failure(false));
        if let Some((user, pw)) = creds {
            client.username_pw_set(user, Some(pw)).unwrap();
        }
        let live = Live::connect(client, broker.port());
        assert_eq!(recv(&connects, "on_connect").1, expected, "{creds:?}");
        live.stop().unwrap();
    }
}

/// `unsubscribe` stops delivery of that filter only, and `on_unsubscribe` reports the UNSUBACK.
#[test]
fn unsubscribe_stops_delivery() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let (sub, rx) = subscriber(broker.port(), "u/a", 1);
    subscribe_and_wait(&sub, "u/b", 1);
    let (tx, unsubacks) = mpsc::channel();
    sub.on_unsubscribe(move |_c, _u, mid, _codes, _p| {
        let _ = tx.send(mid);
    });
    let mid = sub.unsubscribe("u/a").unwrap();
    assert_eq!(recv(&unsubacks, "on_unsubscribe"), mid);
    let publ = publisher(broker.port());
    publish_and_wait(&publ, "u/a", b"a", 1, false);
    publish_and_wait(&publ, "u/b", b"b", 1, false);
    let got: Vec<_> = until_marker(&publ, "u/b", &rx).iter().map(seen).collect();
    assert_eq!(got, [s("u/b", "b", 1, false)]);
    sub.stop().unwrap();
    publ.stop().unwrap();
}

/// Our client's keepalive against a paused broker: no PINGRESP, so `on_disconnect` reports Keep alive
/// timeout; once the broker resumes, the client reconnects by itself.
#[test]
fn client_keepalive_detects_a_paused_broker() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("keepalive");
    let (client, connects, disconnects) = observed(Client::builder().client_id(id.as_str()));
    client.reconnect_delay_set(1, 1).unwrap();
    let live = Live::connect_with(client, broker.port(), 1);
    recv(&connects, "on_connect");
    broker.pause();
    assert_eq!(recv(&disconnects, "on_disconnect"), "Keep alive timeout");
    broker.resume();
    assert_eq!(
        recv(&connects, "on_connect after the reconnect").1,
        "Success"
    );
    live.stop().unwrap();
}

/// After `drop_client`, our client reconnects by itself, restores its subscription (the broker kept no
/// clean session) and receives again.
#[test]
fn client_reconnects_and_resubscribes_after_drop_client() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("resub");
    let (client, connects, disconnects) = observed(Client::builder().client_id(id.as_str()));
    client.reconnect_delay_set(0.05, 0.05).unwrap();
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    subscribe_and_wait(&live, "resub/t", 1);
    assert!(broker.drop_client(&id));
    recv(&disconnects, "on_disconnect");
    assert_eq!(
        recv(&connects, "on_connect after the reconnect"),
        (false, "Success".into())
    );
    // The client subscribes again (a second SUBACK) before it is sent anything.
    let resubscribed = broker.wait_for_packets(&id, WAIT, |log| {
        let subacks = log.iter().filter(|(_, p)| matches!(p, Packet::SubAck(_)));
        subacks.count() == 2
    });
    assert!(resubscribed, "no second SUBACK: {:?}", broker.packets(&id));
    let publ = publisher(broker.port());
    publish_and_wait(&publ, "resub/t", b"again", 1, false);
    assert_eq!(
        seen(&recv(&rx, "the message after the reconnect")),
        s("resub/t", "again", 1, false)
    );
    live.stop().unwrap();
    publ.stop().unwrap();
}

/// A QoS 1 message the broker never acknowledged (it was paused, then cut the connection) is sent again
/// by our client after it reconnects, with DUP set, and completes.
#[test]
fn client_resends_an_unacknowledged_publish_after_reconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("resend");
    let (client, connects, disconnects) = observed(
        Client::builder()
            .client_id(id.as_str())
            .clean_session(false),
    );
    client.reconnect_delay_set(0.05, 0.05).unwrap();
    let live = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    broker.pause();
    let info = live.publish("resend/t", "x", 1, false).unwrap();
    assert!(broker.drop_client(&id));
    broker.resume();
    recv(&disconnects, "on_disconnect");
    assert_eq!(
        recv(&connects, "on_connect after the reconnect"),
        (true, "Success".into())
    );
    assert!(info.wait_for_publish(Some(WAIT)).unwrap());
    let publishes: Vec<_> = broker
        .packets(&id)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Packet::Publish(p) if d == Direction::Received => Some((p.pkid, p.dup)),
            _ => None,
        })
        .collect();
    assert_eq!(publishes, [(info.mid, true)]);
    live.stop().unwrap();
}

/// A QoS 2 message on its way to our persistent client when the connection is cut, at whatever point
/// of PUBLISH / PUBREC / PUBREL / PUBCOMP the cut lands (the broker is paused at a moment that varies from
/// round to round), is delivered exactly once after the reconnect: the broker sends again the PUBLISH
/// (with DUP) or the PUBREL, and the client must remember what it already received.
#[test]
fn a_qos2_message_cut_in_flight_is_delivered_once() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("cut-qos2");
    let (client, connects, disconnects) = observed(
        Client::builder()
            .client_id(id.as_str())
            .clean_session(false),
    );
    client.reconnect_delay_set(0.05, 0.05).unwrap();
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    subscribe_and_wait(&live, "cut/q2", 2);
    let publ = publisher(broker.port());
    for round in 0..5 {
        let payload = format!("round {round}");
        publish_and_wait(&publ, "cut/q2", payload.as_bytes(), 2, false);
        // The message is on its way to the subscriber; stop the broker somewhere in its handshake.
        broker.pause();
        assert!(broker.drop_client(&id));
        broker.resume();
        recv(&disconnects, "on_disconnect");
        assert_eq!(
            recv(&connects, "on_connect after the reconnect"),
            (true, "Success".into())
        );
        let got: Vec<_> = until_marker(&publ, "cut/q2", &rx)
            .iter()
            .map(seen)
            .collect();
        assert_eq!(got, [s("cut/q2", &payload, 2, false)], "round {round}");
    }
    live.stop().unwrap();
    publ.stop().unwrap();
}

/// Automatic resubscribe restores what the client is subscribed to now: a filter it unsubscribed is not
/// restored after the broker cut the connection.
#[test]
fn resubscribe_restores_only_current_subscriptions() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("resub-current");
    let (client, connects, disconnects) = observed(Client::builder().client_id(id.as_str()));
    client.reconnect_delay_set(0.05, 0.05).unwrap();
    let live = Live::connect(client, broker.port());
    recv(&connects, "on_connect");
    subscribe_and_wait(&live, "keep/#", 1);
    subscribe_and_wait(&live, "drop/#", 2);
    let (tx, unsubacks) = mpsc::channel();
    live.on_unsubscribe(move |_c, _u, mid, _codes, _p| {
        let _ = tx.send(mid);
    });
    let mid = live.unsubscribe("drop/#").unwrap();
    assert_eq!(recv(&unsubacks, "on_unsubscribe"), mid);
    broker.clear_packets();
    assert!(broker.drop_client(&id));
    recv(&disconnects, "on_disconnect");
    assert_eq!(
        recv(&connects, "on_connect after the reconnect"),
        (false, "Success".into())
    );
    let resubscribed = broker.wait_for_packets(&id, WAIT, |log| {
        log.iter().any(|(_, p)| matches!(p, Packet::SubAck(_)))
    });
    assert!(resubscribed, "no SUBACK: {:?}", broker.packets(&id));
    assert_eq!(broker.subscriptions(&id), [("keep/#".to_string(), 1)]);
    live.stop().unwrap();
}

/// A persistent client whose session the broker lost (a clean connection with its id discarded it)
/// is told so by CONNACK and subscribes again by itself.
#[test]
fn a_persistent_client_resubscribes_when_its_session_was_lost() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("lost-session");
    let (client, connects, _) = observed(
        Client::builder()
            .client_id(id.as_str())
            .clean_session(false),
    );
    client.reconnect_delay_set(0.05, 0.05).unwrap();
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client, broker.port());
    assert_eq!(recv(&connects, "on_connect"), (false, "Success".into()));
    subscribe_and_wait(&live, "lost/t", 1);

    // Another connection with the same id and a clean session takes over and discards the session.
    let (intruder, intruder_connects, _) = observed(
        Client::builder()
            .client_id(id.as_str())
            .reconnect_on_failure(false),
    );
    let intruder = Live::connect(intruder, broker.port());
    recv(&intruder_connects, "the intruder's on_connect");
    intruder.stop().unwrap();

    // Our client reconnects to a broker without its session, and restores its subscription.
    assert_eq!(
        recv(&connects, "on_connect after the reconnect"),
        (false, "Success".into())
    );
    let resubscribed = broker.wait_for_packets(&id, WAIT, |log| {
        let subacks = log.iter().filter(|(_, p)| matches!(p, Packet::SubAck(_)));
        subacks.count() == 2
    });
    assert!(resubscribed, "no second SUBACK: {:?}", broker.packets(&id));
    let publ = publisher(broker.port());
    publish_and_wait(&publ, "lost/t", b"found", 1, false);
    assert_eq!(
        seen(&recv(&rx, "the message after the resubscribe")),
        s("lost/t", "found", 1, false)
    );
    live.stop().unwrap();
    publ.stop().unwrap();
}

/// 500 messages at each QoS from one publisher arrive at a subscriber once each, in order: the client's
/// inflight window and the broker's delivery under load, through real sockets.
#[test]
fn many_messages_arrive_once_in_order() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    for qos in 0..3 {
        let topic = format!("many/{qos}");
        let (sub, rx) = subscriber(broker.port(), &topic, qos);
        let publ = publisher(broker.port());
        let infos: Vec<_> = (0..500)
            .map(|i| publ.publish(&topic, i, qos, false).expect("publish"))
            .collect();
        for info in &infos {
            assert!(info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"));
        }
        let got: Vec<String> = (0..500)
            .map(|i| {
                let msg = recv(&rx, &format!("message {i} at QoS {qos}"));
                String::from_utf8_lossy(&msg.payload).into_owned()
            })
            .collect();
        let expected: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert_eq!(got, expected, "QoS {qos}");
        assert!(until_marker(&publ, &topic, &rx).is_empty(), "QoS {qos}");
        sub.stop().unwrap();
        publ.stop().unwrap();
    }
}

/// `wait_for_publish` against a broker that does not answer returns `false` when its timeout passes,
/// and `true` once the broker answers.
#[test]
fn wait_for_publish_times_out_on_a_paused_broker() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = start();
    let publ = publisher(broker.port());
    broker.pause();
    let info = publ.publish("paused/t", "x", 1, false).unwrap();
    let started = Instant::now();
    assert!(!info
        .wait_for_publish(Some(Duration::from_millis(200)))
        .unwrap());
    assert!(started.elapsed() >= Duration::from_millis(200));
    broker.resume();
    assert!(info.wait_for_publish(Some(WAIT)).unwrap());
    publ.stop().unwrap();
}

/// Automatic topic aliases (MQTT 5) against TestBroker, which resolves them: a subscriber gets every
/// message with its full topic, while the publisher's later PUBLISHes to a topic carry only the alias.
#[test]
fn automatic_topic_aliases_reach_subscribers_with_their_topics() {
    let _dog = watchdog(TEST_LIMIT);
    let broker = TestBroker::builder()
        .topic_alias_maximum(4)
        .start()
        .expect("starting a TestBroker");
    let (tx, got) = mpsc::channel();
    let sub = Client::builder()
        .client_id(client_id("alias-sub"))
        .protocol(pahoish::MQTTv5)
        .build()
        .unwrap();
    sub.on_message(move |_, _, m| {
        let _ = tx.send((m.topic.clone(), m.payload.clone()));
    });
    let sub = Live::connect(sub, broker.port());
    subscribe_and_wait(&sub, "long/#", 1);
    let id = client_id("alias-pub");
    let publisher = Client::builder()
        .client_id(&id)
        .protocol(pahoish::MQTTv5)
        .build()
        .unwrap();
    publisher.auto_topic_aliases_set(2);
    let (ctx, connected) = mpsc::channel();
    publisher.on_connect(move |_, _, _, _, _| {
        let _ = ctx.send(());
    });
    let publisher = Live::connect(publisher, broker.port());
    recv(&connected, "the publisher's CONNACK");
    let topics = [
        "long/topic/one",
        "long/topic/two",
        "long/topic/one",
        "long/topic/three",
    ];
    for (i, topic) in topics.iter().enumerate() {
        publish_and_wait(&publisher, topic, i.to_string().as_bytes(), 1, false);
    }
    for (i, topic) in topics.iter().enumerate() {
        assert_eq!(
            recv(&got, "a message"),
            (topic.to_string(), i.to_string().into_bytes())
        );
    }
    let sent: Vec<String> = broker
        .packets(&id)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Packet::Publish(p) if d == Direction::Received => Some(p.topic),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        ["long/topic/one", "long/topic/two", "", "long/topic/three"],
        "the third went with its alias only"
    );
}
