//! The monitor in a closed loop: the engine drives the movement model in
//! virtual time, the movement's sensors feed the monitor, and the monitor's
//! findings correct the engine, as the tick thread does.

use super::*;
use crate::dial::DIAL_12H;
use crate::engine::Engine;
use crate::hand_sensor::duty_tuner::{DriveTuner, Duty, Tuned, TunerConfig};
use crate::movement::sensor_model::{SensorGeometry, SensorHealth};
use crate::movement::{MotorParams, Movement};
use crate::pulse_config::{ConfigValue, PulseConfig};
use proptest::prelude::*;

const US: i64 = 1_000_000;
/// 2026-03-29 10:00:00 UTC.
const T0: i64 = (1_774_742_400 + 10 * 3600) * US;

/// Engine, movement, monitor and virtual time.
struct Rig {
    engine: Engine,
    movement: Movement,
    monitor: SensorMonitor,
    now: i64,
    present: [Option<bool>; 2],
    findings: Vec<Finding>,
    corrections: Vec<i64>,
    seconds_found: Option<u32>,
    tuner: DriveTuner,
    tuned: Vec<Tuned>,
}

fn utc(_: i64) -> i64 {
    0
}

impl Rig {
    fn new(config: MonitorConfig, geometry: SensorGeometry, physical: u32) -> Rig {
        Rig::with(config, geometry, physical, PulseConfig::default(), MotorParams::default())
    }

    fn with(config: MonitorConfig, sensors: SensorGeometry, at: u32, pulse: PulseConfig, params: MotorParams) -> Rig {
        let dial = Dial::TWELVE_HOUR;
        let mut rig = Rig {
            engine: Engine::new(dial, pulse),
            movement: Movement::new(at, DIAL_12H, MotorParams { sensors, ..params }),
            monitor: SensorMonitor::new(dial, config, [None, None]),
            now: T0,
            present: [None, None],
            findings: vec![],
            corrections: vec![],
            seconds_found: None,
            tuner: DriveTuner::new(TunerConfig::default()),
            tuned: vec![],
        };
        rig.feed(false);
        rig
    }

    fn both() -> MonitorConfig {
        MonitorConfig { seconds: true, noon: true, seconds_window: None }
    }

    fn target(&self) -> u32 {
        self.engine.target_at(self.now, &utc)
    }

    /// The user sets the hands (belief and physical) `offset` from the time.
    fn set_offset(&mut self, offset: i64) {
        let p = Dial::TWELVE_HOUR.add(self.target(), offset);
        self.engine.set_position(p, self.now);
        self.movement.set_by_crown(p);
        self.monitor.reset();
        self.feed(false);
        self.tuner.hands_set();
    }

    fn belief(&self) -> Belief {
        Belief { position: self.engine.hands(), certain: self.engine.certain() }
    }

    /// Tells the monitor about every sensor that changed.
    fn feed(&mut self, by_move: bool) {
        for kind in self.monitor.configured() {
            let now = self.movement.sensor_present(kind);
            if self.present[kind.index()] != Some(now) {
                self.present[kind.index()] = Some(now);
                if kind == SensorKind::Seconds {
                    self.tuner.seconds_edge(now, by_move);
                }
                let f = self.monitor.edge(kind, now, by_move, self.belief());
                self.act(f);
            }
        }
    }

    /// What the tick thread does with the findings.
    fn act(&mut self, findings: Vec<Finding>) {
        for f in findings {
            let f = self.tuner.refine(f, Dial::TWELVE_HOUR);
            let window = self.monitor.window(SensorKind::Seconds).map(|(w, _)| w);
            let config = *self.engine.config();
            match self.tuner.observe(&f, window.as_ref(), self.now, &config) {
                Some(Tuned::Raise(loss, raise)) => {
                    let raised = config.with_changes([(raise.duty.key(), ConfigValue::U32(raise.to))]);
                    self.engine.set_config(raised.expect("a raise within the key's range"));
                    self.tuned.push(Tuned::Raise(loss, raise));
                }
                Some(t) => self.tuned.push(t),
                None => {}
            }
            match &f {
                Finding::Corrected { steps, .. } => {
                    let p = Dial::TWELVE_HOUR.add(self.engine.hands().expect("a belief"), *steps);
                    self.engine.correct(p);
                    self.corrections.push(*steps);
                }
                Finding::Homed { position, steps } => {
                    self.engine.end_homing(Some(*position));
                    if let Some(d) = steps.filter(|d| *d != 0) {
                        self.corrections.push(d);
                    }
                }
                Finding::Recheck { .. } => self.engine.start_homing(),
                Finding::SecondsFound { seconds } => {
                    self.engine.end_homing(None);
                    self.seconds_found = Some(*seconds);
                }
                Finding::HomeFailed { .. } => self.engine.end_homing(None),
                _ => {}
            }
            self.findings.push(f);
        }
        if let Some(d) = self.monitor.homing_direction() {
            self.engine.set_homing_direction(d);
        }
    }

    fn step(&mut self) {
        let d = self.engine.next(self.now, &utc);
        self.now = self.now.max(d.at_us);
        match d.action {
            Some(mv) => {
                self.movement.apply(&mv.waveform, self.now);
                self.tuner.moved(mv.kind, mv.from, self.engine.config());
                self.engine.moved(&mv, self.now);
                let f = self.monitor.moved(mv.kind.direction());
                self.act(f);
                self.feed(true);
                self.now += i64::from(mv.waveform.duration_us());
            }
            None => self.engine.passed(d.at_us),
        }
    }

    fn run_for(&mut self, seconds: i64) {
        let until = self.now + seconds * US;
        while self.now < until {
            self.step();
        }
    }

    /// Bumps the hands (no pulse): edges then are not the daemon's.
    fn nudge(&mut self, steps: i64) {
        self.movement.nudge(steps);
        self.feed(false);
    }

    fn right(&self) -> bool {
        self.engine.hands() == Some(self.movement.position) && self.movement.position == self.target()
    }

    fn count(&self, pred: impl Fn(&Finding) -> bool) -> usize {
        self.findings.iter().filter(|f| pred(f)).count()
    }

    fn faults(&self) -> usize {
        self.count(|f| matches!(f, Finding::Fault { .. }))
    }
}

#[test]
fn the_first_passes_teach_the_window_then_passes_check() {
    let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 0);
    rig.set_offset(0);
    // Passes at 59, 119 and 179 s: three learning passes.
    rig.run_for(190);
    let learned: Vec<_> = rig.findings.iter().filter(|f| matches!(f, Finding::WindowSet { .. })).collect();
    assert_eq!(
        learned,
        [&Finding::WindowSet {
            sensor: SensorKind::Seconds,
            window: Window::centered(3),
            source: WindowSource::Learned
        }]
    );
    assert_eq!(rig.monitor.window(SensorKind::Seconds), Some((Window::centered(3), WindowSource::Learned)));
    assert_eq!(rig.count(|f| matches!(f, Finding::Checked { .. })), 0);
    rig.run_for(300);
    assert!(rig.count(|f| matches!(f, Finding::Checked { error: 0, .. })) >= 5);
    assert!(rig.corrections.is_empty() && rig.faults() == 0, "{:?}", rig.findings);
    assert!(rig.right());
}

#[test]
fn nudges_are_corrected_once_each() {
    let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 0);
    rig.set_offset(0);
    rig.run_for(200);
    for (i, nudge) in [7i64, -13, 29].into_iter().enumerate() {
        rig.run_for(17 + 11 * i as i64);
        rig.nudge(nudge);
        assert!(!rig.right());
        // Corrected within a turn of the second hand, then caught up.
        rig.run_for(62);
        assert_eq!(rig.corrections.len(), i + 1, "nudge {nudge}: {:?}", rig.findings);
        rig.run_for(60);
        assert!(rig.right(), "nudge {nudge}: belief {:?}, hands {}", rig.engine.hands(), rig.movement.position);
    }
    // An odd nudge shifts the rotor's polarity: the first pulse after it is
    // lost, so the correction is one step more to the back than the nudge.
    assert_eq!(rig.corrections, [6, -14, 28]);
    assert_eq!(rig.faults(), 0);
}

/// A pass against the direction of travel cannot tell a bump from a lost
/// reverse step (after which the rotor turns forwards): the hands go
/// forward through the window to measure, then the belief is corrected.
#[test]
fn a_pass_while_reversing_is_checked_forwards() {
    let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 0);
    rig.set_offset(0);
    rig.run_for(200);
    // Ten minutes ahead: reverse for five minutes, passing 12 five times.
    rig.set_offset(600);
    rig.monitor.edge(SensorKind::Seconds, rig.movement.sensor_present(SensorKind::Seconds), false, rig.belief());
    rig.run_for(20);
    rig.nudge(-4);
    rig.run_for(70);
    assert_eq!(rig.count(|f| matches!(f, Finding::Recheck { .. })), 1, "{:?}", rig.findings);
    assert_eq!(rig.corrections, [-4], "{:?}", rig.findings);
    rig.run_for(400);
    assert!(rig.right());
}

#[test]
fn a_silent_or_stuck_sensor_is_reported_within_two_minutes_and_corrects_nothing() {
    for health in [SensorHealth::Silent, SensorHealth::Stuck] {
        let geometry = SensorGeometry { seconds_health: health, ..SensorGeometry::default() };
        let mut rig = Rig::new(Rig::both(), geometry, 0);
        rig.set_offset(0);
        rig.run_for(120);
        let faults: Vec<_> = rig.findings.iter().filter(|f| matches!(f, Finding::Fault { .. })).collect();
        assert_eq!(faults.len(), 1, "{health:?}: {:?}", rig.findings);
        let Finding::Fault { sensor, message } = faults[0] else { unreachable!() };
        assert_eq!(*sensor, SensorKind::Seconds);
        let word = if health == SensorHealth::Silent { "silent" } else { "stayed active" };
        assert!(message.contains(word), "{message}");
        assert_eq!(rig.monitor.faults().len(), 1);
        rig.nudge(5);
        rig.run_for(300);
        assert!(rig.corrections.is_empty());
        assert_eq!(rig.monitor.window(SensorKind::Seconds), None);
    }
}

#[test]
fn a_sensor_that_works_again_recovers() {
    let geometry = SensorGeometry { seconds_health: SensorHealth::Silent, ..SensorGeometry::default() };
    let mut rig = Rig::new(Rig::both(), geometry, 0);
    rig.set_offset(0);
    rig.run_for(120);
    assert_eq!(rig.monitor.faults().len(), 1);
    rig.movement.params.sensors.seconds_health = SensorHealth::Works;
    rig.run_for(60);
    assert!(rig.monitor.faults().is_empty());
    assert_eq!(rig.count(|f| matches!(f, Finding::Recovered { sensor: SensorKind::Seconds })), 1);
}

/// Homes a fresh engine with the hands physically at `at`; returns the rig.
fn home_from(at: u32, config: MonitorConfig, geometry: SensorGeometry) -> Rig {
    let mut rig = Rig::new(config, geometry, at);
    rig.monitor.start_homing(true, false).expect("a sensor");
    rig.engine.start_homing();
    assert!(!rig.engine.journals_moves());
    let mut steps = 0;
    while rig.engine.homing() {
        rig.step();
        steps += 1;
        assert!(steps < 60_000, "homing does not end");
    }
    rig
}

#[test]
fn homing_with_the_noon_sensor_finds_the_whole_position() {
    // Just after the window, far from it, just before it, and inside it.
    for at in [40, 11 * 3600, 43_200 - 100, 0, 20, 43_190] {
        let mut rig = home_from(at, Rig::both(), SensorGeometry::default());
        assert!(rig.count(|f| matches!(f, Finding::Homed { .. })) == 1, "from {at}: {:?}", rig.findings);
        assert_eq!(rig.engine.hands(), Some(rig.movement.position), "from {at}");
        assert!(rig.engine.certain());
        assert_eq!(rig.monitor.window(SensorKind::Noon), Some((Window::centered(61), WindowSource::Assumed)));
        // Starting inside the window it backs out first: far less than a turn.
        if at == 0 || at == 20 || at == 43_190 {
            assert!(rig.movement.steps_forward < 200, "from {at}: {} steps", rig.movement.steps_forward);
        }
        // Then it catches up as usual, and learns the seconds window.
        rig.run_for(8 * 3600);
        assert!(rig.right(), "from {at}");
        assert!(rig.monitor.window(SensorKind::Seconds).is_some());
    }
}

#[test]
fn homing_with_a_known_window_stops_at_the_first_edge() {
    let noon = Some((Window::centered(61), WindowSource::Learned));
    let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 43_000);
    rig.monitor = SensorMonitor::new(Dial::TWELVE_HOUR, Rig::both(), [None, noon]);
    rig.feed(false);
    rig.present = [None, None];
    rig.feed(false);
    rig.monitor.start_homing(true, false).unwrap();
    rig.engine.start_homing();
    while rig.engine.homing() {
        rig.step();
    }
    assert_eq!(rig.engine.hands(), Some(43_170));
    assert_eq!(rig.movement.position, 43_170);
}

#[test]
fn homing_with_only_a_seconds_sensor_finds_the_seconds() {
    let config = MonitorConfig { seconds: true, noon: false, seconds_window: None };
    for at in [3 * 3600 + 8 * 60 + 17, 600, 59] {
        let rig = home_from(at, config, SensorGeometry::default());
        assert_eq!(rig.seconds_found, Some(rig.movement.position % 60), "from {at}");
        assert_eq!(rig.engine.hands(), None, "the hour and minute are still asked for");
    }
}

#[test]
fn homing_that_finds_nothing_fails_within_a_turn() {
    let geometry = SensorGeometry { noon_health: SensorHealth::Silent, ..SensorGeometry::default() };
    let rig = home_from(1000, Rig::both(), geometry);
    let failed =
        rig.count(|f| matches!(f, Finding::HomeFailed { message } if message.contains("one turn of the dial")));
    assert_eq!(failed, 1, "{:?}", rig.findings.last());
    assert_eq!(rig.engine.hands(), None);
    let moved = rig.movement.steps_forward;
    assert!((43_200..=43_200 + 7203).contains(&moved), "{moved}");
}

#[test]
fn a_noon_pass_corrects_whole_minutes_when_there_is_a_seconds_sensor() {
    let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 0);
    // The belief 11:58:00, the hands 11:55:00: three minutes off.
    let belief = 43_200 - 120;
    rig.engine.set_position(belief, rig.now);
    rig.movement.set_by_crown(belief - 180);
    rig.monitor = SensorMonitor::new(
        Dial::TWELVE_HOUR,
        Rig::both(),
        [Some((Window::centered(3), WindowSource::Learned)), Some((Window::centered(61), WindowSource::Learned))],
    );
    rig.present = [None, None];
    rig.feed(false);
    rig.engine.pause();
    rig.engine.step(400).unwrap();
    rig.run_for(200);
    assert_eq!(rig.corrections, [-180], "{:?}", rig.findings);
}

#[test]
fn a_jittery_sensor_is_learned_with_a_tolerance_and_not_corrected_for() {
    let geometry = SensorGeometry { jitter: 1, ..SensorGeometry::default() };
    let mut rig = Rig::new(Rig::both(), geometry, 0);
    rig.set_offset(0);
    rig.run_for(600);
    let (w, source) = rig.monitor.window(SensorKind::Seconds).expect("learned");
    assert_eq!(source, WindowSource::Learned);
    assert!(w.tolerance >= 1, "{w:?}");
    rig.run_for(3600);
    assert!(rig.corrections.is_empty(), "{:?}", rig.corrections);
    rig.nudge(9);
    rig.run_for(120);
    assert_eq!(rig.corrections.len(), 1);
    let off = i64::from(rig.movement.position) - i64::from(rig.engine.hands().unwrap_or(0));
    assert!(off.abs() <= i64::from(w.tolerance), "{off}");
}

#[test]
fn a_weak_sector_loses_reverse_steps_and_the_sensor_finds_them() {
    // Reverse ticks in 40..50 need more than region A's 90 µs: they are
    // lost there, and the rotor, out of step, turns forwards on the next ones.
    let params = MotorParams { heavy_sector: (40, 50), pull_min_on_us_heavy: 95, ..MotorParams::default() };
    let mut rig = Rig::with(Rig::both(), SensorGeometry::default(), 0, PulseConfig::default(), params);
    rig.set_offset(0);
    rig.run_for(200);
    rig.set_offset(300);
    let (mut seen, mut checked) = (rig.findings.len(), 0);
    for _ in 0..600 {
        rig.step();
        // Every forward check leaves belief and hands on the same second.
        if rig.findings[seen..].iter().any(|f| matches!(f, Finding::Homed { .. })) {
            assert_eq!(rig.engine.hands().map(|h| h % 60), Some(rig.movement.position % 60));
            checked += 1;
        }
        seen = rig.findings.len();
    }
    assert!(rig.count(|f| matches!(f, Finding::Recheck { .. })) >= 1, "{:?}", rig.findings);
    assert!(checked >= 1 && !rig.corrections.is_empty());
}

/// A movement whose reverse pulls in `sector` need 95 µs, its hands right;
/// then `n` times the hands an hour ahead (as at the autumn change: the
/// planner reverses an hour, 2 ticks a second), each run until right (for
/// at most 6 hours: until tuned, the hands gain little on each pass through
/// the sector). Returns the rig, the corrections and the hours of each.
fn fall_back_catch_ups(sector: (u32, u32), n: usize) -> (Rig, Vec<usize>, Vec<u32>) {
    let params = MotorParams { heavy_sector: sector, pull_min_on_us_heavy: 95, ..MotorParams::default() };
    let mut rig = Rig::with(Rig::both(), SensorGeometry::default(), 0, PulseConfig::default(), params);
    rig.set_offset(0);
    rig.run_for(200);
    let (mut corrections, mut hours) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let before = rig.corrections.len();
        rig.set_offset(3600);
        let mut h = 0;
        while h < 6 && (h == 0 || !rig.right()) {
            rig.run_for(3600);
            h += 1;
        }
        assert!(rig.right(), "{sector:?}: belief {:?}, hands {}", rig.engine.hands(), rig.movement.position);
        corrections.push(rig.corrections.len() - before);
        hours.push(h);
    }
    (rig, corrections, hours)
}

#[test]
fn a_day_of_fall_back_catch_ups_tunes_a_weak_reverse_sector_away() {
    // Reverse pulls in 40..50 need 95 µs; region A (35..55) gives 90.
    let (rig, per_catch_up, hours) = fall_back_catch_ups((40, 50), 24);
    assert!(hours.iter().all(|h| *h == 1), "each right within its hour: {hours:?}");
    let raises: Vec<_> =
        rig.tuned.iter().filter_map(|t| if let Tuned::Raise(_, r) = t { Some(r) } else { None }).collect();
    assert_eq!(raises.len(), 1, "{raises:?}");
    assert_eq!((raises[0].duty, raises[0].from, raises[0].to), (Duty::ReverseA, 90, 95));
    assert_eq!(rig.engine.config().rev_ticka_on_us, 95);
    assert_eq!(rig.engine.config().rev_tickb_on_us, PulseConfig::default().rev_tickb_on_us, "region B untouched");
    // Every loss was located in region A, at the weak sector's edge.
    for t in &rig.tuned {
        let (Tuned::Located(l) | Tuned::Raise(l, _) | Tuned::AtLimit(l, _)) = t;
        assert_eq!((l.duty, l.between.0 % 60), (Duty::ReverseA, 49), "{t:?}");
    }
    eprintln!("corrections per catch-up: {per_catch_up:?}; {} losses located", rig.tuned.len());
    assert!(per_catch_up[0] >= 1, "{per_catch_up:?}");
    assert!(per_catch_up[1..].iter().all(|n| *n == 0), "corrections per catch-up: {per_catch_up:?}");
}

#[test]
fn a_weak_sector_anywhere_is_tuned_away_in_its_region() {
    // Sectors in region B, in A, and across A's end; each needs 95 µs
    // (region B gives 82: three raises there, each after two losses).
    for sector in [(5u32, 15u32), (20, 30), (40, 50), (50, 58)] {
        let (rig, per_catch_up, _) = fall_back_catch_ups(sector, 8);
        let c = rig.engine.config();
        assert!(per_catch_up[1..].iter().all(|n| *n == 0), "{sector:?}: {per_catch_up:?}");
        // Each region the sector reaches into is raised to what the sector
        // needs; a region it does not reach keeps its default.
        let d = PulseConfig::default();
        let (in_a, in_b) =
            ((sector.0..sector.1).any(|s| d.in_region_a(s)), (sector.0..sector.1).any(|s| !d.in_region_a(s)));
        for (reached, now, default) in
            [(in_a, c.rev_ticka_on_us, d.rev_ticka_on_us), (in_b, c.rev_tickb_on_us, d.rev_tickb_on_us)]
        {
            assert!(if reached { now >= 95 } else { now == default }, "{sector:?}: {c:?}");
        }
        eprintln!(
            "{sector:?}: corrections per catch-up {per_catch_up:?}; A {} B {}",
            c.rev_ticka_on_us, c.rev_tickb_on_us
        );
    }
}

proptest! {
    #![proptest_config(crate::proptest_config!(32))]

    /// Any bump under half a minute, at any moment, is found and put right.
    #[test]
    fn any_bump_is_put_right(nudge in -29i64..=29, wait in 0i64..60, phase in 0i64..1_000_000) {
        let mut rig = Rig::new(Rig::both(), SensorGeometry::default(), 0);
        rig.now += phase;
        rig.set_offset(0);
        rig.run_for(200 + wait);
        rig.nudge(nudge);
        rig.run_for(200);
        prop_assert!(rig.right(), "belief {:?}, hands {}", rig.engine.hands(), rig.movement.position);
        // An odd bump loses the next pulse (the rotor's polarity turned
        // with it): +1 is then undone by itself.
        prop_assert_eq!(rig.corrections.len(), usize::from(nudge != 0 && nudge != 1), "{:?}", rig.corrections);
    }
}
