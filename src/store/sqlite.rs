//! The embedded default store: one SQLite file, created on first start.
//!
//! WAL journal with `synchronous = FULL`, so a write is on disk when its RPC returns, and a
//! crash leaves either the whole write or none of it. The statements are those of
//! [`super::sql`]; a store used by one process has no change feed.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use super::sql::{Backend, SqlStore};
use crate::catalog::store::ChangeFeed;
use crate::error::{Error, Result};

pub type SqliteStore = SqlStore<Sqlite>;

impl Backend for Sqlite {
    type Feed = ();

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl ChangeFeed for SqliteStore {}

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
            .foreign_keys(true)
            // A workspace's load streams its rows: room for a few chunks lets SQLite's thread
            // read ahead while the catalogue indexes (sqlx's default of 50 stalled it).
            .row_buffer_size(512);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| Error::store(format!("cannot open the store at {path:?}"), e))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::store("migrating the schema", e))?;
        Ok(Self::new(pool, (), format!("the SQLite store at {path:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Shortcut;
    use crate::catalog::model::now;
    use crate::catalog::store::{ShortcutStore, ShortcutWrite};

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
            inputs: vec![],
            snippet: false,
            visibility: Default::default(),
            owner: String::new(),
            team_ids: vec![],
            folder: String::new(),
            position: 0,
            attachments: vec![],
            version: 1,
            create_time: now(),
            update_time: now(),
        }
    }

    #[tokio::test]
    async fn write_many_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.insert(&shortcut("a", "taken")).await.unwrap();
        let err = store
            .write_many(&[
                ShortcutWrite::Insert(shortcut("b", "fresh")),
                ShortcutWrite::Insert(shortcut("c", "TAKEN")),
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BangTaken { .. }), "{err:?}");
        let ids: Vec<String> = store
            .load_all()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["a"]);
        store
            .write_many(&[
                ShortcutWrite::Insert(shortcut("b", "fresh")),
                ShortcutWrite::Insert(shortcut("c", "other")),
            ])
            .await
            .unwrap();
        let all = store.load_all().await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].variants["fr"], "c");

        // An update at a version that moved on rolls back the inserts beside it.
        let mut renamed = shortcut("a", "renamed");
        renamed.version = 2;
        let err = store
            .write_many(&[
                ShortcutWrite::Insert(shortcut("d", "new")),
                ShortcutWrite::Update {
                    shortcut: renamed.clone(),
                    expected_version: 5,
                },
            ])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::StaleVersion { .. }), "{err:?}");
        assert_eq!(store.load_all().await.unwrap().len(), 3);
        store
            .write_many(&[
                ShortcutWrite::Insert(shortcut("d", "new")),
                ShortcutWrite::Update {
                    shortcut: renamed,
                    expected_version: 1,
                },
            ])
            .await
            .unwrap();
        let a = store.get("w", "a").await.unwrap().unwrap();
        assert_eq!((a.bang.as_str(), a.version), ("renamed", 2));
        assert_eq!(store.load_all().await.unwrap().len(), 4);
    }
}
