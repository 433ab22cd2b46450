//! The shared store: PostgreSQL, for several replicas behind a load balancer.
//!
//! Bang uniqueness and version checks are enforced by the database, so they hold across
//! replicas. A trigger announces every change on a per-schema channel (LISTEN/NOTIFY); each
//! replica follows it to keep its in-memory catalogue current, and reloads everything after
//! its listening connection was lost, since announcements sent meanwhile are gone. The
//! statements are those of [`super::sql`]; this module owns opening and the change feed.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgQueryResult};
use tokio::sync::mpsc;

use super::db_error;
use super::sql::{Backend, SqlStore};
use crate::catalog::store::{ChangeFeed, StoreEvent};
use crate::error::{Error, Result};

/// Longest wait between two attempts to re-establish the listening connection.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

pub type PgStore = SqlStore<Postgres>;

impl Backend for Postgres {
    type Feed = PgFeed;

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// Where this schema's changes are announced, and how to connect to listen to them.
#[derive(Clone)]
pub struct PgFeed {
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
            .map_err(|e| Error::StoreUnavailable { cause: e.into() })?;
        // sqlx takes an advisory lock around migrations, so replicas starting together
        // apply them once.
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::store("migrating the schema", e))?;
        let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(|e| db_error(e, None))?;
        let description = format!(
            "the PostgreSQL store at {}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        let feed = PgFeed {
            options,
            channel: format!("shortcuts_{schema}"),
        };
        Ok(Self::new(pool, feed, description))
    }
}

impl PgFeed {
    async fn listen(&self) -> std::result::Result<PgListener, sqlx::Error> {
        let name = format!("shortcuts-listener-{}", std::process::id());
        // The listener reconnects through this pool when its connection drops: a short
        // acquire timeout makes a database that stays down show as an error soon (and trip
        // the write breaker) rather than after the default 30 s.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(1))
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
///
/// A failed reconnection means the database is unreachable: `unreachable` is then called, so
/// that writes fail at once instead of each waiting for its own timeout.
async fn follow(
    feed: PgFeed,
    mut listener: PgListener,
    events: mpsc::Sender<StoreEvent>,
    unreachable: impl Fn() + Send + 'static,
) {
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
            Ok(None) => tracing::warn!(channel = %feed.channel, "lost the change feed connection"),
            Err(e) => {
                tracing::warn!(channel = %feed.channel, error = %e, "lost the change feed connection")
            }
        }
        let mut delay = Duration::from_millis(100);
        listener = loop {
            if events.is_closed() {
                return;
            }
            match feed.listen().await {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "cannot re-establish the change feed");
                    unreachable();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
            }
        };
        tracing::info!(channel = %feed.channel, "change feed re-established; resynchronising");
        if events.send(StoreEvent::Resync).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl ChangeFeed for PgStore {
    async fn subscribe(&self) -> Result<Option<mpsc::Receiver<StoreEvent>>> {
        let listener = self
            .feed
            .listen()
            .await
            .map_err(|e| Error::StoreUnavailable { cause: e.into() })?;
        let (events, feed) = mpsc::channel(1024);
        let (breaker, pool) = (self.breaker.clone(), self.pool.clone());
        let unreachable = move || super::sql::trip(&breaker, &pool);
        tokio::spawn(follow(self.feed.clone(), listener, events, unreachable));
        Ok(Some(feed))
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
            .bind(&self.feed.channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error(e, None))?;
        Ok(())
    }
}
