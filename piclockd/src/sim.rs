//! `piclockd --simulate`: every part of the clock, simulated. This is the
//! one place that says what the simulation replaces ([`open`] builds the
//! same [`Hardware`] as [`crate::hardware::open`]):
//!
//! | real part                              | simulated by                                   | state in `<state-dir>/`                      |
//! |----------------------------------------|------------------------------------------------|----------------------------------------------|
//! | the coil's two GPIO lines and the hands | [`movement::VirtualCoil`] (the motor model)    | `virtual-movement.json`, `.nudge`            |
//! | the hand sensors' GPIO lines            | [`movement::VirtualSensors`], same movement    | (in `virtual-movement.json`)                 |
//! | the DS3231 RTC on I2C                   | [`ds3231::VirtualDs3231`] (registers)          | `virtual-rtc.json`, `.unplugged`             |
//! | the kernel's RTC driver                 | [`rtc_driver::Ds1307Driver`], [`rtc::SimulatedRtc`] | while `virtual-rtc.kernel-driver` exists |
//! | the FRAM on I2C                         | [`fram::VirtualFram`] (registers)              | `virtual-fram.bin`, `.unplugged`             |
//!
//! The rest runs as on a Pi: the same drivers over the simulated chips (the
//! `ds323x` driver, the FRAM slot store), the same tick thread, journal,
//! time sources and D-Bus object. Time is the daemon's true time; under
//! `--speed N` a virtual time N times faster ([`crate::timebase`]).

pub mod ds3231;
pub mod fram;
pub mod movement;
pub mod rtc;
pub mod rtc_driver;

use crate::admin_config::AdminConfig;
use crate::coil::Coil;
use crate::devices::fram::FramSlotStore;
use crate::files::{Durability, SaveError};
use crate::hardware::{Hardware, HardwareError, HardwareKind};
use crate::sensor_lines::SensorEdges;
use crate::store::{BoxedStore, FramUnavailable};
use crate::timebase::TrueClock;
use piclock_core::impulse_line::Drive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The simulated parts, kept in `state_dir`, for a dial of `dial_seconds`
/// at `speed` times real time: the movement (a quartz or an impulse one, as
/// the admin file's `[movement]` says) with its sensor lines when
/// `[sensor]` names any, the RTC and the FRAM.
pub fn open(
    admin: &AdminConfig,
    state_dir: &Path,
    clock: &Arc<dyn TrueClock>,
    dial_seconds: u32,
    speed: f64,
) -> Result<Hardware, HardwareError> {
    let rtc = rtc::open(state_dir, clock);
    let step = match admin.movement.drive {
        Drive::Quartz => None,
        Drive::Impulse(line) => Some(line.step_s),
    };
    let coil =
        movement::VirtualCoil::open(state_dir, dial_seconds, speed, step).map_err(HardwareError::SimulatedMovement)?;
    let sensor_lines = admin
        .sensor
        .as_ref()
        .map(|config| Box::new(coil.sensors(&config.kinds(), config.active_low)) as Box<dyn SensorEdges>);
    // On real hardware every journal write reaches the disk before the pulse
    // (power loss). The simulated hands live in a file that is not synced
    // either, and a killed process loses nothing from the page cache, so the
    // simulator skips fdatasync only to keep up with a --speed above 1: at
    // real speed it syncs as the hardware does (scripts/sd-wear.sh measures
    // the writes that way).
    let sync = speed == 1.0;
    let store = crate::store::open_position_store(admin, state_dir, sync, || open_fram(state_dir))?;
    let hands = Some(Box::new(coil.hands()) as Box<dyn crate::hardware::SimulatedHands>);
    let coil: Box<dyn Coil> = Box::new(coil);
    Ok(Hardware { kind: HardwareKind::Simulated, coil, sensor_lines, rtc, store, hands })
}

/// Why the simulated FRAM is not used.
#[derive(Debug, thiserror::Error)]
pub enum SimulatedFramError {
    /// Its backing file cannot be used.
    #[error(transparent)]
    Backing(BackingFileError),
    /// It does not answer (it is unplugged).
    #[error("the simulated FRAM does not answer")]
    NotAnswering,
}

/// The simulated FRAM, kept in `<state-dir>/virtual-fram.bin`, if it answers.
fn open_fram(state_dir: &Path) -> Result<BoxedStore, FramUnavailable> {
    let sim = fram::VirtualFram::new()
        .with_unplug_file(state_dir.join("virtual-fram.unplugged"))
        .with_backing_file(state_dir.join("virtual-fram.bin"))
        .map_err(|e| FramUnavailable::Simulated(Box::new(SimulatedFramError::Backing(e))))?;
    let mut store = FramSlotStore::new(sim, "the simulated I2C bus");
    if store.probe() {
        Ok(Box::new(store))
    } else {
        Err(FramUnavailable::Simulated(Box::new(SimulatedFramError::NotAnswering)))
    }
}

/// Why a simulated chip's backing file (in the state directory) cannot be
/// used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum BackingFileError {
    /// It could not be read.
    #[error("reading {what} {}: {source}", .path.display())]
    Read {
        /// What it holds, e.g. "simulated FRAM image".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// It holds no chip state.
    #[error("reading {what} {}: {source}", .path.display())]
    Parse {
        /// What it should hold, e.g. "simulated DS3231 state".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it is none.
        #[source]
        source: serde_json::Error,
    },
    /// It is not as long as the chip's memory.
    #[error("{what} {} is {len} bytes long, expected {expected}", .path.display())]
    Length {
        /// What it holds, e.g. "simulated FRAM image".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The chip's size.
        expected: usize,
    },
    /// It could not be saved.
    #[error(transparent)]
    Save(#[from] SaveError),
}

/// Saves a simulator's backing file, atomically but unsynced (it stands in
/// for a chip's memory, not for durable storage: see [`Durability`]).
fn save_file(path: &Path, bytes: &[u8]) -> Result<(), BackingFileError> {
    Ok(crate::files::save(path, bytes, Durability::ProcessCrash)?)
}

/// Locks a simulator's state; a panic in another holder (a test thread)
/// does not make the state unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
