//! [`MemoryStore`]: the records in a map.

use std::collections::BTreeMap;

use super::Store;
use crate::error::Result;

/// A [`Store`] that keeps its records in memory: it survives nothing (a client without a store keeps
/// its session in memory just the same, without the copies). For tests, and as the smallest model of
/// the trait.
///
/// ```
/// use pahoish::{Client, MemoryStore};
/// let client = Client::builder()
///     .client_id("sensor-7")
///     .persistence(MemoryStore::new())
///     .build()?;
/// # Ok::<(), pahoish::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: BTreeMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// let store = pahoish::MemoryStore::new();
    /// ```
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn open(&mut self, _client_id: &str, _server: &str) -> Result<()> {
        Ok(())
    }

    fn put(&mut self, key: &str, parts: &[&[u8]]) -> Result<()> {
        let value = self.records.entry(key.to_owned()).or_default();
        value.clear();
        for part in parts {
            value.extend_from_slice(part);
        }
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.records.get(key).cloned())
    }

    fn remove(&mut self, key: &str) -> Result<()> {
        self.records.remove(key);
        Ok(())
    }

    fn keys(&mut self) -> Result<Vec<String>> {
        Ok(self.records.keys().cloned().collect())
    }

    fn clear(&mut self) -> Result<()> {
        self.records.clear();
        Ok(())
    }

    fn contains_key(&mut self, key: &str) -> Result<bool> {
        Ok(self.records.contains_key(key))
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
}
