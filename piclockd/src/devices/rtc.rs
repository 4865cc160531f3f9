//! The DS3231 real-time clock, in UTC, over the `ds323x` driver.
//!
//! The chip counts whole seconds. [`Rtc::read_utc_us`] therefore returns
//! the middle of the second the chip shows (its time is somewhere in that
//! second), and [`Rtc::write_utc_us`] writes the time rounded to the
//! nearest second: writing the seconds register restarts the chip's
//! sub-second countdown, so the chip is then within ±0.5 s of the time
//! given, and a read is within ±1 s of the truth (±0.5 s on average less).
//!
//! The oscillator stop flag (OSF) is set by the chip when its oscillator
//! stopped, e.g. after a power loss without a battery: the time it holds
//! must then not be trusted. [`RtcReading::oscillator_stopped`] reports it,
//! and a successful [`Rtc::write_utc_us`] clears it.
//!
//! The DS3231 holds years 2000..=2199 through its century bit, but its leap
//! year rule fails in 2100 and the driver accepts 2000..=2100 only: this
//! wrapper sets times from 2000-01-01T00:00:00Z up to (not including)
//! 2100-01-01T00:00:00Z and refuses the rest.

use std::fmt;
use std::path::PathBuf;

use ds323x::interface::I2cInterface;
use ds323x::{ic, DateTimeAccess, Datelike as _, Ds323x, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use embedded_hal::i2c::I2c;

/// The first time the RTC is set to: 2000-01-01T00:00:00Z, µs since the
/// Unix epoch.
pub const RTC_MIN_US: i64 = 946_684_800_000_000;

/// The first time the RTC is not set to: 2100-01-01T00:00:00Z, µs since
/// the Unix epoch.
pub const RTC_END_US: i64 = 4_102_444_800_000_000;

const US_PER_S: i64 = 1_000_000;
const S_PER_DAY: i64 = 86_400;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const CE_TO_UNIX_DAYS: i64 = 719_163;

/// The DS3231's fixed I2C address.
pub const DS3231_ADDRESS: u8 = 0x68;

/// A time read from the RTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcReading {
    /// The chip's time, µs since the Unix epoch (UTC): the middle of the
    /// second its registers show.
    pub time_us: i64,
    /// The oscillator stop flag was set: the oscillator stopped at some
    /// point (e.g. a power loss without battery) since the time was last
    /// set, so `time_us` must not be trusted.
    pub oscillator_stopped: bool,
}

/// The RTC as the time sources see it: the seam in front of the two ways
/// the DS3231 is reached ([`I2cDevRtc`] over i2c-dev,
/// [`crate::devices::kernel_rtc::KernelRtc`] through the kernel's driver)
/// and of their simulations.
pub trait RtcDevice: Send {
    /// Reads the RTC.
    fn read(&mut self) -> Result<RtcReading, RtcDeviceError>;
    /// Sets it (and clears the oscillator-stopped flag); an error when it
    /// is read-only.
    fn write(&mut self, t_us: i64) -> Result<(), RtcDeviceError>;
    /// Whether [`RtcDevice::write`] sets it. A read-only RTC (the kernel's
    /// driver owns it) is never written, so never taken as set by this
    /// daemon: its error bound stays that of an RTC set at an unknown time.
    fn writable(&self) -> bool;
    /// Which RTC and which path it is read through, e.g. "DS3231 at 0x68 on
    /// /dev/i2c-1 (i2c-dev)" or "/dev/rtc1 (kernel driver rtc-ds1307,
    /// read-only)": the `RTCDevice` property.
    fn describe(&self) -> String;
}

/// Why an [`RtcDevice`] could not be read or set; the message names the
/// chip or the device, and says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum RtcDeviceError {
    /// The DS3231 over i2c-dev failed.
    #[error(transparent)]
    I2cDev(#[from] RtcError),
    /// The kernel's RTC device could not be read (a
    /// [`crate::devices::kernel_rtc::KernelRtcError`], boxed so that this
    /// seam does not depend on that adapter).
    #[error(transparent)]
    Kernel(Box<dyn std::error::Error + Send + Sync>),
    /// A write to an RTC the kernel's driver owns.
    #[error("{} is read-only: the kernel's driver owns the chip; the system sets it", .device.display())]
    ReadOnly {
        /// The RTC device.
        device: PathBuf,
    },
}

/// An RTC operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcError {
    /// What was being done, e.g. "reading the time from the DS3231".
    pub operation: &'static str,
    /// Why it failed.
    pub detail: String,
}

impl fmt::Display for RtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.detail)
    }
}

impl std::error::Error for RtcError {}

const OP_READ_STATUS: &str = "reading the DS3231 status";
const OP_READ_TIME: &str = "reading the time from the DS3231";
const OP_WRITE_TIME: &str = "setting the DS3231 time";
const OP_CLEAR_OSF: &str = "clearing the DS3231 oscillator-stop flag";

/// Turns a driver error into an [`RtcError`] for `operation`.
fn driver_error<E: embedded_hal::i2c::Error>(operation: &'static str, e: ds323x::Error<E>) -> RtcError {
    let detail = match &e {
        ds323x::Error::Comm(c) => format!("I2C: {} ({e:?})", c.kind()),
        ds323x::Error::InvalidDeviceState => {
            format!("the chip holds no valid date and time ({e:?}); set it first")
        }
        ds323x::Error::InvalidInputData => format!("the driver refused the value ({e:?})"),
    };
    RtcError { operation, detail }
}

/// A UTC date and time as the driver wants it, for a time in µs (whole
/// seconds are used); `None` if out of chrono's range.
fn datetime_from_us(t: i64) -> Option<NaiveDateTime> {
    let secs = t.div_euclid(US_PER_S);
    let days = secs.div_euclid(S_PER_DAY);
    let sod = u32::try_from(secs.rem_euclid(S_PER_DAY)).ok()?;
    let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + CE_TO_UNIX_DAYS).ok()?)?;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(sod, 0)?;
    Some(NaiveDateTime::new(date, time))
}

/// Seconds since the Unix epoch of a UTC date and time.
pub(super) fn unix_seconds(dt: &NaiveDateTime) -> i64 {
    let days = i64::from(dt.date().num_days_from_ce()) - CE_TO_UNIX_DAYS;
    days * S_PER_DAY + i64::from(dt.time().num_seconds_from_midnight())
}

/// A DS3231 on an I2C bus, read and set in UTC.
pub struct Rtc<I2C> {
    dev: Ds323x<I2cInterface<I2C>, ic::DS3231>,
}

impl<I2C> fmt::Debug for Rtc<I2C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rtc").field("chip", &"DS3231 at 0x68").finish_non_exhaustive()
    }
}

impl<I2C: I2c> Rtc<I2C> {
    /// The DS3231 at its fixed address 0x68 on `i2c`. Nothing is sent to
    /// the chip until the first read or write.
    pub fn new(i2c: I2C) -> Rtc<I2C> {
        Rtc { dev: Ds323x::new_ds3231(i2c) }
    }

    /// Gives the bus back.
    pub fn into_inner(self) -> I2C {
        self.dev.destroy_ds3231()
    }

    /// Reads the chip's time (UTC) and its oscillator stop flag. When
    /// [`RtcReading::oscillator_stopped`] is true, the time must not be
    /// trusted.
    ///
    /// Fails on a bus error, or if the registers hold no valid date, or a
    /// date outside the years 2000..=2099 that [`Rtc::write_utc_us`] sets
    /// (digits that are not BCD decode past them): neither is a time this
    /// daemon wrote.
    pub fn read_utc_us(&mut self) -> Result<RtcReading, RtcError> {
        let oscillator_stopped = self.dev.has_been_stopped().map_err(|e| driver_error(OP_READ_STATUS, e))?;
        let dt = self.dev.datetime().map_err(|e| driver_error(OP_READ_TIME, e))?;
        let time_us = unix_seconds(&dt) * US_PER_S + US_PER_S / 2;
        if !(RTC_MIN_US..RTC_END_US).contains(&time_us) {
            return Err(RtcError {
                operation: OP_READ_TIME,
                detail: format!(
                    "the chip holds {}T{}Z, outside the years 2000..2099 it is set to: its registers hold no \
                     valid time; set it first",
                    dt.date(),
                    dt.time()
                ),
            });
        }
        Ok(RtcReading { time_us, oscillator_stopped })
    }

    /// Sets the chip to `t_us` (µs since the Unix epoch, UTC), rounded to
    /// the nearest second, in 24-hour mode, and clears the oscillator stop
    /// flag so that the time is trusted from now on.
    ///
    /// Refuses times outside 2000-01-01T00:00:00Z..2100-01-01T00:00:00Z
    /// (changing nothing). If the time was written but clearing the flag
    /// failed, the error says so and the flag stays set (the next read
    /// reports the time as untrusted).
    pub fn write_utc_us(&mut self, t_us: i64) -> Result<(), RtcError> {
        let rounded = t_us.saturating_add(US_PER_S / 2).div_euclid(US_PER_S).saturating_mul(US_PER_S);
        if !(RTC_MIN_US..RTC_END_US).contains(&rounded) {
            let shown = datetime_from_us(t_us)
                .map(|dt| format!("{}T{}Z", dt.date(), dt.time()))
                .unwrap_or_else(|| format!("{t_us} µs since 1970"));
            return Err(RtcError {
                operation: OP_WRITE_TIME,
                detail: format!("{shown} is outside the years 2000..2099 the DS3231 can hold; check the system clock"),
            });
        }
        let dt = datetime_from_us(rounded).ok_or_else(|| RtcError {
            operation: OP_WRITE_TIME,
            detail: format!("{t_us} µs since 1970 is not a representable date"),
        })?;
        self.dev.set_datetime(&dt).map_err(|e| driver_error(OP_WRITE_TIME, e))?;
        self.dev.clear_has_been_stopped_flag().map_err(|e| driver_error(OP_CLEAR_OSF, e))
    }
}

/// The DS3231 read and set over i2c-dev (no kernel driver owns it): the
/// adapter behind the time sources' seam, [`RtcDevice`].
pub struct I2cDevRtc<I2C> {
    rtc: Rtc<I2C>,
    description: String,
}

impl<I2C> fmt::Debug for I2cDevRtc<I2C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cDevRtc").field("description", &self.description).finish_non_exhaustive()
    }
}

impl<I2C: I2c> I2cDevRtc<I2C> {
    /// The DS3231 on `i2c`; `description` is what [`RtcDevice::describe`]
    /// says, e.g. "DS3231 at 0x68 on /dev/i2c-1 (i2c-dev)".
    pub fn new(i2c: I2C, description: impl Into<String>) -> I2cDevRtc<I2C> {
        I2cDevRtc { rtc: Rtc::new(i2c), description: description.into() }
    }
}

impl<I2C: I2c + Send> RtcDevice for I2cDevRtc<I2C> {
    fn read(&mut self) -> Result<RtcReading, RtcDeviceError> {
        Ok(self.rtc.read_utc_us()?)
    }

    fn write(&mut self, t_us: i64) -> Result<(), RtcDeviceError> {
        Ok(self.rtc.write_utc_us(t_us)?)
    }

    fn writable(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ds3231::{fake_clock, VirtualDs3231};
    use std::sync::atomic::Ordering;

    /// 2026-03-29T01:59:59.250Z.
    const T0: i64 = 1_774_749_599_250_000;

    /// A DS3231 whose registers hold fixed bytes (garbage a real chip may
    /// hold after a fault; the simulator only ever holds valid times).
    struct FixedRegisters([u8; 0x13], usize);

    impl embedded_hal::i2c::ErrorType for FixedRegisters {
        type Error = embedded_hal::i2c::ErrorKind;
    }

    impl I2c for FixedRegisters {
        fn transaction(
            &mut self,
            _address: u8,
            operations: &mut [embedded_hal::i2c::Operation<'_>],
        ) -> Result<(), Self::Error> {
            for op in operations {
                match op {
                    embedded_hal::i2c::Operation::Write(bytes) => {
                        if let Some(&reg) = bytes.first() {
                            self.1 = usize::from(reg) % self.0.len();
                        }
                    }
                    embedded_hal::i2c::Operation::Read(buf) => {
                        for b in buf.iter_mut() {
                            *b = self.0[self.1];
                            self.1 = (self.1 + 1) % self.0.len();
                        }
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn registers_outside_the_years_it_is_set_to_are_refused() {
        // Found by the rtc_registers fuzz target: year register 0xAC (not
        // BCD) with the century bit read as 2212-06-29 and, the oscillator
        // flag being clear, would have been taken as true time at start.
        let mut regs = [0u8; 0x13];
        regs[..7].copy_from_slice(&[0x59, 0x59, 0x01, 0x01, 0x29, 0x86, 0xac]);
        let e = Rtc::new(FixedRegisters(regs, 0)).read_utc_us().unwrap_err();
        assert_eq!(e.operation, OP_READ_TIME);
        assert!(e.detail.contains("2212-06-29T01:59:59Z"), "{e}");
        // The century bit alone: 2126 is past what the daemon sets, too.
        regs[6] = 0x26;
        assert!(Rtc::new(FixedRegisters(regs, 0)).read_utc_us().is_err());
        // The same date in this century is read.
        regs[5] = 0x03;
        let r = Rtc::new(FixedRegisters(regs, 0)).read_utc_us().unwrap();
        assert_eq!(r.time_us, T0 - 250_000 + 500_000);
        assert!(!r.oscillator_stopped);
    }

    #[test]
    fn conversions_agree_with_known_dates() {
        assert_eq!(datetime_from_us(RTC_MIN_US).map(|d| d.to_string()), Some("2000-01-01 00:00:00".into()));
        assert_eq!(datetime_from_us(RTC_END_US).map(|d| d.to_string()), Some("2100-01-01 00:00:00".into()));
        let dt = datetime_from_us(T0).unwrap();
        assert_eq!(dt.to_string(), "2026-03-29 01:59:59");
        assert_eq!(unix_seconds(&dt), T0 / US_PER_S);
        assert_eq!(datetime_from_us(-1).map(|d| d.to_string()), Some("1969-12-31 23:59:59".into()));
        assert_eq!(datetime_from_us(i64::MAX), None);
    }

    #[test]
    fn write_then_read_round_trips_within_a_second() {
        for frac in [0, 1, 250_000, 499_999, 500_000, 750_000, 999_999] {
            let now = T0 - 250_000 + frac;
            let (t, clock) = fake_clock(now);
            let sim = VirtualDs3231::new(clock);
            let mut rtc = Rtc::new(sim.clone());
            rtc.write_utc_us(now).unwrap();
            // The chip is within half a second of the time given.
            assert!((sim.time_us() - now).abs() <= 500_000, "frac {frac}: {}", sim.time_us() - now);
            for step in [0, 1, 300_000, 999_999, 3_600_000_000] {
                t.store(now + step, Ordering::Relaxed);
                let r = rtc.read_utc_us().unwrap();
                assert!(!r.oscillator_stopped);
                let err = r.time_us - (now + step);
                assert!(err.abs() <= 1_000_000, "frac {frac}, step {step}: off by {err} µs");
            }
        }
    }

    #[test]
    fn reads_the_time_the_chip_keeps_as_the_clock_runs() {
        let (t, clock) = fake_clock(T0);
        let sim = VirtualDs3231::new(clock);
        sim.set_oscillator_stopped(false);
        // The chip runs 2.25 s ahead of the clock.
        sim.set_offset_from_clock_us(2_250_000);
        let mut rtc = Rtc::new(sim.clone());
        // 01:59:59.250 + 2.25 = 02:00:01.500: shows 02:00:01, read as .5.
        assert_eq!(rtc.read_utc_us().unwrap().time_us, (T0 / US_PER_S + 2) * US_PER_S + 500_000);
        // A day later (a clock running at --speed would get there sooner).
        t.store(T0 + S_PER_DAY * US_PER_S, Ordering::Relaxed);
        let r = rtc.read_utc_us().unwrap();
        assert_eq!(r.time_us, (T0 / US_PER_S + 2 + S_PER_DAY) * US_PER_S + 500_000);
        assert_eq!(sim.offset_from_clock_us(), 2_250_000);
    }

    #[test]
    fn oscillator_stop_is_reported_and_cleared_by_a_write() {
        let (_, clock) = fake_clock(T0);
        let sim = VirtualDs3231::new(clock);
        let mut rtc = Rtc::new(sim.clone());
        // A fresh chip: 2000-01-01, OSF set.
        let r = rtc.read_utc_us().unwrap();
        assert!(r.oscillator_stopped);
        assert_eq!(r.time_us, RTC_MIN_US + 500_000);
        rtc.write_utc_us(T0).unwrap();
        assert!(!sim.oscillator_stopped());
        assert!(!rtc.read_utc_us().unwrap().oscillator_stopped);
        // Power loss without battery afterwards.
        sim.set_oscillator_stopped(true);
        let r = rtc.read_utc_us().unwrap();
        assert!(r.oscillator_stopped);
        assert!((r.time_us - T0).abs() <= 1_000_000);
        rtc.write_utc_us(T0).unwrap();
        assert!(!rtc.read_utc_us().unwrap().oscillator_stopped);
        // The write left the chip in 24-hour mode with the right weekday
        // (2026-03-29 is a Sunday: 1 counting from Sunday).
        let regs = sim.registers();
        assert_eq!(regs[2] & 0x40, 0);
        assert_eq!(regs[3], 1);
    }

    #[test]
    fn twelve_hour_chip_is_read_correctly() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        // Someone set 2026-03-29 11:30:00 PM in 12-hour mode.
        embedded_hal::i2c::I2c::write(&mut sim, 0x68, &[0x00, 0x00, 0x30, 0x40 | 0x20 | 0x11, 1, 0x29, 0x03, 0x26])
            .unwrap();
        let mut rtc = Rtc::new(sim.clone());
        let want = (T0 / US_PER_S - (T0 / US_PER_S) % S_PER_DAY + 23 * 3600 + 30 * 60) * US_PER_S;
        assert_eq!(rtc.read_utc_us().unwrap().time_us, want + 500_000);
        // Writing switches it to 24-hour mode.
        rtc.write_utc_us(T0).unwrap();
        assert_eq!(sim.registers()[2], 0x01);
    }

    #[test]
    fn refuses_times_the_chip_cannot_hold() {
        let (_, clock) = fake_clock(T0);
        let sim = VirtualDs3231::new(clock);
        let mut rtc = Rtc::new(sim.clone());
        for bad in [0, RTC_MIN_US - 500_001, RTC_END_US - 500_000, RTC_END_US, i64::MAX, i64::MIN] {
            let e = rtc.write_utc_us(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("setting the DS3231 time: "), "{msg}");
            assert!(msg.contains("outside the years 2000..2099"), "{msg}");
        }
        let e = rtc.write_utc_us(RTC_END_US).unwrap_err();
        assert!(e.detail.starts_with("2100-01-01T00:00:00Z is outside"), "{e}");
        // Nothing was written: still the power-on state.
        assert!(sim.oscillator_stopped());
        assert_eq!(sim.time_us(), RTC_MIN_US);
        // The edges that round into range are accepted.
        rtc.write_utc_us(RTC_MIN_US - 500_000).unwrap();
        assert_eq!(rtc.read_utc_us().unwrap().time_us, RTC_MIN_US + 500_000);
        rtc.write_utc_us(RTC_END_US - 500_001).unwrap();
        assert_eq!(rtc.read_utc_us().unwrap().time_us, RTC_END_US - 500_000);
    }

    #[test]
    fn a_failing_chip_gives_errors_naming_the_operation() {
        let (_, clock) = fake_clock(T0);
        let sim = VirtualDs3231::new(clock);
        let mut rtc = Rtc::new(sim.clone());
        sim.set_failing(true);
        let e = rtc.read_utc_us().unwrap_err();
        assert_eq!(e.operation, "reading the DS3231 status");
        assert!(e.to_string().contains("NoAcknowledge"), "{e}");
        let e = rtc.write_utc_us(T0).unwrap_err();
        assert!(e.to_string().starts_with("setting the DS3231 time: I2C: "), "{e}");
        assert!(sim.oscillator_stopped());
        sim.set_failing(false);
        rtc.write_utc_us(T0).unwrap();
        assert!(!rtc.read_utc_us().unwrap().oscillator_stopped);
        let _bus: VirtualDs3231 = rtc.into_inner();
    }

    /// A bus that fails only the status write (clearing OSF).
    struct FailStatusWrite(VirtualDs3231);

    impl embedded_hal::i2c::ErrorType for FailStatusWrite {
        type Error = embedded_hal::i2c::ErrorKind;
    }

    impl I2c for FailStatusWrite {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [embedded_hal::i2c::Operation<'_>],
        ) -> Result<(), Self::Error> {
            if let Some(embedded_hal::i2c::Operation::Write(b)) = operations.first() {
                if b.first() == Some(&0x0F) && b.len() > 1 {
                    return Err(embedded_hal::i2c::ErrorKind::Bus);
                }
            }
            self.0.transaction(address, operations)
        }
    }

    #[test]
    fn a_failed_flag_clear_is_reported_and_leaves_the_time_untrusted() {
        let (_, clock) = fake_clock(T0);
        let sim = VirtualDs3231::new(clock);
        let mut rtc = Rtc::new(FailStatusWrite(sim.clone()));
        let e = rtc.write_utc_us(T0).unwrap_err();
        assert_eq!(e.operation, "clearing the DS3231 oscillator-stop flag");
        let r = rtc.read_utc_us().unwrap();
        assert!(r.oscillator_stopped);
        assert!((r.time_us - T0).abs() <= 1_000_000);
    }

    #[test]
    fn garbage_registers_give_an_error_not_a_panic() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        let mut rtc = Rtc::new(sim.clone());
        // The simulation normalises what is written, so use a bus that
        // reads nothing but 0xFF (month 85, ...).
        struct Garbage;
        impl embedded_hal::i2c::ErrorType for Garbage {
            type Error = embedded_hal::i2c::ErrorKind;
        }
        impl I2c for Garbage {
            fn transaction(&mut self, _: u8, ops: &mut [embedded_hal::i2c::Operation<'_>]) -> Result<(), Self::Error> {
                for op in ops {
                    if let embedded_hal::i2c::Operation::Read(b) = op {
                        b.fill(0xFF);
                    }
                }
                Ok(())
            }
        }
        let e = Rtc::new(Garbage).read_utc_us().unwrap_err();
        assert_eq!(e.operation, "reading the time from the DS3231");
        assert!(e.detail.contains("InvalidDeviceState"), "{e}");
        // The simulated chip is still fine.
        embedded_hal::i2c::I2c::write(&mut sim, 0x68, &[0x0F, 0x00]).unwrap();
        assert!(!rtc.read_utc_us().unwrap().oscillator_stopped);
    }
}
