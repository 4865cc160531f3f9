//! Footprint and agreement benchmark of the running daemon:
//!
//! - RSS and CPU of `piclockd --simulate` ticking at real speed on a private
//!   bus for `--minutes` (default 10): peak and final RSS (VmHWM, VmRSS),
//!   CPU as a share of one core, total and besides the coil's busy-wait
//!   (the simulated coil spins the last 2 ms before each edge, as the real
//!   driver spins before its PWM; the real driver's 31 ms PWM per tick is
//!   the "PWM busy-time" the target excludes);
//! - NTP: the daemon's measured offset against a real chronyd on loopback
//!   (which serves this machine's own clock, so the right answer is 0),
//!   over `--syncs` SyncNow calls (default 20);
//! - the peak RSS after the largest argument a stock system bus carries
//!   (32 MiB, refused unread) and the thread count: what the unit's
//!   `MemoryMax=` and `TasksMax=` are derived from (about 4x).
//!
//! ```text
//! cargo bench -p piclockd --bench footprint -- [--minutes 10] [--syncs 20]
//! ```
//! Prints a table and one `JSON:` line.

use futures_util::StreamExt;
use piclock_testkit::{proxy, set_offset, Bus, Chrony, Daemon};
use serde_json::json;
use std::time::{Duration, Instant};

/// The simulated coil's busy-wait before each leading edge.
const SPIN_MS_PER_MOVE: f64 = 2.0;

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// (utime + stime in seconds, VmRSS kB, VmHWM kB) of `pid`.
fn sample(pid: u32) -> Option<(f64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after ") ".
    let rest = &stat[stat.rfind(") ")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks_per_s;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some((cpu, kb("VmRSS:")?, kb("VmHWM:")?))
}

/// The number of threads of `pid`.
fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes = arg("--minutes", 10.0);
    let syncs = arg("--syncs", 20.0) as usize;
    println!("footprint: piclockd --simulate at real speed for {minutes} min, then {syncs} NTP syncs against chronyd");

    let bus = Bus::start();
    let state = bus.dir().join("state");
    let daemon = Daemon::start(&bus, &state, 1.0).await;
    let pid = daemon.pid().expect("daemon pid");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    set_offset(&p, 0).await;
    // Let it settle into ticking, then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let moves0 = p.tick_count().await.unwrap_or(0);
    let (cpu0, _, _) = sample(pid).expect("/proc sample");
    let t0 = Instant::now();
    let mut rss_max = 0u64;
    let duration = Duration::from_secs_f64(minutes * 60.0);
    while t0.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(5).min(duration)).await;
        if let Some((_, rss, _)) = sample(pid) {
            rss_max = rss_max.max(rss);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss, hwm) = sample(pid).expect("/proc sample");
    let moves = p.tick_count().await.unwrap_or(0) - moves0;
    let late = p.late_tick_count().await.unwrap_or(0);
    let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
    let spin_pct = moves as f64 * SPIN_MS_PER_MOVE / 1000.0 / wall * 100.0;
    let besides = (cpu_pct - spin_pct).max(0.0);

    // NTP agreement with chronyd on loopback.
    let chrony = Chrony::start();
    p.set_ntp_servers(&[chrony.server().as_str()], false).await.expect("SetNTPServers");
    let mut finished = p.receive_sync_finished().await.expect("SyncFinished");
    let mut offsets = Vec::new();
    let mut failures = 0;
    let ntp_start = Instant::now();
    while offsets.len() < syncs && ntp_start.elapsed() < Duration::from_secs(60 + 3 * syncs as u64) {
        p.sync_now(false).await.expect("SyncNow");
        match tokio::time::timeout(Duration::from_secs(10), finished.next()).await {
            Ok(Some(s)) => match s.args() {
                Ok(a) if *a.success() => offsets.push(*a.offset_usec() as f64),
                _ => failures += 1,
            },
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut abs: Vec<f64> = offsets.iter().map(|o| o.abs()).collect();
    let (p50, max) = (percentile(&mut abs, 0.5), abs.iter().copied().fold(0.0, f64::max));

    // The worst a caller can do to its memory: a message as large as a
    // stock system bus carries (32 MiB), refused unread. With the threads
    // in use, this is what the unit's MemoryMax= and TasksMax= are set from.
    let threads = threads(pid);
    let huge = ":".repeat((32 << 20) - 4096);
    let refused = p.set_hand_position(&huge, false).await.is_err();
    let (_, _, worst_hwm) = sample(pid).expect("/proc sample");
    drop(daemon);

    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| RSS final / peak (VmRSS, VmHWM) | {:.1} / {:.1} MB | < 8 MB |",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "| CPU over {:.1} min of ticking | {cpu_pct:.2} % of a core ({spin_pct:.2} % spin before {moves} edges) | |",
        wall / 60.0
    );
    println!("| CPU besides the coil's busy-wait | {besides:.2} % of a core | < 1 % |");
    println!("| moves more than 1 ms late | {late} of {moves} | |");
    println!(
        "| peak RSS after a 32 MiB argument (refused: {refused}) | {:.1} MB | MemoryMax= about 4x |",
        worst_hwm as f64 / 1024.0
    );
    println!("| threads | {threads} | TasksMax= about 4x |");
    println!(
        "| NTP offset vs chronyd on loopback, |µs| p50 / max | {p50:.0} / {max:.0} ({} syncs, {failures} failed) | < 1000 µs |",
        offsets.len()
    );
    println!(
        "JSON: {}",
        json!({
            "bench": "footprint", "minutes": wall / 60.0,
            "rss_kb": rss, "rss_peak_kb": hwm.max(rss_max), "cpu_pct": cpu_pct, "spin_pct": spin_pct,
            "cpu_besides_spin_pct": besides, "moves": moves, "late_moves": late,
            "rss_peak_after_32mib_kb": worst_hwm, "threads": threads,
            "ntp": {"syncs": offsets.len(), "failed": failures, "abs_offset_us_p50": p50, "abs_offset_us_max": max,
                    "offsets_us": offsets},
            "targets": {"rss_mb": 8, "cpu_besides_pct": 1.0, "ntp_offset_us": 1000},
        })
    );
}
