//! A recording fake of the coil lines, for tests and benchmarks (feature
//! `testing`): [`RecordingLines`] timestamps every change, and
//! [`pulses_from_edges`] turns such a recording back into pulses.

use super::lines::{both_high_error, Lines};
use super::CoilError;
use piclock_core::line_record::{self, LineChange};
use piclock_core::waveform::Pin;
use std::time::{Duration, Instant};

/// One recorded change of the lines: when, pin A, pin B.
pub type Edge = (Instant, bool, bool);

/// A fake [`Lines`] that records `(Instant::now(), a, b)` on every change of
/// the lines (calls that change nothing are not recorded).
///
/// The record is preallocated: while the capacity given to [`new`] lasts,
/// `set` does not allocate. It refuses `(true, true)` with an error (and
/// leaves the lines as they were), so a driver that tries it fails its test.
///
/// [`new`]: RecordingLines::new
#[derive(Debug)]
pub struct RecordingLines {
    edges: Vec<Edge>,
    capacity: usize,
    state: (bool, bool),
}

impl RecordingLines {
    /// A recorder with room for `capacity` changes; both lines start low.
    pub fn new(capacity: usize) -> Self {
        RecordingLines { edges: Vec::with_capacity(capacity), capacity, state: (false, false) }
    }

    /// The changes recorded so far.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The current levels `(a, b)`.
    pub fn state(&self) -> (bool, bool) {
        self.state
    }

    /// Returns the changes recorded so far and starts a new record with the
    /// same capacity (allocating it now, not on the hot path).
    pub fn take(&mut self) -> Vec<Edge> {
        std::mem::replace(&mut self.edges, Vec::with_capacity(self.capacity))
    }
}

impl Lines for RecordingLines {
    fn set(&mut self, a: bool, b: bool) -> Result<(), CoilError> {
        if a && b {
            return Err(both_high_error());
        }
        if (a, b) != self.state {
            self.state = (a, b);
            self.edges.push((Instant::now(), a, b));
        }
        Ok(())
    }
}

/// Low time on one pin shorter than this joins two PWM periods into one pulse.
pub const PULSE_GAP: Duration = Duration::from_millis(1);

/// One pulse found in a recording: consecutive PWM periods on one pin,
/// separated by less than [`PULSE_GAP`] of low time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedPulse {
    /// The driven pin.
    pub pin: Pin,
    /// The first rising edge.
    pub first_rise: Instant,
    /// The last falling edge (equal to `first_rise` if the recording ended
    /// before the first period fell).
    pub last_fall: Instant,
    /// Total time high (sum over the periods that fell).
    pub high: Duration,
    /// Number of rising edges (PWM periods).
    pub periods: u32,
}

impl RecordedPulse {
    /// From the first rising edge to the last falling edge.
    pub fn length(&self) -> Duration {
        self.last_fall.saturating_duration_since(self.first_rise)
    }
}

/// Groups a recording (as made by [`RecordingLines`], in time order) into
/// pulses: a rising edge on the pin of the current pulse less than
/// [`PULSE_GAP`] after its last fall continues it; any other rising edge
/// (other pin, or a longer gap) starts a new pulse.
///
/// Each pin is followed separately, so a change of both pins in one edge is
/// read as a fall on one and a rise on the other. A rise that never falls
/// (the recording ended high) counts as a period without high time. The
/// joining is the core's [`line_record::pulses`], on ns since the first edge.
pub fn pulses_from_edges(edges: &[Edge]) -> Vec<RecordedPulse> {
    let Some(&(base, _, _)) = edges.first() else {
        return Vec::new();
    };
    let ns = |t: Instant| i64::try_from(t.saturating_duration_since(base).as_nanos()).unwrap_or(i64::MAX);
    let at = |ns: i64| base + Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
    let changes: Vec<LineChange> = edges.iter().map(|&(t, a, b)| LineChange { t: ns(t), a, b }).collect();
    let gap = i64::try_from(PULSE_GAP.as_nanos()).unwrap_or(i64::MAX);
    line_record::pulses(&changes, gap)
        .into_iter()
        .map(|p| RecordedPulse {
            pin: p.pin,
            first_rise: at(p.first_rise),
            last_fall: at(p.last_fall),
            high: Duration::from_nanos(u64::try_from(p.high).unwrap_or(0)),
            periods: p.periods,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Synthetic PWM: `periods` periods of `on` µs high every 100 µs on `pin`, from `t0 + start`.
    fn pwm(t0: Instant, start: u64, pin: Pin, periods: u64, on: u64) -> Vec<Edge> {
        let high = |h: bool| match pin {
            Pin::A => (h, false),
            Pin::B => (false, h),
        };
        let mut v = Vec::new();
        for k in 0..periods {
            let (a, b) = high(true);
            v.push((t0 + us(start + k * 100), a, b));
            let (a, b) = high(false);
            v.push((t0 + us(start + k * 100 + on), a, b));
        }
        v
    }

    #[test]
    fn one_normal_tick() {
        let t0 = Instant::now();
        let p = pulses_from_edges(&pwm(t0, 0, Pin::A, 310, 60));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].pin, Pin::A);
        assert_eq!(p[0].periods, 310);
        assert_eq!(p[0].first_rise, t0);
        assert_eq!(p[0].last_fall, t0 + us(309 * 100 + 60));
        assert_eq!(p[0].high, us(310 * 60));
        assert_eq!(p[0].length(), us(30_960));
    }

    #[test]
    fn gaps_and_pins_split_pulses() {
        let t0 = Instant::now();
        let mut e = pwm(t0, 0, Pin::B, 100, 90); // 10 ms kick on B
        e.extend(pwm(t0, 17_000, Pin::A, 280, 90)); // gap 7 ms, 28 ms on A
        e.extend(pwm(t0, 1_000_000, Pin::A, 10, 50)); // a second later, A again
        let p = pulses_from_edges(&e);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].pin, p[0].periods), (Pin::B, 100));
        assert_eq!((p[1].pin, p[1].periods), (Pin::A, 280));
        assert_eq!(p[1].first_rise, t0 + us(17_000));
        assert_eq!(p[1].high, us(280 * 90));
        assert_eq!((p[2].pin, p[2].periods, p[2].high), (Pin::A, 10, us(500)));
    }

    #[test]
    fn short_low_time_joins_and_long_splits() {
        let t0 = Instant::now();
        // 999 µs low joins, 1000 µs low splits.
        let e = vec![
            (t0, true, false),
            (t0 + us(50), false, false),
            (t0 + us(1_049), true, false),
            (t0 + us(1_100), false, false),
            (t0 + us(2_100), true, false),
            (t0 + us(2_150), false, false),
        ];
        let p = pulses_from_edges(&e);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].periods, p[0].high), (2, us(101)));
        assert_eq!((p[1].periods, p[1].high), (1, us(50)));
    }

    #[test]
    fn direct_switch_over_and_unfinished_period() {
        let t0 = Instant::now();
        let e = vec![
            (t0, true, false),
            (t0 + us(60), false, true), // A falls and B rises at once
            (t0 + us(100), false, false),
            (t0 + us(200), true, false), // never falls
        ];
        let p = pulses_from_edges(&e);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].pin, p[0].high), (Pin::A, us(60)));
        assert_eq!((p[1].pin, p[1].high), (Pin::B, us(40)));
        assert_eq!((p[2].pin, p[2].periods, p[2].high), (Pin::A, 1, us(0)));
        assert_eq!(p[2].last_fall, p[2].first_rise);
        assert!(pulses_from_edges(&[]).is_empty());
    }

    #[test]
    fn recording_lines_records_changes_and_refuses_both_high() {
        let mut l = RecordingLines::new(8);
        l.set(false, false).unwrap(); // no change, not recorded
        l.set(true, false).unwrap();
        l.set(true, false).unwrap();
        assert!(l.set(true, true).is_err());
        assert_eq!(l.state(), (true, false));
        l.set(false, false).unwrap();
        l.set(false, true).unwrap();
        let levels: Vec<_> = l.edges().iter().map(|e| (e.1, e.2)).collect();
        assert_eq!(levels, [(true, false), (false, false), (false, true)]);
        let cap = l.edges.capacity();
        assert_eq!(cap, 8);
        let taken = l.take();
        assert_eq!(taken.len(), 3);
        assert!(l.edges().is_empty());
        assert!(l.edges.capacity() >= 8);
        assert!(taken.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn recording_lines_does_not_reallocate_within_capacity() {
        let mut l = RecordingLines::new(1000);
        let ptr = l.edges.as_ptr();
        for i in 0..1000 {
            l.set(i % 2 == 0, false).unwrap();
        }
        assert_eq!(l.edges().len(), 1000);
        assert_eq!(l.edges.as_ptr(), ptr);
    }
}
