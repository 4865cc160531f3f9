//! One reading of every property of `org.piclock.Clock1`, taken together:
//! what `piclockctl status` prints and what the panel shows.

use crate::{pulse_dict, Clock1Proxy, PulseConfig};

/// Every property of `org.piclock.Clock1` at one moment.
#[derive(Debug, Clone)]
pub struct Properties {
    /// Daemon version.
    pub version: String,
    /// 43200 or 86400.
    pub dial_seconds: u32,
    /// Where the hands point, seconds past 12:00:00 on the dial.
    pub hand_position: u32,
    /// Whether the daemon is sure of the hand position.
    pub position_certain: bool,
    /// Hands minus true time, seconds.
    pub offset: i64,
    /// The contract's state string (see [`crate::ClockState`]).
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
    /// When the last good NTP reply came, µs since the epoch (0: never).
    pub last_ntp_sync_usec: u64,
    /// System clock minus NTP time at the last good reply, µs.
    pub ntp_offset_usec: i64,
    /// Whether a DS3231 answered.
    pub rtc_present: bool,
    /// The RTC's time, µs since the epoch (0 when absent).
    pub rtc_time_usec: u64,
    /// Pulse settings, or why the daemon's dictionary could not be read.
    pub pulse: Result<PulseConfig, String>,
    /// Moves fired since the daemon started.
    pub tick_count: u64,
    /// Moves whose leading edge was more than 1 ms late.
    pub late_tick_count: u64,
    /// Latest leading edge, µs after its deadline.
    pub max_tick_late_usec: u64,
    /// Current faults.
    pub faults: Vec<String>,
}

/// A property read that failed: which member, and the error.
#[derive(Debug)]
pub struct ReadError {
    /// The property's D-Bus name.
    pub member: &'static str,
    /// What went wrong.
    pub error: zbus::Error,
}

/// Awaits one getter and names the member if it fails.
macro_rules! get {
    ($p:expr, $getter:ident, $member:literal) => {
        async { $p.$getter().await.map_err(|error| ReadError { member: $member, error }) }
    };
}

impl Properties {
    /// Reads every property. The reads go out together on the connection, so
    /// this costs about one round trip (it matters over ssh).
    pub async fn read(p: &Clock1Proxy<'_>) -> Result<Properties, ReadError> {
        let (
            (version, dial_seconds, hand_position, position_certain, offset, state, catch_up_seconds),
            (timezone, time_usec, time_source, ntp_servers, ntp_synchronized, last_ntp_sync_usec, ntp_offset_usec),
            (rtc_present, rtc_time_usec, pulse, tick_count, late_tick_count, max_tick_late_usec, faults),
        ) = tokio::try_join!(
            async {
                tokio::try_join!(
                    get!(p, version, "Version"),
                    get!(p, dial_seconds, "DialSeconds"),
                    get!(p, hand_position, "HandPosition"),
                    get!(p, position_certain, "PositionCertain"),
                    get!(p, offset, "Offset"),
                    get!(p, state, "State"),
                    get!(p, catch_up_seconds, "CatchUpSeconds"),
                )
            },
            async {
                tokio::try_join!(
                    get!(p, timezone, "Timezone"),
                    get!(p, time_usec, "TimeUSec"),
                    get!(p, time_source, "TimeSource"),
                    get!(p, ntp_servers, "NTPServers"),
                    get!(p, ntp_synchronized, "NTPSynchronized"),
                    get!(p, last_ntp_sync_usec, "LastNTPSyncUSec"),
                    get!(p, ntp_offset_usec, "NTPOffsetUSec"),
                )
            },
            async {
                tokio::try_join!(
                    get!(p, rtc_present, "RTCPresent"),
                    get!(p, rtc_time_usec, "RTCTimeUSec"),
                    get!(p, pulse_config, "PulseConfig"),
                    get!(p, tick_count, "TickCount"),
                    get!(p, late_tick_count, "LateTickCount"),
                    get!(p, max_tick_late_usec, "MaxTickLateUSec"),
                    get!(p, faults, "Faults"),
                )
            },
        )?;
        Ok(Properties {
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
            tick_count,
            late_tick_count,
            max_tick_late_usec,
            faults,
        })
    }
}
