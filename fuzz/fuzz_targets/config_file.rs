//! The administrator's configuration file (`/etc/piclock/piclockd.toml`):
//! `piclockd::admin_config::AdminConfig::parse` on any text.
//!
//! Asserts: a file that parses is within the documented ranges (two
//! different GPIO line names of 1..=31 bytes without control characters, or
//! two different line offsets 0..=1023 and then a chip, a 12- or 24-hour
//! dial, an NTP interval of 16..=86400 s, UTF-8 device paths; a `[sensor]`
//! names a sensor line, its lines differ from each other and the coil's,
//! offsets have a chip, a window of 1..=30), and writing
//! it back as TOML parses to
//! the same configuration (nothing is half-read); a refused file gets a
//! message that starts with the file's path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclockd::admin_config::sensor::{SensorLine, SensorWindow};
use piclockd::admin_config::{AdminConfig, CoilLines, PositionStore};
use std::path::Path;

const ORIGIN: &str = "/etc/piclock/piclockd.toml";

/// A TOML string literal.
fn toml_str(p: &Path) -> String {
    let s = p.to_str().expect("paths read from TOML are UTF-8");
    toml::Value::String(s.to_owned()).to_string()
}

/// `[gpio]` written out: `chip` when set, `lines` always.
fn render_gpio(c: &AdminConfig) -> String {
    let chip = c.gpio.chip.as_deref().map(|p| format!("chip = {}\n", toml_str(p))).unwrap_or_default();
    let lines = match &c.gpio.lines {
        CoilLines::Names([a, b]) => {
            format!("[{}, {}]", toml::Value::String(a.clone()), toml::Value::String(b.clone()))
        }
        CoilLines::Offsets([a, b]) => format!("[{a}, {b}]"),
    };
    format!("[gpio]\n{chip}lines = {lines}\n")
}

/// `[sensor]` written out with every key, when there is one.
fn render_sensor(c: &AdminConfig) -> String {
    let Some(s) = &c.sensor else { return String::new() };
    let line = |key: &str, l: &Option<SensorLine>| match l {
        Some(SensorLine::Name(n)) => format!("{key} = {}\n", toml::Value::String(n.clone())),
        Some(SensorLine::Offset(o)) => format!("{key} = {o}\n"),
        None => String::new(),
    };
    let window = match s.window {
        SensorWindow::Learned => "\"learned\"".to_owned(),
        SensorWindow::Steps(n) => n.to_string(),
    };
    format!(
        "[sensor]\n{}{}active_low = {}\nhome_on_start = {}\nwindow = {window}\ntune_drive = {}\ntune_max_on_us = {}\n",
        line("seconds", &s.seconds),
        line("noon", &s.noon),
        s.active_low,
        s.home_on_start,
        s.tuner.enabled,
        s.tuner.max_on_us
    )
}

/// The configuration written out with every key.
fn render(c: &AdminConfig) -> String {
    let position = match c.store.position {
        PositionStore::Auto => "auto",
        PositionStore::File => "file",
        PositionStore::Fram => "fram",
    };
    format!(
        "{}[dial]\nhours = {}\n[store]\nposition = \"{position}\"\n\
         [i2c]\nbus = {}\nrtc = {}\n[ntp]\ninterval_s = {}\n{}",
        render_gpio(c),
        c.dial.hours.0,
        toml_str(&c.i2c.bus),
        c.i2c.rtc,
        c.ntp.interval_s.0,
        render_sensor(c),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match AdminConfig::parse(text, Path::new(ORIGIN)) {
        Ok(c) => {
            match &c.gpio.lines {
                CoilLines::Names([a, b]) => {
                    for n in [a, b] {
                        assert!((1..=31).contains(&n.len()) && !n.chars().any(char::is_control), "name {n:?}");
                    }
                    assert_ne!(a, b);
                }
                CoilLines::Offsets([a, b]) => {
                    assert!(a != b && *a < 1024 && *b < 1024, "lines {a}, {b}");
                    assert!(c.gpio.chip.is_some(), "offsets without a chip");
                }
            }
            assert!(c.dial.hours.0 == 12 || c.dial.hours.0 == 24, "hours {}", c.dial.hours.0);
            assert!((16..=86_400).contains(&c.ntp.interval_s.0), "interval_s {}", c.ntp.interval_s.0);
            if let Some(s) = &c.sensor {
                let lines = s.lines();
                assert!(!lines.is_empty(), "a [sensor] without a sensor");
                assert!(lines.len() < 2 || s.seconds != s.noon, "one line for both sensors");
                for (_, l) in lines {
                    match l {
                        SensorLine::Name(n) => {
                            assert!((1..=31).contains(&n.len()) && !n.chars().any(char::is_control), "{n:?}");
                            assert!(!matches!(&c.gpio.lines, CoilLines::Names(coil) if coil.contains(n)));
                        }
                        SensorLine::Offset(o) => {
                            assert!(*o < 1024 && c.gpio.chip.is_some(), "sensor offset {o}");
                            assert!(!matches!(&c.gpio.lines, CoilLines::Offsets(coil) if coil.contains(o)));
                        }
                    }
                }
                if let SensorWindow::Steps(n) = s.window {
                    assert!((1..=30).contains(&n) && s.seconds.is_some(), "window {n}");
                }
            }
            let again = render(&c);
            assert_eq!(AdminConfig::parse(&again, Path::new(ORIGIN)).map_err(|e| e.to_string()), Ok(c), "{again}");
        }
        Err(e) => {
            let e = e.to_string();
            assert!(e.starts_with(&format!("{ORIGIN}: ")), "{e}");
            assert!(e.len() > ORIGIN.len() + 2, "{e}");
        }
    }
});
