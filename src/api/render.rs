//! RenderShortcut and RenderTemplate: one body for both, which differ only in what they
//! render (a stored shortcut or an inline template).

use std::time::Instant;

use super::call::Rpc;
use super::{ShortcutApi, convert};
use crate::catalog::ShortcutKey;
use crate::data::{FetchOptions, Purpose};
use crate::error::{Error, Result};
use crate::ids::{Bang, ContactId, SessionId, ShortcutId, WorkspaceId};
use crate::pb;
use crate::render::{LocaleSource, RenderOutcome, RenderRequest, Target};

/// What both render messages carry besides their target.
pub(super) struct RenderFields {
    workspace_id: String,
    contact_id: String,
    session_id: String,
    agent: Option<prost_types::Struct>,
    vars: Option<prost_types::Struct>,
    strict: bool,
    locale: String,
    best_effort: bool,
    /// Only RenderShortcut takes one: an inline template reads no stored record.
    consistency_token: String,
}

/// A render request message: its target, and the rest.
pub(super) trait RenderMessage: Rpc {
    fn split(self) -> (Result<Target>, RenderFields);
}

impl RenderMessage for pb::RenderShortcutRequest {
    fn split(self) -> (Result<Target>, RenderFields) {
        let target = shortcut_key(self.shortcut).map(Target::Stored);
        let rest = RenderFields {
            workspace_id: self.workspace_id,
            contact_id: self.contact_id,
            session_id: self.session_id,
            agent: self.agent,
            vars: self.vars,
            strict: self.strict,
            locale: self.locale,
            best_effort: self.best_effort,
            consistency_token: self.consistency_token,
        };
        (target, rest)
    }
}

impl RenderMessage for pb::RenderTemplateRequest {
    fn split(self) -> (Result<Target>, RenderFields) {
        let rest = RenderFields {
            workspace_id: self.workspace_id,
            contact_id: self.contact_id,
            session_id: self.session_id,
            agent: self.agent,
            vars: self.vars,
            strict: self.strict,
            locale: self.locale,
            best_effort: self.best_effort,
            consistency_token: String::new(),
        };
        (Ok(Target::Inline(self.body)), rest)
    }
}

/// RenderShortcut and RenderTemplate. `deadline` is the caller's (`grpc-timeout`).
pub(super) async fn render<M: RenderMessage>(
    api: &ShortcutApi,
    message: M,
    deadline: Option<Instant>,
    caller: crate::auth::Principal,
) -> Result<pb::RenderResponse> {
    let (target, r) = message.split();
    let max_depth = api.limits.max_struct_depth;
    let workspace_id = WorkspaceId::parse(&r.workspace_id)?;
    let viewer = super::viewer::viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace_id).await?;
    let target = target?;
    // A shortcut the caller may not see is answered as a missing one, before any data is
    // fetched for it.
    super::viewer::check_target(api, &workspace_id, &target, &viewer)?;
    // The one place a render request is built from a call.
    let agent = convert::struct_scope("agent", r.agent, max_depth)?;
    let request = RenderRequest {
        workspace_id,
        target,
        contact_id: ContactId::parse(&r.contact_id)?,
        session_id: SessionId::parse(&r.session_id)?,
        counted_agent: crate::usage::agent_id(viewer.agent_id(), &agent),
        agent,
        vars: convert::struct_scope("vars", r.vars, max_depth)?,
        strict: r.strict,
        locale: r.locale,
        fetch: FetchOptions {
            deadline,
            best_effort: r.best_effort,
            purpose: Purpose::Render,
        },
        // A unary render holds its call's task while it runs (inline, or in
        // `block_in_place`), so a cancelled call cannot be seen before it ends; the render's
        // deadline bounds it instead.
        cancel: None,
    };
    Ok(render_response(api.renderer.render(request).await?))
}

fn shortcut_key(key: Option<pb::render_shortcut_request::Shortcut>) -> Result<ShortcutKey> {
    use pb::render_shortcut_request::Shortcut;
    match key {
        Some(Shortcut::Id(id)) => Ok(ShortcutKey::Id(ShortcutId::parse(&id)?)),
        Some(Shortcut::Bang(bang)) => Ok(ShortcutKey::Bang(Bang::parse(&bang)?)),
        None => Err(Error::invalid(
            "id",
            "set either `id` or `bang` of the shortcut to render",
        )),
    }
}

pub(super) fn render_response(outcome: RenderOutcome) -> pb::RenderResponse {
    pb::RenderResponse {
        text: outcome.text,
        shortcut_id: outcome.shortcut_id,
        shortcut_version: outcome.shortcut_version,
        missing: outcome.missing,
        defaulted: outcome.defaulted,
        data_origins: outcome.data_origins.iter().map(data_origin).collect(),
        variant_locale: outcome.variant_locale,
        format_locale: outcome.format_locale,
        needs_input: outcome.needs_input,
        locale_source: match outcome.locale_source {
            LocaleSource::Request => pb::LocaleSource::Request,
            LocaleSource::Session => pb::LocaleSource::Session,
            LocaleSource::Contact => pb::LocaleSource::Contact,
            LocaleSource::Workspace => pb::LocaleSource::Workspace,
        } as i32,
        attachments: convert::attachments(&outcome.attachments),
        attachment_warnings: outcome
            .attachment_problems
            .into_iter()
            .map(|(field, message)| pb::TemplateWarning {
                field,
                message,
                ..Default::default()
            })
            .collect(),
    }
}

fn data_origin(origin: &crate::data::DataOrigin) -> pb::DataOrigin {
    use crate::data::Origin;
    use pb::data_origin::Origin as Pb;
    let kind = match origin.origin {
        Origin::Cache => Pb::Cache,
        Origin::Upstream => Pb::Upstream,
        Origin::Stale => Pb::Stale,
        Origin::Absent => Pb::Absent,
    };
    pb::DataOrigin {
        scope: origin.scope.name().to_string(),
        origin: kind as i32,
        age_ms: origin.age.as_millis() as u64,
        source: origin.source.clone(),
    }
}
