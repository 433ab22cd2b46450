//! GetUsage: translates the request to a `catalog::usage_report` query and the report back.

use super::ShortcutApi;
use crate::catalog::usage_report::{self, GroupBy, UsageQuery};
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::pb;
use crate::usage::DAY_SECS;

pub(super) async fn get_usage(
    api: &ShortcutApi,
    r: pb::GetUsageRequest,
) -> Result<pb::GetUsageResponse> {
    let workspace_id = WorkspaceId::parse(&r.workspace_id)?;
    let group_by = match pb::UsageGroupBy::try_from(r.group_by) {
        Ok(pb::UsageGroupBy::Unspecified | pb::UsageGroupBy::Shortcut) => GroupBy::Shortcut,
        Ok(pb::UsageGroupBy::ShortcutDay) => GroupBy::ShortcutDay,
        Ok(pb::UsageGroupBy::ShortcutWeek) => GroupBy::ShortcutWeek,
        Ok(pb::UsageGroupBy::Agent) => GroupBy::Agent,
        Err(_) => {
            return Err(Error::invalid(
                "group_by",
                format!("{} is not a UsageGroupBy value", r.group_by),
            ));
        }
    };
    let query = UsageQuery {
        workspace_id,
        from_millis: r.from.as_ref().map(millis),
        to_millis: r.to.as_ref().map(millis),
        group_by,
        limit: r.limit,
        unused_since_millis: r.unused_since.as_ref().map(millis),
    };
    let report = usage_report::report(
        &**api.catalog.store(),
        &api.catalog,
        &query,
        api.usage_limits,
    )
    .await?;
    Ok(pb::GetUsageResponse {
        counts: report
            .counts
            .into_iter()
            .map(|count| pb::UsageCount {
                shortcut_id: count.shortcut_id,
                bang: count.bang,
                agent_id: count.agent_id,
                period_start: count.period_day.map(day_start),
                uses: count.uses,
                last_version: count.last_version,
            })
            .collect(),
        total_uses: report.total_uses,
        truncated: report.truncated,
        unused: report
            .unused
            .into_iter()
            .map(|unused| pb::UnusedShortcut {
                shortcut_id: unused.shortcut_id,
                bang: unused.bang,
                last_used_day: unused.last_used_day.map(day_start),
            })
            .collect(),
        from: Some(day_start(report.from_day)),
        to: Some(day_start(report.to_day)),
    })
}

/// A timestamp in milliseconds since the epoch; absurd ones are clamped (to about
/// 3,000 years either way), and the range check refuses them.
fn millis(t: &prost_types::Timestamp) -> i64 {
    const MAX_SECONDS: i64 = 100_000_000_000;
    t.seconds.clamp(-MAX_SECONDS, MAX_SECONDS) * 1000
        + i64::from(t.nanos.clamp(0, 999_999_999) / 1_000_000)
}

fn day_start(day: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: day * DAY_SECS,
        nanos: 0,
    }
}
