//! The command line, as clap definitions. The man pages and shell
//! completions are generated from these (see `generate.rs`).

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Query and control the PiClock daemon (piclockd), which keeps an analog wall clock on the true local time.
///
/// Without a command, shows the status. Changes are authorized by polkit: members of the group
/// `piclock` need no password; others are asked for one when piclockctl runs in a terminal.
#[derive(Debug, Parser)]
#[command(name = "piclockctl", version, about, long_about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Talk to a daemon on the user's session bus (piclockd --simulate --session).
    #[arg(long, global = true, conflicts_with_all = ["system", "host"])]
    pub user: bool,
    /// Talk to the daemon on the system bus (the default; DBUS_SYSTEM_BUS_ADDRESS is honoured).
    #[arg(long, global = true)]
    pub system: bool,
    /// Control the clock of another machine over ssh ([user@]host), as `timedatectl -H` does.
    #[arg(short = 'H', long, global = true, value_name = "[USER@]HOST")]
    pub host: Option<String>,
    /// Never ask for a password: a change that needs one is refused.
    #[arg(long, global = true)]
    pub no_ask_password: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Exit codes, shown at the end of `--help` and in the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  success
  1  failure (the daemon reported an error, or a sync failed)
  2  invalid input (bad arguments, or the daemon refused a value)
  3  piclockd is not running, or the bus cannot be reached
  4  access denied by polkit
  5  piclockd is too old for this command";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show where the hands are, the true local time, the state, the time source and faults (the default).
    Status(StatusArgs),
    /// Show the daemon's properties as NAME=VALUE lines, for scripts.
    Show(ShowArgs),
    /// Tell the daemon where the hands point now (H:MM or H:MM:SS); it then catches up.
    #[command(name = "set-hands")]
    SetHands {
        /// What the hands show, for example 10:08 or 10:08:30.
        #[arg(value_name = "H:MM[:SS]")]
        position: String,
    },
    /// Stop ticking; the hands stay where they are.
    Pause,
    /// Start ticking again and catch up.
    Resume,
    /// Move the hands now by N seconds (negative: backwards).
    Step {
        /// Number of one-second steps, for example 1, -1, 60.
        #[arg(allow_negative_numbers = true, value_name = "N")]
        ticks: i32,
    },
    /// Find the hand position with the hand sensors: fast-forward until the noon sensor (or the seconds sensor) marks 12.
    ///
    /// With only a seconds sensor and no position known, this finds the seconds; then tell the
    /// hour and minute with `set-hands H:MM` (the seconds come from the sensor).
    Home {
        /// Return at once instead of waiting until the position is found.
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for the position.
        #[arg(long, default_value_t = 4 * 3600, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Query the NTP servers now and print the outcome.
    Sync {
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Show the pulse settings, or change some of them with `config set`.
    Config {
        /// `set` to change settings.
        #[command(subcommand)]
        action: Option<ConfigCmd>,
        /// Print the settings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or set the NTP servers, in the order they are asked.
    #[command(name = "ntp-servers")]
    NtpServers {
        /// Host names or IP addresses, each with an optional :port. None: show the current list.
        #[arg(value_name = "SERVER")]
        servers: Vec<String>,
    },
    /// Show or set the time zone of the dial (an IANA name such as Europe/Berlin).
    Timezone {
        /// The new zone. None: show the current one.
        zone: Option<String>,
    },
    /// List the time zones the `timezone` command accepts.
    #[command(name = "list-timezones")]
    ListTimezones,
    /// Print changes as they happen (properties, syncs, faults) until Ctrl-C.
    Monitor,
    /// Find the polarity and pulse settings that work for this movement, step by step (interactive).
    ///
    /// Pauses the clock, moves the hands and asks where the second hand points after each move;
    /// changes invert_polarity and the drive settings until forward and reverse steps land, and
    /// resumes the clock at the end (if it was running).
    Calibrate,
    /// Run random forward and backward bursts that must end where they started, asking where the
    /// second hand points after every 29 steps at most (so a hand that is off cannot match by chance).
    #[command(name = "test-movement")]
    TestMovement {
        /// Steps in all (rounded up to an even number).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=100_000))]
        steps: u32,
        /// Seed of the random bursts (default: from the clock), to repeat a run.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Print a shell completion script (bash, zsh or fish) to standard output.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Write the man pages into a directory (used when packaging).
    #[command(name = "generate-man", hide = true)]
    GenerateMan {
        /// Where to write piclockctl.1 and piclockctl-*.1.
        dir: std::path::PathBuf,
    },
}

/// Options of `status`.
#[derive(Debug, Args, Default)]
pub struct StatusArgs {
    /// Print the status as one JSON object (keys documented in the PiClock book: docs/src/reference/piclockctl.md).
    #[arg(long)]
    pub json: bool,
}

/// Options of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Show only this property (may be repeated), for example -p HandPosition.
    #[arg(short = 'p', long = "property", value_name = "NAME")]
    pub properties: Vec<String>,
    /// Print only the values, without NAME=.
    #[arg(long)]
    pub value: bool,
    /// Print one JSON object, property names as keys.
    #[arg(long, conflicts_with = "value")]
    pub json: bool,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Change settings, all or nothing: piclockctl config set norm_tick_ms=30 norm_tick_on_us=70
    Set {
        /// key=value pairs (see `piclockctl config` for keys and ranges).
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
    },
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_steps_and_bus_choices_parse() {
        let cli = Cli::try_parse_from(["piclockctl", "step", "-5"]).expect("parses");
        assert!(matches!(cli.command, Some(Cmd::Step { ticks: -5 })));
        let cli = Cli::try_parse_from(["piclockctl", "-H", "pi@clock", "status", "--json"]).expect("parses");
        assert_eq!(cli.host.as_deref(), Some("pi@clock"));
        assert!(Cli::try_parse_from(["piclockctl", "--user", "-H", "x", "status"]).is_err());
        assert!(Cli::try_parse_from(["piclockctl", "config", "set"]).is_err(), "set needs assignments");
        assert!(Cli::try_parse_from(["piclockctl", "show", "--value", "--json"]).is_err());
    }
}
