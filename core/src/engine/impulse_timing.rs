//! The engine's side of an impulse line: when the next impulse goes out.
//!
//! In sync, one impulse at every step boundary (on the minute, for a minute
//! line). Catching up, impulses one period apart (`impulse_ms +
//! impulse_gap_ms`) while the planner says forward; holding, nothing until
//! the time reaches the hands. Manual steps and the pulse that settles a
//! doubt after an unclean stop are impulses too, forwards only.

use super::{Decision, Engine, LocalOffset};
use crate::catch_up::Strategy;
use crate::impulse_line::forward_or_hold::ImpulseSituation;
use crate::impulse_line::ImpulseLine;
use crate::waveform::MoveKind;
use crate::US_PER_SEC;

impl Engine {
    /// The earliest start of the next impulse: a period after the last
    /// one's, and not before the rest after a restart.
    fn next_free_us(&self) -> i64 {
        let period = ImpulseLine::period_us(&self.config);
        let after_last = self.last_pulse.map_or(i64::MIN / 2, |(at, _)| at + period);
        after_last.max(self.rest_until)
    }

    pub(super) fn impulse_situation(
        &self,
        line: ImpulseLine,
        hands: u32,
        now_us: i64,
        tz: LocalOffset<'_>,
    ) -> ImpulseSituation {
        let step = line.step_s;
        ImpulseSituation {
            dial_steps: self.dial.seconds() / step,
            step_s: step,
            behind: self.dial.behind(line.floor(hands), self.target_at(now_us, tz)) / step,
            now_us,
            period_us: ImpulseLine::period_us(&self.config),
            next_free_us: self.next_free_us(),
            catch_up: line.catch_up,
        }
    }

    /// [`Engine::next`] for an impulse line, from `after` (the last instant
    /// dealt with).
    pub(super) fn next_impulse(&self, line: ImpulseLine, hands: u32, after: i64, tz: LocalOffset<'_>) -> Decision {
        let soonest = (after + 1).max(self.next_free_us());
        let step_us = i64::from(line.step_s) * US_PER_SEC;
        let next_boundary = (after.div_euclid(step_us) + 1) * step_us;
        let impulse = || Some(self.planned(MoveKind::Impulse, hands, self.manual > 0));
        if self.manual > 0 || (self.resolve && !self.paused) {
            return Decision { at_us: soonest, action: impulse() };
        }
        if self.paused {
            return Decision { at_us: next_boundary, action: None };
        }
        let strategy = self.impulse_situation(line, hands, after, tz).plan().strategy;
        let at = match strategy {
            Strategy::Forward => soonest,
            // In sync or holding: the next change of the target (or the
            // first instant an impulse may go, when that is later).
            _ => next_boundary.max(self.next_free_us()),
        };
        let go = self.impulse_situation(line, hands, at, tz).plan().strategy == Strategy::Forward;
        Decision { at_us: at, action: if go { impulse() } else { None } }
    }
}

#[cfg(test)]
mod tests;
