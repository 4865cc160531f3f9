//! The administrator's configuration: `/etc/piclock/piclockd.toml`.
//!
//! Wiring only (which GPIO lines, which I2C bus, the dial, the
//! position store, the RTC); every key has a built-in default, so no file is
//! needed. Settings that users change over D-Bus live in the state directory
//! instead ([`crate::saved_settings`]). An invalid file is refused at start with the line and key named.
//!
//! ```toml
//! [gpio]
//! lines = ["GPIO12", "GPIO13"]  # coil pins A and B by line name, found on whichever /dev/gpiochip* has them
//! # chip = "/dev/gpiochip0"     # only this chip; with a chip, lines may be offsets: [12, 13]
//!
//! [dial]
//! hours = 12                # 12 or 24
//!
//! [store]
//! position = "file"         # "file" (state directory), "fram" (MB85RC256V at 0x50), "auto" (FRAM if present)
//!
//! [i2c]
//! bus = "/dev/i2c-1"        # I2C bus of the DS3231 and the FRAM
//! rtc = true                # use a DS3231 if one answers
//!
//! [ntp]
//! interval_s = 300          # seconds between NTP queries (16..=86400)
//!
//! # [sensor]                # optional hand sensors: see the module `sensor`
//! # seconds = "GPIO17"
//! # noon = "GPIO27"
//!
//! # [movement]              # optional: an impulse line instead of a quartz movement (module `movement`)
//! # kind = "impulse"
//! # step_s = 60
//! ```
//!
//! `[gpio]`: by default the coil lines are found by name (`GPIO12` and
//! `GPIO13`, the device tree names of the header lines on every Pi) across
//! all `/dev/gpiochip*` (on a Pi 5 the RP1 chip is not `gpiochip0` on every
//! kernel). A name must be on exactly one chip, and both on the same chip.
//! The other forms:
//!
//! - `chip = "/dev/gpiochip0"` with names: search only that chip;
//! - `chip = "/dev/gpiochip0"` with `lines = [12, 13]`: line offsets on that
//!   chip (BCM numbers on a Pi); `chip` alone means offsets 12 and 13, as
//!   before names existed. Offsets without `chip` are refused.
//!
//! Names are 1 to 31 bytes (the kernel's limit), offsets 0..=1023; pin A and
//! pin B must differ.

pub mod movement;
pub mod sensor;

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the daemon looks by default.
pub const DEFAULT_PATH: &str = "/etc/piclock/piclockd.toml";

/// Why the administrator's file, or one of its values, was refused. The
/// errors of a file name it; those of a value name its key and say what is
/// accepted (serde puts them after the file's line and column, in
/// [`ConfigError::Parse`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("reading {}: not UTF-8 text: {source}", .path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Where the text stops being UTF-8.
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// Not TOML, an unknown key, or a value refused: the message names the
    /// line, the column and the key.
    #[error("{}: {}", .origin.display(), .source.to_string().trim_end())]
    Parse {
        /// The file.
        origin: PathBuf,
        /// TOML's error (with a value's own error in its message).
        #[source]
        source: toml::de::Error,
    },
    /// `[sensor]` does not fit `[gpio]`.
    #[error("{}: {source}", .origin.display())]
    Sensor {
        /// The file.
        origin: PathBuf,
        /// What does not fit.
        #[source]
        source: sensor::SensorError,
    },
    /// `[sensor]` with an impulse line.
    #[error(
        "{}: [sensor] is for quartz movements; accepted: [movement] kind = \"quartz\" with [sensor], \
         or no [sensor] on an impulse line",
        .origin.display()
    )]
    SensorOnImpulseLine {
        /// The file.
        origin: PathBuf,
    },
    /// `[gpio] lines` refused.
    #[error("[gpio] lines = {written}: {fault}; {LINES_ACCEPTED}")]
    Lines {
        /// The lines as written (the first three).
        written: String,
        /// What is wrong with them.
        #[source]
        fault: LinesFault,
    },
    /// `[gpio] lines` with more than three elements.
    #[error("[gpio] lines: {count} lines, not two; {LINES_ACCEPTED}")]
    LineCount {
        /// How many.
        count: usize,
    },
    /// `[gpio] chip` that is no absolute path of at most [`MAX_CHIP_PATH`] bytes.
    #[error(
        "[gpio] chip = {written:?}: accepted: the absolute path of a GPIO character device \
         (at most {MAX_CHIP_PATH} bytes), like \"/dev/gpiochip0\""
    )]
    Chip {
        /// The value as written (at most [`MAX_CHIP_PATH`] characters of it).
        written: String,
    },
    /// `[gpio] lines` as offsets without `[gpio] chip`.
    #[error(
        "[gpio] lines = [{}, {}] are line offsets, which need [gpio] chip = \"/dev/gpiochipN\"; \
         or give line names like [\"GPIO12\", \"GPIO13\"] to search every chip",
        .offsets[0],
        .offsets[1]
    )]
    OffsetsNeedChip {
        /// Pins A and B.
        offsets: [u32; 2],
    },
    /// A number out of its key's range (`[dial] hours`, `[ntp] interval_s`).
    #[error("{key} {value}: accepted: {accepted}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value.
        value: u32,
        /// The values accepted.
        accepted: &'static str,
    },
}

/// What is wrong with `[gpio] lines`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinesFault {
    /// An empty name.
    #[error("a name is empty")]
    EmptyName,
    /// A name longer than [`MAX_LINE_NAME`] bytes.
    #[error("{0:?} is longer than {MAX_LINE_NAME} bytes")]
    LongName(String),
    /// A name with a control character.
    #[error("{0:?} has a control character")]
    ControlCharacter(String),
    /// Pin A and pin B are one line.
    #[error("pin A and pin B are the same line")]
    SameLine,
    /// An offset outside 0..=[`MAX_LINE_OFFSET`].
    #[error("an offset is out of range")]
    OffsetOutOfRange,
    /// A name and an offset.
    #[error("names and offsets mixed")]
    Mixed,
    /// One line, or three.
    #[error("not two lines")]
    NotTwo,
}

/// `value` of `key` if `ok`, else the error that says what is `accepted`.
fn accepted(key: &'static str, value: u32, ok: bool, accepted: &'static str) -> Result<u32, ConfigError> {
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Value { key, value, accepted })
    }
}

/// A value written as a string or as an integer (a line name or offset, a
/// window word or width), before its checks.
enum TextOrInteger {
    /// A string (cut to the length the caller asked for).
    Text(String),
    /// An integer (an unsigned one above `i64::MAX` as `i64::MAX`).
    Integer(i64),
}

/// Deserializes a [`TextOrInteger`]: `expecting` is the error for any other
/// type; a string is cut to `max_chars` characters (the file is bounded,
/// this keeps the value small).
fn text_or_integer<'de, D: serde::Deserializer<'de>>(
    d: D,
    expecting: &'static str,
    max_chars: usize,
) -> Result<TextOrInteger, D::Error> {
    struct V {
        expecting: &'static str,
        max_chars: usize,
    }
    impl serde::de::Visitor<'_> for V {
        type Value = TextOrInteger;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TextOrInteger, E> {
            Ok(TextOrInteger::Integer(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TextOrInteger, E> {
            Ok(TextOrInteger::Integer(i64::try_from(v).unwrap_or(i64::MAX)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TextOrInteger, E> {
            Ok(TextOrInteger::Text(v.chars().take(self.max_chars).collect()))
        }
    }
    d.deserialize_any(V { expecting, max_chars })
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Coil wiring.
    pub gpio: GpioConfig,
    /// The dial.
    pub dial: DialConfig,
    /// Where the hand position is journalled.
    pub store: StoreConfig,
    /// The I2C bus and the RTC.
    pub i2c: I2cConfig,
    /// NTP polling.
    pub ntp: NtpConfig,
    /// The hand sensors (`None`: no `[sensor]` section, no sensor).
    pub sensor: Option<sensor::SensorConfig>,
    /// What the coil lines drive (no section: a quartz movement).
    pub movement: movement::MovementConfig,
}

/// `[gpio]`: where the coil lines are.
///
/// By default the lines are found by name on whichever chip carries them.
/// Offsets need a chip. `chip` alone keeps its old meaning: offsets 12 and 13
/// of that chip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawGpioConfig")]
pub struct GpioConfig {
    /// The GPIO character device; `None`: search every `/dev/gpiochip*`
    /// (only with [`CoilLines::Names`]).
    pub chip: Option<PathBuf>,
    /// Pins A and B.
    pub lines: CoilLines,
}

/// Pins A and B of the coil: two different line names, or two different
/// line offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoilLines {
    /// Line names, as the kernel reports them (on a Pi, the device tree's
    /// `gpio-line-names`: `GPIO12` is BCM 12 on every model).
    Names([String; 2]),
    /// Line offsets on the configured chip.
    Offsets([u32; 2]),
}

impl Default for CoilLines {
    /// `GPIO12` and `GPIO13`: the header lines of the coil on every Pi.
    fn default() -> Self {
        CoilLines::Names([DEFAULT_LINE_NAMES[0].to_owned(), DEFAULT_LINE_NAMES[1].to_owned()])
    }
}

/// The default line names of pins A and B.
pub const DEFAULT_LINE_NAMES: [&str; 2] = ["GPIO12", "GPIO13"];

/// The offsets that `chip` without `lines` means (the default before names).
pub const DEFAULT_LINE_OFFSETS: [u32; 2] = [12, 13];

/// Longest line name: the kernel keeps 31 bytes (32 with the NUL).
pub const MAX_LINE_NAME: usize = 31;

/// Highest line offset accepted.
pub const MAX_LINE_OFFSET: u32 = 1023;

/// Longest chip path accepted, in bytes.
pub const MAX_CHIP_PATH: usize = 255;

const LINES_ACCEPTED: &str = "accepted: two different line names of 1 to 31 bytes, like [\"GPIO12\", \"GPIO13\"] \
     (searched on every GPIO chip, or only on chip if set), or two different line offsets 0..=1023 \
     of chip, like [12, 13]";

/// One element of `lines`: a name or an offset, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineId {
    /// A string.
    Name(String),
    /// An integer (not range-checked yet).
    Offset(i64),
}

impl<'de> Deserialize<'de> for LineId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = "[gpio] lines: a line name like \"GPIO12\" or a line offset like 12";
        Ok(match text_or_integer(d, expecting, MAX_LINE_NAME + 1)? {
            TextOrInteger::Text(name) => LineId::Name(name),
            TextOrInteger::Integer(offset) => LineId::Offset(offset),
        })
    }
}

impl<'de> Deserialize<'de> for CoilLines {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CoilLines;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[gpio] lines: two line names like [\"GPIO12\", \"GPIO13\"] or two offsets like [12, 13]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<CoilLines, A::Error> {
                // Keeps the first three (enough to refuse); counts the rest.
                let (mut ids, mut count) = (Vec::with_capacity(3), 0_usize);
                while let Some(id) = seq.next_element::<LineId>()? {
                    count += 1;
                    if ids.len() < 3 {
                        ids.push(id);
                    }
                }
                if count > 3 {
                    return Err(serde::de::Error::custom(ConfigError::LineCount { count }));
                }
                CoilLines::try_from(ids).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_seq(V)
    }
}

impl TryFrom<Vec<LineId>> for CoilLines {
    type Error = ConfigError;
    fn try_from(v: Vec<LineId>) -> Result<Self, ConfigError> {
        let bad = |fault| {
            let items: Vec<String> = v
                .iter()
                .map(|id| match id {
                    LineId::Name(n) => format!("{n:?}"),
                    LineId::Offset(o) => o.to_string(),
                })
                .collect();
            Err(ConfigError::Lines { written: format!("[{}]", items.join(", ")), fault })
        };
        match v.as_slice() {
            [LineId::Name(a), LineId::Name(b)] => {
                for n in [a, b] {
                    if n.is_empty() {
                        return bad(LinesFault::EmptyName);
                    }
                    if n.len() > MAX_LINE_NAME {
                        return bad(LinesFault::LongName(n.clone()));
                    }
                    if n.chars().any(char::is_control) {
                        return bad(LinesFault::ControlCharacter(n.clone()));
                    }
                }
                if a == b {
                    return bad(LinesFault::SameLine);
                }
                Ok(CoilLines::Names([a.clone(), b.clone()]))
            }
            [LineId::Offset(a), LineId::Offset(b)] => {
                let range = 0..=i64::from(MAX_LINE_OFFSET);
                match (u32::try_from(*a), u32::try_from(*b)) {
                    (Ok(x), Ok(y)) if range.contains(a) && range.contains(b) && x != y => {
                        Ok(CoilLines::Offsets([x, y]))
                    }
                    _ if a == b => bad(LinesFault::SameLine),
                    _ => bad(LinesFault::OffsetOutOfRange),
                }
            }
            [_, _] => bad(LinesFault::Mixed),
            _ => bad(LinesFault::NotTwo),
        }
    }
}

/// `[gpio]` as written, before the checks that involve both keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpioConfig {
    #[serde(default)]
    chip: Option<ChipPath>,
    #[serde(default)]
    lines: Option<CoilLines>,
}

/// A checked `[gpio] chip`.
struct ChipPath(PathBuf);

impl<'de> Deserialize<'de> for ChipPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ChipPath;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[gpio] chip: the path of a GPIO character device, like \"/dev/gpiochip0\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ChipPath, E> {
                ChipPath::try_from(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl TryFrom<&str> for ChipPath {
    type Error = ConfigError;
    fn try_from(s: &str) -> Result<Self, ConfigError> {
        if s.starts_with('/') && s.len() <= MAX_CHIP_PATH && !s.chars().any(char::is_control) {
            Ok(ChipPath(PathBuf::from(s)))
        } else {
            Err(ConfigError::Chip { written: s.chars().take(MAX_CHIP_PATH).collect() })
        }
    }
}

impl TryFrom<RawGpioConfig> for GpioConfig {
    type Error = ConfigError;
    fn try_from(raw: RawGpioConfig) -> Result<Self, ConfigError> {
        let chip = raw.chip.map(|c| c.0);
        let lines = match (&chip, raw.lines) {
            (None, Some(CoilLines::Offsets(offsets))) => return Err(ConfigError::OffsetsNeedChip { offsets }),
            (Some(_), None) => CoilLines::Offsets(DEFAULT_LINE_OFFSETS),
            (None, None) => CoilLines::default(),
            (_, Some(lines)) => lines,
        };
        Ok(GpioConfig { chip, lines })
    }
}

/// `[dial]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialConfig {
    /// 12 or 24.
    pub hours: DialHours,
}

impl Default for DialConfig {
    fn default() -> Self {
        DialConfig { hours: DialHours(12) }
    }
}

/// 12 or 24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct DialHours(pub u32);

impl TryFrom<u32> for DialHours {
    type Error = ConfigError;
    fn try_from(v: u32) -> Result<Self, ConfigError> {
        accepted("hours", v, matches!(v, 12 | 24), "12 or 24").map(DialHours)
    }
}

/// `[store]`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Which backend journals the position.
    pub position: PositionStore,
}

/// Position journal backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionStore {
    /// The FRAM if one answers, else the file.
    Auto,
    /// `<state-dir>/position`.
    #[default]
    File,
    /// The I2C FRAM (MB85RC256V at 0x50).
    Fram,
}

/// `[i2c]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct I2cConfig {
    /// I2C bus device.
    pub bus: PathBuf,
    /// Whether to use a DS3231.
    pub rtc: bool,
}

impl Default for I2cConfig {
    fn default() -> Self {
        I2cConfig { bus: PathBuf::from("/dev/i2c-1"), rtc: true }
    }
}

/// `[ntp]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NtpConfig {
    /// Seconds between queries.
    pub interval_s: PollInterval,
}

impl Default for NtpConfig {
    fn default() -> Self {
        NtpConfig { interval_s: PollInterval(300) }
    }
}

/// 16..=86400 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct PollInterval(pub u32);

impl TryFrom<u32> for PollInterval {
    type Error = ConfigError;
    fn try_from(v: u32) -> Result<Self, ConfigError> {
        accepted("interval_s", v, (16..=86_400).contains(&v), "16..=86400 seconds").map(PollInterval)
    }
}

impl AdminConfig {
    /// Parses the text of a configuration file; the error names the line,
    /// column and key.
    pub fn parse(text: &str, origin: &Path) -> Result<AdminConfig, ConfigError> {
        let origin = || origin.to_path_buf();
        let config: AdminConfig =
            toml::from_str(text).map_err(|source| ConfigError::Parse { origin: origin(), source })?;
        if let Some(s) = &config.sensor {
            s.check_against(&config.gpio).map_err(|source| ConfigError::Sensor { origin: origin(), source })?;
            if config.movement.drive != piclock_core::impulse_line::Drive::Quartz {
                return Err(ConfigError::SensorOnImpulseLine { origin: origin() });
            }
        }
        Ok(config)
    }

    /// Loads `path`; a missing file is fine only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<AdminConfig, ConfigError> {
        match crate::files::read_bounded(path, crate::files::MAX_SETTINGS_FILE) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => AdminConfig::parse(&text, path),
                Err(source) => Err(ConfigError::NotUtf8 { path: path.to_path_buf(), source }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(AdminConfig::default()),
            Err(source) => Err(ConfigError::Read { path: path.to_path_buf(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `t` as the default admin file (also for the sections' tests).
    pub(super) fn parse(t: &str) -> Result<AdminConfig, ConfigError> {
        AdminConfig::parse(t, Path::new("/etc/piclock/piclockd.toml"))
    }

    /// The message `t` is refused with.
    pub(super) fn refused(t: &str) -> String {
        parse(t).unwrap_err().to_string()
    }

    /// The ```toml example of a module's documentation (`source`: its text).
    pub(super) fn documented_example(source: &str) -> String {
        source
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect()
    }

    #[test]
    fn empty_file_and_the_documented_example_parse() {
        assert_eq!(parse("").unwrap(), AdminConfig::default());
        let example = documented_example(include_str!("admin_config.rs"));
        let c = parse(&example).unwrap();
        assert_eq!(c, AdminConfig::default());
        let c = parse("[gpio]\nchip = \"/dev/gpiochip4\"\nlines = [17, 27]\n[dial]\nhours = 24\n").unwrap();
        assert_eq!(c.gpio.lines, CoilLines::Offsets([17, 27]));
        assert_eq!(c.dial.hours, DialHours(24));
    }

    fn names(a: &str, b: &str) -> CoilLines {
        CoilLines::Names([a.to_owned(), b.to_owned()])
    }

    #[test]
    fn gpio_forms() {
        let gpio = |t: &str| parse(t).unwrap().gpio;
        let by_name = GpioConfig { chip: None, lines: names("GPIO12", "GPIO13") };
        // No section, an empty one, and the default names written out: search every chip.
        assert_eq!(gpio(""), by_name);
        assert_eq!(gpio("[gpio]\n"), by_name);
        assert_eq!(gpio("[gpio]\nlines = [\"GPIO12\", \"GPIO13\"]\n"), by_name);
        assert_eq!(gpio("[gpio]\nlines = [\"PIN_B\", \"PIN_A\"]\n").lines, names("PIN_B", "PIN_A"));
        // Names on one chip.
        let c = gpio("[gpio]\nchip = \"/dev/gpiochip4\"\nlines = [\"GPIO12\", \"GPIO13\"]\n");
        assert_eq!(c.chip, Some(PathBuf::from("/dev/gpiochip4")));
        assert_eq!(c.lines, names("GPIO12", "GPIO13"));
        // The file of earlier versions: offsets on a chip, and the chip alone (offsets 12 and 13).
        let c = gpio("[gpio]\nchip = \"/dev/gpiochip0\"\nlines = [12, 13]\n");
        assert_eq!((c.chip.as_deref(), &c.lines), (Some(Path::new("/dev/gpiochip0")), &CoilLines::Offsets([12, 13])));
        let c = gpio("[gpio]\nchip = \"/dev/gpiochip0\"\n");
        assert_eq!(c.lines, CoilLines::Offsets([12, 13]));
        assert_eq!(gpio("[gpio]\nchip = \"/dev/gpiochip0\"\nlines = [0, 1023]\n").lines, CoilLines::Offsets([0, 1023]));
        let longest = "N".repeat(MAX_LINE_NAME);
        assert_eq!(gpio(&format!("[gpio]\nlines = [\"{longest}\", \"x\"]\n")).lines, names(&longest, "x"));
    }

    #[test]
    fn gpio_errors_name_the_key_the_line_and_the_accepted_forms() {
        let long = "N".repeat(MAX_LINE_NAME + 1);
        let long_line = format!("[gpio]\nlines = [\"{long}\", \"x\"]\n");
        let long_chip = format!("[gpio]\nchip = \"/{}\"\n", "d".repeat(MAX_CHIP_PATH));
        for (text, line, needles) in [
            ("[gpio]\nlines = [12, 13]\n", "line 1", &["[gpio] lines = [12, 13]", "need [gpio] chip", "names"][..]),
            ("#\n[gpio]\nlines = [12, 12]\nchip = \"/dev/gpiochip0\"\n", "line 3", &["same line", "accepted"]),
            ("[gpio]\nlines = [\"GPIO12\", \"GPIO12\"]\n", "line 2", &["[gpio] lines", "same line"]),
            ("[gpio]\nlines = [\"GPIO12\", 13]\n", "line 2", &["[gpio] lines", "mixed", "like [12, 13]"]),
            ("[gpio]\nlines = [\"GPIO12\"]\n", "line 2", &["[gpio] lines = [\"GPIO12\"]", "not two", "accepted"]),
            ("[gpio]\nlines = [\"\", \"GPIO13\"]\n", "line 2", &["[gpio] lines", "a name is empty", "1 to 31 bytes"]),
            (&long_line, "line 2", &["[gpio] lines", "is longer than 31 bytes"]),
            ("[gpio]\nlines = [\"GPIO\\n12\", \"GPIO13\"]\n", "line 2", &["\"GPIO\\n12\" has a control character"]),
            ("[gpio]\nchip = \"/dev/gpiochip0\"\nlines = [12, 1024]\n", "line 3", &["out of range", "0..=1023"]),
            ("[gpio]\nchip = \"/dev/gpiochip0\"\nlines = [-1, 13]\n", "line 3", &["[gpio] lines = [-1, 13]"]),
            ("[gpio]\nlines = [true, 13]\n", "line 2", &["[gpio] lines: a line name like \"GPIO12\" or a line offset"]),
            ("[gpio]\nlines = \"GPIO12\"\n", "line 2", &["expected [gpio] lines: two line names like"]),
            ("[gpio]\nlines = [1, 2, 3, 4, 5]\n", "line 2", &["[gpio] lines: 5 lines, not two", "accepted"]),
            ("[gpio]\nlines = [1, 2, 3]\n", "line 2", &["[gpio] lines = [1, 2, 3]: not two lines"]),
            ("[gpio]\nchip = \"gpiochip0\"\n", "line 2", &["[gpio] chip = \"gpiochip0\"", "absolute path"]),
            ("[gpio]\nchip = \"\"\n", "line 2", &["[gpio] chip", "like \"/dev/gpiochip0\""]),
            (&long_chip, "line 2", &["[gpio] chip", "at most 255 bytes"]),
            ("[gpio]\nchip = 0\n", "line 2", &["expected [gpio] chip: the path of a GPIO character device"]),
            ("[gpio]\nline = [12, 13]\n", "line 2", &["unknown field `line`", "chip", "lines"]),
        ] {
            let e = refused(text);
            assert!(e.contains(line), "{text:?}: {e}");
            for n in needles {
                assert!(e.contains(n), "{text:?}: {n:?} not in {e}");
            }
        }
    }

    #[test]
    fn errors_name_the_line_and_key() {
        for (text, line, needle) in [
            ("[gpio]\nchips = \"/dev/x\"\n", "line 2", "chips"),
            ("[dial]\nhours = 13\n", "line 2", "12 or 24"),
            ("\n\n[gpio]\nchip = \"/dev/gpiochip0\"\nlines = [12, 12]\n", "line 5", "two different"),
            ("[store]\nposition = \"flash\"\n", "line 2", "flash"),
            ("[ntp]\ninterval_s = 5\n", "line 2", "16..=86400"),
            ("[dial]\nhours = \"twelve\"\n", "line 2", "hours"),
            ("this is not toml", "line 1", ""),
        ] {
            let e = refused(text);
            assert!(e.contains(line), "{text:?}: {e}");
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.starts_with("/etc/piclock/piclockd.toml"), "{e}");
        }
    }

    #[test]
    fn missing_files() {
        assert_eq!(AdminConfig::load(Path::new("/nonexistent/piclockd.toml"), false).unwrap(), AdminConfig::default());
        let e = AdminConfig::load(Path::new("/nonexistent/piclockd.toml"), true).unwrap_err().to_string();
        assert!(e.starts_with("reading /nonexistent/piclockd.toml: "), "{e}");
    }
}
