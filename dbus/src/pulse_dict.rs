//! `PulseConfig` as the D-Bus dictionary `a{sv}`.

use crate::bounded::{shown, BoundedSettings, SettingValue};
use piclock_core::pulse_config::{spec, ConfigError, ConfigValue, KeyKind, PulseConfig, KEYS};
use std::collections::{BTreeMap, HashMap};
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
    let mut entries: Vec<(&str, SettingValue)> = dict
        .iter()
        .map(|(k, v)| {
            let value = match &**v {
                Value::U32(n) => SettingValue::U32(*n),
                Value::Bool(b) => SettingValue::Bool(*b),
                other => SettingValue::Other(other.value_signature().to_string()),
            };
            (k.as_str(), value)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.iter().map(|(k, v)| change(k, v)).collect()
}

/// Reads requested changes from a `SetPulseConfig` argument decoded with
/// bounded memory: at most as many entries as there are keys, each key known
/// (an unknown one is quoted as [`shown`] quotes it) and of its type. A key given
/// twice counts once, its last value.
pub fn changes_from_settings(settings: &BoundedSettings) -> Result<Vec<(String, ConfigValue)>, ConfigError> {
    if settings.count > KEYS.len() {
        return Err(ConfigError {
            key: "settings".into(),
            message: format!("{} entries given; accepted: at most {} (one per key)", settings.count, KEYS.len()),
        });
    }
    let mut entries: BTreeMap<&str, &SettingValue> = BTreeMap::new();
    for (key, value) in &settings.kept {
        match key.whole().filter(|k| spec(k).is_some()) {
            Some(k) => entries.insert(k, value),
            None => return Err(unknown_key(&key.shown())),
        };
    }
    entries.into_iter().map(|(k, v)| change(k, v)).collect()
}

/// One requested change: the key known and the value of its type.
fn change(key: &str, value: &SettingValue) -> Result<(String, ConfigValue), ConfigError> {
    let Some(s) = spec(key) else {
        return Err(unknown_key(&shown(key)));
    };
    let value = match (value, s.kind) {
        (SettingValue::U32(v), KeyKind::U32 { .. }) => ConfigValue::U32(*v),
        (SettingValue::Bool(b), KeyKind::Bool) => ConfigValue::Bool(*b),
        (other, _) => {
            let got = match other {
                SettingValue::U32(_) => "u".to_owned(),
                SettingValue::Bool(_) => "b".to_owned(),
                SettingValue::Other(sig) => sig.clone(),
            };
            return Err(ConfigError {
                key: key.to_owned(),
                message: format!("wrong type '{got}'; accepted: {} (D-Bus type '{}')", s.range_text(), s.signature()),
            });
        }
    };
    Ok((key.to_owned(), value))
}

/// The core's "unknown key" error for `shown` (the key as it may be quoted).
fn unknown_key(shown: &str) -> ConfigError {
    match PulseConfig::default().with_changes([(shown, ConfigValue::U32(0))]) {
        Err(e) => e,
        Ok(_) => ConfigError { key: shown.to_owned(), message: "unknown key".into() },
    }
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
        assert_eq!(d.len(), 20);
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
