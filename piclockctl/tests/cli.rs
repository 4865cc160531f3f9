//! piclockctl against the simulated daemon on a private bus: every command,
//! its output (human and JSON), its exit code, and the daemon's state after
//! each change, read over D-Bus.

use piclock_testkit::{bin_path, hms, proxy, run, target_12h, wait_for, Bus, Daemon};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zbus::zvariant::Value;

fn ctl(bus: &Bus, args: &[&str]) -> (i32, String, String) {
    run(Command::new(bin_path("piclockctl"))
        .arg("--user")
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .stdin(Stdio::null()))
}

fn ok(bus: &Bus, args: &[&str]) -> String {
    let (code, out, err) = ctl(bus, args);
    assert_eq!(code, 0, "piclockctl {args:?} failed ({code}): {err}");
    out
}

fn json(bus: &Bus, args: &[&str]) -> serde_json::Value {
    let out = ok(bus, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("piclockctl {args:?}: not JSON ({e}): {out}"))
}

async fn pulse_value(p: &piclock_dbus::Clock1Proxy<'_>, key: &str) -> String {
    let dict = p.pulse_config().await.expect("PulseConfig");
    match dict.get(key).map(|v| Value::from(v.clone())) {
        Some(Value::U32(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        other => panic!("{key}: {other:?}"),
    }
}

/// A minimal NTP server on loopback that answers every request correctly
/// (mode 4, stratum 2, origin = the client's transmit time, now as receive
/// and transmit time).
fn ntp_responder() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = socket.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            if n < 48 {
                continue;
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("time");
            let secs = (now.as_secs() + 2_208_988_800) as u32;
            let frac = ((u64::from(now.subsec_nanos()) << 32) / 1_000_000_000) as u32;
            let mut ts = [0u8; 8];
            ts[..4].copy_from_slice(&secs.to_be_bytes());
            ts[4..].copy_from_slice(&frac.to_be_bytes());
            let mut reply = [0u8; 48];
            reply[0] = 0x24; // LI 0, version 4, mode 4 (server)
            reply[1] = 2; // stratum
            reply[2] = 6;
            reply[3] = 0xEC; // precision 2^-20
            reply[8..12].copy_from_slice(&[0, 0, 0, 0x10]); // root dispersion
            reply[12..16].copy_from_slice(b"TEST");
            reply[16..24].copy_from_slice(&ts); // reference
            reply[24..32].copy_from_slice(&buf[40..48]); // origin = client's transmit
            reply[32..40].copy_from_slice(&ts); // receive
            reply[40..48].copy_from_slice(&ts); // transmit
            let _ = socket.send_to(&reply, peer);
        }
    });
    port
}

/// The RTC row of `status` (and `status --json`) names the path: a fresh
/// simulated DS3231 (it lost power), over i2c-dev.
fn rtc_row_names_the_path(status: &str, json: &serde_json::Value) {
    let row = "RTC time: not trusted (it lost power) via simulated DS3231 at 0x68 (i2c-dev)\n";
    assert!(status.contains(row), "{status}");
    assert_eq!(json["rtc_device"], "simulated DS3231 at 0x68 (i2c-dev)");
}

/// A fresh daemon does not know where the hands are; its RTC row names the path.
fn fresh_daemon_status(bus: &Bus) {
    let out = ok(bus, &[]);
    assert!(out.contains("Hands: unknown"), "{out}");
    assert!(out.contains("State: needs-position"), "{out}");
    let s = json(bus, &["status", "--json"]);
    assert_eq!(s["state"], "needs-position");
    assert_eq!(s["hands"], serde_json::Value::Null);
    rtc_row_names_the_path(&out, &s);
}

/// `status` shows the daemon's `TickScheduling` as it is, in both forms.
async fn shows_tick_scheduling(p: &piclock_dbus::Clock1Proxy<'_>, human: &str, json: &serde_json::Value) {
    let scheduling = p.tick_scheduling().await.expect("TickScheduling");
    assert!(scheduling.starts_with("SCHED_"), "{scheduling}");
    assert!(human.contains(&format!("Scheduling: {scheduling}\n")), "{human}");
    assert_eq!(json["tick_scheduling"], scheduling.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_the_simulated_daemon() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let _daemon = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;

    fresh_daemon_status(&bus);

    // set-hands: right on time, so the clock just ticks.
    let now = p.time_usec().await.expect("TimeUSec");
    let target = target_12h(now, 0);
    let out = ok(&bus, &["set-hands", &hms(target)]);
    assert!(out.starts_with(&format!("Hands set to {}", hms(target))), "{out}");
    wait_for(Duration::from_secs(10), || movement_state(&bus) == "ticking");
    let s = json(&bus, &["status", "--json"]);
    assert_eq!(s["state"], "ticking");
    assert_eq!(s["position_certain"], true);
    assert!(s["offset_s"].as_i64().expect("offset").abs() <= 2, "{s}");
    let human = ok(&bus, &["status"]);
    assert!(human.contains("State: ticking") && human.contains("Position certain: yes"), "{human}");
    shows_tick_scheduling(&p, &human, &s).await;

    // show: every property, one, values only, JSON.
    let all = ok(&bus, &["show"]);
    for name in ["HandPosition=", "State=ticking", "DialSeconds=43200", "PulseConfig=", "NTPServers="] {
        assert!(all.contains(name), "{name} missing from show:\n{all}");
    }
    let v = ok(&bus, &["show", "-p", "DialSeconds", "--value"]);
    assert_eq!(v, "43200\n");
    let j = json(&bus, &["show", "--json"]);
    assert_eq!(j["DialSeconds"], 43200);
    assert_eq!(j["PulseConfig"]["norm_tick_ms"], 31);
    let (code, _, err) = ctl(&bus, &["show", "-p", "NoSuchThing"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"NoSuchThing\"") && err.contains("HandPosition"), "{err}");

    // pause / step / resume, each checked on the daemon.
    ok(&bus, &["pause"]);
    assert_eq!(p.state().await.expect("State"), "paused");
    let before = p.hand_position().await.expect("HandPosition");
    ok(&bus, &["step", "5"]);
    let p2 = p.clone();
    wait_until(|| async { p2.hand_position().await.ok() == Some((before + 5) % 43200) }).await;
    ok(&bus, &["step", "-3"]);
    let p2 = p.clone();
    wait_until(|| async { p2.hand_position().await.ok() == Some((before + 2) % 43200) }).await;
    assert_eq!(p.state().await.expect("State"), "paused", "steps do not resume");
    ok(&bus, &["resume"]);
    let p2 = p.clone();
    wait_until(|| async { p2.state().await.map(|s| s != "paused").unwrap_or(false) }).await;

    // config: the table, JSON, an all-or-nothing change, refusals.
    let table = ok(&bus, &["config"]);
    for k in piclock_dbus::KEYS {
        assert!(table.lines().any(|l| l.starts_with(k.name)), "{} missing:\n{table}", k.name);
    }
    assert!(table.contains("(default)"), "{table}");
    let cj = json(&bus, &["config", "--json"]);
    assert_eq!(cj["norm_tick_ms"]["value"], 31);
    assert_eq!(cj["norm_tick_ms"]["default"], 31);
    let out = ok(&bus, &["config", "set", "norm_tick_ms=30", "fwd_ticks_per_sec=3"]);
    assert!(out.contains("norm_tick_ms: 31 -> 30"), "{out}");
    assert_eq!(pulse_value(&p, "norm_tick_ms").await, "30");
    assert_eq!(pulse_value(&p, "fwd_ticks_per_sec").await, "3");
    let table = ok(&bus, &["config"]);
    let row = table.lines().find(|l| l.starts_with("norm_tick_ms ")).expect("row");
    assert!(row.contains("(default 31)"), "{row}");
    // One bad value refuses the whole call.
    let (code, _, err) = ctl(&bus, &["config", "set", "norm_tick_on_us=70", "norm_tick_ms=900"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("norm_tick_ms") && err.contains("5..=100"), "{err}");
    assert_eq!(pulse_value(&p, "norm_tick_on_us").await, "60", "nothing changed");
    let (code, _, err) = ctl(&bus, &["config", "set", "bogus=1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus") && err.contains("unknown key"), "{err}");

    // ntp-servers and sync, against a responder on loopback.
    let port = ntp_responder();
    let server = format!("127.0.0.1:{port}");
    ok(&bus, &["ntp-servers", &server]);
    assert_eq!(p.ntp_servers().await.expect("NTPServers"), vec![server.clone()]);
    assert_eq!(ok(&bus, &["ntp-servers"]), format!("{server}\n"));
    let (code, _, err) = ctl(&bus, &["ntp-servers", "bad host!"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("servers"), "{err}");
    let out = ok(&bus, &["sync", "--timeout", "20"]);
    assert!(out.starts_with(&format!("Synchronized with {server}")), "{out}");
    assert!(p.ntp_synchronized().await.expect("NTPSynchronized"));
    // A server that does not answer: the failure is printed, exit code 1.
    ok(&bus, &["ntp-servers", "127.0.0.1:9"]);
    let (code, _, err) = ctl(&bus, &["sync", "--timeout", "20"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NTP sync failed (127.0.0.1:9)"), "{err}");

    // timezone.
    ok(&bus, &["timezone", "Europe/Berlin"]);
    assert_eq!(p.timezone().await.expect("Timezone"), "Europe/Berlin");
    assert_eq!(ok(&bus, &["timezone"]), "Europe/Berlin\n");
    let (code, _, err) = ctl(&bus, &["timezone", "Mars/Olympus_Mons"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Mars/Olympus_Mons"), "{err}");
    assert_eq!(p.timezone().await.expect("Timezone"), "Europe/Berlin", "nothing changed");
    let human = ok(&bus, &["status"]);
    assert!(human.contains("Time zone: Europe/Berlin (CE"), "{human}");

    // set-hands with a bad time: the daemon's message, exit 2, nothing changed.
    let before = p.hand_position().await.expect("HandPosition");
    let (code, _, err) = ctl(&bus, &["set-hands", "13:61"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("position"), "{err}");
    let after = p.hand_position().await.expect("HandPosition");
    assert!(after.wrapping_sub(before) <= 600, "hands not moved by the refused call");
}

fn movement_state(bus: &Bus) -> String {
    let (_, out, _) = ctl(bus, &["show", "-p", "State", "--value"]);
    out.trim().to_owned()
}

async fn wait_until<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < Duration::from_secs(20), "condition not met within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_prints_changes_and_signals_until_ctrl_c() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut daemon = Daemon::start(&bus, &state, 1.0).await;
    let mut child = Command::new(bin_path("piclockctl"))
        .args(["--user", "monitor"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("monitor");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the monitor time to subscribe (its banner goes to stderr).
    let mut banner = String::new();
    BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut banner).expect("banner");
    assert!(banner.starts_with("Monitoring piclockd on the session bus (running)"), "{banner}");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.expect("TimeUSec");
    ok(&bus, &["set-hands", &hms(target_12h(now, 0))]);
    ok(&bus, &["ntp-servers", "127.0.0.1:9"]);
    ok(&bus, &["timezone", "Asia/Tokyo"]);
    let wanted = ["State=", "HandPosition=", "NTPServers=127.0.0.1:9", "Timezone=Asia/Tokyo"];
    let mut seen = Vec::new();
    let start = Instant::now();
    while !wanted.iter().all(|w| seen.iter().any(|l: &String| l.contains(w))) {
        assert!(start.elapsed() < Duration::from_secs(20), "monitor printed only:\n{}", seen.join("\n"));
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    // A restart of the daemon is reported.
    daemon.kill9();
    daemon.start_again().await;
    let start = Instant::now();
    while !(seen.iter().any(|l| l.ends_with("piclockd stopped"))
        && seen.iter().any(|l| l.ends_with("piclockd started")))
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no stop/start lines:\n{}", seen.join("\n"));
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    // Ctrl-C ends it cleanly.
    run(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "monitor did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn an_absent_daemon_is_reported_within_two_seconds() {
    let bus = Bus::start();
    let start = Instant::now();
    let (code, _, err) = ctl(&bus, &["status"]);
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("piclockd is not running"), "{err}");
    // The same for a change, and for a system bus that is not there at all.
    let (code, _, err) = ctl(&bus, &["pause"]);
    assert_eq!(code, 3, "{err}");
    let start = Instant::now();
    let (code, _, err) = run(Command::new(bin_path("piclockctl"))
        .arg("status")
        .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={}/nothing-here", bus.dir().display())));
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot reach the system bus"), "{err}");
}

/// An "old daemon": owns the name and has the interface, with Version only.
struct OldClock;

#[zbus::interface(name = "org.piclock.Clock1")]
impl OldClock {
    #[zbus(property)]
    fn version(&self) -> String {
        "0.0.1".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_without_a_member_is_called_too_old() {
    let bus = Bus::start();
    let _conn = zbus::connection::Builder::address(bus.address())
        .expect("address")
        .name(piclock_dbus::BUS_NAME)
        .expect("name")
        .serve_at(piclock_dbus::OBJECT_PATH, OldClock)
        .expect("serve")
        .build()
        .await
        .expect("old daemon");
    let (code, _, err) = ctl(&bus, &["timezone", "Europe/Berlin"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("too old") && err.contains("SetTimezone"), "{err}");
    let (code, _, err) = ctl(&bus, &["status"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("too old"), "{err}");
    // show works with what there is.
    assert_eq!(ok(&bus, &["show"]), "Version=0.0.1\n");
}

#[test]
fn help_completions_and_timezones_need_no_daemon() {
    let ctl_bin = bin_path("piclockctl");
    let (code, out, _) = run(Command::new(&ctl_bin).arg("--help"));
    assert_eq!(code, 0);
    assert!(out.contains("Exit status:") && out.contains("set-hands"), "{out}");
    for sub in ["status", "show", "set-hands", "pause", "resume", "step", "sync", "config", "ntp-servers", "timezone"] {
        let (code, out, err) = run(Command::new(&ctl_bin).args([sub, "--help"]));
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(out.contains(&format!("Usage: piclockctl {sub}")), "{sub}: {out}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(Command::new(&ctl_bin).args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains("set-hands") && out.contains("no-ask-password"), "{shell}: {out}");
    }
    let (code, out, _) = run(Command::new(&ctl_bin).arg("list-timezones"));
    assert_eq!(code, 0);
    let zones: HashMap<&str, ()> = out.lines().map(|l| (l, ())).collect();
    assert!(zones.contains_key("Europe/Berlin") && zones.contains_key("UTC"), "{} zones", zones.len());
    // A usage error is exit code 2, like invalid input.
    let (code, _, err) = run(Command::new(&ctl_bin).args(["step", "many"]));
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minute_line_reads_and_sets_hours_and_minutes_and_calibrate_says_it_is_for_quartz() {
    let bus = Bus::start();
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, "[movement]\nkind = \"impulse\"\nstep_s = 60\n").expect("admin file");
    let conf = conf.to_str().expect("UTF-8").to_owned();
    let _d = Daemon::start_with(&bus, &bus.dir().join("state"), 60.0, &[], &["--config", &conf]).await;
    let status = ok(&bus, &["status"]);
    assert!(status.contains("piclockctl set-hands H:MM\n"), "{status}");
    assert!(status.contains("Movement: impulse, a minute line (a step every 60 s)"), "{status}");
    // Paused first: set on a running clock, the catch-up would move them at once.
    ok(&bus, &["pause"]);
    let out = ok(&bus, &["set-hands", "10:08"]);
    assert!(out.contains("Hands set to 10:08"), "{out}");
    let status = ok(&bus, &["status"]);
    assert!(status.contains("Hands: 10:08\n"), "{status}");
    let (code, _, err) = ctl(&bus, &["set-hands", "10:08:30"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("H:MM"), "{err}");
    for cmd in ["calibrate", "test-movement"] {
        let (code, out, err) = ctl(&bus, &[cmd]);
        assert_eq!(code, 2, "{cmd}: {out}{err}");
        assert!(err.contains("for quartz (Lavet) movements") && err.contains("impulse_ms"), "{cmd}: {err}");
    }
}
