//! Workspace records: create, read, update, list.

use super::{ShortcutApi, convert};
use crate::error::Result;
use crate::ids::WorkspaceId;
use crate::pb;
use crate::workspace::{NewWorkspace, WorkspaceChanges};

pub(super) async fn create_workspace(
    api: &ShortcutApi,
    r: pb::CreateWorkspaceRequest,
) -> Result<pb::Workspace> {
    let new = NewWorkspace {
        id: WorkspaceId::parse(&r.workspace_id)?,
        display_name: r.display_name,
        default_locale: r.default_locale,
        time_zone: r.time_zone,
    };
    let entry = api.catalog.workspace_records().create(new).await?;
    Ok(convert::written_workspace(&entry.record))
}

pub(super) async fn get_workspace(
    api: &ShortcutApi,
    r: pb::GetWorkspaceRequest,
) -> Result<pb::Workspace> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    api.catch_up(&r.consistency_token, &workspace).await?;
    let entry = api.catalog.workspace_records().get(&workspace)?;
    Ok(convert::workspace(&entry.record))
}

pub(super) async fn update_workspace(
    api: &ShortcutApi,
    r: pb::UpdateWorkspaceRequest,
) -> Result<pb::Workspace> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let changes = WorkspaceChanges {
        display_name: r.display_name,
        default_locale: r.default_locale,
        time_zone: r.time_zone,
    };
    let entry = api
        .catalog
        .workspace_records()
        .update(&workspace, r.version, changes)
        .await?;
    Ok(convert::written_workspace(&entry.record))
}

pub(super) async fn list_workspaces(
    api: &ShortcutApi,
    _request: pb::ListWorkspacesRequest,
) -> Result<pb::ListWorkspacesResponse> {
    let workspaces = api.catalog.workspace_records().list();
    Ok(pb::ListWorkspacesResponse {
        workspaces: workspaces
            .iter()
            .map(|e| convert::workspace(&e.record))
            .collect(),
    })
}
