//! The real I2C bus: a Linux `/dev/i2c-N` character device through
//! `linux-embedded-hal`.
//!
//! The RTC and the FRAM share one bus (normally `/dev/i2c-1`, pins 3 and 5
//! of the Pi's header). Open it once for each device: every transfer
//! names its own device address, so two handles on the same bus do not
//! interfere.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::I2cdev;

/// The Raspberry Pi's I2C bus on the GPIO header.
pub const DEFAULT_I2C_BUS: &str = "/dev/i2c-1";

/// Why an I2C bus cannot be used; the message names the bus and, where
/// there is something to do, says what.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The device does not exist: I2C is not enabled.
    #[error(
        "{} does not exist: enable I2C with raspi-config (Interface Options, I2C), \
         or dtparam=i2c_arm=on in config.txt, and reboot",
        .path.display()
    )]
    Missing {
        /// The bus device.
        path: PathBuf,
    },
    /// The device could not be looked at.
    #[error("{}: {source}", .path.display())]
    Metadata {
        /// The bus device.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path is not a character device.
    #[error("{} is not an I2C bus (not a character device)", .path.display())]
    NotCharDevice {
        /// The path.
        path: PathBuf,
    },
    /// The daemon may not open the device.
    #[error("opening {}: {source}: run as root or give the service user the group that owns it (i2c)", .path.display())]
    Denied {
        /// The bus device.
        path: PathBuf,
        /// The system's error, as i2c-dev (opening the bus) or the open
        /// itself (probing it) reports it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// i2c-dev could not open the device as a bus.
    #[error("opening {} as an I2C bus: {source}", .path.display())]
    Open {
        /// The bus device.
        path: PathBuf,
        /// i2c-dev's error.
        #[source]
        source: LinuxI2CError,
    },
    /// The device could not be opened to be probed.
    #[error("opening {}: {source}", .path.display())]
    OpenToProbe {
        /// The bus device.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A character device that does not know `I2C_SLAVE`.
    #[error("{} is not an I2C bus (I2C_SLAVE: {source})", .path.display())]
    NotI2c {
        /// The device.
        path: PathBuf,
        /// The ioctl's error (ENOTTY).
        #[source]
        source: std::io::Error,
    },
    /// `I2C_SLAVE` failed otherwise than with EBUSY.
    #[error("{}: probing 0x{address:02x} (I2C_SLAVE): {source}", .path.display())]
    Probe {
        /// The bus device.
        path: PathBuf,
        /// The address probed.
        address: u8,
        /// The ioctl's error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the I2C bus at `path` (e.g. [`DEFAULT_I2C_BUS`]).
///
/// Errors name the path and say what to do: a missing device means I2C is
/// not enabled; a permission error means the daemon lacks access to it.
pub fn open_i2c(path: &Path) -> Result<I2cdev, BusError> {
    check_bus(path)?;
    I2cdev::new(path).map_err(|source| {
        let denied = match &source {
            LinuxI2CError::Io(io) => io.kind() == ErrorKind::PermissionDenied,
            LinuxI2CError::Errno(n) => *n == libc::EACCES || *n == libc::EPERM,
        };
        let path = path.to_path_buf();
        if denied {
            BusError::Denied { path, source: Box::new(source) }
        } else {
            BusError::Open { path, source }
        }
    })
}

/// Checks that `path` is a character device; errors say what to do (a
/// missing device means I2C is not enabled).
pub fn check_bus(path: &Path) -> Result<(), BusError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(BusError::Missing { path: path.to_path_buf() }),
        Err(source) => return Err(BusError::Metadata { path: path.to_path_buf(), source }),
    };
    if !meta.file_type().is_char_device() {
        return Err(BusError::NotCharDevice { path: path.to_path_buf() });
    }
    Ok(())
}

/// `I2C_SLAVE` of `<linux/i2c-dev.h>`: sets the address of the transfers
/// that follow; EBUSY when a kernel driver is bound to that address.
pub const I2C_SLAVE: u32 = 0x0703;

/// Who has an address on a bus.
#[derive(Debug)]
pub enum Probe {
    /// No kernel driver holds it: i2c-dev may talk to the chip.
    Free,
    /// A kernel driver holds it: i2c-dev answers EBUSY (`i2cdetect` shows
    /// `UU`).
    KernelDriver,
    /// The bus could not be opened or probed: why.
    Unavailable(BusError),
}

/// Asks i2c-dev whether a kernel driver holds `address` on `bus`, as
/// `i2cdetect` does: the `I2C_SLAVE` ioctl, which sends nothing on the bus.
pub fn probe_address(bus: &Path, address: u8) -> Probe {
    if let Err(e) = check_bus(bus) {
        return Probe::Unavailable(e);
    }
    let path = bus.to_path_buf();
    let file = match std::fs::OpenOptions::new().read(true).write(true).open(bus) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            return Probe::Unavailable(BusError::Denied { path, source: Box::new(e) })
        }
        Err(source) => return Probe::Unavailable(BusError::OpenToProbe { path, source }),
    };
    // SAFETY: the descriptor is open for the whole call; I2C_SLAVE takes
    // the address by value and writes nothing back.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), I2C_SLAVE as libc::Ioctl, libc::c_ulong::from(address)) };
    if rc >= 0 {
        return Probe::Free;
    }
    let source = std::io::Error::last_os_error();
    match source.raw_os_error() {
        Some(libc::EBUSY) => Probe::KernelDriver,
        Some(libc::ENOTTY) => Probe::Unavailable(BusError::NotI2c { path, source }),
        _ => Probe::Unavailable(BusError::Probe { path, address, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `open_i2c` gives (`I2cdev` has no `Debug` for `unwrap_err`).
    fn open_err(path: &Path) -> String {
        match open_i2c(path) {
            Ok(_) => panic!("{} opened as an I2C bus", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_missing_bus_says_how_to_enable_it() {
        let e = open_err(Path::new("/dev/i2c-1-does-not-exist"));
        assert!(e.starts_with("/dev/i2c-1-does-not-exist does not exist: enable I2C with raspi-config"), "{e}");
        if !Path::new(DEFAULT_I2C_BUS).exists() {
            let e = open_err(Path::new(DEFAULT_I2C_BUS));
            assert!(e.starts_with("/dev/i2c-1 does not exist: enable I2C with raspi-config"), "{e}");
        }
    }

    #[test]
    fn probing_something_that_is_no_bus_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("i2c-1");
        match probe_address(&missing, 0x68) {
            Probe::Unavailable(e) => assert!(e.to_string().contains("does not exist: enable I2C"), "{e}"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&missing, b"").unwrap();
        let e = probe_address(&missing, 0x68);
        assert!(matches!(&e, Probe::Unavailable(e) if e.to_string().contains("not a character device")), "{e:?}");
        if Path::new("/dev/null").exists() {
            match probe_address(Path::new("/dev/null"), 0x68) {
                Probe::Unavailable(e) => {
                    assert!(e.to_string().starts_with("/dev/null is not an I2C bus (I2C_SLAVE: "), "{e}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn other_files_are_not_buses() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("i2c-1");
        std::fs::write(&file, b"").unwrap();
        let e = open_err(&file);
        assert_eq!(e, format!("{} is not an I2C bus (not a character device)", file.display()));
        let e = open_err(dir.path());
        assert!(e.contains("not a character device"), "{e}");
        // A character device that is not an I2C adapter: the ioctl fails.
        if Path::new("/dev/null").exists() {
            let e = open_err(Path::new("/dev/null"));
            assert!(e.starts_with("opening /dev/null"), "{e}");
        }
    }
}
