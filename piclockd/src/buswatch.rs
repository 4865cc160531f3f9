//! Noticing that the bus went away. zbus does not reconnect; a daemon that
//! lost its bus (dbus-daemon restarted or crashed) or its name would go on
//! ticking unseen and unreachable. Instead it stops cleanly (coil lines low,
//! journal committed) with a failure, and systemd's `Restart=on-failure`
//! starts it again on the new bus; the position comes back from the journal.

use piclock_dbus::names::BUS_NAME;
use std::future::Future;
use zbus::message::Type;
use zbus::{MatchRule, MessageStream};

/// A future that completes, with the reason, when the connection closes or
/// the bus takes our name away.
pub async fn lost(conn: &zbus::Connection) -> Result<impl Future<Output = String>, String> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender("org.freedesktop.DBus")
        .and_then(|b| b.interface("org.freedesktop.DBus"))
        .and_then(|b| b.member("NameLost"))
        .map_err(|e| format!("building the NameLost match rule: {e}"))?
        .build();
    let mut stream = MessageStream::for_match_rule(rule, conn, Some(8))
        .await
        .map_err(|e| format!("subscribing to NameLost: {e}"))?;
    Ok(async move {
        use futures_util::StreamExt;
        loop {
            match stream.next().await {
                None => return "the bus connection closed".to_owned(),
                Some(Err(e)) => return format!("the bus connection failed: {e}"),
                Some(Ok(msg)) => {
                    if msg.body().deserialize::<&str>().is_ok_and(|name| name == BUS_NAME) {
                        return format!("the bus took the name {BUS_NAME} away");
                    }
                }
            }
        }
    })
}
