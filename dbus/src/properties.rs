//! One reading of every property of `org.piclock.Clock1`, taken together:
//! what `piclockctl status` prints and what the panel shows.
//!
//! The reading is one `org.freedesktop.DBus.Properties.GetAll` call, so every
//! value comes from the same moment, decoded by name into [`Properties`]
//! (as systemd's `timedatectl` does with `bus_map_all_properties`). The
//! fields and their D-Bus names are the rows of the property table
//! ([`crate::table`]). Properties the daemon has and the table does not (a
//! newer daemon) are ignored.

use crate::names::INTERFACE;
use crate::table::{Emits, Property, Since};
use crate::{pulse_dict, Clock1Proxy, PulseConfig};
use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Type};

/// The member named by a [`ReadError`] when the `GetAll` call itself failed.
pub const GET_ALL: &str = "Properties.GetAll";

/// Builds [`Properties`], its decoder and [`PROPERTIES`] from the rows of
/// [`clock1_properties!`](crate::clock1_properties) (the readings after `=`
/// are piclockd's, unused here).
macro_rules! client_side {
    ($( $group:ident {
        $( $(#[$doc:meta])* $since:ident $name:literal $field:ident: $ty:ty = $read:expr; )*
    } )*) => {
        /// Every property of `org.piclock.Clock1` at one moment, a field per
        /// row of the table (`src/table.rs`).
        #[derive(Debug, Clone)]
        pub struct Properties {
            $($( $(#[$doc])* pub $field: $ty, )*)*
        }

        /// Every property of the table, in its order.
        pub const PROPERTIES: &[Property] = &[
            $($( Property {
                name: $name,
                signature: <$ty as Type>::SIGNATURE,
                emits: Emits::$group,
                since: Since::$since,
            }, )*)*
        ];

        #[allow(clippy::result_large_err)] // See `impl Answer`.
        impl Properties {
            /// Every value zero or empty: the base of [`Properties::default`].
            fn empty() -> Properties {
                Properties { $($( $field: Default::default(), )*)* }
            }

            /// Takes every property out of the answer of `GetAll`.
            fn take_all(a: &mut Answer) -> Result<Properties, ReadError> {
                Ok(Properties { $($( $field: a.take_since($name, Since::$since)?, )*)* })
            }
        }
    };
}

crate::clock1_properties!(client_side);

/// A quartz clock on a 12-hour dial, ticking with its hands right at
/// 12:00:00 UTC on the first day of the epoch, every other value zero or
/// empty and the pulse settings the defaults: a base for readings built by
/// hand (tests, screenshots) with `..Properties::default()`.
impl Default for Properties {
    fn default() -> Self {
        Properties {
            dial_seconds: 43_200,
            position_certain: true,
            state: "ticking".into(),
            timezone: "UTC".into(),
            time_source: "system".into(),
            pulse_config: pulse_dict::to_dict(&PulseConfig::default()),
            movement_kind: "quartz".into(),
            step_seconds: 1,
            ..Properties::empty()
        }
    }
}

impl Properties {
    /// The pulse settings, or why the daemon's `PulseConfig` could not be read.
    pub fn pulse(&self) -> Result<PulseConfig, String> {
        pulse_dict::from_dict(&self.pulse_config).map_err(|e| e.to_string())
    }

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

    /// Like [`Answer::take`]; for a property added after the first
    /// release, a daemon that predates it (another machine's, reached with
    /// `-H`) has none, and its default stands in. A value of another type
    /// is still an error.
    fn take_since<T>(&mut self, member: &'static str, since: Since) -> Result<T, ReadError>
    where
        T: Type + TryFrom<OwnedValue> + Default,
        T::Error: std::fmt::Display,
    {
        if since == Since::Added && !self.0.contains_key(member) {
            return Ok(T::default());
        }
        self.take(member)
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
        Properties::take_all(&mut Answer(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value;

    /// `(name, type, EmitsChangedSignal)` of every property of the shipped
    /// introspection XML, sorted by name.
    fn xml_properties_emits() -> Vec<(String, String, String)> {
        let xml = crate::interface_element(crate::INTROSPECTION_XML).expect("interface");
        let field = |tag: &str, key: &str| {
            let start = tag.find(&format!("{key}=\"")).expect(key) + key.len() + 2;
            tag[start..start + tag[start..].find('"').expect("quote")].to_owned()
        };
        let mut all: Vec<_> = xml
            .split("<property ")
            .skip(1)
            .map(|tag| {
                // A self-closing element has no annotation: it emits changes.
                let open = &tag[..tag.find('>').expect("end of the tag")];
                let emits = match open.ends_with('/') {
                    true => "true".to_owned(),
                    false => field(tag.split("</property>").next().unwrap_or(tag), "value"),
                };
                (field(tag, "name"), field(tag, "type"), emits)
            })
            .collect();
        all.sort();
        all
    }

    /// `(name, type)` of every property of the shipped introspection XML.
    fn xml_properties() -> Vec<(String, String)> {
        xml_properties_emits().into_iter().map(|(name, ty, _)| (name, ty)).collect()
    }

    /// Whether the table says `name` was added after the first release (a
    /// daemon that predates it is still read).
    fn added(name: &str) -> bool {
        PROPERTIES.iter().any(|p| p.name == name && p.since == Since::Added)
    }

    /// The table declares exactly the XML's properties, each with the XML's
    /// type and `EmitsChangedSignal`: the clients' fields and piclockd's
    /// getters, both built from the table, are the contract's.
    #[test]
    fn the_table_is_the_xmls_list_with_its_types_and_signals() {
        let mut table: Vec<(String, String, String)> = PROPERTIES
            .iter()
            .map(|p| (p.name.to_owned(), p.signature.to_string(), p.emits.annotation().to_owned()))
            .collect();
        table.sort();
        assert_eq!(table, xml_properties_emits());
    }

    /// A value of D-Bus type `signature`.
    fn sample(signature: &str) -> OwnedValue {
        match signature {
            "s" => OwnedValue::try_from(Value::from("text")).expect("str"),
            "u" => OwnedValue::from(7u32),
            "b" => OwnedValue::from(true),
            "x" => OwnedValue::from(-7i64),
            "t" => OwnedValue::from(7u64),
            "as" => OwnedValue::try_from(Value::from(vec!["a".to_owned()])).expect("as"),
            "i" => OwnedValue::from(-7i32),
            "d" => OwnedValue::from(7.5f64),
            "a{sv}" => OwnedValue::from(pulse_dict::to_dict(&PulseConfig::default())),
            other => panic!("no sample of type {other}: add one here"),
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
        assert_eq!(p.pulse(), Ok(PulseConfig::default()));
        assert_eq!(p.ntp_servers, ["a"]);
        assert_eq!(p.rtc_device, "text");
        // Without any one of them the reading fails, naming it: so each is
        // read. Those added after the first release (`Since::Added`) read
        // as their default instead.
        for (name, _) in xml_properties() {
            let mut all = answer();
            all.remove(&name);
            if added(&name) {
                Properties::from_all(all).expect(&name);
                continue;
            }
            let e = Properties::from_all(all).expect_err(&name);
            assert_eq!(e.member, name);
            assert!(unknown_property(&e).contains(&name), "{e:?}");
        }
        let mut all = answer();
        all.retain(|name, _| !added(name));
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
        assert!(p.pulse().expect_err("out of range").contains("norm_tick_ms"));
    }
}
