//! Paho's client scenarios played against `MockBroker`, the scripted broker that checks every byte.
//!
//! Each test is one scenario of Paho Python's behaviour (../shared/PAHO.md): the broker's script lists the
//! exact packets the client must send, as annotated byte arrays, and what the broker answers; the test
//! body drives a `pahoish::Client` (with `loop_start`) and checks the callbacks it gets, in order.
//!
//! Nothing sleeps to synchronise. The test body and the script hand each other the turn over channels,
//! and when the broker closes a connection the script first waits until the body has seen the callback of
//! the last packet it sent, so that what a test checks never depends on how the client's reads happen to
//! be split. Every wait has a timeout: a broken client fails a test, it never hangs it. Clocks are read
//! only to check timers (keepalive, reconnect backoff), never to order events.
//!
//! Except in `publishes_from_another_thread_always_go_out`, the test thread makes one call on the client
//! at a time and waits for its effect before the next, so that each scenario checks its own behaviour and
//! not also how back-to-back calls race the loop's wake-ups; that race is that test's subject.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pahoish::testing::{hex, MockBroker, MockError, MockSession};
use pahoish::{Client, Error, ErrorCode, MQTTv31, MQTTv311};

/// The longest the test body waits for any one callback or thread.
const WAIT: Duration = Duration::from_secs(10);
/// What `MockBroker::finish` is given.
const FINISH: Duration = Duration::from_secs(10);
/// What `wait_for_publish` is given.
const PUBLISH_WAIT: Option<Duration> = Some(Duration::from_secs(5));
const HOST: &str = "127.0.0.1";

/// CONNECT of `Client::new("")` with keepalive 60.
const CONNECT_DEFAULT: [u8; 14] = [
    0x10, 0x0c, // CONNECT, remaining length 12
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
    0x04, // protocol level 4 (MQTT 3.1.1)
    0x02, // connect flags: clean session
    0x00, 0x3c, // keepalive 60 s
    0x00, 0x00, // client id: zero length (the broker assigns one)
];

/// CONNACK: accepted, no session present.
const CONNACK_ACCEPTED: [u8; 4] = [
    0x20, 0x02, // CONNACK, remaining length 2
    0x00, // acknowledge flags: no session present
    0x00, // return code 0: connection accepted
];

/// DISCONNECT.
const DISCONNECT: [u8; 2] = [
    0xe0, 0x00, // DISCONNECT, remaining length 0
];

/// PINGREQ.
const PINGREQ: [u8; 2] = [
    0xc0, 0x00, // PINGREQ, remaining length 0
];

/// PINGRESP.
const PINGRESP: [u8; 2] = [
    0xd0, 0x00, // PINGRESP, remaining length 0
];

// ---- what the callbacks saw ----

/// One callback, with the arguments a test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Connect {
        rc: u8,
        name: String,
        session_present: bool,
    },
    Disconnect {
        rc: u8,
        name: String,
    },
    Subscribe {
        mid: u16,
        codes: Vec<(u8, String)>,
    },
    Unsubscribe {
        mid: u16,
    },
    Publish {
        mid: u16,
    },
    Message(Msg),
}

/// The fields of a received message that the scenarios check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    retain: bool,
    mid: u16,
    dup: bool,
}

impl Msg {
    fn of(m: &pahoish::Message) -> Msg {
        Msg {
            topic: m.topic.clone(),
            payload: m.payload.clone(),
            qos: m.qos,
            retain: m.retain,
            mid: m.mid,
            dup: m.dup,
        }
    }
}

/// `on_connect` with `Success` and no session present.
fn connected() -> Ev {
    Ev::Connect {
        rc: 0,
        name: "Success".into(),
        session_present: false,
    }
}

/// `on_disconnect` after `disconnect()`.
fn disconnected() -> Ev {
    Ev::Disconnect {
        rc: 0,
        name: "Normal disconnection".into(),
    }
}

/// `on_disconnect` after the connection was lost or closed for a protocol error (Paho: rc 0x80).
fn lost() -> Ev {
    Ev::Disconnect {
        rc: 0x80,
        name: "Unspecified error".into(),
    }
}

fn published(mid: u16) -> Ev {
    Ev::Publish { mid }
}

fn subscribed(mid: u16, codes: &[(u8, &str)]) -> Ev {
    Ev::Subscribe {
        mid,
        codes: codes.iter().map(|&(v, n)| (v, n.to_string())).collect(),
    }
}

fn message(topic: &str, payload: &[u8], qos: u8, mid: u16) -> Ev {
    Ev::Message(Msg {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        retain: false,
        mid,
        dup: false,
    })
}

/// The callbacks a client made, in the order it made them.
struct Events {
    tx: Sender<Ev>,
    rx: Receiver<Ev>,
}

impl Events {
    /// The next callback; fails the test if none comes within `WAIT`.
    fn next(&self) -> Ev {
        self.rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no callback within {WAIT:?}: {e}"))
    }

    /// Checks that the next callback is `expected`.
    #[track_caller]
    fn expect(&self, expected: Ev) {
        assert_eq!(self.next(), expected);
    }

    /// Checks that no callback is waiting to be seen.
    #[track_caller]
    fn assert_idle(&self) {
        match self.rx.try_recv() {
            Err(TryRecvError::Empty) => {}
            other => panic!("unexpected callback: {other:?}"),
        }
    }

    /// Another sender, for a test's own callbacks.
    fn sender(&self) -> Sender<Ev> {
        self.tx.clone()
    }
}

/// Sets the six main callbacks of `client` to report to the returned `Events`. A test may replace any of
/// them afterwards (with one that reports to `Events::sender`).
fn record<U: Send + 'static>(client: &Client<U>) -> Events {
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    client.on_connect(move |_, _, flags, rc, _| {
        let _ = t.send(Ev::Connect {
            rc: rc.value(),
            name: rc.to_string(),
            session_present: flags.session_present,
        });
    });
    let t = tx.clone();
    client.on_disconnect(move |_, _, _, rc, _| {
        let _ = t.send(Ev::Disconnect {
            rc: rc.value(),
            name: rc.to_string(),
        });
    });
    let t = tx.clone();
    client.on_subscribe(move |_, _, mid, codes, _| {
        let codes = codes.iter().map(|c| (c.value(), c.to_string())).collect();
        let _ = t.send(Ev::Subscribe { mid, codes });
    });
    let t = tx.clone();
    client.on_unsubscribe(move |_, _, mid, _, _| {
        let _ = t.send(Ev::Unsubscribe { mid });
    });
    let t = tx.clone();
    client.on_publish(move |_, _, mid, _, _| {
        let _ = t.send(Ev::Publish { mid });
    });
    let t = tx.clone();
    client.on_message(move |_, _, m| {
        let _ = t.send(Ev::Message(Msg::of(m)));
    });
    Events { tx, rx }
}

// ---- driving the client and the script ----

/// Connects `client` to the broker on `port` and starts its loop thread.
fn start<U: Send + 'static>(client: &Client<U>, port: u16, keepalive: u16) {
    client
        .connect(HOST, port, keepalive)
        .expect("connect to the MockBroker");
    client.loop_start().expect("loop_start");
}

/// `loop_stop`, failing the test instead of hanging it if the loop thread does not end.
fn stop_loop<U: Send + 'static>(client: &Client<U>) {
    let c = client.clone();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let _ = tx.send(c.loop_stop());
    });
    let r = rx
        .recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("loop_stop did not return within {WAIT:?}: {e}"));
    t.join().expect("the loop_stop thread");
    r.expect("loop_stop");
}

/// Runs the test body, then the broker's verdict: both must succeed. When both fail, the script's error is
/// printed before the body's panic is passed on, since it usually says what the client did wrong.
fn run(broker: MockBroker, body: impl FnOnce()) {
    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    let script = broker.finish(FINISH);
    match (outcome, script) {
        (Ok(()), Ok(())) => {}
        (Ok(()), Err(e)) => panic!("the broker script failed: {e}"),
        (Err(p), Ok(())) => panic::resume_unwind(p),
        (Err(p), Err(e)) => {
            eprintln!("the broker script failed too: {e}");
            panic::resume_unwind(p)
        }
    }
}

/// In a script: waits until the test body gives the script the turn.
fn wait_turn(rx: &Receiver<()>) -> Result<(), MockError> {
    rx.recv_timeout(WAIT).map_err(|e| {
        MockError::script(format!("the test body never gave the script its turn: {e}"))
    })
}

/// In a script: fails unless `elapsed` is in `range`.
fn check_time(
    what: &str,
    elapsed: Duration,
    range: std::ops::Range<Duration>,
) -> Result<(), MockError> {
    if range.contains(&elapsed) {
        Ok(())
    } else {
        Err(MockError::script(format!(
            "{what} after {elapsed:?}, expected within {range:?}"
        )))
    }
}

/// In a script: the client connects with `Client::new("")` and keepalive 60, and is accepted.
fn accept_default(s: &mut MockSession) -> Result<(), MockError> {
    s.accept()?;
    s.expect(&CONNECT_DEFAULT)?;
    s.send(&CONNACK_ACCEPTED)
}

/// In a script: the client sends DISCONNECT and closes the connection.
fn expect_disconnect(s: &mut MockSession) -> Result<(), MockError> {
    s.expect(&DISCONNECT)?;
    s.expect_closed()
}

/// The whole of a CONNECT scenario: `client` connects and must send exactly `connect`; the broker accepts;
/// `disconnect()` sends DISCONNECT and closes.
fn connect_sends<U: Send + 'static>(client: Client<U>, connect: &'static [u8]) {
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(connect)?;
        s.send(&CONNACK_ACCEPTED)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        client.disconnect().expect("disconnect");
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

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

// ---- 7. subscribe and unsubscribe ----

/// subscribe in each of Paho's shapes (filter and QoS, a pair, a list) sends one SUBSCRIBE each, the
/// list's filters in one packet; on_subscribe gets the message id and "Granted QoS n", or "Unspecified
/// error" for a 0x80.
#[test]
fn subscribe_single_pair_and_list() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x08, // SUBSCRIBE, remaining length 8
            0x00, 0x01, // message id 1
            0x00, 0x03, b'a', b'/', b'b', 0x00, // "a/b", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x00, // granted QoS 0
        ])?;
        s.expect(&[
            0x82, 0x08, // SUBSCRIBE, remaining length 8
            0x00, 0x02, // message id 2
            0x00, 0x03, b'c', b'/', b'd', 0x01, // "c/d", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x01, // granted QoS 1
        ])?;
        s.expect(&[
            0x82, 0x0c, // SUBSCRIBE, remaining length 12
            0x00, 0x03, // message id 3
            0x00, 0x01, b'e', 0x02, // "e", QoS 2
            0x00, 0x03, b'f', b'/', b'#', 0x00, // "f/#", QoS 0
        ])?;
        s.send(&[
            0x90, 0x04, // SUBACK, remaining length 4
            0x00, 0x03, // message id 3
            0x02, // "e": granted QoS 2
            0x80, // "f/#": refused
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("a/b", 0).unwrap(), 1);
        events.expect(subscribed(1, &[(0, "Granted QoS 0")]));
        assert_eq!(client.subscribe(("c/d", 1), 0).unwrap(), 2);
        events.expect(subscribed(2, &[(1, "Granted QoS 1")]));
        assert_eq!(client.subscribe([("e", 2), ("f/#", 0)], 0).unwrap(), 3);
        events.expect(subscribed(
            3,
            &[(2, "Granted QoS 2"), (0x80, "Unspecified error")],
        ));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// unsubscribe of one filter and of a list sends one UNSUBSCRIBE each; UNSUBACK calls on_unsubscribe
/// with the message id.
#[test]
fn unsubscribe_single_and_list() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0xa2, 0x07, // UNSUBSCRIBE (flags 0b0010), remaining length 7
            0x00, 0x01, // message id 1
            0x00, 0x03, b'a', b'/', b'b', // "a/b"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0xa2, 0x0a, // UNSUBSCRIBE, remaining length 10
            0x00, 0x02, // message id 2
            0x00, 0x03, b'c', b'/', b'd', // "c/d"
            0x00, 0x01, b'e', // "e"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.unsubscribe("a/b").unwrap(), 1);
        events.expect(Ev::Unsubscribe { mid: 1 });
        assert_eq!(client.unsubscribe(["c/d", "e"]).unwrap(), 2);
        events.expect(Ev::Unsubscribe { mid: 2 });
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 8. broker-to-client QoS 1 and 2 ----

/// The QoS 0 PUBLISH the `on_message` of the receiving scenarios sends: whatever `on_message` sends
/// precedes an acknowledgement that is only sent once `on_message` has returned.
const MARKER: [u8; 6] = [
    0x30, 0x04, // PUBLISH QoS 0, remaining length 4
    0x00, 0x01, b'm', // topic "m"
    b'x', // payload "x"
];

/// An `on_message` that reports the message and then publishes `MARKER`.
fn on_message_publishes_marker(client: &Client, events: &Events) {
    let tx = events.sender();
    client.on_message(move |c, _, m| {
        let _ = tx.send(Ev::Message(Msg::of(m)));
        c.publish("m", "x", 0, false)
            .expect("publish from on_message");
    });
}

/// An incoming QoS 1 PUBLISH is passed to on_message, and PUBACK goes out after on_message returns
/// (after what on_message itself published).
#[test]
fn incoming_qos1_is_acknowledged_after_on_message() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.send(&[
            0x32, 0x0a, // PUBLISH QoS 1, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x07, // message id 7
            b'h', b'e', b'y', // payload "hey"
        ])?;
        s.expect(&MARKER)?; // from on_message
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // message id 7
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        on_message_publishes_marker(&client, &events);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("a/b", b"hey", 1, 7));
        events.expect(published(1)); // the marker (QoS 0, written)
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// An incoming QoS 2 PUBLISH gets PUBREC at once without on_message (also when repeated with DUP);
/// PUBREL delivers it once to on_message, then PUBCOMP; a PUBREL for an unknown id still gets PUBCOMP.
#[test]
fn incoming_qos2_is_delivered_on_pubrel() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.send(&[
            0x34, 0x0a, // PUBLISH QoS 2, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x08, // message id 8
            b'h', b'e', b'y', // payload "hey"
        ])?;
        // Had on_message run now, MARKER would come before PUBREC.
        s.expect(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x3c, 0x0a, // PUBLISH QoS 2 DUP, remaining length 10
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x08, // message id 8
            b'h', b'e', b'y', // payload "hey"
        ])?;
        s.expect(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x62, 0x02, // PUBREL (flags 0b0010), remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.expect(&MARKER)?; // on_message ran, once
        s.expect(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x08, // message id 8
        ])?;
        s.send(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x63, // message id 99: unknown
        ])?;
        s.expect(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x63, // message id 99
        ])?;
        let _ = turn_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        on_message_publishes_marker(&client, &events);
        start(&client, port, 60);
        events.expect(connected());
        match events.next() {
            Ev::Message(m) => assert_eq!(
                (&m.topic[..], &m.payload[..], m.qos, m.mid, m.retain),
                ("a/b", &b"hey"[..], 2, 8, false)
            ),
            other => panic!("expected on_message, got {other:?}"),
        }
        events.expect(published(1)); // the marker
        turn_rx.recv_timeout(WAIT).expect("the script's turn");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 9. client-to-broker QoS 1 and 2 across a dropped connection ----

/// A client that reconnects quickly after the broker drops it.
fn reconnecting_client() -> Client {
    let client = Client::new("");
    client.reconnect_delay_set(0.05, 0.2).unwrap();
    client
}

/// A QoS 1 PUBLISH the broker drops the connection on is sent again with DUP after the reconnect's
/// CONNACK; its PUBACK completes it: one on_publish, and wait_for_publish returns true.
#[test]
fn qos1_publish_is_resent_with_dup_after_reconnect() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.close(); // no PUBACK
        accept_default(s)?;
        s.expect(&[
            0x3a, 0x06, // PUBLISH QoS 1 with DUP, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 1, false).unwrap();
        assert_eq!((info.mid, info.rc), (1, ErrorCode::Success));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        assert!(info.is_published());
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle(); // on_publish fired once
    });
}

/// A QoS 2 PUBLISH the broker drops the connection on before PUBREC is sent again with DUP after the
/// reconnect, then completes with PUBREC, PUBREL, PUBCOMP.
#[test]
fn qos2_publish_is_resent_with_dup_after_reconnect() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x34, 0x06, // PUBLISH QoS 2, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.close(); // no PUBREC
        accept_default(s)?;
        s.expect(&[
            0x3c, 0x06, // PUBLISH QoS 2 with DUP, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 2, false).unwrap();
        assert_eq!(info.mid, 1);
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A QoS 2 message whose PUBREC arrived before the drop is not published again: after the reconnect
/// the client sends PUBREL again and PUBCOMP completes it.
#[test]
fn qos2_pubrel_is_resent_after_reconnect() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x34, 0x06, // PUBLISH QoS 2, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'm', // payload "m"
        ])?;
        s.send(&[
            0x50, 0x02, // PUBREC, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x62, 0x02, // PUBREL, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.close(); // no PUBCOMP
        accept_default(s)?;
        s.expect(&[
            0x62, 0x02, // PUBREL again, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x70, 0x02, // PUBCOMP, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        let info = client.publish("t", "m", 2, false).unwrap();
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        events.expect(lost());
        events.expect(connected());
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 10. payloads and retain ----

/// An empty payload `()`, a retained message, and payloads given as an integer and a float (sent as
/// their decimal text, b"42" and b"4.2"), each completed by on_publish once written.
#[test]
fn publish_payload_shapes_and_retain() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x30, 0x03, // PUBLISH QoS 0, remaining length 3
            0x00, 0x01, b't', // topic "t", empty payload
        ])?;
        s.expect(&[
            0x31, 0x04, // PUBLISH QoS 0 retained, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'r', // payload "r"
        ])?;
        s.expect(&[
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x01, b't', // topic "t"
            b'4', b'2', // payload 42 as text
        ])?;
        s.expect(&[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x01, b't', // topic "t"
            b'4', b'.', b'2', // payload 4.2 as text
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        // One at a time, each written before the next: bursts from this thread are another scenario
        // (publishes_from_another_thread_always_go_out).
        let written = |info: pahoish::MessageInfo, mid: u16| {
            assert_eq!((info.mid, info.rc), (mid, ErrorCode::Success));
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
            events.expect(published(mid));
        };
        written(client.publish("t", (), 0, false).unwrap(), 1);
        written(client.publish("t", "r", 0, true).unwrap(), 2);
        written(client.publish("t", 42, 0, false).unwrap(), 3);
        written(client.publish("t", 4.2, 0, false).unwrap(), 4);
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 11. refused CONNACK ----

/// CONNACK refused with "not authorised".
const CONNACK_REFUSED_5: [u8; 4] = [
    0x20, 0x02, // CONNACK, remaining length 2
    0x00, // no session present
    0x05, // return code 5: not authorised
];

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

// ---- 12. malformed packets from the broker ----

/// The broker sends `bad` (after CONNACK, once the test body saw on_connect, or instead of CONNACK): the
/// client closes the connection, on_disconnect fires, and after reconnecting to a clean script a QoS 1
/// exchange both ways works (nothing of the bad bytes was kept).
fn malformed_then_recovers(bad: &'static [u8], after_connack: bool) {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (acked_tx, acked_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        if after_connack {
            s.send(&CONNACK_ACCEPTED)?;
            wait_turn(&turn_rx)?;
        }
        s.send(bad)?;
        s.expect_closed()?;
        accept_default(s)?;
        s.expect(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'o', b'k', // payload "ok"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.send(&[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'i', b'n', // payload "in"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        let _ = acked_tx.send(());
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        if after_connack {
            events.expect(connected());
            turn_tx.send(()).unwrap();
        }
        events.expect(lost());
        events.expect(connected());
        let info = client.publish("t", "ok", 1, false).unwrap();
        events.expect(published(1));
        events.expect(message("t", b"in", 1, 1));
        assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        // on_message reports before it returns; the PUBACK follows its return.
        acked_rx.recv_timeout(WAIT).expect("the PUBACK of \"in\"");
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A remaining length with five continuation bytes (MQTT allows four) closes the connection.
#[test]
fn malformed_remaining_length() {
    malformed_then_recovers(
        &[
            0x30, // PUBLISH QoS 0
            0xff, 0xff, 0xff, 0xff, 0xff, // remaining length: five continuation bytes
        ],
        true,
    );
}

/// A PUBACK with reserved flag bits set (0x41 instead of 0x40) closes the connection.
#[test]
fn puback_with_reserved_flags() {
    malformed_then_recovers(
        &[
            0x41, 0x02, // PUBACK with flags 0b0001 (must be 0), remaining length 2
            0x00, 0x01, // message id 1
        ],
        true,
    );
}

/// A PUBLISH whose topic is not UTF-8 closes the connection.
#[test]
fn publish_with_non_utf8_topic() {
    malformed_then_recovers(
        &[
            0x30, 0x05, // PUBLISH QoS 0, remaining length 5
            0x00, 0x02, 0xc3, 0x28, // topic: c3 28 is not UTF-8
            b'p', // payload "p"
        ],
        true,
    );
}

/// A CONNACK with remaining length 3 (it must be 2), in answer to CONNECT, closes the connection.
#[test]
fn connack_with_remaining_length_3() {
    malformed_then_recovers(
        &[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, 0x00, 0x00, // flags, return code, and one byte too many
        ],
        false,
    );
}

/// A PUBACK that declares a remaining length of 268,435,455 bytes (it must be 2) closes the connection
/// at once, instead of waiting for (and buffering) 256 MB that can only be a malformed packet.
#[test]
fn puback_declaring_a_huge_length() {
    malformed_then_recovers(
        &[
            0x40, // PUBACK
            0xff, 0xff, 0xff, 0x7f, // remaining length 268,435,455 (the MQTT maximum)
        ],
        true,
    );
}

/// CONNACK and a malformed packet read in one go: on_connect still runs before on_disconnect, and only
/// once for that connection (Paho handles each packet as it reads it).
#[test]
fn connack_and_a_malformed_packet_in_one_read() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&[
            0x20, 0x02, 0x00, 0x00, // CONNACK, accepted
            0x41, 0x02, 0x00, 0x01, // PUBACK with reserved flags: malformed
        ])?;
        s.expect_closed()?;
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        events.expect(lost());
        events.expect(connected());
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A message read together with the broker's close is delivered before on_disconnect, not after it (nor
/// on the next connection).
#[test]
fn a_message_read_together_with_the_close_comes_before_on_disconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        wait_turn(&turn_rx)?; // on_connect seen
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'A', // payload "A": its on_message holds the loop
        ])?;
        wait_turn(&turn_rx)?; // on_message of A is running
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'B', // payload "B"
        ])?;
        s.close(); // the end of stream right behind B: the client reads both at once
        let _ = sent_tx.send(());
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let tx = events.sender();
        client.on_message(move |_, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            if m.payload == b"A" {
                let _ = gate_rx.recv_timeout(WAIT);
            }
        });
        start(&client, port, 60);
        events.expect(connected());
        turn_tx.send(()).unwrap();
        events.expect(message("t", b"A", 0, 0));
        turn_tx.send(()).unwrap();
        sent_rx.recv_timeout(WAIT).expect("B and the close sent");
        gate_tx.send(()).unwrap();
        events.expect(message("t", b"B", 0, 0));
        events.expect(lost());
        events.expect(connected());
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 13. callback order ----

/// The callbacks of one session come in Paho's order: on_connect, on_subscribe, on_publish, on_message,
/// on_unsubscribe, on_disconnect (each step started from the previous callback, the Paho way).
#[test]
fn callback_order_within_a_session() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b't', 0x01, // "t", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x01, // granted QoS 1
        ])?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            b'x', // payload "x"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b't', // topic "t"
            b'x', // payload "x"
        ])?;
        s.expect(&[
            0xa2, 0x05, // UNSUBSCRIBE, remaining length 5
            0x00, 0x03, // message id 3
            0x00, 0x01, b't', // "t"
        ])?;
        s.send(&[
            0xb0, 0x02, // UNSUBACK, remaining length 2
            0x00, 0x03, // message id 3
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .userdata(Vec::<&'static str>::new())
            .build()
            .unwrap();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        client.on_connect(|c, seen, _, _, _| {
            seen.push("on_connect");
            c.subscribe("t", 1).unwrap();
        });
        client.on_subscribe(|c, seen, _, _, _| {
            seen.push("on_subscribe");
            c.publish("t", "x", 1, false).unwrap();
        });
        client.on_publish(|_, seen, _, _, _| seen.push("on_publish"));
        client.on_message(|c, seen, _| {
            seen.push("on_message");
            c.unsubscribe("t").unwrap();
        });
        client.on_unsubscribe(|c, seen, _, _, _| {
            seen.push("on_unsubscribe");
            c.disconnect().unwrap();
        });
        client.on_disconnect(move |_, seen, _, _, _| {
            seen.push("on_disconnect");
            let _ = done_tx.send(());
        });
        start(&client, port, 60);
        done_rx.recv_timeout(WAIT).expect("on_disconnect");
        stop_loop(&client);
        assert_eq!(
            client.user_data_get().unwrap(),
            [
                "on_connect",
                "on_subscribe",
                "on_publish",
                "on_message",
                "on_unsubscribe",
                "on_disconnect"
            ]
        );
    });
}

// ---- 14. automatic resubscribe ----

/// The Paho idiom, subscribing in on_connect: after the broker drops the connection and reconnects
/// without a session, exactly one SUBSCRIBE is sent (on_connect's), not a second automatic one.
#[test]
fn subscribe_in_on_connect_is_not_sent_twice_after_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x01, // granted QoS 1
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        accept_default(s)?; // session present 0
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x02, // message id 2
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x01, // granted QoS 1
        ])?;
        // A second, automatic SUBSCRIBE would have been written with on_connect's, before DISCONNECT.
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        let tx = events.sender();
        client.on_connect(move |c, _, flags, rc, _| {
            let _ = tx.send(Ev::Connect {
                rc: rc.value(),
                name: rc.to_string(),
                session_present: flags.session_present,
            });
            c.subscribe("a", 1).unwrap();
        });
        start(&client, port, 60);
        events.expect(connected());
        events.expect(subscribed(1, &[(1, "Granted QoS 1")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(connected());
        events.expect(subscribed(2, &[(1, "Granted QoS 1")]));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// A subscription made after CONNACK, outside on_connect, is restored by an automatic SUBSCRIBE after
/// a reconnect without a session, and messages on it arrive again.
#[test]
fn subscription_outside_on_connect_is_restored_after_reconnect() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'b', 0x02, // "b", QoS 2
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x02, // granted QoS 2
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        accept_default(s)?; // session present 0
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x02, // message id 2
            0x00, 0x01, b'b', 0x02, // "b", QoS 2, restored automatically
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x02, // message id 2
            0x02, // granted QoS 2
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'b', // topic "b"
            b'!', // payload "!"
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = reconnecting_client();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("b", 2).unwrap(), 1);
        events.expect(subscribed(1, &[(2, "Granted QoS 2")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(connected());
        // Whether the automatic SUBSCRIBE's SUBACK is reported is the library's choice; the message on
        // the restored subscription must arrive.
        let mut ev = events.next();
        if ev == subscribed(2, &[(2, "Granted QoS 2")]) {
            ev = events.next();
        }
        assert_eq!(ev, message("b", b"!", 0, 0));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

/// After a reconnect whose CONNACK says the broker kept the session, nothing is resubscribed.
#[test]
fn nothing_is_resubscribed_when_the_session_is_present() {
    const CONNECT_C: [u8; 15] = [
        0x10, 0x0d, // CONNECT, remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x00, // connect flags: none (clean session off)
        0x00, 0x3c, // keepalive 60 s
        0x00, 0x01, b'c', // client id "c"
    ];
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&CONNECT_C)?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x01, // message id 1
            0x00, 0x01, b'b', 0x00, // "b", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x01, // message id 1
            0x00, // granted QoS 0
        ])?;
        wait_turn(&turn_rx)?; // on_subscribe seen
        s.close();
        s.accept()?;
        s.expect(&CONNECT_C)?;
        s.send(&[
            0x20, 0x02, // CONNACK, remaining length 2
            0x01, // session present
            0x00, // accepted
        ])?;
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'b', // topic "b"
            b'!', // payload "!"
        ])?;
        // A resubscribe would have been written right after on_connect, before DISCONNECT.
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::builder()
            .client_id("c")
            .clean_session(false)
            .build()
            .unwrap();
        client.reconnect_delay_set(0.05, 0.2).unwrap();
        let events = record(&client);
        start(&client, port, 60);
        events.expect(connected());
        assert_eq!(client.subscribe("b", 0).unwrap(), 1);
        events.expect(subscribed(1, &[(0, "Granted QoS 0")]));
        turn_tx.send(()).unwrap();
        events.expect(lost());
        events.expect(Ev::Connect {
            rc: 0,
            name: "Success".into(),
            session_present: true,
        });
        events.expect(message("b", b"!", 0, 0));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 15. publishing from on_message ----

/// A publish made inside on_message goes out as soon as the callback returns, not a keepalive later,
/// and ahead of the PUBACK of the message being handled.
#[test]
fn publish_from_on_message_goes_out_at_once() {
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        s.send(&[
            0x32, 0x0a, // PUBLISH QoS 1, remaining length 10
            0x00, 0x02, b'i', b'n', // topic "in"
            0x00, 0x05, // message id 5
            b'p', b'i', b'n', b'g', // payload "ping"
        ])?;
        // Keepalive is 60 s: waiting for the loop's next wake-up would miss this by far.
        s.set_timeout(Duration::from_secs(2));
        s.expect(&[
            0x32, 0x0b, // PUBLISH QoS 1, remaining length 11
            0x00, 0x03, b'o', b'u', b't', // topic "out"
            0x00, 0x01, // message id 1
            b'p', b'o', b'n', b'g', // payload "pong"
        ])?;
        s.expect(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x05, // message id 5
        ])?;
        s.set_timeout(Duration::from_secs(5));
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let events = record(&client);
        let tx = events.sender();
        client.on_message(move |c, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            c.publish("out", "pong", 1, false).unwrap();
        });
        start(&client, port, 60);
        events.expect(connected());
        events.expect(message("in", b"ping", 1, 5));
        events.expect(published(1));
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- 16. inflight window ----

/// With `max_inflight_messages_set(2)` a third QoS 1 message, published while two await PUBACK, waits:
/// a SUBSCRIBE made after it goes out first, and the message follows the first PUBACK.
#[test]
fn max_inflight_holds_the_third_message_until_a_puback() {
    let (turn_tx, turn_rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let broker = MockBroker::start(move |s| {
        accept_default(s)?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // message id 1
            b'1', // payload "1"
        ])?;
        let _ = seen_tx.send(());
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x02, // message id 2
            b'2', // payload "2"
        ])?;
        let _ = seen_tx.send(());
        wait_turn(&turn_rx)?; // the third publish() has returned
        s.send(&[
            0x30, 0x04, // PUBLISH QoS 0, remaining length 4
            0x00, 0x01, b'g', // topic "g"
            b'o', // payload "o": its on_message subscribes to "z"
        ])?;
        // The third PUBLISH (id 3) is held back; the SUBSCRIBE made after it is not.
        s.expect(&[
            0x82, 0x06, // SUBSCRIBE, remaining length 6
            0x00, 0x04, // message id 4
            0x00, 0x01, b'z', 0x00, // "z", QoS 0
        ])?;
        s.send(&[
            0x90, 0x03, // SUBACK, remaining length 3
            0x00, 0x04, // message id 4
            0x00, // granted QoS 0
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x01, // message id 1
        ])?;
        s.expect(&[
            0x32, 0x06, // PUBLISH QoS 1, remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x03, // message id 3
            b'3', // payload "3"
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x02, // message id 2
        ])?;
        s.send(&[
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x03, // message id 3
        ])?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        client.max_inflight_messages_set(2);
        let events = record(&client);
        let tx = events.sender();
        client.on_message(move |c, _, m| {
            let _ = tx.send(Ev::Message(Msg::of(m)));
            assert_eq!(c.subscribe("z", 0).unwrap(), 4);
        });
        start(&client, port, 60);
        events.expect(connected());
        // One call at a time from this thread, each seen by the broker before the next (bursts from
        // another thread are publishes_from_another_thread_always_go_out).
        let mut infos = Vec::new();
        for payload in ["1", "2"] {
            infos.push(client.publish("t", payload, 1, false).unwrap());
            seen_rx
                .recv_timeout(WAIT)
                .expect("the broker got the PUBLISH");
        }
        infos.push(client.publish("t", "3", 1, false).unwrap());
        turn_tx.send(()).unwrap();
        events.expect(message("g", b"o", 0, 0));
        events.expect(subscribed(4, &[(0, "Granted QoS 0")]));
        events.expect(published(1));
        events.expect(published(2));
        events.expect(published(3));
        for info in &infos {
            assert!(matches!(info.wait_for_publish(PUBLISH_WAIT), Ok(true)));
        }
        client.disconnect().unwrap();
        events.expect(disconnected());
        stop_loop(&client);
        events.assert_idle();
    });
}

// ---- waking the loop ----

/// Publishes from another thread always reach the wire, however they fall against the loop's wake-ups:
/// bursts of two QoS 0 publishes from the test thread, 0 to 99 µs apart, each burst written before the
/// next.
#[test]
fn publishes_from_another_thread_always_go_out() {
    const BURSTS: usize = 500;
    let broker = MockBroker::start(|s| {
        accept_default(s)?;
        for _ in 0..2 * BURSTS {
            s.expect(&[
                0x30, 0x03, // PUBLISH QoS 0, remaining length 3
                0x00, 0x01, b't', // topic "t", empty payload
            ])?;
        }
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let client = Client::new("");
        let (tx, rx) = mpsc::channel();
        client.on_connect(move |_, _, _, rc, _| {
            let _ = tx.send(rc.value());
        });
        start(&client, port, 60);
        assert_eq!(rx.recv_timeout(WAIT), Ok(0));
        for burst in 0..BURSTS {
            let first = client.publish("t", (), 0, false).unwrap();
            // Sweep the gap between the two wake-ups across the loop's reaction to the first (this
            // spin only varies timing; nothing waits on it).
            let gap = Duration::from_micros((burst % 100) as u64);
            let spin = Instant::now();
            while spin.elapsed() < gap {
                std::hint::spin_loop();
            }
            let second = client.publish("t", (), 0, false).unwrap();
            for info in [first, second] {
                let done = info.wait_for_publish(Some(Duration::from_secs(2)));
                assert!(
                    matches!(done, Ok(true)),
                    "burst {burst}: message {} not written within 2 s: {done:?}",
                    info.mid
                );
            }
        }
        client.disconnect().unwrap();
        stop_loop(&client);
    });
}

/// Userdata shared with a callback through `Arc<Mutex<_>>` works as well as the userdata argument:
/// on_connect and on_disconnect record into it across a refused and an accepted connection.
#[test]
fn callbacks_record_into_shared_state_across_a_refusal() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&CONNACK_REFUSED_5)?;
        s.expect_closed()?;
        accept_default(s)?;
        expect_disconnect(s)
    });
    let port = broker.port();
    run(broker, || {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let client = reconnecting_client();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let s = Arc::clone(&seen);
        client.on_connect(move |c, _, _, rc, _| {
            s.lock().unwrap().push(format!("connect {rc}"));
            if rc == 0 {
                c.disconnect().unwrap();
            }
        });
        let s = Arc::clone(&seen);
        client.on_disconnect(move |_, _, _, rc, _| {
            s.lock().unwrap().push(format!("disconnect {}", rc.value()));
            if rc == 0 {
                let _ = done_tx.send(());
            }
        });
        start(&client, port, 60);
        done_rx.recv_timeout(WAIT).expect("the final on_disconnect");
        stop_loop(&client);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "connect Not authorized",
                "disconnect 128",
                "connect Success",
                "disconnect 0"
            ]
        );
    });
}
