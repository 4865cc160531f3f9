//! `piclockctl status`: right-aligned labels like timedatectl, or one JSON
//! object with stable keys (`--json`, keys listed in `docs/src/reference/piclockctl.md`).

use crate::failure::Failure;
use crate::Ctx;
use piclock_core::dial::Dial;
use piclock_dbus::text;
use piclock_dbus::{ClockState, Properties};
use serde_json::json;

/// Everything `status` shows, read from the daemon: the contract crate's
/// [`Properties`], shared with the panel.
#[derive(Debug, Clone)]
pub struct Status(pub Properties);

impl std::ops::Deref for Status {
    type Target = Properties;
    fn deref(&self) -> &Properties {
        &self.0
    }
}

impl Status {
    /// Reads every property (together: about one round trip).
    pub async fn read(ctx: &Ctx) -> Result<Status, Failure> {
        ctx.properties().await.map(Status)
    }

    fn dial(&self) -> Dial {
        Dial::from_seconds(self.dial_seconds).unwrap_or(Dial::TWELVE_HOUR)
    }

    fn position_known(&self) -> bool {
        self.state != ClockState::NeedsPosition.as_str()
    }

    /// Whether the clock is a minute line: its hands show `H:MM`.
    fn minute_line(&self) -> bool {
        self.impulse() && self.step() == 60
    }

    /// The hands as `H:MM:SS` (`H:MM` on a minute line), or `None` while
    /// the position is unknown.
    pub fn hands(&self) -> Option<String> {
        let full = self.dial().format(self.hand_position);
        let shown = match full.rsplit_once(':') {
            Some((hm, _)) if self.minute_line() => hm.to_owned(),
            _ => full,
        };
        self.position_known().then_some(shown)
    }

    /// The impulse line's row: its step and impulses (`None` for quartz).
    fn movement_text(&self) -> Option<String> {
        if !self.impulse() {
            return None;
        }
        let step = match self.step() {
            60 => "a minute line (a step every 60 s)".to_owned(),
            30 => "a half-minute line (a step every 30 s)".to_owned(),
            s => format!("a {s}-second line (a step every {s} s)"),
        };
        let timing = match self.pulse() {
            Ok(c) => {
                format!("; impulses of {} ms, at least {} ms apart (as configured)", c.impulse_ms, c.impulse_gap_ms)
            }
            Err(_) => String::new(),
        };
        Some(format!("impulse, {step}{timing}"))
    }

    /// The labelled rows of the human-readable status.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let zone = zone(&self.timezone);
        let mut rows = Vec::new();
        let hands = match self.hands() {
            None if self.minute_line() => {
                "unknown — tell the daemon where they point: piclockctl set-hands H:MM".to_owned()
            }
            None => "unknown — tell the daemon where they point: piclockctl set-hands H:MM:SS".to_owned(),
            Some(h) if self.position_certain => h,
            Some(h) => format!("{h} (in doubt by one step: check the clock and run piclockctl set-hands)"),
        };
        rows.push(("Hands", hands));
        if let Some(m) = self.movement_text() {
            rows.push(("Movement", m));
        }
        rows.push(("Local time", local_time(self.time_usec, &zone)));
        rows.push(("Time zone", zone_text(self.time_usec, &self.timezone, &zone)));
        rows.push(("State", self.state.clone()));
        if self.position_known() {
            rows.push(("Offset", offset_text(self.offset)));
            rows.push(("Catch-up", catch_up_text(self.catch_up_seconds, self.time_usec, &zone)));
        }
        rows.push(("Position certain", yes_no(self.position_certain && self.position_known())));
        rows.push(("Time source", self.time_source.clone()));
        let servers = if self.ntp_servers.is_empty() { "none".to_owned() } else { self.ntp_servers.join(", ") };
        rows.push(("NTP servers", servers));
        rows.push(("NTP synchronized", yes_no(self.ntp_synchronized)));
        if self.last_ntp_sync_usec > 0 {
            let ago = self.time_usec.saturating_sub(self.last_ntp_sync_usec) / 1_000_000;
            rows.push((
                "Last NTP sync",
                format!("{} ({} ago)", local_time(self.last_ntp_sync_usec, &zone), text::duration(ago)),
            ));
            rows.push(("NTP offset", format!("{:+.3} ms (system clock minus NTP)", self.ntp_offset_usec as f64 / 1e3)));
        } else {
            rows.push(("Last NTP sync", "never".to_owned()));
        }
        rows.push(("RTC time", self.rtc_text(&zone)));
        rows.push((
            "Ticks",
            format!(
                "{} since start, {} late (worst {:.1} ms)",
                self.tick_count,
                self.late_tick_count,
                self.max_tick_late_usec as f64 / 1e3
            ),
        ));
        if !self.tick_scheduling.is_empty() {
            rows.push(("Scheduling", self.tick_scheduling.clone()));
        }
        if !self.sensors_configured.is_empty() {
            rows.extend(self.sensor_rows(&zone));
        }
        if self.faults.is_empty() {
            rows.push(("Faults", "none".to_owned()));
        }
        for f in &self.faults {
            rows.push(("Fault", f.clone()));
        }
        rows.push(("Daemon version", self.version.clone()));
        rows
    }

    /// The hand sensors' rows: which, their windows, the last check, the corrections.
    fn sensor_rows(&self, zone: &jiff::tz::TimeZone) -> Vec<(&'static str, String)> {
        let sensors: Vec<String> = self.sensors_configured.iter().map(|name| self.sensor_text(name)).collect();
        let check = match self.last_sensor_check_usec {
            0 => "never".to_owned(),
            t => {
                format!(
                    "{} ({} ago)",
                    local_time(t, zone),
                    text::duration(self.time_usec.saturating_sub(t) / 1_000_000)
                )
            }
        };
        vec![
            ("Hand sensors", sensors.join("; ")),
            ("Last sensor check", check),
            ("Sensor corrections", format!("{} since start", self.sensor_corrections)),
        ]
    }

    /// `seconds (window 3 steps from -1 s, learned)`, `noon (learning: 1 of 3 passes)`.
    fn sensor_text(&self, name: &str) -> String {
        let key = |k: &str| format!("{name}_{k}");
        let source = self.window_text(&key("source")).unwrap_or_default();
        let number = |k: &str| self.window_number(&key(k));
        match (number("width"), number("offset")) {
            (Some(width), Some(offset)) => {
                let tolerance = match number("tolerance") {
                    Some(t) if t > 0 => format!(" ±{t}"),
                    _ => String::new(),
                };
                format!("{name} (window {width} steps from {offset:+} s{tolerance}, {source})")
            }
            _ => format!("{name} (learning: {} of 3 passes)", number("passes").unwrap_or(0)),
        }
    }

    /// The RTC row: its time (or why there is none) and the path it is
    /// read through, `Tue 2026-11-24 10:08:17 CET via /dev/rtc1 (kernel
    /// driver rtc-ds1307, read-only)`.
    fn rtc_text(&self, zone: &jiff::tz::TimeZone) -> String {
        let device = &self.rtc_device;
        match (self.rtc_present, self.rtc_time_usec, device.is_empty()) {
            (false, _, true) => "absent".to_owned(),
            (false, _, false) => format!("not answering via {device}"),
            (true, 0, true) => "not trusted (it lost power)".to_owned(),
            (true, 0, false) => format!("not trusted (it lost power) via {device}"),
            (true, t, true) => local_time(t, zone),
            (true, t, false) => format!("{} via {device}", local_time(t, zone)),
        }
    }

    /// The status as one JSON object (stable keys).
    pub fn json(&self) -> serde_json::Value {
        let zone = zone(&self.timezone);
        json!({
            "version": self.version,
            "dial_seconds": self.dial_seconds,
            "hands": self.hands(),
            "hand_position": self.hand_position,
            "position_certain": self.position_certain,
            "state": self.state,
            "offset_s": self.offset,
            "catch_up_s": self.catch_up_seconds,
            "timezone": self.timezone,
            "time_usec": self.time_usec,
            "local_time": rfc3339(self.time_usec, &zone),
            "time_source": self.time_source,
            "ntp_servers": self.ntp_servers,
            "ntp_synchronized": self.ntp_synchronized,
            "last_ntp_sync_usec": self.last_ntp_sync_usec,
            "ntp_offset_usec": self.ntp_offset_usec,
            "rtc_present": self.rtc_present,
            "rtc_time_usec": self.rtc_time_usec,
            "rtc_device": self.rtc_device,
            "tick_count": self.tick_count,
            "late_tick_count": self.late_tick_count,
            "max_tick_late_usec": self.max_tick_late_usec,
            "tick_scheduling": self.tick_scheduling,
            "faults": self.faults,
            "sensors": self.sensors_configured,
            "last_sensor_check_usec": self.last_sensor_check_usec,
            "sensor_corrections": self.sensor_corrections,
            "movement_kind": if self.impulse() { "impulse" } else { "quartz" },
            "step_seconds": self.step(),
        })
    }
}

/// Lines of `label: value` with the labels right-aligned.
pub fn render(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:>width$}: {v}\n")).collect()
}

/// Prints the status.
pub async fn print(ctx: &Ctx, json: bool) -> Result<(), Failure> {
    let status = Status::read(ctx).await?;
    if json {
        println!("{}", status.json());
    } else {
        print!("{}", render(&status.rows()));
    }
    Ok(())
}

fn zone(name: &str) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
}

fn timestamp(usec: u64) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_microsecond(i64::try_from(usec).ok()?).ok()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// `Tue 2026-11-24 10:08:17 CET`.
pub fn local_time(usec: u64, zone: &jiff::tz::TimeZone) -> String {
    match timestamp(usec) {
        Some(ts) => ts.to_zoned(zone.clone()).strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string(),
        None => "n/a".to_owned(),
    }
}

fn rfc3339(usec: u64, zone: &jiff::tz::TimeZone) -> Option<String> {
    timestamp(usec).map(|ts| ts.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

fn zone_text(usec: u64, name: &str, zone: &jiff::tz::TimeZone) -> String {
    match timestamp(usec) {
        Some(ts) => format!("{name} ({})", ts.to_zoned(zone.clone()).strftime("%Z, %z")),
        None => name.to_owned(),
    }
}

/// `-2 s (hands behind)`.
pub fn offset_text(offset: i64) -> String {
    match offset {
        0 => "0 s (right)".to_owned(),
        o if o < 0 => format!("{o} s (hands behind by {})", text::duration(o.unsigned_abs())),
        o => format!("+{o} s (hands ahead by {})", text::duration(o.unsigned_abs())),
    }
}

fn catch_up_text(seconds: u32, now_usec: u64, zone: &jiff::tz::TimeZone) -> String {
    if seconds == 0 {
        return "none needed".to_owned();
    }
    let eta = now_usec.saturating_add(u64::from(seconds) * 1_000_000);
    let eta = timestamp(eta).map(|ts| ts.to_zoned(zone.clone()).strftime("%H:%M:%S").to_string());
    format!("{} (right at {})", text::duration(u64::from(seconds)), eta.unwrap_or_else(|| "n/a".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status(Properties {
            version: "0.1.0".into(),
            hand_position: 10 * 3600 + 8 * 60 + 15,
            state: "fast-forward".into(),
            offset: -125,
            catch_up_seconds: 42,
            timezone: "Europe/Berlin".into(),
            // 2026-11-24T09:08:17Z = 10:08:17 CET.
            time_usec: 1_795_511_297_000_000,
            time_source: "ntp".into(),
            ntp_servers: vec!["127.0.0.1:123".into()],
            ntp_synchronized: true,
            last_ntp_sync_usec: 1_795_511_177_000_000,
            ntp_offset_usec: -1234,
            tick_count: 7,
            max_tick_late_usec: 150,
            tick_scheduling: "SCHED_FIFO priority 50; memory locked".into(),
            ..Properties::default()
        })
    }

    #[test]
    fn a_minute_line_shows_hours_and_minutes_and_its_movement() {
        let quartz = render(&sample().rows());
        assert!(quartz.contains("Hands: 10:08:15") && !quartz.contains("Movement"), "{quartz}");
        let mut s = sample();
        s.0.movement_kind = "impulse".into();
        s.0.step_seconds = 60;
        s.0.hand_position = 10 * 3600 + 8 * 60;
        let text = render(&s.rows());
        assert!(text.contains("Hands: 10:08\n"), "{text}");
        assert!(text.contains("Movement: impulse, a minute line (a step every 60 s); impulses of 1000 ms"), "{text}");
        assert_eq!(s.json()["hands"], "10:08");
        assert_eq!(
            (s.json()["movement_kind"].as_str(), s.json()["step_seconds"].as_u64()),
            (Some("impulse"), Some(60))
        );
        s.0.state = "needs-position".into();
        assert!(render(&s.rows()).contains("piclockctl set-hands H:MM\n"));
        // A second line keeps the seconds.
        s.0.step_seconds = 1;
        s.0.state = "ticking".into();
        assert!(render(&s.rows()).contains("Hands: 10:08:00"));
        assert_eq!(sample().json()["movement_kind"], "quartz");
    }

    #[test]
    fn sensor_rows_show_the_windows_the_last_check_and_the_corrections() {
        let text = render(&sample().rows());
        assert!(!text.contains("sensor"), "no sensor, no rows: {text}");
        let mut s = sample();
        s.0.sensors_configured = vec!["seconds".into(), "noon".into()];
        s.0.last_sensor_check_usec = s.0.time_usec - 12_000_000;
        s.0.sensor_corrections = 3;
        let v = |x: &str| zbus::zvariant::OwnedValue::try_from(zbus::zvariant::Value::from(x)).expect("str");
        s.0.sensor_window = [
            ("seconds_source".to_owned(), v("learned")),
            ("seconds_offset".to_owned(), zbus::zvariant::OwnedValue::from(-1i32)),
            ("seconds_width".to_owned(), zbus::zvariant::OwnedValue::from(3u32)),
            ("seconds_tolerance".to_owned(), zbus::zvariant::OwnedValue::from(1u32)),
            ("noon_source".to_owned(), v("learning")),
            ("noon_passes".to_owned(), zbus::zvariant::OwnedValue::from(1u32)),
        ]
        .into_iter()
        .collect();
        let text = render(&s.rows());
        assert!(
            text.contains(
                "      Hand sensors: seconds (window 3 steps from -1 s ±1, learned); noon (learning: 1 of 3 passes)\n"
            ),
            "{text}"
        );
        assert!(text.contains(" Last sensor check: Tue 2026-11-24 10:08:05 CET (12 s ago)\n"), "{text}");
        assert!(text.contains("Sensor corrections: 3 since start\n"), "{text}");
        let j = s.json();
        assert_eq!((j["sensors"][1].as_str(), j["sensor_corrections"].as_u64()), (Some("noon"), Some(3)));
    }

    #[test]
    fn rows_read_like_timedatectl() {
        let text = render(&sample().rows());
        assert!(text.contains("           Hands: 10:08:15\n"), "{text}");
        assert!(text.contains("      Local time: Tue 2026-11-24 10:08:17 CET\n"), "{text}");
        assert!(text.contains("       Time zone: Europe/Berlin (CET, +0100)\n"), "{text}");
        assert!(text.contains("          Offset: -125 s (hands behind by 2 min 5 s)\n"), "{text}");
        assert!(text.contains("        Catch-up: 42 s (right at 10:08:59)\n"), "{text}");
        assert!(text.contains("   Last NTP sync: Tue 2026-11-24 10:06:17 CET (2 min 0 s ago)\n"), "{text}");
        assert!(text.contains("      NTP offset: -1.234 ms"), "{text}");
        assert!(text.contains("        RTC time: absent\n"), "{text}");
        assert!(text.contains("          Faults: none\n"), "{text}");
        assert!(text.contains("      Scheduling: SCHED_FIFO priority 50; memory locked\n"), "{text}");
    }

    #[test]
    fn the_rtc_row_says_which_path_is_in_use() {
        let row = |present: bool, usec: u64, device: &str| {
            let mut s = sample();
            (s.0.rtc_present, s.0.rtc_time_usec, s.0.rtc_device) = (present, usec, device.to_owned());
            let text = render(&s.rows());
            let line = text.lines().find(|l| l.contains("RTC time:")).expect("an RTC row").to_owned();
            assert_eq!(s.json()["rtc_device"], device);
            line
        };
        let kernel = "/dev/rtc1 (kernel driver rtc-ds1307, read-only)";
        let i2c = "DS3231 at 0x68 on /dev/i2c-1 (i2c-dev)";
        let t = 1_795_511_297_000_000;
        assert_eq!(row(true, t, kernel), format!("        RTC time: Tue 2026-11-24 10:08:17 CET via {kernel}"));
        assert_eq!(row(true, t, i2c), format!("        RTC time: Tue 2026-11-24 10:08:17 CET via {i2c}"));
        assert_eq!(row(true, 0, i2c), format!("        RTC time: not trusted (it lost power) via {i2c}"));
        assert_eq!(row(false, 0, kernel), format!("        RTC time: not answering via {kernel}"));
        assert_eq!(row(false, 0, ""), "        RTC time: absent");
        // A daemon older than RTCDevice.
        assert_eq!(row(true, t, ""), "        RTC time: Tue 2026-11-24 10:08:17 CET");
    }

    #[test]
    fn unknown_position_and_faults_are_prominent() {
        let mut s = sample();
        s.0.state = "needs-position".into();
        s.0.position_certain = false;
        s.0.faults = vec!["rtc: no answer".into()];
        let text = render(&s.rows());
        assert!(text.contains("Hands: unknown — tell the daemon"), "{text}");
        assert!(!text.contains("Offset:"), "no offset without a position: {text}");
        assert!(text.contains("Fault: rtc: no answer"), "{text}");
        let j = s.json();
        assert_eq!(j["hands"], serde_json::Value::Null);
        assert_eq!(j["faults"][0], "rtc: no answer");
    }

    #[test]
    fn json_keys_are_stable() {
        let j = sample().json();
        let keys: Vec<&str> = j.as_object().expect("object").keys().map(String::as_str).collect();
        let mut expected = vec![
            "version",
            "dial_seconds",
            "hands",
            "hand_position",
            "position_certain",
            "state",
            "offset_s",
            "catch_up_s",
            "timezone",
            "time_usec",
            "local_time",
            "time_source",
            "ntp_servers",
            "ntp_synchronized",
            "last_ntp_sync_usec",
            "ntp_offset_usec",
            "rtc_present",
            "rtc_time_usec",
            "rtc_device",
            "tick_count",
            "late_tick_count",
            "max_tick_late_usec",
            "tick_scheduling",
            "faults",
            "sensors",
            "last_sensor_check_usec",
            "sensor_corrections",
            "movement_kind",
            "step_seconds",
        ];
        expected.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, expected);
        assert_eq!(j["local_time"], "2026-11-24T10:08:17+01:00");
        assert_eq!(j["hands"], "10:08:15");
    }
}
