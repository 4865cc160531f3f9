//! The two output lines of the coil.
//!
//! - [`Lines`]: sets both coil lines in one operation.
//! - [`GpioLines`]: the real lines, over the GPIO character device (gpiocdev).
//! - A recording fake of them, for tests and benchmarks, is in
//!   `coil::recording` (feature `testing`).

use super::CoilError;
use gpiocdev::line::{Value, Values};
use gpiocdev::Request;
use std::path::{Path, PathBuf};

/// The coil's two output lines, pin A and pin B.
pub trait Lines: Send {
    /// Sets pin A to `a` and pin B to `b` (true = high) in one operation.
    ///
    /// `(true, true)` would short the coil's drive and is refused by every
    /// implementation here.
    fn set(&mut self, a: bool, b: bool) -> Result<(), CoilError>;
}

pub(crate) fn both_high_error() -> CoilError {
    CoilError::new("refused to drive both coil lines high")
}

/// The coil lines on a GPIO chip, through the Linux GPIO character device.
///
/// Both lines are requested as outputs, initially low. Each [`Lines::set`]
/// is one `set_values` ioctl that reuses a preallocated [`Values`], so the
/// tick thread does not allocate per edge. Dropping it drives both lines low
/// (and then releases them).
#[derive(Debug)]
pub struct GpioLines {
    request: Request,
    chip: PathBuf,
    offsets: [u32; 2],
    values: Values,
}

impl GpioLines {
    /// Requests lines `offsets` = `[pin A, pin B]` (BCM 12 and 13 on a
    /// Raspberry Pi) of `chip` (e.g. `/dev/gpiochip0`) as outputs, initially
    /// inactive, labelled `consumer`. `names` are the lines' names, for the
    /// errors (empty when unknown).
    ///
    /// Errors name the chip, the lines (names and offsets) and, when they are
    /// held already, by which consumer (gpiocdev's own errors say none of it).
    pub fn open(chip: &Path, offsets: [u32; 2], names: [&str; 2], consumer: &str) -> Result<Self, CoilError> {
        let context = || format!("cannot request {} as outputs", describe_lines(chip, offsets, names));
        if offsets[0] == offsets[1] {
            return Err(CoilError::new(format!("{}: pin A and pin B are the same line", context())));
        }
        if let Err(e) = std::fs::metadata(chip) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Err(CoilError::new(format!(
                    "{}: {} does not exist (is this a Raspberry Pi with the GPIO \
                 character device, and is the chip path right? without one, try --simulate)",
                    context(),
                    chip.display()
                )));
            }
        }
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(consumer)
            .with_lines(&offsets)
            .as_output(Value::Inactive)
            .request()
            .map_err(|e| CoilError::new(format!("{}: {}", context(), why_not(chip, offsets, names, consumer, &e))))?;
        // Both offsets are present from the start: `Values::set` then updates
        // in place and never allocates.
        let values = Values::from_offsets(&offsets);
        Ok(GpioLines { request, chip: chip.to_path_buf(), offsets, values })
    }
}

/// "GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip0"; a line whose
/// name is empty is only "line 12".
pub fn describe_lines(chip: &Path, offsets: [u32; 2], names: [&str; 2]) -> String {
    let one = |i: usize| {
        if names[i].is_empty() {
            format!("line {}", offsets[i])
        } else {
            format!("{} (line {})", names[i], offsets[i])
        }
    };
    if names.iter().all(|n| n.is_empty()) {
        format!("GPIO lines {} and {} of {}", offsets[0], offsets[1], chip.display())
    } else {
        format!("{} and {} of {}", one(0), one(1), chip.display())
    }
}

/// Why a request of `offsets` on `chip` as `consumer` failed with `error`:
/// the chip's line info tells whether the lines exist and who holds them.
fn why_not(chip: &Path, offsets: [u32; 2], names: [&str; 2], consumer: &str, error: &gpiocdev::Error) -> String {
    let Ok(c) = gpiocdev::Chip::from_path(chip) else {
        return error.to_string();
    };
    if let Ok(info) = c.info() {
        if let Some(o) = offsets.iter().find(|o| **o >= info.num_lines) {
            return format!(
                "{} ({}) has no line {o}: its lines are 0..={}",
                chip.display(),
                info.label,
                info.num_lines.saturating_sub(1)
            );
        }
    }
    let held: Vec<(usize, gpiocdev::line::Info)> =
        (0..2).filter_map(|i| c.line_info(offsets[i]).ok().filter(|l| l.used).map(|l| (i, l))).collect();
    if held.is_empty() {
        return error.to_string();
    }
    let who: Vec<String> = held
        .iter()
        .map(|(i, line)| {
            let name = if names[*i].is_empty() { format!("line {}", offsets[*i]) } else { names[*i].to_owned() };
            if line.consumer.is_empty() {
                format!("{name}: no consumer label")
            } else {
                format!("{name}: consumer {:?}", line.consumer)
            }
        })
        .collect();
    let again = if held.iter().any(|(_, l)| l.consumer == consumer) {
        format!("; is another {consumer} running?")
    } else {
        String::new()
    };
    format!(
        "held by another process or a kernel driver ({}{again}); `gpioinfo` shows the users of the lines ({error})",
        who.join(", ")
    )
}

impl Lines for GpioLines {
    fn set(&mut self, a: bool, b: bool) -> Result<(), CoilError> {
        if a && b {
            return Err(both_high_error());
        }
        let level = |high: bool| if high { Value::Active } else { Value::Inactive };
        self.values.set(self.offsets[0], level(a)).set(self.offsets[1], level(b));
        self.request.set_values(&self.values).map_err(|e| {
            CoilError::new(format!(
                "cannot set GPIO lines {}={} {}={} of {}: {e}",
                self.offsets[0],
                u8::from(a),
                self.offsets[1],
                u8::from(b),
                self.chip.display()
            ))
        })
    }
}

impl Drop for GpioLines {
    fn drop(&mut self) {
        // Best effort: nothing sensible is left to do if this fails.
        let _ = self.set(false, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_a_missing_chip_names_chip_and_lines() {
        let err = GpioLines::open(Path::new("/dev/gpiochip-missing"), [12, 13], ["GPIO12", "GPIO13"], "piclockd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/dev/gpiochip-missing"), "{err}");
        assert!(err.contains("12") && err.contains("13"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(
            err.starts_with("cannot request GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip-missing"),
            "{err}"
        );
    }

    #[test]
    fn lines_are_described_with_their_names_when_known() {
        let chip = Path::new("/dev/gpiochip4");
        assert_eq!(
            describe_lines(chip, [12, 13], ["GPIO12", "GPIO13"]),
            "GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip4"
        );
        assert_eq!(describe_lines(chip, [17, 27], ["", ""]), "GPIO lines 17 and 27 of /dev/gpiochip4");
        assert_eq!(describe_lines(chip, [5, 6], ["GPIO5", ""]), "GPIO5 (line 5) and line 6 of /dev/gpiochip4");
    }

    #[test]
    fn opening_something_that_is_not_a_chip_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-chip");
        std::fs::write(&file, b"").unwrap();
        for path in [file.as_path(), Path::new("/dev/null")] {
            let err = GpioLines::open(path, [12, 13], ["", ""], "piclockd").unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("12") && err.contains("13"), "{err}");
        }
    }

    #[test]
    fn the_same_line_twice_is_refused() {
        let err = GpioLines::open(Path::new("/dev/gpiochip0"), [12, 12], ["GPIO12", "GPIO12"], "piclockd")
            .unwrap_err()
            .to_string();
        assert!(err.contains("same line"), "{err}");
    }
}
