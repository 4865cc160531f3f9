//! D-Bus values as text (`show`, `monitor`) and as JSON (`--json`), in the
//! style of `timedatectl show`: booleans as yes/no, arrays space-separated,
//! dictionaries as key=value pairs.

use serde_json::Value as Json;
use zbus::zvariant::Value;

/// One value as a line of text.
pub fn to_text(value: &Value<'_>) -> String {
    match value {
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::U8(n) => n.to_string(),
        Value::I16(n) => n.to_string(),
        Value::U16(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F64(n) => n.to_string(),
        Value::Str(s) => s.to_string(),
        Value::ObjectPath(p) => p.to_string(),
        Value::Signature(s) => s.to_string(),
        Value::Value(v) => to_text(v),
        Value::Array(a) => a.iter().map(to_text).collect::<Vec<_>>().join(" "),
        Value::Dict(d) => {
            let mut pairs: Vec<(String, String)> = d.iter().map(|(k, v)| (to_text(k), to_text(v))).collect();
            pairs.sort();
            pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        }
        Value::Structure(s) => s.fields().iter().map(to_text).collect::<Vec<_>>().join(" "),
        Value::Fd(_) => "fd".to_owned(),
    }
}

/// One value as JSON: numbers, booleans, strings, arrays and objects.
pub fn to_json(value: &Value<'_>) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::U8(n) => Json::from(*n),
        Value::I16(n) => Json::from(*n),
        Value::U16(n) => Json::from(*n),
        Value::I32(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::F64(n) => Json::from(*n),
        Value::Str(s) => Json::from(s.as_str()),
        Value::ObjectPath(p) => Json::from(p.as_str()),
        Value::Signature(s) => Json::from(s.to_string()),
        Value::Value(v) => to_json(v),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Dict(d) => {
            Json::Object(d.iter().map(|(k, v)| (to_text(k), to_json(v))).collect::<serde_json::Map<String, Json>>())
        }
        Value::Structure(s) => Json::Array(s.fields().iter().map(to_json).collect()),
        Value::Fd(_) => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn values_print_like_timedatectl_show() {
        assert_eq!(to_text(&Value::from(true)), "yes");
        assert_eq!(to_text(&Value::from(-3i64)), "-3");
        assert_eq!(to_text(&Value::from(vec!["a", "b"])), "a b");
        let mut d: HashMap<&str, Value<'_>> = HashMap::new();
        d.insert("b_key", Value::from(2u32));
        d.insert("a_key", Value::from(false));
        let v = Value::from(d);
        assert_eq!(to_text(&v), "a_key=no b_key=2");
        assert_eq!(to_json(&v), serde_json::json!({"a_key": false, "b_key": 2}));
        assert_eq!(to_json(&Value::from(vec!["x"])), serde_json::json!(["x"]));
    }
}
