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
///
/// Bounded in bytes as well as by the 65,535 ids: [`held_bytes`](AwaitingPubrel::held_bytes) counts what
/// the messages hold (topic and payload), and the session refuses a new message that would take it past
/// its `max_awaiting_pubrel_bytes` (see `Session::handle_publish`).
#[derive(Debug, Default)]
pub(super) struct AwaitingPubrel {
    mids: VecDeque<u16>,
    msgs: VecDeque<Message>,
    /// The bytes the held messages cost, by [`cost`].
    bytes: usize,
}

/// What a message held here is counted as: its topic and payload, the bytes a broker controls.
pub(super) fn cost(msg: &Message) -> usize {
    msg.topic.len() + msg.payload.len()
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
            self.bytes += cost(&msg);
            self.mids.push_back(msg.mid);
            self.msgs.push_back(msg);
        }
    }

    pub(super) fn release(&mut self, mid: u16) -> Option<Message> {
        let i = self.mids.iter().position(|&m| m == mid)?;
        self.mids.remove(i);
        let msg = self.msgs.remove(i)?;
        self.bytes -= cost(&msg);
        Some(msg)
    }

    pub(super) fn clear(&mut self) {
        self.mids.clear();
        self.msgs.clear();
        self.bytes = 0;
    }

    /// The bytes the held messages cost (topics and payloads).
    pub(super) fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a new message costing `bytes` would take the held bytes past `max`. The first message
    /// is always taken, whatever its size (the packet size limit bounds it), so a limit below the
    /// largest message slows nothing down but never refuses a lone message.
    pub(super) fn would_exceed(&self, bytes: usize, max: usize) -> bool {
        !self.msgs.is_empty() && self.bytes.saturating_add(bytes) > max
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
            bytes: 0,
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
        assert_eq!(held.held_bytes(), 0);
    }

    #[test]
    fn held_bytes_follow_inserts_resends_and_releases() {
        let msg = |mid, len| Message {
            mid,
            ..Message::new("t/x", vec![0u8; len], 2, false)
        };
        let mut held = AwaitingPubrel::default();
        assert!(
            !held.would_exceed(1 << 20, 10),
            "a first message is always taken"
        );
        held.insert(msg(1, 100));
        assert_eq!(held.held_bytes(), 103);
        held.insert(msg(1, 500)); // a resend: not kept, not counted
        assert_eq!(held.held_bytes(), 103);
        held.insert(msg(2, 7));
        assert_eq!(held.held_bytes(), 113);
        assert!(held.would_exceed(100, 200));
        assert!(!held.would_exceed(87, 200));
        assert_eq!(held.release(1).map(|m| m.payload.len()), Some(100));
        assert_eq!(held.held_bytes(), 10);
        assert!(held.release(1).is_none());
        assert_eq!(held.held_bytes(), 10);
    }
}
