//! One reading of every property of the daemon, taken together.

use piclock_dbus::{pulse_dict, Clock1Proxy, PulseConfig};

/// Every property of `org.piclock.Clock1` at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Daemon version.
    pub version: String,
    /// 43200 or 86400.
    pub dial_seconds: u32,
    /// Where the hands point, seconds on the dial.
    pub hand_position: u32,
    /// Whether the daemon is sure of the hand position.
    pub position_certain: bool,
    /// Hands minus true time, seconds.
    pub offset: i64,
    /// The contract's state string.
    pub state: String,
    /// Expected seconds until the hands are right.
    pub catch_up_seconds: u32,
    /// IANA zone of the dial.
    pub timezone: String,
    /// The daemon's true time, µs since the epoch.
    pub time_usec: u64,
    /// `ntp`, `rtc` or `system`.
    pub time_source: String,
    /// NTP servers in order.
    pub ntp_servers: Vec<String>,
    /// Whether the last NTP query within the interval succeeded.
    pub ntp_synchronized: bool,
    /// When the last good NTP reply came (0 = never).
    pub last_ntp_sync_usec: u64,
    /// System clock minus NTP time at the last good reply, µs.
    pub ntp_offset_usec: i64,
    /// Whether a DS3231 answered.
    pub rtc_present: bool,
    /// The RTC's time (0 when absent).
    pub rtc_time_usec: u64,
    /// Pulse settings, or why they could not be read.
    pub pulse: Result<PulseConfig, String>,
    /// Current faults.
    pub faults: Vec<String>,
}

/// Reads every property. The reads go out together on the connection, so
/// this costs about one round trip (it matters over ssh).
pub async fn fetch(p: &Clock1Proxy<'_>) -> zbus::Result<Snapshot> {
    let (
        version,
        dial_seconds,
        hand_position,
        position_certain,
        offset,
        state,
        catch_up_seconds,
        timezone,
        time_usec,
        time_source,
        ntp_servers,
        ntp_synchronized,
        last_ntp_sync_usec,
        ntp_offset_usec,
        rtc_present,
        rtc_time_usec,
        pulse,
        faults,
    ) = tokio::try_join!(
        p.version(),
        p.dial_seconds(),
        p.hand_position(),
        p.position_certain(),
        p.offset(),
        p.state(),
        p.catch_up_seconds(),
        p.timezone(),
        p.time_usec(),
        p.time_source(),
        p.ntp_servers(),
        p.ntp_synchronized(),
        p.last_ntp_sync_usec(),
        p.ntp_offset_usec(),
        p.rtc_present(),
        p.rtc_time_usec(),
        p.pulse_config(),
        p.faults()
    )?;
    Ok(Snapshot {
        version,
        dial_seconds,
        hand_position,
        position_certain,
        offset,
        state,
        catch_up_seconds,
        timezone,
        time_usec,
        time_source,
        ntp_servers,
        ntp_synchronized,
        last_ntp_sync_usec,
        ntp_offset_usec,
        rtc_present,
        rtc_time_usec,
        pulse: pulse_dict::from_dict(&pulse).map_err(|e| e.to_string()),
        faults,
    })
}
