//! What a failed D-Bus call means for the user.

use piclock_dbus::{ERROR_ACCESS_DENIED, ERROR_HARDWARE, ERROR_INVALID_ARGS};
use std::fmt;

/// The kind of a refused or failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// polkit said no (`AccessDenied`).
    Denied,
    /// Bad input (`InvalidArgs`); the message names the argument or key.
    Invalid,
    /// The device needed for the call failed.
    Hardware,
    /// Anything else (daemon gone, connection lost...).
    Other,
}

/// A failed call, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What kind of failure.
    pub kind: Kind,
    /// The daemon's message (or the transport's).
    pub message: String,
}

impl CallError {
    /// Classifies a zbus error.
    pub fn from_zbus(e: &zbus::Error) -> CallError {
        let (name, message): (Option<String>, String) = match e {
            zbus::Error::MethodError(name, msg, _) => {
                (Some(name.as_str().to_owned()), msg.clone().unwrap_or_else(|| name.as_str().to_owned()))
            }
            zbus::Error::FDO(fdo) => match &**fdo {
                zbus::fdo::Error::AccessDenied(m) => (Some(ERROR_ACCESS_DENIED.to_owned()), m.clone()),
                zbus::fdo::Error::InvalidArgs(m) => (Some(ERROR_INVALID_ARGS.to_owned()), m.clone()),
                other => (None, other.to_string()),
            },
            other => (None, other.to_string()),
        };
        let kind = match name.as_deref() {
            Some(ERROR_ACCESS_DENIED) => Kind::Denied,
            Some(ERROR_INVALID_ARGS) => Kind::Invalid,
            Some(ERROR_HARDWARE) => Kind::Hardware,
            _ => Kind::Other,
        };
        CallError { kind, message }
    }

    /// An error that did not come from the bus.
    pub fn other(message: impl Into<String>) -> CallError {
        CallError { kind: Kind::Other, message: message.into() }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Denied => {
                write!(f, "Not allowed: {} (ask an administrator, or join the group piclock)", self.message)
            }
            Kind::Invalid => write!(f, "Refused: {}", self.message),
            Kind::Hardware => write!(f, "Hardware failure: {}", self.message),
            Kind::Other => write!(f, "Failed: {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::names::OwnedErrorName;

    fn method_error(name: &str) -> zbus::Error {
        let name = OwnedErrorName::try_from(name.to_owned()).expect("error name");
        let reply = zbus::Message::method_call("/", "M").expect("message").build(&()).expect("body");
        zbus::Error::MethodError(name, Some("the message".to_owned()), reply)
    }

    #[test]
    fn errors_are_classified_by_name() {
        let e = CallError::from_zbus(&method_error(ERROR_ACCESS_DENIED));
        assert_eq!(e.kind, Kind::Denied);
        assert!(e.to_string().starts_with("Not allowed: the message"), "{e}");
        assert_eq!(CallError::from_zbus(&method_error(ERROR_INVALID_ARGS)).kind, Kind::Invalid);
        assert_eq!(CallError::from_zbus(&method_error(ERROR_HARDWARE)).kind, Kind::Hardware);
        assert_eq!(CallError::from_zbus(&method_error("org.example.Error.Other")).kind, Kind::Other);
        let fdo = zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied("no".into())));
        assert_eq!(CallError::from_zbus(&fdo), CallError { kind: Kind::Denied, message: "no".into() });
    }
}
