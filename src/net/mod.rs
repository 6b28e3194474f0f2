//! The network underneath the loop: opening a connection (TCP, through a proxy, TLS, websockets, a
//! Unix socket), the stream the loop reads and writes, `poll(2)` on it and the wake-up channel.
//!
//! Connecting is blocking, each step bounded by `connect_timeout`: the TCP connect (to the broker or a
//! proxy), the proxy's handshake, the TLS handshake, the websocket upgrade. The connected stream is then
//! switched to non-blocking and handed to the loop, which only ever touches it after `poll` says it is
//! ready. Every transport runs in that same loop on the same file descriptor: no thread per connection.
//!
//! Layers nest in this order, each on the one before: TCP (maybe through a proxy), TLS, websocket.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::{Proxy, Transport};

pub(crate) mod proxy;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod url;
#[cfg(feature = "websockets")]
pub(crate) mod websocket;

/// A client's TLS settings, as `open` uses them: made by `tls_set` and its siblings (`tls::configure`,
/// `tls::from_connector`), absent otherwise, and never made in a build without the `tls` feature.
///
/// A trait object rather than the TLS type itself, so that nothing on the path of a plain connection
/// names the TLS code: a program that never calls `tls_set` links none of it, and the linker leaves
/// libssl and libcrypto out of the executable even with the `tls` feature on. Loading them costs about
/// 1.5 MB of resident memory at start, whether or not TLS is used.
pub(crate) trait TlsLayer: std::fmt::Debug + Send + Sync {
    /// The same settings with host-name verification off (`true`) or on (`tls_insecure_set`).
    fn with_insecure(&self, insecure: bool) -> Result<Arc<dyn TlsLayer>>;

    /// Runs the TLS handshake on `tcp`, then the websocket upgrade if `target` asks for it.
    fn connect(
        &self,
        target: &Target,
        tcp: TcpStream,
        timeout: Duration,
    ) -> Result<Box<dyn NetStream>>;
}

/// The websocket upgrade of a plain TCP connection, as `open` calls it. Handed out only where the
/// websockets transport is chosen (`Builder::transport`, `connect_url`), for the reason given at
/// [`TlsLayer`]: a program that never asks for websockets links none of the websocket code.
pub(crate) type WsUpgrade = fn(&Target, TcpStream, Duration) -> Result<Box<dyn NetStream>>;

/// The upgrade for `transport`: `Some` for websockets in a build that has them.
pub(crate) fn ws_upgrade(transport: Transport) -> Option<WsUpgrade> {
    match transport {
        #[cfg(feature = "websockets")]
        Transport::Websockets => Some(websocket_layer::<TcpStream>),
        _ => None,
    }
}

/// A connected, non-blocking byte stream the loop can poll.
pub(crate) trait NetStream: Read + Write + Send {
    /// The file descriptor to poll.
    fn raw_fd(&self) -> RawFd;

    /// Asks the peer's last data to be acknowledged now rather than after the delayed-ACK timer, for
    /// when we have nothing to send that would carry the acknowledgement. See [`quickack`]. By default
    /// on `raw_fd`, which is a TCP socket for every stream but a Unix socket's (TLS and websockets
    /// run on TCP).
    fn ack_now(&self) {
        quickack(self.raw_fd());
    }

    /// Lets the kernel delay its acknowledgements again (after [`ack_now`](NetStream::ack_now)), for
    /// when the broker is streaming to us. See [`delayed_acks`].
    fn ack_later(&self) {
        delayed_acks(self.raw_fd());
    }

    /// Whether a read that returned less than the buffer's room means the socket is drained. True for
    /// plain sockets. Not for layers that buffer (TLS returns one record per read; the websocket layer
    /// reads ahead), whose readers must go on until `WouldBlock`: `poll` cannot see bytes they hold.
    fn short_read_drains(&self) -> bool {
        true
    }

    /// Whether this layer holds written bytes it could not pass on yet (the websocket layer's frame
    /// buffer when the socket was full): the loop then waits for writability and calls `flush`.
    fn wants_flush(&self) -> bool {
        false
    }

    /// The error a failed read or write means. Plain sockets: an I/O error. TLS: the library's errors
    /// (an alert from the broker, say) are TLS errors.
    fn error(&self, e: io::Error) -> Error {
        Error::Io(e)
    }

    /// Why a broker might close this kind of connection before CONNACK, beyond what the error says:
    /// a TLS broker that wants a client certificate refuses it after a TLS 1.3 handshake, and its
    /// alert is often lost to the reset that follows.
    fn early_close_hint(&self) -> Option<&'static str> {
        None
    }

    /// Ends the connection politely after our DISCONNECT (TLS close_notify, websocket close frame),
    /// best effort and without blocking.
    fn close(&mut self) {}
}

impl NetStream for TcpStream {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// No TCP underneath, so no acknowledgements to hurry or delay.
impl NetStream for UnixStream {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn ack_now(&self) {}

    fn ack_later(&self) {}
}

/// Where and how to connect: the client's settings, copied out of its state for one connection attempt.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub transport: Transport,
    /// Set (by [`ws_upgrade`]) when `transport` is websockets.
    pub ws: Option<WsUpgrade>,
    /// The broker's host name or address; for [`Transport::Unix`], the socket's path.
    pub host: String,
    pub port: u16,
    pub tls: Option<Arc<dyn TlsLayer>>,
    /// The websocket request path and extra headers.
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))]
    // only the websocket layer reads them
    pub ws_path: String,
    #[cfg_attr(not(feature = "websockets"), allow(dead_code))]
    pub ws_headers: Vec<(String, String)>,
    /// The proxy from `proxy_set`; when `None`, the `mqtt_proxy` environment variable is consulted.
    pub proxy: Option<Proxy>,
}

impl Target {
    /// `host:port` (or the socket path), for messages.
    pub(crate) fn describe(&self) -> String {
        match self.transport {
            Transport::Unix => self.host.clone(),
            _ => authority(&self.host, self.port),
        }
    }
}

/// `host:port` as URIs and HTTP write it: an IPv6 address in brackets (`[::1]:1883`).
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Opens a connection to `target`, every layer of it, each blocking step bounded by `timeout` (zero: no
/// bound), and returns it non-blocking, ready for the loop.
pub(crate) fn open(target: &Target, timeout: Duration) -> Result<Box<dyn NetStream>> {
    if target.transport == Transport::Unix {
        if target.tls.is_some() {
            // Never quietly in the clear: the user asked for TLS.
            return Err(Error::NotSupported(
                "TLS over a Unix socket: use Transport::Tcp for TLS, or no tls_set".into(),
            ));
        }
        let stream = UnixStream::connect(&target.host).map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("unix socket {}: {e}", target.host),
            ))
        })?;
        stream.set_nonblocking(true)?;
        return Ok(Box::new(stream));
    }
    let env_proxy;
    let proxy = match &target.proxy {
        Some(p) => Some(p),
        None => {
            env_proxy = proxy::from_env(&target.host)?;
            env_proxy.as_ref()
        }
    };
    let tcp = match proxy {
        Some(p) => proxy::connect(p, &target.host, target.port, timeout)?,
        None => connect_tcp(&target.host, target.port, timeout)?,
    };
    // The handshakes below run on the blocking socket with a timeout on each read and write. The handle
    // kept here shares the socket (a dup'ed descriptor: same flags, same options), so the socket can be
    // made non-blocking once the layers above have taken ownership of `tcp`.
    let control = tcp.try_clone()?;
    let bound = (!timeout.is_zero()).then_some(timeout);
    control.set_read_timeout(bound)?;
    control.set_write_timeout(bound)?;
    let stream = layer(target, tcp, timeout)?;
    control.set_read_timeout(None)?;
    control.set_write_timeout(None)?;
    control.set_nonblocking(true)?;
    Ok(stream)
}

/// Puts TLS and the websocket layer, as configured, on a connected TCP stream.
fn layer(target: &Target, tcp: TcpStream, timeout: Duration) -> Result<Box<dyn NetStream>> {
    match (&target.tls, target.transport) {
        (None, Transport::Websockets) => match target.ws {
            Some(upgrade) => upgrade(target, tcp, timeout),
            // Only in a build without websockets (Builder::build and connect_url refuse them there).
            None => Err(no_websockets()),
        },
        (None, _) => Ok(Box::new(tcp)),
        (Some(tls), _) => tls.connect(target, tcp, timeout),
    }
}

#[cfg(feature = "websockets")]
fn websocket_layer<S: websocket::Socket>(
    target: &Target,
    stream: S,
    timeout: Duration,
) -> Result<Box<dyn NetStream>> {
    Ok(Box::new(websocket::handshake(target, stream, timeout)?))
}

#[cfg(not(feature = "websockets"))]
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // only TLS layers websockets on another stream
fn websocket_layer<S>(_: &Target, _: S, _: Duration) -> Result<Box<dyn NetStream>> {
    Err(no_websockets())
}

fn no_websockets() -> Error {
    Error::NotSupported(
        "the websockets transport: this build lacks the `websockets` feature".into(),
    )
}

/// Sets TCP_QUICKACK on a TCP socket (Linux; elsewhere nothing).
///
/// Why: brokers that leave Nagle's algorithm on (mosquitto's default) hold a small packet back until
/// their previous one is acknowledged. When we received a PUBACK and have nothing to send, Linux delays
/// our ACK by up to 40 ms, and the broker's next packet (the reply the application is waiting for) waits
/// that long too: a QoS 1 request/response took 44 ms instead of 0.1 ms. So after a turn that read a
/// packet or two and wrote nothing, the loop asks for this ACK now (`settle_acks` in the event loop);
/// under load there is almost always something to send, and the ACK rides on it for free.
pub(crate) fn quickack(fd: RawFd) {
    set_quickack(fd, 1);
    // Setting it sends the ACK that is due and leaves delayed-ACK ("pingpong") mode, after which Linux
    // acknowledges every small segment as soon as it is read; clearing it at once keeps the one ACK
    // and goes back to delayed ACKs, so that whether the next one is quick stays the loop's choice.
    set_quickack(fd, 0);
}

/// Clears TCP_QUICKACK (Linux; elsewhere nothing): the kernel goes back to delayed ACKs.
///
/// Why: with an ACK per read, a broker with Nagle on answers each ACK with one small segment: a wake-up
/// and a trip through the TCP stack per handful of messages, on both sides. With delayed ACKs it fills
/// its segments instead.
pub(crate) fn delayed_acks(fd: RawFd) {
    set_quickack(fd, 0);
}

#[cfg(target_os = "linux")]
fn set_quickack(fd: RawFd, on: libc::c_int) {
    // An invalid or closed fd makes this fail, which we ignore: the ACK is merely late.
    let _ = set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, on);
}

#[cfg(not(target_os = "linux"))]
fn set_quickack(_fd: RawFd, _on: i32) {}

/// setsockopt(2) of an `int`-valued option.
pub(crate) fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int that outlives the call and its size is passed with it; a bad
    // fd or option makes setsockopt fail with an error code, which is returned.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens a TCP connection to `host:port`, trying each resolved address in turn within `timeout` each
/// (zero: the system's own limit), with TCP_NODELAY (MQTT packets are small and latency matters, as in
/// Paho). The stream is left blocking: [`open`] makes it non-blocking once every layer is on.
pub(crate) fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_err = None;
    for addr in (host, port).to_socket_addrs()? {
        let attempt = if timeout.is_zero() {
            TcpStream::connect(addr)
        } else {
            TcpStream::connect_timeout(&addr, timeout)
        };
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no address to connect to"),
        )
    }))
}

/// What `poll` found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Ready {
    /// The socket has bytes (or EOF, or an error) to read.
    pub readable: bool,
    /// Another thread asked the loop to wake up.
    pub woken: bool,
}

/// Waits until the socket is readable (or writable, if `want_write`), the wake-up channel has a byte,
/// or `timeout` passes (`None`: no limit). An interrupted wait returns nothing ready.
pub(crate) fn poll(
    sock: RawFd,
    want_write: bool,
    wake: RawFd,
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let mut fds = [
        libc::pollfd {
            fd: sock,
            events: libc::POLLIN | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms: libc::c_int = match timeout {
        None => -1,
        // Round up, so a deadline 0.3 ms away does not turn into a busy loop of zero-length waits.
        Some(t) => t.as_micros().div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int,
    };
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
    })
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
        let r = poll(stream.raw_fd(), false, waker.fd(), Some(Duration::ZERO)).unwrap();
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
                if poll(fd, false, waker.fd(), Some(Duration::ZERO))
                    .unwrap()
                    .woken
                {
                    waker.clear();
                }
            }
            done.store(true, Ordering::Relaxed);
            threads.into_iter().for_each(|t| t.join().unwrap());
            if poll(fd, false, waker.fd(), Some(Duration::ZERO))
                .unwrap()
                .woken
            {
                waker.clear();
            }
            waker.wake();
            let r = poll(fd, false, waker.fd(), Some(Duration::from_secs(2))).unwrap();
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
            waker.fd(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(!r.readable && start.elapsed() < Duration::from_secs(1));
        server.write_all(&[0xd0, 0x00]).unwrap();
        let r = poll(
            stream.raw_fd(),
            false,
            waker.fd(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(r.readable);
    }

    #[test]
    fn connecting_to_a_closed_port_fails_at_once() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = connect_tcp("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
