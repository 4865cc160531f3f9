//! piclockd: the PiClock daemon, as a library so that tests and benchmarks
//! can drive its adapters directly. `main.rs` is a thin wrapper.

pub mod coil;
pub mod rt;
