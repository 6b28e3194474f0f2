//! The store (persistence, opt-in): opened and restored when the client is built, then fed the
//! session's store ops before the packets they describe are written.

use std::time::Instant;

use super::{Engine, State};
use crate::error::Result;
use crate::store::{self, Store};

/// The op buffer is shrunk back to this after a large message went through it.
const STORE_BYTES_KEEP: usize = 1024 * 1024;

impl State {
    /// Hands the session's pending store ops to the store, if the client has one; with `sync`, then
    /// asks the store to make them durable (its policy decides). A failure is kept for the log (see
    /// `take_store_error`): the client goes on without it.
    pub(super) fn persist(&mut self, sync: bool) {
        let Some(store) = self.store.as_deref_mut() else {
            return;
        };
        if self.session.has_store_ops() {
            self.session
                .take_store_ops(&mut self.store_ops, &mut self.store_bytes);
            if let Err(e) = store::apply(store, &self.store_ops, &self.store_bytes) {
                self.store_error
                    .get_or_insert_with(|| format!("Could not store the session: {e}"));
            }
            self.store_ops.clear();
            self.store_bytes.clear();
            if self.store_bytes.capacity() > STORE_BYTES_KEEP {
                self.store_bytes.shrink_to(STORE_BYTES_KEEP / 16);
            }
        }
        if sync {
            if let Err(e) = store.sync() {
                self.store_error
                    .get_or_insert_with(|| format!("Could not sync the store: {e}"));
            }
        }
    }
}

impl Engine {
    /// Opens `store` for `client_id` and restores what it holds into the session, which keeps
    /// records for it from now on. Returns the client id the store knew (one the server assigned,
    /// for a client built without one). Records that do not decode are logged and removed.
    pub(crate) fn open_store(
        &self,
        mut store: Box<dyn Store>,
        client_id: &str,
    ) -> Result<Option<String>> {
        store.open(client_id, "")?;
        let mut records = Vec::new();
        for key in store.keys()? {
            if let Some(value) = store.get(&key)? {
                records.push((key, value));
            }
        }
        let mut st = self.state();
        let (id, bad) = st.session.restore(records, Instant::now());
        for (key, e) in bad {
            log::warn!("Dropping stored record {key}: {e}");
            store.remove(&key)?;
        }
        store.sync()?;
        st.store = Some(store);
        Ok(id)
    }

    /// A store failure not yet reported.
    pub(super) fn take_store_error(&self) -> Option<String> {
        self.state().store_error.take()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.persist(true);
        if let Some(mut store) = self.store.take() {
            if let Err(e) = store.close() {
                log::warn!("Could not close the store: {e}");
            }
        }
    }
}
