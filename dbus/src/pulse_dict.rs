//! `PulseConfig` as the D-Bus dictionary `a{sv}`.

use piclock_core::pulse_config::{spec, ConfigError, ConfigValue, KeyKind, PulseConfig};
use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Value};

/// All settings as `a{sv}` (`u` and `b` values).
pub fn to_dict(config: &PulseConfig) -> HashMap<String, OwnedValue> {
    changes_to_dict(config.entries())
}

/// Some settings as `a{sv}`, for `SetPulseConfig`.
pub fn changes_to_dict<'a, I>(changes: I) -> HashMap<String, OwnedValue>
where
    I: IntoIterator<Item = (&'a str, ConfigValue)>,
{
    changes
        .into_iter()
        .map(|(k, v)| {
            let value = match v {
                ConfigValue::U32(n) => OwnedValue::from(n),
                ConfigValue::Bool(b) => OwnedValue::from(b),
            };
            (k.to_owned(), value)
        })
        .collect()
}

/// Reads requested changes from `a{sv}`: every key known and of its type,
/// or an error naming the key and what it accepts.
pub fn changes_from_dict(dict: &HashMap<String, OwnedValue>) -> Result<Vec<(String, ConfigValue)>, ConfigError> {
    let mut keys: Vec<&String> = dict.keys().collect();
    keys.sort();
    let mut out = Vec::with_capacity(dict.len());
    for key in keys {
        let value = &dict[key];
        let value = match (&**value, spec(key)) {
            (_, None) => {
                // Let the core produce the "unknown key" message.
                return PulseConfig::default().with_changes([(key.as_str(), ConfigValue::U32(0))]).map(|_| Vec::new());
            }
            (Value::U32(v), Some(s)) if matches!(s.kind, KeyKind::U32 { .. }) => ConfigValue::U32(*v),
            (Value::Bool(b), Some(s)) if s.kind == KeyKind::Bool => ConfigValue::Bool(*b),
            (other, Some(s)) => {
                return Err(ConfigError {
                    key: key.clone(),
                    message: format!(
                        "wrong type '{}'; accepted: {} (D-Bus type '{}')",
                        other.value_signature(),
                        s.range_text(),
                        s.signature()
                    ),
                })
            }
        };
        out.push((key.clone(), value));
    }
    Ok(out)
}

/// Reads a full settings dictionary back into a `PulseConfig` (clients).
pub fn from_dict(dict: &HashMap<String, OwnedValue>) -> Result<PulseConfig, ConfigError> {
    let changes = changes_from_dict(dict)?;
    PulseConfig::default().with_changes(changes.iter().map(|(k, v)| (k.as_str(), *v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let c = PulseConfig::default()
            .with_changes([("norm_tick_ms", ConfigValue::U32(40)), ("invert_polarity", ConfigValue::Bool(true))])
            .unwrap();
        let d = to_dict(&c);
        assert_eq!(d.len(), 18);
        assert_eq!(from_dict(&d).unwrap(), c);
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_named() {
        let mut d = HashMap::new();
        d.insert("norm_tick_ms".to_owned(), OwnedValue::from(31i32));
        let e = changes_from_dict(&d).unwrap_err();
        assert_eq!(e.key, "norm_tick_ms");
        assert!(e.message.contains("'i'") && e.message.contains("'u'"), "{e}");
        // Found by the pulse_dict fuzz target: a value of the other
        // setting type was taken as it came, whatever the key's type.
        for (key, value, got, wanted) in [
            ("rev_ticka_t3_ms", OwnedValue::from(true), "'b'", "'u'"),
            ("invert_polarity", OwnedValue::from(1u32), "'u'", "'b'"),
        ] {
            let d = HashMap::from([(key.to_owned(), value)]);
            let e = changes_from_dict(&d).unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.message.contains(got) && e.message.contains(wanted), "{e}");
        }
        let mut d = HashMap::new();
        d.insert("nope".to_owned(), OwnedValue::from(1u32));
        assert_eq!(changes_from_dict(&d).unwrap_err().key, "nope");
    }
}
