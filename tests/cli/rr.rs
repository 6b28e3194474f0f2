//! `rr` (examples/rr.rs) beside mosquitto_rr, against a real mosquitto: both get the answer of a
//! responder written with `Client::respond`, print it the same way, time out with the same status and
//! line, and refuse the same bad arguments with the same words.

use std::sync::mpsc;

use pahoish::{Client, MQTTv5};

use crate::common::{client_id, recv, watchdog, Live, Mosquitto, TEST_LIMIT};
use crate::support::{mosquitto_tool, our, run};

/// A responder on `svc/double`: answers each request with twice its number, through `respond`.
fn responder(port: u16) -> Live {
    let client = Client::builder()
        .client_id(client_id("responder"))
        .protocol(MQTTv5)
        .build()
        .unwrap();
    let (tx, subscribed) = mpsc::channel();
    client.on_connect(|c, _, _, _, _| {
        c.subscribe("svc/double", 1).unwrap();
    });
    client.on_subscribe(move |_, _, _, _, _| {
        let _ = tx.send(());
    });
    client.on_message(|c, _, request| {
        let n: i64 = request
            .payload_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        c.respond(request, (2 * n).to_string(), 1).unwrap();
    });
    let live = Live::connect(client, port);
    recv(&subscribed, "the responder's SUBACK");
    live
}

#[test]
fn rr_and_mosquitto_rr_get_the_answer_of_a_pahoish_responder() {
    let _dog = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let Some(mosquitto_rr) = mosquitto_tool("mosquitto_rr") else {
        return;
    };
    let _responder = responder(broker.port);
    let port = broker.port.to_string();
    for args in [
        vec!["-t", "svc/double", "-e", "svc/replies/a", "-m", "21", "-v"],
        vec![
            "-t",
            "svc/double",
            "-e",
            "svc/replies/b",
            "-m",
            "5",
            "-q",
            "1",
        ],
        vec![
            "-t",
            "svc/double",
            "-e",
            "svc/replies/c",
            "-m",
            "-4",
            "-F",
            "%t=%p %q",
        ],
        vec![
            "-t",
            "svc/double",
            "-e",
            "svc/replies/d",
            "-m",
            "8",
            "-D",
            "publish",
            "correlation-data",
            "abc",
            "-F",
            "%p %D",
        ],
    ] {
        let mut full = vec!["-p", port.as_str(), "-W", "10"];
        full.extend_from_slice(&args);
        let ours = run(&our("rr"), &full);
        let theirs = run(&mosquitto_rr, &full);
        assert_eq!(ours.status, Some(0), "rr {args:?}: {ours:?}");
        assert_eq!(theirs.status, Some(0), "mosquitto_rr {args:?}: {theirs:?}");
        assert_eq!(ours.stdout_text(), theirs.stdout_text(), "{args:?}");
    }
    let ours = run(
        &our("rr"),
        &[
            "-p",
            &port,
            "-t",
            "svc/double",
            "-e",
            "svc/r",
            "-m",
            "21",
            "-v",
        ],
    );
    assert_eq!(ours.stdout_text(), "svc/r 42\n");
}

#[test]
fn no_answer_times_out_with_status_27_as_mosquitto_rr() {
    let _dog = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let Some(mosquitto_rr) = mosquitto_tool("mosquitto_rr") else {
        return;
    };
    let port = broker.port.to_string();
    let args = [
        "-p",
        &port,
        "-t",
        "nobody/home",
        "-e",
        "back",
        "-m",
        "x",
        "-W",
        "1",
    ];
    let ours = run(&our("rr"), &args);
    let theirs = run(&mosquitto_rr, &args);
    assert_eq!(ours.status, Some(27), "{ours:?}");
    assert_eq!(ours.status, theirs.status);
    assert_eq!(ours.stderr.trim(), "Timed out");
    assert_eq!(theirs.stderr.trim(), "Timed out");
}

#[test]
fn bad_arguments_are_refused_in_mosquitto_rr_words() {
    let Some(mosquitto_rr) = mosquitto_tool("mosquitto_rr") else {
        return;
    };
    for args in [
        vec!["-t", "a", "-m", "x"],
        vec!["-t", "a", "-e", "b"],
        vec!["-e", "b", "-m", "x"],
        vec!["-t", "a", "-e", "b/#", "-m", "x"],
        vec!["-t", "a", "-e", "b", "-m", "x", "-n"],
    ] {
        let ours = run(&our("rr"), &args);
        let theirs = run(&mosquitto_rr, &args);
        assert_eq!(ours.status, Some(1), "rr {args:?}: {ours:?}");
        assert_eq!(theirs.status, Some(1), "mosquitto_rr {args:?}: {theirs:?}");
        let first = |s: &str| s.lines().next().unwrap_or("").to_owned();
        assert_eq!(first(&ours.stderr), first(&theirs.stderr), "{args:?}");
    }
}
