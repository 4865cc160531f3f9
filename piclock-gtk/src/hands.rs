//! Hand angles and true dial positions: the pure maths behind the face.
//!
//! Angles are in radians, clockwise from 12 o'clock (0 at the top), as a
//! person reads a dial. A position is seconds past 12:00:00 (or 00:00:00 on a
//! 24-hour dial), possibly fractional.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use piclock_core::dial::Dial;
use std::f64::consts::TAU;

/// Where the three hands point, radians clockwise from the top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandAngles {
    /// Once around per dial (12 or 24 hours).
    pub hour: f64,
    /// Once around per hour.
    pub minute: f64,
    /// Once around per minute.
    pub second: f64,
}

/// The hand angles for `position` seconds on `dial`.
///
/// The second hand follows the fractional part too; pass a whole number for a
/// hand that jumps once a second, as a quartz movement does.
pub fn angles(position: f64, dial: Dial) -> HandAngles {
    let n = f64::from(dial.seconds());
    let p = position.rem_euclid(n);
    HandAngles { hour: TAU * p / n, minute: TAU * (p % 3600.0) / 3600.0, second: TAU * (p % 60.0) / 60.0 }
}

/// The point at `radius` from the centre `(cx, cy)` along `angle`, in screen
/// coordinates (y grows downwards).
pub fn point(cx: f64, cy: f64, radius: f64, angle: f64) -> (f64, f64) {
    (cx + radius * angle.sin(), cy - radius * angle.cos())
}

/// True local time on the dial: `time_usec` (µs since the epoch, UTC) in
/// `zone`, as seconds past the top of the dial, with the fraction of a second.
pub fn local_position(time_usec: u64, zone: &TimeZone, dial: Dial) -> Option<f64> {
    let usec = i64::try_from(time_usec).ok()?;
    let ts = Timestamp::from_microsecond(usec).ok()?;
    let offset = i64::from(zone.to_offset(ts).seconds());
    let whole = usec.div_euclid(1_000_000) + offset;
    let frac = usec.rem_euclid(1_000_000) as f64 / 1e6;
    Some(f64::from(dial.wrap(whole)) + frac)
}

/// True local time on the dial from the daemon's own numbers: the hands
/// minus `Offset` (used when the zone is unknown on this machine).
pub fn position_from_offset(hands: u32, offset: i64, dial: Dial) -> u32 {
    dial.add(hands, -offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn deg(rad: f64) -> f64 {
        rad.to_degrees()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn twelve_hour_dial() {
        let d = Dial::TWELVE_HOUR;
        let a = angles(0.0, d);
        assert!(close(a.hour, 0.0) && close(a.minute, 0.0) && close(a.second, 0.0));
        let a = angles(3.0 * 3600.0, d);
        assert!(close(deg(a.hour), 90.0) && close(a.minute, 0.0));
        // 6:30:15
        let a = angles(6.0 * 3600.0 + 30.0 * 60.0 + 15.0, d);
        assert!(close(deg(a.hour), (6.0 + 30.25 / 60.0) * 30.0), "{}", deg(a.hour));
        assert!(close(deg(a.minute), 30.25 * 6.0));
        assert!(close(deg(a.second), 90.0));
        // 11:59:59 is just short of the top.
        let a = angles(43_199.0, d);
        assert!(deg(a.hour) > 359.9 && deg(a.minute) > 359.8 && close(deg(a.second), 354.0));
        // Positions wrap.
        assert_eq!(angles(43_200.0 + 60.0, d), angles(60.0, d));
        assert_eq!(angles(-60.0, d), angles(43_140.0, d));
    }

    #[test]
    fn twenty_four_hour_dial() {
        let d = Dial::TWENTY_FOUR_HOUR;
        assert!(close(angles(12.0 * 3600.0, d).hour, PI));
        assert!(close(deg(angles(18.0 * 3600.0, d).hour), 270.0));
        assert!(close(deg(angles(6.0 * 3600.0, d).hour), 90.0));
        // Minute and second hands are the same on either dial.
        let p = 13.0 * 3600.0 + 20.0 * 60.0 + 30.0;
        assert_eq!(angles(p, d).minute, angles(p, Dial::TWELVE_HOUR).minute);
        assert!(close(deg(angles(p, d).minute), 123.0));
        assert!(close(deg(angles(p, d).second), 180.0));
    }

    #[test]
    fn points_are_clockwise_from_the_top() {
        let (x, y) = point(100.0, 100.0, 10.0, 0.0);
        assert!(close(x, 100.0) && close(y, 90.0));
        let (x, y) = point(100.0, 100.0, 10.0, PI / 2.0);
        assert!(close(x, 110.0) && close(y, 100.0));
        let (x, y) = point(100.0, 100.0, 10.0, PI);
        assert!(close(x, 100.0) && close(y, 110.0));
    }

    fn usec(rfc3339: &str) -> u64 {
        rfc3339.parse::<Timestamp>().expect("time").as_microsecond() as u64
    }

    #[test]
    fn local_positions_in_zones() {
        let utc = TimeZone::UTC;
        let d12 = Dial::TWELVE_HOUR;
        let d24 = Dial::TWENTY_FOUR_HOUR;
        let t = usec("2026-01-15T22:10:30.25Z");
        assert_eq!(local_position(t, &utc, d12), Some(10.0 * 3600.0 + 630.25));
        assert_eq!(local_position(t, &utc, d24), Some(22.0 * 3600.0 + 630.25));
        let fixed = TimeZone::fixed(jiff::tz::offset(2));
        assert_eq!(local_position(t, &fixed, d24), Some(630.25), "00:10:30.25 the next day");
        if let Ok(berlin) = TimeZone::get("Europe/Berlin") {
            // Winter: UTC+1; summer: UTC+2.
            assert_eq!(local_position(t, &berlin, d12), Some(11.0 * 3600.0 + 630.25));
            let summer = usec("2026-07-01T12:00:00Z");
            assert_eq!(local_position(summer, &berlin, d12), Some(2.0 * 3600.0));
        }
    }

    #[test]
    fn truth_from_the_offset() {
        let d = Dial::TWELVE_HOUR;
        assert_eq!(position_from_offset(3600, 0, d), 3600);
        assert_eq!(position_from_offset(3600, -7200, d), 10_800, "hands behind");
        assert_eq!(position_from_offset(100, 200, d), 43_100, "hands ahead, across the top");
    }
}
