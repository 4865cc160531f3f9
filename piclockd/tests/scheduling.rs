//! `TickScheduling` says what the tick thread got, and `/proc` agrees: the
//! thread named `piclockd-tick` runs `SCHED_FIFO` at priority 50 exactly when
//! the property says so, and the process has locked memory (`VmLck`) exactly
//! when it says "memory locked". A refusal is also in the log.
//!
//! What the daemon should get follows from its credentials: `SCHED_FIFO`
//! needs `CAP_SYS_NICE` or `RLIMIT_RTPRIO` >= 50; `mlockall` always succeeds
//! with `CAP_IPC_LOCK` or an unlimited `RLIMIT_MEMLOCK`. On the build machines
//! (`RLIMIT_RTPRIO` 0) an unprivileged daemon is refused real-time priority:
//! as an ordinary user, that is the daemon this test starts; as root (CI) it
//! starts one as root and one as the service user `piclock`.

use piclock_dbus::Clock1Proxy;
use piclock_testkit::{proxy, Bus, Daemon, SystemBus};
use std::fs;

/// `SCHED_FIFO` in `sched_setscheduler(2)`.
const SCHED_FIFO: u32 = 1;
/// The tick thread's priority (`piclockd::tick::TICK_PRIORITY`).
const TICK_PRIORITY: u32 = 50;
/// Capability bits in `CapEff`.
const CAP_IPC_LOCK: u32 = 14;
const CAP_SYS_NICE: u32 = 23;

/// What `/proc` says about a running daemon.
#[derive(Debug)]
struct Proc {
    /// `(policy, rt_priority)` of the thread named `piclockd-tick`.
    tick_policy: (u32, u32),
    /// `VmLck` in kB.
    locked_kb: u64,
    /// `CapEff`.
    capabilities: u64,
    /// Soft `RLIMIT_RTPRIO` (`None`: unlimited).
    rtprio_limit: Option<u64>,
    /// Soft `RLIMIT_MEMLOCK` is unlimited.
    memlock_unlimited: bool,
}

/// The value after `key:` in `/proc/PID/status`.
fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {key} in /proc/PID/status:\n{status}"))
        .trim()
}

/// The soft limit of the line of `/proc/PID/limits` that starts with `name`.
fn soft_limit(limits: &str, name: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}:\n{limits}"));
    let soft = line[name.len()..].split_whitespace().next().expect("soft limit");
    (soft != "unlimited").then(|| soft.parse().expect("a number"))
}

fn read_proc(pid: u32) -> Proc {
    let task_dir = format!("/proc/{pid}/task");
    let mut tick = None;
    for task in fs::read_dir(&task_dir).expect("task dir") {
        let path = task.expect("task").path();
        if fs::read_to_string(path.join("comm")).unwrap_or_default().trim() == "piclockd-tick" {
            let stat = fs::read_to_string(path.join("stat")).expect("stat");
            // Fields after the command name "(...)": state is field 3, so
            // rt_priority (40) and policy (41) are the 38th and 39th here.
            let rest: Vec<&str> = stat.rsplit_once(')').expect("comm").1.split_whitespace().collect();
            tick = Some((rest[38].parse().expect("policy"), rest[37].parse().expect("rt_priority")));
        }
    }
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    Proc {
        tick_policy: tick.unwrap_or_else(|| panic!("no thread piclockd-tick in {task_dir}")),
        locked_kb: status_field(&status, "VmLck").trim_end_matches(" kB").parse().expect("VmLck"),
        capabilities: u64::from_str_radix(status_field(&status, "CapEff"), 16).expect("CapEff"),
        rtprio_limit: soft_limit(&limits, "Max realtime priority"),
        memlock_unlimited: soft_limit(&limits, "Max locked memory").is_none(),
    }
}

/// Checks the property against `/proc` and the daemon's credentials; returns the property.
async fn check(p: &Clock1Proxy<'_>, pid: u32, log: &str) -> String {
    let said = p.tick_scheduling().await.expect("TickScheduling");
    let proc = read_proc(pid);
    let context = format!("TickScheduling {said:?}, /proc {proc:?}; log:\n{log}");
    let cap = |bit: u32| proc.capabilities & (1 << bit) != 0;
    let may_fifo = cap(CAP_SYS_NICE) || proc.rtprio_limit.is_none_or(|l| l >= u64::from(TICK_PRIORITY));
    if may_fifo {
        assert!(said.starts_with("SCHED_FIFO priority 50; "), "{context}");
        assert_eq!(proc.tick_policy, (SCHED_FIFO, TICK_PRIORITY), "{context}");
    } else {
        assert!(said.starts_with("SCHED_OTHER (SCHED_FIFO priority 50 refused: EPERM); "), "{context}");
        assert_eq!(proc.tick_policy, (0, 0), "{context}");
        assert!(log.contains("without real-time priority: cannot set SCHED_FIFO priority 50"), "{context}");
    }
    if cap(CAP_IPC_LOCK) || proc.memlock_unlimited {
        assert!(said.ends_with("; memory locked"), "{context}");
    }
    // Whatever was expected, the words and the kernel agree.
    if said.ends_with("; memory locked") {
        assert!(proc.locked_kb > 0, "{context}");
    } else {
        assert!(said.contains("; memory not locked (mlockall refused: "), "{context}");
        assert_eq!(proc.locked_kb, 0, "{context}");
        assert!(log.contains("memory not locked: cannot lock the process in memory (mlockall)"), "{context}");
    }
    said
}

#[tokio::test(flavor = "multi_thread")]
async fn tick_scheduling_says_what_proc_shows() {
    let bus = Bus::start();
    let d = Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let said = check(&proxy(&conn).await, d.pid().expect("pid"), &d.log_text()).await;
    eprintln!("as this user: {said}");
}

/// As root (CI): the service user's case, unprivileged under root's limits.
#[tokio::test(flavor = "multi_thread")]
async fn an_unprivileged_daemon_says_what_it_was_refused() {
    let Some(bus) = SystemBus::start() else { return };
    // The service user: the bus policy lets only it (and root) own the name.
    let d = bus.daemon_as("piclock", &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let said = check(&proxy(&conn).await, d.pid().expect("pid"), &d.log_text()).await;
    eprintln!("as piclock: {said}");
}
