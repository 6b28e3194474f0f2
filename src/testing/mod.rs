//! Brokers for tests, yours and the crate's own (feature `testing`).
//!
//! - [`TestBroker`] is a small working MQTT 3.1 / 3.1.1 / 5 broker on loopback: QoS 0/1/2, retained
//!   messages, wildcards, persistent sessions, wills, keepalive, and MQTT 5's properties, reason codes,
//!   session expiry, subscription options, shared subscriptions and topic aliases. A test of code that publishes and subscribes runs
//!   against it with no broker installed, and observes or disturbs it through hooks ([`TestBroker::packets`],
//!   [`TestBroker::drop_client`], [`TestBroker::pause`], ...). Its rustdoc has a whole example.
//! - [`MockBroker`] is a scripted, byte-exact fake broker, described below.
//!
//! The [`guide`] shows how to test your own code with each, with complete examples.
//!
//! # MockBroker
//!
//! [`MockBroker`] is a scripted, byte-exact fake broker. A test starts it with a script, a closure that plays
//! the broker's side of one scenario step by step ("accept a connection, expect exactly these CONNECT bytes,
//! send this CONNACK, expect the client to close"), points the code under test at [`MockBroker::addr`], and
//! calls [`MockBroker::finish`] to learn whether every step happened as written. A failure names the step and
//! shows the bytes on both sides, in hex and decoded:
//!
//! ```text
//! step 4: the client sent other bytes than expected (first difference at offset 0)
//!   expected, 2 bytes: c0 00
//!     decoded: PingReq
//!   got, 2 bytes: e0 00
//!     decoded: Disconnect(Disconnect)
//! ```
//!
//! ## Example
//!
//! The code under test would normally be a client from this crate; here it is written out by hand with a
//! plain [`TcpStream`](std::net::TcpStream), so that every byte is visible.
//!
//! ```
//! use pahoish::packet::{Disconnect, Packet};
//! use pahoish::testing::MockBroker;
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//!
//! // CONNECT: protocol "MQTT" level 4 (3.1.1), clean session, keepalive 60 s, empty client id.
//! const CONNECT: [u8; 14] = [0x10, 0x0c, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];
//!
//! let broker = MockBroker::start(|s| {
//!     s.accept()?; //                                step 1
//!     s.expect(&CONNECT)?; //                        step 2
//!     s.send(&[0x20, 0x02, 0x00, 0x00])?; //         step 3: CONNACK, accepted
//!     s.expect_packet(&Packet::PingReq)?; //         step 4
//!     s.send_packet(&Packet::PingResp)?; //          step 5
//!     s.expect_packet(&Packet::Disconnect(Disconnect::default()))?; // step 6
//!     s.expect_closed() //                           step 7
//! });
//!
//! let mut client = TcpStream::connect(broker.addr())?;
//! client.set_read_timeout(Some(Duration::from_secs(5)))?;
//! client.write_all(&CONNECT)?;
//! let mut connack = [0; 4];
//! client.read_exact(&mut connack)?;
//! assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
//! client.write_all(&Packet::PingReq.to_bytes())?;
//! let mut pingresp = [0; 2];
//! client.read_exact(&mut pingresp)?;
//! assert_eq!(pingresp, [0xd0, 0x00]);
//! client.write_all(&Packet::Disconnect(Disconnect::default()).to_bytes())?;
//! drop(client);
//!
//! broker.finish(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How a script runs
//!
//! - The broker listens on `127.0.0.1` on a port the system picks, so tests never collide; the script runs
//!   on a thread of its own, and its [`MockSession`] serves one client connection at a time.
//! - Every call on the session except [`set_timeout`](MockSession::set_timeout) is a step, numbered from 1
//!   in the order the script makes them. Errors carry the step number, so a failure points at a line of
//!   the script.
//! - Every step that waits gives up after the step timeout (5 seconds unless the script sets another), and
//!   [`finish`](MockBroker::finish) waits at most the time it is given: a client that goes quiet fails the
//!   test with [`MockError::Timeout`] instead of hanging it.
//! - [`expect`](MockSession::expect) reads whole MQTT packets and compares them byte for byte. Bytes the
//!   client sent beyond the expected packets stay buffered for the next step, however the client split or
//!   joined its writes. A step that fails consumes nothing.
//! - When the script returns, the broker closes the connection and stops listening.
//!
//! [`hex`] formats bytes the way the errors do, for your own assertions and messages.

// The source: each broker is a folder whose mod.rs holds its public handle and the overview of its design.
// - broker/ (TestBroker): state.rs, the sessions, subscriptions, retained messages and routing; protocol.rs,
//   what the broker does with each packet of a connection; threads.rs, the accept, reader and writer
//   threads; tests.rs.
// - mock/ (MockBroker): script.rs, MockSession and its steps; connection.rs, reads bounded by a step's
//   deadline and the packet-by-packet comparison; report.rs, MockError and its hex-and-decoded text;
//   tests.rs.
// They share nothing with the client but the codec (crate::packet) and topic matching and validation
// (crate::topic): a broker built on the client's internals could share their bugs and hide them from tests.
mod broker;
mod mock;

/// How to test your own code with [`MockBroker`] and [`TestBroker`] (docs/testing.md in the repository).
///
/// Its examples are complete programs, compiled and run as doctests.
#[doc = include_str!("../../docs/testing.md")]
pub mod guide {}

pub use broker::{AuthStep, Authenticator, Direction, TestBroker, TestBrokerBuilder};
pub use mock::{MockBroker, MockError, MockSession};

use std::fmt::Write;

/// Formats bytes as two-digit lowercase hex separated by spaces, as the [`MockError`] messages show them.
///
/// ```
/// use pahoish::testing::hex;
/// assert_eq!(hex(&[0x10, 0x0c, 0x00, 0x04, b'M']), "10 0c 00 04 4d");
/// assert_eq!(hex(&[]), "");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}
