//! The engine: connections, the network loop and its I/O, between the pure session below and the
//! client facade above.
//!
//! Design:
//! - The engine knows nothing of callbacks, userdata or the user's connection settings. It asks its
//!   [`Handler`] (the client) where to connect and for the CONNECT packet, and reports what happens
//!   through it as [`Notice`]s, which the client turns into the user's callbacks. So the engine is
//!   compiled once, whatever the userdata type, and the layers import downwards only.
//! - `connection`: opening a connection (`net::open`, then CONNECT), closing one, failing one.
//! - `drive`: the loop drivers (`loop`, `loop_forever`, `loop_start`, the external-loop calls) and the
//!   reconnect backoff.
//! - `rotation`: which server of a `connect_urls` list the next connection goes to.
//! - `io`: reading and writing in batches, acknowledgement timing, the buffers.
//! - `dispatch`: the session's events turned into notices.
//! - `write_watch`: `on_socket_register_write`/`unregister_write` for an external event loop.
//!
//! Locks (see docs/architecture.md): `io` (the socket and its buffers) before `state` (the session
//! and the loop's runtime); neither is held while a notice runs the user's code, and only the engine
//! takes `io`.

mod backoff;
mod connection;
mod dispatch;
mod drive;
mod io;
mod persist;
mod rotation;
mod write_watch;

#[cfg(test)]
mod batching_tests;
#[cfg(all(test, feature = "testing"))]
mod held_bound_tests;
#[cfg(test)]
mod opening_tests;
#[cfg(test)]
mod output_bound_tests;

pub(crate) use io::{CLOSE_GRACE, OUTPUT_BOUND};

use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use backoff::Backoff;
use rotation::Rotation;

use crate::completion::PublishSignal;
use crate::error::{ErrorCode, Result};
use crate::message::Message;
use crate::net::{Target, Waker};
use crate::packet::Connect;
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::session::{ConnState, Session, SessionConfig};
use crate::store::{Store, StoreOp};
use crate::types::{ConnectFlags, DisconnectFlags, LogLevel};

use io::wants_write;
use io::Io;

/// The `read_coalescing_set` default: long enough for a batch to build up, short against a reply.
pub(crate) const READ_COALESCING: Duration = Duration::from_micros(50);

/// Where the next connection goes and how long each step of opening it may take.
pub(crate) struct Plan {
    pub target: Target,
    pub timeout: Duration,
    /// How many servers the client rotates through (`connect_urls`): 1 for a single one.
    pub servers: usize,
}

/// What happened, for the client to turn into the user's callbacks (each variant names the callback).
#[derive(Debug)]
pub(crate) enum Notice<'a> {
    PreConnect,
    ConnectFail,
    SocketOpen(RawFd),
    SocketClose(RawFd),
    /// Bytes wait to be written: an external loop should poll the socket for writing.
    RegisterWrite(RawFd),
    /// Nothing waits to be written any more (or the socket closes).
    UnregisterWrite(RawFd),
    Connect(ConnectFlags, ReasonCode, &'a Properties),
    /// The last field is Paho's VERSION1 `rc` for the same event (`MQTT_ERR_*`).
    Disconnect(DisconnectFlags, ReasonCode, &'a Properties, ErrorCode),
    Publish(u16, ReasonCode, &'a Properties),
    Subscribe(u16, &'a [ReasonCode], &'a Properties),
    Unsubscribe(u16, &'a [ReasonCode], &'a Properties),
    Message(&'a Message),
    /// MQTT 5 enhanced authentication (`on_auth`): a step with its reason (Continue authentication or
    /// Success) and the packet's properties; the handler puts the answer in the slot: the data for the
    /// next AUTH, or the reason to end the exchange with. Left `None`, no callback answered.
    Auth(
        ReasonCode,
        &'a Properties,
        &'a mut Option<std::result::Result<Vec<u8>, ReasonCode>>,
    ),
    Log(LogLevel, &'a str),
}

/// What became of a received message the engine handed to its [`Handler`].
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A callback saw it; the message comes back so that its payload buffer is reused. Acknowledged now.
    Seen(Message),
    /// Moved to the user (the `messages()` channel). Acknowledged now.
    Taken,
    /// Not delivered: the `messages()` channel is full and the loop is stopping (`loop_stop`,
    /// `disconnect`). It goes back to the session unacknowledged, and the next dispatch offers it first.
    Refused(Message),
}

/// Wakes a delivery that waits for room in the `messages()` channel. The client makes it (the engine
/// only calls it), so that a program that never calls `messages()` links no channel code.
pub(crate) trait DeliveryWaker: Send + Sync {
    /// Ends the wait, if one is under way, or the next one. One wake-up may stand for several.
    fn wake(&self);

    /// The client's own type, for the waiting side.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The engine's view of the client that owns it.
pub(crate) trait Handler {
    /// Runs what `notice` calls for (the user's callback). Called with no engine lock held.
    fn notify(&self, notice: Notice<'_>);

    /// Delivers a received message (to the callbacks, or the `messages()` channel). Called with no
    /// engine lock held.
    fn message(&self, msg: Message) -> Delivery {
        self.notify(Notice::Message(&msg));
        Delivery::Seen(msg)
    }

    /// A `loop_forever` (or the `loop_start` thread) has ended, after its last dispatch.
    fn loop_ended(&self) {}

    /// Where to connect: with a list of servers, the one at index `server` modulo the list's length,
    /// which becomes the current one. Fails when no host was given (`connect` or `connect_async`
    /// first).
    fn plan(&self, server: usize) -> Result<Plan>;

    /// Whether a host was given: `loop_start` before `connect_async` waits for one.
    fn has_target(&self) -> bool;

    /// The CONNECT packet for a connection opened now.
    fn connect_packet(&self) -> Connect;

    /// A log line (`on_log` and the `log` crate).
    fn log(&self, level: LogLevel, line: &str) {
        self.notify(Notice::Log(level, line));
    }
}

/// The session and the loop's runtime, behind the `state` lock.
pub(crate) struct State {
    pub(crate) session: Session,
    backoff: Backoff,
    /// Which server of the list the next connection goes to.
    rotation: Rotation,
    reconnect_on_failure: bool,
    /// `read_coalescing_set`: how long the loop waits after a turn that read a stream's worth.
    read_coalescing: Duration,
    /// `disconnect()` was called: the loop ends once the connection is closed.
    disconnect_requested: bool,
    /// A thread is opening a connection (`connection::Opening`): another one waits for it instead of
    /// opening a second connection beside it.
    opening: bool,
    /// Connections installed so far: a thread that waited for another's opening sees whether it
    /// produced one.
    opened: u64,
    /// The server's DISCONNECT (MQTT 5), from the session's event to the `on_disconnect` that reports
    /// it when the connection closes.
    server_disconnect: Option<(ReasonCode, Properties)>,
    /// When `disconnect()` queued DISCONNECT, or `loop_stop()` was called: if the connection is still
    /// open `CLOSE_GRACE` later (the broker does not read, so DISCONNECT cannot be written, or what
    /// `loop_stop` waits for cannot be sent), the loop stops waiting for it.
    ending_since: Option<std::time::Instant>,
    /// While more than this many bytes wait to be written, the loop reads nothing (`OUTPUT_BOUND`).
    output_bound: usize,
    /// The client's store (persistence), if it has one; `None` costs nothing.
    store: Option<Box<dyn Store>>,
    /// The session's store ops being handed to the store (kept for reuse).
    store_ops: Vec<StoreOp>,
    store_bytes: Vec<u8>,
    /// The first store failure since it was last logged.
    store_error: Option<String>,
}

impl State {
    /// A new client's: a new session, Paho's backoff limits (1 s doubling to 120 s), the default read
    /// coalescing.
    fn new(cfg: SessionConfig, reconnect_on_failure: bool) -> State {
        State {
            session: Session::new(cfg, std::time::Instant::now()),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(120)),
            rotation: Rotation::default(),
            reconnect_on_failure,
            read_coalescing: READ_COALESCING,
            disconnect_requested: false,
            opening: false,
            opened: 0,
            server_disconnect: None,
            ending_since: None,
            output_bound: OUTPUT_BOUND,
            store: None,
            store_ops: Vec::new(),
            store_bytes: Vec::new(),
            store_error: None,
        }
    }
}

/// The connection, the session and the loop of one client.
pub(crate) struct Engine {
    state: Mutex<State>,
    io: Mutex<Io>,
    /// What `MessageInfo::wait_for_publish` sleeps on, and whether a loop runs.
    pub(crate) signal: Arc<PublishSignal>,
    /// Created by the first loop that needs it; `None` inside if the OS refused the socket pair.
    waker: OnceLock<Option<Waker>>,
    /// Wakes the reconnect backoff wait and `loop_start`'s wait for a host (paired with `state`).
    cv: Condvar,
    /// The `loop_start` thread.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// `loop_stop()` was called.
    stop: AtomicBool,
    /// What `loop_stop` and `disconnect` wake (after setting `stop` or `disconnect_requested`) to end a
    /// delivery waiting for room in the `messages()` channel; see [`Engine::delivery_stopped`]. Made by
    /// the client's first `messages()`.
    delivery_waker: OnceLock<Box<dyn DeliveryWaker>>,
    /// A `loop_forever` (possibly the `loop_start` thread) is running.
    forever_running: AtomicBool,
    /// `on_socket_register_write` is set: report when writing starts and stops being wanted, and
    /// leave the writing to the external loop (see `write_watch`).
    watch_writes: AtomicBool,
    /// `RegisterWrite` was reported and `UnregisterWrite` not yet.
    write_registered: AtomicBool,
}

/// Locks, ignoring poisoning. Our own locks guard plain data a panic cannot leave half-updated in a way
/// that matters more than refusing service forever; a callback's own mutex is poisoned whenever that
/// callback panics, and the callback stays usable, as in Paho.
pub(crate) fn relock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    pub(crate) fn new(cfg: SessionConfig, reconnect_on_failure: bool) -> Engine {
        Engine {
            state: Mutex::new(State::new(cfg, reconnect_on_failure)),
            io: Mutex::new(Io::new()),
            signal: Arc::new(PublishSignal::default()),
            waker: OnceLock::new(),
            cv: Condvar::new(),
            thread: Mutex::new(None),
            stop: AtomicBool::new(false),
            delivery_waker: OnceLock::new(),
            forever_running: AtomicBool::new(false),
            watch_writes: AtomicBool::new(false),
            write_registered: AtomicBool::new(false),
        }
    }

    /// What a delivery waiting for room in the `messages()` channel also waits on: it is woken when
    /// `loop_stop` or `disconnect` is called. A wake-up may be stale (left by an earlier call): the
    /// waiter then checks [`delivery_stopped`](Engine::delivery_stopped) and goes on waiting.
    pub(crate) fn delivery_waker(&self) -> &OnceLock<Box<dyn DeliveryWaker>> {
        &self.delivery_waker
    }

    /// Whether a delivery waiting for room should give up: `loop_stop()` or `disconnect()` was called.
    pub(crate) fn delivery_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.state().disconnect_requested
    }

    /// Wakes a delivery waiting for room (after `stop` or `disconnect_requested` was set), if
    /// `messages()` was ever called.
    fn interrupt_delivery(&self) {
        if let Some(w) = self.delivery_waker.get() {
            w.wake();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }

    fn io(&self) -> MutexGuard<'_, Io> {
        relock(&self.io)
    }

    fn waker(&self) -> Option<&Waker> {
        self.waker.get().and_then(Option::as_ref)
    }

    /// Runs `f` on the session under the `state` lock: the one way the client reaches it.
    pub(crate) fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut st = self.state();
        let r = f(&mut st.session);
        // Offline, what the call stored (a message for the offline queue) waits for no write to be
        // synced before: the store syncs now, as its policy asks.
        let offline = st.session.state() != ConnState::Connected;
        st.persist(offline);
        r
    }

    /// Where the connection stands.
    pub(crate) fn conn_state(&self) -> ConnState {
        self.state().session.state()
    }

    /// The socket's file descriptor while a connection is open.
    pub(crate) fn socket(&self) -> Option<RawFd> {
        self.io().stream.as_ref().map(|s| s.raw_fd())
    }

    /// Whether bytes wait to be written on an open connection.
    pub(crate) fn want_write(&self) -> bool {
        let io = self.io();
        io.stream.is_some() && wants_write(&io, &self.state())
    }

    /// Sets the reconnect backoff (checked by the caller: `min <= max`).
    pub(crate) fn set_reconnect_delay(&self, min: Duration, max: Duration) {
        let mut st = self.state();
        st.backoff.min = min;
        st.backoff.max = max;
    }

    /// For the crate's tests: the output bound (`OUTPUT_BOUND`), and the bytes waiting to be written.
    #[cfg(test)]
    pub(crate) fn set_output_bound(&self, bound: usize) {
        self.state().output_bound = bound;
    }

    #[cfg(test)]
    pub(crate) fn unsent_bytes(&self) -> usize {
        let io = self.io();
        let st = self.state();
        io::unsent(&io, &st)
    }

    /// Sets `read_coalescing_set`'s wait (checked by the caller).
    pub(crate) fn set_read_coalescing(&self, wait: Duration) {
        self.state().read_coalescing = wait;
    }

    /// A host (or a list of servers) was given (`connect_async` and the like): a `disconnect()` before
    /// it no longer holds, the next connection goes to the first server, and a `loop_start` thread
    /// waiting for a host goes on.
    pub(crate) fn target_set(&self) {
        {
            let mut st = self.state();
            st.disconnect_requested = false;
            st.ending_since = None;
            st.rotation.restart();
        }
        self.cv.notify_all();
    }

    /// Back to a new client's state (`reinitialise`): closes any connection without a notice, discards
    /// every message held (their `MessageInfo`s say so) and starts a new session with `cfg`.
    pub(crate) fn reset(&self, cfg: SessionConfig, reconnect_on_failure: bool) {
        let old_stream = {
            let mut io = self.io();
            let stream = io.stream.take();
            io.reset(ErrorCode::NoConn);
            let mut st = self.state();
            st.session.connection_closed();
            st.session.discard_messages(ErrorCode::NoConn);
            *st = State::new(cfg, reconnect_on_failure);
            stream
        };
        drop(old_stream);
        self.signal.manual_loop.store(false, Ordering::SeqCst);
        self.signal.notify();
    }

    /// Whether `loop_forever` (or the `loop_start` thread) runs.
    pub(crate) fn forever_running(&self) -> bool {
        self.forever_running.load(Ordering::SeqCst)
    }
}

/// Marks a loop as running (for `wait_for_publish` and for publishers choosing between waking the loop
/// and writing themselves) until dropped, however the loop ends, panics included; waiters are woken then
/// so they notice. `loop_start` creates it before spawning its thread, so the loop counts as running the
/// moment `loop_start` returns.
struct LoopGuard {
    engine: Arc<Engine>,
    forever: bool,
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        let e = &self.engine;
        e.signal.loops_running.fetch_sub(1, Ordering::SeqCst);
        if self.forever {
            e.forever_running.store(false, Ordering::SeqCst);
        }
        e.signal.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_engine_has_pahos_backoff_and_no_loop() {
        let engine = Engine::new(SessionConfig::default(), true);
        {
            let st = engine.state();
            assert_eq!(
                (st.backoff.min, st.backoff.max, st.backoff.delay()),
                (Duration::from_secs(1), Duration::from_secs(120), None)
            );
            assert!(st.reconnect_on_failure && !st.disconnect_requested);
            assert_eq!(st.read_coalescing, READ_COALESCING);
        }
        assert!(!engine.forever_running() && engine.socket().is_none() && !engine.want_write());
        assert_eq!(engine.conn_state(), ConnState::Closed);
    }
}
