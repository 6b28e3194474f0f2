//! The infrastructure itself, checked with hand-made packets (no pahoish client involved): the
//! certificates, mosquitto's TLS and Unix socket listeners, the websocket relay and the proxies.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::{watchdog, TEST_LIMIT, WAIT};
use crate::transport_support;
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::proxy::{HttpProxy, SocksProxy, Target};
use crate::transport_support::ws_relay::{Framing, WsRelay};

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
