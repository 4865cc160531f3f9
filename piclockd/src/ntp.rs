//! The NTP client: measures how far the system clock is from NTP time.
//!
//! - [`packet`]: the request and the checks on a reply (the only user of `ntp-proto`).
//! - [`client`]: one exchange over UDP ([`query`]), and the first good one of a list ([`query_first`]).
//!
//! The maths (offset, delay, sanity limits, era) and the polling policy are
//! sans-IO, in [`piclock_core::ntp`].

pub mod client;
pub mod packet;

pub use client::{query, query_first, NtpError, Sample};
