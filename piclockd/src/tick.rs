//! The tick thread: the only place that pulses the coil.
//!
//! [`spawn`] starts it (real-time priority, locked memory where permitted)
//! and returns a [`TickHandle`] that owns both of its channels: commands go
//! in through one mpsc channel, each with a reply, and the thread publishes a
//! [`Snapshot`] of its state after every action through one watch channel.
//! Dropping the handle (or [`TickHandle::stop`]) stops the thread and waits
//! for it, so both coil lines are low on every exit path of the daemon.

#[cfg(test)]
mod tests;
mod thread;

use crate::coil::Coil;
use crate::hardware::{HardwareKind, SimulatedHands};
use crate::notify::Notifier;
use crate::sensor_lines::SensorSetup;
use crate::timebase::TrueClock;
use crate::zone::Zone;
use piclock_core::engine::{ClockState, Engine, EngineError};
use piclock_core::hand_sensor::monitor::WindowSource;
use piclock_core::hand_sensor::{SensorKind, Window};
use piclock_core::journal::{Journal, Recovered, SlotStore};
use piclock_core::pulse_config::PulseConfig;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thread::TickLoop;
use tokio::sync::{oneshot, watch};

/// Real-time priority of the tick thread (SCHED_FIFO).
pub const TICK_PRIORITY: i32 = 50;
/// Stack of the tick thread (its deepest path is a journal write and a log line).
const TICK_STACK: usize = 512 * 1024;
/// How much of it is touched (and so locked) before the first tick.
const TICK_STACK_PREFAULT: usize = 128 * 1024;

/// A move whose leading edge comes later than this counts as late.
pub const LATE_TICK: Duration = Duration::from_millis(1);

/// A wake-up later than this (real time) counts as a stalled loop: no keep-alive.
pub const WATCHDOG_LATE_LIMIT: Duration = Duration::from_millis(100);

/// The position store the thread journals to.
pub type PositionJournal = Journal<Box<dyn SlotStore + Send>>;

/// A reply channel for a command.
pub type Reply<T> = oneshot::Sender<T>;

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Bad argument: names the field and the accepted range.
    #[error("{0}")]
    Invalid(EngineError),
    /// The device or store needed failed: what happened, in words (the
    /// fault's text, as `Faults` shows it).
    #[error("{0}")]
    Hardware(String),
}

/// Requests from the D-Bus side.
#[derive(Debug)]
pub enum Command {
    /// The hands show `position` now.
    SetPosition(u32, Reply<Result<(), CommandError>>),
    /// Stop ticking.
    Pause(Reply<()>),
    /// Start again and catch up.
    Resume(Reply<()>),
    /// Move the hands by this many ticks.
    Step(i64, Reply<Result<(), CommandError>>),
    /// New pulse settings (validated).
    SetConfig(PulseConfig, Reply<()>),
    /// New time zone.
    SetZone(Zone, Reply<()>),
    /// Find the position with the hand sensors (refused without one).
    Home(Reply<Result<(), CommandError>>),
    /// Stop the thread (both lines low).
    Shutdown,
}

/// What the tick thread publishes after every action.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Contract state.
    pub state: ClockState,
    /// Believed hand position (0 while unknown).
    pub hands: u32,
    /// Whether a hand position is known at all.
    pub hands_known: bool,
    /// Manual steps still queued (signed).
    pub pending_steps: i64,
    /// Whether it is certain.
    pub certain: bool,
    /// Whether the user paused the clock (the state may still show manual steps running).
    pub paused: bool,
    /// Hands minus true time, s.
    pub offset: i64,
    /// Expected seconds until right.
    pub catch_up_seconds: u32,
    /// True time when this was taken, µs.
    pub true_us: i64,
    /// The correction (true − base clock) in force then, µs.
    pub correction_us: i64,
    /// Dial size.
    pub dial_seconds: u32,
    /// Zone name.
    pub zone: String,
    /// Human-readable faults.
    pub faults: Vec<String>,
    /// The device faults among them, as (`Fault` component, message), for the `Fault` signal.
    pub device_faults: Vec<(&'static str, String)>,
    /// Where the simulated hands physically are (simulation only).
    pub physical: Option<u32>,
    /// When the tick thread last ran its loop (monotonic), for the watchdog.
    pub alive: Instant,
    /// Moves fired since the daemon started.
    pub tick_count: u64,
    /// Of those, how many had their leading edge more than [`LATE_TICK`] late.
    pub late_tick_count: u64,
    /// The latest leading edge so far, µs after its deadline.
    pub max_tick_late_us: u64,
    /// The hand sensors (empty when there are none).
    pub sensors: SensorStatus,
}

/// One correction of the belief by a hand sensor, for the `SensorCorrected` signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectionNote {
    /// Counts corrections since the start (1 for the first).
    pub seq: u32,
    /// Steps added to the belief (positive: the hands were ahead of it).
    pub steps: i32,
    /// In words.
    pub reason: String,
}

/// The hand sensors in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SensorStatus {
    /// The sensors configured, seconds first (empty: none).
    pub configured: Vec<SensorKind>,
    /// True time of the last pass that checked the belief (µs; 0: none yet).
    pub last_check_us: u64,
    /// Corrections of the belief since the start.
    pub corrections: u32,
    /// Each configured sensor's window and its source, or how many passes
    /// of learning it has so far.
    pub windows: Vec<(SensorKind, WindowState)>,
    /// The latest corrections (at most [`RECENT_CORRECTIONS`]), oldest first.
    pub recent: Vec<CorrectionNote>,
    /// Homing with only a seconds sensor found the second hand here; the
    /// hour and minute are still asked for (`SetHandPosition` with `H:MM`).
    pub seconds_found: Option<u32>,
    /// Homing runs.
    pub homing: bool,
}

/// A sensor's window and where it came from, or the passes measured so far
/// while it is learned.
pub type WindowState = Result<(Window, WindowSource), usize>;

/// Corrections kept in [`SensorStatus::recent`].
pub const RECENT_CORRECTIONS: usize = 16;

impl Snapshot {
    /// What is published before the tick thread has run: nothing known yet.
    pub fn initial(dial_seconds: u32, zone: &str, true_us: i64) -> Snapshot {
        Snapshot {
            state: ClockState::NeedsPosition,
            hands: 0,
            hands_known: false,
            pending_steps: 0,
            certain: false,
            paused: false,
            offset: 0,
            catch_up_seconds: 0,
            true_us,
            correction_us: 0,
            dial_seconds,
            zone: zone.to_owned(),
            faults: vec![],
            device_faults: vec![],
            physical: None,
            alive: Instant::now(),
            tick_count: 0,
            late_tick_count: 0,
            max_tick_late_us: 0,
            sensors: SensorStatus::default(),
        }
    }
}

/// What the journal said at start, in words for the log and Faults.
pub fn describe_recovery(r: &Recovered) -> String {
    match r {
        Recovered::Empty => "no hand position recorded yet: set it (SetHandPosition)".into(),
        Recovered::Corrupt { reason } => format!("position store unreadable ({reason}): set the hand position (SetHandPosition)"),
        Recovered::DialMismatch { stored } => format!("position store is for a {stored}-second dial: set the hand position (SetHandPosition)"),
        Recovered::Committed { position } => format!("hand position {position} recovered"),
        Recovered::InFlight { from, to } => format!(
            "unclean stop while moving {from} -> {to}: the hands are at one of the two; one settling pulse will make them certain"
        ),
    }
}

/// Everything the tick thread starts from.
pub struct TickSetup {
    /// The engine, with the dial and pulse settings (the position comes from `recovered`).
    pub engine: Engine,
    /// The position journal.
    pub journal: PositionJournal,
    /// What the journal recovered at start.
    pub recovered: Recovered,
    /// The coil driver.
    pub coil: Box<dyn Coil>,
    /// True time.
    pub clock: Arc<dyn TrueClock>,
    /// The dial's zone.
    pub zone: Zone,
    /// The `Fault` component of the position store (`fram` or `store`).
    pub store_component: &'static str,
    /// systemd's watchdog, when it asks for keep-alives, and its interval.
    pub watchdog: Option<(Arc<Notifier>, Duration)>,
    /// Real or simulated parts (a simulation refused real time is no warning).
    pub kind: HardwareKind,
    /// The hands, when they can be seen and turned (simulation).
    pub hands: Option<Box<dyn SimulatedHands>>,
    /// The hand sensors, when `[sensor]` configures any.
    pub sensors: Option<SensorSetup>,
}

/// Why the tick thread could not be started, or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The thread could not be created.
    #[error("starting the tick thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// [`TickHandle::scheduling`] was called again.
    #[error("the tick thread's scheduling was already read")]
    SchedulingTaken,
    /// The thread ended before it told its scheduling.
    #[error("the tick thread ended before it started ticking")]
    EndedEarly,
    /// Waiting for the thread failed.
    #[error("waiting for the tick thread: {0}")]
    Join(#[source] tokio::task::JoinError),
    /// The thread panicked.
    #[error("the tick thread panicked (coil lines were driven low by its guard)")]
    Panicked,
}

/// The running tick thread and its two channels.
pub struct TickHandle {
    commands: Sender<Command>,
    snapshots: watch::Receiver<Snapshot>,
    /// What [`prepare_realtime`] got, until [`TickHandle::scheduling`] takes it.
    scheduling: Option<oneshot::Receiver<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the tick thread. Its first act is to ask for real-time priority
/// and locked memory; [`TickHandle::scheduling`] then tells what it got.
pub fn spawn(setup: TickSetup) -> Result<TickHandle, TickError> {
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Command>();
    let initial = Snapshot::initial(setup.engine.dial().seconds(), setup.zone.name(), setup.clock.now_us());
    let (snap_tx, snap_rx) = watch::channel(initial);
    let kind = setup.kind;
    let tick = TickLoop::new(setup, cmd_rx, snap_tx);
    let (sched_tx, sched_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("piclockd-tick".into())
        .stack_size(TICK_STACK)
        .spawn(move || {
            let _ = sched_tx.send(prepare_realtime(kind));
            tick.run()
        })
        .map_err(TickError::Spawn)?;
    Ok(TickHandle { commands: cmd_tx, snapshots: snap_rx, scheduling: Some(sched_rx), thread: Some(thread) })
}

/// Real-time priority and locked memory where permitted; the simulator asks
/// too, so that its tick timing means the same. Every refusal is logged
/// (a warning on real hardware), and the outcome comes back in words (see
/// [`describe_scheduling`]).
fn prepare_realtime(kind: HardwareKind) -> String {
    let simulated = kind == HardwareKind::Simulated;
    let priority = crate::rt::enable_realtime(TICK_PRIORITY);
    match &priority {
        Ok(()) => tracing::info!("tick thread runs at real-time priority {TICK_PRIORITY} (SCHED_FIFO)"),
        Err(e) if simulated => tracing::info!("simulated tick thread without real-time priority: {e}"),
        Err(e) => tracing::warn!("tick thread runs without real-time priority: {e}"),
    }
    let memory = crate::rt::lock_memory();
    match &memory {
        Ok(()) => tracing::info!("memory locked (mlockall)"),
        Err(e) if simulated => tracing::info!("simulated tick thread: memory not locked: {e}"),
        Err(e) => tracing::warn!("memory not locked (page faults may delay ticks): {e}"),
    }
    crate::rt::prefault_stack(TICK_STACK_PREFAULT);
    describe_scheduling(&priority, &memory)
}

/// The `TickScheduling` property: `SCHED_FIFO priority 50; memory locked`,
/// or what was refused, e.g. `SCHED_OTHER (SCHED_FIFO priority 50 refused:
/// EPERM); memory not locked (mlockall refused: ENOMEM)`.
pub fn describe_scheduling(
    priority: &Result<(), crate::rt::Refused>,
    memory: &Result<(), crate::rt::Refused>,
) -> String {
    let priority = match priority {
        Ok(()) => format!("SCHED_FIFO priority {TICK_PRIORITY}"),
        Err(e) => format!("SCHED_OTHER (SCHED_FIFO priority {TICK_PRIORITY} refused: {})", e.errno),
    };
    let memory = match memory {
        Ok(()) => "memory locked".to_owned(),
        Err(e) => format!("memory not locked (mlockall refused: {})", e.errno),
    };
    format!("{priority}; {memory}")
}

impl TickHandle {
    /// Where commands go.
    pub fn commands(&self) -> Sender<Command> {
        self.commands.clone()
    }

    /// The thread's snapshots.
    pub fn snapshots(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    /// Waits until the thread has asked for real-time priority and locked
    /// memory, and tells what it got (see [`describe_scheduling`]). It stays
    /// so while the thread runs. Only the first call waits; later ones are
    /// refused.
    pub async fn scheduling(&mut self) -> Result<String, TickError> {
        let rx = self.scheduling.take().ok_or(TickError::SchedulingTaken)?;
        rx.await.map_err(|_| TickError::EndedEarly)
    }

    /// Stops the thread and waits for it (off the async runtime's threads).
    /// Err if it had panicked (its coil guard drove the lines low even then).
    pub async fn stop(mut self) -> Result<(), TickError> {
        let thread = self.thread.take();
        let _ = self.commands.send(Command::Shutdown);
        let joined = tokio::task::spawn_blocking(move || thread.map(|t| t.join())).await.map_err(TickError::Join)?;
        match joined {
            Some(Err(_)) => Err(TickError::Panicked),
            _ => Ok(()),
        }
    }
}

impl Drop for TickHandle {
    /// Every exit path stops the thread and waits for it: lines low first.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Command::Shutdown);
            let _ = thread.join();
        }
    }
}
