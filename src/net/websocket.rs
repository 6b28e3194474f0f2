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

use tungstenite::client::IntoClientRequest;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, HandshakeError, Message, WebSocket};

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
pub(crate) fn handshake<S: Socket>(
    target: &Target,
    stream: S,
    timeout: Duration,
) -> Result<WsStream<S>> {
    let scheme = if target.tls.is_some() { "wss" } else { "ws" };
    let uri = format!(
        "{scheme}://{}{}",
        super::authority(&target.host, target.port),
        target.ws_path
    );
    let mut request = uri
        .as_str()
        .into_client_request()
        .map_err(|e| Error::websocket(format!("bad websocket URL {uri}: {e}"), Some(e.into())))?;
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    for (name, value) in &target.ws_headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(Error::invalid("headers", format!("bad header {name:?}")));
        };
        headers.insert(name, value);
    }
    // A frame or message may hold at most one largest MQTT packet. tungstenite checks a frame's
    // declared length against this before it allocates, so a hostile length is an error rather than
    // an allocation of that size (or a panic: "capacity overflow"), and so is a message assembled
    // from fragments that never ends.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let fd = stream.as_raw_fd();
    match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, _response)) => Ok(WsStream {
            ws,
            fd,
            pending: Bytes::new(),
            unflushed: false,
        }),
        Err(HandshakeError::Interrupted(_)) => Err(Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the websocket upgrade at {uri} did not finish within {timeout:?}"),
        ))),
        Err(HandshakeError::Failure(tungstenite::Error::Io(e))) => Err(Error::Io(e)),
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => Err(Error::websocket(
            format!(
                "the server at {uri} refused the upgrade: HTTP {}",
                response.status()
            ),
            None,
        )),
        Err(HandshakeError::Failure(e)) => Err(Error::websocket(
            format!("the upgrade at {uri} failed: {e}"),
            Some(e.into()),
        )),
    }
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

    #[test]
    fn a_panic_inside_the_websocket_library_becomes_an_error() {
        let e = guarded("read", || -> io::Result<()> { panic!("capacity overflow") }).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("capacity overflow"), "{e}");
    }
}
