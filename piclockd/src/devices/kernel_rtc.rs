//! The DS3231 through the kernel's RTC driver: `/dev/rtcN`, read-only.
//!
//! With `dtoverlay=i2c-rtc,ds3231` (what most Raspberry Pi guides add) the
//! kernel's `rtc-ds1307` driver owns the chip at 0x68: i2c-dev refuses the
//! address (EBUSY) and the chip is read through the RTC device the driver
//! registered, with the `RTC_RD_TIME` ioctl. The daemon only reads it: the
//! driver owns the chip, and setting an RTC through the kernel needs
//! `CAP_SYS_TIME`, which the service does not have. The system keeps it set
//! (the kernel's 11-minute mode while the system clock is synchronised, or
//! `hwclock --systohc`).
//!
//! Three layers, each testable alone:
//! - [`RtcIoctl`]: one `RTC_RD_TIME`. [`DevRtc`] is the real one; it opens
//!   the device node read-only for each read and closes it again, since the
//!   kernel lets only one process at a time open an RTC device (holding it
//!   would make `hwclock` and `timedatectl` fail with EBUSY).
//! - [`rtc_time_to_us`]: the kernel's `struct rtc_time` to µs, every field
//!   checked against its range.
//! - [`KernelRtc`]: the adapter behind the time sources' seam
//!   ([`RtcDevice`]): reads, never writes, and says which device it is.
//!
//! What the kernel hides: `rtc-ds1307` refuses to read (EINVAL) while the
//! chip's oscillator-stop flag is set, on kernels that check it; older ones
//! cleared the flag at boot and return the chip's power-on time (2000-01-01
//! plus the time since). A time before [`PLAUSIBLE_FROM_US`] is therefore
//! reported as a chip that lost power (not trusted).

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ds323x::NaiveDate;

use super::rtc::{unix_seconds, RtcReading};
use crate::devices::rtc::{RtcDevice, RtcDeviceError};

/// `struct rtc_time` of `<linux/rtc.h>`: nine `int`s, UTC, with the
/// month from 0 and the year from 1900 (as `struct tm`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtcTime {
    /// Seconds, 0..=59.
    pub tm_sec: libc::c_int,
    /// Minutes, 0..=59.
    pub tm_min: libc::c_int,
    /// Hours, 0..=23.
    pub tm_hour: libc::c_int,
    /// Day of the month, 1..=31.
    pub tm_mday: libc::c_int,
    /// Month, 0..=11.
    pub tm_mon: libc::c_int,
    /// Years since 1900.
    pub tm_year: libc::c_int,
    /// Day of the week (not used: the date says it).
    pub tm_wday: libc::c_int,
    /// Day of the year (not used).
    pub tm_yday: libc::c_int,
    /// Daylight saving flag (not used: the RTC keeps UTC).
    pub tm_isdst: libc::c_int,
}

/// `_IOR(type, nr, size)` in the generic Linux encoding (arm, arm64, x86,
/// riscv): direction "read" (2) in bits 30..31, the size in bits 16..29.
const fn ior(ty: u8, nr: u8, size: usize) -> u32 {
    (2 << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `RTC_RD_TIME` = `_IOR('p', 0x09, struct rtc_time)`: 0x80247009.
pub const RTC_RD_TIME: u32 = ior(b'p', 0x09, std::mem::size_of::<RtcTime>());

/// The earliest time a kernel RTC is believed to show, µs since the Unix
/// epoch (2025-01-01T00:00:00Z): an earlier time comes from a chip that lost
/// power and whose oscillator-stop flag the kernel cleared or hides.
pub const PLAUSIBLE_FROM_US: i64 = 1_735_689_600_000_000;

const US_PER_S: i64 = 1_000_000;

/// One read of the kernel's RTC: what `RTC_RD_TIME` returns.
pub trait RtcIoctl: Send {
    /// The RTC's time as the kernel gives it, or the system's error
    /// (EINVAL: the driver refuses to read; EBUSY: another program has the
    /// device open; EACCES: no permission).
    fn read_time(&mut self) -> io::Result<RtcTime>;
}

/// The real `RTC_RD_TIME` on a device node such as `/dev/rtc0`.
#[derive(Debug, Clone)]
pub struct DevRtc {
    path: PathBuf,
}

impl DevRtc {
    /// The RTC device at `path`; nothing is opened until a read.
    pub fn new(path: impl Into<PathBuf>) -> DevRtc {
        DevRtc { path: path.into() }
    }
}

impl RtcIoctl for DevRtc {
    fn read_time(&mut self) -> io::Result<RtcTime> {
        let file = File::open(&self.path)?;
        let mut t = RtcTime::default();
        // SAFETY: the descriptor is open for the whole call, and `t` is a
        // writable `struct rtc_time` of exactly the size RTC_RD_TIME encodes.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), RTC_RD_TIME as libc::Ioctl, &mut t as *mut RtcTime) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(t)
    }
}

/// A `struct rtc_time` that is no time of the years 2000..=2099.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcTimeError {
    /// A field outside its range.
    #[error("{field} {value} is outside {}..={} ({what})", .range.start(), .range.end())]
    OutOfRange {
        /// The field, e.g. `tm_mon`.
        field: &'static str,
        /// Its value.
        value: libc::c_int,
        /// The values accepted.
        range: RangeInclusive<libc::c_int>,
        /// What the range means, e.g. "January..December".
        what: String,
    },
    /// A field in its range but negative (not with the ranges used here).
    #[error("{field} {value} is negative")]
    Negative {
        /// The field.
        field: &'static str,
        /// Its value.
        value: libc::c_int,
    },
    /// Fields in range that make no date.
    #[error("{year}-{month:02}-{day:02} is no date")]
    NoDate {
        /// The year.
        year: i32,
        /// The month, 1..=12.
        month: u32,
        /// The day of the month.
        day: u32,
    },
    /// Fields in range that make no time of day.
    #[error("{hour}:{minute}:{second} is no time")]
    NoTime {
        /// The hour.
        hour: u32,
        /// The minute.
        minute: u32,
        /// The second.
        second: u32,
    },
}

/// Why the kernel's RTC could not be read; the message names the device
/// and, where there is something to do, says what.
#[derive(Debug, thiserror::Error)]
pub enum KernelRtcError {
    /// EINVAL: the driver refuses to read.
    #[error(
        "reading {}: the kernel refused (EINVAL): its driver does so while the chip's oscillator-stop \
         flag is set (it lost power without a battery, or was never set) or its registers hold no valid \
         time; readable again once the system sets it (hwclock --systohc, or the kernel's 11-minute mode \
         while the system clock is synchronised)",
        .device.display()
    )]
    Refused {
        /// The RTC device.
        device: PathBuf,
    },
    /// EBUSY: another program has the device open.
    #[error(
        "opening {}: busy: another program (hwclock?) has it open; read again at the next poll",
        .device.display()
    )]
    Busy {
        /// The RTC device.
        device: PathBuf,
    },
    /// EACCES or EPERM: the service user may not read the device.
    #[error(
        "opening {}: {source}: the service user needs read access: a udev rule such as \
         SUBSYSTEM==\"rtc\", SUBSYSTEMS==\"i2c\", GROUP=\"i2c\", MODE=\"0640\" (see \"Time sources\" \
         in the PiClock book, docs/src/guide/time-sources.md)",
        .device.display()
    )]
    Denied {
        /// The RTC device.
        device: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// ENOENT: the device node is gone.
    #[error("opening {}: it does not exist (the kernel driver was unloaded?)", .device.display())]
    Missing {
        /// The RTC device.
        device: PathBuf,
    },
    /// ENOTTY: the file is no RTC device.
    #[error("reading {}: not an RTC device (RTC_RD_TIME: {source})", .device.display())]
    NotRtc {
        /// The file.
        device: PathBuf,
        /// The ioctl's error.
        #[source]
        source: io::Error,
    },
    /// Any other error of the open or the ioctl.
    #[error("reading {} (RTC_RD_TIME): {source}", .device.display())]
    Read {
        /// The RTC device.
        device: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The kernel gave a time that is none.
    #[error("reading {}: the kernel gave {source}", .device.display())]
    BadTime {
        /// The RTC device.
        device: PathBuf,
        /// What is wrong with it.
        #[source]
        source: RtcTimeError,
    },
}

/// `field` = `v` if it lies in `range`, else an error naming the field,
/// its value and the range (`what` says what the range means).
fn checked(
    field: &'static str,
    v: libc::c_int,
    range: RangeInclusive<libc::c_int>,
    what: &str,
) -> Result<u32, RtcTimeError> {
    if range.contains(&v) {
        u32::try_from(v).map_err(|_| RtcTimeError::Negative { field, value: v })
    } else {
        Err(RtcTimeError::OutOfRange { field, value: v, range, what: what.to_owned() })
    }
}

/// Days in `month` (1..=12) of `year`.
fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if NaiveDate::from_ymd_opt(year, 2, 29).is_some() => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The kernel's `struct rtc_time` (UTC) as µs since the Unix epoch: the
/// middle of the second it shows, as [`super::rtc::Rtc`] reads the chip.
///
/// Accepts the years 2000..=2099 (what the DS3231 holds as this daemon and
/// the kernel driver use it) and fields in their calendar ranges; anything
/// else is an error naming the field, its value and the accepted range.
/// The weekday, day of the year and DST flag are ignored.
pub fn rtc_time_to_us(t: &RtcTime) -> Result<i64, RtcTimeError> {
    checked("tm_year", t.tm_year, 100..=199, "years since 1900: 2000..=2099")?;
    let month = checked("tm_mon", t.tm_mon, 0..=11, "January..December")? + 1;
    // 2000..=2099: tm_year is in 100..=199.
    let year = t.tm_year + 1900;
    let last_day = days_in_month(year, month);
    let day = checked("tm_mday", t.tm_mday, 1..=last_day as libc::c_int, &format!("days of {year}-{month:02}"))?;
    let hour = checked("tm_hour", t.tm_hour, 0..=23, "hours")?;
    let minute = checked("tm_min", t.tm_min, 0..=59, "minutes")?;
    let second = checked("tm_sec", t.tm_sec, 0..=59, "seconds")?;
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(RtcTimeError::NoDate { year, month, day })?;
    let dt = date.and_hms_opt(hour, minute, second).ok_or(RtcTimeError::NoTime { hour, minute, second })?;
    Ok(unix_seconds(&dt) * US_PER_S + US_PER_S / 2)
}

/// The error for a failed read of `device`.
fn read_error(device: &Path, source: io::Error) -> KernelRtcError {
    let device = device.to_path_buf();
    match source.raw_os_error() {
        Some(libc::EINVAL) => KernelRtcError::Refused { device },
        Some(libc::EBUSY) => KernelRtcError::Busy { device },
        Some(libc::EACCES) | Some(libc::EPERM) => KernelRtcError::Denied { device, source },
        Some(libc::ENOENT) => KernelRtcError::Missing { device },
        Some(libc::ENOTTY) => KernelRtcError::NotRtc { device, source },
        _ => KernelRtcError::Read { device, source },
    }
}

/// The DS3231 read through the kernel's RTC device: read-only.
pub struct KernelRtc<I> {
    io: I,
    device: PathBuf,
    description: String,
    /// A time before [`PLAUSIBLE_FROM_US`] was already logged.
    warned_implausible: bool,
}

impl<I> fmt::Debug for KernelRtc<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelRtc").field("description", &self.description).finish_non_exhaustive()
    }
}

impl<I: RtcIoctl> KernelRtc<I> {
    /// The RTC device `device` (named in errors) read through `io`;
    /// `description` is what [`RtcDevice::describe`] says, e.g.
    /// "/dev/rtc1 (kernel driver rtc-ds1307, read-only)".
    pub fn new(io: I, device: impl Into<PathBuf>, description: impl Into<String>) -> KernelRtc<I> {
        KernelRtc { io, device: device.into(), description: description.into(), warned_implausible: false }
    }

    /// Reads the time. A time before [`PLAUSIBLE_FROM_US`] comes back with
    /// [`RtcReading::oscillator_stopped`] set (not trusted); a refusal or a
    /// field out of range is an error naming the device.
    pub fn read_utc_us(&mut self) -> Result<RtcReading, KernelRtcError> {
        let t = self.io.read_time().map_err(|e| read_error(&self.device, e))?;
        let time_us =
            rtc_time_to_us(&t).map_err(|source| KernelRtcError::BadTime { device: self.device.clone(), source })?;
        let lost = time_us < PLAUSIBLE_FROM_US;
        if lost && !self.warned_implausible {
            tracing::warn!(
                "{} shows {:04}-{:02}-{:02}, before 2025: taken as an RTC that lost power (not trusted)",
                self.device.display(),
                t.tm_year + 1900,
                t.tm_mon + 1,
                t.tm_mday
            );
        }
        self.warned_implausible = lost;
        Ok(RtcReading { time_us, oscillator_stopped: lost })
    }
}

impl<I: RtcIoctl> RtcDevice for KernelRtc<I> {
    fn read(&mut self) -> Result<RtcReading, RtcDeviceError> {
        self.read_utc_us().map_err(|e| RtcDeviceError::Kernel(Box::new(e)))
    }

    fn write(&mut self, _t_us: i64) -> Result<(), RtcDeviceError> {
        Err(RtcDeviceError::ReadOnly { device: self.device.clone() })
    }

    fn writable(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rtc::{RTC_END_US, RTC_MIN_US};
    use std::collections::VecDeque;

    /// 2026-03-29T01:59:59Z.
    fn t0() -> RtcTime {
        RtcTime { tm_sec: 59, tm_min: 59, tm_hour: 1, tm_mday: 29, tm_mon: 2, tm_year: 126, ..RtcTime::default() }
    }
    const T0_US: i64 = 1_774_749_599_000_000;

    /// An ioctl layer answering from a queue.
    struct Fake(VecDeque<io::Result<RtcTime>>);

    impl RtcIoctl for Fake {
        fn read_time(&mut self) -> io::Result<RtcTime> {
            self.0.pop_front().unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EIO)))
        }
    }

    fn device(answers: Vec<io::Result<RtcTime>>) -> Box<dyn RtcDevice> {
        Box::new(KernelRtc::new(Fake(answers.into()), "/dev/rtc1", "/dev/rtc1 (kernel driver rtc-ds1307, read-only)"))
    }

    #[test]
    fn the_ioctl_matches_the_kernel_header() {
        assert_eq!(std::mem::size_of::<RtcTime>(), 36);
        assert_eq!(RTC_RD_TIME, 0x8024_7009);
    }

    #[test]
    fn known_dates_convert() {
        assert_eq!(rtc_time_to_us(&t0()), Ok(T0_US + 500_000));
        let first = RtcTime { tm_mday: 1, tm_year: 100, ..RtcTime::default() };
        assert_eq!(rtc_time_to_us(&first), Ok(RTC_MIN_US + 500_000));
        let last = RtcTime { tm_sec: 59, tm_min: 59, tm_hour: 23, tm_mday: 31, tm_mon: 11, tm_year: 199, ..first };
        assert_eq!(rtc_time_to_us(&last), Ok(RTC_END_US - 500_000));
        let leap = RtcTime { tm_mday: 29, tm_mon: 1, tm_year: 124, ..first };
        assert_eq!(rtc_time_to_us(&leap), Ok(1_709_164_800_000_000 + 500_000));
        // Weekday, day of the year and DST are ignored.
        let noisy = RtcTime { tm_wday: 99, tm_yday: -5, tm_isdst: 1, ..t0() };
        assert_eq!(rtc_time_to_us(&noisy), Ok(T0_US + 500_000));
    }

    #[test]
    fn every_field_out_of_range_is_named_with_its_range() {
        let cases: [(RtcTime, &str); 12] = [
            (RtcTime { tm_year: 99, ..t0() }, "tm_year 99 is outside 100..=199"),
            (RtcTime { tm_year: 200, ..t0() }, "tm_year 200 is outside 100..=199"),
            (RtcTime { tm_year: i32::MIN, ..t0() }, "tm_year -2147483648 is outside"),
            (RtcTime { tm_mon: -1, ..t0() }, "tm_mon -1 is outside 0..=11"),
            (RtcTime { tm_mon: 12, ..t0() }, "tm_mon 12 is outside 0..=11"),
            (RtcTime { tm_mday: 0, ..t0() }, "tm_mday 0 is outside 1..=31 (days of 2026-03)"),
            (RtcTime { tm_mday: 29, tm_mon: 1, ..t0() }, "tm_mday 29 is outside 1..=28 (days of 2026-02)"),
            (RtcTime { tm_mday: 31, tm_mon: 3, ..t0() }, "tm_mday 31 is outside 1..=30 (days of 2026-04)"),
            (RtcTime { tm_hour: 24, ..t0() }, "tm_hour 24 is outside 0..=23"),
            (RtcTime { tm_min: 60, ..t0() }, "tm_min 60 is outside 0..=59"),
            (RtcTime { tm_sec: 60, ..t0() }, "tm_sec 60 is outside 0..=59"),
            (RtcTime { tm_sec: i32::MAX, ..t0() }, "tm_sec 2147483647 is outside 0..=59"),
        ];
        for (t, want) in cases {
            let e = rtc_time_to_us(&t).unwrap_err().to_string();
            assert!(e.starts_with(want), "{t:?}: {e}");
        }
    }

    #[test]
    fn any_struct_converts_or_errs_without_panicking() {
        let values = [i32::MIN, -1, 0, 1, 11, 12, 23, 24, 28, 29, 30, 31, 59, 60, 99, 100, 124, 199, 200, i32::MAX];
        for &a in &values {
            for &b in &values {
                let t = RtcTime { tm_sec: a, tm_min: b, tm_hour: a, tm_mday: b, tm_mon: a, tm_year: b, ..t0() };
                if let Ok(us) = rtc_time_to_us(&t) {
                    assert!((RTC_MIN_US..RTC_END_US).contains(&us), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn reads_through_the_seam_and_never_writes() {
        let mut rtc = device(vec![Ok(t0()), Ok(t0())]);
        assert!(!rtc.writable());
        assert_eq!(rtc.describe(), "/dev/rtc1 (kernel driver rtc-ds1307, read-only)");
        assert_eq!(rtc.read().unwrap(), RtcReading { time_us: T0_US + 500_000, oscillator_stopped: false });
        let e = rtc.write(T0_US).unwrap_err().to_string();
        assert!(e.starts_with("/dev/rtc1 is read-only"), "{e}");
        assert!(rtc.read().is_ok(), "a refused write changes nothing");
    }

    #[test]
    fn a_time_before_2025_is_a_chip_that_lost_power() {
        let power_on = RtcTime { tm_sec: 12, tm_mday: 1, tm_year: 100, ..RtcTime::default() };
        let mut rtc = device(vec![Ok(power_on), Ok(t0())]);
        let r = rtc.read().unwrap();
        assert!(r.oscillator_stopped);
        assert_eq!(r.time_us, RTC_MIN_US + 12_500_000);
        assert!(!rtc.read().unwrap().oscillator_stopped, "set again: trusted");
    }

    #[test]
    fn kernel_errors_become_clear_messages() {
        let errno = |n| Err(io::Error::from_raw_os_error(n));
        let mut rtc = device(vec![
            errno(libc::EINVAL),
            errno(libc::EBUSY),
            errno(libc::EACCES),
            errno(libc::ENOENT),
            errno(libc::ENOTTY),
            errno(libc::EIO),
            Ok(RtcTime { tm_mon: 12, ..t0() }),
        ]);
        let wants = [
            "reading /dev/rtc1: the kernel refused (EINVAL): its driver does so while the chip's oscillator-stop flag",
            "opening /dev/rtc1: busy: another program (hwclock?) has it open",
            "opening /dev/rtc1: Permission denied (os error 13): the service user needs read access: a udev rule",
            "opening /dev/rtc1: it does not exist",
            "reading /dev/rtc1: not an RTC device",
            "reading /dev/rtc1 (RTC_RD_TIME): Input/output error",
            "reading /dev/rtc1: the kernel gave tm_mon 12 is outside 0..=11 (January..December)",
        ];
        for want in wants {
            let e = rtc.read().unwrap_err().to_string();
            assert!(e.starts_with(want), "want {want:?}, got {e:?}");
        }
    }

    #[test]
    fn the_real_ioctl_reports_files_that_are_no_rtc() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("rtc9");
        let e = KernelRtc::new(DevRtc::new(&missing), &missing, "x").read_utc_us().unwrap_err().to_string();
        assert!(e.contains("it does not exist"), "{e}");
        let plain = dir.path().join("rtc0");
        std::fs::write(&plain, b"").unwrap();
        let e = KernelRtc::new(DevRtc::new(&plain), &plain, "x").read_utc_us().unwrap_err().to_string();
        assert!(e.contains("not an RTC device"), "{e}");
        if Path::new("/dev/null").exists() {
            let e = KernelRtc::new(DevRtc::new("/dev/null"), "/dev/null", "x").read_utc_us().unwrap_err().to_string();
            assert!(e.starts_with("reading /dev/null: not an RTC device"), "{e}");
        }
    }
}
