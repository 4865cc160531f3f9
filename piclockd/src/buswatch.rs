//! Noticing that the bus went away. zbus does not reconnect; a daemon that
//! lost its bus (dbus-daemon restarted or crashed) or its name would go on
//! ticking unseen and unreachable. Instead it stops cleanly (coil lines low,
//! journal committed) with a failure, and systemd's `Restart=on-failure`
//! starts it again on the new bus; the position comes back from the journal.

use piclock_dbus::names::BUS_NAME;
use std::future::Future;
use zbus::message::Type;
use zbus::{MatchRule, MessageStream};

/// Why the bus is not watched: watching could not start, or the bus went
/// away.
#[derive(Debug, thiserror::Error)]
pub enum BusWatchError {
    /// The match rule for `NameLost` could not be built.
    #[error("building the NameLost match rule: {0}")]
    MatchRule(#[source] zbus::Error),
    /// The bus refused the subscription to `NameLost`.
    #[error("subscribing to NameLost: {0}")]
    Subscribe(#[source] zbus::Error),
    /// The connection closed.
    #[error("the bus connection closed")]
    Closed,
    /// The connection failed.
    #[error("the bus connection failed: {0}")]
    Failed(#[source] zbus::Error),
    /// The bus took the daemon's name away.
    #[error("the bus took the name {BUS_NAME} away")]
    NameLost,
}

/// A future that completes, with the reason, when the connection closes or
/// the bus takes our name away.
pub async fn lost(conn: &zbus::Connection) -> Result<impl Future<Output = BusWatchError>, BusWatchError> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender("org.freedesktop.DBus")
        .and_then(|b| b.interface("org.freedesktop.DBus"))
        .and_then(|b| b.member("NameLost"))
        .map_err(BusWatchError::MatchRule)?
        .build();
    let mut stream = MessageStream::for_match_rule(rule, conn, Some(8)).await.map_err(BusWatchError::Subscribe)?;
    Ok(async move {
        use futures_util::StreamExt;
        loop {
            match stream.next().await {
                None => return BusWatchError::Closed,
                Some(Err(e)) => return BusWatchError::Failed(e),
                Some(Ok(msg)) => {
                    if msg.body().deserialize::<&str>().is_ok_and(|name| name == BUS_NAME) {
                        return BusWatchError::NameLost;
                    }
                }
            }
        }
    })
}
