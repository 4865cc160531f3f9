//! The engine driving the movement model in virtual time: no clock, no
//! threads. Used by the engine's tests and the catch-up benchmark (time to
//! sync against the planner's optimum); it panics when the engine's belief
//! and the simulated hands part, so it is for tests and benchmarks only.

use crate::dial::Dial;
use crate::engine::{ClockState, Engine, PlannedMove, Status, LATE_LIMIT_US};
use crate::impulse_line::{Drive, ImpulseLine};
use crate::movement::slave_movement::ImpulseParams;
use crate::movement::{MotorParams, Movement};
use crate::pulse_config::PulseConfig;

const US_PER_SEC: i64 = 1_000_000;

/// An engine, the hands it drives, and virtual time.
pub struct VirtualRun {
    /// The engine under test.
    pub engine: Engine,
    /// The hands it drives.
    pub movement: Movement,
    /// Virtual true time, µs.
    pub now: i64,
    /// Local offset of the dial at a UTC instant, seconds.
    pub tz: Box<dyn Fn(i64) -> i64>,
    /// Pulses fired so far.
    pub pulses: u64,
}

impl VirtualRun {
    /// A run on a `dial`-second dial at `now` (µs) with these settings; hands at 12:00:00.
    pub fn new(dial: u32, config: PulseConfig, tz: Box<dyn Fn(i64) -> i64>, now: i64) -> VirtualRun {
        let dial = Dial::from_seconds(dial).unwrap_or(Dial::TWELVE_HOUR);
        VirtualRun {
            engine: Engine::new(dial, config),
            movement: Movement::new(0, dial.seconds(), MotorParams::default()),
            now,
            tz,
            pulses: 0,
        }
    }

    /// A run of an impulse `line` (its simulated slave movement with the
    /// default constants); hands at 12:00:00.
    pub fn impulse(
        dial: u32,
        line: ImpulseLine,
        config: PulseConfig,
        tz: Box<dyn Fn(i64) -> i64>,
        now: i64,
    ) -> VirtualRun {
        let mut run = VirtualRun::new(dial, config, tz, now);
        run.engine = Engine::with_drive(run.engine.dial(), config, Drive::Impulse(line));
        let params = ImpulseParams { step_s: line.step_s, ..ImpulseParams::default() };
        run.movement = Movement::new(
            0,
            run.engine.dial().seconds(),
            MotorParams { impulse: Some(params), ..MotorParams::default() },
        );
        run
    }

    /// A run in UTC with the default settings.
    pub fn utc(dial: u32, now: i64) -> VirtualRun {
        VirtualRun::new(dial, PulseConfig::default(), Box::new(|_| 0), now)
    }

    /// Sets hands (belief and physical) `offset` seconds from the target.
    pub fn set_offset(&mut self, offset: i64) {
        let target = self.engine.target_at(self.now, &*self.tz);
        let p = self.engine.dial().add(target, offset);
        self.engine.set_position(p, self.now);
        self.movement.set_by_crown(p);
    }

    /// The engine's status now.
    pub fn status(&self) -> Status {
        self.engine.status(self.now, &*self.tz)
    }

    /// One decision: sleep to it, fire it. Panics when belief and hands part.
    pub fn step(&mut self) {
        let d = self.engine.next(self.now, &*self.tz);
        assert!(d.at_us > self.now - LATE_LIMIT_US, "decision in the past: {} < {}", d.at_us, self.now);
        // A slot already past is served at once (late), as the tick thread does.
        let at = self.now.max(d.at_us);
        self.now = at;
        match d.action {
            Some(mv) => {
                assert_eq!(Some(mv.from), self.engine.hands());
                self.movement.apply(&mv.waveform, at);
                self.engine.moved(&mv, at);
                self.pulses += 1;
                self.now = at + i64::from(mv.waveform.duration_us());
                if self.engine.certain() {
                    assert_eq!(self.movement.position, mv.to, "belief and hands part at {}", at);
                }
            }
            None => self.engine.passed(d.at_us),
        }
    }

    /// Runs decisions until one carries a move, and returns it with the
    /// instant it goes out (not fired yet).
    pub fn next_move(&mut self) -> (PlannedMove, i64) {
        loop {
            let d = self.engine.next(self.now, &*self.tz);
            match d.action {
                Some(mv) => return (mv, self.now.max(d.at_us)),
                None => self.step(),
            }
        }
    }

    /// The daemon dies around `mv` (going out at `at`): the hands made it
    /// when `moved` (or `committed`), the journal committed it when
    /// `committed` (else it is in flight), and a fresh engine of the same
    /// dial, drive and settings starts `gap_ms` after the move's end, from
    /// what the journal says, and runs until its position is certain.
    pub fn die_and_restart(&mut self, mv: PlannedMove, at: i64, moved: bool, committed: bool, gap_ms: i64) {
        if moved || committed {
            self.movement.apply(&mv.waveform, at);
        }
        let restart = at + i64::from(mv.waveform.duration_us()) + gap_ms * 1000;
        let mut engine = Engine::with_drive(self.engine.dial(), PulseConfig::default(), self.engine.drive());
        if committed {
            engine.set_position(mv.to, restart);
            engine.let_rotor_settle(restart);
        } else {
            engine.recover_in_flight(mv.from, mv.to, restart);
        }
        self.engine = engine;
        self.now = restart;
        while !self.engine.certain() {
            self.step();
        }
    }

    /// Runs decisions until virtual time `until`.
    pub fn run_until(&mut self, until: i64) {
        while self.now < until {
            self.step();
        }
    }

    /// Runs until the hands are right and stay right for 5 s; returns the
    /// time it took, µs. Panics after `limit_s`.
    pub fn time_to_sync(&mut self, limit_s: i64) -> i64 {
        let start = self.now;
        let mut synced_at: Option<i64> = None;
        while self.now < start + limit_s * US_PER_SEC {
            self.step();
            let st = self.status();
            if st.offset == 0 && st.state == ClockState::Ticking {
                let at = *synced_at.get_or_insert(self.now);
                if self.now - at > 5 * US_PER_SEC {
                    return at - start;
                }
            } else {
                synced_at = None;
            }
        }
        panic!("not in sync after {limit_s} s: {:?}", self.status());
    }
}
