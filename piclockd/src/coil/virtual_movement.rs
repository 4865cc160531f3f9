//! The simulated clock: the motor model of `piclock_core::movement` fed the
//! same waveforms a real coil would get, with its state kept in
//! `<state-dir>/virtual-movement.json` so that, like real hands, it outlives
//! a daemon crash.
//!
//! The file holds at least `"position"` (physical seconds on the dial) and
//! `"missed_pulses"`. It is rewritten (atomically, by rename) after every
//! pulse that moved or missed, before `fire` returns.

use super::{Coil, CoilError, MoveTime};
use piclock_core::movement::{MotorParams, Movement, Outcome};
use piclock_core::waveform::Waveform;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Busy-wait before a leading edge at speed 1 (as the real driver does).
const SPIN: Duration = Duration::from_millis(2);

/// File name of the virtual movement's state inside the state directory.
pub const FILE_NAME: &str = "virtual-movement.json";

/// A coil driving the simulated movement.
pub struct VirtualCoil {
    movement: Movement,
    path: PathBuf,
    speed: f64,
    lead_delay: Option<Duration>,
}

impl VirtualCoil {
    /// Loads the movement from `state_dir`, or creates one with its hands at
    /// 12:00:00. A file for another dial size, or one that cannot be read,
    /// is replaced (and said so in the log).
    ///
    /// `now_us` is true time now on the daemon's clock. Each run of the
    /// daemon has its own virtual timeline (it starts at the system time), so
    /// the time of the last step is carried over into this one: it lies as
    /// far back as the real time since the file was written, times `speed`.
    /// A restart moments after a step thus finds the rotor still settling,
    /// as a real one would.
    pub fn open(state_dir: &Path, dial_seconds: u32, speed: f64, now_us: i64) -> Result<VirtualCoil, CoilError> {
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
        if let Some((_, dir)) = movement.last_step {
            let ago_us = (written_ago.as_secs_f64() * 1e6 * speed).min(1e15) as i64;
            movement.last_step = Some((now_us.saturating_sub(ago_us), dir));
        }
        let coil = VirtualCoil { movement, path, speed, lead_delay: None };
        coil.save()?;
        Ok(coil)
    }

    /// The simulated movement's state.
    pub fn movement(&self) -> &Movement {
        &self.movement
    }

    fn save(&self) -> Result<(), CoilError> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.movement)
            .map_err(|e| CoilError::new(format!("encoding virtual movement: {e}")))?;
        std::fs::write(&tmp, bytes).map_err(|e| CoilError::new(format!("writing {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| CoilError::new(format!("renaming {} to {}: {e}", tmp.display(), self.path.display())))
    }
}

impl Coil for VirtualCoil {
    fn fire(&mut self, waveform: &Waveform, at: MoveTime) -> Result<(), CoilError> {
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
        let outcome = self.movement.apply(waveform, at.true_us);
        if let Outcome::Missed(reason) = outcome {
            tracing::debug!(?reason, position = self.movement.position, "virtual movement missed a pulse");
        }
        self.save()?;
        Ok(())
    }

    fn release(&mut self) {}

    fn lead_delay(&self) -> Option<Duration> {
        self.lead_delay
    }

    fn crown_set(&mut self, position: u32) -> Result<(), CoilError> {
        self.movement.set_by_crown(position);
        self.save()
    }

    fn physical_position(&self) -> Option<u32> {
        Some(self.movement.position)
    }

    fn supports_speed(&self, speed: f64) -> bool {
        speed > 0.0 && speed.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use piclock_core::pulse_config::PulseConfig;
    use piclock_core::waveform::MoveKind;

    #[test]
    fn persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = VirtualCoil::open(dir.path(), 43_200, 1000.0, 0).unwrap();
        c.crown_set(100).unwrap();
        let w = Waveform::for_move(MoveKind::Normal, 100, &PulseConfig::default());
        c.fire(&w, MoveTime { real: Instant::now(), true_us: 0 }).unwrap();
        let c2 = VirtualCoil::open(dir.path(), 43_200, 1000.0, 0).unwrap();
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
        let mut coil = VirtualCoil::open(dir.path(), 43_200, 60.0, 5_000_000_000).unwrap();
        coil.crown_set(101).unwrap();
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
        let mut again = VirtualCoil::open(dir.path(), 43_200, 1.0, now).unwrap();
        let (at, _) = again.movement().last_step.unwrap();
        assert!((now - 250_000..=now).contains(&at), "last step at {at}, now {now}");
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
        let mut later = VirtualCoil::open(dir.path(), 43_200, 60.0, now).unwrap();
        let (at, _) = later.movement().last_step.unwrap();
        assert!(now - at >= 100_000_000, "2 s at 60x is 2 min back: {}", now - at);
        later
            .fire(
                &Waveform::for_move(MoveKind::Fast, 100, &c),
                MoveTime { real: Instant::now(), true_us: now + 100_000 },
            )
            .unwrap();
        assert_eq!(later.movement().position, 101);
    }
}
