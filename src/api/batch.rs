//! BatchRender: one template for many recipients, streamed back as each is ready.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::render::render_response;
use super::{ShortcutApi, convert};
use crate::audience::ResumeToken;
use crate::batch::{BatchEvent, BatchRequest, Recipient, RecipientResult, Recipients};
use crate::catalog::ShortcutKey;
use crate::error::{Error, Result};
use crate::ids::{Bang, ContactId, SessionId, ShortcutId, WorkspaceId};
use crate::pb;
use crate::render::Target;

/// Results of a BatchRender call, as they are ready.
pub type BatchRenderStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::BatchRenderResult, Status>> + Send>>;

pub(super) async fn batch_render(
    api: &ShortcutApi,
    r: pb::BatchRenderRequest,
    caller: crate::auth::Principal,
) -> Result<BatchRenderStream> {
    api.limits.check_batch_recipients(r.recipients.len())?;
    let max_depth = api.limits.max_struct_depth;
    let workspace_id = WorkspaceId::parse(&r.workspace_id)?;
    let viewer = super::viewer::viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace_id).await?;
    let target = target(r.template)?;
    // As for a single render: a shortcut the caller may not see is a missing one.
    super::viewer::check_target(api, &workspace_id, &target, &viewer)?;
    let recipients = match r.audience {
        None => {
            if !r.resume_token.is_empty() {
                return Err(Error::invalid(
                    "resume_token",
                    "resumes audience batches only: set `audience` too",
                ));
            }
            Recipients::Listed(recipients(r.recipients, max_depth))
        }
        Some(audience) => {
            if !r.recipients.is_empty() {
                return Err(Error::invalid(
                    "audience",
                    "give either `recipients` or `audience`, not both",
                ));
            }
            use pb::batch_audience::Audience;
            let (field, source) = match audience.audience {
                Some(Audience::Filter(filter)) => ("audience.filter", filter),
                Some(Audience::Name(name)) => (
                    "audience.name",
                    super::audiences::saved(api, &workspace_id, &name)
                        .await
                        .map_err(|e| e.for_field("audience.name"))?
                        .filter,
                ),
                None => {
                    return Err(Error::invalid(
                        "audience",
                        "set `filter` or the `name` of a saved audience",
                    ));
                }
            };
            let filter = super::audiences::filter(api, &workspace_id, field, &source).await?;
            let resume = match r.resume_token.as_str() {
                "" => None,
                token => Some(ResumeToken::decode(token, &workspace_id, filter.source())?),
            };
            Recipients::Audience { filter, resume }
        }
    };
    let agent = convert::struct_scope("agent", r.agent, max_depth)?;
    let batch = BatchRequest {
        workspace_id,
        target,
        locale: r.locale,
        counted_agent: crate::usage::agent_id(viewer.agent_id(), &agent),
        agent,
        strict: r.strict,
        recipients,
    };
    let results = api.batch.start(batch)?;
    let stream: BatchRenderStream = Box::pin(ReceiverStream::new(results).map(batch_event));
    Ok(stream)
}

fn batch_event(event: BatchEvent) -> std::result::Result<pb::BatchRenderResult, Status> {
    use pb::batch_render_result::Outcome;
    match event {
        BatchEvent::Result(result) => Ok(batch_result(*result)),
        BatchEvent::Summary(summary) => Ok(pb::BatchRenderResult {
            outcome: Some(Outcome::Summary(pb::BatchSummary {
                matched: summary.matched,
                skipped: summary.skipped,
                failed: summary.failed,
            })),
            ..Default::default()
        }),
        BatchEvent::Stopped(err) => Err(Status::from(err)),
    }
}

fn target(template: Option<pb::batch_render_request::Template>) -> Result<Target> {
    use pb::batch_render_request::Template;
    match template {
        Some(Template::Id(id)) => Ok(Target::Stored(ShortcutKey::Id(ShortcutId::parse(&id)?))),
        Some(Template::Bang(bang)) => Ok(Target::Stored(ShortcutKey::Bang(Bang::parse(&bang)?))),
        Some(Template::Body(body)) => Ok(Target::Inline(body)),
        None => Err(Error::invalid(
            "id",
            "set the shortcut to render (`id` or `bang`) or an inline template (`body`)",
        )),
    }
}

/// Each recipient with its ids checked and its vars converted; a recipient that cannot be
/// read keeps that error for its own result.
fn recipients(recipients: Vec<pb::BatchRecipient>, max_depth: usize) -> Vec<Result<Recipient>> {
    recipients
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let field = |name: &str| format!("recipients[{i}].{name}");
            Ok(Recipient {
                contact_id: ContactId::parse_as(&field("contact_id"), &r.contact_id)?,
                session_id: SessionId::parse_as(&field("session_id"), &r.session_id)?,
                vars: convert::struct_scope(&field("vars"), r.vars, max_depth)?,
            })
        })
        .collect()
}

fn batch_result(result: RecipientResult) -> pb::BatchRenderResult {
    use pb::batch_render_result::Outcome;
    let outcome = match result.outcome {
        Ok(rendered) => Outcome::Rendered(render_response(rendered)),
        Err(err) => {
            let reason = super::details::reason(&err).to_owned();
            let status = Status::from(err);
            Outcome::Error(pb::RecipientError {
                code: status.code() as i32,
                message: status.message().to_string(),
                reason,
            })
        }
    };
    pb::BatchRenderResult {
        index: result.index,
        outcome: Some(outcome),
        contact_id: result.contact_id.unwrap_or_default(),
        resume_token: result.resume_token.unwrap_or_default(),
    }
}
