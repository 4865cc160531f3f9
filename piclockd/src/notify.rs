//! A tiny `sd_notify(3)` client: tells systemd that the daemon is ready,
//! what it is doing, that it is stopping, and that it is still alive
//! (the watchdog keep-alive of `WatchdogSec=`).
//!
//! systemd passes the address of its notification socket in `NOTIFY_SOCKET`:
//! a file system path, or an abstract socket name when it starts with `@`.
//! Each notification is one datagram of newline-separated `KEY=VALUE`
//! assignments. Outside systemd (tests, `--simulate` on a laptop) the
//! variable is absent and [`Notifier::from_env`] returns `None`.
//!
//! Notifications are best effort: a failed send is logged once with
//! `tracing::warn!` and never stops the daemon.
//!
//! With `NotifyAccess=main` (piclockd.service) systemd accepts datagrams
//! from any thread of the main process.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A handle on systemd's notification socket.
///
/// `Send + Sync`: share it (for example in an `Arc`) between the thread that
/// knows the daemon is ready and the one that sends keep-alives.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    /// Set after the first failed notification has been logged.
    warned: AtomicBool,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`, or `None` when the variable is
    /// unset or empty (not started by systemd, or `Type=` without
    /// notifications) or names an address this client cannot use (logged).
    pub fn from_env() -> Option<Notifier> {
        let address = std::env::var_os("NOTIFY_SOCKET")?;
        if address.is_empty() {
            return None;
        }
        match Notifier::from_address(&address) {
            Ok(notifier) => Some(notifier),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={}: {e}; not notifying systemd", address.to_string_lossy());
                None
            }
        }
    }

    /// A notifier for the given `NOTIFY_SOCKET` value: an absolute path, or
    /// `@name` for the abstract socket `name`. Other forms (such as
    /// `vsock:`) are refused with `InvalidInput`.
    pub fn from_address(address: &OsStr) -> io::Result<Notifier> {
        let bytes = address.as_bytes();
        let address = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
            Some(b'/') => SocketAddr::from_pathname(address)?,
            _ => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "expected an absolute path or @abstract-name"))
            }
        };
        Ok(Notifier { socket: UnixDatagram::unbound()?, address, warned: AtomicBool::new(false) })
    }

    /// `READY=1`: start-up is finished. With `Type=dbus` systemd waits for
    /// the bus name instead, but the message does no harm and keeps the
    /// daemon right under `Type=notify` too.
    pub fn ready(&self) {
        self.send_or_warn("READY=1");
    }

    /// `STATUS=<text>`: one line shown by `systemctl status`. Newlines in
    /// `text` become spaces (a newline would start a new assignment).
    pub fn status(&self, text: &str) {
        self.send_or_warn(&format!("STATUS={}", text.replace(['\n', '\r'], " ")));
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send_or_warn("STOPPING=1");
    }

    /// `WATCHDOG=1`: the keep-alive. Send it at least every half of
    /// [`watchdog_interval`], and only while the ticks are on time.
    pub fn watchdog(&self) {
        self.send_or_warn("WATCHDOG=1");
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments) as one
    /// datagram. Unlike the helpers above it reports errors to the caller
    /// and logs nothing.
    pub fn send(&self, state: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(state.as_bytes(), &self.address)?;
        if sent != state.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, format!("sent {sent} of {} bytes", state.len())));
        }
        Ok(())
    }

    fn send_or_warn(&self, state: &str) {
        if let Err(e) = self.send(state) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "cannot notify systemd ({state:?} to {:?}): {e}; \
                     further notification errors are not logged",
                    self.address
                );
            }
        }
    }
}

/// The watchdog interval that systemd expects keep-alives within
/// (`WatchdogSec=`, passed as `WATCHDOG_USEC`), or `None` when there is no
/// watchdog. When `WATCHDOG_PID` is set, the watchdog is ours only if it
/// equals our pid (otherwise the variables were inherited from a parent).
///
/// Send [`Notifier::watchdog`] at about half this interval.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var_os("WATCHDOG_USEC").as_deref(),
        std::env::var_os("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] without the environment, for tests.
fn watchdog_interval_from(usec: Option<&OsStr>, pid: Option<&OsStr>, our_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        match pid.to_str().and_then(|p| p.parse::<u32>().ok()) {
            Some(p) if p == our_pid => {}
            Some(_) => return None,
            None => {
                tracing::warn!("ignoring the watchdog: WATCHDOG_PID={pid:?} is not a pid");
                return None;
            }
        }
    }
    let usec = usec?;
    match usec.to_str().and_then(|u| u.parse::<u64>().ok()) {
        Some(0) => None,
        Some(u) => Some(Duration::from_micros(u)),
        None => {
            tracing::warn!("ignoring the watchdog: WATCHDOG_USEC={usec:?} is not a number of µs");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::sync::atomic::AtomicU32;

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn receive(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = listener.recv(&mut buf).expect("a datagram within the timeout");
        String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
    }

    fn path_listener() -> (tempfile::TempDir, UnixDatagram, OsString) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener.set_read_timeout(Some(TIMEOUT)).unwrap();
        (dir, listener, path.into_os_string())
    }

    fn abstract_name() -> String {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        format!("piclockd-notify-test/{}/{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
    }

    #[test]
    fn sends_the_exact_datagrams_to_a_path() {
        let (_dir, listener, path) = path_listener();
        let notifier = Notifier::from_address(&path).unwrap();
        notifier.ready();
        assert_eq!(receive(&listener), "READY=1");
        notifier.status("ticking, 0 s behind");
        assert_eq!(receive(&listener), "STATUS=ticking, 0 s behind");
        notifier.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
        notifier.stopping();
        assert_eq!(receive(&listener), "STOPPING=1");
        notifier.send("STATUS=a\nEXTEND_TIMEOUT_USEC=1000").unwrap();
        assert_eq!(receive(&listener), "STATUS=a\nEXTEND_TIMEOUT_USEC=1000");
        assert!(!notifier.warned.load(Ordering::Relaxed));
    }

    #[test]
    fn status_text_stays_on_one_line() {
        let (_dir, listener, path) = path_listener();
        let notifier = Notifier::from_address(&path).unwrap();
        notifier.status("two\nlines\r\nREADY=1");
        assert_eq!(receive(&listener), "STATUS=two lines  READY=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = abstract_name();
        let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        listener.set_read_timeout(Some(TIMEOUT)).unwrap();
        let notifier = Notifier::from_address(OsStr::new(&format!("@{name}"))).unwrap();
        notifier.ready();
        assert_eq!(receive(&listener), "READY=1");
        notifier.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
        notifier.status("waiting");
        assert_eq!(receive(&listener), "STATUS=waiting");
        notifier.stopping();
        assert_eq!(receive(&listener), "STOPPING=1");
    }

    #[test]
    fn refuses_addresses_it_cannot_use() {
        for address in ["relative/path", "vsock:2:1234", ""] {
            let e = Notifier::from_address(OsStr::new(address)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{address:?}");
        }
        // Longer than sun_path.
        let long = format!("/{}", "x".repeat(200));
        assert!(Notifier::from_address(OsStr::new(&long)).is_err());
    }

    /// Counts `WARN` events.
    struct CountWarnings(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn a_missing_socket_is_an_error_for_send_and_a_single_warning_otherwise() {
        use tracing_subscriber::layer::SubscriberExt;
        let warnings = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("nobody-listens");
            let notifier = Notifier::from_address(path.as_os_str()).unwrap();
            assert!(notifier.send("READY=1").is_err());
            assert_eq!(warnings.load(Ordering::Relaxed), 0, "send() only reports");
            notifier.ready();
            assert_eq!(warnings.load(Ordering::Relaxed), 1);
            notifier.watchdog();
            notifier.status("still no listener");
            notifier.stopping();
            assert_eq!(warnings.load(Ordering::Relaxed), 1, "warned at most once");
        });
    }

    #[test]
    fn watchdog_interval_parsing() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(watchdog_interval_from(os("30000000"), None, 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_interval_from(os("1"), None, 7), Some(Duration::from_micros(1)));
        assert_eq!(watchdog_interval_from(os("30000000"), os("7"), 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_interval_from(os("30000000"), os("8"), 7), None);
        assert_eq!(watchdog_interval_from(os("30000000"), os("seven"), 7), None);
        assert_eq!(watchdog_interval_from(os("30000000"), os(""), 7), None);
        assert_eq!(watchdog_interval_from(None, None, 7), None);
        assert_eq!(watchdog_interval_from(None, os("7"), 7), None);
        assert_eq!(watchdog_interval_from(os("0"), None, 7), None);
        assert_eq!(watchdog_interval_from(os(""), None, 7), None);
        assert_eq!(watchdog_interval_from(os("-5"), None, 7), None);
        assert_eq!(watchdog_interval_from(os("30s"), None, 7), None);
    }

    /// Every test that touches the process environment is in this one
    /// function, so that parallel tests never see each other's variables.
    #[test]
    fn environment() {
        struct Restore(Vec<(&'static str, Option<OsString>)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                for (key, value) in &self.0 {
                    match value {
                        Some(v) => std::env::set_var(key, v),
                        None => std::env::remove_var(key),
                    }
                }
            }
        }
        let _restore = Restore(
            ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"].into_iter().map(|k| (k, std::env::var_os(k))).collect(),
        );
        let our_pid = std::process::id().to_string();

        // watchdog_interval
        std::env::remove_var("WATCHDOG_USEC");
        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), None);
        std::env::set_var("WATCHDOG_USEC", "30000000");
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(30)));
        std::env::set_var("WATCHDOG_PID", &our_pid);
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(30)));
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None, "the watchdog of another process");
        std::env::set_var("WATCHDOG_PID", &our_pid);
        std::env::set_var("WATCHDOG_USEC", "garbage");
        assert_eq!(watchdog_interval(), None);

        // Notifier::from_env
        std::env::remove_var("NOTIFY_SOCKET");
        assert!(Notifier::from_env().is_none());
        std::env::set_var("NOTIFY_SOCKET", "");
        assert!(Notifier::from_env().is_none());
        std::env::set_var("NOTIFY_SOCKET", "not/absolute");
        assert!(Notifier::from_env().is_none());

        let (_dir, listener, path) = path_listener();
        std::env::set_var("NOTIFY_SOCKET", &path);
        Notifier::from_env().expect("a path notifier").ready();
        assert_eq!(receive(&listener), "READY=1");

        let name = abstract_name();
        let listener = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        listener.set_read_timeout(Some(TIMEOUT)).unwrap();
        std::env::set_var("NOTIFY_SOCKET", format!("@{name}"));
        Notifier::from_env().expect("an abstract notifier").watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
    }
}
