//! Every invalid argument is an `Err` that names the problem, never a panic (PAHO.md, "Invalid
//! arguments": what Python Paho raises as ValueError). Table-driven: each row is the call, the expected
//! `Error` variant, a piece of text its Display must contain, and the Paho return code `err.rc()`.
//!
//! No broker is needed: every check happens before anything touches the network. Each row runs on a
//! thread of its own so that a panic is reported as that row's failure and a hang fails after a timeout.

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use pahoish::{
    CleanStart, Client, ConnectOptions, Error, ErrorCode, MQTTv5, PacketTypes, Properties,
    Property, Proxy, ProxyType, ReasonCode, SubscribeOptions, MQTT_ERR_INVAL,
    MQTT_ERR_NOT_SUPPORTED, MQTT_ERR_NO_CONN, MQTT_ERR_PAYLOAD_SIZE,
};

type Call = Arc<dyn Fn(&Client) -> pahoish::Result<()> + Send + Sync>;

/// One row of the table.
struct Case {
    /// The call, as written below (for the failure report).
    call: &'static str,
    run: Call,
    /// The expected variant, as written below.
    variant: &'static str,
    is_variant: fn(&Error) -> bool,
    /// Text the error's Display must contain.
    message: &'static str,
    rc: ErrorCode,
}

/// `case!(|c| <call on the fresh client c>, <Error pattern>, "<text in Display>", <rc>)`.
macro_rules! case {
    ($call:expr, $pat:pat, $message:expr, $rc:expr) => {
        Case {
            call: stringify!($call),
            run: Arc::new(|c: &Client| ($call)(c).map(drop)),
            variant: stringify!($pat),
            is_variant: |e| matches!(e, $pat),
            message: $message,
            rc: $rc,
        }
    };
}

fn table() -> Vec<Case> {
    let mut cases = common_cases();
    cases.extend(tls_cases());
    cases
}

/// What TLS refuses, in a build with TLS.
#[cfg(feature = "tls")]
fn tls_cases() -> Vec<Case> {
    use pahoish::{TlsOptions, Transport};
    vec![
        case!(
            |_c: &Client| {
                let unix = Client::builder().transport(Transport::Unix).build()?;
                unix.tls_set(None, None, None)?;
                unix.connect("/nonexistent/mqtt.sock", 0, 60)
            },
            Error::NotSupported(_),
            "TLS over a Unix socket",
            MQTT_ERR_NOT_SUPPORTED
        ),
        case!(
            |c: &Client| c.tls_set(Some("/nonexistent/ca.crt"), None, None),
            Error::InvalidArgument {
                name: "ca_certs",
                ..
            },
            "cannot read /nonexistent/ca.crt",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.tls_set(None, Some("/nonexistent/client.crt"), None),
            Error::InvalidArgument {
                name: "certfile",
                ..
            },
            "cannot read /nonexistent/client.crt",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.tls_set_with(TlsOptions {
                keyfile: Some("/nonexistent/client.key".into()),
                ..Default::default()
            }),
            Error::InvalidArgument {
                name: "keyfile",
                ..
            },
            "a keyfile needs its certfile",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.tls_set_with(TlsOptions {
                ciphers: Some("HIGH".into()),
                ..Default::default()
            }),
            Error::NotSupported(_),
            "ciphers",
            MQTT_ERR_NOT_SUPPORTED
        ),
        case!(
            |c: &Client| c
                .tls_set(None, None, None)
                .and_then(|_| c.tls_set(None, None, None)),
            Error::InvalidArgument { name: "tls", .. },
            "already been configured",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.tls_insecure_set(true),
            Error::InvalidArgument {
                name: "tls_insecure_set",
                ..
            },
            "configure TLS first",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c
                .tls_set(None, None, None)
                .and_then(|_| c.connect_url("mqtt://127.0.0.1:1883", 60)),
            Error::InvalidArgument { name: "url", .. },
            "but TLS is configured: use mqtts://",
            MQTT_ERR_INVAL
        ),
    ]
}

/// Without the `tls` feature, every TLS call says so rather than connecting in the clear.
#[cfg(not(feature = "tls"))]
fn tls_cases() -> Vec<Case> {
    vec![
        case!(
            |c: &Client| c.tls_set(None, None, None),
            Error::NotSupported(_),
            "lacks the `tls` feature",
            MQTT_ERR_NOT_SUPPORTED
        ),
        case!(
            |c: &Client| c.connect_url("mqtts://127.0.0.1:8883", 60),
            Error::NotSupported(_),
            "lacks the `tls` feature",
            MQTT_ERR_NOT_SUPPORTED
        ),
    ]
}

fn common_cases() -> Vec<Case> {
    vec![
        // ---- publish ----
        case!(
            |c: &Client| c.publish("", "x", 0, false),
            Error::InvalidTopic { .. },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a/+/b", "x", 0, false),
            Error::InvalidTopic { .. },
            "wildcards '+' or '#'",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a/#", "x", 1, false),
            Error::InvalidTopic { .. },
            "wildcards '+' or '#'",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("#", "x", 2, true),
            Error::InvalidTopic { .. },
            "\"#\"",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a\0b", "x", 0, false),
            Error::InvalidTopic { .. },
            "NUL",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish(&"a".repeat(65_536), "x", 0, false),
            Error::InvalidTopic { .. },
            "at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a", "x", 3, false),
            Error::InvalidQos(3),
            "invalid QoS 3",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a", "x", -1, false),
            Error::InvalidQos(-1),
            "invalid QoS -1",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish("a", "x", u64::MAX, false),
            Error::InvalidQos(_),
            "QoS must be 0, 1 or 2",
            MQTT_ERR_INVAL
        ),
        // One byte over MQTT's limit. `vec!` of zeros is calloc'd: the pages are never touched.
        case!(
            |c: &Client| c.publish("a", vec![0u8; 268_435_456], 0, false),
            Error::PayloadTooLarge(268_435_456),
            "payload of 268435456 bytes is too large",
            MQTT_ERR_PAYLOAD_SIZE
        ),
        // ---- subscribe ----
        case!(
            |c: &Client| c.subscribe(Vec::<&str>::new(), 0),
            Error::InvalidArgument { name: "topic", .. },
            "the list of topic filters is empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe(Vec::<(&str, i32)>::new(), 0),
            Error::InvalidArgument { name: "topic", .. },
            "the list of topic filters is empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("", 0),
            Error::InvalidFilter { .. },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("a+/b", 0),
            Error::InvalidFilter { .. },
            "'+' must occupy a whole level",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("a/b#", 0),
            Error::InvalidFilter { .. },
            "'#' must occupy a whole level",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("#/a", 0),
            Error::InvalidFilter { .. },
            "'#' must be the last level",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe([("a", 0), ("b#", 1)], 0),
            Error::InvalidFilter { .. },
            "\"b#\"",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("a".repeat(65_536), 0),
            Error::InvalidFilter { .. },
            "at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe("a", 3),
            Error::InvalidQos(3),
            "invalid QoS 3",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe(("a", -1), 0),
            Error::InvalidQos(-1),
            "invalid QoS -1",
            MQTT_ERR_INVAL
        ),
        // ---- unsubscribe ----
        case!(
            |c: &Client| c.unsubscribe(Vec::<&str>::new()),
            Error::InvalidArgument { name: "topic", .. },
            "the list of topic filters is empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.unsubscribe(""),
            Error::InvalidFilter { .. },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.unsubscribe(["a", "a/#/b"]),
            Error::InvalidFilter { .. },
            "\"a/#/b\"",
            MQTT_ERR_INVAL
        ),
        // ---- the loop ----
        case!(
            |c: &Client| c.r#loop(-1.0),
            Error::InvalidArgument {
                name: "timeout",
                ..
            },
            "invalid timeout: -1",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.r#loop(-1),
            Error::InvalidArgument {
                name: "timeout",
                ..
            },
            "invalid timeout: -1 is negative",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.r#loop(f64::NAN),
            Error::InvalidArgument {
                name: "timeout",
                ..
            },
            "invalid timeout: NaN",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.loop_forever(),
            Error::InvalidArgument { name: "host", .. },
            "call connect() or connect_async() first",
            MQTT_ERR_INVAL
        ),
        // ---- connecting ----
        case!(
            |c: &Client| c.reconnect(),
            Error::InvalidArgument { name: "host", .. },
            "reconnect() needs a host",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect("", 1883, 60),
            Error::InvalidArgument { name: "host", .. },
            "invalid host: must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect("localhost", 0, 60),
            Error::InvalidArgument { name: "port", .. },
            "invalid port",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_async("", 1883, 60),
            Error::InvalidArgument { name: "host", .. },
            "invalid host: must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_async("localhost", 0, 60),
            Error::InvalidArgument { name: "port", .. },
            "invalid port",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_timeout_set(-1.0),
            Error::InvalidArgument {
                name: "connect_timeout",
                ..
            },
            "invalid connect_timeout",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.reconnect_delay_set(10, 1),
            Error::InvalidArgument {
                name: "min_delay",
                ..
            },
            "is larger than max_delay",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.reconnect_delay_set(-1, 5),
            Error::InvalidArgument {
                name: "min_delay",
                ..
            },
            "invalid min_delay: -1 is negative",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.reconnect_delay_set(1, f64::INFINITY),
            Error::InvalidArgument {
                name: "max_delay",
                ..
            },
            "invalid max_delay",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.read_coalescing_set(std::time::Duration::from_millis(11)),
            Error::InvalidArgument {
                name: "read_coalescing",
                ..
            },
            "invalid read_coalescing: 11ms is longer than the limit, 10ms",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.max_packet_size_set(3),
            Error::InvalidArgument {
                name: "max_packet_size",
                ..
            },
            "invalid max_packet_size: 3 is outside 4..=268435460",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.max_packet_size_set(268_435_461),
            Error::InvalidArgument {
                name: "max_packet_size",
                ..
            },
            "invalid max_packet_size: 268435461 is outside 4..=268435460",
            MQTT_ERR_INVAL
        ),
        // ---- construction ----
        case!(
            |_c: &Client| Client::builder().clean_session(false).build(),
            Error::InvalidArgument {
                name: "clean_session",
                ..
            },
            "a client id must be provided if clean_session is false",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.reinitialise("", false, ()),
            Error::InvalidArgument {
                name: "clean_session",
                ..
            },
            "a client id must be provided if clean_session is false",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| Client::builder().client_id("a".repeat(65_536)).build(),
            Error::InvalidArgument {
                name: "client_id",
                ..
            },
            "at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| Client::builder().client_id("a\0b").build(),
            Error::InvalidArgument {
                name: "client_id",
                ..
            },
            "NUL character",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.reinitialise("a\0b", true, ()),
            Error::InvalidArgument {
                name: "client_id",
                ..
            },
            "NUL character",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.username_pw_set("u\0", None),
            Error::InvalidArgument {
                name: "username",
                ..
            },
            "NUL character",
            MQTT_ERR_INVAL
        ),
        // ---- MQTT 5: what Paho raises ValueError for, and what 3.1.1 refuses ----
        case!(
            |_c: &Client| Client::builder()
                .protocol(MQTTv5)
                .clean_session(true)
                .build(),
            Error::InvalidArgument {
                name: "clean_session",
                ..
            },
            "not used for MQTT 5.0",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_async_with(
                "127.0.0.1",
                1883,
                60,
                ConnectOptions {
                    clean_start: CleanStart::Never,
                    ..Default::default()
                }
            ),
            Error::InvalidArgument {
                name: "clean_start",
                ..
            },
            "only applies to MQTT V5",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.publish_with(
                "a",
                "x",
                0,
                false,
                Properties::new(PacketTypes::PUBLISH)
                    .with(Property::ContentType("t".into()))
                    .unwrap()
            ),
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "only apply to MQTT V5",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                let props = Properties::new(PacketTypes::CONNECT)
                    .with(Property::ReceiveMaximum(5))
                    .unwrap();
                v5.publish_with("a", "x", 0, false, props)
            },
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "ReceiveMaximum does not apply to packet type Publish",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                let props = Properties::new(PacketTypes::PUBLISH)
                    .with(Property::SubscriptionIdentifier(3))
                    .unwrap();
                v5.publish_with("a", "x", 0, false, props)
            },
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "SubscriptionIdentifier is the server's",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                Properties::new(PacketTypes::PUBLISH)
                    .with(Property::ResponseTopic("a/+".into()))
                    .and_then(|props| v5.publish_with("a", "x", 0, false, props).map(drop))
            },
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "ResponseTopic property value must not contain the wildcards",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                Properties::new(PacketTypes::WILLMESSAGE)
                    .with(Property::ResponseTopic("replies/#".into()))
                    .and_then(|props| v5.will_set_with("w", "x", 0, false, props))
            },
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "ResponseTopic property value must not contain the wildcards",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                Properties::new(PacketTypes::PUBLISH)
                    .with(Property::UserProperty("k\0".into(), "v".into()))
                    .and_then(|props| v5.publish_with("a", "x", 0, false, props).map(drop))
            },
            Error::InvalidArgument {
                name: "properties",
                ..
            },
            "UserProperty property value must not contain the NUL character",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe_with(
                "a",
                SubscribeOptions {
                    no_local: true,
                    ..Default::default()
                },
                None
            ),
            Error::InvalidArgument {
                name: "options",
                ..
            },
            "only apply to MQTT V5",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                let no_local = SubscribeOptions {
                    no_local: true,
                    ..Default::default()
                };
                v5.subscribe_with("$share/g/a", no_local, None)
            },
            Error::InvalidArgument {
                name: "options",
                ..
            },
            "No Local cannot be set on the shared subscription",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.subscribe_with(
                "a",
                SubscribeOptions {
                    retain_handling: 3,
                    ..Default::default()
                },
                None
            ),
            Error::InvalidArgument {
                name: "retain_handling",
                ..
            },
            "not 0, 1 or 2",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| {
                let v5 = Client::builder().protocol(MQTTv5).build().unwrap();
                v5.disconnect_with(Some(ReasonCode::new(4, 0x10)), None)
            },
            Error::InvalidArgument {
                name: "reasoncode",
                ..
            },
            "is not a reason code of Disconnect",
            MQTT_ERR_INVAL
        ),
        // ---- transports (issue #3): what tls_set, ws_set_options, proxy_set and connect_url refuse ----
        case!(
            |c: &Client| c.ws_set_options("mqtt", &[]),
            Error::InvalidArgument { name: "path", .. },
            "not a request path",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.ws_set_options("/mqtt", &[("Bad Name", "v")]),
            Error::InvalidArgument {
                name: "headers",
                ..
            },
            "not a valid header name",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.proxy_set(Proxy::new(ProxyType::Socks5, "")),
            Error::InvalidArgument {
                name: "proxy_addr",
                ..
            },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_url("http://broker.example", 60),
            Error::InvalidArgument { name: "url", .. },
            "unknown scheme \"http\"",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_url("mqtt://", 60),
            Error::InvalidArgument { name: "url", .. },
            "no host",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_url("unix://", 60),
            Error::InvalidArgument { name: "url", .. },
            "no socket path",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.connect_url("not a url", 60),
            Error::InvalidArgument { name: "url", .. },
            "not a URL: it must start with a scheme",
            MQTT_ERR_INVAL
        ),
        // ---- will and credentials ----
        case!(
            |c: &Client| c.will_set("status/#", "gone", 0, false),
            Error::InvalidTopic { .. },
            "wildcards '+' or '#'",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.will_set("", "gone", 0, false),
            Error::InvalidTopic { .. },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.will_set("status", "gone", 3, false),
            Error::InvalidQos(3),
            "invalid QoS 3",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.will_set("status", vec![b'x'; 70_000], 1, false),
            Error::InvalidArgument {
                name: "payload",
                ..
            },
            "a will payload must be at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.username_pw_set(&"u".repeat(65_536), None),
            Error::InvalidArgument {
                name: "username",
                ..
            },
            "at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.username_pw_set("u", Some(&"p".repeat(65_536))),
            Error::InvalidArgument {
                name: "password",
                ..
            },
            "at most 65535 bytes",
            MQTT_ERR_INVAL
        ),
        // ---- acknowledgements and filtered callbacks ----
        case!(
            |c: &Client| c.ack(1, 1),
            Error::InvalidArgument { name: "ack", .. },
            "ack() needs manual_ack",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.ack(1, 3),
            Error::InvalidQos(3),
            "invalid QoS 3",
            MQTT_ERR_INVAL
        ),
        case!(
            |_c: &Client| Client::builder().manual_ack(true).build()?.ack(1, 0),
            Error::InvalidArgument { name: "qos", .. },
            "QoS 0 messages are not acknowledged",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.message_callback_add("a/#/b", |_c, _u, _m| {}),
            Error::InvalidFilter { .. },
            "'#' must be the last level",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.message_callback_add("a+", |_c, _u, _m| {}),
            Error::InvalidFilter { .. },
            "'+' must occupy a whole level",
            MQTT_ERR_INVAL
        ),
        case!(
            |c: &Client| c.message_callback_add("", |_c, _u, _m| {}),
            Error::InvalidFilter { .. },
            "must not be empty",
            MQTT_ERR_INVAL
        ),
        // ---- calls that need a connection or a loop, made without one ----
        case!(
            |c: &Client| c.subscribe("a/b", 1),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.unsubscribe("a/b"),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.disconnect(),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.r#loop(0.1),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.loop_read(),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.loop_write(),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.loop_misc(),
            Error::NoConn,
            "not currently connected",
            MQTT_ERR_NO_CONN
        ),
        case!(
            |c: &Client| c.loop_stop(),
            Error::InvalidArgument {
                name: "loop_stop",
                ..
            },
            "no loop_start() thread is running",
            MQTT_ERR_INVAL
        ),
        // Paho: a QoS 0 publish while disconnected returns rc NO_CONN and drops the message; waiting
        // for it fails at once.
        case!(
            |c: &Client| c
                .publish("a", "x", 0, false)?
                .wait_for_publish(Some(Duration::from_secs(5))),
            Error::PublishDiscarded(MQTT_ERR_NO_CONN),
            "discarded",
            MQTT_ERR_NO_CONN
        ),
    ]
}

/// What went wrong with one row, if anything.
fn check(case: &Case, outcome: Result<pahoish::Result<()>, String>) -> Option<String> {
    let result = match outcome {
        Ok(r) => r,
        Err(why) => return Some(why),
    };
    let err = match result {
        Ok(()) => return Some("returned Ok, expected an error".into()),
        Err(e) => e,
    };
    let text = err.to_string();
    let mut problems = Vec::new();
    if !(case.is_variant)(&err) {
        problems.push(format!("variant {err:?}, expected {}", case.variant));
    }
    if !text.contains(case.message) {
        problems.push(format!(
            "message {text:?} does not contain {:?}",
            case.message
        ));
    }
    if err.rc() != case.rc {
        problems.push(format!("rc {:?}, expected {:?}", err.rc(), case.rc));
    }
    if text.to_lowercase().contains("panicked") {
        problems.push(format!("message mentions a panic: {text:?}"));
    }
    let debug = format!("{err:?}");
    if debug.is_empty() {
        problems.push("empty Debug".into());
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Runs one call on a fresh client, on a thread of its own: a panic or a hang becomes a failure.
fn run(call: Call) -> Result<pahoish::Result<()>, String> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let client = Client::new("");
        let _ = tx.send(call(&client));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => {
            handle.join().expect("the call returned");
            Ok(r)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err("did not return within 10 s".into()),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => Err(format!(
                "PANICKED: {}",
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            )),
            Ok(()) => Err("the call's thread ended without a result".into()),
        },
    }
}

/// Every row of the table: an `Err` of the expected variant, naming the problem, with Paho's rc, and no
/// panic. All rows run and every failing one is reported, not just the first.
#[test]
fn every_invalid_argument_is_an_error_naming_the_problem() {
    let cases = table();
    let total = cases.len();
    let mut failures = Vec::new();
    for case in &cases {
        if let Some(why) = check(case, run(Arc::clone(&case.run))) {
            failures.push(format!("{}\n    {why}", case.call));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The codes are Paho's integers, so a ported `if rc == 3` keeps working.
#[test]
fn return_codes_are_pahos_integers() {
    let c = Client::new("");
    let err = c.publish("a/+", "x", 0, false).unwrap_err();
    assert_eq!(err.rc() as i32, 3);
    assert_eq!(
        pahoish::error_string(err.rc()),
        "Invalid function arguments provided."
    );
    let err = c.subscribe("a", 0).unwrap_err();
    assert_eq!(err.rc() as i32, 4);
    let err = c
        .publish("a", vec![0u8; 268_435_456], 1, false)
        .unwrap_err();
    assert_eq!(err.rc() as i32, 9);
    assert_eq!(pahoish::error_string(err.rc()), "Payload too large.");
}

/// A publish whose payload is under the limit but whose packet (topic and payload together) is over it
/// is refused; the message must say what is over the limit, not claim a payload under 268435455 bytes
/// is over 268435455 bytes.
#[test]
fn packet_over_the_limit_is_refused_with_a_true_message() {
    let c = Client::new("");
    // remaining length = 2 + 3 (topic) + payload = 268435456
    let err = c
        .publish("a/b", vec![0u8; 268_435_451], 0, false)
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge(_)), "{err:?}");
    assert_eq!(err.rc(), MQTT_ERR_PAYLOAD_SIZE);
    let text = err.to_string();
    assert!(
        text.contains("packet"),
        "the message should say the packet (topic + payload) is over the limit: {text:?}"
    );
}

/// The boundary: a topic of exactly 65535 bytes and a payload that makes the packet exactly the limit
/// are accepted (returned as not connected, the message kept or dropped as Paho does).
#[test]
fn the_largest_valid_values_are_accepted() {
    let c = Client::new("");
    let info = c
        .publish(&"a".repeat(65_535), "x", 0, false)
        .expect("65535-byte topic");
    assert_eq!(info.rc, MQTT_ERR_NO_CONN);
    let info = c
        .publish("a/b", vec![0u8; 268_435_450], 0, false)
        .expect("packet of exactly the limit");
    assert_eq!(info.rc, MQTT_ERR_NO_CONN);
    c.will_set("status", vec![b'x'; 65_535], 2, true)
        .expect("65535-byte will payload");
    c.username_pw_set(&"u".repeat(65_535), Some(&"p".repeat(65_535)))
        .expect("65535-byte credentials");
    c.subscribe(("+/+/#", 2), 0)
        .expect_err("not connected, but the filter is valid");
    c.message_callback_add("+/+/#", |_c, _u, _m| {})
        .expect("valid filter");
    c.reconnect_delay_set(1, 1).expect("min == max");
    c.reconnect_delay_set(0.05, 0.5).expect("fractions");
}
