//! Where true time comes from: the time sources, and which of them to believe.
//!
//! True time is the time base ([`crate::timebase`]: `CLOCK_BOOTTIME`, or
//! virtual time under `--simulate --speed N`) plus a correction. The sources
//! offer samples of that correction to a [`TimeKeeper`], which decides what
//! to believe (see [`piclock_core::truetime`]): at start the RTC (trusted if
//! its oscillator kept running) and the system clock (trusted if the kernel
//! reports it synchronised); at every poll (and on `SyncNow`, at most every
//! [`MIN_ROUND_GAP`]) the NTP servers in order, until one is taken. A sample
//! the keeper refuses is reported in `SyncFinished(false, …)`: the hands do
//! not move and the RTC is not written. A server that answers kiss-of-death
//! DENY or RSTR is dropped until `SetNTPServers` or a restart, and `Faults`
//! says so. A step of the system clock is logged and changes nothing by
//! itself. The daemon never sets the system clock.
//!
//! [`TimeSources::new`] returns the task together with its [`TimeHandle`]:
//! a watch of the [`TimeStatus`] (as the tick thread has one of its
//! snapshots) and the channel for `SyncNow` requests. The servers are read
//! from the saved settings' watch at each poll.

mod round;
mod rtc;

use round::RoundEnd;

use crate::devices::rtc::RtcDevice;
use crate::saved_settings::SavedSettings;
use crate::timebase::{kernel_sync, TrueClock};
use piclock_core::ntp::PollPolicy;
use piclock_core::truetime::{Sample, Source, TimeKeeper, Verdict, MIN_BOUND_US};
use piclock_dbus::names::time_source;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How long one NTP query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Shortest time between two rounds of queries, so between two queries to
/// the same server (NIST asks its clients for at least 4 s).
pub const MIN_ROUND_GAP: Duration = Duration::from_secs(4);

/// How often the system clock is compared with the time base, to notice
/// (and log) a step.
const STEP_CHECK: Duration = Duration::from_secs(2);

/// A change of the system clock against the time base larger than this is
/// a step (slewing moves it by at most 500 ppm: 1 ms in 2 s).
const STEP_LIMIT_US: i64 = 500_000;

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
    /// The RTC and the path it is read through ([`RtcDevice::describe`]),
    /// "" when there is none.
    pub rtc_device: String,
    /// RTC minus base clock at the last good read, µs.
    pub rtc_minus_base_us: Option<i64>,
    /// Time-source devices failing now, as (`Fault` component, message).
    pub faults: Vec<(&'static str, String)>,
    /// The outcome of the latest NTP query (`SyncFinished`), if any.
    pub last_query: Option<QueryOutcome>,
    /// What `Faults` shows for the time sources (dropped servers).
    pub notes: Vec<String>,
}

impl Default for TimeStatus {
    fn default() -> Self {
        TimeStatus {
            source: time_source::SYSTEM,
            ntp_synchronized: false,
            last_sync_us: 0,
            ntp_offset_us: 0,
            rtc_present: false,
            rtc_device: String::new(),
            rtc_minus_base_us: None,
            faults: Vec::new(),
            last_query: None,
            notes: Vec::new(),
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

/// The time-sources task.
pub struct TimeSources {
    clock: Arc<dyn TrueClock>,
    status: watch::Sender<TimeStatus>,
    rtc: Option<Box<dyn RtcDevice>>,
    settings: watch::Receiver<SavedSettings>,
    interval: Duration,
    requests: mpsc::Receiver<()>,
    queries: u64,
    keeper: TimeKeeper,
    /// Servers that refused service, with why, until the list changes.
    dropped: Vec<(String, String)>,
    last_round: Option<Instant>,
    /// System clock minus time base at the last look (step detection).
    system_offset: Option<i64>,
    /// Time base when the RTC was last set by this daemon (never, for a
    /// read-only RTC).
    rtc_set_at: Option<i64>,
    /// A read-only RTC's disagreement with NTP was logged (until it agrees).
    rtc_off_noted: bool,
}

impl TimeSources {
    /// The task, polling every `interval` the servers of the saved
    /// settings, with the RTC if there is one; and its handle. True time
    /// starts as the system clock (untrusted) until a source is taken.
    pub fn new(
        clock: Arc<dyn TrueClock>,
        rtc: Option<Box<dyn RtcDevice>>,
        settings: watch::Receiver<SavedSettings>,
        interval: Duration,
    ) -> (TimeSources, TimeHandle) {
        let rtc_device = rtc.as_ref().map(|r| r.describe()).unwrap_or_default();
        let (status_tx, status_rx) = watch::channel(TimeStatus { rtc_device, ..TimeStatus::default() });
        let (req_tx, req_rx) = mpsc::channel(1);
        let base = clock.base_us();
        let keeper = TimeKeeper::starting_from(clock.system_us().map_or(0, |s| s - base), base);
        let task = TimeSources {
            clock,
            status: status_tx,
            rtc,
            settings,
            interval,
            requests: req_rx,
            queries: 0,
            keeper,
            dropped: Vec::new(),
            last_round: None,
            system_offset: None,
            rtc_set_at: None,
            rtc_off_noted: false,
        };
        (task, TimeHandle { status: status_rx, sync_requests: req_tx })
    }

    fn write(&self, f: impl FnOnce(&mut TimeStatus)) {
        self.status.send_modify(f);
    }

    /// Takes what the sources say before the first tick: the RTC and the
    /// system clock (when the kernel says it is synchronised).
    pub fn start(&mut self) {
        self.apply_estimate();
        self.read_rtc(false);
        self.offer_system_clock();
    }

    /// Runs until the handle is dropped: polls NTP on the policy's schedule
    /// or on request, and watches the system clock for steps.
    pub async fn run(mut self) {
        let mut policy = PollPolicy::new(self.interval);
        policy.request_now();
        let mut step_check = tokio::time::interval(STEP_CHECK);
        let mut servers_changed = self.settings.clone();
        loop {
            if !policy.is_requested() {
                tokio::select! {
                    _ = tokio::time::sleep(policy.next_delay()) => {}
                    r = self.requests.recv() => {
                        if r.is_none() { return; }
                        policy.request_now();
                    }
                    _ = step_check.tick() => {
                        self.check_system_step();
                        continue;
                    }
                    r = servers_changed.changed() => {
                        if r.is_ok() { self.forget_dropped(); }
                        continue;
                    }
                }
            }
            self.wait_for_round_gap().await;
            let end = self.round().await;
            match end {
                RoundEnd::Taken => policy.success(),
                // The next sample soon (after the round gap), not after a back-off.
                RoundEnd::Unconfirmed => policy.request_now(),
                RoundEnd::Failed => {
                    policy.failure();
                    tracing::warn!("NTP: nothing taken; next try in {} s", policy.next_delay().as_secs());
                }
            }
            self.read_rtc(end == RoundEnd::Taken);
        }
    }

    /// At least [`MIN_ROUND_GAP`] since the last round (a burst of `SyncNow`
    /// waits; requests meanwhile are one).
    async fn wait_for_round_gap(&mut self) {
        if let Some(last) = self.last_round {
            tokio::time::sleep_until(last + MIN_ROUND_GAP).await;
        }
        self.last_round = Some(Instant::now());
    }

    /// A new server list: the dropped servers may be asked again.
    fn forget_dropped(&mut self) {
        if !self.dropped.is_empty() {
            self.dropped.clear();
            self.write(|s| s.notes.clear());
        }
    }

    /// Offers `sample` to the keeper and puts what it believes in force.
    fn offer(&mut self, sample: Sample) -> Verdict {
        let verdict = self.keeper.offer(sample);
        if let Verdict::Taken { moved_us, .. } = &verdict {
            if *moved_us != 0 {
                tracing::info!("true time moved by {:+.3} s", *moved_us as f64 / 1e6);
            }
            self.apply_estimate();
        }
        verdict
    }

    /// The keeper's estimate in force: the clock's correction and the source shown.
    fn apply_estimate(&self) {
        let Some(e) = self.keeper.estimate() else { return };
        self.clock.set_correction_us(e.offset_us);
        let source = match e.source {
            Source::Ntp(_) => time_source::NTP,
            Source::Rtc => time_source::RTC,
            Source::System => time_source::SYSTEM,
        };
        self.write(|s| s.source = source);
    }

    /// The system clock as a source: trusted when the kernel reports it
    /// synchronised, its bound the kernel's maximum error.
    fn offer_system_clock(&mut self) {
        let Some(system) = self.clock.system_us() else { return };
        let base = self.clock.base_us();
        match kernel_sync() {
            Ok(k) if k.synchronized => {
                let sample = Sample {
                    source: Source::System,
                    offset_us: system - base,
                    bound_us: k.max_error_us.max(MIN_BOUND_US),
                    trustworthy: true,
                    at_us: base,
                };
                if let Verdict::Disagrees { by_us, .. } = self.offer(sample) {
                    tracing::warn!(
                        "the synchronised system clock is {:+.1} s from true time; not followed alone",
                        by_us as f64 / 1e6
                    );
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("system clock synchronisation unknown ({e}); taken as unsynchronised"),
        }
    }

    /// Logs a step of the system clock; it moves nothing by itself.
    fn check_system_step(&mut self) {
        let Some(system) = self.clock.system_us() else { return };
        let offset = system - self.clock.base_us();
        if let Some(before) = self.system_offset {
            let step = offset - before;
            if step.abs() > STEP_LIMIT_US {
                tracing::warn!(
                    "the system clock stepped by {:+.3} s; the hands keep true time (a source must agree to move it)",
                    step as f64 / 1e6
                );
            }
        }
        self.system_offset = Some(offset);
    }
}
