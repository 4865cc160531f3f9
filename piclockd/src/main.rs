//! piclockd: see the crate documentation in `lib.rs`.

use clap::Parser;
use piclockd::args::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    piclockd::logging::init();
    if args.release_lines {
        return release_lines(&args);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Settings saves and the tick thread's join: a few at a time at
        // most; bounded so that TasksMax= in the unit holds.
        .max_blocking_threads(4)
        .enable_all()
        .thread_name("piclockd-async")
        .thread_stack_size(512 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(piclockd::daemon::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `--release-lines`: both coil lines low, then exit.
fn release_lines(args: &Args) -> ExitCode {
    let admin = match &args.config {
        Some(path) => piclockd::admin_config::AdminConfig::load(path, true),
        None => {
            piclockd::admin_config::AdminConfig::load(std::path::Path::new(piclockd::admin_config::DEFAULT_PATH), false)
        }
    };
    let admin = match admin {
        Ok(admin) => admin,
        Err(e) => return release_failed(e),
    };
    match piclockd::coil::release_lines(&admin) {
        Ok(done) => {
            tracing::info!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => release_failed(e),
    }
}

/// `--release-lines` failed: why.
fn release_failed(e: impl std::fmt::Display) -> ExitCode {
    tracing::error!("--release-lines: {e}");
    ExitCode::FAILURE
}
