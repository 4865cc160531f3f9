//! piclockd: the PiClock daemon, as a library so that tests and benchmarks
//! can drive its adapters directly. `main.rs` is a thin wrapper.
//!
//! Wiring and the bus:
//! - [`daemon`]: start-up and shutdown; spawns the subsystems below.
//! - [`args`]: the command line; [`admin_config`]: the administrator's file
//!   (`/etc/piclock/piclockd.toml`: wiring); [`saved_settings`]: what users
//!   change over D-Bus (`<state-dir>/settings.json`).
//! - [`service`]: the `org.piclock.Clock1` D-Bus object; [`publish`]: the one
//!   place that signals state changes; [`authority`]: polkit;
//!   [`buswatch`]: noticing a lost bus; [`notify`]: systemd's notify socket.
//!
//! The hands:
//! - [`tick`]: the real-time tick thread (the only code that pulses the coil).
//! - [`coil`]: coil drivers (GPIO with software PWM, the simulated movement).
//! - [`sensors`]: the hand sensors' lines (the seam the simulated and the
//!   real edge events come through) and their windows in the state directory.
//! - [`store`]: the position journal's backends (file, FRAM) and the choice between them.
//! - [`devices`]: I2C devices (DS3231 RTC, FRAM) and their simulations.
//! - [`rt`]: real-time priority, locked memory, precise waits.
//! - [`files`]: reading the daemon's own files with a size limit.
//!
//! Time:
//! - [`timebase`]: true time as the tick thread sees it: a base clock (the
//!   system clock, or virtual time under `--simulate --speed N`) plus a
//!   correction; it maps true time to the monotonic clock for sleeping.
//! - [`timesource`]: the task that sets that correction from the RTC at
//!   start and NTP at each poll, and publishes what the time properties show.
//! - [`ntp`]: the NTP client (one query: a UDP adapter around the core's maths).
//! - [`zone`]: the IANA time zone of the dial (DST included).

pub mod admin_config;
pub mod args;
pub mod authority;
pub mod buswatch;
pub mod coil;
pub mod daemon;
pub mod devices;
pub mod files;
pub mod logging;
pub mod method_error;
pub mod notify;
pub mod ntp;
pub mod publish;
pub mod rt;
pub mod saved_settings;
pub mod sensors;
pub mod service;
pub mod settings_change;
pub mod store;
pub mod tick;
pub mod timebase;
pub mod timesource;
pub mod zone;
