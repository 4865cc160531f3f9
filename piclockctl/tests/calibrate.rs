//! `piclockctl calibrate` and `test-movement` end to end: the simulated
//! daemon with a movement that is wired backwards and needs more drive in
//! its heavy sector and for reverse steps, and a "watcher" that answers the
//! questions by reading the simulated hands (virtual-movement.json), as a
//! person reads the clock on the wall.

use piclock_testkit::{agreement, bin_path, hms, movement, proxy, set_offset, Bus, Daemon, PERSISTS};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zbus::zvariant::Value;

/// Runs piclockctl with `args`, answering its questions from the simulated
/// hands; returns (exit code, everything it printed, questions answered).
fn run_watched(bus: &Bus, state: &Path, args: &[&str], limit: Duration) -> (i32, String, usize) {
    let mut child = Command::new(bin_path("piclockctl"))
        .arg("--user")
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("piclockctl");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<u8>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            for b in &buf[..n] {
                if tx.send(*b).is_err() {
                    return;
                }
            }
        }
    });
    let mut text = Vec::new();
    let mut answered = 0;
    let start = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(b) => {
                text.push(b);
                let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(12)..]).into_owned();
                let answer = if tail.ends_with("0-59] ") {
                    Some(format!("{}\n", movement(state).position % 60))
                } else if tail.ends_with("[H:MM:SS] ") {
                    Some(format!("{}\n", hms(movement(state).position)))
                } else {
                    None
                };
                if let Some(a) = answer {
                    answered += 1;
                    stdin.write_all(a.as_bytes()).expect("answer");
                    stdin.flush().expect("flush");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        assert!(
            start.elapsed() < limit,
            "piclockctl {args:?} still running; it printed:\n{}",
            String::from_utf8_lossy(&text)
        );
    }
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    (status.code().unwrap_or(-1), format!("{}{err}", String::from_utf8_lossy(&text)), answered)
}

async fn pulse(p: &piclock_dbus::Clock1Proxy<'_>, key: &str) -> Value<'static> {
    let dict = p.pulse_config().await.expect("PulseConfig");
    Value::from(dict.get(key).expect("key").try_clone().expect("clone"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_finds_the_polarity_and_drive_of_a_difficult_movement() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut daemon = Daemon::start(&bus, &state, 16.0).await;
    daemon.terminate();
    // This movement: wired the other way round, forward steps in the heavy
    // sector (seconds 35..55) need 70 µs per 100 µs (60 by default), reverse
    // pulls need 95 there and 86 elsewhere (90 and 82 by default).
    let path = state.join("virtual-movement.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("movement")).expect("json");
    m["params"]["wiring_inverted"] = true.into();
    m["params"]["step_min_on_us_heavy"] = 70.into();
    m["params"]["pull_min_on_us_heavy"] = 95.into();
    m["params"]["pull_min_on_us_light"] = 86.into();
    std::fs::write(&path, serde_json::to_vec(&m).expect("json")).expect("write");
    daemon.start_again().await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // The person sets the hands an hour behind true time and tells the
    // daemon (see the torture test below for why not wherever they are).
    set_offset(&p, -3600).await;
    p.pause(false).await.expect("Pause");

    let (code, out, answered) = run_watched(&bus, &state, &["calibrate"], Duration::from_secs(240));
    assert_eq!(code, 0, "{out}");
    assert!(answered >= 5, "{answered} questions:\n{out}");
    assert!(out.contains("invert_polarity: false -> true"), "{out}");
    assert!(out.contains("Calibrated."), "{out}");
    assert_eq!(pulse(&p, "invert_polarity").await, Value::Bool(true));
    let duty = |v: Value<'static>| match v {
        Value::U32(n) => n,
        other => panic!("{other:?}"),
    };
    assert!(duty(pulse(&p, "fwd_tick_on_us").await) >= 70, "{out}");
    assert!(duty(pulse(&p, "norm_tick_on_us").await) >= 70, "{out}");
    assert!(duty(pulse(&p, "rev_ticka_on_us").await) >= 95, "{out}");
    assert!(duty(pulse(&p, "rev_tickb_on_us").await) >= 86, "{out}");
    assert_eq!(p.state().await.expect("State"), "paused", "a paused clock stays paused");
    assert_eq!(p.hand_position().await.expect("HandPosition"), movement(&state).position, "belief = hands");

    // The torture test now passes, without a single missed pulse.
    let missed = movement(&state).missed_pulses;
    let (code, out, _) =
        run_watched(&bus, &state, &["test-movement", "--steps", "120", "--seed", "9"], Duration::from_secs(180));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Passed"), "{out}");
    assert_eq!(movement(&state).missed_pulses, missed, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_torture_test_fails_on_a_weak_reverse_and_the_belief_follows_the_hands() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut daemon = Daemon::start(&bus, &state, 16.0).await;
    daemon.terminate();
    let path = state.join("virtual-movement.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("movement")).expect("json");
    m["params"]["pull_min_on_us_light"] = 95.into();
    std::fs::write(&path, serde_json::to_vec(&m).expect("json")).expect("write");
    daemon.start_again().await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // Hands an hour behind true time, so that every catch-up move of the
    // running clock is a forward one. (They used to be set wherever the
    // simulated movement stood, 12:00:00, so the direction depended on the
    // time of day: from about 6 to 12 o'clock UTC the planner reverses, and
    // the first reverse pulse after test-movement resumed the clock was
    // lost to this movement's weak reverse before the test paused it —
    // belief one step behind the hands, the modelled fault, not a bug.)
    set_offset(&p, -3600).await;
    let (code, out, _) =
        run_watched(&bus, &state, &["test-movement", "--steps", "80", "--seed", "3"], Duration::from_secs(180));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Failed") && out.contains("run piclockctl calibrate"), "{out}");
    assert_ne!(p.state().await.expect("State"), "paused", "a running clock runs again");
    p.pause(false).await.expect("Pause");
    let (belief, _, hands) = agreement(&p, &state, PERSISTS).await.expect("a conclusive sample");
    assert_eq!(belief, hands, "belief = hands");
}
