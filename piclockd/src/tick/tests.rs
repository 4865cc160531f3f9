//! The tick loop against a recording fake coil on virtual time.

use super::thread::TickLoop;
use super::*;
use crate::coil::CoilError;
use crate::coil::{Coil, MoveTime};
use crate::timebase::VirtualClock;
use piclock_core::dial::Dial;
use piclock_core::engine::Engine;
use piclock_core::journal::MemStore;
use piclock_core::journal::{Journal, Recovered, SlotStore};
use piclock_core::pulse_config::PulseConfig;
use piclock_core::waveform::{MoveKind, Waveform};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

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
}

fn setup(
    engine: Engine,
    journal: PositionJournal,
    recovered: Recovered,
    coil: Box<dyn Coil>,
    clock: Arc<dyn TrueClock>,
    zone: Zone,
) -> TickSetup {
    TickSetup {
        engine,
        journal,
        recovered,
        coil,
        clock,
        zone,
        store_component: piclock_dbus::names::component::STORE,
        watchdog: None,
        kind: crate::hardware::HardwareKind::Simulated,
        hands: None,
        sensors: None,
    }
}

fn initial_snapshot(dial: Dial) -> Snapshot {
    Snapshot::initial(dial.seconds(), "UTC", 0)
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
    let tick = TickLoop::new(setup(engine, journal, recovered, Box::new(coil), clock, zone), rx, snap_tx);
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
    let zone = Zone::named("UTC").unwrap();
    let tick = TickLoop::new(setup(engine, journal, recovered, Box::new(coil), clock, zone), rx, snap_tx);
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

/// A store whose writes take 2 ms, like a slow SD card's fdatasync.
struct SlowStore(MemStore);

impl SlotStore for SlowStore {
    fn read_all(&mut self) -> Result<Vec<u8>, piclock_core::journal::StoreError> {
        self.0.read_all()
    }
    fn write_slot(
        &mut self,
        index: usize,
        bytes: &[u8; piclock_core::journal::SLOT_LEN],
    ) -> Result<(), piclock_core::journal::StoreError> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.write_slot(index, bytes)
    }
    fn describe(&self) -> String {
        "slow".into()
    }
}

#[test]
fn a_stream_of_commands_does_not_starve_the_ticks() {
    // Real time, a tick a second; another thread keeps 64 SetPosition
    // commands waiting for 2.6 s, each taking 2 ms (its journal write).
    // Before the fix the loop served command after command and fired
    // nothing; now a due tick waits for one command at most.
    let clock: Arc<dyn TrueClock> = Arc::new(VirtualClock::new(1.0));
    let dial = Dial::TWELVE_HOUR;
    let target = dial.wrap(clock.now_us().div_euclid(1_000_000));
    let store: Box<dyn SlotStore + Send> = Box::new(SlowStore(MemStore::new()));
    let (journal, _) = Journal::open(store, dial.seconds()).unwrap();
    let fired = Arc::new(Mutex::new(vec![]));
    let coil = FakeCoil { fired: fired.clone(), fail_call: 0, late: false };
    let (tx, rx) = std::sync::mpsc::channel();
    let (snap_tx, snap_rx) = watch::channel(initial_snapshot(dial));
    let recovered = Recovered::Committed { position: target };
    let engine = Engine::new(dial, PulseConfig::default());
    let zone = Zone::named("UTC").unwrap();
    let tick = TickLoop::new(setup(engine, journal, recovered, Box::new(coil), clock.clone(), zone), rx, snap_tx);
    let thread = std::thread::spawn(move || tick.run());
    let until = Instant::now() + Duration::from_millis(2600);
    let (mut sent, mut waiting) = (0u64, std::collections::VecDeque::new());
    while Instant::now() < until {
        let (reply, answer) = oneshot::channel();
        // Where the hands are believed to be: the set changes nothing.
        let hands = snap_rx.borrow().hands;
        tx.send(Command::SetPosition(hands, reply)).unwrap();
        sent += 1;
        waiting.push_back(answer);
        if waiting.len() > 64 {
            let _ = waiting.pop_front().map(|a| a.blocking_recv());
        }
    }
    tx.send(Command::Shutdown).unwrap();
    thread.join().unwrap();
    let fired = fired.lock().unwrap().len();
    assert!(sent > 500, "the stream was thin: {sent} commands");
    assert!(fired >= 2, "{fired} moves in 2.6 s under {sent} commands");
}
