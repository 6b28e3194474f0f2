//! Persistence: where a client keeps what it must not forget across a crash (opt-in).
//!
//! Design:
//! - [`Store`] is shaped like Paho C's `MQTTClient_persistence` (`open`, `put` of several buffers,
//!   `get`, `remove`, `keys`, `clear`, `contains_key`) plus [`sync`](Store::sync), so that an
//!   application can plug its own (a database, a key-value server) with `Builder::persistence`.
//! - [`MemoryStore`] keeps the records in a map (survives nothing; for tests and as a model);
//!   [`FileStore`] is an append-only log of checksummed records with the fsync policy the user
//!   picks ([`SyncPolicy`]). A client without a store (the default) keeps its session in memory
//!   only, as before, and pays nothing for this module.
//! - The session (pure) does not call the store: it describes each change as a [`StoreOp`] whose
//!   bytes sit in a buffer it owns, and the engine hands the ops to the store before the bytes of the
//!   packets they describe are written to the socket, then calls `sync`.
//! - Keys are short ASCII strings: `o-` and a 64-bit sequence number in hex for an outgoing QoS 1/2
//!   message (never its 16-bit packet id, which a later message reuses), `r-` and the packet id for an
//!   incoming QoS 2 message awaiting PUBREL (the broker's id, unique while it is held), and `meta` for
//!   the client id and the subscriptions.

use crate::error::Result;

mod file;
mod memory;

pub use file::{FileStore, SyncPolicy};
pub use memory::MemoryStore;

/// Where a client keeps its session across restarts of the process: a store of byte values under
/// string keys, as Paho C's persistence interface (`MQTTClient_persistence`).
///
/// Given to [`Builder::persistence`](crate::Builder::persistence), the store is opened when the
/// client is built, and what it holds is restored into the new client; from then on the client calls
/// [`put`](Store::put) and [`remove`](Store::remove) as messages come and go, and
/// [`sync`](Store::sync) before it writes the packets they describe to the network. The client
/// calls these from its network loop (or from the thread calling `publish`), one at a time.
///
/// An error from `put`, `remove` or `sync` is logged (`on_log` at `MQTT_LOG_ERR`) and the client
/// goes on: the message is still sent, but may not survive a crash.
///
/// ```
/// use pahoish::{MemoryStore, Store};
/// let mut store = MemoryStore::new();
/// store.open("sensor-7", "")?;
/// store.put("k", &[b"hello ", b"world"])?;
/// assert_eq!(store.get("k")?.as_deref(), Some(&b"hello world"[..]));
/// assert_eq!(store.keys()?, vec!["k".to_string()]);
/// store.remove("k")?;
/// assert!(!store.contains_key("k")?);
/// # Ok::<(), pahoish::Error>(())
/// ```
pub trait Store: Send {
    /// Opens the store for a client (`client_id`) of a broker (`server`; empty when the client is
    /// built before it knows one, which is how pahoish opens it). Called once, before anything else.
    fn open(&mut self, client_id: &str, server: &str) -> Result<()>;

    /// Stores the concatenation of `parts` under `key`, replacing what was there.
    fn put(&mut self, key: &str, parts: &[&[u8]]) -> Result<()>;

    /// The value under `key`, if any.
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Removes `key` (nothing happens if it is absent).
    fn remove(&mut self, key: &str) -> Result<()>;

    /// Every key held, in any order.
    fn keys(&mut self) -> Result<Vec<String>>;

    /// Removes every key.
    fn clear(&mut self) -> Result<()>;

    /// Whether `key` is held.
    fn contains_key(&mut self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Makes what was stored so far durable, as far as the store's policy asks: the client calls it
    /// before it writes packets whose records were just put. A store that is always durable (or
    /// never) does nothing.
    fn sync(&mut self) -> Result<()>;

    /// Closes the store (the client is dropped). Does nothing by default.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Which record a [`StoreOp`] is about (formatted into the key by [`StoreKey::write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKey {
    /// An outgoing QoS 1/2 message, by its sequence number.
    Out(u64),
    /// An incoming QoS 2 message awaiting PUBREL, by the broker's packet id.
    In(u16),
    /// The client id and the subscriptions.
    Meta,
}

/// The prefix of outgoing message keys.
pub(crate) const OUT_PREFIX: &str = "o-";
/// The prefix of incoming QoS 2 message keys.
pub(crate) const IN_PREFIX: &str = "r-";
/// The key of the session's metadata.
pub(crate) const META_KEY: &str = "meta";

impl StoreKey {
    /// The key as text into `buf` (no allocation): `o-` and 16 hex digits, `r-` and 4, or `meta`.
    pub(crate) fn write<'b>(&self, buf: &'b mut [u8; 18]) -> &'b str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (prefix, value, digits) = match *self {
            StoreKey::Out(seq) => (OUT_PREFIX, seq, 16),
            StoreKey::In(mid) => (IN_PREFIX, u64::from(mid), 4),
            StoreKey::Meta => return META_KEY,
        };
        buf[..2].copy_from_slice(prefix.as_bytes());
        for i in 0..digits {
            let shift = 4 * (digits - 1 - i);
            buf[2 + i] = HEX[((value >> shift) & 0xf) as usize];
        }
        std::str::from_utf8(&buf[..2 + digits]).unwrap_or(META_KEY)
    }

    /// The key a stored text names, if it is one of ours.
    pub(crate) fn parse(key: &str) -> Option<StoreKey> {
        if key == META_KEY {
            return Some(StoreKey::Meta);
        }
        if let Some(hex) = key.strip_prefix(OUT_PREFIX) {
            return u64::from_str_radix(hex, 16).ok().map(StoreKey::Out);
        }
        if let Some(hex) = key.strip_prefix(IN_PREFIX) {
            return u16::from_str_radix(hex, 16).ok().map(StoreKey::In);
        }
        None
    }
}

/// One change the session asks of the store: a value (the bytes at `range` of the session's op
/// buffer) put under a key, or a key removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreOp {
    /// Put the bytes `start..end` of the op buffer under the key.
    Put(StoreKey, usize, usize),
    /// Remove the key.
    Remove(StoreKey),
}

/// Hands `ops` (with the bytes they refer to in `bytes`) to `store`, in order. Stops at the first
/// error, which it returns.
pub(crate) fn apply(store: &mut dyn Store, ops: &[StoreOp], bytes: &[u8]) -> Result<()> {
    let mut buf = [0u8; 18];
    for op in ops {
        match op {
            StoreOp::Put(key, start, end) => {
                store.put(key.write(&mut buf), &[&bytes[*start..*end]])?
            }
            StoreOp::Remove(key) => store.remove(key.write(&mut buf))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_written_and_parsed_back() {
        let mut buf = [0u8; 18];
        for key in [
            StoreKey::Out(0),
            StoreKey::Out(u64::MAX),
            StoreKey::Out(0x1234),
            StoreKey::In(7),
            StoreKey::In(u16::MAX),
            StoreKey::Meta,
        ] {
            let text = key.write(&mut buf).to_string();
            assert_eq!(StoreKey::parse(&text), Some(key), "{text}");
        }
        assert_eq!(StoreKey::Out(0x1234).write(&mut buf), "o-0000000000001234");
        assert_eq!(StoreKey::In(0xabc).write(&mut buf), "r-0abc");
        assert_eq!(StoreKey::parse("s-1"), None);
        assert_eq!(StoreKey::parse("o-xyz"), None);
    }
}
