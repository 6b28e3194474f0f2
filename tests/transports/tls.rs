//! TLS: round trips, client certificates in every key form, the verification failures a user meets,
//! handshakes cut short, `tls_set` misuse, SNI, ciphers, versions and ALPN.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use mqtt::{CertReqs, Client, Error, TlsOptions, Transport};
use pahoish as mqtt;

use crate::common::{bounded, client_id, recv, watchdog, Live, TEST_LIMIT};
use crate::support::{
    assert_verify_failed, client_with, connected, expect_no_session, path_str, round_trips,
    tls_client,
};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::{certs, KEY_PASSWORD};
use crate::transport_support::misbehaving::{Breakage, Misbehaving};
use crate::transport_support::ws_relay::{Framing, WsRelay};

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
/// `Error::Tls` reading "certificate verify failed: ...", rc MQTT_ERR_TLS.
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
        Err(e @ Error::Tls { .. }) => println!("TLS 1.3 minimum against a TLS 1.2 server: {e}"),
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
