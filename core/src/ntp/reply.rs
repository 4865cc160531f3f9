//! The verdict on an NTP server's reply, from the bytes of its header: is it
//! the server's authentic answer to our request, and is its time usable?
//!
//! Sans-IO: the client (`piclockd`'s `ntp` module) sends the request, has
//! the datagram parsed by its packet library (which refuses what is not
//! well-formed: [`ReplyError::Malformed`]) and asks [`judge`] the rest.
//! The checks, in order: length, version 3 or 4, server mode, the origin
//! timestamp (our request's transmit timestamp, echoed), kiss-of-death
//! DENY/RSTR/RATE, leap indicator 3, other kiss codes, stratum 16 and up,
//! zero transmit and receive timestamps.

use super::{ntp_bits_to_unix_us, Leap};
use crate::US_PER_SEC;
use std::fmt;

/// Length of an NTPv3/v4 header; shorter datagrams are refused at once.
pub const HEADER_LEN: usize = 48;

/// A reply that passed every check of [`judge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// Server stratum, 1..=15.
    pub stratum: u8,
    /// Leap second announced by the server.
    pub leap: Leap,
    /// T2: when the server received the request, µs since the Unix epoch.
    pub t2_us: i64,
    /// T3: when the server sent the reply, µs since the Unix epoch.
    pub t3_us: i64,
    /// Round-trip delay from the server to its reference clock, µs.
    pub root_delay_us: i64,
    /// Dispersion of the server's clock relative to its reference, µs.
    pub root_dispersion_us: i64,
}

/// A kiss-of-death code (reply with stratum 0; the code is in the reference id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KissCode {
    /// `DENY`: access denied; do not query this server again.
    Deny,
    /// `RSTR`: access restricted; do not query this server again.
    Rstr,
    /// `RATE`: too many requests; poll less often.
    Rate,
    /// Any other code (the four bytes of the reference id).
    Other([u8; 4]),
}

impl fmt::Display for KissCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KissCode::Deny => f.write_str("DENY (access denied)"),
            KissCode::Rstr => f.write_str("RSTR (access restricted)"),
            KissCode::Rate => f.write_str("RATE (polling too often)"),
            KissCode::Other(code) => {
                let text: String =
                    code.iter().map(|&b| if b.is_ascii_graphic() { char::from(b) } else { '?' }).collect();
                write!(f, "{text:?} ({:02x}{:02x}{:02x}{:02x})", code[0], code[1], code[2], code[3])
            }
        }
    }
}

/// Why a datagram is not a usable reply to our request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplyError {
    /// Shorter than an NTP header.
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Not a well-formed NTP packet (the packet parser's reason).
    Malformed(String),
    /// An NTP version other than 3 or 4 (we sent version 4).
    UnsupportedVersion(u8),
    /// The mode is not "server" (4).
    NotServerMode {
        /// The mode field, 0..=7.
        mode: u8,
    },
    /// The origin timestamp is not the transmit timestamp of our request:
    /// a stale, duplicated or forged packet.
    OriginMismatch,
    /// Kiss-of-death: the server refuses to serve us.
    KissOfDeath(KissCode),
    /// Leap indicator 3: the server's clock is not synchronised.
    Unsynchronised,
    /// Stratum 16 (unsynchronised) or reserved (17..=255).
    BadStratum(u8),
    /// The server's transmit timestamp (T3) is zero.
    ZeroTransmit,
    /// The server's receive timestamp (T2) is zero.
    ZeroReceive,
}

impl ReplyError {
    /// Whether the datagram passed the origin check, so that it is the
    /// server's real answer to our request (a refusal, but an authentic one).
    /// The others may be stale or forged by anyone who can send us a
    /// datagram: a client keeps waiting for the real reply.
    pub fn answers_request(&self) -> bool {
        !matches!(
            self,
            ReplyError::TooShort { .. }
                | ReplyError::Malformed(_)
                | ReplyError::UnsupportedVersion(_)
                | ReplyError::NotServerMode { .. }
                | ReplyError::OriginMismatch
        )
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::TooShort { len } => {
                write!(f, "packet too short ({len} bytes, an NTP header has {HEADER_LEN})")
            }
            ReplyError::Malformed(why) => write!(f, "malformed packet: {why}"),
            ReplyError::UnsupportedVersion(v) => write!(f, "NTP version {v} (expected 3 or 4)"),
            ReplyError::NotServerMode { mode } => {
                let name = ["reserved", "symmetric active", "symmetric passive", "client", "server", "broadcast"]
                    .get(usize::from(*mode))
                    .copied()
                    .unwrap_or("control/private");
                write!(f, "not a server-mode reply (mode {mode}, {name})")
            }
            ReplyError::OriginMismatch => f.write_str("origin timestamp does not match our request"),
            ReplyError::KissOfDeath(code) => write!(f, "kiss-of-death {code}"),
            ReplyError::Unsynchronised => f.write_str("server not synchronised (leap indicator 3)"),
            ReplyError::BadStratum(s) => write!(f, "stratum {s} (server not synchronised)"),
            ReplyError::ZeroTransmit => f.write_str("transmit timestamp is zero"),
            ReplyError::ZeroReceive => f.write_str("receive timestamp is zero"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// The header fields [`judge`] reads, at their offsets in the datagram.
struct Header<'a> {
    bytes: &'a [u8],
}

impl Header<'_> {
    fn u32_at(&self, at: usize) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.bytes[at..at + 4]);
        u32::from_be_bytes(w)
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.bytes[at..at + 8]);
        u64::from_be_bytes(w)
    }

    fn leap_bits(&self) -> u8 {
        self.bytes[0] >> 6
    }

    fn version(&self) -> u8 {
        (self.bytes[0] >> 3) & 7
    }

    fn mode(&self) -> u8 {
        self.bytes[0] & 7
    }

    fn stratum(&self) -> u8 {
        self.bytes[1]
    }

    fn reference_id(&self) -> [u8; 4] {
        self.u32_at(12).to_be_bytes()
    }
}

/// An NTP short-format duration (16.16 seconds) in µs, truncated.
fn short_to_us(bits: u32) -> i64 {
    let secs = i64::from(bits >> 16);
    let nanos = (u64::from(bits & 0xffff) * 1_000_000_000) >> 16;
    secs * US_PER_SEC + (nanos / 1000) as i64
}

/// Judges `bytes`, a datagram already found well-formed, as the reply to
/// the request whose transmit timestamp was `sent_transmit`, and extracts
/// what an offset measurement needs. Never panics.
pub fn judge(bytes: &[u8], sent_transmit: &[u8; 8]) -> Result<Reply, ReplyError> {
    if bytes.len() < HEADER_LEN {
        return Err(ReplyError::TooShort { len: bytes.len() });
    }
    let h = Header { bytes };
    if !matches!(h.version(), 3 | 4) {
        return Err(ReplyError::UnsupportedVersion(h.version()));
    }
    if h.mode() != 4 {
        return Err(ReplyError::NotServerMode { mode: h.mode() });
    }
    if &bytes[24..32] != sent_transmit {
        return Err(ReplyError::OriginMismatch);
    }
    if h.stratum() == 0 {
        return Err(match &h.reference_id() {
            b"DENY" => ReplyError::KissOfDeath(KissCode::Deny),
            b"RSTR" => ReplyError::KissOfDeath(KissCode::Rstr),
            b"RATE" => ReplyError::KissOfDeath(KissCode::Rate),
            // An unsynchronised server may also send stratum 0: say which.
            _ if h.leap_bits() == 3 => ReplyError::Unsynchronised,
            other => ReplyError::KissOfDeath(KissCode::Other(*other)),
        });
    }
    let leap = match h.leap_bits() {
        0 => Leap::None,
        1 => Leap::Insert,
        2 => Leap::Delete,
        _ => return Err(ReplyError::Unsynchronised),
    };
    if h.stratum() >= 16 {
        return Err(ReplyError::BadStratum(h.stratum()));
    }
    let (t2, t3) = (h.u64_at(32), h.u64_at(40));
    if t3 == 0 {
        return Err(ReplyError::ZeroTransmit);
    }
    if t2 == 0 {
        return Err(ReplyError::ZeroReceive);
    }
    Ok(Reply {
        stratum: h.stratum(),
        leap,
        t2_us: ntp_bits_to_unix_us(t2),
        t3_us: ntp_bits_to_unix_us(t3),
        root_delay_us: short_to_us(h.u32_at(4)),
        root_dispersion_us: short_to_us(h.u32_at(8)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp::unix_us_to_ntp;
    use proptest::prelude::*;

    const SENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    /// 2026-01-01T00:00:00.25Z.
    const T2: i64 = 1_767_225_600_250_000;

    /// A server reply to [`SENT`]: version 4, leap `li`, `stratum`, `refid`.
    fn reply(li: u8, stratum: u8, refid: &[u8; 4]) -> Vec<u8> {
        let mut r = vec![0u8; HEADER_LEN];
        r[0] = (li << 6) | (4 << 3) | 4;
        r[1] = stratum;
        r[4..8].copy_from_slice(&0x0001_8000u32.to_be_bytes()); // root delay 1.5 s
        r[8..12].copy_from_slice(&0x0000_0080u32.to_be_bytes()); // root dispersion 1/512 s
        r[12..16].copy_from_slice(refid);
        r[24..32].copy_from_slice(&SENT);
        r[32..40].copy_from_slice(&unix_us_to_ntp(T2).to_be_bytes());
        r[40..48].copy_from_slice(&unix_us_to_ntp(T2 + 100).to_be_bytes());
        r
    }

    #[test]
    fn a_good_reply_gives_its_fields() {
        let r = judge(&reply(1, 2, b"GPS\0"), &SENT).expect("good");
        assert_eq!(
            r,
            Reply {
                stratum: 2,
                leap: Leap::Insert,
                t2_us: T2,
                t3_us: T2 + 100,
                root_delay_us: 1_500_000,
                root_dispersion_us: 1953
            }
        );
    }

    #[test]
    fn each_refusal_is_named_in_order() {
        let j = |b: &[u8]| judge(b, &SENT).expect_err("refused");
        assert_eq!(j(&reply(0, 1, b"GPS\0")[..47]), ReplyError::TooShort { len: 47 });
        let mut v5 = reply(0, 1, b"GPS\0");
        v5[0] = (5 << 3) | 4;
        assert_eq!(j(&v5), ReplyError::UnsupportedVersion(5));
        let mut client = reply(0, 1, b"GPS\0");
        client[0] = (4 << 3) | 3;
        assert_eq!(j(&client), ReplyError::NotServerMode { mode: 3 });
        assert_eq!(judge(&reply(0, 1, b"GPS\0"), &[0; 8]), Err(ReplyError::OriginMismatch));
        assert_eq!(j(&reply(3, 0, b"RATE")), ReplyError::KissOfDeath(KissCode::Rate));
        assert_eq!(j(&reply(0, 0, b"ACST")), ReplyError::KissOfDeath(KissCode::Other(*b"ACST")));
        assert_eq!(j(&reply(3, 0, &[0; 4])), ReplyError::Unsynchronised);
        assert_eq!(j(&reply(3, 2, b"GPS\0")), ReplyError::Unsynchronised);
        assert_eq!(j(&reply(0, 16, b"GPS\0")), ReplyError::BadStratum(16));
        let mut r = reply(0, 1, b"GPS\0");
        r[40..48].fill(0);
        assert_eq!(j(&r), ReplyError::ZeroTransmit);
        let mut r = reply(0, 1, b"GPS\0");
        r[32..40].fill(0);
        assert_eq!(j(&r), ReplyError::ZeroReceive);
    }

    proptest! {
        #![proptest_config(crate::proptest_config!(512))]

        /// Any datagram: never a panic, and one taken holds our origin, a
        /// server-mode v3/v4 header, stratum 1..=15 and leap 0..=2.
        #[test]
        fn any_bytes_are_judged_without_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..80), echo: bool) {
            if echo && bytes.len() >= 32 {
                bytes[24..32].copy_from_slice(&SENT);
            }
            if let Ok(r) = judge(&bytes, &SENT) {
                prop_assert_eq!(&bytes[24..32], &SENT);
                prop_assert!(matches!((bytes[0] >> 3) & 7, 3 | 4) && bytes[0] & 7 == 4);
                prop_assert!((1..=15).contains(&r.stratum) && bytes[0] >> 6 != 3);
            }
        }
    }
}
