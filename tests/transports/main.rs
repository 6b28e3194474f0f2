//! The transports of issue #3 against a real mosquitto: TLS (server verification, client certificates in
//! every key form, the failures a user meets), Unix sockets, websockets (`ws://` and `wss://`, through a
//! relay in the test since Debian's mosquitto has no websockets listener), `connect_url`, SOCKS and HTTP
//! proxies (`proxy_set` and the `MQTT_PROXY` environment variable).
//!
//! Everything runs on loopback: mosquitto on free ports, certificates made at run time with the openssl
//! command line, and the relay, proxies and misbehaving servers of `transport_support` on 127.0.0.1:0,
//! each recording what the client asked of it so that a test can tell the client really went through
//! it. Skipped with a message when mosquitto is not installed, unless `PAHOISH_REQUIRE_MOSQUITTO=1`.
//!
//! Every wait is bounded by `common::WAIT`; a watchdog fails a test that hangs anyway.

#[path = "../common/mod.rs"]
mod common;
#[path = "../transport_support/mod.rs"]
mod transport_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Instant;

use common::{bounded, client_id, recv, subscribe_and_wait, watchdog, Live, TEST_LIMIT, WAIT};
use mqtt::packet::Packet;
use mqtt::testing::{Direction, TestBroker};
use mqtt::{CertReqs, Client, Error, Message, Proxy, ProxyType, ReasonCode, TlsOptions, Transport};
use pahoish as mqtt;
use transport_support::broker::Broker;
use transport_support::certs::{certs, KEY_PASSWORD};
use transport_support::misbehaving::{Breakage, Misbehaving};
use transport_support::proxy::{base64, HttpProxy, SocksProxy, SocksRequest, Target};
use transport_support::ws_relay::{Framing, WsConnection, WsRelay};

// ---- the infrastructure itself, checked with hand-made packets (no pahoish client involved) ----

/// A CONNECT packet: MQTT 3.1.1, clean session, keepalive 60, client id `id`.
fn raw_connect(id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    packet
}

const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// Sends CONNECT over `stream` and checks the broker accepts it.
fn raw_mqtt_session(stream: &mut (impl Read + Write), id: &str) {
    stream.write_all(&raw_connect(id)).expect("writing CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("reading CONNACK");
    assert_eq!(connack, CONNACK_ACCEPTED);
}

/// A native-tls connector (not ours) that trusts the test CA, for the infrastructure checks.
fn test_ca_connector() -> native_tls::TlsConnector {
    let ca = std::fs::read(&certs().ca).unwrap();
    native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap()
}

/// Infrastructure check: the generated certificates, mosquitto's TLS listener and its Unix socket work
/// with a client that is not ours (native-tls directly), so a failing client test points at the client.
#[test]
fn infrastructure_tls_and_unix_listeners_work() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let connector = test_ca_connector();
    let tcp = TcpStream::connect(("127.0.0.1", broker.tls)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut tls = connector
        .connect("localhost", tcp)
        .expect("TLS to mosquitto");
    raw_mqtt_session(&mut tls, "infra-tls");

    let mut unix = std::os::unix::net::UnixStream::connect(&broker.unix).unwrap();
    unix.set_read_timeout(Some(WAIT)).unwrap();
    raw_mqtt_session(&mut unix, "infra-unix");

    // The expired certificate does not verify.
    let tcp = TcpStream::connect(("127.0.0.1", broker.expired)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let err = connector.connect("localhost", tcp).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

/// A websocket client (tungstenite's, not ours) over `stream` to the relay on `port`: the upgrade
/// answers the `mqtt` subprotocol and a CONNECT is accepted.
fn raw_ws_session<S: Read + Write>(stream: S, port: u16) {
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://127.0.0.1:{port}/some/path"))
        .header("Host", "127.0.0.1")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("Sec-WebSocket-Protocol", "mqtt")
        .body(())
        .unwrap();
    let (mut ws, response) = tungstenite::client(request, stream).expect("ws upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], "mqtt");
    ws.send(tungstenite::Message::binary(raw_connect("infra-ws")))
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        match ws.read().expect("reading from the relay") {
            tungstenite::Message::Binary(b) => got.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, CONNACK_ACCEPTED);
}

/// Infrastructure check: the websocket relay (plain and TLS) carries a session, under every framing,
/// and records the request.
#[test]
fn infrastructure_ws_relay_works() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let connector = test_ca_connector();
    for framing in [Framing::as_read(), Framing::split(1), Framing::packed(&[1])] {
        for tls in [false, true] {
            let relay = if tls {
                WsRelay::start_tls(broker.tcp, framing.clone(), certs())
            } else {
                WsRelay::start(broker.tcp, framing.clone())
            };
            let tcp = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
            tcp.set_read_timeout(Some(WAIT)).unwrap();
            if tls {
                let stream = connector
                    .connect("localhost", tcp)
                    .expect("TLS to the relay");
                raw_ws_session(stream, relay.port());
            } else {
                raw_ws_session(tcp, relay.port());
            }
            let conns = relay.connections();
            assert_eq!(conns.len(), 1);
            assert_eq!(conns[0].path, "/some/path");
            assert_eq!(conns[0].protocols.as_deref(), Some("mqtt"));
            assert_eq!(conns[0].from_client, 1);
        }
    }
}

/// Infrastructure check: the SOCKS5 and HTTP proxies relay to mosquitto and record the requests.
#[test]
fn infrastructure_proxies_work() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(Some(("u", "p")));
    let mut s = TcpStream::connect(("127.0.0.1", socks.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&[5, 1, 2]).unwrap();
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [5, 2]);
    s.write_all(&[1, 1, b'u', 1, b'p']).unwrap();
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [1, 0]);
    let mut req = vec![5, 1, 0, 3, 9];
    req.extend_from_slice(b"localhost");
    req.extend_from_slice(&broker.tcp.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(reply[..2], [5, 0]);
    raw_mqtt_session(&mut s, "infra-socks");
    let log = socks.requests();
    assert_eq!(
        log[0].target,
        Some((Target::Domain("localhost".into()), broker.tcp))
    );
    assert_eq!(log[0].credentials, Some(("u".into(), "p".into())));

    let http = HttpProxy::start(None);
    let mut s = TcpStream::connect(("127.0.0.1", http.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let target = format!("127.0.0.1:{}", broker.tcp);
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let head = transport_support::proxy::read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    raw_mqtt_session(&mut s, "infra-http");
    assert_eq!(http.requests()[0].target, target);
}

// ---- helpers ----

/// A path as the `&str` the Paho-shaped calls take.
fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A client with its loop running whose CONNACK accepted the connection; its messages arrive on
/// `messages`. Dropping it disconnects and stops the loop (bounded).
struct Peer {
    live: Live,
    messages: Receiver<Message>,
}

impl Peer {
    fn stop(self) {
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
fn connected(client: Client, connect: impl FnOnce(&Client) -> mqtt::Result<()>) -> Peer {
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
fn client_with(tag: &str, transport: Transport) -> Client {
    Client::builder()
        .client_id(client_id(tag))
        .transport(transport)
        .build()
        .expect("build")
}

/// A TCP client trusting the test CA.
fn tls_client(tag: &str) -> Client {
    let client = Client::new(&client_id(tag));
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .expect("tls_set");
    client
}

/// Publishes and waits until it is published (written for QoS 0, PUBACK for 1, PUBCOMP for 2).
fn publish_and_wait(client: &Client, topic: &str, payload: &[u8], qos: i32) {
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
fn round_trips(publisher: &Client, subscriber: &Peer, topic: &str, qoses: &[i32]) {
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
fn expect_no_session(client: Client, connect: impl FnOnce(&Client) -> mqtt::Result<()>) -> String {
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
fn assert_verify_failed(result: mqtt::Result<()>, why: &[&str]) {
    match result {
        Err(e @ Error::Tls(_)) => {
            let Error::Tls(msg) = &e else { unreachable!() };
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

// ---- TLS ----

/// What OpenSSL says of a broker certificate from an untrusted CA: mosquitto sends the chain up to its
/// CA (OpenSSL completes it from `cafile`), so the client meets a self-signed root it does not trust;
/// a broker sending only its own certificate gives the other reason.
const WRONG_CA: &[&str] = &[
    "self-signed certificate in certificate chain",
    "unable to get local issuer certificate",
];

/// TLS to mosquitto's TLS listener, trusting the test CA: QoS 0, 1 and 2 messages make the round trip
/// between two TLS clients, so both directions of the encrypted stream work in the loop.
#[test]
fn tls_round_trips_at_qos_0_1_2() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let sub = connected(tls_client("tls-sub"), |c| {
        c.connect("127.0.0.1", broker.tls, 60)
    });
    let publ = connected(tls_client("tls-pub"), |c| {
        c.connect("localhost", broker.tls, 60)
    });
    round_trips(&publ, &sub, "transports/tls", &[0, 1, 2]);
    publ.stop();
    sub.stop();
}

/// `tls_set_context` takes a connector the application built (here trusting the test CA): the client
/// uses it as is.
#[test]
fn tls_set_context_uses_the_applications_connector() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let ca = std::fs::read(&certs().ca).unwrap();
    let connector = mqtt::native_tls::TlsConnector::builder()
        .add_root_certificate(mqtt::native_tls::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let client = Client::new(&client_id("tls-context"));
    client.tls_set_context(connector).expect("tls_set_context");
    let peer = connected(client, |c| c.connect("localhost", broker.tls, 60));
    round_trips(&peer, &peer, "transports/tls-context", &[1]);
    peer.stop();
}

/// Client-certificate authentication against the listener with `require_certificate true`, with the
/// key in the form given; a QoS 1 round trip proves the session works.
fn client_certificate_round_trip(tag: &str, cert: &Path, key: &Path, password: Option<&str>) {
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id(tag));
    client
        .tls_set_with(TlsOptions {
            ca_certs: Some(certs().ca.clone()),
            certfile: Some(cert.to_owned()),
            keyfile: Some(key.to_owned()),
            keyfile_password: password.map(str::to_owned),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("tls_set_with {}: {e}", key.display()));
    let peer = connected(client, |c| c.connect("127.0.0.1", broker.mutual, 60));
    round_trips(&peer, &peer, &format!("transports/{tag}"), &[1]);
    peer.stop();
}

/// A client certificate with its key as PKCS#8 (`BEGIN PRIVATE KEY`) is accepted by a broker that
/// requires one.
#[test]
fn client_certificate_with_pkcs8_key() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    client_certificate_round_trip("cc-pkcs8", &c.client_cert, &c.client_key_pkcs8, None);
}

/// ... with the key in the traditional RSA form (`BEGIN RSA PRIVATE KEY`).
#[test]
fn client_certificate_with_traditional_rsa_key() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    client_certificate_round_trip("cc-rsa", &c.client_cert, &c.client_key_rsa, None);
}

/// ... with an EC key in the traditional form (`BEGIN EC PRIVATE KEY`).
#[test]
fn client_certificate_with_ec_key() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    client_certificate_round_trip("cc-ec", &c.client_ec_cert, &c.client_key_ec, None);
}

/// ... with an encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`) and its `keyfile_password`.
#[test]
fn client_certificate_with_encrypted_pkcs8_key_and_password() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    let key = &c.client_key_encrypted;
    client_certificate_round_trip("cc-enc", &c.client_cert, key, Some(KEY_PASSWORD));
}

/// ... with an encrypted traditional RSA key (`Proc-Type: 4,ENCRYPTED`) and its `keyfile_password`.
#[test]
fn client_certificate_with_encrypted_rsa_key_and_password() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    let key = &c.client_key_rsa_encrypted;
    client_certificate_round_trip("cc-rsa-enc", &c.client_cert, key, Some(KEY_PASSWORD));
}

/// `ca_certs` may be a bundle: the CA that signed the broker's certificate is the second of two.
#[test]
fn a_ca_bundle_is_read_whole() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("ca-bundle"));
    client
        .tls_set(Some(path_str(&certs().ca_bundle)), None, None)
        .unwrap();
    let peer = connected(client, |c| c.connect("localhost", broker.tls, 60));
    round_trips(&peer, &peer, "transports/ca-bundle", &[1]);
    peer.stop();
}

/// A `certfile` holding the certificate and its key, with no `keyfile` (as Paho's `load_cert_chain`
/// reads it), authenticates the client.
#[test]
fn client_certificate_and_key_in_one_certfile() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let c = certs();
    let client = Client::new(&client_id("cc-combined"));
    client
        .tls_set(
            Some(path_str(&c.ca)),
            Some(path_str(&c.client_cert_and_key)),
            None,
        )
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", broker.mutual, 60));
    round_trips(&peer, &peer, "transports/cc-combined", &[1]);
    peer.stop();
}

/// An encrypted key with a wrong password, or none, fails `tls_set_with` itself (as Paho's `tls_set`
/// raises when it loads the key), naming the key file; both encrypted forms.
#[test]
fn encrypted_key_without_the_right_password_fails_tls_set() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    for key in [&c.client_key_encrypted, &c.client_key_rsa_encrypted] {
        for password in [Some("wrong password"), None] {
            let client = Client::new("");
            let result = client.tls_set_with(TlsOptions {
                ca_certs: Some(c.ca.clone()),
                certfile: Some(c.client_cert.clone()),
                keyfile: Some(key.clone()),
                keyfile_password: password.map(str::to_owned),
                ..Default::default()
            });
            let e = result.expect_err("an encrypted key without its password");
            println!("{} with {password:?}: {e}", key.display());
            assert!(
                e.to_string().contains(path_str(key)),
                "{e} does not name the key file"
            );
        }
    }
}

/// A key that does not belong to the certificate fails `tls_set` (Paho's `load_cert_chain` raises "key
/// values mismatch" there), rather than the connection later: another key of the same type (EC
/// certificate, another EC key) and a key of another type (EC certificate, RSA key).
#[test]
fn a_key_not_matching_the_certificate_fails_tls_set() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    let cases = [
        ("the EC certificate with another EC key", &c.server_key),
        ("the EC certificate with an RSA key", &c.client_key_pkcs8),
    ];
    let mut accepted = Vec::new();
    for (what, key) in cases {
        let client = Client::builder()
            .client_id(client_id("mismatched-key"))
            .reconnect_on_failure(false)
            .build()
            .unwrap();
        match client.tls_set(
            Some(path_str(&c.ca)),
            Some(path_str(&c.client_ec_cert)),
            Some(path_str(key)),
        ) {
            Err(e) => println!("{what}: {e}"),
            Ok(()) => {
                // Say what happens instead, for the failure message.
                let later = match Broker::start_or_skip() {
                    Some(broker) => {
                        expect_no_session(client, |c| c.connect("127.0.0.1", broker.mutual, 60))
                    }
                    None => "(no mosquitto to try the connection)".to_owned(),
                };
                accepted.push(format!("{what}: tls_set accepted it; connecting: {later}"));
            }
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

/// The listener that requires a client certificate refuses a client that has none: no session.
#[test]
fn mutual_tls_without_a_client_certificate_is_refused() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::builder()
        .client_id(client_id("no-client-cert"))
        .reconnect_on_failure(false)
        .build()
        .unwrap();
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    let how = expect_no_session(client, |c| c.connect("127.0.0.1", broker.mutual, 60));
    println!("refused as expected: {how}");
}

/// ... and one whose certificate comes from a CA the broker does not trust.
#[test]
fn mutual_tls_with_a_certificate_from_another_ca_is_refused() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let c = certs();
    let client = Client::builder()
        .client_id(client_id("rogue-client-cert"))
        .reconnect_on_failure(false)
        .build()
        .unwrap();
    client
        .tls_set(
            Some(path_str(&c.ca)),
            Some(path_str(&c.rogue_client_cert)),
            Some(path_str(&c.client_key_pkcs8)),
        )
        .unwrap();
    let how = expect_no_session(client, |c| c.connect("127.0.0.1", broker.mutual, 60));
    println!("refused as expected: {how}");
}

/// A broker certificate from a CA the client does not trust fails `connect` with
/// `Error::Tls("certificate verify failed: ...")`, rc MQTT_ERR_TLS.
#[test]
fn wrong_ca_is_rejected_with_certificate_verify_failed() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("wrong-ca"));
    client
        .tls_set(Some(path_str(&certs().other_ca)), None, None)
        .unwrap();
    assert_verify_failed(client.connect("127.0.0.1", broker.tls, 60), WRONG_CA);
    assert!(!client.is_connected());
}

/// A certificate for another host name is rejected (by name and by IP address); with
/// `tls_insecure_set(true)` the same certificate is accepted (its chain still verifies) and the session
/// works.
#[test]
fn wrong_host_name_is_rejected_and_accepted_after_tls_insecure_set() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = tls_client("wrong-host");
    assert_verify_failed(
        client.connect("localhost", broker.wrong_host, 60),
        &["hostname mismatch"],
    );
    assert_verify_failed(client.connect("127.0.0.1", broker.wrong_host, 60), &[]);

    let client = tls_client("insecure");
    client.tls_insecure_set(true).expect("tls_insecure_set");
    let peer = connected(client, |c| c.connect("localhost", broker.wrong_host, 60));
    round_trips(&peer, &peer, "transports/insecure", &[1]);
    peer.stop();
}

/// An expired broker certificate is rejected with `certificate verify failed: certificate has expired`.
#[test]
fn expired_certificate_is_rejected() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = tls_client("expired");
    assert_verify_failed(
        client.connect("127.0.0.1", broker.expired, 60),
        &["certificate has expired"],
    );
    // tls_insecure_set skips only the host name check, not the dates.
    let client = tls_client("expired-insecure");
    client.tls_insecure_set(true).unwrap();
    assert_verify_failed(
        client.connect("127.0.0.1", broker.expired, 60),
        &["certificate has expired"],
    );
}

/// `cert_reqs: CertReqs::None` (Paho's `ssl.CERT_NONE`) checks nothing about the broker's certificate:
/// an untrusted and an expired one are both accepted.
#[test]
fn cert_reqs_none_accepts_any_certificate() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    for (tag, port) in [
        ("none-untrusted", broker.tls),
        ("none-expired", broker.expired),
    ] {
        let client = Client::new(&client_id(tag));
        client
            .tls_set_with(TlsOptions {
                ca_certs: Some(certs().other_ca.clone()),
                cert_reqs: CertReqs::None,
                ..Default::default()
            })
            .unwrap();
        let peer = connected(client, |c| c.connect("127.0.0.1", port, 60));
        round_trips(&peer, &peer, &format!("transports/{tag}"), &[1]);
        peer.stop();
    }
}

/// A TLS verification failure inside `loop_start` (after `connect_async`) fires `on_connect_fail`, and
/// the loop stops cleanly.
#[test]
fn tls_verify_failure_fires_on_connect_fail_in_loop_start() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("fail-loop-start"));
    client
        .tls_set(Some(path_str(&certs().other_ca)), None, None)
        .unwrap();
    let (tx, fails) = mpsc::channel();
    client.on_connect_fail(move |_c, _u| {
        let _ = tx.send(());
    });
    let (tx, connacks) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    client.connect_async("127.0.0.1", broker.tls, 60).unwrap();
    client.loop_start().unwrap();
    let live = Live::adopt(client);
    recv(&fails, "on_connect_fail");
    assert!(!live.is_connected());
    live.stop().expect("loop_stop after failed handshakes");
    assert!(
        connacks.try_recv().is_err(),
        "on_connect ran for a failed handshake"
    );
}

/// In `loop_forever` (which does not retry a failed first connection), a TLS verification failure fires
/// `on_connect_fail` and `loop_forever` returns the `Error::Tls`.
#[test]
fn tls_verify_failure_in_loop_forever_fires_on_connect_fail_and_returns_it() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("fail-loop-forever"));
    client
        .tls_set(Some(path_str(&certs().other_ca)), None, None)
        .unwrap();
    let (tx, fails) = mpsc::channel();
    client.on_connect_fail(move |_c, _u| {
        let _ = tx.send(());
    });
    client.connect_async("127.0.0.1", broker.tls, 60).unwrap();
    let looping = client.clone();
    let result = bounded("loop_forever after a failed TLS handshake", move || {
        looping.loop_forever()
    });
    assert_verify_failed(result, WRONG_CA);
    recv(&fails, "on_connect_fail");
}

/// A "broker" that accepts the TCP connection and then breaks the TLS handshake (closing after the
/// ClientHello, or after a truncated ServerHello) makes `connect` fail with an error as soon as the
/// connection closes: no hang until `connect_timeout` (set far beyond the wait here), no panic.
#[test]
fn tls_handshake_cut_short_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    for breakage in [
        Breakage::CloseAfterClientHello,
        Breakage::TruncatedServerHello,
    ] {
        let server = Misbehaving::start(breakage);
        let client = tls_client("cut-handshake");
        client.connect_timeout_set(TEST_LIMIT).unwrap();
        let port = server.port();
        // Bounded by WAIT, far less than the connect_timeout: the close must end the handshake.
        let what = "connect to a server that closes mid-handshake";
        let result = bounded(what, move || client.connect("127.0.0.1", port, 60));
        let e = result.expect_err("a broken handshake must fail connect");
        println!("{breakage:?}: {e} ({e:?})");
        if let Error::Io(io) = &e {
            assert_ne!(io.kind(), std::io::ErrorKind::TimedOut, "{e}");
        }
        let hello = &server.first_bytes()[0];
        assert_eq!(
            hello.first(),
            Some(&0x16),
            "the client sent a TLS handshake record"
        );
    }
}

/// A server that accepts the connection and never answers the ClientHello: `connect` gives up after
/// `connect_timeout` with an error.
#[test]
fn tls_handshake_with_a_silent_server_times_out() {
    let _wd = watchdog(TEST_LIMIT);
    let server = Misbehaving::start(Breakage::Silent);
    let client = tls_client("silent");
    client.connect_timeout_set(1.0).unwrap();
    let port = server.port();
    let started = Instant::now();
    let result = bounded("connect to a silent TLS server", move || {
        client.connect("127.0.0.1", port, 60)
    });
    let e = result.expect_err("a handshake that never completes must fail connect");
    println!("after {:?}: {e} ({e:?})", started.elapsed());
}

/// A CA, certificate or key file that does not exist fails `tls_set` itself with
/// `Error::InvalidArgument` naming the file, so the mistake shows where it was made.
#[test]
fn tls_set_with_a_missing_file_names_it() {
    let _wd = watchdog(TEST_LIMIT);
    let c = certs();
    let missing = c.dir.join("no-such-file.pem");
    let missing = path_str(&missing);
    let cases = [
        (Some(missing), None, None),
        (
            Some(path_str(&c.ca)),
            Some(missing),
            Some(path_str(&c.client_key_pkcs8)),
        ),
        (
            Some(path_str(&c.ca)),
            Some(path_str(&c.client_cert)),
            Some(missing),
        ),
    ];
    for (ca, cert, key) in cases {
        let client = Client::new("");
        match client.tls_set(ca, cert, key) {
            Err(e @ Error::InvalidArgument { .. }) => {
                assert!(
                    e.to_string().contains(missing),
                    "{e} does not name {missing}"
                );
            }
            other => panic!(
                "tls_set({ca:?}, {cert:?}, {key:?}): expected InvalidArgument, got {other:?}"
            ),
        }
        // The failed call configured nothing: a correct one is still accepted.
        client
            .tls_set(Some(path_str(&c.ca)), None, None)
            .expect("tls_set after a failed one");
    }
}

/// Configuring TLS a second time is an error, whichever call came first (Paho's ValueError).
#[test]
fn tls_configured_twice_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let ca = path_str(&certs().ca);
    let connector = || mqtt::native_tls::TlsConnector::new().unwrap();
    let client = Client::new("");
    client.tls_set(Some(ca), None, None).unwrap();
    assert!(
        client.tls_set(Some(ca), None, None).is_err(),
        "tls_set twice"
    );
    assert!(
        client.tls_set_with(TlsOptions::default()).is_err(),
        "tls_set then tls_set_with"
    );
    assert!(
        client.tls_set_context(connector()).is_err(),
        "tls_set then tls_set_context"
    );
    let client = Client::new("");
    client.tls_set_context(connector()).unwrap();
    assert!(
        client.tls_set(Some(ca), None, None).is_err(),
        "tls_set_context then tls_set"
    );
    assert!(
        client.tls_set_context(connector()).is_err(),
        "tls_set_context twice"
    );
}

/// `tls_insecure_set` before TLS is configured is an error, as in Paho.
#[test]
fn tls_insecure_set_before_tls_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    assert!(client.tls_insecure_set(true).is_err());
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    client.tls_insecure_set(true).unwrap();
    client.tls_insecure_set(false).unwrap();
    // After tls_set_context the application's connector decides: refused too.
    let client = Client::new("");
    client
        .tls_set_context(mqtt::native_tls::TlsConnector::new().unwrap())
        .unwrap();
    assert!(client.tls_insecure_set(true).is_err());
}

/// The ClientHello names the host in SNI when it is a name (brokers behind SNI routers need it), and
/// never carries an IP address there (RFC 6066, 3).
#[test]
fn sni_names_the_host_but_never_an_ip_address() {
    let _wd = watchdog(TEST_LIMIT);
    let server = Misbehaving::start(Breakage::CloseAfterClientHello);
    for host in ["localhost", "127.0.0.1"] {
        let client = tls_client("sni");
        let port = server.port();
        let _ = bounded("connect to record the ClientHello", move || {
            client.connect(host, port, 60)
        });
    }
    let hellos = server.first_bytes();
    // server_name list entry: name type 0 (host_name), 2-byte length, the name.
    let entry = |name: &str| [&[0u8, 0, name.len() as u8][..], name.as_bytes()].concat();
    let has = |hello: &[u8], needle: &[u8]| hello.windows(needle.len()).any(|w| w == needle);
    assert!(has(&hellos[0], &entry("localhost")), "no SNI for localhost");
    assert!(!has(&hellos[1], b"127.0.0.1"), "an IP address in SNI");
}

/// Paho's `ciphers` has no counterpart in the TLS library: `Some` is refused with `NotSupported`.
#[test]
fn ciphers_are_refused_as_not_supported() {
    let _wd = watchdog(TEST_LIMIT);
    let client = Client::new("");
    let e = client
        .tls_set_with(TlsOptions {
            ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
    assert_eq!(e.rc(), mqtt::MQTT_ERR_NOT_SUPPORTED);
}

/// `tls_version` is the lowest version the client accepts: against a server that speaks at most TLS 1.2,
/// a minimum of 1.3 fails the handshake with `Error::Tls`, a minimum of 1.2 connects.
#[test]
fn tls_version_is_the_lowest_version_accepted() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let tls12 = Some(mqtt::native_tls::Protocol::Tlsv12);
    let relay = WsRelay::start_tls_up_to(broker.tcp, Framing::as_read(), certs(), tls12);
    let client_at_least = |version| {
        let client = client_with("tls-version", Transport::Websockets);
        client
            .tls_set_with(TlsOptions {
                ca_certs: Some(certs().ca.clone()),
                tls_version: Some(version),
                ..Default::default()
            })
            .unwrap();
        client
    };
    let client = client_at_least(mqtt::TlsVersion::Tlsv1_3);
    match client.connect("127.0.0.1", relay.port(), 60) {
        Err(e @ Error::Tls(_)) => println!("TLS 1.3 minimum against a TLS 1.2 server: {e}"),
        other => panic!("expected Error::Tls for a TLS 1.3 minimum, got {other:?}"),
    }
    let peer = connected(client_at_least(mqtt::TlsVersion::Tlsv1_2), |c| {
        c.connect("127.0.0.1", relay.port(), 60)
    });
    round_trips(&peer, &peer, "transports/tls-version", &[1]);
    peer.stop();
}

/// `alpn_protocols` are offered in the ClientHello (seen by a server that records it), and a broker that
/// does not negotiate ALPN (mosquitto without `alpn` configured) still accepts the connection.
#[test]
fn alpn_protocols_are_offered() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let alpn_client = |tag: &str| {
        let client = Client::new(&client_id(tag));
        client
            .tls_set_with(TlsOptions {
                ca_certs: Some(certs().ca.clone()),
                alpn_protocols: vec!["mqtt".into(), "x-amzn-mqtt-ca".into()],
                ..Default::default()
            })
            .unwrap();
        client
    };
    let server = Misbehaving::start(Breakage::CloseAfterClientHello);
    let client = alpn_client("alpn-hello");
    let port = server.port();
    let _ = bounded("connect to record the ClientHello", move || {
        client.connect("127.0.0.1", port, 60)
    });
    let hello = &server.first_bytes()[0];
    for protocol in ["mqtt", "x-amzn-mqtt-ca"] {
        // In the ALPN extension each protocol name is preceded by its length.
        let entry = [&[protocol.len() as u8][..], protocol.as_bytes()].concat();
        assert!(
            hello.windows(entry.len()).any(|w| w == entry),
            "the ClientHello does not offer {protocol:?}"
        );
    }
    let peer = connected(alpn_client("alpn"), |c| {
        c.connect("127.0.0.1", broker.tls, 60)
    });
    round_trips(&peer, &peer, "transports/alpn", &[1]);
    peer.stop();
}

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

// ---- Unix sockets ----

/// `Transport::Unix`: the host is the socket's path and the port is ignored (1883, as a ported Paho
/// script passes, and 0); a QoS 1 round trip through mosquitto's Unix socket listener.
#[test]
fn unix_socket_round_trip() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    for port in [1883, 0] {
        let peer = connected(client_with("unix", Transport::Unix), |c| {
            c.connect(broker.unix_path(), port, 60)
        });
        round_trips(&peer, &peer, "transports/unix", &[1]);
        peer.stop();
    }
}

/// A Unix socket path where nothing listens fails `connect` with an error that names the path.
#[test]
fn unix_socket_that_does_not_exist_is_an_error_naming_it() {
    let _wd = watchdog(TEST_LIMIT);
    let dir = std::env::temp_dir().join(format!("pahoish-no-sock-{}", std::process::id()));
    let path = dir.join("missing.sock");
    let client = client_with("unix-missing", Transport::Unix);
    let e = client
        .connect(path_str(&path), 1883, 60)
        .expect_err("connecting to a missing socket");
    println!("{e} ({e:?})");
    assert!(
        e.to_string().contains(path_str(&path)),
        "{e} does not name the path"
    );
}

// ---- websockets ----

/// The upgrade request every websocket test expects: the `mqtt` subprotocol, binary messages only.
fn assert_mqtt_upgrade(conn: &WsConnection, path: &str) {
    assert_eq!(conn.path, path, "request path");
    let protocols = conn.protocols.as_deref().unwrap_or_default();
    assert!(
        protocols.split(',').any(|p| p.trim() == "mqtt"),
        "Sec-WebSocket-Protocol {protocols:?} lacks mqtt"
    );
    assert_eq!(conn.text_from_client, 0, "MQTT goes in binary messages");
    assert!(conn.from_client > 0);
}

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
        matches!(e, Error::Websocket(_)),
        "expected Error::Websocket, got {e:?}"
    );
    assert!(e.to_string().contains("404"), "{e}");
    let head = String::from_utf8(server.first_bytes()[0].clone()).unwrap();
    assert!(head.starts_with("GET /mqtt HTTP/1.1"), "{head}");
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

/// A server that completes the upgrade without the `mqtt` subprotocol the client asked for is not an
/// MQTT endpoint: `connect` fails with `Error::Websocket`.
#[test]
fn websocket_upgrade_without_the_mqtt_subprotocol_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_without_subprotocol(broker.tcp);
    let client = client_with("ws-no-subprotocol", Transport::Websockets);
    let port = relay.port();
    let e = bounded("connect to a server ignoring the subprotocol", move || {
        client.connect("127.0.0.1", port, 60)
    })
    .expect_err("an upgrade without the mqtt subprotocol must fail connect");
    assert!(
        matches!(e, Error::Websocket(_)),
        "expected Error::Websocket, got {e:?}"
    );
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

// ---- reconnecting ----

/// `client` connects with `connect_async` (so the loop does every handshake) and publishes at QoS 1 to a
/// plain TCP subscriber; `cut` then breaks its connection as a network failure would. The loop must
/// reconnect through the same transport (proxy, TLS and websocket handshakes again) and a QoS 1 message
/// published after `on_connect` must reach the subscriber again.
fn reconnects_after_the_connection_drops(
    broker: &Broker,
    client: Client,
    host: &str,
    port: u16,
    cut: impl Fn(),
) {
    let topic = "transports/reconnect";
    let (sub, messages) = common::subscriber(broker.tcp, topic, 1);
    client.reconnect_delay_set(0.05, 0.5).unwrap();
    let (tx, connacks) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    let (tx, disconnects) = mpsc::channel();
    client.on_disconnect(move |_c, _u, _f, rc, _p| {
        let _ = tx.send(rc);
    });
    client.connect_async(host, port, 60).unwrap();
    client.loop_start().unwrap();
    let live = Live::adopt(client);
    for round in ["first connection", "after the reconnect"] {
        let rc: ReasonCode = recv(&connacks, &format!("CONNACK ({round})"));
        assert!(!rc.is_failure(), "{round}: {rc}");
        let payload = format!("published {round}");
        publish_and_wait(&live, topic, payload.as_bytes(), 1);
        assert_eq!(recv(&messages, round).payload, payload.as_bytes());
        if round == "first connection" {
            cut();
            let rc: ReasonCode = recv(&disconnects, "on_disconnect after the cut");
            assert!(rc.is_failure(), "a cut connection reports a failure: {rc}");
        }
    }
    live.stop().unwrap();
    sub.stop().unwrap();
}

/// ... over websockets.
#[test]
fn websockets_reconnect_after_the_connection_drops() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::split(3));
    let client = client_with("ws-reconnect", Transport::Websockets);
    client
        .ws_set_options("/again", &[("X-Again", "1")])
        .unwrap();
    reconnects_after_the_connection_drops(&broker, client, "127.0.0.1", relay.port(), || {
        relay.drop_connections()
    });
    let conns = relay.connections();
    assert_eq!(conns.len(), 2, "{conns:?}");
    for conn in &conns {
        assert_mqtt_upgrade(conn, "/again");
        assert_eq!(conn.header("x-again"), Some("1"));
    }
}

/// ... over TLS through a SOCKS5 proxy.
#[test]
fn tls_through_socks5_reconnects_after_the_connection_drops() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(Some(("u", "p")));
    let client = tls_client("tls-socks-reconnect");
    client
        .proxy_set(Proxy {
            proxy_username: Some("u".into()),
            proxy_password: Some("p".into()),
            ..proxy(ProxyType::Socks5, socks.port())
        })
        .unwrap();
    reconnects_after_the_connection_drops(&broker, client, "localhost", broker.tls, || {
        socks.drop_connections()
    });
    let requests = socks.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests
        .iter()
        .all(|r| r.granted && r.credentials.is_some()));
}

/// ... over websockets over TLS through an HTTP proxy: every layer again.
#[test]
fn wss_through_an_http_proxy_reconnects_after_the_connection_drops() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::split(7), certs());
    let http = HttpProxy::start(None);
    let client = client_with("wss-http-reconnect", Transport::Websockets);
    client
        .tls_set(Some(path_str(&certs().ca)), None, None)
        .unwrap();
    client
        .proxy_set(proxy(ProxyType::Http, http.port()))
        .unwrap();
    reconnects_after_the_connection_drops(&broker, client, "localhost", relay.port(), || {
        http.drop_connections()
    });
    assert_eq!(http.requests().len(), 2);
    assert_eq!(relay.connections().len(), 2);
}

// ---- connect_url ----

/// `mqtt://user:pass@host:port`: the CONNECT carries the URL's user name and password, percent-decoded,
/// and the keepalive given (checked in TestBroker's packet log, with TestBroker requiring them).
#[test]
fn connect_url_mqtt_sends_the_urls_credentials() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().unwrap();
    let cases = [
        ("alice", "s3cret", "alice:s3cret"),
        (
            "al ice@home",
            "p@ss:w/rd",
            "al%20ice%40home:p%40ss%3Aw%2Frd",
        ),
    ];
    for (user, password, userinfo) in cases {
        broker.set_auth(user, password);
        let id = client_id("url-creds");
        let url = format!("mqtt://{userinfo}@127.0.0.1:{}", broker.port());
        let peer = connected(Client::new(&id), |c| c.connect_url(&url, 45));
        peer.stop();
        let connect = broker
            .packets(&id)
            .into_iter()
            .find_map(|(dir, packet)| match packet {
                Packet::Connect(c) if dir == Direction::Received => Some(c),
                _ => None,
            });
        let connect = connect.expect("a CONNECT in the log");
        assert_eq!(connect.username.as_deref(), Some(user), "{url}");
        assert_eq!(
            connect.password.as_deref(),
            Some(password.as_bytes()),
            "{url}"
        );
        assert_eq!(connect.keepalive, 45);
    }
}

/// `mqtts://` uses the TLS configured with `tls_set`.
#[test]
fn connect_url_mqtts() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let url = format!("mqtts://localhost:{}", broker.tls);
    let peer = connected(tls_client("url-mqtts"), |c| c.connect_url(&url, 60));
    round_trips(&peer, &peer, "transports/url-mqtts", &[1]);
    peer.stop();
}

/// `mqtts://` without `tls_set` turns TLS on with the system's trusted roots, which do not include the
/// test CA: the connection is TLS (not plain MQTT to a TLS port) and fails verification.
#[test]
fn connect_url_mqtts_without_tls_set_uses_the_system_roots() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let client = Client::new(&client_id("url-mqtts-system"));
    let url = format!("mqtts://localhost:{}", broker.tls);
    assert_verify_failed(client.connect_url(&url, 60), &[]);
}

/// `ws://host:port/path`: the websocket transport with the URL's path, which replaces the one from
/// `ws_set_options` (whose headers still go); a URL without a path keeps `ws_set_options`' path.
#[test]
fn connect_url_ws_takes_the_path_from_the_url() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::split(2));
    let urls = [
        format!("ws://127.0.0.1:{}/from/url", relay.port()),
        format!("ws://127.0.0.1:{}", relay.port()),
    ];
    for url in &urls {
        // A TCP client: the URL picks the transport.
        let client = Client::new(&client_id("url-ws"));
        client
            .ws_set_options("/configured", &[("X-From", "options")])
            .unwrap();
        let peer = connected(client, |c| c.connect_url(url, 60));
        round_trips(&peer, &peer, "transports/url-ws", &[1]);
        peer.stop();
    }
    let conns = relay.connections();
    assert_mqtt_upgrade(&conns[0], "/from/url");
    assert_mqtt_upgrade(&conns[1], "/configured");
    assert_eq!(conns[0].header("x-from"), Some("options"));
}

/// A `ws://` URL's query string goes with its path (cloud brokers put signed credentials there, as
/// AWS IoT's presigned `wss://.../mqtt?X-Amz-...` URLs do).
#[test]
fn connect_url_ws_keeps_the_query() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::as_read());
    let url = format!(
        "ws://127.0.0.1:{}/mqtt?X-Amz-Signature=ab%2Fcd&x=1",
        relay.port()
    );
    let peer = connected(Client::new(&client_id("url-ws-query")), |c| {
        c.connect_url(&url, 60)
    });
    peer.stop();
    assert_mqtt_upgrade(&relay.connections()[0], "/mqtt?X-Amz-Signature=ab%2Fcd&x=1");
}

/// An IPv6 literal in a URL (`mqtt://[::1]:port`) is the address `::1`: through a SOCKS5 proxy (which
/// reaches the IPv4-only broker) the client asks for IPv6 address `::1`, and an HTTP proxy gets the
/// bracketed authority `[::1]:port`.
#[test]
fn connect_url_with_an_ipv6_literal() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let url = format!("mqtt://[::1]:{}", broker.tcp);
    let socks = SocksProxy::start(None);
    let http = HttpProxy::start(None);
    for (kind, port) in [
        (ProxyType::Socks5, socks.port()),
        (ProxyType::Http, http.port()),
    ] {
        let client = Client::new(&client_id("url-ipv6"));
        client
            .proxy_set(Proxy {
                proxy_rdns: false,
                ..proxy(kind, port)
            })
            .unwrap();
        let peer = connected(client, |c| c.connect_url(&url, 60));
        round_trips(&peer, &peer, "transports/url-ipv6", &[1]);
        peer.stop();
    }
    assert_eq!(
        socks.requests()[0].target,
        Some((Target::Ipv6(std::net::Ipv6Addr::LOCALHOST), broker.tcp))
    );
    assert_eq!(http.requests()[0].target, format!("[::1]:{}", broker.tcp));
}

/// `wss://`: websockets over TLS, with the TLS configured by `tls_set`.
#[test]
fn connect_url_wss() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start_tls(broker.tcp, Framing::as_read(), certs());
    let url = format!("wss://localhost:{}/mqtt", relay.port());
    let peer = connected(tls_client("url-wss"), |c| c.connect_url(&url, 60));
    round_trips(&peer, &peer, "transports/url-wss", &[1]);
    peer.stop();
    assert_mqtt_upgrade(&relay.connections()[0], "/mqtt");
}

/// `unix:///path/to/socket`: the Unix socket transport.
#[test]
fn connect_url_unix() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let url = format!("unix://{}", broker.unix_path());
    let peer = connected(Client::new(&client_id("url-unix")), |c| {
        c.connect_url(&url, 60)
    });
    round_trips(&peer, &peer, "transports/url-unix", &[1]);
    peer.stop();
}

/// URLs that cannot work fail `connect_url` with an invalid-argument error naming the URL and the
/// problem, before any connection is attempted.
#[test]
fn connect_url_rejects_bad_urls_clearly() {
    let _wd = watchdog(TEST_LIMIT);
    // A listener that records whether anything connected.
    let server = Misbehaving::start(Breakage::CloseAfterClientHello);
    let port = server.port();
    let cases = [
        (format!("ftp://127.0.0.1:{port}"), "unknown scheme"),
        (format!("http://127.0.0.1:{port}"), "unknown scheme"),
        ("mqtt://".to_owned(), "host"),
        (format!("mqtt://:{port}"), ""),
        ("127.0.0.1:1883".to_owned(), ""),
        ("not a url".to_owned(), ""),
        ("mqtt://127.0.0.1:99999".to_owned(), ""),
        ("unix://".to_owned(), "path"),
    ];
    for (url, says) in &cases {
        let client = Client::new("");
        match client.connect_url(url, 60) {
            Err(e) => {
                let text = e.to_string();
                println!("{url:?}: {text}");
                assert_eq!(e.rc(), mqtt::MQTT_ERR_INVAL, "{url:?}: {e:?}");
                assert!(
                    text.contains(url.as_str()),
                    "{text:?} does not name {url:?}"
                );
                assert!(text.contains(says), "{text:?} does not say {says:?}");
            }
            Ok(()) => panic!("connect_url({url:?}) succeeded"),
        }
    }
    // A plain scheme while TLS is configured is a mistake too.
    let client = tls_client("url-plain-with-tls");
    let e = client
        .connect_url(&format!("mqtt://127.0.0.1:{port}"), 60)
        .unwrap_err();
    assert_eq!(e.rc(), mqtt::MQTT_ERR_INVAL, "{e:?}");
    assert_eq!(server.connections(), 0, "a bad URL still connected");
}

// ---- proxies ----

/// `Proxy::new(kind, "127.0.0.1")` on `port`, the other settings at their defaults.
fn proxy(kind: ProxyType, port: u16) -> Proxy {
    Proxy {
        proxy_port: Some(port),
        ..Proxy::new(kind, "127.0.0.1")
    }
}

/// SOCKS5 without authentication, `proxy_rdns: true`: the client offers "no authentication" and sends
/// the host name for the proxy to resolve (address type 3); a QoS 1 round trip goes through it.
#[test]
fn socks5_without_auth_lets_the_proxy_resolve_the_name() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(None);
    let client = Client::new(&client_id("socks5"));
    client
        .proxy_set(Proxy {
            proxy_rdns: true,
            ..proxy(ProxyType::Socks5, socks.port())
        })
        .unwrap();
    let peer = connected(client, |c| c.connect("localhost", broker.tcp, 60));
    round_trips(&peer, &peer, "transports/socks5", &[1]);
    peer.stop();
    let requests = socks.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r.version, 5);
    assert!(r.methods.contains(&0), "methods offered {:?}", r.methods);
    assert_eq!(r.credentials, None);
    assert_eq!(
        r.target,
        Some((Target::Domain("localhost".into()), broker.tcp))
    );
    assert!(r.granted);
}

/// SOCKS5 with user name and password (RFC 1929), `proxy_rdns: false` and an IPv4 address: the proxy
/// gets the credentials and an IPv4 destination (address type 1).
#[test]
fn socks5_with_auth_sends_credentials_and_an_ipv4_address() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(Some(("proxyuser", "proxy pass")));
    let client = Client::new(&client_id("socks5-auth"));
    client
        .proxy_set(Proxy {
            proxy_rdns: false,
            proxy_username: Some("proxyuser".into()),
            proxy_password: Some("proxy pass".into()),
            ..proxy(ProxyType::Socks5, socks.port())
        })
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", broker.tcp, 60));
    round_trips(&peer, &peer, "transports/socks5-auth", &[1]);
    peer.stop();
    let requests = socks.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert!(r.methods.contains(&2), "methods offered {:?}", r.methods);
    assert_eq!(
        r.credentials,
        Some(("proxyuser".to_owned(), "proxy pass".to_owned()))
    );
    assert_eq!(
        r.target,
        Some((Target::Ipv4(Ipv4Addr::LOCALHOST), broker.tcp))
    );
}

/// A SOCKS5 proxy refusing the credentials makes `connect` fail with `Error::Proxy`.
#[test]
fn socks5_refusing_the_credentials_is_a_proxy_error() {
    let _wd = watchdog(TEST_LIMIT);
    let socks = SocksProxy::start(Some(("proxyuser", "right")));
    for password in [Some("wrong"), None] {
        let client = Client::new(&client_id("socks5-refused"));
        client
            .proxy_set(Proxy {
                proxy_username: Some("proxyuser".into()),
                proxy_password: password.map(str::to_owned),
                ..proxy(ProxyType::Socks5, socks.port())
            })
            .unwrap();
        let e = bounded("connect through a refusing proxy", move || {
            client.connect("127.0.0.1", 1, 60)
        })
        .expect_err("a refused proxy handshake must fail connect");
        assert!(matches!(e, Error::Proxy(_)), "password {password:?}: {e:?}");
    }
    let requests = socks.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|r| !r.granted));
}

/// SOCKS4a (`ProxyType::Socks4` with `proxy_rdns: true`): the host name goes to the proxy.
#[test]
fn socks4a_round_trip() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(None);
    let client = Client::new(&client_id("socks4"));
    client
        .proxy_set(Proxy {
            proxy_rdns: true,
            ..proxy(ProxyType::Socks4, socks.port())
        })
        .unwrap();
    let peer = connected(client, |c| c.connect("localhost", broker.tcp, 60));
    round_trips(&peer, &peer, "transports/socks4", &[1]);
    peer.stop();
    let r: &SocksRequest = &socks.requests()[0];
    assert_eq!(r.version, 4);
    assert_eq!(
        r.target,
        Some((Target::Domain("localhost".into()), broker.tcp))
    );
}

/// An HTTP proxy (CONNECT): the request names the broker's host and port; a QoS 1 round trip goes
/// through the tunnel.
#[test]
fn http_connect_proxy_round_trip() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let http = HttpProxy::start(None);
    let client = Client::new(&client_id("http-proxy"));
    client
        .proxy_set(proxy(ProxyType::Http, http.port()))
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", broker.tcp, 60));
    round_trips(&peer, &peer, "transports/http-proxy", &[1]);
    peer.stop();
    let requests = http.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let target = format!("127.0.0.1:{}", broker.tcp);
    assert_eq!(requests[0].target, target);
    assert_eq!(
        requests[0].request_line,
        format!("CONNECT {target} HTTP/1.1")
    );
    // HTTP/1.1 requires Host in every request, CONNECT included (RFC 9112, 3.2).
    assert_eq!(requests[0].header("host"), Some(target.as_str()));
    assert_eq!(requests[0].header("proxy-authorization"), None);
}

/// An HTTP proxy asking for credentials gets `Proxy-Authorization: Basic base64(user:pass)`.
#[test]
fn http_connect_proxy_with_basic_auth() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let http = HttpProxy::start(Some(("proxyuser", "proxypass")));
    let client = Client::new(&client_id("http-proxy-auth"));
    client
        .proxy_set(Proxy {
            proxy_username: Some("proxyuser".into()),
            proxy_password: Some("proxypass".into()),
            ..proxy(ProxyType::Http, http.port())
        })
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", broker.tcp, 60));
    round_trips(&peer, &peer, "transports/http-proxy-auth", &[1]);
    peer.stop();
    let expected = format!("Basic {}", base64(b"proxyuser:proxypass"));
    assert_eq!(
        http.requests()[0].header("proxy-authorization"),
        Some(expected.as_str())
    );
}

/// An HTTP proxy answering 407 (no or wrong credentials) makes `connect` fail with `Error::Proxy`.
#[test]
fn http_proxy_refusing_the_credentials_is_a_proxy_error() {
    let _wd = watchdog(TEST_LIMIT);
    let http = HttpProxy::start(Some(("proxyuser", "right")));
    for password in [Some("wrong"), None] {
        let client = Client::new(&client_id("http-refused"));
        client
            .proxy_set(Proxy {
                proxy_username: password.map(|_| "proxyuser".to_owned()),
                proxy_password: password.map(str::to_owned),
                ..proxy(ProxyType::Http, http.port())
            })
            .unwrap();
        let e = bounded("connect through a refusing proxy", move || {
            client.connect("127.0.0.1", 1, 60)
        })
        .expect_err("a 407 must fail connect");
        assert!(matches!(e, Error::Proxy(_)), "password {password:?}: {e:?}");
        assert!(e.to_string().contains("407"), "{e}");
    }
}

/// A proxy that cannot reach the broker (here: refuses a destination off this machine, so nothing leaves
/// it) makes `connect` fail with `Error::Proxy`: SOCKS5 reply "not allowed", HTTP 502.
#[test]
fn proxy_that_cannot_reach_the_broker_is_a_proxy_error() {
    let _wd = watchdog(TEST_LIMIT);
    let socks = SocksProxy::start(None);
    let http = HttpProxy::start(None);
    // 192.0.2.1 is TEST-NET-1 (RFC 5737); the proxies refuse it without trying.
    for (kind, port) in [
        (ProxyType::Socks5, socks.port()),
        (ProxyType::Http, http.port()),
    ] {
        let client = Client::new(&client_id("proxy-unreachable"));
        client.proxy_set(proxy(kind, port)).unwrap();
        client.connect_timeout_set(WAIT / 2).unwrap();
        let e = bounded(
            "connect through a proxy that refuses the destination",
            move || client.connect("192.0.2.1", 1883, 60),
        )
        .expect_err("an unreachable broker must fail connect");
        assert!(matches!(e, Error::Proxy(_)), "{kind:?}: {e:?}");
        println!("{kind:?}: {e}");
    }
    let r = &socks.requests()[0];
    assert_eq!(
        r.target,
        Some((Target::Ipv4(Ipv4Addr::new(192, 0, 2, 1)), 1883))
    );
    assert!(!r.granted);
    assert_eq!(http.requests()[0].target, "192.0.2.1:1883");
}

/// TLS through a SOCKS5 proxy: the proxy carries the TLS stream, and the certificate is checked
/// against the host name the client asked for (`localhost`, resolved by the proxy).
#[test]
fn tls_through_a_socks5_proxy() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let socks = SocksProxy::start(None);
    let client = tls_client("tls-socks5");
    client
        .proxy_set(Proxy {
            proxy_rdns: true,
            ..proxy(ProxyType::Socks5, socks.port())
        })
        .unwrap();
    let peer = connected(client, |c| c.connect("localhost", broker.tls, 60));
    round_trips(&peer, &peer, "transports/tls-socks5", &[1, 2]);
    peer.stop();
    assert_eq!(
        socks.requests()[0].target,
        Some((Target::Domain("localhost".into()), broker.tls))
    );
    // Through the proxy, a wrong host name is still caught.
    let client = tls_client("tls-socks5-wrong-host");
    client
        .proxy_set(proxy(ProxyType::Socks5, socks.port()))
        .unwrap();
    assert_verify_failed(
        client.connect("localhost", broker.wrong_host, 60),
        &["hostname mismatch"],
    );
}

/// TLS through an HTTP CONNECT proxy.
#[test]
fn tls_through_an_http_proxy() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let http = HttpProxy::start(None);
    let client = tls_client("tls-http-proxy");
    client
        .proxy_set(proxy(ProxyType::Http, http.port()))
        .unwrap();
    let peer = connected(client, |c| c.connect("localhost", broker.tls, 60));
    round_trips(&peer, &peer, "transports/tls-http-proxy", &[1]);
    peer.stop();
    assert_eq!(
        http.requests()[0].target,
        format!("localhost:{}", broker.tls)
    );
}

/// Websockets through a SOCKS5 proxy: the proxy is spoken first, then the upgrade.
#[test]
fn websockets_through_a_socks5_proxy() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::split(4));
    let socks = SocksProxy::start(None);
    let client = client_with("ws-socks5", Transport::Websockets);
    client
        .proxy_set(proxy(ProxyType::Socks5, socks.port()))
        .unwrap();
    let peer = connected(client, |c| c.connect("127.0.0.1", relay.port(), 60));
    round_trips(&peer, &peer, "transports/ws-socks5", &[1]);
    peer.stop();
    assert_eq!(
        socks.requests()[0].target.as_ref().map(|t| t.1),
        Some(relay.port())
    );
    assert_mqtt_upgrade(&relay.connections()[0], "/mqtt");
}

// ---- the MQTT_PROXY environment variable ----
//
// Environment variables belong to the whole process, and every other test here connects without
// `proxy_set`: setting MQTT_PROXY in this process would send them through a proxy. So the client runs
// in a child process (this test binary again, running only `proxy_env_child`) whose environment is set
// when it is started; the parent runs the broker and the proxies and checks what they saw.

/// The variables the child reads: the broker's port, and optionally a SOCKS5 proxy for `proxy_set`.
const CHILD_BROKER: &str = "PAHOISH_PROXY_CHILD_BROKER";
const CHILD_PROXY_SET: &str = "PAHOISH_PROXY_CHILD_PROXY_SET";

/// Runs `proxy_env_child` in a child process with `env` (and no other proxy variables), failing the
/// test if the child fails.
fn run_proxy_env_child(broker_port: u16, env: &[(&str, String)], proxy_set: Option<u16>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["proxy_env_child", "--exact", "--ignored", "--nocapture"]);
    cmd.args(["--test-threads", "1"]);
    for var in [
        "MQTT_PROXY",
        "mqtt_proxy",
        "NO_PROXY",
        "no_proxy",
        CHILD_PROXY_SET,
    ] {
        cmd.env_remove(var);
    }
    cmd.env(CHILD_BROKER, broker_port.to_string());
    if let Some(port) = proxy_set {
        cmd.env(CHILD_PROXY_SET, port.to_string());
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = bounded_for_child(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child with {env:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bounded_for_child(mut cmd: std::process::Command) -> std::process::Output {
    // The child has a watchdog of its own (TEST_LIMIT); this bounds the wait for it anyway.
    common::bounded_for("the proxy_env_child process", TEST_LIMIT, move || {
        cmd.output().expect("running the test binary again")
    })
}

/// `MQTT_PROXY` / `mqtt_proxy` are honoured when no `proxy_set` was made: `socks://` through a SOCKS5
/// proxy, `http://user:pass@` through an HTTP proxy with those credentials; `no_proxy` / `NO_PROXY`
/// listing the broker's host (or `*`) bypasses them, one listing other hosts does not; `proxy_set` takes
/// precedence over the variable.
#[test]
fn proxy_environment_variables_are_honoured() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Broker::start_or_skip() else {
        return;
    };
    let at = |port: u16| format!("127.0.0.1:{port}");

    let socks = SocksProxy::start(None);
    run_proxy_env_child(
        broker.tcp,
        &[("MQTT_PROXY", format!("socks://{}", at(socks.port())))],
        None,
    );
    let requests = socks.requests();
    assert_eq!(
        requests.len(),
        1,
        "MQTT_PROXY=socks:// not used: {requests:?}"
    );
    assert_eq!(requests[0].version, 5, "socks:// means SOCKS5");
    let (target, port) = requests[0].target.clone().unwrap();
    assert_eq!(port, broker.tcp);
    assert!(
        target == Target::Ipv4(Ipv4Addr::LOCALHOST) || target == Target::Domain("127.0.0.1".into()),
        "{target:?}"
    );

    let http = HttpProxy::start(Some(("envuser", "envpass")));
    let url = format!("http://envuser:envpass@{}", at(http.port()));
    run_proxy_env_child(broker.tcp, &[("mqtt_proxy", url)], None);
    let requests = http.requests();
    assert_eq!(
        requests.len(),
        1,
        "mqtt_proxy=http:// not used: {requests:?}"
    );
    assert_eq!(requests[0].target, at(broker.tcp));
    let expected = format!("Basic {}", base64(b"envuser:envpass"));
    assert_eq!(
        requests[0].header("proxy-authorization"),
        Some(expected.as_str())
    );

    let bypassed = SocksProxy::start(None);
    let proxy_var = ("MQTT_PROXY", format!("socks://{}", at(bypassed.port())));
    run_proxy_env_child(
        broker.tcp,
        &[proxy_var.clone(), ("no_proxy", "127.0.0.1".into())],
        None,
    );
    let no_proxy_list = ("NO_PROXY", "broker.example,127.0.0.1".to_owned());
    run_proxy_env_child(broker.tcp, &[proxy_var.clone(), no_proxy_list], None);
    run_proxy_env_child(
        broker.tcp,
        &[proxy_var.clone(), ("no_proxy", "*".into())],
        None,
    );
    assert!(
        bypassed.requests().is_empty(),
        "no_proxy ignored: {:?}",
        bypassed.requests()
    );

    // A no_proxy list that does not name the broker's host leaves the proxy in use; socks:// takes
    // credentials too.
    let socks_auth = SocksProxy::start(Some(("envuser", "envpass")));
    let url = format!("socks://envuser:envpass@{}", at(socks_auth.port()));
    let other_hosts = ("no_proxy", "broker.example,.example.org".to_owned());
    run_proxy_env_child(broker.tcp, &[("MQTT_PROXY", url), other_hosts], None);
    let requests = socks_auth.requests();
    assert_eq!(requests.len(), 1, "MQTT_PROXY not used: {requests:?}");
    assert_eq!(
        requests[0].credentials,
        Some(("envuser".to_owned(), "envpass".to_owned()))
    );

    let chosen = SocksProxy::start(None);
    run_proxy_env_child(broker.tcp, &[proxy_var], Some(chosen.port()));
    assert_eq!(chosen.requests().len(), 1, "proxy_set not used");
    assert!(
        bypassed.requests().is_empty(),
        "MQTT_PROXY used despite proxy_set"
    );
}

/// The client side of `proxy_environment_variables_are_honoured`, run by it in a child process with the
/// environment under test: a QoS 1 round trip to 127.0.0.1 with no `proxy_set` (or with one, when asked).
#[test]
#[ignore = "run in a child process by proxy_environment_variables_are_honoured"]
fn proxy_env_child() {
    let Ok(port) = std::env::var(CHILD_BROKER) else {
        println!("nothing to do: run by proxy_environment_variables_are_honoured");
        return;
    };
    let _wd = watchdog(TEST_LIMIT);
    let port: u16 = port.parse().unwrap();
    let client = Client::new(&client_id("env-proxy"));
    if let Ok(socks) = std::env::var(CHILD_PROXY_SET) {
        client
            .proxy_set(proxy(ProxyType::Socks5, socks.parse().unwrap()))
            .unwrap();
    }
    let peer = connected(client, |c| c.connect("127.0.0.1", port, 60));
    round_trips(&peer, &peer, "transports/env-proxy", &[1]);
    peer.stop();
}
