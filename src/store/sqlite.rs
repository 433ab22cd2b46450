//! The embedded default store: one SQLite file, created on first start.
//!
//! WAL journal with `synchronous = FULL`, so a write is on disk when its RPC returns, and a
//! crash leaves either the whole write or none of it.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::db_error;
use super::row::{ShortcutRow, WorkspaceRow, millis, tags_json, variants_json};
use crate::catalog::{Shortcut, ShortcutStore, bang_key};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(path: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(|e| {
                Error::invalid(
                    "store",
                    format!("{path:?} is not a usable SQLite path: {e}"),
                )
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open the store at {path:?}: {e}")))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::Internal(format!("store migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl ShortcutStore for SqliteStore {
    async fn load_all(&self) -> Result<Vec<Shortcut>> {
        let rows: Vec<ShortcutRow> = sqlx::query_as(
            "SELECT id, workspace_id, bang, title, body, tags, disabled, variants, version, create_time, update_time FROM shortcuts",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        rows.into_iter().map(Shortcut::try_from).collect()
    }

    async fn insert(&self, s: &Shortcut) -> Result<()> {
        insert_query(s)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, Some(s)))?;
        Ok(())
    }

    async fn insert_many(&self, shortcuts: &[Shortcut]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| db_error(e, None))?;
        for s in shortcuts {
            insert_query(s)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(e, Some(s)))?;
        }
        // Dropping the transaction on an error above rolls every insert back.
        tx.commit().await.map_err(|e| db_error(e, None))?;
        Ok(())
    }

    async fn update(&self, s: &Shortcut, expected_version: u64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE shortcuts SET bang = ?, bang_key = ?, title = ?, body = ?, tags = ?, disabled = ?, variants = ?, version = ?, update_time = ?
             WHERE id = ? AND workspace_id = ? AND version = ?",
        )
        .bind(&s.bang)
        .bind(bang_key(&s.bang))
        .bind(&s.title)
        .bind(&s.body)
        .bind(tags_json(s))
        .bind(s.disabled)
        .bind(variants_json(s))
        .bind(s.version as i64)
        .bind(millis(s.update_time))
        .bind(&s.id)
        .bind(&s.workspace_id)
        .bind(expected_version as i64)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, Some(s)))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        Err(self
            .why_not_at_version(&s.workspace_id, &s.id, expected_version)
            .await)
    }

    async fn delete(
        &self,
        workspace_id: &str,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM shortcuts WHERE id = ? AND workspace_id = ? AND (? IS NULL OR version = ?)",
        )
        .bind(id)
        .bind(workspace_id)
        .bind(expected_version.map(|v| v as i64))
        .bind(expected_version.map(|v| v as i64))
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        Err(self
            .why_not_at_version(workspace_id, id, expected_version.unwrap_or(0))
            .await)
    }

    async fn get(&self, workspace_id: &str, id: &str) -> Result<Option<Shortcut>> {
        let row: Option<ShortcutRow> = sqlx::query_as(
            "SELECT id, workspace_id, bang, title, body, tags, disabled, variants, version, create_time, update_time
             FROM shortcuts WHERE id = ? AND workspace_id = ?",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        row.map(Shortcut::try_from).transpose()
    }

    async fn has_marker(&self, name: &str) -> Result<bool> {
        let found: Option<(String,)> = sqlx::query_as("SELECT name FROM markers WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(found.is_some())
    }

    async fn load_workspaces(&self) -> Result<Vec<Workspace>> {
        let rows: Vec<WorkspaceRow> = sqlx::query_as(
            "SELECT id, display_name, default_locale, time_zone, version, create_time, update_time FROM workspaces",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        Ok(rows.into_iter().map(Workspace::from).collect())
    }

    async fn insert_workspace(&self, w: &Workspace) -> Result<()> {
        sqlx::query(
            "INSERT INTO workspaces (id, display_name, default_locale, time_zone, version, create_time, update_time)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&w.id)
        .bind(&w.display_name)
        .bind(&w.default_locale)
        .bind(&w.time_zone)
        .bind(w.version as i64)
        .bind(millis(w.create_time))
        .bind(millis(w.update_time))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
                super::workspace_exists(&w.id)
            } else {
                db_error(e, None)
            }
        })?;
        Ok(())
    }

    async fn update_workspace(&self, w: &Workspace, expected_version: u64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE workspaces SET display_name = ?, default_locale = ?, time_zone = ?, version = ?, update_time = ?
             WHERE id = ? AND version = ?",
        )
        .bind(&w.display_name)
        .bind(&w.default_locale)
        .bind(&w.time_zone)
        .bind(w.version as i64)
        .bind(millis(w.update_time))
        .bind(&w.id)
        .bind(expected_version as i64)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        Err(self
            .why_workspace_not_at_version(&w.id, expected_version)
            .await)
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO markers (name, set_time) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(millis(std::time::SystemTime::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        Ok(())
    }
}

fn insert_query(
    s: &Shortcut,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(
        "INSERT INTO shortcuts (id, workspace_id, bang, bang_key, title, body, tags, disabled, variants, version, create_time, update_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&s.id)
    .bind(&s.workspace_id)
    .bind(&s.bang)
    .bind(bang_key(&s.bang))
    .bind(&s.title)
    .bind(&s.body)
    .bind(tags_json(s))
    .bind(s.disabled)
    .bind(variants_json(s))
    .bind(s.version as i64)
    .bind(millis(s.create_time))
    .bind(millis(s.update_time))
}

impl SqliteStore {
    /// After a conditional workspace write matched no row: no record, or moved on?
    async fn why_workspace_not_at_version(&self, id: &str, expected: u64) -> Error {
        let current: std::result::Result<Option<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM workspaces WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await;
        match current {
            Ok(Some((version,))) => super::stale_workspace(id, expected, version as u64),
            Ok(None) => super::workspace_without_record(id),
            Err(e) => db_error(e, None),
        }
    }

    /// After a conditional write matched no row: was the shortcut gone, or moved on?
    async fn why_not_at_version(&self, workspace_id: &str, id: &str, expected: u64) -> Error {
        let current: std::result::Result<Option<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM shortcuts WHERE id = ? AND workspace_id = ?")
                .bind(id)
                .bind(workspace_id)
                .fetch_optional(&self.pool)
                .await;
        match current {
            Ok(Some((version,))) => super::stale_version(id, expected, version as u64),
            Ok(None) => super::not_found(workspace_id, id),
            Err(e) => db_error(e, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::now;

    fn shortcut(id: &str, bang: &str) -> Shortcut {
        Shortcut {
            id: id.into(),
            workspace_id: "w".into(),
            bang: bang.into(),
            title: "t".into(),
            body: "b".into(),
            tags: vec![],
            disabled: false,
            variants: [("fr".to_string(), "c".to_string())].into(),
            version: 1,
            create_time: now(),
            update_time: now(),
        }
    }

    #[tokio::test]
    async fn insert_many_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.insert(&shortcut("a", "taken")).await.unwrap();
        let err = store
            .insert_many(&[shortcut("b", "fresh"), shortcut("c", "TAKEN")])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
        let ids: Vec<String> = store
            .load_all()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["a"]);
        store
            .insert_many(&[shortcut("b", "fresh"), shortcut("c", "other")])
            .await
            .unwrap();
        let all = store.load_all().await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].variants["fr"], "c");
    }
}
