//! Builds a template scope (`contact` or `session`) from a record.
//!
//! Native fields come first; custom keys are added beside them unless they collide with a
//! native field, and are always reachable raw under `data`. Nulls are left out so that they
//! read as missing. The result is a minijinja value built once, so renders never convert.

use std::collections::BTreeMap;

use minijinja::Value;
use serde_json::Value as Json;

use super::Record;

pub fn build(id: &str, record: &Record) -> Value {
    let mut scope: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in &record.native {
        if !value.is_null() {
            scope.insert(key.clone(), to_value(value));
        }
    }
    scope.entry("id".into()).or_insert_with(|| Value::from(id));
    for (key, value) in &record.custom {
        if !value.is_null() && !scope.contains_key(key) && key != "data" {
            scope.insert(key.clone(), to_value(value));
        }
    }
    let raw: BTreeMap<String, Value> = record
        .custom
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect();
    scope.insert("data".into(), Value::from(raw));
    Value::from(scope)
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
