//! MQTT 5 enhanced authentication (beyond every Paho client): `auth_method_set`, `on_auth` and
//! `reauthenticate`, byte by byte. The method and data go in CONNECT, each server challenge (AUTH 0x18)
//! is answered with the data `on_auth` returns, nothing but AUTH goes out before the CONNACK
//! ([MQTT-3.1.2-30]), every AUTH and the successful CONNACK must carry the CONNECT's method
//! ([MQTT-4.12.0-5]), and a re-authentication (AUTH 0x19) ends with the server's AUTH Success.

use std::sync::mpsc;

use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::{Client, MQTTv5, PacketTypes, Property, ReasonCode};

use crate::support::{
    expect_disconnect, record_v5, run, stop_loop, v5_client, v5_connected, v5_disconnected,
    v5_protocol_error, Code, CONNACK_V5, HOST, V5, WAIT,
};

/// CONNECT of client "au" (Clean Start, keepalive 60) with Authentication Method "M" and
/// Authentication Data "i".
const CONNECT_AUTH: [u8; 25] = [
    0x10, 0x17, // CONNECT, remaining length 23
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
    0x05, // protocol level 5
    0x02, // connect flags: clean start
    0x00, 0x3c, // keepalive 60 s
    0x08, // property length 8
    0x15, 0x00, 0x01, b'M', // Authentication Method "M"
    0x16, 0x00, 0x01, b'i', // Authentication Data "i"
    0x00, 0x02, b'a', b'u', // client id "au"
];

/// AUTH Continue authentication (0x18) with method "M" and one byte of data.
fn auth_continue(data: u8) -> [u8; 12] {
    [
        0xf0, 0x0a, // AUTH, remaining length 10
        0x18, // reason code 0x18: Continue authentication
        0x08, // property length 8
        0x15, 0x00, 0x01, b'M', // Authentication Method "M"
        0x16, 0x00, 0x01, data, // Authentication Data
    ]
}

/// An MQTT 5 client "au" with method "M" and initial data "i" whose `on_auth` reports each step
/// (reason, data) to the returned channel and answers a challenge `c` with `r`, anything else with
/// `Not authorized`.
fn auth_client(reconnect: bool) -> (Client, mpsc::Receiver<(Code, Vec<u8>)>) {
    let client = if reconnect {
        v5_client("au")
    } else {
        Client::builder()
            .client_id("au")
            .protocol(MQTTv5)
            .reconnect_on_failure(false)
            .build()
            .unwrap()
    };
    client.auth_method_set("M", Some(b"i")).unwrap();
    let (tx, rx) = mpsc::channel();
    client.on_auth(move |_client, _userdata, reason, data, _props| {
        let _ = tx.send(((reason.value(), reason.name()), data.to_vec()));
        match (reason.value(), data) {
            (0x18, b"c") => Ok(b"r".to_vec()),
            (0x00, _) => Ok(Vec::new()),
            _ => Err(ReasonCode::new(PacketTypes::DISCONNECT as u8, 0x87)),
        }
    });
    (client, rx)
}

fn next_step(rx: &mpsc::Receiver<(Code, Vec<u8>)>) -> (Code, Vec<u8>) {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("no on_auth within {WAIT:?}: {e}"))
}

/// The whole exchange: CONNECT with the method and initial data, the server's challenge answered
/// with `on_auth`'s data, a SUBSCRIBE made inside `on_auth` held until the CONNACK (which carries the
/// method and the server's last data, shown to `on_auth` as Success before `on_connect`), then a
/// re-authentication: AUTH 0x19 with the method and data, answered by AUTH Success.
#[test]
fn challenge_response_then_reauthentication() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&auth_continue(b'c'))?;
        // The answer, and nothing before it: on_auth's SUBSCRIBE waits for the CONNACK.
        s.expect(&auth_continue(b'r'))?;
        s.send(&[
            0x20, 0x0b, // CONNACK, remaining length 11
            0x00, // acknowledge flags: no session present
            0x00, // reason code: Success
            0x08, // property length 8
            0x15, 0x00, 0x01, b'M', // Authentication Method "M"
            0x16, 0x00, 0x01, b's', // Authentication Data "s"
        ])?;
        s.expect(&[
            0x82, 0x07, // SUBSCRIBE, remaining length 7
            0x00, 0x01, // message id 1
            0x00, // property length 0
            0x00, 0x01, b't', // filter "t"
            0x00, // options: QoS 0
        ])?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x01, // message id 1
            0x00, // property length 0
            0x00, // granted QoS 0
        ])?;
        s.expect(&[
            0xf0, 0x0e, // AUTH, remaining length 14
            0x19, // reason code 0x19: Re-authenticate
            0x0c, // property length 12
            0x15, 0x00, 0x01, b'M', // Authentication Method "M"
            0x16, 0x00, 0x05, b'a', b'g', b'a', b'i', b'n', // Authentication Data "again"
        ])?;
        s.send(&[
            0xf0, 0x06, // AUTH, remaining length 6
            0x00, // reason code 0: Success
            0x04, // property length 4
            0x15, 0x00, 0x01, b'M', // Authentication Method "M"
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let (client, steps) = auth_client(true);
        let events = record_v5(&client);
        client.connect(HOST, port, 60).unwrap();
        // Subscribing while the exchange runs (CONNECT is out, no CONNACK yet): held, not refused,
        // and sent once the CONNACK is in.
        assert_eq!(client.subscribe("t", 0).unwrap(), 1);
        client.loop_start().unwrap();
        assert_eq!(
            next_step(&steps),
            ((0x18, "Continue authentication"), b"c".to_vec())
        );
        assert_eq!(next_step(&steps), ((0x00, "Success"), b"s".to_vec()));
        events.expect(v5_connected(vec![
            Property::AuthenticationMethod("M".into()),
            Property::AuthenticationData(b"s".to_vec()),
        ]));
        events.expect(V5::Subscribe {
            mid: 1,
            codes: vec![(0, "Granted QoS 0")],
            props: vec![],
        });
        client.reauthenticate(Some(b"again")).unwrap();
        assert_eq!(next_step(&steps), ((0x00, "Success"), vec![]));
        client.disconnect().unwrap();
        events.expect(v5_disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A CONNACK that accepts without the CONNECT's method (here another one) breaks [MQTT-4.12.0-5]:
/// DISCONNECT 0x82 and no `on_connect`.
#[test]
fn connack_with_another_method_is_a_protocol_error() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&[
            0x20, 0x07, // CONNACK, remaining length 7
            0x00, // acknowledge flags: no session present
            0x00, // reason code: Success
            0x04, // property length 4
            0x15, 0x00, 0x01, b'X', // Authentication Method "X": not the CONNECT's
        ])?;
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x82, // reason code 0x82: Protocol error
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let (client, steps) = auth_client(false);
        let events = record_v5(&client);
        client.connect(HOST, port, 60).unwrap();
        client.loop_start().unwrap();
        events.expect(v5_protocol_error());
        stop_loop(&client);
        events.assert_idle();
        assert!(
            steps.try_recv().is_err(),
            "on_auth ran for a refused CONNACK"
        );
    });
}

/// A challenge without the CONNECT's method is refused the same way ([MQTT-4.12.0-5]), as is a
/// CONNACK without any method: here the second connection's.
#[test]
fn auth_with_another_method_is_a_protocol_error() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&[
            0xf0, 0x06, // AUTH, remaining length 6
            0x18, // Continue authentication
            0x04, // property length 4
            0x15, 0x00, 0x01, b'X', // Authentication Method "X"
        ])?;
        s.expect(&[0xe0, 0x01, 0x82])?; // DISCONNECT, Protocol error
        s.expect_closed()?;
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&CONNACK_V5)?; // no Authentication Method
        s.expect(&[0xe0, 0x01, 0x82])?; // DISCONNECT, Protocol error
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let (client, _steps) = auth_client(true);
        let events = record_v5(&client);
        client.connect(HOST, port, 60).unwrap();
        client.loop_start().unwrap();
        events.expect(v5_protocol_error());
        events.expect(v5_protocol_error());
        client.disconnect().ok();
        stop_loop(&client);
    });
}

/// `on_auth` returning an error ends the exchange from the client's side: DISCONNECT with its
/// reason (Not authorized), `on_disconnect` with it, no `on_connect`.
#[test]
fn on_auth_error_disconnects_with_its_reason() {
    let broker = MockBroker::start(|s: &mut MockSession| -> Result<(), MockError> {
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&auth_continue(b'?'))?; // a challenge on_auth does not answer
        s.expect(&[
            0xe0, 0x01, // DISCONNECT, remaining length 1
            0x87, // reason code 0x87: Not authorized
        ])?;
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let (client, steps) = auth_client(false);
        let events = record_v5(&client);
        client.connect(HOST, port, 60).unwrap();
        client.loop_start().unwrap();
        assert_eq!(
            next_step(&steps),
            ((0x18, "Continue authentication"), b"?".to_vec())
        );
        events.expect(V5::Disconnect {
            from_server: false,
            rc: (0x87, "Not authorized"),
            props: vec![],
        });
        stop_loop(&client);
        events.assert_idle();
    });
}

/// Without `on_auth`, a challenge cannot be answered: DISCONNECT 0x8C (Bad authentication method).
/// A QoS 1 message published while connecting is not sent before it (it waits for a CONNACK).
#[test]
fn challenge_without_on_auth_disconnects_bad_method() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_AUTH)?;
        s.send(&auth_continue(b'c'))?;
        s.expect(&[0xe0, 0x01, 0x8c])?; // DISCONNECT, Bad authentication method
        s.expect_closed()
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .client_id("au")
            .protocol(MQTTv5)
            .reconnect_on_failure(false)
            .build()
            .unwrap();
        client.auth_method_set("M", Some(b"i")).unwrap();
        let events = record_v5(&client);
        client.connect(HOST, port, 60).unwrap();
        client.publish("q", "held", 1, false).unwrap();
        client.loop_start().unwrap();
        events.expect(V5::Disconnect {
            from_server: false,
            rc: (0x8c, "Bad authentication method"),
            props: vec![],
        });
        stop_loop(&client);
    });
}
