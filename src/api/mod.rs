//! The gRPC service: translates requests into domain calls and results into responses.
//! It holds no logic of its own; errors become statuses in [`status`].

pub mod convert;
pub mod status;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::batch::{BatchRenderer, BatchRequest, RecipientResult};
use crate::catalog::search::SearchQuery;
use crate::catalog::{Catalog, ListQuery, NewShortcut, ShortcutChanges, ShortcutKey};
use crate::error::Result;
use crate::pb::{self, shortcut_service_server::ShortcutService};
use crate::render::{RenderOutcome, RenderRequest, Renderer, Target};

pub struct ShortcutApi {
    catalog: Arc<Catalog>,
    renderer: Arc<Renderer>,
    batch: Arc<BatchRenderer>,
}

impl ShortcutApi {
    pub fn new(catalog: Arc<Catalog>, renderer: Arc<Renderer>) -> Self {
        let batch = Arc::new(BatchRenderer::new(
            renderer.clone(),
            crate::batch::DEFAULT_CONCURRENCY,
        ));
        Self {
            catalog,
            renderer,
            batch,
        }
    }

    /// Uses `batch` (and its concurrency bound) for BatchRender.
    pub fn with_batch(self, batch: Arc<BatchRenderer>) -> Self {
        Self { batch, ..self }
    }
}

/// Runs one RPC inside its span and logs its outcome: method, workspace, status, duration.
async fn rpc<T>(
    method: &'static str,
    workspace_id: &str,
    work: impl Future<Output = Result<T>>,
) -> std::result::Result<Response<T>, Status> {
    let span = tracing::info_span!("rpc", method, workspace = %workspace_id);
    let started = Instant::now();
    let result = work.instrument(span.clone()).await;
    let micros = started.elapsed().as_micros() as u64;
    let _entered = span.enter();
    match result {
        Ok(response) => {
            tracing::info!(status = "OK", duration_us = micros, "rpc done");
            Ok(Response::new(response))
        }
        Err(err) => {
            let code = status::code(&err);
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
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("CreateShortcut", &ws, async {
            let new = NewShortcut {
                workspace_id: r.workspace_id,
                bang: r.bang,
                title: r.title,
                body: r.body,
                tags: r.tags,
                disabled: r.disabled,
            };
            Ok(convert::shortcut(&*self.catalog.create(new).await?))
        })
        .await
    }

    async fn get_shortcut(
        &self,
        request: Request<pb::GetShortcutRequest>,
    ) -> std::result::Result<Response<pb::Shortcut>, Status> {
        let r = request.into_inner();
        rpc("GetShortcut", &r.workspace_id, async {
            let key = convert::get_key(r.key.clone())?;
            Ok(convert::shortcut(
                &*self.catalog.get(&r.workspace_id, &key)?,
            ))
        })
        .await
    }

    async fn update_shortcut(
        &self,
        request: Request<pb::UpdateShortcutRequest>,
    ) -> std::result::Result<Response<pb::Shortcut>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("UpdateShortcut", &ws, async {
            let changes = ShortcutChanges {
                bang: r.bang,
                title: r.title,
                body: r.body,
                tags: r.tags.map(|t| t.tags),
                disabled: r.disabled,
            };
            let entry = self
                .catalog
                .update(&r.workspace_id, &r.id, r.version, changes)
                .await?;
            Ok(convert::shortcut(&entry))
        })
        .await
    }

    async fn delete_shortcut(
        &self,
        request: Request<pb::DeleteShortcutRequest>,
    ) -> std::result::Result<Response<pb::DeleteShortcutResponse>, Status> {
        let r = request.into_inner();
        rpc("DeleteShortcut", &r.workspace_id, async {
            self.catalog
                .delete(&r.workspace_id, &r.id, r.version)
                .await?;
            Ok(pb::DeleteShortcutResponse {})
        })
        .await
    }

    async fn list_shortcuts(
        &self,
        request: Request<pb::ListShortcutsRequest>,
    ) -> std::result::Result<Response<pb::ListShortcutsResponse>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("ListShortcuts", &ws, async {
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
        })
        .await
    }

    async fn render_shortcut(
        &self,
        request: Request<pb::RenderShortcutRequest>,
    ) -> std::result::Result<Response<pb::RenderResponse>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("RenderShortcut", &ws, async {
            let key: ShortcutKey = convert::render_key(r.shortcut)?;
            let request = RenderRequest {
                workspace_id: r.workspace_id,
                target: Target::Stored(key),
                contact_id: r.contact_id,
                session_id: r.session_id,
                agent: convert::struct_scope("agent", r.agent)?,
                vars: convert::struct_scope("vars", r.vars)?,
                strict: r.strict,
            };
            Ok(render_response(self.renderer.render(request).await?))
        })
        .await
    }

    async fn render_template(
        &self,
        request: Request<pb::RenderTemplateRequest>,
    ) -> std::result::Result<Response<pb::RenderResponse>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("RenderTemplate", &ws, async {
            let request = RenderRequest {
                workspace_id: r.workspace_id,
                target: Target::Inline(r.body),
                contact_id: r.contact_id,
                session_id: r.session_id,
                agent: convert::struct_scope("agent", r.agent)?,
                vars: convert::struct_scope("vars", r.vars)?,
                strict: r.strict,
            };
            Ok(render_response(self.renderer.render(request).await?))
        })
        .await
    }

    async fn validate_template(
        &self,
        request: Request<pb::ValidateTemplateRequest>,
    ) -> std::result::Result<Response<pb::ValidateTemplateResponse>, Status> {
        let r = request.into_inner();
        rpc("ValidateTemplate", &r.workspace_id, async {
            crate::catalog::validate::workspace_id(&r.workspace_id)?;
            crate::catalog::validate::body(&r.body)?;
            let validation = self.catalog.engine().validate(&r.body);
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
                placeholders: validation.placeholders,
            })
        })
        .await
    }

    async fn search_shortcuts(
        &self,
        request: Request<pb::SearchShortcutsRequest>,
    ) -> std::result::Result<Response<pb::SearchShortcutsResponse>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("SearchShortcuts", &ws, async {
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
        })
        .await
    }

    async fn batch_render(
        &self,
        request: Request<pb::BatchRenderRequest>,
    ) -> std::result::Result<Response<Self::BatchRenderStream>, Status> {
        let r = request.into_inner();
        let ws = r.workspace_id.clone();
        rpc("BatchRender", &ws, async {
            let batch = BatchRequest {
                workspace_id: r.workspace_id,
                target: convert::batch_target(r.template)?,
                locale: r.locale,
                agent: convert::struct_scope("agent", r.agent)?,
                strict: r.strict,
                recipients: convert::recipients(r.recipients),
            };
            let results = self.batch.start(batch)?;
            let stream: BatchRenderStream =
                Box::pin(ReceiverStream::new(results).map(|result| Ok(batch_result(result))));
            Ok(stream)
        })
        .await
    }
}
