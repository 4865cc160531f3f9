//! Impulse lines: the "slave" clocks of schools, offices and stations.
//!
//! A slave movement advances one step of `step_s` seconds of dial (a
//! minute, half a minute, or a second) on each polarised DC impulse, the
//! polarity alternating from step to step; an impulse of the same polarity
//! as the last does nothing. It cannot run backwards. The daemon drives it
//! through an H-bridge on the coil's two lines: one line high for one
//! polarity, the other for the other, never both, both low at rest, each
//! impulse full on (no PWM) for `impulse_ms`, and at least `impulse_gap_ms`
//! between two impulses.
//!
//! Positions stay in seconds of dial (multiples of `step_s`), so the
//! journal, the contract's `HandPosition` and `Offset` keep their meaning.
//! The hands are right when they show the current step: true local time
//! rounded down to a multiple of `step_s`.
//!
//! [`planner`] chooses between going forward round the dial at the
//! catch-up rate and holding until the time reaches the hands.

pub mod forward_or_hold;

use crate::pulse_config::{ConfigError, PulseConfig};
use std::fmt;

/// Step lengths an impulse line may have, seconds.
pub const STEP_SECONDS: [u32; 3] = [60, 30, 1];

/// What the planner may do when the hands are ahead of the time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CatchUp {
    /// The faster of going round the dial and holding.
    #[default]
    Fastest,
    /// Hold whenever the hands are ahead (within half the dial), even when
    /// going round would be faster: the hands never sweep round during
    /// opening hours.
    HoldWhenAhead,
}

impl CatchUp {
    /// The admin file's word: `fastest` or `hold-when-ahead`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Fastest => "fastest",
            CatchUp::HoldWhenAhead => "hold-when-ahead",
        }
    }

    /// The policy named by [`CatchUp::as_str`].
    pub fn parse(s: &str) -> Option<CatchUp> {
        [CatchUp::Fastest, CatchUp::HoldWhenAhead].into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One impulse line: its step and its catch-up policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImpulseLine {
    /// Seconds of dial per step: 60, 30 or 1.
    pub step_s: u32,
    /// What to do when the hands are ahead.
    pub catch_up: CatchUp,
}

impl ImpulseLine {
    /// A line of `step_s` seconds per step (one of [`STEP_SECONDS`]).
    pub fn new(step_s: u32, catch_up: CatchUp) -> Result<ImpulseLine, String> {
        if !STEP_SECONDS.contains(&step_s) {
            return Err(format!("step_s = {step_s}: accepted 60, 30 or 1"));
        }
        Ok(ImpulseLine { step_s, catch_up })
    }

    /// The default `(impulse_ms, impulse_gap_ms)` of a line of this step:
    /// 1000 ms and 1000 ms for minute and half-minute lines, 200 ms and
    /// 300 ms for second lines.
    pub fn default_timing(&self) -> (u32, u32) {
        if self.step_s == 1 {
            (200, 300)
        } else {
            (1000, 1000)
        }
    }

    /// Checks that an impulse and its gap fit one step; the error names
    /// both keys and the accepted sum.
    pub fn check(&self, config: &PulseConfig) -> Result<(), ConfigError> {
        let total = config.impulse_ms + config.impulse_gap_ms;
        let room = self.step_s * 1000;
        if total > room {
            return Err(ConfigError {
                key: "impulse_ms+impulse_gap_ms".into(),
                message: format!(
                    "{} ms + {} ms does not fit one step of {} s; accepted: a sum up to {room}",
                    config.impulse_ms, config.impulse_gap_ms, self.step_s
                ),
            });
        }
        Ok(())
    }

    /// `config` as this line runs it: its impulse timing when the saved one
    /// does not fit the step (the built-in defaults are a minute line's),
    /// and never a reverse.
    pub fn effective(&self, config: &PulseConfig) -> PulseConfig {
        let mut c = *config;
        if self.check(&c).is_err() {
            (c.impulse_ms, c.impulse_gap_ms) = self.default_timing();
        }
        c.rev_ticks_per_sec = 0;
        c
    }

    /// Time from one impulse's start to the earliest next one, µs.
    pub fn period_us(config: &PulseConfig) -> i64 {
        i64::from(config.impulse_ms + config.impulse_gap_ms) * 1000
    }

    /// A position rounded down to a whole step.
    pub fn floor(&self, position: u32) -> u32 {
        position - position % self.step_s
    }
}

/// What drives the hands: today's quartz (Lavet) movement, or an impulse line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Drive {
    /// A quartz movement: one step a second, forward and reverse ticks.
    #[default]
    Quartz,
    /// A slave clock line.
    Impulse(ImpulseLine),
}

impl Drive {
    /// Seconds of dial per step: 1 for quartz.
    pub fn step_s(&self) -> u32 {
        match self {
            Drive::Quartz => 1,
            Drive::Impulse(l) => l.step_s,
        }
    }

    /// `quartz` or `impulse` (the contract's `MovementKind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Drive::Quartz => "quartz",
            Drive::Impulse(_) => "impulse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_their_timing() {
        assert!(ImpulseLine::new(45, CatchUp::Fastest).unwrap_err().contains("60, 30 or 1"));
        let minute = ImpulseLine::new(60, CatchUp::Fastest).unwrap();
        let second = ImpulseLine::new(1, CatchUp::Fastest).unwrap();
        let c = PulseConfig::default();
        assert_eq!((c.impulse_ms, c.impulse_gap_ms), minute.default_timing());
        assert!(minute.check(&c).is_ok());
        let e = second.check(&c).unwrap_err();
        assert_eq!(e.key, "impulse_ms+impulse_gap_ms");
        assert!(e.message.contains("one step of 1 s") && e.message.contains("1000"), "{e}");
        let run = second.effective(&c);
        assert_eq!((run.impulse_ms, run.impulse_gap_ms, run.rev_ticks_per_sec), (200, 300, 0));
        let own = PulseConfig { impulse_ms: 150, impulse_gap_ms: 250, ..c };
        assert_eq!(second.effective(&own).impulse_ms, 150, "a timing that fits is kept");
        assert_eq!(ImpulseLine::period_us(&own), 400_000);
        assert_eq!(minute.floor(3_659), 3_600);
        assert_eq!(CatchUp::parse("hold-when-ahead"), Some(CatchUp::HoldWhenAhead));
        assert_eq!(Drive::Impulse(minute).step_s(), 60);
        assert_eq!(Drive::Quartz.kind(), "quartz");
    }
}
