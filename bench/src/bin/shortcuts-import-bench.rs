//! `shortcuts-import-bench`: how long a generated Zendesk export of 20,000 macros takes to
//! import over `ImportShortcutsStream`, on SQLite and on PostgreSQL, measured from outside.
//!
//! Each backend gets one server; each run imports the same file into a fresh workspace (so
//! every run creates the same shortcuts), in `IMPORT_MODE_PARTIAL`, in chunks of
//! `--chunk-bytes`. The time is the whole call as a client sees it: upload, conversion,
//! one transaction, the report. Each run's report must account for every item (the counts
//! the generator expects), or the tool fails.
//!
//! `bash bench/import.sh` builds both binaries, prepares a PostgreSQL schema and runs it.

#[path = "../../../tests/e2e/zendesk_export.rs"]
mod zendesk_export;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clap::Parser;
use shortcuts::pb;
use shortcuts::pb::import_shortcuts_stream_request::Part;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

#[derive(Debug, Parser)]
struct Args {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    /// A `postgres://` URL of an empty schema; without it only SQLite is measured.
    #[arg(long)]
    pg_store: Option<String>,
    /// Macros in the generated export.
    #[arg(long, default_value_t = 20_000)]
    macros: usize,
    /// Bytes per stream message.
    #[arg(long, default_value_t = 256 * 1024)]
    chunk_bytes: usize,
    /// Imports per backend.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, store: &str) -> anyhow::Result<Server> {
    let (child, addrs) = shortcuts_bench::spawn_server(
        Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--store",
                store,
                "--seed-demo=false",
            ])
            .env("RUST_LOG", "warn,shortcuts::server=info"),
        &["listening on "],
    )?;
    Ok(Server {
        child,
        url: format!("http://{}", addrs[0]),
    })
}

/// Imports the export into `workspace` once: the time the call took and its report.
async fn import_once(
    url: &str,
    workspace: &str,
    export: &[u8],
    chunk_bytes: usize,
) -> anyhow::Result<(Duration, pb::ImportShortcutsResponse)> {
    let mut client = ShortcutServiceClient::connect(url.to_owned())
        .await?
        .max_decoding_message_size(64 * 1024 * 1024);
    let mut messages = vec![pb::ImportShortcutsStreamRequest {
        part: Some(Part::Options(pb::ImportOptions {
            workspace_id: workspace.into(),
            format: pb::ImportFormat::Zendesk as i32,
            mode: pb::ImportMode::Partial as i32,
            ..Default::default()
        })),
    }];
    messages.extend(
        export
            .chunks(chunk_bytes)
            .map(|c| pb::ImportShortcutsStreamRequest {
                part: Some(Part::Chunk(c.to_vec())),
            }),
    );
    let started = Instant::now();
    let report = client
        .import_shortcuts_stream(futures::stream::iter(messages))
        .await?
        .into_inner();
    Ok((started.elapsed(), report))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (export, expected) = zendesk_export::zendesk_export(args.macros);
    println!(
        "export: {} macros, {:.1} MiB; expected created {}, skipped {}, failed {}",
        expected.total,
        export.len() as f64 / (1024.0 * 1024.0),
        expected.created,
        expected.skipped,
        expected.failed
    );
    let dir = tempfile_dir()?;
    let sqlite = dir.join("import.db");
    let mut stores = vec![("sqlite", sqlite.to_string_lossy().into_owned())];
    if let Some(pg) = &args.pg_store {
        stores.push(("postgres", pg.clone()));
    }
    let mut medians = Vec::new();
    for (name, store) in &stores {
        let server = start(&args.server_bin, store)?;
        let mut times = Vec::new();
        for run in 0..args.runs {
            let workspace = format!("import_{run}");
            let (took, report) =
                import_once(&server.url, &workspace, export.as_bytes(), args.chunk_bytes).await?;
            let counted = (
                report.total as usize,
                report.created as usize,
                report.skipped as usize,
                report.failed as usize,
            );
            anyhow::ensure!(
                report.committed
                    && counted
                        == (
                            expected.total,
                            expected.created,
                            expected.skipped,
                            expected.failed
                        )
                    && report.items.len() + report.items_omitted as usize
                        == expected.skipped + expected.failed,
                "{name} run {run}: the report does not account for every item: {counted:?}"
            );
            println!("{name:>8} run {run}: {:.2} s", took.as_secs_f64());
            times.push(took);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{name:>8}: median {:.2} s, best {:.2} s over {} runs ({:.0} macros/s at the median)",
            median.as_secs_f64(),
            times[0].as_secs_f64(),
            times.len(),
            expected.total as f64 / median.as_secs_f64()
        );
        medians.push((*name, median));
    }
    if let [(_, sqlite), (_, postgres)] = medians[..] {
        println!(
            "postgres / sqlite (medians, same run): {:.2}",
            postgres.as_secs_f64() / sqlite.as_secs_f64()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// A fresh directory for the SQLite store.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("shortcuts-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
