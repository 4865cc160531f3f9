//! The settings users change over D-Bus (as opposed to the administrator's
//! file, [`crate::admin_config`]), persisted in `<state-dir>/settings.json`.
//!
//! Written atomically (temporary file, fsync, rename), so a crash leaves the
//! old or the new file, never a mix. A file that cannot be read is moved
//! aside (`settings.json.bad`) and the defaults are used, with a warning.

use crate::files::{save_json, Durability};
use piclock_core::excerpt::excerpt;
use piclock_core::ntp::ServerSpecError;
use piclock_core::pulse_config::{ConfigError, PulseConfig};
use piclock_dbus::bounded::BoundedStrings;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name inside the state directory.
pub const FILE_NAME: &str = "settings.json";

/// Default NTP server.
pub const DEFAULT_NTP_SERVER: &str = "time.nist.gov";

/// Most NTP servers accepted.
pub const MAX_NTP_SERVERS: usize = 8;

/// Longest server entry: a DNS name (253 bytes) with a port, or a bracketed
/// IPv6 address with a zone and a port.
pub const MAX_SERVER_LEN: usize = 260;

/// A settings file or a server list that was refused, or settings that
/// could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file is not JSON with the known keys only.
    #[error("{0}")]
    Decode(#[source] serde_json::Error),
    /// Pulse settings that [`PulseConfig::validate`] refuses.
    #[error("values out of range: {0}")]
    Pulse(#[source] ConfigError),
    /// No server, or more than [`MAX_NTP_SERVERS`].
    #[error(
        "servers: {count} given; accepted: 1..={MAX_NTP_SERVERS} host names or IP addresses, each with an optional :port"
    )]
    ServerCount {
        /// How many were given.
        count: usize,
    },
    /// A server entry longer than [`MAX_SERVER_LEN`].
    #[error("servers: {entry}: longer than {MAX_SERVER_LEN} bytes; {ACCEPTED_SERVER}")]
    ServerTooLong {
        /// The entry, quoted (an excerpt of it).
        entry: String,
    },
    /// A server entry that is not a host with an optional port.
    #[error("servers: {entry}: {source}; {ACCEPTED_SERVER}")]
    Server {
        /// The entry, quoted (an excerpt when long).
        entry: String,
        /// What is wrong with it.
        #[source]
        source: ServerSpecError,
    },
    /// The file could not be saved.
    #[error(transparent)]
    Save(#[from] crate::files::SaveError),
}

/// Persisted settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SavedSettings {
    /// Pulse and sync settings.
    pub pulse: PulseConfig,
    /// NTP servers, in order.
    pub ntp_servers: Vec<String>,
    /// IANA zone set over D-Bus (None: the system's).
    pub timezone: Option<String>,
}

impl Default for SavedSettings {
    fn default() -> Self {
        SavedSettings {
            pulse: PulseConfig::default(),
            ntp_servers: vec![DEFAULT_NTP_SERVER.to_owned()],
            timezone: None,
        }
    }
}

impl SavedSettings {
    /// Decodes and checks the contents of a settings file: JSON with known
    /// keys only, pulse settings that [`PulseConfig::validate`] accepts, and
    /// an NTP server list that [`validate_ntp_servers`] accepts (what
    /// `SetNTPServers` accepts). The error says why the file is refused.
    pub fn parse(bytes: &[u8]) -> Result<SavedSettings, SettingsError> {
        let s = serde_json::from_slice::<SavedSettings>(bytes).map_err(SettingsError::Decode)?;
        s.pulse.validate().map_err(SettingsError::Pulse)?;
        validate_ntp_servers(&s.ntp_servers)?;
        Ok(s)
    }
}

/// Where settings live, and how they are saved.
#[derive(Debug, Clone)]
pub struct SavedSettingsFile {
    path: PathBuf,
}

impl SavedSettingsFile {
    /// The settings file in `state_dir`.
    pub fn new(state_dir: &Path) -> SavedSettingsFile {
        SavedSettingsFile { path: state_dir.join(FILE_NAME) }
    }

    /// Loads the settings; defaults when there is no file; a bad file is
    /// moved aside and reported in the returned warning.
    pub fn load(&self) -> (SavedSettings, Option<String>) {
        let bytes = match crate::files::read_bounded(&self.path, crate::files::MAX_SETTINGS_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (SavedSettings::default(), None),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return (SavedSettings::default(), Some(self.set_aside(&e)))
            }
            Err(e) => {
                return (
                    SavedSettings::default(),
                    Some(format!("reading {}: {e}; using defaults", self.path.display())),
                )
            }
        };
        match SavedSettings::parse(&bytes) {
            Ok(s) => (s, None),
            Err(why) => (SavedSettings::default(), Some(self.set_aside(&why))),
        }
    }

    fn set_aside(&self, why: &dyn std::fmt::Display) -> String {
        let bad = self.path.with_extension("json.bad");
        let moved = std::fs::rename(&self.path, &bad).is_ok();
        format!(
            "{} is invalid ({why}); using defaults{}",
            self.path.display(),
            if moved { format!(", the file was kept as {}", bad.display()) } else { String::new() }
        )
    }

    /// Saves atomically, synced (through a power cut).
    pub fn save(&self, settings: &SavedSettings) -> Result<(), SettingsError> {
        Ok(save_json(&self.path, settings, "settings", Durability::PowerCut)?)
    }
}

/// What a server entry may be, for error messages.
const ACCEPTED_SERVER: &str = "accepted: a host name (time.nist.gov), an IPv4 address (192.0.2.1) or an IPv6 \
address (2001:db8::1), optionally with :port 1..=65535 (time.nist.gov:123, 192.0.2.1:123, [2001:db8::1]:123)";

/// Checks an NTP server list: 1..=8 entries, each a host name or an IP
/// address with an optional port (`host:port`, `192.0.2.1:123`,
/// `[2001:db8::1]:123`); the grammar is [`piclock_core::ntp::parse_server`].
pub fn validate_ntp_servers(servers: &[String]) -> Result<(), SettingsError> {
    check_server_count(servers.len())?;
    for s in servers {
        if s.len() > MAX_SERVER_LEN {
            return Err(SettingsError::ServerTooLong { entry: excerpt(s) });
        }
        piclock_core::ntp::parse_server(s).map_err(|source| SettingsError::Server { entry: excerpt(s), source })?;
    }
    Ok(())
}

/// 1..=[`MAX_NTP_SERVERS`] servers.
fn check_server_count(count: usize) -> Result<(), SettingsError> {
    if count == 0 || count > MAX_NTP_SERVERS {
        return Err(SettingsError::ServerCount { count });
    }
    Ok(())
}

/// The server list of a `SetNTPServers` argument decoded with bounded
/// memory ([`BoundedStrings`]): checked for its count and each entry's
/// length before anything else, then as [`validate_ntp_servers`] checks it.
pub fn ntp_server_list(arg: &BoundedStrings) -> Result<Vec<String>, SettingsError> {
    check_server_count(arg.count)?;
    let servers = arg
        .kept
        .iter()
        .map(|s| match s.whole() {
            Some(text) if text.len() <= MAX_SERVER_LEN => Ok(text.to_owned()),
            _ => Err(SettingsError::ServerTooLong { entry: s.shown() }),
        })
        .collect::<Result<Vec<String>, SettingsError>>()?;
    validate_ntp_servers(&servers)?;
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = SavedSettingsFile::new(dir.path());
        assert_eq!(f.load(), (SavedSettings::default(), None));
        let s = SavedSettings {
            ntp_servers: vec!["127.0.0.1".into()],
            timezone: Some("Europe/Berlin".into()),
            ..SavedSettings::default()
        };
        f.save(&s).unwrap();
        assert_eq!(f.load(), (s, None));
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let (loaded, warning) = f.load();
        assert_eq!(loaded, SavedSettings::default());
        assert!(warning.unwrap().contains("settings.json.bad"));
        assert!(dir.path().join("settings.json.bad").exists());
        let gone = SavedSettingsFile::new(&dir.path().join("missing"));
        let e = gone.save(&SavedSettings::default()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("saving {}: ", dir.path().join("missing/settings.json").display())), "{e}");
    }

    #[test]
    fn files_with_servers_set_ntp_servers_refuses_are_refused() {
        // Found by the settings_file fuzz target: a hand-edited file could
        // hold server entries the daemon refuses over D-Bus.
        let file = |servers: &str| format!(r#"{{"ntp_servers": {servers}}}"#);
        assert_eq!(
            SavedSettings::parse(file(r#"["time.nist.gov", "[::1]:123"]"#).as_bytes()).unwrap().ntp_servers.len(),
            2
        );
        for bad in [r#"["time.nist.go]v"]"#, r#"["a.org:0"]"#, "[]", &format!("{:?}", vec!["a.org"; 9])] {
            let e = SavedSettings::parse(file(bad).as_bytes()).unwrap_err().to_string();
            assert!(e.starts_with("servers:"), "{bad}: {e}");
        }
        let e = SavedSettings::parse(br#"{"pulse": {"norm_tick_on_us": 101}}"#).unwrap_err().to_string();
        assert!(e.starts_with("values out of range: norm_tick_on_us"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), file(r#"["a b"]"#)).unwrap();
        let (loaded, warning) = SavedSettingsFile::new(dir.path()).load();
        assert_eq!(loaded, SavedSettings::default());
        assert!(warning.unwrap().contains("settings.json.bad"));
    }

    #[test]
    fn server_lists() {
        assert!(validate_ntp_servers(&["time.nist.gov".into(), "::1".into(), "127.0.0.1".into()]).is_ok());
        let with_ports = ["time.nist.gov:123", "127.0.0.1:11123", "[::1]:4123", "[2001:db8::1]", "a.org:65535", "b:1"];
        assert!(validate_ntp_servers(&with_ports.map(String::from)).is_ok());
        for bad in [vec![], vec!["".to_owned()], vec!["a b".into()], vec!["-x.org".into()], vec!["x".repeat(300)]] {
            let e = validate_ntp_servers(&bad).unwrap_err().to_string();
            assert!(e.starts_with("servers:"), "{e}");
            assert!(e.contains("accepted:"), "{e}");
        }
        for bad in ["a.org:0", "a.org:65536", "127.0.0.1:", "[::1]:99999", "a.org:x"] {
            let e = validate_ntp_servers(&[bad.to_owned()]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("servers: {bad:?}: port")), "{e}");
            assert!(e.contains("1..=65535"), "{e}");
        }
        for bad in ["::1:123:x", "[::1", "[127.0.0.1]:123", "a:b:c", "[::1]123"] {
            let e = validate_ntp_servers(&[bad.to_owned()]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("servers: {bad:?}: not a host name or IP address")), "{e}");
            assert!(e.contains("[2001:db8::1]:123"), "{e}");
        }
        assert!(validate_ntp_servers(&vec!["a.org".to_owned(); 9]).unwrap_err().to_string().contains("9 given"));
    }
}
