//! Usage of stored shortcuts: who rendered what, when, shared by every replica.
//!
//! A render of a stored shortcut (RenderShortcut; a BatchRender counts once, see
//! `crate::batch`) is pushed to a bounded queue ([`recorder`]) and written by a
//! background task in batches, rolled up per UTC day ([`rollup`]), to the same store as the
//! shortcuts ([`UsageStore`]). GetUsage reads the rollups (`catalog::usage_report`); the
//! typeahead's ranking is refreshed from them (`catalog::search::shared`), so that
//! replicas agree on it. Previews (RenderTemplate, inline bodies) are not usage: nothing
//! was sent. This module sits below the catalogue: it knows ids and counts, not shortcuts.

pub mod recorder;
pub mod rollup;

use async_trait::async_trait;

use crate::error::Result;
pub use recorder::{Recorder, UsageSettings, UsageWriter, now_millis};
pub use rollup::{Count, Rollup, Use};

/// Seconds in a day, the rollups' resolution.
pub const DAY_SECS: i64 = 24 * 60 * 60;

/// Most bytes of an agent id kept: an id is a name, and the request is the caller's.
pub const MAX_AGENT_ID_BYTES: usize = 128;

/// The agent a render is counted for: the caller's own agent (a render token's `agent`, or
/// the agent a service token acts for), else `agent.id` of the request's agent values (a
/// string or a number; an admin's renders), else "". The one place that chooses.
pub fn agent_id(caller_agent: Option<&str>, agent: &minijinja::Value) -> String {
    if let Some(id) = caller_agent {
        return bounded(id.to_string());
    }
    let Ok(id) = agent.get_attr("id") else {
        return String::new();
    };
    let text = match id.as_str() {
        Some(text) => text.to_string(),
        // Numbers arrive as floats through protobuf's Struct: 42.0 is agent 42.
        None if id.is_number() => {
            i64::try_from(id.clone()).map_or_else(|_| id.to_string(), |n| n.to_string())
        }
        None => return String::new(),
    };
    bounded(text)
}

/// At most [`MAX_AGENT_ID_BYTES`] of an id, cut at a character boundary.
fn bounded(mut text: String) -> String {
    let mut end = text.len().min(MAX_AGENT_ID_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// The UTC day (days since 1970-01-01) of a time in milliseconds since the epoch.
pub fn day_of_millis(millis: i64) -> i64 {
    millis.div_euclid(DAY_SECS * 1000)
}

/// The Monday starting the week of `day` (1970-01-01 was a Thursday).
pub fn week_of(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// A range of days `[from, to)` cut for the per-week rollup: the days `[from, weeks.0)`,
/// the whole weeks `[weeks.0, weeks.1)` (Mondays; read from the weeks), then the days
/// `[weeks.1, to)`. Without a whole week in the range, both are `to`: all of it is days.
pub fn whole_weeks(from: i64, to: i64) -> (i64, i64) {
    // The first Monday on or after `from`, and the last Monday on or before `to`.
    let (first, end) = (week_of(from + 6), week_of(to));
    if first < end { (first, end) } else { (to, to) }
}

/// The first day kept by a retention of `days` days on `today`: a Monday, so that days and
/// weeks expire together and a range never counts a week whose days are gone (up to six
/// days more than the retention are kept).
pub fn retained_from(today: i64, days: u32) -> i64 {
    week_of(today - i64::from(days))
}

/// What GetUsage counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Shortcut,
    ShortcutDay,
    ShortcutWeek,
    Agent,
}

/// One row of the per-shortcut rollup as the store returns it for a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortcutUses {
    pub shortcut_id: String,
    /// The first day of the period (day or week); 0 when counted over the whole range.
    pub period: i64,
    pub uses: u64,
    pub last_version: u64,
}

/// Where usage is kept: in the shortcut store, so that replicas share it.
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Adds a batch of counts in one transaction: all of it or, on failure, none.
    async fn add_usage(&self, batch: &Rollup) -> Result<()>;

    /// Counts per shortcut for days in `[from, to)`, over the range (`per` = None) or per
    /// day or week; the first `limit` in the order GetUsage documents.
    async fn shortcut_uses(
        &self,
        workspace_id: &str,
        from: i64,
        to: i64,
        per: Option<GroupBy>,
        limit: u32,
    ) -> Result<Vec<ShortcutUses>>;

    /// Counts per agent for days in `[from, to)`, most first, the first `limit`.
    async fn agent_uses(
        &self,
        workspace_id: &str,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<(String, u64)>>;

    /// Every use in `[from, to)`.
    async fn total_uses(&self, workspace_id: &str, from: i64, to: i64) -> Result<u64>;

    /// Each shortcut's last day of use in a workspace (from days still retained).
    async fn last_used_days(&self, workspace_id: &str) -> Result<Vec<(String, i64)>>;

    /// Uses per (workspace, shortcut, day) since `from_day`, for the ranking.
    async fn recent_uses(&self, from_day: i64) -> Result<Vec<(String, String, i64, u64)>>;

    /// Deletes up to `limit` rows older than `before_day` (in each table; a week and a
    /// last day of use when they are before it too); how many went.
    async fn delete_usage_before(&self, before_day: i64, limit: u32) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_is_the_callers_or_its_id_bounded_or_empty() {
        use minijinja::{Value, context};
        assert_eq!(
            agent_id(None, &context! { id => "a-7", name => "Ann" }),
            "a-7"
        );
        assert_eq!(agent_id(None, &context! { id => 42 }), "42");
        assert_eq!(agent_id(None, &context! { id => 42.0 }), "42");
        assert_eq!(agent_id(None, &context! { name => "Ann" }), "");
        assert_eq!(agent_id(None, &context! { id => context! { x => 1 } }), "");
        assert_eq!(agent_id(None, &Value::from(())), "");
        let long = agent_id(None, &context! { id => "é".repeat(500) });
        assert!(long.len() <= MAX_AGENT_ID_BYTES && long.starts_with("éé"));
        // The caller's own agent wins over what the request's agent values say.
        assert_eq!(agent_id(Some("a-1"), &context! { id => "a-7" }), "a-1");
        assert_eq!(
            agent_id(Some(&"x".repeat(500)), &Value::from(())).len(),
            MAX_AGENT_ID_BYTES
        );
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-30 is a Monday, day 20_787.
        let monday = 20_787;
        for day in monday..monday + 7 {
            assert_eq!(week_of(day), monday);
        }
        assert_eq!(week_of(monday - 1), monday - 7);
        assert_eq!(day_of_millis(monday * DAY_SECS * 1000 + 5), monday);
    }

    #[test]
    fn a_range_is_partial_weeks_of_days_around_whole_weeks() {
        let monday = 20_787;
        // Whole weeks exactly.
        assert_eq!(whole_weeks(monday, monday + 14), (monday, monday + 14));
        // Wednesday to the Friday two weeks later: days, one whole week, days.
        assert_eq!(
            whole_weeks(monday + 2, monday + 18),
            (monday + 7, monday + 14)
        );
        // Within one week, or across a week-end without a whole week: days only.
        assert_eq!(
            whole_weeks(monday + 1, monday + 5),
            (monday + 5, monday + 5)
        );
        assert_eq!(
            whole_weeks(monday + 3, monday + 10),
            (monday + 10, monday + 10)
        );
        // Every range: the three parts cover it exactly, the middle in whole weeks.
        for from in monday - 10..monday + 10 {
            for to in from + 1..from + 40 {
                let (first, end) = whole_weeks(from, to);
                assert!(from <= first && first <= end && end <= to, "{from}..{to}");
                assert_eq!((end - first) % 7, 0);
                assert!(first == end || week_of(first) == first);
                // No whole week is left in the days at either end.
                assert!(first - from < 7 || first == to, "{from}..{to}");
                assert!(to - end < 7, "{from}..{to}");
            }
        }
    }

    #[test]
    fn the_retention_keeps_whole_weeks() {
        let monday = 20_787;
        assert_eq!(retained_from(monday + 400, 400), monday);
        assert_eq!(retained_from(monday + 406, 400), monday);
        assert_eq!(retained_from(monday + 407, 400), monday + 7);
    }
}
