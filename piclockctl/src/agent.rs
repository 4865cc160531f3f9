//! The polkit text agent. Before a call that may need a password, when
//! standard input is a terminal, piclockctl starts `pkttyagent` for itself
//! (as systemd's tools do) so that polkit can prompt in this terminal. The
//! agent is stopped when the guard is dropped.

use std::io::{IsTerminal, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent program, from polkit (Debian package `pkexec` or `polkitd`).
const PKTTYAGENT: &str = "pkttyagent";
/// The descriptor number the agent reports readiness on.
const NOTIFY_FD: i32 = 3;
/// How long to wait for the agent to register.
const READY_WAIT: Duration = Duration::from_secs(5);

/// A running agent; dropped, it is stopped.
pub struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an agent should be started: passwords allowed, a local system bus
/// (polkit on another machine cannot reach this terminal) and a terminal on
/// standard input.
pub fn wanted(ask_password: bool, local_system_bus: bool) -> bool {
    ask_password && local_system_bus && std::io::stdin().is_terminal()
}

/// Starts `pkttyagent` for this process and waits until it has registered.
/// Returns `None` when it cannot be started (polkit then refuses calls that
/// need a password, and the access-denied message says what to do).
pub fn start() -> Option<Agent> {
    let (mut ready_reader, ready_writer) = std::io::pipe().ok()?;
    let writer_fd = ready_writer.as_raw_fd();
    let mut command = Command::new(PKTTYAGENT);
    // Registered for this process only, and not as a fallback: polkit (as of
    // 122) ignores fallback agents for callers outside a logind session, and
    // someone who runs piclockctl in a terminal wants the prompt there.
    command
        .args(["--notify-fd", &NOTIFY_FD.to_string(), "--process", &std::process::id().to_string()])
        .stdout(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; it runs in the child between fork
    // and exec, and the new descriptor is inherited across exec.
    unsafe {
        command.pre_exec(move || {
            if writer_fd == NOTIFY_FD {
                // Already in place: only let it survive exec.
                if libc::fcntl(NOTIFY_FD, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(writer_fd, NOTIFY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().ok()?;
    drop(ready_writer);
    let agent = Agent { child };
    // The agent closes its end once it is registered; EOF here means ready
    // (or that it died, in which case the call goes on without it).
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        while let Ok(n) = ready_reader.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(READY_WAIT.saturating_sub(started.elapsed()));
    Some(agent)
}
