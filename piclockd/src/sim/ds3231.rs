//! A register-level simulation of the DS3231 real-time clock on I2C.
//!
//! [`VirtualDs3231`] answers at address [`DS3231_ADDRESS`] (0x68) and implements
//! [`embedded_hal::i2c::I2c`] the way the chip behaves on the bus, so that
//! the `ds323x` driver (and anything else) talks to it unchanged:
//!
//! - A write transfer's first byte sets the register pointer; the following
//!   bytes are written to consecutive registers. A read transfer reads from
//!   the pointer on. The pointer increments after each byte and wraps from
//!   0x12 to 0x00. A pointer beyond 0x12 is not acknowledged.
//! - Registers (datasheet names): 0x00 seconds, 0x01 minutes, 0x02 hours
//!   (bit 6 = 12-hour mode, bit 5 = PM in 12-hour mode), 0x03 day of week
//!   (1..7, user-defined, advancing at midnight), 0x04 date, 0x05 month
//!   (bit 7 = century), 0x06 year (00..99), all in BCD; 0x07..0x0D alarms,
//!   0x0E control, 0x0F status (bit 7 OSF, bit 3 EN32kHz, bit 2 BSY, bits
//!   1..0 alarm flags), 0x10 aging offset, 0x11/0x12 temperature (read-only,
//!   a constant 25.00 °C here). OSF and the alarm flags can only be cleared
//!   by writing 0; writing 1 leaves them as they are.
//! - The time registers are latched into a snapshot at every START (and
//!   repeated START), and again when the pointer wraps to 0x00, as the chip's
//!   secondary registers are, so that a multi-byte read is consistent.
//!   Writes to them take effect at the end of the write; writing the seconds
//!   register resets the sub-second countdown, as on the chip.
//!
//! The time runs with a clock supplied by the owner (`now_us`, µs since the
//! Unix epoch): the daemon passes its virtual clock, so under `--speed N` the
//! chip runs N times faster too. The chip's time is stored as an offset from
//! that clock. Calendar arithmetic is the proleptic Gregorian calendar, with
//! years 2000..2199 shown through the century bit (the real chip's leap-year
//! rule is wrong for 2100; that is not modelled). Out-of-range register
//! values that are written (e.g. 31 February) are normalised arithmetically
//! (to 3 March) rather than reproducing the chip's undefined behaviour.
//!
//! Alarms are stored but never fire; the INT/SQW and 32kHz outputs are not
//! modelled.
//!
//! A [`VirtualDs3231`] is a shared handle: clones refer to the same chip, so a
//! test can inject faults ([`VirtualDs3231::set_failing`],
//! [`VirtualDs3231::set_oscillator_stopped`]) while the daemon owns another
//! clone. With [`VirtualDs3231::with_backing_file`] the chip's state (offset,
//! OSF, 12/24-hour mode, weekday) is kept in a JSON file, written atomically
//! after every change, so that the simulated RTC keeps its time across
//! daemon restarts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};
use serde::{Deserialize, Serialize};

use super::{lock, BackingFileError};
pub use crate::devices::rtc::DS3231_ADDRESS;

/// What the backing file holds, for its errors.
const STATE: &str = "simulated DS3231 state";

/// Number of registers (0x00..=0x12).
const REG_COUNT: usize = 0x13;
/// Number of time-keeping registers (0x00..=0x06).
const TIME_REGS: usize = 7;

const REG_SECONDS: usize = 0x00;
const REG_HOURS: usize = 0x02;
const REG_WEEKDAY: usize = 0x03;
const REG_DATE: usize = 0x04;
const REG_MONTH: usize = 0x05;
const REG_YEAR: usize = 0x06;
const REG_CONTROL: usize = 0x0E;
const REG_STATUS: usize = 0x0F;
const REG_TEMP_MSB: usize = 0x11;
const REG_TEMP_LSB: usize = 0x12;

/// Hours register: 12-hour mode.
const HOURS_12H: u8 = 0x40;
/// Hours register, 12-hour mode: PM.
const HOURS_PM: u8 = 0x20;
/// Month register: century.
const MONTH_CENTURY: u8 = 0x80;
/// Status register: oscillator stop flag.
const STATUS_OSF: u8 = 0x80;
/// Status register: 32 kHz output enabled.
const STATUS_EN32KHZ: u8 = 0x08;
/// Status register bits that can only be cleared (OSF, A2F, A1F).
const STATUS_CLEAR_ONLY: u8 = 0x83;

/// Control register at power-on: INTCN, RS2, RS1.
const CONTROL_POR: u8 = 0x1C;
/// Status register at power-on: OSF and EN32kHz.
const STATUS_POR: u8 = STATUS_OSF | STATUS_EN32KHZ;
/// Temperature registers: 25.00 °C.
const TEMPERATURE: [u8; 2] = [0x19, 0x00];

/// 2000-01-01T00:00:00Z in µs since the Unix epoch: the chip's time after a
/// power-on without battery.
const POR_TIME_US: i64 = 946_684_800_000_000;

const US_PER_S: i64 = 1_000_000;
const S_PER_DAY: i64 = 86_400;

/// The clock the simulated chip runs with: µs since the Unix epoch.
pub type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the backing file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    /// The chip's time minus the clock's, µs.
    offset_us: i64,
    /// The oscillator stop flag.
    oscillator_stopped: bool,
    /// The hours register is in 12-hour mode.
    #[serde(default)]
    twelve_hour: bool,
    /// Weekday register = (days since the epoch + this) mod 7 + 1.
    #[serde(default)]
    weekday_shift: u8,
}

/// The chip's state, behind the handle's mutex.
#[derive(Debug)]
struct Chip {
    /// The chip's time minus the clock's, µs.
    offset_us: i64,
    /// The hours register is in 12-hour mode.
    twelve_hour: bool,
    /// Weekday register = (days since the epoch + this) mod 7 + 1.
    weekday_shift: u8,
    /// Registers 0x07..=0x12 (0x00..=0x06 are computed from the time).
    regs: [u8; REG_COUNT],
    /// The register pointer.
    pointer: usize,
    /// Every transfer answers NoAcknowledge.
    failing: bool,
    /// Where the state is persisted, if anywhere.
    backing: Option<PathBuf>,
}

/// A simulated DS3231 on an I2C bus; clones share the chip.
#[derive(Clone)]
pub struct VirtualDs3231 {
    now_us: NowFn,
    chip: Arc<Mutex<Chip>>,
    unplug_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for VirtualDs3231 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualDs3231").field("chip", &self.chip).finish_non_exhaustive()
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`); `day` may exceed the month's length.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month 1..=12, day 1..=31) of a day
/// number since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn to_bcd(v: u32) -> u8 {
    (((v / 10 % 10) << 4) | (v % 10)) as u8
}

fn from_bcd(b: u8) -> u32 {
    u32::from(b >> 4) * 10 + u32::from(b & 0x0F)
}

impl Chip {
    /// A chip as after power-on without battery: 2000-01-01 00:00:00 at
    /// clock time `now`, oscillator stop flag set.
    fn power_on(now: i64) -> Chip {
        let mut chip = Chip {
            offset_us: 0,
            twelve_hour: false,
            weekday_shift: 0,
            regs: [0; REG_COUNT],
            pointer: 0,
            failing: false,
            backing: None,
        };
        chip.reset(now);
        chip
    }

    /// Resets registers and time to their power-on values.
    fn reset(&mut self, now: i64) {
        self.regs = [0; REG_COUNT];
        self.regs[REG_CONTROL] = CONTROL_POR;
        self.regs[REG_STATUS] = STATUS_POR;
        self.regs[REG_TEMP_MSB] = TEMPERATURE[0];
        self.regs[REG_TEMP_LSB] = TEMPERATURE[1];
        self.offset_us = POR_TIME_US.saturating_sub(now);
        self.twelve_hour = false;
        // 2000-01-01 was a Saturday; the register powers up as 1.
        self.weekday_shift = weekday_shift_for(days_of(POR_TIME_US), 1);
        self.pointer = 0;
    }

    fn saved(&self) -> Saved {
        Saved {
            offset_us: self.offset_us,
            oscillator_stopped: self.regs[REG_STATUS] & STATUS_OSF != 0,
            twelve_hour: self.twelve_hour,
            weekday_shift: self.weekday_shift,
        }
    }

    fn restore(&mut self, s: Saved) {
        self.offset_us = s.offset_us;
        self.twelve_hour = s.twelve_hour;
        self.weekday_shift = s.weekday_shift % 7;
        self.set_osf(s.oscillator_stopped);
    }

    fn set_osf(&mut self, on: bool) {
        if on {
            self.regs[REG_STATUS] |= STATUS_OSF;
        } else {
            self.regs[REG_STATUS] &= !STATUS_OSF;
        }
    }

    /// Writes the backing file, if any; a failure is logged (the chip
    /// itself carries on, as hardware would).
    fn persist(&self) {
        if let Some(path) = &self.backing {
            if let Err(e) = save(path, self.saved()) {
                tracing::warn!("simulated DS3231: {e}");
            }
        }
    }

    /// The time registers 0x00..=0x06 for the chip's time at clock time
    /// `now`, and the sub-second part of that time in µs.
    fn render(&self, now: i64) -> ([u8; TIME_REGS], i64) {
        let t = now.saturating_add(self.offset_us);
        let secs = t.div_euclid(US_PER_S);
        let frac = t.rem_euclid(US_PER_S);
        let days = secs.div_euclid(S_PER_DAY);
        let sod = secs.rem_euclid(S_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (sod / 3600, sod / 60 % 60, sod % 60);
        let hours = if self.twelve_hour {
            let h12 = match hour % 12 {
                0 => 12,
                h => h,
            };
            HOURS_12H | if hour >= 12 { HOURS_PM } else { 0 } | to_bcd(h12)
        } else {
            to_bcd(hour)
        };
        let yy = (year - 2000).rem_euclid(200) as u32;
        let century = if yy >= 100 { MONTH_CENTURY } else { 0 };
        let weekday = (days + i64::from(self.weekday_shift)).rem_euclid(7) as u8 + 1;
        let regs =
            [to_bcd(second), to_bcd(minute), hours, weekday, to_bcd(day), century | to_bcd(month), to_bcd(yy % 100)];
        (regs, frac)
    }

    /// Sets the chip's time from time registers written over the bus
    /// (`frac` µs into the second), at clock time `now`.
    fn commit(&mut self, r: &[u8; TIME_REGS], frac: i64, now: i64) {
        let second = from_bcd(r[REG_SECONDS] & 0x7F);
        let minute = from_bcd(r[1] & 0x7F);
        let h = r[REG_HOURS];
        self.twelve_hour = h & HOURS_12H != 0;
        let hour = if self.twelve_hour {
            from_bcd(h & 0x1F) % 12 + if h & HOURS_PM != 0 { 12 } else { 0 }
        } else {
            from_bcd(h & 0x3F)
        };
        let day = from_bcd(r[REG_DATE] & 0x3F);
        let month = from_bcd(r[REG_MONTH] & 0x1F).clamp(1, 12);
        let century = if r[REG_MONTH] & MONTH_CENTURY != 0 { 100 } else { 0 };
        let year = 2000 + century + i64::from(from_bcd(r[REG_YEAR]));
        let days = days_from_civil(year, month, day.max(1));
        let secs = days * S_PER_DAY + i64::from(hour * 3600 + minute * 60 + second);
        let t = secs * US_PER_S + frac;
        self.offset_us = t.saturating_sub(now);
        self.weekday_shift = weekday_shift_for(days_of(t), r[REG_WEEKDAY]);
    }

    /// Writes one byte at the pointer (time registers go to `time`).
    fn write_byte(&mut self, time: &mut [u8; TIME_REGS], v: u8) -> bool {
        let a = self.pointer;
        let mut touched_time = false;
        match a {
            0..=6 => {
                if let Some(slot) = time.get_mut(a) {
                    *slot = v;
                    touched_time = true;
                }
            }
            REG_STATUS => {
                let old = self.regs[REG_STATUS];
                self.regs[REG_STATUS] = (old & v & STATUS_CLEAR_ONLY) | (v & STATUS_EN32KHZ);
            }
            REG_TEMP_MSB | REG_TEMP_LSB => {}
            _ => {
                if let Some(slot) = self.regs.get_mut(a) {
                    *slot = v;
                }
            }
        }
        self.pointer = (a + 1) % REG_COUNT;
        touched_time
    }

    /// Reads one byte at the pointer (time registers from `time`).
    fn read_byte(&mut self, time: &[u8; TIME_REGS]) -> u8 {
        let a = self.pointer;
        let v = if a < TIME_REGS { time.get(a) } else { self.regs.get(a) };
        self.pointer = (a + 1) % REG_COUNT;
        v.copied().unwrap_or(0)
    }
}

/// Days since the epoch of a time in µs.
fn days_of(t: i64) -> i64 {
    t.div_euclid(US_PER_S).div_euclid(S_PER_DAY)
}

/// The weekday shift that makes day `days` show weekday register `reg`.
fn weekday_shift_for(days: i64, reg: u8) -> u8 {
    let want = i64::from(reg.clamp(1, 7)) - 1;
    (want - days).rem_euclid(7) as u8
}

/// Writes the backing file.
fn save(path: &Path, s: Saved) -> Result<(), BackingFileError> {
    let what = path.display().to_string();
    Ok(crate::files::save_json(path, &s, &what, crate::files::Durability::ProcessCrash)?)
}

/// Direction of the current part of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Write,
    Read,
}

impl VirtualDs3231 {
    /// A chip running with the clock `now_us` (µs since the Unix epoch), as
    /// after power-on without battery: it shows 2000-01-01 00:00:00 in
    /// 24-hour mode, and the oscillator stop flag is set (so a careful
    /// reader does not trust it until the time is set).
    pub fn new(now_us: NowFn) -> VirtualDs3231 {
        let chip = Chip::power_on(now_us());
        VirtualDs3231 { now_us, chip: Arc::new(Mutex::new(chip)), unplug_file: None }
    }

    /// Keeps the chip's state in the JSON file `path`: loads it if the file
    /// exists (otherwise writes the current state there), and rewrites it
    /// atomically after every change.
    ///
    /// Fails, naming the path, if the file cannot be read, parsed or
    /// written.
    pub fn with_backing_file(self, path: impl AsRef<Path>) -> Result<VirtualDs3231, BackingFileError> {
        let path = path.as_ref();
        let loaded = match crate::files::read_bounded(path, crate::files::MAX_SETTINGS_FILE) {
            Ok(bytes) => Some(serde_json::from_slice::<Saved>(&bytes).map_err(|source| BackingFileError::Parse {
                what: STATE,
                path: path.to_path_buf(),
                source,
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(BackingFileError::Read { what: STATE, path: path.to_path_buf(), source }),
        };
        {
            let mut chip = lock(&self.chip);
            if let Some(s) = loaded {
                chip.restore(s);
            }
            chip.backing = Some(path.to_path_buf());
            save(path, chip.saved())?;
        }
        Ok(self)
    }

    /// While the file `path` exists, the chip is "unplugged": every transfer
    /// answers NoAcknowledge. Lets a person or a test pull the simulated RTC
    /// off the bus of a running daemon (`touch <state-dir>/virtual-rtc.unplugged`).
    pub fn with_unplug_file(mut self, path: impl AsRef<Path>) -> VirtualDs3231 {
        self.unplug_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// While `failing`, every transfer answers NoAcknowledge (a chip that
    /// is missing, unpowered or hung), changing nothing.
    pub fn set_failing(&self, failing: bool) {
        lock(&self.chip).failing = failing;
    }

    /// Sets or clears the oscillator stop flag (OSF, status bit 7), as a
    /// power loss without battery sets it. Only the flag changes; see
    /// [`VirtualDs3231::power_loss`] for the full effect.
    pub fn set_oscillator_stopped(&self, stopped: bool) {
        let mut chip = lock(&self.chip);
        chip.set_osf(stopped);
        chip.persist();
    }

    /// The oscillator stop flag.
    pub fn oscillator_stopped(&self) -> bool {
        lock(&self.chip).regs[REG_STATUS] & STATUS_OSF != 0
    }

    /// A power loss without battery: registers and time back to their
    /// power-on values (2000-01-01 00:00:00, 24-hour mode), OSF set.
    pub fn power_loss(&self) {
        let now = (self.now_us)();
        let mut chip = lock(&self.chip);
        chip.reset(now);
        chip.persist();
    }

    /// The chip's time minus the clock's, µs.
    pub fn offset_from_clock_us(&self) -> i64 {
        lock(&self.chip).offset_us
    }

    /// Sets the chip's time to the clock's plus `offset_us` (as if it had
    /// been set that way), leaving OSF alone.
    pub fn set_offset_from_clock_us(&self, offset_us: i64) {
        let mut chip = lock(&self.chip);
        chip.offset_us = offset_us;
        chip.persist();
    }

    /// The chip's time now, µs since the Unix epoch, with the sub-second
    /// part the registers do not show.
    pub fn time_us(&self) -> i64 {
        let now = (self.now_us)();
        now.saturating_add(lock(&self.chip).offset_us)
    }

    /// The raw register file 0x00..=0x12 as a read would show it now (for
    /// tests and diagnostics; the register pointer is not moved).
    pub fn registers(&self) -> [u8; REG_COUNT] {
        let now = (self.now_us)();
        let chip = lock(&self.chip);
        let (time, _) = chip.render(now);
        let mut regs = chip.regs;
        regs[..TIME_REGS].copy_from_slice(&time);
        regs
    }
}

impl ErrorType for VirtualDs3231 {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for VirtualDs3231 {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        let now = (self.now_us)();
        let mut chip = lock(&self.chip);
        let unplugged = self.unplug_file.as_ref().is_some_and(|f| f.exists());
        if chip.failing || unplugged || address != DS3231_ADDRESS {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        let before = chip.saved();
        let (mut time, mut frac) = chip.render(now);
        let mut touched_time = false;
        let mut seconds_written = false;
        let mut phase: Option<Phase> = None;
        let mut want_pointer = false;
        let mut result = Ok(());

        'ops: for op in operations.iter_mut() {
            let this = match op {
                Operation::Write(_) => Phase::Write,
                Operation::Read(_) => Phase::Read,
            };
            if phase != Some(this) {
                // (Repeated) START: finish a write, latch the time again.
                if touched_time {
                    chip.commit(&time, if seconds_written { 0 } else { frac }, now);
                    touched_time = false;
                    seconds_written = false;
                }
                (time, frac) = chip.render(now);
                phase = Some(this);
                want_pointer = this == Phase::Write;
            }
            match op {
                Operation::Write(bytes) => {
                    for &b in bytes.iter() {
                        if want_pointer {
                            if usize::from(b) >= REG_COUNT {
                                result = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
                                break 'ops;
                            }
                            chip.pointer = usize::from(b);
                            want_pointer = false;
                        } else {
                            seconds_written |= chip.pointer == REG_SECONDS;
                            touched_time |= chip.write_byte(&mut time, b);
                        }
                    }
                }
                Operation::Read(buf) => {
                    for x in buf.iter_mut() {
                        if chip.pointer == 0 {
                            // The secondary registers update on rollover.
                            (time, frac) = chip.render(now);
                        }
                        *x = chip.read_byte(&time);
                    }
                }
            }
        }
        if touched_time {
            chip.commit(&time, if seconds_written { 0 } else { frac }, now);
        }
        if chip.saved() != before {
            chip.persist();
        }
        result
    }
}

/// A clock a test moves by hand, and the [`NowFn`] that reads it.
#[cfg(test)]
pub(crate) fn fake_clock(start_us: i64) -> (Arc<std::sync::atomic::AtomicI64>, NowFn) {
    use std::sync::atomic::{AtomicI64, Ordering};
    let t = Arc::new(AtomicI64::new(start_us));
    let t2 = t.clone();
    (t, Arc::new(move || t2.load(Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// 2024-02-29T23:59:58Z, a Thursday.
    const T0: i64 = 1_709_251_198 * US_PER_S;

    fn read_regs(sim: &mut VirtualDs3231, from: u8, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        sim.write_read(DS3231_ADDRESS, &[from], &mut buf).unwrap();
        buf
    }

    #[test]
    fn calendar_conversions() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 1, 1) * S_PER_DAY * US_PER_S, POR_TIME_US);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(days_from_civil(2100, 3, 1) - 1), (2100, 2, 28));
        assert_eq!(days_from_civil(2023, 2, 31), days_from_civil(2023, 3, 3));
        for d in -800_000..800_000 {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
        assert_eq!((to_bcd(59), from_bcd(0x59)), (0x59, 59));
    }

    #[test]
    fn powers_on_at_2000_with_osf() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        assert!(sim.oscillator_stopped());
        assert_eq!(sim.time_us(), POR_TIME_US);
        // Seconds .. year, control, status, aging, temperature.
        let r = read_regs(&mut sim, 0, REG_COUNT);
        assert_eq!(r[..7], [0x00, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]);
        assert_eq!(r[REG_CONTROL], 0x1C);
        assert_eq!(r[REG_STATUS], 0x88);
        assert_eq!(r[0x10], 0);
        assert_eq!(r[REG_TEMP_MSB..], [0x19, 0x00]);
        assert_eq!(r, sim.registers());
    }

    #[test]
    fn time_set_by_registers_runs_with_the_clock() {
        let (t, clock) = fake_clock(T0 + 300_000);
        let mut sim = VirtualDs3231::new(clock);
        // 2024-02-29 (Thursday = 5 counting from Sunday) 23:59:58, 24 h.
        sim.write(DS3231_ADDRESS, &[0x00, 0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24]).unwrap();
        // Writing the seconds reset the sub-second countdown.
        assert_eq!(sim.offset_from_clock_us(), -300_000);
        assert_eq!(sim.time_us(), T0);
        t.store(T0 + 300_000 + 2 * US_PER_S, Ordering::Relaxed);
        // Midnight: the date, month and weekday roll over.
        assert_eq!(read_regs(&mut sim, 0, 7), [0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24]);
        // Seven days later: the weekday has gone once around.
        t.store(T0 + 300_000 + (2 + 7 * S_PER_DAY) * US_PER_S, Ordering::Relaxed);
        assert_eq!(read_regs(&mut sim, 3, 2), [0x06, 0x08]);
        // Setting the OSF bit by writing 1 is not possible; clearing is.
        assert!(sim.oscillator_stopped());
        sim.write(DS3231_ADDRESS, &[0x0F, 0xFF]).unwrap();
        assert_eq!(read_regs(&mut sim, 0x0F, 1), [0x88]);
        sim.write(DS3231_ADDRESS, &[0x0F, 0x00]).unwrap();
        assert_eq!(read_regs(&mut sim, 0x0F, 1), [0x00]);
        assert!(!sim.oscillator_stopped());
        sim.write(DS3231_ADDRESS, &[0x0F, 0x80]).unwrap();
        assert!(!sim.oscillator_stopped());
    }

    #[test]
    fn twelve_hour_mode_and_century() {
        let (t, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        // 11:59:59 PM, 12-hour mode, on 2099-12-31.
        sim.write(DS3231_ADDRESS, &[0x00, 0x59, 0x59, 0x40 | 0x20 | 0x11, 0x05, 0x31, 0x12, 0x99]).unwrap();
        assert_eq!(read_regs(&mut sim, 2, 1), [0x71]);
        t.store(T0 + US_PER_S, Ordering::Relaxed);
        // 12:00:00 AM on 2100-01-01: century bit set, year 00.
        assert_eq!(read_regs(&mut sim, 0, 7), [0x00, 0x00, 0x52, 0x06, 0x01, 0x81, 0x00]);
        t.store(T0 + (1 + 13 * 3600) * US_PER_S, Ordering::Relaxed);
        assert_eq!(read_regs(&mut sim, 2, 1), [0x61]); // 1 PM
        t.store(T0 + (1 + 12 * 3600) * US_PER_S, Ordering::Relaxed);
        assert_eq!(read_regs(&mut sim, 2, 1), [0x72]); // 12 PM (noon)
                                                       // Writing only the hours register in 24-hour mode keeps the rest.
        sim.write(DS3231_ADDRESS, &[0x02, 0x08]).unwrap();
        assert_eq!(read_regs(&mut sim, 0, 7), [0x00, 0x00, 0x08, 0x06, 0x01, 0x81, 0x00]);
    }

    #[test]
    fn pointer_auto_increments_and_wraps() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        sim.write(DS3231_ADDRESS, &[0x10, 0x7F]).unwrap(); // aging
                                                           // A read without a pointer write continues from the pointer (0x11).
        let mut b = [0u8; 4];
        sim.read(DS3231_ADDRESS, &mut b).unwrap();
        assert_eq!(b, [0x19, 0x00, 0x00, 0x00]); // 0x11, 0x12, then 0x00, 0x01
                                                 // Writes wrap too: 0x12 (read-only) then seconds.
        sim.write(DS3231_ADDRESS, &[0x12, 0xAA, 0x30]).unwrap();
        assert_eq!(read_regs(&mut sim, 0x00, 1), [0x30]);
        assert_eq!(read_regs(&mut sim, 0x10, 3), [0x7F, 0x19, 0x00]);
        // Alarms and control are plain storage.
        sim.write(DS3231_ADDRESS, &[0x07, 1, 2, 3, 4, 5, 6, 7, 0x05]).unwrap();
        assert_eq!(read_regs(&mut sim, 0x07, 8), [1, 2, 3, 4, 5, 6, 7, 0x05]);
        // Adjacent write operations form one write (no repeated START).
        sim.transaction(DS3231_ADDRESS, &mut [Operation::Write(&[0x07]), Operation::Write(&[9, 8])]).unwrap();
        assert_eq!(read_regs(&mut sim, 0x07, 2), [9, 8]);
        // A pointer past 0x12 is not acknowledged.
        assert_eq!(sim.write(DS3231_ADDRESS, &[0x13, 0]), Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)));
    }

    #[test]
    fn failing_and_wrong_address_nack() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        let handle = sim.clone();
        let nack = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        let mut b = [0u8; 1];
        assert_eq!(sim.read(0x50, &mut b), nack);
        handle.set_failing(true);
        assert_eq!(sim.write(DS3231_ADDRESS, &[0x00, 0x10]), nack);
        assert_eq!(sim.read(DS3231_ADDRESS, &mut b), nack);
        assert_eq!(sim.time_us(), POR_TIME_US);
        handle.set_failing(false);
        assert!(sim.read(DS3231_ADDRESS, &mut b).is_ok());
    }

    #[test]
    fn power_loss_and_offset_setter() {
        let (_, clock) = fake_clock(T0);
        let mut sim = VirtualDs3231::new(clock);
        sim.set_oscillator_stopped(false);
        sim.set_offset_from_clock_us(-1_500_000);
        assert_eq!(sim.time_us(), T0 - 1_500_000);
        assert!(!sim.oscillator_stopped());
        sim.write(DS3231_ADDRESS, &[0x02, 0x45]).unwrap(); // 12-hour mode
        sim.power_loss();
        assert!(sim.oscillator_stopped());
        assert_eq!(sim.time_us(), POR_TIME_US);
        assert_eq!(read_regs(&mut sim, 0, 3), [0, 0, 0]);
    }

    #[test]
    fn backing_file_keeps_the_chip_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtc.json");
        let (t, clock) = fake_clock(T0);
        {
            let mut sim = VirtualDs3231::new(clock.clone()).with_backing_file(&path).unwrap();
            assert!(path.exists());
            sim.write(DS3231_ADDRESS, &[0x00, 0x58, 0x59, 0x71, 0x05, 0x29, 0x02, 0x24]).unwrap();
            sim.write(DS3231_ADDRESS, &[0x0F, 0x08]).unwrap();
        }
        t.store(T0 + 10 * US_PER_S, Ordering::Relaxed);
        let mut sim = VirtualDs3231::new(clock.clone()).with_backing_file(&path).unwrap();
        assert!(!sim.oscillator_stopped());
        assert_eq!(sim.time_us(), T0 + 10 * US_PER_S);
        // 12-hour mode and weekday survive: 2024-03-01 12:00:08 AM, Friday.
        assert_eq!(read_regs(&mut sim, 0, 7), [0x08, 0x00, 0x52, 0x06, 0x01, 0x03, 0x24]);
        sim.set_oscillator_stopped(true);
        let sim = VirtualDs3231::new(clock).with_backing_file(&path).unwrap();
        assert!(sim.oscillator_stopped());
        assert!(!path.with_file_name("virtual-rtc.json.tmp").exists());

        // Garbage and unwritable places name the path.
        std::fs::write(&path, b"{not json").unwrap();
        let (_, clock) = fake_clock(T0);
        let e = VirtualDs3231::new(clock.clone()).with_backing_file(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        let bad = dir.path().join("missing-dir/rtc.json");
        let e = VirtualDs3231::new(clock).with_backing_file(&bad).unwrap_err().to_string();
        assert!(e.contains(&bad.display().to_string()), "{e}");
    }
}
