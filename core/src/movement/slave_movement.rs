//! The simulated slave movement of an impulse line (see [`crate::impulse_line`]).
//!
//! It advances one step of `step_s` seconds only on an impulse of the right
//! polarity (the line for its step's parity, `wiring_inverted` as for the
//! quartz rotor) that lasts at least `min_impulse_ms` at a drive of at least
//! `min_on_us` µs per 100 µs; an impulse of the wrong polarity does nothing
//! (the armature is already there); one that starts sooner than
//! `recovery_ms` after the last step's slips (the armature has not
//! recovered). It never moves backwards.

use super::{MissReason, Movement, Outcome};
use crate::waveform::{forward_pin, Pulse};
use serde::{Deserialize, Serialize};

/// The physical constants of a simulated slave movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpulseParams {
    /// Seconds of dial per step: 60, 30 or 1.
    pub step_s: u32,
    /// Shortest impulse that advances it, ms.
    pub min_impulse_ms: u32,
    /// Weakest drive that advances it, µs high per 100 µs.
    pub min_on_us: u32,
    /// Shortest time from one step to the next impulse that can advance it, ms.
    pub recovery_ms: u32,
}

impl Default for ImpulseParams {
    fn default() -> Self {
        ImpulseParams { step_s: 60, min_impulse_ms: 80, min_on_us: 90, recovery_ms: 400 }
    }
}

impl Movement {
    /// The impulses of one move as the line got them.
    pub(super) fn apply_impulses(&mut self, params: ImpulseParams, pulses: &[Pulse], start_us: i64) -> Outcome {
        let mut outcome = Outcome::Missed(MissReason::WrongPolarity);
        for pulse in pulses {
            let t0 = start_us + i64::from(pulse.start_us);
            let step = self.position / params.step_s.max(1);
            if pulse.pin != forward_pin(step, self.params.wiring_inverted) {
                continue;
            }
            if pulse.len_us < params.min_impulse_ms * 1000 || pulse.on_us < params.min_on_us {
                outcome = Outcome::Missed(MissReason::TooWeak);
                continue;
            }
            if let Some((last, _)) = self.last_step {
                let since = t0 - last;
                if (0..i64::from(params.recovery_ms) * 1000).contains(&since) {
                    outcome = Outcome::Missed(MissReason::TooFast);
                    continue;
                }
            }
            self.last_step = Some((t0, 1));
            self.position = (self.position + params.step_s) % self.dial_seconds;
            self.steps_forward += 1;
            outcome = Outcome::Forward;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::super::MotorParams;
    use super::*;
    use crate::pulse_config::PulseConfig;
    use crate::waveform::Waveform;

    fn line(step_s: u32) -> Movement {
        let impulse = ImpulseParams { step_s, ..ImpulseParams::default() };
        Movement::new(0, 43_200, MotorParams { impulse: Some(impulse), ..MotorParams::default() })
    }

    #[test]
    fn right_impulses_advance_a_step_each_and_nothing_else_does() {
        let c = PulseConfig::default();
        let mut m = line(60);
        let mut t = 0;
        for minute in 0..10u32 {
            assert_eq!(m.apply(&Waveform::impulse(minute, &c), t), Outcome::Forward);
            t += 60_000_000;
        }
        assert_eq!(m.position, 600);
        // The same polarity again: nothing.
        assert_eq!(m.apply(&Waveform::impulse(9, &c), t), Outcome::Missed(MissReason::WrongPolarity));
        // Too short, or PWM'd, is too weak.
        let short = PulseConfig { impulse_ms: 100, ..c };
        let mut weak = line(60);
        weak.params.impulse = Some(ImpulseParams { min_impulse_ms: 150, ..ImpulseParams::default() });
        assert_eq!(weak.apply(&Waveform::impulse(0, &short), 0), Outcome::Missed(MissReason::TooWeak));
        let pwm = Waveform::for_move(crate::waveform::MoveKind::Normal, 0, &c);
        assert_eq!(weak.apply(&pwm, 0), Outcome::Missed(MissReason::TooWeak), "a 31 ms PWM tick");
        // Sooner than the recovery after a step: it slips.
        let mut fast = line(1);
        assert_eq!(fast.apply(&Waveform::impulse(0, &c), 0), Outcome::Forward);
        assert_eq!(fast.apply(&Waveform::impulse(1, &c), 300_000), Outcome::Missed(MissReason::TooFast));
        assert_eq!(fast.apply(&Waveform::impulse(1, &c), 400_000), Outcome::Forward);
        assert_eq!(fast.position, 2);
        assert_eq!(fast.missed_pulses, 1);
    }

    #[test]
    fn the_state_file_keeps_its_format() {
        let m = line(30);
        let json = serde_json::to_string(&m).expect("json");
        let back: Movement = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
        // A quartz movement's file (no impulse key) still reads.
        let quartz = Movement::new(5, 43_200, MotorParams::default());
        let text = serde_json::to_string(&quartz).expect("json").replace(",\"impulse\":null", "");
        assert_eq!(serde_json::from_str::<Movement>(&text).expect("parse").params.impulse, None);
    }
}
