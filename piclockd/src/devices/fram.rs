//! FRAM backend of the position journal.
//!
//! [`FramSlotStore`] keeps the two journal slots of
//! [`piclock_core::journal`] in an MB85RC256V FRAM at I2C address 0x50:
//! slot `i` at memory address [`JOURNAL_BASE`] + `i * SLOT_LEN`. FRAM
//! needs no erase, has no page buffer or write delay, and endures 10^12
//! writes or more, so every step can be journalled. Each slot is written in
//! one I2C write transfer (2 address bytes, 32 data bytes); every byte is
//! non-volatile once acknowledged, so a power cut can only tear the slot
//! being written, which the journal tolerates.

use std::fmt;

use embedded_hal::i2c::{Error as _, I2c};
use piclock_core::journal::{SlotStore, StoreError, SLOT_LEN};

/// The FRAM's I2C address (A2..A0 low).
pub const FRAM_ADDRESS: u8 = 0x50;

/// Size of the MB85RC256V's memory in bytes.
pub const FRAM_SIZE: usize = 32 * 1024;

/// FRAM memory address of journal slot 0; slot 1 follows it.
pub const JOURNAL_BASE: u16 = 0x0000;

/// Bytes of FRAM the journal occupies: two slots.
pub const JOURNAL_LEN: usize = 2 * SLOT_LEN;

// The journal must fit in the chip.
const _: () = assert!(JOURNAL_BASE as usize + JOURNAL_LEN <= FRAM_SIZE);

/// A [`SlotStore`] in an I2C FRAM.
pub struct FramSlotStore<I2C> {
    i2c: I2C,
    bus: String,
}

impl<I2C> fmt::Debug for FramSlotStore<I2C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramSlotStore").field("bus", &self.bus).finish_non_exhaustive()
    }
}

/// The FRAM memory address of slot `index`.
fn slot_address(index: usize) -> u16 {
    // index < 2 and the journal fits in 32 KiB (checked above).
    JOURNAL_BASE + (index * SLOT_LEN) as u16
}

impl<I2C: I2c> FramSlotStore<I2C> {
    /// The FRAM at address 0x50 on `i2c`; `bus` names the bus for messages
    /// (e.g. "/dev/i2c-1"). Nothing is sent until the first read or write.
    pub fn new(i2c: I2C, bus: impl Into<String>) -> FramSlotStore<I2C> {
        FramSlotStore { i2c, bus: bus.into() }
    }

    /// Whether a device answers at 0x50: reads one byte, as `i2cdetect`
    /// does for EEPROM-like addresses (harmless: it only moves the chip's
    /// address latch).
    pub fn probe(&mut self) -> bool {
        let mut b = [0u8; 1];
        self.i2c.read(FRAM_ADDRESS, &mut b).is_ok()
    }

    /// The bus, back.
    pub fn into_inner(self) -> I2C {
        self.i2c
    }

    /// An error naming the operation, the store and the bus error.
    fn error(&self, op: &str, e: &I2C::Error) -> StoreError {
        StoreError { what: format!("{op} {}: I2C: {} ({e:?})", self.describe(), e.kind()) }
    }
}

impl<I2C: I2c> SlotStore for FramSlotStore<I2C> {
    fn read_all(&mut self) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0u8; JOURNAL_LEN];
        match self.i2c.write_read(FRAM_ADDRESS, &JOURNAL_BASE.to_be_bytes(), &mut buf) {
            Ok(()) => Ok(buf),
            Err(e) => Err(self.error("reading the journal from", &e)),
        }
    }

    fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError> {
        let op = format!("writing slot {index} of");
        if index >= JOURNAL_LEN / SLOT_LEN {
            return Err(StoreError { what: format!("{op} {}: no such slot", self.describe()) });
        }
        let mut msg = [0u8; 2 + SLOT_LEN];
        msg[..2].copy_from_slice(&slot_address(index).to_be_bytes());
        msg[2..].copy_from_slice(bytes);
        match self.i2c.write(FRAM_ADDRESS, &msg) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.error(&op, &e)),
        }
    }

    fn describe(&self) -> String {
        format!("FRAM at {FRAM_ADDRESS:#04x} on {}", self.bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fram::VirtualFram;
    use piclock_core::journal::conformance::{self, TestStore};
    use piclock_core::journal::{Journal, Recovered};

    const DIAL_12H: u32 = 43_200;
    const DIAL_24H: u32 = 86_400;
    const BUS: &str = "/dev/i2c-1";

    /// The conformance suite's view: the medium is the chip's journal area,
    /// and the rest of the chip must stay blank.
    impl TestStore for FramSlotStore<VirtualFram> {
        fn contents(&self) -> Vec<u8> {
            let mem = self.i2c.contents();
            let area = usize::from(JOURNAL_BASE)..usize::from(JOURNAL_BASE) + JOURNAL_LEN;
            let mut outside = mem[..area.start].iter().chain(&mem[area.end..]);
            assert!(outside.all(|&b| b == 0), "bytes written outside the journal area");
            mem[area].to_vec()
        }

        fn damage(&mut self, at: usize, value: u8) {
            self.i2c.poke(usize::from(JOURNAL_BASE) + at, &[value]);
        }

        fn truncate(&mut self, _len: usize) -> bool {
            false
        }

        fn tear_next_write(&mut self, keep: usize) {
            self.i2c.fail_after_bytes(keep);
        }

        fn fail_writes(&mut self, fail: bool) {
            self.i2c.set_failing_writes(fail);
        }

        fn reopen(&self) -> Self {
            FramSlotStore::new(self.i2c.clone(), self.bus.clone())
        }
    }

    /// A store over a new simulated chip holding `bytes` in its journal
    /// area (as many as fit).
    fn fram_holding(bytes: &[u8]) -> FramSlotStore<VirtualFram> {
        let fram = VirtualFram::new();
        fram.poke(usize::from(JOURNAL_BASE), &bytes[..bytes.len().min(JOURNAL_LEN)]);
        FramSlotStore::new(fram, BUS)
    }

    fn open(fram: &VirtualFram, dial: u32) -> (Journal<FramSlotStore<VirtualFram>>, Recovered) {
        Journal::open(FramSlotStore::new(fram.clone(), BUS), dial).unwrap()
    }

    #[test]
    fn fram_store_passes_the_conformance_suite() {
        conformance::check_store(fram_holding);
    }

    #[test]
    fn describes_itself_and_probes() {
        let fram = VirtualFram::new();
        let mut store = FramSlotStore::new(fram.clone(), BUS);
        assert_eq!(store.describe(), "FRAM at 0x50 on /dev/i2c-1");
        assert!(store.probe());
        fram.set_failing(true);
        assert!(!store.probe());
        fram.set_failing(false);
        assert!(store.probe());
        let _bus: VirtualFram = store.into_inner();
    }

    #[test]
    fn slots_land_at_their_fram_addresses() {
        let fram = VirtualFram::new();
        let mut store = FramSlotStore::new(fram.clone(), BUS);
        store.write_slot(0, &[0xA0; SLOT_LEN]).unwrap();
        store.write_slot(1, &[0xA1; SLOT_LEN]).unwrap();
        let mem = fram.contents();
        let base = usize::from(JOURNAL_BASE);
        assert_eq!(mem[base..base + SLOT_LEN], [0xA0; SLOT_LEN]);
        assert_eq!(mem[base + SLOT_LEN..base + 2 * SLOT_LEN], [0xA1; SLOT_LEN]);
        assert!(mem[base + 2 * SLOT_LEN..].iter().all(|&b| b == 0));
        let all = store.read_all().unwrap();
        assert_eq!(all.len(), JOURNAL_LEN);
        assert_eq!(all[..], mem[base..base + JOURNAL_LEN]);
        let e = store.write_slot(2, &[0; SLOT_LEN]).unwrap_err();
        assert_eq!(e.what, "writing slot 2 of FRAM at 0x50 on /dev/i2c-1: no such slot");
    }

    #[test]
    fn a_failing_fram_gives_errors_not_panics() {
        let fram = VirtualFram::new();
        let (mut j, _) = open(&fram, DIAL_12H);
        j.commit(5).unwrap();
        fram.set_failing(true);
        let e = j.begin(5, 6).unwrap_err();
        assert!(e.what.starts_with("writing slot 0 of FRAM at 0x50 on /dev/i2c-1: I2C: "), "{e}");
        assert!(e.what.contains("NoAcknowledge(Address)"), "{e}");
        assert!(j.commit(6).is_err());
        let e = Journal::open(FramSlotStore::new(fram.clone(), BUS), DIAL_12H).unwrap_err();
        assert!(e.what.starts_with("reading the journal from FRAM at 0x50 on /dev/i2c-1: I2C: "), "{e}");
        // Back again: the failed writes changed nothing; the journal carries on.
        fram.set_failing(false);
        assert_eq!(open(&fram, DIAL_12H).1, Recovered::Committed { position: 5 });
        j.begin(5, 6).unwrap();
        assert_eq!(open(&fram, DIAL_12H).1, Recovered::InFlight { from: 5, to: 6 });
    }

    #[test]
    fn journal_persists_across_simulator_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fram.bin");
        let fram = VirtualFram::new().with_backing_file(&path).unwrap();
        let (mut j, r) = open(&fram, DIAL_24H);
        assert_eq!(r, Recovered::Empty);
        j.commit(86_399).unwrap();
        j.begin(86_399, 0).unwrap();
        drop(j);
        drop(fram);

        let fram = VirtualFram::new().with_backing_file(&path).unwrap();
        let (mut j, r) = open(&fram, DIAL_24H);
        assert_eq!(r, Recovered::InFlight { from: 86_399, to: 0 });
        // A torn write is persisted too, and recovered from after restart.
        fram.fail_after_bytes(10);
        assert!(j.commit(0).is_err());
        drop(j);
        drop(fram);
        let fram = VirtualFram::new().with_backing_file(&path).unwrap();
        assert_eq!(open(&fram, DIAL_24H).1, Recovered::InFlight { from: 86_399, to: 0 });
    }
}
