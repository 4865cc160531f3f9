//! The hand sensors' lines: the seam between them and the tick thread.
//!
//! - [`SensorEdges`]: the edges since the last poll, each with the daemon's
//!   true time it happened at; the tick thread tells by that time whether
//!   one of its own steps caused it.
//! - The simulated lines come from the simulated movement
//!   (`coil::virtual_movement::VirtualSensors`), through this same seam.
//! - [`windows`]: the sensors' windows kept in the state directory.

pub mod windows;

use piclock_core::sensor::SensorKind;

/// The `at_us` of a change that no step of the daemon's caused and whose
/// time does not matter: the levels at start, the crown turned.
pub const UNTIMED: i64 = i64::MIN / 2;

/// A sensor turned active or inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorEdge {
    /// Which sensor.
    pub sensor: SensorKind,
    /// Active now (after `active_low` is applied).
    pub active: bool,
    /// When, in the daemon's true time (µs since the Unix epoch; virtual
    /// time under `--speed`), or [`UNTIMED`].
    pub at_us: i64,
}

/// The sensors' lines as the tick thread reads them.
pub trait SensorEdges: Send {
    /// Appends the edges since the last call to `out`, oldest first,
    /// without blocking. The first call reports every line's level at
    /// start, [`UNTIMED`]. Err when the lines cannot be read (a fault; the
    /// next call tries again).
    fn poll(&mut self, out: &mut Vec<SensorEdge>) -> Result<(), String>;

    /// Which lines these are, for the log.
    fn describe(&self) -> String;
}
