//! `ImportShortcuts` and `ImportShortcutsStream`: create (or overwrite) shortcuts from the
//! canned-reply exports of other tools, converting their placeholders and rich text to ours.
//!
//! Every item is read, converted, validated and compiled first; then what is to be written
//! is written in one store transaction. In [`Mode::AllOrNothing`] one failed item means
//! nothing is written; in [`Mode::Partial`] the items that convert are written and the
//! others reported. Items skipped on purpose (no reply text, a taken bang with
//! [`OnConflict::Skip`]) never stop an import. The report says what happened to each item.

pub mod bangs;
pub mod formats;
pub mod html;
pub mod placeholders;

use crate::catalog::{Catalog, Entry, NewShortcut, ShortcutInput, ShortcutKey};
use crate::error::{Error, Result};
use crate::ids::{Bang, WorkspaceId};
pub use formats::Format;
use formats::{Problem, RawItem, ReadError};

/// Most items one `ImportShortcuts` call may import (the stream has its own flag).
pub const MAX_ITEMS: usize = 1000;

/// Attempts at a partial import's transaction when other writers take bangs meanwhile.
const MAX_WRITE_ATTEMPTS: usize = 8;

/// What to do with an item whose bang the workspace already uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    #[default]
    Fail,
    Skip,
    Overwrite,
}

/// Whether one failed item stops the import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    AllOrNothing,
    Partial,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    pub on_conflict: OnConflict,
    pub mode: Mode,
    pub dry_run: bool,
}

/// What happened to one item (or would have, when the import is not committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Overwritten,
    Skipped,
    Failed,
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport {
    pub index: usize,
    pub source_name: String,
    pub bang: String,
    pub title: String,
    /// Where the source tool filed it (`Billing/Refunds`).
    pub folder: Option<String>,
    /// The converted template body (empty when conversion failed).
    pub body: String,
    pub inputs: Vec<ShortcutInput>,
    pub notes: Vec<String>,
    pub outcome: Outcome,
    /// Why the item is skipped or failed; empty otherwise.
    pub error: String,
    /// Where in `body` a template error is (from 1), when that is why it failed.
    pub line: u32,
    pub column: u32,
    /// Set when the item was written.
    pub shortcut_id: String,
    /// The version written (0 when nothing was).
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Whether the import was carried out: false for a dry run, or when an item failed in
    /// [`Mode::AllOrNothing`] (then nothing was written).
    pub committed: bool,
    pub items: Vec<ItemReport>,
}

impl ImportReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }
}

/// How many items a call may hold, and the error past it.
pub struct ItemLimit {
    pub max: usize,
    pub exceeded: fn(usize) -> Error,
}

impl ItemLimit {
    /// `ImportShortcuts`: at most [`MAX_ITEMS`] items.
    pub fn unary() -> Self {
        ItemLimit {
            max: MAX_ITEMS,
            exceeded: |max| {
                Error::invalid(
                    "content",
                    format!(
                        "holds more than {max} items; import at most {max} per call, or send the file with ImportShortcutsStream"
                    ),
                )
            },
        }
    }
}

/// Imports an export file into a workspace.
pub async fn import(
    catalog: &Catalog,
    workspace_id: &WorkspaceId,
    options: Options,
    content: &[u8],
    limit: ItemLimit,
) -> Result<ImportReport> {
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "content",
            "is required: the export file's text",
        ));
    }
    let raw = formats::read(options.format, content, limit.max).map_err(|e| match e {
        ReadError::Invalid(message) => Error::invalid("content", message),
        ReadError::TooManyItems(max) => (limit.exceeded)(max),
    })?;
    if raw.is_empty() {
        return Err(Error::invalid("content", "holds no items"));
    }
    let mut bangs = bangs::Bangs::default();
    let mut reports = Vec::with_capacity(raw.len());
    // The entries to write, with the index of their report.
    let mut prepared: Vec<(usize, Entry)> = Vec::new();
    for (index, item) in raw.into_iter().enumerate() {
        let (report, entry) = prepare(catalog, workspace_id, options, index, item, &mut bangs);
        if let Some(entry) = entry {
            prepared.push((index, entry));
        }
        reports.push(report);
    }
    let failed = reports.iter().any(|r| r.outcome == Outcome::Failed);
    if options.dry_run || (failed && options.mode == Mode::AllOrNothing) {
        return Ok(ImportReport {
            committed: false,
            items: reports,
        });
    }
    write(catalog, options.mode, prepared, &mut reports).await?;
    Ok(ImportReport {
        committed: true,
        items: reports,
    })
}

/// Writes the prepared entries in one transaction. A partial import whose transaction
/// fails on one item (another writer took its bang, or changed the shortcut it overwrites,
/// since it was checked) reports that item failed and writes the others.
async fn write(
    catalog: &Catalog,
    mode: Mode,
    mut prepared: Vec<(usize, Entry)>,
    reports: &mut [ItemReport],
) -> Result<()> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (indexes, entries): (Vec<usize>, Vec<Entry>) = prepared.into_iter().unzip();
        let snapshot: Vec<_> = entries.iter().map(|e| e.shortcut.clone()).collect();
        match catalog.write_many(entries).await {
            Ok(written) => {
                for (index, entry) in indexes.into_iter().zip(written) {
                    reports[index].shortcut_id = entry.shortcut.id.clone();
                    reports[index].version = entry.shortcut.version;
                }
                return Ok(());
            }
            Err(err) if mode == Mode::Partial && attempts < MAX_WRITE_ATTEMPTS => {
                let culprit = snapshot.iter().position(|s| match &err {
                    Error::BangTaken { bang, .. } => s.bang_key() == crate::catalog::bang_key(bang),
                    Error::StaleVersion { id, .. } => s.id == *id,
                    Error::ShortcutNotFound { key, .. } => s.version > 1 && key.contains(&s.id),
                    _ => false,
                });
                let Some(culprit) = culprit else {
                    return Err(err);
                };
                let report = &mut reports[indexes[culprit]];
                report.outcome = Outcome::Failed;
                report.error = err.to_string();
                // The others, compiled again (entries are not cloneable: they hold
                // compiled templates), minus the culprit.
                prepared = Vec::with_capacity(snapshot.len() - 1);
                for (i, (index, shortcut)) in indexes.iter().zip(snapshot).enumerate() {
                    if i != culprit {
                        prepared.push((*index, catalog.recompile(shortcut)?));
                    }
                }
                if prepared.is_empty() {
                    return Ok(());
                }
            }
            Err(err) => return Err(err),
        }
    }
}

/// Converts and checks one item: its report, and the entry to write if there is one.
fn prepare(
    catalog: &Catalog,
    workspace_id: &WorkspaceId,
    options: Options,
    index: usize,
    item: RawItem,
    bangs: &mut bangs::Bangs,
) -> (ItemReport, Option<Entry>) {
    let mut report = ItemReport {
        index,
        source_name: item.source_name.clone(),
        bang: String::new(),
        title: item.title.clone(),
        folder: item.folder.clone(),
        body: String::new(),
        inputs: vec![],
        notes: vec![],
        outcome: Outcome::Failed,
        error: String::new(),
        line: 0,
        column: 0,
        shortcut_id: String::new(),
        version: 0,
    };
    match item.problem {
        Some(Problem::Skip(reason)) => {
            report.outcome = Outcome::Skipped;
            report.error = reason;
            return (report, None);
        }
        Some(Problem::Fail(reason)) => {
            report.error = reason;
            return (report, None);
        }
        None => {}
    }
    let assigned = match bangs.assign(&item.bang) {
        Ok(assigned) => assigned,
        Err(reason) => {
            report.error = reason;
            return (report, None);
        }
    };
    report.bang = assigned.bang;
    report.notes.extend(assigned.note);
    let converted = match placeholders::convert(&item.pieces, options.format.paths()) {
        Ok(converted) => converted,
        Err(err) => {
            report.error = err.to_string();
            return (report, None);
        }
    };
    report.body = converted.body.clone();
    report.inputs = converted.inputs.clone();
    report.notes.extend(converted.notes);
    let new = NewShortcut {
        workspace_id: workspace_id.clone(),
        bang: report.bang.clone(),
        title: if item.title.trim().is_empty() {
            report.bang.clone()
        } else {
            item.title
        },
        body: converted.body,
        tags: item.tags,
        disabled: item.disabled,
        variants: Default::default(),
        inputs: converted.inputs,
        snippet: false,
        visibility: Default::default(),
        owner: String::new(),
        team_ids: vec![],
        // Zendesk's `Billing::Refunds::Full` titles: checked like any folder.
        folder: report.folder.clone().unwrap_or_default(),
        position: 0,
        attachments: vec![],
    };
    let existing = Bang::parse(&report.bang)
        .ok()
        .and_then(|bang| catalog.get(workspace_id, &ShortcutKey::Bang(bang)).ok());
    let entry = match (existing, options.on_conflict) {
        (None, _) => catalog.prepare(new).map(|e| (Outcome::Created, e)),
        (Some(current), OnConflict::Fail) => Err(Error::BangTaken {
            workspace: workspace_id.to_string(),
            bang: current.shortcut.bang.clone(),
        }),
        (Some(current), OnConflict::Skip) => {
            report.outcome = Outcome::Skipped;
            report.error = format!(
                "skipped: bang !{} is already used in this workspace (ON_CONFLICT_SKIP)",
                current.shortcut.bang
            );
            return (report, None);
        }
        (Some(current), OnConflict::Overwrite) => catalog
            .prepare_replacement(&current.shortcut, new)
            .map(|e| (Outcome::Overwritten, e)),
    };
    match entry {
        Ok((outcome, entry)) => {
            report.outcome = outcome;
            (report, Some(entry))
        }
        Err(err) => {
            if let Error::InvalidTemplate { problems, .. } = &err
                && let Some(first) = problems.first()
            {
                report.line = first.line;
                report.column = first.column;
            }
            report.error = err.to_string();
            (report, None)
        }
    }
}
