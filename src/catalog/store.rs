//! The interfaces a persistent store implements, one per concern: shortcuts, workspace
//! records, seed markers, learned custom keys and the change feed between replicas.
//!
//! The catalog decides what a write should be (ids, versions, validation); a store only
//! makes it durable, atomically, and arbitrates races: bang uniqueness and version checks
//! are enforced by the store so that they hold across several replicas.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::model::Shortcut;
use crate::error::Result;

/// A change another replica made, as announced by a shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// A shortcut was created or updated and is now at `version`.
    Upserted {
        workspace_id: String,
        id: String,
        version: u64,
    },
    Deleted {
        workspace_id: String,
        id: String,
    },
    /// Another replica dropped cached contact or session data.
    DataInvalidated {
        kind: crate::ids::ScopeKind,
        workspace_id: String,
        id: String,
    },
    /// A workspace record was created or updated.
    WorkspaceChanged {
        workspace_id: String,
    },
    /// Announcements may have been missed (the connection was lost and is back): everything
    /// must be reloaded.
    Resync,
}

/// One write of a [`ShortcutStore::write_many`] transaction.
#[derive(Debug, Clone)]
pub enum ShortcutWrite {
    Insert(Shortcut),
    /// Replaces the shortcut if it is still at `expected_version`.
    Update {
        shortcut: Shortcut,
        expected_version: u64,
    },
}

impl ShortcutWrite {
    pub fn shortcut(&self) -> &Shortcut {
        match self {
            ShortcutWrite::Insert(shortcut) | ShortcutWrite::Update { shortcut, .. } => shortcut,
        }
    }
}

/// The shortcuts of every workspace.
#[async_trait]
pub trait ShortcutStore: Send + Sync + 'static {
    /// Every shortcut of every workspace (tools and tests; the service loads workspaces
    /// one at a time, see [`ShortcutStore::load_workspace`]).
    async fn load_all(&self) -> Result<Vec<Shortcut>>;

    /// Every shortcut of one workspace, for the catalogue when the workspace is first used
    /// (read through the `(workspace_id, bang_key)` unique index), handed to `each` in
    /// chunks as they are read: the catalogue builds its memory from the first chunks while
    /// the store reads the next. Returns how many there were.
    async fn load_workspace(
        &self,
        workspace_id: &str,
        each: &mut (dyn FnMut(Vec<Shortcut>) + Send),
    ) -> Result<usize>;

    /// Inserts a new shortcut. A bang already used in the workspace (case-insensitive)
    /// fails with `AlreadyExists`.
    async fn insert(&self, shortcut: &Shortcut) -> Result<()>;

    /// Inserts and replaces several shortcuts in one transaction: all of them or, on any
    /// failure (`AlreadyExists` for a taken bang, `FailedPrecondition` for a version that
    /// moved on), none. Each write is checked as [`ShortcutStore::insert`] or
    /// [`ShortcutStore::update`] would check it.
    async fn write_many(&self, writes: &[ShortcutWrite]) -> Result<()>;

    /// Replaces a shortcut if it is still at `expected_version`. Fails with `NotFound` when
    /// it does not exist in that workspace, `FailedPrecondition` when the version moved on,
    /// `AlreadyExists` when the new bang is taken.
    async fn update(&self, shortcut: &Shortcut, expected_version: u64) -> Result<()>;

    /// Deletes a shortcut, if `expected_version` is given only at that version.
    async fn delete(
        &self,
        workspace_id: &str,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<()>;

    /// One shortcut, straight from the store.
    async fn get(&self, workspace_id: &str, id: &str) -> Result<Option<Shortcut>>;
}

/// The workspace records' part of the store: declared in `workspace` (below the catalogue),
/// implemented by every backend beside the catalogue's own parts.
pub use super::audiences::AudienceStore;
pub use crate::usage::UsageStore;
pub use crate::workspace::WorkspaceStore;

/// One-time markers, such as "demo data seeded", set once per store.
#[async_trait]
pub trait SeedMarkers: Send + Sync + 'static {
    /// Whether the marker was set.
    async fn has_marker(&self, name: &str) -> Result<bool>;

    async fn set_marker(&self, name: &str) -> Result<()>;
}

/// The custom keys learned from a workspace's contact and session data (see
/// `catalog::keys`).
#[async_trait]
pub trait CustomKeyStore: Send + Sync + 'static {
    /// Records keys; those already recorded are left as they are.
    async fn record_custom_keys(
        &self,
        workspace_id: &str,
        kind: crate::ids::ScopeKind,
        keys: &[String],
    ) -> Result<()>;

    /// Every key recorded for a workspace, by scope, ordered.
    async fn custom_keys(&self, workspace_id: &str)
    -> Result<Vec<(crate::ids::ScopeKind, String)>>;
}

/// Replication between the replicas sharing a store. The defaults are those of a store
/// used by one process: nothing to follow, nobody to tell.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Announcements of changes made through any replica, for stores shared by several.
    /// A store used by one process only returns `None`. The feed is listening when this
    /// returns, so a load made afterwards misses nothing.
    async fn subscribe(&self) -> Result<Option<mpsc::Receiver<StoreEvent>>> {
        Ok(None)
    }

    /// Tells the other replicas to drop cached data; a store used by one process has none.
    async fn announce_invalidation(
        &self,
        _kind: crate::ids::ScopeKind,
        _workspace_id: &str,
        _id: &str,
    ) -> Result<()> {
        Ok(())
    }
}

/// Whether the store takes writes now: false while it is unreachable and writes are refused
/// at once (see `crate::store::breaker`), as the health service and the metrics report it.
pub trait WriteHealth: Send + Sync + 'static {
    fn writable(&self) -> tokio::sync::watch::Receiver<bool>;
}

/// A whole store, as `crate::store::open` returns it: each part of the service keeps the
/// interface it uses (an `Arc<dyn Store>` coerces to an `Arc` of any of them).
pub trait Store:
    ShortcutStore
    + WorkspaceStore
    + SeedMarkers
    + CustomKeyStore
    + AudienceStore
    + UsageStore
    + ChangeFeed
    + WriteHealth
{
}

impl<T> Store for T where
    T: ShortcutStore
        + WorkspaceStore
        + SeedMarkers
        + CustomKeyStore
        + AudienceStore
        + UsageStore
        + ChangeFeed
        + WriteHealth
{
}
