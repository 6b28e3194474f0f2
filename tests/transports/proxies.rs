//! Proxies (`proxy_set`): SOCKS5 with and without credentials, SOCKS4a, HTTP CONNECT, refused
//! credentials, an unreachable broker, and TLS and websockets through a proxy.

use std::net::Ipv4Addr;

use mqtt::{Client, Error, Proxy, ProxyType, Transport};
use pahoish as mqtt;

use crate::common::{bounded, client_id, watchdog, TEST_LIMIT, WAIT};
use crate::support::{
    assert_mqtt_upgrade, assert_verify_failed, client_with, connected, proxy, round_trips,
    tls_client,
};
use crate::transport_support::broker::Broker;
use crate::transport_support::proxy::{base64, HttpProxy, SocksProxy, SocksRequest, Target};
use crate::transport_support::ws_relay::{Framing, WsRelay};

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
        assert!(
            matches!(e, Error::Proxy { .. }),
            "password {password:?}: {e:?}"
        );
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
        assert!(
            matches!(e, Error::Proxy { .. }),
            "password {password:?}: {e:?}"
        );
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
        assert!(matches!(e, Error::Proxy { .. }), "{kind:?}: {e:?}");
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
