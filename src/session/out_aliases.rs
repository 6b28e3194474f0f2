//! Automatic outgoing topic aliases (MQTT 5; opt-in, not in Paho): the client gives the topics it
//! publishes on an alias each, up to the smaller of its own limit and the server's Topic Alias Maximum,
//! replacing the least recently used one when they are all taken. The first PUBLISH with an alias on a
//! connection carries the topic too (which sets the alias at the server); later ones carry the alias
//! and an empty topic. The table lives for one connection ([MQTT-3.3.2-7]), and a message sent again
//! after a reconnect carries its full topic.

use std::collections::HashMap;

/// The aliases this client set on the current connection.
#[derive(Debug, Default)]
pub(super) struct OutgoingAliases {
    /// How many aliases the client may set on this connection: 0 when off or when the server takes
    /// none.
    limit: u16,
    /// Topic → its alias and when it was last used.
    by_topic: HashMap<String, (u16, u64)>,
    /// Alias − 1 → its topic.
    topics: Vec<String>,
    /// Counts uses, to find the least recently used alias.
    clock: u64,
}

/// What to send for a PUBLISH's topic.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AliasUse {
    /// No alias: the full topic alone.
    None,
    /// Set this alias: the full topic and the alias.
    Set(u16),
    /// Use this alias: an empty topic and the alias.
    Reuse(u16),
}

impl OutgoingAliases {
    /// A new connection: no alias set, and at most `limit` of them (the smaller of the client's limit
    /// and the server's Topic Alias Maximum).
    pub(super) fn reset(&mut self, limit: u16) {
        self.limit = limit;
        self.by_topic.clear();
        self.topics.clear();
        self.clock = 0;
    }

    /// The alias to send `topic` with.
    pub(super) fn assign(&mut self, topic: &str) -> AliasUse {
        if self.limit == 0 {
            return AliasUse::None;
        }
        self.clock += 1;
        if let Some((alias, used)) = self.by_topic.get_mut(topic) {
            *used = self.clock;
            return AliasUse::Reuse(*alias);
        }
        let alias = if self.topics.len() < usize::from(self.limit) {
            self.topics.push(topic.to_owned());
            self.topics.len() as u16
        } else {
            // All taken: the least recently used alias is set again, to this topic.
            let Some((old, alias)) = self
                .by_topic
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(t, (a, _))| (t.clone(), *a))
            else {
                return AliasUse::None;
            };
            self.by_topic.remove(&old);
            self.topics[usize::from(alias) - 1] = topic.to_owned();
            alias
        };
        self.by_topic.insert(topic.to_owned(), (alias, self.clock));
        AliasUse::Set(alias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_reuse_then_replace_the_least_recently_used() {
        let mut a = OutgoingAliases::default();
        assert_eq!(a.assign("x"), AliasUse::None, "off until a limit is set");
        a.reset(2);
        assert_eq!(a.assign("a"), AliasUse::Set(1));
        assert_eq!(a.assign("b"), AliasUse::Set(2));
        assert_eq!(a.assign("a"), AliasUse::Reuse(1));
        // Both taken; "b" was used longest ago: its alias 2 now stands for "c".
        assert_eq!(a.assign("c"), AliasUse::Set(2));
        assert_eq!(a.assign("a"), AliasUse::Reuse(1));
        assert_eq!(a.assign("b"), AliasUse::Set(2), "c was older than a");
        assert_eq!(a.assign("b"), AliasUse::Reuse(2));
        // A new connection forgets them all.
        a.reset(2);
        assert_eq!(a.assign("b"), AliasUse::Set(1));
        a.reset(0);
        assert_eq!(a.assign("b"), AliasUse::None);
    }
}
