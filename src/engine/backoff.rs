//! The reconnect backoff of `loop_forever` and `loop_start`, as a value the loop feeds with what
//! happened and when (no clock read inside, so it is tested with made-up instants).
//!
//! Paho doubles the wait from `min_delay` to `max_delay` and goes back to `min_delay` at every
//! accepted CONNACK. A broker that accepts and then drops the client at once (another client with the
//! same id, a message it rejects resent at each connect) then gets a reconnect every `min_delay` for
//! ever. Here the wait goes back to `min_delay` only after a connection stayed up for
//! [`STABLE_AFTER`], each wait is spread by ±25% so that clients dropped together do not come back
//! together, and a run of connections closed soon after their CONNACK is reported once: it usually
//! means another client uses the same client id.

use std::time::{Duration, Instant};

/// How long a connection must stay up for the next reconnect to start again from `min_delay`.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How many connections in a row closed within `STABLE_AFTER` of their CONNACK before the warning.
const SHORT_LIVED_WARNING: u32 = 3;

/// The backoff state.
#[derive(Debug)]
pub(crate) struct Backoff {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
    /// The last wait before jitter; the next one doubles it. `None`: the next wait is `min`.
    delay: Option<Duration>,
    /// When the current connection's CONNACK accepted it.
    connected_at: Option<Instant>,
    /// Connections in a row that closed within `STABLE_AFTER` of their CONNACK.
    short_lived: u32,
    /// Whether the short-lived warning was given (once per run of them).
    warned: bool,
}

/// What `closed` asks the loop to do besides waiting.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Nothing to say.
    Quiet,
    /// Warn, once: this many connections in a row closed soon after their CONNACK.
    ShortLived(u32),
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            delay: None,
            connected_at: None,
            short_lived: 0,
            warned: false,
        }
    }

    /// The wait before the next connection attempt: `min`, then doubled per attempt up to `max`, each
    /// spread by `spread` (a factor in 0.75..=1.25, random in the loop) but kept within `min..=max`:
    /// `min_delay` stays a minimum, as users of Paho expect.
    pub(crate) fn next_wait(&mut self, spread: f64) -> Duration {
        let d = match self.delay {
            None => self.min,
            Some(d) => d.checked_mul(2).unwrap_or(self.max).min(self.max),
        };
        self.delay = Some(d);
        d.mul_f64(spread.clamp(0.75, 1.25))
            .clamp(self.min, self.max)
    }

    /// A CONNACK accepted the connection at `now`.
    pub(crate) fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// The connection closed at `now`. A connection that stayed up for `STABLE_AFTER` starts the
    /// backoff over; one that closed sooner after its CONNACK leaves it growing, and the third of
    /// those in a row asks for the warning.
    pub(crate) fn closed(&mut self, now: Instant) -> Closed {
        let Some(at) = self.connected_at.take() else {
            return Closed::Quiet;
        };
        if now.saturating_duration_since(at) >= STABLE_AFTER {
            self.delay = None;
            self.short_lived = 0;
            self.warned = false;
            return Closed::Quiet;
        }
        self.short_lived += 1;
        if self.short_lived >= SHORT_LIVED_WARNING && !self.warned {
            self.warned = true;
            return Closed::ShortLived(self.short_lived);
        }
        Closed::Quiet
    }

    /// The server ended the connection with a reason that says connecting again at once would fail
    /// the same way (session taken over, banned, busy, ...): the next wait grows, however long the
    /// connection lasted, and it counts toward the short-lived warning.
    pub(crate) fn rejected(&mut self) -> Closed {
        self.delay.get_or_insert(self.min);
        self.connected_at = None;
        self.short_lived += 1;
        if self.short_lived >= SHORT_LIVED_WARNING && !self.warned {
            self.warned = true;
            return Closed::ShortLived(self.short_lived);
        }
        Closed::Quiet
    }

    /// The connection closed after our own `disconnect()`: it says nothing about the broker, so it
    /// neither counts as short-lived nor starts the backoff over.
    pub(crate) fn ended_by_us(&mut self) -> Closed {
        self.connected_at = None;
        Closed::Quiet
    }

    /// The wait last used, before jitter (for tests and the defaults check).
    #[cfg(test)]
    pub(crate) fn delay(&self) -> Option<Duration> {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn waits_double_up_to_the_maximum_and_jitter_stays_within_a_quarter() {
        let mut b = Backoff::new(S(1), S(10));
        let waits: Vec<Duration> = (0..6).map(|_| b.next_wait(1.0)).collect();
        assert_eq!(waits, [S(1), S(2), S(4), S(8), S(10), S(10)]);
        let mut b = Backoff::new(S(4), S(120));
        assert_eq!(b.next_wait(0.75), S(4), "never below the minimum");
        assert_eq!(b.next_wait(1.25), S(10));
        assert_eq!(b.next_wait(0.75), S(12));
        assert_eq!(b.next_wait(9.0), S(40), "the spread is clamped to ±25%");
        let mut b = Backoff::new(S(100), S(120));
        b.next_wait(1.0);
        assert_eq!(b.next_wait(1.25), S(120), "never past the maximum");
    }

    #[test]
    fn only_a_connection_that_stayed_up_starts_the_backoff_over() {
        let t0 = Instant::now();
        let mut b = Backoff::new(S(1), S(120));
        b.next_wait(1.0);
        b.next_wait(1.0);
        // Accepted, then dropped after a second: the backoff keeps growing (Paho would reset it).
        b.connected(t0);
        assert_eq!(b.closed(t0 + S(1)), Closed::Quiet);
        assert_eq!(b.next_wait(1.0), S(4));
        // Up for longer than STABLE_AFTER: the next wait is the minimum again.
        b.connected(t0 + S(5));
        assert_eq!(b.closed(t0 + S(5) + STABLE_AFTER), Closed::Quiet);
        assert_eq!(b.delay(), None);
        assert_eq!(b.next_wait(1.0), S(1));
    }

    #[test]
    fn a_run_of_short_lived_connections_warns_once() {
        let t0 = Instant::now();
        let mut b = Backoff::new(S(1), S(120));
        let mut said = Vec::new();
        for i in 0..6 {
            b.connected(t0 + S(i * 2));
            said.push(b.closed(t0 + S(i * 2 + 1)));
        }
        assert_eq!(
            said,
            [
                Closed::Quiet,
                Closed::Quiet,
                Closed::ShortLived(3),
                Closed::Quiet,
                Closed::Quiet,
                Closed::Quiet
            ]
        );
        // A connection that failed before any CONNACK says nothing and changes nothing, and neither
        // does one we disconnected ourselves.
        assert_eq!(b.closed(t0 + S(100)), Closed::Quiet);
        b.connected(t0 + S(100));
        assert_eq!(b.ended_by_us(), Closed::Quiet);
        assert_eq!(b.closed(t0 + S(101)), Closed::Quiet);
        // A rejection grows the wait even after a long connection.
        let mut r = Backoff::new(S(1), S(120));
        r.connected(t0);
        r.rejected();
        assert_eq!(r.next_wait(1.0), S(2));
        // After a stable connection, a new run may warn again.
        b.connected(t0 + S(100));
        b.closed(t0 + S(200));
        for i in 0..3 {
            b.connected(t0 + S(300 + i));
            let said = b.closed(t0 + S(300 + i));
            assert_eq!(said == Closed::ShortLived(3), i == 2);
        }
    }
}
