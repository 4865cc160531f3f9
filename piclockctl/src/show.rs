//! `piclockctl show`: the daemon's properties as `Name=value` lines (or
//! values only, or JSON), for scripts. Property names are the D-Bus names
//! of the contract, read from the daemon itself.

use crate::failure::{call_failed, Failure};
use crate::{value, Ctx};
use piclock_dbus::names::INTERFACE;
use std::collections::BTreeMap;
use zbus::names::InterfaceName;
use zbus::zvariant::OwnedValue;

/// Every property of the interface, by name.
pub async fn all_properties(ctx: &Ctx) -> Result<BTreeMap<String, OwnedValue>, Failure> {
    let props = zbus::fdo::PropertiesProxy::builder(ctx.proxy.inner().connection())
        .destination(ctx.proxy.inner().destination().to_owned())
        .and_then(|b| b.path(ctx.proxy.inner().path().to_owned()))
        .map_err(|e| Failure::new(crate::failure::EXIT_FAILURE, e.to_string()))?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| call_failed(e, "Properties", &ctx.target))?;
    let all = props
        .get_all(InterfaceName::from_static_str_unchecked(INTERFACE))
        .await
        .map_err(|e| call_failed(e.into(), "Properties.GetAll", &ctx.target))?;
    Ok(all.into_iter().collect())
}

/// The selected properties (all when `wanted` is empty), or an error naming
/// an unknown one.
pub fn select<'a>(
    all: &'a BTreeMap<String, OwnedValue>,
    wanted: &[String],
) -> Result<Vec<(&'a str, &'a OwnedValue)>, Failure> {
    if wanted.is_empty() {
        return Ok(all.iter().map(|(k, v)| (k.as_str(), v)).collect());
    }
    wanted
        .iter()
        .map(|name| {
            all.get_key_value(name).map(|(k, v)| (k.as_str(), v)).ok_or_else(|| {
                Failure::invalid(format!(
                    "property: unknown name {name:?}; accepted: {}",
                    all.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect()
}

/// Formats the selection as `show` prints it.
pub fn render(selected: &[(&str, &OwnedValue)], values_only: bool, json: bool) -> String {
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            selected.iter().map(|(k, v)| ((*k).to_owned(), value::to_json(v))).collect();
        return format!("{}\n", serde_json::Value::Object(map));
    }
    selected
        .iter()
        .map(
            |(k, v)| {
                if values_only {
                    format!("{}\n", value::to_text(v))
                } else {
                    format!("{k}={}\n", value::to_text(v))
                }
            },
        )
        .collect()
}

/// Runs `show`.
pub async fn run(ctx: &Ctx, args: &crate::cli::ShowArgs) -> Result<(), Failure> {
    let all = all_properties(ctx).await?;
    let selected = select(&all, &args.properties)?;
    print!("{}", render(&selected, args.value, args.json));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_names_unknown_properties() {
        let mut all = BTreeMap::new();
        all.insert("HandPosition".to_owned(), OwnedValue::from(36000u32));
        all.insert("State".to_owned(), OwnedValue::try_from(zbus::zvariant::Value::from("ticking")).expect("str"));
        let sel = select(&all, &["State".to_owned()]).expect("known");
        assert_eq!(render(&sel, false, false), "State=ticking\n");
        assert_eq!(render(&sel, true, false), "ticking\n");
        let every = select(&all, &[]).expect("all");
        assert_eq!(render(&every, false, true), "{\"HandPosition\":36000,\"State\":\"ticking\"}\n");
        let err = select(&all, &["Nope".to_owned()]).expect_err("unknown");
        assert_eq!(err.code, crate::failure::EXIT_INVALID);
        assert!(err.message.contains("\"Nope\"") && err.message.contains("HandPosition"), "{}", err.message);
    }
}
