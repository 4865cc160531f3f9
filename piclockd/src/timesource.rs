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
//!
//! [`TimeSources::new`] returns the task together with its [`TimeHandle`]:
//! a watch of the [`TimeStatus`] (as the tick thread has one of its
//! snapshots) and the channel for `SyncNow` requests. The servers are read
//! from the saved settings' watch at each poll.

use crate::devices::rtc::{Rtc, RtcReading};
use crate::ntp::client::{query_first, NtpError, Sample};
use crate::saved_settings::SavedSettings;
use crate::timebase::TrueClock;
use piclock_core::ntp::PollPolicy;
use piclock_dbus::names::{component, time_source};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long one NTP query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// RTC error tolerated before a write-back, µs.
pub const RTC_TOLERANCE_US: i64 = 500_000;

/// What the time properties show, and what the time task last reported.
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
    /// Time-source devices failing now, as (`Fault` component, message).
    pub faults: Vec<(&'static str, String)>,
    /// The outcome of the latest NTP query (`SyncFinished`), if any.
    pub last_query: Option<QueryOutcome>,
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
            faults: Vec::new(),
            last_query: None,
        }
    }
}

impl TimeStatus {
    /// Records a fault of `component` (or clears it with `None`).
    fn set_fault(&mut self, component: &'static str, message: Option<String>) {
        self.faults.retain(|(c, _)| *c != component);
        if let Some(m) = message {
            self.faults.push((component, m));
        }
    }
}

/// One NTP query's outcome: the arguments of `SyncFinished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOutcome {
    /// Counts the queries since start, so that each is signalled once.
    pub seq: u64,
    /// Whether a good reply was taken.
    pub success: bool,
    /// The server that answered (or the first one asked).
    pub server: String,
    /// System clock minus NTP time, µs (0 on failure).
    pub offset_us: i64,
    /// Details, or why it failed.
    pub message: String,
}

/// The time task's side of the daemon: what it publishes and what it takes.
pub struct TimeHandle {
    /// What the time properties show.
    pub status: watch::Receiver<TimeStatus>,
    /// `SyncNow` asks the task to query now (one pending request covers the next).
    pub sync_requests: mpsc::Sender<()>,
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

/// The time-sources task.
pub struct TimeSources {
    clock: Arc<dyn TrueClock>,
    status: watch::Sender<TimeStatus>,
    rtc: Option<Box<dyn RtcDevice>>,
    settings: watch::Receiver<SavedSettings>,
    interval: Duration,
    requests: mpsc::Receiver<()>,
    queries: u64,
}

impl TimeSources {
    /// The task, polling every `interval` the servers of the saved
    /// settings, with the RTC if there is one; and its handle.
    pub fn new(
        clock: Arc<dyn TrueClock>,
        rtc: Option<Box<dyn RtcDevice>>,
        settings: watch::Receiver<SavedSettings>,
        interval: Duration,
    ) -> (TimeSources, TimeHandle) {
        let (status_tx, status_rx) = watch::channel(TimeStatus::default());
        let (req_tx, req_rx) = mpsc::channel(1);
        let task = TimeSources { clock, status: status_tx, rtc, settings, interval, requests: req_rx, queries: 0 };
        (task, TimeHandle { status: status_rx, sync_requests: req_tx })
    }

    fn read(&self) -> TimeStatus {
        self.status.borrow().clone()
    }

    fn write(&self, f: impl FnOnce(&mut TimeStatus)) {
        self.status.send_modify(f);
    }

    /// Reads the RTC once at start and takes its time if it can be trusted,
    /// so that true time is right from the first tick.
    pub fn start_from_rtc(&mut self) {
        let base = self.clock.base_us();
        let Some(rtc) = self.rtc.as_mut() else {
            return;
        };
        match rtc.read() {
            Ok(r) if !r.oscillator_stopped => {
                let diff = r.time_us - base;
                self.clock.set_correction_us(diff);
                self.write(|s| {
                    s.rtc_present = true;
                    s.rtc_minus_base_us = Some(diff);
                    s.source = time_source::RTC;
                });
                tracing::info!("true time from the RTC: {} ms from the system clock", diff / 1000);
            }
            Ok(r) => {
                self.write(|s| {
                    s.rtc_present = true;
                    s.rtc_minus_base_us = Some(r.time_us - base);
                });
                tracing::warn!("the RTC lost power (oscillator stopped): not trusted until NTP sets it");
            }
            Err(e) => {
                tracing::warn!("RTC: {e}; true time is the system clock");
                self.write(|s| {
                    s.rtc_present = false;
                    s.set_fault(component::RTC, Some(e));
                });
            }
        }
    }

    /// Runs until the handle is dropped: polls NTP on the policy's schedule
    /// or on request, publishing each outcome in the status watch.
    pub async fn run(mut self) {
        let mut policy = PollPolicy::new(self.interval);
        policy.request_now();
        loop {
            if !policy.is_requested() {
                tokio::select! {
                    _ = tokio::time::sleep(policy.next_delay()) => {}
                    r = self.requests.recv() => {
                        if r.is_none() { return; }
                        policy.request_now();
                    }
                }
            }
            let servers = self.settings.borrow().ntp_servers.clone();
            let outcome = query_first(&servers, QUERY_TIMEOUT).await;
            self.queries += 1;
            let now = match outcome {
                Ok(sample) => {
                    policy.success();
                    self.took(&sample)
                }
                Err(errors) => {
                    policy.failure();
                    self.failed(&servers, &errors, &policy)
                }
            };
            self.check_rtc(now);
        }
    }

    /// A good NTP reply: it sets the correction and the status.
    fn took(&mut self, sample: &Sample) -> i64 {
        self.clock.set_correction_us(sample.offset_us);
        let now = self.clock.now_us();
        tracing::info!(
            server = sample.server,
            offset_us = -sample.offset_us,
            delay_us = sample.delay_us,
            "NTP: system clock minus NTP time"
        );
        let outcome = QueryOutcome {
            seq: self.queries,
            success: true,
            server: sample.server.clone(),
            offset_us: -sample.offset_us,
            message: format!("stratum {}, delay {} µs", sample.stratum, sample.delay_us),
        };
        self.write(|s| {
            s.source = time_source::NTP;
            s.ntp_synchronized = true;
            s.last_sync_us = u64::try_from(now).unwrap_or(0);
            s.ntp_offset_us = -sample.offset_us;
            s.set_fault(component::NTP, None);
            s.last_query = Some(outcome);
        });
        now
    }

    /// No good reply from any server: the last correction stays; the
    /// status says so once the interval has passed.
    fn failed(&mut self, servers: &[String], errors: &[(String, NtpError)], policy: &PollPolicy) -> i64 {
        let msg = errors.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; ");
        tracing::warn!("NTP: no good reply ({msg}); next try in {} s", policy.next_delay().as_secs());
        let interval_us = i64::try_from(self.interval.as_micros()).unwrap_or(i64::MAX);
        let now = self.clock.now_us();
        let outcome = QueryOutcome {
            seq: self.queries,
            success: false,
            server: servers.first().cloned().unwrap_or_default(),
            offset_us: 0,
            message: msg.clone(),
        };
        self.write(|s| {
            if s.last_sync_us == 0 || now - (s.last_sync_us as i64) > interval_us {
                s.ntp_synchronized = false;
                if s.source == time_source::NTP {
                    let trusted_rtc = s.rtc_minus_base_us.is_some() && s.rtc_present;
                    s.source = if trusted_rtc { time_source::RTC } else { time_source::SYSTEM };
                }
            }
            s.set_fault(component::NTP, Some(msg));
            s.last_query = Some(outcome);
        });
        now
    }

    /// Reads the RTC: notes it, writes it back after a good NTP sync when it
    /// is off by more than half a second or lost power, records failures.
    fn check_rtc(&mut self, now: i64) {
        let (synced, was_present) = {
            let s = self.status.borrow();
            (s.source == time_source::NTP, s.rtc_present)
        };
        let base = self.clock.base_us();
        let Some(rtc) = self.rtc.as_mut() else {
            return;
        };
        let read = rtc.read();
        match read {
            Ok(r) if synced && (r.oscillator_stopped || (r.time_us - now).abs() > RTC_TOLERANCE_US) => {
                match rtc.write(now) {
                    Ok(()) => {
                        tracing::info!("RTC set from NTP (it was {} ms off)", (r.time_us - now) / 1000);
                        self.write(|s| {
                            s.rtc_present = true;
                            s.rtc_minus_base_us = Some(now - base);
                            s.set_fault(component::RTC, None);
                        });
                    }
                    Err(e) => self.write(|s| s.set_fault(component::RTC, Some(e))),
                }
            }
            Ok(r) => self.write(|s| {
                s.rtc_present = true;
                if !r.oscillator_stopped {
                    s.rtc_minus_base_us = Some(r.time_us - base);
                }
                s.set_fault(component::RTC, None);
            }),
            Err(e) => self.write(|s| {
                s.rtc_present = false;
                if s.source == time_source::RTC {
                    s.source = time_source::SYSTEM;
                }
                s.set_fault(component::RTC, Some(e));
            }),
        }
        if !was_present && self.read().rtc_present {
            tracing::info!("RTC answers again");
        }
    }
}
