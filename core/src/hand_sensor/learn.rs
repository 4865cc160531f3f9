//! Measuring a sensor's window from its first passes.
//!
//! While the belief is certain (set by the user, or found by homing), each
//! clean pass is where the sensor was active in believed positions. After
//! [`LEARN_PASSES`] passes that agree (their centres and widths within
//! [`MAX_SPREAD`] steps of each other) the window is their median: width,
//! offset, and as tolerance the larger of the two spreads (a sensor that
//! jitters by a step is not taken for a wrong belief). Passes that do not
//! agree are dropped oldest first, and learning goes on.

use super::{wrap_half, Pass, Window};

/// Passes measured before a window is taken.
pub const LEARN_PASSES: usize = 3;

/// Largest spread, in steps, of the centres or widths of the passes a
/// window is learned from.
pub const MAX_SPREAD: i64 = 3;

/// Collects passes until they give a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learner {
    passes: Vec<Pass>,
}

impl Learner {
    /// Passes kept so far (at most [`LEARN_PASSES`]).
    pub fn passes(&self) -> usize {
        self.passes.len()
    }

    /// Forgets the passes (the belief they were measured against changed).
    pub fn reset(&mut self) {
        self.passes.clear();
    }

    /// Adds a clean pass of a sensor of `period` steps; returns the window
    /// once the last [`LEARN_PASSES`] passes agree.
    pub fn add(&mut self, pass: Pass, period: u32) -> Option<Window> {
        self.passes.push(pass);
        if self.passes.len() > LEARN_PASSES {
            self.passes.remove(0);
        }
        if self.passes.len() < LEARN_PASSES {
            return None;
        }
        let window = agreed(&self.passes, period);
        if window.is_none() {
            self.passes.remove(0);
        }
        window
    }
}

/// The window the passes agree on, if they do.
fn agreed(passes: &[Pass], period: u32) -> Option<Window> {
    let p2 = 2 * period;
    let base = passes.first()?.doubled_center(period);
    // Centres relative to the first pass (doubled, so whole), then widths.
    let mut centers: Vec<i64> = passes.iter().map(|p| wrap_half(p.doubled_center(period) - base, p2)).collect();
    let mut widths: Vec<i64> = passes.iter().map(|p| i64::from(p.width(period))).collect();
    centers.sort_unstable();
    widths.sort_unstable();
    let spread = |v: &[i64]| v.last().copied().unwrap_or(0) - v.first().copied().unwrap_or(0);
    let (center_spread, width_spread) = (spread(&centers), spread(&widths));
    if center_spread > 2 * MAX_SPREAD || width_spread > MAX_SPREAD {
        return None;
    }
    let width = widths[widths.len() / 2];
    let center = base + centers[centers.len() / 2];
    // first = (doubled centre - (width - 1)) / 2, rounded down.
    let first = (center - (width - 1)).div_euclid(2);
    let tolerance = width_spread.max((center_spread + 1) / 2);
    Some(Window {
        offset: i32::try_from(wrap_half(first, period)).ok()?,
        width: u32::try_from(width).ok()?,
        tolerance: u32::try_from(tolerance).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand_sensor::SECONDS_PERIOD as P;

    fn pass(first: u32, width: u32) -> Pass {
        Pass { first: first % P, last: (first + width - 1) % P }
    }

    #[test]
    fn three_equal_passes_give_the_window() {
        let mut l = Learner::default();
        assert_eq!(l.add(pass(59, 3), P), None);
        assert_eq!(l.add(pass(59, 3), P), None);
        assert_eq!(l.passes(), 2);
        assert_eq!(l.add(pass(59, 3), P), Some(Window { offset: -1, width: 3, tolerance: 0 }));
        // Off centre and wider: a Hall switch over four steps, from 2 s after 12.
        let mut l = Learner::default();
        l.add(pass(2, 4), P);
        l.add(pass(2, 4), P);
        assert_eq!(l.add(pass(2, 4), P), Some(Window { offset: 2, width: 4, tolerance: 0 }));
    }

    #[test]
    fn jitter_becomes_the_tolerance() {
        let mut l = Learner::default();
        l.add(pass(58, 4), P);
        l.add(pass(59, 3), P);
        let w = l.add(pass(0, 2), P).expect("they agree");
        assert_eq!((w.offset, w.width), (-1, 3));
        assert_eq!(w.tolerance, 2);
    }

    #[test]
    fn passes_that_disagree_are_dropped_oldest_first() {
        let mut l = Learner::default();
        l.add(pass(40, 3), P);
        l.add(pass(59, 3), P);
        assert_eq!(l.add(pass(59, 3), P), None);
        assert_eq!(l.passes(), 2);
        assert_eq!(l.add(pass(59, 3), P), Some(Window::centered(3)));
    }

    #[test]
    fn the_noon_window_wraps_around_the_dial() {
        let n = 43_200;
        let noon = |first: u32| Pass { first, last: (first + 60) % n };
        let mut l = Learner::default();
        l.add(noon(43_170), n);
        l.add(noon(43_170), n);
        assert_eq!(l.add(noon(43_170), n), Some(Window { offset: -30, width: 61, tolerance: 0 }));
    }
}
