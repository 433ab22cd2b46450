//! The reply's running length: every byte a render writes into its reply passes through
//! [`write`] first, which refuses the write that would take the reply past
//! `max_output_bytes`, so a reply never grows past its limit, not even for a moment.
//!
//! minijinja writes into a render's output from two instructions: `Emit` (a printed value,
//! handed to the environment's formatter, [`super::trace::format`]) and `EmitRaw` (template
//! text, written straight into the output). [`super::budget::guard`] rewrites every
//! `EmitRaw(text)` into `LoadConst(raw) + Emit`, where `raw` is the text as a safe string
//! or, when it is only blanks, as bytes ([`raw`]): no template data is ever bytes, so the
//! formatter knows such text for the template's and does not take it for an empty
//! placeholder.
//!
//! The formatter also writes text that is not (yet) the reply, and only the reply counts:
//!
//! - a macro's body and `caller()` write into an output of their own, told apart from the
//!   render's by its address ([`Tracking`]);
//! - `{% set %}` and `{% filter %}` blocks, and `loop(…)` called in an expression, capture
//!   into a buffer of the render's output; `guard` brackets them with calls that count the
//!   captures open ([`CAPTURE_BEGIN`], [`CAPTURE_END`]), right next to the instructions
//!   that open and close them, so the count follows minijinja's own.
//!
//! What is captured counts when it is printed into the reply (a macro's result, a filter
//! block's); until then it is bounded by fuel, and no single value longer than the limit is
//! written anywhere. The state is a thread local: a render runs on one thread from start to
//! end, and [`Tracking`] restores what was there before when it ends.

use std::cell::Cell;
use std::fmt;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, Output};

use super::budget::limit_error;

pub(crate) const CAPTURE_BEGIN: &str = "__capture_begin";
pub(crate) const CAPTURE_END: &str = "__capture_end";

/// Registers the functions [`super::budget::guard`] calls around captures.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function(CAPTURE_BEGIN, || {
        let t = TALLY.get();
        TALLY.set(Tally {
            captures: t.captures.saturating_add(1),
            ..t
        });
        Value::UNDEFINED
    });
    env.add_function(CAPTURE_END, || {
        let t = TALLY.get();
        TALLY.set(Tally {
            captures: t.captures.saturating_sub(1),
            ..t
        });
        Value::UNDEFINED
    });
}

/// Template text as the value `guard` loads in place of an `EmitRaw`: a safe string, which
/// the formatter writes as it is, escaping or not, like any printed text (and charged the
/// same). Text that is only blanks would look like an empty placeholder to the formatter,
/// and is loaded as bytes instead, which it knows for template text.
pub(crate) fn raw(text: &str) -> Value {
    if text.chars().all(char::is_whitespace) {
        Value::from_bytes(text.as_bytes().to_vec())
    } else {
        Value::from_safe_string(text.to_owned())
    }
}

/// The text of a value made by [`raw`] from blanks.
#[inline]
pub(crate) fn as_raw(value: &Value) -> Option<&str> {
    if value.kind() == ValueKind::Bytes {
        value.as_str()
    } else {
        None
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    /// The address of the render's own output; 0 when no render is tracked.
    root: usize,
    /// Captures open on it.
    captures: u32,
    /// Bytes written into the reply.
    written: usize,
}

thread_local! {
    static TALLY: Cell<Tally> = const {
        Cell::new(Tally {
            root: 0,
            captures: 0,
            written: 0,
        })
    };
}

fn address(out: &Output) -> usize {
    // Compared, never dereferenced: the render's output lives until the render ends, so no
    // other output can share its address meanwhile.
    std::ptr::from_ref(out).cast::<()>() as usize
}

/// Counts what a render writes into `out`, its own output, until dropped.
pub(crate) struct Tracking(Tally);

impl Tracking {
    pub fn start(out: &Output) -> Self {
        Tracking(TALLY.replace(Tally {
            root: address(out),
            captures: 0,
            written: 0,
        }))
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        TALLY.set(self.0);
    }
}

/// Whether what is written into `out` now is the reply, and how much of it there is.
#[inline]
fn reply_so_far(out: &Output) -> Option<usize> {
    let t = TALLY.get();
    (t.root == address(out) && t.captures == 0).then_some(t.written)
}

/// Bytes one value written into `out` may take: what is left of the reply's limit, or for
/// captured text the whole limit (no single value longer than the reply could be).
pub(crate) fn room(out: &Output, max_output_bytes: usize) -> usize {
    match reply_so_far(out) {
        Some(written) => max_output_bytes.saturating_sub(written),
        None => max_output_bytes,
    }
}

/// Writes `text` into `out`, or fails before writing it if it would take the reply (or, for
/// captured text, this one value) past `max_output_bytes`.
#[inline]
pub(crate) fn write(out: &mut Output, text: &str, max_output_bytes: usize) -> Result<(), Error> {
    if text.len() > room(out, max_output_bytes) {
        return Err(limit_error(max_output_bytes));
    }
    out.write_str(text).map_err(Error::from)?;
    count(out, text.len());
    Ok(())
}

fn count(out: &Output, len: usize) {
    let t = TALLY.get();
    if t.root == address(out) && t.captures == 0 {
        TALLY.set(Tally {
            written: t.written + len,
            ..t
        });
    }
}

/// Writes into `out` what is formatted into it, failing before the chunk that would take
/// the reply past its limit: for values whose formatted length is not known beforehand.
pub(crate) struct Limited<'o, 'a> {
    out: &'o mut Output<'a>,
    room: usize,
    max_output_bytes: usize,
    failure: Option<Error>,
}

impl<'o, 'a> Limited<'o, 'a> {
    pub fn new(out: &'o mut Output<'a>, max_output_bytes: usize) -> Self {
        let room = room(out, max_output_bytes);
        Self {
            out,
            room,
            max_output_bytes,
            failure: None,
        }
    }

    /// What writing came to.
    pub fn finish(mut self, written: fmt::Result) -> Result<(), Error> {
        if let Some(err) = self.failure.take() {
            return Err(err);
        }
        written.map_err(Error::from)
    }
}

impl fmt::Write for Limited<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.room {
            self.failure = Some(limit_error(self.max_output_bytes));
            return Err(fmt::Error);
        }
        self.room -= s.len();
        self.out.write_str(s)?;
        count(self.out, s.len());
        Ok(())
    }
}
