//! The interface every persistent shortcut store implements.
//!
//! The catalog decides what a write should be (ids, versions, validation); a store only
//! makes it durable, atomically, and arbitrates races: bang uniqueness and version checks
//! are enforced by the store so that they hold across several replicas.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::model::Shortcut;
use crate::error::Result;
use crate::workspace::Workspace;

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

#[async_trait]
pub trait ShortcutStore: Send + Sync + 'static {
    /// Every shortcut of every workspace, for the in-memory catalog at start.
    async fn load_all(&self) -> Result<Vec<Shortcut>>;

    /// Inserts a new shortcut. A bang already used in the workspace (case-insensitive)
    /// fails with `AlreadyExists`.
    async fn insert(&self, shortcut: &Shortcut) -> Result<()>;

    /// Inserts several new shortcuts in one transaction: all of them or, on any failure
    /// (e.g. `AlreadyExists` for a taken bang), none.
    async fn insert_many(&self, shortcuts: &[Shortcut]) -> Result<()>;

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

    /// Whether a one-time marker (such as "demo data seeded") was set.
    async fn has_marker(&self, name: &str) -> Result<bool>;

    async fn set_marker(&self, name: &str) -> Result<()>;

    /// Every workspace record, for the in-memory registry at start.
    async fn load_workspaces(&self) -> Result<Vec<Workspace>>;

    /// Inserts a workspace record; `AlreadyExists` when the workspace has one.
    async fn insert_workspace(&self, workspace: &Workspace) -> Result<()>;

    /// Replaces a workspace record if it is still at `expected_version`: `NotFound` when it
    /// has none, `FailedPrecondition` when the version moved on.
    async fn update_workspace(&self, workspace: &Workspace, expected_version: u64) -> Result<()>;
}
