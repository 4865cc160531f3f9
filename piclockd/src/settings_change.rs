//! The one path that changes the saved settings: re-read, change, save,
//! put in force (the tick thread's pulse settings, the time zone), under one
//! lock. `SetPulseConfig`, `SetNTPServers` and `SetTimezone` use it after
//! polkit said yes; so does the drive tuning of the hand sensors
//! ([`follow_raises`]), which the daemon decides by itself.

use crate::method_error::{ask, MethodError, MethodResult};
use crate::publish::Publisher;
use crate::saved_settings::{SavedSettings, SavedSettingsFile};
use crate::tick::Command;
use crate::zone::Zone;
use piclock_core::hand_sensor::duty_tuner::Raise;
use piclock_core::pulse_config::ConfigValue;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Mutex};

/// Changes the saved settings; see the module documentation.
pub struct SettingsChanger {
    settings: watch::Sender<SavedSettings>,
    /// Held while settings are re-read, changed, saved and applied.
    lock: Mutex<()>,
    file: SavedSettingsFile,
    commands: Sender<Command>,
}

impl SettingsChanger {
    /// The changer of `settings` (their only writer), saved in `file`, put
    /// in force through the tick thread's `commands`.
    pub fn new(settings: watch::Sender<SavedSettings>, file: SavedSettingsFile, commands: Sender<Command>) -> Self {
        SettingsChanger { settings, lock: Mutex::new(()), file, commands }
    }

    /// Re-reads the settings, applies `change` to them, saves them and puts
    /// them in force, all under one lock, so that overlapping calls never
    /// undo each other and the file always equals the running state (the
    /// last caller wins). Ok(false): `change` changed nothing.
    pub async fn change(
        &self,
        change: impl FnOnce(SavedSettings) -> MethodResult<SavedSettings>,
    ) -> MethodResult<bool> {
        let _guard = self.lock.lock().await;
        let before = self.settings.borrow().clone();
        let next = change(before.clone())?;
        if next == before {
            return Ok(false);
        }
        let (file, saved) = (self.file.clone(), next.clone());
        tokio::task::spawn_blocking(move || file.save(&saved))
            .await
            .map_err(|e| MethodError::Failed(format!("saving the settings: {e}")))?
            .map_err(|e| MethodError::Hardware(e.to_string()))?;
        if next.pulse != before.pulse {
            let pulse = next.pulse;
            ask(&self.commands, |r| Command::SetConfig(pulse, r)).await?;
        }
        if next.timezone != before.timezone {
            if let Some(zone) = next
                .timezone
                .as_deref()
                .map(Zone::named)
                .transpose()
                .map_err(|e| MethodError::InvalidArgs(e.to_string()))?
            {
                ask(&self.commands, |r| Command::SetZone(zone, r)).await?;
            }
        }
        self.settings.send_replace(next);
        Ok(true)
    }
}

/// Puts in force the duty raises the tick thread's drive tuner asks for,
/// through the same path as `SetPulseConfig` (validated, saved, applied,
/// `PropertiesChanged` for `PulseConfig`), and logs each; until `raises`
/// closes. A raise to a value already reached (the user raised it
/// meanwhile) changes nothing.
pub async fn follow_raises(
    mut raises: mpsc::UnboundedReceiver<Raise>,
    changer: Arc<SettingsChanger>,
    publisher: Arc<Publisher>,
) {
    while let Some(raise) = raises.recv().await {
        let key = raise.duty.key();
        let changed = changer
            .change(|s| {
                if raise.duty.value(&s.pulse) >= raise.to {
                    return Ok(s);
                }
                let pulse = s
                    .pulse
                    .with_changes([(key, ConfigValue::U32(raise.to))])
                    .map_err(|e| MethodError::InvalidArgs(e.to_string()))?;
                Ok(SavedSettings { pulse, ..s })
            })
            .await;
        match changed {
            Ok(true) => {
                tracing::warn!(key, from = raise.from, to = raise.to, "drive tuned: {}", raise.reason);
                if let Err(e) = publisher.publish().await {
                    tracing::error!("announcing the tuned drive: {e}");
                }
            }
            Ok(false) => tracing::info!(key, "drive tuning: {key} is at {} or more already", raise.to),
            Err(e) => tracing::error!(key, "drive tuning: raising {key} to {} failed: {e:?}", raise.to),
        }
    }
}
