//! One client connection as the steps of a [`MockSession`](super::MockSession) see it: the bytes read and
//! not yet consumed, reads that wait at most until the step's deadline, and the packet-by-packet comparison
//! that decides whether the client sent what a step expects.
//!
//! Every socket read has a read timeout set to what is left of the step's deadline, so no wait is
//! unbounded and nothing polls.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

use super::report::describe;
use super::MockError;
use crate::packet::{self, Frame, MAX_REMAINING_LENGTH};
use crate::types::Protocol;

/// How many bytes one socket read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// A client connection and the bytes read from it that no step has consumed yet.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    pub(super) buf: Vec<u8>,
    /// How packets are encoded and decoded: set by the session, and by the CONNECT the client sends
    /// (its protocol level).
    pub(super) protocol: Protocol,
}

/// Why a read brought no bytes.
enum Stop {
    Timeout,
    /// End of stream or reset: the client closed the connection.
    Closed,
    Io(io::Error),
}

impl Stop {
    fn into_error(
        self,
        step: usize,
        waiting_for: String,
        got: &[u8],
        protocol: Protocol,
    ) -> MockError {
        match self {
            Stop::Timeout => MockError::Timeout {
                step,
                waiting_for,
                got: got.to_vec(),
                protocol,
            },
            Stop::Closed => MockError::Closed {
                step,
                waiting_for,
                got: got.to_vec(),
                protocol,
            },
            Stop::Io(error) => MockError::Io { step, error },
        }
    }
}

/// How a wait for nothing ended.
pub(super) enum Quiet {
    Deadline,
    Closed,
}

impl Connection {
    pub(super) fn new(stream: TcpStream, protocol: Protocol) -> Connection {
        Connection {
            stream,
            buf: Vec::new(),
            protocol,
        }
    }

    /// Consumes the first `n` bytes, which are whole packets. A CONNECT among them sets the protocol
    /// from its protocol level (5 is MQTT 5, 3 and 4 are MQTT 3.1 and 3.1.1), so that a script needs
    /// no setting to speak the version its client speaks.
    pub(super) fn consume(&mut self, n: usize) {
        let mut at = 0;
        while at < n {
            let Ok(Some(f)) = packet::frame(&self.buf[at..n], MAX_REMAINING_LENGTH) else {
                break;
            };
            let body = &self.buf[at + f.header_len..at + f.len()];
            if f.header >> 4 == 1 && body.len() >= 2 {
                let name_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                match body.get(2 + name_len) {
                    Some(5) => self.protocol = Protocol::V5,
                    Some(4) => self.protocol = Protocol::V311,
                    Some(3) => self.protocol = Protocol::V31,
                    _ => {}
                }
            }
            at += f.len();
        }
        self.buf.drain(..n);
    }

    /// Reads once, appending to `buf`, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<(), Stop> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stop::Timeout);
            }
            self.stream.set_read_timeout(Some(left)).map_err(Stop::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) => match e.kind() {
                    // The read timeout expired (the kind depends on the platform) or a signal came: the
                    // deadline check above decides whether to read again.
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                        return Err(Stop::Closed)
                    }
                    _ => return Err(Stop::Io(e)),
                },
            }
        }
    }

    pub(super) fn expect(
        &mut self,
        step: usize,
        expected: &[u8],
        deadline: Instant,
    ) -> Result<(), MockError> {
        loop {
            match judge(&self.buf, expected) {
                Verdict::Match(n) => {
                    self.consume(n);
                    return Ok(());
                }
                Verdict::Mismatch(n) => {
                    return Err(MockError::Mismatch {
                        step,
                        expected: expected.to_vec(),
                        got: self.buf[..n].to_vec(),
                        protocol: self.protocol,
                    })
                }
                Verdict::NeedMore => {}
            }
            if let Err(stop) = self.fill(deadline) {
                // A client that sent something else and then stopped mid-packet: what it did send is a
                // better report than "timed out".
                if first_difference(&self.buf, expected) < self.buf.len().min(expected.len()) {
                    let got = self.buf.clone();
                    return Err(MockError::Mismatch {
                        step,
                        expected: expected.to_vec(),
                        got,
                        protocol: self.protocol,
                    });
                }
                let waiting_for = describe(expected, self.protocol);
                return Err(stop.into_error(step, waiting_for, &self.buf, self.protocol));
            }
        }
    }

    /// Reads until a whole packet is at the front of `buf` and returns its frame, consuming nothing.
    pub(super) fn next_frame(
        &mut self,
        step: usize,
        deadline: Instant,
    ) -> Result<Frame, MockError> {
        loop {
            match packet::frame(&self.buf, MAX_REMAINING_LENGTH) {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(error) => {
                    return Err(MockError::Decode {
                        step,
                        error,
                        got: self.buf.clone(),
                    })
                }
            }
            if let Err(stop) = self.fill(deadline) {
                let waiting_for = "a packet".to_string();
                return Err(stop.into_error(step, waiting_for, &self.buf, self.protocol));
            }
        }
    }

    /// Waits until `deadline` or the end of the stream, failing if any byte arrives (or is buffered).
    pub(super) fn watch_quiet(
        &mut self,
        step: usize,
        deadline: Instant,
    ) -> Result<Quiet, MockError> {
        let protocol = self.protocol;
        let unexpected = |got: &[u8]| MockError::Mismatch {
            step,
            expected: Vec::new(),
            got: got.to_vec(),
            protocol,
        };
        loop {
            // Wait for the rest of a packet that has begun, so the error can show it whole.
            if !self.buf.is_empty()
                && !matches!(packet::frame(&self.buf, MAX_REMAINING_LENGTH), Ok(None))
            {
                return Err(unexpected(&self.buf));
            }
            match self.fill(deadline) {
                Ok(()) => {}
                Err(_) if !self.buf.is_empty() => return Err(unexpected(&self.buf)),
                Err(Stop::Timeout) => return Ok(Quiet::Deadline),
                Err(Stop::Closed) => return Ok(Quiet::Closed),
                Err(Stop::Io(error)) => return Err(MockError::Io { step, error }),
            }
        }
    }
}

/// What the buffered bytes say about an expectation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The first this many bytes are the expected ones, as whole packets.
    Match(usize),
    /// The first this many bytes (whole packets where they can be delimited) differ from the expected ones.
    Mismatch(usize),
    /// Not decidable yet.
    NeedMore,
}

/// Compares the buffered bytes with the expected ones, packet by packet.
///
/// The decision needs whole packets up to the first differing byte, or up to the end of `expected` when
/// no byte differs; the packet holding that point must be complete, so that a mismatch is shown whole and a
/// longer packet with the expected bytes as its prefix does not pass. Bytes that cannot be framed (which
/// the script may expect on purpose) are compared as they are.
pub(super) fn judge(buf: &[u8], expected: &[u8]) -> Verdict {
    let common = buf.len().min(expected.len());
    let diff = first_difference(buf, expected);
    let differs = diff < common;
    let needed = if differs { diff + 1 } else { expected.len() };
    let mut end = 0;
    while end < needed {
        match packet::frame(&buf[end..], MAX_REMAINING_LENGTH) {
            Ok(Some(f)) => end += f.len(),
            Ok(None) => return Verdict::NeedMore,
            Err(_) if differs => return Verdict::Mismatch(buf.len()),
            Err(_) if buf.len() >= expected.len() => return Verdict::Match(expected.len()),
            Err(_) => return Verdict::NeedMore,
        }
    }
    if !differs && end == expected.len() {
        Verdict::Match(end)
    } else {
        Verdict::Mismatch(end)
    }
}

/// The offset of the first byte that differs, or the length of the shorter slice when one is a prefix of
/// the other.
pub(super) fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}
