//! [`MemStore`]: the in-memory [`SlotStore`] with fault injection used by
//! tests (feature `testing`).

use super::conformance::TestStore;
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

/// The conformance suite's view: the bytes are the medium, a reopened store
/// is a copy of them (with the injected faults).
impl TestStore for MemStore {
    fn contents(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    fn damage(&mut self, at: usize, value: u8) {
        if let Some(b) = self.bytes.get_mut(at) {
            *b = value;
        }
    }

    fn truncate(&mut self, len: usize) -> bool {
        self.bytes.truncate(len);
        true
    }

    fn tear_next_write(&mut self, keep: usize) {
        MemStore::tear_next_write(self, keep);
    }

    fn fail_writes(&mut self, fail: bool) {
        MemStore::fail_writes(self, fail);
    }

    fn reopen(&self) -> MemStore {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance::rec;
    use super::*;
    #[test]
    fn mem_store_tears_and_fails_as_documented() {
        let mut s = MemStore::new();
        s.tear_next_write(5);
        let new = rec(1, 1, 1, false).encode();
        assert!(s.write_slot(1, &new).is_err());
        let mut want = vec![0; SLOT_LEN];
        want.extend_from_slice(&new[..5]);
        assert_eq!(s.bytes(), &want[..]);
        s.write_slot(1, &new).unwrap(); // the tear was one-shot
        assert_eq!(&s.bytes()[SLOT_LEN..], &new);
        let newer = rec(3, 2, 2, false).encode();
        s.tear_next_write(100); // clamped to a whole slot, still an error
        assert!(s.write_slot(1, &newer).is_err());
        assert_eq!(&s.bytes()[SLOT_LEN..], &newer);
        s.fail_writes(true);
        let e = s.write_slot(0, &new).unwrap_err();
        assert!(e.what.contains("injected failure"), "{e}");
        assert_eq!(&s.bytes()[..SLOT_LEN], &[0; SLOT_LEN]);
        s.fail_writes(false);
        assert!(s.write_slot(2, &new).is_err());
        assert_eq!(s.bytes().len(), 2 * SLOT_LEN);
        assert_eq!(MemStore::from_bytes(vec![1, 2]).read_all().unwrap(), vec![1, 2]);
    }
}
