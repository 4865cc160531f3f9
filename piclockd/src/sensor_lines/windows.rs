//! The sensors' windows, kept in `<state-dir>/sensor-windows.json` so that
//! a window learned once (or assumed while homing) holds across restarts.
//!
//! ```json
//! {"dial_seconds": 43200,
//!  "seconds": {"offset": -1, "width": 3, "tolerance": 0, "source": "learned"},
//!  "noon": {"offset": -30, "width": 61, "tolerance": 0, "source": "assumed"}}
//! ```
//!
//! Written atomically and synced ([`crate::files::write_atomically`]) whenever a window is learned or assumed;
//! a file that cannot be read, or one for another dial, is ignored (and
//! said so): the windows are learned again. Delete the file after moving a
//! sensor or a magnet.

use crate::files::{save_json, Durability};
use piclock_core::hand_sensor::monitor::WindowSource;
use piclock_core::hand_sensor::{SensorKind, Window};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name inside the state directory.
pub const FILE_NAME: &str = "sensor-windows.json";

/// A window and where it came from, by sensor index (seconds, noon).
pub type Windows = [Option<(Window, WindowSource)>; 2];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    offset: i32,
    width: u32,
    tolerance: u32,
    source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    dial_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seconds: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    noon: Option<Entry>,
}

/// Why the windows' file was not taken (at start: it is ignored, and the
/// windows are learned again) or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WindowsError {
    /// It is no windows' file.
    #[error(transparent)]
    Parse(serde_json::Error),
    /// It was written for another dial.
    #[error("written for a {dial_seconds}-second dial")]
    OtherDial {
        /// The dial it names.
        dial_seconds: u32,
    },
    /// The dial it is read for is no dial (not 12 or 24 hours).
    #[error("no such dial")]
    NoDial,
    /// A window out of its range (the window's own check says how).
    #[error("{0}")]
    Invalid(String),
    /// A window's source is none of those written.
    #[error("{kind} window source {given:?}: accepted learned, assumed")]
    Source {
        /// The sensor.
        kind: SensorKind,
        /// The source written.
        given: String,
    },
    /// The file could not be saved.
    #[error(transparent)]
    Save(#[from] crate::files::SaveError),
}

/// The windows' file.
#[derive(Debug, Clone)]
pub struct WindowFile {
    path: PathBuf,
    dial_seconds: u32,
    windows: Windows,
}

impl WindowFile {
    /// The file in `state_dir` for a dial of `dial_seconds`, and what it
    /// holds (nothing when it is missing, unreadable or for another dial;
    /// the reason is logged).
    pub fn load(state_dir: &Path, dial_seconds: u32) -> WindowFile {
        let path = state_dir.join(FILE_NAME);
        let mut file = WindowFile { path, dial_seconds, windows: [None, None] };
        let bytes = match crate::files::read_bounded(&file.path, crate::files::MAX_SETTINGS_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return file,
            Err(e) => {
                tracing::warn!("{}: {e}; the sensor windows are learned again", file.path.display());
                return file;
            }
        };
        match serde_json::from_slice::<File>(&bytes).map_err(WindowsError::Parse).and_then(|f| file.take(f)) {
            Ok(windows) => file.windows = windows,
            Err(e) => tracing::warn!("{}: {e}; the sensor windows are learned again", file.path.display()),
        }
        file
    }

    fn take(&self, f: File) -> Result<Windows, WindowsError> {
        if f.dial_seconds != self.dial_seconds {
            return Err(WindowsError::OtherDial { dial_seconds: f.dial_seconds });
        }
        let dial = piclock_core::dial::Dial::from_seconds(self.dial_seconds).ok_or(WindowsError::NoDial)?;
        let one = |kind: SensorKind, e: Option<Entry>| -> Result<Option<(Window, WindowSource)>, WindowsError> {
            let Some(e) = e else { return Ok(None) };
            let w = Window { offset: e.offset, width: e.width, tolerance: e.tolerance };
            w.validate(kind, dial).map_err(WindowsError::Invalid)?;
            let source = WindowSource::parse(&e.source).ok_or(WindowsError::Source { kind, given: e.source })?;
            Ok(Some((w, source)))
        };
        Ok([one(SensorKind::Seconds, f.seconds)?, one(SensorKind::Noon, f.noon)?])
    }

    /// The windows read at start.
    pub fn windows(&self) -> Windows {
        self.windows
    }

    /// Keeps `kind`'s window (configured windows are not kept: they come
    /// from the admin file).
    pub fn save(&mut self, kind: SensorKind, window: Window, source: WindowSource) -> Result<(), WindowsError> {
        if source == WindowSource::Configured {
            return Ok(());
        }
        self.windows[kind.index()] = Some((window, source));
        let entry = |w: Option<(Window, WindowSource)>| {
            w.map(|(w, s)| Entry { offset: w.offset, width: w.width, tolerance: w.tolerance, source: s.to_string() })
        };
        let f = File { dial_seconds: self.dial_seconds, seconds: entry(self.windows[0]), noon: entry(self.windows[1]) };
        Ok(save_json(&self.path, &f, "the sensor windows", Durability::PowerCut)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_windows_are_read_back_and_bad_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = WindowFile::load(dir.path(), 43_200);
        assert_eq!(f.windows(), [None, None]);
        f.save(SensorKind::Seconds, Window::centered(3), WindowSource::Learned).unwrap();
        f.save(SensorKind::Noon, Window::centered(61), WindowSource::Assumed).unwrap();
        f.save(SensorKind::Seconds, Window::centered(9), WindowSource::Configured).unwrap();
        let again = WindowFile::load(dir.path(), 43_200);
        assert_eq!(
            again.windows(),
            [Some((Window::centered(3), WindowSource::Learned)), Some((Window::centered(61), WindowSource::Assumed))]
        );
        // Another dial, a window out of range, noise: nothing.
        assert_eq!(WindowFile::load(dir.path(), 86_400).windows(), [None, None]);
        let path = dir.path().join(FILE_NAME);
        let text = std::fs::read_to_string(&path).unwrap().replace("\"width\": 3", "\"width\": 31");
        std::fs::write(&path, text).unwrap();
        assert_eq!(WindowFile::load(dir.path(), 43_200).windows(), [None, None]);
        std::fs::write(&path, "{").unwrap();
        assert_eq!(WindowFile::load(dir.path(), 43_200).windows(), [None, None]);
    }
}
