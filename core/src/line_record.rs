//! Pulses read back from a record of the coil lines' levels: how a test
//! checks that what went out on the lines is the waveform that was meant.
//! The daemon's recording fake of the lines (tests and benchmarks, in ns)
//! and the emulated Pi's check of the kernel's GPIO trace (in µs) both use
//! [`pulses`], each in its own time unit.

use crate::waveform::Pin;

/// A change of the coil lines: from `t` on, pin A is at `a` and pin B at `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineChange {
    /// When, in the record's time unit.
    pub t: i64,
    /// Pin A's level from then on.
    pub a: bool,
    /// Pin B's level from then on.
    pub b: bool,
}

/// One pulse read back: consecutive PWM periods on one pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPulse {
    /// The driven pin.
    pub pin: Pin,
    /// The first rising edge.
    pub first_rise: i64,
    /// The last falling edge (the first rise if no period fell).
    pub last_fall: i64,
    /// Time high, summed over the periods that fell.
    pub high: i64,
    /// Rising edges (PWM periods).
    pub periods: u32,
    /// The line was still high at the end of the record.
    pub unfinished: bool,
}

/// Joins the PWM periods of `changes` (in time order, both lines low before
/// the first) into pulses, in order of their first rise. A rise on the pin
/// of the last pulse less than `gap` after its last fall continues it; any
/// other rise (the other pin, or a longer gap) starts a new pulse. Each pin
/// is followed on its own, falls first: a change of both pins at once is a
/// fall on one and a rise on the other.
pub fn pulses(changes: &[LineChange], gap: i64) -> Vec<ReadPulse> {
    let mut pulses: Vec<ReadPulse> = Vec::new();
    // For each pin: the pulse its current high phase belongs to, and when it rose.
    let mut open: [Option<(usize, i64)>; 2] = [None, None];
    let mut level = [false, false];
    let pins = [Pin::A, Pin::B];
    for c in changes {
        let new = [c.a, c.b];
        for i in 0..2 {
            if level[i] && !new[i] {
                if let Some((idx, rose)) = open[i].take() {
                    pulses[idx].high += c.t - rose;
                    pulses[idx].last_fall = c.t;
                }
            }
        }
        for i in 0..2 {
            if !level[i] && new[i] {
                let continues = pulses.last().is_some_and(|p| p.pin == pins[i] && c.t - p.last_fall < gap);
                if continues {
                    let idx = pulses.len() - 1;
                    pulses[idx].periods += 1;
                    open[i] = Some((idx, c.t));
                } else {
                    pulses.push(ReadPulse {
                        pin: pins[i],
                        first_rise: c.t,
                        last_fall: c.t,
                        high: 0,
                        periods: 1,
                        unfinished: false,
                    });
                    open[i] = Some((pulses.len() - 1, c.t));
                }
            }
        }
        level = new;
    }
    for (idx, _) in open.iter().flatten() {
        pulses[*idx].unfinished = true;
    }
    pulses
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(t: i64, a: bool, b: bool) -> LineChange {
        LineChange { t, a, b }
    }

    #[test]
    fn periods_join_and_gaps_split() {
        // Two periods on A 100 apart (low 40 < gap 50), then a gap of 60 on A, then B.
        let c = [at(0, true, false), at(60, false, false), at(100, true, false), at(160, false, false)];
        let mut more = c.to_vec();
        more.extend([at(220, true, false), at(230, false, false), at(230, false, true)]);
        let p = pulses(&more, 50);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].pin, p[0].first_rise, p[0].last_fall, p[0].high, p[0].periods), (Pin::A, 0, 160, 120, 2));
        assert_eq!((p[1].first_rise, p[1].high, p[1].unfinished), (220, 10, false));
        assert_eq!((p[2].pin, p[2].first_rise, p[2].periods, p[2].unfinished), (Pin::B, 230, 1, true));
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        /// Every rise is one period of exactly one pulse, and the time high
        /// of the pulses adds up to the time each line was high and fell.
        #[test]
        fn every_period_is_counted_once(steps in proptest::collection::vec((1i64..500, any::<bool>(), any::<bool>()), 0..60), gap in 1i64..300) {
            let mut t = 0;
            let changes: Vec<LineChange> = steps.iter().map(|&(dt, a, b)| { t += dt; at(t, a, b) }).collect();
            let p = pulses(&changes, gap);
            let (mut rises, mut high, mut level, mut since) = (0u32, 0i64, [false; 2], [0i64; 2]);
            for c in &changes {
                for (i, now) in [c.a, c.b].into_iter().enumerate() {
                    if now && !level[i] { rises += 1; since[i] = c.t; }
                    if !now && level[i] { high += c.t - since[i]; }
                    level[i] = now;
                }
            }
            prop_assert_eq!(p.iter().map(|x| x.periods).sum::<u32>(), rises);
            prop_assert_eq!(p.iter().map(|x| x.high).sum::<i64>(), high);
            prop_assert!(p.windows(2).all(|w| w[0].first_rise <= w[1].first_rise));
        }
    }
}
