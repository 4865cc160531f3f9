//! Coil drivers: what turns a [`Waveform`] into motion.
//!
//! - [`pwm::PwmCoil`] drives two output [`lines::Lines`] with software PWM
//!   from the calling (real-time) thread: the real clock over gpiocdev, or a
//!   recording fake in benchmarks.
//! - [`lookup`] finds the coil lines (`[gpio]` of the admin file): by name
//!   on whichever chip carries them, or by offset on a named chip.
//! - The simulated movement (`--simulate`) is a [`Coil`] too:
//!   [`crate::sim::movement::VirtualCoil`].

pub mod lines;
pub mod lookup;
pub mod pwm;
#[cfg(any(test, feature = "testing"))]
pub mod recording;

use crate::admin_config::AdminConfig;
use piclock_core::waveform::Waveform;
use std::time::{Duration, Instant};

/// How long before a pulse's leading edge the PWM driver stops sleeping and
/// spins: above the worst wake-up latency measured (docs/src/development/performance.md).
pub const PWM_SPIN: Duration = Duration::from_millis(5);

/// The real coil: the GPIO lines of the admin file (found by name or
/// offset, see [`lookup`]), pulsed with software PWM.
pub fn open(admin: &AdminConfig) -> Result<pwm::PwmCoil<lines::GpioLines>, CoilOpenError> {
    Ok(pwm::PwmCoil::new(open_lines(admin)?, PWM_SPIN))
}

/// `piclockd --release-lines`: requests the coil lines of the admin file
/// as outputs, low, and releases them. Run after the daemon stopped (the
/// unit's `ExecStopPost=`), it leaves both lines low whatever ended the
/// daemon: its own exit drives them low, but a SIGKILL in the middle of a
/// pulse cannot, and a Raspberry Pi keeps a released output's level. No
/// GPIO chip at all (a container, a PC) is nothing to do.
pub fn release_lines(admin: &AdminConfig) -> Result<String, CoilOpenError> {
    if admin.gpio.chip.is_none() && gpiocdev::chip::chips().map(|c| c.is_empty()).unwrap_or(true) {
        return Ok("no GPIO chip in /dev: no coil lines to release".to_owned());
    }
    let found = lookup::find(&admin.gpio)?;
    let names = [found.names[0].as_str(), found.names[1].as_str()];
    let lines = lines::GpioLines::open(&found.chip, found.offsets, names, "piclockd-release")?;
    drop(lines);
    Ok(format!("coil: {} driven low and released", found.describe()))
}

/// Finds and requests the coil lines of the admin file; logs which they are.
fn open_lines(admin: &AdminConfig) -> Result<lines::GpioLines, CoilOpenError> {
    let found = lookup::find(&admin.gpio)?;
    let names = [found.names[0].as_str(), found.names[1].as_str()];
    let lines = lines::GpioLines::open(&found.chip, found.offsets, names, "piclockd")?;
    tracing::info!("coil: {}", found.describe());
    Ok(lines)
}

/// Why the coil lines could not be opened: "coil: " and why.
#[derive(Debug, thiserror::Error)]
pub enum CoilOpenError {
    /// The lines of `[gpio]` were not found.
    #[error("coil: {0}")]
    Lookup(#[from] lookup::LookupError),
    /// They were found but could not be requested as outputs.
    #[error("coil: {0}")]
    Request(#[from] CoilError),
}

/// When a move starts, in both clock domains of the tick thread.
#[derive(Debug, Clone, Copy)]
pub struct MoveTime {
    /// The real monotonic instant of the leading edge.
    pub real: Instant,
    /// The daemon's true time of the leading edge, µs since the Unix epoch
    /// (virtual time under `--speed`).
    pub true_us: i64,
}

/// A coil driver failed; the move may not have happened.
#[derive(Debug)]
pub struct CoilError {
    /// What went wrong, for logs and `Faults`.
    pub message: String,
    /// The driver works but the thread was too late to deliver the pulse in
    /// full (the move is in doubt; nothing is broken). Otherwise the device
    /// itself failed.
    pub late: bool,
}

impl CoilError {
    /// The device failed.
    pub fn new(message: impl Into<String>) -> CoilError {
        CoilError { message: message.into(), late: false }
    }

    /// The pulse was cut short because the thread ran late; the device is fine.
    pub fn late(message: impl Into<String>) -> CoilError {
        CoilError { message: message.into(), late: true }
    }
}

impl std::fmt::Display for CoilError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoilError {}

/// Something that can pulse the clock's coil.
pub trait Coil: Send {
    /// Fires `waveform` with its leading edge at `at`, blocking until the
    /// last pulse has ended. Both lines are low when this returns, also on error.
    fn fire(&mut self, waveform: &Waveform, at: MoveTime) -> Result<(), CoilError>;

    /// How late the last move's leading edge was, if the driver knows.
    fn lead_delay(&self) -> Option<std::time::Duration> {
        None
    }

    /// Drives both lines low (idempotent; called on every exit path).
    fn release(&mut self);
}
