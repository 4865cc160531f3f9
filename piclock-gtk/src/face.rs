//! The analog face: the physical hands (where the daemon says they point)
//! drawn solid, the true local time as faint ghost hands beneath them, so a
//! glance shows whether the clock is right. With hand sensors, a small mark
//! at 12 says whether a sensor confirmed the hands lately ([`SensorMark`]).

use crate::hands::{self, angles, point};
use gtk4::prelude::*;
use gtk4::{cairo, glib, DrawingArea};
use piclock_core::dial::Dial;
use std::cell::RefCell;
use std::f64::consts::TAU;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Colour of the dial (RGB 250, 247, 240).
pub const FACE_RGB: (f64, f64, f64) = (250.0 / 255.0, 247.0 / 255.0, 240.0 / 255.0);
/// Colour of the physical hour and minute hands.
pub const HAND_RGB: (f64, f64, f64) = (0.11, 0.11, 0.12);
/// Colour of the physical second hand.
pub const SECOND_RGB: (f64, f64, f64) = (0.78, 0.16, 0.13);
/// Colour and opacity of the ghost hands (true time).
pub const GHOST_RGBA: (f64, f64, f64, f64) = (0.20, 0.45, 0.85, 0.45);

/// Colour of the sensor mark when a sensor confirmed the hands lately.
pub const CONFIRMED_RGB: (f64, f64, f64) = (0.16, 0.62, 0.30);
/// Colour of the sensor mark when a sensor is faulty.
pub const SENSOR_FAULT_RGB: (f64, f64, f64) = (0.90, 0.55, 0.10);
/// Colour of the sensor mark's ring when nothing confirmed the hands lately.
pub const UNCONFIRMED_RGB: (f64, f64, f64) = (0.55, 0.55, 0.58);
/// Where the sensor mark is, and its size, as fractions of the dial's radius (at 12).
pub const MARK_RADIUS: (f64, f64) = (0.58, 0.04);

/// The mark at 12: what the hand sensors said lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorMark {
    /// No sensor: no mark.
    Absent,
    /// A sensor confirmed (or corrected) the hands within the last two
    /// minutes of the daemon's time: a green dot.
    Confirmed,
    /// Sensors, but no confirmation lately (learning, paused, homing): a grey ring.
    Unconfirmed,
    /// A sensor is faulty (`Faults` names it): an orange dot.
    Faulty,
}

/// How recent a sensor check must be to count as confirming the hands, µs.
pub const CONFIRMED_WITHIN_US: u64 = 120_000_000;

impl SensorMark {
    /// The mark for a reading of the daemon.
    pub fn of(p: &piclock_dbus::Properties) -> SensorMark {
        if p.sensors_configured.is_empty() {
            SensorMark::Absent
        } else if p.faults.iter().any(|f| f.contains("sensor")) {
            SensorMark::Faulty
        } else if p.last_sensor_check_usec > 0
            && p.time_usec.saturating_sub(p.last_sensor_check_usec) <= CONFIRMED_WITHIN_US
        {
            SensorMark::Confirmed
        } else {
            SensorMark::Unconfirmed
        }
    }
}

/// Lengths and widths of the hands, as fractions of the dial's radius.
pub mod geometry {
    /// Hour hand length.
    pub const HOUR_LEN: f64 = 0.50;
    /// Minute hand length.
    pub const MINUTE_LEN: f64 = 0.78;
    /// Second hand length.
    pub const SECOND_LEN: f64 = 0.86;
    /// Hour hand width.
    pub const HOUR_WIDTH: f64 = 0.05;
    /// Minute hand width.
    pub const MINUTE_WIDTH: f64 = 0.035;
    /// Second hand width.
    pub const SECOND_WIDTH: f64 = 0.016;
    /// Ghost hands are this much wider than the solid ones, so that a ghost
    /// under a right hand still shows as a faint rim.
    pub const GHOST_EXTRA: f64 = 0.025;
}

/// The true time as last read, advanced locally between readings.
#[derive(Debug, Clone, Copy)]
struct Truth {
    position: f64,
    at: Instant,
    /// Dial seconds per real second (1 unless the daemon runs simulated time faster).
    rate: f64,
}

/// What the face shows.
#[derive(Debug, Clone)]
struct Model {
    dial: Dial,
    /// Seconds of dial per step: above 1 (a minute or half-minute impulse
    /// line) the clock has no second hand, and neither has the face.
    step: u32,
    hands: Option<u32>,
    truth: Option<Truth>,
    sensor: SensorMark,
}

/// The face widget and its model.
#[derive(Clone)]
pub struct Face {
    area: DrawingArea,
    model: Rc<RefCell<Model>>,
}

impl Face {
    /// A face with no hands yet.
    pub fn new() -> Face {
        let area = DrawingArea::new();
        area.set_content_width(320);
        area.set_content_height(320);
        area.set_hexpand(true);
        area.set_vexpand(true);
        let model = Rc::new(RefCell::new(Model {
            dial: Dial::TWELVE_HOUR,
            step: 1,
            hands: None,
            truth: None,
            sensor: SensorMark::Absent,
        }));
        let m = model.clone();
        area.set_draw_func(move |_, cr, w, h| {
            let model = m.borrow().clone();
            // Cairo errors only mean a broken surface; nothing to do but skip the frame.
            let _ = draw(cr, f64::from(w), f64::from(h), &model);
        });
        // The ghost moves with true time between readings: redraw a few times
        // a second (the hands themselves jump once a second, as a quartz dial's do).
        let weak = area.downgrade();
        let m = model.clone();
        glib::timeout_add_local(Duration::from_millis(250), move || match weak.upgrade() {
            Some(area) => {
                if m.borrow().truth.is_some() {
                    area.queue_draw();
                }
                glib::ControlFlow::Continue
            }
            None => glib::ControlFlow::Break,
        });
        Face { area, model }
    }

    /// The widget.
    pub fn widget(&self) -> &DrawingArea {
        &self.area
    }

    /// Shows a reading: the dial size, the seconds of dial per step (1 for
    /// quartz), the physical hands (None: unknown), the true position on
    /// the dial (fractional seconds; None: unknown) and the sensor mark.
    pub fn update(&self, dial: Dial, step: u32, hands: Option<u32>, truth: Option<f64>, sensor: SensorMark) {
        {
            let mut m = self.model.borrow_mut();
            let now = Instant::now();
            let rate = match (m.truth, truth) {
                // Estimate how fast true time runs from two readings (a
                // simulated daemon may run faster than real time).
                (Some(old), Some(new)) if m.dial == dial => {
                    let real = now.duration_since(old.at).as_secs_f64();
                    let dial_s = (new - old.position).rem_euclid(f64::from(dial.seconds()));
                    if real > 0.5 && dial_s / real < 10_000.0 {
                        (dial_s / real).max(0.0)
                    } else {
                        old.rate
                    }
                }
                _ => 1.0,
            };
            m.dial = dial;
            m.step = step.max(1);
            m.hands = hands;
            m.truth = truth.map(|position| Truth { position, at: now, rate });
            m.sensor = sensor;
        }
        self.area.queue_draw();
    }

    /// Shows an empty dial (no daemon).
    pub fn clear(&self) {
        let mut m = self.model.borrow_mut();
        m.hands = None;
        m.truth = None;
        m.sensor = SensorMark::Absent;
        drop(m);
        self.area.queue_draw();
    }
}

impl Default for Face {
    fn default() -> Self {
        Face::new()
    }
}

fn set_rgb(cr: &cairo::Context, (r, g, b): (f64, f64, f64)) {
    cr.set_source_rgb(r, g, b);
}

fn hand(
    cr: &cairo::Context,
    cx: f64,
    cy: f64,
    len: f64,
    tail: f64,
    width: f64,
    angle: f64,
) -> Result<(), cairo::Error> {
    let (x0, y0) = point(cx, cy, -tail, angle);
    let (x1, y1) = point(cx, cy, len, angle);
    cr.set_line_width(width);
    cr.set_line_cap(cairo::LineCap::Round);
    cr.move_to(x0, y0);
    cr.line_to(x1, y1);
    cr.stroke()
}

fn draw(cr: &cairo::Context, w: f64, h: f64, m: &Model) -> Result<(), cairo::Error> {
    use geometry::*;
    let (cx, cy) = (w / 2.0, h / 2.0);
    let r = (w.min(h) / 2.0 - 6.0).max(10.0);

    // Dial and rim.
    cr.arc(cx, cy, r, 0.0, TAU);
    set_rgb(cr, FACE_RGB);
    cr.fill_preserve()?;
    cr.set_line_width(r * 0.03);
    set_rgb(cr, (0.35, 0.35, 0.38));
    cr.stroke()?;

    // Minute marks, and hour marks with numerals.
    let hours = m.dial.hours();
    for i in 0..60 {
        let a = TAU * f64::from(i) / 60.0;
        let major = hours == 12 && i % 5 == 0;
        let (inner, width) = if major { (0.84, 0.025) } else { (0.91, 0.008) };
        let (x0, y0) = point(cx, cy, r * inner, a);
        let (x1, y1) = point(cx, cy, r * 0.95, a);
        cr.set_line_width(r * width);
        set_rgb(cr, (0.25, 0.25, 0.27));
        cr.move_to(x0, y0);
        cr.line_to(x1, y1);
        cr.stroke()?;
    }
    cr.select_font_face("Sans", cairo::FontSlant::Normal, cairo::FontWeight::Normal);
    let (font, at) = if hours == 12 { (0.13, 0.72) } else { (0.085, 0.76) };
    cr.set_font_size(r * font);
    for hour in 0..hours {
        let a = TAU * f64::from(hour) / f64::from(hours);
        if hours == 24 {
            let (x0, y0) = point(cx, cy, r * 0.84, a);
            let (x1, y1) = point(cx, cy, r * 0.95, a);
            cr.set_line_width(r * 0.02);
            cr.move_to(x0, y0);
            cr.line_to(x1, y1);
            cr.stroke()?;
        }
        let text = if hours == 12 && hour == 0 { "12".to_owned() } else { hour.to_string() };
        let ext = cr.text_extents(&text)?;
        let (x, y) = point(cx, cy, r * at, a);
        cr.move_to(x - ext.width() / 2.0 - ext.x_bearing(), y - ext.height() / 2.0 - ext.y_bearing());
        cr.show_text(&text)?;
    }
    if hours == 24 {
        cr.set_font_size(r * 0.06);
        let ext = cr.text_extents("24 h")?;
        set_rgb(cr, (0.45, 0.45, 0.47));
        cr.move_to(cx - ext.width() / 2.0, cy - r * 0.3);
        cr.show_text("24 h")?;
    }

    sensor_mark(cr, cx, cy, r, m.sensor)?;

    // Ghost hands: true time, stepping like the real hands (once a second,
    // or once a step of an impulse line, which has no second hand).
    let step = f64::from(m.step);
    let second_hand = m.step == 1;
    if let Some(t) = m.truth {
        let now = t.position + t.at.elapsed().as_secs_f64() * t.rate;
        let a = angles((now / step).floor() * step, m.dial);
        let (gr, gg, gb, ga) = GHOST_RGBA;
        cr.set_source_rgba(gr, gg, gb, ga);
        hand(cr, cx, cy, r * HOUR_LEN, 0.0, r * (HOUR_WIDTH + GHOST_EXTRA), a.hour)?;
        hand(cr, cx, cy, r * MINUTE_LEN, 0.0, r * (MINUTE_WIDTH + GHOST_EXTRA), a.minute)?;
        if second_hand {
            hand(cr, cx, cy, r * SECOND_LEN, 0.0, r * (SECOND_WIDTH + 0.008), a.second)?;
        }
    }

    // The physical hands.
    match m.hands {
        Some(p) => {
            let a = hands::angles(f64::from(p), m.dial);
            set_rgb(cr, HAND_RGB);
            hand(cr, cx, cy, r * HOUR_LEN, r * 0.08, r * HOUR_WIDTH, a.hour)?;
            hand(cr, cx, cy, r * MINUTE_LEN, r * 0.08, r * MINUTE_WIDTH, a.minute)?;
            set_rgb(cr, SECOND_RGB);
            if second_hand {
                hand(cr, cx, cy, r * SECOND_LEN, r * 0.15, r * SECOND_WIDTH, a.second)?;
            }
            cr.arc(cx, cy, r * 0.035, 0.0, TAU);
            cr.fill()?;
        }
        None => {
            set_rgb(cr, (0.45, 0.45, 0.47));
            cr.set_font_size(r * 0.07);
            let text = "hands unknown";
            let ext = cr.text_extents(text)?;
            cr.move_to(cx - ext.width() / 2.0 - ext.x_bearing(), cy + r * 0.4);
            cr.show_text(text)?;
        }
    }
    Ok(())
}

/// The sensor mark at 12, under the hands.
fn sensor_mark(cr: &cairo::Context, cx: f64, cy: f64, r: f64, mark: SensorMark) -> Result<(), cairo::Error> {
    let (at, size) = MARK_RADIUS;
    let (x, y) = point(cx, cy, r * at, 0.0);
    cr.new_sub_path();
    cr.arc(x, y, r * size, 0.0, TAU);
    match mark {
        SensorMark::Absent => {
            cr.new_path();
            Ok(())
        }
        SensorMark::Confirmed | SensorMark::Faulty => {
            set_rgb(cr, if mark == SensorMark::Confirmed { CONFIRMED_RGB } else { SENSOR_FAULT_RGB });
            cr.fill()
        }
        SensorMark::Unconfirmed => {
            set_rgb(cr, UNCONFIRMED_RGB);
            cr.set_line_width(r * 0.01);
            cr.stroke()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> piclock_dbus::Properties {
        piclock_dbus::Properties { version: "0".into(), time_usec: 1_000_000_000_000, ..Default::default() }
    }

    #[test]
    fn the_mark_says_what_the_sensors_said_lately() {
        let mut p = reading();
        assert_eq!(SensorMark::of(&p), SensorMark::Absent);
        p.sensors_configured = vec!["seconds".into()];
        assert_eq!(SensorMark::of(&p), SensorMark::Unconfirmed, "never checked");
        p.last_sensor_check_usec = p.time_usec - 119_000_000;
        assert_eq!(SensorMark::of(&p), SensorMark::Confirmed);
        p.last_sensor_check_usec = p.time_usec - 121_000_000;
        assert_eq!(SensorMark::of(&p), SensorMark::Unconfirmed, "too long ago");
        p.faults = vec!["seconds sensor: the seconds sensor stayed silent …".into()];
        assert_eq!(SensorMark::of(&p), SensorMark::Faulty);
    }
}
