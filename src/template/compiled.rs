//! A compiled template that owns its source and can be shared across threads.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use minijinja::{Environment, Error, ErrorKind, Template};

use super::trace::{PLAIN_BODY, TRACED_BODY};

/// A template checked and compiled once; rendering it never parses again.
///
/// Each template lives in its own clone of the engine's base environment: the clone shares
/// the filter and global tables (reference counted) and adds only this template's plain
/// body (see the `trace` module), which lets the compiled form own its source without
/// borrowing from a shared registry.
///
/// The traced body is compiled the first time a render needs it, into a clone of that
/// environment: a compiled body takes ~10 KB, and a template whose data is always complete
/// never needs it.
pub struct CompiledTemplate {
    env: Environment<'static>,
    traced_source: Box<str>,
    /// The environment with both bodies, once a render needed the traced one; the error
    /// if that body did not compile.
    traced: OnceLock<Result<Environment<'static>, String>>,
    /// Placeholder paths it reads, each once, in order of first appearance.
    placeholders: Vec<String>,
    /// The last render needed the traced body (see [`Self::expects_trace`]).
    needed_trace: AtomicBool,
}

/// One of a template's two compiled forms (see [`super::trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    Plain,
    Traced,
}

impl CompiledTemplate {
    /// Compiles the plain body; keeps the traced one's source for later.
    pub(crate) fn new(
        base: &Environment<'static>,
        plain: String,
        traced: String,
    ) -> Result<Self, Error> {
        let mut env = base.clone();
        env.add_template_owned(PLAIN_BODY, plain)?;
        Ok(Self {
            env,
            traced_source: traced.into_boxed_str(),
            traced: OnceLock::new(),
            placeholders: Vec::new(),
            needed_trace: AtomicBool::new(false),
        })
    }

    /// A body, and the environment to render it in.
    pub(crate) fn body(
        &self,
        body: Body,
    ) -> Result<(&Environment<'static>, Template<'_, '_>), Error> {
        let (env, name) = match body {
            Body::Plain => (&self.env, PLAIN_BODY),
            Body::Traced => (self.traced_env()?, TRACED_BODY),
        };
        Ok((env, env.get_template(name)?))
    }

    fn traced_env(&self) -> Result<&Environment<'static>, Error> {
        let env = self.traced.get_or_init(|| {
            let mut env = self.env.clone();
            env.add_template_owned(TRACED_BODY, self.traced_source.to_string())
                .map_err(|err| err.to_string())?;
            Ok(env)
        });
        env.as_ref().map_err(|message| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("the traced body does not compile: {message}"),
            )
        })
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
