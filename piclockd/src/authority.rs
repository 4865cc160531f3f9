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
//!
//! Either way, the checks in flight are limited per user and in all
//! ([`gate`]), so that a flood of calls from one user cannot lock out the
//! others.

mod gate;

pub use gate::Gate;
#[cfg(doc)]
use gate::{IN_ALL, PER_USER};

use crate::method_error::MethodError;
use enumflags2::BitFlags;
use std::collections::HashMap;
use zbus::message::Header;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

/// Who decides whether a caller may change something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// polkit, on the system bus.
    Polkit,
    /// On a session bus: only callers running as this uid.
    SameUser {
        /// The daemon's own uid.
        uid: u32,
    },
}

/// Asks the [`Authority`], with at most [`PER_USER`] checks of one user and
/// [`IN_ALL`] in all in flight ([`Gate`]).
#[derive(Debug)]
pub struct Authorizer {
    authority: Authority,
    gate: Gate,
}

impl Authorizer {
    /// An authorizer asking `authority`.
    pub fn new(authority: Authority) -> Authorizer {
        Authorizer { authority, gate: Gate::default() }
    }

    /// Returns Ok if the sender of `header` may do `action`; `LimitsExceeded`
    /// at once when too many checks of the caller's user (or in all) are in
    /// flight.
    pub async fn authorize(
        &self,
        conn: &zbus::Connection,
        header: &Header<'_>,
        action: &str,
        interactive: bool,
    ) -> Result<(), MethodError> {
        let caller = self.caller_uid(conn, header, action).await?;
        let _pass =
            self.gate.enter(caller).map_err(|busy| MethodError::LimitsExceeded(format!("{action}: {}", busy.0)))?;
        match self.authority {
            Authority::Polkit => authorize(conn, header, action, interactive).await,
            Authority::SameUser { uid } if uid == caller => Ok(()),
            Authority::SameUser { uid } => Err(MethodError::AccessDenied(format!(
                "{action}: on a session bus only the user running piclockd (uid {uid}) may do this; the caller is uid {caller}"
            ))),
        }
    }

    /// The Unix user of the caller, as the bus daemon vouches for it.
    async fn caller_uid(&self, conn: &zbus::Connection, header: &Header<'_>, action: &str) -> Result<u32, MethodError> {
        let sender = header
            .sender()
            .ok_or_else(|| MethodError::AccessDenied(format!("{action}: cannot identify the caller")))?;
        if let Some(uid) = self.gate.known_uid(sender.as_str()) {
            return Ok(uid);
        }
        let asking =
            |e: zbus::Error| MethodError::AccessDenied(format!("{action}: cannot ask the bus about the caller: {e}"));
        let dbus = zbus::fdo::DBusProxy::new(conn).await.map_err(asking)?;
        let uid = dbus.get_connection_unix_user(sender.clone().into()).await.map_err(|e| asking(e.into()))?;
        self.gate.remember_uid(sender.as_str(), uid);
        Ok(uid)
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
