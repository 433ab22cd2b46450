//! Crisp's JSON shapes (people profile, people data, conversation meta) mapped to the
//! field names templates use. Shared by the Crisp REST source and the file source, whose
//! demo file is written in Crisp's shapes.

use serde_json::{Map, Value as Json};

use super::Record;

/// The `person` fields copied as they are.
const PERSON_FIELDS: &[&str] = &[
    "avatar",
    "gender",
    "phone",
    "address",
    "description",
    "website",
    "timezone",
    "employment",
    "profiles",
];

/// The profile's own fields copied as they are.
const PROFILE_FIELDS: &[&str] = &[
    "company",
    "segments",
    "notepad",
    "active",
    "score",
    "created_at",
    "updated_at",
];

/// The `contact.*` names [`contact`] fills besides those two lists, the scope's `data` and
/// the filters' derived `email_domain`.
const OTHER_NATIVE_NAMES: &[&str] = &[
    "id",
    "email",
    "nickname",
    "first_name",
    "last_name",
    "locales",
    "locale",
    "country",
    "region",
    "city",
    "data",
    "email_domain",
];

/// Whether a Crisp contact may answer `contact.<key>` natively, whatever its custom data
/// holds. A custom key of another name is reachable only as itself, which is what lets a
/// search on `data.<key>` stand for `contact.<key>` (see [`super::crisp_search`]).
pub fn is_native_contact_field(key: &str) -> bool {
    [PERSON_FIELDS, PROFILE_FIELDS, OTHER_NATIVE_NAMES]
        .iter()
        .any(|names| names.contains(&key))
}

/// A people profile plus the contact's custom data.
pub fn contact(profile: &Json, people_data: &Json) -> Record {
    let mut native = Map::new();
    let person = profile.get("person").unwrap_or(&Json::Null);
    copy(&mut native, "id", profile.get("people_id"));
    copy(&mut native, "email", profile.get("email"));
    copy(&mut native, "nickname", person.get("nickname"));
    if let Some(nickname) = person.get("nickname").and_then(Json::as_str) {
        let (first, last) = split_name(nickname);
        insert_non_empty(&mut native, "first_name", first);
        insert_non_empty(&mut native, "last_name", last);
    }
    for key in PERSON_FIELDS {
        copy(&mut native, key, person.get(*key));
    }
    if let Some(locales) = person.get("locales") {
        copy(&mut native, "locales", Some(locales));
        copy(&mut native, "locale", locales.get(0));
    }
    geolocation(&mut native, person.get("geolocation"));
    for key in PROFILE_FIELDS {
        copy(&mut native, key, profile.get(*key));
    }
    Record {
        native,
        custom: object(people_data),
    }
}

/// A conversation's meta; its `data` is the session's custom data.
pub fn session(meta: &Json) -> Record {
    let mut native = Map::new();
    for key in [
        "nickname", "email", "phone", "address", "subject", "ip", "avatar", "origin", "segments",
        "device",
    ] {
        copy(&mut native, key, meta.get(key));
    }
    if let Some(device) = meta.get("device") {
        geolocation(&mut native, device.get("geolocation"));
        copy(&mut native, "timezone", device.get("timezone"));
        if let Some(locales) = device.get("locales") {
            copy(&mut native, "locales", Some(locales));
            copy(&mut native, "locale", locales.get(0));
        }
    }
    Record {
        native,
        custom: object(meta.get("data").unwrap_or(&Json::Null)),
    }
}

/// Splits a display name into first and last name: "Jane van Doe" -> ("Jane", "van Doe").
pub fn split_name(full: &str) -> (&str, &str) {
    let full = full.trim();
    match full.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (full, ""),
    }
}

fn geolocation(native: &mut Map<String, Json>, geo: Option<&Json>) {
    if let Some(geo) = geo {
        for key in ["country", "region", "city"] {
            copy(native, key, geo.get(key));
        }
    }
}

fn copy(native: &mut Map<String, Json>, key: &str, value: Option<&Json>) {
    if let Some(value) = value
        && !value.is_null()
    {
        native.insert(key.to_string(), value.clone());
    }
}

fn insert_non_empty(native: &mut Map<String, Json>, key: &str, value: &str) {
    if !value.is_empty() {
        native.insert(key.to_string(), Json::from(value));
    }
}

fn object(value: &Json) -> Map<String, Json> {
    value.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_field_is_listed_as_native() {
        let full = serde_json::json!({
            "people_id": "p", "email": "a@b.co", "company": {}, "segments": [], "notepad": "n",
            "active": {}, "score": 1, "created_at": 1, "updated_at": 2,
            "person": {
                "nickname": "Ada Lovelace", "avatar": "a", "gender": "g", "phone": "p",
                "address": "a", "description": "d", "website": "w", "timezone": 0,
                "employment": {}, "profiles": [], "locales": ["en"],
                "geolocation": {"country": "GB", "region": "r", "city": "c"}
            }
        });
        let record = contact(&full, &Json::Null);
        for key in record.native.keys() {
            assert!(is_native_contact_field(key), "{key}");
        }
        // Besides the fields a profile fills: `data` and `email_domain`.
        let names = PERSON_FIELDS.len() + PROFILE_FIELDS.len() + OTHER_NATIVE_NAMES.len();
        assert_eq!(record.native.len() + 2, names);
        assert!(!is_native_contact_field("plan"));
    }

    #[test]
    fn names_split_on_first_space() {
        assert_eq!(split_name("Jane van Doe"), ("Jane", "van Doe"));
        assert_eq!(split_name(" Cher "), ("Cher", ""));
        assert_eq!(split_name(""), ("", ""));
    }
}
