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

use super::{text_or_integer, CoilLines, GpioConfig, TextOrInteger, MAX_LINE_NAME, MAX_LINE_OFFSET};
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

/// A `[sensor]` refused; the message names the key and says what is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SensorError {
    /// A line that is no name of 1 to 31 bytes and no offset 0..=1023.
    #[error("[sensor] {key} = {written}: {LINE_ACCEPTED}")]
    Line {
        /// `seconds` or `noon`.
        key: &'static str,
        /// The value as written: a quoted name (its first 32 characters), or a number.
        written: String,
    },
    /// A `[sensor]` section without a line.
    #[error(
        "[sensor] names no sensor: accepted: seconds = \"GPIO17\", noon = \"GPIO27\", or both \
         (a line name, or an offset on [gpio] chip)"
    )]
    NoSensor,
    /// One line for both sensors.
    #[error("[sensor] seconds and noon are the same line ({line}); accepted: two different lines")]
    SameLine {
        /// The line.
        line: SensorLine,
    },
    /// A `window` that is neither "learned" nor 1..=[`MAX_SECONDS_WIDTH`].
    #[error("[sensor] window = {written}: accepted: \"learned\", or the steps it is active, 1..={MAX_SECONDS_WIDTH}")]
    Window {
        /// The value as written: a quoted word (its first 32 characters), or a number.
        written: String,
    },
    /// A `window` without a seconds sensor.
    #[error(
        "[sensor] window is the seconds sensor's, and there is none; accepted: \
         window only with seconds = \"GPIO17\""
    )]
    WindowWithoutSeconds,
    /// `tune_max_on_us` outside 1..=100.
    #[error("[sensor] tune_max_on_us = {value}: accepted 1..=100 (µs high per 100 µs)")]
    TuneMaxOnUs {
        /// The value.
        value: i64,
    },
    /// A line offset without `[gpio] chip`.
    #[error(
        "[sensor] {key} = {offset} is a line offset, which needs [gpio] chip = \"/dev/gpiochipN\"; \
         or give a line name like \"GPIO17\""
    )]
    OffsetNeedsChip {
        /// `seconds` or `noon`.
        key: &'static str,
        /// The offset.
        offset: u32,
    },
    /// A coil line.
    #[error("[sensor] {key} = {} is a coil line ([gpio] lines); accepted: another line", written(.line))]
    CoilLine {
        /// `seconds` or `noon`.
        key: &'static str,
        /// The line.
        line: SensorLine,
    },
}

/// A line as the file has it: a quoted name, or an offset.
fn written(line: &SensorLine) -> String {
    match line {
        SensorLine::Name(n) => format!("{n:?}"),
        SensorLine::Offset(o) => o.to_string(),
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

    /// The configured sensors, seconds first.
    pub fn kinds(&self) -> Vec<SensorKind> {
        self.lines().into_iter().map(|(k, _)| k).collect()
    }

    /// The checks that need `[gpio]`: offsets need its chip, and no sensor
    /// shares a coil line.
    pub fn check_against(&self, gpio: &GpioConfig) -> Result<(), SensorError> {
        for (kind, line) in self.lines() {
            let key = kind.name();
            let on_coil = match (line, &gpio.lines) {
                (SensorLine::Offset(offset), _) if gpio.chip.is_none() => {
                    return Err(SensorError::OffsetNeedsChip { key, offset: *offset })
                }
                (SensorLine::Name(n), CoilLines::Names(coil)) => coil.contains(n),
                (SensorLine::Offset(o), CoilLines::Offsets(coil)) => coil.contains(o),
                _ => false,
            };
            if on_coil {
                return Err(SensorError::CoilLine { key, line: line.clone() });
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
        let expecting = "[sensor] seconds or noon: a line name like \"GPIO17\" or a line offset like 17";
        Ok(match text_or_integer(d, expecting, MAX_LINE_NAME + 1)? {
            TextOrInteger::Text(name) => RawLine::Name(name),
            TextOrInteger::Integer(offset) => RawLine::Offset(offset),
        })
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
        let expecting = "[sensor] window: \"learned\" or the steps the seconds sensor is active, 1..=30";
        Ok(match text_or_integer(d, expecting, 33)? {
            TextOrInteger::Text(word) => RawWindow::Word(word),
            TextOrInteger::Integer(steps) => RawWindow::Steps(steps),
        })
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

fn line(key: &'static str, raw: RawLine) -> Result<SensorLine, SensorError> {
    match raw {
        RawLine::Name(n) => {
            if n.is_empty() || n.len() > MAX_LINE_NAME || n.chars().any(char::is_control) {
                let shown: String = n.chars().take(MAX_LINE_NAME + 1).collect();
                Err(SensorError::Line { key, written: format!("{shown:?}") })
            } else {
                Ok(SensorLine::Name(n))
            }
        }
        RawLine::Offset(o) => match u32::try_from(o) {
            Ok(v) if v <= MAX_LINE_OFFSET => Ok(SensorLine::Offset(v)),
            _ => Err(SensorError::Line { key, written: o.to_string() }),
        },
    }
}

fn window(raw: Option<RawWindow>) -> Result<SensorWindow, SensorError> {
    match raw {
        None => Ok(SensorWindow::Learned),
        Some(RawWindow::Word(w)) if w == "learned" => Ok(SensorWindow::Learned),
        Some(RawWindow::Word(w)) => {
            let shown: String = w.chars().take(32).collect();
            Err(SensorError::Window { written: format!("{shown:?}") })
        }
        Some(RawWindow::Steps(n)) => match u32::try_from(n) {
            Ok(v) if (1..=MAX_SECONDS_WIDTH).contains(&v) => Ok(SensorWindow::Steps(v)),
            _ => Err(SensorError::Window { written: n.to_string() }),
        },
    }
}

impl TryFrom<RawSensorConfig> for SensorConfig {
    type Error = SensorError;
    fn try_from(raw: RawSensorConfig) -> Result<Self, SensorError> {
        let seconds = raw.seconds.map(|l| line("seconds", l)).transpose()?;
        let noon = raw.noon.map(|l| line("noon", l)).transpose()?;
        if seconds.is_none() && noon.is_none() {
            return Err(SensorError::NoSensor);
        }
        if let Some(line) = seconds.as_ref().filter(|_| seconds == noon) {
            return Err(SensorError::SameLine { line: line.clone() });
        }
        let window = window(raw.window)?;
        if window != SensorWindow::Learned && seconds.is_none() {
            return Err(SensorError::WindowWithoutSeconds);
        }
        let max_on_us = match raw.tune_max_on_us.map(u32::try_from) {
            None => TunerConfig::default().max_on_us,
            Some(Ok(v)) if (1..=100).contains(&v) => v,
            Some(_) => return Err(SensorError::TuneMaxOnUs { value: raw.tune_max_on_us.unwrap_or_default() }),
        };
        let tuner = TunerConfig { enabled: raw.tune_drive, max_on_us };
        Ok(SensorConfig { seconds, noon, active_low: raw.active_low, home_on_start: raw.home_on_start, window, tuner })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::admin_config::tests::{documented_example, parse, refused};

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
            let e = refused(text);
            assert!(e.starts_with("/etc/piclock/piclockd.toml"), "{e}");
            for n in needles {
                assert!(e.contains(n), "{text:?}: {n:?} not in {e}");
            }
        }
    }
}
