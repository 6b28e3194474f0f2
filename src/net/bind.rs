//! A TCP connection from a chosen local address (Paho's `bind_address` and `bind_port`): the socket is
//! bound before it connects, which the standard library cannot do.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The C form of a socket address, for bind(2) and connect(2).
enum CAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl CAddr {
    fn new(addr: &SocketAddr) -> CAddr {
        match addr {
            SocketAddr::V4(a) => CAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(a) => CAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
        }
    }

    fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            CAddr::V4(a) => (
                (a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            CAddr::V6(a) => (
                (a as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Connects to `to` from `from`, within `timeout` (zero: the system's own limit). The stream is left
/// blocking, as `connect_tcp` leaves it.
pub(super) fn connect_from(
    to: &SocketAddr,
    from: &SocketAddr,
    timeout: Duration,
) -> io::Result<TcpStream> {
    if to.is_ipv4() != from.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bind_address {} cannot reach {to}", from.ip()),
        ));
    }
    let domain = if to.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: socket(2) takes no pointers; a negative result is turned into an error before the
    // descriptor is used, and OwnedFd then owns (and closes) the one it returned.
    #[allow(unsafe_code)]
    let fd = unsafe {
        let fd = check(libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        OwnedFd::from_raw_fd(fd)
    };
    let local = CAddr::new(from);
    let (ptr, len) = local.as_ptr();
    // SAFETY: `ptr` points to a sockaddr of `len` bytes that lives across the call.
    #[allow(unsafe_code)]
    check(unsafe { libc::bind(fd.as_raw_fd(), ptr, len) })?;
    let stream = TcpStream::from(fd);
    // Connect without blocking, then wait for it with poll(2) so that the timeout holds.
    stream.set_nonblocking(true)?;
    let remote = CAddr::new(to);
    let (ptr, len) = remote.as_ptr();
    // SAFETY: as for bind above.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::connect(stream.as_raw_fd(), ptr, len) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let wait = (!timeout.is_zero()).then_some(timeout);
        if !super::poll::wait_writable(stream.as_raw_fd(), wait)? {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {to} from {from} timed out"),
            ));
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_connection_comes_from_the_bound_address_and_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = listener.local_addr().unwrap();
        // A free port to bind to: taken, then released.
        let port = TcpListener::bind("127.0.0.2:0")
            .map(|l| l.local_addr().unwrap().port())
            .unwrap();
        let from: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        let stream = connect_from(&to, &from, Duration::from_secs(5)).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer, from);
        assert_eq!(stream.local_addr().unwrap(), from);
    }

    #[test]
    fn a_refused_connection_and_a_mismatched_family_are_errors() {
        let port = TcpListener::bind("127.0.0.1:0")
            .map(|l| l.local_addr().unwrap().port())
            .unwrap();
        let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let from: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let e = connect_from(&to, &from, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        let from6: SocketAddr = "[::1]:0".parse().unwrap();
        let e = connect_from(&to, &from6, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
