//! A physical model of a quartz clock's Lavet stepping motor.
//!
//! The simulator feeds it the same [`Waveform`]s the real coil gets and it
//! decides, from the pulses alone (never from what the daemon meant), whether
//! the rotor stepped:
//!
//! - a pulse on the pin that matches the rotor's magnet (`parity(position)
//!   XOR wiring`) that is long and strong enough steps it forward;
//! - a pulse on the other pin does nothing: the rotor is already there;
//! - a short kick on the forward pin followed quickly by a long, strong
//!   enough pulse on the other pin swings it one step back; how strong
//!   depends on the sector the second hand is in (the hand's imbalance);
//! - a step attempted too soon after the previous one slips (no step).
//!
//! Every move (waveform) that produced no step counts as a missed pulse.
//! Pulses are modelled analytically (length × duty), so the model runs on
//! virtual time at any speed.
//!
//! The heavy sector is also how a *weak* sector is simulated: raise
//! `pull_min_on_us_heavy` above the region's reverse duty and reverse ticks
//! are lost there. The movement also carries the hand sensors
//! ([`sensors`]: windows, jitter, failures), and can be bumped
//! ([`Movement::nudge`]: the hands move without a pulse).

pub mod sensor_model;
pub mod slave_movement;

use crate::hand_sensor::SensorKind;
use crate::waveform::{forward_pin, Pulse, Waveform, PWM_PERIOD_US};
use sensor_model::{Jitter, SensorGeometry};
use serde::{Deserialize, Serialize};
use slave_movement::ImpulseParams;

/// The physical constants of one simulated movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MotorParams {
    /// How the coil is really wired: which pin steps even positions
    /// (false: pin A). The daemon's `invert_polarity` must match it.
    pub wiring_inverted: bool,
    /// Shortest pulse that completes a forward step, ms.
    pub step_min_ms: u32,
    /// Weakest duty (µs per 100 µs) that completes a forward step.
    pub step_min_on_us: u32,
    /// Shortest pulse that kicks the rotor forward without stepping, ms.
    pub kick_min_ms: u32,
    /// Longest gap between kick and pull for a reverse step, ms.
    pub gap_max_ms: u32,
    /// Shortest pull pulse of a reverse step, ms.
    pub pull_min_ms: u32,
    /// Heavy sector (where the hand's imbalance needs more drive): seconds `start..end`.
    pub heavy_sector: (u32, u32),
    /// Weakest duty of a reverse pull inside the heavy sector.
    pub pull_min_on_us_heavy: u32,
    /// Weakest duty of a reverse pull elsewhere.
    pub pull_min_on_us_light: u32,
    /// Weakest duty of a forward step inside the heavy sector (models a
    /// movement that also needs more drive forward there).
    pub step_min_on_us_heavy: u32,
    /// Shortest interval between two forward steps, ms (faster slips).
    pub min_forward_interval_ms: u32,
    /// Shortest interval between two reverse steps, ms (faster slips).
    pub min_reverse_interval_ms: u32,
    /// Shortest interval between steps in opposite directions, ms.
    pub min_turnaround_ms: u32,
    /// The hand sensors.
    pub sensors: SensorGeometry,
    /// A slave movement of an impulse line instead of a Lavet rotor (`None`: quartz).
    pub impulse: Option<ImpulseParams>,
}

impl Default for MotorParams {
    fn default() -> Self {
        MotorParams {
            wiring_inverted: false,
            step_min_ms: 20,
            step_min_on_us: 45,
            kick_min_ms: 5,
            gap_max_ms: 12,
            pull_min_ms: 20,
            heavy_sector: (35, 55),
            pull_min_on_us_heavy: 86,
            pull_min_on_us_light: 76,
            step_min_on_us_heavy: 45,
            min_forward_interval_ms: 150,
            min_reverse_interval_ms: 220,
            min_turnaround_ms: 300,
            sensors: SensorGeometry::default(),
            impulse: None,
        }
    }
}

/// What one waveform did to the rotor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// One step forward.
    Forward,
    /// One step back.
    Backward,
    /// Nothing moved; why.
    Missed(MissReason),
}

/// Why a move produced no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MissReason {
    /// Pulses of the polarity that holds the rotor where it is.
    WrongPolarity,
    /// Too short or too weak for the sector the hand is in.
    TooWeak,
    /// Too soon after the previous step: the rotor slipped.
    TooFast,
}

/// The state of a simulated movement: where its hands physically are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Physical hand position, seconds on the dial.
    pub position: u32,
    /// Seconds once around the dial.
    pub dial_seconds: u32,
    /// Moves that produced no step.
    pub missed_pulses: u64,
    /// Steps forward so far.
    pub steps_forward: u64,
    /// Steps back so far.
    pub steps_backward: u64,
    /// The last miss, if any.
    pub last_miss: Option<MissReason>,
    /// When and which way the rotor last stepped (µs, direction +1/-1).
    pub last_step: Option<(i64, i8)>,
    /// The physical constants.
    #[serde(default)]
    pub params: MotorParams,
    /// The sensors' jitter for the current passes.
    #[serde(default)]
    pub jitter: Jitter,
    /// Steps the hands were bumped by so far (signed sum of [`Movement::nudge`]).
    #[serde(default)]
    pub nudged_steps: i64,
}

impl Movement {
    /// A movement with its hands at `position`.
    pub fn new(position: u32, dial_seconds: u32, params: MotorParams) -> Movement {
        Movement {
            position: position % dial_seconds,
            dial_seconds,
            missed_pulses: 0,
            steps_forward: 0,
            steps_backward: 0,
            last_miss: None,
            last_step: None,
            params,
            jitter: Jitter::default(),
            nudged_steps: 0,
        }
    }

    /// The user turns the crown: the hands jump to `position`.
    pub fn set_by_crown(&mut self, position: u32) {
        self.position = position % self.dial_seconds;
        self.last_step = None;
        self.params.sensors.redraw(self.position, self.dial_seconds, &mut self.jitter);
    }

    /// The hands are bumped by `steps` (negative: back) without a pulse, as
    /// when the clock is cleaned: the whole train turns, the rotor with it.
    pub fn nudge(&mut self, steps: i64) {
        let n = i64::from(self.dial_seconds);
        self.position = u32::try_from((i64::from(self.position) + steps).rem_euclid(n)).unwrap_or(0);
        self.nudged_steps += steps;
        self.params.sensors.redraw(self.position, self.dial_seconds, &mut self.jitter);
    }

    /// Whether `kind`'s sensor sees its magnet now.
    pub fn sensor_present(&self, kind: SensorKind) -> bool {
        self.params.sensors.present(kind, self.position, self.dial_seconds, &self.jitter)
    }

    /// The level of `kind`'s sensor line now (true: high).
    pub fn sensor_line_high(&self, kind: SensorKind) -> bool {
        self.params.sensors.line_high(kind, self.position, self.dial_seconds, &self.jitter)
    }

    fn in_heavy_sector(&self) -> bool {
        let ss = self.position % 60;
        (self.params.heavy_sector.0..self.params.heavy_sector.1).contains(&ss)
    }

    /// Effective drive of a pulse: its duty, µs per 100 µs period.
    fn duty(on_us: u32) -> u32 {
        on_us.min(PWM_PERIOD_US)
    }

    /// Applies a waveform whose leading edge is at `start_us` (any monotonic
    /// µs clock, virtual time included) and returns what the rotor did.
    pub fn apply(&mut self, waveform: &Waveform, start_us: i64) -> Outcome {
        self.apply_pulses(waveform.pulses(), start_us)
    }

    /// Applies the pulses of one move as the coil got them, in time order,
    /// each `start_us` after `start_us`: a waveform's pulses, or pulses
    /// rebuilt from a recording of the lines (a kernel trace), whose lengths
    /// and duties are what was measured rather than what was asked for.
    pub fn apply_pulses(&mut self, pulses: &[Pulse], start_us: i64) -> Outcome {
        let p = self.params;
        if let Some(impulse) = p.impulse {
            let outcome = self.apply_impulses(impulse, pulses, start_us);
            if let Outcome::Missed(reason) = outcome {
                self.missed_pulses += 1;
                self.last_miss = Some(reason);
            }
            return outcome;
        }
        let mut kicked_until: Option<i64> = None;
        let mut outcome = Outcome::Missed(MissReason::WrongPolarity);
        for pulse in pulses {
            let t0 = start_us + i64::from(pulse.start_us);
            let t1 = t0 + i64::from(pulse.len_us);
            let len_ms = pulse.len_us / 1000;
            let duty = Self::duty(pulse.on_us);
            let forward = forward_pin(self.position, p.wiring_inverted);
            if pulse.pin == forward {
                let need = if self.in_heavy_sector() { p.step_min_on_us_heavy } else { p.step_min_on_us };
                if len_ms >= p.step_min_ms && duty >= need {
                    outcome = self.step(1, t0);
                    kicked_until = None;
                } else if len_ms >= p.kick_min_ms {
                    kicked_until = Some(t1);
                    outcome = Outcome::Missed(MissReason::TooWeak);
                } else {
                    outcome = Outcome::Missed(MissReason::TooWeak);
                }
            } else if let Some(kick_end) = kicked_until.take() {
                let need = if self.in_heavy_sector() { p.pull_min_on_us_heavy } else { p.pull_min_on_us_light };
                let gap_ok = t0 - kick_end <= i64::from(p.gap_max_ms) * 1000;
                if gap_ok && len_ms >= p.pull_min_ms && duty >= need {
                    outcome = self.step(-1, t0);
                } else {
                    outcome = Outcome::Missed(MissReason::TooWeak);
                }
            } else if !matches!(outcome, Outcome::Forward | Outcome::Backward) {
                outcome = Outcome::Missed(MissReason::WrongPolarity);
            }
        }
        if let Outcome::Missed(reason) = outcome {
            self.missed_pulses += 1;
            self.last_miss = Some(reason);
        }
        outcome
    }

    fn step(&mut self, dir: i8, at_us: i64) -> Outcome {
        let p = self.params;
        if let Some((last_at, last_dir)) = self.last_step {
            let min_ms = if last_dir != dir {
                p.min_turnaround_ms
            } else if dir > 0 {
                p.min_forward_interval_ms
            } else {
                p.min_reverse_interval_ms
            };
            let elapsed = at_us - last_at;
            if elapsed >= 0 && elapsed < i64::from(min_ms) * 1000 {
                return Outcome::Missed(MissReason::TooFast);
            }
        }
        self.last_step = Some((at_us, dir));
        let n = i64::from(self.dial_seconds);
        self.position = (i64::from(self.position) + i64::from(dir)).rem_euclid(n) as u32;
        self.params.sensors.redraw(self.position, self.dial_seconds, &mut self.jitter);
        if dir > 0 {
            self.steps_forward += 1;
            Outcome::Forward
        } else {
            self.steps_backward += 1;
            Outcome::Backward
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pulse_config::{ConfigValue, PulseConfig};
    use crate::waveform::{MoveKind, Waveform};
    use proptest::prelude::*;

    const N: u32 = 43_200;

    fn wf(kind: MoveKind, from: u32, c: &PulseConfig) -> Waveform {
        Waveform::for_move(kind, from, c)
    }

    #[test]
    fn default_ticks_step_the_default_movement() {
        let c = PulseConfig::default();
        let mut m = Movement::new(0, N, MotorParams::default());
        let mut t = 0;
        for i in 0..120 {
            assert_eq!(m.apply(&wf(MoveKind::Normal, i, &c), t), Outcome::Forward);
            t += 1_000_000;
        }
        assert_eq!(m.position, 120);
        for i in 0..120 {
            assert_eq!(m.apply(&wf(MoveKind::Fast, 120 + i, &c), t), Outcome::Forward, "fast {i}");
            t += 250_000;
        }
        assert_eq!(m.position, 240);
        t += 1_000_000;
        for i in 0..240 {
            assert_eq!(m.apply(&wf(MoveKind::Reverse, 240 - i, &c), t), Outcome::Backward, "reverse {i}");
            t += 500_000;
        }
        assert_eq!(m.position, 0);
        assert_eq!(m.missed_pulses, 0);
    }

    #[test]
    fn wrong_polarity_loses_the_tick() {
        let c = PulseConfig::default();
        let mut m = Movement::new(0, N, MotorParams::default());
        // The daemon believes the hands are at 1: its pulse has the wrong polarity.
        assert_eq!(m.apply(&wf(MoveKind::Normal, 1, &c), 0), Outcome::Missed(MissReason::WrongPolarity));
        assert_eq!((m.position, m.missed_pulses), (0, 1));
        // A clock wired the other way needs invert_polarity.
        let mut inv = Movement::new(0, N, MotorParams { wiring_inverted: true, ..MotorParams::default() });
        assert!(matches!(inv.apply(&wf(MoveKind::Normal, 0, &c), 0), Outcome::Missed(_)));
        let ci = c.with_changes([("invert_polarity", ConfigValue::Bool(true))]).unwrap();
        assert_eq!(inv.apply(&wf(MoveKind::Normal, 0, &ci), 2_000_000), Outcome::Forward);
    }

    #[test]
    fn a_resolving_pulse_lands_on_the_far_side_either_way() {
        // After an unclean stop the hands are at X or X+1; a forward pulse
        // for X leaves them at X+1 in both cases.
        let c = PulseConfig::default();
        for start in [100u32, 101] {
            let mut m = Movement::new(start, N, MotorParams::default());
            m.apply(&wf(MoveKind::Fast, 100, &c), 0);
            assert_eq!(m.position, 101);
        }
    }

    #[test]
    fn weak_pulses_and_heavy_sectors() {
        let c = PulseConfig::default();
        let weak = c.with_changes([("norm_tick_on_us", ConfigValue::U32(30))]).unwrap();
        let mut m = Movement::new(0, N, MotorParams::default());
        assert_eq!(m.apply(&wf(MoveKind::Normal, 0, &weak), 0), Outcome::Missed(MissReason::TooWeak));
        // Region A duty too low for the heavy sector: the reverse fails there only.
        let low_a = c.with_changes([("rev_ticka_on_us", ConfigValue::U32(80))]).unwrap();
        let mut m = Movement::new(40, N, MotorParams::default());
        assert_eq!(m.apply(&wf(MoveKind::Reverse, 40, &low_a), 0), Outcome::Missed(MissReason::TooWeak));
        let mut m = Movement::new(20, N, MotorParams::default());
        assert_eq!(m.apply(&wf(MoveKind::Reverse, 20, &low_a), 0), Outcome::Backward);
        // Reverse without the kick (gap too long) does nothing.
        let long_gap = c.with_changes([("rev_tickb_t2_ms", ConfigValue::U32(30))]).unwrap();
        let mut m = Movement::new(20, N, MotorParams::default());
        assert!(matches!(m.apply(&wf(MoveKind::Reverse, 20, &long_gap), 0), Outcome::Missed(_)));
    }

    #[test]
    fn measured_pulses_are_judged_as_waveforms_are() {
        use crate::waveform::Pin;
        // A normal tick as a trace shows it: 310 periods, the last fall
        // 60 µs into the last one (30 960 µs), 60 % duty.
        let tick = |pin| Pulse { pin, start_us: 0, len_us: 30_960, on_us: 60 };
        let mut m = Movement::new(0, N, MotorParams::default());
        assert_eq!(m.apply_pulses(&[tick(Pin::A)], 0), Outcome::Forward);
        assert_eq!(m.apply_pulses(&[tick(Pin::B)], 1_000_000), Outcome::Forward);
        assert_eq!(m.apply_pulses(&[tick(Pin::B)], 2_000_000), Outcome::Missed(MissReason::WrongPolarity));
        // Cut short by a kill after 12 ms: too short to step.
        let cut = Pulse { pin: Pin::A, start_us: 0, len_us: 12_000, on_us: 60 };
        assert_eq!(m.apply_pulses(&[cut], 3_000_000), Outcome::Missed(MissReason::TooWeak));
        // A reverse tick measured: 9 990 µs kick, 7 010 µs gap, 27 990 µs pull.
        let kick = Pulse { pin: Pin::A, start_us: 0, len_us: 9_990, on_us: 90 };
        let pull = Pulse { pin: Pin::B, start_us: 17_000, len_us: 27_990, on_us: 90 };
        assert_eq!(m.apply_pulses(&[kick, pull], 4_000_000), Outcome::Backward);
        assert_eq!(m.position, 1);
    }

    #[test]
    fn too_fast_slips() {
        let c = PulseConfig::default();
        let mut m = Movement::new(0, N, MotorParams::default());
        assert_eq!(m.apply(&wf(MoveKind::Fast, 0, &c), 0), Outcome::Forward);
        assert_eq!(m.apply(&wf(MoveKind::Fast, 1, &c), 100_000), Outcome::Missed(MissReason::TooFast));
        assert_eq!(m.apply(&wf(MoveKind::Fast, 1, &c), 200_000), Outcome::Forward);
        // Reverse at 5/s slips, at 4/s it does not.
        let mut m = Movement::new(100, N, MotorParams::default());
        assert_eq!(m.apply(&wf(MoveKind::Reverse, 100, &c), 0), Outcome::Backward);
        assert_eq!(m.apply(&wf(MoveKind::Reverse, 99, &c), 200_000), Outcome::Missed(MissReason::TooFast));
        assert_eq!(m.apply(&wf(MoveKind::Reverse, 99, &c), 450_000), Outcome::Backward);
        // Turning around needs a pause.
        assert_eq!(m.apply(&wf(MoveKind::Fast, 98, &c), 600_000), Outcome::Missed(MissReason::TooFast));
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        #[test]
        fn state_json_roundtrips(pos in 0u32..N, missed in 0u64..1000) {
            let mut m = Movement::new(pos, N, MotorParams::default());
            m.missed_pulses = missed;
            let s = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Movement>(&s).unwrap(), m);
        }

        #[test]
        fn believed_position_tracks_physical_with_right_drive(start in 0u32..N, moves in proptest::collection::vec(0u8..3, 1..60)) {
            // A daemon that knows the position and spaces moves correctly is always right.
            let c = PulseConfig::default();
            let mut m = Movement::new(start, N, MotorParams::default());
            let mut belief = start;
            let mut t = 0i64;
            for k in moves {
                let kind = [MoveKind::Normal, MoveKind::Fast, MoveKind::Reverse][k as usize];
                t += 1_000_000;
                let out = m.apply(&wf(kind, belief, &c), t);
                prop_assert!(!matches!(out, Outcome::Missed(_)), "{:?}", out);
                belief = (i64::from(belief) + kind.direction().sign()).rem_euclid(i64::from(N)) as u32;
                prop_assert_eq!(m.position, belief);
            }
        }
    }
}
