//! piclockctl: the command line of PiClock.

mod status;

use clap::{Parser, Subcommand};
use piclock_dbus::Clock1Proxy;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code: the daemon is not running or not reachable.
const EXIT_NOT_RUNNING: u8 = 3;
/// Exit code: any other failure.
const EXIT_FAILURE: u8 = 1;

/// Query and control the PiClock daemon.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Talk to the daemon on the session bus (simulation) instead of the system bus.
    #[arg(long, global = true, conflicts_with = "system")]
    user: bool,
    /// Talk to the daemon on the system bus (the default; DBUS_SYSTEM_BUS_ADDRESS is honoured).
    #[arg(long, global = true)]
    system: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Show where the hands are, the true local time, the state and the catch-up time (default).
    Status,
}

async fn connect(cli: &Cli) -> Result<Clock1Proxy<'static>, (u8, String)> {
    let conn =
        if cli.user { zbus::Connection::session().await } else { zbus::Connection::system().await }.map_err(|e| {
            (
                EXIT_NOT_RUNNING,
                format!("cannot connect to the {} bus: {e}", if cli.user { "session" } else { "system" }),
            )
        })?;
    let proxy = Clock1Proxy::new(&conn).await.map_err(|e| (EXIT_FAILURE, e.to_string()))?;
    Ok(proxy)
}

async fn run(cli: Cli) -> Result<(), (u8, String)> {
    let proxy = connect(&cli).await?;
    match cli.command.unwrap_or(Cmd::Status) {
        Cmd::Status => status::print(&proxy).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("piclockctl: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), run(cli)).await });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err((code, msg))) => {
            eprintln!("piclockctl: {msg}");
            ExitCode::from(code)
        }
        Err(_) => {
            eprintln!("piclockctl: no answer from piclockd within 30 s");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Maps a D-Bus call error to an exit code and message.
fn call_error(e: zbus::Error) -> (u8, String) {
    if let zbus::Error::MethodError(name, _, _) = &e {
        let n = name.as_str();
        if n == "org.freedesktop.DBus.Error.ServiceUnknown" || n == "org.freedesktop.DBus.Error.NameHasNoOwner" {
            return (EXIT_NOT_RUNNING, "piclockd is not running — start it with: systemctl start piclockd".to_owned());
        }
    }
    (EXIT_FAILURE, e.to_string())
}
