//! The status side of the window: state, offset, catch-up with progress,
//! time source, NTP, RTC, position certainty, and faults shown prominently.

use gtk4::prelude::*;
use gtk4::{Align, Box as GBox, Grid, Label, Orientation, ProgressBar};
use piclock_core::dial::Dial;
use piclock_dbus::text;
use piclock_dbus::ClockState;
use piclock_dbus::Properties;

/// Whether the contract state `s` is one of catching up (hands moving to the time).
pub fn is_catching_up(s: &str) -> bool {
    [ClockState::FastForward, ClockState::Reverse, ClockState::Waiting].iter().any(|c| c.as_str() == s)
}

/// A sentence for the state, and the CSS class that colours it.
pub fn describe_state(state: &str) -> (String, &'static str) {
    let known = [
        ClockState::Ticking,
        ClockState::FastForward,
        ClockState::Reverse,
        ClockState::Waiting,
        ClockState::Paused,
        ClockState::NeedsPosition,
        ClockState::Fault,
    ]
    .into_iter()
    .find(|c| c.as_str() == state);
    match known {
        Some(ClockState::Ticking) => ("Ticking: the hands show the time".into(), "state-ok"),
        Some(ClockState::FastForward) => ("Catching up: fast-forward".into(), "state-busy"),
        Some(ClockState::Reverse) => ("Catching up: running backwards".into(), "state-busy"),
        Some(ClockState::Waiting) => ("Catching up: waiting for the time to reach the hands".into(), "state-busy"),
        Some(ClockState::Paused) => ("Paused: the hands stand still".into(), "state-warn"),
        Some(ClockState::NeedsPosition) => {
            ("Needs the hand position: use Set hands… to say what they show".into(), "state-warn")
        }
        Some(ClockState::Fault) => ("Fault: the clock cannot drive the hands".into(), "state-bad"),
        None => (format!("Unknown state {state:?}"), "state-warn"),
    }
}

/// The `Offset` property in words: `right`, `1:00:00 behind`, `0:00:05 ahead`.
pub fn format_offset(offset: i64) -> String {
    if offset == 0 {
        return "right (0 s)".to_owned();
    }
    let a = offset.unsigned_abs();
    let text = format!("{}:{:02}:{:02}", a / 3600, a / 60 % 60, a % 60);
    if offset < 0 {
        format!("{text} behind")
    } else {
        format!("{text} ahead")
    }
}

/// A time (µs since the epoch) in `zone` for display, with the zone's abbreviation.
pub fn format_time(usec: u64, zone: &str) -> String {
    let Ok(ts) = i64::try_from(usec).map_err(|_| ()).and_then(|u| jiff::Timestamp::from_microsecond(u).map_err(|_| ()))
    else {
        return "?".into();
    };
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Fraction of a catch-up done, given the remaining time and the largest
/// remaining time seen since it began.
pub fn progress(remaining: u32, start: u32) -> f64 {
    if start == 0 {
        return 1.0;
    }
    (1.0 - f64::from(remaining) / f64::from(start)).clamp(0.0, 1.0)
}

/// The status widgets.
pub struct Status {
    root: GBox,
    faults: Label,
    badge: Label,
    values: Vec<Label>,
    progress: ProgressBar,
    catch_up_start: std::cell::Cell<u32>,
}

/// Row titles, in order.
const ROWS: [&str; 12] = [
    "State",
    "Hands",
    "True time",
    "Offset",
    "Catch-up",
    "Time source",
    "NTP servers",
    "NTP",
    "RTC",
    "Dial",
    "Time zone",
    "Daemon",
];

impl Status {
    /// Empty status widgets.
    pub fn new() -> Status {
        let root = GBox::new(Orientation::Vertical, 8);
        let faults = Label::new(None);
        faults.add_css_class("faults");
        faults.set_wrap(true);
        faults.set_xalign(0.0);
        faults.set_visible(false);
        let badge = Label::new(None);
        badge.add_css_class("badge");
        badge.set_wrap(true);
        badge.set_xalign(0.0);
        let grid = Grid::builder().row_spacing(4).column_spacing(12).build();
        let mut values = Vec::new();
        for (i, title) in ROWS.iter().enumerate() {
            let t = Label::new(Some(title));
            t.set_halign(Align::End);
            t.set_valign(Align::Start);
            t.add_css_class("dim-label");
            let v = Label::new(Some("–"));
            v.set_halign(Align::Start);
            v.set_xalign(0.0);
            v.set_wrap(true);
            v.set_selectable(false);
            grid.attach(&t, 0, i as i32, 1, 1);
            grid.attach(&v, 1, i as i32, 1, 1);
            values.push(v);
        }
        let progress = ProgressBar::new();
        progress.set_show_text(true);
        progress.set_visible(false);
        // Under the catch-up row.
        grid.insert_row(5);
        grid.attach(&progress, 1, 5, 1, 1);
        root.append(&faults);
        root.append(&badge);
        root.append(&grid);
        Status { root, faults, badge, values, progress, catch_up_start: std::cell::Cell::new(0) }
    }

    /// The widget.
    pub fn widget(&self) -> &GBox {
        &self.root
    }

    fn set(&self, row: &str, text: &str) {
        if let Some(i) = ROWS.iter().position(|r| *r == row) {
            self.values[i].set_text(text);
        }
    }

    /// Shows a reading.
    pub fn update(&self, s: &Properties) {
        let dial = Dial::from_seconds(s.dial_seconds);
        // Faults.
        self.faults.set_visible(!s.faults.is_empty());
        self.faults.set_text(&format!("⚠ Faults:\n{}", s.faults.join("\n")));
        // State.
        let (sentence, class) = describe_state(&s.state);
        self.badge.set_text(&sentence);
        for c in ["state-ok", "state-busy", "state-warn", "state-bad"] {
            self.badge.remove_css_class(c);
        }
        self.badge.add_css_class(class);
        self.set("State", &s.state);
        let needs = s.state == ClockState::NeedsPosition.as_str();
        let hands = match (dial, needs) {
            (_, true) => "unknown".to_owned(),
            // A minute line's hands show hours and minutes only.
            (Some(d), false) if s.impulse() && s.step() == 60 => {
                let full = d.format(s.hand_position);
                full.rsplit_once(':').map_or(full.clone(), |(hm, _)| hm.to_owned())
            }
            (Some(d), false) => d.format(s.hand_position),
            (None, false) => s.hand_position.to_string(),
        };
        let certainty = if s.position_certain { "" } else { "  (uncertain: may be one step off)" };
        self.set("Hands", &format!("{hands}{certainty}"));
        self.set("True time", &format_time(s.time_usec, &s.timezone));
        self.set("Offset", &if needs { "unknown".to_owned() } else { format_offset(s.offset) });
        // Catch-up and its progress.
        let catching = is_catching_up(&s.state);
        if catching {
            if self.catch_up_start.get() == 0 || s.catch_up_seconds > self.catch_up_start.get() {
                self.catch_up_start.set(s.catch_up_seconds);
            }
            let done = progress(s.catch_up_seconds, self.catch_up_start.get());
            self.progress.set_fraction(done);
            self.progress.set_text(Some(&format!("{:.0} % done", done * 100.0)));
            self.set("Catch-up", &format!("right in about {}", text::duration(u64::from(s.catch_up_seconds))));
        } else {
            self.catch_up_start.set(0);
            self.set("Catch-up", if s.catch_up_seconds == 0 { "none needed" } else { "stopped" });
            if s.catch_up_seconds > 0 {
                self.set("Catch-up", &format!("{} when running", text::duration(u64::from(s.catch_up_seconds))));
            }
        }
        self.progress.set_visible(catching);
        self.set("Time source", &s.time_source);
        self.set("NTP servers", &if s.ntp_servers.is_empty() { "none".to_owned() } else { s.ntp_servers.join(", ") });
        let last = if s.last_ntp_sync_usec == 0 {
            "never".to_owned()
        } else {
            let ago = s.time_usec.saturating_sub(s.last_ntp_sync_usec) / 1_000_000;
            format!("{} ago", text::duration(ago))
        };
        self.set(
            "NTP",
            &format!(
                "{}; last good reply {last}; offset {:+.3} ms",
                if s.ntp_synchronized { "synchronized" } else { "not synchronized" },
                s.ntp_offset_usec as f64 / 1000.0
            ),
        );
        self.set(
            "RTC",
            &if s.rtc_present {
                format!("DS3231 present, {}", format_time(s.rtc_time_usec, &s.timezone))
            } else {
                "absent".to_owned()
            },
        );
        self.set("Dial", &dial.map(|d| d.to_string()).unwrap_or_else(|| format!("{} s", s.dial_seconds)));
        self.set("Time zone", &s.timezone);
        self.set("Daemon", &format!("piclockd {}", s.version));
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_well() {
        assert_eq!(format_offset(0), "right (0 s)");
        assert_eq!(format_offset(-3600), "1:00:00 behind");
        assert_eq!(format_offset(5), "0:00:05 ahead");
    }

    #[test]
    fn states_are_described_and_catch_up_recognised() {
        for s in ["fast-forward", "reverse", "waiting"] {
            assert!(is_catching_up(s));
            assert_eq!(describe_state(s).1, "state-busy");
        }
        for s in ["ticking", "paused", "needs-position", "fault"] {
            assert!(!is_catching_up(s));
        }
        assert!(describe_state("paused").0.starts_with("Paused"));
        assert_eq!(describe_state("fault").1, "state-bad");
        assert!(describe_state("mystery").0.contains("mystery"));
    }

    #[test]
    fn progress_runs_from_zero_to_one() {
        assert_eq!(progress(100, 100), 0.0);
        assert_eq!(progress(25, 100), 0.75);
        assert_eq!(progress(0, 100), 1.0);
        assert_eq!(progress(0, 0), 1.0);
        assert_eq!(progress(200, 100), 0.0);
    }

    #[test]
    fn times_show_in_the_zone() {
        let t = 1_768_471_830_000_000; // 2026-01-15T10:10:30Z
        assert_eq!(format_time(t, "UTC"), "2026-01-15 10:10:30 UTC");
        assert_eq!(format_time(t, "No/Such_Zone"), "2026-01-15 10:10:30 UTC");
    }
}
