//! The tuner fed by the movement model: moves through the motor's rules,
//! the sensor's levels from the simulated Hall switch.

use super::*;
use crate::dial::DIAL_12H;
use crate::hand_sensor::SensorKind;
use crate::movement::{MotorParams, Movement};
use crate::waveform::Waveform;

const US: i64 = 1_000_000;

/// A movement, the belief, and the tuner, stepped by hand.
struct Bench {
    movement: Movement,
    belief: u32,
    tuner: DriveTuner,
    config: PulseConfig,
    now: i64,
}

impl Bench {
    fn new(at: u32, params: MotorParams) -> Bench {
        let movement = Movement::new(at, DIAL_12H, params);
        let mut tuner = DriveTuner::new(TunerConfig::default());
        tuner.seconds_edge(movement.sensor_present(SensorKind::Seconds), true);
        tuner.in_step();
        Bench { movement, belief: at, tuner, config: PulseConfig::default(), now: 0 }
    }

    /// One move of `kind` as the tick thread makes it, and the edge it caused.
    fn step(&mut self, kind: MoveKind) {
        let wf = Waveform::for_move(kind, self.belief, &self.config);
        let before = self.movement.sensor_present(SensorKind::Seconds);
        self.movement.apply(&wf, self.now);
        self.tuner.moved(kind, self.belief, &self.config);
        self.belief = match kind.direction() {
            Direction::Forward => (self.belief + 1) % DIAL_12H,
            Direction::Backward => (self.belief + DIAL_12H - 1) % DIAL_12H,
        };
        let after = self.movement.sensor_present(SensorKind::Seconds);
        if after != before {
            self.tuner.seconds_edge(after, true);
        }
        self.now += US;
    }

    fn window() -> Window {
        Window::centered(3)
    }
}

fn weak_a() -> MotorParams {
    // Reverse pulls in 40..50 need 95 µs; region A gives 90.
    MotorParams { heavy_sector: (40, 50), pull_min_on_us_heavy: 95, ..MotorParams::default() }
}

#[test]
fn a_reverse_step_lost_in_a_weak_sector_is_located_there() {
    let mut b = Bench::new(0, weak_a());
    // Back from 0 through 59..50 (fine), then 49 is lost; out of step the
    // hands turn forwards until they pass 12.
    for _ in 0..40 {
        b.step(MoveKind::Reverse);
    }
    assert!(b.movement.missed_pulses >= 1);
    let tuned = b.tuner.lost(&Bench::window(), b.now, &b.config);
    let Some(Tuned::Located(loss)) = tuned else { panic!("{tuned:?}") };
    assert_eq!(loss.duty, Duty::ReverseA);
    assert_eq!((loss.between.0 % 60, loss.between.1 % 60), (49, 49), "the first pull in the weak sector");
}

#[test]
fn a_forward_step_lost_is_blamed_on_its_kind() {
    // A forward step from second 20 needs 70 µs: the normal tick there is
    // lost (60 µs), the next one too (wrong polarity); with more duty from
    // then on, they step again.
    let params = MotorParams { heavy_sector: (20, 21), step_min_on_us_heavy: 70, ..MotorParams::default() };
    let mut b = Bench::new(5, params);
    for _ in 5..21 {
        b.step(MoveKind::Normal);
    }
    b.config.norm_tick_on_us = 75;
    for _ in 0..45 {
        b.step(MoveKind::Normal);
    }
    assert_eq!(b.movement.missed_pulses, 2);
    let tuned = b.tuner.lost(&Bench::window(), b.now, &b.config);
    let Some(Tuned::Located(loss)) = tuned else { panic!("{tuned:?}") };
    assert_eq!(loss.duty, Duty::Normal);
    // Any forward move before the pass could have been it.
    assert!(loss.between.0 <= 20 && loss.between.1 >= 20, "{loss:?}");
}

#[test]
fn a_bump_or_no_loss_locates_nothing() {
    let mut b = Bench::new(0, MotorParams::default());
    for _ in 0..30 {
        b.step(MoveKind::Reverse);
    }
    assert_eq!(b.tuner.lost(&Bench::window(), b.now, &b.config), None, "no step was lost");
    // A bump across the window: an edge no move caused ends the record.
    let mut b = Bench::new(55, MotorParams::default());
    b.movement.nudge(5);
    b.tuner.seconds_edge(b.movement.sensor_present(SensorKind::Seconds), false);
    for _ in 0..10 {
        b.step(MoveKind::Normal);
    }
    assert_eq!(b.tuner.lost(&Bench::window(), b.now, &b.config), None);
    // A bump within a turn that no edge shows: no single lost move explains it.
    let mut b = Bench::new(10, MotorParams::default());
    b.movement.nudge(-13);
    for _ in 0..60 {
        b.step(MoveKind::Normal);
    }
    assert_eq!(b.tuner.lost(&Bench::window(), b.now, &b.config), None);
}

/// A reverse run from 0 through the weak sector with `tuner`, and what it concludes at `now`.
fn lose(tuner: &mut DriveTuner, now: i64, config: &PulseConfig) -> Option<Tuned> {
    lose_on(weak_a(), tuner, now, config)
}

/// [`lose`] on a movement of `params`.
fn lose_on(params: MotorParams, tuner: &mut DriveTuner, now: i64, config: &PulseConfig) -> Option<Tuned> {
    let mut b = Bench::new(0, params);
    b.tuner = tuner.clone();
    b.tuner.seconds_edge(b.movement.sensor_present(SensorKind::Seconds), true);
    b.tuner.in_step();
    b.config = *config;
    for _ in 0..40 {
        b.step(MoveKind::Reverse);
    }
    let t = b.tuner.lost(&Bench::window(), now, config);
    *tuner = b.tuner;
    t
}

#[test]
fn two_losses_in_one_region_raise_its_duty_up_to_the_limit() {
    let config = PulseConfig::default();
    let mut tuner = DriveTuner::new(TunerConfig { enabled: true, max_on_us: 98 });
    assert!(matches!(lose(&mut tuner, 0, &config), Some(Tuned::Located(_))));
    // The next one only after the memory: the first is forgotten.
    assert!(matches!(lose(&mut tuner, LOSS_MEMORY_US + 1, &config), Some(Tuned::Located(_))));
    let Some(Tuned::Raise(loss, raise)) = lose(&mut tuner, LOSS_MEMORY_US + 2, &config) else { panic!() };
    assert_eq!(loss.duty, Duty::ReverseA);
    assert_eq!((raise.from, raise.to), (90, 95));
    assert!(raise.reason.contains("rev_ticka_on_us") && raise.reason.contains("region A"), "{}", raise.reason);
    // A sector weaker still (99 µs needed): the losses are counted afresh
    // after a raise; 95 goes to 98 at most, and at 98 that is said.
    let weaker = |tuner: &mut DriveTuner, now, config: PulseConfig| {
        lose_on(MotorParams { pull_min_on_us_heavy: 99, ..weak_a() }, tuner, now, &config)
    };
    let c95 = PulseConfig { rev_ticka_on_us: 95, ..config };
    assert!(matches!(weaker(&mut tuner, LOSS_MEMORY_US + 3, c95), Some(Tuned::Located(_))));
    let t = weaker(&mut tuner, LOSS_MEMORY_US + 4, c95);
    assert!(matches!(&t, Some(Tuned::Raise(_, r)) if r.to == 98), "{t:?}");
    let c98 = PulseConfig { rev_ticka_on_us: 98, ..config };
    assert!(matches!(weaker(&mut tuner, LOSS_MEMORY_US + 5, c98), Some(Tuned::Located(_))));
    let t = weaker(&mut tuner, LOSS_MEMORY_US + 6, c98);
    assert!(matches!(&t, Some(Tuned::AtLimit(_, why)) if why.contains("98")), "{t:?}");
    // Said once; later losses are only located.
    assert!(matches!(weaker(&mut tuner, LOSS_MEMORY_US + 7, c98), Some(Tuned::Located(_))));
    // Tuning off: located, never raised.
    let mut off = DriveTuner::new(TunerConfig { enabled: false, max_on_us: 100 });
    let config = PulseConfig::default();
    assert!(matches!(lose(&mut off, 0, &config), Some(Tuned::Located(_))));
    assert!(matches!(lose(&mut off, 1, &config), Some(Tuned::AtLimit(_, why)) if why.contains("tune_drive")));
}

#[test]
fn duties_name_their_keys_and_regions() {
    let c = PulseConfig::default();
    assert_eq!(Duty::of(MoveKind::Reverse, 40, &c), Duty::ReverseA);
    assert_eq!(Duty::of(MoveKind::Reverse, 55, &c), Duty::ReverseB);
    assert_eq!(Duty::of(MoveKind::Fast, 40, &c).key(), "fwd_tick_on_us");
    for d in [Duty::Normal, Duty::Fast, Duty::ReverseA, Duty::ReverseB] {
        assert_eq!(c.get(d.key()), Some(crate::pulse_config::ConfigValue::U32(d.value(&c))));
    }
    assert_eq!(Duty::ReverseB.describe(&c), "reverse ticks in region B (seconds outside 35..55)");
}

#[test]
fn the_replay_makes_a_seconds_measurement_whole() {
    // Back from 0 with the pull too weak at :14 (region B): the hands turn
    // forwards from 14 while the belief goes on back; by the time they pass
    // 12 they are 91 steps ahead, which the seconds sensor reads as -29.
    let params = MotorParams { heavy_sector: (5, 15), pull_min_on_us_heavy: 95, ..MotorParams::default() };
    let mut b = Bench::new(0, params);
    for _ in 0..95 {
        b.step(MoveKind::Reverse);
    }
    let tuned = b.tuner.lost(&Bench::window(), b.now, &b.config).expect("located");
    let loss = tuned.loss();
    assert_eq!((loss.duty, loss.between.0 % 60, loss.blame), (Duty::ReverseB, 14, true));
    // Out of step now: the next forward tick is lost, then belief and hands
    // move together; that is the offset the replay gives.
    let ahead = (i64::from(b.movement.position) - i64::from(b.belief)).rem_euclid(43_200) - 1;
    assert_eq!(loss.hands_ahead, ahead);
    let seconds = crate::hand_sensor::wrap_half(ahead, 60);
    assert_ne!(seconds, ahead, "the sensor alone is a minute out");
    assert_eq!(loss.whole(seconds), ahead);
    // Right after the hands were set, a lost first move is located but not blamed.
    let mut b = Bench::new(14, params);
    b.tuner.hands_set();
    for _ in 0..70 {
        b.step(MoveKind::Reverse);
    }
    let t = b.tuner.lost(&Bench::window(), b.now, &b.config).expect("located");
    assert!(matches!(t, Tuned::Located(l) if !l.blame), "{t:?}");
}
