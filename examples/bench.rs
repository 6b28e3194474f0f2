//! Throughput benchmark, the same job as the other clients' in ../shared/bench: a subscriber and a
//! publisher `Client` in one process, both at QoS q, n messages of `size` bytes, timed from the first
//! publish until the subscriber's `on_message` has seen all n.
//!
//! `cargo run --release --example bench -- <port> <n> <qos> <size>` prints
//! `pahoish qos=Q size=S n=N <rate> msg/s <seconds>s`.
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pahoish as mqtt;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Option<(u16, usize, u8, usize)> {
        Some((
            args.first()?.parse().ok()?,
            args.get(1)?.parse().ok()?,
            args.get(2)?.parse().ok()?,
            args.get(3)?.parse().ok()?,
        ))
    })();
    let Some((port, n, qos, size)) = parsed else {
        eprintln!("usage: bench <port> <n> <qos> <size>");
        std::process::exit(1);
    };
    if let Err(e) = run(port, n, qos, size) {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16, n: usize, qos: u8, size: usize) -> Result<(), mqtt::Error> {
    let pid = std::process::id();
    let topic = format!("bench/pahoish-{pid}");

    let (subscribed_tx, subscribed_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let sub = mqtt::Client::new(&format!("sub-{pid}"));
    sub.max_inflight_messages_set(1000);
    sub.on_subscribe(move |_c, _u, _mid, _codes, _p| {
        let _ = subscribed_tx.send(());
    });
    let mut got = 0usize;
    sub.on_message(move |_c, _u, _msg| {
        got += 1;
        if got == n {
            let _ = done_tx.send(Instant::now());
        }
    });
    sub.connect("127.0.0.1", port, 60)?;
    sub.loop_start()?;
    sub.subscribe(topic.as_str(), qos)?;
    subscribed_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| mqtt::Error::NoConn)?;

    let publ = mqtt::Client::new(&format!("pub-{pid}"));
    publ.max_inflight_messages_set(100);
    publ.connect("127.0.0.1", port, 60)?;
    publ.loop_start()?;
    let payload = vec![b'x'; size];
    let t0 = Instant::now();
    for _ in 0..n {
        publ.publish(&topic, payload.as_slice(), qos, false)?;
    }
    let t1 = done_rx
        .recv_timeout(Duration::from_secs(300))
        .map_err(|_| mqtt::Error::ConnectionLost)?;
    let dt = (t1 - t0).as_secs_f64();
    println!(
        "pahoish qos={qos} size={size} n={n} {:.0} msg/s {dt:.3}s",
        n as f64 / dt
    );
    let _ = publ.disconnect();
    let _ = sub.disconnect();
    let _ = publ.loop_stop();
    let _ = sub.loop_stop();
    Ok(())
}
