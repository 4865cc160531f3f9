//! The pulse-settings editor: every key of [`KEYS`] with its range. Only the
//! changed keys are sent (SetPulseConfig is all or nothing); when the daemon
//! refuses, its message is shown next to each field it names.

use crate::context::PanelContext;
use crate::dialog::Dialog;
use crate::errors::Kind;
use gtk4::prelude::*;
use gtk4::{Align, Grid, Label, PolicyType, ScrolledWindow, SpinButton, Switch, Widget};
use piclock_core::pulse_config::KeyKind;
use piclock_dbus::{ConfigValue, PulseConfig, KEYS};
use std::collections::HashMap;
use std::rc::Rc;
use zbus::zvariant::OwnedValue;

/// The keys that a daemon message names, in table order: first those in the
/// part before the first `": "` (the core writes `key: message`, or
/// `a+b+c: message` for a rule across keys), else any key the message mentions.
pub fn keys_named(message: &str) -> Vec<&'static str> {
    let words = |text: &str| -> Vec<&'static str> {
        let tokens: Vec<&str> = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).collect();
        KEYS.iter().filter(|k| tokens.contains(&k.name)).map(|k| k.name).collect()
    };
    if let Some((head, _)) = message.split_once(": ") {
        let named = words(head);
        if !named.is_empty() {
            return named;
        }
    }
    words(message)
}

/// The dictionary for SetPulseConfig: the keys of `edited` whose values differ from `current`.
pub fn changes(current: &PulseConfig, edited: &[(&'static str, ConfigValue)]) -> HashMap<String, OwnedValue> {
    edited
        .iter()
        .filter(|(k, v)| current.get(k) != Some(*v))
        .map(|(k, v)| {
            let value = match v {
                ConfigValue::U32(n) => OwnedValue::from(*n),
                ConfigValue::Bool(b) => OwnedValue::from(*b),
            };
            ((*k).to_owned(), value)
        })
        .collect()
}

enum Field {
    Number(SpinButton),
    Flag(Switch),
}

impl Field {
    fn value(&self) -> ConfigValue {
        match self {
            Field::Number(s) => {
                // Take in what was typed but not yet confirmed with Enter.
                s.update();
                ConfigValue::U32(s.value().round().max(0.0) as u32)
            }
            Field::Flag(s) => ConfigValue::Bool(s.is_active()),
        }
    }

    fn set(&self, value: ConfigValue) {
        match (self, value) {
            (Field::Number(s), ConfigValue::U32(v)) => s.set_value(f64::from(v)),
            (Field::Flag(s), ConfigValue::Bool(b)) => s.set_active(b),
            _ => {}
        }
    }

    fn widget(&self) -> Widget {
        match self {
            Field::Number(s) => s.clone().upcast(),
            Field::Flag(s) => s.clone().upcast(),
        }
    }
}

struct Row {
    name: &'static str,
    field: Field,
    error: Label,
}

/// Opens the editor over the panel, filled with the daemon's current settings.
pub fn open(panel: &Rc<PanelContext>) {
    let d = Rc::new(Dialog::new(&panel.window, "Pulse settings", "_Apply"));
    d.window.set_resizable(true);
    d.window.set_default_size(640, 520);
    let current = panel.snapshot().map(|s| s.pulse());
    let current = match current {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            d.show_error(&format!("The daemon's settings could not be read ({e}); showing the defaults."));
            PulseConfig::default()
        }
        None => {
            d.show_error("Not connected to piclockd.");
            PulseConfig::default()
        }
    };
    let (grid, rows) = key_grid(&current);
    let scroller = ScrolledWindow::builder()
        .hscrollbar_policy(PolicyType::Never)
        .vscrollbar_policy(PolicyType::Automatic)
        .min_content_height(380)
        .vexpand(true)
        .child(&grid)
        .build();
    d.content.append(&scroller);
    let defaults = gtk4::Button::with_mnemonic("_Defaults");
    defaults.set_tooltip_text(Some("Fill in the built-in defaults (Apply sends them)"));
    defaults.set_halign(Align::Start);
    d.content.append(&defaults);
    let rows = Rc::new(rows);
    let first = rows.first().map(|r| r.field.widget());
    let r = rows.clone();
    defaults.connect_clicked(move |_| {
        for (row, key) in r.iter().zip(KEYS) {
            row.field.set(key.default);
        }
    });
    let (p, dd) = (panel.clone(), d.clone());
    d.primary.connect_clicked(move |_| {
        for row in rows.iter() {
            row.error.set_visible(false);
        }
        let edited: Vec<(&'static str, ConfigValue)> = rows.iter().map(|r| (r.name, r.field.value())).collect();
        let base = p.snapshot().and_then(|s| s.pulse().ok()).unwrap_or(current);
        let dict = changes(&base, &edited);
        if dict.is_empty() {
            dd.window.close();
            return;
        }
        dd.set_busy(true);
        let call = p.call("Pulse settings", move |c| async move { c.set_pulse_config(dict, true).await });
        let (dd, rows) = (dd.clone(), rows.clone());
        gtk4::glib::spawn_future_local(async move {
            match call.await {
                Ok(()) => dd.window.close(),
                Err(err) => {
                    dd.set_busy(false);
                    let named = if err.kind == Kind::Invalid { keys_named(&err.message) } else { Vec::new() };
                    for row in rows.iter().filter(|r| named.contains(&r.name)) {
                        row.error.set_text(&err.message);
                        row.error.set_visible(true);
                    }
                    dd.show_error(&err.to_string());
                }
            }
        });
    });
    d.window.present();
    if let Some(first) = first {
        first.grab_focus();
    }
}

/// A grid with a row per key of the contract's table: name, field (filled
/// from `current`), range and default, and an error line under it.
fn key_grid(current: &PulseConfig) -> (Grid, Vec<Row>) {
    let grid = Grid::builder().row_spacing(4).column_spacing(10).build();
    let mut rows = Vec::new();
    for (i, key) in KEYS.iter().enumerate() {
        let name = Label::new(Some(key.name));
        name.set_halign(Align::Start);
        name.set_tooltip_text(Some(key.doc));
        name.add_css_class("monospace");
        let field = match key.kind {
            KeyKind::U32 { min, max } => {
                let s = SpinButton::with_range(f64::from(min), f64::from(max), 1.0);
                s.set_digits(0);
                Field::Number(s)
            }
            KeyKind::Bool => {
                let s = Switch::new();
                s.set_halign(Align::Start);
                Field::Flag(s)
            }
        };
        if let Some(v) = current.get(key.name) {
            field.set(v);
        }
        let widget = field.widget();
        widget.set_tooltip_text(Some(key.doc));
        let hint = Label::new(Some(&format!("{} (default {})", key.range_text(), key.default)));
        hint.add_css_class("dim-label");
        hint.set_halign(Align::Start);
        let error = Label::new(None);
        error.add_css_class("error-text");
        error.set_wrap(true);
        error.set_xalign(0.0);
        error.set_max_width_chars(40);
        error.set_visible(false);
        let row = 2 * i as i32;
        grid.attach(&name, 0, row, 1, 1);
        grid.attach(&widget, 1, row, 1, 1);
        grid.attach(&hint, 2, row, 1, 1);
        grid.attach(&error, 1, row + 1, 2, 1);
        rows.push(Row { name: key.name, field, error });
    }
    (grid, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_keys() {
        assert_eq!(keys_named("norm_tick_ms: 200 is out of range; accepted: ..."), vec!["norm_tick_ms"]);
        assert_eq!(
            keys_named("rev_ticka_t1_ms+rev_ticka_t2_ms+rev_ticka_t3_ms: 120 ms do not fit in a reverse tick period"),
            vec!["rev_ticka_t1_ms", "rev_ticka_t2_ms", "rev_ticka_t3_ms"]
        );
        assert_eq!(keys_named("the pulse is longer than fwd_tick_ms allows"), vec!["fwd_tick_ms"]);
        assert!(keys_named("something else").is_empty());
        // A key name inside a longer word is not a mention.
        assert!(keys_named("xnorm_tick_ms: no").is_empty());
    }

    #[test]
    fn the_core_names_keys_the_way_the_editor_reads_them() {
        // A rule across keys: reverse pulses longer than the reverse tick period.
        let e = PulseConfig::default()
            .with_changes([
                ("rev_ticka_t1_ms", ConfigValue::U32(100)),
                ("rev_ticka_t2_ms", ConfigValue::U32(100)),
                ("rev_ticka_t3_ms", ConfigValue::U32(100)),
            ])
            .expect_err("too long");
        let named = keys_named(&e.to_string());
        assert!(!named.is_empty(), "{e}");
        assert!(named.iter().all(|k| e.key.contains(k)), "{e}: {named:?}");
    }

    #[test]
    fn only_changed_keys_are_sent() {
        let current = PulseConfig::default();
        let edited: Vec<(&'static str, ConfigValue)> =
            KEYS.iter().map(|k| (k.name, current.get(k.name).expect("known"))).collect();
        assert!(changes(&current, &edited).is_empty());
        let mut edited = edited;
        edited[0].1 = ConfigValue::U32(40);
        let last = edited.len() - 1;
        edited[last].1 = ConfigValue::Bool(true);
        let dict = changes(&current, &edited);
        assert_eq!(dict.len(), 2);
        assert_eq!(dict[KEYS[0].name], OwnedValue::from(40u32));
        assert_eq!(dict[KEYS[last].name], OwnedValue::from(true));
    }
}
