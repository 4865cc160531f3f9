//! One reading of every property of `org.piclock.Clock1`, taken together:
//! what `piclockctl status` prints and what the panel shows.
//!
//! The reading is one `org.freedesktop.DBus.Properties.GetAll` call, so every
//! value comes from the same moment, decoded by name into [`Properties`]
//! (as systemd's `timedatectl` does with `bus_map_all_properties`). The
//! struct literal in [`Properties::from_all`] is the name table: one line
//! per property, D-Bus name to field. Properties the daemon has and this
//! table does not (a newer daemon) are ignored.

use crate::names::INTERFACE;
use crate::{pulse_dict, Clock1Proxy, PulseConfig};
use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Type};

/// The member named by a [`ReadError`] when the `GetAll` call itself failed.
pub const GET_ALL: &str = "Properties.GetAll";

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
    /// Whether the DS3231 answered at its last read.
    pub rtc_present: bool,
    /// The RTC and the path it is read through ("" when there is none, or
    /// from a daemon older than this property).
    pub rtc_device: String,
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
    /// How the tick thread runs (real-time priority, locked memory), in
    /// words; empty from a daemon that predates the property.
    pub tick_scheduling: String,
    /// What the coil lines drive: `quartz` or `impulse`; empty from a
    /// daemon that predates the property (quartz).
    pub movement_kind: String,
    /// Seconds of dial per step; 0 from a daemon that predates the
    /// property (1: quartz).
    pub step_seconds: u32,
    /// Current faults.
    pub faults: Vec<String>,
    /// The hand sensors configured (`seconds`, `noon`); empty when none,
    /// or from a daemon older than the sensors.
    pub sensors_configured: Vec<String>,
    /// When a hand sensor last checked the belief, µs since the epoch (0: never).
    pub last_sensor_check_usec: u64,
    /// Corrections of the belief by the hand sensors since the daemon started.
    pub sensor_corrections: u32,
    /// Each sensor's window, by key (see the contract's `SensorWindow`).
    pub sensor_window: HashMap<String, OwnedValue>,
}

/// A quartz clock on a 12-hour dial, ticking with its hands right at
/// 12:00:00 UTC on the first day of the epoch, every other value zero or
/// empty and the pulse settings the defaults: a base for readings built by
/// hand (tests, screenshots) with `..Properties::default()`.
impl Default for Properties {
    fn default() -> Self {
        Properties {
            version: String::new(),
            dial_seconds: 43_200,
            hand_position: 0,
            position_certain: true,
            offset: 0,
            state: "ticking".into(),
            catch_up_seconds: 0,
            timezone: "UTC".into(),
            time_usec: 0,
            time_source: "system".into(),
            ntp_servers: Vec::new(),
            ntp_synchronized: false,
            last_ntp_sync_usec: 0,
            ntp_offset_usec: 0,
            rtc_present: false,
            rtc_device: String::new(),
            rtc_time_usec: 0,
            pulse: Ok(PulseConfig::default()),
            tick_count: 0,
            late_tick_count: 0,
            max_tick_late_usec: 0,
            tick_scheduling: String::new(),
            movement_kind: "quartz".into(),
            step_seconds: 1,
            faults: Vec::new(),
            sensors_configured: Vec::new(),
            last_sensor_check_usec: 0,
            sensor_corrections: 0,
            sensor_window: HashMap::new(),
        }
    }
}

impl Properties {
    /// Seconds of dial per step, 1 when the daemon predates `StepSeconds`.
    pub fn step(&self) -> u32 {
        self.step_seconds.max(1)
    }

    /// Whether the coil lines drive an impulse line (a slave clock).
    pub fn impulse(&self) -> bool {
        self.movement_kind == "impulse"
    }

    /// A text key of `SensorWindow` (`seconds_source`, …).
    pub fn window_text(&self, key: &str) -> Option<String> {
        self.sensor_window.get(key).and_then(|v| String::try_from(v.clone()).ok())
    }

    /// A number key of `SensorWindow` (`seconds_width`, `seconds_offset`, …).
    pub fn window_number(&self, key: &str) -> Option<i64> {
        let v = self.sensor_window.get(key)?;
        u32::try_from(v).map(i64::from).or_else(|_| i32::try_from(v).map(i64::from)).ok()
    }
}

/// A property read that failed: which member, and the error.
///
/// A property missing from the daemon's answer, or of another type than
/// the contract's, is reported as `org.freedesktop.DBus.Error.UnknownProperty`
/// naming the property (the daemon does not have that member of this
/// contract: it is too old, or not this contract's daemon). When the
/// `GetAll` call itself fails, `member` is [`GET_ALL`].
#[derive(Debug)]
pub struct ReadError {
    /// The property's D-Bus name, or [`GET_ALL`].
    pub member: &'static str,
    /// What went wrong.
    pub error: zbus::Error,
}

impl ReadError {
    fn unknown_property(member: &'static str, message: String) -> ReadError {
        ReadError { member, error: zbus::Error::FDO(Box::new(zbus::fdo::Error::UnknownProperty(message))) }
    }
}

/// The answer of `GetAll`, handed out property by property.
struct Answer(HashMap<String, OwnedValue>);

// The error is the public `ReadError` (a member name and a `zbus::Error`) that
// `Properties::read` has always returned; it comes at most once per reading.
#[allow(clippy::result_large_err)]
impl Answer {
    /// Takes `member` out of the answer as a `T`, checking its D-Bus type
    /// exactly against `T`'s (so `a{su}` is not taken for `a{sv}`).
    fn take<T>(&mut self, member: &'static str) -> Result<T, ReadError>
    where
        T: Type + TryFrom<OwnedValue>,
        T::Error: std::fmt::Display,
    {
        let value = self.0.remove(member).ok_or_else(|| {
            ReadError::unknown_property(member, format!("the daemon's {INTERFACE} has no property {member}"))
        })?;
        let (found, wanted) = (value.value_signature().to_string(), T::SIGNATURE.to_string());
        if found != wanted {
            return Err(ReadError::unknown_property(
                member,
                format!("the daemon's {member} has type '{found}'; the contract's is '{wanted}'"),
            ));
        }
        T::try_from(value).map_err(|e| ReadError::unknown_property(member, format!("{member}: {e}")))
    }

    /// Like [`Answer::take`], for a property added after the first
    /// release: a daemon that predates it (another machine's, reached with
    /// `-H`) has none, and its default stands in. A value of another type
    /// is still an error.
    fn take_added<T>(&mut self, member: &'static str) -> Result<T, ReadError>
    where
        T: Type + TryFrom<OwnedValue> + Default,
        T::Error: std::fmt::Display,
    {
        if self.0.contains_key(member) {
            self.take(member)
        } else {
            Ok(T::default())
        }
    }
}

#[allow(clippy::result_large_err)] // See `impl Answer`.
impl Properties {
    /// Reads every property with one `GetAll` call: every value comes from
    /// the same moment, in one round trip (it matters over ssh).
    pub async fn read(p: &Clock1Proxy<'_>) -> Result<Properties, ReadError> {
        let inner = p.inner();
        let reply = inner
            .connection()
            .call_method(
                Some(inner.destination()),
                inner.path(),
                Some("org.freedesktop.DBus.Properties"),
                "GetAll",
                &(INTERFACE,),
            )
            .await
            .map_err(|error| ReadError { member: GET_ALL, error })?;
        let all: HashMap<String, OwnedValue> =
            reply.body().deserialize().map_err(|error| ReadError { member: GET_ALL, error })?;
        Properties::from_all(all)
    }

    /// Decodes the answer of `GetAll("org.piclock.Clock1")`. The first
    /// property that is missing or of another type is named in the error.
    pub fn from_all(all: HashMap<String, OwnedValue>) -> Result<Properties, ReadError> {
        let mut a = Answer(all);
        Ok(Properties {
            version: a.take("Version")?,
            dial_seconds: a.take("DialSeconds")?,
            hand_position: a.take("HandPosition")?,
            position_certain: a.take("PositionCertain")?,
            offset: a.take("Offset")?,
            state: a.take("State")?,
            catch_up_seconds: a.take("CatchUpSeconds")?,
            timezone: a.take("Timezone")?,
            time_usec: a.take("TimeUSec")?,
            time_source: a.take("TimeSource")?,
            ntp_servers: a.take("NTPServers")?,
            ntp_synchronized: a.take("NTPSynchronized")?,
            last_ntp_sync_usec: a.take("LastNTPSyncUSec")?,
            ntp_offset_usec: a.take("NTPOffsetUSec")?,
            rtc_present: a.take("RTCPresent")?,
            rtc_device: a.take_added("RTCDevice")?,
            rtc_time_usec: a.take("RTCTimeUSec")?,
            pulse: pulse_dict::from_dict(&a.take("PulseConfig")?).map_err(|e| e.to_string()),
            tick_count: a.take("TickCount")?,
            late_tick_count: a.take("LateTickCount")?,
            max_tick_late_usec: a.take("MaxTickLateUSec")?,
            tick_scheduling: a.take_added("TickScheduling")?,
            movement_kind: a.take_added("MovementKind")?,
            step_seconds: a.take_added("StepSeconds")?,
            faults: a.take("Faults")?,
            sensors_configured: a.take_added("SensorsConfigured")?,
            last_sensor_check_usec: a.take_added("LastSensorCheckUSec")?,
            sensor_corrections: a.take_added("SensorCorrections")?,
            sensor_window: a.take_added("SensorWindow")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    /// `(name, type)` of every property of the shipped introspection XML.
    fn xml_properties() -> Vec<(String, String)> {
        let xml = crate::interface_element(crate::INTROSPECTION_XML).expect("interface");
        let field = |tag: &str, key: &str| {
            let start = tag.find(&format!("{key}=\"")).expect(key) + key.len() + 2;
            tag[start..start + tag[start..].find('"').expect("quote")].to_owned()
        };
        xml.split("<property ").skip(1).map(|tag| (field(tag, "name"), field(tag, "type"))).collect()
    }

    /// The properties added after the first release: a daemon that
    /// predates them is still read.
    const ADDED: &[&str] = &[
        "RTCDevice",
        "TickScheduling",
        "MovementKind",
        "StepSeconds",
        "SensorsConfigured",
        "LastSensorCheckUSec",
        "SensorCorrections",
        "SensorWindow",
    ];

    /// A value of D-Bus type `signature`.
    fn sample(signature: &str) -> OwnedValue {
        match signature {
            "s" => OwnedValue::try_from(Value::from("text")).expect("str"),
            "u" => OwnedValue::from(7u32),
            "b" => OwnedValue::from(true),
            "x" => OwnedValue::from(-7i64),
            "t" => OwnedValue::from(7u64),
            "as" => OwnedValue::try_from(Value::from(vec!["a".to_owned()])).expect("as"),
            "a{sv}" => OwnedValue::from(pulse_dict::to_dict(&PulseConfig::default())),
            other => panic!("no sample of type {other}: add one here and a field to Properties"),
        }
    }

    fn answer() -> HashMap<String, OwnedValue> {
        xml_properties().into_iter().map(|(name, ty)| (name, sample(&ty))).collect()
    }

    fn unknown_property(e: &ReadError) -> String {
        match &e.error {
            zbus::Error::FDO(fdo) => match &**fdo {
                zbus::fdo::Error::UnknownProperty(m) => m.clone(),
                other => panic!("{}: {other:?}", e.member),
            },
            other => panic!("{}: {other:?}", e.member),
        }
    }

    #[test]
    fn every_property_of_the_xml_is_read() {
        let p = Properties::from_all(answer()).expect("a full answer decodes");
        assert_eq!((p.dial_seconds, p.offset, p.max_tick_late_usec), (7, -7, 7));
        assert_eq!(p.pulse, Ok(PulseConfig::default()));
        assert_eq!(p.ntp_servers, ["a"]);
        assert_eq!(p.rtc_device, "text");
        // Without any one of them the reading fails, naming it: so each is
        // read. Those added after the first release (`take_added`) read as
        // their default instead.
        for (name, _) in xml_properties() {
            let mut all = answer();
            all.remove(&name);
            if ADDED.contains(&name.as_str()) {
                Properties::from_all(all).expect(&name);
                continue;
            }
            let e = Properties::from_all(all).expect_err(&name);
            assert_eq!(e.member, name);
            assert!(unknown_property(&e).contains(&name), "{e:?}");
        }
        let mut all = answer();
        for name in ADDED {
            all.remove(*name);
        }
        let older = Properties::from_all(all).expect("an older daemon");
        assert_eq!((older.rtc_device.as_str(), older.tick_scheduling.as_str()), ("", ""));
        assert!(older.sensors_configured.is_empty() && older.sensor_window.is_empty());
        assert_eq!((older.last_sensor_check_usec, older.sensor_corrections), (0, 0));
    }

    #[test]
    fn a_property_of_another_type_is_named() {
        for (name, ty) in xml_properties() {
            let mut all = answer();
            all.insert(name.clone(), sample(if ty == "s" { "u" } else { "s" }));
            let e = Properties::from_all(all).expect_err(&name);
            assert_eq!(e.member, name);
            assert!(unknown_property(&e).contains(&format!("the contract's is '{ty}'")), "{e:?}");
        }
        // The dictionary's value type counts too.
        let mut all = answer();
        let dict: HashMap<String, u32> = HashMap::from([("norm_tick_ms".to_owned(), 31)]);
        all.insert("PulseConfig".to_owned(), OwnedValue::from(dict));
        assert_eq!(Properties::from_all(all).expect_err("a{su}").member, "PulseConfig");
    }

    #[test]
    fn a_bad_pulse_dictionary_is_kept_as_an_error_and_unknown_properties_are_ignored() {
        let mut all = answer();
        let bad = HashMap::from([("norm_tick_ms".to_owned(), OwnedValue::from(0u32))]);
        all.insert("PulseConfig".to_owned(), OwnedValue::from(bad));
        all.insert("FromTheFuture".to_owned(), OwnedValue::from(1u32));
        let p = Properties::from_all(all).expect("decodes");
        assert!(p.pulse.expect_err("out of range").contains("norm_tick_ms"));
    }
}
