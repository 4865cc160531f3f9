//! The hand sensors' lines: the seam between them and the tick thread.
//!
//! - [`SensorEdges`]: the edges since the last poll, each with the daemon's
//!   true time it happened at; the tick thread tells by that time whether
//!   one of its own steps caused it.
//! - [`gpio::GpioSensors`]: the real lines, edge events over gpiocdev.
//! - The simulated lines come from the simulated movement
//!   (`coil::virtual_movement::VirtualSensors`), through this same seam.
//! - [`windows`]: the sensors' windows kept in the state directory.
//! - [`open`]: the setup for the tick thread, from `[sensor]`.

pub mod gpio;
pub mod windows;

use crate::admin_config::AdminConfig;
use crate::coil::Coil;
use crate::tick::SensorSetup;
use crate::timebase::TrueClock;
use piclock_core::dial::Dial;
use piclock_core::sensor::drive::{DriveTuner, Raise};
use piclock_core::sensor::monitor::{MonitorConfig, SensorMonitor};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

use piclock_core::sensor::SensorKind;
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

/// The hand sensors of `[sensor]` (`None` without the section): the
/// simulated movement's lines under `--simulate` (from `coil`), else the
/// GPIO lines; the windows kept in `state_dir`; the drive tuner's raises
/// go to `raises`.
pub fn open(
    simulate: bool,
    admin: &AdminConfig,
    state_dir: &Path,
    dial: Dial,
    coil: &dyn Coil,
    clock: &Arc<dyn TrueClock>,
    raises: UnboundedSender<Raise>,
) -> Result<Option<SensorSetup>, String> {
    let Some(config) = &admin.sensor else {
        return Ok(None);
    };
    let kinds: Vec<SensorKind> = config.lines().iter().map(|(k, _)| *k).collect();
    let edges: Box<dyn SensorEdges> = if simulate {
        coil.simulated_sensors(&kinds, config.active_low).ok_or("the simulated movement has no sensor lines")?
    } else {
        Box::new(gpio::GpioSensors::open(config, &admin.gpio, clock.clone())?)
    };
    let windows = WindowFile::load(state_dir, dial.seconds());
    let monitor_config = MonitorConfig {
        seconds: kinds.contains(&SensorKind::Seconds),
        noon: kinds.contains(&SensorKind::Noon),
        seconds_window: config.window.window(),
    };
    let monitor = SensorMonitor::new(dial, monitor_config, windows.windows());
    let tuner = DriveTuner::new(config.tuner);
    Ok(Some(SensorSetup { edges, monitor, windows, home_on_start: config.home_on_start, tuner, raises }))
}
