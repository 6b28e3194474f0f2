//! The threads of a [`TestBroker`](super::TestBroker) and what they share: one accept thread, one timer
//! thread (MQTT 5's session expiry, will delay and message expiry), and per client connection a reader
//! and a writer, around the broker state behind one lock.
//!
//! The reader thread owns its connection: it reads, hands each whole packet to
//! [`BrokerState::handle`] under the lock, enforces keepalive, and ends the connection. The writer is fed
//! by a channel, so that routing a message to a slow subscriber never blocks the broker. Reads use the
//! socket read timeout, set to what is left of the keepalive deadline, so nothing polls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::protocol::{Flow, ReaderState};
use super::state::{BrokerState, Conn, End};
use crate::packet::{self, DecodeError, Disconnect, Packet, Protocol, MAX_REMAINING_LENGTH};

/// The largest CONNECT taken (or the maximum packet size, when smaller), checked from its fixed header:
/// every field of a CONNECT but MQTT 5's properties is at most 65,535 bytes, so a real one is far
/// smaller, and a client that has not logged in cannot make the broker buffer more.
const CONNECT_MAX: usize = 1024 * 1024;
/// How long a connection the broker ends waits for the client's end of stream before it is closed, so
/// that bytes the client sent late do not turn the close into a reset that could destroy the last packet
/// sent (a refusing CONNACK, say) before the client reads it.
const LINGER: Duration = Duration::from_secs(1);
/// How often a reader that stopped reading (its client's backlog over the bound) looks again.
const BACKLOG_RECHECK: Duration = Duration::from_millis(5);
/// How many bytes one socket read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// What the broker's threads share: the state behind its one lock, and what they need without the lock.
pub(super) struct BrokerShared {
    pub(super) state: Mutex<BrokerState>,
    /// Notified after every change of `state`.
    pub(super) changed: Condvar,
    /// Set (after [`BrokerState::stopping`]) when the broker stops, for the acceptor, which holds no
    /// lock.
    pub(super) stopping: AtomicBool,
    /// The connection threads, joined when the broker stops.
    pub(super) threads: Mutex<Vec<JoinHandle<()>>>,
    pub(super) port: u16,
}

impl BrokerShared {
    pub(super) fn lock(&self) -> MutexGuard<'_, BrokerState> {
        // A panic while the lock was held (a bug) must not turn every later call into a panic too.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state, then wakes everyone waiting for a change.
    pub(super) fn update<T>(&self, f: impl FnOnce(&mut BrokerState) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.notify_all();
        out
    }

    /// Waits until `check` returns something, at most `timeout`.
    pub(super) fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&BrokerState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.lock();
        loop {
            if let Some(found) = check(&st) {
                return Some(found);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Blocks while the broker is paused; returns the guard, and whether the broker is stopping.
    fn unpaused(&self) -> (MutexGuard<'_, BrokerState>, bool) {
        let mut st = self.lock();
        while st.paused && !st.stopping {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let stopping = st.stopping;
        (st, stopping)
    }

    /// Registers an accepted connection and starts its reader thread.
    fn spawn_connection(self: &Arc<Self>, stream: TcpStream) {
        // Without this, Nagle's algorithm could hold back a small packet such as a PUBACK.
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&backlog);
        let id = {
            let mut st = self.lock();
            let Ok(handle) = stream.try_clone() else {
                return;
            };
            if st.stopping {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            st.next_conn += 1;
            let id = st.next_conn;
            st.wire.conns.insert(
                id,
                Conn {
                    stream: handle,
                    out: Some(tx),
                    client_id: None,
                    will: None,
                    protocol: Protocol::V311,
                    max_packet: None,
                    aliases_out: None,
                    backlog,
                },
            );
            id
        };
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("tb-{}-r{id}", self.port))
            .spawn(move || serve(shared, id, stream, rx, written));
        match spawned {
            Ok(handle) => {
                let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
                // Reap the threads of connections that ended, so a long test does not pile them up.
                let (done, running): (Vec<_>, Vec<_>) =
                    threads.drain(..).partition(|t| t.is_finished());
                *threads = running;
                threads.push(handle);
                drop(threads);
                for t in done {
                    let _ = t.join();
                }
            }
            Err(e) => {
                log::warn!("TestBroker: cannot start a connection thread: {e}");
                self.update(|st| {
                    if let Some(conn) = st.wire.conns.remove(&id) {
                        let _ = conn.stream.shutdown(Shutdown::Both);
                    }
                });
            }
        }
    }
}

/// Accepts connections until the broker stops.
pub(super) fn accept_loop(listener: TcpListener, shared: Arc<BrokerShared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => shared.spawn_connection(stream),
            // A connection the client abandoned before it was accepted: nothing to do.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // Out of file descriptors, say: back off a little rather than spin, and stay stoppable.
                log::warn!("TestBroker: accept failed: {e}");
                let st = shared.lock();
                if !st.stopping {
                    let _ = shared.changed.wait_timeout(st, Duration::from_millis(100));
                }
            }
        }
    }
}

/// A connection's reader thread: runs the connection, then ends it and joins its writer.
fn serve(
    shared: Arc<BrokerShared>,
    id: u64,
    stream: TcpStream,
    rx: Receiver<Vec<u8>>,
    backlog: Arc<AtomicUsize>,
) {
    let writer = stream.try_clone().and_then(|w| {
        thread::Builder::new()
            .name(format!("tb-{}-w{id}", shared.port))
            .spawn({
                let backlog = Arc::clone(&backlog);
                move || write_loop(w, rx, &backlog)
            })
    });
    let mut conn = ReaderState::new(id);
    let (end, why) = match &writer {
        Ok(_) => read_loop(&shared, &mut conn, &stream, &backlog),
        Err(e) => (End::Unclean, format!("cannot start the writer: {e}")),
    };
    shared.update(|st| st.close(id, end, &why));
    // The writer sends what was queued (a refusing CONNACK, say), then ends: its queue is closed.
    if let Ok(writer) = writer {
        let _ = writer.join();
    }
    let _ = stream.shutdown(Shutdown::Write);
    linger(&stream);
    shared.update(|st| st.wire.conns.remove(&id));
}

/// Writes what the broker queues for one connection, in order, batching what is waiting.
fn write_loop(mut stream: TcpStream, rx: Receiver<Vec<u8>>, backlog: &AtomicUsize) {
    while let Ok(mut bytes) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            bytes.extend_from_slice(&more);
        }
        let written = stream.write_all(&bytes);
        backlog.fetch_sub(bytes.len(), Ordering::SeqCst);
        if let Err(e) = written {
            log::debug!("TestBroker: write failed: {e}");
            // Ends the reader's read too, so the connection ends.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Reads and handles packets until the connection ends; returns how, and why.
fn read_loop(
    shared: &BrokerShared,
    conn: &mut ReaderState,
    mut stream: &TcpStream,
    backlog: &AtomicUsize,
) -> (End, String) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    // The time of the last whole packet: keepalive and the CONNECT timeout count packets, not bytes, so
    // a client trickling a byte now and then cannot keep a connection open for ever.
    let mut last_in = Instant::now();
    let (max_packet, max_queued, connect_timeout) = {
        let st = shared.lock();
        let max_packet = st
            .limits
            .maximum_packet_size
            .map_or(usize::MAX, |m| m as usize);
        (
            max_packet,
            st.limits.max_queued_bytes,
            st.limits.connect_timeout,
        )
    };
    loop {
        // Every whole packet buffered, in order; none while the client's backlog is over the bound (one
        // small SUBSCRIBE can be answered with megabytes of retained messages).
        while backlog.load(Ordering::SeqCst) <= max_queued {
            // A packet over the limit is refused from its fixed header, before its body is buffered
            // (the exact size, fixed header included, is checked once it is whole: `handle`).
            let max = if conn.client_id.is_none() {
                max_packet.min(CONNECT_MAX)
            } else {
                max_packet
            };
            let max_remaining = max.saturating_sub(2).min(MAX_REMAINING_LENGTH);
            let framed = if conn.protocol == Protocol::V5 {
                packet::frame_v5(&buf, max_remaining)
            } else {
                packet::frame(&buf, max_remaining)
            };
            let f = match framed {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e @ DecodeError::PacketTooLarge { .. }) => {
                    if let (Some(client_id), Protocol::V5) = (&conn.client_id, conn.protocol) {
                        let mut st = shared.lock();
                        let disconnect = Disconnect {
                            reason: 0x95,
                            ..Disconnect::default()
                        };
                        st.wire
                            .send(conn.id, client_id, Packet::Disconnect(disconnect));
                    }
                    return (End::Unclean, format!("DISCONNECT 0x95: {e}"));
                }
                Err(e) => return (End::Unclean, format!("invalid packet: {e}")),
            };
            let (mut st, stopping) = shared.unpaused();
            if stopping {
                return (End::Stopped, "the broker stopped".into());
            }
            let flow = st.handle(conn, f.header, &buf[f.header_len..f.len()]);
            drop(st);
            shared.changed.notify_all();
            buf.drain(..f.len());
            last_in = Instant::now();
            if let Flow::End(end, why) = flow {
                return (end, why);
            }
        }
        // Keepalive 0 turns the limit off (MQTT-3.1.2-24: 1.5 times the keepalive otherwise).
        let limit = match conn.keepalive {
            None => Some(connect_timeout),
            Some(0) => None,
            Some(k) => Some(Duration::from_millis(u64::from(k) * 1500)),
        };
        let timeout = limit.map(|l| (last_in + l).saturating_duration_since(Instant::now()));
        if timeout.is_some_and(|t| t.is_zero()) {
            let mut st = shared.lock();
            if !st.paused {
                let why = match conn.keepalive {
                    None => format!("no CONNECT within {connect_timeout:?}"),
                    Some(k) => format!("keepalive timeout (nothing received for 1.5 x {k} s)"),
                };
                // MQTT 5: DISCONNECT 0x8D, keep alive timeout.
                if let (Some(client_id), Protocol::V5) = (&conn.client_id, conn.protocol) {
                    let disconnect = Disconnect {
                        reason: 0x8D,
                        ..Disconnect::default()
                    };
                    st.wire
                        .send(conn.id, client_id, Packet::Disconnect(disconnect));
                }
                return (End::Unclean, why);
            }
            drop(st);
            // A paused broker enforces no keepalive: the period starts over when it resumes.
            if shared.unpaused().1 {
                return (End::Stopped, "the broker stopped".into());
            }
            last_in = Instant::now();
            continue;
        }
        if backlog.load(Ordering::SeqCst) > max_queued {
            // The client does not read what it is sent (its acknowledgements, PINGRESPs): nothing more
            // is read from it until that drains, so it cannot make the broker queue answers without
            // end. Its packets then stop arriving, and keepalive ends a connection that never reads.
            // (The writer has no way to wake this thread: a short sleep, only in this state.)
            if shared.stopping.load(Ordering::SeqCst) {
                return (End::Stopped, "the broker stopped".into());
            }
            thread::sleep(timeout.map_or(BACKLOG_RECHECK, |t| t.min(BACKLOG_RECHECK)));
            continue;
        }
        if let Err(e) = stream.set_read_timeout(timeout) {
            return (End::Unclean, format!("socket error: {e}"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let stopping = shared.stopping.load(Ordering::SeqCst);
                return if stopping {
                    (End::Stopped, "the broker stopped".into())
                } else {
                    (End::Unclean, "connection closed without DISCONNECT".into())
                };
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return (End::Unclean, format!("read failed: {e}")),
        }
    }
}

/// Waits (at most [`LINGER`]) for the client to close its side after the broker closed its own.
fn linger(mut stream: &TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The timer thread: ends expired sessions, publishes delayed wills and drops expired retained messages
/// when they are due, until the broker stops.
pub(super) fn timer_loop(shared: Arc<BrokerShared>) {
    let mut st = shared.lock();
    loop {
        if st.stopping {
            return;
        }
        let (changed, next) = st.tick(Instant::now());
        if changed {
            shared.changed.notify_all();
        }
        let wait = next.map_or(Duration::from_secs(3600), |at| {
            at.saturating_duration_since(Instant::now())
        });
        if wait.is_zero() {
            continue;
        }
        let wake = Arc::clone(&st.timer_wake);
        st = wake
            .wait_timeout(st, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}
