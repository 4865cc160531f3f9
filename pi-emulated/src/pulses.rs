//! From line changes to pulses and moves.
//!
//! The daemon sets both coil lines in one ioctl, and the kernel traces
//! every line of every set, changed or not; [`edges`] keeps the changes.
//! [`pulses`] then joins the PWM periods on one pin into a pulse (a low time
//! under [`PERIOD_GAP_US`] continues it: the core's
//! `line_record::pulses`, which `piclockd`'s recording fake uses too), and [`moves`] joins
//! the pulses of one move (the kick and the pull of a reverse tick are
//! [`MOVE_GAP_US`] apart at most).

use crate::trace::{Event, EventKind};
use piclock_core::line_record::{self, LineChange};
use piclock_core::waveform::{Pin, Pulse, PWM_PERIOD_US};

/// Low time on one pin shorter than this joins two PWM periods into one
/// pulse: the carrier's low phase is at most 99 µs, the gap of a reverse
/// tick 7 ms by default.
pub const PERIOD_GAP_US: i64 = 1_000;

/// A pulse that starts less than this after the previous one ended belongs
/// to the same move. The gap of a reverse tick is 7 ms by default; moves
/// come at most 8 a second (`fwd_ticks_per_sec` ≤ 8), so at least 80 ms
/// lie between the last fall of one and the first rise of the next with
/// the longest default pulse (45 ms).
pub const MOVE_GAP_US: i64 = 50_000;

/// A change of the coil lines: at `t_us`, the levels of pin A and pin B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Trace time, µs.
    pub t_us: i64,
    /// Pin A's level from then on.
    pub a: bool,
    /// Pin B's level from then on.
    pub b: bool,
}

/// The changes of the lines `gpio` (pin A, pin B) in `events`, both low
/// before the first event. Events of the same instant are merged, so that
/// the two per-line records of one ioctl make one change.
pub fn edges(events: &[Event], gpio: [u32; 2]) -> Vec<Edge> {
    let mut out: Vec<Edge> = Vec::new();
    let (mut a, mut b) = (false, false);
    for e in events {
        if let EventKind::Value { gpio: g, high } = e.kind {
            if g == gpio[0] {
                a = high;
            } else if g == gpio[1] {
                b = high;
            } else {
                continue;
            }
            let (pa, pb) = out.last().map_or((false, false), |x| (x.a, x.b));
            match out.last_mut() {
                Some(last) if last.t_us == e.t_us => {
                    last.a = a;
                    last.b = b;
                }
                _ if (pa, pb) != (a, b) => out.push(Edge { t_us: e.t_us, a, b }),
                _ => {}
            }
        }
    }
    // Merging may have produced a change back to the previous levels.
    out.dedup_by(|next, prev| (next.a, next.b) == (prev.a, prev.b));
    if out.first().is_some_and(|e| !e.a && !e.b) {
        out.remove(0);
    }
    out
}

/// The levels (A, B) at `t_us` (after every change at or before it).
pub fn levels_at(edges: &[Edge], t_us: i64) -> (bool, bool) {
    let n = edges.partition_point(|e| e.t_us <= t_us);
    if n == 0 {
        (false, false)
    } else {
        (edges[n - 1].a, edges[n - 1].b)
    }
}

/// One pulse rebuilt from the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuiltPulse {
    /// The driven pin.
    pub pin: Pin,
    /// The first rising edge, µs.
    pub first_rise_us: i64,
    /// The last falling edge, µs (the first rise if it never fell).
    pub last_fall_us: i64,
    /// Time high, summed over the periods that fell, µs.
    pub high_us: i64,
    /// Rising edges (PWM periods).
    pub periods: u32,
    /// The line was still high at the end of the edges.
    pub unfinished: bool,
}

impl RebuiltPulse {
    /// From the first rise to the last fall, µs.
    pub fn length_us(&self) -> i64 {
        self.last_fall_us - self.first_rise_us
    }

    /// The measured duty: time high per PWM period of 100 µs, 0..=1 (more
    /// when a high phase lasted longer than a period).
    pub fn duty(&self) -> f64 {
        if self.periods == 0 {
            return 0.0;
        }
        self.high_us as f64 / (f64::from(self.periods) * f64::from(PWM_PERIOD_US))
    }

    /// The pulse as the movement model takes it: measured length, and the
    /// measured duty rounded to whole µs per 100 µs (at most 100).
    pub fn as_model_pulse(&self, move_start_us: i64) -> Pulse {
        let on_us = (self.duty() * f64::from(PWM_PERIOD_US)).round().clamp(0.0, f64::from(PWM_PERIOD_US)) as u32;
        Pulse {
            pin: self.pin,
            start_us: u32::try_from(self.first_rise_us - move_start_us).unwrap_or(u32::MAX),
            len_us: u32::try_from(self.length_us()).unwrap_or(u32::MAX),
            on_us,
        }
    }
}

/// Joins the PWM periods of `edges` into pulses, in order of their first
/// rise ([`piclock_core::line_record::pulses`]): a rise on the pin of the
/// last pulse less than [`PERIOD_GAP_US`] after its last fall continues it;
/// any other rise starts a new pulse.
pub fn pulses(edges: &[Edge]) -> Vec<RebuiltPulse> {
    let changes: Vec<LineChange> = edges.iter().map(|e| LineChange { t: e.t_us, a: e.a, b: e.b }).collect();
    line_record::pulses(&changes, PERIOD_GAP_US)
        .into_iter()
        .map(|p| RebuiltPulse {
            pin: p.pin,
            first_rise_us: p.first_rise,
            last_fall_us: p.last_fall,
            high_us: p.high,
            periods: p.periods,
            unfinished: p.unfinished,
        })
        .collect()
}

/// The moments both lines were high at once: (from, to) in µs, `to` None
/// if they still were at the end.
pub fn both_high(edges: &[Edge]) -> Vec<(i64, Option<i64>)> {
    let mut spans = Vec::new();
    let mut since = None;
    for e in edges {
        match (e.a && e.b, since) {
            (true, None) => since = Some(e.t_us),
            (false, Some(from)) => {
                spans.push((from, Some(e.t_us)));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        spans.push((from, None));
    }
    spans
}

/// The pulses of one move, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// One pulse (a forward tick) or more (a reverse tick: kick, pull).
    pub pulses: Vec<RebuiltPulse>,
}

impl Move {
    /// The first rise, µs.
    pub fn start_us(&self) -> i64 {
        self.pulses.first().map_or(0, |p| p.first_rise_us)
    }

    /// The last fall, µs.
    pub fn end_us(&self) -> i64 {
        self.pulses.iter().map(|p| p.last_fall_us).max().unwrap_or(0)
    }

    /// The pulses as the movement model takes them, from [`Move::start_us`].
    pub fn model_pulses(&self) -> Vec<Pulse> {
        self.pulses.iter().map(|p| p.as_model_pulse(self.start_us())).collect()
    }
}

/// Joins pulses into moves: a pulse that starts less than [`MOVE_GAP_US`]
/// after the previous one ended belongs to its move, unless one of
/// `boundaries` (µs: the starts of daemons) lies between them.
pub fn moves(pulses: &[RebuiltPulse], boundaries: &[i64]) -> Vec<Move> {
    let mut moves: Vec<Move> = Vec::new();
    for p in pulses {
        match moves.last_mut() {
            Some(m)
                if p.first_rise_us - m.end_us() < MOVE_GAP_US
                    && !boundaries.iter().any(|&b| b > m.start_us() && b <= p.first_rise_us) =>
            {
                m.pulses.push(*p)
            }
            _ => moves.push(Move { pulses: vec![*p] }),
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(t_us: i64, gpio: u32, high: bool) -> Event {
        Event { t_us, kind: EventKind::Value { gpio, high } }
    }

    /// The events of `periods` PWM periods of `on` µs per 100 µs on `gpio`
    /// (470 or 471) from `start`, as the daemon's ioctls make them: both
    /// lines at every set.
    pub(crate) fn pwm(start: i64, gpio: u32, periods: i64, on: i64) -> Vec<Event> {
        let other = if gpio == 470 { 471 } else { 470 };
        let mut v = Vec::new();
        for k in 0..periods {
            let rise = start + k * 100;
            v.extend([value(rise, gpio, true), value(rise, other, false)]);
            v.extend([value(rise + on, gpio, false), value(rise + on, other, false)]);
        }
        v
    }

    #[test]
    fn a_normal_tick_is_one_pulse_of_310_periods() {
        let e = edges(&pwm(1_000_000, 470, 310, 60), [470, 471]);
        assert_eq!(e.len(), 620);
        let p = pulses(&e);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].pin, p[0].periods, p[0].length_us(), p[0].high_us), (Pin::A, 310, 30_960, 18_600));
        assert!((p[0].duty() - 0.6).abs() < 1e-9);
        let m = moves(&p, &[]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].model_pulses(), [Pulse { pin: Pin::A, start_us: 0, len_us: 30_960, on_us: 60 }]);
        assert_eq!(levels_at(&e, 1_000_000), (true, false));
        assert_eq!(levels_at(&e, 1_000_060), (false, false));
        assert_eq!(levels_at(&e, 0), (false, false));
    }

    #[test]
    fn a_reverse_tick_is_one_move_of_two_pulses() {
        let mut ev = pwm(0, 471, 100, 90);
        ev.extend(pwm(17_000, 470, 280, 90));
        ev.extend(pwm(500_000, 470, 100, 90)); // the next move
        let p = pulses(&edges(&ev, [470, 471]));
        assert_eq!(p.len(), 3);
        let m = moves(&p, &[]);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].pulses.len(), 2);
        // A daemon's start between two pulses separates them.
        assert_eq!(moves(&p, &[10_000]).len(), 3);
        let mp = m[0].model_pulses();
        assert_eq!((mp[0].pin, mp[0].len_us, mp[0].on_us), (Pin::B, 9_990, 90));
        assert_eq!((mp[1].pin, mp[1].start_us, mp[1].len_us), (Pin::A, 17_000, 27_990));
    }

    #[test]
    fn a_line_left_high_and_both_high_are_seen() {
        let mut ev = pwm(0, 470, 10, 60);
        ev.push(value(5_000, 470, true));
        ev.push(value(5_100, 471, true));
        ev.push(value(5_200, 471, false));
        let e = edges(&ev, [470, 471]);
        let p = pulses(&e);
        assert!(p.iter().any(|p| p.pin == Pin::A && p.unfinished), "{p:?}");
        assert_eq!(both_high(&e), [(5_100, Some(5_200))]);
        assert_eq!(levels_at(&e, 9_999_999), (true, false));
        // Unchanged sets and other lines are no changes.
        let e = edges(&[value(1, 470, false), value(2, 400, true), value(3, 471, false)], [470, 471]);
        assert!(e.is_empty());
    }
}
