//! piclockctl: the command line of PiClock, in the spirit of timedatectl.
//! See `piclockctl --help`; exit codes are listed in `cli.rs`.

mod agent;
mod calibrate;
mod cli;
mod commands;
mod config;
mod failure;
mod generate;
mod monitor;
mod rig;
mod show;
mod status;
mod value;

use clap::Parser;
use cli::{Cli, Cmd, ConfigCmd, StatusArgs};
use failure::{call_failed, Failure, EXIT_FAILURE, EXIT_INVALID, EXIT_NOT_RUNNING};
use piclock_dbus::transport::{connect, Target};
use piclock_dbus::{Clock1Proxy, Properties};
use std::process::ExitCode;
use std::time::Duration;

/// How long a local bus may take to answer the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command may take once connected (sync and monitor excepted).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What every command needs: where the daemon is and how to ask.
pub struct Ctx {
    /// The bus and machine.
    pub target: Target,
    /// The daemon's proxy (no property cache: every read asks the daemon;
    /// properties are read all together, with [`Ctx::properties`]).
    pub proxy: Clock1Proxy<'static>,
    /// `interactive` of the mutating methods: whether polkit may ask for a password.
    pub interactive: bool,
    /// Whether to start a polkit text agent before a mutating call.
    start_agent: bool,
}

impl Ctx {
    /// Starts the polkit text agent if one is wanted; keep the guard for the call.
    pub fn agent(&self) -> Option<agent::Agent> {
        if self.start_agent {
            agent::start()
        } else {
            None
        }
    }

    /// Every property at this moment: one `GetAll`, decoded by the contract
    /// crate's [`Properties`] (the one way this program reads properties).
    pub async fn properties(&self) -> Result<Properties, Failure> {
        Properties::read(&self.proxy).await.map_err(|e| call_failed(e.error, e.member, &self.target))
    }
}

fn target(cli: &Cli) -> Result<Target, Failure> {
    if let Some(host) = &cli.host {
        return Target::remote(host).map_err(|e| Failure::invalid(e.to_string()));
    }
    Ok(if cli.user { Target::Session } else { Target::System })
}

async fn context(cli: &Cli) -> Result<Ctx, Failure> {
    let target = target(cli)?;
    let connecting = connect(&target);
    let conn = match target {
        // ssh may ask for a password or a host key confirmation: no limit.
        Target::Remote { .. } => connecting.await,
        _ => tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| Failure::new(EXIT_NOT_RUNNING, format!("{} did not answer", target.describe())))?,
    }
    .map_err(|e| Failure::new(EXIT_NOT_RUNNING, format!("cannot reach {}: {e}", target.describe())))?;
    let proxy = Clock1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| call_failed(e, "org.piclock.Clock1", &target))?;
    let interactive = !cli.no_ask_password;
    let start_agent = agent::wanted(interactive, target == Target::System);
    Ok(Ctx { target, proxy, interactive, start_agent })
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let command = cli.command.as_ref();
    // Commands that need no daemon.
    match command {
        Some(Cmd::Completions { shell }) => {
            generate::completions(*shell);
            return Ok(());
        }
        Some(Cmd::GenerateMan { dir }) => {
            for f in generate::man_pages(dir)? {
                println!("{}", f.display());
            }
            return Ok(());
        }
        Some(Cmd::ListTimezones) => {
            for z in commands::timezone_names() {
                println!("{z}");
            }
            return Ok(());
        }
        _ => {}
    }
    let ctx = context(&cli).await?;
    let default_status = Cmd::Status(StatusArgs::default());
    let command = command.unwrap_or(&default_status);
    let limit = match command {
        Cmd::Monitor => return monitor::run(&ctx).await,
        Cmd::Calibrate => return run_calibrate(&ctx).await,
        Cmd::TestMovement { steps, seed } => return run_test_movement(&ctx, *steps, *seed).await,
        Cmd::Sync { timeout } => Duration::from_secs(*timeout) + CALL_TIMEOUT,
        Cmd::Home { timeout, no_wait: false } => Duration::from_secs(*timeout) + CALL_TIMEOUT,
        _ => CALL_TIMEOUT,
    };
    let work = async {
        match command {
            Cmd::Status(args) => status::print(&ctx, args.json).await,
            Cmd::Show(args) => show::run(&ctx, args).await,
            Cmd::SetHands { position } => commands::set_hands(&ctx, position).await,
            Cmd::Pause => commands::pause(&ctx).await,
            Cmd::Resume => commands::resume(&ctx).await,
            Cmd::Step { ticks } => commands::step(&ctx, *ticks).await,
            Cmd::Sync { timeout } => commands::sync(&ctx, Duration::from_secs(*timeout)).await,
            Cmd::Config { action: None, json } => config::show(&ctx, *json).await,
            Cmd::Config { action: Some(ConfigCmd::Set { assignments }), .. } => config::set(&ctx, assignments).await,
            Cmd::NtpServers { servers } => commands::ntp_servers(&ctx, servers).await,
            Cmd::Timezone { zone } => commands::timezone(&ctx, zone.as_deref()).await,
            Cmd::Home { no_wait, .. } => commands::home(&ctx, *no_wait).await,
            Cmd::Monitor
            | Cmd::Calibrate
            | Cmd::TestMovement { .. }
            | Cmd::Completions { .. }
            | Cmd::GenerateMan { .. }
            | Cmd::ListTimezones => Ok(()),
        }
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| Failure::new(EXIT_FAILURE, format!("piclockd did not answer within {} s", limit.as_secs())))?
}

/// `calibrate` and `test-movement` drive a quartz (Lavet) movement's
/// ticks; on an impulse line they say so and do nothing.
async fn quartz_only(ctx: &Ctx, command: &str) -> Result<(), Failure> {
    // A daemon that predates MovementKind drives quartz movements only.
    if ctx.properties().await.map(|p| p.movement_kind).unwrap_or_default() != "impulse" {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_INVALID,
        format!(
            "{command} is for quartz (Lavet) movements, and this clock is an impulse line ([movement] kind = \"impulse\"): \
             a slave movement has no ticks to tune. Set its impulses with piclockctl config set impulse_ms=… \
             impulse_gap_ms=… (\"Reviving a school clock line\" in the PiClock book, \
             docs/src/guide/impulse-lines.md, says how to find them)"
        ),
    ))
}

async fn run_calibrate(ctx: &Ctx) -> Result<(), Failure> {
    quartz_only(ctx, "calibrate").await?;
    let mut rig = rig::DbusRig::new(ctx).await?;
    let was_running = rig.pause().await?;
    let result = calibrate::calibrate(&mut rig).await;
    if was_running {
        rig.resume().await?;
    }
    let report = result?;
    println!();
    if report.changes.is_empty() {
        println!("Settings unchanged: they work for this movement.");
    } else {
        println!("Settings changed (saved by piclockd):");
        for c in &report.changes {
            println!("  {c}");
        }
    }
    if report.problems.is_empty() {
        println!("Calibrated. Confirm with: piclockctl test-movement --steps 200");
        Ok(())
    } else {
        Err(Failure::new(EXIT_FAILURE, format!("calibration incomplete: {}", report.problems.join("; "))))
    }
}

async fn run_test_movement(ctx: &Ctx, steps: u32, seed: Option<u64>) -> Result<(), Failure> {
    quartz_only(ctx, "test-movement").await?;
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let mut rig = rig::DbusRig::new(ctx).await?;
    let was_running = rig.pause().await?;
    println!("test-movement --steps {steps} --seed {seed}");
    let result = calibrate::test_movement(&mut rig, steps, seed).await;
    if was_running {
        rig.resume().await?;
    }
    if result? {
        Ok(())
    } else {
        Err(Failure::new(EXIT_FAILURE, "the hand did not come back: run piclockctl calibrate"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("piclockctl: cannot start: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("piclockctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
