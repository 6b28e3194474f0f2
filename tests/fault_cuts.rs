//! Connection cuts against a real broker: clients whose connections to mosquitto go through a relay
//! that cuts every connection it carries at random intervals of 50–250 ms, as a flaky network would.
//! The clients reconnect with persistent sessions (`clean_session(false)`), and what the subscriber
//! receives is counted:
//!
//! - QoS 1: nothing is lost (duplicates are allowed, and counted);
//! - QoS 2: nothing is lost and nothing is duplicated, whether the publisher's connection is cut or both
//!   the publisher's and the subscriber's are (with both, copies that mosquitto 2.0.11 itself resends
//!   after a PUBREL are counted apart: see [`mosquitto_resends_a_released_qos2_publish`]).
//!
//! Each test publishes at least `PAHOISH_FAULT_MESSAGES` messages (default [`DEFAULT_MESSAGES`]) and
//! goes on until the relay has cut at least `PAHOISH_FAULT_CUTS` times (default [`DEFAULT_CUTS`]),
//! within `PAHOISH_FAULT_TIMEOUT` seconds (default [`DEFAULT_TIMEOUT`]); `PAHOISH_FAULT_SEED` replays a
//! run's cut intervals (every test prints its seed). Larger values make the longer run described in
//! docs/reliability.md ("Connection cuts").

mod common;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::{client_id, subscribe_and_wait, watchdog, Live, Mosquitto, HOST};
use pahoish::{Client, MessageInfo};

/// The fewest messages a test publishes, unless `PAHOISH_FAULT_MESSAGES` says otherwise.
const DEFAULT_MESSAGES: usize = 20_000;

/// The fewest cuts a test goes through, unless `PAHOISH_FAULT_CUTS` says otherwise: messages are
/// published until both minimums are met.
const DEFAULT_CUTS: usize = 20;

/// Messages published at a time.
const BATCH: usize = 1_000;

/// Seconds a test may take unless `PAHOISH_FAULT_TIMEOUT` says otherwise.
const DEFAULT_TIMEOUT: u64 = 40;

/// The shortest and longest time between two cuts, in milliseconds.
const CUT_INTERVAL_MS: std::ops::RangeInclusive<u64> = 50..=250;

/// The payload that follows the numbered messages: the broker keeps one publisher's messages on a topic
/// in order, so once the subscriber has it and every number, a duplicate would have arrived too (one
/// that arrives later still, before the subscriber stops, is counted as well).
const END: &[u8] = b"end";

// ---- the cutting relay ----

/// A TCP relay on 127.0.0.1 (port 0) that forwards each connection to `target` and, at random intervals
/// in [`CUT_INTERVAL_MS`], cuts every connection it carries: both directions of both sockets are shut
/// down, so the client and the broker each see the connection close, and whatever the relay had read but
/// not yet written is lost (a packet may arrive cut short). New connections are accepted all along.
/// Stops on drop, closing every connection and joining its threads.
struct CuttingRelay {
    port: u16,
    shared: Arc<RelayShared>,
    acceptor: Option<JoinHandle<()>>,
    cutter: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct RelayShared {
    state: Mutex<RelayState>,
    /// Wakes the cutter when the relay stops.
    stop: Condvar,
}

#[derive(Default)]
struct RelayState {
    stopping: bool,
    /// The connections open now: their number, the client's socket and the broker's.
    open: Vec<(usize, TcpStream, TcpStream)>,
    /// Every copying thread started (two per connection), joined when the relay stops.
    pipes: Vec<JoinHandle<()>>,
    /// Connections relayed so far.
    connections: usize,
    /// Connections the cutter closed.
    cut: usize,
    /// Cuts that closed at least one connection.
    cuts: usize,
}

/// What a relay did, for the test's report.
#[derive(Debug, Clone, Copy)]
struct RelayStats {
    connections: usize,
    cut: usize,
    cuts: usize,
}

impl CuttingRelay {
    /// Starts relaying to `target`, the cut intervals drawn from a generator seeded with `seed`.
    fn start(target: SocketAddr, seed: u64) -> CuttingRelay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let shared = Arc::new(RelayShared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || accept(&listener, target, &shared))
                .expect("spawning the relay's acceptor")
        };
        let cutter = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("relay-cut".into())
                .spawn(move || cut(&shared, seed))
                .expect("spawning the relay's cutter")
        };
        CuttingRelay {
            port,
            shared,
            acceptor: Some(acceptor),
            cutter: Some(cutter),
        }
    }

    fn stats(&self) -> RelayStats {
        let s = lock(&self.shared.state);
        RelayStats {
            connections: s.connections,
            cut: s.cut,
            cuts: s.cuts,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The accept loop: connects each client to `target` and starts copying both ways.
fn accept(listener: &TcpListener, target: SocketAddr, shared: &Arc<RelayShared>) {
    for client in listener.incoming() {
        if lock(&shared.state).stopping {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(upstream) = TcpStream::connect(target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let mut state = lock(&shared.state);
        if state.stopping {
            return;
        }
        state.connections += 1;
        let n = state.connections;
        let clones = (|| Ok::<_, io::Error>((client.try_clone()?, upstream.try_clone()?)))();
        let Ok((client2, upstream2)) = clones else {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
            continue;
        };
        state
            .pipes
            .push(pipe(n, client2, upstream.try_clone().ok(), shared));
        state
            .pipes
            .push(pipe(n, upstream2, client.try_clone().ok(), shared));
        state.open.push((n, client, upstream));
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes; then closes connection `n`
/// (both sockets, both directions), so that the other direction ends too.
fn pipe(
    n: usize,
    mut from: TcpStream,
    to: Option<TcpStream>,
    shared: &Arc<RelayShared>,
) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        if let Some(mut to) = to {
            let _ = io::copy(&mut from, &mut to);
        }
        let mut state = lock(&shared.state);
        state.open.retain(|(m, a, b)| {
            if *m == n {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
            *m != n
        });
    })
}

/// The cutter: waits a random interval, cuts every open connection, and again, until the relay stops.
fn cut(shared: &RelayShared, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = lock(&shared.state);
    loop {
        // The interval is the one sleep here: it is what the relay simulates, not a synchronisation.
        let next = Instant::now() + Duration::from_millis(rng.gen_range(CUT_INTERVAL_MS));
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if state.stopping {
                return;
            }
            state = shared
                .stop
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if state.stopping {
            return;
        }
        if !state.open.is_empty() {
            state.cuts += 1;
            state.cut += state.open.len();
            for (_, a, b) in state.open.drain(..) {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for CuttingRelay {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.shared.state);
            state.stopping = true;
            for (_, a, b) in state.open.drain(..) {
                let _ = a.shutdown(Shutdown::Both);
                let _ = b.shutdown(Shutdown::Both);
            }
        }
        self.shared.stop.notify_all();
        // Wakes the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        for t in [self.acceptor.take(), self.cutter.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
        let pipes = std::mem::take(&mut lock(&self.shared.state).pipes);
        for t in pipes {
            let _ = t.join();
        }
    }
}

// ---- the test ----

/// A number from the environment variable `name`, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Which connections go through the cutting relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The publisher's only; the subscriber is connected to the broker directly.
    Publisher,
    /// Both the publisher's and the subscriber's.
    Both,
}

/// What a run delivered.
struct Outcome {
    /// How many times each number arrived.
    counts: Vec<u32>,
    /// The first few numbers that arrived twice, with both deliveries and the publisher's message id.
    repeats: Vec<Repeat>,
    /// How many extra copies came as a PUBLISH the broker had released already.
    resent_after_release: u32,
    relay: RelayStats,
    elapsed: Duration,
}

impl Outcome {
    /// The numbers that never arrived (the first few, and how many in all).
    fn missing(&self) -> (Vec<usize>, usize) {
        let all: Vec<usize> = (0..self.counts.len())
            .filter(|&i| self.counts[i] == 0)
            .collect();
        let n = all.len();
        (all.into_iter().take(20).collect(), n)
    }

    /// The extra copies that came as mosquitto's resend of a PUBLISH it had already released (see
    /// [`mosquitto_resends_a_released_qos2_publish`]): the same message id, with DUP set, on a later
    /// connection of the subscriber. pahoish delivers a QoS 2 message when its PUBREL arrives, and
    /// the broker sends PUBREL only once it has the PUBREC, after which MQTT forbids it to send the
    /// PUBLISH again ([MQTT-4.3.3-1]); a copy like this is the broker's, not the client's.
    fn resent_after_release(&self) -> u32 {
        self.resent_after_release
    }

    /// The numbers that arrived more than once (the first few), and the extra copies in all.
    fn duplicates(&self) -> (Vec<(usize, u32)>, u32) {
        let extra = self.counts.iter().map(|&c| c.saturating_sub(1)).sum();
        let first = (0..self.counts.len())
            .filter(|&i| self.counts[i] > 1)
            .take(20)
            .map(|i| (i, self.counts[i]))
            .collect();
        (first, extra)
    }
}

/// A client with a fixed id, a persistent session and a reconnect delay of a few milliseconds (the
/// backoff keeps growing while connections last under 10 s, so its maximum is what it mostly waits).
fn persistent_client(id: &str) -> Client {
    let client = Client::builder()
        .client_id(id)
        .clean_session(false)
        .build()
        .expect("building a client");
    client
        .reconnect_delay_set(Duration::from_millis(1), Duration::from_millis(20))
        .expect("reconnect_delay_set");
    client
}

/// Publishes `n` numbered messages at `qos` from a client whose connection goes through a
/// [`CuttingRelay`], to a subscriber at the same QoS (through the relay too with [`Cut::Both`]), both
/// with persistent sessions; returns how many times each number arrived. Fails, instead of hanging,
/// when the messages are not all published and delivered within the time limit.
fn run(qos: i32, cut: Cut) -> Option<Outcome> {
    let n: usize = env_or("PAHOISH_FAULT_MESSAGES", DEFAULT_MESSAGES);
    let min_cuts: usize = env_or("PAHOISH_FAULT_CUTS", DEFAULT_CUTS);
    let limit = Duration::from_secs(env_or("PAHOISH_FAULT_TIMEOUT", DEFAULT_TIMEOUT));
    let seed: u64 = env_or("PAHOISH_FAULT_SEED", rand::random::<u64>() >> 16);
    println!(
        "qos {qos}, cut {cut:?}: at least {n} messages and {min_cuts} cuts, PAHOISH_FAULT_SEED={seed}"
    );
    let _wd = watchdog(limit + Duration::from_secs(30));
    let broker = Mosquitto::start_or_skip()?;
    let relay = CuttingRelay::start(broker.addr(), seed);
    let deadline = Instant::now() + limit;
    let topic = format!("faults/cuts/{}", client_id("topic"));

    // The subscription is made on a direct connection, so that no cut interrupts it; the session the
    // broker keeps for the id carries it to the counting subscriber.
    let sub_id = client_id("sub");
    let setup = Live::connect(persistent_client(&sub_id), broker.port);
    subscribe_and_wait(&setup, &topic, qos);
    setup.stop().expect("the subscription's client stops");

    let subscriber = persistent_client(&sub_id);
    let (tx, arrived) = mpsc::channel::<(Vec<u8>, Delivery)>();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    subscriber.on_connect(move |_c, _u, _f, _rc, _p| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    subscriber.on_message(move |_c, _u, msg| {
        let delivery = Delivery {
            mid: msg.mid,
            dup: msg.dup,
            connection: connections.load(Ordering::SeqCst),
        };
        let _ = tx.send((msg.payload.to_vec(), delivery));
    });
    let sub_port = match cut {
        Cut::Publisher => broker.port,
        Cut::Both => relay.port,
    };
    subscriber
        .connect_async(HOST, sub_port, 60)
        .expect("connect_async (subscriber)");
    subscriber.loop_start().expect("loop_start (subscriber)");
    let subscriber = Live::adopt(subscriber);

    let started = Instant::now();
    let publisher = persistent_client(&client_id("pub"));
    publisher
        .connect_async(HOST, relay.port, 60)
        .expect("connect_async (publisher)");
    publisher.loop_start().expect("loop_start (publisher)");
    let publisher = Live::adopt(publisher);
    // Published a batch at a time, each batch as soon as the one before the last is acknowledged, as an
    // application whose connection comes and goes would: the messages are held (no queue limit by
    // default) and go out, 20 in flight at a time, over whichever connection is up, resent after each
    // reconnect until acknowledged. Batches go on past `n` messages until the relay has cut `min_cuts`
    // times, so that a fast machine still sees cuts. What has arrived is counted as it comes.
    let mut tally = Tally::default();
    let not_published = |i: usize| {
        format!(
            "qos {qos}, cut {cut:?}, seed {seed}: message {i} not published within {limit:?} \
             (relay {:?})",
            relay.stats()
        )
    };
    let mut published = 0;
    // The message id of each number's PUBLISH, to tell a duplicate's story.
    let mut pub_mids: Vec<u16> = Vec::new();
    let mut previous: Vec<MessageInfo> = Vec::new();
    loop {
        let batch: Vec<MessageInfo> = (published..published + BATCH)
            .map(|i| {
                publisher
                    .publish(&topic, i.to_string(), qos, false)
                    .unwrap_or_else(|e| panic!("publish {i}: {e}"))
            })
            .collect();
        for (i, info) in (published - previous.len()..).zip(&previous) {
            wait_published(info, i, deadline, || not_published(i));
        }
        pub_mids.extend(batch.iter().map(|info| info.mid));
        published += BATCH;
        previous = batch;
        tally.add_all(&arrived);
        if published >= n && relay.stats().cuts >= min_cuts {
            break;
        }
    }
    let n = published;
    let end = publisher
        .publish(&topic, END, qos, false)
        .expect("publish the end marker");
    for (i, info) in (n - previous.len()..).zip(previous.iter().chain([&end])) {
        wait_published(info, i, deadline, || not_published(i));
    }

    // Until the end marker and every number arrived: the marker alone would do for a subscriber whose
    // connection is never cut, but one that is cut may be handed a message released (PUBREL) after the
    // marker's.
    while !tally.ended || tally.distinct < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match arrived.recv_timeout(left) {
            Ok(p) => tally.add(p),
            Err(RecvTimeoutError::Timeout) => {
                tally.counts.resize(n, 0);
                let partial = Outcome {
                    counts: tally.counts,
                    repeats: tally.repeats,
                    resent_after_release: tally.resent_after_release,
                    relay: relay.stats(),
                    elapsed: started.elapsed(),
                };
                let (missing, count) = partial.missing();
                panic!(
                    "qos {qos}, cut {cut:?}, seed {seed}: not delivered within {limit:?}: {count} of \
                     {n} messages (the first {missing:?}){}; relay {:?}",
                    if tally.ended { "" } else { " and the end marker" },
                    partial.relay
                );
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the subscriber's callback is gone"),
        }
    }
    let elapsed = started.elapsed();
    let stats = relay.stats();
    // Whatever arrives until the subscriber stops is counted too (a duplicate after the marker).
    publisher.stop().expect("the publisher stops");
    subscriber.stop().expect("the subscriber stops");
    tally.add_all(&arrived);
    assert!(
        tally.others.is_empty(),
        "unexpected payloads: {:?}",
        tally.others
    );
    assert!(tally.counts.len() <= n, "numbers never published arrived");
    tally.counts.resize(n, 0);
    for r in &mut tally.repeats {
        r.published_mid = pub_mids.get(r.number).copied();
    }
    Some(Outcome {
        counts: tally.counts,
        repeats: tally.repeats,
        resent_after_release: tally.resent_after_release,
        relay: stats,
        elapsed,
    })
}

/// How a message reached the subscriber: its PUBLISH's message id and DUP flag, and the number of the
/// subscriber's connection it came on (counting CONNACKs).
#[derive(Debug, Clone, Copy, Default)]
#[allow(dead_code)] // read through Debug, in a failure's message
struct Delivery {
    mid: u16,
    dup: bool,
    connection: usize,
}

/// A number delivered more than once: the first delivery and a later one, and the message id the
/// publisher sent it with.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, in a failure's message
struct Repeat {
    number: usize,
    first: Delivery,
    again: Delivery,
    published_mid: Option<u16>,
}

/// What the subscriber received so far.
#[derive(Default)]
struct Tally {
    /// How many times each number arrived (as long as the highest number that did).
    counts: Vec<u32>,
    /// How each number first arrived.
    first: Vec<Delivery>,
    /// The first few numbers that arrived again.
    repeats: Vec<Repeat>,
    /// Copies that came again with the first's message id, DUP set, on a later connection.
    resent_after_release: u32,
    /// How many numbers arrived at least once.
    distinct: usize,
    /// Whether the end marker arrived.
    ended: bool,
    /// Payloads that are neither a number nor the end marker, and how many times each came.
    others: BTreeMap<Vec<u8>, u32>,
}

impl Tally {
    fn add(&mut self, (payload, delivery): (Vec<u8>, Delivery)) {
        if payload == END {
            self.ended = true;
            return;
        }
        match std::str::from_utf8(&payload)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            Some(i) => {
                if i >= self.counts.len() {
                    self.counts.resize(i + 1, 0);
                    self.first.resize(i + 1, Delivery::default());
                }
                self.counts[i] += 1;
                if self.counts[i] == 1 {
                    self.distinct += 1;
                    self.first[i] = delivery;
                } else {
                    let first = self.first[i];
                    if delivery.mid == first.mid
                        && delivery.dup
                        && delivery.connection > first.connection
                    {
                        self.resent_after_release += 1;
                    }
                }
                if self.counts[i] > 1 && self.repeats.len() < 20 {
                    self.repeats.push(Repeat {
                        number: i,
                        first: self.first[i],
                        again: delivery,
                        published_mid: None,
                    });
                }
            }
            None => *self.others.entry(payload).or_default() += 1,
        }
    }

    /// Counts what is waiting in `rx`, without waiting.
    fn add_all(&mut self, rx: &Receiver<(Vec<u8>, Delivery)>) {
        for p in rx.try_iter() {
            self.add(p);
        }
    }
}

/// Waits until `info` (message `i`) is published, failing with `what()` at `deadline`.
fn wait_published(info: &MessageInfo, i: usize, deadline: Instant, what: impl FnOnce() -> String) {
    let left = deadline.saturating_duration_since(Instant::now());
    match info.wait_for_publish(Some(left)) {
        Ok(true) => {}
        Ok(false) => panic!("{}", what()),
        Err(e) => panic!("message {i}: {e}"),
    }
}

/// Prints a run's figures (shown by `cargo test -- --nocapture`, and with a failure).
fn report(what: &str, o: &Outcome) {
    let (_, extra) = o.duplicates();
    let resent = match o.resent_after_release() {
        0 => String::new(),
        r => format!(" ({r} of them resent by mosquitto after PUBREL)"),
    };
    println!(
        "{what}: {} messages in {:.2?}; {} connections relayed, {} cut in {} cuts; {extra} \
         duplicates{resent}",
        o.counts.len(),
        o.elapsed,
        o.relay.connections,
        o.relay.cut,
        o.relay.cuts,
    );
}

fn assert_none_lost(what: &str, o: &Outcome) {
    let (missing, count) = o.missing();
    assert!(
        count == 0,
        "{what}: {count} of {} messages lost, the first {missing:?}",
        o.counts.len()
    );
}

fn assert_none_duplicated(what: &str, o: &Outcome) {
    let (dups, extra) = o.duplicates();
    assert!(
        extra == 0,
        "{what}: {extra} duplicates; (number, times) {dups:?}; how they came: {:#?}",
        o.repeats
    );
}

/// QoS 1 through a connection cut every 50–250 ms: every message arrives (some more than once: a
/// message whose PUBACK the cut lost is resent, and the broker takes the resend as a new message).
#[test]
fn qos1_publisher_cut_loses_nothing() {
    let Some(o) = run(1, Cut::Publisher) else {
        return;
    };
    report("qos 1, publisher cut", &o);
    assert_none_lost("qos 1, publisher cut", &o);
    assert!(o.relay.cuts > 0, "no connection was cut: {:?}", o.relay);
}

/// QoS 2 through a connection cut every 50–250 ms: every message arrives exactly once (the resent
/// PUBLISH, or PUBREL, continues the broker's flow for that message id).
#[test]
fn qos2_publisher_cut_loses_and_duplicates_nothing() {
    let Some(o) = run(2, Cut::Publisher) else {
        return;
    };
    report("qos 2, publisher cut", &o);
    assert_none_lost("qos 2, publisher cut", &o);
    assert_none_duplicated("qos 2, publisher cut", &o);
    assert!(o.relay.cuts > 0, "no connection was cut: {:?}", o.relay);
}

/// QoS 2 with both the publisher's and the subscriber's connections cut: every message arrives, and
/// exactly once but for mosquitto's own resends (see [`mosquitto_resends_a_released_qos2_publish`]).
/// On the subscriber's side this rests on the messages awaiting PUBREL being kept across its
/// reconnects (a resent PUBLISH is answered with PUBREC and not delivered; a PUBREL delivers it).
///
/// mosquitto 2.0 sends a message's PUBLISH again, after its PUBREL, when two of the subscriber's
/// connections in a row end before the PUBREL is resent on them: the client, which released the
/// message and forgot its id as MQTT has it do, takes it for a new one. It happened in about one run
/// of a million messages in two here, not at CI's size; such copies (same message id, DUP set, a
/// later connection) are counted and reported, any other duplicate fails the test.
#[test]
fn qos2_both_cut_loses_and_duplicates_nothing() {
    let Some(o) = run(2, Cut::Both) else {
        return;
    };
    report("qos 2, both cut", &o);
    assert_none_lost("qos 2, both cut", &o);
    let (dups, extra) = o.duplicates();
    assert!(
        extra == o.resent_after_release(),
        "qos 2, both cut: {extra} duplicates, {} of them mosquitto's resends of a released PUBLISH; \
         (number, times) {dups:?}; how they came: {:#?}",
        o.resent_after_release(),
        o.repeats
    );
    assert!(o.relay.cuts > 0, "no connection was cut: {:?}", o.relay);
}

/// The tally tells mosquitto's resends after PUBREL (the first copy's id, DUP set, a later connection)
/// from other copies, which fail the both-cut test.
#[test]
fn tally_tells_a_resend_after_release_from_other_copies() {
    let mut tally = Tally::default();
    let at = |mid, dup, connection| Delivery {
        mid,
        dup,
        connection,
    };
    let number = |i: usize| i.to_string().into_bytes();
    tally.add((number(5), at(7, false, 1)));
    tally.add((number(5), at(7, true, 3))); // mosquitto's resend
    tally.add((number(6), at(8, false, 1)));
    tally.add((number(6), at(9, false, 2))); // a new message: another id, no DUP
    tally.add((number(7), at(10, true, 2)));
    tally.add((number(7), at(10, true, 2))); // the same connection
    tally.add((END.to_vec(), at(11, false, 2)));
    assert_eq!(tally.counts, [0, 0, 0, 0, 0, 2, 2, 2]);
    assert_eq!((tally.distinct, tally.ended), (3, true));
    assert_eq!(tally.resent_after_release, 1);
    assert_eq!(tally.repeats.len(), 3);
}

// ---- the broker's part ----

/// A raw MQTT 3.1.1 CONNECT: persistent session (clean session 0), keepalive 60.
fn raw_connect(id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 60];
    body.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut p = vec![0x10, u8::try_from(body.len()).unwrap()];
    p.extend_from_slice(&body);
    p
}

/// Reads one packet, waiting at most [`common::WAIT`]: its first byte and its body (the length left out).
fn read_packet(s: &mut TcpStream) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(common::WAIT)).unwrap();
    let mut packet = vec![0u8; 1];
    s.read_exact(&mut packet).expect("reading a packet");
    let (mut len, mut mult) = (0usize, 1);
    loop {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("reading a packet's length");
        len += usize::from(b[0] & 0x7f) * mult;
        mult *= 128;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("reading a packet's body");
    packet.extend(body);
    packet
}

/// What [`qos2_both_cut_loses_and_duplicates_nothing`] allows for, step by step on raw sockets: a
/// subscriber receives a QoS 2 PUBLISH, sends PUBREC, receives PUBREL and goes away before its
/// PUBCOMP; a second connection sends CONNECT and closes at once (as a cut right after it does, before
/// mosquitto can write its answer); a third connects. MQTT has the broker resend the PUBREL
/// ([MQTT-4.3.3-1]: never the PUBLISH once PUBREL is sent). mosquitto 2.0.11 resends the PUBLISH,
/// with DUP: its reconnect turns a message waiting for PUBCOMP into one to resend PUBREL, and, at the
/// next reconnect, one still waiting to resend PUBREL into one to resend PUBLISH. The test passes
/// either way and prints which it saw, so that a mosquitto that answers with PUBREL shows.
#[test]
fn mosquitto_resends_a_released_qos2_publish() {
    use std::io::Write;
    let _wd = watchdog(common::TEST_LIMIT);
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let id = client_id("raw");
    let topic = "faults/released";
    let mut s = TcpStream::connect(broker.addr()).expect("connecting");
    s.write_all(&raw_connect(&id)).unwrap();
    assert_eq!(read_packet(&mut s), [0x20, 0, 0], "CONNACK");
    let mut subscribe = vec![0x82, 0, 0, 1];
    subscribe.extend_from_slice(&u16::try_from(topic.len()).unwrap().to_be_bytes());
    subscribe.extend_from_slice(topic.as_bytes());
    subscribe.push(2);
    subscribe[1] = u8::try_from(subscribe.len() - 2).unwrap();
    s.write_all(&subscribe).unwrap();
    assert_eq!(
        read_packet(&mut s),
        [0x90, 0, 1, 2],
        "SUBACK granting QoS 2"
    );

    let publisher = Live::connect(Client::new(&client_id("pub")), broker.port);
    let info = publisher.publish(topic, "x", 2, false).expect("publish");
    assert!(
        info.wait_for_publish(Some(common::WAIT)).unwrap(),
        "published"
    );
    let publish = read_packet(&mut s);
    assert_eq!(publish[0], 0x34, "PUBLISH, QoS 2, no DUP: {publish:x?}");
    let mid = [publish[publish.len() - 3], publish[publish.len() - 2]];
    s.write_all(&[0x50, 2, mid[0], mid[1]]).unwrap(); // PUBREC
    assert_eq!(read_packet(&mut s), [0x62, mid[0], mid[1]], "PUBREL");
    drop(s); // no PUBCOMP

    let mut s = TcpStream::connect(broker.addr()).expect("connecting");
    s.write_all(&raw_connect(&id)).unwrap();
    let _ = s.shutdown(Shutdown::Both);
    drop(s);
    // mosquitto has handled the second connection once it logs its end (the third's CONNECT must not
    // overtake it); it signals nothing else a test could wait on.
    let ended = format!("Client {id} "); // "... closed its connection." or "... disconnected: ..."
    let deadline = Instant::now() + common::WAIT;
    while broker.log().matches(&ended).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not log the end of the second connection:\n{}",
            broker.log()
        );
        thread::sleep(Duration::from_millis(10)); // polling the log, as Mosquitto::wait_for_log does
    }

    let mut s = TcpStream::connect(broker.addr()).expect("connecting");
    s.write_all(&raw_connect(&id)).unwrap();
    assert_eq!(
        read_packet(&mut s),
        [0x20, 1, 0],
        "CONNACK, session present"
    );
    let next = read_packet(&mut s);
    match next[0] {
        0x62 => println!("mosquitto resent the PUBREL, as MQTT has it do"),
        0x3c => {
            assert_eq!(
                next,
                [&[0x3c][..], &publish[1..]].concat(),
                "the same PUBLISH"
            );
            println!("mosquitto resent the PUBLISH (DUP set) after its PUBREL, as 2.0.11 does");
        }
        _ => panic!("unexpected packet {next:x?}"),
    }
    publisher.stop().unwrap();
}
