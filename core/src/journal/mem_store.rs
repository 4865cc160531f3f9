//! [`MemStore`]: the in-memory [`SlotStore`] with fault injection used by
//! tests (feature `testing`).

use super::{SlotStore, StoreError, SLOTS, SLOT_LEN};

/// An in-memory [`SlotStore`] with fault injection, for tests (feature
/// `testing`).
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    bytes: Vec<u8>,
    tear_next: Option<usize>,
    fail: bool,
}

impl MemStore {
    /// An empty store (as a new file would be).
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store holding `bytes` (e.g. a copy of another store's contents).
    pub fn from_bytes(bytes: Vec<u8>) -> MemStore {
        MemStore { bytes, ..MemStore::default() }
    }

    /// The store's contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The store's contents, mutably (to simulate bit rot or truncation).
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Makes the next write a torn one: only the first `keep_bytes` bytes
    /// (at most [`SLOT_LEN`]) of the new slot land over the old content,
    /// then the write returns an error, as a power cut would.
    pub fn tear_next_write(&mut self, keep_bytes: usize) {
        self.tear_next = Some(keep_bytes.min(SLOT_LEN));
    }

    /// While `fail` is true, writes change nothing and return an error.
    pub fn fail_writes(&mut self, fail: bool) {
        self.fail = fail;
    }
}

impl SlotStore for MemStore {
    fn read_all(&mut self) -> Result<Vec<u8>, StoreError> {
        Ok(self.bytes.clone())
    }

    fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError> {
        if index >= SLOTS {
            return Err(StoreError { what: format!("writing slot {index} of in-memory store: no such slot") });
        }
        if self.fail {
            return Err(StoreError { what: format!("writing slot {index} of in-memory store: injected failure") });
        }
        let keep = self.tear_next.take();
        let n = keep.unwrap_or(SLOT_LEN);
        if n > 0 {
            let start = index * SLOT_LEN;
            if self.bytes.len() < start + n {
                self.bytes.resize(start + n, 0);
            }
            if let (Some(dst), Some(src)) = (self.bytes.get_mut(start..start + n), bytes.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
        match keep {
            Some(k) => {
                Err(StoreError { what: format!("writing slot {index} of in-memory store: torn after {k} bytes") })
            }
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        "in-memory store".to_string()
    }
}
