//! Which way the DS3231 is read: over i2c-dev, or through the kernel's RTC
//! driver when one owns the chip.
//!
//! At start [`select_rtc`] asks the bus who has address 0x68, as
//! `i2cdetect` does (the `I2C_SLAVE` ioctl, [`super::bus::probe_address`]):
//! - free: the chip is read and set over i2c-dev ([`super::rtc::I2cDevRtc`]);
//! - EBUSY (`i2cdetect` shows `UU`): a kernel driver owns it, normally
//!   `rtc-ds1307` from `dtoverlay=i2c-rtc,ds3231`. Its RTC device is the
//!   `/sys/class/rtc/rtcN` whose `device` link names the I2C client
//!   `<bus number>-0068` (on a Pi 5 the SoC's own RTC is `rtc0` and the
//!   DS3231 `rtc1`), read read-only ([`super::kernel_rtc::KernelRtc`]).
//!   When sysfs cannot say, `/dev/rtc0` is read, with a warning; when sysfs
//!   shows only RTCs of other devices, there is no RTC (a warning says why);
//! - the bus cannot be opened (no `/dev/i2c-1`: the overlay alone does not
//!   load i2c-dev): the kernel's RTC of that bus's 0x68 is read if sysfs
//!   has one, else there is no RTC.
//!
//! The same selection runs under `--simulate` (`crate::sim::rtc::SimulatedRtc`): the file
//! `<state-dir>/virtual-rtc.kernel-driver`, present at start, makes the
//! simulated bus answer EBUSY at 0x68, and the simulated chip is then read
//! through the kernel-RTC adapter with the simulated driver
//! ([`crate::sim::rtc_driver::Ds1307Driver`]) as its ioctl layer.

use std::path::{Path, PathBuf};

use super::bus::{open_i2c, probe_address, BusError, Probe};
use super::kernel_rtc::{DevRtc, KernelRtc};
use super::rtc::I2cDevRtc;
use super::rtc::DS3231_ADDRESS;
use crate::devices::rtc::RtcDevice;

/// At most this many RTC devices are looked at in sysfs.
const MAX_RTCS: usize = 64;
/// At most this many bytes of a sysfs `name` file are read.
const MAX_NAME: u64 = 256;
/// Names from sysfs are shown cut to this many characters.
const MAX_SHOWN: usize = 64;

/// Where sysfs and the device nodes are (parameters so that tests can use
/// a directory of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysPaths {
    /// sysfs, normally `/sys`.
    pub sys: PathBuf,
    /// The device nodes, normally `/dev`.
    pub dev: PathBuf,
}

impl Default for SysPaths {
    fn default() -> Self {
        SysPaths { sys: PathBuf::from("/sys"), dev: PathBuf::from("/dev") }
    }
}

/// A kernel RTC device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRtcNode {
    /// Its device node, e.g. `/dev/rtc1`.
    pub dev: PathBuf,
    /// The kernel driver behind it, e.g. `rtc-ds1307`, when sysfs says.
    pub driver: Option<String>,
}

impl KernelRtcNode {
    /// "/dev/rtc1 (kernel driver rtc-ds1307, read-only)".
    pub fn describe(&self) -> String {
        let driver = self.driver.as_deref().unwrap_or("unknown");
        format!("{} (kernel driver {driver}, read-only)", self.dev.display())
    }
}

/// What sysfs says of the RTC device of an I2C client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The client's RTC device.
    Found(KernelRtcNode),
    /// The RTC devices there are belong to other devices (`rtc0 (soc:rtc)`),
    /// or there are none; and the client's driver, if it has one.
    Elsewhere {
        /// Each RTC device with the device it belongs to.
        others: Vec<String>,
        /// The driver bound to the client, e.g. `mpu6050`.
        client_driver: Option<String>,
    },
    /// sysfs could not be read: why.
    Unreadable(String),
}

/// A file name from sysfs, printable and cut to [`MAX_SHOWN`] characters.
fn clean(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_graphic()).take(MAX_SHOWN).collect()
}

/// The file name a symbolic link points to.
fn link_name(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    Some(clean(&target.file_name()?.to_string_lossy()))
}

/// The bus number of an I2C bus device (`/dev/i2c-1` → 1), after
/// following symbolic links.
pub fn bus_number(bus: &Path) -> Option<u32> {
    let real = std::fs::canonicalize(bus).unwrap_or_else(|_| bus.to_path_buf());
    real.file_name()?.to_str()?.strip_prefix("i2c-")?.parse().ok()
}

/// The driver of the RTC device in `dir` (`/sys/class/rtc/rtcN`): the
/// name of its device's `driver` link, else the first word of its `name`.
fn rtc_driver(dir: &Path) -> Option<String> {
    if let Some(d) = link_name(&dir.join("device").join("driver")) {
        return Some(d);
    }
    let bytes = crate::files::read_bounded(&dir.join("name"), MAX_NAME).ok()?;
    let word = String::from_utf8_lossy(&bytes).split_whitespace().next().map(clean)?;
    (!word.is_empty()).then_some(word)
}

/// Looks in sysfs for the RTC device of the I2C client at `address` on bus
/// number `bus_no` (`/sys/class/rtc/rtc*/device` → `<bus_no>-00<address>`).
pub fn find_kernel_rtc(paths: &SysPaths, bus_no: u32, address: u8) -> Lookup {
    let client = format!("{bus_no}-{:04x}", address);
    let class = paths.sys.join("class").join("rtc");
    let entries = match std::fs::read_dir(&class) {
        Ok(entries) => entries,
        Err(e) => return Lookup::Unreadable(format!("{}: {e}", class.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("rtc"))
        .take(MAX_RTCS)
        .collect();
    names.sort_by_key(|n| (n[3..].parse::<u32>().unwrap_or(u32::MAX), n.clone()));
    let mut others = Vec::new();
    for name in names {
        let dir = class.join(&name);
        match link_name(&dir.join("device")) {
            Some(device) if device == client => {
                return Lookup::Found(KernelRtcNode { dev: paths.dev.join(&name), driver: rtc_driver(&dir) });
            }
            Some(device) => others.push(format!("{} ({device})", clean(&name))),
            None => others.push(format!("{} (no device link)", clean(&name))),
        }
    }
    let client_driver = link_name(&paths.sys.join("bus/i2c/devices").join(&client).join("driver"));
    Lookup::Elsewhere { others, client_driver }
}

/// Why there is no RTC to read.
#[derive(Debug, thiserror::Error)]
pub enum RtcSelectError {
    /// The bus cannot be used (and sysfs knows no kernel RTC of its 0x68).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A kernel driver holds 0x68, but no RTC device belongs to it.
    #[error(
        "{} holds 0x68 on {bus} (i2cdetect shows UU), but no RTC device belongs to it (RTC devices: {}); \
         a DS3231 needs dtoverlay=i2c-rtc,ds3231, or no overlay at all",
        holder(.client_driver.as_deref()),
        listed(.others)
    )]
    NoRtcDevice {
        /// The bus, as shown in messages.
        bus: String,
        /// The driver bound to 0x68, when sysfs says.
        client_driver: Option<String>,
        /// The RTC devices there are, each with the device it belongs to.
        others: Vec<String>,
    },
}

/// "kernel driver mpu6050", or "a kernel driver" when sysfs does not say.
fn holder(driver: Option<&str>) -> String {
    driver.map_or_else(|| "a kernel driver".to_owned(), |d| format!("kernel driver {d}"))
}

/// The RTC devices listed, or "there is none".
fn listed(others: &[String]) -> String {
    if others.is_empty() {
        "there is none".to_owned()
    } else {
        others.join(", ")
    }
}

/// What [`select_rtc`] needs to know of the machine (or its simulation).
pub trait RtcHost {
    /// The bus, as shown in messages.
    fn bus(&self) -> String;
    /// Who has 0x68 on the bus.
    fn probe(&mut self) -> Probe;
    /// The DS3231 over i2c-dev.
    fn i2c_dev(&mut self) -> Result<Box<dyn RtcDevice>, RtcSelectError>;
    /// The kernel RTC device of the bus's 0x68.
    fn locate(&mut self) -> Lookup;
    /// The RTC device read when sysfs cannot say which one is the DS3231.
    fn fallback(&self) -> KernelRtcNode;
    /// The kernel RTC device `node`, read-only.
    fn kernel_rtc(&mut self, node: &KernelRtcNode) -> Box<dyn RtcDevice>;
}

/// Chooses the way the DS3231 is read (see the module documentation), or
/// says why there is none.
pub fn select_rtc(host: &mut dyn RtcHost) -> Result<Box<dyn RtcDevice>, RtcSelectError> {
    let bus = host.bus();
    match host.probe() {
        Probe::Free => host.i2c_dev(),
        Probe::KernelDriver => match host.locate() {
            Lookup::Found(node) => Ok(host.kernel_rtc(&node)),
            Lookup::Unreadable(why) => {
                let node = host.fallback();
                tracing::warn!(
                    "a kernel driver holds 0x68 on {bus}, but sysfs does not say which RTC device is it ({why}); \
                     reading {}",
                    node.dev.display()
                );
                Ok(host.kernel_rtc(&node))
            }
            Lookup::Elsewhere { others, client_driver } => {
                let e = RtcSelectError::NoRtcDevice { bus, client_driver, others };
                tracing::warn!("{e}");
                Err(e)
            }
        },
        Probe::Unavailable(why) => match host.locate() {
            Lookup::Found(node) => {
                tracing::info!("{why}; the kernel's driver has the chip at 0x68: reading {}", node.dev.display());
                Ok(host.kernel_rtc(&node))
            }
            _ => Err(why.into()),
        },
    }
}

/// The machine: the configured I2C bus, sysfs and `/dev`.
#[derive(Debug, Clone)]
pub struct HardwareRtc {
    bus: PathBuf,
    paths: SysPaths,
}

impl HardwareRtc {
    /// The DS3231 on `bus` (e.g. `/dev/i2c-1`), its kernel RTC looked up
    /// under `paths`.
    pub fn new(bus: impl Into<PathBuf>, paths: SysPaths) -> HardwareRtc {
        HardwareRtc { bus: bus.into(), paths }
    }
}

impl RtcHost for HardwareRtc {
    fn bus(&self) -> String {
        self.bus.display().to_string()
    }

    fn probe(&mut self) -> Probe {
        probe_address(&self.bus, DS3231_ADDRESS)
    }

    fn i2c_dev(&mut self) -> Result<Box<dyn RtcDevice>, RtcSelectError> {
        let dev = open_i2c(&self.bus)?;
        Ok(Box::new(I2cDevRtc::new(dev, format!("DS3231 at 0x68 on {} (i2c-dev)", self.bus.display()))))
    }

    fn locate(&mut self) -> Lookup {
        match bus_number(&self.bus) {
            Some(n) => find_kernel_rtc(&self.paths, n, DS3231_ADDRESS),
            None => Lookup::Unreadable(format!("{} is not named i2c-N", self.bus.display())),
        }
    }

    fn fallback(&self) -> KernelRtcNode {
        KernelRtcNode { dev: self.paths.dev.join("rtc0"), driver: None }
    }

    fn kernel_rtc(&mut self, node: &KernelRtcNode) -> Box<dyn RtcDevice> {
        Box::new(KernelRtc::new(DevRtc::new(&node.dev), &node.dev, node.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rtc::{RtcDeviceError, RtcError, RtcReading};
    use std::os::unix::fs::symlink;

    /// A sysfs tree in a temporary directory.
    struct FakeSys {
        dir: tempfile::TempDir,
    }

    impl FakeSys {
        fn new() -> FakeSys {
            let s = FakeSys { dir: tempfile::tempdir().unwrap() };
            std::fs::create_dir_all(s.sys().join("class/rtc")).unwrap();
            s
        }

        fn sys(&self) -> PathBuf {
            self.dir.path().join("sys")
        }

        fn paths(&self) -> SysPaths {
            SysPaths { sys: self.sys(), dev: self.dir.path().join("dev") }
        }

        /// A device directory with a driver link (if any).
        fn device(&self, path: &str, driver: Option<&str>) -> PathBuf {
            let dev = self.sys().join("devices").join(path);
            std::fs::create_dir_all(&dev).unwrap();
            if let Some(d) = driver {
                let drv = self.sys().join("bus/i2c/drivers").join(d);
                std::fs::create_dir_all(&drv).unwrap();
                symlink(&drv, dev.join("driver")).unwrap();
            }
            dev
        }

        /// An I2C client `name` (`1-0068`), listed under bus/i2c/devices.
        fn client(&self, name: &str, driver: Option<&str>) -> PathBuf {
            let dev = self.device(&format!("platform/i2c@7e804000/i2c-1/{name}"), driver);
            std::fs::create_dir_all(self.sys().join("bus/i2c/devices")).unwrap();
            symlink(&dev, self.sys().join("bus/i2c/devices").join(name)).unwrap();
            dev
        }

        /// `/sys/class/rtc/<rtc>` belonging to `device`, with a `name` file.
        fn rtc(&self, rtc: &str, device: &Path, name: &str) {
            let dir = device.join("rtc").join(rtc);
            std::fs::create_dir_all(&dir).unwrap();
            symlink(device, dir.join("device")).unwrap();
            std::fs::write(dir.join("name"), name).unwrap();
            symlink(&dir, self.sys().join("class/rtc").join(rtc)).unwrap();
        }
    }

    #[test]
    fn the_bus_number_comes_from_the_device_name() {
        assert_eq!(bus_number(Path::new("/dev/i2c-1")), Some(1));
        assert_eq!(bus_number(Path::new("/dev/i2c-22")), Some(22));
        assert_eq!(bus_number(Path::new("/dev/i2c")), None);
        assert_eq!(bus_number(Path::new("/dev/i2c-x")), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("i2c-3"), b"").unwrap();
        symlink(dir.path().join("i2c-3"), dir.path().join("rtc-bus")).unwrap();
        assert_eq!(bus_number(&dir.path().join("rtc-bus")), Some(3), "a link is followed");
    }

    #[test]
    fn on_a_pi_5_the_ds3231_is_rtc1_not_the_socs_rtc0() {
        let fake = FakeSys::new();
        let soc = fake.device("platform/soc/soc:rpi_rtc", Some("rpi-rtc"));
        fake.rtc("rtc0", &soc, "rpi-rtc soc:rpi_rtc\n");
        let client = fake.client("1-0068", Some("rtc-ds1307"));
        fake.rtc("rtc1", &client, "rtc-ds1307 1-0068\n");
        let found = find_kernel_rtc(&fake.paths(), 1, 0x68);
        let node = KernelRtcNode { dev: fake.paths().dev.join("rtc1"), driver: Some("rtc-ds1307".into()) };
        assert_eq!(found, Lookup::Found(node.clone()));
        assert_eq!(node.describe(), format!("{} (kernel driver rtc-ds1307, read-only)", node.dev.display()));
        // Another bus number is not this chip.
        match find_kernel_rtc(&fake.paths(), 2, 0x68) {
            Lookup::Elsewhere { others, client_driver } => {
                assert_eq!(others, ["rtc0 (soc:rpi_rtc)", "rtc1 (1-0068)"]);
                assert_eq!(client_driver, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_driver_comes_from_the_name_file_without_a_driver_link() {
        let fake = FakeSys::new();
        let client = fake.client("1-0068", None);
        fake.rtc("rtc0", &client, "rtc-ds1307\n");
        match find_kernel_rtc(&fake.paths(), 1, 0x68) {
            Lookup::Found(node) => assert_eq!(node.driver.as_deref(), Some("rtc-ds1307")),
            other => panic!("{other:?}"),
        }
        std::fs::write(fake.sys().join("class/rtc/rtc0/name"), "\u{1b}[31m\n").unwrap();
        match find_kernel_rtc(&fake.paths(), 1, 0x68) {
            Lookup::Found(node) => assert_eq!(node.driver.as_deref(), Some("[31m"), "printable only"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_driver_without_an_rtc_and_a_missing_sysfs_are_told_apart() {
        let fake = FakeSys::new();
        fake.client("1-0068", Some("mpu6050"));
        assert_eq!(
            find_kernel_rtc(&fake.paths(), 1, 0x68),
            Lookup::Elsewhere { others: vec![], client_driver: Some("mpu6050".into()) }
        );
        let none = SysPaths { sys: fake.dir.path().join("nothing"), dev: PathBuf::from("/dev") };
        assert!(matches!(find_kernel_rtc(&none, 1, 0x68), Lookup::Unreadable(e) if e.contains("class/rtc")));
    }

    /// A host that answers as told and records what was opened.
    struct FakeHost {
        probe: Option<Probe>,
        lookup: Lookup,
        opened: Vec<String>,
    }

    /// A device that only describes itself.
    struct Named(String, bool);

    impl RtcDevice for Named {
        fn read(&mut self) -> Result<RtcReading, RtcDeviceError> {
            Err(RtcError { operation: "reading", detail: "not read in this test".into() }.into())
        }
        fn write(&mut self, _: i64) -> Result<(), RtcDeviceError> {
            Err(RtcError { operation: "setting", detail: "not written in this test".into() }.into())
        }
        fn writable(&self) -> bool {
            self.1
        }
        fn describe(&self) -> String {
            self.0.clone()
        }
    }

    impl RtcHost for FakeHost {
        fn bus(&self) -> String {
            "/dev/i2c-1".into()
        }
        fn probe(&mut self) -> Probe {
            self.probe.take().expect("probed once")
        }
        fn i2c_dev(&mut self) -> Result<Box<dyn RtcDevice>, RtcSelectError> {
            self.opened.push("i2c-dev".into());
            Ok(Box::new(Named("i2c-dev".into(), true)))
        }
        fn locate(&mut self) -> Lookup {
            self.lookup.clone()
        }
        fn fallback(&self) -> KernelRtcNode {
            KernelRtcNode { dev: "/dev/rtc0".into(), driver: None }
        }
        fn kernel_rtc(&mut self, node: &KernelRtcNode) -> Box<dyn RtcDevice> {
            self.opened.push(node.dev.display().to_string());
            Box::new(Named(node.describe(), false))
        }
    }

    /// What [`crate::devices::open_rtc`] logs of the choice ("RTC: …" or
    /// "no RTC: …"), and what the host opened.
    fn select(probe: Probe, lookup: Lookup) -> (String, Vec<String>) {
        let mut host = FakeHost { probe: Some(probe), lookup, opened: vec![] };
        let chosen = match select_rtc(&mut host) {
            Ok(d) => format!("RTC: {}", d.describe()),
            Err(e) => format!("no RTC: {e}"),
        };
        (chosen, host.opened)
    }

    #[test]
    fn every_branch_of_the_selection() {
        let rtc1 = KernelRtcNode { dev: "/dev/rtc1".into(), driver: Some("rtc-ds1307".into()) };
        let found = Lookup::Found(rtc1);
        let elsewhere = Lookup::Elsewhere { others: vec!["rtc0 (soc:rtc)".into()], client_driver: Some("x".into()) };
        let rtc1_chosen = "RTC: /dev/rtc1 (kernel driver rtc-ds1307, read-only)";
        // Free: i2c-dev, sysfs not asked.
        assert_eq!(select(Probe::Free, found.clone()), ("RTC: i2c-dev".into(), vec!["i2c-dev".into()]));
        // EBUSY: the client's RTC device.
        assert_eq!(select(Probe::KernelDriver, found.clone()), (rtc1_chosen.into(), vec!["/dev/rtc1".into()]));
        // EBUSY, sysfs silent: /dev/rtc0.
        let (chosen, _) = select(Probe::KernelDriver, Lookup::Unreadable("no sysfs".into()));
        assert_eq!(chosen, "RTC: /dev/rtc0 (kernel driver unknown, read-only)");
        // EBUSY, sysfs shows only other RTCs: none, and why.
        let (e, opened) = select(Probe::KernelDriver, elsewhere.clone());
        assert!(e.starts_with("no RTC: kernel driver x holds 0x68 on /dev/i2c-1 (i2cdetect shows UU)"), "{e}");
        assert!(e.contains("(RTC devices: rtc0 (soc:rtc))"), "{e}");
        assert!(opened.is_empty());
        // No bus: the kernel's RTC when sysfs has it, else the bus's error.
        let gone = || Probe::Unavailable(BusError::Missing { path: "/dev/i2c-1".into() });
        let why = "no RTC: /dev/i2c-1 does not exist: enable I2C with raspi-config (Interface Options, I2C), \
                   or dtparam=i2c_arm=on in config.txt, and reboot";
        assert_eq!(select(gone(), found).0, rtc1_chosen);
        assert_eq!(select(gone(), elsewhere).0, why);
        assert_eq!(select(gone(), Lookup::Unreadable("x".into())), (why.into(), vec![]));
        // Without a driver name, and without any RTC device.
        let anonymous = Lookup::Elsewhere { others: vec![], client_driver: None };
        assert_eq!(
            select(Probe::KernelDriver, anonymous).0,
            "no RTC: a kernel driver holds 0x68 on /dev/i2c-1 (i2cdetect shows UU), but no RTC device belongs to it \
             (RTC devices: there is none); a DS3231 needs dtoverlay=i2c-rtc,ds3231, or no overlay at all"
        );
    }
}
