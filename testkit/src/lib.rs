//! Test harness for PiClock's integration tests: real parts only.
//!
//! - [`Bus`]: a private `dbus-daemon` on a socket in a temporary directory.
//! - [`Daemon`]: a `piclockd --simulate` process on that bus, which tests
//!   can SIGKILL and restart with the same state directory.
//! - [`movement`]: the simulated hands, read from `virtual-movement.json`.
//! - [`bin_path`]: the workspace's binaries (built on demand).

use piclock_dbus::{Clock1Proxy, BUS_NAME};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary (`piclockd`, `piclockctl`, `piclock-gtk`),
/// next to the running test executable; built with cargo if missing.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_path_buf();
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--bin", name]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    path
}

/// A private message bus (session-type, but admitting every user: everyone may do everything).
pub struct Bus {
    dir: tempfile::TempDir,
    child: Child,
    address: String,
}

impl Bus {
    /// Starts `dbus-daemon` with a permissive session-style configuration.
    pub fn start() -> Bus {
        let dir = tempfile::Builder::new()
            .prefix("piclock-bus")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("bus");
        let conf = dir.path().join("bus.conf");
        fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- Unlike a real session bus, admit every user, so that tests can show
         that piclockd itself refuses callers other than its own user. -->
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("writing bus config");
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting dbus-daemon (Debian package 'dbus')");
        wait_for(Duration::from_secs(10), || socket.exists());
        Bus {
            address: format!("unix:path={}", socket.display()),
            dir,
            child,
        }
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS` or `busctl --address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A scratch directory that lives as long as the bus.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new client connection.
    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .expect("bus address")
            .build()
            .await
            .expect("connecting to the private bus")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it is true, panicking after `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `piclockd --simulate` process.
pub struct Daemon {
    child: Option<Child>,
    state_dir: PathBuf,
    address: String,
    speed: f64,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on `bus` with `state_dir` at `speed`, and waits until
    /// it owns its name.
    pub async fn start(bus: &Bus, state_dir: &Path, speed: f64) -> Daemon {
        let mut d = Daemon {
            child: None,
            state_dir: state_dir.to_path_buf(),
            address: bus.address().to_owned(),
            speed,
            log: bus.dir().join(format!(
                "piclockd-{}.log",
                state_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("x")
            )),
        };
        d.spawn(bus).await;
        d
    }

    async fn spawn(&mut self, bus: &Bus) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(bin_path("piclockd"))
            .args(["--simulate", "--session", "--state-dir"])
            .arg(&self.state_dir)
            .args(["--speed", &self.speed.to_string()])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("RUST_LOG", "info")
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting piclockd");
        self.child = Some(child);
        let conn = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("DBus proxy");
        let name = zbus::names::BusName::try_from(BUS_NAME).expect("bus name");
        let start = Instant::now();
        while !dbus.name_has_owner(name.clone()).await.unwrap_or(false) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("piclockd exited with {status}; log:\n{}", self.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "piclockd did not take its name; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILLs the daemon (no clean-up runs) and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERMs the daemon and returns its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().ok()
    }

    /// Starts the daemon again with the same state directory.
    pub async fn restart(&mut self, bus: &Bus) {
        self.kill9();
        self.spawn(bus).await;
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The simulated hands.
    pub fn movement(&self) -> Movement {
        movement(&self.state_dir)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The simulated movement as the daemon left it on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// Physical seconds on the dial.
    pub position: u32,
    /// Pulses that produced no step.
    pub missed_pulses: u64,
}

/// Reads `<state_dir>/virtual-movement.json` (retrying while it is being replaced).
pub fn movement(state_dir: &Path) -> Movement {
    let path = state_dir.join("virtual-movement.json");
    for _ in 0..100 {
        if let Ok(bytes) = fs::read(&path) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let (Some(p), Some(m)) = (v["position"].as_u64(), v["missed_pulses"].as_u64()) {
                    return Movement {
                        position: p as u32,
                        missed_pulses: m,
                    };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("cannot read {}", path.display());
}

/// A proxy for the daemon on `conn` that reads every property from the
/// daemon (no client-side cache, which would lag behind PropertiesChanged).
pub async fn proxy(conn: &zbus::Connection) -> Clock1Proxy<'static> {
    Clock1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .expect("Clock1 proxy")
}

/// Formats a dial position as `H:MM:SS` for SetHandPosition.
pub fn hms(position: u32) -> String {
    format!(
        "{}:{:02}:{:02}",
        position / 3600,
        position / 60 % 60,
        position % 60
    )
}

/// The target position (true local time on a 12-hour dial, UTC zone) at `time_usec`.
pub fn target_12h(time_usec: u64, zone_offset_s: i64) -> u32 {
    ((time_usec as i64 / 1_000_000 + zone_offset_s).rem_euclid(43_200)) as u32
}

/// Runs a command line tool and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running a command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
