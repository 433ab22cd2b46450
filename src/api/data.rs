//! The data cache: dropping a contact's or a session's cached data.

use super::ShortcutApi;
use crate::data::ScopeKind;
use crate::error::Result;
use crate::ids::WorkspaceId;
use crate::pb;

pub(super) async fn invalidate_contact(
    api: &ShortcutApi,
    r: pb::InvalidateContactRequest,
) -> Result<pb::InvalidateResponse> {
    invalidate(api, ScopeKind::Contact, &r.workspace_id, &r.id).await
}

pub(super) async fn invalidate_session(
    api: &ShortcutApi,
    r: pb::InvalidateSessionRequest,
) -> Result<pb::InvalidateResponse> {
    invalidate(api, ScopeKind::Session, &r.workspace_id, &r.id).await
}

async fn invalidate(
    api: &ShortcutApi,
    kind: ScopeKind,
    workspace_id: &str,
    id: &str,
) -> Result<pb::InvalidateResponse> {
    api.renderer
        .data()
        .invalidate(kind, &WorkspaceId::parse(workspace_id)?, id)
        .await?;
    Ok(pb::InvalidateResponse {})
}
