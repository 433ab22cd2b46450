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
//! - `pushdown`: a 2% audience of 10,000 contacts from the same fake Crisp (which searches
//!   its people list as Crisp's `search_filter` says), once with `contact.plan == "pro"`
//!   pushed down and once in a form that pushes nothing: list pages, contact fetches and
//!   time of each, as ratios of the same run.
//!
//! `bash bench/audience.sh` builds and runs them all.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use clap::{Parser, Subcommand};
use serde_json::{Map, Value as Json, json};
use shortcuts::audience::{self, Decision, Filter};
use shortcuts::catalog::paths::KnownPaths;
use shortcuts::data::{
    ContactPage, ContactQuery, DataService, DataSource, ListedContact, Record, ScopeKind,
    SourceError, scope,
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
    /// A 2% audience from a fake Crisp, with and without its search pushed down.
    Pushdown(CrispRun),
    /// A batch to a whole audience on a real server, from a fake Crisp with a latency.
    Batch(CrispRun),
}

/// A real server reading from a fake Crisp with a latency.
#[derive(Debug, clap::Args)]
struct CrispRun {
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    #[arg(long, default_value_t = 10_000)]
    contacts: usize,
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    #[arg(long, default_value_t = 16)]
    batch_concurrency: usize,
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
        _query: &ContactQuery,
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

/// Requests a fake Crisp answered, by kind.
#[derive(Default)]
struct Requests {
    pages: AtomicUsize,
    contacts: AtomicUsize,
}

/// Whether contact `i` meets a people search: the `and` (or `or`) of criteria
/// `data.<key>` `eq`, `email` `eq` and `person.geolocation.country` `has`, as
/// `shortcuts::data::crisp_search` sends them. An unknown criterion admits everyone.
fn admits(i: usize, search: &[(String, String)]) -> bool {
    let operator = search
        .iter()
        .find(|(k, _)| k == "search_operator")
        .map_or("and", |(_, v)| v.as_str());
    let Some(filter) = search
        .iter()
        .find(|(k, _)| k == "search_filter")
        .and_then(|(_, v)| serde_json::from_str::<Json>(v).ok())
    else {
        return true;
    };
    let (native, custom) = contact(i);
    let criteria = filter.as_array().cloned().unwrap_or_default();
    let mut holds = criteria.iter().map(|c| {
        let value = c["query"][0].as_str().unwrap_or_default();
        let criterion = c["criterion"].as_str().unwrap_or_default();
        let field = match criterion {
            "email" => native.get("email"),
            "person.geolocation.country" => native.get("country"),
            key => match key.strip_prefix("data.") {
                Some(key) => custom.get(key),
                None => return true,
            },
        };
        match (field.and_then(Json::as_str), c["operator"].as_str()) {
            (Some(field), Some("has")) => field.to_lowercase().contains(&value.to_lowercase()),
            (Some(field), _) => field == value,
            (None, _) => false,
        }
    });
    if operator == "or" {
        holds.any(|h| h)
    } else {
        holds.all(|h| h)
    }
}

/// A fake Crisp API: `people/profiles/{page}` (20 a page, searched as [`admits`] says),
/// `people/profile/{id}` and `people/data/{id}`, each answered after `latency`.
async fn fake_crisp(
    total: usize,
    latency: Duration,
    requests: Arc<Requests>,
) -> anyhow::Result<std::net::SocketAddr> {
    let lists: Arc<Mutex<HashMap<String, Arc<Vec<usize>>>>> = Arc::default();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let (requests, lists) = (requests.clone(), lists.clone());
        async move {
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
                requests.pages.fetch_add(1, Ordering::Relaxed);
                // Each search's list is worked out once, not per page, so that the fake's
                // own work does not weigh on the unpushed run's time.
                let query = uri.query().unwrap_or_default().to_string();
                let admitted = lists
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(query)
                    .or_insert_with_key(|query| {
                        let search = url_pairs(query);
                        Arc::new((0..total).filter(|i| admits(*i, &search)).collect())
                    })
                    .clone();
                let page: usize = page.parse().unwrap_or(1).max(1);
                let listed: Vec<Json> = admitted
                    .iter()
                    .copied()
                    .skip((page - 1) * 20)
                    .take(20)
                    .map(profile)
                    .collect();
                if listed.is_empty() {
                    return (
                        StatusCode::NOT_FOUND,
                        axum::Json(json!({"error": true, "reason": "people_not_found", "data": {}})),
                    )
                        .into_response();
                }
                ok(Json::Array(listed))
            }
            [.., "people", "profile", id] if index(id).is_some() => {
                requests.contacts.fetch_add(1, Ordering::Relaxed);
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
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// What one audience batch on a fresh server did.
struct BatchRun {
    took: Duration,
    rendered: usize,
    failed: usize,
    summary: Option<pb::BatchSummary>,
}

/// A BatchRender of `filter` on a fresh server (so a cold data cache) whose workspace reads
/// from the fake Crisp at `crisp`.
async fn run_batch(
    server_bin: &str,
    crisp: std::net::SocketAddr,
    concurrency: usize,
    filter: &str,
) -> anyhow::Result<BatchRun> {
    let dir = std::env::temp_dir().join(format!(
        "shortcuts-audience-bench-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
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
            audience: Some(pb::batch_audience::Audience::Filter(filter.into())),
        }),
        ..Default::default()
    };
    let began = Instant::now();
    let mut stream = client.batch_render(request).await?.into_inner();
    let mut run = BatchRun {
        took: Duration::ZERO,
        rendered: 0,
        failed: 0,
        summary: None,
    };
    while let Some(result) = stream.message().await? {
        match result.outcome {
            Some(Outcome::Rendered(_)) => run.rendered += 1,
            Some(Outcome::Error(_)) => run.failed += 1,
            Some(Outcome::Summary(s)) => run.summary = Some(s),
            None => {}
        }
    }
    run.took = began.elapsed();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

async fn batch_scenario(
    server_bin: &str,
    total: usize,
    latency_ms: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let latency = Duration::from_millis(latency_ms);
    let crisp = fake_crisp(total, latency, Arc::default()).await?;
    let run = run_batch(server_bin, crisp, concurrency, "contact.email is defined").await?;
    let ideal = latency * total as u32 / concurrency as u32;
    println!(
        "audience batch: {total} contacts from a fake Crisp answering in {latency_ms} ms, --batch-concurrency {concurrency}"
    );
    println!(
        "  rendered {}, failed {}, summary {:?}; took {:.2} s, ideal {:.2} s: {:.0}% of ideal",
        run.rendered,
        run.failed,
        run.summary,
        run.took.as_secs_f64(),
        ideal.as_secs_f64(),
        100.0 * ideal.as_secs_f64() / run.took.as_secs_f64()
    );
    Ok(())
}

/// A 2% audience ("pro" plan, fewer than 8 seats) of `total` Crisp contacts, with its
/// `contact.plan == "pro"` pushed down to Crisp's people search, then in a form that
/// pushes nothing down (an `or`): people list pages, contact fetches and time of each, and
/// their ratios.
async fn pushdown_scenario(
    server_bin: &str,
    total: usize,
    latency_ms: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    const PUSHED: &str = r#"contact.plan == "pro" and contact.seats < 8"#;
    const UNPUSHED: &str =
        r#"(contact.plan == "pro" or contact.plan == "none") and contact.seats < 8"#;
    let latency = Duration::from_millis(latency_ms);
    println!(
        "audience pushdown: {total} contacts from a fake Crisp answering in {latency_ms} ms, --batch-concurrency {concurrency}"
    );
    let mut runs = Vec::new();
    for (name, filter) in [("pushed", PUSHED), ("unpushed", UNPUSHED)] {
        let requests = Arc::new(Requests::default());
        let crisp = fake_crisp(total, latency, requests.clone()).await?;
        let run = run_batch(server_bin, crisp, concurrency, filter).await?;
        let (pages, contacts) = (
            requests.pages.load(Ordering::Relaxed),
            requests.contacts.load(Ordering::Relaxed),
        );
        println!(
            "  {name:>8}: rendered {}, failed {}, {pages} list pages, {contacts} contacts fetched, {:.2} s  ({filter})",
            run.rendered,
            run.failed,
            run.took.as_secs_f64()
        );
        runs.push((run, pages, contacts));
    }
    let (pushed, unpushed) = (&runs[0], &runs[1]);
    anyhow::ensure!(
        pushed.0.rendered == unpushed.0.rendered,
        "the same audience either way"
    );
    println!(
        "  pushed / unpushed: requests {:.3} ({} / {}), time {:.3}",
        (pushed.1 + 2 * pushed.2) as f64 / (unpushed.1 + 2 * unpushed.2) as f64,
        pushed.1 + 2 * pushed.2,
        unpushed.1 + 2 * unpushed.2,
        pushed.0.took.as_secs_f64() / unpushed.0.took.as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Args::parse().scenario {
        Scenario::Filter { contacts } => filter_scenario(contacts),
        Scenario::Pushdown(run) => tokio::runtime::Runtime::new()?.block_on(pushdown_scenario(
            &run.server_bin,
            run.contacts,
            run.latency_ms,
            run.batch_concurrency,
        )),
        Scenario::Batch(run) => tokio::runtime::Runtime::new()?.block_on(batch_scenario(
            &run.server_bin,
            run.contacts,
            run.latency_ms,
            run.batch_concurrency,
        )),
    }
}
