//! The formatting filters authors call: `date`, `number`, `currency`, `first_name`,
//! `last_name`, `truncate`, and the `present` / `missing` tests.
//!
//! A filter given a value it cannot format (a date that is not a date) returns undefined
//! and records the failure in the render's trace: the placeholder prints empty and is
//! listed in `missing`, and a strict render fails, instead of the whole render failing.

use minijinja::State;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

use super::dates::{self, Moment};
use super::locale::{self, Locale};
use super::names;
use super::settings::RenderSettings;
use super::trace::{self, is_missing};

/// Most decimals `number(…)` prints.
pub const MAX_DECIMALS: i64 = 10;

/// A number from a number or numeric text (`"1234.5"`, `" 42 "`).
fn as_f64(value: &Value) -> Option<f64> {
    match value.kind() {
        ValueKind::Number => f64::try_from(value.clone()).ok(),
        ValueKind::String => value.as_str()?.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn moment(value: &Value) -> Option<Moment> {
    match value.kind() {
        ValueKind::Number => Moment::from_unix(value.as_i64().or_else(|| {
            f64::try_from(value.clone())
                .ok()
                .filter(|n| n.is_finite() && n.abs() < 9.0e15)
                .map(|n| n as i64)
        })?),
        ValueKind::String => Moment::parse(value.as_str()?),
        _ => None,
    }
}

/// `date(format=None, tz=None)`; `format` may be `"relative"`.
pub fn date(
    state: &mut State,
    value: Value,
    format: Option<String>,
    tz: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let format: Option<String> = kwargs.get::<Option<String>>("format")?.or(format);
    let tz: Option<String> = kwargs.get::<Option<String>>("tz")?.or(tz);
    kwargs.assert_all_used()?;
    let now = value.downcast_object_ref::<super::filters::Now>().is_some();
    if !now && is_missing(&value) {
        return Ok(value);
    }
    let settings = RenderSettings::of(state);
    let zone = match tz.as_deref() {
        Some(name) => match dates::parse_zone(name) {
            Ok(zone) => zone,
            Err(err) => return trace::filter_failed(state, "date", err.to_string()),
        },
        None => settings.time_zone,
    };
    let Some(moment) = (if now {
        Some(Moment::Instant(settings.now))
    } else {
        moment(&value)
    }) else {
        return trace::filter_failed(state, "date", format!("{value:?} is not a date"));
    };
    match dates::format(
        moment,
        format.as_deref(),
        zone,
        settings.locale,
        settings.now,
    ) {
        Ok(text) => Ok(Value::from(text)),
        Err(err) => trace::filter_failed(state, "date", err.to_string()),
    }
}

/// `number(decimals=None)`: grouped with the render's locale; whole numbers print without
/// decimals and others with two unless `decimals` says otherwise.
pub fn number(state: &mut State, value: Value, decimals: Option<i64>) -> Result<Value, Error> {
    if is_missing(&value) {
        return Ok(value);
    }
    let decimals = check_decimals(decimals)?;
    let Some(n) = as_f64(&value) else {
        return trace::filter_failed(state, "number", format!("{value:?} is not a number"));
    };
    let decimals = decimals.unwrap_or(if n.fract() == 0.0 { 0 } else { 2 });
    let locale = RenderSettings::of(state).locale;
    Ok(Value::from(locale.number(n, decimals)))
}

fn check_decimals(decimals: Option<i64>) -> Result<Option<usize>, Error> {
    match decimals {
        Some(d) if !(0..=MAX_DECIMALS).contains(&d) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("number(decimals): {d} is not between 0 and {MAX_DECIMALS}"),
        )),
        other => Ok(other.map(|d| d as usize)),
    }
}

/// `currency(code)`: an ISO 4217 amount laid out for the render's locale.
pub fn currency(state: &mut State, value: Value, code: String) -> Result<Value, Error> {
    if is_missing(&value) {
        return Ok(value);
    }
    if !locale::is_currency_code(&code) {
        return trace::filter_failed(
            state,
            "currency",
            format!("`{code}` is not an ISO 4217 currency code such as \"EUR\""),
        );
    }
    let Some(n) = as_f64(&value) else {
        return trace::filter_failed(state, "currency", format!("{value:?} is not an amount"));
    };
    let locale: &Locale = RenderSettings::of(state).locale;
    Ok(Value::from(locale.currency(n, &code)))
}

pub fn first_name(value: Value) -> Value {
    split_name(value, names::first_name)
}

pub fn last_name(value: Value) -> Value {
    split_name(value, names::last_name)
}

fn split_name(value: Value, part: fn(&str) -> Option<String>) -> Value {
    match value.as_str().and_then(part) {
        Some(name) => Value::from(name),
        // Nothing to split (or not text): missing, so `fallback` and `missing` apply.
        None => Value::UNDEFINED,
    }
}

/// `truncate(length, end="…")`: at most `length` characters, cut at a word boundary when
/// one is near, with `end` appended.
pub fn truncate(value: Value, length: i64, end: Option<String>) -> Result<Value, Error> {
    let Some(text) = value.as_str() else {
        return Ok(value);
    };
    if length < 1 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "truncate(length): the length must be at least 1",
        ));
    }
    let length = length as usize;
    if text.chars().count() <= length {
        return Ok(value);
    }
    let end = end.unwrap_or_else(|| "…".to_string());
    let cut: String = text.chars().take(length).collect();
    // Prefer the last space in the final quarter, so that a word is not sliced in half.
    let kept = match cut.rfind(char::is_whitespace) {
        Some(i) if cut[..i].chars().count() >= length - length / 4 => &cut[..i],
        _ => cut.as_str(),
    };
    Ok(Value::from(format!("{}{end}", kept.trim_end())))
}

/// `{% if contact.plan is present %}`: has a value worth printing (not undefined, null,
/// blank text or an empty list).
pub fn is_present(value: Value) -> bool {
    !is_missing(&value)
}

/// `{% if contact.plan is missing %}`: the opposite of `present`.
pub fn is_missing_test(value: Value) -> bool {
    is_missing(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_words() {
        let t = |s: &str, n: i64| truncate(Value::from(s), n, None).unwrap().to_string();
        assert_eq!(t("short", 10), "short");
        assert_eq!(t("The quick brown fox jumps", 18), "The quick brown…");
        assert_eq!(t("Supercalifragilistic", 5), "Super…");
        assert!(truncate(Value::from("x"), 0, None).is_err());
    }
}
