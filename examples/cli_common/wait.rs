//! Waiting for the network thread's events with `-W`'s deadline, as sub and rr do. Included by the
//! tools that take `-W` (`#[path]`).

use std::sync::mpsc;
use std::time::Instant;

use crate::cli_common::{Event, Failure, EXIT_FAILURE};

/// `-W`: the time ran out, as mosquitto's tools exit.
pub const EXIT_TIMEOUT: u8 = 27;

/// The next event, waiting at most until `deadline` (`-W`): `Timed out` with status 27 when it
/// passes, as mosquitto's tools say it, and a failure when the loop has stopped.
pub fn next_event<T>(
    events: &mpsc::Receiver<Event<T>>,
    deadline: Option<Instant>,
) -> Result<Event<T>, Failure> {
    let stopped = || Failure::new(EXIT_FAILURE, "Error: the network loop stopped.");
    match deadline {
        Some(d) => events
            .recv_timeout(d.saturating_duration_since(Instant::now()))
            .map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => Failure::new(EXIT_TIMEOUT, "Timed out"),
                mpsc::RecvTimeoutError::Disconnected => stopped(),
            }),
        None => events.recv().map_err(|_| stopped()),
    }
}
