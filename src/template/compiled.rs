//! A compiled template that owns its source and can be shared across threads.

use minijinja::{Environment, Template};

/// The name under which a template sits in its private environment.
const NAME: &str = "body";

/// A template checked and compiled once; rendering it never parses again.
///
/// Each template lives in its own clone of the engine's base environment: the clone shares
/// the filter and global tables (reference counted) and adds only this one template, which
/// lets the compiled form own its source without borrowing from a shared registry.
pub struct CompiledTemplate {
    env: Environment<'static>,
    /// Placeholder paths it reads, each once, in order of first appearance.
    placeholders: Vec<String>,
}

impl CompiledTemplate {
    pub(crate) fn new(
        base: &Environment<'static>,
        instrumented: String,
        placeholders: Vec<String>,
    ) -> Result<Self, minijinja::Error> {
        let mut env = base.clone();
        env.add_template_owned(NAME, instrumented)?;
        Ok(Self { env, placeholders })
    }

    pub(crate) fn template(&self) -> Result<Template<'_, '_>, minijinja::Error> {
        self.env.get_template(NAME)
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
