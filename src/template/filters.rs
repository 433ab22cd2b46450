//! Filters and functions that shortcut authors can use beyond minijinja's built-ins.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

use super::analysis::FilterUse;
use super::limits::LimitHit;
use super::{dates, formatting, locale};

/// Filter names minijinja ships (with the `builtins` feature); kept here so that an unknown
/// filter is reported when the template is written, not when it is first rendered.
pub(crate) const BUILTIN_FILTERS: &[&str] = &[
    "safe",
    "escape",
    "e",
    "lower",
    "upper",
    "title",
    "capitalize",
    "replace",
    "length",
    "count",
    "dictsort",
    "items",
    "reverse",
    "trim",
    "join",
    "split",
    "lines",
    "default",
    "d",
    "round",
    "abs",
    "int",
    "float",
    "attr",
    "first",
    "last",
    "min",
    "max",
    "sort",
    "list",
    "string",
    "bool",
    "batch",
    "slice",
    "sum",
    "indent",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "map",
    "groupby",
    "unique",
    "chain",
    "zip",
    "pprint",
    "format",
    "tojson",
    "urlencode",
];

/// Test names (`{% if x is defined %}`) minijinja ships plus ours (`present`, `missing`),
/// so that a misspelt test is reported when the template is written.
pub(crate) const KNOWN_TESTS: &[&str] = &[
    "undefined",
    "defined",
    "none",
    "safe",
    "escaped",
    "boolean",
    "odd",
    "even",
    "divisibleby",
    "number",
    "integer",
    "int",
    "float",
    "string",
    "sequence",
    "iterable",
    "mapping",
    "startingwith",
    "endingwith",
    "lower",
    "upper",
    "sameas",
    "eq",
    "equalto",
    "==",
    "ne",
    "!=",
    "lt",
    "lessthan",
    "<",
    "le",
    "<=",
    "gt",
    "greaterthan",
    ">",
    "ge",
    ">=",
    "in",
    "true",
    "false",
    "filter",
    "test",
    "present",
    "missing",
];

/// The globals a template may call or read besides the scopes: functions, and `now`.
pub(crate) const GLOBAL_FUNCTIONS: &[&str] = &["range", "dict", "namespace", "now"];

/// `now`: the moment of the render, which `date` formats in the workspace's time zone
/// (`<<now | date("%A %d %B")>>`). A marker rather than a time: the clock is read once per
/// render into the render settings, and only a template that uses `now` looks at it.
#[derive(Debug)]
pub(crate) struct Now;

impl minijinja::value::Object for Now {
    fn render(self: &std::sync::Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Printed without `date`: a hint rather than a time.
        f.write_str("(now: format it with date)")
    }
}

/// Filters this service adds (see `formatting` and `trace`).
pub(crate) const OWN_FILTERS: &[&str] = &[
    "fallback",
    "date",
    "number",
    "currency",
    "first_name",
    "last_name",
    "truncate",
];

/// Write-time checks of a known filter's literal arguments: a misspelt time zone or
/// format is reported when the template is saved, not discovered in a customer's reply.
pub(crate) fn check_arguments(filter: &FilterUse) -> Result<(), String> {
    let literal = |index: usize, keyword: &str| -> Option<Value> {
        filter
            .kwargs
            .iter()
            .find(|(name, _)| name == keyword)
            .map(|(_, v)| v.clone())
            .or_else(|| filter.args.get(index).cloned().flatten())
    };
    let as_text = |value: &Value, what: &str| -> Result<String, String> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("`{}`: {what} must be text, not {value}", filter.name))
    };
    match filter.name.as_str() {
        "date" => {
            if let Some(format) = literal(0, "format") {
                let format = as_text(&format, "the format")?;
                if format != dates::RELATIVE {
                    dates::parse_format(&format).map_err(|e| format!("`date`: {e}"))?;
                }
            }
            if let Some(zone) = literal(1, "tz") {
                dates::parse_zone(&as_text(&zone, "the time zone")?)
                    .map_err(|e| format!("`date`: {e}"))?;
            }
        }
        "currency" => match literal(0, "code") {
            Some(code) => {
                let code = as_text(&code, "the currency code")?;
                if !locale::is_currency_code(&code) {
                    return Err(format!(
                        "`currency`: `{code}` is not an ISO 4217 code such as \"EUR\" or \"USD\""
                    ));
                }
            }
            None if filter.args.is_empty() => {
                return Err("`currency` needs a currency code, e.g. currency(\"EUR\")".into());
            }
            None => {}
        },
        "number" => {
            if let Some(decimals) = literal(0, "decimals") {
                let ok = decimals
                    .as_i64()
                    .is_some_and(|d| (0..=formatting::MAX_DECIMALS).contains(&d));
                if !ok {
                    return Err(format!(
                        "`number`: decimals must be a whole number from 0 to {}",
                        formatting::MAX_DECIMALS
                    ));
                }
            }
        }
        "truncate" => match literal(0, "length") {
            Some(length) if length.as_i64().is_some_and(|n| n >= 1) => {}
            Some(_) => return Err("`truncate`: the length must be a whole number ≥ 1".into()),
            None if filter.args.is_empty() => {
                return Err("`truncate` needs a length, e.g. truncate(80)".into());
            }
            None => {}
        },
        _ => {}
    }
    Ok(())
}

/// `range(…)` with a cap on its length, so that a loop over it is bounded before fuel even
/// comes into play, and hitting the cap is reported as a limit rather than a bug.
pub(crate) fn bounded_range(
    max: usize,
) -> impl Fn(i64, Option<i64>, Option<i64>) -> Result<Value, Error> + Send + Sync + 'static {
    move |lower, upper, step| {
        let (start, stop) = match upper {
            Some(upper) => (lower, upper),
            None => (0, lower),
        };
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "range step cannot be zero",
            ));
        }
        let span = if step > 0 {
            stop.saturating_sub(start)
        } else {
            start.saturating_sub(stop)
        };
        let len = if span <= 0 {
            0
        } else {
            (span.unsigned_abs() - 1) / step.unsigned_abs() + 1
        };
        if len > max as u64 {
            let message = format!("range({lower}…) would produce {len} items; the limit is {max}");
            return Err(
                Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(LimitHit {
                    limit: super::limits::MAX_RANGE_ITEMS_FLAG,
                    message,
                }),
            );
        }
        let items: Vec<i64> = (0..len as i64).map(|i| start + i * step).collect();
        Ok(Value::from(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Engine, RenderLimits};

    /// The names between `<!-- names:KIND -->` and the next `<!-- names:end -->`.
    fn documented(kind: &str) -> Vec<String> {
        let page = include_str!("../../docs/templates.md");
        let start = page
            .find(&format!("<!-- names:{kind} -->"))
            .expect("the section is marked");
        let section = &page[start..];
        let section = &section[..section.find("<!-- names:end -->").unwrap()];
        section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| !name.contains(' ') && !name.starts_with("<<") && !name.starts_with('-'))
            .map(str::to_string)
            .collect()
    }

    /// docs/templates.md lists exactly the filters and tests the engine knows, and each
    /// listed filter is registered (a render does not call it unknown).
    #[test]
    fn the_documented_names_are_exactly_those_available() {
        let mut filters: Vec<&str> = OWN_FILTERS.iter().chain(BUILTIN_FILTERS).copied().collect();
        filters.sort();
        let mut listed = documented("filters");
        listed.sort();
        assert_eq!(listed, filters);
        let mut listed = documented("tests");
        listed.sort();
        let mut tests: Vec<&str> = KNOWN_TESTS.to_vec();
        tests.sort();
        assert_eq!(listed, tests);
        let listed = documented("functions");
        for function in GLOBAL_FUNCTIONS {
            assert!(
                listed.iter().any(|l| l == function),
                "{function} is not documented"
            );
        }
        let engine = Engine::new(RenderLimits::default());
        for filter in filters {
            let template = engine.compile(&format!("<<1 | {filter}>>"));
            if let Ok(template) = template {
                let outcome = engine.render(&template, minijinja::Value::from(()));
                if let Err(err) = outcome {
                    assert!(
                        !err.to_string().contains("unknown filter"),
                        "{filter}: {err}"
                    );
                }
            }
        }
    }
}
