//! Campaigns: PreviewAudience, and the saved audiences' create, read, update, delete, list.

use std::time::{Instant, SystemTime};

use super::{ShortcutApi, convert};
use crate::audience::{
    self, DEFAULT_PREVIEW_LIMIT, DEFAULT_PREVIEW_TIME, Filter, MAX_PREVIEW_LIMIT,
};
use crate::catalog::audiences::{self, SavedAudience};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::pb;

/// Checks a filter as the workspace knows its paths (for the "did you mean" warnings).
pub(super) async fn filter(
    api: &ShortcutApi,
    workspace: &WorkspaceId,
    field: &str,
    source: &str,
) -> Result<Filter> {
    let known = crate::describe::known_paths(&api.catalog, workspace).await?;
    Filter::parse(api.catalog.engine(), field, source, &known)
}

pub(super) async fn preview(
    api: &ShortcutApi,
    r: pb::PreviewAudienceRequest,
    deadline: Option<Instant>,
) -> Result<pb::PreviewAudienceResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let limit = match u64::from(r.limit) {
        0 => DEFAULT_PREVIEW_LIMIT,
        n if n > MAX_PREVIEW_LIMIT => {
            return Err(Error::invalid(
                "limit",
                format!("must be at most {MAX_PREVIEW_LIMIT}"),
            ));
        }
        n => n,
    };
    let filter = filter(api, &workspace, "filter", &r.filter).await?;
    // The scan stops a little before the caller's deadline, so that the counts so far
    // still reach it.
    let deadline = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            deadline - left / 10
        }
        None => Instant::now() + DEFAULT_PREVIEW_TIME,
    };
    let scope = api
        .catalog
        .workspace_records()
        .resolve(&workspace)
        .scope
        .clone();
    let preview = audience::preview(
        api.renderer.data().clone(),
        api.catalog.engine(),
        workspace,
        scope,
        &filter,
        limit,
        deadline,
    )
    .await?;
    Ok(pb::PreviewAudienceResponse {
        matched: preview.matched,
        scanned: preview.scanned,
        complete: preview.complete,
        sample: preview
            .sample
            .into_iter()
            .map(|(contact_id, values)| pb::AudienceMember {
                contact_id,
                values: values.into_iter().collect(),
            })
            .collect(),
        failed: preview.failed,
        pushed_down_filter: preview.pushed_down.unwrap_or_default(),
        warnings: filter
            .warnings()
            .iter()
            .cloned()
            .map(convert::warning)
            .collect(),
    })
}

fn audience(a: SavedAudience, warnings: &[crate::template::TemplateWarning]) -> pb::Audience {
    pb::Audience {
        workspace_id: a.workspace_id,
        name: a.name,
        filter: a.filter,
        description: a.description,
        version: a.version,
        create_time: Some(prost_types::Timestamp::from(a.create_time)),
        update_time: Some(prost_types::Timestamp::from(a.update_time)),
        warnings: warnings.iter().cloned().map(convert::warning).collect(),
    }
}

/// The saved audience `name` of a workspace, or NOT_FOUND.
pub(super) async fn saved(
    api: &ShortcutApi,
    workspace: &WorkspaceId,
    name: &str,
) -> Result<SavedAudience> {
    let name = audiences::name(name)?;
    api.catalog
        .store()
        .get_audience(workspace, name)
        .await?
        .ok_or_else(|| audiences::not_found(workspace, name))
}

pub(super) async fn create(
    api: &ShortcutApi,
    r: pb::CreateAudienceRequest,
) -> Result<pb::Audience> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let name = audiences::name(&r.name)?;
    let description = audiences::description(&r.description)?;
    let filter = filter(api, &workspace, "filter", &r.filter).await?;
    let now = SystemTime::now();
    let saved = SavedAudience {
        workspace_id: workspace.to_string(),
        name: name.to_string(),
        filter: r.filter.clone(),
        description: description.to_string(),
        version: 1,
        create_time: now,
        update_time: now,
    };
    api.catalog.store().insert_audience(&saved).await?;
    Ok(audience(saved, filter.warnings()))
}

pub(super) async fn get(api: &ShortcutApi, r: pb::GetAudienceRequest) -> Result<pb::Audience> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    Ok(audience(saved(api, &workspace, &r.name).await?, &[]))
}

pub(super) async fn list(
    api: &ShortcutApi,
    r: pb::ListAudiencesRequest,
) -> Result<pb::ListAudiencesResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let all = api.catalog.store().list_audiences(&workspace).await?;
    Ok(pb::ListAudiencesResponse {
        audiences: all.into_iter().map(|a| audience(a, &[])).collect(),
    })
}

pub(super) async fn update(
    api: &ShortcutApi,
    r: pb::UpdateAudienceRequest,
) -> Result<pb::Audience> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    if r.version == 0 {
        return Err(Error::invalid(
            "version",
            "give the version you last read (GetAudience)",
        ));
    }
    let mut saved = saved(api, &workspace, &r.name).await?;
    let mut warnings = Vec::new();
    if let Some(source) = &r.filter {
        warnings = filter(api, &workspace, "filter", source)
            .await?
            .warnings()
            .to_vec();
        saved.filter = source.clone();
    }
    if let Some(description) = &r.description {
        saved.description = audiences::description(description)?.to_string();
    }
    saved.version = r.version + 1;
    saved.update_time = SystemTime::now();
    api.catalog
        .store()
        .update_audience(&saved, r.version)
        .await?;
    Ok(audience(saved, &warnings))
}

pub(super) async fn delete(
    api: &ShortcutApi,
    r: pb::DeleteAudienceRequest,
) -> Result<pb::DeleteAudienceResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let name = audiences::name(&r.name)?;
    api.catalog
        .store()
        .delete_audience(&workspace, name, r.version)
        .await?;
    Ok(pb::DeleteAudienceResponse {})
}
