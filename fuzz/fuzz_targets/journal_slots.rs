//! The position store: `piclock_core::journal::Journal::open` over any
//! bytes (a file or FRAM holding garbage, torn or rotten slots), through the
//! in-memory store and through the FRAM backend (`FramSlotStore` over the
//! simulated MB85RC256V), then writing to it.
//!
//! Input: byte 0 bit 0 = dial (0: 12 h, 1: 24 h), bytes 1..5 = a position
//! (u32 LE, taken modulo the dial), the rest = the store's bytes.
//!
//! Asserts: recovery reports `Empty` exactly for all-zero bytes, and a
//! position (`Committed`, `InFlight`, `DialMismatch`) exactly when a slot
//! whose magic and CRC verify decodes to that record, sits in the slot of
//! its sequence number and outranks the other slot (else `Corrupt`); `Record::decode`
//! accepts only slots that re-encode to the same bytes; the FRAM backend
//! recovers exactly what the in-memory store recovers from the same bytes;
//! and whatever was found, a commit and then an in-flight record can be
//! written and are recovered on reopening.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclock_core::journal::{Journal, MemStore, Record, Recovered, SlotStore, SLOT_LEN};
use piclockd::devices::fram::{FramSlotStore, JOURNAL_BASE, JOURNAL_LEN};
use piclockd::sim::fram::VirtualFram;

/// The bytes of slot `i`, possibly short.
fn slot(bytes: &[u8], i: usize) -> &[u8] {
    let start = (i * SLOT_LEN).min(bytes.len());
    let end = ((i + 1) * SLOT_LEN).min(bytes.len());
    &bytes[start..end]
}

/// Whether a slot's length, magic and CRC are good (an independent reading
/// of the documented layout).
fn intact(s: &[u8]) -> Option<u64> {
    if s.len() != SLOT_LEN || &s[..4] != b"PCJ1" {
        return None;
    }
    let stored = u32::from_le_bytes([s[28], s[29], s[30], s[31]]);
    (crc32fast::hash(&s[..28]) == stored).then(|| u64::from_le_bytes(s[4..12].try_into().unwrap_or_default()))
}

/// What recovery must report for `record` on a journal of `dial` seconds.
fn state(record: &Record, dial: u32) -> Recovered {
    if record.dial_seconds != dial {
        Recovered::DialMismatch { stored: record.dial_seconds }
    } else if record.in_flight {
        Recovered::InFlight { from: record.position, to: record.target }
    } else {
        Recovered::Committed { position: record.position }
    }
}

/// Opens the journal over `store` and checks what it recovered from
/// `bytes` (the store's contents).
fn open_and_check<S: SlotStore>(store: S, bytes: &[u8], dial: u32) -> (Journal<S>, Recovered) {
    let (journal, got) = Journal::open(store, dial).expect("reading this store cannot fail");
    let used = &bytes[..bytes.len().min(2 * SLOT_LEN)];
    let slots = [slot(used, 0), slot(used, 1)];
    let decoded = slots.map(Record::decode);
    for (s, d) in slots.iter().zip(&decoded) {
        if let Ok(r) = d {
            assert_eq!(&r.encode()[..], *s, "decode accepted a slot that does not re-encode to itself");
            assert!(intact(s).is_some());
        }
    }
    // The documented rule: the intact slot with the highest seq decides;
    // it must be valid and in the slot of its seq, and not tied.
    let expected = if used.iter().all(|&b| b == 0) {
        Some(Recovered::Empty)
    } else {
        let best = match slots.map(intact) {
            [Some(a), Some(b)] if a == b => None,
            [Some(a), Some(b)] => Some(if a > b { 0 } else { 1 }),
            [Some(_), None] => Some(0),
            [None, Some(_)] => Some(1),
            [None, None] => None,
        };
        best.and_then(|i| decoded[i].as_ref().ok().filter(|r| r.seq % 2 == i as u64)).map(|r| state(r, dial))
    };
    match (&got, expected) {
        (Recovered::Corrupt { reason }, None) => {
            assert!(!reason.is_empty());
            assert_eq!(journal.last(), None);
        }
        (got, Some(expected)) => {
            assert_eq!(got, &expected, "bytes {used:02x?}");
            let last = match got {
                Recovered::Committed { position } => Some((*position, *position, false)),
                Recovered::InFlight { from, to } => Some((*from, *to, true)),
                _ => None,
            };
            assert_eq!(journal.last().map(|r| (r.position, r.target, r.in_flight)), last);
        }
        (got, None) => panic!("recovered {got:?} from no intact, newest, well-placed slot: {used:02x?}"),
    }
    (journal, got)
}

/// Writes a commit at `p`, then a move `p -> p + 1`, reopening after each
/// on `reopen(&journal)` (a store with the journal's bytes).
fn write_and_reopen<S: SlotStore>(mut journal: Journal<S>, reopen: impl Fn(&Journal<S>) -> S, p: u32, dial: u32) {
    // Only a store whose intact slot holds seq u64::MAX can refuse.
    if let Err(e) = journal.commit(p) {
        assert!(e.what.contains("exhausted"), "{e}");
        return;
    }
    let (mut journal, got) = Journal::open(reopen(&journal), dial).expect("reopen");
    assert_eq!(got, Recovered::Committed { position: p });
    let to = (p + 1) % dial;
    if let Err(e) = journal.begin(p, to) {
        assert!(e.what.contains("exhausted"), "{e}");
        return;
    }
    let (_, got) = Journal::open(reopen(&journal), dial).expect("reopen");
    assert_eq!(got, Recovered::InFlight { from: p, to });
}

fuzz_target!(|data: &[u8]| {
    let Some((head, bytes)) = data.split_first_chunk::<5>() else { return };
    let dial = if head[0] & 1 == 0 { 43_200 } else { 86_400 };
    let p = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) % dial;

    // The in-memory store, with the bytes as given (possibly short).
    let (journal, _) = open_and_check(MemStore::from_bytes(bytes.to_vec()), bytes, dial);
    write_and_reopen(journal, |j| MemStore::from_bytes(j.store().bytes().to_vec()), p, dial);

    // The FRAM backend: the chip always returns the whole journal area.
    let mut padded = bytes[..bytes.len().min(JOURNAL_LEN)].to_vec();
    padded.resize(JOURNAL_LEN, 0);
    let fram = VirtualFram::new();
    fram.poke(usize::from(JOURNAL_BASE), &padded);
    let (journal, from_fram) = open_and_check(FramSlotStore::new(fram.clone(), "/dev/i2c-fuzz"), &padded, dial);
    let (_, from_mem) = Journal::open(MemStore::from_bytes(padded.clone()), dial).expect("open");
    assert_eq!(from_fram, from_mem, "FRAM and memory stores disagree on the same bytes");
    write_and_reopen(journal, |_| FramSlotStore::new(fram.clone(), "/dev/i2c-fuzz"), p, dial);
});
