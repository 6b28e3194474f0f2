//! What the transport tests share: clients connected over a given transport ([`Peer`]), round trips,
//! the checks of a connection that must fail, a proxy's settings and a websocket upgrade's.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};

use mqtt::{Client, Error, Message, Proxy, ProxyType, ReasonCode, Transport};
use pahoish as mqtt;

use crate::common::{client_id, recv, subscribe_and_wait, Live, WAIT};
use crate::transport_support::certs::certs;
use crate::transport_support::ws_relay::WsConnection;

/// A path as the `&str` the Paho-shaped calls take.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A client with its loop running whose CONNACK accepted the connection; its messages arrive on
/// `messages`. Dropping it disconnects and stops the loop (bounded).
pub struct Peer {
    pub live: Live,
    pub messages: Receiver<Message>,
}

impl Peer {
    pub fn stop(self) {
        self.live.stop().expect("loop_stop");
    }
}

impl std::ops::Deref for Peer {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.live.client()
    }
}

/// Connects `client` with `connect` (which must succeed), starts its loop and waits for an accepting
/// CONNACK.
pub fn connected(client: Client, connect: impl FnOnce(&Client) -> mqtt::Result<()>) -> Peer {
    let (tx, messages) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let (tx, connacks) = mpsc::channel();
    client.on_connect(move |_c, _u, _flags, rc, _p| {
        let _ = tx.send(rc);
    });
    connect(&client).unwrap_or_else(|e| panic!("connect: {e} ({e:?})"));
    client.loop_start().expect("loop_start");
    let live = Live::adopt(client);
    let rc: ReasonCode = recv(&connacks, "CONNACK");
    assert!(!rc.is_failure(), "the broker refused the connection: {rc}");
    Peer { live, messages }
}

/// A client id'd after `tag` with the given transport.
pub fn client_with(tag: &str, transport: Transport) -> Client {
    Client::builder()
        .client_id(client_id(tag))
        .transport(transport)
        .build()
        .expect("build")
}

/// A TCP client trusting the test CA.
pub fn tls_client(tag: &str) -> Client {
    let client = Client::new(&client_id(tag));
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .expect("tls_set");
    client
}

/// Publishes and waits until it is published (written for QoS 0, PUBACK for 1, PUBCOMP for 2).
pub fn publish_and_wait(client: &Client, topic: &str, payload: &[u8], qos: i32) {
    let info = client
        .publish(topic, payload, qos, false)
        .unwrap_or_else(|e| panic!("publish to {topic:?}: {e}"));
    assert!(
        info.wait_for_publish(Some(WAIT)).expect("wait_for_publish"),
        "QoS {qos} message not published within {WAIT:?}"
    );
}

/// Subscribes `subscriber` to `topic` (QoS 2), then publishes one message per QoS in `qoses` from
/// `publisher` (which may be the subscriber itself) and checks each arrives intact with its QoS.
pub fn round_trips(publisher: &Client, subscriber: &Peer, topic: &str, qoses: &[i32]) {
    subscribe_and_wait(subscriber, topic, 2);
    for &qos in qoses {
        // Every byte value, and enough of them that a packet spans many small websocket frames.
        let payload: Vec<u8> = (0..=255u8).chain(format!("QoS {qos}").bytes()).collect();
        publish_and_wait(publisher, topic, &payload, qos);
        let msg = recv(&subscriber.messages, &format!("the QoS {qos} message"));
        assert_eq!(msg.topic, topic);
        assert!(msg.payload == payload, "QoS {qos} payload corrupted");
        assert_eq!(i32::from(msg.qos), qos, "delivered QoS");
    }
}

/// What the callbacks of a connection that must fail reported.
#[derive(Debug)]
enum Event {
    Connack(ReasonCode),
    Disconnect(ReasonCode),
    ConnectFail,
}

/// Connects `client` (built with `reconnect_on_failure(false)`) with `connect`, expecting no MQTT
/// session: either `connect` fails, or the connection ends before an accepting CONNACK. Returns how it
/// failed, for the test to print or check.
pub fn expect_no_session(
    client: Client,
    connect: impl FnOnce(&Client) -> mqtt::Result<()>,
) -> String {
    let (tx, events) = mpsc::channel();
    let tx2 = tx.clone();
    let tx3 = tx.clone();
    client.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(Event::Connack(rc));
    });
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx2.send(Event::Disconnect(rc));
    });
    client.on_connect_fail(move |_c, _u| {
        let _ = tx3.send(Event::ConnectFail);
    });
    if let Err(e) = connect(&client) {
        return format!("connect failed: {e}");
    }
    client.loop_start().expect("loop_start");
    let live = Live::adopt(client);
    let how = match recv(&events, "the end of a connection the broker must refuse") {
        Event::Connack(rc) if !rc.is_failure() => {
            panic!("the connection was accepted (CONNACK {rc}) but must not be")
        }
        Event::Connack(rc) => format!("CONNACK refused: {rc}"),
        Event::Disconnect(rc) => format!("disconnected: {rc}"),
        Event::ConnectFail => "on_connect_fail".to_owned(),
    };
    assert!(!live.is_connected());
    let _ = live.stop();
    how
}

/// Checks a TLS verification failure as the issue specifies it: `Error::Tls` whose message starts with
/// "certificate verify failed" and contains one of `why`, with `rc()` MQTT_ERR_TLS.
pub fn assert_verify_failed(result: mqtt::Result<()>, why: &[&str]) {
    match result {
        Err(e @ Error::Tls { .. }) => {
            let Error::Tls { reason: msg, .. } = &e else {
                unreachable!()
            };
            assert!(
                std::error::Error::source(&e).is_some(),
                "Error::Tls keeps the TLS library's error as its source: {e:?}"
            );
            assert!(
                msg.starts_with("certificate verify failed"),
                "Error::Tls message {msg:?} does not start with \"certificate verify failed\""
            );
            assert!(
                why.is_empty() || why.iter().any(|w| msg.contains(w)),
                "{msg:?} does not say any of {why:?}"
            );
            assert_eq!(e.rc(), mqtt::MQTT_ERR_TLS);
        }
        Err(other) => panic!("expected Error::Tls(certificate verify failed ...), got {other:?}"),
        Ok(()) => panic!("expected Error::Tls(certificate verify failed ...), but it connected"),
    }
}

/// `Proxy::new(kind, "127.0.0.1")` on `port`, the other settings at their defaults.
pub fn proxy(kind: ProxyType, port: u16) -> Proxy {
    Proxy {
        proxy_port: Some(port),
        ..Proxy::new(kind, "127.0.0.1")
    }
}

/// The upgrade request every websocket test expects: the `mqtt` subprotocol, binary messages only.
pub fn assert_mqtt_upgrade(conn: &WsConnection, path: &str) {
    assert_eq!(conn.path, path, "request path");
    let protocols = conn.protocols.as_deref().unwrap_or_default();
    assert!(
        protocols.split(',').any(|p| p.trim() == "mqtt"),
        "Sec-WebSocket-Protocol {protocols:?} lacks mqtt"
    );
    assert_eq!(conn.text_from_client, 0, "MQTT goes in binary messages");
    assert!(conn.from_client > 0);
}
