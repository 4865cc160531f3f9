//! Reading the daemon's own files with a size limit.
//!
//! The admin config, the saved settings and the simulators' files are small.
//! One that has grown (a mistake, a full disk's garbage, or someone with
//! write access to it) is refused before it is parsed, instead of being read
//! whole into memory (which `mlockall` would also lock).

use std::io::Read;
use std::path::Path;

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
}
