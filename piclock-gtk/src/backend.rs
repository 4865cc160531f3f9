//! The bus side of the panel: runs on the tokio runtime, connects to the
//! chosen target, follows the daemon (NameOwnerChanged, PropertiesChanged,
//! a reading every second) and reports [`Event`]s to the GTK side.
//!
//! Nothing here touches a widget; nothing on the GTK side waits on the bus.

use futures_util::{FutureExt, StreamExt};
use piclock_dbus::transport::{self, Target};
use piclock_dbus::{Clock1Proxy, Properties, BUS_NAME, INTERFACE, OBJECT_PATH};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::{sleep, timeout, Instant};

/// How long a connection attempt may take (ssh may ask for a host key...).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between connection attempts.
const RETRY: Duration = Duration::from_secs(5);
/// A reading at least this often, also without signals (TimeUSec has none).
const POLL: Duration = Duration::from_secs(1);
/// At most one reading per this interval when PropertiesChanged floods.
const MIN_GAP: Duration = Duration::from_millis(150);

/// What the bus side reports.
#[derive(Debug)]
pub enum Event {
    /// Connecting to the target's bus.
    Connecting,
    /// The bus cannot be reached (or the connection was lost); retrying.
    NoBus(String),
    /// Connected; calls go through this proxy.
    Connected(Clock1Proxy<'static>),
    /// The bus is there but piclockd is not running on it.
    Absent,
    /// A fresh reading of the daemon.
    Snapshot(Box<Properties>),
    /// Reading the properties failed although the daemon is there.
    ReadFailed(String),
    /// The daemon's SyncFinished signal.
    SyncFinished {
        /// Whether the query succeeded.
        success: bool,
        /// The server asked.
        server: String,
        /// Measured offset, µs.
        offset_usec: i64,
        /// The daemon's message.
        message: String,
    },
    /// The daemon's Fault signal.
    Fault {
        /// `gpio`, `rtc`, `fram`, `store` or `ntp`.
        component: String,
        /// What failed.
        message: String,
    },
}

/// Events tagged with the generation of the backend that sent them, so that
/// the GTK side can drop late events of a target it has left.
pub type Sender = UnboundedSender<(u64, Event)>;

/// Follows `target` until the task is aborted. `first` is a connection
/// already opened to it (the startup check), used for the first round.
pub async fn run(target: Target, mut first: Option<zbus::Connection>, generation: u64, tx: Sender) {
    let send = |e: Event| tx.send((generation, e)).is_ok();
    loop {
        let conn = match first.take() {
            Some(c) => c,
            None => {
                if !send(Event::Connecting) {
                    return;
                }
                match timeout(CONNECT_TIMEOUT, transport::connect(&target)).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        let mut msg = format!("cannot connect to {}: {e}", target.describe());
                        if let Some((program, args)) = target.ssh_command() {
                            let args: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
                            msg.push_str(&format!(
                                "\n(ssh ran: {} {}; it needs a login without a password prompt, e.g. a key)",
                                program.to_string_lossy(),
                                args.join(" ")
                            ));
                        }
                        if !send(Event::NoBus(msg)) {
                            return;
                        }
                        sleep(RETRY).await;
                        continue;
                    }
                    Err(_) => {
                        let msg =
                            format!("no answer from {} within {} s", target.describe(), CONNECT_TIMEOUT.as_secs());
                        if !send(Event::NoBus(msg)) {
                            return;
                        }
                        sleep(RETRY).await;
                        continue;
                    }
                }
            }
        };
        match follow(&conn, &send).await {
            Ok(()) => return, // the GTK side has gone
            Err(e) => {
                if !send(Event::NoBus(format!("lost the connection to {}: {e}", target.describe()))) {
                    return;
                }
            }
        }
        sleep(RETRY).await;
    }
}

/// Whether `e` means that nobody owns the daemon's name (it stopped).
fn is_absent(e: &zbus::Error) -> bool {
    match e {
        zbus::Error::MethodError(name, _, _) => {
            matches!(
                name.as_str(),
                "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
            )
        }
        zbus::Error::FDO(e) => {
            matches!(**e, zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_))
        }
        _ => false,
    }
}

/// Whether `e` means that the connection itself is gone.
fn is_broken(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::InputOutput(_))
}

/// Follows the daemon on one connection. Returns Ok when the receiver is
/// gone, Err when the connection breaks.
async fn follow(conn: &zbus::Connection, send: &impl Fn(Event) -> bool) -> Result<(), String> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await.map_err(|e| e.to_string())?;
    let name = zbus::names::BusName::try_from(BUS_NAME).map_err(|e| e.to_string())?;
    let mut owners = dbus.receive_name_owner_changed_with_args(&[(0, BUS_NAME)]).await.map_err(|e| e.to_string())?;
    let proxy = Clock1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(BUS_NAME)
        .and_then(|b| b.path(OBJECT_PATH))
        .map_err(|e| e.to_string())?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let mut changed = props.receive_properties_changed().await.map_err(|e| e.to_string())?;
    let mut syncs = proxy.receive_sync_finished().await.map_err(|e| e.to_string())?;
    let mut faults = proxy.receive_fault().await.map_err(|e| e.to_string())?;
    if !send(Event::Connected(proxy.clone())) {
        return Ok(());
    }
    let mut present = dbus.name_has_owner(name.clone()).await.map_err(|e| e.to_string())?;
    let mut last_read = Instant::now() - MIN_GAP;
    loop {
        let event = if present {
            tokio::time::sleep_until(last_read + MIN_GAP).await;
            // Signals that came meanwhile are covered by this reading.
            while let Some(Some(_)) = changed.next().now_or_never() {}
            last_read = Instant::now();
            match Properties::read(&proxy).await.map_err(|e| e.error) {
                Ok(s) => Event::Snapshot(Box::new(s)),
                Err(e) if is_broken(&e) => return Err(e.to_string()),
                Err(e) if is_absent(&e) => {
                    present = dbus.name_has_owner(name.clone()).await.map_err(|e| e.to_string())?;
                    if present {
                        Event::ReadFailed(e.to_string())
                    } else {
                        Event::Absent
                    }
                }
                Err(e) => Event::ReadFailed(e.to_string()),
            }
        } else {
            Event::Absent
        };
        if !send(event) {
            return Ok(());
        }
        let poll = sleep(POLL);
        tokio::pin!(poll);
        // Wait for something worth a new reading.
        loop {
            tokio::select! {
                _ = &mut poll => break,
                owner = owners.next() => {
                    let owner = owner.ok_or("the bus closed the connection")?;
                    present = owner.args().map(|a| a.new_owner().is_some()).unwrap_or(true);
                    break;
                }
                change = changed.next() => {
                    let change = change.ok_or("the bus closed the connection")?;
                    if change.args().map(|a| a.interface_name() == INTERFACE).unwrap_or(false) {
                        break;
                    }
                }
                signal = syncs.next() => {
                    let signal = signal.ok_or("the bus closed the connection")?;
                    if let Ok(a) = signal.args() {
                        let e = Event::SyncFinished {
                            success: a.success,
                            server: a.server.to_owned(),
                            offset_usec: a.offset_usec,
                            message: a.message.to_owned(),
                        };
                        if !send(e) {
                            return Ok(());
                        }
                    }
                }
                signal = faults.next() => {
                    let signal = signal.ok_or("the bus closed the connection")?;
                    if let Ok(a) = signal.args() {
                        if !send(Event::Fault { component: a.component.to_owned(), message: a.message.to_owned() }) {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}
