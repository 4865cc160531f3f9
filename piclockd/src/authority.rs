//! Asking polkit whether the caller of a method may do it.
//!
//! The subject is always the caller's unique bus name taken from the
//! message header (never the daemon's own process), `interactive` maps to
//! AllowUserInteraction, and polkit is asked on every call: no caching.
//! If polkit cannot be asked, the call is refused (fail closed).
//!
//! On a session bus (`--session`, simulation) there is no polkit authority
//! for the bus's unique names; there the caller must be the same Unix user
//! as the daemon (the bus daemon vouches for the caller's uid). This is the
//! session bus's own trust boundary made explicit, not a way around polkit:
//! the system bus always asks polkit.

use crate::service::MethodError;
use enumflags2::BitFlags;
use std::collections::HashMap;
use zbus::message::Header;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

/// Who decides whether a caller may change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorizer {
    /// polkit, on the system bus.
    Polkit,
    /// On a session bus: only callers running as this uid.
    SameUser {
        /// The daemon's own uid.
        uid: u32,
    },
}

impl Authorizer {
    /// Returns Ok if the sender of `header` may do `action`.
    pub async fn authorize(
        &self,
        conn: &zbus::Connection,
        header: &Header<'_>,
        action: &str,
        interactive: bool,
    ) -> Result<(), MethodError> {
        match *self {
            Authorizer::Polkit => authorize(conn, header, action, interactive).await,
            Authorizer::SameUser { uid } => same_user(conn, header, action, uid).await,
        }
    }
}

async fn same_user(conn: &zbus::Connection, header: &Header<'_>, action: &str, uid: u32) -> Result<(), MethodError> {
    let sender =
        header.sender().ok_or_else(|| MethodError::AccessDenied(format!("{action}: cannot identify the caller")))?;
    let dbus = zbus::fdo::DBusProxy::new(conn)
        .await
        .map_err(|e| MethodError::AccessDenied(format!("{action}: cannot ask the bus about the caller: {e}")))?;
    let caller = dbus
        .get_connection_unix_user(sender.clone().into())
        .await
        .map_err(|e| MethodError::AccessDenied(format!("{action}: cannot ask the bus about the caller: {e}")))?;
    if caller == uid {
        Ok(())
    } else {
        Err(MethodError::AccessDenied(format!(
            "{action}: on a session bus only the user running piclockd (uid {uid}) may do this; the caller is uid {caller}"
        )))
    }
}

/// Returns Ok if polkit authorizes the sender of `header` for `action`.
pub async fn authorize(
    conn: &zbus::Connection,
    header: &Header<'_>,
    action: &str,
    interactive: bool,
) -> Result<(), MethodError> {
    let subject = Subject::new_for_message_header(header)
        .map_err(|e| MethodError::AccessDenied(format!("{action}: cannot identify the caller: {e}")))?;
    let authority = AuthorityProxy::new(conn)
        .await
        .map_err(|e| MethodError::AccessDenied(format!("{action}: cannot reach polkit: {e}")))?;
    let flags: BitFlags<CheckAuthorizationFlags> =
        if interactive { CheckAuthorizationFlags::AllowUserInteraction.into() } else { BitFlags::empty() };
    let details: HashMap<&str, &str> = HashMap::new();
    let result = authority.check_authorization(&subject, action, &details, flags, "").await.map_err(|e| {
        tracing::warn!(action, "polkit check failed: {e}");
        MethodError::AccessDenied(format!("{action}: polkit could not decide: {e}"))
    })?;
    if result.is_authorized {
        return Ok(());
    }
    let how = if result.is_challenge {
        "authentication is required (join the group 'piclock', or call with interactive=true from a session with a polkit agent)"
    } else {
        "not allowed"
    };
    tracing::info!(action, sender = ?header.sender().map(|s| s.to_string()), "refused by polkit");
    Err(MethodError::AccessDenied(format!("{action}: {how}")))
}
