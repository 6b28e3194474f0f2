//! Interoperability with a real broker: mosquitto, started by each test on a free loopback port (see
//! `common::Mosquitto`). Skipped with a message when mosquitto is not installed, unless
//! `PAHOISH_REQUIRE_MOSQUITTO=1` makes that a failure.
//!
//! Every wait is a channel receive bounded by `common::WAIT`; a watchdog fails a test that hangs anyway.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::FromRawFd;
use std::sync::mpsc;

use common::{
    bounded, client_id, publisher, recv, subscribe_and_wait, subscriber, watchdog, Live, Mosquitto,
    TEST_LIMIT, WAIT,
};
use pahoish::{Client, Message};

/// Publishes `payload` at `qos` and waits until it is published (written for QoS 0, PUBACK for 1,
/// PUBCOMP for 2), checking `wait_for_publish` reports `Ok(true)`.
fn publish_and_wait(client: &Client, topic: &str, payload: &[u8], qos: i32, retain: bool) -> u16 {
    let info = client
        .publish(topic, payload, qos, retain)
        .unwrap_or_else(|e| panic!("publish to {topic:?}: {e}"));
    assert_eq!(info.rc, pahoish::MQTT_ERR_SUCCESS, "publish rc");
    assert!(
        info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"),
        "message {} (QoS {qos}) not published within {WAIT:?}",
        info.mid
    );
    assert!(info.is_published());
    info.mid
}

/// One round trip at `qos`: our publisher -> mosquitto -> our subscriber (subscribed at QoS 2, so the
/// message keeps its QoS). Checks topic, payload, QoS, retain, and that `on_publish` reported the mid.
fn round_trip(qos: i32) {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = format!("interop/qos{qos}");
    let (sub, messages) = subscriber(broker.port, &topic, 2);
    let publ = publisher(broker.port);
    let (tx, published) = mpsc::channel();
    publ.on_publish(move |_c, _u, mid, rc, _p| {
        let _ = tx.send((mid, rc));
    });
    // Every byte value, so nothing in the path treats the payload as text.
    let payload: Vec<u8> = (0..=255u8).chain(*b"qos round trip").collect();

    let mid = publish_and_wait(&publ, &topic, &payload, qos, false);

    let (pub_mid, rc) = recv(&published, "on_publish");
    assert_eq!(pub_mid, mid, "on_publish mid");
    assert!(!rc.is_failure(), "on_publish reason code {rc}");
    let msg: Message = recv(&messages, "the message at the subscriber");
    assert_eq!(msg.topic, topic);
    assert_eq!(msg.payload, payload);
    assert_eq!(i32::from(msg.qos), qos, "delivered QoS");
    assert!(!msg.retain, "a live message is not retained");
    assert!(!msg.dup);
    assert_eq!(msg.mid == 0, qos == 0, "mid {} at QoS {qos}", msg.mid);
    publ.stop().expect("publisher loop_stop");
    sub.stop().expect("subscriber loop_stop");
}

/// QoS 0 through mosquitto: delivered once, `wait_for_publish` true once written.
#[test]
fn qos0_round_trip() {
    round_trip(0);
}

/// QoS 1 through mosquitto: PUBACK completes the publish, the subscriber gets QoS 1.
#[test]
fn qos1_round_trip() {
    round_trip(1);
}

/// QoS 2 through mosquitto: PUBREC/PUBREL/PUBCOMP complete the publish, the subscriber gets QoS 2.
#[test]
fn qos2_round_trip() {
    round_trip(2);
}

/// A 1 MiB payload at QoS 1 arrives intact: reads and writes that span many socket buffers work.
#[test]
fn large_payload_round_trip() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, messages) = subscriber(broker.port, "interop/large", 1);
    let publ = publisher(broker.port);
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    publish_and_wait(&publ, "interop/large", &payload, 1, false);
    let msg = recv(&messages, "the large message");
    assert_eq!(msg.payload.len(), payload.len());
    assert!(msg.payload == payload, "payload corrupted");
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// A retained message reaches a subscriber that arrives later, flagged `retain`; a live copy to an
/// existing subscriber is not flagged (MQTT-3.3.1-9); an empty retained payload clears it, so the next
/// new subscriber gets nothing retained (checked by its first message being a live one published after
/// its SUBACK: mosquitto sends retained messages while handling SUBSCRIBE, before anything later).
#[test]
fn retained_message_reaches_new_subscriber_and_empty_payload_clears_it() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "interop/retained";
    let publ = publisher(broker.port);
    publish_and_wait(&publ, topic, b"kept", 1, true);

    let (first, first_rx) = subscriber(broker.port, topic, 1);
    let msg = recv(&first_rx, "the retained message");
    assert_eq!(
        (msg.payload.as_slice(), msg.retain, msg.qos),
        (&b"kept"[..], true, 1)
    );

    // Clear it.
    publish_and_wait(&publ, topic, &[], 1, true);
    let msg = recv(&first_rx, "the clearing message, live");
    assert!(msg.payload.is_empty());
    assert!(
        !msg.retain,
        "a message to an established subscription has retain 0"
    );

    let (second, second_rx) = subscriber(broker.port, topic, 1);
    publish_and_wait(&publ, topic, b"live", 1, false);
    let msg = recv(&second_rx, "the live message");
    assert_eq!(
        (msg.payload.as_slice(), msg.retain),
        (&b"live"[..], false),
        "a retained message survived the empty-payload clear"
    );

    publ.stop().unwrap();
    first.stop().unwrap();
    second.stop().unwrap();
}

/// The will of a connection cut without DISCONNECT reaches our subscriber. The will's owner is a raw TCP
/// connection (CONNECT with a will, CONNACK, then dropped), so the cut is certainly unclean.
#[test]
fn will_is_delivered_on_unclean_disconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, messages) = subscriber(broker.port, "interop/will/raw", 1);

    let mut raw = TcpStream::connect(broker.addr()).unwrap();
    raw.write_all(&common::raw_connect_with_will(
        &client_id("raw-will"),
        "interop/will/raw",
        b"gone",
        1,
        false,
    ))
    .unwrap();
    common::expect_raw_connack(&mut raw);
    drop(raw); // FIN without DISCONNECT

    let msg = recv(&messages, "the will");
    assert_eq!(msg.topic, "interop/will/raw");
    assert_eq!(msg.payload, b"gone");
    assert_eq!(msg.qos, 1);
    assert!(!msg.retain);
    sub.stop().unwrap();
}

/// Our own `will_set` goes into CONNECT correctly: when our client's socket is shut down under it (no
/// DISCONNECT sent), mosquitto publishes the will with its topic, payload and QoS.
#[test]
fn will_set_by_our_client_is_published_when_its_connection_is_cut() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, messages) = subscriber(broker.port, "interop/will/ours", 2);

    let owner = Client::builder()
        .client_id(client_id("will-owner"))
        .reconnect_on_failure(false)
        .build()
        .unwrap();
    owner
        .will_set("interop/will/ours", "owner vanished", 2, false)
        .unwrap();
    let (tx, connected) = mpsc::channel();
    owner.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let (tx, disconnected) = mpsc::channel();
    owner.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let owner = Live::connect(owner, broker.port);
    let rc = recv(&connected, "the will owner's CONNACK");
    assert!(!rc.is_failure(), "{rc}");

    let fd = owner.socket().expect("connected socket");
    // SAFETY: `fd` is the owner's open TCP socket; its idle loop only closes it after reading EOF, which
    // the shutdown below causes, and ManuallyDrop keeps this borrowed view from closing it.
    let view = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    view.shutdown(Shutdown::Both).unwrap();

    let msg = recv(&messages, "the will");
    assert_eq!(msg.topic, "interop/will/ours");
    assert_eq!(msg.payload, b"owner vanished");
    assert_eq!(msg.qos, 2);
    let rc = recv(&disconnected, "the owner's on_disconnect");
    assert!(rc.is_failure(), "an unexpected disconnection: {rc}");
    // reconnect_on_failure(false): the loop thread ended by itself; loop_stop joins it.
    owner.stop().unwrap();
    sub.stop().unwrap();
}

/// After a clean DISCONNECT the broker discards the will. The raw client reads until mosquitto closes
/// the connection (so the DISCONNECT was handled), then a live marker is published: it must be the first
/// thing the subscriber gets.
#[test]
fn will_is_not_sent_after_clean_disconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "interop/will/clean";
    let (sub, messages) = subscriber(broker.port, topic, 1);
    let mut raw = TcpStream::connect(broker.addr()).unwrap();
    raw.write_all(&common::raw_connect_with_will(
        &client_id("raw-clean"),
        topic,
        b"should not appear",
        1,
        false,
    ))
    .unwrap();
    common::expect_raw_connack(&mut raw);
    raw.write_all(&[0xe0, 0x00]).unwrap(); // DISCONNECT
    common::read_until_eof(&mut raw);

    let publ = publisher(broker.port);
    publish_and_wait(&publ, topic, b"marker", 1, false);
    let msg = recv(&messages, "the marker");
    assert_eq!(msg.payload, b"marker", "the will was published: {msg:?}");
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// After `unsubscribe` (and its UNSUBACK) nothing more arrives on that filter: a message to it followed
/// by a marker on another subscribed topic, and the marker comes first.
#[test]
fn unsubscribe_stops_delivery() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, messages) = subscriber(broker.port, "interop/unsub/a", 1);
    subscribe_and_wait(&sub, "interop/unsub/marker", 1);
    let (tx, unsubscribed) = mpsc::channel();
    sub.on_unsubscribe(move |_c, _u, mid, _codes, _p| {
        let _ = tx.send(mid);
    });
    let mid = sub.unsubscribe("interop/unsub/a").unwrap();
    assert_eq!(recv(&unsubscribed, "UNSUBACK"), mid);

    let publ = publisher(broker.port);
    publish_and_wait(&publ, "interop/unsub/a", b"after unsubscribe", 1, false);
    publish_and_wait(&publ, "interop/unsub/marker", b"marker", 1, false);
    let msg = recv(&messages, "the marker");
    assert_eq!(msg.topic, "interop/unsub/marker", "got {msg:?}");
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// With `keepalive` 1 the client sends PINGREQ when idle and mosquitto's PINGRESP keeps the connection
/// open (no on_disconnect before two ping round trips).
#[test]
fn keepalive_pings_are_answered() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("ping"));
    let (tx, log) = mpsc::channel();
    client.on_log(move |_c, _u, _level, line| {
        let _ = tx.send(line.to_owned());
    });
    let (tx, disconnected) = mpsc::channel();
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let client = Live::connect_with(client, broker.port, 1);
    let mut pongs = 0;
    while pongs < 2 {
        let line = recv(&log, "a PINGRESP in the log");
        if line.contains("PINGRESP") {
            pongs += 1;
        }
        assert!(
            disconnected.try_recv().is_err(),
            "disconnected while idle with keepalive 1"
        );
    }
    assert!(client.is_connected());
    client.stop().unwrap();
}

/// A persistent session (clean_session false): messages published at QoS 1 while the client is away are
/// delivered when it comes back, with `session_present` set.
#[test]
fn persistent_session_receives_messages_queued_while_offline() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topic = "interop/persistent";
    let client = Client::builder()
        .client_id(client_id("persistent"))
        .clean_session(false)
        .build()
        .unwrap();
    let (tx, connected) = mpsc::channel();
    client.on_connect(move |_c, _u, flags, rc, _p| {
        let _ = tx.send((flags.session_present, rc));
    });
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client.clone(), broker.port);
    let (present, rc) = recv(&connected, "the first CONNACK");
    assert!(!rc.is_failure());
    assert!(!present, "a new client id has no session");
    subscribe_and_wait(&live, topic, 1);
    live.stop().unwrap();

    let publ = publisher(broker.port);
    for i in 0..3 {
        publish_and_wait(&publ, topic, format!("offline {i}").as_bytes(), 1, false);
    }

    let live = Live::connect(client, broker.port);
    let (present, rc) = recv(&connected, "the second CONNACK");
    assert!(!rc.is_failure());
    assert!(present, "mosquitto kept the session");
    for i in 0..3 {
        let msg = recv(&messages, "a message queued while offline");
        assert_eq!(msg.payload, format!("offline {i}").as_bytes());
        assert_eq!(msg.qos, 1);
    }
    publ.stop().unwrap();
    live.stop().unwrap();
}

/// Shared body of the two restart tests: a subscriber (subscribing after connecting, or in on_connect),
/// mosquitto killed and restarted on the same port with no memory, and a retained publish after the
/// restart, which reaches the subscriber only if it is subscribed again on the new broker (if the publish
/// wins the race with the resubscription, the broker hands it over as a retained message on SUBSCRIBE).
/// Returns the number of SUBSCRIBE packets the subscriber sent on the connection after the restart (read
/// from its log at the time its resubscription was acknowledged).
fn resubscribe_after_restart(in_on_connect: bool) -> usize {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return 1;
    };
    let topic = if in_on_connect {
        "interop/restart/on-connect"
    } else {
        "interop/restart/after-connect"
    };
    let client = Client::new(&client_id("restart"));
    client.reconnect_delay_set(0.05, 0.5).unwrap();
    let (tx, connected) = mpsc::channel();
    client.on_connect(move |c, _u, flags, rc, _p| {
        if in_on_connect && !rc.is_failure() {
            c.subscribe(topic, 1).expect("subscribe in on_connect");
        }
        let _ = tx.send((flags.session_present, rc));
    });
    let (tx, disconnected) = mpsc::channel();
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let (tx, subscribed) = mpsc::channel();
    client.on_subscribe(move |_c, _u, mid, codes, _p| {
        let _ = tx.send((mid, codes.to_vec()));
    });
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    // Every SUBSCRIBE the client sends, and every CONNACK, in the order they happen.
    let (tx, log) = mpsc::channel();
    client.on_log(move |_c, _u, _l, line| {
        if line.starts_with("Sending SUBSCRIBE") || line.starts_with("Received CONNACK") {
            let _ = tx.send(line.to_owned());
        }
    });
    let sub = Live::connect(client, broker.port);
    let (_, rc) = recv(&connected, "the first CONNACK");
    assert!(!rc.is_failure(), "{rc}");
    if !in_on_connect {
        sub.subscribe(topic, 1).unwrap();
    }
    let (_, codes) = recv(&subscribed, "the first SUBACK");
    assert_eq!(codes.len(), 1);
    assert!(!codes[0].is_failure());

    // It works before the restart.
    let publ = publisher(broker.port);
    publish_and_wait(&publ, topic, b"before", 1, false);
    assert_eq!(
        recv(&messages, "the message before the restart").payload,
        b"before"
    );
    publ.stop().unwrap();

    while log.try_recv().is_ok() {} // forget the first connection's lines
    broker.restart();
    let rc = recv(&disconnected, "on_disconnect after the broker died");
    assert!(rc.is_failure(), "{rc}");
    let (present, rc) = recv(&connected, "the CONNACK after the restart");
    assert!(!rc.is_failure(), "{rc}");
    assert!(!present, "the restarted broker has no session");

    let publ = publisher(broker.port);
    publish_and_wait(&publ, topic, b"after restart", 1, true);
    let msg = recv(
        &messages,
        "the message published after the restart (not subscribed again?)",
    );
    assert_eq!(msg.payload, b"after restart");

    // Count the SUBSCRIBEs of the new connection. In the on_connect case the user's SUBACK is awaited (an
    // automatic resubscription, if wrongly sent too, is queued in the same turn as on_connect, before
    // it); otherwise receiving the message proves the automatic one was acknowledged.
    if in_on_connect {
        recv(&subscribed, "the on_connect SUBACK after the restart");
    }
    let lines: Vec<String> = log.try_iter().collect();
    let connack = lines
        .iter()
        .position(|l| l.starts_with("Received CONNACK"))
        .unwrap_or_else(|| panic!("no CONNACK logged after the restart: {lines:?}"));
    let subscribes = lines[connack..]
        .iter()
        .filter(|l| l.starts_with("Sending SUBSCRIBE"))
        .count();
    publ.stop().unwrap();
    sub.stop().unwrap();
    subscribes
}

/// Automatic resubscribe: a subscription made once, after connecting (not in on_connect), still
/// delivers after mosquitto restarts and the client reconnects by itself. Paho loses it (its issues
/// #375, #573, #871).
#[test]
fn subscription_made_after_connect_survives_broker_restart() {
    let _wd = watchdog(TEST_LIMIT);
    let subscribes = resubscribe_after_restart(false);
    assert_eq!(subscribes, 1, "one automatic SUBSCRIBE after the restart");
}

/// The Paho idiom (subscribe in on_connect) still receives after a restart, and the automatic
/// resubscribe does not send that subscription a second time.
#[test]
fn subscription_made_in_on_connect_survives_broker_restart_without_duplicate() {
    let _wd = watchdog(TEST_LIMIT);
    let subscribes = resubscribe_after_restart(true);
    assert_eq!(
        subscribes, 1,
        "exactly the on_connect SUBSCRIBE after the restart, as under Paho"
    );
}

/// Many topics, wildcards and QoS levels in one SUBSCRIBE; each message arrives once, on the filter that
/// matches it, with the QoS the broker downgraded it to.
#[test]
fn wildcard_subscriptions_and_qos_downgrade() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("wild"));
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let (tx, subscribed) = mpsc::channel();
    client.on_subscribe(move |_c, _u, mid, codes, _p| {
        let _ = tx.send((mid, codes.to_vec()));
    });
    let sub = Live::connect(client, broker.port);
    let mid = sub
        .subscribe([("interop/wild/+/temp", 0), ("interop/wild/b/#", 1)], 0)
        .unwrap();
    let (got, codes) = recv(&subscribed, "the SUBACK");
    assert_eq!(got, mid);
    assert_eq!(
        codes.iter().map(|c| c.value()).collect::<Vec<_>>(),
        vec![0, 1]
    );

    let publ = publisher(broker.port);
    publish_and_wait(&publ, "interop/wild/a/temp", b"a", 2, false); // to QoS 0
    publish_and_wait(&publ, "interop/wild/b/x/y", b"b", 2, false); // to QoS 1
    publish_and_wait(&publ, "interop/wild/c/other", b"c", 1, false); // matches nothing
    publish_and_wait(&publ, "interop/wild/b", b"end", 1, false); // b/# matches b

    let mut got = Vec::new();
    while got.len() < 3 {
        let m = recv(&messages, "a wildcard message");
        got.push((m.topic, m.payload, m.qos));
    }
    assert_eq!(
        got,
        vec![
            ("interop/wild/a/temp".to_owned(), b"a".to_vec(), 0),
            ("interop/wild/b/x/y".to_owned(), b"b".to_vec(), 1),
            ("interop/wild/b".to_owned(), b"end".to_vec(), 1),
        ]
    );
    let topics: HashSet<_> = got.into_iter().map(|(t, _, _)| t).collect();
    assert!(!topics.contains("interop/wild/c/other"));
    publ.stop().unwrap();
    sub.stop().unwrap();
}

/// `connect` to a port where nothing listens fails at once with an I/O error instead of hanging, and
/// `loop_stop` without a `loop_start` says so.
#[test]
fn connect_refused_fails_fast() {
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port();
    let client = Client::new("");
    let err = bounded("connect to a closed port", move || {
        client.connect(common::HOST, port, 60)
    })
    .expect_err("nothing listens there");
    assert!(matches!(err, pahoish::Error::Io(_)), "{err:?}");
    assert_eq!(err.rc(), pahoish::MQTT_ERR_ERRNO);
}
