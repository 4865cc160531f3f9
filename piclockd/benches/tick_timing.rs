//! Tick timing benchmark: how precisely does `PwmCoil` put normal ticks on
//! the true second, idle and with both cores loaded?
//!
//! ```text
//! cargo bench -p piclockd --bench tick_timing -- --ticks 600 [--conditions idle,loaded,flood]
//!     [--interval-ms 1000] [--spin-us 5000] [--priority 80] [--cpu N] [--cyclictest-loops 5000]
//! ```
//!
//! A dedicated thread (SCHED_FIFO where permitted, process locked in memory)
//! fires the NORMAL tick waveform through `PwmCoil<RecordingLines>` with its
//! leading edge on every whole second of the system clock. The recording is
//! then analysed:
//!
//! - leading-edge error: first rising edge − deadline (signed µs, positive = late);
//! - pulse-length error: (last fall − first rise) − the expected length
//!   ((periods − 1) × 100 µs + on_us), µs;
//! - duty error: measured high time / expected high time − 1, %.
//!
//! Conditions: `idle`; `loaded` (both cores busy with `stress-ng --cpu`);
//! `flood` (a private bus with `piclockd --simulate` ticking at real speed
//! and four clients reading its properties and making no-op calls as fast as
//! they can; their call latencies are reported too). `--interval-ms` spaces
//! the ticks closer than a second (e.g. 100) to collect many in less time;
//! the deadlines stay on whole multiples of the interval of the system clock.
//!
//! `cyclictest` (if on PATH) runs in each condition first, so its wake-up
//! latency (the kernel's floor for a sleep-only loop) appears beside ours.
//! Output: a table, then one line `JSON: {...}`.

use piclock_core::pulse_config::PulseConfig;
use piclock_core::waveform::{MoveKind, Waveform, PWM_PERIOD_US};
use piclockd::coil::pwm::{FireReport, PwmCoil};
use piclockd::coil::recording::{pulses_from_edges, Edge, RecordedPulse, RecordingLines};
use piclockd::coil::{Coil, MoveTime};
use piclockd::rt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Targets from the issue.
const TARGET_EDGE_P99_US: f64 = 20.0;
const TARGET_EDGE_MAX_US: f64 = 200.0;
const TARGET_DUTY_PCT: f64 = 5.0;

/// Set by SIGINT/SIGTERM: stop ticking, clean up, print what we have.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

#[derive(Debug, Clone)]
struct Args {
    ticks: usize,
    conditions: Vec<String>,
    spin: Duration,
    priority: i32,
    cpu: Option<usize>,
    cyclictest_loops: u32,
    interval: Duration,
}

fn parse_args() -> Args {
    let mut a = Args {
        ticks: 300,
        conditions: vec!["idle".into(), "loaded".into()],
        spin: Duration::from_micros(5_000),
        priority: 80,
        cpu: None,
        cyclictest_loops: 5_000,
        interval: Duration::from_secs(1),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        // Accept both `--name value` and `--name=value`; ignore anything
        // unknown (cargo passes `--bench`).
        let (name, inline) = match argv[i].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (argv[i].clone(), None),
        };
        let known =
            ["--ticks", "--conditions", "--spin-us", "--priority", "--cpu", "--cyclictest-loops", "--interval-ms"];
        if !known.contains(&name.as_str()) {
            i += 1;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                argv.get(i).cloned().unwrap_or_else(|| panic!("{name} needs a value"))
            }
        };
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")) };
        match name.as_str() {
            "--ticks" => a.ticks = num(&value) as usize,
            "--conditions" => {
                a.conditions = value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                for c in &a.conditions {
                    assert!(
                        ["idle", "loaded", "flood"].contains(&c.as_str()),
                        "unknown condition {c:?} (idle, loaded, flood)"
                    );
                }
            }
            "--spin-us" => a.spin = Duration::from_micros(num(&value)),
            "--priority" => a.priority = num(&value) as i32,
            "--cpu" => a.cpu = Some(num(&value) as usize),
            "--cyclictest-loops" => a.cyclictest_loops = num(&value) as u32,
            "--interval-ms" => a.interval = Duration::from_millis(num(&value).clamp(80, 60_000)),
            _ => {}
        }
        i += 1;
    }
    a
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| {
        std::fs::metadata(p)
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
            .unwrap_or(false)
    })
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

/// Total steal time of all CPUs so far (time the hypervisor ran something
/// else while our vCPUs wanted to run).
fn steal_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

// ---------------------------------------------------------------- load

/// Keeps all cores busy until dropped (also on panic).
struct Load {
    child: Option<Child>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    what: String,
}

impl Load {
    fn start(cpus: usize, max_secs: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(stress) = which("stress-ng") {
            // Same process group as us: a Ctrl-C in the terminal reaches it
            // too; --timeout ends it even if we are killed outright.
            let args = [
                "--cpu".to_string(),
                cpus.to_string(),
                "--timeout".to_string(),
                format!("{max_secs}s"),
                "--quiet".to_string(),
            ];
            match Command::new(&stress)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => {
                    return Load {
                        child: Some(child),
                        stop,
                        threads: Vec::new(),
                        what: format!("stress-ng {}", args.join(" ")),
                    }
                }
                Err(e) => eprintln!("cannot start {}: {e}; using busy threads", stress.display()),
            }
        }
        let threads = (0..cpus)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x: u64 = 1;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                        }
                    }
                })
            })
            .collect();
        Load { child: None, stop, threads, what: format!("{cpus} busy-loop threads (stress-ng not found)") }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SIGTERM lets stress-ng stop its workers.
                // SAFETY: signalling our own child by its pid.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let until = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ----------------------------------------------------------- cyclictest

#[derive(Debug, Clone, Default)]
struct Cyclic {
    samples: u64,
    min_us: f64,
    avg_us: f64,
    max_us: f64,
    /// None if the 99th percentile lies beyond the histogram.
    p99_us: Option<f64>,
    hist_max_us: u32,
    overflows: u64,
}

fn run_cyclictest(loops: u32) -> Result<Cyclic, String> {
    let Some(ct) = which("cyclictest") else {
        return Err("cyclictest not on PATH".into());
    };
    let hist_max: u32 = 2_000;
    let out = Command::new(ct)
        .args(["-m", "-p", "80", "-i", "1000", "-l", &loops.to_string(), "-q", "-h", &hist_max.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cyclictest: {e}"))?;
    if !out.status.success() {
        return Err(format!("cyclictest failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut c = Cyclic { hist_max_us: hist_max, ..Cyclic::default() };
    let mut hist: Vec<(u32, u64)> = Vec::new();
    let field =
        |line: &str, key: &str| -> Option<f64> { line.strip_prefix(key)?.split_whitespace().next()?.parse().ok() };
    for line in text.lines() {
        if let Some(v) = field(line, "# Min Latencies:") {
            c.min_us = v;
        } else if let Some(v) = field(line, "# Avg Latencies:") {
            c.avg_us = v;
        } else if let Some(v) = field(line, "# Max Latencies:") {
            c.max_us = v;
        } else if let Some(v) = field(line, "# Histogram Overflows:") {
            c.overflows = v as u64;
        } else if !line.starts_with('#') {
            let mut it = line.split_whitespace();
            if let (Some(b), Some(n)) = (it.next(), it.next()) {
                if let (Ok(b), Ok(n)) = (b.parse::<u32>(), n.parse::<u64>()) {
                    hist.push((b, n));
                }
            }
        }
    }
    c.samples = hist.iter().map(|h| h.1).sum::<u64>() + c.overflows;
    if c.samples == 0 {
        return Err(format!("cannot parse cyclictest output:\n{text}"));
    }
    let need = (c.samples as f64 * 0.99).ceil() as u64;
    let mut seen = 0;
    for (bucket, n) in hist {
        seen += n;
        if seen >= need {
            c.p99_us = Some(f64::from(bucket));
            break;
        }
    }
    Ok(c)
}

// ---------------------------------------------------------------- D-Bus flood

/// What the flood's clients measured.
struct FloodCalls {
    calls: u64,
    secs: f64,
    read: Stats,
    ticks: u64,
    late_ticks: u64,
    max_late_us: u64,
}

/// A private bus, `piclockd --simulate` ticking on it at real speed, and
/// four clients calling it as fast as they can (property reads and no-op
/// method calls), each read timed.
struct Flood {
    rt: tokio::runtime::Runtime,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<Vec<f64>>>,
    // Dropped last: the daemon, then the bus.
    daemon: piclock_testkit::Daemon,
    _bus: piclock_testkit::Bus,
    started: Instant,
    what: String,
}

impl Flood {
    fn start() -> Flood {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let bus = piclock_testkit::Bus::start();
        let state = bus.dir().join("state");
        let daemon = rt.block_on(piclock_testkit::Daemon::start(&bus, &state, 1.0));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = rt.block_on(async {
            let conn = bus.connect().await;
            let p = piclock_testkit::proxy(&conn).await;
            piclock_testkit::set_offset(&p, 0).await;
            let mut clients = Vec::new();
            for i in 0..4 {
                let conn = bus.connect().await;
                let stop = stop.clone();
                clients.push(tokio::spawn(async move {
                    let p = piclock_testkit::proxy(&conn).await;
                    let zone = p.timezone().await.unwrap_or_default();
                    let mut lat = Vec::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        if (n + i).is_multiple_of(4) {
                            // A no-op change: validated, nothing changes, no polkit.
                            let _ = p.set_timezone(&zone, false).await;
                        } else {
                            let t = Instant::now();
                            let _ = p.hand_position().await;
                            lat.push(t.elapsed().as_secs_f64() * 1e6);
                        }
                    }
                    lat
                }));
            }
            clients
        });
        Flood {
            rt,
            stop,
            clients,
            daemon,
            _bus: bus,
            started: Instant::now(),
            what: "D-Bus flood: piclockd --simulate + 4 clients (property reads, no-op calls)".into(),
        }
    }

    fn stop(self) -> FloodCalls {
        self.stop.store(true, Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let mut all = Vec::new();
        let mut calls = 0u64;
        for c in self.clients {
            let lat = self.rt.block_on(c).unwrap_or_default();
            calls += lat.len() as u64 * 4 / 3;
            all.extend(lat);
        }
        let (ticks, late_ticks, max_late_us) = self.rt.block_on(async {
            let conn = self._bus.connect().await;
            let p = piclock_testkit::proxy(&conn).await;
            (
                p.tick_count().await.unwrap_or(0),
                p.late_tick_count().await.unwrap_or(0),
                p.max_tick_late_usec().await.unwrap_or(0),
            )
        });
        let read = stats(all).unwrap_or(Stats { min: 0.0, p50: 0.0, p99: 0.0, max: 0.0 });
        drop(self.daemon);
        FloodCalls { calls, secs, read, ticks, late_ticks, max_late_us }
    }
}

// ---------------------------------------------------------------- ticks

/// The next whole multiple of `interval` of the system clock at least
/// `lead` from now, as an Instant (and as µs since the epoch).
fn next_boundary(lead: Duration, interval: Duration) -> (Instant, i64) {
    // Read both clocks close together: retry if we were preempted between.
    let (mono, sys) = loop {
        let i1 = Instant::now();
        let s = SystemTime::now();
        let i2 = Instant::now();
        if i2 - i1 < Duration::from_micros(20) {
            break (i1 + (i2 - i1) / 2, s);
        }
    };
    let since = sys.duration_since(UNIX_EPOCH).expect("clock before 1970");
    let step = interval.as_micros().max(1);
    let mut k = since.as_micros() / step + 1;
    loop {
        let at = Duration::from_micros((k * step) as u64);
        let deadline = mono + (at - since);
        if deadline >= Instant::now() + lead {
            return (deadline, at.as_micros() as i64);
        }
        k += 1;
    }
}

struct TickRun {
    rt: Result<(), String>,
    deadlines: Vec<Instant>,
    outcomes: Vec<(Option<String>, FireReport)>,
    edges: Vec<Edge>,
}

fn pin_to_cpu(cpu: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays within its bounds
    // for cpu < CPU_SETSIZE, which we check.
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(format!("cpu {cpu} out of range"));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!("sched_setaffinity({cpu}): {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn run_ticks(args: &Args) -> TickRun {
    let ticks = args.ticks;
    let (spin, priority, cpu, interval) = (args.spin, args.priority, args.cpu, args.interval);
    std::thread::Builder::new()
        .name("tick".into())
        .spawn(move || {
            if let Some(cpu) = cpu {
                if let Err(e) = pin_to_cpu(cpu) {
                    eprintln!("warning: {e}");
                }
            }
            let rt = rt::enable_realtime(priority).map_err(|e| e.to_string());
            let config = PulseConfig::default();
            let per_tick = Waveform::for_move(MoveKind::Normal, 0, &config)
                .pulses()
                .iter()
                .map(|p| 2 * p.len_us.div_ceil(PWM_PERIOD_US) as usize)
                .sum::<usize>();
            let mut coil = PwmCoil::new(RecordingLines::new(ticks * per_tick + 16), spin);
            let mut deadlines = Vec::with_capacity(ticks);
            let mut outcomes = Vec::with_capacity(ticks);
            for i in 0..ticks {
                if STOP.load(Ordering::SeqCst) {
                    break;
                }
                let (real, true_us) = next_boundary(spin + Duration::from_millis(20), interval);
                let waveform = Waveform::for_move(MoveKind::Normal, i as u32, &config);
                let result = coil.fire(&waveform, MoveTime { real, true_us });
                deadlines.push(real);
                outcomes.push((result.err().map(|e| e.to_string()), coil.last_report()));
            }
            let edges = coil.into_lines().take();
            TickRun { rt, deadlines, outcomes, edges }
        })
        .expect("spawn tick thread")
        .join()
        .expect("tick thread panicked")
}

// ------------------------------------------------------------- analysis

#[derive(Debug, Clone, Copy)]
struct Stats {
    min: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

/// Nearest-rank percentiles of `v`.
fn stats(mut v: Vec<f64>) -> Option<Stats> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(Stats { min: v[0], p50: rank(0.50), p99: rank(0.99), max: v[v.len() - 1] })
}

fn stats_json(s: Option<Stats>) -> Value {
    match s {
        Some(s) => json!({"min": r2(s.min), "p50": r2(s.p50), "p99": r2(s.p99), "max": r2(s.max)}),
        None => Value::Null,
    }
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn signed_us(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1e6
    } else {
        -((b - a).as_secs_f64() * 1e6)
    }
}

/// Circumstances of one condition's tick run.
struct RunEnv {
    steal: Duration,
    wall: Duration,
    cpus: usize,
    spin: Duration,
    interval: Duration,
}

struct ConditionResult {
    name: String,
    load: String,
    rt: Result<(), String>,
    ticks: usize,
    failed: usize,
    missing: usize,
    split: usize,
    skipped_periods: u64,
    ticks_with_skips: usize,
    edge: Option<Stats>,
    length: Option<Stats>,
    length_abs: Option<Stats>,
    duty: Option<Stats>,
    duty_abs: Option<Stats>,
    worst_edge: Option<Stats>,
    wake: Option<Stats>,
    late_wake: usize,
    late_stall: usize,
    steal_ms: f64,
    steal_pct: f64,
    cyclictest: Result<Cyclic, String>,
    first_errors: Vec<String>,
}

fn analyse(name: &str, load: String, run: TickRun, cyclictest: Result<Cyclic, String>, env: RunEnv) -> ConditionResult {
    let RunEnv { steal, wall, cpus, spin, interval } = env;
    let pulse = Waveform::for_move(MoveKind::Normal, 0, &PulseConfig::default()).pulses()[0];
    let periods = pulse.len_us.div_ceil(PWM_PERIOD_US);
    let last_on = pulse.on_us.min(pulse.len_us - (periods - 1) * PWM_PERIOD_US);
    let expected_len_us = f64::from((periods - 1) * PWM_PERIOD_US + last_on);
    let expected_high_us = f64::from((periods - 1) * pulse.on_us.min(PWM_PERIOD_US) + last_on);

    let pulses = pulses_from_edges(&run.edges);
    let (mut edge, mut length, mut duty, mut worst) = (vec![], vec![], vec![], vec![]);
    let mut wake = vec![];
    let (mut missing, mut split, mut late_wake, mut late_stall) = (0, 0, 0, 0);
    for (i, &deadline) in run.deadlines.iter().enumerate() {
        // All pulses within this tick's window (a stall of 1 ms or more
        // splits a tick into several recorded pulses): merge them.
        let lo = deadline - Duration::from_millis(100).min(interval / 2);
        let hi = deadline + Duration::from_millis(500).min(interval / 2);
        let mine: Vec<&RecordedPulse> = pulses.iter().filter(|p| p.first_rise >= lo && p.first_rise < hi).collect();
        let report = run.outcomes[i].1;
        worst.push(report.worst_edge_delay.as_secs_f64() * 1e6);
        wake.push(report.wake_delay.as_secs_f64() * 1e6);
        let (Some(first), Some(last)) = (mine.first(), mine.last()) else {
            missing += 1;
            continue;
        };
        if mine.len() > 1 {
            split += 1;
        }
        let high: Duration = mine.iter().map(|p| p.high).sum();
        let e = signed_us(first.first_rise, deadline);
        if e >= TARGET_EDGE_P99_US {
            if report.wake_delay >= spin {
                late_wake += 1;
            } else {
                late_stall += 1;
            }
        }
        edge.push(e);
        length.push(signed_us(last.last_fall, first.first_rise) - expected_len_us);
        duty.push((high.as_secs_f64() * 1e6 / expected_high_us - 1.0) * 100.0);
    }
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let failed = run.outcomes.iter().filter(|o| o.0.is_some()).count();
    let first_errors = run.outcomes.iter().filter_map(|o| o.0.clone()).take(3).collect();
    ConditionResult {
        name: name.into(),
        load,
        rt: run.rt,
        ticks: run.deadlines.len(),
        failed,
        missing,
        split,
        skipped_periods: run.outcomes.iter().map(|o| u64::from(o.1.skipped)).sum(),
        ticks_with_skips: run.outcomes.iter().filter(|o| o.1.skipped > 0).count(),
        length_abs: stats(abs(&length)),
        duty_abs: stats(abs(&duty)),
        edge: stats(edge),
        length: stats(length),
        duty: stats(duty),
        worst_edge: stats(worst),
        wake: stats(wake),
        late_wake,
        late_stall,
        steal_ms: steal.as_secs_f64() * 1e3,
        steal_pct: steal.as_secs_f64() / (wall.as_secs_f64() * cpus as f64).max(1e-9) * 100.0,
        cyclictest,
        first_errors,
    }
}

fn fmt_opt(s: Option<Stats>, f: impl Fn(Stats) -> String) -> String {
    s.map(f).unwrap_or_else(|| "-".into())
}

fn print_table(results: &[ConditionResult], args: &Args) {
    println!();
    println!(
        "Normal tick (31 ms, 60/100 µs), {} ticks per condition, spin {} µs, leading edge on each whole {} ms \
         of the system clock",
        args.ticks,
        args.spin.as_micros(),
        args.interval.as_millis()
    );
    println!("  edge   = first rise − deadline, signed µs (positive = late): min / p50 / p99 / max");
    println!("  length = (last fall − first rise) − 30 960 µs: p50 signed / p99 |err| / max |err|, µs");
    println!("  duty   = high time / 18 600 µs − 1: p50 signed / p99 |err| / max |err|, %");
    println!("  wake   = how late the sleep before the tick ended (our own cyclictest): p50 / p99 / max, µs");
    println!("  pwm    = worst delay of any edge within a tick (p50 / p99 / max over ticks), µs");
    println!("  cyclictest -m -p 80 -i 1000 -h 2000: min / avg / p99 / max wake-up latency, µs");
    println!();
    println!(
        "{:<8} {:>34} {:>24} {:>22} {:>18} {:>18} {:>28} {:>7}",
        "", "edge µs min/p50/p99/max", "length µs", "duty %", "wake µs", "pwm µs", "cyclictest µs", "steal"
    );
    for r in results {
        let edge = fmt_opt(r.edge, |s| format!("{:.1} / {:.1} / {:.1} / {:.1}", s.min, s.p50, s.p99, s.max));
        let length = match (r.length, r.length_abs) {
            (Some(s), Some(a)) => format!("{:+.1} / {:.1} / {:.1}", s.p50, a.p99, a.max),
            _ => "-".into(),
        };
        let duty = match (r.duty, r.duty_abs) {
            (Some(s), Some(a)) => format!("{:+.2} / {:.2} / {:.2}", s.p50, a.p99, a.max),
            _ => "-".into(),
        };
        let three = |s: Stats| format!("{:.0} / {:.0} / {:.0}", s.p50, s.p99, s.max);
        let wake = fmt_opt(r.wake, three);
        let pwm = fmt_opt(r.worst_edge, three);
        let ct = match &r.cyclictest {
            Ok(c) => format!(
                "{:.0} / {:.0} / {} / {:.0}",
                c.min_us,
                c.avg_us,
                c.p99_us.map(|p| format!("{p:.0}")).unwrap_or_else(|| format!(">{}", c.hist_max_us)),
                c.max_us
            ),
            Err(_) => "n/a".into(),
        };
        println!(
            "{:<8} {:>34} {:>24} {:>22} {:>18} {:>18} {:>28} {:>6.2}%",
            r.name, edge, length, duty, wake, pwm, ct, r.steal_pct
        );
    }
    println!();
    for r in results {
        println!(
            "{}: load = {}; {} ticks, {} failed, {} without a recorded pulse, {} split by a stall >= 1 ms, \
             {} periods skipped in {} ticks; leading edges >= {TARGET_EDGE_P99_US} µs late: {} woke late, \
             {} stalled while spinning; steal {:.0} ms; real-time: {}",
            r.name,
            r.load,
            r.ticks,
            r.failed,
            r.missing,
            r.split,
            r.skipped_periods,
            r.ticks_with_skips,
            r.late_wake,
            r.late_stall,
            r.steal_ms,
            match &r.rt {
                Ok(()) => format!("SCHED_FIFO {}", args.priority),
                Err(e) => format!("NOT GRANTED ({e})"),
            }
        );
        if let Err(e) = &r.cyclictest {
            println!("  cyclictest: {e}");
        }
        for e in &r.first_errors {
            println!("  error: {e}");
        }
        let met = targets_met(r);
        println!(
            "  targets (edge p99 < {TARGET_EDGE_P99_US} µs, max < {TARGET_EDGE_MAX_US} µs, |duty| < {TARGET_DUTY_PCT} %): \
             edge p99 {}, edge max {}, duty {}",
            yes_no(met.0),
            yes_no(met.1),
            yes_no(met.2)
        );
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "met"
    } else {
        "MISSED"
    }
}

fn targets_met(r: &ConditionResult) -> (bool, bool, bool) {
    let complete = r.missing == 0 && r.ticks > 0;
    (
        complete && r.edge.is_some_and(|s| s.p99 < TARGET_EDGE_P99_US),
        complete && r.edge.is_some_and(|s| s.max < TARGET_EDGE_MAX_US),
        complete && r.duty_abs.is_some_and(|s| s.max < TARGET_DUTY_PCT),
    )
}

fn result_json(r: &ConditionResult) -> Value {
    let met = targets_met(r);
    json!({
        "name": r.name,
        "load": r.load,
        "rt_granted": r.rt.is_ok(),
        "rt_error": r.rt.as_ref().err(),
        "ticks": r.ticks,
        "failed": r.failed,
        "missing": r.missing,
        "split": r.split,
        "skipped_periods": r.skipped_periods,
        "ticks_with_skips": r.ticks_with_skips,
        "edge_us": stats_json(r.edge),
        "length_err_us": stats_json(r.length),
        "length_abs_err_us": stats_json(r.length_abs),
        "duty_err_pct": stats_json(r.duty),
        "duty_abs_err_pct": stats_json(r.duty_abs),
        "worst_edge_delay_us": stats_json(r.worst_edge),
        "wake_delay_us": stats_json(r.wake),
        "late_edges_woke_late": r.late_wake,
        "late_edges_stalled_spinning": r.late_stall,
        "steal_ms": r2(r.steal_ms),
        "steal_pct": r2(r.steal_pct),
        "cyclictest": match &r.cyclictest {
            Ok(c) => json!({
                "samples": c.samples, "min_us": c.min_us, "avg_us": c.avg_us,
                "p99_us": c.p99_us, "max_us": c.max_us,
                "hist_max_us": c.hist_max_us, "overflows": c.overflows,
            }),
            Err(e) => json!({"error": e}),
        },
        "targets_met": {"edge_p99": met.0, "edge_max": met.1, "duty": met.2},
    })
}

/// Runs the ticks under one condition (`idle`, `loaded` or `flood`), with
/// cyclictest first; returns the analysis and, under the flood, the calls.
fn run_condition(name: &str, args: &Args, cpus: usize) -> (ConditionResult, Option<FloodCalls>) {
    let est =
        (args.ticks as u64 * args.interval.as_millis() as u64) / 1000 + u64::from(args.cyclictest_loops) / 1000 + 10;
    println!("\n== {name}: about {est} s");
    let load = (name == "loaded").then(|| Load::start(cpus, est + 60));
    let flood = (name == "flood").then(Flood::start);
    let load_what = match (&load, &flood) {
        (Some(l), _) => l.what.clone(),
        (_, Some(f)) => f.what.clone(),
        _ => "none".to_string(),
    };
    if load.is_some() {
        println!("load: {load_what}");
        std::thread::sleep(Duration::from_secs(2));
    }
    let cyclictest = if args.cyclictest_loops > 0 {
        run_cyclictest(args.cyclictest_loops)
    } else {
        Err("skipped (--cyclictest-loops 0)".into())
    };
    match &cyclictest {
        Ok(c) => println!(
            "cyclictest: min {} avg {} p99 {} max {} µs ({} samples, {} over {} µs)",
            c.min_us,
            c.avg_us,
            c.p99_us.map_or("-".into(), |p| p.to_string()),
            c.max_us,
            c.samples,
            c.overflows,
            c.hist_max_us
        ),
        Err(e) => println!("cyclictest: {e}"),
    }
    let steal0 = steal_time();
    let t0 = Instant::now();
    let run = run_ticks(args);
    let wall = t0.elapsed();
    let steal = steal_time().saturating_sub(steal0);
    drop(load);
    let calls = flood.map(Flood::stop);
    if let Some(c) = &calls {
        println!(
            "D-Bus under flood: {} calls in {:.1} s ({:.0}/s); property read latency µs p50 {:.0} p99 {:.0} max {:.0}; \
             daemon: {} moves, {} more than 1 ms late, latest edge {} µs",
            c.calls, c.secs, c.calls as f64 / c.secs, c.read.p50, c.read.p99, c.read.max,
            c.ticks, c.late_ticks, c.max_late_us
        );
    }
    let env = RunEnv { steal, wall, cpus, spin: args.spin, interval: args.interval };
    let r = analyse(name, load_what, run, cyclictest, env);
    if let Some(e) = r.edge {
        println!("edge µs: p50 {:.1} p99 {:.1} max {:.1}; failed ticks {}", e.p50, e.p99, e.max, r.failed);
    }
    (r, calls)
}

fn main() {
    let args = parse_args();
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    let clocksource = read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    let rt_runtime = read_trim("/proc/sys/kernel/sched_rt_runtime_us");
    println!(
        "tick_timing: {} ticks, conditions {:?}, {cpus} cpus, kernel {kernel}, clocksource {clocksource}, \
         sched_rt_runtime_us {rt_runtime}",
        args.ticks, args.conditions
    );
    let mlock = rt::lock_memory().map_err(|e| e.to_string());
    match &mlock {
        Ok(()) => println!("mlockall: ok"),
        Err(e) => println!("mlockall: FAILED: {e}"),
    }
    // Probe real-time priority up front, so the reader knows at once.
    let probe = std::thread::spawn({
        let p = args.priority;
        move || rt::enable_realtime(p).map_err(|e| e.to_string())
    })
    .join()
    .expect("probe thread");
    match &probe {
        Ok(()) => println!("real-time priority: SCHED_FIFO {} granted", args.priority),
        Err(e) => println!("real-time priority: NOT GRANTED, timing will suffer: {e}"),
    }

    let mut results = Vec::new();
    let mut flood_results: Vec<(String, Option<FloodCalls>)> = Vec::new();
    for name in args.conditions.clone() {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let (r, calls) = run_condition(&name, &args, cpus);
        flood_results.push((name.clone(), calls));
        results.push(r);
    }
    print_table(&results, &args);
    let json = json!({
        "bench": "tick_timing",
        "waveform": {"kind": "normal", "len_us": 31_000, "on_us": 60, "periods": 310,
                     "expected_length_us": 30_960, "expected_high_us": 18_600},
        "definitions": {
            "edge_us": "first rising edge - deadline, signed (positive = late); nearest-rank percentiles",
            "length_err_us": "(last fall - first rise) - expected length, signed; *_abs_*: of |error|",
            "duty_err_pct": "measured high time / expected high time - 1, signed; *_abs_*: of |error|",
            "wake_delay_us": "how late the sleep before each tick ended, relative to deadline - spin",
            "worst_edge_delay_us": "per tick, the worst lateness of any PWM edge",
            "steal_pct": "hypervisor steal time during the tick run, % of all CPUs",
        },
        "ticks_requested": args.ticks,
        "spin_us": args.spin.as_micros() as u64,
        "priority": args.priority,
        "cpu_affinity": args.cpu,
        "host": {"cpus": cpus, "kernel": kernel, "clocksource": clocksource,
                 "sched_rt_runtime_us": rt_runtime},
        "rt_granted": probe.is_ok() && results.iter().all(|r| r.rt.is_ok()),
        "rt_error": probe.as_ref().err(),
        "mlockall": mlock.is_ok(),
        "mlockall_error": mlock.as_ref().err(),
        "interrupted": STOP.load(Ordering::SeqCst),
        "targets": {"edge_p99_us": TARGET_EDGE_P99_US, "edge_max_us": TARGET_EDGE_MAX_US,
                    "duty_abs_pct": TARGET_DUTY_PCT},
        "interval_ms": args.interval.as_millis() as u64,
        "conditions": results.iter().map(result_json).collect::<Vec<_>>(),
        "dbus_flood": flood_results.iter().filter_map(|(n, c)| c.as_ref().map(|c| json!({
            "condition": n, "calls": c.calls, "secs": r2(c.secs), "calls_per_s": r2(c.calls as f64 / c.secs),
            "property_read_us": {"p50": r2(c.read.p50), "p99": r2(c.read.p99), "max": r2(c.read.max)},
            "daemon_moves": c.ticks, "daemon_late_moves": c.late_ticks, "daemon_max_late_us": c.max_late_us,
        }))).collect::<Vec<_>>(),
    });
    println!("JSON: {json}");
}
