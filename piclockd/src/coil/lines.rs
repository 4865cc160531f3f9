//! The two output lines of the coil, and a recording fake of them.
//!
//! - [`Lines`]: sets both coil lines in one operation.
//! - [`GpioLines`]: the real lines, over the GPIO character device (gpiocdev).
//! - [`RecordingLines`]: a fake that timestamps every change, for tests and
//!   benchmarks; [`pulses_from_edges`] turns such a recording back into
//!   pulses.

use super::CoilError;
use gpiocdev::line::{Value, Values};
use gpiocdev::Request;
use piclock_core::waveform::Pin;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The coil's two output lines, pin A and pin B.
pub trait Lines: Send {
    /// Sets pin A to `a` and pin B to `b` (true = high) in one operation.
    ///
    /// `(true, true)` would short the coil's drive and is refused by every
    /// implementation here.
    fn set(&mut self, a: bool, b: bool) -> Result<(), CoilError>;
}

fn both_high_error() -> CoilError {
    CoilError::new("refused to drive both coil lines high")
}

/// The coil lines on a GPIO chip, through the Linux GPIO character device.
///
/// Both lines are requested as outputs, initially low. Each [`Lines::set`]
/// is one `set_values` ioctl that reuses a preallocated [`Values`], so the
/// tick thread does not allocate per edge. Dropping it drives both lines low
/// (and then releases them).
#[derive(Debug)]
pub struct GpioLines {
    request: Request,
    chip: PathBuf,
    offsets: [u32; 2],
    values: Values,
}

impl GpioLines {
    /// Requests lines `offsets` = `[pin A, pin B]` (BCM 12 and 13 on a
    /// Raspberry Pi) of `chip` (e.g. `/dev/gpiochip0`) as outputs, initially
    /// inactive, labelled `consumer`. `names` are the lines' names, for the
    /// errors (empty when unknown).
    ///
    /// Errors name the chip, the lines (names and offsets) and, when they are
    /// held already, by which consumer (gpiocdev's own errors say none of it).
    pub fn open(chip: &Path, offsets: [u32; 2], names: [&str; 2], consumer: &str) -> Result<Self, CoilError> {
        let context = || format!("cannot request {} as outputs", describe_lines(chip, offsets, names));
        if offsets[0] == offsets[1] {
            return Err(CoilError::new(format!("{}: pin A and pin B are the same line", context())));
        }
        if let Err(e) = std::fs::metadata(chip) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Err(CoilError::new(format!(
                    "{}: {} does not exist (is this a Raspberry Pi with the GPIO \
                 character device, and is the chip path right? without one, try --simulate)",
                    context(),
                    chip.display()
                )));
            }
        }
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(consumer)
            .with_lines(&offsets)
            .as_output(Value::Inactive)
            .request()
            .map_err(|e| CoilError::new(format!("{}: {}", context(), why_not(chip, offsets, names, consumer, &e))))?;
        // Both offsets are present from the start: `Values::set` then updates
        // in place and never allocates.
        let values = Values::from_offsets(&offsets);
        Ok(GpioLines { request, chip: chip.to_path_buf(), offsets, values })
    }
}

/// "GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip0"; a line whose
/// name is empty is only "line 12".
pub fn describe_lines(chip: &Path, offsets: [u32; 2], names: [&str; 2]) -> String {
    let one = |i: usize| {
        if names[i].is_empty() {
            format!("line {}", offsets[i])
        } else {
            format!("{} (line {})", names[i], offsets[i])
        }
    };
    if names.iter().all(|n| n.is_empty()) {
        format!("GPIO lines {} and {} of {}", offsets[0], offsets[1], chip.display())
    } else {
        format!("{} and {} of {}", one(0), one(1), chip.display())
    }
}

/// Why a request of `offsets` on `chip` as `consumer` failed with `error`:
/// the chip's line info tells whether the lines exist and who holds them.
fn why_not(chip: &Path, offsets: [u32; 2], names: [&str; 2], consumer: &str, error: &gpiocdev::Error) -> String {
    let Ok(c) = gpiocdev::Chip::from_path(chip) else {
        return error.to_string();
    };
    if let Ok(info) = c.info() {
        if let Some(o) = offsets.iter().find(|o| **o >= info.num_lines) {
            return format!(
                "{} ({}) has no line {o}: its lines are 0..={}",
                chip.display(),
                info.label,
                info.num_lines.saturating_sub(1)
            );
        }
    }
    let held: Vec<(usize, gpiocdev::line::Info)> =
        (0..2).filter_map(|i| c.line_info(offsets[i]).ok().filter(|l| l.used).map(|l| (i, l))).collect();
    if held.is_empty() {
        return error.to_string();
    }
    let who: Vec<String> = held
        .iter()
        .map(|(i, line)| {
            let name = if names[*i].is_empty() { format!("line {}", offsets[*i]) } else { names[*i].to_owned() };
            if line.consumer.is_empty() {
                format!("{name}: no consumer label")
            } else {
                format!("{name}: consumer {:?}", line.consumer)
            }
        })
        .collect();
    let again = if held.iter().any(|(_, l)| l.consumer == consumer) {
        format!("; is another {consumer} running?")
    } else {
        String::new()
    };
    format!(
        "held by another process or a kernel driver ({}{again}); `gpioinfo` shows the users of the lines ({error})",
        who.join(", ")
    )
}

impl Lines for GpioLines {
    fn set(&mut self, a: bool, b: bool) -> Result<(), CoilError> {
        if a && b {
            return Err(both_high_error());
        }
        let level = |high: bool| if high { Value::Active } else { Value::Inactive };
        self.values.set(self.offsets[0], level(a)).set(self.offsets[1], level(b));
        self.request.set_values(&self.values).map_err(|e| {
            CoilError::new(format!(
                "cannot set GPIO lines {}={} {}={} of {}: {e}",
                self.offsets[0],
                u8::from(a),
                self.offsets[1],
                u8::from(b),
                self.chip.display()
            ))
        })
    }
}

impl Drop for GpioLines {
    fn drop(&mut self) {
        // Best effort: nothing sensible is left to do if this fails.
        let _ = self.set(false, false);
    }
}

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
/// (the recording ended high) counts as a period without high time.
pub fn pulses_from_edges(edges: &[Edge]) -> Vec<RecordedPulse> {
    let mut pulses: Vec<RecordedPulse> = Vec::new();
    // Index in `pulses` of the pulse each pin's current period belongs to,
    // and when that period rose.
    let mut open: [Option<(usize, Instant)>; 2] = [None, None];
    let mut level = [false, false];
    let pins = [Pin::A, Pin::B];
    for &(t, a, b) in edges {
        let new = [a, b];
        // Falls first, so that a switch-over closes one pin before the other rises.
        for i in 0..2 {
            if level[i] && !new[i] {
                if let Some((idx, rose)) = open[i].take() {
                    let p = &mut pulses[idx];
                    p.high += t.saturating_duration_since(rose);
                    p.last_fall = t;
                }
            }
        }
        for i in 0..2 {
            if !level[i] && new[i] {
                let continues = pulses
                    .last()
                    .is_some_and(|p| p.pin == pins[i] && t.saturating_duration_since(p.last_fall) < PULSE_GAP);
                if continues {
                    let idx = pulses.len() - 1;
                    pulses[idx].periods += 1;
                    open[i] = Some((idx, t));
                } else {
                    pulses.push(RecordedPulse {
                        pin: pins[i],
                        first_rise: t,
                        last_fall: t,
                        high: Duration::ZERO,
                        periods: 1,
                    });
                    open[i] = Some((pulses.len() - 1, t));
                }
            }
        }
        level = new;
    }
    pulses
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

    #[test]
    fn opening_a_missing_chip_names_chip_and_lines() {
        let err = GpioLines::open(Path::new("/dev/gpiochip-missing"), [12, 13], ["GPIO12", "GPIO13"], "piclockd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/dev/gpiochip-missing"), "{err}");
        assert!(err.contains("12") && err.contains("13"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(
            err.starts_with("cannot request GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip-missing"),
            "{err}"
        );
    }

    #[test]
    fn lines_are_described_with_their_names_when_known() {
        let chip = Path::new("/dev/gpiochip4");
        assert_eq!(
            describe_lines(chip, [12, 13], ["GPIO12", "GPIO13"]),
            "GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip4"
        );
        assert_eq!(describe_lines(chip, [17, 27], ["", ""]), "GPIO lines 17 and 27 of /dev/gpiochip4");
        assert_eq!(describe_lines(chip, [5, 6], ["GPIO5", ""]), "GPIO5 (line 5) and line 6 of /dev/gpiochip4");
    }

    #[test]
    fn opening_something_that_is_not_a_chip_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-chip");
        std::fs::write(&file, b"").unwrap();
        for path in [file.as_path(), Path::new("/dev/null")] {
            let err = GpioLines::open(path, [12, 13], ["", ""], "piclockd").unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("12") && err.contains("13"), "{err}");
        }
    }

    #[test]
    fn the_same_line_twice_is_refused() {
        let err = GpioLines::open(Path::new("/dev/gpiochip0"), [12, 12], ["GPIO12", "GPIO12"], "piclockd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("same line"), "{err}");
    }
}
