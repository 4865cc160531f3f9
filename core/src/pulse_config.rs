//! Pulse and sync settings: the `PulseConfig` keys of the D-Bus contract.
//!
//! [`KEYS`] is the one table of key names, types, defaults and ranges; the
//! daemon validates with it, the CLI and the panel show it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A setting's value, independent of any wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// An unsigned number (D-Bus `u`).
    U32(u32),
    /// A flag (D-Bus `b`).
    Bool(bool),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::U32(v) => write!(f, "{v}"),
            ConfigValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// The type and accepted range of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An unsigned number in `min..=max`.
    U32 {
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },
    /// A boolean.
    Bool,
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The key as it appears in `PulseConfig` (for example `norm_tick_ms`).
    pub name: &'static str,
    /// Type and range.
    pub kind: KeyKind,
    /// Built-in default.
    pub default: ConfigValue,
    /// One line of documentation.
    pub doc: &'static str,
}

impl KeySpec {
    /// The accepted range in words, for error messages and help.
    pub fn range_text(&self) -> String {
        match self.kind {
            KeyKind::U32 { min, max } => format!("an unsigned integer (u) in {min}..={max}"),
            KeyKind::Bool => "a boolean (b)".to_owned(),
        }
    }

    /// The D-Bus signature letter of the value.
    pub fn signature(&self) -> &'static str {
        match self.kind {
            KeyKind::U32 { .. } => "u",
            KeyKind::Bool => "b",
        }
    }
}

/// Longest single pulse accepted, in ms: longer drive only heats the coil.
pub const MAX_PULSE_MS: u32 = 100;

macro_rules! pulse_config {
    ($( $name:ident : $kind:tt = $default:expr, [$($range:tt)*], $doc:expr; )*) => {
        /// All pulse and sync settings. Build it with [`PulseConfig::default`] and
        /// change it only through [`PulseConfig::with_changes`], which validates.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct PulseConfig {
            $( #[doc = $doc] pub $name: pulse_config!(@ty $kind), )*
        }

        impl Default for PulseConfig {
            fn default() -> Self {
                PulseConfig { $( $name: $default, )* }
            }
        }

        /// Every key, in contract order.
        pub const KEYS: &[KeySpec] = &[
            $( KeySpec {
                name: stringify!($name),
                kind: pulse_config!(@kind $kind [$($range)*]),
                default: pulse_config!(@val $kind $default),
                doc: $doc,
            }, )*
        ];

        impl PulseConfig {
            /// The value of `key`, if it is a known key.
            pub fn get(&self, key: &str) -> Option<ConfigValue> {
                match key {
                    $( stringify!($name) => Some(pulse_config!(@val $kind self.$name)), )*
                    _ => None,
                }
            }

            fn set_unchecked(&mut self, key: &str, value: ConfigValue) -> bool {
                match (key, value) {
                    $( (stringify!($name), pulse_config!(@pat $kind v)) => { self.$name = v; true } )*
                    _ => false,
                }
            }
        }
    };
    (@ty u) => { u32 };
    (@ty b) => { bool };
    (@kind u [$min:expr, $max:expr]) => { KeyKind::U32 { min: $min, max: $max } };
    (@kind b []) => { KeyKind::Bool };
    (@val u $e:expr) => { ConfigValue::U32($e) };
    (@val b $e:expr) => { ConfigValue::Bool($e) };
    (@pat u $v:ident) => { ConfigValue::U32($v) };
    (@pat b $v:ident) => { ConfigValue::Bool($v) };
}

pulse_config! {
    norm_tick_ms: u = 31, [5, MAX_PULSE_MS], "Pulse length of a normal tick, ms.";
    norm_tick_on_us: u = 60, [1, 100], "µs high in each 100 µs PWM period of a normal tick.";
    fwd_tick_ms: u = 32, [5, MAX_PULSE_MS], "Pulse length of a fast-forward tick, ms.";
    fwd_tick_on_us: u = 60, [1, 100], "µs high in each 100 µs PWM period of a fast-forward tick.";
    fwd_ticks_per_sec: u = 4, [2, 8], "Fast-forward rate, ticks per second.";
    rev_ticka_t1_ms: u = 10, [1, MAX_PULSE_MS], "Reverse tick, region A: short pulse, ms.";
    rev_ticka_t2_ms: u = 7, [0, MAX_PULSE_MS], "Reverse tick, region A: gap, ms.";
    rev_ticka_t3_ms: u = 28, [1, MAX_PULSE_MS], "Reverse tick, region A: long pulse (other polarity), ms.";
    rev_ticka_on_us: u = 90, [1, 100], "Reverse tick, region A: µs high per 100 µs.";
    rev_tickb_t1_ms: u = 10, [1, MAX_PULSE_MS], "Reverse tick, region B: short pulse, ms.";
    rev_tickb_t2_ms: u = 7, [0, MAX_PULSE_MS], "Reverse tick, region B: gap, ms.";
    rev_tickb_t3_ms: u = 28, [1, MAX_PULSE_MS], "Reverse tick, region B: long pulse (other polarity), ms.";
    rev_tickb_on_us: u = 82, [1, 100], "Reverse tick, region B: µs high per 100 µs.";
    rev_region_a_start: u = 35, [0, 59], "Region A starts at this second (inclusive).";
    rev_region_a_end: u = 55, [1, 60], "Region A ends before this second.";
    rev_ticks_per_sec: u = 2, [0, 4], "Reverse rate, ticks per second; 0 = never reverse, wait instead.";
    sync_tolerance_s: u = 0, [0, 300], "Errors up to this many seconds are left alone.";
    invert_polarity: b = false, [], "Which pin drives even positions (false: pin A).";
    impulse_ms: u = 1000, [100, 3000], "Impulse lines only: one impulse, full on (no PWM), ms; defaults to 200 on second lines.";
    impulse_gap_ms: u = 1000, [50, 60000], "Impulse lines only: least pause between two impulses, ms (impulse plus gap fit one step); defaults to 300 on second lines.";
}

/// A setting that was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (or keys, for a cross-field rule) at fault.
    pub key: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The table row of `key`.
pub fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == key)
}

fn unknown_key(key: &str) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: format!("unknown key; accepted keys: {}", KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")),
    }
}

/// Reads one `key=value` assignment as typed by a person (`norm_tick_ms=30`,
/// `invert_polarity=yes`). Checks the key and the value's type, not the range
/// (the daemon checks that, with the rules that span several keys).
pub fn parse_assignment(text: &str) -> Result<(&'static str, ConfigValue), ConfigError> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(ConfigError { key: text.trim().to_owned(), message: "expected key=value".to_owned() });
    };
    let key = key.trim();
    let value = value.trim();
    let spec = spec(key).ok_or_else(|| unknown_key(key))?;
    let parsed = match spec.kind {
        KeyKind::U32 { .. } => value.parse::<u32>().ok().map(ConfigValue::U32),
        KeyKind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(ConfigValue::Bool(true)),
            "false" | "no" | "off" | "0" => Some(ConfigValue::Bool(false)),
            _ => None,
        },
    };
    let accepted = match spec.kind {
        KeyKind::U32 { .. } => spec.range_text(),
        KeyKind::Bool => "true or false (also yes/no, on/off, 1/0)".to_owned(),
    };
    parsed.map(|v| (spec.name, v)).ok_or_else(|| ConfigError {
        key: key.to_owned(),
        message: format!("{value:?} is not accepted; accepted: {accepted}"),
    })
}

impl PulseConfig {
    /// All settings as `(key, value)` pairs, in contract order.
    pub fn entries(&self) -> Vec<(&'static str, ConfigValue)> {
        KEYS.iter().filter_map(|k| self.get(k.name).map(|v| (k.name, v))).collect()
    }

    /// This configuration with `changes` applied, or the first problem found.
    ///
    /// All or nothing: unknown keys, wrong types, values out of range and
    /// combinations that cannot work (a pulse longer than its tick period,
    /// an empty region) are refused, and `self` is left as it was.
    pub fn with_changes<'a, I>(&self, changes: I) -> Result<PulseConfig, ConfigError>
    where
        I: IntoIterator<Item = (&'a str, ConfigValue)>,
    {
        let mut next = *self;
        for (key, value) in changes {
            let spec = spec(key).ok_or_else(|| unknown_key(key))?;
            match (spec.kind, value) {
                (KeyKind::U32 { min, max }, ConfigValue::U32(v)) if v < min || v > max => {
                    return Err(ConfigError {
                        key: key.to_owned(),
                        message: format!("{v} is out of range; accepted: {}", spec.range_text()),
                    });
                }
                (KeyKind::U32 { .. }, ConfigValue::U32(_)) | (KeyKind::Bool, ConfigValue::Bool(_)) => {}
                _ => {
                    return Err(ConfigError {
                        key: key.to_owned(),
                        message: format!("wrong type; accepted: {}", spec.range_text()),
                    })
                }
            }
            next.set_unchecked(key, value);
        }
        next.validate()?;
        Ok(next)
    }

    /// Checks the rules that span several keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for k in KEYS {
            if let (KeyKind::U32 { min, max }, Some(ConfigValue::U32(v))) = (k.kind, self.get(k.name)) {
                if v < min || v > max {
                    return Err(ConfigError {
                        key: k.name.to_owned(),
                        message: format!("{v} is out of range; accepted: {}", k.range_text()),
                    });
                }
            }
        }
        // A pulse may take at most half its tick period: the rotor needs the
        // rest of the period to swing over and settle.
        let fwd_room = 1000 / self.fwd_ticks_per_sec / 2;
        if self.fwd_tick_ms > fwd_room {
            return Err(ConfigError {
                key: "fwd_tick_ms".into(),
                message: format!(
                    "{} ms does not fit half the fast-forward period at fwd_ticks_per_sec={}; accepted: 5..={fwd_room}",
                    self.fwd_tick_ms, self.fwd_ticks_per_sec
                ),
            });
        }
        if let Some(rev_room) = 1000u32.checked_div(self.rev_ticks_per_sec).map(|p| p / 2) {
            for (region, total) in [
                ("rev_ticka", self.rev_ticka_t1_ms + self.rev_ticka_t2_ms + self.rev_ticka_t3_ms),
                ("rev_tickb", self.rev_tickb_t1_ms + self.rev_tickb_t2_ms + self.rev_tickb_t3_ms),
            ] {
                if total > rev_room {
                    return Err(ConfigError {
                        key: format!("{region}_t1_ms+{region}_t2_ms+{region}_t3_ms"),
                        message: format!(
                            "{total} ms in all does not fit half the reverse period at rev_ticks_per_sec={}; accepted: a sum up to {rev_room}",
                            self.rev_ticks_per_sec
                        ),
                    });
                }
            }
        }
        if self.rev_region_a_start >= self.rev_region_a_end {
            return Err(ConfigError {
                key: "rev_region_a_start".into(),
                message: format!(
                    "{} must be below rev_region_a_end ({}); accepted: 0..=59 and below the end",
                    self.rev_region_a_start, self.rev_region_a_end
                ),
            });
        }
        Ok(())
    }

    /// Whether a hand at `position` (dial seconds) is in reverse region A.
    pub fn in_region_a(&self, position: u32) -> bool {
        let ss = position % 60;
        (self.rev_region_a_start..self.rev_region_a_end).contains(&ss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_typed_by_the_table() {
        assert_eq!(parse_assignment("norm_tick_ms=30"), Ok(("norm_tick_ms", ConfigValue::U32(30))));
        assert_eq!(parse_assignment(" invert_polarity = yes "), Ok(("invert_polarity", ConfigValue::Bool(true))));
        assert_eq!(parse_assignment("invert_polarity=0"), Ok(("invert_polarity", ConfigValue::Bool(false))));
        let e = parse_assignment("norm_tick_ms=abc").expect_err("not a number");
        assert_eq!(e.key, "norm_tick_ms");
        assert!(e.message.contains("unsigned integer"), "{e}");
        let e = parse_assignment("norm_tick_ms=-1").expect_err("negative");
        assert_eq!(e.key, "norm_tick_ms");
        let e = parse_assignment("invert_polarity=maybe").expect_err("not a flag");
        assert!(e.message.contains("true or false"), "{e}");
        let e = parse_assignment("no_such_key=1").expect_err("unknown");
        assert!(e.message.contains("unknown key") && e.message.contains("norm_tick_ms"), "{e}");
        let e = parse_assignment("norm_tick_ms").expect_err("no =");
        assert!(e.message.contains("key=value"), "{e}");
        for k in KEYS {
            let text = format!("{}={}", k.name, k.default);
            assert_eq!(parse_assignment(&text), Ok((k.name, k.default)), "{text}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn defaults_match_the_contract_and_validate() {
        let c = PulseConfig::default();
        assert_eq!(c.norm_tick_ms, 31);
        assert_eq!(c.norm_tick_on_us, 60);
        assert_eq!(c.fwd_tick_ms, 32);
        assert_eq!(c.fwd_ticks_per_sec, 4);
        assert_eq!((c.rev_ticka_t1_ms, c.rev_ticka_t2_ms, c.rev_ticka_t3_ms, c.rev_ticka_on_us), (10, 7, 28, 90));
        assert_eq!((c.rev_tickb_t1_ms, c.rev_tickb_t2_ms, c.rev_tickb_t3_ms, c.rev_tickb_on_us), (10, 7, 28, 82));
        assert_eq!((c.rev_region_a_start, c.rev_region_a_end), (35, 55));
        assert_eq!(c.rev_ticks_per_sec, 2);
        assert_eq!(c.sync_tolerance_s, 0);
        assert!(!c.invert_polarity);
        assert_eq!((c.impulse_ms, c.impulse_gap_ms), (1000, 1000));
        assert_eq!(KEYS.len(), 20);
        c.validate().unwrap();
        for k in KEYS {
            assert_eq!(c.get(k.name), Some(k.default), "{}", k.name);
        }
    }

    #[test]
    fn refuses_unknown_keys_wrong_types_and_ranges() {
        let c = PulseConfig::default();
        let e = c.with_changes([("bogus", ConfigValue::U32(1))]).unwrap_err();
        assert_eq!(e.key, "bogus");
        assert!(e.message.contains("norm_tick_ms"));
        let e = c.with_changes([("norm_tick_on_us", ConfigValue::U32(101))]).unwrap_err();
        assert_eq!(e.key, "norm_tick_on_us");
        assert!(e.to_string().contains("1..=100"), "{e}");
        let e = c.with_changes([("invert_polarity", ConfigValue::U32(1))]).unwrap_err();
        assert!(e.message.contains("boolean"));
        let e = c.with_changes([("norm_tick_ms", ConfigValue::Bool(true))]).unwrap_err();
        assert!(e.message.contains("5..=100"));
    }

    #[test]
    fn refuses_pulses_that_do_not_fit_their_period() {
        let c = PulseConfig::default();
        let e = c
            .with_changes([("fwd_ticks_per_sec", ConfigValue::U32(8)), ("fwd_tick_ms", ConfigValue::U32(63))])
            .unwrap_err();
        assert_eq!(e.key, "fwd_tick_ms");
        let e = c
            .with_changes([
                ("rev_ticks_per_sec", ConfigValue::U32(4)),
                ("rev_ticka_t3_ms", ConfigValue::U32(100)),
                ("rev_ticka_t1_ms", ConfigValue::U32(100)),
                ("rev_ticka_t2_ms", ConfigValue::U32(60)),
            ])
            .unwrap_err();
        assert!(e.key.contains("rev_ticka"), "{e}");
        let e = c.with_changes([("rev_region_a_start", ConfigValue::U32(55))]).unwrap_err();
        assert_eq!(e.key, "rev_region_a_start");
        // rev 0 = never reverse: the reverse period rule does not apply.
        assert!(c.with_changes([("rev_ticks_per_sec", ConfigValue::U32(0))]).is_ok());
    }

    #[test]
    fn all_or_nothing() {
        let c = PulseConfig::default();
        let r = c.with_changes([("norm_tick_ms", ConfigValue::U32(40)), ("norm_tick_on_us", ConfigValue::U32(0))]);
        assert!(r.is_err());
        assert_eq!(c, PulseConfig::default());
        let ok = c
            .with_changes([("norm_tick_ms", ConfigValue::U32(40)), ("invert_polarity", ConfigValue::Bool(true))])
            .unwrap();
        assert_eq!(ok.norm_tick_ms, 40);
        assert!(ok.invert_polarity);
    }

    #[test]
    fn serde_roundtrip_and_partial_files() {
        let c = PulseConfig::default().with_changes([("norm_tick_ms", ConfigValue::U32(40))]).unwrap();
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<PulseConfig>(&s).unwrap(), c);
        let partial: PulseConfig = serde_json::from_str(r#"{"fwd_ticks_per_sec": 3}"#).unwrap();
        assert_eq!(partial.fwd_ticks_per_sec, 3);
        assert_eq!(partial.norm_tick_ms, 31);
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        #[test]
        fn accepted_configs_always_validate(key in 0usize..18, v in 0u32..2000) {
            let c = PulseConfig::default();
            let k = KEYS[key];
            let value = match k.kind { KeyKind::Bool => ConfigValue::Bool(v % 2 == 1), _ => ConfigValue::U32(v) };
            match c.with_changes([(k.name, value)]) {
                Ok(n) => { prop_assert!(n.validate().is_ok()); prop_assert_eq!(n.get(k.name), Some(value)); }
                Err(e) => prop_assert!(e.key.contains(k.name) || e.key.starts_with("rev_tick") || e.key == "fwd_tick_ms" || e.key == "rev_region_a_start"),
            }
        }
    }
}
