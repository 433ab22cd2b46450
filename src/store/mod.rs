//! Store backends behind [`ShortcutStore`](crate::catalog::ShortcutStore): the embedded
//! default (one SQLite file) and, for several replicas, PostgreSQL.

pub mod postgres;
pub mod row;
pub mod sqlite;

use std::sync::Arc;

use crate::catalog::ShortcutStore;
use crate::error::{Error, Result};

/// Opens the store named by `--store`: a `postgres://` URL, or a file path or `sqlite:` URL.
pub async fn open(spec: &str) -> Result<Arc<dyn ShortcutStore>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::PgStore::open(spec).await?));
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
}

/// Maps a database error to ours, treating unique violations as a taken bang.
pub(crate) fn db_error(err: sqlx::Error, shortcut: Option<&crate::catalog::Shortcut>) -> Error {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
        && let Some(s) = shortcut
    {
        return Error::AlreadyExists(format!(
            "bang !{} is already used in workspace {:?}",
            s.bang, s.workspace_id
        ));
    }
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            Error::Unavailable(format!("the shortcut store is unavailable: {err}"))
        }
        other => Error::Internal(format!("store: {other}")),
    }
}

pub(crate) fn stale_version(id: &str, expected: u64, current: u64) -> Error {
    Error::FailedPrecondition(format!(
        "shortcut {id} is at version {current}, not {expected}: it was changed since you read it; fetch it again and reapply your change"
    ))
}

pub(crate) fn not_found(workspace_id: &str, id: &str) -> Error {
    Error::NotFound(format!(
        "no shortcut with id {id:?} in workspace {workspace_id:?}"
    ))
}

pub(crate) fn workspace_exists(id: &str) -> Error {
    Error::AlreadyExists(format!(
        "workspace {id:?} already has a record; use UpdateWorkspace"
    ))
}

pub(crate) fn stale_workspace(id: &str, expected: u64, current: u64) -> Error {
    Error::FailedPrecondition(format!(
        "workspace {id} is at version {current}, not {expected}: it was changed since you read it; fetch it again and reapply your change"
    ))
}

pub(crate) fn workspace_without_record(id: &str) -> Error {
    Error::NotFound(format!("workspace {id:?} has no record"))
}
