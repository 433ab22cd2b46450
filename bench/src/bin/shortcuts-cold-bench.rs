//! `shortcuts-cold-bench`: the cold path, where every render must ask the data source.
//!
//! Starts a fake upstream `ContactDataSourceService` (in this process, answering after a set
//! latency and counting calls), starts a `shortcuts` server whose `bench` workspace reads from
//! it, then measures renders for many distinct contacts (each one cold) and a burst of
//! concurrent renders of one cold contact, reporting renders/s, latency and upstream calls.
//! `bash bench/cold.sh` builds and runs it.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use shortcuts::pb;
use shortcuts::pb::contact_data_source_service_server::{
    ContactDataSourceService, ContactDataSourceServiceServer,
};
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
struct Args {
    /// The server binary to start.
    #[arg(long, default_value = "target/release/shortcuts")]
    server_bin: String,
    /// How long the fake upstream takes to answer, in milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Distinct cold contacts rendered, and how many at a time.
    #[arg(long, default_value_t = 5_000)]
    contacts: usize,
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Concurrent renders of one cold contact.
    #[arg(long, default_value_t = 1_000)]
    burst: usize,
}

struct Upstream {
    latency: Duration,
    calls: Arc<AtomicUsize>,
}

fn text(value: &str) -> prost_types::Value {
    prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue(value.into())),
    }
}

#[tonic::async_trait]
impl ContactDataSourceService for Upstream {
    async fn get_contact(
        &self,
        request: tonic::Request<pb::GetContactRequest>,
    ) -> Result<tonic::Response<pb::ContactData>, tonic::Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        let id = request.into_inner().id;
        let fields = prost_types::Struct {
            fields: [
                ("email".to_string(), text(&format!("{id}@example.com"))),
                ("first_name".to_string(), text("Alex")),
            ]
            .into(),
        };
        let data = prost_types::Struct {
            fields: (0..20)
                .map(|k| (format!("key_{k:02}"), text(&format!("value {k} of {id}"))))
                .collect(),
        };
        Ok(tonic::Response::new(pb::ContactData {
            fields: Some(fields),
            data: Some(data),
        }))
    }

    async fn get_session(
        &self,
        _: tonic::Request<pb::GetSessionRequest>,
    ) -> Result<tonic::Response<pb::SessionData>, tonic::Status> {
        Err(tonic::Status::not_found("no sessions in this benchmark"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let calls = Arc::new(AtomicUsize::new(0));
    let upstream = Upstream {
        latency: Duration::from_millis(args.latency_ms),
        calls: calls.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = listener.local_addr()?;
    let service = ContactDataSourceServiceServer::new(upstream);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            // Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to small answers.
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
    });

    let dir = tempfile_dir()?;
    let sources = dir.join("sources.toml");
    std::fs::write(
        &sources,
        format!("[workspaces.bench]\ntype = \"grpc\"\nendpoint = \"http://{upstream_addr}\"\n"),
    )?;
    let (mut server, addrs) = shortcuts_bench::spawn_server(
        Command::new(&args.server_bin)
            .args(["--listen", "127.0.0.1:0", "--store"])
            .arg(dir.join("cold.db"))
            .arg("--data-sources")
            .arg(&sources)
            .env("RUST_LOG", "warn,shortcuts::server=info"),
        &["listening on "],
    )?;
    let addr = &addrs[0];
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    let render = |contact: String| {
        let mut client = ShortcutServiceClient::new(channel.clone());
        async move {
            let started = Instant::now();
            let request = pb::RenderTemplateRequest {
                workspace_id: "bench".into(),
                body: "Hi <<contact.first_name>>, about <<contact.key_07>>".into(),
                contact_id: contact,
                ..Default::default()
            };
            let ok = client.render_template(request).await.is_ok();
            (ok, started.elapsed())
        }
    };

    println!("fake upstream latency {} ms", args.latency_ms);
    println!("| scenario | renders | req/s | p50 | p99 | errors | upstream calls |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, contacts, in_flight) in [
        (
            "distinct cold contacts",
            (0..args.contacts)
                .map(|i| format!("cold-{i}"))
                .collect::<Vec<_>>(),
            args.in_flight,
        ),
        (
            "burst of one cold contact",
            vec!["burst-contact".to_string(); args.burst],
            args.burst,
        ),
    ] {
        let calls_before = calls.load(Ordering::SeqCst);
        let started = Instant::now();
        let outcomes: Vec<(bool, Duration)> = futures::stream::iter(contacts)
            .map(render)
            .buffer_unordered(in_flight)
            .collect()
            .await;
        let elapsed = started.elapsed();
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for (_, took) in &outcomes {
            histogram.record((took.as_micros() as u64).max(1))?;
        }
        let errors = outcomes.iter().filter(|(ok, _)| !ok).count();
        println!(
            "| {name} | {} | {:.0} | {:?} | {:?} | {errors} | {} |",
            outcomes.len(),
            outcomes.len() as f64 / elapsed.as_secs_f64(),
            Duration::from_micros(histogram.value_at_quantile(0.5)),
            Duration::from_micros(histogram.value_at_quantile(0.99)),
            calls.load(Ordering::SeqCst) - calls_before,
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("shortcuts-cold-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
