//! `--screenshot FILE`: renders the window as GTK draws it to a PNG file, and
//! lists the text the window shows, for tests and documentation.

use gtk4::prelude::*;
use gtk4::{graphene, Label, Widget, WidgetPaintable};
use std::path::Path;

/// Adwaita's window background (the content of a window has none of its own).
const BACKGROUND: gtk4::gdk::RGBA = gtk4::gdk::RGBA::new(0.98, 0.98, 0.98, 1.0);

/// Renders `widget` (a widget inside a window) to a PNG file at `path`, on
/// the window's background colour.
pub fn save_png(widget: &impl IsA<Widget>, path: &Path) -> Result<(), String> {
    let widget = widget.as_ref();
    let (w, h) = (widget.width(), widget.height());
    if w <= 0 || h <= 0 {
        return Err("the window has no size yet".into());
    }
    let paintable = WidgetPaintable::new(Some(widget));
    let snapshot = gtk4::Snapshot::new();
    snapshot.append_color(&BACKGROUND, &graphene::Rect::new(0.0, 0.0, w as f32, h as f32));
    paintable.snapshot(&snapshot, f64::from(w), f64::from(h));
    let node = snapshot.to_node().ok_or("the window drew nothing")?;
    let native = widget.native().ok_or("the widget is not in a window")?;
    let renderer = native.renderer().ok_or("the window has no renderer")?;
    let viewport = graphene::Rect::new(0.0, 0.0, w as f32, h as f32);
    let texture = renderer.render_texture(&node, Some(&viewport));
    texture.save_to_png(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The text of every label the user can see in `root` (mapped widgets only),
/// in widget order, one entry per label.
pub fn visible_text(root: &impl IsA<Widget>) -> Vec<String> {
    let mut out = Vec::new();
    collect(root.as_ref(), &mut out);
    out
}

fn collect(widget: &Widget, out: &mut Vec<String>) {
    if !widget.is_mapped() {
        return;
    }
    if let Some(label) = widget.downcast_ref::<Label>() {
        let text = label.text();
        if !text.is_empty() {
            out.push(text.to_string());
        }
    }
    if let Some(bar) = widget.downcast_ref::<gtk4::ProgressBar>() {
        out.push(format!("[progress {:.2}]", bar.fraction()));
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        collect(&c, out);
        child = c.next_sibling();
    }
}
