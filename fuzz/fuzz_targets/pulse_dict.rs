//! `SetPulseConfig`'s `a{sv}` as it arrives over D-Bus:
//! `piclock_dbus::pulse_dict::changes_from_dict` and `from_dict`, on a map
//! of keys (table keys or any string) to values of several D-Bus types.
//!
//! Asserts: the changes are accepted exactly when every key is in the
//! table and its value has the key's type (`u` or `b`); accepted changes
//! are the map's entries, sorted by key, values unchanged; a refusal names
//! the first bad key in sorted order; `from_dict` gives a configuration
//! that validates and holds every value, or the same refusal, or (for
//! well-typed changes) a range or cross-key refusal naming a key.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use piclock_core::pulse_config::{spec, ConfigValue, KeyKind, KEYS};
use piclock_dbus::pulse_dict::{changes_from_dict, from_dict};
use std::collections::{BTreeMap, HashMap};
use zbus::zvariant::{OwnedValue, Value};

/// A key: one of the table's (by index) or any string.
#[derive(Debug, Arbitrary)]
enum Key {
    Known(u8),
    Other(String),
}

/// A D-Bus value of one of several types.
#[derive(Debug, Clone, Arbitrary)]
enum Val {
    U32(u32),
    Bool(bool),
    I32(i32),
    U64(u64),
    U8(u8),
    F64(f64),
    Str(String),
}

impl Val {
    fn owned(&self) -> OwnedValue {
        match self {
            Val::U32(v) => OwnedValue::from(*v),
            Val::Bool(v) => OwnedValue::from(*v),
            Val::I32(v) => OwnedValue::from(*v),
            Val::U64(v) => OwnedValue::from(*v),
            Val::U8(v) => OwnedValue::from(*v),
            Val::F64(v) => OwnedValue::from(*v),
            Val::Str(s) => OwnedValue::try_from(Value::from(s.as_str())).expect("a string is not an fd"),
        }
    }

    /// The value for a key of `kind`, if it has that type.
    fn as_config(&self, kind: KeyKind) -> Option<ConfigValue> {
        match (kind, self) {
            (KeyKind::U32 { .. }, Val::U32(v)) => Some(ConfigValue::U32(*v)),
            (KeyKind::Bool, Val::Bool(v)) => Some(ConfigValue::Bool(*v)),
            _ => None,
        }
    }
}

fuzz_target!(|entries: Vec<(Key, Val)>| {
    // The map as the daemon receives it (a later duplicate key wins).
    let mut model: BTreeMap<String, Val> = BTreeMap::new();
    for (k, v) in entries {
        let key = match k {
            Key::Known(i) => KEYS[usize::from(i) % KEYS.len()].name.to_owned(),
            Key::Other(s) => s,
        };
        model.insert(key, v);
    }
    let dict: HashMap<String, OwnedValue> = model.iter().map(|(k, v)| (k.clone(), v.owned())).collect();

    // Sorted order, so the first bad key is the one to name.
    let expected: Result<Vec<(String, ConfigValue)>, &String> =
        model.iter().map(|(k, v)| spec(k).and_then(|s| v.as_config(s.kind)).map(|c| (k.clone(), c)).ok_or(k)).collect();
    let got = changes_from_dict(&dict);
    match (&got, &expected) {
        (Ok(changes), Ok(want)) => assert_eq!(changes, want),
        (Err(e), Err(bad)) => {
            assert_eq!(e.key, piclock_core::excerpt::shown(bad), "{e}");
            assert!(e.message.contains("accepted"), "{e}");
        }
        _ => panic!("changes_from_dict gave {got:?}, expected {expected:?}"),
    }

    match from_dict(&dict) {
        Ok(c) => {
            assert!(c.validate().is_ok());
            let changes = got.expect("from_dict accepted what changes_from_dict refused");
            for (k, v) in changes {
                assert_eq!(c.get(&k), Some(v), "{k}");
            }
        }
        Err(e) => match &got {
            // The same refusal, or one of the rules that span several keys.
            Err(first) => assert_eq!(&e, first),
            Ok(_) => assert!(!e.key.is_empty() && e.message.contains("accepted"), "{e}"),
        },
    }
});
