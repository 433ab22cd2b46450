//! Health-check latency while hostile templates run, against one server in one run:
//! health p50/p99/max idle, then during a storm of hostile renders and one hostile
//! BatchRender, then how long the server's CPU takes to go quiet once the batch is
//! cancelled, and its resident memory before, at the peak and after. Driven by
//! `bench/hostile.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Debug, Parser)]
struct Args {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    target: String,
    /// Its process id, for CPU time and memory from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Seconds of health checks idle, and again during the storm.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Hostile renders in flight during the storm.
    #[arg(long, default_value_t = 4)]
    renders: usize,
    /// Recipients of the hostile BatchRender.
    #[arg(long, default_value_t = 10_000)]
    recipients: usize,
}

const HOSTILE: &[&str] = &[
    "<<((range(10000)|list) * 10000)[-1]>>",
    "<<(range(10000)|list) * 10000>>",
    "{% set s = \"x\" * 1000000 %}<<([s] * 1000)|join|length>>",
    "{% for i in range(10000) %}{% for j in range(100) %}<<j>>{% endfor %}{% endfor %}",
];
const JANE: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";

fn render(body: &str) -> pb::RenderTemplateRequest {
    pb::RenderTemplateRequest {
        workspace_id: "demo".into(),
        body: body.into(),
        contact_id: JANE.into(),
        ..Default::default()
    }
}

/// utime + stime of a process.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(end) = stat.rfind(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = stat[end + 2..].split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn rss_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

async fn health_for(channel: Channel, seconds: u64) -> Histogram<u64> {
    let mut health = HealthClient::new(channel);
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let started = Instant::now();
        health.check(HealthCheckRequest::default()).await.unwrap();
        histogram
            .record(started.elapsed().as_micros() as u64)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    histogram
}

fn line(label: &str, h: &Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{label:<8} health checks {:>5}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let channel = Channel::from_shared(args.target.clone())?.connect().await?;
    let rss_before = rss_mib(args.server_pid, "VmRSS:");
    let idle = health_for(channel.clone(), args.seconds).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut storm = Vec::new();
    for i in 0..args.renders {
        let mut client =
            ShortcutServiceClient::new(Channel::from_shared(args.target.clone())?.connect().await?);
        let stop = stop.clone();
        storm.push(tokio::spawn(async move {
            let mut refused = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if client
                    .render_template(render(HOSTILE[i % HOSTILE.len()]))
                    .await
                    .is_err()
                {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut batch_client =
        ShortcutServiceClient::new(Channel::from_shared(args.target.clone())?.connect().await?);
    let batch = pb::BatchRenderRequest {
        workspace_id: "demo".into(),
        template: Some(pb::batch_render_request::Template::Body(HOSTILE[3].into())),
        recipients: (0..args.recipients)
            .map(|_| pb::BatchRecipient {
                contact_id: JANE.into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut results = batch_client.batch_render(batch).await?.into_inner();
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = read.clone();
    let reader = tokio::spawn(async move {
        loop {
            match results.message().await {
                Ok(Some(_)) => {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => break,
                Err(status) => {
                    eprintln!("the batch stream failed: {status}");
                    break;
                }
            }
        }
    });
    let storming = health_for(channel.clone(), args.seconds).await;
    let rss_peak = rss_mib(args.server_pid, "VmHWM:");
    stop.store(true, Ordering::Relaxed);
    let mut refused = 0;
    for task in storm {
        refused += task.await?;
    }
    // Cancel the batch: drop the stream mid-way.
    reader.abort();
    let _ = reader.await;
    let batch_read = read.load(Ordering::Relaxed);
    let cancelled = Instant::now();
    let mut quiet_after = None;
    while cancelled.elapsed() < Duration::from_secs(10) {
        let before = cpu(args.server_pid);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let used = cpu(args.server_pid) - before;
        // Below a quarter of one core over the window: the server is idle.
        if used * 4 < window.elapsed() {
            quiet_after = Some(cancelled.elapsed());
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_mib(args.server_pid, "VmRSS:");

    line("idle", &idle);
    line("storm", &storming);
    println!(
        "storm: {} hostile renders in flight ({refused} refused), BatchRender of {} recipients ({batch_read} results read before cancelling)",
        args.renders, args.recipients
    );
    match quiet_after {
        Some(t) => println!(
            "server CPU quiet {:.0} ms after the batch was cancelled (20 ms windows, resolution 10 ms)",
            t.as_secs_f64() * 1000.0
        ),
        None => println!("server CPU still busy 10 s after the batch was cancelled"),
    }
    println!("server memory: {rss_before} MiB before, {rss_peak} MiB peak, {rss_after} MiB after");
    Ok(())
}
