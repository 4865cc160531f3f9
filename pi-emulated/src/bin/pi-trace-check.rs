//! `pi-trace-check DIR`: judges what the emulated Pi brought out into DIR
//! (`scripts/pi-emulated.sh`): the kernel's GPIO trace replayed through the
//! movement model, the daemon's beliefs, line levels at every stop, pulse
//! figures against tolerances, the second daemon's refusal and the RTC
//! paths. Prints everything; exits 1 if any check failed, 2 if DIR cannot
//! be read.

use piclock_pi_emulated::{check, check_rtc, Inputs, Report};
use std::path::Path;
use std::process::ExitCode;

fn read(dir: &Path, name: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

/// The inputs of a guest run: every `piclockd-N.log` from 1 on.
fn inputs(dir: &Path) -> Result<Inputs, String> {
    let mut logs = Vec::new();
    while let Ok(log) = read(dir, &format!("piclockd-{}.log", logs.len() + 1)) {
        logs.push(log);
    }
    let second = match (read(dir, "second.log"), read(dir, "second.rc")) {
        (Ok(log), Ok(rc)) => Some((log, rc.trim().parse().map_err(|_| format!("second.rc: {rc:?} is no exit code"))?)),
        _ => None,
    };
    Ok(Inputs { trace: read(dir, "trace.txt")?, chips: read(dir, "chips.txt")?, logs, second })
}

/// The RTC part: both paths' status, or the reason it was skipped.
fn rtc(dir: &Path, r: &mut Report) {
    if let Ok(reason) = read(dir, "rtc-skipped.txt") {
        r.lines.push(format!("RTC part SKIPPED: {}", reason.trim()));
        return;
    }
    for (file, path, device) in [
        ("rtc-i2c-dev.json", "i2c-dev (no driver bound)", "on /dev/i2c-1 (i2c-dev)"),
        ("rtc-kernel.json", "kernel driver bound", "/dev/rtc0 (kernel driver rtc-ds1307, read-only)"),
    ] {
        match read(dir, file) {
            Ok(json) => check_rtc(&json, path, device, r),
            Err(e) => r.failures.push(format!("RTC part: {e}")),
        }
    }
    // i2cdetect on bus 1: 68 (nobody owns it), then UU (a driver does).
    for (file, want) in [("i2cdetect-i2c-dev.txt", " 68"), ("i2cdetect-kernel.txt", " UU")] {
        let text = read(dir, file).unwrap_or_default();
        let row = text.lines().find(|l| l.starts_with("60:")).unwrap_or("").trim().to_owned();
        r.lines.push(format!("i2cdetect -y -r 1, {file}: {row}"));
        if !row.contains(want) {
            r.failures.push(format!("{file}: 0x68 should show{want}: {row:?}"));
        }
    }
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: pi-trace-check DIR (the results of scripts/pi-emulated.sh)");
        return ExitCode::from(2);
    };
    let dir = Path::new(&dir);
    let inputs = match inputs(dir) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("pi-trace-check: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = check(&inputs);
    rtc(dir, &mut report);
    for l in &report.lines {
        println!("{l}");
    }
    if report.failures.is_empty() {
        println!("pi-trace-check: all checks passed");
        return ExitCode::SUCCESS;
    }
    // The first failures say what went wrong; the rest mostly follow from them.
    const SHOWN: usize = 40;
    for f in report.failures.iter().take(SHOWN) {
        println!("FAIL: {f}");
    }
    if report.failures.len() > SHOWN {
        println!("FAIL: ... and {} more", report.failures.len() - SHOWN);
    }
    println!("pi-trace-check: {} checks failed", report.failures.len());
    ExitCode::from(1)
}
