//! Paho's VERSION1 callback shapes (`on_connect_v1`, ...): each gets Paho's VERSION1 values, printed
//! as a Python script prints them, in every way a connection starts and ends; and a VERSION1 setter
//! and a VERSION2 one share their slot (the one set last is called).
//!
//! Each callback reports one line, formatted as the ported script would print it, so that what is
//! checked is the printed form (`rc` prints `0`, `flags` prints `{'session present': 0}`).

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use pahoish::testing::MockBroker;
use pahoish::{connack_string, Client, DisconnectRc, Error, Properties};

use crate::support::{
    accept_default, connect_v5, expect_disconnect, reconnecting_client, record, run, start,
    start_v5, stop_between_connections, stop_loop, v5_client, wait_turn, CONNACK_ACCEPTED,
    CONNACK_REFUSED_5, CONNACK_V5, CONNECT_DEFAULT, HOST, WAIT,
};

/// The lines the callbacks printed, in order.
struct Lines {
    tx: Sender<String>,
    rx: Receiver<String>,
}

impl Lines {
    fn new() -> Lines {
        let (tx, rx) = mpsc::channel();
        Lines { tx, rx }
    }

    fn sender(&self) -> Sender<String> {
        self.tx.clone()
    }

    /// The next line; fails if none comes within `WAIT`.
    #[track_caller]
    fn next(&self) -> String {
        self.rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no callback within {WAIT:?}: {e}"))
    }

    /// Checks that the next line is `expected`.
    #[track_caller]
    fn expect(&self, expected: &str) {
        assert_eq!(self.next(), expected);
    }

    #[track_caller]
    fn assert_idle(&self) {
        if let Ok(line) = self.rx.try_recv() {
            panic!("unexpected callback: {line:?}");
        }
    }
}

/// Sets the five VERSION1 callbacks of the MQTT 3.x shapes, each printing what a Paho script prints.
fn record_v1<U: Send + 'static>(client: &Client<U>) -> Lines {
    let lines = Lines::new();
    let t = lines.sender();
    client.on_connect_v1(move |_, _, flags, rc| {
        let _ = t.send(format!(
            "Connected with result code {rc}, flags {flags}: {}",
            connack_string(rc)
        ));
    });
    let t = lines.sender();
    client.on_disconnect_v1(move |_, _, rc| {
        let _ = t.send(format!("Disconnected with result code {rc}"));
    });
    let t = lines.sender();
    client.on_subscribe_v1(move |_, _, mid, granted_qos| {
        let _ = t.send(format!("Subscribed: {mid} {granted_qos:?}"));
    });
    let t = lines.sender();
    client.on_unsubscribe_v1(move |_, _, mid| {
        let _ = t.send(format!("Unsubscribed: {mid}"));
    });
    let t = lines.sender();
    client.on_publish_v1(move |_, _, mid| {
        let _ = t.send(format!("Published: {mid}"));
    });
    lines
}

/// A whole session with the VERSION1 shapes: on_connect gets rc `0` and flags
/// `{'session present': 0}`, on_subscribe the granted QoS as integers (128 for the refused filter),
/// on_publish and on_unsubscribe the message id, on_disconnect rc `0` after `disconnect()`. The
/// VERSION2 callbacks set before them were replaced: none of them is called.
#[test]
fn a_session_with_version1_callbacks() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x0a, // SUBSCRIBE, remaining length 10
            0x00, 0x01, // message id 1
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
            0x00, 0x01, b'b', 0x02, // "b", QoS 2
        ])?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x01, // message id 1
            0x01, // "a": granted QoS 1
            0x80, // "b": refused
        ])?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b'a', // topic "a"
            0x00, 0x02, // message id 2
            b'x', // payload "x"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.expect(&[
            0xa2, 0x05, // UNSUBSCRIBE, remaining length 5
            0x00, 0x03, // message id 3
            0x00, 0x01, b'a', // "a"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x03, // message id 3
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let v2 = record(&client); // replaced by the VERSION1 setters below
        let lines = record_v1(&client);
        start(&client, port, 60);
        lines.expect(
            "Connected with result code 0, flags {'session present': 0}: Connection Accepted.",
        );
        client.subscribe([("a", 1), ("b", 2)], 0).unwrap();
        lines.expect("Subscribed: 1 [1, 128]");
        client.publish("a", "x", 1, false).unwrap();
        lines.expect("Published: 2");
        client.unsubscribe("a").unwrap();
        lines.expect("Unsubscribed: 3");
        client.disconnect().unwrap();
        lines.expect("Disconnected with result code 0");
        stop_loop(&client);
        lines.assert_idle();
        v2.assert_idle();
    });
}

/// A VERSION2 setter replaces a VERSION1 callback in the same slot, and the other way round: the
/// callback set last is the only one called.
#[test]
fn version1_and_version2_setters_replace_each_other() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'x', // payload "x"
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let lines = Lines::new();
        let t = lines.sender();
        client.on_connect(move |_, _, _, rc, _| {
            let _ = t.send(format!("v2 on_connect {rc}"));
        });
        let t = lines.sender();
        client.on_connect_v1(move |_, _, _, rc| {
            let _ = t.send(format!("v1 on_connect {rc}"));
        });
        let t = lines.sender();
        client.on_publish_v1(move |_, _, mid| {
            let _ = t.send(format!("v1 on_publish {mid}"));
        });
        let t = lines.sender();
        client.on_publish(move |_, _, mid, rc, _| {
            let _ = t.send(format!("v2 on_publish {mid} {rc}"));
        });
        let t = lines.sender();
        client.on_disconnect(move |_, _, _, rc, _| {
            let _ = t.send(format!("v2 on_disconnect {rc}"));
        });
        let t = lines.sender();
        client.on_disconnect_v1(move |_, _, rc| {
            let _ = t.send(format!("v1 on_disconnect {rc}"));
        });
        start(&client, port, 60);
        lines.expect("v1 on_connect 0");
        client.publish("t", "x", 0, false).unwrap();
        lines.expect("v2 on_publish 1 Success");
        client.disconnect().unwrap();
        lines.expect("v1 on_disconnect 0");
        stop_loop(&client);
        lines.assert_idle();
    });
}

/// The broker closes the connection: on_disconnect gets 7 (`MQTT_ERR_CONN_LOST`); the loop
/// reconnects and on_connect gets 0 again.
#[test]
fn lost_connection_gives_rc_7() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        wait_turn(&turn_rx)?; // the body saw on_connect
        s.close();
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let lines = Lines::new();
        let t = lines.sender();
        client.on_connect_v1(move |_, _, _, rc| {
            let _ = t.send(format!("Connected with result code {rc}"));
        });
        let t = lines.sender();
        client.on_disconnect_v1(move |_, _, rc| {
            let lost = rc == pahoish::MQTT_ERR_CONN_LOST as i32;
            let _ = t.send(format!("Disconnected with result code {rc} (lost: {lost})"));
        });
        start(&client, port, 60);
        lines.expect("Connected with result code 0");
        turn_tx.send(()).unwrap();
        lines.expect("Disconnected with result code 7 (lost: true)");
        lines.expect("Connected with result code 0");
        client.disconnect().unwrap();
        lines.expect("Disconnected with result code 0 (lost: false)");
        stop_loop(&client);
        lines.assert_idle();
    });
}

/// CONNECT of `Client::new("")` with keepalive 1 s.
const CONNECT_KEEPALIVE_1: [u8; 14] = [
    0x10, 0x0c, // CONNECT, remaining length 12
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
    0x04, // protocol level 4
    0x02, // clean session
    0x00, 0x01, // keepalive 1 s
    0x00, 0x00, // client id: zero length
];

/// A broker that never answers PINGREQ: on_disconnect gets 16 (`MQTT_ERR_KEEPALIVE`).
#[test]
fn keepalive_timeout_gives_rc_16() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_KEEPALIVE_1)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[0xc0, 0x00])?; // PINGREQ; no PINGRESP
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let lines = record_v1(&client);
        start(&client, port, 1);
        lines.expect(
            "Connected with result code 0, flags {'session present': 0}: Connection Accepted.",
        );
        lines.expect("Disconnected with result code 16");
        stop_between_connections(&client);
        lines.assert_idle();
    });
}

/// A refused CONNACK (return code 5): on_connect gets rc 5, whose `connack_string` is Paho's
/// "Connection Refused: not authorised.", then on_disconnect gets 5 (`MQTT_ERR_CONN_REFUSED`).
#[test]
fn refused_connack_gives_rc_5_twice() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_REFUSED_5)?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .reconnect_on_failure(false)
            .build()
            .unwrap();
        let lines = record_v1(&client);
        client.connect(HOST, port, 60).unwrap();
        let (tx, rx) = mpsc::channel();
        let c = client.clone();
        let t = thread::spawn(move || {
            let _ = tx.send(c.loop_forever());
        });
        let result = rx.recv_timeout(WAIT).expect("loop_forever did not return");
        t.join().unwrap();
        assert!(
            matches!(result, Err(Error::ConnectionRefused(5))),
            "{result:?}"
        );
        lines.expect(
            "Connected with result code 5, flags {'session present': 0}: Connection Refused: \
             not authorised.",
        );
        lines.expect("Disconnected with result code 5");
        lines.assert_idle();
    });
}

/// A packet the client refuses (a PUBACK with reserved flag bits set): on_disconnect gets 2
/// (`MQTT_ERR_PROTOCOL`).
#[test]
fn protocol_error_gives_rc_2() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        wait_turn(&turn_rx)?;
        s.send(&[
            0x41, 0x02, // PUBACK with flags 0b0001 (must be 0), remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        client.reconnect_delay_set(60, 120).unwrap(); // no reconnect within the test
        let lines = record_v1(&client);
        start(&client, port, 60);
        lines.expect(
            "Connected with result code 0, flags {'session present': 0}: Connection Accepted.",
        );
        turn_tx.send(()).unwrap();
        lines.expect("Disconnected with result code 2");
        stop_between_connections(&client);
        lines.assert_idle();
    });
}

// ---- MQTT 5 ----

/// Sets the VERSION1 callbacks of Paho's MQTT 5 shapes (on_connect, on_disconnect, on_unsubscribe),
/// each printing what a Paho script prints.
fn record_v1_mqtt5<U: Send + 'static>(client: &Client<U>) -> Lines {
    let lines = Lines::new();
    let props = |p: &Properties| format!("{:?}", p.iter().collect::<Vec<_>>());
    let t = lines.sender();
    client.on_connect_v1_mqtt5(move |_, _, flags, reason_code, p| {
        let _ = t.send(format!(
            "Connected: {reason_code} ({}), flags {flags}, properties {}",
            connack_string(reason_code),
            props(p)
        ));
    });
    let t = lines.sender();
    client.on_disconnect_v1_mqtt5(move |_, _, rc, p| {
        let kind = match rc {
            DisconnectRc::Reason(_) => "reason code",
            DisconnectRc::Code(_) => "MQTT_ERR",
        };
        let _ = t.send(format!(
            "Disconnected: {rc} ({kind} {}), properties {}",
            rc.value(),
            p.map_or("None".to_owned(), props)
        ));
    });
    let t = lines.sender();
    client.on_unsubscribe_v1_mqtt5(move |_, _, mid, p, reason_codes| {
        let _ = t.send(format!(
            "Unsubscribed: {mid} properties {} reason codes {reason_codes} ({} of them)",
            props(p),
            reason_codes.len()
        ));
    });
    lines
}

/// MQTT 5 with Paho's VERSION1 MQTT 5 shapes: on_connect gets the flags dict, the reason code (whose
/// `connack_string` is its name) and the properties; on_unsubscribe the properties before the reason
/// codes, which print as the one reason code Paho passes for one filter; on_disconnect the server's DISCONNECT reason code and properties, then after the reconnect
/// and `disconnect()` the integer 0 and no properties.
#[test]
fn mqtt5_version1_shapes() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_v5(b"v1", 0x02))?;
        s.send(&CONNACK_V5)?;
        s.expect(&[
            0xa2, 0x07, // UNSUBSCRIBE, remaining length 7
            0x00, 0x01, // message id 1
            0x00, // property length 0
            0x00, 0x02, b'a', b'b', // filter "ab"
        ])?;
        s.send(&[
            0xb0, 0x0b, // UNSUBACK, remaining length 11
            0x00, 0x01, // message id 1
            0x07, // property length 7
            0x1f, 0x00, 0x04, b'g', b'o', b'n', b'e', // Reason String "gone"
            0x11, // "ab": No subscription existed
        ])?;
        wait_turn(&turn_rx)?; // the body saw on_unsubscribe
        s.send(&[
            0xe0, 0x0a, // DISCONNECT, remaining length 10
            0x8e, // reason code 0x8E: Session taken over
            0x08, // property length 8
            0x1f, 0x00, 0x05, b't', b'a', b'k', b'e', b'n', // Reason String "taken"
        ])?;
        s.expect_closed()?;
        s.accept()?;
        s.expect(&connect_v5(b"v1", 0x00))?; // no clean start
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("v1");
        let lines = record_v1_mqtt5(&client);
        start_v5(&client, port, None);
        lines.expect("Connected: Success (Success), flags {'session present': 0}, properties []");
        client.unsubscribe("ab").unwrap();
        lines.expect(
            "Unsubscribed: 1 properties [ReasonString(\"gone\")] reason codes No subscription \
             found (1 of them)",
        );
        turn_tx.send(()).unwrap();
        lines.expect(
            "Disconnected: Session taken over (reason code 142), properties \
             [ReasonString(\"taken\")]",
        );
        lines.expect("Connected: Success (Success), flags {'session present': 0}, properties []");
        client.disconnect().unwrap();
        lines.expect("Disconnected: 0 (MQTT_ERR 0), properties None");
        stop_loop(&client);
        lines.assert_idle();
    });
}

/// MQTT 5, a refused CONNACK (0x87 Not authorized): the MQTT 5 shape of on_connect gets the reason
/// code, whose `connack_string` is "Not authorized" as in Paho 2.2; on_disconnect gets 2
/// (`MQTT_ERR_PROTOCOL`, Paho's rc for any CONNACK code outside 1..=5) and no properties.
#[test]
fn mqtt5_refused_connack() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"no", 0x02))?;
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, // no session present
            0x87, // reason code 0x87: Not authorized
            0x00, // property length 0
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("no");
        client.reconnect_delay_set(60, 120).unwrap(); // no reconnect within the test
        let lines = record_v1_mqtt5(&client);
        start_v5(&client, port, None);
        lines.expect(
            "Connected: Not authorized (Not authorized), flags {'session present': 0}, \
             properties []",
        );
        lines.expect("Disconnected: 2 (MQTT_ERR 2), properties None");
        stop_between_connections(&client);
        lines.assert_idle();
    });
}

/// MQTT 5 with the MQTT 3.x shapes (which Paho would call with the wrong number of arguments): on_connect
/// gets the CONNACK's byte, 135 for Not authorized, as Paho's `result`; on_disconnect 2.
#[test]
fn mqtt5_with_the_mqtt3_shapes() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"m3", 0x02))?;
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, // no session present
            0x87, // reason code 0x87: Not authorized
            0x00, // property length 0
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("m3");
        client.reconnect_delay_set(60, 120).unwrap(); // no reconnect within the test
        let lines = record_v1(&client);
        start_v5(&client, port, None);
        lines.expect(
            "Connected with result code 135, flags {'session present': 0}: Connection Refused: \
             unknown reason.",
        );
        lines.expect("Disconnected with result code 2");
        stop_between_connections(&client);
        lines.assert_idle();
    });
}

// ---- against a working broker ----

/// The VERSION1 quickstart against `TestBroker`: "Connected with result code 0", the subscription
/// granted QoS 1, the client's own QoS 1 message back and its `on_publish`; the broker drops the
/// client (on_disconnect 7), the loop reconnects (0 again), and `disconnect()` gives 0.
#[test]
fn version1_quickstart_against_test_broker() {
    let broker = pahoish::testing::TestBroker::start().expect("starting a TestBroker");
    let client = Client::new("v1q");
    client.reconnect_delay_set(0.05, 0.2).unwrap();
    let lines = Lines::new();
    let t = lines.sender();
    client.on_connect_v1(move |client, _userdata, flags, rc| {
        let _ = t.send(format!("Connected with result code {rc} {flags}"));
        client.subscribe("v1/#", 1).ok();
    });
    let t = lines.sender();
    client.on_subscribe_v1(move |client, _userdata, mid, granted_qos| {
        let _ = t.send(format!("Subscribed: {mid} {granted_qos:?}"));
        client.publish("v1/x", "hello", 1, false).ok();
    });
    let t = lines.sender();
    client.on_publish_v1(move |_, _, mid| {
        let _ = t.send(format!("Published: {mid}"));
    });
    let t = lines.sender();
    client.on_message(move |_, _, msg| {
        let _ = t.send(format!("{} {}", msg.topic, msg.payload_repr()));
    });
    let t = lines.sender();
    client.on_disconnect_v1(move |_, _, rc| {
        let _ = t.send(format!("Disconnected with result code {rc}"));
    });
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    // The message and the PUBACK come in either order.
    let exchange = |first_mid: u16| {
        let mut got = [lines.next(), lines.next()];
        got.sort();
        assert_eq!(
            got,
            [
                format!("Published: {first_mid}"),
                "v1/x b'hello'".to_owned()
            ]
        );
    };
    lines.expect("Connected with result code 0 {'session present': 0}");
    lines.expect("Subscribed: 1 [1]");
    exchange(2);
    assert!(broker.drop_client("v1q"), "the broker knew the client");
    lines.expect("Disconnected with result code 7");
    lines.expect("Connected with result code 0 {'session present': 0}");
    lines.expect("Subscribed: 3 [1]");
    exchange(4);
    client.disconnect().unwrap();
    lines.expect("Disconnected with result code 0");
    stop_loop(&client);
    lines.assert_idle();
}
