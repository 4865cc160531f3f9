//! A simulation of the MB85RC256V I2C FRAM (32 KiB).
//!
//! [`VirtualFram`] answers at address [`FRAM_ADDRESS`] (0x50, all address pins
//! low) and implements [`embedded_hal::i2c::I2c`] as the chip behaves:
//!
//! - A write transfer starts with the 2-byte big-endian memory address (the
//!   top bit is ignored: 15 address bits for 32 KiB); the following bytes
//!   are stored from there on. A write of only the address (as the first
//!   half of a random read) just sets the address latch; a write of one byte
//!   changes nothing.
//! - A read transfer reads from the address latch on (a "current address
//!   read" when no address was written first).
//! - The address increments after every byte and wraps from 0x7FFF to 0.
//! - FRAM writes are non-volatile as soon as each byte is acknowledged:
//!   there is no page buffer and no write delay.
//!
//! Fault injection, on the shared handle (clones refer to the same chip):
//! [`VirtualFram::set_failing`] (every transfer answers NoAcknowledge),
//! [`VirtualFram::set_failing_writes`] (writes carrying data answer
//! NoAcknowledge and store nothing; reads work) and
//! [`VirtualFram::fail_after_bytes`] (the next write carrying data stores only
//! that many bytes and then answers NoAcknowledge, as a power cut in the
//! middle of a write would leave it).
//!
//! With [`VirtualFram::with_backing_file`] the whole 32 KiB image is kept in a
//! file, rewritten atomically after every write, so the simulated journal
//! survives daemon restarts under `--simulate`. A fresh chip reads all
//! zeros.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};

use super::{lock, save_file, BackingFileError};
pub use crate::devices::fram::{FRAM_ADDRESS, FRAM_SIZE};

/// The chip's state, behind the handle's mutex.
struct Chip {
    mem: Vec<u8>,
    /// The address latch: where the next byte is read or written.
    latch: usize,
    /// Every transfer answers NoAcknowledge.
    failing: bool,
    /// Every write carrying data answers NoAcknowledge, storing nothing.
    failing_writes: bool,
    /// The next write carrying data stores only this many bytes, then fails.
    tear: Option<usize>,
    /// Where the image is persisted, if anywhere.
    backing: Option<PathBuf>,
}

impl fmt::Debug for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chip")
            .field("latch", &self.latch)
            .field("failing", &self.failing)
            .field("failing_writes", &self.failing_writes)
            .field("tear", &self.tear)
            .field("backing", &self.backing)
            .finish_non_exhaustive()
    }
}

impl Chip {
    /// Writes the backing file, if any; a failure is logged (the chip
    /// itself carries on, as hardware would).
    fn persist(&self) {
        if let Some(path) = &self.backing {
            if let Err(e) = save_file(path, &self.mem) {
                tracing::warn!("simulated FRAM: {e}");
            }
        }
    }

    fn advance(&mut self) {
        self.latch = (self.latch + 1) % FRAM_SIZE;
    }
}

/// A simulated MB85RC256V FRAM on an I2C bus; clones share the chip.
#[derive(Debug, Clone)]
pub struct VirtualFram {
    chip: Arc<Mutex<Chip>>,
    unplug_file: Option<std::path::PathBuf>,
}

impl Default for VirtualFram {
    fn default() -> Self {
        VirtualFram::new()
    }
}

/// Direction of the current part of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Write,
    Read,
}

impl VirtualFram {
    /// A fresh chip: all zeros, not persisted.
    pub fn new() -> VirtualFram {
        let chip = Chip {
            mem: vec![0; FRAM_SIZE],
            latch: 0,
            failing: false,
            failing_writes: false,
            tear: None,
            backing: None,
        };
        VirtualFram { chip: Arc::new(Mutex::new(chip)), unplug_file: None }
    }

    /// Keeps the chip's memory in the file `path` (exactly 32 KiB): loads
    /// it if the file exists (otherwise writes the current image there), and
    /// rewrites it atomically after every write.
    ///
    /// Fails, naming the path, if the file cannot be read or written or is
    /// not 32 KiB long.
    pub fn with_backing_file(self, path: impl AsRef<Path>) -> Result<VirtualFram, BackingFileError> {
        const IMAGE: &str = "simulated FRAM image";
        let path = path.as_ref();
        let loaded = match crate::files::read_bounded(path, FRAM_SIZE as u64) {
            Ok(bytes) if bytes.len() == FRAM_SIZE => Some(bytes),
            Ok(bytes) => {
                return Err(BackingFileError::Length {
                    what: IMAGE,
                    path: path.to_path_buf(),
                    len: bytes.len(),
                    expected: FRAM_SIZE,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(BackingFileError::Read { what: IMAGE, path: path.to_path_buf(), source }),
        };
        {
            let mut chip = lock(&self.chip);
            if let Some(mem) = loaded {
                chip.mem = mem;
            } else {
                save_file(path, &chip.mem)?;
            }
            chip.backing = Some(path.to_path_buf());
        }
        Ok(self)
    }

    /// While the file `path` exists, the chip is "unplugged": every transfer
    /// answers NoAcknowledge. Lets a person or a test pull the simulated FRAM
    /// off the bus of a running daemon (`touch <state-dir>/virtual-fram.unplugged`).
    pub fn with_unplug_file(mut self, path: impl AsRef<std::path::Path>) -> VirtualFram {
        self.unplug_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// While `failing`, every transfer answers NoAcknowledge (a chip that
    /// is missing or unpowered), changing nothing.
    pub fn set_failing(&self, failing: bool) {
        lock(&self.chip).failing = failing;
    }

    /// While `failing`, every write that carries data answers
    /// NoAcknowledge at its first data byte, storing nothing (a pending
    /// [`VirtualFram::fail_after_bytes`] waits for a write that gets through);
    /// reads and address-only writes work.
    pub fn set_failing_writes(&self, failing: bool) {
        lock(&self.chip).failing_writes = failing;
    }

    /// Tears the next write that carries data: only its first `n` data
    /// bytes (after the 2 address bytes) are stored, then the transfer
    /// answers NoAcknowledge, even if it had no more than `n` bytes to
    /// store. Transfers that only read or only set the address do not count.
    pub fn fail_after_bytes(&self, n: usize) {
        lock(&self.chip).tear = Some(n);
    }

    /// A copy of the whole memory (for tests).
    pub fn contents(&self) -> Vec<u8> {
        lock(&self.chip).mem.clone()
    }

    /// Overwrites memory at `address` (wrapping at 32 KiB) behind the bus's
    /// back, e.g. to simulate damage. Persisted like a write.
    pub fn poke(&self, address: usize, bytes: &[u8]) {
        let mut chip = lock(&self.chip);
        for (i, &b) in bytes.iter().enumerate() {
            let a = (address + i) % FRAM_SIZE;
            if let Some(slot) = chip.mem.get_mut(a) {
                *slot = b;
            }
        }
        chip.persist();
    }
}

impl ErrorType for VirtualFram {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for VirtualFram {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        let mut chip = lock(&self.chip);
        let unplugged = self.unplug_file.as_ref().is_some_and(|f| f.exists());
        if chip.failing || unplugged || address != FRAM_ADDRESS {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        let tear = chip.tear;
        let mut stored = 0usize;
        let mut phase: Option<Phase> = None;
        // Address bytes received so far in the current write.
        let mut addr_bytes: Vec<u8> = Vec::with_capacity(2);
        let mut result = Ok(());

        'ops: for op in operations.iter_mut() {
            match op {
                Operation::Write(bytes) => {
                    if phase != Some(Phase::Write) {
                        phase = Some(Phase::Write);
                        addr_bytes.clear();
                    }
                    for &b in bytes.iter() {
                        if addr_bytes.len() < 2 {
                            addr_bytes.push(b);
                            if let [hi, lo] = addr_bytes[..] {
                                chip.latch = usize::from(u16::from_be_bytes([hi, lo])) % FRAM_SIZE;
                            }
                            continue;
                        }
                        if chip.failing_writes || tear == Some(stored) {
                            result = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
                            break 'ops;
                        }
                        let a = chip.latch;
                        if let Some(slot) = chip.mem.get_mut(a) {
                            *slot = b;
                        }
                        chip.advance();
                        stored += 1;
                    }
                }
                Operation::Read(buf) => {
                    phase = Some(Phase::Read);
                    for x in buf.iter_mut() {
                        *x = chip.mem.get(chip.latch).copied().unwrap_or(0);
                        chip.advance();
                    }
                }
            }
        }
        if tear.is_some() && !chip.failing_writes && (stored > 0 || result.is_err()) {
            // The torn write happened; its NoAcknowledge ends the transfer.
            chip.tear = None;
            result = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
        }
        if stored > 0 {
            chip.persist();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NACK_DATA: Result<(), ErrorKind> = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
    const NACK_ADDR: Result<(), ErrorKind> = Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));

    fn read_at(fram: &mut VirtualFram, address: u16, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        fram.write_read(FRAM_ADDRESS, &address.to_be_bytes(), &mut buf).unwrap();
        buf
    }

    #[test]
    fn random_and_sequential_access() {
        let mut fram = VirtualFram::new();
        assert_eq!(read_at(&mut fram, 0, 4), [0; 4]);
        fram.write(FRAM_ADDRESS, &[0x12, 0x34, 1, 2, 3]).unwrap();
        assert_eq!(read_at(&mut fram, 0x1234, 3), [1, 2, 3]);
        assert_eq!(fram.contents()[0x1234..0x1237], [1, 2, 3]);
        // Current-address read continues after the last byte.
        let mut b = [0u8; 2];
        fram.read(FRAM_ADDRESS, &mut b).unwrap();
        assert_eq!(b, [0, 0]);
        fram.write(FRAM_ADDRESS, &[0x12, 0x35]).unwrap(); // address only
        fram.read(FRAM_ADDRESS, &mut b).unwrap();
        assert_eq!(b, [2, 3]);
        // Adjacent write operations are one write: address then data.
        fram.transaction(FRAM_ADDRESS, &mut [Operation::Write(&[0x00]), Operation::Write(&[0x10, 9, 8])]).unwrap();
        assert_eq!(read_at(&mut fram, 0x0010, 2), [9, 8]);
        // A lone address byte changes nothing.
        fram.write(FRAM_ADDRESS, &[0x00]).unwrap();
        assert_eq!(fram.contents()[0x0010..0x0012], [9, 8]);
    }

    #[test]
    fn addresses_wrap_at_32_kib() {
        let mut fram = VirtualFram::new();
        fram.write(FRAM_ADDRESS, &[0x7F, 0xFE, 1, 2, 3, 4]).unwrap();
        let mem = fram.contents();
        assert_eq!((mem[0x7FFE], mem[0x7FFF], mem[0], mem[1]), (1, 2, 3, 4));
        assert_eq!(read_at(&mut fram, 0x7FFF, 3), [2, 3, 4]);
        // The top address bit is ignored: 0x8000 is 0x0000.
        assert_eq!(read_at(&mut fram, 0x8000, 2), [3, 4]);
        fram.write(FRAM_ADDRESS, &[0xFF, 0xFF, 7]).unwrap();
        assert_eq!(fram.contents()[0x7FFF], 7);
    }

    #[test]
    fn failing_and_wrong_address() {
        let mut fram = VirtualFram::new();
        let handle = fram.clone();
        assert_eq!(fram.write(0x51, &[0, 0, 1]), NACK_ADDR);
        handle.set_failing(true);
        assert_eq!(fram.write(FRAM_ADDRESS, &[0, 0, 1]), NACK_ADDR);
        let mut b = [0u8; 1];
        assert_eq!(fram.read(FRAM_ADDRESS, &mut b), NACK_ADDR);
        handle.set_failing(false);
        assert_eq!(read_at(&mut fram, 0, 1), [0]);
        // Writes alone fail: reads work, nothing is stored, a tear waits.
        handle.set_failing_writes(true);
        handle.fail_after_bytes(1);
        assert_eq!(fram.write(FRAM_ADDRESS, &[0, 0, 7, 7]), NACK_DATA);
        assert_eq!(read_at(&mut fram, 0, 2), [0, 0]);
        handle.set_failing_writes(false);
        assert_eq!(fram.write(FRAM_ADDRESS, &[0, 0, 7, 7]), NACK_DATA);
        assert_eq!(fram.contents()[..2], [7, 0]);
        fram.write(FRAM_ADDRESS, &[0, 0, 8, 8]).unwrap();
        assert_eq!(read_at(&mut fram, 0, 2), [8, 8]);
    }

    #[test]
    fn torn_writes_store_a_prefix_once() {
        for n in 0..=6 {
            let mut fram = VirtualFram::new();
            fram.write(FRAM_ADDRESS, &[0, 0, 9, 9, 9, 9, 9]).unwrap();
            fram.fail_after_bytes(n);
            // Reads and address-only writes do not use up the tear.
            assert_eq!(read_at(&mut fram, 0, 1), [9]);
            assert_eq!(fram.write(FRAM_ADDRESS, &[0, 0, 1, 2, 3, 4, 5]), NACK_DATA);
            let want: Vec<u8> = (1..=5).map(|i| if i <= n { i as u8 } else { 9 }).collect();
            assert_eq!(fram.contents()[..5], want[..], "n = {n}");
            // Only the next write was torn.
            fram.write(FRAM_ADDRESS, &[0, 0, 1, 2, 3, 4, 5]).unwrap();
            assert_eq!(fram.contents()[..5], [1, 2, 3, 4, 5]);
        }
    }

    #[test]
    fn backing_file_holds_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fram.bin");
        let mut fram = VirtualFram::new().with_backing_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0; FRAM_SIZE]);
        fram.write(FRAM_ADDRESS, &[0x01, 0x00, 0xAB, 0xCD]).unwrap();
        // A torn write persists what it stored.
        fram.fail_after_bytes(1);
        assert_eq!(fram.write(FRAM_ADDRESS, &[0x02, 0x00, 0xEE, 0xEE]), NACK_DATA);
        drop(fram);
        let img = std::fs::read(&path).unwrap();
        assert_eq!(img.len(), FRAM_SIZE);
        assert_eq!((img[0x100], img[0x101], img[0x200], img[0x201]), (0xAB, 0xCD, 0xEE, 0));
        assert!(!path.with_file_name(format!("{}.tmp", path.file_name().unwrap().to_string_lossy())).exists());

        let mut fram = VirtualFram::new().with_backing_file(&path).unwrap();
        assert_eq!(read_at(&mut fram, 0x100, 2), [0xAB, 0xCD]);
        fram.poke(0x7FFF, &[1, 2]);
        let img = std::fs::read(&path).unwrap();
        assert_eq!((img[0x7FFF], img[0]), (1, 2));

        std::fs::write(&path, [0u8; 100]).unwrap();
        let e = VirtualFram::new().with_backing_file(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains("100 bytes"), "{e}");
        let bad = dir.path().join("missing-dir/fram.bin");
        let e = VirtualFram::new().with_backing_file(&bad).unwrap_err().to_string();
        assert!(e.contains(&bad.display().to_string()), "{e}");
    }
}
