//! `piclockctl config` (all pulse settings, defaults marked) and
//! `piclockctl config set key=value ...` (one all-or-nothing call).
//! Key names, types, defaults and ranges come from the contract's table.

use crate::failure::{call_failed, Failure};
use crate::{value, Ctx};
use piclock_core::pulse_config::{parse_assignment, ConfigValue, KeyKind, KEYS};
use piclock_dbus::pulse_dict::changes_to_dict;
use serde_json::json;
use std::collections::HashMap;
use zbus::zvariant::{OwnedValue, Value};

fn config_value(v: &OwnedValue) -> Option<ConfigValue> {
    match &**v {
        Value::U32(n) => Some(ConfigValue::U32(*n)),
        Value::Bool(b) => Some(ConfigValue::Bool(*b)),
        _ => None,
    }
}

fn accepted(kind: KeyKind) -> String {
    match kind {
        KeyKind::U32 { min, max } => format!("{min}..={max}"),
        KeyKind::Bool => "true|false".to_owned(),
    }
}

/// The settings table as printed by `piclockctl config`.
pub fn render(dict: &HashMap<String, OwnedValue>) -> String {
    let mut rows =
        vec![["KEY".to_owned(), "VALUE".to_owned(), "DEFAULT".to_owned(), "ACCEPTED".to_owned(), "MEANING".to_owned()]];
    for k in KEYS {
        let current = dict.get(k.name).and_then(config_value);
        let value = current.map(|v| v.to_string()).unwrap_or_else(|| "missing".to_owned());
        let default =
            if current == Some(k.default) { "(default)".to_owned() } else { format!("(default {})", k.default) };
        rows.push([k.name.to_owned(), value, default, accepted(k.kind), k.doc.to_owned()]);
    }
    let mut extra: Vec<(&String, &OwnedValue)> =
        dict.iter().filter(|(name, _)| !KEYS.iter().any(|k| k.name == name.as_str())).collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    for (name, v) in extra {
        rows.push([name.clone(), value::to_text(v), "?".to_owned(), "?".to_owned(), "(newer daemon)".to_owned()]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            format!(
                "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
            .replace("  \n", "\n")
        })
        .collect()
}

/// The settings as JSON: `{"key": {"value": .., "default": .., "accepted": ".."}}`.
pub fn to_json(dict: &HashMap<String, OwnedValue>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for k in KEYS {
        let v = dict.get(k.name).map(|v| value::to_json(v)).unwrap_or(serde_json::Value::Null);
        map.insert(
            k.name.to_owned(),
            json!({"value": v, "default": serde_json::to_value(k.default).unwrap_or_default(), "accepted": accepted(k.kind)}),
        );
    }
    serde_json::Value::Object(map)
}

/// `piclockctl config [--json]`.
pub async fn show(ctx: &Ctx, json: bool) -> Result<(), Failure> {
    let dict = ctx.properties().await?.pulse_config;
    if json {
        println!("{}", to_json(&dict));
    } else {
        print!("{}", render(&dict));
    }
    Ok(())
}

/// Parses `key=value` arguments: every key known, of its type, and given once.
pub fn parse(assignments: &[String]) -> Result<Vec<(&'static str, ConfigValue)>, Failure> {
    let mut out: Vec<(&'static str, ConfigValue)> = Vec::new();
    for text in assignments {
        let (key, v) = parse_assignment(text).map_err(|e| Failure::invalid(e.to_string()))?;
        if out.iter().any(|(k, _)| *k == key) {
            return Err(Failure::invalid(format!("{key}: given more than once")));
        }
        out.push((key, v));
    }
    Ok(out)
}

/// `piclockctl config set key=value ...`.
pub async fn set(ctx: &Ctx, assignments: &[String]) -> Result<(), Failure> {
    let changes = parse(assignments)?;
    let before = ctx.properties().await?.pulse_config;
    {
        let _agent = ctx.agent();
        ctx.proxy
            .set_pulse_config(changes_to_dict(changes.iter().copied()), ctx.interactive)
            .await
            .map_err(|e| call_failed(e, "SetPulseConfig", &ctx.target))?;
    }
    for (key, v) in changes {
        match before.get(key).and_then(config_value) {
            Some(old) if old != v => println!("{key}: {old} -> {v}"),
            _ => println!("{key}: {v} (unchanged)"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use piclock_core::pulse_config::PulseConfig;
    use piclock_dbus::pulse_dict::to_dict;

    #[test]
    fn the_table_marks_defaults() {
        let config =
            PulseConfig::default().with_changes([("norm_tick_ms", ConfigValue::U32(30))]).expect("valid change");
        let text = render(&to_dict(&config));
        let line = text.lines().find(|l| l.starts_with("norm_tick_ms ")).expect("row");
        assert!(line.contains(" 30  (default 31)"), "{line}");
        let line = text.lines().find(|l| l.starts_with("invert_polarity ")).expect("row");
        assert!(line.contains("false  (default)"), "{line}");
        assert_eq!(text.lines().count(), KEYS.len() + 1);
        let j = to_json(&to_dict(&config));
        assert_eq!(j["norm_tick_ms"]["value"], 30);
        assert_eq!(j["norm_tick_ms"]["default"], 31);
    }

    #[test]
    fn assignments_are_checked_before_any_call() {
        assert_eq!(
            parse(&["norm_tick_ms=30".into(), "invert_polarity=yes".into()]).expect("valid"),
            vec![("norm_tick_ms", ConfigValue::U32(30)), ("invert_polarity", ConfigValue::Bool(true))]
        );
        let e = parse(&["norm_tick_ms=30".into(), "norm_tick_ms=31".into()]).expect_err("twice");
        assert!(e.message.contains("more than once"), "{}", e.message);
        let e = parse(&["bogus=1".into()]).expect_err("unknown");
        assert_eq!(e.code, crate::failure::EXIT_INVALID);
    }
}
