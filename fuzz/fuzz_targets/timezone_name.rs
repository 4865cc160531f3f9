//! Time zone names (`SetTimezone`, the saved `timezone` setting):
//! `piclockd::zone::Zone::named`, over the system's tz database.
//!
//! Asserts: an accepted name is a zone of the database, in its canonical
//! IANA spelling (so that what `Timezone` reports and what is saved is a
//! name other programs know), within the documented limits (1..=64 bytes,
//! not a path: no leading `/`, no `..`); accepting is stable (the name
//! given back is accepted again); offsets are within ±26 h; a refusal
//! quotes the name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclockd::zone::Zone;

/// 2026-01-01T00:00:00Z and 2026-07-01T00:00:00Z.
const TIMES: [i64; 3] = [0, 1_767_225_600, 1_782_864_000];

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else { return };
    match Zone::named(name) {
        Ok(zone) => {
            assert!((1..=64).contains(&name.len()) && !name.starts_with('/') && !name.contains(".."), "{name:?}");
            let tz = jiff::tz::db().get(zone.name()).expect("the zone is in the database");
            assert_eq!(tz.iana_name(), Some(zone.name()), "{name:?} is not the canonical spelling");
            let again = Zone::named(zone.name()).expect("a zone's own name is accepted");
            assert_eq!(again.name(), zone.name());
            for t in TIMES {
                let off = zone.offset_at(t);
                assert!(off.abs() <= 26 * 3600, "{name:?}: offset {off} s");
                assert_eq!(again.offset_at(t), off);
            }
        }
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains(&piclock_core::excerpt::excerpt(name)), "{e}");
            assert!(e.len() < 1024, "an error quotes at most an excerpt of {} bytes", name.len());
        }
    }
});
