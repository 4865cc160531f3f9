//! Input that lies or floods: oversized arguments, racing configuration
//! calls. Each runs against the real daemon on a private bus.

use piclock_testkit::{proxy, Bus, Daemon};
use std::time::Duration;

/// The daemon's peak resident set so far (VmHWM), bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// A call's error: (D-Bus error name, message).
fn error_of(r: zbus::Result<()>) -> (String, String) {
    match r {
        Err(zbus::Error::MethodError(name, message, _)) => (name.to_string(), message.unwrap_or_default()),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

/// A 6 MiB time zone and a 30 MiB hand position (on a bus that carries up
/// to 32 MiB, like a stock system bus) get InvalidArgs in a reply under
/// 1 kB; the daemon keeps its name, and its peak memory grows by less than
/// twice the message plus 16 MB. (Before: the 6 MiB string came back as a
/// 31 MB reply, and the 30 MiB one cost 473 MB.)
#[tokio::test(flavor = "multi_thread")]
async fn oversized_arguments_get_a_short_refusal_and_cost_little() {
    let bus = Bus::start();
    let d = Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let pid = d.pid().expect("pid");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let before = peak_rss(pid);
    let zone = "\u{1}".repeat(6 << 20);
    let (name, message) = error_of(p.set_timezone(&zone, false).await);
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(message.len() < 1024 && message.contains("timezone"), "{} bytes: {message:.200}", message.len());
    let position = ":".repeat(30 << 20);
    let (name, message) = error_of(p.set_hand_position(&position, false).await);
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(message.len() < 1024 && message.contains("position"), "{} bytes: {message:.200}", message.len());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("bus proxy");
    let name = zbus::names::BusName::try_from(piclock_dbus::BUS_NAME).expect("name");
    assert!(dbus.name_has_owner(name).await.expect("NameHasOwner"), "the daemon lost its name");
    let grown = peak_rss(pid).saturating_sub(before);
    let allowed = 2 * (30u64 << 20) + 16_000_000;
    eprintln!("peak RSS grew by {} MB for a 30 MiB message (allowed {} MB)", grown / 1_000_000, allowed / 1_000_000);
    assert!(grown < allowed, "peak RSS grew by {grown} bytes");
}

/// Arrays and dictionaries: more entries than accepted are refused by
/// count, before anything else is looked at, in a short reply.
#[tokio::test(flavor = "multi_thread")]
async fn long_arrays_and_dictionaries_are_refused_by_count() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let servers: Vec<String> = (0..200_000).map(|i| format!("s{i}.example")).collect();
    let refs: Vec<&str> = servers.iter().map(String::as_str).collect();
    let (name, message) = error_of(p.set_ntp_servers(&refs, false).await);
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(message.contains("servers: 200000 given; accepted: 1..=8"), "{message:.300}");
    let (name, message) = error_of(p.set_ntp_servers(&[&"x".repeat(5000)], false).await);
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(message.len() < 1024 && message.contains("(5000 bytes)"), "{message:.300}");
    let dict: std::collections::HashMap<String, zbus::zvariant::OwnedValue> =
        (0..50_000u32).map(|i| (format!("k{i}"), zbus::zvariant::OwnedValue::from(i))).collect();
    let (name, message) = error_of(p.set_pulse_config(dict, false).await);
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert!(message.contains("50000 entries given"), "{message:.300}");
    assert_eq!(p.ntp_servers().await.unwrap(), vec!["time.nist.gov".to_owned()], "nothing changed");
}

/// Two callers race SetTimezone against SetNTPServers 200 times; after a
/// restart the daemon runs what each of them set last (the settings file
/// always equals the running state: nothing undone by an overlap).
#[tokio::test(flavor = "multi_thread")]
async fn racing_configuration_calls_lose_nothing() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = Daemon::start(&bus, &state, 1.0).await;
    let (c1, c2) = (bus.connect().await, bus.connect().await);
    let (p1, p2) = (proxy(&c1).await, proxy(&c2).await);
    let zones = ["Europe/Berlin", "Asia/Tokyo", "America/New_York", "UTC"];
    let mut last = (String::new(), String::new());
    for i in 0..200 {
        let zone = zones[i % zones.len()];
        let server = format!("ntp{i}.example");
        let list = [server.as_str()];
        let (a, b) = tokio::join!(p1.set_timezone(zone, false), p2.set_ntp_servers(&list, false));
        a.expect("SetTimezone");
        b.expect("SetNTPServers");
        last = (zone.to_owned(), server);
    }
    assert_eq!(p1.timezone().await.unwrap(), last.0);
    assert_eq!(p1.ntp_servers().await.unwrap(), vec![last.1.clone()]);
    assert!(d.terminate().is_some_and(|s| s.success()));
    d.start_again().await;
    assert_eq!(p1.timezone().await.unwrap(), last.0, "after a restart");
    assert_eq!(p1.ntp_servers().await.unwrap(), vec![last.1], "after a restart");
}

/// A second daemon whose bus name is taken exits with an error naming it,
/// and only after its tick thread stopped and drove the coil lines low
/// (every error return after the thread started stops it first).
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_bus_name_stops_the_tick_thread_before_exit() {
    let bus = Bus::start();
    let _first = Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let out = std::process::Command::new(piclock_testkit::bin_path("piclockd"))
        .args(["--simulate", "--session", "--state-dir"])
        .arg(bus.dir().join("second"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .env("RUST_LOG", "info")
        .output()
        .expect("second piclockd");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    let stopped = log.find("coil lines low").unwrap_or_else(|| panic!("no stop of the tick thread:\n{log}"));
    let error = log.rfind("org.piclock.Clock1").unwrap_or_else(|| panic!("no error naming the bus name:\n{log}"));
    assert!(stopped < error, "the error came before the lines were low:\n{log}");
}
