//! Shared helpers for the integration tests that need a real broker or run threads: mosquitto started on
//! free loopback ports (`mosquitto.rs`, the only place that starts it), a watchdog that fails a hung
//! test, bounded waits, and clients that stop their loop on drop.
//!
//! Each test file that uses this module (`mod common;`) compiles it separately and uses a different part
//! of it, so whatever one file leaves unused would warn there.
#![allow(dead_code)] // shared by several test crates, each using a subset

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use pahoish::{Client, Message, ReasonCode};

/// How long any single wait in these tests may take before the test fails. Generous: the operations
/// waited for take milliseconds on loopback, and a slow CI machine must not turn into a flaky test.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long a whole test may run before the watchdog declares it hung.
pub const TEST_LIMIT: Duration = Duration::from_secs(120);

/// The host every client connects to: loopback only.
pub const HOST: &str = "127.0.0.1";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number unique within this test process.
pub fn unique() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A client id unique across test processes and tests, so mosquitto's log tells the clients apart and a
/// persistent session never meets another test's.
pub fn client_id(tag: &str) -> String {
    format!("pahoish-{tag}-{}-{}", std::process::id(), unique())
}

// ---- mosquitto ----

mod mosquitto;

#[allow(unused_imports)] // as dead_code above: each test crate uses a subset
pub use mosquitto::{mosquitto_binary, mosquitto_or_skip, Mosquitto, MosquittoBuilder};

/// A port no one listens on right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

// ---- bounded waits ----

/// Fails the test (aborting the process, since a hung thread cannot be unwound) if it runs longer than
/// `limit`: a hang then fails instead of stalling the run. Disarmed when dropped.
pub struct Watchdog {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

pub fn watchdog(limit: Duration) -> Watchdog {
    let name = thread::current().name().unwrap_or("a test").to_owned();
    let (tx, rx) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("watchdog: {name} still running after {limit:?}: hung; aborting");
            std::process::abort();
        }
    });
    Watchdog {
        stop: Some(tx),
        thread: Some(thread),
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `f` on a thread of its own and returns its result, failing the test if it takes longer than
/// [`WAIT`]: for library calls that would otherwise hang the test (`loop_stop`, for instance).
pub fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    bounded_for(what, WAIT, f)
}

/// [`bounded`] with a limit of its own.
pub fn bounded_for<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            handle.join().expect("bounded thread");
            v
        }
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not return within {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
    }
}

/// Receives from `rx` within [`WAIT`], failing the test with `what` otherwise.
pub fn recv<T>(rx: &Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(WAIT) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => panic!("timed out after {WAIT:?} waiting for {what}"),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("waiting for {what}: the sender is gone (its callback was dropped?)")
        }
    }
}

// ---- clients ----

/// A client whose `loop_start` thread is running. [`Live::stop`] disconnects and stops the loop (and
/// reports how that went); dropping it without `stop` does the same on a best-effort basis, so a failed
/// assertion does not leave a loop thread reconnecting for the rest of the run.
pub struct Live<U: Send + 'static = ()> {
    client: Option<Client<U>>,
}

impl<U: Send + 'static> Live<U> {
    /// Connects `client` to 127.0.0.1:`port` (keepalive 60) and starts its loop.
    pub fn connect(client: Client<U>, port: u16) -> Live<U> {
        Live::connect_with(client, port, 60)
    }

    /// As [`Live::connect`], with a keepalive of its own.
    pub fn connect_with(client: Client<U>, port: u16, keepalive: u16) -> Live<U> {
        client
            .connect(HOST, port, keepalive)
            .unwrap_or_else(|e| panic!("connect to {HOST}:{port}: {e}"));
        client.loop_start().expect("loop_start");
        Live {
            client: Some(client),
        }
    }

    /// Wraps a client whose loop the caller started.
    pub fn adopt(client: Client<U>) -> Live<U> {
        Live {
            client: Some(client),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client<U> {
        self.client.as_ref().expect("client present until stop")
    }

    /// Disconnects (a missing connection is fine) and stops the loop, bounded by [`WAIT`]; returns what
    /// `loop_stop` returned.
    pub fn stop(mut self) -> pahoish::Result<()> {
        let client = self.client.take().expect("client present until stop");
        let what = format!("loop_stop of {client:?} (after disconnect)");
        let _ = client.disconnect();
        bounded(&what, move || client.loop_stop())
    }
}

impl<U: Send + 'static> std::ops::Deref for Live<U> {
    type Target = Client<U>;
    fn deref(&self) -> &Client<U> {
        self.client()
    }
}

impl<U: Send + 'static> Drop for Live<U> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // disconnect() alone ends the loop thread once the connection is closed (or at once while it
            // waits to reconnect); joining it is skipped while unwinding so a broken loop cannot turn a
            // failed assertion into a hang.
            let _ = client.disconnect();
            if !thread::panicking() {
                let (tx, rx) = mpsc::channel();
                let t = thread::spawn(move || {
                    let _ = tx.send(client.loop_stop());
                });
                if rx.recv_timeout(WAIT).is_ok() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// A subscriber: a connected client with its loop running, subscribed to `filter` at `qos` (the SUBACK
/// received and checked), whose messages arrive on the returned channel.
pub fn subscriber(port: u16, filter: &str, qos: i32) -> (Live, Receiver<Message>) {
    let client = Client::new(&client_id("sub"));
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_c, _u, msg| {
        let _ = tx.send(msg.clone());
    });
    let live = Live::connect(client, port);
    subscribe_and_wait(&live, filter, qos);
    (live, rx)
}

/// Subscribes and waits for the SUBACK (via `on_subscribe`, which this replaces), checking the broker
/// granted the subscription. The client's `on_subscribe` is left unset afterwards.
pub fn subscribe_and_wait<U: Send + 'static>(client: &Client<U>, filter: &str, qos: i32) {
    let (tx, rx) = mpsc::channel();
    client.on_subscribe(move |_c, _u, mid, codes: &[ReasonCode], _p| {
        let _ = tx.send((mid, codes.to_vec()));
    });
    let mid = client
        .subscribe(filter, qos)
        .unwrap_or_else(|e| panic!("subscribe {filter:?}: {e}"));
    let (got_mid, codes) = recv(&rx, &format!("SUBACK for {filter:?}"));
    assert_eq!(got_mid, mid, "SUBACK for another SUBSCRIBE");
    assert_eq!(codes.len(), 1, "one code per filter: {codes:?}");
    assert!(!codes[0].is_failure(), "subscription refused: {codes:?}");
    assert_eq!(
        codes[0].value(),
        u8::try_from(qos).unwrap(),
        "granted QoS {codes:?}"
    );
    // Leave no sender behind whose receiver is gone.
    client.on_subscribe(|_c, _u, _m, _codes, _p| {});
}

/// A publisher: a connected client with its loop running.
pub fn publisher(port: u16) -> Live {
    Live::connect(Client::new(&client_id("pub")), port)
}

/// Builds a raw MQTT 3.1.1 CONNECT packet (clean session, keepalive 60) with a will, for tests that need a
/// connection they can cut without DISCONNECT.
pub fn raw_connect_with_will(
    client_id: &str,
    will_topic: &str,
    will_payload: &[u8],
    will_qos: u8,
    will_retain: bool,
) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
        out.extend_from_slice(s);
    }
    let mut body = Vec::new();
    string(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    let flags = 0x02 // clean session
        | 0x04 // will flag
        | (will_qos << 3)
        | if will_retain { 0x20 } else { 0 };
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes()); // keepalive
    string(&mut body, client_id.as_bytes());
    string(&mut body, will_topic.as_bytes());
    string(&mut body, will_payload);
    let mut packet = vec![0x10];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    packet
}

/// Reads one CONNACK from a raw connection (bounded by [`WAIT`]) and checks it accepted the connection.
pub fn expect_raw_connack(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("reading CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
}

/// Reads until the peer closes the connection (bounded by [`WAIT`]).
pub fn read_until_eof(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the broker closes the connection");
}
