//! The tick thread's side of the hand sensors: after every move (and every
//! idle wake-up) it reads the sensors' edges through the seam, tells the
//! monitor about its own step and each edge (caused by that step when the
//! edge's time falls within it), and acts on the findings: the belief
//! corrected and journalled, a window kept, a fault reported, homing
//! started, steered and ended.

use super::TickLoop;
use crate::sensor_lines::windows::WindowFile;
use crate::sensor_lines::{SensorEdge, SensorEdges, SensorSetup};
use crate::tick::{CommandError, CorrectionNote, SensorStatus, RECENT_CORRECTIONS};
use piclock_core::engine::{EngineError, PlannedMove};
use piclock_core::hand_sensor::duty_tuner::{DriveTuner, Raise, Tuned};
use piclock_core::hand_sensor::monitor::{Belief, Finding, SensorMonitor};
use piclock_core::hand_sensor::SensorKind;
use piclock_dbus::names::component;
use tokio::sync::mpsc::UnboundedSender;

/// How long after a move's last pulse an edge still counts as caused by
/// it, µs of real time (a Hall switch follows the hand within
/// milliseconds; the kernel timestamps the edge).
const EDGE_AFTER_MOVE_US: f64 = 50_000.0;

/// The sensors' state in the tick thread.
pub(super) struct Sensing {
    edges: Box<dyn SensorEdges>,
    monitor: SensorMonitor,
    windows: WindowFile,
    home_on_start: bool,
    buf: Vec<SensorEdge>,
    /// True time span (µs) within which an edge counts as caused by the last move.
    last_move: Option<(i64, i64)>,
    last_check_us: i64,
    corrections: u32,
    recent: Vec<CorrectionNote>,
    home_fault: Option<String>,
    read_fault: Option<String>,
    seconds_found: Option<u32>,
    tuner: DriveTuner,
    raises: UnboundedSender<Raise>,
    /// A loss located by a recheck, told with the correction homing makes.
    pending_loss: Option<String>,
}

impl Sensing {
    pub(super) fn new(setup: SensorSetup) -> Sensing {
        let SensorSetup { edges, monitor, windows, home_on_start, tuner, raises } = setup;
        tracing::info!("hand sensors: {}", edges.describe());
        Sensing {
            edges,
            monitor,
            windows,
            home_on_start,
            buf: Vec::new(),
            last_move: None,
            last_check_us: 0,
            corrections: 0,
            recent: Vec::new(),
            home_fault: None,
            read_fault: None,
            seconds_found: None,
            tuner,
            raises,
            pending_loss: None,
        }
    }
}

impl TickLoop {
    /// At start: reads the sensors' levels, and homes when `home_on_start`
    /// asks for it and no position is known.
    pub(super) fn start_sensing(&mut self) {
        self.sense(None);
        let Some(s) = self.sensing.as_ref() else {
            return;
        };
        if s.home_on_start && self.engine.hands().is_none() {
            tracing::info!("no hand position known: homing with the hand sensors (home_on_start)");
            if let Err(e) = self.start_homing() {
                tracing::error!("homing: {e}");
            }
        }
    }

    /// After `moved` (or an idle wake-up): the monitor hears of the step,
    /// then of every edge since the last call.
    pub(super) fn sense(&mut self, moved: Option<(&PlannedMove, i64)>) {
        let speed = self.clock.speed();
        let Some(s) = self.sensing.as_mut() else {
            return;
        };
        let mut findings = Vec::new();
        if let Some((mv, at_us)) = moved {
            let end = at_us + i64::from(mv.waveform.duration_us()) + (EDGE_AFTER_MOVE_US * speed) as i64;
            s.last_move = Some((at_us, end));
            s.tuner.moved(mv.kind, mv.from, self.engine.config());
            findings.extend(s.monitor.moved(mv.kind.direction()));
        }
        s.buf.clear();
        match s.edges.poll(&mut s.buf) {
            Ok(()) if s.read_fault.take().is_some() => tracing::info!("the sensor lines can be read again"),
            Ok(()) => {}
            Err(e) => {
                // Kept as the fault's text (the `Faults` property).
                let e = e.to_string();
                if s.read_fault.as_deref() != Some(e.as_str()) {
                    tracing::error!("hand sensors: {e}");
                }
                s.read_fault = Some(e);
            }
        }
        self.act(findings);
        let edges = self.sensing.as_mut().map(|s| std::mem::take(&mut s.buf)).unwrap_or_default();
        for edge in &edges {
            let Some(s) = self.sensing.as_mut() else {
                return;
            };
            let by_move = s.last_move.is_some_and(|(from, to)| (from..=to).contains(&edge.at_us));
            let belief = Belief { position: self.engine.hands(), certain: self.engine.certain() };
            tracing::debug!(sensor = %edge.sensor, active = edge.active, at_us = edge.at_us, last_move = ?s.last_move, by_move, belief = ?belief.position, "sensor edge");
            if edge.sensor == SensorKind::Seconds {
                s.tuner.seconds_edge(edge.active, by_move);
            }
            let findings = s.monitor.edge(edge.sensor, edge.active, by_move, belief);
            self.act(findings);
        }
        if let Some(s) = self.sensing.as_mut() {
            s.buf = edges;
        }
    }

    /// Acts on the monitor's findings, in order (the drive tuner first
    /// hears of each: it may locate a loss the finding reveals).
    fn act(&mut self, findings: Vec<Finding>) {
        let now = self.clock.now_us();
        for f in findings {
            let dial = self.engine.dial();
            let f = match self.sensing.as_ref() {
                Some(s) => s.tuner.refine(f, dial),
                None => f,
            };
            let located = self.tune(&f, now);
            match f {
                Finding::Checked { sensor, error } => {
                    tracing::debug!(%sensor, error, "hand sensor: the belief is right");
                    self.checked(now);
                }
                Finding::Corrected { sensor, steps, reason } => {
                    tracing::debug!(%sensor, steps, "hand sensor correction");
                    let reason = match located {
                        Some(loss) => format!("{reason}; {loss}"),
                        None => reason,
                    };
                    self.correct_by(steps, reason, now);
                }
                Finding::Unclear { sensor, reason } => tracing::info!(%sensor, "hand sensor pass ignored: {reason}"),
                Finding::WindowSet { sensor, window, source } => {
                    tracing::info!(%sensor, offset = window.offset, width = window.width, tolerance = window.tolerance, "{source} the {sensor} sensor's window");
                    if let Some(Err(e)) = self.sensing.as_mut().map(|s| s.windows.save(sensor, window, source)) {
                        tracing::error!("keeping the sensor window: {e}");
                    }
                }
                Finding::Fault { sensor, message } => tracing::warn!(%sensor, "{message}"),
                Finding::Recovered { sensor } => tracing::info!(%sensor, "the {sensor} sensor works again"),
                Finding::Recheck { reason, .. } => {
                    tracing::warn!("{reason}");
                    if let Some(s) = self.sensing.as_mut() {
                        s.pending_loss = located;
                    }
                    self.engine.start_homing();
                }
                Finding::Homed { position, steps } => self.homed(position, steps, now),
                Finding::SecondsFound { seconds } => {
                    self.engine.end_homing(None);
                    tracing::info!(
                        "homing: the second hand is at :{seconds:02}; tell the hour and minute (piclockctl set-hands H:MM)"
                    );
                    if let Some(s) = self.sensing.as_mut() {
                        s.seconds_found = Some(seconds);
                    }
                }
                Finding::HomeFailed { message } => {
                    tracing::error!("{message}");
                    self.engine.end_homing(None);
                    if let Some(s) = self.sensing.as_mut() {
                        s.home_fault = Some(message);
                    }
                }
            }
        }
        if let Some(d) = self.sensing.as_ref().and_then(|s| s.monitor.homing_direction()) {
            self.engine.set_homing_direction(d);
        }
    }

    /// The drive tuner's side of a finding: a loss it located (in words,
    /// for the correction's reason) and a raise it asks for, sent to the
    /// settings path.
    fn tune(&mut self, finding: &Finding, now: i64) -> Option<String> {
        let config = *self.engine.config();
        let s = self.sensing.as_mut()?;
        let window = s.monitor.window(SensorKind::Seconds).map(|(w, _)| w);
        let tuned = s.tuner.observe(finding, window.as_ref(), now, &config)?;
        let (loss, said) = match tuned {
            Tuned::Located(loss) => (loss, None),
            Tuned::AtLimit(loss, why) => (loss, Some(why)),
            Tuned::Raise(loss, raise) => {
                let said = raise.reason.clone();
                if s.raises.send(raise).is_err() {
                    tracing::error!("drive tuning: the settings task is gone");
                }
                (loss, Some(said))
            }
        };
        if let Some(said) = said {
            tracing::warn!("{said}");
        }
        let (first, last) = loss.between;
        let dial = self.engine.dial();
        let at = if first == last {
            format!("at {}", dial.format(first))
        } else {
            format!("between {} and {}", dial.format(first), dial.format(last))
        };
        if !loss.blame {
            return Some(format!("the first pulse after the hands were set was lost {at} (the rotor's polarity)"));
        }
        Some(format!("a step lost by {} ({}) {at}", loss.duty.describe(&config), loss.duty))
    }

    fn checked(&mut self, now: i64) {
        if let Some(s) = self.sensing.as_mut() {
            s.last_check_us = now;
        }
    }

    /// A sensor found the belief `steps` off: the belief moves by that much,
    /// is journalled, and the correction is counted.
    fn correct_by(&mut self, steps: i64, reason: String, now: i64) {
        let Some(hands) = self.engine.hands() else {
            return;
        };
        let position = self.engine.dial().add(hands, steps);
        self.engine.correct(position);
        self.note_correction(hands, position, steps, reason, now);
    }

    /// The belief became `position` (from `from`): journalled, counted, logged.
    fn note_correction(&mut self, from: u32, position: u32, steps: i64, reason: String, now: i64) {
        if self.engine.journals_moves() {
            if let Err(e) = self.journal.commit(position) {
                tracing::error!("journal: {e}");
                self.fail_store(e.to_string(), now);
            }
        }
        tracing::warn!(from, to = position, steps, "{reason}");
        let Some(s) = self.sensing.as_mut() else {
            return;
        };
        s.corrections += 1;
        s.last_check_us = now;
        let steps = i32::try_from(steps).unwrap_or(if steps < 0 { i32::MIN } else { i32::MAX });
        s.recent.push(CorrectionNote { seq: s.corrections, steps, reason });
        if s.recent.len() > RECENT_CORRECTIONS {
            s.recent.remove(0);
        }
    }

    /// Homing found the hands at `position`; `steps`: how far off the
    /// belief was, when there was one.
    fn homed(&mut self, position: u32, steps: Option<i64>, now: i64) {
        let before = self.engine.hands();
        let loss = self.sensing.as_mut().and_then(|s| s.pending_loss.take());
        self.engine.end_homing(Some(position));
        if let Some(s) = self.sensing.as_mut() {
            s.home_fault = None;
            s.seconds_found = None;
        }
        self.doubt_note = None;
        match (steps, before) {
            (Some(d), Some(from)) if d != 0 => {
                let how = if d > 0 { "ahead of" } else { "behind" };
                let mut reason = format!("homing: the hands were {} s {how} the belief; corrected", d.abs());
                if let Some(loss) = loss {
                    reason = format!("{reason}; {loss}");
                }
                self.note_correction(from, position, d, reason, now);
            }
            _ => {
                if let Err(e) = self.journal.commit(position) {
                    tracing::error!("journal: {e}");
                    self.fail_store(e.to_string(), now);
                }
                self.checked(now);
                tracing::info!(position, "homing: the hands are at {}", self.engine.dial().format(position));
            }
        }
    }

    /// Starts homing (the `Home` method, `home_on_start`, or a recheck).
    pub(super) fn start_homing(&mut self) -> Result<(), CommandError> {
        let reverse_ok = self.engine.config().rev_ticks_per_sec > 0;
        let known = self.engine.hands().is_some() && !self.engine.homing();
        let Some(s) = self.sensing.as_mut() else {
            let message = "no hand sensor is configured ([sensor] in the admin file)".to_owned();
            return Err(CommandError::Invalid(EngineError { field: "sensor", message }));
        };
        if self.engine.homing() {
            return Ok(());
        }
        let sensor = s
            .monitor
            .start_homing(reverse_ok, known)
            .map_err(|message| CommandError::Invalid(EngineError { field: "sensor", message }))?;
        s.home_fault = None;
        s.seconds_found = None;
        self.engine.start_homing();
        tracing::info!("homing with the {sensor} sensor");
        Ok(())
    }

    /// The user set the hands: passes in progress and homing no longer count.
    pub(super) fn sensors_reset(&mut self) {
        if let Some(s) = self.sensing.as_mut() {
            s.monitor.reset();
            s.tuner.hands_set();
            s.pending_loss = None;
            s.seconds_found = None;
            s.home_fault = None;
        }
    }

    /// The sensors' faults, as (`Fault` component, message).
    pub(super) fn sensor_faults(&self) -> Vec<(&'static str, String)> {
        let Some(s) = self.sensing.as_ref() else {
            return vec![];
        };
        let mut faults: Vec<(&'static str, String)> = s
            .monitor
            .faults()
            .into_iter()
            .map(|(kind, m)| (component::SENSOR, format!("{kind} sensor: {m}")))
            .collect();
        faults.extend(s.home_fault.iter().chain(&s.read_fault).map(|m| (component::SENSOR, m.clone())));
        faults
    }

    /// The sensors as the snapshot shows them.
    pub(super) fn sensor_status(&self) -> SensorStatus {
        let Some(s) = self.sensing.as_ref() else {
            return SensorStatus::default();
        };
        let configured = s.monitor.configured();
        let windows = configured
            .iter()
            .map(|k| (*k, s.monitor.window(*k).ok_or_else(|| s.monitor.learning_passes(*k))))
            .collect();
        SensorStatus {
            configured,
            last_check_us: u64::try_from(s.last_check_us).unwrap_or(0),
            corrections: s.corrections,
            windows,
            recent: s.recent.clone(),
            seconds_found: s.seconds_found,
            homing: self.engine.homing(),
        }
    }
}
