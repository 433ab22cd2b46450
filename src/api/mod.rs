//! The gRPC service: translates requests into domain calls and results into responses.
//! It holds no logic of its own; errors become statuses in [`status`].

pub mod convert;
pub mod guard;
pub mod status;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::auth::Role;
use crate::batch::{BatchRenderer, BatchRequest, RecipientResult};
use crate::catalog::search::SearchQuery;
use crate::catalog::{Catalog, ListQuery, NewShortcut, ShortcutChanges, ShortcutKey};
use crate::data::{FetchOptions, ScopeKind};
use crate::error::Result;
use crate::limits::RequestLimits;
use crate::pb::{self, shortcut_service_server::ShortcutService};
use crate::render::{RenderOutcome, RenderRequest, Renderer, Target};
use crate::telemetry::{self, RpcMethod};
use crate::workspace::{NewWorkspace, WorkspaceChanges};

pub struct ShortcutApi {
    catalog: Arc<Catalog>,
    renderer: Arc<Renderer>,
    guard: Arc<guard::Guard>,
    batch: Arc<BatchRenderer>,
    limits: RequestLimits,
}

impl ShortcutApi {
    pub fn new(catalog: Arc<Catalog>, renderer: Arc<Renderer>, guard: Arc<guard::Guard>) -> Self {
        let batch = Arc::new(BatchRenderer::new(
            renderer.clone(),
            crate::batch::DEFAULT_CONCURRENCY,
        ));
        Self {
            catalog,
            renderer,
            guard,
            batch,
            limits: RequestLimits::default(),
        }
    }

    /// Checks requests against `limits` instead of the defaults.
    pub fn with_limits(self, limits: RequestLimits) -> Self {
        Self { limits, ..self }
    }

    /// Uses `batch` (and its concurrency bound) for BatchRender.
    pub fn with_batch(self, batch: Arc<BatchRenderer>) -> Self {
        Self { batch, ..self }
    }
}

impl ShortcutApi {
    /// InvalidateContact and InvalidateSession: the same call for either scope.
    async fn invalidate(
        &self,
        method: &'static RpcMethod,
        metadata: &tonic::metadata::MetadataMap,
        kind: ScopeKind,
        workspace_id: &str,
        id: &str,
    ) -> std::result::Result<Response<pb::InvalidateResponse>, Status> {
        rpc(
            &self.guard,
            method,
            metadata,
            workspace_id,
            Role::Admin,
            async {
                self.renderer
                    .data()
                    .invalidate(kind, workspace_id, id)
                    .await?;
                Ok(pb::InvalidateResponse {})
            },
        )
        .await
    }
}

/// Runs one RPC inside its span, after admission and authorisation, and logs its outcome:
/// method, workspace, status, duration.
async fn rpc<T>(
    guard: &guard::Guard,
    method: &'static RpcMethod,
    metadata: &tonic::metadata::MetadataMap,
    workspace_id: &str,
    needed: Role,
    work: impl Future<Output = Result<T>>,
) -> std::result::Result<Response<T>, Status> {
    let traceparent = metadata
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(telemetry::valid_traceparent)
        .map(str::to_owned);
    let span = tracing::info_span!(
        "rpc",
        method = method.name(),
        workspace = %workspace_id,
        traceparent = traceparent.as_deref().unwrap_or_default(),
    );
    let started = Instant::now();
    // Boxed once here, the (large) state machine of the work is moved by pointer through the
    // wrappers below rather than copied at each layer.
    let work = Box::pin(work);
    let result = telemetry::with_traceparent(
        traceparent,
        async {
            let _slot = guard.admit()?;
            guard
                .authenticate(metadata)?
                .authorize(workspace_id, needed)?;
            work.await
        }
        .instrument(span.clone()),
    )
    .await;
    let took = started.elapsed();
    let micros = took.as_micros() as u64;
    let _entered = span.enter();
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(err) => status::code(err),
    };
    method.record(code, took);
    match result {
        Ok(response) => {
            tracing::info!(status = "OK", duration_us = micros, "rpc done");
            Ok(Response::new(response))
        }
        Err(err) => {
            if code == tonic::Code::Internal {
                tracing::error!(status = ?code, duration_us = micros, error = %err, "rpc failed");
            } else {
                tracing::info!(status = ?code, duration_us = micros, error = %err, "rpc done");
            }
            Err(err.into())
        }
    }
}

fn render_response(outcome: RenderOutcome) -> pb::RenderResponse {
    pb::RenderResponse {
        text: outcome.text,
        shortcut_id: outcome.shortcut_id,
        shortcut_version: outcome.shortcut_version,
        missing: outcome.missing,
        defaulted: outcome.defaulted,
        data_origins: outcome
            .data_origins
            .iter()
            .map(convert::data_origin)
            .collect(),
        variant_locale: outcome.variant_locale,
        format_locale: outcome.format_locale,
    }
}

/// Results of a BatchRender call, as they are ready.
pub type BatchRenderStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::BatchRenderResult, Status>> + Send>>;

fn batch_result(result: RecipientResult) -> pb::BatchRenderResult {
    use pb::batch_render_result::Outcome;
    let outcome = match result.outcome {
        Ok(rendered) => Outcome::Rendered(render_response(rendered)),
        Err(err) => {
            let status = Status::from(err);
            Outcome::Error(pb::RecipientError {
                code: status.code() as i32,
                message: status.message().to_string(),
            })
        }
    };
    pb::BatchRenderResult {
        index: result.index,
        outcome: Some(outcome),
    }
}

#[tonic::async_trait]
impl ShortcutService for ShortcutApi {
    type BatchRenderStream = BatchRenderStream;

    async fn create_shortcut(
        &self,
        request: Request<pb::CreateShortcutRequest>,
    ) -> std::result::Result<Response<pb::Shortcut>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("CreateShortcut"),
            &metadata,
            &ws,
            Role::Admin,
            async {
                let new = NewShortcut {
                    workspace_id: r.workspace_id,
                    bang: r.bang,
                    title: r.title,
                    body: r.body,
                    tags: r.tags,
                    disabled: r.disabled,
                    variants: r.variants.into_iter().collect(),
                };
                Ok(convert::shortcut(&*self.catalog.create(new).await?))
            },
        )
        .await
    }

    async fn get_shortcut(
        &self,
        request: Request<pb::GetShortcutRequest>,
    ) -> std::result::Result<Response<pb::Shortcut>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("GetShortcut"),
            &metadata,
            &r.workspace_id,
            Role::Render,
            async {
                let key = convert::get_key(r.key.clone())?;
                Ok(convert::shortcut(
                    &*self.catalog.get(&r.workspace_id, &key)?,
                ))
            },
        )
        .await
    }

    async fn update_shortcut(
        &self,
        request: Request<pb::UpdateShortcutRequest>,
    ) -> std::result::Result<Response<pb::Shortcut>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("UpdateShortcut"),
            &metadata,
            &ws,
            Role::Admin,
            async {
                let changes = ShortcutChanges {
                    bang: r.bang,
                    title: r.title,
                    body: r.body,
                    tags: r.tags.map(|t| t.tags),
                    disabled: r.disabled,
                    variants: r.variants.map(|v| v.variants.into_iter().collect()),
                };
                let entry = self
                    .catalog
                    .update(&r.workspace_id, &r.id, r.version, changes)
                    .await?;
                Ok(convert::shortcut(&entry))
            },
        )
        .await
    }

    async fn delete_shortcut(
        &self,
        request: Request<pb::DeleteShortcutRequest>,
    ) -> std::result::Result<Response<pb::DeleteShortcutResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("DeleteShortcut"),
            &metadata,
            &r.workspace_id,
            Role::Admin,
            async {
                self.catalog
                    .delete(&r.workspace_id, &r.id, r.version)
                    .await?;
                Ok(pb::DeleteShortcutResponse {})
            },
        )
        .await
    }

    async fn list_shortcuts(
        &self,
        request: Request<pb::ListShortcutsRequest>,
    ) -> std::result::Result<Response<pb::ListShortcutsResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("ListShortcuts"),
            &metadata,
            &ws,
            Role::Render,
            async {
                let query = ListQuery {
                    page_size: r.page_size,
                    page_token: r.page_token,
                    tags: r.tags,
                    include_disabled: r.include_disabled,
                };
                let page = self.catalog.list(&r.workspace_id, &query)?;
                Ok(pb::ListShortcutsResponse {
                    shortcuts: page
                        .shortcuts
                        .iter()
                        .map(|e| convert::shortcut(e))
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            },
        )
        .await
    }

    async fn render_shortcut(
        &self,
        request: Request<pb::RenderShortcutRequest>,
    ) -> std::result::Result<Response<pb::RenderResponse>, Status> {
        let deadline = convert::deadline(request.metadata());
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("RenderShortcut"),
            &metadata,
            &ws,
            Role::Render,
            async {
                let key: ShortcutKey = convert::render_key(r.shortcut)?;
                let request = RenderRequest {
                    workspace_id: r.workspace_id,
                    target: Target::Stored(key),
                    contact_id: r.contact_id,
                    session_id: r.session_id,
                    agent: convert::struct_scope("agent", r.agent, self.limits.max_struct_depth)?,
                    vars: convert::struct_scope("vars", r.vars, self.limits.max_struct_depth)?,
                    strict: r.strict,
                    locale: r.locale,
                    fetch: FetchOptions {
                        deadline,
                        best_effort: r.best_effort,
                    },
                    cancel: None,
                };
                Ok(render_response(self.renderer.render(request).await?))
            },
        )
        .await
    }

    async fn render_template(
        &self,
        request: Request<pb::RenderTemplateRequest>,
    ) -> std::result::Result<Response<pb::RenderResponse>, Status> {
        let deadline = convert::deadline(request.metadata());
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("RenderTemplate"),
            &metadata,
            &ws,
            Role::Render,
            async {
                let request = RenderRequest {
                    workspace_id: r.workspace_id,
                    target: Target::Inline(r.body),
                    contact_id: r.contact_id,
                    session_id: r.session_id,
                    agent: convert::struct_scope("agent", r.agent, self.limits.max_struct_depth)?,
                    vars: convert::struct_scope("vars", r.vars, self.limits.max_struct_depth)?,
                    strict: r.strict,
                    locale: r.locale,
                    fetch: FetchOptions {
                        deadline,
                        best_effort: r.best_effort,
                    },
                    cancel: None,
                };
                Ok(render_response(self.renderer.render(request).await?))
            },
        )
        .await
    }

    async fn validate_template(
        &self,
        request: Request<pb::ValidateTemplateRequest>,
    ) -> std::result::Result<Response<pb::ValidateTemplateResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("ValidateTemplate"),
            &metadata,
            &r.workspace_id,
            Role::Render,
            async {
                crate::catalog::validate::workspace_id(&r.workspace_id)?;
                crate::catalog::validate::body(
                    &r.body,
                    self.catalog.engine().limits().max_template_bytes,
                )?;
                let validation = self.catalog.engine().validate(&r.body);
                let scopes = convert::scopes(validation.by_scope());
                Ok(pb::ValidateTemplateResponse {
                    valid: validation.errors.is_empty(),
                    errors: validation
                        .errors
                        .into_iter()
                        .map(|e| pb::TemplateError {
                            line: e.line,
                            column: e.column,
                            message: e.message,
                        })
                        .collect(),
                    scopes,
                    placeholders: validation.placeholders,
                })
            },
        )
        .await
    }

    // --- Data cache (issue 3) ---

    async fn invalidate_contact(
        &self,
        request: Request<pb::InvalidateContactRequest>,
    ) -> std::result::Result<Response<pb::InvalidateResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.invalidate(
            telemetry::rpc_method!("InvalidateContact"),
            &metadata,
            ScopeKind::Contact,
            &r.workspace_id,
            &r.id,
        )
        .await
    }

    async fn invalidate_session(
        &self,
        request: Request<pb::InvalidateSessionRequest>,
    ) -> std::result::Result<Response<pb::InvalidateResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        self.invalidate(
            telemetry::rpc_method!("InvalidateSession"),
            &metadata,
            ScopeKind::Session,
            &r.workspace_id,
            &r.id,
        )
        .await
    }

    async fn create_workspace(
        &self,
        request: Request<pb::CreateWorkspaceRequest>,
    ) -> std::result::Result<Response<pb::Workspace>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("CreateWorkspace"),
            &metadata,
            &ws,
            Role::Admin,
            async {
                let new = NewWorkspace {
                    id: r.workspace_id,
                    display_name: r.display_name,
                    default_locale: r.default_locale,
                    time_zone: r.time_zone,
                };
                let entry = self.catalog.workspace_records().create(new).await?;
                Ok(convert::workspace(&entry.record))
            },
        )
        .await
    }

    async fn get_workspace(
        &self,
        request: Request<pb::GetWorkspaceRequest>,
    ) -> std::result::Result<Response<pb::Workspace>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("GetWorkspace"),
            &metadata,
            &r.workspace_id,
            Role::Render,
            async {
                let entry = self.catalog.workspace_records().get(&r.workspace_id)?;
                Ok(convert::workspace(&entry.record))
            },
        )
        .await
    }

    async fn update_workspace(
        &self,
        request: Request<pb::UpdateWorkspaceRequest>,
    ) -> std::result::Result<Response<pb::Workspace>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("UpdateWorkspace"),
            &metadata,
            &ws,
            Role::Admin,
            async {
                let changes = WorkspaceChanges {
                    display_name: r.display_name,
                    default_locale: r.default_locale,
                    time_zone: r.time_zone,
                };
                let entry = self
                    .catalog
                    .workspace_records()
                    .update(&r.workspace_id, r.version, changes)
                    .await?;
                Ok(convert::workspace(&entry.record))
            },
        )
        .await
    }

    async fn list_workspaces(
        &self,
        request: Request<pb::ListWorkspacesRequest>,
    ) -> std::result::Result<Response<pb::ListWorkspacesResponse>, Status> {
        // Lists every workspace: only for a token that is not bound to particular ones.
        let (metadata, _, _) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("ListWorkspaces"),
            &metadata,
            "",
            Role::Admin,
            async {
                let workspaces = self.catalog.workspace_records().list();
                Ok(pb::ListWorkspacesResponse {
                    workspaces: workspaces
                        .iter()
                        .map(|e| convert::workspace(&e.record))
                        .collect(),
                })
            },
        )
        .await
    }

    async fn describe_context(
        &self,
        request: Request<pb::DescribeContextRequest>,
    ) -> std::result::Result<Response<pb::DescribeContextResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("DescribeContext"),
            &metadata,
            &r.workspace_id,
            Role::Render,
            async {
                let fields = crate::describe::describe(
                    &self.catalog,
                    self.renderer.data(),
                    &r.workspace_id,
                    &r.contact_id,
                    &r.session_id,
                )
                .await?;
                Ok(pb::DescribeContextResponse {
                    fields: fields.into_iter().map(convert::context_field).collect(),
                })
            },
        )
        .await
    }

    async fn import_shortcuts(
        &self,
        request: Request<pb::ImportShortcutsRequest>,
    ) -> std::result::Result<Response<pb::ImportShortcutsResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        rpc(
            &self.guard,
            telemetry::rpc_method!("ImportShortcuts"),
            &metadata,
            &r.workspace_id,
            Role::Admin,
            async {
                let format = convert::import_format(r.format)?;
                let report = crate::import::import(
                    &self.catalog,
                    &r.workspace_id,
                    format,
                    &r.content,
                    r.dry_run,
                )
                .await?;
                Ok(convert::import_report(report))
            },
        )
        .await
    }

    async fn search_shortcuts(
        &self,
        request: Request<pb::SearchShortcutsRequest>,
    ) -> std::result::Result<Response<pb::SearchShortcutsResponse>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("SearchShortcuts"),
            &metadata,
            &ws,
            Role::Render,
            async {
                self.limits.check_search_query(&r.query)?;
                let query = SearchQuery {
                    text: r.query,
                    tags: r.tags,
                    limit: r.limit,
                    include_disabled: r.include_disabled,
                };
                let hits = self.catalog.search().search(&r.workspace_id, &query)?;
                Ok(pb::SearchShortcutsResponse {
                    matches: hits.into_iter().map(convert::shortcut_match).collect(),
                })
            },
        )
        .await
    }

    async fn batch_render(
        &self,
        request: Request<pb::BatchRenderRequest>,
    ) -> std::result::Result<Response<Self::BatchRenderStream>, Status> {
        let (metadata, _, r) = request.into_parts();
        let ws = r.workspace_id.clone();
        rpc(
            &self.guard,
            telemetry::rpc_method!("BatchRender"),
            &metadata,
            &ws,
            Role::Render,
            async {
                self.limits.check_batch_recipients(r.recipients.len())?;
                let batch = BatchRequest {
                    workspace_id: r.workspace_id,
                    target: convert::batch_target(r.template)?,
                    locale: r.locale,
                    agent: convert::struct_scope("agent", r.agent, self.limits.max_struct_depth)?,
                    strict: r.strict,
                    recipients: convert::recipients(r.recipients, self.limits.max_struct_depth),
                };
                let results = self.batch.start(batch)?;
                let stream: BatchRenderStream =
                    Box::pin(ReceiverStream::new(results).map(|result| Ok(batch_result(result))));
                Ok(stream)
            },
        )
        .await
    }
}
