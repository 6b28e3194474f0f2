//! Codec micro-benchmarks: encoding and decoding one PUBLISH, at 64 B and 64 KiB of payload, with nothing
//! but `std::time::Instant` (no benchmark harness, so `cargo test` builds no heavy dev-dependency).
//!
//! `cargo run --release --example codec_bench` prints one line per case:
//! `publish encode size=64 packet=83B: 12345678 msg/s 1.02 GB/s (4000000 in 0.32s)`, where GB/s counts the
//! bytes of the whole encoded packet (10^9 bytes per second). `-- --seconds S` sets how long each case
//! runs (default 0.5; at least one batch of iterations runs anyway).
//!
//! - **encode** is what `publish()` does under the session lock: `Publish::encode_parts` appends the
//!   packet to an output buffer that is reused (cleared, not freed), as the session's is.
//! - **decode** is what the loop does for each incoming packet: `packet::frame` finds the packet in the
//!   read buffer, `Packet::decode_frame` builds a `Publish` (owning its topic and payload, which the
//!   `Message` given to `on_message` then takes over), and the packet is dropped.
use std::hint::black_box;
use std::time::{Duration, Instant};

use pahoish::packet::{self, Packet, Publish, MAX_REMAINING_LENGTH};
use pahoish::QoS;

/// The topic of every case, as long as the one the throughput benchmark uses.
const TOPIC: &str = "bench/pahoish-12345";

fn main() {
    let mut seconds = 0.5f64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--seconds") {
        match args.get(i + 1).and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s > 0.0 && s.is_finite() => seconds = s,
            _ => {
                eprintln!("usage: codec_bench [--seconds S]");
                std::process::exit(1);
            }
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    for size in [64usize, 64 * 1024] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            encode_case(size, qos, budget);
            decode_case(size, qos, budget);
        }
    }
}

/// Runs `batch` calls of `f` at a time until `budget` has passed; returns the calls made and the time.
fn run_for(budget: Duration, batch: u64, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut done = 0u64;
    loop {
        for _ in 0..batch {
            f();
        }
        done += batch;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return (done, elapsed);
        }
    }
}

/// Iterations per clock reading: enough that reading the clock costs nothing measurable.
fn batch_for(size: usize) -> u64 {
    if size >= 16 * 1024 {
        64
    } else {
        4096
    }
}

fn report(what: &str, size: usize, qos: QoS, packet_len: usize, n: u64, dt: Duration) {
    let secs = dt.as_secs_f64();
    let rate = n as f64 / secs;
    let gbps = rate * packet_len as f64 / 1e9;
    println!(
        "publish {what} qos={} size={size} packet={packet_len}B: {rate:.0} msg/s {gbps:.2} GB/s \
         ({n} in {secs:.2}s)",
        qos as u8
    );
}

fn encode_case(size: usize, qos: QoS, budget: Duration) {
    let payload = vec![b'x'; size];
    let mut out = Vec::with_capacity(size + 64);
    let (n, dt) = run_for(budget, batch_for(size), || {
        out.clear();
        Publish::encode_parts(
            black_box(&mut out),
            false,
            qos,
            false,
            black_box(TOPIC),
            7,
            black_box(&payload),
        );
        black_box(&out);
    });
    report("encode", size, qos, out.len(), n, dt);
}

fn decode_case(size: usize, qos: QoS, budget: Duration) {
    let mut wire = Vec::new();
    Publish::encode_parts(&mut wire, false, qos, false, TOPIC, 7, &vec![b'x'; size]);
    let (n, dt) = run_for(budget, batch_for(size), || {
        let buf = black_box(wire.as_slice());
        let frame = packet::frame(buf, MAX_REMAINING_LENGTH)
            .expect("a valid packet")
            .expect("a whole packet");
        let packet = Packet::decode_frame(frame.header, &buf[frame.header_len..frame.len()])
            .expect("a valid PUBLISH");
        match black_box(packet) {
            Packet::Publish(p) => drop(black_box(p)),
            other => panic!("decoded {other:?}"),
        }
    });
    report("decode", size, qos, wire.len(), n, dt);
}
