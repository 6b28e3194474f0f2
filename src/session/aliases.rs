//! Incoming topic aliases (MQTT 5): the server may replace a topic it sends often by a number, set on
//! the first PUBLISH that carries both and used alone (with an empty topic) afterwards. The table lives
//! for one connection ([MQTT-3.3.2-7]) and holds at most this client's Topic Alias Maximum entries.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The aliases the server set on the current connection.
#[derive(Debug, Default)]
pub(super) struct TopicAliases {
    map: HashMap<u16, String>,
}

impl TopicAliases {
    /// Forgets every alias: a new connection starts without any.
    pub(super) fn clear(&mut self) {
        self.map.clear();
    }

    /// The full topic of a PUBLISH that carried `topic` and, perhaps, `alias`; `maximum` is the Topic
    /// Alias Maximum this client sent (0: none allowed). Sets the alias when the topic is given,
    /// resolves it when the topic is empty. Fails, naming the problem, for an alias of 0 or over the
    /// maximum ([MQTT-3.3.2-8], [MQTT-3.3.2-9]), an empty topic without an alias, and an alias that was
    /// never set on this connection: the caller closes the connection with reason 0x94 (Topic alias
    /// invalid) or 0x82 (Protocol error).
    pub(super) fn resolve(
        &mut self,
        topic: String,
        alias: Option<u16>,
        maximum: u16,
    ) -> Result<String> {
        let Some(alias) = alias else {
            if topic.is_empty() {
                return Err(Error::protocol(
                    "the server sent a PUBLISH with an empty topic and no topic alias",
                ));
            }
            return Ok(topic);
        };
        if alias == 0 || alias > maximum {
            return Err(Error::protocol(format!(
                "the server used topic alias {alias}, beyond this client's Topic Alias Maximum of \
                 {maximum}"
            )));
        }
        if topic.is_empty() {
            return self.map.get(&alias).cloned().ok_or_else(|| {
                Error::protocol(format!(
                    "the server used topic alias {alias}, which it never set on this connection"
                ))
            });
        }
        match self.map.get_mut(&alias) {
            Some(known) if *known == topic => {}
            Some(known) => *known = topic.clone(),
            None => {
                self.map.insert(alias, topic.clone());
            }
        }
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_set_with_its_topic_resolved_alone_and_forgotten_with_the_connection() {
        let mut a = TopicAliases::default();
        assert_eq!(a.resolve("t/1".into(), None, 0).unwrap(), "t/1");
        assert_eq!(a.resolve("t/1".into(), Some(1), 2).unwrap(), "t/1");
        assert_eq!(a.resolve(String::new(), Some(1), 2).unwrap(), "t/1");
        // Set again to another topic.
        assert_eq!(a.resolve("t/2".into(), Some(1), 2).unwrap(), "t/2");
        assert_eq!(a.resolve(String::new(), Some(1), 2).unwrap(), "t/2");
        a.clear();
        assert!(a.resolve(String::new(), Some(1), 2).is_err());
    }

    #[test]
    fn zero_too_high_unset_and_missing_aliases_are_refused() {
        let mut a = TopicAliases::default();
        assert!(a.resolve("t".into(), Some(0), 5).is_err());
        assert!(a.resolve("t".into(), Some(6), 5).is_err());
        assert!(a.resolve("t".into(), Some(1), 0).is_err());
        assert!(a.resolve(String::new(), Some(2), 5).is_err());
        assert!(a.resolve(String::new(), None, 5).is_err());
    }
}
