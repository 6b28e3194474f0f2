//! Persistence (issue #18, scope 2; docs/reliability.md, "Persistence").
//!
//! - Crashes: a child process (this test binary again, with `PAHOISH_PERSIST_CHILD` set) queues
//!   numbered QoS 1 or QoS 2 messages with a `FileStore`, connects and sends them; the parent kills
//!   it with SIGKILL at random points, `PAHOISH_PERSIST_KILLS` times (default 5), and then lets one
//!   more child, on the same store, finish the job. A persistent subscriber counts: at QoS 1 every
//!   number arrives, at QoS 2 every number arrives exactly once. Against TestBroker, and against
//!   mosquitto when it is installed. `PAHOISH_PERSIST_N` sets the number of messages (default 2,000).
//! - Torn tails: the log cut at every byte offset of its last record opens with the records before it.
//! - Power loss: a store whose file keeps only what was synced (`FileStore::synced_len`) when the
//!   "power" goes, under `SyncPolicy::Always`, loses and duplicates nothing.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pahoish::testing::TestBroker;
use pahoish::{Client, FileStore, MemoryStore, Store, SyncPolicy};
use rand::Rng;

use common::{watchdog, Mosquitto, HOST};

const CHILD: &str = "PAHOISH_PERSIST_CHILD";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "pahoish-persist-{tag}-{}-{}",
        std::process::id(),
        common::unique()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn policy_from(name: &str) -> SyncPolicy {
    match name {
        "always" => SyncPolicy::Always,
        "never" => SyncPolicy::Never,
        _ => SyncPolicy::Interval(Duration::from_millis(20)),
    }
}

// ---- the child: queue, connect, send, exit when everything is acknowledged ----

/// Runs in the child process: `PAHOISH_PERSIST_CHILD=<dir>`, with the port, QoS, count and policy in
/// `PAHOISH_PERSIST_ARGS` (`port qos n policy`).
fn child_main(dir: &str) {
    let args = std::env::var("PAHOISH_PERSIST_ARGS").expect("PAHOISH_PERSIST_ARGS");
    let args: Vec<&str> = args.split(' ').collect();
    let port: u16 = args[0].parse().expect("port");
    let qos: i32 = args[1].parse().expect("qos");
    let n: usize = args[2].parse().expect("n");
    let policy = policy_from(args[3]);
    let dir = Path::new(dir);
    let client = Client::builder()
        .client_id(format!("persist-pub-q{qos}"))
        .clean_session(false)
        .persistence(FileStore::new(dir.join("store"), policy))
        .build()
        .expect("build on the store");
    // Paho's default of 20 in flight: with 50, mosquitto 2.0.11 closed the connection right after
    // the first PUBREC ("Bad socket read/write on client ...: Unknown error" in its log).
    if std::env::var_os("PAHOISH_PERSIST_LOG").is_some() {
        client.on_log(|_, _, _, line| eprintln!("child {}: {line}", std::process::id()));
    }
    let marker = dir.join("queued");
    if !marker.exists() {
        // First run: the whole job goes into the store (the offline queue) before anything is sent;
        // the marker says so (renamed into place: it exists whole or not at all).
        for i in 0..n {
            client
                .publish(&format!("persist/q{qos}"), i.to_string(), qos, false)
                .expect("publish");
        }
        let tmp = dir.join("queued.tmp");
        std::fs::write(&tmp, b"").expect("marker");
        std::fs::rename(&tmp, &marker).expect("marker");
    }
    // A line of its own: the test harness has printed "test child_entry ... " without a newline.
    println!("\nqueued {}", client.pending_messages());
    client.connect(HOST, port, 60).expect("connect");
    client.loop_start().expect("loop_start");
    let limit = Instant::now() + Duration::from_secs(60);
    while client.pending_messages() > 0 && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(client.pending_messages(), 0, "the job did not finish");
    // The end marker, after everything else was acknowledged: once the subscriber has it, it has
    // whatever the broker routed before.
    client
        .publish(&format!("persist/q{qos}"), "end", 1, false)
        .expect("end")
        .wait_for_publish(Some(Duration::from_secs(10)))
        .expect("end acknowledged");
    client.disconnect().expect("disconnect");
    client.loop_stop().expect("loop_stop");
    println!("\ndone");
}

/// A child on `dir`, and the receiver of its stdout lines.
fn spawn_child(
    dir: &Path,
    port: u16,
    qos: i32,
    n: usize,
    policy: &str,
) -> (Child, mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .env("PAHOISH_PERSIST_ARGS", format!("{port} {qos} {n} {policy}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the child");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even when nobody listens any more: a closed pipe would fail the child.
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The test the child runs (does nothing unless `PAHOISH_PERSIST_CHILD` is set).
#[test]
fn child_entry() {
    if let Ok(dir) = std::env::var(CHILD) {
        child_main(&dir);
    }
}

// ---- the parent ----

/// What the subscriber saw, per number.
type Counts = Arc<Mutex<(HashMap<usize, u32>, bool)>>;

fn counting_subscriber(port: u16, qos: i32) -> (Client<()>, Counts, mpsc::Receiver<()>) {
    let counts: Counts = Arc::default();
    let (end_tx, end_rx) = mpsc::channel();
    let sub = Client::builder()
        .client_id(common::client_id(&format!("persist-sub-q{qos}")))
        .clean_session(false)
        .build()
        .expect("subscriber");
    let seen = Arc::clone(&counts);
    let end_tx = Mutex::new(end_tx);
    sub.on_message(move |_, _, m| {
        let text = String::from_utf8_lossy(&m.payload).into_owned();
        let mut c = seen.lock().unwrap();
        if text == "end" {
            c.1 = true;
            let _ = end_tx.lock().unwrap().send(());
        } else if let Ok(i) = text.parse() {
            *c.0.entry(i).or_default() += 1;
        }
    });
    let (ready_tx, ready_rx) = mpsc::channel();
    let ready_tx = Mutex::new(ready_tx);
    sub.on_subscribe(move |_, _, _, _, _| {
        let _ = ready_tx.lock().unwrap().send(());
    });
    sub.connect(HOST, port, 60).expect("subscriber connect");
    sub.loop_start().expect("subscriber loop");
    sub.subscribe(format!("persist/q{qos}"), 2)
        .expect("subscribe");
    ready_rx
        .recv_timeout(common::WAIT)
        .expect("SUBACK for the subscriber");
    (sub, counts, end_rx)
}

/// Kills children on the store at random points, then lets the last one finish; checks the counts.
fn crash_and_finish(port: u16, qos: i32, policy: &str) {
    let n = env_usize("PAHOISH_PERSIST_N", 2000);
    let kills = env_usize("PAHOISH_PERSIST_KILLS", 5);
    let dir = temp_dir(&format!("q{qos}-{policy}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (sub, counts, end_rx) = counting_subscriber(port, qos);
    let mut rng = rand::thread_rng();
    let mut killed = 0;
    while killed < kills {
        let (mut child, lines) = spawn_child(&dir, port, qos, n, policy);
        // The test harness prints its own lines first.
        let line = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the child's \"queued\" line");
            if line.starts_with("queued") {
                break line;
            }
        };
        eprintln!("child {killed}: {line}");
        if line == "queued 0" {
            // Nothing left to crash in: the job is done.
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        killed += 1;
    }
    let (mut child, lines) = spawn_child(&dir, port, qos, n, policy);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = false;
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line == "done" => {
                done = true;
                break;
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = child.wait().expect("the last child");
    assert!(done && status.success(), "the last child failed: {status}");
    end_rx
        .recv_timeout(common::WAIT)
        .expect("the end marker at the subscriber");
    let (c, _) = &*counts.lock().unwrap();
    let missing: Vec<usize> = (0..n).filter(|i| !c.contains_key(i)).collect();
    let twice: Vec<(usize, u32)> = c
        .iter()
        .filter(|(_, &k)| k > 1)
        .map(|(&i, &k)| (i, k))
        .collect();
    eprintln!(
        "q{qos} {policy}: {n} messages, {killed} kills, {} missing, {} duplicated",
        missing.len(),
        twice.len()
    );
    assert!(missing.is_empty(), "lost at QoS {qos}: {missing:?}");
    if qos == 2 {
        assert!(twice.is_empty(), "duplicated at QoS 2: {twice:?}");
    }
    sub.disconnect().ok();
    sub.loop_stop().ok();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killed_publisher_continues_at_qos1_against_testbroker() {
    let _w = watchdog(Duration::from_secs(120));
    let broker = TestBroker::start().expect("broker");
    crash_and_finish(broker.port(), 1, "never");
}

#[test]
fn killed_publisher_continues_at_qos2_against_testbroker() {
    let _w = watchdog(Duration::from_secs(120));
    let broker = TestBroker::start().expect("broker");
    crash_and_finish(broker.port(), 2, "always");
}

#[test]
fn killed_publisher_continues_at_qos2_with_group_commit_against_testbroker() {
    let _w = watchdog(Duration::from_secs(120));
    let broker = TestBroker::start().expect("broker");
    crash_and_finish(broker.port(), 2, "interval");
}

#[test]
fn killed_publisher_continues_against_mosquitto() {
    let _w = watchdog(Duration::from_secs(120));
    let Some(broker) = Mosquitto::builder().persistent().start_or_skip() else {
        return;
    };
    crash_and_finish(broker.port, 1, "never");
    crash_and_finish(broker.port, 2, "always");
}

// ---- torn tails ----

#[test]
fn a_log_cut_anywhere_in_its_last_record_opens_with_the_records_before_it() {
    let dir = temp_dir("torn");
    let mut store = FileStore::new(&dir, SyncPolicy::Never);
    store.open("torn", "").unwrap();
    store.put("a", &[b"first"]).unwrap();
    store.put("b", &[b"second"]).unwrap();
    store.remove("a").unwrap();
    let path = store.path().to_path_buf();
    let before = std::fs::metadata(&path).unwrap().len();
    store
        .put("c", &[b"the last record, cut at every offset"])
        .unwrap();
    drop(store);
    let whole = std::fs::read(&path).unwrap();
    assert!(whole.len() as u64 > before);
    for cut in before..=whole.len() as u64 {
        std::fs::write(&path, &whole[..cut as usize]).unwrap();
        let mut store = FileStore::new(&dir, SyncPolicy::Never);
        store.open("torn", "").unwrap();
        let mut keys = store.keys().unwrap();
        keys.sort();
        let last_whole = cut == whole.len() as u64;
        let want: Vec<&str> = if last_whole {
            vec!["b", "c"]
        } else {
            vec!["b"]
        };
        assert_eq!(keys, want, "cut at {cut}");
        assert_eq!(store.get("b").unwrap().as_deref(), Some(&b"second"[..]));
        // The torn tail is gone from the file, and what is appended next reads back.
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            if last_whole { cut } else { before }
        );
        store.put("d", &[b"after"]).unwrap();
        drop(store);
        let mut store = FileStore::new(&dir, SyncPolicy::Never);
        store.open("torn", "").unwrap();
        assert_eq!(
            store.get("d").unwrap().as_deref(),
            Some(&b"after"[..]),
            "cut at {cut}"
        );
    }
    // A flipped bit in the last record fails its checksum: cut off the same way.
    let mut bad = whole.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0x10;
    std::fs::write(&path, &bad).unwrap();
    let mut store = FileStore::new(&dir, SyncPolicy::Never);
    store.open("torn", "").unwrap();
    assert_eq!(store.keys().unwrap(), vec!["b"]);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- power loss ----

/// When the power goes: at the `trigger`-th store call made while `armed`.
#[derive(Default)]
struct Ctl {
    armed: bool,
    calls: usize,
    trigger: usize,
    cut: bool,
}

/// A file store that models a power loss: from the triggering call on, nothing reaches the disk (the
/// log is cut to what a sync covered, as the machine would find it on its next boot) and nothing
/// reaches the network (the call never returns, so the client's loop never writes again).
struct PowerLoss {
    inner: Option<FileStore>,
    ctl: Arc<Mutex<Ctl>>,
}

impl PowerLoss {
    fn step(&mut self) {
        {
            let mut c = self.ctl.lock().unwrap();
            if !c.armed || c.cut {
                return;
            }
            c.calls += 1;
            if c.calls < c.trigger {
                return;
            }
            c.cut = true;
        }
        if let Some(store) = self.inner.take() {
            let path = store.path().to_path_buf();
            let synced = store.synced_len();
            // Closing releases the lock for the next client; what it flushes is cut off below.
            drop(store);
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(synced).unwrap();
        }
        loop {
            std::thread::park();
        }
    }

    fn inner(&mut self) -> &mut FileStore {
        self.inner.as_mut().expect("the power is on")
    }
}

impl Store for PowerLoss {
    fn open(&mut self, client_id: &str, server: &str) -> pahoish::Result<()> {
        self.inner().open(client_id, server)
    }
    fn put(&mut self, key: &str, parts: &[&[u8]]) -> pahoish::Result<()> {
        self.step();
        self.inner().put(key, parts)
    }
    fn get(&mut self, key: &str) -> pahoish::Result<Option<Vec<u8>>> {
        self.inner().get(key)
    }
    fn remove(&mut self, key: &str) -> pahoish::Result<()> {
        self.step();
        self.inner().remove(key)
    }
    fn keys(&mut self) -> pahoish::Result<Vec<String>> {
        self.inner().keys()
    }
    fn clear(&mut self) -> pahoish::Result<()> {
        self.step();
        self.inner().clear()
    }
    fn sync(&mut self) -> pahoish::Result<()> {
        self.step();
        self.inner().sync()
    }
}

/// `SyncPolicy::Always`; `PAHOISH_PERSIST_POWER_POLICY=never` shows the test failing without it.
fn power_policy() -> SyncPolicy {
    match std::env::var("PAHOISH_PERSIST_POWER_POLICY").as_deref() {
        Ok(name) => policy_from(name),
        Err(_) => SyncPolicy::Always,
    }
}

#[test]
fn with_sync_always_a_power_loss_loses_and_duplicates_nothing_at_qos2() {
    let _w = watchdog(Duration::from_secs(60));
    let broker = TestBroker::start().expect("broker");
    let port = broker.port();
    let dir = temp_dir("power");
    let (sub, counts, end_rx) = counting_subscriber(port, 2);
    let n = env_usize("PAHOISH_PERSIST_POWER_N", 300);
    let cuts = env_usize("PAHOISH_PERSIST_KILLS", 5);
    let mut rng = rand::thread_rng();
    let mut done = 0;
    for round in 0.. {
        assert!(round < 100, "the job never finished");
        let ctl = Arc::new(Mutex::new(Ctl::default()));
        let store = PowerLoss {
            inner: Some(FileStore::new(&dir, power_policy())),
            ctl: Arc::clone(&ctl),
        };
        let client = Client::builder()
            .client_id("persist-power")
            .clean_session(false)
            .persistence(store)
            .build()
            .unwrap();
        client.max_inflight_messages_set(10);
        if round == 0 {
            // The job goes into the store while offline.
            for i in 0..n {
                client
                    .publish("persist/q2", i.to_string(), 2, false)
                    .unwrap();
            }
        }
        let pending = client.pending_messages();
        client.connect(HOST, port, 60).unwrap();
        client.loop_start().unwrap();
        if pending == 0 {
            // The job is done: the end marker follows everything the broker routed.
            client
                .publish("persist/q2", "end", 1, false)
                .unwrap()
                .wait_for_publish(Some(common::WAIT))
                .unwrap();
            end_rx.recv_timeout(common::WAIT).expect("end marker");
            client.disconnect().ok();
            client.loop_stop().ok();
            break;
        }
        let (acked_tx, acked_rx) = mpsc::channel();
        let acked_tx = Mutex::new(acked_tx);
        client.on_publish(move |_, _, _, _, _| {
            let _ = acked_tx.lock().unwrap().send(());
        });
        if done < cuts {
            // The store's calls: a sync per write, a put per PUBREC, a remove per PUBCOMP. From here
            // on the test thread leaves the client alone until the power is cut or disarmed (the
            // call that cuts never returns).
            let mut c = ctl.lock().unwrap();
            c.armed = true;
            c.trigger = rng.gen_range(1..=pending);
        }
        // Wait for the cut, or for a quiet second (everything acknowledged).
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_secs(1) && !ctl.lock().unwrap().cut {
            if acked_rx.recv_timeout(Duration::from_millis(10)).is_ok() {
                last = Instant::now();
            }
        }
        let cut = {
            let mut c = ctl.lock().unwrap();
            c.armed = false;
            c.cut
        };
        if cut {
            // The machine is off: its loop thread is stuck in the store for good, its socket stays
            // open until the broker hands the session to the next client.
            done += 1;
            std::mem::forget(client);
            continue;
        }
        assert_eq!(client.pending_messages(), 0);
        client.disconnect().ok();
        client.loop_stop().ok();
    }
    let (c, _) = &*counts.lock().unwrap();
    let missing: Vec<usize> = (0..n).filter(|i| !c.contains_key(i)).collect();
    let twice: Vec<usize> = c.iter().filter(|(_, &k)| k > 1).map(|(&i, _)| i).collect();
    eprintln!(
        "power loss: {n} messages, {done} cuts, {} missing, {} duplicated",
        missing.len(),
        twice.len()
    );
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(twice.is_empty(), "duplicated: {twice:?}");
    sub.disconnect().ok();
    sub.loop_stop().ok();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- restore in one process ----

#[test]
fn a_client_built_on_a_store_takes_up_the_messages_and_subscriptions_left_in_it() {
    let broker = TestBroker::start().expect("broker");
    let dir = temp_dir("restore");
    {
        let client = Client::builder()
            .client_id("persist-restore")
            .clean_session(false)
            .persistence(FileStore::new(&dir, SyncPolicy::Never))
            .build()
            .unwrap();
        client.publish("t/1", "one", 1, false).unwrap();
        client.publish("t/2", "two", 2, true).unwrap();
        assert_eq!(client.pending_messages(), 2);
    }
    let client = Client::builder()
        .client_id("persist-restore")
        .clean_session(false)
        .persistence(FileStore::new(&dir, SyncPolicy::Never))
        .build()
        .unwrap();
    assert_eq!(client.pending_messages(), 2);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    client.on_publish(move |_, _, mid, _, _| {
        let _ = tx.lock().unwrap().send(mid);
    });
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    let mut mids = vec![
        rx.recv_timeout(common::WAIT).unwrap(),
        rx.recv_timeout(common::WAIT).unwrap(),
    ];
    mids.sort();
    // The packet ids they were given in the first process.
    assert_eq!(mids, vec![1, 2]);
    assert_eq!(client.pending_messages(), 0);
    assert!(broker
        .retained()
        .contains(&("t/2".into(), b"two".to_vec(), 2)));
    client.disconnect().ok();
    client.loop_stop().ok();
    drop(client);
    // Nothing is left for a third client.
    let mut store = FileStore::new(&dir, SyncPolicy::Never);
    store.open("persist-restore", "").unwrap();
    assert!(store.keys().unwrap().iter().all(|k| k == "meta"));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    // Subscriptions: a clean session forgets them at the broker, the store does not; the next client
    // subscribes again after its CONNACK.
    let dir = temp_dir("subs");
    {
        let client = Client::builder()
            .client_id("persist-subs")
            .persistence(FileStore::new(&dir, SyncPolicy::Never))
            .build()
            .unwrap();
        client.connect(HOST, broker.port(), 60).unwrap();
        client.loop_start().unwrap();
        assert!(broker.wait_connected("persist-subs", common::WAIT));
        common::subscribe_and_wait(&client, "s/#", 1);
        client.disconnect().ok();
        client.loop_stop().ok();
    }
    assert!(broker.wait_disconnected("persist-subs", common::WAIT));
    assert!(broker.subscriptions("persist-subs").is_empty());
    let client = Client::builder()
        .client_id("persist-subs")
        .persistence(FileStore::new(&dir, SyncPolicy::Never))
        .build()
        .unwrap();
    client.connect(HOST, broker.port(), 60).unwrap();
    client.loop_start().unwrap();
    let limit = Instant::now() + common::WAIT;
    while broker.subscriptions("persist-subs").is_empty() && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        broker.subscriptions("persist-subs"),
        vec![("s/#".into(), 1)]
    );
    client.disconnect().ok();
    client.loop_stop().ok();
    drop(client);
    let _ = std::fs::remove_dir_all(&dir);
    // A memory store works the same within one process (and keeps nothing across).
    let client = Client::builder()
        .persistence(MemoryStore::new())
        .build()
        .unwrap();
    client.publish("t", "x", 1, false).unwrap();
    assert_eq!(client.pending_messages(), 1);
}

#[test]
fn the_client_id_a_server_assigned_is_kept_for_the_next_process() {
    let broker = TestBroker::start().expect("broker");
    let dir = temp_dir("assigned");
    let build = || {
        Client::builder()
            .protocol(pahoish::MQTTv5)
            .persistence(FileStore::new(&dir, SyncPolicy::Never))
            .build()
            .unwrap()
    };
    let connect = |client: &Client| {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        client.on_connect(move |_, _, _, rc, _| {
            let _ = tx.lock().unwrap().send(rc.value());
        });
        client.connect(HOST, broker.port(), 60).unwrap();
        client.loop_start().unwrap();
        assert_eq!(rx.recv_timeout(common::WAIT).unwrap(), 0);
    };
    let client = build();
    connect(&client);
    let ids = broker.connected_clients();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let assigned = ids[0].clone();
    assert!(assigned.starts_with("auto-"), "{assigned}");
    client.disconnect().ok();
    client.loop_stop().ok();
    drop(client);
    assert!(broker.wait_disconnected(&assigned, common::WAIT));
    // The next process, built without an id on the same store, connects as the same client.
    let client = build();
    connect(&client);
    assert_eq!(broker.connected_clients(), vec![assigned]);
    client.disconnect().ok();
    client.loop_stop().ok();
    drop(client);
    let _ = std::fs::remove_dir_all(&dir);
}
