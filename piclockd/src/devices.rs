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
//!
//! Their simulations (register-level, behind [`embedded_hal::i2c::I2c`])
//! are in [`crate::sim`].
//!
//! Nothing here panics on a device error: every failure comes back as an
//! error value naming the operation.

pub mod bus;
pub mod fram;
pub mod kernel_rtc;
pub mod rtc;
pub mod rtc_select;

pub use bus::open_i2c;

use crate::admin_config::AdminConfig;
use rtc::RtcDevice;
use rtc_select::{select_rtc, HardwareRtc, SysPaths};

/// The RTC the time sources read, chosen by [`select_rtc`]: the DS3231 on
/// the configured I2C bus when `[i2c] rtc` is on, over i2c-dev or through
/// the kernel's RTC device. None (logged) when there is none.
pub fn open_rtc(admin: &AdminConfig) -> Option<Box<dyn RtcDevice>> {
    if !admin.i2c.rtc {
        return None;
    }
    log_rtc(select_rtc(&mut HardwareRtc::new(&admin.i2c.bus, SysPaths::default())))
}

/// The chosen RTC, said in the log, or none (and why).
pub(crate) fn log_rtc(chosen: Result<Box<dyn RtcDevice>, rtc_select::RtcSelectError>) -> Option<Box<dyn RtcDevice>> {
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
