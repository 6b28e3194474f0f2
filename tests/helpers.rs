//! The `publish` and `subscribe` helpers (Paho's `paho.mqtt.publish` / `paho.mqtt.subscribe`), first
//! against `MockBroker`, which checks every byte the helper sends and in which order, then against a
//! real mosquitto (skipped with a message when it is not installed, unless `PAHOISH_REQUIRE_MOSQUITTO=1`).
//!
//! A helper call blocks, so the test runs it on a thread of its own (`common::bounded`) while the
//! broker's script plays the other side; every wait is bounded, and a watchdog fails a test that hangs.

mod common;

use std::io::ErrorKind;
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bounded, recv, subscriber, watchdog, Mosquitto, HOST, TEST_LIMIT};
use pahoish::packet::{
    Connect, Packet, PubAck, PubComp, PubRec, PubRel, Publish, SubAck, Subscribe,
};
use pahoish::publish::{self, Auth, Options, Will};
use pahoish::subscribe;
use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::{Error, MQTTv311, Message, QoS};

/// What `MockBroker::finish` is given.
const FINISH: Duration = Duration::from_secs(15);

/// CONNECT of a helper with the default options: empty client id, clean session, keepalive 60.
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
    0x00, // no session present
    0x00, // return code 0: accepted
];

/// DISCONNECT.
const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// Options pointing at the mock broker, everything else at its default.
fn at(broker: &MockBroker) -> Options {
    Options {
        hostname: HOST.into(),
        port: broker.port(),
        ..Default::default()
    }
}

/// The script's opening: accept, the default CONNECT, CONNACK accepted.
fn open_default(s: &mut MockSession) -> Result<(), MockError> {
    s.accept()?;
    s.expect(&CONNECT_DEFAULT)?;
    s.send(&CONNACK_ACCEPTED)
}

/// The script's ending: DISCONNECT, then the client closes the connection.
fn clean_close(s: &mut MockSession) -> Result<(), MockError> {
    s.expect(&DISCONNECT)?;
    s.expect_closed()
}

fn publish_packet(topic: &str, payload: &[u8], qos: QoS, pkid: u16, retain: bool) -> Packet {
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

// ---- publish::single / publish::multiple against MockBroker ----

/// `single` at QoS 0: CONNECT, the PUBLISH once CONNACK arrived, DISCONNECT, close; nothing else.
#[test]
fn single_qos0_sends_exactly_connect_publish_disconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect(&[
            0x30, 0x07, // PUBLISH, QoS 0, no retain, remaining length 7
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            b'h', b'i', // payload "hi" (no packet identifier at QoS 0)
        ])?;
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::single", move || {
        publish::single("a/b", "hi", 0, false, &options)
    })
    .expect("single");
    broker.finish(FINISH).unwrap();
}

/// `single` at QoS 1 waits for the PUBACK before it disconnects: the script only sends the PUBACK after
/// checking nothing else came, so a helper that disconnected early fails the silence step.
#[test]
fn single_qos1_disconnects_only_after_puback() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect(&[
            0x33, 0x09, // PUBLISH, QoS 1, retain, remaining length 9
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
            0x00, 0x01, // packet identifier 1
            b'4', b'2', // payload "42" (the integer 42, as Paho sends it)
        ])?;
        s.expect_silence(Duration::from_millis(300))?;
        s.send_packet(&Packet::PubAck(PubAck::new(1)))?;
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::single", move || {
        publish::single("a/b", 42, 1, true, &options)
    })
    .expect("single");
    broker.finish(FINISH).unwrap();
}

/// `single` at QoS 2 goes through PUBREC / PUBREL / PUBCOMP before DISCONNECT.
#[test]
fn single_qos2_completes_the_four_way_handshake() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&publish_packet("q2", b"two", QoS::ExactlyOnce, 1, false))?;
        s.send_packet(&Packet::PubRec(PubRec::new(1)))?;
        s.expect_packet(&Packet::PubRel(PubRel::new(1)))?;
        s.expect_silence(Duration::from_millis(200))?;
        s.send_packet(&Packet::PubComp(PubComp::new(1)))?;
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::single", move || {
        publish::single("q2", "two", 2, false, &options)
    })
    .expect("single");
    broker.finish(FINISH).unwrap();
}

/// Every option that goes into CONNECT does: client id, keepalive, user name and password, and the will
/// with its QoS and retain flag.
#[test]
fn options_go_into_connect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x1c, // CONNECT, remaining length 28
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4
            0xee, // flags: user name, password, will retain, will QoS 1, will, clean session
            0x00, 0x1e, // keepalive 30 s
            0x00, 0x02, b'h', b'7', // client id "h7"
            0x00, 0x01, b'w', // will topic "w"
            0x00, 0x03, b'b', b'y', b'e', // will message "bye"
            0x00, 0x01, b'u', // user name "u"
            0x00, 0x01, b'p', // password "p"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t", b"", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let options = Options {
        client_id: "h7".into(),
        keepalive: 30,
        auth: Some(Auth::new("u", Some("p"))),
        will: Some(Will::new("w", "bye", 1, true)),
        ..at(&broker)
    };
    bounded("publish::single", move || {
        publish::single("t", (), 0, false, &options)
    })
    .expect("single");
    broker.finish(FINISH).unwrap();
}

/// `multiple` takes tuples and `Message`s and publishes them in order. At most 20 QoS 1 messages are in
/// flight (the client's default window): the 21st goes out only when a PUBACK frees a slot, and
/// DISCONNECT only after the last PUBACK.
#[test]
fn multiple_publishes_in_order_through_the_inflight_window() {
    let _wd = watchdog(TEST_LIMIT);
    const QOS1: u16 = 44;
    const WINDOW: u16 = 20;
    // QoS 0 takes message id 1 (ids are assigned at QoS 0 too, as in Paho): the QoS 1 ones are 2..=45.
    let qos1 = |i: u16| {
        publish_packet(
            &format!("m/{i}"),
            i.to_string().as_bytes(),
            QoS::AtLeastOnce,
            i + 1,
            false,
        )
    };
    let broker = MockBroker::start(move |s| {
        open_default(s)?;
        s.expect_packet(&publish_packet("m/0", b"zero", QoS::AtMostOnce, 0, false))?;
        for i in 1..=WINDOW {
            s.expect_packet(&qos1(i))?;
        }
        s.expect_silence(Duration::from_millis(300))?;
        for i in 1..=QOS1 {
            s.send_packet(&Packet::PubAck(PubAck::new(i + 1)))?;
            if i + WINDOW <= QOS1 {
                s.expect_packet(&qos1(i + WINDOW))?;
            }
        }
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::multiple", move || {
        let mut msgs = vec![Message::new("m/0", "zero", 0, false)];
        msgs.extend((1..=QOS1).map(|i| Message::new(format!("m/{i}"), i.to_string(), 1, false)));
        publish::multiple(msgs, &options)
    })
    .expect("multiple");
    broker.finish(FINISH).unwrap();
}

/// A refused CONNACK is an error carrying Paho's `connack_string`, and nothing is published: the client
/// closes the connection without sending anything after CONNECT.
#[test]
fn refused_connack_is_an_error_with_connack_string() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&[0x20, 0x02, 0x00, 0x05])?; // CONNACK, return code 5: not authorised
        s.expect_closed()
    });
    let options = at(&broker);
    let err = bounded("publish::single", move || {
        publish::single("a", "x", 1, false, &options)
    })
    .unwrap_err();
    assert!(matches!(err, Error::ConnectionRefused(5)), "{err:?}");
    assert!(
        err.to_string()
            .contains("Connection Refused: not authorised."),
        "{err}"
    );
    broker.finish(FINISH).unwrap();
}

/// An empty list is an error before any connection is attempted; so is an unreachable broker (the
/// first connection is not retried, as in Paho, whose connect() raises).
#[test]
fn empty_list_and_unreachable_broker_are_errors() {
    let _wd = watchdog(TEST_LIMIT);
    let none: Vec<Message> = Vec::new();
    let err = publish::multiple(none, &Options::default()).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { name: "msgs", .. }),
        "{err:?}"
    );

    // A port nobody listens on: bound, then released.
    let options = Options {
        hostname: HOST.into(),
        port: common::free_port(),
        ..Default::default()
    };
    let err = bounded("publish::single", move || {
        publish::single("a", "x", 0, false, &options)
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::ConnectionRefused),
        "{err:?}"
    );
}

/// The connection drops before the PUBACK: the helper reconnects (after the 1 s backoff), sends the
/// message again with DUP set, and returns once that one is acknowledged.
#[test]
fn a_lost_connection_is_reestablished_and_the_message_resent() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&publish_packet("r", b"again", QoS::AtLeastOnce, 1, false))?;
        s.close();
        open_default(s)?;
        s.expect(&[
            0x3a, 0x0a, // PUBLISH, DUP, QoS 1, remaining length 10
            0x00, 0x01, b'r', // topic "r"
            0x00, 0x01, // packet identifier 1, as the first time
            b'a', b'g', b'a', b'i', b'n', // payload
        ])?;
        s.send_packet(&Packet::PubAck(PubAck::new(1)))?;
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::single", move || {
        publish::single("r", "again", 1, false, &options)
    })
    .expect("single after a reconnect");
    broker.finish(FINISH).unwrap();
}

/// A QoS 0 message still unwritten when its connection closed is lost to that connection; `multiple`
/// publishes it again on the next one. The broker closes the first connection right after CONNACK and
/// never reads from it, so the TCP window stays small and a 32 MiB message cannot leave whole (whether
/// the helper published before or after noticing the close); it arrives whole on the second
/// connection. (The script reads it with `recv_raw` and compares once: `expect` compares the buffer
/// after every read, which for a packet this large takes minutes.)
#[test]
fn a_qos0_message_lost_with_its_connection_is_published_again() {
    let _wd = watchdog(TEST_LIMIT);
    let payload: Vec<u8> = (0..32 << 20).map(|i: u32| (i % 251) as u8).collect();
    let expected = publish_packet("big", &payload, QoS::AtMostOnce, 0, false);
    let broker = MockBroker::start(move |s| {
        open_default(s)?;
        s.close();
        open_default(s)?;
        let got = s.recv_raw()?;
        if got != expected.to_bytes() {
            return Err(MockError::script(format!(
                "the second connection sent another packet than the 32 MiB PUBLISH ({} bytes)",
                got.len()
            )));
        }
        clean_close(s)
    });
    let options = at(&broker);
    bounded("publish::single", move || {
        publish::single("big", payload, 0, false, &options)
    })
    .expect("single");
    broker.finish(FINISH).unwrap();
}

/// After a reconnect, `subscribe::simple` subscribes again from `on_connect` (the broker kept no
/// session), exactly once: the client's own automatic resubscribe does not send a second SUBSCRIBE.
#[test]
fn subscribe_resubscribes_once_after_a_reconnect() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&subscribe_packet(&[("re/#", QoS::AtLeastOnce)]))?;
        s.send_packet(&suback(&[1]))?;
        s.close();
        open_default(s)?;
        match s.recv_packet()? {
            Packet::Subscribe(p)
                if p.filters == [("re/#".to_string(), QoS::AtLeastOnce.into())] =>
            {
                s.send_packet(&Packet::SubAck(SubAck {
                    pkid: p.pkid,
                    return_codes: vec![1],
                    ..SubAck::default()
                }))?;
            }
            other => {
                return Err(MockError::script(format!(
                    "expected SUBSCRIBE, got {other:?}"
                )))
            }
        }
        s.expect_silence(Duration::from_millis(300))?;
        s.send_packet(&publish_packet("re/x", b"after", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let options = at(&broker);
    let msgs = bounded("subscribe::simple", move || {
        subscribe::simple("re/#", 1, 1, true, &options)
    })
    .expect("simple");
    assert_eq!(msgs[0].payload, b"after");
    broker.finish(FINISH).unwrap();
}

/// In a script: answers keepalive pings until the client sends DISCONNECT, then expects the close.
fn pings_until_disconnect(s: &mut MockSession) -> Result<(), MockError> {
    loop {
        match s.recv_packet()? {
            Packet::PingReq => s.send_packet(&Packet::PingResp)?,
            Packet::Disconnect(_) => break,
            other => return Err(MockError::script(format!("unexpected {other:?}"))),
        }
    }
    s.expect_closed()
}

/// CONNECT of a helper with default options but keepalive 1 s.
fn connect_keepalive_1() -> Packet {
    Packet::Connect(Connect {
        protocol: MQTTv311,
        client_id: String::new(),
        clean_session: true,
        keepalive: 1,
        username: None,
        password: None,
        will: None,
        ..Connect::default()
    })
}

/// A broker that answers pings but never acknowledges: the helper gives up after 2 x keepalive (here
/// 2 s) with a TimedOut error saying what was left, and still disconnects cleanly.
#[test]
fn no_progress_for_twice_keepalive_is_a_timeout() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect_packet(&connect_keepalive_1())?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t", b"x", QoS::AtLeastOnce, 1, false))?;
        pings_until_disconnect(s)
    });
    let options = Options {
        keepalive: 1,
        ..at(&broker)
    };
    let started = Instant::now();
    let err = bounded("publish::single", move || {
        publish::single("t", "x", 1, false, &options)
    })
    .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::TimedOut),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("1 of 1 message(s) not yet published"),
        "{err}"
    );
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    broker.finish(FINISH).unwrap();
}

// ---- subscribe::simple / subscribe::callback against MockBroker ----

/// SUBSCRIBE of `filters` with message id 1.
fn subscribe_packet(filters: &[(&str, QoS)]) -> Packet {
    Packet::Subscribe(Subscribe {
        pkid: 1,
        filters: filters
            .iter()
            .map(|(f, q)| (f.to_string(), (*q).into()))
            .collect(),
        ..Subscribe::default()
    })
}

fn suback(codes: &[u8]) -> Packet {
    Packet::SubAck(SubAck {
        pkid: 1,
        return_codes: codes.to_vec(),
        ..SubAck::default()
    })
}

/// `simple` with `retained = false`: subscribes once CONNACK arrived, skips the retained message the
/// broker sends first, acknowledges each QoS 1 message (the skipped one too), and disconnects after the
/// second counted one.
#[test]
fn simple_skips_retained_and_acknowledges_before_disconnecting() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect(&[
            0x82, 0x08, // SUBSCRIBE, remaining length 8
            0x00, 0x01, // packet identifier 1
            0x00, 0x03, b's', b'/', b'#', // filter "s/#"
            0x01, // requested QoS 1
        ])?;
        s.send_packet(&suback(&[1]))?;
        s.send_packet(&publish_packet(
            "s/old",
            b"stale",
            QoS::AtLeastOnce,
            10,
            true,
        ))?;
        s.expect_packet(&Packet::PubAck(PubAck::new(10)))?;
        s.send_packet(&publish_packet("s/1", b"one", QoS::AtMostOnce, 0, false))?;
        s.send_packet(&publish_packet("s/2", b"two", QoS::AtLeastOnce, 11, false))?;
        // The last message is acknowledged when the helper is done with it: before DISCONNECT.
        s.expect_packet(&Packet::PubAck(PubAck::new(11)))?;
        clean_close(s)
    });
    let options = at(&broker);
    let msgs = bounded("subscribe::simple", move || {
        subscribe::simple("s/#", 1, 2, false, &options)
    })
    .expect("simple");
    let got: Vec<(&str, &[u8], u8, bool)> = msgs
        .iter()
        .map(|m| (m.topic.as_str(), m.payload.as_slice(), m.qos, m.retain))
        .collect();
    assert_eq!(
        got,
        [
            ("s/1", &b"one"[..], 0, false),
            ("s/2", &b"two"[..], 1, false)
        ]
    );
    broker.finish(FINISH).unwrap();
}

/// `simple` with `retained = true` counts the retained message; a QoS 2 message is completed (PUBCOMP)
/// before DISCONNECT; a list of `(filter, qos)` pairs goes out as one SUBSCRIBE.
#[test]
fn simple_counts_retained_and_completes_qos2() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&subscribe_packet(&[
            ("a", QoS::AtMostOnce),
            ("b/+", QoS::ExactlyOnce),
        ]))?;
        s.send_packet(&suback(&[0, 2]))?;
        s.send_packet(&publish_packet("b/x", b"kept", QoS::ExactlyOnce, 3, true))?;
        s.expect_packet(&Packet::PubRec(PubRec::new(3)))?;
        s.send_packet(&Packet::PubRel(PubRel::new(3)))?;
        s.expect_packet(&Packet::PubComp(PubComp::new(3)))?;
        clean_close(s)
    });
    let options = at(&broker);
    let msgs = bounded("subscribe::simple", move || {
        subscribe::simple([("a", 0), ("b/+", 2)], 0, 1, true, &options)
    })
    .expect("simple");
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0].topic.as_str(), msgs[0].qos, msgs[0].retain),
        ("b/x", 2, true)
    );
    broker.finish(FINISH).unwrap();
}

/// `callback` hands each message to the function on the caller's thread, with the userdata; the
/// function may publish through the client; `Break` stops it, and the userdata comes back.
#[test]
fn callback_runs_until_break_and_returns_the_userdata() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&subscribe_packet(&[("cmd", QoS::AtMostOnce)]))?;
        s.send_packet(&suback(&[0]))?;
        s.send_packet(&publish_packet("cmd", b"ping", QoS::AtMostOnce, 0, false))?;
        s.expect_packet(&publish_packet("reply", b"pong", QoS::AtMostOnce, 0, false))?;
        s.send_packet(&publish_packet("cmd", b"stop", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let options = at(&broker);
    let seen = bounded("subscribe::callback", move || {
        subscribe::callback(
            |client, seen: &mut Vec<String>, msg| {
                let text = msg.payload_str().unwrap_or("").to_owned();
                if text == "ping" {
                    client
                        .publish("reply", "pong", 0, false)
                        .expect("publish from the callback");
                }
                seen.push(text);
                if msg.payload == b"stop" {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            "cmd",
            0,
            Vec::new(),
            &options,
        )
    })
    .expect("callback");
    assert_eq!(seen, ["ping", "stop"]);
    broker.finish(FINISH).unwrap();
}

/// Calling `client.disconnect()` in the callback also ends `callback` (the Paho idiom), with `Ok`.
#[test]
fn callback_ends_when_the_function_disconnects() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&subscribe_packet(&[("x", QoS::AtMostOnce)]))?;
        s.send_packet(&suback(&[0]))?;
        s.send_packet(&publish_packet("x", b"bye", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let options = at(&broker);
    let n = bounded("subscribe::callback", move || {
        subscribe::callback(
            |client, n: &mut u32, _msg| {
                *n += 1;
                client.disconnect().expect("disconnect");
                ControlFlow::Continue(())
            },
            "x",
            0,
            0u32,
            &options,
        )
    })
    .expect("callback");
    assert_eq!(n, 1);
    broker.finish(FINISH).unwrap();
}

/// A SUBACK refusing every filter is an error (the helper would otherwise wait forever for messages
/// that cannot come); the helper still disconnects cleanly.
#[test]
fn a_fully_refused_subscription_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        open_default(s)?;
        s.expect_packet(&subscribe_packet(&[("secret/#", QoS::AtMostOnce)]))?;
        s.send_packet(&suback(&[0x80]))?;
        clean_close(s)
    });
    let options = at(&broker);
    let err = bounded("subscribe::simple", move || {
        subscribe::simple("secret/#", 0, 1, true, &options)
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFilter { filter, .. } if filter == "secret/#"),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused"), "{err}");
    broker.finish(FINISH).unwrap();
}

/// A refused CONNACK ends `simple` with `ConnectionRefused`, before anything is subscribed.
#[test]
fn subscribe_refused_connack_is_an_error() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT_DEFAULT)?;
        s.send(&[0x20, 0x02, 0x00, 0x04])?; // CONNACK, return code 4: bad user name or password
        s.expect_closed()
    });
    let options = at(&broker);
    let err = bounded("subscribe::simple", move || {
        subscribe::simple("a", 0, 1, true, &options)
    })
    .unwrap_err();
    assert!(matches!(err, Error::ConnectionRefused(4)), "{err:?}");
    assert!(
        err.to_string().contains("bad user name or password"),
        "{err}"
    );
    broker.finish(FINISH).unwrap();
}

/// No SUBACK within 2 x keepalive is a timeout. (The wait for messages after the SUBACK is not
/// bounded: a subscriber waits as long as it takes.)
#[test]
fn a_missing_suback_is_a_timeout() {
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect_packet(&connect_keepalive_1())?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&subscribe_packet(&[("a", QoS::AtMostOnce)]))?;
        pings_until_disconnect(s)
    });
    let options = Options {
        keepalive: 1,
        ..at(&broker)
    };
    let err = bounded("subscribe::simple", move || {
        subscribe::simple("a", 0, 1, true, &options)
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == ErrorKind::TimedOut),
        "{err:?}"
    );
    assert!(err.to_string().contains("no SUBACK"), "{err}");
    broker.finish(FINISH).unwrap();
}

// ---- against mosquitto ----

/// `multiple` at QoS 0, 1 and 2 through mosquitto: our subscriber gets all three, in order, each with
/// its QoS.
#[test]
fn mosquitto_multiple_reaches_a_subscriber_in_order() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (sub, messages) = subscriber(broker.port, "helpers/multi/#", 2);
    let options = Options {
        hostname: HOST.into(),
        port: broker.port,
        ..Default::default()
    };
    bounded("publish::multiple", move || {
        publish::multiple(
            [
                ("helpers/multi/0", "zero", 0, false),
                ("helpers/multi/1", "one", 1, false),
                ("helpers/multi/2", "two", 2, false),
            ],
            &options,
        )
    })
    .expect("multiple");
    for (i, payload) in ["zero", "one", "two"].iter().enumerate() {
        let m = recv(&messages, "a message from publish::multiple");
        assert_eq!(m.topic, format!("helpers/multi/{i}"));
        assert_eq!(m.payload, payload.as_bytes());
        assert_eq!(usize::from(m.qos), i);
    }
    sub.stop().expect("subscriber loop_stop");
}

/// Through mosquitto: `single` with retain, then `simple` picks the retained message up (retain flag
/// set); then `callback` sees the retained message (which shows its subscription is active, so the test
/// publishes the live one without sleeping) and stops at the live one.
#[test]
fn mosquitto_single_retained_then_simple_and_callback() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let options = Options {
        hostname: HOST.into(),
        port: broker.port,
        ..Default::default()
    };
    let o = options.clone();
    bounded("publish::single", move || {
        publish::single("helpers/ret", "kept", 1, true, &o)
    })
    .expect("single");
    let o = options.clone();
    let msgs = bounded("subscribe::simple", move || {
        subscribe::simple("helpers/ret", 1, 1, true, &o)
    })
    .expect("simple");
    assert_eq!(
        (msgs[0].payload.as_slice(), msgs[0].retain, msgs[0].qos),
        (&b"kept"[..], true, 1)
    );

    let (tx, seen) = mpsc::channel();
    let o = options.clone();
    let handle = std::thread::spawn(move || {
        subscribe::callback(
            move |_client, n: &mut u32, msg| {
                *n += 1;
                let _ = tx.send((msg.payload.clone(), msg.retain));
                if msg.retain {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            },
            "helpers/ret",
            0,
            0u32,
            &o,
        )
    });
    assert_eq!(
        recv(&seen, "the retained message"),
        (b"kept".to_vec(), true)
    );
    let o = options.clone();
    bounded("publish::single", move || {
        publish::single("helpers/ret", "live", 0, false, &o)
    })
    .expect("single");
    assert_eq!(recv(&seen, "the live message"), (b"live".to_vec(), false));
    let n = bounded("subscribe::callback to return", move || {
        handle.join().expect("callback thread")
    })
    .expect("callback");
    assert_eq!(n, 2);
}

// ---- the client under the helpers ----

/// Accepts connections on `listener` on a thread of its own, handing them over a channel, so the test
/// can wait for one with a timeout (std has no accept with a timeout). The thread ends when the
/// receiver is gone and one more connection arrives, or when accept fails.
fn acceptor(listener: std::net::TcpListener) -> mpsc::Receiver<std::net::TcpStream> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok((stream, _)) = listener.accept() {
            if tx.send(stream).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `disconnect()` made while `loop_start`'s reconnect attempt is still connecting must not be lost:
/// once that TCP connection succeeds, the client should close it (or send DISCONNECT) and the loop
/// should end, as it does when `disconnect()` lands during the backoff wait. The helpers' teardown
/// (`disconnect()` then `loop_stop()`) relies on it.
///
/// The reconnect is held inside its TCP connect by a listener whose accept queue is full (the kernel
/// drops the SYN until a slot frees up, and the client retries after a second).
#[test]
fn disconnect_during_a_reconnect_attempt_is_not_lost() {
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    let _wd = watchdog(TEST_LIMIT);
    let listener = TcpListener::bind((HOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = acceptor(listener.try_clone().unwrap());
    let next = |accepted: &mpsc::Receiver<TcpStream>, what: &str| {
        accepted
            .recv_timeout(common::WAIT)
            .unwrap_or_else(|_| panic!("no connection: {what}"))
    };

    let client = pahoish::Client::new("race");
    let (pre_tx, pre_connect) = mpsc::channel();
    client.on_pre_connect(move |_, _| {
        let _ = pre_tx.send(());
    });
    client.connect(HOST, addr.port(), 60).unwrap();
    client.loop_start().unwrap();
    recv(&pre_connect, "the first connection");
    let mut first = next(&accepted, "the first connection");
    first.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut connect = [0u8; 14];
    first.read_exact(&mut connect).unwrap();
    first.write_all(&CONNACK_ACCEPTED).unwrap();

    // Stop accepting, then fill the accept queue: connections succeed until it is full.
    drop(accepted);
    let mut fillers = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
        assert!(fillers.len() < 10_000, "the accept queue never filled");
    }
    // The acceptor thread took one more connection before it noticed: that one is a filler too.

    drop(first); // the client reconnects after its 1 s backoff, into the full queue
    recv(&pre_connect, "the reconnect attempt");
    let _ = client.disconnect(); // NoConn: but the loop must end instead of connecting on

    // Free the queue: the fillers close. Of the connections accepted next, the client's is the one
    // that comes from none of the fillers' ports; once its SYN retry gets in, the client should close
    // it (at most after a CONNECT or DISCONNECT) without waiting for a CONNACK.
    let filler_ports: HashSet<u16> = fillers
        .iter()
        .map(|f| f.local_addr().unwrap().port())
        .collect();
    drop(fillers);
    let accepted = acceptor(listener);
    let mut conn = loop {
        let s = next(&accepted, "the client's retried connection");
        if !filler_ports.contains(&s.peer_addr().unwrap().port()) {
            break s;
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    let closed = match conn.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "{e}"
            );
            false
        }
    };
    drop(conn);
    drop(accepted);
    bounded("loop_stop", move || client.loop_stop()).unwrap();
    assert!(
        closed,
        "after disconnect(), the client kept the reconnected connection open (it sent CONNECT and waited)"
    );
}

/// The helpers speak MQTT 5 when asked (`protocol=MQTTv5`, as Paho's take it): `single` with retain
/// through mosquitto at 5.0, then `simple` at 5.0 gets the retained message.
#[test]
fn mosquitto_helpers_at_mqtt5() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let options = Options {
        hostname: HOST.into(),
        port: broker.port,
        protocol: pahoish::MQTTv5,
        ..Default::default()
    };
    let publish_options = options.clone();
    bounded("publish::single at 5.0", move || {
        publish::single("helpers/v5", "five", 1, true, &publish_options)
    })
    .expect("single at 5.0");
    let msgs = bounded("subscribe::simple at 5.0", move || {
        subscribe::simple("helpers/v5", 1, 1, true, &options)
    })
    .expect("simple at 5.0");
    assert_eq!(
        (
            msgs[0].topic.as_str(),
            msgs[0].payload.as_slice(),
            msgs[0].retain
        ),
        ("helpers/v5", &b"five"[..], true)
    );
}

/// `publish::multiple` sends a message's MQTT 5 properties (Paho: a message dict with `properties`,
/// passed on to `publish`), through mosquitto at 5.0; `subscribe::simple` at 5.0 receives them. On
/// MQTT 3.1.1 such a message is refused before anything connects.
#[test]
fn mosquitto_helpers_carry_message_properties_at_mqtt5() {
    use pahoish::{Message, PacketTypes, Properties, Property};

    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let mut msg = Message::new("helpers/v5/props", "with", 1, true);
    msg.properties = Properties::new(PacketTypes::PUBLISH)
        .with(Property::UserProperty("k".into(), "v".into()))
        .unwrap()
        .with(Property::ContentType("text/plain".into()))
        .unwrap();
    let on_311 = publish::multiple([&msg], &Options::default()).unwrap_err();
    assert!(
        on_311.to_string().contains("only apply to MQTT V5"),
        "{on_311}"
    );
    let options = Options {
        hostname: HOST.into(),
        port: broker.port,
        protocol: pahoish::MQTTv5,
        ..Default::default()
    };
    let publish_options = options.clone();
    bounded("publish::multiple at 5.0", move || {
        publish::multiple([msg], &publish_options)
    })
    .expect("multiple at 5.0");
    let got = bounded("subscribe::simple at 5.0", move || {
        subscribe::simple("helpers/v5/props", 1, 1, true, &options)
    })
    .expect("simple at 5.0");
    let props = &got[0].properties;
    assert_eq!(props.content_type(), Some("text/plain"), "{props}");
    assert!(
        props
            .iter()
            .any(|p| *p == Property::UserProperty("k".into(), "v".into())),
        "{props}"
    );
}

/// A will's MQTT 5 properties (Paho's will dict with `properties`) go in the helper's CONNECT; on
/// MQTT 3.1.1 they are refused before anything connects.
#[test]
fn will_properties_go_in_the_helpers_connect_at_mqtt5() {
    use pahoish::packet::Packet;
    use pahoish::testing::{Direction, TestBroker};
    use pahoish::{PacketTypes, Properties, Property};

    let _wd = watchdog(TEST_LIMIT);
    let broker = TestBroker::start().expect("TestBroker");
    let mut will = Will::new("helpers/will", "gone", 1, false);
    will.properties = Properties::new(PacketTypes::WILLMESSAGE)
        .with(Property::WillDelayInterval(30))
        .unwrap();
    let mut options = Options {
        hostname: HOST.into(),
        port: broker.port(),
        client_id: "will-props".into(),
        will: Some(will),
        ..Default::default()
    };
    let on_311 = publish::single("helpers/t", "x", 0, false, &options).unwrap_err();
    assert!(
        on_311.to_string().contains("only apply to MQTT V5"),
        "{on_311}"
    );
    options.protocol = pahoish::MQTTv5;
    bounded("publish::single with a will at 5.0", move || {
        publish::single("helpers/t", "x", 0, false, &options)
    })
    .expect("single at 5.0");
    let connect = broker
        .packets("will-props")
        .into_iter()
        .find_map(|(d, p)| match (d, p) {
            (Direction::Received, Packet::Connect(c)) => Some(c),
            _ => None,
        })
        .expect("the helper's CONNECT");
    let will = connect.will.expect("a will in CONNECT");
    assert_eq!(will.properties.will_delay_interval(), Some(30));
}
