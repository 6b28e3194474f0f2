//! [`MockBroker`]: the scripted, byte-exact fake broker described in the [module docs](super).
//!
//! Design: the script runs on its own thread with a [`MockSession`]; the result comes back over a channel, so
//! [`MockBroker::finish`] can wait with a timeout and never hangs.
//!
//! - This file: the handle, [`MockBroker`]: it starts the script on its thread and waits for its result.
//! - [`script`]: [`MockSession`], the steps a script is written in, and the thread that accepts
//!   connections for it.
//! - [`connection`]: one client connection: reads bounded by the step's deadline, and the packet-by-packet
//!   comparison behind `expect`.
//! - [`report`]: [`MockError`], whose text shows both sides of a failed step in hex and decoded.
//! - `tests.rs`: the tests.

mod connection;
mod report;
mod script;
#[cfg(test)]
mod tests;

pub use report::MockError;
pub use script::MockSession;

use std::any::Any;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::types::Protocol;

/// A scripted fake MQTT broker listening on `127.0.0.1`, for tests.
///
/// [`start`](MockBroker::start) runs the script on a thread of its own; the code under test connects to
/// [`addr`](MockBroker::addr); [`finish`](MockBroker::finish) returns the script's result. See the
/// [module docs](super) for a whole example.
///
/// Dropping a `MockBroker` without calling `finish` neither waits nor panics: a script that is still running
/// goes on, detached, until it ends or one of its steps times out.
#[must_use = "a MockBroker's result is only seen through finish()"]
pub struct MockBroker {
    addr: SocketAddr,
    /// The step the script is at, shared with its session so that a `finish` timeout can say where it was.
    step: Arc<AtomicUsize>,
    result: Receiver<Result<(), MockError>>,
    thread: JoinHandle<()>,
}

impl MockBroker {
    /// Starts listening on `127.0.0.1` on a free port and runs `script` on a thread of its own.
    ///
    /// The script receives the [`MockSession`] that plays the broker's side; it returns `Ok(())` when every
    /// step went as written, and usually propagates the first failed step with `?`. A script may also fail
    /// with its own message ([`MockError::script`]); one that panics is reported by
    /// [`finish`](MockBroker::finish) as a [`MockError::Script`] rather than as a panic.
    ///
    /// # Panics
    ///
    /// If the system refuses to listen on a loopback port or to start a thread: a test cannot run then.
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
    ///     s.expect(&[0xc0, 0x00]) // PINGREQ
    /// });
    /// TcpStream::connect(("127.0.0.1", broker.port()))?.write_all(&[0xc0, 0x00])?;
    /// broker.finish(Duration::from_secs(5))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start<F>(script: F) -> MockBroker
    where
        F: FnOnce(&mut MockSession) -> Result<(), MockError> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("MockBroker: cannot listen on 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("MockBroker: cannot read the listening address: {e}"));
        let step = Arc::new(AtomicUsize::new(0));
        let session = MockSession::new(listener, addr, Arc::clone(&step));
        let (tx, result) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("mock-broker-{}", addr.port()))
            .spawn(move || {
                // The session is dropped inside catch_unwind too, so its connections are closed before the
                // result is sent: a test that sees the result can rely on the broker being gone.
                let outcome = panic::catch_unwind(AssertUnwindSafe(move || {
                    let mut session = session;
                    script(&mut session)
                }));
                let result = outcome.unwrap_or_else(|payload| {
                    Err(MockError::Script(format!(
                        "script panicked: {}",
                        panic_message(payload.as_ref())
                    )))
                });
                // Nobody is listening when the MockBroker was dropped without finish(); that is fine.
                let _ = tx.send(result);
            })
            .unwrap_or_else(|e| panic!("MockBroker: cannot start the script thread: {e}"));
        MockBroker {
            addr,
            step,
            result,
            thread,
        }
    }

    /// The port the broker listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the broker listens on: `127.0.0.1` and [`port`](MockBroker::port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the script to end, at most `timeout`, and returns its result.
    ///
    /// A script still running after `timeout` gives [`MockError::Timeout`] (with the step it was at, 0 before
    /// its first, and `waiting_for` set to `"the script to end"`) and is left to end on its own step
    /// timeouts; a script that panicked gives [`MockError::Script`] with `"script panicked: "` and the panic
    /// message.
    ///
    /// # Examples
    ///
    /// A client that sends DISCONNECT where the script expects PINGREQ fails step 2 at once:
    ///
    /// ```
    /// use pahoish::packet::Packet;
    /// use pahoish::testing::{MockBroker, MockError};
    /// use std::io::Write;
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    ///
    /// let broker = MockBroker::start(|s| {
    ///     s.accept()?;
    ///     s.expect_packet(&Packet::PingReq)
    /// });
    /// let mut client = TcpStream::connect(broker.addr())?;
    /// client.write_all(&[0xe0, 0x00])?; // DISCONNECT
    ///
    /// let err = broker.finish(Duration::from_secs(5)).unwrap_err();
    /// assert!(matches!(&err, MockError::Mismatch { step: 2, got, .. } if got == &[0xe0, 0x00]));
    /// assert!(err.to_string().contains("expected, 2 bytes: c0 00"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(self, timeout: Duration) -> Result<(), MockError> {
        match self.result.recv_timeout(timeout) {
            Ok(result) => {
                // The thread has sent its last word and is only returning, so this join is immediate.
                let _ = self.thread.join();
                result
            }
            // Dropping the JoinHandle detaches the thread; its own step timeouts end it.
            Err(RecvTimeoutError::Timeout) => Err(MockError::Timeout {
                step: self.step.load(Ordering::Relaxed),
                waiting_for: "the script to end".to_string(),
                got: Vec::new(),
                protocol: Protocol::V311,
            }),
            // Only reachable if the thread died without reaching its send, which catch_unwind prevents.
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
                Err(MockError::Script(
                    "the script thread ended without a result".to_string(),
                ))
            }
        }
    }
}

impl fmt::Debug for MockBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockBroker")
            .field("addr", &self.addr)
            .field("step", &self.step.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic payload that is not a string)".to_string()
    }
}
