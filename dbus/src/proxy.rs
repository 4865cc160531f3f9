//! The client side of the contract: a zbus proxy for `org.piclock.Clock1`.
//!
//! The attribute strings below must be literals; a test checks they equal
//! the constants in [`crate::names`].

use std::collections::HashMap;
use zbus::zvariant::OwnedValue;

/// Proxy for the clock daemon. See `dbus/README.md` (the contract) for the
/// meaning of each member.
#[zbus::proxy(
    interface = "org.piclock.Clock1",
    default_service = "org.piclock.Clock1",
    default_path = "/org/piclock/Clock1"
)]
pub trait Clock1 {
    /// Tells the daemon what the hands show now (`H:MM` or `H:MM:SS`).
    fn set_hand_position(&self, position: &str, interactive: bool) -> zbus::Result<()>;
    /// Stops ticking.
    fn pause(&self, interactive: bool) -> zbus::Result<()>;
    /// Starts ticking again and catches up.
    fn resume(&self, interactive: bool) -> zbus::Result<()>;
    /// Moves the hands by `ticks` now (negative: backwards).
    fn step(&self, ticks: i32, interactive: bool) -> zbus::Result<()>;
    /// Queries NTP now; the outcome comes as `SyncFinished`.
    fn sync_now(&self, interactive: bool) -> zbus::Result<()>;
    /// Changes some pulse settings, all or nothing.
    fn set_pulse_config(&self, settings: HashMap<String, OwnedValue>, interactive: bool) -> zbus::Result<()>;
    /// Sets the NTP servers.
    #[zbus(name = "SetNTPServers")]
    fn set_ntp_servers(&self, servers: &[&str], interactive: bool) -> zbus::Result<()>;
    /// Sets the IANA time zone of the dial.
    fn set_timezone(&self, timezone: &str, interactive: bool) -> zbus::Result<()>;
    /// Finds the hand position with the hand sensors.
    fn home(&self, interactive: bool) -> zbus::Result<()>;

    // The getters of single properties below are piclockd's integration
    // tests' and the testkit's (they read one value while the clock runs).
    // The clients do not use them: piclockctl and the panel read every
    // property together with `Properties::read` (one `GetAll`, decoded by
    // the property table), and a new property needs no getter here.

    /// Daemon version.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
    /// 43200 or 86400.
    #[zbus(property)]
    fn dial_seconds(&self) -> zbus::Result<u32>;
    /// Where the hands point.
    #[zbus(property)]
    fn hand_position(&self) -> zbus::Result<u32>;
    /// Whether the hand position is certain.
    #[zbus(property)]
    fn position_certain(&self) -> zbus::Result<bool>;
    /// Hands minus true time, seconds.
    #[zbus(property)]
    fn offset(&self) -> zbus::Result<i64>;
    /// `ticking`, `fast-forward`, `reverse`, `waiting`, `paused`, `needs-position`, `fault`.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;
    /// Expected seconds until the hands are right.
    #[zbus(property)]
    fn catch_up_seconds(&self) -> zbus::Result<u32>;
    /// IANA zone of the dial.
    #[zbus(property)]
    fn timezone(&self) -> zbus::Result<String>;
    /// The daemon's true time, µs since the epoch.
    #[zbus(property, name = "TimeUSec")]
    fn time_usec(&self) -> zbus::Result<u64>;
    /// `ntp`, `rtc` or `system`.
    #[zbus(property)]
    fn time_source(&self) -> zbus::Result<String>;
    /// NTP servers, in order.
    #[zbus(property, name = "NTPServers")]
    fn ntp_servers(&self) -> zbus::Result<Vec<String>>;
    /// Whether the last NTP query within the interval succeeded.
    #[zbus(property, name = "NTPSynchronized")]
    fn ntp_synchronized(&self) -> zbus::Result<bool>;
    /// When the last good NTP reply came, µs since the epoch (0 = never).
    #[zbus(property, name = "LastNTPSyncUSec")]
    fn last_ntp_sync_usec(&self) -> zbus::Result<u64>;
    /// System clock minus NTP time at the last good reply, µs.
    #[zbus(property, name = "NTPOffsetUSec")]
    fn ntp_offset_usec(&self) -> zbus::Result<i64>;
    /// Whether a DS3231 answered.
    #[zbus(property, name = "RTCPresent")]
    fn rtc_present(&self) -> zbus::Result<bool>;
    /// The RTC and the path it is read through ("" when there is none).
    #[zbus(property, name = "RTCDevice")]
    fn rtc_device(&self) -> zbus::Result<String>;
    /// The RTC's time, µs since the epoch (0 when absent).
    #[zbus(property, name = "RTCTimeUSec")]
    fn rtc_time_usec(&self) -> zbus::Result<u64>;
    /// Every pulse and sync setting, by key.
    #[zbus(property)]
    fn pulse_config(&self) -> zbus::Result<HashMap<String, OwnedValue>>;
    /// Moves fired since the daemon started.
    #[zbus(property)]
    fn tick_count(&self) -> zbus::Result<u64>;
    /// Moves whose leading edge came more than 1 ms late.
    #[zbus(property)]
    fn late_tick_count(&self) -> zbus::Result<u64>;
    /// The latest leading edge since the daemon started, µs after its deadline.
    #[zbus(property, name = "MaxTickLateUSec")]
    fn max_tick_late_usec(&self) -> zbus::Result<u64>;
    /// How the tick thread runs (real-time priority, locked memory), in words; constant.
    #[zbus(property)]
    fn tick_scheduling(&self) -> zbus::Result<String>;
    /// What the coil lines drive: `quartz` or `impulse`; constant.
    #[zbus(property)]
    fn movement_kind(&self) -> zbus::Result<String>;
    /// Seconds of dial per step (1 for quartz); constant.
    #[zbus(property)]
    fn step_seconds(&self) -> zbus::Result<u32>;
    /// Current faults, human-readable.
    #[zbus(property)]
    fn faults(&self) -> zbus::Result<Vec<String>>;
    /// The hand sensors configured (`seconds`, `noon`); constant.
    #[zbus(property)]
    fn sensors_configured(&self) -> zbus::Result<Vec<String>>;
    /// When a hand sensor last checked the belief, µs since the epoch (0 = never).
    #[zbus(property, name = "LastSensorCheckUSec")]
    fn last_sensor_check_usec(&self) -> zbus::Result<u64>;
    /// Corrections of the belief by the hand sensors since the daemon started.
    #[zbus(property)]
    fn sensor_corrections(&self) -> zbus::Result<u32>;
    /// Each sensor's window (see the contract).
    #[zbus(property)]
    fn sensor_window(&self) -> zbus::Result<HashMap<String, OwnedValue>>;

    /// After each NTP query.
    #[zbus(signal)]
    fn sync_finished(&self, success: bool, server: &str, offset_usec: i64, message: &str) -> zbus::Result<()>;
    /// A device or store failed.
    #[zbus(signal)]
    fn fault(&self, component: &str, message: &str) -> zbus::Result<()>;
    /// A hand sensor corrected the belief by `steps`.
    #[zbus(signal)]
    fn sensor_corrected(&self, steps: i32, reason: &str) -> zbus::Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::*;
    use zbus::proxy::Defaults;

    #[test]
    fn proxy_literals_match_the_names() {
        assert_eq!(Clock1Proxy::INTERFACE.as_ref().map(|n| n.as_str()), Some(INTERFACE));
        assert_eq!(Clock1Proxy::DESTINATION.as_ref().map(|n| n.to_string()), Some(BUS_NAME.to_owned()));
        assert_eq!(Clock1Proxy::PATH.as_ref().map(|p| p.as_str()), Some(OBJECT_PATH));
    }
}
