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
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::types::{Proxy, Transport};

pub(crate) use poll::{poll, wait_for_wake, Waker};

mod bind;
mod poll;
pub(crate) mod proxy;
pub(crate) mod srv;
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
    /// The local address and port to connect from (Paho's `bind_address`, `bind_port`): `None` to
    /// let the system choose; an empty address is any address, port 0 any port.
    pub bind: Option<(String, u16)>,
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
        None => connect_tcp_from(&target.host, target.port, timeout, target.bind.as_ref())?,
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
    connect_tcp_from(host, port, timeout, None)
}

/// [`connect_tcp`] from the local address `bind` (host or address, and port; see `Target::bind`),
/// taking for each broker address the local address of the same family.
fn connect_tcp_from(
    host: &str,
    port: u16,
    timeout: Duration,
    bind: Option<&(String, u16)>,
) -> io::Result<TcpStream> {
    let locals: Vec<SocketAddr> = match bind {
        None => Vec::new(),
        Some((addr, port)) if addr.is_empty() => vec![
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, *port)),
        ],
        Some((addr, port)) => (addr.as_str(), *port).to_socket_addrs()?.collect(),
    };
    let mut last_err = None;
    for addr in (host, port).to_socket_addrs()? {
        let attempt = if bind.is_some() {
            match locals.iter().find(|l| l.is_ipv4() == addr.is_ipv4()) {
                Some(local) => bind::connect_from(&addr, local, timeout),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("bind_address has no address of {addr}'s family"),
                )),
            }
        } else if timeout.is_zero() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
