//! The simulated hand sensors: where each is active, how its edges jitter,
//! and how it can fail.
//!
//! The seconds sensor sees its magnet while the second hand is within
//! `seconds_width` steps from `seconds_offset` (steps from 12, negative:
//! before); the noon sensor while the whole position is within
//! `noon_width` steps from `noon_offset` (the hour and minute hands both
//! at 12). With `jitter` J, each edge of each pass comes up to J steps
//! early or late, drawn afresh while the hand is away from the window (a
//! deterministic generator, kept in the movement's file, so a run
//! repeats). The lines are open-drain Hall switches by default
//! (`active_low`: low while the magnet is there).

use crate::hand_sensor::{wrap, wrap_half, SensorKind, SECONDS_PERIOD};
use serde::{Deserialize, Serialize};

/// Whether a simulated sensor works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorHealth {
    /// It sees its magnet where it should.
    #[default]
    Works,
    /// It never sees it (a broken wire, a magnet fallen off).
    Silent,
    /// It always sees it (a shorted switch).
    Stuck,
}

/// Where the simulated sensors see their magnets, and how they behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorGeometry {
    /// Steps the seconds sensor is active.
    pub seconds_width: u32,
    /// Its first active step, from second 0 (negative: before).
    pub seconds_offset: i32,
    /// Steps the noon sensor is active.
    pub noon_width: u32,
    /// Its first active step, from 12:00:00 (negative: before).
    pub noon_offset: i32,
    /// Each edge comes up to this many steps early or late (0: exact).
    pub jitter: u32,
    /// The lines are low while the magnet is there (open drain with a pull-up).
    pub active_low: bool,
    /// Whether the seconds sensor works.
    pub seconds_health: SensorHealth,
    /// Whether the noon sensor works.
    pub noon_health: SensorHealth,
}

impl Default for SensorGeometry {
    /// A 3-step seconds window and a 61-step noon window, both centred on
    /// 12, no jitter, active-low lines, both working.
    fn default() -> Self {
        SensorGeometry {
            seconds_width: 3,
            seconds_offset: -1,
            noon_width: 61,
            noon_offset: -30,
            jitter: 0,
            active_low: true,
            seconds_health: SensorHealth::Works,
            noon_health: SensorHealth::Works,
        }
    }
}

/// The jitter drawn for the current passes: early/late shifts of the
/// seconds sensor's edge in and edge out, then the noon sensor's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jitter {
    /// Generator state (0: not seeded yet).
    pub rng: u64,
    /// Shifts of the edges, steps: seconds in, seconds out, noon in, noon out.
    pub shifts: [i32; 4],
}

impl Jitter {
    fn next(&mut self) -> u64 {
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn draw(&mut self, j: u32) -> i32 {
        let span = u64::from(j) * 2 + 1;
        i32::try_from(self.next() % span).unwrap_or(0) - i32::try_from(j).unwrap_or(0)
    }
}

impl SensorGeometry {
    fn window(&self, kind: SensorKind) -> (i32, u32, SensorHealth) {
        match kind {
            SensorKind::Seconds => (self.seconds_offset, self.seconds_width, self.seconds_health),
            SensorKind::Noon => (self.noon_offset, self.noon_width, self.noon_health),
        }
    }

    /// Whether `kind` sees its magnet with the hands at `position`.
    pub fn present(&self, kind: SensorKind, position: u32, dial_seconds: u32, jitter: &Jitter) -> bool {
        let (offset, width, health) = self.window(kind);
        match health {
            SensorHealth::Silent => return false,
            SensorHealth::Stuck => return true,
            SensorHealth::Works => {}
        }
        let (period, i) = match kind {
            SensorKind::Seconds => (SECONDS_PERIOD, 0),
            SensorKind::Noon => (dial_seconds, 2),
        };
        let start = i64::from(offset) + i64::from(jitter.shifts[i]);
        let end = (i64::from(offset) + i64::from(width) + i64::from(jitter.shifts[i + 1])).max(start + 1);
        i64::from(wrap(i64::from(position) - start, period)) < end - start
    }

    /// The level of `kind`'s line (true: high) with the hands at `position`.
    pub fn line_high(&self, kind: SensorKind, position: u32, dial_seconds: u32, jitter: &Jitter) -> bool {
        self.present(kind, position, dial_seconds, jitter) != self.active_low
    }

    /// Draws new edge shifts for each sensor whose hand is well away from
    /// its window at `position` (so a pass never changes in the middle).
    pub fn redraw(&self, position: u32, dial_seconds: u32, jitter: &mut Jitter) {
        if self.jitter == 0 {
            return;
        }
        let margin = i64::from(self.jitter) + 2;
        for (kind, i) in [(SensorKind::Seconds, 0), (SensorKind::Noon, 2)] {
            let (offset, width, _) = self.window(kind);
            let period = if kind == SensorKind::Seconds { SECONDS_PERIOD } else { dial_seconds };
            let center2 = 2 * i64::from(offset) + i64::from(width) - 1;
            let away2 = wrap_half(2 * i64::from(position) - center2, 2 * period).abs();
            if away2 > i64::from(width) + 2 * margin {
                jitter.shifts[i] = jitter.draw(self.jitter);
                jitter.shifts[i + 1] = jitter.draw(self.jitter);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: u32 = 43_200;

    #[test]
    fn default_windows_are_centred_on_twelve() {
        let g = SensorGeometry::default();
        let j = Jitter::default();
        let active: Vec<u32> = (0..120).filter(|p| g.present(SensorKind::Seconds, *p, N, &j)).collect();
        assert_eq!(active, [0, 1, 59, 60, 61, 119]);
        let noon: Vec<u32> = (0..N).filter(|p| g.present(SensorKind::Noon, *p, N, &j)).collect();
        assert_eq!(noon.len(), 61);
        assert!(noon.contains(&0) && noon.contains(&30) && noon.contains(&(N - 30)) && !noon.contains(&31));
        // Active low: the line is low while the magnet is there.
        assert!(!g.line_high(SensorKind::Seconds, 0, N, &j));
        assert!(g.line_high(SensorKind::Seconds, 30, N, &j));
    }

    #[test]
    fn broken_sensors() {
        let g = SensorGeometry {
            seconds_health: SensorHealth::Silent,
            noon_health: SensorHealth::Stuck,
            ..SensorGeometry::default()
        };
        let j = Jitter::default();
        assert!((0..60).all(|p| !g.present(SensorKind::Seconds, p, N, &j)));
        assert!((0..600).all(|p| g.present(SensorKind::Noon, p * 71, N, &j)));
    }

    #[test]
    fn jitter_moves_edges_within_its_bound_and_only_away_from_the_window() {
        let g = SensorGeometry { jitter: 1, ..SensorGeometry::default() };
        let mut j = Jitter::default();
        let mut widths = std::collections::BTreeSet::new();
        for turn in 0..200u32 {
            for s in 0..60 {
                g.redraw(turn * 60 + s, N, &mut j);
                // Near the window nothing is redrawn.
                if (56..60).contains(&s) || s < 5 {
                    let before = j.shifts;
                    g.redraw(turn * 60 + s, N, &mut j);
                    assert_eq!(before[..2], j.shifts[..2]);
                }
            }
            let active: Vec<u32> = (0..60).filter(|p| g.present(SensorKind::Seconds, *p, N, &j)).collect();
            assert!(active.iter().all(|p| *p <= 2 || *p >= 57), "{active:?}");
            widths.insert(active.len());
        }
        assert_eq!(widths.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    }
}
