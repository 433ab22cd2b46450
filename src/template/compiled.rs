//! A compiled template that owns its source and can be shared across threads.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::machinery::{self, CodeGenerator, Instructions};
use minijinja::syntax::SyntaxConfig;
use minijinja::{Error, ErrorKind};

use super::budget;
use super::trace::{PLAIN_BODY, TRACED_BODY};

/// A body's instructions, after [`budget::guard`], borrowing the source they came from.
pub(crate) struct Code<'s> {
    pub instructions: Instructions<'s>,
    pub blocks: BTreeMap<&'s str, Instructions<'s>>,
    pub buffer_size_hint: usize,
}

self_cell::self_cell!(
    /// A body's source and its compiled instructions, kept together: minijinja's
    /// instructions borrow their source, and ours are rewritten after compilation, so they
    /// cannot live in an `Environment` (which compiles and keeps its own).
    pub(crate) struct Program {
        owner: Box<str>,
        #[covariant]
        dependent: Code,
    }
);

impl Program {
    fn compile(name: &'static str, source: String, syntax: &SyntaxConfig) -> Result<Self, Error> {
        Program::try_new(source.into_boxed_str(), |source| {
            let ast = machinery::parse(source, name, syntax.clone())?;
            let mut generator = CodeGenerator::new(name, source);
            generator.compile_stmt(&ast);
            let buffer_size_hint = generator.buffer_size_hint();
            let (instructions, blocks) = generator.finish();
            Ok(Code {
                instructions: budget::guard(instructions),
                blocks: blocks
                    .into_iter()
                    .map(|(name, block)| (name, budget::guard(block)))
                    .collect(),
                buffer_size_hint,
            })
        })
    }

    pub fn code(&self) -> &Code<'_> {
        self.borrow_dependent()
    }

    /// An estimate of the heap this program holds: its source, and per instruction the
    /// instruction and its line and span records (minijinja keeps one of each for most).
    fn estimated_bytes(&self) -> usize {
        let code = self.code();
        let count = |instructions: &Instructions<'_>| {
            let mut n = 0u32;
            while instructions.get(n).is_some() {
                n += 1;
            }
            n as usize
        };
        let instructions =
            count(&code.instructions) + code.blocks.values().map(count).sum::<usize>();
        // Constants (template text) hold a copy of their text: the source again.
        let counted = 2 * self.borrow_owner().len()
            + instructions * (std::mem::size_of::<machinery::Instruction<'_>>() + PER_INSTRUCTION);
        counted * CALIBRATION
    }
}

/// Bytes of line and span records per instruction, beyond the instruction itself.
const PER_INSTRUCTION: usize = 32;
/// What the count above misses (vectors' spare capacity, constants' values, the code
/// generator's leftovers): the benchmark body's program measured 12,800 bytes with a
/// counting allocator (`examples/memory_breakdown.rs`) against 3,100 counted.
const CALIBRATION: usize = 4;

/// A template checked and compiled once; rendering it never parses again.
///
/// Its bodies render in the engine's environment (filters, functions, fuel) with
/// instructions compiled here (see `Program`). The traced body is compiled the first
/// time a render needs it: a compiled body takes ~10 KB, and a template whose data is
/// always complete never needs it.
pub struct CompiledTemplate {
    plain: Program,
    syntax: SyntaxConfig,
    traced_source: Box<str>,
    /// The traced body, once a render needed it; the error if it did not compile.
    traced: OnceLock<Result<Program, String>>,
    /// Placeholder paths it reads, each once, in order of first appearance.
    placeholders: Vec<String>,
    /// The last render needed the traced body (see [`Self::expects_trace`]).
    needed_trace: AtomicBool,
    /// The last render needed more than the quick slice of fuel (see [`Self::is_heavy`]).
    heavy: AtomicBool,
    /// What [`Self::estimated_bytes`] reports, computed once.
    estimated_bytes: usize,
}

/// One of a template's two compiled forms (see [`super::trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Plain,
    Traced,
}

impl CompiledTemplate {
    /// Compiles the plain body; keeps the traced one's source for later.
    pub(crate) fn new(syntax: &SyntaxConfig, plain: String, traced: String) -> Result<Self, Error> {
        let plain = Program::compile(PLAIN_BODY, plain, syntax)?;
        // The traced body, when compiled, is about the plain one's size (a filter call more
        // per placeholder); it is counted from the start so that a cache's bound holds.
        let estimated_bytes =
            std::mem::size_of::<Self>() + 2 * plain.estimated_bytes() + traced.len();
        Ok(Self {
            plain,
            syntax: syntax.clone(),
            traced_source: traced.into_boxed_str(),
            traced: OnceLock::new(),
            placeholders: Vec::new(),
            needed_trace: AtomicBool::new(false),
            heavy: AtomicBool::new(false),
            estimated_bytes,
        })
    }

    /// An estimate of the memory it holds, its traced body counted as compiled whether it
    /// is yet or not: what a cache of compiled templates weighs it by.
    pub fn estimated_bytes(&self) -> usize {
        self.estimated_bytes + self.placeholders.iter().map(String::len).sum::<usize>()
    }

    /// The plain body's source (after instrumentation of what bypasses the formatter).
    pub(crate) fn plain_source(&self) -> &str {
        self.plain.borrow_owner()
    }

    /// A body's compiled code.
    pub(crate) fn body(&self, body: Body) -> Result<&Code<'_>, Error> {
        match body {
            Body::Plain => Ok(self.plain.code()),
            Body::Traced => self.traced_program().map(Program::code),
        }
    }

    fn traced_program(&self) -> Result<&Program, Error> {
        let program = self.traced.get_or_init(|| {
            Program::compile(TRACED_BODY, self.traced_source.to_string(), &self.syntax)
                .map_err(|err| err.to_string())
        });
        program.as_ref().map_err(|message| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("the traced body does not compile: {message}"),
            )
        })
    }

    /// Whether the next render should skip the quick pass on the async runtime and go
    /// straight to a render slot, because the last one ran out of the quick slice of fuel.
    pub(crate) fn is_heavy(&self) -> bool {
        self.heavy.load(Ordering::Relaxed)
    }

    pub(crate) fn remember_heavy(&self, heavy: bool) {
        if self.heavy.load(Ordering::Relaxed) != heavy {
            self.heavy.store(heavy, Ordering::Relaxed);
        }
    }

    /// Whether the next render should start with the traced body, because the last one
    /// needed it. Only a guess, shared by concurrent renders: either body gives the same
    /// reply, the guess only spares a plain pass that would stop.
    pub(crate) fn expects_trace(&self) -> bool {
        self.needed_trace.load(Ordering::Relaxed)
    }

    /// Records whether a traced render found anything to report.
    pub(crate) fn remember_trace(&self, needed: bool) {
        // Written only on a change, so that concurrent renders do not fight over the line.
        if self.needed_trace.load(Ordering::Relaxed) != needed {
            self.needed_trace.store(needed, Ordering::Relaxed);
        }
    }

    pub(crate) fn with_placeholders(self, placeholders: Vec<String>) -> Self {
        Self {
            placeholders,
            ..self
        }
    }

    /// Every placeholder path the template reads, in order of first appearance.
    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("placeholders", &self.placeholders)
            .finish_non_exhaustive()
    }
}
