//! Where true time comes from: NTP, else the DS3231, else the system clock.
//!
//! True time is the base clock (the system clock, or virtual time under
//! `--simulate`) plus a correction. At start the RTC is read: if it kept
//! time (oscillator-stopped flag clear) the correction becomes RTC − base
//! and the source `rtc`. Every poll (and on `SyncNow`) the NTP servers are
//! asked in order; a good reply sets the correction to NTP − system, the
//! source `ntp`, and writes the RTC back when it is off by more than half a
//! second (or lost power). Failures back off, emit `SyncFinished(false, …)`
//! and a `Fault`; the last correction is kept (the system clock drifts
//! slowly) and the source says where it came from. The daemon never sets
//! the system clock.

use crate::devices::rtc::{Rtc, RtcReading};
use crate::ntp::client::query_first;
use crate::timebase::TrueClock;
use piclock_core::ntp::PollPolicy;
use piclock_dbus::names::{component, time_source};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one NTP query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// RTC error tolerated before a write-back, µs.
pub const RTC_TOLERANCE_US: i64 = 500_000;

/// What the time properties show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStatus {
    /// `ntp`, `rtc` or `system`.
    pub source: &'static str,
    /// The last query within the interval succeeded.
    pub ntp_synchronized: bool,
    /// True time of the last good reply, µs (0 = never).
    pub last_sync_us: u64,
    /// System clock minus NTP time at the last good reply, µs.
    pub ntp_offset_us: i64,
    /// A DS3231 answered at the last read.
    pub rtc_present: bool,
    /// RTC minus base clock at the last good read, µs.
    pub rtc_minus_base_us: Option<i64>,
}

impl Default for TimeStatus {
    fn default() -> Self {
        TimeStatus {
            source: time_source::SYSTEM,
            ntp_synchronized: false,
            last_sync_us: 0,
            ntp_offset_us: 0,
            rtc_present: false,
            rtc_minus_base_us: None,
        }
    }
}

/// Shared between the time task and the D-Bus properties.
pub type SharedTime = Arc<RwLock<TimeStatus>>;

/// Reads a lock even if a panicking thread poisoned it.
pub fn read(status: &SharedTime) -> TimeStatus {
    status.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write(status: &SharedTime, f: impl FnOnce(&mut TimeStatus)) {
    let mut guard = status.write().unwrap_or_else(|e| e.into_inner());
    f(&mut guard);
}

/// A DS3231 behind any I2C bus.
pub trait RtcDevice: Send {
    /// Reads the RTC.
    fn read(&mut self) -> Result<RtcReading, String>;
    /// Sets it (and clears the oscillator-stopped flag).
    fn write(&mut self, t_us: i64) -> Result<(), String>;
}

impl<I: embedded_hal::i2c::I2c + Send> RtcDevice for Rtc<I> {
    fn read(&mut self) -> Result<RtcReading, String> {
        self.read_utc_us().map_err(|e| e.to_string())
    }
    fn write(&mut self, t_us: i64) -> Result<(), String> {
        self.write_utc_us(t_us).map_err(|e| e.to_string())
    }
}

/// Something happened that D-Bus clients should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeEvent {
    /// After each NTP query: success, server, offset (system − NTP, µs), message.
    SyncFinished(bool, String, i64, String),
    /// A device failed: component, message.
    Fault(&'static str, String),
    /// The time properties changed.
    Changed,
}

/// The time-sources task's inputs.
pub struct TimeSources {
    /// The daemon's clock (its correction is set here).
    pub clock: Arc<dyn TrueClock>,
    /// What the properties show.
    pub status: SharedTime,
    /// The RTC, if one is configured.
    pub rtc: Option<Box<dyn RtcDevice>>,
    /// The NTP servers in force (changed by SetNTPServers).
    pub servers: Arc<RwLock<Vec<String>>>,
    /// Seconds between polls.
    pub interval: Duration,
}

impl TimeSources {
    /// Reads the RTC once at start and takes its time if it can be trusted.
    pub fn start_from_rtc(&mut self) -> Option<TimeEvent> {
        let rtc = self.rtc.as_mut()?;
        match rtc.read() {
            Ok(r) if !r.oscillator_stopped => {
                let diff = r.time_us - self.clock.base_us();
                self.clock.set_correction_us(diff);
                write(&self.status, |s| {
                    s.rtc_present = true;
                    s.rtc_minus_base_us = Some(diff);
                    s.source = time_source::RTC;
                });
                tracing::info!("true time from the RTC: {} ms from the system clock", diff / 1000);
                None
            }
            Ok(r) => {
                write(&self.status, |s| {
                    s.rtc_present = true;
                    s.rtc_minus_base_us = Some(r.time_us - self.clock.base_us());
                });
                tracing::warn!("the RTC lost power (oscillator stopped): not trusted until NTP sets it");
                None
            }
            Err(e) => {
                write(&self.status, |s| s.rtc_present = false);
                Some(TimeEvent::Fault(component::RTC, e))
            }
        }
    }

    /// Runs forever: polls NTP on the policy's schedule or on request,
    /// reporting events through `events`.
    pub async fn run(mut self, mut requests: mpsc::Receiver<()>, events: mpsc::Sender<TimeEvent>) {
        let mut policy = PollPolicy::new(self.interval);
        policy.request_now();
        loop {
            if !policy.is_requested() {
                tokio::select! {
                    _ = tokio::time::sleep(policy.next_delay()) => {}
                    r = requests.recv() => {
                        if r.is_none() { return; }
                        policy.request_now();
                    }
                }
            }
            let servers = self.servers.read().unwrap_or_else(|e| e.into_inner()).clone();
            let outcome = query_first(&servers, QUERY_TIMEOUT).await;
            let mut out = vec![];
            match outcome {
                Ok(sample) => {
                    policy.success();
                    self.clock.set_correction_us(sample.offset_us);
                    let now = self.clock.now_us();
                    write(&self.status, |s| {
                        s.source = time_source::NTP;
                        s.ntp_synchronized = true;
                        s.last_sync_us = u64::try_from(now).unwrap_or(0);
                        s.ntp_offset_us = -sample.offset_us;
                    });
                    tracing::info!(
                        server = sample.server,
                        offset_us = -sample.offset_us,
                        delay_us = sample.delay_us,
                        "NTP: system clock minus NTP time"
                    );
                    out.push(TimeEvent::SyncFinished(
                        true,
                        sample.server.clone(),
                        -sample.offset_us,
                        format!("stratum {}, delay {} µs", sample.stratum, sample.delay_us),
                    ));
                    out.extend(self.check_rtc(now));
                }
                Err(errors) => {
                    policy.failure();
                    let msg = errors.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; ");
                    tracing::warn!("NTP: no good reply ({msg}); next try in {} s", policy.next_delay().as_secs());
                    let interval_us = i64::try_from(self.interval.as_micros()).unwrap_or(i64::MAX);
                    let now = self.clock.now_us();
                    let trusted_rtc = read(&self.status).rtc_minus_base_us.is_some() && read(&self.status).rtc_present;
                    write(&self.status, |s| {
                        if s.last_sync_us == 0 || now - (s.last_sync_us as i64) > interval_us {
                            s.ntp_synchronized = false;
                            if s.source == time_source::NTP {
                                s.source = if trusted_rtc { time_source::RTC } else { time_source::SYSTEM };
                            }
                        }
                    });
                    let first = servers.first().cloned().unwrap_or_default();
                    out.push(TimeEvent::SyncFinished(false, first, 0, msg.clone()));
                    out.push(TimeEvent::Fault(component::NTP, msg));
                    out.extend(self.check_rtc(now));
                }
            }
            out.push(TimeEvent::Changed);
            for e in out {
                if events.send(e).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Reads the RTC: notes it, writes it back after a good NTP sync when it
    /// is off by more than half a second or lost power, reports failures.
    fn check_rtc(&mut self, now: i64) -> Option<TimeEvent> {
        let synced = read(&self.status).source == time_source::NTP;
        let base = self.clock.base_us();
        let rtc = self.rtc.as_mut()?;
        match rtc.read() {
            Ok(r) => {
                let was_present = read(&self.status).rtc_present;
                if synced && (r.oscillator_stopped || (r.time_us - now).abs() > RTC_TOLERANCE_US) {
                    match rtc.write(now) {
                        Ok(()) => {
                            tracing::info!("RTC set from NTP (it was {} ms off)", (r.time_us - now) / 1000);
                            write(&self.status, |s| {
                                s.rtc_present = true;
                                s.rtc_minus_base_us = Some(now - base);
                            });
                        }
                        Err(e) => return Some(TimeEvent::Fault(component::RTC, e)),
                    }
                } else {
                    write(&self.status, |s| {
                        s.rtc_present = true;
                        if !r.oscillator_stopped {
                            s.rtc_minus_base_us = Some(r.time_us - base);
                        }
                    });
                }
                if !was_present {
                    tracing::info!("RTC answers again");
                }
                None
            }
            Err(e) => {
                let was_present = read(&self.status).rtc_present;
                write(&self.status, |s| {
                    s.rtc_present = false;
                    if s.source == time_source::RTC {
                        s.source = time_source::SYSTEM;
                    }
                });
                was_present.then_some(TimeEvent::Fault(component::RTC, e))
            }
        }
    }
}
