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

fn parse_dial_hours(s: &str) -> Result<u32, String> {
    match s {
        "12" => Ok(12),
        "24" => Ok(24),
        _ => Err(format!("{s:?}: accepted: 12 or 24")),
    }
}

fn parse_start_time(s: &str) -> Result<i64, String> {
    let ts: jiff::Timestamp =
        s.parse().map_err(|e| format!("{s:?}: {e}; accepted: an RFC 3339 time like 2026-03-29T00:55:00Z"))?;
    Ok(ts.as_microsecond())
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number; accepted: 1..=10000"))?;
    if !(1.0..=10_000.0).contains(&v) {
        return Err(format!("{v} is out of range; accepted: 1..=10000"));
    }
    Ok(v)
}

impl Args {
    /// Refuses the simulation-only flags without `--simulate`: a real clock
    /// runs on true time, at speed 1.
    pub fn check(&self) -> Result<(), String> {
        if !self.simulate && self.start_time.is_some() {
            return Err("--start-time needs --simulate: a real clock runs on true time".into());
        }
        if !self.simulate && self.speed != 1.0 {
            return Err(format!("--speed {} needs --simulate: a real clock only runs at speed 1", self.speed));
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
