//! Builds a template scope (`contact` or `session`) from a record.
//!
//! Native fields come first; custom keys are added beside them unless they collide with a
//! native field, and are always reachable raw under `data`. Nulls are left out so that they
//! read as missing. The result is a minijinja value built once, so renders never convert.
//!
//! The scope is stored compactly because the cache holds one per contact and session: every
//! key and string value lives in one text buffer, each field is a 16-byte slot pointing into
//! it (numbers and booleans inline), and only arrays and objects are kept as minijinja
//! values. Native and custom slots are sorted together by key, so a lookup is one binary
//! search; `data` is a view over the custom slots, not a second map.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::Value as Json;

use super::Record;

/// What a slot holds; the payload is in [`Slot::a`] and [`Slot::b`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `text[a..a + b]`.
    Str,
    /// The two halves (low, high) of the bits of an `i64`, `u64` or `f64`.
    I64,
    U64,
    F64,
    /// `a != 0`.
    Bool,
    /// `others[a]`: an array or an object.
    Other,
}

/// One field, in 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Where this field's key ends in `text`; it starts where the previous slot's ends.
    key_end: u32,
    kind: Kind,
    /// A native field (else a custom key).
    native: bool,
    /// The key's first bytes, in what would otherwise be padding: most probes of a lookup
    /// are decided by them without reading the key text.
    prefix: [u8; 2],
    a: u32,
    b: u32,
}

/// A key's first two bytes, zero-padded, as a number ordered like the keys: keys whose
/// ranks differ compare as their ranks do (a shorter key ranks lower than its extensions
/// or ties with them, never higher).
fn rank(key: &[u8]) -> u16 {
    match key {
        [] => 0,
        [a] => u16::from_be_bytes([*a, 0]),
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
    }
}

/// A scope as templates see it: native fields, then custom keys, and `data` for the raw
/// custom data.
#[derive(Debug)]
struct Scope {
    /// The keys of all slots, in slot order, then the string values.
    text: Box<str>,
    /// Native fields and custom keys sorted by key; when both have a key, the native field
    /// comes first. One search finds either.
    slots: Box<[Slot]>,
    others: Box<[Value]>,
}

/// Text offsets are 32-bit; a record is far smaller than 4 GiB long before it gets here
/// (the sources bound what they accept), so overflowing one is a bug, not an input.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("a record's text fits in 4 GiB")
}

impl Scope {
    /// `fields`: (key, value, native), sorted by key then native first.
    fn new(fields: &[(&str, &Json, bool)]) -> Scope {
        let key_bytes: usize = fields.iter().map(|(k, _, _)| k.len()).sum();
        let value_bytes: usize = fields
            .iter()
            .filter_map(|(_, v, _)| v.as_str())
            .map(str::len)
            .sum();
        let mut text = String::with_capacity(key_bytes + value_bytes);
        for (key, _, _) in fields {
            text.push_str(key);
        }
        let mut others = Vec::new();
        let mut key_end = 0;
        let slots: Box<[Slot]> = fields
            .iter()
            .map(|&(key, json, native)| {
                key_end += key.len();
                let (kind, a, b) = match json {
                    Json::String(s) => {
                        let start = offset(text.len());
                        text.push_str(s);
                        (Kind::Str, start, offset(s.len()))
                    }
                    Json::Bool(b) => (Kind::Bool, u32::from(*b), 0),
                    Json::Number(n) => {
                        let (kind, bits) = if let Some(i) = n.as_i64() {
                            (Kind::I64, i as u64)
                        } else if let Some(u) = n.as_u64() {
                            (Kind::U64, u)
                        } else {
                            (Kind::F64, n.as_f64().unwrap_or(f64::NAN).to_bits())
                        };
                        (kind, bits as u32, (bits >> 32) as u32)
                    }
                    other => {
                        others.push(to_value(other));
                        (Kind::Other, offset(others.len() - 1), 0)
                    }
                };
                Slot {
                    key_end: offset(key_end),
                    kind,
                    native,
                    prefix: rank(key.as_bytes()).to_be_bytes(),
                    a,
                    b,
                }
            })
            .collect();
        offset(text.len());
        Scope {
            text: text.into_boxed_str(),
            slots,
            others: others.into_boxed_slice(),
        }
    }

    fn key(&self, index: usize) -> &str {
        &self.text[self.key_span(index)]
    }

    fn key_span(&self, index: usize) -> std::ops::Range<usize> {
        let start = match index {
            0 => 0,
            i => self.slots[i - 1].key_end as usize,
        };
        start..self.slots[index].key_end as usize
    }

    fn value(&self, index: usize) -> Value {
        let Slot { kind, a, b, .. } = self.slots[index];
        let bits = u64::from(a) | u64::from(b) << 32;
        match kind {
            Kind::Str => Value::from(self.str_at(a, b)),
            Kind::I64 => Value::from(bits as i64),
            Kind::U64 => Value::from(bits),
            Kind::F64 => Value::from(f64::from_bits(bits)),
            Kind::Bool => Value::from(a != 0),
            Kind::Other => self.others[a as usize].clone(),
        }
    }

    fn str_at(&self, start: u32, len: u32) -> &str {
        &self.text[start as usize..start as usize + len as usize]
    }

    /// The first slot with `key`: the native field if there is one. Compares bytes (the
    /// same order as `str`'s), the stored prefix first.
    fn find(&self, key: &str) -> Option<usize> {
        let (text, key) = (self.text.as_bytes(), key.as_bytes());
        let wanted = rank(key);
        let (mut low, mut high) = (0, self.slots.len());
        while low < high {
            let mid = low + (high - low) / 2;
            let order = u16::from_be_bytes(self.slots[mid].prefix)
                .cmp(&wanted)
                .then_with(|| text[self.key_span(mid)].cmp(key));
            if order.is_lt() {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        (low < self.slots.len() && &text[self.key_span(low)] == key).then_some(low)
    }

    /// The custom slot with `key`.
    fn find_custom(&self, key: &str) -> Option<usize> {
        let first = self.find(key)?;
        if !self.slots[first].native {
            return Some(first);
        }
        let next = first + 1;
        (next < self.slots.len() && !self.slots[next].native && self.key(next) == key)
            .then_some(next)
    }

    /// Whether slot `index` is a custom key that a native field of the same name hides.
    fn shadowed(&self, index: usize) -> bool {
        index > 0 && self.slots[index - 1].native && self.key(index - 1) == self.key(index)
    }

    fn natives(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| self.slots[i].native)
    }

    fn customs(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| !self.slots[i].native)
    }

    /// Custom keys that show beside the native fields: not shadowed by one, and not `data`.
    fn beside(&self) -> impl Iterator<Item = usize> + '_ {
        self.customs()
            .filter(|&i| !self.shadowed(i) && self.key(i) != "data")
    }

    /// The string held by the native field `key`, if it is one.
    fn native_str(&self, key: &str) -> Option<&str> {
        let slot = self.slots[self.find(key)?];
        (slot.native && slot.kind == Kind::Str).then(|| self.str_at(slot.a, slot.b))
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        if key == "data" {
            return Some(Value::from_object(Data(self.clone())));
        }
        Some(self.value(self.find(key)?))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self.natives().map(|i| self.key(i).into()).collect();
        keys.extend(self.beside().map(|i| Value::from(self.key(i))));
        keys.push(Value::from("data"));
        Enumerator::Values(keys)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.natives().count() + self.beside().count() + 1)
    }
}

/// The raw custom data of a scope (`contact.data`): a view over the scope's custom slots.
#[derive(Debug)]
struct Data(Arc<Scope>);

impl Object for Data {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let scope = &self.0;
        Some(scope.value(scope.find_custom(key)?))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let scope = &self.0;
        Enumerator::Values(scope.customs().map(|i| Value::from(scope.key(i))).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.customs().count())
    }
}

/// A record's non-null fields, marked native or custom.
fn present(
    map: &serde_json::Map<String, Json>,
    native: bool,
) -> impl Iterator<Item = (&str, &Json, bool)> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(move |(k, v)| (k.as_str(), v, native))
}

pub fn build(id: &str, record: &Record) -> Value {
    let id = Json::from(id);
    let mut fields: Vec<(&str, &Json, bool)> = present(&record.native, true)
        .chain(present(&record.custom, false))
        .collect();
    if record.native.get("id").is_none_or(Json::is_null) {
        fields.push(("id", &id, true));
    }
    // By key, then native before custom.
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0).then(b.2.cmp(&a.2)));
    Value::from_object(Scope::new(&fields))
}

/// Whether a scope answers to `alias` (an already lowercased id or email) besides the id it
/// is cached under: its native `id` or `email`, lowercased.
pub fn answers_to(scope: &Value, alias: &str) -> bool {
    scope.downcast_object_ref::<Scope>().is_some_and(|scope| {
        ["id", "email"]
            .iter()
            .filter_map(|field| scope.native_str(field))
            .any(|value| value.to_lowercase() == alias)
    })
}

/// The ids a contact's scope answers to besides the one it was fetched by: its native `id`
/// (Crisp's people id) and `email`, each a valid contact id. One fetch is stored under all
/// of them, so that the contact reached by either is fetched once.
pub fn aliases(scope: &Value) -> Vec<String> {
    let Some(scope) = scope.downcast_object_ref::<Scope>() else {
        return Vec::new();
    };
    ["id", "email"]
        .iter()
        .filter_map(|field| scope.native_str(field))
        .map(str::trim)
        .filter(|id| !id.is_empty() && crate::ids::record_id(super::ScopeKind::Contact, id).is_ok())
        .map(str::to_owned)
        .collect()
}

/// The native `email` of a scope, when it is one that can name a contact.
pub fn email(scope: &Value) -> Option<String> {
    let scope = scope.downcast_object_ref::<Scope>()?;
    let email = scope.native_str("email")?.trim();
    (email.contains('@') && crate::ids::record_id(super::ScopeKind::Contact, email).is_ok())
        .then(|| email.to_owned())
}

/// Approximate bytes a record's scope holds in memory, for the cache's byte bound: the
/// text it carries, a slot per field, and a node overhead per value inside arrays and
/// objects (which stay minijinja values).
pub fn weight(record: &Record) -> u32 {
    fn json_weight(json: &Json) -> usize {
        const NODE: usize = 48;
        match json {
            Json::String(s) => NODE + s.len(),
            Json::Array(items) => NODE + items.iter().map(json_weight).sum::<usize>(),
            Json::Object(map) => {
                NODE + map
                    .iter()
                    .map(|(k, v)| NODE + k.len() + json_weight(v))
                    .sum::<usize>()
            }
            _ => NODE,
        }
    }
    fn field_weight((key, value): (&String, &Json)) -> usize {
        const SLOT: usize = std::mem::size_of::<Slot>();
        key.len()
            + match value {
                Json::Null => 0,
                Json::String(s) => SLOT + s.len(),
                Json::Array(_) | Json::Object(_) => SLOT + json_weight(value),
                _ => SLOT,
            }
    }
    let fields: usize = record
        .native
        .iter()
        .chain(&record.custom)
        .map(field_weight)
        .sum();
    u32::try_from(128 + fields).unwrap_or(u32::MAX)
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

    fn record(native: Json, custom: Json) -> Record {
        Record {
            native: native.as_object().unwrap().clone(),
            custom: custom.as_object().unwrap().clone(),
        }
    }

    fn keys(value: &Value) -> Vec<String> {
        value
            .try_iter()
            .unwrap()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn custom_keys_beside_native_and_raw_under_data() {
        let record = record(
            json!({"email": "a@b.c", "phone": null}),
            json!({"plan": "pro", "email": "custom@x.y"}),
        );
        let scope = build("c1", &record);
        assert_eq!(scope.get_attr("email").unwrap().as_str(), Some("a@b.c"));
        assert_eq!(scope.get_attr("plan").unwrap().as_str(), Some("pro"));
        assert!(scope.get_attr("phone").unwrap().is_undefined());
        let data = scope.get_attr("data").unwrap();
        assert_eq!(data.get_attr("email").unwrap().as_str(), Some("custom@x.y"));
    }

    #[test]
    fn values_keep_their_types() {
        let long = "a string longer than a small inline string";
        let record = record(
            json!({"name": "Jane", "about": long, "score": -3, "big": u64::MAX, "ratio": 1.5,
                   "vip": true, "off": false, "tags": ["a", null, 2], "company": {"name": "Acme", "x": null}}),
            json!({"count": 7}),
        );
        let scope = build("c1", &record);
        let get = |key: &str| scope.get_attr(key).unwrap();
        assert_eq!(get("name"), Value::from("Jane"));
        assert_eq!(get("about"), Value::from(long));
        assert_eq!(get("score"), Value::from(-3i64));
        assert_eq!(get("big"), Value::from(u64::MAX));
        assert_eq!(get("ratio"), Value::from(1.5));
        assert_eq!(get("vip"), Value::from(true));
        assert_eq!(get("off"), Value::from(false));
        assert_eq!(get("count"), Value::from(7));
        assert_eq!(get("tags").to_string(), "['a', None, 2]");
        assert_eq!(get("company").to_string(), "{'name': 'Acme'}");
        assert_eq!(get("id").as_str(), Some("c1"));
        assert!(get("nope").is_undefined());
        assert!(scope.get_item(&Value::from(0)).unwrap().is_undefined());
    }

    #[test]
    fn native_fields_win_and_enumerate_first() {
        let record = record(
            json!({"zeta": 1, "email": "n@x", "id": "p1", "gone": null}),
            json!({"email": "c@x", "alpha": 2, "data": 3, "gone": null, "omega": null}),
        );
        let scope = build("c1", &record);
        // Native keys sorted, then custom keys not shadowed (nor `data`) sorted, then `data`.
        assert_eq!(keys(&scope), ["email", "id", "zeta", "alpha", "data"]);
        assert_eq!(scope.len(), Some(5));
        assert_eq!(scope.get_attr("email").unwrap().as_str(), Some("n@x"));
        assert_eq!(scope.get_attr("id").unwrap().as_str(), Some("p1"));
        assert_eq!(
            scope.to_string(),
            "{'email': 'n@x', 'id': 'p1', 'zeta': 1, 'alpha': 2, 'data': {'alpha': 2, 'data': 3, 'email': 'c@x'}}"
        );

        let data = scope.get_attr("data").unwrap();
        assert_eq!(keys(&data), ["alpha", "data", "email"]);
        assert_eq!(data.len(), Some(3));
        assert_eq!(data.get_attr("email").unwrap().as_str(), Some("c@x"));
        assert_eq!(data.get_attr("data").unwrap(), Value::from(3));
        assert!(data.get_attr("zeta").unwrap().is_undefined());
        assert!(data.get_attr("gone").unwrap().is_undefined());
    }

    #[test]
    fn empty_custom_data_is_an_empty_falsy_map() {
        let scope = build("s1", &record(json!({}), json!({})));
        assert_eq!(keys(&scope), ["id", "data"]);
        let data = scope.get_attr("data").unwrap();
        assert_eq!(data.len(), Some(0));
        assert!(!data.is_true());
    }

    #[test]
    fn answers_to_its_native_id_and_email() {
        let scope = build(
            "x",
            &record(
                json!({"id": "P1", "email": "Jane@X.com"}),
                json!({"email": "c@x"}),
            ),
        );
        assert!(answers_to(&scope, "p1"));
        assert!(answers_to(&scope, "jane@x.com"));
        assert!(!answers_to(&scope, "c@x"));
        assert!(!answers_to(&empty(), "p1"));
    }

    #[test]
    fn lookups_tell_keys_with_a_common_prefix_apart() {
        let mut custom = serde_json::Map::new();
        for key in [
            "", "a", "ab", "abc", "abc\0", "abcd", "abd", "b", "key_00", "key_01", "key_1", "é",
            "éa",
        ] {
            custom.insert(key.to_string(), Json::from(format!("<{key}>")));
        }
        let scope = build(
            "c1",
            &Record {
                native: Default::default(),
                custom,
            },
        );
        let data = scope.get_attr("data").unwrap();
        for key in keys(&data) {
            assert_eq!(
                scope.get_attr(&key).unwrap().as_str(),
                Some(format!("<{key}>").as_str())
            );
            assert_eq!(
                data.get_attr(&key).unwrap().as_str(),
                Some(format!("<{key}>").as_str())
            );
        }
        for absent in ["abce", "ab\0", "key_0", "key_10", "\0", "ée"] {
            assert!(scope.get_attr(absent).unwrap().is_undefined(), "{absent:?}");
        }
        assert_eq!(keys(&data).len(), 13);
    }

    #[test]
    fn a_slot_takes_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }
}
