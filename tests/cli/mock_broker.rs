//! The bytes the options produce, against `MockBroker`: the exact CONNECT (and SUBSCRIBE, UNSUBSCRIBE)
//! each option gives, a refused CONNACK, and `pub -q 1` resending after a lost connection.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use pahoish::packet::{Packet, PubAck, Publish, SubAck, UnsubAck};
use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::QoS;

use crate::common::{self, watchdog, HOST, TEST_LIMIT, WAIT};
use crate::support::{our, run, Proc};

/// What `MockBroker::finish` is given.
const FINISH: Duration = Duration::from_secs(15);

/// CONNACK: accepted.
const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// DISCONNECT.
const DISCONNECT: [u8; 2] = [0xe0, 0x00];

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

/// `pub -i -k -u -P --will-*`: each option lands in CONNECT, byte for byte; then the PUBLISH and a
/// clean DISCONNECT, and status 0.
#[test]
fn pub_options_go_into_connect() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x29, // CONNECT, remaining length 41
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
            0x04, // protocol level 4 (3.1.1)
            0xf6, // flags: user name, password, will retain, will QoS 2, will, clean session
            0x00, 0x1e, // keepalive 30 s (-k 30)
            0x00, 0x04, b'c', b'l', b'i', b'1', // client id "cli1" (-i)
            0x00, 0x06, b's', b't', b'a', b't', b'u', b's', // will topic (--will-topic)
            0x00, 0x04, b'g', b'o', b'n', b'e', // will message (--will-payload)
            0x00, 0x03, b'b', b'o', b'b', // user name (-u)
            0x00, 0x04, b'p', b'a', b's', b's', // password (-P)
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t/1", b"hello", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-i",
            "cli1",
            "-k",
            "30",
            "-u",
            "bob",
            "-P",
            "pass",
            "--will-topic",
            "status",
            "--will-payload",
            "gone",
            "--will-qos",
            "2",
            "--will-retain",
            "-t",
            "t/1",
            "-m",
            "hello",
        ],
    );
    broker.finish(FINISH).unwrap();
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout, b"", "{done:?}");
}

/// `-V 31` sends MQTT 3.1's CONNECT, `-I` makes the id from a prefix and the process id; `-r -q 1`
/// gives a retained QoS 1 PUBLISH, and pub waits for its PUBACK before DISCONNECT.
#[test]
fn pub_mqtt31_id_prefix_retained_qos1() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        let Packet::Connect(c) = s.recv_packet()? else {
            return Err(MockError::script("the first packet was not CONNECT"));
        };
        let pid = pid_rx
            .recv_timeout(WAIT)
            .map_err(|_| MockError::script("no pid"))?;
        let want = format!("pre-{pid}");
        let ok = c.protocol == pahoish::MQTTv31
            && c.clean_session
            && c.keepalive == 60
            && c.client_id == want;
        if !ok {
            return Err(MockError::script(format!(
                "CONNECT {c:?}, wanted MQTT 3.1, clean session, keepalive 60, id {want}"
            )));
        }
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x33, 0x07, // PUBLISH, QoS 1, retain, remaining length 7
            0x00, 0x01, b'r', // topic "r"
            0x00, 0x01, // packet identifier 1
            b'o', b'n', // payload "on"
        ])?;
        s.send_packet(&Packet::PubAck(PubAck::new(1)))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let p = Proc::spawn(
        &exe,
        &[
            "-h", HOST, "-p", &port, "-I", "pre-", "-V", "31", "-t", "r", "-m", "on", "-r", "-q",
            "1",
        ],
    );
    pid_tx.send(p.child.id()).unwrap();
    let done = p.finish(WAIT);
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
}

/// The CONNECT of `-c` and the `-c` check: a persistent session needs `-i`, exactly as mosquitto says.
#[test]
fn pub_disable_clean_session_connect_bytes() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x10, // CONNECT, remaining length 16
            0x00, 0x04, b'M', b'Q', b'T', b'T', // "MQTT"
            0x04, // 3.1.1
            0x00, // flags: nothing, not even clean session (-c)
            0x00, 0x3c, // keepalive 60 (the default)
            0x00, 0x04, b'k', b'e', b'e', b'p', // client id "keep"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("t", b"", QoS::AtMostOnce, 0, false))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &["-p", &port, "-h", HOST, "-c", "-i", "keep", "-t", "t", "-n"],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");

    let done = run(&exe, &["-c", "-t", "t", "-n"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert!(
        done.stderr.contains("You must provide a client id"),
        "{done:?}"
    );
}

/// sub's CONNECT (id, keepalive, clean session off), one SUBSCRIBE for every -t at the -q QoS, the
/// message printed, its PUBACK after it is printed, and DISCONNECT after -C 1.
#[test]
fn sub_connect_subscribe_and_print() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x0e, // CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T', // "MQTT"
            0x04, // 3.1.1
            0x00, // flags: no clean session (-c)
            0x00, 0x0a, // keepalive 10 (-k 10)
            0x00, 0x02, b's', b'1', // client id "s1"
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x82, 0x0c, // SUBSCRIBE, remaining length 12
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'a', 0x01, // "a", QoS 1
            0x00, 0x03, b'b', b'/', b'#', 0x01, // "b/#", QoS 1
        ])?;
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![1, 1],
            ..SubAck::default()
        }))?;
        s.send_packet(&publish_packet(
            "b/c",
            b"payload",
            QoS::AtLeastOnce,
            7,
            false,
        ))?;
        s.expect_packet(&Packet::PubAck(PubAck::new(7)))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-h", HOST, "-p", &port, "-i", "s1", "-k", "10", "-c", "-q", "1", "-t", "a", "-t",
            "b/#", "-C", "1", "-v",
        ],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
    assert_eq!(done.stdout_text(), "b/c payload\n");
}

/// `sub -U` without `-t`: one UNSUBSCRIBE per filter, and sub exits once they are acknowledged;
/// `-E` exits once the SUBACK arrives.
#[test]
fn sub_unsubscribe_and_exit_after_subscribe() {
    let exe = our("sub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0xa2, 0x05, // UNSUBSCRIBE, remaining length 5
            0x00, 0x01, // packet identifier 1
            0x00, 0x01, b'x', // "x"
        ])?;
        s.expect(&[0xa2, 0x05, 0x00, 0x02, 0x00, 0x01, b'y'])?;
        s.send_packet(&Packet::UnsubAck(UnsubAck::new(1)))?;
        s.send_packet(&Packet::UnsubAck(UnsubAck::new(2)))?;
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.recv_packet()?; // SUBSCRIBE
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![0],
            ..SubAck::default()
        }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &[
            "-p", &port, "-h", HOST, "-c", "-i", "u", "-U", "x", "-U", "y",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let done = run(&exe, &["-p", &port, "-h", HOST, "-t", "e", "-E"]);
    assert_eq!(done.status, Some(0), "{done:?}");
    broker.finish(FINISH).unwrap();
}

/// A refused CONNACK: one line with Paho's connack string, status 5 (as mosquitto's tools), for both
/// tools; and a SUBACK refusing everything ends sub with status 1.
#[test]
fn refused_connack_and_denied_subscription() {
    let (pub_exe, sub_exe) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        for _ in 0..2 {
            s.accept()?;
            s.recv_packet()?; // CONNECT
            s.send(&[0x20, 0x02, 0x00, 0x05])?; // CONNACK: not authorised
            s.expect_closed()?;
        }
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.recv_packet()?; // SUBSCRIBE
        s.send_packet(&Packet::SubAck(SubAck {
            pkid: 1,
            return_codes: vec![0x80],
            ..SubAck::default()
        }))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    for (exe, args) in [
        (&pub_exe, &["-t", "t", "-m", "x"][..]),
        (&sub_exe, &["-t", "t"][..]),
    ] {
        let mut a = args.to_vec();
        a.extend(["-p", &port, "-h", HOST]);
        let done = run(exe, &a);
        done.assert_no_panic();
        assert_eq!(done.status, Some(5), "{done:?}");
        assert_eq!(
            done.stderr,
            "Connection error: Connection Refused: not authorised.\n"
        );
    }
    let done = run(&sub_exe, &["-p", &port, "-h", HOST, "-t", "secret"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        "Error: All subscription requests were denied.\n"
    );
    broker.finish(FINISH).unwrap();
}

/// `-L mqtt://user:pass@host:port/topic` sets the credentials, the broker and the topic; `-f` publishes
/// a file's bytes as one message and `--repeat 3` three times; `-s` publishes all of stdin, bytes as
/// they are; `--repeat-delay` waits after each publication (here: after each PUBACK) before the next.
#[test]
fn pub_url_file_stdin_and_repeat() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let file_bytes: Vec<u8> = b"line one\nline two\n\x00\xff".to_vec();
    let stdin_bytes: Vec<u8> = b"\r\nall of stdin\n\x01".to_vec();
    let (f, s_in) = (file_bytes.clone(), stdin_bytes.clone());
    let broker = MockBroker::start(move |s| {
        s.accept()?;
        s.expect(&[
            0x10, 0x13, // CONNECT, remaining length 19
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // "MQTT", 3.1.1
            0xc2, // flags: user name, password, clean session
            0x00, 0x3c, // keepalive 60
            0x00, 0x00, // client id: none
            0x00, 0x01, b'u', // user name from the URL
            0x00, 0x02, b'p', b'w', // password from the URL
        ])?;
        s.send(&CONNACK_ACCEPTED)?;
        for _ in 0..3 {
            s.expect_packet(&publish_packet("url/topic", &f, QoS::AtMostOnce, 0, false))?;
        }
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("in", &s_in, QoS::AtMostOnce, 0, false))?;
        clean_close(s)?;

        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("rep", b"x", QoS::AtLeastOnce, 1, false))?;
        s.send_packet(&Packet::PubAck(PubAck::new(1)))?;
        // --repeat-delay 0.4: nothing for a while after the PUBACK.
        s.expect_silence(Duration::from_millis(250))?;
        s.expect_packet(&publish_packet("rep", b"x", QoS::AtLeastOnce, 2, false))?;
        s.send_packet(&Packet::PubAck(PubAck::new(2)))?;
        clean_close(s)
    });
    let port = broker.port();
    let file = std::env::temp_dir().join(format!(
        "pahoish-cli-{}-{}",
        std::process::id(),
        common::unique()
    ));
    std::fs::write(&file, &file_bytes).unwrap();
    let url = format!("mqtt://u:pw@{HOST}:{port}/url/topic");
    let done = run(
        &exe,
        &["-L", &url, "-f", file.to_str().unwrap(), "--repeat", "3"],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(done.status, Some(0), "{done:?}");

    let port = port.to_string();
    let mut p = Proc::spawn(&exe, &["-h", HOST, "-p", &port, "-t", "in", "-s"]);
    p.feed(stdin_bytes);
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");

    let started = Instant::now();
    let done = run(
        &exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "rep",
            "-m",
            "x",
            "-q",
            "1",
            "--repeat",
            "2",
            "--repeat-delay",
            "0.4",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    broker.finish(FINISH).unwrap();

    let done = run(&exe, &["-t", "t", "-f", "/nonexistent/pahoish-file"]);
    assert_eq!(done.status, Some(1), "{done:?}");
    assert!(
        done.stderr.starts_with("Error: Unable to read file"),
        "{done:?}"
    );
}

/// `pub -q 1` whose connection drops before the PUBACK reconnects (after the 1 s backoff), sends the
/// message again with DUP set, and exits 0 only once it is acknowledged.
#[test]
fn pub_qos1_resends_after_a_lost_connection() {
    let exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let broker = MockBroker::start(|s| {
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect_packet(&publish_packet("r", b"keep", QoS::AtLeastOnce, 1, false))?;
        s.close();
        s.accept()?;
        s.recv_packet()?; // CONNECT
        s.send(&CONNACK_ACCEPTED)?;
        s.expect(&[
            0x3a, 0x09, // PUBLISH, DUP, QoS 1, remaining length 9
            0x00, 0x01, b'r', // topic "r"
            0x00, 0x01, // packet identifier 1, as before
            b'k', b'e', b'e', b'p', // payload
        ])?;
        s.send_packet(&Packet::PubAck(PubAck::new(1)))?;
        clean_close(s)
    });
    let port = broker.port().to_string();
    let done = run(
        &exe,
        &["-p", &port, "-h", HOST, "-t", "r", "-m", "keep", "-q", "1"],
    );
    broker.finish(FINISH).unwrap();
    assert_eq!(done.status, Some(0), "{done:?}");
}
