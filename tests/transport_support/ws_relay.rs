//! A websocket front for mosquitto's plain TCP listener (Debian's mosquitto is built without websockets):
//! it accepts `ws://` (or, with a certificate, `wss://`) connections, answers the `mqtt` subprotocol, and
//! relays bytes between binary websocket messages and a TCP connection to the broker. It records each
//! upgrade request (path, headers, subprotocols) and how the traffic was framed.
//!
//! How the broker's bytes are cut into messages is the test's choice ([`Framing`]): a message may carry a
//! piece of a packet or several packets, and the client has to reassemble MQTT packets whatever the
//! framing (MQTT 3.1.1, 6.0).
//!
//! Each connection is one thread: after the handshake both sockets are non-blocking and the thread waits
//! in `poll(2)` for either, so the relay adds no latency and uses no CPU while the connection is idle.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::{Error as WsError, Message, WebSocket};

use super::certs::Certs;
use super::server::{Server, Tracker};
use crate::common::WAIT;

/// How the relay cuts what the broker sends into websocket messages.
#[derive(Debug, Clone)]
pub struct Framing {
    /// Empty: each read from the broker's socket is a unit. Otherwise whole MQTT packets are collected
    /// and the i-th unit holds `groups[i]` of them (one each after the list ends).
    groups: Vec<usize>,
    /// Each unit is sent as messages of at most this many bytes.
    max_message: usize,
}

impl Framing {
    /// Each unit of bytes read from the broker's socket in one message.
    pub fn as_read() -> Framing {
        Framing {
            groups: Vec::new(),
            max_message: usize::MAX,
        }
    }

    /// Messages of at most `max` bytes: every packet longer than that spans several messages.
    pub fn split(max: usize) -> Framing {
        assert!(max > 0);
        Framing {
            groups: Vec::new(),
            max_message: max,
        }
    }

    /// Whole packets, `groups[i]` of them in the i-th message (one per message after the list ends): the
    /// relay holds packets back until a group is complete, so the test must know what the broker sends.
    pub fn packed(groups: &[usize]) -> Framing {
        Framing::packed_split(groups, usize::MAX)
    }

    /// As [`Framing::packed`], each group then cut into messages of at most `max` bytes, so that one
    /// message ends with the start of a packet whose rest is in the next one.
    pub fn packed_split(groups: &[usize], max: usize) -> Framing {
        assert!(max > 0 && groups.iter().all(|&n| n > 0));
        Framing {
            groups: groups.to_vec(),
            max_message: max,
        }
    }
}

/// What the relay saw of one connection.
#[derive(Debug, Clone, Default)]
pub struct WsConnection {
    /// The request target of the upgrade request (path and query).
    pub path: String,
    /// The request's headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The `Sec-WebSocket-Protocol` header the client sent, if any.
    pub protocols: Option<String>,
    /// Binary messages received from the client.
    pub from_client: usize,
    /// Text messages received from the client (MQTT must use binary ones).
    pub text_from_client: usize,
    /// Messages sent to the client.
    pub to_client: usize,
    /// The most whole MQTT packets one message to the client completed.
    pub max_packets_in_message: usize,
    /// Messages to the client that ended inside a packet.
    pub messages_ending_mid_packet: usize,
    /// Pongs answering the relay's Ping (see [`WsRelay::start_pinging`]).
    pub pongs: usize,
    /// How the connection ended, once it has.
    pub end: Option<String>,
}

impl WsConnection {
    /// The value of header `name` (lower case), if the client sent it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Arc<Mutex<WsConnection>>>>>;

/// A running relay; stops (closing every connection) on drop.
pub struct WsRelay {
    server: Server,
    log: Log,
}

/// What a relay does besides framing.
#[derive(Default)]
struct Behaviour {
    tls: Option<native_tls::TlsAcceptor>,
    /// Answer the upgrade without `Sec-WebSocket-Protocol: mqtt`, as a server not speaking MQTT would.
    omit_subprotocol: bool,
    /// Send the client a Ping after the first message to it, and signal each Pong answering it here.
    pongs: Option<Sender<()>>,
    /// Send the client a text message after the first message to it (MQTT allows binary only).
    text: bool,
}

/// The payload of the relay's Ping.
const PING_PAYLOAD: &[u8] = b"pahoish relay ping";

impl WsRelay {
    /// A `ws://` relay to 127.0.0.1:`broker_port`.
    pub fn start(broker_port: u16, framing: Framing) -> WsRelay {
        WsRelay::start_with(broker_port, framing, Behaviour::default())
    }

    /// A `wss://` relay to 127.0.0.1:`broker_port`, presenting the test server certificate.
    pub fn start_tls(broker_port: u16, framing: Framing, certs: &Certs) -> WsRelay {
        WsRelay::start_tls_up_to(broker_port, framing, certs, None)
    }

    /// As [`WsRelay::start_tls`], speaking no TLS version above `max` (`None`: the library's highest).
    pub fn start_tls_up_to(
        broker_port: u16,
        framing: Framing,
        certs: &Certs,
        max: Option<native_tls::Protocol>,
    ) -> WsRelay {
        let cert = std::fs::read(&certs.server_cert).expect("reading the server certificate");
        let key = std::fs::read(&certs.server_key).expect("reading the server key");
        let identity = native_tls::Identity::from_pkcs8(&cert, &key).expect("server identity");
        let acceptor = native_tls::TlsAcceptor::builder(identity)
            .max_protocol_version(max)
            .build()
            .expect("TLS acceptor");
        let behaviour = Behaviour {
            tls: Some(acceptor),
            ..Behaviour::default()
        };
        WsRelay::start_with(broker_port, framing, behaviour)
    }

    /// A `ws://` relay whose upgrade answer lacks the `mqtt` subprotocol the client asked for.
    pub fn start_without_subprotocol(broker_port: u16) -> WsRelay {
        let behaviour = Behaviour {
            omit_subprotocol: true,
            ..Behaviour::default()
        };
        WsRelay::start_with(broker_port, Framing::as_read(), behaviour)
    }

    /// A `ws://` relay that sends each client a Ping once it has relayed the first message to it (the
    /// CONNACK), after which an idle client has nothing else to write; the receiver gets a `()` for each
    /// Pong answering it.
    pub fn start_pinging(broker_port: u16) -> (WsRelay, Receiver<()>) {
        let (tx, pongs) = mpsc::channel();
        let behaviour = Behaviour {
            pongs: Some(tx),
            ..Behaviour::default()
        };
        let relay = WsRelay::start_with(broker_port, Framing::as_read(), behaviour);
        (relay, pongs)
    }

    /// A `ws://` relay that sends each client a text message once it has relayed the first message to
    /// it (the CONNACK): MQTT over websockets is binary only ([MQTT-6.0.0-1]).
    pub fn start_texting(broker_port: u16) -> WsRelay {
        let behaviour = Behaviour {
            text: true,
            ..Behaviour::default()
        };
        WsRelay::start_with(broker_port, Framing::as_read(), behaviour)
    }

    fn start_with(broker_port: u16, framing: Framing, behaviour: Behaviour) -> WsRelay {
        let log = Log::default();
        let for_server = Arc::clone(&log);
        let name = if behaviour.tls.is_some() {
            "wss-relay"
        } else {
            "ws-relay"
        };
        let server = Server::start(name, move |stream, tracker| {
            let record = Arc::new(Mutex::new(WsConnection::default()));
            for_server.lock().unwrap().push(Arc::clone(&record));
            let session = Session {
                behaviour: &behaviour,
                broker_port,
                framing: &framing,
                record: &record,
                tracker,
            };
            let end = session.serve(stream);
            let mut record = record.lock().unwrap();
            match end {
                Ok(how) => record.end = Some(how),
                Err(e) => {
                    record.end = Some(e.clone());
                    return Err(e);
                }
            }
            Ok(())
        });
        WsRelay { server, log }
    }

    /// The port to connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// Every connection so far, in the order they arrived.
    pub fn connections(&self) -> Vec<WsConnection> {
        let log = self.log.lock().unwrap();
        log.iter().map(|c| c.lock().unwrap().clone()).collect()
    }

    /// Cuts every current connection (the client's side and the broker's) without a close frame, as a
    /// network failure would; new connections are still accepted.
    pub fn drop_connections(&self) {
        self.server.drop_connections();
    }
}

/// One connection's settings and record.
struct Session<'a> {
    behaviour: &'a Behaviour,
    broker_port: u16,
    framing: &'a Framing,
    record: &'a Mutex<WsConnection>,
    tracker: &'a Tracker,
}

impl Session<'_> {
    /// TLS (if configured), the upgrade, then the relay until either side closes. `Ok` says how it
    /// ended normally, `Err` what failed.
    fn serve(&self, client: TcpStream) -> Result<String, String> {
        let raw = client.try_clone().map_err(|e| e.to_string())?;
        raw.set_read_timeout(Some(WAIT))
            .map_err(|e| e.to_string())?;
        raw.set_nodelay(true).map_err(|e| e.to_string())?;
        match &self.behaviour.tls {
            Some(acceptor) => {
                let stream = acceptor
                    .accept(client)
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                self.upgrade_and_relay(stream, &raw)
            }
            None => self.upgrade_and_relay(client, &raw),
        }
    }

    /// `raw` is the client's socket under `stream` (the same one without TLS).
    fn upgrade_and_relay<S: Read + Write>(
        &self,
        stream: S,
        raw: &TcpStream,
    ) -> Result<String, String> {
        // The refusal's type is tungstenite's, large or not.
        #[allow(clippy::result_large_err)]
        let answer = |request: &Request, mut response: Response| {
            let mut r = self.record.lock().unwrap();
            r.path = request.uri().to_string();
            for (name, value) in request.headers() {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                r.headers.push((name.as_str().to_owned(), value));
            }
            r.protocols = r.header("sec-websocket-protocol").map(str::to_owned);
            let offers_mqtt = r
                .protocols
                .as_deref()
                .is_some_and(|p| p.split(',').any(|p| p.trim() == "mqtt"));
            if !offers_mqtt {
                let mut refusal =
                    ErrorResponse::new(Some("the mqtt subprotocol is required".into()));
                *refusal.status_mut() = StatusCode::BAD_REQUEST;
                return Err(refusal);
            }
            if !self.behaviour.omit_subprotocol {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
            }
            Ok(response)
        };
        let mut ws = tungstenite::accept_hdr(stream, answer)
            .map_err(|e| format!("websocket upgrade: {e}"))?;
        let mut broker = TcpStream::connect((Ipv4Addr::LOCALHOST, self.broker_port))
            .map_err(|e| format!("connecting to the broker: {e}"))?;
        self.tracker.track(&broker).map_err(|e| e.to_string())?;
        let setup = || -> io::Result<()> {
            broker.set_nodelay(true)?;
            broker.set_nonblocking(true)?;
            raw.set_read_timeout(None)?;
            raw.set_nonblocking(true)
        };
        setup().map_err(|e| e.to_string())?;
        let end = self.relay(&mut ws, raw.as_raw_fd(), &mut broker);
        // Whatever is still queued for the client (a refusing CONNACK before the broker closed, say)
        // goes out before the connection closes: block for it, bounded.
        let _ = raw.set_nonblocking(false);
        let _ = raw.set_write_timeout(Some(WAIT));
        let _ = ws.flush();
        let _ = ws.close(None);
        let _ = ws.flush();
        end
    }

    fn relay<S: Read + Write>(
        &self,
        ws: &mut WebSocket<S>,
        client_fd: RawFd,
        broker: &mut TcpStream,
    ) -> Result<String, String> {
        let record = self.record;
        let mut framer = Framer::new(self.framing.clone());
        let mut sent = Packets::default();
        let mut to_broker: Vec<u8> = Vec::new();
        let mut ping_pending = self.behaviour.pongs.is_some();
        let mut text_pending = self.behaviour.text;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // Client to broker. When the client is gone, what it sent before still goes to the
            // broker (its DISCONNECT, typically, read together with the end of the stream).
            let mut client_gone = None;
            loop {
                match ws.read() {
                    Ok(Message::Binary(data)) => {
                        record.lock().unwrap().from_client += 1;
                        to_broker.extend_from_slice(&data);
                    }
                    Ok(Message::Text(_)) => record.lock().unwrap().text_from_client += 1,
                    Ok(Message::Pong(payload)) if payload == PING_PAYLOAD => {
                        record.lock().unwrap().pongs += 1;
                        if let Some(pongs) = &self.behaviour.pongs {
                            let _ = pongs.send(());
                        }
                    }
                    // Pings are answered and a close is acknowledged by tungstenite itself.
                    Ok(_) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(WsError::ConnectionClosed) => {
                        client_gone = Some("the client closed".to_owned());
                        break;
                    }
                    Err(e) => {
                        client_gone = Some(format!("the client went away: {e}"));
                        break;
                    }
                }
            }
            if let Some(how) = client_gone {
                let _ = broker.set_nonblocking(false);
                let _ = broker.set_write_timeout(Some(WAIT));
                let _ = broker.write_all(&to_broker);
                let _ = broker.shutdown(std::net::Shutdown::Write);
                return Ok(how);
            }
            while !to_broker.is_empty() {
                match broker.write(&to_broker) {
                    Ok(0) => return Ok("the broker stopped reading".into()),
                    Ok(n) => {
                        to_broker.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Ok(format!("writing to the broker: {e}")),
                }
            }

            // Broker to client.
            let mut broker_closed = false;
            let mut outgoing = Vec::new();
            loop {
                match broker.read(&mut buf) {
                    Ok(0) => {
                        broker_closed = true;
                        break;
                    }
                    Ok(n) => outgoing.extend(framer.messages(&buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Ok(format!("reading from the broker: {e}")),
                }
            }
            let ping_now = ping_pending && !outgoing.is_empty();
            let text_now = text_pending && !outgoing.is_empty();
            for message in outgoing {
                count_packets(&mut sent, &message, record);
                queue(ws, Message::binary(message))?;
            }
            if ping_now {
                ping_pending = false;
                queue(ws, Message::Ping(PING_PAYLOAD.into()))?;
            }
            if text_now {
                text_pending = false;
                queue(ws, Message::text("not MQTT"))?;
            }
            let to_client_blocked = match ws.flush() {
                Ok(()) => false,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) => return Ok(format!("writing to the client: {e}")),
            };
            if broker_closed {
                return Ok("the broker closed".into());
            }

            let client_events = libc::POLLIN | if to_client_blocked { libc::POLLOUT } else { 0 };
            let broker_events = libc::POLLIN
                | if to_broker.is_empty() {
                    0
                } else {
                    libc::POLLOUT
                };
            wait(&mut [
                pollfd(client_fd, client_events),
                pollfd(broker.as_raw_fd(), broker_events),
            ])
            .map_err(|e| format!("poll: {e}"))?;
        }
    }
}

/// Queues `message` for the client; one that cannot be written at once waits in tungstenite's buffer
/// for the next flush.
fn queue<S: Read + Write>(ws: &mut WebSocket<S>, message: Message) -> Result<(), String> {
    match ws.write(message) {
        Ok(()) => Ok(()),
        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(format!("writing to the client: {e}")),
    }
}

/// Updates the framing statistics with one message sent to the client.
fn count_packets(sent: &mut Packets, message: &[u8], record: &Mutex<WsConnection>) {
    sent.push(message);
    let mut whole = 0;
    while sent.next().is_some() {
        whole += 1;
    }
    let mut r = record.lock().unwrap();
    r.to_client += 1;
    r.max_packets_in_message = r.max_packets_in_message.max(whole);
    if !sent.is_empty() {
        r.messages_ending_mid_packet += 1;
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Blocks until one of `fds` is ready (or has hung up).
fn wait(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structures for the
        // duration of the call, which is all poll(2) requires.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Cuts a byte stream into MQTT packets (by the fixed header's remaining length).
#[derive(Debug, Default)]
pub struct Packets {
    buf: Vec<u8>,
}

impl Packets {
    /// Appends bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, if the bytes so far hold one.
    pub fn next(&mut self) -> Option<Vec<u8>> {
        let len = whole_packet_len(&self.buf)?;
        Some(self.buf.drain(..len).collect())
    }

    /// Whether no bytes of a partial packet are held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The length of the packet at the start of `buf` if `buf` holds all of it.
fn whole_packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for (i, &byte) in buf.iter().enumerate().skip(1).take(4) {
        remaining |= usize::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            // Type byte, `i` length bytes, the rest.
            let total = 1 + i + remaining;
            return (buf.len() >= total).then_some(total);
        }
    }
    None
}

/// Turns what the broker sends into the messages [`Framing`] asks for.
struct Framer {
    framing: Framing,
    partial: Packets,
    whole: VecDeque<Vec<u8>>,
    group: usize,
}

impl Framer {
    fn new(framing: Framing) -> Framer {
        Framer {
            framing,
            partial: Packets::default(),
            whole: VecDeque::new(),
            group: 0,
        }
    }

    /// Takes bytes read from the broker; returns the messages to send now.
    fn messages(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut units = Vec::new();
        if self.framing.groups.is_empty() {
            units.push(bytes.to_vec());
        } else {
            self.partial.push(bytes);
            while let Some(packet) = self.partial.next() {
                self.whole.push_back(packet);
            }
            loop {
                let n = self.framing.groups.get(self.group).copied().unwrap_or(1);
                if self.whole.len() < n {
                    break;
                }
                units.push(self.whole.drain(..n).flatten().collect());
                self.group += 1;
            }
        }
        units
            .iter()
            .flat_map(|unit| unit.chunks(self.framing.max_message).map(<[u8]>::to_vec))
            .collect()
    }
}

#[test]
fn packets_are_cut_by_their_remaining_length() {
    let mut p = Packets::default();
    // CONNACK, then the first 3 bytes of a PUBLISH with a 2-byte remaining length (200).
    p.push(&[0x20, 0x02, 0x00, 0x00, 0x30, 0xc8, 0x01]);
    assert_eq!(p.next(), Some(vec![0x20, 0x02, 0x00, 0x00]));
    assert_eq!(p.next(), None);
    p.push(&[0u8; 199]);
    assert_eq!(p.next(), None);
    p.push(&[0u8; 1]);
    assert_eq!(p.next().map(|p| p.len()), Some(203));
    assert!(p.is_empty());
}

#[test]
fn framer_groups_and_splits() {
    let connack = [0x20, 0x02, 0x00, 0x00];
    let mut f = Framer::new(Framing::packed_split(&[2], 3));
    assert!(f.messages(&connack).is_empty(), "held until two packets");
    let out = f.messages(&connack);
    assert_eq!(
        out,
        vec![
            vec![0x20, 0x02, 0x00],
            vec![0x00, 0x20, 0x02],
            vec![0x00, 0x00]
        ]
    );
    // After the list, one packet per message.
    assert_eq!(
        f.messages(&connack),
        vec![vec![0x20, 0x02, 0x00], vec![0x00]]
    );
    let mut f = Framer::new(Framing::split(2));
    assert_eq!(f.messages(&[1, 2, 3]), vec![vec![1, 2], vec![3]]);
}
