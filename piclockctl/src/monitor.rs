//! `piclockctl monitor`: one line per change (PropertiesChanged, the
//! SyncFinished and Fault signals, the daemon appearing or going away) until
//! Ctrl-C. Lines start with the local time of this machine.

use crate::failure::{call_failed, Failure};
use crate::{value, Ctx};
use futures_util::StreamExt;
use piclock_dbus::names::{BUS_NAME, INTERFACE};

fn stamp() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S%.3f").to_string()
}

/// Runs until Ctrl-C (exit 0) or until the bus connection ends.
pub async fn run(ctx: &Ctx) -> Result<(), Failure> {
    let conn = ctx.proxy.inner().connection().clone();
    let fail = |e: zbus::Error, what: &str| call_failed(e, what, &ctx.target);
    let props = zbus::fdo::PropertiesProxy::builder(&conn)
        .destination(BUS_NAME)
        .and_then(|b| b.path(ctx.proxy.inner().path().to_owned()))
        .map_err(|e| fail(e, "Properties"))?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| fail(e, "Properties"))?;
    let mut changed = props.receive_properties_changed().await.map_err(|e| fail(e, "PropertiesChanged"))?;
    let mut synced = ctx.proxy.receive_sync_finished().await.map_err(|e| fail(e, "SyncFinished"))?;
    let mut faults = ctx.proxy.receive_fault().await.map_err(|e| fail(e, "Fault"))?;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.map_err(|e| fail(e, "org.freedesktop.DBus"))?;
    let mut owners =
        dbus.receive_name_owner_changed_with_args(&[(0, BUS_NAME)]).await.map_err(|e| fail(e, "NameOwnerChanged"))?;
    let running = dbus
        .name_has_owner(BUS_NAME.try_into().map_err(|e: zbus::names::Error| fail(e.into(), "NameHasOwner"))?)
        .await
        .map_err(|e| fail(e.into(), "NameHasOwner"))?;
    eprintln!(
        "Monitoring piclockd on {} ({}); Ctrl-C to stop.",
        ctx.target.describe(),
        if running { "running" } else { "not running yet" }
    );
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            Some(signal) = changed.next() => {
                let Ok(args) = signal.args() else { continue };
                if args.interface_name().as_str() != INTERFACE {
                    continue;
                }
                let mut names: Vec<_> = args.changed_properties().iter().collect();
                names.sort_by(|a, b| a.0.cmp(b.0));
                for (name, v) in names {
                    println!("{} {name}={}", stamp(), value::to_text(v));
                }
                for name in args.invalidated_properties().iter() {
                    println!("{} {name} changed", stamp());
                }
            }
            Some(signal) = synced.next() => {
                if let Ok(a) = signal.args() {
                    println!(
                        "{} SyncFinished success={} server={} offset_usec={} message={}",
                        stamp(),
                        if *a.success() { "yes" } else { "no" },
                        a.server(),
                        a.offset_usec(),
                        a.message()
                    );
                }
            }
            Some(signal) = faults.next() => {
                if let Ok(a) = signal.args() {
                    println!("{} Fault component={} message={}", stamp(), a.component(), a.message());
                }
            }
            Some(signal) = owners.next() => {
                if let Ok(a) = signal.args() {
                    match a.new_owner().as_ref() {
                        Some(_) => println!("{} piclockd started", stamp()),
                        None => println!("{} piclockd stopped", stamp()),
                    }
                }
            }
            else => return Err(Failure::new(crate::failure::EXIT_NOT_RUNNING, "the bus connection closed")),
        }
    }
}
