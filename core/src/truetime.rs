//! Which time to believe: true time as an offset from a monotonic time
//! base, changed only by sources that deserve it.
//!
//! The daemon's true time is its time base (`CLOCK_BOOTTIME`, which a step
//! of the system clock does not move) plus an offset. The sources (NTP
//! servers, the DS3231, the system clock) each offer [`Sample`]s: an offset
//! with its own error bound. The [`TimeKeeper`] decides:
//!
//! - Once it has a *trusted* time (a good NTP sync, an RTC that kept its
//!   oscillator running, a system clock the kernel reports as synchronised),
//!   a sample within the trusted time's error bound plus its own is taken
//!   (small corrections, as before). One that would move true time further
//!   needs an independent second source (another server, the RTC, the
//!   system clock) whose recent sample agrees with it within their bounds.
//!   One source repeating itself is never enough, however often it does so.
//!   Until then the sample is refused ([`Verdict::Disagrees`]).
//! - With no trusted time at all (first boot, no RTC, an unsynchronised
//!   system clock), an RTC or synchronised-system-clock sample is taken at
//!   once; an NTP sample needs an independent agreeing source, or
//!   [`CONFIRMATIONS`] consecutive agreeing samples from its server.
//!
//! A trusted time's error bound grows with the time since it was set, at
//! [`BASE_DRIFT_PPM`] (the uncorrected crystal of the time base), and is
//! never below [`MIN_BOUND_US`]. The figures are justified in the book
//! (`docs/src/guide/time-sources.md`, "Which time the hands follow").

/// Smallest error bound of any time: the dial shows whole seconds, and a
/// second is what an RTC read (whole seconds) and scheduling can be off by.
pub const MIN_BOUND_US: i64 = 1_000_000;
/// Drift of the time base between corrections, ppm: a Raspberry Pi's
/// uncorrected crystal is within ±50 ppm; twice that for margin.
pub const BASE_DRIFT_PPM: i64 = 100;
/// Drift of a DS3231, ppm (its datasheet: ±2 ppm from 0 to +40 °C).
pub const RTC_DRIFT_PPM: i64 = 2;
/// Consecutive agreeing samples one NTP server needs when nothing is trusted.
pub const CONFIRMATIONS: usize = 3;
/// How long a sample may wait for a second source to confirm it, µs.
pub const CANDIDATE_LIFETIME_US: i64 = 3_600_000_000;
/// Most samples kept waiting for confirmation.
const MAX_CANDIDATES: usize = 32;

/// Where a sample came from. Two samples are independent when their
/// sources differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An NTP server, by its entry in the server list.
    Ntp(String),
    /// The DS3231.
    Rtc,
    /// The system clock.
    System,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Ntp(server) => write!(f, "NTP server {server}"),
            Source::Rtc => f.write_str("the RTC"),
            Source::System => f.write_str("the system clock"),
        }
    }
}

/// One reading of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Where it came from.
    pub source: Source,
    /// True time minus the time base, µs.
    pub offset_us: i64,
    /// Its own error bound, µs (raised to [`MIN_BOUND_US`]).
    pub bound_us: i64,
    /// Whether this source can be a trusted time (an NTP sample can; an
    /// RTC that lost power, or an unsynchronised system clock, cannot).
    pub trustworthy: bool,
    /// The time base when it was taken, µs.
    pub at_us: i64,
}

impl Sample {
    fn bound(&self) -> i64 {
        self.bound_us.max(MIN_BOUND_US)
    }

    /// Whether `self` and `other` agree within their bounds, the older one's
    /// grown by the time base's drift since it was taken.
    fn agrees_with(&self, other: &Sample) -> bool {
        let age = (self.at_us - other.at_us).abs();
        (self.offset_us - other.offset_us).abs() <= self.bound() + other.bound() + drift(age, BASE_DRIFT_PPM)
    }
}

/// What `ppm` drift adds over `age_us`.
pub fn drift(age_us: i64, ppm: i64) -> i64 {
    age_us.max(0).saturating_mul(ppm) / 1_000_000
}

/// The time in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// True time minus the time base, µs.
    pub offset_us: i64,
    /// Its error bound when it was set, µs.
    pub bound_us: i64,
    /// The time base when it was set, µs.
    pub at_us: i64,
    /// Where it came from.
    pub source: Source,
    /// Whether it is a trusted time (see the module documentation).
    pub trusted: bool,
}

impl Estimate {
    /// The error bound at time base `now_us`: as set, grown by the drift.
    pub fn bound_at(&self, now_us: i64) -> i64 {
        (self.bound_us + drift(now_us - self.at_us, BASE_DRIFT_PPM)).max(MIN_BOUND_US)
    }
}

/// What the keeper did with a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Taken: true time moved by `moved_us` (0 when it only confirmed).
    Taken {
        /// How far true time moved, µs.
        moved_us: i64,
        /// The independent source that confirmed it, when one had to.
        confirmed_by: Option<Source>,
    },
    /// Refused: it disagrees with the trusted time by `by_us`, more than
    /// the bounds allow (`bound_us`), and no independent source agrees.
    Disagrees {
        /// Sample minus the trusted time, µs.
        by_us: i64,
        /// What the bounds allowed, µs.
        bound_us: i64,
    },
    /// Held: nothing is trusted yet and the sample is not confirmed.
    Unconfirmed {
        /// Agreeing samples so far from this source.
        have: usize,
        /// How many it needs (or one from another source).
        need: usize,
    },
}

/// Decides which time to believe. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct TimeKeeper {
    estimate: Option<Estimate>,
    candidates: Vec<Sample>,
}

impl TimeKeeper {
    /// A keeper starting from an untrusted time (the system clock at start):
    /// it runs the hands until a source replaces it.
    pub fn starting_from(offset_us: i64, at_us: i64) -> TimeKeeper {
        let estimate = Estimate { offset_us, bound_us: i64::MAX / 4, at_us, source: Source::System, trusted: false };
        TimeKeeper { estimate: Some(estimate), candidates: Vec::new() }
    }

    /// The time in force.
    pub fn estimate(&self) -> Option<&Estimate> {
        self.estimate.as_ref()
    }

    /// Whether a trusted time is in force.
    pub fn trusted(&self) -> bool {
        self.estimate.as_ref().is_some_and(|e| e.trusted)
    }

    /// Offers a sample; see the module documentation for the rules.
    pub fn offer(&mut self, sample: Sample) -> Verdict {
        let now = sample.at_us;
        self.candidates.retain(|c| now - c.at_us <= CANDIDATE_LIFETIME_US);
        let confirmed_by = self.confirming(&sample);
        let trusted = self.estimate.as_ref().filter(|e| e.trusted).cloned();
        let verdict = match trusted {
            Some(e) => {
                let by_us = sample.offset_us - e.offset_us;
                let bound_us = e.bound_at(now) + sample.bound();
                if !sample.trustworthy {
                    Verdict::Disagrees { by_us, bound_us }
                } else if by_us.abs() <= bound_us {
                    return self.take_if_better(sample, &e);
                } else if confirmed_by.is_some() {
                    return self.take(sample, confirmed_by);
                } else {
                    Verdict::Disagrees { by_us, bound_us }
                }
            }
            None if !sample.trustworthy => Verdict::Unconfirmed { have: 0, need: CONFIRMATIONS },
            None if confirmed_by.is_some() || !matches!(sample.source, Source::Ntp(_)) => {
                return self.take(sample, confirmed_by);
            }
            None => {
                let have = 1 + self.repeats(&sample);
                if have >= CONFIRMATIONS {
                    return self.take(sample, None);
                } else {
                    Verdict::Unconfirmed { have, need: CONFIRMATIONS }
                }
            }
        };
        self.remember(sample);
        verdict
    }

    /// A trustworthy candidate from another source that agrees with `s`.
    fn confirming(&self, s: &Sample) -> Option<Source> {
        if !s.trustworthy {
            return None;
        }
        self.candidates
            .iter()
            .rev()
            .find(|c| c.trustworthy && c.source != s.source && c.agrees_with(s))
            .map(|c| c.source.clone())
    }

    /// How many of the latest samples from `s`'s source agree with it in a
    /// row (one of its samples that disagrees ends the run).
    fn repeats(&self, s: &Sample) -> usize {
        self.candidates.iter().rev().filter(|c| c.source == s.source).take_while(|c| c.agrees_with(s)).count()
    }

    /// Keeps a trustworthy sample that was not taken, to confirm or be
    /// confirmed later (an untrustworthy one can do neither).
    fn remember(&mut self, s: Sample) {
        if !s.trustworthy {
            return;
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            self.candidates.remove(0);
        }
        self.candidates.push(s);
    }

    /// Within the trusted time's bounds: taken when it is better (a smaller
    /// bound now), otherwise it only confirms the time in force.
    fn take_if_better(&mut self, s: Sample, e: &Estimate) -> Verdict {
        if s.bound() <= e.bound_at(s.at_us) {
            self.take(s, None)
        } else {
            Verdict::Taken { moved_us: 0, confirmed_by: None }
        }
    }

    fn take(&mut self, s: Sample, confirmed_by: Option<Source>) -> Verdict {
        let moved_us = self.estimate.as_ref().map_or(0, |e| s.offset_us - e.offset_us);
        let bound_us = s.bound_us.max(0);
        self.estimate =
            Some(Estimate { offset_us: s.offset_us, bound_us, at_us: s.at_us, source: s.source, trusted: true });
        self.candidates.clear();
        Verdict::Taken { moved_us, confirmed_by }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000;
    const H: i64 = 3600 * S;

    fn ntp(server: &str, offset_us: i64, at_us: i64) -> Sample {
        Sample { source: Source::Ntp(server.into()), offset_us, bound_us: 20_000, trustworthy: true, at_us }
    }

    fn rtc(offset_us: i64, at_us: i64, trustworthy: bool) -> Sample {
        Sample { source: Source::Rtc, offset_us, bound_us: S, trustworthy, at_us }
    }

    #[test]
    fn one_server_three_hours_ahead_never_moves_a_trusted_time() {
        let mut k = TimeKeeper::starting_from(0, 0);
        for i in 0..4 {
            k.offer(ntp("honest", 200_000 + i, (10 + i) * S));
        }
        assert!(k.trusted());
        for i in 0..50 {
            let v = k.offer(ntp("liar", 3 * H, (100 + i * 64) * S));
            assert!(matches!(v, Verdict::Disagrees { .. }), "{i}: {v:?}");
        }
        assert_eq!(k.estimate().map(|e| e.offset_us), Some(200_003));
    }

    #[test]
    fn two_honest_servers_outvote_a_liar_with_nothing_trusted() {
        let mut k = TimeKeeper::default();
        assert!(matches!(k.offer(ntp("liar", 3 * H, S)), Verdict::Unconfirmed { have: 1, .. }));
        assert!(matches!(k.offer(ntp("a", 5_000, 2 * S)), Verdict::Unconfirmed { .. }));
        let v = k.offer(ntp("b", 7_000, 3 * S));
        assert_eq!(v, Verdict::Taken { moved_us: 0, confirmed_by: Some(Source::Ntp("a".into())) }, "no time before");
        assert_eq!(k.estimate().map(|e| e.offset_us), Some(7_000));
        assert!(matches!(k.offer(ntp("liar", 3 * H, 4 * S)), Verdict::Disagrees { .. }));
    }

    #[test]
    fn with_nothing_trusted_one_server_needs_consecutive_agreeing_samples() {
        let mut k = TimeKeeper::default();
        assert!(matches!(k.offer(ntp("a", 10 * S, S)), Verdict::Unconfirmed { have: 1, need: 3 }));
        assert!(matches!(k.offer(ntp("a", 10 * S + 1000, 2 * S)), Verdict::Unconfirmed { have: 2, need: 3 }));
        // A sample that disagrees breaks the run.
        assert!(matches!(k.offer(ntp("a", 99 * S, 3 * S)), Verdict::Unconfirmed { have: 1, .. }));
        assert!(matches!(k.offer(ntp("a", 10 * S, 4 * S)), Verdict::Unconfirmed { have: 1, .. }));
        assert!(matches!(k.offer(ntp("a", 10 * S, 5 * S)), Verdict::Unconfirmed { have: 2, .. }));
        // An RTC that lost power, read between two samples, changes nothing.
        assert!(matches!(k.offer(rtc(H, 5 * S, false)), Verdict::Unconfirmed { .. }));
        assert!(matches!(k.offer(ntp("a", 10 * S, 6 * S)), Verdict::Taken { .. }));
        assert!(k.trusted());
    }

    #[test]
    fn a_kept_rtc_is_trusted_at_once_and_a_lost_one_is_not() {
        let mut k = TimeKeeper::starting_from(0, 0);
        assert!(matches!(k.offer(rtc(5 * S, S, false)), Verdict::Unconfirmed { .. }));
        assert!(!k.trusted());
        assert_eq!(k.offer(rtc(5 * S, 2 * S, true)), Verdict::Taken { moved_us: 5 * S, confirmed_by: None });
        assert!(k.trusted());
        // An NTP step far from the RTC's time needs a second source.
        assert!(matches!(k.offer(ntp("a", H, 3 * S)), Verdict::Disagrees { .. }));
        let v = k.offer(ntp("b", H + 10_000, 4 * S));
        assert_eq!(v, Verdict::Taken { moved_us: H + 10_000 - 5 * S, confirmed_by: Some(Source::Ntp("a".into())) });
    }

    #[test]
    fn small_corrections_are_taken_and_the_bound_grows_with_time() {
        let mut k = TimeKeeper::default();
        k.offer(rtc(0, 0, true));
        assert!(matches!(k.offer(ntp("a", 800_000, S)), Verdict::Taken { moved_us: 800_000, .. }));
        let e = k.estimate().cloned().expect("estimate");
        assert_eq!(e.bound_at(S), MIN_BOUND_US);
        // A day later the bound has grown by 100 ppm of a day: 8.64 s.
        assert_eq!(e.bound_at(S + 86_400 * S), 20_000 + 8_640_000);
        assert!(matches!(k.offer(ntp("a", 800_000 + 9 * S, S + 86_400 * S)), Verdict::Taken { .. }));
    }

    #[test]
    fn an_untrusted_sample_never_confirms_or_moves_a_trusted_time() {
        let mut k = TimeKeeper::default();
        k.offer(rtc(0, 0, true));
        let system = Sample { source: Source::System, offset_us: H, bound_us: S, trustworthy: false, at_us: S };
        assert!(matches!(k.offer(system), Verdict::Disagrees { .. }));
        assert!(matches!(k.offer(ntp("a", H, 2 * S)), Verdict::Disagrees { .. }));
        assert_eq!(k.estimate().map(|e| e.offset_us), Some(0));
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        /// However often one source repeats itself, a trusted time moves by
        /// at most the bounds allow.
        #[test]
        fn one_source_alone_never_moves_a_trusted_time_far(
            offsets in proptest::collection::vec(-10 * H..10 * H, 1..40),
        ) {
            let mut k = TimeKeeper::default();
            k.offer(rtc(0, 0, true));
            for (i, o) in offsets.iter().enumerate() {
                let at = (i as i64 + 1) * 64 * S;
                let before = k.estimate().cloned().expect("estimate");
                k.offer(ntp("one", *o, at));
                let after = k.estimate().cloned().expect("estimate");
                prop_assert!((after.offset_us - before.offset_us).abs() <= before.bound_at(at) + MIN_BOUND_US);
            }
        }

        /// Two independent sources that agree always move it, wherever they agree.
        #[test]
        fn two_agreeing_sources_always_move_it(target in -10 * H..10 * H, jitter in -500_000i64..500_000) {
            let mut k = TimeKeeper::default();
            k.offer(rtc(0, 0, true));
            k.offer(ntp("a", target, S));
            k.offer(ntp("b", target + jitter, 2 * S));
            let offset = k.estimate().map(|e| e.offset_us).expect("estimate");
            prop_assert!((offset - target).abs() <= jitter.abs() + MIN_BOUND_US);
        }
    }
}
