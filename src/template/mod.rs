//! The template engine: minijinja configured for chat text with `<<…>>` placeholders.
//!
//! A template is checked and compiled once, when it is written or loaded
//! ([`Engine::compile`]); a render ([`Engine::render`]) then only runs the compiled
//! instructions against a context, within fuel and output-size limits, and reports which
//! placeholders had no value.

mod analysis;
mod budget;
mod compiled;
mod context;
pub mod dates;
mod engine;
mod filters;
mod formatting;
pub mod include;
mod limits;
mod lint;
pub mod locale;
mod names;
mod reply;
mod settings;
mod trace;
pub mod url;

pub use budget::Control;
pub use compiled::CompiledTemplate;
pub use context::RenderContext;
pub use engine::{
    Engine, QUICK_FUEL, Rendered, TemplateDiagnostic, TemplateWarning, Validation, closest,
};
pub use limits::{RenderLimits, Stopped};
pub use settings::{RenderSettings, SETTINGS_KEY};

/// The top-level names a template may read. Anything else is a typo caught at write time.
pub const SCOPES: &[&str] = &["contact", "session", "agent", "vars", "workspace"];

/// Why a render produced no text.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template ran past one of its bounds (fuel, output size, range size).
    /// `limit` names the setting (`--render-fuel`, `--max-output-bytes`, …).
    #[error("{message}")]
    LimitExceeded {
        limit: &'static str,
        message: String,
    },
    /// The template failed while running (e.g. a filter applied to the wrong kind of value).
    #[error("the template failed at line {line}: {message}")]
    Failed { line: usize, message: String },
    /// The render ran out of time or its caller went away.
    #[error("{0}")]
    Stopped(Stopped),
}
