//! Against a real mosquitto, in both directions with mosquitto's own tools (our pub to mosquitto_sub,
//! mosquitto_pub to our sub): QoS 0/1/2, retained messages, `-l` with 10,000 lines in order, `-C`,
//! `-W`, `-R`, `-F`, `-T`, `--remove-retained`, a closed stdout and a broker restart.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{self, watchdog, HOST, TEST_LIMIT, WAIT};
use crate::support::{mosquitto_setup, our, our_sub_subscribed, run, Done, Proc};

/// A mosquitto_sub that is known to be subscribed; see [`mosquitto_sub_ready`].
pub(crate) struct TheirSub(Proc);

impl TheirSub {
    /// Waits for mosquitto_sub to end; its output without the marker line.
    pub(crate) fn finish(self) -> Done {
        let mut done = self.0.finish(WAIT);
        let first = done
            .stdout
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        done.stdout.drain(..first);
        done
    }
}

/// Starts mosquitto_sub on `topic` for `count` messages (with `args`) and waits until it is
/// subscribed. mosquitto_sub's `-d` output is block-buffered in a pipe, so it cannot say so in time;
/// instead it also subscribes to a topic holding a retained marker, and its first line (retained
/// messages come right after the SUBACK) says the subscription is in place.
pub(crate) fn mosquitto_sub_ready(
    mpub: &Path,
    msub: &Path,
    port: u16,
    topic: &str,
    count: usize,
    args: &[&str],
) -> TheirSub {
    let port = port.to_string();
    let marker = format!("cli/sync/{}", common::unique());
    let done = run(
        mpub,
        &["-h", HOST, "-p", &port, "-t", &marker, "-m", "sync", "-r"],
    );
    assert_eq!(done.status, Some(0), "retained marker: {done:?}");
    let count = (count + 1).to_string();
    let mut a = vec![
        "-h", HOST, "-p", &port, "-t", topic, "-t", &marker, "-C", &count,
    ];
    a.extend(args);
    let p = Proc::spawn(msub, &a);
    p.wait_stdout("", "mosquitto_sub's first line (the marker)");
    TheirSub(p)
}

/// Starts our sub on 127.0.0.1:`port` with `args` (plus -d) and waits until its subscription is
/// acknowledged.
fn our_sub_ready(port: u16, args: &[&str]) -> Proc {
    let port = port.to_string();
    let mut a = vec!["-h", HOST, "-p", &port];
    a.extend(args);
    our_sub_subscribed(&a)
}

/// Our pub to mosquitto_sub, then mosquitto_pub to our sub, at QoS 0, 1 and 2: each side sees the
/// topic, the payload and the QoS the message was published with.
#[test]
fn qos_0_1_2_both_directions() {
    let (pub_exe, _) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    for qos in ["0", "1", "2"] {
        let topic = format!("cli/ours-to-theirs/{qos}");
        let sub = mosquitto_sub_ready(
            &mpub,
            &msub,
            broker.port,
            &topic,
            1,
            &["-q", "2", "-F", "%t|%q|%r|%p"],
        );
        let done = run(
            &pub_exe,
            &[
                "-h",
                HOST,
                "-p",
                &port,
                "-t",
                &topic,
                "-q",
                qos,
                "-m",
                "from pahoish",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
        let got = sub.finish();
        assert_eq!(got.status, Some(0), "{got:?}");
        assert_eq!(got.stdout_text(), format!("{topic}|{qos}|0|from pahoish\n"));

        let topic = format!("cli/theirs-to-ours/{qos}");
        let sub = our_sub_ready(
            broker.port,
            &["-t", &topic, "-q", "2", "-C", "1", "-F", "%t|%q|%r|%p"],
        );
        let done = run(
            &mpub,
            &[
                "-h",
                HOST,
                "-p",
                &port,
                "-t",
                &topic,
                "-q",
                qos,
                "-m",
                "from mosquitto",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
        let got = sub.finish(WAIT);
        got.assert_no_panic();
        assert_eq!(got.status, Some(0), "{got:?}");
        assert_eq!(
            got.stdout_text(),
            format!("{topic}|{qos}|0|from mosquitto\n")
        );
    }
}

/// Retained messages both ways: our `pub -r` is what mosquitto_sub gets first with its retain flag,
/// and mosquitto_pub's retained message reaches our sub flagged; `-R` skips it and prints only the
/// live message that follows.
#[test]
fn retained_both_directions_and_dash_r() {
    let (pub_exe, _) = (our("pub"), our("sub"));
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let done = run(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/ours",
            "-m",
            "kept",
            "-r",
            "-q",
            "1",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &msub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/ours",
            "-C",
            "1",
            "-F",
            "%r %p",
        ],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1 kept\n")
    );

    let done = run(
        &mpub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/theirs",
            "-m",
            "old",
            "-r",
        ],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &our("sub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/ret/theirs",
            "-C",
            "1",
            "-F",
            "%r %p",
        ],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1 old\n"),
        "{got:?}"
    );

    // -R: the retained "old" arrives first and is skipped; the live one is printed.
    let sub = our_sub_ready(
        broker.port,
        &["-t", "cli/ret/theirs", "-R", "-C", "1", "-F", "%r %p"],
    );
    let done = run(
        &mpub,
        &["-h", HOST, "-p", &port, "-t", "cli/ret/theirs", "-m", "new"],
    );
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "0 new\n"),
        "{got:?}"
    );
}

/// `-l` with 10,000 lines at QoS 1, both ways: every line arrives, once, in order.
#[test]
fn stdin_lines_10000_in_order_both_directions() {
    let pub_exe = our("pub");
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let lines: String = (1..=10_000).map(|i| format!("line {i}\n")).collect();

    let sub = mosquitto_sub_ready(
        &mpub,
        &msub,
        broker.port,
        "cli/lines/a",
        10_000,
        &["-q", "1"],
    );
    let mut p = Proc::spawn(
        &pub_exe,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/lines/a",
            "-q",
            "1",
            "-l",
        ],
    );
    p.feed(lines.clone().into_bytes());
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish();
    assert_eq!(got.status, Some(0), "{got:?}");
    assert!(got.stdout_text() == lines, "mosquitto_sub got other lines");

    let sub = our_sub_ready(
        broker.port,
        &["-t", "cli/lines/b", "-q", "1", "-C", "10000"],
    );
    let mut p = Proc::spawn(
        &mpub,
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/lines/b",
            "-q",
            "1",
            "-l",
        ],
    );
    p.feed(lines.clone().into_bytes());
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = sub.finish(WAIT);
    assert_eq!(got.status, Some(0), "{got:?}");
    assert!(got.stdout_text() == lines, "our sub got other lines");
}

/// `-C 3` prints three messages and exits 0 although five are published.
#[test]
fn count_stops_after_c_messages() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, _msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let sub = our_sub_ready(broker.port, &["-t", "cli/count", "-C", "3", "-q", "1"]);
    let mut p = Proc::spawn(
        &mpub,
        &["-h", HOST, "-p", &port, "-t", "cli/count", "-q", "1", "-l"],
    );
    p.feed(b"1\n2\n3\n4\n5\n".to_vec());
    assert_eq!(p.finish(WAIT).status, Some(0));
    let got = sub.finish(WAIT);
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "1\n2\n3\n"),
        "{got:?}"
    );
}

/// `-W 1` with nothing arriving: "Timed out" and status 27, as mosquitto_sub, after a second.
#[test]
fn timeout_exits_27() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, _mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let started = Instant::now();
    let got = run(
        &our("sub"),
        &["-h", HOST, "-p", &port, "-t", "cli/quiet", "-W", "1"],
    );
    let took = started.elapsed();
    assert_eq!(got.status, Some(27), "{got:?}");
    assert_eq!(got.stderr, "Timed out\n");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let theirs = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/quiet", "-W", "1"],
    );
    assert_eq!(theirs.status, got.status, "mosquitto_sub: {theirs:?}");
}

/// `-F` prints what mosquitto_sub's `-F` prints, field for field, for the same messages (times aside:
/// they differ by nature), and `-v` and the default output match too. (`-N` is checked against the
/// expected bytes in `default_verbose_and_no_newline_output`: without newlines, mosquitto_sub's
/// marker line, see `mosquitto_sub_ready`, would run into its messages.)
#[test]
fn format_matches_mosquitto_sub() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let formats = [
        "%t|%p|%q|%r|%l|%x|%X|%%|@@|\\t|\\\\",
        "[%-12t][%12t][%.3t][%08l][%-4l][%7p][%-7p][%.2p][%4x]",
        "%A%C%D%E%F%P%R%S|end",
    ];
    let mut modes: Vec<Vec<&str>> = formats.iter().map(|f| vec!["-F", *f]).collect();
    modes.push(vec!["-v"]);
    modes.push(vec![]);
    for mode in modes {
        let mut args = vec!["-q", "1"];
        args.extend(&mode);
        let theirs = mosquitto_sub_ready(&mpub, &msub, broker.port, "cli/fmt/#", 3, &args);
        args.extend(["-t", "cli/fmt/#", "-C", "3"]);
        let ours = our_sub_ready(broker.port, &args);
        for (topic, payload) in [
            ("cli/fmt/a", "hello"),
            ("cli/fmt/b/c", "tab\there"),
            ("cli/fmt/e", ""),
        ] {
            let mut a = vec!["-h", HOST, "-p", &port, "-t", topic, "-q", "1"];
            if payload.is_empty() {
                a.push("-n");
            } else {
                a.extend(["-m", payload]);
            }
            assert_eq!(run(&mpub, &a).status, Some(0));
        }
        let theirs = theirs.finish();
        let ours = ours.finish(WAIT);
        assert_eq!(ours.status, Some(0), "{mode:?}: {ours:?}");
        assert_eq!(theirs.status, Some(0), "{mode:?}: {theirs:?}");
        assert_eq!(ours.stdout_text(), theirs.stdout_text(), "{mode:?}");
    }
}

/// Kills a subprocess the test started by hand and fails the test.
fn kill_and_fail(child: &mut Child, what: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("{what}");
}

/// `-T` leaves matching messages out, `--remove-retained` clears the retained messages sub prints, and
/// `--retained-only` ends sub at the first message that is not retained (here the first of its own
/// removals coming back). Afterwards only the filtered-out retained message is left on the broker.
#[test]
fn filter_out_remove_retained_and_retained_only() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    for (topic, payload) in [("cli/rr/a", "1"), ("cli/rr/b", "2"), ("cli/rr/skip", "3")] {
        let done = run(
            &mpub,
            &[
                "-h", HOST, "-p", &port, "-t", topic, "-m", payload, "-r", "-q", "1",
            ],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
    }
    let done = run(
        &our("sub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/rr/#",
            "-T",
            "cli/rr/skip",
            "--remove-retained",
            "--retained-only",
            "-v",
        ],
    );
    done.assert_no_panic();
    assert_eq!(done.status, Some(0), "{done:?}");
    let text = done.stdout_text();
    let mut printed: Vec<&str> = text.lines().collect();
    printed.sort_unstable();
    assert_eq!(printed, ["cli/rr/a 1", "cli/rr/b 2"]);

    let left = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/rr/#", "-v", "-W", "1"],
    );
    assert_eq!(left.status, Some(27), "{left:?}");
    assert_eq!(left.stdout_text(), "cli/rr/skip 3\n");
}

/// `sub ... | head -1`: sub flushes each message at once, and when the reader has gone it ends
/// quietly with status 0 at the next message it would print.
#[test]
fn sub_stops_quietly_when_stdout_closes() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((broker, mpub, _msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let mut child = Command::new(our("sub"))
        .args(["-h", HOST, "-p", &port, "-t", "cli/head", "-d"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting sub");
    // stdout: read one line, then drop the pipe, as `head -1` does.
    let stdout = child.stdout.take().unwrap();
    let (line_tx, first_line) = mpsc::channel();
    let head = thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    // stderr: all of it, and a signal when the SUBACK line and the end arrive.
    let stderr = child.stderr.take().unwrap();
    let (err_tx, err_lines) = mpsc::channel();
    let err_reader = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = err_tx.send(Some(line));
        }
        let _ = err_tx.send(None);
        all
    });
    loop {
        match err_lines.recv_timeout(WAIT) {
            Ok(Some(l)) if l.contains("Received SUBACK") => break,
            Ok(Some(_)) => {}
            _ => kill_and_fail(&mut child, "sub did not subscribe"),
        }
    }
    let publish = |payload: &str| {
        let done = run(
            &mpub,
            &["-h", HOST, "-p", &port, "-t", "cli/head", "-m", payload],
        );
        assert_eq!(done.status, Some(0), "{done:?}");
    };
    publish("first");
    match first_line.recv_timeout(WAIT) {
        Ok(line) => assert_eq!(line, "first\n"),
        Err(_) => kill_and_fail(&mut child, "no first line"),
    }
    head.join().unwrap(); // the read end is closed now
    publish("second");
    loop {
        match err_lines.recv_timeout(WAIT) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => kill_and_fail(&mut child, "sub did not end after its reader went away"),
        }
    }
    let status = child.wait().unwrap();
    let stderr = err_reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("Error") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// `pub -l -q 1` keeps its promise across a broker restart: a line given after the broker went away
/// is sent once pub has reconnected, and pub exits 0 only after it is acknowledged. (The message is
/// retained so that it can be checked after pub is gone.)
#[test]
fn pub_qos1_line_survives_a_broker_restart() {
    let _wd = watchdog(TEST_LIMIT);
    let Some((mut broker, _mpub, msub)) = mosquitto_setup() else {
        return;
    };
    let port = broker.port.to_string();
    let mut p = Proc::spawn(
        &our("pub"),
        &[
            "-h",
            HOST,
            "-p",
            &port,
            "-t",
            "cli/restart",
            "-q",
            "1",
            "-r",
            "-l",
            "-d",
        ],
    );
    let mut stdin = p.stdin.take().unwrap();
    stdin.write_all(b"before\n").unwrap();
    stdin.flush().unwrap();
    p.wait_stderr("Received PUBACK (Mid: 1)", "the first line acknowledged");
    broker.restart();
    stdin.write_all(b"after\n").unwrap();
    drop(stdin);
    let done = p.finish(WAIT);
    assert_eq!(done.status, Some(0), "{done:?}");
    let got = run(
        &msub,
        &["-h", HOST, "-p", &port, "-t", "cli/restart", "-C", "1"],
    );
    assert_eq!(
        (got.status, got.stdout_text().as_str()),
        (Some(0), "after\n"),
        "{got:?}"
    );
}
