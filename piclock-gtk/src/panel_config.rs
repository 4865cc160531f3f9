//! The panel's own small settings file: which clock it talks to.
//!
//! `$XDG_CONFIG_HOME/piclock/panel.toml` (default `~/.config/piclock/panel.toml`):
//!
//! ```toml
//! bus = "remote"      # "system", "session" or "remote"
//! host = "pi@clock"   # for "remote"
//! ```

use piclock_dbus::transport::Target;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelConfig {
    /// `system`, `session` or `remote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// `[user@]host` for a remote clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl PanelConfig {
    /// The remembered target, if the file names a valid one.
    pub fn target(&self) -> Option<Target> {
        match self.bus.as_deref()? {
            "system" => Some(Target::System),
            "session" => Some(Target::Session),
            "remote" => Target::remote(self.host.as_deref()?).ok(),
            _ => None,
        }
    }

    /// The file's contents for `target`.
    pub fn for_target(target: &Target) -> PanelConfig {
        match target {
            Target::System => PanelConfig { bus: Some("system".into()), host: None },
            Target::Session => PanelConfig { bus: Some("session".into()), host: None },
            Target::Remote { host } => PanelConfig { bus: Some("remote".into()), host: Some(host.clone()) },
        }
    }
}

/// Where the file lives, if a home or config directory is known.
pub fn path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(base.join("piclock").join("panel.toml"))
}

/// Reads the file; a missing or unreadable file gives the defaults.
pub fn load_from(path: &Path) -> PanelConfig {
    std::fs::read_to_string(path).ok().and_then(|text| toml::from_str(&text).ok()).unwrap_or_default()
}

/// Writes the file (through a temporary file, so that it is never half written).
pub fn save_to(path: &Path, config: &PanelConfig) -> Result<(), String> {
    let text = toml::to_string(config).map_err(|e| e.to_string())?;
    let dir = path.parent().ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The remembered target, if any.
pub fn remembered() -> Option<Target> {
    load_from(&path()?).target()
}

/// Remembers `target` for the next start.
pub fn remember(target: &Target) -> Result<(), String> {
    let path = path().ok_or("neither XDG_CONFIG_HOME nor HOME is set")?;
    save_to(&path, &PanelConfig::for_target(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("piclock").join("panel.toml");
        assert_eq!(load_from(&path), PanelConfig::default(), "missing file: defaults");
        assert_eq!(load_from(&path).target(), None);
        for target in [Target::System, Target::Session, Target::remote("pi@clock").expect("host")] {
            save_to(&path, &PanelConfig::for_target(&target)).expect("saved");
            assert_eq!(load_from(&path).target(), Some(target));
        }
        let text = std::fs::read_to_string(&path).expect("file");
        assert!(text.contains("bus = \"remote\"") && text.contains("host = \"pi@clock\""), "{text}");
    }

    #[test]
    fn bad_files_give_no_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("panel.toml");
        for text in ["not toml [", "bus = \"remote\"", "bus = \"remote\"\nhost = \"-oEvil\"", "bus = \"mars\""] {
            std::fs::write(&path, text).expect("write");
            assert_eq!(load_from(&path).target(), None, "{text}");
        }
    }
}
