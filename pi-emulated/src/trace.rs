//! Reading what the guest brought out: the kernel's text trace
//! (`/sys/kernel/tracing/trace` with the `gpio:gpio_value` and
//! `gpio:gpio_direction` events and the guest script's `trace_marker`
//! lines), the GPIO chips as sysfs shows them, and the daemon's log line
//! that names the coil lines.

use std::collections::BTreeMap;
use std::fmt;

/// One event of the trace, in the order the kernel printed them (time order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The trace clock (`mono` in the guest), µs.
    pub t_us: i64,
    /// What happened.
    pub kind: EventKind,
}

/// The events the checker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `gpio_value: 470 set 1`: a line was set (reads, `get`, are skipped).
    Value {
        /// The global GPIO number (chip base + offset).
        gpio: u32,
        /// The level set.
        high: bool,
    },
    /// `gpio_direction: 470 out (0)`: a line became an output (or input).
    Direction {
        /// The global GPIO number.
        gpio: u32,
        /// Output (true) or input.
        output: bool,
    },
    /// `tracing_mark_write: pe: ...`: a line of the guest script (the
    /// text after `pe: `).
    Mark(Mark),
}

/// A marker written by the guest script: `pe: <verb> key=value ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The first word, e.g. `belief`.
    pub verb: String,
    /// The `key=value` words.
    pub fields: BTreeMap<String, String>,
}

impl Mark {
    /// Parses `belief pos=3600 certain=true`; None for an empty line.
    pub fn parse(text: &str) -> Option<Mark> {
        let mut words = text.split_whitespace();
        let verb = words.next()?.to_owned();
        let fields = words.filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Some(Mark { verb, fields })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// The value of `key` as a number.
    pub fn num(&self, key: &str) -> Option<i64> {
        self.get(key)?.parse().ok()
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.verb)?;
        for (k, v) in &self.fields {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// A parsed trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in time order.
    pub events: Vec<Event>,
    /// `entries-in-buffer/entries-written` from the header: unequal when
    /// the ring buffer overflowed and lost events.
    pub entries: Option<(u64, u64)>,
}

/// Parses `12.345678` (seconds with up to 9 decimals) into µs, exactly.
fn parse_timestamp(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut micros = 0i64;
    for (i, b) in frac.bytes().take(6).enumerate() {
        micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

/// Splits a trace line at ` name: ` into (timestamp in µs, the rest).
fn split_event<'a>(line: &'a str, name: &str) -> Option<(i64, &'a str)> {
    let (head, rest) = line.split_once(&format!(": {name}: "))?;
    let t = parse_timestamp(head.split_whitespace().last()?)?;
    Some((t, rest))
}

/// Parses one line of the trace; None for lines of other events and comments.
pub fn parse_line(line: &str) -> Option<Result<Event, String>> {
    let bad = || Err(format!("cannot read trace line {line:?}"));
    if let Some((t_us, rest)) = split_event(line, "gpio_value") {
        let w: Vec<&str> = rest.split_whitespace().collect();
        return Some(match w.as_slice() {
            [_, "get", _] => return None,
            [gpio, "set", v] => match (gpio.parse(), v.parse::<i64>()) {
                (Ok(gpio), Ok(v)) => Ok(Event { t_us, kind: EventKind::Value { gpio, high: v != 0 } }),
                _ => bad(),
            },
            _ => bad(),
        });
    }
    if let Some((t_us, rest)) = split_event(line, "gpio_direction") {
        let w: Vec<&str> = rest.split_whitespace().collect();
        return Some(match w.as_slice() {
            [gpio, dir, ..] => match gpio.parse() {
                Ok(gpio) => Ok(Event { t_us, kind: EventKind::Direction { gpio, output: *dir == "out" } }),
                Err(_) => bad(),
            },
            _ => bad(),
        });
    }
    let (t_us, rest) = split_event(line, "tracing_mark_write")?;
    let mark = Mark::parse(rest.trim().strip_prefix("pe: ")?)?;
    Some(Ok(Event { t_us, kind: EventKind::Mark(mark) }))
}

/// Parses a whole trace (the `trace` file's text).
pub fn parse(text: &str) -> Result<Trace, String> {
    let mut trace = Trace::default();
    for line in text.lines() {
        if let Some(counts) = line.strip_prefix("# entries-in-buffer/entries-written: ") {
            let counts = counts.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = counts.split_once('/') {
                trace.entries = a.parse().ok().zip(b.parse().ok());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(event) = parse_line(line) {
            trace.events.push(event?);
        }
    }
    if trace.events.windows(2).any(|w| w[1].t_us < w[0].t_us) {
        return Err("the trace is not in time order".into());
    }
    Ok(trace)
}

/// A GPIO chip as the guest's sysfs showed it (`chips.txt`, one line each:
/// `dev=gpiochip0 label=pinctrl-bcm2835 base=458 ngpio=54`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// The character device's name, e.g. `gpiochip0`.
    pub dev: String,
    /// The chip's label.
    pub label: String,
    /// Its first global GPIO number.
    pub base: u32,
    /// Its number of lines.
    pub ngpio: u32,
}

/// Parses `chips.txt`.
pub fn parse_chips(text: &str) -> Result<Vec<Chip>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let m = Mark::parse(&format!("chip {l}")).ok_or_else(|| format!("bad chip line {l:?}"))?;
            let num = |k: &str| m.num(k).and_then(|n| u32::try_from(n).ok());
            match (m.get("dev"), m.get("label"), num("base"), num("ngpio")) {
                (Some(dev), Some(label), Some(base), Some(ngpio)) => {
                    Ok(Chip { dev: dev.to_owned(), label: label.to_owned(), base, ngpio })
                }
                _ => Err(format!("bad chip line {l:?}: needs dev=, label=, base=, ngpio=")),
            }
        })
        .collect()
}

/// The coil lines as the daemon logged them at start: `coil: GPIO12 and
/// GPIO13 are lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoilLines {
    /// The names the lines were found by.
    pub names: [String; 2],
    /// Their offsets, pin A then pin B.
    pub offsets: [u32; 2],
    /// The chip's device, e.g. `/dev/gpiochip0`.
    pub chip: String,
}

/// Removes the terminal colour sequences of a log line.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Finds the `coil:` line in a daemon log.
pub fn coil_lines(log: &str) -> Option<CoilLines> {
    log.lines().find_map(|l| {
        let l = strip_ansi(l);
        let rest = l.split_once("coil: ")?.1;
        let w: Vec<&str> = rest.split_whitespace().collect();
        match w.as_slice() {
            [a, "and", b, "are", "lines", oa, "and", ob, "of", chip, ..] => Some(CoilLines {
                names: [(*a).to_owned(), (*b).to_owned()],
                offsets: [oa.parse().ok()?, ob.parse().ok()?],
                chip: (*chip).to_owned(),
            }),
            _ => None,
        }
    })
}

/// The global GPIO numbers of `lines` on `chips`, pin A then pin B.
pub fn global_numbers(lines: &CoilLines, chips: &[Chip]) -> Result<[u32; 2], String> {
    let dev = lines.chip.trim_start_matches("/dev/");
    let chip = chips.iter().find(|c| c.dev == dev).ok_or_else(|| format!("no chip {dev} in chips.txt"))?;
    let global = |o: u32| {
        if o < chip.ngpio {
            Ok(chip.base + o)
        } else {
            Err(format!("{} has no line {o}", chip.dev))
        }
    };
    Ok([global(lines.offsets[0])?, global(lines.offsets[1])?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_directions_and_marks() {
        let text = "\
# tracer: nop
#
# entries-in-buffer/entries-written: 5/5   #P:4
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
        piclockd-132     [001] .....     3.185651: gpio_value: 470 set 0
        piclockd-132     [001] .....     3.185651: gpio_direction: 470 out (0)
   piclockd-tick-138     [003] d..1.    12.000007: gpio_value: 471 set 1
   piclockd-tick-138     [003] .....    12.000008: gpio_value: 471 get 1
           <...>-140     [000] .....    12.500000: tracing_mark_write: pe: belief pos=3600 certain=true
";
        let t = parse(text).unwrap();
        assert_eq!(t.entries, Some((5, 5)));
        assert_eq!(t.events.len(), 4);
        assert_eq!(t.events[0], Event { t_us: 3_185_651, kind: EventKind::Value { gpio: 470, high: false } });
        assert_eq!(t.events[1].kind, EventKind::Direction { gpio: 470, output: true });
        assert_eq!(t.events[2], Event { t_us: 12_000_007, kind: EventKind::Value { gpio: 471, high: true } });
        let EventKind::Mark(m) = &t.events[3].kind else { panic!("{:?}", t.events[3]) };
        assert_eq!((m.verb.as_str(), m.num("pos"), m.get("certain")), ("belief", Some(3600), Some("true")));
        assert_eq!(m.to_string(), "belief certain=true pos=3600");
    }

    #[test]
    fn refuses_garbage_and_disorder() {
        assert!(parse("  x-1 [000] ..... 1.000000: gpio_value: 470 set\n").is_err());
        let disorder =
            "  x-1 [000] ..... 2.000000: gpio_value: 470 set 1\n  x-1 [000] ..... 1.000000: gpio_value: 470 set 0\n";
        assert!(parse(disorder).is_err());
        assert_eq!(parse_timestamp("1.5"), Some(1_500_000));
        assert_eq!(parse_timestamp("0.000001"), Some(1));
        assert_eq!(parse_timestamp("1.x"), None);
    }

    #[test]
    fn chips_and_coil_lines_give_global_numbers() {
        let chips = parse_chips(
            "dev=gpiochip1 label=raspberrypi-exp-gpio base=450 ngpio=8\ndev=gpiochip0 label=pinctrl-bcm2835 base=458 ngpio=54\n",
        )
        .unwrap();
        let log = "\u{1b}[2m2026-12-01T00:58:52.213283Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m coil: GPIO12 and GPIO13 are lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)\n";
        let lines = coil_lines(log).unwrap();
        assert_eq!(lines.names, ["GPIO12".to_owned(), "GPIO13".to_owned()]);
        assert_eq!(global_numbers(&lines, &chips).unwrap(), [470, 471]);
        let far = CoilLines { offsets: [12, 60], ..lines };
        assert!(global_numbers(&far, &chips).is_err());
        assert!(parse_chips("dev=gpiochip0 base=1\n").is_err());
    }
}
