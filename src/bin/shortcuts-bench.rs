//! `shortcuts-bench`: a load generator for a running shortcuts server.
//!
//! Measures, in one run against one server, the transport's ceiling (the gRPC health check,
//! a no-op) and `RenderShortcut` of a realistic shortcut with warm data, at several
//! concurrencies over several HTTP/2 connections, and prints requests/s and latency
//! percentiles with the ratio render/baseline. `bench/run.sh` starts a server and runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Baseline,
    Render,
}

struct Outcome {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    errors: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(Channel::from_shared(args.target.clone())?.connect().await?);
    }
    if let Some(n) = args.fill_contacts {
        return fill_contacts(&args, &channels, n).await;
    }
    if let Some(n) = args.create_shortcuts {
        return create_shortcuts(&args, channels[0].clone(), n).await;
    }
    let bang = ensure_bench_shortcut(&args, channels[0].clone()).await?;
    let render = Arc::new(pb::RenderShortcutRequest {
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
    });

    println!("| scenario | in flight | req/s | p50 | p99 | p99.9 | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut ratios = Vec::new();
    for &concurrency in &args.concurrency {
        let mut by_scenario = Vec::new();
        for scenario in [Scenario::Baseline, Scenario::Render] {
            run(
                &args,
                &channels,
                &render,
                scenario,
                concurrency,
                Duration::from_secs(args.warmup),
            )
            .await;
            let outcome = run(
                &args,
                &channels,
                &render,
                scenario,
                concurrency,
                Duration::from_secs(args.seconds),
            )
            .await;
            println!(
                "| {:?} | {concurrency} | {:.0} | {:?} | {:?} | {:?} | {} |",
                scenario,
                outcome.requests_per_second,
                outcome.p50,
                outcome.p99,
                outcome.p999,
                outcome.errors
            );
            by_scenario.push(outcome);
        }
        ratios.push((
            concurrency,
            by_scenario[1].requests_per_second / by_scenario[0].requests_per_second,
            by_scenario[1].p99.as_secs_f64() / by_scenario[0].p99.as_secs_f64(),
        ));
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

async fn run(
    args: &Args,
    channels: &[Channel],
    render: &Arc<pb::RenderShortcutRequest>,
    scenario: Scenario,
    concurrency: usize,
    length: Duration,
) -> Outcome {
    let deadline = Instant::now() + length;
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let channel = channels[i % channels.len()].clone();
        let render = render.clone();
        let token = args.token.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let mut errors = 0u64;
            let mut health = HealthClient::new(channel.clone());
            let mut client = ShortcutServiceClient::new(channel);
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = match scenario {
                    Scenario::Baseline => health
                        .check(HealthCheckRequest {
                            service: String::new(),
                        })
                        .await
                        .is_ok(),
                    Scenario::Render => {
                        let mut request = tonic::Request::new((*render).clone());
                        if let Some(token) = &token
                            && let Ok(value) = format!("Bearer {token}").parse()
                        {
                            request.metadata_mut().insert("authorization", value);
                        }
                        client.render_shortcut(request).await.is_ok()
                    }
                };
                let micros = started.elapsed().as_micros() as u64;
                if ok {
                    let _ = histogram.record(micros.max(1));
                } else {
                    errors += 1;
                }
            }
            (histogram, errors)
        }));
    }
    let started = Instant::now();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut errors = 0;
    for worker in workers {
        let (histogram, worker_errors) = worker.await.expect("a worker finished");
        total.add(histogram).expect("same bounds");
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64().max(length.as_secs_f64());
    let at = |q: f64| Duration::from_micros(total.value_at_quantile(q));
    Outcome {
        requests_per_second: total.len() as f64 / elapsed,
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        errors,
    }
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
    Ok(())
}
