//! The planner of an impulse line: forward round the dial, or hold.
//!
//! With the hands `k` steps behind on a dial of `n` steps of `S` s, and one
//! impulse every `P` s at most (`P <= S`: an impulse and its gap fit one
//! step), going forward gains `1 - P/S` steps per impulse and takes about
//! `k P / (1 - P/S)`; holding, with the hands `n - k` steps ahead, takes
//! `(n - k) S`. There is no third way (no reverse). The planner computes
//! both exactly and takes the shorter (ties hold, which moves nothing):
//!
//! - a minute line at one impulse every 2 s (`n` = 720): forward takes
//!   about 2.07 s a step, so it goes round the dial unless the hands are
//!   less than 24 minutes ahead. The autumn change (an hour ahead) goes
//!   round: 660 steps in about 22.8 minutes instead of holding 60;
//! - a second line at one impulse every 0.5 s (`n` = 43 200): forward takes
//!   1 s a step, so it holds whenever the hands are less than 6 hours
//!   ahead: the autumn change holds for the hour.
//!
//! Exact means: impulses start at `first_us` and then every `P`; the target
//! advances one step at every multiple of `S` s of true time (local offsets
//! are whole minutes); a move counts at its impulse's start.

use super::CatchUp;
use crate::catch_up::{Plan, Strategy};

/// The situation of an impulse line at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImpulseSituation {
    /// Steps once round the dial.
    pub dial_steps: u32,
    /// Seconds of dial per step.
    pub step_s: u32,
    /// How many steps the hands are behind the target (`0..dial_steps`).
    pub behind: u32,
    /// The instant, µs of true time.
    pub now_us: i64,
    /// Impulse start to the next impulse's start, at least, µs.
    pub period_us: i64,
    /// The earliest start of the next impulse, µs (the last one's start
    /// plus the period, or a settle after a restart).
    pub next_free_us: i64,
    /// What to do when the hands are ahead.
    pub catch_up: CatchUp,
}

/// Whole multiples of `step_us` in `(from, to]`.
fn boundaries_between(from: i64, to: i64, step_us: i64) -> i64 {
    if to <= from {
        return 0;
    }
    to.div_euclid(step_us) - from.div_euclid(step_us)
}

impl ImpulseSituation {
    fn step_us(&self) -> i64 {
        i64::from(self.step_s.max(1)) * 1_000_000
    }

    /// Start of the first impulse from here.
    pub fn first_us(&self) -> i64 {
        self.now_us.max(self.next_free_us)
    }

    /// Duration of going forward until the hands are right, µs.
    pub fn forward_us(&self) -> i64 {
        let k = i64::from(self.behind);
        if k == 0 {
            return 0;
        }
        let (t0, p, s) = (self.first_us(), self.period_us.max(1), self.step_us());
        // After impulse i (starting at t0 + (i-1) p) the hands are behind by
        // k + boundaries(now, t_i] - i; that never grows (p <= s), so the
        // first i where it is 0 is found by bisection.
        let behind_after = |i: i64| k + boundaries_between(self.now_us, t0 + (i - 1) * p, s) - i;
        let (mut lo, mut hi) = (1, 2 * k + 2);
        while behind_after(hi) > 0 {
            hi *= 2;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if behind_after(mid) <= 0 {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        t0 + (lo - 1) * p - self.now_us
    }

    /// Duration of holding until the time reaches the hands, µs.
    pub fn hold_us(&self) -> i64 {
        let a = i64::from((self.dial_steps - self.behind % self.dial_steps.max(1)) % self.dial_steps.max(1));
        if a == 0 {
            return 0;
        }
        let s = self.step_us();
        (self.now_us.div_euclid(s) + a) * s - self.now_us
    }

    /// Whether the hands are ahead of the time (within half the dial).
    pub fn ahead(&self) -> bool {
        self.behind > self.dial_steps / 2
    }

    /// Forward or hold, per the catch-up policy; the fastest by default
    /// (ties hold).
    pub fn plan(&self) -> Plan {
        if self.behind == 0 {
            return Plan { strategy: Strategy::InSync, duration_us: 0 };
        }
        let hold = Plan { strategy: Strategy::Wait, duration_us: self.hold_us() };
        if self.catch_up == CatchUp::HoldWhenAhead && self.ahead() {
            return hold;
        }
        let forward = Plan { strategy: Strategy::Forward, duration_us: self.forward_us() };
        if forward.duration_us < hold.duration_us {
            forward
        } else {
            hold
        }
    }
}

#[cfg(test)]
mod tests;
