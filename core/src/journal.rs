//! The position journal: where the hands are, surviving crashes, power loss
//! and torn writes.
//!
//! Nothing senses the hands, so the daemon journals every step: before a
//! pulse it writes "about to move `P -> P'`" (an *in-flight* record), after
//! the pulse it writes "the hands are at `P'`" (a *committed* record). After
//! an unclean stop the uncertainty is therefore at most the one step that was
//! in flight, and [`Recovered::InFlight`] says so instead of guessing.
//!
//! # Format
//!
//! The store holds two slots of [`SLOT_LEN`] = 32 bytes (slot 0 at offset 0,
//! slot 1 at offset 32). Each slot is a self-contained [`Record`],
//! little-endian:
//!
//! | offset | size | field                                                    |
//! |-------:|-----:|----------------------------------------------------------|
//! | 0      | 4    | magic `b"PCJ1"`                                          |
//! | 4      | 8    | `seq`: u64 sequence number, +1 per write                 |
//! | 12     | 4    | `dial_seconds`: 43200 or 86400                           |
//! | 16     | 4    | `position`: hands before the move, or the committed one  |
//! | 20     | 4    | `target`: hands after the move (= position if committed) |
//! | 24     | 4    | flags: bit 0 = in flight, other bits must be zero        |
//! | 28     | 4    | CRC-32 (IEEE, `crc32fast`) of bytes 0..28                |
//!
//! # Guarantees
//!
//! - Record `seq` is always written to slot `seq % 2`, and the journal never
//!   writes to the slot that holds the latest good record. A torn write
//!   (power cut half-way through) can therefore damage only the slot being
//!   written; reopening yields either the state before that write or the
//!   state after it (or, for the very first write into a fresh store,
//!   [`Recovered::Corrupt`], since nothing was ever completely written).
//! - Recovery picks the intact record (magic and CRC good) with the highest
//!   `seq`. If that record is not fully valid (unknown flags, positions off
//!   the dial, wrong slot, two slots claiming the same `seq`) recovery reports
//!   [`Recovered::Corrupt`] rather than silently falling back to an older,
//!   stale record.
//! - New records get a seq above every seq found in the store at open, even
//!   in damaged slots (below 2^62, so that garbage cannot exhaust the
//!   counter), so an old record brought back by a later torn write cannot
//!   outrank the new ones; and above the seq of a slot cut short whose
//!   zero-filled bytes are intact, whatever that seq is: a write past a
//!   short store grows it zero-filled, which makes that slot intact, so a
//!   successful write always wins the next open.
//! - A write that fails (I/O error) leaves the journal's idea of the latest
//!   record unchanged; the next write reuses the same sequence number and
//!   therefore the same slot, so whatever the failed write left behind is
//!   overwritten, and the latest good record is never touched.
//! - Decoding and recovery never panic, whatever the bytes, and recovery
//!   only ever reports a record that was actually written, or
//!   [`Recovered::Empty`] / [`Recovered::Corrupt`].
//! - Limit: the before-or-after guarantee is about torn writes into intact
//!   slots. If a slot was damaged at rest (bit rot) and a later write into
//!   it is torn, the torn prefix may happen to restore the damaged bytes and
//!   bring that slot's old record back; it was actually written, but it may
//!   be older than what the journal wrote since.
//!
//! This module is sans-IO: the bytes live behind the [`SlotStore`] trait
//! (the daemon implements it over a file or an I2C FRAM). With the feature
//! `testing`, `MemStore` is an in-memory implementation with fault
//! injection, and `conformance` the suite of checks every store runs.

use std::fmt;

use crate::dial::{DIAL_12H, DIAL_24H};

/// Length of one slot (one encoded [`Record`]) in bytes.
pub const SLOT_LEN: usize = 32;

/// Number of slots in a store.
const SLOTS: usize = 2;

/// Magic bytes at the start of every record (format version 1).
const MAGIC: [u8; 4] = *b"PCJ1";

/// Flag bit: the record is in flight (a move from `position` to `target` was
/// about to be made).
const FLAG_IN_FLIGHT: u32 = 1;

/// Number of leading bytes covered by the CRC.
const CRC_COVERED: usize = 28;

/// Sequence numbers read from damaged slots count towards the next sequence
/// number only below this bound (far beyond any real count of writes), so
/// that garbage such as erased 0xFF memory cannot exhaust the counter.
const UNTRUSTED_SEQ_LIMIT: u64 = 1 << 62;

/// The sequence-number field of a slot, if the slot is long enough to have
/// one, whatever the rest of the slot holds.
fn seq_field(slot: &[u8]) -> Option<u64> {
    let b: [u8; 8] = slot.get(4..12)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// One journal record, as stored in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record {
    /// Sequence number; the record with the highest one is the latest.
    pub seq: u64,
    /// Seconds once around the dial the position refers to (43200 or 86400).
    pub dial_seconds: u32,
    /// The position the hands had before the move, or the committed one.
    pub position: u32,
    /// The position after the move; equal to `position` when committed.
    pub target: u32,
    /// True if a move from `position` to `target` was about to be made.
    pub in_flight: bool,
}

impl Record {
    /// Encodes the record into one slot, CRC included.
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        let mut b = [0u8; SLOT_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..12].copy_from_slice(&self.seq.to_le_bytes());
        b[12..16].copy_from_slice(&self.dial_seconds.to_le_bytes());
        b[16..20].copy_from_slice(&self.position.to_le_bytes());
        b[20..24].copy_from_slice(&self.target.to_le_bytes());
        let flags = if self.in_flight { FLAG_IN_FLIGHT } else { 0 };
        b[24..28].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32fast::hash(&b[..CRC_COVERED]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates one slot.
    ///
    /// `bytes` must be exactly [`SLOT_LEN`] long. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let raw = Raw::parse(bytes)?;
        raw.validate()
    }

    /// The state this record stands for, as recovery would report it for a
    /// journal opened with `dial_seconds`.
    fn recovered(&self, dial_seconds: u32) -> Recovered {
        if self.dial_seconds != dial_seconds {
            Recovered::DialMismatch { stored: self.dial_seconds }
        } else if self.in_flight {
            Recovered::InFlight { from: self.position, to: self.target }
        } else {
            Recovered::Committed { position: self.position }
        }
    }
}

/// A slot whose length, magic and CRC are good, fields not yet validated.
#[derive(Debug, Clone, Copy)]
struct Raw {
    seq: u64,
    dial_seconds: u32,
    position: u32,
    target: u32,
    flags: u32,
}

/// Reads a little-endian u32 at a fixed offset of a slot.
fn le_u32(b: &[u8; SLOT_LEN], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (i, x) in w.iter_mut().enumerate() {
        *x = b.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(w)
}

/// Reads a little-endian u64 at a fixed offset of a slot.
fn le_u64(b: &[u8; SLOT_LEN], at: usize) -> u64 {
    u64::from(le_u32(b, at)) | (u64::from(le_u32(b, at + 4)) << 32)
}

impl Raw {
    /// Checks length, magic and CRC, and extracts the fields.
    fn parse(bytes: &[u8]) -> Result<Raw, DecodeError> {
        let b: &[u8; SLOT_LEN] = bytes.try_into().map_err(|_| DecodeError::Length { len: bytes.len() })?;
        if b.iter().all(|&x| x == 0) {
            return Err(DecodeError::Blank);
        }
        if b[0..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let stored = le_u32(b, CRC_COVERED);
        let computed = crc32fast::hash(&b[..CRC_COVERED]);
        if stored != computed {
            return Err(DecodeError::BadCrc { stored, computed });
        }
        Ok(Raw {
            seq: le_u64(b, 4),
            dial_seconds: le_u32(b, 12),
            position: le_u32(b, 16),
            target: le_u32(b, 20),
            flags: le_u32(b, 24),
        })
    }

    /// Checks the fields of an intact slot.
    fn validate(&self) -> Result<Record, DecodeError> {
        if self.flags & !FLAG_IN_FLIGHT != 0 {
            return Err(DecodeError::UnknownFlags { flags: self.flags });
        }
        if self.dial_seconds != DIAL_12H && self.dial_seconds != DIAL_24H {
            return Err(DecodeError::BadDial { dial_seconds: self.dial_seconds });
        }
        if self.position >= self.dial_seconds {
            return Err(DecodeError::PositionOffDial { position: self.position, dial_seconds: self.dial_seconds });
        }
        if self.target >= self.dial_seconds {
            return Err(DecodeError::TargetOffDial { target: self.target, dial_seconds: self.dial_seconds });
        }
        let in_flight = self.flags & FLAG_IN_FLIGHT != 0;
        if !in_flight && self.target != self.position {
            return Err(DecodeError::CommittedMismatch { position: self.position, target: self.target });
        }
        Ok(Record {
            seq: self.seq,
            dial_seconds: self.dial_seconds,
            position: self.position,
            target: self.target,
            in_flight,
        })
    }
}

/// Why a slot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The slot is not [`SLOT_LEN`] bytes long (a truncated store).
    Length {
        /// The length that was given.
        len: usize,
    },
    /// The slot is all zero bytes: never written.
    Blank,
    /// The slot does not start with `b"PCJ1"`.
    BadMagic,
    /// The CRC does not match the contents (torn write or bit rot).
    BadCrc {
        /// CRC stored in the slot.
        stored: u32,
        /// CRC computed over the slot's first 28 bytes.
        computed: u32,
    },
    /// Flag bits other than bit 0 are set.
    UnknownFlags {
        /// The stored flags word.
        flags: u32,
    },
    /// `dial_seconds` is neither 43200 nor 86400.
    BadDial {
        /// The stored dial size.
        dial_seconds: u32,
    },
    /// `position` is not on the dial.
    PositionOffDial {
        /// The stored position.
        position: u32,
        /// The stored dial size.
        dial_seconds: u32,
    },
    /// `target` is not on the dial.
    TargetOffDial {
        /// The stored target.
        target: u32,
        /// The stored dial size.
        dial_seconds: u32,
    },
    /// A committed record whose target differs from its position.
    CommittedMismatch {
        /// The stored position.
        position: u32,
        /// The stored target.
        target: u32,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Length { len } if *len == 0 => write!(f, "missing"),
            DecodeError::Length { len } => {
                write!(f, "truncated ({len} of {SLOT_LEN} bytes)")
            }
            DecodeError::Blank => write!(f, "blank (all zero)"),
            DecodeError::BadMagic => write!(f, "bad magic"),
            DecodeError::BadCrc { stored, computed } => {
                write!(f, "bad CRC (stored {stored:#010x}, computed {computed:#010x})")
            }
            DecodeError::UnknownFlags { flags } => write!(f, "unknown flags {flags:#010x}"),
            DecodeError::BadDial { dial_seconds } => {
                write!(f, "unsupported dial of {dial_seconds} s")
            }
            DecodeError::PositionOffDial { position, dial_seconds } => {
                write!(f, "position {position} off the {dial_seconds} s dial")
            }
            DecodeError::TargetOffDial { target, dial_seconds } => {
                write!(f, "target {target} off the {dial_seconds} s dial")
            }
            DecodeError::CommittedMismatch { position, target } => {
                write!(f, "committed record with target {target} != position {position}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// An error from the storage behind a journal (or a request the journal
/// refused because it could not be stored faithfully).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What went wrong, naming the store and the operation.
    pub what: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for StoreError {}

/// The byte storage behind a [`Journal`]: two slots of [`SLOT_LEN`] bytes.
pub trait SlotStore {
    /// Returns the whole store: `2 * SLOT_LEN` bytes, or fewer (possibly
    /// none) when it is new or truncated. Longer results are tolerated; only
    /// the first `2 * SLOT_LEN` bytes are used.
    fn read_all(&mut self) -> Result<Vec<u8>, StoreError>;

    /// Writes `bytes` to slot `index` (0 or 1, at offset `index * SLOT_LEN`),
    /// durably if the store supports it, before returning `Ok`. A store
    /// shorter than that offset grows, zero-filled, up to it (as a file
    /// written past its end does); the journal counts on that.
    fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError>;

    /// A short human-readable description of the store, for messages
    /// (e.g. the file path).
    fn describe(&self) -> String;
}

/// What [`Journal::open`] found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Nothing was ever written: the store is empty or all zero bytes.
    Empty,
    /// There are bytes, but no usable latest record.
    Corrupt {
        /// Why, for each slot.
        reason: String,
    },
    /// The latest record is for another dial size.
    DialMismatch {
        /// The dial size (seconds) of the latest record.
        stored: u32,
    },
    /// The hands are at `position`; no move was in flight.
    Committed {
        /// The committed position.
        position: u32,
    },
    /// A move from `from` to `to` was about to be made, or was being made,
    /// when the daemon stopped: the hands are at one of the two.
    InFlight {
        /// The position before the move.
        from: u32,
        /// The position after the move.
        to: u32,
    },
}

/// The position journal over a [`SlotStore`].
#[derive(Debug)]
pub struct Journal<S: SlotStore> {
    store: S,
    dial_seconds: u32,
    /// Highest sequence number known to be (possibly) in the store; every
    /// new record gets a higher one.
    seq_floor: u64,
    /// The slot holding the latest good record, which must not be written.
    keep_slot: Option<usize>,
    /// The latest good record for this dial, if any.
    last: Option<Record>,
    /// At open: the other slot was damaged and may have held a newer record.
    newer_damage: Option<String>,
}

/// A slot's bytes as they read once the store has grown past them: cut to
/// [`SLOT_LEN`], the missing tail zero.
fn zero_filled(slot: &[u8]) -> [u8; SLOT_LEN] {
    let mut b = [0u8; SLOT_LEN];
    for (to, from) in b.iter_mut().zip(slot) {
        *to = *from;
    }
    b
}

/// The bytes of slot `index` of the store: possibly short or empty.
fn slot_bytes(bytes: &[u8], index: usize) -> &[u8] {
    let start = (index * SLOT_LEN).min(bytes.len());
    let end = ((index + 1) * SLOT_LEN).min(bytes.len());
    bytes.get(start..end).unwrap_or(&[])
}

impl<S: SlotStore> Journal<S> {
    /// Opens the journal over `store` for a dial of `dial_seconds` (43200 or
    /// 86400) and recovers the latest state.
    ///
    /// Fails only if the store cannot be read or `dial_seconds` is not a
    /// supported dial; whatever the bytes, it never panics.
    pub fn open(mut store: S, dial_seconds: u32) -> Result<(Journal<S>, Recovered), StoreError> {
        if dial_seconds != DIAL_12H && dial_seconds != DIAL_24H {
            return Err(StoreError {
                what: format!("opening journal in {}: unsupported dial of {dial_seconds} s", store.describe()),
            });
        }
        let all = store.read_all()?;
        let bytes = all.get(..SLOTS * SLOT_LEN).unwrap_or(&all);

        let mut journal =
            Journal { store, dial_seconds, seq_floor: 0, keep_slot: None, last: None, newer_damage: None };

        if bytes.iter().all(|&b| b == 0) {
            return Ok((journal, Recovered::Empty));
        }

        let parsed: Vec<Result<Raw, DecodeError>> = (0..SLOTS).map(|i| Raw::parse(slot_bytes(bytes, i))).collect();

        // New records must get a seq above any that may be in the store, even
        // in a damaged slot: a later torn write into that slot that happened
        // to rewrite its damaged bytes must not bring back an old record
        // that outranks the new ones.
        for i in 0..SLOTS {
            let slot = slot_bytes(bytes, i);
            if let Some(seq) = seq_field(slot) {
                if seq < UNTRUSTED_SEQ_LIMIT {
                    journal.seq_floor = journal.seq_floor.max(seq);
                }
            }
            // A short slot reads zero-filled once a write lands past it (the
            // store grows, see `SlotStore::write_slot`): if it is intact then,
            // its seq counts whatever it is, or that record, never written
            // by this journal, would outrank the next commit.
            if let Ok(raw) = Raw::parse(&zero_filled(slot)) {
                journal.seq_floor = journal.seq_floor.max(raw.seq);
            }
        }

        // The intact slot with the highest seq decides, valid or not.
        let mut best: Option<(usize, Raw)> = None;
        let mut tie = false;
        for (i, p) in parsed.iter().enumerate() {
            if let Ok(raw) = p {
                journal.seq_floor = journal.seq_floor.max(raw.seq);
                match best {
                    Some((_, b)) if b.seq > raw.seq => {}
                    Some((_, b)) if b.seq == raw.seq => tie = true,
                    _ => {
                        best = Some((i, *raw));
                        tie = false;
                    }
                }
            }
        }

        let describe_slots = || -> String {
            parsed
                .iter()
                .enumerate()
                .map(|(i, p)| match p {
                    Ok(raw) => match raw.validate() {
                        Ok(_) if raw.seq % 2 != i as u64 => {
                            format!("slot {i}: seq {} belongs in the other slot", raw.seq)
                        }
                        Ok(_) => format!("slot {i}: seq {} valid", raw.seq),
                        Err(e) => format!("slot {i}: seq {} invalid: {e}", raw.seq),
                    },
                    Err(e) => format!("slot {i}: {e}"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };

        let Some((index, raw)) = best else {
            let reason = describe_slots();
            return Ok((journal, Recovered::Corrupt { reason }));
        };
        if tie {
            let reason = format!("both slots claim seq {}; {}", raw.seq, describe_slots());
            return Ok((journal, Recovered::Corrupt { reason }));
        }
        let record = match raw.validate() {
            Ok(r) if r.seq % 2 == index as u64 => r,
            _ => {
                let reason = format!("latest record is unusable; {}", describe_slots());
                return Ok((journal, Recovered::Corrupt { reason }));
            }
        };

        // The other slot is damaged: if its sequence number is unreadable or
        // above the recovered record's, it may have held a newer record (a
        // torn last write, or damage at rest), and the recovered one may be
        // stale. Recovery still reports the intact record (the torn-write
        // guarantee); the caller decides whether to trust it.
        for (i, p) in parsed.iter().enumerate() {
            if i == index {
                continue;
            }
            if let Err(e) = p {
                let newer = seq_field(slot_bytes(bytes, i)).is_none_or(|seq| seq > record.seq);
                if newer {
                    journal.newer_damage = Some(format!("slot {i} is damaged ({e}) and may have held a newer record"));
                }
            }
        }

        journal.keep_slot = Some(index);
        let state = record.recovered(dial_seconds);
        if record.dial_seconds == dial_seconds {
            journal.last = Some(record);
        }
        Ok((journal, state))
    }

    /// Journals that the hands are about to move from `from` to `to`
    /// (an in-flight record). Call before firing the pulse; do not fire it
    /// if this fails.
    pub fn begin(&mut self, from: u32, to: u32) -> Result<(), StoreError> {
        self.write(from, to, true)
    }

    /// Journals that the hands are at `position` (a committed record).
    /// Call after the pulse, or to set the position from scratch (e.g. after
    /// the user says where the hands are).
    pub fn commit(&mut self, position: u32) -> Result<(), StoreError> {
        self.write(position, position, false)
    }

    /// Set at open when the slot not used for recovery was damaged and may
    /// have held a newer record than the one recovered (a torn last write,
    /// or damage at rest): then the recovered position may be stale.
    pub fn newer_slot_damaged(&self) -> Option<&str> {
        self.newer_damage.as_deref()
    }

    /// The store behind the journal.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store behind the journal, mutably (e.g. for fault injection).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The latest record known to be in the store for this journal's dial:
    /// recovered at open or successfully written since. `None` if there is
    /// none (empty or corrupt store, or a record for another dial).
    pub fn last(&self) -> Option<Record> {
        self.last
    }

    /// Sequence number for the next record: above every seq that may be in
    /// the store, and never in the slot holding the latest good record
    /// (skipping one if needed, e.g. when a damaged slot showed a higher seq
    /// than the latest good record).
    fn next_seq(&self) -> Result<u64, StoreError> {
        let exhausted =
            || StoreError { what: format!("writing journal in {}: sequence numbers exhausted", self.store.describe()) };
        let mut seq = self.seq_floor.checked_add(1).ok_or_else(exhausted)?;
        if self.keep_slot == Some((seq % 2) as usize) {
            seq = seq.checked_add(1).ok_or_else(exhausted)?;
        }
        Ok(seq)
    }

    fn write(&mut self, position: u32, target: u32, in_flight: bool) -> Result<(), StoreError> {
        for (what, p) in [("position", position), ("target", target)] {
            if p >= self.dial_seconds {
                return Err(StoreError {
                    what: format!(
                        "writing journal in {}: {what} {p} is off the {} s dial",
                        self.store.describe(),
                        self.dial_seconds
                    ),
                });
            }
        }
        let record = Record { seq: self.next_seq()?, dial_seconds: self.dial_seconds, position, target, in_flight };
        let slot = (record.seq % 2) as usize;
        // On failure nothing changes: the next write reuses this seq and this
        // slot, overwriting whatever the failed write may have left there.
        self.store.write_slot(slot, &record.encode())?;
        self.seq_floor = record.seq;
        self.keep_slot = Some(slot);
        self.last = Some(record);
        Ok(())
    }
}

impl<T: SlotStore + ?Sized> SlotStore for Box<T> {
    fn read_all(&mut self) -> Result<Vec<u8>, StoreError> {
        (**self).read_all()
    }

    fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError> {
        (**self).write_slot(index, bytes)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
mod mem_store;
#[cfg(any(test, feature = "testing"))]
pub use mem_store::MemStore;

#[cfg(test)]
mod tests {
    use super::*;
    use conformance::rec;
    fn reopen(bytes: &[u8], dial: u32) -> (Journal<MemStore>, Recovered) {
        Journal::open(MemStore::from_bytes(bytes.to_vec()), dial).unwrap()
    }

    /// Re-encodes a slot's CRC after its fields were edited.
    fn fix_crc(b: &mut [u8; SLOT_LEN]) {
        let crc = crc32fast::hash(&b[..CRC_COVERED]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
    }

    /// A store holding `slot0` and `slot1`.
    fn two_slots(slot0: [u8; SLOT_LEN], slot1: [u8; SLOT_LEN]) -> Vec<u8> {
        let mut v = slot0.to_vec();
        v.extend_from_slice(&slot1);
        v
    }

    #[test]
    fn encode_decode_round_trip() {
        for r in [
            rec(0, 0, 0, false),
            rec(1, 43_199, 43_199, false),
            rec(u64::MAX, 43_199, 0, true),
            rec(0x0123_4567_89ab_cdef, 5, 4, true),
            Record { seq: 7, dial_seconds: DIAL_24H, position: 86_399, target: 86_399, in_flight: false },
        ] {
            let b = r.encode();
            assert_eq!(&b[0..4], b"PCJ1");
            assert_eq!(Record::decode(&b), Ok(r));
        }
    }
    #[test]
    fn layout_is_little_endian_as_documented() {
        let b = rec(0x0102_0304_0506_0708, 0x1234, 0x1235, true).encode();
        assert_eq!(&b[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&b[12..16], &43_200u32.to_le_bytes());
        assert_eq!(&b[16..20], &0x1234u32.to_le_bytes());
        assert_eq!(&b[20..24], &0x1235u32.to_le_bytes());
        assert_eq!(&b[24..28], &1u32.to_le_bytes());
        assert_eq!(&b[28..32], &crc32fast::hash(&b[..28]).to_le_bytes());
    }
    #[test]
    fn every_single_bit_flip_is_rejected() {
        for r in [rec(1, 100, 100, false), rec(2, 100, 101, true), rec(u64::MAX, 0, 43_199, true)] {
            let good = r.encode();
            for bit in 0..SLOT_LEN * 8 {
                let mut b = good;
                b[bit / 8] ^= 1 << (bit % 8);
                assert!(Record::decode(&b).is_err(), "flip of bit {bit} of {r:?} accepted");
            }
        }
    }
    #[test]
    fn decode_rejects_invalid_records() {
        let good = rec(3, 10, 10, false).encode();
        let edit = |at: usize, v: u32| {
            let mut b = good;
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            fix_crc(&mut b);
            Record::decode(&b)
        };
        assert_eq!(Record::decode(&[]), Err(DecodeError::Length { len: 0 }));
        assert_eq!(Record::decode(&good[..31]), Err(DecodeError::Length { len: 31 }));
        assert_eq!(Record::decode(&[good.as_slice(), &[0]].concat()), Err(DecodeError::Length { len: 33 }));
        assert_eq!(Record::decode(&[0; SLOT_LEN]), Err(DecodeError::Blank));
        let mut b = good;
        b[0] = b'X';
        fix_crc(&mut b);
        assert_eq!(Record::decode(&b), Err(DecodeError::BadMagic));
        let mut b = good;
        b[28] ^= 0xff;
        assert!(matches!(Record::decode(&b), Err(DecodeError::BadCrc { .. })));
        assert_eq!(edit(24, 2), Err(DecodeError::UnknownFlags { flags: 2 }));
        assert_eq!(edit(24, 0x8000_0001), Err(DecodeError::UnknownFlags { flags: 0x8000_0001 }));
        assert_eq!(edit(12, 3600), Err(DecodeError::BadDial { dial_seconds: 3600 }));
        assert_eq!(edit(12, 0), Err(DecodeError::BadDial { dial_seconds: 0 }));
        assert_eq!(edit(16, 43_200), Err(DecodeError::PositionOffDial { position: 43_200, dial_seconds: 43_200 }));
        assert_eq!(edit(20, u32::MAX), Err(DecodeError::TargetOffDial { target: u32::MAX, dial_seconds: 43_200 }));
        assert_eq!(edit(20, 11), Err(DecodeError::CommittedMismatch { position: 10, target: 11 }));
        // The same target is fine in flight, and a 24 h dial allows more.
        assert!(rec(3, 10, 11, true).encode() != good);
        assert_eq!(Record::decode(&rec(3, 10, 11, true).encode()), Ok(rec(3, 10, 11, true)));
        let mut b = good;
        b[12..16].copy_from_slice(&DIAL_24H.to_le_bytes());
        b[16..20].copy_from_slice(&50_000u32.to_le_bytes());
        b[20..24].copy_from_slice(&50_000u32.to_le_bytes());
        fix_crc(&mut b);
        assert_eq!(Record::decode(&b).map(|r| r.position), Ok(50_000));
    }
    #[test]
    fn garbage_is_corrupt_with_a_reason_per_slot() {
        let (j, r) = reopen(&[0xa5; 2 * SLOT_LEN], DIAL_12H);
        let Recovered::Corrupt { reason } = r else { panic!("{r:?}") };
        assert!(reason.contains("slot 0: bad magic"), "{reason}");
        assert!(reason.contains("slot 1: bad magic"), "{reason}");
        assert_eq!(j.last(), None);

        // A valid record in slot 1 and a truncated slot 0 of garbage is fine;
        let mut bytes = two_slots([0x11; SLOT_LEN], rec(1, 7, 7, false).encode());
        assert_eq!(reopen(&bytes, DIAL_12H).1, Recovered::Committed { position: 7 });
        // with slot 1 cut short too, nothing is left.
        bytes.truncate(40);
        let Recovered::Corrupt { reason } = reopen(&bytes, DIAL_12H).1 else { panic!() };
        assert!(reason.contains("slot 1: truncated (8 of 32 bytes)"), "{reason}");
        // Only a few stray bytes.
        let Recovered::Corrupt { reason } = reopen(&[0, 1], DIAL_12H).1 else { panic!() };
        assert!(reason.contains("slot 0: truncated (2 of 32 bytes)"), "{reason}");
        assert!(reason.contains("slot 1: missing"), "{reason}");
    }
    #[test]
    fn highest_seq_wins_whichever_slot() {
        let a = rec(6, 10, 10, false).encode();
        let b = rec(7, 10, 11, true).encode();
        assert_eq!(reopen(&two_slots(a, b), DIAL_12H).1, Recovered::InFlight { from: 10, to: 11 });
        let a = rec(8, 11, 11, false).encode();
        assert_eq!(reopen(&two_slots(a, b), DIAL_12H).1, Recovered::Committed { position: 11 });
    }
    #[test]
    fn newer_intact_but_invalid_record_is_not_silently_skipped() {
        // Slot 1 holds seq 9 with an unknown flag (a future format?), slot 0 an
        // older valid record: falling back to it would resume from a stale
        // position.
        let mut newer = rec(9, 10, 11, true).encode();
        newer[24] |= 0x10;
        fix_crc(&mut newer);
        let older = rec(8, 10, 10, false).encode();
        let (mut j, r) = reopen(&two_slots(older, newer), DIAL_12H);
        let Recovered::Corrupt { reason } = r else { panic!("{r:?}") };
        assert!(reason.contains("slot 1: seq 9 invalid: unknown flags"), "{reason}");
        assert!(reason.contains("slot 0: seq 8 valid"), "{reason}");
        // A fresh commit still wins afterwards.
        j.commit(3).unwrap();
        assert_eq!(j.last().map(|r| r.seq), Some(10));
        assert_eq!(reopen(j.store().bytes(), DIAL_12H).1, Recovered::Committed { position: 3 });

        // An older invalid record does not matter.
        let mut older_bad = rec(7, 10, 10, false).encode();
        older_bad[24] |= 0x10;
        fix_crc(&mut older_bad);
        let newer_good = rec(8, 12, 12, false).encode();
        let (j, r) = reopen(&two_slots(newer_good, older_bad), DIAL_12H);
        assert_eq!(r, Recovered::Committed { position: 12 });
        assert_eq!(j.last(), Some(rec(8, 12, 12, false)));
    }
    #[test]
    fn records_in_the_wrong_slot_or_tied_are_corrupt() {
        // seq 5 belongs in slot 1.
        let wrong = rec(5, 1, 1, false).encode();
        let older = rec(4, 2, 2, false).encode();
        let r = reopen(&two_slots(wrong, older), DIAL_12H).1;
        let Recovered::Corrupt { reason } = r else { panic!("{r:?}") };
        assert!(reason.contains("seq 5 belongs in the other slot"), "{reason}");
        // Both claim seq 4.
        let r = reopen(&two_slots(older, rec(4, 3, 3, false).encode()), DIAL_12H).1;
        let Recovered::Corrupt { reason } = r else { panic!("{r:?}") };
        assert!(reason.contains("both slots claim seq 4"), "{reason}");
        // A wrong-slot record older than the latest is harmless.
        let r = reopen(&two_slots(older, rec(2, 3, 3, false).encode()), DIAL_12H).1;
        assert_eq!(r, Recovered::Committed { position: 2 });
    }
    #[test]
    fn damaged_slot_with_higher_seq_is_skipped_past() {
        // Slot 1 holds a damaged seq 9, slot 0 the good seq 6: the next
        // record gets seq 10 (above 9) but must not land in slot 0, so 11.
        let mut damaged = rec(9, 1, 2, true).encode();
        damaged[20] ^= 4;
        let (mut j, r) = reopen(&two_slots(rec(6, 1, 1, false).encode(), damaged), DIAL_12H);
        assert_eq!(r, Recovered::Committed { position: 1 });
        j.begin(1, 2).unwrap();
        assert_eq!(j.last().map(|r| r.seq), Some(11));
        assert_eq!(&j.store().bytes()[..SLOT_LEN], &rec(6, 1, 1, false).encode());
        assert_eq!(reopen(j.store().bytes(), DIAL_12H).1, Recovered::InFlight { from: 1, to: 2 });
    }
    #[test]
    fn exhausted_sequence_numbers_are_an_error_not_a_wrap() {
        let top = rec(u64::MAX, 9, 9, false).encode();
        let (mut j, r) = reopen(&two_slots([0; SLOT_LEN], top), DIAL_12H);
        assert_eq!(r, Recovered::Committed { position: 9 });
        let e = j.commit(10).unwrap_err();
        assert!(e.what.contains("exhausted"), "{e}");
        assert_eq!(reopen(j.store().bytes(), DIAL_12H).1, Recovered::Committed { position: 9 });
    }

    #[test]
    fn mem_store_passes_the_conformance_suite() {
        conformance::check_store(|bytes| MemStore::from_bytes(bytes.to_vec()));
    }

    /// Slots with a good CRC but arbitrary fields: the conformance
    /// suite's property over the in-memory store, alone (to soak it:
    /// `PROPTEST_CASES=200000 cargo test -p piclock-core --lib
    /// journal::tests::intact_slots_with_arbitrary_fields`).
    #[test]
    fn intact_slots_with_arbitrary_fields() {
        conformance::intact_slots_with_arbitrary_fields(|bytes| MemStore::from_bytes(bytes.to_vec()));
    }

    /// The minimal case that property found (issue 22), on its own.
    #[test]
    fn truncated_slot_made_intact_by_a_write() {
        conformance::truncated_slot_made_intact_by_a_write(|bytes| MemStore::from_bytes(bytes.to_vec()));
    }
}
