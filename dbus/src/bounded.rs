//! Method arguments decoded with bounded memory, and short excerpts of bad
//! input for error replies.
//!
//! Any local user may send the daemon a message as large as the bus allows
//! (32 MiB on a stock system bus), and the checks run before polkit is
//! asked. So the daemon never decodes an argument into more than it keeps:
//! a string argument is borrowed from the message (`&str`) and its length
//! checked before it is parsed; an array or dictionary argument is decoded
//! by the types here, which keep at most [`KEEP`] entries, each string cut
//! to [`KEEP_BYTES`] bytes, and only count the rest without allocating. An
//! error reply quotes at most [`EXCERPT_CHARS`] characters of the input,
//! escaped ([`excerpt`]).

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use zbus::zvariant::{Signature, Type};

use piclock_core::excerpt::excerpt_of;
pub use piclock_core::excerpt::{excerpt, shown, EXCERPT_CHARS};

/// Most entries of an array or dictionary argument that are kept.
pub const KEEP: usize = 64;
/// Most bytes of one string inside an array or dictionary that are kept.
pub const KEEP_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A string inside an array or dictionary argument: its first
/// [`KEEP_BYTES`] bytes and its real length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedStr {
    /// The start of the string.
    pub text: String,
    /// Its length in bytes.
    pub len: usize,
}

impl BoundedStr {
    /// The whole string, if it was kept whole.
    pub fn whole(&self) -> Option<&str> {
        (self.text.len() == self.len).then_some(self.text.as_str())
    }

    /// The string as an error message shows it ([`shown`], with its real length).
    pub fn shown(&self) -> String {
        match self.whole() {
            Some(s) => shown(s),
            None => excerpt_of(&self.text, self.len),
        }
    }
}

impl<'de> Deserialize<'de> for BoundedStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BoundedStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BoundedStr, E> {
                Ok(BoundedStr { text: cut(v, KEEP_BYTES).to_owned(), len: v.len() })
            }
        }
        d.deserialize_str(V)
    }
}

/// An `as` argument: the first [`KEEP`] strings (each a [`BoundedStr`]) and
/// how many there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundedStrings {
    /// The first strings.
    pub kept: Vec<BoundedStr>,
    /// How many the argument held.
    pub count: usize,
}

impl Type for BoundedStrings {
    const SIGNATURE: &'static Signature = <Vec<String> as Type>::SIGNATURE;
}

impl<'de> Deserialize<'de> for BoundedStrings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BoundedStrings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BoundedStrings, A::Error> {
                let mut out = BoundedStrings::default();
                loop {
                    if out.kept.len() < KEEP {
                        match seq.next_element::<BoundedStr>()? {
                            Some(s) => out.kept.push(s),
                            None => break,
                        }
                    } else if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    out.count += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V)
    }
}

/// The value of a setting in an `a{sv}` argument: the types settings have,
/// or only the D-Bus type of anything else (its contents are skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// `u`.
    U32(u32),
    /// `b`.
    Bool(bool),
    /// Any other type, by its signature.
    Other(String),
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SettingValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a variant")
            }
            // A variant comes as its signature, then its value.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SettingValue, A::Error> {
                let missing = || serde::de::Error::custom("a variant without a value");
                let signature = seq.next_element::<Signature>()?.ok_or_else(missing)?;
                Ok(match signature {
                    Signature::U32 => SettingValue::U32(seq.next_element()?.ok_or_else(missing)?),
                    Signature::Bool => SettingValue::Bool(seq.next_element()?.ok_or_else(missing)?),
                    other => {
                        seq.next_element::<IgnoredAny>()?;
                        SettingValue::Other(cut(&other.to_string(), EXCERPT_CHARS).to_owned())
                    }
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// An `a{sv}` argument of settings: the first [`KEEP`] entries and how many
/// there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundedSettings {
    /// The first entries, in the order they came.
    pub kept: Vec<(BoundedStr, SettingValue)>,
    /// How many the argument held.
    pub count: usize,
}

impl Type for BoundedSettings {
    const SIGNATURE: &'static Signature =
        <std::collections::HashMap<String, zbus::zvariant::OwnedValue> as Type>::SIGNATURE;
}

impl<'de> Deserialize<'de> for BoundedSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BoundedSettings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dictionary of variants")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BoundedSettings, A::Error> {
                let mut out = BoundedSettings::default();
                loop {
                    if out.kept.len() < KEEP {
                        match map.next_entry::<BoundedStr, SettingValue>()? {
                            Some(entry) => out.kept.push(entry),
                            None => break,
                        }
                    } else if map.next_entry::<IgnoredAny, IgnoredAny>()?.is_none() {
                        break;
                    }
                    out.count += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use zbus::zvariant::serialized::{Context, Data};
    use zbus::zvariant::{to_bytes, OwnedValue, Value, LE};

    fn encode<T: serde::Serialize + Type>(value: &T) -> Data<'static, 'static> {
        to_bytes(Context::new_dbus(LE, 0), value).expect("encode")
    }

    #[test]
    fn a_long_array_is_counted_not_kept() {
        let many: Vec<String> = (0..10_000).map(|i| format!("s{i}")).collect();
        let data = encode(&many);
        let (b, _): (BoundedStrings, _) = data.deserialize().expect("decode");
        assert_eq!(b.count, 10_000);
        assert_eq!(b.kept.len(), KEEP);
        assert_eq!(b.kept[3].whole(), Some("s3"));
        let long = vec!["x".repeat(5000)];
        let (b, _): (BoundedStrings, _) = encode(&long).deserialize().expect("decode");
        assert_eq!((b.count, b.kept[0].len, b.kept[0].text.len(), b.kept[0].whole()), (1, 5000, KEEP_BYTES, None));
    }

    #[test]
    fn settings_keep_their_types_and_skip_other_values() {
        let mut d: HashMap<String, OwnedValue> = HashMap::new();
        d.insert("a".into(), OwnedValue::from(7u32));
        d.insert("b".into(), OwnedValue::from(true));
        d.insert("c".into(), OwnedValue::try_from(Value::from(vec!["x"; 1000])).expect("value"));
        d.insert("d".into(), OwnedValue::from(-1i32));
        let (b, _): (BoundedSettings, _) = encode(&d).deserialize().expect("decode");
        assert_eq!(b.count, 4);
        let get = |k: &str| b.kept.iter().find(|(key, _)| key.whole() == Some(k)).map(|(_, v)| v.clone());
        assert_eq!(get("a"), Some(SettingValue::U32(7)));
        assert_eq!(get("b"), Some(SettingValue::Bool(true)));
        assert_eq!(get("c"), Some(SettingValue::Other("as".into())));
        assert_eq!(get("d"), Some(SettingValue::Other("i".into())));
        let big: HashMap<String, OwnedValue> = (0..5000u32).map(|i| (format!("k{i}"), OwnedValue::from(i))).collect();
        let (b, _): (BoundedSettings, _) = encode(&big).deserialize().expect("decode");
        assert_eq!((b.count, b.kept.len()), (5000, KEEP));
    }
}
