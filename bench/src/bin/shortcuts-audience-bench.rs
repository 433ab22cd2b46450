//! `shortcuts-audience-bench`: campaigns (issue 16), measured.
//!
//! - `filter`: an audience filter over generated contacts, in this process on one core (a
//!   current-thread runtime). The contacts come from a source that makes each page when it
//!   is asked for, so what the process holds is the scan's own memory (one page, the data
//!   cache, bounded by bytes), not the list. Reports the filter's evaluations per second
//!   alone, the whole scan's contacts per second (list, build the scope, cache it, decide)
//!   and the peak resident memory: run it with 200,000 and 1,000,000 contacts and compare.
//! - `batch`: a BatchRender to a whole audience on a real server (`--server-bin`) whose
//!   workspace reads from a fake Crisp API (in this process) answering every request after
//!   `--latency-ms`: its people list has no custom data, so each contact costs one fetch
//!   (profile and people data at once) of that latency. Reports the total time against
//!   the ideal `contacts × latency / --batch-concurrency`.
//!
//! `bash bench/audience.sh` builds and runs both.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use clap::{Parser, Subcommand};
use serde_json::{Map, Value as Json, json};
use shortcuts::audience::{self, Decision, Filter};
use shortcuts::catalog::paths::KnownPaths;
use shortcuts::data::{
    ContactPage, DataService, DataSource, ListedContact, Record, ScopeKind, SourceError, scope,
};
use shortcuts::ids::WorkspaceId;
use shortcuts::pb;
use shortcuts::pb::batch_render_result::Outcome;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use shortcuts::template::{Engine, RenderLimits};
use tonic::transport::Channel;

const FILTER: &str = r#"contact.country in ["FR", "BE"] and contact.trial_status == "trialing" and contact.plan in ["pro", "business"]"#;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// The filter over generated contacts, on one core.
    Filter {
        #[arg(long, default_value_t = 1_000_000)]
        contacts: usize,
    },
    /// A batch to a whole audience on a real server, from a fake Crisp with a latency.
    Batch {
        #[arg(long, default_value = "target/release/shortcuts")]
        server_bin: String,
        #[arg(long, default_value_t = 10_000)]
        contacts: usize,
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
        #[arg(long, default_value_t = 16)]
        batch_concurrency: usize,
    },
}

/// Contact `i`: countries cycle over eight, plans over four, one in three is trialing.
fn contact(i: usize) -> (Map<String, Json>, Map<String, Json>) {
    let countries = ["FR", "BE", "DE", "GB", "US", "ES", "IT", "NL"];
    let plans = ["free", "pro", "business", "starter"];
    let native = json!({
        "id": format!("c-{i:08}"),
        "email": format!("person{i}@example{}.com", i % 50),
        "nickname": format!("Person {i}"),
        "first_name": "Person",
        "country": countries[i % countries.len()],
        "locale": "en",
        "segments": ["lead", "newsletter"],
        "created_at": 1_600_000_000_000u64 + i as u64,
    });
    let custom = json!({
        "plan": plans[i % plans.len()],
        "trial_status": if i.is_multiple_of(3) { "trialing" } else { "active" },
        "seats": i % 100,
        "company_size": 10 + i % 500,
    });
    (
        native.as_object().cloned().unwrap_or_default(),
        custom.as_object().cloned().unwrap_or_default(),
    )
}

/// A source that makes each page of contacts when it is asked for.
struct Generated {
    total: usize,
}

const PAGE: usize = 1_000;

impl Generated {
    fn page(&self, start: usize) -> ContactPage {
        let end = (start + PAGE).min(self.total);
        ContactPage {
            contacts: (start..end)
                .map(|i| {
                    let (native, custom) = contact(i);
                    ListedContact {
                        id: format!("c-{i:08}"),
                        record: Arc::new(Record { native, custom }),
                        complete: true,
                    }
                })
                .collect(),
            next: (end < self.total).then(|| end.to_string()),
        }
    }
}

#[tonic::async_trait]
impl DataSource for Generated {
    fn name(&self) -> &str {
        "generated"
    }

    async fn fetch(
        &self,
        _kind: ScopeKind,
        _workspace_id: &str,
        _id: &str,
        _timeout: Duration,
    ) -> Result<Record, SourceError> {
        Err(SourceError::NotFound)
    }

    async fn list_contacts(
        &self,
        _workspace_id: &str,
        cursor: &str,
        _page_size: u32,
        _timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        Ok(self.page(cursor.parse().unwrap_or(0)))
    }
}

fn peak_resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn filter_scenario(total: usize) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let engine = Engine::new(RenderLimits::default());
        let filter = Filter::parse(&engine, "filter", FILTER, &KnownPaths::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let source = Generated { total };

        // The filter alone: each page's scopes are built first, untimed.
        let matcher = filter
            .matcher(&engine, scope::empty())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (mut evaluating, mut matched, mut start) = (Duration::ZERO, 0usize, 0usize);
        while start < total {
            let scopes: Vec<_> = source
                .page(start)
                .contacts
                .iter()
                .map(|c| scope::build(&c.id, &c.record))
                .collect();
            let began = Instant::now();
            for scope in &scopes {
                if matcher.decide(scope).map_err(|e| anyhow::anyhow!("{e}"))? == Decision::Matched
                {
                    matched += 1;
                }
            }
            evaluating += began.elapsed();
            start += PAGE;
        }
        println!(
            "filter alone: {total} contacts, {matched} matched, {:.0} evaluations/s ({:.2} µs each)",
            total as f64 / evaluating.as_secs_f64(),
            evaluating.as_secs_f64() * 1e6 / total as f64
        );

        // The whole scan as PreviewAudience runs it: list, build, cache, decide.
        let data = Arc::new(DataService::new(Arc::new(Generated { total })));
        let began = Instant::now();
        let preview = audience::preview(
            data,
            &engine,
            WorkspaceId::parse("bench").map_err(|e| anyhow::anyhow!("{e}"))?,
            scope::empty(),
            &filter,
            total as u64,
            Instant::now() + Duration::from_secs(3600),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let took = began.elapsed();
        println!(
            "whole scan: {} scanned, {} matched, complete {}, {:.0} contacts/s in {:.2} s",
            preview.scanned,
            preview.matched,
            preview.complete,
            preview.scanned as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
        println!("peak resident memory: {} MiB", peak_resident_kib() / 1024);
        anyhow::Ok(())
    })
}

/// A fake Crisp API: `people/profiles/{page}` (20 a page), `people/profile/{id}` and
/// `people/data/{id}`, each answered after `latency`.
async fn fake_crisp(total: usize, latency: Duration) -> anyhow::Result<std::net::SocketAddr> {
    let app = axum::Router::new().fallback(move |uri: Uri| async move {
        tokio::time::sleep(latency).await;
        let path = uri.path().to_string();
        let segments: Vec<&str> = path.split('/').collect();
        let ok = |data: Json| {
            axum::Json(json!({"error": false, "reason": "resolved", "data": data})).into_response()
        };
        let profile = |i: usize| {
            let (native, _) = contact(i);
            json!({
                "people_id": format!("c-{i:08}"),
                "email": native["email"],
                "person": {"nickname": native["nickname"], "geolocation": {"country": native["country"]}},
                "segments": native["segments"],
                "created_at": native["created_at"],
            })
        };
        let index = |id: &str| id.strip_prefix("c-").and_then(|n| n.parse::<usize>().ok());
        match segments.as_slice() {
            [.., "people", "profiles", page] => {
                let page: usize = page.parse().unwrap_or(1).max(1);
                let start = (page - 1) * 20;
                if start >= total {
                    return (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"error": true, "reason": "people_not_found", "data": {}})),
                    )
                        .into_response();
                }
                ok(Json::Array(
                    (start..(start + 20).min(total)).map(profile).collect(),
                ))
            }
            [.., "people", "profile", id] if index(id).is_some() => {
                ok(profile(index(id).unwrap_or_default()))
            }
            [.., "people", "data", id] if index(id).is_some() => {
                let (_, custom) = contact(index(id).unwrap_or_default());
                ok(json!({"data": custom}))
            }
            _ => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": true, "reason": "route_not_found", "data": {}})),
            )
                .into_response(),
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

async fn batch_scenario(
    server_bin: &str,
    total: usize,
    latency_ms: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let latency = Duration::from_millis(latency_ms);
    let crisp = fake_crisp(total, latency).await?;
    let dir = std::env::temp_dir().join(format!("shortcuts-audience-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sources = dir.join("sources.toml");
    std::fs::write(
        &sources,
        format!(
            "[workspaces.bench]\ntype = \"crisp\"\nbase_url = \"http://{crisp}/v1\"\nwebsite_id = \"bench\"\nidentifier = \"id\"\nkey = \"key\"\n"
        ),
    )?;
    let (mut server, addrs) = shortcuts_bench::spawn_server(
        Command::new(server_bin)
            .args(["--listen", "127.0.0.1:0", "--store"])
            .arg(dir.join("audience.db"))
            .arg("--data-sources")
            .arg(&sources)
            .args(["--batch-concurrency", &concurrency.to_string()])
            .env("RUST_LOG", "warn,shortcuts::server=info"),
        &["listening on "],
    )?;
    let addr = &addrs[0];
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = ShortcutServiceClient::new(channel);
    let request = pb::BatchRenderRequest {
        workspace_id: "bench".into(),
        template: Some(pb::batch_render_request::Template::Body(
            "Hi <<contact.first_name>>, your <<contact.plan>> plan".into(),
        )),
        audience: Some(pb::BatchAudience {
            audience: Some(pb::batch_audience::Audience::Filter(
                "contact.email is defined".into(),
            )),
        }),
        ..Default::default()
    };
    let began = Instant::now();
    let mut stream = client.batch_render(request).await?.into_inner();
    let (mut rendered, mut failed, mut summary) = (0usize, 0usize, None);
    while let Some(result) = stream.message().await? {
        match result.outcome {
            Some(Outcome::Rendered(_)) => rendered += 1,
            Some(Outcome::Error(_)) => failed += 1,
            Some(Outcome::Summary(s)) => summary = Some(s),
            None => {}
        }
    }
    let took = began.elapsed();
    let ideal = latency * total as u32 / concurrency as u32;
    println!(
        "audience batch: {total} contacts from a fake Crisp answering in {latency_ms} ms, --batch-concurrency {concurrency}"
    );
    println!(
        "  rendered {rendered}, failed {failed}, summary {summary:?}; took {:.2} s, ideal {:.2} s: {:.0}% of ideal",
        took.as_secs_f64(),
        ideal.as_secs_f64(),
        100.0 * ideal.as_secs_f64() / took.as_secs_f64()
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Args::parse().scenario {
        Scenario::Filter { contacts } => filter_scenario(contacts),
        Scenario::Batch {
            server_bin,
            contacts,
            latency_ms,
            batch_concurrency,
        } => tokio::runtime::Runtime::new()?.block_on(batch_scenario(
            &server_bin,
            contacts,
            latency_ms,
            batch_concurrency,
        )),
    }
}
