//! The replay: the moves rebuilt from the trace, fed in time order into the
//! core's Lavet motor model (`piclock_core::movement`, the model behind
//! `--simulate`), from the position the guest script set, with the script's
//! markers in between. Every check the issue asks for is made here; what
//! fails is collected in [`Replay::failures`], what was measured in
//! [`Replay::figures`] and [`Replay::scenarios`].

use crate::pulses::{levels_at, Edge, Move, RebuiltPulse};
use crate::trace::{Event, EventKind, Mark};
use piclock_core::movement::{MissReason, MotorParams, Movement, Outcome};
use piclock_core::pulse_config::PulseConfig;
use piclock_core::waveform::{MoveKind, Pulse, Waveform, PWM_PERIOD_US};
use std::fmt::Write as _;

/// How far a pulse's length (first rise to last fall) may be from what the
/// waveform asks, µs.
///
/// Under `-icount` the guest's clock counts executed instructions (1 ns
/// each), and every program of the guest runs on one core where the tick
/// thread's real-time priority wins: an edge is late only by the
/// instructions between the tick thread's clock read and the kernel's trace
/// point (one uAPI set, about 11 µs), the same for the first rise and the
/// last fall, plus the interrupts that land in between. Measured over four
/// runs (1 100 pulses): lengths within ±1 µs of the waveform's, intervals
/// between moves within ±2 µs, except one tick 24 µs short whose first
/// rise waited for `pi-gpio-probe` (it polls at a higher real-time
/// priority before it signals). The tolerance is four times that and still
/// far inside what the motor model cares about (a tick of 31 ms against the
/// 20 ms it needs, a kick of 10 ms against 5 ms), so that a pulse inside it
/// always drives the model as the waveform would. The figures say nothing
/// about a real Pi's timing (`docs/src/development/emulated-pi.md`).
pub const LENGTH_TOLERANCE_US: i64 = 100;

/// How far a pulse's duty (time high per 100 µs period, averaged over the
/// pulse) may be from what the waveform asks, in percentage points.
/// Measured: −0.08 to +0.46 points (a timer interrupt that lands in a high
/// phase lengthens it). 2 points is four times that and below the smallest
/// margin of the motor model: 90 % asked where the heavy sector needs 86 %
/// (60 % against 45 % forward, 82 % against 76 % reverse elsewhere).
pub const DUTY_TOLERANCE_POINTS: f64 = 2.0;

/// How far the gap of a reverse tick (the kick's last fall to the pull's
/// first rise) may be from the waveform's, µs (measured: ±1 µs; the model
/// allows up to 12 ms against the 7 ms asked; see [`LENGTH_TOLERANCE_US`]).
pub const GAP_TOLERANCE_US: i64 = 100;

/// What one class of pulses measured, against what the waveform asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    /// e.g. `normal`, `reverse kick (region A)`.
    pub name: String,
    /// The waveform's length, first rise to last fall, µs.
    pub nominal_us: i64,
    /// The waveform's duty, 0..=1 (0 for gaps).
    pub nominal_duty: f64,
    /// The waveform's PWM periods (0 for gaps).
    pub nominal_periods: u32,
    /// Measured lengths (or gaps), µs.
    pub lengths: Vec<i64>,
    /// Measured duties.
    pub duties: Vec<f64>,
}

impl Figure {
    fn line(&self) -> String {
        let (lo, hi) = (self.lengths.iter().min(), self.lengths.iter().max());
        let (Some(lo), Some(hi)) = (lo, hi) else { return format!("{:<26} none", self.name) };
        let mean = self.lengths.iter().sum::<i64>() as f64 / self.lengths.len() as f64;
        let periods =
            if self.nominal_periods > 0 { format!(" ({} periods)", self.nominal_periods) } else { String::new() };
        let mut s = format!(
            "{:<26} n={:<4} {:.3} ms{periods} asked, {:.3} / {:.3} / {:.3} ms min/mean/max",
            self.name,
            self.lengths.len(),
            self.nominal_us as f64 / 1000.0,
            *lo as f64 / 1000.0,
            mean / 1000.0,
            *hi as f64 / 1000.0
        );
        if !self.duties.is_empty() {
            let lo = self.duties.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = self.duties.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = self.duties.iter().sum::<f64>() / self.duties.len() as f64;
            let _ = write!(
                s,
                "; duty {:.1} % asked, {:.2} / {:.2} / {:.2} %",
                self.nominal_duty * 100.0,
                lo * 100.0,
                mean * 100.0,
                hi * 100.0
            );
        }
        s
    }
}

/// One scenario of the guest script (`pe: scenario name=...`) as replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Pulses rebuilt from the trace.
    pub pulses: usize,
    /// Moves (normal, fast, reverse, other).
    pub moves: [usize; 4],
    /// What happened at its markers: beliefs against the model, line levels.
    pub lines: Vec<String>,
}

/// What the replay found.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Per scenario.
    pub scenarios: Vec<Scenario>,
    /// Per class of pulse.
    pub figures: Vec<Figure>,
    /// Every check that failed, with when and why.
    pub failures: Vec<String>,
    /// Observations for the report (what the kernel did at SIGKILL, ...).
    pub notes: Vec<String>,
    /// The model's hands at the end.
    pub final_model: Option<u32>,
    /// From leading edge to leading edge of consecutive moves of one kind
    /// in one run, µs: normal, fast, reverse.
    pub intervals: [Vec<i64>; 3],
}

/// Something in time order: a move, a marker, or a request of a coil
/// line by a daemon (its `gpio_direction` event: 0 = pin A, 1 = pin B).
enum Item<'a> {
    Move(&'a Move),
    Mark(i64, &'a Mark),
    Request(i64, usize),
}

/// The replay's state while it walks the items.
struct Walk<'a> {
    edges: &'a [Edge],
    config: PulseConfig,
    model: Option<Movement>,
    paused: bool,
    /// The kill of the previous run, and the line it left high if any.
    killed: Option<(i64, (bool, bool))>,
    /// The first move after a restart that followed a kill may have the
    /// wrong polarity: it is the settling pulse.
    settle_next: bool,
    /// The model's hands when the current daemon started (what its journal
    /// should hold).
    at_start: Option<u32>,
    run: String,
    /// The kind and leading edge of the run's last move.
    last_move: Option<(MoveKind, i64)>,
    kills: Vec<i64>,
    out: Replay,
}

fn pin_name(i: usize) -> &'static str {
    ["A", "B"][i]
}

fn levels_text((a, b): (bool, bool)) -> String {
    format!("A={} B={}", u8::from(a), u8::from(b))
}

/// Replays `events` (the whole trace) with the coil's `edges` and `moves`;
/// `gpio` are the coil lines' global numbers (pin A, pin B).
pub fn replay(events: &[Event], edges: &[Edge], moves: &[Move], gpio: [u32; 2]) -> Replay {
    let mut items: Vec<(i64, Item)> = moves.iter().map(|m| (m.start_us(), Item::Move(m))).collect();
    for e in events {
        match &e.kind {
            EventKind::Mark(m) => items.push((e.t_us, Item::Mark(e.t_us, m))),
            EventKind::Direction { gpio: g, output: true } => {
                if let Some(i) = gpio.iter().position(|x| x == g) {
                    items.push((e.t_us, Item::Request(e.t_us, i)));
                }
            }
            _ => {}
        }
    }
    // Stable: a marker and a move at the same µs keep the move first.
    items.sort_by_key(|(t, _)| *t);
    let kills = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Mark(m) if m.verb == "sigkill" => Some(e.t_us),
            _ => None,
        })
        .collect();
    let mut walk = Walk {
        edges,
        config: PulseConfig::default(),
        model: None,
        paused: false,
        killed: None,
        settle_next: false,
        at_start: None,
        run: String::new(),
        last_move: None,
        kills,
        out: Replay::default(),
    };
    walk.out.figures = figures(&walk.config);
    for (_, item) in items {
        match item {
            Item::Move(m) => walk.on_move(m),
            Item::Mark(t, m) => walk.on_mark(t, m),
            Item::Request(t, pin) => walk.on_request(t, pin),
        }
    }
    walk.out.final_model = walk.model.as_ref().map(|m| m.position);
    walk.out
}

/// The figures' classes, in print order, with what the default waveforms ask.
fn figures(config: &PulseConfig) -> Vec<Figure> {
    let nominal = |p: &Pulse| {
        let n = i64::from(p.len_us.div_ceil(PWM_PERIOD_US));
        (n - 1) * i64::from(PWM_PERIOD_US) + i64::from(p.on_us.min(PWM_PERIOD_US))
    };
    let fig = |name: &str, p: &Pulse| Figure {
        name: name.to_owned(),
        nominal_us: nominal(p),
        nominal_duty: f64::from(p.on_us) / f64::from(PWM_PERIOD_US),
        nominal_periods: p.len_us.div_ceil(PWM_PERIOD_US),
        ..Figure::default()
    };
    let normal = Waveform::for_move(MoveKind::Normal, 0, config);
    let fast = Waveform::for_move(MoveKind::Fast, 0, config);
    let mut out = vec![fig("normal", &normal.pulses()[0]), fig("fast", &fast.pulses()[0])];
    // Region A at 40 s, region B at 10 s (the defaults' regions).
    for (region, pos) in [("A", 40), ("B", 10)] {
        let w = Waveform::for_move(MoveKind::Reverse, pos, config);
        let (kick, pull) = (w.pulses()[0], w.pulses()[1]);
        out.push(fig(&format!("reverse kick (region {region})"), &kick));
        out.push(Figure {
            name: format!("reverse gap (region {region})"),
            nominal_us: i64::from(pull.start_us) - nominal(&kick),
            ..Figure::default()
        });
        out.push(fig(&format!("reverse pull (region {region})"), &pull));
    }
    out
}

impl Walk<'_> {
    fn fail(&mut self, t_us: i64, what: String) {
        self.out.failures.push(format!("[{:.6} s] {what}", t_us as f64 / 1e6));
    }

    fn scenario(&mut self) -> &mut Scenario {
        if self.out.scenarios.is_empty() {
            self.out.scenarios.push(Scenario { name: "(before any scenario)".into(), ..Scenario::default() });
        }
        let last = self.out.scenarios.len() - 1;
        &mut self.out.scenarios[last]
    }

    fn note_line(&mut self, line: String) {
        self.scenario().lines.push(line);
    }

    /// The levels at `t_us` must both be low at `what`.
    fn expect_low(&mut self, t_us: i64, what: &str) -> (bool, bool) {
        let levels = levels_at(self.edges, t_us);
        if levels.0 || levels.1 {
            self.fail(t_us, format!("a coil line is high {what}: {}", levels_text(levels)));
        }
        levels
    }

    fn on_mark(&mut self, t: i64, m: &Mark) {
        match m.verb.as_str() {
            "scenario" => {
                let name = m.get("name").unwrap_or("?").to_owned();
                self.out.scenarios.push(Scenario { name, ..Scenario::default() });
            }
            "crown" => self.on_crown(t, m),
            "belief" => self.on_belief(t, m),
            "resume" => {
                self.paused = false;
                self.last_move = None;
            }
            "start" => {
                // Pausing is not saved: a new daemon ticks.
                self.paused = false;
                self.run = m.get("run").unwrap_or("?").to_owned();
                self.at_start = self.model.as_ref().map(|m| m.position);
                self.last_move = None;
            }
            "journal" => self.on_journal(t, m),
            "exited" => self.on_exited(t, m),
            "sigterm" => self.on_signal(t, m, "SIGTERM"),
            "sigkill" => {
                self.on_signal(t, m, "SIGKILL");
                self.killed = Some((t, levels_at(self.edges, t)));
            }
            "up" => {
                let levels = levels_at(self.edges, t);
                self.note_line(format!("run {} up (answers on the bus): lines {}", self.run, levels_text(levels)));
            }
            "levels" => self.on_levels(t, m),
            "released" => {
                let after = m.num("after_us").map_or("?".into(), |us| format!("{:.3} ms", us as f64 / 1e3));
                let note = format!(
                    "run {}: {after} after the {}, the kernel had released the lines and the pins were no outputs any more (functions {}; level register a={} b={}: the output latch)",
                    m.get("run").unwrap_or("?"),
                    m.get("signal").unwrap_or("signal").to_uppercase(),
                    m.get("fsel").unwrap_or("?"),
                    m.get("a").unwrap_or("?"),
                    m.get("b").unwrap_or("?")
                );
                self.out.notes.push(note.clone());
                self.note_line(note);
            }
            _ => {}
        }
    }

    fn on_crown(&mut self, t: i64, m: &Mark) {
        self.paused = true;
        let Some(pos) = m.num("pos").and_then(|p| u32::try_from(p).ok()) else {
            return self.fail(t, format!("bad marker: {m}"));
        };
        self.expect_low(t, "when the hands were set");
        match &mut self.model {
            Some(model) => model.set_by_crown(pos),
            None => self.model = Some(Movement::new(pos, 43_200, MotorParams::default())),
        }
        self.note_line(format!("hands set to {pos} ({}) while paused", clock_face(pos)));
    }

    fn on_belief(&mut self, t: i64, m: &Mark) {
        self.paused = true;
        let levels = self.expect_low(t, "while paused");
        let belief = m.num("pos");
        let model = self.model.as_ref().map(|m| i64::from(m.position));
        // `piclockctl show --value` says yes or no.
        let certain = matches!(m.get("certain"), Some("yes" | "true"));
        let label = m.get("label").unwrap_or("");
        let verdict = if belief.is_some() && belief == model && certain { "equal" } else { "DIFFERENT" };
        self.note_line(format!(
            "{label}: daemon believes {} ({}certain), model hands at {} -> {verdict}; lines {}",
            belief.map_or("?".into(), |b| b.to_string()),
            if certain { "" } else { "NOT " },
            model.map_or("?".into(), |p| p.to_string()),
            levels_text(levels)
        ));
        if verdict != "equal" {
            self.fail(
                t,
                format!(
                    "{label}: the daemon believes {belief:?} (certain: {certain}), the model's hands are at {model:?}"
                ),
            );
        }
    }

    fn on_exited(&mut self, t: i64, m: &Mark) {
        let levels = self.expect_low(t, "after the daemon exited on SIGTERM");
        let rc = m.get("rc").unwrap_or("?");
        if rc != "0" {
            self.fail(t, format!("the daemon exited with {rc} on SIGTERM, not 0"));
        }
        self.note_line(format!("stop (SIGTERM, exit code {rc}): trace says lines {}", levels_text(levels)));
    }

    /// A signal sent by `pi-gpio-probe` in the middle of a pulse (with the
    /// levels it read right after), or by the script.
    fn on_signal(&mut self, t: i64, m: &Mark, name: &str) {
        let levels = levels_at(self.edges, t);
        let read = (m.get("a") == Some("1"), m.get("b") == Some("1"));
        if m.get("a").is_some() && read != levels {
            self.fail(
                t,
                format!(
                    "at the {name} the GPIO controller shows {}, the trace {}",
                    levels_text(read),
                    levels_text(levels)
                ),
            );
        }
        let when = if m.get("a").is_some() { "in the middle of a pulse" } else { "while paused" };
        self.note_line(format!("stop ({name} {when}): lines {} at the signal", levels_text(levels)));
    }

    /// A daemon requested a coil line: it must be low from then on (the
    /// request asks for an output at the inactive level).
    fn on_request(&mut self, t: i64, pin: usize) {
        let levels = levels_at(self.edges, t);
        let high = if pin == 0 { levels.0 } else { levels.1 };
        if high {
            self.fail(t, format!("pin {} is high right after run {} requested it", pin_name(pin), self.run));
        }
        if pin == 1 {
            self.note_line(format!("run {} requested the lines: {}", self.run, levels_text(levels)));
        }
        let Some((kill, held)) = self.killed else { return };
        if pin == 1 {
            self.killed = None;
            self.settle_next = true;
        }
        if !(if pin == 0 { held.0 } else { held.1 }) {
            return;
        }
        let note = format!(
            "pin {} was high at the SIGKILL; no line change was traced until run {} requested the lines {:.3} s later as outputs set low",
            pin_name(pin),
            self.run,
            (t - kill) as f64 / 1e6
        );
        self.out.notes.push(note.clone());
        self.note_line(note);
    }

    /// What the new daemon recovered from its journal, against the model's
    /// hands when it started.
    fn on_journal(&mut self, t: i64, m: &Mark) {
        let model = self.at_start.map(i64::from);
        if let Some(pos) = m.num("pos") {
            let verdict = if Some(pos) == model { "equal" } else { "DIFFERENT" };
            self.note_line(format!(
                "run {}: journal says hands at {pos}, model hands at {} -> {verdict}",
                self.run,
                model.map_or("?".into(), |p| p.to_string())
            ));
            if Some(pos) != model {
                self.fail(t, format!("run {}: the journal says {pos}, the model's hands were at {model:?}", self.run));
            }
        } else if let (Some(from), Some(to)) = (m.num("from"), m.num("to")) {
            let inside = model.is_some_and(|p| p == from || p == to);
            self.note_line(format!(
                "run {}: journal says a move {from} -> {to} was in flight, model hands at {} -> {}",
                self.run,
                model.map_or("?".into(), |p| p.to_string()),
                if inside { "one of the two" } else { "NEITHER" }
            ));
            if !inside {
                self.fail(
                    t,
                    format!("run {}: journal's move {from} -> {to}, the model's hands at {model:?}", self.run),
                );
            }
        }
    }

    /// A reading of the pin levels from the GPIO controller's registers
    /// (`pi-gpio-probe`): must agree with the trace.
    fn on_levels(&mut self, t: i64, m: &Mark) {
        let at = m.get("at").unwrap_or(m.verb.as_str()).to_owned();
        let read = (m.get("a") == Some("1"), m.get("b") == Some("1"));
        let traced = levels_at(self.edges, t);
        if read != traced {
            self.fail(
                t,
                format!("{at}: the GPIO controller shows {}, the trace {}", levels_text(read), levels_text(traced)),
            );
        }
        let fsel = m.get("fsel").unwrap_or("?");
        self.note_line(format!("{at}: GPIO controller shows {} (functions {fsel}), as the trace", levels_text(read)));
    }
}

/// `H:MM:SS` of a position on a 12-hour dial.
pub fn clock_face(pos: u32) -> String {
    let h = pos / 3600;
    format!("{}:{:02}:{:02}", if h == 0 { 12 } else { h }, pos / 60 % 60, pos % 60)
}

impl Walk<'_> {
    fn on_move(&mut self, m: &Move) {
        let t = m.start_us();
        self.scenario().pulses += m.pulses.len();
        if self.paused {
            self.fail(t, "a pulse while the daemon was paused".into());
        }
        let cut = self.kills.iter().any(|&k| k >= t && k <= m.end_us().max(t));
        let settle = std::mem::take(&mut self.settle_next);
        let Some(from) = self.model.as_ref().map(|model| model.position) else {
            return self.fail(t, "a pulse before the hands were set".into());
        };
        let kind = self.classify(t, m, from, cut || settle);
        let index = kind.map_or(3, |k| k as usize);
        if let (Some(k), Some((last, at))) = (kind, self.last_move) {
            if k == last && !cut && !settle {
                self.out.intervals[index].push(t - at);
            }
        }
        self.last_move = kind.map(|k| (k, t));
        self.scenario().moves[index] += 1;
        if let (Some(kind), false) = (kind, cut) {
            self.measure(kind, from, &m.pulses);
        }
        let Some(model) = self.model.as_mut() else { return };
        let outcome = model.apply_pulses(&m.model_pulses(), t);
        match outcome {
            Outcome::Forward | Outcome::Backward => {}
            Outcome::Missed(why) if cut => {
                self.out.notes.push(format!("the move cut by the SIGKILL did not step the model's rotor ({why:?})"));
            }
            Outcome::Missed(MissReason::WrongPolarity) if settle => {
                self.out.notes.push(format!(
                    "the settling pulse after the restart had the polarity that holds the rotor: the cut move had stepped it to {from}"
                ));
            }
            Outcome::Missed(why) => self.fail(t, format!("a move from {from} did not step the model's rotor: {why:?}")),
        }
        if cut && matches!(outcome, Outcome::Forward | Outcome::Backward) {
            self.out.notes.push(format!(
                "the move cut by the SIGKILL stepped the model's rotor ({from} -> {})",
                self.model.as_ref().map_or(0, |m| m.position)
            ));
        }
    }

    /// Which waveform `m` is, from the model's position `from`; checks its
    /// pins against that position (polarity). `lenient`: a cut or settling
    /// move, whose polarity is not checked.
    fn classify(&mut self, t: i64, m: &Move, from: u32, lenient: bool) -> Option<MoveKind> {
        let kind = match m.pulses.len() {
            1 => {
                let (n, f) = (self.config.norm_tick_ms * 10, self.config.fwd_tick_ms * 10);
                let p = m.pulses[0].periods;
                if p.abs_diff(n) <= p.abs_diff(f) {
                    MoveKind::Normal
                } else {
                    MoveKind::Fast
                }
            }
            2 => MoveKind::Reverse,
            k => {
                self.fail(t, format!("a move of {k} pulses: {:?}", m.pulses));
                return None;
            }
        };
        let want = Waveform::for_move(kind, from, &self.config);
        let pins: Vec<_> = m.pulses.iter().map(|p| p.pin).collect();
        let wanted: Vec<_> = want.pulses().iter().map(|p| p.pin).collect();
        if pins != wanted && !lenient {
            self.fail(
                t,
                format!(
                    "{kind:?} move from {from} on pins {pins:?}: the rotor there needs {wanted:?} (the same polarity as the step before)"
                ),
            );
        }
        Some(kind)
    }

    /// Adds the measured pulses of a `kind` move from `from` to the figures
    /// and checks them against the tolerances.
    fn measure(&mut self, kind: MoveKind, from: u32, pulses: &[RebuiltPulse]) {
        let region = if self.config.in_region_a(from) { "A" } else { "B" };
        let names: Vec<String> = match kind {
            MoveKind::Normal => vec!["normal".into()],
            MoveKind::Fast => vec!["fast".into()],
            MoveKind::Impulse => vec!["impulse".into()],
            MoveKind::Reverse => {
                vec![format!("reverse kick (region {region})"), format!("reverse pull (region {region})")]
            }
        };
        for (p, name) in pulses.iter().zip(&names) {
            let Some(i) = self.out.figures.iter().position(|f| &f.name == name) else { continue };
            let (len, duty) = (p.length_us(), p.duty());
            let fig = &mut self.out.figures[i];
            fig.lengths.push(len);
            fig.duties.push(duty);
            let (nominal, nominal_duty, periods) = (fig.nominal_us, fig.nominal_duty, fig.nominal_periods);
            if (len - nominal).abs() > LENGTH_TOLERANCE_US
                || (duty - nominal_duty).abs() * 100.0 > DUTY_TOLERANCE_POINTS
                || p.periods != periods
            {
                self.fail(
                    p.first_rise_us,
                    format!(
                        "{name} pulse of {len} µs, {} periods at {:.1} % (asked {nominal} µs, {periods} periods at {:.1} %)",
                        p.periods,
                        duty * 100.0,
                        nominal_duty * 100.0
                    ),
                );
            }
        }
        if let [kick, pull] = pulses {
            let gap = pull.first_rise_us - kick.last_fall_us;
            let name = format!("reverse gap (region {region})");
            if let Some(i) = self.out.figures.iter().position(|f| f.name == name) {
                self.out.figures[i].lengths.push(gap);
                let nominal = self.out.figures[i].nominal_us;
                if (gap - nominal).abs() > GAP_TOLERANCE_US {
                    self.fail(kick.first_rise_us, format!("{name} of {gap} µs (asked {nominal} µs)"));
                }
            }
        }
    }
}

/// The figures as lines for the report.
pub fn figure_lines(figures: &[Figure]) -> Vec<String> {
    figures.iter().map(Figure::line).collect()
}

/// The intervals between moves of one kind, as a line for the report.
pub fn interval_line(intervals: &[Vec<i64>; 3]) -> String {
    let parts: Vec<String> = ["normal", "fast", "reverse"]
        .iter()
        .zip(intervals)
        .filter_map(|(name, v)| {
            let (lo, hi) = (v.iter().min()?, v.iter().max()?);
            Some(format!("{name} {:.3} / {:.3} ms (n={})", *lo as f64 / 1e3, *hi as f64 / 1e3, v.len()))
        })
        .collect();
    format!("leading edge to leading edge, min / max: {}", parts.join(", "))
}
