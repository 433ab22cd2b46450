//! Filters and functions that shortcut authors can use beyond minijinja's built-ins.

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

use super::limits::LimitHit;

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
];

/// Filters this service adds.
pub(crate) const OWN_FILTERS: &[&str] = &["fallback"];

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
            return Err(Error::new(ErrorKind::InvalidOperation, message.clone())
                .with_source(LimitHit(message)));
        }
        let items: Vec<i64> = (0..len as i64).map(|i| start + i * step).collect();
        Ok(Value::from(items))
    }
}
