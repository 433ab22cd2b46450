//! What minijinja's fuel does not charge: the operators whose cost depends on the size of
//! their operands, rewritten into calls of our own, and a render's wall-clock bound.
//!
//! minijinja charges fuel for every instruction and for most data a render creates, but
//! repeating (`list * n`) and concatenating (`list + list`) lists builds lazy values it
//! charges nothing for, and walking such a value (indexing it from the end, printing it,
//! `~`-ing it into a string) happens before the bytes it produces are charged. A 40-byte
//! body could so run for seconds, or allocate gigabytes. Here every compiled body is
//! rewritten ([`guard`]) so that:
//!
//! - `*`, `+` and slicing first call a guard that charges the size of the value about to
//!   be built (`len × n` list slots, both lists, the sliced value), then run as before;
//! - `~` and `[…]` are replaced by functions that charge the walk they make and build
//!   strings through a writer that charges as it writes;
//!
//! and every charge also checks the render's deadline and cancellation ([`Control`]), so
//! that a render stops within a charge of its wall-clock bound.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State};

use super::limits::{LimitHit, Stopped};
use super::reply;

/// minijinja's internal fuel resolution: one fuel pays for 64 bytes (`State::consume_fuel`
/// takes whole fuel).
const UNITS_PER_FUEL: u64 = 64;
/// What minijinja charges per list slot and per item visited (in units).
const SLOT_UNITS: u64 = 32;
const ITEM_UNITS: u64 = 32;

const GUARD_MUL: &str = "__guard_mul";
const GUARD_ADD: &str = "__guard_add";
const GUARD_SLICE: &str = "__guard_slice";
const CONCAT: &str = "__concat";
const GET_ITEM: &str = "__get_item";
const GUARD_CONST: &str = "__guard_const";

/// A constant list longer than this is charged each time it is loaded. A list written in
/// the source is bounded by the template's size; a longer one can only come from
/// minijinja folding `[…] * n` or `[…] + […]` at compile time, which no runtime guard sees.
const FOLDED_LIST_ITEMS: usize = 1024;

/// Registers the functions [`guard`] calls.
pub(crate) fn register(env: &mut Environment<'static>) {
    reply::register(env);
    env.add_function(GUARD_MUL, guard_mul);
    env.add_function(GUARD_ADD, guard_add);
    env.add_function(GUARD_SLICE, guard_slice);
    env.add_function(CONCAT, concat);
    env.add_function(GET_ITEM, get_item);
    env.add_function(GUARD_CONST, guard_const);
}

/// Rewrites compiled instructions so that size-dependent operators are charged first.
///
/// `Mul`, `Add` and `Slice` become `call guard(operands) → unpack operands → op`; the guard
/// hands its operands back unchanged. Template text (`EmitRaw`) is printed through the
/// formatter, and captures are counted, so that the reply is counted as it is written (see
/// [`reply`]). Jump targets (and macro entry points) are remapped
/// to the new positions; line and span records follow their instruction, so errors still
/// point at the right line.
pub(crate) fn guard<'s>(old: Instructions<'s>) -> Instructions<'s> {
    fn expand<'s>(instr: &Instruction<'s>) -> Vec<Instruction<'s>> {
        match instr {
            Instruction::Mul => vec![
                Instruction::CallFunction(GUARD_MUL, Some(2)),
                Instruction::UnpackList(2),
                Instruction::Mul,
            ],
            Instruction::Add => vec![
                Instruction::CallFunction(GUARD_ADD, Some(2)),
                Instruction::UnpackList(2),
                Instruction::Add,
            ],
            Instruction::Slice => vec![
                Instruction::CallFunction(GUARD_SLICE, Some(4)),
                Instruction::UnpackList(4),
                Instruction::Slice,
            ],
            Instruction::LoadConst(value)
                if constant_slots(value, 0) > FOLDED_LIST_ITEMS as u64 =>
            {
                vec![
                    Instruction::LoadConst(value.clone()),
                    Instruction::CallFunction(GUARD_CONST, Some(1)),
                ]
            }
            Instruction::StringConcat => vec![Instruction::CallFunction(CONCAT, Some(2))],
            Instruction::GetItem => vec![Instruction::CallFunction(GET_ITEM, Some(2))],
            // Template text goes through the formatter, which counts the reply (see
            // `reply`), and captures are counted so that what they hold is not taken for
            // the reply. Nothing that could jump comes between a count and what it counts.
            Instruction::EmitRaw(text) => {
                vec![Instruction::LoadConst(reply::raw(text)), Instruction::Emit]
            }
            Instruction::BeginCapture(_) => vec![
                Instruction::CallFunction(reply::CAPTURE_BEGIN, Some(0)),
                Instruction::DiscardTop,
                instr.clone(),
            ],
            Instruction::EndCapture => vec![
                Instruction::EndCapture,
                Instruction::CallFunction(reply::CAPTURE_END, Some(0)),
                Instruction::DiscardTop,
            ],
            // `loop(…)` in an expression captures the loop's output, and returns to the
            // instruction after it once the loop ends.
            Instruction::CallFunction("loop", _) => vec![
                Instruction::CallFunction(reply::CAPTURE_BEGIN, Some(0)),
                Instruction::DiscardTop,
                instr.clone(),
                Instruction::CallFunction(reply::CAPTURE_END, Some(0)),
                Instruction::DiscardTop,
            ],
            other => vec![other.clone()],
        }
    }
    let mut starts = Vec::new();
    let mut next = 0u32;
    let mut idx = 0;
    while let Some(instr) = old.get(idx) {
        starts.push(next);
        next += expand(instr).len() as u32;
        idx += 1;
    }
    // A jump may target the end of the instructions.
    starts.push(next);
    let at = |target: u32| starts.get(target as usize).copied().unwrap_or(target);
    let mut new = Instructions::new(old.name(), old.source());
    let mut idx = 0;
    while let Some(instr) = old.get(idx) {
        let span = old.get_span(idx).filter(|s| *s != Default::default());
        let line = old.get_line(idx);
        for mut instr in expand(instr) {
            match &mut instr {
                Instruction::Jump(t)
                | Instruction::JumpIfFalse(t)
                | Instruction::JumpIfFalseOrPop(t)
                | Instruction::JumpIfTrueOrPop(t)
                | Instruction::Iterate(t)
                | Instruction::BuildMacro(_, t, _) => *t = at(*t),
                _ => {}
            }
            match (span, line) {
                (Some(span), _) => new.add_with_span(instr, span),
                (None, Some(line)) => new.add_with_line(instr, line as u16),
                (None, None) => new.add(instr),
            };
        }
        idx += 1;
    }
    new
}

/// A render's wall-clock bound and cancellation, seen by every charge on the thread that
/// renders (a render never leaves the thread it started on).
#[derive(Clone, Debug, Default)]
pub struct Control {
    /// When the render must stop, and what that bound is called in the error.
    pub deadline: Option<(Instant, Stopped)>,
    /// Set when the caller went away (a cancelled BatchRender).
    pub cancel: Option<Arc<AtomicBool>>,
}

thread_local! {
    static CONTROL: RefCell<Control> = RefCell::new(Control::default());
}

/// Installs `control` for the renders run on this thread until the guard drops.
pub(crate) struct Installed(Control);

impl Installed {
    pub fn new(control: Control) -> Self {
        Installed(CONTROL.with(|c| c.replace(control)))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        CONTROL.with(|c| *c.borrow_mut() = std::mem::take(&mut self.0));
    }
}

/// Fails when the render's deadline passed or its caller went away.
#[inline]
pub(crate) fn check_time() -> Result<(), Error> {
    CONTROL.with(|c| {
        let c = c.borrow();
        if c.deadline.is_none() && c.cancel.is_none() {
            return Ok(());
        }
        if let Some(cancel) = &c.cancel
            && cancel.load(Ordering::Relaxed)
        {
            return Err(stopped(Stopped::Cancelled));
        }
        match &c.deadline {
            Some((at, why)) if Instant::now() >= *at => Err(stopped(why.clone())),
            _ => Ok(()),
        }
    })
}

fn stopped(why: Stopped) -> Error {
    Error::new(ErrorKind::InvalidOperation, why.to_string()).with_source(why)
}

/// Charges `units` (minijinja's 1/64 fuel) before the work is done.
pub(crate) fn charge(state: &State, units: u64) -> Result<(), Error> {
    check_time()?;
    state.consume_fuel(units.div_ceil(UNITS_PER_FUEL))
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Slots of `seq * n` (either order) when it repeats a list.
fn repeated_slots(a: &Value, b: &Value) -> Option<u64> {
    let (seq, n) = if is_list(a) { (a, b) } else { (b, a) };
    if !is_list(seq) {
        return None;
    }
    let n = n.as_i64()?.max(0) as u64;
    Some((seq.len().unwrap_or(0) as u64).saturating_mul(n))
}

/// `a * b`: a repeated list is charged for every slot (minijinja keeps it lazy and charges
/// nothing); a repeated string minijinja checks itself.
fn guard_mul(state: &State, a: Value, b: Value) -> Result<Value, Error> {
    if let Some(slots) = repeated_slots(&a, &b) {
        charge(state, slots.saturating_mul(SLOT_UNITS))?;
    }
    Ok(Value::from(vec![b, a]))
}

/// A folded constant holding long lists: charged for their slots, as `guard_mul` would
/// have charged them.
fn guard_const(state: &State, value: Value) -> Result<Value, Error> {
    charge(state, constant_slots(&value, 0).saturating_mul(SLOT_UNITS))?;
    Ok(value)
}

/// The list slots a constant holds, nested lists and maps included. Only the first
/// [`FOLDED_LIST_ITEMS`] items of each list are looked into: past that the list is charged
/// for its length, which a folded repetition cannot pay anyway.
fn constant_slots(value: &Value, depth: usize) -> u64 {
    const MAX_DEPTH: usize = 8;
    let own = match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => value.len().unwrap_or(0) as u64,
        ValueKind::Map => 0,
        _ => return 0,
    };
    if depth >= MAX_DEPTH {
        return own;
    }
    let Ok(items) = value.try_iter() else {
        return own;
    };
    let is_map = value.kind() == ValueKind::Map;
    items
        .take(FOLDED_LIST_ITEMS)
        .map(|item| {
            let inner = if is_map {
                value.get_item(&item).unwrap_or_default()
            } else {
                item
            };
            constant_slots(&inner, depth + 1)
        })
        .fold(own, u64::saturating_add)
}

/// `a + b`: two lists are charged for every slot of the result (minijinja chains them
/// lazily; doubling a list in a loop would otherwise reach 2^32 items for free).
fn guard_add(state: &State, a: Value, b: Value) -> Result<Value, Error> {
    if is_list(&a) && is_list(&b) {
        let slots = (a.len().unwrap_or(0) as u64).saturating_add(b.len().unwrap_or(0) as u64);
        charge(state, slots.saturating_mul(SLOT_UNITS))?;
    }
    Ok(Value::from(vec![b, a]))
}

/// `value[start:stop:step]`: charged for what the slice may copy or walk, the whole value.
fn guard_slice(
    state: &State,
    value: Value,
    start: Value,
    stop: Value,
    step: Value,
) -> Result<Value, Error> {
    let units = match value.as_str() {
        Some(s) => s.len() as u64,
        None if is_list(&value) => (value.len().unwrap_or(0) as u64).saturating_mul(ITEM_UNITS),
        None => 0,
    };
    charge(state, units)?;
    Ok(Value::from(vec![step, stop, start, value]))
}

/// `container[key]`. Indexing a lazy list walks it (from its start, even for `[-1]`), and
/// indexing a string walks its characters: both are charged for the whole walk first.
fn get_item(state: &State, container: Value, key: Value) -> Result<Value, Error> {
    let units = match container.kind() {
        ValueKind::Iterable => (container.len().unwrap_or(0) as u64).saturating_mul(ITEM_UNITS),
        ValueKind::String if key.is_number() => container.as_str().map_or(0, |s| s.len() as u64),
        _ => 0,
    };
    if units > 0 {
        charge(state, units)?;
    }
    if container.is_undefined() || container.is_none() {
        // What the chainable undefined behaviour gives for an item of nothing.
        return Ok(Value::UNDEFINED);
    }
    Ok(container.get_item(&key).unwrap_or(Value::UNDEFINED))
}

/// `left ~ right`. Strings are joined after checking the fuel for the result; anything else
/// is formatted through a writer that charges as it writes, so that printing a large list
/// into a string stops when the fuel does.
fn concat(state: &mut State, left: Value, right: Value) -> Result<Value, Error> {
    let markup = left.is_safe() != right.is_safe() && *state.auto_escape() != AutoEscape::None;
    let (left, right) = if markup {
        (
            minijinja::filters::escape(state, &left)?,
            minijinja::filters::escape(state, &right)?,
        )
    } else {
        (left, right)
    };
    let safe = left.is_safe() && right.is_safe();
    let text = match (left.as_str(), right.as_str()) {
        (Some(l), Some(r)) => {
            let len = l.len() as u64 + r.len() as u64;
            ensure(state, len)?;
            let mut text = String::with_capacity(len as usize);
            text.push_str(l);
            text.push_str(r);
            text
        }
        _ => {
            let mut w = ChargingWriter::new(state, usize::MAX, usize::MAX);
            let written = write!(w, "{left}{right}");
            w.finish(written)?
        }
    };
    Ok(if safe {
        Value::from_safe_string(text)
    } else {
        Value::from(text)
    })
}

/// Fails if `units` more could not be paid; charges nothing (the result is charged by
/// minijinja once it exists, as for its own operators).
fn ensure(state: &State, units: u64) -> Result<(), Error> {
    check_time()?;
    match state.fuel_levels() {
        Some((_, remaining)) if units.div_ceil(UNITS_PER_FUEL) >= remaining => {
            Err(Error::from(ErrorKind::OutOfFuel))
        }
        _ => Ok(()),
    }
}

/// Formats into a string, charging fuel for each 4 KiB as it is written and stopping at
/// `cap` bytes (failing with the reply's `limit`), so that formatting a value never
/// allocates more than the render can pay or the reply can take.
pub(crate) struct ChargingWriter<'a, 's, 'e> {
    state: &'a State<'s, 'e>,
    text: String,
    cap: usize,
    /// The reply's limit, named when `cap` is reached.
    limit: usize,
    uncharged: usize,
    failure: Option<Error>,
}

const CHARGE_EVERY: usize = 4096;

impl<'a, 's, 'e> ChargingWriter<'a, 's, 'e> {
    pub fn new(state: &'a State<'s, 'e>, cap: usize, limit: usize) -> Self {
        Self {
            state,
            text: String::new(),
            cap,
            limit,
            uncharged: 0,
            failure: None,
        }
    }

    /// The text written, or why writing stopped.
    pub fn finish(mut self, written: fmt::Result) -> Result<String, Error> {
        if let Some(err) = self.failure.take() {
            return Err(err);
        }
        written.map_err(Error::from)?;
        Ok(self.text)
    }
}

impl fmt::Write for ChargingWriter<'_, '_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.text.len() + s.len() > self.cap {
            self.failure = Some(limit_error(self.limit));
            return Err(fmt::Error);
        }
        self.uncharged += s.len();
        if self.uncharged >= CHARGE_EVERY {
            let units = std::mem::take(&mut self.uncharged) as u64;
            if let Err(err) = charge(self.state, units) {
                self.failure = Some(err);
                return Err(fmt::Error);
            }
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// The error for a write that would take the reply past `max_output_bytes`.
pub(crate) fn limit_error(max_output_bytes: usize) -> Error {
    let message = format!("the reply grew past {max_output_bytes} bytes");
    Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(LimitHit {
        limit: super::limits::MAX_OUTPUT_BYTES_FLAG,
        message,
    })
}

/// Filters that format a whole value into one string (`string`, `join`, `tojson`,
/// `pprint`, `format`): minijinja charges what they produce once it exists, and a list that
/// repeats a large string formats to far more than it cost to build. Each is wrapped to
/// measure what it is about to produce first, without allocating, and refused if the fuel
/// left cannot pay for it.
pub(crate) fn register_filters(env: &mut Environment<'static>) {
    use minijinja::filters;
    let originals = [
        ("string", Value::from_function(filters::string)),
        ("join", Value::from_function(filters::join)),
        ("tojson", Value::from_function(filters::tojson)),
        ("pprint", Value::from_function(filters::pprint)),
        ("format", Value::from_function(filters::format)),
    ];
    for (name, original) in originals {
        let joins = name == "join";
        env.add_filter(
            name,
            move |state: &mut State, args: Rest<Value>, kwargs: Kwargs| -> Result<Value, Error> {
                let mut units = 0u64;
                for arg in args.iter() {
                    units = units.saturating_add(formatted_size(state, arg, units)?);
                }
                if joins && let (Some(value), Some(joiner)) = (args.first(), args.get(1)) {
                    let joiner = joiner.as_str().map_or(0, str::len) as u64;
                    let items = value.len().unwrap_or(0) as u64;
                    units = units.saturating_add(joiner.saturating_mul(items));
                }
                ensure(state, units)?;
                original.call(state, &with_kwargs(args, kwargs))
            },
        );
    }
    // Filters that compare or add up items: minijinja charges per comparison, but comparing
    // two strings walks them, and summing lists concatenates them. Each is charged first
    // for the bytes its items hold (times the comparisons each takes part in) and for the
    // slots of the lists it would concatenate.
    let compared = [
        ("sort", Value::from_function(filters::sort)),
        ("unique", Value::from_function(filters::unique)),
        ("min", Value::from_function(filters::min)),
        ("max", Value::from_function(filters::max)),
        ("sum", Value::from_function(filters::sum)),
    ];
    for (name, original) in compared {
        let sorts = name == "sort";
        env.add_filter(
            name,
            move |state: &mut State, args: Rest<Value>, kwargs: Kwargs| -> Result<Value, Error> {
                if let Some(items) = args.first().filter(|v| is_list(v)) {
                    let n = items.len().unwrap_or(0) as u64;
                    let rounds = if sorts {
                        64 - n.leading_zeros() as u64
                    } else {
                        1
                    };
                    let mut units = 0u64;
                    // Summing lists copies the total so far at each step.
                    let mut slots_so_far = 0u64;
                    for item in items.try_iter()? {
                        units = units.saturating_add(ITEM_UNITS);
                        if let Some(s) = item.as_str() {
                            units = units.saturating_add((s.len() as u64).saturating_mul(rounds));
                        } else if is_list(&item) {
                            slots_so_far =
                                slots_so_far.saturating_add(item.len().unwrap_or(0) as u64);
                            units = units.saturating_add(slots_so_far.saturating_mul(SLOT_UNITS));
                        }
                    }
                    charge(state, units)?;
                }
                original.call(state, &with_kwargs(args, kwargs))
            },
        );
    }
}

/// The arguments to pass on to a wrapped filter: its positional ones, then its keyword
/// arguments, if any, as minijinja passes them.
fn with_kwargs(args: Rest<Value>, kwargs: Kwargs) -> Vec<Value> {
    let mut all = args.0;
    if kwargs.args().next().is_some() {
        all.push(Value::from(kwargs));
    }
    all
}

/// The bytes `value` formats to, counted without allocating; fails as soon as the fuel
/// left could not pay for them (with `already` counted before).
fn formatted_size(state: &State, value: &Value, already: u64) -> Result<u64, Error> {
    if let Some(s) = value.as_str() {
        return Ok(s.len() as u64);
    }
    if value.as_object().is_none() {
        return Ok(0);
    }
    let cap = state
        .fuel_levels()
        .map_or(u64::MAX, |(_, remaining)| {
            remaining.saturating_mul(UNITS_PER_FUEL)
        })
        .saturating_sub(already);
    let mut counter = Counter {
        counted: 0,
        cap,
        since_check: 0,
        failure: None,
    };
    let written = write!(counter, "{value}");
    if let Some(err) = counter.failure {
        return Err(err);
    }
    written.map_err(Error::from)?;
    Ok(counter.counted)
}

/// Counts formatted bytes, stopping at a cap (and at the render's deadline).
struct Counter {
    counted: u64,
    cap: u64,
    since_check: usize,
    failure: Option<Error>,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.counted += s.len() as u64;
        self.since_check += s.len();
        if self.counted >= self.cap {
            self.failure = Some(Error::from(ErrorKind::OutOfFuel));
            return Err(fmt::Error);
        }
        if self.since_check >= CHARGE_EVERY {
            self.since_check = 0;
            if let Err(err) = check_time() {
                self.failure = Some(err);
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}
