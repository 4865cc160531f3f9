//! Screenshots of the panel's main states against `piclockd --simulate` on a
//! private bus, under a private X server. Each is checked: the state text the
//! window shows, and the hands drawn where the daemon says they are (pixels
//! sampled along the expected angles, and nothing of theirs elsewhere).
//!
//! The pictures land in `target/screenshots/`. With
//! `PICLOCK_README_SCREENSHOT=1` the catching-up one is also copied to
//! `piclock-gtk/data/screenshot.png` (the picture of the README and of docs/src/guide/panel.md).

mod common;

use common::*;
use piclock_testkit::{hms, proxy, target_12h, Bus, Daemon};
use std::path::Path;

/// The daemon's numbers around the moment of a screenshot.
struct Reading {
    dial_seconds: u32,
    hands: (u32, u32),
    truth: (f64, f64),
}

/// True position on the dial (UTC zone) from TimeUSec.
fn true_position(time_usec: u64, dial_seconds: u32) -> f64 {
    (time_usec as f64 / 1e6).rem_euclid(f64::from(dial_seconds))
}

/// Sets the hands `offset` seconds from true time (12-hour dial, UTC).
async fn set_offset(p: &piclock_dbus::Clock1Proxy<'_>, offset: i64) {
    let now = p.time_usec().await.expect("TimeUSec");
    let pos = (i64::from(target_12h(now, 0)) + offset).rem_euclid(43_200) as u32;
    p.set_hand_position(&hms(pos), false).await.expect("SetHandPosition");
}

/// Takes the screenshot while reading the daemon before and after.
async fn shoot(
    x: &Xvfb,
    bus: &Bus,
    p: &piclock_dbus::Clock1Proxy<'_>,
    name: &str,
) -> (std::path::PathBuf, String, Reading) {
    let config = tempfile::tempdir().expect("config home");
    let dial_seconds = p.dial_seconds().await.expect("DialSeconds");
    let (h0, t0) = (p.hand_position().await.expect("hands"), p.time_usec().await.expect("time"));
    let (path, text) = screenshot(&x.display, bus.address(), config.path(), name, &["--user"]);
    let (h1, t1) = (p.hand_position().await.expect("hands"), p.time_usec().await.expect("time"));
    let reading = Reading {
        dial_seconds,
        hands: (h0, h1),
        truth: (true_position(t0, dial_seconds), true_position(t1, dial_seconds)),
    };
    eprintln!("{name}: {}\n--- text ---\n{text}", path.display());
    (path, text, reading)
}

/// Angle range (degrees, `to >= from`) of one hand over a range of positions.
fn sweep(pick: impl Fn((f64, f64, f64)) -> f64, from: f64, to: f64, dial: u32) -> (f64, f64) {
    let (a, b) = (pick(angles(from, dial)), pick(angles(to, dial)));
    let b = if b < a { b + 360.0 } else { b };
    (a, b)
}

/// Checks one hand: at least `min` of the radii show `kind` within the sweep.
fn check_hand(img: &Image, d: &Dial, what: &str, (from, to): (f64, f64), r: (f64, f64), kind: Ink, min: f64) {
    let cover = hand_coverage(img, d, (from, to), 1.5, r, kind);
    assert!(cover >= min, "{what}: only {:.0} % of the hand found at {from:.1}..{to:.1}°", cover * 100.0);
}

const HOUR_R: (f64, f64) = (0.15, 0.42);
const MINUTE_R: (f64, f64) = (0.25, 0.62);
const SECOND_R: (f64, f64) = (0.79, 0.84);

/// Checks the solid hands against the reading; returns their angles.
fn check_solid(img: &Image, d: &Dial, r: &Reading, seconds_too: bool) -> Vec<f64> {
    let (from, to) = (f64::from(r.hands.0), f64::from(r.hands.1));
    let hour = sweep(|a| a.0, from, to, r.dial_seconds);
    let minute = sweep(|a| a.1, from, to, r.dial_seconds);
    check_hand(img, d, "hour hand", hour, HOUR_R, Ink::Solid, 0.9);
    check_hand(img, d, "minute hand", minute, MINUTE_R, Ink::Solid, 0.9);
    let mut busy = vec![hour.0, hour.1, minute.0, minute.1];
    if seconds_too {
        let second = sweep(|a| a.2, from, to, r.dial_seconds);
        check_hand(img, d, "second hand", second, SECOND_R, Ink::Red, 0.8);
        busy.extend([second.0, second.1]);
    }
    busy
}

/// Checks the ghost hands (true time); returns their angles.
fn check_ghost(img: &Image, d: &Dial, r: &Reading) -> Vec<f64> {
    let hour = sweep(|a| a.0, r.truth.0.floor(), r.truth.1.floor(), r.dial_seconds);
    let minute = sweep(|a| a.1, r.truth.0.floor(), r.truth.1.floor(), r.dial_seconds);
    check_hand(img, d, "ghost hour hand", hour, HOUR_R, Ink::Ghost, 0.8);
    check_hand(img, d, "ghost minute hand", minute, MINUTE_R, Ink::Ghost, 0.8);
    vec![hour.0, hour.1, minute.0, minute.1]
}

/// Away from every hand (and the ghost's second hand, which may be anywhere
/// near its own angle), the dial shows no hand.
fn check_elsewhere(img: &Image, d: &Dial, busy: &[f64], ghost_second: Option<(f64, f64)>) {
    let mut busy = busy.to_vec();
    if let Some((a, b)) = ghost_second {
        busy.extend([a, b]);
    }
    let rays = free_rays(&busy, 25.0);
    assert!(rays.len() >= 10, "too few free rays to compare with: {rays:?}");
    for a in rays {
        for kind in [Ink::Solid, Ink::Ghost] {
            let found = ray_ink(img, d, a, 0.2, 0.6, kind);
            assert!(found == 0.0, "{kind:?} ink at {a}° where no hand should be ({:.0} %)", found * 100.0);
        }
    }
}

fn ghost_second(r: &Reading) -> (f64, f64) {
    sweep(|a| a.2, r.truth.0.floor(), r.truth.1.floor() + 2.0, r.dial_seconds)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).collect()
}

fn assert_shows(text: &str, wanted: &[&str]) {
    let l = lines(text);
    for w in wanted {
        assert!(l.iter().any(|line| line.contains(w)), "the window does not show {w:?}:\n{text}");
    }
}

async fn daemon(bus: &Bus, args: &[&str]) -> Daemon {
    let mut all = vec!["--start-time", START_TIME];
    all.extend_from_slice(args);
    Daemon::start_with(bus, &bus.dir().join("state"), 1.0, &[], &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticking() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let _d = daemon(&bus, &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    // A second or two of catching up may follow; wait for the steady state.
    piclock_testkit::wait_for(std::time::Duration::from_secs(60), || {
        futures_block(async { p.state().await.ok() == Some("ticking".into()) && p.offset().await.ok() == Some(0) })
    });
    let (path, text, r) = shoot(&x, &bus, &p, "ticking").await;
    assert_shows(&text, &["ticking", "Ticking: the hands show the time", "right (0 s)", "Pause", "the session bus"]);
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let busy = check_solid(&img, &d, &r, false);
    // The ghost lies under the right hands: nothing of it elsewhere.
    check_elsewhere(&img, &d, &busy, Some(ghost_second(&r)));
    assert!(green_at_twelve(&img, &d) < 0.05, "a sensor mark without sensors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catching_up() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let _d = daemon(&bus, &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // 1:50:00 behind: about 37 minutes of fast-forward, hands at 8:20, time 10:10.
    set_offset(&p, -6600).await;
    assert_eq!(p.state().await.expect("State"), "fast-forward");
    let (path, text, r) = shoot(&x, &bus, &p, "catching-up").await;
    assert_shows(&text, &["fast-forward", "Catching up: fast-forward", "behind", "right in about", "[progress"]);
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let mut busy = check_solid(&img, &d, &r, false);
    busy.extend(check_ghost(&img, &d, &r));
    // The physical second hand runs at 4/s: keep away from all of the dial's seconds it swept.
    let (h0, h1) = (f64::from(r.hands.0), f64::from(r.hands.1));
    let swept = sweep(|a| a.2, h0, h1, r.dial_seconds);
    busy.extend([swept.0, swept.1]);
    check_elsewhere(&img, &d, &busy, Some(ghost_second(&r)));
    if std::env::var_os("PICLOCK_README_SCREENSHOT").is_some() {
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("screenshot.png");
        std::fs::copy(&path, &readme).expect("copy for the README");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let _d = daemon(&bus, &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // Hands at 12:27:30 while it is 10:10: hour, minute and second hands all
    // apart from the ghost's.
    p.set_hand_position("12:27:30", false).await.expect("SetHandPosition");
    p.pause(false).await.expect("Pause");
    let (path, text, r) = shoot(&x, &bus, &p, "paused").await;
    assert_eq!(r.hands.0, r.hands.1, "paused hands do not move");
    assert_eq!(r.hands.0, 27 * 60 + 30);
    assert_shows(&text, &["paused", "Paused: the hands stand still", "Resume", "12:27:30"]);
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let mut busy = check_solid(&img, &d, &r, true);
    busy.extend(check_ghost(&img, &d, &r));
    check_elsewhere(&img, &d, &busy, Some(ghost_second(&r)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_position() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let _d = daemon(&bus, &[]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_eq!(p.state().await.expect("State"), "needs-position");
    let (path, text, r) = shoot(&x, &bus, &p, "needs-position").await;
    assert_shows(&text, &["needs-position", "Needs the hand position", "unknown", "Set hands…"]);
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    // Only the ghost: the true time, and no physical hands anywhere.
    let busy = check_ghost(&img, &d, &r);
    for a in (0..360).step_by(5) {
        let found = ray_ink(&img, &d, f64::from(a), 0.2, 0.6, Ink::Solid);
        assert!(found == 0.0, "a solid hand at {a}° although the position is unknown");
    }
    check_elsewhere(&img, &d, &busy, Some(ghost_second(&r)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_four_hour_dial() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let _d = daemon(&bus, &["--dial-hours", "24"]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_eq!(p.dial_seconds().await.expect("DialSeconds"), 86_400);
    // 20:00:30 on a 24-hour dial: the hour hand at 300°, not at 240° as on a 12-hour one.
    p.set_hand_position("20:00:30", false).await.expect("SetHandPosition");
    p.pause(false).await.expect("Pause");
    let (path, text, r) = shoot(&x, &bus, &p, "paused-24h").await;
    assert_shows(&text, &["paused", "24-hour dial", "20:00:30"]);
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let mut busy = check_solid(&img, &d, &r, true);
    busy.extend(check_ghost(&img, &d, &r));
    check_elsewhere(&img, &d, &busy, Some(ghost_second(&r)));
    let wrong = hand_coverage(&img, &d, (240.0, 240.0), 1.5, HOUR_R, Ink::Solid);
    assert!(wrong < 0.3, "an hour hand where a 12-hour dial would put it");
}

/// The share of the sensor mark's disc at 12 (the panel's MARK_RADIUS) in
/// the confirmed green.
fn green_at_twelve(img: &Image, d: &Dial) -> f64 {
    let (at, size) = (0.58, 0.04);
    let (cx, cy) = (d.cx, d.cy - d.r * at);
    let (mut green, mut total) = (0, 0);
    let reach = d.r * size * 0.7;
    let mut y = -reach;
    while y <= reach {
        let mut x = -reach;
        while x <= reach {
            if x * x + y * y <= reach * reach {
                total += 1;
                if let Some((r, g, b)) = img.rgb(cx + x, cy + y) {
                    if g > 120 && i32::from(g) > i32::from(r) + 50 && i32::from(g) > i32::from(b) + 40 {
                        green += 1;
                    }
                }
            }
            x += 1.0;
        }
        y += 1.0;
    }
    f64::from(green) / f64::from(total.max(1))
}

/// With hand sensors, a green mark at 12 once a sensor confirmed the hands;
/// none without sensors (the other screenshots).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_mark_at_twelve() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let conf = bus.dir().join("piclockd.toml");
    // The window given, so the first pass checks: 10 s after the start.
    std::fs::write(&conf, "[sensor]\nseconds = \"GPIO17\"\nwindow = 3\n").expect("config");
    let conf = conf.to_str().expect("path").to_owned();
    let args = ["--start-time", "2026-01-15T10:10:50Z", "--config", conf.as_str()];
    let _d = Daemon::start_with(&bus, &bus.dir().join("state"), 1.0, &[], &args).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    piclock_testkit::wait_for(std::time::Duration::from_secs(90), || {
        futures_block(async { p.last_sensor_check_usec().await.unwrap_or(0) > 0 })
    });
    let (path, _text, _r) = shoot(&x, &bus, &p, "sensor-confirmed").await;
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let green = green_at_twelve(&img, &d);
    assert!(green > 0.5, "only {:.0} % of the mark at 12 is green", green * 100.0);
    // Nowhere else: the opposite side of the dial has no green.
    let mirrored = Dial { cy: d.cy + 2.0 * d.r * 0.58, ..d };
    assert!(green_at_twelve(&img, &mirrored) < 0.05);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_absent() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let config = tempfile::tempdir().expect("config home");
    let (path, text) = screenshot(&x.display, bus.address(), config.path(), "daemon-absent", &["--user"]);
    assert_shows(&text, &["piclockd is not running", "the session bus", "Connect to…"]);
    let img = Image::load(&path);
    assert!(find_dial(&img).is_none(), "no dial without a daemon");
}

/// Runs a future to completion from synchronous code inside the test runtime.
fn futures_block<F: std::future::Future<Output = bool>>(f: F) -> bool {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_line_has_no_second_hand() {
    let _one = one_at_a_time().await;
    let (x, bus) = (Xvfb::start(), Bus::start());
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, "[movement]\nkind = \"impulse\"\nstep_s = 60\n").expect("config");
    let conf = conf.to_str().expect("path").to_owned();
    let _d = daemon(&bus, &["--config", conf.as_str()]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    p.pause(false).await.expect("Pause");
    p.set_hand_position("12:27", false).await.expect("SetHandPosition");
    let (path, text, r) = shoot(&x, &bus, &p, "minute-line").await;
    assert_eq!(r.hands.0, 27 * 60);
    assert_shows(&text, &["paused", "12:27"]);
    assert!(!text.contains("12:27:00"), "a minute line's hands show H:MM:\n{text}");
    let img = Image::load(&path);
    let d = find_dial(&img).expect("the dial is drawn");
    let mut busy = check_solid(&img, &d, &r, false);
    busy.extend(check_ghost(&img, &d, &r));
    check_elsewhere(&img, &d, &busy, None);
    // Beyond the minute hand's length (0.78 of the radius, its rounded tip
    // a little more) only a second hand could reach (the hour marks there
    // are dark like the solid hands): no red and no ghost ink there, at any
    // angle away from the hour and minute hands.
    let near = |a: f64| busy.iter().any(|b| ((a - b).rem_euclid(360.0) + 8.0).rem_euclid(360.0) <= 16.0);
    for a in (0..360).step_by(2).map(f64::from).filter(|a| !near(*a)) {
        for kind in [Ink::Red, Ink::Ghost] {
            let found = ray_ink(&img, &d, a, 0.80, 0.83, kind);
            assert!(found == 0.0, "{kind:?} ink at {a}°, where only a second hand reaches");
        }
    }
}
