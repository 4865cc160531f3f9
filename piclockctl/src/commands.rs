//! The commands that change something (set-hands, pause, resume, step,
//! sync, ntp-servers, timezone, home) and the small read-only ones.

use crate::failure::{call_failed, Failure, EXIT_FAILURE};
use crate::status::offset_text;
use crate::Ctx;
use futures_util::StreamExt;
use piclock_dbus::text;
use std::time::Duration;

/// `set-hands H:MM[:SS]`.
pub async fn set_hands(ctx: &Ctx, position: &str) -> Result<(), Failure> {
    let _agent = ctx.agent();
    ctx.proxy
        .set_hand_position(position, ctx.interactive)
        .await
        .map_err(|e| call_failed(e, "SetHandPosition", &ctx.target))?;
    drop(_agent);
    let p = ctx.properties().await?;
    let (offset, catch_up, state) = (p.offset, p.catch_up_seconds, p.state);
    if catch_up == 0 {
        println!("Hands set to {position}; offset {}; {state}.", offset_text(offset));
    } else {
        println!(
            "Hands set to {position}; offset {}; {state}, right in about {}.",
            offset_text(offset),
            text::duration(u64::from(catch_up))
        );
    }
    Ok(())
}

/// `pause`.
pub async fn pause(ctx: &Ctx) -> Result<(), Failure> {
    let _agent = ctx.agent();
    ctx.proxy.pause(ctx.interactive).await.map_err(|e| call_failed(e, "Pause", &ctx.target))
}

/// `resume`.
pub async fn resume(ctx: &Ctx) -> Result<(), Failure> {
    let _agent = ctx.agent();
    ctx.proxy.resume(ctx.interactive).await.map_err(|e| call_failed(e, "Resume", &ctx.target))
}

/// `step N`.
pub async fn step(ctx: &Ctx, ticks: i32) -> Result<(), Failure> {
    let _agent = ctx.agent();
    ctx.proxy.step(ticks, ctx.interactive).await.map_err(|e| call_failed(e, "Step", &ctx.target))
}

/// `sync`: asks for a query and prints its outcome.
pub async fn sync(ctx: &Ctx, timeout: Duration) -> Result<(), Failure> {
    // Subscribe first, so the answer cannot slip past.
    let mut finished =
        ctx.proxy.receive_sync_finished().await.map_err(|e| call_failed(e, "SyncFinished", &ctx.target))?;
    {
        let _agent = ctx.agent();
        ctx.proxy.sync_now(ctx.interactive).await.map_err(|e| call_failed(e, "SyncNow", &ctx.target))?;
    }
    let signal = tokio::time::timeout(timeout, finished.next()).await.map_err(|_| {
        Failure::new(EXIT_FAILURE, format!("no SyncFinished from piclockd within {} s", timeout.as_secs()))
    })?;
    let signal = signal.ok_or_else(|| Failure::new(EXIT_FAILURE, "the connection to piclockd closed"))?;
    let args = signal.args().map_err(|e| Failure::new(EXIT_FAILURE, format!("SyncFinished: {e}")))?;
    if *args.success() {
        println!(
            "Synchronized with {}: system clock minus NTP {:+.3} ms{}",
            args.server(),
            *args.offset_usec() as f64 / 1e3,
            if args.message().is_empty() { String::new() } else { format!(" ({})", args.message()) }
        );
        Ok(())
    } else {
        let server = if args.server().is_empty() { "no server".to_owned() } else { args.server().to_string() };
        Err(Failure::new(EXIT_FAILURE, format!("NTP sync failed ({server}): {}", args.message())))
    }
}

/// `home [--no-wait]`: starts homing, then (unless `no_wait`) waits until
/// the position is found, the seconds are found (only a seconds sensor),
/// or homing fails.
pub async fn home(ctx: &Ctx, no_wait: bool) -> Result<(), Failure> {
    {
        let _agent = ctx.agent();
        ctx.proxy.home(ctx.interactive).await.map_err(|e| call_failed(e, "Home", &ctx.target))?;
    }
    if no_wait {
        println!("Homing started.");
        return Ok(());
    }
    loop {
        let p = ctx.properties().await?;
        if let Some(f) = p.faults.iter().find(|f| f.starts_with("homing:")) {
            return Err(Failure::new(EXIT_FAILURE, f.clone()));
        }
        if p.state == "needs-position" {
            println!("The seconds are found; tell the hour and minute: piclockctl set-hands H:MM");
            return Ok(());
        }
        if p.position_certain {
            let dial =
                piclock_core::dial::Dial::from_seconds(p.dial_seconds).unwrap_or(piclock_core::dial::Dial::TWELVE_HOUR);
            println!("Hands found at {}; offset {}; {}.", dial.format(p.hand_position), offset_text(p.offset), p.state);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `ntp-servers [SERVER...]`.
pub async fn ntp_servers(ctx: &Ctx, servers: &[String]) -> Result<(), Failure> {
    if servers.is_empty() {
        for s in ctx.properties().await?.ntp_servers {
            println!("{s}");
        }
        return Ok(());
    }
    let refs: Vec<&str> = servers.iter().map(String::as_str).collect();
    let _agent = ctx.agent();
    ctx.proxy.set_ntp_servers(&refs, ctx.interactive).await.map_err(|e| call_failed(e, "SetNTPServers", &ctx.target))
}

/// `timezone [ZONE]`.
pub async fn timezone(ctx: &Ctx, zone: Option<&str>) -> Result<(), Failure> {
    match zone {
        None => {
            println!("{}", ctx.properties().await?.timezone);
            Ok(())
        }
        Some(zone) => {
            let _agent = ctx.agent();
            ctx.proxy.set_timezone(zone, ctx.interactive).await.map_err(|e| call_failed(e, "SetTimezone", &ctx.target))
        }
    }
}

/// The zone names this machine's time zone database knows, sorted. The
/// daemon checks against its own machine's database; for `-H`, the lists
/// may differ slightly.
pub fn timezone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    names.sort();
    names.dedup();
    names
}
