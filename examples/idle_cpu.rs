//! How much CPU an idle connected client uses: connects with keepalive K, starts the loop thread, waits for
//! CONNACK, then sleeps for S seconds and reports the CPU time the whole process used meanwhile (every
//! thread, user and system, from the scheduler's nanosecond counters in `/proc/self/task/*/schedstat`) and
//! how often its threads woke up (voluntary context switches, from `/proc/self/task/*/status`).
//!
//! `cargo run --release --example idle_cpu -- <port> [seconds] [keepalive]` (defaults 60 and 60), against
//! a broker on 127.0.0.1, prints
//! `pahoish idle seconds=60 keepalive=60: cpu=0.512ms wakeups=3`. Linux only (it reads `/proc`).
use std::fs;
use std::sync::mpsc;
use std::time::Duration;

use pahoish as mqtt;

/// CPU time of every live thread of this process, in nanoseconds, and their voluntary context switches.
fn process_cpu() -> (u64, u64) {
    let (mut ns, mut switches) = (0u64, 0u64);
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let dir = task.path();
        // schedstat: time on the CPU (ns), time waiting to run (ns), timeslices.
        if let Ok(s) = fs::read_to_string(dir.join("schedstat")) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if let Ok(s) = fs::read_to_string(dir.join("status")) {
            switches += s
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    (ns, switches)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Option<(u16, u64, u16)> {
        Some((
            args.first()?.parse().ok()?,
            args.get(1).map_or(Some(60), |s| s.parse().ok())?,
            args.get(2).map_or(Some(60), |s| s.parse().ok())?,
        ))
    })();
    let Some((port, seconds, keepalive)) = parsed else {
        eprintln!("usage: idle_cpu <port> [seconds] [keepalive]");
        std::process::exit(1);
    };
    if let Err(e) = run(port, seconds, keepalive) {
        eprintln!("idle_cpu: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16, seconds: u64, keepalive: u16) -> Result<(), mqtt::Error> {
    let client = mqtt::Client::new(&format!("idle-{}", std::process::id()));
    let (connected_tx, connected_rx) = mpsc::channel();
    client.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = connected_tx.send(());
    });
    client.connect("127.0.0.1", port, keepalive)?;
    client.loop_start()?;
    connected_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| mqtt::Error::NoConn)?;

    let (cpu0, woke0) = process_cpu();
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, woke1) = process_cpu();
    // The sleeping main thread's own wake-up at the end is one of these.
    println!(
        "pahoish idle seconds={seconds} keepalive={keepalive}: cpu={:.3}ms wakeups={}",
        (cpu1 - cpu0) as f64 / 1e6,
        woke1 - woke0
    );
    let _ = client.disconnect();
    let _ = client.loop_stop();
    Ok(())
}
