//! `connect_urls` against `TestBroker`s: independent brokers, none of which shares a session with
//! another, and closed ports for dead nodes.

use std::time::{Duration, Instant};

use pahoish::packet::Packet;
use pahoish::testing::{Direction, TestBroker};
use pahoish::{Client, MQTTv5};

use crate::common::{client_id, free_port, recv, subscribe_and_wait, watchdog, Live, WAIT};
use crate::record;

/// A URL nobody listens on: a node that is down.
fn dead_url() -> String {
    format!("mqtt://127.0.0.1:{}", free_port())
}

/// The first connection tries the servers in order: a dead first node is logged and the next one
/// used; when every one is dead, `connect_urls` fails with the last one's error.
#[test]
fn the_first_connection_tries_the_servers_in_order() {
    let _w = watchdog(WAIT * 2);
    let broker = TestBroker::start().expect("TestBroker");
    let dead = dead_url();
    let client = Client::new(&client_id("order"));
    let events = record(&client);
    client
        .connect_urls(&[dead.as_str(), &broker.url()], 60)
        .expect("the second server accepts");
    assert_eq!(client.server_url(), Some(broker.url()));
    let client = Live::adopt(client);
    client.loop_start().expect("loop_start");
    let c = events.connected("on_connect");
    assert_eq!(c.server, Some(broker.url()), "server_url() from on_connect");
    let lines = events.log_lines();
    let port = dead.rsplit(':').next().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(port) && l.contains("trying the next server")),
        "{lines:?}"
    );
    client.stop().expect("stop");

    let other_dead = dead_url();
    let client = Client::new(&client_id("order"));
    let e = client
        .connect_urls(&[dead.as_str(), &other_dead], 60)
        .unwrap_err();
    assert!(matches!(e, pahoish::Error::Io(_)), "{e:?}");
}

/// `loop_forever()` (which gives up when its first connection fails) tries the whole list first:
/// past a dead first server it connects to the second; with every server dead it returns the last
/// error after one attempt each.
#[test]
fn loop_forever_tries_the_whole_list_before_giving_up() {
    let _w = watchdog(WAIT * 2);
    let broker = TestBroker::start().unwrap();
    let client = Client::new(&client_id("forever"));
    let events = record(&client);
    client
        .connect_urls_async(&[dead_url(), broker.url()], 60)
        .unwrap();
    let looping = client.clone();
    let t = std::thread::spawn(move || looping.loop_forever());
    let c = events.connected("on_connect past the dead server");
    assert_eq!(c.server, Some(broker.url()));
    client.disconnect().unwrap();
    t.join().unwrap().expect("loop_forever after disconnect()");

    let client = Client::new(&client_id("forever"));
    let events = record(&client);
    client
        .connect_urls_async(&[dead_url(), dead_url()], 60)
        .unwrap();
    let e = crate::common::bounded("loop_forever", move || client.loop_forever()).unwrap_err();
    assert!(matches!(e, pahoish::Error::Io(_)), "{e:?}");
    let failures = events
        .log_lines()
        .into_iter()
        .filter(|l| l.starts_with("Connecting to"))
        .count();
    assert_eq!(failures, 2, "one attempt per server");
}

/// Each `reconnect()` moves on to the next server of the list, around and around.
#[test]
fn each_reconnect_starts_at_the_next_server() {
    let _w = watchdog(WAIT * 2);
    let brokers = [TestBroker::start().unwrap(), TestBroker::start().unwrap()];
    let id = client_id("next");
    let client = Client::new(&id);
    client
        .connect_urls(&[brokers[0].url(), brokers[1].url()], 60)
        .expect("connect_urls");
    assert!(brokers[0].wait_connected(&id, WAIT));
    for round in 1..=3 {
        client.reconnect().expect("reconnect");
        let on = &brokers[round % 2];
        assert_eq!(client.server_url(), Some(on.url()), "reconnect {round}");
        assert!(
            on.wait_connected(&id, WAIT),
            "reconnect {round}: not on {}",
            on.url()
        );
    }
    client.disconnect().expect("disconnect");
}

/// A lost connection fails over to the next server; a dead node in the way is passed at once, so the
/// whole failover waits for the backoff once (0.5 s here, at most 0.625 s with the jitter), not once
/// per server.
#[test]
fn a_lost_connection_fails_over_to_the_next_server_with_one_backoff_wait_per_round() {
    let _w = watchdog(WAIT * 3);
    let a = TestBroker::start().unwrap();
    let b = TestBroker::start().unwrap();
    let dead = dead_url();
    let id = client_id("failover");
    let client = Client::new(&id);
    client.reconnect_delay_set(0.5, 8).unwrap();
    let events = record(&client);
    client
        .connect_urls_async(&[a.url(), dead.clone(), b.url()], 60)
        .expect("connect_urls_async");
    client.loop_start().expect("loop_start");
    let client = Live::adopt(client);
    assert_eq!(events.connected("first on_connect").server, Some(a.url()));

    assert!(a.drop_client(&id));
    let lost = Instant::now();
    let c = events.connected("on_connect after the failover");
    let took = c.at - lost;
    assert_eq!(c.server, Some(b.url()), "past the dead node to the third");
    assert!(
        took < Duration::from_millis(1100),
        "failover took {took:?}: more than one backoff wait"
    );
    println!("failover past a dead node: {took:?}");

    // From the last server, around to the first.
    assert!(b.drop_client(&id));
    assert_eq!(
        events
            .connected("on_connect after the second failover")
            .server,
        Some(a.url())
    );
    client.stop().expect("stop");
}

/// With independent brokers the new server has no session: the client subscribes again and sends
/// again every QoS 1 message the old server had not acknowledged, as after any reconnect, and
/// messages on the new server reach it.
#[test]
fn a_server_without_the_session_gets_the_subscriptions_and_unacknowledged_messages_again() {
    let _w = watchdog(WAIT * 3);
    let a = TestBroker::start().unwrap();
    let b = TestBroker::start().unwrap();
    let id = client_id("independent");
    let client = Client::builder()
        .client_id(&id)
        .clean_session(false)
        .build()
        .unwrap();
    client.reconnect_delay_set(0.1, 1).unwrap();
    let events = record(&client);
    client
        .connect_urls_async(&[a.url(), b.url()], 60)
        .expect("connect_urls_async");
    client.loop_start().expect("loop_start");
    let client = Live::adopt(client);
    events.connected("on_connect on the first server");
    subscribe_and_wait(&client, "fleet/#", 1);
    a.pause(); // no PUBACK from here on
    let infos: Vec<_> = (0..3)
        .map(|i| {
            client
                .publish("uplink/x", format!("m{i}"), 1, false)
                .unwrap()
        })
        .collect();
    drop(a); // the node dies with the three messages unacknowledged
    let c = events.connected("on_connect on the second server");
    assert_eq!(c.server, Some(b.url()));
    assert!(!c.session_present);
    for info in &infos {
        assert!(info.wait_for_publish(Some(WAIT)).unwrap(), "{info:?}");
    }
    let log = b.packets(&id);
    let received = |name| {
        log.iter()
            .filter(|(d, p)| *d == Direction::Received && p.name() == name)
            .count()
    };
    assert_eq!(received("SUBSCRIBE"), 1, "{log:?}");
    assert!(log.iter().any(|(d, p)| *d == Direction::Received
        && matches!(p, Packet::Subscribe(s) if format!("{s:?}").contains("fleet/#"))));
    assert_eq!(received("PUBLISH"), 3, "{log:?}");

    let publisher = Live::connect(Client::new(&client_id("pub")), b.port());
    publisher
        .publish("fleet/down", "hello", 1, false)
        .unwrap()
        .wait_for_publish(Some(WAIT))
        .unwrap();
    let msg = recv(&events.messages, "a message on the second server");
    assert_eq!(msg.topic, "fleet/down");
    publisher.stop().unwrap();
    client.stop().unwrap();
}

/// MQTT 5: the server gives the session to another connection with DISCONNECT 0x8E. The client
/// reports it in `on_disconnect` (from the server, Session taken over) and in the log, and its
/// reconnects back off rather than fight for the id.
#[test]
fn mqtt5_session_taken_over_is_reported_and_not_fought_over() {
    let _w = watchdog(WAIT * 3);
    let broker = TestBroker::start().unwrap();
    let id = client_id("taken");
    let make = || {
        let c = Client::builder()
            .client_id(&id)
            .protocol(MQTTv5)
            .build()
            .unwrap();
        c.reconnect_delay_set(0.25, 4).unwrap();
        c
    };
    let first = make();
    let events = record(&first);
    first
        .connect_urls_async(&[broker.url()], 60)
        .expect("connect_urls_async");
    first.loop_start().unwrap();
    let first = Live::adopt(first);
    events.connected("the first client's on_connect");
    let second = make();
    let second_events = record(&second);
    second.connect_urls_async(&[broker.url()], 60).unwrap();
    second.loop_start().unwrap();
    let second = Live::adopt(second);
    let d = recv(&events.disconnects, "the first client's on_disconnect");
    assert!(d.from_server);
    assert_eq!(d.rc.value(), 0x8e);
    assert_eq!(d.rc.to_string(), "Session taken over");
    let lines = events.log_lines();
    assert!(
        lines.iter().any(|l| l.contains("Session taken over")),
        "{lines:?}"
    );
    // Watch them for three seconds: a reset backoff would reconnect every 0.25 s (24 connects);
    // the doubling keeps it to about six.
    let until = Instant::now() + Duration::from_secs(3);
    let mut connects = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Ok(c) = events
            .connects
            .recv_timeout(left.min(Duration::from_millis(100)))
        {
            assert_eq!(c.rc, 0);
            connects += 1;
        }
        connects += second_events.connects.try_iter().count();
    }
    assert!(connects <= 10, "{connects} connects in 3 s");
    println!("MQTT 5 takeover: {connects} connects of both clients in 3 s");
    first.stop().unwrap();
    second.stop().unwrap();
}
