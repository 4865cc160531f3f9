//! NTP replies: the core's verdict, `piclock_core::ntp::reply::judge`, on
//! any datagram (as the answer to one request of ours, whose transmit
//! timestamp is fixed here), then the exchange's delay check
//! (`piclock_core::ntp::Exchange::check`), as the daemon's client does.
//! (The daemon runs ntp-proto's packet parser before the verdict; its own
//! property tests feed that adapter arbitrary bytes.)
//!
//! Input: byte 0 = flags (bit 0: write our request's transmit timestamp
//! into the origin field, bytes 24..32, so that the checks after the origin
//! check are reached), bytes 1..9 = T1 (i64 LE, µs, taken modulo the range
//! of the system clock), bytes 9..13 = T4 − T1 (u32 LE, µs), the rest = the
//! datagram.
//!
//! Asserts: a reply is accepted only if it echoes our transmit timestamp,
//! is version 3 or 4 in server mode, has stratum 1..=15, leap indicator
//! 0..=2 and non-zero receive and transmit timestamps, and its T2/T3 are
//! exactly the wire timestamps; a datagram that does not echo our request
//! is never taken as the server's answer (`answers_request`); every error
//! names what the bytes really hold; an accepted exchange has a delay in
//! 0..=MAX_DELAY_US and the offset and delay of the four timestamps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclock_core::ntp::{ntp_bits_to_unix_us, Exchange, ExchangeError, Leap, MAX_DELAY_US};
use piclock_core::ntp::reply::{judge, KissCode, ReplyError, HEADER_LEN};

/// The transmit timestamp of "our request".
const SENT: [u8; 8] = [0xe9, 0x4f, 0x2a, 0x11, 0x5c, 0x03, 0x8d, 0x77];

fn be_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_be_bytes(w)
}

fn check(data: &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<13>() else { return };
    let sent = &SENT[..];
    let mut dgram = rest.to_vec();
    if head[0] & 1 != 0 && dgram.len() >= 32 {
        dgram[24..32].copy_from_slice(sent);
    }
    // T1 is a reading of the system clock, which Linux keeps in i64
    // nanoseconds: ±2^63 ns, about 1677..2262 (`ntp::client::system_us`).
    let t1 = i64::from_le_bytes([head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8]])
        % (i64::MAX / 1000 + 1);
    let rtt = u32::from_le_bytes([head[9], head[10], head[11], head[12]]);

    let echoed = dgram.get(24..32) == Some(sent);
    let (li, vn, mode) = match dgram.first() {
        Some(&b) => (b >> 6, (b >> 3) & 7, b & 7),
        None => (0, 0, 0),
    };
    let stratum = dgram.get(1).copied().unwrap_or(0);

    let reply = match judge(&dgram, &SENT) {
        Ok(reply) => reply,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if e.answers_request() {
                assert!(echoed, "{e:?} taken as the server's answer without our origin timestamp");
                assert!(dgram.len() >= HEADER_LEN && (vn == 3 || vn == 4) && mode == 4, "{e:?}");
            }
            match e {
                ReplyError::TooShort { len } => assert!(len == dgram.len() && len < HEADER_LEN),
                ReplyError::Malformed(_) => {}
                ReplyError::UnsupportedVersion(v) => assert!(v == vn && v != 3 && v != 4, "{v} vs {vn}"),
                ReplyError::NotServerMode { mode: m } => assert!(m == mode && m != 4),
                ReplyError::OriginMismatch => assert!(!echoed, "origin matches, yet OriginMismatch"),
                ReplyError::KissOfDeath(code) => {
                    assert_eq!(stratum, 0, "kiss-of-death needs stratum 0");
                    let refid: [u8; 4] = [dgram[12], dgram[13], dgram[14], dgram[15]];
                    let expected = match &refid {
                        b"DENY" => KissCode::Deny,
                        b"RSTR" => KissCode::Rstr,
                        b"RATE" => KissCode::Rate,
                        _ => KissCode::Other(refid),
                    };
                    assert_eq!(code, expected);
                }
                ReplyError::Unsynchronised => assert_eq!(li, 3, "Unsynchronised with leap indicator {li}"),
                ReplyError::BadStratum(s) => assert!(s == stratum && s >= 16),
                ReplyError::ZeroTransmit => assert_eq!(be_u64(&dgram[40..48]), 0),
                ReplyError::ZeroReceive => assert_eq!(be_u64(&dgram[32..40]), 0),
            }
            return;
        }
    };

    // Accepted: every documented check holds on the bytes themselves.
    assert!(dgram.len() >= HEADER_LEN);
    assert!(echoed, "accepted a reply whose origin is not our transmit timestamp");
    assert!(vn == 3 || vn == 4, "accepted version {vn}");
    assert_eq!(mode, 4, "accepted mode {mode}");
    assert!((1..=15).contains(&stratum), "accepted stratum {stratum}");
    assert_eq!(reply.stratum, stratum);
    let leap = match li {
        0 => Leap::None,
        1 => Leap::Insert,
        2 => Leap::Delete,
        _ => panic!("accepted leap indicator 3 (unsynchronised)"),
    };
    assert_eq!(reply.leap, leap);
    let (t2_bits, t3_bits) = (be_u64(&dgram[32..40]), be_u64(&dgram[40..48]));
    assert_ne!(t3_bits, 0, "accepted a zero transmit timestamp");
    assert_ne!(t2_bits, 0, "accepted a zero receive timestamp");
    assert_eq!(reply.t2_us, ntp_bits_to_unix_us(t2_bits));
    assert_eq!(reply.t3_us, ntp_bits_to_unix_us(t3_bits));
    for v in [reply.root_delay_us, reply.root_dispersion_us] {
        // NTP short format: unsigned 16.16 seconds.
        assert!((0..65_536_000_000).contains(&v), "root delay/dispersion {v} µs");
    }

    // The exchange as the client completes it with its own T1 and T4.
    let t4 = t1.saturating_add(i64::from(rtt));
    let ex = Exchange { t1, t2: reply.t2_us, t3: reply.t3_us, t4 };
    let exact_delay = (i128::from(t4) - i128::from(t1)) - (i128::from(ex.t3) - i128::from(ex.t2));
    let exact_offset = ((i128::from(ex.t2) - i128::from(t1)) + (i128::from(ex.t3) - i128::from(t4))) / 2;
    match ex.check() {
        Ok(m) => {
            assert!((0..=MAX_DELAY_US).contains(&m.delay_us), "accepted delay {} µs", m.delay_us);
            assert_eq!(i128::from(m.delay_us), exact_delay);
            assert_eq!(i128::from(m.offset_us), exact_offset);
        }
        Err(ExchangeError::ZeroTransmit) => assert_eq!(ex.t3, 0),
        Err(ExchangeError::NegativeDelay { delay_us }) => assert!(delay_us < 0 && exact_delay < 0),
        Err(ExchangeError::DelayTooLarge { delay_us }) => {
            assert!(delay_us > MAX_DELAY_US && exact_delay > i128::from(MAX_DELAY_US))
        }
    }
}

fuzz_target!(|data: &[u8]| check(data));
