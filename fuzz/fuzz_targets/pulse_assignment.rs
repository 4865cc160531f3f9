//! Pulse settings as typed by a person (`piclockctl set norm_tick_ms=30`):
//! `piclock_core::pulse_config::parse_assignment` (`key=value`).
//!
//! Asserts: an accepted assignment names a key of the table (the text
//! before the first `=`, trimmed) with a value of the key's type read from
//! the text after it (a decimal u32, or true/false/yes/no/on/off/1/0 in any
//! case); `key=value` written back parses to the same; applying it to the
//! defaults either validates or is refused naming a key; a refusal names
//! the problem (missing `=`, unknown key, or what the key accepts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclock_core::pulse_config::{parse_assignment, spec, ConfigValue, KeyKind, PulseConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_assignment(text) {
        Ok((key, value)) => {
            let (k, v) = text.split_once('=').expect("accepted text has an '='");
            assert_eq!(key, k.trim());
            let s = spec(key).expect("accepted key is in the table");
            match (s.kind, value) {
                (KeyKind::U32 { .. }, ConfigValue::U32(n)) => assert_eq!(v.trim().parse::<u32>(), Ok(n)),
                (KeyKind::Bool, ConfigValue::Bool(b)) => {
                    let words: &[&str] = if b { &["true", "yes", "on", "1"] } else { &["false", "no", "off", "0"] };
                    assert!(words.contains(&v.trim().to_ascii_lowercase().as_str()), "{v:?} read as {b}");
                }
                (kind, value) => panic!("{key}: {value:?} is not of kind {kind:?}"),
            }
            assert_eq!(parse_assignment(&format!("{key}={value}")), Ok((key, value)));
            match PulseConfig::default().with_changes([(key, value)]) {
                Ok(c) => {
                    assert!(c.validate().is_ok());
                    assert_eq!(c.get(key), Some(value));
                }
                Err(e) => assert!(!e.key.is_empty() && !e.message.is_empty()),
            }
        }
        Err(e) => {
            let msg = e.to_string();
            match text.split_once('=') {
                None => assert!(msg.contains("key=value"), "{msg}"),
                Some((k, _)) if spec(k.trim()).is_none() => assert!(msg.contains("unknown key"), "{msg}"),
                Some((k, _)) => {
                    assert_eq!(e.key, k.trim());
                    assert!(msg.contains("accepted"), "{msg}");
                }
            }
        }
    }
});
