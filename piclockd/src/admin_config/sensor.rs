//! `[sensor]` of the admin file: the hand sensors (optional).
//!
//! ```toml
//! [sensor]
//! seconds = "GPIO17"       # the seconds sensor's line: a name, or an offset on [gpio] chip
//! noon = "GPIO27"          # the noon sensor's line (hour and minute hands at 12)
//! active_low = true        # a sensor pulls its line low while active (open-drain Hall switch, pull-up)
//! home_on_start = false    # find 12:00 by itself when the position is not known at start
//! window = "learned"       # steps the seconds sensor is active: "learned", or 1..=30 (centred on 12)
//! tune_drive = true        # raise a tick's duty where the seconds sensor keeps finding steps lost
//! tune_max_on_us = 100     # the highest duty tuning may set, 1..=100 µs per 100 µs
//! ```
//!
//! Every key is optional, but a `[sensor]` section names at least one of
//! the two lines. No `[sensor]` section: no sensor, exactly as before
//! sensors existed. Line names follow the rules of `[gpio] lines` (1 to 31
//! bytes); offsets (0..=1023) are on `[gpio] chip`, which they then need.
//! The sensors' lines differ from each other and from the coil's.

use super::{CoilLines, GpioConfig, MAX_LINE_NAME, MAX_LINE_OFFSET};
use piclock_core::hand_sensor::duty_tuner::TunerConfig;
use piclock_core::hand_sensor::{SensorKind, Window, MAX_SECONDS_WIDTH};
use serde::Deserialize;

/// One sensor's line: a name, or an offset on `[gpio] chip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorLine {
    /// A line name, searched like the coil's.
    Name(String),
    /// A line offset on `[gpio] chip`.
    Offset(u32),
}

impl std::fmt::Display for SensorLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SensorLine::Name(n) => write!(f, "{n}"),
            SensorLine::Offset(o) => write!(f, "line {o}"),
        }
    }
}

/// The seconds sensor's window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SensorWindow {
    /// Measured from the first passes (the default).
    #[default]
    Learned,
    /// This many steps, centred on 12.
    Steps(u32),
}

impl SensorWindow {
    /// The window the monitor is given (`None`: learned).
    pub fn window(self) -> Option<Window> {
        match self {
            SensorWindow::Learned => None,
            SensorWindow::Steps(n) => Some(Window::centered(n)),
        }
    }
}

/// `[sensor]`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSensorConfig")]
pub struct SensorConfig {
    /// The seconds sensor's line.
    pub seconds: Option<SensorLine>,
    /// The noon sensor's line.
    pub noon: Option<SensorLine>,
    /// Lines are low while a sensor is active.
    pub active_low: bool,
    /// Home by itself when the position is not known at start.
    pub home_on_start: bool,
    /// The seconds sensor's window.
    pub window: SensorWindow,
    /// Whether and how far the drive is tuned from the losses the seconds sensor finds.
    pub tuner: TunerConfig,
}

impl SensorConfig {
    /// The configured sensors and their lines, seconds first.
    pub fn lines(&self) -> Vec<(SensorKind, &SensorLine)> {
        [(SensorKind::Seconds, &self.seconds), (SensorKind::Noon, &self.noon)]
            .into_iter()
            .filter_map(|(k, l)| l.as_ref().map(|l| (k, l)))
            .collect()
    }

    /// The checks that need `[gpio]`: offsets need its chip, and no sensor
    /// shares a coil line.
    pub fn check_against(&self, gpio: &GpioConfig) -> Result<(), String> {
        for (kind, line) in self.lines() {
            let key = kind.name();
            match (line, &gpio.lines) {
                (SensorLine::Offset(o), _) if gpio.chip.is_none() => {
                    return Err(format!(
                        "[sensor] {key} = {o} is a line offset, which needs [gpio] chip = \"/dev/gpiochipN\"; \
                         or give a line name like \"GPIO17\""
                    ))
                }
                (SensorLine::Name(n), CoilLines::Names(coil)) if coil.contains(n) => {
                    return Err(format!("[sensor] {key} = {n:?} is a coil line ([gpio] lines); accepted: another line"))
                }
                (SensorLine::Offset(o), CoilLines::Offsets(coil)) if coil.contains(o) => {
                    return Err(format!("[sensor] {key} = {o} is a coil line ([gpio] lines); accepted: another line"))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A line as written: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawLine {
    Name(String),
    Offset(i64),
}

impl<'de> Deserialize<'de> for RawLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawLine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[sensor] seconds or noon: a line name like \"GPIO17\" or a line offset like 17")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawLine, E> {
                Ok(RawLine::Offset(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawLine, E> {
                Ok(RawLine::Offset(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawLine, E> {
                Ok(RawLine::Name(v.chars().take(MAX_LINE_NAME + 1).collect()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The window as written: `"learned"` or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawWindow {
    Word(String),
    Steps(i64),
}

impl<'de> Deserialize<'de> for RawWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawWindow;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[sensor] window: \"learned\" or the steps the seconds sensor is active, 1..=30")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawWindow, E> {
                Ok(RawWindow::Steps(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawWindow, E> {
                Ok(RawWindow::Steps(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawWindow, E> {
                Ok(RawWindow::Word(v.chars().take(33).collect()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[sensor]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSensorConfig {
    seconds: Option<RawLine>,
    noon: Option<RawLine>,
    #[serde(default = "yes")]
    active_low: bool,
    #[serde(default)]
    home_on_start: bool,
    window: Option<RawWindow>,
    #[serde(default = "yes")]
    tune_drive: bool,
    tune_max_on_us: Option<i64>,
}

fn yes() -> bool {
    true
}

const LINE_ACCEPTED: &str =
    "accepted: a line name of 1 to 31 bytes like \"GPIO17\", or a line offset 0..=1023 on [gpio] chip";

fn line(key: &str, raw: RawLine) -> Result<SensorLine, String> {
    match raw {
        RawLine::Name(n) => {
            let shown: String = n.chars().take(MAX_LINE_NAME + 1).collect();
            if n.is_empty() || n.len() > MAX_LINE_NAME || n.chars().any(char::is_control) {
                Err(format!("[sensor] {key} = {shown:?}: {LINE_ACCEPTED}"))
            } else {
                Ok(SensorLine::Name(n))
            }
        }
        RawLine::Offset(o) => match u32::try_from(o) {
            Ok(v) if v <= MAX_LINE_OFFSET => Ok(SensorLine::Offset(v)),
            _ => Err(format!("[sensor] {key} = {o}: {LINE_ACCEPTED}")),
        },
    }
}

fn window(raw: Option<RawWindow>) -> Result<SensorWindow, String> {
    let accepted = format!("accepted: \"learned\", or the steps it is active, 1..={MAX_SECONDS_WIDTH}");
    match raw {
        None => Ok(SensorWindow::Learned),
        Some(RawWindow::Word(w)) if w == "learned" => Ok(SensorWindow::Learned),
        Some(RawWindow::Word(w)) => {
            let shown: String = w.chars().take(32).collect();
            Err(format!("[sensor] window = {shown:?}: {accepted}"))
        }
        Some(RawWindow::Steps(n)) => match u32::try_from(n) {
            Ok(v) if (1..=MAX_SECONDS_WIDTH).contains(&v) => Ok(SensorWindow::Steps(v)),
            _ => Err(format!("[sensor] window = {n}: {accepted}")),
        },
    }
}

impl TryFrom<RawSensorConfig> for SensorConfig {
    type Error = String;
    fn try_from(raw: RawSensorConfig) -> Result<Self, String> {
        let seconds = raw.seconds.map(|l| line("seconds", l)).transpose()?;
        let noon = raw.noon.map(|l| line("noon", l)).transpose()?;
        if seconds.is_none() && noon.is_none() {
            return Err("[sensor] names no sensor: accepted: seconds = \"GPIO17\", noon = \"GPIO27\", or both \
                        (a line name, or an offset on [gpio] chip)"
                .into());
        }
        if seconds.is_some() && seconds == noon {
            return Err(format!(
                "[sensor] seconds and noon are the same line ({}); accepted: two different lines",
                seconds.as_ref().map(ToString::to_string).unwrap_or_default()
            ));
        }
        let window = window(raw.window)?;
        if window != SensorWindow::Learned && seconds.is_none() {
            return Err("[sensor] window is the seconds sensor's, and there is none; accepted: \
                        window only with seconds = \"GPIO17\""
                .into());
        }
        let max_on_us = match raw.tune_max_on_us.map(u32::try_from) {
            None => TunerConfig::default().max_on_us,
            Some(Ok(v)) if (1..=100).contains(&v) => v,
            Some(_) => {
                return Err(format!(
                    "[sensor] tune_max_on_us = {}: accepted 1..=100 (µs high per 100 µs)",
                    raw.tune_max_on_us.unwrap_or_default()
                ))
            }
        };
        let tuner = TunerConfig { enabled: raw.tune_drive, max_on_us };
        Ok(SensorConfig { seconds, noon, active_low: raw.active_low, home_on_start: raw.home_on_start, window, tuner })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::admin_config::tests::{documented_example, parse};

    #[test]
    fn no_section_means_no_sensor_and_the_documented_example_parses() {
        assert_eq!(parse("").unwrap().sensor, None);
        let example = documented_example(include_str!("sensor.rs"));
        let s = parse(&example).unwrap().sensor.expect("a [sensor] section");
        assert_eq!(s.seconds, Some(SensorLine::Name("GPIO17".into())));
        assert_eq!(s.noon, Some(SensorLine::Name("GPIO27".into())));
        assert!(s.active_low && !s.home_on_start);
        assert_eq!(s.window, SensorWindow::Learned);
        assert_eq!(s.lines().len(), 2);
        assert_eq!(s.tuner, TunerConfig { enabled: true, max_on_us: 100 });
    }

    #[test]
    fn forms() {
        let s = |t: &str| parse(t).unwrap().sensor.unwrap();
        let one = s("[sensor]\nnoon = \"NOON\"\nhome_on_start = true\nactive_low = false\n");
        assert_eq!((one.seconds, one.noon.clone()), (None, Some(SensorLine::Name("NOON".into()))));
        assert!(one.home_on_start && !one.active_low);
        let off = s("[gpio]\nchip = \"/dev/gpiochip0\"\n[sensor]\nseconds = 17\nnoon = 27\nwindow = 4\n");
        assert_eq!(off.seconds, Some(SensorLine::Offset(17)));
        assert_eq!(off.window, SensorWindow::Steps(4));
        assert_eq!(off.window.window(), Some(Window::centered(4)));
        assert_eq!(s("[sensor]\nseconds = \"S\"\nwindow = \"learned\"\n").window.window(), None);
        let tuned = s("[sensor]\nseconds = \"S\"\ntune_drive = false\ntune_max_on_us = 95\n").tuner;
        assert_eq!(tuned, TunerConfig { enabled: false, max_on_us: 95 });
        assert_eq!(one.tuner, TunerConfig::default());
    }

    #[test]
    fn errors_name_the_key_and_what_is_accepted() {
        let long = "N".repeat(MAX_LINE_NAME + 1);
        let long_line = format!("[sensor]\nseconds = \"{long}\"\n");
        for (text, needles) in [
            ("[sensor]\n", &["[sensor] names no sensor", "seconds = \"GPIO17\""][..]),
            ("[sensor]\nactive_low = false\n", &["names no sensor"]),
            ("[sensor]\nseconds = \"\"\n", &["[sensor] seconds = \"\"", "1 to 31 bytes"]),
            (&long_line, &["[sensor] seconds", "1 to 31 bytes"]),
            ("[sensor]\nnoon = \"A\\tB\"\n", &["[sensor] noon", "accepted"]),
            ("[gpio]\nchip = \"/dev/gpiochip0\"\n[sensor]\nseconds = 1024\n", &["[sensor] seconds = 1024", "0..=1023"]),
            ("[gpio]\nchip = \"/dev/gpiochip0\"\n[sensor]\nnoon = -1\n", &["[sensor] noon = -1"]),
            ("[sensor]\nseconds = 17\n", &["[sensor] seconds = 17", "needs [gpio] chip"]),
            ("[sensor]\nseconds = \"X\"\nnoon = \"X\"\n", &["same line (X)", "two different lines"]),
            ("[sensor]\nseconds = \"GPIO12\"\n", &["[sensor] seconds = \"GPIO12\" is a coil line"]),
            ("[gpio]\nchip = \"/dev/gpiochip0\"\n[sensor]\nnoon = 13\n", &["[sensor] noon = 13 is a coil line"]),
            ("[sensor]\nseconds = \"S\"\nwindow = 31\n", &["[sensor] window = 31", "1..=30"]),
            ("[sensor]\nseconds = \"S\"\nwindow = 0\n", &["[sensor] window = 0", "\"learned\""]),
            ("[sensor]\nseconds = \"S\"\nwindow = \"auto\"\n", &["[sensor] window = \"auto\"", "1..=30"]),
            ("[sensor]\nnoon = \"N\"\nwindow = 3\n", &["window is the seconds sensor's"]),
            ("[sensor]\nseconds = \"S\"\nhome_on_start = 1\n", &["home_on_start"]),
            ("[sensor]\nseconds = \"S\"\nactive = true\n", &["unknown field `active`"]),
            ("[sensor]\nseconds = true\n", &["[sensor] seconds or noon: a line name like"]),
            ("[sensor]\nseconds = \"S\"\nwindow = 2.5\n", &["[sensor] window: \"learned\" or the steps"]),
            ("[sensor]\nseconds = \"S\"\ntune_max_on_us = 0\n", &["[sensor] tune_max_on_us = 0", "1..=100"]),
            ("[sensor]\nseconds = \"S\"\ntune_max_on_us = 101\n", &["[sensor] tune_max_on_us = 101", "1..=100"]),
            ("[sensor]\nseconds = \"S\"\ntune_max_on_us = -5\n", &["[sensor] tune_max_on_us = -5"]),
            ("[sensor]\nseconds = \"S\"\ntune_drive = \"yes\"\n", &["tune_drive"]),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("/etc/piclock/piclockd.toml"), "{e}");
            for n in needles {
                assert!(e.contains(n), "{text:?}: {n:?} not in {e}");
            }
        }
    }
}
