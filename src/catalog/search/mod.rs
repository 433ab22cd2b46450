//! Typeahead search over a workspace's shortcuts, for the chat composer's `!`.
//!
//! The index lives in memory beside the catalog and follows every change to it (the
//! catalog calls [`SearchIndex::upsert`] and [`SearchIndex::remove`] wherever its memory
//! changes, loading included). A query folds case and accents, looks its words up as
//! prefixes in a per-workspace inverted index (`workspace`), ranks by tier and recent
//! use (`rank`, `usage`) and highlights what matched (`highlight`, `preview`).

mod docset;
mod fold;
mod highlight;
mod preview;
mod rank;
pub mod shared;
mod usage;
mod workspace;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use highlight::TextRange;
pub use preview::PREVIEW_CHARS;
pub use rank::MAX_QUERY_WORDS;
pub use usage::{HALF_LIFE, RecentUses, rank_key_of_days};

use self::rank::ParsedQuery;
use self::workspace::{Doc, WorkspaceIndex};
use super::{Entry, validate};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;

/// Why a shortcut matched; also its rank, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchKind {
    /// The query is the bang.
    ExactBang,
    /// The bang starts with the query.
    BangPrefix,
    /// Every query word starts a word of the title.
    Title,
    /// Every query word starts a word of the bang, title, tags or body.
    Text,
    /// The query was empty: every shortcut, most used first.
    Any,
}

/// A typeahead query.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// What the agent typed, with or without the leading `!`.
    pub text: String,
    /// Only shortcuts carrying all of these.
    pub tags: Vec<String>,
    /// 0 means [`DEFAULT_LIMIT`]; more than [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: i32,
    pub include_disabled: bool,
    /// Whom the search is for: only what they may see is ranked, so the best visible
    /// matches fill the page.
    pub viewer: super::Viewer,
}

/// One shortcut found, with what the query matched in each field.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub entry: Arc<Entry>,
    pub kind: MatchKind,
    /// A short passage of the body (see [`PREVIEW_CHARS`]).
    pub preview: String,
    pub bang_highlights: Vec<TextRange>,
    pub title_highlights: Vec<TextRange>,
    /// For each tag with a match: its position in the shortcut's tags and the ranges.
    pub tag_highlights: Vec<(u32, Vec<TextRange>)>,
    pub preview_highlights: Vec<TextRange>,
}

/// The search index of every workspace, with the usage counts that break ranking ties.
#[derive(Debug, Default)]
pub struct SearchIndex {
    workspaces: RwLock<HashMap<String, WorkspaceIndex>>,
    /// The last shared counts (see [`SearchIndex::set_shared_uses`]), kept for the
    /// workspaces loaded after they came.
    shared: RwLock<HashMap<String, HashMap<String, f64>>>,
}

impl SearchIndex {
    /// Indexes a shortcut, replacing what was indexed under its id.
    pub fn upsert(&self, entry: &Arc<Entry>) {
        self.upsert_many(std::slice::from_ref(entry));
    }

    /// [`SearchIndex::upsert`] for many, under one lock.
    pub fn upsert_many(&self, entries: &[Arc<Entry>]) {
        let mut workspaces = self.workspaces.write().expect("search lock poisoned");
        for entry in entries {
            let shortcut = &entry.shortcut;
            // Snippets are pieces of other replies, not replies: the typeahead never
            // offers them.
            if shortcut.snippet {
                unindex(&mut workspaces, &shortcut.workspace_id, &shortcut.id);
                continue;
            }
            match workspaces.get_mut(&shortcut.workspace_id) {
                Some(index) => index.insert(entry.clone()),
                None => workspaces
                    .entry(shortcut.workspace_id.clone())
                    .or_default()
                    .insert(entry.clone()),
            }
        }
    }

    /// Drops a shortcut and its usage count.
    pub fn remove(&self, workspace_id: &str, id: &str) {
        let mut workspaces = self.workspaces.write().expect("search lock poisoned");
        unindex(&mut workspaces, workspace_id, id);
    }

    /// Drops a workspace's whole index (the workspace left memory), usage counts included.
    pub fn drop_workspace(&self, workspace_id: &str) {
        self.workspaces
            .write()
            .expect("search lock poisoned")
            .remove(workspace_id);
    }

    /// Counts one use of a shortcut (a successful render).
    pub fn record_use(&self, workspace_id: &str, id: &str) {
        let workspaces = self.workspaces.read().expect("search lock poisoned");
        if let Some(index) = workspaces.get(workspace_id) {
            index.record_use(id);
        }
    }

    /// Replaces every shortcut's usage count by its rank key in `keys` (workspace -> id ->
    /// key, see [`rank_key_of_days`]); shortcuts absent from it count as never used.
    pub fn set_shared_uses(&self, keys: &HashMap<String, HashMap<String, f64>>) {
        let workspaces = self.workspaces.read().expect("search lock poisoned");
        for (workspace_id, index) in workspaces.iter() {
            let keys = keys.get(workspace_id);
            index.set_uses(|id| keys.and_then(|k| k.get(id)).copied().unwrap_or(0.0));
        }
        drop(workspaces);
        *self.shared.write().expect("search lock poisoned") = keys.clone();
    }

    /// Gives a workspace just loaded into memory the last shared counts.
    pub fn apply_shared_uses(&self, workspace_id: &str) {
        let shared = self.shared.read().expect("search lock poisoned");
        let Some(keys) = shared.get(workspace_id) else {
            return;
        };
        let workspaces = self.workspaces.read().expect("search lock poisoned");
        if let Some(index) = workspaces.get(workspace_id) {
            index.set_uses(|id| keys.get(id).copied().unwrap_or(0.0));
        }
    }

    /// The best matches for a query, best first.
    pub fn search(
        &self,
        workspace_id: &WorkspaceId,
        query: &SearchQuery,
    ) -> Result<Vec<SearchHit>> {
        let limit = match query.limit {
            n if n < 0 => return Err(Error::invalid("limit", "must not be negative")),
            0 => DEFAULT_LIMIT,
            n => (n as usize).min(MAX_LIMIT),
        };
        let tags = validate::tags(&query.tags)?;
        let parsed = ParsedQuery::parse(&query.text)?;
        let workspaces = self.workspaces.read().expect("search lock poisoned");
        let Some(index) = workspaces.get(workspace_id.as_str()) else {
            return Ok(Vec::new());
        };
        let eligible = index.eligible(&tags, query.include_disabled, &query.viewer);
        let ranked = rank::rank(index, &parsed, &eligible, limit);
        Ok(ranked
            .into_iter()
            .filter_map(|(number, kind)| index.doc(number).map(|doc| hit(doc, kind, &parsed)))
            .collect())
    }
}

/// Drops a shortcut from its workspace's index, and the index once empty.
fn unindex(workspaces: &mut HashMap<String, WorkspaceIndex>, workspace_id: &str, id: &str) {
    if let Some(index) = workspaces.get_mut(workspace_id)
        && index.remove(id)
        && index.is_empty()
    {
        workspaces.remove(workspace_id);
    }
}

fn hit(doc: &Doc, kind: MatchKind, query: &ParsedQuery) -> SearchHit {
    let shortcut = &doc.entry.shortcut;
    let words = &query.words;
    let mut bang_ranges = highlight::word_ranges(&shortcut.bang, words);
    if matches!(kind, MatchKind::ExactBang | MatchKind::BangPrefix) {
        bang_ranges.push(0..fold::source_len_of_prefix(&shortcut.bang, query.whole.len()));
    }
    let tag_highlights = shortcut
        .tags
        .iter()
        .enumerate()
        .filter_map(|(i, tag)| {
            let ranges = highlight::to_utf16(tag, highlight::word_ranges(tag, words));
            (!ranges.is_empty()).then_some((i as u32, ranges))
        })
        .collect();
    // The passage that shows what matched: the default body's, else that of the first
    // localised variant the query matched in (a French keystroke shows the French text).
    let matched = |word: &fold::Word<'_>| highlight::matched_len(word, words);
    let mut preview = doc.body().preview(matched);
    if preview.matched.is_empty()
        && let Some(found) = doc
            .variants()
            .map(|variant| variant.preview(matched))
            .find(|p| !p.matched.is_empty())
    {
        preview = found;
    }
    SearchHit {
        entry: doc.entry.clone(),
        kind,
        bang_highlights: highlight::to_utf16(&shortcut.bang, bang_ranges),
        title_highlights: highlight::to_utf16(
            &shortcut.title,
            highlight::word_ranges(&shortcut.title, words),
        ),
        tag_highlights,
        preview_highlights: highlight::to_utf16(&preview.text, preview.matched),
        preview: preview.text,
    }
}
