//! I2C devices: the DS3231 real-time clock and the MB85RC256V FRAM that
//! can hold the position journal.
//!
//! - [`rtc::Rtc`]: reads and sets the DS3231 in UTC (over the `ds323x`
//!   driver), reporting the oscillator-stop flag so that a time kept through
//!   a power loss without battery is not trusted; [`rtc::I2cDevRtc`] is its
//!   adapter behind the time sources' seam ([`RtcDevice`]).
//! - [`kernel_rtc::KernelRtc`]: the DS3231 read (only) through the kernel's
//!   RTC device when a kernel driver owns it (`dtoverlay=i2c-rtc,ds3231`),
//!   the other adapter behind that seam; [`rtc_select`] chooses between the
//!   two at start.
//! - [`fram::FramSlotStore`]: the position journal's two slots in FRAM,
//!   a [`piclock_core::journal::SlotStore`].
//! - [`bus::open_i2c`]: opens a Linux I2C bus (`/dev/i2c-1`) for both;
//!   [`bus::probe_address`] asks whether a kernel driver holds an address.
//! - [`virtual_ds3231::VirtualDs3231`] and [`virtual_fram::VirtualFram`]: register-level
//!   simulations of the two chips behind [`embedded_hal::i2c::I2c`], used by
//!   the tests and by `piclockd --simulate`. They are shared handles: a test
//!   keeps a clone to inject faults while the daemon owns another.
//!   [`virtual_rtc_driver::Ds1307Driver`] stands in for the kernel's driver.
//!
//! Nothing here panics on a device error: every failure comes back as an
//! error value naming the operation.

pub mod bus;
pub mod fram;
pub mod kernel_rtc;
pub mod rtc;
pub mod rtc_select;
pub mod virtual_ds3231;
pub mod virtual_fram;
pub mod virtual_rtc_driver;

pub use bus::open_i2c;

use crate::admin_config::AdminConfig;
use crate::timebase::TrueClock;
use crate::timesource::RtcDevice;
use rtc_select::{select_rtc, HardwareRtc, SimulatedRtc, SysPaths, KERNEL_DRIVER_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use virtual_ds3231::{NowFn, VirtualDs3231};

/// The RTC the time sources read, chosen by [`select_rtc`]: with `simulate`
/// the simulated DS3231 (in `<state-dir>/virtual-rtc.json`, on the
/// simulation's base clock; under a simulated kernel driver while
/// `<state-dir>/virtual-rtc.kernel-driver` exists), else the DS3231 on the
/// configured I2C bus when `[i2c] rtc` is on, over i2c-dev or through the
/// kernel's RTC device. None (logged) when there is none.
pub fn open_rtc(
    simulate: bool,
    admin: &AdminConfig,
    state_dir: &Path,
    clock: &Arc<dyn TrueClock>,
) -> Option<Box<dyn RtcDevice>> {
    let chosen = if simulate {
        let base = clock.clone();
        let now: NowFn = Arc::new(move || base.base_us());
        let sim = VirtualDs3231::new(now).with_unplug_file(state_dir.join("virtual-rtc.unplugged"));
        let sim = match sim.with_backing_file(state_dir.join("virtual-rtc.json")) {
            Ok(sim) => sim,
            Err(e) => {
                tracing::warn!("simulated RTC: {e}");
                return None;
            }
        };
        select_rtc(&mut SimulatedRtc::new(sim, state_dir.join(KERNEL_DRIVER_FILE)))
    } else {
        if !admin.i2c.rtc {
            return None;
        }
        select_rtc(&mut HardwareRtc::new(&admin.i2c.bus, SysPaths::default()))
    };
    match chosen {
        Ok(rtc) => {
            tracing::info!("RTC: {}", rtc.describe());
            Some(rtc)
        }
        Err(e) => {
            tracing::info!("no RTC: {e}");
            None
        }
    }
}

/// Locks a simulator's state; a panic in another holder (a test thread)
/// does not make the state unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The temporary file next to `path` that [`write_atomically`] renames over
/// it.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces the contents of `path` with `bytes` atomically: a reader (or a
/// daemon restarted after a crash) sees the old contents or the new, never a
/// mix. Used for the simulators' backing files; not synced to disk, since
/// the simulators stand in for hardware, not for durable storage, and are
/// written on every simulated bus write.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("saving {}: {e}", path.display()))
}
