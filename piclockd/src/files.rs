//! The daemon's own files: read with a size limit ([`read_bounded`]), and
//! replaced atomically ([`write_atomically`]).
//!
//! The admin config, the saved settings and the simulators' files are small.
//! One that has grown (a mistake, a full disk's garbage, or someone with
//! write access to it) is refused before it is parsed, instead of being read
//! whole into memory (which `mlockall` would also lock).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest admin config file or saved settings file read.
pub const MAX_SETTINGS_FILE: u64 = 64 * 1024;

/// Reads `path` if it is at most `max` bytes long; a longer file is an
/// error of kind `InvalidData` naming its size and the limit.
pub fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(bytes.len() as u64);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{size} bytes; accepted: at most {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// How far [`write_atomically`] makes a new file's contents safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Through a power cut: the file and then its directory are fsync'd.
    /// For what the daemon keeps (settings, learned sensor windows).
    PowerCut,
    /// Through a crash of the process only (the page cache keeps it). For
    /// the simulators' files, which stand in for hardware, not for durable
    /// storage: the simulated FRAM is written on every tick, and a synced
    /// write (about 10 ms here) would not keep up with `--speed 60`.
    ProcessCrash,
}

/// The temporary file next to `path` that [`write_atomically`] renames over it.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces the contents of `path` with `bytes` atomically: a reader (or a
/// daemon restarted after a crash or, with [`Durability::PowerCut`], a
/// power cut) sees the old contents or the new, never a mix. The bytes go
/// to `<path>.tmp`, which is renamed over `path`. The caller names `path`
/// in its error.
pub fn write_atomically(path: &Path, bytes: &[u8], durability: Durability) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    if durability == Durability::PowerCut {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, path)?;
    if durability == Durability::PowerCut {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Why [`save_json`] could not save a file.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// What was to be saved could not be encoded as JSON.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What it is, e.g. "settings".
        what: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error("saving {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Writes `bytes` to `path` with [`write_atomically`]; the error names the file.
pub fn save(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), SaveError> {
    write_atomically(path, bytes, durability).map_err(|source| SaveError::Write { path: path.to_path_buf(), source })
}

/// Saves `value` as pretty JSON in `path` ([`save`]); `what` names it in
/// an encoding error.
pub fn save_json<T: serde::Serialize>(
    path: &Path,
    value: &T,
    what: &str,
    durability: Durability,
) -> Result<(), SaveError> {
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|source| SaveError::Encode { what: what.to_owned(), source })?;
    save(path, &bytes, durability)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 100]).expect("write");
        assert_eq!(read_bounded(&path, 100).expect("fits").len(), 100);
        let e = read_bounded(&path, 99).expect_err("too big");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("100 bytes; accepted: at most 99"), "{e}");
        assert_eq!(
            read_bounded(&dir.path().join("none"), 10).expect_err("missing").kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("settings.json");
        for durability in [Durability::PowerCut, Durability::ProcessCrash] {
            std::fs::write(&path, b"old").expect("write");
            write_atomically(&path, b"new contents", durability).expect("atomic write");
            assert_eq!(std::fs::read(&path).expect("read"), b"new contents");
            assert!(!dir.path().join("settings.json.tmp").exists());
        }
        let e = write_atomically(&dir.path().join("missing/f"), b"x", Durability::PowerCut).expect_err("no dir");
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
