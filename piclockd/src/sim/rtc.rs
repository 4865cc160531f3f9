//! The simulated DS3231 as the RTC selection sees it: the chip on a
//! simulated bus, over i2c-dev or (while [`KERNEL_DRIVER_FILE`] exists)
//! through a simulated kernel driver, chosen by the same
//! [`select_rtc`] as on a Pi.

use super::ds3231::{NowFn, VirtualDs3231};
use super::rtc_driver::Ds1307Driver;
use crate::devices::bus::Probe;
use crate::devices::kernel_rtc::KernelRtc;
use crate::devices::rtc::{I2cDevRtc, RtcDevice};
use crate::devices::rtc_select::{select_rtc, KernelRtcNode, Lookup, RtcHost, RtcSelectError};
use crate::timebase::TrueClock;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file that, present when the simulated daemon starts, puts the
/// simulated DS3231 under a simulated kernel driver.
pub const KERNEL_DRIVER_FILE: &str = "virtual-rtc.kernel-driver";

/// The simulated DS3231 (in `<state-dir>/virtual-rtc.json`, on the
/// simulation's base clock; under a simulated kernel driver while
/// `<state-dir>/virtual-rtc.kernel-driver` exists), chosen as on a Pi.
pub fn open(state_dir: &Path, clock: &Arc<dyn TrueClock>) -> Option<Box<dyn RtcDevice>> {
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
    crate::devices::log_rtc(select_rtc(&mut SimulatedRtc::new(sim, state_dir.join(KERNEL_DRIVER_FILE))))
}

/// The simulation: the simulated DS3231, on a simulated bus whose 0x68 a
/// simulated `rtc-ds1307` (as `/dev/rtc0`) holds while [`KERNEL_DRIVER_FILE`]
/// exists.
#[derive(Debug, Clone)]
pub struct SimulatedRtc {
    chip: VirtualDs3231,
    kernel_driver_file: PathBuf,
}

impl SimulatedRtc {
    /// The simulated `chip`; `kernel_driver_file` is looked at by
    /// [`RtcHost::probe`].
    pub fn new(chip: VirtualDs3231, kernel_driver_file: impl Into<PathBuf>) -> SimulatedRtc {
        SimulatedRtc { chip, kernel_driver_file: kernel_driver_file.into() }
    }

    fn node() -> KernelRtcNode {
        KernelRtcNode { dev: PathBuf::from("/dev/rtc0"), driver: Some("rtc-ds1307".to_owned()) }
    }
}

impl RtcHost for SimulatedRtc {
    fn bus(&self) -> String {
        "the simulated bus".to_owned()
    }

    fn probe(&mut self) -> Probe {
        if self.kernel_driver_file.exists() {
            Probe::KernelDriver
        } else {
            Probe::Free
        }
    }

    fn i2c_dev(&mut self) -> Result<Box<dyn RtcDevice>, RtcSelectError> {
        Ok(Box::new(I2cDevRtc::new(self.chip.clone(), "simulated DS3231 at 0x68 (i2c-dev)")))
    }

    fn locate(&mut self) -> Lookup {
        Lookup::Found(SimulatedRtc::node())
    }

    fn fallback(&self) -> KernelRtcNode {
        SimulatedRtc::node()
    }

    fn kernel_rtc(&mut self, node: &KernelRtcNode) -> Box<dyn RtcDevice> {
        let driver = Ds1307Driver::new(self.chip.clone());
        Box::new(KernelRtc::new(driver, &node.dev, format!("simulated {}", node.describe())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rtc::RtcReading;

    /// 2026-03-29T01:59:59.250Z.
    const T0: i64 = 1_774_749_599_250_000;

    #[test]
    fn the_simulation_takes_either_path_through_the_same_selection() {
        let dir = tempfile::tempdir().unwrap();
        let now: NowFn = Arc::new(|| T0);
        let chip = VirtualDs3231::new(now);
        chip.set_oscillator_stopped(false);
        chip.set_offset_from_clock_us(-7_000_000);
        let flag = dir.path().join(KERNEL_DRIVER_FILE);
        let mut host = SimulatedRtc::new(chip.clone(), &flag);
        let want = RtcReading { time_us: (T0 / 1_000_000 - 7) * 1_000_000 + 500_000, oscillator_stopped: false };

        let mut rtc = select_rtc(&mut host).unwrap();
        assert_eq!(rtc.describe(), "simulated DS3231 at 0x68 (i2c-dev)");
        assert!(rtc.writable());
        assert_eq!(rtc.read().unwrap(), want);

        std::fs::write(&flag, b"").unwrap();
        let mut rtc = select_rtc(&mut host).unwrap();
        assert_eq!(rtc.describe(), "simulated /dev/rtc0 (kernel driver rtc-ds1307, read-only)");
        assert!(!rtc.writable());
        assert_eq!(rtc.read().unwrap(), want);
        assert!(rtc.write(T0).is_err());
        assert_eq!(chip.offset_from_clock_us(), -7_000_000);
    }
}
