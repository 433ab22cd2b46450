//! `shortcuts-bench`: a load generator for a running shortcuts server.
//!
//! Measures, in one run against one server, the transport's ceiling (the gRPC health check,
//! a no-op) and `RenderShortcut` of a realistic shortcut with warm data, at several
//! concurrencies over several HTTP/2 connections, and prints requests/s and latency
//! percentiles with the ratio render/baseline. `bench/run.sh` starts a server and runs it.
//!
//! The gRPC-Web scenarios (`render-web-h1`, `render-web-h2`) make the same render as
//! gRPC-Web calls (tonic-web's client over hyper, HTTP/1.1 or HTTP/2), so that with
//! `--scenarios render,render-web-h2,render-web-h1` one run compares them with native gRPC
//! (`bench/web.sh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Bytes;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;

/// The realistic shortcut: ~300 characters, 5 placeholders, a fallback and a condition.
pub const BENCH_TEMPLATE: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\nthanks for reaching out about your <<contact.plan>> plan. {% if session.order_id %}I can see order <<session.order_id>> in our system and it is being prepared for shipping right now.{% else %}Could you send me your order number?{% endif %} We will write to <<contact.email>> as soon as anything changes.\n\nBest,\n<<agent.first_name>>";

#[derive(Debug, Parser)]
#[command(about = "Load generator for the shortcuts gRPC service")]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// Seconds measured per scenario and concurrency.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The measured seconds are split into this many slices, the scenarios taking turns
    /// (baseline, render, baseline, ...), so that a shared machine speeding up or slowing
    /// down during the run weighs on both sides of the ratio alike.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// Seconds of warm-up (not measured) before each measurement.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Requests in flight, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// HTTP/2 connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Workspace, contact and session rendered for.
    #[arg(long, default_value = "demo")]
    workspace: String,
    #[arg(long, default_value = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11")]
    contact: String,
    #[arg(long, default_value = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d")]
    session: String,
    /// Instead of the load run: render a template once for contacts `c0`..`cN-1` (to fill
    /// the data cache), then exit.
    #[arg(long)]
    fill_contacts: Option<usize>,
    /// Instead of the load run: create N shortcuts in workspace `bench-catalog`, then exit.
    #[arg(long)]
    create_shortcuts: Option<usize>,
    /// Bearer token, when the server requires one.
    #[arg(long, env = "SHORTCUTS_BENCH_TOKEN")]
    token: Option<String>,
    /// Scenarios measured, comma-separated (the ratio needs both).
    #[arg(long, value_delimiter = ',', default_value = "baseline,render")]
    scenarios: Vec<Scenario>,
    /// Process id of the server (on this machine): adds its CPU time per request to the
    /// table, beside the load generator's own, to show which side is saturated.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A second server (e.g. the same build with another flag), for the `render-b`
    /// scenario: RenderShortcut on it, in the same slices, so that the ratio render/render-b
    /// compares the two servers under the same machine load.
    #[arg(long)]
    target_b: Option<String>,
    /// Process id of the `--target-b` server.
    #[arg(long)]
    server_pid_b: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Baseline,
    Render,
    /// RenderShortcut as a gRPC-Web call over HTTP/1.1 (one connection per call in flight).
    RenderWebH1,
    /// RenderShortcut as a gRPC-Web call over HTTP/2 (`--connections` connections).
    RenderWebH2,
    /// RenderShortcut on the `--target-b` server.
    RenderB,
}

/// hyper's client, for the gRPC-Web scenarios.
type HyperClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    tonic_web::GrpcWebCall<tonic::body::Body>,
>;
type WebService = tonic_web::GrpcWebClientService<HyperClient>;

/// The gRPC-Web clients: one HTTP/1.1 client (its pool opens a connection per call in
/// flight, as a browser's would) and one HTTP/2 client per `--connections`.
struct WebClients {
    h1: HyperClient,
    h2: Vec<HyperClient>,
}

impl WebClients {
    fn new(connections: usize) -> Self {
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;
        let connector = || {
            let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
            http.set_nodelay(true);
            http
        };
        WebClients {
            h1: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1024)
                .build(connector()),
            h2: (0..connections.max(1))
                .map(|_| {
                    Client::builder(TokioExecutor::new())
                        .http2_only(true)
                        .build(connector())
                })
                .collect(),
        }
    }
}

/// A worker's client for its scenario.
enum Client {
    Native(tonic::client::Grpc<Channel>),
    /// Boxed: tonic-web's client is several times the size of a channel.
    Web(Box<tonic::client::Grpc<WebService>>),
}

/// The two calls measured, encoded once before the run. Encoding requests and decoding
/// replies on every call would put the load generator's own protobuf work, larger for a
/// render than for the health check, into the figures, and with client and server sharing
/// two cores it would slow the server's measured throughput as well. Replies are checked for
/// an OK status and kept as bytes; [`check_render_reply`] decodes one before the run.
struct Calls {
    baseline: Bytes,
    render: Bytes,
    token: Option<String>,
}

impl Calls {
    /// Makes one call of `scenario`; true when it returned OK.
    async fn call(&self, client: &mut Client, scenario: Scenario) -> bool {
        let (body, path) = match scenario {
            Scenario::Baseline => (&self.baseline, "/grpc.health.v1.Health/Check"),
            _ => (&self.render, "/shortcuts.v1.ShortcutService/RenderShortcut"),
        };
        let mut request = tonic::Request::new(body.clone());
        if scenario != Scenario::Baseline
            && let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        let path = PathAndQuery::from_static(path);
        match client {
            Client::Native(grpc) => {
                grpc.ready().await.is_ok()
                    && grpc
                        .unary::<_, Bytes, _>(request, path, RawCodec)
                        .await
                        .is_ok()
            }
            Client::Web(grpc) => {
                grpc.ready().await.is_ok()
                    && grpc
                        .unary::<_, Bytes, _>(request, path, RawCodec)
                        .await
                        .is_ok()
            }
        }
    }
}

/// A codec for messages that are already encoded: bytes in, bytes out.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Renders once, decoded, and fails unless the benchmark shortcut rendered completely from
/// the data the run will use: a run of errors or of half-empty replies measures nothing.
async fn check_render_reply(
    args: &Args,
    channel: Channel,
    request: pb::RenderShortcutRequest,
) -> anyhow::Result<()> {
    let reply = ShortcutServiceClient::new(channel)
        .render_shortcut(with_token(args, request))
        .await
        .map_err(|status| anyhow::anyhow!("the benchmark render failed: {status}"))?
        .into_inner();
    anyhow::ensure!(
        reply.missing.is_empty() && !reply.text.is_empty(),
        "the benchmark render left placeholders empty: {:?}",
        reply.missing
    );
    println!(
        "render reply checked: {} characters, {} bytes encoded, nothing missing",
        reply.text.chars().count(),
        reply.encoded_len()
    );
    Ok(())
}

/// What one or more measured slices of one scenario collected.
struct Sample {
    /// Latencies of the successful calls, in microseconds.
    latencies: Histogram<u64>,
    errors: u64,
    elapsed: Duration,
    /// CPU time the server and this load generator used meanwhile, when measurable.
    server_cpu: Option<CpuTime>,
    client_cpu: Option<CpuTime>,
}

impl Sample {
    fn new() -> Self {
        Sample {
            latencies: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: 0,
            elapsed: Duration::ZERO,
            server_cpu: Some(CpuTime::ZERO),
            client_cpu: Some(CpuTime::ZERO),
        }
    }

    fn add(&mut self, other: Sample) {
        self.latencies.add(other.latencies).expect("same bounds");
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.server_cpu = self.server_cpu.zip(other.server_cpu).map(|(a, b)| a + b);
        self.client_cpu = self.client_cpu.zip(other.client_cpu).map(|(a, b)| a + b);
    }

    fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn latency(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.latencies.value_at_quantile(quantile))
    }

    /// CPU time per successful call.
    fn per_call(&self, cpu: Option<CpuTime>) -> Option<CpuTime> {
        let calls = u32::try_from(self.latencies.len().max(1)).unwrap_or(u32::MAX);
        cpu.map(|t| CpuTime {
            user: t.user / calls,
            system: t.system / calls,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(args.target.clone())?.connect().await?);
    }
    let mut channels_b = Vec::new();
    if let Some(target_b) = &args.target_b {
        for _ in 0..args.connections.max(1) {
            channels_b.push(Channel::from_shared(target_b.clone())?.connect().await?);
        }
    }
    anyhow::ensure!(
        !args.scenarios.contains(&Scenario::RenderB) || !channels_b.is_empty(),
        "the render-b scenario needs --target-b"
    );
    if let Some(n) = args.fill_contacts {
        return fill_contacts(&args, &channels, n).await;
    }
    if let Some(n) = args.create_shortcuts {
        return create_shortcuts(&args, channels[0].clone(), n).await;
    }
    let bang = ensure_bench_shortcut(&args, channels[0].clone()).await?;
    let render = pb::RenderShortcutRequest {
        workspace_id: args.workspace.clone(),
        shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(bang)),
        contact_id: args.contact.clone(),
        session_id: args.session.clone(),
        agent: Some(prost_types::Struct {
            fields: [(
                "first_name".to_string(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("Sam".into())),
                },
            )]
            .into(),
        }),
        ..Default::default()
    };
    check_render_reply(&args, channels[0].clone(), render.clone()).await?;
    if let Some(channel) = channels_b.first() {
        ensure_bench_shortcut(&args, channel.clone()).await?;
        check_render_reply(&args, channel.clone(), render.clone()).await?;
    }
    let calls = Calls {
        baseline: Bytes::from(
            HealthCheckRequest {
                service: String::new(),
            }
            .encode_to_vec(),
        ),
        render: Bytes::from(render.encode_to_vec()),
        token: args.token.clone(),
    };
    let calls = Arc::new(calls);
    let web = Arc::new(WebClients::new(args.connections));
    let origin: tonic::codegen::http::Uri = args.target.parse()?;

    println!(
        "| scenario | in flight | req/s | p50 | p99 | p99.9 | server CPU/req (user) | client CPU/req | errors |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut ratios = Vec::new();
    let mut web_ratios = Vec::new();
    let mut ab_ratios = Vec::new();
    let slice = Duration::from_secs(args.seconds) / args.rounds;
    for &concurrency in &args.concurrency {
        let mut samples: Vec<Sample> = args.scenarios.iter().map(|_| Sample::new()).collect();
        for &scenario in &args.scenarios {
            let warmup = Duration::from_secs(args.warmup);
            run(
                &args,
                pick(&channels, &channels_b, scenario),
                &web,
                &origin,
                &calls,
                scenario,
                concurrency,
                warmup,
            )
            .await;
        }
        for _ in 0..args.rounds {
            for (&scenario, sample) in args.scenarios.iter().zip(&mut samples) {
                sample.add(
                    run(
                        &args,
                        pick(&channels, &channels_b, scenario),
                        &web,
                        &origin,
                        &calls,
                        scenario,
                        concurrency,
                        slice,
                    )
                    .await,
                );
            }
        }
        for (&scenario, sample) in args.scenarios.iter().zip(&samples) {
            let cpu = |per_call: Option<CpuTime>| {
                per_call.map_or_else(
                    || "-".to_string(),
                    |t| format!("{:.1?} ({:.1?})", t.user + t.system, t.user),
                )
            };
            println!(
                "| {:?} | {concurrency} | {:.0} | {:?} | {:?} | {:?} | {} | {} | {} |",
                scenario,
                sample.requests_per_second(),
                sample.latency(0.5),
                sample.latency(0.99),
                sample.latency(0.999),
                cpu(sample.per_call(sample.server_cpu)),
                cpu(sample.per_call(sample.client_cpu)),
                sample.errors
            );
        }
        if let [baseline, render] = samples.as_slice()
            && args.scenarios == [Scenario::Baseline, Scenario::Render]
        {
            ratios.push((
                concurrency,
                render.requests_per_second() / baseline.requests_per_second(),
                render.latency(0.99).as_secs_f64() / baseline.latency(0.99).as_secs_f64(),
            ));
        }
        // Server A against server B, when both were measured in this run.
        let position = |wanted: Scenario| args.scenarios.iter().position(|&s| s == wanted);
        if let (Some(a), Some(b)) = (position(Scenario::Render), position(Scenario::RenderB)) {
            let (a, b) = (&samples[a], &samples[b]);
            ab_ratios.push((
                concurrency,
                a.requests_per_second() / b.requests_per_second(),
                a.latency(0.99).as_secs_f64() / b.latency(0.99).as_secs_f64(),
            ));
        }
        // gRPC-Web against native gRPC, when both were measured in this run.
        if let Some(native) = args.scenarios.iter().position(|&s| s == Scenario::Render) {
            for (&scenario, sample) in args.scenarios.iter().zip(&samples) {
                if matches!(scenario, Scenario::RenderWebH1 | Scenario::RenderWebH2) {
                    let native = &samples[native];
                    web_ratios.push((
                        concurrency,
                        scenario,
                        sample.requests_per_second() / native.requests_per_second(),
                        sample.latency(0.99).as_secs_f64() / native.latency(0.99).as_secs_f64(),
                    ));
                }
            }
        }
    }
    if !ab_ratios.is_empty() {
        println!();
        println!("| in flight | throughput render/render-b | p99 render/render-b |");
        println!("| ---: | ---: | ---: |");
        for (concurrency, throughput, p99) in ab_ratios {
            println!(
                "| {concurrency} | {:.1}% | {:.2}x |",
                throughput * 100.0,
                p99
            );
        }
    }
    if !web_ratios.is_empty() {
        println!();
        println!("| in flight | gRPC-Web | throughput web/native | p99 web/native |");
        println!("| ---: | --- | ---: | ---: |");
        for (concurrency, scenario, throughput, p99) in web_ratios {
            let http = if scenario == Scenario::RenderWebH1 {
                "HTTP/1.1"
            } else {
                "HTTP/2"
            };
            println!(
                "| {concurrency} | {http} | {:.1}% | {:.2}x |",
                throughput * 100.0,
                p99
            );
        }
    }
    if ratios.is_empty() {
        return Ok(());
    }
    println!();
    println!("| in flight | throughput render/baseline | p99 render/baseline |");
    println!("| ---: | ---: | ---: |");
    for (concurrency, throughput, p99) in ratios {
        println!(
            "| {concurrency} | {:.1}% | {:.2}x |",
            throughput * 100.0,
            p99
        );
    }
    Ok(())
}

/// The channels of the server a scenario calls.
fn pick<'a>(
    channels: &'a [Channel],
    channels_b: &'a [Channel],
    scenario: Scenario,
) -> &'a [Channel] {
    if scenario == Scenario::RenderB {
        channels_b
    } else {
        channels
    }
}

fn with_token<T>(args: &Args, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &args.token
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Creates (or finds) the benchmark shortcut and returns its bang.
async fn ensure_bench_shortcut(args: &Args, channel: Channel) -> anyhow::Result<String> {
    let bang = "bench-order-update".to_string();
    let mut client = ShortcutServiceClient::new(channel);
    let create = pb::CreateShortcutRequest {
        workspace_id: args.workspace.clone(),
        bang: bang.clone(),
        title: "Benchmark: order update".into(),
        body: BENCH_TEMPLATE.into(),
        tags: vec!["bench".into()],
        ..Default::default()
    };
    match client.create_shortcut(with_token(args, create)).await {
        Ok(_) => Ok(bang),
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(bang),
        Err(status) => Err(anyhow::anyhow!(
            "cannot create the benchmark shortcut: {status}"
        )),
    }
}

/// Keeps `concurrency` calls of `scenario` in flight for `length`.
#[allow(clippy::too_many_arguments)]
async fn run(
    args: &Args,
    channels: &[Channel],
    web: &WebClients,
    origin: &tonic::codegen::http::Uri,
    calls: &Arc<Calls>,
    scenario: Scenario,
    concurrency: usize,
    length: Duration,
) -> Sample {
    let deadline = Instant::now() + length;
    let server_pid = if scenario == Scenario::RenderB {
        args.server_pid_b
    } else {
        args.server_pid
    };
    let server_cpu_before = server_pid.and_then(cpu_time);
    let client_cpu_before = cpu_time(std::process::id());
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let mut client = match scenario {
            Scenario::Baseline | Scenario::Render | Scenario::RenderB => Client::Native(
                tonic::client::Grpc::new(channels[i % channels.len()].clone()),
            ),
            Scenario::RenderWebH1 | Scenario::RenderWebH2 => {
                let hyper = if scenario == Scenario::RenderWebH1 {
                    web.h1.clone()
                } else {
                    web.h2[i % web.h2.len()].clone()
                };
                let service = tonic_web::GrpcWebClientService::new(hyper);
                Client::Web(Box::new(tonic::client::Grpc::with_origin(
                    service,
                    origin.clone(),
                )))
            }
        };
        let calls = calls.clone();
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = calls.call(&mut client, scenario).await;
                let micros = started.elapsed().as_micros() as u64;
                if ok {
                    let _ = sample.latencies.record(micros.max(1));
                } else {
                    sample.errors += 1;
                }
            }
            sample
        }));
    }
    let mut total = Sample::new();
    for worker in workers {
        total.add(worker.await.expect("a worker finished"));
    }
    total.elapsed = started.elapsed().max(length);
    let used = |before: Option<CpuTime>, pid: Option<u32>| {
        let (after, before) = (pid.and_then(cpu_time)?, before?);
        Some(CpuTime {
            user: after.user.checked_sub(before.user)?,
            system: after.system.checked_sub(before.system)?,
        })
    };
    total.server_cpu = used(server_cpu_before, server_pid);
    total.client_cpu = used(client_cpu_before, Some(std::process::id()));
    total
}

/// CPU time of a process: in its own code (user) and in the kernel on its behalf (system,
/// mostly socket calls here).
#[derive(Clone, Copy)]
struct CpuTime {
    user: Duration,
    system: Duration,
}

impl CpuTime {
    const ZERO: CpuTime = CpuTime {
        user: Duration::ZERO,
        system: Duration::ZERO,
    };
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;

    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

/// The CPU time a process has used so far, from `/proc/<pid>/stat` (Linux).
fn cpu_time(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // /proc counts in USER_HZ, which Linux fixes at 100 per second on every architecture.
    let ticks = |i: usize| {
        Some(Duration::from_millis(
            fields.get(i)?.parse::<u64>().ok()? * 10,
        ))
    };
    Some(CpuTime {
        user: ticks(11)?,
        system: ticks(12)?,
    })
}

/// Renders once for each of `n` contacts, 64 at a time, so that each enters the cache.
async fn fill_contacts(args: &Args, channels: &[Channel], n: usize) -> anyhow::Result<()> {
    use futures::StreamExt;
    let started = Instant::now();
    let failures = futures::stream::iter(0..n)
        .map(|i| {
            let mut client = ShortcutServiceClient::new(channels[i % channels.len()].clone());
            let request = with_token(
                args,
                pb::RenderTemplateRequest {
                    workspace_id: args.workspace.clone(),
                    body: "<<contact.plan>>".into(),
                    contact_id: format!("c{i}"),
                    ..Default::default()
                },
            );
            async move { client.render_template(request).await.is_err() }
        })
        .buffer_unordered(64)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    println!(
        "rendered for {n} contacts in {:?}, {failures} failures",
        started.elapsed()
    );
    Ok(())
}

/// Creates `n` realistic shortcuts in workspace `bench-catalog`.
async fn create_shortcuts(args: &Args, channel: Channel, n: usize) -> anyhow::Result<()> {
    use futures::StreamExt;
    let started = Instant::now();
    let failures = futures::stream::iter(0..n)
        .map(|i| {
            let mut client = ShortcutServiceClient::new(channel.clone());
            let request = with_token(
                args,
                pb::CreateShortcutRequest {
                    workspace_id: "bench-catalog".into(),
                    bang: format!("reply-{i}"),
                    title: format!("Canned reply number {i} about orders and billing"),
                    body: BENCH_TEMPLATE.into(),
                    tags: vec!["bench".into(), format!("group-{}", i % 40)],
                    ..Default::default()
                },
            );
            async move { client.create_shortcut(request).await.is_err() }
        })
        .buffer_unordered(16)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    println!(
        "created {n} shortcuts in {:?}, {failures} failures",
        started.elapsed()
    );
    // One read, so that the workspace is in memory (the catalogue loads a workspace on its
    // first use): with n = 0, this loads what a restarted server holds in its store.
    let listed = ShortcutServiceClient::new(channel)
        .list_shortcuts(with_token(
            args,
            pb::ListShortcutsRequest {
                workspace_id: "bench-catalog".into(),
                page_size: 1,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    println!(
        "workspace bench-catalog loaded ({} listed)",
        listed.shortcuts.len()
    );
    Ok(())
}
