//! An idle connected client costs no CPU: its loop thread sleeps in `poll` until the keepalive is due.
//! The loop yields its core after a turn that read packets (so that a busy broker answers before the
//! loop polls again), and a turn that reads something decides how acknowledgements go; none of that may
//! turn into a loop that spins once the traffic stops.
//!
//! A binary of its own, because it measures the whole process's CPU time: every thread's, from the
//! scheduler's nanosecond counters in `/proc/self/task/*/schedstat` (Linux).

mod tiny_broker;

use std::fs;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pahoish::Client;

/// CPU time of every live thread of this process, in nanoseconds.
fn process_cpu_ns() -> u64 {
    let tasks = fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn an_idle_connected_client_uses_no_cpu() {
    // Echoes one QoS 0 PUBLISH back, so the client's loop has had turns that read packets.
    let (port, broker) = tiny_broker::start(1);

    let (got_tx, got_rx) = mpsc::channel();
    let client = Client::new("idle");
    client.on_message(move |_c, _u, msg| {
        let _ = got_tx.send(msg.topic.clone());
    });
    client.connect("127.0.0.1", port, 60).expect("connect");
    client.loop_start().expect("loop_start");
    client.publish("idle/echo", "x", 0, false).expect("publish");
    let topic = got_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the echoed message within 10 s");
    assert_eq!(topic, "idle/echo");

    // The measurement itself is a span of time: half a second with nothing to do. A loop that spins
    // uses nearly all of it; a sleeping one a few microseconds. 20 ms leaves room for a slow machine.
    let before = process_cpu_ns();
    thread::sleep(Duration::from_millis(500));
    let used = process_cpu_ns().saturating_sub(before);
    assert!(
        used < 20_000_000,
        "an idle client used {:.1} ms of CPU in 500 ms",
        used as f64 / 1e6
    );

    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
    broker.join().expect("broker thread");
}
