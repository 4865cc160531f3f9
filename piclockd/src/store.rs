//! File backend of the position journal.
//!
//! [`FileSlotStore`] keeps the two journal slots of
//! [`piclock_core::journal`] in a small file (normally
//! `/var/lib/piclock/position`): slot `i` at offset `i * SLOT_LEN`. Each
//! slot is written in place with a single positioned write and, when `sync`
//! is on, made durable with `fdatasync` before the write is reported done.
//! The file is never truncated or rewritten as a whole, so a power cut can
//! only tear the slot being written, which the journal tolerates.
//!
//! [`open_position_store`] chooses the backend the administrator asked for
//! (`[store] position`): the FRAM, this file, or the FRAM when one answers
//! and else the file.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::admin_config::{AdminConfig, PositionStore};
use crate::devices::bus::BusError;
use crate::devices::fram::FramSlotStore;
use crate::devices::open_i2c;
use piclock_core::journal::{SlotStore, StoreError, SLOT_LEN};
use piclock_dbus::names::component;

/// File name of the position journal inside the state directory.
pub const JOURNAL_FILE: &str = "position";

/// A boxed position store, as the tick thread's journal holds it.
pub type BoxedStore = Box<dyn SlotStore + Send>;

/// Why the position journal's backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PositionStoreError {
    /// `[store] position = "fram"`, and the FRAM cannot be used.
    #[error("[store] position = \"fram\": {0}")]
    FramRequired(#[source] FramUnavailable),
    /// The journal file could not be opened.
    #[error(transparent)]
    File(#[from] StoreError),
}

/// Why the FRAM is not used.
#[derive(Debug, thiserror::Error)]
pub enum FramUnavailable {
    /// The I2C bus cannot be used.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Nothing answers at the FRAM's address.
    #[error("no FRAM answers at 0x50 on {}", .bus.display())]
    NotAnswering {
        /// The I2C bus.
        bus: PathBuf,
    },
    /// The simulated FRAM cannot be used (`crate::sim`'s error, boxed so
    /// that the store does not depend on the simulation).
    #[error(transparent)]
    Simulated(Box<dyn std::error::Error + Send + Sync>),
}

/// The position journal's backend, per `[store] position`: the FRAM that
/// `fram` opens (the real one, [`open_fram`], or the simulated one), the
/// file (fdatasync'd with `sync`), or the FRAM if one answers and else the
/// file; with its component name for `Fault`.
pub fn open_position_store(
    admin: &AdminConfig,
    state_dir: &Path,
    sync: bool,
    fram: impl FnOnce() -> Result<BoxedStore, FramUnavailable>,
) -> Result<(BoxedStore, &'static str), PositionStoreError> {
    let want = admin.store.position;
    if want != PositionStore::File {
        match (fram(), want) {
            (Ok(store), _) => return Ok((store, component::FRAM)),
            (Err(e), PositionStore::Fram) => return Err(PositionStoreError::FramRequired(e)),
            (Err(e), _) => tracing::info!("position store: {e}; using the file store"),
        }
    }
    let store = FileSlotStore::open(&state_dir.join(JOURNAL_FILE), sync)?;
    Ok((Box::new(store), component::STORE))
}

/// The FRAM on the configured I2C bus, if it answers.
pub fn open_fram(admin: &AdminConfig) -> Result<BoxedStore, FramUnavailable> {
    let dev = open_i2c(&admin.i2c.bus)?;
    let mut store = FramSlotStore::new(dev, admin.i2c.bus.display().to_string());
    if store.probe() {
        Ok(Box::new(store))
    } else {
        Err(FramUnavailable::NotAnswering { bus: admin.i2c.bus.clone() })
    }
}

/// Size of the journal file: two slots.
const STORE_LEN: usize = 2 * SLOT_LEN;

/// A [`SlotStore`] over a file.
#[derive(Debug)]
pub struct FileSlotStore {
    path: PathBuf,
    file: File,
    sync: bool,
}

/// An error naming the operation and the path.
fn error(op: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError { what: format!("{op} {}: {e}", path.display()) }
}

impl FileSlotStore {
    /// Opens the journal file at `path` for reading and writing, creating it
    /// (mode 0600) and its parent directories (mode 0755) if missing.
    ///
    /// With `sync`, every slot write is followed by `fdatasync`, and a newly
    /// created file is made durable in its directory; without it writes may
    /// sit in the page cache (for tests and tmpfs).
    pub fn open(path: &Path, sync: bool) -> Result<Self, StoreError> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| error("creating directory", dir, &e))?;
        }
        let (file, created) = match OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let f = OpenOptions::new().read(true).write(true).open(path).map_err(|e| error("opening", path, &e))?;
                (f, false)
            }
            Err(e) => return Err(error("creating", path, &e)),
        };
        if created && sync {
            // Make the new directory entry durable too.
            let d = dir.unwrap_or(Path::new("."));
            File::open(d).and_then(|f| f.sync_all()).map_err(|e| error("syncing directory", d, &e))?;
        }
        Ok(FileSlotStore { path: path.to_path_buf(), file, sync })
    }

    #[cfg(test)]
    /// The path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SlotStore for FileSlotStore {
    fn read_all(&mut self) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![0u8; STORE_LEN];
        let mut len = 0;
        while len < STORE_LEN {
            let rest = buf.get_mut(len..).unwrap_or_default();
            match self.file.read_at(rest, len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(error("reading", &self.path, &e)),
            }
        }
        buf.truncate(len);
        Ok(buf)
    }

    fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError> {
        let op = format!("writing slot {index} of");
        if index >= STORE_LEN / SLOT_LEN {
            return Err(StoreError { what: format!("{op} {}: no such slot", self.path.display()) });
        }
        self.file.write_all_at(bytes, (index * SLOT_LEN) as u64).map_err(|e| error(&op, &self.path, &e))?;
        if self.sync {
            self.file.sync_data().map_err(|e| error(&format!("syncing slot {index} of"), &self.path, &e))?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let synced = if self.sync { "fdatasync after every write" } else { "not synced" };
        format!("journal file {} ({synced})", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use piclock_core::journal::conformance::{self, TestStore};
    use piclock_core::journal::{Journal, Recovered};
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    const DIAL: u32 = 43_200;

    /// A [`FileSlotStore`] with the conformance suite's faults, emulated
    /// around it: a torn write puts the first bytes of the slot straight
    /// into the file, a failing write does not reach it.
    struct FaultyFile {
        store: FileSlotStore,
        tear: Option<usize>,
        fail: bool,
    }

    impl FaultyFile {
        fn open(path: &Path, sync: bool) -> FaultyFile {
            FaultyFile { store: FileSlotStore::open(path, sync).unwrap(), tear: None, fail: false }
        }

        fn injected(&self, index: usize, what: &str) -> StoreError {
            StoreError { what: format!("writing slot {index} of {}: {what}", self.describe()) }
        }
    }

    impl SlotStore for FaultyFile {
        fn read_all(&mut self) -> Result<Vec<u8>, StoreError> {
            self.store.read_all()
        }

        fn write_slot(&mut self, index: usize, bytes: &[u8; SLOT_LEN]) -> Result<(), StoreError> {
            if self.fail {
                return Err(self.injected(index, "injected failure"));
            }
            match self.tear.take().map(|keep| keep.min(SLOT_LEN)) {
                None => self.store.write_slot(index, bytes),
                Some(SLOT_LEN) => {
                    self.store.write_slot(index, bytes)?;
                    Err(self.injected(index, "landed, then failed"))
                }
                Some(keep) => {
                    self.store.file.write_all_at(&bytes[..keep], (index * SLOT_LEN) as u64).unwrap();
                    Err(self.injected(index, &format!("torn after {keep} bytes")))
                }
            }
        }

        fn describe(&self) -> String {
            self.store.describe()
        }
    }

    /// The conformance suite's view: the medium is the whole file.
    impl TestStore for FaultyFile {
        fn contents(&self) -> Vec<u8> {
            std::fs::read(self.store.path()).unwrap()
        }

        fn damage(&mut self, at: usize, value: u8) {
            self.store.file.write_all_at(&[value], at as u64).unwrap();
        }

        fn truncate(&mut self, len: usize) -> bool {
            self.store.file.set_len(len as u64).unwrap();
            true
        }

        fn tear_next_write(&mut self, keep: usize) {
            self.tear = Some(keep);
        }

        fn fail_writes(&mut self, fail: bool) {
            self.fail = fail;
        }

        fn reopen(&self) -> FaultyFile {
            FaultyFile { tear: self.tear, fail: self.fail, ..FaultyFile::open(self.store.path(), self.store.sync) }
        }
    }

    /// Makes stores, each over a new file in `dir` holding the given bytes
    /// (none: the store creates the file).
    fn files_in(dir: &Path, sync: bool) -> impl Fn(&[u8]) -> FaultyFile + '_ {
        let made = Cell::new(0u32);
        move |bytes| {
            made.set(made.get() + 1);
            let path = dir.join(format!("position-{}", made.get()));
            if !bytes.is_empty() {
                std::fs::write(&path, bytes).unwrap();
            }
            FaultyFile::open(&path, sync)
        }
    }

    #[test]
    fn file_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        conformance::check_store(files_in(dir.path(), false));
    }

    #[test]
    fn journal_survives_reopen_with_sync() {
        let dir = tempfile::tempdir().unwrap();
        conformance::survives_reopen(files_in(dir.path(), true));
    }

    #[test]
    fn creates_file_and_directories_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/piclock/position");
        let store = FileSlotStore::open(&path, true).unwrap();
        assert_eq!(store.path(), path);
        assert!(store.describe().contains(&path.display().to_string()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (j, r) = Journal::open(store, DIAL).unwrap();
        assert_eq!(r, Recovered::Empty);
        drop(j);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn truncated_file_recovers_the_intact_slot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        let (mut j, _) = Journal::open(FileSlotStore::open(&path, false).unwrap(), DIAL).unwrap();
        j.commit(7).unwrap(); // seq 1, slot 1
        j.commit(8).unwrap(); // seq 2, slot 0
        drop(j);
        // Cut slot 1 short: slot 0 (the latest) is intact.
        File::options().write(true).open(&path).unwrap().set_len(40).unwrap();
        let (mut j, r) = Journal::open(FileSlotStore::open(&path, false).unwrap(), DIAL).unwrap();
        assert_eq!(r, Recovered::Committed { position: 8 });
        // The next write goes to slot 1 and restores the file's length.
        j.begin(8, 9).unwrap();
        drop(j);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT_LEN as u64);
        let (_, r) = Journal::open(FileSlotStore::open(&path, false).unwrap(), DIAL).unwrap();
        assert_eq!(r, Recovered::InFlight { from: 8, to: 9 });

        // Cut into slot 0 instead: the older slot 1 is what is left.
        File::options().write(true).open(&path).unwrap().set_len(20).unwrap();
        let (_, r) = Journal::open(FileSlotStore::open(&path, false).unwrap(), DIAL).unwrap();
        let Recovered::Corrupt { reason } = r else { panic!("{r:?}") };
        assert!(reason.contains("slot 0: truncated (20 of 32 bytes)"), "{reason}");
        assert!(reason.contains("slot 1: missing"), "{reason}");
    }

    #[test]
    fn longer_files_are_tolerated() {
        // The rest (garbage is corrupt, a commit repairs it, the bytes after
        // the two slots are left alone) is in the conformance suite.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        let garbage: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        std::fs::write(&path, &garbage).unwrap();
        let mut store = FileSlotStore::open(&path, false).unwrap();
        assert_eq!(store.read_all().unwrap(), garbage[..2 * SLOT_LEN]);
    }

    #[test]
    fn unwritable_location_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a directory should be (fails even as root).
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let path = blocker.join("piclock/position");
        let e = FileSlotStore::open(&path, true).unwrap_err();
        assert!(e.what.contains("creating directory"), "{e}");
        assert!(e.to_string().contains(&blocker.display().to_string()), "{e}");

        // The path itself is a directory.
        let e = FileSlotStore::open(dir.path(), true).unwrap_err();
        assert!(e.what.contains(&dir.path().display().to_string()), "{e}");
    }

    #[test]
    fn write_errors_name_the_slot_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("position");
        let mut store = FileSlotStore::open(&path, false).unwrap();
        let e = store.write_slot(2, &[0; SLOT_LEN]).unwrap_err();
        assert!(e.what.starts_with("writing slot 2 of "), "{e}");
        assert!(e.what.contains(&path.display().to_string()), "{e}");

        // A read-only descriptor makes the write itself fail.
        let ro = File::open(&path).unwrap();
        let mut store = FileSlotStore { path: path.clone(), file: ro, sync: true };
        let e = store.write_slot(1, &[1; SLOT_LEN]).unwrap_err();
        assert!(e.what.starts_with(&format!("writing slot 1 of {}: ", path.display())), "{e}");

        // /dev/full: the classic "No space left on device".
        if let Ok(full) = File::options().write(true).open("/dev/full") {
            let mut store = FileSlotStore { path: PathBuf::from("/dev/full"), file: full, sync: false };
            let e = store.write_slot(1, &[1; SLOT_LEN]).unwrap_err();
            assert!(e.what.starts_with("writing slot 1 of /dev/full: "), "{e}");
        }
    }

    /// Not a check: prints how long a journalled step (begin + commit) takes.
    /// Run with `cargo test -p piclockd store::tests::timing -- --nocapture`;
    /// set TMPDIR to measure another filesystem.
    #[test]
    fn timing_of_begin_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        for (sync, steps) in [(false, 2000u32), (true, 200)] {
            let path = dir.path().join(format!("position-{sync}"));
            let (mut j, _) = Journal::open(FileSlotStore::open(&path, sync).unwrap(), DIAL).unwrap();
            j.commit(0).unwrap();
            let mut worst = std::time::Duration::ZERO;
            let start = Instant::now();
            for p in 0..steps {
                let t = Instant::now();
                j.begin(p, p + 1).unwrap();
                j.commit(p + 1).unwrap();
                worst = worst.max(t.elapsed());
            }
            let mean = start.elapsed() / steps;
            println!(
                "journal step (begin+commit) in {}, sync={sync}: mean {mean:?}, worst {worst:?} over {steps} steps",
                dir.path().display()
            );
        }
    }
}
