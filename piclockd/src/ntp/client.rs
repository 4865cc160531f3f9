//! One NTP client exchange over UDP (tokio), measured against the system clock.
//!
//! [`query`] resolves the server, sends one request from an unconnected
//! socket, and waits for the reply until the timeout:
//!
//! - datagrams from any address other than the one queried are ignored and
//!   counted ([`Sample::foreign`]);
//! - datagrams from the server that fail the checks anyone could forge
//!   (length, form, version, mode, origin timestamp) are logged, counted
//!   ([`Sample::rejected`]) and ignored too: the real reply may still come;
//! - an authentic reply that refuses service (kiss-of-death, unsynchronised,
//!   zero timestamps) or fails the exchange checks (delay) ends the query
//!   with that reason.
//!
//! T1 is read just before the send and T4 just after the receive, both from
//! the clock the caller gives (the daemon's time base, or the system clock
//! for [`query`]); the offset is NTP time minus that clock. A reply whose
//! root distance exceeds [`MAX_ROOT_DISTANCE_US`] is refused, and a name
//! with several addresses is tried at each in turn.

use super::packet::{self, KissCode, ReplyError};
use piclock_core::ntp::{parse_server, Exchange, ExchangeError, Host, Leap, ServerSpecError};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// A good measurement from one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The server entry as given.
    pub server: String,
    /// The address that answered.
    pub addr: SocketAddr,
    /// NTP time minus system time, µs (the correction to add to the system
    /// clock; the D-Bus `NTPOffsetUSec` is its negation).
    pub offset_us: i64,
    /// Round-trip delay, µs.
    pub delay_us: i64,
    /// The server's root distance (root delay / 2 + root dispersion), µs.
    pub root_distance_us: i64,
    /// The server's stratum (1..=15).
    pub stratum: u8,
    /// Leap second announced by the server.
    pub leap: Leap,
    /// T4: system time when the reply arrived, µs since the Unix epoch.
    pub received_at_us: i64,
    /// Datagrams from other addresses ignored while waiting.
    pub foreign: u32,
    /// Datagrams from the server ignored as malformed, stale or forged.
    pub rejected: u32,
}

/// Why a query gave no sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NtpError {
    /// The server entry does not parse.
    BadServer {
        /// The entry.
        server: String,
        /// Why.
        reason: ServerSpecError,
    },
    /// The host name did not resolve (or not in time).
    Resolve {
        /// The entry.
        server: String,
        /// Why.
        reason: String,
    },
    /// A socket operation failed.
    Socket {
        /// The server address.
        addr: SocketAddr,
        /// The operation and the OS error.
        reason: String,
    },
    /// No acceptable reply before the deadline.
    Timeout {
        /// The server address.
        addr: SocketAddr,
        /// The timeout of the whole query.
        after: Duration,
        /// Datagrams from other addresses, ignored.
        foreign: u32,
        /// Datagrams from the server that were ignored.
        rejected: u32,
        /// Why the last of those was ignored.
        last_rejection: Option<ReplyError>,
    },
    /// The server's authentic reply refuses service or is unusable.
    Rejected {
        /// The server address.
        addr: SocketAddr,
        /// Why.
        reason: ReplyError,
    },
    /// The server is too far from its reference clock to be believed:
    /// root distance (root delay / 2 + root dispersion) over
    /// [`MAX_ROOT_DISTANCE_US`].
    TooFar {
        /// The server address.
        addr: SocketAddr,
        /// Its root distance, µs.
        root_distance_us: i64,
    },
    /// The exchange's timestamps fail the sanity checks (delay).
    BadExchange {
        /// The server address.
        addr: SocketAddr,
        /// Why.
        reason: ExchangeError,
    },
}

impl fmt::Display for NtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NtpError::BadServer { server, reason } => write!(f, "server {server:?}: {reason}"),
            NtpError::Resolve { server, reason } => write!(f, "cannot resolve {server:?}: {reason}"),
            NtpError::Socket { addr, reason } => write!(f, "{addr}: {reason}"),
            NtpError::Timeout { addr, after, foreign, rejected, last_rejection } => {
                write!(f, "no valid reply from {addr} within {} ms", after.as_millis())?;
                if *foreign > 0 {
                    write!(f, "; ignored {foreign} datagram(s) from other addresses")?;
                }
                if *rejected > 0 {
                    write!(f, "; rejected {rejected} datagram(s) from the server")?;
                }
                if let Some(why) = last_rejection {
                    write!(f, ", the last: {why}")?;
                }
                Ok(())
            }
            NtpError::Rejected { addr, reason } => write!(f, "reply from {addr} rejected: {reason}"),
            NtpError::BadExchange { addr, reason } => write!(f, "reply from {addr} rejected: {reason}"),
            NtpError::TooFar { addr, root_distance_us } => write!(
                f,
                "reply from {addr} rejected: root distance {} ms, over the {} ms accepted",
                root_distance_us / 1000,
                MAX_ROOT_DISTANCE_US / 1000
            ),
        }
    }
}

impl NtpError {
    /// Whether the server told us to go away for good (kiss-of-death DENY
    /// or RSTR): it is to be dropped until the list changes or a restart.
    pub fn refuses_service(&self) -> bool {
        matches!(self, NtpError::Rejected { reason: ReplyError::KissOfDeath(KissCode::Deny | KissCode::Rstr), .. })
    }
}

impl Sample {
    /// The sample's error bound, µs: half the round trip (the most the
    /// path's asymmetry can shift the offset) plus the server's root distance.
    pub fn bound_us(&self) -> i64 {
        self.delay_us / 2 + self.root_distance_us
    }
}

/// Largest root distance accepted, µs (systemd-timesyncd takes 5 s; 1.5 s
/// is what a sound public server never comes near).
pub const MAX_ROOT_DISTANCE_US: i64 = 1_500_000;

impl std::error::Error for NtpError {}

/// Most addresses of one name that are tried.
const MAX_ADDRESSES: usize = 4;

/// Resolves a server entry to its socket addresses (at most [`MAX_ADDRESSES`]).
async fn resolve(server: &str, deadline: Instant, timeout: Duration) -> Result<Vec<SocketAddr>, NtpError> {
    let spec = parse_server(server).map_err(|reason| NtpError::BadServer { server: server.to_owned(), reason })?;
    let name = match spec.host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(ip, spec.port)]),
        Host::Name(name) => name,
    };
    let err = |reason: String| NtpError::Resolve { server: server.to_owned(), reason };
    let looked_up = tokio::time::timeout_at(deadline, tokio::net::lookup_host((name.as_str(), spec.port))).await;
    match looked_up {
        Err(_) => Err(err(format!("no answer within {} ms", timeout.as_millis()))),
        Ok(Err(e)) => Err(err(e.to_string())),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.take(MAX_ADDRESSES).collect();
            if addrs.is_empty() {
                Err(err("no address".to_owned()))
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Queries one NTP server once, measured against the system clock. See
/// [`query_against`].
pub async fn query(server: &str, timeout: Duration) -> Result<Sample, NtpError> {
    query_against(server, timeout, &crate::timebase::system_us).await
}

/// Queries one NTP server once. `server` is `host`, `host:port`, an IP
/// address, or `[v6]:port` (port 123 unless given); a name with several
/// addresses is tried at each in turn until one answers well (or refuses
/// service). `timeout` bounds each address's exchange, name resolution
/// included for the first. T1 and T4 are read from `clock` (µs since the
/// epoch), so the offset is NTP time minus that clock.
pub async fn query_against(
    server: &str,
    timeout: Duration,
    clock: &(dyn Fn() -> i64 + Sync),
) -> Result<Sample, NtpError> {
    let addrs = resolve(server, Instant::now() + timeout, timeout).await?;
    query_addresses(server, &addrs, timeout, clock).await
}

/// Queries the addresses of `server` in turn until one answers well (or
/// refuses service); the last error otherwise.
pub async fn query_addresses(
    server: &str,
    addrs: &[SocketAddr],
    timeout: Duration,
    clock: &(dyn Fn() -> i64 + Sync),
) -> Result<Sample, NtpError> {
    let mut last = None;
    for &addr in addrs {
        match exchange(server, addr, timeout, clock).await {
            Ok(sample) => return Ok(sample),
            Err(e) if e.refuses_service() => return Err(e),
            Err(e) => {
                tracing::info!(server, %addr, "NTP: {e}; trying the next address");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| NtpError::Resolve { server: server.to_owned(), reason: "no address".into() }))
}

/// One request to `addr` and its reply.
async fn exchange(
    server: &str,
    addr: SocketAddr,
    timeout: Duration,
    clock: &(dyn Fn() -> i64 + Sync),
) -> Result<Sample, NtpError> {
    let deadline = Instant::now() + timeout;
    let sock_err = |what: &str, e: std::io::Error| NtpError::Socket { addr, reason: format!("{what}: {e}") };

    // Bind to loopback for a loopback server, so nothing listens outside.
    let local: IpAddr = match (addr.ip(), addr.ip().is_loopback()) {
        (IpAddr::V4(_), true) => Ipv4Addr::LOCALHOST.into(),
        (IpAddr::V4(_), false) => Ipv4Addr::UNSPECIFIED.into(),
        (IpAddr::V6(_), true) => Ipv6Addr::LOCALHOST.into(),
        (IpAddr::V6(_), false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0)).await.map_err(|e| sock_err("bind", e))?;

    let (request, id) = packet::request();
    if request.len() < packet::HEADER_LEN {
        return Err(sock_err("building the request", std::io::Error::other("serialisation failed")));
    }
    let t1 = clock();
    socket.send_to(&request, addr).await.map_err(|e| sock_err("send", e))?;

    let mut buf = [0u8; 1500];
    let (mut foreign, mut rejected, mut last_rejection) = (0u32, 0u32, None);
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let t4 = clock();
        let (len, from) = match received {
            Err(_) => return Err(NtpError::Timeout { addr, after: timeout, foreign, rejected, last_rejection }),
            Ok(Err(e)) => {
                // ICMP port unreachable surfaces here on Linux: the server is not there.
                return Err(sock_err("receive", e));
            }
            Ok(Ok(got)) => got,
        };
        if from != addr {
            foreign += 1;
            if foreign == 1 {
                tracing::warn!(%from, server = %addr, "ignoring a datagram from an address we did not query");
            } else {
                tracing::debug!(%from, server = %addr, foreign, "ignoring a datagram from an address we did not query");
            }
            continue;
        }
        let datagram = buf.get(..len).unwrap_or(&[]);
        let reply = match packet::parse_reply(datagram, &id) {
            Ok(reply) => reply,
            Err(reason) if reason.answers_request() => {
                tracing::warn!(%from, %reason, "NTP reply rejected");
                return Err(NtpError::Rejected { addr, reason });
            }
            Err(reason) => {
                tracing::warn!(%from, %reason, "NTP reply rejected; still waiting for the real one");
                rejected += 1;
                last_rejection = Some(reason);
                continue;
            }
        };
        let root_distance_us = reply.root_delay_us / 2 + reply.root_dispersion_us;
        if root_distance_us > MAX_ROOT_DISTANCE_US {
            tracing::warn!(%from, root_distance_us, "NTP reply rejected: root distance too large");
            return Err(NtpError::TooFar { addr, root_distance_us });
        }
        let exchange = Exchange { t1, t2: reply.t2_us, t3: reply.t3_us, t4 };
        return match exchange.check() {
            Ok(m) => {
                tracing::debug!(
                    server,
                    %addr,
                    offset_us = m.offset_us,
                    delay_us = m.delay_us,
                    stratum = reply.stratum,
                    "NTP sample"
                );
                Ok(Sample {
                    server: server.to_owned(),
                    addr,
                    offset_us: m.offset_us,
                    delay_us: m.delay_us,
                    root_distance_us,
                    stratum: reply.stratum,
                    leap: reply.leap,
                    received_at_us: t4,
                    foreign,
                    rejected,
                })
            }
            Err(reason) => {
                tracing::warn!(%from, %reason, "NTP reply rejected");
                Err(NtpError::BadExchange { addr, reason })
            }
        };
    }
}

/// Queries `servers` in order and returns the first good sample, or every
/// server's error. `timeout` applies to each server.
pub async fn query_first(servers: &[String], timeout: Duration) -> Result<Sample, Vec<(String, NtpError)>> {
    let mut errors = Vec::new();
    for server in servers {
        match query(server, timeout).await {
            Ok(sample) => return Ok(sample),
            Err(e) => {
                tracing::info!(server = %server, "NTP query failed: {e}");
                errors.push((server.clone(), e));
            }
        }
    }
    Err(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_entries_and_unreachable_ports() {
        let t = Duration::from_millis(300);
        assert!(matches!(query("a b", t).await, Err(NtpError::BadServer { .. })));
        assert!(matches!(query("127.0.0.1:0", t).await, Err(NtpError::BadServer { .. })));
        // Nobody listens on a port we just released: a refusal or a timeout, never a sample.
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = query(&format!("127.0.0.1:{port}"), t).await.unwrap_err();
        assert!(matches!(e, NtpError::Socket { .. } | NtpError::Timeout { .. }), "{e}");
        let all = query_first(&["a b".into(), format!("127.0.0.1:{port}")], t).await.unwrap_err();
        assert_eq!(all.len(), 2);
        assert!(all[0].1.to_string().contains("not a host name"), "{}", all[0].1);
    }
}
