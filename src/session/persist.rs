//! The session's records for a store (`crate::store`): what a new process needs to continue.
//!
//! Nothing here does I/O. Each change is appended as a [`StoreOp`] to a list, the bytes of the values
//! to a buffer beside it, both reused; the engine takes them (`Session::take_store_ops`) and hands
//! them to the store before it writes the packets they describe.
//!
//! Values (version byte 1 first):
//! - outgoing message `o-<seq>`: state (1 awaiting PUBACK, 2 awaiting PUBREC, 3 PUBREL sent and
//!   awaiting PUBCOMP), then the message as an MQTT 5 PUBLISH packet (full topic, payload,
//!   properties, packet id): kept whole in state 3 too, since a broker that lost the session has it
//!   start over from its PUBLISH;
//! - incoming QoS 2 message awaiting PUBREL `r-<mid>`: the message as an MQTT 5 PUBLISH packet;
//! - `meta`: the client id (u16 length first), then the subscriptions (u16 count; each a u16
//!   length, the filter, the MQTT 5 options byte).

use std::sync::Arc;
use std::time::Instant;

use super::{OutMsg, OutState, Subscription};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::packet::{self, Packet, Publish, QoS};
use crate::properties::Properties;
use crate::store::{StoreKey, StoreOp};
use crate::types::SubscribeOptions;

const VERSION: u8 = 1;
const AWAIT_PUBACK: u8 = 1;
const AWAIT_PUBREC: u8 = 2;
const AWAIT_PUBCOMP: u8 = 3;

/// What the session keeps for its store.
#[derive(Debug, Default)]
pub(super) struct Persist {
    /// The sequence number of the next outgoing message.
    pub(super) next_seq: u64,
    pub(super) ops: Vec<StoreOp>,
    pub(super) bytes: Vec<u8>,
    /// Incoming QoS 2 messages with a record (held, or released and not yet handled).
    pub(super) incoming: Vec<u16>,
    /// The client id last used (or assigned by the server).
    pub(super) client_id: String,
}

impl Persist {
    fn put(&mut self, key: StoreKey, fill: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        self.bytes.push(VERSION);
        fill(&mut self.bytes);
        self.ops.push(StoreOp::Put(key, start, self.bytes.len()));
    }

    /// Records an outgoing message in its current state (a new one gets its sequence number).
    pub(super) fn put_out(&mut self, m: &mut OutMsg) {
        if m.seq == 0 {
            self.next_seq += 1;
            m.seq = self.next_seq;
        }
        self.put(StoreKey::Out(m.seq), |out| {
            out.push(match m.state {
                OutState::Puback => AWAIT_PUBACK,
                OutState::Pubrec => AWAIT_PUBREC,
                OutState::Pubcomp => AWAIT_PUBCOMP,
            });
            let empty = Properties::default();
            Publish::encode_parts_v5(
                out,
                false,
                m.qos,
                m.retain,
                &m.topic,
                m.mid,
                &m.payload,
                m.props.as_deref().unwrap_or(&empty),
            );
        });
    }

    pub(super) fn remove_out(&mut self, seq: u64) {
        if seq != 0 {
            self.ops.push(StoreOp::Remove(StoreKey::Out(seq)));
        }
    }

    /// Records an incoming QoS 2 message held until its PUBREL.
    pub(super) fn put_in(&mut self, msg: &Message) {
        if self.incoming.contains(&msg.mid) {
            return;
        }
        self.incoming.push(msg.mid);
        self.put(StoreKey::In(msg.mid), |out| {
            Publish::encode_parts_v5(
                out,
                msg.dup,
                QoS::ExactlyOnce,
                msg.retain,
                &msg.topic,
                msg.mid,
                &msg.payload,
                &msg.properties,
            );
        });
    }

    /// Forgets an incoming QoS 2 message (handled, or its session gone).
    pub(super) fn remove_in(&mut self, mid: u16) {
        if let Some(i) = self.incoming.iter().position(|&m| m == mid) {
            self.incoming.swap_remove(i);
            self.ops.push(StoreOp::Remove(StoreKey::In(mid)));
        }
    }

    /// Records the client id and the subscriptions.
    pub(super) fn put_meta(&mut self, subs: &[Subscription]) {
        let id = std::mem::take(&mut self.client_id);
        self.put(StoreKey::Meta, |out| {
            put_str(out, &id);
            out.extend_from_slice(&(subs.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
            for s in subs.iter().take(usize::from(u16::MAX)) {
                put_str(out, &s.filter);
                out.push(s.options.byte());
            }
        });
        self.client_id = id;
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len]);
}

/// A stored record, decoded.
#[derive(Debug)]
pub(super) enum Restored {
    Out(OutMsg),
    In(Message),
    Meta {
        client_id: String,
        subs: Vec<Subscription>,
    },
}

fn corrupt(what: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("stored {what} does not decode"),
    ))
}

/// Decodes a PUBLISH packet stored as MQTT 5.
fn publish(bytes: &[u8]) -> Option<Publish> {
    let frame = packet::frame_v5(bytes, packet::MAX_REMAINING_LENGTH).ok()??;
    if frame.len() != bytes.len() {
        return None;
    }
    match Packet::decode_frame_v5(frame.header, &bytes[frame.header_len..]).ok()? {
        Packet::Publish(p) => Some(p),
        _ => None,
    }
}

/// Decodes the value stored under `key` (`now` stamps restored incoming messages).
pub(super) fn decode(key: StoreKey, value: &[u8], now: Instant) -> Result<Restored> {
    let Some((&VERSION, rest)) = value.split_first() else {
        return Err(corrupt("record version"));
    };
    match key {
        StoreKey::Out(seq) => {
            let (&state, rest) = rest.split_first().ok_or_else(|| corrupt("message"))?;
            let msg =
                |mid, qos, retain, topic: &str, payload, props: Option<Box<Properties>>, state| {
                    OutMsg {
                        seq,
                        mid,
                        qos,
                        retain,
                        topic: Arc::from(topic),
                        payload,
                        state,
                        sent_gen: 0,
                        info: Arc::default(),
                        props,
                    }
                };
            let state = match state {
                AWAIT_PUBACK => OutState::Puback,
                AWAIT_PUBREC => OutState::Pubrec,
                AWAIT_PUBCOMP => OutState::Pubcomp,
                _ => return Err(corrupt("message state")),
            };
            let p = publish(rest).ok_or_else(|| corrupt("message"))?;
            let want = if state == OutState::Puback {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            if p.qos != want || p.pkid == 0 {
                return Err(corrupt("message"));
            }
            let props = (!p.properties.is_empty()).then(|| Box::new(p.properties));
            Ok(Restored::Out(msg(
                p.pkid, p.qos, p.retain, &p.topic, p.payload, props, state,
            )))
        }
        StoreKey::In(_) => {
            let p = publish(rest).ok_or_else(|| corrupt("incoming message"))?;
            Ok(Restored::In(Message {
                topic: p.topic,
                payload: p.payload,
                qos: 2,
                retain: p.retain,
                mid: p.pkid,
                dup: p.dup,
                timestamp: now,
                properties: p.properties,
            }))
        }
        StoreKey::Meta => {
            let mut r = Reader(rest);
            let client_id = r.string().ok_or_else(|| corrupt("client id"))?;
            let n = r.u16().ok_or_else(|| corrupt("subscriptions"))?;
            let mut subs = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                let filter = r.string().ok_or_else(|| corrupt("subscriptions"))?;
                let options = r
                    .byte()
                    .and_then(SubscribeOptions::from_byte)
                    .ok_or_else(|| corrupt("subscriptions"))?;
                subs.push(Subscription {
                    filter,
                    options,
                    sent_gen: 0,
                });
            }
            Ok(Restored::Meta { client_id, subs })
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        let s = std::str::from_utf8(self.0.get(..len)?).ok()?.to_owned();
        self.0 = &self.0[len..];
        Some(s)
    }
}

impl super::Session {
    /// Keeps records for a store from now on (the client has one). Call before anything is published.
    pub(crate) fn enable_persistence(&mut self) {
        if self.persist.is_none() {
            self.persist = Some(Box::default());
        }
    }

    /// Hands over the store ops queued so far, with the bytes their values are in: swapped with the
    /// caller's empty lists, so that neither side allocates once they have grown.
    pub(crate) fn take_store_ops(&mut self, ops: &mut Vec<StoreOp>, bytes: &mut Vec<u8>) {
        debug_assert!(ops.is_empty() && bytes.is_empty());
        if let Some(p) = self.persist.as_deref_mut() {
            std::mem::swap(ops, &mut p.ops);
            std::mem::swap(bytes, &mut p.bytes);
        }
    }

    /// Whether store ops wait for [`take_store_ops`](super::Session::take_store_ops).
    pub(crate) fn has_store_ops(&self) -> bool {
        self.persist.as_ref().is_some_and(|p| !p.ops.is_empty())
    }

    pub(super) fn unstore_out(&mut self, seq: u64) {
        if let Some(p) = self.persist.as_deref_mut() {
            p.remove_out(seq);
        }
    }

    pub(super) fn unstore_in(&mut self, mid: u16) {
        if let Some(p) = self.persist.as_deref_mut() {
            p.remove_in(mid);
        }
    }

    pub(super) fn store_meta(&mut self) {
        if let Some(p) = self.persist.as_deref_mut() {
            p.put_meta(&self.subs);
        }
    }

    /// The client id in use (from CONNECT, or assigned by the server): stored when it changes.
    pub(super) fn remember_client_id(&mut self, id: &str) {
        if let Some(p) = self.persist.as_deref_mut() {
            if p.client_id != id {
                p.client_id = id.to_owned();
                p.put_meta(&self.subs);
            }
        }
    }

    /// Takes up what a store held (key and value of each record) before the first connection: the
    /// outgoing messages (those awaiting PUBCOMP in flight, to get their PUBREL; the others queued,
    /// in the order they were published, to be sent again with the packet ids they had), the
    /// incoming QoS 2 messages awaiting PUBREL, the subscriptions (restored at the first connection
    /// the broker has no session for) and the client id, which it returns. Records that do not
    /// decode are skipped and returned by key with the reason, for the caller to log and remove.
    pub(crate) fn restore(
        &mut self,
        records: Vec<(String, Vec<u8>)>,
        now: Instant,
    ) -> (Option<String>, Vec<(String, Error)>) {
        self.enable_persistence();
        let mut out = Vec::new();
        let mut client_id = None;
        let mut bad = Vec::new();
        for (key, value) in records {
            let Some(k) = StoreKey::parse(&key) else {
                continue;
            };
            match decode(k, &value, now) {
                Ok(Restored::Out(m)) => out.push(m),
                Ok(Restored::In(msg)) => {
                    if let Some(p) = self.persist.as_deref_mut() {
                        p.incoming.push(msg.mid);
                    }
                    self.incoming_qos2.insert(msg);
                }
                Ok(Restored::Meta {
                    client_id: id,
                    subs,
                }) => {
                    if let Some(p) = self.persist.as_deref_mut() {
                        p.client_id.clone_from(&id);
                    }
                    client_id = (!id.is_empty()).then_some(id);
                    self.subs = subs;
                }
                Err(e) => bad.push((key, e)),
            }
        }
        out.sort_by_key(|m| m.seq);
        if let Some(last) = out.last() {
            self.last_mid = last.mid;
        }
        for m in out {
            if let Some(p) = self.persist.as_deref_mut() {
                p.next_seq = p.next_seq.max(m.seq);
            }
            if self.mids.contains(m.mid) {
                // Two records with one packet id: the later one cannot be what the broker holds.
                bad.push((
                    format!("o-{:016x}", m.seq),
                    corrupt("message (its packet id is taken)"),
                ));
                continue;
            }
            self.mids.insert(m.mid);
            if m.state == OutState::Pubcomp {
                self.inflight.push_back(m);
            } else {
                self.queued.push_back(m);
            }
        }
        (client_id, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ConnState, Session, SessionConfig};
    use super::*;
    use crate::packet::{decode, ConnAck, Connect, PubRec, PubRel, MAX_REMAINING_LENGTH};
    use crate::store::{self, MemoryStore, Store};

    fn connect(s: &mut Session, session_present: bool) {
        let now = Instant::now();
        let c = Connect {
            client_id: "c".into(),
            clean_session: false,
            keepalive: 60,
            ..Connect::default()
        };
        s.connection_opened(&c, now);
        s.handle(
            Packet::ConnAck(ConnAck {
                session_present,
                code: 0,
                ..ConnAck::default()
            }),
            now,
        )
        .unwrap();
        s.after_connect(session_present);
    }

    fn sent(s: &mut Session) -> Vec<Packet> {
        let mut v = Vec::new();
        let mut buf = &s.out[..];
        while let Some((p, n)) = decode(buf, MAX_REMAINING_LENGTH).unwrap() {
            v.push(p);
            buf = &buf[n..];
        }
        s.out.clear();
        v
    }

    /// Hands the session's ops to `store`, as the engine does.
    fn flush(s: &mut Session, store: &mut MemoryStore) {
        let (mut ops, mut bytes) = (Vec::new(), Vec::new());
        s.take_store_ops(&mut ops, &mut bytes);
        store::apply(store, &ops, &bytes).unwrap();
    }

    fn restored(store: &mut MemoryStore) -> Session {
        let mut s = Session::new(SessionConfig::default(), Instant::now());
        let records = store
            .keys()
            .unwrap()
            .into_iter()
            .map(|k| {
                let v = store.get(&k).unwrap().unwrap();
                (k, v)
            })
            .collect();
        let (id, bad) = s.restore(records, Instant::now());
        assert_eq!(id.as_deref(), Some("c"));
        assert!(bad.is_empty(), "{bad:?}");
        s
    }

    #[test]
    fn a_restored_session_sends_pubrel_for_what_had_pubrec_and_the_rest_again_with_their_ids() {
        let mut store = MemoryStore::new();
        let mut s = Session::new(SessionConfig::default(), Instant::now());
        s.enable_persistence();
        connect(&mut s, false);
        let now = Instant::now();
        let (m1, _, _) = s
            .publish("a", &b"one"[..], QoS::ExactlyOnce, false, None)
            .unwrap();
        let (m2, _, _) = s
            .publish("b", &b"two"[..], QoS::ExactlyOnce, true, None)
            .unwrap();
        let (m3, _, _) = s
            .publish("c", &b"three"[..], QoS::AtLeastOnce, false, None)
            .unwrap();
        s.handle(Packet::PubRec(PubRec::new(m1)), now).unwrap();
        // An incoming QoS 2 message awaiting its PUBREL.
        s.handle(
            Packet::Publish(Publish {
                qos: QoS::ExactlyOnce,
                topic: "in".into(),
                pkid: 9,
                payload: b"held".to_vec(),
                ..Publish::default()
            }),
            now,
        )
        .unwrap();
        flush(&mut s, &mut store);
        let keys = store.keys().unwrap();
        assert_eq!(keys.len(), 5, "{keys:?}"); // meta, three messages, one incoming
                                               // The process dies; a new one on the store.
        let mut s = restored(&mut store);
        assert_eq!(s.pending_messages(), 3);
        assert_eq!(s.state(), ConnState::Closed);
        connect(&mut s, true);
        let out = sent(&mut s);
        assert!(matches!(out[0], Packet::Connect(_)), "{out:?}");
        let out = &out[1..];
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(out[0], Packet::PubRel(PubRel::new(m1)));
        match (&out[1], &out[2]) {
            (Packet::Publish(p2), Packet::Publish(p3)) => {
                assert_eq!((p2.pkid, p2.topic.as_str(), p2.retain), (m2, "b", true));
                assert_eq!(p2.payload, b"two");
                assert_eq!((p3.pkid, p3.qos), (m3, QoS::AtLeastOnce));
            }
            other => panic!("{other:?}"),
        }
        // The held incoming message is delivered once, at its PUBREL.
        s.handle(Packet::PubRel(PubRel::new(9)), now).unwrap();
        let delivered: Vec<_> = s
            .events
            .drain(..)
            .filter_map(|e| match e {
                super::super::Event::Message { msg, .. } => Some(msg),
                _ => None,
            })
            .collect();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].payload, b"held");
        s.message_handled(9, 2, s.generation);
        // A new message gets a new sequence number and an id none of the restored ones hold.
        let (m4, _, _) = s
            .publish("d", &b"four"[..], QoS::AtLeastOnce, false, None)
            .unwrap();
        assert!(![m1, m2, m3].contains(&m4));
        flush(&mut s, &mut store);
        assert!(!store.contains_key("r-0009").unwrap());
        assert!(store.contains_key("o-0000000000000004").unwrap());
    }

    #[test]
    fn without_the_brokers_session_a_restored_message_awaiting_pubcomp_starts_over() {
        let mut store = MemoryStore::new();
        let mut s = Session::new(SessionConfig::default(), Instant::now());
        s.enable_persistence();
        connect(&mut s, false);
        let (m1, _, _) = s
            .publish("a", &b"one"[..], QoS::ExactlyOnce, false, None)
            .unwrap();
        s.handle(Packet::PubRec(PubRec::new(m1)), Instant::now())
            .unwrap();
        flush(&mut s, &mut store);
        // The broker lost the session: a PUBREL would complete a message it never delivered.
        let mut s = restored(&mut store);
        connect(&mut s, false);
        let out = sent(&mut s);
        match &out[1..] {
            [Packet::Publish(p)] => {
                assert_eq!((p.pkid, p.qos, p.dup), (m1, QoS::ExactlyOnce, true));
                assert_eq!(p.payload, b"one");
            }
            other => panic!("{other:?}"),
        }
        // ... and the store says so, for a crash before its new PUBREC.
        flush(&mut s, &mut store);
        let mut s = restored(&mut store);
        connect(&mut s, true);
        assert!(
            matches!(&sent(&mut s)[1..], [Packet::Publish(p)] if p.pkid == m1),
            "a PUBREL would lose it"
        );
    }

    #[test]
    fn a_record_that_does_not_decode_is_reported_not_restored() {
        let mut s = Session::new(SessionConfig::default(), Instant::now());
        let (_, bad) = s.restore(
            vec![
                (
                    "o-0000000000000001".into(),
                    vec![VERSION, AWAIT_PUBACK, 0x30],
                ),
                ("r-0001".into(), vec![]),
                ("meta".into(), vec![VERSION, 0, 5, b'a']),
                ("someone-elses".into(), vec![1, 2, 3]),
            ],
            Instant::now(),
        );
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(s.pending_messages(), 0);
    }
}
