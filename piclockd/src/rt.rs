//! Real-time helpers for the tick thread.
//!
//! The coil pulses must start on the true second within a fraction of a
//! millisecond, also on a loaded machine. The recipe:
//!
//! 1. run the pulses on a thread of their own and give that thread a
//!    real-time priority ([`enable_realtime`]), so that ordinary work cannot
//!    preempt it and the kernel wakes it promptly;
//! 2. lock the process in memory ([`lock_memory`]), so that a page fault
//!    cannot stall it in the middle of a pulse;
//! 3. wait for each edge with an absolute deadline: sleep until shortly
//!    before it, then spin ([`sleep_until`]); the spin margin absorbs the
//!    kernel's wake-up latency.
//!
//! Everything here is best effort for the caller: a daemon without the
//! privilege (`CAP_SYS_NICE`, `RLIMIT_RTPRIO`, `RLIMIT_MEMLOCK`; systemd's
//! `CPUSchedulingPolicy=fifo`, `LimitRTPRIO=`, `LimitMEMLOCK=`) still runs,
//! just with worse timing, and should say so in its log.

use std::time::{Duration, Instant};

/// Why a real-time request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The `errno` value's symbolic name (`EPERM`, `ENOMEM`, ...; `errno` when
    /// not one of these), for a short summary such as `TickScheduling`.
    pub errno: &'static str,
    /// The whole reason, with what the process would need, for the log.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The symbolic name of an `errno` value, where known.
fn errno_name(code: i32) -> &'static str {
    match code {
        libc::EPERM => "EPERM",
        libc::EINVAL => "EINVAL",
        libc::ESRCH => "ESRCH",
        libc::ENOMEM => "ENOMEM",
        libc::EAGAIN => "EAGAIN",
        _ => "errno",
    }
}

/// Describes an `errno` value: its symbolic name where known, and the C
/// library's text.
fn describe_errno(code: i32) -> String {
    format!("{} ({code}: {})", errno_name(code), std::io::Error::from_raw_os_error(code))
}

/// Switches the CALLING thread to `SCHED_FIFO` at `priority` (1..=99 on
/// Linux; 80 is a sensible choice for the tick thread, above the kernel's
/// threaded interrupt handlers at 50).
///
/// Call it once, at the start of the dedicated tick thread, never on a
/// thread of the async runtime: a `SCHED_FIFO` thread that busy-waits starves
/// everything of lower priority on its core. The kernel's real-time
/// throttling (`/proc/sys/kernel/sched_rt_runtime_us`, 95 % by default) is the
/// last safety net.
///
/// The error says why it was refused, e.g. `EPERM` when the process has
/// neither `CAP_SYS_NICE` nor a high enough `RLIMIT_RTPRIO`.
pub fn enable_realtime(priority: i32) -> Result<(), Refused> {
    // SAFETY: plain libc queries without pointers.
    let (min, max) =
        unsafe { (libc::sched_get_priority_min(libc::SCHED_FIFO), libc::sched_get_priority_max(libc::SCHED_FIFO)) };
    if min >= 0 && max >= 0 && !(min..=max).contains(&priority) {
        return Err(Refused {
            errno: "EINVAL",
            message: format!("SCHED_FIFO priority {priority} is out of range {min}..={max}"),
        });
    }
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: `pthread_self()` is always a valid handle for the calling
    // thread and `param` is a valid, initialised `sched_param`.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        return Ok(());
    }
    let hint = if rc == libc::EPERM {
        ": the process needs CAP_SYS_NICE or RLIMIT_RTPRIO >= the priority \
         (systemd: CPUSchedulingPolicy=fifo, or LimitRTPRIO=)"
    } else {
        ""
    };
    Err(Refused {
        errno: errno_name(rc),
        message: format!("cannot set SCHED_FIFO priority {priority} for the tick thread: {}{hint}", describe_errno(rc)),
    })
}

/// Locks the process's pages in RAM as they are used
/// (`mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`), so that once the
/// tick thread has touched its code, data and stack, it never waits for a
/// page to come back from swap. `MCL_ONFAULT` keeps the resident set to what
/// is actually used (thread stacks and allocator arenas are reserved large
/// but mostly untouched); [`prefault_stack`] touches the tick thread's stack
/// up front. Kernels before 4.4 lack `MCL_ONFAULT`: then everything mapped is
/// locked at once.
///
/// Call it once per process, early (before the tick thread starts), in the
/// daemon driving real hardware and in timing benchmarks. It is
/// process-wide: every later allocation is locked too, so it needs enough
/// `RLIMIT_MEMLOCK` (systemd: `LimitMEMLOCK=infinity`) or `CAP_IPC_LOCK`.
/// Not useful for simulation runs.
pub fn lock_memory() -> Result<(), Refused> {
    // SAFETY: mlockall takes flags only.
    let mut rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above; a kernel without MCL_ONFAULT.
        rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    }
    if rc == 0 {
        return Ok(());
    }
    let code = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let hint = match code {
        libc::ENOMEM | libc::EPERM => {
            ": RLIMIT_MEMLOCK is too small and CAP_IPC_LOCK is missing \
             (systemd: LimitMEMLOCK=infinity)"
        }
        _ => "",
    };
    Err(Refused {
        errno: errno_name(code),
        message: format!("cannot lock the process in memory (mlockall): {}{hint}", describe_errno(code)),
    })
}

/// Waits until `deadline`: sleeps until `deadline - spin`, then busy-waits
/// (with [`std::hint::spin_loop`]) until the deadline has passed.
///
/// Use it on the real-time tick thread for every edge that must land on
/// time: `spin` must exceed the worst wake-up latency of a sleep (some
/// hundred µs with `SCHED_FIFO`, milliseconds without), so that the sleep
/// never overshoots the deadline; waits shorter than `spin` are pure spins.
/// It returns at once if the deadline has passed. Do not use it on the async
/// runtime or for waits where a millisecond does not matter: the spin burns
/// a whole core for `spin`.
pub fn sleep_until(deadline: Instant, spin: Duration) {
    let now = Instant::now();
    if let Some(wake) = deadline.checked_sub(spin) {
        if wake > now {
            std::thread::sleep(wake - now);
        }
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// Touches `bytes` of the calling thread's stack, so that (with
/// [`lock_memory`]) those pages are resident and locked before the first
/// deadline.
pub fn prefault_stack(bytes: usize) {
    const CHUNK: usize = 4096;
    fn touch(left: usize) {
        let mut page = [0u8; CHUNK];
        std::hint::black_box(&mut page);
        if left > CHUNK {
            touch(left - CHUNK);
        }
        std::hint::black_box(&page);
    }
    touch(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_until_never_returns_early() {
        for spin_us in [0, 200, 2_000] {
            let deadline = Instant::now() + Duration::from_millis(5);
            sleep_until(deadline, Duration::from_micros(spin_us));
            assert!(Instant::now() >= deadline);
        }
    }

    #[test]
    fn sleep_until_past_deadline_returns_at_once() {
        let start = Instant::now();
        sleep_until(start, Duration::from_millis(1));
        sleep_until(start.checked_sub(Duration::from_secs(1)).unwrap_or(start), Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn out_of_range_priority_is_refused_with_a_reason() {
        let err = enable_realtime(1000).unwrap_err();
        assert!(err.message.contains("1000"), "{err}");
        assert_eq!(err.errno, "EINVAL");
    }

    #[test]
    fn realtime_on_a_scratch_thread_succeeds_or_says_why() {
        // Runs on a thread of its own so that the test harness is not affected.
        let r = std::thread::spawn(|| enable_realtime(10)).join().unwrap();
        if let Err(e) = r {
            assert!(e.message.contains("SCHED_FIFO") && e.message.contains(e.errno), "{e}");
        }
    }
}
