//! What every RPC of ours goes through, in one place: its tracing span (method, workspace,
//! caller's `traceparent`), admission, authentication, per-workspace authorisation, the
//! workspace's shortcuts loaded (and kept loaded) for the calls that read them, the caller's
//! deadline made known to the work below, the call metrics and the closing log line.
//!
//! This runs after tonic has decoded the message rather than as a tower layer in front of
//! it, because the workspace the caller acts on is a field of the message: the span, the
//! authorisation and the refusal log lines all name it. A layer in front would also count
//! and log calls whose message failed to decode, which today are neither.
//!
//! Handlers (by area, in the sibling modules) take the decoded message, not the tonic
//! request: [`super`] hands each one its message through [`ShortcutApi::call`], and only
//! after the checks. The method name, the workspace and the role an RPC needs are fixed per
//! request type in the table below, so no handler can skip a check or mislabel its metrics.

use std::future::Future;
use std::time::Instant;

use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{ShortcutApi, status};
use crate::auth::{Principal, Role};
use crate::error::Result;
use crate::pb;
use crate::telemetry::{self, RpcMethod};

/// The target of the call log lines, as operators filter them (`RUST_LOG=shortcuts::api=...`).
const TARGET: &str = "shortcuts::api";

/// The request message of one RPC: which method it is and what it needs.
pub(super) trait Rpc: Send + 'static {
    /// The least role a token needs for this call.
    const ROLE: Role;
    /// Whether it reads the workspace's shortcuts: they are loaded first (see
    /// `Catalog::workspace`) and kept in memory until the call ends.
    const SHORTCUTS: bool;
    /// The method's name and metric series.
    fn method() -> &'static RpcMethod;
    /// The workspace this call acts on, as authorised and logged.
    fn workspace_id(&self) -> &str;
}

/// Who may call what: one line per RPC.
macro_rules! rpcs {
    ($($message:ident => $name:literal, $role:ident, $shortcuts:literal;)*) => {$(
        impl Rpc for pb::$message {
            const ROLE: Role = Role::$role;
            const SHORTCUTS: bool = $shortcuts;
            fn method() -> &'static RpcMethod {
                telemetry::rpc_method!($name)
            }
            fn workspace_id(&self) -> &str {
                &self.workspace_id
            }
        }
    )*};
}

rpcs! {
    CreateShortcutRequest => "CreateShortcut", Admin, true;
    GetShortcutRequest => "GetShortcut", Render, true;
    UpdateShortcutRequest => "UpdateShortcut", Admin, true;
    DeleteShortcutRequest => "DeleteShortcut", Admin, true;
    ListShortcutsRequest => "ListShortcuts", Render, true;
    RenderShortcutRequest => "RenderShortcut", Render, true;
    RenderTemplateRequest => "RenderTemplate", Render, true;
    ValidateTemplateRequest => "ValidateTemplate", Render, true;
    InvalidateContactRequest => "InvalidateContact", Admin, false;
    InvalidateSessionRequest => "InvalidateSession", Admin, false;
    CreateWorkspaceRequest => "CreateWorkspace", Admin, false;
    GetWorkspaceRequest => "GetWorkspace", Render, false;
    UpdateWorkspaceRequest => "UpdateWorkspace", Admin, false;
    DescribeContextRequest => "DescribeContext", Render, false;
    ImportShortcutsRequest => "ImportShortcuts", Admin, true;
    SearchShortcutsRequest => "SearchShortcuts", Render, true;
    BatchRenderRequest => "BatchRender", Render, true;
    PrefetchRequest => "Prefetch", Render, false;
    PreviewAudienceRequest => "PreviewAudience", Render, false;
    CreateAudienceRequest => "CreateAudience", Admin, false;
    GetAudienceRequest => "GetAudience", Render, false;
    ListAudiencesRequest => "ListAudiences", Render, false;
    UpdateAudienceRequest => "UpdateAudience", Admin, false;
    DeleteAudienceRequest => "DeleteAudience", Admin, false;
    ListFoldersRequest => "ListFolders", Render, true;
    GetUsageRequest => "GetUsage", Admin, true;
}

impl Rpc for super::authoring::ImportStream {
    const ROLE: Role = Role::Admin;
    const SHORTCUTS: bool = true;
    fn method() -> &'static RpcMethod {
        telemetry::rpc_method!("ImportShortcutsStream")
    }
    /// From the stream's first message, its options.
    fn workspace_id(&self) -> &str {
        &self.options.workspace_id
    }
}

impl Rpc for pb::ListWorkspacesRequest {
    const ROLE: Role = Role::Admin;
    const SHORTCUTS: bool = false;
    fn method() -> &'static RpcMethod {
        telemetry::rpc_method!("ListWorkspaces")
    }
    /// Lists every workspace: no workspace id is in scope of a token bound to particular
    /// ones, so only an unbound token may call it.
    fn workspace_id(&self) -> &str {
        ""
    }
}

impl ShortcutApi {
    /// Runs one RPC inside its span, after admission and authorisation, and logs its outcome:
    /// method, workspace, status, duration. `work` gets the message (and the call's
    /// metadata) only once the caller has been let in.
    pub(super) async fn call<M, T, F, Fut>(
        &self,
        request: Request<M>,
        work: F,
    ) -> std::result::Result<Response<T>, Status>
    where
        M: Rpc,
        F: FnOnce(M, MetadataMap) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.call_as(request, |message, metadata, _| work(message, metadata))
            .await
    }

    /// [`ShortcutApi::call`] for the calls whose answer depends on who the caller is (which
    /// shortcuts it may see): `work` gets the authenticated caller too.
    pub(super) async fn call_as<M, T, F, Fut>(
        &self,
        request: Request<M>,
        work: F,
    ) -> std::result::Result<Response<T>, Status>
    where
        M: Rpc,
        F: FnOnce(M, MetadataMap, Principal) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let (metadata, _, message) = request.into_parts();
        let method = M::method();
        let traceparent = metadata
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(telemetry::valid_traceparent)
            .map(str::to_owned);
        let span = tracing::info_span!(
            target: TARGET,
            "rpc",
            method = method.name(),
            workspace = %message.workspace_id(),
            traceparent = traceparent.as_deref().unwrap_or_default(),
        );
        let started = Instant::now();
        let guard = &self.guard;
        let catalog = &self.catalog;
        let result = telemetry::with_traceparent(
            traceparent,
            async move {
                let _slot = guard.admit()?;
                let caller = guard.authenticate(&metadata)?;
                caller.authorize(message.workspace_id(), M::ROLE)?;
                // Held until the answer is made: the workspace is not dropped meanwhile. An
                // invalid id is left to the handler, which names the field.
                let _loaded = match crate::ids::WorkspaceId::parse(message.workspace_id()) {
                    Ok(workspace) if M::SHORTCUTS => {
                        Some(catalog.workspace(workspace.as_str()).await?)
                    }
                    _ => None,
                };
                // The deadline is known below too, so that a store write answers before it.
                let deadline = super::convert::deadline(&metadata);
                // Boxed, the (large) state machine of the work is moved by pointer through
                // the wrappers rather than copied at each layer.
                crate::limits::with_call_deadline(
                    deadline,
                    Box::pin(work(message, metadata, caller)),
                )
                .await
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
                tracing::info!(target: TARGET, status = "OK", duration_us = micros, "rpc done");
                Ok(Response::new(response))
            }
            Err(err) => {
                if code == tonic::Code::Internal {
                    tracing::error!(target: TARGET, status = ?code, duration_us = micros, error = %err, "rpc failed");
                } else {
                    tracing::info!(target: TARGET, status = ?code, duration_us = micros, error = %err, "rpc done");
                }
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The method name each request type counts and logs under is the RPC that takes that
    /// type in the proto, so a copy-pasted line in the table cannot mislabel metrics.
    #[test]
    fn each_request_type_is_named_after_its_rpc() {
        fn name<M: Rpc>() -> (&'static str, &'static str) {
            let full = std::any::type_name::<M>();
            (full.rsplit("::").next().unwrap(), M::method().name())
        }
        let table = [
            name::<pb::CreateShortcutRequest>(),
            name::<pb::GetShortcutRequest>(),
            name::<pb::UpdateShortcutRequest>(),
            name::<pb::DeleteShortcutRequest>(),
            name::<pb::ListShortcutsRequest>(),
            name::<pb::RenderShortcutRequest>(),
            name::<pb::RenderTemplateRequest>(),
            name::<pb::ValidateTemplateRequest>(),
            name::<pb::InvalidateContactRequest>(),
            name::<pb::InvalidateSessionRequest>(),
            name::<pb::CreateWorkspaceRequest>(),
            name::<pb::GetWorkspaceRequest>(),
            name::<pb::UpdateWorkspaceRequest>(),
            name::<pb::ListWorkspacesRequest>(),
            name::<pb::DescribeContextRequest>(),
            name::<pb::ImportShortcutsRequest>(),
            name::<pb::SearchShortcutsRequest>(),
            name::<pb::BatchRenderRequest>(),
            name::<pb::PrefetchRequest>(),
            name::<pb::PreviewAudienceRequest>(),
            name::<pb::CreateAudienceRequest>(),
            name::<pb::GetAudienceRequest>(),
            name::<pb::ListAudiencesRequest>(),
            name::<pb::UpdateAudienceRequest>(),
            name::<pb::DeleteAudienceRequest>(),
            name::<pb::ListFoldersRequest>(),
            name::<pb::GetUsageRequest>(),
            // The stream's Rust type wraps its first message; the proto names the message.
            (
                "ImportShortcutsStreamRequest",
                crate::api::authoring::ImportStream::method().name(),
            ),
        ];
        let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
        let methods: Vec<_> = set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == "ShortcutService")
            .flat_map(|s| &s.method)
            .collect();
        assert_eq!(
            methods.len(),
            table.len(),
            "an RPC is missing from the table"
        );
        for (message, method) in table {
            let rpc = methods
                .iter()
                .find(|m| m.input_type().rsplit('.').next() == Some(message))
                .unwrap_or_else(|| panic!("no RPC takes {message}"));
            assert_eq!(rpc.name(), method, "{message}");
        }
    }
}
