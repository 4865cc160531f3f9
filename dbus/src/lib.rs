//! The `org.piclock.Clock1` contract, shared by `piclockd`, `piclockctl` and
//! `piclock-gtk`: bus names, polkit action ids, error names, the property
//! table ([`table`]: each property's name, type, signals and reading, once),
//! the `PulseConfig` dictionary conversion and the zbus proxy. No other
//! crate spells these names.

pub mod bounded;
pub mod names;
pub mod properties;
pub mod proxy;
pub mod pulse_dict;
pub mod table;
pub mod text;
pub mod transport;

pub use names::*;
pub use piclock_core::engine::ClockState;
pub use piclock_core::pulse_config::{ConfigValue, KeySpec, PulseConfig, KEYS};
pub use properties::{Properties, ReadError, PROPERTIES};
pub use proxy::Clock1Proxy;

/// The interface's introspection XML, as shipped in `dbus/org.piclock.Clock1.xml`.
pub const INTROSPECTION_XML: &str = include_str!("../org.piclock.Clock1.xml");

/// The `org.piclock.Clock1` interface element of an introspection document,
/// without comments and with whitespace between tags removed, so that two
/// documents can be compared.
pub fn interface_element(xml: &str) -> Option<String> {
    let mut text = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find("-->")? + start + 3;
        rest = &rest[end..];
    }
    text.push_str(rest);
    let open = format!("<interface name=\"{}\">", names::INTERFACE);
    let start = text.find(&open)?;
    let end = text[start..].find("</interface>")? + start + "</interface>".len();
    let compact: String = text[start..end].split('>').map(|part| part.trim()).collect::<Vec<_>>().join(">");
    Some(compact)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_xml_has_every_member_of_the_contract() {
        let xml = super::interface_element(super::INTROSPECTION_XML).expect("interface element");
        for member in [
            "SetHandPosition",
            "Pause",
            "Resume",
            "Step",
            "SyncNow",
            "SetPulseConfig",
            "SetNTPServers",
            "SetTimezone",
            "SyncFinished",
            "Fault",
            "Version",
            "DialSeconds",
            "HandPosition",
            "PositionCertain",
            "Offset",
            "State",
            "CatchUpSeconds",
            "Timezone",
            "TimeUSec",
            "TimeSource",
            "NTPServers",
            "NTPSynchronized",
            "LastNTPSyncUSec",
            "NTPOffsetUSec",
            "RTCPresent",
            "RTCTimeUSec",
            "PulseConfig",
            "Faults",
        ] {
            assert!(xml.contains(&format!("name=\"{member}\"")), "{member} missing");
        }
        assert!(!xml.contains("access=\"readwrite\""), "every property is read-only");
    }
}
