//! Hand positions on the dial.
//!
//! A position is the number of seconds past 12:00:00 (or 00:00:00 on a
//! 24-hour dial) that the hands show: `0..dial_seconds`.

use crate::excerpt::excerpt;
use std::fmt;

/// Longest text [`Dial::parse`] looks at (`12:00:00` and some blanks).
pub const MAX_POSITION_TEXT: usize = 32;

/// Seconds on a 12-hour dial.
pub const DIAL_12H: u32 = 43_200;
/// Seconds on a 24-hour dial.
pub const DIAL_24H: u32 = 86_400;

/// The size of a dial, in seconds: 43200 or 86400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dial(u32);

impl Dial {
    /// A 12-hour dial.
    pub const TWELVE_HOUR: Dial = Dial(DIAL_12H);
    /// A 24-hour dial.
    pub const TWENTY_FOUR_HOUR: Dial = Dial(DIAL_24H);

    /// The dial of `seconds` seconds, if it is 43200 or 86400.
    pub fn from_seconds(seconds: u32) -> Option<Dial> {
        match seconds {
            DIAL_12H | DIAL_24H => Some(Dial(seconds)),
            _ => None,
        }
    }

    /// Number of seconds once around the dial.
    pub fn seconds(self) -> u32 {
        self.0
    }

    /// Number of hours once around the dial (12 or 24).
    pub fn hours(self) -> u32 {
        self.0 / 3600
    }

    /// Wraps any second count onto the dial.
    pub fn wrap(self, seconds: i64) -> u32 {
        seconds.rem_euclid(i64::from(self.0)) as u32
    }

    /// Adds a signed number of steps to a position.
    pub fn add(self, position: u32, steps: i64) -> u32 {
        self.wrap(i64::from(position) + steps)
    }

    /// How far `hands` is behind `target`, in `0..seconds`.
    pub fn behind(self, hands: u32, target: u32) -> u32 {
        self.wrap(i64::from(target) - i64::from(hands))
    }

    /// Hands minus target, wrapped to `(-seconds/2, seconds/2]` (the D-Bus `Offset`).
    pub fn offset(self, hands: u32, target: u32) -> i64 {
        let n = i64::from(self.0);
        let d = (i64::from(hands) - i64::from(target)).rem_euclid(n);
        if d > n / 2 {
            d - n
        } else {
            d
        }
    }

    /// Formats a position as `H:MM:SS` (12 for zero on a 12-hour dial).
    pub fn format(self, position: u32) -> String {
        let p = position % self.0;
        let (h, m, s) = (p / 3600, p / 60 % 60, p % 60);
        let h = if self.0 == DIAL_12H && h == 0 { 12 } else { h };
        format!("{h}:{m:02}:{s:02}")
    }

    /// Parses what the hands show, `H:MM` or `H:MM:SS`.
    ///
    /// On a 12-hour dial the hour is 0..=12 (12 and 0 both mean the top of
    /// the dial); on a 24-hour dial 0..=23.
    pub fn parse(self, text: &str) -> Result<u32, ParsePositionError> {
        let err = |reason: String| ParsePositionError { input: excerpt(text), reason, dial: self };
        if text.len() > MAX_POSITION_TEXT {
            return Err(err(format!("{} bytes long; at most {MAX_POSITION_TEXT}", text.len())));
        }
        let parts: Vec<&str> = text.trim().split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(err("expected H:MM or H:MM:SS".into()));
        }
        let field = |s: &str, name: &str, max: u32| -> Result<u32, ParsePositionError> {
            if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!("{name} must be a number 0..={max}")));
            }
            let v: u32 = s.parse().map_err(|_| err(format!("{name} must be a number 0..={max}")))?;
            if v > max {
                return Err(err(format!("{name} {v} is out of range 0..={max}")));
            }
            Ok(v)
        };
        let max_hour = if self.0 == DIAL_12H { 12 } else { 23 };
        let h = field(parts[0], "hour", max_hour)?;
        if parts[1].len() != 2 {
            return Err(err("minutes must have two digits (00..=59)".into()));
        }
        let m = field(parts[1], "minutes", 59)?;
        let s = match parts.get(2) {
            Some(p) if p.len() != 2 => return Err(err("seconds must have two digits (00..=59)".into())),
            Some(p) => field(p, "seconds", 59)?,
            None => 0,
        };
        Ok(self.wrap(i64::from(h * 3600 + m * 60 + s)))
    }
}

impl fmt::Display for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-hour dial", self.hours())
    }
}

/// A hand position that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePositionError {
    /// The text as given, quoted (at most [`crate::excerpt::EXCERPT_CHARS`]
    /// characters of it, escaped).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
    /// The dial it was parsed for.
    pub dial: Dial,
}

impl fmt::Display for ParsePositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = if self.dial.0 == DIAL_12H { "0..12 (12 and 0 are both the top)" } else { "0..23" };
        write!(
            f,
            "position {}: {}; accepted: H:MM or H:MM:SS with hours {hours}, minutes and seconds 00..59",
            self.input, self.reason
        )
    }
}

impl std::error::Error for ParsePositionError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_valid_positions() {
        let d = Dial::TWELVE_HOUR;
        assert_eq!(d.parse("12:00"), Ok(0));
        assert_eq!(d.parse("0:00:00"), Ok(0));
        assert_eq!(d.parse("3:15"), Ok(3 * 3600 + 15 * 60));
        assert_eq!(d.parse("11:59:59"), Ok(43_199));
        assert_eq!(d.parse(" 6:00:02 "), Ok(21_602));
        assert_eq!(Dial::TWENTY_FOUR_HOUR.parse("23:59:59"), Ok(86_399));
    }

    #[test]
    fn rejects_bad_positions_naming_the_field() {
        let d = Dial::TWELVE_HOUR;
        for (input, needle) in [
            ("13:61", "hour"),
            ("12:61", "minutes"),
            ("1:00:60", "seconds"),
            ("1", "H:MM"),
            ("1:2", "two digits"),
            ("a:00", "hour"),
            ("-1:00", "hour"),
            ("1:00:00:00", "H:MM"),
            ("", "H:MM"),
            ("13:00", "0..=12"),
        ] {
            let e = d.parse(input).expect_err(input);
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
        assert!(Dial::TWENTY_FOUR_HOUR.parse("24:00").is_err());
    }

    #[test]
    fn offset_is_wrapped_to_half_dial() {
        let d = Dial::TWELVE_HOUR;
        assert_eq!(d.offset(10, 10), 0);
        assert_eq!(d.offset(0, 43_199), 1);
        assert_eq!(d.offset(43_199, 0), -1);
        assert_eq!(d.offset(21_600, 0), 21_600);
        assert_eq!(d.offset(21_601, 0), -21_599);
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        #[test]
        fn format_parse_roundtrip(p in 0u32..DIAL_12H) {
            let d = Dial::TWELVE_HOUR;
            prop_assert_eq!(d.parse(&d.format(p)), Ok(p));
            let d = Dial::TWENTY_FOUR_HOUR;
            prop_assert_eq!(d.parse(&d.format(p * 2)), Ok(p * 2));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,12}") {
            let _ = Dial::TWELVE_HOUR.parse(&s);
        }

        #[test]
        fn offset_and_behind_agree(h in 0u32..DIAL_12H, t in 0u32..DIAL_12H) {
            let d = Dial::TWELVE_HOUR;
            let off = d.offset(h, t);
            prop_assert!(off > -21_600 && off <= 21_600);
            prop_assert_eq!(d.add(t, off), h);
            prop_assert_eq!(d.behind(h, t), d.wrap(-off));
        }
    }
}
