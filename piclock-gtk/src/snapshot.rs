//! One reading of every property of the daemon, taken together: the
//! contract crate's [`Properties`](piclock_dbus::Properties), shared with
//! `piclockctl status`.

use piclock_dbus::Clock1Proxy;

/// Every property of `org.piclock.Clock1` at one moment.
pub type Snapshot = piclock_dbus::Properties;

/// Reads every property (about one round trip: the reads go out together).
pub async fn fetch(p: &Clock1Proxy<'_>) -> zbus::Result<Snapshot> {
    Snapshot::read(p).await.map_err(|e| e.error)
}
