//! The daemon's true time, and its mapping to the monotonic clock.
//!
//! True time is a time base plus a correction (the offset of the time
//! source in force, [`piclock_core::truetime`]). On real hardware, and under
//! `--simulate` at `--speed 1`, the base is `CLOCK_BOOTTIME` ([`BootClock`]):
//! monotonic, counting suspend, and never stepped, so an admin's `date -s`
//! or timesyncd stepping the system clock after a boot from fake-hwclock
//! does not move the hands; the system clock is only one source among the
//! others. Under `--speed N` or `--start-time` (simulation only) true time
//! runs on virtual time ([`VirtualClock`]) from the moment the daemon
//! started.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of true time that the tick thread can also sleep against.
pub trait TrueClock: Send + Sync {
    /// True time now, µs since the Unix epoch.
    fn now_us(&self) -> i64;
    /// The monotonic instant at which true time reaches `true_us`.
    fn instant_at(&self, true_us: i64) -> Instant;
    /// How much faster than real time true time runs (1 unless simulating).
    fn speed(&self) -> f64;
    /// Sets the correction added to the base clock (the source's offset).
    fn set_correction_us(&self, us: i64);
    /// The correction in force.
    fn correction_us(&self) -> i64;
    /// The base clock without the correction, µs.
    fn base_us(&self) -> i64 {
        self.now_us() - self.correction_us()
    }
    /// The system clock now, µs since the Unix epoch, when it is a source
    /// (not under virtual time).
    fn system_us(&self) -> Option<i64> {
        None
    }
}

/// The system clock, µs since the Unix epoch.
pub fn system_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// `CLOCK_BOOTTIME`, µs.
fn boottime_us() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_BOOTTIME exists on
    // every Linux since 2.6.39.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    // `time_t` and `c_long`: 64 bits here, 32 on armhf. Widen before
    // multiplying: 32-bit seconds times 10^6 would saturate at i32::MAX
    // after 36 minutes of uptime, and true time would stop.
    #[allow(clippy::useless_conversion)]
    let (sec, nsec) = (i64::from(ts.tv_sec), i64::from(ts.tv_nsec));
    sec.saturating_mul(1_000_000).saturating_add(nsec / 1000)
}

fn shift(base: Instant, delta_us: i64) -> Instant {
    let d = Duration::from_micros(delta_us.unsigned_abs());
    if delta_us >= 0 {
        base + d
    } else {
        base.checked_sub(d).unwrap_or(base)
    }
}

/// True time on `CLOCK_BOOTTIME` plus a correction. The base is boot time
/// shifted to the system clock's reading when the daemon started, so with
/// no correction true time starts out as the system clock, and then keeps
/// its own pace whatever happens to the system clock.
#[derive(Debug)]
pub struct BootClock {
    epoch_us: i64,
    correction_us: AtomicI64,
}

impl BootClock {
    /// The base anchored at the system clock now, uncorrected.
    pub fn new() -> BootClock {
        BootClock { epoch_us: system_us() - boottime_us(), correction_us: AtomicI64::new(0) }
    }
}

impl Default for BootClock {
    fn default() -> Self {
        BootClock::new()
    }
}

impl TrueClock for BootClock {
    fn now_us(&self) -> i64 {
        self.base_us() + self.correction_us()
    }

    fn instant_at(&self, true_us: i64) -> Instant {
        let (i, t) = (Instant::now(), self.now_us());
        shift(i, true_us - t)
    }

    fn speed(&self) -> f64 {
        1.0
    }

    fn set_correction_us(&self, us: i64) {
        self.correction_us.store(us, Ordering::Relaxed);
    }

    fn correction_us(&self) -> i64 {
        self.correction_us.load(Ordering::Relaxed)
    }

    fn base_us(&self) -> i64 {
        boottime_us() + self.epoch_us
    }

    fn system_us(&self) -> Option<i64> {
        Some(system_us())
    }
}

/// What the kernel says of the system clock: synchronised (by chrony,
/// timesyncd, ntpd: `STA_UNSYNC` clear), and its maximum error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSync {
    /// Whether a time daemon keeps the system clock synchronised.
    pub synchronized: bool,
    /// The kernel's maximum error of the system clock, µs.
    pub max_error_us: i64,
}

/// Why the kernel's view of the system clock could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimebaseError {
    /// `adjtimex` failed.
    #[error("adjtimex: {0}")]
    Adjtimex(#[source] std::io::Error),
}

/// Reads the system clock's synchronisation state (`adjtimex` with no
/// modes: a read, allowed to anyone), as timedated's `NTPSynchronized` does.
pub fn kernel_sync() -> Result<KernelSync, TimebaseError> {
    // SAFETY: an all-zero timex is valid and means "change nothing".
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable timex with modes 0.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(TimebaseError::Adjtimex(std::io::Error::last_os_error()));
    }
    let synchronized = tx.status & libc::STA_UNSYNC == 0 && state != libc::TIME_ERROR;
    // `c_long`: 64 bits here, 32 on armhf.
    #[allow(clippy::useless_conversion)]
    let max_error_us = i64::from(tx.maxerror);
    Ok(KernelSync { synchronized, max_error_us })
}

/// Virtual time for simulation: starts at the system time and runs `speed` times faster.
#[derive(Debug)]
pub struct VirtualClock {
    speed: f64,
    real0: Instant,
    true0_us: i64,
    correction_us: AtomicI64,
}

impl VirtualClock {
    /// Virtual time starting now, at `speed` (> 0).
    pub fn new(speed: f64) -> VirtualClock {
        VirtualClock::starting_at(speed, system_us())
    }

    /// Virtual time starting at `start_us` (µs since the epoch), at `speed`.
    pub fn starting_at(speed: f64, start_us: i64) -> VirtualClock {
        VirtualClock { speed, real0: Instant::now(), true0_us: start_us, correction_us: AtomicI64::new(0) }
    }
}

impl TrueClock for VirtualClock {
    fn now_us(&self) -> i64 {
        let real = self.real0.elapsed().as_secs_f64() * 1e6;
        self.true0_us + (real * self.speed) as i64 + self.correction_us()
    }

    fn instant_at(&self, true_us: i64) -> Instant {
        let real_us = (true_us - self.correction_us() - self.true0_us) as f64 / self.speed;
        shift(self.real0, real_us as i64)
    }

    fn speed(&self) -> f64 {
        self.speed
    }

    fn set_correction_us(&self, us: i64) {
        self.correction_us.store(us, Ordering::Relaxed);
    }

    fn correction_us(&self) -> i64 {
        self.correction_us.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_runs_faster_and_maps_back() {
        let c = VirtualClock::new(60.0);
        let t0 = c.now_us();
        std::thread::sleep(Duration::from_millis(50));
        let dt = c.now_us() - t0;
        assert!((2_900_000..4_000_000).contains(&dt), "{dt}");
        let target = t0 + 6_000_000;
        let i = c.instant_at(target);
        let real = i.duration_since(c.real0).as_secs_f64();
        assert!((real - 0.1).abs() < 0.01, "{real}");
    }

    #[test]
    fn correction_shifts_true_time() {
        let c = BootClock::new();
        let a = c.now_us();
        c.set_correction_us(10_000_000);
        assert!(c.now_us() - a >= 10_000_000);
        let i = c.instant_at(c.now_us() + 1_000_000);
        assert!(i > Instant::now() + Duration::from_millis(900));
        // With no correction, the base starts as the system clock.
        let d = BootClock::new();
        assert!((d.now_us() - system_us()).abs() < 10_000);
        assert_eq!(d.system_us().map(|s| (s - system_us()).abs() < 10_000), Some(true));
    }
}
