//! org.piclock.Clock1 on a private system-style bus with the real polkitd:
//! who may change what, what bad input gets, and what busctl/gdbus see.
//! Needs root (CI runs as root); skipped otherwise, saying so.

use piclock_testkit::{hms, movement, proxy, run, target_12h, Daemon, SystemBus, GROUP_USER};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every property that does not move with time (sorted), plus the simulated hands.
async fn everything(conn: &zbus::Connection, d: &Daemon) -> (BTreeMap<String, String>, u32, u64) {
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination("org.piclock.Clock1")
        .unwrap()
        .path("/org/piclock/Clock1")
        .unwrap()
        .build()
        .await
        .unwrap();
    let all = props.get_all(zbus::names::InterfaceName::from_static_str_unchecked("org.piclock.Clock1")).await.unwrap();
    let stable = all
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "TimeUSec" | "RTCTimeUSec" | "Offset" | "CatchUpSeconds"))
        .map(|(k, v)| (k, format!("{v:?}")))
        .collect();
    let m = d.movement();
    (stable, m.position, m.missed_pulses)
}

const MUTATIONS: &[(&str, &[&str], &str)] = &[
    ("SetHandPosition", &["3:00:00", "false"], "org.piclock.clock1.control"),
    ("Pause", &["false"], "org.piclock.clock1.control"),
    ("Resume", &["false"], "org.piclock.clock1.control"),
    ("Step", &["5", "false"], "org.piclock.clock1.control"),
    ("SyncNow", &["false"], "org.piclock.clock1.control"),
    ("SetPulseConfig", &["{'norm_tick_ms': <uint32 33>}", "false"], "org.piclock.clock1.configure"),
    ("SetNTPServers", &["['127.0.0.1']", "false"], "org.piclock.clock1.configure"),
    ("SetTimezone", &["Europe/Berlin", "false"], "org.piclock.clock1.configure"),
];

#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_denied_everything_and_nothing_changes() {
    let Some(bus) = SystemBus::start() else {
        return;
    };
    let d = bus.daemon(&bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // Root may: set the hands, then pause so that nothing moves by itself.
    let now = p.time_usec().await.unwrap();
    p.set_hand_position(&hms(target_12h(now, 0)), false).await.unwrap();
    let denied = |method: &str, args: &[&str], action: &str| {
        let (code, _, err) = bus.call_as(Some("nobody"), method, args);
        assert_ne!(code, 0, "{method} was allowed for nobody");
        assert!(err.contains("org.freedesktop.DBus.Error.AccessDenied"), "{method}: {err}");
        assert!(err.contains(action), "{method}: the refusal names {action}: {err}");
    };
    // While running: Pause would change something, and is refused.
    denied("Pause", &["false"], "org.piclock.clock1.control");
    assert_ne!(p.state().await.unwrap(), "paused");
    // Paused by root, so that nothing moves by itself: every other call
    // would change something, and is refused.
    p.pause(false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = everything(&conn, &d).await;
    for (method, args, action) in MUTATIONS.iter().filter(|m| m.0 != "Pause") {
        denied(method, args, action);
    }
    assert_eq!(everything(&conn, &d).await, before, "a refused call changed something");
    // Reading needs no authorization.
    let (code, out, err) = run(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "busctl",
        "--address",
        bus.address(),
        "get-property",
        "org.piclock.Clock1",
        "/org/piclock/Clock1",
        "org.piclock.Clock1",
        "State",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "s \"paused\"");
    // Only root and the service user may own the name (bus policy).
    let (code, _, err) = run(Command::new("setpriv").args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "gdbus",
        "call",
        "--address",
        bus.address(),
        "-d",
        "org.freedesktop.DBus",
        "-o",
        "/org/freedesktop/DBus",
        "-m",
        "org.freedesktop.DBus.RequestName",
        "org.piclock.Clock1",
        "0",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("AccessDenied"), "{err}");
    // Nobody may call Properties.Set, root included (bus policy).
    let (code, _, err) =
        bus.call_as(None, "org.freedesktop.DBus.Properties.Set", &["org.piclock.Clock1", "HandPosition", "<uint32 5>"]);
    assert_ne!(code, 0);
    assert!(err.contains("AccessDenied"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn root_and_members_of_group_piclock_are_allowed() {
    let Some(bus) = SystemBus::start() else {
        return;
    };
    let d = bus.daemon(&bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    for user in [None, Some(GROUP_USER)] {
        for (method, args, _) in MUTATIONS {
            let (code, _, err) = bus.call_as(user, method, args);
            assert_eq!(code, 0, "{method} as {user:?}: {err}");
        }
        assert_eq!(p.timezone().await.unwrap(), "Europe/Berlin");
        assert_eq!(p.ntp_servers().await.unwrap(), vec!["127.0.0.1".to_owned()]);
        let cfg = p.pulse_config().await.unwrap();
        assert_eq!(u32::try_from(&cfg["norm_tick_ms"]).unwrap(), 33);
        // Put things back for the next user.
        p.set_timezone("UTC", false).await.unwrap();
        p.set_ntp_servers(&["time.nist.gov"], false).await.unwrap();
        let mut back = std::collections::HashMap::new();
        back.insert("norm_tick_ms".to_owned(), zbus::zvariant::OwnedValue::from(31u32));
        p.set_pulse_config(back, false).await.unwrap();
    }
    assert_eq!(movement(d.state_dir()).missed_pulses, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_to_every_method_names_the_field_and_changes_nothing() {
    let Some(bus) = SystemBus::start() else {
        return;
    };
    let d = bus.daemon(&bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.unwrap();
    p.set_hand_position(&hms(target_12h(now, 0)), false).await.unwrap();
    p.pause(false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = everything(&conn, &d).await;
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("SetHandPosition", &["13:61", "false"], &["position", "0..=12"]),
        ("SetHandPosition", &["12:60:00", "false"], &["minutes", "0..=59"]),
        ("SetHandPosition", &["", "false"], &["position", "H:MM"]),
        ("Step", &["--", "-100000", "false"], &["ticks", "-3600..=3600"]),
        ("Step", &["100000", "false"], &["ticks", "-3600..=3600"]),
        ("SetPulseConfig", &["{'bogus': <uint32 1>}", "false"], &["bogus", "accepted keys"]),
        ("SetPulseConfig", &["{'norm_tick_ms': <int32 31>}", "false"], &["norm_tick_ms", "'u'"]),
        ("SetPulseConfig", &["{'norm_tick_on_us': <uint32 101>}", "false"], &["norm_tick_on_us", "1..=100"]),
        ("SetPulseConfig", &["{'invert_polarity': <uint32 1>}", "false"], &["invert_polarity", "boolean"]),
        (
            "SetPulseConfig",
            &["{'fwd_ticks_per_sec': <uint32 8>, 'fwd_tick_ms': <uint32 90>}", "false"],
            &["fwd_tick_ms", "5..=62"],
        ),
        (
            "SetPulseConfig",
            &["{'norm_tick_ms': <uint32 40>, 'rev_ticks_per_sec': <uint32 9>}", "false"],
            &["rev_ticks_per_sec", "0..=4"],
        ),
        ("SetNTPServers", &["@as []", "false"], &["servers", "1..=8"]),
        ("SetNTPServers", &["['not a host']", "false"], &["servers", "host name"]),
        ("SetTimezone", &["Mars/Olympus_Mons", "false"], &["timezone", "Europe/Berlin"]),
        ("SetTimezone", &["../../etc/passwd", "false"], &["timezone"]),
    ];
    for (method, args, needles) in cases {
        let (code, _, err) = bus.call_as(None, method, args);
        assert_ne!(code, 0, "{method} {args:?} was accepted");
        assert!(err.contains("org.freedesktop.DBus.Error.InvalidArgs"), "{method} {args:?}: {err}");
        for n in *needles {
            assert!(err.contains(n), "{method} {args:?}: message lacks {n:?}: {err}");
        }
    }
    assert_eq!(everything(&conn, &d).await, before, "refused input changed something");
}

#[tokio::test(flavor = "multi_thread")]
async fn monitors_see_properties_changed_and_signals_and_settings_survive_a_restart() {
    let Some(bus) = SystemBus::start() else {
        return;
    };
    let mut d = bus.daemon(&bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.unwrap();
    p.set_hand_position(&hms(target_12h(now, 0)), false).await.unwrap();
    let monitor = |tool: &str| {
        let mut c = if tool == "busctl" {
            let mut c = Command::new("busctl");
            c.args(["--address", bus.address(), "monitor", "org.piclock.Clock1"]);
            c
        } else {
            let mut c = Command::new("gdbus");
            c.args(["monitor", "--address", bus.address(), "-d", "org.piclock.Clock1"]);
            c
        };
        c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("monitor")
    };
    let busctl = monitor("busctl");
    let gdbus = monitor("gdbus");
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.pause(false).await.unwrap();
    p.sync_now(false).await.unwrap();
    let mut cfg = std::collections::HashMap::new();
    cfg.insert("sync_tolerance_s".to_owned(), zbus::zvariant::OwnedValue::from(2u32));
    p.set_pulse_config(cfg, false).await.unwrap();
    // SyncNow queries at most every MIN_ROUND_GAP (the round at start was
    // moments ago), so its SyncFinished may take that long.
    tokio::time::sleep(piclockd::timesource::MIN_ROUND_GAP + Duration::from_millis(1500)).await;
    let text = |mut child: std::process::Child| {
        let _ = child.kill();
        let out = child.wait_with_output().expect("monitor output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (b, g) = (text(busctl), text(gdbus));
    assert!(
        g.contains("org.freedesktop.DBus.Properties.PropertiesChanged") && g.contains("'State': <'paused'>"),
        "gdbus monitor:\n{g}"
    );
    assert!(g.contains("org.piclock.Clock1.SyncFinished"), "gdbus monitor:\n{g}");
    assert!(g.contains("sync_tolerance_s"), "gdbus monitor:\n{g}");
    assert!(b.contains("Member=PropertiesChanged") && b.contains("Member=SyncFinished"), "busctl monitor:\n{b}");
    // Settings persist across a restart.
    assert!(d.terminate().is_some_and(|s| s.success()));
    d.start_again().await;
    let cfg = p.pulse_config().await.unwrap();
    assert_eq!(u32::try_from(&cfg["sync_tolerance_s"]).unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn as_the_service_user_it_asks_polkit_about_its_callers() {
    // The daemon runs as `piclock`, as under systemd: polkit answers it about
    // other users' processes only because the actions name it as their owner.
    let Some(bus) = SystemBus::start() else { return };
    let state = bus.dir().join("state");
    let d = bus.daemon_as("piclock", &state, 1.0).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid().unwrap())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_owned();
    let piclock_uid = run(Command::new("id").args(["-u", "piclock"])).1.trim().to_owned();
    assert!(uid_line.split_whitespace().nth(1) == Some(piclock_uid.as_str()), "{uid_line} vs {piclock_uid}");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.unwrap();
    let (code, _, err) = bus.call_as(Some(GROUP_USER), "SetHandPosition", &[&hms(target_12h(now, 0)), "false"]);
    assert_eq!(code, 0, "a member of group piclock: {err}\n{}", d.log_text());
    let (code, _, err) = bus.call_as(Some("nobody"), "Pause", &["false"]);
    assert_ne!(code, 0);
    assert!(err.contains("AccessDenied") && err.contains("org.piclock.clock1.control"), "{err}");
    assert_ne!(p.state().await.unwrap(), "paused", "a refused Pause paused the clock");
    let (code, _, err) = bus.call_as(None, "Pause", &["false"]);
    assert_eq!(code, 0, "root: {err}");
    assert_eq!(p.state().await.unwrap(), "paused");
}

/// Connections the flood opens.
const FLOOD_CONNECTIONS: usize = 256;

/// Not a test of its own: the flood of
/// `a_flood_of_checks_from_nobody_does_not_lock_out_root`, which runs this
/// test binary as nobody with `PICLOCK_TEST_FLOOD_ADDRESS` set. Every
/// connection calls SyncNow in a loop until the process is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_helper_run_as_nobody() {
    let Ok(address) = std::env::var("PICLOCK_TEST_FLOOD_ADDRESS") else { return };
    let mut tasks = Vec::new();
    for _ in 0..FLOOD_CONNECTIONS {
        let Ok(conn) = zbus::connection::Builder::address(address.as_str()).expect("address").build().await else {
            continue;
        };
        tasks.push(tokio::spawn(async move {
            let p = proxy(&conn).await;
            loop {
                let _ = p.sync_now(false).await;
            }
        }));
    }
    eprintln!("flooding with {} connections", tasks.len());
    for t in tasks {
        let _ = t.await;
    }
}

/// 256 connections of nobody call SyncNow in a loop (each call needs
/// polkit, and nobody is refused): root's SetHandPosition still answers
/// within a second, because at most 4 checks of one user are in flight;
/// nobody's others get LimitsExceeded at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_checks_from_nobody_does_not_lock_out_root() {
    let Some(bus) = SystemBus::start() else { return };
    let _d = bus.daemon(&bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    // This test binary, where nobody can run it.
    let exe = bus.dir().join("flood");
    std::fs::copy(std::env::current_exe().expect("test binary"), &exe).expect("copy");
    let mut flood = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "flood_helper_run_as_nobody", "--nocapture"])
        .env("PICLOCK_TEST_FLOOD_ADDRESS", bus.address())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flood");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, _, err) = bus.call_as(Some("nobody"), "SyncNow", &["false"]);
    assert_ne!(code, 0);
    assert!(err.contains("LimitsExceeded") || err.contains("AccessDenied"), "{err}");
    let now = p.time_usec().await.unwrap();
    let mut worst = Duration::ZERO;
    for i in 0..5u64 {
        let position = hms(target_12h(now, 0).wrapping_add(60 * i as u32 + 60) % 43_200);
        let t = std::time::Instant::now();
        p.set_hand_position(&position, false).await.expect("root's SetHandPosition");
        worst = worst.max(t.elapsed());
    }
    let _ = flood.kill();
    let out = flood.wait_with_output().expect("flood output");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("flooding with {FLOOD_CONNECTIONS} connections")), "{said}");
    eprintln!("root's SetHandPosition under the flood: worst {worst:?}");
    assert!(worst < Duration::from_secs(1), "root waited {worst:?}");
}
