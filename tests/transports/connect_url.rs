//! `connect_url`: `mqtt://`, `mqtts://`, `ws://`, `wss://` and `unix://` URLs, IPv6 literals, and bad
//! URLs refused clearly.

use mqtt::packet::Packet;
use mqtt::testing::{Direction, TestBroker};
use mqtt::{Client, Proxy, ProxyType};
use pahoish as mqtt;

use crate::common::{client_id, watchdog, TEST_LIMIT};
use crate::support::{
    assert_mqtt_upgrade, assert_verify_failed, connected, proxy, round_trips, tls_client,
};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::misbehaving::{Breakage, Misbehaving};
use crate::transport_support::proxy::{HttpProxy, SocksProxy, Target};
use crate::transport_support::ws_relay::{Framing, WsRelay};

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
