//! The system clock stepped under the running daemon (libfaketime, Debian
//! package `faketime`): the hands keep true time, since it runs on
//! `CLOCK_BOOTTIME` plus a correction that only the sources change.

use piclock_testkit::{proxy, set_offset, Bus, Daemon};
use std::time::{Duration, Instant};

/// libfaketime for multi-threaded programs.
fn libfaketime() -> std::path::PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime (Debian package faketime; scripts/deps.sh installs it)")
}

/// The clock in sync at --speed 1, the system clock stepped +1 h, then back
/// (−1 h): State stays ticking, Offset within ±1 s, no catch-up, and the
/// daemon's log names each step.
#[tokio::test(flavor = "multi_thread")]
async fn a_stepped_system_clock_moves_nothing() {
    let bus = Bus::start();
    let spec = bus.dir().join("faketime");
    std::fs::write(&spec, "+0\n").expect("faketime file");
    let lib = libfaketime();
    let env = [
        ("LD_PRELOAD", lib.to_str().expect("path")),
        ("FAKETIME_TIMESTAMP_FILE", spec.to_str().expect("path")),
        ("FAKETIME_CACHE_DURATION", "1"),
        // Only the system clock steps; CLOCK_MONOTONIC and CLOCK_BOOTTIME run on.
        ("DONT_FAKE_MONOTONIC", "1"),
    ];
    let d = Daemon::start_with_env(&bus, &bus.dir().join("state"), 1.0, &env).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    let settled = Instant::now();
    while p.state().await.unwrap() != "ticking" {
        assert!(settled.elapsed() < Duration::from_secs(10), "not ticking: {}", p.state().await.unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (step, expect) in [("+1h", "stepped by +3600"), ("+0", "stepped by -3600")] {
        let before = p.time_usec().await.unwrap() as i64;
        let t0 = Instant::now();
        std::fs::write(&spec, format!("{step}\n")).expect("faketime file");
        // Past libfaketime's cache (1 s) and the daemon's step check (2 s).
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let (state, offset, catch_up) =
                (p.state().await.unwrap(), p.offset().await.unwrap(), p.catch_up_seconds().await.unwrap());
            assert_eq!(state, "ticking", "after the {step} step");
            assert!(offset.abs() <= 1, "Offset {offset} after the {step} step");
            assert_eq!(catch_up, 0, "a catch-up started after the {step} step");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // True time went on with real time, not with the step.
        let moved = p.time_usec().await.unwrap() as i64 - before;
        let real = t0.elapsed().as_micros() as i64;
        assert!((moved - real).abs() < 1_000_000, "true time moved {moved} µs in {real} µs of real time");
        assert!(d.log_text().contains(expect), "the log does not say {expect:?}:\n{}", d.log_text());
    }
}
