//! `shortcuts-replicas-bench`: two replicas on one PostgreSQL, measured from outside.
//!
//! 1. Read your writes: an update on replica A, then a render of that shortcut on replica B
//!    right after A's answer, with and without A's `consistency_token`, alternating which
//!    goes first: latency percentiles of each and how many renders showed an older version.
//! 2. With `--outage-cluster VERSION/NAME` (a PostgreSQL cluster of the script's own, which
//!    this tool stops and starts with `pg_ctlcluster`): a replica on it, the cluster stopped,
//!    then the time each write takes to answer UNAVAILABLE (the first one, and the following
//!    ones once the breaker is open), with a caller's deadline of 5 s.
//!
//! `bash bench/replicas.sh` builds both binaries, prepares the schema and the cluster, and
//! runs it.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
struct Args {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    /// The shared store of the two replicas (a `postgres://` URL, an empty schema).
    #[arg(long)]
    store: String,
    /// Update-then-render rounds.
    #[arg(long, default_value_t = 300)]
    rounds: usize,
    /// `VERSION/NAME` of a PostgreSQL cluster this tool may stop (and starts again).
    #[arg(long)]
    outage_cluster: Option<String>,
    /// Its port.
    #[arg(long, default_value_t = 0)]
    outage_port: u16,
    /// Writes timed while the outage cluster is down.
    #[arg(long, default_value_t = 100)]
    outage_writes: usize,
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

fn start(bin: &str, store: &str, extra: &[&str]) -> anyhow::Result<Server> {
    let (child, addrs) = shortcuts_bench::spawn_server(
        Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--store", store])
            .args(extra)
            .env("RUST_LOG", "warn,shortcuts::server=info"),
        &["listening on "],
    )?;
    Ok(Server {
        child,
        url: format!("http://{}", addrs[0]),
    })
}

async fn client(server: &Server) -> anyhow::Result<ShortcutServiceClient<Channel>> {
    Ok(ShortcutServiceClient::connect(server.url.clone()).await?)
}

fn create(bang: &str) -> pb::CreateShortcutRequest {
    pb::CreateShortcutRequest {
        workspace_id: "demo".into(),
        bang: bang.into(),
        title: bang.into(),
        body: "version 1".into(),
        ..Default::default()
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
}

async fn read_your_writes(args: &Args) -> anyhow::Result<()> {
    let a = start(&args.server_bin, &args.store, &[])?;
    let b = start(&args.server_bin, &args.store, &["--seed-demo=false"])?;
    let (mut on_a, mut on_b) = (client(&a).await?, client(&b).await?);
    let shortcut = on_a
        .create_shortcut(create(&format!("ryw-{}", std::process::id())))
        .await?
        .into_inner();
    let mut version = shortcut.version;
    let mut with = Histogram::<u64>::new(3)?;
    let mut without = Histogram::<u64>::new(3)?;
    let (mut stale_with, mut stale_without) = (0, 0);
    for round in 0..args.rounds {
        let written = on_a
            .update_shortcut(pb::UpdateShortcutRequest {
                workspace_id: "demo".into(),
                id: shortcut.id.clone(),
                version,
                body: Some(format!("version {}", version + 1)),
                ..Default::default()
            })
            .await?
            .into_inner();
        version = written.version;
        let mut order = [true, false];
        if round % 2 == 1 {
            order.reverse();
        }
        for use_token in order {
            let request = pb::RenderShortcutRequest {
                workspace_id: "demo".into(),
                shortcut: Some(Shortcut::Id(shortcut.id.clone())),
                consistency_token: if use_token {
                    written.consistency_token.clone()
                } else {
                    String::new()
                },
                ..Default::default()
            };
            let started = Instant::now();
            let reply = on_b.render_shortcut(request).await?.into_inner();
            let took = micros(started.elapsed());
            let stale = u32::from(reply.shortcut_version < version);
            if use_token {
                with.record(took)?;
                stale_with += stale;
            } else {
                without.record(took)?;
                stale_without += stale;
            }
        }
    }
    println!(
        "read your writes: render on B right after A's answer to an update, {} rounds",
        args.rounds
    );
    report("  with the token   ", &with);
    report("  without the token", &without);
    println!(
        "  older versions served: {stale_with} with the token, {stale_without} without; p99 with/without {:.2}",
        with.value_at_quantile(0.99) as f64 / without.value_at_quantile(0.99).max(1) as f64
    );
    Ok(())
}

fn pg_ctlcluster(cluster: &str, action: &str) -> anyhow::Result<()> {
    let (version, name) = cluster
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("--outage-cluster is VERSION/NAME"))?;
    let status = Command::new("pg_ctlcluster")
        .args([version, name, action])
        .status()?;
    anyhow::ensure!(status.success(), "pg_ctlcluster {cluster} {action} failed");
    Ok(())
}

async fn outage(args: &Args, cluster: &str) -> anyhow::Result<()> {
    let store = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        args.outage_port
    );
    let server = start(&args.server_bin, &store, &[])?;
    let mut c = client(&server).await?;
    c.create_shortcut(create("before-outage")).await?;
    pg_ctlcluster(cluster, "stop")?;
    let result = async {
        let mut refused = Histogram::<u64>::new(3)?;
        let mut first = None;
        for i in 0..args.outage_writes {
            let mut request = tonic::Request::new(create(&format!("during-{i}")));
            request.set_timeout(Duration::from_secs(5));
            let started = Instant::now();
            let status = c
                .create_shortcut(request)
                .await
                .expect_err("the store is down");
            let took = started.elapsed();
            anyhow::ensure!(
                status.code() == tonic::Code::Unavailable,
                "expected UNAVAILABLE, got {status:?}"
            );
            match first {
                None => first = Some(took),
                Some(_) => refused.record(micros(took))?,
            }
        }
        println!("PostgreSQL stopped, writes with a 5 s deadline:");
        println!(
            "  the first write answered UNAVAILABLE after {:.1} ms",
            first.unwrap_or_default().as_secs_f64() * 1000.0
        );
        report("  the following ones (breaker open)", &refused);
        Ok(())
    }
    .await;
    pg_ctlcluster(cluster, "start")?;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    read_your_writes(&args).await?;
    if let Some(cluster) = &args.outage_cluster {
        outage(&args, cluster).await?;
    }
    Ok(())
}
