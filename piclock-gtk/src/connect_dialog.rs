//! "Connect to…": which clock the panel follows — the system bus of this
//! computer, the user's session bus, or another machine over ssh. The choice
//! is remembered in the panel's settings file.

use crate::context::PanelContext;
use crate::dialog::Dialog;
use crate::panel_config;
use gtk4::prelude::*;
use gtk4::{CheckButton, Entry, Label};
use piclock_dbus::transport::Target;
use std::rc::Rc;

/// Opens the dialog over the panel; `current` is the clock followed now,
/// and `follow` follows the one chosen.
pub fn open(panel: &Rc<PanelContext>, current: Target, follow: impl Fn(Target) + 'static) {
    let d = Rc::new(Dialog::new(&panel.window, "Connect to a clock", "C_onnect"));
    let system = CheckButton::with_mnemonic("This computer (_system service)");
    let session = CheckButton::with_mnemonic("This computer, my _user session (piclockd --session)");
    let remote = CheckButton::with_mnemonic("_Another machine over ssh:");
    session.set_group(Some(&system));
    remote.set_group(Some(&system));
    let host = Entry::new();
    host.set_placeholder_text(Some("[user@]host, e.g. pi@clock.local"));
    host.set_activates_default(true);
    host.set_margin_start(24);
    match current {
        Target::System => system.set_active(true),
        Target::Session => session.set_active(true),
        Target::Remote { host: h } => {
            remote.set_active(true);
            host.set_text(&h);
        }
    }
    // Typing a host means "another machine".
    let r = remote.clone();
    host.connect_changed(move |e| {
        if !e.text().is_empty() {
            r.set_active(true);
        }
    });
    let note = Label::new(Some(
        "Another machine: ssh runs systemd-stdio-bridge there; polkit there asks for your ssh user's rights.",
    ));
    note.set_wrap(true);
    note.set_xalign(0.0);
    note.set_max_width_chars(50);
    note.add_css_class("dim-label");
    for w in [
        system.upcast_ref::<gtk4::Widget>(),
        session.upcast_ref(),
        remote.upcast_ref(),
        host.upcast_ref(),
        note.upcast_ref(),
    ] {
        d.content.append(w);
    }
    let (p, dd, h) = (panel.clone(), d.clone(), host.clone());
    d.primary.connect_clicked(move |_| {
        let target = if system.is_active() {
            Target::System
        } else if session.is_active() {
            Target::Session
        } else {
            match Target::remote(&h.text()) {
                Ok(t) => t,
                Err(e) => {
                    dd.show_error(&e.to_string());
                    h.grab_focus();
                    return;
                }
            }
        };
        if let Err(e) = panel_config::remember(&target) {
            p.show_banner(&format!("The choice of clock could not be remembered: {e}"), true);
        }
        follow(target);
        dd.window.close();
    });
    d.window.present();
    host.grab_focus();
}
