//! How a failed [`MockBroker`](super::MockBroker) script is reported: [`MockError`], whose `Display`
//! names the step and shows the bytes on both sides in hex and decoded as packets.

use std::fmt;
use std::io;

use super::connection::first_difference;
use crate::packet::{self, DecodeError, MAX_REMAINING_LENGTH};
use crate::testing::hex;
use crate::types::Protocol;

/// How many bytes an error message shows in hex before it elides the rest.
const SHOWN_BYTES: usize = 256;
/// How many bytes a `waiting_for` description shows.
const SHOWN_BYTES_SHORT: usize = 32;
/// How many characters of decoded packets an error message shows.
const SHOWN_CHARS: usize = 2000;

/// Why a [`MockBroker`](super::MockBroker) script failed: which step, and what the client did instead.
///
/// The `Display` form is written for a test failure: the step number, and the bytes on both sides in hex
/// (see [`hex`]) with the packets they decode to.
#[derive(Debug)]
#[non_exhaustive]
pub enum MockError {
    /// The client sent other bytes than the step expected.
    ///
    /// `expected` is empty when the step expected nothing at all
    /// ([`expect_closed`](super::MockSession::expect_closed),
    /// [`expect_silence`](super::MockSession::expect_silence)).
    #[non_exhaustive]
    Mismatch {
        /// The step that failed, from 1.
        step: usize,
        /// The bytes the script expected.
        expected: Vec<u8>,
        /// The bytes the client sent: the whole packets up to and including the one that differs, or what
        /// had arrived when the client stopped sending.
        got: Vec<u8>,
        /// The protocol the bytes are decoded as in the message (see
        /// [`MockSession::protocol`](super::MockSession::protocol)).
        protocol: Protocol,
    },
    /// The step timeout passed before the step was done (or, from
    /// [`MockBroker::finish`](super::MockBroker::finish), the script did not end in time).
    #[non_exhaustive]
    Timeout {
        /// The step that was waiting, from 1.
        step: usize,
        /// What the step was waiting for: the expected bytes, "a packet", "a client to connect", ...
        waiting_for: String,
        /// The bytes received and not consumed by any step: what the client sent short of what was
        /// awaited.
        got: Vec<u8>,
        /// The protocol the bytes are decoded as in the message.
        protocol: Protocol,
    },
    /// The client closed the connection (or reset it) while the step waited for bytes.
    #[non_exhaustive]
    Closed {
        /// The step that was waiting, from 1.
        step: usize,
        /// What the step was waiting for.
        waiting_for: String,
        /// The bytes received and not consumed by any step before the close.
        got: Vec<u8>,
        /// The protocol the bytes are decoded as in the message.
        protocol: Protocol,
    },
    /// The client sent bytes that are not a valid MQTT packet
    /// ([`recv_packet`](super::MockSession::recv_packet), [`recv_raw`](super::MockSession::recv_raw)).
    Decode {
        /// The step that failed, from 1.
        step: usize,
        /// Why the bytes do not decode.
        error: DecodeError,
        /// The bytes in question.
        got: Vec<u8>,
    },
    /// A socket operation failed.
    Io {
        /// The step that failed, from 1.
        step: usize,
        /// The error from the operating system.
        error: io::Error,
    },
    /// The step needs a client connection and there is none: the script did not
    /// [`accept`](super::MockSession::accept) one, or it was closed.
    NoConnection {
        /// The step that failed, from 1.
        step: usize,
    },
    /// The script failed for its own reason ([`MockError::script`]), or panicked (the message then starts
    /// with `"script panicked: "`).
    Script(String),
}

impl MockError {
    /// A failure of the script's own, for checks the session's steps do not make.
    ///
    /// # Examples
    ///
    /// ```
    /// use pahoish::testing::{MockBroker, MockError};
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|_s| Err(MockError::script("the client id was empty")));
    /// let err = broker.finish(Duration::from_secs(5)).unwrap_err();
    /// assert_eq!(err.to_string(), "the client id was empty");
    /// ```
    pub fn script(message: impl Into<String>) -> MockError {
        MockError::Script(message.into())
    }

    /// The step the error happened at, from 1; `None` for [`MockError::Script`].
    pub fn step(&self) -> Option<usize> {
        match self {
            MockError::Mismatch { step, .. }
            | MockError::Timeout { step, .. }
            | MockError::Closed { step, .. }
            | MockError::Decode { step, .. }
            | MockError::Io { step, .. }
            | MockError::NoConnection { step } => Some(*step),
            MockError::Script(_) => None,
        }
    }
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::Mismatch {
                step,
                expected,
                got,
                protocol,
            } if expected.is_empty() => {
                write!(
                    f,
                    "step {step}: the client sent bytes where the script expected none"
                )?;
                write_bytes(f, "got", got, *protocol)
            }
            MockError::Mismatch {
                step,
                expected,
                got,
                protocol,
            } => {
                let at = first_difference(expected, got);
                write!(f, "step {step}: the client sent other bytes than expected")?;
                if expected != got {
                    write!(f, " (first difference at offset {at})")?;
                }
                write_bytes(f, "expected", expected, *protocol)?;
                write_bytes(f, "got", got, *protocol)?;
                if at >= SHOWN_BYTES && expected != got {
                    // The difference is past what the lines above show: show it where it is.
                    let window = |b: &[u8]| hex_capped(&b[at.min(b.len())..], 16);
                    let (e, g) = (window(expected), window(got));
                    write!(f, "\n  from offset {at}: expected {e}, got {g}")?;
                }
                Ok(())
            }
            MockError::Timeout {
                step,
                waiting_for,
                got,
                protocol,
            } => {
                write!(f, "step {step}: timed out waiting for {waiting_for}")?;
                if !got.is_empty() {
                    write_bytes(f, "received so far", got, *protocol)?;
                }
                Ok(())
            }
            MockError::Closed {
                step,
                waiting_for,
                got,
                protocol,
            } => {
                write!(f, "step {step}: the client closed the connection")?;
                write!(f, " while the script waited for {waiting_for}")?;
                if !got.is_empty() {
                    write_bytes(f, "received before", got, *protocol)?;
                }
                Ok(())
            }
            MockError::Decode { step, error, got } => {
                write!(f, "step {step}: the client sent an invalid packet: {error}")?;
                let shown = hex_capped(got, SHOWN_BYTES);
                write!(f, "\n  got, {}: {shown}", count(got.len()))
            }
            MockError::Io { step, error } => write!(f, "step {step}: I/O error: {error}"),
            MockError::NoConnection { step } => write!(
                f,
                "step {step}: no client connection (accept() one first; close() and \
                 expect_closed() end it)"
            ),
            MockError::Script(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MockError::Decode { error, .. } => Some(error),
            MockError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One labelled line of hex, and a line of the packets it decodes to.
fn write_bytes(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    bytes: &[u8],
    protocol: Protocol,
) -> fmt::Result {
    write!(
        f,
        "\n  {label}, {}: {}",
        count(bytes.len()),
        hex_capped(bytes, SHOWN_BYTES)
    )?;
    if !bytes.is_empty() {
        write!(f, "\n    decoded: {}", decoded(bytes, protocol))?;
    }
    Ok(())
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

fn hex_capped(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        hex(bytes)
    } else {
        let more = bytes.len() - max;
        let unit = if more == 1 { "byte" } else { "bytes" };
        format!("{} ... ({more} more {unit})", hex(&bytes[..max]))
    }
}

/// One packet from the front of `bytes`, as `protocol` has it.
fn decode(
    bytes: &[u8],
    protocol: Protocol,
) -> Result<Option<(packet::Packet, usize)>, DecodeError> {
    match protocol {
        Protocol::V5 => packet::decode_v5(bytes, MAX_REMAINING_LENGTH),
        _ => packet::decode(bytes, MAX_REMAINING_LENGTH),
    }
}

/// The packets in `bytes`, in Debug form, and what is left when the rest does not decode.
fn decoded(bytes: &[u8], protocol: Protocol) -> String {
    let mut parts = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match decode(rest, protocol) {
            Ok(Some((p, used))) => {
                parts.push(format!("{p:?}"));
                rest = &rest[used..];
            }
            Ok(None) => {
                parts.push(format!("(an incomplete packet, {})", count(rest.len())));
                break;
            }
            Err(e) => {
                parts.push(format!("(not a valid packet: {e})"));
                break;
            }
        }
    }
    let text = parts.join(", ");
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{} ...", &text[..cut]),
        None => text,
    }
}

/// A short description of expected bytes for `waiting_for`: the packet names, then the hex.
pub(super) fn describe(bytes: &[u8], protocol: Protocol) -> String {
    let mut names = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match decode(rest, protocol) {
            Ok(Some((p, used))) => {
                names.push(p.name());
                rest = &rest[used..];
            }
            Ok(None) => {
                names.push("an incomplete packet");
                break;
            }
            Err(_) => {
                names.push("bytes that are not a packet");
                break;
            }
        }
    }
    format!(
        "{} ({})",
        names.join(", "),
        hex_capped(bytes, SHOWN_BYTES_SHORT)
    )
}
