//! The hand sensors' lines: the seam between them and the tick thread.
//!
//! - [`SensorEdges`]: the edges since the last poll, each with the daemon's
//!   true time it happened at; the tick thread tells by that time whether
//!   one of its own steps caused it.
//! - [`gpio::GpioSensors`]: the real lines, edge events over gpiocdev.
//! - The simulated lines come from the simulated movement
//!   (`sim::movement::VirtualSensors`), through this same seam.
//! - [`windows`]: the sensors' windows kept in the state directory.
//! - [`SensorSetup`] and [`setup`]: what the tick thread gets, from `[sensor]`.

pub mod gpio;
pub mod windows;

use crate::admin_config::sensor::SensorConfig;
use piclock_core::dial::Dial;
use piclock_core::hand_sensor::duty_tuner::{DriveTuner, Raise};
use piclock_core::hand_sensor::monitor::{MonitorConfig, SensorMonitor};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::UnboundedSender;

use piclock_core::hand_sensor::SensorKind;
use windows::WindowFile;

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

/// Why the sensor lines could not be read (a fault; the next poll tries again).
#[derive(Debug, thiserror::Error)]
pub enum SensorLinesError {
    /// A line's level or its edge events could not be read from its chip.
    #[error("reading {}: {source}", .chip.display())]
    Read {
        /// The GPIO chip.
        chip: PathBuf,
        /// gpiocdev's error.
        #[source]
        source: gpiocdev::Error,
    },
}

/// The sensors' lines as the tick thread reads them.
pub trait SensorEdges: Send {
    /// Appends the edges since the last call to `out`, oldest first,
    /// without blocking. The first call reports every line's level at
    /// start, [`UNTIMED`]. Err when the lines cannot be read (a fault; the
    /// next call tries again).
    fn poll(&mut self, out: &mut Vec<SensorEdge>) -> Result<(), SensorLinesError>;

    /// Which lines these are, for the log.
    fn describe(&self) -> String;
}

/// The hand sensors the tick thread reads.
pub struct SensorSetup {
    /// Their lines (real or simulated).
    pub edges: Box<dyn SensorEdges>,
    /// The state machine, with the windows known at start.
    pub monitor: SensorMonitor,
    /// Where learned windows are kept.
    pub windows: WindowFile,
    /// Home by itself when the position is not known at start.
    pub home_on_start: bool,
    /// Locates lost steps and decides duty raises.
    pub tuner: DriveTuner,
    /// Where the raises go (the settings path, on the runtime).
    pub raises: UnboundedSender<Raise>,
}

/// The hand sensors of `config` (the admin file's `[sensor]`) on `lines`
/// (real or simulated); the windows kept in `state_dir`; the drive
/// tuner's raises go to `raises`.
pub fn setup(
    config: &SensorConfig,
    lines: Box<dyn SensorEdges>,
    state_dir: &Path,
    dial: Dial,
    raises: UnboundedSender<Raise>,
) -> SensorSetup {
    let kinds = config.kinds();
    let windows = WindowFile::load(state_dir, dial.seconds());
    let monitor_config = MonitorConfig {
        seconds: kinds.contains(&SensorKind::Seconds),
        noon: kinds.contains(&SensorKind::Noon),
        seconds_window: config.window.window(),
    };
    let monitor = SensorMonitor::new(dial, monitor_config, windows.windows());
    let tuner = DriveTuner::new(config.tuner);
    SensorSetup { edges: lines, monitor, windows, home_on_start: config.home_on_start, tuner, raises }
}
