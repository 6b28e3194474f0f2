//! Connecting and the network loop: `connect`, `loop`, `loop_forever`, `loop_start`/`loop_stop`, and the
//! external-loop calls (`loop_read`, `loop_write`, `loop_misc`).
//!
//! One turn of the loop (`run_once`): poll the socket and the wake-up channel together (until the next
//! keepalive deadline at most, so an idle client sleeps), read everything available in large chunks and
//! feed every whole packet to the session, run the callbacks for what happened, check keepalive, then
//! write everything pending in one call and run the callbacks that writing completes (QoS 0
//! `on_publish`, `on_disconnect` after DISCONNECT). Callbacks run with no lock held but the userdata one,
//! and what they queue is written before the loop sleeps again. A turn that read packets ends by
//! yielding the core (the broker is likely about to answer; see `run_once`).

use std::io::{self, ErrorKind, Read, Write};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::callbacks::{
    in_callback_of, not_in_callback, panic_message, ConnectFlags, DisconnectFlags, LogLevel,
};
use crate::client::{Client, Io};
use crate::error::{Error, ErrorCode, Result};
use crate::net::{self, Waker};
use crate::options::{Seconds, Transport};
use crate::packet::{self, Packet, Publish, MAX_REMAINING_LENGTH};
use crate::reason::{Properties, ReasonCode};
use crate::session::{ConnState, Event};

/// The read buffer's starting size, and the room a read gets: a buffer with less than half of this free
/// after moving a partial packet to its front grows (doubling), so a packet larger than the buffer
/// is read in ever larger pieces.
const READ_CHUNK: usize = 16 * 1024;
/// After this much reading in one turn, let writes and callbacks happen before reading on (and after
/// `TURN_PACKETS` packets, whichever comes first). A larger budget saves no system call worth having:
/// a subscriber that has fallen behind needs one more `poll` per 16 KiB, against one `recv` per message
/// or two when it has not.
const READ_BUDGET: usize = 16 * 1024;
/// At most this many packets are decoded in one turn; whole packets beyond them stay in the read
/// buffer for the next turn, which does not wait in `poll` for them. The messages a turn decodes wait
/// in the event list until its callbacks run, so this bounds the memory they take whatever the packet
/// size: a 16 KiB read of 64-byte messages is ~190 of them, each with its event entry, topic and
/// payload allocations. 64 is also how many payload buffers the session keeps for reuse, so a stream
/// of small messages is decoded into reused buffers.
pub(crate) const TURN_PACKETS: usize = 64;
/// Buffers that grew past this for one large packet shrink back once empty. Large enough for a stream
/// of 1 MiB messages (the read buffer doubles to 2 MiB to hold one): shrinking after each would
/// allocate, zero, copy and fault in the buffer again for every message.
pub(crate) const BUFFER_KEEP: usize = 4 * 1024 * 1024;
/// A write buffer past `BUFFER_KEEP` shrinks back to what the last `SHRINK_AFTER` batches needed (at
/// least `OUT_RESERVE`), when that is less than half its capacity. The publisher's batches are what it
/// queued while the loop wrote the last one: with large messages, several MiB each time. Shrinking
/// after every such batch made each next one fault its buffer in again from the kernel (at 1 MiB QoS 0,
/// nine in ten of the process's page faults, a quarter of its CPU time). Shrinking to the start after
/// 8 batches no larger than `BUFFER_KEEP` did the same more slowly at QoS 2, where the batches are
/// 1–5 MiB (40 shrinks and regrowths in 500 messages, 40% of the page faults). A burst that is over
/// still gives its memory back.
pub(crate) const SHRINK_AFTER: usize = 8;

enum WriteOutcome {
    /// Everything pending was written.
    Flushed,
    /// The socket is full; the rest waits for it to become writable.
    Blocked,
    /// Everything was written and it ended with the DISCONNECT the user asked for.
    Disconnected,
}

/// A turn that read at most this many packets and wrote nothing acknowledges them at once (see
/// `settle_acks`).
const QUICKACK_PACKETS: usize = 2;
/// A turn that read more leaves the acknowledgement to the kernel, for at most this long.
const ACK_DELAY: Duration = Duration::from_millis(1);

/// A turn that read at least this many packets and emptied the socket is reading a stream: the loop
/// then waits a moment before it polls again (see `run_once`). A reply or a message now and then comes
/// one packet to a turn, so it never waits.
const COALESCE_PACKETS: usize = 2;
/// That moment, by default (`read_coalescing_set` changes it). On Linux the kernel's timer slack adds
/// up to 50 µs for an ordinary thread.
pub(crate) const READ_COALESCING: Duration = Duration::from_micros(50);

/// What a turn read, from `settle_acks`.
struct TurnRead {
    packets: usize,
    /// The read emptied the socket (it did not stop at its budget with more to come).
    drained: bool,
    /// Something is still to be written: the socket was full, or a callback published after the
    /// turn's write.
    unwritten: bool,
}

impl TurnRead {
    /// How long to wait before the next poll, given the `read_coalescing_set` value and the
    /// caller's timeout (`loop(0)` never waits); `None`: poll at once.
    fn coalesce_wait(&self, setting: Duration, timeout: Option<Duration>) -> Option<Duration> {
        let wait = timeout.map_or(setting, |t| t.min(setting));
        let stream = self.packets >= COALESCE_PACKETS && self.drained;
        (stream && !self.unwritten && !wait.is_zero()).then_some(wait)
    }
}

/// Marks a loop as running (for `wait_for_publish` and for publishers choosing between waking the loop
/// and writing themselves) until dropped, however the loop ends, panics included; waiters are woken then
/// so they notice. `loop_start` creates it before spawning its thread, so the loop counts as running the
/// moment `loop_start` returns.
struct LoopGuard<U> {
    client: Client<U>,
    forever: bool,
}

impl<U> Drop for LoopGuard<U> {
    fn drop(&mut self) {
        let inner = &self.client.inner;
        inner.signal.loops_running.fetch_sub(1, Ordering::SeqCst);
        if self.forever {
            inner.forever_running.store(false, Ordering::SeqCst);
        }
        inner.signal.notify();
    }
}

impl<U: Send + 'static> Client<U> {
    // ---- connecting ----

    /// Connects to the broker (Paho's `connect`): opens the TCP connection (blocking, at most
    /// `connect_timeout`), then queues CONNECT. `on_connect` runs from the loop when CONNACK arrives, so
    /// call `loop_forever`, `loop_start` or `loop` next.
    ///
    /// `keepalive` is in seconds (0 disables keepalive). Fails at once when the connection is refused or
    /// the host cannot be resolved, for an empty host or port 0.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_forever()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        not_in_callback(&self.inner.signal, "connect from a callback")?;
        self.set_target(host, port, keepalive)?;
        self.open_connection(false)?;
        self.kick();
        Ok(())
    }

    /// Records where to connect without connecting (Paho's `connect_async`): `loop_start` or
    /// `loop_forever` connects, and retries with backoff while the broker is unreachable.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect_async("localhost", 1883, 60)?;
    /// client.loop_start()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn connect_async(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        self.set_target(host, port, keepalive)?;
        self.inner.cv.notify_all();
        Ok(())
    }

    /// Connects to the broker a URL names (not in Paho; mosquitto_pub's `-L`):
    ///
    /// | URL | transport | default port |
    /// | --- | --- | --- |
    /// | `mqtt://[user[:pass]@]host[:port]` (or `tcp://`) | TCP | 1883 |
    /// | `mqtts://...` (or `ssl://`, `tls://`) | TCP with TLS | 8883 |
    /// | `ws://...[/path]` | websockets | 80 |
    /// | `wss://...[/path]` | websockets with TLS | 443 |
    /// | `unix:///path/to/socket` | Unix socket | - |
    ///
    /// The URL's user and password (percent-decoded) replace `username_pw_set`'s. A websocket URL's path
    /// and query replace `ws_set_options`'s path when there is more than `/`; an `mqtt://` URL's path is
    /// ignored. `mqtts://` and `wss://` use the TLS configured with `tls_set` or, if none is, the
    /// system's trusted roots. Host names are ASCII (write an internationalized one in its `xn--`
    /// form). Then connects as [`connect`](Client::connect) does.
    ///
    /// Fails for a URL that does not parse, an unknown scheme, a missing host, a plain scheme while TLS
    /// is configured (use `mqtts://`/`wss://`), and as `connect` fails.
    ///
    /// ```
    /// let client = pahoish::Client::new("");
    /// let e = client.connect_url("http://broker.example", 60).unwrap_err();
    /// assert!(e.to_string().contains("unknown scheme"));
    /// assert!(client.connect_url("mqtt://", 60).is_err());
    /// ```
    pub fn connect_url(&self, url: &str, keepalive: u16) -> Result<()> {
        not_in_callback(&self.inner.signal, "connect from a callback")?;
        self.set_url(url, keepalive)?;
        self.open_connection(false)?;
        self.kick();
        Ok(())
    }

    /// [`connect_url`](Client::connect_url) without connecting, as
    /// [`connect_async`](Client::connect_async): the loop connects.
    pub fn connect_url_async(&self, url: &str, keepalive: u16) -> Result<()> {
        self.set_url(url, keepalive)?;
        self.inner.cv.notify_all();
        Ok(())
    }

    fn set_url(&self, url: &str, keepalive: u16) -> Result<()> {
        let bad = |why: String| Error::invalid("url", format!("{url:?}: {why}"));
        let parsed = net::url::Url::parse(url).map_err(bad)?;
        let (transport, tls, default_port) = match parsed.scheme.as_str() {
            "mqtt" | "tcp" => (Transport::Tcp, false, 1883),
            "mqtts" | "ssl" | "tls" => (Transport::Tcp, true, 8883),
            "ws" => (Transport::Websockets, false, 80),
            "wss" => (Transport::Websockets, true, 443),
            "unix" => (Transport::Unix, false, 0),
            other => {
                return Err(bad(format!(
                    "unknown scheme {other:?} (use mqtt://, mqtts://, ws://, wss:// or unix://)"
                )))
            }
        };
        if transport == Transport::Websockets && !cfg!(feature = "websockets") {
            return Err(Error::NotSupported(
                "ws:// and wss://: this build lacks the `websockets` feature".into(),
            ));
        }
        let host = if transport == Transport::Unix {
            let path = net::url::percent_decode(&parsed.path);
            if path.is_empty() || path == "/" {
                return Err(bad("no socket path (unix:///path/to/socket)".into()));
            }
            path
        } else if parsed.host.is_empty() {
            return Err(bad("no host".into()));
        } else {
            parsed.host
        };
        let port = parsed.port.unwrap_or(default_port);
        if tls {
            if self.inner.state().tls.is_none() {
                self.tls_set_with(crate::TlsOptions::default())?;
            }
        } else if self.inner.state().tls.is_some() && transport != Transport::Unix {
            return Err(bad(format!(
                "a plain {}:// URL, but TLS is configured: use {}",
                parsed.scheme,
                if transport == Transport::Websockets {
                    "wss://"
                } else {
                    "mqtts://"
                }
            )));
        }
        if !parsed.user.is_empty() || parsed.password.is_some() {
            self.username_pw_set(&parsed.user, parsed.password.as_deref())?;
        }
        {
            let mut st = self.inner.state();
            st.transport = transport;
            st.ws = net::ws_upgrade(transport);
            let bare = parsed.path.is_empty() || parsed.path == "/";
            if transport == Transport::Websockets && !(bare && parsed.query.is_none()) {
                let mut path = if parsed.path.is_empty() {
                    "/".to_owned()
                } else {
                    parsed.path
                };
                if let Some(q) = parsed.query {
                    path.push('?');
                    path.push_str(&q);
                }
                st.ws_path = path;
            }
        }
        self.set_target(&host, port, keepalive)
    }

    /// Connects again with the host, port and keepalive of the last `connect`/`connect_async` (Paho's
    /// `reconnect`), closing the current connection first if there is one.
    pub fn reconnect(&self) -> Result<()> {
        not_in_callback(&self.inner.signal, "reconnect from a callback")?;
        {
            let mut st = self.inner.state();
            if st.host.is_none() {
                return Err(Error::invalid(
                    "host",
                    "reconnect() needs a host: call connect() or connect_async() first",
                ));
            }
            st.disconnect_requested = false;
        }
        self.open_connection(false)?;
        self.kick();
        Ok(())
    }

    /// Disconnects cleanly (Paho's `disconnect`): queues DISCONNECT; once it is written the socket
    /// closes and `on_disconnect` runs with `Normal disconnection`. `loop_forever` then returns, and a
    /// pending reconnect wait is cut short.
    ///
    /// Fails with [`Error::NoConn`] when there is no connection (the loop still stops).
    pub fn disconnect(&self) -> Result<()> {
        let r = {
            let mut st = self.inner.state();
            st.disconnect_requested = true;
            st.session.disconnect()
        };
        self.inner.cv.notify_all();
        if let Some(w) = self.inner.waker() {
            w.wake();
        }
        if r.is_ok() {
            self.kick();
        }
        r
    }

    fn set_target(&self, host: &str, port: u16, keepalive: u16) -> Result<()> {
        if host.is_empty() {
            return Err(Error::invalid("host", "must not be empty"));
        }
        let mut st = self.inner.state();
        if port == 0 && st.transport != Transport::Unix {
            return Err(Error::invalid("port", "must be 1..=65535"));
        }
        st.host = Some(host.to_owned());
        st.port = port;
        st.keepalive = keepalive;
        st.disconnect_requested = false;
        Ok(())
    }

    /// Opens a connection with the stored settings and queues CONNECT. Any current connection is closed
    /// first (with `on_socket_close`, without `on_disconnect`, as Paho's `reconnect`).
    ///
    /// Connecting blocks (up to `connect_timeout` per step) without holding a lock, so `disconnect()`,
    /// or `loop_stop()` for the loop's own reconnects (`from_loop`), can land meanwhile. Then the new
    /// connection is closed unused, before CONNECT: it was asked for by nobody any more.
    fn open_connection(&self, from_loop: bool) -> Result<()> {
        self.callbacks_changed(); // the application may have installed its logger since
        self.fire(|c| &mut c.on_pre_connect, |cb, client, ud| cb(client, ud));
        let (target, timeout) = {
            let st = self.inner.state();
            let target = st.target().ok_or_else(|| {
                Error::invalid("host", "no host: call connect() or connect_async() first")
            })?;
            (target, st.connect_timeout)
        };
        if let Some(old) = self.take_stream() {
            self.fire(
                |c| &mut c.on_socket_close,
                |cb, client, ud| cb(client, ud, old.raw_fd()),
            );
        }
        let stream = net::open(&target, timeout)?;
        let connect = {
            let st = self.inner.state();
            if st.disconnect_requested || (from_loop && self.inner.stop.load(Ordering::SeqCst)) {
                drop(st);
                drop(stream);
                self.log(
                    LogLevel::Debug,
                    &format!(
                        "Connected to {} after disconnect() or loop_stop(): closed unused",
                        target.describe()
                    ),
                );
                return Ok(());
            }
            st.connect_packet()
        };
        self.install_stream(stream, &connect);
        self.log(
            LogLevel::Debug,
            &format!("Connected to {}", target.describe()),
        );
        Ok(())
    }

    /// Hands a freshly connected stream to the loop and queues CONNECT on it.
    fn install_stream(&self, stream: Box<dyn net::NetStream>, connect: &packet::Connect) {
        let fd = stream.raw_fd();
        {
            let mut io = self.inner.io();
            reset_io(&mut io);
            io.stream = Some(stream);
            let mut st = self.inner.state();
            st.session.cfg.keepalive = Duration::from_secs(st.keepalive.into());
            st.session.connection_opened(connect, Instant::now());
        }
        self.inner.cv.notify_all();
        self.fire(
            |c| &mut c.on_socket_open,
            |cb, client, ud| cb(client, ud, fd),
        );
    }

    /// For the crate's own tests: connects through a stream of the test's making (for instance one that
    /// counts writes), as `connect` would through a socket it opened: CONNECT is queued, nothing written.
    #[cfg(test)]
    pub(crate) fn adopt_stream(&self, stream: Box<dyn net::NetStream>) {
        let connect = self.inner.state().connect_packet();
        self.install_stream(stream, &connect);
    }

    /// Takes the socket out (closing the session's connection state) without any callback.
    fn take_stream(&self) -> Option<Box<dyn net::NetStream>> {
        let mut io = self.inner.io();
        let stream = io.stream.take();
        reset_io(&mut io);
        self.inner.state().session.connection_closed();
        stream
    }

    /// Closes the connection and runs `on_socket_close` and `on_disconnect`; `reason` is `None` for the
    /// clean close after `disconnect()`. Does nothing if already closed.
    #[inline(never)]
    fn close_connection(&self, reason: Option<&Error>) {
        let Some(mut stream) = self.take_stream() else {
            return;
        };
        if reason.is_none() {
            stream.close();
        }
        self.inner.signal.notify();
        self.fire(
            |c| &mut c.on_socket_close,
            |cb, client, ud| cb(client, ud, stream.raw_fd()),
        );
        drop(stream);
        let rc = match reason {
            None => ReasonCode::disconnect(0),
            Some(Error::Keepalive) => ReasonCode::disconnect(0x8d),
            Some(_) => ReasonCode::disconnect(0x80),
        };
        let props = Properties::default();
        self.fire(
            |c| &mut c.on_disconnect,
            |cb, client, ud| cb(client, ud, DisconnectFlags::default(), rc, &props),
        );
        self.inner.cv.notify_all();
    }

    /// Logs why the connection failed, delivers what arrived before the failure (so nothing decoded is
    /// left to surface after a reconnect), closes the connection, and hands the error back.
    fn fail(&self, e: Error) -> Error {
        let level = if matches!(e, Error::Protocol(_)) {
            LogLevel::Err
        } else {
            LogLevel::Warning
        };
        self.log(level, &format!("Connection closed: {e}"));
        // A refusal among these changes nothing: the connection closes anyway.
        let _ = self.dispatch();
        self.close_connection(Some(&e));
        e
    }

    fn socket_open(&self) -> bool {
        self.inner.io().stream.is_some()
    }

    fn ensure_waker(&self) -> Result<&Waker> {
        self.inner
            .waker
            .get_or_init(|| Waker::new().ok())
            .as_ref()
            .ok_or_else(|| {
                Error::Io(io::Error::other(
                    "could not create the loop's wake-up socket pair",
                ))
            })
    }

    // ---- the loop ----

    /// Runs the network loop once (Paho's `loop`): waits up to `timeout` (seconds, or a `Duration`) for
    /// the socket or a wake-up, then reads, runs callbacks, checks keepalive and writes.
    ///
    /// For applications that drive the loop themselves; they also reconnect themselves. Fails with
    /// [`Error::NoConn`] without a connection, with the error that closed the connection if it closed
    /// (after `on_disconnect`), for a negative timeout, from a callback, and while `loop_forever` or
    /// `loop_start` runs.
    pub fn r#loop(&self, timeout: impl Seconds) -> Result<()> {
        let timeout = timeout.to_duration("timeout")?;
        self.manual_entry()?;
        self.ensure_waker()?;
        self.inner
            .signal
            .loops_running
            .fetch_add(1, Ordering::SeqCst);
        let _guard = LoopGuard {
            client: self.clone(),
            forever: false,
        };
        self.run_once(Some(timeout))
    }

    /// Common checks for the manual loop calls.
    fn manual_entry(&self) -> Result<()> {
        not_in_callback(
            &self.inner.signal,
            "the network loop cannot run inside its own callback",
        )?;
        if self.inner.forever_running.load(Ordering::SeqCst) {
            return Err(Error::LoopAlreadyRunning);
        }
        if !self.socket_open() {
            return Err(Error::NoConn);
        }
        self.inner.signal.manual_loop.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Runs the loop until `disconnect()` (Paho's `loop_forever()`), reconnecting with backoff when the
    /// connection is lost (see [`reconnect_delay_set`](Client::reconnect_delay_set)). If the very first
    /// connection attempt fails, returns that error; [`loop_forever_with`](Client::loop_forever_with)
    /// can retry it instead.
    ///
    /// Returns `Ok(())` after `disconnect()`; the error that ended the connection when the client was
    /// built with `reconnect_on_failure(false)`.
    pub fn loop_forever(&self) -> Result<()> {
        self.loop_forever_with(false)
    }

    /// `loop_forever(retry_first_connection=...)`: with `true`, a failed first connection attempt is
    /// retried with backoff like any later one.
    pub fn loop_forever_with(&self, retry_first_connection: bool) -> Result<()> {
        not_in_callback(&self.inner.signal, "loop_forever from a callback")?;
        self.inner.stop.store(false, Ordering::SeqCst);
        let guard = self.enter_forever()?;
        self.run_forever(retry_first_connection, false, guard)
    }

    /// Claims the right to run `loop_forever` (one at a time) and counts the loop as running.
    fn enter_forever(&self) -> Result<LoopGuard<U>> {
        // The waker exists before the loop counts as running, so publishers that see it running can
        // always wake it.
        self.ensure_waker()?;
        if self.inner.forever_running.swap(true, Ordering::SeqCst) {
            return Err(Error::LoopAlreadyRunning);
        }
        self.inner
            .signal
            .loops_running
            .fetch_add(1, Ordering::SeqCst);
        Ok(LoopGuard {
            client: self.clone(),
            forever: true,
        })
    }

    fn run_forever(
        &self,
        retry_first: bool,
        background: bool,
        _running: LoopGuard<U>,
    ) -> Result<()> {
        let mut first = true;
        loop {
            if self.should_exit() {
                return Ok(());
            }
            if !self.socket_open() {
                if self.inner.state().host.is_none() {
                    if !background {
                        return Err(Error::invalid(
                            "host",
                            "loop_forever needs a broker: call connect() or connect_async() first",
                        ));
                    }
                    // loop_start() before connect_async(): wait for a host.
                    let st = self.inner.state();
                    let _ = self.inner.cv.wait_timeout(st, Duration::from_secs(1));
                    continue;
                }
                if !first {
                    self.backoff_wait();
                    if self.should_exit() {
                        return Ok(());
                    }
                    if self.socket_open() {
                        continue; // connect() from another thread did it meanwhile
                    }
                }
                if let Err(e) = self.open_connection(true) {
                    let to = self.inner.state().target().map(|t| t.describe());
                    self.log(
                        LogLevel::Warning,
                        &format!("Connecting to {} failed: {e}", to.unwrap_or_default()),
                    );
                    self.fire(|c| &mut c.on_connect_fail, |cb, client, ud| cb(client, ud));
                    if (first && !retry_first) || !self.inner.state().reconnect_on_failure {
                        return Err(e);
                    }
                    first = false;
                    continue;
                }
            }
            first = false;
            if let Err(e) = self.run_once(None) {
                if self.should_exit() {
                    return Ok(());
                }
                if !self.socket_open() && !self.inner.state().reconnect_on_failure {
                    return Err(e);
                }
            }
        }
    }

    /// Whether `loop_forever` should return: after `disconnect()` once the connection is closed; after
    /// `loop_stop()` once nothing is left to send and no QoS 1/2 message awaits its acknowledgement (or
    /// the connection is gone), as in Paho.
    fn should_exit(&self) -> bool {
        let io = self.inner.io();
        let st = self.inner.state();
        let open = io.stream.is_some();
        if st.disconnect_requested && !open {
            return true;
        }
        if self.inner.stop.load(Ordering::SeqCst) {
            let idle = io.wpos >= io.wbuf.len()
                && st.session.out.is_empty()
                && st.session.pending_messages() == 0;
            return !open || idle;
        }
        false
    }

    /// Waits before a reconnect: `min_delay`, doubled per failed attempt up to `max_delay`; cut short by
    /// `disconnect()` and `loop_stop()`.
    fn backoff_wait(&self) {
        let delay = {
            let mut st = self.inner.state();
            let d = match st.reconnect_delay {
                None => st.reconnect_min,
                Some(d) => d
                    .checked_mul(2)
                    .unwrap_or(st.reconnect_max)
                    .min(st.reconnect_max),
            };
            st.reconnect_delay = Some(d);
            d
        };
        self.log(
            LogLevel::Debug,
            &format!("Reconnecting in {:.3} s", delay.as_secs_f64()),
        );
        let deadline = Instant::now() + delay;
        let mut st = self.inner.state();
        loop {
            if st.disconnect_requested
                || self.inner.stop.load(Ordering::SeqCst)
                || st.session.state() != ConnState::Closed
            {
                return;
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return;
            };
            st = self
                .inner
                .cv
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Starts the network loop on a thread of its own (Paho's `loop_start`), named
    /// `paho-mqtt-client-<client_id>`. It connects if `connect_async` was used, reconnects with backoff,
    /// and runs every callback. Fails if a loop is already running.
    ///
    /// ```no_run
    /// let client = pahoish::Client::new("");
    /// client.connect("localhost", 1883, 60)?;
    /// client.loop_start()?;
    /// client.publish("a/b", "hello", 1, false)?.wait_for_publish(None)?;
    /// client.disconnect()?;
    /// client.loop_stop()?;
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn loop_start(&self) -> Result<()> {
        let mut slot = self.inner.thread.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|h| !h.is_finished()) {
            return Err(Error::LoopAlreadyRunning);
        }
        // Counted as running from here, before the thread exists: a publish or wait_for_publish right
        // after loop_start() returns must see a running loop.
        let guard = self.enter_forever()?;
        if let Some(old) = slot.take() {
            // A thread that already ended (loop_stop from its own callback, or disconnect): reap it.
            let _ = old.join();
        }
        self.inner.stop.store(false, Ordering::SeqCst);
        let name = format!("paho-mqtt-client-{}", self.inner.state().client_id).replace('\0', "");
        let client = self.clone();
        let handle = thread::Builder::new().name(name).spawn(move || {
            if let Err(e) = client.run_forever(true, true, guard) {
                client.log(LogLevel::Err, &format!("Network loop thread ended: {e}"));
            }
        })?;
        *slot = Some(handle);
        Ok(())
    }

    /// Stops the `loop_start` thread and waits for it (Paho's `loop_stop`). As in Paho the thread first
    /// finishes sending what is queued and, while connected, waits for the acknowledgement of QoS 1/2
    /// messages in flight; call `disconnect()` first to stop at once. From a callback it does not wait
    /// (the thread ends when the callback returns).
    ///
    /// Fails if no `loop_start` thread runs, and with [`Error::CallbackPanicked`] if a callback panicked
    /// on it with `suppress_exceptions(false)`.
    pub fn loop_stop(&self) -> Result<()> {
        let handle = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(handle) = handle else {
            return Err(Error::invalid(
                "loop_stop",
                "no loop_start() thread is running",
            ));
        };
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.cv.notify_all();
        if let Some(w) = self.inner.waker() {
            w.wake();
        }
        if handle.thread().id() == thread::current().id() || in_callback_of(&self.inner.signal) {
            *self.inner.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
            return Ok(());
        }
        handle
            .join()
            .map_err(|p| Error::CallbackPanicked(panic_message(p.as_ref())))
    }

    /// Reads and handles what the socket has (for an external event loop, when the socket is readable).
    ///
    /// Over TLS and websockets it reads until the layers' buffers are empty too, since the socket's
    /// readiness cannot show what they hold. The callbacks run after every 64 packets, so a long burst
    /// does not pile up its messages first.
    pub fn loop_read(&self) -> Result<()> {
        self.manual_entry()?;
        loop {
            self.read_in().map_err(|e| self.fail(e))?;
            self.dispatch().map_err(|e| self.fail(e))?;
            if !self.inner.io().read_more {
                return Ok(());
            }
        }
    }

    /// Writes what is pending (for an external event loop, when the socket is writable and
    /// [`want_write`](Client::want_write) is true).
    pub fn loop_write(&self) -> Result<()> {
        self.manual_entry()?;
        self.write_and_settle()?;
        self.dispatch().map_err(|e| self.fail(e))?;
        self.settle_acks();
        Ok(())
    }

    /// If this turn read something and wrote nothing, see that it is acknowledged soon (see
    /// `net::quickack`). A turn that read a packet or two (a reply, a message now and then)
    /// acknowledges at once, so that a broker holding its next packet back for our ACK (Nagle) sends it
    /// now. A turn that read more is part of a stream: an ACK per turn would make the broker send a
    /// small segment per turn, and cost both sides a wake-up and a trip through the TCP stack each
    /// time, so the kernel goes back to delayed ACKs, which let the broker fill its segments; but no
    /// longer than `ACK_DELAY`, after which the next turn (the poll timeout sees to it) acknowledges.
    /// Returns what the turn read.
    fn settle_acks(&self) -> TurnRead {
        let mut guard = self.inner.io();
        let io = &mut *guard;
        let read = TurnRead {
            packets: std::mem::take(&mut io.packets_in),
            drained: io.drained,
            unwritten: wants_write(io, &self.inner.state()),
        };
        let packets = read.packets;
        let owed = std::mem::take(&mut io.ack_owed);
        if !owed && io.ack_due.is_none() {
            return read;
        }
        let Some(stream) = io.stream.as_ref() else {
            return read;
        };
        let now = Instant::now();
        let overdue = io.ack_due.is_some_and(|due| now >= due);
        if owed && packets > QUICKACK_PACKETS && !overdue {
            stream.ack_later();
            io.ack_due.get_or_insert(now + ACK_DELAY);
        } else if owed || overdue {
            stream.ack_now();
            io.ack_due = None;
        }
        read
    }

    /// Keepalive housekeeping (for an external event loop; call it at least once a second): queues
    /// PINGREQ when due and closes the connection when the broker stopped answering.
    pub fn loop_misc(&self) -> Result<()> {
        self.manual_entry()?;
        let r = self.inner.state().session.tick(Instant::now());
        r.map_err(|e| self.fail(e))?;
        self.dispatch().map_err(|e| self.fail(e))
    }

    /// One turn of the loop; see the module docs.
    fn run_once(&self, timeout: Option<Duration>) -> Result<()> {
        let waker = self.ensure_waker()?;
        let (fd, want_write, deadline, read_more, coalesce) = {
            let io = self.inner.io();
            let Some(stream) = io.stream.as_ref() else {
                return Err(Error::NoConn);
            };
            let st = self.inner.state();
            let want_write = wants_write(&io, &st);
            let deadline = if io.read_more {
                Some(Instant::now())
            } else {
                match (st.session.next_deadline(), io.ack_due) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            (
                stream.raw_fd(),
                want_write,
                deadline,
                io.read_more,
                st.read_coalescing,
            )
        };
        let mut wait = timeout;
        if let Some(d) = deadline {
            let until = d.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        let ready = net::poll(fd, want_write, waker.fd(), wait).map_err(|e| self.fail(e.into()))?;
        if ready.woken {
            waker.clear();
        }
        if ready.readable || read_more {
            self.read_in().map_err(|e| self.fail(e))?;
        }
        self.dispatch().map_err(|e| self.fail(e))?;
        let tick = self.inner.state().session.tick(Instant::now());
        tick.map_err(|e| self.fail(e))?;
        self.write_and_settle()?;
        self.dispatch().map_err(|e| self.fail(e))?;
        let read = self.settle_acks();
        if let Some(wait) = read.coalesce_wait(coalesce, timeout) {
            // Packets are streaming in and this turn caught up with them. Polling now would wake this
            // thread for the next packet or two, and each such turn costs a wake-up, a read and a
            // write for very little; on a machine whose cores the broker shares, it also takes CPU
            // the broker needs to send the rest. Waiting a moment lets a batch build up, which the
            // next turn reads, handles and acknowledges in one go. Never with bytes still to write
            // (see `coalesce_wait`); work another thread hands the loop (a publish, a disconnect)
            // ends the wait at once.
            net::wait_for_wake(waker.fd(), wait);
        } else if read.packets > 0 {
            // This turn read a packet or two, so the broker is likely busy with what we sent it and
            // about to answer. If it waits to run on this core, let it run now: its answer is then
            // here when we poll, instead of this thread going to sleep in poll and being woken for it
            // (a context switch each way). With nothing else to run, this returns at once. Never
            // after a turn that read nothing, so an idle client still sleeps in poll.
            thread::yield_now();
        }
        Ok(())
    }

    /// Writes what is pending; closes the connection if that fails or if it completed a DISCONNECT.
    fn write_and_settle(&self) -> Result<()> {
        match self.write_out() {
            Ok(WriteOutcome::Disconnected) => {
                self.close_connection(None);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Writes from a user thread when no loop runs (Paho writes from `publish` then too), and runs the
    /// callbacks that completes, until nothing new is queued or the socket is full.
    pub(crate) fn flush_inline(&self) {
        for _ in 0..64 {
            let blocked = match self.write_out() {
                Ok(WriteOutcome::Flushed) => false,
                Ok(WriteOutcome::Blocked) => true,
                Ok(WriteOutcome::Disconnected) => {
                    self.close_connection(None);
                    true
                }
                Err(e) => {
                    self.fail(e);
                    true
                }
            };
            if let Err(e) = self.dispatch() {
                self.fail(e);
            }
            if blocked || self.inner.state().session.out.is_empty() {
                break;
            }
        }
    }

    /// Reads what the socket has, in large chunks, and feeds every whole packet to the session, up
    /// to `TURN_PACKETS` of them; whole packets left from the last call go first.
    fn read_in(&self) -> Result<()> {
        let mut guard = self.inner.io();
        let io = &mut *guard;
        let mut total = 0;
        let mut decoded = 0;
        io.read_more = false;
        io.drained = false;
        if io.rstart < io.rend && self.handle_buffered(io, &mut decoded)? {
            io.read_more = true;
            return Ok(());
        }
        while total < READ_BUDGET {
            if io.stream.is_none() {
                return Ok(());
            }
            make_room(io);
            let Some(stream) = io.stream.as_mut() else {
                return Ok(());
            };
            let space = io.rbuf.len() - io.rend;
            match stream.read(&mut io.rbuf[io.rend..]) {
                Ok(0) => return Err(self.closed_early(&**stream, Error::ConnectionLost)),
                Ok(n) => {
                    io.rend += n;
                    total += n;
                    io.ack_owed = true;
                    let drains = stream.short_read_drains();
                    if self.handle_buffered(io, &mut decoded)? {
                        // The turn has its share: the rest is for the next one, at once.
                        io.read_more = true;
                        return Ok(());
                    }
                    if n < space && drains {
                        // The socket is drained: another read would only say WouldBlock. Whatever
                        // arrives next, poll (level-triggered) reports.
                        io.drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    io.drained = true;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Err(self.closed_early(&**stream, Error::ConnectionLost))
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(self.closed_early(&**stream, Error::Io(e)))
                }
                Err(e) => return Err(stream.error(e)),
            }
        }
        // The budget ran out. A layer that buffers may hold what poll cannot see: read on next turn.
        io.read_more = io.stream.as_ref().is_some_and(|s| !s.short_read_drains());
        Ok(())
    }

    /// The error for a connection the broker closed: if it did so before CONNACK and the stream's kind
    /// has a likely reason for that, a TLS error saying so.
    fn closed_early(&self, stream: &dyn net::NetStream, e: Error) -> Error {
        match stream.early_close_hint() {
            Some(hint) if self.inner.state().session.state() == ConnState::Connecting => {
                Error::Tls(format!(
                    "the broker closed the connection before CONNACK ({e}); {hint}"
                ))
            }
            _ => e,
        }
    }

    /// Decodes the whole packets in the read buffer and hands each to the session, until `decoded`
    /// (counted across the calls of one turn) reaches `TURN_PACKETS`. Returns whether it stopped
    /// there, with whole packets perhaps left in the buffer.
    fn handle_buffered(&self, io: &mut Io, decoded: &mut usize) -> Result<bool> {
        let now = Instant::now();
        let mut st = self.inner.state();
        let capped = loop {
            if *decoded >= TURN_PACKETS {
                break true;
            }
            let buf = &io.rbuf[io.rstart..io.rend];
            let Some(frame) = packet::frame(buf, MAX_REMAINING_LENGTH)? else {
                break false;
            };
            let body = &buf[frame.header_len..frame.len()];
            let packet = if frame.header >> 4 == Publish::PACKET_TYPE {
                let spare = st.session.spare_payload();
                Packet::Publish(Publish::decode_reusing(frame.header & 0x0f, body, spare)?)
            } else {
                Packet::decode_frame(frame.header, body)?
            };
            io.rstart += frame.len();
            io.packets_in += 1;
            *decoded += 1;
            st.session.handle(packet, now)?;
        };
        if io.rstart == io.rend {
            io.rstart = 0;
            io.rend = 0;
        }
        Ok(capped)
    }

    /// Writes the pending output: first what is left of the batch in hand, then the session's whole
    /// output buffer, taken in one piece (swapped, so neither side allocates).
    fn write_out(&self) -> Result<WriteOutcome> {
        let mut guard = self.inner.io();
        let io = &mut *guard;
        let mut wrote = false;
        let outcome = loop {
            let Some(stream) = io.stream.as_mut() else {
                break Ok(WriteOutcome::Flushed);
            };
            if io.wpos >= io.wbuf.len() {
                if !io.wbuf.is_empty() {
                    io.recent_batches[io.batches % SHRINK_AFTER] = io.wbuf.len();
                    io.batches = io.batches.wrapping_add(1);
                }
                io.wbuf.clear();
                io.wpos = 0;
                let mut st = self.inner.state();
                if wrote {
                    st.session.wrote(Instant::now());
                }
                for (mid, info) in io.wqos0.drain(..) {
                    info.set_published();
                    st.session.published(mid);
                }
                if io.wbuf.capacity() > BUFFER_KEEP {
                    let needed = io.recent_batches.iter().copied().max().unwrap_or(0);
                    let keep = needed.max(crate::session::OUT_RESERVE);
                    if keep < io.wbuf.capacity() / 2 {
                        io.wbuf.shrink_to(keep);
                    }
                }
                std::mem::swap(&mut io.wbuf, &mut st.session.out);
                std::mem::swap(&mut io.wqos0, &mut st.session.qos0_pending);
                if io.wbuf.is_empty() {
                    if stream.wants_flush() {
                        drop(st);
                        match stream.flush() {
                            Ok(()) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                break Ok(WriteOutcome::Blocked)
                            }
                            Err(e) => break Err(stream.error(e)),
                        }
                        st = self.inner.state();
                    }
                    let done =
                        st.session.is_disconnecting() && st.session.state() != ConnState::Closed;
                    break Ok(if done {
                        WriteOutcome::Disconnected
                    } else {
                        WriteOutcome::Flushed
                    });
                }
                wrote = false;
            }
            let len = io.wbuf.len() - io.wpos;
            match stream.write(&io.wbuf[io.wpos..]) {
                Ok(0) => break Err(Error::ConnectionLost),
                Ok(n) => {
                    io.wpos += n;
                    wrote = true;
                    io.ack_owed = false;
                    io.ack_due = None;
                    if n < len {
                        // The socket is full: another write would only say WouldBlock.
                        break Ok(WriteOutcome::Blocked);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(WriteOutcome::Blocked),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(stream.error(e)),
            }
        };
        if wrote {
            self.inner.state().session.wrote(Instant::now());
        }
        outcome
    }

    /// Runs the callbacks for everything the session reported, until it reports nothing new. After a
    /// refused CONNACK (and its `on_connect`) it stops and returns the refusal; the caller closes the
    /// connection with it (`fail`).
    #[inline(never)]
    fn dispatch(&self) -> Result<()> {
        let mut refused = None;
        // Swapped with the session's list, not taken, so both keep their capacity: a turn's events
        // allocate nothing once the lists have grown to the usual batch size.
        let mut events = Vec::new();
        loop {
            {
                let mut st = self.inner.state();
                if st.session.events.is_empty() {
                    if st.session.events.capacity() < events.capacity() {
                        std::mem::swap(&mut st.session.events, &mut events);
                    }
                    break;
                }
                std::mem::swap(&mut st.session.events, &mut events);
            }
            for event in events.drain(..) {
                match event {
                    Event::Connected { session_present } => {
                        self.inner.state().reconnect_delay = None;
                        let flags = ConnectFlags { session_present };
                        let props = Properties::default();
                        self.fire(
                            |c| &mut c.on_connect,
                            |cb, client, ud| cb(client, ud, flags, ReasonCode::connack(0), &props),
                        );
                        self.inner.state().session.after_connect(session_present);
                    }
                    Event::ConnectRefused { code } => {
                        let flags = ConnectFlags::default();
                        let props = Properties::default();
                        self.fire(
                            |c| &mut c.on_connect,
                            |cb, client, ud| {
                                cb(client, ud, flags, ReasonCode::connack(code), &props)
                            },
                        );
                        refused = Some(code);
                    }
                    Event::Published { first, count } => {
                        let props = Properties::default();
                        for mid in crate::session::mids_from(first).take(usize::from(count)) {
                            self.fire(
                                |c| &mut c.on_publish,
                                |cb, client, ud| {
                                    cb(client, ud, mid, ReasonCode::puback_success(), &props)
                                },
                            );
                        }
                    }
                    Event::Subscribed { mid, codes } => {
                        let props = Properties::default();
                        self.fire(
                            |c| &mut c.on_subscribe,
                            |cb, client, ud| cb(client, ud, mid, &codes, &props),
                        );
                    }
                    Event::Unsubscribed { mid } => {
                        let props = Properties::default();
                        self.fire(
                            |c| &mut c.on_unsubscribe,
                            |cb, client, ud| cb(client, ud, mid, &[], &props),
                        );
                    }
                    Event::Message { msg, generation } => {
                        self.fire_message(&msg);
                        let mut st = self.inner.state();
                        st.session.message_handled(msg.mid, msg.qos, generation);
                        st.session.give_back_payload(msg.payload);
                    }
                    Event::Log(line) => self.log(LogLevel::Debug, &line),
                }
            }
            if refused.is_some() {
                break;
            }
        }
        self.inner.signal.notify();
        match refused {
            Some(code) => Err(Error::ConnectionRefused(code)),
            None => Ok(()),
        }
    }
}

/// Whether the loop has bytes to write: left over in the write buffer, queued in the session, or
/// held by a layer of the stream. (`want_write` asks it too, for a connected client.)
pub(crate) fn wants_write(io: &Io, st: &crate::client::State) -> bool {
    io.wpos < io.wbuf.len()
        || !st.session.out.is_empty()
        || io.stream.as_ref().is_some_and(|s| s.wants_flush())
}

/// Empties the buffers for a new (or no) connection; QoS 0 messages in the write buffer are lost.
fn reset_io(io: &mut Io) {
    io.ack_owed = false;
    io.packets_in = 0;
    io.ack_due = None;
    io.read_more = false;
    io.drained = false;
    io.rstart = 0;
    io.rend = 0;
    if io.rbuf.len() > BUFFER_KEEP {
        io.rbuf = Vec::new();
    }
    io.wbuf.clear();
    io.wpos = 0;
    for (_, info) in io.wqos0.drain(..) {
        info.set_discarded(ErrorCode::ConnLost);
    }
}

/// Makes room for the next read: moves undecoded bytes (a partial packet) to the front, grows (by
/// doubling) when less than half a `READ_CHUNK` is left, as when a packet is larger than the buffer,
/// and shrinks back once a buffer grown past `BUFFER_KEEP` has been empty at `SHRINK_AFTER` reads in a
/// row without holding more than that again: a stream of large packets keeps it (shrinking after each
/// made every next one grow it again by doubling, copying and faulting it in), and a burst that is over
/// gives it back.
fn make_room(io: &mut Io) {
    if io.rend > BUFFER_KEEP {
        io.quiet_reads = 0;
    }
    if io.rstart == io.rend && io.rbuf.len() > BUFFER_KEEP {
        io.rstart = 0;
        io.rend = 0;
        if io.quiet_reads >= SHRINK_AFTER {
            io.rbuf = Vec::new();
        } else {
            io.quiet_reads += 1;
        }
    }
    if io.rbuf.len() - io.rend >= READ_CHUNK {
        return;
    }
    if io.rstart > 0 {
        io.rbuf.copy_within(io.rstart..io.rend, 0);
        io.rend -= io.rstart;
        io.rstart = 0;
    }
    if io.rbuf.len() - io.rend < READ_CHUNK / 2 {
        let len = (io.rbuf.len() * 2).max(io.rend + READ_CHUNK);
        // A new zeroed allocation (calloc) rather than `resize` (memset): fresh pages from the kernel
        // are zero already and stay out of resident memory until a read reaches them.
        let mut grown = vec![0; len];
        grown[..io.rend].copy_from_slice(&io.rbuf[..io.rend]);
        io.rbuf = grown;
    }
}

#[cfg(test)]
mod buffer_tests {
    use super::*;

    #[test]
    fn only_a_turn_that_caught_up_with_a_stream_waits_and_never_past_the_callers_timeout() {
        let read = |packets, drained| TurnRead {
            packets,
            drained,
            unwritten: false,
        };
        let us = Duration::from_micros;
        let d = READ_COALESCING;
        // Two packets or more, socket emptied: a stream, so wait.
        assert_eq!(read(2, true).coalesce_wait(d, None), Some(d));
        assert_eq!(read(180, true).coalesce_wait(d, None), Some(d));
        // A reply or a lone message (ping-pong latency), or nothing at all (idle): poll at once.
        assert_eq!(read(1, true).coalesce_wait(d, None), None);
        assert_eq!(read(0, true).coalesce_wait(d, None), None);
        // The read stopped at its budget with more waiting: falling behind, so no waiting.
        assert_eq!(read(180, false).coalesce_wait(d, None), None);
        // Bytes still to write (a full socket, a publish from a callback): they go first.
        let pending = TurnRead {
            packets: 5,
            drained: true,
            unwritten: true,
        };
        assert_eq!(pending.coalesce_wait(d, None), None);
        // Turned off, or `loop(0)`; a shorter timeout shortens the wait.
        assert_eq!(read(5, true).coalesce_wait(Duration::ZERO, None), None);
        assert_eq!(read(5, true).coalesce_wait(d, Some(Duration::ZERO)), None);
        assert_eq!(
            read(5, true).coalesce_wait(us(50), Some(us(10))),
            Some(us(10))
        );
        assert_eq!(
            read(5, true).coalesce_wait(us(50), Some(Duration::from_secs(1))),
            Some(us(50))
        );
    }

    #[test]
    fn a_partial_packet_moves_to_the_front_and_the_buffer_keeps_its_size() {
        let mut io = Io::default();
        make_room(&mut io);
        assert_eq!(io.rbuf.len(), READ_CHUNK);
        // A read filled the buffer and everything but the first 100 bytes of a packet was decoded.
        io.rend = READ_CHUNK;
        io.rstart = READ_CHUNK - 100;
        io.rbuf[io.rstart] = 0x30;
        make_room(&mut io);
        assert_eq!(
            io.rbuf.len(),
            READ_CHUNK,
            "grew around a small partial packet"
        );
        assert_eq!((io.rstart, io.rend), (0, 100));
        assert_eq!(io.rbuf[0], 0x30);
    }

    /// A packet of `total` bytes (counting what the buffer already holds) arriving in reads that fill
    /// the buffer, with room made before each. Returns how many times the buffer moved.
    fn assemble(io: &mut Io, total: usize) -> usize {
        let mut moved = 0;
        while io.rend < total {
            let end = io.rbuf.len().min(total);
            io.rbuf[io.rend..end].fill(7);
            io.rend = end;
            let before = io.rbuf.as_ptr();
            make_room(io);
            moved += usize::from(io.rbuf.as_ptr() != before);
            assert!(io.rbuf[..io.rend].iter().all(|&b| b == 7));
        }
        moved
    }

    #[test]
    fn a_packet_larger_than_the_buffer_doubles_it_and_it_shrinks_back_once_quiet() {
        let mut io = Io::default();
        make_room(&mut io);
        let mut len = io.rbuf.len();
        // One packet arriving in buffer-filling reads: the buffer doubles, keeping what it holds.
        while len <= BUFFER_KEEP {
            io.rbuf[io.rend..].fill(7);
            io.rend = len;
            make_room(&mut io);
            assert_eq!(io.rbuf.len(), len * 2);
            assert!(io.rbuf[..io.rend].iter().all(|&b| b == 7));
            len *= 2;
        }
        // Decoded (the loop then starts the buffer over). Small traffic follows: the buffer past
        // BUFFER_KEEP is kept for SHRINK_AFTER reads into it, then goes back to the starting size.
        io.rstart = 0;
        io.rend = 0;
        for i in 0..SHRINK_AFTER {
            make_room(&mut io);
            assert_eq!(io.rbuf.len(), len, "shrunk at quiet read {i}");
        }
        make_room(&mut io);
        assert_eq!((io.rbuf.len(), io.rstart, io.rend), (READ_CHUNK, 0, 0));
    }

    /// A stream of packets past `BUFFER_KEEP`, each followed by a few reads of small ones, grows the
    /// buffer for the first and then keeps it: it never moves again.
    #[test]
    fn a_stream_of_large_packets_keeps_the_read_buffer() {
        let big = BUFFER_KEEP + BUFFER_KEEP / 4;
        let mut io = Io::default();
        make_room(&mut io);
        assert!(assemble(&mut io, big) > 0);
        for packet in 0..2 * SHRINK_AFTER {
            io.rstart = 0;
            io.rend = 0;
            for _ in 0..SHRINK_AFTER / 2 {
                make_room(&mut io);
            }
            assert_eq!(
                assemble(&mut io, big),
                0,
                "packet {packet} moved the buffer"
            );
        }
    }
}

#[cfg(all(test, feature = "websockets"))]
mod url_tests {
    use crate::Client;

    /// The websocket path `connect_url` leaves for the upgrade request, for each form of URL.
    fn ws_path(url: &str) -> String {
        let client = Client::new("");
        client.connect_url_async(url, 60).expect(url);
        let path = client.inner.state().ws_path.clone();
        path
    }

    #[test]
    fn a_websocket_url_sets_the_path_and_query_it_has() {
        assert_eq!(ws_path("ws://127.0.0.1:1"), "/mqtt");
        assert_eq!(ws_path("ws://127.0.0.1:1/"), "/mqtt");
        assert_eq!(ws_path("ws://127.0.0.1:1/ws"), "/ws");
        assert_eq!(ws_path("ws://127.0.0.1:1/ws?t=1"), "/ws?t=1");
        assert_eq!(ws_path("ws://127.0.0.1:1?t=1"), "/?t=1");
    }
}
