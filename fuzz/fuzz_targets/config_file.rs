//! The administrator's configuration file (`/etc/piclock/piclockd.toml`):
//! `piclockd::admin_config::AdminConfig::parse` on any text.
//!
//! Asserts: a file that parses is within the documented ranges (two
//! different GPIO lines 0..=1023, a 12- or 24-hour dial, an NTP interval of
//! 16..=86400 s, UTF-8 device paths), and writing it back as TOML parses to
//! the same configuration (nothing is half-read); a refused file gets a
//! message that starts with the file's path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclockd::admin_config::{AdminConfig, PositionStore};
use std::path::Path;

const ORIGIN: &str = "/etc/piclock/piclockd.toml";

/// A TOML string literal.
fn toml_str(p: &Path) -> String {
    let s = p.to_str().expect("paths read from TOML are UTF-8");
    toml::Value::String(s.to_owned()).to_string()
}

/// The configuration written out with every key.
fn render(c: &AdminConfig) -> String {
    let position = match c.store.position {
        PositionStore::Auto => "auto",
        PositionStore::File => "file",
        PositionStore::Fram => "fram",
    };
    format!(
        "[gpio]\nchip = {}\nlines = [{}, {}]\n[dial]\nhours = {}\n[store]\nposition = \"{position}\"\n\
         [i2c]\nbus = {}\nrtc = {}\n[ntp]\ninterval_s = {}\n",
        toml_str(&c.gpio.chip),
        c.gpio.lines.0[0],
        c.gpio.lines.0[1],
        c.dial.hours.0,
        toml_str(&c.i2c.bus),
        c.i2c.rtc,
        c.ntp.interval_s.0,
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match AdminConfig::parse(text, Path::new(ORIGIN)) {
        Ok(c) => {
            let [a, b] = c.gpio.lines.0;
            assert!(a != b && a < 1024 && b < 1024, "lines {a}, {b}");
            assert!(c.dial.hours.0 == 12 || c.dial.hours.0 == 24, "hours {}", c.dial.hours.0);
            assert!((16..=86_400).contains(&c.ntp.interval_s.0), "interval_s {}", c.ntp.interval_s.0);
            let again = render(&c);
            assert_eq!(AdminConfig::parse(&again, Path::new(ORIGIN)), Ok(c), "{again}");
        }
        Err(e) => {
            assert!(e.starts_with(&format!("{ORIGIN}: ")), "{e}");
            assert!(e.len() > ORIGIN.len() + 2, "{e}");
        }
    }
});
