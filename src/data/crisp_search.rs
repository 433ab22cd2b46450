//! A [`ContactQuery`] as Crisp's people search: the `search_operator` and `search_filter`
//! query parameters of `GET website/{website}/people/profiles/{page}`.
//!
//! `search_filter` is a JSON array of criteria `{"model": "people", "criterion": ...,
//! "operator": ..., "query": [text]}`, combined by `search_operator` (`and` or `or`). Only
//! criteria seen in Crisp's own clients are used (sources in docs/data-sources.md):
//! `data.<key>` with `eq`, `email` with `eq`, and `person.geolocation.country` with `has`
//! (the operator Crisp's dashboard search sends for it; a country equal to the text has it
//! under any reading of "has"). One value per criterion, as those clients send it.
//!
//! A condition on `contact.K` holds for the native field K, or for the custom key K when
//! the contact has no native K (the render scope's rule), so it is searched as "native
//! criterion OR `data.K`"; keys Crisp never fills natively are searched as `data.K` alone.
//! Crisp combines all criteria with one operator, so the search is either the `and` of the
//! conditions that are one criterion each, or (when there is none) the `or` of the
//! criteria of a single condition. Either way every contact the conditions admit is listed.

use serde_json::{Value as Json, json};

use super::crisp_shape::is_native_contact_field;
use super::query::{Condition, ContactQuery, QueryField};

/// The most criteria sent in one search (a longer search is not sent: the query string
/// stays short).
pub const MAX_CRITERIA: usize = 16;

/// What a listing sends: `search_operator` and `search_filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrispSearch {
    pub operator: &'static str,
    /// The JSON text of the criteria array.
    pub filter: String,
}

impl CrispSearch {
    /// Both parameters as one JSON object, for callers who want to see what was sent.
    pub fn describe(&self) -> String {
        let filter: Json = serde_json::from_str(&self.filter).unwrap_or(Json::Null);
        json!({"search_operator": self.operator, "search_filter": filter}).to_string()
    }
}

/// The search that lists a superset of the contacts `query` admits; `None` when Crisp's
/// criteria cannot express any of its conditions (then everyone is listed).
pub fn search(query: &ContactQuery) -> Option<CrispSearch> {
    let alternatives: Vec<Vec<Json>> = query.conditions.iter().filter_map(criteria).collect();
    let single: Vec<Json> = alternatives
        .iter()
        .filter(|criteria| criteria.len() == 1)
        .flatten()
        .take(MAX_CRITERIA)
        .cloned()
        .collect();
    let (operator, criteria) = if !single.is_empty() {
        ("and", single)
    } else {
        let narrowest = alternatives
            .into_iter()
            .filter(|criteria| criteria.len() <= MAX_CRITERIA)
            .min_by_key(Vec::len)?;
        ("or", narrowest)
    };
    Some(CrispSearch {
        operator,
        filter: Json::Array(criteria).to_string(),
    })
}

/// Criteria whose `or` admits every contact meeting `condition`; `None` when a contact
/// could meet it in a way no criterion sees (a native field Crisp cannot search by, a
/// derived one).
fn criteria(condition: &Condition) -> Option<Vec<Json>> {
    let (native, key) = match &condition.field {
        QueryField::Custom(key) => (None, key),
        QueryField::Contact(key) if is_native_contact_field(key) => {
            (Some(native_criterion(key)?), key)
        }
        QueryField::Contact(key) => (None, key),
    };
    let custom = format!("data.{key}");
    let mut criteria = Vec::new();
    for value in &condition.any_of {
        if let Some((criterion, operator)) = native {
            criteria.push(criterion_json(criterion, operator, value));
        }
        criteria.push(criterion_json(&custom, "eq", value));
    }
    Some(criteria)
}

/// Crisp's criterion and operator for a native field, when one is known.
fn native_criterion(field: &str) -> Option<(&'static str, &'static str)> {
    match field {
        "email" => Some(("email", "eq")),
        "country" => Some(("person.geolocation.country", "has")),
        _ => None,
    }
}

fn criterion_json(criterion: &str, operator: &str, value: &str) -> Json {
    json!({"model": "people", "criterion": criterion, "operator": operator, "query": [value]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(conditions: &[(QueryField, &[&str])]) -> ContactQuery {
        ContactQuery {
            conditions: conditions
                .iter()
                .map(|(field, any_of)| Condition {
                    field: field.clone(),
                    any_of: any_of.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    fn contact(key: &str) -> QueryField {
        QueryField::Contact(key.into())
    }

    fn filter(search: &CrispSearch) -> Json {
        serde_json::from_str(&search.filter).unwrap()
    }

    #[test]
    fn custom_keys_are_anded() {
        let search = search(&query(&[
            (contact("plan"), &["pro"]),
            (QueryField::Custom("tier".into()), &["gold"]),
        ]))
        .unwrap();
        assert_eq!(search.operator, "and");
        assert_eq!(
            filter(&search),
            json!([
                {"model": "people", "criterion": "data.plan", "operator": "eq", "query": ["pro"]},
                {"model": "people", "criterion": "data.tier", "operator": "eq", "query": ["gold"]},
            ])
        );
    }

    #[test]
    fn a_native_field_is_searched_with_its_custom_fallback() {
        let search = search(&query(&[(contact("country"), &["FR", "BE"])])).unwrap();
        assert_eq!(search.operator, "or");
        let criteria: Vec<(String, String)> = filter(&search)
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["criterion"].to_string(), c["query"][0].to_string()))
            .collect();
        assert_eq!(criteria.len(), 4, "{criteria:?}");
        for country in ["\"FR\"", "\"BE\""] {
            for criterion in ["\"person.geolocation.country\"", "\"data.country\""] {
                assert!(criteria.contains(&(criterion.into(), country.into())));
            }
        }
    }

    #[test]
    fn and_wins_over_or_and_unsearchable_fields_are_left_out() {
        let anded = search(&query(&[
            (contact("country"), &["FR"]),
            (contact("locale"), &["fr"]),
            (contact("email_domain"), &["acme.com"]),
            (contact("plan"), &["pro", "business"]),
            (contact("trial_status"), &["trialing"]),
        ]))
        .unwrap();
        assert_eq!(anded.operator, "and");
        assert_eq!(
            filter(&anded),
            json!([{"model": "people", "criterion": "data.trial_status", "operator": "eq", "query": ["trialing"]}])
        );
        assert!(search(&query(&[(contact("locale"), &["fr"])])).is_none());
        assert!(search(&query(&[(contact("email_domain"), &["a.co"])])).is_none());
        assert!(search(&ContactQuery::default()).is_none());
    }

    #[test]
    fn searches_are_capped() {
        let values: Vec<String> = (0..MAX_CRITERIA).map(|i| format!("v{i}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        // Two criteria per value: over the cap, so not sent.
        assert!(search(&query(&[(contact("email"), &values)])).is_none());
        assert_eq!(
            search(&query(&[(contact("email"), &values[..MAX_CRITERIA / 2])]))
                .unwrap()
                .operator,
            "or"
        );
    }

    #[test]
    fn the_description_holds_both_parameters() {
        let search = search(&query(&[(contact("plan"), &["pro"])])).unwrap();
        let described: Json = serde_json::from_str(&search.describe()).unwrap();
        assert_eq!(described["search_operator"], "and");
        assert_eq!(described["search_filter"][0]["criterion"], "data.plan");
    }
}
