//! Crisp's JSON shapes (people profile, people data, conversation meta) mapped to the
//! field names templates use. Shared by the Crisp REST source and the file source, whose
//! demo file is written in Crisp's shapes.

use serde_json::{Map, Value as Json};

use super::Record;

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
    for key in [
        "avatar",
        "gender",
        "phone",
        "address",
        "description",
        "website",
        "timezone",
        "employment",
        "profiles",
    ] {
        copy(&mut native, key, person.get(key));
    }
    if let Some(locales) = person.get("locales") {
        copy(&mut native, "locales", Some(locales));
        copy(&mut native, "locale", locales.get(0));
    }
    geolocation(&mut native, person.get("geolocation"));
    for key in [
        "company",
        "segments",
        "notepad",
        "active",
        "score",
        "created_at",
        "updated_at",
    ] {
        copy(&mut native, key, profile.get(key));
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
    fn names_split_on_first_space() {
        assert_eq!(split_name("Jane van Doe"), ("Jane", "van Doe"));
        assert_eq!(split_name(" Cher "), ("Cher", ""));
        assert_eq!(split_name(""), ("", ""));
    }
}
