//! The kernel's `rtc-ds1307` driver as seen through `RTC_RD_TIME`, over a
//! DS3231 on an [`embedded_hal::i2c::I2c`] bus: the ioctl layer of
//! [`crate::devices::kernel_rtc::KernelRtc`] under `piclockd --simulate` (with the
//! simulated chip, [`super::ds3231::VirtualDs3231`]) and in tests.
//!
//! It reads the chip as the driver does (Linux 6.x): the seven time
//! registers in one transfer, then the status register; the
//! oscillator-stop flag set means EINVAL (the driver refuses to read), a
//! bus error means EIO. The registers are decoded as the driver decodes
//! them, the year as 2000 + the year register (the century bit ignored, as
//! without `CONFIG_RTC_DRV_DS1307_CENTURY`), and the result is checked as
//! the RTC core's `rtc_valid_tm` does (EINVAL when invalid). The driver
//! puts the chip into 24-hour mode when it binds; this layer decodes a
//! 12-hour register instead, to the same time.

use std::io;

use embedded_hal::i2c::I2c;

use crate::devices::kernel_rtc::{RtcIoctl, RtcTime};
use crate::devices::rtc::DS3231_ADDRESS;

/// Status register and its oscillator-stop flag.
const REG_STATUS: u8 = 0x0F;
const STATUS_OSF: u8 = 0x80;
/// Hours register: 12-hour mode, PM.
const HOURS_12H: u8 = 0x40;
const HOURS_PM: u8 = 0x20;

/// `rtc-ds1307`'s reading of a DS3231 on `I`.
#[derive(Debug, Clone)]
pub struct Ds1307Driver<I> {
    i2c: I,
}

impl<I> Ds1307Driver<I> {
    /// The driver bound to the DS3231 at 0x68 on `i2c`.
    pub fn new(i2c: I) -> Ds1307Driver<I> {
        Ds1307Driver { i2c }
    }
}

/// The kernel's `bcd2bin`: no check that the digits are decimal.
fn bcd2bin(b: u8) -> libc::c_int {
    libc::c_int::from(b >> 4) * 10 + libc::c_int::from(b & 0x0F)
}

fn errno(n: i32) -> io::Error {
    io::Error::from_raw_os_error(n)
}

/// The time registers 0x00..=0x06 as `rtc-ds1307` decodes them.
fn decode(r: &[u8; 7]) -> RtcTime {
    let hours = r[2];
    let tm_hour = if hours & HOURS_12H != 0 {
        bcd2bin(hours & 0x1F) % 12 + if hours & HOURS_PM != 0 { 12 } else { 0 }
    } else {
        bcd2bin(hours & 0x3F)
    };
    RtcTime {
        tm_sec: bcd2bin(r[0] & 0x7F),
        tm_min: bcd2bin(r[1] & 0x7F),
        tm_hour,
        tm_wday: bcd2bin(r[3] & 0x07) - 1,
        tm_mday: bcd2bin(r[4] & 0x3F),
        tm_mon: bcd2bin(r[5] & 0x1F) - 1,
        tm_year: bcd2bin(r[6]) + 100,
        tm_yday: 0,
        tm_isdst: 0,
    }
}

/// The RTC core's `rtc_valid_tm`.
fn valid(t: &RtcTime) -> bool {
    let leap = |y: i32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let year = t.tm_year + 1900;
    let days = match t.tm_mon {
        1 if leap(year) => 29,
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    };
    t.tm_year >= 70
        && (0..12).contains(&t.tm_mon)
        && (1..=days).contains(&t.tm_mday)
        && (0..24).contains(&t.tm_hour)
        && (0..60).contains(&t.tm_min)
        && (0..60).contains(&t.tm_sec)
}

impl<I: I2c + Send> RtcIoctl for Ds1307Driver<I> {
    fn read_time(&mut self) -> io::Result<RtcTime> {
        let mut regs = [0u8; 7];
        self.i2c.write_read(DS3231_ADDRESS, &[0x00], &mut regs).map_err(|_| errno(libc::EIO))?;
        let mut status = [0u8; 1];
        self.i2c.write_read(DS3231_ADDRESS, &[REG_STATUS], &mut status).map_err(|_| errno(libc::EIO))?;
        if status[0] & STATUS_OSF != 0 {
            return Err(errno(libc::EINVAL));
        }
        let t = decode(&regs);
        if valid(&t) {
            Ok(t)
        } else {
            Err(errno(libc::EINVAL))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::kernel_rtc::KernelRtc;
    use crate::devices::rtc::RtcDevice;
    use crate::devices::rtc::RtcReading;
    use crate::sim::ds3231::{NowFn, VirtualDs3231};
    use std::sync::Arc;

    /// 2026-03-29T01:59:59.250Z.
    const T0: i64 = 1_774_749_599_250_000;

    fn chip() -> VirtualDs3231 {
        let now: NowFn = Arc::new(|| T0);
        VirtualDs3231::new(now)
    }

    fn kernel_rtc(sim: &VirtualDs3231) -> Box<dyn RtcDevice> {
        Box::new(KernelRtc::new(Ds1307Driver::new(sim.clone()), "/dev/rtc0", "simulated /dev/rtc0"))
    }

    #[test]
    fn a_kept_chip_reads_its_time_through_the_seam() {
        let sim = chip();
        sim.set_oscillator_stopped(false);
        sim.set_offset_from_clock_us(3_600_000_000);
        let mut rtc = kernel_rtc(&sim);
        // 02:59:59.25 shows 02:59:59: read as the middle of that second.
        let want = (T0 / 1_000_000 + 3600) * 1_000_000 + 500_000;
        assert_eq!(rtc.read().unwrap(), RtcReading { time_us: want, oscillator_stopped: false });
        assert!(!rtc.writable());
        assert!(rtc.write(T0).is_err());
        assert_eq!(sim.offset_from_clock_us(), 3_600_000_000, "nothing written");
        assert!(!sim.oscillator_stopped());
    }

    #[test]
    fn a_chip_that_lost_power_is_refused_as_the_kernel_refuses_it() {
        let sim = chip();
        let e = kernel_rtc(&sim).read().unwrap_err().to_string();
        assert!(e.contains("the kernel refused (EINVAL)"), "{e}");
        assert!(sim.oscillator_stopped(), "the flag is left alone");
    }

    #[test]
    fn an_unplugged_chip_is_an_io_error() {
        let sim = chip();
        sim.set_oscillator_stopped(false);
        sim.set_failing(true);
        let e = kernel_rtc(&sim).read().unwrap_err().to_string();
        assert!(e.starts_with("reading /dev/rtc0 (RTC_RD_TIME): Input/output error"), "{e}");
    }

    #[test]
    fn registers_are_decoded_and_checked_as_the_driver_does() {
        let regs = [0x59, 0x59, 0x01, 0x01, 0x29, 0x03, 0x26];
        let t = decode(&regs);
        assert_eq!((t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec), (126, 2, 29, 1, 59, 59));
        assert!(valid(&t));
        // 11:30 PM in 12-hour mode.
        assert_eq!(decode(&[0, 0x30, 0x40 | 0x20 | 0x11, 1, 1, 1, 0]).tm_hour, 23);
        assert_eq!(decode(&[0, 0, 0x40 | 0x12, 1, 1, 1, 0]).tm_hour, 0, "12 AM");
        // Non-BCD digits and impossible dates fail rtc_valid_tm.
        assert!(!valid(&decode(&[0x5A, 0, 0, 1, 1, 1, 0])));
        assert!(!valid(&decode(&[0, 0, 0, 1, 0x30, 0x02, 0x26])), "30 February");
        assert!(valid(&decode(&[0, 0, 0, 1, 0x29, 0x02, 0x24])), "29 February 2024");
        assert!(!valid(&decode(&[0, 0, 0, 1, 0x01, 0x13, 0x26])), "month 13");
        assert!(!valid(&decode(&[0xFF; 7])));
    }
}
