//! Start-up and shutdown: [`run`] only prepares the parts and spawns the
//! subsystems (the tick thread, the time task, the D-Bus object and the
//! publisher), then waits for a signal or a lost bus.

use crate::admin_config::{self, AdminConfig};
use crate::args::Args;
use crate::authority::{Authority, Authorizer};
use crate::hardware::Hardware;
use crate::notify::{watchdog_interval, Notifier};
use crate::publish::{Publisher, Sources};
use crate::saved_settings::{SavedSettings, SavedSettingsFile};
use crate::service::{Clock1, ServiceSetup};
use crate::settings_change::{follow_raises, SettingsChanger};
use crate::tick::{describe_recovery, TickSetup};
use crate::timebase::TrueClock;
use crate::timesource::{TimeHandle, TimeSources};
use crate::zone::Zone;
use piclock_core::dial::Dial;
use piclock_core::engine::Engine;
use piclock_core::journal::{Journal, Recovered};
use piclock_core::sensor::drive::Raise;
use piclock_dbus::names::{BUS_NAME, OBJECT_PATH};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::watch;
use zbus::object_server::SignalEmitter;

/// Runs the daemon until SIGTERM/SIGINT (Ok) or a lost bus (Err). Every
/// return after the tick thread started stops it first (its handle's guard),
/// so both coil lines are low before the process exits.
pub async fn run(args: Args) -> Result<(), String> {
    args.check().map_err(|e| e.to_string())?;
    let state_dir = prepare_state_dir(&args)?;
    let admin = load_admin_config(&args)?;
    let (settings_file, settings) = load_settings(&state_dir);
    let clock = args.true_clock();
    let notifier = Notifier::from_env().map(Arc::new);
    let dial = dial(&args, &admin);
    let mut hardware = if args.simulate {
        crate::sim::open(&admin, &state_dir, &clock, dial.seconds(), args.speed).map_err(|e| e.to_string())?
    } else {
        crate::hardware::open(&admin, &state_dir, &clock).map_err(|e| e.to_string())?
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
    let emitter = SignalEmitter::new(&conn, OBJECT_PATH).map_err(|e| format!("signals of {OBJECT_PATH}: {e}"))?;
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
    outcome.and(stopped)
}

fn prepare_state_dir(args: &Args) -> Result<PathBuf, String> {
    let state_dir = args.state_dir();
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| format!("creating state directory {}: {e}", state_dir.display()))?;
    Ok(state_dir)
}

fn load_admin_config(args: &Args) -> Result<AdminConfig, String> {
    match &args.config {
        Some(path) => AdminConfig::load(path, true),
        None => AdminConfig::load(Path::new(admin_config::DEFAULT_PATH), false),
    }
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
) -> Result<TickSetup, String> {
    let TickParts { admin, state_dir, settings, clock, dial } = parts;
    let Hardware { kind, coil, sensor_lines, store: (store, store_component), hands, .. } = hardware;
    let sensors = admin
        .sensor
        .as_ref()
        .zip(sensor_lines)
        .map(|(config, lines)| crate::sensors::setup(config, lines, state_dir, dial, raises));
    tracing::info!("position store: {}", store.describe());
    let (journal, mut recovered) = Journal::open(store, dial.seconds()).map_err(|e| e.to_string())?;
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
    if let piclock_core::impulse::Drive::Impulse(line) = admin.movement.drive {
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
async fn connect(args: &Args) -> Result<zbus::Connection, String> {
    let which = if args.session { "session" } else { "system" };
    let builder = if args.session { zbus::connection::Builder::session() } else { zbus::connection::Builder::system() };
    builder
        .map_err(|e| format!("connecting to the {which} bus: {e}"))?
        .build()
        .await
        .map_err(|e| format!("connecting to the {which} bus: {e}"))
}

/// Serves the object on `conn`, then takes the name: calls can come from then on.
async fn serve(args: &Args, conn: &zbus::Connection, service: Clock1) -> Result<(), String> {
    conn.object_server().at(OBJECT_PATH, service).await.map_err(|e| format!("serving {OBJECT_PATH}: {e}"))?;
    // Neither queued nor replaceable: a second daemon fails here (zbus's
    // default would let it take the name away from the running one).
    let flags = zbus::fdo::RequestNameFlags::DoNotQueue.into();
    let reply = conn
        .request_name_with_flags(BUS_NAME, flags)
        .await
        .map_err(|e| format!("taking the name {BUS_NAME} on the bus: {e}"))?;
    if reply != zbus::fdo::RequestNameReply::PrimaryOwner {
        return Err(format!("the name {BUS_NAME} is taken on the bus: another piclockd runs ({reply:?})"));
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
async fn wait_for_stop(conn: &zbus::Connection) -> Result<(), String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("installing SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("installing SIGINT handler: {e}"))?;
    let bus_lost = crate::buswatch::lost(conn).await?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        why = bus_lost => {
            tracing::error!("{why}; stopping so that systemd starts the service again (Restart=on-failure)");
            return Err(why);
        }
    }
    Ok(())
}
