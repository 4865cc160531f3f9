//! Publishing the daemon's state on the bus, from one place.
//!
//! The state lives in three watches: the tick thread's [`Snapshot`], the
//! time task's [`TimeStatus`] and the [`SavedSettings`]. A [`View`] reads
//! all three at one moment; every property getter and every no-op check
//! of the service reads through it. [`Publisher::publish`] compares the
//! view with what it last emitted, through the one table of the object
//! ([`EMITTED`]), and
//! sends one `PropertiesChanged` listing every changed property, a `Fault`
//! for each device fault that appeared (or changed), and `SyncFinished`
//! after each NTP query. [`Publisher::follow`] is the task that calls it
//! whenever a watch changes (at most every [`EMIT_INTERVAL`]); methods call
//! it too before they reply, so a caller sees the signal first, as with
//! systemd's timedated.

use crate::notify::Notifier;
use crate::saved_settings::SavedSettings;
use crate::tick::Snapshot;
use crate::timesource::TimeStatus;
use piclock_core::engine::ClockState;
use piclock_dbus::names::INTERFACE;
use piclock_dbus::pulse_dict;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

/// The signals the publisher sends (declared for introspection with the
/// object, in `service.rs`), with their arguments: `Fault`: component, message.
const FAULT: &str = "Fault";
type FaultArgs<'a> = (&'a str, &'a str);
/// `SyncFinished`: success, server, offset_usec, message.
const SYNC_FINISHED: &str = "SyncFinished";
type SyncFinishedArgs<'a> = (bool, &'a str, i64, &'a str);
/// `SensorCorrected`: steps, reason.
const SENSOR_CORRECTED: &str = "SensorCorrected";
type SensorCorrectedArgs<'a> = (i32, &'a str);

/// Shortest interval between two bursts from [`Publisher::follow`].
pub const EMIT_INTERVAL: Duration = Duration::from_millis(20);

/// The three watches the state lives in.
#[derive(Clone)]
pub struct Sources {
    /// The tick thread's snapshots.
    pub tick: watch::Receiver<Snapshot>,
    /// The time task's status.
    pub time: watch::Receiver<TimeStatus>,
    /// The saved settings (the service is their only writer).
    pub settings: watch::Receiver<SavedSettings>,
}

impl Sources {
    /// Runs `f` on a view of all three at this moment.
    pub fn read<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        let (tick, time, settings) = (self.tick.borrow(), self.time.borrow(), self.settings.borrow());
        f(&View { tick: &tick, time: &time, settings: &settings })
    }
}

/// The daemon's state at one moment: what every property is read from.
pub struct View<'a> {
    /// The tick thread's latest snapshot.
    pub tick: &'a Snapshot,
    /// The time task's latest status.
    pub time: &'a TimeStatus,
    /// The settings in force (and saved).
    pub settings: &'a SavedSettings,
}

impl View<'_> {
    /// `RTCTimeUSec`: the RTC runs beside the base clock, which is true
    /// time minus the correction in force at the snapshot.
    pub fn rtc_time_usec(&self) -> u64 {
        match (self.time.rtc_present, self.time.rtc_minus_base_us) {
            (true, Some(diff)) => u64::try_from(self.tick.true_us - self.tick.correction_us + diff).unwrap_or(0),
            _ => 0,
        }
    }

    /// `TimeUSec`: the daemon's true time at the snapshot.
    pub fn time_usec(&self) -> u64 {
        u64::try_from(self.tick.true_us.max(0)).unwrap_or(0)
    }

    /// `PulseConfig`: the settings in force, by key.
    pub fn pulse_config(&self) -> HashMap<String, OwnedValue> {
        pulse_dict::to_dict(&self.settings.pulse)
    }

    /// `Faults`: the tick thread's, then the time sources' (dropped servers).
    pub fn faults(&self) -> Vec<String> {
        self.tick.faults.iter().chain(&self.time.notes).cloned().collect()
    }

    /// `SensorWindow`: for each configured sensor `<name>_source`
    /// (`configured`, `learned`, `assumed`, or `learning`), and when its
    /// window is known `<name>_offset` (`i`), `<name>_width` and
    /// `<name>_tolerance` (`u`), else `<name>_passes` (`u`: passes measured
    /// so far).
    pub fn sensor_window(&self) -> HashMap<String, OwnedValue> {
        let mut d = HashMap::new();
        for (kind, window) in &self.tick.sensors.windows {
            let key = |k: &str| format!("{}_{k}", kind.name());
            let text = |s: &str| OwnedValue::try_from(Value::from(s.to_owned())).ok();
            let entries = match window {
                Ok((w, source)) => vec![
                    (key("source"), text(source.as_str())),
                    (key("offset"), Some(OwnedValue::from(w.offset))),
                    (key("width"), Some(OwnedValue::from(w.width))),
                    (key("tolerance"), Some(OwnedValue::from(w.tolerance))),
                ],
                Err(passes) => vec![
                    (key("source"), text("learning")),
                    (key("passes"), Some(OwnedValue::from(u32::try_from(*passes).unwrap_or(u32::MAX)))),
                ],
            };
            d.extend(entries.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        }
        d
    }

    /// Every device fault now: the tick thread's and the time sources'.
    pub fn device_faults(&self) -> Vec<(&'static str, String)> {
        self.tick.device_faults.iter().chain(&self.time.faults).cloned().collect()
    }

    /// The one-line `STATUS=` systemd shows: state, and how far off the hands are.
    pub fn status_line(&self) -> String {
        let s = self.tick;
        match s.state {
            ClockState::NeedsPosition => "waiting for the hand position (SetHandPosition)".to_owned(),
            ClockState::Ticking if s.offset == 0 => "ticking, hands right".to_owned(),
            ClockState::Paused => format!("paused, hands {:+} s off", s.offset),
            state => {
                let mut t = format!("{state}, hands {:+} s off", s.offset);
                if s.catch_up_seconds > 0 {
                    t.push_str(&format!(", right in about {} min", s.catch_up_seconds.div_ceil(60)));
                }
                if !s.faults.is_empty() {
                    t.push_str(&format!("; {}", s.faults.join("; ")));
                }
                t
            }
        }
    }
}

/// How to read one property from a [`View`].
pub type Read = fn(&View<'_>) -> Value<'static>;

/// Reads a value from `v` with a reading of the property table.
fn read<T>(v: &View<'_>, read: impl FnOnce(&View<'_>) -> T) -> T {
    read(v)
}

/// Builds [`EMITTED`] from the `Signalled` rows of the property table.
macro_rules! emitted_table {
    (
        Signalled { $( $(#[$doc:meta])* $since:ident $name:literal $field:ident: $ty:ty = $read:expr; )* }
        $($others:tt)*
    ) => {
        /// Every property that emits `PropertiesChanged`, and how to read it
        /// from the state: the `Signalled` rows of the property table
        /// ([`piclock_dbus::clock1_properties!`]), which the publisher
        /// compares and signals. The others are constant or change too
        /// often to signal.
        pub const EMITTED: &[(&str, Read)] = &[$( ($name, |v| Value::from(read(v, $read))) ),*];
    };
}

piclock_dbus::clock1_properties!(emitted_table);

/// What was emitted last.
#[derive(Default)]
struct Emitted {
    values: Option<Vec<Value<'static>>>,
    faults: Vec<(&'static str, String)>,
    query_seq: u64,
    status_line: String,
    correction_seq: u32,
}

/// What one burst must signal.
struct Burst {
    changed: HashMap<&'static str, Value<'static>>,
    faults: Vec<(&'static str, String)>,
    query: Option<crate::timesource::QueryOutcome>,
    status_line: Option<String>,
    corrections: Vec<crate::tick::CorrectionNote>,
}

/// Emits what changed; the one place that signals state.
pub struct Publisher {
    sources: Sources,
    emitter: SignalEmitter<'static>,
    emitted: Mutex<Emitted>,
    notifier: Option<Arc<Notifier>>,
}

impl Publisher {
    /// A publisher of `sources` through `emitter` (the object's path on the
    /// bus), also telling systemd (`STATUS=`) through `notifier`.
    pub fn new(sources: Sources, emitter: SignalEmitter<'static>, notifier: Option<Arc<Notifier>>) -> Publisher {
        Publisher { sources, emitter, emitted: Mutex::new(Emitted::default()), notifier }
    }

    /// The watches it reads.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Compares the state with what was last emitted and signals the
    /// difference: one `PropertiesChanged` (none on the first call, which
    /// only records the state), `Fault`s, `SyncFinished`.
    pub async fn publish(&self) -> zbus::Result<()> {
        let emitter = &self.emitter;
        let mut last = self.emitted.lock().await;
        let burst = self.sources.read(|v| diff(v, &mut last));
        if let (Some(n), Some(line)) = (&self.notifier, &burst.status_line) {
            n.status(line);
        }
        if !burst.changed.is_empty() {
            let iface = InterfaceName::from_static_str_unchecked(INTERFACE);
            zbus::fdo::Properties::properties_changed(emitter, iface, burst.changed, Cow::Borrowed(&[])).await?;
        }
        for (component, message) in &burst.faults {
            let args: FaultArgs = (component, message);
            emitter.emit(INTERFACE, FAULT, &args).await?;
        }
        if let Some(q) = burst.query {
            let args: SyncFinishedArgs = (q.success, &q.server, q.offset_us, &q.message);
            emitter.emit(INTERFACE, SYNC_FINISHED, &args).await?;
        }
        for c in &burst.corrections {
            let args: SensorCorrectedArgs = (c.steps, &c.reason);
            emitter.emit(INTERFACE, SENSOR_CORRECTED, &args).await?;
        }
        Ok(())
    }

    /// Publishes whenever one of the watches changes, coalescing bursts (at
    /// most one every [`EMIT_INTERVAL`]; under `--speed` the watches keep
    /// the latest state). Ends when the tick thread's watch closes.
    pub async fn follow(self: Arc<Self>) {
        let Sources { mut tick, mut time, mut settings } = self.sources.clone();
        loop {
            if let Err(e) = self.publish().await {
                tracing::warn!("emitting signals: {e}");
            }
            tokio::time::sleep(EMIT_INTERVAL).await;
            let closed = tokio::select! {
                r = tick.changed() => r.is_err(),
                r = time.changed() => r.is_err() && tick.changed().await.is_err(),
                r = settings.changed() => r.is_err() && tick.changed().await.is_err(),
            };
            if closed {
                return;
            }
        }
    }
}

/// What changed in `v` since `last`, which becomes `v`.
fn diff(v: &View<'_>, last: &mut Emitted) -> Burst {
    let values: Vec<Value<'static>> = EMITTED.iter().map(|(_, read)| read(v)).collect();
    let changed = match &last.values {
        Some(before) => EMITTED
            .iter()
            .zip(values.iter().zip(before))
            .filter(|(_, (now, was))| now != was)
            .map(|((name, _), (now, _))| (*name, now.clone()))
            .collect(),
        None => HashMap::new(),
    };
    last.values = Some(values);
    let now_faults = v.device_faults();
    let faults = now_faults.iter().filter(|f| !last.faults.contains(f)).cloned().collect();
    last.faults = now_faults;
    let query = v.time.last_query.as_ref().filter(|q| q.seq > last.query_seq).cloned();
    if let Some(q) = &query {
        last.query_seq = q.seq;
    }
    let line = v.status_line();
    let status_line = (line != last.status_line).then(|| line.clone());
    last.status_line = line;
    let corrections: Vec<_> = v.tick.sensors.recent.iter().filter(|c| c.seq > last.correction_seq).cloned().collect();
    last.correction_seq = last.correction_seq.max(v.tick.sensors.corrections);
    Burst { changed, faults, query, status_line, corrections }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, type, emits changes) of every property in the contract's XML.
    fn xml_properties() -> Vec<(String, String, bool)> {
        let xml = piclock_dbus::INTROSPECTION_XML;
        xml.split("<property ")
            .skip(1)
            .map(|p| {
                let attr = |a: &str| p.split(&format!("{a}=\"")).nth(1).and_then(|r| r.split('"').next());
                // Up to the first "/>": the property itself when it is
                // self-closing, else up to the end of its first annotation.
                let silent = p.split("/>").next().unwrap_or(p).contains("EmitsChangedSignal");
                (attr("name").unwrap().to_owned(), attr("type").unwrap().to_owned(), !silent)
            })
            .collect()
    }

    /// The publisher signals exactly the properties the contract says emit
    /// changes, each with the type the contract gives it.
    #[test]
    fn the_emitted_table_is_the_contracts_list_with_its_types() {
        let props = xml_properties();
        assert!(props.len() >= 20, "{props:?}");
        let tick = Snapshot::initial(43_200, "UTC", 0);
        let (time, settings) = (TimeStatus::default(), SavedSettings::default());
        let view = View { tick: &tick, time: &time, settings: &settings };
        let mut expected: Vec<_> = props.iter().filter(|p| p.2).map(|p| (p.0.clone(), p.1.clone())).collect();
        let mut table: Vec<_> =
            EMITTED.iter().map(|(name, read)| (name.to_string(), read(&view).value_signature().to_string())).collect();
        expected.sort();
        table.sort();
        assert_eq!(table, expected);
    }

    /// Each signal is sent with the argument types the contract gives it.
    #[test]
    fn the_signals_are_sent_with_the_contracts_arguments() {
        use zbus::zvariant::Type;
        let xml = piclock_dbus::interface_element(piclock_dbus::INTROSPECTION_XML).expect("interface");
        let args = |signal: &str| -> String {
            let start = xml.find(&format!("<signal name=\"{signal}\">")).expect(signal);
            let end = start + xml[start..].find("</signal>").expect("end of the signal");
            xml[start..end].split("type=\"").skip(1).filter_map(|t| t.split('"').next()).collect()
        };
        let sent = |signature: String| signature.trim_start_matches('(').trim_end_matches(')').to_owned();
        assert_eq!(args(FAULT), sent(FaultArgs::SIGNATURE.to_string()));
        assert_eq!(args(SYNC_FINISHED), sent(SyncFinishedArgs::SIGNATURE.to_string()));
        assert_eq!(args(SENSOR_CORRECTED), sent(SensorCorrectedArgs::SIGNATURE.to_string()));
    }
}
