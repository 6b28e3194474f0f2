//! Connecting: connect and disconnect, keepalive, the CONNECT variants (clean session, credentials,
//! will, client ids, MQTT 3.1) and a refused CONNACK (scenarios 1 to 6 and 11).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pahoish::testing::{hex, MockBroker, MockError};
use pahoish::{Client, Error, MQTTv31, MQTTv311, MQTTv5};

use crate::support::{
    check_time, connect_sends, connected, disconnected, expect_disconnect, reconnecting_client,
    record, run, start, stop_loop, Ev, CONNACK_ACCEPTED, CONNACK_REFUSED_5, CONNECT_DEFAULT,
    DISCONNECT, HELD, HOST, PINGREQ, PINGRESP, WAIT,
};

// ---- 1. connect and disconnect ----

/// `Client::new("")` connects with a clean session, keepalive 60 and a zero-length id; `disconnect()`
/// sends DISCONNECT and closes, with on_connect "Success" and on_disconnect 0 in between.
#[test]
fn connect_and_disconnect() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x0c, // CONNECT, remaining length 12
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4 (MQTT 3.1.1)
            0x02, // connect flags: clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
        ])?;
        s.send(&[
            0x20, 0x02, // CONNACK, remaining length 2
            0x00, // no session present
            0x00, // accepted
        ])?;
        s.expect(&[
            0xe0, 0x00, // DISCONNECT, remaining length 0
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        assert!(!client.is_connected());
        start(&client, port, 60);
        events.expect(connected());
        assert!(client.is_connected());
        client.disconnect().expect("disconnect");
        events.expect(disconnected());
        assert!(!client.is_connected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 2. keepalive ----

/// CONNECT of `Client::new("")` with keepalive 1 s.
const CONNECT_KEEPALIVE_1: [u8; 14] = [
    0x10, 0x0c, // CONNECT, remaining length 12
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
    0x04, // protocol level 4
    0x02, // clean session
    0x00, 0x01, // keepalive 1 s
    0x00, 0x00, // client id: zero length
];

/// With keepalive 1 s an idle client sends PINGREQ about a second after CONNECT, and again a keepalive
/// after the PINGRESP.
#[test]
fn keepalive_sends_pingreq_when_idle() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    // Taken before the client exists (not in the script, whose thread may start after the client has
    // connected): every PINGREQ is at least a keepalive younger than this.
    let t0 = Instant::now();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_KEEPALIVE_1)?;
        let connack_at = Instant::now();
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&PINGREQ)?;
        let first = Instant::now();
        check_time(
            "the first PINGREQ came",
            first - t0,
            Duration::from_millis(1000)..Duration::from_secs(60),
        )?;
        check_time(
            "the first PINGREQ came after CONNACK",
            first - connack_at,
            Duration::ZERO..Duration::from_millis(2500),
        )?;
        s.send(&PINGRESP)?;
        s.expect(&PINGREQ)?;
        check_time(
            "the second PINGREQ came after the first",
            first.elapsed(),
            Duration::from_millis(500)..Duration::from_millis(2500),
        )?;
        s.send(&PINGRESP)?;
        let _ = turn_tx.send(());
        // The test body disconnects now; a slow machine may let one more keepalive pass first.
        loop {
            let packet = s.recv_raw()?;
            if packet == PINGREQ {
                s.send(&PINGRESP)?;
            } else if packet == DISCONNECT {
                break;
            } else {
                return Err(MockError::script(format!(
                    "expected PINGREQ or DISCONNECT, got {}",
                    hex(&packet)
                )));
            }
        }
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 1);
        events.expect(connected());
        turn_rx.recv_timeout(WAIT).expect("two PINGREQs");
        client.disconnect().expect("disconnect");
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A broker that never answers PINGREQ: the client closes the connection itself about two keepalives
/// after CONNECT, and on_disconnect gets 0x8D "Keep alive timeout".
#[test]
fn keepalive_timeout_closes_the_connection() {
    // Before the client exists: its CONNECT, and so its first PINGREQ and its close, come after this.
    let t0 = Instant::now();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_KEEPALIVE_1)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&PINGREQ)?;
        // No PINGRESP.
        s.expect_closed()?;
        check_time(
            "the client closed the connection",
            t0.elapsed(),
            Duration::from_millis(2000)..Duration::from_millis(4500),
        )
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 1);
        events.expect(connected());
        events.expect(Ev::Disconnect {
            rc: 0x8d,
            name: "Keep alive timeout".into(),
        });
        // Stop the loop before its reconnect (the script is over): disconnect() has no connection to
        // close, but it ends the loop.
        let _ = client.disconnect();
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 3 to 6. CONNECT variants ----

/// `clean_session(false)` with a client id: the connect flags byte is 0x00.
#[test]
fn clean_session_off() {
    let client = Client::builder()
        .client_id("x")
        .clean_session(false)
        .build()
        .unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x0d, // CONNECT, remaining length 13
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0x00, // connect flags: none (clean session off)
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x01, b'x', // client id "x"
        ],
    );
}

/// `username_pw_set("user", Some("pass"))`: user name and password flags, both fields after the id.
#[test]
fn username_and_password() {
    let client = Client::new("");
    client.username_pw_set("user", Some("pass")).unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x18, // CONNECT, remaining length 24
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0xc2, // connect flags: user name, password, clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
            0x00, 0x04, b'u', b's', b'e', b'r', // user name "user"
            0x00, 0x04, b'p', b'a', b's', b's', // password "pass"
        ],
    );
}

/// An empty user name without a password is sent as a zero-length user name with its flag set.
#[test]
fn empty_username() {
    let client = Client::new("");
    client.username_pw_set("", None).unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x0e, // CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0x82, // connect flags: user name, clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
            0x00, 0x00, // user name: zero length
        ],
    );
}

/// An empty password (`Some("")`) is sent as a zero-length password with its flag set.
#[test]
fn empty_password() {
    let client = Client::new("");
    client.username_pw_set("u", Some("")).unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x11, // CONNECT, remaining length 17
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0xc2, // connect flags: user name, password, clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
            0x00, 0x01, b'u', // user name "u"
            0x00, 0x00, // password: zero length
        ],
    );
}

/// A non-ASCII user name and password go out as UTF-8, with their byte lengths (not character counts).
#[test]
fn non_ascii_username_and_password() {
    let client = Client::new("");
    client.username_pw_set("gürkan", Some("pässwörd")).unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x21, // CONNECT, remaining length 33
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0xc2, // connect flags: user name, password, clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
            0x00, 0x07, b'g', 0xc3, 0xbc, b'r', b'k', b'a',
            b'n', // user name "gürkan" (ü = c3 bc)
            0x00, 0x0a, b'p', 0xc3, 0xa4, b's', b's', b'w', 0xc3, 0xb6, b'r',
            b'd', // password "pässwörd" (ä = c3 a4, ö = c3 b6)
        ],
    );
}

/// `will_set("w/t", "bye", 1, true)`: will flag, will QoS 1 and will retain bits, then the will topic
/// and payload after the client id.
#[test]
fn will_message() {
    let client = Client::new("");
    client.will_set("w/t", "bye", 1, true).unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x16, // CONNECT, remaining length 22
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0x2e, // connect flags: will retain 0x20, will QoS 1 0x08, will 0x04, clean session 0x02
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
            0x00, 0x03, b'w', b'/', b't', // will topic "w/t"
            0x00, 0x03, b'b', b'y', b'e', // will payload "bye"
        ],
    );
}

/// MQTT 3.1.1 asked for explicitly with an empty id: a zero-length client id is sent (the broker
/// assigns one), no id is made up.
#[test]
fn zero_length_client_id_on_mqtt311() {
    let client = Client::builder()
        .client_id("")
        .protocol(MQTTv311)
        .build()
        .unwrap();
    connect_sends(
        client,
        &[
            0x10, 0x0c, // CONNECT, remaining length 12
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4 (MQTT 3.1.1)
            0x02, // clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x00, // client id: zero length
        ],
    );
}

/// MQTT 3.1 sends protocol name "MQIsdp", level 3, and (as 3.1 forbids an empty id) a generated 22-character
/// alphanumeric client id.
#[test]
fn mqtt31_sends_mqisdp_and_a_generated_id() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        let connect = s.recv_raw()?;
        let fixed: [u8; 16] = [
            0x10, 0x24, // CONNECT, remaining length 36
            0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
            0x03, // protocol level 3 (MQTT 3.1)
            0x02, // clean session
            0x00, 0x3c, // keepalive 60 s
            0x00, 0x16, // client id: 22 bytes, random (checked below)
        ];
        if connect.len() != 38
            || connect[..16] != fixed
            || !connect[16..].iter().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(MockError::script(format!(
                "expected an MQTT 3.1 CONNECT with a 22-character alphanumeric id, got {}",
                hex(&connect)
            )));
        }
        s.send(&CONNACK_ACCEPTED)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder().protocol(MQTTv31).build().unwrap();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        client.disconnect().expect("disconnect");
        events.expect(disconnected());
        stop_loop(&client);
    });
}

// ---- 11. refused CONNACK ----

/// A refused CONNACK: on_connect gets 135 "Not authorized", then on_disconnect; the loop retries after
/// the backoff and the next CONNECT is accepted.
#[test]
fn refused_connack_then_retry_after_backoff() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        let refused_at = Instant::now();
        s.send(&CONNACK_REFUSED_5)?;
        s.expect_closed()?;
        s.accept()?;
        // The client waits the minimum reconnect delay (50 ms) after the refusal.
        check_time(
            "the client reconnected after the refusal",
            refused_at.elapsed(),
            Duration::from_millis(50)..Duration::from_secs(60),
        )?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_ACCEPTED)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(Ev::Connect {
            rc: 135,
            name: "Not authorized".into(),
            session_present: false,
        });
        match events.next() {
            Ev::Disconnect { rc, .. } => assert!(rc >= 0x80, "on_disconnect rc {rc}"),
            other => panic!("expected on_disconnect, got {other:?}"),
        }
        events.expect(connected());
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// With `reconnect_on_failure(false)`, `loop_forever` returns `Error::ConnectionRefused(5)` after a
/// refused CONNACK (and the callbacks ran first).
#[test]
fn loop_forever_returns_connection_refused() {
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
        let events = record(&client);
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
        events.expect(Ev::Connect {
            rc: 135,
            name: "Not authorized".into(),
            session_present: false,
        });
        assert!(matches!(events.next(), Ev::Disconnect { .. }));
        events.assert_idle();
    });
}

// ---- reinitialise ----

/// Item 5 of the conformance gaps ([MQTT-3.1.3-2]): the client id names the session. A QoS 1 message
/// left unacknowledged (the client disconnects, which keeps it for the session's next connection),
/// then `reinitialise` with another id: its `MessageInfo` reports it discarded, and the new client's
/// connection re-sends nothing.
fn reinitialise_discards_the_old_sessions_messages(v5: bool) {
    let connect = |id: u8| -> Vec<u8> {
        if v5 {
            packet_v5_connect(id)
        } else {
            vec![
                0x10, 0x0e, // CONNECT, remaining length 14
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4 (MQTT 3.1.1)
                0x02, // connect flags: clean session
                0x00, 0x3c, // keepalive 60 s
                0x00, 0x02, b'r', id, // client id "r1" or "r2"
            ]
        }
    };
    let connack: &'static [u8] = if v5 {
        &[0x20, 0x03, 0x00, 0x00, 0x00] // CONNACK: Success, no properties
    } else {
        &CONNACK_ACCEPTED
    };
    let publish: Vec<u8> = if v5 {
        vec![
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            0x00, // property length 0
            b'm', // payload "m"
        ]
    } else {
        vec![
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ]
    };
    let (c1, c2) = (connect(b'1'), connect(b'2'));
    let (quiet_tx, quiet_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&c1)?;
        s.send(connack)?;
        s.expect(&publish)?; // never acknowledged
        expect_disconnect(s)?;
        s.accept()?;
        s.expect(&c2)?;
        s.send(connack)?;
        s.expect_silence(HELD)?; // nothing of the old session
        let _ = quiet_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let protocol = if v5 { MQTTv5 } else { MQTTv311 };
        let client = Client::builder()
            .client_id("r1")
            .protocol(protocol)
            .build()
            .unwrap();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 1, false).unwrap();
        // disconnect() keeps the message for the next connection of this session; reinitialise
        // ends the session.
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
        client.reinitialise("r2", true, ()).unwrap();
        assert!(matches!(
            info.wait_for_publish(Some(WAIT)),
            Err(Error::PublishDiscarded(_))
        ));
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        quiet_rx
            .recv_timeout(WAIT)
            .expect("the script's quiet spell");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// CONNECT of an MQTT 5 client "r1" or "r2" with Clean Start, keepalive 60, no properties.
fn packet_v5_connect(id: u8) -> Vec<u8> {
    vec![
        0x10, 0x0f, // CONNECT, remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // connect flags: Clean Start
        0x00, 0x3c, // keepalive 60 s
        0x00, // property length 0
        0x00, 0x02, b'r', id, // client id
    ]
}

#[test]
fn reinitialise_discards_the_old_sessions_messages_at_311() {
    reinitialise_discards_the_old_sessions_messages(false);
}

#[test]
fn reinitialise_discards_the_old_sessions_messages_at_5() {
    reinitialise_discards_the_old_sessions_messages(true);
}
