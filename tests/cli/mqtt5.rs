//! MQTT 5 in the tools: `-V mqttv5` and `-D command identifier value` against `MockBroker`, byte for
//! byte (CONNECT with its properties, Clean Start and the will's properties, PUBLISH, SUBSCRIBE,
//! UNSUBSCRIBE and DISCONNECT with theirs), the `-F` property fields of a message, a refused 5.0
//! CONNACK and a server DISCONNECT with their reason strings, the `-D` argument errors, and the user
//! properties crossing mosquitto 2.0.11 with mosquitto_pub/mosquitto_sub in both directions.

use pahoish::testing::{MockBroker, MockError, MockSession};

use crate::common::{self, watchdog, HOST, TEST_LIMIT, WAIT};
use crate::mosquitto_tools::mosquitto_sub_ready;
use crate::support::{mosquitto_setup, our, our_sub_subscribed, run};

/// What `MockBroker::finish` is given.
const FINISH: std::time::Duration = std::time::Duration::from_secs(15);

/// CONNACK 5.0: accepted, no properties.
const CONNACK_ACCEPTED: [u8; 5] = [0x20, 0x03, 0x00, 0x00, 0x00];

/// The CONNECT of `-V 5` with the defaults: Clean Start, keepalive 60, no id, no properties.
const CONNECT_DEFAULT: [u8; 15] = [
    0x10, 0x0d, // CONNECT, remaining length 13
    0x00, 0x04, b'M', b'Q', b'T', b'T', // "MQTT"
    0x05, // protocol level 5
    0x02, // flags: Clean Start
    0x00, 0x3c, // keepalive 60
    0x00, // no properties
    0x00, 0x00, // client id "" (the broker assigns one)
];

fn clean_close(s: &mut MockSession) -> Result<(), MockError> {
    s.expect(&[0xe0, 0x00])?;
    s.expect_closed()
}

/// The brief's example: `pub -V 5 -D publish user-property k v -D publish content-type text/plain`
/// sends exactly this CONNECT and PUBLISH (the properties in identifier order), then DISCONNECT.
#[test]
fn pub_publish_properties_bytes() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x30, 0x19, // PUBLISH QoS 0, remaining length 25
            0x00, 0x01, b't', // topic "t"
            0x14, // properties: 20 bytes
            0x03, 0x00, 0x0a, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a', b'i',
            b'n', // content type "text/plain"
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
            b'x', // payload
        ])?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-V",
            "5",
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-t",
            "t",
            "-m",
            "x",
        ],
    );
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
}

/// `-D connect`, `-D will` and `-D disconnect` (without `-V`: `-D` means MQTT 5, as in mosquitto), and
/// `-c`: Clean Start off, the session expiry given kept. Then `-c` alone keeps the session for ever
/// (4294967295 s), as mosquitto does.
#[test]
fn pub_connect_will_and_disconnect_properties_bytes() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x31, // CONNECT, remaining length 49
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, // "MQTT" 5
            0x0c, // flags: will QoS 1, will; no Clean Start (-c)
            0x00, 0x3c, // keepalive 60
            0x0f, // properties: 15 bytes
            0x11, 0x00, 0x00, 0x00, 0x3c, // session expiry 60
            0x21, 0x00, 0x0a, // receive maximum 10
            0x26, 0x00, 0x01, b'u', 0x00, 0x01, b'1', // user property u=1
            0x00, 0x02, b'c', b'5', // client id "c5"
            0x0a, // will properties: 10 bytes
            0x03, 0x00, 0x02, b'c', b't', // content type "ct"
            0x18, 0x00, 0x00, 0x00, 0x05, // will delay 5
            0x00, 0x01, b'w', // will topic "w"
            0x00, 0x03, b'b', b'y', b'e', // will payload "bye"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[0x30, 0x05, 0x00, 0x01, b't', 0x00, b'x'])?;
        s.expect(&[
            0xe0, 0x09, // DISCONNECT, remaining length 9
            0x00, // normal disconnection
            0x07, 0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property a=b
        ])?;
        s.expect_closed()?;

        s.accept()?;
        s.expect(&[
            0x10, 0x14, // CONNECT, remaining length 20
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, // "MQTT" 5
            0x00, // flags: no Clean Start
            0x00, 0x3c, // keepalive 60
            0x05, 0x11, 0xff, 0xff, 0xff, 0xff, // session expiry 4294967295
            0x00, 0x02, b'c', b'6', // client id "c6"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[0x30, 0x05, 0x00, 0x01, b't', 0x00, b'x'])?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    #[rustfmt::skip]
    let done = run(&exe, &[
        "-h", HOST, "-p", &port, "-i", "c5", "-c", "-t", "t", "-m", "x",
        "-D", "connect", "session-expiry-interval", "60",
        "-D", "connect", "receive-maximum", "10",
        "-D", "connect", "user-property", "u", "1",
        "--will-topic", "w", "--will-payload", "bye", "--will-qos", "1",
        "-D", "will", "will-delay-interval", "5",
        "-D", "will", "content-type", "ct",
        "-D", "disconnect", "user-property", "a", "b",
    ]);
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(
        &exe,
        &[
            "-h", HOST, "-p", &port, "-V", "mqttv5", "-i", "c6", "-c", "-t", "t", "-m", "x",
        ],
    );
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
}

/// sub's SUBSCRIBE and UNSUBSCRIBE with their `-D` properties, and every 5.0 `-F` field of the
/// message the broker sends.
#[test]
fn sub_properties_bytes_and_format_fields() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x82, 0x10, // SUBSCRIBE, remaining length 16
            0x00, 0x01, // packet identifier 1
            0x09, // properties: 9 bytes
            0x0b, 0x07, // subscription identifier 7
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property a=b
            0x00, 0x01, b'x', 0x01, // "x", QoS 1
        ])?;
        s.expect(&[
            0xa2, 0x0d, // UNSUBSCRIBE, remaining length 13
            0x00, 0x02, // packet identifier 2
            0x07, 0x26, 0x00, 0x01, b'c', 0x00, 0x01, b'd', // user property c=d
            0x00, 0x01, b'y', // "y"
        ])?;
        s.send(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x01])?; // SUBACK: QoS 1
        s.send(&[0xb0, 0x04, 0x00, 0x02, 0x00, 0x00])?; // UNSUBACK: success
        s.send(&[
            0x30, 0x2c, // PUBLISH QoS 0, remaining length 44
            0x00, 0x01, b'x', // topic "x"
            0x27, // properties: 39 bytes
            0x01, 0x01, // payload format indicator 1
            0x02, 0x00, 0x00, 0x01, 0x2c, // message expiry 300
            0x03, 0x00, 0x02, b'c', b't', // content type "ct"
            0x08, 0x00, 0x03, b'r', b'/', b't', // response topic "r/t"
            0x09, 0x00, 0x02, b'i', b'd', // correlation data "id"
            0x0b, 0x07, // subscription identifier 7
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
            0x26, 0x00, 0x01, b'm', 0x00, 0x01, b'n', // user property m=n
            b'p', // payload
        ])?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    #[rustfmt::skip]
    let done = run(&exe, &[
        "-h", HOST, "-p", &port, "-V", "5", "-t", "x", "-q", "1", "-U", "y", "-C", "1",
        "-D", "subscribe", "subscription-identifier", "7",
        "-D", "subscribe", "user-property", "a", "b",
        "-D", "unsubscribe", "user-property", "c", "d",
        "-F", "%P|%C|%D|%E|%F|%R|%S|[%A]|%p",
    ]);
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout_text(), "k:v m:n|ct|id|300|1|r/t|7|[]|p\n");
}

/// A refused 5.0 CONNACK: mosquitto's `Connection error: <reason code name>` (with its hint for
/// Unsupported protocol version), the broker's reason string on the next line, status 5.
#[test]
fn refused_connack_prints_reason_code_and_string() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        for _ in 0..2 {
            s.accept()?;
            s.expect(&CONNECT_DEFAULT)?;
            // CONNACK: Not authorized, reason string "nope".
            s.send(&[
                0x20, 0x0a, 0x00, 0x87, 0x07, 0x1f, 0x00, 0x04, b'n', b'o', b'p', b'e',
            ])?;
            s.expect_closed()?;
        }
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&[0x20, 0x03, 0x00, 0x84, 0x00])?; // Unsupported protocol version
        s.expect_closed()
    });
    let port = broker.port().to_string();
    for (exe, args) in [
        (&pub_exe, ["-t", "t", "-m", "x"]),
        (&sub_exe, ["-t", "t", "-C", "1"]),
    ] {
        let mut a = vec!["-h", HOST, "-p", &port, "-V", "5"];
        a.extend(args);
        let done = run(exe, &a);
        done.assert_no_panic();
        assert_eq!(done.status, Some(5), "{done:?}");
        assert_eq!(done.stderr, "Connection error: Not authorized\nnope\n");
    }
    let done = run(
        &pub_exe,
        &["-h", HOST, "-p", &port, "-V", "5", "-t", "t", "-n"],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(5), "{done:?}");
    assert_eq!(
        done.stderr,
        "Connection error: Unsupported protocol version. Try connecting to an MQTT v5 broker, or \
         use MQTT v3.x mode.\n"
    );
}

/// A DISCONNECT from the broker is printed with its reason code's name and reason string; sub then
/// reconnects, subscribes again and goes on.
#[test]
fn server_disconnect_is_printed_and_sub_reconnects() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        for mid in 1..=2 {
            s.accept()?;
            s.expect(&CONNECT_DEFAULT)?;
            s.send(&CONNACK_ACCEPTED)?;
            // SUBSCRIBE "x", QoS 0, no properties; SUBACK.
            s.expect(&[0x82, 0x07, 0x00, mid, 0x00, 0x00, 0x01, b'x', 0x00])?;
            s.send(&[0x90, 0x04, 0x00, mid, 0x00, 0x00])?;
            if mid == 1 {
                // DISCONNECT: Server shutting down, reason string "bye".
                s.send(&[0xe0, 0x08, 0x8b, 0x06, 0x1f, 0x00, 0x03, b'b', b'y', b'e'])?;
                s.expect_closed()?;
            }
        }
        s.send(&[0x30, 0x05, 0x00, 0x01, b'x', 0x00, b'p'])?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &["-h", HOST, "-p", &port, "-V", "5", "-t", "x", "-C", "1"],
    );
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout_text(), "p\n");
    assert_eq!(done.stderr, "Disconnected: Server shutting down\nbye\n");
}

/// `-D` errors: one mosquitto line (the usage follows), status 1, before any connection.
#[test]
fn property_argument_errors() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let port = common::free_port().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-D", "publish", "user-property", "k"],
            "Error: --property argument given but not enough arguments specified.",
        ),
        (
            &["-D", "publish", "content-type"],
            "Error: --property argument given but not enough arguments specified.",
        ),
        (
            &["-D", "bogus", "content-type", "x"],
            "Error: Invalid command given in --property argument.",
        ),
        (
            &["-D", "publish", "colour", "x"],
            "Error: Invalid property name given in --property argument.",
        ),
        (
            &["-D", "connect", "content-type", "x"],
            "Error: content-type property not allowed for connect in --property argument.",
        ),
        (
            &["-D", "publish", "subscription-identifier", "3"],
            "Error: subscription-identifier property not supported for publish in --property argument.",
        ),
        (
            &["-D", "connack", "receive-maximum", "3"],
            "Error: receive-maximum property not supported for connack in --property argument.",
        ),
        (
            &["-D", "publish", "message-expiry-interval", "-5"],
            "Error: Property value (-5) out of range for property message-expiry-interval.",
        ),
        (
            &["-D", "connect", "receive-maximum", "70000"],
            "Error: Property value (70000) out of range for property receive-maximum.",
        ),
        (
            &["-D", "publish", "message-expiry-interval", "soon"],
            "Error: Invalid property value 'soon' for property message-expiry-interval: it must be a whole number.",
        ),
        (
            &["-D", "publish", "topic-alias", "0"],
            "Error: Property value (0) out of range for property topic-alias: it must be in the range 1-65535.",
        ),
        (
            &["-D", "publish", "payload-format-indicator", "2"],
            "Error: Property value (2) out of range for property payload-format-indicator: it must be 0 or 1.",
        ),
        (
            &["-D", "publish", "content-type", "a", "-D", "publish", "content-type", "b"],
            "Error: content-type property given twice for publish: it may be given once.",
        ),
        (
            &["-V", "311", "-D", "publish", "content-type", "a"],
            "Error: -D/--property needs MQTT v5: use -V mqttv5 (or leave -V out).",
        ),
        (
            &["-D", "publish", "content-type", "a", "-V", "mqttv31"],
            "Error: -D/--property needs MQTT v5: use -V mqttv5 (or leave -V out).",
        ),
        (
            &["-D", "will", "content-type", "a"],
            "Error: Will properties given, but no will topic given.",
        ),
    ];
    for (exe, tail) in [
        (&pub_exe, ["-t", "t", "-m", "x"]),
        (&sub_exe, ["-t", "t", "-C", "1"]),
    ] {
        for (case, line) in cases {
            // The case last: a -D short of values must not take the next option as one.
            let mut args = vec!["-h", HOST, "-p", &port];
            args.extend(tail);
            args.extend(*case);
            let done = run(exe, &args);
            done.assert_no_panic();
            assert_eq!(done.status, Some(1), "{args:?}: {done:?}");
            assert_eq!(
                done.stderr.lines().next(),
                Some(*line),
                "{args:?}: {done:?}"
            );
            assert!(done.stderr.contains("Usage:"), "{args:?}: {done:?}");
        }
    }
    // -V with a version mosquitto does not know.
    let done = run(&pub_exe, &["-V", "7", "-t", "t", "-m", "x"]);
    assert_eq!(done.status, Some(1), "{done:?}");
}

/// Our `pub -V mqttv5 -D publish user-property k v` to `mosquitto_sub -V 5 -F %P`, and
/// `mosquitto_pub -V 5 -D publish user-property k v` to our `sub -V 5 -F %P`: both print `k:v`; the
/// other property fields cross too.
#[test]
fn user_properties_cross_mosquitto_both_ways() {
    let (pub_exe, _) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let format = "%P|%C|%D|%E|%F|%R";
    let props: &[&str] = &[
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-D",
        "publish",
        "content-type",
        "text/plain",
        "-D",
        "publish",
        "correlation-data",
        "c7",
        "-D",
        "publish",
        "message-expiry-interval",
        "600",
        "-D",
        "publish",
        "payload-format-indicator",
        "1",
        "-D",
        "publish",
        "response-topic",
        "re/ply",
    ];
    let want = "k:v|text/plain|c7|600|1|re/ply\n";

    let topic = format!("cli/v5/ours-to-theirs/{}", common::unique());
    let sub = mosquitto_sub_ready(
        &mpub,
        &msub,
        broker.port,
        &topic,
        1,
        &["-V", "5", "-F", format],
    );
    let mut a = vec![
        "-h", HOST, "-p", &port, "-V", "mqttv5", "-t", &topic, "-m", "x",
    ];
    a.extend(props);
    let done = run(&pub_exe, &a);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), want);

    let topic = format!("cli/v5/theirs-to-ours/{}", common::unique());
    let sub = our_sub_subscribed(&[
        "-h", HOST, "-p", &port, "-V", "5", "-t", &topic, "-C", "1", "-F", format,
    ]);
    let mut a = vec!["-h", HOST, "-p", &port, "-V", "5", "-t", &topic, "-m", "y"];
    a.extend(props);
    let done = run(&mpub, &a);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    got.assert_no_panic();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert_eq!(got.stdout_text(), want);
}

/// mosquitto refuses a CONNECT with an authentication method it has no plugin for: our tools print
/// the reason code's name as mosquitto's own tools do, with status 5.
#[test]
fn mosquitto_refusal_matches_mosquitto_pub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, _)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let args = [
        "-h",
        HOST,
        "-p",
        &port,
        "-D",
        "connect",
        "authentication-method",
        "none-such",
        "-t",
        "t",
        "-m",
        "x",
    ];
    let ours = run(&pub_exe, &args);
    ours.assert_no_panic();
    assert_eq!(ours.status, Some(5), "{ours:?}");
    let theirs = run(&mpub, &args);
    let first = |s: &str| s.lines().next().map(str::to_owned);
    assert_eq!(first(&ours.stderr), first(&theirs.stderr), "{theirs:?}");
    assert_eq!(
        first(&ours.stderr).as_deref(),
        Some("Connection error: Bad authentication method")
    );
}

/// `%j` on MQTT 5: the `"properties"` object mosquitto_sub (built with cJSON) prints, byte for byte
/// the same from both subscribers (but for the time) for one message of our pub.
#[test]
fn json_properties_match_mosquitto_sub() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let topic = format!("cli/v5/json/{}", common::unique());
    let theirs = mosquitto_sub_ready(
        &mpub,
        &msub,
        broker.port,
        &topic,
        1,
        &["-V", "5", "-F", "%j"],
    );
    let ours = our_sub_subscribed(&[
        "-h", HOST, "-p", &port, "-V", "5", "-t", &topic, "-C", "1", "-F", "%j",
    ]);
    #[rustfmt::skip]
    let done = run(&pub_exe, &[
        "-h", HOST, "-p", &port, "-t", &topic, "-m", "{\"a\":1}", "-q", "1",
        "-D", "publish", "user-property", "k", "v",
        "-D", "publish", "user-property", "k2", "v2",
        "-D", "publish", "content-type", "application/json",
        "-D", "publish", "response-topic", "re/ply",
        "-D", "publish", "correlation-data", "c7",
        "-D", "publish", "payload-format-indicator", "1",
    ]);
    assert_eq!(done.status, Some(0), "{done:?}");
    let theirs = theirs.finish();
    let ours = ours.finish(WAIT);
    ours.assert_no_panic();
    assert_eq!(ours.status, Some(0), "{ours:?}");
    // Everything after the time stamp.
    let tail = |s: String| s.split_once("\",\"topic\"").map(|(_, t)| t.to_owned());
    let want = tail(theirs.stdout_text());
    assert!(
        want.as_deref()
            .is_some_and(|w| w.contains("\"user-properties\":{\"k\":\"v\",\"k2\":\"v2\"}")),
        "{theirs:?}"
    );
    assert_eq!(tail(ours.stdout_text()), want);
}
