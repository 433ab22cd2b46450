//! The render pipeline: shortcut + data -> context -> text.
//!
//! Resolves the template (a catalog entry, or an inline body compiled on the spot), fetches
//! the contact and session scopes concurrently, assembles the context and renders it.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;

use crate::catalog::{Catalog, Entry, ShortcutKey};
use crate::data::{DataService, ScopeKind};
use crate::error::{Error, Result};
use crate::template::{CompiledTemplate, RenderError};

/// What to render.
#[derive(Debug, Clone)]
pub enum Target {
    Stored(ShortcutKey),
    Inline(String),
    /// Looked up or compiled once for many renders (see [`Renderer::resolve`]).
    Resolved(ResolvedTemplate),
}

/// A render request in domain terms.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub workspace_id: String,
    pub target: Target,
    pub contact_id: String,
    pub session_id: String,
    pub agent: Value,
    pub vars: Value,
    pub strict: bool,
}

/// A rendered reply.
#[derive(Debug, Clone)]
pub struct RenderOutcome {
    pub text: String,
    pub shortcut_id: String,
    pub shortcut_version: u64,
    pub missing: Vec<String>,
    pub defaulted: Vec<String>,
}

pub struct Renderer {
    catalog: Arc<Catalog>,
    data: Arc<DataService>,
}

impl Renderer {
    pub fn new(catalog: Arc<Catalog>, data: Arc<DataService>) -> Self {
        Self { catalog, data }
    }

    pub async fn render(&self, request: RenderRequest) -> Result<RenderOutcome> {
        crate::catalog::validate::workspace_id(&request.workspace_id)?;
        let ws = request.workspace_id.as_str();
        let (entry, inline);
        let (template, shortcut_id, shortcut_version): (&CompiledTemplate, String, u64) =
            match &request.target {
                Target::Stored(key) => {
                    entry = enabled(self.catalog.get(ws, key)?)?;
                    (
                        &entry.template,
                        entry.shortcut.id.clone(),
                        entry.shortcut.version,
                    )
                }
                Target::Inline(body) => {
                    inline = self.catalog.compile(body)?;
                    (&inline, String::new(), 0)
                }
                Target::Resolved(resolved) => resolved.parts(),
            };

        let (contact, session) = tokio::try_join!(
            self.data.scope(ScopeKind::Contact, ws, &request.contact_id),
            self.data.scope(ScopeKind::Session, ws, &request.session_id),
        )?;
        let mut context = BTreeMap::new();
        context.insert("contact", contact);
        context.insert("session", session);
        context.insert("agent", request.agent);
        context.insert("vars", request.vars);
        context.insert("workspace", workspace_scope(ws));

        let rendered = self
            .catalog
            .engine()
            .render(template, Value::from(context))
            .map_err(|err| match err {
                RenderError::LimitExceeded(message) => Error::ResourceExhausted(message),
                RenderError::Failed { line, message } => Error::FailedPrecondition(format!(
                    "the template failed at line {line}: {message}"
                )),
            })?;
        if request.strict && !rendered.missing.is_empty() {
            return Err(Error::MissingData(rendered.missing));
        }
        if let Target::Stored(_) = request.target {
            self.catalog.search().record_use(ws, &shortcut_id);
        }
        Ok(RenderOutcome {
            text: rendered.text,
            shortcut_id,
            shortcut_version,
            missing: rendered.missing,
            defaulted: rendered.defaulted,
        })
    }
}

fn workspace_scope(workspace_id: &str) -> Value {
    let mut scope = BTreeMap::new();
    scope.insert("id", Value::from(workspace_id));
    Value::from(scope)
}

/// A template ready to render many times: a stored shortcut pinned at one version, or an
/// inline body compiled once.
#[derive(Debug, Clone)]
pub enum ResolvedTemplate {
    Stored(Arc<Entry>),
    Inline(Arc<CompiledTemplate>),
}

impl ResolvedTemplate {
    /// The stored shortcut's id; `None` for an inline body.
    pub fn shortcut_id(&self) -> Option<&str> {
        match self {
            ResolvedTemplate::Stored(entry) => Some(&entry.shortcut.id),
            ResolvedTemplate::Inline(_) => None,
        }
    }

    fn parts(&self) -> (&CompiledTemplate, String, u64) {
        match self {
            ResolvedTemplate::Stored(entry) => (
                &entry.template,
                entry.shortcut.id.clone(),
                entry.shortcut.version,
            ),
            ResolvedTemplate::Inline(template) => (template, String::new(), 0),
        }
    }
}

impl Renderer {
    /// Looks up (or compiles) what `target` names, once, with the checks a render makes:
    /// unknown shortcut, disabled shortcut, template errors.
    pub fn resolve(&self, workspace_id: &str, target: Target) -> Result<ResolvedTemplate> {
        crate::catalog::validate::workspace_id(workspace_id)?;
        match target {
            Target::Stored(key) => Ok(ResolvedTemplate::Stored(enabled(
                self.catalog.get(workspace_id, &key)?,
            )?)),
            Target::Inline(body) => Ok(ResolvedTemplate::Inline(Arc::new(
                self.catalog.compile(&body)?,
            ))),
            Target::Resolved(resolved) => Ok(resolved),
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
}

/// A shortcut that may be rendered: disabled ones may not.
fn enabled(entry: Arc<Entry>) -> Result<Arc<Entry>> {
    if entry.shortcut.disabled {
        return Err(Error::FailedPrecondition(format!(
            "shortcut !{} is disabled; enable it before rendering",
            entry.shortcut.bang
        )));
    }
    Ok(entry)
}
