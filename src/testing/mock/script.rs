//! [`MockSession`], the steps a [`MockBroker`](super::MockBroker) script is written in: accept a
//! connection, expect bytes or a packet, send, close, expect a close or silence. Each call is a numbered
//! step that fails with that number.
//!
//! std has no accept with a timeout, so a second thread blocks in `accept` and hands connections over a
//! channel that the session waits on with `recv_timeout`; when the session ends it wakes that thread with a
//! connection of its own.

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{Connection, Quiet};
use super::report::describe;
use super::MockError;
use crate::packet::Packet;
use crate::types::Protocol;

/// The step timeout a session starts with.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The broker's side of a [`MockBroker`](super::MockBroker) script: it accepts client connections and talks
/// to the current one.
///
/// Every method except [`set_timeout`](MockSession::set_timeout) is one step of the script, numbered from 1;
/// the errors it returns carry that number. Every step that waits gives up after the step timeout (5 seconds
/// unless set otherwise) with [`MockError::Timeout`]. A step that fails consumes nothing, so a script may
/// catch an error and try something else.
pub struct MockSession {
    addr: SocketAddr,
    /// Connections accepted by the acceptor thread, waiting for [`accept`](MockSession::accept).
    incoming: Receiver<io::Result<TcpStream>>,
    stop_accepting: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    conn: Option<Connection>,
    /// Connections the script closed. Their read side stays open until the session ends, because closing a
    /// socket with unread bytes in its kernel buffer sends a reset instead of an end of stream, and the
    /// client should see exactly the end of stream that [`close`](MockSession::close) promises.
    closed: Vec<TcpStream>,
    timeout: Duration,
    step: Arc<AtomicUsize>,
    /// The protocol a new connection starts with: the last one's, or what `set_protocol` said.
    protocol: Protocol,
}

impl MockSession {
    pub(super) fn new(
        listener: TcpListener,
        addr: SocketAddr,
        step: Arc<AtomicUsize>,
    ) -> MockSession {
        let stop_accepting = Arc::new(AtomicBool::new(false));
        let (tx, incoming) = mpsc::channel();
        let stop = Arc::clone(&stop_accepting);
        let acceptor = thread::Builder::new()
            .name(format!("mock-broker-{}-accept", addr.port()))
            .spawn(move || accept_loop(listener, tx, stop))
            .unwrap_or_else(|e| panic!("MockBroker: cannot start the accept thread: {e}"));
        MockSession {
            addr,
            incoming,
            stop_accepting,
            acceptor: Some(acceptor),
            conn: None,
            closed: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            step,
            protocol: Protocol::V311,
        }
    }

    /// Sets how long each following step may wait. Not a step itself. Defaults to 5 seconds.
    ///
    /// A short timeout (a few hundred milliseconds) suits steps that are expected to fail, such as a test
    /// that the client stays quiet; [`expect_silence`](MockSession::expect_silence) takes its own duration.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sets the protocol the packet steps use: [`send_packet`](MockSession::send_packet) and
    /// [`expect_packet`](MockSession::expect_packet) encode in it, [`recv_packet`](MockSession::recv_packet)
    /// decodes in it, and errors show bytes decoded in it. Not a step itself.
    ///
    /// Rarely needed: a CONNECT the client sends sets it from its protocol level (on `expect`,
    /// `expect_packet`, `recv_packet` or `recv_raw`), and a new connection starts with the last one's.
    /// MQTT 3.1.1 until then.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        if let Some(conn) = &mut self.conn {
            conn.protocol = protocol;
        }
    }

    /// The protocol the packet steps use now (see [`set_protocol`](MockSession::set_protocol)).
    pub fn protocol(&self) -> Protocol {
        self.conn.as_ref().map_or(self.protocol, |c| c.protocol)
    }

    /// Waits for the next client connection and makes it the current one.
    ///
    /// A current connection is closed first, as by [`close`](MockSession::close). Connections are accepted
    /// as they arrive, so a client may connect before the script gets here. Fails with
    /// [`MockError::Timeout`] when no client connects within the step timeout.
    pub fn accept(&mut self) -> Result<(), MockError> {
        let step = self.next_step();
        self.close_current();
        match self.incoming.recv_timeout(self.timeout) {
            Ok(Ok(stream)) => {
                // Without this, Nagle's algorithm could hold back a small packet the script sends.
                stream
                    .set_nodelay(true)
                    .map_err(|error| MockError::Io { step, error })?;
                self.protocol = self.protocol();
                self.conn = Some(Connection::new(stream, self.protocol));
                Ok(())
            }
            Ok(Err(error)) => Err(MockError::Io { step, error }),
            Err(RecvTimeoutError::Timeout) => Err(MockError::Timeout {
                step,
                waiting_for: "a client to connect".to_string(),
                got: Vec::new(),
                protocol: self.protocol,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(MockError::Io {
                step,
                error: io::Error::other("the listener stopped after an earlier accept error"),
            }),
        }
    }

    /// Checks that the next bytes the client sends are exactly `bytes`: one or more whole packets.
    ///
    /// Reads whole packets until they cover `bytes`, then compares. A difference is reported as soon as the
    /// packet that holds it has arrived, without waiting for the timeout; bytes after the last expected
    /// packet stay buffered for the next step. `bytes` that end inside a packet never match, since the whole
    /// packet is compared.
    ///
    /// Fails with [`MockError::Mismatch`] when the client sends other bytes, [`MockError::Timeout`] or
    /// [`MockError::Closed`] when it sends too few, and [`MockError::NoConnection`] before
    /// [`accept`](MockSession::accept).
    ///
    /// # Examples
    ///
    /// Two PINGREQs written at once match one `expect` of both, or two of one each:
    ///
    /// ```
    /// use pahoish::testing::{MockBroker, MockError};
    /// use std::io::Write;
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|s| {
    ///     s.accept()?;
    ///     s.expect(&[0xc0, 0x00, 0xc0, 0x00])?;
    ///     s.expect(&[0xc0, 0x00])?;
    ///     s.expect(&[0xc0, 0x00])?;
    ///     s.expect(&[0xc0, 0x00]) // step 5: a DISCONNECT comes instead
    /// });
    /// let mut client = TcpStream::connect(broker.addr())?;
    /// client.write_all(&[0xc0, 0x00, 0xc0, 0x00, 0xc0, 0x00, 0xc0, 0x00, 0xe0, 0x00])?;
    ///
    /// match broker.finish(Duration::from_secs(5)) {
    ///     Err(MockError::Mismatch { step, expected, got, .. }) => {
    ///         assert_eq!((step, expected, got), (5, vec![0xc0, 0x00], vec![0xe0, 0x00]));
    ///     }
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expect(&mut self, bytes: &[u8]) -> Result<(), MockError> {
        let step = self.next_step();
        let deadline = deadline_after(self.timeout);
        self.conn(step)?.expect(step, bytes, deadline)
    }

    /// Checks that the next packet the client sends is `packet`, byte for byte: [`expect`](MockSession::expect)
    /// of the packet encoded in the session's [`protocol`](MockSession::protocol).
    ///
    /// # Examples
    ///
    /// An MQTT 5 exchange, scripted as packets: the client's CONNECT sets the protocol, so the CONNACK
    /// goes out with its properties and the PUBLISH is compared in its 5.0 form.
    ///
    /// ```
    /// use pahoish::packet::{ConnAck, Packet, Publish};
    /// use pahoish::testing::MockBroker;
    /// use pahoish::{Client, MQTTv5, PacketTypes, Properties, Property};
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|s| {
    ///     s.accept()?;
    ///     s.recv_packet()?; // CONNECT, protocol level 5
    ///     let mut connack = ConnAck::default();
    ///     connack.properties = Properties::new(PacketTypes::CONNACK)
    ///         .with(Property::ReceiveMaximum(10))
    ///         .expect("a CONNACK property");
    ///     s.send_packet(&Packet::ConnAck(connack))?;
    ///     let publish = Publish {
    ///         topic: "t".into(),
    ///         payload: b"hi".to_vec(),
    ///         properties: Properties::new(PacketTypes::PUBLISH)
    ///             .with(Property::ContentType("text/plain".into()))
    ///             .expect("a PUBLISH property"),
    ///         ..Publish::default()
    ///     };
    ///     s.expect_packet(&Packet::Publish(publish))
    /// });
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.on_connect(|c, _, _, _, _| {
    ///     let props = Properties::new(PacketTypes::PUBLISH)
    ///         .with(Property::ContentType("text/plain".into()))
    ///         .unwrap();
    ///     c.publish_with("t", "hi", 0, false, props).unwrap();
    /// });
    /// client.connect("127.0.0.1", broker.port(), 60)?;
    /// client.loop_start()?;
    /// broker.finish(Duration::from_secs(5))?;
    /// client.loop_stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expect_packet(&mut self, packet: &Packet) -> Result<(), MockError> {
        let mut bytes = Vec::new();
        packet.encode_as(&mut bytes, self.protocol());
        self.expect(&bytes)
    }

    /// Reads the next whole packet the client sends and decodes it, for scripts that check some fields
    /// only or answer with what they received (a packet identifier, say).
    ///
    /// Fails with [`MockError::Decode`] when the bytes are not a valid packet, and as
    /// [`expect`](MockSession::expect) otherwise.
    ///
    /// # Examples
    ///
    /// Acknowledge a QoS 1 PUBLISH whatever its packet identifier:
    ///
    /// ```
    /// use pahoish::packet::{Packet, PubAck};
    /// use pahoish::testing::{MockBroker, MockError};
    /// use std::io::{Read, Write};
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|s| {
    ///     s.accept()?;
    ///     match s.recv_packet()? {
    ///         Packet::Publish(p) if p.pkid != 0 => s.send_packet(&Packet::PubAck(PubAck::new(p.pkid))),
    ///         other => Err(MockError::script(format!("expected a QoS 1 PUBLISH, got {other:?}"))),
    ///     }
    /// });
    /// let mut client = TcpStream::connect(broker.addr())?;
    /// client.set_read_timeout(Some(Duration::from_secs(5)))?;
    /// // PUBLISH, QoS 1, topic "a", packet identifier 9, payload "hi".
    /// client.write_all(&[0x32, 0x07, 0x00, 0x01, b'a', 0x00, 0x09, b'h', b'i'])?;
    /// let mut puback = [0; 4];
    /// client.read_exact(&mut puback)?;
    /// assert_eq!(puback, [0x40, 0x02, 0x00, 0x09]);
    /// broker.finish(Duration::from_secs(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_packet(&mut self) -> Result<Packet, MockError> {
        let step = self.next_step();
        let deadline = deadline_after(self.timeout);
        let conn = self.conn(step)?;
        let f = conn.next_frame(step, deadline)?;
        let body = &conn.buf[f.header_len..f.len()];
        match Packet::decode_frame_as(f.header, body, conn.protocol) {
            Ok(packet) => {
                conn.consume(f.len());
                Ok(packet)
            }
            Err(error) => Err(MockError::Decode {
                step,
                error,
                got: conn.buf[..f.len()].to_vec(),
            }),
        }
    }

    /// Reads the next whole packet the client sends and returns its bytes, fixed header included, without
    /// decoding its body.
    ///
    /// Fails with [`MockError::Decode`] only when the fixed header is invalid, and as
    /// [`expect`](MockSession::expect) otherwise.
    pub fn recv_raw(&mut self) -> Result<Vec<u8>, MockError> {
        let step = self.next_step();
        let deadline = deadline_after(self.timeout);
        let conn = self.conn(step)?;
        let f = conn.next_frame(step, deadline)?;
        let bytes = conn.buf[..f.len()].to_vec();
        conn.consume(f.len());
        Ok(bytes)
    }

    /// Sends `bytes` to the client as they are: whole packets, parts of one, or bytes that are no packet at
    /// all (to test how the client handles them).
    ///
    /// Fails with [`MockError::Timeout`] when the client does not read them within the step timeout,
    /// [`MockError::Io`] when the connection is gone, and [`MockError::NoConnection`] before
    /// [`accept`](MockSession::accept).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), MockError> {
        let step = self.next_step();
        // A write timeout of zero is an error for the socket; a millisecond is the closest it accepts.
        let timeout = self.timeout.max(Duration::from_millis(1));
        let conn = self.conn(step)?;
        let protocol = conn.protocol;
        let written = conn
            .stream
            .set_write_timeout(Some(timeout))
            .and_then(|()| conn.stream.write_all(bytes));
        written.map_err(|error| match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => MockError::Timeout {
                step,
                waiting_for: format!("the client to read {}", describe(bytes, protocol)),
                got: Vec::new(),
                protocol,
            },
            _ => MockError::Io { step, error },
        })
    }

    /// Sends `packet` to the client: [`send`](MockSession::send) of the packet encoded in the
    /// session's [`protocol`](MockSession::protocol) (MQTT 5: with its properties and reason code).
    pub fn send_packet(&mut self, packet: &Packet) -> Result<(), MockError> {
        let mut bytes = Vec::new();
        packet.encode_as(&mut bytes, self.protocol());
        self.send(&bytes)
    }

    /// Closes the current connection, if any: the client reads an end of stream (not a reset, even if it
    /// sent bytes the script did not read).
    ///
    /// Later steps other than [`accept`](MockSession::accept) fail with [`MockError::NoConnection`].
    pub fn close(&mut self) {
        self.next_step();
        self.close_current();
    }

    /// Checks that the client closes the connection within the step timeout without sending anything more.
    ///
    /// A reset counts as a close. The connection is then gone, as after [`close`](MockSession::close). Fails
    /// with [`MockError::Mismatch`] (with nothing `expected`) when bytes arrive instead, and with
    /// [`MockError::Timeout`] when the connection stays open.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::MockBroker;
    /// use std::io::Write;
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|s| {
    ///     s.accept()?;
    ///     s.expect(&[0xe0, 0x00])?; // DISCONNECT
    ///     s.expect_closed()
    /// });
    /// let mut client = TcpStream::connect(broker.addr())?;
    /// client.write_all(&[0xe0, 0x00])?;
    /// drop(client);
    /// broker.finish(Duration::from_secs(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expect_closed(&mut self) -> Result<(), MockError> {
        let step = self.next_step();
        let deadline = deadline_after(self.timeout);
        match self.conn(step)?.watch_quiet(step, deadline)? {
            Quiet::Closed => {
                self.conn = None;
                Ok(())
            }
            Quiet::Deadline => Err(MockError::Timeout {
                step,
                waiting_for: "the client to close the connection".to_string(),
                got: Vec::new(),
                protocol: self.protocol(),
            }),
        }
    }

    /// Checks that the client sends nothing for `duration` (not the step timeout), and keeps the
    /// connection open.
    ///
    /// Fails with [`MockError::Mismatch`] (with nothing `expected`) as soon as bytes arrive, or were already
    /// buffered, and with [`MockError::Closed`] when the client closes the connection.
    pub fn expect_silence(&mut self, duration: Duration) -> Result<(), MockError> {
        let step = self.next_step();
        let deadline = deadline_after(duration);
        match self.conn(step)?.watch_quiet(step, deadline)? {
            Quiet::Deadline => Ok(()),
            Quiet::Closed => Err(MockError::Closed {
                step,
                waiting_for: format!("{duration:?} of silence"),
                got: Vec::new(),
                protocol: self.protocol(),
            }),
        }
    }

    fn next_step(&mut self) -> usize {
        // Only this thread writes the counter; MockBroker reads it for its messages only.
        self.step.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn conn(&mut self, step: usize) -> Result<&mut Connection, MockError> {
        self.conn.as_mut().ok_or(MockError::NoConnection { step })
    }

    fn close_current(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Sends the end of stream now; the read side stays open until the session ends (see `closed`).
            let _ = conn.stream.shutdown(Shutdown::Write);
            self.closed.push(conn.stream);
        }
    }
}

impl Drop for MockSession {
    fn drop(&mut self) {
        // An end of stream first, so that a client reads that even if unread bytes make the final close a
        // reset.
        self.close_current();
        self.stop_accepting.store(true, Ordering::SeqCst);
        // The acceptor blocks in accept(), which std can neither time out nor cancel: a connection of our own
        // wakes it to see the flag. When that connection succeeds the listener is alive, so the acceptor
        // will take it (or a client's before it) and return, and the join is short. When it fails, the
        // acceptor is either gone already or stuck for reasons we cannot fix; it is left detached rather
        // than risk a hang.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take() {
            if woken || acceptor.is_finished() {
                let _ = acceptor.join();
            }
        }
    }
}

impl fmt::Debug for MockSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockSession")
            .field("addr", &self.addr)
            .field("step", &self.step.load(Ordering::Relaxed))
            .field("timeout", &self.timeout)
            .field("connected", &self.conn.is_some())
            .field("buffered", &self.conn.as_ref().map_or(0, |c| c.buf.len()))
            .finish_non_exhaustive()
    }
}

/// Takes connections as they arrive and hands them to the session, until the session sets `stop` or goes.
fn accept_loop(listener: TcpListener, tx: Sender<io::Result<TcpStream>>, stop: Arc<AtomicBool>) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, _)) => {
                if tx.send(Ok(stream)).is_err() {
                    return;
                }
            }
            // A connection the client abandoned before we took it is not the listener's failure.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                ) => {}
            // Anything else (out of file descriptors, say) would repeat at once: report it and stop.
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    // A timeout too large for the clock (Duration::MAX, say) means "a very long time", not a panic.
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}
