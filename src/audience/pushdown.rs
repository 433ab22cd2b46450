//! Derives from an audience filter the conditions its source may list by
//! ([`ContactQuery`]): what every contact the filter matches must satisfy, so that a
//! source able to search (Crisp) lists fewer contacts.
//!
//! Only what is certain is derived. The filter is read as its top-level `and` conjuncts; a
//! conjunct becomes a condition only in the shapes `contact.K == "text"` (either side),
//! `contact.K in ["text", ...]`, and the same over `contact.data.K`: each one is true only
//! when that value is a text equal to one of the constants, whatever the contact. Anything
//! else (`or`, `not`, comparisons, numbers, booleans, substrings, filters, tests, the
//! workspace's values) gives no condition, which leaves the listing whole for that part.
//! Dropping a conjunct only widens the listing, so a condition list is always implied by
//! the filter; the filter still runs on every listed contact.

use minijinja::Value;
use minijinja::machinery::ast::{BinOpKind, Expr};

use crate::data::query::{Condition, ContactQuery, QueryField};

/// The most conditions derived from one filter (later conjuncts are left to the filter).
pub const MAX_CONDITIONS: usize = 8;
/// The most values of one `in` list that are pushed down; a longer list gives no condition.
pub const MAX_VALUES: usize = 16;
/// The longest text constant pushed down, in bytes; a longer one gives no condition.
pub const MAX_VALUE_BYTES: usize = 256;
/// The longest key pushed down, in bytes (keys are also limited to `[A-Za-z0-9_-]`, so
/// that a source can put them into its own field names without escaping).
pub const MAX_KEY_BYTES: usize = 64;

/// The conditions implied by `source` (a checked filter); empty when none is certain.
pub fn derive(source: &str) -> ContactQuery {
    let Ok(expr) = minijinja::machinery::parse_expr(source) else {
        return ContactQuery::default();
    };
    let mut conjuncts = Vec::new();
    collect_conjuncts(&expr, &mut conjuncts);
    let mut conditions: Vec<Condition> = Vec::new();
    for conjunct in conjuncts {
        if conditions.len() == MAX_CONDITIONS {
            break;
        }
        if let Some(condition) = condition(conjunct)
            && !conditions.contains(&condition)
        {
            conditions.push(condition);
        }
    }
    ContactQuery { conditions }
}

/// `a and b and c` as `[a, b, c]`; any other expression as itself.
fn collect_conjuncts<'a>(expr: &'a Expr<'a>, out: &mut Vec<&'a Expr<'a>>) {
    match expr {
        Expr::BinOp(op) if matches!(op.op, BinOpKind::ScAnd) => {
            collect_conjuncts(&op.left, out);
            collect_conjuncts(&op.right, out);
        }
        other => out.push(other),
    }
}

/// The condition one conjunct is certain to imply, if it has a supported shape.
fn condition(expr: &Expr<'_>) -> Option<Condition> {
    let Expr::BinOp(op) = expr else {
        return None;
    };
    let (field, any_of) = match op.op {
        BinOpKind::Eq => match (field(&op.left), field(&op.right)) {
            (Some(field), None) => (field, vec![text(&op.right)?]),
            (None, Some(field)) => (field, vec![text(&op.left)?]),
            _ => return None,
        },
        // `in` a list is membership; `in` a text would be a substring test (not pushed).
        BinOpKind::In => (field(&op.left)?, texts(&op.right)?),
        _ => return None,
    };
    Some(Condition { field, any_of })
}

/// `contact.K` or `contact.data.K` (attribute or constant subscript).
fn field(expr: &Expr<'_>) -> Option<QueryField> {
    let path = path(expr)?;
    match path.as_slice() {
        ["contact", key] => Some(QueryField::Contact(plain_key(key)?)),
        ["contact", "data", key] => Some(QueryField::Custom(plain_key(key)?)),
        _ => None,
    }
}

fn path<'a>(expr: &'a Expr<'a>) -> Option<Vec<&'a str>> {
    match expr {
        Expr::Var(var) => Some(vec![var.id]),
        Expr::GetAttr(get) => {
            let mut segments = path(&get.expr)?;
            segments.push(get.name);
            Some(segments)
        }
        Expr::GetItem(get) => {
            let mut segments = path(&get.expr)?;
            let Expr::Const(key) = &get.subscript_expr else {
                return None;
            };
            segments.push(key.value.as_str()?);
            Some(segments)
        }
        _ => None,
    }
}

fn plain_key(key: &str) -> Option<String> {
    let plain = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plain.then(|| key.to_string())
}

/// A text constant of at most [`MAX_VALUE_BYTES`].
fn text(expr: &Expr<'_>) -> Option<String> {
    let Expr::Const(constant) = expr else {
        return None;
    };
    bounded_text(&constant.value)
}

fn bounded_text(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|text| text.len() <= MAX_VALUE_BYTES)
        .map(str::to_string)
}

/// A constant list (or tuple) of 1 to [`MAX_VALUES`] texts, without repeats.
fn texts(expr: &Expr<'_>) -> Option<Vec<String>> {
    if !matches!(expr, Expr::List(_) | Expr::Tuple(_)) {
        return None;
    }
    let list = expr.as_const()?;
    if list.len()? > MAX_VALUES {
        return None;
    }
    let mut texts: Vec<String> = Vec::new();
    for item in list.try_iter().ok()? {
        let text = bounded_text(&item)?;
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    (!texts.is_empty()).then_some(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(key: &str, any_of: &[&str]) -> Condition {
        Condition {
            field: QueryField::Contact(key.into()),
            any_of: any_of.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn custom(key: &str, any_of: &[&str]) -> Condition {
        Condition {
            field: QueryField::Custom(key.into()),
            any_of: any_of.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_supported_conjunct_is_pushed() {
        let query = derive(
            r#"contact.country in ["FR", "BE"] and "pro" == contact.plan and contact.data["tier"] == "gold" and contact.email == "a@b.co""#,
        );
        assert_eq!(
            query.conditions,
            vec![
                contact("country", &["FR", "BE"]),
                contact("plan", &["pro"]),
                custom("tier", &["gold"]),
                contact("email", &["a@b.co"]),
            ]
        );
    }

    #[test]
    fn unsupported_conjuncts_are_left_to_the_filter() {
        let query = derive(
            r#"contact.plan == "pro" and (contact.country == "FR" or contact.country == "BE") and not contact.trial_status == "x" and contact.score > 3 and contact.seats == 3 and contact.active == true and "vip" in contact.segments and contact.email_domain in "acme.com" and contact.name | lower == "x" and contact.country == workspace.country and contact.company.name == "Acme""#,
        );
        assert_eq!(query.conditions, vec![contact("plan", &["pro"])]);
    }

    #[test]
    fn filters_with_no_certain_condition_push_nothing() {
        for filter in [
            r#"contact.plan == "pro" or contact.country == "FR""#,
            r#"not (contact.plan == "pro")"#,
            r#"contact.plan != "pro""#,
            r#"contact.plan not in ["pro"]"#,
            r#"contact.plan in []"#,
            r#"contact.plan in ["pro", 3]"#,
            r#"contact.plan == "pro" if contact.country == "FR" else true"#,
            r#"contact.email is defined"#,
            r#"contact["pl an"] == "pro""#,
            r#"contact.plan ==="#,
        ] {
            assert!(derive(filter).is_empty(), "{filter}: {:?}", derive(filter));
        }
    }

    #[test]
    fn huge_lists_values_and_conjunct_counts_are_capped() {
        let list: Vec<String> = (0..=MAX_VALUES).map(|i| format!("\"v{i}\"")).collect();
        let over = format!("contact.plan in [{}]", list.join(", "));
        assert!(
            derive(&over).is_empty(),
            "an `in` list over the cap is not pushed"
        );
        let at_cap = format!("contact.plan in [{}]", list[..MAX_VALUES].join(", "));
        assert_eq!(derive(&at_cap).conditions[0].any_of.len(), MAX_VALUES);

        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(derive(&format!("contact.plan == \"{long}\"")).is_empty());
        let key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(derive(&format!("contact.{key} == \"v\"")).is_empty());

        let many: Vec<String> = (0..3 * MAX_CONDITIONS)
            .map(|i| format!("contact.k{i} == \"v\""))
            .collect();
        let query = derive(&many.join(" and "));
        assert_eq!(query.conditions.len(), MAX_CONDITIONS);
        assert_eq!(query.conditions[0], contact("k0", &["v"]));
    }

    #[test]
    fn repeats_are_pushed_once() {
        let query = derive(
            r#"contact.plan in ["pro", "pro"] and contact.plan in ["pro"] and contact.plan == "pro""#,
        );
        assert_eq!(query.conditions, vec![contact("plan", &["pro"])]);
    }
}
