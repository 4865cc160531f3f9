//! One round of NTP queries, judged by the [`TimeKeeper`](piclock_core::truetime::TimeKeeper).

use super::{QueryOutcome, TimeSources, QUERY_TIMEOUT};

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoundEnd {
    /// A sample was taken.
    Taken,
    /// Nothing is trusted yet and a sample waits for confirmation: ask again soon.
    Unconfirmed,
    /// Nothing was taken.
    Failed,
}
use crate::ntp::client::{query_against, NtpError, Sample as NtpSample};
use piclock_core::truetime::{Sample, Source, Verdict};
use piclock_dbus::names::component;

impl TimeSources {
    /// Asks the servers in order (the dropped ones left out) until the
    /// keeper takes a sample; the synchronised system clock is offered
    /// first. Publishes the outcome (`SyncFinished`), except while a sample
    /// waits for confirmation (the next round follows soon).
    pub(super) async fn round(&mut self) -> RoundEnd {
        self.offer_system_clock();
        let listed = self.settings.borrow().ntp_servers.clone();
        let servers: Vec<String> =
            listed.iter().filter(|s| !self.dropped.iter().any(|(d, _)| d == *s)).cloned().collect();
        self.queries += 1;
        let (mut reasons, mut unconfirmed) = (Vec::new(), false);
        for server in &servers {
            let clock = self.clock.clone();
            let base = move || clock.base_us();
            match query_against(server, QUERY_TIMEOUT, &base).await {
                Ok(sample) => match self.judge(server, &sample) {
                    Ok(confirmed_by) => {
                        self.synced(&sample, confirmed_by);
                        return RoundEnd::Taken;
                    }
                    Err((why, waiting)) => {
                        unconfirmed |= waiting;
                        reasons.push(why);
                    }
                },
                Err(e) => {
                    if e.refuses_service() {
                        self.drop_server(server, &e);
                    }
                    tracing::info!(server = %server, "NTP query failed: {e}");
                    reasons.push(format!("{server}: {e}"));
                }
            }
        }
        if servers.is_empty() {
            reasons.push("every server of the list refused service (kiss-of-death) and was dropped".into());
        }
        if unconfirmed {
            // Not a failure: the query goes on with the next sample (after
            // the round gap); SyncFinished comes when it is taken or fails.
            tracing::info!("NTP: {}", reasons.join("; "));
            return RoundEnd::Unconfirmed;
        }
        self.failed(listed.first().cloned().unwrap_or_default(), reasons.join("; "));
        RoundEnd::Failed
    }

    /// Offers a good reply to the keeper: Ok (with the source that had to
    /// confirm it) when taken, else why not, in words for `SyncFinished`,
    /// and whether it waits for confirmation.
    fn judge(&mut self, server: &str, sample: &NtpSample) -> Result<Option<Source>, (String, bool)> {
        let offered = Sample {
            source: Source::Ntp(server.to_owned()),
            offset_us: sample.offset_us,
            bound_us: sample.bound_us(),
            trustworthy: true,
            at_us: self.clock.base_us(),
        };
        let trusted_from = self.keeper.estimate().map(|e| e.source.to_string()).unwrap_or_default();
        match self.offer(offered) {
            Verdict::Taken { confirmed_by, .. } => Ok(confirmed_by),
            Verdict::Disagrees { by_us, bound_us } => {
                let why = format!(
                    "{server}: {:+.1} s from the trusted time (from {trusted_from}), more than the ±{:.1} s their \
                     error bounds allow; not taken until an independent source agrees",
                    by_us as f64 / 1e6,
                    bound_us as f64 / 1e6
                );
                tracing::warn!("NTP: {why}");
                Err((why, false))
            }
            Verdict::Unconfirmed { have, need } => Err((
                format!(
                    "{server}: sample {have} of {need}: with no trusted time yet, one server must repeat itself \
                     {need} times or another source must agree"
                ),
                true,
            )),
        }
    }

    /// A server said DENY or RSTR: not asked again until the list changes.
    fn drop_server(&mut self, server: &str, e: &NtpError) {
        let note = format!("NTP server {server} refused service ({e}): dropped until SetNTPServers or a restart");
        tracing::warn!("{note}");
        self.dropped.push((server.to_owned(), note.clone()));
        self.write(|s| s.notes.push(note));
    }

    /// A sample was taken: the status says synchronised.
    fn synced(&mut self, sample: &NtpSample, confirmed_by: Option<Source>) {
        let now = self.clock.now_us();
        // System clock minus NTP time, as NTPOffsetUSec has always meant.
        let system_minus_ntp = self.clock.system_us().unwrap_or_else(|| self.clock.base_us()) - now;
        let confirmed = confirmed_by.map(|c| format!(", confirmed by {c}")).unwrap_or_default();
        tracing::info!(
            server = sample.server,
            system_minus_ntp,
            delay_us = sample.delay_us,
            "NTP sample taken{confirmed}"
        );
        let outcome = QueryOutcome {
            seq: self.queries,
            success: true,
            server: sample.server.clone(),
            offset_us: system_minus_ntp,
            message: format!(
                "stratum {}, delay {} µs, root distance {} µs{confirmed}",
                sample.stratum, sample.delay_us, sample.root_distance_us
            ),
        };
        self.write(|s| {
            s.ntp_synchronized = true;
            s.last_sync_us = u64::try_from(now).unwrap_or(0);
            s.ntp_offset_us = system_minus_ntp;
            s.set_fault(component::NTP, None);
            s.last_query = Some(outcome);
        });
    }

    /// Nothing was taken: the status says so once the interval has passed.
    fn failed(&mut self, first: String, message: String) {
        let interval_us = i64::try_from(self.interval.as_micros()).unwrap_or(i64::MAX);
        let now = self.clock.now_us();
        let outcome =
            QueryOutcome { seq: self.queries, success: false, server: first, offset_us: 0, message: message.clone() };
        self.write(|s| {
            if s.last_sync_us == 0 || now - (s.last_sync_us as i64) > interval_us {
                s.ntp_synchronized = false;
            }
            s.set_fault(component::NTP, Some(message));
            s.last_query = Some(outcome);
        });
    }
}
