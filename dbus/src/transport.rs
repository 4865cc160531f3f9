//! How a client reaches a clock: the system bus (the default), the user's
//! session bus, or the bus of another machine over ssh.
//!
//! The remote case works like `timedatectl -H`: `ssh -xT [user@]host --
//! systemd-stdio-bridge` runs on the far side and forwards the bus over
//! ssh's standard input and output; zbus speaks D-Bus over that pipe (a
//! `unixexec:` address). polkit on the far machine sees the ssh login user as
//! the caller. The ssh program can be replaced with `PICLOCK_SSH` (like
//! `GIT_SSH`), for example to pass options or a config file.

use std::ffi::OsString;
use std::fmt;
use zbus::address::transport::{Transport, Unixexec};
use zbus::Address;

/// Environment variable naming the ssh program to run for `-H` (default `ssh`).
pub const SSH_PROGRAM_ENV: &str = "PICLOCK_SSH";

/// The program run on the remote machine to forward its bus.
pub const STDIO_BRIDGE: &str = "systemd-stdio-bridge";

/// Which bus to talk to, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The local system bus (`DBUS_SYSTEM_BUS_ADDRESS` honoured): where the service runs.
    System,
    /// The local session bus of the user (a daemon started with `--session`).
    Session,
    /// The system bus of another machine, over ssh.
    Remote {
        /// `host` or `user@host`, as given to ssh.
        host: String,
    },
}

/// A `-H` argument that cannot be passed to ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost(pub String);

impl fmt::Display for BadHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host: {}", self.0)
    }
}

impl std::error::Error for BadHost {}

impl Target {
    /// A remote target for `[user@]host`. The host may not be empty, start
    /// with `-` (ssh would read it as an option) or contain white space.
    pub fn remote(host: &str) -> Result<Self, BadHost> {
        let host = host.trim();
        if host.is_empty() {
            return Err(BadHost("empty; expected [user@]host".into()));
        }
        if host.starts_with('-') {
            return Err(BadHost(format!("{host:?} starts with '-'; expected [user@]host")));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BadHost(format!("{host:?} contains white space; expected [user@]host")));
        }
        if host.ends_with('@') || host.starts_with('@') {
            return Err(BadHost(format!("{host:?} has an empty user or host; expected [user@]host")));
        }
        Ok(Target::Remote { host: host.to_owned() })
    }

    /// A short description for messages: "the system bus", "the session bus", "pi@clock (ssh)".
    pub fn describe(&self) -> String {
        match self {
            Target::System => "the system bus".into(),
            Target::Session => "the session bus".into(),
            Target::Remote { host } => format!("{host} over ssh"),
        }
    }

    /// The ssh command line for a remote target: program and arguments.
    pub fn ssh_command(&self) -> Option<(OsString, Vec<OsString>)> {
        let Target::Remote { host } = self else { return None };
        let program = std::env::var_os(SSH_PROGRAM_ENV).filter(|p| !p.is_empty()).unwrap_or_else(|| "ssh".into());
        let args = ["-xT", host.as_str(), "--", STDIO_BRIDGE].iter().map(OsString::from).collect();
        Some((program, args))
    }

    /// The D-Bus address of a remote target (`unixexec:` running ssh).
    pub fn address(&self) -> Option<Address> {
        let (program, args) = self.ssh_command()?;
        Some(Address::from(Transport::Unixexec(Unixexec::new(program.into(), None, args))))
    }
}

/// Opens a connection to the target's bus.
pub async fn connect(target: &Target) -> zbus::Result<zbus::Connection> {
    match target {
        Target::System => zbus::Connection::system().await,
        Target::Session => zbus::Connection::session().await,
        Target::Remote { .. } => match target.address() {
            Some(address) => zbus::connection::Builder::address(address)?.build().await,
            None => Err(zbus::Error::Address("no address for the remote target".into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_hosts_are_checked() {
        assert_eq!(Target::remote("pi@clock.local"), Ok(Target::Remote { host: "pi@clock.local".into() }));
        assert_eq!(Target::remote(" clock "), Ok(Target::Remote { host: "clock".into() }));
        for bad in ["", "-oProxyCommand=x", "a b", "pi@", "@clock", "a\nb"] {
            let err = Target::remote(bad).expect_err(bad);
            assert!(err.to_string().starts_with("host: "), "{err}");
        }
    }

    #[test]
    fn the_remote_address_runs_ssh_and_the_bridge() {
        let target = Target::remote("pi@clock").expect("valid");
        let (_, args) = target.ssh_command().expect("remote");
        assert_eq!(args, ["-xT", "pi@clock", "--", STDIO_BRIDGE].map(OsString::from));
        let address = target.address().expect("remote").to_string();
        assert!(address.starts_with("unixexec:path="), "{address}");
        assert!(address.contains("argv2=pi%40clock") || address.contains("argv2=pi@clock"), "{address}");
        assert_eq!(Target::System.address(), None);
    }
}
