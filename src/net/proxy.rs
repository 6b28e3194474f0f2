//! Reaching the broker through a proxy: SOCKS4/4a, SOCKS5 (RFC 1928, with RFC 1929 user name and
//! password) and HTTP CONNECT, spoken on the plain TCP socket before TLS or the websocket upgrade; and
//! Paho's `mqtt_proxy` environment variable.
//!
//! Each handshake reads exactly the proxy's answer and no further, so whatever the broker sends next
//! stays in the socket for the layers above.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::connect_tcp;
use crate::error::{Error, Result};
use crate::types::{Proxy, ProxyType};

/// Connects to `host:port` through `proxy`. The stream returned is blocking, with no timeouts set.
pub(crate) fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream> {
    let mut stream = connect_tcp(&proxy.proxy_addr, proxy.port(), timeout).map_err(|e| {
        Error::proxy(
            format!(
                "cannot reach the proxy at {}:{}: {e}",
                proxy.proxy_addr,
                proxy.port()
            ),
            Some(e.into()),
        )
    })?;
    let bound = (!timeout.is_zero()).then_some(timeout);
    stream.set_read_timeout(bound)?;
    stream.set_write_timeout(bound)?;
    let r = match proxy.proxy_type {
        ProxyType::Socks5 => socks5(&mut stream, proxy, host, port),
        ProxyType::Socks4 => socks4(&mut stream, proxy, host, port),
        ProxyType::Http => http_connect(&mut stream, proxy, host, port),
    };
    r.map_err(|e| match e {
        Error::Io(io) if is_timeout(&io) => Error::proxy(
            format!(
                "the proxy at {}:{} did not answer within {timeout:?}",
                proxy.proxy_addr,
                proxy.port()
            ),
            Some(io.into()),
        ),
        Error::Io(io) => Error::proxy(
            format!(
                "the proxy at {}:{} failed: {io}",
                proxy.proxy_addr,
                proxy.port()
            ),
            Some(io.into()),
        ),
        other => other,
    })?;
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(stream)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The broker's address as the proxy should get it: the name itself when the proxy resolves names
/// (`proxy_rdns`), else an address resolved here.
enum Dest {
    Name(String),
    Ip(IpAddr),
}

fn destination(proxy: &Proxy, host: &str, port: u16) -> Result<Dest> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Dest::Ip(ip));
    }
    if proxy.proxy_rdns {
        return Ok(Dest::Name(host.to_owned()));
    }
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))?;
    Ok(Dest::Ip(addr.ip()))
}

fn refused(proxy: &Proxy, what: impl std::fmt::Display) -> Error {
    Error::proxy(
        format!("the proxy at {}:{} {what}", proxy.proxy_addr, proxy.port()),
        None,
    )
}

/// SOCKS5, RFC 1928; user name and password by RFC 1929 when a user name is given.
fn socks5<S: Read + Write>(s: &mut S, proxy: &Proxy, host: &str, port: u16) -> Result<()> {
    let auth = proxy.proxy_username.as_deref().map(|user| {
        (
            user.as_bytes(),
            proxy.proxy_password.as_deref().unwrap_or("").as_bytes(),
        )
    });
    // Greeting: version 5, then the methods we offer: 0 (none) and, with credentials, 2 (user/pass).
    if auth.is_some() {
        s.write_all(&[5, 2, 0x00, 0x02])?;
    } else {
        s.write_all(&[5, 1, 0x00])?;
    }
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice)?;
    if choice[0] != 5 {
        return Err(refused(proxy, "does not speak SOCKS5"));
    }
    match (choice[1], auth) {
        (0x00, _) => {}
        (0x02, Some((user, pass))) => {
            if user.len() > 255 || pass.len() > 255 {
                return Err(Error::invalid(
                    "proxy_username",
                    "SOCKS5 user names and passwords are at most 255 bytes",
                ));
            }
            let mut req = Vec::with_capacity(3 + user.len() + pass.len());
            req.push(1);
            req.push(user.len() as u8);
            req.extend_from_slice(user);
            req.push(pass.len() as u8);
            req.extend_from_slice(pass);
            s.write_all(&req)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status)?;
            if status[1] != 0 {
                return Err(refused(proxy, "rejected the user name and password"));
            }
        }
        (0xff, _) | (0x02, None) => return Err(refused(
            proxy,
            "accepts none of our authentication methods (give proxy_username and proxy_password?)",
        )),
        (m, _) => return Err(refused(proxy, format!("chose unknown method {m:#04x}"))),
    }
    // Request: CONNECT (1) to the destination.
    let mut req = vec![5, 1, 0];
    match destination(proxy, host, port)? {
        Dest::Ip(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Dest::Ip(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Dest::Name(name) => {
            if name.len() > 255 {
                return Err(Error::invalid(
                    "host",
                    "over 255 bytes, too long for SOCKS5",
                ));
            }
            req.push(3);
            req.push(name.len() as u8);
            req.extend_from_slice(name.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req)?;
    // Reply: version, status, reserved, then the bound address (read and dropped).
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown error",
        };
        return Err(refused(
            proxy,
            format!("could not connect to {host}:{port}: {why}"),
        ));
    }
    let skip = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len)?;
            usize::from(len[0])
        }
        t => return Err(refused(proxy, format!("answered with address type {t}"))),
    };
    let mut rest = vec![0u8; skip + 2];
    s.read_exact(&mut rest)?;
    Ok(())
}

/// SOCKS4, or SOCKS4a (the proxy resolves the name) when the destination is a name.
fn socks4<S: Read + Write>(s: &mut S, proxy: &Proxy, host: &str, port: u16) -> Result<()> {
    let mut req = vec![4, 1];
    req.extend_from_slice(&port.to_be_bytes());
    let name = match destination(proxy, host, port)? {
        Dest::Ip(IpAddr::V4(ip)) => {
            req.extend_from_slice(&ip.octets());
            None
        }
        Dest::Ip(IpAddr::V6(_)) => {
            return Err(refused(
                proxy,
                "is SOCKS4, which cannot reach IPv6 addresses",
            ))
        }
        Dest::Name(name) => {
            // 0.0.0.x with x != 0 tells a SOCKS4a proxy that the name follows the user id.
            req.extend_from_slice(&[0, 0, 0, 1]);
            Some(name)
        }
    };
    req.extend_from_slice(proxy.proxy_username.as_deref().unwrap_or("").as_bytes());
    req.push(0);
    if let Some(name) = name {
        req.extend_from_slice(name.as_bytes());
        req.push(0);
    }
    s.write_all(&req)?;
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply)?;
    match reply[1] {
        90 => Ok(()),
        91 => Err(refused(
            proxy,
            format!("refused the connection to {host}:{port}"),
        )),
        92 | 93 => Err(refused(proxy, "could not check our user id (identd)")),
        c => Err(refused(proxy, format!("answered with unknown code {c}"))),
    }
}

/// HTTP CONNECT (RFC 9110, 9.3.6), with Basic authentication when a user name is given.
fn http_connect<S: Read + Write>(s: &mut S, proxy: &Proxy, host: &str, port: u16) -> Result<()> {
    let authority = super::authority(host, port);
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = &proxy.proxy_username {
        let pass = proxy.proxy_password.as_deref().unwrap_or("");
        let token = base64(format!("{user}:{pass}").as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    // The answer's head, a byte at a time: reading further could swallow the broker's first bytes.
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(refused(proxy, "sent an answer head over 16 KiB"));
        }
        if s.read(&mut byte)? == 0 {
            return Err(refused(
                proxy,
                "closed the connection before answering CONNECT",
            ));
        }
        head.push(byte[0]);
    }
    let status_line =
        String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or(&[])).into_owned();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(refused(
            proxy,
            format!("is not an HTTP proxy: {status_line:?}"),
        ));
    }
    if !code.starts_with('2') || code.len() != 3 {
        return Err(refused(
            proxy,
            format!("refused CONNECT {authority}: {status_line}"),
        ));
    }
    Ok(())
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The proxy the environment asks for, as Paho reads it: `mqtt_proxy` (or `MQTT_PROXY`; the lower-case
/// one wins, as in Python's `urllib`), a URL `http://[user:pass@]host[:port]` or
/// `socks://[user:pass@]host[:port]` (SOCKS5; `socks5://`, `socks5h://` and `socks4://` also work here),
/// unless `no_proxy`/`NO_PROXY` lists the broker's host.
pub(crate) fn from_env(host: &str) -> Result<Option<Proxy>> {
    let value = std::env::var("mqtt_proxy")
        .or_else(|_| std::env::var("MQTT_PROXY"))
        .ok()
        .filter(|v| !v.trim().is_empty());
    let Some(value) = value else {
        return Ok(None);
    };
    let no_proxy = std::env::var("no_proxy")
        .or_else(|_| std::env::var("NO_PROXY"))
        .unwrap_or_default();
    if bypassed(host, &no_proxy) {
        return Ok(None);
    }
    // The value is not quoted in the error: it may hold the proxy's password.
    parse_proxy_url(value.trim()).map(Some).map_err(|why| {
        Error::invalid(
            "mqtt_proxy",
            format!("the environment variable is not a proxy URL: {why}"),
        )
    })
}

/// Whether `no_proxy` (comma-separated host names, domain suffixes like `.example.com` or
/// `example.com`, `host:port` entries, or `*`) exempts `host`.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        let entry = entry.rsplit_once(':').map_or(entry.as_str(), |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                entry.as_str()
            }
        });
        let entry = entry.trim_start_matches('.');
        !entry.is_empty()
            && (host == entry
                || host
                    .strip_suffix(entry)
                    .is_some_and(|rest| rest.ends_with('.')))
    })
}

/// A proxy from a URL: `http://`, `socks://` or `socks5h://` (SOCKS5, the proxy resolving names),
/// `socks5://` (SOCKS5, resolving here), `socks4a://` and `socks4://`, each `[user[:pass]@]host[:port]`;
/// what Paho's `mqtt_proxy` environment variable takes and `Proxy::from_str` parses.
///
/// The error never quotes the URL, which may hold a password.
impl std::str::FromStr for Proxy {
    type Err = Error;

    fn from_str(url: &str) -> Result<Proxy> {
        parse_proxy_url(url).map_err(|why| Error::invalid("proxy", why))
    }
}

/// A proxy from a URL like `socks5://user:pass@host:1080`; the error says what is wrong, without the
/// URL.
fn parse_proxy_url(value: &str) -> std::result::Result<Proxy, String> {
    let url = super::url::Url::parse(value)?;
    let (proxy_type, rdns) = match url.scheme.as_str() {
        "http" => (ProxyType::Http, true),
        "socks" | "socks5h" => (ProxyType::Socks5, true),
        "socks5" => (ProxyType::Socks5, false),
        "socks4a" => (ProxyType::Socks4, true),
        "socks4" => (ProxyType::Socks4, false),
        other => {
            return Err(format!(
            "unknown scheme {other:?} (use http://, socks://, socks5://, socks5h:// or socks4://)"
        ))
        }
    };
    if url.host.is_empty() {
        return Err("no host".into());
    }
    Ok(Proxy {
        proxy_type,
        proxy_addr: url.host,
        proxy_port: url.port,
        proxy_rdns: rdns,
        proxy_password: url.password,
        proxy_username: Some(url.user).filter(|u| !u.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A scripted proxy: what it answers, and what the client wrote to it.
    struct Script {
        answer: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Script {
        fn new(answer: &[u8]) -> Script {
            Script {
                answer: Cursor::new(answer.to_vec()),
                written: Vec::new(),
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.answer.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn proxy(kind: ProxyType) -> Proxy {
        Proxy::new(kind, "proxy.test")
    }

    #[test]
    fn socks5_without_credentials_sends_the_name_when_the_proxy_resolves() {
        let mut s = Script::new(&[
            0x05, 0x00, // version 5, method 0: no authentication
            0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1, 0x1f,
            0x90, // succeeded, bound to 127.0.0.1:8080
            0x20, // the broker's first byte (CONNACK), which must stay unread
        ]);
        socks5(&mut s, &proxy(ProxyType::Socks5), "broker.test", 1883).unwrap();
        assert_eq!(
            s.written,
            [
                &[0x05, 0x01, 0x00][..],       // version 5, one method: none
                &[0x05, 0x01, 0x00, 0x03, 11], // CONNECT, reserved, a domain name of 11 bytes
                b"broker.test",
                &[0x07, 0x5b], // port 1883
            ]
            .concat()
        );
        assert_eq!(s.answer.position(), 12, "read exactly the proxy's answer");
    }

    #[test]
    fn socks5_with_credentials_and_an_address() {
        let mut p = proxy(ProxyType::Socks5);
        p.proxy_username = Some("me".into());
        p.proxy_password = Some("pw".into());
        let mut s = Script::new(&[
            0x05, 0x02, // method 2: user name and password
            0x01, 0x00, // RFC 1929: success
            0x05, 0x00, 0x00, 0x03, 2, b'h', b'x', 0x00, 0x01, // succeeded, bound to a name
        ]);
        socks5(&mut s, &p, "10.1.2.3", 1883).unwrap();
        assert_eq!(
            s.written,
            [
                &[0x05, 0x02, 0x00, 0x02][..],         // two methods: none, user/pass
                &[0x01, 2, b'm', b'e', 2, b'p', b'w'], // RFC 1929 request
                &[0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x07, 0x5b], // CONNECT to an IPv4 address
            ]
            .concat()
        );
        assert_eq!(s.answer.position(), 13);
    }

    #[test]
    fn socks5_failures_name_the_reason() {
        let e = socks5(
            &mut Script::new(&[0x05, 0xff]),
            &proxy(ProxyType::Socks5),
            "b",
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("authentication methods"), "{e}");
        let mut p = proxy(ProxyType::Socks5);
        p.proxy_username = Some("me".into());
        let e = socks5(&mut Script::new(&[0x05, 0x02, 0x01, 0x01]), &p, "b", 1).unwrap_err();
        assert!(e.to_string().contains("rejected the user name"), "{e}");
        let e = socks5(
            &mut Script::new(&[0x05, 0x00, 0x05, 0x05, 0x00, 0x01]),
            &proxy(ProxyType::Socks5),
            "b",
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("connection refused"), "{e}");
        let e = socks5(
            &mut Script::new(&[0x04, 0x00]),
            &proxy(ProxyType::Socks5),
            "b",
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not speak SOCKS5"), "{e}");
        // A proxy that hangs up mid-answer is an I/O error, not a panic.
        let e = socks5(&mut Script::new(&[0x05]), &proxy(ProxyType::Socks5), "b", 1).unwrap_err();
        assert!(matches!(e, Error::Io(_)), "{e}");
    }

    #[test]
    fn socks4a_sends_the_name_after_the_user_id() {
        let mut p = proxy(ProxyType::Socks4);
        p.proxy_username = Some("u".into());
        let mut s = Script::new(&[0x00, 90, 0, 0, 0, 0, 0, 0]);
        socks4(&mut s, &p, "b.test", 1883).unwrap();
        assert_eq!(
            s.written,
            [
                &[0x04, 0x01, 0x07, 0x5b, 0, 0, 0, 1][..], // CONNECT, port, 0.0.0.1: a name follows
                b"u\0b.test\0",
            ]
            .concat()
        );
        let e = socks4(&mut Script::new(&[0, 91, 0, 0, 0, 0, 0, 0]), &p, "b", 1).unwrap_err();
        assert!(e.to_string().contains("refused"), "{e}");
    }

    #[test]
    fn http_connect_with_basic_credentials_reads_only_the_answer_head() {
        let mut p = proxy(ProxyType::Http);
        p.proxy_username = Some("Aladdin".into());
        p.proxy_password = Some("open sesame".into());
        let answer = b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n\x20\x02";
        let mut s = Script::new(answer);
        http_connect(&mut s, &p, "broker.test", 8883).unwrap();
        assert_eq!(
            String::from_utf8(s.written).unwrap(),
            "CONNECT broker.test:8883 HTTP/1.1\r\nHost: broker.test:8883\r\n\
             Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
        assert_eq!(s.answer.position() as usize, answer.len() - 2);
    }

    #[test]
    fn http_connect_refusals_carry_the_status_line() {
        let e = http_connect(
            &mut Script::new(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            &proxy(ProxyType::Http),
            "::1",
            1883,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("407 Proxy Authentication Required"),
            "{e}"
        );
        assert!(e.to_string().contains("[::1]:1883"), "{e}");
        let e = http_connect(
            &mut Script::new(b"SSH-2.0-OpenSSH\r\n\r\n"),
            &proxy(ProxyType::Http),
            "b",
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not an HTTP proxy"), "{e}");
        let e = http_connect(
            &mut Script::new(b"HTTP/1.1 200"),
            &proxy(ProxyType::Http),
            "b",
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("closed the connection"), "{e}");
    }

    #[test]
    fn base64_pads_like_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn proxy_urls() {
        let p = parse_proxy_url("socks://me:p%40ss@127.0.0.1:1081").unwrap();
        assert_eq!(p.proxy_type, ProxyType::Socks5);
        assert_eq!(
            (p.proxy_addr.as_str(), p.proxy_port, p.proxy_rdns),
            ("127.0.0.1", Some(1081), true)
        );
        assert_eq!(
            (p.proxy_username.as_deref(), p.proxy_password.as_deref()),
            (Some("me"), Some("p@ss"))
        );
        let p = parse_proxy_url("http://[::1]").unwrap();
        assert_eq!(
            (p.proxy_type, p.proxy_addr.as_str(), p.port()),
            (ProxyType::Http, "::1", 8080)
        );
        assert!(parse_proxy_url("ftp://h")
            .unwrap_err()
            .contains("unknown scheme"));
        assert!(parse_proxy_url("h:1080").is_err());
    }

    #[test]
    fn an_unreachable_proxy_is_a_proxy_error_that_keeps_the_io_error() {
        use std::error::Error as _;
        // A port nothing listens on: bound, then closed again.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let p = Proxy {
            proxy_port: Some(port),
            ..Proxy::new(ProxyType::Socks5, "127.0.0.1")
        };
        let e = connect(&p, "broker", 1883, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, Error::Proxy { .. }), "{e:?}");
        let io = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(
            io.map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );
    }

    #[test]
    fn proxy_from_str_and_its_errors_keep_the_password_out() {
        let p: Proxy = "socks5h://me:s3cret@127.0.0.1".parse().unwrap();
        assert_eq!(
            (p.port(), p.proxy_password.as_deref()),
            (1080, Some("s3cret"))
        );
        for bad in [
            "ftp://me:s3cret@h",
            "socks5://me:s3cret@",
            "http://me:s3cret@h:99999",
        ] {
            let e = bad.parse::<Proxy>().unwrap_err();
            assert!(!format!("{e} {e:?}").contains("s3cret"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn no_proxy_matches_hosts_and_domain_suffixes() {
        assert!(bypassed("anything", "*"));
        assert!(bypassed("broker.example.com", "other, .example.com"));
        assert!(bypassed("broker.example.com", "example.com"));
        assert!(bypassed("Broker", "broker:1883"));
        assert!(!bypassed("badexample.com", "example.com"));
        assert!(!bypassed("broker", ""));
    }
}
