//! Workspaces loaded on demand: a replica starts without reading any shortcut, reads a
//! workspace when it is first used, drops workspaces beyond `--catalog-bytes`, and ignores
//! announcements for workspaces it has not loaded, without ever serving an older version.

use std::time::{Duration, Instant};

use tonic::Code;

use crate::harness::{PgSchema, TestServer};
use crate::observability::{metrics_url, sample, scrape};
use crate::store_outage::OwnCluster;
use crate::{assert_status, create};
use shortcuts::pb;
use shortcuts::pb::get_shortcut_request::Key;

/// Reads a shortcut by bang (the demo contacts live in `demo` only, so no render).
fn get(workspace: &str, bang: &str) -> pb::GetShortcutRequest {
    pb::GetShortcutRequest {
        workspace_id: workspace.into(),
        key: Some(Key::Bang(bang.into())),
        ..Default::default()
    }
}

/// Reads the metrics until `name` (with `labels`) reaches `wanted`, within 10 s: the
/// gauges are brought up to date at each scrape.
async fn metric_becomes(url: &str, name: &str, labels: &[&str], wanted: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(url).await;
        if sample(&text, name, labels) == wanted {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{labels:?} is {} rather than {wanted}:\n{text}",
            sample(&text, name, labels)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn start_up_reads_no_shortcut_and_first_use_loads_one_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    {
        let first = TestServer::start_on(&store, &["--seed-demo=false"]);
        let mut client = first.client().await;
        for ws in ["north", "south"] {
            for i in 0..3 {
                client
                    .create_shortcut(create(ws, &format!("hi{i}"), &format!("{ws} {i}")))
                    .await
                    .unwrap();
            }
        }
        first.stop().await;
    }
    let server = TestServer::start_on(
        &store,
        &["--seed-demo=false", "--metrics-listen", "127.0.0.1:0"],
    );
    let url = metrics_url(&server);
    let metrics = scrape(&url).await;
    assert_eq!(
        sample(&metrics, "shortcuts_catalog_workspaces_loaded", &[]),
        0.0,
        "nothing is loaded at start"
    );
    assert_eq!(sample(&metrics, "shortcuts_catalog_bytes", &[]), 0.0);

    let mut client = server.client().await;
    let reply = client
        .get_shortcut(get("north", "hi2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.body, "north 2");
    let metrics = scrape(&url).await;
    assert_eq!(
        sample(&metrics, "shortcuts_catalog_workspaces_loaded", &[]),
        1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "shortcuts_catalog_loads_total",
            &["result=\"ok\""]
        ),
        1.0
    );
    assert!(sample(&metrics, "shortcuts_catalog_bytes", &[]) > 0.0);

    // A workspace nobody ever wrote to is empty and takes no room (a caller naming random
    // workspaces fills nothing); reads answer as for any empty workspace.
    for i in 0..50 {
        let listed = client
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: format!("nobody-{i}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.shortcuts.is_empty());
    }
    assert_status(
        client.get_shortcut(get("nobody-0", "hi0")).await,
        Code::NotFound,
        &["!hi0"],
    );
    let metrics = scrape(&url).await;
    assert_eq!(
        sample(&metrics, "shortcuts_catalog_workspaces_loaded", &[]),
        1.0,
        "empty workspaces are not kept"
    );
}

#[tokio::test]
async fn every_workspace_is_served_through_evictions() {
    let dir = tempfile::tempdir().unwrap();
    // Room for about three of these workspaces at a time.
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--seed-demo=false",
            "--catalog-bytes",
            "20000",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let url = metrics_url(&server);
    let mut client = server.client().await;
    let workspaces: Vec<String> = (0..12).map(|i| format!("team-{i}")).collect();
    for ws in &workspaces {
        for i in 0..5 {
            client
                .create_shortcut(create(ws, &format!("s{i}"), &format!("{ws} says {i}")))
                .await
                .unwrap();
        }
    }
    for round in 0..2 {
        for ws in &workspaces {
            for i in 0..5 {
                let reply = client
                    .get_shortcut(get(ws, &format!("s{i}")))
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(reply.body, format!("{ws} says {i}"), "round {round}");
            }
            let listed = client
                .list_shortcuts(pb::ListShortcutsRequest {
                    workspace_id: ws.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(listed.shortcuts.len(), 5, "{ws}, round {round}");
        }
    }
    let metrics = scrape(&url).await;
    let loaded = sample(&metrics, "shortcuts_catalog_workspaces_loaded", &[]);
    assert!(
        (1.0..=4.0).contains(&loaded),
        "{loaded} workspaces loaded within 20,000 bytes"
    );
    let bytes = sample(&metrics, "shortcuts_catalog_bytes", &[]);
    assert!(bytes <= 20000.0, "{bytes} bytes loaded:\n{metrics}");
    assert!(
        sample(
            &metrics,
            "shortcuts_catalog_evictions_total",
            &["cause=\"size\""]
        ) >= 12.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "shortcuts_catalog_loads_total",
            &["result=\"ok\""]
        ) >= 24.0
    );
}

#[tokio::test]
async fn idle_workspaces_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--seed-demo=false",
            "--catalog-idle",
            "200ms",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let url = metrics_url(&server);
    let mut client = server.client().await;
    client
        .create_shortcut(create("quiet", "hello", "hello there"))
        .await
        .unwrap();
    metric_becomes(&url, "shortcuts_catalog_workspaces_loaded", &[], 0.0).await;
    let metrics = scrape(&url).await;
    assert!(
        sample(
            &metrics,
            "shortcuts_catalog_evictions_total",
            &["cause=\"idle\""]
        ) >= 1.0
    );
    let reply = client
        .get_shortcut(get("quiet", "hello"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.body, "hello there");
}

#[tokio::test]
async fn a_replica_serves_changes_made_while_it_had_the_workspace_unloaded() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    let b = TestServer::start_on(
        schema.url(),
        &["--seed-demo=false", "--metrics-listen", "127.0.0.1:0"],
    );
    let url = metrics_url(&b);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);

    // B uses `hot`; `cold` changes only through A.
    on_a.create_shortcut(create("hot", "warm", "warm 1"))
        .await
        .unwrap();
    assert_eq!(
        on_b.get_shortcut(get("hot", "warm"))
            .await
            .unwrap()
            .into_inner()
            .body,
        "warm 1"
    );
    let cold = on_a
        .create_shortcut(create("cold", "later", "cold 1"))
        .await
        .unwrap()
        .into_inner();
    on_a.update_shortcut(pb::UpdateShortcutRequest {
        workspace_id: "cold".into(),
        id: cold.id.clone(),
        version: 1,
        body: Some("cold 2".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    // Announcements come in order: once B applied this one, it had the two about `cold`.
    let hot = on_a
        .create_shortcut(create("hot", "marker", "m"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| l.contains("applied a change") && l.contains(&hot.id));
    assert!(
        !b.log_contains(&cold.id),
        "B did nothing for a workspace it has not loaded"
    );
    let metrics = scrape(&url).await;
    assert_eq!(
        sample(&metrics, "shortcuts_catalog_workspaces_loaded", &[]),
        1.0
    );

    // First use on B: the newest version.
    let reply = on_b
        .get_shortcut(get("cold", "later"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.body.as_str(), reply.version), ("cold 2", 2));

    // Loaded on B now: A's next change reaches it through the feed.
    on_a.update_shortcut(pb::UpdateShortcutRequest {
        workspace_id: "cold".into(),
        id: cold.id.clone(),
        version: 2,
        body: Some("cold 3".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    b.wait_for_log(|l| {
        l.contains("applied a change") && l.contains(&cold.id) && l.contains("version=3")
    });
    let reply = on_b
        .get_shortcut(get("cold", "later"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.body.as_str(), reply.version), ("cold 3", 3));
}

#[tokio::test]
async fn a_workspace_that_cannot_be_loaded_answers_unavailable() {
    let cluster = OwnCluster::create();
    let server = TestServer::start_on(cluster.url(), &["--seed-demo=false"]);
    let mut client = server.client().await;
    client
        .create_shortcut(create("kept", "hi", "still here"))
        .await
        .unwrap();
    cluster.stop();
    // Not loaded and the store down: UNAVAILABLE naming the workspace, not an empty one.
    assert_status(
        client.get_shortcut(get("elsewhere", "hi")).await,
        Code::Unavailable,
        &["workspace \"elsewhere\"", "retry"],
    );
    // Loaded before: still served from memory.
    let reply = client
        .get_shortcut(get("kept", "hi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.body, "still here");
    // Back: the workspace loads.
    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: "elsewhere".into(),
                ..Default::default()
            })
            .await
        {
            Ok(_) => break,
            Err(status) if status.code() == Code::Unavailable => {
                assert!(Instant::now() < deadline, "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}
