//! The `org.piclock.Clock1` D-Bus object.
//!
//! Properties are read from the tick thread's latest [`Snapshot`]; methods
//! validate, return at once when nothing would change, then send a command
//! to the tick thread, emit PropertiesChanged for what changed, and reply.

use crate::authority::Authorizer;
use crate::settings::{validate_ntp_servers, Settings, SettingsFile};
use crate::tick::{Command, CommandError, Snapshot};
use crate::timesource::{self, SharedTime};
use crate::zone::Zone;
use piclock_core::dial::Dial;
use piclock_core::engine::ClockState;
use piclock_dbus::names::{
    ACTION_CONFIGURE, ACTION_CONTROL, ERROR_ACCESS_DENIED, ERROR_FAILED, ERROR_HARDWARE, ERROR_INVALID_ARGS,
};
use piclock_dbus::pulse_dict;
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use tokio::sync::{oneshot, watch, Mutex};
use zbus::message::Header;
use zbus::names::ErrorName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::OwnedValue;

/// An error reply of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodError {
    /// `org.freedesktop.DBus.Error.InvalidArgs`.
    InvalidArgs(String),
    /// `org.freedesktop.DBus.Error.AccessDenied`.
    AccessDenied(String),
    /// `org.piclock.Clock1.Error.Hardware`.
    Hardware(String),
    /// `org.freedesktop.DBus.Error.Failed` (the daemon is shutting down, or zbus failed).
    Failed(String),
}

impl MethodError {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            MethodError::InvalidArgs(m) => (ERROR_INVALID_ARGS, m),
            MethodError::AccessDenied(m) => (ERROR_ACCESS_DENIED, m),
            MethodError::Hardware(m) => (ERROR_HARDWARE, m),
            MethodError::Failed(m) => (ERROR_FAILED, m),
        }
    }
}

impl zbus::DBusError for MethodError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<zbus::Message> {
        let (name, text) = self.parts();
        zbus::Message::error(call, name)?.build(&(text,))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.parts().0)
    }

    fn description(&self) -> Option<&str> {
        Some(self.parts().1)
    }
}

impl From<zbus::Error> for MethodError {
    fn from(e: zbus::Error) -> Self {
        MethodError::Failed(e.to_string())
    }
}

impl From<CommandError> for MethodError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Invalid(m) => MethodError::InvalidArgs(m),
            CommandError::Hardware(m) => MethodError::Hardware(m),
        }
    }
}

/// Result of a method call.
pub type MethodResult<T> = Result<T, MethodError>;

/// The D-Bus object.
pub struct Clock1 {
    snapshots: watch::Receiver<Snapshot>,
    commands: Sender<Command>,
    emitted: Mutex<Option<Snapshot>>,
    settings: Mutex<Settings>,
    settings_file: SettingsFile,
    authorizer: Authorizer,
    time: SharedTime,
    servers: Arc<RwLock<Vec<String>>>,
    sync_requests: tokio::sync::mpsc::Sender<()>,
}

/// The time-source side of the object: status, server list, SyncNow requests.
pub struct TimeLink {
    /// What the time properties show.
    pub time: SharedTime,
    /// The NTP servers the time task asks (updated by SetNTPServers).
    pub servers: Arc<RwLock<Vec<String>>>,
    /// SyncNow asks the time task to query now.
    pub sync_requests: tokio::sync::mpsc::Sender<()>,
}

impl Clock1 {
    /// An object serving the tick thread's snapshots and taking its commands;
    /// settings changed over D-Bus are saved to `settings_file`.
    pub fn new(
        snapshots: watch::Receiver<Snapshot>,
        commands: Sender<Command>,
        settings: Settings,
        settings_file: SettingsFile,
        authorizer: Authorizer,
        link: TimeLink,
    ) -> Clock1 {
        Clock1 {
            snapshots,
            commands,
            emitted: Mutex::new(None),
            settings: Mutex::new(settings),
            settings_file,
            authorizer,
            time: link.time,
            servers: link.servers,
            sync_requests: link.sync_requests,
        }
    }

    /// Saves `next` (the settings after a change) and makes it current.
    async fn persist(&self, next: Settings) -> MethodResult<()> {
        let mut cur = self.settings.lock().await;
        self.settings_file.save(&next).map_err(MethodError::Hardware)?;
        *cur = next;
        Ok(())
    }

    fn snap(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> MethodResult<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| MethodError::Failed("the tick thread has stopped".into()))?;
        rx.await.map_err(|_| MethodError::Failed("the tick thread has stopped".into()))
    }

    /// Emits PropertiesChanged for the time-source properties (after each poll).
    pub async fn emit_time_changes(&self, emitter: &SignalEmitter<'_>) -> zbus::Result<()> {
        self.time_source_changed(emitter).await?;
        self.n_t_p_synchronized_changed(emitter).await?;
        self.last_n_t_p_sync_u_sec_changed(emitter).await?;
        self.n_t_p_offset_u_sec_changed(emitter).await?;
        self.r_t_c_present_changed(emitter).await
    }

    /// Emits PropertiesChanged for every property that differs from what
    /// was last emitted. Used after each method and by the snapshot watcher.
    pub async fn emit_changes(&self, emitter: &SignalEmitter<'_>) -> zbus::Result<()> {
        let now = self.snap();
        let mut last = self.emitted.lock().await;
        let changed = |f: &dyn Fn(&Snapshot) -> bool| last.as_ref().is_none_or(f);
        let (state, hands, certain, offset, catch_up, config, zone, faults, dial) = (
            changed(&|l| l.state != now.state),
            changed(&|l| l.hands != now.hands),
            changed(&|l| l.certain != now.certain),
            changed(&|l| l.offset != now.offset),
            changed(&|l| l.catch_up_seconds != now.catch_up_seconds),
            changed(&|l| l.config != now.config),
            changed(&|l| l.zone != now.zone),
            changed(&|l| l.faults != now.faults),
            changed(&|l| l.dial_seconds != now.dial_seconds),
        );
        let first = last.is_none();
        *last = Some(now);
        drop(last);
        if first {
            return Ok(());
        }
        if state {
            self.state_changed(emitter).await?;
        }
        if hands {
            self.hand_position_changed(emitter).await?;
        }
        if certain {
            self.position_certain_changed(emitter).await?;
        }
        if offset {
            self.offset_changed(emitter).await?;
        }
        if catch_up {
            self.catch_up_seconds_changed(emitter).await?;
        }
        if config {
            self.pulse_config_changed(emitter).await?;
        }
        if zone {
            self.timezone_changed(emitter).await?;
        }
        if faults {
            self.faults_changed(emitter).await?;
        }
        if dial {
            self.dial_seconds_changed(emitter).await?;
        }
        Ok(())
    }
}

#[zbus::interface(name = "org.piclock.Clock1")]
impl Clock1 {
    /// "What the hands show now": `H:MM` or `H:MM:SS`.
    async fn set_hand_position(
        &self,
        position: &str,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        let snap = self.snap();
        let dial = Dial::from_seconds(snap.dial_seconds).unwrap_or(Dial::TWELVE_HOUR);
        let p = dial.parse(position).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        if snap.certain && snap.hands == p && snap.state != ClockState::NeedsPosition {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONTROL, interactive).await?;
        self.ask(|r| Command::SetPosition(p, r)).await??;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// Stops ticking; the hands stay where they are.
    async fn pause(
        &self,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        if self.snap().paused {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONTROL, interactive).await?;
        self.ask(Command::Pause).await?;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// Starts again and catches up.
    async fn resume(
        &self,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        if !self.snap().paused {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONTROL, interactive).await?;
        self.ask(Command::Resume).await?;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// Moves the hands now by `ticks` (negative: backwards).
    async fn step(
        &self,
        ticks: i32,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        let ticks = i64::from(ticks);
        let max = piclock_core::engine::MAX_STEP;
        if !(-max..=max).contains(&ticks) {
            return Err(MethodError::InvalidArgs(format!("ticks: {ticks} is out of range; accepted: -{max}..={max}")));
        }
        if ticks == 0 {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONTROL, interactive).await?;
        self.ask(|r| Command::Step(ticks, r)).await??;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// Queries NTP now; the outcome comes as `SyncFinished`.
    async fn sync_now(
        &self,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        self.authorizer.authorize(conn, &header, ACTION_CONTROL, interactive).await?;
        let _ = emitter;
        // The time task queries now; its outcome comes as SyncFinished. A
        // request already waiting covers this one.
        let _ = self.sync_requests.try_send(());
        Ok(())
    }

    /// Changes some pulse settings; all or nothing; persisted.
    async fn set_pulse_config(
        &self,
        settings: HashMap<String, OwnedValue>,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        let changes = pulse_dict::changes_from_dict(&settings).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        let current = self.settings.lock().await.clone();
        let next_pulse = current
            .pulse
            .with_changes(changes.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        if next_pulse == current.pulse {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONFIGURE, interactive).await?;
        self.persist(Settings { pulse: next_pulse, ..current }).await?;
        self.ask(|r| Command::SetConfig(next_pulse, r)).await?;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// Sets the NTP servers, in order; persisted.
    #[zbus(name = "SetNTPServers")]
    async fn set_ntp_servers(
        &self,
        servers: Vec<String>,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        validate_ntp_servers(&servers).map_err(MethodError::InvalidArgs)?;
        let current = self.settings.lock().await.clone();
        if current.ntp_servers == servers {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONFIGURE, interactive).await?;
        self.persist(Settings { ntp_servers: servers.clone(), ..current }).await?;
        *self.servers.write().unwrap_or_else(|e| e.into_inner()) = servers;
        self.n_t_p_servers_changed(&emitter).await?;
        Ok(())
    }

    /// Sets the IANA time zone of the dial; persisted.
    async fn set_timezone(
        &self,
        timezone: &str,
        interactive: bool,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &zbus::Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), MethodError> {
        let zone = Zone::named(timezone).map_err(MethodError::InvalidArgs)?;
        if self.snap().zone == zone.name() {
            return Ok(());
        }
        self.authorizer.authorize(conn, &header, ACTION_CONFIGURE, interactive).await?;
        let current = self.settings.lock().await.clone();
        self.persist(Settings { timezone: Some(zone.name().to_owned()), ..current }).await?;
        self.ask(|r| Command::SetZone(zone, r)).await?;
        self.emit_changes(&emitter).await?;
        Ok(())
    }

    /// After each NTP query.
    #[zbus(signal)]
    pub async fn sync_finished(
        emitter: &SignalEmitter<'_>,
        success: bool,
        server: &str,
        offset_usec: i64,
        message: &str,
    ) -> zbus::Result<()>;

    /// A device or store failed (`gpio`, `rtc`, `fram`, `store`, `ntp`).
    #[zbus(signal)]
    pub async fn fault(emitter: &SignalEmitter<'_>, component: &str, message: &str) -> zbus::Result<()>;

    /// Daemon version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// 43200 for a 12-hour dial, 86400 for 24-hour.
    #[zbus(property)]
    fn dial_seconds(&self) -> u32 {
        self.snapshots.borrow().dial_seconds
    }

    /// Where the hands point: seconds past 12:00:00 on the dial.
    #[zbus(property)]
    fn hand_position(&self) -> u32 {
        self.snapshots.borrow().hands
    }

    /// False after an unclean stop left one step in doubt, or before any position was set.
    #[zbus(property)]
    fn position_certain(&self) -> bool {
        self.snapshots.borrow().certain
    }

    /// Hands minus true time, wrapped to half the dial; 0 = right.
    #[zbus(property)]
    fn offset(&self) -> i64 {
        self.snapshots.borrow().offset
    }

    /// `ticking`, `fast-forward`, `reverse`, `waiting`, `paused`, `needs-position`, `fault`.
    #[zbus(property)]
    fn state(&self) -> String {
        self.snapshots.borrow().state.as_str().to_owned()
    }

    /// Expected seconds until the hands are right.
    #[zbus(property)]
    fn catch_up_seconds(&self) -> u32 {
        self.snapshots.borrow().catch_up_seconds
    }

    /// IANA zone the dial shows.
    #[zbus(property)]
    fn timezone(&self) -> String {
        self.snapshots.borrow().zone.clone()
    }

    /// The daemon's true time, µs since the Unix epoch (no signal).
    #[zbus(property(emits_changed_signal = "false"), name = "TimeUSec")]
    fn time_usec(&self) -> u64 {
        u64::try_from(self.snapshots.borrow().true_us.max(0)).unwrap_or(0)
    }

    /// `ntp`, `rtc` or `system`.
    #[zbus(property)]
    fn time_source(&self) -> String {
        timesource::read(&self.time).source.to_owned()
    }

    /// NTP servers queried, in order.
    #[zbus(property, name = "NTPServers")]
    async fn ntp_servers(&self) -> Vec<String> {
        self.settings.lock().await.ntp_servers.clone()
    }

    /// Whether the last query within the interval succeeded.
    #[zbus(property, name = "NTPSynchronized")]
    fn ntp_synchronized(&self) -> bool {
        timesource::read(&self.time).ntp_synchronized
    }

    /// When the last good reply came (0 = never).
    #[zbus(property, name = "LastNTPSyncUSec")]
    fn last_ntp_sync_usec(&self) -> u64 {
        timesource::read(&self.time).last_sync_us
    }

    /// System clock minus NTP time at the last good reply.
    #[zbus(property, name = "NTPOffsetUSec")]
    fn ntp_offset_usec(&self) -> i64 {
        timesource::read(&self.time).ntp_offset_us
    }

    /// Whether a DS3231 answered.
    #[zbus(property, name = "RTCPresent")]
    fn rtc_present(&self) -> bool {
        timesource::read(&self.time).rtc_present
    }

    /// The RTC's time (0 when absent; no signal).
    #[zbus(property(emits_changed_signal = "false"), name = "RTCTimeUSec")]
    fn rtc_time_usec(&self) -> u64 {
        let t = timesource::read(&self.time);
        match (t.rtc_present, t.rtc_minus_base_us) {
            (true, Some(diff)) => {
                let snap = self.snapshots.borrow();
                // The base clock now = true time − the correction in force at
                // the snapshot; the RTC runs beside it.
                let base = snap.true_us - snap.correction_us;
                u64::try_from(base + diff).unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Moves fired since the daemon started (no signal).
    #[zbus(property(emits_changed_signal = "false"))]
    fn tick_count(&self) -> u64 {
        self.snapshots.borrow().tick_count
    }

    /// Moves whose leading edge came more than 1 ms after its deadline (no signal).
    #[zbus(property(emits_changed_signal = "false"))]
    fn late_tick_count(&self) -> u64 {
        self.snapshots.borrow().late_tick_count
    }

    /// The latest leading edge since the daemon started, µs after its deadline (no signal).
    #[zbus(property(emits_changed_signal = "false"), name = "MaxTickLateUSec")]
    fn max_tick_late_usec(&self) -> u64 {
        self.snapshots.borrow().max_tick_late_us
    }

    /// Every pulse and sync setting, by key.
    #[zbus(property)]
    fn pulse_config(&self) -> HashMap<String, OwnedValue> {
        pulse_dict::to_dict(&self.snapshots.borrow().config)
    }

    /// Human-readable current faults (empty when healthy).
    #[zbus(property)]
    fn faults(&self) -> Vec<String> {
        self.snapshots.borrow().faults.clone()
    }
}
