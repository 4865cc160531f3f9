//! Helpers for the panel's tests: a private X server (Xvfb), running the
//! panel, reading its screenshots, and driving it with xdotool.
//!
//! The hand angles are computed here again, independently of the panel's
//! own module, so that a mistake there cannot hide itself.

#![allow(dead_code)] // each test file uses a part of this

use gtk4::gdk_pixbuf::Pixbuf;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Virtual time of the simulated daemons: 10:10:00 UTC.
pub const START_TIME: &str = "2026-01-15T10:10:00Z";

/// One GTK process at a time per test binary: the machine may have two cores.
static GTK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Holds the GTK lock (async tests).
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    GTK.lock().await
}

/// Holds the GTK lock (plain tests).
pub fn one_at_a_time_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    GTK.blocking_lock()
}

/// Panics with a clear message if `tool` is missing (scripts/deps.sh installs `package`).
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(found, "{tool} is missing: install the Debian package '{package}' (scripts/deps.sh does)");
}

/// A private X server.
pub struct Xvfb {
    child: Child,
    /// `:N`, for DISPLAY.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display (it picks one and tells us).
    pub fn start() -> Xvfb {
        require("Xvfb", "xvfb");
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-ac"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Xvfb");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("Xvfb stdout");
        BufReader::new(stdout).read_line(&mut line).expect("Xvfb tells its display");
        let n = line.trim();
        assert!(!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()), "Xvfb said {line:?}");
        Xvfb { child, display: format!(":{n}") }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/screenshots/` (the CI artifact directory), created if needed.
pub fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> -> target/screenshots
    let target = exe.ancestors().nth(3).expect("target dir").to_path_buf();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    dir
}

/// The panel, set up for a test: on `display`, with its own config home,
/// the session bus at `session_bus` (if any), the cairo renderer (the same
/// on every machine) and no accessibility bus.
pub fn panel(display: &str, session_bus: Option<&str>, config_home: &Path) -> Command {
    let mut cmd = Command::new(piclock_testkit::bin_path("piclock-gtk"));
    cmd.env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CONFIG_HOME", config_home)
        .env("GSK_RENDERER", "cairo")
        .env("GTK_A11Y", "none")
        .env("NO_AT_BRIDGE", "1")
        .env("GDK_BACKEND", "x11");
    match session_bus {
        Some(a) => cmd.env("DBUS_SESSION_BUS_ADDRESS", a),
        None => cmd.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    };
    cmd
}

/// Runs `cmd` to its end, killing it after `limit`: (exit code, stdout, stderr).
pub fn run_for(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}; stderr:\n{}", e.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, o.join().unwrap_or_default(), e.join().unwrap_or_default())
}

/// Takes a `--screenshot` of the panel into `target/screenshots/<name>.png`;
/// returns the path and the text the panel showed.
pub fn screenshot(
    display: &str,
    session_bus: &str,
    config_home: &Path,
    name: &str,
    args: &[&str],
) -> (PathBuf, String) {
    let path = screenshots_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&path);
    let mut cmd = panel(display, Some(session_bus), config_home);
    cmd.args(args).arg("--screenshot").arg(&path);
    let (code, out, err) = run_for(&mut cmd, Duration::from_secs(120));
    assert_eq!(code, 0, "piclock-gtk --screenshot failed; stderr:\n{err}");
    assert!(path.exists(), "no screenshot written; stderr:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    (path, out)
}

/// An RGB image read from a PNG file.
pub struct Image {
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    stride: usize,
    channels: usize,
    data: Vec<u8>,
}

impl Image {
    /// Reads a PNG file.
    pub fn load(path: &Path) -> Image {
        let pb = Pixbuf::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Image {
            width: pb.width(),
            height: pb.height(),
            stride: pb.rowstride() as usize,
            channels: pb.n_channels() as usize,
            data: pb.read_pixel_bytes().to_vec(),
        }
    }

    /// The colour at (x, y), or None outside the image.
    pub fn rgb(&self, x: f64, y: f64) -> Option<(u8, u8, u8)> {
        let (x, y) = (x.round() as i64, y.round() as i64);
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        let i = y as usize * self.stride + x as usize * self.channels;
        Some((self.data[i], self.data[i + 1], self.data[i + 2]))
    }
}

/// Where the dial is in an image: centre and radius in pixels.
#[derive(Debug, Clone, Copy)]
pub struct Dial {
    /// Centre, x.
    pub cx: f64,
    /// Centre, y.
    pub cy: f64,
    /// Radius of the ivory dial.
    pub r: f64,
}

/// The dial's colour (the panel's FACE_RGB).
const IVORY: (u8, u8, u8) = (250, 247, 240);

/// Finds the dial by its ivory colour, if it is drawn.
pub fn find_dial(img: &Image) -> Option<Dial> {
    let (mut x0, mut y0, mut x1, mut y1) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    let mut count = 0u64;
    for y in 0..img.height {
        for x in 0..img.width {
            let Some((r, g, b)) = img.rgb(f64::from(x), f64::from(y)) else { continue };
            if r.abs_diff(IVORY.0) <= 2 && g.abs_diff(IVORY.1) <= 2 && b.abs_diff(IVORY.2) <= 2 {
                count += 1;
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if count < 2000 {
        return None;
    }
    let (w, h) = (f64::from(x1 - x0), f64::from(y1 - y0));
    assert!((w - h).abs() <= 3.0, "the dial is not round: {w} x {h}");
    Some(Dial { cx: f64::from(x0 + x1) / 2.0, cy: f64::from(y0 + y1) / 2.0, r: w / 2.0 })
}

/// What a pixel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ink {
    /// A physical hour or minute hand (near black).
    Solid,
    /// The physical second hand (red).
    Red,
    /// A ghost hand (faint blue).
    Ghost,
}

/// Classifies a pixel.
pub fn ink((r, g, b): (u8, u8, u8)) -> Option<Ink> {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    if max < 100 && max - min < 30 {
        Some(Ink::Solid)
    } else if r > 150 && g < 130 && b < 130 && r - g > 60 {
        Some(Ink::Red)
    } else if b > 170 && b as i32 > r as i32 + 35 && r < 210 {
        Some(Ink::Ghost)
    } else {
        None
    }
}

/// Hand angles in degrees clockwise from 12 for `position` on a dial of `dial_seconds`.
pub fn angles(position: f64, dial_seconds: u32) -> (f64, f64, f64) {
    let n = f64::from(dial_seconds);
    let p = position.rem_euclid(n);
    (360.0 * p / n, 360.0 * (p % 3600.0) / 3600.0, 360.0 * (p % 60.0).floor() / 60.0)
}

fn at(d: &Dial, radius: f64, deg: f64) -> (f64, f64) {
    let a = deg.to_radians();
    (d.cx + radius * a.sin(), d.cy - radius * a.cos())
}

/// The fraction of radii in `r_lo..r_hi` (fractions of the dial's radius)
/// where a pixel of `kind` lies at an angle within `from..=to` degrees
/// (widened by `tolerance` either side).
pub fn hand_coverage(
    img: &Image,
    d: &Dial,
    (from, to): (f64, f64),
    tolerance: f64,
    (r_lo, r_hi): (f64, f64),
    kind: Ink,
) -> f64 {
    let (mut hits, mut total) = (0, 0);
    let mut radius = d.r * r_lo;
    while radius <= d.r * r_hi {
        total += 1;
        let mut a = from - tolerance;
        let mut found = false;
        while a <= to + tolerance && !found {
            let (x, y) = at(d, radius, a);
            found = img.rgb(x, y).and_then(ink) == Some(kind);
            a += 0.2;
        }
        if found {
            hits += 1;
        }
        radius += 1.0;
    }
    f64::from(hits) / f64::from(total.max(1))
}

/// The fraction of points along the ray at `deg` (radii `r_lo..r_hi`) that show `kind`.
pub fn ray_ink(img: &Image, d: &Dial, deg: f64, r_lo: f64, r_hi: f64, kind: Ink) -> f64 {
    let (mut hits, mut total) = (0, 0);
    let mut radius = d.r * r_lo;
    while radius <= d.r * r_hi {
        total += 1;
        let (x, y) = at(d, radius, deg);
        if img.rgb(x, y).and_then(ink) == Some(kind) {
            hits += 1;
        }
        radius += 1.0;
    }
    f64::from(hits) / f64::from(total.max(1))
}

/// Angular distance in degrees, 0..=180.
pub fn apart(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Rays (degrees) at least `margin` away from every angle in `busy`.
pub fn free_rays(busy: &[f64], margin: f64) -> Vec<f64> {
    (0..72).map(|i| f64::from(i) * 5.0).filter(|a| busy.iter().all(|b| apart(*a, *b) >= margin)).collect()
}

/// Runs xdotool on `display`: (exit code, stdout).
pub fn xdotool(display: &str, args: &[&str]) -> (i32, String) {
    let (code, out, _) = piclock_testkit::run(Command::new("xdotool").env("DISPLAY", display).args(args));
    (code, out)
}

/// Waits for a visible window whose title matches `pattern` (a regex for xdotool); returns its id.
pub fn wait_window(display: &str, pattern: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let (code, out) = xdotool(display, &["search", "--onlyvisible", "--name", pattern]);
        if code == 0 {
            if let Some(id) = out.lines().next() {
                return id.trim().to_owned();
            }
        }
        assert!(start.elapsed() < limit, "no window {pattern:?} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether a visible window matches `pattern`.
pub fn has_window(display: &str, pattern: &str) -> bool {
    let (code, out) = xdotool(display, &["search", "--onlyvisible", "--name", pattern]);
    code == 0 && !out.trim().is_empty()
}

/// The title of window `id`.
pub fn window_title(display: &str, id: &str) -> String {
    xdotool(display, &["getwindowname", id]).1.trim().to_owned()
}

/// Waits until the title of window `id` satisfies `f`; returns it.
pub fn wait_title(display: &str, id: &str, limit: Duration, f: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let t = window_title(display, id);
        if f(&t) {
            return t;
        }
        assert!(start.elapsed() < limit, "window title still {t:?} after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Gives window `id` the keyboard focus and presses `keys` (xdotool syntax, e.g. `alt+p`).
pub fn press(display: &str, id: &str, keys: &str) {
    let (code, _) = xdotool(display, &["windowfocus", "--sync", id]);
    assert_eq!(code, 0, "xdotool windowfocus {id}");
    let (code, _) = xdotool(display, &["key", "--clearmodifiers", keys]);
    assert_eq!(code, 0, "xdotool key {keys}");
}

/// Types `text` into the focused window.
pub fn type_text(display: &str, text: &str) {
    let (code, _) = xdotool(display, &["type", "--delay", "50", text]);
    assert_eq!(code, 0, "xdotool type {text}");
}

/// A screenshot of the whole X screen (ImageMagick's `import`).
pub fn screen(display: &str, name: &str) -> (PathBuf, Image) {
    require("import", "imagemagick");
    let path = screenshots_dir().join(format!("{name}.png"));
    let (code, _, err) =
        piclock_testkit::run(Command::new("import").env("DISPLAY", display).args(["-window", "root"]).arg(&path));
    assert_eq!(code, 0, "import failed: {err}");
    let img = Image::load(&path);
    (path, img)
}

/// Takes screenshots until the dial is there (`shown`) or gone, within
/// `limit`: the title changes a frame before the window is repainted.
pub fn wait_dial(display: &str, name: &str, shown: bool, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        let (_, img) = screen(display, name);
        if find_dial(&img).is_some() == shown {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running panel, killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
