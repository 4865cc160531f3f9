//! The tick thread: the only place that pulses the coil.
//!
//! It asks the [`Engine`] when to act next, waits for that instant (woken
//! early by commands), journals the move, fires it, commits it, and publishes
//! a [`Snapshot`] of its state to the async side through one watch channel.
//! Commands come the other way through one mpsc channel, each with a reply.

use crate::coil::{Coil, MoveTime};
use crate::notify::Notifier;
use crate::timebase::TrueClock;
use crate::zone::Zone;
use piclock_core::engine::{ClockState, Engine, EngineError};
use piclock_core::journal::{Journal, Recovered, SlotStore};
use piclock_core::pulse_config::PulseConfig;
use piclock_dbus::names::component;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// How long before a move the thread stops listening to commands and
/// writes the journal; the coil then waits precisely for the edge.
const PREPARE_AHEAD: Duration = Duration::from_millis(10);

/// How often a failed coil or store is tried again.
const RETRY_AFTER_US: i64 = 10_000_000;

/// The position store the thread journals to.
pub type PositionJournal = Journal<Box<dyn SlotStore + Send>>;

/// A reply channel for a command.
pub type Reply<T> = oneshot::Sender<T>;

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Bad argument: the message names it and the accepted range.
    Invalid(String),
    /// The device or store needed failed.
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
    /// Pulse settings in force.
    pub config: PulseConfig,
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
}

/// A move whose leading edge comes later than this counts as late.
pub const LATE_TICK: Duration = Duration::from_millis(1);

impl Snapshot {
    /// What is published before the tick thread has run: nothing known yet.
    pub fn initial(dial_seconds: u32, config: PulseConfig, zone: &str, true_us: i64) -> Snapshot {
        Snapshot {
            state: ClockState::NeedsPosition,
            hands: 0,
            certain: false,
            paused: false,
            offset: 0,
            catch_up_seconds: 0,
            true_us,
            correction_us: 0,
            dial_seconds,
            config,
            zone: zone.to_owned(),
            faults: vec![],
            device_faults: vec![],
            physical: None,
            alive: Instant::now(),
            tick_count: 0,
            late_tick_count: 0,
            max_tick_late_us: 0,
        }
    }
}

/// Everything the thread owns.
pub struct TickLoop {
    /// The `Fault` component of the position store (`fram` or `store`).
    store_component: &'static str,
    engine: Engine,
    journal: PositionJournal,
    coil: Box<dyn Coil>,
    clock: Arc<dyn TrueClock>,
    zone: Zone,
    commands: Receiver<Command>,
    snapshots: watch::Sender<Snapshot>,
    store_fault: Option<String>,
    coil_fault: Option<String>,
    fault_since_us: i64,
    doubt_note: Option<String>,
    tick_count: u64,
    late_tick_count: u64,
    max_tick_late: Duration,
    watchdog: Option<Watchdog>,
}

/// Keep-alives for systemd's watchdog, sent only while the loop wakes on time.
struct Watchdog {
    notifier: Arc<Notifier>,
    every: Duration,
    last: Option<Instant>,
}

/// A wake-up later than this (real time) counts as a stalled loop: no keep-alive.
pub const WATCHDOG_LATE_LIMIT: Duration = Duration::from_millis(100);

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

impl TickLoop {
    /// Builds the loop from what the journal recovered.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut engine: Engine,
        journal: PositionJournal,
        recovered: &Recovered,
        coil: Box<dyn Coil>,
        clock: Arc<dyn TrueClock>,
        zone: Zone,
        commands: Receiver<Command>,
        snapshots: watch::Sender<Snapshot>,
    ) -> TickLoop {
        let now = clock.now_us();
        let mut doubt_note = None;
        match *recovered {
            Recovered::Committed { position } => {
                engine.set_position(position, now);
                // A crash and a quick restart can follow the last step by
                // milliseconds: let the rotor rest before the next pulse.
                engine.let_rotor_settle(now);
            }
            Recovered::InFlight { from, to } => {
                engine.recover_in_flight(from, to, now);
                doubt_note = Some(describe_recovery(recovered));
            }
            // Said in Faults until the position is set: the store had
            // something in it that could not be used.
            Recovered::Corrupt { .. } | Recovered::DialMismatch { .. } => {
                doubt_note = Some(describe_recovery(recovered))
            }
            Recovered::Empty => {}
        }
        TickLoop {
            engine,
            journal,
            coil,
            clock,
            zone,
            commands,
            snapshots,
            store_fault: None,
            store_component: component::STORE,
            coil_fault: None,
            fault_since_us: 0,
            doubt_note,
            tick_count: 0,
            late_tick_count: 0,
            max_tick_late: Duration::ZERO,
            watchdog: None,
        }
    }

    /// Names the position store's component for `Fault` signals (`fram`
    /// for the FRAM; `store`, the default, for the file).
    pub fn with_store_component(mut self, component: &'static str) -> TickLoop {
        self.store_component = component;
        self
    }

    /// Sends `WATCHDOG=1` through `notifier` about every `interval / 2`,
    /// but only after wake-ups that were on time (see [`WATCHDOG_LATE_LIMIT`]).
    pub fn with_watchdog(mut self, notifier: Arc<Notifier>, interval: Duration) -> TickLoop {
        self.watchdog = Some(Watchdog { notifier, every: interval / 2, last: None });
        self
    }

    fn feed_watchdog(&mut self, woke_late: Duration) {
        let Some(w) = self.watchdog.as_mut() else {
            return;
        };
        if woke_late > WATCHDOG_LATE_LIMIT {
            tracing::warn!("tick loop woke {} ms late; withholding the watchdog keep-alive", woke_late.as_millis());
            return;
        }
        if w.last.is_none_or(|t| t.elapsed() >= w.every) {
            w.notifier.watchdog();
            w.last = Some(Instant::now());
        }
    }

    fn publish(&self) {
        let now = self.clock.now_us();
        let zone = &self.zone;
        let st = self.engine.status(now, &|s| zone.offset_at(s));
        let mut faults = Vec::new();
        if let Some(f) = &self.coil_fault {
            faults.push(format!("coil: {f}"));
        }
        if let Some(f) = &self.store_fault {
            faults.push(format!("position store: {f}"));
        }
        if !self.engine.certain() {
            if let Some(n) = &self.doubt_note {
                faults.push(n.clone());
            }
        }
        let mut device_faults = Vec::new();
        if let Some(f) = &self.coil_fault {
            device_faults.push((component::GPIO, f.clone()));
        }
        if let Some(f) = &self.store_fault {
            device_faults.push((self.store_component, f.clone()));
        }
        let physical = self.coil.physical_position();
        if let (Some(ph), Some(h)) = (physical, st.hands) {
            if ph != h && self.engine.certain() {
                tracing::debug!(belief = h, simulated = ph, "belief and simulated hands differ");
            }
        }
        self.snapshots.send_replace(Snapshot {
            state: st.state,
            hands: st.hands.unwrap_or(0),
            certain: self.engine.certain(),
            paused: self.engine.paused(),
            offset: st.offset,
            catch_up_seconds: st.catch_up_seconds,
            true_us: now,
            correction_us: self.clock.correction_us(),
            dial_seconds: self.engine.dial().seconds(),
            config: *self.engine.config(),
            zone: self.zone.name().to_owned(),
            faults,
            device_faults,
            physical,
            alive: Instant::now(),
            tick_count: self.tick_count,
            late_tick_count: self.late_tick_count,
            max_tick_late_us: u64::try_from(self.max_tick_late.as_micros()).unwrap_or(u64::MAX),
        });
    }

    fn refresh_fault(&mut self) {
        let fault = self.coil_fault.clone().or_else(|| self.store_fault.clone());
        self.engine.set_fault(fault);
    }

    /// Handles one command. Returns false on shutdown.
    fn handle(&mut self, cmd: Command) -> bool {
        let now = self.clock.now_us();
        match cmd {
            Command::SetPosition(position, reply) => {
                let r = self
                    .coil
                    .crown_set(position)
                    .map_err(|e| CommandError::Hardware(format!("moving the simulated hands: {e}")))
                    .and_then(|()| {
                        self.journal
                            .commit(position)
                            .map_err(|e| CommandError::Hardware(format!("recording the hand position: {e}")))
                    });
                if r.is_ok() {
                    self.engine.set_position(position, now);
                    self.doubt_note = None;
                    self.store_fault = None;
                    self.refresh_fault();
                    tracing::info!(position, "hand position set");
                }
                self.publish();
                let _ = reply.send(r);
            }
            Command::Pause(reply) => {
                self.engine.pause();
                tracing::info!("paused");
                self.publish();
                let _ = reply.send(());
            }
            Command::Resume(reply) => {
                self.engine.resume();
                tracing::info!("resumed");
                self.publish();
                let _ = reply.send(());
            }
            Command::Step(ticks, reply) => {
                let r = self.engine.step(ticks).map_err(|e: EngineError| CommandError::Invalid(e.to_string()));
                self.publish();
                let _ = reply.send(r);
            }
            Command::SetConfig(config, reply) => {
                self.engine.set_config(config);
                self.publish();
                let _ = reply.send(());
            }
            Command::SetZone(zone, reply) => {
                tracing::info!(zone = zone.name(), "time zone changed");
                self.zone = zone;
                self.publish();
                let _ = reply.send(());
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// Runs until `Shutdown` or until the command channel closes. Both coil
    /// lines are low when this returns (and when the coil is dropped).
    pub fn run(mut self) {
        self.publish();
        'outer: loop {
            let now = self.clock.now_us();
            if (self.coil_fault.is_some() || self.store_fault.is_some()) && now - self.fault_since_us > RETRY_AFTER_US {
                self.retry_faults(now);
            }
            let zone = self.zone.clone();
            let tz = move |s: i64| zone.offset_at(s);
            let decision = self.engine.next(now, &tz);
            let deadline = self.clock.instant_at(decision.at_us);
            // Wait for the slot, serving commands meanwhile.
            let wake = if decision.action.is_some() {
                deadline.checked_sub(PREPARE_AHEAD).unwrap_or(deadline)
            } else {
                deadline
            };
            // Wait for the slot, serving commands meanwhile. When there is no
            // time left to wait (always the case at high --speed), still take
            // one pending command, so that commands are never starved.
            let left = wake.saturating_duration_since(Instant::now());
            let received = if left.is_zero() {
                match self.commands.try_recv() {
                    Ok(cmd) => Some(cmd),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break 'outer,
                }
            } else {
                match self.commands.recv_timeout(left) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break 'outer,
                }
            };
            if let Some(cmd) = received {
                if !self.handle(cmd) {
                    break 'outer;
                }
                continue 'outer;
            }
            self.feed_watchdog(Instant::now().saturating_duration_since(wake));
            match decision.action {
                Some(mv) => {
                    if let Err(e) = self.journal.begin(mv.from, mv.to) {
                        tracing::error!("journal: {e}; not pulsing");
                        self.store_fault = Some(e.to_string());
                        self.fault_since_us = now;
                        self.refresh_fault();
                        self.engine.passed(decision.at_us);
                        self.publish();
                        continue;
                    }
                    let at = MoveTime { real: deadline, true_us: decision.at_us };
                    let fired = self.coil.fire(&mv.waveform, at);
                    if let Some(late) = self.coil.lead_delay() {
                        self.tick_count += 1;
                        self.max_tick_late = self.max_tick_late.max(late);
                        if late > LATE_TICK {
                            self.late_tick_count += 1;
                            tracing::warn!(
                                "{:?} move {} -> {}: leading edge {} µs late",
                                mv.kind,
                                mv.from,
                                mv.to,
                                late.as_micros()
                            );
                        }
                    }
                    if let Err(e) = fired {
                        self.coil.release();
                        // The move may or may not have happened: believe the
                        // lower position, in doubt; the settling pulse follows.
                        self.engine.recover_in_flight(mv.from, mv.to, decision.at_us);
                        if e.late {
                            // The thread ran late (the machine stalled it): nothing
                            // is broken, the next slot settles the doubt.
                            tracing::warn!("coil: {e}; settling with the next pulse");
                            self.doubt_note =
                                Some(format!("a pulse was cut short while moving {} -> {}", mv.from, mv.to));
                        } else {
                            tracing::error!("coil: {e}");
                            self.coil_fault = Some(e.to_string());
                            self.fault_since_us = now;
                            self.doubt_note = Some(format!("the coil failed while moving {} -> {}", mv.from, mv.to));
                        }
                        self.refresh_fault();
                        self.publish();
                        continue;
                    }
                    if let Err(e) = self.journal.commit(mv.to) {
                        tracing::error!("journal: {e}");
                        self.store_fault = Some(e.to_string());
                        self.fault_since_us = now;
                        self.engine.moved(&mv, decision.at_us);
                        self.refresh_fault();
                        self.publish();
                        continue;
                    }
                    self.engine.moved(&mv, decision.at_us);
                    if mv.resolving {
                        tracing::info!(position = mv.to, "hand position certain again after the settling pulse");
                        self.doubt_note = None;
                    }
                }
                None => self.engine.passed(decision.at_us),
            }
            self.publish();
        }
        self.coil.release();
        tracing::info!("tick thread stopped; coil lines low");
    }

    fn retry_faults(&mut self, now: i64) {
        self.fault_since_us = now;
        if self.store_fault.is_some() {
            if let Some(h) = self.engine.hands() {
                match self.journal.commit(h) {
                    Ok(()) => {
                        tracing::info!("position store works again");
                        self.store_fault = None;
                    }
                    Err(e) => self.store_fault = Some(e.to_string()),
                }
            }
        }
        if self.coil_fault.is_some() {
            tracing::info!("trying the coil again");
            self.coil_fault = None;
        }
        self.refresh_fault();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coil::CoilError;
    use crate::timebase::VirtualClock;
    use piclock_core::dial::Dial;
    use piclock_core::journal::MemStore;
    use piclock_core::waveform::{MoveKind, Waveform};
    use std::sync::Mutex;

    /// A coil that records what it is asked to fire and fails chosen calls.
    struct FakeCoil {
        fired: Arc<Mutex<Vec<MoveKind>>>,
        fail_call: usize,
        late: bool,
    }

    impl Coil for FakeCoil {
        fn fire(&mut self, waveform: &Waveform, _at: MoveTime) -> Result<(), CoilError> {
            let mut f = self.fired.lock().unwrap_or_else(|e| e.into_inner());
            f.push(waveform.kind);
            if f.len() == self.fail_call {
                return Err(if self.late { CoilError::late("stalled") } else { CoilError::new("line broke") });
            }
            Ok(())
        }
        fn release(&mut self) {}
        fn supports_speed(&self, _: f64) -> bool {
            true
        }
    }

    fn initial_snapshot(dial: Dial) -> Snapshot {
        Snapshot::initial(dial.seconds(), PulseConfig::default(), "UTC", 0)
    }

    fn run_with(late: bool) -> (Vec<MoveKind>, Snapshot) {
        let clock: Arc<dyn TrueClock> = Arc::new(VirtualClock::new(50.0));
        let dial = Dial::TWELVE_HOUR;
        let zone = Zone::named("UTC").unwrap();
        let target = dial.wrap(clock.now_us().div_euclid(1_000_000));
        let store: Box<dyn SlotStore + Send> = Box::new(MemStore::new());
        let (mut journal, _) = Journal::open(store, dial.seconds()).unwrap();
        journal.commit(target).unwrap();
        let fired = Arc::new(Mutex::new(vec![]));
        let coil = FakeCoil { fired: fired.clone(), fail_call: 2, late };
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = Engine::new(dial, PulseConfig::default());
        let (snap_tx, snap_rx) = watch::channel(initial_snapshot(dial));
        let recovered = Recovered::Committed { position: target };
        let tick = TickLoop::new(engine, journal, &recovered, Box::new(coil), clock, zone, rx, snap_tx);
        let thread = std::thread::spawn(move || tick.run());
        std::thread::sleep(Duration::from_millis(200));
        let snap = snap_rx.borrow().clone();
        tx.send(Command::Shutdown).unwrap();
        thread.join().unwrap();
        let fired = fired.lock().unwrap().clone();
        (fired, snap)
    }

    #[test]
    fn a_late_pulse_is_settled_by_the_next_one_without_a_fault() {
        let (fired, snap) = run_with(true);
        assert!(fired.len() >= 6, "{fired:?}");
        // A move, the cut-short move, then the settling (fast) pulse, then
        // ticks again, after fast steps for the seconds the rotor rested
        // (a second at start and one after the cut-short move). The first
        // move is such a fast step, or a tick on a loaded machine.
        assert_eq!(fired[2], MoveKind::Fast, "{fired:?}");
        let ticks_from = fired.iter().rposition(|k| *k != MoveKind::Normal).map_or(0, |i| i + 1);
        assert!(ticks_from <= 5 && fired.len() - ticks_from >= 3, "ticking again after the catch-up: {fired:?}");
        assert!(snap.faults.is_empty(), "{:?}", snap.faults);
        assert_ne!(snap.state, ClockState::Fault);
        assert!(snap.certain);
    }

    #[test]
    fn commands_are_served_even_when_moves_leave_no_time_to_wait() {
        // At 1000x a tick is due every millisecond of real time: the thread
        // never sleeps, yet a command must be answered at once.
        let clock: Arc<dyn TrueClock> = Arc::new(VirtualClock::new(1000.0));
        let dial = Dial::TWELVE_HOUR;
        let target = dial.wrap(clock.now_us().div_euclid(1_000_000));
        let store: Box<dyn SlotStore + Send> = Box::new(MemStore::new());
        let (journal, _) = Journal::open(store, dial.seconds()).unwrap();
        let coil = FakeCoil { fired: Arc::new(Mutex::new(vec![])), fail_call: 0, late: false };
        let (tx, rx) = std::sync::mpsc::channel();
        let (snap_tx, snap_rx) = watch::channel(initial_snapshot(dial));
        let recovered = Recovered::Committed { position: target };
        let engine = Engine::new(dial, PulseConfig::default());
        let tick =
            TickLoop::new(engine, journal, &recovered, Box::new(coil), clock, Zone::named("UTC").unwrap(), rx, snap_tx);
        let thread = std::thread::spawn(move || tick.run());
        std::thread::sleep(Duration::from_millis(50));
        let (reply, answer) = oneshot::channel();
        let asked = Instant::now();
        tx.send(Command::Pause(reply)).unwrap();
        answer.blocking_recv().unwrap();
        assert!(asked.elapsed() < Duration::from_millis(200), "answered after {:?}", asked.elapsed());
        assert!(snap_rx.borrow().paused);
        tx.send(Command::Shutdown).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn a_device_error_is_a_fault_and_nothing_more_is_pulsed_for_a_while() {
        let (fired, snap) = run_with(false);
        // The moves: ticks, or fast steps for the second the rotor rested at
        // start; the second one fails, and nothing follows.
        assert_eq!(fired.len(), 2, "no pulse while the fault stands: {fired:?}");
        assert!(!fired.contains(&MoveKind::Reverse), "{fired:?}");
        assert_eq!(snap.state, ClockState::Fault);
        assert!(snap.faults.iter().any(|f| f.contains("line broke")), "{:?}", snap.faults);
        assert!(!snap.certain);
    }
}
