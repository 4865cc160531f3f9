//! Sans-IO core of PiClock.
//!
//! Everything in this crate is plain data and functions: no files, sockets,
//! threads or clocks. The daemon (`piclockd`) wires these pieces to GPIO,
//! I2C, UDP and D-Bus; tests drive them directly, in virtual time.
//!
//! - [`dial`]: hand positions on a 12- or 24-hour dial and the `H:MM[:SS]` parser.
//! - [`pulse_config`]: the pulse and sync settings (`PulseConfig` keys of the D-Bus contract).
//! - [`waveform`]: the coil pulses of a normal, fast-forward or reverse tick.
//! - [`catch_up`]: the catch-up planner: the fastest way back to the right time, and how long it takes.
//! - [`engine`]: the tick state machine that decides which pulse to fire when.
//! - [`impulse_line`]: impulse lines (slave clocks): steps, timing, and going forward or holding.
//! - [`journal`]: the torn-write-safe position journal (two slots, sequence, CRC).
//! - [`line_record`]: pulses read back from a record of the coil lines (for the checks of what went out).
//! - [`movement`]: a physical model of the Lavet motor and the hand sensors, used by the simulator.
//! - [`hand_sensor`]: hand sensors: windows, passes, verdicts, learning, and the daemon's state machine.
//! - [`ntp`]: NTP offset and delay maths, wire timestamps, polling policy, server entries.
//!
//! With the feature `testing` (for tests and benchmarks only, not part of the
//! default API): `virtual_run`, the engine driving the movement model in
//! virtual time; `journal::MemStore`, an in-memory journal store with fault
//! injection; `journal::conformance`, the checks every journal store
//! runs; and `testing`, the settings every property test takes (case count,
//! seed, kept failures).

pub mod catch_up;
pub mod dial;
pub mod engine;
pub mod excerpt;
pub mod hand_sensor;
pub mod impulse_line;
pub mod journal;
pub mod line_record;
pub mod movement;
pub mod ntp;
pub mod pulse_config;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod truetime;
#[cfg(any(test, feature = "testing"))]
pub mod virtual_run;
pub mod waveform;

/// Microseconds in one second.
pub const US_PER_SEC: i64 = 1_000_000;
