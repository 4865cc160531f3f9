//! The parts the daemon drives, opened once at start into one [`Hardware`]:
//! the real ones ([`open`]: GPIO lines, I2C devices, the position file) or,
//! under `--simulate`, the simulated ones ([`crate::sim::open`]). Nothing
//! after this point knows which: the tick thread, the time sources and the
//! D-Bus side see the same seams either way.

use crate::admin_config::AdminConfig;
use crate::coil::{Coil, CoilError, CoilOpenError};
use crate::devices::rtc::RtcDevice;
use crate::sensor_lines::gpio::GpioSensorsError;
use crate::sensor_lines::SensorEdges;
use crate::store::{BoxedStore, PositionStoreError};
use crate::timebase::TrueClock;
use std::path::Path;
use std::sync::Arc;

/// Whether the parts are real or simulated: only the log's words depend
/// on it (a simulation refused real-time priority is no warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareKind {
    /// GPIO lines, I2C devices, the position file.
    Real,
    /// `--simulate`: the simulated movement and chips (see [`crate::sim`]).
    Simulated,
}

/// The hands themselves, where the daemon can see and turn them: only the
/// simulated movement's (real hands are turned by the user, and seen only
/// through the hand sensors).
pub trait SimulatedHands: Send {
    /// The user turned the crown to `position`.
    fn crown_set(&mut self, position: u32) -> Result<(), CoilError>;
    /// Where the hands are, in seconds on the dial.
    fn position(&self) -> u32;
}

/// Every part of the clock the daemon drives or reads.
pub struct Hardware {
    /// Real or simulated.
    pub kind: HardwareKind,
    /// What pulses the hands.
    pub coil: Box<dyn Coil>,
    /// The hand sensors' lines, when `[sensor]` configures any.
    pub sensor_lines: Option<Box<dyn SensorEdges>>,
    /// The RTC, when there is one (read first, before the first tick).
    pub rtc: Option<Box<dyn RtcDevice>>,
    /// Where the position journal is kept, with its `Fault` component.
    pub store: (BoxedStore, &'static str),
    /// The hands, when they can be seen (simulation).
    pub hands: Option<Box<dyn SimulatedHands>>,
}

/// Why the parts could not be opened (real or simulated).
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    /// The coil's GPIO lines.
    #[error(transparent)]
    Coil(#[from] CoilOpenError),
    /// The hand sensors' GPIO lines.
    #[error(transparent)]
    Sensors(#[from] GpioSensorsError),
    /// The simulated movement's file.
    #[error("simulated movement: {0}")]
    SimulatedMovement(#[source] CoilError),
    /// The position store.
    #[error(transparent)]
    Store(#[from] PositionStoreError),
}

/// The real parts the admin file names: the RTC (when `[i2c] rtc` is on),
/// the coil's GPIO lines, the sensors' GPIO lines and the position store.
pub fn open(admin: &AdminConfig, state_dir: &Path, clock: &Arc<dyn TrueClock>) -> Result<Hardware, HardwareError> {
    let rtc = crate::devices::open_rtc(admin);
    let coil: Box<dyn Coil> = Box::new(crate::coil::open(admin)?);
    let sensor_lines = match &admin.sensor {
        Some(config) => {
            let lines = crate::sensor_lines::gpio::GpioSensors::open(config, &admin.gpio, clock.clone())?;
            Some(Box::new(lines) as Box<dyn SensorEdges>)
        }
        None => None,
    };
    let store = crate::store::open_position_store(admin, state_dir, true, || crate::store::open_fram(admin))?;
    Ok(Hardware { kind: HardwareKind::Real, coil, sensor_lines, rtc, store, hands: None })
}
