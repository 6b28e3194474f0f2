//! Incoming QoS 2 messages awaiting PUBREL.

use std::collections::VecDeque;

use crate::message::Message;

/// Incoming QoS 2 messages awaiting PUBREL, in the order they arrived (which is the order brokers send
/// PUBREL in, so the one released is nearly always the first).
///
/// Not a map: a `HashMap<u16, Message>` holding a few hundred messages (a broker with no in-flight limit,
/// under load) had tables of 41 and 82 KB, with the old one alive beside the new one while growing; the
/// messages here cost their own size, and the ids scanned for duplicates are two bytes apiece in a
/// slice of their own.
#[derive(Debug, Default)]
pub(super) struct AwaitingPubrel {
    mids: VecDeque<u16>,
    msgs: VecDeque<Message>,
}

impl AwaitingPubrel {
    pub(super) fn contains(&self, mid: u16) -> bool {
        let (a, b) = self.mids.as_slices();
        a.contains(&mid) || b.contains(&mid)
    }

    /// Keeps `msg` until its PUBREL, unless a message with its id is already held (a resend of it, as
    /// after a reconnect): then `msg` is dropped and the first one kept.
    pub(super) fn insert(&mut self, msg: Message) {
        if !self.contains(msg.mid) {
            self.mids.push_back(msg.mid);
            self.msgs.push_back(msg);
        }
    }

    pub(super) fn release(&mut self, mid: u16) -> Option<Message> {
        let i = self.mids.iter().position(|&m| m == mid)?;
        self.mids.remove(i);
        self.msgs.remove(i)
    }

    pub(super) fn clear(&mut self) {
        self.mids.clear();
        self.msgs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awaiting_pubrel_finds_ids_after_wrapping() {
        let msg = |mid| Message {
            mid,
            ..Message::new("t", &b""[..], 2, false)
        };
        let mut held = AwaitingPubrel {
            mids: VecDeque::with_capacity(4),
            msgs: VecDeque::with_capacity(4),
        };
        for mid in 1..=4 {
            held.insert(msg(mid));
        }
        assert_eq!(held.release(1).map(|m| m.mid), Some(1));
        assert_eq!(held.release(2).map(|m| m.mid), Some(2));
        held.insert(msg(5));
        held.insert(msg(6));
        let (front, back) = held.mids.as_slices();
        assert!(!front.is_empty() && !back.is_empty(), "{front:?} {back:?}");
        for mid in 3..=6 {
            assert!(held.contains(mid), "{mid}");
        }
        held.insert(msg(6));
        assert_eq!(held.mids.len(), 4);
        assert_eq!(held.release(6).map(|m| m.mid), Some(6));
        assert_eq!(held.release(6).map(|m| m.mid), None);
        held.clear();
        assert!(!held.contains(3) && held.msgs.is_empty());
    }
}
