//! PostgreSQL stopped under two replicas, then started again, and every backend terminated:
//! reads keep serving, writes answer UNAVAILABLE before the caller's deadline (at once once
//! the store is known to be down), health says so for the write path only, and everything
//! recovers when the database returns.
//!
//! The database stopped here is a cluster of the test's own (Debian's `pg_createcluster`,
//! the same PostgreSQL as the shared one), so that stopping it disturbs no other test; it is
//! dropped at the end, also when the test fails.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::harness::TestServer;
use crate::observability::{metrics_url, sample, scrape};
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;

const WRITES: &str = "shortcuts.v1.ShortcutService/writes";

/// Clusters made by this process so far.
static CLUSTERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A PostgreSQL cluster of this test's own, on a free port, trusted on loopback.
pub(crate) struct OwnCluster {
    version: String,
    name: String,
    port: u16,
}

impl OwnCluster {
    pub(crate) fn create() -> Self {
        let version = std::fs::read_dir("/etc/postgresql")
            .expect("PostgreSQL's clusters live under /etc/postgresql")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
            .expect("an installed PostgreSQL version");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = OwnCluster {
            version,
            // Unique per test too: tests of one process run side by side.
            name: format!(
                "shortcuts_outage_{}_{}",
                std::process::id(),
                CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            port,
        };
        cluster.run(
            "pg_createcluster",
            &[
                &cluster.version,
                &cluster.name,
                "-p",
                &port.to_string(),
                "--start",
                "--",
                "--auth=trust",
            ],
        );
        cluster
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub(crate) fn stop(&self) {
        self.run(
            "pg_ctlcluster",
            &[&self.version, &self.name, "stop", "-m", "fast"],
        );
    }

    pub(crate) fn start(&self) {
        self.run("pg_ctlcluster", &[&self.version, &self.name, "start"]);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} (Debian's postgresql-common) is needed: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", &self.version, &self.name])
            .output();
    }
}

/// Waits for the health service to report `status` for `service`, following its Watch
/// stream (bounded).
async fn health_becomes(server: &TestServer, service: &str, status: ServingStatus) {
    let mut health = HealthClient::new(server.channel().await);
    let mut updates = health
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let wait = async {
        while let Some(update) = updates.next().await {
            if update.unwrap().status == status as i32 {
                return;
            }
        }
        panic!("the health stream of {service} ended");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("{service} never became {status:?}"));
}

async fn health_now(server: &TestServer, service: &str) -> i32 {
    let mut health = HealthClient::new(server.channel().await);
    let reply = health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap();
    reply.into_inner().status
}

fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

#[tokio::test]
async fn with_postgresql_down_writes_fail_fast_and_reads_keep_serving() {
    let cluster = OwnCluster::create();
    let a = TestServer::start_on(
        cluster.url(),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--store-write-timeout",
            "2s",
        ],
    );
    let b = TestServer::start_on(cluster.url(), &["--seed-demo=false"]);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    on_a.create_shortcut(create(DEMO, "before-outage", "up"))
        .await
        .unwrap();
    assert_eq!(health_now(&a, WRITES).await, ServingStatus::Serving as i32);

    cluster.stop();

    // The first write after the stop: UNAVAILABLE, before a 5 s deadline.
    let started = Instant::now();
    let first = on_a
        .create_shortcut(with_deadline(
            create(DEMO, "during", "x"),
            Duration::from_secs(5),
        ))
        .await;
    let first_took = started.elapsed();
    let status = assert_status(first, Code::Unavailable, &["PostgreSQL store at 127.0.0.1"]);
    assert!(first_took < Duration::from_secs(5), "{first_took:?}");
    assert!(status.get_details_retry_info().is_some(), "{status:?}");

    // Known to be down: the write path reports NOT_SERVING, the service stays SERVING, and
    // a write with plenty of time answers without waiting for the write timeout.
    health_becomes(&a, WRITES, ServingStatus::NotServing).await;
    assert_eq!(
        health_now(&a, "shortcuts.v1.ShortcutService").await,
        ServingStatus::Serving as i32
    );
    let mut refused = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        let result = on_a
            .create_shortcut(with_deadline(
                create(DEMO, &format!("refused-{i}"), "x"),
                Duration::from_secs(30),
            ))
            .await;
        refused.push(started.elapsed());
        let status = assert_status(
            result,
            Code::Unavailable,
            &["unreachable", "reads keep working"],
        );
        assert!(status.get_details_retry_info().is_some());
    }
    refused.sort();
    assert!(
        refused[refused.len() - 1] < Duration::from_secs(2),
        "refused without waiting for --store-write-timeout: {refused:?}"
    );
    println!(
        "PostgreSQL down: first write answered in {first_took:?}; with the breaker open: median {:?}, max {:?}",
        refused[refused.len() / 2],
        refused[refused.len() - 1]
    );

    // Reads keep serving from memory.
    let reply = on_a
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: DEMO.into(),
            shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(
                "before-outage".into(),
            )),
            contact_id: JANE.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "up");
    let metrics = scrape(&metrics_url(&a)).await;
    assert_eq!(sample(&metrics, "shortcuts_store_writable", &[]), 0.0);
    assert!(sample(&metrics, "shortcuts_store_writes_refused_total", &[]) >= 20.0);

    // Back: the probe lets writes through, and B gets them.
    cluster.start();
    health_becomes(&a, WRITES, ServingStatus::Serving).await;
    let after = on_a
        .create_shortcut(create(DEMO, "after-outage", "back"))
        .await
        .unwrap()
        .into_inner();
    // Without a token, B gets it from the change feed (an announcement, or the reload after
    // its listener reconnected, whichever comes first): within 10 s.
    let get_after = pb::GetShortcutRequest {
        workspace_id: DEMO.into(),
        key: Some(pb::get_shortcut_request::Key::Id(after.id.clone())),
        ..Default::default()
    };
    let written = Instant::now();
    let got = loop {
        match on_b.get_shortcut(get_after.clone()).await {
            Ok(got) => break got.into_inner(),
            Err(status) if status.code() == Code::NotFound => {
                assert!(
                    written.elapsed() < Duration::from_secs(10),
                    "B still lacks the write after 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    };
    assert_eq!(got.body, "back");
    println!(
        "after the outage, a write reached B in {:?}",
        written.elapsed()
    );
    let metrics = scrape(&metrics_url(&a)).await;
    assert_eq!(sample(&metrics, "shortcuts_store_writable", &[]), 1.0);

    // Every backend terminated, listeners included: the next write still reaches B.
    let admin = sqlx::PgPool::connect(&cluster.url()).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .execute(&admin)
    .await
    .unwrap();
    let written = Instant::now();
    let next = on_a
        .create_shortcut(create(DEMO, "after-terminate", "still"))
        .await
        .unwrap()
        .into_inner();
    let got = on_b
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Id(next.id.clone())),
            consistency_token: next.consistency_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.body, "still");
    println!(
        "every backend terminated: the next write was on B {:?} after A was asked",
        written.elapsed()
    );
    admin.close().await;
}
