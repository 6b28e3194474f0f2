//! Throughput benchmark, the same job as the other clients' in ../shared/bench: a subscriber and a
//! publisher `Client` in one process, both at QoS q, n messages of `size` bytes, timed from the first
//! publish until the subscriber's `on_message` has seen all n. The publisher keeps at most 1,000 messages
//! (8 MiB at most for large ones) handed over and not yet published, counted by `on_publish`.
//!
//! `cargo run --release --example bench -- <port> <n> <qos> <size>` prints
//! `pahoish qos=Q size=S n=N <rate> msg/s <seconds>s`.
//!
//! `--protocol 5` (before the other arguments) runs both clients on MQTT 5 instead of 3.1.1; the line
//! then says `pahoish-v5`. `--topic-len L` pads the topic to L bytes; `--aliases` (with `--protocol 5`)
//! turns on the publisher's automatic topic aliases.
//!
//! `--store DIR` (before the other arguments) gives the publisher a `FileStore` in DIR, flushed as
//! `--sync always|never|<ms>` says (default `always`); the line then names the policy, e.g.
//! `pahoish+store-always`. The subscriber has no store.
//!
//! `... --example bench -- --latency <port> <n> <qos> <size>`: ping-pong instead, one message at a time
//! between two clients (one publishes a ping, the other answers each with a pong from its `on_message`);
//! prints the median and 99th percentile round trip in microseconds over n pings (after 100 warm-up
//! ones): `pahoish latency qos=Q size=S n=N median=<us>us p99=<us>us`.
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pahoish as mqtt;

/// The topic's length in bytes (`--topic-len`), padded; as short as the default name otherwise.
static TOPIC_LEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
/// Whether the publisher uses automatic topic aliases (`--aliases`, MQTT 5).
static ALIASES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The protocol both clients speak (`--protocol`); MQTT 3.1.1 unless set.
static PROTOCOL: std::sync::OnceLock<mqtt::Protocol> = std::sync::OnceLock::new();

/// The publisher's store (`--store`, `--sync`), if any, and the policy's name.
static STORE: std::sync::OnceLock<(String, mqtt::SyncPolicy, String)> = std::sync::OnceLock::new();

/// A client with this id, on the protocol chosen.
fn client(id: &str) -> Result<mqtt::Client, mqtt::Error> {
    mqtt::Client::builder()
        .client_id(id)
        .protocol(*PROTOCOL.get().unwrap_or(&mqtt::MQTTv311))
        .build()
}

/// The publisher: with the store, if one was asked for.
fn publisher(id: &str) -> Result<mqtt::Client, mqtt::Error> {
    let builder = mqtt::Client::builder()
        .client_id(id)
        .protocol(*PROTOCOL.get().unwrap_or(&mqtt::MQTTv311));
    match STORE.get() {
        Some((dir, policy, _)) => builder
            .persistence(mqtt::FileStore::new(dir, *policy))
            .build(),
        None => builder.build(),
    }
}

/// The name the result line gives: `pahoish`, or `pahoish-v5` on MQTT 5; `+store-<policy>` with
/// a store.
fn name() -> String {
    let base = match PROTOCOL.get() {
        Some(&mqtt::MQTTv5) => "pahoish-v5",
        _ => "pahoish",
    };
    match STORE.get() {
        Some((_, _, policy)) => format!("{base}+store-{policy}"),
        None => base.to_string(),
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut latency = false;
    let mut store = None;
    let mut sync = "always".to_string();
    while let Some(flag) = args.first().filter(|a| a.starts_with("--")).cloned() {
        args.remove(0);
        match flag.as_str() {
            "--latency" => latency = true,
            "--aliases" => ALIASES.store(true, std::sync::atomic::Ordering::Relaxed),
            "--topic-len" if !args.is_empty() => {
                let Ok(len) = args.remove(0).parse() else {
                    eprintln!("bench: --topic-len takes a number of bytes");
                    std::process::exit(1);
                };
                TOPIC_LEN.set(len).ok();
            }
            "--store" if !args.is_empty() => store = Some(args.remove(0)),
            "--sync" if !args.is_empty() => sync = args.remove(0),
            "--protocol" if !args.is_empty() => {
                let v = args.remove(0);
                let p = match v.as_str() {
                    "5" => mqtt::MQTTv5,
                    "311" => mqtt::MQTTv311,
                    _ => {
                        eprintln!("bench: --protocol takes 5 or 311");
                        std::process::exit(1);
                    }
                };
                PROTOCOL.set(p).ok();
            }
            _ => {
                eprintln!("bench: unknown option {flag}");
                std::process::exit(1);
            }
        }
    }
    if let Some(dir) = store {
        let policy = match sync.as_str() {
            "always" => mqtt::SyncPolicy::Always,
            "never" => mqtt::SyncPolicy::Never,
            ms => match ms.parse() {
                Ok(ms) => mqtt::SyncPolicy::Interval(Duration::from_millis(ms)),
                Err(_) => {
                    eprintln!("bench: --sync takes always, never or milliseconds");
                    std::process::exit(1);
                }
            },
        };
        let label = match policy {
            mqtt::SyncPolicy::Interval(_) => format!("{sync}ms"),
            _ => sync,
        };
        STORE.set((dir, policy, label)).ok();
    }
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
    let result = if latency {
        run_latency(port, n, qos, size)
    } else {
        run(port, n, qos, size)
    };
    if let Err(e) = result {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

fn run(port: u16, n: usize, qos: u8, size: usize) -> Result<(), mqtt::Error> {
    let pid = std::process::id();
    let mut topic = format!("bench/pahoish-{pid}");
    if let Some(&len) = TOPIC_LEN.get() {
        if len > topic.len() + 1 {
            topic.push('/');
            topic.extend(std::iter::repeat_n('t', len - topic.len()));
        }
    }

    let (subscribed_tx, subscribed_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let sub = client(&format!("sub-{pid}"))?;
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

    // Flow control, as a bulk publisher should have with Paho's API (publish() never blocks, and its
    // queue is unbounded): at most `window` messages handed over and not yet published (written for
    // QoS 0, acknowledged for 1 and 2), counted down by on_publish. rumqttc's blocking API does the
    // same by itself; without it the whole run sits in memory, ours or the broker's.
    // With small messages the publisher resumes once half the window has drained, so it is woken once
    // per 500 messages rather than once per message (a Condvar notify is a futex call even with nobody
    // waiting). With large ones (a window of 8 at 1 MiB) it resumes at once: half a window would leave
    // the pipeline half empty, and a wake-up per megabyte costs nothing.
    let window = (8 * 1024 * 1024 / size.max(1)).clamp(8, 1000);
    let resume_at = if window >= 100 {
        window / 2
    } else {
        window - 1
    };
    let outstanding = Arc::new((Mutex::new(0usize), Condvar::new()));
    let publ = publisher(&format!("pub-{pid}"))?;
    publ.max_inflight_messages_set(100);
    if ALIASES.load(std::sync::atomic::Ordering::Relaxed) {
        publ.auto_topic_aliases_set(1);
    }
    let count = Arc::clone(&outstanding);
    publ.on_publish(move |_c, _u, _mid, _rc, _p| {
        let (lock, cv) = &*count;
        let mut held = lock.lock().unwrap_or_else(|e| e.into_inner());
        *held -= 1;
        if *held == resume_at {
            cv.notify_one();
        }
    });
    // Publishing starts once the broker has accepted the connection: on MQTT 5 a QoS 0 message
    // published before the CONNACK is not sent (the server's limits are not known yet).
    let (connected_tx, connected_rx) = mpsc::channel();
    publ.on_connect(move |_c, _u, _f, _rc, _p| {
        let _ = connected_tx.send(());
    });
    publ.connect("127.0.0.1", port, 60)?;
    publ.loop_start()?;
    connected_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| mqtt::Error::NoConn)?;
    let payload = vec![b'x'; size];
    let t0 = Instant::now();
    for _ in 0..n {
        {
            let (lock, cv) = &*outstanding;
            let mut held = lock.lock().unwrap_or_else(|e| e.into_inner());
            if *held >= window {
                while *held > resume_at {
                    held = cv.wait(held).unwrap_or_else(|e| e.into_inner());
                }
            }
            *held += 1;
        }
        publ.publish(&topic, payload.as_slice(), qos, false)?;
    }
    let t1 = done_rx
        .recv_timeout(Duration::from_secs(300))
        .map_err(|_| mqtt::Error::ConnectionLost)?;
    let dt = (t1 - t0).as_secs_f64();
    println!(
        "{} qos={qos} size={size} n={n} {:.0} msg/s {dt:.3}s",
        name(),
        n as f64 / dt
    );
    let _ = publ.disconnect();
    let _ = sub.disconnect();
    let _ = publ.loop_stop();
    let _ = sub.loop_stop();
    Ok(())
}

fn run_latency(port: u16, n: usize, qos: u8, size: usize) -> Result<(), mqtt::Error> {
    const WARMUP: usize = 100;
    let pid = std::process::id();
    let (ping_topic, pong_topic) = (format!("bench/ping-{pid}"), format!("bench/pong-{pid}"));
    let timeout = Duration::from_secs(10);

    // The ponger answers every ping from its callback.
    let (ready_tx, ready_rx) = mpsc::channel();
    let ponger = client(&format!("pong-{pid}"))?;
    let answer = pong_topic.clone();
    let ready = ready_tx.clone();
    ponger.on_subscribe(move |_c, _u, _mid, _codes, _p| {
        let _ = ready.send(());
    });
    ponger.on_message(move |client, _u, msg| {
        let _ = client.publish(&answer, msg.payload.as_slice(), msg.qos, false);
    });
    ponger.connect("127.0.0.1", port, 60)?;
    ponger.loop_start()?;
    ponger.subscribe(ping_topic.as_str(), qos)?;

    let (pong_tx, pong_rx) = mpsc::channel();
    let pinger = client(&format!("ping-{pid}"))?;
    pinger.on_subscribe(move |_c, _u, _mid, _codes, _p| {
        let _ = ready_tx.send(());
    });
    pinger.on_message(move |_c, _u, _msg| {
        let _ = pong_tx.send(Instant::now());
    });
    pinger.connect("127.0.0.1", port, 60)?;
    pinger.loop_start()?;
    pinger.subscribe(pong_topic.as_str(), qos)?;
    for _ in 0..2 {
        ready_rx
            .recv_timeout(timeout)
            .map_err(|_| mqtt::Error::NoConn)?;
    }

    let payload = vec![b'x'; size];
    let mut rtts = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let t0 = Instant::now();
        pinger.publish(&ping_topic, payload.as_slice(), qos, false)?;
        let t1 = pong_rx
            .recv_timeout(timeout)
            .map_err(|_| mqtt::Error::ConnectionLost)?;
        if i >= WARMUP {
            rtts.push((t1 - t0).as_secs_f64() * 1e6);
        }
    }
    rtts.sort_by(f64::total_cmp);
    let pct = |p: f64| rtts[((rtts.len() as f64 * p) as usize).min(rtts.len() - 1)];
    println!(
        "{} latency qos={qos} size={size} n={n} median={:.0}us p99={:.0}us",
        name(),
        pct(0.5),
        pct(0.99)
    );
    for c in [&pinger, &ponger] {
        let _ = c.disconnect();
        let _ = c.loop_stop();
    }
    Ok(())
}
