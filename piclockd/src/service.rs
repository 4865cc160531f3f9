//! The `org.piclock.Clock1` D-Bus object.
//!
//! Every method reads top to bottom as in systemd's timedated: validate,
//! return at once when nothing would change (reading the one [`View`] of
//! the state), ask polkit, act (a command to the tick thread, or a change of
//! the saved settings under one lock), publish what changed (the
//! [`Publisher`], the one place that emits signals), reply. Properties are
//! read from the same view: their getters are built from the rows of the
//! property table ([`piclock_dbus::clock1_properties!`]) by
//! `clock1_interface!`, which also declares the methods (answered by the
//! `do_` methods of [`Clock1`]) and the signals.

use crate::authority::Authorizer;
use crate::method_error::{ask, MethodError, MethodResult};
use crate::publish::{Publisher, View};
use crate::saved_settings::{ntp_server_list, SavedSettings};
use crate::settings_change::SettingsChanger;
use crate::tick::Command;
use crate::zone::Zone;
use piclock_core::dial::Dial;
use piclock_core::engine::{check_step, ClockState};
use piclock_core::impulse_line::Drive;
use piclock_core::pulse_config::PulseConfig;
use piclock_dbus::bounded::{BoundedSettings, BoundedStrings};
use piclock_dbus::names::{ACTION_CONFIGURE, ACTION_CONTROL};
use piclock_dbus::pulse_dict;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// The D-Bus object.
pub struct Clock1 {
    conn: zbus::Connection,
    publisher: Arc<Publisher>,
    commands: Sender<Command>,
    settings: Arc<SettingsChanger>,
    authorizer: Authorizer,
    sync_requests: mpsc::Sender<()>,
    tick_scheduling: String,
    drive: Drive,
}

/// What the object is built from.
pub struct ServiceSetup {
    /// The bus connection the object is served on (polkit is asked over it).
    pub conn: zbus::Connection,
    /// Emits what changes; its sources are what the properties show.
    pub publisher: Arc<Publisher>,
    /// The tick thread's commands.
    pub commands: Sender<Command>,
    /// Changes the saved settings (shared with the drive tuning).
    pub settings: Arc<SettingsChanger>,
    /// Who may change what.
    pub authorizer: Authorizer,
    /// `SyncNow` asks the time task through this.
    pub sync_requests: mpsc::Sender<()>,
    /// What the tick thread got: real-time priority, locked memory (`TickScheduling`).
    pub tick_scheduling: String,
    /// What the coil lines drive (`MovementKind`, `StepSeconds`).
    pub drive: Drive,
}

impl Clock1 {
    /// The object.
    pub fn new(setup: ServiceSetup) -> Clock1 {
        let ServiceSetup { conn, publisher, commands, settings, authorizer, sync_requests, tick_scheduling, drive } =
            setup;
        Clock1 { conn, publisher, commands, settings, authorizer, sync_requests, tick_scheduling, drive }
    }

    /// Reads the state at this moment.
    fn view<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        self.publisher.sources().read(f)
    }

    /// Asks polkit (or the session bus's same-user rule) whether the caller
    /// of `header` may do `action`.
    async fn authorize(&self, header: &Header<'_>, action: &str, interactive: bool) -> MethodResult<()> {
        self.authorizer.authorize(&self.conn, header, action, interactive).await
    }

    /// A `control` call that passed its checks: polkit, the command, the signals.
    async fn control<T>(
        &self,
        header: &Header<'_>,
        interactive: bool,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> MethodResult<T> {
        self.authorize(header, ACTION_CONTROL, interactive).await?;
        let result = ask(&self.commands, command).await?;
        self.publish().await?;
        Ok(result)
    }

    /// A `configure` call that passed its checks: polkit, the settings
    /// changed under their lock, the signals.
    async fn configure(
        &self,
        header: &Header<'_>,
        interactive: bool,
        change: impl FnOnce(SavedSettings) -> MethodResult<SavedSettings>,
    ) -> MethodResult<()> {
        self.authorize(header, ACTION_CONFIGURE, interactive).await?;
        self.settings.change(change).await?;
        self.publish().await
    }

    /// Signals what the call changed before it replies.
    async fn publish(&self) -> MethodResult<()> {
        self.publisher.publish().await.map_err(MethodError::from)
    }
}

/// The methods of the interface: each is answered here (the interface in
/// `clock1_interface!` forwards the call).
impl Clock1 {
    /// `SetHandPosition`: "What the hands show now": `H:MM` or `H:MM:SS`.
    async fn do_set_hand_position(
        &self,
        position: &str,
        interactive: bool,
        header: &Header<'_>,
    ) -> Result<(), MethodError> {
        let (dial_seconds, hands, certain, state, found) = self
            .view(|v| (v.tick.dial_seconds, v.tick.hands, v.tick.certain, v.tick.state, v.tick.sensors.seconds_found));
        let dial = Dial::from_seconds(dial_seconds).unwrap_or(Dial::TWELVE_HOUR);
        let mut p = dial.parse(position).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        // `H:MM` after homing with a seconds sensor: the seconds it found.
        if let (Some(seconds), 1) = (found, position.trim().matches(':').count()) {
            p += seconds % 60;
        }
        let step = self.drive.step_s();
        if p % step != 0 {
            return Err(MethodError::invalid(
                "position",
                format!(
                    "{position:?}: this impulse line moves {step} s a step, so its hands show multiples of {step} s; \
                     accepted: {}",
                    if step == 60 { "H:MM" } else { "H:MM:SS with the seconds 00 or 30" }
                ),
            ));
        }
        if certain && hands == p && state != ClockState::NeedsPosition {
            return Ok(());
        }
        self.control(header, interactive, |r| Command::SetPosition(p, r)).await??;
        Ok(())
    }

    /// `Pause`: stops ticking; the hands stay where they are.
    async fn do_pause(&self, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        match self.view(|v| v.tick.paused) {
            true => Ok(()),
            false => self.control(header, interactive, Command::Pause).await,
        }
    }

    /// `Resume`: starts again and catches up.
    async fn do_resume(&self, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        match self.view(|v| v.tick.paused) {
            false => Ok(()),
            true => self.control(header, interactive, Command::Resume).await,
        }
    }

    /// `Step`: moves the hands now by `ticks` (negative: backwards).
    async fn do_step(&self, ticks: i32, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        let ticks = i64::from(ticks);
        if ticks == 0 {
            return Ok(());
        }
        // Everything the engine would refuse is refused before polkit asks.
        if ticks < 0 && matches!(self.drive, Drive::Impulse(_)) {
            return Err(MethodError::invalid(
                "ticks",
                format!("{ticks}: an impulse line cannot run backwards; accepted: 1..=3600 (impulses forward)"),
            ));
        }
        self.view(|v| check_step(ticks, v.tick.hands_known, &v.settings.pulse, v.tick.pending_steps))
            .map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        self.control(header, interactive, |r| Command::Step(ticks, r)).await??;
        Ok(())
    }

    /// `Home`: finds the hand position with the hand sensors: fast-forward until the noon sensor (or the seconds sensor) marks 12.
    async fn do_home(&self, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        let (configured, homing) = self.view(|v| (!v.tick.sensors.configured.is_empty(), v.tick.sensors.homing));
        if !configured {
            return Err(MethodError::NotSupported("no hand sensor is configured ([sensor] in the admin file)".into()));
        }
        if homing {
            return Ok(());
        }
        self.control(header, interactive, Command::Home).await??;
        Ok(())
    }

    /// `SyncNow`: queries NTP now; the outcome comes as `SyncFinished`.
    async fn do_sync_now(&self, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        self.authorize(header, ACTION_CONTROL, interactive).await?;
        // A request already waiting covers this one.
        let _ = self.sync_requests.try_send(());
        Ok(())
    }

    /// `SetPulseConfig`: changes some pulse settings; all or nothing; persisted.
    async fn do_set_pulse_config(
        &self,
        settings: BoundedSettings,
        interactive: bool,
        header: &Header<'_>,
    ) -> Result<(), MethodError> {
        let changes =
            pulse_dict::changes_from_settings(&settings).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        // On an impulse line, a change of its timing must fit one step.
        let line = match self.drive {
            Drive::Impulse(line) if changes.iter().any(|(k, _)| k.starts_with("impulse_")) => Some(line),
            _ => None,
        };
        let apply = |pulse: &PulseConfig| {
            let next = pulse.with_changes(changes.iter().map(|(k, v)| (k.as_str(), *v)));
            let next = next.and_then(|n| line.map_or(Ok(()), |l| l.check(&n)).map(|()| n));
            next.map_err(|e| MethodError::InvalidArgs(e.to_string()))
        };
        let current = self.view(|v| v.settings.pulse);
        if apply(&current)? == current {
            return Ok(());
        }
        self.configure(header, interactive, |s| Ok(SavedSettings { pulse: apply(&s.pulse)?, ..s })).await
    }

    /// `SetNTPServers`: sets the NTP servers, in order; persisted.
    async fn do_set_ntp_servers(
        &self,
        servers: BoundedStrings,
        interactive: bool,
        header: &Header<'_>,
    ) -> Result<(), MethodError> {
        let servers = ntp_server_list(&servers).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        if self.view(|v| v.settings.ntp_servers == servers) {
            return Ok(());
        }
        self.configure(header, interactive, |s| Ok(SavedSettings { ntp_servers: servers, ..s })).await
    }

    /// `SetTimezone`: sets the IANA time zone of the dial; persisted.
    async fn do_set_timezone(&self, timezone: &str, interactive: bool, header: &Header<'_>) -> Result<(), MethodError> {
        let zone = Zone::named(timezone).map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
        if self.view(|v| v.tick.zone == zone.name()) {
            return Ok(());
        }
        self.configure(header, interactive, |s| Ok(SavedSettings { timezone: Some(zone.name().to_owned()), ..s })).await
    }
}

/// How a `Constant` row of the property table reads the object.
fn read_object<T>(object: &Clock1, read: impl FnOnce(&Clock1) -> T) -> T {
    read(object)
}

/// The object's interface, built from the rows of the property table
/// ([`piclock_dbus::clock1_properties!`]): its methods (each answered by
/// its `do_` method above), its signals (for introspection: the
/// [`Publisher`] sends them) and a getter per property, reading the state's
/// [`View`] (`Signalled`, `Unsignalled`) or the object (`Constant`).
macro_rules! clock1_interface {
    (
        Signalled { $( $(#[$($sdoc:tt)*])* $ssince:ident $sname:tt $sfield:ident: $sty:ty = $sread:expr; )* }
        Unsignalled { $( $(#[$($udoc:tt)*])* $usince:ident $uname:tt $ufield:ident: $uty:ty = $uread:expr; )* }
        Constant { $( $(#[$($cdoc:tt)*])* $csince:ident $cname:tt $cfield:ident: $cty:ty = $cread:expr; )* }
    ) => {
        #[zbus::interface(name = "org.piclock.Clock1")]
        impl Clock1 {
            /// "What the hands show now": `H:MM` or `H:MM:SS`.
            async fn set_hand_position(
                &self,
                position: &str,
                interactive: bool,
                #[zbus(header)] header: Header<'_>,
            ) -> Result<(), MethodError> {
                self.do_set_hand_position(position, interactive, &header).await
            }

            /// Stops ticking; the hands stay where they are.
            async fn pause(&self, interactive: bool, #[zbus(header)] header: Header<'_>) -> Result<(), MethodError> {
                self.do_pause(interactive, &header).await
            }

            /// Starts again and catches up.
            async fn resume(&self, interactive: bool, #[zbus(header)] header: Header<'_>) -> Result<(), MethodError> {
                self.do_resume(interactive, &header).await
            }

            /// Moves the hands now by `ticks` (negative: backwards).
            async fn step(
                &self,
                ticks: i32,
                interactive: bool,
                #[zbus(header)] header: Header<'_>,
            ) -> Result<(), MethodError> {
                self.do_step(ticks, interactive, &header).await
            }

            /// Finds the hand position with the hand sensors: fast-forward until the noon sensor (or the seconds sensor) marks 12.
            async fn home(&self, interactive: bool, #[zbus(header)] header: Header<'_>) -> Result<(), MethodError> {
                self.do_home(interactive, &header).await
            }

            /// Queries NTP now; the outcome comes as `SyncFinished`.
            async fn sync_now(&self, interactive: bool, #[zbus(header)] header: Header<'_>) -> Result<(), MethodError> {
                self.do_sync_now(interactive, &header).await
            }

            /// Changes some pulse settings; all or nothing; persisted.
            async fn set_pulse_config(
                &self,
                settings: BoundedSettings,
                interactive: bool,
                #[zbus(header)] header: Header<'_>,
            ) -> Result<(), MethodError> {
                self.do_set_pulse_config(settings, interactive, &header).await
            }

            /// Sets the NTP servers, in order; persisted.
            #[zbus(name = "SetNTPServers")]
            async fn set_ntp_servers(
                &self,
                servers: BoundedStrings,
                interactive: bool,
                #[zbus(header)] header: Header<'_>,
            ) -> Result<(), MethodError> {
                self.do_set_ntp_servers(servers, interactive, &header).await
            }

            /// Sets the IANA time zone of the dial; persisted.
            async fn set_timezone(
                &self,
                timezone: &str,
                interactive: bool,
                #[zbus(header)] header: Header<'_>,
            ) -> Result<(), MethodError> {
                self.do_set_timezone(timezone, interactive, &header).await
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

            /// A device or store failed (`gpio`, `rtc`, `fram`, `store`, `ntp`, `sensor`).
            #[zbus(signal)]
            pub async fn fault(emitter: &SignalEmitter<'_>, component: &str, message: &str) -> zbus::Result<()>;

            /// A hand sensor found the hands `steps` off the belief, which was corrected by that much.
            #[zbus(signal)]
            pub async fn sensor_corrected(emitter: &SignalEmitter<'_>, steps: i32, reason: &str) -> zbus::Result<()>;

            $(
                $(#[$($sdoc)*])*
                #[zbus(property, name = $sname)]
                fn $sfield(&self) -> $sty {
                    self.view($sread)
                }
            )*

            $(
                $(#[$($udoc)*])*
                #[zbus(property(emits_changed_signal = "false"), name = $uname)]
                fn $ufield(&self) -> $uty {
                    self.view($uread)
                }
            )*

            $(
                $(#[$($cdoc)*])*
                #[zbus(property(emits_changed_signal = "const"), name = $cname)]
                fn $cfield(&self) -> $cty {
                    read_object(self, $cread)
                }
            )*
        }
    };
}

/// The interface's impl. Its signals are declared for introspection only:
/// the publisher sends them by name (publish.rs), so the trait zbus derives
/// from them is never called.
#[allow(dead_code)]
mod interface {
    use super::*;
    piclock_dbus::clock1_properties!(clock1_interface);
}
