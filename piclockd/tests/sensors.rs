//! Hand sensors end to end: `piclockd --simulate --speed 60` with `[sensor]`
//! on a private bus, the simulated movement serving the sensor lines.
//!
//! - bumps of +7, −13 and +29 steps (`virtual-movement.nudge`) are each
//!   corrected once, within a turn of the second hand, and the belief then
//!   equals the simulated hands;
//! - a fresh state directory with `home_on_start` homes by itself;
//! - with only a seconds sensor, homing finds the seconds and `set-hands
//!   H:MM` completes the position;
//! - a silent or a stuck sensor is reported within two minutes, and nothing
//!   is corrected from it;
//! - `Home` on a running clock; without `[sensor]` nothing of this exists.
//!
//! Waits are for events (a property reaching a value), with generous limits:
//! the machine may be busy.

use futures_util::StreamExt;
use piclock_dbus::Clock1Proxy;
use piclock_testkit::{agreement, bin_path, movement, proxy, run, set_offset, Bus, Daemon, PERSISTS};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::zvariant::OwnedValue;

const SPEED: f64 = 60.0;

/// One test at a time: each drives a daemon at 60x.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const BOTH: &str = "[sensor]\nseconds = \"GPIO17\"\nnoon = \"GPIO27\"\n";

/// Starts a daemon at 60x with `config` as its admin file, and `args`.
async fn start(bus: &Bus, config: &str, args: &[&str]) -> Daemon {
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, config).expect("admin file");
    let conf = conf.to_str().expect("UTF-8 path").to_owned();
    let mut all = vec!["--config", conf.as_str()];
    all.extend_from_slice(args);
    Daemon::start_with(bus, &bus.dir().join("state"), SPEED, &[], &all).await
}

/// Puts a simulated movement with its hands at `position` and these sensor
/// settings into `state` before the daemon starts.
fn place_movement(state: &Path, position: u32, sensors: &str) {
    std::fs::create_dir_all(state).expect("state dir");
    let json = format!(
        "{{\"position\": {position}, \"dial_seconds\": 43200, \"missed_pulses\": 0, \"steps_forward\": 0, \
         \"steps_backward\": 0, \"last_miss\": null, \"last_step\": null, \"params\": {{\"sensors\": {sensors}}}}}"
    );
    std::fs::write(state.join("virtual-movement.json"), json).expect("virtual-movement.json");
}

/// Waits until `f` (reading the daemon) is true; panics with `what` and the log after `limit`.
async fn wait_until<F, Fut>(d: &Daemon, limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}; log:\n{}", d.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn text(window: &HashMap<String, OwnedValue>, key: &str) -> String {
    window.get(key).and_then(|v| String::try_from(v.try_clone().ok()?).ok()).unwrap_or_default()
}

async fn source(p: &Clock1Proxy<'_>, sensor: &str) -> String {
    text(&p.sensor_window().await.expect("SensorWindow"), &format!("{sensor}_source"))
}

/// Right, ticking, certain, and the belief equals the simulated hands.
async fn settled(p: &Clock1Proxy<'_>, state: &Path) -> bool {
    let (Ok(offset), Ok(st), Ok(certain)) = (p.offset().await, p.state().await, p.position_certain().await) else {
        return false;
    };
    if offset != 0 || st != "ticking" || !certain {
        return false;
    }
    matches!(agreement(p, state, PERSISTS).await, Some((b, _, m)) if b == m)
}

/// Collects `SensorCorrected` signals.
async fn corrections_heard(p: &Clock1Proxy<'static>) -> Arc<Mutex<Vec<(i32, String)>>> {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let mut stream = p.receive_sensor_corrected().await.expect("SensorCorrected");
    let sink = heard.clone();
    tokio::spawn(async move {
        while let Some(sig) = stream.next().await {
            if let Ok(a) = sig.args() {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push((*a.steps(), a.reason().to_string()));
            }
        }
    });
    heard
}

/// Waits until the simulated second hand is within `seconds`, then bumps
/// the hands by `steps`; returns the daemon's true time then.
async fn nudge_at(p: &Clock1Proxy<'_>, state: &Path, seconds: std::ops::RangeInclusive<u32>, steps: i64) -> u64 {
    let start = Instant::now();
    while !seconds.contains(&(movement(state).position % 60)) {
        assert!(start.elapsed() < Duration::from_secs(30), "the second hand never reached {seconds:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    std::fs::write(state.join("virtual-movement.nudge"), format!("{steps:+}\n")).expect("nudge file");
    p.time_usec().await.expect("TimeUSec")
}

#[tokio::test(flavor = "multi_thread")]
async fn bumps_are_corrected_once_each_within_a_turn_of_the_second_hand() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let d = start(&bus, BOTH, &[]).await;
    let state = d.state_dir().to_path_buf();
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_eq!(p.sensors_configured().await.unwrap(), ["seconds", "noon"]);
    let heard = corrections_heard(&p).await;
    set_offset(&p, 0).await;
    // Three passes teach the seconds window (about 3 s at 60x).
    wait_until(&d, Duration::from_secs(60), "the seconds window learned", || async {
        source(&p, "seconds").await == "learned"
    })
    .await;
    let w = p.sensor_window().await.unwrap();
    assert_eq!(text(&w, "noon_source"), "learning");
    assert!(p.last_sensor_check_usec().await.unwrap() == 0, "learning passes are not checks");
    // Each bump lands with both the hand and its new place away from the
    // window, so the next pass measures it.
    for (i, (steps, seconds)) in [(7i64, 15..=25), (-13, 28..=35), (29, 10..=13)].into_iter().enumerate() {
        let at = nudge_at(&p, &state, seconds, steps).await;
        wait_until(&d, Duration::from_secs(60), &format!("bump {steps:+} corrected"), || async {
            p.sensor_corrections().await.unwrap_or(0) as usize == i + 1
        })
        .await;
        let checked = p.last_sensor_check_usec().await.unwrap();
        let took = checked.saturating_sub(at) as f64 / 1e6;
        assert!(took <= 66.0, "bump {steps:+}: corrected {took:.1} s (virtual) after it, more than a turn");
        wait_until(&d, Duration::from_secs(60), &format!("right again after {steps:+}"), || settled(&p, &state)).await;
        eprintln!("bump {steps:+}: corrected {took:.1} s (virtual) later");
    }
    // A few more turns: nothing more to correct.
    let now = p.time_usec().await.unwrap();
    wait_until(&d, Duration::from_secs(60), "three more passes", || async {
        p.last_sensor_check_usec().await.unwrap_or(0) > now + 150_000_000
    })
    .await;
    assert_eq!(p.sensor_corrections().await.unwrap(), 3);
    let heard = heard.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(heard.len(), 3, "{heard:?}");
    // An odd bump turns the rotor's polarity: the pulse after it is lost.
    let steps: Vec<i32> = heard.iter().map(|h| h.0).collect();
    assert_eq!(steps, [6, -14, 28], "{heard:?}");
    assert!(heard[0].1.contains("seconds sensor") && heard[0].1.contains("ahead"), "{heard:?}");
    assert!(settled(&p, &state).await);
    assert!(p.faults().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_state_directory_homes_by_itself() {
    let _one = HEAVY.lock().await;
    let config = format!("{BOTH}home_on_start = true\n");
    // A fresh movement (at 12:00:00, inside the noon window: it backs out
    // first), and one at 11:30:00; true time shortly after noon.
    for position in [None, Some(41_400u32)] {
        let bus = Bus::start();
        let state = bus.dir().join("state");
        if let Some(at) = position {
            place_movement(&state, at, "{}");
        }
        let d = start(&bus, &config, &["--start-time", "2026-06-01T12:20:00Z"]).await;
        let conn = bus.connect().await;
        let p = proxy(&conn).await;
        let t0 = p.time_usec().await.unwrap();
        // One turn of the dial at 4 steps a second is 3 h (virtual), 3 min real; it takes far less.
        wait_until(&d, Duration::from_secs(240), "homed and right", || settled(&p, &state)).await;
        let took = (p.time_usec().await.unwrap() - t0) as f64 / 1e6;
        assert!(took < 3.0 * 3600.0, "{took} s");
        assert_eq!(source(&p, "noon").await, "assumed");
        assert!(p.last_sensor_check_usec().await.unwrap() > t0);
        assert!(d.log_text().contains("homing with the noon sensor"), "{}", d.log_text());
        assert!(!d.log_text().contains("hand position set"), "nobody set the hands");
        eprintln!("from {position:?}: homed and right after {took:.0} s (virtual)");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_only_a_seconds_sensor_homing_finds_the_seconds_and_set_hands_the_rest() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    place_movement(&state, 3 * 3600 + 8 * 60 + 17, "{}");
    let d = start(&bus, "[sensor]\nseconds = \"GPIO17\"\nhome_on_start = true\n", &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    wait_until(&d, Duration::from_secs(60), "the seconds found", || async {
        d.log_text().contains("homing: the second hand is at")
    })
    .await;
    assert_eq!(p.state().await.unwrap(), "needs-position");
    let physical = movement(&state).position;
    let (h, m) = (physical / 3600, physical / 60 % 60);
    let (code, out, err) = run(Command::new(bin_path("piclockctl"))
        .args(["--user", "set-hands", &format!("{h}:{m:02}")])
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address()));
    assert_eq!(code, 0, "{out}{err}");
    let (belief, certain, now) = agreement(&p, &state, PERSISTS).await.expect("a conclusive sample");
    assert_eq!((belief, certain), (now, true), "set-hands {h}:{m:02} with the sensor's seconds");
    assert_eq!(belief % 60, now % 60);
}

/// `health` is the simulated seconds sensor's state: `silent` or `stuck`.
async fn a_broken_sensor(health: &str) {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    place_movement(&state, 0, &format!("{{\"seconds_health\": \"{health}\"}}"));
    let d = start(&bus, "[sensor]\nseconds = \"GPIO17\"\n", &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let mut faults = p.receive_fault().await.expect("Fault");
    let t0 = set_offset(&p, 0).await;
    let t0_us = p.time_usec().await.unwrap();
    // The first Fault of component `sensor` (the NTP client, offline here, has its own).
    let message = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(sig) = faults.next().await {
            let args = sig.args().expect("Fault args");
            if *args.component() == "sensor" {
                return args.message().to_string();
            }
        }
        panic!("the Fault signals ended");
    })
    .await
    .unwrap_or_else(|_| panic!("{health}: no Fault from the sensor; log:\n{}", d.log_text()));
    let word = if health == "silent" { "silent" } else { "stayed active" };
    assert!(message.contains(word) && message.contains("seconds"), "{message}");
    let at = p.time_usec().await.unwrap();
    let took = (at - t0_us) as f64 / 1e6;
    assert!(took <= 120.0, "{health}: reported {took:.0} s (virtual) after ticking began");
    assert!(p.faults().await.unwrap().iter().any(|f| f.contains("seconds sensor")));
    // A bump is not corrected from it.
    std::fs::write(state.join("virtual-movement.nudge"), "6").unwrap();
    wait_until(&d, Duration::from_secs(30), "the bump applied", || async {
        !state.join("virtual-movement.nudge").exists()
    })
    .await;
    let later = p.time_usec().await.unwrap();
    wait_until(&d, Duration::from_secs(30), "three turns of the second hand", || async {
        p.time_usec().await.unwrap_or(0) > later + 180_000_000
    })
    .await;
    assert_eq!(p.sensor_corrections().await.unwrap(), 0);
    let (belief, _, physical) = agreement(&p, &state, PERSISTS).await.expect("a conclusive sample");
    assert_eq!(physical, (belief + 6) % 43_200, "not corrected (set at {t0})");
    eprintln!("{health} sensor reported {took:.0} s (virtual) after ticking began");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_sensor_is_reported_and_corrects_nothing() {
    a_broken_sensor("silent").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_sensor_is_reported_and_corrects_nothing() {
    a_broken_sensor("stuck").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn home_on_a_running_clock_corrects_the_belief() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    // Ten minutes before noon: the noon sensor is near.
    let d = start(&bus, BOTH, &["--start-time", "2026-06-01T11:50:00Z"]).await;
    let state = d.state_dir().to_path_buf();
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    // The belief 90 s off the hands (a bump of a minute and a half).
    std::fs::write(state.join("virtual-movement.nudge"), "-90").unwrap();
    wait_until(&d, Duration::from_secs(30), "the bump applied", || async {
        !state.join("virtual-movement.nudge").exists()
    })
    .await;
    p.home(false).await.expect("Home");
    assert_ne!(p.state().await.unwrap(), "ticking");
    p.home(false).await.expect("Home again while homing: nothing to do");
    wait_until(&d, Duration::from_secs(120), "homed and right", || settled(&p, &state)).await;
    assert!(p.sensor_corrections().await.unwrap() >= 1);
    assert!(d.log_text().contains("homing: the hands were"), "{}", d.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_sensor_section_nothing_changes() {
    let bus = Bus::start();
    let d = Daemon::start(&bus, &bus.dir().join("state"), SPEED).await;
    let state = d.state_dir().to_path_buf();
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert!(p.sensors_configured().await.unwrap().is_empty());
    assert!(p.sensor_window().await.unwrap().is_empty());
    assert_eq!((p.sensor_corrections().await.unwrap(), p.last_sensor_check_usec().await.unwrap()), (0, 0));
    let e = p.home(false).await.expect_err("no sensor");
    assert!(e.to_string().contains("NotSupported") && e.to_string().contains("[sensor]"), "{e}");
    set_offset(&p, 0).await;
    std::fs::write(state.join("virtual-movement.nudge"), "4").unwrap();
    let t = p.time_usec().await.unwrap();
    wait_until(&d, Duration::from_secs(30), "two turns", || async {
        p.time_usec().await.unwrap_or(0) > t + 120_000_000
    })
    .await;
    let (belief, _, physical) = agreement(&p, &state, PERSISTS).await.expect("a conclusive sample");
    assert_eq!(physical, (belief + 4) % 43_200, "nothing senses the hands");
    assert!(!d.log_text().contains("hand sensor"), "{}", d.log_text());
}

/// `key` of `PulseConfig`, a number.
async fn duty(p: &Clock1Proxy<'_>, key: &str) -> u32 {
    let config = p.pulse_config().await.expect("PulseConfig");
    config.get(key).and_then(|v| u32::try_from(v.try_clone().ok()?).ok()).unwrap_or_else(|| panic!("{key}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_weak_reverse_sector_gets_more_duty_and_then_loses_no_more_steps() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    // A movement whose reverse pulls in seconds 40..50 need 95 µs per 100
    // µs; region A (35..55) gives 90 by default: reverse ticks get lost there.
    std::fs::create_dir_all(&state).expect("state dir");
    let json = "{\"position\": 0, \"dial_seconds\": 43200, \"missed_pulses\": 0, \"steps_forward\": 0, \
                \"steps_backward\": 0, \"last_miss\": null, \"last_step\": null, \
                \"params\": {\"heavy_sector\": [40, 50], \"pull_min_on_us_heavy\": 95}}";
    std::fs::write(state.join("virtual-movement.json"), json).expect("virtual-movement.json");
    let mut d = start(&bus, BOTH, &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let heard = corrections_heard(&p).await;
    assert_eq!(duty(&p, "rev_ticka_on_us").await, 90);
    set_offset(&p, 0).await;
    wait_until(&d, Duration::from_secs(60), "the seconds window learned", || async {
        source(&p, "seconds").await == "learned"
    })
    .await;
    // Like an autumn change: the hands 10 minutes ahead, reversed at 2/s.
    let mut per_catch_up = Vec::new();
    for _ in 0..5 {
        let before = p.sensor_corrections().await.unwrap();
        set_offset(&p, 600).await;
        wait_until(&d, Duration::from_secs(120), "caught up", || settled(&p, &state)).await;
        per_catch_up.push(p.sensor_corrections().await.unwrap() - before);
    }
    eprintln!("corrections per catch-up: {per_catch_up:?}");
    assert_eq!(duty(&p, "rev_ticka_on_us").await, 95, "{per_catch_up:?}; log:\n{}", d.log_text());
    assert_eq!(duty(&p, "rev_tickb_on_us").await, 82, "region B untouched");
    let raised = per_catch_up.iter().position(|n| *n > 0).expect("steps were lost before the raise");
    assert!(raised < 2, "{per_catch_up:?}");
    assert!(per_catch_up[raised + 1..].iter().all(|n| *n == 0), "after the raise: {per_catch_up:?}");
    let heard = heard.lock().unwrap_or_else(|e| e.into_inner()).clone();
    eprintln!("{heard:?}");
    assert!(heard.iter().all(|(_, why)| why.contains("region A")), "{heard:?}");
    assert!(d.log_text().contains("raising rev_ticka_on_us from 90 to 95"), "{}", d.log_text());
    // Saved like any SetPulseConfig: a restart keeps it.
    d.start_again().await;
    let p = proxy(&conn).await;
    assert_eq!(duty(&p, "rev_ticka_on_us").await, 95);
}
