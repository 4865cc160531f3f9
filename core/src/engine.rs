//! The tick engine: which pulse to fire, and when.
//!
//! The engine holds what the daemon believes (hand position, certainty,
//! pause, queued manual steps) and answers one question, [`Engine::next`]:
//! at which instant must the tick thread act next, and with which move. The
//! thread sleeps until then, fires the move, records it with
//! [`Engine::moved`] (or [`Engine::passed`] when there was nothing to fire),
//! and asks again. Commands change the engine between two questions.
//!
//! Time is the daemon's true time in µs since the Unix epoch; the local
//! time of the dial comes from a `local offset` function (UTC second ->
//! offset in seconds), so DST and time-zone changes are jumps of the target
//! like any other, handled by the planner.

use crate::catch_up::{next_slot_after, Plan, Situation, Strategy, SETTLE_US};
use crate::dial::Dial;
use crate::impulse_line::Drive;
use crate::pulse_config::PulseConfig;
use crate::waveform::{Direction, MoveKind, Waveform};
use crate::US_PER_SEC;
use std::fmt;

/// A slot this late is still served (better a late tick than none), µs.
pub const LATE_LIMIT_US: i64 = 50_000;

/// Largest manual step, in ticks, either way.
pub const MAX_STEP: i64 = 3600;

/// The `State` of the D-Bus contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockState {
    /// In sync, one tick a second.
    Ticking,
    /// Catching up forwards (or stepping forwards on request).
    FastForward,
    /// Catching up backwards (or stepping backwards on request).
    Reverse,
    /// Hands ahead, stopped until the time reaches them.
    Waiting,
    /// Paused by the user.
    Paused,
    /// The hand position is not known: nothing is pulsed until it is set.
    NeedsPosition,
    /// The coil driver failed.
    Fault,
}

impl ClockState {
    /// The contract's string for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockState::Ticking => "ticking",
            ClockState::FastForward => "fast-forward",
            ClockState::Reverse => "reverse",
            ClockState::Waiting => "waiting",
            ClockState::Paused => "paused",
            ClockState::NeedsPosition => "needs-position",
            ClockState::Fault => "fault",
        }
    }
}

impl fmt::Display for ClockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the tick thread should fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedMove {
    /// Normal, fast or reverse tick.
    pub kind: MoveKind,
    /// Position before the move.
    pub from: u32,
    /// Position after it.
    pub to: u32,
    /// The pulses.
    pub waveform: Waveform,
    /// A manual step (from `Step`) rather than time keeping.
    pub manual: bool,
    /// The pulse that settles the doubt left by an unclean stop.
    pub resolving: bool,
}

/// The engine's answer: act at `at_us`, firing `action` if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// When, µs of true time.
    pub at_us: i64,
    /// What to fire then (`None`: wake up and ask again).
    pub action: Option<PlannedMove>,
}

/// A command the engine refuses; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// The argument at fault.
    pub field: &'static str,
    /// Why, and what is accepted.
    pub message: String,
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for EngineError {}

/// What the engine believes at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The state string of the contract.
    pub state: ClockState,
    /// Where the hands are believed to be (`None` until set).
    pub hands: Option<u32>,
    /// Whether that belief is certain.
    pub certain: bool,
    /// Where they should be now.
    pub target: u32,
    /// Hands minus target, wrapped to half the dial (0 when unknown).
    pub offset: i64,
    /// Expected seconds until the hands are right.
    pub catch_up_seconds: u32,
    /// Manual steps still queued (signed).
    pub pending_steps: i64,
}

/// Whether `ticks` manual steps may be queued: within `-MAX_STEP..=MAX_STEP`
/// on their own and with the `queued` ones, with the hand position
/// `known`, and backwards only while reverse is enabled in `config`. The
/// daemon asks this before it asks polkit, so that a call that would be
/// refused anyway never prompts for a password.
pub fn check_step(ticks: i64, known: bool, config: &PulseConfig, queued: i64) -> Result<(), EngineError> {
    let refuse = |message: String| Err(EngineError { field: "ticks", message });
    if !(-MAX_STEP..=MAX_STEP).contains(&ticks) {
        return refuse(format!("{ticks} is out of range; accepted: -{MAX_STEP}..={MAX_STEP}"));
    }
    if !known {
        return refuse("the hand position is not known; set it first (SetHandPosition)".into());
    }
    if ticks < 0 && config.rev_ticks_per_sec == 0 {
        return refuse("reverse is disabled (rev_ticks_per_sec = 0); accepted: 0..=3600".into());
    }
    if !(-MAX_STEP..=MAX_STEP).contains(&(queued + ticks)) {
        return refuse(format!(
            "{ticks} more on top of {queued} queued steps exceeds the limit; accepted: a total within -{MAX_STEP}..={MAX_STEP}"
        ));
    }
    Ok(())
}

/// The tick state machine. See the module documentation.
#[derive(Debug, Clone)]
pub struct Engine {
    dial: Dial,
    config: PulseConfig,
    hands: Option<u32>,
    certain: bool,
    resolve: bool,
    paused: bool,
    fault: Option<String>,
    manual: i64,
    last_pulse: Option<(i64, Direction)>,
    /// No pulse before this (true time, µs): see [`Engine::let_rotor_settle`].
    rest_until: i64,
    cursor: i64,
    late_limit_us: i64,
    homing: Option<Homing>,
    drive: Drive,
}

/// Homing in progress: which way the hands go, and what was believed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Homing {
    direction: Direction,
    /// `None`: no position was known; else whether it was certain.
    known_before: Option<bool>,
}

/// Local time offset, seconds east of UTC, at a UTC second.
pub type LocalOffset<'a> = &'a dyn Fn(i64) -> i64;

impl Engine {
    /// An engine that does not know where the hands are (`needs-position`).
    pub fn new(dial: Dial, config: PulseConfig) -> Engine {
        Engine {
            dial,
            config,
            hands: None,
            certain: false,
            resolve: false,
            paused: false,
            fault: None,
            manual: 0,
            last_pulse: None,
            rest_until: i64::MIN / 2,
            cursor: i64::MIN / 2,
            late_limit_us: LATE_LIMIT_US,
            homing: None,
            drive: Drive::Quartz,
        }
    }

    /// An engine for `drive`: a quartz movement (as [`Engine::new`]) or an
    /// impulse line, which runs `config` as the line does
    /// ([`crate::impulse_line::ImpulseLine::effective`]: its impulse timing, no reverse).
    pub fn with_drive(dial: Dial, config: PulseConfig, drive: Drive) -> Engine {
        let mut e = Engine::new(dial, config);
        e.drive = drive;
        e.set_config(config);
        e
    }

    /// What drives the hands.
    pub fn drive(&self) -> Drive {
        self.drive
    }

    /// How late (µs of true time) a slot may still be served; later ones
    /// are skipped. Defaults to [`LATE_LIMIT_US`]; under virtual time that
    /// runs N times faster the daemon scales it by N, so that the same real
    /// scheduling delay is tolerated.
    pub fn set_late_limit_us(&mut self, us: i64) {
        self.late_limit_us = us.max(0);
    }

    /// The dial.
    pub fn dial(&self) -> Dial {
        self.dial
    }

    /// The pulse settings in force.
    pub fn config(&self) -> &PulseConfig {
        &self.config
    }

    /// Where the hands are believed to be.
    pub fn hands(&self) -> Option<u32> {
        self.hands
    }

    /// Whether the position is certain.
    pub fn certain(&self) -> bool {
        self.hands.is_some() && self.certain
    }

    /// Whether the user paused the clock.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The user says where the hands are at `now_us`: the belief becomes
    /// certain and any manual steps or doubt are dropped. Slots up to now
    /// count as served (the hands show what they show now).
    pub fn set_position(&mut self, position: u32, now_us: i64) {
        self.cursor = self.cursor.max(now_us);
        self.hands = Some(position % self.dial.seconds());
        self.certain = true;
        self.resolve = false;
        self.manual = 0;
        self.homing = None;
    }

    /// A hand sensor found the hands at `position`: the belief becomes
    /// that, certain (a doubt from an unclean stop is settled too). Unlike
    /// [`Engine::set_position`] nothing else changes: queued steps stay,
    /// and the rotor's last step still counts for the next pulse's timing.
    pub fn correct(&mut self, position: u32) {
        self.hands = Some(position % self.dial.seconds());
        self.certain = true;
        self.resolve = false;
    }

    /// Starts homing: fast-forward (or, after [`Engine::set_homing_direction`],
    /// reverse), also while paused, until a hand sensor finds the position
    /// (the tick thread ends it with [`Engine::end_homing`]). From an unknown
    /// position the belief is a provisional 0 that only counts the steps
    /// (its first pulse may have the wrong polarity; the sensor side allows
    /// for that); queued steps and a doubt are dropped.
    pub fn start_homing(&mut self) {
        let known_before = self.hands.map(|_| self.certain);
        self.hands = Some(self.hands.unwrap_or(0));
        self.certain = false;
        self.resolve = false;
        self.manual = 0;
        self.homing = Some(Homing { direction: Direction::Forward, known_before });
    }

    /// Which way homing moves the hands.
    pub fn set_homing_direction(&mut self, direction: Direction) {
        if let Some(h) = self.homing.as_mut() {
            h.direction = direction;
        }
    }

    /// Whether homing runs.
    pub fn homing(&self) -> bool {
        self.homing.is_some()
    }

    /// Whether moves are journalled: not while homing from an unknown
    /// position, whose provisional belief must never be recovered as a
    /// position after a crash.
    pub fn journals_moves(&self) -> bool {
        !matches!(self.homing, Some(Homing { known_before: None, .. }))
    }

    /// Homing ends: with the position found (certain from now on), or
    /// without (the belief from before stands: unknown, or the one known,
    /// which counted every step meanwhile).
    pub fn end_homing(&mut self, found: Option<u32>) {
        let Some(h) = self.homing.take() else {
            return;
        };
        match (found, h.known_before) {
            (Some(position), _) => self.correct(position),
            (None, None) => self.hands = None,
            (None, Some(certain)) => self.certain = certain,
        }
    }

    /// The journal says a move `from -> to` was in flight when the daemon
    /// stopped: the hands are at one of the two. The engine believes the
    /// lower of the pair, flags the doubt, and its next move is a forward
    /// pulse for that position: if the hands were there it steps them, if they
    /// were already one further it has the wrong polarity and does nothing,
    /// so afterwards they are certainly at the higher position.
    pub fn recover_in_flight(&mut self, from: u32, to: u32, now_us: i64) {
        self.cursor = self.cursor.max(now_us);
        let n = self.dial.seconds();
        let step = self.drive.step_s();
        let low = if (from + step) % n == to % n { from } else { to };
        self.hands = Some(low % n);
        self.certain = false;
        self.resolve = true;
        self.manual = 0;
        self.homing = None;
        // The move in flight may have stepped the rotor a moment ago.
        self.let_rotor_settle(now_us);
    }

    /// The daemon (re)started at `now_us` and cannot know when the rotor last
    /// moved: a crash and a quick restart can follow a step by milliseconds.
    /// No pulse of either direction goes out before the rotor has had the
    /// settle pause ([`SETTLE_US`]) from `now_us`, so that the first pulse
    /// (the settling one after an unclean stop, or simply the next tick)
    /// cannot come too soon for it and be lost.
    pub fn let_rotor_settle(&mut self, now_us: i64) {
        self.rest_until = self.rest_until.max(now_us + SETTLE_US);
    }

    /// Stops ticking; the hands stay where they are.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Starts ticking again (the planner catches up).
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Marks the coil as failed (no pulses) or healthy again.
    pub fn set_fault(&mut self, fault: Option<String>) {
        self.fault = fault;
    }

    /// The current fault, if any.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Checks a manual step without queuing it.
    pub fn check_step(&self, ticks: i64) -> Result<(), EngineError> {
        check_step(ticks, self.hands.is_some(), &self.config, self.manual)
    }

    /// Queues `ticks` manual steps (negative: backwards). They are fired at
    /// the fast-forward or reverse rate, also while paused.
    pub fn step(&mut self, ticks: i64) -> Result<(), EngineError> {
        self.check_step(ticks)?;
        self.manual += ticks;
        Ok(())
    }

    /// Replaces the pulse settings (already validated).
    pub fn set_config(&mut self, config: PulseConfig) {
        self.config = match self.drive {
            Drive::Quartz => config,
            Drive::Impulse(line) => line.effective(&config),
        };
        if self.config.rev_ticks_per_sec == 0 && self.manual < 0 {
            self.manual = 0;
        }
    }

    /// What the dial should show at `t_us`.
    pub fn target_at(&self, t_us: i64, tz: LocalOffset<'_>) -> u32 {
        let s = t_us.div_euclid(US_PER_SEC);
        let local = self.dial.wrap(s + tz(s));
        local - local % self.drive.step_s()
    }

    fn not_before(&self, direction: Direction) -> i64 {
        let turnaround = match self.last_pulse {
            Some((at, d)) if d != direction => at + SETTLE_US,
            _ => i64::MIN / 2,
        };
        turnaround.max(self.rest_until)
    }

    fn situation(&self, hands: u32, now_us: i64, tz: LocalOffset<'_>, slot_open: bool) -> Situation {
        Situation {
            dial_seconds: self.dial.seconds(),
            behind: self.dial.behind(hands, self.target_at(now_us, tz)),
            now_us,
            fwd_rate: self.config.fwd_ticks_per_sec,
            rev_rate: self.config.rev_ticks_per_sec,
            forward_not_before_us: self.not_before(Direction::Forward),
            reverse_not_before_us: self.not_before(Direction::Backward),
            slot_at_now_open: slot_open,
        }
    }

    fn within_tolerance(&self, hands: u32, target: u32) -> bool {
        self.dial.offset(hands, target).unsigned_abs() <= u64::from(self.config.sync_tolerance_s)
    }

    /// The plan from `now_us` (strategy and expected duration).
    pub fn plan(&self, now_us: i64, tz: LocalOffset<'_>) -> Option<Plan> {
        let hands = self.hands?;
        if let Drive::Impulse(line) = self.drive {
            return Some(self.impulse_situation(line, hands, now_us, tz).plan());
        }
        if self.within_tolerance(hands, self.target_at(now_us, tz)) {
            return Some(Plan { strategy: Strategy::InSync, duration_us: 0 });
        }
        Some(self.situation(hands, now_us, tz, false).plan())
    }

    fn planned(&self, kind: MoveKind, from: u32, manual: bool) -> PlannedMove {
        let step = self.drive.step_s();
        let waveform = match kind {
            MoveKind::Impulse => Waveform::impulse(from / step, &self.config),
            _ => Waveform::for_move(kind, from, &self.config),
        };
        PlannedMove {
            kind,
            from,
            to: self.dial.add(from, kind.direction().sign() * i64::from(step)),
            waveform,
            manual,
            resolving: self.resolve && !manual,
        }
    }

    /// When to act next after `now_us`, and how.
    pub fn next(&self, now_us: i64, tz: LocalOffset<'_>) -> Decision {
        let mut after = self.cursor.max(now_us - self.late_limit_us);
        if self.cursor > now_us + 2 * US_PER_SEC + self.late_limit_us {
            // True time went back (a clock correction): start afresh.
            after = now_us - self.late_limit_us;
        }
        let idle = |at_us| Decision { at_us, action: None };
        let Some(hands) = self.hands else {
            return idle(next_slot_after(after, 1));
        };
        if self.fault.is_some() {
            return idle(next_slot_after(after, 1));
        }
        if let Drive::Impulse(line) = self.drive {
            return self.next_impulse(line, hands, after, tz);
        }
        let (f, r) = (self.config.fwd_ticks_per_sec, self.config.rev_ticks_per_sec);
        // Homing runs also while paused, like manual steps.
        if let Some(h) = self.homing {
            let (kind, rate) = match h.direction {
                Direction::Forward => (MoveKind::Fast, f),
                Direction::Backward => (MoveKind::Reverse, r.max(1)),
            };
            let at = next_slot_after(after.max(self.not_before(h.direction) - 1), rate);
            let mut mv = self.planned(kind, hands, false);
            if kind == MoveKind::Reverse && h.known_before.is_none() {
                // The second is not known: the stronger of the two regions.
                let c = &self.config;
                mv.waveform = Waveform::reverse(hands, c.rev_ticka_on_us >= c.rev_tickb_on_us, c);
            }
            return Decision { at_us: at, action: Some(mv) };
        }
        // Manual steps first (also while paused), then the resolving pulse.
        if self.manual != 0 || (self.resolve && !self.paused) {
            let (kind, rate) = if self.manual < 0 { (MoveKind::Reverse, r.max(1)) } else { (MoveKind::Fast, f) };
            let from_t = after.max(self.not_before(kind.direction()) - 1);
            let at = next_slot_after(from_t, rate);
            return Decision { at_us: at, action: Some(self.planned(kind, hands, self.manual != 0)) };
        }
        if self.paused {
            return idle(next_slot_after(after, 1));
        }
        // Pick the grid from the strategy as things stand, then decide at
        // the slot with the situation there.
        let strategy = match self.plan(after, tz) {
            Some(p) => p.strategy,
            None => Strategy::InSync,
        };
        let at = match strategy {
            Strategy::InSync | Strategy::Wait => next_slot_after(after, 1),
            Strategy::Forward => {
                let nb = self.not_before(Direction::Forward);
                next_slot_after(after.max(nb - 1), f)
            }
            Strategy::Reverse => {
                let nb = self.not_before(Direction::Backward);
                let rev = next_slot_after(after.max(nb - 1), r.max(1));
                rev.min(next_slot_after(after, 1))
            }
        };
        Decision { at_us: at, action: self.decide(hands, at, tz) }
    }

    /// What to fire at slot `at` (a whole second or a rate slot).
    fn decide(&self, hands: u32, at: i64, tz: LocalOffset<'_>) -> Option<PlannedMove> {
        let target_before = self.target_at(at - 1, tz);
        let boundary = at.rem_euclid(US_PER_SEC) == 0;
        if self.within_tolerance(hands, target_before) {
            // In sync: one normal tick on every whole second.
            if boundary && at >= self.not_before(Direction::Forward) {
                return Some(self.planned(MoveKind::Normal, hands, false));
            }
            return None;
        }
        let situation = self.situation(hands, at, tz, true);
        let behind = situation.behind;
        let ahead = self.dial.seconds() - behind;
        match situation.plan().strategy {
            Strategy::Forward if behind > 0 && at >= self.not_before(Direction::Forward) => {
                Some(self.planned(MoveKind::Fast, hands, false))
            }
            Strategy::Reverse if ahead >= 2 && at >= self.not_before(Direction::Backward) => {
                Some(self.planned(MoveKind::Reverse, hands, false))
            }
            _ => None,
        }
    }

    /// The tick thread fired `mv` at `at_us` and the journal committed it.
    pub fn moved(&mut self, mv: &PlannedMove, at_us: i64) {
        self.hands = Some(mv.to);
        self.last_pulse = Some((at_us, mv.kind.direction()));
        self.cursor = at_us;
        if mv.manual {
            self.manual -= mv.kind.direction().sign();
        } else if mv.resolving {
            self.resolve = false;
            self.certain = true;
        }
    }

    /// The slot at `at_us` passed with nothing fired.
    pub fn passed(&mut self, at_us: i64) {
        self.cursor = self.cursor.max(at_us);
    }

    /// What the engine believes at `now_us`.
    pub fn status(&self, now_us: i64, tz: LocalOffset<'_>) -> Status {
        let target = self.target_at(now_us, tz);
        if let Some(h) = self.homing {
            return self.homing_status(h, target);
        }
        let Some(hands) = self.hands else {
            return Status {
                state: ClockState::NeedsPosition,
                hands: None,
                certain: false,
                target,
                offset: 0,
                catch_up_seconds: 0,
                pending_steps: 0,
            };
        };
        let plan = self.plan(now_us, tz);
        let state = if self.fault.is_some() {
            ClockState::Fault
        } else if self.manual > 0 || (self.resolve && !self.paused) {
            ClockState::FastForward
        } else if self.manual < 0 {
            ClockState::Reverse
        } else if self.paused {
            ClockState::Paused
        } else {
            match plan.map(|p| p.strategy) {
                Some(Strategy::Forward) => ClockState::FastForward,
                Some(Strategy::Reverse) => ClockState::Reverse,
                Some(Strategy::Wait) => ClockState::Waiting,
                _ => ClockState::Ticking,
            }
        };
        Status {
            state,
            hands: Some(hands),
            certain: self.certain,
            target,
            offset: self.dial.offset(hands, target),
            catch_up_seconds: plan.map(|p| p.seconds()).unwrap_or(0),
            pending_steps: self.manual,
        }
    }
}

impl Engine {
    /// The status while homing: moving one way, nothing certain, no plan.
    fn homing_status(&self, h: Homing, target: u32) -> Status {
        let hands = self.hands.filter(|_| h.known_before.is_some());
        let state = match (self.fault.is_some(), h.direction) {
            (true, _) => ClockState::Fault,
            (_, Direction::Forward) => ClockState::FastForward,
            (_, Direction::Backward) => ClockState::Reverse,
        };
        Status {
            state,
            hands,
            certain: false,
            target,
            offset: hands.map_or(0, |p| self.dial.offset(p, target)),
            catch_up_seconds: 0,
            pending_steps: 0,
        }
    }
}

mod impulse_timing;

#[cfg(test)]
mod tests;
