//! Help for writing shortcuts: template validation, the data a template can use, and
//! importing another help desk's canned replies.

use super::{ShortcutApi, convert};
use crate::catalog::consistency::ConsistencyToken;
use crate::error::{Error, Result};
use crate::ids::{ContactId, SessionId, WorkspaceId};
use crate::pb;

pub(super) async fn validate_template(
    api: &ShortcutApi,
    r: pb::ValidateTemplateRequest,
    caller: crate::auth::Principal,
) -> Result<pb::ValidateTemplateResponse> {
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    // A snippet the caller may not see is reported as missing, as in its renders.
    let viewer = super::viewer::viewer(&caller, None)?;
    let inputs = crate::catalog::inputs::check(&convert::input_declarations(r.inputs)?)?;
    let known = crate::describe::known_paths(&api.catalog, &workspace).await?;
    let validation = api
        .catalog
        .validate(&workspace, &r.body, &inputs, &known, &viewer)?;
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
        warnings: validation
            .warnings
            .into_iter()
            .map(convert::warning)
            .collect(),
    })
}

pub(super) async fn describe_context(
    api: &ShortcutApi,
    r: pb::DescribeContextRequest,
) -> Result<pb::DescribeContextResponse> {
    let fields = crate::describe::describe(
        &api.catalog,
        api.renderer.data(),
        &WorkspaceId::parse(&r.workspace_id)?,
        &ContactId::parse(&r.contact_id)?,
        &SessionId::parse(&r.session_id)?,
    )
    .await?;
    Ok(pb::DescribeContextResponse {
        fields: fields.into_iter().map(convert::context_field).collect(),
    })
}

pub(super) async fn import_shortcuts(
    api: &ShortcutApi,
    r: pb::ImportShortcutsRequest,
) -> Result<pb::ImportShortcutsResponse> {
    let format = import_format(r.format)?;
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let report =
        crate::import::import(&api.catalog, &workspace, format, &r.content, r.dry_run).await?;
    Ok(import_report(report, &workspace))
}

fn import_format(value: i32) -> Result<crate::import::Format> {
    use crate::import::Format;
    match pb::ImportFormat::try_from(value) {
        Ok(pb::ImportFormat::Crisp) => Ok(Format::Crisp),
        Ok(pb::ImportFormat::Chatwoot) => Ok(Format::Chatwoot),
        Ok(pb::ImportFormat::Zendesk) => Ok(Format::Zendesk),
        Ok(pb::ImportFormat::Intercom) => Ok(Format::Intercom),
        _ => Err(Error::invalid(
            "format",
            "set the export's format: IMPORT_FORMAT_CRISP, IMPORT_FORMAT_CHATWOOT, IMPORT_FORMAT_ZENDESK or IMPORT_FORMAT_INTERCOM",
        )),
    }
}

fn import_report(
    report: crate::import::ImportReport,
    workspace: &WorkspaceId,
) -> pb::ImportShortcutsResponse {
    let created = report
        .items
        .iter()
        .filter(|i| !i.shortcut_id.is_empty())
        .count() as u32;
    pb::ImportShortcutsResponse {
        committed: report.committed,
        created,
        items: report
            .items
            .into_iter()
            .map(|i| pb::ImportItemResult {
                // A created shortcut is at its first version.
                consistency_token: if i.shortcut_id.is_empty() {
                    String::new()
                } else {
                    ConsistencyToken::Shortcut {
                        workspace_id: workspace.as_str().to_owned(),
                        id: i.shortcut_id.clone(),
                        version: 1,
                    }
                    .encode()
                },
                index: i.index as u32,
                source_name: i.source_name,
                bang: i.bang,
                body: i.body,
                shortcut_id: i.shortcut_id,
                error: i.error,
            })
            .collect(),
    }
}
