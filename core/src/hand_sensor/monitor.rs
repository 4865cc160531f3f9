//! The daemon's side of the hand sensors: a state machine fed with the
//! daemon's own moves ([`SensorMonitor::moved`]) and the sensors' edges
//! ([`SensorMonitor::edge`]), in the order they happened. It answers with
//! [`Finding`]s, which the tick thread acts on: a good check, a correction
//! of the belief, a window learned, a sensor fault, the position found by
//! homing.
//!
//! - **Passes.** An edge counts only when one of the daemon's own steps
//!   caused it (`by_move`: the tick thread tells by the edge's time); a
//!   pass needs an edge in and an edge out with all steps between one way.
//!   Anything else (a bump, a direction change inside the window, the
//!   crown) drops the pass: the next one, a minute later, counts.
//! - **Verdicts.** A pass is checked against the sensor's window (configured,
//!   learned, or assumed centred on 12 while homing). A noon pass corrects
//!   only whole minutes when a seconds sensor is there too: the seconds are
//!   its job. A pass made while reversing that disagrees is not trusted
//!   for the amount: after a lost reverse step the rotor is out of step
//!   and reverse pulses turn it *forwards*, so the hands go forward through
//!   the seconds window to measure ([`Finding::Recheck`]; with a noon
//!   sensor alone such a pass is corrected directly).
//! - **Faults.** A sensor that stays inactive while the hands sweep more
//!   than a turn and a window, or active for more than the widest window,
//!   is faulty: reported, and nothing is corrected or learned from it until
//!   it changes again.
//! - **Homing.** From an unknown position the first pulse may have the
//!   wrong polarity and be lost, so two forward steps come first (after
//!   them the rotor and the belief are in step). If the sensor is active
//!   then and its window is not known, the hands back out of it (reverse,
//!   when enabled), then go forward through it; the position is found at
//!   the edge that fixes it. The search ends in a failure after one turn
//!   of the dial (or of the second hand) plus the window.

use super::learn::Learner;
use super::{check, wrap, wrap_half, Pass, SensorKind, Verdict, Window};
use crate::dial::Dial;
use crate::waveform::Direction;
use std::fmt;

/// Forward steps at the start of homing before edges count (the first
/// pulse may be lost to an unknown polarity).
pub const HOMING_SYNC_STEPS: u32 = 2;

/// Which sensors there are, and the seconds window if it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonitorConfig {
    /// A seconds sensor is wired.
    pub seconds: bool,
    /// A noon sensor is wired.
    pub noon: bool,
    /// The seconds window when the admin file gives its width (`None`: learned).
    pub seconds_window: Option<Window>,
}

/// Where a sensor's window comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSource {
    /// The admin file gives its width (centred on 12).
    Configured,
    /// Measured from passes while the belief was certain.
    Learned,
    /// Measured while homing, assumed centred on 12.
    Assumed,
}

impl WindowSource {
    /// `configured`, `learned` or `assumed`.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowSource::Configured => "configured",
            WindowSource::Learned => "learned",
            WindowSource::Assumed => "assumed",
        }
    }

    /// The source named by [`WindowSource::as_str`].
    pub fn parse(s: &str) -> Option<WindowSource> {
        [WindowSource::Configured, WindowSource::Learned, WindowSource::Assumed].into_iter().find(|w| w.as_str() == s)
    }
}

impl fmt::Display for WindowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the daemon believes when an edge comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Belief {
    /// The believed position (while homing: the provisional one), `None` while unknown.
    pub position: Option<u32>,
    /// Whether it is certain (only a certain belief teaches a window).
    pub certain: bool,
}

/// What the monitor concluded; the tick thread acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A pass confirmed the belief (`error`: within the window's tolerance).
    Checked {
        /// Which sensor.
        sensor: SensorKind,
        /// Belief minus hands, steps, as measured.
        error: i64,
    },
    /// The belief is off: add `steps` to it.
    Corrected {
        /// Which sensor.
        sensor: SensorKind,
        /// The correction, steps (positive: the hands were ahead of the belief).
        steps: i64,
        /// In words, for the log and the `SensorCorrected` signal.
        reason: String,
    },
    /// A pass that says nothing (another width than the window's).
    Unclear {
        /// Which sensor.
        sensor: SensorKind,
        /// Why.
        reason: String,
    },
    /// A window was learned or assumed: keep it (state directory).
    WindowSet {
        /// Which sensor.
        sensor: SensorKind,
        /// The window.
        window: Window,
        /// Learned or assumed.
        source: WindowSource,
    },
    /// A sensor turned faulty: report it.
    Fault {
        /// Which sensor.
        sensor: SensorKind,
        /// In words.
        message: String,
    },
    /// A faulty sensor changed again: its fault is over.
    Recovered {
        /// Which sensor.
        sensor: SensorKind,
    },
    /// Homing found the whole position: the hands are at `position` now.
    Homed {
        /// Dial position.
        position: u32,
        /// When a position was believed before homing: how far off it was
        /// (the correction, steps; 0: it was right).
        steps: Option<i64>,
    },
    /// A pass against the hands' direction disagreed with the belief: a
    /// reverse step may have been lost, after which reverse pulses turn the
    /// rotor forwards, so the pass cannot say by how much. The hands go
    /// forward through the seconds window to find out (homing with the
    /// seconds sensor from the believed position).
    Recheck {
        /// Which sensor saw it.
        sensor: SensorKind,
        /// In words.
        reason: String,
    },
    /// Homing from an unknown position with only a seconds sensor found the
    /// second hand at `seconds` (the hour and minute must come from the user).
    SecondsFound {
        /// `0..60`.
        seconds: u32,
    },
    /// Homing gave up.
    HomeFailed {
        /// Why, in words.
        message: String,
    },
}

/// The range of positions the hands swept since the last edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sweep {
    at: i64,
    low: i64,
    high: i64,
}

impl Sweep {
    fn step(&mut self, sign: i64) {
        self.at += sign;
        self.low = self.low.min(self.at);
        self.high = self.high.max(self.at);
    }

    fn range(&self) -> u64 {
        self.high.abs_diff(self.low)
    }
}

/// An edge in, waiting for its edge out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PassStart {
    rise: u32,
    direction: Direction,
}

/// One sensor's state.
#[derive(Debug, Clone)]
struct Track {
    kind: SensorKind,
    period: u32,
    level: Option<bool>,
    moved_since_edge: bool,
    last_direction: Option<Direction>,
    pass: Option<PassStart>,
    sweep: Sweep,
    window: Option<(Window, WindowSource)>,
    learner: Learner,
    fault: Option<String>,
}

impl Track {
    fn new(kind: SensorKind, dial: Dial, window: Option<(Window, WindowSource)>) -> Track {
        Track {
            kind,
            period: kind.period(dial),
            level: None,
            moved_since_edge: false,
            last_direction: None,
            pass: None,
            sweep: Sweep::default(),
            window,
            learner: Learner::default(),
            fault: None,
        }
    }

    /// One step of ours: sweep, pass direction, and the fault checks.
    fn moved(&mut self, direction: Direction) -> Option<Finding> {
        self.moved_since_edge = true;
        self.last_direction = Some(direction);
        if self.pass.is_some_and(|p| p.direction != direction) {
            self.pass = None;
        }
        self.sweep.step(direction.sign());
        if self.fault.is_some() {
            return None;
        }
        let (swept, max) = (self.sweep.range(), u64::from(self.kind.max_width()));
        let message = if self.level == Some(true) && swept > max {
            format!(
                "the {} sensor stayed active while the hands moved {swept} steps (stuck, or active_low is wrong); \
                 nothing is corrected from it",
                self.kind
            )
        } else if self.level != Some(true) && swept > u64::from(self.period) + max {
            format!(
                "the {} sensor stayed silent while the hands moved {swept} steps (more than a turn): sensor or \
                 hand fault; nothing is corrected from it",
                self.kind
            )
        } else {
            return None;
        };
        self.fault = Some(message.clone());
        self.pass = None;
        self.learner.reset();
        Some(Finding::Fault { sensor: self.kind, message })
    }
}

/// Homing in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Homing {
    sensor: SensorKind,
    steps: u64,
    limit: u64,
    sync_left: u32,
    backing_out: bool,
    reverse_ok: bool,
    started_inside: bool,
    /// A position was believed when homing started.
    known: bool,
}

/// The hand sensors as the daemon sees them. See the module documentation.
#[derive(Debug, Clone)]
pub struct SensorMonitor {
    dial: Dial,
    tracks: Vec<Track>,
    homing: Option<Homing>,
}

impl SensorMonitor {
    /// A monitor of the configured sensors; `stored` are the windows kept
    /// from earlier runs (by sensor index: seconds, noon), used unless the
    /// admin file configures the seconds window.
    pub fn new(dial: Dial, config: MonitorConfig, stored: [Option<(Window, WindowSource)>; 2]) -> SensorMonitor {
        let mut tracks = Vec::new();
        if config.seconds {
            let window = match config.seconds_window {
                Some(w) => Some((w, WindowSource::Configured)),
                None => stored[0],
            };
            tracks.push(Track::new(SensorKind::Seconds, dial, window));
        }
        if config.noon {
            tracks.push(Track::new(SensorKind::Noon, dial, stored[1]));
        }
        SensorMonitor { dial, tracks, homing: None }
    }

    /// The sensors there are, seconds first.
    pub fn configured(&self) -> Vec<SensorKind> {
        self.tracks.iter().map(|t| t.kind).collect()
    }

    fn track(&mut self, kind: SensorKind) -> Option<&mut Track> {
        self.tracks.iter_mut().find(|t| t.kind == kind)
    }

    fn has(&self, kind: SensorKind) -> bool {
        self.tracks.iter().any(|t| t.kind == kind)
    }

    /// A sensor's window and where it comes from (`None`: not known yet, or no such sensor).
    pub fn window(&self, kind: SensorKind) -> Option<(Window, WindowSource)> {
        self.tracks.iter().find(|t| t.kind == kind).and_then(|t| t.window)
    }

    /// How many agreeing passes a sensor has measured towards its window.
    pub fn learning_passes(&self, kind: SensorKind) -> usize {
        self.tracks.iter().find(|t| t.kind == kind).map_or(0, |t| t.learner.passes())
    }

    /// The sensor's level as last seen (`None`: not yet seen).
    pub fn level(&self, kind: SensorKind) -> Option<bool> {
        self.tracks.iter().find(|t| t.kind == kind).and_then(|t| t.level)
    }

    /// The current faults, by sensor.
    pub fn faults(&self) -> Vec<(SensorKind, String)> {
        self.tracks.iter().filter_map(|t| t.fault.clone().map(|f| (t.kind, f))).collect()
    }

    /// Whether homing runs.
    pub fn homing(&self) -> bool {
        self.homing.is_some()
    }

    /// Which way homing moves the hands now (`None`: not homing).
    pub fn homing_direction(&self) -> Option<Direction> {
        self.homing.map(|h| if h.backing_out { Direction::Backward } else { Direction::Forward })
    }

    /// The belief changed by a leap (the user set the hands): passes in
    /// progress and passes measured for learning no longer count; homing
    /// ends.
    pub fn reset(&mut self) {
        self.homing = None;
        for t in &mut self.tracks {
            t.pass = None;
            t.learner.reset();
        }
    }

    /// Starts homing with the noon sensor, or the seconds sensor when there
    /// is no noon sensor. `reverse_ok`: the hands may back out of the
    /// window (reverse is enabled); `known`: a position is believed (the
    /// outcome is then a correction of it). Err when there is no sensor.
    pub fn start_homing(&mut self, reverse_ok: bool, known: bool) -> Result<SensorKind, String> {
        let sensor = if self.has(SensorKind::Noon) {
            SensorKind::Noon
        } else if self.has(SensorKind::Seconds) {
            SensorKind::Seconds
        } else {
            return Err("no hand sensor is configured ([sensor] in the admin file)".into());
        };
        self.home_with(sensor, reverse_ok, known);
        Ok(sensor)
    }

    fn home_with(&mut self, sensor: SensorKind, reverse_ok: bool, known: bool) {
        for t in &mut self.tracks {
            t.pass = None;
        }
        let limit = u64::from(sensor.period(self.dial) + 2 * sensor.max_width() + HOMING_SYNC_STEPS);
        let started_inside = self.level(sensor) == Some(true);
        self.homing = Some(Homing {
            sensor,
            steps: 0,
            limit,
            sync_left: HOMING_SYNC_STEPS,
            backing_out: false,
            reverse_ok,
            started_inside,
            known,
        });
    }

    /// Ends homing without a result (the user set the hands, or paused it away).
    pub fn cancel_homing(&mut self) {
        self.homing = None;
    }

    /// The daemon moved the hands one step `direction` (also while homing).
    pub fn moved(&mut self, direction: Direction) -> Vec<Finding> {
        let mut findings: Vec<Finding> = self.tracks.iter_mut().filter_map(|t| t.moved(direction)).collect();
        if let Some(f) = self.homing_moved() {
            findings.push(f);
        }
        findings
    }

    /// Homing's side of a step: the bound, the sync steps, backing out.
    fn homing_moved(&mut self) -> Option<Finding> {
        let h = self.homing.as_mut()?;
        h.steps += 1;
        if h.steps > h.limit {
            let (sensor, limit) = (h.sensor, h.limit);
            let what = if sensor == SensorKind::Noon { "the dial" } else { "the second hand" };
            self.homing = None;
            return Some(Finding::HomeFailed {
                message: format!(
                    "homing: the {sensor} sensor did not mark 12 within one turn of {what} ({limit} steps); check \
                     the sensor, its wiring and the magnets"
                ),
            });
        }
        if h.sync_left > 0 {
            h.sync_left -= 1;
            if h.sync_left == 0 {
                // Started in the window, or in it now, with its width not
                // known: back out, then come through it forwards.
                let sensor = h.sensor;
                let inside = h.started_inside || self.level(sensor) == Some(true);
                let unknown = self.window(sensor).is_none();
                if let Some(h) = self.homing.as_mut() {
                    h.backing_out = inside && unknown && h.reverse_ok;
                }
            }
        }
        None
    }

    /// The `sensor` turned `active` (true) or inactive. `by_move`: one of
    /// the daemon's steps caused it (it came during that step); `belief`:
    /// what the daemon believes after that step.
    pub fn edge(&mut self, sensor: SensorKind, active: bool, by_move: bool, belief: Belief) -> Vec<Finding> {
        let syncing = self.homing.is_some_and(|h| h.sync_left > 0);
        let Some(t) = self.track(sensor) else {
            return vec![];
        };
        let was = t.level;
        if was == Some(active) {
            return vec![];
        }
        t.level = Some(active);
        let moved = std::mem::take(&mut t.moved_since_edge);
        t.sweep = Sweep::default();
        let mut findings = Vec::new();
        if t.fault.take().is_some() {
            // Silent and now active, or stuck and now inactive: it works again.
            findings.push(Finding::Recovered { sensor });
        }
        let direction = t.last_direction.filter(|_| by_move && moved && was.is_some() && !syncing);
        let (Some(direction), Some(position)) = (direction, belief.position) else {
            t.pass = None;
            return findings;
        };
        if active {
            t.pass = Some(PassStart { rise: position, direction });
            findings.extend(self.homing_edge(sensor, true, direction, position));
            return findings;
        }
        let start = t.pass.take().filter(|p| p.direction == direction);
        let pass = start.map(|s| Pass::from_edges(s.rise, position, direction, t.period));
        if self.homing.is_some() {
            if let Some(pass) = pass {
                findings.extend(self.homing_pass(sensor, pass, direction, position));
            }
            if self.homing.is_some() {
                findings.extend(self.homing_edge(sensor, false, direction, position));
            }
        } else if let Some(pass) = pass {
            findings.extend(self.verify(sensor, pass, direction, belief));
        }
        findings
    }

    /// A homing edge of the homing sensor with its window known: the edge
    /// alone fixes the position. Backing out ends at the edge out.
    fn homing_edge(&mut self, sensor: SensorKind, active: bool, dir: Direction, belief: u32) -> Option<Finding> {
        let h = self.homing?;
        if h.sensor != sensor {
            return None;
        }
        if h.backing_out {
            if !active && dir == Direction::Backward {
                self.homing = Some(Homing { backing_out: false, ..h });
            }
            return None;
        }
        if dir != Direction::Forward {
            return None;
        }
        let (window, _) = self.window(sensor)?;
        let period = sensor.period(self.dial);
        let first = i64::from(window.offset);
        // Forward: the edge in is the first active position, the edge out the one after the last.
        let physical = if active { first } else { first + i64::from(window.width) };
        Some(self.homed(sensor, wrap(physical, period), belief))
    }

    /// A whole pass while homing with the window unknown: its width is
    /// measured, the window assumed centred on 12. The edge out was at the
    /// position after the last active one (forward) or before the first
    /// (backward, while backing out).
    fn homing_pass(&mut self, sensor: SensorKind, pass: Pass, direction: Direction, belief: u32) -> Vec<Finding> {
        if self.homing.is_none_or(|h| h.sensor != sensor) || self.window(sensor).is_some() {
            return vec![];
        }
        let period = sensor.period(self.dial);
        let window = Window::centered(pass.width(period));
        if let Some(t) = self.track(sensor) {
            t.window = Some((window, WindowSource::Assumed));
        }
        let first = i64::from(window.offset);
        let physical = match direction {
            Direction::Forward => first + i64::from(window.width),
            Direction::Backward => first - 1,
        };
        let homed = self.homed(sensor, wrap(physical, period), belief);
        vec![Finding::WindowSet { sensor, window, source: WindowSource::Assumed }, homed]
    }

    /// Homing found the hands at `physical` (modulo the sensor's period)
    /// with the provisional belief at `belief`: it ends.
    fn homed(&mut self, sensor: SensorKind, physical: u32, belief: u32) -> Finding {
        let known = self.homing.is_some_and(|h| h.known);
        self.homing = None;
        for t in &mut self.tracks {
            t.pass = None;
            t.learner.reset();
        }
        let period = sensor.period(self.dial);
        // How far the belief is from the hands, within the sensor's period.
        let steps = wrap_half(i64::from(physical) - i64::from(belief), period);
        match (sensor, known) {
            (SensorKind::Seconds, false) => Finding::SecondsFound { seconds: physical },
            (SensorKind::Seconds, true) => {
                Finding::Homed { position: self.dial.add(belief, steps), steps: Some(steps) }
            }
            (SensorKind::Noon, known) => Finding::Homed { position: physical, steps: known.then_some(steps) },
        }
    }

    /// A clean pass outside homing: learn the window, or check the belief.
    fn verify(&mut self, sensor: SensorKind, pass: Pass, direction: Direction, belief: Belief) -> Option<Finding> {
        let has_seconds = self.has(SensorKind::Seconds);
        let off_backward = direction == Direction::Backward && has_seconds;
        let t = self.track(sensor)?;
        if t.fault.is_some() {
            return None;
        }
        let Some((window, _)) = t.window else {
            if !belief.certain {
                return None;
            }
            let window = t.learner.add(pass, t.period)?;
            t.window = Some((window, WindowSource::Learned));
            return Some(Finding::WindowSet { sensor, window, source: WindowSource::Learned });
        };
        match check(&window, &pass, t.period) {
            Verdict::Good { error } => Some(Finding::Checked { sensor, error }),
            Verdict::Unclear(reason) => Some(Finding::Unclear { sensor, reason }),
            Verdict::Off { error } if off_backward => {
                self.home_with(SensorKind::Seconds, false, true);
                let reason = format!(
                    "{sensor} sensor: a pass while reversing was {} s off the belief; checking forwards",
                    error.abs()
                );
                Some(Finding::Recheck { sensor, reason })
            }
            Verdict::Off { error } => {
                let mut steps = -error;
                if sensor == SensorKind::Noon && has_seconds {
                    // Whole minutes only: the seconds sensor keeps the seconds.
                    steps = steps.signum() * ((steps.abs() + 29) / 60) * 60;
                }
                if steps == 0 {
                    return Some(Finding::Checked { sensor, error });
                }
                let how = if steps > 0 { "ahead of" } else { "behind" };
                let reason = format!("{sensor} sensor: the hands were {} s {how} the belief; corrected", steps.abs());
                Some(Finding::Corrected { sensor, steps, reason })
            }
        }
    }
}

#[cfg(test)]
mod tests;
