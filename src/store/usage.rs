//! The usage rollups in the SQL stores (see `crate::usage` and migration 0007): batches
//! added with one upsert per table and chunk, in one transaction; the reads of GetUsage and
//! of the ranking refresh; the retention's bounded deletes. One statement text serves both
//! databases; the implementation is stamped out per backend by a macro, since the generic
//! form would need a bound per row shape.

use async_trait::async_trait;

use super::db_error;
use super::sql::SqlStore;
use crate::error::Result;
use crate::usage::{GroupBy, Rollup, ShortcutUses, UsageStore};

/// Rows per INSERT: 5 values each stays far below SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

const SHORTCUTS_OVER_RANGE: &str =
    "SELECT shortcut_id, CAST(0 AS BIGINT), CAST(SUM(uses) AS BIGINT), MAX(shortcut_version)
     FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     GROUP BY shortcut_id ORDER BY 3 DESC, shortcut_id LIMIT $4";

const SHORTCUTS_PER_DAY: &str =
    "SELECT shortcut_id, day, CAST(SUM(uses) AS BIGINT), MAX(shortcut_version)
     FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     GROUP BY day, shortcut_id ORDER BY 2, 3 DESC, shortcut_id LIMIT $4";

/// Weeks start on Monday: day 0 (1970-01-01) was a Thursday (see `usage::week_of`).
const SHORTCUTS_PER_WEEK: &str = "SELECT shortcut_id, day - ((day + 3) % 7) AS week, CAST(SUM(uses) AS BIGINT), MAX(shortcut_version)
     FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     GROUP BY week, shortcut_id ORDER BY 2, 3 DESC, shortcut_id LIMIT $4";

const AGENTS: &str = "SELECT agent_id, CAST(SUM(uses) AS BIGINT)
     FROM usage_agent_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     GROUP BY agent_id ORDER BY 2 DESC, agent_id LIMIT $4";

/// From the agents' table: the same uses in fewer rows.
const TOTAL: &str = "SELECT CAST(COALESCE(SUM(uses), 0) AS BIGINT)
     FROM usage_agent_days WHERE workspace_id = $1 AND day >= $2 AND day < $3";

const LAST_USED: &str = "SELECT shortcut_id, MAX(day) FROM usage_shortcut_days
     WHERE workspace_id = $1 GROUP BY shortcut_id";

const RECENT: &str = "SELECT workspace_id, shortcut_id, day, CAST(SUM(uses) AS BIGINT)
     FROM usage_shortcut_days WHERE day >= $1 GROUP BY workspace_id, shortcut_id, day";

const EXPIRE_SHORTCUT_DAYS: &str = "DELETE FROM usage_shortcut_days
     WHERE (workspace_id, day, shortcut_id, shortcut_version) IN (
       SELECT workspace_id, day, shortcut_id, shortcut_version FROM usage_shortcut_days
       WHERE day < $1 LIMIT $2)";

const EXPIRE_AGENT_DAYS: &str = "DELETE FROM usage_agent_days
     WHERE (workspace_id, day, agent_id) IN (
       SELECT workspace_id, day, agent_id FROM usage_agent_days WHERE day < $1 LIMIT $2)";

macro_rules! usage_store {
    ($db:ty) => {
        #[async_trait]
        impl UsageStore for SqlStore<$db> {
            async fn add_usage(&self, batch: &Rollup) -> Result<()> {
                let shortcuts: Vec<_> = batch.shortcuts.iter().collect();
                let agents: Vec<_> = batch.agents.iter().collect();
                self.write(async {
                    let mut tx = self.pool.begin().await.map_err(|e| db_error(e, None))?;
                    for chunk in shortcuts.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO usage_shortcut_days (workspace_id, day, shortcut_id, shortcut_version, uses) ",
                        );
                        insert.push_values(chunk, |mut row, ((ws, day, id, version), uses)| {
                            row.push_bind(ws.as_str())
                                .push_bind(*day)
                                .push_bind(id.as_str())
                                .push_bind(*version as i64)
                                .push_bind(**uses as i64);
                        });
                        insert.push(
                            " ON CONFLICT (workspace_id, day, shortcut_id, shortcut_version)
                              DO UPDATE SET uses = usage_shortcut_days.uses + excluded.uses",
                        );
                        insert
                            .build()
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, None))?;
                    }
                    for chunk in agents.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO usage_agent_days (workspace_id, day, agent_id, uses) ",
                        );
                        insert.push_values(chunk, |mut row, ((ws, day, agent), uses)| {
                            row.push_bind(ws.as_str())
                                .push_bind(*day)
                                .push_bind(agent.as_str())
                                .push_bind(**uses as i64);
                        });
                        insert.push(
                            " ON CONFLICT (workspace_id, day, agent_id)
                              DO UPDATE SET uses = usage_agent_days.uses + excluded.uses",
                        );
                        insert
                            .build()
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, None))?;
                    }
                    tx.commit().await.map_err(|e| db_error(e, None))
                })
                .await
            }

            async fn shortcut_uses(
                &self,
                workspace_id: &str,
                from: i64,
                to: i64,
                per: Option<GroupBy>,
                limit: u32,
            ) -> Result<Vec<ShortcutUses>> {
                let statement = match per {
                    Some(GroupBy::ShortcutDay) => SHORTCUTS_PER_DAY,
                    Some(GroupBy::ShortcutWeek) => SHORTCUTS_PER_WEEK,
                    _ => SHORTCUTS_OVER_RANGE,
                };
                let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(statement)
                    .bind(workspace_id)
                    .bind(from)
                    .bind(to)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))?;
                Ok(rows
                    .into_iter()
                    .map(|(shortcut_id, period, uses, version)| ShortcutUses {
                        shortcut_id,
                        period,
                        uses: uses.max(0) as u64,
                        last_version: version.max(0) as u64,
                    })
                    .collect())
            }

            async fn agent_uses(
                &self,
                workspace_id: &str,
                from: i64,
                to: i64,
                limit: u32,
            ) -> Result<Vec<(String, u64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as(AGENTS)
                    .bind(workspace_id)
                    .bind(from)
                    .bind(to)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))?;
                Ok(rows
                    .into_iter()
                    .map(|(agent, uses)| (agent, uses.max(0) as u64))
                    .collect())
            }

            async fn total_uses(&self, workspace_id: &str, from: i64, to: i64) -> Result<u64> {
                let (total,): (i64,) = sqlx::query_as(TOTAL)
                    .bind(workspace_id)
                    .bind(from)
                    .bind(to)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))?;
                Ok(total.max(0) as u64)
            }

            async fn last_used_days(&self, workspace_id: &str) -> Result<Vec<(String, i64)>> {
                sqlx::query_as(LAST_USED)
                    .bind(workspace_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))
            }

            async fn recent_uses(&self, from_day: i64) -> Result<Vec<(String, String, i64, u64)>> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(RECENT)
                    .bind(from_day)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| db_error(e, None))?;
                Ok(rows
                    .into_iter()
                    .map(|(ws, id, day, uses)| (ws, id, day, uses.max(0) as u64))
                    .collect())
            }

            async fn delete_usage_before(&self, before_day: i64, limit: u32) -> Result<u64> {
                self.write(async {
                    let mut deleted = 0;
                    for statement in [EXPIRE_SHORTCUT_DAYS, EXPIRE_AGENT_DAYS] {
                        let done = sqlx::query(statement)
                            .bind(before_day)
                            .bind(i64::from(limit))
                            .execute(&self.pool)
                            .await
                            .map_err(|e| db_error(e, None))?;
                        deleted = done.rows_affected().max(deleted);
                    }
                    Ok(deleted)
                })
                .await
            }
        }
    };
}

usage_store!(sqlx::Sqlite);
usage_store!(sqlx::Postgres);
