//! Paho's output, line for line: the same scenario run with Python Paho 2.2 (tests/paho_output/script.py)
//! and with pahoish, each against the same scripted broker, prints the same transcript of `on_log` lines
//! and callback arguments (the `Debug` of the flags, the `Display` of reason codes and properties, the
//! order of "Sending PUBACK" after `on_message`, "Received SUBACK" without a message id, topics and
//! client ids as Python's `b'...'`), on MQTT 3.1.1 and on 5.0.
//!
//! Needs a Python with paho-mqtt: `PAHOISH_PYTHON` names it (default `python3`). When none is found the
//! test says so and passes, unless `PAHOISH_REQUIRE_PAHO` is set (CI sets it, after installing
//! paho-mqtt 2.2.0 into a virtualenv under `target/`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use pahoish::testing::{MockBroker, MockError, MockSession};
use pahoish::{Client, MQTTv5};

const WAIT: Duration = Duration::from_secs(20);

/// The line Paho 2.2 logs (at ERROR level) when `loop_forever` returns after `disconnect()`, from a
/// last pass of its loop with no socket. pahoish does not report an error for a normal disconnect.
const PAHO_LAST_LINE: &str = "LOG 8 Client is not connected.";

fn python() -> Option<String> {
    let python = std::env::var("PAHOISH_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import paho.mqtt.client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var_os("PAHOISH_REQUIRE_PAHO").is_none(),
        "PAHOISH_REQUIRE_PAHO is set but {python} cannot import paho.mqtt.client"
    );
    eprintln!("skipped: {python} has no paho-mqtt (set PAHOISH_PYTHON to one that has)");
    None
}

/// The packet's type nibble and its body (after the fixed header).
fn split(frame: &[u8]) -> (u8, &[u8]) {
    let mut i = 1;
    while frame[i] & 0x80 != 0 {
        i += 1;
    }
    (frame[0] >> 4, &frame[i + 1..])
}

fn recv(s: &mut MockSession, kind: u8, what: &str) -> Result<Vec<u8>, MockError> {
    let frame = s.recv_raw()?;
    let (k, body) = split(&frame);
    if k != kind {
        return Err(MockError::script(format!(
            "expected {what}, got {frame:02x?}"
        )));
    }
    Ok(body.to_vec())
}

fn mid_of(body: &[u8]) -> [u8; 2] {
    [body[0], body[1]]
}

/// The broker's side: the same for both clients, one packet at a time.
fn script(s: &mut MockSession, v5: bool) -> Result<(), MockError> {
    s.accept()?;
    recv(s, 1, "CONNECT")?;
    if v5 {
        // Receive Maximum 20 and Topic Alias Maximum 10, as mosquitto sends them.
        s.send(&[0x20, 0x09, 0, 0, 0x06, 0x21, 0x00, 0x14, 0x22, 0x00, 0x0a])?;
    } else {
        s.send(&[0x20, 0x02, 0, 0])?;
    }
    let sub = mid_of(&recv(s, 8, "SUBSCRIBE")?);
    if v5 {
        s.send(&[0x90, 0x05, sub[0], sub[1], 0x00, 0x01, 0x02])?;
    } else {
        s.send(&[0x90, 0x04, sub[0], sub[1], 0x01, 0x02])?;
    }
    // on_subscribe publishes at QoS 0, 1 and 2.
    let p = if v5 { 1 } else { 0 }; // a 5.0 PUBLISH has a property length byte
    recv(s, 3, "PUBLISH QoS 0")?;
    let q1 = recv(s, 3, "PUBLISH QoS 1")?;
    let q1 = [q1[5], q1[6]];
    let q2 = recv(s, 3, "PUBLISH QoS 2")?;
    let q2 = [q2[5], q2[6]];
    s.send(&[0x40, 0x02, q1[0], q1[1]])?;
    s.send(&[0x50, 0x02, q2[0], q2[1]])?;
    recv(s, 6, "PUBREL")?;
    s.send(&[0x70, 0x02, q2[0], q2[1]])?;
    // Three messages in.
    let mut q0 = vec![0x30, 10 + p, 0, 3, b'a', b'/', b'b'];
    q0.extend_from_slice(if v5 { &[0][..] } else { &[][..] });
    q0.extend_from_slice(b"hello");
    s.send(&q0)?;
    let mut q1 = vec![0x32, 9 + p, 0, 3, b'a', b'/', b'b', 0, 1];
    q1.extend_from_slice(if v5 { &[0][..] } else { &[][..] });
    q1.extend_from_slice(&[0, 1]);
    s.send(&q1)?;
    recv(s, 4, "PUBACK")?;
    let mut q2 = vec![0x34, 10 + p, 0, 3, b'c', b'/', b'd', 0, 2];
    q2.extend_from_slice(if v5 { &[0][..] } else { &[][..] });
    q2.extend_from_slice(b"xxx");
    s.send(&q2)?;
    recv(s, 5, "PUBREC")?;
    s.send(&[0x62, 0x02, 0, 2])?;
    // on_message of the third message unsubscribes; PUBCOMP follows.
    let unsub = mid_of(&recv(s, 10, "UNSUBSCRIBE")?);
    recv(s, 7, "PUBCOMP")?;
    if v5 {
        s.send(&[0xb0, 0x04, unsub[0], unsub[1], 0x00, 0x00])?;
    } else {
        s.send(&[0xb0, 0x02, unsub[0], unsub[1]])?;
    }
    recv(s, 14, "DISCONNECT")?;
    s.expect_closed()
}

fn paho_transcript(python: &str, v5: bool) -> Vec<String> {
    let broker = MockBroker::start(move |s| script(s, v5));
    let script_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho_output/script.py");
    let mut child = Command::new(python)
        .arg(script_path)
        .arg(broker.port().to_string())
        .arg(if v5 { "5" } else { "3" })
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = match rx.recv_timeout(WAIT) {
        Ok(lines) => lines,
        Err(_) => {
            let _ = child.kill();
            panic!("the Paho script did not finish in {WAIT:?}");
        }
    };
    let status = child.wait().expect("wait for python");
    assert!(status.success(), "the Paho script failed: {status}");
    broker.finish(WAIT).expect("the broker script, with Paho");
    lines
        .into_iter()
        .filter(|l| !l.starts_with(PAHO_LAST_LINE))
        .collect()
}

fn pahoish_transcript(v5: bool) -> Vec<String> {
    let broker = MockBroker::start(move |s| script(s, v5));
    let mut builder = Client::builder().client_id("cid1");
    if v5 {
        builder = builder.protocol(MQTTv5);
    }
    let client = builder.build().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = move |lines: &Arc<Mutex<Vec<String>>>| {
        let lines = Arc::clone(lines);
        move |line: String| lines.lock().unwrap().push(line)
    };
    let say = out(&lines);
    client.on_log(move |_, _, level, line| say(format!("LOG {} {line}", level as i32)));
    let say = out(&lines);
    client.on_connect(move |c, _, flags, rc, props| {
        say(format!("CONNECT {flags:?} {rc} {props}"));
        c.subscribe(vec![("a/b", 1), ("c/#", 2)], 0).unwrap();
    });
    let say = out(&lines);
    client.on_subscribe(move |c, _, mid, rcs, _| {
        say(format!("SUBACK {mid} {rcs:?}"));
        c.publish("a/b", "hello", 0, false).unwrap();
        c.publish("a/b", &b"\x00\x01"[..], 1, false).unwrap();
        c.publish("c/d", "xxx", 2, false).unwrap();
    });
    let say = out(&lines);
    client.on_publish(move |_, _, mid, rc, props| say(format!("PUB {mid} {rc} {props}")));
    let say = out(&lines);
    let mut received = 0;
    client.on_message(move |c, _, m| {
        say(format!(
            "MSG {} {} {} {}",
            m.topic,
            m.payload_repr(),
            m.qos,
            m.mid
        ));
        received += 1;
        if received == 3 {
            c.unsubscribe("a/b").unwrap();
        }
    });
    let say = out(&lines);
    client.on_unsubscribe(move |c, _, mid, rcs, _| {
        say(format!("UNSUB {mid} {rcs:?}"));
        c.disconnect().unwrap();
    });
    let say = out(&lines);
    client.on_disconnect(move |_, _, flags, rc, props| say(format!("DISC {flags:?} {rc} {props}")));
    client.username_pw_set("user", Some("pw")).unwrap();
    client.will_set("w/t", "bye", 1, true).unwrap();
    client.connect("127.0.0.1", broker.port(), 60).unwrap();
    let (tx, rx) = mpsc::channel();
    let looping = client.clone();
    thread::spawn(move || {
        let _ = tx.send(looping.loop_forever());
    });
    match rx.recv_timeout(WAIT) {
        Ok(result) => result.expect("loop_forever"),
        Err(_) => panic!(
            "pahoish did not finish in {WAIT:?}; so far: {:#?}",
            lines.lock().unwrap()
        ),
    }
    broker
        .finish(WAIT)
        .expect("the broker script, with pahoish");
    let lines = lines.lock().unwrap().clone();
    lines
}

fn compare(v5: bool) {
    let Some(python) = python() else { return };
    let paho = paho_transcript(&python, v5);
    let ours = pahoish_transcript(v5);
    assert!(paho.len() > 20, "Paho's transcript is short: {paho:#?}");
    for (i, (p, o)) in paho.iter().zip(&ours).enumerate() {
        assert_eq!(
            o,
            p,
            "line {} differs\nPaho:    {paho:#?}\npahoish: {ours:#?}",
            i + 1
        );
    }
    assert_eq!(
        ours.len(),
        paho.len(),
        "Paho: {paho:#?}\npahoish: {ours:#?}"
    );
}

#[test]
fn same_transcript_as_paho_on_mqtt_3_1_1() {
    compare(false);
}

#[test]
fn same_transcript_as_paho_on_mqtt_5() {
    compare(true);
}
