//! "Time zone and NTP…": the dial's IANA zone and the NTP servers. Only what
//! changed is sent; a refusal is shown next to its field.

use crate::context::PanelContext;
use crate::dialog::Dialog;
use gtk4::prelude::*;
use gtk4::{Align, Entry, Grid, Label};
use std::rc::Rc;

/// The servers in `text`, separated by commas or white space, in order.
pub fn parse_servers(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn error_label() -> Label {
    let l = Label::new(None);
    l.add_css_class("error-text");
    l.set_wrap(true);
    l.set_xalign(0.0);
    l.set_max_width_chars(50);
    l.set_visible(false);
    l
}

/// Shows a failed call next to its field; true if it succeeded.
fn show(result: Result<(), crate::errors::CallError>, label: &Label) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            label.set_text(&e.to_string());
            label.set_visible(true);
            false
        }
    }
}

/// Opens the dialog over the panel.
pub fn open(panel: &Rc<PanelContext>) {
    let d = Rc::new(Dialog::new(&panel.window, "Time zone and NTP", "_Apply"));
    let snapshot = panel.snapshot();
    let zone = Entry::new();
    zone.set_placeholder_text(Some("e.g. Europe/Berlin"));
    zone.set_activates_default(true);
    zone.set_hexpand(true);
    let servers = Entry::new();
    servers.set_placeholder_text(Some("e.g. time.nist.gov, pool.ntp.org"));
    servers.set_activates_default(true);
    if let Some(s) = &snapshot {
        zone.set_text(&s.timezone);
        servers.set_text(&s.ntp_servers.join(", "));
    }
    let (zone_error, servers_error) = (error_label(), error_label());
    let grid = Grid::builder().row_spacing(6).column_spacing(10).build();
    for (row, (title, entry, error)) in
        [("Time zone (IANA)", &zone, &zone_error), ("NTP servers", &servers, &servers_error)].into_iter().enumerate()
    {
        let t = Label::new(Some(title));
        t.set_halign(Align::End);
        grid.attach(&t, 0, 2 * row as i32, 1, 1);
        grid.attach(entry, 1, 2 * row as i32, 1, 1);
        grid.attach(error, 1, 2 * row as i32 + 1, 1, 1);
    }
    d.content.append(&grid);
    let first = zone.clone();
    let (p, dd) = (panel.clone(), d.clone());
    d.primary.connect_clicked(move |_| {
        let Some(now) = p.snapshot() else {
            dd.show_error("Not connected to piclockd.");
            return;
        };
        zone_error.set_visible(false);
        servers_error.set_visible(false);
        let new_zone = zone.text().trim().to_owned();
        let new_servers = parse_servers(&servers.text());
        let zone_call = (new_zone != now.timezone)
            .then(|| p.call("Time zone", move |c| async move { c.set_timezone(&new_zone, true).await }));
        let servers_call = (new_servers != now.ntp_servers).then(|| {
            p.call("NTP servers", move |c| async move {
                let refs: Vec<&str> = new_servers.iter().map(String::as_str).collect();
                c.set_ntp_servers(&refs, true).await
            })
        });
        if zone_call.is_none() && servers_call.is_none() {
            dd.window.close();
            return;
        }
        dd.set_busy(true);
        let (dd, ze, se) = (dd.clone(), zone_error.clone(), servers_error.clone());
        gtk4::glib::spawn_future_local(async move {
            let mut ok = true;
            if let Some(call) = zone_call {
                ok &= show(call.await, &ze);
            }
            if let Some(call) = servers_call {
                ok &= show(call.await, &se);
            }
            dd.set_busy(false);
            if ok {
                dd.window.close();
            }
        });
    });
    d.window.present();
    first.grab_focus();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_split_on_commas_and_spaces() {
        assert_eq!(parse_servers("a.example, b.example  c.example"), vec!["a.example", "b.example", "c.example"]);
        assert!(parse_servers(" , ").is_empty());
    }
}
