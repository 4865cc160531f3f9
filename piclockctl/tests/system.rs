//! piclockctl on a private system bus with the real polkitd (root only):
//! access denied without a terminal, the polkit text agent's prompt in a
//! terminal, members of group piclock allowed, and `-H` over a real sshd.

use piclock_testkit::{bin_path, hms, proxy, run, target_12h, wait_for, Bus, Daemon, SystemBus, GROUP_USER};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// piclockctl as `user` (`None`: root) on the private system bus, stdin not a terminal.
fn ctl_as(bus: &SystemBus, user: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let ctl = bin_path("piclockctl");
    let mut cmd = match user {
        None => Command::new(&ctl),
        Some(u) => {
            let mut c = Command::new("setpriv");
            if u == "nobody" {
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
            } else {
                c.args([format!("--reuid={u}"), format!("--regid={u}"), "--init-groups".to_owned()]);
            }
            c.arg(&ctl);
            c
        }
    };
    run(cmd.args(args).env("DBUS_SYSTEM_BUS_ADDRESS", bus.address()).stdin(Stdio::null()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_user_gets_a_clear_message_and_nothing_changes() {
    let Some(bus) = SystemBus::start() else { return };
    let state = bus.dir().join("state");
    let _daemon = bus.daemon_as("piclock", &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.expect("TimeUSec");
    let (code, _, err) = ctl_as(&bus, Some(GROUP_USER), &["set-hands", &hms(target_12h(now, 0))]);
    assert_eq!(code, 0, "a member of group piclock may set the hands: {err}");
    wait_for(Duration::from_secs(10), || ctl_as(&bus, None, &["show", "-p", "State", "--value"]).1.trim() == "ticking");

    let zone_before = p.timezone().await.expect("Timezone");
    for (args, action) in [
        (&["pause"][..], "org.piclock.clock1.control"),
        (&["step", "10"][..], "org.piclock.clock1.control"),
        (&["timezone", "Asia/Tokyo"][..], "org.piclock.clock1.configure"),
        (&["config", "set", "norm_tick_ms=30"][..], "org.piclock.clock1.configure"),
    ] {
        let start = Instant::now();
        let (code, out, err) = ctl_as(&bus, Some("nobody"), args);
        assert_eq!(code, 4, "{args:?}: {out}{err}");
        assert!(err.contains("access denied") && err.contains(action), "{args:?}: {err}");
        assert!(err.contains("join the group piclock"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", start.elapsed());
    }
    assert_eq!(p.state().await.expect("State"), "ticking");
    assert_eq!(p.timezone().await.expect("Timezone"), zone_before);
    // Reading needs no authorization.
    let (code, out, err) = ctl_as(&bus, Some("nobody"), &["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"state\":\"ticking\""), "{out}");
    // A member of the group may.
    let (code, _, err) = ctl_as(&bus, Some(GROUP_USER), &["pause"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.state().await.expect("State"), "paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_terminal_polkit_asks_for_a_password_there() {
    let Some(bus) = SystemBus::start() else { return };
    let state = bus.dir().join("state");
    let _daemon = bus.daemon_as("piclock", &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;
    let now = p.time_usec().await.expect("TimeUSec");
    let (code, _, err) = ctl_as(&bus, None, &["set-hands", &hms(target_12h(now, 0))]);
    assert_eq!(code, 0, "{err}");
    // `script` gives piclockctl a terminal; as nobody, polkit wants an
    // administrator's password, and the agent piclockctl started asks for it.
    // Its shell runs piclockctl as nobody, who may not reach the build
    // directory (a clone in `mktemp -d` is 0700): a copy in the bus's
    // directory (0755) is run instead.
    let ctl = bus.dir().join("piclockctl");
    std::fs::copy(bin_path("piclockctl"), &ctl).expect("copying piclockctl where nobody can run it");
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "script", "-qfec"])
        .arg(format!("{} pause", ctl.display()))
        .arg("/dev/null")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let start = Instant::now();
    while !String::from_utf8_lossy(&seen).contains("Password:") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no password prompt in the terminal; it showed:\n{}",
            String::from_utf8_lossy(&seen)
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("AUTHENTICATING FOR org.piclock.clock1.control"), "{text}");
    // A wrong password: refused, and the clock keeps ticking.
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"not-the-password\n");
    let _ = stdin.flush();
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() && start.elapsed() < Duration::from_secs(30) {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.extend(chunk);
    }
    assert_ne!(p.state().await.expect("State"), "paused", "{}", String::from_utf8_lossy(&seen));
}

/// A private sshd on loopback that lets root in with a fresh key and runs
/// `systemd-stdio-bridge` (what `-H` asks for) against the test's bus, which
/// stands for the far machine's system bus.
struct Sshd {
    dir: tempfile::TempDir,
    child: std::process::Child,
    port: u16,
}

impl Sshd {
    fn start(bus_address: &str) -> Option<Sshd> {
        if !piclock_testkit::is_root() || !std::path::Path::new("/usr/sbin/sshd").exists() {
            piclock_testkit::skip("needs root and /usr/sbin/sshd (Debian package openssh-server)");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("piclock-sshd").tempdir().expect("tempdir");
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            let (code, _, err) =
                run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(d.join(key)));
            assert_eq!(code, 0, "ssh-keygen: {err}");
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        std::fs::create_dir_all("/run/sshd").expect("privilege separation dir");
        // systemd-stdio-bridge connects to /run/dbus/system_bus_socket unless
        // told otherwise: the far side checks that piclockctl asked for the
        // bridge and runs it against the test's bus.
        let remote = d.join("remote");
        std::fs::write(
            &remote,
            format!(
                "#!/bin/sh\n[ \"$SSH_ORIGINAL_COMMAND\" = \"{bridge}\" ] || {{ echo \"unexpected command: $SSH_ORIGINAL_COMMAND\" >&2; exit 9; }}\n\
                 exec {bridge} --bus-path='{bus_address}'\n",
                bridge = piclock_dbus::transport::STDIO_BRIDGE
            ),
        )
        .expect("remote command");
        std::fs::set_permissions(&remote, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nForceCommand {remote}\n",
                remote = remote.display(),
                hk = d.join("host_key").display(),
                ak = d.join("authorized_keys").display(),
                pid = d.join("sshd.pid").display(),
            ),
        )
        .expect("sshd_config");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(std::fs::File::create(d.join("sshd.log")).expect("log"))
            .spawn()
            .expect("sshd");
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        // PICLOCK_SSH: ssh with this test's key and port, like a user's ~/.ssh/config would give.
        let wrapper = d.join("ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec ssh -F /dev/null -p {port} -i {key} -o BatchMode=yes -o StrictHostKeyChecking=no \
                 -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \"$@\"\n",
                key = d.join("client_key").display()
            ),
        )
        .expect("wrapper");
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        Some(Sshd { dir, child, port })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        run(Command::new(bin_path("piclockctl"))
            .args(["-H", "root@127.0.0.1"])
            .args(args)
            .env(piclock_dbus::transport::SSH_PROGRAM_ENV, self.dir.path().join("ssh"))
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .stdin(Stdio::null()))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_h_controls_a_clock_over_a_real_ssh_connection() {
    let bus = Bus::start();
    let Some(sshd) = Sshd::start(bus.address()) else { return };
    let state = bus.dir().join("state");
    let _daemon = Daemon::start(&bus, &state, 1.0).await;
    let conn = bus.connect().await;
    let p = proxy(&conn).await;

    let (code, out, err) = sshd.ctl(&["status", "--json"]);
    assert_eq!(code, 0, "port {}: {err}\nsshd log:\n{}", sshd.port, sshd.log());
    assert!(out.contains("\"state\":\"needs-position\""), "{out}");
    let now = p.time_usec().await.expect("TimeUSec");
    let (code, _, err) = sshd.ctl(&["set-hands", &hms(target_12h(now, 0))]);
    assert_eq!(code, 0, "{err}");
    wait_for(Duration::from_secs(10), || sshd.ctl(&["show", "-p", "State", "--value"]).1.trim() == "ticking");
    let (code, _, err) = sshd.ctl(&["pause"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.state().await.expect("State"), "paused", "the change reached the daemon");
    let (code, _, err) = sshd.ctl(&["config", "set", "norm_tick_ms=900"]);
    assert_eq!(code, 2, "the daemon's refusal comes back over ssh: {err}");
    assert!(err.contains("norm_tick_ms"), "{err}");
    // A host that refuses: a clear error, not a hang.
    let (code, _, err) = run(Command::new(bin_path("piclockctl"))
        .args(["-H", "nobody-here@127.0.0.1", "status"])
        .env(piclock_dbus::transport::SSH_PROGRAM_ENV, sshd.dir.path().join("ssh"))
        .stdin(Stdio::null()));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nobody-here@127.0.0.1 over ssh"), "{err}");
}
