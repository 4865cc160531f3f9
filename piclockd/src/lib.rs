//! piclockd: the PiClock daemon, as a library so that tests, benchmarks
//! and fuzz targets can drive its adapters directly. `main.rs` is a thin
//! wrapper. Only what they use is public; the rest is the daemon's own.
//!
//! Wiring and the bus:
//! - [`daemon`]: start-up and shutdown; spawns the subsystems below.
//! - [`args`]: the command line; [`admin_config`]: the administrator's file
//!   (`/etc/piclock/piclockd.toml`: wiring); [`saved_settings`]: what users
//!   change over D-Bus (`<state-dir>/settings.json`).
//! - `service`: the `org.piclock.Clock1` D-Bus object; `publish`: the one
//!   place that signals state changes; `authority`: polkit;
//!   `buswatch`: noticing a lost bus; `notify`: systemd's notify socket;
//!   `method_error`: the errors the methods return, and the one `ask` of
//!   the tick thread.
//!
//! The hands and the parts:
//! - `hardware`: the parts opened once at start (coil, sensor lines, RTC,
//!   position store), real; [`sim`]: the same parts simulated (`--simulate`).
//! - `tick`: the real-time tick thread (the only code that pulses the coil).
//! - [`coil`]: the coil driver (GPIO lines with software PWM).
//! - `sensor_lines`: the hand sensors' lines (the seam the simulated and
//!   the real edge events come through) and their windows in the state
//!   directory.
//! - `store`: the position journal's backends (file, FRAM) and the choice between them.
//! - [`devices`]: I2C devices (DS3231 RTC, FRAM).
//! - [`rt`]: real-time priority, locked memory, precise waits.
//! - `files`: the daemon's own files: bounded reads, atomic writes.
//!
//! Time:
//! - `timebase`: true time as the tick thread sees it: a base clock (the
//!   system clock, or virtual time under `--simulate --speed N`) plus a
//!   correction; it maps true time to the monotonic clock for sleeping.
//! - [`timesource`]: the task that sets that correction from the RTC at
//!   start and NTP at each poll, and publishes what the time properties show.
//! - [`ntp`]: the NTP client (one query: a UDP adapter around the core's maths).
//! - [`zone`]: the IANA time zone of the dial (DST included).

pub mod admin_config;
pub mod args;
mod authority;
mod buswatch;
pub mod coil;
pub mod daemon;
pub mod devices;
mod files;
mod hardware;
pub mod logging;
mod method_error;
mod notify;
pub mod ntp;
mod publish;
pub mod rt;
pub mod saved_settings;
mod sensor_lines;
mod service;
mod settings_change;
pub mod sim;
mod store;
mod tick;
mod timebase;
pub mod timesource;
pub mod zone;
