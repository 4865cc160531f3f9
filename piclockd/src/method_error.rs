//! The error replies of `org.piclock.Clock1`'s methods, and [`ask`]: a
//! command to the tick thread awaited as a method's step. The service, the
//! authority and the settings changer all answer with these; none of them
//! is needed to build one.

use crate::tick::{Command, CommandError};
use piclock_dbus::names::{
    ERROR_ACCESS_DENIED, ERROR_FAILED, ERROR_HARDWARE, ERROR_INVALID_ARGS, ERROR_LIMITS_EXCEEDED, ERROR_NOT_SUPPORTED,
};
use std::sync::mpsc::Sender;
use tokio::sync::oneshot;
use zbus::message::Header;
use zbus::names::ErrorName;

/// An error reply of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodError {
    /// `org.freedesktop.DBus.Error.InvalidArgs`.
    InvalidArgs(String),
    /// `org.freedesktop.DBus.Error.AccessDenied`.
    AccessDenied(String),
    /// `org.piclock.Clock1.Error.Hardware`.
    Hardware(String),
    /// `org.freedesktop.DBus.Error.Failed` (the daemon is shutting down, or zbus failed).
    Failed(String),
    /// `org.freedesktop.DBus.Error.LimitsExceeded`: too many authorisation
    /// checks of the caller's user (or in all) in flight; try again.
    LimitsExceeded(String),
    /// `org.freedesktop.DBus.Error.NotSupported`: the daemon has no part for
    /// the call (`Home` without a hand sensor).
    NotSupported(String),
}

impl MethodError {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            MethodError::InvalidArgs(m) => (ERROR_INVALID_ARGS, m),
            MethodError::AccessDenied(m) => (ERROR_ACCESS_DENIED, m),
            MethodError::Hardware(m) => (ERROR_HARDWARE, m),
            MethodError::Failed(m) => (ERROR_FAILED, m),
            MethodError::LimitsExceeded(m) => (ERROR_LIMITS_EXCEEDED, m),
            MethodError::NotSupported(m) => (ERROR_NOT_SUPPORTED, m),
        }
    }
}

impl zbus::DBusError for MethodError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<zbus::Message> {
        let (name, text) = self.parts();
        zbus::Message::error(call, name)?.build(&(text,))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.parts().0)
    }

    fn description(&self) -> Option<&str> {
        Some(self.parts().1)
    }
}

impl From<zbus::Error> for MethodError {
    fn from(e: zbus::Error) -> Self {
        MethodError::Failed(e.to_string())
    }
}

impl From<CommandError> for MethodError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Invalid(e) => MethodError::InvalidArgs(e.to_string()),
            CommandError::Hardware(m) => MethodError::Hardware(m),
        }
    }
}

impl MethodError {
    /// Bad argument `field`: why, and what is accepted.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> MethodError {
        MethodError::InvalidArgs(format!("{field}: {message}"))
    }

    /// The tick thread is gone (the daemon is stopping).
    pub fn stopped() -> MethodError {
        MethodError::Failed("the tick thread has stopped".into())
    }
}

/// Result of a method call.
pub type MethodResult<T> = Result<T, MethodError>;

/// Sends the command `make` builds to the tick thread through `commands` and
/// awaits its reply; `Failed` when the tick thread has stopped.
pub async fn ask<T>(commands: &Sender<Command>, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> MethodResult<T> {
    let (tx, rx) = oneshot::channel();
    commands.send(make(tx)).map_err(|_| MethodError::stopped())?;
    rx.await.map_err(|_| MethodError::stopped())
}
