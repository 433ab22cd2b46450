//! `ImportShortcuts`: bulk-creates shortcuts from the canned-reply exports of other tools,
//! converting their placeholders to ours.
//!
//! Every item is read, converted, validated and compiled first; only when all of them are
//! good are they written, in one store transaction. Otherwise nothing is written and the
//! report says what is wrong with each item.

pub mod formats;
pub mod placeholders;

use crate::catalog::{Catalog, NewShortcut, ShortcutKey, bang_key};
use crate::error::{Error, Result};
use crate::ids::{Bang, WorkspaceId};
pub use formats::Format;

/// Most items one call may import.
pub const MAX_ITEMS: usize = 1000;

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport {
    pub index: usize,
    pub source_name: String,
    pub bang: String,
    /// The converted template body (empty when conversion failed).
    pub body: String,
    /// Set when the item was written.
    pub shortcut_id: String,
    /// Why the item cannot be imported; empty when it is fine.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Whether the shortcuts were written (every item good, and not a dry run).
    pub committed: bool,
    pub items: Vec<ItemReport>,
}

/// Imports an export file into a workspace, all or nothing.
pub async fn import(
    catalog: &Catalog,
    workspace_id: &WorkspaceId,
    format: Format,
    content: &str,
    dry_run: bool,
) -> Result<ImportReport> {
    if content.trim().is_empty() {
        return Err(Error::invalid(
            "content",
            "is required: the export file's text",
        ));
    }
    let raw = formats::read(format, content).map_err(|e| Error::invalid("content", e))?;
    if raw.is_empty() {
        return Err(Error::invalid("content", "holds no items"));
    }
    if raw.len() > MAX_ITEMS {
        return Err(Error::invalid(
            "content",
            format!(
                "holds {} items; import at most {MAX_ITEMS} per call",
                raw.len()
            ),
        ));
    }
    let mut reports = Vec::with_capacity(raw.len());
    let mut prepared = Vec::with_capacity(raw.len());
    let mut seen_bangs: Vec<String> = Vec::new();
    for (index, item) in raw.into_iter().enumerate() {
        let mut report = ItemReport {
            index,
            source_name: item.source_name.clone(),
            bang: item.bang.clone(),
            body: String::new(),
            shortcut_id: String::new(),
            error: String::new(),
        };
        let outcome = prepare(catalog, workspace_id, format, item, &mut seen_bangs);
        match outcome {
            Ok((body, entry)) => {
                report.body = body;
                prepared.push(entry);
            }
            Err((body, error)) => {
                report.body = body;
                report.error = error;
            }
        }
        reports.push(report);
    }
    if dry_run || prepared.len() != reports.len() {
        return Ok(ImportReport {
            committed: false,
            items: reports,
        });
    }
    let created = catalog.create_many(prepared).await?;
    for (report, entry) in reports.iter_mut().zip(&created) {
        report.shortcut_id = entry.shortcut.id.clone();
    }
    Ok(ImportReport {
        committed: true,
        items: reports,
    })
}

/// Converts and checks one item. On failure: the converted body if any, and the reason.
fn prepare(
    catalog: &Catalog,
    workspace_id: &WorkspaceId,
    format: Format,
    item: formats::RawItem,
    seen_bangs: &mut Vec<String>,
) -> std::result::Result<(String, crate::catalog::Entry), (String, String)> {
    if let Some(problem) = item.problem {
        return Err((String::new(), problem));
    }
    let body = placeholders::convert(&item.text, format.paths())
        .map_err(|e| (String::new(), e.to_string()))?;
    let fail = |message: String| (body.clone(), message);
    let bang =
        Bang::parse(&item.bang).map_err(|e| fail(format!("{e} (from {:?})", item.source_name)))?;
    let key = bang_key(&bang);
    if seen_bangs.contains(&key) {
        return Err(fail(format!("bang !{bang} appears twice in this file")));
    }
    seen_bangs.push(key);
    if catalog
        .get(workspace_id, &ShortcutKey::Bang(bang.clone()))
        .is_ok()
    {
        return Err(fail(format!(
            "bang !{bang} is already used in workspace {workspace_id:?}"
        )));
    }
    let new = NewShortcut {
        workspace_id: workspace_id.clone(),
        bang: bang.to_string(),
        title: item.title,
        body: body.clone(),
        tags: item.tags,
        disabled: item.disabled,
        variants: Default::default(),
        inputs: vec![],
        snippet: false,
        visibility: Default::default(),
        owner: String::new(),
        team_ids: vec![],
        folder: String::new(),
        position: 0,
        attachments: vec![],
    };
    let entry = catalog.prepare(new).map_err(|e| fail(e.to_string()))?;
    Ok((body, entry))
}
