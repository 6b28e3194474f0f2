//! What every transport must do: a publish from another thread goes out at once, a 1 MiB payload and a
//! burst of messages arrive intact, and `disconnect()` sends DISCONNECT before closing.

use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use mqtt::{Client, ProxyType, ReasonCode, Transport};
use pahoish as mqtt;

use crate::common::{self, client_id, recv, subscribe_and_wait, watchdog, TEST_LIMIT, WAIT};
use crate::support::{client_with, connected, path_str, proxy, publish_and_wait, tls_client, Peer};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::proxy::SocksProxy;
use crate::transport_support::ws_relay::{Framing, WsRelay};

/// While `loop_start` runs an idle connection, a message published from another thread goes out at
/// once (the loop is woken, not left until the keepalive): it reaches a subscriber within `WAIT`,
/// far less than the 60 s keepalive after which it would go out otherwise.
fn publish_from_another_thread_arrives(broker: &Broker, publisher: Peer, topic: &str) {
    let (sub, messages) = common::subscriber(broker.tcp, topic, 0);
    let client = publisher.live.client().clone();
    let topic_owned = topic.to_owned();
    let started = Instant::now();
    let publishing = thread::spawn(move || {
        let info = client.publish(topic_owned.as_str(), "from another thread", 0, false)?;
        info.wait_for_publish(Some(WAIT))
    });
    let msg = recv(&messages, "the message published from another thread");
    println!("arrived after {:?}", started.elapsed());
    assert_eq!(msg.payload, b"from another thread");
    assert!(publishing.join().unwrap().expect("wait_for_publish"));
    sub.stop().unwrap();
    publisher.stop();
}

/// ... over TLS.
#[test]
fn publish_from_another_thread_goes_out_promptly_over_tls() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let publisher = connected(tls_client("tls-thread"), |c| {
        c.connect("127.0.0.1", broker.tls, 60)
    });
    publish_from_another_thread_arrives(&broker, publisher, "transports/tls-thread");
}

/// ... over websockets.
#[test]
fn publish_from_another_thread_goes_out_promptly_over_websockets() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::as_read());
    let publisher = connected(client_with("ws-thread", Transport::Websockets), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    publish_from_another_thread_arrives(&broker, publisher, "transports/ws-thread");
}

/// ... over websockets over TLS.
#[test]
fn publish_from_another_thread_goes_out_promptly_over_wss() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::as_read(), certs());
    let client = client_with("wss-thread", Transport::Websockets);
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    let publisher = connected(client, |c| c.connect("localhost", relay.port(), 60));
    publish_from_another_thread_arrives(&broker, publisher, "transports/wss-thread");
}

/// A 1 MiB QoS 1 message to itself, through `connect`: reads and writes spanning many TLS records,
/// websocket frames and non-blocking partial writes arrive intact.
fn large_payload_round_trip(client: Client, connect: impl FnOnce(&Client) -> mqtt::Result<()>) {
    let peer = connected(client, connect);
    let topic = "transports/large";
    subscribe_and_wait(&peer, topic, 1);
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    publish_and_wait(&peer, topic, &payload, 1);
    let msg = recv(&peer.messages, "the 1 MiB message");
    assert_eq!(msg.payload.len(), payload.len());
    assert!(msg.payload == payload, "the 1 MiB payload was corrupted");
    peer.stop();
}

/// ... over TLS.
#[test]
fn large_payload_over_tls() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    large_payload_round_trip(tls_client("large-tls"), |c| {
        c.connect("127.0.0.1", broker.tls, 60)
    });
}

/// ... over websockets, the relay sending 1000-byte messages.
#[test]
fn large_payload_over_websockets() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::split(1000));
    large_payload_round_trip(client_with("large-ws", Transport::Websockets), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
}

/// ... over websockets over TLS.
#[test]
fn large_payload_over_wss() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::as_read(), certs());
    let client = client_with("large-wss", Transport::Websockets);
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    large_payload_round_trip(client, |c| c.connect("localhost", relay.port(), 60));
}

/// ... over a Unix socket.
#[test]
fn large_payload_over_a_unix_socket() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    large_payload_round_trip(client_with("large-unix", Transport::Unix), |c| {
        c.connect(broker.unix_path(), 1883, 60)
    });
}

/// A burst of QoS 0 messages from a plain TCP publisher reaches `client`'s subscription whole and in
/// order. The last ones arrive in the same reads as the ones before, so a client that left decoded
/// TLS or websocket data in a buffer and went back to waiting on the socket would sit on them until
/// the next keepalive (60 s) and fail here.
fn burst_arrives(
    broker: &Broker,
    client: Client,
    connect: impl FnOnce(&Client) -> mqtt::Result<()>,
) {
    const COUNT: usize = 300;
    let peer = connected(client, connect);
    let topic = "transports/burst";
    subscribe_and_wait(&peer, topic, 0);
    let publ = common::publisher(broker.tcp);
    let mut last = None;
    for i in 0..COUNT {
        let info = publ
            .publish(topic, format!("burst {i:03}"), 0, false)
            .unwrap();
        last = Some(info);
    }
    assert!(last.unwrap().wait_for_publish(Some(WAIT)).unwrap());
    for i in 0..COUNT {
        let msg = recv(&peer.messages, &format!("burst message {i} of {COUNT}"));
        assert_eq!(msg.payload, format!("burst {i:03}").as_bytes());
    }
    publ.stop().unwrap();
    peer.stop();
}

/// ... to a TLS subscriber.
#[test]
fn burst_of_messages_reaches_a_tls_subscriber() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    burst_arrives(&broker, tls_client("burst-tls"), |c| {
        c.connect("127.0.0.1", broker.tls, 60)
    });
}

/// ... to a websocket subscriber (the relay packing what it reads into one message, or cutting it into
/// 16-byte messages).
#[test]
fn burst_of_messages_reaches_a_websocket_subscriber() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    for framing in [Framing::as_read(), Framing::split(16)] {
        let relay = WsRelay::start(broker.tcp, framing);
        burst_arrives(
            &broker,
            client_with("burst-ws", Transport::Websockets),
            |c| c.connect("127.0.0.1", relay.port(), 60),
        );
    }
}

/// ... to a websocket-over-TLS subscriber.
#[test]
fn burst_of_messages_reaches_a_wss_subscriber() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::split(16), certs());
    let client = client_with("burst-wss", Transport::Websockets);
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    burst_arrives(&broker, client, |c| {
        c.connect("localhost", relay.port(), 60)
    });
}

/// `disconnect()` over each transport: DISCONNECT reaches mosquitto before the connection closes (no
/// TLS or websocket layer drops it unflushed, which would also publish a will), and `on_disconnect`
/// reports a normal disconnection, not an error.
#[test]
fn clean_disconnect_over_every_transport() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let ws = WsRelay::start(broker.tcp, Framing::split(1));
    let wss = WsRelay::start_tls(broker.tcp, Framing::as_read(), certs());
    let socks = SocksProxy::start(None);
    let with_ca = |client: Client| {
        client
            .tls_set(Some(path_str(&certs().ca)), None, None)
            .unwrap();
        client
    };
    type Connect<'a> = Box<dyn FnOnce(&Client) -> mqtt::Result<()> + 'a>;
    let cases: Vec<(&str, Transport, bool, Connect)> = vec![
        (
            "tls",
            Transport::Tcp,
            true,
            Box::new(|c| c.connect("localhost", broker.tls, 60)),
        ),
        (
            "unix",
            Transport::Unix,
            false,
            Box::new(|c| c.connect(broker.unix_path(), 1883, 60)),
        ),
        (
            "ws",
            Transport::Websockets,
            false,
            Box::new(|c| c.connect("127.0.0.1", ws.port(), 60)),
        ),
        (
            "wss",
            Transport::Websockets,
            true,
            Box::new(|c| c.connect("localhost", wss.port(), 60)),
        ),
        (
            "tls-socks5",
            Transport::Tcp,
            true,
            Box::new(|c| {
                c.proxy_set(proxy(ProxyType::Socks5, socks.port()))?;
                c.connect("localhost", broker.tls, 60)
            }),
        ),
    ];
    for (tag, transport, tls, connect) in cases {
        let id = client_id(&format!("bye-{tag}"));
        let client = Client::builder()
            .client_id(&id)
            .transport(transport)
            .build()
            .unwrap();
        let client = if tls { with_ca(client) } else { client };
        client
            .will_set("transports/will", "lost", 0, false)
            .unwrap();
        let (tx, disconnects) = mpsc::channel();
        client.on_disconnect(move |_c, _u, _f, rc, _p| {
            let _ = tx.send(rc);
        });
        let peer = connected(client, connect);
        peer.disconnect().expect("disconnect");
        let rc: ReasonCode = recv(&disconnects, &format!("on_disconnect ({tag})"));
        assert!(
            !rc.is_failure(),
            "{tag}: on_disconnect after disconnect(): {rc}"
        );
        peer.stop();
        assert!(
            broker.wait_for_log(&format!("Received DISCONNECT from {id}")),
            "{tag}: mosquitto never got the DISCONNECT"
        );
    }
}
