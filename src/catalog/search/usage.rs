//! How often each shortcut was used recently: a count that halves every day without use.
//!
//! Search breaks ranking ties with it, so it is bumped on every successful render and
//! must cost next to nothing there: a lookup and one compare-and-swap on an atomic. It
//! lives in memory per replica; when usage is recorded (`crate::usage`), every replica
//! periodically replaces it with the count computed from the shared store
//! ([`rank_key_of_days`]), so that replicas converge and a restart keeps the order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// After this long without use, a shortcut's count is worth half as much.
pub const HALF_LIFE: Duration = Duration::from_secs(24 * 60 * 60);

/// An exponentially decaying count of uses, in one atomic word holding its rank key
/// `log2(count at t) + t / half-life` (an `f64`, the same for every `t`): searches compare
/// keys with one load and no arithmetic; a use costs a compare-and-swap.
#[derive(Debug, Default)]
pub struct RecentUses(AtomicU64);

impl RecentUses {
    pub fn record(&self) {
        self.record_at(now_secs());
    }

    pub fn record_at(&self, now: u32) {
        let now = half_lives(now);
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                let key = f64::from_bits(bits);
                let count_now = (key - now).exp2();
                Some(((count_now + 1.0).log2() + now).to_bits())
            });
    }

    /// The count as of `now` (seconds since the Unix epoch).
    pub fn count_at(&self, now: u32) -> f64 {
        (self.rank_key() - half_lives(now)).exp2()
    }

    /// Replaces the count by one computed elsewhere (see [`rank_key_of_days`]).
    pub fn set_rank_key(&self, key: f64) {
        self.0.store(key.to_bits(), Ordering::Relaxed);
    }

    /// Moves the count out, leaving zero (a shortcut that moves to another slot).
    pub fn take(&self) -> RecentUses {
        RecentUses(AtomicU64::new(self.0.swap(0, Ordering::AcqRel)))
    }

    /// Orders shortcuts by their decayed count at any single moment (higher: used more).
    /// Never used is 0.0, below any use since 1970.
    pub fn rank_key(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// The rank key of uses counted per UTC day (days since 1970-01-01, uses), each day's
/// uses taken at its noon; 0.0 (never used) for none. Summed in the log domain, since
/// `2^(t / half-life)` overflows an `f64` for any date after 1972.
pub fn rank_key_of_days(days: &[(i64, u64)]) -> f64 {
    let at = |day: i64| (day as f64 + 0.5) * 86_400.0 / HALF_LIFE.as_secs_f64();
    let Some(newest) = days
        .iter()
        .filter(|(_, uses)| *uses > 0)
        .map(|(day, _)| at(*day))
        .reduce(f64::max)
    else {
        return 0.0;
    };
    let sum: f64 = days
        .iter()
        .map(|(day, uses)| *uses as f64 * (at(*day) - newest).exp2())
        .sum();
    newest + sum.log2()
}

fn half_lives(secs: u32) -> f64 {
    f64::from(secs) / HALF_LIFE.as_secs_f64()
}

fn now_secs() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    u32::try_from(secs).unwrap_or(u32::MAX)
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
        assert!((uses.count_at(t0) - 8.0).abs() < 1e-6);
        assert!((uses.count_at(t0 + DAY) - 4.0).abs() < 1e-6);
        uses.record_at(t0 + 2 * DAY);
        assert!((uses.count_at(t0 + 2 * DAY) - 3.0).abs() < 1e-6);
        assert!(RecentUses::default().count_at(t0) < 1e-9);
    }

    #[test]
    fn a_key_from_daily_counts_equals_the_uses_recorded() {
        let day = 20_000_i64;
        let noon = |d: i64| (d * 86_400 + 43_200) as u32;
        let recorded = RecentUses::default();
        for _ in 0..6 {
            recorded.record_at(noon(day));
        }
        for _ in 0..2 {
            recorded.record_at(noon(day + 2));
        }
        let key = rank_key_of_days(&[(day, 6), (day + 2, 2)]);
        assert!((key - recorded.rank_key()).abs() < 1e-9, "{key}");
        let shared = RecentUses::default();
        shared.set_rank_key(key);
        assert!((shared.count_at(noon(day + 2)) - 3.5).abs() < 1e-6);
        assert_eq!(rank_key_of_days(&[]), 0.0);
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
}
