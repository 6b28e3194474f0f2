//! `poll(2)` on the connection and the wake-up channel, and the waker other threads use to end it: an
//! idle client sleeps here until a packet arrives, a keepalive deadline comes, or another thread has
//! something to send.

use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What `poll` found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Ready {
    /// The socket has bytes (or EOF, or an error) to read.
    pub readable: bool,
    /// Another thread asked the loop to wake up.
    pub woken: bool,
    /// The peer closed the connection (or its sending half), or the socket has an error: reported
    /// even when reading was not asked for, so that a loop that stopped reading still notices.
    pub closed: bool,
}

/// The peer's end of stream, reported by poll(2) without reading up to it (Linux and Android; other
/// systems report it as readable only).
#[cfg(any(target_os = "linux", target_os = "android"))]
const PEER_CLOSED: libc::c_short = libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const PEER_CLOSED: libc::c_short = 0;

/// Waits until the socket is readable (if `want_read`) or writable (if `want_write`), the wake-up
/// channel has a byte, or `timeout` passes (`None`: no limit). An interrupted wait returns nothing
/// ready. Errors and hang-ups are reported as readable whatever is asked, and in `closed`, as is the
/// peer's end of stream where the system can say so.
pub(crate) fn poll(
    sock: RawFd,
    want_read: bool,
    want_write: bool,
    wake: RawFd,
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: if want_read { libc::POLLIN } else { 0 }
                | if want_write { libc::POLLOUT } else { 0 }
                | PEER_CLOSED,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = poll_ms(timeout);
    // SAFETY: `fds` is a valid, initialised array of two pollfd structs that outlives the call, and its
    // length is passed alongside it; poll(2) writes only the `revents` fields.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(Ready::default());
        }
        return Err(err);
    }
    // Errors and hang-ups count as readable: the read that follows reports them.
    let bad = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    Ok(Ready {
        readable: fds[0].revents & (libc::POLLIN | bad) != 0,
        woken: fds[1].revents & libc::POLLIN != 0,
        closed: fds[0].revents & (bad | PEER_CLOSED) != 0,
    })
}

/// poll(2)'s timeout for `timeout` (`None`: no limit), rounded up, so that a deadline 0.3 ms away does
/// not turn into a busy loop of zero-length waits.
fn poll_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => t.as_micros().div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int,
    }
}

/// Waits until `sock` is writable (a non-blocking connect finished, well or not) or `timeout` passes;
/// returns whether it is. Waits again after an interruption, with the whole timeout: a connect is
/// rare enough that a longer wait after a signal does no harm.
pub(crate) fn wait_writable(sock: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let mut fd = libc::pollfd {
        fd: sock,
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: `fd` is one valid pollfd that outlives the call; poll(2) writes only `revents`.
        #[allow(unsafe_code)]
        let n = unsafe { libc::poll(&mut fd, 1, poll_ms(timeout)) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Sleeps for `wait`, or less if the wake-up channel has a byte (which stays there for the next
/// [`poll`]). Linux and Android, where `ppoll` takes nanoseconds; elsewhere `poll` counts whole
/// milliseconds, far longer than the loop means to wait, so this only yields the CPU.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn wait_for_wake(wake: RawFd, wait: Duration) {
    let mut fds = [libc::pollfd {
        fd: wake,
        events: libc::POLLIN,
        revents: 0,
    }];
    let ts = libc::timespec {
        tv_sec: wait.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: wait.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `fds` is one valid, initialised pollfd and `ts` a valid timespec, both outliving the
    // call; a null signal mask leaves the thread's mask as it is. ppoll(2) writes only `revents`.
    // Its result needs no look: an error or an interruption just ends the wait early.
    #[allow(unsafe_code)]
    unsafe {
        libc::ppoll(fds.as_mut_ptr(), 1, &ts, std::ptr::null());
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn wait_for_wake(_wake: RawFd, _wait: Duration) {
    std::thread::yield_now();
}

/// Lets other threads wake the loop out of `poll`: a connected pair of Unix sockets (Paho's socketpair),
/// plus a flag so that a burst of publishes costs one write, not one per message.
#[derive(Debug)]
pub(crate) struct Waker {
    tx: UnixStream,
    rx: UnixStream,
    pending: AtomicBool,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Waker {
            tx,
            rx,
            pending: AtomicBool::new(false),
        })
    }

    /// Wakes the loop (at most one byte in flight, however many callers).
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            // A full buffer means a wake-up is already pending; any other error leaves the loop to its
            // timeout, which is all a wake-up could have done.
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// Called by the loop when `poll` says the channel is readable, *before* it looks at pending work.
    ///
    /// Drain first, then reset the flag. The other order loses wake-ups: a `wake()` between the reset
    /// and the drain would write a byte that the drain then eats, leaving the flag set with nothing in
    /// the channel, so every later `wake()` would skip its write. In this order, a `wake()` that sees the
    /// flag still set (and skips its write) made its change before our reset, so the look at pending work
    /// that follows sees it; any later `wake()` finds the flag clear and writes a byte.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.rx).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        self.pending.store(false, Ordering::SeqCst);
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{connect_tcp, NetStream};
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn a_wake_from_another_thread_ends_an_unbounded_poll() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = connect_tcp(
            "127.0.0.1",
            listener.local_addr().unwrap().port(),
            Duration::from_secs(5),
        )
        .unwrap();
        let waker = std::sync::Arc::new(Waker::new().unwrap());
        let w = waker.clone();
        let t = std::thread::spawn(move || {
            w.wake();
            w.wake(); // a second wake-up costs nothing and is not lost
        });
        let start = Instant::now();
        let ready = poll(
            stream.raw_fd(),
            true,
            false,
            waker.fd(),
            Some(Duration::from_secs(10)),
        )
        .unwrap();
        t.join().unwrap();
        assert!(ready.woken && !ready.readable);
        assert!(start.elapsed() < Duration::from_secs(5));
        waker.clear();
        let ready = poll(
            stream.raw_fd(),
            true,
            false,
            waker.fd(),
            Some(Duration::from_millis(1)),
        )
        .unwrap();
        assert!(!ready.woken, "clear() drains the channel");
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn wait_for_wake_waits_its_time_and_a_wake_ends_it_early_leaving_the_byte_for_poll() {
        let waker = std::sync::Arc::new(Waker::new().unwrap());
        // Nothing wakes it: it sleeps at least the time asked (a wait that returned at once would
        // leave the loop polling per packet, which is what it is there to prevent).
        let start = Instant::now();
        wait_for_wake(waker.fd(), Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A wake-up from another thread, before or during the wait, ends it.
        let w = waker.clone();
        let t = std::thread::spawn(move || w.wake());
        let start = Instant::now();
        wait_for_wake(waker.fd(), Duration::from_secs(10));
        t.join().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the wake-up did not end the wait"
        );
        // The byte is still there, so the poll that follows sees the work that came in.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect_tcp("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        let r = poll(
            stream.raw_fd(),
            true,
            false,
            waker.fd(),
            Some(Duration::ZERO),
        )
        .unwrap();
        assert!(r.woken, "wait_for_wake consumed the wake-up");
    }

    #[test]
    fn no_wake_up_is_lost_while_the_loop_clears() {
        // Like the loop: clear() only after poll() reports a wake-up, while other threads wake()
        // concurrently. A lost wake-up leaves the flag set with an empty channel: then no later wake()
        // writes, and the final poll below times out.
        let waker = std::sync::Arc::new(Waker::new().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = connect_tcp("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        let fd = stream.raw_fd();
        for _ in 0..300 {
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (w, done) = (waker.clone(), done.clone());
                    std::thread::spawn(move || {
                        while !done.load(Ordering::Relaxed) {
                            w.wake();
                        }
                    })
                })
                .collect();
            for _ in 0..200 {
                if poll(fd, true, false, waker.fd(), Some(Duration::ZERO))
                    .unwrap()
                    .woken
                {
                    waker.clear();
                }
            }
            done.store(true, Ordering::Relaxed);
            threads.into_iter().for_each(|t| t.join().unwrap());
            if poll(fd, true, false, waker.fd(), Some(Duration::ZERO))
                .unwrap()
                .woken
            {
                waker.clear();
            }
            waker.wake();
            let r = poll(fd, true, false, waker.fd(), Some(Duration::from_secs(2))).unwrap();
            assert!(r.woken, "a wake() was lost");
            waker.clear();
        }
    }

    #[test]
    fn poll_times_out_with_nothing_ready_and_sees_incoming_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = connect_tcp(
            "127.0.0.1",
            listener.local_addr().unwrap().port(),
            Duration::from_secs(5),
        )
        .unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let waker = Waker::new().unwrap();
        let r = poll(
            stream.raw_fd(),
            true,
            false,
            waker.fd(),
            Some(Duration::from_millis(5)),
        )
        .unwrap();
        assert!(!r.readable && !r.woken);
        // Asking for writability returns at once (the socket has room) without reporting it as readable.
        let start = Instant::now();
        let r = poll(
            stream.raw_fd(),
            true,
            true,
            waker.fd(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(!r.readable && start.elapsed() < Duration::from_secs(1));
        server.write_all(&[0xd0, 0x00]).unwrap();
        let r = poll(
            stream.raw_fd(),
            true,
            false,
            waker.fd(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(r.readable);
    }
}
