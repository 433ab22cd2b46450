//! A working day, replayed (issue 19): agents answering conversations that open through
//! signed Crisp web hooks, rendering a few shortcuts each, for contacts of Zipf-distributed
//! activity, against a fake Crisp REST API that answers in `--latency-ms` and enforces a
//! per-minute quota with 429 + Retry-After. Two servers run side by side in the same run,
//! each with its own fake Crisp: cache-aside (`refresh_ahead = "0%"`, `prefetch = false`,
//! no request budget: the behaviour before issue 19) and the new behaviour (refresh-ahead,
//! prefetch on web hooks, a request budget below the quota).
//!
//! Reported per server: the share of renders that waited for an upstream call (a
//! `data_origins` entry of `ORIGIN_UPSTREAM`), render p50/p99 as the agent sees it, Crisp
//! requests per minute (mean and the busiest minute), 429s Crisp sent and renders that
//! failed because of them.
//!
//!     bash bench/fresh.sh                 # 50 agents, 5,000 contacts, 150 ms, 3 minutes

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value as Json, json};
use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// The server binary to start (twice).
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    #[arg(long, default_value_t = 50)]
    agents: usize,
    #[arg(long, default_value_t = 5000)]
    contacts: usize,
    /// Zipf exponent of contact activity.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// How long the fake Crisp takes to answer each request.
    #[arg(long, default_value_t = 150)]
    latency_ms: u64,
    /// The fake Crisp's quota: requests per rolling minute, then 429 with Retry-After.
    #[arg(long, default_value_t = 1200)]
    quota_per_minute: usize,
    /// The new behaviour's `requests_per_minute` (below the quota).
    #[arg(long, default_value_t = 1000)]
    budget_per_minute: u32,
    /// The data TTL of both servers (a working day compressed: shorter than the default 5m).
    #[arg(long, default_value = "60s")]
    ttl: String,
    /// The new behaviour's `refresh_ahead` (the service's default).
    #[arg(long, default_value = "10%")]
    refresh_ahead: String,
    /// How long the day lasts.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// Shortcuts an agent renders per conversation.
    #[arg(long, default_value_t = 3)]
    renders_per_conversation: usize,
}

const WEBSITE: &str = "8c842203-7ed8-4e29-a608-7cf78a7d2fcc";
const SECRET: &str = "bench-hook-secret";
const BODY: &str = "Hi <<contact.first_name>>, your <<contact.plan>> plan covers order <<session.order_id>> (<<session.city>>).";

// ---------------------------------------------------------------- the fake Crisp

/// A fake Crisp REST API v1 with a latency and a rolling per-minute quota.
struct FakeCrisp {
    latency: Duration,
    quota: usize,
    /// When each request inside the last minute arrived.
    window: Mutex<VecDeque<Instant>>,
    requests: AtomicUsize,
    limited: AtomicUsize,
    /// Requests per second of the run, for the busiest minute.
    per_second: Mutex<Vec<u32>>,
    started: Instant,
    /// The data's time to live: a resource asked for again sooner was fetched early
    /// (refresh-ahead, a prefetch of an entry due, a fetch spoilt by an invalidation) or
    /// twice (two ids of one contact); cache-aside makes no such request.
    ttl: Duration,
    /// When each resource (path) was last asked for.
    last: Mutex<HashMap<String, Instant>>,
    /// Requests per endpoint (profile, data, meta), and of those, the ones within `ttl` of
    /// the resource's previous request.
    per_endpoint: Mutex<BTreeMap<&'static str, (usize, usize)>>,
}

impl FakeCrisp {
    /// Counts a request for `path` (of `endpoint`), early when within `ttl` of the last.
    fn count(&self, endpoint: &'static str, path: &str) {
        let now = Instant::now();
        let early = self
            .last
            .lock()
            .unwrap()
            .insert(path.to_string(), now)
            .is_some_and(|last| now - last < self.ttl);
        let mut per_endpoint = self.per_endpoint.lock().unwrap();
        let counts = per_endpoint.entry(endpoint).or_default();
        counts.0 += 1;
        counts.1 += usize::from(early);
    }

    fn per_endpoint(&self) -> String {
        self.per_endpoint
            .lock()
            .unwrap()
            .iter()
            .map(|(endpoint, (all, early))| {
                format!("{endpoint} {all} ({early} within the ttl of the last)")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Counts a request; `Some(seconds)` when it is over the quota.
    fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        let second = (now - self.started).as_secs() as usize;
        {
            let mut per_second = self.per_second.lock().unwrap();
            if per_second.len() <= second {
                per_second.resize(second + 1, 0);
            }
            per_second[second] += 1;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut window = self.window.lock().unwrap();
        while window
            .front()
            .is_some_and(|t| now - *t >= Duration::from_secs(60))
        {
            window.pop_front();
        }
        if window.len() >= self.quota {
            self.limited.fetch_add(1, Ordering::Relaxed);
            let oldest = *window.front().unwrap();
            let wait = Duration::from_secs(60).saturating_sub(now - oldest);
            return Some(wait.as_secs().max(1));
        }
        window.push_back(now);
        None
    }

    fn busiest_minute(&self) -> u32 {
        let per_second = self.per_second.lock().unwrap();
        per_second
            .windows(60.min(per_second.len().max(1)))
            .map(|w| w.iter().sum::<u32>())
            .max()
            .unwrap_or(0)
    }
}

fn envelope(data: Json) -> Response {
    axum::Json(json!({"error": false, "reason": "resolved", "data": data})).into_response()
}

fn failure(status: StatusCode, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": true, "reason": reason, "data": {}})),
    )
        .into_response()
}

/// Contact `i` is `c{i}@example.com`; session `session_{i}_{n}` is a conversation of it.
fn contact_of_email(id: &str) -> Option<usize> {
    id.strip_prefix('c')?
        .strip_suffix("@example.com")?
        .parse()
        .ok()
}

fn contact_of_session(id: &str) -> Option<usize> {
    id.strip_prefix("session_")?.split('_').next()?.parse().ok()
}

async fn crisp_answer(fake: Arc<FakeCrisp>, uri: Uri) -> Response {
    if let Some(retry_after) = fake.admit() {
        let mut response = failure(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        response
            .headers_mut()
            .insert("retry-after", retry_after.to_string().parse().unwrap());
        return response;
    }
    tokio::time::sleep(fake.latency).await;
    let path = uri.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let endpoint = match segments.as_slice() {
        [.., "people", "profile", _] => "profile",
        [.., "people", "data", _] => "data",
        [.., "meta"] => "meta",
        _ => "other",
    };
    fake.count(endpoint, &path);
    let decode = |s: &str| s.replace("%40", "@");
    match segments.as_slice() {
        ["v1", "website", _, "people", "profile", id] => match contact_of_email(&decode(id)) {
            Some(i) => envelope(json!({
                "people_id": format!("people-{i}"),
                "email": format!("c{i}@example.com"),
                "person": {"nickname": format!("Customer {i}"), "locales": ["en"]},
                "segments": ["customer"]
            })),
            None => failure(StatusCode::NOT_FOUND, "people_not_found"),
        },
        ["v1", "website", _, "people", "data", id] => match contact_of_email(&decode(id)) {
            Some(i) => {
                let plan = ["free", "pro", "enterprise"][i % 3];
                envelope(json!({"data": {"plan": plan, "seats": i % 200}}))
            }
            None => failure(StatusCode::NOT_FOUND, "people_not_found"),
        },
        ["v1", "website", _, "conversation", id, "meta"] => match contact_of_session(id) {
            Some(i) => envelope(json!({
                "nickname": format!("Customer {i}"),
                "email": format!("c{i}@example.com"),
                "data": {"order_id": format!("ORD-{i}")},
                "device": {"geolocation": {"city": "Paris", "country": "FR"}}
            })),
            None => failure(StatusCode::NOT_FOUND, "session_not_found"),
        },
        _ => failure(StatusCode::NOT_FOUND, "route_not_found"),
    }
}

/// `"60s"`, `"5m"`: the forms the bench passes; anything else counts nothing as early.
fn parse_ttl(ttl: &str) -> Duration {
    let number = |s: &str| s.trim().parse::<u64>().unwrap_or(0);
    match ttl.trim() {
        t if t.ends_with("ms") => Duration::from_millis(number(&t[..t.len() - 2])),
        t if t.ends_with('s') => Duration::from_secs(number(&t[..t.len() - 1])),
        t if t.ends_with('m') => Duration::from_secs(60 * number(&t[..t.len() - 1])),
        _ => Duration::ZERO,
    }
}

async fn start_fake(args: &Args) -> anyhow::Result<(SocketAddr, Arc<FakeCrisp>)> {
    let fake = Arc::new(FakeCrisp {
        latency: Duration::from_millis(args.latency_ms),
        quota: args.quota_per_minute,
        window: Mutex::new(VecDeque::new()),
        requests: AtomicUsize::new(0),
        limited: AtomicUsize::new(0),
        per_second: Mutex::new(Vec::new()),
        started: Instant::now(),
        ttl: parse_ttl(&args.ttl),
        last: Mutex::new(HashMap::new()),
        per_endpoint: Mutex::new(BTreeMap::new()),
    });
    let state = fake.clone();
    let app = Router::new().fallback(move |uri: Uri| crisp_answer(state.clone(), uri));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, fake))
}

// ---------------------------------------------------------------- the servers

struct Server {
    name: &'static str,
    child: Child,
    grpc: Channel,
    hooks: String,
    metrics: String,
    fake: Arc<FakeCrisp>,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_server(args: &Args, name: &'static str, policy: &str) -> anyhow::Result<Server> {
    let (fake_addr, fake) = start_fake(args).await?;
    let dir = std::env::temp_dir().join(format!(
        "shortcuts-fresh-bench-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let sources = dir.join("sources.toml");
    std::fs::write(
        &sources,
        format!(
            "[workspaces.bench]\ntype = \"crisp\"\nbase_url = \"http://{fake_addr}/v1\"\nwebsite_id = \"{WEBSITE}\"\nidentifier = \"bench\"\nkey = \"bench\"\nwebhook_secret = \"{SECRET}\"\nttl = \"{}\"\n{policy}\n",
            args.ttl
        ),
    )?;
    let mut child = Command::new(&args.server_bin)
        .args(["--listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .arg("--store")
        .arg(dir.join("fresh.db"))
        .arg("--data-sources")
        .arg(&sources)
        .env("RUST_LOG", "warn,shortcuts::server=info")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            for marker in [
                "listening on ",
                "crisp web hooks accepted at ",
                "metrics served at ",
            ] {
                if let Some(rest) = line.split(marker).nth(1) {
                    let _ = tx.send((marker, rest.trim().to_string()));
                }
            }
        }
    });
    let (mut grpc, mut hooks, mut metrics) = (None, None, None);
    while grpc.is_none() || hooks.is_none() || metrics.is_none() {
        let (marker, value) = rx.recv_timeout(Duration::from_secs(30))?;
        let value = value
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        match marker {
            "listening on " => grpc = Some(value),
            "crisp web hooks accepted at " => hooks = Some(value),
            _ => metrics = Some(value),
        }
    }
    let grpc = Channel::from_shared(format!("http://{}", grpc.unwrap()))?
        .connect()
        .await?;
    Ok(Server {
        name,
        child,
        grpc,
        hooks: hooks.unwrap(),
        metrics: metrics.unwrap(),
        fake,
        dir,
    })
}

// ---------------------------------------------------------------- the agents

/// Contact indices with Zipf-distributed activity (inverse CDF).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> usize {
        let u = rng.f64();
        self.cdf.partition_point(|p| *p < u).min(self.cdf.len() - 1)
    }
}

#[derive(Default)]
struct Tally {
    renders: AtomicUsize,
    waited: AtomicUsize,
    errors: AtomicUsize,
    rate_limit_errors: AtomicUsize,
    hooks_failed: AtomicUsize,
    latency: Mutex<Option<Histogram<u64>>>,
    /// Renders served wholly from the cache: what the machine alone costs a render.
    warm: Mutex<Option<Histogram<u64>>>,
    conversations: AtomicU64,
}

async fn hook(http: &reqwest::Client, url: &str, event: &str, data: Json) -> bool {
    let body =
        json!({"website_id": WEBSITE, "event": event, "data": data, "timestamp": 0}).to_string();
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let signature = shortcuts::data::webhook::sign(SECRET, &timestamp, body.as_bytes());
    http.post(url)
        .header("content-type", "application/json")
        .header("x-crisp-request-timestamp", timestamp)
        .header("x-crisp-signature", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// One agent's day on one server: conversations open (web hooks), the agent reads, then
/// renders a few shortcuts; the same random script for both servers (same seed), on the
/// same clock: every step has its planned time from the start of the day, so a render
/// that took longer on one server does not delay that agent's next conversations there
/// (both servers see the same conversations at the same moments).
async fn agent(
    server: Arc<Server>,
    tally: Arc<Tally>,
    zipf: Arc<Zipf>,
    seed: u64,
    (start, until): (Instant, Instant),
    renders_per_conversation: usize,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let http = reqwest::Client::new();
    let mut client = ShortcutServiceClient::new(server.grpc.clone());
    let mut n = 0u64;
    let mut at = start;
    let wait = |at: Instant| tokio::time::sleep_until(at.into());
    while at < until {
        wait(at).await;
        n += 1;
        let contact = zipf.sample(&mut rng);
        let session = format!("session_{contact}_{seed}x{n}");
        let email = format!("c{contact}@example.com");
        tally.conversations.fetch_add(1, Ordering::Relaxed);
        // The visitor opens the conversation and writes.
        let data = json!({"website_id": WEBSITE, "session_id": session});
        let opened = hook(
            &http,
            &server.hooks,
            "session:request:initiated",
            data.clone(),
        )
        .await
            && hook(&http, &server.hooks, "message:send", data).await;
        if !opened {
            tally.hooks_failed.fetch_add(1, Ordering::Relaxed);
        }
        // The agent reads the message (1-4 s), then renders a few shortcuts 0.5-3 s apart.
        at += Duration::from_millis(rng.u64(1000..4000));
        for _ in 0..renders_per_conversation {
            wait(at).await;
            let request = pb::RenderTemplateRequest {
                workspace_id: "bench".into(),
                body: BODY.into(),
                contact_id: email.clone(),
                session_id: session.clone(),
                ..Default::default()
            };
            let started = Instant::now();
            let result = client.render_template(request).await;
            let took = started.elapsed();
            tally.renders.fetch_add(1, Ordering::Relaxed);
            tally
                .latency
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .record((took.as_micros() as u64).max(1))
                .unwrap();
            match result {
                Ok(reply) => {
                    let origins = &reply.get_ref().data_origins;
                    let waited = origins.iter().any(|o| o.origin == Origin::Upstream as i32);
                    if origins.iter().all(|o| o.origin == Origin::Cache as i32) {
                        tally
                            .warm
                            .lock()
                            .unwrap()
                            .as_mut()
                            .unwrap()
                            .record((took.as_micros() as u64).max(1))
                            .unwrap();
                    }
                    if waited {
                        tally.waited.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(status) => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    let message = status.message();
                    if message.contains("rate limit")
                        || message.contains("429")
                        || message.contains("slow down")
                    {
                        tally.rate_limit_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            at += Duration::from_millis(rng.u64(500..3000));
        }
        at += Duration::from_millis(rng.u64(0..1000));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let modes = [
        (
            "cache-aside (before)",
            "refresh_ahead = \"0%\"\nprefetch = false".to_string(),
        ),
        (
            "refresh-ahead + prefetch + budget",
            format!(
                "refresh_ahead = \"{}\"\nrequests_per_minute = {}",
                args.refresh_ahead, args.budget_per_minute
            ),
        ),
    ];
    let mut servers = Vec::new();
    for (name, policy) in &modes {
        servers.push(Arc::new(start_server(&args, name, policy).await?));
    }
    let zipf = Arc::new(Zipf::new(args.contacts, args.zipf));
    println!(
        "{} agents, {} contacts (Zipf s={}), Crisp fake at {} ms with a quota of {}/min, ttl {}, refresh_ahead {} and a budget of {}/min for the new behaviour, {} s, both servers at once",
        args.agents,
        args.contacts,
        args.zipf,
        args.latency_ms,
        args.quota_per_minute,
        args.ttl,
        args.refresh_ahead,
        args.budget_per_minute,
        args.seconds
    );
    let start = Instant::now();
    let until = start + Duration::from_secs(args.seconds);
    let mut tallies = Vec::new();
    let mut tasks = Vec::new();
    for server in &servers {
        let tally = Arc::new(Tally::default());
        *tally.latency.lock().unwrap() = Some(Histogram::new_with_bounds(1, 120_000_000, 3)?);
        *tally.warm.lock().unwrap() = Some(Histogram::new_with_bounds(1, 120_000_000, 3)?);
        for agent_index in 0..args.agents {
            tasks.push(tokio::spawn(agent(
                server.clone(),
                tally.clone(),
                zipf.clone(),
                agent_index as u64 + 1,
                (start, until),
                args.renders_per_conversation,
            )));
        }
        tallies.push(tally);
    }
    for task in tasks {
        task.await?;
    }
    let minutes = args.seconds as f64 / 60.0;
    println!(
        "| behaviour | conversations | renders | waited for Crisp | p50 | p99 | Crisp requests/min (mean, busiest minute) | 429s from Crisp | renders failed (429-caused) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (server, tally) in servers.iter().zip(&tallies) {
        let histogram = tally.latency.lock().unwrap().take().unwrap();
        let renders = tally.renders.load(Ordering::Relaxed);
        let waited = tally.waited.load(Ordering::Relaxed);
        println!(
            "| {} | {} | {renders} | {waited} ({:.2}%) | {:.2} ms | {:.2} ms | {:.0}, {} | {} | {} ({}) |",
            server.name,
            tally.conversations.load(Ordering::Relaxed),
            100.0 * waited as f64 / renders.max(1) as f64,
            histogram.value_at_quantile(0.5) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
            server.fake.requests.load(Ordering::Relaxed) as f64 / minutes,
            server.fake.busiest_minute(),
            server.fake.limited.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed),
            tally.rate_limit_errors.load(Ordering::Relaxed),
        );
        // A render that found another's fetch of its data under way waited for it too,
        // yet reports ORIGIN_CACHE: count the slow renders as well.
        let slow = histogram.len() - histogram.count_between(1, 50_000);
        let warm = tally.warm.lock().unwrap().take().unwrap();
        println!(
            "  {}: {slow} renders took over 50 ms; renders served wholly from the cache: {}, p50 {:.2} ms, p99 {:.2} ms; {:.3} Crisp requests per conversation",
            server.name,
            warm.len(),
            warm.value_at_quantile(0.5) as f64 / 1000.0,
            warm.value_at_quantile(0.99) as f64 / 1000.0,
            server.fake.requests.load(Ordering::Relaxed) as f64
                / tally.conversations.load(Ordering::Relaxed).max(1) as f64
        );
        println!(
            "  {}: Crisp requests by endpoint: {}",
            server.name,
            server.fake.per_endpoint()
        );
        // What the server's own metrics say about its requests and what it dropped.
        if let Ok(response) = reqwest::get(&server.metrics).await
            && let Ok(text) = response.text().await
        {
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| {
                    l.starts_with("shortcuts_upstream_requests_total")
                        || l.starts_with("shortcuts_upstream_dropped_total")
                        || l.starts_with("shortcuts_data_background_total")
                })
                .map(|l| {
                    l.replace("table=\"workspaces.bench\",", "")
                        .replace(",table=\"workspaces.bench\"", "")
                })
                .collect();
            lines.sort();
            println!("  {}: {}", server.name, lines.join("; "));
        }
        if tally.hooks_failed.load(Ordering::Relaxed) > 0 {
            println!(
                "  ({}: {} conversations' web hooks were refused)",
                server.name,
                tally.hooks_failed.load(Ordering::Relaxed)
            );
        }
    }
    Ok(())
}
