//! `shortcuts-usage-bench`: GetUsage latency over a store holding 1,000,000 recorded renders.
//!
//! Starts the server on `--store` (SQLite file or PostgreSQL schema; the server migrates
//! it), creates `--shortcuts` shortcuts, then bulk-fills the usage tables with the rows that
//! `--renders` renders spread over `--days` days, `--shortcuts` shortcuts (a few used far
//! more than the rest) and `--agents` agents would leave, rolled up and written by the
//! server's own code (`shortcuts::usage::Rollup`, then the store's `add_usage`, as the
//! writer does: days, weeks, last days of use). Then times `--calls` GetUsage calls per
//! grouping over the whole range and prints p50 / p99 / max.
//!
//! `bash bench/usage.sh` builds it and runs it on SQLite and on PostgreSQL.

use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use hdrhistogram::Histogram;
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use shortcuts::usage::{Rollup, Use};

#[derive(Debug, Parser)]
struct Args {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    /// A SQLite file path (fresh) or a `postgres://` URL (an empty schema).
    #[arg(long)]
    store: String,
    #[arg(long, default_value_t = 1_000_000)]
    renders: u64,
    #[arg(long, default_value_t = 365)]
    days: i64,
    #[arg(long, default_value_t = 500)]
    shortcuts: usize,
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Timed calls per grouping.
    #[arg(long, default_value_t = 100)]
    calls: usize,
}

const WORKSPACE: &str = "usage-bench";
const DAY: i64 = 24 * 60 * 60;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    async fn connect(store: &str) -> anyhow::Result<Pool> {
        Ok(if store.starts_with("postgres") {
            Pool::Postgres(sqlx::PgPool::connect(store).await?)
        } else {
            Pool::Sqlite(sqlx::SqlitePool::connect(&format!("sqlite:{store}")).await?)
        })
    }

    /// Runs statements built here from numbers and generated ids only.
    async fn execute(&self, sql: String) -> anyhow::Result<()> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Pool::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ())?,
            Pool::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(|_| ())?,
        }
        Ok(())
    }

    async fn analyze(&self) -> anyhow::Result<()> {
        self.execute("ANALYZE".into()).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (child, addrs) = shortcuts_bench::spawn_server(
        Command::new(&args.server_bin)
            .args(["--listen", "127.0.0.1:0", "--store", &args.store])
            .args(["--seed-demo=false", "--usage-max-range-days", "400"])
            .env("RUST_LOG", "warn,shortcuts::server=info"),
        &["listening on "],
    )?;
    let _server = Server(child);
    let mut client = ShortcutServiceClient::connect(format!("http://{}", addrs[0])).await?;

    let mut ids = Vec::with_capacity(args.shortcuts);
    for i in 0..args.shortcuts {
        let created = client
            .create_shortcut(pb::CreateShortcutRequest {
                workspace_id: WORKSPACE.into(),
                bang: format!("reply-{i:04}"),
                title: format!("Reply {i}"),
                body: "Hello <<contact.first_name>>".into(),
                ..Default::default()
            })
            .await?
            .into_inner();
        ids.push(created.id);
    }

    let today = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64 / DAY;
    let filled = Instant::now();
    let mut rng = fastrand::Rng::with_seed(17);
    // A month of days per batch: one `add_usage` of the whole year would outlast the
    // store's write timeout on PostgreSQL (the server writes a second's worth at a time).
    const DAYS_PER_BATCH: i64 = 30;
    let mut batches: Vec<Rollup> = (0..=(args.days - 1) / DAYS_PER_BATCH)
        .map(|_| Rollup::default())
        .collect();
    for _ in 0..args.renders {
        // Squared: a few shortcuts take most renders, as in a real team.
        let pick = rng.f64();
        let shortcut = ((pick * pick) * args.shortcuts as f64) as usize;
        let back = rng.i64(0..args.days);
        let day = today - back;
        batches[(back / DAYS_PER_BATCH) as usize].add(Use {
            workspace_id: WORKSPACE.into(),
            shortcut_id: ids[shortcut].clone(),
            shortcut_version: 1 + rng.u64(0..2),
            agent_id: format!("agent-{}", rng.usize(0..args.agents)),
            at_millis: (day * DAY + rng.i64(0..DAY)) * 1000,
        });
    }
    let usage = shortcuts::server::open_usage_store(&args.store).await?;
    let mut rollup = Rollup::default();
    for batch in batches {
        usage.add_usage(&batch).await?;
        rollup.merge(batch);
    }
    let pool = Pool::connect(&args.store).await?;
    pool.analyze().await?;
    println!(
        "store {}: {} renders as {} shortcut-day rows and {} agent-day rows, filled in {:.1?}",
        if args.store.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        rollup.uses,
        rollup.shortcuts.len(),
        rollup.agents.len(),
        filled.elapsed()
    );

    let whole = |group_by: pb::UsageGroupBy, limit: u32| pb::GetUsageRequest {
        workspace_id: WORKSPACE.into(),
        from: Some(prost_types::Timestamp {
            seconds: (today - args.days + 1) * DAY,
            nanos: 0,
        }),
        to: Some(prost_types::Timestamp {
            seconds: (today + 1) * DAY,
            nanos: 0,
        }),
        group_by: group_by.into(),
        limit,
        unused_since: None,
    };
    let mut last_week = whole(pb::UsageGroupBy::Shortcut, 100);
    last_week.from = Some(prost_types::Timestamp {
        seconds: (today - 6) * DAY,
        nanos: 0,
    });
    let mut unused = whole(pb::UsageGroupBy::Shortcut, 100);
    unused.unused_since = Some(prost_types::Timestamp {
        seconds: (today - 30) * DAY,
        nanos: 0,
    });
    let scenarios = [
        (
            "top 100 shortcuts, 365 days",
            whole(pb::UsageGroupBy::Shortcut, 100),
        ),
        ("top 100 shortcuts, 7 days", last_week),
        (
            "per shortcut per day, 1000 rows",
            whole(pb::UsageGroupBy::ShortcutDay, 1000),
        ),
        (
            "per shortcut per week, 1000 rows",
            whole(pb::UsageGroupBy::ShortcutWeek, 1000),
        ),
        ("per agent, 365 days", whole(pb::UsageGroupBy::Agent, 100)),
        ("top 100 + unused since 30 days", unused),
    ];
    println!("| GetUsage | counts | p50 | p99 | max |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, request) in scenarios {
        for _ in 0..3 {
            client.get_usage(request.clone()).await?;
        }
        let mut latencies = Histogram::<u64>::new(3)?;
        let mut counts = 0;
        for _ in 0..args.calls {
            let started = Instant::now();
            let reply = client.get_usage(request.clone()).await?.into_inner();
            latencies.record(started.elapsed().as_micros() as u64)?;
            counts = reply.counts.len();
            anyhow::ensure!(reply.total_uses > 0, "nothing counted");
        }
        let at = |q: f64| Duration::from_micros(latencies.value_at_quantile(q));
        println!(
            "| {name} | {counts} | {:.1?} | {:.1?} | {:.1?} |",
            at(0.5),
            at(0.99),
            Duration::from_micros(latencies.max())
        );
    }
    Ok(())
}
