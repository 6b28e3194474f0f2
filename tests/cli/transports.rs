//! TLS, Unix sockets, proxies and websockets, against mosquitto: `--cafile`, `--capath`,
//! `--cert`/`--key`, `--insecure`, `--tls-version`, `-L mqtts://`, `-L ws://`, `--unix`, `--proxy`, and
//! the one-line failures of certificates that do not verify.
//!
//! The broker (a listener per transport), the certificates, the proxies and the websocket relay are
//! those of tests/transports/, in tests/transport_support.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{self, watchdog, HOST, TEST_LIMIT, WAIT};
use crate::support::{mosquitto_tool, our, our_sub_subscribed, run, Done};
use crate::transport_support::broker::Broker;
use crate::transport_support::certs::certs;
use crate::transport_support::proxy::{HttpConnect, HttpProxy, SocksProxy, SocksRequest, Target};

/// Whether the openssl command line is there; without it (and without PAHOISH_REQUIRE_MOSQUITTO=1,
/// which makes it a failure) the TLS tests say they skipped.
fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("PAHOISH_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("the openssl command line is not installed; the TLS tests need it");
        }
        println!("skipped: openssl not installed");
    }
    found
}

/// A mosquitto with a listener per transport (plain TCP, TLS, TLS requiring a client certificate,
/// TLS with a certificate for the wrong host name, a Unix socket), or `None` (the test skips)
/// without mosquitto or openssl (which makes the certificates).
fn transport_broker() -> Option<Broker> {
    if common::mosquitto_binary().is_some() && !openssl_available() {
        return None;
    }
    Broker::start_or_skip()
}

/// A certificate file's path as the tools take it.
fn arg(path: &Path) -> &str {
    path.to_str().expect("temp dir paths are UTF-8")
}

/// Checks a run that must fail before or while connecting: status 1, one line on stderr containing
/// one of `needles`, nothing on stdout, no panic.
fn assert_one_line_failure(done: &Done, needles: &[&str], what: &str) {
    done.assert_no_panic();
    assert_eq!(done.status, Some(1), "{what}: {done:?}");
    assert!(done.stdout.is_empty(), "{what}: {done:?}");
    assert_eq!(done.stderr.lines().count(), 1, "{what}: {done:?}");
    assert!(done.stderr.starts_with("Error: "), "{what}: {done:?}");
    assert!(
        needles.iter().any(|n| done.stderr.contains(n)),
        "{what}: wanted one of {needles:?} in {done:?}"
    );
}

/// Over TLS both ways: our sub (`--capath`, a directory holding the CA among other files) gets what
/// our pub publishes with `--cafile` (the port given), with `-L mqtts://` and with `--tls-version
/// tlsv1.3 --tls-alpn`. mosquitto's TLS listener speaks nothing but TLS, so a message arriving proves
/// both ends used it.
#[test]
fn tls_pub_and_sub_with_cafile_capath_and_mqtts_url() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let (ca, capath) = (arg(&certs().ca), arg(&certs().capath));
    let port = broker.tls.to_string();
    let topic = format!("cli/tls/{}", common::unique());
    let sub = our_sub_subscribed(&[
        "-h", HOST, "-p", &port, "--capath", capath, "-t", &topic, "-C", "3", "-q", "1", "-F",
        "%q %p",
    ]);
    let url = format!("mqtts://{HOST}:{port}/{topic}");
    let runs: [Vec<&str>; 3] = [
        vec![
            "-h", HOST, "-p", &port, "--cafile", ca, "-t", &topic, "-m", "one",
        ],
        vec!["-L", &url, "--cafile", ca, "-m", "two", "-q", "1"],
        vec![
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            ca,
            "--tls-version",
            "tlsv1.3",
            "--tls-alpn",
            "mqtt",
            "-t",
            &topic,
            "-m",
            "three",
            "-q",
            "2",
        ],
    ];
    for args in &runs {
        let done = run(&pub_exe, args);
        done.assert_no_panic();
        assert_eq!(done.status, Some(0), "{args:?}: {done:?}");
        assert!(done.stderr.is_empty(), "{args:?}: {done:?}");
    }
    let sub_pid = sub.child.id();
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), "0 one\n1 two\n1 three\n");
    let bundle = format!("pahoish-capath-{sub_pid}-");
    let left = std::fs::read_dir(std::env::temp_dir())
        .expect("listing the temp dir")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with(&bundle));
    assert!(!left, "sub left its --capath bundle {bundle}* behind");
}

/// A broker that requires a client certificate: with `--cert` and `--key` both tools work; without,
/// each fails with one line and status 1 instead of retrying (with TLS 1.3 the broker's refusal comes
/// after the handshake, when the CONNECT is already sent).
#[test]
fn tls_client_certificate_required() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let c = certs();
    let ca = arg(&c.ca);
    let port = broker.mutual.to_string();
    let topic = format!("cli/mutual/{}", common::unique());
    // The key in PKCS#8 (`BEGIN PRIVATE KEY`), the form a `--key` file usually has.
    let tls = [
        "--cafile",
        ca,
        "--cert",
        arg(&c.client_cert),
        "--key",
        arg(&c.client_key_pkcs8),
    ];
    let mut args = vec!["-h", HOST, "-p", &port, "-t", &topic, "-C", "1"];
    args.extend(tls);
    let sub = our_sub_subscribed(&args);
    let mut args = vec![
        "-h",
        HOST,
        "-p",
        &port,
        "-t",
        &topic,
        "-m",
        "with a certificate",
    ];
    args.extend(tls);
    let done = run(&pub_exe, &args);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "with a certificate\n"),
        "{got:?}"
    );

    for (exe, extra) in [(&pub_exe, ["-m", "x"]), (&sub_exe, ["-C", "1"])] {
        let mut args = vec![
            "-h",
            HOST,
            "-p",
            &port,
            "--cafile",
            ca,
            "-t",
            "cli/mutual/none",
        ];
        args.extend(extra);
        let done = run(exe, &args);
        // OpenSSL reports the broker's alert (certificate required) or, when the reset of the
        // broker's close (our CONNECT unread) makes the kernel drop the alert, a reset connection.
        assert_one_line_failure(
            &done,
            &["requires a client certificate", "Connection reset by peer"],
            "no client certificate",
        );
    }
}

/// A broker certificate that does not verify ends both tools with one line containing "certificate
/// verify failed" and status 1: a --cafile of another CA, the system's CAs (--tls-use-os-certs), a
/// certificate for another host name. --insecure accepts the last. Plain MQTT to a TLS port fails
/// the same way (one line, status 1) rather than retrying.
#[test]
fn tls_verification_failures_are_one_line() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let (ca, other_ca) = (arg(&certs().ca), arg(&certs().other_ca));
    let (tls, wrong_host) = (broker.tls.to_string(), broker.wrong_host.to_string());
    let verify: &[&str] = &["certificate verify failed"];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["-p", &tls, "--cafile", other_ca], verify),
        (vec!["-p", &tls, "--tls-use-os-certs"], verify),
        (
            vec!["-p", &wrong_host, "--cafile", ca],
            &["certificate verify failed: IP address mismatch"],
        ),
        (
            vec!["-p", &tls, "--cafile", "/nonexistent/ca.crt"],
            &["--cafile: cannot read /nonexistent/ca.crt: No such file or directory"],
        ),
        // Plain MQTT to the TLS port: mosquitto closes the connection.
        (
            vec!["-p", &tls],
            &["Connection reset by peer", "the connection was lost"],
        ),
    ];
    for (exe, extra) in [
        (&pub_exe, ["-t", "cli/verify", "-m", "x"]),
        (&sub_exe, ["-t", "cli/verify", "-C", "1"]),
    ] {
        for (case, needle) in &cases {
            let mut args = vec!["-h", HOST];
            args.extend(case);
            args.extend(extra);
            let done = run(exe, &args);
            assert_one_line_failure(&done, needle, &format!("{args:?}"));
        }
    }
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &wrong_host,
            "--cafile",
            ca,
            "--insecure",
            "-t",
            "cli/verify",
            "-m",
            "x",
        ],
    );
    assert_eq!(done.status, Some(0), "--insecure: {done:?}");
}

/// `--unix PATH` to mosquitto's Unix socket listener: our sub gets what our pub and mosquitto_pub
/// publish through the socket.
#[test]
fn unix_socket_pub_and_sub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let Some(mpub) = mosquitto_tool("mosquitto_pub") else {
        return;
    };
    let unix = broker.unix_path();
    let topic = format!("cli/unix/{}", common::unique());
    let sub = our_sub_subscribed(&["--unix", unix, "-t", &topic, "-C", "2", "-v"]);
    let done = run(
        &pub_exe,
        &["--unix", unix, "-t", &topic, "-m", "ours", "-q", "1"],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(
        &mpub,
        &["--unix", unix, "-t", &topic, "-m", "theirs", "-q", "1"],
    );
    assert_eq!(done.status, Some(0), "mosquitto_pub: {done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), format!("{topic} ours\n{topic} theirs\n"));
    let missing = format!("{unix}.missing");
    let done = run(&pub_exe, &["--unix", &missing, "-t", &topic, "-m", "x"]);
    assert_one_line_failure(&done, &[&missing], "a missing socket");
}

/// What a proxy (or the websocket relay) was asked: the destination, and the credentials if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyRequest {
    /// `host:port` as the client named it; for the websocket relay, the request path.
    destination: String,
    /// SOCKS5: `user:password` (RFC 1929); HTTP: the `Proxy-Authorization` header's value; the
    /// websocket relay: the `Sec-WebSocket-Protocol` header's value.
    credentials: Option<String>,
}

impl ProxyRequest {
    /// A SOCKS handshake, which must be SOCKS5 (what `socks5h://` asks for).
    fn socks(r: &SocksRequest) -> ProxyRequest {
        assert_eq!(r.version, 5, "not SOCKS5: {r:?}");
        let destination = match &r.target {
            Some((Target::Ipv4(ip), port)) => format!("{ip}:{port}"),
            Some((Target::Domain(name), port)) => format!("{name}:{port}"),
            Some((Target::Ipv6(ip), port)) => format!("{ip}:{port}"),
            None => panic!("a SOCKS5 handshake without a request: {r:?}"),
        };
        ProxyRequest {
            destination,
            credentials: r.credentials.as_ref().map(|(u, p)| format!("{u}:{p}")),
        }
    }

    /// An HTTP request, which must be a CONNECT.
    fn http(r: &HttpConnect) -> ProxyRequest {
        assert!(
            r.request_line.starts_with("CONNECT "),
            "not a CONNECT: {r:?}"
        );
        ProxyRequest {
            destination: r.target.clone(),
            credentials: r.header("proxy-authorization").map(str::to_owned),
        }
    }
}

/// `--proxy`: our sub through a SOCKS5 proxy that wants a user name and password, our pub through
/// an HTTP CONNECT proxy (with Basic credentials), and pub with TLS through the SOCKS5 proxy (the proxy's tunnel carries the
/// TLS connection). Each proxy saw the broker's address, as socks5h:// leaves the name to the proxy,
/// and the credentials. A wrong password is one line and status 1.
#[test]
fn proxies_carry_pub_and_sub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let socks = SocksProxy::start(Some(("me", "secret")));
    let http = HttpProxy::start(None);
    let socks_url = format!("socks5h://me:secret@{HOST}:{}", socks.port());
    let http_url = format!("http://me:secret@{HOST}:{}", http.port());
    let (tcp, tls) = (broker.tcp.to_string(), broker.tls.to_string());
    let topic = format!("cli/proxy/{}", common::unique());
    let sub = our_sub_subscribed(&[
        "-h", HOST, "-p", &tcp, "--proxy", &socks_url, "-t", &topic, "-C", "2",
    ]);
    let done = run(
        &pub_exe,
        &[
            "-h", HOST, "-p", &tcp, "--proxy", &http_url, "-t", &topic, "-m", "via http",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &tls,
            "--cafile",
            arg(&certs().ca),
            "--proxy",
            &socks_url,
            "-t",
            &topic,
            "-m",
            "via socks, with tls",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), "via http\nvia socks, with tls\n");
    let credentials = Some("me:secret".to_owned());
    assert_eq!(
        socks
            .requests()
            .iter()
            .map(ProxyRequest::socks)
            .collect::<Vec<_>>(),
        vec![
            ProxyRequest {
                destination: format!("{HOST}:{tcp}"),
                credentials: credentials.clone()
            },
            ProxyRequest {
                destination: format!("{HOST}:{tls}"),
                credentials
            },
        ]
    );
    assert_eq!(
        http.requests()
            .iter()
            .map(ProxyRequest::http)
            .collect::<Vec<_>>(),
        vec![ProxyRequest {
            destination: format!("{HOST}:{tcp}"),
            // base64("me:secret")
            credentials: Some("Basic bWU6c2VjcmV0".into()),
        }]
    );

    let wrong = format!("socks5h://me:wrong@{HOST}:{}", socks.port());
    let done = run(
        &pub_exe,
        &[
            "-h", HOST, "-p", &tcp, "--proxy", &wrong, "-t", &topic, "-m", "x",
        ],
    );
    assert_one_line_failure(&done, &["proxy error"], "a wrong proxy password");
}

/// `-L ws://host:port/topic`: both tools speak MQTT over websockets, to the path /mqtt with the `mqtt`
/// subprotocol, through a websocket relay in front of mosquitto's TCP listener.
#[cfg(all(feature = "tls", feature = "websockets"))]
#[test]
fn websockets_url_pub_and_sub() {
    use crate::transport_support::ws_relay::{Framing, WsRelay};

    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = transport_broker() else {
        return;
    };
    let relay = WsRelay::start(broker.tcp, Framing::as_read());
    let topic = format!("cli/ws/{}", common::unique());
    let url = format!("ws://{HOST}:{}/{topic}", relay.port());
    let sub = our_sub_subscribed(&["-L", &url, "-C", "1", "-q", "1", "-v"]);
    let done = run(&pub_exe, &["-L", &url, "-m", "over websockets", "-q", "1"]);
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), format!("{topic} over websockets\n"));
    let upgrade = ProxyRequest {
        destination: "/mqtt".into(),
        credentials: Some("mqtt".into()),
    };
    let upgrades: Vec<ProxyRequest> = relay
        .connections()
        .iter()
        .map(|c| ProxyRequest {
            destination: c.path.clone(),
            credentials: c.protocols.clone(),
        })
        .collect();
    assert_eq!(upgrades, vec![upgrade.clone(), upgrade]);
}
