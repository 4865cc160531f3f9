//! The administrator's configuration: `/etc/piclock/piclockd.toml`.
//!
//! Wiring only (which GPIO chip and lines, which I2C bus, the dial, the
//! position store, the RTC); every key has a built-in default, so no file is
//! needed. Settings that users change over D-Bus live in the state directory
//! instead ([`crate::saved_settings`]). An invalid file is refused at start with the line and key named.
//!
//! ```toml
//! [gpio]
//! chip = "/dev/gpiochip0"   # GPIO character device of the coil lines
//! lines = [12, 13]          # line offsets of coil pins A and B (BCM numbers on a Pi)
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
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the daemon looks by default.
pub const DEFAULT_PATH: &str = "/etc/piclock/piclockd.toml";

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
}

/// `[gpio]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpioConfig {
    /// GPIO character device.
    pub chip: PathBuf,
    /// Line offsets of pins A and B.
    pub lines: CoilLines,
}

impl Default for GpioConfig {
    fn default() -> Self {
        GpioConfig { chip: PathBuf::from("/dev/gpiochip0"), lines: CoilLines([12, 13]) }
    }
}

/// Two distinct line offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<u32>")]
pub struct CoilLines(pub [u32; 2]);

impl TryFrom<Vec<u32>> for CoilLines {
    type Error = String;
    fn try_from(v: Vec<u32>) -> Result<Self, String> {
        match v.as_slice() {
            [a, b] if a != b && *a < 1024 && *b < 1024 => Ok(CoilLines([*a, *b])),
            _ => Err(format!("lines {v:?}: accepted: two different line offsets 0..=1023, like [12, 13]")),
        }
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
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        match v {
            12 | 24 => Ok(DialHours(v)),
            _ => Err(format!("hours {v}: accepted: 12 or 24")),
        }
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
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if (16..=86_400).contains(&v) {
            Ok(PollInterval(v))
        } else {
            Err(format!("interval_s {v}: accepted: 16..=86400 seconds"))
        }
    }
}

impl AdminConfig {
    /// Parses the text of a configuration file; the error names the line,
    /// column and key.
    pub fn parse(text: &str, origin: &Path) -> Result<AdminConfig, String> {
        toml::from_str(text).map_err(|e| format!("{}: {}", origin.display(), e.to_string().trim_end()))
    }

    /// Loads `path`; a missing file is fine only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<AdminConfig, String> {
        match crate::files::read_bounded(path, crate::files::MAX_SETTINGS_FILE) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => AdminConfig::parse(&text, path),
                Err(e) => Err(format!("reading {}: not UTF-8 text: {e}", path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(AdminConfig::default()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<AdminConfig, String> {
        AdminConfig::parse(t, Path::new("/etc/piclock/piclockd.toml"))
    }

    #[test]
    fn empty_file_and_the_documented_example_parse() {
        assert_eq!(parse("").unwrap(), AdminConfig::default());
        let doc = include_str!("admin_config.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let c = parse(&example).unwrap();
        assert_eq!(c, AdminConfig::default());
        let c = parse("[gpio]\nchip = \"/dev/gpiochip4\"\nlines = [17, 27]\n[dial]\nhours = 24\n").unwrap();
        assert_eq!(c.gpio.lines, CoilLines([17, 27]));
        assert_eq!(c.dial.hours, DialHours(24));
    }

    #[test]
    fn errors_name_the_line_and_key() {
        for (text, line, needle) in [
            ("[gpio]\nchips = \"/dev/x\"\n", "line 2", "chips"),
            ("[dial]\nhours = 13\n", "line 2", "12 or 24"),
            ("\n\n[gpio]\nlines = [12, 12]\n", "line 4", "two different"),
            ("[store]\nposition = \"flash\"\n", "line 2", "flash"),
            ("[ntp]\ninterval_s = 5\n", "line 2", "16..=86400"),
            ("[dial]\nhours = \"twelve\"\n", "line 2", "hours"),
            ("this is not toml", "line 1", ""),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(line), "{text:?}: {e}");
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.starts_with("/etc/piclock/piclockd.toml"), "{e}");
        }
    }

    #[test]
    fn missing_files() {
        assert_eq!(AdminConfig::load(Path::new("/nonexistent/piclockd.toml"), false).unwrap(), AdminConfig::default());
        assert!(AdminConfig::load(Path::new("/nonexistent/piclockd.toml"), true).unwrap_err().contains("/nonexistent"));
    }
}
