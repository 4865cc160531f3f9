//! The NTP client against a real chronyd on 127.0.0.1, against a hostile
//! server that answers with crafted replies, and a fuzz test of the parser.
//!
//! Needs `chronyd` (Debian package `chrony`); without it the chrony test fails.
//! Everything listens on 127.0.0.1 only.

use piclock_core::ntp::{unix_us_to_ntp, ExchangeError, MAX_DELAY_US};
use piclock_testkit::Chrony;
use piclockd::ntp::packet::{self, KissCode, ReplyError};
use piclockd::ntp::{query, query_first, NtpError, Sample};
use proptest::prelude::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;

fn system_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------- chrony

/// Queries until chronyd gives a sample (it may not answer, or answer
/// "unsynchronised", for a moment after start).
async fn wait_until_serving(chrony: &mut Chrony, limit: Duration) -> Sample {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < limit {
        if let Some(status) = chrony.exited() {
            panic!("chronyd exited ({status}) before serving; its log:\n{}", chrony.log());
        }
        match query(&chrony.server(), Duration::from_millis(500)).await {
            Ok(s) => {
                eprintln!("chronyd serving after {:?} (last error before: {last:?})", start.elapsed());
                return s;
            }
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chronyd did not serve within {limit:?}; last error: {last:?}; its log:\n{}", chrony.log());
}

#[tokio::test]
async fn real_chronyd_on_loopback() {
    let mut chrony = Chrony::start();
    let first = wait_until_serving(&mut chrony, Duration::from_secs(20)).await;
    assert_eq!(first.server, chrony.server());
    let mut samples = vec![first];
    for _ in 0..9 {
        samples.push(query(&chrony.server(), Duration::from_secs(2)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let offsets: Vec<i64> = samples.iter().map(|s| s.offset_us).collect();
    let delays: Vec<i64> = samples.iter().map(|s| s.delay_us).collect();
    let strata: Vec<u8> = samples.iter().map(|s| s.stratum).collect();
    println!("chronyd 127.0.0.1:{}: offsets µs {offsets:?}; delays µs {delays:?}; strata {strata:?}", chrony.port());
    for s in &samples {
        // chronyd serves this machine's own clock, so T1 <= T2 <= T3 <= T4 on
        // one clock: the offset is 0 up to the path asymmetry, at most half the delay.
        assert!(s.offset_us.abs() <= s.delay_us / 2 + 2, "offset {} µs beyond delay/2: {s:?}", s.offset_us);
        if s.delay_us <= 2000 {
            assert!(s.offset_us.abs() <= 1000, "offset {} µs: {s:?}", s.offset_us);
        }
        assert!((0..=MAX_DELAY_US).contains(&s.delay_us), "{s:?}");
        assert!(s.stratum == 10 || s.stratum == 11, "stratum {}", s.stratum);
        assert_eq!(s.addr, format!("127.0.0.1:{}", chrony.port()).parse::<SocketAddr>().unwrap());
        assert_eq!((s.foreign, s.rejected), (0, 0));
        let now = system_us();
        assert!((now - 5_000_000..=now).contains(&s.received_at_us));
    }
    // Loopback round trips of a few hundred µs at most, even on a busy machine, for most samples.
    let quick = samples.iter().filter(|s| s.delay_us <= 2000).count();
    assert!(quick >= samples.len() / 2, "only {quick} of {} samples with a delay under 2 ms", samples.len());
    // query_first skips a dead server and takes chrony.
    let dead = format!("127.0.0.1:{}", free_udp_port());
    let s = query_first(&["not a host".into(), dead, chrony.server()], Duration::from_millis(500)).await.unwrap();
    assert_eq!(s.server, chrony.server());
    assert!(s.offset_us.abs() <= s.delay_us / 2 + 2, "{s:?}");
    drop(chrony);
}

// --------------------------------------------------------- hostile server

/// What the hostile server does after receiving the request.
enum Act {
    /// Send a reply crafted at send time (T2 = when the request arrived,
    /// T3 = now, both on the server's skewed clock), from the socket queried.
    Reply(Craft),
    /// The same, from another socket (another port).
    ReplyFromOther(Craft),
    /// Send these bytes from the socket queried.
    Raw(Vec<u8>),
    /// Send these bytes from another socket.
    RawFromOther(Vec<u8>),
    /// Wait before the next act.
    Sleep(Duration),
}

/// Options of a crafted reply.
#[derive(Clone, Copy)]
struct Craft {
    li: u8,
    version: u8,
    mode: u8,
    stratum: u8,
    refid: [u8; 4],
    /// Server clock minus system clock, µs.
    skew_us: i64,
    /// Added to the true T3, µs (a server lying about when it sent).
    t3_extra_us: i64,
    /// T2 = T3 (the request arrived just before the reply left: the time
    /// before was spent in transit, not in the server).
    t2_at_send: bool,
    wrong_origin: bool,
    zero_transmit: bool,
}

impl Default for Craft {
    fn default() -> Craft {
        Craft {
            li: 0,
            version: 4,
            mode: 4,
            stratum: 2,
            refid: *b"GPS\0",
            skew_us: 0,
            t3_extra_us: 0,
            t2_at_send: false,
            wrong_origin: false,
            zero_transmit: false,
        }
    }
}

/// A server reply to `request`, crafted byte by byte (independently of
/// ntp-proto), for a request received at `t2` and sent at `t3` (system clock).
fn craft_at(request: &[u8], c: Craft, t2: i64, t3: i64) -> Vec<u8> {
    let t2 = if c.t2_at_send { t3 } else { t2 };
    let (t2, t3) = (t2 + c.skew_us, t3 + c.skew_us + c.t3_extra_us);
    let mut r = vec![0u8; 48];
    r[0] = (c.li << 6) | (c.version << 3) | c.mode;
    r[1] = c.stratum;
    r[2] = request.get(2).copied().unwrap_or(6);
    r[3] = 0xec;
    r[12..16].copy_from_slice(&c.refid);
    r[16..24].copy_from_slice(&unix_us_to_ntp(t2 - 60_000_000).to_be_bytes());
    r[24..32].copy_from_slice(&request[40..48]);
    if c.wrong_origin {
        r[31] ^= 1;
    }
    r[32..40].copy_from_slice(&unix_us_to_ntp(t2).to_be_bytes());
    if !c.zero_transmit {
        r[40..48].copy_from_slice(&unix_us_to_ntp(t3).to_be_bytes());
    }
    r
}

/// Starts a one-shot hostile server on 127.0.0.1; `script` decides what to
/// send when the request arrives (it also checks that it is a request).
async fn hostile<F>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(&[u8]) -> Vec<Act> + Send + 'static,
{
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let (n, client) = sock.recv_from(&mut buf).await.unwrap();
        let t2 = system_us();
        assert_eq!(n, 48, "an NTPv4 request");
        assert_eq!(buf[0] & 0x3f, (4 << 3) | 3, "version 4, client mode");
        let request = buf[..n].to_vec();
        for act in script(&request) {
            let (from, bytes) = match act {
                Act::Reply(c) => (&sock, craft_at(&request, c, t2, system_us())),
                Act::ReplyFromOther(c) => (&other, craft_at(&request, c, t2, system_us())),
                Act::Raw(b) => (&sock, b),
                Act::RawFromOther(b) => (&other, b),
                Act::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    continue;
                }
            };
            assert_eq!(from.send_to(&bytes, client).await.unwrap(), bytes.len());
        }
    });
    (addr.to_string(), task)
}

/// Queries a hostile server that sends `acts(request)`; the result and the elapsed time.
async fn against<F>(timeout: Duration, script: F) -> (Result<Sample, NtpError>, Duration)
where
    F: FnOnce(&[u8]) -> Vec<Act> + Send + 'static,
{
    let (server, task) = hostile(script).await;
    let start = Instant::now();
    let result = query(&server, timeout).await;
    let elapsed = start.elapsed();
    task.await.unwrap();
    if let Err(e) = &result {
        println!("{server}: {e}");
    }
    (result, elapsed)
}

const SHORT: Duration = Duration::from_millis(400);

fn one(c: Craft) -> impl FnOnce(&[u8]) -> Vec<Act> + Send + 'static {
    move |_| vec![Act::Reply(c)]
}

/// A crafted reply with both server timestamps now (for raw mutations).
fn craft(request: &[u8], c: Craft) -> Vec<u8> {
    let now = system_us();
    craft_at(request, c, now, now)
}

/// The sample measured `skew_us`: off by at most half the delay (the
/// path asymmetry) plus a few µs of rounding.
fn assert_measures(s: &Sample, skew_us: i64) {
    assert!((s.offset_us - skew_us).abs() <= s.delay_us / 2 + 5, "skew {skew_us}: {s:?}");
    assert!((0..=MAX_DELAY_US).contains(&s.delay_us), "{s:?}");
}

/// The query was refused at once, for `want`.
fn assert_rejected((result, elapsed): (Result<Sample, NtpError>, Duration), want: ReplyError) {
    match result {
        Err(NtpError::Rejected { reason, .. }) => assert_eq!(reason, want),
        other => panic!("expected a rejection ({want}), got {other:?}"),
    }
    assert!(elapsed < SHORT, "an authentic refusal ends the query at once ({elapsed:?})");
}

/// The datagram was ignored, and the query timed out naming why.
fn assert_ignored((result, elapsed): (Result<Sample, NtpError>, Duration), check: impl Fn(&ReplyError) -> bool) {
    match &result {
        Err(NtpError::Timeout { rejected: 1, foreign: 0, last_rejection: Some(why), .. }) => {
            assert!(check(why), "{why:?}");
            assert!(!why.answers_request());
            let text = result.as_ref().unwrap_err().to_string();
            assert!(text.contains("no valid reply") && text.contains(&why.to_string()), "{text}");
        }
        other => panic!("expected a timeout after an ignored datagram, got {other:?}"),
    }
    assert!(elapsed >= SHORT);
}

#[tokio::test]
async fn good_reply_measures_the_skew() {
    for skew_us in [5_000_000, -3_600_000_000, 0] {
        let (result, _) = against(SHORT, one(Craft { skew_us, ..Craft::default() })).await;
        let s = result.unwrap();
        assert_measures(&s, skew_us);
        assert!(s.delay_us < 100_000, "{s:?}");
        assert_eq!(s.stratum, 2);
    }
}

#[tokio::test]
async fn wrong_origin_is_ignored_then_the_real_reply_counts() {
    assert_ignored(against(SHORT, one(Craft { wrong_origin: true, ..Craft::default() })).await, |e| {
        *e == ReplyError::OriginMismatch
    });
    // A forged reply first, then the real one: the real one is used.
    let (result, _) = against(SHORT, |_| {
        vec![
            Act::Reply(Craft { wrong_origin: true, skew_us: 9_000_000, ..Craft::default() }),
            Act::Reply(Craft::default()),
        ]
    })
    .await;
    let s = result.unwrap();
    assert_eq!((s.rejected, s.foreign), (1, 0));
    assert_measures(&s, 0);
}

#[tokio::test]
async fn kiss_of_death() {
    for (refid, code) in [(*b"DENY", KissCode::Deny), (*b"RATE", KissCode::Rate), (*b"RSTR", KissCode::Rstr)] {
        let got = against(SHORT, one(Craft { stratum: 0, refid, ..Craft::default() })).await;
        assert_rejected(got, ReplyError::KissOfDeath(code));
    }
    let got = against(SHORT, one(Craft { stratum: 0, refid: *b"ACST", ..Craft::default() })).await;
    assert_rejected(got, ReplyError::KissOfDeath(KissCode::Other(*b"ACST")));
    // A forged kiss-of-death (wrong origin) cannot stop us.
    let got = against(SHORT, one(Craft { stratum: 0, refid: *b"DENY", wrong_origin: true, ..Craft::default() })).await;
    assert_ignored(got, |e| *e == ReplyError::OriginMismatch);
    let (result, _) = against(SHORT, one(Craft { stratum: 0, refid: *b"DENY", ..Craft::default() })).await;
    let text = result.unwrap_err().to_string();
    assert!(text.contains("rejected: kiss-of-death DENY"), "{text}");
}

#[tokio::test]
async fn unsynchronised_and_zero_timestamps() {
    assert_rejected(against(SHORT, one(Craft { li: 3, ..Craft::default() })).await, ReplyError::Unsynchronised);
    assert_rejected(against(SHORT, one(Craft { stratum: 16, ..Craft::default() })).await, ReplyError::BadStratum(16));
    assert_rejected(
        against(SHORT, one(Craft { zero_transmit: true, ..Craft::default() })).await,
        ReplyError::ZeroTransmit,
    );
}

#[tokio::test]
async fn short_random_and_non_server_packets_are_ignored() {
    assert_ignored(against(SHORT, |req| vec![Act::Raw(craft(req, Craft::default())[..20].to_vec())]).await, |e| {
        *e == ReplyError::TooShort { len: 20 }
    });
    assert_ignored(against(SHORT, |_| vec![Act::Raw(Vec::new())]).await, |e| *e == ReplyError::TooShort { len: 0 });
    assert_ignored(against(SHORT, one(Craft { mode: 3, ..Craft::default() })).await, |e| {
        *e == ReplyError::NotServerMode { mode: 3 }
    });
    assert_ignored(against(SHORT, one(Craft { version: 7, ..Craft::default() })).await, |e| {
        matches!(e, ReplyError::Malformed(_))
    });
    // Random bytes (a fixed pseudo-random sequence, 90 bytes).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..90)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_ignored(against(SHORT, move |_| vec![Act::Raw(noise)]).await, |e| !e.answers_request());
}

#[tokio::test]
async fn replies_from_another_port_are_ignored() {
    let (result, elapsed) = against(SHORT, |_| vec![Act::ReplyFromOther(Craft::default())]).await;
    match result {
        Err(NtpError::Timeout { foreign: 1, rejected: 0, last_rejection: None, .. }) => {}
        other => panic!("expected a timeout with one foreign datagram, got {other:?}"),
    }
    assert!(elapsed >= SHORT);
    // A forged reply from another port (claiming 1 h of skew), then the real one.
    let (result, _) = against(SHORT, |_| {
        vec![
            Act::ReplyFromOther(Craft { skew_us: 3_600_000_000, ..Craft::default() }),
            Act::Sleep(Duration::from_millis(20)),
            Act::Reply(Craft::default()),
        ]
    })
    .await;
    let s = result.unwrap();
    assert_eq!((s.foreign, s.rejected), (1, 0));
    assert_measures(&s, 0);
}

#[tokio::test]
async fn huge_delays_are_refused() {
    // The server claims to have sent 2 s before it received: delay ≈ 2 s.
    let (result, _) = against(SHORT, one(Craft { t3_extra_us: -2_000_000, ..Craft::default() })).await;
    assert!(
        matches!(result, Err(NtpError::BadExchange { reason: ExchangeError::DelayTooLarge { delay_us }, .. }) if delay_us >= 2_000_000),
        "{result:?}"
    );
    // The server claims to have held the request 2 s in a round trip of a few µs.
    let (result, _) = against(SHORT, one(Craft { t3_extra_us: 2_000_000, ..Craft::default() })).await;
    assert!(
        matches!(result, Err(NtpError::BadExchange { reason: ExchangeError::NegativeDelay { .. }, .. })),
        "{result:?}"
    );
    // A real 1.2 s round trip (the request "in transit" for 1.2 s), honest timestamps.
    let (result, elapsed) = against(Duration::from_secs(3), |_| {
        vec![Act::Sleep(Duration::from_millis(1200)), Act::Reply(Craft { t2_at_send: true, ..Craft::default() })]
    })
    .await;
    match result {
        Err(e @ NtpError::BadExchange { reason: ExchangeError::DelayTooLarge { delay_us }, .. }) => {
            assert!((1_150_000..2_500_000).contains(&delay_us), "{e}");
            assert!(e.to_string().contains("exceeds the limit"), "{e}");
        }
        other => panic!("expected a delay refusal, got {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(3));
}

#[tokio::test]
async fn flood_of_junk_then_the_real_reply() {
    let (result, _) = against(Duration::from_secs(2), |req| {
        let mut acts = Vec::new();
        for i in 0..200u8 {
            let mut junk = craft(req, Craft { wrong_origin: true, ..Craft::default() });
            junk[47] = i;
            acts.push(if i % 2 == 0 { Act::Raw(junk) } else { Act::RawFromOther(junk) });
        }
        acts.push(Act::Reply(Craft { skew_us: 250_000, ..Craft::default() }));
        acts
    })
    .await;
    let s = result.unwrap();
    assert_eq!((s.rejected, s.foreign), (100, 100));
    assert_measures(&s, 250_000);
}

// ------------------------------------------------------------------ fuzz

proptest! {
    #![proptest_config(piclock_core::proptest_config!(2000))]

    /// Arbitrary datagrams never panic the parser, and only ones echoing our
    /// origin (which random bytes do not) could be accepted.
    #[test]
    fn parse_reply_fuzz(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (_, id) = packet::request();
        let r = packet::parse_reply(&bytes, &id);
        prop_assert!(r.is_err());
        prop_assert!(!r.unwrap_err().to_string().is_empty());
    }

    /// A crafted reply with random header bytes and random tails: never a
    /// panic; accepted only with server mode, our origin and a sane stratum.
    #[test]
    fn parse_reply_fuzz_mutations(
        head in proptest::collection::vec(any::<u8>(), 24),
        tail in proptest::collection::vec(any::<u8>(), 0..150),
        t2: u64,
        t3: u64,
    ) {
        let (req, id) = packet::request();
        let mut r = craft(&req, Craft::default());
        r[..24].copy_from_slice(&head);
        r[32..40].copy_from_slice(&t2.to_be_bytes());
        r[40..48].copy_from_slice(&t3.to_be_bytes());
        r.extend_from_slice(&tail);
        match packet::parse_reply(&r, &id) {
            Ok(reply) => {
                prop_assert_eq!(r[0] & 7, 4);
                prop_assert!((1..16).contains(&reply.stratum));
                prop_assert!(t3 != 0 && t2 != 0);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

/// The daemon against a real chronyd: SyncNow → SyncFinished(success), the
/// NTP properties filled in, the offset within 1 ms of chrony's own view (0:
/// chrony serves this machine's clock), and the simulated RTC set from NTP.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_synchronises_with_chrony() {
    use futures_util::StreamExt;
    let chrony = Chrony::start();
    let bus = piclock_testkit::Bus::start();
    let _d = piclock_testkit::Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = piclock_testkit::proxy(&conn).await;
    let server = format!("127.0.0.1:{}", chrony.port());
    p.set_ntp_servers(&[server.as_str()], false).await.unwrap();
    let mut finished = p.receive_sync_finished().await.unwrap();
    p.sync_now(false).await.unwrap();
    // Nothing is trusted on a first start (the simulated RTC lost power, the
    // system clock here is unsynchronised): one server is believed after
    // three agreeing samples, 4 s apart.
    let ok = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let s = finished.next().await.expect("signal stream");
            let a = s.args().unwrap();
            if a.server == server.as_str() && a.success {
                return (a.offset_usec, a.message.to_owned());
            }
        }
    })
    .await
    .expect("SyncFinished(success) within 20 s");
    assert!(ok.0.abs() <= 1000, "offset {} µs from chrony's view", ok.0);
    assert!(p.ntp_synchronized().await.unwrap());
    assert_eq!(p.time_source().await.unwrap(), "ntp");
    let offset = p.ntp_offset_usec().await.unwrap();
    assert!(offset.abs() <= 1000, "NTPOffsetUSec {offset}");
    assert!(p.last_ntp_sync_usec().await.unwrap() > 0);
    assert!(p.rtc_present().await.unwrap());
    let (rtc, now) = (p.rtc_time_usec().await.unwrap() as i64, p.time_usec().await.unwrap() as i64);
    assert!((rtc - now).abs() < 1_500_000, "RTC {rtc} vs true time {now}: written back after the sync");
    eprintln!("daemon vs chrony: SyncFinished offset {} µs ({}), NTPOffsetUSec {offset} µs", ok.0, ok.1);
}

/// The RTC carries true time across a restart without NTP, and when it is
/// pulled off the bus mid-run the daemon says so and keeps ticking.
#[tokio::test(flavor = "multi_thread")]
async fn rtc_at_start_then_removed_mid_run() {
    use futures_util::StreamExt;
    let chrony = Chrony::start();
    let bus = piclock_testkit::Bus::start();
    let state = bus.dir().join("state");
    let mut d = piclock_testkit::Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = piclock_testkit::proxy(&conn).await;
    // A fresh simulated RTC lost power: present, not trusted.
    assert!(p.rtc_present().await.unwrap());
    assert_eq!(p.time_source().await.unwrap(), "system");
    let server = format!("127.0.0.1:{}", chrony.port());
    p.set_ntp_servers(&[server.as_str()], false).await.unwrap();
    p.sync_now(false).await.unwrap();
    let start = Instant::now();
    // Three agreeing samples, 4 s apart (nothing is trusted yet).
    while p.time_source().await.unwrap() != "ntp" {
        assert!(start.elapsed() < Duration::from_secs(20), "no NTP sync");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // NTP gone (a server nobody answers on), restart: true time from the RTC.
    drop(chrony);
    p.set_ntp_servers(&["127.0.0.1:9"], false).await.unwrap();
    assert!(d.terminate().is_some_and(|s| s.success()));
    d.start_again().await;
    assert_eq!(p.time_source().await.unwrap(), "rtc", "{}", d.log_text());
    p.set_hand_position(&piclock_testkit::hms(piclock_testkit::target_12h(p.time_usec().await.unwrap(), 0)), false)
        .await
        .unwrap();
    // Pull the RTC off the bus.
    let mut faults = p.receive_fault().await.unwrap();
    std::fs::write(state.join("virtual-rtc.unplugged"), b"").unwrap();
    p.sync_now(false).await.unwrap();
    let fault = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let f = faults.next().await.expect("signal stream");
            let a = f.args().unwrap();
            if a.component == "rtc" {
                return a.message.to_owned();
            }
        }
    })
    .await
    .expect("Fault(\"rtc\", …) within 10 s");
    assert!(!p.rtc_present().await.unwrap());
    assert_eq!(p.time_source().await.unwrap(), "system");
    assert_eq!(p.rtc_time_usec().await.unwrap(), 0);
    let ticks = p.tick_count().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(p.tick_count().await.unwrap() >= ticks + 2, "ticking stopped");
    assert_eq!(p.state().await.unwrap(), "ticking");
    eprintln!("RTC removed: Fault(rtc, {fault:?}); TimeSource system; still ticking");
}

// ------------------------------------------- which servers the daemon believes

/// A server on 127.0.0.1 that answers every request with `craft` (its clock
/// `craft.skew_us` from this machine's); returns its address and a count of
/// the requests it got.
async fn serving(craft: Craft) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = asked.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, client)) = sock.recv_from(&mut buf).await {
            let t2 = system_us();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = craft_at(&buf[..n], craft, t2, system_us());
            let _ = sock.send_to(&reply, client).await;
        }
    });
    (addr, asked)
}

const THREE_HOURS_US: i64 = 3 * 3600 * 1_000_000;

/// SyncNow, then the next SyncFinished's (success, server, message).
async fn sync_once(
    p: &piclock_dbus::Clock1Proxy<'_>,
    finished: &mut piclock_dbus::proxy::SyncFinishedStream,
) -> (bool, String, String) {
    use futures_util::StreamExt;
    p.sync_now(false).await.unwrap();
    let s =
        tokio::time::timeout(Duration::from_secs(20), finished.next()).await.expect("SyncFinished").expect("stream");
    let a = s.args().unwrap();
    (a.success, a.server.to_owned(), a.message.to_owned())
}

/// Waits until the daemon says NTP is its time source.
async fn until_ntp(p: &piclock_dbus::Clock1Proxy<'_>) {
    let start = Instant::now();
    while p.time_source().await.unwrap() != "ntp" {
        assert!(start.elapsed() < Duration::from_secs(25), "no NTP sync");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After a good sync with an honest server, a server 3 h ahead is asked
/// again and again: every SyncFinished names the disagreement, the hands
/// and the offset do not move, and the (simulated) RTC keeps true time.
#[tokio::test(flavor = "multi_thread")]
async fn one_lying_server_moves_neither_the_hands_nor_the_rtc() {
    let chrony = Chrony::start();
    let bus = piclock_testkit::Bus::start();
    let _d = piclock_testkit::Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = piclock_testkit::proxy(&conn).await;
    let honest = format!("127.0.0.1:{}", chrony.port());
    p.set_ntp_servers(&[honest.as_str()], false).await.unwrap();
    p.sync_now(false).await.unwrap();
    until_ntp(&p).await;
    piclock_testkit::set_offset(&p, 0).await;
    let (liar, asked) = serving(Craft { skew_us: THREE_HOURS_US, ..Craft::default() }).await;
    p.set_ntp_servers(&[liar.as_str()], false).await.unwrap();
    let mut finished = p.receive_sync_finished().await.unwrap();
    for round in 0..3 {
        let (success, server, message) = sync_once(&p, &mut finished).await;
        assert!(!success && server == liar, "round {round}: {success} {server} {message}");
        assert!(message.contains("from the trusted time") && message.contains("+10800"), "{message}");
        let offset = p.offset().await.unwrap();
        assert!(offset.abs() <= 1, "round {round}: Offset {offset}");
        assert_eq!(p.state().await.unwrap(), "ticking", "round {round}");
        let (rtc, now) = (p.rtc_time_usec().await.unwrap() as i64, p.time_usec().await.unwrap() as i64);
        assert!((rtc - now).abs() < 1_500_000, "round {round}: RTC {rtc} vs true {now}");
    }
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let target = piclock_testkit::target_12h(p.time_usec().await.unwrap(), 0) as i64;
    let hands = p.hand_position().await.unwrap() as i64;
    assert!((hands - target).abs() <= 2, "hands {hands} vs true time {target}");
}

/// With nothing trusted yet, two honest servers outvote a liar listed first.
#[tokio::test(flavor = "multi_thread")]
async fn two_honest_servers_outvote_a_liar() {
    let chrony = Chrony::start();
    let bus = piclock_testkit::Bus::start();
    let _d = piclock_testkit::Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = piclock_testkit::proxy(&conn).await;
    let (liar, _) = serving(Craft { skew_us: THREE_HOURS_US, ..Craft::default() }).await;
    let (honest, _) = serving(Craft::default()).await;
    let chrony_server = format!("127.0.0.1:{}", chrony.port());
    p.set_ntp_servers(&[liar.as_str(), honest.as_str(), chrony_server.as_str()], false).await.unwrap();
    let mut finished = p.receive_sync_finished().await.unwrap();
    let (success, server, message) = sync_once(&p, &mut finished).await;
    assert!(success && server == chrony_server, "{success} {server} {message}");
    assert!(message.contains("confirmed by NTP server"), "{message}");
    let offset = p.ntp_offset_usec().await.unwrap();
    assert!(offset.abs() < 1_000_000, "NTPOffsetUSec {offset}: the liar's 3 h were not taken");
    assert_eq!(p.time_source().await.unwrap(), "ntp");
}

/// A server that answers kiss-of-death DENY is dropped (not asked again)
/// and Faults says so; the next server is used.
#[tokio::test(flavor = "multi_thread")]
async fn a_kiss_of_death_deny_drops_the_server() {
    let bus = piclock_testkit::Bus::start();
    let _d = piclock_testkit::Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let p = piclock_testkit::proxy(&conn).await;
    let (deny, asked) = serving(Craft { stratum: 0, refid: *b"DENY", ..Craft::default() }).await;
    let (honest, _) = serving(Craft::default()).await;
    p.set_ntp_servers(&[deny.as_str(), honest.as_str()], false).await.unwrap();
    // Three rounds: the honest server alone needs three samples.
    p.sync_now(false).await.unwrap();
    until_ntp(&p).await;
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1, "a dropped server is not asked again");
    let faults = p.faults().await.unwrap();
    assert!(faults.iter().any(|f| f.contains(&deny) && f.contains("DENY") && f.contains("dropped")), "{faults:?}");
    // A new list forgets the drop.
    p.set_ntp_servers(&[honest.as_str()], false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(p.faults().await.unwrap().iter().all(|f| !f.contains("dropped")));
}

/// The addresses of a name are tried in turn: the first one dead (nobody
/// listens), the second answers.
#[tokio::test]
async fn every_address_of_a_name_is_tried_in_turn() {
    let (live, asked) = serving(Craft::default()).await;
    let dead: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let live: SocketAddr = live.parse().unwrap();
    let clock = system_us;
    let sample = piclockd::ntp::client::query_addresses("a.name", &[dead, live], Duration::from_millis(800), &clock)
        .await
        .expect("the second address answers");
    assert_eq!(sample.addr, live);
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
}
