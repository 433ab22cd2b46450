//! Shortcut search, as the agent types a bang or words.

use super::ShortcutApi;
use crate::catalog::search::{MatchKind, SearchHit, SearchQuery, TextRange};
use crate::error::Result;
use crate::ids::WorkspaceId;
use crate::pb;

pub(super) async fn search_shortcuts(
    api: &ShortcutApi,
    r: pb::SearchShortcutsRequest,
    caller: crate::auth::Principal,
) -> Result<pb::SearchShortcutsResponse> {
    api.limits.check_search_query(&r.query)?;
    let workspace = WorkspaceId::parse(&r.workspace_id)?;
    let viewer = super::viewer::viewer(&caller, r.agent.as_ref())?;
    api.catch_up(&r.consistency_token, &workspace).await?;
    let query = SearchQuery {
        text: r.query,
        tags: r.tags,
        limit: r.limit,
        include_disabled: r.include_disabled,
        viewer,
    };
    let hits = api.catalog.search().search(&workspace, &query)?;
    Ok(pb::SearchShortcutsResponse {
        matches: hits.into_iter().map(shortcut_match).collect(),
    })
}

fn shortcut_match(hit: SearchHit) -> pb::ShortcutMatch {
    let s = &hit.entry.shortcut;
    pb::ShortcutMatch {
        id: s.id.clone(),
        bang: s.bang.clone(),
        title: s.title.clone(),
        tags: s.tags.clone(),
        disabled: s.disabled,
        version: s.version,
        preview: hit.preview,
        kind: match_kind(hit.kind) as i32,
        bang_highlights: text_ranges(&hit.bang_highlights),
        title_highlights: text_ranges(&hit.title_highlights),
        tag_highlights: hit
            .tag_highlights
            .iter()
            .map(|(tag_index, ranges)| pb::TagHighlight {
                tag_index: *tag_index,
                ranges: text_ranges(ranges),
            })
            .collect(),
        preview_highlights: text_ranges(&hit.preview_highlights),
        inputs: super::convert::inputs(&s.inputs),
    }
}

fn match_kind(kind: MatchKind) -> pb::MatchKind {
    match kind {
        MatchKind::ExactBang => pb::MatchKind::ExactBang,
        MatchKind::BangPrefix => pb::MatchKind::BangPrefix,
        MatchKind::Title => pb::MatchKind::Title,
        MatchKind::Text => pb::MatchKind::Text,
        MatchKind::Any => pb::MatchKind::Any,
    }
}

fn text_ranges(ranges: &[TextRange]) -> Vec<pb::TextRange> {
    ranges
        .iter()
        .map(|r| pb::TextRange {
            start: r.start,
            end: r.end,
        })
        .collect()
}
