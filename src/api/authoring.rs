//! Help for writing shortcuts: template validation, the data a template can use, and
//! importing another help desk's canned replies.

use super::{ShortcutApi, convert};
use crate::catalog::consistency::ConsistencyToken;
use crate::error::{Error, Result};
use crate::ids::{ContactId, SessionId, WorkspaceId};
use crate::import::ItemLimit;
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
    let options = import_options(r.format, r.on_conflict, r.mode, r.dry_run)?;
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let report = crate::import::import(
        &api.catalog,
        &workspace,
        options,
        r.content.as_bytes(),
        ItemLimit::unary(),
    )
    .await?;
    Ok(import_report(report, &workspace, ReportDetail::Every))
}

/// An `ImportShortcutsStream` once its first message, the options, has been read.
pub(super) struct ImportStream {
    pub options: pb::ImportOptions,
    pub rest: tonic::Streaming<pb::ImportShortcutsStreamRequest>,
}

pub(super) async fn import_shortcuts_stream(
    api: &ShortcutApi,
    r: ImportStream,
) -> Result<pb::ImportShortcutsResponse> {
    let o = r.options;
    let options = import_options(o.format, o.on_conflict, o.mode, o.dry_run)?;
    let workspace = WorkspaceId::parse(&o.workspace_id)?;
    let content = read_chunks(r.rest, api.limits.max_import_bytes, api.limits.stream_idle).await?;
    let max = api.limits.max_import_items;
    let limit = ItemLimit {
        max,
        exceeded: |max| Error::RequestTooLarge {
            limit: "--max-import-items",
            message: format!("the file holds more than {max} items (--max-import-items); split it"),
        },
    };
    let report = crate::import::import(&api.catalog, &workspace, options, &content, limit).await?;
    Ok(import_report(report, &workspace, ReportDetail::NotCreated))
}

/// The file's bytes from the chunks after the options, at most `max` of them: past it the
/// call is refused before anything is converted or written.
async fn read_chunks(
    mut stream: tonic::Streaming<pb::ImportShortcutsStreamRequest>,
    max: usize,
    idle: std::time::Duration,
) -> Result<Vec<u8>> {
    use pb::import_shortcuts_stream_request::Part;
    let mut content = Vec::new();
    loop {
        let Some(message) = next_message(&mut stream, idle).await? else {
            return Ok(content);
        };
        match message.part {
            Some(Part::Chunk(chunk)) => {
                if content.len() + chunk.len() > max {
                    return Err(Error::RequestTooLarge {
                        limit: "--max-import-bytes",
                        message: format!(
                            "the file is larger than {max} bytes (--max-import-bytes); nothing was imported"
                        ),
                    });
                }
                content.extend_from_slice(&chunk);
            }
            Some(Part::Options(_)) => {
                return Err(Error::invalid(
                    "options",
                    "only the first message of the stream holds options; send the file in `chunk`s after it",
                ));
            }
            None => {}
        }
    }
}

/// The stream's next message; `None` at its end. A caller that sends nothing for `idle`
/// ends its call: without a bound, a quiet stream would hold its task (and, after the
/// first message, a call slot) for as long as the connection lives.
pub(super) async fn next_message<M>(
    stream: &mut tonic::Streaming<M>,
    idle: std::time::Duration,
) -> Result<Option<M>> {
    match tokio::time::timeout(idle, stream.message()).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(status)) => Err(stream_failed(status)),
        Err(_) => Err(Error::StreamStalled(idle)),
    }
}

/// A failure of the caller's side of the stream, as one of ours.
fn stream_failed(status: tonic::Status) -> Error {
    match status.code() {
        tonic::Code::ResourceExhausted | tonic::Code::OutOfRange => Error::RequestTooLarge {
            limit: "--max-request-bytes",
            message: format!(
                "a chunk is too large ({}); send chunks within --max-request-bytes",
                status.message()
            ),
        },
        _ => Error::Cancelled,
    }
}

fn import_options(
    format: i32,
    on_conflict: i32,
    mode: i32,
    dry_run: bool,
) -> Result<crate::import::Options> {
    use crate::import::{Mode, OnConflict};
    let on_conflict = match pb::OnConflict::try_from(on_conflict) {
        Ok(pb::OnConflict::Unspecified | pb::OnConflict::Fail) => OnConflict::Fail,
        Ok(pb::OnConflict::Skip) => OnConflict::Skip,
        Ok(pb::OnConflict::Overwrite) => OnConflict::Overwrite,
        Err(_) => {
            return Err(Error::invalid(
                "on_conflict",
                format!("{on_conflict} is not an OnConflict value"),
            ));
        }
    };
    let mode = match pb::ImportMode::try_from(mode) {
        Ok(pb::ImportMode::Unspecified | pb::ImportMode::AllOrNothing) => Mode::AllOrNothing,
        Ok(pb::ImportMode::Partial) => Mode::Partial,
        Err(_) => {
            return Err(Error::invalid(
                "mode",
                format!("{mode} is not an ImportMode value"),
            ));
        }
    };
    Ok(crate::import::Options {
        format: import_format(format)?,
        on_conflict,
        mode,
        dry_run,
    })
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

/// Which items a report lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReportDetail {
    /// Every item (`ImportShortcuts`: at most 1,000).
    Every,
    /// The items that were not created, at most [`MAX_LISTED_ITEMS`] (a stream's file may
    /// hold tens of thousands; created ones are counted).
    NotCreated,
}

/// Most items an `ImportShortcutsStream` report lists.
const MAX_LISTED_ITEMS: usize = 1000;

/// The longest body an item's report shows, in bytes (the longest valid body is 16 KiB;
/// one too long to import is cut).
const MAX_REPORTED_BODY_BYTES: usize = 16 * 1024;

fn import_report(
    report: crate::import::ImportReport,
    workspace: &WorkspaceId,
    detail: ReportDetail,
) -> pb::ImportShortcutsResponse {
    use crate::import::Outcome;
    let count = |outcome| report.count(outcome) as u32;
    let mut response = pb::ImportShortcutsResponse {
        committed: report.committed,
        created: count(Outcome::Created),
        overwritten: count(Outcome::Overwritten),
        skipped: count(Outcome::Skipped),
        failed: count(Outcome::Failed),
        total: report.items.len() as u32,
        ..Default::default()
    };
    for item in report.items {
        if detail == ReportDetail::NotCreated && item.outcome == Outcome::Created {
            continue;
        }
        if detail == ReportDetail::NotCreated && response.items.len() == MAX_LISTED_ITEMS {
            response.items_omitted += 1;
            continue;
        }
        response.items.push(import_item(item, workspace));
    }
    response
}

fn import_item(i: crate::import::ItemReport, workspace: &WorkspaceId) -> pb::ImportItemResult {
    use crate::import::Outcome;
    let mut body = i.body;
    if body.len() > MAX_REPORTED_BODY_BYTES {
        let mut end = MAX_REPORTED_BODY_BYTES;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    pb::ImportItemResult {
        consistency_token: if i.shortcut_id.is_empty() {
            String::new()
        } else {
            ConsistencyToken::Shortcut {
                workspace_id: workspace.as_str().to_owned(),
                id: i.shortcut_id.clone(),
                version: i.version,
            }
            .encode()
        },
        index: i.index as u32,
        source_name: i.source_name,
        bang: i.bang,
        body,
        shortcut_id: i.shortcut_id,
        error: i.error,
        outcome: match i.outcome {
            Outcome::Created => pb::ImportOutcome::Created,
            Outcome::Overwritten => pb::ImportOutcome::Overwritten,
            Outcome::Skipped => pb::ImportOutcome::Skipped,
            Outcome::Failed => pb::ImportOutcome::Failed,
        } as i32,
        line: i.line,
        column: i.column,
        folder: i.folder.unwrap_or_default(),
        notes: i.notes,
        inputs: convert::inputs(&i.inputs),
        title: i.title,
    }
}
