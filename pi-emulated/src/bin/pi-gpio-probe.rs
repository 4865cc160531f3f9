//! `pi-gpio-probe`: runs in the emulated Pi 3 (`scripts/pi-emulated.sh`).
//! It reads the BCM2835 GPIO controller's registers through `/dev/mem`
//! (the kernel is booted with `iomem=relaxed`, so that a register block a
//! driver owns may be read): the pin levels (GPLEV0) and the pin functions
//! (GPFSEL1) of GPIO12 and GPIO13, the coil lines of the default config.
//! This is a view independent of gpiolib and of its trace.
//!
//! - `pi-gpio-probe levels LABEL`: prints the levels and writes them to
//!   the trace as `pe: levels at=LABEL a=.. b=.. fsel=..`.
//! - `pi-gpio-probe signal-mid-pulse PID RUN TERM|KILL`: waits until
//!   GPIO12 or GPIO13 is high (a pulse's high phase), sends SIGTERM or
//!   SIGKILL to PID at once, writes `pe: sigterm|sigkill run=RUN pid=PID
//!   a=.. b=.. fsel=..` (the levels right after the signal) to the trace,
//!   writes `pe: released ... after_us=N` when the pins stop being outputs
//!   (the kernel released the lines), waits until the process has exited
//!   (its file descriptors, and so its line request, closed) and writes the
//!   levels then as `pe: levels at=exit-after-sigterm|sigkill ...`.

use std::io::Write as _;
use std::time::{Duration, Instant};

/// The coil pins of the default config (BCM numbering = line offsets of
/// pinctrl-bcm2835).
const PINS: [u32; 2] = [12, 13];
/// GPFSEL1 (function of GPIO 10..19), GPLEV0 (levels of GPIO 0..31).
const GPFSEL1: usize = 0x04;
const GPLEV0: usize = 0x34;
const TRACE_MARKER: &str = "/sys/kernel/tracing/trace_marker";

/// The GPIO controller's registers, mapped.
struct Gpio {
    regs: *const u32,
}

impl Gpio {
    /// Finds the controller in /proc/iomem (`3f200000-3f2000b3 :
    /// 3f200000.gpio gpio@7e200000`) and maps its first page.
    fn open() -> Result<Gpio, String> {
        let iomem = std::fs::read_to_string("/proc/iomem").map_err(|e| format!("/proc/iomem: {e}"))?;
        let start = iomem
            .lines()
            .find(|l| {
                l.split_once(" : ").is_some_and(|(_, name)| name.split_whitespace().any(|w| w.ends_with(".gpio")))
            })
            .and_then(|l| l.trim().split('-').next())
            .and_then(|a| usize::from_str_radix(a, 16).ok())
            .ok_or("no .gpio block in /proc/iomem")?;
        let path = c"/dev/mem";
        // SAFETY: a valid C string; the descriptor is closed below.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_SYNC) };
        if fd < 0 {
            return Err(format!("/dev/mem: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: maps one page of the register block read-only; the
        // mapping outlives the descriptor, which is closed right after.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, start as libc::off_t)
        };
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mapping the GPIO registers at {start:#x}: {} (boot with iomem=relaxed)",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Gpio { regs: p.cast() })
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: offset is one of the register offsets above, inside the mapped page.
        unsafe { std::ptr::read_volatile(self.regs.add(offset / 4)) }
    }

    /// The levels of the coil pins.
    fn levels(&self) -> [bool; 2] {
        let lev = self.read(GPLEV0);
        PINS.map(|p| lev & (1 << p) != 0)
    }

    /// The pins' functions: `in`, `out` or `alt`.
    fn functions(&self) -> String {
        let fsel = self.read(GPFSEL1);
        let f: Vec<&str> = PINS
            .iter()
            .map(|p| match (fsel >> ((p - 10) * 3)) & 7 {
                0 => "in",
                1 => "out",
                _ => "alt",
            })
            .collect();
        f.join(",")
    }

    fn describe(&self) -> String {
        let [a, b] = self.levels();
        format!("a={} b={} fsel={}", u8::from(a), u8::from(b), self.functions())
    }
}

/// The trace's marker file, opened once (a marker is then one write).
fn marker() -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new().write(true).open(TRACE_MARKER).map_err(|e| format!("{TRACE_MARKER}: {e}"))
}

/// Writes `pe: TEXT` to the trace, then prints it.
fn mark_to(file: &mut std::fs::File, text: &str) {
    if let Err(e) = file.write_all(format!("pe: {text}\n").as_bytes()) {
        eprintln!("pi-gpio-probe: {TRACE_MARKER}: {e}");
    }
    println!("pi-gpio-probe: {text}");
}

/// Whether process `pid` has exited: every thread gone or a zombie. (The
/// main thread can be a zombie while others still run, and the process's
/// files, its line request among them, are closed with the last thread.)
fn exited(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return true };
    tasks.flatten().all(|t| match std::fs::read_to_string(t.path().join("stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| matches!(rest.trim_start().as_bytes().first(), Some(b'Z' | b'X'))),
        Err(_) => true,
    })
}

/// Sets the calling thread's scheduling policy.
fn schedule(policy: libc::c_int, priority: i32) -> Result<(), String> {
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: a valid sched_param for the calling thread.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(format!("sched_setscheduler: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn signal_mid_pulse(gpio: &Gpio, pid: i32, run: &str, signal: &str) -> Result<(), String> {
    let (signo, verb) = match signal {
        "TERM" => (libc::SIGTERM, "sigterm"),
        "KILL" => (libc::SIGKILL, "sigkill"),
        _ => return Err(format!("{signal:?}: TERM or KILL")),
    };
    let mut trace = marker()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Above the tick thread's real-time priority, so that a wake-up
    // preempts it in the middle of a pulse (the guest has one core online);
    // the signal follows the read of the level register by a few µs.
    schedule(libc::SCHED_FIFO, 60)?;
    let mut polls = 0u32;
    while gpio.levels() == [false, false] {
        polls += 1;
        if polls.is_multiple_of(1000) && exited(pid) {
            return Err(format!("process {pid} exited before a pulse"));
        }
        if Instant::now() > deadline {
            return Err("no pulse within 60 s".into());
        }
        std::thread::sleep(Duration::from_micros(150));
    }
    // SAFETY: plain syscall.
    if unsafe { libc::kill(pid, signo) } != 0 {
        return Err(format!("kill {pid}: {}", std::io::Error::last_os_error()));
    }
    // The levels right after the signal, marked before the tick thread can
    // run again; then back below it: what follows must not disturb the
    // pulse a SIGTERM lets finish.
    let signalled = Instant::now();
    mark_to(&mut trace, &format!("{verb} run={run} pid={pid} {}", gpio.describe()));
    schedule(libc::SCHED_OTHER, 0)?;
    // When the kernel releases the lines, pinctrl-bcm2835 may change the
    // pins' function: note when they stop being outputs.
    while gpio.functions().contains("out") && Instant::now() < deadline && !exited(pid) {
        std::thread::sleep(Duration::from_micros(100));
    }
    while gpio.functions().contains("out") && signalled.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_micros(100));
    }
    if !gpio.functions().contains("out") {
        let after = signalled.elapsed().as_micros();
        mark_to(&mut trace, &format!("released run={run} signal={verb} after_us={after} {}", gpio.describe()));
    }
    while !exited(pid) {
        if Instant::now() > deadline {
            return Err(format!("process {pid} did not exit after SIG{signal}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    mark_to(&mut trace, &format!("levels at=exit-after-{verb} run={run} {}", gpio.describe()));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Gpio::open().and_then(|gpio| match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["levels", label] => {
            mark_to(&mut marker()?, &format!("levels at={label} {}", gpio.describe()));
            Ok(())
        }
        ["signal-mid-pulse", pid, run, signal] => {
            let pid: i32 = pid.parse().map_err(|_| format!("{pid:?} is no process id"))?;
            signal_mid_pulse(&gpio, pid, run, signal)
        }
        _ => Err("usage: pi-gpio-probe levels LABEL | signal-mid-pulse PID RUN TERM|KILL".into()),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pi-gpio-probe: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
