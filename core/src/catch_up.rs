//! The catch-up planner: the fastest way to bring the hands to true time.
//!
//! With the hands `d` seconds behind on a dial of `N` seconds, fast-forward at
//! `f` ticks/s gains `f - 1` s per second, reverse at `r` ticks/s gains `r + 1`,
//! and waiting (hands stopped) gains 1. Ideal durations are `d / (f - 1)`,
//! `(N - d) / (r + 1)` and `N - d`; the cut-over between forward and reverse
//! lies at `d = N (f - 1) / (f + r)` (6:00:00 for f = 4, r = 2, 6:00:02 once the
//! settle pause is counted).
//!
//! The planner computes the exact durations of what the [`crate::engine`]
//! will really do: ticks on a grid of `1/f` (or `1/r`) s aligned to the second,
//! the target advancing at each whole second, a 1 s settle pause before a
//! pulse in the other direction, and a reverse that stops one second ahead
//! and lets the next whole second meet the hands.

use crate::US_PER_SEC;

/// Pause required between pulses in opposite directions, µs.
pub const SETTLE_US: i64 = US_PER_SEC;

/// How to bring the hands to the right time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The hands are right (within the tolerance): tick once a second.
    InSync,
    /// Fast-forward.
    Forward,
    /// Tick backwards.
    Reverse,
    /// Stop until the time reaches the hands.
    Wait,
}

/// Input to the planner: the situation at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    /// Seconds on the dial.
    pub dial_seconds: u32,
    /// How far the hands are behind the target (`0..dial_seconds`), at `now_us`.
    pub behind: u32,
    /// The instant, µs (only its position within the second matters, and the
    /// settle limits below are on the same clock).
    pub now_us: i64,
    /// Fast-forward rate, ticks/s (at least 2).
    pub fwd_rate: u32,
    /// Reverse rate, ticks/s (0 = never reverse).
    pub rev_rate: u32,
    /// No forward pulse before this instant (settle after a reverse pulse).
    pub forward_not_before_us: i64,
    /// No reverse pulse before this instant (settle after a forward pulse).
    pub reverse_not_before_us: i64,
    /// Whether a pulse on a slot at exactly `now_us` is still to come.
    pub slot_at_now_open: bool,
}

/// The chosen strategy and its expected duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// What to do.
    pub strategy: Strategy,
    /// Time from `now_us` until the hands are right, µs.
    pub duration_us: i64,
}

impl Plan {
    /// The duration rounded up to whole seconds (the D-Bus `CatchUpSeconds`).
    pub fn seconds(&self) -> u32 {
        u32::try_from((self.duration_us + US_PER_SEC - 1).div_euclid(US_PER_SEC)).unwrap_or(u32::MAX)
    }
}

/// Time of slot number `g` of a grid of `rate` slots per second (slot 0 at t = 0).
fn slot_time(g: i64, rate: u32) -> i64 {
    let rate = i64::from(rate);
    g.div_euclid(rate) * US_PER_SEC + g.rem_euclid(rate) * US_PER_SEC / rate
}

/// Index of the first slot at or after `t` (or strictly after, if `strict`).
pub fn first_slot(t: i64, rate: u32, strict: bool) -> i64 {
    let rate_i = i64::from(rate);
    let s = t.div_euclid(US_PER_SEC);
    let mut g = s * rate_i;
    // At most rate + 1 steps.
    while slot_time(g, rate) < t || (strict && slot_time(g, rate) == t) {
        g += 1;
    }
    g
}

/// The time of the first slot of a `rate` grid after `t` (strictly).
pub fn next_slot_after(t: i64, rate: u32) -> i64 {
    slot_time(first_slot(t, rate, true), rate)
}

/// Whole-second boundaries in `(from, to]`.
fn boundaries_between(from: i64, to: i64) -> i64 {
    if to <= from {
        return 0;
    }
    to.div_euclid(US_PER_SEC) - from.div_euclid(US_PER_SEC)
}

/// Smallest `i` in `lo..=hi` with `pred(i)`, assuming `pred` is monotone; `None` if none.
fn search(mut lo: i64, mut hi: i64, pred: impl Fn(i64) -> bool) -> Option<i64> {
    if !pred(hi) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

impl Situation {
    fn start(&self, not_before: i64, rate: u32) -> i64 {
        let from = self.now_us.max(not_before);
        first_slot(from, rate, !self.slot_at_now_open && from == self.now_us)
    }

    /// Duration of fast-forwarding from here, µs.
    pub fn forward_us(&self) -> Option<i64> {
        let d = i64::from(self.behind);
        if d == 0 {
            return Some(0);
        }
        let f = self.fwd_rate.max(2);
        let g0 = self.start(self.forward_not_before_us, f);
        // After the i-th pulse (slot g0 + i - 1) the hands are behind by
        // d + boundaries(now, slot] - i; find the first i where that is 0.
        let behind_after = |i: i64| d + boundaries_between(self.now_us, slot_time(g0 + i - 1, f)) - i;
        let hi = (d + 2) * i64::from(f) + 2 * i64::from(f);
        let i = search(1, hi, |i| behind_after(i) <= 0)?;
        Some(slot_time(g0 + i - 1, f) - self.now_us)
    }

    /// Duration of reversing from here, µs (`None` when reverse is disabled).
    pub fn reverse_us(&self) -> Option<i64> {
        let a = i64::from(self.dial_seconds - self.behind) % i64::from(self.dial_seconds);
        if a == 0 {
            return Some(0);
        }
        if self.rev_rate == 0 {
            return None;
        }
        let r = self.rev_rate;
        let g0 = self.start(self.reverse_not_before_us, r);
        let b = |m: i64| (self.now_us.div_euclid(US_PER_SEC) + m) * US_PER_SEC;
        // The hands are right at boundary m when the pulses on slots before
        // it cover the rest: slots in [start, b(m)) >= a - m.
        let slots_before = |m: i64| (first_slot(b(m), r, false) - g0).max(0);
        let m = search(1, a, |m| slots_before(m) >= a - m)?;
        Some(b(m) - self.now_us)
    }

    /// Duration of waiting for the time to reach the hands, µs.
    pub fn wait_us(&self) -> i64 {
        let a = i64::from(self.dial_seconds - self.behind) % i64::from(self.dial_seconds);
        if a == 0 {
            return 0;
        }
        (self.now_us.div_euclid(US_PER_SEC) + a) * US_PER_SEC - self.now_us
    }

    /// The fastest strategy. Ties go to waiting, then forward, then reverse
    /// (the move with the least risk wins).
    pub fn plan(&self) -> Plan {
        if self.behind == 0 {
            return Plan { strategy: Strategy::InSync, duration_us: 0 };
        }
        let mut best = Plan { strategy: Strategy::Wait, duration_us: self.wait_us() };
        for (strategy, duration) in [(Strategy::Forward, self.forward_us()), (Strategy::Reverse, self.reverse_us())] {
            if let Some(duration_us) = duration {
                if duration_us < best.duration_us {
                    best = Plan { strategy, duration_us };
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dial::{DIAL_12H, DIAL_24H};

    fn situation(n: u32, behind: u32, f: u32, r: u32) -> Situation {
        // Just after a normal tick at t = 0: the next forward pulse may come
        // at once, a reverse only after the settle.
        Situation {
            dial_seconds: n,
            behind,
            now_us: 0,
            fwd_rate: f,
            rev_rate: r,
            forward_not_before_us: 0,
            reverse_not_before_us: SETTLE_US,
            slot_at_now_open: false,
        }
    }

    /// The ideal, continuous optimum of DESIGN.md §2 (with the settle).
    fn ideal_s(n: u32, d: u32, f: u32, r: u32) -> f64 {
        let (n, d) = (f64::from(n), f64::from(d));
        let fwd = d / f64::from(f - 1);
        let wait = n - d;
        let rev = if r > 0 { (n - d) / f64::from(r + 1) + 1.0 } else { f64::INFINITY };
        fwd.min(wait).min(rev)
    }

    #[test]
    fn slots_align_to_the_second() {
        assert_eq!(next_slot_after(0, 4), 250_000);
        assert_eq!(next_slot_after(999_999, 4), 1_000_000);
        assert_eq!(next_slot_after(-1, 3), 0);
        assert_eq!(next_slot_after(0, 3), 333_333);
        assert_eq!(first_slot(250_000, 4, false), 1);
        assert_eq!(first_slot(250_000, 4, true), 2);
    }

    #[test]
    fn one_hour_either_way() {
        let behind = situation(DIAL_12H, 3600, 4, 2).plan();
        assert_eq!(behind.strategy, Strategy::Forward);
        assert!((1199..=1201).contains(&behind.seconds()), "{behind:?}");
        let ahead = situation(DIAL_12H, DIAL_12H - 3600, 4, 2).plan();
        assert_eq!(ahead.strategy, Strategy::Reverse);
        assert!((1200..=1202).contains(&ahead.seconds()), "{ahead:?}");
        let ahead4 = situation(DIAL_12H, DIAL_12H - 3600, 4, 4).plan();
        assert!((720..=722).contains(&ahead4.seconds()), "{ahead4:?}");
        let wait = situation(DIAL_12H, DIAL_12H - 3600, 4, 0).plan();
        assert_eq!(wait.strategy, Strategy::Wait);
        assert_eq!(wait.seconds(), 3600);
    }

    #[test]
    fn cut_over_lies_near_six_hours() {
        let first_reverse =
            (20_000..23_000).find(|&d| situation(DIAL_12H, d, 4, 2).plan().strategy == Strategy::Reverse).unwrap();
        assert!((21_600..=21_604).contains(&first_reverse), "cut-over at {first_reverse}");
        // 5 h 59 min ahead: reverse beats forward.
        let p = situation(DIAL_12H, DIAL_12H - (5 * 3600 + 59 * 60), 4, 2).plan();
        assert_eq!(p.strategy, Strategy::Reverse);
    }

    #[test]
    fn small_errors() {
        assert_eq!(situation(DIAL_12H, 0, 4, 2).plan().strategy, Strategy::InSync);
        let one_ahead = situation(DIAL_12H, DIAL_12H - 1, 4, 2).plan();
        assert_eq!(one_ahead.strategy, Strategy::Wait);
        assert_eq!(one_ahead.seconds(), 1);
        let one_behind = situation(DIAL_12H, 1, 4, 2).plan();
        assert_eq!(one_behind.strategy, Strategy::Forward);
        assert_eq!(one_behind.duration_us, 250_000);
    }

    /// For every offset on both dials and several rates, the plan is the
    /// optimum of DESIGN.md §2 within one second.
    #[test]
    fn every_offset_is_planned_within_a_second_of_the_optimum() {
        for n in [DIAL_12H, DIAL_24H] {
            for (f, r) in [(4, 2), (4, 0), (2, 1), (8, 4), (3, 3)] {
                for d in 1..n {
                    let p = situation(n, d, f, r).plan();
                    let got = p.duration_us as f64 / 1e6;
                    let ideal = ideal_s(n, d, f, r);
                    assert!((got - ideal).abs() <= 1.0, "n={n} f={f} r={r} d={d}: {p:?} vs ideal {ideal}");
                }
            }
        }
    }
}
