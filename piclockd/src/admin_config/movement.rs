//! `[movement]` of the admin file: what the coil lines drive.
//!
//! ```toml
//! [movement]
//! kind = "impulse"         # "quartz" (a Lavet movement, the default) or "impulse" (a slave clock line)
//! step_s = 60              # impulse lines: seconds of dial per impulse, 60, 30 or 1
//! catch_up = "fastest"     # impulse lines: "fastest" or "hold-when-ahead"
//! ```
//!
//! No `[movement]` section: a quartz movement, exactly as before impulse
//! lines existed. `step_s` and `catch_up` belong to impulse lines: with
//! `kind = "quartz"` they are refused rather than ignored.

use piclock_core::impulse_line::{CatchUp, Drive, ImpulseLine, STEP_SECONDS};
use serde::Deserialize;

/// `[movement]`, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMovement")]
pub struct MovementConfig {
    /// Quartz, or an impulse line with its step and catch-up policy.
    pub drive: Drive,
}

/// A `[movement]` value refused; the message names the key and says what
/// is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MovementError {
    /// `kind` other than "quartz" or "impulse".
    #[error("[movement] kind = {written:?}: accepted: \"quartz\" or \"impulse\"")]
    Kind {
        /// The value as written (its first 32 characters).
        written: String,
    },
    /// A key of impulse lines (`step_s`, `catch_up`) on a quartz movement.
    #[error("[movement] {key} is for impulse lines; accepted: kind = \"impulse\" with it, or no {key}")]
    ImpulseOnly {
        /// The key.
        key: &'static str,
    },
    /// `step_s` other than 60, 30 or 1.
    #[error("[movement] step_s = {value}: accepted: 60, 30 or 1 (seconds of dial per impulse)")]
    Step {
        /// The value.
        value: i64,
    },
    /// `catch_up` other than "fastest" or "hold-when-ahead".
    #[error("[movement] catch_up = {written:?}: accepted: \"fastest\" or \"hold-when-ahead\"")]
    CatchUp {
        /// The value as written (its first 32 characters).
        written: String,
    },
    /// A line the core refuses: why.
    #[error("[movement] {0}")]
    Line(String),
}

/// `[movement]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMovement {
    kind: Option<String>,
    step_s: Option<i64>,
    catch_up: Option<String>,
}

fn short(s: &str) -> String {
    s.chars().take(32).collect()
}

impl TryFrom<RawMovement> for MovementConfig {
    type Error = MovementError;
    fn try_from(raw: RawMovement) -> Result<Self, MovementError> {
        let impulse = match raw.kind.as_deref() {
            None | Some("quartz") => false,
            Some("impulse") => true,
            Some(other) => return Err(MovementError::Kind { written: short(other) }),
        };
        if !impulse {
            if let Some(key) = [("step_s", raw.step_s.is_some()), ("catch_up", raw.catch_up.is_some())]
                .iter()
                .find_map(|(k, set)| set.then_some(*k))
            {
                return Err(MovementError::ImpulseOnly { key });
            }
            return Ok(MovementConfig { drive: Drive::Quartz });
        }
        let step_s = match raw.step_s.map(u32::try_from) {
            None => 60,
            Some(Ok(v)) if STEP_SECONDS.contains(&v) => v,
            Some(_) => return Err(MovementError::Step { value: raw.step_s.unwrap_or_default() }),
        };
        let catch_up = match raw.catch_up.as_deref() {
            None => CatchUp::Fastest,
            Some(word) => CatchUp::parse(word).ok_or_else(|| MovementError::CatchUp { written: short(word) })?,
        };
        let line = ImpulseLine::new(step_s, catch_up).map_err(MovementError::Line)?;
        Ok(MovementConfig { drive: Drive::Impulse(line) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_config::tests::{documented_example, parse, refused};

    #[test]
    fn no_section_is_quartz_and_the_documented_example_parses() {
        assert_eq!(parse("").unwrap().movement.drive, Drive::Quartz);
        let example = documented_example(include_str!("movement.rs"));
        let m = parse(&example).unwrap().movement;
        assert_eq!(m.drive, Drive::Impulse(ImpulseLine { step_s: 60, catch_up: CatchUp::Fastest }));
        // With kind quartz, the impulse keys are refused, as documented.
        let quartz = example.replacen("kind = \"impulse\"", "kind = \"quartz\"", 1);
        assert!(refused(&quartz).contains("step_s is for impulse lines"));
    }

    #[test]
    fn forms() {
        let drive = |t: &str| parse(t).unwrap().movement.drive;
        assert_eq!(drive("[movement]\nkind = \"quartz\"\n"), Drive::Quartz);
        assert_eq!(
            drive("[movement]\nkind = \"impulse\"\n"),
            Drive::Impulse(ImpulseLine { step_s: 60, catch_up: CatchUp::Fastest })
        );
        assert_eq!(
            drive("[movement]\nkind = \"impulse\"\nstep_s = 1\ncatch_up = \"hold-when-ahead\"\n"),
            Drive::Impulse(ImpulseLine { step_s: 1, catch_up: CatchUp::HoldWhenAhead })
        );
    }

    #[test]
    fn errors_name_the_key_and_what_is_accepted() {
        for (text, needles) in [
            ("[movement]\nkind = \"lavet\"\n", &["[movement] kind = \"lavet\"", "\"quartz\" or \"impulse\""][..]),
            ("[movement]\nkind = \"impulse\"\nstep_s = 45\n", &["[movement] step_s = 45", "60, 30 or 1"]),
            ("[movement]\nkind = \"impulse\"\nstep_s = -1\n", &["[movement] step_s = -1"]),
            ("[movement]\nkind = \"impulse\"\ncatch_up = \"never\"\n", &["catch_up = \"never\"", "hold-when-ahead"]),
            ("[movement]\nstep_s = 60\n", &["step_s is for impulse lines"]),
            ("[movement]\ncatch_up = \"fastest\"\n", &["catch_up is for impulse lines"]),
            ("[movement]\nkind = \"impulse\"\nspeed = 2\n", &["unknown field `speed`"]),
            ("[movement]\nkind = 3\n", &["kind"]),
            ("[movement]\nkind = \"impulse\"\n[sensor]\nseconds = \"GPIO17\"\n", &["[sensor]", "quartz"]),
        ] {
            let e = refused(text);
            for n in needles {
                assert!(e.contains(n), "{text:?}: {n:?} not in {e}");
            }
        }
    }
}
