//! Websockets (`ws://` and `wss://`, through a relay in the test since Debian's mosquitto has no
//! websockets listener): packets split across frames and packed into one, paths and headers, refused
//! upgrades, and Ping while idle.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use mqtt::{Error, Transport};
use pahoish as mqtt;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use crate::common::{self, bounded, recv, subscribe_and_wait, watchdog, TEST_LIMIT};
use crate::support::{
    assert_mqtt_upgrade, client_with, connected, path_str, publish_and_wait, round_trips, Peer,
};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::misbehaving::{Breakage, Misbehaving};
use crate::transport_support::ws_relay::{Framing, WsRelay};

/// MQTT over websockets (`ws://`, default path `/mqtt`) with the relay cutting every packet into
/// messages of at most 3 bytes: the client reassembles packets across frames, and QoS 0, 1 and 2 round
/// trips work between two websocket clients.
#[test]
fn websockets_round_trips_with_packets_split_across_frames() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::split(3));
    let sub = connected(client_with("ws-sub", Transport::Websockets), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    let publ = connected(client_with("ws-pub", Transport::Websockets), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    round_trips(&publ, &sub, "transports/ws", &[0, 1, 2]);
    publ.stop();
    sub.stop();
    let conns = relay.connections();
    assert_eq!(conns.len(), 2);
    for conn in &conns {
        assert_mqtt_upgrade(conn, "/mqtt");
        assert!(conn.messages_ending_mid_packet > 0, "{conn:?}");
    }
}

/// Several MQTT packets in one websocket message: the relay holds three PUBLISH packets for the
/// subscriber and sends them in one message (and, to a second subscriber, the same three cut into 7-byte
/// messages, so that a message ends inside one packet and holds the start of the next); both get all three
/// messages, in order.
#[test]
fn websockets_several_packets_in_one_frame() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    // What the broker sends each subscriber: CONNACK, SUBACK, then the three PUBLISH packets.
    let packed = WsRelay::start(broker.tcp, Framing::packed(&[1, 1, 3]));
    let straddled = WsRelay::start(broker.tcp, Framing::packed_split(&[1, 1, 3], 7));
    let topic = "transports/ws-packed";
    let subs: Vec<Peer> = [&packed, &straddled]
        .iter()
        .map(|relay| {
            let sub = connected(client_with("ws-packed", Transport::Websockets), |c| {
                c.connect("127.0.0.1", relay.port(), 60)
            });
            subscribe_and_wait(&sub, topic, 1);
            sub
        })
        .collect();
    let publ = common::publisher(broker.tcp);
    for i in 0..3 {
        publish_and_wait(&publ, topic, format!("message {i}").as_bytes(), 1);
    }
    for sub in &subs {
        for i in 0..3 {
            let msg = recv(&sub.messages, &format!("message {i}"));
            assert_eq!(msg.payload, format!("message {i}").as_bytes());
        }
    }
    publ.stop().unwrap();
    for sub in subs {
        sub.stop();
    }
    let packed = &packed.connections()[0];
    assert!(packed.max_packets_in_message >= 3, "{packed:?}");
    let straddled = &straddled.connections()[0];
    assert!(straddled.messages_ending_mid_packet > 0, "{straddled:?}");
}

/// `ws_set_options` sets the request path and adds headers to the upgrade request; the relay sees both.
#[test]
fn ws_set_options_path_and_headers_reach_the_server() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::as_read());
    let client = client_with("ws-options", Transport::Websockets);
    client
        .ws_set_options(
            "/custom/mqtt?tenant=7",
            &[("X-Pahoish-Test", "yes"), ("Authorization", "Bearer t0k3n")],
        )
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", relay.port(), 60));
    round_trips(&peer, &peer, "transports/ws-options", &[1]);
    peer.stop();
    let conn = &relay.connections()[0];
    assert_mqtt_upgrade(conn, "/custom/mqtt?tenant=7");
    assert_eq!(conn.header("x-pahoish-test"), Some("yes"));
    let host = conn.header("host").unwrap_or_default();
    assert!(host.starts_with("127.0.0.1"), "Host: {host}");
    assert_eq!(conn.header("authorization"), Some("Bearer t0k3n"));
}

/// MQTT over websockets over TLS (`wss://`): QoS 0, 1 and 2 round trips through a TLS relay that also
/// splits packets across frames.
#[test]
fn wss_round_trips_at_qos_0_1_2() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::split(5), certs());
    let wss_client = |tag: &str| {
        let client = client_with(tag, Transport::Websockets);
        client
            .tls_set(Some(path_str(&certs().ca)), None, None)
            .unwrap();
        client
    };
    let sub = connected(wss_client("wss-sub"), |c| {
        c.connect("localhost", relay.port(), 60)
    });
    let publ = connected(wss_client("wss-pub"), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    round_trips(&publ, &sub, "transports/wss", &[0, 1, 2]);
    publ.stop();
    sub.stop();
    for conn in relay.connections() {
        assert_mqtt_upgrade(&conn, "/mqtt");
    }
}

/// A web server that answers the upgrade with `404 Not Found` makes `connect` fail with
/// `Error::Websocket`.
#[test]
fn websocket_upgrade_refused_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let server = Misbehaving::start(Breakage::HttpNotFound);
    let client = client_with("ws-404", Transport::Websockets);
    let port = server.port();
    let e = bounded("connect to a server refusing the upgrade", move || {
        client.connect("127.0.0.1", port, 60)
    })
    .expect_err("a refused upgrade must fail connect");
    assert!(
        matches!(e, Error::Websocket { .. }),
        "expected Error::Websocket, got {e:?}"
    );
    assert!(e.to_string().contains("404"), "{e}");
    let head = String::from_utf8(server.first_bytes()[0].clone()).unwrap();
    assert!(head.starts_with("GET /mqtt HTTP/1.1"), "{head}");
}

/// A server's websocket Ping is answered with a Pong while the client is idle (nothing else to write
/// after its CONNECT), not only with the next message the client happens to send.
#[test]
fn websocket_ping_is_answered_while_idle() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let (relay, pongs) = WsRelay::start_pinging(broker.tcp);
    let peer = connected(client_with("ws-ping", Transport::Websockets), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    recv(
        &pongs,
        "the Pong answering the relay's Ping, from an idle client",
    );
    round_trips(&peer, &peer, "transports/ws-ping", &[1]);
    peer.stop();
    assert_eq!(relay.connections()[0].pongs, 1);
}

/// A server that completes the upgrade without a `Sec-WebSocket-Protocol` header (RFC 6455 lets it
/// leave the subprotocol out; Paho accepts it): the connection is made and MQTT flows.
#[test]
fn websocket_upgrade_without_a_subprotocol_is_accepted() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_without_subprotocol(broker.tcp);
    let peer = connected(
        client_with("ws-no-subprotocol", Transport::Websockets),
        |c| c.connect("127.0.0.1", relay.port(), 60),
    );
    round_trips(&peer, &peer, "transports/ws-no-subprotocol", &[1]);
    peer.stop();
    assert_mqtt_upgrade(&relay.connections()[0], "/mqtt");
}

/// A websocket "broker" of the test's own on loopback: it hands the raw upgrade request to the test,
/// answers the upgrade without naming a subprotocol, and accepts the client's CONNECT.
fn upgrade_capturing_server() -> (u16, mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, requests) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(common::WAIT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(sock.read(&mut byte).unwrap(), 1, "the request ended early");
            head.push(byte[0]);
        }
        let request = String::from_utf8(head).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a Sec-WebSocket-Key")
            .to_owned();
        tx.send(request).unwrap();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        write!(
            sock,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .unwrap();
        let mut ws = WebSocket::from_raw_socket(sock, Role::Server, None);
        // The CONNECT, then CONNACK (accepted); then wait for the client to go.
        while !matches!(ws.read(), Ok(Message::Binary(_))) {}
        ws.send(Message::binary(&[0x20, 0x02, 0x00, 0x00][..]))
            .unwrap();
        while ws.read().is_ok() {}
    });
    (port, requests, server)
}

/// The upgrade request as Paho writes it: `Host` with the port (it is not 80), an `Origin` of
/// `http://host:port`, and the headers of `ws_set_options` with their names spelled as given, one of
/// them replacing our `Origin`. The server answers without a subprotocol and the connection is made.
#[test]
fn the_upgrade_request_is_written_as_paho_writes_it() {
    let _wd = watchdog(TEST_LIMIT);
    for origin in [None, Some(("origin", "https://app.example"))] {
        let (port, requests, server) = upgrade_capturing_server();
        let client = client_with("ws-request", Transport::Websockets);
        let mut headers = vec![("x-Custom-HEADER", "One"), ("AUTHORIZATION", "Bearer t")];
        headers.extend(origin);
        client.ws_set_options("/ws?t=1", &headers).unwrap();
        let peer = connected(client, |c| c.connect("127.0.0.1", port, 60));
        let request = recv(&requests, "the upgrade request");
        peer.stop();
        bounded("the server's end", move || server.join().unwrap());
        let lines: Vec<&str> = request.split("\r\n").collect();
        let origin = origin.map_or(format!("Origin: http://127.0.0.1:{port}"), |(n, v)| {
            format!("{n}: {v}")
        });
        assert_eq!(
            lines[..5],
            [
                "GET /ws?t=1 HTTP/1.1",
                &format!("Host: 127.0.0.1:{port}"),
                "Upgrade: websocket",
                "Connection: Upgrade",
                &origin,
            ],
            "{request}"
        );
        assert!(lines.contains(&"x-Custom-HEADER: One"), "{request}");
        assert!(lines.contains(&"AUTHORIZATION: Bearer t"), "{request}");
        assert!(lines.contains(&"Sec-WebSocket-Protocol: mqtt"), "{request}");
        let origins = lines
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("origin:"))
            .count();
        assert_eq!(origins, 1, "{request}");
    }
}

/// [MQTT-6.0.0-1], receiving: a server that sends a text message (MQTT over websockets is binary
/// only) ends the connection with an error and `on_disconnect` reports it, at MQTT 3.1.1 and 5.
#[test]
fn a_text_message_from_the_server_closes_the_connection_with_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    for (protocol, tag) in [(mqtt::MQTTv311, "ws-text"), (mqtt::MQTTv5, "ws-text-5")] {
        let relay = WsRelay::start_texting(broker.tcp);
        let client = mqtt::Client::builder()
            .client_id(common::client_id(tag))
            .transport(Transport::Websockets)
            .protocol(protocol)
            .build()
            .expect("build");
        client.reconnect_delay_set(0.05, 0.2).unwrap();
        let (tx, disconnects) = std::sync::mpsc::channel();
        client.on_disconnect(move |_c, _u, _flags, rc, _p| {
            let _ = tx.send(rc);
        });
        let peer = connected(client, |c| c.connect("127.0.0.1", relay.port(), 60));
        let rc: mqtt::ReasonCode = recv(&disconnects, "on_disconnect after the text message");
        assert!(
            rc.is_failure(),
            "{tag}: on_disconnect reports an error: {rc}"
        );
        peer.stop();
    }
}
