//! The `org.piclock.Clock1` contract, shared by `piclockd`, `piclockctl` and
//! `piclock-gtk`: bus names, polkit action ids, error names, the
//! `PulseConfig` dictionary conversion and the zbus proxy. No other crate
//! spells these names.

pub mod names;
pub mod proxy;
pub mod pulse_dict;

pub use names::*;
pub use piclock_core::engine::ClockState;
pub use piclock_core::pulse_config::{ConfigValue, KeySpec, PulseConfig, KEYS};
pub use proxy::Clock1Proxy;
