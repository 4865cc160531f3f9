//! Property-test settings shared by every crate's tests (feature `testing`).
//!
//! Every property test takes its configuration from [`proptest_config`], so
//! that all of them can be replayed and soaked the same way:
//!
//! - `PROPTEST_CASES` sets the number of cases of every property test (the
//!   soak, `scripts/soak.sh`, raises it); unset, each test runs its own
//!   default.
//! - `PROPTEST_RNG_SEED` fixes the seed the cases are drawn from; unset, a
//!   fresh seed is drawn. The seed is printed either way, so the log of a
//!   failing test names it (cargo shows a test's output when it fails), and
//!   `PROPTEST_RNG_SEED=<seed> cargo test <name>` draws the same cases again.
//!   `scripts/test.sh` draws one seed for the whole run and prints it.
//! - Every failure found is kept as a seed in the crate's
//!   `proptest-regressions/` folder (committed), and those cases run first,
//!   before any new one.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The environment variable that sets the number of cases.
pub const CASES_VAR: &str = "PROPTEST_CASES";

/// The environment variable that fixes the seed cases are drawn from.
pub const SEED_VAR: &str = "PROPTEST_RNG_SEED";

/// The number of cases a property test runs: `PROPTEST_CASES` when it is set
/// (to a positive number), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var(CASES_VAR).ok().and_then(|v| v.trim().parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// The seed cases are drawn from: `PROPTEST_RNG_SEED` when set, else a fresh
/// one (from the standard library's randomly keyed hasher).
pub fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| RandomState::new().hash_one(std::process::id()))
}

/// The configuration of a property test whose own default is
/// `default_cases` cases: the case count and seed as the module
/// documentation says (both printed), failures kept in the crate's
/// `proptest-regressions/` folder beside `source_file` (the caller's
/// `file!()`).
pub fn proptest_config_for(default_cases: u32, source_file: &'static str) -> Config {
    let cases = cases(default_cases);
    let seed = seed();
    eprintln!("property test: {SEED_VAR}={seed} {CASES_VAR}={cases}");
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(source_file),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel("proptest-regressions"))),
        ..Config::default()
    }
}

/// [`proptest_config_for`] the calling file: for `#![proptest_config(...)]`
/// in a `proptest!` block, whose macro sets the source file itself.
#[macro_export]
macro_rules! proptest_config {
    ($default_cases:expr) => {
        $crate::testing::proptest_config_for($default_cases, file!())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_failures_and_fixes_a_seed() {
        let c = proptest_config_for(7, file!());
        assert!(c.cases >= 1);
        assert!(matches!(c.rng_seed, RngSeed::Fixed(_)));
        assert_eq!(c.source_file, Some(file!()));
        assert!(c.failure_persistence.is_some());
        // Without PROPTEST_CASES in the environment the default holds.
        if std::env::var(CASES_VAR).is_err() {
            assert_eq!(c.cases, 7);
        }
    }
}
