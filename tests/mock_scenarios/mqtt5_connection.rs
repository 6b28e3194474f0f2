//! MQTT 5 connecting, after mosquitto's client tests (test/lib of eclipse-mosquitto/mosquitto:
//! 01-con-discon-success-v5, 01-con-discon-will-v5, 01-server-keepalive-pingreq), and what the client
//! does beyond Paho: it keeps the Assigned Client Identifier, refuses a CONNACK that claims a session
//! after a clean start, warns about Clean Start without a session expiry, and backs off after a server
//! DISCONNECT that says trying again at once would fail.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pahoish::testing::{hex, MockBroker, MockError};
use pahoish::{
    CleanStart, ConnectOptions, PacketTypes, Properties, Property, ReasonCode, MQTT_LOG_WARNING,
};

use crate::support::{
    check_time, connect_v5, expect_disconnect, record_v5, run, start_v5, stop_loop, v5_client,
    v5_connected, v5_disconnected, v5_lost, v5_protocol_error, wait_turn, CONNACK_V5, DISCONNECT,
    HOST, PINGREQ, PINGRESP, V5, WAIT,
};

/// con-discon-success-v5: CONNECT has protocol level 5 and carries the CONNECT properties in
/// identifier order whatever order they were set in; `on_connect` gets the CONNACK's properties; and
/// `disconnect_with(None, None)` sends the two-byte DISCONNECT (reason 0 without properties is left
/// out, as MQTT 5 allows).
#[test]
fn con_discon_success_v5() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x17, // CONNECT, remaining length 23
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x02, // connect flags: clean start
            0x00, 0x3c, // keepalive 60 s
            0x08, // property length 8
            0x21, 0x00, 0x14, // Receive Maximum 20
            0x27, 0x00, 0x00, 0x03, 0xe8, // Maximum Packet Size 1000
            0x00, 0x02, b'v', b'5', // client id "v5"
        ])?;
        s.send(&[
            0x20, 0x0a, // CONNACK, remaining length 10
            0x00, // acknowledge flags: no session present
            0x00, // reason code: Success
            0x07, // property length 7
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property "k" = "v"
        ])?;
        s.expect(&[
            0xe0, 0x00, // DISCONNECT, remaining length 0: Normal disconnection
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("v5");
        let events = record_v5(&client);
        let props = Properties::new(PacketTypes::CONNECT)
            .with(Property::MaximumPacketSize(1000))
            .unwrap()
            .with(Property::ReceiveMaximum(20))
            .unwrap();
        start_v5(&client, port, Some(props));
        events.expect(v5_connected(vec![Property::UserProperty(
            "k".into(),
            "v".into(),
        )]));
        assert!(client.is_connected());
        client.disconnect_with(None, None).unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// con-discon-will-v5: `will_set_with` puts the will's properties (Payload Format Indicator and Will
/// Delay Interval, by identifier) between the client id and the will topic, with the will flag, QoS 1
/// and retain bits set; `disconnect_with` reason 0x04 "Disconnect with will message" is sent as the
/// DISCONNECT's one reason byte.
#[test]
fn con_discon_will_v5() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x31, // CONNECT, remaining length 49
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x2e, // connect flags: will retain 0x20, will QoS 1 0x08, will 0x04, clean start 0x02
            0x00, 0x3c, // keepalive 60 s
            0x00, // CONNECT property length 0
            0x00, 0x02, b'w', b'5', // client id "w5"
            0x07, // will property length 7
            0x01, 0x01, // Payload Format Indicator 1 (UTF-8)
            0x18, 0x00, 0x00, 0x00, 0x1e, // Will Delay Interval 30 s
            0x00, 0x0a, b'w', b'i', b'l', b'l', b'/', b't', b'o', b'p', b'i',
            b'c', // will topic "will/topic"
            0x00, 0x0c, b'w', b'i', b'l', b'l', b'-', b'p', b'a', b'y', b'l', b'o', b'a',
            b'd', // will payload "will-payload"
        ])?;
        s.send(&CONNACK_V5)?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x04, // reason code 0x04: Disconnect with will message
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("w5");
        let will_props = Properties::new(PacketTypes::WILLMESSAGE)
            .with(Property::WillDelayInterval(30))
            .unwrap()
            .with(Property::PayloadFormatIndicator(1))
            .unwrap();
        client
            .will_set_with("will/topic", "will-payload", 1, true, will_props)
            .unwrap();
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let rc =
            ReasonCode::from_name(PacketTypes::DISCONNECT, "Disconnect with will message").unwrap();
        client.disconnect_with(Some(rc), None).unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// CONNECT of the MQTT 5 client "ka" with `keepalive` (seconds) and the connect flags `flags`.
fn connect_ka(keepalive: u8, flags: u8) -> [u8; 17] {
    [
        0x10, 0x0f, // CONNECT, remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T',  // protocol name "MQTT"
        0x05,  // protocol level 5
        flags, // connect flags
        0x00, keepalive, // keepalive
        0x00,      // property length 0
        0x00, 0x02, b'k', b'a', // client id "ka"
    ]
}

/// server-keepalive-pingreq: the client asks for keepalive 60, the CONNACK's Server Keep Alive says
/// 1 s, and the client sends PINGREQ every second, not every minute; `on_connect` sees the property.
/// After the broker drops it the client reconnects with keepalive 1 (Paho keeps the server's value
/// too) and, as `MQTT_CLEAN_START_FIRST_ONLY` asks, without Clean Start.
#[test]
fn server_keepalive_pingreq() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    // Before the client exists: its CONNECT, and so its PINGREQs, come after this.
    let t0 = Instant::now();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_ka(0x3c, 0x02))?; // keepalive 60 s, clean start
        let connack_at = Instant::now();
        s.send(&[
            0x20, 0x06, // CONNACK, remaining length 6
            0x00, // no session present
            0x00, // Success
            0x03, // property length 3
            0x13, 0x00, 0x01, // Server Keep Alive 1 s
        ])?;
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
        s.close();
        s.accept()?;
        s.expect(&connect_ka(0x01, 0x00))?; // keepalive 1 s, no clean start
        s.send(&CONNACK_V5)?;
        let _ = turn_tx.send(());
        // The test body disconnects now; a slow machine may let a keepalive pass first.
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
        let client = v5_client("ka");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![Property::ServerKeepAlive(1)]));
        events.expect(v5_lost());
        events.expect(v5_connected(vec![]));
        turn_rx.recv_timeout(WAIT).expect("the second CONNECT");
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: a client that connected with an empty client id keeps the CONNACK's Assigned Client
/// Identifier and sends it in the CONNECT of its reconnect (without Clean Start, with its Session
/// Expiry Interval), so that it continues the session the server made for it: the second CONNACK
/// says session present. Paho sends the empty id again, and every reconnect gets a new session.
#[test]
fn assigned_client_identifier_is_reused_on_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x12, // CONNECT, remaining length 18
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x02, // connect flags: clean start
            0x00, 0x3c, // keepalive 60 s
            0x05, // property length 5
            0x11, 0x00, 0x00, 0x00, 0x3c, // Session Expiry Interval 60 s
            0x00, 0x00, // client id: zero length
        ])?;
        s.send(&[
            0x20, 0x0c, // CONNACK, remaining length 12
            0x00, // no session present
            0x00, // Success
            0x09, // property length 9
            0x12, 0x00, 0x06, b'a', b'u', b't', b'o', b'-',
            b'1', // Assigned Client Identifier "auto-1"
        ])?;
        wait_turn(&turn_rx)?; // the body saw on_connect
        s.close();
        s.accept()?;
        s.expect(&[
            0x10, 0x18, // CONNECT, remaining length 24
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x00, // connect flags: no clean start
            0x00, 0x3c, // keepalive 60 s
            0x05, // property length 5
            0x11, 0x00, 0x00, 0x00, 0x3c, // Session Expiry Interval 60 s
            0x00, 0x06, b'a', b'u', b't', b'o', b'-', b'1', // client id "auto-1"
        ])?;
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x01, // acknowledge flags: session present
            0x00, // Success
            0x00, // property length 0
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("");
        let events = record_v5(&client);
        let props = Properties::new(PacketTypes::CONNECT)
            .with(Property::SessionExpiryInterval(60))
            .unwrap();
        start_v5(&client, port, Some(props));
        events.expect(v5_connected(vec![Property::AssignedClientIdentifier(
            "auto-1".into(),
        )]));
        turn_tx.send(()).unwrap();
        events.expect(v5_lost());
        events.expect(V5::Connect {
            session_present: true,
            rc: (0, "Success"),
            props: vec![],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: a CONNACK that says session present in answer to a Clean Start CONNECT breaks
/// [MQTT-3.2.2-2]: the client sends DISCONNECT 0x82 (Protocol error) and closes, without
/// `on_connect`; `on_disconnect` says Protocol error. As no CONNACK was accepted, the reconnect asks
/// for a clean start again.
#[test]
fn connack_session_present_after_clean_start_is_a_protocol_error() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"sp", 0x02))?; // clean start
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x01, // acknowledge flags: session present (impossible after a clean start)
            0x00, // Success
            0x00, // property length 0
        ])?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x82, // reason code 0x82: Protocol error
        ])?;
        s.expect_closed()?;
        s.accept()?;
        s.expect(&connect_v5(b"sp", 0x02))?; // clean start again
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("sp");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_protocol_error());
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: `CleanStart::Never` without a Session Expiry Interval logs a warning at the call
/// (the server ends such a session with the connection, so there is nothing to continue), and still
/// sends CONNECT without Clean Start; with a Session Expiry Interval it does not warn.
#[test]
fn clean_start_never_without_session_expiry_warns() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"sp", 0x00))?; // no clean start, no properties
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)?;
        s.accept()?;
        s.expect(&[
            0x10, 0x14, // CONNECT, remaining length 20
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x05, // protocol level 5
            0x00, // connect flags: no clean start
            0x00, 0x3c, // keepalive 60 s
            0x05, // property length 5
            0x11, 0x00, 0x00, 0x0e, 0x10, // Session Expiry Interval 3600 s
            0x00, 0x02, b's', b'p', // client id "sp"
        ])?;
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("sp");
        let events = record_v5(&client);
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let w = Arc::clone(&warnings);
        client.on_log(move |_, _, level, line| {
            if level == MQTT_LOG_WARNING {
                w.lock().unwrap().push(line.to_owned());
            }
        });
        let about_expiry = |w: &Arc<Mutex<Vec<String>>>| {
            w.lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("SessionExpiryInterval"))
                .count()
        };
        let never = |properties| ConnectOptions {
            clean_start: CleanStart::Never,
            properties,
            ..ConnectOptions::default()
        };
        client.connect_with(HOST, port, 60, never(None)).unwrap();
        assert_eq!(about_expiry(&warnings), 1, "{:?}", warnings.lock());
        client.loop_start().unwrap();
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);

        let props = Properties::new(PacketTypes::CONNECT)
            .with(Property::SessionExpiryInterval(3600))
            .unwrap();
        client
            .connect_with(HOST, port, 60, never(Some(props)))
            .unwrap();
        assert_eq!(about_expiry(&warnings), 1, "{:?}", warnings.lock());
        client.loop_start().unwrap();
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Beyond Paho: a server DISCONNECT 0x8E (Session taken over) reaches `on_disconnect` with its reason,
/// its properties and `is_disconnect_packet_from_server`; the client closes without sending anything
/// more, and its reconnect waits for the grown backoff: with `reconnect_delay_set(0.4, 4)` at least
/// 0.6 s (twice the minimum, less the 25% jitter), where an ordinary drop waits 0.4 to 0.5 s.
#[test]
fn server_disconnect_session_taken_over_backs_off() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&connect_v5(b"st", 0x02))?; // clean start
        s.send(&CONNACK_V5)?;
        wait_turn(&turn_rx)?; // the body saw on_connect
        s.send(&[
            0xe0, 0x0a, // DISCONNECT, remaining length 10
            0x8e, // reason code 0x8E: Session taken over
            0x08, // property length 8
            0x1f, 0x00, 0x05, b't', b'a', b'k', b'e', b'n', // Reason String "taken"
        ])?;
        let sent = Instant::now();
        s.expect_closed()?;
        s.accept()?;
        check_time(
            "the client reconnected after Session taken over",
            sent.elapsed(),
            Duration::from_millis(600)..Duration::from_secs(60),
        )?;
        s.expect(&connect_v5(b"st", 0x00))?; // no clean start
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("st");
        client.reconnect_delay_set(0.4, 4).unwrap();
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        turn_tx.send(()).unwrap();
        events.expect(V5::Disconnect {
            from_server: true,
            rc: (0x8e, "Session taken over"),
            props: vec![Property::ReasonString("taken".into())],
        });
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Item 15 of the conformance gaps ([MQTT-3.2.2-4] in part), decided as Paho does: a new `Client`
/// holds no session state (nothing persists across processes), yet with `CleanStart::Never` a
/// CONNACK with Session Present 1 is accepted, so that a process restarted with the same client id
/// continues the session the server kept (its subscriptions and queued messages).
#[test]
fn clean_start_never_on_a_new_client_accepts_session_present_1() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"sn", 0x00))?; // no clean start
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x01, // session present: the server kept a session for "sn"
            0x00, // Success
            0x00, // property length 0
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("sn");
        let events = record_v5(&client);
        let never = ConnectOptions {
            clean_start: CleanStart::Never,
            ..ConnectOptions::default()
        };
        client.connect_with(HOST, port, 60, never).unwrap();
        client.loop_start().unwrap();
        events.expect(V5::Connect {
            session_present: true,
            rc: (0, "Success"),
            props: vec![],
        });
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Item 25 ([MQTT-4.13.2-1]): a CONNACK with reason 0x87 reaches `on_connect` as Not authorized;
/// the client sends nothing more on that connection and closes it (then retries after the backoff).
#[test]
fn refused_connack_0x87_closes_the_connection_without_another_packet() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"na", 0x02))?;
        s.send(&[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, // no session present
            0x87, // reason code 0x87: Not authorized
            0x00, // property length 0
        ])?;
        s.expect_closed()?; // not a byte more
        s.accept()?;
        s.expect(&connect_v5(b"na", 0x00))?; // Clean Start on the first CONNECT only, as Paho
        s.send(&CONNACK_V5)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("na");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(V5::Connect {
            session_present: false,
            rc: (0x87, "Not authorized"),
            props: vec![],
        });
        match events.next() {
            V5::Disconnect { rc, .. } => assert!(rc.0 >= 0x80, "on_disconnect {rc:?}"),
            other => panic!("expected on_disconnect, got {other:?}"),
        }
        events.expect(v5_connected(vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Item 20 (MQTT 5 section 3.14.2.2.2): after a CONNECT without a Session Expiry Interval (the session
/// ends with the connection), `disconnect_with` a non-zero `SessionExpiryInterval` fails with
/// `Error::InvalidArgument` and sends nothing (the server would close with 0x82); a plain
/// `disconnect()` then goes out.
#[test]
fn disconnect_with_a_session_expiry_the_connect_did_not_have_fails_and_sends_nothing() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&connect_v5(b"dx", 0x02))?;
        s.send(&CONNACK_V5)?;
        expect_disconnect(s) // DISCONNECT e0 00: the refused one never went out
    });
    let port = broker.port();
    run(broker, || {
        let client = v5_client("dx");
        let events = record_v5(&client);
        start_v5(&client, port, None);
        events.expect(v5_connected(vec![]));
        let expiry = Properties::new(PacketTypes::DISCONNECT)
            .with(Property::SessionExpiryInterval(3600))
            .unwrap();
        let e = client.disconnect_with(None, Some(expiry)).unwrap_err();
        assert!(
            matches!(
                e,
                pahoish::Error::InvalidArgument {
                    name: "properties",
                    ..
                }
            ),
            "{e}"
        );
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}
