//! Paho 2.2 names that a ported script uses, each against a TestBroker where the wire shows it: the
//! readable properties and their setters, `username_pw_set(None)`, `enable_bridge_mode`,
//! `MQTTMessage.state`/`.info`, `publish` on a full queue, `on_socket_register_write`/`unregister_write`
//! and the helpers' `clean_session`.
//!
//! Every wait is a channel receive or a broker `wait_*` bounded by `common::WAIT`; a watchdog fails a
//! test that hangs anyway.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;

use common::{client_id, recv, subscribe_and_wait, watchdog, Live, HOST, TEST_LIMIT, WAIT};
use pahoish as mqtt;
use pahoish::packet::{Connect, Packet};
use pahoish::testing::{Direction, TestBroker};

fn start() -> TestBroker {
    TestBroker::start().expect("starting a TestBroker")
}

/// The CONNECT the broker received from `id`.
fn connect_of(broker: &TestBroker, id: &str) -> Connect {
    match broker.wait_for_packet(id, WAIT, |d, p| {
        d == Direction::Received && matches!(p, Packet::Connect(_))
    }) {
        Some(Packet::Connect(c)) => c,
        other => panic!("no CONNECT from {id}: {other:?}"),
    }
}

/// A client whose `on_connect` reports on the channel returned.
fn connected(id: &str, port: u16, setup: impl FnOnce(&mqtt::Client)) -> Live {
    let client = mqtt::Client::new(id);
    setup(&client);
    let (tx, rx) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc.value());
    });
    let live = Live::connect(client, port);
    assert_eq!(recv(&rx, "CONNACK"), 0);
    live
}

/// `enable_bridge_mode()` makes the CONNECT's protocol level 0x84 (the 0x80 bridge bit on 3.1.1), as
/// Paho sends it: the exact bytes, read by a bare listener (TestBroker, like brokers that do not know
/// the convention, refuses the level).
#[test]
fn bridge_mode_sets_the_bridge_bit_in_connect() {
    let _w = watchdog(TEST_LIMIT);
    for (bridge, level) in [(true, 0x84), (false, 0x04)] {
        let listener = TcpListener::bind((HOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = mqtt::Client::new("bridge");
        if bridge {
            client.enable_bridge_mode();
        }
        client.connect(HOST, port, 60).unwrap();
        client.loop_write().unwrap();
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = [0u8; 20];
        sock.read_exact(&mut got).unwrap();
        let mut expected = vec![0x10, 0x12, 0x00, 0x04, b'M', b'Q', b'T', b'T', level];
        expected.extend_from_slice(&[0x02, 0x00, 0x3c, 0x00, 0x06]);
        expected.extend_from_slice(b"bridge");
        assert_eq!(got.to_vec(), expected, "bridge {bridge}");
    }
}

/// `username_pw_set(None, ..)` clears the credentials: the CONNECT carries neither user name nor
/// password, as Paho's `username_pw_set(None)`.
#[test]
fn username_pw_set_none_sends_no_credentials() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("creds");
    let live = connected(&id, broker.port(), |c| {
        c.username_pw_set("guest", Some("s3cret")).unwrap();
        c.username_pw_set(None, None).unwrap();
    });
    let c = connect_of(&broker, &id);
    assert_eq!((c.username, c.password), (None, None));
    live.stop().unwrap();
}

/// The property setters refuse while the connection is open, with Paho's RuntimeError text, and work
/// again once it is closed; the getters read what `connect` set.
#[test]
fn property_setters_refuse_while_connected() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("props");
    let live = connected(&id, broker.port(), |_| {});
    assert_eq!(
        (live.host(), live.port(), live.keepalive()),
        (HOST.to_owned(), broker.port(), 60)
    );
    let e = live.host_set("elsewhere").unwrap_err();
    assert!(
        e.to_string()
            .contains("updating host on established connection is not supported"),
        "{e}"
    );
    assert!(live.port_set(1).is_err());
    assert!(live.keepalive_set(5).is_err());
    assert!(live.transport_set(mqtt::Transport::Tcp).is_err());
    assert!(live.username_set("u").is_err());
    assert!(live.password_set(None).is_err());
    let client = live.client().clone();
    live.stop().unwrap();
    client.keepalive_set(5).unwrap();
    assert_eq!(client.keepalive(), 5);
}

/// A message given to `on_message` has Paho's `state` (`MQTT_MS_WAIT_FOR_PUBREL` at QoS 2, it came
/// with the PUBREL; `MQTT_MS_INVALID` below) and an `info` with its mid that is not published.
#[test]
fn a_received_message_has_pahos_state_and_info() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let sub = mqtt::Client::new(&client_id("state"));
    let (tx, rx) = mpsc::channel();
    sub.on_message(move |_c, _u, msg| {
        let info = msg.info();
        let _ = tx.send((
            msg.qos,
            msg.state(),
            info.mid == msg.mid,
            info.is_published(),
        ));
    });
    let sub = Live::connect(sub, broker.port());
    subscribe_and_wait(&sub, "state/#", 2);
    let publisher = Live::connect(mqtt::Client::new(&client_id("pub")), broker.port());
    for qos in [2, 1, 0] {
        let info = publisher.publish("state/x", "m", qos, false).unwrap();
        assert!(info.wait_for_publish(Some(WAIT)).unwrap());
        let (got_qos, state, same_mid, published) = recv(&rx, "the message");
        assert_eq!(got_qos, qos as u8);
        let expected = if qos == 2 {
            mqtt::MessageState::MQTT_MS_WAIT_FOR_PUBREL
        } else {
            mqtt::MessageState::MQTT_MS_INVALID
        };
        assert_eq!(state, expected);
        assert!(same_mid && !published);
    }
    publisher.stop().unwrap();
    sub.stop().unwrap();
}

/// With `max_queued_messages` held, `publish` returns an info with rc `MQTT_ERR_QUEUE_SIZE`, as Paho
/// does: a ported `if info.rc != MQTT_ERR_SUCCESS` sees it, it is never published and its
/// `wait_for_publish` fails; the message already held is untouched and goes out once connected.
#[test]
fn a_full_queue_is_reported_in_rc_as_paho_does() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let client = mqtt::Client::new(&client_id("queue"));
    client.max_queued_messages_set(1);
    let first = client.publish("q/a", "1", 1, false).unwrap();
    assert_eq!(first.rc, mqtt::MQTT_ERR_NO_CONN); // kept
    let info = client.publish("q/a", "2", 1, false).unwrap();
    assert_eq!(info.rc, mqtt::MQTT_ERR_QUEUE_SIZE);
    let (rc, mid) = info.clone().into();
    assert_eq!((rc, mid), (mqtt::MQTT_ERR_QUEUE_SIZE, 0));
    assert_eq!(
        info.to_string(),
        "(<MQTTErrorCode.MQTT_ERR_QUEUE_SIZE: 15>, 0)"
    );
    assert_eq!(info.get(0), Some(15));
    assert!(!info.is_published());
    assert!(matches!(
        info.wait_for_publish(Some(WAIT)),
        Err(mqtt::Error::QueueFull)
    ));

    let live = Live::connect(client, broker.port());
    assert!(first.wait_for_publish(Some(WAIT)).unwrap());
    live.stop().unwrap();
}

/// The helpers' `clean_session: false` (Paho's `subscribe.simple(..., clean_session=False)`) reaches
/// the CONNECT, and the broker keeps the session; the default is a clean session.
#[test]
fn helpers_pass_clean_session_on() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let base = mqtt::subscribe::Options {
        hostname: HOST.into(),
        port: broker.port(),
        ..Default::default()
    };
    mqtt::publish::single("keep/a", "r", 1, true, &base).unwrap();
    let id = client_id("persistent");
    let options = mqtt::subscribe::Options {
        client_id: id.clone(),
        clean_session: false,
        ..base.clone()
    };
    let msgs = mqtt::subscribe::simple("keep/#", 1, 1, true, &options).unwrap();
    assert_eq!(msgs[0].payload, b"r");
    assert!(!connect_of(&broker, &id).clean_session);
    assert!(broker.has_session(&id));

    let clean = client_id("clean");
    let options = mqtt::subscribe::Options {
        client_id: clean.clone(),
        ..base.clone()
    };
    mqtt::subscribe::simple("keep/#", 1, 1, true, &options).unwrap();
    assert!(connect_of(&broker, &clean).clean_session);

    // Paho's ValueError: a persistent session needs a client id.
    let no_id = mqtt::subscribe::Options {
        clean_session: false,
        ..base
    };
    assert!(matches!(
        mqtt::subscribe::simple("keep/#", 1, 1, true, &no_id),
        Err(mqtt::Error::InvalidArgument { .. })
    ));
}

/// An external event loop, as Paho's `on_socket_register_write`/`unregister_write` serve it: "register"
/// when bytes wait (CONNECT, a publish, DISCONNECT), which the client then leaves to the
/// application's `loop_write` instead of writing them itself; "unregister" once written, and before
/// the socket closes.
#[test]
fn register_and_unregister_write_drive_an_external_loop() {
    let _w = watchdog(TEST_LIMIT);
    let broker = start();
    let client = mqtt::Client::new(&client_id("extloop"));
    let (tx, rx) = mpsc::channel();
    for (name, register) in [("register", true), ("unregister", false)] {
        let tx = tx.clone();
        let report = move |_c: &mqtt::Client, _u: &mut (), fd| {
            let _ = tx.send((name, fd));
        };
        if register {
            client.on_socket_register_write(report);
        } else {
            client.on_socket_unregister_write(report);
        }
    }
    let close_tx = tx.clone();
    client.on_socket_close(move |_c, _u, fd| {
        let _ = close_tx.send(("close", fd));
    });
    let (ctx, connacks) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = ctx.send(rc.value());
    });
    drop(tx);

    client.connect(HOST, broker.port(), 60).unwrap();
    let fd = client.socket().expect("a socket");
    assert_eq!(recv(&rx, "register for CONNECT"), ("register", fd));
    assert!(client.want_write(), "CONNECT is left to loop_write");
    client.loop_write().unwrap();
    assert_eq!(recv(&rx, "unregister after CONNECT"), ("unregister", fd));
    while connacks.try_recv().is_err() {
        client.r#loop(0.1).unwrap();
    }

    let info = client.publish("ext/a", "x", 1, false).unwrap();
    assert_eq!(recv(&rx, "register for PUBLISH"), ("register", fd));
    assert!(client.want_write() && !info.is_published());
    client.loop_write().unwrap();
    assert_eq!(recv(&rx, "unregister after PUBLISH"), ("unregister", fd));

    client.disconnect().unwrap();
    assert_eq!(recv(&rx, "register for DISCONNECT"), ("register", fd));
    client.loop_write().unwrap();
    assert_eq!(recv(&rx, "unregister before close"), ("unregister", fd));
    assert_eq!(recv(&rx, "close"), ("close", fd));
    assert!(rx.try_recv().is_err(), "one report per change");
}

/// `drop_out_messages` hands back the unacknowledged QoS 1/2 messages (in flight and queued) with their
/// ids, their `MessageInfo`s say discarded, and a reconnect sends none of them again.
#[test]
fn drop_out_messages_returns_them_and_nothing_is_resent() {
    let _dog = watchdog(TEST_LIMIT);
    let broker = start();
    let id = client_id("drop");
    let (tx, connects) = mpsc::channel();
    let client = mqtt::Client::new(&id);
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = tx.send(());
    });
    let client = Live::connect(client, broker.port());
    recv(&connects, "the first CONNACK");

    // Held unacknowledged: the broker reads nothing while paused.
    broker.pause();
    let a = client.publish("t", "a", 1, false).unwrap();
    let b = client.publish("t", "b", 2, false).unwrap();
    let dropped = client.drop_out_messages();
    let seen: Vec<(&str, &[u8], u8, u16)> = dropped
        .iter()
        .map(|m| (m.topic.as_str(), &m.payload[..], m.qos, m.mid))
        .collect();
    assert_eq!(
        seen,
        [("t", &b"a"[..], 1, a.mid), ("t", &b"b"[..], 2, b.mid)]
    );
    assert!(client.drop_out_messages().is_empty());
    assert!(matches!(
        a.wait_for_publish(Some(WAIT)),
        Err(mqtt::Error::PublishDiscarded(mqtt::MQTT_ERR_NOT_FOUND))
    ));
    broker.resume();

    // A new connection: nothing of the dropped messages goes out again.
    assert!(broker.drop_client(&id));
    recv(&connects, "the CONNACK after the reconnect");
    let marker = client.publish("marker", "m", 1, false).unwrap();
    marker.wait_for_publish(Some(WAIT)).unwrap();
    let resent: Vec<Packet> = broker
        .packets(&id)
        .into_iter()
        .filter_map(|(d, p)| match p {
            Packet::Publish(p) if d == Direction::Received && p.topic == "t" && p.dup => {
                Some(Packet::Publish(p))
            }
            _ => None,
        })
        .collect();
    assert!(resent.is_empty(), "sent again: {resent:?}");
}
