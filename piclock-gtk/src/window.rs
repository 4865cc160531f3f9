//! The main window: face, status and controls, or an empty state when the
//! daemon or its bus is not there. Owns the bus side ([`crate::backend`])
//! and runs every call on the tokio runtime, so the window never waits.

use crate::backend::{self, Event};
use crate::context::{Indicators, PanelContext};
use crate::controls::Controls;
use crate::face::Face;
use crate::hands;
use crate::status::{self, Status};
use gtk4::prelude::*;
use gtk4::{
    glib, Align, Application, ApplicationWindow, Box as GBox, Button, HeaderBar, Label, Orientation, Spinner, Stack,
};
use piclock_core::dial::Dial;
use piclock_dbus::transport::Target;
use piclock_dbus::ClockState;
use piclock_dbus::Properties;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// The window title; tests find the window by it.
pub const TITLE: &str = "PiClock";

const CSS: &str = "
.badge { padding: 6px 10px; border-radius: 6px; font-weight: bold; }
.state-ok { background: #2e7d32; color: white; }
.state-busy { background: #1565c0; color: white; }
.state-warn { background: #ef6c00; color: white; }
.state-bad { background: #c62828; color: white; }
.faults { padding: 8px 10px; border-radius: 6px; background: #c62828; color: white; font-weight: bold; }
.banner { padding: 6px 10px; }
.banner-error { background: #ffcdd2; color: #7f0000; }
.banner-info { background: #e3f2fd; color: #0d47a1; }
.error-text { color: #c62828; }
.empty-title { font-size: 20px; font-weight: bold; }
";

/// Called once, after the first update that is not "connecting" is shown.
pub type FirstUpdate = Box<dyn FnOnce(&Rc<Panel>)>;

/// The panel: its widgets, the current target and the link to the bus side.
/// What its dialogs and buttons need of it is its [`PanelContext`].
pub struct Panel {
    rt: Handle,
    ctx: Rc<PanelContext>,
    stack: Stack,
    empty_title: Label,
    empty_detail: Label,
    target_label: Label,
    face: Face,
    status: Status,
    controls: Controls,
    generation: Cell<u64>,
    task: RefCell<Option<tokio::task::JoinHandle<()>>>,
    target: RefCell<Target>,
    tx: backend::Sender,
    first_update: RefCell<Option<FirstUpdate>>,
}

impl Panel {
    /// Builds the window for `app`, connects to `target` (through `conn` if
    /// already open) and shows it.
    pub fn build(
        app: &Application,
        rt: Handle,
        target: Target,
        conn: Option<zbus::Connection>,
        first_update: Option<FirstUpdate>,
    ) -> Rc<Panel> {
        install_css();
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, Event)>();
        let panel = Rc::new_cyclic(|weak: &Weak<Panel>| {
            let window = ApplicationWindow::builder()
                .application(app)
                .title(TITLE)
                .default_width(800)
                .default_height(540)
                .build();
            let (header, target_label, spinner, busy_label) = header_bar(weak);
            window.set_titlebar(Some(&header));
            let (banner, banner_text) = banner();
            let content = GBox::new(Orientation::Vertical, 0);
            content.append(&banner);
            let ctx = Rc::new(PanelContext::new(
                rt.clone(),
                window.clone(),
                Indicators { banner, banner_text, spinner, busy_label },
            ));
            // The clock page.
            let face = Face::new();
            let status = Status::new();
            let controls = Controls::new(Rc::downgrade(&ctx));
            let side = GBox::new(Orientation::Vertical, 12);
            side.set_margin_end(12);
            side.set_margin_top(12);
            side.append(status.widget());
            side.append(controls.widget());
            let clock = GBox::new(Orientation::Horizontal, 12);
            clock.set_margin_start(12);
            clock.set_margin_bottom(12);
            clock.set_margin_top(12);
            clock.append(face.widget());
            clock.append(&side);

            let (empty, empty_title, empty_detail) = empty_state();
            let stack = Stack::new();
            stack.add_named(&empty, Some("empty"));
            stack.add_named(&clock, Some("clock"));
            stack.set_visible_child_name("empty");
            content.append(&stack);
            stack.set_vexpand(true);
            window.set_child(Some(&content));

            Panel {
                rt: rt.clone(),
                ctx,
                stack,
                empty_title,
                empty_detail,
                target_label,
                face,
                status,
                controls,
                generation: Cell::new(0),
                task: RefCell::new(None),
                target: RefCell::new(target.clone()),
                tx,
                first_update: RefCell::new(first_update),
            }
        });
        // Events from the bus side, handled on the GTK main loop.
        let weak = Rc::downgrade(&panel);
        glib::spawn_future_local(async move {
            while let Some((generation, event)) = rx.recv().await {
                let Some(panel) = weak.upgrade() else { return };
                if generation == panel.generation.get() {
                    panel.handle(event);
                }
            }
        });
        panel.follow(target, conn);
        let p = panel.clone();
        panel.window().connect_close_request(move |_| {
            if let Some(task) = p.task.borrow_mut().take() {
                task.abort();
            }
            glib::Propagation::Proceed
        });
        panel.window().present();
        panel
    }

    /// The main window.
    pub fn window(&self) -> &ApplicationWindow {
        &self.ctx.window
    }

    /// The clock currently followed.
    pub fn target(&self) -> Target {
        self.target.borrow().clone()
    }

    /// "Connect to…": the dialog that chooses the clock to follow.
    fn choose_clock(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        crate::connect_dialog::open(&self.ctx, self.target(), move |target| {
            if let Some(panel) = weak.upgrade() {
                panel.follow(target, None);
            }
        });
    }

    /// Follows `target` from now on (a new bus side; the old one is stopped).
    pub fn follow(&self, target: Target, conn: Option<zbus::Connection>) {
        if let Some(old) = self.task.borrow_mut().take() {
            old.abort();
        }
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.ctx.set_proxy(None);
        self.ctx.set_snapshot(None);
        self.target_label.set_text(&target.describe());
        self.target.replace(target.clone());
        self.show_empty("Connecting…", &format!("Connecting to piclockd on {}.", target.describe()));
        let task = self.rt.spawn(backend::run(target, conn, generation, self.tx.clone()));
        self.task.replace(Some(task));
    }

    fn show_empty(&self, title: &str, detail: &str) {
        self.empty_title.set_text(title);
        self.empty_detail.set_text(detail);
        self.stack.set_visible_child_name("empty");
        self.window().set_title(Some(TITLE));
        self.face.clear();
    }

    fn handle(self: &Rc<Self>, event: Event) {
        let target = self.target.borrow().describe();
        match event {
            Event::Connecting => {
                self.ctx.set_proxy(None);
                self.show_empty("Connecting…", &format!("Connecting to piclockd on {target}."));
                return;
            }
            Event::Connected(proxy) => {
                self.ctx.set_proxy(Some(proxy));
                return;
            }
            Event::NoBus(message) => {
                self.ctx.set_proxy(None);
                self.ctx.set_snapshot(None);
                self.show_empty(
                    "Cannot reach the clock",
                    &format!("{message}\n\nRetrying every few seconds. Use Connect to… to choose another clock."),
                );
            }
            Event::Absent => {
                self.ctx.set_snapshot(None);
                self.show_empty(
                    "piclockd is not running",
                    &format!(
                        "Nothing serves the clock on {target}.\nStart it (for example: systemctl start piclockd); \
                         this window connects by itself when it appears."
                    ),
                );
            }
            Event::Snapshot(s) => self.show_snapshot(*s),
            Event::ReadFailed(message) => {
                self.ctx.show_banner(&format!("Cannot read the clock's status: {message}"), true);
                return;
            }
            Event::SyncFinished { success, server, offset_usec, message } => {
                // The outcome of a query the user asked for; routine queries
                // show in the NTP row only.
                if self.ctx.take_sync_request() {
                    if success {
                        let offset = offset_usec as f64 / 1000.0;
                        self.ctx
                            .show_banner(&format!("NTP: synchronized with {server}, offset {offset:+.3} ms"), false);
                    } else {
                        self.ctx.show_banner(&format!("NTP query to {server} failed: {message}"), true);
                    }
                }
                return;
            }
            Event::Fault { component, message } => {
                self.ctx.show_banner(&format!("Fault ({component}): {message}"), true);
                return;
            }
        }
        if let Some(hook) = self.first_update.borrow_mut().take() {
            hook(self);
        }
    }

    fn show_snapshot(&self, s: Properties) {
        let dial = Dial::from_seconds(s.dial_seconds).unwrap_or(Dial::TWELVE_HOUR);
        let needs = s.state == ClockState::NeedsPosition.as_str();
        let hands_at = (!needs).then_some(s.hand_position);
        let truth = match jiff::tz::TimeZone::get(&s.timezone) {
            Ok(tz) => hands::local_position(s.time_usec, &tz, dial),
            Err(_) => hands_at.map(|h| f64::from(hands::position_from_offset(h, s.offset, dial))),
        };
        let step = if s.impulse() { s.step() } else { 1 };
        self.face.update(dial, step, hands_at, truth, crate::face::SensorMark::of(&s));
        self.status.update(&s);
        self.controls.update(&s);
        self.stack.set_visible_child_name("clock");
        self.window().set_title(Some(&format!("{TITLE} — {}", status::describe_state(&s.state).0)));
        self.ctx.set_snapshot(Some(s));
    }
}

/// The panel's icon, built in (the installed icon theme may not have it).
fn app_icon() -> gtk4::Image {
    let svg = glib::Bytes::from_static(include_bytes!("../data/org.piclock.Panel.svg"));
    match gtk4::gdk::Texture::from_bytes(&svg) {
        Ok(texture) => gtk4::Image::from_paintable(Some(&texture)),
        Err(_) => gtk4::Image::from_icon_name(crate::APP_ID),
    }
}

fn install_css() {
    let Some(display) = gtk4::gdk::Display::default() else { return };
    let provider = gtk4::CssProvider::new();
    provider.load_from_data(CSS);
    gtk4::style_context_add_provider_for_display(&display, &provider, gtk4::STYLE_PROVIDER_PRIORITY_APPLICATION);
}

/// The header: title with the target under it, busy indicator, "Connect to…".
fn header_bar(weak: &Weak<Panel>) -> (HeaderBar, Label, Spinner, Label) {
    let header = HeaderBar::new();
    let titles = GBox::new(Orientation::Vertical, 0);
    titles.set_valign(Align::Center);
    let title = Label::new(Some(TITLE));
    title.add_css_class("title");
    let target_label = Label::new(None);
    target_label.add_css_class("subtitle");
    titles.append(&title);
    titles.append(&target_label);
    header.set_title_widget(Some(&titles));
    let connect = Button::with_mnemonic("_Connect to…");
    connect.set_tooltip_text(Some("Choose the clock: this computer, your session, or another machine over ssh"));
    let w = weak.clone();
    connect.connect_clicked(move |_| {
        if let Some(p) = w.upgrade() {
            p.choose_clock();
        }
    });
    header.pack_start(&connect);
    let spinner = Spinner::new();
    let busy_label = Label::new(None);
    header.pack_end(&spinner);
    header.pack_end(&busy_label);
    (header, target_label, spinner, busy_label)
}

/// The banner for refused calls and signals (hidden), and its text.
fn banner() -> (GBox, Label) {
    let banner = GBox::new(Orientation::Horizontal, 8);
    banner.add_css_class("banner");
    let banner_text = Label::new(None);
    banner_text.set_wrap(true);
    banner_text.set_xalign(0.0);
    banner_text.set_hexpand(true);
    let dismiss = Button::from_icon_name("window-close-symbolic");
    dismiss.set_tooltip_text(Some("Dismiss"));
    dismiss.add_css_class("flat");
    banner.append(&banner_text);
    banner.append(&dismiss);
    banner.set_visible(false);
    let b = banner.clone();
    dismiss.connect_clicked(move |_| b.set_visible(false));
    (banner, banner_text)
}

/// The empty state (no clock yet), with its title and detail.
fn empty_state() -> (GBox, Label, Label) {
    let empty = GBox::new(Orientation::Vertical, 12);
    empty.set_valign(Align::Center);
    empty.set_halign(Align::Center);
    let icon = app_icon();
    icon.set_pixel_size(96);
    let empty_title = Label::new(Some("Connecting…"));
    empty_title.add_css_class("empty-title");
    let empty_detail = Label::new(None);
    empty_detail.set_wrap(true);
    empty_detail.set_max_width_chars(60);
    empty_detail.set_justify(gtk4::Justification::Center);
    empty.append(&icon);
    empty.append(&empty_title);
    empty.append(&empty_detail);
    (empty, empty_title, empty_detail)
}
