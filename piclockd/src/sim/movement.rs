//! The simulated clock: the motor model of `piclock_core::movement` fed the
//! same waveforms a real coil would get, with its state kept in
//! `<state-dir>/virtual-movement.json` so that, like real hands, it outlives
//! a daemon crash.
//!
//! The file holds at least `"position"` (physical seconds on the dial) and
//! `"missed_pulses"`. It is rewritten (atomically, by rename) after every
//! pulse that moved or missed, before `fire` returns. Its `"params"` hold
//! the motor's constants and the hand sensors (`params.sensors`: windows,
//! jitter, broken sensors; see `piclock_core::movement::sensor_model`).
//!
//! The hand sensors' lines are served through the same seam as real edge
//! events ([`VirtualSensors`], a [`SensorEdges`]), each edge at the true
//! time of the step that caused it.
//!
//! Bumping the hands: a file `<state-dir>/virtual-movement.nudge` holding a
//! signed number of steps (`7`, `+7`, `-13`) moves the hands by that much
//! without a pulse, just before the next pulse; the file is then deleted.
//! Its edges come just before that pulse's time, so no step of the
//! daemon's caused them.

use crate::coil::{Coil, CoilError, MoveTime};
use crate::files::{save_json, Durability};
use crate::hardware::SimulatedHands;
use crate::sensor_lines::{SensorEdge, SensorEdges, SensorLinesError, UNTIMED};
use piclock_core::hand_sensor::SensorKind;
use piclock_core::movement::slave_movement::ImpulseParams;
use piclock_core::movement::{MotorParams, Movement, Outcome};
use piclock_core::waveform::Waveform;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Busy-wait before a leading edge at speed 1 (as the real driver does).
const SPIN: Duration = Duration::from_millis(2);

/// File name of the virtual movement's state inside the state directory.
pub const FILE_NAME: &str = "virtual-movement.json";

/// File name of a bump of the hands (signed steps), applied once, then deleted.
pub const NUDGE_FILE_NAME: &str = "virtual-movement.nudge";

/// Edges kept for the tick thread at most (it polls after every move).
const MAX_QUEUED_EDGES: usize = 1024;

/// The sensor lines the daemon reads from the simulated movement.
struct Watch {
    kinds: Vec<SensorKind>,
    /// The daemon's `active_low`: how it reads the line levels.
    active_low: bool,
    high: [bool; 2],
    queue: VecDeque<SensorEdge>,
}

/// The movement and what watches it, shared by the coil and the sensors.
struct Shared {
    movement: Movement,
    path: PathBuf,
    watch: Option<Watch>,
}

impl Shared {
    /// Queues an edge for every watched line whose level changed, at `at_us`.
    fn note_levels(&mut self, at_us: i64) {
        let Some(w) = self.watch.as_mut() else {
            return;
        };
        for kind in &w.kinds {
            let high = self.movement.sensor_line_high(*kind);
            if high != w.high[kind.index()] {
                w.high[kind.index()] = high;
                if w.queue.len() >= MAX_QUEUED_EDGES {
                    w.queue.pop_front();
                }
                w.queue.push_back(SensorEdge { sensor: *kind, active: high != w.active_low, at_us });
            }
        }
    }

    fn save(&self) -> Result<(), CoilError> {
        save_json(&self.path, &self.movement, "virtual movement", Durability::ProcessCrash)
            .map_err(|e| CoilError::new(e.to_string()))
    }
}

/// A coil driving the simulated movement.
pub struct VirtualCoil {
    shared: Arc<Mutex<Shared>>,
    nudge_path: PathBuf,
    speed: f64,
    lead_delay: Option<Duration>,
    /// The real instant of the last step of an earlier run, until the first
    /// move carries it into this run's timeline.
    carried: Option<Instant>,
}

/// Locks the shared movement (a panic elsewhere cannot poison it for good:
/// the movement is plain data, consistent after every call).
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl VirtualCoil {
    /// Loads the movement from `state_dir`, or creates one with its hands at
    /// 12:00:00. A file for another dial size, or one that cannot be read,
    /// is replaced (and said so in the log).
    ///
    /// Each run of the daemon has its own virtual timeline (it starts at the
    /// system time), so the time of the last step is carried over into this
    /// one at the first move: it lies as far back as the real time since the
    /// file was written, times `speed`. A restart moments after a step thus
    /// finds the rotor still settling, as a real one would.
    ///
    /// `impulse_step`: the admin file's impulse line (its step), or `None`
    /// for a quartz movement; a movement of the other kind is made this
    /// kind (said so in the log), its hands where they were.
    pub fn open(
        state_dir: &Path,
        dial_seconds: u32,
        speed: f64,
        impulse_step: Option<u32>,
    ) -> Result<VirtualCoil, CoilError> {
        let path = state_dir.join(FILE_NAME);
        let written_ago = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or(Duration::ZERO);
        let mut movement = match crate::files::read_bounded(&path, crate::files::MAX_SETTINGS_FILE) {
            Ok(bytes) => match serde_json::from_slice::<Movement>(&bytes) {
                Ok(m) if m.dial_seconds == dial_seconds && m.position < dial_seconds => m,
                Ok(m) => {
                    tracing::warn!(path = %path.display(), "virtual movement was for a {}-second dial; starting a new one at 12:00:00", m.dial_seconds);
                    Movement::new(0, dial_seconds, m.params)
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "virtual movement unreadable ({e}); starting a new one at 12:00:00");
                    Movement::new(0, dial_seconds, MotorParams::default())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Movement::new(0, dial_seconds, MotorParams::default())
            }
            Err(e) => return Err(CoilError::new(format!("reading {}: {e}", path.display()))),
        };
        match (movement.params.impulse, impulse_step) {
            (None, None) => {}
            (Some(p), Some(step_s)) if p.step_s == step_s => {}
            (old, Some(step_s)) => {
                tracing::info!("virtual movement: a slave movement of {step_s} s steps");
                movement.params.impulse = Some(ImpulseParams { step_s, ..old.unwrap_or_default() });
            }
            (Some(_), None) => {
                tracing::info!("virtual movement: a quartz movement");
                movement.params.impulse = None;
            }
        }
        // A step longer ago than the clock reaches back is no step at all.
        let carried = movement.last_step.and_then(|_| Instant::now().checked_sub(written_ago));
        if carried.is_none() {
            movement.last_step = None;
        }
        let shared = Shared { movement, path, watch: None };
        shared.save()?;
        let nudge_path = state_dir.join(NUDGE_FILE_NAME);
        Ok(VirtualCoil { shared: Arc::new(Mutex::new(shared)), nudge_path, speed, lead_delay: None, carried })
    }

    /// Puts the last step of an earlier run into this run's timeline, by
    /// the real time between it and `at` (times the speed).
    fn carry_last_step(&mut self, at: MoveTime) {
        let Some(real) = self.carried.take() else {
            return;
        };
        let mut shared = lock(&self.shared);
        if let Some((_, dir)) = shared.movement.last_step {
            let ago_us = (at.real.saturating_duration_since(real).as_secs_f64() * 1e6 * self.speed).min(1e15) as i64;
            shared.movement.last_step = Some((at.true_us.saturating_sub(ago_us), dir));
        }
    }

    /// The simulated movement's state.
    pub fn movement(&self) -> Movement {
        lock(&self.shared).movement.clone()
    }

    /// Applies a waiting nudge file, if any, at `at_us`; deletes it.
    fn take_nudge(&mut self, at_us: i64) {
        let bytes = match crate::files::read_bounded(&self.nudge_path, 64) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!("{}: {e}", self.nudge_path.display());
                Vec::new()
            }
        };
        if let Err(e) = std::fs::remove_file(&self.nudge_path) {
            tracing::warn!("deleting {}: {e}", self.nudge_path.display());
        }
        let mut shared = lock(&self.shared);
        let dial = i64::from(shared.movement.dial_seconds);
        let text = String::from_utf8_lossy(&bytes);
        match text.trim().parse::<i64>() {
            Ok(steps) if steps.abs() < dial => {
                shared.movement.nudge(steps);
                tracing::info!(steps, position = shared.movement.position, "virtual movement: hands bumped");
                shared.note_levels(at_us);
            }
            _ => tracing::warn!(
                "{}: {:?} is not a number of steps; accepted: a signed integer within ±{}",
                self.nudge_path.display(),
                text.trim(),
                dial - 1
            ),
        }
    }

    /// The simulated sensor lines `kinds`, read as the admin file says
    /// (`active_low`). The first poll reports their levels now.
    pub fn sensors(&self, kinds: &[SensorKind], active_low: bool) -> VirtualSensors {
        let mut shared = lock(&self.shared);
        let mut watch = Watch { kinds: kinds.to_vec(), active_low, high: [false; 2], queue: VecDeque::new() };
        for kind in kinds {
            let high = shared.movement.sensor_line_high(*kind);
            watch.high[kind.index()] = high;
            watch.queue.push_back(SensorEdge { sensor: *kind, active: high != active_low, at_us: UNTIMED });
        }
        shared.watch = Some(watch);
        VirtualSensors { shared: self.shared.clone() }
    }
}

impl Coil for VirtualCoil {
    fn fire(&mut self, waveform: &Waveform, at: MoveTime) -> Result<(), CoilError> {
        self.carry_last_step(at);
        // A bump comes just before the move, in its own time.
        self.take_nudge(at.true_us - 1);
        // Wait like the real driver (sleep, then spin the last moment) so
        // that the leading edge's lateness means the same; at --speed above
        // 1 only the virtual time matters, and a plain sleep will do.
        let spin = if self.speed == 1.0 { SPIN } else { Duration::ZERO };
        crate::rt::sleep_until(at.real, spin);
        // Edge timing means something only at real speed (where it spins).
        self.lead_delay = (self.speed == 1.0).then(|| Instant::now().saturating_duration_since(at.real));
        // The pulses take their time (scaled like everything else); the rotor
        // lands at the end of them.
        let real = f64::from(waveform.duration_us()) / self.speed;
        std::thread::sleep(Duration::from_micros(real as u64));
        let mut shared = lock(&self.shared);
        let outcome = shared.movement.apply(waveform, at.true_us);
        if let Outcome::Missed(reason) = outcome {
            tracing::debug!(?reason, position = shared.movement.position, "virtual movement missed a pulse");
        }
        // The sensor changes as the hand lands, within the move.
        shared.note_levels(at.true_us + i64::from(waveform.duration_us()));
        shared.save()
    }

    fn release(&mut self) {}

    fn lead_delay(&self) -> Option<Duration> {
        self.lead_delay
    }
}

/// The virtual hands, as the tick thread sees them: turned by the crown
/// when the user sets them, and where they are.
pub struct VirtualHands {
    shared: Arc<Mutex<Shared>>,
}

impl VirtualCoil {
    /// The hands of this movement, for the tick thread.
    pub fn hands(&self) -> VirtualHands {
        VirtualHands { shared: self.shared.clone() }
    }
}

impl SimulatedHands for VirtualHands {
    fn crown_set(&mut self, position: u32) -> Result<(), CoilError> {
        let mut shared = lock(&self.shared);
        shared.movement.set_by_crown(position);
        shared.note_levels(UNTIMED);
        shared.save()
    }

    fn position(&self) -> u32 {
        lock(&self.shared).movement.position
    }
}

/// The simulated movement's sensor lines: a [`SensorEdges`] like the real ones.
pub struct VirtualSensors {
    shared: Arc<Mutex<Shared>>,
}

impl SensorEdges for VirtualSensors {
    fn poll(&mut self, out: &mut Vec<SensorEdge>) -> Result<(), SensorLinesError> {
        if let Some(w) = lock(&self.shared).watch.as_mut() {
            out.extend(w.queue.drain(..));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let shared = lock(&self.shared);
        let kinds: Vec<&str> = shared.watch.iter().flat_map(|w| w.kinds.iter().map(|k| k.name())).collect();
        format!("simulated {} sensor lines of the virtual movement", kinds.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use piclock_core::pulse_config::PulseConfig;
    use piclock_core::waveform::MoveKind;
    use std::time::Instant;

    #[test]
    fn persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = VirtualCoil::open(dir.path(), 43_200, 1000.0, None).unwrap();
        c.hands().crown_set(100).unwrap();
        let w = Waveform::for_move(MoveKind::Normal, 100, &PulseConfig::default());
        c.fire(&w, MoveTime { real: Instant::now(), true_us: 0 }).unwrap();
        let c2 = VirtualCoil::open(dir.path(), 43_200, 1000.0, None).unwrap();
        assert_eq!(c2.movement().position, 101);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(json["position"], 101);
        assert_eq!(json["missed_pulses"], 0);
    }

    /// Each run has its own virtual timeline; the rotor's memory of its last
    /// step follows the real time since, scaled by the speed.
    #[test]
    fn the_last_step_is_carried_into_the_new_timeline() {
        let dir = tempfile::tempdir().unwrap();
        let c = PulseConfig::default();
        let mut coil = VirtualCoil::open(dir.path(), 43_200, 60.0, None).unwrap();
        coil.hands().crown_set(101).unwrap();
        // A reverse step 101 -> 100 far ahead on the old timeline.
        coil.fire(
            &Waveform::for_move(MoveKind::Reverse, 101, &c),
            MoveTime { real: Instant::now(), true_us: 9_000_000_000 },
        )
        .unwrap();
        assert_eq!(coil.movement().position, 100);

        // Reopened at once on a new timeline: a forward step 10 ms later is
        // too soon after that reverse step, as it would be for a real rotor.
        let now = 1_000_000_000;
        // (At real speed, so that a busy machine's delay before the reopen,
        // scaled by the speed, cannot use up the rotor's 300 ms.)
        let mut again = VirtualCoil::open(dir.path(), 43_200, 1.0, None).unwrap();
        again
            .fire(
                &Waveform::for_move(MoveKind::Fast, 100, &c),
                MoveTime { real: Instant::now(), true_us: now + 10_000 },
            )
            .unwrap();
        assert_eq!(again.movement().position, 100);
        assert_eq!(again.movement().last_miss, Some(piclock_core::movement::MissReason::TooFast));

        // Reopened after a real while: long ago at 60x, so the step goes through.
        let file = std::fs::File::options().write(true).open(dir.path().join(FILE_NAME)).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(2)).unwrap();
        let mut later = VirtualCoil::open(dir.path(), 43_200, 60.0, None).unwrap();
        later
            .fire(
                &Waveform::for_move(MoveKind::Fast, 100, &c),
                MoveTime { real: Instant::now(), true_us: now + 100_000 },
            )
            .unwrap();
        assert_eq!(later.movement().position, 101);
        let (at, _) = later.movement().last_step.unwrap();
        assert_eq!(at, now + 100_000, "the step just made");
    }

    fn fire_at(coil: &mut VirtualCoil, kind: MoveKind, from: u32, true_us: i64) {
        let w = Waveform::for_move(kind, from, &PulseConfig::default());
        coil.fire(&w, MoveTime { real: Instant::now(), true_us }).unwrap();
    }

    #[test]
    fn the_sensor_lines_give_timed_edges_through_the_seam() {
        let dir = tempfile::tempdir().unwrap();
        let mut coil = VirtualCoil::open(dir.path(), 43_200, 1000.0, None).unwrap();
        coil.hands().crown_set(43_198).unwrap();
        let mut sensors = coil.sensors(&[SensorKind::Seconds, SensorKind::Noon], true);
        let mut edges = Vec::new();
        sensors.poll(&mut edges).unwrap();
        // The levels at start: seconds off (58), noon on (11:59:58).
        assert_eq!(
            edges,
            [
                SensorEdge { sensor: SensorKind::Seconds, active: false, at_us: UNTIMED },
                SensorEdge { sensor: SensorKind::Noon, active: true, at_us: UNTIMED }
            ]
        );
        edges.clear();
        fire_at(&mut coil, MoveKind::Normal, 43_198, 1_000_000);
        sensors.poll(&mut edges).unwrap();
        assert_eq!(edges, [SensorEdge { sensor: SensorKind::Seconds, active: true, at_us: 1_031_000 }]);
        edges.clear();
        for (i, from) in [43_199u32, 0, 1].into_iter().enumerate() {
            fire_at(&mut coil, MoveKind::Normal, from, 2_000_000 + i as i64 * 1_000_000);
        }
        sensors.poll(&mut edges).unwrap();
        assert_eq!(edges, [SensorEdge { sensor: SensorKind::Seconds, active: false, at_us: 4_031_000 }]);
        // Read the other way (active high): the same change, the other level.
        let mut high = coil.sensors(&[SensorKind::Seconds], false);
        edges.clear();
        high.poll(&mut edges).unwrap();
        assert_eq!(edges, [SensorEdge { sensor: SensorKind::Seconds, active: true, at_us: UNTIMED }]);
        assert!(high.describe().contains("seconds"));
    }

    #[test]
    fn a_nudge_file_bumps_the_hands_once_before_the_next_pulse() {
        let dir = tempfile::tempdir().unwrap();
        let mut coil = VirtualCoil::open(dir.path(), 43_200, 1000.0, None).unwrap();
        coil.hands().crown_set(50).unwrap();
        let mut sensors = coil.sensors(&[SensorKind::Seconds], true);
        let mut edges = Vec::new();
        sensors.poll(&mut edges).unwrap();
        edges.clear();
        std::fs::write(dir.path().join(NUDGE_FILE_NAME), "+9\n").unwrap();
        // 50 + 9 = 59 (into the window, before the pulse), then the pulse
        // has the wrong polarity for 59: lost.
        fire_at(&mut coil, MoveKind::Normal, 50, 7_000_000);
        assert!(!dir.path().join(NUDGE_FILE_NAME).exists(), "applied once, then deleted");
        let m = coil.movement();
        assert_eq!((m.position, m.missed_pulses, m.nudged_steps), (59, 1, 9));
        sensors.poll(&mut edges).unwrap();
        assert_eq!(edges, [SensorEdge { sensor: SensorKind::Seconds, active: true, at_us: 6_999_999 }]);
        // Negative, and nonsense (deleted, nothing moves).
        std::fs::write(dir.path().join(NUDGE_FILE_NAME), "-13").unwrap();
        fire_at(&mut coil, MoveKind::Normal, 59, 8_000_000);
        assert_eq!(coil.movement().position, 46, "59 - 13, and the pulse for 59 lost");
        std::fs::write(dir.path().join(NUDGE_FILE_NAME), "seven").unwrap();
        fire_at(&mut coil, MoveKind::Normal, 46, 9_000_000);
        assert_eq!(coil.movement().position, 47);
        assert!(!dir.path().join(NUDGE_FILE_NAME).exists());
        // The saved file keeps the sensors' settings and the bumps.
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(json["nudged_steps"], -4);
        assert_eq!(json["params"]["sensors"]["seconds_width"], 3);
    }
}
