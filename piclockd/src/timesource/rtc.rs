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
    /// never from a sample the keeper refused.
    pub(super) fn read_rtc(&mut self, after_sync: bool) {
        let (base, now) = (self.clock.base_us(), self.clock.now_us());
        let bound = self.rtc_bound(base);
        let synced = self.keeper.estimate().is_some_and(|e| e.trusted && matches!(e.source, Source::Ntp(_)));
        let Some(rtc) = self.rtc.as_mut() else { return };
        let reading = match rtc.read() {
            Ok(r) => r,
            Err(e) => {
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
        if after_sync && synced && (reading.oscillator_stopped || off.abs() > RTC_TOLERANCE_US) {
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
                Err(e) => self.write(|s| s.set_fault(component::RTC, Some(e))),
            }
            return;
        }
        if reading.oscillator_stopped && self.queries == 0 {
            tracing::warn!("the RTC lost power (oscillator stopped): not trusted until NTP sets it");
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
        if let Verdict::Disagrees { by_us, .. } = self.offer(sample) {
            tracing::warn!("the RTC is {:+.1} s from true time; not followed alone", by_us as f64 / 1e6);
        }
    }
}
