//! Proxies for the tests, each recording what clients asked of it: a SOCKS proxy (SOCKS5 per RFC 1928 with
//! the RFC 1929 user name and password method, and SOCKS4/4a) and an HTTP proxy for the CONNECT method,
//! optionally asking for `Proxy-Authorization: Basic`. They only ever connect to loopback: a request for
//! any other destination is refused, so a test cannot reach the internet through them.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use super::server::{Server, Tracker};
use crate::common::WAIT;

/// A destination as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An IPv4 address (SOCKS5 address type 1, or SOCKS4).
    Ipv4(Ipv4Addr),
    /// A host name for the proxy to resolve (SOCKS5 address type 3, or SOCKS4a).
    Domain(String),
    /// An IPv6 address (SOCKS5 address type 4).
    Ipv6(Ipv6Addr),
}

/// One SOCKS handshake as the proxy saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocksRequest {
    /// 5 or 4.
    pub version: u8,
    /// The authentication methods a SOCKS5 client offered (0 none, 2 user name and password).
    pub methods: Vec<u8>,
    /// The user name and password a SOCKS5 client sent (RFC 1929); for SOCKS4, the user id and "".
    pub credentials: Option<(String, String)>,
    /// The destination and port asked for, once the request was read.
    pub target: Option<(Target, u16)>,
    /// Whether the proxy connected the client.
    pub granted: bool,
}

/// Each handshake is logged as it is read, before the proxy answers, so a client that has its answer
/// finds the handshake in the log.
type Log<T> = Arc<Mutex<Vec<Arc<Mutex<T>>>>>;

/// Adds a new entry to `log`.
fn new_entry<T: Default>(log: &Log<T>) -> Arc<Mutex<T>> {
    let entry = Arc::new(Mutex::new(T::default()));
    log.lock().unwrap().push(Arc::clone(&entry));
    entry
}

fn snapshot<T: Clone>(log: &Log<T>) -> Vec<T> {
    let log = log.lock().unwrap();
    log.iter().map(|e| e.lock().unwrap().clone()).collect()
}

/// A SOCKS4/4a/5 proxy on 127.0.0.1; stops on drop.
pub struct SocksProxy {
    server: Server,
    log: Log<SocksRequest>,
}

impl SocksProxy {
    /// Starts the proxy. With `auth`, SOCKS5 clients must use user name and password authentication with
    /// these credentials; without, they must offer "no authentication".
    pub fn start(auth: Option<(&str, &str)>) -> SocksProxy {
        let auth = auth.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let log = Log::default();
        let for_server = Arc::clone(&log);
        let server = Server::start("socks", move |client, tracker| {
            let request = new_entry(&for_server);
            let upstream = socks_handshake(&client, auth.as_ref(), &request, tracker)?;
            pipe(&client, &upstream);
            Ok(())
        });
        SocksProxy { server, log }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Every handshake so far, in order.
    pub fn requests(&self) -> Vec<SocksRequest> {
        snapshot(&self.log)
    }

    /// Cuts every connection it relays (both sides), as a network failure would; new connections are
    /// still accepted.
    pub fn drop_connections(&self) {
        self.server.drop_connections();
    }
}

/// Reads a SOCKS handshake from `client`, filling in `record` as it goes; answers it, and returns the
/// connection to the destination when it is granted.
fn socks_handshake(
    client: &TcpStream,
    auth: Option<&(String, String)>,
    record: &Mutex<SocksRequest>,
    tracker: &Tracker,
) -> Result<TcpStream, String> {
    let mut request = SocksRequest::default();
    let result = socks_exchange(client, auth, &mut request, record, tracker);
    *record.lock().unwrap() = request;
    result
}

fn socks_exchange(
    client: &TcpStream,
    auth: Option<&(String, String)>,
    request: &mut SocksRequest,
    record: &Mutex<SocksRequest>,
    tracker: &Tracker,
) -> Result<TcpStream, String> {
    let mut c = client;
    // Logs the handshake so far, then writes the answer.
    let answer = |c: &mut &TcpStream, request: &SocksRequest, bytes: &[u8]| {
        *record.lock().unwrap() = request.clone();
        write(c, bytes)
    };
    c.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    let [version, second] = read_array(&mut c)?;
    request.version = version;
    match version {
        5 => {
            request.methods = read_vec(&mut c, second.into())?;
            let method = match auth {
                Some(_) => 2,
                None => 0,
            };
            if !request.methods.contains(&method) {
                answer(&mut c, request, &[5, 0xff])?;
                return Err(format!("no acceptable method in {:?}", request.methods));
            }
            answer(&mut c, request, &[5, method])?;
            if let Some((user, password)) = auth {
                // RFC 1929: VER 1, ULEN, UNAME, PLEN, PASSWD.
                let [_ver, ulen] = read_array(&mut c)?;
                let got_user = read_string(&mut c, ulen.into())?;
                let [plen] = read_array(&mut c)?;
                let got_password = read_string(&mut c, plen.into())?;
                let ok = (&got_user, &got_password) == (user, password);
                request.credentials = Some((got_user, got_password));
                answer(&mut c, request, &[1, if ok { 0 } else { 1 }])?;
                if !ok {
                    return Err("wrong user name or password".into());
                }
            }
            let [_ver, command, _reserved, address_type] = read_array(&mut c)?;
            let target = match address_type {
                1 => Target::Ipv4(Ipv4Addr::from(read_array::<4>(&mut c)?)),
                3 => {
                    let [len] = read_array(&mut c)?;
                    Target::Domain(read_string(&mut c, len.into())?)
                }
                4 => Target::Ipv6(Ipv6Addr::from(read_array::<16>(&mut c)?)),
                other => return Err(format!("address type {other}")),
            };
            let port = u16::from_be_bytes(read_array(&mut c)?);
            request.target = Some((target.clone(), port));
            let reply =
                |code: u8| [&[5, code, 0, 1, 127, 0, 0, 1][..], &port.to_be_bytes()].concat();
            if command != 1 {
                answer(&mut c, request, &reply(7))?;
                return Err(format!("command {command} is not CONNECT"));
            }
            match connect_loopback(&target, port, tracker) {
                Ok(upstream) => {
                    request.granted = true;
                    answer(&mut c, request, &reply(0))?;
                    c.set_read_timeout(None).map_err(|e| e.to_string())?;
                    Ok(upstream)
                }
                Err(e) => {
                    // 2: connection not allowed by ruleset; 5: connection refused.
                    let code = if e.kind() == io::ErrorKind::PermissionDenied {
                        2
                    } else {
                        5
                    };
                    answer(&mut c, request, &reply(code))?;
                    Err(format!("connecting to {target:?}:{port}: {e}"))
                }
            }
        }
        4 => {
            // VN 4, CD, DSTPORT, DSTIP, USERID, NUL (and with SOCKS4a, for DSTIP 0.0.0.x, the host, NUL).
            let command = second;
            let port = u16::from_be_bytes(read_array(&mut c)?);
            let ip = read_array::<4>(&mut c)?;
            request.credentials = Some((read_until_nul(&mut c)?, String::new()));
            let target = if ip[..3] == [0, 0, 0] && ip[3] != 0 {
                Target::Domain(read_until_nul(&mut c)?)
            } else {
                Target::Ipv4(Ipv4Addr::from(ip))
            };
            request.target = Some((target.clone(), port));
            let reply = |code: u8| [&[0, code][..], &port.to_be_bytes(), &[127, 0, 0, 1]].concat();
            let upstream = match connect_loopback(&target, port, tracker) {
                Ok(upstream) if command == 1 => upstream,
                _ => {
                    answer(&mut c, request, &reply(0x5b))?;
                    return Err(format!(
                        "SOCKS4 request {command} for {target:?}:{port} refused"
                    ));
                }
            };
            request.granted = true;
            answer(&mut c, request, &reply(0x5a))?;
            c.set_read_timeout(None).map_err(|e| e.to_string())?;
            Ok(upstream)
        }
        other => Err(format!("SOCKS version {other}")),
    }
}

/// One CONNECT request as the HTTP proxy saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpConnect {
    /// The request line, for instance `CONNECT 127.0.0.1:1883 HTTP/1.1`.
    pub request_line: String,
    /// The request target (`host:port`).
    pub target: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Whether the proxy connected the client.
    pub granted: bool,
}

impl HttpConnect {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP proxy on 127.0.0.1 that serves CONNECT only; stops on drop.
pub struct HttpProxy {
    server: Server,
    log: Log<HttpConnect>,
}

impl HttpProxy {
    /// Starts the proxy. With `auth`, a request without `Proxy-Authorization: Basic` and these
    /// credentials gets 407.
    pub fn start(auth: Option<(&str, &str)>) -> HttpProxy {
        let expected =
            auth.map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        let log = Log::default();
        let for_server = Arc::clone(&log);
        let server = Server::start("http-proxy", move |client, tracker| {
            let record = new_entry(&for_server);
            let mut request = HttpConnect::default();
            let result = http_connect(&client, expected.as_deref(), &mut request, &record, tracker);
            *record.lock().unwrap() = request;
            pipe(&client, &result?);
            Ok(())
        });
        HttpProxy { server, log }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<HttpConnect> {
        snapshot(&self.log)
    }

    /// Cuts every connection it relays (both sides), as a network failure would; new connections are
    /// still accepted.
    pub fn drop_connections(&self) {
        self.server.drop_connections();
    }
}

fn http_connect(
    client: &TcpStream,
    expected_auth: Option<&str>,
    request: &mut HttpConnect,
    record: &Mutex<HttpConnect>,
    tracker: &Tracker,
) -> Result<TcpStream, String> {
    let mut c = client;
    c.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    let head = read_head(&mut c)?;
    let mut lines = head.split("\r\n");
    request.request_line = lines.next().unwrap_or_default().to_owned();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(format!("header {line:?}"))?;
        request
            .headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut parts = request.request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    request.target = target.to_owned();
    // Logged before any answer, so a client that has its answer finds its request in the log.
    *record.lock().unwrap() = request.clone();
    let refuse = |c: &mut &TcpStream, status: &str, extra: &str| {
        write(
            c,
            format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n").as_bytes(),
        )
    };
    if method != "CONNECT" {
        refuse(&mut c, "405 Method Not Allowed", "")?;
        return Err(format!("method {method}"));
    }
    if let Some(expected) = expected_auth {
        if request.header("proxy-authorization") != Some(expected) {
            let challenge = "Proxy-Authenticate: Basic realm=\"pahoish tests\"\r\n";
            refuse(&mut c, "407 Proxy Authentication Required", challenge)?;
            return Err("missing or wrong Proxy-Authorization".into());
        }
    }
    let Some((host, port)) = target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    else {
        refuse(&mut c, "400 Bad Request", "")?;
        return Err(format!("target {target:?}"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let destination = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => Target::Ipv4(ip),
        Ok(std::net::IpAddr::V6(ip)) => Target::Ipv6(ip),
        Err(_) => Target::Domain(host.to_owned()),
    };
    match connect_loopback(&destination, port, tracker) {
        Ok(upstream) => {
            request.granted = true;
            *record.lock().unwrap() = request.clone();
            write(&mut c, b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            c.set_read_timeout(None).map_err(|e| e.to_string())?;
            Ok(upstream)
        }
        Err(e) => {
            refuse(&mut c, "502 Bad Gateway", "")?;
            Err(format!("connecting to {target}: {e}"))
        }
    }
}

/// Connects to `target`:`port` if it is this machine (loopback, or `localhost`), always through
/// 127.0.0.1, where the test brokers listen. Anything else is refused with `PermissionDenied`.
fn connect_loopback(target: &Target, port: u16, tracker: &Tracker) -> io::Result<TcpStream> {
    let local = match target {
        Target::Ipv4(ip) => ip.is_loopback(),
        Target::Ipv6(ip) => ip.is_loopback(),
        Target::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    };
    if !local {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the test proxies only connect to loopback",
        ));
    }
    let upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    tracker.track(&upstream)?;
    Ok(upstream)
}

/// Relays bytes both ways until both directions have ended, passing on each end of stream.
pub fn pipe(a: &TcpStream, b: &TcpStream) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    thread::scope(|s| {
        s.spawn(|| {
            let _ = io::copy(&mut &*a, &mut &*b);
            let _ = b.shutdown(Shutdown::Write);
        });
        let _ = io::copy(&mut &*b, &mut &*a);
        let _ = a.shutdown(Shutdown::Write);
    });
}

/// Reads an HTTP request or response head (up to the blank line), byte by byte so that nothing after it
/// is consumed.
pub fn read_head(stream: &mut impl Read) -> Result<String, String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err("head over 16 KiB".into());
        }
        let [byte] = read_array(stream)?;
        head.push(byte);
    }
    head.truncate(head.len() - 4);
    String::from_utf8(head).map_err(|_| "head is not UTF-8".into())
}

fn read_array<const N: usize>(stream: &mut impl Read) -> Result<[u8; N], String> {
    let mut buf = [0u8; N];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("reading: {e}"))?;
    Ok(buf)
}

fn read_vec(stream: &mut impl Read, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("reading: {e}"))?;
    Ok(buf)
}

fn read_string(stream: &mut impl Read, len: usize) -> Result<String, String> {
    String::from_utf8(read_vec(stream, len)?).map_err(|_| "not UTF-8".into())
}

fn read_until_nul(stream: &mut impl Read) -> Result<String, String> {
    let mut bytes = Vec::new();
    loop {
        match read_array(stream)? {
            [0] => break,
            [b] => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8".into())
}

fn write(stream: &mut impl Write, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).map_err(|e| format!("writing: {e}"))
}

/// Standard base64 with padding (RFC 4648), for `Proxy-Authorization: Basic`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_examples() {
    // RFC 7617, 2: the Basic credentials of Aladdin.
    assert_eq!(
        base64(b"Aladdin:open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    // RFC 4648, 10.
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b""), "");
}
