//! The loop of the tick thread.
//!
//! It asks the [`Engine`] when to act next, waits for that instant (woken
//! early by commands), journals the move, fires it, commits it, and
//! publishes a [`Snapshot`]. Each step is a small method: [`TickLoop::wait`],
//! [`TickLoop::handle`], [`TickLoop::fire`] and the `fail_*` steps.

use super::{
    describe_recovery, Command, CommandError, PositionJournal, Snapshot, TickSetup, LATE_TICK, WATCHDOG_LATE_LIMIT,
};
use crate::coil::{Coil, CoilError, MoveTime};
use crate::hardware::SimulatedHands;
use crate::notify::Notifier;
use crate::timebase::TrueClock;
use crate::zone::Zone;
use piclock_core::engine::{Decision, Engine, PlannedMove};
use piclock_core::journal::Recovered;
use piclock_dbus::names::component;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod sensing;

/// How long before a move the thread stops listening to commands and
/// writes the journal; the coil then waits precisely for the edge.
const PREPARE_AHEAD: Duration = Duration::from_millis(10);

/// How often a failed coil or store is tried again.
const RETRY_AFTER_US: i64 = 10_000_000;

/// Everything the thread owns.
pub(super) struct TickLoop {
    /// The `Fault` component of the position store (`fram` or `store`).
    store_component: &'static str,
    engine: Engine,
    journal: PositionJournal,
    coil: Box<dyn Coil>,
    /// The hands, when they can be seen and turned (simulation).
    hands: Option<Box<dyn SimulatedHands>>,
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
    /// The last wait ended with a command (the next due slot goes first).
    served_command: bool,
    /// The hand sensors, when there are any.
    sensing: Option<sensing::Sensing>,
}

/// Keep-alives for systemd's watchdog, sent only while the loop wakes on time.
struct Watchdog {
    notifier: Arc<Notifier>,
    every: Duration,
    last: Option<Instant>,
}

/// What waiting for the next slot ended with.
enum Woke {
    /// The slot has come; how late the wake-up was.
    Due(Duration),
    /// A command came first.
    Command(Command),
    /// Every sender is gone.
    Closed,
}

impl TickLoop {
    /// Builds the loop from what the journal recovered.
    pub(super) fn new(setup: TickSetup, commands: Receiver<Command>, snapshots: watch::Sender<Snapshot>) -> TickLoop {
        let TickSetup {
            mut engine,
            journal,
            recovered,
            coil,
            hands,
            clock,
            zone,
            store_component,
            watchdog,
            sensors,
            ..
        } = setup;
        let now = clock.now_us();
        let mut doubt_note = None;
        // A position that is not a whole step of an impulse line (the
        // store of a quartz clock, or another step) is not the line's.
        let step = engine.drive().step_s();
        let recovered = match recovered {
            Recovered::Committed { position } | Recovered::InFlight { from: position, .. } if position % step != 0 => {
                let reason = format!(
                    "the stored position {} is not a whole step of this impulse line ({step} s): was it kept for \
                     another movement? Set the hands",
                    engine.dial().format(position)
                );
                tracing::warn!("position store: {reason}");
                Recovered::Corrupt { reason }
            }
            other => other,
        };
        match recovered {
            Recovered::Committed { position } => {
                engine.set_position(position, now);
                // A crash and a quick restart can follow the last step by
                // milliseconds: let the rotor rest before the next pulse.
                engine.let_rotor_settle(now);
            }
            Recovered::InFlight { from, to } => {
                engine.recover_in_flight(from, to, now);
                doubt_note = Some(describe_recovery(&recovered));
            }
            // Said in Faults until the position is set: the store had
            // something in it that could not be used.
            Recovered::Corrupt { .. } | Recovered::DialMismatch { .. } => {
                doubt_note = Some(describe_recovery(&recovered))
            }
            Recovered::Empty => {}
        }
        TickLoop {
            engine,
            journal,
            coil,
            hands,
            clock,
            zone,
            commands,
            snapshots,
            store_fault: None,
            store_component,
            coil_fault: None,
            fault_since_us: 0,
            doubt_note,
            tick_count: 0,
            late_tick_count: 0,
            max_tick_late: Duration::ZERO,
            watchdog: watchdog.map(|(notifier, interval)| Watchdog { notifier, every: interval / 2, last: None }),
            served_command: false,
            sensing: sensors.map(sensing::Sensing::new),
        }
    }

    /// Runs until `Shutdown` or until the command channel closes. Both coil
    /// lines are low when this returns (and when the coil is dropped).
    pub(super) fn run(mut self) {
        self.start_sensing();
        self.publish();
        loop {
            let now = self.clock.now_us();
            if (self.coil_fault.is_some() || self.store_fault.is_some()) && now - self.fault_since_us > RETRY_AFTER_US {
                self.retry_faults(now);
            }
            let zone = self.zone.clone();
            let decision = self.engine.next(now, &move |s: i64| zone.offset_at(s));
            let deadline = self.clock.instant_at(decision.at_us);
            match self.wait(&decision, deadline) {
                Woke::Closed => break,
                Woke::Command(cmd) => {
                    if self.handle(cmd) {
                        continue;
                    }
                    break;
                }
                Woke::Due(late) => self.feed_watchdog(late),
            }
            match &decision.action {
                Some(mv) => {
                    // Edges that came after the last poll belong to the
                    // belief before this move; if they corrected it (or
                    // ended homing), this move was planned from another
                    // belief: plan again.
                    self.sense(None);
                    if self.engine.hands() != Some(mv.from) {
                        self.publish();
                        continue;
                    }
                    let moved = self.fire(mv, &decision, deadline, now);
                    self.sense(moved.then_some((mv, decision.at_us)));
                }
                None => {
                    self.engine.passed(decision.at_us);
                    self.sense(None);
                }
            }
            self.publish();
        }
        self.coil.release();
        tracing::info!("tick thread stopped; coil lines low");
    }

    /// Waits for the slot of `decision`, serving commands meanwhile. When
    /// there is no time left to wait (always the case at high --speed), it
    /// still takes one pending command, so that commands are never starved,
    /// but never two in a row: a stream of commands cannot starve the ticks
    /// (or the watchdog) either; a due slot waits for one command at most.
    fn wait(&mut self, decision: &Decision, deadline: Instant) -> Woke {
        let wake = match decision.action {
            Some(_) => deadline.checked_sub(PREPARE_AHEAD).unwrap_or(deadline),
            None => deadline,
        };
        let left = wake.saturating_duration_since(Instant::now());
        let served_last = std::mem::take(&mut self.served_command);
        let received = if left.is_zero() && served_last {
            None
        } else if left.is_zero() {
            match self.commands.try_recv() {
                Ok(cmd) => Some(cmd),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return Woke::Closed,
            }
        } else {
            match self.commands.recv_timeout(left) {
                Ok(cmd) => Some(cmd),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Woke::Closed,
            }
        };
        match received {
            Some(cmd) => {
                self.served_command = true;
                Woke::Command(cmd)
            }
            None => Woke::Due(Instant::now().saturating_duration_since(wake)),
        }
    }

    /// Journals, fires and commits one move; true when the belief moved with
    /// it (a coil failure leaves the belief at the lower position, in doubt,
    /// so the sensors hear of no step). While homing from an unknown
    /// position nothing is journalled: its provisional belief is no position.
    fn fire(&mut self, mv: &PlannedMove, decision: &Decision, deadline: Instant, now: i64) -> bool {
        let journal = self.engine.journals_moves();
        if let Err(e) = journal.then(|| self.journal.begin(mv.from, mv.to)).transpose() {
            tracing::error!("journal: {e}; not pulsing");
            self.fail_store(e.to_string(), now);
            self.engine.passed(decision.at_us);
            return false;
        }
        let fired = self.coil.fire(&mv.waveform, MoveTime { real: deadline, true_us: decision.at_us });
        self.count_edge(mv);
        if let Err(e) = fired {
            self.fail_coil(mv, e, decision.at_us, now);
            return false;
        }
        if let Err(e) = journal.then(|| self.journal.commit(mv.to)).transpose() {
            tracing::error!("journal: {e}");
            self.engine.moved(mv, decision.at_us);
            self.fail_store(e.to_string(), now);
            return true;
        }
        self.engine.moved(mv, decision.at_us);
        if mv.resolving {
            tracing::info!(position = mv.to, "hand position certain again after the settling pulse");
            self.doubt_note = None;
        }
        true
    }

    /// Counts the move's leading edge for TickCount, LateTickCount and MaxTickLateUSec.
    fn count_edge(&mut self, mv: &PlannedMove) {
        let Some(late) = self.coil.lead_delay() else {
            return;
        };
        self.tick_count += 1;
        self.max_tick_late = self.max_tick_late.max(late);
        if late > LATE_TICK {
            self.late_tick_count += 1;
            tracing::warn!("{:?} move {} -> {}: leading edge {} µs late", mv.kind, mv.from, mv.to, late.as_micros());
        }
    }

    /// The position store failed: a fault until it works again.
    fn fail_store(&mut self, message: String, now: i64) {
        self.store_fault = Some(message);
        self.fault_since_us = now;
        self.refresh_fault();
    }

    /// The coil failed during `mv`: the move may or may not have happened, so
    /// believe the lower position, in doubt; the settling pulse follows.
    fn fail_coil(&mut self, mv: &PlannedMove, e: CoilError, at_us: i64, now: i64) {
        self.coil.release();
        self.engine.recover_in_flight(mv.from, mv.to, at_us);
        if e.late {
            // The thread ran late (the machine stalled it): nothing is
            // broken, the next slot settles the doubt.
            tracing::warn!("coil: {e}; settling with the next pulse");
            self.doubt_note = Some(format!("a pulse was cut short while moving {} -> {}", mv.from, mv.to));
        } else {
            tracing::error!("coil: {e}");
            self.coil_fault = Some(e.to_string());
            self.fault_since_us = now;
            self.doubt_note = Some(format!("the coil failed while moving {} -> {}", mv.from, mv.to));
        }
        self.refresh_fault();
    }

    /// Handles one command. Returns false on shutdown.
    fn handle(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::SetPosition(position, reply) => {
                let r = self.handle_set_position(position);
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
                let r = self.engine.step(ticks).map_err(CommandError::Invalid);
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
            Command::Home(reply) => {
                let r = self.start_homing();
                self.publish();
                let _ = reply.send(r);
            }
            Command::Shutdown => return false,
        }
        true
    }

    /// The user set the hands (and, simulated, turned the crown).
    fn handle_set_position(&mut self, position: u32) -> Result<(), CommandError> {
        if let Some(hands) = self.hands.as_mut() {
            hands
                .crown_set(position)
                .map_err(|e| CommandError::Hardware(format!("moving the simulated hands: {e}")))?;
        }
        self.journal
            .commit(position)
            .map_err(|e| CommandError::Hardware(format!("recording the hand position: {e}")))?;
        self.engine.set_position(position, self.clock.now_us());
        self.sensors_reset();
        self.doubt_note = None;
        self.store_fault = None;
        self.refresh_fault();
        tracing::info!(position, "hand position set");
        Ok(())
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

    /// The faults in force, in words for `Faults` and as (component, message) for `Fault`.
    fn faults(&self) -> (Vec<String>, Vec<(&'static str, String)>) {
        let mut faults = Vec::new();
        let mut device_faults = Vec::new();
        if let Some(f) = &self.coil_fault {
            faults.push(format!("coil: {f}"));
            device_faults.push((component::GPIO, f.clone()));
        }
        if let Some(f) = &self.store_fault {
            faults.push(format!("position store: {f}"));
            device_faults.push((self.store_component, f.clone()));
        }
        for (component, message) in self.sensor_faults() {
            faults.push(message.clone());
            device_faults.push((component, message));
        }
        if !self.engine.certain() {
            if let Some(n) = &self.doubt_note {
                faults.push(n.clone());
            }
        }
        (faults, device_faults)
    }

    fn publish(&self) {
        let now = self.clock.now_us();
        let zone = &self.zone;
        let st = self.engine.status(now, &|s| zone.offset_at(s));
        let (faults, device_faults) = self.faults();
        let physical = self.hands.as_ref().map(|h| h.position());
        if let (Some(ph), Some(h)) = (physical, st.hands) {
            if ph != h && self.engine.certain() {
                tracing::debug!(belief = h, simulated = ph, "belief and simulated hands differ");
            }
        }
        self.snapshots.send_replace(Snapshot {
            state: st.state,
            hands: st.hands.unwrap_or(0),
            hands_known: st.hands.is_some(),
            pending_steps: st.pending_steps,
            certain: self.engine.certain(),
            paused: self.engine.paused(),
            offset: st.offset,
            catch_up_seconds: st.catch_up_seconds,
            true_us: now,
            correction_us: self.clock.correction_us(),
            dial_seconds: self.engine.dial().seconds(),
            zone: self.zone.name().to_owned(),
            faults,
            device_faults,
            physical,
            alive: Instant::now(),
            tick_count: self.tick_count,
            late_tick_count: self.late_tick_count,
            max_tick_late_us: u64::try_from(self.max_tick_late.as_micros()).unwrap_or(u64::MAX),
            sensors: self.sensor_status(),
        });
    }

    fn refresh_fault(&mut self) {
        let fault = self.coil_fault.clone().or_else(|| self.store_fault.clone());
        self.engine.set_fault(fault);
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
