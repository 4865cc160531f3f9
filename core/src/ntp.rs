//! NTP maths and polling policy, without sockets or clocks.
//!
//! Timestamps are `i64` µs since the Unix epoch (UTC). An NTP client exchange
//! has four of them: T1 (client transmit, client clock), T2 (server receive,
//! server clock), T3 (server transmit, server clock) and T4 (client receive,
//! client clock). From them ([`Exchange`]):
//!
//! - offset = ((T2 − T1) + (T3 − T4)) / 2: server clock minus client clock;
//! - delay = (T4 − T1) − (T3 − T2): the round trip spent on the network.
//!
//! [`PollPolicy`] decides when to query next: the normal interval after a good
//! reply, an exponential back-off after failures (see [`backoff`]), and at
//! once when asked.
//!
//! [`parse_server`] is the grammar of a server entry (`host`, `host:port`,
//! an IP address, `[v6]:port`), shared by the settings check and the client.
//! [`ntp_to_unix_us`] and [`unix_us_to_ntp`] convert wire timestamps, with
//! the NTP era resolved for dates from 2020 on.

pub mod reply;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// The port NTP servers listen on.
pub const DEFAULT_PORT: u16 = 123;

/// Largest round-trip delay accepted, µs (1 s). A reply that spent longer on
/// the way tells little about the offset (the error bound is delay / 2).
pub const MAX_DELAY_US: i64 = 1_000_000;

/// Shortest polling interval [`PollPolicy`] accepts (shorter ones are raised to it).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Longest back-off after failures, unless the normal interval is longer still.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch).
pub const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// First NTP-era-0 second read as era 0: 2020-01-01T00:00:00Z. Wire seconds
/// below it are read as era 1 (from 2036-02-07T06:28:16Z), so wire timestamps
/// map to 2020-01-01 ..= 2156-02-07, which covers the 2036 roll-over.
pub const ERA_PIVOT_S: u32 = 3_786_825_600;

const US_PER_SEC: i64 = 1_000_000;

/// Leap second announced by a server for the end of the current month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leap {
    /// No leap second.
    None,
    /// The last minute of the day has 61 seconds.
    Insert,
    /// The last minute of the day has 59 seconds.
    Delete,
}

impl fmt::Display for Leap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Leap::None => "none",
            Leap::Insert => "insert",
            Leap::Delete => "delete",
        })
    }
}

/// Converts an NTP wire timestamp (seconds of the era, nanoseconds) to µs
/// since the Unix epoch, truncating below the µs. Seconds at or after
/// [`ERA_PIVOT_S`] are era 0, the others era 1 (see there).
pub fn ntp_to_unix_us(seconds: u32, nanos: u32) -> i64 {
    let era: i64 = if seconds >= ERA_PIVOT_S { 0 } else { 1 };
    let ntp_s = i64::from(seconds) + (era << 32);
    // |ntp_s - offset| < 2^34: the products below cannot overflow.
    (ntp_s - NTP_UNIX_OFFSET_S) * US_PER_SEC + i64::from(nanos.min(999_999_999) / 1000)
}

/// Converts µs since the Unix epoch to the 64-bit NTP wire timestamp (32 bits
/// of seconds in the era, 32 bits of fraction). The fraction is rounded up,
/// so that [`ntp_bits_to_unix_us`] gives back exactly `us` for every instant
/// in the range [`ntp_to_unix_us`] maps to. Instants outside any era wrap.
pub fn unix_us_to_ntp(us: i64) -> u64 {
    let secs = us.div_euclid(US_PER_SEC);
    let sub_us = us.rem_euclid(US_PER_SEC) as u64;
    let ntp_s = (i128::from(secs) + i128::from(NTP_UNIX_OFFSET_S)).rem_euclid(1 << 32) as u64;
    let frac = (sub_us << 32).div_ceil(US_PER_SEC as u64);
    (ntp_s << 32) + frac
}

/// Converts a 64-bit NTP wire timestamp to µs since the Unix epoch (era as in
/// [`ntp_to_unix_us`], truncating below the µs).
pub fn ntp_bits_to_unix_us(bits: u64) -> i64 {
    let seconds = (bits >> 32) as u32;
    let frac = bits & 0xffff_ffff;
    let sub_us = (frac * US_PER_SEC as u64) >> 32;
    ntp_to_unix_us(seconds, 0) + sub_us as i64
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// The four timestamps of one client/server exchange, µs since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exchange {
    /// Client transmit time (client clock).
    pub t1: i64,
    /// Server receive time (server clock).
    pub t2: i64,
    /// Server transmit time (server clock).
    pub t3: i64,
    /// Client receive time (client clock).
    pub t4: i64,
}

/// A sane exchange's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measurement {
    /// Server clock minus client clock, µs.
    pub offset_us: i64,
    /// Round-trip network delay, µs (0 ..= [`MAX_DELAY_US`]).
    pub delay_us: i64,
}

/// Why an exchange was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeError {
    /// The server's transmit time T3 is 0.
    ZeroTransmit,
    /// The delay came out negative (the server claims to have held the
    /// request longer than the whole round trip took).
    NegativeDelay {
        /// The delay, µs.
        delay_us: i64,
    },
    /// The delay exceeds [`MAX_DELAY_US`].
    DelayTooLarge {
        /// The delay, µs.
        delay_us: i64,
    },
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::ZeroTransmit => f.write_str("server transmit timestamp is zero"),
            ExchangeError::NegativeDelay { delay_us } => {
                write!(f, "negative round-trip delay ({delay_us} µs): server timestamps are inconsistent")
            }
            ExchangeError::DelayTooLarge { delay_us } => {
                write!(f, "round-trip delay {delay_us} µs exceeds the limit of {MAX_DELAY_US} µs")
            }
        }
    }
}

impl std::error::Error for ExchangeError {}

impl Exchange {
    /// Server clock minus client clock, µs: ((T2 − T1) + (T3 − T4)) / 2,
    /// rounded toward zero. Exact for any inputs (computed in 128 bits),
    /// saturating only when the true result does not fit in an `i64`.
    pub fn offset_us(&self) -> i64 {
        let [t1, t2, t3, t4] = [self.t1, self.t2, self.t3, self.t4].map(i128::from);
        saturate(((t2 - t1) + (t3 - t4)) / 2)
    }

    /// Round-trip delay, µs: (T4 − T1) − (T3 − T2). Exact for any inputs,
    /// saturating only when the true result does not fit in an `i64`.
    pub fn delay_us(&self) -> i64 {
        let [t1, t2, t3, t4] = [self.t1, self.t2, self.t3, self.t4].map(i128::from);
        saturate((t4 - t1) - (t3 - t2))
    }

    /// The offset and delay, if the exchange is sane: T3 is not 0 and the
    /// delay lies in 0 ..= [`MAX_DELAY_US`].
    pub fn check(&self) -> Result<Measurement, ExchangeError> {
        if self.t3 == 0 {
            return Err(ExchangeError::ZeroTransmit);
        }
        let delay_us = self.delay_us();
        if delay_us < 0 {
            return Err(ExchangeError::NegativeDelay { delay_us });
        }
        if delay_us > MAX_DELAY_US {
            return Err(ExchangeError::DelayTooLarge { delay_us });
        }
        Ok(Measurement { offset_us: self.offset_us(), delay_us })
    }
}

/// The wait before retry number `failures` (1 = the first retry after a
/// failure) for the normal polling interval `interval`.
///
/// The first retry comes after a quarter of the interval (at least
/// [`MIN_INTERVAL`]), so that a lost packet costs little; each further
/// failure doubles the wait, up to a ceiling of eight intervals but at most
/// [`MAX_BACKOFF`] (1 h) — unless the interval itself is longer than that,
/// in which case the ceiling is the interval. With the default 300 s:
/// 75, 150, 300, 600, 1200, 2400, 2400, … s. `failures == 0` gives the interval.
/// Non-decreasing in `failures` from 1 on, never above the ceiling.
pub fn backoff(interval: Duration, failures: u32) -> Duration {
    let interval = interval.max(MIN_INTERVAL);
    if failures == 0 {
        return interval;
    }
    let ceiling = interval.max(interval.saturating_mul(8).min(MAX_BACKOFF));
    let first = (interval / 4).max(MIN_INTERVAL);
    // 2^(failures-1), capped: 2^40 × 1 s is far above any ceiling.
    let factor = 1u32.checked_shl((failures - 1).min(31)).unwrap_or(u32::MAX);
    first.saturating_mul(factor).min(ceiling)
}

/// When to query the NTP servers next.
///
/// Sans-IO: the caller sleeps for [`PollPolicy::next_delay`] (or until
/// [`PollPolicy::request_now`] is called), queries, and reports the outcome
/// with [`PollPolicy::success`] or [`PollPolicy::failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    interval: Duration,
    failures: u32,
    requested: bool,
}

impl PollPolicy {
    /// A policy polling every `interval` (raised to [`MIN_INTERVAL`]), with
    /// the first query due at once.
    pub fn new(interval: Duration) -> PollPolicy {
        PollPolicy { interval: interval.max(MIN_INTERVAL), failures: 0, requested: true }
    }

    /// The normal interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Changes the normal interval (raised to [`MIN_INTERVAL`]).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval.max(MIN_INTERVAL);
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether a query was asked for and has not happened yet.
    pub fn is_requested(&self) -> bool {
        self.requested
    }

    /// Asks for a query at once ([`PollPolicy::next_delay`] becomes 0).
    pub fn request_now(&mut self) {
        self.requested = true;
    }

    /// A query succeeded: back to the normal interval.
    pub fn success(&mut self) {
        self.failures = 0;
        self.requested = false;
    }

    /// A query failed (every server): back off.
    pub fn failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.requested = false;
    }

    /// How long to wait, from the last outcome, before the next query: 0 when
    /// one was requested, else [`backoff`] of the interval and the failures
    /// (the interval itself after a success).
    pub fn next_delay(&self) -> Duration {
        if self.requested {
            Duration::ZERO
        } else {
            backoff(self.interval, self.failures)
        }
    }
}

/// Host of a server entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, to be resolved.
    Name(String),
    /// An IP address literal.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A parsed server entry: host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerSpec {
    /// Where to send.
    pub host: Host,
    /// UDP port ([`DEFAULT_PORT`] unless given).
    pub port: u16,
}

/// Why a server entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerSpecError {
    /// Neither a host name nor an IP address (or a bracket without an IPv6 address).
    BadHost,
    /// The part after the last `:` is not a port number 1..=65535.
    BadPort(String),
}

impl fmt::Display for ServerSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerSpecError::BadHost => f.write_str("not a host name or IP address"),
            ServerSpecError::BadPort(p) => write!(f, "port {p:?} is not a number 1..=65535"),
        }
    }
}

impl std::error::Error for ServerSpecError {}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn parse_port(p: &str) -> Result<u16, ServerSpecError> {
    let bad = || ServerSpecError::BadPort(p.to_owned());
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// Parses a server entry: `host`, `host:port`, an IPv4 address with an
/// optional `:port`, an IPv6 address (`2001:db8::1`, port 123), or
/// `[v6]` / `[v6]:port`. Host names are dot-separated labels of letters,
/// digits and inner hyphens (at most 63 characters each, 253 in all);
/// ports are 1..=65535, in decimal.
pub fn parse_server(s: &str) -> Result<ServerSpec, ServerSpecError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ServerSpec { host: Host::Ip(ip), port: DEFAULT_PORT });
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(ServerSpecError::BadHost)?;
        let ip = inside.parse::<Ipv6Addr>().map_err(|_| ServerSpecError::BadHost)?;
        let port = match after {
            "" => DEFAULT_PORT,
            _ => parse_port(after.strip_prefix(':').ok_or(ServerSpecError::BadHost)?)?,
        };
        return Ok(ServerSpec { host: Host::Ip(IpAddr::V6(ip)), port });
    }
    let (host, port) = match s.split_once(':') {
        // More than one colon and not an IPv6 address.
        Some((_, p)) if p.contains(':') => return Err(ServerSpecError::BadHost),
        Some((h, p)) => (h, parse_port(p)?),
        None => (s, DEFAULT_PORT),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerSpec { host: Host::Ip(ip), port });
    }
    if is_host_name(host) {
        Ok(ServerSpec { host: Host::Name(host.to_owned()), port })
    } else {
        Err(ServerSpecError::BadHost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ±100 years in µs.
    const CENTURY_US: i64 = 100 * 366 * 86_400 * US_PER_SEC;

    fn ex(t1: i64, t2: i64, t3: i64, t4: i64) -> Exchange {
        Exchange { t1, t2, t3, t4 }
    }

    #[test]
    fn symmetric_paths() {
        // Client 1 s behind the server, 10 ms each way, 2 ms at the server.
        let e = ex(1_000_000, 2_010_000, 2_012_000, 1_022_000);
        assert_eq!(e.offset_us(), 1_000_000);
        assert_eq!(e.delay_us(), 20_000);
        assert_eq!(e.check(), Ok(Measurement { offset_us: 1_000_000, delay_us: 20_000 }));
        // Same clocks: offset 0.
        let e = ex(100, 150, 160, 210);
        assert_eq!((e.offset_us(), e.delay_us()), (0, 100));
        // Client ahead.
        let e = ex(5_000_000, 4_000_050, 4_000_060, 5_000_110);
        assert_eq!((e.offset_us(), e.delay_us()), (-1_000_000, 100));
        // Odd sum rounds toward zero, both signs.
        assert_eq!(ex(0, 1, 1, 1).offset_us(), 0);
        assert_eq!(ex(0, 2, 2, 1).offset_us(), 1);
        assert_eq!(ex(1, 0, 0, 2).offset_us(), -1);
    }

    #[test]
    fn sanity_rules() {
        assert_eq!(ex(1, 2, 0, 3).check(), Err(ExchangeError::ZeroTransmit));
        assert_eq!(ex(0, 10, 2_000_010, 100).check(), Err(ExchangeError::NegativeDelay { delay_us: -1_999_900 }));
        assert_eq!(ex(0, 10, 10, 1_000_001).check(), Err(ExchangeError::DelayTooLarge { delay_us: 1_000_001 }));
        assert_eq!(ex(0, 10, 10, 1_000_000).check().map(|m| m.delay_us), Ok(1_000_000));
        assert_eq!(ex(0, 10, 10, 0).check().map(|m| m.delay_us), Ok(0));
        for e in [ExchangeError::ZeroTransmit, ExchangeError::DelayTooLarge { delay_us: 2 }] {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn extreme_inputs_saturate_without_overflow() {
        let e = ex(i64::MIN, i64::MAX, i64::MAX, i64::MIN);
        assert_eq!(e.offset_us(), i64::MAX);
        assert_eq!(e.delay_us(), 0);
        let e = ex(i64::MAX, i64::MIN, i64::MIN, i64::MAX);
        assert_eq!(e.offset_us(), i64::MIN);
        assert_eq!(ex(i64::MIN, 0, 0, i64::MAX).delay_us(), i64::MAX);
    }

    #[test]
    fn era_conversion() {
        // 2020-01-01T00:00:00Z.
        assert_eq!(ntp_to_unix_us(ERA_PIVOT_S, 0), 1_577_836_800 * US_PER_SEC);
        // Last second of era 0 and first of era 1: 2036-02-07T06:28:15/16Z.
        assert_eq!(ntp_to_unix_us(u32::MAX, 0), 2_085_978_495 * US_PER_SEC);
        assert_eq!(ntp_to_unix_us(0, 0), 2_085_978_496 * US_PER_SEC);
        // 2100-01-01T00:00:00Z in era 1.
        assert_eq!(ntp_to_unix_us(2_016_466_304, 500_000_000), 4_102_444_800 * US_PER_SEC + 500_000);
        // 2026-01-01: era 0.
        assert_eq!(ntp_to_unix_us((1_767_225_600 + NTP_UNIX_OFFSET_S) as u32, 999), 1_767_225_600 * US_PER_SEC);
        // Fractions: half a second.
        assert_eq!(ntp_bits_to_unix_us(unix_us_to_ntp(1_767_225_600_500_000)), 1_767_225_600_500_000);
        assert_eq!(unix_us_to_ntp(1_767_225_600_500_000) & 0xffff_ffff, 0x8000_0000);
        // Range ends.
        assert_eq!(ntp_bits_to_unix_us(u64::from(ERA_PIVOT_S) << 32), 1_577_836_800 * US_PER_SEC);
        assert_eq!(ntp_bits_to_unix_us((u64::from(ERA_PIVOT_S) << 32) - 1) / US_PER_SEC, 1_577_836_800 + (1 << 32) - 1);
    }

    #[test]
    fn backoff_examples() {
        let s = Duration::from_secs;
        let got: Vec<u64> = (0..9).map(|k| backoff(s(300), k).as_secs()).collect();
        assert_eq!(got, [300, 75, 150, 300, 600, 1200, 2400, 2400, 2400]);
        assert_eq!(backoff(s(600), 10), s(3600));
        assert_eq!(backoff(s(7200), 10), s(7200));
        assert_eq!(backoff(s(7200), 1), s(1800));
        assert_eq!(backoff(Duration::ZERO, 0), MIN_INTERVAL);
        assert_eq!(backoff(Duration::ZERO, 1), MIN_INTERVAL);
        assert_eq!(backoff(s(1), 3), s(4));
        assert_eq!(backoff(Duration::MAX, u32::MAX), Duration::MAX);
    }

    #[test]
    fn policy_cycle() {
        let mut p = PollPolicy::new(Duration::from_secs(300));
        assert_eq!(p.next_delay(), Duration::ZERO, "first query at once");
        p.success();
        assert_eq!(p.next_delay(), Duration::from_secs(300));
        p.failure();
        assert_eq!(p.next_delay(), Duration::from_secs(75));
        p.failure();
        assert_eq!(p.next_delay(), Duration::from_secs(150));
        p.request_now();
        assert!(p.is_requested());
        assert_eq!(p.next_delay(), Duration::ZERO);
        p.failure();
        assert_eq!((p.failures(), p.next_delay()), (3, Duration::from_secs(300)));
        p.success();
        assert_eq!((p.failures(), p.next_delay()), (0, Duration::from_secs(300)));
        p.set_interval(Duration::from_millis(10));
        assert_eq!(p.interval(), MIN_INTERVAL);
    }

    #[test]
    fn server_entries() {
        let ok = |s: &str, host: Host, port: u16| assert_eq!(parse_server(s), Ok(ServerSpec { host, port }), "{s}");
        let name = |n: &str| Host::Name(n.to_owned());
        let ip = |a: &str| Host::Ip(a.parse().unwrap());
        ok("time.nist.gov", name("time.nist.gov"), 123);
        ok("time.nist.gov:4123", name("time.nist.gov"), 4123);
        ok("localhost:1", name("localhost"), 1);
        ok("127.0.0.1", ip("127.0.0.1"), 123);
        ok("127.0.0.1:65535", ip("127.0.0.1"), 65535);
        ok("::1", ip("::1"), 123);
        ok("2001:db8::1", ip("2001:db8::1"), 123);
        ok("[::1]", ip("::1"), 123);
        ok("[2001:db8::1]:8123", ip("2001:db8::1"), 8123);
        ok("[::ffff:127.0.0.1]:9", ip("::ffff:127.0.0.1"), 9);
        for bad in ["", ":123", "a b", "-x.org", "x..org", "[::1", "[::1]123", "[127.0.0.1]:5", "[]", "[x]:1", "a:b:c"]
        {
            assert_eq!(parse_server(bad), Err(ServerSpecError::BadHost), "{bad}");
        }
        for (bad, port) in
            [("a.org:", ""), ("a.org:0", "0"), ("a.org:65536", "65536"), ("1.2.3.4:+5", "+5"), ("[::1]:x", "x")]
        {
            assert_eq!(parse_server(bad), Err(ServerSpecError::BadPort(port.into())), "{bad}");
        }
        assert_eq!(parse_server(&"x".repeat(254)), Err(ServerSpecError::BadHost));
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(256))]

        #[test]
        fn offset_and_delay_exact(
            t1 in -CENTURY_US..CENTURY_US,
            t2 in -CENTURY_US..CENTURY_US,
            t3 in -CENTURY_US..CENTURY_US,
            t4 in -CENTURY_US..CENTURY_US,
        ) {
            let e = ex(t1, t2, t3, t4);
            // No saturation in this range: the results are the exact values.
            prop_assert_eq!(e.offset_us(), ((t2 - t1) + (t3 - t4)) / 2);
            prop_assert_eq!(e.delay_us(), (t4 - t1) - (t3 - t2));
            // Swapping the roles of client and server negates the offset and keeps the delay.
            let mirror = ex(t2, t1, t4, t3);
            prop_assert_eq!(mirror.offset_us(), -e.offset_us());
            // Shifting the server clock by s shifts the offset by s, delay unchanged.
            let s = 12_345_678;
            let shifted = ex(t1, t2 + s, t3 + s, t4);
            prop_assert_eq!(shifted.delay_us(), e.delay_us());
            prop_assert!((shifted.offset_us() - e.offset_us() - s).abs() <= 1);
        }

        #[test]
        fn symmetric_path_recovers_offset(
            t1 in -CENTURY_US..CENTURY_US,
            offset in -CENTURY_US..CENTURY_US,
            one_way in 0..MAX_DELAY_US / 2,
            hold in 0..10_000_000i64,
        ) {
            // Request and reply each take `one_way`; the server holds it `hold`.
            let t2 = t1 + offset + one_way;
            let t3 = t2 + hold;
            let t4 = t1 + one_way + hold + one_way;
            let e = ex(t1, t2, t3, t4);
            prop_assert_eq!(e.offset_us(), offset);
            prop_assert_eq!(e.delay_us(), 2 * one_way);
            if t3 != 0 {
                prop_assert_eq!(e.check(), Ok(Measurement { offset_us: offset, delay_us: 2 * one_way }));
            }
        }

        #[test]
        fn any_i64_is_overflow_free(t1: i64, t2: i64, t3: i64, t4: i64) {
            let e = ex(t1, t2, t3, t4);
            let _ = (e.offset_us(), e.delay_us(), e.check());
        }

        #[test]
        fn backoff_monotone_and_bounded(secs in 0u64..100_000, k in 1u32..200) {
            // k = 0 is the normal interval (after a success), not part of the back-off sequence.
            let interval = Duration::from_secs(secs);
            let i = interval.max(MIN_INTERVAL);
            let ceiling = i.max((i * 8).min(MAX_BACKOFF));
            let (a, b) = (backoff(interval, k), backoff(interval, k + 1));
            prop_assert!(a <= b, "{:?} then {:?}", a, b);
            prop_assert!(b <= ceiling);
            prop_assert!(b >= MIN_INTERVAL);
            prop_assert!(a >= (i / 4).max(MIN_INTERVAL));
            prop_assert_eq!(backoff(interval, 200), ceiling);
        }

        #[test]
        fn ntp_time_round_trips(us in 1_577_836_800_000_000i64..5_000_000_000_000_000) {
            // 2020-01-01 ..= 2128: exact round trip through the wire format.
            prop_assert_eq!(ntp_bits_to_unix_us(unix_us_to_ntp(us)), us);
        }

        #[test]
        fn wire_times_map_into_window(bits: u64) {
            let us = ntp_bits_to_unix_us(bits);
            prop_assert!(us >= 1_577_836_800 * US_PER_SEC);
            prop_assert!(us < (1_577_836_800 + (1i64 << 32)) * US_PER_SEC);
            prop_assert_eq!(unix_us_to_ntp(us) >> 32, bits >> 32);
        }

        #[test]
        fn server_parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse_server(&s);
        }

        #[test]
        fn host_port_round_trip(host in "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z]{2,5}){0,3}", port in 1u16..) {
            let spec = parse_server(&format!("{host}:{port}"));
            prop_assert_eq!(spec, Ok(ServerSpec { host: Host::Name(host), port }));
        }
    }
}
