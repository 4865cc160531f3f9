//! Start-up and shutdown: [`run`] only prepares the parts and spawns the
//! subsystems (the tick thread, the time task, the D-Bus object and the
//! publisher), then waits for a signal or a lost bus.

use crate::admin_config::{self, AdminConfig};
use crate::args::{Args, ArgsError};
use crate::authority::{Authority, Authorizer};
use crate::hardware::{Hardware, HardwareError};
use crate::notify::{watchdog_interval, Notifier};
use crate::publish::{Publisher, Sources};
use crate::saved_settings::{SavedSettings, SavedSettingsFile};
use crate::service::{Clock1, ServiceSetup};
use crate::settings_change::{follow_raises, SettingsChanger};
use crate::tick::{describe_recovery, TickError, TickSetup};
use crate::timebase::TrueClock;
use crate::timesource::{TimeHandle, TimeSources};
use crate::zone::Zone;
use piclock_core::dial::Dial;
use piclock_core::engine::Engine;
use piclock_core::hand_sensor::duty_tuner::Raise;
use piclock_core::journal::{Journal, Recovered, StoreError};
use piclock_dbus::names::{BUS_NAME, OBJECT_PATH};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::watch;
use zbus::object_server::SignalEmitter;

/// Why the daemon could not start, or stopped with a failure; `main`
/// prints it.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// A refused command line.
    #[error(transparent)]
    Args(#[from] ArgsError),
    /// The state directory could not be created.
    #[error("creating state directory {}: {source}", .path.display())]
    StateDir {
        /// The state directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The admin file could not be read or was refused.
    #[error(transparent)]
    Config(#[from] crate::admin_config::ConfigError),
    /// The parts (real or simulated) could not be opened.
    #[error(transparent)]
    Hardware(#[from] HardwareError),
    /// The position journal could not be opened.
    #[error(transparent)]
    Journal(#[from] StoreError),
    /// The tick thread could not be started, or ended badly.
    #[error(transparent)]
    Tick(#[from] TickError),
    /// No connection to the bus.
    #[error("connecting to the {bus} bus: {source}")]
    Connect {
        /// "system" or "session".
        bus: &'static str,
        /// zbus's error (boxed, as in the variants below: it is large).
        #[source]
        source: Box<zbus::Error>,
    },
    /// The object's signals cannot be emitted.
    #[error("signals of {OBJECT_PATH}: {0}")]
    Signals(#[source] Box<zbus::Error>),
    /// The object could not be served.
    #[error("serving {OBJECT_PATH}: {0}")]
    Serve(#[source] Box<zbus::Error>),
    /// Asking the bus for the name failed.
    #[error("taking the name {BUS_NAME} on the bus: {0}")]
    RequestName(#[source] Box<zbus::Error>),
    /// The bus gave the name to another process.
    #[error("the name {BUS_NAME} is taken on the bus: another piclockd runs ({0:?})")]
    NameTaken(zbus::fdo::RequestNameReply),
    /// A signal handler could not be installed.
    #[error("installing {signal} handler: {source}")]
    SignalHandler {
        /// "SIGTERM" or "SIGINT".
        signal: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bus could not be watched, or went away.
    #[error(transparent)]
    BusWatch(#[from] crate::buswatch::BusWatchError),
}

/// Runs the daemon until SIGTERM/SIGINT (Ok) or a lost bus (Err). Every
/// return after the tick thread started stops it first (its handle's guard),
/// so both coil lines are low before the process exits.
pub async fn run(args: Args) -> Result<(), DaemonError> {
    args.check()?;
    let state_dir = prepare_state_dir(&args)?;
    let admin = load_admin_config(&args)?;
    let (settings_file, settings) = load_settings(&state_dir);
    let clock = args.true_clock();
    let notifier = Notifier::from_env().map(Arc::new);
    let dial = dial(&args, &admin);
    let mut hardware = if args.simulate {
        crate::sim::open(&admin, &state_dir, &clock, dial.seconds(), args.speed)?
    } else {
        crate::hardware::open(&admin, &state_dir, &clock)?
    };
    // The RTC is read first, so that true time is right from the first tick.
    let interval = Duration::from_secs(u64::from(admin.ntp.interval_s.0));
    let (settings_tx, settings_rx) = watch::channel(settings.clone());
    let (mut time_task, time) = TimeSources::new(clock.clone(), hardware.rtc.take(), settings_rx.clone(), interval);
    time_task.start();
    let (raises_tx, raises) = mpsc::unbounded_channel();
    let parts = TickParts { admin: &admin, state_dir: &state_dir, settings: &settings, clock: &clock, dial };
    let mut tick = crate::tick::spawn(tick_setup(parts, hardware, &notifier, raises_tx)?)?;
    // Known before the name is taken: TickScheduling is constant on the bus.
    let tick_scheduling = tick.scheduling().await?;
    let TimeHandle { status, sync_requests } = time;
    let sources = Sources { tick: tick.snapshots(), time: status, settings: settings_rx };
    let conn = connect(&args).await?;
    let emitter = SignalEmitter::new(&conn, OBJECT_PATH).map_err(|e| DaemonError::Signals(e.into()))?;
    let publisher = Arc::new(Publisher::new(sources, emitter, notifier.clone()));
    let changer = Arc::new(SettingsChanger::new(settings_tx, settings_file, tick.commands()));
    let service = Clock1::new(ServiceSetup {
        conn: conn.clone(),
        publisher: publisher.clone(),
        commands: tick.commands(),
        settings: changer.clone(),
        authorizer: authorizer(&args),
        sync_requests,
        tick_scheduling,
        drive: admin.movement.drive,
    });
    serve(&args, &conn, service).await?;
    let tasks = [
        tokio::spawn(publisher.clone().follow()),
        tokio::spawn(time_task.run()),
        tokio::spawn(follow_raises(raises, changer, publisher)),
    ];
    if let Some(n) = &notifier {
        n.ready();
    }
    let outcome = wait_for_stop(&conn).await;
    if let Some(n) = &notifier {
        n.stopping();
    }
    tasks.iter().for_each(|t| t.abort());
    let stopped = tick.stop().await;
    drop(conn);
    outcome.and(stopped.map_err(DaemonError::from))
}

fn prepare_state_dir(args: &Args) -> Result<PathBuf, DaemonError> {
    let state_dir = args.state_dir();
    match std::fs::create_dir_all(&state_dir) {
        Ok(()) => Ok(state_dir),
        Err(source) => Err(DaemonError::StateDir { path: state_dir, source }),
    }
}

fn load_admin_config(args: &Args) -> Result<AdminConfig, DaemonError> {
    Ok(match &args.config {
        Some(path) => AdminConfig::load(path, true)?,
        None => AdminConfig::load(Path::new(admin_config::DEFAULT_PATH), false)?,
    })
}

fn load_settings(state_dir: &Path) -> (SavedSettingsFile, SavedSettings) {
    let file = SavedSettingsFile::new(state_dir);
    let (settings, warning) = file.load();
    if let Some(w) = &warning {
        tracing::warn!("{w}");
    }
    (file, settings)
}

/// The system bus asks polkit; a session bus admits only our own user.
fn authorizer(args: &Args) -> Authorizer {
    if args.session {
        // SAFETY: getuid cannot fail and has no preconditions.
        Authorizer::new(Authority::SameUser { uid: unsafe { libc::getuid() } })
    } else {
        Authorizer::new(Authority::Polkit)
    }
}

/// The dial: `--dial-hours`, else the admin file's.
fn dial(args: &Args, admin: &AdminConfig) -> Dial {
    let hours = args.dial_hours.unwrap_or(admin.dial.hours.0);
    Dial::from_seconds(hours * 3600).unwrap_or(Dial::TWELVE_HOUR)
}

/// What the tick thread's setup is made from, besides the hardware.
struct TickParts<'a> {
    admin: &'a AdminConfig,
    state_dir: &'a Path,
    settings: &'a SavedSettings,
    clock: &'a Arc<dyn TrueClock>,
    dial: Dial,
}

/// The tick thread's parts: the journal and what it recovered, the coil,
/// the sensors, the engine with the saved pulse settings, the zone, the
/// watchdog.
fn tick_setup(
    parts: TickParts<'_>,
    hardware: Hardware,
    notifier: &Option<Arc<Notifier>>,
    raises: UnboundedSender<Raise>,
) -> Result<TickSetup, DaemonError> {
    let TickParts { admin, state_dir, settings, clock, dial } = parts;
    let Hardware { kind, coil, sensor_lines, store: (store, store_component), hands, .. } = hardware;
    let sensors = admin
        .sensor
        .as_ref()
        .zip(sensor_lines)
        .map(|(config, lines)| crate::sensor_lines::setup(config, lines, state_dir, dial, raises));
    tracing::info!("position store: {}", store.describe());
    let (journal, mut recovered) = Journal::open(store, dial.seconds())?;
    // A damaged slot that may have held the latest record makes the intact
    // one possibly stale: never tick on it; ask for the position instead.
    if let (Some(damage), Recovered::Committed { .. } | Recovered::InFlight { .. }) =
        (journal.newer_slot_damaged(), &recovered)
    {
        let reason = format!("{damage}; the older record ({}) may be stale", describe_recovery(&recovered));
        tracing::warn!("position store: {reason}");
        recovered = Recovered::Corrupt { reason };
    }
    tracing::info!("{}", describe_recovery(&recovered));
    let mut engine = Engine::with_drive(dial, settings.pulse, admin.movement.drive);
    if let piclock_core::impulse_line::Drive::Impulse(line) = admin.movement.drive {
        let c = engine.config();
        tracing::info!(
            "an impulse line: {} s a step, impulses of {} ms at least {} ms apart, catch-up {}",
            line.step_s,
            c.impulse_ms,
            c.impulse_gap_ms,
            line.catch_up
        );
    }
    // Tolerate the same real scheduling delay at any --speed.
    engine.set_late_limit_us((piclock_core::engine::LATE_LIMIT_US as f64 * clock.speed()) as i64);
    let watchdog = notifier.clone().zip(watchdog_interval());
    if let Some((_, interval)) = &watchdog {
        tracing::info!("feeding the systemd watchdog every {} ms while ticks are on time", interval.as_millis() / 2);
    }
    Ok(TickSetup {
        engine,
        journal,
        recovered,
        coil,
        hands,
        clock: clock.clone(),
        zone: saved_zone(settings),
        store_component,
        watchdog,
        kind,
        sensors,
    })
}

/// The saved zone, or the system's.
fn saved_zone(settings: &SavedSettings) -> Zone {
    match settings.timezone.as_deref().map(Zone::named) {
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            tracing::warn!("saved {e}; using the system's zone");
            Zone::system()
        }
        None => Zone::system(),
    }
}

/// Connects to the system bus (or with `--session` the session bus).
async fn connect(args: &Args) -> Result<zbus::Connection, DaemonError> {
    let bus = if args.session { "session" } else { "system" };
    let builder = if args.session { zbus::connection::Builder::session() } else { zbus::connection::Builder::system() };
    let failed = |e: zbus::Error| DaemonError::Connect { bus, source: e.into() };
    builder.map_err(failed)?.build().await.map_err(failed)
}

/// Serves the object on `conn`, then takes the name: calls can come from then on.
async fn serve(args: &Args, conn: &zbus::Connection, service: Clock1) -> Result<(), DaemonError> {
    conn.object_server().at(OBJECT_PATH, service).await.map_err(|e| DaemonError::Serve(e.into()))?;
    // Neither queued nor replaceable: a second daemon fails here (zbus's
    // default would let it take the name away from the running one).
    let flags = zbus::fdo::RequestNameFlags::DoNotQueue.into();
    let reply = conn.request_name_with_flags(BUS_NAME, flags).await.map_err(|e| DaemonError::RequestName(e.into()))?;
    if reply != zbus::fdo::RequestNameReply::PrimaryOwner {
        return Err(DaemonError::NameTaken(reply));
    }
    tracing::info!(
        simulate = args.simulate,
        speed = args.speed,
        state_dir = %args.state_dir().display(),
        "serving {BUS_NAME} at {OBJECT_PATH}"
    );
    Ok(())
}

/// Waits for SIGTERM or SIGINT (Ok), or for the bus to go away (Err, so
/// that systemd's `Restart=on-failure` starts the service again).
async fn wait_for_stop(conn: &zbus::Connection) -> Result<(), DaemonError> {
    let handler = |name, kind| signal(kind).map_err(|source| DaemonError::SignalHandler { signal: name, source });
    let mut term = handler("SIGTERM", SignalKind::terminate())?;
    let mut int = handler("SIGINT", SignalKind::interrupt())?;
    let bus_lost = crate::buswatch::lost(conn).await?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        why = bus_lost => {
            tracing::error!("{why}; stopping so that systemd starts the service again (Restart=on-failure)");
            return Err(why.into());
        }
    }
    Ok(())
}
