//! What the dialogs and the buttons get of the panel: the main window (their
//! parent), the latest reading, the calls to the daemon (on the tokio
//! runtime, with the busy indicator) and the banner that shows what went
//! wrong. The panel (`window.rs`) owns one and keeps it up to date; the
//! dialogs and the buttons know only this, never the panel.

use crate::errors::CallError;
use gtk4::prelude::*;
use gtk4::{glib, ApplicationWindow, Box as GBox, Label, Spinner};
use piclock_core::dial::Dial;
use piclock_dbus::{Clock1Proxy, Properties};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use tokio::runtime::Handle;

/// The widgets of the header and the banner that the context drives.
pub struct Indicators {
    /// The banner (hidden until there is something to say).
    pub banner: GBox,
    /// The banner's text.
    pub banner_text: Label,
    /// Spins while calls are waiting for the daemon.
    pub spinner: Spinner,
    /// Says that calls are waiting.
    pub busy_label: Label,
}

/// The panel as its dialogs and buttons see it.
pub struct PanelContext {
    rt: Handle,
    /// The main window: the parent of the dialogs.
    pub window: ApplicationWindow,
    indicators: Indicators,
    pending: Cell<u32>,
    sync_requested: Cell<bool>,
    proxy: RefCell<Option<Clock1Proxy<'static>>>,
    snapshot: RefCell<Option<Properties>>,
}

impl Drop for PanelContext {
    fn drop(&mut self) {
        self.set_proxy(None);
    }
}

impl PanelContext {
    /// A context for `window`, running calls on `rt`, showing what it does
    /// with `indicators`; not connected yet.
    pub fn new(rt: Handle, window: ApplicationWindow, indicators: Indicators) -> PanelContext {
        PanelContext {
            rt,
            window,
            indicators,
            pending: Cell::new(0),
            sync_requested: Cell::new(false),
            proxy: RefCell::new(None),
            snapshot: RefCell::new(None),
        }
    }

    /// Replaces the proxy. The old one is dropped inside the runtime: zbus
    /// removes its match rules with a task of the runtime, and dropped on
    /// the GTK thread outside it (when the panel held the last clone) it
    /// panicked and aborted the panel (seen once in a clean-clone run of
    /// the Connect to… test).
    pub fn set_proxy(&self, proxy: Option<Clock1Proxy<'static>>) {
        let _runtime = self.rt.enter();
        drop(self.proxy.replace(proxy));
    }

    /// Keeps `reading` as the latest (`None`: the daemon is not there).
    pub fn set_snapshot(&self, reading: Option<Properties>) {
        self.snapshot.replace(reading);
    }

    /// The latest reading, if the daemon is there.
    pub fn snapshot(&self) -> Option<Properties> {
        self.snapshot.borrow().clone()
    }

    /// The dial of the clock (12-hour until known).
    pub fn dial(&self) -> Dial {
        self.snapshot.borrow().as_ref().and_then(|s| Dial::from_seconds(s.dial_seconds)).unwrap_or(Dial::TWELVE_HOUR)
    }

    /// Shows the outcome of the next SyncFinished signal (the user asked for a query).
    pub fn expect_sync(&self) {
        self.sync_requested.set(true);
    }

    /// Whether the user asked for the query that just finished (once per request).
    pub fn take_sync_request(&self) -> bool {
        self.sync_requested.replace(false)
    }

    /// Shows a message over the window (`error`: in red) until dismissed or replaced.
    pub fn show_banner(&self, text: &str, error: bool) {
        let Indicators { banner, banner_text, .. } = &self.indicators;
        banner_text.set_text(text);
        banner.remove_css_class("banner-error");
        banner.remove_css_class("banner-info");
        banner.add_css_class(if error { "banner-error" } else { "banner-info" });
        banner.set_visible(true);
    }

    fn busy(&self, delta: i32) {
        let n = self.pending.get().saturating_add_signed(delta);
        self.pending.set(n);
        self.indicators.spinner.set_spinning(n > 0);
        self.indicators.busy_label.set_text(if n > 0 { "Waiting for piclockd…" } else { "" });
    }

    /// Runs a D-Bus call on the runtime. The returned future resolves on the
    /// GTK side; a failure is also written to stderr. `what` names the call
    /// for messages.
    pub fn call<Fut>(
        self: &Rc<Self>,
        what: &str,
        make: impl FnOnce(Clock1Proxy<'static>) -> Fut,
    ) -> impl Future<Output = Result<(), CallError>> + 'static
    where
        Fut: Future<Output = zbus::Result<()>> + Send + 'static,
    {
        let handle = self.proxy.borrow().clone().map(|p| self.rt.spawn(make(p)));
        self.busy(1);
        let this = self.clone();
        let what = what.to_owned();
        async move {
            let result = match handle {
                None => Err(CallError::other("not connected to piclockd")),
                Some(h) => match h.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(CallError::from_zbus(&e)),
                    Err(e) => Err(CallError::other(e.to_string())),
                },
            };
            this.busy(-1);
            if let Err(e) = &result {
                eprintln!("piclock-gtk: {what}: {e}");
            }
            result
        }
    }

    /// Runs a call whose failure is shown in the banner.
    pub fn act<Fut>(self: &Rc<Self>, what: &'static str, make: impl FnOnce(Clock1Proxy<'static>) -> Fut)
    where
        Fut: Future<Output = zbus::Result<()>> + Send + 'static,
    {
        let call = self.call(what, make);
        let this = self.clone();
        glib::spawn_future_local(async move {
            if let Err(e) = call.await {
                this.show_banner(&format!("{what}: {e}"), true);
            }
        });
    }
}
