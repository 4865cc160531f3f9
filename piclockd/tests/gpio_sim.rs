//! The real sensor edge events, against a real kernel: `piclockd` without
//! `--simulate`, on a gpio-sim chip whose lines carry the coil (`GPIO12`,
//! `GPIO13`) and the seconds sensor (`GPIO17`).
//!
//! Runs only inside the guest of `scripts/sensor-gpio-sim.sh` (Debian's
//! x86 kernel under QEMU with an out-of-tree gpio-sim module; see that
//! script), which sets `PICLOCK_GPIO_SIM` to the chip's sysfs directory
//! (`/sys/devices/platform/gpio-sim.0/gpiochipN`). Elsewhere it says it is
//! skipped.
//!
//! A player thread stands for the movement and its Hall switch: it watches
//! the coil lines (`sim_gpio0`, `sim_gpio1` values), steps a model of the
//! hands on every pulse of the right polarity, and pulls the sensor line
//! low (`sim_gpio2/pull`) while the modelled second hand is within one step
//! of 12. The hands start 4 steps behind what the daemon is told; the
//! daemon must see the kernel's edge events, attribute them to its own
//! steps by their timestamps, correct its belief by -4, and then agree
//! with the modelled hands.

use futures_util::StreamExt;
use piclock_testkit::{bin_path, hms, proxy, target_12h, Bus};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How far the hands are behind what the daemon is told, steps (even: the
/// polarity stays right, every pulse steps the hands).
const BEHIND: u32 = 4;

fn pull(dir: &Path, line: u32, low: bool) {
    let mut f = File::options().write(true).open(dir.join(format!("sim_gpio{line}/pull"))).expect("sim_gpio pull");
    f.write_all(if low { b"pull-down" } else { b"pull-up" }).expect("pull");
}

/// The seconds sensor sees its magnet at 59, 0 and 1.
fn in_window(position: u32) -> bool {
    matches!(position % 60, 59 | 0 | 1)
}

/// One `gpio_value` event of the kernel's trace: (time µs, GPIO number, level).
fn gpio_event(line: &str) -> Option<(i64, u32, bool)> {
    let (head, tail) = line.split_once(" gpio_value: ")?;
    let time: f64 = head.trim_end_matches(':').rsplit(' ').next()?.parse().ok()?;
    let mut t = tail.split_whitespace();
    let gpio = t.next()?.parse().ok()?;
    if t.next()? != "set" {
        return None;
    }
    Some(((time * 1e6) as i64, gpio, t.next()? == "1"))
}

/// The movement and its Hall switch: reads the kernel's trace of the coil
/// lines (`gpio:gpio_value`, GPIO numbers `base` and `base + 1`); a pulse
/// on pin A steps even positions, on pin B odd ones (a pulse of the other
/// polarity is lost); a pulse starts when a pin goes high after both were
/// low for 2 ms (the PWM carrier's low phases are 40 µs). The sensor line
/// is pulled low while the hands are in the window. Says `ready` once the
/// trace records the coil lines: a pulse fired before that would be missed
/// and, with the polarity then wrong for the next one, cost the modelled
/// hands two steps (the cause of a failure where the daemon rightly
/// corrected -6).
fn play(dir: PathBuf, base: u32, hands: Arc<AtomicU32>, pulses: Arc<AtomicU32>, ready: mpsc::Sender<()>) {
    let tracing = Path::new("/sys/kernel/tracing");
    // Every PWM period of every pulse is traced: a large buffer, and only
    // the coil lines going high.
    std::fs::write(tracing.join("buffer_size_kb"), "32768").expect("buffer_size_kb");
    let filter = format!("gpio >= {base} && gpio <= {} && get == 0 && value == 1", base + 1);
    std::fs::write(tracing.join("events/gpio/gpio_value/filter"), filter).expect("gpio_value filter");
    std::fs::write(tracing.join("events/gpio/gpio_value/enable"), "1").expect("enabling gpio:gpio_value");
    let pipe = std::io::BufReader::new(File::open(tracing.join("trace_pipe")).expect("trace_pipe"));
    let mut active = in_window(hands.load(Ordering::SeqCst));
    pull(&dir, 2, active);
    ready.send(()).expect("the test waits for the player");
    let mut last_high = i64::MIN / 2;
    for line in std::io::BufRead::lines(pipe) {
        let Some((t, gpio, high)) = line.ok().as_deref().and_then(gpio_event) else {
            continue;
        };
        if !(gpio == base || gpio == base + 1) || !high {
            continue;
        }
        let quiet = t - last_high > 2_000;
        last_high = t;
        if !quiet {
            continue;
        }
        pulses.fetch_add(1, Ordering::SeqCst);
        let p = hands.load(Ordering::SeqCst);
        if verbose() {
            eprintln!("player: pulse at {t} µs on GPIO {gpio}, hands at {p}");
        }
        if (p % 2) == gpio - base {
            let p = (p + 1) % 43_200;
            hands.store(p, Ordering::SeqCst);
            if in_window(p) != active {
                active = in_window(p);
                pull(&dir, 2, active);
                if verbose() {
                    let up = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
                    eprintln!("player: sensor {} at uptime {} for the pulse at {t} µs", active, up.trim());
                }
            }
        }
    }
}

/// `GPIO_SIM_VERBOSE=1` of the script: every pulse and sensor change.
fn verbose() -> bool {
    std::env::var_os("PICLOCK_GPIO_SIM_VERBOSE").is_some_and(|v| !v.is_empty())
}

/// Events the trace lost (its buffer overran), so the player missed them.
fn trace_overruns() -> String {
    let stats = std::fs::read_to_string("/sys/kernel/tracing/per_cpu/cpu0/stats").unwrap_or_default();
    stats.lines().find(|l| l.starts_with("overrun")).unwrap_or("overrun: ?").to_owned()
}

/// `piclockd` on the GPIO lines (no `--simulate`) on `bus`.
fn daemon(bus: &Bus, state: &Path) -> Child {
    let conf = bus.dir().join("piclockd.toml");
    std::fs::write(&conf, "[sensor]\nseconds = \"GPIO17\"\nwindow = 3\n\n[i2c]\nrtc = false\n").expect("config");
    let log = File::create(bus.dir().join("piclockd.log")).expect("log");
    Command::new(bin_path("piclockd"))
        .args(["--session", "--config"])
        .arg(&conf)
        .arg("--state-dir")
        .arg(state)
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .env("RUST_LOG", if verbose() { "info,piclockd=debug" } else { "info" })
        .env("TZ", "UTC")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("piclockd")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kernels_edge_events_correct_a_belief_set_off_by_four_steps() {
    let Some(dir) = std::env::var_os("PICLOCK_GPIO_SIM").map(PathBuf::from) else {
        eprintln!("skipped: runs inside scripts/sensor-gpio-sim.sh's guest (PICLOCK_GPIO_SIM)");
        return;
    };
    let base: u32 = std::env::var("PICLOCK_GPIO_SIM_BASE").ok().and_then(|b| b.parse().ok()).expect("the chip's base");
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let mut d = daemon(&bus, &state);
    let log = bus.dir().join("piclockd.log");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let started = Instant::now();
    while p.state().await.is_err() {
        assert!(d.try_wait().ok().flatten().is_none(), "piclockd exited: {}", std::fs::read_to_string(&log).unwrap());
        assert!(started.elapsed() < Duration::from_secs(60), "no piclockd on the bus");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.sensors_configured().await.unwrap(), ["seconds"]);
    let mut corrected = p.receive_sensor_corrected().await.expect("SensorCorrected");
    // A minute behind, so that the catch-up passes 12 within seconds; the
    // hands 4 steps behind that.
    let now = p.time_usec().await.unwrap();
    let told = (target_12h(now, 0) + 43_200 - 60) % 43_200;
    let hands = Arc::new(AtomicU32::new((told + 43_200 - BEHIND) % 43_200));
    let pulses = Arc::new(AtomicU32::new(0));
    // Not joined: it reads the trace until the process ends. The daemon
    // is told the position (and starts pulsing) only once the player
    // traces the coil lines.
    let (ready_tx, ready) = mpsc::channel();
    let _player = {
        let (hands, pulses) = (hands.clone(), pulses.clone());
        std::thread::spawn(move || play(dir, base, hands, pulses, ready_tx))
    };
    ready.recv_timeout(Duration::from_secs(120)).expect("the player traces the coil lines");
    let moves_before = p.tick_count().await.unwrap();
    p.set_hand_position(&hms(told), false).await.expect("SetHandPosition");
    let sig = tokio::time::timeout(Duration::from_secs(150), corrected.next())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no correction ({} pulses seen); log:\n{}",
                pulses.load(Ordering::SeqCst),
                std::fs::read_to_string(&log).unwrap()
            )
        })
        .expect("a signal");
    let args = sig.args().expect("args");
    assert_eq!(*args.steps(), -(BEHIND as i32), "{}", args.reason());
    eprintln!("corrected: {} ({} pulses seen)", args.reason(), pulses.load(Ordering::SeqCst));
    // Caught up, the belief is where the modelled hands are.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let belief = p.hand_position().await.unwrap();
        let (st, off) = (p.state().await.unwrap(), p.offset().await.unwrap());
        if st == "ticking" && off == 0 && belief == hands.load(Ordering::SeqCst) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "belief {belief}, hands {:?}, {st} {off}; {} pulses seen of {} moves, trace {}; log:\n{}",
            hands,
            pulses.load(Ordering::SeqCst),
            p.tick_count().await.unwrap_or(0),
            trace_overruns(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p.sensor_corrections().await.unwrap(), 1);
    // Paused (and the trace drained), the player saw every move the daemon
    // fired: the hands lost none but the 4 steps the test set them off by.
    p.pause(false).await.expect("Pause");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let moves = p.tick_count().await.unwrap() - moves_before;
    let seen = u64::from(pulses.load(Ordering::SeqCst));
    assert_eq!(seen, moves, "pulses the player saw, moves the daemon fired ({})", trace_overruns());
    let _ = d.kill();
    let _ = d.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("hand sensors: seconds sensor on GPIO17"), "{text}");
}

/// `piclockd --release-lines` (the unit's ExecStopPost=) on the real kernel:
/// with another process holding the coil lines, one of them high, it fails
/// naming the holder; once they are free it requests them as outputs, low,
/// and releases them.
#[test]
fn release_lines_requests_the_coil_lines_low_and_names_a_holder() {
    let Some(dir) = std::env::var_os("PICLOCK_GPIO_SIM").map(PathBuf::from) else {
        eprintln!("skipped: runs inside scripts/sensor-gpio-sim.sh's guest (PICLOCK_GPIO_SIM)");
        return;
    };
    let chip = Path::new("/dev").join(dir.file_name().expect("gpiochipN"));
    let tmp = std::env::temp_dir().join(format!("release-lines-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let conf = tmp.join("piclockd.toml");
    std::fs::write(&conf, "[i2c]\nrtc = false\n").expect("config");
    let release = || {
        let out = Command::new(bin_path("piclockd")).arg("--release-lines").arg("--config").arg(&conf).output();
        let out = out.expect("piclockd --release-lines");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let value = |line: u32| std::fs::read_to_string(dir.join(format!("sim_gpio{line}/value"))).expect("value");
    let held = gpiocdev::Request::builder()
        .on_chip(&chip)
        .with_consumer("holder")
        .with_lines(&[0, 1])
        .as_output(gpiocdev::line::Value::Inactive)
        .with_line(0)
        .as_output(gpiocdev::line::Value::Active)
        .request()
        .expect("holding the coil lines");
    assert_eq!(value(0).trim(), "1", "the holder drives GPIO12 high");
    let (ok, log) = release();
    assert!(!ok && log.contains("holder"), "{log}");
    drop(held);
    let (ok, log) = release();
    assert!(ok && log.contains("driven low and released"), "{log}");
    assert_eq!((value(0).trim(), value(1).trim()), ("0", "0"));
    let _ = std::fs::remove_dir_all(&tmp);
}
