//! How often each shortcut was used recently: a count that halves every day without use.
//!
//! Search breaks ranking ties with it, so it is bumped on every successful render and
//! must cost next to nothing there: one map read and one compare-and-swap on an atomic. It
//! lives in memory only, per replica, and starts from zero when the process starts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// After this long without use, a shortcut's count is worth half as much.
pub const HALF_LIFE: Duration = Duration::from_secs(24 * 60 * 60);

/// An exponentially decaying count of uses, in one atomic word: the count as of a time
/// (an `f32`) and that time (whole seconds since the Unix epoch, a `u32`).
#[derive(Debug, Default)]
pub struct RecentUses(AtomicU64);

impl RecentUses {
    pub fn record(&self) {
        self.record_at(now_secs());
    }

    pub fn record_at(&self, now: u32) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                let (count, at) = unpack(packed);
                Some(pack(decayed(count, at, now) + 1.0, now.max(at)))
            });
    }

    /// The count as of `now` (seconds since the Unix epoch).
    pub fn count_at(&self, now: u32) -> f32 {
        let (count, at) = unpack(self.0.load(Ordering::Acquire));
        decayed(count, at, now)
    }

    /// A key that orders shortcuts by their decayed count at any single moment, without
    /// knowing that moment: `log2(count) + at / half-life` (higher means used more).
    pub fn rank_key(&self) -> f64 {
        let (count, at) = unpack(self.0.load(Ordering::Relaxed));
        if count <= 0.0 {
            return f64::NEG_INFINITY;
        }
        f64::from(count).log2() + f64::from(at) / HALF_LIFE.as_secs_f64()
    }
}

fn decayed(count: f32, at: u32, now: u32) -> f32 {
    if count == 0.0 || now <= at {
        return count;
    }
    let half_lives = f64::from(now - at) / HALF_LIFE.as_secs_f64();
    (f64::from(count) * (-half_lives).exp2()) as f32
}

fn pack(count: f32, at: u32) -> u64 {
    (u64::from(count.to_bits()) << 32) | u64::from(at)
}

fn unpack(packed: u64) -> (f32, u32) {
    (f32::from_bits((packed >> 32) as u32), packed as u32)
}

fn now_secs() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// The counters of every shortcut, by workspace and id. A counter outlives updates of its
/// shortcut and goes with its deletion.
#[derive(Debug, Default)]
pub struct UsageCounters {
    by_workspace: RwLock<HashMap<String, HashMap<String, Arc<RecentUses>>>>,
}

impl UsageCounters {
    /// The counter of a shortcut, created at zero if it has none yet.
    pub fn counter(&self, workspace_id: &str, id: &str) -> Arc<RecentUses> {
        if let Some(found) = self.find(workspace_id, id) {
            return found;
        }
        let mut by_workspace = self.by_workspace.write().expect("usage lock poisoned");
        by_workspace
            .entry(workspace_id.to_string())
            .or_default()
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    /// Counts one use; a shortcut the index does not know is ignored.
    pub fn record(&self, workspace_id: &str, id: &str) {
        let by_workspace = self.by_workspace.read().expect("usage lock poisoned");
        if let Some(counter) = by_workspace.get(workspace_id).and_then(|ws| ws.get(id)) {
            counter.record();
        }
    }

    pub fn remove(&self, workspace_id: &str, id: &str) {
        let mut by_workspace = self.by_workspace.write().expect("usage lock poisoned");
        if let Some(ws) = by_workspace.get_mut(workspace_id) {
            ws.remove(id);
        }
    }

    fn find(&self, workspace_id: &str, id: &str) -> Option<Arc<RecentUses>> {
        let by_workspace = self.by_workspace.read().expect("usage lock poisoned");
        by_workspace.get(workspace_id)?.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u32 = 24 * 60 * 60;

    #[test]
    fn counts_decay_by_half_each_half_life() {
        let uses = RecentUses::default();
        let t0 = 1_800_000_000;
        for _ in 0..8 {
            uses.record_at(t0);
        }
        assert_eq!(uses.count_at(t0), 8.0);
        assert!((uses.count_at(t0 + DAY) - 4.0).abs() < 1e-3);
        uses.record_at(t0 + 2 * DAY);
        assert!((uses.count_at(t0 + 2 * DAY) - 3.0).abs() < 1e-3);
    }

    #[test]
    fn rank_key_orders_like_the_decayed_count() {
        let t0 = 1_800_000_000;
        let (old_favourite, recent) = (RecentUses::default(), RecentUses::default());
        for _ in 0..10 {
            old_favourite.record_at(t0);
        }
        for _ in 0..3 {
            recent.record_at(t0 + 3 * DAY);
        }
        // 10 uses three days ago are worth 1.25 now; 3 uses today beat them.
        assert!(recent.rank_key() > old_favourite.rank_key());
        assert!(RecentUses::default().rank_key() < recent.rank_key());
    }

    #[test]
    fn counters_survive_lookups_and_go_with_removal() {
        let counters = UsageCounters::default();
        let counter = counters.counter("ws", "a");
        counters.record("ws", "a");
        counters.record("ws", "unknown");
        assert!(counter.count_at(now_secs()) >= 1.0);
        assert!(Arc::ptr_eq(&counter, &counters.counter("ws", "a")));
        counters.remove("ws", "a");
        assert!(!Arc::ptr_eq(&counter, &counters.counter("ws", "a")));
    }
}
