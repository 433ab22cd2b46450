//! The scope cache: render-ready scopes per (workspace, contact) and (workspace, session),
//! bounded by bytes, each kept for its time to live plus a grace period during which it
//! may still be served if its source fails.
//!
//! A miss (or an expired entry) is refreshed under moka's per-key compute lock, so that
//! concurrent misses on one key make exactly one upstream call; the others wait and then
//! find the fresh entry.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use minijinja::Value;
use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::ops::compute::{CompResult, Op};

use super::upstream::FetchFailure;
use super::{ScopeKind, scope};

/// Which record an entry is for: kind, workspace and id in one string (one allocation per
/// entry instead of two, and a smaller key for moka to hold).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Box<str>);

/// Separates the workspace from the id in a key; ids cannot hold control characters.
const SEPARATOR: char = '\x1f';

impl CacheKey {
    pub fn new(kind: ScopeKind, workspace_id: &str, id: &str) -> Self {
        let mut key = String::with_capacity(2 + workspace_id.len() + id.len());
        key.push(match kind {
            ScopeKind::Contact => 'c',
            ScopeKind::Session => 's',
        });
        key.push_str(workspace_id);
        key.push(SEPARATOR);
        key.push_str(id);
        CacheKey(key.into_boxed_str())
    }

    pub fn kind(&self) -> ScopeKind {
        if self.0.starts_with('c') {
            ScopeKind::Contact
        } else {
            ScopeKind::Session
        }
    }

    /// The workspace and the id.
    pub fn parts(&self) -> (&str, &str) {
        self.0[1..].rsplit_once(SEPARATOR).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// One cached answer of a source: a scope, or "not found".
#[derive(Debug)]
pub struct CachedScope {
    /// `None`: the source does not know this id.
    pub scope: Option<Value>,
    pub fetched_at: Instant,
    /// How long the answer is fresh.
    pub fresh_for: Duration,
    /// How long it is kept at all (fresh, then stale but servable on failure).
    pub keep_for: Duration,
    /// Approximate memory held, for the byte-bounded eviction.
    pub weight: u32,
    /// Renders served this answer in its refresh-ahead window: refresh-ahead pays only for
    /// entries read there more than once, since one read once there gains nothing from
    /// being fetched early and would cost a request cache-aside never makes.
    pub reads_in_window: AtomicU32,
}

impl CachedScope {
    pub fn is_fresh(&self) -> bool {
        self.fetched_at.elapsed() < self.fresh_for
    }

    pub fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }

    /// Counts one more render served this answer in its refresh-ahead window; returns the
    /// count with it.
    pub fn read_in_window(&self) -> u32 {
        self.reads_in_window
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }
}

/// What a lookup produced.
pub enum Lookup {
    /// Fresh from the cache.
    Cached(Arc<CachedScope>),
    /// Fetched from the source by this lookup.
    Fetched(Arc<CachedScope>),
    /// The source failed; `stale` is an expired answer still within its grace period.
    Failed {
        failure: FetchFailure,
        stale: Option<Arc<CachedScope>>,
    },
}

pub struct ScopeCache {
    entries: Cache<CacheKey, Arc<CachedScope>>,
    /// Counts invalidations, so that a fetch that overlapped one does not store data that
    /// may predate it as fresh: one counter for contacts (an invalidation may reach
    /// entries cached under an alias) and [`SESSION_STRIPES`] for sessions by key, so that
    /// the steady stream of conversation events does not spoil every other fetch in flight.
    contact_invalidations: AtomicU64,
    session_invalidations: Box<[AtomicU64]>,
}

/// How many counters session invalidations are spread over. A fetch is spoilt by an
/// unrelated invalidation with odds of (invalidations per second × fetch time / stripes):
/// with 64, a day of ~6 new conversations a second (each a `session:request:initiated`
/// hook) against a 150 ms source spoilt 1.4% of conversation fetches, each one a render
/// that waited; 4,096 (32 KiB) bring that to 0.02%.
const SESSION_STRIPES: usize = 4096;

struct KeepFor;

impl moka::Expiry<CacheKey, Arc<CachedScope>> for KeepFor {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<CachedScope>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<CachedScope>,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.keep_for)
    }
}

impl ScopeCache {
    pub fn new(max_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, value: &Arc<CachedScope>| {
                // Besides the key, moka keeps about this much per entry (its own entry,
                // access and expiry bookkeeping, the `CachedScope` around the scope).
                let key_bytes = (key.len() + 320) as u32;
                value.weight.saturating_add(key_bytes)
            })
            .expire_after(KeepFor)
            .support_invalidation_closures()
            .eviction_listener(|_key, _value, cause| {
                let label = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit => "invalidated",
                    // A refresh: the entry stays, with newer data.
                    RemovalCause::Replaced => return,
                };
                crate::telemetry::record_cache_eviction(label);
            })
            .build();
        ScopeCache {
            entries,
            contact_invalidations: AtomicU64::new(0),
            session_invalidations: (0..SESSION_STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The invalidation counter a fetch of `key` watches.
    fn invalidations(&self, key: &CacheKey) -> &AtomicU64 {
        match key.kind() {
            ScopeKind::Contact => &self.contact_invalidations,
            ScopeKind::Session => {
                use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
                let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
                &self.session_invalidations[hash as usize % SESSION_STRIPES]
            }
        }
    }

    /// The entry for `key` if it is fresh: the warm path, which never waits on a lock.
    pub async fn fresh(&self, key: &CacheKey) -> Option<Arc<CachedScope>> {
        self.entries.get(key).await.filter(|entry| entry.is_fresh())
    }

    /// Stores an entry fetched by other means than a lookup (a contact listing).
    pub async fn insert(&self, key: CacheKey, entry: Arc<CachedScope>) {
        self.entries.insert(key, entry).await;
    }

    /// Any entry for `key` still within its grace period.
    pub async fn servable(&self, key: &CacheKey) -> Option<Arc<CachedScope>> {
        self.entries.get(key).await
    }

    /// Returns the fresh entry for `key`, or refreshes it with `fetch` (one fetch per key
    /// at a time; callers that waited find the result of the one before them).
    pub async fn lookup<F>(&self, key: CacheKey, fetch: F) -> Lookup
    where
        F: Future<Output = Result<CachedScope, FetchFailure>>,
    {
        let (result, failure) = self.fetch_unless(key, CachedScope::is_fresh, fetch).await;
        match (result, failure) {
            (CompResult::Inserted(entry) | CompResult::ReplacedWith(entry), _) => {
                Lookup::Fetched(entry.into_value())
            }
            (CompResult::Unchanged(entry), None) => Lookup::Cached(entry.into_value()),
            (CompResult::Unchanged(entry), Some(failure)) => Lookup::Failed {
                failure,
                stale: Some(entry.into_value()),
            },
            (CompResult::StillNone(_) | CompResult::Removed(_), failure) => Lookup::Failed {
                failure: failure.unwrap_or_else(|| {
                    FetchFailure::Unavailable("the cache entry vanished".into())
                }),
                stale: None,
            },
        }
    }

    /// Fetches `key` again in the background (refresh-ahead, prefetch) unless the entry it
    /// holds by then satisfies `skip` (e.g. another fetch replaced it). Like [`lookup`],
    /// one fetch per key at a time; a failure leaves the current entry as it is.
    ///
    /// [`lookup`]: ScopeCache::lookup
    pub async fn refresh<F>(
        &self,
        key: CacheKey,
        skip: impl FnOnce(&CachedScope) -> bool,
        fetch: F,
    ) -> Result<Option<Arc<CachedScope>>, FetchFailure>
    where
        F: Future<Output = Result<CachedScope, FetchFailure>>,
    {
        let (result, failure) = self.fetch_unless(key, skip, fetch).await;
        match (result, failure) {
            (_, Some(failure)) => Err(failure),
            (CompResult::Inserted(entry) | CompResult::ReplacedWith(entry), None) => {
                Ok(Some(entry.into_value()))
            }
            _ => Ok(None),
        }
    }

    /// The one fetch-and-store both [`lookup`](ScopeCache::lookup) and
    /// [`refresh`](ScopeCache::refresh) make: under the entry's lock, unless the entry held
    /// satisfies `skip`, fetch and store the result; a fetch that raced an invalidation of
    /// its key is stored already expired (served to this caller, fetched again for the
    /// next). A failure leaves the entry as it is and is handed back beside the outcome.
    async fn fetch_unless<F>(
        &self,
        key: CacheKey,
        skip: impl FnOnce(&CachedScope) -> bool,
        fetch: F,
    ) -> (CompResult<CacheKey, Arc<CachedScope>>, Option<FetchFailure>)
    where
        F: Future<Output = Result<CachedScope, FetchFailure>>,
    {
        let mut failure: Option<FetchFailure> = None;
        let slot = &mut failure;
        let mut started_at = 0;
        let started = &mut started_at;
        let counter = self.invalidations(&key);
        let alias_of = key.clone();
        let result = self
            .entries
            .entry(key)
            .and_compute_with(|current| async move {
                if current.as_ref().is_some_and(|entry| skip(entry.value())) {
                    return Op::Nop;
                }
                let before = counter.load(Ordering::Acquire);
                *started = before;
                match fetch.await {
                    Ok(mut fetched) => {
                        if counter.load(Ordering::Acquire) != before {
                            fetched.fresh_for = Duration::ZERO;
                        }
                        Op::Put(Arc::new(fetched))
                    }
                    Err(error) => {
                        *slot = Some(error);
                        Op::Nop
                    }
                }
            })
            .await;
        if let CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) = &result
            && alias_of.kind() == ScopeKind::Contact
        {
            self.fill_aliases(&alias_of, entry.value(), started_at)
                .await;
        }
        (result, failure)
    }

    /// Stores a contact just fetched under its other ids too (people id, email), so that
    /// the contact reached by another of them is not fetched again: the same entry, so the
    /// same age and freshness. An alias holding a newer fetch keeps it. Invalidations
    /// reach every alias already (see [`invalidate`](ScopeCache::invalidate)); one that
    /// came after the fetch started leaves no alias behind: checked after the insert, so
    /// that an invalidation between the check and the insert cannot be missed.
    async fn fill_aliases(&self, key: &CacheKey, entry: &Arc<CachedScope>, before: u64) {
        let Some(scope) = entry.scope.as_ref().filter(|_| entry.is_fresh()) else {
            return;
        };
        let (workspace_id, fetched_by) = key.parts();
        for alias in scope::aliases(scope) {
            if alias == fetched_by {
                continue;
            }
            let alias_key = CacheKey::new(ScopeKind::Contact, workspace_id, &alias);
            if let Some(held) = self.entries.get(&alias_key).await
                && held.fetched_at >= entry.fetched_at
            {
                continue;
            }
            self.entries.insert(alias_key.clone(), entry.clone()).await;
            if self.contact_invalidations.load(Ordering::Acquire) != before {
                self.entries.invalidate(&alias_key).await;
            }
        }
    }

    /// Drops the entry for `id`, and for contacts every entry that answers to `id` by
    /// alias (a contact cached under its email, invalidated by its people id: the native
    /// `id` and `email` of the cached scope, see [`scope::answers_to`]).
    pub async fn invalidate(&self, kind: ScopeKind, workspace_id: &str, id: &str) {
        self.invalidations(&CacheKey::new(kind, workspace_id, id))
            .fetch_add(1, Ordering::AcqRel);
        self.entries
            .invalidate(&CacheKey::new(kind, workspace_id, id))
            .await;
        if kind == ScopeKind::Contact {
            let workspace = workspace_id.to_string();
            let alias = id.to_lowercase();
            let registered = self.entries.invalidate_entries_if(move |key, value| {
                let (key_workspace, key_id) = key.parts();
                key.kind() == kind
                    && key_workspace == workspace
                    && (key_id.to_lowercase() == alias
                        || value
                            .scope
                            .as_ref()
                            .is_some_and(|scope| scope::answers_to(scope, &alias)))
            });
            if let Err(error) = registered {
                tracing::error!(%error, "cannot invalidate contact aliases");
            }
        }
    }

    /// Runs moka's pending maintenance (eviction, invalidation) now; for tests and metrics.
    pub async fn settle(&self) {
        self.entries.run_pending_tasks().await;
    }

    pub fn weighted_size(&self) -> u64 {
        self.entries.weighted_size()
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}
