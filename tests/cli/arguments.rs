//! Arguments: usage, help, unsupported options and connection errors, each one clear line and a
//! status, never a panic.

use std::path::Path;

use crate::common::{self, watchdog, HOST, TEST_LIMIT};
use crate::support::{our, run};

/// Bad arguments: the reason and the usage on stderr, nothing on stdout, status 1, and no connection
/// attempted (the port has no listener, so a connection attempt would say "Connection refused").
#[test]
fn bad_arguments_print_usage_and_exit_1() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let p = port.as_str();
    let cases: Vec<(&Path, Vec<&str>, &str)> = vec![
        (&pub_exe, vec![], "Both topic and message must be supplied"),
        (&pub_exe, vec!["-t", "a"], "Both topic and message"),
        (&pub_exe, vec!["-m", "a"], "Both topic and message"),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-q", "3"],
            "Invalid QoS",
        ),
        (
            &pub_exe,
            vec!["-t", "a/#", "-m", "x"],
            "Invalid publish topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-k", "2"],
            "Invalid keepalive",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "0"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "70000"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-p", "x"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--bogus"],
            "Unknown option '--bogus'",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-v"],
            "Unknown option '-v'",
        ),
        (
            &pub_exe,
            vec!["-i", "a", "-I", "b"],
            "cannot be used together",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-n"],
            "Only one type of message",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m"],
            "-m argument given but no message specified",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat", "0"],
            "Invalid repeat count",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat-delay", "-1"],
            "Invalid repeat delay",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--repeat-delay", "1e30"],
            "Invalid repeat delay",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-V", "4"],
            "Invalid protocol version",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-M", "0"],
            "Invalid max inflight",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-payload", "w"],
            "no will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-retain"],
            "no will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--will-topic", "w/+"],
            "Invalid will topic",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-P", "pw"],
            "needs a username",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--store", "/tmp/pahoish-never"],
            "client id (-i) if you are using --store",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "-i", "a", "--store-sync", "often"],
            "--store-sync takes always, never or a number of milliseconds",
        ),
        (
            &pub_exe,
            vec!["-L", "foo://h/t", "-m", "x"],
            "Unsupported URL scheme",
        ),
        (&pub_exe, vec!["-L", "mqtt://h", "-m", "x"], "topic missing"),
        (
            &pub_exe,
            vec!["-L", "mqtt://h:0/t", "-m", "x"],
            "Invalid port",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "ftp://p"],
            "Unsupported proxy",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "socks5h://p:0"],
            "Invalid port '0' in proxy URL",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--proxy", "socks5h://u:p@"],
            "No host in proxy URL",
        ),
        (
            &pub_exe,
            vec!["-L", "mqtt://[::1/t", "-m", "x"],
            "Invalid IPv6 address",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--tls-version", "tlsv1"],
            "Invalid TLS version 'tlsv1'",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--key", "k.pem"],
            "no --cert",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--cafile"],
            "--cafile argument given but no file specified",
        ),
        (
            &pub_exe,
            vec!["-t", "a", "-m", "x", "--unix", "/s", "--cafile", "ca.pem"],
            "--unix cannot be used with TLS options",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "--unix", "/s", "--proxy", "socks5h://p"],
            "--unix cannot be used with --proxy",
        ),
        (
            &sub_exe,
            vec!["--unix", "/s", "-L", "mqtt://h/t"],
            "--unix cannot be used with -L",
        ),
        (&sub_exe, vec![], "You must specify a topic"),
        (&sub_exe, vec!["-t", "a/#/b"], "Invalid subscription topic"),
        (
            &sub_exe,
            vec!["-t", "a", "-T", "b+"],
            "Invalid topic filter",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "%z"],
            "Invalid format specifier 'z'",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "100%"],
            "Incomplete format specifier",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-F", "\\q"],
            "Invalid escape specifier 'q'",
        ),
        (&sub_exe, vec!["-t", "a", "-F", "%J"], "not supported"),
        (
            &sub_exe,
            vec!["-t", "a", "-R", "--retained-only"],
            "makes no sense",
        ),
        (
            &sub_exe,
            vec!["-t", "a", "-C", "0"],
            "Invalid message count",
        ),
        (&sub_exe, vec!["-t", "a", "-W", "0"], "Invalid timeout"),
        (&sub_exe, vec!["-t", "a", "-m", "x"], "Unknown option '-m'"),
        (
            &sub_exe,
            vec!["-t", "a", "-c"],
            "You must provide a client id",
        ),
    ];
    // A password in a URL that does not parse is never printed back.
    let cases = cases.into_iter().chain([
        (
            pub_exe.as_path(),
            vec!["-L", "foo://u:s3cret@h/t", "-m", "x"],
            "Unsupported URL scheme",
        ),
        (
            pub_exe.as_path(),
            vec!["-L", "mqtt://u:s3cret@h:0/t", "-m", "x"],
            "Invalid port",
        ),
        (
            pub_exe.as_path(),
            vec!["-t", "a", "-m", "x", "--proxy", "ftp://u:s3cret@p"],
            "Unsupported proxy",
        ),
        (
            pub_exe.as_path(),
            vec!["-t", "a", "-m", "x", "--proxy", "socks5h://u:s3cret"],
            "proxy",
        ),
    ]);
    for (exe, extra, reason) in cases {
        let mut args = vec!["-h", HOST, "-p", p];
        args.extend(extra);
        let done = run(exe, &args);
        done.assert_no_panic();
        assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
        assert!(done.stdout.is_empty(), "{args:?}: {done:?}");
        assert!(done.stderr.starts_with("Error: "), "{args:?}: {done:?}");
        assert!(
            done.stderr.contains(reason),
            "{args:?}: wanted {reason:?} in {done:?}"
        );
        assert!(done.stderr.contains("Usage: "), "{args:?}: {done:?}");
        assert!(
            !done.stderr.contains("Connection refused"),
            "{args:?}: {done:?}"
        );
        assert!(!done.stderr.contains("s3cret"), "{args:?}: {done:?}");
    }
}

/// `--help` and `--version` print to stdout and exit 0; the help names every option of the issue.
#[test]
fn help_and_version() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let common_opts = [
        "--host",
        "--port",
        "--url",
        "--id",
        "--id-prefix",
        "--keepalive",
        "--disable-clean-session",
        "--protocol-version",
        "--username",
        "--pw",
        "--will-topic",
        "--will-payload",
        "--will-qos",
        "--will-retain",
        "--cafile",
        "--capath",
        "--cert",
        "--key",
        "--insecure",
        "--tls-alpn",
        "--tls-version",
        "--tls-use-os-certs",
        "--ciphers",
        "--unix",
        "--proxy",
        "--debug",
        "--quiet",
        "--help",
        "--version",
    ];
    let pub_opts = [
        "--topic",
        "--message",
        "--file",
        "--stdin-line",
        "--stdin-file",
        "--null-message",
        "--qos",
        "--retain",
        "--repeat",
        "--repeat-delay",
        "-M",
    ];
    let sub_opts = [
        "--topic",
        "--filter-out",
        "--unsubscribe",
        "--qos",
        "-C",
        "-W",
        "-E",
        "-R",
        "--retained-only",
        "--remove-retained",
        "--verbose",
        "-N",
        "-F",
    ];
    for (exe, own) in [(&pub_exe, &pub_opts[..]), (&sub_exe, &sub_opts[..])] {
        let done = run(exe, &["--help"]);
        assert_eq!(done.status, Some(0), "{done:?}");
        assert!(done.stderr.is_empty(), "{done:?}");
        let help = done.stdout_text();
        for opt in common_opts.iter().chain(own) {
            assert!(help.contains(opt), "--help lacks {opt}:\n{help}");
        }
        let done = run(exe, &["--version"]);
        assert_eq!(done.status, Some(0), "{done:?}");
        assert!(done.stdout_text().contains("pahoish"), "{done:?}");
    }
}

/// What this version cannot do is refused with one clear line and status 1, before any connection
/// (the port has no listener, so a connection attempt would say "Connection refused"): `--ciphers`
/// (the TLS library has no cipher selection), and `--tls-use-os-certs` with `--cafile`. (MQTT 5 is
/// supported: tests/cli/mqtt5.rs.)
#[test]
fn unsupported_options_are_refused_not_ignored() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let p = port.as_str();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--cafile", "/etc/ssl/ca.pem", "--ciphers", "HIGH"],
            "--ciphers is not supported",
        ),
        (vec!["--ciphers", "HIGH"], "--ciphers is not supported"),
        (
            vec!["--tls-use-os-certs", "--cafile", "/etc/ssl/ca.pem"],
            "--tls-use-os-certs cannot be combined",
        ),
    ];
    for (exe, extra) in [
        (&pub_exe, ["-t", "a", "-m", "x"]),
        (&sub_exe, ["-t", "a", "-C", "1"]),
    ] {
        for (case, reason) in &cases {
            let mut args = case.clone();
            args.extend(extra);
            args.extend(["-h", HOST, "-p", p]);
            let done = run(exe, &args);
            done.assert_no_panic();
            assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
            assert!(
                done.stderr.contains("not supported") || done.stderr.contains("cannot be combined"),
                "{args:?}: {done:?}"
            );
            assert!(done.stderr.contains(reason), "{args:?}: {done:?}");
            assert!(
                !done.stderr.contains("Connection refused"),
                "{args:?}: {done:?}"
            );
            assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {done:?}");
        }
    }
}

/// The transports are used, not ignored: with no listener anywhere, each option fails at the step it
/// adds, and says so in one line (status 1): `--unix` names the socket, `--proxy` the proxy, and
/// `-L ws://`, `mqtts://` and TLS options try the broker's port (so "Connection refused").
#[test]
fn transport_options_are_used_not_ignored() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let proxy_port = common::free_port().to_string();
    let socket = std::env::temp_dir()
        .join(format!("pahoish-cli-no-such-{}.sock", std::process::id()))
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let socks = format!("socks5h://{HOST}:{proxy_port}");
    let http = format!("http://{HOST}:{proxy_port}");
    let ws = format!("ws://{HOST}:{port}/a");
    let mqtts = format!("mqtts://{HOST}:{port}/a");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--unix", &socket, "-t", "a"], socket.clone()),
        (
            vec!["-h", HOST, "-p", &port, "--proxy", &socks, "-t", "a"],
            format!("proxy at {HOST}:{proxy_port}"),
        ),
        (
            vec!["-h", HOST, "-p", &port, "--proxy", &http, "-t", "a"],
            format!("proxy at {HOST}:{proxy_port}"),
        ),
        (vec!["-L", &ws], "Connection refused".into()),
        (vec!["-L", &mqtts], "Connection refused".into()),
        (
            vec!["-h", HOST, "-p", &port, "--insecure", "-t", "a"],
            "Connection refused".into(),
        ),
    ];
    for (exe, extra) in [(&pub_exe, ["-m", "x"]), (&sub_exe, ["-C", "1"])] {
        for (case, needle) in &cases {
            let mut args = case.clone();
            args.extend(extra);
            let done = run(exe, &args);
            done.assert_no_panic();
            assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
            assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {done:?}");
            assert!(
                done.stderr.contains(needle.as_str()),
                "{args:?}: wanted {needle:?} in {done:?}"
            );
        }
    }
}

/// No broker: one line naming the reason (as mosquitto: "Error: Connection refused"), status 1; with
/// --quiet, nothing.
#[test]
fn connection_refused_is_one_line() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    for (exe, args) in [
        (&pub_exe, ["-t", "a", "-m", "x"]),
        (&sub_exe, ["-t", "a", "-v", "-v"]),
    ] {
        let mut a = args.to_vec();
        a.extend(["-h", HOST, "-p", &port]);
        let done = run(exe, &a);
        done.assert_no_panic();
        assert_eq!(done.status, Some(1), "{done:?}");
        assert_eq!(done.stderr, "Error: Connection refused\n");
        a.push("--quiet");
        let done = run(exe, &a);
        assert_eq!(done.status, Some(1), "{done:?}");
        assert_eq!(done.stderr, "");
    }
}
