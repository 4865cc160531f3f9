//! "Set hands…": tell the daemon what the hands show now. The entry is
//! checked with the dial's own parser before anything is sent.

use crate::context::PanelContext;
use crate::dialog::Dialog;
use gtk4::prelude::*;
use gtk4::{Entry, Label};
use piclock_core::dial::Dial;
use std::rc::Rc;

/// What to send for `text` on `dial`: the position in the daemon's format, or
/// the reason it cannot be sent.
pub fn validate(dial: Dial, text: &str) -> Result<String, String> {
    dial.parse(text).map(|p| dial.format(p)).map_err(|e| e.to_string())
}

/// Opens the dialog over the panel.
pub fn open(panel: &Rc<PanelContext>) {
    let dial = panel.dial();
    let d = Rc::new(Dialog::new(&panel.window, "Set hands", "_Set"));
    let hours = if dial == Dial::TWELVE_HOUR { "1–12" } else { "0–23" };
    let intro = Label::new(Some(&format!(
        "What do the hands show now? H:MM or H:MM:SS ({dial}, hours {hours}).\n\
         The clock then catches up from there."
    )));
    intro.set_xalign(0.0);
    intro.set_wrap(true);
    let entry = Entry::new();
    entry.set_placeholder_text(Some("e.g. 3:25:00"));
    entry.set_activates_default(true);
    if let Some(s) = panel.snapshot() {
        entry.set_text(&dial.format(s.hand_position));
        entry.select_region(0, -1);
    }
    d.content.append(&intro);
    d.content.append(&entry);
    let (p, dd, e) = (panel.clone(), d.clone(), entry.clone());
    d.primary.connect_clicked(move |_| {
        let position = match validate(p.dial(), &e.text()) {
            Ok(position) => position,
            Err(message) => {
                dd.show_error(&message);
                e.grab_focus();
                return;
            }
        };
        dd.set_busy(true);
        let call = p.call("Set hands", move |c| async move { c.set_hand_position(&position, true).await });
        let dd = dd.clone();
        gtk4::glib::spawn_future_local(async move {
            match call.await {
                Ok(()) => dd.window.close(),
                Err(err) => {
                    dd.set_busy(false);
                    dd.show_error(&err.to_string());
                }
            }
        });
    });
    d.window.present();
    entry.grab_focus();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_checked_before_sending() {
        assert_eq!(validate(Dial::TWELVE_HOUR, "3:25"), Ok("3:25:00".into()));
        assert_eq!(validate(Dial::TWELVE_HOUR, " 0:00:05 "), Ok("12:00:05".into()));
        assert_eq!(validate(Dial::TWENTY_FOUR_HOUR, "23:59:59"), Ok("23:59:59".into()));
        for bad in ["", "25:00", "3:5", "3:61", "13:00", "abc", "1:00:00:00"] {
            let e = validate(Dial::TWELVE_HOUR, bad).expect_err(bad);
            assert!(e.contains("accepted"), "{bad}: {e}");
        }
    }
}
