//! The DS3231 as a time source, and writing it back after a sync.

use super::{TimeSources, RTC_TOLERANCE_US};
use piclock_core::truetime::{drift, Sample, Source, Verdict, MIN_BOUND_US, RTC_DRIFT_PPM};
use piclock_dbus::names::{component, time_source};

/// How long ago the RTC was set, when this daemon has not set it: a year
/// (with 2 ppm that is 63 s of possible drift).
const UNKNOWN_RTC_AGE_US: i64 = 365 * 86_400 * 1_000_000;

impl TimeSources {
    /// The RTC's error bound now: a second (it shows whole seconds) plus
    /// its drift since it was set.
    fn rtc_bound(&self, base: i64) -> i64 {
        let age = self.rtc_set_at.map_or(UNKNOWN_RTC_AGE_US, |set| base - set);
        MIN_BOUND_US + drift(age, RTC_DRIFT_PPM)
    }

    /// Reads the RTC and offers it as a source (trusted if its oscillator
    /// kept running). After an NTP sample was taken (`after_sync`), writes
    /// it back when it is off by more than half a second or lost power:
    /// never from a sample the keeper refused, and never when it is
    /// read-only (then it is not taken as set, and its bound stays that of
    /// an RTC set at an unknown time).
    pub(super) fn read_rtc(&mut self, after_sync: bool) {
        let (base, now) = (self.clock.base_us(), self.clock.now_us());
        let bound = self.rtc_bound(base);
        let synced = self.keeper.estimate().is_some_and(|e| e.trusted && matches!(e.source, Source::Ntp(_)));
        let Some(rtc) = self.rtc.as_mut() else { return };
        let reading = match rtc.read() {
            Ok(r) => r,
            Err(e) => {
                // Faults are shown as text (the `Faults` property).
                let e = e.to_string();
                let known = self.status.borrow().faults.iter().any(|(c, m)| *c == component::RTC && *m == e);
                if !known {
                    tracing::warn!("RTC: {e}");
                }
                self.write(|s| {
                    s.rtc_present = false;
                    if s.source == time_source::RTC {
                        s.source = time_source::SYSTEM;
                    }
                    s.set_fault(component::RTC, Some(e));
                });
                return;
            }
        };
        let off = reading.time_us - now;
        let wrong = reading.oscillator_stopped || off.abs() > RTC_TOLERANCE_US;
        let writable = rtc.writable();
        if after_sync && synced && wrong && !writable {
            let device = rtc.describe();
            self.note_read_only_rtc_off(&device, reading.oscillator_stopped, off);
        } else if after_sync && synced && wrong {
            match rtc.write(now) {
                Ok(()) => {
                    tracing::info!("RTC set from NTP (it was {} ms off)", off / 1000);
                    self.rtc_set_at = Some(base);
                    self.write(|s| {
                        s.rtc_present = true;
                        s.rtc_minus_base_us = Some(now - base);
                        s.set_fault(component::RTC, None);
                    });
                }
                Err(e) => self.write(|s| s.set_fault(component::RTC, Some(e.to_string()))),
            }
            return;
        } else if after_sync && synced {
            self.rtc_off_noted = false;
        }
        if reading.oscillator_stopped && self.queries == 0 {
            let until = if writable { "NTP sets it" } else { "the system sets it" };
            tracing::warn!("the RTC lost power (oscillator stopped): not trusted until {until}");
        }
        self.write(|s| {
            s.rtc_present = true;
            if !reading.oscillator_stopped {
                s.rtc_minus_base_us = Some(reading.time_us - base);
            }
            s.set_fault(component::RTC, None);
        });
        let sample = Sample {
            source: Source::Rtc,
            offset_us: reading.time_us - base,
            bound_us: bound,
            trustworthy: !reading.oscillator_stopped,
            at_us: base,
        };
        let trustworthy = sample.trustworthy;
        if let Verdict::Disagrees { by_us, .. } = self.offer(sample) {
            if trustworthy {
                tracing::warn!("the RTC is {:+.1} s from true time; not followed alone", by_us as f64 / 1e6);
            }
        }
    }

    /// A read-only RTC (the kernel's driver owns it) that NTP found wrong
    /// is not written, and stays an RTC set at an unknown time: logged once
    /// until it agrees again.
    fn note_read_only_rtc_off(&mut self, device: &str, lost_power: bool, off_us: i64) {
        if self.rtc_off_noted {
            return;
        }
        self.rtc_off_noted = true;
        let what = if lost_power {
            "is not trusted (it lost power)".to_owned()
        } else {
            format!("is {:+.1} s off", off_us as f64 / 1e6)
        };
        tracing::info!(
            "the RTC {what} after the NTP sync; not set by this daemon: {device} is set by the system \
             (the kernel's 11-minute mode while the system clock is synchronised, or hwclock --systohc)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::TimeSources;
    use crate::devices::rtc::{RtcDevice, RtcDeviceError, RtcReading};
    use crate::saved_settings::SavedSettings;
    use crate::timebase::{TrueClock, VirtualClock};
    use piclock_core::truetime::{drift, Sample, Source, MIN_BOUND_US, RTC_DRIFT_PPM};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::watch;

    /// An RTC `offset_us` ahead of the base clock that counts its writes.
    struct Fake {
        clock: Arc<dyn TrueClock>,
        offset_us: i64,
        writable: bool,
        writes: Arc<AtomicUsize>,
    }

    impl RtcDevice for Fake {
        fn read(&mut self) -> Result<RtcReading, RtcDeviceError> {
            Ok(RtcReading { time_us: self.clock.base_us() + self.offset_us, oscillator_stopped: false })
        }
        fn write(&mut self, _t_us: i64) -> Result<(), RtcDeviceError> {
            if !self.writable {
                return Err(RtcDeviceError::ReadOnly { device: "fake".into() });
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            self.offset_us = 0;
            Ok(())
        }
        fn writable(&self) -> bool {
            self.writable
        }
        fn describe(&self) -> String {
            if self.writable { "fake (i2c-dev)" } else { "fake (kernel driver, read-only)" }.to_owned()
        }
    }

    /// Time sources with a fake RTC 5 s ahead, read at start (so trusted),
    /// then NTP taken at the base clock's time; and the RTC's write count.
    fn synced_with(writable: bool) -> (TimeSources, watch::Receiver<super::super::TimeStatus>, Arc<AtomicUsize>) {
        let clock: Arc<dyn TrueClock> = Arc::new(VirtualClock::new(1.0));
        let writes = Arc::new(AtomicUsize::new(0));
        let rtc = Fake { clock: clock.clone(), offset_us: 5_000_000, writable, writes: writes.clone() };
        let (_, settings) = watch::channel(SavedSettings::default());
        let (mut ts, handle) = TimeSources::new(clock.clone(), Some(Box::new(rtc)), settings, Duration::from_secs(300));
        ts.start();
        assert_eq!(handle.status.borrow().source, "rtc");
        let base = clock.base_us();
        let ntp =
            Sample { source: Source::Ntp("s".into()), offset_us: 0, bound_us: 20_000, trustworthy: true, at_us: base };
        ts.offer(ntp);
        ts.apply_estimate();
        assert_eq!(handle.status.borrow().source, "ntp");
        (ts, handle.status, writes)
    }

    #[test]
    fn a_writable_rtc_is_set_after_a_sync_and_its_bound_shrinks() {
        let (mut ts, status, writes) = synced_with(true);
        assert_eq!(status.borrow().rtc_device, "fake (i2c-dev)");
        ts.read_rtc(true);
        assert_eq!(writes.load(Ordering::SeqCst), 1);
        let base = ts.clock.base_us();
        assert!(ts.rtc_set_at.is_some());
        assert!(ts.rtc_bound(base) < 2 * MIN_BOUND_US);
    }

    #[test]
    fn a_read_only_rtc_is_never_written_nor_taken_as_set() {
        let (mut ts, status, writes) = synced_with(false);
        assert_eq!(status.borrow().rtc_device, "fake (kernel driver, read-only)");
        for _ in 0..3 {
            ts.read_rtc(true);
        }
        assert_eq!(writes.load(Ordering::SeqCst), 0);
        assert_eq!(ts.rtc_set_at, None);
        let base = ts.clock.base_us();
        assert_eq!(ts.rtc_bound(base), MIN_BOUND_US + drift(super::UNKNOWN_RTC_AGE_US, RTC_DRIFT_PPM));
        assert!(ts.rtc_off_noted, "the disagreement was logged");
        let s = status.borrow();
        assert!(s.rtc_present && s.faults.is_empty(), "{s:?}");
        assert_eq!(s.source, "ntp", "NTP stays in force: the RTC's 5 s are within its bound but no better");
        let rtc_minus_base = s.rtc_minus_base_us.expect("the RTC's time is shown");
        assert!((rtc_minus_base - 5_000_000).abs() < 1_000, "{rtc_minus_base}");
    }
}
