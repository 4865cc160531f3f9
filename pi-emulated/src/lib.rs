//! The emulated Raspberry Pi 3 check (`scripts/pi-emulated.sh`,
//! `docs/src/development/emulated-pi.md`).
//!
//! The guest (QEMU's `raspi3b`, Debian's arm64 kernel) runs the real
//! `piclockd` on the BCM2835's GPIO lines with the kernel's
//! `gpio:gpio_value` trace on, and brings out the trace, the GPIO chips as
//! sysfs shows them, the daemon's logs and the RTC readings. This crate
//! judges them on the host:
//!
//! - [`trace`]: reading the trace, the chips and the daemon's `coil:` line;
//! - [`pulses`]: line changes to pulses (pin, start, length, duty) and moves;
//! - [`replay`]: the moves fed into the core's Lavet motor model from the
//!   position the guest set, with every check;
//! - [`check`]: all of it over one guest run, as a printable [`Report`].
//!
//! The binary `pi-gpio-probe` runs in the guest: it reads the GPIO
//! controller's level register and kills the daemon in the middle of a pulse.

pub mod pulses;
pub mod replay;
pub mod trace;

#[cfg(test)]
mod selftest;

use replay::Replay;
use std::fmt::Write as _;

/// The scenarios the guest script runs, in order; the checker insists on
/// all of them, so that a guest script that skipped one fails.
pub const SCENARIOS: [&str; 8] =
    ["set-hands", "tick", "forward", "reverse", "sigterm", "sigkill", "restart", "second-daemon"];

/// The fewest moves of their kind the scenarios `tick`, `forward` and
/// `reverse` must show: 60 s of ticking, and a catch-up of at least 60 s
/// each way (4 fast ticks a second gain 3 s a second, 2 reverse ticks 3 s).
pub const MIN_MOVES: [(&str, usize, usize); 3] = [("tick", 0, 60), ("forward", 1, 60), ("reverse", 2, 30)];

/// What the guest brought out, as text.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The kernel's trace (`trace.txt`).
    pub trace: String,
    /// The GPIO chips (`chips.txt`).
    pub chips: String,
    /// The daemon's logs, one per run, in run order (`piclockd-N.log`).
    pub logs: Vec<String>,
    /// The second daemon's output, started while the lines were held
    /// (`second.log`), and its exit code.
    pub second: Option<(String, i32)>,
}

/// The checker's verdict and what it measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The lines to print.
    pub lines: Vec<String>,
    /// Every failed check.
    pub failures: Vec<String>,
}

impl Report {
    fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }
}

/// Checks one guest run.
pub fn check(inputs: &Inputs) -> Report {
    let mut r = Report::default();
    match check_trace(inputs, &mut r) {
        Ok(replay) => report_replay(&replay, &mut r),
        Err(e) => r.failures.push(e),
    }
    if let Some((log, rc)) = &inputs.second {
        check_second(log, *rc, &mut r);
    } else {
        r.failures.push("no second daemon was tried while the lines were held".into());
    }
    r
}

/// Reads the trace and replays it; the parts that cannot be read are errors.
fn check_trace(inputs: &Inputs, r: &mut Report) -> Result<Replay, String> {
    let trace = trace::parse(&inputs.trace)?;
    match trace.entries {
        Some((kept, written)) if kept == written => {
            r.line(format!("trace: {kept} events, none lost"));
        }
        Some((kept, written)) => {
            return Err(format!("the trace buffer overflowed: {kept} of {written} events kept"));
        }
        None => return Err("the trace has no entries-in-buffer/entries-written header".into()),
    }
    let chips = trace::parse_chips(&inputs.chips)?;
    let mut found = None;
    for (run, log) in inputs.logs.iter().enumerate() {
        let lines = trace::coil_lines(log).ok_or_else(|| format!("run {}: no `coil:` line in the log", run + 1))?;
        if lines.names != ["GPIO12", "GPIO13"] {
            return Err(format!(
                "run {}: the coil lines were not found by the names GPIO12 and GPIO13: {lines:?}",
                run + 1
            ));
        }
        match &found {
            Some(f) if f != &lines => return Err(format!("run {}: other coil lines than before: {lines:?}", run + 1)),
            _ => found = Some(lines),
        }
    }
    let lines = found.ok_or("no daemon log")?;
    let gpio = trace::global_numbers(&lines, &chips)?;
    let chip = chips.iter().find(|c| lines.chip.ends_with(&c.dev)).map_or("?", |c| c.label.as_str());
    r.line(format!(
        "coil: {} and {} found by name: lines {} and {} of {} ({chip}), global GPIO {} and {} (base from sysfs)",
        lines.names[0], lines.names[1], lines.offsets[0], lines.offsets[1], lines.chip, gpio[0], gpio[1]
    ));
    let edges = pulses::edges(&trace.events, gpio);
    for (from, to) in pulses::both_high(&edges) {
        r.failures.push(format!("both coil lines high at once from {from} µs to {to:?}"));
    }
    let rebuilt = pulses::pulses(&edges);
    let starts: Vec<i64> = trace
        .events
        .iter()
        .filter(|e| matches!(&e.kind, trace::EventKind::Mark(m) if m.verb == "start"))
        .map(|e| e.t_us)
        .collect();
    let moves = pulses::moves(&rebuilt, &starts);
    r.line(format!("{} line changes, {} pulses, {} moves rebuilt", edges.len(), rebuilt.len(), moves.len()));
    Ok(replay::replay(&trace.events, &edges, &moves, gpio))
}

fn report_replay(replay: &Replay, r: &mut Report) {
    for name in SCENARIOS {
        if !replay.scenarios.iter().any(|s| s.name == name) {
            r.failures.push(format!("scenario {name} is missing from the trace"));
        }
    }
    for (name, kind, least) in MIN_MOVES {
        let have: usize = replay.scenarios.iter().filter(|s| s.name == name).map(|s| s.moves[kind]).sum();
        if replay.scenarios.iter().any(|s| s.name == name) && have < least {
            r.failures.push(format!("scenario {name} has {have} moves of its kind, fewer than {least}"));
        }
    }
    for s in &replay.scenarios {
        let [n, f, rev, other] = s.moves;
        let mut head =
            format!("scenario {}: {} pulses rebuilt, {n} normal, {f} fast, {rev} reverse moves", s.name, s.pulses);
        if other > 0 {
            let _ = write!(head, ", {other} other");
        }
        r.line(head);
        for l in &s.lines {
            r.line(format!("    {l}"));
        }
    }
    r.line(format!(
        "pulses against the default waveforms (tolerances: length ±{} µs, duty ±{} points, gap ±{} µs, periods exact):",
        replay::LENGTH_TOLERANCE_US,
        replay::DUTY_TOLERANCE_POINTS,
        replay::GAP_TOLERANCE_US
    ));
    for l in replay::figure_lines(&replay.figures) {
        r.line(format!("    {l}"));
    }
    r.line(format!("    {}", replay::interval_line(&replay.intervals)));
    for n in &replay.notes {
        r.line(format!("note: {n}"));
    }
    r.failures.extend(replay.failures.iter().cloned());
}

/// The second daemon must have failed, naming the chip and both lines.
fn check_second(log: &str, rc: i32, r: &mut Report) {
    let text = trace::strip_ansi(log);
    let message = text.lines().rfind(|l| l.contains("GPIO")).unwrap_or("").trim().to_owned();
    r.line(format!("second daemon while the lines were held: exit code {rc}: {message}"));
    if rc == 0 {
        r.failures.push("a second daemon started while the lines were held".into());
    }
    for needle in ["/dev/gpiochip0", "GPIO12", "GPIO13", "piclockd"] {
        if !message.contains(needle) {
            r.failures.push(format!("the second daemon's error does not name {needle}: {message:?}"));
        }
    }
}

/// Checks the RTC part's daemon status (`piclockctl status --json`) for
/// one path: `rtc_present`, and `rtc_device` containing `device`; returns
/// the line to print.
pub fn check_rtc(json: &str, path: &str, device: &str, r: &mut Report) {
    let v: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => return r.failures.push(format!("RTC {path}: status --json unreadable: {e}")),
    };
    let present = v["rtc_present"].as_bool() == Some(true);
    let dev = v["rtc_device"].as_str().unwrap_or("");
    let rtc_us = v["rtc_time_usec"].as_i64();
    let now_us = v["time_usec"].as_i64();
    let diff = rtc_us.zip(now_us).map(|(a, b)| (a - b) as f64 / 1e6);
    r.line(format!(
        "RTC {path}: rtc_present={present}, RTCDevice {dev:?}, RTC - true time = {} s",
        diff.map_or("?".into(), |d| format!("{d:+.1}"))
    ));
    if !present || !dev.contains(device) {
        r.failures.push(format!(
            "RTC {path}: expected a present RTC via {device:?}, got rtc_present={present}, rtc_device={dev:?}"
        ));
    }
    if diff.is_none_or(|d| d.abs() > 2.0) {
        r.failures.push(format!("RTC {path}: the RTC's time is not the guest's (difference {diff:?} s)"));
    }
}
