//! The time zone of the dial (IANA, from the system's tz database via jiff).

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A time zone name that was refused; the message quotes the name (an
/// excerpt of a long one) and says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Not of the form of an IANA name: empty, longer than 64 bytes, or a path.
    #[error(
        "timezone {name}: not an IANA time zone name; accepted: a name like Europe/Berlin of at most 64 bytes \
         (see 'piclockctl list-timezones')"
    )]
    NotAName {
        /// The name as given, quoted (an excerpt when long).
        name: String,
    },
    /// Of the right form, but not in the time zone database.
    #[error(
        "timezone {name}: unknown time zone; accepted: a name like Europe/Berlin (see 'piclockctl list-timezones')"
    )]
    Unknown {
        /// The name as given, quoted (an excerpt when long).
        name: String,
    },
}

/// An IANA time zone with its name.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// The system's zone (`/etc/localtime`, `TZ`), or UTC if it cannot be read.
    pub fn system() -> Zone {
        let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
        let name = tz.iana_name().unwrap_or("UTC").to_owned();
        Zone { name, tz }
    }

    /// The zone called `name` (looked up without regard to ASCII case), or
    /// an error naming the accepted form. The zone keeps the database's
    /// spelling of the name (`europe/berlin` gives `Europe/Berlin`).
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        let shown = || piclock_core::excerpt::excerpt(name);
        if name.is_empty() || name.len() > 64 || name.starts_with('/') || name.contains("..") {
            return Err(ZoneError::NotAName { name: shown() });
        }
        let unknown = || ZoneError::Unknown { name: shown() };
        let tz = jiff::tz::db().get(name).map_err(|_| unknown())?;
        // jiff also answers "Etc/Unknown", a placeholder that is not an IANA
        // zone and has no IANA name: refused like any unknown name.
        let name = tz.iana_name().ok_or_else(unknown)?.to_owned();
        Ok(Zone { name, tz })
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Offset east of UTC in seconds at the UTC second `utc_s`.
    pub fn offset_at(&self, utc_s: i64) -> i64 {
        match Timestamp::from_second(utc_s) {
            Ok(ts) => i64::from(self.tz.to_offset(ts).seconds()),
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_dst() {
        let z = Zone::named("Europe/Berlin").unwrap();
        // 2026-03-29 00:59:59 UTC is CET, 01:00:00 UTC is CEST.
        assert_eq!(z.offset_at(1_774_745_999), 3600);
        assert_eq!(z.offset_at(1_774_746_000), 7200);
        assert_eq!(Zone::named("Australia/Lord_Howe").unwrap().offset_at(1_774_746_000) % 1800, 0);
    }

    #[test]
    fn names_are_kept_in_the_database_spelling() {
        // Found by the timezone_name fuzz target: "EEt" was accepted and
        // then reported and saved as "EEt", a name other programs do not know.
        for (given, canonical) in [("EEt", "EET"), ("europe/berlin", "Europe/Berlin"), ("utc", "UTC")] {
            assert_eq!(Zone::named(given).unwrap().name(), canonical);
        }
        assert_eq!(Zone::named("Europe/Berlin").unwrap().name(), "Europe/Berlin");
    }

    #[test]
    fn bad_names_are_refused() {
        // "Etc/Unknown" (any case) found by the timezone_name fuzz target.
        for n in ["", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "Etc/Unknown", "Etc/UNKNOWN"] {
            let e = Zone::named(n).unwrap_err().to_string();
            assert!(e.contains("timezone"), "{e}");
        }
        assert_eq!(
            Zone::named("Mars/Olympus").unwrap_err().to_string(),
            "timezone \"Mars/Olympus\": unknown time zone; accepted: a name like Europe/Berlin \
             (see 'piclockctl list-timezones')"
        );
        assert_eq!(
            Zone::named("/etc/localtime").unwrap_err().to_string(),
            "timezone \"/etc/localtime\": not an IANA time zone name; accepted: a name like Europe/Berlin \
             of at most 64 bytes (see 'piclockctl list-timezones')"
        );
    }
}
