//! A small modal window with content, an error line and Cancel / primary
//! buttons (GtkDialog is deprecated after GTK 4.8; this is all we need).

use gtk4::prelude::*;
use gtk4::{Align, Box as GBox, Button, Label, Orientation, Window};

/// The parts of a dialog that callers fill in.
pub struct Dialog {
    /// The dialog window.
    pub window: Window,
    /// Where the caller puts its widgets.
    pub content: GBox,
    /// The error line (hidden while empty).
    pub error: Label,
    /// The primary button (the default widget: Enter in an entry presses it).
    pub primary: Button,
}

impl Dialog {
    /// A dialog over `parent` titled `title`, with a primary button labelled
    /// `primary` (may contain a mnemonic).
    pub fn new(parent: &impl IsA<Window>, title: &str, primary: &str) -> Dialog {
        let window = Window::builder().title(title).transient_for(parent).modal(true).resizable(false).build();
        let outer = GBox::new(Orientation::Vertical, 12);
        outer.set_margin_top(16);
        outer.set_margin_bottom(16);
        outer.set_margin_start(16);
        outer.set_margin_end(16);
        let content = GBox::new(Orientation::Vertical, 8);
        let error = Label::new(None);
        error.add_css_class("error-text");
        error.set_wrap(true);
        error.set_xalign(0.0);
        error.set_max_width_chars(50);
        error.set_visible(false);
        let buttons = GBox::new(Orientation::Horizontal, 8);
        buttons.set_halign(Align::End);
        let cancel = Button::with_mnemonic("_Cancel");
        let primary = Button::with_mnemonic(primary);
        primary.add_css_class("suggested-action");
        buttons.append(&cancel);
        buttons.append(&primary);
        outer.append(&content);
        outer.append(&error);
        outer.append(&buttons);
        window.set_child(Some(&outer));
        window.set_default_widget(Some(&primary));
        let w = window.clone();
        cancel.connect_clicked(move |_| w.close());
        Dialog { window, content, error, primary }
    }

    /// Shows `message` on the error line (empty: hides it).
    pub fn show_error(&self, message: &str) {
        self.error.set_text(message);
        self.error.set_visible(!message.is_empty());
    }

    /// While a call runs: the primary button is insensitive and says so.
    pub fn set_busy(&self, busy: bool) {
        self.primary.set_sensitive(!busy);
        if busy {
            self.show_error("");
        }
    }
}
