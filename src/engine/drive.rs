//! The loop drivers: one turn (`run_once`), `loop`, `loop_forever` with its reconnect backoff,
//! `loop_start`/`loop_stop`, the external-loop calls, and `kick`, which gets queued bytes moving from a
//! user's thread.
//!
//! One turn of the loop: poll the socket and the wake-up channel together (until the next keepalive
//! deadline at most, so an idle client sleeps), read everything available in large chunks and feed
//! every whole packet to the session, run the callbacks for what happened, check keepalive, then write
//! everything pending in one call and run the callbacks that writing completes (QoS 0 `on_publish`,
//! `on_disconnect` after DISCONNECT). Callbacks run with no engine lock held, and what they queue is
//! written before the loop sleeps again. A turn that read packets ends by yielding the core (the broker
//! is likely about to answer; see `run_once`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;

use super::io::{give_up_at, unsent, WriteOutcome};
use super::{relock, wants_write, Engine, Handler, LoopGuard, Notice, CLOSE_GRACE};
use crate::completion::{in_callback_of, not_in_callback, panic_message};
use crate::error::{Error, Result};
use crate::net;
use crate::session::ConnState;
use crate::types::LogLevel;

impl Engine {
    /// `loop(timeout)`: one turn, for applications that drive the loop themselves.
    pub(crate) fn run_loop(self: &Arc<Self>, h: &dyn Handler, timeout: Duration) -> Result<()> {
        self.manual_entry()?;
        self.ensure_waker()?;
        self.signal.loops_running.fetch_add(1, Ordering::SeqCst);
        let _guard = LoopGuard {
            engine: Arc::clone(self),
            forever: false,
        };
        self.run_once(h, Some(timeout))
    }

    /// Common checks for the manual loop calls.
    fn manual_entry(&self) -> Result<()> {
        not_in_callback(
            &self.signal,
            "the network loop cannot run inside its own callback",
        )?;
        if self.forever_running.load(Ordering::SeqCst) {
            return Err(Error::LoopAlreadyRunning);
        }
        if !self.socket_open() {
            return Err(Error::NoConn);
        }
        self.signal.manual_loop.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// `loop_forever`: runs until `disconnect()`, reconnecting with backoff.
    pub(crate) fn loop_forever(self: &Arc<Self>, h: &dyn Handler, retry_first: bool) -> Result<()> {
        not_in_callback(&self.signal, "loop_forever from a callback")?;
        self.stop.store(false, Ordering::SeqCst);
        if !self.state().disconnect_requested {
            self.state().ending_since = None;
        }
        let guard = self.enter_forever()?;
        self.run_forever(h, retry_first, false, guard)
    }

    /// Claims the right to run `loop_forever` (one at a time) and counts the loop as running.
    fn enter_forever(self: &Arc<Self>) -> Result<LoopGuard> {
        // The waker exists before the loop counts as running, so publishers that see it running can
        // always wake it.
        self.ensure_waker()?;
        if self.forever_running.swap(true, Ordering::SeqCst) {
            return Err(Error::LoopAlreadyRunning);
        }
        self.signal.loops_running.fetch_add(1, Ordering::SeqCst);
        Ok(LoopGuard {
            engine: Arc::clone(self),
            forever: true,
        })
    }

    /// `loop_forever`'s loop, on the caller's thread or the `loop_start` thread; tells the handler when
    /// it has ended (before `running` says so to the others).
    fn run_forever(
        &self,
        h: &dyn Handler,
        retry_first: bool,
        background: bool,
        running: LoopGuard,
    ) -> Result<()> {
        // Dropped in reverse order, unwinding included: the handler hears first.
        let _running = running;
        let _ended = LoopEnded(h);
        self.run_forever_turns(h, retry_first, background)
    }

    fn run_forever_turns(
        &self,
        h: &dyn Handler,
        retry_first: bool,
        background: bool,
    ) -> Result<()> {
        let mut first = true;
        // The next attempt begins a round after a lost connection or a round of failures, and waits
        // for the backoff first. Within a round (a list of servers, `connect_urls`) each failure
        // moves on to the next server at once.
        let mut wait = false;
        loop {
            if self.should_exit() {
                return Ok(());
            }
            // Counted before the socket is looked at: a connection that a `connect()` on another
            // thread installs after this (even before the loop gets to open one) is the one used.
            let seen = self.opened_count();
            if !self.socket_open() {
                if !h.has_target() {
                    if !background {
                        return Err(Error::invalid(
                            "host",
                            "loop_forever needs a broker: call connect() or connect_async() first",
                        ));
                    }
                    // loop_start() before connect_async(): wait for a host.
                    let st = self.state();
                    let _ = self.cv.wait_timeout(st, Duration::from_secs(1));
                    continue;
                }
                if wait {
                    self.backoff_wait(h);
                    if self.should_exit() {
                        return Ok(());
                    }
                    if self.socket_open() {
                        continue; // connect() from another thread did it meanwhile
                    }
                }
                if let Err(failed) = self.open_connection_since(h, seen) {
                    let e = failed.error;
                    h.log(
                        LogLevel::Warning,
                        &format!("Connecting to {} failed: {e}", failed.server),
                    );
                    h.notify(Notice::ConnectFail);
                    wait = failed.round_over;
                    if !failed.round_over {
                        continue;
                    }
                    if (first && !retry_first) || !self.state().reconnect_on_failure {
                        return Err(e);
                    }
                    first = false;
                    continue;
                }
            }
            first = false;
            wait = true;
            if let Err(e) = self.run_once(h, None) {
                if self.should_exit() {
                    return Ok(());
                }
                if !self.socket_open() && !self.state().reconnect_on_failure {
                    return Err(e);
                }
            }
        }
    }

    /// Whether `loop_forever` should return: after `disconnect()` once the connection is closed; after
    /// `loop_stop()` once nothing is left to send and no QoS 1/2 message awaits its acknowledgement (or
    /// the connection is gone), as in Paho.
    fn should_exit(&self) -> bool {
        let io = self.io();
        let st = self.state();
        let open = io.stream.is_some();
        if st.disconnect_requested && !open {
            return true;
        }
        if self.stop.load(Ordering::SeqCst) {
            let idle = io.wpos >= io.wbuf.len()
                && !st.session.has_output()
                && st.session.pending_messages() == 0;
            // Output a broker does not read may never go out: after CLOSE_GRACE without a write
            // the loop ends anyway, the connection left open as it is.
            let stuck = give_up_at(&io, &st).is_some_and(|t| Instant::now() >= t);
            return !open || idle || stuck;
        }
        false
    }

    /// Waits before a reconnect (see `backoff`); cut short by `disconnect()` and `loop_stop()`.
    fn backoff_wait(&self, h: &dyn Handler) {
        let spread = rand::thread_rng().gen_range(0.75..=1.25);
        let delay = self.state().backoff.next_wait(spread);
        h.log(
            LogLevel::Debug,
            &format!("Reconnecting in {:.3} s", delay.as_secs_f64()),
        );
        let deadline = Instant::now() + delay;
        let mut st = self.state();
        loop {
            if st.disconnect_requested
                || self.stop.load(Ordering::SeqCst)
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
                .cv
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// `loop_start`: `loop_forever` on a thread of its own, named `name`, which owns the handler.
    pub(crate) fn loop_start(
        self: &Arc<Self>,
        h: Box<dyn Handler + Send>,
        name: String,
    ) -> Result<()> {
        let mut slot = relock(&self.thread);
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return Err(Error::LoopAlreadyRunning);
        }
        // Counted as running from here, before the thread exists: a publish or wait_for_publish right
        // after loop_start() returns must see a running loop.
        let guard = self.enter_forever()?;
        if let Some(old) = slot.take() {
            // A thread that already ended (loop_stop from its own callback, or disconnect): reap it.
            let _ = old.join();
        }
        self.stop.store(false, Ordering::SeqCst);
        self.state().ending_since = None;
        let engine = Arc::clone(self);
        let handle = thread::Builder::new().name(name).spawn(move || {
            if let Err(e) = engine.run_forever(&*h, true, true, guard) {
                h.log(LogLevel::Err, &format!("Network loop thread ended: {e}"));
            }
        })?;
        *slot = Some(handle);
        Ok(())
    }

    /// `loop_stop`: stops the `loop_start` thread and waits for it (not from its own callbacks).
    pub(crate) fn loop_stop(&self) -> Result<()> {
        let Some(handle) = relock(&self.thread).take() else {
            return Err(Error::invalid(
                "loop_stop",
                "no loop_start() thread is running",
            ));
        };
        self.stop.store(true, Ordering::SeqCst);
        // Taking the state lock between the store and the notification closes the window in which
        // a waiter (the reconnect backoff) has read `stop` under the lock but not yet begun to wait:
        // the notification would find nobody and the loop sleep out the whole delay.
        self.state().ending_since.get_or_insert_with(Instant::now);
        self.cv.notify_all();
        if let Some(w) = self.waker() {
            w.wake();
        }
        self.interrupt_delivery();
        if handle.thread().id() == thread::current().id() || in_callback_of(&self.signal) {
            *relock(&self.thread) = Some(handle);
            return Ok(());
        }
        handle
            .join()
            .map_err(|p| Error::CallbackPanicked(panic_message(p.as_ref())))
    }

    /// `loop_read`: reads and handles what the socket (and the layers above it) hold.
    pub(crate) fn loop_read(&self, h: &dyn Handler) -> Result<()> {
        self.manual_entry()?;
        loop {
            self.read_in().map_err(|e| self.fail(h, e))?;
            self.dispatch(h).map_err(|e| self.fail(h, e))?;
            if !self.io().read_more {
                // What the callbacks queued waits for the application's loop_write.
                self.update_write_registration(h);
                return Ok(());
            }
        }
    }

    /// `loop_write`: writes what is pending.
    pub(crate) fn loop_write(&self, h: &dyn Handler) -> Result<()> {
        self.manual_entry()?;
        self.write_and_settle(h)?;
        self.dispatch(h).map_err(|e| self.fail(h, e))?;
        self.settle_acks();
        // Paho's loop_write ends by registering or unregistering for writes.
        self.update_write_registration(h);
        Ok(())
    }

    /// `loop_misc`: keepalive housekeeping.
    pub(crate) fn loop_misc(&self, h: &dyn Handler) -> Result<()> {
        self.manual_entry()?;
        let r = self.state().session.tick(Instant::now());
        r.map_err(|e| self.fail(h, e))?;
        self.dispatch(h).map_err(|e| self.fail(h, e))?;
        // A PINGREQ may wait to be written.
        self.update_write_registration(h);
        Ok(())
    }

    /// One turn of the loop; see the module docs.
    fn run_once(&self, h: &dyn Handler, timeout: Option<Duration>) -> Result<()> {
        let waker = self.ensure_waker()?;
        let (fd, want_write, deadline, read_more, coalesce, paused) = {
            let io = self.io();
            let Some(stream) = io.stream.as_ref() else {
                return Err(Error::NoConn);
            };
            let st = self.state();
            let want_write = wants_write(&io, &st);
            // Too much waits to be written (the broker is not reading): read nothing, so that no more
            // acknowledgements are made, until the output drains below the bound. The same while
            // too many messages wait for a full `messages()` channel that a manual loop's caller
            // does not drain: what the broker sends then waits with the broker.
            let paused = unsent(&io, &st) > st.output_bound
                || st.session.pending_events() > super::io::PENDING_EVENTS_BOUND;
            let read_more = io.read_more && !paused;
            let deadline = if read_more {
                Some(Instant::now())
            } else {
                let ending = give_up_at(&io, &st);
                [st.session.next_deadline(), io.ack_due, ending]
                    .into_iter()
                    .flatten()
                    .min()
            };
            (
                stream.raw_fd(),
                want_write,
                deadline,
                read_more,
                st.read_coalescing,
                paused,
            )
        };
        let mut wait = timeout;
        if let Some(d) = deadline {
            let until = d.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        let ready = net::poll(fd, !paused, want_write, waker.fd(), wait)
            .map_err(|e| self.fail(h, e.into()))?;
        if ready.woken {
            waker.clear();
        }
        // A stopped reader still reads when the broker closed: what is left and the end of stream,
        // which ends the connection (else it would go unnoticed until keepalive).
        if (ready.readable && !paused) || ready.closed || read_more {
            self.read_in().map_err(|e| self.fail(h, e))?;
        }
        self.dispatch(h).map_err(|e| self.fail(h, e))?;
        let tick = self.state().session.tick(Instant::now());
        tick.map_err(|e| self.fail(h, e))?;
        self.write_and_settle(h)?;
        self.dispatch(h).map_err(|e| self.fail(h, e))?;
        self.close_if_disconnect_stuck(h);
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

    /// After `disconnect()`: if DISCONNECT is still unwritten and nothing could be written for
    /// `CLOSE_GRACE` (the broker stopped reading and the socket is full), closes the connection without
    /// it, so that the loop ends now rather than when keepalive gives up on the broker.
    fn close_if_disconnect_stuck(&self, h: &dyn Handler) {
        let stuck = {
            let io = self.io();
            let st = self.state();
            io.stream.is_some()
                && st.disconnect_requested
                && st.session.is_disconnecting()
                && give_up_at(&io, &st).is_some_and(|t| Instant::now() >= t)
        };
        if stuck {
            h.log(
                LogLevel::Warning,
                &format!(
                    "DISCONNECT could not be written in {} s (the broker is not reading): closing \
                     without it",
                    CLOSE_GRACE.as_secs()
                ),
            );
            self.close_connection(h, None);
        }
    }

    /// Writes what is pending; closes the connection if that fails or if it completed a DISCONNECT.
    fn write_and_settle(&self, h: &dyn Handler) -> Result<()> {
        match self.write_out() {
            Ok(WriteOutcome::Disconnected) => {
                self.close_connection(h, None);
                Ok(())
            }
            Ok(_) => {
                self.update_write_registration(h);
                Ok(())
            }
            Err(e) => Err(self.fail(h, e)),
        }
    }

    /// Writes from a user thread when no loop runs (Paho writes from `publish` then too), and runs the
    /// callbacks that completes, until nothing new is queued or the socket is full.
    fn flush_inline(&self, h: &dyn Handler) {
        for _ in 0..64 {
            let blocked = match self.write_out() {
                Ok(WriteOutcome::Flushed) => false,
                Ok(WriteOutcome::Blocked) => true,
                Ok(WriteOutcome::Disconnected) => {
                    self.close_connection(h, None);
                    true
                }
                Err(e) => {
                    self.fail(h, e);
                    true
                }
            };
            if let Err(e) = self.dispatch(h) {
                self.fail(h, e);
            }
            if blocked || !self.state().session.has_output() {
                break;
            }
        }
        self.update_write_registration(h);
    }

    /// Gets queued bytes moving: from inside a callback, nothing (the loop running it writes when it
    /// returns); with a loop running, wake it; with `on_socket_register_write` set and no loop thread,
    /// report it (the application's loop writes); otherwise write now from this thread.
    pub(crate) fn kick(&self, h: &dyn Handler) {
        if in_callback_of(&self.signal) {
            // The callback's own loop writes (and reports) when the callback returns.
            return;
        }
        self.update_write_registration(h);
        if self.external_writer() {
            // The application's event loop writes (Paho's publish does not write when
            // on_socket_register_write is set).
            return;
        }
        if self.signal.loops_running.load(Ordering::SeqCst) > 0 {
            if let Some(w) = self.waker() {
                w.wake();
            }
            return;
        }
        self.flush_inline(h);
    }
}

/// Tells the handler that a `loop_forever` ended, however it ends.
struct LoopEnded<'a>(&'a dyn Handler);

impl Drop for LoopEnded<'_> {
    fn drop(&mut self) {
        self.0.loop_ended();
    }
}
