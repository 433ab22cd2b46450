//! The gRPC service: translates requests into domain calls and results into responses.
//! It holds no logic of its own: what every call goes through is in [`call`], errors
//! become statuses in [`status`], and the handlers live by area in the modules below.

mod audiences;
mod authoring;
mod batch;
mod call;
pub mod convert;
mod data;
mod details;
pub mod guard;
mod render;
mod search;
mod shortcuts;
pub mod status;
mod usage;
mod viewer;
mod workspaces;

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::batch::BatchRenderer;
use crate::catalog::Catalog;
use crate::catalog::consistency::ConsistencyToken;
use crate::limits::RequestLimits;
use crate::pb::{self, shortcut_service_server::ShortcutService};
use crate::render::Renderer;

pub use batch::BatchRenderStream;

/// What a handler answers.
type Reply<T> = std::result::Result<Response<T>, Status>;

pub struct ShortcutApi {
    catalog: Arc<Catalog>,
    renderer: Arc<Renderer>,
    guard: Arc<guard::Guard>,
    batch: Arc<BatchRenderer>,
    limits: RequestLimits,
    usage_limits: crate::catalog::usage_report::UsageLimits,
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
            usage_limits: Default::default(),
        }
    }

    /// Checks requests against `limits` instead of the defaults.
    pub fn with_limits(self, limits: RequestLimits) -> Self {
        Self { limits, ..self }
    }

    /// Waits until this replica holds what the caller's consistency token names (see
    /// [`crate::catalog::consistency`]); nothing to do without a token.
    async fn catch_up(
        &self,
        token: &str,
        workspace: &crate::ids::WorkspaceId,
    ) -> crate::error::Result<()> {
        match ConsistencyToken::parse(token, workspace)? {
            Some(token) => {
                self.catalog
                    .catch_up(&token, self.limits.consistency_wait)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Bounds GetUsage requests by `limits` instead of the defaults.
    pub fn with_usage_limits(
        self,
        usage_limits: crate::catalog::usage_report::UsageLimits,
    ) -> Self {
        Self {
            usage_limits,
            ..self
        }
    }

    /// Uses `batch` (and its concurrency bound) for BatchRender.
    pub fn with_batch(self, batch: Arc<BatchRenderer>) -> Self {
        Self { batch, ..self }
    }
}

/// Each RPC to its handler.
#[tonic::async_trait]
impl ShortcutService for ShortcutApi {
    async fn create_shortcut(&self, r: Request<pb::CreateShortcutRequest>) -> Reply<pb::Shortcut> {
        self.call(r, |m, _| shortcuts::create_shortcut(self, m))
            .await
    }

    async fn get_shortcut(&self, r: Request<pb::GetShortcutRequest>) -> Reply<pb::Shortcut> {
        self.call_as(r, |m, _, caller| shortcuts::get_shortcut(self, m, caller))
            .await
    }

    async fn update_shortcut(&self, r: Request<pb::UpdateShortcutRequest>) -> Reply<pb::Shortcut> {
        self.call(r, |m, _| shortcuts::update_shortcut(self, m))
            .await
    }

    async fn delete_shortcut(
        &self,
        r: Request<pb::DeleteShortcutRequest>,
    ) -> Reply<pb::DeleteShortcutResponse> {
        self.call(r, |m, _| shortcuts::delete_shortcut(self, m))
            .await
    }

    async fn list_shortcuts(
        &self,
        r: Request<pb::ListShortcutsRequest>,
    ) -> Reply<pb::ListShortcutsResponse> {
        self.call_as(r, |m, _, caller| shortcuts::list_shortcuts(self, m, caller))
            .await
    }

    async fn render_shortcut(
        &self,
        r: Request<pb::RenderShortcutRequest>,
    ) -> Reply<pb::RenderResponse> {
        self.call_as(r, |m, metadata, caller| {
            render::render(self, m, convert::deadline(&metadata), caller)
        })
        .await
    }

    async fn render_template(
        &self,
        r: Request<pb::RenderTemplateRequest>,
    ) -> Reply<pb::RenderResponse> {
        self.call_as(r, |m, metadata, caller| {
            render::render(self, m, convert::deadline(&metadata), caller)
        })
        .await
    }

    async fn validate_template(
        &self,
        r: Request<pb::ValidateTemplateRequest>,
    ) -> Reply<pb::ValidateTemplateResponse> {
        self.call_as(r, |m, _, caller| {
            authoring::validate_template(self, m, caller)
        })
        .await
    }

    async fn invalidate_contact(
        &self,
        r: Request<pb::InvalidateContactRequest>,
    ) -> Reply<pb::InvalidateResponse> {
        self.call(r, |m, _| data::invalidate_contact(self, m)).await
    }

    async fn invalidate_session(
        &self,
        r: Request<pb::InvalidateSessionRequest>,
    ) -> Reply<pb::InvalidateResponse> {
        self.call(r, |m, _| data::invalidate_session(self, m)).await
    }

    async fn create_workspace(
        &self,
        r: Request<pb::CreateWorkspaceRequest>,
    ) -> Reply<pb::Workspace> {
        self.call(r, |m, _| workspaces::create_workspace(self, m))
            .await
    }

    async fn get_workspace(&self, r: Request<pb::GetWorkspaceRequest>) -> Reply<pb::Workspace> {
        self.call(r, |m, _| workspaces::get_workspace(self, m))
            .await
    }

    async fn update_workspace(
        &self,
        r: Request<pb::UpdateWorkspaceRequest>,
    ) -> Reply<pb::Workspace> {
        self.call(r, |m, _| workspaces::update_workspace(self, m))
            .await
    }

    async fn list_workspaces(
        &self,
        r: Request<pb::ListWorkspacesRequest>,
    ) -> Reply<pb::ListWorkspacesResponse> {
        self.call(r, |m, _| workspaces::list_workspaces(self, m))
            .await
    }

    async fn describe_context(
        &self,
        r: Request<pb::DescribeContextRequest>,
    ) -> Reply<pb::DescribeContextResponse> {
        self.call(r, |m, _| authoring::describe_context(self, m))
            .await
    }

    async fn import_shortcuts(
        &self,
        r: Request<pb::ImportShortcutsRequest>,
    ) -> Reply<pb::ImportShortcutsResponse> {
        self.call(r, |m, _| authoring::import_shortcuts(self, m))
            .await
    }

    async fn search_shortcuts(
        &self,
        r: Request<pb::SearchShortcutsRequest>,
    ) -> Reply<pb::SearchShortcutsResponse> {
        self.call_as(r, |m, _, caller| search::search_shortcuts(self, m, caller))
            .await
    }

    async fn batch_render(&self, r: Request<pb::BatchRenderRequest>) -> Reply<BatchRenderStream> {
        self.call_as(r, |m, _, caller| batch::batch_render(self, m, caller))
            .await
    }

    async fn prefetch(&self, r: Request<pb::PrefetchRequest>) -> Reply<pb::PrefetchResponse> {
        self.call(r, |m, _| data::prefetch(self, m)).await
    }

    async fn preview_audience(
        &self,
        r: Request<pb::PreviewAudienceRequest>,
    ) -> Reply<pb::PreviewAudienceResponse> {
        self.call(r, |m, metadata| {
            audiences::preview(self, m, convert::deadline(&metadata))
        })
        .await
    }

    async fn create_audience(&self, r: Request<pb::CreateAudienceRequest>) -> Reply<pb::Audience> {
        self.call(r, |m, _| audiences::create(self, m)).await
    }

    async fn get_audience(&self, r: Request<pb::GetAudienceRequest>) -> Reply<pb::Audience> {
        self.call(r, |m, _| audiences::get(self, m)).await
    }

    async fn list_audiences(
        &self,
        r: Request<pb::ListAudiencesRequest>,
    ) -> Reply<pb::ListAudiencesResponse> {
        self.call(r, |m, _| audiences::list(self, m)).await
    }

    async fn update_audience(&self, r: Request<pb::UpdateAudienceRequest>) -> Reply<pb::Audience> {
        self.call(r, |m, _| audiences::update(self, m)).await
    }

    async fn delete_audience(
        &self,
        r: Request<pb::DeleteAudienceRequest>,
    ) -> Reply<pb::DeleteAudienceResponse> {
        self.call(r, |m, _| audiences::delete(self, m)).await
    }

    async fn list_folders(
        &self,
        r: Request<pb::ListFoldersRequest>,
    ) -> Reply<pb::ListFoldersResponse> {
        self.call_as(r, |m, _, caller| shortcuts::list_folders(self, m, caller))
            .await
    }

    async fn get_usage(&self, r: Request<pb::GetUsageRequest>) -> Reply<pb::GetUsageResponse> {
        self.call(r, |m, _| usage::get_usage(self, m)).await
    }
    async fn import_shortcuts_stream(
        &self,
        r: Request<tonic::Streaming<pb::ImportShortcutsStreamRequest>>,
    ) -> Reply<pb::ImportShortcutsResponse> {
        // The workspace the call acts on is in the first message: authenticate before
        // reading it, then read it and go through the checks every call goes through.
        self.guard.authenticate(r.metadata())?;
        let (metadata, extensions, mut stream) = r.into_parts();
        let first = authoring::next_message(&mut stream, self.limits.stream_idle).await?;
        let options = match first {
            Some(pb::ImportShortcutsStreamRequest {
                part: Some(pb::import_shortcuts_stream_request::Part::Options(options)),
            }) => options,
            _ => {
                return Err(crate::error::Error::invalid(
                    "options",
                    "the first message of the stream must hold the options (workspace, format, …)",
                )
                .into());
            }
        };
        let r = Request::from_parts(
            metadata,
            extensions,
            authoring::ImportStream {
                options,
                rest: stream,
            },
        );
        self.call(r, |m, _| authoring::import_shortcuts_stream(self, m))
            .await
    }
}
