//! NTP server entries (settings, `SetNTPServers`, `piclockctl`):
//! `piclock_core::ntp::parse_server` (`host`, `host:port`, IPv4, IPv6,
//! `[v6]:port`), and `piclockd::saved_settings::validate_ntp_servers`.
//!
//! Asserts: an accepted entry has a port 1..=65535 (123 when none is
//! written) and a host that is an IP address or a DNS name of labels of
//! letters, digits and inner hyphens (1..=63 each, at most 253 in all);
//! the entry written back in canonical form parses to the same; the list
//! check agrees with the entry grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclock_core::ntp::{parse_server, Host, DEFAULT_PORT};
use piclockd::saved_settings::validate_ntp_servers;
use std::net::IpAddr;

fn is_dns_name(n: &str) -> bool {
    (1..=253).contains(&n.len())
        && n.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = parse_server(text);
    assert_eq!(validate_ntp_servers(&[text.to_owned()]).is_ok(), parsed.is_ok(), "{text:?}");
    let Ok(spec) = parsed else { return };
    assert_ne!(spec.port, 0);
    if !text.contains(':') {
        assert_eq!(spec.port, DEFAULT_PORT);
    }
    let canonical = match &spec.host {
        Host::Name(n) => {
            assert!(is_dns_name(n), "{text:?}: host {n:?}");
            assert!(n.parse::<IpAddr>().is_err());
            assert!(text.starts_with(n.as_str()));
            format!("{n}:{}", spec.port)
        }
        Host::Ip(IpAddr::V4(ip)) => format!("{ip}:{}", spec.port),
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", spec.port),
    };
    assert_eq!(parse_server(&canonical), Ok(spec.clone()), "{text:?} -> {canonical:?}");
    assert!(!spec.host.to_string().is_empty());
});
