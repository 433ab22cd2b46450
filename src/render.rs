//! The render pipeline: shortcut + data -> context -> text.
//!
//! Resolves the template (a catalog entry, or an inline body compiled on the spot), fetches
//! the contact and session scopes concurrently, assembles the context and renders it.
//!
//! A render first runs inline on the async runtime with a small slice of fuel
//! ([`crate::template::QUICK_FUEL`]), which every ordinary reply fits in. One that needs more
//! waits for one of a few render slots and runs again with the full fuel off the runtime
//! (`block_in_place`), bounded by `--render-timeout` and the caller's deadline: however
//! hostile a template, the runtime's threads stay free to answer other calls.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use minijinja::Value;

use crate::catalog::{Attachment, Catalog, Entry, ShortcutInput, ShortcutKey, attachments, inputs};
use crate::data::{DataOrigin, DataService, FetchOptions, Origin};
use crate::error::{Error, Result};
use crate::ids::{ContactId, SessionId, WorkspaceId};
use crate::telemetry;
use crate::template::locale::{self, Locale};
use crate::template::{
    CompiledTemplate, Control, Engine, RenderContext, RenderError, RenderSettings, Stopped,
};

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
    pub workspace_id: WorkspaceId,
    pub target: Target,
    pub contact_id: ContactId,
    pub session_id: SessionId,
    pub agent: Value,
    /// Whom a render of a stored shortcut is counted for in its usage
    /// ([`crate::usage::agent_id`]).
    pub counted_agent: String,
    pub vars: Value,
    pub strict: bool,
    /// Deadline and best-effort flag for the contact and session data.
    pub fetch: FetchOptions,
    /// The reader's language tag (`fr-CA`); empty: the workspace's default locale.
    pub locale: String,
    /// Set when the caller went away; a render in progress stops at its next charge.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A rendered reply.
#[derive(Debug, Clone)]
pub struct RenderOutcome {
    pub text: String,
    pub shortcut_id: String,
    pub shortcut_version: u64,
    pub missing: Vec<String>,
    pub defaulted: Vec<String>,
    /// Where the contact and session data came from (one per scope fetched).
    pub data_origins: Vec<DataOrigin>,
    /// The localised body used (`fr`), empty for the default body.
    pub variant_locale: String,
    /// The locale numbers, amounts and dates were formatted for (`fr`).
    pub format_locale: String,
    /// The shortcut's required inputs that the request did not supply (nor a default).
    pub needs_input: Vec<String>,
    /// Where the locale (variant and formatting) came from.
    pub locale_source: LocaleSource,
    /// The stored shortcut's attachments, rendered (those that gave a usable URL).
    pub attachments: Vec<Attachment>,
    /// The attachments left out of `attachments`: the field (`attachments[1].url`) and why.
    pub attachment_problems: Vec<(String, String)>,
}

/// Where a render's locale came from, first found first: the request, the conversation
/// (`session.locale`), the contact (`contact.locale`), the workspace's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocaleSource {
    Request,
    Session,
    Contact,
    Workspace,
}

/// The locale a render uses and where it came from. The session's and contact's come
/// from data already fetched for the render: no upstream call is added. A value that is
/// not a language tag is passed over.
fn resolve_locale(
    requested: &str,
    session: &Value,
    contact: &Value,
    default: &str,
) -> (String, LocaleSource) {
    if !requested.is_empty() {
        return (requested.to_string(), LocaleSource::Request);
    }
    for (scope, source) in [
        (session, LocaleSource::Session),
        (contact, LocaleSource::Contact),
    ] {
        if let Ok(value) = scope.get_attr("locale")
            && let Some(tag) = value.as_str()
            && locale::is_language_tag(tag)
        {
            return (tag.to_string(), source);
        }
    }
    (default.to_string(), LocaleSource::Workspace)
}

pub struct Renderer {
    catalog: Arc<Catalog>,
    data: Arc<DataService>,
    /// Render slots: renders that outgrew the quick slice of fuel run one per slot, so that
    /// they never take every core from the runtime.
    slots: Arc<tokio::sync::Semaphore>,
    /// Where renders of stored shortcuts are recorded (see [`Renderer::record_use`]).
    usage: crate::usage::Recorder,
}

impl Renderer {
    pub fn new(catalog: Arc<Catalog>, data: Arc<DataService>) -> Self {
        // One core is left to the runtime (on one core, the slot shares it).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let slots = Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1)));
        Self {
            catalog,
            data,
            slots,
            usage: crate::usage::Recorder::off(),
        }
    }

    /// Records the renders of stored shortcuts with `usage`.
    pub fn with_usage(self, usage: crate::usage::Recorder) -> Self {
        Self { usage, ..self }
    }

    /// Counts one use of a stored shortcut: for the typeahead's order at once, and in the
    /// shared usage (queued, never waiting).
    pub fn record_use(
        &self,
        workspace_id: &WorkspaceId,
        shortcut_id: &str,
        shortcut_version: u64,
        agent_id: &str,
    ) {
        self.catalog.search().record_use(workspace_id, shortcut_id);
        self.usage
            .record(workspace_id, shortcut_id, shortcut_version, agent_id);
    }

    /// The data service renders read contacts and sessions through.
    pub fn data(&self) -> &Arc<DataService> {
        &self.data
    }

    pub async fn render(&self, request: RenderRequest) -> Result<RenderOutcome> {
        let ws = &request.workspace_id;
        validate_locale(&request.locale)?;
        let workspace = self.catalog.workspace_records().resolve(ws);
        // The shortcut is looked up (and its inputs checked) before any data is fetched;
        // its variant is chosen once the locale is known, which may come from the data.
        let (mut entry, mut inline) = (None, None);
        let (shortcut_id, shortcut_version, inputs): (String, u64, &[ShortcutInput]) =
            match &request.target {
                Target::Stored(key) => {
                    let found = entry.insert(enabled(self.catalog.get(ws, key)?)?);
                    (
                        found.shortcut.id.clone(),
                        found.shortcut.version,
                        &found.shortcut.inputs,
                    )
                }
                Target::Inline(body) => {
                    inline = Some(self.catalog.compile_inline(ws, body)?);
                    (String::new(), 0, &[])
                }
                Target::Resolved(resolved) => {
                    let (id, version) = resolved.identity();
                    (id, version, resolved.inputs())
                }
            };
        // Checked before any data is fetched: a wrong value or (strict) a missing one fails
        // at once. A shortcut without inputs skips this.
        let (vars, needs_input) = if inputs.is_empty() {
            (request.vars, Vec::new())
        } else {
            inputs::apply(inputs, request.vars)?
        };
        if request.strict && !needs_input.is_empty() {
            telemetry::record_render(telemetry::RenderOutcome::StrictFailure);
            return Err(Error::MissingInputs { names: needs_input });
        }

        let (contact, session) = tokio::try_join!(
            self.data.scope(ws, &request.contact_id, request.fetch),
            self.data.scope(ws, &request.session_id, request.fetch),
        )?;
        // Data fresh from its source teaches the workspace's custom keys (write-time
        // "did you mean"); cached data was learned from when it was fetched.
        for scope in [&contact, &session] {
            if let Some(origin) = &scope.origin
                && origin.origin == Origin::Upstream
            {
                self.catalog
                    .custom_keys()
                    .learn(ws, origin.scope, &scope.value);
            }
        }
        let (wanted, locale_source) = resolve_locale(
            &request.locale,
            &session.value,
            &contact.value,
            &workspace.record.default_locale,
        );
        let settings = RenderSettings {
            locale: Locale::find(&wanted).unwrap_or(workspace.locale),
            time_zone: workspace.zone,
            now: chrono::Utc::now(),
        };
        let stored_template: Arc<CompiledTemplate>;
        let (template, variant_locale): (&CompiledTemplate, String) = match &request.target {
            Target::Stored(_) => {
                let (template, tag) = self
                    .catalog
                    .template_for(entry.as_ref().expect("looked up above"), &wanted)?;
                stored_template = template;
                (&stored_template, tag.to_string())
            }
            Target::Inline(_) => (inline.as_ref().expect("compiled above"), String::new()),
            Target::Resolved(ResolvedTemplate::Inline(template)) => (template, String::new()),
            Target::Resolved(ResolvedTemplate::Stored(entry)) => {
                let (template, tag) = self.catalog.template_for(entry, &wanted)?;
                stored_template = template;
                (&stored_template, tag.to_string())
            }
        };
        let data_origins: Vec<DataOrigin> = [contact.origin, session.origin]
            .into_iter()
            .flatten()
            .collect();
        // A stored shortcut's render is recorded for its agent once it succeeded.
        let agent_of_use =
            matches!(request.target, Target::Stored(_)).then(|| request.counted_agent.clone());
        let context = RenderContext {
            contact: contact.value,
            session: session.value,
            agent: request.agent,
            vars,
            workspace: workspace.scope.clone(),
            settings: settings.into_value(),
        };

        for origin in &data_origins {
            telemetry::record_data_lookup(origin.scope, origin.origin);
        }
        let context = context.into_value();
        let stored: Option<&Entry> = match &request.target {
            Target::Stored(_) => entry.as_deref(),
            Target::Resolved(ResolvedTemplate::Stored(entry)) => Some(entry),
            _ => None,
        };
        // Only a shortcut with attachments keeps a handle on the context.
        let attachment_context = stored
            .filter(|e| !e.attachments.is_empty())
            .map(|_| context.clone());
        let mut rendered = self
            .run(
                template,
                context,
                request.fetch.deadline,
                request.cancel.clone(),
            )
            .await
            .inspect_err(|err| {
                telemetry::record_render(match err {
                    RenderError::LimitExceeded { .. } | RenderError::Stopped(_) => {
                        telemetry::RenderOutcome::Limit
                    }
                    RenderError::Failed { .. } => telemetry::RenderOutcome::Error,
                })
            })
            .map_err(|err| match err {
                RenderError::LimitExceeded { limit, message } => {
                    Error::RenderLimit { limit, message }
                }
                RenderError::Failed { line, message } => Error::TemplateFailed { line, message },
                RenderError::Stopped(Stopped::Timeout(limit)) => Error::RenderTimedOut(limit),
                RenderError::Stopped(Stopped::Deadline) => Error::CallerDeadline,
                RenderError::Stopped(Stopped::Cancelled) => Error::Cancelled,
            })?;
        let mut rendered_attachments = attachments::RenderedAttachments::default();
        if let (Some(entry), Some(context)) = (stored, attachment_context) {
            rendered_attachments = attachments::render(
                self.catalog.engine(),
                &entry.shortcut.attachments,
                &entry.attachments,
                &context,
            );
            for (from, into) in [
                (&rendered_attachments.missing, &mut rendered.missing),
                (&rendered_attachments.defaulted, &mut rendered.defaulted),
            ] {
                for path in from {
                    if !into.contains(path) {
                        into.push(path.clone());
                    }
                }
            }
        }
        if request.strict && !rendered.missing.is_empty() {
            telemetry::record_render(telemetry::RenderOutcome::StrictFailure);
            return Err(Error::MissingData {
                paths: rendered.missing,
            });
        }
        if request.strict
            && let Some((field, message)) = rendered_attachments.problems.first()
        {
            telemetry::record_render(telemetry::RenderOutcome::StrictFailure);
            return Err(Error::AttachmentFailed {
                field: field.clone(),
                message: message.clone(),
            });
        }
        telemetry::record_render(if rendered.missing.is_empty() {
            telemetry::RenderOutcome::Ok
        } else {
            telemetry::RenderOutcome::Missing
        });
        if !rendered.filter_failures.is_empty() {
            tracing::debug!(failures = ?rendered.filter_failures, "filters left placeholders empty");
        }
        if let Some(agent) = &agent_of_use {
            self.record_use(ws, &shortcut_id, shortcut_version, agent);
        }
        Ok(RenderOutcome {
            text: rendered.text,
            shortcut_id,
            shortcut_version,
            missing: rendered.missing,
            defaulted: rendered.defaulted,
            data_origins,
            variant_locale,
            format_locale: settings.locale.tag.to_string(),
            needs_input,
            locale_source,
            attachments: rendered_attachments.attachments,
            attachment_problems: rendered_attachments.problems,
        })
    }
}

impl Renderer {
    /// Runs the engine: inline within the quick slice of fuel, else in a render slot off
    /// the runtime, until `--render-timeout` or the caller's deadline, whichever is first.
    async fn run(
        &self,
        template: &CompiledTemplate,
        context: Value,
        caller_deadline: Option<Instant>,
        cancel: Option<Arc<AtomicBool>>,
    ) -> std::result::Result<crate::template::Rendered, RenderError> {
        let started = Instant::now();
        let engine: &Engine = self.catalog.engine();
        if let Some(rendered) = engine.render_quick(template, context.clone())? {
            return Ok(rendered);
        }
        let timeout = engine.limits().render_timeout;
        let deadline = match caller_deadline {
            Some(at) if at < started + timeout => (at, Stopped::Deadline),
            _ => (started + timeout, Stopped::Timeout(timeout)),
        };
        let _slot = tokio::time::timeout_at(deadline.0.into(), self.slots.acquire())
            .await
            .map_err(|_| RenderError::Stopped(deadline.1.clone()))?
            .map_err(|_| RenderError::Failed {
                line: 0,
                message: "the render slots were closed".into(),
            })?;
        let control = Control {
            deadline: Some(deadline),
            cancel,
        };
        let render = || engine.render_full(template, context, control);
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(render),
            // A single-threaded runtime (tools, tests) has no other thread to hand its
            // tasks to; the render is bounded by its deadline all the same.
            _ => render(),
        }
    }
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

    /// The shortcut id and version (empty and 0 for an inline body).
    fn identity(&self) -> (String, u64) {
        match self {
            ResolvedTemplate::Stored(entry) => (entry.shortcut.id.clone(), entry.shortcut.version),
            ResolvedTemplate::Inline(_) => (String::new(), 0),
        }
    }

    /// The inputs of a stored shortcut (none for an inline body).
    fn inputs(&self) -> &[ShortcutInput] {
        match self {
            ResolvedTemplate::Stored(entry) => &entry.shortcut.inputs,
            ResolvedTemplate::Inline(_) => &[],
        }
    }
}

impl Renderer {
    /// Looks up (or compiles) what `target` names, once, with the checks a render makes:
    /// unknown shortcut, disabled shortcut, template errors.
    pub fn resolve(&self, workspace_id: &WorkspaceId, target: Target) -> Result<ResolvedTemplate> {
        match target {
            Target::Stored(key) => Ok(ResolvedTemplate::Stored(enabled(
                self.catalog.get(workspace_id, &key)?,
            )?)),
            Target::Inline(body) => Ok(ResolvedTemplate::Inline(Arc::new(
                self.catalog.compile_inline(workspace_id, &body)?,
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
        return Err(Error::ShortcutDisabled {
            bang: entry.shortcut.bang.clone(),
        });
    }
    Ok(entry)
}

/// The reader's language tag, checked once per request; empty means the workspace's default.
/// Only the start of a long value is quoted back.
pub(crate) fn validate_locale(locale: &str) -> Result<()> {
    if locale.is_empty() || locale::is_language_tag(locale) {
        return Ok(());
    }
    Err(Error::invalid(
        "locale",
        format!(
            "{} is not a language tag; use e.g. \"fr\" or \"fr-CA\"",
            crate::error::quote(locale)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::validate_locale;

    #[test]
    fn a_bad_locale_is_named_and_only_its_start_quoted() {
        assert!(validate_locale("").is_ok());
        assert!(validate_locale("fr-CA").is_ok());
        let message = validate_locale("not a tag").unwrap_err().to_string();
        assert_eq!(
            message,
            "locale: \"not a tag\" is not a language tag; use e.g. \"fr\" or \"fr-CA\""
        );
        let huge = "x".repeat(500_000);
        let message = validate_locale(&huge).unwrap_err().to_string();
        assert!(message.starts_with("locale: \"xxx"), "{message}");
        assert!(message.contains("(500000 bytes in all)"), "{message}");
        assert!(message.len() < 300, "{} bytes", message.len());
    }
}
