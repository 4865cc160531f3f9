//! piclockd: the PiClock daemon, as a library so that tests and benchmarks
//! can drive its adapters directly. `main.rs` is a thin wrapper.
//!
//! - [`daemon`]: start-up and shutdown wiring.
//! - [`tick`]: the real-time tick thread (the only code that pulses the coil).
//! - [`service`]: the `org.piclock.Clock1` D-Bus object.
//! - [`coil`]: coil drivers (GPIO with software PWM, the simulated movement).
//! - [`store`]: the position journal's file backend.
//! - [`devices`]: I2C devices (DS3231 RTC, FRAM journal store) and their simulations.
//! - [`timebase`], [`zone`]: true time and the dial's time zone.
//! - [`ntp`]: the NTP client (measures the system clock's offset).

pub mod args;
pub mod authority;
pub mod buswatch;
pub mod coil;
pub mod config;
pub mod daemon;
pub mod devices;
pub mod logging;
pub mod notify;
pub mod ntp;
pub mod rt;
pub mod service;
pub mod settings;
pub mod store;
pub mod tick;
pub mod timebase;
pub mod timesource;
pub mod zone;
