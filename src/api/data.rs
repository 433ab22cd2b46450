//! The data cache: dropping a contact's or a session's cached data, and prefetching it.

use super::ShortcutApi;
use crate::data::{Prefetched, ScopeKind};
use crate::error::{Error, Result};
use crate::ids::{ContactId, SessionId, WorkspaceId};
use crate::pb;

/// Prefetch: checks both ids before starting anything, then starts at most one background
/// fetch per scope (bounded and budgeted in `data`); never waits for the source.
pub(super) async fn prefetch(
    api: &ShortcutApi,
    r: pb::PrefetchRequest,
) -> Result<pb::PrefetchResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let contact = ContactId::parse_as("contact_id", &r.contact_id)?;
    let session = SessionId::parse_as("session_id", &r.session_id)?;
    if contact.is_empty() && session.is_empty() {
        return Err(Error::invalid(
            "contact_id",
            "give a contact_id, a session_id or both",
        ));
    }
    let data = api.renderer.data();
    let mut response = pb::PrefetchResponse::default();
    // The conversation's contact: its prefetches warm that contact by this id (one fetch).
    data.bind(&workspace, &session, &contact).await;
    if !contact.is_empty() {
        response.set_contact(outcome(data.prefetch(&workspace, &contact).await));
    }
    if !session.is_empty() {
        response.set_session(outcome(data.prefetch(&workspace, &session).await));
    }
    Ok(response)
}

fn outcome(prefetched: Prefetched) -> pb::PrefetchOutcome {
    match prefetched {
        Prefetched::Started => pb::PrefetchOutcome::Started,
        Prefetched::Cached => pb::PrefetchOutcome::Cached,
        Prefetched::InFlight => pb::PrefetchOutcome::InFlight,
        Prefetched::Dropped => pb::PrefetchOutcome::Dropped,
        Prefetched::Off => pb::PrefetchOutcome::Off,
    }
}

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
