//! The shared store: PostgreSQL, for several replicas behind a load balancer.
//!
//! Bang uniqueness and version checks are enforced by the database, so they hold across
//! replicas. A trigger announces every change on a per-schema channel (LISTEN/NOTIFY); each
//! replica follows it to keep its in-memory catalogue current, and reloads everything after
//! its listening connection was lost, since announcements sent meanwhile are gone.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::mpsc;

use super::db_error;
use super::row::{ShortcutRow, WorkspaceRow, millis, tags_json, variants_json};
use crate::catalog::store::StoreEvent;
use crate::catalog::{Shortcut, ShortcutStore, bang_key};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// Longest wait between two attempts to re-establish the listening connection.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    channel: String,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::invalid("store", format!("not a usable PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone().application_name("shortcuts"))
            .await
            .map_err(|e| Error::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        // sqlx takes an advisory lock around migrations, so replicas starting together
        // apply them once.
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::Internal(format!("store migration failed: {e}")))?;
        let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(Self {
            pool,
            options,
            channel: format!("shortcuts_{schema}"),
        })
    }

    /// After a conditional write matched no row: was the shortcut gone, or moved on?
    async fn why_not_at_version(&self, workspace_id: &str, id: &str, expected: u64) -> Error {
        match self.get(workspace_id, id).await {
            Ok(Some(current)) => super::stale_version(id, expected, current.version),
            Ok(None) => super::not_found(workspace_id, id),
            Err(e) => e,
        }
    }

    async fn listen(&self) -> std::result::Result<PgListener, sqlx::Error> {
        let name = format!("shortcuts-listener-{}", std::process::id());
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(self.options.clone().application_name(&name))
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }
}

#[derive(Deserialize, serde::Serialize)]
struct Announcement {
    op: String,
    workspace_id: String,
    id: String,
    #[serde(default)]
    version: u64,
}

impl Announcement {
    fn into_event(self) -> StoreEvent {
        let kind = match self.op.as_str() {
            "invalidate_contact" => Some(crate::ids::ScopeKind::Contact),
            "invalidate_session" => Some(crate::ids::ScopeKind::Session),
            _ => None,
        };
        if let Some(kind) = kind {
            return StoreEvent::DataInvalidated {
                kind,
                workspace_id: self.workspace_id,
                id: self.id,
            };
        }
        if self.op == "workspace" {
            return StoreEvent::WorkspaceChanged {
                workspace_id: self.workspace_id,
            };
        }
        if self.op == "delete" {
            StoreEvent::Deleted {
                workspace_id: self.workspace_id,
                id: self.id,
            }
        } else {
            StoreEvent::Upserted {
                workspace_id: self.workspace_id,
                id: self.id,
                version: self.version,
            }
        }
    }
}

/// Forwards announcements until the receiver is dropped, reconnecting (with backoff) when
/// the connection is lost and asking for a resync once it is back.
async fn follow(store: PgStore, mut listener: PgListener, events: mpsc::Sender<StoreEvent>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                match serde_json::from_str::<Announcement>(notification.payload()) {
                    Ok(announcement) => {
                        if events.send(announcement.into_event()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring an unreadable change announcement")
                    }
                }
                continue;
            }
            Ok(None) => tracing::warn!(channel = %store.channel, "lost the change feed connection"),
            Err(e) => {
                tracing::warn!(channel = %store.channel, error = %e, "lost the change feed connection")
            }
        }
        let mut delay = Duration::from_millis(100);
        listener = loop {
            if events.is_closed() {
                return;
            }
            match store.listen().await {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "cannot re-establish the change feed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
            }
        };
        tracing::info!(channel = %store.channel, "change feed re-established; resynchronising");
        if events.send(StoreEvent::Resync).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl ShortcutStore for PgStore {
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
            "UPDATE shortcuts SET bang = $1, bang_key = $2, title = $3, body = $4, tags = $5, disabled = $6, version = $7, update_time = $8, variants = $12
             WHERE id = $9 AND workspace_id = $10 AND version = $11",
        )
        .bind(&s.bang)
        .bind(bang_key(&s.bang))
        .bind(&s.title)
        .bind(&s.body)
        .bind(tags_json(s))
        .bind(s.disabled)
        .bind(s.version as i64)
        .bind(millis(s.update_time))
        .bind(&s.id)
        .bind(&s.workspace_id)
        .bind(expected_version as i64)
        .bind(variants_json(s))
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
            "DELETE FROM shortcuts WHERE id = $1 AND workspace_id = $2 AND ($3::BIGINT IS NULL OR version = $3)",
        )
        .bind(id)
        .bind(workspace_id)
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
             FROM shortcuts WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error(e, None))?;
        row.map(Shortcut::try_from).transpose()
    }

    async fn subscribe(&self) -> Result<Option<mpsc::Receiver<StoreEvent>>> {
        let listener = self
            .listen()
            .await
            .map_err(|e| Error::Unavailable(format!("cannot listen for changes: {e}")))?;
        let (events, feed) = mpsc::channel(1024);
        let store = PgStore {
            pool: self.pool.clone(),
            options: self.options.clone(),
            channel: self.channel.clone(),
        };
        tokio::spawn(follow(store, listener, events));
        Ok(Some(feed))
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
            "UPDATE workspaces SET display_name = $1, default_locale = $2, time_zone = $3, version = $4, update_time = $5
             WHERE id = $6 AND version = $7",
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
        let current: std::result::Result<Option<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM workspaces WHERE id = $1")
                .bind(&w.id)
                .fetch_optional(&self.pool)
                .await;
        Err(match current {
            Ok(Some((version,))) => super::stale_workspace(&w.id, expected_version, version as u64),
            Ok(None) => super::workspace_without_record(&w.id),
            Err(e) => db_error(e, None),
        })
    }

    async fn announce_invalidation(
        &self,
        kind: crate::ids::ScopeKind,
        workspace_id: &str,
        id: &str,
    ) -> Result<()> {
        let announcement = Announcement {
            op: format!("invalidate_{}", kind.name()),
            workspace_id: workspace_id.to_string(),
            id: id.to_string(),
            version: 0,
        };
        let payload = serde_json::to_string(&announcement).expect("an announcement serialises");
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(())
    }

    async fn has_marker(&self, name: &str) -> Result<bool> {
        let found: Option<(String,)> = sqlx::query_as("SELECT name FROM markers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(found.is_some())
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO markers (name, set_time) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
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
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(
        "INSERT INTO shortcuts (id, workspace_id, bang, bang_key, title, body, tags, disabled, variants, version, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
