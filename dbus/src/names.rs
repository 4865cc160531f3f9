//! Names of the contract (`dbus/README.md`). These never change.

/// Well-known bus name of the daemon.
pub const BUS_NAME: &str = "org.piclock.Clock1";
/// Object path of the clock.
pub const OBJECT_PATH: &str = "/org/piclock/Clock1";
/// Interface name.
pub const INTERFACE: &str = "org.piclock.Clock1";

/// polkit action for Pause, Resume, Step, SetHandPosition, SyncNow, Home.
pub const ACTION_CONTROL: &str = "org.piclock.clock1.control";
/// polkit action for SetPulseConfig, SetNTPServers, SetTimezone.
pub const ACTION_CONFIGURE: &str = "org.piclock.clock1.configure";

/// Error: bad input; the message names the argument and the accepted range.
pub const ERROR_INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
/// Error: polkit said no; the message names the action.
pub const ERROR_ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
/// Error: the device needed for the call failed.
pub const ERROR_HARDWARE: &str = "org.piclock.Clock1.Error.Hardware";
/// Error: the daemon could not finish the call (it is shutting down).
pub const ERROR_FAILED: &str = "org.freedesktop.DBus.Error.Failed";
/// Error: too many calls of the caller's user are waiting for polkit; try again.
pub const ERROR_LIMITS_EXCEEDED: &str = "org.freedesktop.DBus.Error.LimitsExceeded";
/// Error: the daemon has no part for the call (`Home` without a hand sensor).
pub const ERROR_NOT_SUPPORTED: &str = "org.freedesktop.DBus.Error.NotSupported";

/// Values of the `TimeSource` property.
pub mod time_source {
    /// Offset measured by the daemon's NTP client.
    pub const NTP: &str = "ntp";
    /// The DS3231 real-time clock.
    pub const RTC: &str = "rtc";
    /// The system clock alone.
    pub const SYSTEM: &str = "system";
}

/// Values of the `component` argument of the `Fault` signal.
pub mod component {
    /// The coil's GPIO lines.
    pub const GPIO: &str = "gpio";
    /// The DS3231.
    pub const RTC: &str = "rtc";
    /// The FRAM position store.
    pub const FRAM: &str = "fram";
    /// The position journal or a settings file.
    pub const STORE: &str = "store";
    /// The NTP client.
    pub const NTP: &str = "ntp";
    /// A hand sensor (silent, stuck, unreadable), or homing that found nothing.
    pub const SENSOR: &str = "sensor";
}
