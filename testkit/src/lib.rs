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
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir").to_path_buf();
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // Package and binary share the name; -p because cargo defaults to
        // the package of the current directory.
        cmd.args(["build", "-p", name, "--bin", name]);
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
        let dir = tempfile::Builder::new().prefix("piclock-bus").tempdir().expect("tempdir");
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
  <!-- As on a stock system bus: messages up to 32 MiB. -->
  <limit name="max_message_size">33554432</limit>
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
        let child = spawn_bus_daemon(&conf, &socket);
        Bus { address: format!("unix:path={}", socket.display()), dir, child }
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS` or `busctl --address`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Kills the bus daemon (every client loses its connection) and starts a
    /// new one at the same address, as a restart of dbus.service would.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let socket = self.dir.path().join("bus");
        let _ = fs::remove_file(&socket);
        self.child = spawn_bus_daemon(&self.dir.path().join("bus.conf"), &socket);
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
/// Starts `dbus-daemon` with `conf` and waits until it accepts connections on
/// `socket` (the socket file appears a moment before the daemon listens).
fn spawn_bus_daemon(conf: &Path, socket: &Path) -> Child {
    let child = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", conf.display()))
        .arg("--nofork")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting dbus-daemon (Debian package 'dbus')");
    wait_for(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(socket).is_ok());
    child
}

pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "condition not met within {limit:?}");
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
    system: bool,
    env: Vec<(String, String)>,
    args: Vec<String>,
    run_as: Option<String>,
}

impl Daemon {
    /// Starts the daemon on `bus` with `state_dir` at `speed`, and waits until
    /// it owns its name.
    pub async fn start(bus: &Bus, state_dir: &Path, speed: f64) -> Daemon {
        let name = state_dir.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        let mut d = Daemon {
            child: None,
            state_dir: state_dir.to_path_buf(),
            address: bus.address().to_owned(),
            speed,
            log: bus.dir().join(format!("piclockd-{name}.log")),
            system: false,
            env: Vec::new(),
            args: Vec::new(),
            run_as: None,
        };
        d.spawn_on(bus.address()).await;
        d
    }

    /// Like [`Daemon::start`], with extra environment variables (e.g. NOTIFY_SOCKET).
    pub async fn start_with_env(bus: &Bus, state_dir: &Path, speed: f64, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(bus, state_dir, speed, env, &[]).await
    }

    /// Like [`Daemon::start`], with extra environment variables and arguments.
    pub async fn start_with(bus: &Bus, state_dir: &Path, speed: f64, env: &[(&str, &str)], args: &[&str]) -> Daemon {
        let mut d = Daemon {
            child: None,
            state_dir: state_dir.to_path_buf(),
            address: bus.address().to_owned(),
            speed,
            log: bus.dir().join("piclockd-env.log"),
            system: false,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            run_as: None,
        };
        d.spawn_on(bus.address()).await;
        d
    }

    async fn spawn_on(&mut self, address: &str) {
        let log = fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args([format!("--reuid={user}"), format!("--regid={user}"), "--init-groups".into()]);
                c.arg(bin_path("piclockd"));
                c
            }
            None => Command::new(bin_path("piclockd")),
        };
        cmd.arg("--simulate");
        if self.system {
            cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address);
        } else {
            cmd.arg("--session").env("DBUS_SESSION_BUS_ADDRESS", &self.address);
        }
        let child = cmd
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--speed", &self.speed.to_string()])
            .env("RUST_LOG", "info")
            .env("TZ", "UTC")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting piclockd");
        self.child = Some(child);
        let conn = zbus::connection::Builder::address(address)
            .expect("bus address")
            .build()
            .await
            .expect("connecting to the bus");
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("DBus proxy");
        let name = zbus::names::BusName::try_from(BUS_NAME).expect("bus name");
        let start = Instant::now();
        while !dbus.name_has_owner(name.clone()).await.unwrap_or(false) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
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

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's exit status, if it has exited (without waiting).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
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
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        c.wait().ok()
    }

    /// Starts the daemon again with the same state directory.
    pub async fn restart(&mut self, bus: &Bus) {
        self.kill9();
        self.spawn_on(bus.address()).await;
    }

    /// Starts the daemon again on the bus it ran on (after `kill9` or `terminate`).
    pub async fn start_again(&mut self) {
        self.kill9();
        let address = self.address.clone();
        self.spawn_on(&address).await;
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
    /// Steps forward so far (impulses that advanced a slave movement).
    pub steps_forward: u64,
}

/// Reads `<state_dir>/virtual-movement.json` (retrying while it is being replaced).
pub fn movement(state_dir: &Path) -> Movement {
    let path = state_dir.join("virtual-movement.json");
    for _ in 0..100 {
        if let Ok(bytes) = fs::read(&path) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let (Some(p), Some(m)) = (v["position"].as_u64(), v["missed_pulses"].as_u64()) {
                    let steps_forward = v["steps_forward"].as_u64().unwrap_or(0);
                    return Movement { position: p as u32, missed_pulses: m, steps_forward };
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
    Clock1Proxy::builder(conn).cache_properties(zbus::proxy::CacheProperties::No).build().await.expect("Clock1 proxy")
}

/// How long a disagreement between belief and simulated hands must last to
/// count. The hands move a moment before the daemon commits and publishes a
/// move; on a machine busy writing (parallel builds) the kernel can hold that
/// write back for hundreds of ms. A real divergence never heals, so 2 s loses
/// nothing.
pub const PERSISTS: Duration = Duration::from_secs(2);

/// Samples (HandPosition, PositionCertain, simulated hands). The belief is
/// read between two reads of the simulated hands, and a sample counts only
/// if the hands did not move meanwhile (at 60x they move every 4 ms; a D-Bus
/// round trip can take longer on a busy machine). A pulse also moves the
/// hands a moment before the daemon commits and publishes it, so a counted
/// sample may catch that transition (the hands one step past the belief): a
/// disagreement must persist for `within` to be returned (see
/// [`PERSISTS`]), and then the sample returned is one of those with the
/// difference seen most often over that time, not a transitional one.
/// Returns None if the hands never held still long enough to compare
/// (inconclusive, not a failure).
pub async fn agreement(p: &Clock1Proxy<'_>, state: &Path, within: Duration) -> Option<(u32, bool, u32)> {
    let start = Instant::now();
    let mut disagreeing_since: Option<Instant> = None;
    // Counted disagreeing samples: (hands minus belief, the sample).
    let mut seen: Vec<(i64, (u32, bool, u32))> = Vec::new();
    loop {
        let m1 = movement(state).position;
        let belief = p.hand_position().await.expect("HandPosition");
        let m2 = movement(state).position;
        if m1 == m2 {
            let since = *disagreeing_since.get_or_insert_with(Instant::now);
            let certain = p.position_certain().await.expect("PositionCertain");
            if belief == m1 {
                return Some((belief, certain, m1));
            }
            seen.push((i64::from(m1) - i64::from(belief), (belief, certain, m1)));
            if since.elapsed() > within {
                return most_common(&seen);
            }
        }
        if start.elapsed() > Duration::from_secs(5) {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The latest sample of the difference seen most often.
fn most_common(seen: &[(i64, (u32, bool, u32))]) -> Option<(u32, bool, u32)> {
    let count = |d: i64| seen.iter().filter(|(x, _)| *x == d).count();
    let (best, _) = seen.iter().max_by_key(|(d, _)| count(*d))?;
    seen.iter().rev().find(|(d, _)| d == best).map(|(_, sample)| *sample)
}

/// Sets the hands `offset` seconds from true time (12-hour dial, UTC);
/// returns the position set.
pub async fn set_offset(p: &Clock1Proxy<'_>, offset: i64) -> u32 {
    let now = p.time_usec().await.expect("TimeUSec");
    let target = target_12h(now, 0);
    let pos = (i64::from(target) + offset).rem_euclid(43_200) as u32;
    p.set_hand_position(&hms(pos), false).await.expect("SetHandPosition");
    pos
}

/// Formats a dial position as `H:MM:SS` for SetHandPosition.
pub fn hms(position: u32) -> String {
    format!("{}:{:02}:{:02}", position / 3600, position / 60 % 60, position % 60)
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

/// The unprivileged test user in group `piclock` (created if missing, kept).
pub const GROUP_USER: &str = "piclock-test";

/// Whether the tests run as root (needed for the system bus, polkit and setpriv).
pub fn is_root() -> bool {
    run(Command::new("id").arg("-u")).1.trim() == "0"
}

/// Says that a test cannot run here and why, so the caller returns without
/// testing; under `CI=true` (CI runs as root on a machine set up by the
/// scripts, where every part can run) it fails instead, naming why.
pub fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, and this test cannot run: {why}");
    eprintln!("skipped: {why}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// Installs the project's polkit actions and rules where polkitd reads them,
/// and makes sure the group `piclock`, the service user `piclock` and the
/// test user [`GROUP_USER`] (a member of `piclock`) exist. Root only.
pub fn install_polkit_files() {
    let root = repo_root();
    fs::create_dir_all("/etc/polkit-1/rules.d").expect("rules dir");
    fs::copy(root.join("polkit/org.piclock.Clock1.policy"), "/usr/share/polkit-1/actions/org.piclock.Clock1.policy")
        .expect("installing the polkit actions");
    fs::copy(root.join("polkit/50-piclock.rules"), "/etc/polkit-1/rules.d/50-piclock.rules")
        .expect("installing the polkit rules");
    let exists = |kind: &str, name: &str| run(Command::new("getent").args([kind, name])).0 == 0;
    if !exists("group", "piclock") {
        run(Command::new("groupadd").args(["--system", "piclock"]));
    }
    if !exists("passwd", "piclock") {
        run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--gid",
            "piclock",
            "piclock",
        ]));
    }
    if !exists("passwd", GROUP_USER) {
        run(Command::new("useradd").args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--groups",
            "piclock",
            GROUP_USER,
        ]));
    }
}

/// A private system-style bus (Debian's default system policy, polkit's and
/// the project's bus policy) with the real `polkitd` on it.
pub struct SystemBus {
    dir: tempfile::TempDir,
    bus: Child,
    polkitd: Child,
    address: String,
}

impl SystemBus {
    /// Starts the bus and polkitd; `None` when not root (the caller skips).
    pub fn start() -> Option<SystemBus> {
        if !is_root() {
            skip("the system bus with polkitd needs root");
            return None;
        }
        install_polkit_files();
        let dir = tempfile::Builder::new().prefix("piclock-sysbus").tempdir().expect("tempdir");
        // polkitd and the unprivileged clients must reach the socket.
        fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let socket = dir.path().join("system_bus_socket");
        let policy = repo_root().join("dbus/org.piclock.Clock1.conf");
        let conf = dir.path().join("system.conf");
        fs::write(
            &conf,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow eavesdrop="true"/>
    <allow eavesdrop="true" send_type="signal"/>
    <allow send_type="method_call" send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <include>{policy}</include>
</busconfig>
"#,
                socket = socket.display(),
                policy = policy.display()
            ),
        )
        .expect("writing bus config");
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dbus-daemon");
        wait_for(Duration::from_secs(10), || socket.exists());
        let address = format!("unix:path={}", socket.display());
        let polkitd = Command::new("/usr/lib/polkit-1/polkitd")
            .arg("--no-debug")
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting polkitd (Debian package 'polkitd')");
        let sb = SystemBus { dir, bus, polkitd, address };
        wait_for(Duration::from_secs(15), || {
            run(Command::new("gdbus").args([
                "call",
                "--address",
                &sb.address,
                "-d",
                "org.freedesktop.DBus",
                "-o",
                "/org/freedesktop/DBus",
                "-m",
                "org.freedesktop.DBus.NameHasOwner",
                "org.freedesktop.PolicyKit1",
            ]))
            .1
            .contains("true")
        });
        Some(sb)
    }

    /// The bus address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A scratch directory that lives as long as the bus.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new client connection (as root).
    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .expect("bus address")
            .build()
            .await
            .expect("connecting to the private system bus")
    }

    /// Starts `piclockd --simulate` on this bus (as root, like a manual run).
    pub async fn daemon(&self, state_dir: &Path, speed: f64) -> Daemon {
        let mut d = Daemon {
            child: None,
            state_dir: state_dir.to_path_buf(),
            address: self.address.clone(),
            speed,
            log: self.dir().join("piclockd.log"),
            system: true,
            env: Vec::new(),
            args: Vec::new(),
            run_as: None,
        };
        d.spawn_on(&self.address).await;
        d
    }

    /// Starts `piclockd --simulate` on this bus as the unprivileged `user`
    /// (e.g. the service user `piclock`), owning `state_dir`.
    pub async fn daemon_as(&self, user: &str, state_dir: &Path, speed: f64) -> Daemon {
        fs::create_dir_all(state_dir).expect("state dir");
        run(Command::new("chown").arg("-R").arg(format!("{user}:")).arg(state_dir));
        // The user must reach the state directory: every directory above it
        // gains r-x for all, and keeps its other bits (it used to be set to
        // 0755, which took the sticky and write bits off /tmp itself).
        let mut p = state_dir.parent();
        while let Some(dir) = p {
            if dir == Path::new("/") {
                break;
            }
            if let Ok(meta) = fs::metadata(dir) {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() | 0o555;
                let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode));
            }
            p = dir.parent();
        }
        let mut d = Daemon {
            child: None,
            state_dir: state_dir.to_path_buf(),
            address: self.address.clone(),
            speed,
            log: self.dir().join("piclockd.log"),
            system: true,
            env: Vec::new(),
            args: Vec::new(),
            run_as: Some(user.to_owned()),
        };
        d.spawn_on(&self.address).await;
        d
    }

    /// `gdbus call` on this bus as `user` (`None`: root; `Some("nobody")`;
    /// `Some(GROUP_USER)`), calling `org.piclock.Clock1.<method>` with `args`.
    pub fn call_as(&self, user: Option<&str>, method: &str, args: &[&str]) -> (i32, String, String) {
        let mut cmd = match user {
            None => Command::new("gdbus"),
            Some("nobody") => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "gdbus"]);
                c
            }
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args([format!("--reuid={u}"), format!("--regid={u}"), "--init-groups".into(), "gdbus".into()]);
                c
            }
        };
        cmd.args(["call", "--address", &self.address, "-d", "org.piclock.Clock1", "-o", "/org/piclock/Clock1", "-m"]);
        if method.contains('.') {
            cmd.arg(method);
        } else {
            cmd.arg(format!("org.piclock.Clock1.{method}"));
        }
        cmd.args(args);
        run(&mut cmd)
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        let _ = self.polkitd.kill();
        let _ = self.polkitd.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

/// A chronyd serving this machine's clock on 127.0.0.1:port; killed on drop
/// (also when the test panics). Never touches the system clock.
pub struct Chrony {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Chrony {
    /// chronyd from `$PICLOCK_CHRONYD`, else PATH, /usr/sbin or /sbin; a
    /// clear failure (not a skip) when there is none.
    pub fn find() -> PathBuf {
        const HINT: &str = "this needs a real NTP server: install the Debian package `chrony` (apt-get install chrony)";
        if let Some(exe) = std::env::var_os("PICLOCK_CHRONYD") {
            let exe = PathBuf::from(exe);
            assert!(exe.is_file(), "PICLOCK_CHRONYD={}: no such file; {HINT}", exe.display());
            return exe;
        }
        let dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
        dirs.into_iter()
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d: PathBuf| d.join("chronyd"))
            .find(|c| c.is_file())
            .unwrap_or_else(|| panic!("chronyd not found in PATH, /usr/sbin or /sbin; {HINT}"))
    }

    /// Starts chronyd on a free loopback port (local stratum 10).
    pub fn start() -> Chrony {
        let exe = Chrony::find();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
        let d = dir.path().display();
        let conf = format!(
            "local stratum 10\nallow 127.0.0.1\nbindaddress 127.0.0.1\nport {port}\ncmdport 0\n\
             bindcmdaddress /\npidfile {d}/chronyd.pid\ndriftfile {d}/drift\n"
        );
        fs::write(dir.path().join("chrony.conf"), conf).expect("chrony.conf");
        let log = fs::File::create(dir.path().join("chronyd.log")).expect("log");
        // -d: foreground, log to stderr; -x: never touch the system clock;
        // -u root: keep the user, so that it may write into our temporary directory.
        let child = Command::new(&exe)
            .args(["-d", "-x", "-u", "root", "-f"])
            .arg(dir.path().join("chrony.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        Chrony { child, port, dir }
    }

    /// The UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`, as NTP server setting.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// chronyd's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("chronyd.log")).unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Chrony {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
