//! Hand sensors: what a hand passing a sensor says about where it is.
//!
//! Two optional sensors watch the hands (wiring: docs/src/guide/sensors.md):
//!
//! - the **seconds** sensor is active while the second hand is within a few
//!   steps of 12: once a turn of the second hand, every minute;
//! - the **noon** sensor is active only while the hour and minute hands are
//!   both at 12: once a turn of the dial.
//!
//! The run of hand positions at which a sensor is active is its [`Window`]:
//! `width` steps, the first of them `offset` steps from 12 (negative:
//! before 12), modulo the sensor's period (60 steps, or the dial).
//!
//! The daemon sees only edges (the sensor turning active or inactive) and
//! knows only where it *believes* the hands are. A clean pass (an edge in,
//! steps all one way, an edge out, every edge caused by one of its own
//! steps) gives the run of believed positions at which the sensor was
//! active: a [`Pass`]. [`check`] compares it with the window; the
//! difference between the two centres is how far the belief is from the
//! physical hands.
//!
//! Modules: [`learn`] measures a window from the first passes;
//! [`drive`] finds where steps were lost and which duty to raise;
//! [`monitor`] is the daemon's state machine (passes, verdicts, faults,
//! homing), fed with moves and edges.

pub mod duty_tuner;
pub mod learn;
pub mod monitor;

use crate::dial::Dial;
use crate::waveform::Direction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Steps of the second hand once around the dial.
pub const SECONDS_PERIOD: u32 = 60;

/// Widest seconds window accepted, steps (half a turn of the second hand).
pub const MAX_SECONDS_WIDTH: u32 = 30;

/// Widest noon window accepted, steps (the hands within half an hour of 12).
pub const MAX_NOON_WIDTH: u32 = 3600;

/// One of the two hand sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// Active while the second hand is near 12 (once a minute).
    Seconds,
    /// Active while the hour and minute hands are both at 12 (once a turn of the dial).
    Noon,
}

impl SensorKind {
    /// Both, seconds first.
    pub const ALL: [SensorKind; 2] = [SensorKind::Seconds, SensorKind::Noon];

    /// The name used in the admin file, the D-Bus properties and the logs.
    pub fn name(self) -> &'static str {
        match self {
            SensorKind::Seconds => "seconds",
            SensorKind::Noon => "noon",
        }
    }

    /// Steps between two passes of the hand: 60, or the whole dial.
    pub fn period(self, dial: Dial) -> u32 {
        match self {
            SensorKind::Seconds => SECONDS_PERIOD,
            SensorKind::Noon => dial.seconds(),
        }
    }

    /// The widest window this sensor can have, steps.
    pub fn max_width(self) -> u32 {
        match self {
            SensorKind::Seconds => MAX_SECONDS_WIDTH,
            SensorKind::Noon => MAX_NOON_WIDTH,
        }
    }

    /// Index into per-sensor arrays: seconds 0, noon 1.
    pub fn index(self) -> usize {
        match self {
            SensorKind::Seconds => 0,
            SensorKind::Noon => 1,
        }
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a sensor is active: `width` steps from `offset` steps after 12
/// (negative: before 12); passes whose centre is within `tolerance` steps
/// of the window's are taken as right (sensor jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// First active position, steps from 12 (negative: before it).
    pub offset: i32,
    /// Number of active positions.
    pub width: u32,
    /// Largest error, in steps, that counts as sensor jitter rather than
    /// a wrong belief.
    pub tolerance: u32,
}

impl Window {
    /// A window of `width` steps centred on 12 (for an odd width exactly:
    /// 3 steps are 59, 0 and 1; for an even one the extra step is before
    /// 12), no tolerance. Used when the window is configured by its width,
    /// or while homing before any window was learned.
    pub fn centered(width: u32) -> Window {
        let width = width.max(1);
        Window { offset: -i32::try_from(width / 2).unwrap_or(0), width, tolerance: 0 }
    }

    /// The first active position, `0..period`.
    pub fn first(&self, period: u32) -> u32 {
        wrap(i64::from(self.offset), period)
    }

    /// Checks the window against a sensor's limits; the error names the
    /// field and the accepted range.
    pub fn validate(&self, kind: SensorKind, dial: Dial) -> Result<(), String> {
        let max = kind.max_width();
        let half = i64::from(kind.period(dial) / 2);
        if !(1..=max).contains(&self.width) {
            return Err(format!("{kind} window width {}: accepted 1..={max}", self.width));
        }
        if !(-half..half).contains(&i64::from(self.offset)) {
            return Err(format!("{kind} window offset {}: accepted {}..={}", self.offset, -half, half - 1));
        }
        if self.tolerance >= self.width.max(2) {
            return Err(format!("{kind} window tolerance {}: accepted 0..={}", self.tolerance, self.width.max(2) - 1));
        }
        Ok(())
    }
}

/// `x` modulo `period`, in `0..period`.
pub fn wrap(x: i64, period: u32) -> u32 {
    let p = i64::from(period.max(1));
    u32::try_from(x.rem_euclid(p)).unwrap_or(0)
}

/// `x` modulo `period`, in `(-period/2, period/2]`.
pub fn wrap_half(x: i64, period: u32) -> i64 {
    let p = i64::from(period.max(1));
    let d = x.rem_euclid(p);
    if d > p / 2 {
        d - p
    } else {
        d
    }
}

/// One clean pass, in believed positions modulo the sensor's period: the
/// first and the last position (counted forward) at which the sensor was
/// active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// First active position, `0..period`.
    pub first: u32,
    /// Last active position, `0..period` (equal to `first` for one step).
    pub last: u32,
}

impl Pass {
    /// The pass between an edge in at believed position `rise` and an edge
    /// out at `fall` (the belief after the step that caused each edge),
    /// the hands moving in `direction` throughout.
    ///
    /// Forward, the step onto the first active position makes the sensor
    /// active and the step off the last one makes it inactive; backward the
    /// other way round.
    pub fn from_edges(rise: u32, fall: u32, direction: Direction, period: u32) -> Pass {
        let (rise, fall) = (i64::from(rise), i64::from(fall));
        match direction {
            Direction::Forward => Pass { first: wrap(rise, period), last: wrap(fall - 1, period) },
            Direction::Backward => Pass { first: wrap(fall + 1, period), last: wrap(rise, period) },
        }
    }

    /// Number of active positions.
    pub fn width(&self, period: u32) -> u32 {
        wrap(i64::from(self.last) - i64::from(self.first), period) + 1
    }

    /// Twice the centre (so that it stays whole), `0..2*period`.
    fn doubled_center(&self, period: u32) -> i64 {
        2 * i64::from(self.first) + i64::from(self.width(period)) - 1
    }
}

/// What one pass says about the belief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The belief is right (within the window's tolerance); `error` is
    /// what was measured anyway (belief minus hands, steps).
    Good {
        /// Belief minus physical hands, steps (within the tolerance).
        error: i64,
    },
    /// The belief is `error` steps off the hands (belief minus hands):
    /// correct it by `-error`.
    Off {
        /// Belief minus physical hands, steps.
        error: i64,
    },
    /// The pass does not look like the window (another width): nothing can
    /// be concluded from it; why.
    Unclear(String),
}

/// Compares a pass with the window of a sensor of `period` steps.
///
/// The pass's centre minus the window's centre is how far the belief is
/// ahead of the hands (the belief counted the positions the hands really
/// had). A pass of another width than the window's (beyond twice the
/// tolerance) says nothing: a bump during the pass, or a step lost inside
/// the window.
pub fn check(window: &Window, pass: &Pass, period: u32) -> Verdict {
    let measured = pass.width(period);
    let (width, tolerance) = (i64::from(window.width), i64::from(window.tolerance));
    if (i64::from(measured) - width).abs() > 2 * tolerance {
        return Verdict::Unclear(format!("active for {measured} steps, but its window is {width} steps wide"));
    }
    let expected = 2 * i64::from(window.offset) + width - 1;
    let doubled = wrap_half(pass.doubled_center(period) - expected, 2 * period);
    // Halves round towards zero: an odd difference comes only from a
    // measured width one off the window's.
    let error = doubled / 2;
    if error.abs() <= tolerance {
        Verdict::Good { error }
    } else {
        Verdict::Off { error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: u32 = SECONDS_PERIOD;

    #[test]
    fn centered_windows() {
        assert_eq!(Window::centered(3), Window { offset: -1, width: 3, tolerance: 0 });
        assert_eq!(Window::centered(3).first(P), 59);
        assert_eq!(Window::centered(1).offset, 0);
        assert_eq!(Window::centered(4).offset, -2);
        assert_eq!(Window::centered(61).first(43_200), 43_170);
    }

    #[test]
    fn passes_from_edges_both_ways() {
        // Window 59, 0, 1: forward the sensor turns on at 59 and off at 2.
        let fwd = Pass::from_edges(59, 2, Direction::Forward, P);
        assert_eq!(fwd, Pass { first: 59, last: 1 });
        assert_eq!(fwd.width(P), 3);
        // Backward it turns on at 1 and off at 58.
        assert_eq!(Pass::from_edges(1, 58, Direction::Backward, P), fwd);
        assert_eq!(Pass::from_edges(5, 6, Direction::Forward, P).width(P), 1);
    }

    #[test]
    fn verdicts() {
        let w = Window::centered(3);
        let pass = |first: u32| Pass { first: first % P, last: (first + 2) % P };
        assert_eq!(check(&w, &pass(59), P), Verdict::Good { error: 0 });
        // The hands were bumped 7 steps forward: the belief lags, it meets the window 7 early.
        assert_eq!(check(&w, &pass(52), P), Verdict::Off { error: -7 });
        assert_eq!(check(&w, &pass(12), P), Verdict::Off { error: 13 });
        // 29 either way is still told apart; 30 is taken as +30.
        assert_eq!(check(&w, &pass(30), P), Verdict::Off { error: 31 - 60 });
        assert_eq!(check(&w, &pass(29), P), Verdict::Off { error: 30 });
        let tolerant = Window { tolerance: 1, ..w };
        assert_eq!(check(&tolerant, &pass(0), P), Verdict::Good { error: 1 });
        assert_eq!(check(&tolerant, &pass(1), P), Verdict::Off { error: 2 });
        // Another width: nothing concluded.
        assert!(matches!(check(&w, &Pass { first: 59, last: 59 }, P), Verdict::Unclear(_)));
        // Within the tolerance a width one off still counts, rounded to zero.
        assert_eq!(check(&tolerant, &Pass { first: 59, last: 2 }, P), Verdict::Good { error: 0 });
    }

    #[test]
    fn window_limits_name_the_field() {
        let d = Dial::TWELVE_HOUR;
        assert!(Window::centered(3).validate(SensorKind::Seconds, d).is_ok());
        let e = Window::centered(31).validate(SensorKind::Seconds, d).unwrap_err();
        assert!(e.contains("seconds window width 31") && e.contains("1..=30"), "{e}");
        let e = Window { offset: 30, width: 3, tolerance: 0 }.validate(SensorKind::Seconds, d).unwrap_err();
        assert!(e.contains("offset 30") && e.contains("-30..=29"), "{e}");
        let e = Window { offset: 0, width: 3, tolerance: 3 }.validate(SensorKind::Seconds, d).unwrap_err();
        assert!(e.contains("tolerance 3"), "{e}");
        assert!(Window::centered(61).validate(SensorKind::Noon, d).is_ok());
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        /// Whatever the window and the error, a clean pass without jitter
        /// measures the error exactly (while it is under half a period).
        #[test]
        fn a_clean_pass_measures_the_error(
            offset in -29i32..29, width in 1u32..=30, error in -29i64..=29, forward in any::<bool>(),
        ) {
            let w = Window { offset, width, tolerance: 0 };
            // Physical first position, and where the belief is meanwhile.
            let first = i64::from(offset);
            let last = first + i64::from(width) - 1;
            let (rise, fall, dir) = if forward {
                (first + error, last + 1 + error, Direction::Forward)
            } else {
                (last + error, first - 1 + error, Direction::Backward)
            };
            let pass = Pass::from_edges(wrap(rise, P), wrap(fall, P), dir, P);
            let verdict = check(&w, &pass, P);
            if error == 0 {
                prop_assert_eq!(verdict, Verdict::Good { error: 0 });
            } else {
                prop_assert_eq!(verdict, Verdict::Off { error });
            }
        }

        #[test]
        fn wrap_half_is_in_range(x in -1_000_000i64..1_000_000, p in prop::sample::select(vec![60u32, 120, 43_200, 86_400])) {
            let h = wrap_half(x, p);
            prop_assert!(h > -i64::from(p) / 2 && h <= i64::from(p) / 2);
            prop_assert_eq!((x - h).rem_euclid(i64::from(p)), 0);
        }
    }
}
