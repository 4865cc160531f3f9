//! Command-line options of `piclockd`.

use crate::timebase::{BootClock, TrueClock, VirtualClock};
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;

/// Default state directory (systemd's StateDirectory=piclock).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/piclock";

/// piclockd — drives an analog wall clock and serves org.piclock.Clock1.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// Drive a simulated movement instead of GPIO (no hardware needed).
    #[arg(long)]
    pub simulate: bool,

    /// Where the position journal and settings live
    /// [default: $STATE_DIRECTORY or /var/lib/piclock].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Serve on the session bus (DBUS_SESSION_BUS_ADDRESS) instead of the
    /// system bus (DBUS_SYSTEM_BUS_ADDRESS or the default socket).
    #[arg(long)]
    pub session: bool,

    /// Run virtual time N times faster than real time (simulation only).
    #[arg(long, value_name = "N", default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Start virtual time at this instant, RFC 3339 (e.g. 2026-03-29T00:55:00Z):
    /// simulation only, to watch a DST change or any other moment.
    #[arg(long, value_name = "TIME", value_parser = parse_start_time)]
    pub start_time: Option<i64>,

    /// Dial size in hours (12 or 24); overrides `[dial] hours` of the config file.
    #[arg(long, value_name = "HOURS", value_parser = parse_dial_hours)]
    pub dial_hours: Option<u32>,

    /// Administrator's configuration file (wiring); optional
    /// [default: /etc/piclock/piclockd.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Drive both coil lines low, release them and exit: for the unit's
    /// ExecStopPost=, so that after any stop, SIGKILL included, no line is
    /// left high (a released output keeps its level on a Raspberry Pi).
    #[arg(long, conflicts_with_all = ["simulate", "session", "speed", "start_time"])]
    pub release_lines: bool,
}

/// A refused command line: a value out of its accepted range, or a
/// simulation-only option without `--simulate`. Clap shows a value's error
/// after its own "invalid value" line.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// `--dial-hours` other than 12 or 24.
    #[error("{given:?}: accepted: 12 or 24")]
    DialHours {
        /// The value as given.
        given: String,
    },
    /// `--start-time` that is not an RFC 3339 time.
    #[error("{given:?}: {source}; accepted: an RFC 3339 time like 2026-03-29T00:55:00Z")]
    StartTime {
        /// The value as given.
        given: String,
        /// Why jiff refused it.
        #[source]
        source: jiff::Error,
    },
    /// `--speed` that is not a number.
    #[error("{given:?} is not a number; accepted: 1..=10000")]
    SpeedNotANumber {
        /// The value as given.
        given: String,
    },
    /// `--speed` outside 1..=10000.
    #[error("{speed} is out of range; accepted: 1..=10000")]
    SpeedOutOfRange {
        /// The speed given.
        speed: f64,
    },
    /// `--start-time` without `--simulate`.
    #[error("--start-time needs --simulate: a real clock runs on true time")]
    StartTimeNeedsSimulate,
    /// `--speed` other than 1 without `--simulate`.
    #[error("--speed {speed} needs --simulate: a real clock only runs at speed 1")]
    SpeedNeedsSimulate {
        /// The speed given.
        speed: f64,
    },
}

fn parse_dial_hours(s: &str) -> Result<u32, ArgsError> {
    match s {
        "12" => Ok(12),
        "24" => Ok(24),
        _ => Err(ArgsError::DialHours { given: s.to_owned() }),
    }
}

fn parse_start_time(s: &str) -> Result<i64, ArgsError> {
    let ts: jiff::Timestamp = s.parse().map_err(|source| ArgsError::StartTime { given: s.to_owned(), source })?;
    Ok(ts.as_microsecond())
}

fn parse_speed(s: &str) -> Result<f64, ArgsError> {
    let speed: f64 = s.parse().map_err(|_| ArgsError::SpeedNotANumber { given: s.to_owned() })?;
    if !(1.0..=10_000.0).contains(&speed) {
        return Err(ArgsError::SpeedOutOfRange { speed });
    }
    Ok(speed)
}

impl Args {
    /// Refuses the simulation-only flags without `--simulate`: a real clock
    /// runs on true time, at speed 1.
    pub fn check(&self) -> Result<(), ArgsError> {
        if !self.simulate && self.start_time.is_some() {
            return Err(ArgsError::StartTimeNeedsSimulate);
        }
        if !self.simulate && self.speed != 1.0 {
            return Err(ArgsError::SpeedNeedsSimulate { speed: self.speed });
        }
        Ok(())
    }

    /// The daemon's true time: `CLOCK_BOOTTIME` plus a correction, as on
    /// real hardware (also when simulating at `--speed 1`); virtual time when
    /// simulating at another speed or from `--start-time`.
    pub fn true_clock(&self) -> Arc<dyn TrueClock> {
        match (self.simulate, self.start_time) {
            (true, Some(start)) => Arc::new(VirtualClock::starting_at(self.speed, start)),
            (true, None) if self.speed != 1.0 => Arc::new(VirtualClock::new(self.speed)),
            _ => Arc::new(BootClock::new()),
        }
    }

    /// The state directory to use.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        // systemd passes a colon-separated list; the first is ours.
        match std::env::var("STATE_DIRECTORY") {
            Ok(v) if !v.is_empty() => PathBuf::from(v.split(':').next().unwrap_or(DEFAULT_STATE_DIR)),
            _ => PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages clap shows after "invalid value", and those of [`Args::check`].
    #[test]
    fn errors_say_what_is_accepted() {
        let refused = |args: &[&str]| {
            let e = Args::try_parse_from([&["piclockd"], args].concat()).unwrap_err().to_string();
            e.lines().next().unwrap_or_default().to_owned()
        };
        assert!(refused(&["--dial-hours", "13"]).ends_with(": \"13\": accepted: 12 or 24"));
        assert!(refused(&["--speed", "fast"]).ends_with(": \"fast\" is not a number; accepted: 1..=10000"));
        assert!(refused(&["--speed", "0.5"]).ends_with(": 0.5 is out of range; accepted: 1..=10000"));
        let e = refused(&["--start-time", "noon"]);
        assert!(e.contains(": \"noon\": ") && e.ends_with("; accepted: an RFC 3339 time like 2026-03-29T00:55:00Z"));
        let check = |args: &[&str]| Args::parse_from([&["piclockd"], args].concat()).check().map_err(|e| e.to_string());
        assert_eq!(check(&["--simulate", "--speed", "60"]), Ok(()));
        assert_eq!(
            check(&["--start-time", "2026-03-29T00:55:00Z"]),
            Err("--start-time needs --simulate: a real clock runs on true time".to_owned())
        );
        assert_eq!(
            check(&["--speed", "60"]),
            Err("--speed 60 needs --simulate: a real clock only runs at speed 1".to_owned())
        );
    }
}
