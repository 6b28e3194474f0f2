//! `pub --store DIR`: a pub killed with SIGKILL in the middle of `-l` input leaves what it took in
//! the store, and the next pub on the same store and client id sends it before its own message.

use std::time::{Duration, Instant};

use crate::common::{self, watchdog, Mosquitto, TEST_LIMIT};
use crate::support::{our, run, Proc};

#[test]
fn a_killed_pub_with_a_store_is_continued_by_the_next_one() {
    let _wd = watchdog(TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let port = broker.port.to_string();
    let dir = std::env::temp_dir().join(format!("pahoish-cli-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.to_str().expect("a UTF-8 temp dir").to_owned();
    let topic = format!("cli-store/{}", std::process::id());
    let (sub, rx) = common::subscriber(broker.port, &topic, 2);
    let id = common::client_id("store-pub");
    let base = |extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "-p", &port, "-i", &id, "-c", "-q", "2", "-t", &topic, "--store", &store,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let pub_exe = our("pub");
    // The first pub reads 3,000 lines and is killed after some of them went out.
    let args = base(&["-l"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut first = Proc::spawn(&pub_exe, &argv);
    let input: String = (0..3000).map(|i| format!("{i}\n")).collect();
    first.feed(input.into_bytes());
    let deadline = Instant::now() + common::WAIT;
    let mut seen = Vec::new();
    while seen.len() < 200 && Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    }
    assert!(!seen.is_empty(), "the first pub sent nothing");
    first.child.kill().expect("SIGKILL");
    let _ = first.finish(common::WAIT);
    // Two more runs on the store: the first sends what was left and a marker; the second's marker
    // follows everything the first sent, on the same session.
    for marker in ["end1", "end2"] {
        let args = base(&["-m", marker]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let done = run(&pub_exe, &argv);
        assert_eq!(done.status, Some(0), "{done:?}");
    }
    loop {
        let m = rx
            .recv_timeout(common::WAIT)
            .expect("the second marker at the subscriber");
        let text = String::from_utf8_lossy(&m.payload).into_owned();
        if text == "end2" {
            break;
        }
        seen.push(text);
    }
    sub.stop().ok();
    // Everything the first pub took (a prefix of its input, in order) arrives once, then the marker.
    assert_eq!(seen.pop().as_deref(), Some("end1"), "{seen:?}");
    let numbers: Vec<usize> = seen.iter().map(|s| s.parse().expect(s)).collect();
    let expected: Vec<usize> = (0..numbers.len()).collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "lost or duplicated");
    let _ = std::fs::remove_dir_all(&dir);
}
