//! Which server of a `connect_urls` list the next connection goes to, as a value the engine updates
//! with what each attempt did (no I/O, no clock), so that it is tested on its own.
//!
//! Design: the list is tried in order, starting at the server after the one the last connection
//! went to, so a reconnect leaves a dead node at once instead of retrying it. A round is one pass
//! through the list: the attempts of a round follow each other without waiting, and the reconnect
//! backoff is waited once per round (before the round that follows a lost connection or a round in
//! which every server failed), not once per server. A single server is a list of one, which gives
//! the backoff per attempt of a client without a list.

/// The rotation state, in the engine's `State`.
#[derive(Debug, Default)]
pub(crate) struct Rotation {
    /// The index, modulo the list's length, of the server the next attempt goes to.
    next: usize,
    /// Attempts that failed since the round began.
    failed: usize,
}

impl Rotation {
    /// A new list (or a new single server): the next attempt goes to the first server.
    pub(crate) fn restart(&mut self) {
        *self = Rotation::default();
    }

    /// A blocking `connect`/`reconnect` begins: it may try every server once, from the next one.
    pub(crate) fn begin_round(&mut self) {
        self.failed = 0;
    }

    /// The server the next attempt goes to, as an index to take modulo the list's length (which the
    /// handler knows).
    pub(crate) fn next(&self) -> usize {
        self.next
    }

    /// The server (an index into a list of `servers`) the next attempt goes to.
    pub(crate) fn target(&self, servers: usize) -> usize {
        self.next % servers.max(1)
    }

    /// The attempt at `target(servers)` opened a connection: that server is the current one, and the
    /// next attempt (a reconnect) goes to the one after it, in a new round.
    pub(crate) fn opened(&mut self, servers: usize) {
        self.next = self.target(servers) + 1;
        self.failed = 0;
    }

    /// The attempt at `target(servers)` failed: the next one goes to the following server. Returns
    /// whether this completed a round (every server failed once since the round began), after which
    /// the next attempt waits for the backoff.
    pub(crate) fn failed(&mut self, servers: usize) -> bool {
        let servers = servers.max(1);
        self.next = self.target(servers) + 1;
        self.failed += 1;
        if self.failed >= servers {
            self.failed = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays attempts against a list of `n` servers of which `up` accept; returns the servers tried
    /// and, after each failure, whether it ended a round.
    fn play(r: &mut Rotation, n: usize, up: &[usize], attempts: usize) -> Vec<(usize, bool)> {
        (0..attempts)
            .map(|_| {
                let s = r.target(n);
                if up.contains(&s) {
                    r.opened(n);
                    (s, false)
                } else {
                    (s, r.failed(n))
                }
            })
            .collect()
    }

    #[test]
    fn the_first_connection_tries_the_list_in_order_and_a_round_ends_after_each_server_failed() {
        let mut r = Rotation::default();
        assert_eq!(
            play(&mut r, 3, &[], 4),
            [(0, false), (1, false), (2, true), (0, false)]
        );
        let mut r = Rotation::default();
        assert_eq!(play(&mut r, 3, &[1], 2), [(0, false), (1, false)]);
        assert_eq!(
            r.target(3),
            2,
            "the next connection goes to the server after the current one"
        );
    }

    #[test]
    fn a_reconnect_starts_at_the_server_after_the_current_one() {
        let mut r = Rotation::default();
        assert_eq!(play(&mut r, 3, &[0, 1, 2], 1), [(0, false)]);
        // The node the client was on died: the reconnect goes to the next one at once.
        assert_eq!(play(&mut r, 3, &[1, 2], 1), [(1, false)]);
        // That one died too and the first is down: a round tries the other two, then the first.
        assert_eq!(play(&mut r, 3, &[], 3), [(2, false), (0, false), (1, true)]);
        // The count of a round starts over with each blocking call and each connection.
        r.failed(3);
        r.begin_round();
        assert_eq!(play(&mut r, 3, &[], 3), [(0, false), (1, false), (2, true)]);
    }

    #[test]
    fn one_server_is_a_round_of_one_and_a_new_list_starts_at_its_first() {
        let mut r = Rotation::default();
        assert_eq!(play(&mut r, 1, &[], 2), [(0, true), (0, true)]);
        assert_eq!(play(&mut r, 1, &[0], 2), [(0, false), (0, false)]);
        play(&mut r, 3, &[0, 1, 2], 2);
        r.restart();
        assert_eq!(r.target(2), 0);
        // A list that shrank under the index still names one of its servers.
        let mut r = Rotation::default();
        play(&mut r, 5, &[0, 1, 2, 3, 4], 4);
        assert!(r.target(2) < 2);
        assert_eq!(r.target(0), 0, "no list at all: the one server");
    }
}
