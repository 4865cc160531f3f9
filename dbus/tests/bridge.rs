//! The remote transport (`-H`) against a real `systemd-stdio-bridge` and a
//! private `dbus-daemon`. ssh itself is replaced through `PICLOCK_SSH` by a
//! script that runs the bridge locally, as sshd would on the far side; the
//! end-to-end test with a real sshd lives with piclockctl's tests.

use piclock_dbus::transport::{connect, Target, SSH_PROGRAM_ENV, STDIO_BRIDGE};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[tokio::test]
async fn a_remote_target_reaches_the_bus_through_the_bridge() {
    let dir = std::env::temp_dir().join(format!("piclock-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon runs");
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().expect("stdout")).read_line(&mut line).expect("address");
    let address = line.trim().to_owned();

    // Stands in for ssh: checks the arguments it was given and runs the bridge.
    let fake_ssh = dir.join("ssh");
    std::fs::write(
        &fake_ssh,
        format!(
            "#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"-xT pi@clock -- {STDIO_BRIDGE}\" ] || {{ echo \"bad args: $*\" >&2; exit 9; }}\n\
             exec {STDIO_BRIDGE} --bus-path='{address}'\n"
        ),
    )
    .expect("script");
    std::fs::set_permissions(&fake_ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::env::set_var(SSH_PROGRAM_ENV, &fake_ssh);

    let target = Target::remote("pi@clock").expect("host");
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), connect(&target)).await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let connection = result.expect("connects within 10 s").expect("connects");
    assert!(connection.unique_name().is_some(), "the bus gave us a name");
}
