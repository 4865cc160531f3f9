//! piclock-gtk: the desktop panel. For now a minimal window that shows the
//! daemon's status once a second; the analog face and controls come later.
//!
//! zbus runs on a tokio runtime on its own thread; results come back to the
//! GTK main loop through a channel polled from a GLib timeout, so the window
//! never waits on the bus.

use gtk4::prelude::*;
use gtk4::{glib, Application, ApplicationWindow, Label};
use piclock_core::dial::Dial;
use piclock_dbus::Clock1Proxy;
use std::sync::mpsc;
use std::time::Duration;

const APP_ID: &str = "org.piclock.Panel";

async fn fetch(conn: &zbus::Connection) -> Result<String, zbus::Error> {
    let p = Clock1Proxy::new(conn).await?;
    let dial = Dial::from_seconds(p.dial_seconds().await?).unwrap_or(Dial::TWELVE_HOUR);
    let state = p.state().await?;
    let hands = if state == "needs-position" { "unknown".to_owned() } else { dial.format(p.hand_position().await?) };
    Ok(format!(
        "Hands: {hands}\nState: {state}\nOffset: {:+} s\nCatch-up: {} s",
        p.offset().await?,
        p.catch_up_seconds().await?
    ))
}

fn build(app: &Application, rt: tokio::runtime::Handle) {
    let label = Label::new(Some("Connecting to piclockd…"));
    label.set_margin_top(24);
    label.set_margin_bottom(24);
    label.set_margin_start(24);
    label.set_margin_end(24);
    let window = ApplicationWindow::builder().application(app).title("PiClock").child(&label).build();
    let (tx, rx) = mpsc::channel::<String>();
    let use_session = std::env::var_os("PICLOCK_SESSION_BUS").is_some();
    rt.spawn(async move {
        let conn = if use_session { zbus::Connection::session().await } else { zbus::Connection::system().await };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(format!("No bus: {e}"));
                return;
            }
        };
        loop {
            let text = fetch(&conn).await.unwrap_or_else(|_| "piclockd is not running".to_owned());
            if tx.send(text).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    glib::timeout_add_local(Duration::from_millis(200), move || {
        while let Ok(text) = rx.try_recv() {
            label.set_text(&text);
        }
        glib::ControlFlow::Continue
    });
    window.present();
}

fn main() -> glib::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("piclock-gtk: cannot start the async runtime: {e}");
            return glib::ExitCode::FAILURE;
        }
    };
    if gtk4::init().is_err() {
        eprintln!("piclock-gtk: cannot open a display (is DISPLAY or WAYLAND_DISPLAY set?)");
        return glib::ExitCode::FAILURE;
    }
    let app = Application::builder().application_id(APP_ID).build();
    let handle = rt.handle().clone();
    app.connect_activate(move |app| build(app, handle.clone()));
    app.run()
}
