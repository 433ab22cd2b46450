//! The statements of the SQL backends and the code that runs them, written once for both.
//!
//! sqlx's SQLite driver reads `$N` placeholders as PostgreSQL does, and both databases take
//! `ON CONFLICT ... DO NOTHING`, so one statement text serves both; what differs (opening,
//! the change feed, the count of rows a write touched) is behind [`Backend`].

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::breaker::{Breaker, BreakerSettings};
use super::db_error;
use super::row::{
    AudienceRow, ShortcutRow, WorkspaceRow, attachments_json, inputs_json, millis, tags_json,
    team_ids_json, variants_json,
};
use crate::catalog::audiences::{self, SavedAudience, name_key};
use crate::catalog::store::{
    AudienceStore, CustomKeyStore, SeedMarkers, ShortcutStore, ShortcutWrite, WorkspaceStore,
    WriteHealth,
};
use crate::catalog::{Shortcut, bang_key};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// What one SQL database adds to the shared statements.
pub trait Backend: Database {
    /// What the backend needs besides its pool to run a change feed.
    type Feed: Send + Sync + 'static;

    /// How many rows a write touched (sqlx has no driver-independent accessor).
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// A store on one SQL database.
pub struct SqlStore<DB: Backend> {
    pub(super) pool: Pool<DB>,
    pub(super) feed: DB::Feed,
    /// Every write passes through it (see [`super::breaker`]).
    pub(super) breaker: Arc<Breaker>,
}

impl<DB: Backend> SqlStore<DB> {
    pub(super) fn new(pool: Pool<DB>, feed: DB::Feed, description: String) -> Self {
        Self {
            pool,
            feed,
            breaker: Arc::new(Breaker::new(description, BreakerSettings::default())),
        }
    }

    /// Bounds writes and probes an unreachable store as `settings` say.
    pub fn with_write_settings(mut self, settings: BreakerSettings) -> Self {
        self.breaker = Arc::new(Breaker::new(self.breaker.store().to_owned(), settings));
        self
    }

    /// Runs one write through the breaker; the write that finds the store unreachable trips
    /// it.
    pub(super) async fn write<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.write_rows(1, work).await
    }

    /// [`SqlStore::write`] for a transaction of `rows` rows.
    async fn write_rows<T>(&self, rows: usize, work: impl Future<Output = Result<T>>) -> Result<T> {
        let result = self.breaker.write_rows(rows, work).await;
        if matches!(result, Err(Error::StoreUnavailable { .. })) {
            trip(&self.breaker, &self.pool);
        }
        result
    }
}

impl<DB: Backend> WriteHealth for SqlStore<DB> {
    fn writable(&self) -> tokio::sync::watch::Receiver<bool> {
        self.breaker.subscribe()
    }
}

/// Refuses writes to the store behind `pool` until a connection to it opens again.
pub(super) fn trip<DB: Database>(breaker: &Arc<Breaker>, pool: &Pool<DB>) {
    let pool = pool.clone();
    breaker.trip(move |bound| {
        let pool = pool.clone();
        async move { matches!(tokio::time::timeout(bound, pool.acquire()).await, Ok(Ok(_))) }
    });
}

/// The columns of [`ShortcutRow`]; a macro so that `concat!` can extend it.
macro_rules! select_shortcuts {
    () => {
        "SELECT id, workspace_id, bang, title, body, tags, disabled, variants, inputs, snippet, visibility, owner, team_ids, folder, folder_position, attachments, version, create_time, update_time FROM shortcuts"
    };
}

const LOAD_SHORTCUTS: &str = select_shortcuts!();

/// Shortcuts handed to the catalogue at a time while a workspace is read.
const LOAD_CHUNK: usize = 64;

const LOAD_WORKSPACE: &str = concat!(select_shortcuts!(), " WHERE workspace_id = $1");

const GET_SHORTCUT: &str = concat!(select_shortcuts!(), " WHERE id = $1 AND workspace_id = $2");

const INSERT_SHORTCUT: &str = "INSERT INTO shortcuts (id, workspace_id, bang, bang_key, title, body, tags, disabled, variants, inputs, snippet, version, create_time, update_time, visibility, owner, team_ids, folder, folder_position, attachments)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)";

const UPDATE_SHORTCUT: &str = "UPDATE shortcuts SET bang = $1, bang_key = $2, title = $3, body = $4, tags = $5, disabled = $6, variants = $7, inputs = $8, snippet = $9, version = $10, update_time = $11,
     visibility = $15, owner = $16, team_ids = $17, folder = $18, folder_position = $19, attachments = $20
     WHERE id = $12 AND workspace_id = $13 AND version = $14";

#[async_trait]
impl<DB: Backend> ShortcutStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'r> ShortcutRow: FromRow<'r, DB::Row>,
{
    async fn load_all(&self) -> Result<Vec<Shortcut>> {
        let rows: Vec<ShortcutRow> = sqlx::query_as(LOAD_SHORTCUTS)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        rows.into_iter().map(Shortcut::try_from).collect()
    }

    async fn load_workspace(
        &self,
        workspace_id: &str,
        each: &mut (dyn FnMut(Vec<Shortcut>) + Send),
    ) -> Result<usize> {
        let mut rows = sqlx::query_as::<_, ShortcutRow>(LOAD_WORKSPACE)
            .bind(workspace_id)
            .fetch(&self.pool);
        let mut chunk = Vec::with_capacity(LOAD_CHUNK);
        let mut count = 0;
        while let Some(row) = rows.try_next().await.map_err(|e| db_error(e, None))? {
            chunk.push(Shortcut::try_from(row)?);
            if chunk.len() == LOAD_CHUNK {
                count += chunk.len();
                each(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(LOAD_CHUNK),
                ));
            }
        }
        count += chunk.len();
        if !chunk.is_empty() {
            each(chunk);
        }
        Ok(count)
    }

    async fn insert(&self, s: &Shortcut) -> Result<()> {
        self.write(async {
            insert_shortcut(s)
                .execute(&self.pool)
                .await
                .map_err(|e| db_error(e, Some(s)))?;
            Ok(())
        })
        .await
    }

    async fn write_many(&self, writes: &[ShortcutWrite]) -> Result<()> {
        self.write_rows(writes.len(), async {
            let mut tx = self.pool.begin().await.map_err(|e| db_error(e, None))?;
            for write in writes {
                match write {
                    ShortcutWrite::Insert(s) => {
                        insert_shortcut(s)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, Some(s)))?;
                    }
                    ShortcutWrite::Update {
                        shortcut: s,
                        expected_version,
                    } => {
                        let done = update_shortcut(s, *expected_version)
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, Some(s)))?;
                        if DB::rows_affected(&done) != 1 {
                            // Rolled back first, so that the read below has a connection
                            // even from a small pool.
                            drop(tx);
                            return Err(why_not_at_version(
                                self,
                                &s.workspace_id,
                                &s.id,
                                *expected_version,
                            )
                            .await);
                        }
                    }
                }
            }
            // Dropping the transaction on an error above rolls every write back.
            tx.commit().await.map_err(|e| db_error(e, None))?;
            Ok(())
        })
        .await
    }

    async fn update(&self, s: &Shortcut, expected_version: u64) -> Result<()> {
        self.write(async {
            let done = update_shortcut(s, expected_version)
                .execute(&self.pool)
                .await;
            one_row_changed::<DB, _>(done, Some(s), || {
                why_not_at_version(self, &s.workspace_id, &s.id, expected_version)
            })
            .await
        })
        .await
    }

    async fn delete(
        &self,
        workspace_id: &str,
        id: &str,
        expected_version: Option<u64>,
    ) -> Result<()> {
        self.write(async {
            // The version column is never NULL, so a NULL $3 matches any version.
            let done = sqlx::query(
                "DELETE FROM shortcuts WHERE id = $1 AND workspace_id = $2 AND version = COALESCE($3, version)",
            )
            .bind(id)
            .bind(workspace_id)
            .bind(expected_version.map(|v| v as i64))
            .execute(&self.pool)
            .await;
            one_row_changed::<DB, _>(done, None, || {
                why_not_at_version(self, workspace_id, id, expected_version.unwrap_or(0))
            })
            .await
        })
        .await
    }

    async fn get(&self, workspace_id: &str, id: &str) -> Result<Option<Shortcut>> {
        let row: Option<ShortcutRow> = sqlx::query_as(GET_SHORTCUT)
            .bind(id)
            .bind(workspace_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        row.map(Shortcut::try_from).transpose()
    }
}

fn insert_shortcut<DB: Database>(s: &Shortcut) -> Query<'static, DB, DB::Arguments>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    // The arguments keep a copy of what is bound, so temporaries may be bound.
    let query = sqlx::query(INSERT_SHORTCUT)
        .bind(s.id.as_str())
        .bind(s.workspace_id.as_str())
        .bind(s.bang.as_str())
        .bind(bang_key(&s.bang).as_str())
        .bind(s.title.as_str())
        .bind(s.body.as_str())
        .bind(tags_json(s).as_str())
        .bind(s.disabled)
        .bind(variants_json(s).as_str())
        .bind(inputs_json(s).as_str())
        .bind(s.snippet)
        .bind(s.version as i64)
        .bind(millis(s.create_time))
        .bind(millis(s.update_time));
    bind_sharing_and_filing(query, s)
}

fn update_shortcut<DB: Database>(
    s: &Shortcut,
    expected_version: u64,
) -> Query<'static, DB, DB::Arguments>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let query = sqlx::query(UPDATE_SHORTCUT)
        .bind(s.bang.as_str())
        .bind(bang_key(&s.bang).as_str())
        .bind(s.title.as_str())
        .bind(s.body.as_str())
        .bind(tags_json(s).as_str())
        .bind(s.disabled)
        .bind(variants_json(s).as_str())
        .bind(inputs_json(s).as_str())
        .bind(s.snippet)
        .bind(s.version as i64)
        .bind(millis(s.update_time))
        .bind(s.id.as_str())
        .bind(s.workspace_id.as_str())
        .bind(expected_version as i64);
    bind_sharing_and_filing(query, s)
}

/// Binds the columns insert and update both end with, as `$15`..`$20`: who sees the
/// shortcut, its folder and its attachments.
fn bind_sharing_and_filing<DB: Database>(
    query: Query<'static, DB, DB::Arguments>,
    s: &Shortcut,
) -> Query<'static, DB, DB::Arguments>
where
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    query
        .bind(s.visibility.as_str())
        .bind(s.owner.as_str())
        .bind(team_ids_json(s).as_str())
        .bind(s.folder.as_str())
        .bind(i64::from(s.position))
        .bind(attachments_json(s).as_str())
}

/// The end of a conditional write, one that changes its row only at the expected version:
/// `Ok` if it changed exactly that row; otherwise `why` finds out why (the record is gone,
/// or moved on), once the statement's connection is back in the pool.
async fn one_row_changed<DB: Backend, W: Future<Output = Error>>(
    done: std::result::Result<DB::QueryResult, sqlx::Error>,
    shortcut: Option<&Shortcut>,
    why: impl FnOnce() -> W,
) -> Result<()> {
    let done = done.map_err(|e| db_error(e, shortcut))?;
    if DB::rows_affected(&done) == 1 {
        return Ok(());
    }
    Err(why().await)
}

/// After a conditional write matched no row: was the shortcut gone, or moved on?
async fn why_not_at_version(
    store: &dyn ShortcutStore,
    workspace_id: &str,
    id: &str,
    expected: u64,
) -> Error {
    match store.get(workspace_id, id).await {
        Ok(Some(current)) => super::stale_version(id, expected, current.version),
        Ok(None) => super::not_found(workspace_id, id),
        Err(e) => e,
    }
}

#[async_trait]
impl<DB: Backend> WorkspaceStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> WorkspaceRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
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
        self.write(async {
            sqlx::query(
                "INSERT INTO workspaces (id, display_name, default_locale, time_zone, version, create_time, update_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(w.id.as_str())
            .bind(w.display_name.as_str())
            .bind(w.default_locale.as_str())
            .bind(w.time_zone.as_str())
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
        })
        .await
    }

    async fn update_workspace(&self, w: &Workspace, expected_version: u64) -> Result<()> {
        self.write(async {
            let done = sqlx::query(
                "UPDATE workspaces SET display_name = $1, default_locale = $2, time_zone = $3, version = $4, update_time = $5
                 WHERE id = $6 AND version = $7",
            )
            .bind(w.display_name.as_str())
            .bind(w.default_locale.as_str())
            .bind(w.time_zone.as_str())
            .bind(w.version as i64)
            .bind(millis(w.update_time))
            .bind(w.id.as_str())
            .bind(expected_version as i64)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
            if DB::rows_affected(&done) == 1 {
                return Ok(());
            }
            // No record, or moved on?
            let current: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM workspaces WHERE id = $1")
                    .bind(w.id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))?;
            Err(match current {
                Some((version,)) => super::stale_workspace(&w.id, expected_version, version as u64),
                None => super::workspace_without_record(&w.id),
            })
        })
        .await
    }
}

#[async_trait]
impl<DB: Backend> SeedMarkers for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn has_marker(&self, name: &str) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT set_time FROM markers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(found.is_some())
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        self.write(async {
            sqlx::query(
                "INSERT INTO markers (name, set_time) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(millis(std::time::SystemTime::now()))
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
            Ok(())
        })
        .await
    }
}

/// Most keys read back per workspace (the learning side bounds them per scope too).
const MAX_CUSTOM_KEYS: i64 = 2000;

#[async_trait]
impl<DB: Backend> CustomKeyStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> (String, String): FromRow<'r, DB::Row>,
{
    async fn record_custom_keys(
        &self,
        workspace_id: &str,
        kind: crate::ids::ScopeKind,
        keys: &[String],
    ) -> Result<()> {
        self.write(async {
            let mut tx = self.pool.begin().await.map_err(|e| db_error(e, None))?;
            for key in keys {
                sqlx::query(
                    "INSERT INTO custom_keys (workspace_id, scope, key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(workspace_id)
                .bind(kind.name())
                .bind(key.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error(e, None))?;
            }
            tx.commit().await.map_err(|e| db_error(e, None))?;
            Ok(())
        })
        .await
    }

    async fn custom_keys(
        &self,
        workspace_id: &str,
    ) -> Result<Vec<(crate::ids::ScopeKind, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT scope, key FROM custom_keys WHERE workspace_id = $1 ORDER BY scope, key LIMIT $2",
        )
        .bind(workspace_id)
        .bind(MAX_CUSTOM_KEYS)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        Ok(rows
            .into_iter()
            .filter_map(|(scope, key)| {
                let kind = match scope.as_str() {
                    "contact" => crate::ids::ScopeKind::Contact,
                    "session" => crate::ids::ScopeKind::Session,
                    _ => return None,
                };
                Some((kind, key))
            })
            .collect())
    }
}

/// The columns of [`AudienceRow`]; a macro so that `concat!` can extend it.
macro_rules! select_audiences {
    () => {
        "SELECT workspace_id, name, filter, description, version, create_time, update_time FROM audiences"
    };
}

#[async_trait]
impl<DB: Backend> AudienceStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'r> AudienceRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn insert_audience(&self, a: &SavedAudience) -> Result<()> {
        self.write(async {
            sqlx::query(
                "INSERT INTO audiences (workspace_id, name_key, name, filter, description, version, create_time, update_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(a.workspace_id.as_str())
            .bind(name_key(&a.name))
            .bind(a.name.as_str())
            .bind(a.filter.as_str())
            .bind(a.description.as_str())
            .bind(a.version as i64)
            .bind(millis(a.create_time))
            .bind(millis(a.update_time))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
                    Error::AudienceExists {
                        workspace: a.workspace_id.clone(),
                        name: a.name.clone(),
                    }
                } else {
                    db_error(e, None)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_audience(&self, workspace_id: &str, name: &str) -> Result<Option<SavedAudience>> {
        let row: Option<AudienceRow> = sqlx::query_as(concat!(
            select_audiences!(),
            " WHERE workspace_id = $1 AND name_key = $2"
        ))
        .bind(workspace_id)
        .bind(name_key(name))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        Ok(row.map(SavedAudience::from))
    }

    async fn list_audiences(&self, workspace_id: &str) -> Result<Vec<SavedAudience>> {
        let rows: Vec<AudienceRow> = sqlx::query_as(concat!(
            select_audiences!(),
            " WHERE workspace_id = $1 ORDER BY name_key"
        ))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        Ok(rows.into_iter().map(SavedAudience::from).collect())
    }

    async fn update_audience(&self, a: &SavedAudience, expected_version: u64) -> Result<()> {
        self.write(async {
            let done = sqlx::query(
                "UPDATE audiences SET filter = $1, description = $2, version = $3, update_time = $4
                 WHERE workspace_id = $5 AND name_key = $6 AND version = $7",
            )
            .bind(a.filter.as_str())
            .bind(a.description.as_str())
            .bind(a.version as i64)
            .bind(millis(a.update_time))
            .bind(a.workspace_id.as_str())
            .bind(name_key(&a.name))
            .bind(expected_version as i64)
            .execute(&self.pool)
            .await;
            one_row_changed::<DB, _>(done, None, || {
                why_audience_not_at(self, &a.workspace_id, &a.name, expected_version)
            })
            .await
        })
        .await
    }

    async fn delete_audience(
        &self,
        workspace_id: &str,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<()> {
        self.write(async {
            let done = sqlx::query(
                "DELETE FROM audiences WHERE workspace_id = $1 AND name_key = $2 AND version = COALESCE($3, version)",
            )
            .bind(workspace_id)
            .bind(name_key(name))
            .bind(expected_version.map(|v| v as i64))
            .execute(&self.pool)
            .await;
            one_row_changed::<DB, _>(done, None, || {
                why_audience_not_at(self, workspace_id, name, expected_version.unwrap_or(0))
            })
            .await
        })
        .await
    }
}

/// Why a conditional write to an audience touched no row: it is gone, or it moved on.
async fn why_audience_not_at<S: AudienceStore + ?Sized>(
    store: &S,
    workspace_id: &str,
    name: &str,
    expected: u64,
) -> Error {
    match store.get_audience(workspace_id, name).await {
        Ok(Some(current)) => Error::StaleVersion {
            record: crate::error::Versioned::Audience,
            id: current.name,
            expected,
            actual: current.version,
        },
        Ok(None) => audiences::not_found(workspace_id, name),
        Err(err) => err,
    }
}
