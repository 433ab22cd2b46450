//! Workspaces loaded on demand (issue 20, parts 2 and 3): over a generated store of
//! `--workspaces` x `--per-workspace` shortcuts (1,000,000 by default) plus `--cold`
//! workspaces of `--cold-size` shortcuts, measures the server's start-up (to "listening" and
//! to SERVING), the p99 of the first render in a cold workspace, the p99 of warm renders,
//! and the resident memory after rendering in `--random` random workspaces.
//!
//! The store is filled by SQL with rows as the API writes them (the server creates the
//! schema first), so that generating a million shortcuts takes seconds, not an hour of RPCs.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: PathBuf,
    /// `sqlite` (a file in a temporary directory) or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// PostgreSQL server; the benchmark works in a schema of its own.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg_url: String,
    #[arg(long, default_value_t = 5000)]
    workspaces: u64,
    #[arg(long, default_value_t = 200)]
    per_workspace: u64,
    /// Workspaces of `--cold-size` shortcuts whose first render is timed.
    #[arg(long, default_value_t = 100)]
    cold: u64,
    #[arg(long, default_value_t = 500)]
    cold_size: u64,
    /// Workspaces rendered in before resident memory is read.
    #[arg(long, default_value_t = 200)]
    random: u64,
    /// Warm renders timed (in a workspace already loaded).
    #[arg(long, default_value_t = 5000)]
    warm: u64,
    /// Extra flags for the server (e.g. `--catalog-bytes=...`).
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
}

const CONTACT: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";

fn body_sql(concat: &str) -> String {
    // ~200 bytes, with placeholders and a filter, as a real reply has.
    format!(
        "'Hi <<contact.first_name>>, about your request ' {concat} n {concat} ': we will get back to you within one business day. Meanwhile, our help centre answers most questions. Regards, the team.'"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("shortcuts-catalog-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pg_schema = format!("catalog_bench_{}", std::process::id());
    let store = match args.backend.as_str() {
        "sqlite" => dir.join("catalog.db").display().to_string(),
        "postgres" => {
            let pool = sqlx::PgPool::connect(&args.pg_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {pg_schema} CASCADE"
            )))
            .execute(&pool)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {pg_schema}")))
                .execute(&pool)
                .await?;
            let sep = if args.pg_url.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{pg_schema}", args.pg_url)
        }
        other => anyhow::bail!("--backend is sqlite or postgres, not {other:?}"),
    };

    // One contact per workspace, so that renders find their data.
    let names: Vec<String> = (0..args.workspaces)
        .map(|i| format!("ws-{i}"))
        .chain((0..args.cold).map(|i| format!("cold-{i}")))
        .collect();
    let data_file = dir.join("data.json");
    let contact = serde_json::json!({"contacts": {CONTACT: {"profile": {"people_id": CONTACT, "email": "jane@example.com", "person": {"nickname": "Jane Doe"}}}}, "sessions": {}});
    let workspaces: serde_json::Map<String, serde_json::Value> =
        names.iter().map(|n| (n.clone(), contact.clone())).collect();
    std::fs::write(
        &data_file,
        serde_json::json!({"workspaces": workspaces}).to_string(),
    )?;

    let spawn = |extra: &[String]| {
        let mut command = Command::new(&args.server_bin);
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--seed-demo=false",
                "--usage=false",
                "--store",
            ])
            .arg(&store)
            .arg("--data-file")
            .arg(&data_file)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("SHORTCUTS_BENCH_SERVER_RUST_LOG")
                    .unwrap_or_else(|_| "warn,shortcuts::server=info".into()),
            );
        let started = Instant::now();
        let spawned = shortcuts_bench::spawn_server(&mut command, &["listening on "]);
        spawned.map(|(child, addrs)| (child, addrs, started, started.elapsed()))
    };

    // The server creates the schema; then the rows are written straight to it.
    let (mut child, _, _, _) = spawn(&[])?;
    child.kill()?;
    child.wait()?;
    let generated = Instant::now();
    let total = fill(&args, &store).await?;
    println!(
        "generated {total} shortcuts in {} workspaces ({}) in {:.1} s",
        names.len(),
        args.backend,
        generated.elapsed().as_secs_f64()
    );

    // Start-up: to "listening", then to SERVING.
    let (mut child, addrs, started, listening) = spawn(&args.server_arg)?;
    let channel = Channel::from_shared(format!("http://{}", addrs[0]))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "shortcuts.v1.ShortcutService".into(),
            })
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(0);
        if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!(
        "start-up: listening after {:.0} ms, SERVING after {:.0} ms (RSS {:.1} MiB)",
        listening.as_secs_f64() * 1e3,
        serving.as_secs_f64() * 1e3,
        rss_mib(child.id())
    );
    let mut client = ShortcutServiceClient::new(channel);

    // First render in each cold workspace (500 shortcuts).
    let mut cold = Vec::new();
    for i in 0..args.cold {
        let took = render(&mut client, &format!("cold-{i}"), i % args.cold_size).await?;
        cold.push(took);
    }
    report("first render in a cold workspace", &mut cold);

    // Renders in random workspaces, then memory.
    let mut rng = fastrand::Rng::with_seed(20);
    let mut first = Vec::new();
    for _ in 0..args.random {
        let ws = format!("ws-{}", rng.u64(0..args.workspaces));
        first.push(render(&mut client, &ws, rng.u64(0..args.per_workspace)).await?);
    }
    report(
        &format!("first render in a cold workspace of {}", args.per_workspace),
        &mut first,
    );
    println!(
        "resident memory after rendering in {} random workspaces (+{} cold ones): {:.1} MiB",
        args.random,
        args.cold,
        rss_mib(child.id())
    );

    // Warm: one loaded workspace, sequential renders.
    let mut warm = Vec::new();
    for i in 0..args.warm {
        warm.push(render(&mut client, "ws-0", i % args.per_workspace).await?);
    }
    report("warm render", &mut warm);

    child.kill()?;
    child.wait()?;
    if args.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&args.pg_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {pg_schema} CASCADE"
        )))
        .execute(&pool)
        .await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn render(
    client: &mut ShortcutServiceClient<Channel>,
    workspace: &str,
    n: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let reply = client
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: workspace.into(),
            shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(format!("b{n}"))),
            contact_id: CONTACT.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let took = started.elapsed();
    anyhow::ensure!(
        reply.text.starts_with("Hi "),
        "unexpected text {:?}",
        reply.text
    );
    Ok(took)
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(samples.len() - 1)]
        .as_secs_f64()
            * 1e3
    };
    println!(
        "{what}: n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Writes the rows (and a workspace record per workspace) as the API would.
async fn fill(args: &Args, store: &str) -> anyhow::Result<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let columns = "id, workspace_id, bang, bang_key, title, body, tags, disabled, variants, inputs, snippet, version, create_time, update_time, visibility, owner, team_ids, folder, folder_position, attachments";
    let mut statements = Vec::new();
    let mut total = 0;
    for (prefix, count, size) in [
        ("ws-", args.workspaces, args.per_workspace),
        ("cold-", args.cold, args.cold_size),
    ] {
        let rows = count * size;
        total += rows;
        if rows == 0 {
            continue;
        }
        if args.backend == "postgres" {
            statements.push(format!(
                "INSERT INTO shortcuts ({columns}) SELECT md5('{prefix}' || n), '{prefix}' || (n / {size}), 'b' || (n % {size}), 'b' || (n % {size}), 'Reply ' || (n % {size}), {body}, '[\"support\"]', false, '{{}}', '[]', false, 1, {now}, {now}, 'workspace', '', '[]', '', 0, '[]' FROM generate_series(0, {last}) AS n",
                body = body_sql("||"),
                last = rows - 1,
            ));
            statements.push(format!(
                "INSERT INTO workspaces (id, display_name, default_locale, time_zone, version, create_time, update_time) SELECT '{prefix}' || n, 'Workspace ' || n, 'en', 'UTC', 1, {now}, {now} FROM generate_series(0, {last}) AS n",
                last = count - 1,
            ));
        } else {
            statements.push(format!(
                "INSERT INTO shortcuts ({columns}) WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < {last}) SELECT lower(hex(randomblob(16))), '{prefix}' || (n / {size}), 'b' || (n % {size}), 'b' || (n % {size}), 'Reply ' || (n % {size}), {body}, '[\"support\"]', 0, '{{}}', '[]', 0, 1, {now}, {now}, 'workspace', '', '[]', '', 0, '[]' FROM g",
                body = body_sql("||"),
                last = rows - 1,
            ));
            statements.push(format!(
                "INSERT INTO workspaces (id, display_name, default_locale, time_zone, version, create_time, update_time) WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < {last}) SELECT '{prefix}' || n, 'Workspace ' || n, 'en', 'UTC', 1, {now}, {now} FROM g",
                last = count - 1,
            ));
        }
    }
    if args.backend == "postgres" {
        let pool = sqlx::PgPool::connect(store).await?;
        // The replicas' triggers would announce a million changes: not part of a bulk load.
        sqlx::query("ALTER TABLE shortcuts DISABLE TRIGGER USER")
            .execute(&pool)
            .await?;
        for statement in &statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&pool)
                .await?;
        }
        sqlx::query("ALTER TABLE shortcuts ENABLE TRIGGER USER")
            .execute(&pool)
            .await?;
        sqlx::query("ANALYZE shortcuts").execute(&pool).await?;
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{store}")).await?;
        for statement in &statements {
            sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&pool)
                .await?;
        }
    }
    Ok(total)
}
