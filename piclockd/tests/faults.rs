//! Fault injection: the daemon killed at random moments, its state files
//! truncated or corrupted, the (simulated) FRAM failing mid-run, the bus
//! daemon restarted. After each fault the simulated hands must equal the
//! daemon's belief, or the belief must be flagged uncertain and differ by
//! exactly one step (settled by the next pulse); nothing may panic.
//!
//! The RTC failing mid-run and NTP servers down or hostile are covered in
//! `ntp.rs` (`rtc_at_start_then_removed_mid_run`, the hostile-server tests).
//!
//! `PICLOCK_FAULT_KILLS` sets the number of SIGKILLs (default 200).

use piclock_testkit::{agreement, movement, proxy, set_offset, Bus, Daemon, PERSISTS};
use std::time::{Duration, Instant};
use zbus::zvariant::{OwnedValue, Value};

/// One test at a time drives a daemon at 60x.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn kills() -> usize {
    std::env::var("PICLOCK_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

fn dial_distance(a: u32, b: u32) -> u32 {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(43_200) as u32;
    d.min(43_200 - d)
}

/// The invariant after a fault: equal, or uncertain by exactly one step;
/// and within moments equal and certain.
async fn assert_hands_agree(p: &piclock_dbus::Clock1Proxy<'_>, state: &std::path::Path, what: &str) -> bool {
    let (belief, certain, physical) = agreement(p, state, PERSISTS).await.expect("a conclusive sample");
    let diff = dial_distance(belief, physical);
    assert!(
        diff == 0 || (!certain && diff == 1),
        "{what}: HandPosition {belief} certain={certain}, simulated hands {physical}\n{}",
        std::fs::read_to_string(state.join("virtual-movement.json")).unwrap_or_default()
    );
    let start = Instant::now();
    while !p.position_certain().await.expect("PositionCertain") {
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: still uncertain after 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (b, _, m) = agreement(p, state, PERSISTS).await.expect("a conclusive sample");
    assert_eq!(b, m, "{what}: after the settling pulse the belief must equal the hands");
    !certain
}

fn u32_of(dict: &std::collections::HashMap<String, OwnedValue>, key: &str) -> u32 {
    match dict.get(key).map(|v| Value::from(v.try_clone().expect("clone"))) {
        Some(Value::U32(n)) => n,
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkills_while_ticking_catching_up_and_changing_settings() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 60.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let mut rand = xorshift(0x9E37_79B9_7F4A_7C15);
    let total = kills();
    let (mut in_doubt, mut during_config) = (0, 0);
    let started = Instant::now();
    for i in 0..total {
        // Phases in turn: ticking on time, catching up forward, catching up
        // backward, and (while ticking) a stream of settings changes.
        let phase = i % 4;
        match phase {
            0 | 3 => drop(set_offset(&p, 0).await),
            1 => drop(set_offset(&p, -3600).await),
            _ => drop(set_offset(&p, 3600).await),
        }
        let changer = (phase == 3).then(|| {
            let p = p.clone();
            tokio::spawn(async move {
                let mut n = 0u32;
                loop {
                    let mut dict = std::collections::HashMap::new();
                    dict.insert("norm_tick_on_us".to_owned(), OwnedValue::from(60 + n % 2 * 5));
                    dict.insert("sync_tolerance_s".to_owned(), OwnedValue::from(n % 2));
                    if p.set_pulse_config(dict, false).await.is_err() {
                        return;
                    }
                    n += 1;
                }
            })
        });
        tokio::time::sleep(Duration::from_millis(30 + rand() % 400)).await;
        d.kill9();
        if let Some(c) = changer {
            c.abort();
            during_config += 1;
        }
        d.restart(&bus).await;
        assert!(!d.log_text().contains("panicked"), "a panic:\n{}", d.log_text());
        if assert_hands_agree(&p, &state, &format!("after kill {}", i + 1)).await {
            in_doubt += 1;
        }
        if phase == 3 {
            // The settings file was replaced atomically: one of the two
            // values written, never a torn file (which would mean defaults
            // and a settings.json.bad).
            let dict = p.pulse_config().await.expect("PulseConfig");
            let duty = u32_of(&dict, "norm_tick_on_us");
            assert!(duty == 60 || duty == 65, "norm_tick_on_us {duty}");
            assert!(!state.join("settings.json.bad").exists(), "a torn settings file");
        }
    }
    let log = d.log_text();
    let recovered = log.matches("unclean stop while moving").count();
    let settled = log.matches("certain again after the settling pulse").count();
    eprintln!(
        "{total} SIGKILLs in {:.0} s ({during_config} during settings changes): {recovered} landed mid-move \
         (recovered in doubt, {settled} settled), {in_doubt} still in doubt when first sampled; \
         missed pulses {}",
        started.elapsed().as_secs_f64(),
        movement(&state).missed_pulses
    );
    assert!(recovered >= 1, "no kill landed mid-move: the in-doubt path was not exercised");
    assert_eq!(settled, recovered);
    // The only pulses that may do nothing are settling pulses: one after a
    // recovery in doubt, when the hands had already made the step in flight.
    let missed = movement(&state).missed_pulses;
    assert!(missed <= settled as u64, "{missed} missed pulses for {settled} settling pulses");
    assert!(!log.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_or_corrupted_state_files() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 60.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let journal = state.join("position");
    let mut rand = xorshift(42);

    // Both slots unreadable: the daemon must not guess; it waits for a position.
    // An emptied file looks like a new one; anything else unreadable is
    // also reported in Faults until the position is set.
    type Damage = fn(&mut Vec<u8>, &mut dyn FnMut() -> u64);
    let unreadable: [(&str, Damage, bool); 3] = [
        ("emptied", |b, _| b.clear(), false),
        ("cut in the first slot", |b, _| b.truncate(20), true),
        ("overwritten with noise", |b, r| b.iter_mut().for_each(|x| *x = r() as u8), true),
    ];
    for (what, damage, reported) in unreadable {
        set_offset(&p, -600).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        d.kill9();
        let mut bytes = std::fs::read(&journal).expect("journal");
        damage(&mut bytes, &mut rand);
        std::fs::write(&journal, &bytes).expect("write");
        d.restart(&bus).await;
        assert_eq!(p.state().await.expect("State"), "needs-position", "journal {what}");
        assert!(!p.position_certain().await.expect("PositionCertain"), "journal {what}");
        let before = movement(&state);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(movement(&state), before, "journal {what}: it pulsed on a guess");
        let faults = p.faults().await.expect("Faults");
        assert_eq!(!faults.is_empty(), reported, "journal {what}: Faults {faults:?}");
        // Telling it where the hands are gets it going again.
        p.set_hand_position(&piclock_testkit::hms(movement(&state).position), false).await.expect("set");
        assert_hands_agree(&p, &state, &format!("journal {what}, position set again")).await;
    }

    // One slot damaged at rest. The older one: harmless, the newer record
    // decides. The newer one: the intact older record may be stale (it says
    // where the hands were before the last write), so the daemon must not
    // tick on it: it asks for the position, and says why in Faults.
    let seq = |bytes: &[u8], slot: usize| {
        bytes.get(slot * 32 + 4..slot * 32 + 12).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let (mut older_hits, mut newer_hits) = (0, 0);
    for round in 0..8 {
        set_offset(&p, if round % 2 == 0 { -1200 } else { 1200 }).await;
        tokio::time::sleep(Duration::from_millis(100 + rand() % 300)).await;
        d.kill9();
        let mut bytes = std::fs::read(&journal).expect("journal");
        let newer = if seq(&bytes, 0) > seq(&bytes, 1) { 0 } else { 1 };
        let slot = if round < 4 { newer } else { 1 - newer };
        // Any byte of the record but the sequence number (a damaged sequence
        // number could pass for an older record: the documented limit).
        let offsets: Vec<usize> = (0..32).filter(|o| !(4..12).contains(o)).collect();
        let at = slot * 32 + offsets[(rand() % offsets.len() as u64) as usize];
        bytes[at] ^= 1 << (rand() % 8);
        std::fs::write(&journal, &bytes).expect("write");
        d.restart(&bus).await;
        assert!(!d.log_text().contains("panicked"));
        let what = format!(
            "round {round}: slot {slot} (the {}) damaged at byte {at}",
            if slot == newer { "newer" } else { "older" }
        );
        if slot == newer {
            newer_hits += 1;
            assert_eq!(p.state().await.expect("State"), "needs-position", "{what}");
            let faults = p.faults().await.expect("Faults");
            assert!(faults.iter().any(|f| f.contains("may be stale")), "{what}: {faults:?}");
            let before = movement(&state);
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(movement(&state), before, "{what}: it pulsed on a guess");
            p.set_hand_position(&piclock_testkit::hms(movement(&state).position), false).await.expect("set");
        } else {
            older_hits += 1;
        }
        assert_hands_agree(&p, &state, &what).await;
    }
    assert!(newer_hits >= 1 && older_hits >= 1);

    assert!(!d.log_text().contains("panicked"));
}

/// A corrupt settings file after a kill mid-catch-up: defaults, the file set
/// aside, still ticking, hands agreeing.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_settings_file_after_a_kill_mid_catch_up() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 60.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 1200).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    d.kill9();
    std::fs::write(state.join("settings.json"), b"{\"pulse\": {\"norm_tick_ms\": 9").expect("write");
    d.restart(&bus).await;
    assert!(state.join("settings.json.bad").exists(), "the bad file is kept for inspection");
    let dict = p.pulse_config().await.expect("PulseConfig");
    assert_eq!(u32_of(&dict, "norm_tick_ms"), 31, "defaults");
    assert!(d.log_text().contains("settings.json is invalid"), "{}", d.log_text());
    assert_hands_agree(&p, &state, "after a corrupt settings file").await;
    assert!(!d.log_text().contains("panicked"));
}

/// A crash moments after a step and an immediate restart, in real time
/// (speed 1, where a restart takes less than the rotor needs to settle):
/// the first pulse of the new daemon must not come too soon and be lost.
/// Found by the corrupt-settings case above: a lost settling pulse left the
/// belief one step (and one polarity) from the hands, and every reverse
/// pulse then moved them forward.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_moments_after_a_step_loses_no_step() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    for round in 0..8 {
        // Reverse: the settling pulse after a reverse step is a forward one,
        // the direction change the rotor needs longest for (fast-forward and
        // normal ticks keep to their grid of slots, which spaces them enough).
        set_offset(&p, 900).await;
        let start = Instant::now();
        let before = movement(&state).position;
        while movement(&state).position == before {
            assert!(start.elapsed() < Duration::from_secs(5), "round {round}: the hands never moved");
            std::thread::sleep(Duration::from_millis(1));
        }
        d.restart(&bus).await;
        let what = format!("round {round}, restarted right after a step");
        assert_hands_agree(&p, &state, &what).await;
        // A lost step shows within a few pulses: wrong polarity from then on.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_hands_agree(&p, &state, &format!("{what}, 1.5 s later")).await;
        assert_eq!(p.state().await.expect("State"), "reverse");
    }
    assert!(!d.log_text().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fram_failing_mid_run_stops_the_hands_and_loses_nothing() {
    let _one = HEAVY.lock().await;
    let bus = Bus::start();
    let state = bus.dir().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, "[store]\nposition = \"fram\"\n").expect("config");
    let conf = conf.to_str().expect("utf-8 path");
    let d = Daemon::start_with(&bus, &state, 60.0, &[], &["--config", conf]).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, -1800).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut faults = p.receive_fault().await.expect("Fault signal");

    // Pull the FRAM off the bus: no journal, so no pulses; a Fault says so.
    std::fs::write(state.join("virtual-fram.unplugged"), b"").expect("unplug");
    let fault = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut faults))
        .await
        .expect("a Fault signal")
        .expect("signal");
    let args = fault.args().expect("args");
    eprintln!("Fault({}, {})", args.component(), args.message());
    assert!(["fram", "store"].contains(args.component()), "{}", args.component());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = movement(&state);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(movement(&state).position, held.position, "pulsed without a journal");
    assert!(!p.faults().await.expect("Faults").is_empty());
    assert_hands_agree(&p, &state, "FRAM unplugged").await;

    // Plug it back: the fault clears and the catch-up goes on, nothing lost.
    std::fs::remove_file(state.join("virtual-fram.unplugged")).expect("replug");
    let start = Instant::now();
    while !p.faults().await.expect("Faults").is_empty() || movement(&state).position == held.position {
        assert!(start.elapsed() < Duration::from_secs(15), "no recovery: {:?}", p.faults().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_hands_agree(&p, &state, "FRAM back").await;
    assert!(!d.log_text().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bus_restart_loses_no_hand_position() {
    let _one = HEAVY.lock().await;
    let mut bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 60.0).await;
    {
        let conn = bus.connect().await;
        let p = proxy(&conn).await;
        set_offset(&p, -1800).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    bus.restart();
    // The daemon either reconnects or exits for systemd to restart it
    // (Restart=on-failure); as systemd would, start it again if it exited.
    let start = Instant::now();
    let exited = loop {
        if let Some(status) = d.try_wait() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(10) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("after the bus restart the daemon {:?}", exited.map(|s| s.to_string()).unwrap_or("kept running".into()));
    if let Some(status) = exited {
        assert!(!status.success(), "it must exit with a failure so that systemd restarts it: {status}");
        d.start_again().await;
    }
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert_hands_agree(&p, &state, "after the bus restart").await;
    assert_ne!(p.state().await.expect("State"), "needs-position", "the position survived");
    assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
}
