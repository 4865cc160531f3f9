//! The [`Rig`] of `calibrate` and `test-movement` on a real clock: the
//! daemon over D-Bus, and the person at the terminal (questions on standard
//! output, answers from standard input, one line each).

use crate::calibrate::Rig;
use crate::failure::{call_failed, Failure, EXIT_FAILURE};
use crate::Ctx;
use piclock_core::dial::Dial;
use piclock_core::pulse_config::{ConfigValue, PulseConfig};
use piclock_dbus::pulse_dict::{changes_to_dict, from_dict};
use piclock_dbus::ClockState;
use std::io::Write;
use std::time::{Duration, Instant};

/// The clock behind `ctx`, and this terminal.
pub struct DbusRig<'a> {
    ctx: &'a Ctx,
    dial: Dial,
}

impl<'a> DbusRig<'a> {
    /// A rig for the daemon of `ctx`.
    pub async fn new(ctx: &'a Ctx) -> Result<DbusRig<'a>, Failure> {
        let seconds = ctx.properties().await?.dial_seconds;
        Ok(DbusRig { ctx, dial: Dial::from_seconds(seconds).unwrap_or(Dial::TWELVE_HOUR) })
    }

    /// Pauses the clock if it runs; returns whether it was running. A clock
    /// without a known position cannot be calibrated.
    pub async fn pause(&mut self) -> Result<bool, Failure> {
        let state = self.ctx.properties().await?.state;
        if state == ClockState::NeedsPosition.as_str() {
            return Err(Failure::new(
                EXIT_FAILURE,
                "piclockd does not know where the hands are: run piclockctl set-hands H:MM:SS first",
            ));
        }
        if state == ClockState::Paused.as_str() {
            return Ok(false);
        }
        let _agent = self.ctx.agent();
        self.ctx.proxy.pause(self.ctx.interactive).await.map_err(|e| call_failed(e, "Pause", &self.ctx.target))?;
        Ok(true)
    }

    /// Resumes the clock.
    pub async fn resume(&mut self) -> Result<(), Failure> {
        let _agent = self.ctx.agent();
        self.ctx.proxy.resume(self.ctx.interactive).await.map_err(|e| call_failed(e, "Resume", &self.ctx.target))
    }
}

impl Rig for DbusRig<'_> {
    fn dial(&self) -> Dial {
        self.dial
    }

    async fn config(&mut self) -> Result<PulseConfig, Failure> {
        let dict = self.ctx.properties().await?.pulse_config;
        from_dict(&dict).map_err(|e| Failure::new(EXIT_FAILURE, format!("PulseConfig from piclockd: {e}")))
    }

    async fn set(&mut self, key: &'static str, value: ConfigValue) -> Result<(), Failure> {
        let _agent = self.ctx.agent();
        self.ctx
            .proxy
            .set_pulse_config(changes_to_dict([(key, value)]), self.ctx.interactive)
            .await
            .map_err(|e| call_failed(e, "SetPulseConfig", &self.ctx.target))
    }

    async fn belief(&mut self) -> Result<u32, Failure> {
        Ok(self.ctx.properties().await?.hand_position)
    }

    async fn set_belief(&mut self, position: u32) -> Result<(), Failure> {
        let _agent = self.ctx.agent();
        self.ctx
            .proxy
            .set_hand_position(&self.dial.format(position), self.ctx.interactive)
            .await
            .map_err(|e| call_failed(e, "SetHandPosition", &self.ctx.target))
    }

    async fn step(&mut self, ticks: i32) -> Result<(), Failure> {
        if ticks == 0 {
            return Ok(());
        }
        let target = self.dial.add(self.belief().await?, i64::from(ticks));
        let config = self.config().await?;
        let rate = if ticks < 0 { config.rev_ticks_per_sec } else { config.fwd_ticks_per_sec }.max(1);
        {
            let _agent = self.ctx.agent();
            self.ctx
                .proxy
                .step(ticks, self.ctx.interactive)
                .await
                .map_err(|e| call_failed(e, "Step", &self.ctx.target))?;
        }
        // Done when the belief has arrived and nothing moves any more.
        let limit = Duration::from_secs(u64::from(ticks.unsigned_abs() / rate) + 15);
        let start = Instant::now();
        loop {
            let now = self.ctx.properties().await?;
            if now.hand_position == target && now.state == ClockState::Paused.as_str() {
                // The last pulse and the rotor's settling.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(Failure::new(EXIT_FAILURE, format!("the hands did not finish {ticks:+} steps in time")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn ask_second(&mut self, expected: u32) -> Result<u32, Failure> {
        loop {
            print!("Where does the second hand point? [Enter: {expected}, or the second it shows, 0-59] ");
            let answer = read_answer().await?;
            let answer = answer.as_str();
            if answer.is_empty() {
                return Ok(expected);
            }
            match answer.parse::<u32>() {
                Ok(s) if s < 60 => return Ok(s),
                _ => println!("second: {answer:?} is not accepted; accepted: a whole number 0..=59, or Enter"),
            }
        }
    }

    async fn ask_position(&mut self) -> Result<u32, Failure> {
        loop {
            print!("What time do the hands show? [H:MM:SS] ");
            let answer = read_answer().await?;
            match self.dial.parse(&answer) {
                Ok(p) => return Ok(p),
                Err(e) => println!("{e}"),
            }
        }
    }

    fn say(&mut self, text: &str) {
        println!("{text}");
    }
}

/// One line from standard input, trimmed (the prompt is flushed first).
async fn read_answer() -> Result<String, Failure> {
    let _ = std::io::stdout().flush();
    let (n, line) = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|n| (n, line))
    })
    .await
    .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?
    .map_err(|e| Failure::new(EXIT_FAILURE, format!("reading the answer: {e}")))?;
    if n == 0 {
        return Err(Failure::new(EXIT_FAILURE, "no answer (end of input); stopped"));
    }
    Ok(line.trim().to_owned())
}
