//! The property table of `org.piclock.Clock1`: one row per property, the
//! only place a property is declared in code.
//!
//! [`clock1_properties!`](crate::clock1_properties) hands the rows to a
//! macro of the caller, which builds its side from them:
//!
//! - the clients' [`Properties`](crate::Properties) (a field per row) and
//!   its `GetAll` decoder, and [`PROPERTIES`](crate::properties::PROPERTIES),
//!   which a test compares with the introspection XML (name, type,
//!   `EmitsChangedSignal`);
//! - piclockd's getter of each property on its object (the group gives
//!   the `EmitsChangedSignal` annotation) and the table of the properties its
//!   publisher compares and signals (the `Signalled` group).
//!
//! A row is
//!
//! ```text
//! /// What the property means (the getter's, the field's and the XML's comment).
//! Since "DBusName" rust_field: RustType = <how piclockd reads it>;
//! ```
//!
//! `Since` is `First` for the properties of the first release and `Added`
//! for later ones: a client reads a daemon that predates an `Added`
//! property (another machine's, with `-H`) with the type's default in its
//! place. The reading is piclockd's: a closure of its state's `View`
//! (`|v| ...`) in the `Signalled` and `Unsignalled` groups, of its
//! object (`|o| ...`, set at start) in the `Constant` group; the clients
//! ignore it.
//!
//! Adding a read-only property whose value the daemon already has touches
//! four files: its row here, its `<property>` in `org.piclock.Clock1.xml`
//! (what `busctl introspect` prints for it), its row in the contract
//! document `README.md` (the tests compare all three), and the client line
//! that shows it (`piclockctl/src/status.rs` or `piclock-gtk/src/status.rs`).

/// Calls `$then! { ... }` with every property of `org.piclock.Clock1`, in
/// three groups: `Signalled` (each change is in the next
/// `PropertiesChanged`), `Unsignalled` (`EmitsChangedSignal` false: they
/// change too often; read them when wanted) and `Constant` (`const`: fixed
/// while the daemon runs). See [the module](crate::table) for the rows.
#[macro_export]
macro_rules! clock1_properties {
    ($then:ident) => {
        $then! {
            Signalled {
                /// 43200 for a 12-hour dial, 86400 for 24-hour.
                First "DialSeconds" dial_seconds: u32 = |v| v.tick.dial_seconds;
                /// Where the hands point: seconds past 12:00:00 on the dial.
                First "HandPosition" hand_position: u32 = |v| v.tick.hands;
                /// False after an unclean stop left one step in doubt, or before any position was set.
                First "PositionCertain" position_certain: bool = |v| v.tick.certain;
                /// Hands minus true time, wrapped to half the dial; 0 = right.
                First "Offset" offset: i64 = |v| v.tick.offset;
                /// `ticking`, `fast-forward`, `reverse`, `waiting`, `paused`, `needs-position`, `fault`.
                First "State" state: String = |v| v.tick.state.as_str().to_owned();
                /// Expected seconds until the hands are right.
                First "CatchUpSeconds" catch_up_seconds: u32 = |v| v.tick.catch_up_seconds;
                /// IANA zone the dial shows.
                First "Timezone" timezone: String = |v| v.tick.zone.clone();
                /// Human-readable current faults (empty when healthy).
                First "Faults" faults: Vec<String> = |v| v.faults();
                /// Every pulse and sync setting, by key.
                First "PulseConfig" pulse_config: std::collections::HashMap<String, zbus::zvariant::OwnedValue> =
                    |v| v.pulse_config();
                /// `ntp`, `rtc` or `system`.
                First "TimeSource" time_source: String = |v| v.time.source.to_owned();
                /// NTP servers queried, in order.
                First "NTPServers" ntp_servers: Vec<String> = |v| v.settings.ntp_servers.clone();
                /// Whether the last query within the interval succeeded.
                First "NTPSynchronized" ntp_synchronized: bool = |v| v.time.ntp_synchronized;
                /// When the last good reply came (0 = never).
                First "LastNTPSyncUSec" last_ntp_sync_usec: u64 = |v| v.time.last_sync_us;
                /// System clock minus NTP time at the last good reply.
                First "NTPOffsetUSec" ntp_offset_usec: i64 = |v| v.time.ntp_offset_us;
                /// Whether a DS3231 answered.
                First "RTCPresent" rtc_present: bool = |v| v.time.rtc_present;
                /// The RTC and the path it is read through ("" when there is none).
                Added "RTCDevice" rtc_device: String = |v| v.time.rtc_device.clone();
                /// When a hand sensor last checked the belief, µs since the Unix epoch (0 = never).
                Added "LastSensorCheckUSec" last_sensor_check_usec: u64 = |v| v.tick.sensors.last_check_us;
                /// Corrections of the belief by the hand sensors since the daemon started.
                Added "SensorCorrections" sensor_corrections: u32 = |v| v.tick.sensors.corrections;
                /// Each sensor's window by key: `seconds_source`, `seconds_offset`, `seconds_width`, `seconds_tolerance` (or `seconds_passes`), the same for `noon`.
                Added "SensorWindow" sensor_window: std::collections::HashMap<String, zbus::zvariant::OwnedValue> =
                    |v| v.sensor_window();
            }
            Unsignalled {
                /// The daemon's true time, µs since the Unix epoch (no signal).
                First "TimeUSec" time_usec: u64 = |v| v.time_usec();
                /// The RTC's time (0 when absent; no signal).
                First "RTCTimeUSec" rtc_time_usec: u64 = |v| v.rtc_time_usec();
                /// Moves fired since the daemon started (no signal).
                First "TickCount" tick_count: u64 = |v| v.tick.tick_count;
                /// Moves whose leading edge came more than 1 ms after its deadline (no signal).
                First "LateTickCount" late_tick_count: u64 = |v| v.tick.late_tick_count;
                /// The latest leading edge since the daemon started, µs after its deadline (no signal).
                First "MaxTickLateUSec" max_tick_late_usec: u64 = |v| v.tick.max_tick_late_us;
            }
            Constant {
                /// Daemon version.
                First "Version" version: String = |_| env!("CARGO_PKG_VERSION").to_owned();
                /// How the tick thread runs: `SCHED_FIFO priority 50; memory locked`, or what was refused.
                Added "TickScheduling" tick_scheduling: String = |o| o.tick_scheduling.clone();
                /// What the coil lines drive: `quartz` or `impulse` (a slave clock line).
                Added "MovementKind" movement_kind: String = |o| o.drive.kind().to_owned();
                /// Seconds of dial per step: 1 for quartz; 60, 30 or 1 for an impulse line.
                Added "StepSeconds" step_seconds: u32 = |o| o.drive.step_s();
                /// The hand sensors configured: `seconds`, `noon` (empty: none).
                Added "SensorsConfigured" sensors_configured: Vec<String> =
                    |o| o.view(|v| v.tick.sensors.configured.iter().map(|k| k.name().to_owned()).collect());
            }
        }
    };
}

/// Whether, and when, a property's changes are signalled
/// (`org.freedesktop.DBus.Property.EmitsChangedSignal`): its group in
/// [`clock1_properties!`](crate::clock1_properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emits {
    /// Each change is in the next `PropertiesChanged` (`true`, the default).
    Signalled,
    /// Never signalled (`false`).
    Unsignalled,
    /// Fixed while the daemon runs (`const`).
    Constant,
}

impl Emits {
    /// The value of the `EmitsChangedSignal` annotation.
    pub fn annotation(self) -> &'static str {
        match self {
            Emits::Signalled => "true",
            Emits::Unsignalled => "false",
            Emits::Constant => "const",
        }
    }
}

/// Since when a property exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// In the first release: every daemon has it.
    First,
    /// Added later: a daemon that predates it has none, and clients read
    /// the type's default in its place.
    Added,
}

/// One row of the table, as the clients and the tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// The D-Bus name.
    pub name: &'static str,
    /// The D-Bus type.
    pub signature: &'static zbus::zvariant::Signature,
    /// Whether its changes are signalled.
    pub emits: Emits,
    /// Since when it exists.
    pub since: Since,
}
