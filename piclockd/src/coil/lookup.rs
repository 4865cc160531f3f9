//! Finding the coil lines: by name across every GPIO chip (the default), by
//! name on one chip, or by offset on one chip (`[gpio]` of the admin file).
//!
//! - [`resolve`]: the pure part. It finds two line names in a list of chips
//!   with their line names, and explains every way that can fail.
//! - [`read_chips`], [`read_chip`]: the thin adapter that reads those lists
//!   from `/dev/gpiochip*` with gpiocdev (chip info and line info).
//! - [`find`]: both, for a [`GpioConfig`].

use crate::admin_config::{CoilLines, GpioConfig};
use std::path::{Path, PathBuf};

/// One GPIO chip as the search sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipLines {
    /// The character device, e.g. `/dev/gpiochip0`.
    pub path: PathBuf,
    /// The chip's label, e.g. `pinctrl-bcm2835` (may be empty).
    pub label: String,
    /// The name of each line, by offset (empty for unnamed lines).
    pub names: Vec<String>,
}

/// A chip that could not be read (no permission, gone, not a GPIO device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The character device.
    pub path: PathBuf,
    /// Why, as the system said it.
    pub error: String,
    /// Refused for lack of permission (EACCES, EPERM: file mode or device cgroup).
    pub denied: bool,
}

const PERMISSION_HINT: &str = "GPIO chips need read-write access: the group gpio, and under systemd DeviceAllow=";

/// Why the coil lines were not found; the message says what to set.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No GPIO chip at all.
    #[error(
        "no GPIO character device (/dev/gpiochip*) to find {} and {} on: is this a Raspberry Pi? \
         (to run without one, try --simulate)",
        .names[0],
        .names[1]
    )]
    NoChips {
        /// The names looked for (pin A, pin B).
        names: [String; 2],
    },
    /// A name on more than one line.
    #[error(
        "GPIO line name {name:?} is ambiguous: it is {}; set [gpio] chip to the right one \
         (or give chip and offsets)",
        .places.join(" and ")
    )]
    Ambiguous {
        /// The name.
        name: String,
        /// Each line that carries it: "line 12 of /dev/gpiochip0 (pinctrl-bcm2835)".
        places: Vec<String>,
    },
    /// A name, or both, on no line of the chips that could be read.
    #[error("{}", not_found(.missing, .searched, .unreadable))]
    NotFound {
        /// The names not found, quoted.
        missing: Vec<String>,
        /// The chips searched: "/dev/gpiochip0 (pinctrl-bcm2835), 54 lines".
        searched: Vec<String>,
        /// The chips that could not be read.
        unreadable: Vec<Unreadable>,
    },
    /// The two names on different chips.
    #[error(
        "GPIO line {:?} is line {} of {} but {:?} is line {} of {}: both coil lines \
         must be on one chip",
        .names[0],
        .offsets[0],
        .chips[0],
        .names[1],
        .offsets[1],
        .chips[1]
    )]
    SplitChips {
        /// The names (pin A, pin B).
        names: [String; 2],
        /// Their offsets.
        offsets: [u32; 2],
        /// Their chips: "/dev/gpiochip0 (pinctrl-bcm2835)".
        chips: [String; 2],
    },
    /// `[gpio] chip` could not be read.
    #[error(
        "cannot read the line names of [gpio] chip {}: {}{}",
        .0.path.display(),
        .0.error,
        permission_hint(.0.denied)
    )]
    ChipUnreadable(Unreadable),
    /// The GPIO chips in `/dev` could not be listed.
    #[error("cannot list the GPIO chips in /dev: {source}")]
    ListChips {
        /// gpiocdev's error.
        #[source]
        source: gpiocdev::Error,
    },
    /// `[gpio] lines` are offsets, which need a chip.
    #[error("[gpio] lines are offsets but [gpio] chip is not set")]
    OffsetsNeedChip,
}

/// " (GPIO chips need read-write access: …)" when access was `denied`.
fn permission_hint(denied: bool) -> String {
    if denied {
        format!(" ({PERMISSION_HINT})")
    } else {
        String::new()
    }
}

/// Where the coil lines are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLines {
    /// The chip that carries both lines.
    pub chip: PathBuf,
    /// Its label (empty if unknown).
    pub label: String,
    /// The offsets of pins A and B on `chip`.
    pub offsets: [u32; 2],
    /// Their names (empty if unknown or unnamed).
    pub names: [String; 2],
    /// Chips that could not be searched (the lines were found elsewhere).
    pub not_searched: Vec<Unreadable>,
}

impl FoundLines {
    /// "GPIO12 and GPIO13 are lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)",
    /// for the log.
    pub fn describe(&self) -> String {
        let label = if self.label.is_empty() { String::new() } else { format!(" ({})", self.label) };
        let names = if self.names.iter().all(|n| !n.is_empty()) {
            format!("{} and {} are ", self.names[0], self.names[1])
        } else {
            String::new()
        };
        let mut s =
            format!("{names}lines {} and {} of {}{label}", self.offsets[0], self.offsets[1], self.chip.display());
        if !self.not_searched.is_empty() {
            s.push_str("; not searched: ");
            s.push_str(&list_unreadable(&self.not_searched));
        }
        s
    }
}

/// `/dev/gpiochip0 (pinctrl-bcm2835)`
fn chip_name(chip: &ChipLines) -> String {
    if chip.label.is_empty() {
        chip.path.display().to_string()
    } else {
        format!("{} ({})", chip.path.display(), chip.label)
    }
}

fn list_unreadable(chips: &[Unreadable]) -> String {
    let items: Vec<String> = chips.iter().map(|u| format!("{} ({})", u.path.display(), u.error)).collect();
    items.join(", ")
}

/// Finds the lines named `names` (pin A, pin B) in `chips`, the chips that
/// could be read; `unreadable` are the others, named in the errors.
///
/// Each name must be on exactly one line of one chip, and both on the same
/// chip. A chip listed twice (a symlink to another) must be removed by the
/// caller ([`read_chips`] does).
pub fn resolve(names: [&str; 2], chips: &[ChipLines], unreadable: &[Unreadable]) -> Result<FoundLines, LookupError> {
    if chips.is_empty() && unreadable.is_empty() {
        return Err(LookupError::NoChips { names: names.map(str::to_owned) });
    }
    // Every (chip, offset) that carries each name.
    let hits: Vec<Vec<(&ChipLines, u32)>> = names
        .iter()
        .map(|name| {
            chips
                .iter()
                .flat_map(|c| c.names.iter().enumerate().filter(|(_, n)| n.as_str() == *name).map(move |(o, _)| (c, o)))
                .filter_map(|(c, o)| u32::try_from(o).ok().map(|o| (c, o)))
                .collect()
        })
        .collect();
    for (name, found) in names.iter().zip(&hits) {
        if found.len() > 1 {
            let places = found.iter().map(|(c, o)| format!("line {o} of {}", chip_name(c))).collect();
            return Err(LookupError::Ambiguous { name: (*name).to_owned(), places });
        }
    }
    let missing: Vec<String> =
        names.iter().zip(&hits).filter(|(_, found)| found.is_empty()).map(|(n, _)| format!("{n:?}")).collect();
    if !missing.is_empty() {
        let searched = chips.iter().map(|c| format!("{}, {} lines", chip_name(c), c.names.len())).collect();
        return Err(LookupError::NotFound { missing, searched, unreadable: unreadable.to_vec() });
    }
    let ((chip_a, offset_a), (chip_b, offset_b)) = (hits[0][0], hits[1][0]);
    if chip_a.path != chip_b.path {
        return Err(LookupError::SplitChips {
            names: names.map(str::to_owned),
            offsets: [offset_a, offset_b],
            chips: [chip_name(chip_a), chip_name(chip_b)],
        });
    }
    Ok(FoundLines {
        chip: chip_a.path.clone(),
        label: chip_a.label.clone(),
        offsets: [offset_a, offset_b],
        names: [names[0].to_owned(), names[1].to_owned()],
        not_searched: unreadable.to_vec(),
    })
}

/// The text of [`LookupError::NotFound`].
fn not_found(missing: &[String], searched: &[String], unreadable: &[Unreadable]) -> String {
    let what = if missing.len() == 1 {
        format!("no GPIO line named {}", missing[0])
    } else {
        format!("no GPIO lines named {}", missing.join(" or "))
    };
    let mut s = if searched.is_empty() {
        format!("{what}: no GPIO chip could be read")
    } else {
        format!("{what} on {}", searched.join("; "))
    };
    if !unreadable.is_empty() {
        s.push_str(&format!("; could not read {}", list_unreadable(unreadable)));
        s.push_str(&permission_hint(unreadable.iter().any(|u| u.denied)));
    }
    s.push_str(
        "; [gpio] lines takes the line names that `gpioinfo` shows, or offsets with [gpio] chip \
         (see piclockd(8))",
    );
    s
}

/// Reads one chip's label and line names.
pub fn read_chip(path: &Path) -> Result<ChipLines, Unreadable> {
    let unreadable = |e: gpiocdev::Error| {
        let denied = matches!(&e, gpiocdev::Error::Os(errno) if errno.0 == libc::EACCES || errno.0 == libc::EPERM);
        Unreadable { path: path.to_path_buf(), error: e.to_string(), denied }
    };
    let chip = gpiocdev::Chip::from_path(path).map_err(unreadable)?;
    let info = chip.info().map_err(unreadable)?;
    let names = (0..info.num_lines)
        .map(|offset| chip.line_info(offset).map(|l| l.name))
        .collect::<Result<Vec<String>, _>>()
        .map_err(unreadable)?;
    Ok(ChipLines { path: path.to_path_buf(), label: info.label, names })
}

/// Reads every `/dev/gpiochip*` (each once, by its resolved path, in
/// number order); the chips that cannot be read are returned too, with why.
pub fn read_chips() -> Result<(Vec<ChipLines>, Vec<Unreadable>), LookupError> {
    let paths = gpiocdev::chip::chips().map_err(|source| LookupError::ListChips { source })?;
    let mut chips = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        match read_chip(&path) {
            Ok(c) => chips.push(c),
            Err(u) => unreadable.push(u),
        }
    }
    Ok((chips, unreadable))
}

/// Where the lines of `config` are. Names are looked up on `config.chip`,
/// or on every chip; offsets are taken as they are (the chip's label and
/// line names are added when the chip can be read, for the log).
pub fn find(config: &GpioConfig) -> Result<FoundLines, LookupError> {
    match (&config.lines, &config.chip) {
        (CoilLines::Names(names), chip) => {
            let (chips, unreadable) = match chip {
                Some(path) => (vec![read_chip(path).map_err(LookupError::ChipUnreadable)?], Vec::new()),
                None => read_chips()?,
            };
            resolve([&names[0], &names[1]], &chips, &unreadable)
        }
        (CoilLines::Offsets(offsets), Some(path)) => {
            let chip = read_chip(path).ok();
            let name =
                |o: u32| chip.as_ref().and_then(|c| c.names.get(usize::try_from(o).ok()?)).cloned().unwrap_or_default();
            Ok(FoundLines {
                chip: path.clone(),
                label: chip.as_ref().map(|c| c.label.clone()).unwrap_or_default(),
                offsets: *offsets,
                names: [name(offsets[0]), name(offsets[1])],
                not_searched: Vec::new(),
            })
        }
        (CoilLines::Offsets(_), None) => Err(LookupError::OffsetsNeedChip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chip with `n` lines named `prefix0..`, and `named` put at their offsets.
    fn chip(path: &str, label: &str, n: usize, prefix: &str, named: &[(usize, &str)]) -> ChipLines {
        let mut names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
        for (o, name) in named {
            names[*o] = (*name).to_owned();
        }
        ChipLines { path: PathBuf::from(path), label: label.to_owned(), names }
    }

    /// The BCM2835 as the Pi 3's device tree names it: header lines `GPIOn`.
    fn bcm2835() -> ChipLines {
        chip("/dev/gpiochip0", "pinctrl-bcm2835", 54, "GPIO", &[(0, "ID_SDA"), (1, "ID_SCL"), (2, "SDA1")])
    }

    const COIL: [&str; 2] = ["GPIO12", "GPIO13"];

    #[test]
    fn found_on_gpiochip0() {
        let exp = chip("/dev/gpiochip1", "raspberrypi-exp-gpio", 8, "", &[(0, "BT_ON"), (2, "STATUS_LED")]);
        let f = resolve(COIL, &[bcm2835(), exp], &[]).unwrap();
        assert_eq!((f.chip.as_path(), f.offsets), (Path::new("/dev/gpiochip0"), [12, 13]));
        assert_eq!(f.label, "pinctrl-bcm2835");
        assert_eq!(f.names, ["GPIO12", "GPIO13"]);
        assert_eq!(f.describe(), "GPIO12 and GPIO13 are lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)");
        // Pin order follows the names, not the offsets.
        let f = resolve(["GPIO13", "GPIO12"], &[bcm2835()], &[]).unwrap();
        assert_eq!(f.offsets, [13, 12]);
    }

    #[test]
    fn found_on_the_rp1_of_a_pi5_that_is_not_gpiochip0() {
        // Early Pi 5 kernels: four brcmstb chips first, the RP1 (header) as gpiochip4.
        let chips = [
            chip("/dev/gpiochip0", "gpio-brcmstb@107d508500", 32, "", &[(20, "PWR_GPIO"), (12, "RP1_SDA")]),
            chip("/dev/gpiochip1", "gpio-brcmstb@107d508520", 4, "", &[]),
            chip("/dev/gpiochip2", "gpio-brcmstb@107d517c00", 17, "", &[]),
            chip("/dev/gpiochip3", "gpio-brcmstb@107d517c20", 6, "", &[]),
            chip("/dev/gpiochip4", "pinctrl-rp1", 54, "GPIO", &[(28, "PCIE_RP1_WAKE")]),
        ];
        let f = resolve(COIL, &chips, &[]).unwrap();
        assert_eq!((f.chip.as_path(), f.offsets), (Path::new("/dev/gpiochip4"), [12, 13]));
        assert_eq!(f.describe(), "GPIO12 and GPIO13 are lines 12 and 13 of /dev/gpiochip4 (pinctrl-rp1)");
        // The lines can sit at any offset.
        let odd = chip("/dev/gpiochip7", "gpio-sim", 4, "", &[(3, "GPIO12"), (1, "GPIO13")]);
        let f = resolve(COIL, &[odd], &[]).unwrap();
        assert_eq!(f.offsets, [3, 1]);
    }

    #[test]
    fn the_two_names_on_different_chips() {
        let a = chip("/dev/gpiochip0", "a", 4, "", &[(1, "GPIO12")]);
        let b = chip("/dev/gpiochip2", "b", 4, "", &[(2, "GPIO13")]);
        let e = resolve(COIL, &[a, b], &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "GPIO line \"GPIO12\" is line 1 of /dev/gpiochip0 (a) but \"GPIO13\" is line 2 of \
             /dev/gpiochip2 (b): both coil lines must be on one chip"
        );
    }

    #[test]
    fn a_name_not_found_lists_the_chips_searched() {
        let other = chip("/dev/gpiochip1", "raspberrypi-exp-gpio", 8, "", &[]);
        let mut no13 = bcm2835();
        no13.names[13] = "SPARE".to_owned();
        let e = resolve(COIL, &[no13, other], &[]).unwrap_err().to_string();
        assert!(e.starts_with("no GPIO line named \"GPIO13\" on /dev/gpiochip0 (pinctrl-bcm2835), 54 lines; "), "{e}");
        assert!(e.contains("/dev/gpiochip1 (raspberrypi-exp-gpio), 8 lines"), "{e}");
        assert!(e.contains("gpioinfo") && e.contains("[gpio] chip"), "{e}");
        assert!(!e.contains("could not read"), "{e}");
        let e = resolve(["MOTOR_A", "MOTOR_B"], &[bcm2835()], &[]).unwrap_err().to_string();
        assert!(e.starts_with("no GPIO lines named \"MOTOR_A\" or \"MOTOR_B\" on /dev/gpiochip0"), "{e}");
    }

    #[test]
    fn unreadable_chips_are_named_when_the_lines_are_not_found() {
        let denied =
            Unreadable { path: "/dev/gpiochip4".into(), error: "Permission denied (os error 13)".into(), denied: true };
        let other = chip("/dev/gpiochip0", "gpio-brcmstb@107d508500", 32, "", &[]);
        let e = resolve(COIL, &[other], std::slice::from_ref(&denied)).unwrap_err().to_string();
        assert!(e.starts_with("no GPIO lines named \"GPIO12\" or \"GPIO13\" on /dev/gpiochip0"), "{e}");
        assert!(e.contains("could not read /dev/gpiochip4 (Permission denied (os error 13))"), "{e}");
        assert!(e.contains("group gpio") && e.contains("DeviceAllow="), "{e}");
        // Nothing readable at all.
        let e = resolve(COIL, &[], std::slice::from_ref(&denied)).unwrap_err().to_string();
        assert!(e.starts_with("no GPIO lines named \"GPIO12\" or \"GPIO13\": no GPIO chip could be read;"), "{e}");
        assert!(e.contains("/dev/gpiochip4 (Permission denied"), "{e}");
        // Found elsewhere: the unreadable chip is only mentioned in the log line.
        let f = resolve(COIL, &[bcm2835()], std::slice::from_ref(&denied)).unwrap();
        assert_eq!(f.offsets, [12, 13]);
        assert!(f.describe().ends_with("; not searched: /dev/gpiochip4 (Permission denied (os error 13))"));
    }

    #[test]
    fn a_name_present_twice_is_ambiguous() {
        // On two chips.
        let twin = chip("/dev/gpiochip5", "gpio-sim", 16, "GPIO", &[]);
        let e = resolve(COIL, &[bcm2835(), twin], &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "GPIO line name \"GPIO12\" is ambiguous: it is line 12 of /dev/gpiochip0 (pinctrl-bcm2835) and \
             line 12 of /dev/gpiochip5 (gpio-sim); set [gpio] chip to the right one (or give chip and offsets)"
        );
        // Twice on one chip.
        let twice = chip("/dev/gpiochip0", "", 20, "GPIO", &[(19, "GPIO13")]);
        let e = resolve(COIL, &[twice], &[]).unwrap_err().to_string();
        assert!(e.starts_with("GPIO line name \"GPIO13\" is ambiguous: it is line 13 of /dev/gpiochip0 and line 19"));
    }

    #[test]
    fn no_chips_at_all() {
        let e = resolve(COIL, &[], &[]).unwrap_err().to_string();
        assert!(e.contains("no GPIO character device (/dev/gpiochip*)"), "{e}");
        assert!(e.contains("is this a Raspberry Pi?") && e.contains("--simulate"), "{e}");
    }

    #[test]
    fn a_chip_gone_is_not_a_permission_problem() {
        let gone =
            Unreadable { path: "/dev/gpiochip2".into(), error: "No such file or directory".into(), denied: false };
        let e = resolve(["X", "Y"], &[bcm2835()], &[gone]).unwrap_err().to_string();
        assert!(e.contains("could not read /dev/gpiochip2 (No such file or directory)"), "{e}");
        assert!(!e.contains("group gpio"), "{e}");
    }

    #[test]
    fn the_default_search_on_a_machine_without_gpio() {
        // Only where there is no GPIO chip (like the build machines); a Pi finds its lines.
        if gpiocdev::chip::chips().is_ok_and(|c| c.is_empty()) {
            let e = find(&GpioConfig::default()).unwrap_err().to_string();
            assert!(e.starts_with("no GPIO character device (/dev/gpiochip*) to find GPIO12 and GPIO13"), "{e}");
        }
    }

    #[test]
    fn unnamed_lines_never_match() {
        let blank = chip("/dev/gpiochip0", "", 4, "", &[(0, "GPIO12")]);
        let blank = ChipLines { names: blank.names.iter().map(|_| String::new()).collect(), ..blank };
        assert!(resolve(COIL, &[blank], &[]).unwrap_err().to_string().starts_with("no GPIO lines named"));
    }

    #[test]
    fn find_with_a_missing_chip() {
        let names = GpioConfig {
            chip: Some("/dev/gpiochip-missing".into()),
            lines: CoilLines::Names(["GPIO12".into(), "GPIO13".into()]),
        };
        let e = find(&names).unwrap_err().to_string();
        assert!(e.starts_with("cannot read the line names of [gpio] chip /dev/gpiochip-missing: "), "{e}");
        assert!(!e.contains("group gpio"), "{e}");
        // Offsets are taken as given; opening the lines says what is wrong.
        let offsets = GpioConfig { chip: Some("/dev/gpiochip-missing".into()), lines: CoilLines::Offsets([12, 13]) };
        let f = find(&offsets).unwrap();
        assert_eq!((f.chip.as_path(), f.offsets), (Path::new("/dev/gpiochip-missing"), [12, 13]));
        assert_eq!(f.describe(), "lines 12 and 13 of /dev/gpiochip-missing");
        let no_chip = GpioConfig { chip: None, lines: CoilLines::Offsets([12, 13]) };
        assert!(find(&no_chip).unwrap_err().to_string().contains("[gpio] chip"));
    }
}
