use super::*;
use crate::catch_up::Strategy;
use proptest::prelude::*;

const MINUTE_STEPS: u32 = 720;

fn minute(behind: u32, now_us: i64, catch_up: CatchUp) -> ImpulseSituation {
    ImpulseSituation {
        dial_steps: MINUTE_STEPS,
        step_s: 60,
        behind,
        now_us,
        period_us: 2_000_000,
        next_free_us: now_us,
        catch_up,
    }
}

/// Brute force: impulses one after the other from the first start, the
/// target moving at every step boundary; the time until they meet, µs.
fn simulate_forward(s: &ImpulseSituation) -> i64 {
    let step = i64::from(s.step_s) * 1_000_000;
    let mut behind = i64::from(s.behind);
    let mut t = s.first_us();
    let mut last_boundary = s.now_us.div_euclid(step);
    if behind == 0 {
        return 0;
    }
    loop {
        let b = t.div_euclid(step);
        behind += b - last_boundary;
        last_boundary = b;
        behind -= 1;
        if behind <= 0 {
            return t - s.now_us;
        }
        t += s.period_us;
    }
}

/// Brute force: the first step boundary at which the target reaches the hands.
fn simulate_hold(s: &ImpulseSituation) -> i64 {
    let step = i64::from(s.step_s) * 1_000_000;
    let mut ahead = i64::from((s.dial_steps - s.behind) % s.dial_steps);
    let mut t = s.now_us;
    while ahead > 0 {
        t = (t.div_euclid(step) + 1) * step;
        ahead -= 1;
    }
    t - s.now_us
}

#[test]
fn the_autumn_change_on_a_minute_line_goes_round_the_dial_unless_told_to_hold() {
    // Hands an hour ahead, at 02:59:30 local (the planner sees only the
    // position within the minute).
    let now = 30_000_000;
    let fastest = minute(MINUTE_STEPS - 60, now, CatchUp::Fastest).plan();
    assert_eq!(fastest.strategy, Strategy::Forward);
    // 660 steps at 2 s, while the target moves on about 23 more minutes.
    let minutes = fastest.duration_us as f64 / 60e6;
    assert!((22.0..24.0).contains(&minutes), "{fastest:?}");
    let hold = minute(MINUTE_STEPS - 60, now, CatchUp::HoldWhenAhead).plan();
    assert_eq!(hold.strategy, Strategy::Wait);
    assert_eq!(hold.duration_us, 60 * 60_000_000 - 30_000_000);
}

#[test]
fn the_spring_change_goes_forward_whatever_the_policy() {
    for catch_up in [CatchUp::Fastest, CatchUp::HoldWhenAhead] {
        let p = minute(60, 0, catch_up).plan();
        assert_eq!(p.strategy, Strategy::Forward);
        // 62 impulses: the target moves on twice meanwhile.
        assert_eq!(p.duration_us, 61 * 2_000_000, "{p:?}");
    }
}

#[test]
fn a_second_line_holds_for_the_autumn_hour() {
    let s = ImpulseSituation {
        dial_steps: 43_200,
        step_s: 1,
        behind: 43_200 - 3600,
        now_us: 0,
        period_us: 500_000,
        next_free_us: 0,
        catch_up: CatchUp::Fastest,
    };
    let p = s.plan();
    assert_eq!((p.strategy, p.duration_us), (Strategy::Wait, 3600 * 1_000_000));
    // Behind by an hour, it goes forward at 2 impulses a second.
    // Behind by an hour, it goes forward at 2 impulses a second, gaining
    // one step a second: about an hour.
    let p = ImpulseSituation { behind: 3600, ..s }.plan();
    assert_eq!(p.strategy, Strategy::Forward);
    assert!((3_598_000_000..=3_600_000_000).contains(&p.duration_us), "{p:?}");
}

#[test]
fn in_sync_and_one_step_either_way() {
    assert_eq!(minute(0, 0, CatchUp::Fastest).plan().strategy, Strategy::InSync);
    // One behind: one impulse now.
    assert_eq!(minute(1, 5_000_000, CatchUp::Fastest).plan(), Plan { strategy: Strategy::Forward, duration_us: 0 });
    // One ahead: hold to the next minute.
    let p = minute(MINUTE_STEPS - 1, 5_000_000, CatchUp::Fastest).plan();
    assert_eq!(p, Plan { strategy: Strategy::Wait, duration_us: 55_000_000 });
}

proptest! {
    #![proptest_config(crate::proptest_config!(256))]

    /// For any offset, instant, period and policy, the durations are those
    /// of doing it impulse by impulse, and the plan is the shorter of the
    /// two (the optimum: there is no other way to move the hands), or
    /// holding whenever the hands are ahead with `hold-when-ahead`.
    #[test]
    fn the_plan_is_the_optimum_of_forward_and_hold(
        step in prop::sample::select(vec![60u32, 30, 1]),
        behind_frac in 0.0f64..1.0,
        now_us in 0i64..120_000_000,
        period_frac in 0.01f64..=1.0,
        wait_us in 0i64..3_000_000,
        hold_when_ahead in any::<bool>(),
    ) {
        let dial_steps = 43_200 / step;
        let behind = ((f64::from(dial_steps) * behind_frac) as u32).min(dial_steps - 1);
        let step_us = i64::from(step) * 1_000_000;
        let period_us = ((step_us as f64 * period_frac) as i64).max(100_000).min(step_us);
        let catch_up = if hold_when_ahead { CatchUp::HoldWhenAhead } else { CatchUp::Fastest };
        let s = ImpulseSituation {
            dial_steps, step_s: step, behind, now_us, period_us, next_free_us: now_us + wait_us, catch_up,
        };
        let (fwd, hold) = (simulate_forward(&s), simulate_hold(&s));
        prop_assert_eq!(s.forward_us(), fwd);
        prop_assert_eq!(s.hold_us(), hold);
        let p = s.plan();
        if behind == 0 {
            prop_assert_eq!(p.strategy, Strategy::InSync);
        } else if hold_when_ahead && behind > dial_steps / 2 {
            prop_assert_eq!((p.strategy, p.duration_us), (Strategy::Wait, hold));
        } else {
            prop_assert_eq!(p.duration_us, fwd.min(hold));
            prop_assert_eq!(p.strategy, if fwd < hold { Strategy::Forward } else { Strategy::Wait });
        }
    }
}
