//! The two ways to the DS3231, end to end on the simulated daemon: over
//! i2c-dev, and through the kernel's RTC device when a kernel driver owns
//! the chip (`<state-dir>/virtual-rtc.kernel-driver`: the simulated bus
//! answers EBUSY at 0x68, and a simulated rtc-ds1307 serves the chip as
//! `/dev/rtc0`).

use piclock_testkit::{hms, proxy, target_12h, Bus, Daemon};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// How far ahead of the system clock the simulated RTC is set: 2 h 17 min,
/// far outside any error bound, so the time the daemon shows can only come
/// from the RTC.
const AHEAD_US: i64 = (2 * 3600 + 17 * 60) * 1_000_000;

fn system_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A simulated DS3231 that kept its oscillator running, `offset_us` ahead
/// of the clock.
fn kept_rtc(state: &Path, offset_us: i64) -> String {
    std::fs::create_dir_all(state).unwrap();
    let json = format!("{{\"offset_us\": {offset_us}, \"oscillator_stopped\": false}}");
    std::fs::write(state.join("virtual-rtc.json"), &json).unwrap();
    json
}

/// i2c-dev answering EBUSY at 0x68 and a readable RTC device: `RTCPresent`
/// is true, `RTCDevice` names the kernel path, and true time (so the
/// hands) comes from the RTC device, which the daemon does not write.
#[tokio::test(flavor = "multi_thread")]
async fn a_kernel_owned_rtc_is_read_through_its_rtc_device() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    kept_rtc(&state, AHEAD_US);
    std::fs::write(state.join("virtual-rtc.kernel-driver"), b"").unwrap();
    let d = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert!(p.rtc_present().await.unwrap(), "{}", d.log_text());
    assert_eq!(p.rtc_device().await.unwrap(), "simulated /dev/rtc0 (kernel driver rtc-ds1307, read-only)");
    assert_eq!(p.time_source().await.unwrap(), "rtc", "{}", d.log_text());
    let (now, system) = (p.time_usec().await.unwrap() as i64, system_us());
    assert!((now - system - AHEAD_US).abs() < 1_500_000, "TimeUSec {now}: not the RTC's {}", system + AHEAD_US);
    let rtc = p.rtc_time_usec().await.unwrap() as i64;
    assert!((rtc - now).abs() < 1_500_000, "RTCTimeUSec {rtc} vs TimeUSec {now}");
    // Hands set to the system clock's time are behind by what the RTC says.
    p.set_hand_position(&hms(target_12h(system as u64, 0)), false).await.unwrap();
    let offset = p.offset().await.unwrap();
    assert!((offset + AHEAD_US / 1_000_000).abs() <= 2, "Offset {offset}");
    assert!(d.log_text().contains("RTC: simulated /dev/rtc0 (kernel driver rtc-ds1307, read-only)"));
    // Read-only: the chip still holds exactly what it held.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("virtual-rtc.json")).unwrap()).unwrap();
    assert_eq!((saved["offset_us"].as_i64(), saved["oscillator_stopped"].as_bool()), (Some(AHEAD_US), Some(false)));
}

/// Without the kernel driver the same chip is read over i2c-dev; under the
/// driver a chip that lost power is refused by the kernel (EINVAL), and the
/// daemon says so, names the path, and runs on the system clock.
#[tokio::test(flavor = "multi_thread")]
async fn i2c_dev_by_default_and_a_chip_the_kernel_refuses() {
    let bus = Bus::start();
    let state = bus.dir().join("state");
    kept_rtc(&state, AHEAD_US);
    let mut d = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    assert!(p.rtc_present().await.unwrap());
    assert_eq!(p.rtc_device().await.unwrap(), "simulated DS3231 at 0x68 (i2c-dev)");
    assert_eq!(p.time_source().await.unwrap(), "rtc");
    assert!(d.terminate().is_some_and(|s| s.success()));

    // The chip loses power, and the overlay is loaded.
    std::fs::write(state.join("virtual-rtc.json"), "{\"offset_us\": 0, \"oscillator_stopped\": true}").unwrap();
    std::fs::write(state.join("virtual-rtc.kernel-driver"), b"").unwrap();
    d.start_again().await;
    assert!(!p.rtc_present().await.unwrap());
    assert_eq!(p.rtc_device().await.unwrap(), "simulated /dev/rtc0 (kernel driver rtc-ds1307, read-only)");
    assert_eq!(p.rtc_time_usec().await.unwrap(), 0);
    assert_eq!(p.time_source().await.unwrap(), "system");
    let log = d.log_text();
    assert!(log.contains("RTC: reading /dev/rtc0: the kernel refused (EINVAL)"), "{log}");
    let (now, system) = (p.time_usec().await.unwrap() as i64, system_us());
    assert!((now - system).abs() < 1_500_000, "TimeUSec {now} vs the system clock {system}");
}
