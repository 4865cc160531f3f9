//! Start-up and shutdown: wires the journal, the coil, the tick thread and
//! the D-Bus object together.

use crate::args::Args;
use crate::authority::Authorizer;
use crate::coil::lines::GpioLines;
use crate::coil::pwm::PwmCoil;
use crate::coil::virtual_movement::VirtualCoil;
use crate::coil::Coil;
use crate::config::{self, AdminConfig, PositionStore};
use crate::devices::fram::FramSlotStore;
use crate::devices::open_i2c;
use crate::devices::rtc::Rtc;
use crate::devices::sim_ds3231::{NowFn, SimDs3231};
use crate::devices::sim_fram::SimFram;
use crate::notify::{watchdog_interval, Notifier};
use crate::service::{Clock1, TimeLink};
use crate::settings::SettingsFile;
use crate::store::FileSlotStore;
use crate::tick::{describe_recovery, Command, Snapshot, TickLoop};
use crate::timebase::{SystemClock, TrueClock, VirtualClock};
use crate::timesource::{RtcDevice, SharedTime, TimeEvent, TimeSources, TimeStatus};
use crate::zone::Zone;
use piclock_core::dial::Dial;
use piclock_core::engine::{ClockState, Engine};
use piclock_core::journal::{Journal, Recovered, SlotStore};
use piclock_dbus::names::component;
use piclock_dbus::names::{BUS_NAME, OBJECT_PATH};
use std::path::Path;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long before a pulse's leading edge the tick thread stops sleeping and
/// spins: above the worst wake-up latency measured (see the README).
pub const PWM_SPIN: std::time::Duration = std::time::Duration::from_millis(5);
/// Real-time priority of the tick thread (SCHED_FIFO).
pub const TICK_PRIORITY: i32 = 50;

/// Stack of the tick thread (its deepest path is a journal write and a log line).
const TICK_STACK: usize = 512 * 1024;
/// How much of it is touched (and so locked) before the first tick.
const TICK_STACK_PREFAULT: usize = 128 * 1024;

/// File name of the position journal inside the state directory.
pub const JOURNAL_FILE: &str = "position";

/// Shortest interval between two PropertiesChanged bursts from the snapshot watcher.
const EMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(args: Args) -> Result<(), String> {
    let state_dir = args.state_dir();
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| format!("creating state directory {}: {e}", state_dir.display()))?;
    let admin = match &args.config {
        Some(path) => AdminConfig::load(path, true)?,
        None => AdminConfig::load(Path::new(config::DEFAULT_PATH), false)?,
    };
    let hours = args.dial_hours.unwrap_or(admin.dial.hours.0);
    let dial = Dial::from_seconds(hours * 3600).unwrap_or(Dial::TWELVE_HOUR);
    let settings_file = SettingsFile::new(&state_dir);
    let (settings, warning) = settings_file.load();
    if let Some(w) = &warning {
        tracing::warn!("{w}");
    }
    let config = settings.pulse;

    if !args.simulate && args.start_time.is_some() {
        return Err("--start-time needs --simulate: a real clock runs on true time".into());
    }
    if !args.simulate && args.speed != 1.0 {
        return Err(format!("--speed {} needs --simulate: a real clock only runs at speed 1", args.speed));
    }
    let clock: Arc<dyn TrueClock> = match (args.simulate, args.start_time) {
        (true, Some(start)) => Arc::new(VirtualClock::starting_at(args.speed, start)),
        (true, None) => Arc::new(VirtualClock::new(args.speed)),
        (false, _) => Arc::new(SystemClock::new()),
    };
    let coil: Box<dyn Coil> = if args.simulate {
        Box::new(
            VirtualCoil::open(&state_dir, dial.seconds(), args.speed, clock.now_us())
                .map_err(|e| format!("simulated movement: {e}"))?,
        )
    } else {
        let lines = GpioLines::open(&admin.gpio.chip, admin.gpio.lines.0, "piclockd")
            .map_err(|e| format!("coil: {e} (no GPIO here? try --simulate)"))?;
        Box::new(PwmCoil::new(lines, PWM_SPIN))
    };
    if !coil.supports_speed(args.speed) {
        return Err(format!("--speed {} needs --simulate: a real clock only runs at speed 1", args.speed));
    }

    // On real hardware every journal write reaches the disk before the pulse
    // (power loss). The simulated hands live in a file that is not synced
    // either, and a killed process loses nothing from the page cache, so the
    // simulator skips fdatasync to keep up with --speed.
    let sync = !args.simulate;
    let (boxed, store_component) = open_position_store(&args, &admin, &state_dir, sync)?;
    tracing::info!("position store: {}", boxed.describe());
    let (journal, mut recovered) = Journal::open(boxed, dial.seconds()).map_err(|e| e.to_string())?;
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

    let zone = match settings.timezone.as_deref().map(Zone::named) {
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            tracing::warn!("saved {e}; using the system's zone");
            Zone::system()
        }
        None => Zone::system(),
    };
    let mut engine = Engine::new(dial, config);
    // Tolerate the same real scheduling delay at any --speed.
    engine.set_late_limit_us((piclock_core::engine::LATE_LIMIT_US as f64 * clock.speed()) as i64);
    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<Command>();
    let initial = Snapshot::initial(dial.seconds(), config, zone.name(), clock.now_us());
    let (snap_tx, snap_rx) = watch::channel(initial);
    // Time sources: the RTC is read now, so true time is right from the first tick.
    let time_status: SharedTime = Arc::new(std::sync::RwLock::new(TimeStatus::default()));
    let servers = Arc::new(std::sync::RwLock::new(settings.ntp_servers.clone()));
    let rtc: Option<Box<dyn RtcDevice>> = if args.simulate {
        let base = clock.clone();
        let now: NowFn = Arc::new(move || base.base_us());
        let sim = SimDs3231::new(now).with_unplug_file(state_dir.join("virtual-rtc.unplugged"));
        match sim.with_backing_file(state_dir.join("virtual-rtc.json")) {
            Ok(sim) => Some(Box::new(Rtc::new(sim))),
            Err(e) => {
                tracing::warn!("simulated RTC: {e}");
                None
            }
        }
    } else if admin.i2c.rtc {
        match open_i2c(&admin.i2c.bus) {
            Ok(dev) => Some(Box::new(Rtc::new(dev))),
            Err(e) => {
                tracing::info!("no RTC: {e}");
                None
            }
        }
    } else {
        None
    };
    let mut time_sources = TimeSources {
        clock: clock.clone(),
        status: time_status.clone(),
        rtc,
        servers: servers.clone(),
        interval: std::time::Duration::from_secs(u64::from(admin.ntp.interval_s.0)),
    };
    let rtc_fault = time_sources.start_from_rtc();
    if let Some(TimeEvent::Fault(_, e)) = &rtc_fault {
        tracing::warn!("RTC: {e}; true time is the system clock");
    }
    let (sync_tx, sync_rx) = tokio::sync::mpsc::channel::<()>(1);

    let notifier = Notifier::from_env().map(Arc::new);
    let mut tick = TickLoop::new(engine, journal, &recovered, coil, clock.clone(), zone, cmd_rx, snap_tx)
        .with_store_component(store_component);
    if let (Some(n), Some(interval)) = (&notifier, watchdog_interval()) {
        tracing::info!("feeding the systemd watchdog every {} ms while ticks are on time", interval.as_millis() / 2);
        tick = tick.with_watchdog(n.clone(), interval);
    }
    let simulate = args.simulate;
    let thread = std::thread::Builder::new()
        .name("piclockd-tick".into())
        .stack_size(TICK_STACK)
        .spawn(move || {
            // Real-time priority and locked memory where permitted; the
            // simulator asks too, so that its tick timing means the same.
            match crate::rt::enable_realtime(TICK_PRIORITY) {
                Ok(()) => tracing::info!("tick thread runs at real-time priority {TICK_PRIORITY}"),
                Err(e) if simulate => {
                    tracing::info!("simulated tick thread without real-time priority: {e}")
                }
                Err(e) => tracing::warn!("tick thread runs without real-time priority: {e}"),
            }
            if let Err(e) = crate::rt::lock_memory() {
                if !simulate {
                    tracing::warn!("memory not locked (page faults may delay ticks): {e}");
                }
            }
            crate::rt::prefault_stack(TICK_STACK_PREFAULT);
            tick.run()
        })
        .map_err(|e| format!("starting the tick thread: {e}"))?;

    // The system bus asks polkit; a session bus admits only our own user.
    let authorizer = if args.session {
        // SAFETY: getuid cannot fail and has no preconditions.
        Authorizer::SameUser { uid: unsafe { libc::getuid() } }
    } else {
        Authorizer::Polkit
    };
    let link = TimeLink { time: time_status.clone(), servers, sync_requests: sync_tx };
    let service = Clock1::new(snap_rx.clone(), cmd_tx.clone(), settings, settings_file, authorizer, link);
    let builder = if args.session { zbus::connection::Builder::session() } else { zbus::connection::Builder::system() }
        .map_err(|e| format!("connecting to the {} bus: {e}", if args.session { "session" } else { "system" }))?;
    let conn = builder
        .serve_at(OBJECT_PATH, service)
        .and_then(|b| b.name(BUS_NAME))
        .map_err(|e| format!("setting up {BUS_NAME}: {e}"))?
        .build()
        .await
        .map_err(|e| format!("serving {BUS_NAME} on the bus: {e}"))?;
    tracing::info!(
        simulate = args.simulate,
        speed = args.speed,
        state_dir = %state_dir.display(),
        "serving {BUS_NAME} at {OBJECT_PATH}"
    );

    let iface = conn
        .object_server()
        .interface::<_, Clock1>(OBJECT_PATH)
        .await
        .map_err(|e| format!("looking up our own object: {e}"))?;
    if let Some(n) = &notifier {
        n.ready();
    }
    let status_notifier = notifier.clone();
    let emitter_task = tokio::spawn(async move {
        let mut rx = snap_rx;
        let mut last_status = String::new();
        let mut last_faults: Vec<(&'static str, String)> = Vec::new();
        while rx.changed().await.is_ok() {
            let device_faults = rx.borrow().device_faults.clone();
            for (component, message) in &device_faults {
                if !last_faults.iter().any(|(c, _)| c == component) {
                    if let Err(e) = Clock1::fault(iface.signal_emitter(), component, message).await {
                        tracing::warn!("emitting Fault: {e}");
                    }
                }
            }
            last_faults = device_faults;
            if let Some(n) = &status_notifier {
                let text = status_line(&rx.borrow());
                if text != last_status {
                    n.status(&text);
                    last_status = text;
                }
            }
            let obj = iface.get().await;
            if let Err(e) = obj.emit_changes(iface.signal_emitter()).await {
                tracing::warn!("emitting PropertiesChanged: {e}");
            }
            drop(obj);
            // Coalesce: at most 50 emissions a second (ticks come at most 8
            // a second in real time; under --speed the watch keeps the latest).
            tokio::time::sleep(EMIT_INTERVAL).await;
        }
    });

    let (event_tx, mut event_rx) = tokio::sync::mpsc::channel::<TimeEvent>(16);
    if let Some(e) = rtc_fault {
        let _ = event_tx.send(e).await;
    }
    let time_task = tokio::spawn(time_sources.run(sync_rx, event_tx));
    let iface_events = conn
        .object_server()
        .interface::<_, Clock1>(OBJECT_PATH)
        .await
        .map_err(|e| format!("looking up our own object: {e}"))?;
    let events_task = tokio::spawn(async move {
        while let Some(event) = event_rx.recv().await {
            let em = iface_events.signal_emitter();
            let r = match event {
                TimeEvent::SyncFinished(ok, server, offset, msg) => {
                    Clock1::sync_finished(em, ok, &server, offset, &msg).await
                }
                TimeEvent::Fault(component, msg) => Clock1::fault(em, component, &msg).await,
                TimeEvent::Changed => iface_events.get().await.emit_time_changes(em).await,
            };
            if let Err(e) = r {
                tracing::warn!("emitting a time signal: {e}");
            }
        }
    });

    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("installing SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("installing SIGINT handler: {e}"))?;
    let bus_lost = crate::buswatch::lost(&conn).await?;
    let mut lost = None;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        why = bus_lost => {
            tracing::error!("{why}; stopping so that systemd starts the service again (Restart=on-failure)");
            lost = Some(why);
        }
    }
    if let Some(n) = &notifier {
        n.stopping();
    }
    let _ = cmd_tx.send(Command::Shutdown);
    emitter_task.abort();
    time_task.abort();
    events_task.abort();
    let joined = tokio::task::spawn_blocking(move || thread.join()).await;
    drop(conn);
    match (joined, lost) {
        (Ok(Ok(())), None) => Ok(()),
        (Ok(Ok(())), Some(why)) => Err(why),
        _ => Err("the tick thread panicked (coil lines were driven low by its guard)".into()),
    }
}

/// The one-line `STATUS=` systemd shows: state, and how far off the hands are.
fn status_line(s: &Snapshot) -> String {
    match s.state {
        ClockState::NeedsPosition => "waiting for the hand position (SetHandPosition)".to_owned(),
        ClockState::Ticking if s.offset == 0 => "ticking, hands right".to_owned(),
        ClockState::Paused => format!("paused, hands {:+} s off", s.offset),
        state => {
            let mut t = format!("{state}, hands {:+} s off", s.offset);
            if s.catch_up_seconds > 0 {
                t.push_str(&format!(", right in about {} min", s.catch_up_seconds.div_ceil(60)));
            }
            if !s.faults.is_empty() {
                t.push_str(&format!("; {}", s.faults.join("; ")));
            }
            t
        }
    }
}

/// The position journal's backend, per `[store] position`: the FRAM (real,
/// or simulated in `<state-dir>/virtual-fram.bin`), the file, or the FRAM if
/// one answers and else the file; with its component name for `Fault`.
fn open_position_store(
    args: &Args,
    admin: &AdminConfig,
    state_dir: &Path,
    sync: bool,
) -> Result<(Box<dyn SlotStore + Send>, &'static str), String> {
    let want = admin.store.position;
    if want != PositionStore::File {
        let fram: Result<Box<dyn SlotStore + Send>, String> = if args.simulate {
            SimFram::new()
                .with_unplug_file(state_dir.join("virtual-fram.unplugged"))
                .with_backing_file(state_dir.join("virtual-fram.bin"))
                .and_then(|sim| {
                    let mut store = FramSlotStore::new(sim, "the simulated I2C bus");
                    if store.probe() {
                        Ok(Box::new(store) as Box<dyn SlotStore + Send>)
                    } else {
                        Err("the simulated FRAM does not answer".into())
                    }
                })
        } else {
            open_i2c(&admin.i2c.bus).and_then(|dev| {
                let mut store = FramSlotStore::new(dev, admin.i2c.bus.display().to_string());
                if store.probe() {
                    Ok(Box::new(store) as Box<dyn SlotStore + Send>)
                } else {
                    Err(format!("no FRAM answers at 0x50 on {}", admin.i2c.bus.display()))
                }
            })
        };
        match (fram, want) {
            (Ok(store), _) => return Ok((store, component::FRAM)),
            (Err(e), PositionStore::Fram) => return Err(format!("[store] position = \"fram\": {e}")),
            (Err(e), _) => tracing::info!("position store: {e}; using the file store"),
        }
    }
    let store = FileSlotStore::open(&state_dir.join(JOURNAL_FILE), sync).map_err(|e| e.to_string())?;
    Ok((Box::new(store), component::STORE))
}
