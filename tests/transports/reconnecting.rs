//! Reconnecting: after a dropped connection the loop goes through the same transport again (proxy,
//! TLS and websocket handshakes).

use std::sync::mpsc;

use mqtt::{Client, Proxy, ProxyType, ReasonCode, Transport};
use pahoish as mqtt;

use crate::common::{self, recv, watchdog, Live, TEST_LIMIT};
use crate::support::{
    assert_mqtt_upgrade, client_with, path_str, proxy, publish_and_wait, tls_client,
};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::proxy::{HttpProxy, SocksProxy};
use crate::transport_support::ws_relay::{Framing, WsRelay};

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
