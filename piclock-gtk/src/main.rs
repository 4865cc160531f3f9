//! piclock-gtk: the desktop panel of PiClock.
//!
//! An analog face with the physical hands and the true time as ghost hands,
//! the daemon's status, and controls. zbus runs on a tokio runtime on its own
//! thread ([`backend`]); results come back to the GTK main loop through a
//! channel, and calls are awaited there, so the window never waits on the bus.

mod backend;
mod connect_dialog;
mod context;
mod controls;
mod dialog;
mod errors;
mod face;
mod hands;
mod panel_config;
mod screenshot;
mod set_hands;
mod settings_editor;
mod status;
mod time_settings;
mod window;

use clap::Parser;
use gtk4::prelude::*;
use gtk4::{gio, glib, Application};
use piclock_dbus::transport::{self, Target};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

/// Application id (also the icon name and the .desktop file's name).
const APP_ID: &str = "org.piclock.Panel";

/// How long the first connection to a local bus may take before giving up.
const LOCAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// piclock-gtk — the PiClock desktop panel.
///
/// Without an option the panel follows the clock chosen last in the window
/// (Connect to…), else the system service.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The clock on this computer's system bus (the service).
    #[arg(long, conflicts_with_all = ["user", "host"])]
    system: bool,
    /// The clock on your session bus (`piclockd --session`, e.g. a simulation).
    #[arg(long, conflicts_with = "host")]
    user: bool,
    /// The clock on another machine, over ssh (`[user@]host`).
    #[arg(short = 'H', long, value_name = "[USER@]HOST")]
    host: Option<String>,
    /// Render the window to this PNG file after the first update, print the
    /// text it shows on standard output, and quit.
    #[arg(long, value_name = "FILE")]
    screenshot: Option<PathBuf>,
}

impl Cli {
    /// The target named on the command line, if any.
    fn target(&self) -> Result<Option<Target>, String> {
        if self.system {
            return Ok(Some(Target::System));
        }
        if self.user {
            return Ok(Some(Target::Session));
        }
        match &self.host {
            Some(h) => Target::remote(h).map(Some).map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

fn fail(message: &str) -> glib::ExitCode {
    eprintln!("piclock-gtk: {message}");
    glib::ExitCode::FAILURE
}

/// Takes the screenshot a moment after the first update: then, after the
/// next frame is painted (layout done), renders the window's content, prints
/// the visible text and quits.
fn screenshot_hook(path: PathBuf, status: Rc<Cell<bool>>) -> window::FirstUpdate {
    Box::new(move |panel| {
        let panel = panel.clone();
        glib::timeout_add_local_once(Duration::from_millis(700), move || {
            let Some(clock) = panel.window().frame_clock() else {
                eprintln!("piclock-gtk: screenshot: the window is not shown");
                panel.window().close();
                return;
            };
            let once = Cell::new(Some((path, status)));
            let p = panel.clone();
            clock.connect_after_paint(move |_| {
                let Some((path, status)) = once.take() else { return };
                let saved = match p.window().child() {
                    Some(content) => screenshot::save_png(&content, &path),
                    None => Err("the window is empty".into()),
                };
                match saved {
                    Ok(()) => {
                        for line in screenshot::visible_text(p.window()) {
                            println!("{line}");
                        }
                        status.set(true);
                    }
                    Err(e) => eprintln!("piclock-gtk: screenshot: {e}"),
                }
                // Close outside the frame clock's signal.
                let w = p.window().clone();
                glib::idle_add_local_once(move || w.close());
            });
            panel.window().queue_draw();
            if let Some(child) = panel.window().child() {
                child.queue_draw();
            }
        });
    })
}

fn main() -> glib::ExitCode {
    let cli = Cli::parse();
    let named = match cli.target() {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let target = named.or_else(panel_config::remembered).unwrap_or(Target::System);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    if gtk4::init().is_err() {
        return fail("cannot open a display (is DISPLAY or WAYLAND_DISPLAY set?)");
    }
    // A local bus that is missing is an error of this machine: say so and
    // stop. A remote clock may be unreachable for a while: the window shows
    // that and retries, and lets the user choose another clock.
    let conn = match target {
        Target::System | Target::Session => {
            match rt.block_on(async { tokio::time::timeout(LOCAL_CONNECT_TIMEOUT, transport::connect(&target)).await })
            {
                Ok(Ok(conn)) => Some(conn),
                Ok(Err(e)) => {
                    return fail(&format!(
                        "cannot connect to {}: {e}\n(use --user for a daemon on the session bus, or -H [user@]host)",
                        target.describe()
                    ))
                }
                Err(_) => return fail(&format!("no answer from {} within 15 s", target.describe())),
            }
        }
        Target::Remote { .. } => None,
    };
    // NON_UNIQUE: each start is its own window (and needs no session bus).
    let app = Application::builder().application_id(APP_ID).flags(gio::ApplicationFlags::NON_UNIQUE).build();
    let handle = rt.handle().clone();
    let shot_ok = Rc::new(Cell::new(false));
    let shot = cli.screenshot.clone();
    let ok = shot_ok.clone();
    let conn = Cell::new(conn);
    app.connect_activate(move |app| {
        let hook = shot.clone().map(|path| screenshot_hook(path, ok.clone()));
        window::Panel::build(app, handle.clone(), target.clone(), conn.take(), hook);
    });
    let code = app.run_with_args(&["piclock-gtk"]);
    rt.shutdown_timeout(Duration::from_secs(1));
    if cli.screenshot.is_some() && !shot_ok.get() {
        return glib::ExitCode::FAILURE;
    }
    code
}
