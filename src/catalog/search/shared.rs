//! The typeahead's ranking from shared counts: each replica reloads, at start and then
//! every `--usage-refresh-interval`, the decayed use count of every shortcut from the
//! store's daily rollups and hands it to the search index. Replicas sharing a store thus
//! converge on one order, and a restart keeps it. Between refreshes, a replica's own
//! renders still bump its in-memory counts at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{SearchIndex, rank_key_of_days};
use crate::error::Result;
use crate::usage::{UsageStore, day_of_millis, now_millis};

/// Days of uses read: with a count that halves every day, a use 30 days old weighs less
/// than a billionth of one today.
pub const WINDOW_DAYS: i64 = 30;

/// Reloads the shared counts into the search index; how many shortcuts have one.
pub async fn refresh(store: &dyn UsageStore, search: &SearchIndex) -> Result<usize> {
    let from = day_of_millis(now_millis()) - WINDOW_DAYS;
    let mut days: HashMap<String, HashMap<String, Vec<(i64, u64)>>> = HashMap::new();
    for (workspace_id, shortcut_id, day, uses) in store.recent_uses(from).await? {
        days.entry(workspace_id)
            .or_default()
            .entry(shortcut_id)
            .or_default()
            .push((day, uses));
    }
    let mut counted = 0;
    let keys: HashMap<String, HashMap<String, f64>> = days
        .into_iter()
        .map(|(workspace_id, shortcuts)| {
            counted += shortcuts.len();
            let keys = shortcuts
                .into_iter()
                .map(|(id, days)| (id, rank_key_of_days(&days)))
                .collect();
            (workspace_id, keys)
        })
        .collect();
    search.set_shared_uses(&keys);
    Ok(counted)
}

/// Refreshes every `every` until the process ends; a failure keeps the counts there are.
pub fn spawn_refresh(
    store: Arc<dyn UsageStore>,
    catalog: Arc<crate::catalog::Catalog>,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once; the start already refreshed.
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(error) = refresh(&*store, catalog.search()).await {
                tracing::warn!(%error, "cannot reload the shared usage counts; keeping the last");
            }
        }
    });
}
