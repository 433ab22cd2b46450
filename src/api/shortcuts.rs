//! Shortcut records: create, read, update, delete, list.

use super::{ShortcutApi, convert, viewer::viewer};
use crate::auth::Principal;
use crate::catalog::{ListQuery, NewShortcut, ShortcutChanges};
use crate::error::Result;
use crate::ids::{ShortcutId, WorkspaceId};
use crate::pb;

pub(super) async fn create_shortcut(
    api: &ShortcutApi,
    r: pb::CreateShortcutRequest,
) -> Result<pb::Shortcut> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let new = NewShortcut {
        workspace_id: workspace.clone(),
        bang: r.bang,
        title: r.title,
        body: r.body,
        tags: r.tags,
        disabled: r.disabled,
        variants: r.variants.into_iter().collect(),
        inputs: convert::input_declarations(r.inputs)?,
        snippet: r.snippet,
        visibility: convert::visibility(r.visibility)?,
        owner: r.owner,
        team_ids: r.team_ids,
        folder: r.folder,
        position: r.position,
        attachments: convert::attachment_declarations(r.attachments),
    };
    let entry = api.catalog.create(new).await?;
    let known = crate::describe::known_paths(&api.catalog, &workspace).await?;
    let warnings = api.catalog.warnings(&entry.shortcut, &known);
    Ok(convert::written_shortcut(&entry, warnings))
}

pub(super) async fn get_shortcut(
    api: &ShortcutApi,
    r: pb::GetShortcutRequest,
    caller: Principal,
) -> Result<pb::Shortcut> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let key = convert::get_key(r.key)?;
    let viewer = viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace).await?;
    Ok(convert::shortcut(
        &*api.catalog.get_as(&workspace, &key, &viewer)?,
    ))
}

pub(super) async fn update_shortcut(
    api: &ShortcutApi,
    r: pb::UpdateShortcutRequest,
) -> Result<pb::Shortcut> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let id = ShortcutId::parse(&r.id)?;
    let changes = ShortcutChanges {
        bang: r.bang,
        title: r.title,
        body: r.body,
        tags: r.tags.map(|t| t.tags),
        disabled: r.disabled,
        variants: r.variants.map(|v| v.variants.into_iter().collect()),
        inputs: r
            .inputs
            .map(|list| convert::input_declarations(list.inputs))
            .transpose()?,
        snippet: r.snippet,
        visibility: r.visibility.map(convert::visibility).transpose()?,
        owner: r.owner,
        team_ids: r.team_ids.map(|t| t.team_ids),
        folder: r.folder,
        position: r.position,
        attachments: r
            .attachments
            .map(|list| convert::attachment_declarations(list.attachments)),
    };
    let entry = api
        .catalog
        .update(&workspace, &id, r.version, changes)
        .await?;
    let known = crate::describe::known_paths(&api.catalog, &workspace).await?;
    let warnings = api.catalog.warnings(&entry.shortcut, &known);
    Ok(convert::written_shortcut(&entry, warnings))
}

pub(super) async fn delete_shortcut(
    api: &ShortcutApi,
    r: pb::DeleteShortcutRequest,
) -> Result<pb::DeleteShortcutResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let id = ShortcutId::parse(&r.id)?;
    api.catalog.delete(&workspace, &id, r.version).await?;
    Ok(convert::deleted_shortcut(&workspace, &id))
}

pub(super) async fn list_shortcuts(
    api: &ShortcutApi,
    r: pb::ListShortcutsRequest,
    caller: Principal,
) -> Result<pb::ListShortcutsResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let viewer = viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace).await?;
    let query = ListQuery {
        page_size: r.page_size,
        page_token: r.page_token,
        tags: r.tags,
        include_disabled: r.include_disabled,
        viewer,
        folder: r.folder,
        include_subfolders: r.include_subfolders,
    };
    let page = api.catalog.list(&workspace, &query)?;
    Ok(pb::ListShortcutsResponse {
        shortcuts: page
            .shortcuts
            .iter()
            .map(|e| convert::shortcut(e))
            .collect(),
        next_page_token: page.next_page_token,
    })
}

pub(super) async fn list_folders(
    api: &ShortcutApi,
    r: pb::ListFoldersRequest,
    caller: Principal,
) -> Result<pb::ListFoldersResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let viewer = viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace).await?;
    let tree = api
        .catalog
        .folder_tree(&workspace, &viewer, r.include_disabled);
    Ok(pb::ListFoldersResponse {
        folders: tree
            .folders
            .iter()
            .map(|f| pb::Folder {
                path: f.path.clone(),
                name: f.name().to_string(),
                depth: f.depth,
                direct_count: f.direct,
                total_count: f.total,
            })
            .collect(),
        unfiled_count: tree.unfiled,
        truncated: tree.truncated,
    })
}
