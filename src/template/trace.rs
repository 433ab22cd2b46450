//! Per-render bookkeeping of placeholders that had no value.
//!
//! A template has two bodies (see [`super::compiled`]):
//!
//! - the *plain* body is the source as written, with no per-placeholder bookkeeping. It
//!   renders first, and finishes when every placeholder has a value, the common case. It
//!   cannot tell which placeholder is which, so wherever the traced body would record
//!   something it stops with [`NeedsTrace`] instead: the environment's formatter
//!   ([`format()`]), which sees every printed value, at the first one that comes out empty,
//!   and `fallback` and the formatting filters as soon as they step in or fail.
//! - the *traced* body rewrites every `<<expr>>` to `<<(expr)|__emit("path1\x1fpath2")>>`,
//!   naming the paths the expression reads (one string argument: cheaper to pass than
//!   many). When the value comes out empty, `__emit` looks those paths up in the render's
//!   scope and records the ones that are missing; when `fallback` stepped in, they are
//!   recorded as defaulted instead. It renders, from the start, when the plain body
//!   stopped (or, see [`super::Engine::render`], when the template's last render needed
//!   it); its reply and record are the ones returned.
//!
//! The two bodies run the same instructions apart from `__emit`, and every placeholder's
//! value reaches either the formatter or an `__emit` in the plain body too, so a render the
//! plain body finishes is one where the traced body would have recorded nothing. The record
//! lives in a minijinja state extension, so it is private to one render.

use minijinja::value::{Value, ValueKind};
use std::fmt::Write as _;

use minijinja::{AutoEscape, Error, ErrorKind, Output, State};

use super::{budget, reply};

/// The name of the instrumentation filter. Not a valid scope or filter name for authors
/// (double underscore), so no template can call it by accident.
pub(crate) const EMIT_FILTER: &str = "__emit";

/// Separates the paths in `__emit`'s argument; cannot occur in a path.
pub(crate) const PATH_SEPARATOR: char = '\x1f';

/// The names of a template's two bodies in its environment, which is how the formatter and
/// the filters tell them apart.
pub(crate) const PLAIN_BODY: &str = "body";
pub(crate) const TRACED_BODY: &str = "body (traced)";

/// Why the plain body stopped: the traced body has to render instead.
#[derive(Debug, thiserror::Error)]
#[error("a placeholder needs the traced render")]
pub(crate) struct NeedsTrace;

impl NeedsTrace {
    /// Whether `err` is the plain body stopping rather than the template failing.
    pub fn caused(err: &Error) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if e.is::<NeedsTrace>() {
                return true;
            }
            source = e.source();
        }
        false
    }
}

/// The environment's formatter: prints values as minijinja does, and stops the plain body
/// at a value that comes out empty.
///
/// Every `<<expr>>` of the plain body reaches this with its value, except those minijinja
/// writes directly ([`super::analysis::Emit::bypasses_formatter`]), which keep their
/// `__emit` in the plain body too. Other printed values (a `{% filter %}` block's output)
/// can only stop the plain body needlessly, never let a missing placeholder through.
///
/// The template's own text reaches it too (see [`reply`]): everything written goes through
/// [`reply::write`] or [`reply::Limited`], which keep the reply within its limit.
pub(crate) fn format(
    out: &mut Output,
    state: &mut State,
    value: &Value,
    max_output_bytes: usize,
) -> Result<(), Error> {
    if let Some(text) = reply::as_raw(value) {
        return reply::write(out, text, max_output_bytes);
    }
    // Template text, most of what a render writes, and any other safe text that is not
    // blank: written as it is whatever the escaping, never a missing placeholder.
    if value.is_safe()
        && let Some(text) = value.as_str()
        && !is_missing_text(text)
    {
        return reply::write(out, text, max_output_bytes);
    }
    // The name last: most values are present.
    if is_missing(value) && is_plain(state) {
        return Err(needs_trace(state));
    }
    // Printing is where a long loop shows: its wall-clock bound is checked here too.
    budget::check_time()?;
    let unescaped = *state.auto_escape() == AutoEscape::None;
    if let Some(text) = value.as_str() {
        // Text, what placeholders mostly print, as minijinja's formatter would write it
        // when nothing is escaped, without its detour through `Display`.
        if value.kind() == ValueKind::String && unescaped {
            return reply::write(out, text, max_output_bytes);
        }
    } else if value.as_object().is_some() {
        // Printing a list or map walks it, and what it prints is only charged once written:
        // it is formatted first through a writer that charges as it goes and stops where
        // the reply would pass its limit.
        let room = reply::room(out, max_output_bytes);
        let mut w = budget::ChargingWriter::new(state, room, max_output_bytes);
        let written = write!(w, "{value}");
        let text = w.finish(written)?;
        if unescaped {
            return reply::write(out, &text, max_output_bytes);
        }
    }
    if unescaped {
        // What minijinja's formatter writes unescaped (numbers, booleans, none).
        let mut w = reply::Limited::new(out, max_output_bytes);
        let written = write!(w, "{value}");
        return w.finish(written);
    }
    // Escaped (an `{% autoescape %}` block): escaped aside first, then measured.
    let mut escaped = String::new();
    minijinja::escape_formatter(
        &mut minijinja::machinery::make_string_output(&mut escaped),
        state,
        value,
    )?;
    reply::write(out, &escaped, max_output_bytes)
}

fn is_plain(state: &State) -> bool {
    state.name() == PLAIN_BODY
}

/// Stops the plain body where the traced one would record something. The (empty) record
/// it leaves says so too, should anything between here and the engine drop the error.
fn needs_trace(state: &mut State) -> Error {
    state.get_or_insert_extension_with(RenderTrace::default);
    Error::new(ErrorKind::InvalidOperation, "tracing needed").with_source(NeedsTrace)
}

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

/// What `trim().is_empty()` says, but stops at the first visible character.
fn is_missing_text(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// Undefined, null, an empty string or an empty collection: nothing worth printing.
pub(crate) fn is_missing(value: &Value) -> bool {
    if value.is_undefined() || value.is_none() {
        return true;
    }
    if let Some(s) = value.as_str() {
        return is_missing_text(s);
    }
    matches!(value.len(), Some(0))
}

/// The `fallback(default)` filter: `default` when the value is missing.
pub(crate) fn fallback(state: &mut State, value: Value, default: Value) -> Result<Value, Error> {
    if !is_missing(&value) {
        return Ok(value);
    }
    if is_plain(state) {
        return Err(needs_trace(state));
    }
    state
        .get_or_insert_extension_with(RenderTrace::default)
        .fallback_used = true;
    Ok(default)
}

/// Records that a formatting filter could not handle its value, and returns what it
/// prints instead (undefined: empty, and counted as missing by the next placeholder).
pub(crate) fn filter_failed(
    state: &mut State,
    filter: &str,
    reason: String,
) -> Result<Value, Error> {
    if is_plain(state) {
        return Err(needs_trace(state));
    }
    let trace = state.get_or_insert_extension_with(RenderTrace::default);
    trace.filter_failed = true;
    if trace.failures.len() < 32 {
        trace.failures.push(format!("{filter}: {reason}"));
    }
    Ok(Value::UNDEFINED)
}

/// The instrumentation filter wrapped around every placeholder of the traced body (and
/// around those of the plain body that bypass the formatter).
pub(crate) fn emit(state: &mut State, value: Value, paths: &str) -> Result<Value, Error> {
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
        return Ok(value);
    }
    if is_plain(state) {
        return Err(needs_trace(state));
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
    Ok(value)
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
