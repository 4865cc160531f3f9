//! `piclockctl status`: right-aligned labels, like timedatectl.

use crate::call_error;
use piclock_core::dial::Dial;
use piclock_dbus::Clock1Proxy;

fn local_time(usec: u64, zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_microsecond(i64::try_from(usec).unwrap_or(0)) else {
        return "n/a".into();
    };
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => ts.to_zoned(tz).strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => ts.strftime("%a %Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

fn duration(s: u32) -> String {
    match s {
        0 => "0 s (right)".into(),
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

/// Prints the status block.
pub async fn print(p: &Clock1Proxy<'_>) -> Result<(), (u8, String)> {
    let dial_s = p.dial_seconds().await.map_err(call_error)?;
    let dial = Dial::from_seconds(dial_s).unwrap_or(Dial::TWELVE_HOUR);
    let hands = p.hand_position().await.map_err(call_error)?;
    let certain = p.position_certain().await.map_err(call_error)?;
    let state = p.state().await.map_err(call_error)?;
    let offset = p.offset().await.map_err(call_error)?;
    let catch_up = p.catch_up_seconds().await.map_err(call_error)?;
    let zone = p.timezone().await.map_err(call_error)?;
    let now = p.time_usec().await.map_err(call_error)?;
    let faults = p.faults().await.map_err(call_error)?;
    let hands_text = if state == "needs-position" {
        "unknown (set them: piclockctl set-hands H:MM:SS)".to_owned()
    } else if certain {
        dial.format(hands)
    } else {
        format!("{} (uncertain by one step)", dial.format(hands))
    };
    let rows = [
        ("Hands", hands_text),
        ("Local time", local_time(now, &zone)),
        ("Time zone", zone),
        ("State", state),
        ("Offset", format!("{offset:+} s")),
        ("Catch-up", duration(catch_up)),
    ];
    for (k, v) in rows {
        println!("{k:>12}: {v}");
    }
    for f in faults {
        println!("{:>12}: {f}", "Fault");
    }
    Ok(())
}
