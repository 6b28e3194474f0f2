//! Tests of [`MockBroker`]: scripts played against raw clients on real sockets, the step rules (timeouts,
//! buffering, closes), and the failure messages byte for byte.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::connection::{judge, Verdict};
use super::{MockBroker, MockError, MockSession};
use crate::packet::{DecodeError, Disconnect, Packet, PubAck};
use crate::testing::hex;
use crate::types::Protocol;

/// How long a test waits for anything that should happen at once.
const WAIT: Duration = Duration::from_secs(5);
/// A step timeout for steps that are meant to time out.
const SHORT: Duration = Duration::from_millis(200);

// CONNECT: "MQTT", level 4, clean session, keepalive 60, empty client id (remaining length 12).
const CONNECT: [u8; 14] = [
    0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0,
];
const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
const PINGREQ: [u8; 2] = [0xc0, 0x00];
const PINGRESP: [u8; 2] = [0xd0, 0x00];
const DISCONNECT: [u8; 2] = [0xe0, 0x00];

fn connect(broker: &MockBroker) -> TcpStream {
    let s = TcpStream::connect_timeout(&broker.addr(), WAIT).expect("connect to the mock broker");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read from the mock broker");
    buf
}

/// True when the broker sends nothing for a moment: for showing that it did not answer too early.
fn nothing_to_read(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut byte = [0u8];
    let quiet = match s.read(&mut byte) {
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        Ok(_) => false,
    };
    s.set_read_timeout(Some(WAIT)).unwrap();
    quiet
}

#[test]
fn a_scripted_exchange_runs_to_its_end() {
    // Raw bytes and packets both ways, ending with the client's close: the whole happy path.
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT)?;
        s.send(&CONNACK)?;
        s.expect_packet(&Packet::PingReq)?;
        s.send_packet(&Packet::PingResp)?;
        s.expect_packet(&Packet::Disconnect(Disconnect::default()))?;
        s.expect_closed()
    });
    let mut c = connect(&broker);
    c.write_all(&CONNECT).unwrap();
    assert_eq!(read_n(&mut c, 4), CONNACK);
    c.write_all(&PINGREQ).unwrap();
    assert_eq!(read_n(&mut c, 2), PINGRESP);
    c.write_all(&DISCONNECT).unwrap();
    drop(c);
    broker.finish(WAIT).unwrap();
}

#[test]
fn a_different_packet_fails_its_step_at_once_showing_both_sides() {
    // The step timeout is far longer than finish's: a Mismatch (not a Timeout) proves no waiting.
    let broker = MockBroker::start(|s| {
        s.set_timeout(Duration::from_secs(60));
        s.accept()?;
        s.expect(&PINGREQ)
    });
    let mut c = connect(&broker);
    c.write_all(&DISCONNECT).unwrap();
    let err = broker.finish(WAIT).unwrap_err();
    match &err {
        MockError::Mismatch {
            step,
            expected,
            got,
            ..
        } => {
            assert_eq!(
                (*step, &expected[..], &got[..]),
                (2, &PINGREQ[..], &DISCONNECT[..])
            );
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    let text = err.to_string();
    for part in [
        "step 2",
        "c0 00",
        "e0 00",
        "PingReq",
        "Disconnect",
        "offset 0",
    ] {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}

#[test]
fn a_different_packet_cut_short_is_a_mismatch_not_a_timeout() {
    // PUBREC's first two bytes where PUBACK was expected, then nothing: what came is the useful report.
    let broker = MockBroker::start(|s| {
        s.set_timeout(SHORT);
        s.accept()?;
        s.expect(&Packet::PubAck(PubAck::new(1)).to_bytes())
    });
    let mut c = connect(&broker);
    c.write_all(&[0x50, 0x02]).unwrap();
    let err = broker.finish(WAIT).unwrap_err();
    assert!(
        matches!(&err, MockError::Mismatch { step: 2, got, .. } if got == &[0x50, 0x02]),
        "{err:?}"
    );
    assert!(err.to_string().contains("incomplete packet"), "{err}");
    drop(c);
}

#[test]
fn a_silent_client_times_out_the_step_instead_of_hanging() {
    // Half a PINGREQ, then nothing: the step ends after its timeout and reports the half.
    let broker = MockBroker::start(|s| {
        s.set_timeout(SHORT);
        s.accept()?;
        s.expect(&PINGREQ)
    });
    let started = Instant::now();
    let mut c = connect(&broker);
    c.write_all(&PINGREQ[..1]).unwrap();
    let err = broker.finish(WAIT).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= SHORT && elapsed < Duration::from_secs(3),
        "took {elapsed:?}"
    );
    match &err {
        MockError::Timeout {
            step: 2,
            waiting_for,
            got,
            ..
        } => {
            assert!(waiting_for.contains("PINGREQ (c0 00)"), "{waiting_for}");
            assert_eq!(got, &[0xc0]);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        err.to_string().contains("received so far, 1 byte: c0"),
        "{err}"
    );
    drop(c);
}

#[test]
fn accept_times_out_when_no_client_comes() {
    let broker = MockBroker::start(|s| {
        s.set_timeout(SHORT);
        s.accept()
    });
    let err = broker.finish(WAIT).unwrap_err();
    match &err {
        MockError::Timeout {
            step: 1,
            waiting_for,
            got,
            ..
        } => {
            assert_eq!(
                (&waiting_for[..], &got[..]),
                ("a client to connect", &[][..])
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn finish_times_out_on_a_script_still_running() {
    // The script waits up to a second for a client that never comes; finish gives up first and says
    // where the script was, and the detached script ends on its own.
    let broker = MockBroker::start(|s| {
        s.set_timeout(Duration::from_secs(1));
        s.accept()
    });
    let started = Instant::now();
    let err = broker.finish(Duration::from_millis(100)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    match &err {
        MockError::Timeout {
            step: 1,
            waiting_for,
            ..
        } => {
            assert_eq!(waiting_for, "the script to end");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn dropping_the_broker_neither_waits_nor_panics() {
    let broker = MockBroker::start(|s| {
        s.set_timeout(SHORT);
        s.accept()?;
        s.expect(&PINGREQ)
    });
    let c = connect(&broker);
    let started = Instant::now();
    drop(broker);
    assert!(started.elapsed() < SHORT);
    drop(c);
}

#[test]
fn expect_closed_passes_on_a_close_and_fails_on_bytes_or_an_open_connection() {
    let closes = MockBroker::start(|s| {
        s.accept()?;
        s.expect_closed()?;
        // The connection is gone after it.
        match s.send(&PINGRESP) {
            Err(MockError::NoConnection { step: 3 }) => Ok(()),
            other => Err(MockError::script(format!(
                "send after the close gave {other:?}"
            ))),
        }
    });
    drop(connect(&closes));
    closes.finish(WAIT).unwrap();

    let talks = MockBroker::start(|s| {
        s.accept()?;
        s.expect_closed()
    });
    let mut c = connect(&talks);
    c.write_all(&PINGREQ).unwrap();
    let err = talks.finish(WAIT).unwrap_err();
    match &err {
        MockError::Mismatch {
            step: 2,
            expected,
            got,
            ..
        } => {
            assert_eq!((&expected[..], &got[..]), (&[][..], &PINGREQ[..]));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("expected none"), "{err}");
    assert!(err.to_string().contains("got, 2 bytes: c0 00"), "{err}");
    drop(c);

    let stays = MockBroker::start(|s| {
        s.set_timeout(SHORT);
        s.accept()?;
        s.expect_closed()
    });
    let c = connect(&stays);
    let err = stays.finish(WAIT).unwrap_err();
    assert!(
        matches!(&err, MockError::Timeout { step: 2, .. }),
        "{err:?}"
    );
    drop(c);
}

#[test]
fn expect_silence_passes_on_quiet_and_fails_on_bytes() {
    // The broker's PINGRESP tells the client the quiet step is over; the PINGREQ then breaks the second.
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect_silence(Duration::from_millis(100))?;
        s.send(&PINGRESP)?;
        s.expect_silence(WAIT)
    });
    let mut c = connect(&broker);
    assert_eq!(read_n(&mut c, 2), PINGRESP);
    c.write_all(&PINGREQ).unwrap();
    let err = broker.finish(WAIT).unwrap_err();
    match &err {
        MockError::Mismatch {
            step: 4,
            expected,
            got,
            ..
        } => {
            assert_eq!((&expected[..], &got[..]), (&[][..], &PINGREQ[..]));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn accept_takes_a_second_connection_and_closes_the_first() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT)?;
        s.accept()?;
        s.expect(&CONNECT)?;
        s.send(&CONNACK)
    });
    let mut first = connect(&broker);
    first.write_all(&CONNECT).unwrap();
    let mut second = connect(&broker);
    second.write_all(&CONNECT).unwrap();
    // The second accept closed the first connection: an end of stream, not a reset.
    assert_eq!(first.read(&mut [0u8; 8]).unwrap(), 0);
    assert_eq!(read_n(&mut second, 4), CONNACK);
    broker.finish(WAIT).unwrap();
}

#[test]
fn close_gives_the_client_an_end_of_stream() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&PINGREQ)?;
        s.close();
        // Step 4 is after the close, so it has no connection.
        match s.expect(&PINGREQ) {
            Err(MockError::NoConnection { step: 4 }) => {}
            other => {
                return Err(MockError::script(format!(
                    "expect after close gave {other:?}"
                )))
            }
        }
        s.accept()?;
        s.expect(&PINGREQ)
    });
    let mut c = connect(&broker);
    // The second PINGREQ is never read by the script; it must not turn the close into a reset.
    c.write_all(&[PINGREQ, PINGREQ].concat()).unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);
    connect(&broker).write_all(&PINGREQ).unwrap();
    broker.finish(WAIT).unwrap();
}

#[test]
fn a_panicking_script_is_reported_not_propagated() {
    let broker = MockBroker::start(|_s| panic!("boom at step {}", 0));
    let err = broker.finish(WAIT).unwrap_err();
    assert!(
        matches!(&err, MockError::Script(m) if m == "script panicked: boom at step 0"),
        "{err:?}"
    );

    let broker = MockBroker::start(|_s| panic!("plain boom"));
    let err = broker.finish(WAIT).unwrap_err();
    assert_eq!(err.to_string(), "script panicked: plain boom");
    assert_eq!(err.step(), None);
}

#[test]
fn a_packet_split_across_writes_is_compared_whole() {
    // CONNECT in three writes, the first cut inside the fixed header: the broker must not answer
    // before the whole packet is there.
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT)?;
        s.send(&CONNACK)
    });
    let mut c = connect(&broker);
    c.write_all(&CONNECT[..1]).unwrap();
    assert!(nothing_to_read(&mut c));
    c.write_all(&CONNECT[1..6]).unwrap();
    assert!(nothing_to_read(&mut c));
    c.write_all(&CONNECT[6..]).unwrap();
    assert_eq!(read_n(&mut c, 4), CONNACK);
    broker.finish(WAIT).unwrap();
}

#[test]
fn several_packets_in_one_write_are_taken_one_step_at_a_time() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect_packet(&Packet::PingReq)?;
        match s.recv_packet()? {
            Packet::PubAck(PubAck { pkid: 7, .. }) => {}
            other => {
                return Err(MockError::script(format!(
                    "expected PUBACK 7, got {other:?}"
                )))
            }
        }
        if s.recv_raw()? != PINGREQ {
            return Err(MockError::script("expected the raw PINGREQ"));
        }
        s.expect(&[PINGREQ, DISCONNECT].concat())?;
        s.expect_closed()
    });
    let mut c = connect(&broker);
    let all = [
        &PINGREQ[..],
        &[0x40, 0x02, 0x00, 0x07],
        &PINGREQ,
        &PINGREQ,
        &DISCONNECT,
    ]
    .concat();
    c.write_all(&all).unwrap();
    drop(c);
    broker.finish(WAIT).unwrap();
}

#[test]
fn steps_before_accept_have_no_connection() {
    let broker = MockBroker::start(|s| s.send(&CONNACK));
    assert!(matches!(
        broker.finish(WAIT),
        Err(MockError::NoConnection { step: 1 })
    ));
    let broker = MockBroker::start(|s| s.expect(&CONNECT));
    assert!(matches!(
        broker.finish(WAIT),
        Err(MockError::NoConnection { step: 1 })
    ));
}

#[test]
fn bytes_that_are_no_packet_fail_recv_packet_with_a_decode_error() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.recv_packet().map(drop)
    });
    let mut c = connect(&broker);
    c.write_all(&[0x00, 0x00]).unwrap();
    let err = broker.finish(WAIT).unwrap_err();
    match &err {
        MockError::Decode {
            step: 2,
            error,
            got,
        } => {
            assert_eq!(
                (error, &got[..]),
                (&DecodeError::InvalidPacketType(0), &[0, 0][..])
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(err.to_string().contains("00 00"), "{err}");
    drop(c);
}

#[test]
fn a_client_that_closes_mid_step_is_reported_as_closed() {
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&CONNECT)
    });
    let mut c = connect(&broker);
    c.write_all(&CONNECT[..5]).unwrap();
    drop(c);
    let err = broker.finish(WAIT).unwrap_err();
    assert!(
        matches!(&err, MockError::Closed { step: 2, got, .. } if got == &CONNECT[..5]),
        "{err:?}"
    );
}

#[test]
fn judge_waits_for_whole_packets_and_leaves_the_rest() {
    use Verdict::*;
    let puback = |id: u8| vec![0x40, 0x02, 0x00, id];
    let cases: &[(&[u8], &[u8], Verdict)] = &[
        // The expected packet, then another that stays buffered.
        (&[0xc0, 0x00, 0xe0, 0x00], &PINGREQ, Match(2)),
        // Two packets expected at once.
        (
            &[0xc0, 0x00, 0xc0, 0x00],
            &[0xc0, 0x00, 0xc0, 0x00],
            Match(4),
        ),
        // Nothing yet, or a packet not yet whole.
        (&[], &PINGREQ, NeedMore),
        (&CONNECT[..3], &CONNECT, NeedMore),
        // A difference inside a packet not yet whole: wait for the rest to show it.
        (&[0x50, 0x02], &puback(1), NeedMore),
        // A difference inside a whole packet: reported with that packet only.
        (&[puback(2), puback(1)].concat(), &puback(1), Mismatch(4)),
        // Expected bytes that end inside a packet cannot match it.
        (&[0xc0, 0x00, 0xc0, 0x00], &[0xc0, 0x00, 0xc0], Mismatch(4)),
        // Bytes that cannot be framed are compared as they are.
        (&[0x00, 0x01, 0x02], &[0x00, 0x01], Match(2)),
        (&[0x00, 0x01, 0x02], &[0x00, 0x02], Mismatch(3)),
        (&[0x00], &[0x00, 0x01], NeedMore),
        // Expecting nothing is met at once.
        (&[0xc0, 0x00], &[], Match(0)),
    ];
    for (buf, expected, verdict) in cases {
        assert_eq!(
            &judge(buf, expected),
            verdict,
            "buf {} expected {}",
            hex(buf),
            hex(expected)
        );
    }
}

#[test]
fn mismatch_display_shows_the_step_both_sides_and_the_offset() {
    let err = MockError::Mismatch {
        step: 3,
        expected: vec![0x40, 0x02, 0x00, 0x01],
        got: vec![0x40, 0x02, 0x00, 0x02],
        protocol: Protocol::V311,
    };
    assert_eq!(
        err.to_string(),
        "step 3: the client sent other bytes than expected (first difference at offset 3)\n  \
         expected, 4 bytes: 40 02 00 01\n    decoded: PubAck(PubAck { pkid: 1 })\n  \
         got, 4 bytes: 40 02 00 02\n    decoded: PubAck(PubAck { pkid: 2 })"
    );
}

#[test]
fn mismatch_display_shows_a_far_difference_where_it_is() {
    let expected = vec![0u8; 1000];
    let mut got = expected.clone();
    got[700] = 0xab;
    let text = MockError::Mismatch {
        step: 1,
        expected,
        got,
        protocol: Protocol::V311,
    }
    .to_string();
    assert!(text.contains("offset 700"), "{text}");
    assert!(text.contains("(744 more bytes)"), "{text}");
    assert!(text.contains("from offset 700: expected 00 00"), "{text}");
    assert!(text.contains("got ab 00"), "{text}");
}

#[test]
fn errors_cross_threads_and_box_into_std_errors() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<MockError>();
    fn assert_send<T: Send>() {}
    assert_send::<MockBroker>();
    assert_send::<MockSession>();
    let boxed: Box<dyn std::error::Error + Send + Sync> = MockError::script("x").into();
    assert_eq!(boxed.to_string(), "x");
}

/// An MQTT 5 mismatch shows the packets decoded as 5.0: reason codes and properties by name.
#[test]
fn mismatch_display_decodes_mqtt_5_packets() {
    let err = MockError::Mismatch {
        step: 4,
        // PUBACK id 1, reason 0x00; PUBACK id 1, reason 0x87 with Reason String "no".
        expected: vec![0x40, 0x02, 0x00, 0x01],
        got: vec![0x40, 0x08, 0x00, 0x01, 0x87, 0x04, 0x1f, 0x00, 0x01, b'n'],
        protocol: Protocol::V5,
    };
    let text = err.to_string();
    assert!(text.contains("reason: 135"), "{text}");
    assert!(text.contains("ReasonString"), "{text}");
    // The same bytes as MQTT 3.1.1 are no valid PUBACK.
    let text = MockError::Mismatch {
        step: 4,
        expected: vec![0x40, 0x02, 0x00, 0x01],
        got: vec![0x40, 0x08, 0x00, 0x01, 0x87, 0x04, 0x1f, 0x00, 0x01, b'n'],
        protocol: Protocol::V311,
    }
    .to_string();
    assert!(!text.contains("ReasonString"), "{text}");
}

/// A 5.0 CONNECT switches the session to 5.0: the CONNACK goes out with its properties, the client's
/// PUBLISH is compared and decoded in its 5.0 form.
#[test]
fn a_mqtt_5_connect_switches_the_packet_steps_to_mqtt_5() {
    use crate::packet::{ConnAck, Packet, Publish, QoS};
    use crate::properties::{PacketTypes, Properties, Property};
    let broker = MockBroker::start(|s| {
        s.accept()?;
        assert_eq!(s.protocol(), Protocol::V311);
        match s.recv_packet()? {
            Packet::Connect(c) if c.protocol == Protocol::V5 => {}
            other => return Err(MockError::script(format!("not a 5.0 CONNECT: {other:?}"))),
        }
        assert_eq!(s.protocol(), Protocol::V5);
        let connack = ConnAck {
            properties: Properties::new(PacketTypes::CONNACK)
                .with(Property::TopicAliasMaximum(3))
                .map_err(|e| MockError::script(e.to_string()))?,
            ..ConnAck::default()
        };
        s.send_packet(&Packet::ConnAck(connack))?;
        let publish = Publish {
            qos: QoS::AtLeastOnce,
            pkid: 1,
            topic: "t".into(),
            payload: b"x".to_vec(),
            properties: Properties::new(PacketTypes::PUBLISH)
                .with(Property::UserProperty("k".into(), "v".into()))
                .map_err(|e| MockError::script(e.to_string()))?,
            ..Publish::default()
        };
        s.expect_packet(&Packet::Publish(publish))?;
        // A wrong expectation (PINGREQ where DISCONNECT comes) is reported decoded as 5.0.
        let err = s.expect(&[0xc0, 0x00]).unwrap_err();
        Err(err)
    });
    let client = crate::Client::builder()
        .protocol(Protocol::V5)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    client.on_connect(move |c, _, _, _, props| {
        let _ = tx.send(format!("{props}"));
        let props = Properties::new(PacketTypes::PUBLISH)
            .with(Property::UserProperty("k".into(), "v".into()))
            .unwrap();
        c.publish_with("t", "x", 1, false, props).unwrap();
        c.disconnect().unwrap();
    });
    client.connect("127.0.0.1", broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "[TopicAliasMaximum : 3]");
    let err = broker.finish(WAIT).unwrap_err();
    client.loop_stop().unwrap();
    let text = err.to_string();
    assert!(text.contains("Disconnect"), "{text}");
    assert!(text.starts_with("step 5:"), "{text}");
}
