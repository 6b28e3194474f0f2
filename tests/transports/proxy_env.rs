//! The MQTT_PROXY environment variable.
//!
//! Environment variables belong to the whole process, and every other test here connects without
//! `proxy_set`: setting MQTT_PROXY in this process would send them through a proxy. So the client runs
//! in a child process (this test binary again, running only `proxy_env_child`) whose environment is set
//! when it is started; the parent runs the broker and the proxies and checks what they saw.

use std::net::Ipv4Addr;

use mqtt::{Client, ProxyType};
use pahoish as mqtt;

use crate::common::{self, client_id, watchdog, TEST_LIMIT};
use crate::support::{connected, proxy, round_trips};
use crate::transport_support::broker::Broker;
use crate::transport_support::proxy::{base64, HttpProxy, SocksProxy, Target};

/// The variables the child reads: the broker's port, and optionally a SOCKS5 proxy for `proxy_set`.
const CHILD_BROKER: &str = "PAHOISH_PROXY_CHILD_BROKER";
const CHILD_PROXY_SET: &str = "PAHOISH_PROXY_CHILD_PROXY_SET";

/// Runs `proxy_env_child` in a child process with `env` (and no other proxy variables), failing the
/// test if the child fails.
fn run_proxy_env_child(broker_port: u16, env: &[(&str, String)], proxy_set: Option<u16>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "proxy_env::proxy_env_child",
        "--exact",
        "--ignored",
        "--nocapture",
    ]);
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
