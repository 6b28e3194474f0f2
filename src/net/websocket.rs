//! MQTT over WebSockets (tungstenite): the upgrade, then MQTT bytes carried in binary messages.
//!
//! The loop sees a byte stream, as over TCP: reads hand out the payloads of binary messages in order
//! (an MQTT packet may span messages, and a message may hold several packets; the loop's framer does
//! not care), and each write goes out as one binary message. tungstenite answers pings itself. It also
//! reads ahead and buffers frames, which `poll` cannot see, so the stream says a short read does not
//! mean drained (the loop reads on until `WouldBlock`); and when the socket is full a written message
//! may wait in its buffer, so the stream asks the loop to flush it once the socket is writable.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Bytes, Message, WebSocket};

use super::{NetStream, Target};
use crate::error::{Error, Result};
use crate::packet::MAX_REMAINING_LENGTH;

/// What the websocket layer can sit on: TCP, or TLS over TCP.
pub(crate) trait Socket: Read + Write + AsRawFd + Send + fmt::Debug + 'static {}
impl<S: Read + Write + AsRawFd + Send + fmt::Debug + 'static> Socket for S {}

/// The largest binary message one write sends; the loop writes the rest in the next call.
const MAX_WRITE: usize = 1024 * 1024;

/// The largest frame or message accepted: one MQTT packet of the largest size, fixed header included.
const MAX_MESSAGE: usize = MAX_REMAINING_LENGTH + 5;

/// Runs a call into tungstenite, turning a panic in it into an error: the loop then closes the
/// connection and reports it, where an unwinding network thread would leave the client hung.
fn guarded<T>(what: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let why = crate::completion::panic_message(p.as_ref());
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("websocket {what} failed: {why}"),
        ))
    })
}

/// Upgrades the blocking `stream` to a websocket with the `mqtt` subprotocol.
///
/// The request is written here rather than by tungstenite, to send it as Paho does: `Host` without the
/// port when it is the scheme's default, an `Origin`, and the user's header names in the case the user
/// wrote them (tungstenite's request type lower-cases them). A server that answers without a
/// `Sec-WebSocket-Protocol` header is accepted, as Paho and RFC 6455 (4.1) allow; one that names a
/// subprotocol we did not offer is not.
pub(crate) fn handshake<S: Socket>(
    target: &Target,
    mut stream: S,
    timeout: Duration,
) -> Result<WsStream<S>> {
    let tls = target.tls.is_some();
    let scheme = if tls { "wss" } else { "ws" };
    let uri = format!(
        "{scheme}://{}{}",
        super::authority(&target.host, target.port),
        target.ws_path
    );
    let headers = request_headers(target, tls, &tungstenite::handshake::client::generate_key())?;
    let timed_out = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the websocket upgrade at {uri} did not finish within {timeout:?}"),
            ))
        } else {
            Error::Io(e)
        }
    };
    stream
        .write_all(request_text(&target.ws_path, &headers).as_bytes())
        .and_then(|()| stream.flush())
        .map_err(timed_out)?;
    let (head, rest) = read_head(&mut stream).map_err(|e| match e {
        Head::Io(e) => timed_out(e),
        Head::Broken(why) => Error::websocket(format!("the upgrade at {uri} failed: {why}"), None),
    })?;
    check_response(&head, &headers)
        .map_err(|why| Error::websocket(format!("the server at {uri} {why}"), None))?;
    // A frame or message may hold at most one largest MQTT packet. tungstenite checks a frame's
    // declared length against this before it allocates, so a hostile length is an error rather than
    // an allocation of that size (or a panic: "capacity overflow"), and so is a message assembled
    // from fragments that never ends.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let fd = stream.as_raw_fd();
    // Whatever the server sent after its answer's head is the start of the websocket stream.
    let ws = WebSocket::from_partially_read(stream, rest, Role::Client, Some(config));
    Ok(WsStream {
        ws,
        fd,
        pending: Bytes::new(),
        unflushed: false,
    })
}

/// The upgrade request's headers, in order: Paho's (`Host`, `Upgrade`, `Connection`, `Origin`,
/// `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol`), then the user's. A user's
/// header with the name of one of ours (in any case) takes its place, under the user's spelling, as a
/// Python dict's `update` does in Paho.
fn request_headers(target: &Target, tls: bool, key: &str) -> Result<Vec<(String, String)>> {
    let default_port = if tls { 443 } else { 80 };
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let host_port = if target.port == default_port {
        host
    } else {
        format!("{host}:{}", target.port)
    };
    let origin = format!("{}://{host_port}", if tls { "https" } else { "http" });
    let mut headers: Vec<(String, String)> = [
        ("Host", host_port),
        ("Upgrade", "websocket".to_owned()),
        ("Connection", "Upgrade".to_owned()),
        ("Origin", origin),
        ("Sec-WebSocket-Key", key.to_owned()),
        ("Sec-WebSocket-Version", "13".to_owned()),
        ("Sec-WebSocket-Protocol", "mqtt".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for (name, value) in &target.ws_headers {
        // ws_set_options checked them; checked again, since a line break here would split the request.
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err()
        {
            return Err(Error::invalid("headers", format!("bad header {name:?}")));
        }
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(ours) => *ours = (name.clone(), value.clone()),
            None => headers.push((name.clone(), value.clone())),
        }
    }
    Ok(headers)
}

/// The request as it goes on the wire.
fn request_text(path: &str, headers: &[(String, String)]) -> String {
    let mut text = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(name);
        text.push_str(": ");
        text.push_str(value);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

/// Why reading the answer's head failed.
#[derive(Debug)]
enum Head {
    Io(io::Error),
    Broken(&'static str),
}

/// Reads the server's answer up to the blank line ending its head; returns the head and whatever was
/// read after it.
fn read_head<S: Read>(stream: &mut S) -> std::result::Result<(String, Vec<u8>), Head> {
    const MAX_HEAD: usize = 16 * 1024;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(Head::Broken(
                    "the server closed the connection before answering",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Head::Io(e)),
        };
        // Where to look for the end: from just before the new bytes, in case it straddles two reads.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + i + 4;
            let rest = buf.split_off(end);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(Head::Broken("the server's answer has a head over 16 KiB"));
        }
    }
}

/// Checks the server's answer against the request (RFC 6455, 4.1): status 101, `Upgrade: websocket`,
/// `Connection: Upgrade`, the key's digest in `Sec-WebSocket-Accept`, and no subprotocol but one we
/// offered. The error completes "the server at URL ...".
fn check_response(head: &str, request: &[(String, String)]) -> std::result::Result<(), String> {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("did not answer in HTTP: {status:?}"));
    }
    if code != "101" {
        let status = status.strip_prefix(version).unwrap_or(status).trim();
        return Err(format!("refused the upgrade: HTTP {status}"));
    }
    let fields: Vec<(&str, &str)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let sent = |name: &str| {
        request
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    };
    if !field("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err("answered 101 without \"Upgrade: websocket\"".into());
    }
    let upgrade = |v: &str| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    };
    if !field("Connection").is_some_and(upgrade) {
        return Err("answered 101 without \"Connection: Upgrade\"".into());
    }
    let expected = tungstenite::handshake::derive_accept_key(sent("Sec-WebSocket-Key").as_bytes());
    if field("Sec-WebSocket-Accept") != Some(expected.as_str()) {
        return Err("answered with a wrong or missing Sec-WebSocket-Accept".into());
    }
    if let Some(chosen) = field("Sec-WebSocket-Protocol") {
        let offered = sent("Sec-WebSocket-Protocol");
        if !offered.split(',').any(|p| p.trim() == chosen) {
            return Err(format!(
                "chose the subprotocol {chosen:?}, which we did not offer ({offered:?})"
            ));
        }
    }
    Ok(())
}

/// A websocket carrying MQTT, for the loop.
pub(crate) struct WsStream<S: Socket> {
    ws: WebSocket<S>,
    fd: RawFd,
    /// What is left of the last binary message read.
    pending: Bytes,
    /// A message is in tungstenite's buffer, not yet on the socket.
    unflushed: bool,
}

impl<S: Socket> fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsStream")
            .field("fd", &self.fd)
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// tungstenite's errors as the loop understands them: `WouldBlock` as such, a closed websocket as
/// end of stream (`Ok(0)` from a read), anything else as an error.
fn io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the websocket was closed")
        }
        other => io::Error::new(io::ErrorKind::InvalidData, format!("websocket: {other}")),
    }
}

impl<S: Socket> Read for WsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        guarded("read", || self.read_unguarded(buf))
    }
}

impl<S: Socket> WsStream<S> {
    fn read_unguarded(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.ws.read() {
                Ok(Message::Binary(data)) => self.pending = data,
                // Pings are answered by tungstenite; pongs and empty frames carry nothing for us.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the broker sent a websocket text message; MQTT travels in binary ones",
                    ))
                }
                // The peer closes: tungstenite queues our close reply; the next read reports the end.
                Ok(Message::Close(_)) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(0)
                }
                Err(e) => return Err(io_error(e)),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        let _ = self.pending.split_to(n);
        Ok(n)
    }
}

impl<S: Socket> Write for WsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        guarded("write", || self.write_unguarded(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        guarded("flush", || {
            self.ws.flush().map_err(io_error)?;
            self.unflushed = false;
            Ok(())
        })
    }
}

impl<S: Socket> WsStream<S> {
    fn write_unguarded(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.unflushed {
            // Nothing new until the last message is on the socket: the loop keeps the rest.
            self.flush()?;
        }
        let n = buf.len().min(MAX_WRITE).min(MAX_REMAINING_LENGTH);
        match self
            .ws
            .write(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
        {
            // A WouldBlock here comes after the message was buffered: it counts as written.
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(io_error(e)),
        }
        match self.ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unflushed = true;
            }
            Err(e) => return Err(io_error(e)),
        }
        Ok(n)
    }
}

impl<S: Socket> NetStream for WsStream<S> {
    fn raw_fd(&self) -> RawFd {
        self.fd
    }

    fn short_read_drains(&self) -> bool {
        false
    }

    fn wants_flush(&self) -> bool {
        self.unflushed
    }

    fn error(&self, e: io::Error) -> Error {
        match e.kind() {
            // A text message, a bad frame: the broker broke the websocket protocol.
            io::ErrorKind::InvalidData => Error::Protocol {
                reason: e.to_string(),
                source: Some(e.into()),
            },
            _ => Error::Io(e),
        }
    }

    fn close(&mut self) {
        let _ = self.ws.close(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Transport;
    use std::net::{TcpListener, TcpStream};
    use tungstenite::handshake::server::{Request, Response};

    /// A websocket server on loopback that accepts the upgrade with the `mqtt` subprotocol and then
    /// writes `raw` bytes as they are (a hostile frame); returns the client's stream.
    fn client_facing(raw: &'static [u8]) -> (WsStream<TcpStream>, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().unwrap();
            // tungstenite's callback type returns its large error response by value.
            #[allow(clippy::result_large_err)]
            let accept = |_: &Request, mut response: Response| {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
                Ok(response)
            };
            let mut ws = tungstenite::accept_hdr(sock, accept).unwrap();
            ws.get_mut().write_all(raw).unwrap();
            // Keep the socket open until the client gave up on the frame.
            let _ = ws.read();
        });
        let target = Target {
            transport: Transport::Websockets,
            ws: None,
            host: "127.0.0.1".into(),
            port,
            tls: None,
            ws_path: "/mqtt".into(),
            ws_headers: Vec::new(),
            proxy: None,
            bind: None,
        };
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let ws = handshake(&target, tcp, Duration::from_secs(10)).unwrap();
        (ws, server)
    }

    #[test]
    fn a_frame_claiming_more_than_an_mqtt_packet_is_an_error_not_a_panic_or_an_allocation() {
        for raw in [
            // A binary frame claiming 2^63 - 1 bytes: tungstenite panicked ("capacity overflow").
            &[0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            // 2^40 bytes: the allocation aborted the process.
            &[0x82, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00][..],
        ] {
            let (mut ws, server) = client_facing(raw);
            let mut buf = [0u8; 64];
            let e = ws.read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            assert!(matches!(ws.error(e), Error::Protocol { .. }));
            drop(ws);
            server.join().unwrap();
        }
    }

    fn target(port: u16, headers: &[(&str, &str)]) -> Target {
        Target {
            transport: Transport::Websockets,
            ws: None,
            host: "127.0.0.1".into(),
            port,
            tls: None,
            ws_path: "/mqtt".into(),
            ws_headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            proxy: None,
            bind: None,
        }
    }

    /// A server on loopback that reads the upgrade request, hands its raw text to the test, answers
    /// with `answer(request)` and then sends one binary message holding `b"hi"`.
    fn answering(
        answer: fn(&str) -> String,
    ) -> (
        u16,
        std::sync::mpsc::Receiver<String>,
        std::thread::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let (request, _) = read_head(&mut sock).expect("the upgrade request");
            let reply = answer(&request);
            let _ = tx.send(request);
            sock.write_all(reply.as_bytes()).unwrap();
            let mut ws = WebSocket::from_raw_socket(sock, Role::Server, None);
            if ws.send(Message::Binary(Bytes::from_static(b"hi"))).is_ok() {
                // Keep the socket open until the client is done with it.
                let _ = ws.read();
            }
        });
        (port, rx, server)
    }

    /// The request's `Sec-WebSocket-Key`.
    fn key_of(request: &str) -> &str {
        request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .expect("a Sec-WebSocket-Key")
    }

    /// Connects to the server on `port` as if to `target` (its port may differ: the request names it).
    fn upgrade(port: u16, target: &Target) -> Result<WsStream<TcpStream>> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        handshake(target, tcp, Duration::from_secs(10))
    }

    #[test]
    fn an_answer_without_a_subprotocol_is_accepted() {
        let (port, requests, server) = answering(|request| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                tungstenite::handshake::derive_accept_key(key_of(request).as_bytes())
            )
        });
        let mut ws = upgrade(port, &target(port, &[])).expect("the upgrade");
        let mut buf = [0u8; 8];
        let n = ws.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        let request = requests.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            request.contains("\r\nSec-WebSocket-Protocol: mqtt\r\n"),
            "{request}"
        );
        drop(ws);
        server.join().unwrap();
    }

    #[test]
    fn the_request_names_host_and_origin_as_paho_does() {
        let (port, requests, server) = answering(|_| "HTTP/1.1 404 Not Found\r\n\r\n".into());
        // The request says port 80, whatever port the socket is connected to.
        let e = upgrade(port, &target(80, &[])).unwrap_err();
        assert!(matches!(e, Error::Websocket { .. }), "{e:?}");
        assert!(e.to_string().contains("HTTP 404 Not Found"), "{e}");
        let request = requests.recv_timeout(Duration::from_secs(10)).unwrap();
        server.join().unwrap();
        let lines: Vec<&str> = request.split("\r\n").collect();
        assert_eq!(lines[0], "GET /mqtt HTTP/1.1");
        assert_eq!(lines[1], "Host: 127.0.0.1");
        assert_eq!(lines[2], "Upgrade: websocket");
        assert_eq!(lines[3], "Connection: Upgrade");
        assert_eq!(lines[4], "Origin: http://127.0.0.1");
        assert!(lines[5].starts_with("Sec-WebSocket-Key: "), "{request}");
        assert_eq!(lines[6], "Sec-WebSocket-Version: 13");
        assert_eq!(lines[7], "Sec-WebSocket-Protocol: mqtt");
        assert_eq!(&lines[8..], ["", ""]);
    }

    #[test]
    fn host_has_the_port_unless_it_is_the_schemes_default() {
        let host_origin = |tls: bool, host: &str, port: u16| {
            let mut t = target(port, &[]);
            t.host = host.into();
            let headers = request_headers(&t, tls, "k").unwrap();
            (headers[0].1.clone(), headers[3].1.clone())
        };
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(host_origin(false, "h", 80), pair("h", "http://h"));
        assert_eq!(host_origin(false, "h", 443), pair("h:443", "http://h:443"));
        assert_eq!(
            host_origin(false, "h", 8080),
            pair("h:8080", "http://h:8080")
        );
        assert_eq!(host_origin(true, "h", 443), pair("h", "https://h"));
        assert_eq!(host_origin(true, "h", 80), pair("h:80", "https://h:80"));
        assert_eq!(
            host_origin(true, "::1", 8883),
            pair("[::1]:8883", "https://[::1]:8883")
        );
        assert_eq!(host_origin(false, "::1", 80), pair("[::1]", "http://[::1]"));
    }

    #[test]
    fn user_headers_keep_their_case_and_replace_ours_of_the_same_name() {
        let t = target(
            1883,
            &[
                ("x-Custom-HEADER", "one"),
                ("origin", "https://app.example"),
                ("Authorization", "Bearer t"),
            ],
        );
        let text = request_text("/p?q=1", &request_headers(&t, false, "k").unwrap());
        assert_eq!(
            text,
            "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:1883\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\norigin: https://app.example\r\nSec-WebSocket-Key: k\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\
             x-Custom-HEADER: one\r\nAuthorization: Bearer t\r\n\r\n"
        );
        let bad = target(1883, &[("X", "a\r\nInjected: yes")]);
        assert!(request_headers(&bad, false, "k").is_err());
    }

    #[test]
    fn answers_that_are_not_an_mqtt_upgrade_are_refused() {
        let request =
            request_headers(&target(1883, &[]), false, "dGhlIHNhbXBsZSBub25jZQ==").unwrap();
        // RFC 6455's example key and its digest.
        let accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let ok = format!("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n{accept}\r\n\r\n");
        assert_eq!(check_response(&ok, &request), Ok(()));
        let mqtt = ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
        assert_eq!(check_response(&mqtt, &request), Ok(()));
        for (answer, says) in [
            (
                ok.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
                "\"chat\"",
            ),
            (ok.replace("s3pP", "xxxx"), "Sec-WebSocket-Accept"),
            (ok.replace(accept, "X: y"), "Sec-WebSocket-Accept"),
            (ok.replace("WebSocket", "h2c"), "Upgrade: websocket"),
            (
                ok.replace("keep-alive, Upgrade", "close"),
                "Connection: Upgrade",
            ),
            ("HTTP/1.1 200 OK\r\n\r\n".into(), "HTTP 200 OK"),
            ("SSH-2.0-OpenSSH\r\n\r\n".into(), "not answer in HTTP"),
        ] {
            let e = check_response(&answer, &request).unwrap_err();
            assert!(e.contains(says), "{answer:?}: {e}");
        }
    }

    #[test]
    fn a_panic_inside_the_websocket_library_becomes_an_error() {
        let e = guarded("read", || -> io::Result<()> { panic!("capacity overflow") }).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("capacity overflow"), "{e}");
    }
}
