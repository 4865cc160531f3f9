//! `piclockd --simulate` on a private bus: catch-up, crash safety, bad input.
//!
//! Every check compares the daemon's belief (D-Bus properties) with the
//! simulated hands (virtual-movement.json), which move only through pulses.

use piclock_testkit::{agreement, proxy, run, set_offset, Bus, Daemon, PERSISTS};
use std::process::Command;
use std::time::{Duration, Instant};

/// Heavy tests run one at a time: each drives a daemon at 60-120x speed,
/// and the machine may have only two cores.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// Sets the hands `offset` s off at `speed`, then watches the catch-up:
/// CatchUpSeconds near `expect_s`, the hands right in about that time, the
/// simulated hands equal to HandPosition all along, no pulse missed.
async fn catch_up(offset: i64, speed: f64, expect_s: f64) {
    let _one_at_a_time = heavy().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let d = Daemon::start(&bus, &state, speed).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_eq!(p.state().await.unwrap(), "needs-position");
    set_offset(&p, offset).await;
    let t0 = p.time_usec().await.unwrap();
    let planned = p.catch_up_seconds().await.unwrap();
    assert!(
        (f64::from(planned) - expect_s).abs() <= expect_s * 0.02 + 2.0,
        "CatchUpSeconds {planned} not within 2% of {expect_s}"
    );
    let expected_state = if offset < 0 { "fast-forward" } else { "reverse" };
    assert_eq!(p.state().await.unwrap(), expected_state);
    let limit = Duration::from_secs_f64(expect_s * 1.5 / speed + 30.0);
    let start = Instant::now();
    let (mut samples, mut conclusive) = (0, 0);
    let done_at = loop {
        assert!(start.elapsed() < limit, "not right after {limit:?}: offset {}", p.offset().await.unwrap());
        samples += 1;
        if let Some((belief, _, physical)) = agreement(&p, d.state_dir(), PERSISTS).await {
            conclusive += 1;
            assert_eq!(belief, physical, "HandPosition and the simulated hands differ");
        }
        if p.offset().await.unwrap() == 0 && p.state().await.unwrap() == "ticking" {
            break p.time_usec().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = (done_at - t0) as f64 / 1e6;
    // Polling every 100 ms real adds up to 0.1 * speed virtual seconds.
    let slack = expect_s * 0.02 + 2.0 + 0.15 * speed;
    assert!((took - f64::from(planned)).abs() <= slack, "took {took:.1} s, planned {planned} s");
    assert!(conclusive > 0, "the hands never held still long enough to compare ({samples} samples)");
    let m = d.movement();
    assert_eq!(m.missed_pulses, 0);
    let (belief, _, physical) =
        agreement(&p, d.state_dir(), Duration::from_millis(500)).await.expect("a conclusive sample");
    assert_eq!(belief, physical);
    eprintln!("offset {offset}: planned {planned} s, took {took:.1} s (virtual), {conclusive} of {samples} samples conclusive, all agreeing");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_hour_behind_catches_up_in_twenty_minutes() {
    catch_up(-3600, 60.0, 1200.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_hour_ahead_reverses_in_twenty_minutes() {
    catch_up(3600, 60.0, 1201.0).await;
}

/// The cut-over between forward and reverse, end to end (the choice itself
/// is also covered by the planner's property tests and the benchmark).
#[tokio::test(flavor = "multi_thread")]
async fn five_hours_fifty_nine_ahead_takes_the_reverse() {
    // Reverse: (21540 / 3) + settle; forward would take 21660 / 3 = 7220 s.
    catch_up(5 * 3600 + 59 * 60, 120.0, 7181.0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_and_changes_nothing() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let d = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    p.pause(false).await.unwrap();
    let before = (p.hand_position().await.unwrap(), p.state().await.unwrap(), d.movement());
    let gdbus = |method: &str, args: &[&str]| {
        let mut c = Command::new("gdbus");
        c.args(["call", "--address", bus.address(), "-d", "org.piclock.Clock1", "-o", "/org/piclock/Clock1", "-m"])
            .arg(format!("org.piclock.Clock1.{method}"))
            .args(args);
        run(&mut c)
    };
    for (method, args, needle) in [
        ("SetHandPosition", vec!["13:61", "false"], "position"),
        ("SetHandPosition", vec!["12:61", "false"], "minutes"),
        ("SetHandPosition", vec!["noon", "false"], "H:MM"),
        ("Step", vec!["--", "100000", "false"], "ticks"),
        ("Step", vec!["--", "-100000", "false"], "ticks"),
        ("Step", vec!["--", "-3601", "false"], "-3600..=3600"),
    ] {
        let (code, _out, err) = gdbus(method, &args);
        assert_ne!(code, 0, "{method} {args:?} was accepted");
        assert!(err.contains("org.freedesktop.DBus.Error.InvalidArgs"), "{method} {args:?}: {err}");
        assert!(err.contains(needle), "{method} {args:?}: message does not name {needle}: {err}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = (p.hand_position().await.unwrap(), p.state().await.unwrap(), d.movement());
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_state_directory_needs_a_position_and_never_pulses() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let d = Daemon::start(&bus, &state, 60.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_eq!(p.state().await.unwrap(), "needs-position");
    assert!(!p.position_certain().await.unwrap());
    let e = p.step(5, false).await.unwrap_err();
    assert!(e.to_string().contains("SetHandPosition"), "{e}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = d.movement();
    assert_eq!((m.position, m.missed_pulses), (0, 0), "pulsed on a guess");
    // piclockctl shows the state to a human.
    let (code, out, err) = run(Command::new(piclock_testkit::bin_path("piclockctl"))
        .arg("--user")
        .arg("status")
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("State: needs-position"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_keeps_the_position() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 60.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, -600).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = d.terminate().expect("daemon was running");
    assert!(status.success(), "exit status {status}; log:\n{}", d.log_text());
    assert!(d.log_text().contains("coil lines low"));
    d.restart(&bus).await;
    assert!(p.position_certain().await.unwrap(), "a clean stop leaves no doubt");
    let (belief, _, physical) = agreement(&p, &state, Duration::from_millis(500)).await.expect("a conclusive sample");
    assert_eq!(belief, physical);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_session_bus_another_user_is_refused() {
    if unsafe_uid() != 0 {
        piclock_testkit::skip("needs root to run a client as another user");
        return;
    }
    let bus = Bus::start();
    // Let the other user reach the socket.
    std::fs::set_permissions(bus.dir(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let state = bus.dir().join("state");
    let d = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    let before = (p.hand_position().await.unwrap(), p.state().await.unwrap(), d.movement());
    for (method, args) in
        [("Pause", vec!["false"]), ("Step", vec!["5", "false"]), ("SetHandPosition", vec!["3:00", "false"])]
    {
        let (code, _, err) = run(Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "gdbus", "call", "--address", bus.address()])
            .args(["-d", "org.piclock.Clock1", "-o", "/org/piclock/Clock1", "-m"])
            .arg(format!("org.piclock.Clock1.{method}"))
            .args(&args));
        assert_ne!(code, 0);
        assert!(err.contains("org.freedesktop.DBus.Error.AccessDenied"), "{method}: {err}");
        assert!(err.contains("org.piclock.clock1.control"), "{method}: the message names the action: {err}");
    }
    let after = (p.hand_position().await.unwrap(), p.state().await.unwrap(), d.movement());
    assert_eq!(before.1, after.1);
    assert_eq!(before.2.missed_pulses, after.2.missed_pulses);
}

fn unsafe_uid() -> u32 {
    let (_, out, _) = run(Command::new("id").arg("-u"));
    out.trim().parse().unwrap_or(u32::MAX)
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_fram_store_sigkills_lose_nothing_either() {
    let _one_at_a_time = heavy().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, "[store]\nposition = \"fram\"\n").unwrap();
    let mut d = Daemon::start_with(&bus, &state, 60.0, &[], &["--config", conf.to_str().unwrap()]).await;
    assert!(d.log_text().contains("position store: FRAM at 0x50"), "{}", d.log_text());
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, -3600).await;
    for i in 0..15u64 {
        tokio::time::sleep(Duration::from_millis(100 + (i * 37) % 400)).await;
        d.kill9();
        d.start_again().await;
        let (belief, certain, physical) = agreement(&p, &state, PERSISTS).await.expect("a conclusive sample");
        let diff = (i64::from(belief) - i64::from(physical)).rem_euclid(43_200);
        assert!(
            diff == 0 || (!certain && diff.min(43_200 - diff) == 1),
            "kill {i}: {belief} certain={certain} vs {physical}"
        );
    }
    assert!(state.join("virtual-fram.bin").exists());
    assert!(!state.join("position").exists(), "the file store was used");
    assert!(d.log_text().matches("unclean stop while moving").count() >= 1);
}
