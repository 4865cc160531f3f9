//! Starting without a display, without a bus, or with bad options: a clear
//! message and a non-zero exit, never a panic. And the desktop integration
//! files are valid.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn check_failure(cmd: &mut Command, expect: &str) {
    let (code, _, err) = run_for(cmd, Duration::from_secs(60));
    assert_ne!(code, 0, "exited 0; stderr:\n{err}");
    assert!(!err.contains("panicked"), "it panicked:\n{err}");
    assert!(err.contains(expect), "stderr does not say {expect:?}:\n{err}");
}

#[test]
fn without_a_display_it_says_so() {
    let config = tempfile::tempdir().expect("config home");
    let mut cmd = panel(":0", None, config.path());
    cmd.env_remove("DISPLAY").arg("--user");
    check_failure(&mut cmd, "cannot open a display");
}

#[test]
fn without_a_bus_it_says_so() {
    let _one = one_at_a_time_blocking();
    let x = Xvfb::start();
    let config = tempfile::tempdir().expect("config home");
    let missing = config.path().join("no-such-bus");
    let address = format!("unix:path={}", missing.display());
    let mut cmd = panel(&x.display, Some(&address), config.path());
    cmd.arg("--user");
    check_failure(&mut cmd, "cannot connect to the session bus");
    let mut cmd = panel(&x.display, None, config.path());
    cmd.arg("--system").env("DBUS_SYSTEM_BUS_ADDRESS", &address);
    check_failure(&mut cmd, "cannot connect to the system bus");
}

#[test]
fn bad_options_are_refused() {
    let config = tempfile::tempdir().expect("config home");
    let mut cmd = panel(":0", None, config.path());
    cmd.args(["-H", "-oProxyCommand=evil"]);
    let (code, _, err) = run_for(&mut cmd, Duration::from_secs(60));
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let mut cmd = panel(":0", None, config.path());
    cmd.args(["--user", "--system"]);
    let (code, _, err) = run_for(&mut cmd, Duration::from_secs(60));
    assert_ne!(code, 0, "{err}");
}

#[test]
fn the_desktop_file_is_valid() {
    require("desktop-file-validate", "desktop-file-utils");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let file = data.join("org.piclock.Panel.desktop");
    let (code, out, err) = piclock_testkit::run(Command::new("desktop-file-validate").arg(&file));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim().is_empty() && err.trim().is_empty(), "warnings: {out}{err}");
    let text = std::fs::read_to_string(&file).expect("desktop file");
    assert!(text.contains("Exec=piclock-gtk\n") && text.contains("Icon=org.piclock.Panel\n"));
}

#[test]
fn the_icon_renders() {
    // gdk-pixbuf reads SVG through librsvg (Debian: librsvg2-common).
    let icon = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("org.piclock.Panel.svg");
    let img = Image::load(&icon);
    assert_eq!((img.width, img.height), (128, 128));
    assert_eq!(img.rgb(64.0, 100.0), Some((0xf5, 0xef, 0xe0)), "the dial's colour inside the icon");
    // Not the panel's own dial colour, which the tests look for to find the dial.
    assert!(find_dial(&img).is_none());
}
