//! The checker checked: synthetic traces of the whole guest protocol, as a
//! right daemon and as broken ones would leave them, in the kernel's text
//! format. A right daemon passes; two pulses of the same polarity in a row,
//! a line left high at exit, a lost event or a missing scenario fail.

use super::*;
use piclock_core::waveform::{forward_pin, MoveKind, Pin, Waveform};

/// Pin A and B as global GPIO numbers (gpiochip0's base 458 + 12, 13).
const A: u32 = 470;
const B: u32 = 471;

/// Writes a trace as the kernel would, one line per event.
#[derive(Default)]
struct Synth {
    lines: Vec<String>,
    t_us: i64,
    pos: u32,
    /// Breakages of the synthetic daemon.
    same_polarity_at: Option<usize>,
    leave_high_at_exit: bool,
    /// Fast moves of the forward catch-up, if not 64.
    fast_moves: Option<usize>,
    moves: usize,
}

impl Synth {
    fn at(&self, t_us: i64) -> String {
        format!("{}.{:06}", t_us / 1_000_000, t_us % 1_000_000)
    }

    fn value(&mut self, t_us: i64, gpio: u32, high: bool) {
        let ts = self.at(t_us);
        self.lines
            .push(format!("   piclockd-tick-138     [002] .....  {ts}: gpio_value: {gpio} set {}", u8::from(high)));
    }

    /// One ioctl of the daemon: both lines set, traced one after the other.
    fn set(&mut self, t_us: i64, a: bool, b: bool) {
        self.value(t_us, A, a);
        self.value(t_us + 1, B, b);
    }

    fn mark(&mut self, text: &str) {
        self.t_us += 1_000;
        let ts = self.at(self.t_us);
        self.lines.push(format!("              sh-150     [000] .....  {ts}: tracing_mark_write: pe: {text}"));
        self.t_us += 1_000;
    }

    /// Plays one move from the synthetic belief `self.pos`, `stop_after_us`
    /// into it at most (a kill), leaving the line as it was then.
    fn play(&mut self, kind: MoveKind, stop_after_us: Option<i64>) {
        let mut w = Waveform::for_move(kind, self.pos, &Default::default());
        if self.same_polarity_at == Some(self.moves) {
            // The broken daemon drives the pin of the move before.
            w = Waveform::for_move(kind, self.pos + 1, &Default::default());
        }
        self.moves += 1;
        let t0 = self.t_us;
        'pulses: for p in w.pulses() {
            for k in 0..p.len_us.div_ceil(100) {
                let rise = t0 + i64::from(p.start_us + k * 100);
                let high = |h: bool| if p.pin == Pin::A { (h, false) } else { (false, h) };
                let (a, b) = high(true);
                self.set(rise, a, b);
                if stop_after_us.is_some_and(|s| rise + 30 > t0 + s) {
                    self.t_us = rise + 30;
                    break 'pulses;
                }
                let (a, b) = high(false);
                self.set(rise + i64::from(p.on_us.min(p.len_us - k * 100)), a, b);
            }
        }
        if stop_after_us.is_none() {
            self.t_us = t0 + i64::from(w.duration_us());
        }
        self.pos = match kind {
            MoveKind::Reverse => (self.pos + 43_199) % 43_200,
            _ => (self.pos + 1) % 43_200,
        };
    }

    fn moves(&mut self, kind: MoveKind, n: usize, interval_us: i64) {
        for _ in 0..n {
            let start = self.t_us;
            self.play(kind, None);
            self.t_us = start + interval_us;
        }
    }

    /// A daemon's start: the request sets both lines low, outputs.
    fn start(&mut self, run: u32) {
        self.mark(&format!("start run={run} pid=1{run}"));
        let t = self.t_us;
        for (i, gpio) in [A, B].into_iter().enumerate() {
            self.value(t + i as i64, gpio, false);
            let ts = self.at(t + i as i64);
            self.lines.push(format!("        piclockd-132     [001] .....  {ts}: gpio_direction: {gpio} out (0)"));
        }
        self.mark(&format!("up run={run}"));
    }

    fn belief(&mut self, label: &str) {
        let pos = self.pos;
        self.mark(&format!("belief label={label} pos={pos} certain=true state=paused"));
    }

    fn sigterm(&mut self, run: u32) {
        if self.leave_high_at_exit {
            // The broken daemon's last pulse never falls.
            let t = self.t_us;
            self.set(t, forward_pin(self.pos, false) == Pin::A, forward_pin(self.pos, false) == Pin::B);
        }
        self.mark(&format!("sigterm run={run}"));
        self.mark(&format!("exited run={run} rc=0"));
    }

    /// The whole protocol of the guest script.
    fn protocol(mut self) -> String {
        self.t_us = 3_000_000;
        self.mark("scenario name=set-hands");
        self.start(1);
        self.pos = 3_532;
        self.mark("crown pos=3532");
        self.mark("resume");
        self.mark("scenario name=tick");
        self.moves(MoveKind::Normal, 62, 1_000_000);
        self.mark("scenario name=forward");
        self.moves(MoveKind::Fast, self.fast_moves.unwrap_or(64), 250_000);
        // The planner lets the rotor settle before it turns around.
        self.t_us += 1_000_000;
        self.mark("scenario name=reverse");
        self.moves(MoveKind::Reverse, 32, 500_000);
        self.t_us += 1_000_000;
        self.mark("scenario name=sigterm");
        self.belief("run1-stop");
        self.sigterm(1);
        self.mark("scenario name=sigkill");
        self.start(2);
        let pos = self.pos;
        self.mark(&format!("journal run=2 pos={pos}"));
        self.moves(MoveKind::Fast, 3, 250_000);
        self.play(MoveKind::Fast, Some(25_000));
        let on_a = forward_pin(self.pos - 1, false) == Pin::A;
        self.mark(&format!("sigkill run=2 pid=12 a={} b={} fsel=out,out", u8::from(on_a), u8::from(!on_a)));
        self.t_us += 2_000_000;
        self.mark("scenario name=restart");
        self.start(3);
        let pos = self.pos;
        self.mark(&format!("journal run=3 from={} to={pos}", pos - 1));
        // The settling pulse for the lower position has the wrong polarity:
        // the cut pulse (25 ms at 60 %) stepped the rotor.
        self.pos -= 1;
        self.t_us += 300_000;
        self.play(MoveKind::Fast, None);
        self.t_us += 250_000;
        self.moves(MoveKind::Fast, 8, 250_000);
        self.belief("run3-stop");
        self.mark("scenario name=second-daemon");
        self.mark("second rc=1");
        self.sigterm(3);
        let n = self.lines.len();
        let mut out = format!("# tracer: nop\n#\n# entries-in-buffer/entries-written: {n}/{n}   #P:4\n");
        for l in self.lines {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

fn inputs(trace: String) -> Inputs {
    let log = "INFO coil: GPIO12 and GPIO13 are lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)\n".to_owned();
    Inputs {
        trace,
        chips: "dev=gpiochip1 label=raspberrypi-exp-gpio base=450 ngpio=8\ndev=gpiochip0 label=pinctrl-bcm2835 base=458 ngpio=54\n".into(),
        logs: vec![log.clone(), log.clone(), log],
        second: Some((
            "ERROR coil: cannot request GPIO12 (line 12) and GPIO13 (line 13) of /dev/gpiochip0: held by another process or a kernel driver (GPIO12: consumer \"piclockd\", GPIO13: consumer \"piclockd\"; is another piclockd running?)\n".into(),
            1,
        )),
    }
}

fn failures(s: Synth) -> Vec<String> {
    let r = check(&inputs(s.protocol()));
    for l in &r.lines {
        println!("{l}");
    }
    for f in &r.failures {
        println!("FAIL: {f}");
    }
    r.failures
}

#[test]
fn a_right_daemon_passes() {
    let r = check(&inputs(Synth::default().protocol()));
    assert_eq!(r.failures, Vec::<String>::new(), "{:#?}", r.lines);
    let text = r.lines.join("\n");
    assert!(text.contains("scenario tick: 62"), "{text}");
    assert!(
        text.contains("was high at the SIGKILL; no line change was traced until run 3 requested the lines 2.0"),
        "{text}"
    );
    assert!(text.contains("the settling pulse after the restart had the polarity that holds the rotor"), "{text}");
    assert!(text.contains("run3-stop: daemon believes"), "{text}");
}

#[test]
fn two_pulses_of_the_same_polarity_in_a_row_are_caught() {
    // The 6th normal tick drives the pin of the 5th.
    let f = failures(Synth { same_polarity_at: Some(5), ..Synth::default() });
    assert!(f.iter().any(|f| f.contains("the same polarity as the step before")), "{f:#?}");
    assert!(f.iter().any(|f| f.contains("did not step the model's rotor: WrongPolarity")), "{f:#?}");
    assert!(f.iter().any(|f| f.contains("the daemon believes") && f.contains("the model's hands are at")), "{f:#?}");
}

#[test]
fn the_same_polarity_in_a_reverse_tick_is_caught() {
    let f = failures(Synth { same_polarity_at: Some(62 + 64 + 3), ..Synth::default() });
    assert!(f.iter().any(|f| f.contains("Reverse move") && f.contains("same polarity")), "{f:#?}");
}

#[test]
fn a_line_left_high_at_exit_is_caught() {
    let f = failures(Synth { leave_high_at_exit: true, ..Synth::default() });
    assert!(f.iter().any(|f| f.contains("a coil line is high after the daemon exited on SIGTERM")), "{f:#?}");
}

#[test]
fn lost_events_missing_scenarios_and_a_silent_second_daemon_are_caught() {
    let trace = Synth::default().protocol();
    let (header, rest) = trace.split_once("#P:4").unwrap();
    let n: u64 = header.rsplit('/').next().unwrap().trim().parse().unwrap();
    let lossy = format!("# entries-in-buffer/entries-written: {}/{}   #P:4{rest}", n - 10, n + 10);
    let r = check(&inputs(lossy));
    assert!(r.failures.iter().any(|f| f.contains("overflowed")), "{:?}", r.failures);
    let r = check(&inputs(trace.replace("scenario name=reverse", "scenario name=backwards")));
    assert!(r.failures.iter().any(|f| f.contains("scenario reverse is missing")), "{:?}", r.failures);
    let mut i = inputs(trace);
    i.second = Some(("started".into(), 0));
    let r = check(&i);
    assert!(r.failures.iter().any(|f| f.contains("a second daemon started")), "{:?}", r.failures);
    assert!(r.failures.iter().any(|f| f.contains("does not name /dev/gpiochip0")), "{:?}", r.failures);
}

#[test]
fn a_catch_up_too_short_to_show_anything_is_refused() {
    let f = failures(Synth { fast_moves: Some(10), ..Synth::default() });
    assert!(f.iter().any(|f| f.contains("scenario forward has 10 moves of its kind, fewer than 60")), "{f:#?}");
}

#[test]
fn a_trace_found_by_offset_not_name_is_refused() {
    let mut i = inputs(Synth::default().protocol());
    i.logs[0] = "coil: lines 12 and 13 of /dev/gpiochip0 (pinctrl-bcm2835)\n".into();
    let r = check(&i);
    assert!(
        r.failures.iter().any(|f| f.contains("no `coil:` line") || f.contains("not found by the names")),
        "{:?}",
        r.failures
    );
}

/// A verbatim excerpt of a real guest's trace (its header, the first
/// daemon's requests and markers, and the first 60 PWM periods of its
/// first tick), with the chips and log lines of that run.
#[test]
fn a_recorded_excerpt_reads_as_the_kernel_wrote_it() {
    let t = trace::parse(include_str!("../fixtures/trace-start.txt")).unwrap();
    let chips = trace::parse_chips(include_str!("../fixtures/chips.txt")).unwrap();
    let logs = include_str!("../fixtures/logs.txt");
    let lines = trace::coil_lines(logs).unwrap();
    assert_eq!((lines.offsets, lines.chip.as_str()), ([12, 13], "/dev/gpiochip0"));
    let gpio = trace::global_numbers(&lines, &chips).unwrap();
    assert_eq!(gpio, [470, 471]);
    let requests: Vec<u32> = t
        .events
        .iter()
        .filter_map(|e| match e.kind {
            trace::EventKind::Direction { gpio, output: true } => Some(gpio),
            _ => None,
        })
        .collect();
    assert_eq!(requests, [470, 471]);
    let marks: Vec<String> = t
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            trace::EventKind::Mark(m) => Some(m.verb.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(marks, ["scenario", "start", "up", "crown", "resume", "scenario"]);
    let edges = pulses::edges(&t.events, gpio);
    let p = pulses::pulses(&edges);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].pin, p[0].periods, p[0].unfinished), (Pin::A, 60, false));
    // 59 periods and one high phase: 5 960 µs; 60 % within a point.
    assert!((p[0].length_us() - 5_960).abs() <= 20, "{:?}", p[0]);
    assert!((p[0].duty() - 0.6).abs() < 0.01, "{:?}", p[0]);
    // The second daemon's real refusal passes the message check.
    let mut r = Report::default();
    let refusal = logs.lines().find(|l| l.contains("cannot request")).unwrap();
    check_second(refusal, 1, &mut r);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
}
