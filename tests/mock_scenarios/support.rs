//! What the scenarios share: the packets every script uses, what the callbacks saw ([`Ev`], recorded
//! by [`record`]), and driving the client and the script ([`run`], [`start`], [`stop_loop`], ...).

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread;
use std::time::Duration;

use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::{Client, ConnectOptions, MQTTv5, Properties, Property, ReasonCode};

/// The longest the test body waits for any one callback or thread.
pub const WAIT: Duration = Duration::from_secs(10);
/// What `MockBroker::finish` is given.
pub const FINISH: Duration = Duration::from_secs(10);
/// What `wait_for_publish` is given.
pub const PUBLISH_WAIT: Option<Duration> = Some(Duration::from_secs(5));
pub const HOST: &str = "127.0.0.1";

/// CONNECT of `Client::new("")` with keepalive 60.
pub const CONNECT_DEFAULT: [u8; 14] = [
    0x10, 0x0c, // CONNECT, remaining length 12
    0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
    0x04, // protocol level 4 (MQTT 3.1.1)
    0x02, // connect flags: clean session
    0x00, 0x3c, // keepalive 60 s
    0x00, 0x00, // client id: zero length (the broker assigns one)
];

/// CONNACK: accepted, no session present.
pub const CONNACK_ACCEPTED: [u8; 4] = [
    0x20, 0x02, // CONNACK, remaining length 2
    0x00, // acknowledge flags: no session present
    0x00, // return code 0: connection accepted
];

/// CONNACK refused with "not authorised".
pub const CONNACK_REFUSED_5: [u8; 4] = [
    0x20, 0x02, // CONNACK, remaining length 2
    0x00, // no session present
    0x05, // return code 5: not authorised
];

/// DISCONNECT.
pub const DISCONNECT: [u8; 2] = [
    0xe0, 0x00, // DISCONNECT, remaining length 0
];

/// PINGREQ.
pub const PINGREQ: [u8; 2] = [
    0xc0, 0x00, // PINGREQ, remaining length 0
];

/// PINGRESP.
pub const PINGRESP: [u8; 2] = [
    0xd0, 0x00, // PINGRESP, remaining length 0
];

// ---- what the callbacks saw ----

/// One callback, with the arguments a test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
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
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub mid: u16,
    pub dup: bool,
}

impl Msg {
    pub fn of(m: &pahoish::Message) -> Msg {
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
pub fn connected() -> Ev {
    Ev::Connect {
        rc: 0,
        name: "Success".into(),
        session_present: false,
    }
}

/// `on_disconnect` after `disconnect()`.
pub fn disconnected() -> Ev {
    Ev::Disconnect {
        rc: 0,
        name: "Normal disconnection".into(),
    }
}

/// `on_disconnect` after the connection was lost or closed for a protocol error (Paho: rc 0x80).
pub fn lost() -> Ev {
    Ev::Disconnect {
        rc: 0x80,
        name: "Unspecified error".into(),
    }
}

/// `on_disconnect` after a packet the client refused: Paho's reason for MQTT_ERR_PROTOCOL.
pub fn protocol_error() -> Ev {
    Ev::Disconnect {
        rc: 0x82,
        name: "Protocol error".into(),
    }
}

pub fn published(mid: u16) -> Ev {
    Ev::Publish { mid }
}

pub fn subscribed(mid: u16, codes: &[(u8, &str)]) -> Ev {
    Ev::Subscribe {
        mid,
        codes: codes.iter().map(|&(v, n)| (v, n.to_string())).collect(),
    }
}

pub fn message(topic: &str, payload: &[u8], qos: u8, mid: u16) -> Ev {
    Ev::Message(Msg {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        retain: false,
        mid,
        dup: false,
    })
}

/// The callbacks a client made, in the order it made them: [`Ev`]s from [`record`], [`V5`]s from
/// [`record_v5`].
pub struct Events<T = Ev> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T: std::fmt::Debug + PartialEq> Events<T> {
    /// The next callback; fails the test if none comes within `WAIT`.
    pub fn next(&self) -> T {
        self.rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no callback within {WAIT:?}: {e}"))
    }

    /// Checks that the next callback is `expected`.
    #[track_caller]
    pub fn expect(&self, expected: T) {
        assert_eq!(self.next(), expected);
    }

    /// Checks that no callback is waiting to be seen.
    #[track_caller]
    pub fn assert_idle(&self) {
        match self.rx.try_recv() {
            Err(TryRecvError::Empty) => {}
            other => panic!("unexpected callback: {other:?}"),
        }
    }

    /// Another sender, for a test's own callbacks.
    pub fn sender(&self) -> Sender<T> {
        self.tx.clone()
    }
}

/// Sets the six main callbacks of `client` to report to the returned `Events`. A test may replace any of
/// them afterwards (with one that reports to `Events::sender`).
pub fn record<U: Send + 'static>(client: &Client<U>) -> Events {
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

// ---- what the callbacks saw, MQTT 5 ----

/// A reason code as the MQTT 5 scenarios check it: its value and Paho's name for it.
pub type Code = (u8, &'static str);

fn code(rc: &ReasonCode) -> Code {
    (rc.value(), rc.name())
}

/// One callback of an MQTT 5 client, with its reason codes and properties (as a list, in the order
/// the client keeps them: by identifier, repeated ones in the order received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V5 {
    Connect {
        session_present: bool,
        rc: Code,
        props: Vec<Property>,
    },
    Disconnect {
        /// `DisconnectFlags::is_disconnect_packet_from_server`.
        from_server: bool,
        rc: Code,
        props: Vec<Property>,
    },
    Subscribe {
        mid: u16,
        codes: Vec<Code>,
        props: Vec<Property>,
    },
    Unsubscribe {
        mid: u16,
        codes: Vec<Code>,
        props: Vec<Property>,
    },
    Publish {
        mid: u16,
        rc: Code,
        props: Vec<Property>,
    },
    Message {
        msg: Msg,
        props: Vec<Property>,
    },
}

/// `on_connect`: Success, no session present, with the CONNACK's `props`.
pub fn v5_connected(props: Vec<Property>) -> V5 {
    V5::Connect {
        session_present: false,
        rc: (0, "Success"),
        props,
    }
}

/// `on_disconnect` after `disconnect()` or `disconnect_with(..)`.
pub fn v5_disconnected() -> V5 {
    V5::Disconnect {
        from_server: false,
        rc: (0, "Normal disconnection"),
        props: vec![],
    }
}

/// `on_disconnect` after the broker closed the connection without DISCONNECT.
pub fn v5_lost() -> V5 {
    V5::Disconnect {
        from_server: false,
        rc: (0x80, "Unspecified error"),
        props: vec![],
    }
}

/// `on_disconnect` after the client closed the connection for a protocol violation (Paho's reason
/// for MQTT_ERR_PROTOCOL, whatever reason the client's own DISCONNECT gave).
pub fn v5_protocol_error() -> V5 {
    V5::Disconnect {
        from_server: false,
        rc: (0x82, "Protocol error"),
        props: vec![],
    }
}

/// `on_publish` for a message acknowledged with Success and no properties.
pub fn v5_published(mid: u16) -> V5 {
    V5::Publish {
        mid,
        rc: (0, "Success"),
        props: vec![],
    }
}

/// `on_message` for a message (not retained, not a duplicate) with these properties.
pub fn v5_message(topic: &str, payload: &[u8], qos: u8, mid: u16, props: Vec<Property>) -> V5 {
    let Ev::Message(msg) = message(topic, payload, qos, mid) else {
        unreachable!()
    };
    V5::Message { msg, props }
}

/// As [`record`], for an MQTT 5 client: the six main callbacks report to the returned `Events`, with
/// their reason codes and properties.
pub fn record_v5<U: Send + 'static>(client: &Client<U>) -> Events<V5> {
    let (tx, rx) = mpsc::channel();
    let props = |p: &Properties| p.iter().cloned().collect::<Vec<_>>();
    let t = tx.clone();
    client.on_connect(move |_, _, flags, rc, p| {
        let _ = t.send(V5::Connect {
            session_present: flags.session_present,
            rc: code(&rc),
            props: props(p),
        });
    });
    let t = tx.clone();
    client.on_disconnect(move |_, _, flags, rc, p| {
        let _ = t.send(V5::Disconnect {
            from_server: flags.is_disconnect_packet_from_server,
            rc: code(&rc),
            props: props(p),
        });
    });
    let t = tx.clone();
    client.on_subscribe(move |_, _, mid, codes, p| {
        let codes = codes.iter().map(code).collect();
        let _ = t.send(V5::Subscribe {
            mid,
            codes,
            props: props(p),
        });
    });
    let t = tx.clone();
    client.on_unsubscribe(move |_, _, mid, codes, p| {
        let codes = codes.iter().map(code).collect();
        let _ = t.send(V5::Unsubscribe {
            mid,
            codes,
            props: props(p),
        });
    });
    let t = tx.clone();
    client.on_publish(move |_, _, mid, rc, p| {
        let _ = t.send(V5::Publish {
            mid,
            rc: code(&rc),
            props: props(p),
        });
    });
    let t = tx.clone();
    client.on_message(move |_, _, m| {
        let _ = t.send(V5::Message {
            msg: Msg::of(m),
            props: props(&m.properties),
        });
    });
    Events { tx, rx }
}

// ---- driving the client and the script ----

/// Connects `client` to the broker on `port` and starts its loop thread.
pub fn start<U: Send + 'static>(client: &Client<U>, port: u16, keepalive: u16) {
    client
        .connect(HOST, port, keepalive)
        .expect("connect to the MockBroker");
    client.loop_start().expect("loop_start");
}

/// `loop_stop`, failing the test instead of hanging it if the loop thread does not end.
pub fn stop_loop<U: Send + 'static>(client: &Client<U>) {
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
pub fn run(broker: MockBroker, body: impl FnOnce()) {
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
pub fn wait_turn(rx: &Receiver<()>) -> Result<(), MockError> {
    rx.recv_timeout(WAIT).map_err(|e| {
        MockError::script(format!("the test body never gave the script its turn: {e}"))
    })
}

/// In a script: fails unless `elapsed` is in `range`.
pub fn check_time(
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
pub fn accept_default(s: &mut MockSession) -> Result<(), MockError> {
    s.accept()?;
    s.expect(&CONNECT_DEFAULT)?;
    s.send(&CONNACK_ACCEPTED)
}

/// In a script: the client sends DISCONNECT and closes the connection.
pub fn expect_disconnect(s: &mut MockSession) -> Result<(), MockError> {
    s.expect(&DISCONNECT)?;
    s.expect_closed()
}

/// The whole of a CONNECT scenario: `client` connects and must send exactly `connect`; the broker accepts;
/// `disconnect()` sends DISCONNECT and closes.
pub fn connect_sends<U: Send + 'static>(client: Client<U>, connect: &'static [u8]) {
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

/// A client that reconnects quickly after the broker drops it.
pub fn reconnecting_client() -> Client {
    let client = Client::new("");
    client.reconnect_delay_set(0.05, 0.2).unwrap();
    client
}

// ---- MQTT 5 ----

/// CONNACK (MQTT 5): accepted, no session present, no properties.
pub const CONNACK_V5: [u8; 5] = [
    0x20, 0x03, // CONNACK, remaining length 3
    0x00, // acknowledge flags: no session present
    0x00, // reason code 0: Success
    0x00, // property length 0
];

/// CONNECT of an MQTT 5 client with the two-letter client id `id`, keepalive 60, no properties, and
/// the connect flags `flags` (0x02: Clean Start).
pub fn connect_v5(id: &[u8; 2], flags: u8) -> [u8; 17] {
    [
        0x10, 0x0f, // CONNECT, remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T',  // protocol name "MQTT"
        0x05,  // protocol level 5
        flags, // connect flags
        0x00, 0x3c, // keepalive 60 s
        0x00, // property length 0
        0x00, 0x02, id[0], id[1], // client id
    ]
}

/// A packet written as its fields, in order (for packets whose strings are too long to spell out
/// byte by byte).
pub fn packet(fields: &[&[u8]]) -> Vec<u8> {
    fields.concat()
}

/// PUBACK of message `mid`, in the form both versions share (on MQTT 5: reason Success, no
/// properties, both left out).
pub fn puback(mid: u8) -> [u8; 4] {
    [
        0x40, 0x02, // PUBACK, remaining length 2
        0x00, mid, // message id
    ]
}

/// How long a script watches for a packet the client must hold back.
pub const HELD: Duration = Duration::from_millis(300);

/// An MQTT 5 client with this client id that reconnects quickly after the broker drops it.
pub fn v5_client(client_id: &str) -> Client {
    let client = Client::builder()
        .client_id(client_id)
        .protocol(MQTTv5)
        .build()
        .expect("an MQTT 5 client");
    client.reconnect_delay_set(0.05, 0.2).unwrap();
    client
}

/// `connect_with` to the broker on `port` (keepalive 60) with these CONNECT `properties`, then
/// `loop_start`.
pub fn start_v5<U: Send + 'static>(client: &Client<U>, port: u16, properties: Option<Properties>) {
    client
        .connect_with(
            HOST,
            port,
            60,
            ConnectOptions {
                properties,
                ..ConnectOptions::default()
            },
        )
        .expect("connect to the MockBroker");
    client.loop_start().expect("loop_start");
}

/// `disconnect()` and `loop_stop`, for a test whose script is over while the client is between
/// connections: disconnect() has no connection to close, but it ends the loop's reconnect wait.
pub fn stop_between_connections<U: Send + 'static>(client: &Client<U>) {
    let _ = client.disconnect();
    stop_loop(client);
}
