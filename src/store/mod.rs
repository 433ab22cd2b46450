//! Store backends behind the interfaces of [`crate::catalog::store`]: the embedded default
//! (one SQLite file) and, for several replicas, PostgreSQL; their statements are shared
//! ([`sql`]), and so is the mapping of database errors to ours (here).

pub mod breaker;
pub mod postgres;
pub mod row;
pub mod sql;
pub mod sqlite;
pub mod usage;

#[cfg(test)]
mod loading_tests;

use std::sync::Arc;

use crate::catalog::store::Store;
use crate::error::{Error, Result, Versioned, quote};
pub use breaker::BreakerSettings;

/// Opens the store named by `--store`: a `postgres://` URL, or a file path or `sqlite:` URL;
/// its writes are bounded and fail fast as `writes` says.
pub async fn open(spec: &str, writes: BreakerSettings) -> Result<Arc<dyn Store>> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = postgres::PgStore::open(spec).await?;
        return Ok(Arc::new(store.with_write_settings(writes)));
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    let store = sqlite::SqliteStore::open(path).await?;
    Ok(Arc::new(store.with_write_settings(writes)))
}

/// Maps a database error to ours by what it means: a unique violation on a shortcut write
/// is a taken bang, a full disk refuses the write, a lost connection is retryable, and
/// anything else is a store failure. The database error stays as the source.
pub(crate) fn db_error(err: sqlx::Error, shortcut: Option<&crate::catalog::Shortcut>) -> Error {
    if let Some(db) = err.as_database_error()
        && db.is_unique_violation()
        && let Some(s) = shortcut
    {
        return Error::BangTaken {
            workspace: s.workspace_id.clone(),
            bang: s.bang.clone(),
        };
    }
    if out_of_space(&err) {
        tracing::error!(error = %err, "the shortcut store is out of disk space; writes fail until space is freed");
        return Error::StoreFull { cause: err.into() };
    }
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            Error::StoreUnavailable { cause: err.into() }
        }
        other => Error::store("a statement failed", other),
    }
}

/// SQLite's SQLITE_FULL (its primary result code; extended codes add high bits).
const SQLITE_FULL: i32 = 13;
/// PostgreSQL's SQLSTATE `disk_full`.
const PG_DISK_FULL: &str = "53100";

/// Whether a store error means that the disk (or the database's size limit) is full.
fn out_of_space(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(|c| c & 0xff == SQLITE_FULL)
            } else {
                code == PG_DISK_FULL
            }
        }
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

pub(crate) fn stale_version(id: &str, expected: u64, actual: u64) -> Error {
    Error::StaleVersion {
        record: Versioned::Shortcut,
        id: id.to_owned(),
        expected,
        actual,
    }
}

pub(crate) fn not_found(workspace_id: &str, id: &str) -> Error {
    Error::ShortcutNotFound {
        workspace: workspace_id.to_owned(),
        key: format!("id {}", quote(id)),
    }
}

pub(crate) fn workspace_exists(id: &str) -> Error {
    Error::WorkspaceExists {
        workspace: id.to_owned(),
    }
}

pub(crate) fn stale_workspace(id: &str, expected: u64, actual: u64) -> Error {
    Error::StaleVersion {
        record: Versioned::Workspace,
        id: id.to_owned(),
        expected,
        actual,
    }
}

pub(crate) fn workspace_without_record(id: &str) -> Error {
    Error::WorkspaceNotFound {
        workspace: id.to_owned(),
    }
}
