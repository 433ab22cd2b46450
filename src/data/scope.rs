//! Builds a template scope (`contact` or `session`) from a record.
//!
//! Native fields come first; custom keys are added beside them unless they collide with a
//! native field, and are always reachable raw under `data`. Nulls are left out so that they
//! read as missing. The result is a minijinja value built once, so renders never convert.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value as Json;

use super::Record;

/// A scope as templates see it: native fields, then custom keys, and `data` for the raw
/// custom data. The custom values are held once (not copied beside the native fields), which
/// matters for a cache of many contacts.
#[derive(Debug)]
struct Scope {
    native: Value,
    custom: Value,
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if key.as_str() == Some("data") {
            return Some(self.custom.clone());
        }
        let found = |map: &Value| map.get_item(key).ok().filter(|v| !v.is_undefined());
        found(&self.native).or_else(|| found(&self.custom))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self
            .native
            .try_iter()
            .map(Iterator::collect)
            .unwrap_or_default();
        for key in self.custom.try_iter().into_iter().flatten() {
            if !keys.contains(&key) && key.as_str() != Some("data") {
                keys.push(key);
            }
        }
        keys.push(Value::from("data"));
        Enumerator::Values(keys)
    }
}

pub fn build(id: &str, record: &Record) -> Value {
    let mut native: BTreeMap<String, Value> = record
        .native
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect();
    native.entry("id".into()).or_insert_with(|| Value::from(id));
    let custom: BTreeMap<String, Value> = record
        .custom
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect();
    Value::from_object(Scope {
        native: Value::from(native),
        custom: Value::from(custom),
    })
}

/// Approximate bytes a record's scope holds in memory, for the cache's byte bound: the
/// text it carries plus a fixed overhead per value (twice over: inline and under `data`).
pub fn weight(record: &Record) -> u32 {
    fn json_weight(json: &Json) -> usize {
        const NODE: usize = 32;
        match json {
            Json::String(s) => NODE + s.len(),
            Json::Array(items) => NODE + items.iter().map(json_weight).sum::<usize>(),
            Json::Object(map) => {
                NODE + map
                    .iter()
                    .map(|(k, v)| k.len() + json_weight(v))
                    .sum::<usize>()
            }
            _ => NODE,
        }
    }
    let native: usize = record
        .native
        .iter()
        .map(|(k, v)| k.len() + json_weight(v))
        .sum();
    let custom: usize = record
        .custom
        .iter()
        .map(|(k, v)| k.len() + json_weight(v))
        .sum();
    u32::try_from(256 + native + 2 * custom).unwrap_or(u32::MAX)
}

/// An empty scope: every placeholder in it reads as missing.
pub fn empty() -> Value {
    Value::from(BTreeMap::<String, Value>::new())
}

/// Converts JSON to a minijinja value, dropping nulls inside objects.
pub fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_keys_beside_native_and_raw_under_data() {
        let record = Record {
            native: json!({"email": "a@b.c", "phone": null})
                .as_object()
                .unwrap()
                .clone(),
            custom: json!({"plan": "pro", "email": "custom@x.y"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let scope = build("c1", &record);
        assert_eq!(scope.get_attr("email").unwrap().as_str(), Some("a@b.c"));
        assert_eq!(scope.get_attr("plan").unwrap().as_str(), Some("pro"));
        assert!(scope.get_attr("phone").unwrap().is_undefined());
        let data = scope.get_attr("data").unwrap();
        assert_eq!(data.get_attr("email").unwrap().as_str(), Some("custom@x.y"));
    }
}
