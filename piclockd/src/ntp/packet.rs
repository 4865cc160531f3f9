//! NTP packets on the wire: the client request and the checks on a reply.
//!
//! This is the ONLY module that uses the `ntp-proto` crate. Its packet API is
//! reachable only through the `__internal-api` feature, which its maintainers
//! call unstable; the version is pinned exactly (`=1.9.0`) and nothing of it
//! leaves this file: callers see [`RequestId`], and the core's verdict types
//! [`Reply`] and [`ReplyError`] (`piclock_core::ntp::reply`, where the
//! checks on a reply are).
//!
//! The request is an NTPv4 client-mode packet whose transmit timestamp is
//! random (ntp-proto's choice, so the request does not reveal our clock); the
//! server must echo it as the origin timestamp. The caller takes T1 and T4
//! from its own clock.

use ntp_proto::{NoCipher, NtpPacket, PollInterval};
pub use piclock_core::ntp::reply::{KissCode, Reply, ReplyError, HEADER_LEN};
use std::fmt;
use std::io::Cursor;

/// Poll exponent announced in requests: 2^8 = 256 s, near the 300 s default.
pub const POLL_EXPONENT: u8 = 8;

/// What a reply must echo to answer our request: the random transmit
/// timestamp we sent. Opaque.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId {
    transmit: [u8; 8],
}

impl RequestId {
    fn new(request: &[u8]) -> RequestId {
        let mut transmit = [0u8; 8];
        if let Some(t) = request.get(40..48) {
            transmit.copy_from_slice(t);
        }
        RequestId { transmit }
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:016x})", u64::from_be_bytes(self.transmit))
    }
}

/// A new client request: the datagram to send and what its reply must echo.
///
/// The datagram is empty only if serialisation failed, which cannot happen
/// for this fixed 48-byte packet; a caller may treat that as an internal error.
pub fn request() -> (Vec<u8>, RequestId) {
    let (packet, _id) = NtpPacket::poll_message(PollInterval::from_byte(POLL_EXPONENT));
    let mut buf = [0u8; 256];
    let mut cursor = Cursor::new(&mut buf[..]);
    let bytes = match packet.serialize(&mut cursor, &NoCipher, None) {
        Ok(()) => {
            let len = usize::try_from(cursor.position()).unwrap_or(0).min(buf.len());
            buf[..len].to_vec()
        }
        Err(e) => {
            tracing::error!("serialising an NTP request failed: {e}");
            Vec::new()
        }
    };
    let id = RequestId::new(&bytes);
    (bytes, id)
}

/// Checks a datagram against our request `id` and extracts what an offset
/// measurement needs: the length first, then ntp-proto's parser (a datagram
/// it refuses is [`ReplyError::Malformed`]), then the core's verdict
/// ([`piclock_core::ntp::reply::judge`]: version, mode, origin, kiss codes,
/// leap, stratum, zero timestamps). Never panics.
pub fn parse_reply(bytes: &[u8], id: &RequestId) -> Result<Reply, ReplyError> {
    if bytes.len() < HEADER_LEN {
        return Err(ReplyError::TooShort { len: bytes.len() });
    }
    if let Err(e) = NtpPacket::deserialize(bytes, &NoCipher) {
        return Err(ReplyError::Malformed(e.to_string()));
    }
    piclock_core::ntp::reply::judge(bytes, &id.transmit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use piclock_core::ntp::{unix_us_to_ntp, Leap};
    use proptest::prelude::*;

    /// 2026-01-01T00:00:00.25Z.
    const T2: i64 = 1_767_225_600_250_000;

    /// A hand-made server reply to `req`: version 4, leap `li`, `stratum`,
    /// reference id `refid`, T2 = [`T2`], T3 = T2 + 100 µs.
    fn reply(req: &[u8], li: u8, stratum: u8, refid: [u8; 4]) -> Vec<u8> {
        let mut r = vec![0u8; HEADER_LEN];
        r[0] = (li << 6) | (4 << 3) | 4;
        r[1] = stratum;
        r[2] = POLL_EXPONENT;
        r[3] = 0xe9; // precision 2^-23
        r[4..8].copy_from_slice(&0x0000_0100u32.to_be_bytes()); // root delay 1/256 s
        r[8..12].copy_from_slice(&0x0000_0080u32.to_be_bytes()); // root dispersion 1/512 s
        r[12..16].copy_from_slice(&refid);
        r[16..24].copy_from_slice(&unix_us_to_ntp(T2 - 10_000_000).to_be_bytes());
        r[24..32].copy_from_slice(&req[40..48]);
        r[32..40].copy_from_slice(&unix_us_to_ntp(T2).to_be_bytes());
        r[40..48].copy_from_slice(&unix_us_to_ntp(T2 + 100).to_be_bytes());
        r
    }

    fn good(req: &[u8]) -> Vec<u8> {
        reply(req, 0, 2, *b"GPS\0")
    }

    #[test]
    fn request_is_a_v4_client_packet_with_random_transmit() {
        let (a, _) = request();
        let (b, _) = request();
        assert_eq!(a.len(), HEADER_LEN);
        assert_eq!(a[0], (4 << 3) | 3, "LI 0, VN 4, mode 3");
        assert_eq!(a[2], POLL_EXPONENT);
        assert_ne!(a[40..48], b[40..48], "transmit timestamps are random");
        assert!(a[24..40].iter().all(|&x| x == 0), "origin and receive are zero");
    }

    #[test]
    fn good_reply() {
        let (req, id) = request();
        let r = parse_reply(&good(&req), &id).unwrap();
        assert_eq!(
            r,
            Reply {
                stratum: 2,
                leap: Leap::None,
                t2_us: T2,
                t3_us: T2 + 100,
                root_delay_us: 3906,
                root_dispersion_us: 1953
            }
        );
        for (li, leap) in [(1, Leap::Insert), (2, Leap::Delete)] {
            assert_eq!(parse_reply(&reply(&req, li, 1, *b"PPS\0"), &id).unwrap().leap, leap);
        }
        // Version 3 is accepted.
        let mut v3 = good(&req);
        v3[0] = (3 << 3) | 4;
        assert!(parse_reply(&v3, &id).is_ok());
    }

    #[test]
    fn era_1_timestamps() {
        // 2040-01-01T00:00:00Z lies in NTP era 1.
        let (req, id) = request();
        let mut r = good(&req);
        let t = 2_208_988_800_000_000;
        r[32..40].copy_from_slice(&unix_us_to_ntp(t).to_be_bytes());
        r[40..48].copy_from_slice(&unix_us_to_ntp(t + 1).to_be_bytes());
        let got = parse_reply(&r, &id).unwrap();
        assert_eq!((got.t2_us, got.t3_us), (t, t + 1));
    }

    #[test]
    fn each_refusal_is_named() {
        let (req, id) = request();
        let (_, other_id) = request();
        let p = |bytes: &[u8]| parse_reply(bytes, &id).unwrap_err();
        assert_eq!(p(&[]), ReplyError::TooShort { len: 0 });
        assert_eq!(p(&good(&req)[..47]), ReplyError::TooShort { len: 47 });
        assert_eq!(parse_reply(&good(&req), &other_id).unwrap_err(), ReplyError::OriginMismatch);
        assert_eq!(p(&reply(&req, 0, 0, *b"DENY")), ReplyError::KissOfDeath(KissCode::Deny));
        assert_eq!(p(&reply(&req, 0, 0, *b"RSTR")), ReplyError::KissOfDeath(KissCode::Rstr));
        assert_eq!(p(&reply(&req, 3, 0, *b"RATE")), ReplyError::KissOfDeath(KissCode::Rate));
        assert_eq!(p(&reply(&req, 0, 0, *b"ACST")), ReplyError::KissOfDeath(KissCode::Other(*b"ACST")));
        assert_eq!(p(&reply(&req, 3, 0, [0; 4])), ReplyError::Unsynchronised);
        assert_eq!(p(&reply(&req, 3, 2, *b"GPS\0")), ReplyError::Unsynchronised);
        assert_eq!(p(&reply(&req, 0, 16, *b"GPS\0")), ReplyError::BadStratum(16));
        let mut r = good(&req);
        r[40..48].fill(0);
        assert_eq!(p(&r), ReplyError::ZeroTransmit);
        let mut r = good(&req);
        r[32..40].fill(0);
        assert_eq!(p(&r), ReplyError::ZeroReceive);
        for mode in [0, 1, 2, 3, 5, 6, 7] {
            let mut r = good(&req);
            r[0] = (4 << 3) | mode;
            assert_eq!(p(&r), ReplyError::NotServerMode { mode });
        }
        for v in [0, 1, 2, 6, 7] {
            let mut r = good(&req);
            r[0] = (v << 3) | 4;
            assert!(matches!(p(&r), ReplyError::Malformed(_)), "version {v}");
        }
        // Version 5 without its draft extension is malformed; our request was v4 anyway.
        let mut r = good(&req);
        r[0] = (5 << 3) | 4;
        assert!(matches!(p(&r), ReplyError::Malformed(_) | ReplyError::UnsupportedVersion(5)));
        // Trailing garbage that is neither an extension field nor a MAC.
        let mut r = good(&req);
        r.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(p(&r), ReplyError::Malformed(_)), "{:?}", p(&r));
        // Only the forged or stale ones let the client keep waiting.
        assert!(!ReplyError::OriginMismatch.answers_request());
        assert!(ReplyError::KissOfDeath(KissCode::Rate).answers_request());
        assert_eq!(
            ReplyError::KissOfDeath(KissCode::Other(*b"X\0YZ")).to_string(),
            "kiss-of-death \"X?YZ\" (5800595a)"
        );
        assert_eq!(ReplyError::NotServerMode { mode: 3 }.to_string(), "not a server-mode reply (mode 3, client)");
    }

    proptest! {
        #![proptest_config(piclock_core::proptest_config!(4096))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (_, id) = request();
            if let Ok(r) = parse_reply(&bytes, &id) {
                // Only a 2^-64 guess of the origin gets here.
                prop_assert!((1..16).contains(&r.stratum));
            }
        }

        #[test]
        fn mutated_replies_never_panic(
            edits in proptest::collection::vec((0usize..200, any::<u8>()), 0..8),
            cut in 0usize..200,
            tail in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let (req, id) = request();
            let mut r = good(&req);
            r.extend_from_slice(&tail);
            for (at, byte) in edits {
                if let Some(b) = r.get_mut(at) {
                    *b = byte;
                }
            }
            r.truncate(cut.max(1));
            match parse_reply(&r, &id) {
                Ok(reply) => {
                    prop_assert!((1..16).contains(&reply.stratum));
                    prop_assert!(r.len() >= HEADER_LEN);
                    prop_assert_eq!(&r[24..32], &req[40..48]);
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn header_fields_never_panic(byte0: u8, stratum: u8, refid: [u8; 4], t2: u64, t3: u64) {
            let (req, id) = request();
            let mut r = reply(&req, 0, stratum, refid);
            r[0] = byte0;
            r[32..40].copy_from_slice(&t2.to_be_bytes());
            r[40..48].copy_from_slice(&t3.to_be_bytes());
            if let Ok(reply) = parse_reply(&r, &id) {
                prop_assert_eq!(reply.t3_us, piclock_core::ntp::ntp_bits_to_unix_us(t3));
                prop_assert_eq!(reply.t2_us, piclock_core::ntp::ntp_bits_to_unix_us(t2));
            }
        }
    }
}
