//! piclockd speaks sd_notify: READY=1 once it serves, STATUS= lines that
//! follow the state, WATCHDOG=1 keep-alives at half the interval, STOPPING=1.

use piclock_testkit::{hms, proxy, target_12h, Bus, Daemon};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

fn drain(sock: &UnixDatagram, for_: Duration) -> Vec<(Duration, String)> {
    let start = Instant::now();
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    while start.elapsed() < for_ {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push((start.elapsed(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_status_watchdog_and_stopping() {
    let bus = Bus::start();
    let path = bus.dir().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut d = Daemon::start_with_env(
        &bus,
        &bus.dir().join("state"),
        1.0,
        &[("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "4000000")],
    )
    .await;
    let first = drain(&sock, Duration::from_millis(300));
    let text: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    assert!(text.contains(&"READY=1"), "{text:?}");
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    p.set_hand_position(&hms(target_12h(p.time_usec().await.unwrap(), 0)), false).await.unwrap();
    let msgs = drain(&sock, Duration::from_millis(6500));
    let statuses: Vec<&str> = msgs.iter().filter_map(|(_, m)| m.strip_prefix("STATUS=")).collect();
    assert!(statuses.contains(&"ticking, hands right"), "{statuses:?}");
    let kicks: Vec<Duration> = msgs.iter().filter(|(_, m)| m == "WATCHDOG=1").map(|(t, _)| *t).collect();
    // WatchdogSec=4 s: a keep-alive about every 2 s (half the interval),
    // sent after an on-time wake-up (the loop wakes at least once a second),
    // so never more than 3 s apart and never more often than every 2 s.
    assert!((2..=4).contains(&kicks.len()), "{kicks:?}");
    assert!(kicks.windows(2).all(|w| w[1] - w[0] >= Duration::from_millis(1950)), "{kicks:?}");
    assert!(kicks.windows(2).all(|w| w[1] - w[0] <= Duration::from_millis(3100)), "{kicks:?}");
    assert!(d.terminate().is_some_and(|s| s.success()));
    let last = drain(&sock, Duration::from_millis(200));
    assert!(last.iter().any(|(_, m)| m == "STOPPING=1"), "{last:?}");
}
