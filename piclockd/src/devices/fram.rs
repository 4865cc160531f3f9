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

use super::sim_fram::FRAM_SIZE;

pub use super::sim_fram::FRAM_ADDRESS;

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
    use crate::devices::sim_fram::SimFram;
    use piclock_core::journal::{Journal, Recovered};

    const DIAL_12H: u32 = 43_200;
    const DIAL_24H: u32 = 86_400;
    const BUS: &str = "/dev/i2c-1";

    /// One journal write.
    #[derive(Debug, Clone, Copy)]
    enum Op {
        Begin(u32, u32),
        Commit(u32),
    }

    impl Op {
        fn apply<S: SlotStore>(self, j: &mut Journal<S>) -> Result<(), StoreError> {
            match self {
                Op::Begin(from, to) => j.begin(from, to),
                Op::Commit(p) => j.commit(p),
            }
        }

        /// The state recovery must report once this write has landed.
        fn state(self) -> Recovered {
            match self {
                Op::Begin(from, to) => Recovered::InFlight { from, to },
                Op::Commit(position) => Recovered::Committed { position },
            }
        }
    }

    const OPS: &[Op] = &[
        Op::Commit(100),
        Op::Begin(100, 101),
        Op::Commit(101),
        Op::Begin(101, 102),
        Op::Commit(102),
        Op::Begin(102, 101),
        Op::Commit(101),
        Op::Commit(43_199),
        Op::Begin(43_199, 0),
        Op::Commit(0),
    ];

    fn open(fram: &SimFram, dial: u32) -> (Journal<FramSlotStore<SimFram>>, Recovered) {
        Journal::open(FramSlotStore::new(fram.clone(), BUS), dial).unwrap()
    }

    #[test]
    fn describes_itself_and_probes() {
        let fram = SimFram::new();
        let mut store = FramSlotStore::new(fram.clone(), BUS);
        assert_eq!(store.describe(), "FRAM at 0x50 on /dev/i2c-1");
        assert!(store.probe());
        fram.set_failing(true);
        assert!(!store.probe());
        fram.set_failing(false);
        assert!(store.probe());
        let _bus: SimFram = store.into_inner();
    }

    #[test]
    fn slots_land_at_their_fram_addresses() {
        let fram = SimFram::new();
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
    fn journal_survives_reopen() {
        let fram = SimFram::new();
        let (mut j, r) = open(&fram, DIAL_12H);
        assert_eq!(r, Recovered::Empty);
        j.commit(100).unwrap();
        j.begin(100, 101).unwrap();
        let last = j.last();
        drop(j);

        let (mut j, r) = open(&fram, DIAL_12H);
        assert_eq!(r, Recovered::InFlight { from: 100, to: 101 });
        assert_eq!(j.last(), last);
        j.commit(101).unwrap();
        drop(j);

        let (j, r) = open(&fram, DIAL_12H);
        assert_eq!(r, Recovered::Committed { position: 101 });
        assert_eq!(j.last().map(|r| r.seq), Some(3));
        // Another dial size sees the record but does not take it.
        let (_, r) = open(&fram, DIAL_24H);
        assert_eq!(r, Recovered::DialMismatch { stored: DIAL_12H });
    }

    /// For every write of a sequence and every tear point of its 32 data
    /// bytes, reopening gives the state before the write or after it; and
    /// the recovered journal carries on.
    #[test]
    fn exhaustive_torn_writes() {
        for dial in [DIAL_12H, DIAL_24H] {
            let mut outcomes = [0usize; 3]; // before, after, corrupt first write
            for k in 0..OPS.len() {
                let before = if k == 0 { Recovered::Empty } else { OPS[k - 1].state() };
                let after = OPS[k].state();
                for keep in 0..=SLOT_LEN {
                    let fram = SimFram::new();
                    let (mut j, r) = open(&fram, dial);
                    assert_eq!(r, Recovered::Empty);
                    for op in &OPS[..k] {
                        op.apply(&mut j).unwrap();
                    }
                    let untouched = fram.contents();
                    fram.fail_after_bytes(keep);
                    let e = OPS[k].apply(&mut j).unwrap_err();
                    let ctx = format!("dial {dial}, write {k} ({:?}), keep {keep}", OPS[k]);
                    assert!(e.what.contains("FRAM at 0x50 on /dev/i2c-1"), "{ctx}: {e}");
                    // Exactly `keep` bytes of one slot changed at most.
                    let now = fram.contents();
                    let changed: Vec<usize> = (0..now.len()).filter(|&i| now[i] != untouched[i]).collect();
                    if let (Some(&lo), Some(&hi)) = (changed.first(), changed.last()) {
                        let slot_start = lo / SLOT_LEN * SLOT_LEN;
                        assert!(hi < slot_start + keep, "{ctx}: bytes {lo}..={hi} changed");
                    }
                    drop(j);

                    let (mut j2, got) = open(&fram, dial);
                    if keep == 0 {
                        assert_eq!(got, before, "{ctx}");
                    } else if keep == SLOT_LEN {
                        assert_eq!(got, after, "{ctx}");
                    } else if k == 0 {
                        // Nothing was ever completely written: position unknown.
                        assert!(matches!(got, Recovered::Corrupt { .. }), "{ctx}: {got:?}");
                    } else {
                        assert!(got == before || got == after, "{ctx}: {got:?}");
                    }
                    if got == before {
                        outcomes[0] += 1;
                    } else if got == after {
                        outcomes[1] += 1;
                    } else {
                        outcomes[2] += 1;
                    }

                    // Redo the write and the rest; the last state is back.
                    for op in &OPS[k..] {
                        op.apply(&mut j2).unwrap();
                    }
                    drop(j2);
                    assert_eq!(open(&fram, dial).1, OPS[OPS.len() - 1].state(), "{ctx}");
                }
            }
            let n = OPS.len();
            assert_eq!(outcomes, [n + (n - 1) * (SLOT_LEN - 1), n, SLOT_LEN - 1], "dial {dial}");
        }
    }

    #[test]
    fn a_failing_fram_gives_errors_not_panics() {
        let fram = SimFram::new();
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
    fn garbage_in_fram_is_corrupt_and_can_be_overwritten() {
        let fram = SimFram::new();
        let garbage: Vec<u8> = (0..JOURNAL_LEN as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        fram.poke(usize::from(JOURNAL_BASE), &garbage);
        let (mut j, r) = open(&fram, DIAL_12H);
        assert!(matches!(r, Recovered::Corrupt { .. }), "{r:?}");
        j.commit(43_199).unwrap();
        assert_eq!(open(&fram, DIAL_12H).1, Recovered::Committed { position: 43_199 });
        // Erased-looking memory (all 0xFF) too.
        fram.poke(usize::from(JOURNAL_BASE), &[0xFF; JOURNAL_LEN]);
        let (mut j, r) = open(&fram, DIAL_12H);
        assert!(matches!(r, Recovered::Corrupt { .. }), "{r:?}");
        j.commit(1).unwrap();
        assert_eq!(open(&fram, DIAL_12H).1, Recovered::Committed { position: 1 });
    }

    #[test]
    fn journal_persists_across_simulator_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fram.bin");
        let fram = SimFram::new().with_backing_file(&path).unwrap();
        let (mut j, r) = open(&fram, DIAL_24H);
        assert_eq!(r, Recovered::Empty);
        j.commit(86_399).unwrap();
        j.begin(86_399, 0).unwrap();
        drop(j);
        drop(fram);

        let fram = SimFram::new().with_backing_file(&path).unwrap();
        let (mut j, r) = open(&fram, DIAL_24H);
        assert_eq!(r, Recovered::InFlight { from: 86_399, to: 0 });
        // A torn write is persisted too, and recovered from after restart.
        fram.fail_after_bytes(10);
        assert!(j.commit(0).is_err());
        drop(j);
        drop(fram);
        let fram = SimFram::new().with_backing_file(&path).unwrap();
        assert_eq!(open(&fram, DIAL_24H).1, Recovered::InFlight { from: 86_399, to: 0 });
    }
}
