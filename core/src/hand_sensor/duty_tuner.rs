//! Tuning the drive from the seconds sensor: where a step was lost, and
//! when a kind of tick needs more duty.
//!
//! Between two moments at which the seconds sensor showed the belief right
//! (a good check, a correction, homing), the [`DriveTuner`] records the
//! daemon's own moves (believed position before each, and which duty drove
//! it) and the sensor's level after each. When a later pass shows steps
//! lost, it *replays* the record once for every hypothesis "this one move
//! was lost" through the motor's rules:
//!
//! - in step, a move does what it meant, except the lost one, which leaves
//!   the rotor where it was and out of step with the belief;
//! - out of step, a reverse tick's kick finds the wrong pole and its long
//!   pull steps the rotor *forwards*; a forward tick is lost once and puts
//!   the rotor back in step.
//!
//! The hypothesis whose predicted sensor levels match what the sensor said
//! after every move (within the window's jitter tolerance) names the lost
//! move, and so the duty setting that was too weak: normal or fast ticks,
//! or reverse ticks of region A or B. A bump, an edge no move caused, or a
//! record too long ends the record: nothing is concluded from it.
//!
//! When [`LOSSES_TO_TUNE`] losses within [`LOSS_MEMORY_US`] of true time
//! name the same duty, [`DriveTuner::lost`] asks for that duty to be raised
//! by [`DUTY_STEP`] µs per 100 µs (never above the configured maximum).

use super::monitor::Finding;
use super::{wrap, SensorKind, Window, SECONDS_PERIOD};
use crate::dial::Dial;
use crate::pulse_config::PulseConfig;
use crate::waveform::{Direction, MoveKind};
use std::fmt;

/// Losses blamed on one duty before it is raised.
pub const LOSSES_TO_TUNE: usize = 2;

/// How long a loss is remembered, µs of true time (6 h: a clock that loses
/// a step once a day is not worth more drive).
pub const LOSS_MEMORY_US: i64 = 6 * 3600 * 1_000_000;

/// How much one raise adds to a duty, µs per 100 µs.
pub const DUTY_STEP: u32 = 5;

/// Longest record replayed, in moves (four turns of the second hand; a
/// longer one without a check is not trusted).
pub const MAX_RECORD_MOVES: usize = 240;

/// A duty setting the sensor can raise: one kind of tick, and for reverse
/// ticks the region of the dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// Normal ticks: `norm_tick_on_us`.
    Normal,
    /// Fast-forward ticks: `fwd_tick_on_us`.
    Fast,
    /// Reverse ticks in region A: `rev_ticka_on_us`.
    ReverseA,
    /// Reverse ticks elsewhere (region B): `rev_tickb_on_us`.
    ReverseB,
}

impl Duty {
    /// The duty that drives a `kind` move from `from` under `config`
    /// (impulse lines have no sensors; an impulse counts as a normal tick).
    pub fn of(kind: MoveKind, from: u32, config: &PulseConfig) -> Duty {
        match kind {
            MoveKind::Normal | MoveKind::Impulse => Duty::Normal,
            MoveKind::Fast => Duty::Fast,
            MoveKind::Reverse if config.in_region_a(from) => Duty::ReverseA,
            MoveKind::Reverse => Duty::ReverseB,
        }
    }

    /// The `PulseConfig` key.
    pub fn key(self) -> &'static str {
        match self {
            Duty::Normal => "norm_tick_on_us",
            Duty::Fast => "fwd_tick_on_us",
            Duty::ReverseA => "rev_ticka_on_us",
            Duty::ReverseB => "rev_tickb_on_us",
        }
    }

    /// Its value in `config`.
    pub fn value(self, config: &PulseConfig) -> u32 {
        match self {
            Duty::Normal => config.norm_tick_on_us,
            Duty::Fast => config.fwd_tick_on_us,
            Duty::ReverseA => config.rev_ticka_on_us,
            Duty::ReverseB => config.rev_tickb_on_us,
        }
    }

    fn direction(self) -> Direction {
        match self {
            Duty::Normal | Duty::Fast => Direction::Forward,
            Duty::ReverseA | Duty::ReverseB => Direction::Backward,
        }
    }

    /// In words, with the region's seconds under `config`.
    pub fn describe(self, config: &PulseConfig) -> String {
        let (a, b) = (config.rev_region_a_start, config.rev_region_a_end);
        match self {
            Duty::Normal => "normal ticks".to_owned(),
            Duty::Fast => "fast-forward ticks".to_owned(),
            Duty::ReverseA => format!("reverse ticks in region A (seconds {a}..{b})"),
            Duty::ReverseB => format!("reverse ticks in region B (seconds outside {a}..{b})"),
        }
    }
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The tuner's settings (`[sensor]` in the admin file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunerConfig {
    /// Whether duties are raised at all (losses are located and logged anyway).
    pub enabled: bool,
    /// The highest duty a raise may reach, µs per 100 µs.
    pub max_on_us: u32,
}

impl Default for TunerConfig {
    fn default() -> Self {
        TunerConfig { enabled: true, max_on_us: 100 }
    }
}

/// Where a lost step was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// The duty that drove the lost move.
    pub duty: Duty,
    /// The believed positions before the first and the last move that may
    /// have been the lost one (equal when the sensor pins it down, as it
    /// does for reverse steps; a lost forward step shows only as hands
    /// behind at the next pass, so any forward move since the last check
    /// may have been it).
    pub between: (u32, u32),
    /// How far the hands are ahead of the belief once the rotor is back in
    /// step (steps, signed, not wrapped): the replay's exact answer, where a
    /// seconds sensor alone knows it only modulo a minute.
    pub hands_ahead: i64,
    /// Whether the drive is to blame: not when the lost move was the first
    /// after the user set the hands (the rotor's polarity may have been
    /// the other).
    pub blame: bool,
}

impl Loss {
    /// Homing with the seconds sensor after this loss measured `steps`
    /// (hands minus belief, within ±30): the whole correction, the
    /// multiple of a minute added that brings it to the replay's answer.
    /// (A reverse step lost at :14 turns the hands forward for 45 steps
    /// before the sensor sees them: 91 steps off, which the sensor reads
    /// as −29.)
    pub fn whole(&self, steps: i64) -> i64 {
        let minutes = (self.hands_ahead - steps) as f64 / f64::from(SECONDS_PERIOD);
        steps + minutes.round() as i64 * i64::from(SECONDS_PERIOD)
    }
}

/// A duty to raise: the `PulseConfig` change and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    /// Which duty.
    pub duty: Duty,
    /// Its value now, µs per 100 µs.
    pub from: u32,
    /// The value asked for.
    pub to: u32,
    /// In words, for the log.
    pub reason: String,
}

impl Tuned {
    /// The loss, whatever was concluded from it.
    pub fn loss(&self) -> Loss {
        match self {
            Tuned::Located(l) | Tuned::Raise(l, _) | Tuned::AtLimit(l, _) => *l,
        }
    }
}

/// What the tuner concluded from a loss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tuned {
    /// The loss was located; not (yet) reason to raise anything.
    Located(Loss),
    /// The loss was located, and its duty should be raised.
    Raise(Loss, Raise),
    /// The loss was located, but its duty is at the maximum already (or
    /// tuning is off): said once per duty.
    AtLimit(Loss, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Move {
    from: u32,
    duty: Duty,
    /// The first move after the user set the hands: if it was lost, the
    /// rotor's polarity (which nobody can see) is to blame, not its drive.
    blameless: bool,
}

/// The moves since the belief was last known right, with the sensor's
/// level after each.
#[derive(Debug, Clone, Default)]
struct Record {
    start_level: bool,
    moves: Vec<Move>,
    /// The seconds sensor's level after each move.
    levels: Vec<bool>,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct DriveTuner {
    config: TunerConfig,
    /// The loss a recheck located, for the homing that follows it.
    pending: Option<Loss>,
    /// The next move is the first after the user set the hands.
    first_after_set: bool,
    record: Option<Record>,
    level: Option<bool>,
    losses: Vec<(Duty, i64)>,
    said_at_limit: Vec<Duty>,
}

impl DriveTuner {
    /// A tuner with `config`; it records nothing until the belief is known right.
    pub fn new(config: TunerConfig) -> DriveTuner {
        DriveTuner {
            config,
            pending: None,
            first_after_set: false,
            record: None,
            level: None,
            losses: Vec::new(),
            said_at_limit: Vec::new(),
        }
    }

    /// The belief was just found right (a check, a correction, homing, or
    /// the user setting the hands): a new record starts here.
    pub fn in_step(&mut self) {
        self.record = self.level.map(|start_level| Record { start_level, ..Record::default() });
    }

    /// Nothing is known about the moves from here until the next check.
    pub fn forget(&mut self) {
        self.record = None;
        self.first_after_set = false;
        self.pending = None;
    }

    /// The user set the hands: taken as right, except for the rotor's
    /// polarity, which nobody can see; a record starts here, and a loss of
    /// the first move is not blamed on its drive.
    pub fn hands_set(&mut self) {
        self.forget();
        self.in_step();
        self.record.get_or_insert_with(Record::default);
        self.first_after_set = true;
    }

    /// One of the daemon's moves: `kind` from believed position `from`.
    pub fn moved(&mut self, kind: MoveKind, from: u32, config: &PulseConfig) {
        let blameless = std::mem::take(&mut self.first_after_set);
        let level = self.level;
        let Some(r) = self.record.as_mut() else {
            return;
        };
        match level {
            Some(level) if r.moves.len() < MAX_RECORD_MOVES => {
                r.moves.push(Move { from, duty: Duty::of(kind, from, config), blameless });
                r.levels.push(level);
            }
            _ => self.record = None,
        }
    }

    /// The seconds sensor turned `active`; `by_move`: the last move caused
    /// it (otherwise the hands moved by themselves, and the record ends).
    pub fn seconds_edge(&mut self, active: bool, by_move: bool) {
        self.level = Some(active);
        match self.record.as_mut() {
            // Nothing moved yet: the level the record starts from.
            Some(r) if r.moves.is_empty() => r.start_level = active,
            Some(r) if by_move => {
                if let Some(last) = r.levels.last_mut() {
                    *last = active;
                }
            }
            _ => self.record = None,
        }
    }

    /// Follows the monitor's `finding` (made with the seconds `window`, when
    /// known): a seconds check or correction starts a new record, a pass
    /// that shows steps lost (a seconds correction, a recheck) locates them
    /// first; anything else that leaves the hands unknown ends the record.
    pub fn observe(
        &mut self,
        finding: &Finding,
        window: Option<&Window>,
        now_us: i64,
        config: &PulseConfig,
    ) -> Option<Tuned> {
        let seconds = |s: &SensorKind| *s == SensorKind::Seconds;
        match finding {
            Finding::Checked { sensor, .. } if seconds(sensor) => self.in_step(),
            Finding::Corrected { sensor, .. } if seconds(sensor) => {
                let tuned = window.and_then(|w| self.lost(w, now_us, config));
                self.in_step();
                return tuned;
            }
            Finding::Recheck { .. } => {
                let tuned = window.and_then(|w| self.lost(w, now_us, config));
                self.forget();
                self.pending = tuned.as_ref().map(Tuned::loss);
                return tuned;
            }
            Finding::Homed { .. } => {
                self.pending = None;
                self.in_step();
            }
            Finding::Corrected { .. }
            | Finding::SecondsFound { .. }
            | Finding::HomeFailed { .. }
            | Finding::Fault { .. } => self.forget(),
            _ => {}
        }
        None
    }

    /// A finding made whole: homing after a recheck whose loss was located
    /// measured the hands within ±30 steps of the belief; the replay knows
    /// the whole minutes (see [`Loss::whole`]), so `Homed` is moved by them.
    /// Any other finding is returned as it is. Call before
    /// [`DriveTuner::observe`] hears of it.
    pub fn refine(&self, finding: Finding, dial: Dial) -> Finding {
        match (finding, self.pending) {
            (Finding::Homed { position, steps: Some(steps) }, Some(loss)) => {
                let whole = loss.whole(steps);
                Finding::Homed { position: dial.add(position, whole - steps), steps: Some(whole) }
            }
            (f, _) => f,
        }
    }

    /// The seconds sensor's pass showed steps lost (at `now_us`, true time;
    /// `window`: the seconds window). Locates the lost move by replaying the
    /// record, remembers it, and says whether its duty should be raised.
    /// `None`: the record does not say (none, a bump, or more than one loss).
    pub fn lost(&mut self, window: &Window, now_us: i64, config: &PulseConfig) -> Option<Tuned> {
        let loss = self.record.as_ref().and_then(|r| locate(r, window))?;
        self.record = None;
        if !loss.blame {
            return Some(Tuned::Located(loss));
        }
        self.losses.retain(|(_, at)| now_us - at < LOSS_MEMORY_US);
        self.losses.push((loss.duty, now_us));
        let count = self.losses.iter().filter(|(d, _)| *d == loss.duty).count();
        if count < LOSSES_TO_TUNE {
            return Some(Tuned::Located(loss));
        }
        let from = loss.duty.value(config);
        let max = self.config.max_on_us.min(100);
        if !self.config.enabled || from >= max {
            if self.said_at_limit.contains(&loss.duty) {
                return Some(Tuned::Located(loss));
            }
            self.said_at_limit.push(loss.duty);
            let why = if self.config.enabled {
                format!("{} is at the highest duty allowed ({max} µs per 100 µs, [sensor] tune_max_on_us)", loss.duty)
            } else {
                format!("{} is not raised: [sensor] tune_drive = false", loss.duty)
            };
            return Some(Tuned::AtLimit(loss, why));
        }
        self.losses.retain(|(d, _)| *d != loss.duty);
        let to = (from + DUTY_STEP).min(max);
        let reason = format!(
            "the seconds sensor found {count} steps lost by {} within {} h; raising {} from {from} to {to} µs per 100 µs",
            loss.duty.describe(config),
            LOSS_MEMORY_US / 3_600_000_000,
            loss.duty,
        );
        Some(Tuned::Raise(loss, Raise { duty: loss.duty, from, to, reason }))
    }
}

/// Replays `record` under every hypothesis "move `i` was lost" and returns
/// the loss whose predicted levels match the sensor's, when exactly one
/// duty fits best and no loss at all fits worse.
fn locate(record: &Record, window: &Window) -> Option<Loss> {
    let allowed = usize::try_from(window.tolerance).unwrap_or(0) * 2;
    let misses = |lost: Option<usize>| replay(record, window, lost).misses;
    let none = misses(None);
    let scored: Vec<(usize, usize)> = (0..record.moves.len()).map(|i| (i, misses(Some(i)))).collect();
    let best = scored.iter().map(|(_, m)| *m).min()?;
    if best > allowed || best >= none {
        return None;
    }
    let fits: Vec<usize> = scored.iter().filter(|(_, m)| *m == best).map(|(i, _)| *i).collect();
    let duty = record.moves[*fits.first()?].duty;
    if fits.iter().any(|i| record.moves[*i].duty != duty) {
        return None;
    }
    let between = (record.moves[fits[0]].from, record.moves[*fits.last()?].from);
    let end = replay(record, window, Some(fits[0]));
    // Out of step at the end, the next forward tick is lost too.
    let hands_ahead = end.hands_ahead - i64::from(!end.in_step);
    let blame = fits.iter().any(|i| !record.moves[*i].blameless);
    Some(Loss { duty, between, hands_ahead, blame })
}

/// What a replay of the record under one hypothesis says.
struct Replayed {
    /// Levels after a move that differ from the sensor's.
    misses: usize,
    /// Hands minus belief at the end, steps.
    hands_ahead: i64,
    /// Whether the rotor is in step with the belief at the end.
    in_step: bool,
}

/// Replays the record through the motor's rules had move `lost` (or none)
/// been lost: how many of the sensor's levels after each move differ from
/// those the hands would have given, and where the hands end up.
fn replay(record: &Record, window: &Window, lost: Option<usize>) -> Replayed {
    let Some(first) = record.moves.first() else {
        return Replayed { misses: 0, hands_ahead: 0, in_step: true };
    };
    let (mut hands, mut in_step) = (i64::from(first.from), true);
    let mut belief = hands;
    let start = window.first(SECONDS_PERIOD);
    let active = |h: i64| wrap(h - i64::from(start), SECONDS_PERIOD) < window.width;
    let mut misses = usize::from(active(hands) != record.start_level);
    for (i, (m, level)) in record.moves.iter().zip(&record.levels).enumerate() {
        let forward = m.duty.direction() == Direction::Forward;
        belief += if forward { 1 } else { -1 };
        if !in_step {
            // Out of step: a reverse tick's pull steps forwards; a forward
            // tick is lost and puts the rotor back in step.
            if forward {
                in_step = true;
            } else {
                hands += 1;
            }
        } else if Some(i) == lost {
            in_step = false;
        } else {
            hands += if forward { 1 } else { -1 };
        }
        misses += usize::from(active(hands) != *level);
    }
    Replayed { misses, hands_ahead: hands - belief, in_step }
}

#[cfg(test)]
mod tests;
