//! GetUsage in domain terms: checks the request, reads the usage rollups
//! (`crate::usage`) and names each shortcut by its bang today.
//!
//! Days and weeks are UTC: the rollups are written per UTC day, whatever the workspace's
//! time zone, so that a change of time zone never splits or merges past days.

use super::{Catalog, ShortcutKey};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
pub use crate::usage::GroupBy;
use crate::usage::{DAY_SECS, UsageStore};

/// Counts returned when the request says 0.
pub const DEFAULT_LIMIT: u32 = 100;

/// The bounds of a GetUsage request (the `--usage-max-*` flags).
#[derive(Debug, Clone, Copy)]
pub struct UsageLimits {
    /// Longest range, in days.
    pub max_days: u32,
    /// Most counts (and unused shortcuts) in one answer.
    pub max_rows: u32,
}

impl Default for UsageLimits {
    fn default() -> Self {
        Self {
            max_days: 400,
            max_rows: 10_000,
        }
    }
}

/// A GetUsage request; times in milliseconds since the epoch.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub workspace_id: WorkspaceId,
    pub from_millis: Option<i64>,
    pub to_millis: Option<i64>,
    pub group_by: GroupBy,
    pub limit: u32,
    pub unused_since_millis: Option<i64>,
}

/// One count of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    pub shortcut_id: String,
    pub bang: String,
    pub agent_id: String,
    /// The first day of the day or week counted.
    pub period_day: Option<i64>,
    pub uses: u64,
    pub last_version: u64,
}

/// A shortcut without a render since the date asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub shortcut_id: String,
    pub bang: String,
    pub last_used_day: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct UsageReport {
    pub counts: Vec<UsageCount>,
    pub total_uses: u64,
    pub truncated: bool,
    pub unused: Vec<Unused>,
    pub from_day: i64,
    pub to_day: i64,
}

const DAY_MILLIS: i64 = DAY_SECS * 1000;

/// Answers a GetUsage request.
pub async fn report(
    store: &dyn UsageStore,
    catalog: &Catalog,
    query: &UsageQuery,
    limits: UsageLimits,
) -> Result<UsageReport> {
    let from = query
        .from_millis
        .ok_or_else(|| Error::invalid("from", "is required"))?;
    let to = query
        .to_millis
        .ok_or_else(|| Error::invalid("to", "is required"))?;
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    let (from_day, to_day) = (
        from.div_euclid(DAY_MILLIS),
        to.div_euclid(DAY_MILLIS) + i64::from(to.rem_euclid(DAY_MILLIS) != 0),
    );
    if to_day - from_day > i64::from(limits.max_days) {
        return Err(Error::invalid(
            "to",
            format!(
                "the range covers {} days; at most {} (--usage-max-range-days)",
                to_day - from_day,
                limits.max_days
            ),
        ));
    }
    let limit = match query.limit {
        0 => DEFAULT_LIMIT.min(limits.max_rows),
        n if n > limits.max_rows => {
            return Err(Error::invalid(
                "limit",
                format!("must be at most {} (--usage-max-rows)", limits.max_rows),
            ));
        }
        n => n,
    };
    let ws = query.workspace_id.as_str();
    // One more than asked tells whether there were more.
    let mut counts: Vec<UsageCount> = match query.group_by {
        GroupBy::Agent => store
            .agent_uses(ws, from_day, to_day, limit + 1)
            .await?
            .into_iter()
            .map(|(agent_id, uses)| UsageCount {
                shortcut_id: String::new(),
                bang: String::new(),
                agent_id,
                period_day: None,
                uses,
                last_version: 0,
            })
            .collect(),
        per => {
            let per = (per != GroupBy::Shortcut).then_some(per);
            store
                .shortcut_uses(ws, from_day, to_day, per, limit + 1)
                .await?
                .into_iter()
                .map(|row| UsageCount {
                    bang: bang_of(catalog, &query.workspace_id, &row.shortcut_id),
                    shortcut_id: row.shortcut_id,
                    agent_id: String::new(),
                    period_day: per.map(|_| row.period),
                    uses: row.uses,
                    last_version: row.last_version,
                })
                .collect()
        }
    };
    let truncated = counts.len() > limit as usize;
    counts.truncate(limit as usize);
    let total_uses = store.total_uses(ws, from_day, to_day).await?;
    let unused = match query.unused_since_millis {
        Some(since) => {
            unused_since(
                store,
                catalog,
                &query.workspace_id,
                since.div_euclid(DAY_MILLIS),
                limit,
            )
            .await?
        }
        None => Vec::new(),
    };
    Ok(UsageReport {
        counts,
        total_uses,
        truncated,
        unused,
        from_day,
        to_day,
    })
}

/// The workspace's replies without a render since `since_day`: never used first (in bang
/// order), then the longest unused.
async fn unused_since(
    store: &dyn UsageStore,
    catalog: &Catalog,
    workspace_id: &WorkspaceId,
    since_day: i64,
    limit: u32,
) -> Result<Vec<Unused>> {
    let last_used: std::collections::HashMap<String, i64> = store
        .last_used_days(workspace_id.as_str())
        .await?
        .into_iter()
        .collect();
    let mut unused: Vec<Unused> = catalog
        .replies(workspace_id)
        .into_iter()
        .filter_map(|(shortcut_id, bang)| {
            let last_used_day = last_used.get(&shortcut_id).copied();
            match last_used_day {
                Some(day) if day >= since_day => None,
                _ => Some(Unused {
                    shortcut_id,
                    bang,
                    last_used_day,
                }),
            }
        })
        .collect();
    // Stable: bang order within the never used and within a day.
    unused.sort_by_key(|u| u.last_used_day.unwrap_or(i64::MIN));
    unused.truncate(limit as usize);
    Ok(unused)
}

/// A shortcut's bang today; "" when it was deleted since.
fn bang_of(catalog: &Catalog, workspace_id: &WorkspaceId, id: &str) -> String {
    crate::ids::ShortcutId::parse(id)
        .and_then(|id| catalog.get(workspace_id, &ShortcutKey::Id(id)))
        .map(|entry| entry.shortcut.bang.clone())
        .unwrap_or_default()
}
