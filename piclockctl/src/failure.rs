//! Errors as the user sees them: a message and a distinct exit code
//! (documented in `--help`, the man page and `docs/src/reference/piclockctl.md`).

use piclock_dbus::names::{ERROR_ACCESS_DENIED, ERROR_HARDWARE, ERROR_INVALID_ARGS};
use piclock_dbus::transport::Target;

/// Exit code: the daemon reported an error, or a sync failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: invalid input (ours or the daemon's verdict).
pub const EXIT_INVALID: u8 = 2;
/// Exit code: piclockd is not running or the bus cannot be reached.
pub const EXIT_NOT_RUNNING: u8 = 3;
/// Exit code: polkit refused.
pub const EXIT_DENIED: u8 = 4;
/// Exit code: the daemon lacks a member this command needs.
pub const EXIT_TOO_OLD: u8 = 5;

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// Process exit code.
    pub code: u8,
    /// What to print after `piclockctl: `.
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// Bad input caught before any call.
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(EXIT_INVALID, message)
    }
}

/// The D-Bus error name and message inside a zbus error, if it is one.
pub fn error_parts(e: &zbus::Error) -> Option<(String, String)> {
    match e {
        zbus::Error::MethodError(name, message, _) => Some((name.to_string(), message.clone().unwrap_or_default())),
        zbus::Error::FDO(fdo) => {
            use zbus::DBusError;
            Some((fdo.name().to_string(), fdo.description().unwrap_or_default().to_owned()))
        }
        _ => None,
    }
}

/// What to tell someone whose daemon is not there.
pub fn not_running(target: &Target) -> Failure {
    let text = match target {
        Target::System => "piclockd is not running — start it with: systemctl start piclockd".to_owned(),
        Target::Session => {
            "piclockd is not running on the session bus — start it with: piclockd --simulate --session".to_owned()
        }
        Target::Remote { host } => {
            format!("piclockd is not running on {host} — start it there with: systemctl start piclockd")
        }
    };
    Failure::new(EXIT_NOT_RUNNING, text)
}

/// Maps the error of a call (`member` is the D-Bus method or property) to
/// a message and exit code.
pub fn call_failed(e: zbus::Error, member: &str, target: &Target) -> Failure {
    let Some((name, message)) = error_parts(&e) else {
        return match e {
            zbus::Error::InputOutput(_) | zbus::Error::Handshake(_) => Failure::new(
                EXIT_NOT_RUNNING,
                format!("lost the connection to {} while calling {member}: {e}", target.describe()),
            ),
            other => Failure::new(EXIT_FAILURE, format!("{member}: {other}")),
        };
    };
    let n = name.as_str();
    match n {
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            not_running(target)
        }
        ERROR_ACCESS_DENIED => Failure::new(
            EXIT_DENIED,
            format!(
                "access denied: {message}\n\
                 To be allowed: join the group piclock (sudo usermod -aG piclock $USER, then log in again), \
                 or run piclockctl in a terminal without --no-ask-password to be asked for a password."
            ),
        ),
        ERROR_INVALID_ARGS => Failure::new(EXIT_INVALID, format!("invalid input: {message}")),
        "org.freedesktop.DBus.Error.UnknownMethod"
        | "org.freedesktop.DBus.Error.UnknownProperty"
        | "org.freedesktop.DBus.Error.UnknownInterface"
        | "org.freedesktop.DBus.Error.UnknownObject" => Failure::new(
            EXIT_TOO_OLD,
            format!("piclockd is too old for this command: it has no {member} ({message}); update piclockd"),
        ),
        "org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout" => {
            Failure::new(EXIT_FAILURE, format!("piclockd did not answer {member} in time: {message}"))
        }
        ERROR_HARDWARE => Failure::new(EXIT_FAILURE, format!("hardware failure: {message}")),
        _ => Failure::new(EXIT_FAILURE, format!("{member} failed: {message} ({name})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::names::OwnedErrorName;

    fn method_error(name: &str, message: &str) -> zbus::Error {
        let name = OwnedErrorName::try_from(name.to_owned()).expect("valid error name");
        // A reply message is needed to build the error; a method return will do.
        let msg = zbus::Message::method_call("/", "Ping")
            .and_then(|b| b.destination("org.example"))
            .and_then(|b| b.build(&()))
            .expect("message");
        zbus::Error::MethodError(name, Some(message.to_owned()), msg)
    }

    #[test]
    fn each_kind_of_error_has_its_exit_code() {
        let t = Target::System;
        let cases = [
            ("org.freedesktop.DBus.Error.ServiceUnknown", EXIT_NOT_RUNNING, "systemctl start piclockd"),
            (ERROR_ACCESS_DENIED, EXIT_DENIED, "group piclock"),
            (ERROR_INVALID_ARGS, EXIT_INVALID, "invalid input: position: bad"),
            ("org.freedesktop.DBus.Error.UnknownMethod", EXIT_TOO_OLD, "too old"),
            (ERROR_HARDWARE, EXIT_FAILURE, "hardware failure"),
        ];
        for (name, code, text) in cases {
            let f = call_failed(method_error(name, "position: bad"), "SetHandPosition", &t);
            assert_eq!(f.code, code, "{name}");
            assert!(f.message.contains(text), "{name}: {}", f.message);
        }
        let f = not_running(&Target::remote("pi@clock").expect("host"));
        assert!(f.message.contains("on pi@clock"), "{}", f.message);
    }
}
