//! Per-render bookkeeping of placeholders that had no value.
//!
//! At compile time every `<<expr>>` is rewritten to `<<(expr)|__emit("path1\x1fpath2")>>`,
//! naming the paths the expression reads (one string argument: cheaper to pass than many). When the value comes out empty, `__emit` looks those
//! paths up in the render's scope and records the ones that are missing; when `fallback`
//! stepped in, they are recorded as defaulted instead. The record lives in a minijinja state
//! extension, so it is private to one render and costs nothing when every value is present.

use minijinja::State;
use minijinja::value::Value;

/// The name of the instrumentation filter. Not a valid scope or filter name for authors
/// (double underscore), so no template can call it by accident.
pub(crate) const EMIT_FILTER: &str = "__emit";

/// Separates the paths in `__emit`'s argument; cannot occur in a path.
pub(crate) const PATH_SEPARATOR: char = '\x1f';

/// What one render found missing.
#[derive(Debug, Default)]
pub(crate) struct RenderTrace {
    pub missing: Vec<String>,
    pub defaulted: Vec<String>,
    /// Why formatting filters gave up (e.g. "date: \"soon\" is not a date"), in order.
    pub failures: Vec<String>,
    fallback_used: bool,
    /// A filter failed since the last placeholder was printed.
    filter_failed: bool,
}

/// Undefined, null, an empty string or an empty collection: nothing worth printing.
pub(crate) fn is_missing(value: &Value) -> bool {
    if value.is_undefined() || value.is_none() {
        return true;
    }
    if let Some(s) = value.as_str() {
        return s.trim().is_empty();
    }
    matches!(value.len(), Some(0))
}

/// The `fallback(default)` filter: `default` when the value is missing.
pub(crate) fn fallback(state: &mut State, value: Value, default: Value) -> Value {
    if is_missing(&value) {
        state
            .get_or_insert_extension_with(RenderTrace::default)
            .fallback_used = true;
        default
    } else {
        value
    }
}

/// Records that a formatting filter could not handle its value, and returns what it
/// prints instead (undefined: empty, and counted as missing by the next placeholder).
pub(crate) fn filter_failed(state: &mut State, filter: &str, reason: String) -> Value {
    let trace = state.get_or_insert_extension_with(RenderTrace::default);
    trace.filter_failed = true;
    if trace.failures.len() < 32 {
        trace.failures.push(format!("{filter}: {reason}"));
    }
    Value::UNDEFINED
}

/// The instrumentation filter wrapped around every placeholder.
pub(crate) fn emit(state: &mut State, value: Value, paths: &str) -> Value {
    let (fallback_used, filter_failed) = state
        .get_extension_mut::<RenderTrace>()
        .map(|trace| {
            (
                std::mem::take(&mut trace.fallback_used),
                std::mem::take(&mut trace.filter_failed),
            )
        })
        .unwrap_or_default();
    if !fallback_used && !filter_failed && !is_missing(&value) {
        return value;
    }
    // After a failed filter the paths do hold a value, just not a usable one: all count.
    let empty: Vec<String> = paths
        .split(PATH_SEPARATOR)
        .filter(|path| !path.is_empty() && (filter_failed || is_missing(&resolve(state, path))))
        .map(str::to_owned)
        .collect();
    if !empty.is_empty() {
        let trace = state.get_or_insert_extension_with(RenderTrace::default);
        let list = if fallback_used {
            &mut trace.defaulted
        } else {
            &mut trace.missing
        };
        for path in empty {
            if !list.contains(&path) {
                list.push(path);
            }
        }
    }
    value
}

fn resolve(state: &State, path: &str) -> Value {
    let mut segments = path.split('.');
    let Some(mut value) = segments.next().and_then(|root| state.lookup(root)) else {
        return Value::UNDEFINED;
    };
    for segment in segments {
        value = value.get_attr(segment).unwrap_or(Value::UNDEFINED);
        if value.is_undefined() {
            break;
        }
    }
    value
}
