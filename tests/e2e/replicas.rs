//! Several replicas on one PostgreSQL store behave as one service.

use std::time::{Duration, Instant};

use tonic::Code;

use crate::harness::{PgSchema, TestServer};
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

async fn two_replicas() -> (PgSchema, TestServer, TestServer) {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    use_demo(&b).await;
    (schema, a, b)
}

/// Loads `demo` on a replica (workspaces are loaded on first use): the feed's changes to it
/// then show in the replica's log as they are applied.
pub(crate) async fn use_demo(server: &TestServer) {
    server
        .client()
        .await
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

fn render(bang: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: JANE.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn writes_on_one_replica_reach_the_other() {
    let (_schema, a, b) = two_replicas().await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);

    let written = Instant::now();
    let created = on_a
        .create_shortcut(create(DEMO, "shared", "v1 for <<contact.plan>>"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| {
        l.contains("applied a change") && l.contains(&created.id) && l.contains("version=1")
    });
    let created_seen = written.elapsed();
    let reply = on_b
        .render_shortcut(render("shared"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.text.as_str(), reply.shortcut_version),
        ("v1 for pro", 1)
    );

    let update = pb::UpdateShortcutRequest {
        workspace_id: DEMO.into(),
        id: created.id.clone(),
        version: 1,
        body: Some("v2 for <<contact.plan | upper>>".into()),
        ..Default::default()
    };
    let written = Instant::now();
    on_a.update_shortcut(update).await.unwrap();
    b.wait_for_log(|l| {
        l.contains("applied a change") && l.contains(&created.id) && l.contains("version=2")
    });
    let updated_seen = written.elapsed();
    let reply = on_b
        .render_shortcut(render("shared"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.text.as_str(), reply.shortcut_version),
        ("v2 for PRO", 2)
    );

    // And the other way round, with a delete.
    let delete = pb::DeleteShortcutRequest {
        workspace_id: DEMO.into(),
        id: created.id.clone(),
        version: Some(2),
    };
    on_b.delete_shortcut(delete).await.unwrap();
    a.wait_for_log(|l| l.contains("applied a delete") && l.contains(&created.id));
    assert_status(
        on_a.render_shortcut(render("shared")).await,
        Code::NotFound,
        &["!shared"],
    );

    for seen in [created_seen, updated_seen] {
        assert!(
            seen < Duration::from_secs(1),
            "a change took {seen:?} to reach the other replica"
        );
    }
    println!("propagation: create {created_seen:?}, update {updated_seen:?}");
}

#[tokio::test]
async fn races_between_replicas_have_one_winner() {
    let (_schema, a, b) = two_replicas().await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);

    for round in 0..5 {
        let bang = format!("race{round}");
        let (ra, rb) = tokio::join!(
            on_a.create_shortcut(create("team", &bang, "from a")),
            on_b.create_shortcut(create("team", &bang, "from b")),
        );
        let codes = [
            ra.as_ref().err().map(|s| s.code()),
            rb.as_ref().err().map(|s| s.code()),
        ];
        assert_eq!(
            codes.iter().filter(|c| c.is_none()).count(),
            1,
            "exactly one create wins: {codes:?}"
        );
        assert!(codes.contains(&Some(Code::AlreadyExists)), "{codes:?}");
        let winner = ra.or(rb).unwrap().into_inner();

        let update = |body: &str| pb::UpdateShortcutRequest {
            workspace_id: "team".into(),
            id: winner.id.clone(),
            version: 1,
            body: Some(body.into()),
            ..Default::default()
        };
        let (ua, ub) = tokio::join!(
            on_a.update_shortcut(update("a wins")),
            on_b.update_shortcut(update("b wins"))
        );
        let codes = [
            ua.as_ref().err().map(|s| s.code()),
            ub.as_ref().err().map(|s| s.code()),
        ];
        assert_eq!(
            codes.iter().filter(|c| c.is_none()).count(),
            1,
            "exactly one update wins: {codes:?}"
        );
        assert!(codes.contains(&Some(Code::FailedPrecondition)), "{codes:?}");
    }
}

#[tokio::test]
async fn a_replica_that_loses_its_listener_catches_up() {
    let (schema, a, b) = two_replicas().await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let created = on_a
        .create_shortcut(create(DEMO, "drop", "before"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| l.contains("applied a change") && l.contains(&created.id));

    let pool = schema.pool().await;
    let (terminated,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
    )
    .bind(format!("shortcuts-listener-{}", b.pid()))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(terminated, 1, "B's listening connection was found and cut");

    // Changed while B may be without its feed: it must notice after reconnecting.
    let update = pb::UpdateShortcutRequest {
        workspace_id: DEMO.into(),
        id: created.id.clone(),
        version: 1,
        body: Some("after".into()),
        ..Default::default()
    };
    on_a.update_shortcut(update).await.unwrap();
    let other = on_a
        .create_shortcut(create(DEMO, "while-away", "new"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| l.contains("change feed re-established"));
    b.wait_for_log(|l| l.contains("catalogue resynchronised"));
    let reply = on_b
        .render_shortcut(render("drop"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.text.as_str(), reply.shortcut_version), ("after", 2));
    let get_other = pb::GetShortcutRequest {
        workspace_id: DEMO.into(),
        key: Some(pb::get_shortcut_request::Key::Id(other.id.clone())),
        ..Default::default()
    };
    // B listens again before it reloads: a shortcut created before that is in the reload,
    // one created after it (the resync can come between A's two writes) arrives as a
    // notification that B applies after logging the resync.
    if on_b.get_shortcut(get_other.clone()).await.is_err() {
        b.wait_for_log(|l| l.contains("applied a change") && l.contains(&other.id));
    }
    let got = on_b.get_shortcut(get_other).await.unwrap().into_inner();
    assert_eq!(got.body, "new");
}

#[tokio::test]
async fn replicas_starting_together_migrate_and_seed_once() {
    let schema = PgSchema::create().await;
    let url = schema.url();
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || TestServer::start_on(url, &[]))
        })
        .collect();
    let servers: Vec<TestServer> = starts.into_iter().map(|t| t.join().unwrap()).collect();
    for server in &servers {
        let listed = server
            .client()
            .await
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: DEMO.into(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let library = shortcuts::seed::starter_library().unwrap().len();
        assert_eq!(listed.shortcuts.len(), library);
    }
}
