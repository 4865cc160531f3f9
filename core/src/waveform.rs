//! The coil pulses of one move of the hands.
//!
//! The coil sits between pin A (BCM 12 by default) and pin B (BCM 13). A
//! pulse drives one pin with a 10 kHz PWM carrier (`on_us` µs high in every
//! 100 µs period) while the other stays low. Pulse polarity must alternate:
//! the pin for a forward step from position `p` is `parity(p) XOR invert`.

use crate::pulse_config::PulseConfig;
use serde::{Deserialize, Serialize};

/// Length of one PWM carrier period, µs (10 kHz).
pub const PWM_PERIOD_US: u32 = 100;

/// One of the two coil pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pin {
    /// Pin A (first configured line, BCM 12 by default).
    A,
    /// Pin B (second configured line, BCM 13 by default).
    B,
}

impl Pin {
    /// The other pin.
    pub fn other(self) -> Pin {
        match self {
            Pin::A => Pin::B,
            Pin::B => Pin::A,
        }
    }
}

/// The pin a forward step from `position` drives.
pub fn forward_pin(position: u32, invert_polarity: bool) -> Pin {
    if (position % 2 == 1) ^ invert_polarity {
        Pin::B
    } else {
        Pin::A
    }
}

/// Direction of a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Clockwise, one step forward.
    Forward,
    /// Counter-clockwise, one step back.
    Backward,
}

impl Direction {
    /// +1 or -1.
    pub fn sign(self) -> i64 {
        match self {
            Direction::Forward => 1,
            Direction::Backward => -1,
        }
    }
}

/// Which waveform a move uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MoveKind {
    /// The once-a-second tick.
    Normal,
    /// A fast-forward tick while catching up.
    Fast,
    /// A reverse tick (short kick, gap, long pulse on the other pin).
    Reverse,
    /// One impulse of an impulse line: a whole step forward (see [`crate::impulse_line`]).
    Impulse,
}

impl MoveKind {
    /// The direction this kind of move turns the hands.
    pub fn direction(self) -> Direction {
        match self {
            MoveKind::Normal | MoveKind::Fast | MoveKind::Impulse => Direction::Forward,
            MoveKind::Reverse => Direction::Backward,
        }
    }
}

/// One PWM burst on one pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pulse {
    /// The driven pin; the other stays low.
    pub pin: Pin,
    /// Start, µs after the start of the move.
    pub start_us: u32,
    /// Length, µs.
    pub len_us: u32,
    /// µs high in each 100 µs carrier period (1..=100).
    pub on_us: u32,
}

impl Pulse {
    /// End, µs after the start of the move.
    pub fn end_us(&self) -> u32 {
        self.start_us + self.len_us
    }
}

/// The pulses of one move: one for a forward tick, two for a reverse tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waveform {
    /// Which move this is.
    pub kind: MoveKind,
    pulses: [Pulse; 2],
    count: usize,
}

impl Waveform {
    /// The waveform of a `kind` move from hand position `from` (for an
    /// impulse, `from` is the step number: position / `step_s`).
    pub fn for_move(kind: MoveKind, from: u32, config: &PulseConfig) -> Waveform {
        let pin = forward_pin(from, config.invert_polarity);
        let single = |ms: u32, on_us: u32| Pulse { pin, start_us: 0, len_us: ms * 1000, on_us };
        match kind {
            MoveKind::Normal => Waveform::one(kind, single(config.norm_tick_ms, config.norm_tick_on_us)),
            MoveKind::Fast => Waveform::one(kind, single(config.fwd_tick_ms, config.fwd_tick_on_us)),
            MoveKind::Reverse => Waveform::reverse(from, config.in_region_a(from), config),
            MoveKind::Impulse => Waveform::impulse(from, config),
        }
    }

    /// The impulse that advances an impulse line from step number `step`
    /// (position / `step_s`): one line full on (no PWM) for `impulse_ms`,
    /// the line alternating with the step's parity like a tick's pin.
    pub fn impulse(step: u32, config: &PulseConfig) -> Waveform {
        let pin = forward_pin(step, config.invert_polarity);
        let pulse = Pulse { pin, start_us: 0, len_us: config.impulse_ms * 1000, on_us: PWM_PERIOD_US };
        Waveform::one(MoveKind::Impulse, pulse)
    }

    /// The reverse tick from `from` with the timing and duty of region A
    /// (`region_a`) or region B, whichever second `from` is at: homing uses
    /// the stronger of the two, as it does not know the second yet.
    pub fn reverse(from: u32, region_a: bool, config: &PulseConfig) -> Waveform {
        let pin = forward_pin(from, config.invert_polarity);
        let (t1, t2, t3, on) = if region_a {
            (config.rev_ticka_t1_ms, config.rev_ticka_t2_ms, config.rev_ticka_t3_ms, config.rev_ticka_on_us)
        } else {
            (config.rev_tickb_t1_ms, config.rev_tickb_t2_ms, config.rev_tickb_t3_ms, config.rev_tickb_on_us)
        };
        let kick = Pulse { pin, start_us: 0, len_us: t1 * 1000, on_us: on };
        let pull = Pulse { pin: pin.other(), start_us: (t1 + t2) * 1000, len_us: t3 * 1000, on_us: on };
        Waveform { kind: MoveKind::Reverse, pulses: [kick, pull], count: 2 }
    }

    fn one(kind: MoveKind, pulse: Pulse) -> Waveform {
        Waveform { kind, pulses: [pulse, pulse], count: 1 }
    }

    /// The pulses, in time order, never overlapping.
    pub fn pulses(&self) -> &[Pulse] {
        &self.pulses[..self.count]
    }

    /// From the start of the first pulse to the end of the last, µs.
    pub fn duration_us(&self) -> u32 {
        self.pulses().iter().map(Pulse::end_us).max().unwrap_or(0)
    }

    /// Which pins are driven high at `t_us` after the start (PWM carrier included).
    pub fn level_at(&self, t_us: u32) -> (bool, bool) {
        for p in self.pulses() {
            if t_us >= p.start_us && t_us < p.end_us() {
                let high = (t_us - p.start_us) % PWM_PERIOD_US < p.on_us;
                return match p.pin {
                    Pin::A => (high, false),
                    Pin::B => (false, high),
                };
            }
        }
        (false, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pulse_config::ConfigValue;
    use proptest::prelude::*;

    #[test]
    fn impulses_are_full_on_and_alternate_by_step() {
        let c = PulseConfig::default();
        let a = Waveform::impulse(10, &c);
        assert_eq!(a.pulses(), &[Pulse { pin: Pin::A, start_us: 0, len_us: 1_000_000, on_us: 100 }]);
        assert_eq!(Waveform::impulse(11, &c).pulses()[0].pin, Pin::B);
        assert_eq!(a.level_at(999_999), (true, false), "no PWM: high throughout");
        assert_eq!(a.level_at(1_000_000), (false, false));
        assert_eq!(MoveKind::Impulse.direction(), Direction::Forward);
    }

    #[test]
    fn polarity_alternates_and_inverts() {
        assert_eq!(forward_pin(0, false), Pin::A);
        assert_eq!(forward_pin(1, false), Pin::B);
        assert_eq!(forward_pin(0, true), Pin::B);
        assert_eq!(forward_pin(43_199, false), Pin::B);
    }

    #[test]
    fn normal_and_fast_ticks_use_the_settings() {
        let c = PulseConfig::default();
        let w = Waveform::for_move(MoveKind::Normal, 10, &c);
        assert_eq!(w.pulses(), &[Pulse { pin: Pin::A, start_us: 0, len_us: 31_000, on_us: 60 }]);
        let w = Waveform::for_move(MoveKind::Fast, 11, &c);
        assert_eq!(w.pulses(), &[Pulse { pin: Pin::B, start_us: 0, len_us: 32_000, on_us: 60 }]);
        assert_eq!(w.duration_us(), 32_000);
    }

    #[test]
    fn reverse_ticks_pick_the_region_by_second() {
        let c = PulseConfig::default();
        let a = Waveform::for_move(MoveKind::Reverse, 35, &c);
        assert_eq!(a.pulses()[0], Pulse { pin: Pin::B, start_us: 0, len_us: 10_000, on_us: 90 });
        assert_eq!(a.pulses()[1], Pulse { pin: Pin::A, start_us: 17_000, len_us: 28_000, on_us: 90 });
        assert_eq!(a.duration_us(), 45_000);
        let b = Waveform::for_move(MoveKind::Reverse, 55, &c);
        assert_eq!(b.pulses()[0].on_us, 82);
        let b = Waveform::for_move(MoveKind::Reverse, 3600 + 34, &c);
        assert_eq!(b.pulses()[0].on_us, 82);
        let c2 = c.with_changes([("rev_ticka_on_us", ConfigValue::U32(95))]).unwrap();
        assert_eq!(Waveform::for_move(MoveKind::Reverse, 60 + 54, &c2).pulses()[0].on_us, 95);
    }

    #[test]
    fn pwm_levels_follow_the_duty() {
        let w = Waveform::for_move(MoveKind::Normal, 0, &PulseConfig::default());
        assert_eq!(w.level_at(0), (true, false));
        assert_eq!(w.level_at(59), (true, false));
        assert_eq!(w.level_at(60), (false, false));
        assert_eq!(w.level_at(100), (true, false));
        assert_eq!(w.level_at(31_000), (false, false));
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        #[test]
        fn never_both_pins_high(pos in 0u32..43_200, t in 0u32..100_000, inv: bool, kind in 0u8..3) {
            let c = PulseConfig::default().with_changes([("invert_polarity", ConfigValue::Bool(inv))]).unwrap();
            let kind = [MoveKind::Normal, MoveKind::Fast, MoveKind::Reverse][kind as usize];
            let w = Waveform::for_move(kind, pos, &c);
            prop_assert_ne!(w.level_at(t), (true, true));
            // pulses are ordered and never overlap
            for pair in w.pulses().windows(2) {
                prop_assert!(pair[0].end_us() <= pair[1].start_us);
            }
            prop_assert_eq!(w.pulses()[0].pin, forward_pin(pos, inv));
        }
    }
}
