//! An impulse line driven in virtual time: the engine, the simulated slave
//! movement, the planner's announcements.

use crate::dial::DIAL_12H;
use crate::engine::ClockState;
use crate::impulse_line::{CatchUp, ImpulseLine};
use crate::pulse_config::PulseConfig;
use crate::virtual_run::VirtualRun as Sim;
use crate::waveform::MoveKind;
use crate::US_PER_SEC;

/// 2026-03-29 00:00:00 UTC, a Sunday with a European DST change at 01:00 UTC.
const T0: i64 = 1_774_742_400 * US_PER_SEC;

fn minute_line(catch_up: CatchUp) -> ImpulseLine {
    ImpulseLine::new(60, catch_up).expect("a minute line")
}

/// Fires decisions until `until`, returning the instants of the impulses.
fn impulses_until(sim: &mut Sim, until: i64) -> Vec<i64> {
    let mut at = vec![];
    while sim.now < until {
        let d = sim.engine.next(sim.now, &*sim.tz);
        if let Some(mv) = d.action {
            assert_eq!(mv.kind, MoveKind::Impulse);
            at.push(sim.now.max(d.at_us));
        }
        sim.step();
    }
    at
}

#[test]
fn seven_minutes_behind_catches_up_then_advances_once_a_minute_on_the_minute() {
    let mut sim =
        Sim::impulse(DIAL_12H, minute_line(CatchUp::Fastest), PulseConfig::default(), Box::new(|_| 0), T0 + 12_345_678);
    sim.set_offset(-7 * 60);
    let st = sim.status();
    assert_eq!((st.state, st.offset), (ClockState::FastForward, -420));
    let planned = i64::from(st.catch_up_seconds);
    // 7 impulses 2 s apart (the target does not move on meanwhile).
    assert_eq!(planned, 12);
    // (Planned to the last impulse's start; in sync once it has ended.)
    let took = sim.time_to_sync(600);
    assert!((took - planned * US_PER_SEC).abs() <= 2 * US_PER_SEC, "took {took} µs, planned {planned} s");
    let synced = sim.now;
    let ticks = impulses_until(&mut sim, synced + 30 * 60 * US_PER_SEC);
    assert_eq!(ticks.len(), 30, "{ticks:?}");
    assert!(ticks.iter().all(|t| t % (60 * US_PER_SEC) == 0), "on the minute: {ticks:?}");
    assert_eq!(sim.movement.missed_pulses, 0);
    assert_eq!(sim.movement.position, sim.engine.hands().unwrap());
    assert_eq!(sim.status().offset, 0);
    // The hands show the minute: the position is a whole minute.
    assert_eq!(sim.movement.position % 60, 0);
}

fn berlin(catch_up: CatchUp, before: i64, jump: i64) -> (i64, i64, Sim) {
    let change = T0 / US_PER_SEC + 3600;
    let tz = Box::new(move |s| if s < change { before } else { before + jump });
    let mut sim = Sim::impulse(DIAL_12H, minute_line(catch_up), PulseConfig::default(), tz, T0 + 3500 * US_PER_SEC);
    sim.set_offset(0);
    sim.run_until((change + 1) * US_PER_SEC + 10);
    let planned = i64::from(sim.status().catch_up_seconds);
    let took = sim.time_to_sync(100_000);
    assert_eq!(sim.movement.position, sim.engine.hands().unwrap());
    assert_eq!(sim.movement.missed_pulses, 0);
    (planned, took, sim)
}

#[test]
fn dst_in_berlin_on_a_minute_line() {
    // Spring: 60 steps behind, forward: about 62 impulses, 2 min 4 s.
    let (planned, took, _) = berlin(CatchUp::Fastest, 3600, 3600);
    assert!((120..=126).contains(&planned), "spring planned {planned}");
    assert!((took - planned * US_PER_SEC).abs() <= 60 * US_PER_SEC, "spring took {took}");
    // Autumn: an hour ahead; round the dial (660 steps in about 23 min)
    // beats holding for 60.
    let (planned, took, sim) = berlin(CatchUp::Fastest, 7200, -3600);
    assert!((1320..=1440).contains(&planned), "autumn planned {planned}");
    assert!((took - planned * US_PER_SEC).abs() <= 60 * US_PER_SEC, "autumn took {took} planned {planned}");
    assert!(sim.movement.steps_forward > 650);
    // hold-when-ahead: it holds the hour (from the first decision after
    // the change, the hands showing 2:59 and the time 2:01: 58 minutes).
    let (planned, took, sim) = berlin(CatchUp::HoldWhenAhead, 7200, -3600);
    assert!((3420..=3600).contains(&planned), "hold planned {planned}");
    assert!((took - planned * US_PER_SEC).abs() <= 60 * US_PER_SEC, "hold took {took}");
    assert!(sim.movement.steps_forward < 5, "it held: {}", sim.movement.steps_forward);
}

#[test]
fn a_second_line_ticks_every_second_and_holds_the_autumn_hour() {
    let line = ImpulseLine::new(1, CatchUp::Fastest).unwrap();
    let mut sim = Sim::impulse(DIAL_12H, line, PulseConfig::default(), Box::new(|_| 0), T0);
    sim.set_offset(0);
    let ticks = impulses_until(&mut sim, T0 + 60 * US_PER_SEC);
    assert_eq!(ticks.len(), 60);
    assert!(ticks.iter().all(|t| t % US_PER_SEC == 0));
    // Its own timing (200 ms and 300 ms), not the minute line's.
    assert_eq!(sim.engine.config().impulse_ms, 200);
    sim.set_offset(3600);
    assert_eq!(sim.status().state, ClockState::Waiting);
    sim.set_offset(-30);
    let took = sim.time_to_sync(600);
    assert!((29 * US_PER_SEC..=31 * US_PER_SEC).contains(&took), "{took}");
}

#[test]
fn no_reverse_and_manual_steps_go_forward() {
    let mut sim = Sim::impulse(DIAL_12H, minute_line(CatchUp::Fastest), PulseConfig::default(), Box::new(|_| 0), T0);
    assert_eq!(sim.engine.config().rev_ticks_per_sec, 0);
    assert!(sim.engine.step(-1).is_err(), "no reverse");
    sim.set_offset(0);
    sim.engine.step(3).unwrap();
    let d = sim.engine.next(sim.now, &*sim.tz);
    let mv = d.action.expect("a manual impulse");
    assert_eq!((mv.kind, mv.to - mv.from, mv.manual), (MoveKind::Impulse, 60, true));
}

#[test]
fn a_restart_during_catch_up_loses_no_step() {
    // Killed at every point around an impulse: before the journal's in-flight
    // record, between it and the impulse, during, after, before the commit.
    for moved in [false, true] {
        for committed in [false, true] {
            for gap_ms in [0i64, 100, 400, 1500] {
                let what = format!("moved {moved}, committed {committed}, gap {gap_ms} ms");
                let mut sim =
                    Sim::impulse(DIAL_12H, minute_line(CatchUp::Fastest), PulseConfig::default(), Box::new(|_| 0), T0);
                sim.set_offset(-600);
                sim.run_until(T0 + 9 * US_PER_SEC);
                let (mv, at) = sim.next_move();
                sim.die_and_restart(mv, at, moved, committed, gap_ms);
                assert_eq!(Some(sim.movement.position), sim.engine.hands(), "{what}");
                sim.time_to_sync(3000);
                assert_eq!(sim.movement.position, sim.engine.hands().unwrap_or(u32::MAX), "{what}");
            }
        }
    }
}
