//! The usage rollups in the SQL stores (see `crate::usage` and migrations 0007 and 0008):
//! batches added with one upsert per table and chunk, in one transaction; the reads of
//! GetUsage and of the ranking refresh; the retention's bounded deletes. One statement text
//! serves both databases but for the greater of two values (`max` on SQLite, `GREATEST` on
//! PostgreSQL); the implementation is stamped out per backend by a macro, since the
//! generic form would need a bound per row shape.
//!
//! Four tables: a shortcut's uses per day and per week (same counts, written together), an
//! agent's uses per day, and a shortcut's last day of use. A range is read as days for the
//! partial weeks at its ends and weeks in between (`usage::whole_weeks`), so that a year is
//! ~52 rows per shortcut rather than 365.

use std::collections::HashMap;

use async_trait::async_trait;

use super::db_error;
use super::sql::SqlStore;
use crate::error::Result;
use crate::usage::{Count, GroupBy, Rollup, ShortcutUses, UsageStore, week_of, whole_weeks};

/// Rows per INSERT: 5 values each stays far below SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 1000;

/// The shortcut rows of a range: `$1` workspace, days `[$2, $3)`, weeks `[$3, $4)`, days
/// `[$4, $5)`; each with its week (a day's Monday, see `usage::week_of`).
const RANGE_ROWS: &str = "
       SELECT shortcut_id, day - ((day + 3) % 7) AS week, uses, last_version
       FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     UNION ALL
       SELECT shortcut_id, week, uses, last_version
       FROM usage_shortcut_weeks WHERE workspace_id = $1 AND week >= $3 AND week < $4
     UNION ALL
       SELECT shortcut_id, day - ((day + 3) % 7) AS week, uses, last_version
       FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $4 AND day < $5";

/// One row per (workspace, day, shortcut): in the key's order, so the first `limit` days
/// need not read the rest of the range.
const SHORTCUTS_PER_DAY: &str = "SELECT shortcut_id, day, uses, last_version
     FROM usage_shortcut_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     ORDER BY 2, 3 DESC, shortcut_id LIMIT $4";

const AGENTS: &str = "SELECT agent_id, CAST(SUM(uses) AS BIGINT)
     FROM usage_agent_days WHERE workspace_id = $1 AND day >= $2 AND day < $3
     GROUP BY agent_id ORDER BY 2 DESC, agent_id LIMIT $4";

/// From the agents' table: the same uses in fewer rows.
const TOTAL: &str = "SELECT CAST(COALESCE(SUM(uses), 0) AS BIGINT)
     FROM usage_agent_days WHERE workspace_id = $1 AND day >= $2 AND day < $3";

const LAST_USED: &str = "SELECT shortcut_id, day FROM usage_shortcut_last WHERE workspace_id = $1";

const RECENT: &str = "SELECT workspace_id, shortcut_id, day, uses
     FROM usage_shortcut_days WHERE day >= $1";

const EXPIRE: [&str; 4] = [
    "DELETE FROM usage_shortcut_days WHERE (workspace_id, day, shortcut_id) IN (
       SELECT workspace_id, day, shortcut_id FROM usage_shortcut_days WHERE day < $1 LIMIT $2)",
    // A week goes once all its days are before the retention (which starts on a Monday).
    "DELETE FROM usage_shortcut_weeks WHERE (workspace_id, week, shortcut_id) IN (
       SELECT workspace_id, week, shortcut_id FROM usage_shortcut_weeks
       WHERE week + 7 <= $1 LIMIT $2)",
    "DELETE FROM usage_agent_days WHERE (workspace_id, day, agent_id) IN (
       SELECT workspace_id, day, agent_id FROM usage_agent_days WHERE day < $1 LIMIT $2)",
    // A shortcut whose every use expired is unused, as if never used.
    "DELETE FROM usage_shortcut_last WHERE (workspace_id, shortcut_id) IN (
       SELECT workspace_id, shortcut_id FROM usage_shortcut_last WHERE day < $1 LIMIT $2)",
];

/// The shortcut statements of a range counted over the range or per week.
fn range_statement(per: Option<GroupBy>) -> String {
    let (period, group) = match per {
        Some(GroupBy::ShortcutWeek) => ("week", "week, shortcut_id"),
        _ => ("CAST(0 AS BIGINT)", "shortcut_id"),
    };
    let order = match per {
        Some(GroupBy::ShortcutWeek) => "2, 3 DESC, shortcut_id",
        _ => "3 DESC, shortcut_id",
    };
    format!(
        "SELECT shortcut_id, {period}, CAST(SUM(uses) AS BIGINT), MAX(last_version)
         FROM ({RANGE_ROWS}) AS counted GROUP BY {group} ORDER BY {order} LIMIT $6"
    )
}

/// A batch's rows for each table, sorted by key, so that two replicas writing at once
/// take the rows' locks in the same order (PostgreSQL would otherwise find deadlocks).
struct Rows<'a> {
    days: Vec<(&'a str, i64, &'a str, Count)>,
    weeks: Vec<(&'a str, i64, &'a str, Count)>,
    last: Vec<(&'a str, &'a str, i64)>,
    agents: Vec<(&'a str, i64, &'a str, u64)>,
}

impl<'a> Rows<'a> {
    fn of(batch: &'a Rollup) -> Self {
        let mut weeks: HashMap<(&str, i64, &str), Count> = HashMap::new();
        let mut last: HashMap<(&str, &str), i64> = HashMap::new();
        let mut days = Vec::with_capacity(batch.shortcuts.len());
        for ((ws, day, id), count) in &batch.shortcuts {
            days.push((ws.as_str(), *day, id.as_str(), *count));
            weeks
                .entry((ws.as_str(), week_of(*day), id.as_str()))
                .or_default()
                .add(*count);
            let latest = last.entry((ws.as_str(), id.as_str())).or_insert(*day);
            *latest = (*latest).max(*day);
        }
        let mut weeks: Vec<_> = weeks
            .into_iter()
            .map(|((ws, week, id), count)| (ws, week, id, count))
            .collect();
        let mut last: Vec<_> = last
            .into_iter()
            .map(|((ws, id), day)| (ws, id, day))
            .collect();
        let mut agents: Vec<_> = batch
            .agents
            .iter()
            .map(|((ws, day, agent), uses)| (ws.as_str(), *day, agent.as_str(), *uses))
            .collect();
        days.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        weeks.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        last.sort_unstable();
        agents.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        Self {
            days,
            weeks,
            last,
            agents,
        }
    }
}

macro_rules! usage_store {
    ($db:ty, $greatest:literal) => {
        #[async_trait]
        impl UsageStore for SqlStore<$db> {
            async fn add_usage(&self, batch: &Rollup) -> Result<()> {
                let rows = Rows::of(batch);
                self.write(async {
                    let mut tx = self.pool.begin().await.map_err(|e| db_error(e, None))?;
                    for (table, period, chunks) in [
                        ("usage_shortcut_days", "day", rows.days.chunks(ROWS_PER_STATEMENT)),
                        ("usage_shortcut_weeks", "week", rows.weeks.chunks(ROWS_PER_STATEMENT)),
                    ] {
                        for chunk in chunks {
                            let mut insert = sqlx::QueryBuilder::<$db>::new(format!(
                                "INSERT INTO {table} (workspace_id, {period}, shortcut_id, uses, last_version) "
                            ));
                            insert.push_values(chunk, |mut row, (ws, period, id, count)| {
                                row.push_bind(*ws)
                                    .push_bind(*period)
                                    .push_bind(*id)
                                    .push_bind(count.uses as i64)
                                    .push_bind(count.last_version as i64);
                            });
                            insert.push(format!(
                                " ON CONFLICT (workspace_id, {period}, shortcut_id) DO UPDATE SET
                                  uses = {table}.uses + excluded.uses,
                                  last_version = {}({table}.last_version, excluded.last_version)",
                                $greatest
                            ));
                            insert
                                .build()
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| db_error(e, None))?;
                        }
                    }
                    for chunk in rows.last.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO usage_shortcut_last (workspace_id, shortcut_id, day) ",
                        );
                        insert.push_values(chunk, |mut row, (ws, id, day)| {
                            row.push_bind(*ws).push_bind(*id).push_bind(*day);
                        });
                        insert.push(format!(
                            " ON CONFLICT (workspace_id, shortcut_id) DO UPDATE SET
                              day = {}(usage_shortcut_last.day, excluded.day)",
                            $greatest
                        ));
                        insert
                            .build()
                            .execute(&mut *tx)
                            .await
                            .map_err(|e| db_error(e, None))?;
                    }
                    for chunk in rows.agents.chunks(ROWS_PER_STATEMENT) {
                        let mut insert = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO usage_agent_days (workspace_id, day, agent_id, uses) ",
                        );
                        insert.push_values(chunk, |mut row, (ws, day, agent, uses)| {
                            row.push_bind(*ws)
                                .push_bind(*day)
                                .push_bind(*agent)
                                .push_bind(*uses as i64);
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
                let rows: Vec<(String, i64, i64, i64)> = if per == Some(GroupBy::ShortcutDay) {
                    sqlx::query_as(SHORTCUTS_PER_DAY)
                        .bind(workspace_id)
                        .bind(from)
                        .bind(to)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                } else {
                    let (first_week, end_of_weeks) = whole_weeks(from, to);
                    let statement = range_statement(per);
                    sqlx::query_as(sqlx::AssertSqlSafe(statement))
                        .bind(workspace_id)
                        .bind(from)
                        .bind(first_week)
                        .bind(end_of_weeks)
                        .bind(to)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                }
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
                    for statement in EXPIRE {
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

usage_store!(sqlx::Sqlite, "max");
usage_store!(sqlx::Postgres, "GREATEST");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A store at migration 0007 with a shortcut rendered at two versions on a day keeps
    /// every count through 0008: one row per day (the highest version), the weeks and the
    /// last days of use derived from them.
    #[tokio::test]
    async fn migration_0008_keeps_the_counts_of_0007() {
        let dir = tempfile::tempdir().unwrap();
        let up_to_0007 = dir.path().join("migrations");
        std::fs::create_dir(&up_to_0007).unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(source).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if name.as_str() < "0008" {
                std::fs::copy(&path, up_to_0007.join(name)).unwrap();
            }
        }
        let path = dir.path().join("s.db");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}?mode=rwc", path.display()))
            .await
            .unwrap();
        let migrator = sqlx::migrate::Migrator::new(up_to_0007.as_path())
            .await
            .unwrap();
        migrator.run(&pool).await.unwrap();
        // 2026-11-30 is a Monday, day 20_787.
        sqlx::query(
            "INSERT INTO usage_shortcut_days (workspace_id, day, shortcut_id, shortcut_version, uses)
             VALUES ('w', 20787, 's', 1, 3), ('w', 20787, 's', 2, 4), ('w', 20789, 's', 1, 1),
                    ('w', 20795, 't', 5, 2)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let uses = |id: &str, period, uses, last_version| ShortcutUses {
            shortcut_id: id.into(),
            period,
            uses,
            last_version,
        };
        let days = store
            .shortcut_uses("w", 20787, 20801, Some(GroupBy::ShortcutDay), 100)
            .await
            .unwrap();
        assert_eq!(
            days,
            [
                uses("s", 20787, 7, 2),
                uses("s", 20789, 1, 1),
                uses("t", 20795, 2, 5)
            ]
        );
        // Two whole weeks: read from the weeks table.
        let weeks = store
            .shortcut_uses("w", 20787, 20801, Some(GroupBy::ShortcutWeek), 100)
            .await
            .unwrap();
        assert_eq!(weeks, [uses("s", 20787, 8, 2), uses("t", 20794, 2, 5)]);
        let mut last = store.last_used_days("w").await.unwrap();
        last.sort();
        assert_eq!(last, [("s".to_string(), 20789), ("t".to_string(), 20795)]);
    }
}
