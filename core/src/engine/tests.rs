//! Engine tests: the engine drives the movement model in virtual time.

use super::*;
use crate::dial::{DIAL_12H, DIAL_24H};
use crate::pulse_config::ConfigValue;
use proptest::prelude::*;

/// 2026-03-29 00:00:00 UTC, a Sunday with a European DST change at 01:00 UTC.
const T0: i64 = 1_774_742_400 * US_PER_SEC;

use crate::virtual_run::VirtualRun as Sim;

#[test]
fn a_fresh_engine_needs_a_position_and_never_pulses() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    assert_eq!(sim.status().state, ClockState::NeedsPosition);
    sim.run_until(T0 + 10 * US_PER_SEC);
    assert_eq!(sim.pulses, 0);
    assert!(sim.engine.step(1).is_err());
}

#[test]
fn in_sync_it_ticks_on_every_second() {
    let mut sim = Sim::utc(DIAL_12H, T0 + 300_000);
    sim.set_offset(0);
    let mut edges = vec![];
    for _ in 0..200 {
        let d = sim.engine.next(sim.now, &*sim.tz);
        if d.action.is_some() {
            edges.push(d.at_us);
        }
        sim.step();
        assert_eq!(sim.status().offset, 0);
    }
    assert!(edges.len() > 100);
    assert!(edges.iter().all(|t| t % US_PER_SEC == 0));
    assert!(edges.windows(2).all(|w| w[1] - w[0] == US_PER_SEC));
    assert_eq!(sim.movement.missed_pulses, 0);
}

fn catch_up(dial: u32, offset: i64, config: PulseConfig, phase_us: i64) -> (u32, i64, Sim) {
    let mut sim = Sim::new(dial, config, Box::new(|_| 0), T0 + phase_us);
    sim.set_offset(offset);
    let planned = sim.status().catch_up_seconds;
    let took = sim.time_to_sync(50_000);
    assert_eq!(sim.movement.position, sim.engine.hands().unwrap());
    assert_eq!(sim.movement.missed_pulses, 0, "missed pulses: {:?}", sim.movement.last_miss);
    (planned, took, sim)
}

#[test]
fn one_hour_behind_takes_twenty_minutes_forward() {
    let (planned, took, _) = catch_up(DIAL_12H, -3600, PulseConfig::default(), 0);
    assert!((1176..=1224).contains(&planned), "planned {planned}");
    assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC, "took {took} planned {planned}");
}

#[test]
fn one_hour_ahead_reverses_in_twenty_minutes() {
    let (planned, took, sim) = catch_up(DIAL_12H, 3600, PulseConfig::default(), 0);
    assert!((1176..=1224).contains(&planned), "planned {planned}");
    assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC);
    assert!(sim.movement.steps_backward > 2000);
}

#[test]
fn five_hours_fifty_nine_ahead_reverses() {
    let (planned, took, sim) = catch_up(DIAL_12H, 5 * 3600 + 59 * 60, PulseConfig::default(), 0);
    assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC);
    assert!(sim.movement.steps_backward > 14_000, "{}", sim.movement.steps_backward);
    assert!(planned < 21_540 / 3 + 3);
}

#[test]
fn without_reverse_it_waits() {
    let c = PulseConfig::default().with_changes([("rev_ticks_per_sec", ConfigValue::U32(0))]).unwrap();
    let mut sim = Sim::new(DIAL_12H, c, Box::new(|_| 0), T0);
    sim.set_offset(600);
    assert_eq!(sim.status().state, ClockState::Waiting);
    assert_eq!(sim.status().catch_up_seconds, 600);
    let took = sim.time_to_sync(2000);
    assert_eq!(took, 600 * US_PER_SEC);
    assert_eq!(sim.movement.steps_backward, 0);
}

#[test]
fn tolerance_leaves_small_errors_alone() {
    let c = PulseConfig::default().with_changes([("sync_tolerance_s", ConfigValue::U32(5))]).unwrap();
    let mut sim = Sim::new(DIAL_12H, c, Box::new(|_| 0), T0);
    sim.set_offset(-4);
    assert_eq!(sim.status().state, ClockState::Ticking);
    sim.run_until(T0 + 30 * US_PER_SEC);
    assert_eq!(sim.status().offset, -4);
    sim.set_offset(-9);
    sim.run_until(T0 + 60 * US_PER_SEC);
    assert_eq!(sim.status().offset.abs(), 5, "caught up to the edge of the tolerance");
}

/// A zone with a jump of `jump` s at `at` (UTC s): `before` until then.
fn zone(before: i64, jump: i64, at: i64) -> Box<dyn Fn(i64) -> i64> {
    Box::new(move |s| if s < at { before } else { before + jump })
}

fn dst_change(before: i64, jump: i64) -> (u32, i64, Sim) {
    let change = T0 / US_PER_SEC + 3600;
    let mut sim = Sim::new(DIAL_12H, PulseConfig::default(), zone(before, jump, change), T0 + 3590 * US_PER_SEC);
    sim.set_offset(0);
    sim.run_until((change + 1) * US_PER_SEC + 10);
    let planned = sim.status().catch_up_seconds;
    let took = sim.time_to_sync(10_000);
    assert_eq!(sim.movement.position, sim.engine.hands().unwrap());
    assert_eq!(sim.movement.missed_pulses, 0);
    (planned, took, sim)
}

#[test]
fn spring_forward_and_fall_back() {
    // Europe/Berlin: +1 h -> +2 h, then back.
    let (planned, took, _) = dst_change(3600, 3600);
    assert!((1195..=1205).contains(&planned), "spring forward planned {planned}");
    assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC);
    let (planned, took, sim) = dst_change(7200, -3600);
    assert!((1195..=1205).contains(&planned), "fall back planned {planned}");
    assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC);
    assert!(sim.movement.steps_backward > 2000);
    // Australia/Lord_Howe: 30 minutes.
    let (planned, _, _) = dst_change(37_800, 1800);
    assert!((595..=605).contains(&planned), "Lord Howe planned {planned}");
}

#[test]
fn pause_holds_and_resume_catches_up() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.set_offset(0);
    sim.engine.pause();
    let before = sim.movement.position;
    sim.run_until(T0 + 30 * US_PER_SEC);
    assert_eq!(sim.movement.position, before);
    assert_eq!(sim.status().state, ClockState::Paused);
    assert_eq!(sim.status().offset, -30);
    sim.engine.resume();
    assert_eq!(sim.status().state, ClockState::FastForward);
    let took = sim.time_to_sync(100);
    assert!(took <= 11 * US_PER_SEC, "{took}");
}

#[test]
fn manual_steps_move_the_hands_while_paused() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.set_offset(0);
    sim.engine.pause();
    let start = sim.movement.position;
    sim.engine.step(5).unwrap();
    assert_eq!(sim.status().state, ClockState::FastForward);
    sim.run_until(T0 + 5 * US_PER_SEC);
    assert_eq!(sim.movement.position, start + 5);
    sim.engine.step(-3).unwrap();
    sim.run_until(T0 + 10 * US_PER_SEC);
    assert_eq!(sim.movement.position, start + 2);
    assert_eq!(sim.engine.hands(), Some(start + 2));
    assert_eq!(sim.status().state, ClockState::Paused);
    assert_eq!(sim.movement.missed_pulses, 0);
    assert!(sim.engine.step(3601).is_err());
    assert!(sim.engine.step(-3601).is_err());
}

#[test]
fn recovery_pulse_settles_the_doubt_either_way() {
    for physical in [100u32, 101] {
        let mut sim = Sim::utc(DIAL_12H, T0);
        sim.movement.set_by_crown(physical);
        sim.engine.recover_in_flight(100, 101, sim.now);
        assert!(!sim.engine.certain());
        sim.step();
        assert!(sim.engine.certain());
        assert_eq!(sim.movement.position, 101);
        assert_eq!(sim.engine.hands(), Some(101));
    }
    // A reverse move in flight: 101 -> 100 resolves the same way.
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.movement.set_by_crown(101);
    sim.engine.recover_in_flight(101, 100, sim.now);
    sim.step();
    assert_eq!((sim.movement.position, sim.engine.hands()), (101, Some(101)));
}

#[test]
fn wraps_around_the_dial() {
    let mut sim = Sim::utc(DIAL_24H, T0 + (DIAL_24H as i64 - 20) * US_PER_SEC);
    sim.set_offset(-30);
    sim.time_to_sync(100);
    assert_eq!(sim.movement.position, sim.engine.hands().unwrap());
}

#[test]
fn a_clock_jump_back_does_not_stall() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.set_offset(0);
    sim.run_until(T0 + 5 * US_PER_SEC);
    sim.now -= 3600 * US_PER_SEC;
    let d = sim.engine.next(sim.now, &*sim.tz);
    assert!(d.at_us - sim.now <= 2 * US_PER_SEC);
}

proptest! {
    #![proptest_config(crate::proptest_config!(48))]

    /// From any offset and any moment within the second, the engine gets the
    /// hands right within a second of the plan it announced, with no pulse lost.
    #[test]
    fn catch_up_matches_the_plan(offset in -21_599i64..=21_600, phase in 0i64..1_000_000, f in 2u32..=6, r in 0u32..=4) {
        let config = PulseConfig::default()
            .with_changes([("fwd_ticks_per_sec", ConfigValue::U32(f)), ("rev_ticks_per_sec", ConfigValue::U32(r))])
            .unwrap();
        let (planned, took, _) = catch_up(DIAL_12H, offset, config, phase);
        prop_assert!((took - i64::from(planned) * US_PER_SEC).abs() <= US_PER_SEC, "offset {} took {} planned {}", offset, took, planned);
    }
}

/// An unclean stop mid catch-up and a restart moments later (a crash and a
/// quick `Restart=`): the rotor may have stepped just before the stop, and a
/// settling or next pulse fired at once would come too soon for it to follow.
/// Lost, it would leave belief and hands one step apart, with every later
/// pulse of the wrong polarity. The new engine lets the rotor rest first.
#[test]
fn a_restart_right_after_a_pulse_loses_no_step() {
    for offset in [600i64, -600] {
        for moved in [false, true] {
            for committed in [false, true] {
                for gap_ms in [0i64, 40, 150, 290, 700] {
                    let what = format!("offset {offset}, moved {moved}, committed {committed}, gap {gap_ms} ms");
                    let mut sim = Sim::utc(DIAL_12H, T0);
                    sim.set_offset(offset);
                    sim.run_until(T0 + 20 * US_PER_SEC);
                    // The next move goes out and the daemon dies before or
                    // after the journal commits it.
                    let (mv, at) = sim.next_move();
                    sim.die_and_restart(mv, at, moved, committed, gap_ms);
                    assert_eq!(Some(sim.movement.position), sim.engine.hands(), "{what}");
                    // step() panics if belief and hands part on the way.
                    sim.time_to_sync(3000);
                    assert_eq!(sim.movement.position, sim.engine.hands().unwrap_or(u32::MAX), "{what}");
                }
            }
        }
    }
}

#[test]
fn homing_moves_forward_without_a_position_and_never_journals_a_guess() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.engine.start_homing();
    assert!(sim.engine.homing() && !sim.engine.journals_moves());
    let st = sim.status();
    assert_eq!((st.state, st.hands, st.certain), (ClockState::FastForward, None, false));
    let d = sim.engine.next(sim.now, &*sim.tz);
    let mv = d.action.expect("a homing move");
    assert_eq!(mv.kind, MoveKind::Fast);
    sim.engine.moved(&mv, d.at_us);
    sim.engine.set_homing_direction(Direction::Backward);
    assert_eq!(sim.status().state, ClockState::Reverse);
    let d = sim.engine.next(d.at_us, &*sim.tz);
    assert_eq!(d.action.map(|m| m.kind), Some(MoveKind::Reverse));
    assert!(d.at_us >= T0 + SETTLE_US, "the turnaround pause holds while homing");
    // Nothing found: the position is as unknown as before.
    sim.engine.end_homing(None);
    assert_eq!(sim.status().state, ClockState::NeedsPosition);
    // Found: certain.
    sim.engine.start_homing();
    sim.engine.end_homing(Some(43_170));
    assert_eq!((sim.engine.hands(), sim.engine.certain()), (Some(43_170), true));
}

#[test]
fn homing_from_a_known_position_journals_and_keeps_it_when_nothing_is_found() {
    let mut sim = Sim::utc(DIAL_12H, T0);
    sim.set_offset(0);
    let before = sim.engine.hands();
    sim.engine.start_homing();
    assert!(sim.engine.journals_moves());
    assert_eq!(sim.status().hands, before, "the belief still counts every step");
    sim.engine.end_homing(None);
    assert_eq!((sim.engine.hands(), sim.engine.certain()), (before, true));
    // A correction keeps queued steps.
    sim.engine.step(5).unwrap();
    sim.engine.correct(100);
    assert_eq!((sim.engine.hands(), sim.status().pending_steps), (Some(100), 5));
}
