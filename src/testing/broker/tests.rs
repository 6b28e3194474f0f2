//! Tests of [`TestBroker`] from outside: raw clients on real sockets, so that every byte the broker sends
//! is seen, and the hooks a test would use.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Direction, TestBroker};
use crate::packet::{
    self, ConnAck, Connect, Disconnect, LastWill, Packet, Protocol, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, Subscribe, UnsubAck, Unsubscribe, MAX_REMAINING_LENGTH,
};

/// How long any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(5);
/// How long a paused broker is watched for an answer it must not give.
const QUIET: Duration = Duration::from_millis(300);

/// A client speaking raw packets, so every byte the broker sends is visible.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn open(broker: &TestBroker) -> Raw {
        let stream = TcpStream::connect(broker.addr()).expect("connect to the broker");
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Opens a connection and sends CONNECT; returns it with the CONNACK.
    fn connect(broker: &TestBroker, connect: Connect) -> (Raw, ConnAck) {
        let mut raw = Raw::open(broker);
        raw.send(Packet::Connect(connect));
        match raw.recv() {
            Packet::ConnAck(c) => (raw, c),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// A connection of `id` accepted by the broker (CONNACK 0); returns it and `session_present`.
    fn session(broker: &TestBroker, id: &str, clean: bool) -> (Raw, bool) {
        let (raw, connack) = Raw::connect(broker, connect(id, clean));
        assert_eq!(connack.code, 0, "CONNACK for {id}");
        (raw, connack.session_present)
    }

    fn send(&mut self, p: Packet) {
        self.send_bytes(&p.to_bytes());
    }

    fn send_bytes(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write to the broker");
    }

    /// The next packet, or `None` when none arrives within `within`; fails on an end of stream.
    fn try_recv(&mut self, within: Duration) -> Option<Packet> {
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((p, used)) = packet::decode(&self.buf, MAX_REMAINING_LENGTH).unwrap() {
                self.buf.drain(..used);
                return Some(p);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the broker closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read from the broker: {e}"),
            }
        }
    }

    fn recv(&mut self) -> Packet {
        self.try_recv(WAIT)
            .unwrap_or_else(|| panic!("no packet from the broker within {WAIT:?}"))
    }

    fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Checks that nothing is pending for this client: the answer to a PINGREQ is the next packet. The
    /// broker queues everything for a connection in order, so anything routed to it before the
    /// PINGREQ was handled would come first; no timeout is needed.
    fn expect_nothing(&mut self) {
        self.send(Packet::PingReq);
        match self.recv() {
            Packet::PingResp => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    /// Checks the broker closes the connection (within [`WAIT`]) without sending anything more.
    fn expect_closed(&mut self) {
        assert!(self.buf.is_empty(), "unread bytes {:?}", self.buf);
        self.stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "bytes before the close: {rest:?}"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the broker did not close the connection: {e}"),
        }
    }

    fn subscribe(&mut self, pkid: u16, filters: &[(&str, QoS)]) -> Vec<u8> {
        let filters = filters
            .iter()
            .map(|(f, q)| (f.to_string(), (*q).into()))
            .collect();
        self.send(Packet::Subscribe(Subscribe {
            pkid,
            filters,
            ..Subscribe::default()
        }));
        match self.recv() {
            Packet::SubAck(s) if s.pkid == pkid => s.return_codes,
            other => panic!("expected SUBACK {pkid}, got {other:?}"),
        }
    }

    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool, pkid: u16) {
        self.send(publish(topic, payload, qos, retain, pkid));
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => assert_eq!(self.recv(), Packet::PubAck(PubAck::new(pkid))),
            QoS::ExactlyOnce => {
                assert_eq!(self.recv(), Packet::PubRec(PubRec::new(pkid)));
                self.send(Packet::PubRel(PubRel::new(pkid)));
                assert_eq!(self.recv(), Packet::PubComp(PubComp::new(pkid)));
            }
        }
    }

    /// Sends a PINGREQ and waits for the PINGRESP: every packet sent before has then been handled.
    fn ping(&mut self) {
        self.send(Packet::PingReq);
        assert_eq!(self.recv(), Packet::PingResp);
    }
}

fn connect(id: &str, clean: bool) -> Connect {
    Connect {
        protocol: Protocol::V311,
        client_id: id.into(),
        clean_session: clean,
        keepalive: 60,
        username: None,
        password: None,
        will: None,
        ..Connect::default()
    }
}

fn with_will(mut c: Connect, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Connect {
    c.will = Some(LastWill {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos,
        retain,
        ..LastWill::default()
    });
    c
}

fn publish(topic: &str, payload: &[u8], qos: QoS, retain: bool, pkid: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        pkid,
        payload: payload.to_vec(),
        ..Publish::default()
    })
}

/// Topic, payload, QoS and retain of a delivered message.
fn seen(p: &Publish) -> (&str, &[u8], QoS, bool) {
    (&p.topic, &p.payload, p.qos, p.retain)
}

const Q0: QoS = QoS::AtMostOnce;
const Q1: QoS = QoS::AtLeastOnce;
const Q2: QoS = QoS::ExactlyOnce;

/// A protocol level other than 4 or 5 for "MQTT" or 3 for "MQIsdp" gets CONNACK 1, and the connection
/// is closed.
#[test]
fn an_unknown_protocol_level_gets_connack_1() {
    let broker = TestBroker::start().unwrap();
    for (name, level) in [(&b"MQTT"[..], 6u8), (b"MQTT", 3), (b"MQIsdp", 4)] {
        let mut body = vec![0, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, 0x02, 0, 60, 0, 1, b'x']);
        let mut bytes = vec![0x10, body.len() as u8];
        bytes.extend_from_slice(&body);
        let mut raw = Raw::open(&broker);
        raw.send_bytes(&bytes);
        assert_eq!(
            raw.recv(),
            Packet::ConnAck(ConnAck {
                session_present: false,
                code: 1,
                ..ConnAck::default()
            }),
            "level {level}"
        );
        raw.expect_closed();
    }
    assert!(broker.connected_clients().is_empty());
}

/// MQTT 3.1 ("MQIsdp", level 3) is accepted; its CONNACK never sets the session-present bit, which is
/// reserved there.
#[test]
fn mqtt_3_1_is_accepted() {
    let broker = TestBroker::start().unwrap();
    let mut c = connect("old", false);
    c.protocol = Protocol::V31;
    let (mut raw, connack) = Raw::connect(&broker, c.clone());
    assert_eq!((connack.code, connack.session_present), (0, false));
    raw.send(Packet::Disconnect(Disconnect::default()));
    raw.expect_closed();
    assert!(broker.wait_disconnected("old", WAIT));
    let (_raw, connack) = Raw::connect(&broker, c);
    assert_eq!((connack.code, connack.session_present), (0, false));
    assert!(broker.has_session("old"));
}

/// An empty client id is refused with CONNACK 2 for a persistent session (and on MQTT 3.1), and given
/// an `auto-N` id with a clean session.
#[test]
fn empty_client_ids() {
    let broker = TestBroker::start().unwrap();
    let (mut raw, connack) = Raw::connect(&broker, connect("", false));
    assert_eq!(connack.code, 2);
    raw.expect_closed();
    let mut v31 = connect("", true);
    v31.protocol = Protocol::V31;
    let (mut raw, connack) = Raw::connect(&broker, v31);
    assert_eq!(connack.code, 2);
    raw.expect_closed();
    assert_eq!(broker.packets("").len(), 4, "{:?}", broker.packets(""));

    let (_a, _) = Raw::session(&broker, "", true);
    let (_b, _) = Raw::session(&broker, "", true);
    assert_eq!(broker.connected_clients(), ["auto-1", "auto-2"]);
    assert!(matches!(
        &broker.packets("auto-1")[0],
        (Direction::Received, Packet::Connect(c)) if c.client_id.is_empty()
    ));
}

/// With credentials required: none gets CONNACK 5, a wrong password or user CONNACK 4, the right ones
/// 0; `clear_auth` lifts the requirement.
#[test]
fn authentication() {
    let broker = TestBroker::start().unwrap();
    broker.set_auth("alice", "secret");
    let creds = |user: Option<&str>, pass: Option<&[u8]>| {
        let mut c = connect("who", true);
        c.username = user.map(str::to_owned);
        c.password = pass.map(<[u8]>::to_vec);
        c
    };
    for (user, pass, code) in [
        (None, None, 5),
        (Some("alice"), Some(&b"wrong"[..]), 4),
        (Some("alice"), None, 4),
        (Some("bob"), Some(b"secret"), 4),
        (Some("alice"), Some(b"secret"), 0),
    ] {
        let (mut raw, connack) = Raw::connect(&broker, creds(user, pass));
        assert_eq!(connack.code, code, "{user:?} {pass:?}");
        if code != 0 {
            raw.expect_closed();
        }
    }
    broker.clear_auth();
    let (_raw, connack) = Raw::connect(&broker, creds(None, None));
    assert_eq!(connack.code, 0);
}

/// Bytes that are not MQTT, a first packet that is not CONNECT, a second CONNECT, a packet only a
/// broker sends and a malformed packet each close that connection only; the broker keeps serving.
#[test]
fn bad_input_closes_only_that_connection() {
    let broker = TestBroker::start().unwrap();
    let (mut watcher, _) = Raw::session(&broker, "watcher", true);
    let connect_bytes = Packet::Connect(connect("bad", true)).to_bytes();
    let mut bad: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xc0, 0x00],                         // PINGREQ before CONNECT
        vec![0x10, 0x03, 0x00, 0x01, b'M'],       // truncated CONNECT
        vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x7f], // five length bytes
    ];
    for after in [
        connect_bytes.clone(),              // a second CONNECT
        vec![0x20, 0x02, 0x00, 0x00],       // CONNACK from a client
        vec![0x32, 0x03, 0x00, 0x01, b'a'], // QoS 1 PUBLISH with no packet id
        vec![0x82, 0x02, 0x00, 0x01],       // SUBSCRIBE with no filter
        vec![0x30, 0x03, 0x00, 0x01, b'#'], // PUBLISH to a wildcard
    ] {
        let mut bytes = connect_bytes.clone();
        bytes.extend_from_slice(&after);
        bad.push(bytes);
    }
    for bytes in bad {
        let mut raw = Raw::open(&broker);
        raw.send_bytes(&bytes);
        if bytes.starts_with(&connect_bytes) {
            assert!(matches!(raw.recv(), Packet::ConnAck(c) if c.code == 0));
        }
        raw.expect_closed();
    }
    watcher.ping();
    let (mut again, _) = Raw::session(&broker, "bad", true);
    again.ping();
}

/// Random bytes on many connections never panic the broker (every thread still answers after).
#[test]
fn random_bytes_never_break_the_broker() {
    let broker = TestBroker::start().unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let connect_bytes = Packet::Connect(connect("fuzz", true)).to_bytes();
    for i in 0..200 {
        let mut bytes = if i % 2 == 0 {
            connect_bytes.clone()
        } else {
            Vec::new()
        };
        for _ in 0..(i % 40) + 1 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let mut raw = Raw::open(&broker);
        // The broker may close before reading everything; that is fine.
        let _ = raw.stream.write_all(&bytes);
    }
    let (mut raw, _) = Raw::session(&broker, "after", true);
    raw.ping();
}

/// QoS 0, 1 and 2 towards the broker get their acknowledgements; a subscriber gets each message at
/// the lower of the published QoS and the granted one, with retain cleared.
#[test]
fn qos_levels_and_downgrade() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    assert_eq!(
        sub.subscribe(1, &[("q/0", Q0), ("q/1", Q1), ("q/2", Q2)]),
        [0, 1, 2]
    );
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    let mut pkid = 0;
    for granted in [Q0, Q1, Q2] {
        for qos in [Q0, Q1, Q2] {
            pkid += 1;
            let topic = format!("q/{}", granted as u8);
            publ.publish(&topic, b"m", qos, false, pkid);
            let p = sub.recv_publish();
            assert_eq!(
                seen(&p),
                (topic.as_str(), &b"m"[..], qos.min(granted), false)
            );
            match p.qos {
                Q0 => assert_eq!(p.pkid, 0),
                Q1 => sub.send(Packet::PubAck(PubAck::new(p.pkid))),
                Q2 => {
                    sub.send(Packet::PubRec(PubRec::new(p.pkid)));
                    assert_eq!(sub.recv(), Packet::PubRel(PubRel::new(p.pkid)));
                    sub.send(Packet::PubComp(PubComp::new(p.pkid)));
                }
            }
        }
    }
    sub.expect_nothing();
}

/// Overlapping subscriptions deliver a message once, at the highest QoS granted among them.
#[test]
fn overlapping_subscriptions_deliver_once_at_the_highest_qos() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    sub.subscribe(1, &[("a/#", Q0), ("a/+", Q1), ("a/b", Q0)]);
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.publish("a/b", b"x", Q2, false, 1);
    let p = sub.recv_publish();
    assert_eq!(seen(&p), ("a/b", &b"x"[..], Q1, false));
    sub.send(Packet::PubAck(PubAck::new(p.pkid)));
    sub.expect_nothing();
}

/// A QoS 2 PUBLISH sent twice before its PUBREL is delivered once, when the PUBREL arrives; the
/// broker's own QoS 2 delivery runs PUBREC / PUBREL / PUBCOMP.
#[test]
fn qos2_is_delivered_exactly_once() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    sub.subscribe(1, &[("x", Q2)]);
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.send(publish("x", b"once", Q2, false, 7));
    assert_eq!(publ.recv(), Packet::PubRec(PubRec::new(7)));
    let mut again = publish("x", b"once", Q2, false, 7);
    if let Packet::Publish(p) = &mut again {
        p.dup = true;
    }
    publ.send(again);
    assert_eq!(publ.recv(), Packet::PubRec(PubRec::new(7)));
    publ.ping();
    sub.expect_nothing();
    publ.send(Packet::PubRel(PubRel::new(7)));
    assert_eq!(publ.recv(), Packet::PubComp(PubComp::new(7)));
    let p = sub.recv_publish();
    assert_eq!(seen(&p), ("x", &b"once"[..], Q2, false));
    sub.send(Packet::PubRec(PubRec::new(p.pkid)));
    assert_eq!(sub.recv(), Packet::PubRel(PubRel::new(p.pkid)));
    sub.send(Packet::PubComp(PubComp::new(p.pkid)));
    // A PUBREL repeated after the PUBCOMP is answered again and delivers nothing more.
    publ.send(Packet::PubRel(PubRel::new(7)));
    assert_eq!(publ.recv(), Packet::PubComp(PubComp::new(7)));
    sub.expect_nothing();
}

/// A persistent session keeps subscriptions and queues QoS 1 and 2 messages (not QoS 0) while its
/// client is offline; on reconnect CONNACK says session present and the queue follows in order. A
/// clean session ends it.
#[test]
fn persistent_sessions_queue_messages() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, present) = Raw::session(&broker, "p", false);
    assert!(!present);
    sub.subscribe(1, &[("s/#", Q2)]);
    sub.send(Packet::Disconnect(Disconnect::default()));
    sub.expect_closed();
    assert!(broker.wait_disconnected("p", WAIT));
    assert_eq!(broker.subscriptions("p"), [("s/#".to_string(), 2)]);

    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.publish("s/a", b"0", Q0, false, 0);
    publ.publish("s/b", b"1", Q1, false, 1);
    publ.publish("s/c", b"2", Q2, false, 2);
    publ.publish("s/d", b"3", Q1, false, 3);

    let (mut sub, present) = Raw::session(&broker, "p", false);
    assert!(present);
    let got: Vec<_> = (0..3).map(|_| sub.recv_publish()).collect();
    let got: Vec<_> = got.iter().map(seen).collect();
    assert_eq!(
        got,
        [
            ("s/b", &b"1"[..], Q1, false),
            ("s/c", &b"2"[..], Q2, false),
            ("s/d", &b"3"[..], Q1, false)
        ]
    );
    sub.send(Packet::Disconnect(Disconnect::default()));
    sub.expect_closed();
    assert!(broker.wait_disconnected("p", WAIT));

    // A clean session discards the persistent one, and ends with its connection.
    let (mut sub, present) = Raw::session(&broker, "p", true);
    assert!(!present);
    assert!(broker.subscriptions("p").is_empty());
    sub.send(Packet::Disconnect(Disconnect::default()));
    sub.expect_closed();
    assert!(broker.wait_disconnected("p", WAIT));
    assert!(!broker.has_session("p"));
    let (_sub, present) = Raw::session(&broker, "p", false);
    assert!(!present);
}

/// Messages in flight when a persistent client goes away are sent again on reconnect: an unacked
/// PUBLISH with DUP set, a PUBREC'd QoS 2 message as PUBREL.
#[test]
fn inflight_messages_are_resent_on_reconnect() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "p", false);
    sub.subscribe(1, &[("r/1", Q1), ("r/2", Q2)]);
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.publish("r/1", b"one", Q1, false, 1);
    publ.publish("r/2", b"two", Q2, false, 2);
    let p1 = sub.recv_publish();
    let p2 = sub.recv_publish();
    assert_eq!((p1.dup, p2.dup), (false, false));
    sub.send(Packet::PubRec(PubRec::new(p2.pkid)));
    assert_eq!(sub.recv(), Packet::PubRel(PubRel::new(p2.pkid)));
    drop(sub); // no PUBACK, no PUBCOMP, no DISCONNECT
    assert!(broker.wait_disconnected("p", WAIT));

    let (mut sub, present) = Raw::session(&broker, "p", false);
    assert!(present);
    let again = sub.recv_publish();
    assert_eq!(seen(&again), ("r/1", &b"one"[..], Q1, false));
    assert_eq!((again.pkid, again.dup), (p1.pkid, true));
    assert_eq!(sub.recv(), Packet::PubRel(PubRel::new(p2.pkid)));
    sub.send(Packet::PubAck(PubAck::new(p1.pkid)));
    sub.send(Packet::PubComp(PubComp::new(p2.pkid)));
    sub.ping();
    sub.send(Packet::Disconnect(Disconnect::default()));
    sub.expect_closed();
    let (mut sub, _) = Raw::session(&broker, "p", false);
    sub.expect_nothing();
}

/// Retained messages: set, replaced, sent with retain on subscribe (at the lower QoS), delivered live
/// without retain, cleared by an empty payload; `$SYS/broker/version` is retained from the start.
#[test]
fn retained_messages() {
    let broker = TestBroker::start().unwrap();
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.publish("r/t", b"first", Q1, true, 1);
    publ.publish("r/t", b"second", Q2, true, 2);
    let (mut a, _) = Raw::session(&broker, "a", true);
    a.subscribe(1, &[("r/+", Q1)]);
    let p = a.recv_publish();
    assert_eq!(seen(&p), ("r/t", &b"second"[..], Q1, true));
    a.send(Packet::PubAck(PubAck::new(p.pkid)));
    // Subscribing again sends the retained message again.
    a.subscribe(2, &[("r/+", Q0)]);
    assert_eq!(seen(&a.recv_publish()), ("r/t", &b"second"[..], Q0, true));

    publ.publish("r/t", b"", Q0, true, 0);
    assert_eq!(seen(&a.recv_publish()), ("r/t", &b""[..], Q0, false));
    publ.ping();
    assert_eq!(broker.retained().len(), 1);
    let (mut b, _) = Raw::session(&broker, "b", true);
    b.subscribe(1, &[("r/#", Q2)]);
    b.expect_nothing();

    b.subscribe(2, &[("$SYS/#", Q0)]);
    let v = b.recv_publish();
    let version = format!("pahoish TestBroker {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        seen(&v),
        ("$SYS/broker/version", version.as_bytes(), Q0, true)
    );
}

/// `+` and `#` match as the specification says, and wildcards in the first level do not match
/// topics starting with `$`. Clients cannot publish to `$SYS`.
#[test]
fn wildcards_and_dollar_topics() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    // The retained $SYS/broker/version reaches neither "#" nor "+/broker/+".
    sub.subscribe(1, &[("#", Q0), ("+/broker/+", Q0), ("$x/+", Q0)]);
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    for topic in [
        "a",
        "a/b/c",
        "/lead",
        "$x/y",
        "$x/y/z",
        "$SYS/broker/load",
        "$y",
    ] {
        publ.publish(topic, topic.as_bytes(), Q0, false, 0);
    }
    publ.ping();
    sub.send(Packet::PingReq);
    let mut got = Vec::new();
    while let Packet::Publish(p) = sub.recv() {
        got.push(p.topic);
    }
    assert_eq!(got, ["a", "a/b/c", "/lead", "$x/y"]);
}

/// SUBACK answers each filter: the QoS granted, or 0x80 for an invalid filter (which is not kept).
#[test]
fn invalid_filters_get_0x80() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    let codes = sub.subscribe(1, &[("a/#/b", Q1), ("ok/+", Q2), ("a+", Q0), ("#", Q1)]);
    assert_eq!(codes, [0x80, 2, 0x80, 1]);
    assert_eq!(
        broker.subscriptions("sub"),
        [("ok/+".to_string(), 2), ("#".to_string(), 1)]
    );
}

/// `deny_subscriptions("secret/#")` refuses what that filter matches with 0x80 on 3.1.1 (a shared form
/// of it too), grants the rest of the SUBSCRIBE, and keeps no refused filter.
#[test]
fn denied_filters_get_0x80() {
    let broker = TestBroker::builder()
        .deny_subscriptions("secret/#")
        .start()
        .unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    let codes = sub.subscribe(
        1,
        &[
            ("secret/a", Q1),
            ("open/a", Q1),
            ("secret/+", Q2),
            ("$share/g/secret/b", Q1),
            ("secretive", Q0),
        ],
    );
    assert_eq!(codes, [0x80, 1, 0x80, 0x80, 0]);
    assert_eq!(
        broker.subscriptions("sub"),
        [("open/a".to_string(), 1), ("secretive".to_string(), 0)]
    );
}

/// UNSUBSCRIBE removes the filters named (exactly), and is acknowledged even for unknown ones.
#[test]
fn unsubscribe() {
    let broker = TestBroker::start().unwrap();
    let (mut sub, _) = Raw::session(&broker, "sub", true);
    sub.subscribe(1, &[("u/a", Q0), ("u/b", Q0)]);
    sub.send(Packet::Unsubscribe(Unsubscribe {
        pkid: 2,
        filters: vec!["u/a".into(), "u/nothing".into()],
        ..Unsubscribe::default()
    }));
    assert_eq!(sub.recv(), Packet::UnsubAck(UnsubAck::new(2)));
    let (mut publ, _) = Raw::session(&broker, "pub", true);
    publ.publish("u/a", b"a", Q0, false, 0);
    publ.publish("u/b", b"b", Q0, false, 0);
    publ.ping();
    assert_eq!(sub.recv_publish().topic, "u/b");
    sub.expect_nothing();
}

/// Subscribes `watcher` to `will/#` and returns it.
fn will_watcher(broker: &TestBroker) -> Raw {
    let (mut w, _) = Raw::session(broker, "watcher", true);
    w.subscribe(1, &[("will/#", Q2)]);
    w
}

fn expect_will(watcher: &mut Raw, topic: &str) {
    let p = watcher.recv_publish();
    assert_eq!(seen(&p), (topic, &b"gone"[..], Q1, false));
    watcher.send(Packet::PubAck(PubAck::new(p.pkid)));
}

/// The will is published when the client closes the connection without DISCONNECT, and not after a
/// DISCONNECT.
#[test]
fn will_on_close_without_disconnect_only() {
    let broker = TestBroker::start().unwrap();
    let mut watcher = will_watcher(&broker);
    let (mut clean, _) = Raw::connect(
        &broker,
        with_will(connect("c", true), "will/c", b"gone", Q1, false),
    );
    clean.send(Packet::Disconnect(Disconnect::default()));
    clean.expect_closed();
    let (cut, _) = Raw::connect(
        &broker,
        with_will(connect("u", true), "will/u", b"gone", Q1, false),
    );
    drop(cut);
    expect_will(&mut watcher, "will/u");
    assert!(broker.wait_disconnected("c", WAIT));
    watcher.expect_nothing();
}

/// The will is published when the broker closes the connection: for a protocol error, a keepalive
/// timeout (1.5 x keepalive), `drop_client` and a takeover (which closes the old connection). A
/// retained will is kept.
#[test]
fn will_when_the_broker_ends_the_connection() {
    let broker = TestBroker::start().unwrap();
    let mut watcher = will_watcher(&broker);

    let (mut bad, _) = Raw::connect(
        &broker,
        with_will(connect("bad", true), "will/bad", b"gone", Q1, false),
    );
    bad.send_bytes(&[0x20, 0x02, 0x00, 0x00]);
    bad.expect_closed();
    expect_will(&mut watcher, "will/bad");

    let (mut dropped, _) = Raw::connect(
        &broker,
        with_will(connect("d", true), "will/d", b"gone", Q1, true),
    );
    assert!(broker.drop_client("d"));
    dropped.expect_closed();
    expect_will(&mut watcher, "will/d");
    assert_eq!(
        broker.retained()[1],
        ("will/d".to_string(), b"gone".to_vec(), 1)
    );
    assert!(!broker.drop_client("d"));

    let (mut old, _) = Raw::connect(
        &broker,
        with_will(connect("t", false), "will/t", b"gone", Q1, false),
    );
    old.subscribe(1, &[("t/x", Q1)]);
    let (_new, connack) = Raw::connect(&broker, connect("t", false));
    assert!(connack.session_present);
    old.expect_closed();
    expect_will(&mut watcher, "will/t");
    assert_eq!(broker.connected_clients(), ["t", "watcher"]);
    assert_eq!(broker.subscriptions("t"), [("t/x".to_string(), 1)]);

    let mut c = with_will(connect("k", true), "will/k", b"gone", Q1, false);
    c.keepalive = 1;
    let started = Instant::now();
    let (mut silent, _) = Raw::connect(&broker, c);
    silent.expect_closed();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(4000),
        "closed after {took:?}, expected 1.5 s"
    );
    expect_will(&mut watcher, "will/k");
}

/// While paused the broker handles nothing (not even PINGREQ) and closes no one for silence; after
/// resume it answers what arrived meanwhile, in order.
#[test]
fn pause_and_resume() {
    let broker = TestBroker::start().unwrap();
    let mut c = connect("slow", true);
    c.keepalive = 1;
    let (mut raw, _) = Raw::connect(&broker, c);
    broker.pause();
    raw.send(Packet::PingReq);
    raw.send(Packet::Subscribe(Subscribe {
        pkid: 3,
        filters: vec![("p".into(), Q0.into())],
        ..Subscribe::default()
    }));
    // Longer than 1.5 x the keepalive of 1 s: not closed while paused.
    assert_eq!(raw.try_recv(Duration::from_millis(1700)), None);
    let mut late = Raw::open(&broker);
    late.send(Packet::Connect(connect("late", true)));
    assert_eq!(late.try_recv(QUIET), None);
    broker.resume();
    assert_eq!(raw.recv(), Packet::PingResp);
    assert!(matches!(raw.recv(), Packet::SubAck(s) if s.pkid == 3));
    assert!(matches!(late.recv(), Packet::ConnAck(c) if c.code == 0));
}

/// The packet log holds every packet of a client id in order, both ways.
#[test]
fn packets_are_logged_in_order() {
    let broker = TestBroker::start().unwrap();
    let (mut raw, _) = Raw::session(&broker, "log", true);
    raw.subscribe(5, &[("l", Q1)]);
    raw.publish("l", b"hi", Q1, false, 9);
    let p = raw.recv_publish();
    raw.send(Packet::PubAck(PubAck::new(p.pkid)));
    raw.send(Packet::Disconnect(Disconnect::default()));
    raw.expect_closed();
    assert!(broker.wait_disconnected("log", WAIT));
    let log: Vec<_> = broker
        .packets("log")
        .into_iter()
        .map(|(d, p)| (d, p.name()))
        .collect();
    use Direction::{Received as R, Sent as S};
    assert_eq!(
        log,
        [
            (R, "CONNECT"),
            (S, "CONNACK"),
            (R, "SUBSCRIBE"),
            (S, "SUBACK"),
            (R, "PUBLISH"),
            (S, "PUBACK"),
            (S, "PUBLISH"),
            (R, "PUBACK"),
            (R, "DISCONNECT"),
        ]
    );
    broker.clear_packets();
    assert!(broker.packets("log").is_empty());
}

/// The names of this process's threads that belong to the broker on `port`.
#[cfg(target_os = "linux")]
fn broker_threads(port: u16) -> Vec<String> {
    let prefix = format!("tb-{port}-");
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

/// Dropping the broker closes every connection (connected, mid-CONNECT, paused) promptly and joins
/// every thread it started.
#[test]
fn drop_closes_connections_and_joins_threads() {
    let broker = TestBroker::start().unwrap();
    let port = broker.port();
    let (mut connected, _) = Raw::session(&broker, "c", true);
    let mut half = Raw::open(&broker);
    half.send_bytes(&[0x10, 0x20, 0x00]);
    let (mut waiting, _) = Raw::session(&broker, "w", true);
    connected.ping();
    broker.pause();
    waiting.send(Packet::PingReq);
    // A thread takes its name when it first runs, which on a loaded machine can be after the
    // connection it serves is accepted (the half-open one has said nothing to answer yet).
    #[cfg(target_os = "linux")]
    {
        let deadline = Instant::now() + WAIT;
        while broker_threads(port).len() < 7 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(
            broker_threads(port).len() >= 7,
            "{:?}",
            broker_threads(port)
        );
    }

    let (tx, rx) = mpsc::channel();
    let dropper = thread::spawn(move || {
        drop(broker);
        let _ = tx.send(());
    });
    rx.recv_timeout(WAIT)
        .expect("drop did not return within 5 s");
    dropper.join().unwrap();
    // A joined thread can still be listed for a moment: join returns when the kernel clears the
    // thread's id, a little before the task leaves /proc. Nothing signals that, so look again until
    // the list is empty, for at most WAIT; a thread that was never joined stays and fails this.
    #[cfg(target_os = "linux")]
    {
        let deadline = std::time::Instant::now() + WAIT;
        while !broker_threads(port).is_empty() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(broker_threads(port), Vec::<String>::new());
    }
    connected.expect_closed();
    half.expect_closed();
    waiting.expect_closed();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
