//! The real sensor lines: GPIO inputs with edge detection, through the
//! GPIO character device (gpiocdev).
//!
//! Each line is requested as an input with both edges detected, active-low
//! when `[sensor] active_low` says so (then with the pull-up bias, for an
//! open-drain Hall switch), so that the kernel itself reports *active* as
//! a rising edge. The kernel timestamps every edge (CLOCK_MONOTONIC); a
//! poll reads the queued events without blocking and turns each timestamp
//! into the daemon's true time (true time now, minus how long ago the edge
//! was). The first poll reports each line's level at start.

use super::{SensorEdge, SensorEdges, SensorLinesError, UNTIMED};
use crate::admin_config::sensor::{SensorConfig, SensorLine};
use crate::admin_config::GpioConfig;
use crate::coil::lookup::{read_chip, read_chips, ChipLines, LookupError, Unreadable};
use crate::timebase::TrueClock;
use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Value};
use gpiocdev::Request;
use piclock_core::hand_sensor::SensorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most events read in one poll per request (more wait for the next poll).
const MAX_EVENTS_PER_POLL: usize = 64;

/// A sensor's line: which sensor, its offset, its name ("" when given by offset).
type Line = (SensorKind, u32, String);

/// One request: the sensor lines on one chip.
struct ChipRequest {
    request: Request,
    chip: PathBuf,
    lines: Vec<Line>,
}

/// The sensor lines over gpiocdev.
pub struct GpioSensors {
    requests: Vec<ChipRequest>,
    clock: Arc<dyn TrueClock>,
    started: bool,
}

/// Why the sensor lines could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum GpioSensorsError {
    /// `[gpio] chip` could not be read.
    #[error("{}: {}", .0.path.display(), .0.error)]
    ChipUnreadable(Unreadable),
    /// The GPIO chips could not be listed.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A sensor's line is an offset, without `[gpio] chip`.
    #[error("[sensor] {kind}: a line offset needs [gpio] chip")]
    OffsetNeedsChip {
        /// The sensor.
        kind: SensorKind,
    },
    /// No line carries a sensor's line name.
    #[error("[sensor] {kind}: no GPIO line is named {name:?} (`gpioinfo` shows the names)")]
    NoSuchName {
        /// The sensor.
        kind: SensorKind,
        /// Its line name.
        name: String,
    },
    /// A sensor's line name is on more than one chip.
    #[error("[sensor] {kind}: GPIO line name {name:?} is on several chips; set [gpio] chip")]
    Ambiguous {
        /// The sensor.
        kind: SensorKind,
        /// Its line name.
        name: String,
    },
    /// The lines of a chip could not be requested.
    #[error("cannot request {} of {} as inputs: {source}", .lines.join(" and "), .chip.display())]
    Request {
        /// Each line: "seconds sensor GPIO17 (line 17)".
        lines: Vec<String>,
        /// The chip.
        chip: PathBuf,
        /// gpiocdev's error.
        #[source]
        source: gpiocdev::Error,
    },
}

/// Where `kind`'s line is: its chip and offset.
fn locate(
    kind: SensorKind,
    line: &SensorLine,
    gpio: &GpioConfig,
    chips: &[ChipLines],
) -> Result<(PathBuf, u32, String), GpioSensorsError> {
    match line {
        SensorLine::Offset(o) => {
            let chip = gpio.chip.clone().ok_or(GpioSensorsError::OffsetNeedsChip { kind })?;
            Ok((chip, *o, String::new()))
        }
        SensorLine::Name(name) => {
            let hits: Vec<(&Path, u32)> = chips
                .iter()
                .flat_map(|c| c.names.iter().enumerate().filter(|(_, n)| *n == name).map(move |(o, _)| (&*c.path, o)))
                .filter_map(|(p, o)| u32::try_from(o).ok().map(|o| (p, o)))
                .collect();
            match hits.as_slice() {
                [(path, offset)] => Ok((path.to_path_buf(), *offset, name.clone())),
                [] => Err(GpioSensorsError::NoSuchName { kind, name: name.clone() }),
                _ => Err(GpioSensorsError::Ambiguous { kind, name: name.clone() }),
            }
        }
    }
}

impl GpioSensors {
    /// Finds and requests the lines of `config` (names on `[gpio] chip`
    /// or on every chip, offsets on `[gpio] chip`).
    pub fn open(
        config: &SensorConfig,
        gpio: &GpioConfig,
        clock: Arc<dyn TrueClock>,
    ) -> Result<GpioSensors, GpioSensorsError> {
        let chips = match &gpio.chip {
            Some(path) => vec![read_chip(path).map_err(GpioSensorsError::ChipUnreadable)?],
            None => read_chips()?.0,
        };
        let mut grouped: Vec<(PathBuf, Vec<Line>)> = Vec::new();
        for (kind, line) in config.lines() {
            let (chip, offset, name) = locate(kind, line, gpio, &chips)?;
            match grouped.iter_mut().find(|(c, _)| *c == chip) {
                Some((_, lines)) => lines.push((kind, offset, name)),
                None => grouped.push((chip, vec![(kind, offset, name)])),
            }
        }
        let requests = grouped
            .into_iter()
            .map(|(chip, lines)| request(&chip, lines, config.active_low))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GpioSensors { requests, clock, started: false })
    }

    /// True time of a kernel timestamp (CLOCK_MONOTONIC, ns).
    fn true_us(&self, timestamp_ns: u64) -> i64 {
        let now_ns = monotonic_ns();
        let ago_us = i64::try_from(now_ns.saturating_sub(timestamp_ns) / 1000).unwrap_or(i64::MAX);
        self.clock.now_us().saturating_sub(ago_us)
    }
}

/// Requests `lines` of `chip` as inputs with both edges detected.
fn request(chip: &Path, lines: Vec<Line>, active_low: bool) -> Result<ChipRequest, GpioSensorsError> {
    let offsets: Vec<u32> = lines.iter().map(|(_, o, _)| *o).collect();
    let mut builder = Request::builder();
    builder
        .on_chip(chip)
        .with_consumer("piclockd-sensor")
        .with_lines(&offsets)
        .as_input()
        .with_edge_detection(EdgeDetection::BothEdges);
    if active_low {
        builder.as_active_low().with_bias(Bias::PullUp);
    }
    let request = builder.request().map_err(|source| GpioSensorsError::Request {
        lines: lines.iter().map(|(k, o, n)| format!("{k} sensor {n} (line {o})")).collect(),
        chip: chip.to_path_buf(),
        source,
    })?;
    Ok(ChipRequest { request, chip: chip.to_path_buf(), lines })
}

impl ChipRequest {
    /// The error for a failed read of this chip's lines.
    fn read_error(&self, source: gpiocdev::Error) -> SensorLinesError {
        SensorLinesError::Read { chip: self.chip.clone(), source }
    }
}

/// CLOCK_MONOTONIC now, ns (the kernel's edge timestamps use it).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which lives on this stack.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

impl SensorEdges for GpioSensors {
    fn poll(&mut self, out: &mut Vec<SensorEdge>) -> Result<(), SensorLinesError> {
        if !self.started {
            self.started = true;
            for r in &self.requests {
                for (kind, offset, _) in &r.lines {
                    let value = r.request.value(*offset).map_err(|e| r.read_error(e))?;
                    out.push(SensorEdge { sensor: *kind, active: value == Value::Active, at_us: UNTIMED });
                }
            }
        }
        for r in &self.requests {
            for _ in 0..MAX_EVENTS_PER_POLL {
                let pending = r.request.has_edge_event().map_err(|e| r.read_error(e))?;
                if !pending {
                    break;
                }
                let ev = r.request.read_edge_event().map_err(|e| r.read_error(e))?;
                let Some((kind, _, _)) = r.lines.iter().find(|(_, o, _)| *o == ev.offset) else {
                    continue;
                };
                let at_us = self.true_us(ev.timestamp_ns);
                out.push(SensorEdge { sensor: *kind, active: ev.kind == EdgeKind::Rising, at_us });
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .requests
            .iter()
            .flat_map(|r| {
                r.lines.iter().map(move |(k, o, n)| {
                    let name = if n.is_empty() { String::new() } else { format!("{n}, ") };
                    format!("{k} sensor on {name}line {o} of {}", r.chip.display())
                })
            })
            .collect();
        parts.join("; ")
    }
}
