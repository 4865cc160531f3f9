//! The buttons: pause/resume, set hands, step, sync, and the settings dialogs.
//! Every call passes interactive=true, so polkit may ask for a password.

use crate::context::PanelContext;
use gtk4::prelude::*;
use gtk4::{Box as GBox, Button, Orientation};
use piclock_dbus::ClockState;
use piclock_dbus::Properties;
use std::rc::{Rc, Weak};

/// The control buttons.
pub struct Controls {
    root: GBox,
    pause: Button,
}

fn button(weak: &Weak<PanelContext>, label: &str, tooltip: &str, f: impl Fn(&Rc<PanelContext>) + 'static) -> Button {
    let b = Button::with_mnemonic(label);
    b.set_tooltip_text(Some(tooltip));
    let w = weak.clone();
    b.connect_clicked(move |_| {
        if let Some(p) = w.upgrade() {
            f(&p);
        }
    });
    b
}

fn row(buttons: &[&Button]) -> GBox {
    let r = GBox::new(Orientation::Horizontal, 6);
    for b in buttons {
        r.append(*b);
    }
    r
}

/// Label of the pause button while the clock runs, and while it is paused.
const PAUSE: &str = "_Pause";
const RESUME: &str = "_Resume";

impl Controls {
    /// The buttons, acting on the panel through `weak`.
    pub fn new(weak: Weak<PanelContext>) -> Controls {
        let pause = Button::with_mnemonic(PAUSE);
        pause.set_tooltip_text(Some("Stop the hands where they are, or start them again and catch up"));
        let w = weak.clone();
        pause.connect_clicked(move |b| {
            let Some(p) = w.upgrade() else { return };
            if b.label().as_deref() == Some(RESUME) {
                p.act("Resume", |c| async move { c.resume(true).await });
            } else {
                p.act("Pause", |c| async move { c.pause(true).await });
            }
        });
        let set = button(&weak, "Set _hands…", "Tell the clock what the hands show now", crate::set_hands::open);
        let sync = button(&weak, "Sync _now", "Query the NTP servers now", |p| {
            p.expect_sync();
            p.act("Sync now", |c| async move { c.sync_now(true).await })
        });
        let step = |label: &str, ticks: i32| {
            let tip = format!("Move the hands {} by {} s now", if ticks < 0 { "back" } else { "on" }, ticks.abs());
            button(&weak, label, &tip, move |p| p.act("Step", move |c| async move { c.step(ticks, true).await }))
        };
        let (back_min, back_s, on_s, on_min) =
            (step("−1 min", -60), step("−1 s", -1), step("+1 s", 1), step("+1 min", 60));
        let pulse =
            button(&weak, "Pulse _settings…", "Pulse lengths, rates and polarity", crate::settings_editor::open);
        let time =
            button(&weak, "_Time zone and NTP…", "Time zone of the dial and NTP servers", crate::time_settings::open);
        let root = GBox::new(Orientation::Vertical, 6);
        root.append(&row(&[&pause, &set, &sync]));
        root.append(&row(&[&back_min, &back_s, &on_s, &on_min]));
        root.append(&row(&[&pulse, &time]));
        Controls { root, pause }
    }

    /// The widget.
    pub fn widget(&self) -> &GBox {
        &self.root
    }

    /// Follows the daemon's state (pause or resume).
    pub fn update(&self, s: &Properties) {
        let paused = s.state == ClockState::Paused.as_str();
        self.pause.set_label(if paused { RESUME } else { PAUSE });
    }
}
