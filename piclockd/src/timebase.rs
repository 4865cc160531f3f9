//! The daemon's true time, and its mapping to the monotonic clock.
//!
//! True time is the system clock plus a correction (the NTP offset, once the
//! time-sources work fills it in). Under `--speed N` (simulation only) true
//! time runs N times faster than real time from the moment the daemon started.

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
    /// Sets the correction added to the base clock (NTP or RTC minus base).
    fn set_correction_us(&self, us: i64);
    /// The correction in force.
    fn correction_us(&self) -> i64;
    /// The base clock without the correction (the system clock, or virtual time).
    fn base_us(&self) -> i64 {
        self.now_us() - self.correction_us()
    }
}

fn system_us() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn shift(base: Instant, delta_us: i64) -> Instant {
    let d = Duration::from_micros(delta_us.unsigned_abs());
    if delta_us >= 0 {
        base + d
    } else {
        base.checked_sub(d).unwrap_or(base)
    }
}

/// The system clock plus a correction in µs (0 until NTP measures one).
#[derive(Debug, Default)]
pub struct SystemClock {
    correction_us: AtomicI64,
}

impl SystemClock {
    /// The system clock, uncorrected.
    pub fn new() -> SystemClock {
        SystemClock::default()
    }
}

impl TrueClock for SystemClock {
    fn now_us(&self) -> i64 {
        system_us() + self.correction_us()
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
    fn correction_shifts_system_time() {
        let c = SystemClock::new();
        let a = c.now_us();
        c.set_correction_us(10_000_000);
        assert!(c.now_us() - a >= 10_000_000);
        let i = c.instant_at(c.now_us() + 1_000_000);
        assert!(i > Instant::now() + Duration::from_millis(900));
    }
}
