//! Hand positions as typed by a person (`piclockctl set-hands 3:15`, the
//! panel): `piclock_core::dial::Dial::parse` (`H:MM` or `H:MM:SS`).
//!
//! Input: byte 0 bit 0 = dial (0: 12 h, 1: 24 h), the rest = the text.
//!
//! Asserts: the result is exactly that of an independent reading of the
//! documented grammar (at most 32 bytes; surrounding white space trimmed; hour 0..=12 on a
//! 12-hour dial, 0..=23 on a 24-hour one, one or two digits; minutes and
//! seconds two digits 00..=59); an accepted position is on the dial and
//! round-trips through `Dial::format`; an error quotes at most an excerpt
//! of the input (text over 32 bytes is refused unread).
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclock_core::dial::Dial;

/// A field of `min_len..=2` ASCII digits whose value is at most `max`.
fn field(s: &str, min_len: usize, max: u32) -> Option<u32> {
    if s.len() < min_len || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&v| v <= max)
}

/// The grammar, read independently of `Dial::parse`.
fn reference(dial: Dial, text: &str) -> Option<u32> {
    if text.len() > 32 {
        return None; // longer input is refused unread
    }
    let parts: Vec<&str> = text.trim().split(':').collect();
    let max_hour = if dial == Dial::TWELVE_HOUR { 12 } else { 23 };
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (field(h, 1, max_hour)?, field(m, 2, 59)?, 0),
        [h, m, s] => (field(h, 1, max_hour)?, field(m, 2, 59)?, field(s, 2, 59)?),
        _ => return None,
    };
    Some((h * 3600 + m * 60 + s) % dial.seconds())
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let dial = if flags & 1 == 0 { Dial::TWELVE_HOUR } else { Dial::TWENTY_FOUR_HOUR };
    let got = dial.parse(text);
    assert_eq!(got.as_ref().ok().copied(), reference(dial, text), "{text:?} on a {dial}");
    match got {
        Ok(p) => {
            assert!(p < dial.seconds());
            let shown = dial.format(p);
            assert_eq!(dial.parse(&shown), Ok(p), "{text:?} -> {p} -> {shown:?}");
        }
        Err(e) => {
            assert_eq!(e.input, piclock_core::excerpt::excerpt(text));
            assert!(e.to_string().contains(&e.input));
            assert!(e.to_string().len() < 1024, "an error quotes at most an excerpt of {} bytes", text.len());
        }
    }
});
