//! Read your own writes on any replica: a write's `consistency_token`, passed to a read on
//! another replica, shows that write or something newer, never older.

use std::time::{Duration, Instant};

use tonic::Code;

use crate::harness::{PgSchema, TestServer};
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

fn render_by_id(id: &str, token: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Id(id.into())),
        contact_id: JANE.into(),
        consistency_token: token.into(),
        ..Default::default()
    }
}

fn update_body(id: &str, version: u64, body: String) -> pb::UpdateShortcutRequest {
    pb::UpdateShortcutRequest {
        workspace_id: DEMO.into(),
        id: id.into(),
        version,
        body: Some(body),
        ..Default::default()
    }
}

/// The stale-read case: update on A, render on B right after A's answer. With the
/// token, 300 rounds and not one older version; without it, B may still serve the old one.
#[tokio::test]
async fn with_the_token_the_other_replica_never_renders_an_older_version() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let created = on_a
        .create_shortcut(create(DEMO, "ryw", "version 1"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !created.consistency_token.is_empty(),
        "a create hands out a token"
    );
    // Right after the create, B may not have it yet: with the token it does.
    let first = on_b
        .render_shortcut(render_by_id(&created.id, &created.consistency_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.shortcut_version, 1);

    // Latency with and without the token is measured by `bash bench/replicas.sh`; here,
    // what must hold: never an older version with the token.
    let (mut version, mut stale_without) = (1, 0);
    for round in 0..300 {
        let written = on_a
            .update_shortcut(update_body(
                &created.id,
                version,
                format!("version {}", version + 1),
            ))
            .await
            .unwrap()
            .into_inner();
        version = written.version;
        // Alternate which read goes first, so that neither always gets the extra time.
        let mut order = [true, false];
        if round % 2 == 1 {
            order.reverse();
        }
        for with_token in order {
            let token = if with_token {
                written.consistency_token.as_str()
            } else {
                ""
            };
            let reply = on_b
                .render_shortcut(render_by_id(&created.id, token))
                .await
                .unwrap()
                .into_inner();
            if with_token {
                assert_eq!(
                    (reply.shortcut_version, reply.text),
                    (version, format!("version {version}")),
                    "round {round}: an older version with the token"
                );
            } else {
                stale_without += u32::from(reply.shortcut_version < version);
            }
        }
    }
    println!(
        "render on B right after A's ack, 300 rounds: 0 stale with the token, {stale_without} without"
    );
}

/// Every read that takes a token honours it: Get, List, Search and BatchRender for a
/// shortcut, Get for a deleted one, GetWorkspace for a workspace record.
#[tokio::test]
async fn every_read_honours_the_token_even_when_no_announcement_comes() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    crate::replicas::use_demo(&b).await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let created = on_a
        .create_shortcut(create(DEMO, "silent", "before"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| l.contains("applied a change") && l.contains(&created.id));

    // From now on the store announces nothing: B only learns of A's writes by asking the
    // store, which it must do for a read with a token.
    let pool = schema.pool().await;
    for table in ["shortcuts", "workspaces"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {}.{table} DISABLE TRIGGER USER",
            schema.name
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    let updated = on_a
        .update_shortcut(update_body(&created.id, 1, "after quietly".into()))
        .await
        .unwrap()
        .into_inner();
    let token = updated.consistency_token.clone();

    let get = |token: &str| pb::GetShortcutRequest {
        workspace_id: DEMO.into(),
        key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
        consistency_token: token.into(),
        ..Default::default()
    };
    let stale = on_b.get_shortcut(get("")).await.unwrap().into_inner();
    assert_eq!(stale.version, 1, "without a token B serves what it holds");

    let started = Instant::now();
    let got = on_b.get_shortcut(get(&token)).await.unwrap().into_inner();
    let caught_up = started.elapsed();
    assert_eq!((got.version, got.body.as_str()), (2, "after quietly"));
    assert!(
        caught_up < Duration::from_secs(2),
        "the wait is bounded: {caught_up:?}"
    );

    // The second update: the other reads catch up too.
    let updated = on_a
        .update_shortcut(update_body(&created.id, 2, "third".into()))
        .await
        .unwrap()
        .into_inner();
    let token = updated.consistency_token;
    let listed = on_b
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            consistency_token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mine = listed
        .shortcuts
        .iter()
        .find(|s| s.id == created.id)
        .unwrap();
    assert_eq!(mine.version, 3);
    let found = on_b
        .search_shortcuts(pb::SearchShortcutsRequest {
            workspace_id: DEMO.into(),
            query: "silent".into(),
            consistency_token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.matches[0].version, 3);

    let updated = on_a
        .update_shortcut(update_body(&created.id, 3, "fourth".into()))
        .await
        .unwrap()
        .into_inner();
    let mut batch = on_b
        .batch_render(pb::BatchRenderRequest {
            workspace_id: DEMO.into(),
            template: Some(pb::batch_render_request::Template::Id(created.id.clone())),
            recipients: vec![pb::BatchRecipient {
                contact_id: JANE.into(),
                ..Default::default()
            }],
            consistency_token: updated.consistency_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let result = batch.message().await.unwrap().expect("one result");
    match result.outcome {
        Some(pb::batch_render_result::Outcome::Rendered(reply)) => {
            assert_eq!((reply.text.as_str(), reply.shortcut_version), ("fourth", 4))
        }
        other => panic!("{other:?}"),
    }

    // A delete's token: B no longer shows the shortcut.
    let deleted = on_a
        .delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(on_b.get_shortcut(get("")).await.is_ok(), "B still holds it");
    assert_status(
        on_b.get_shortcut(get(&deleted.consistency_token)).await,
        Code::NotFound,
        &[&created.id],
    );

    // A workspace record's token.
    let workspace = on_a
        .create_workspace(pb::CreateWorkspaceRequest {
            workspace_id: "ryw-team".into(),
            display_name: "Before".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let renamed = on_a
        .update_workspace(pb::UpdateWorkspaceRequest {
            workspace_id: "ryw-team".into(),
            version: workspace.version,
            display_name: Some("After".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seen = on_b
        .get_workspace(pb::GetWorkspaceRequest {
            workspace_id: "ryw-team".into(),
            consistency_token: renamed.consistency_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.display_name, "After");
}

#[tokio::test]
async fn unusable_tokens_are_refused_naming_the_field() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let created = client
        .create_shortcut(create(DEMO, "token-check", "hi"))
        .await
        .unwrap()
        .into_inner();
    let other = client
        .create_workspace(pb::CreateWorkspaceRequest {
            workspace_id: "elsewhere".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for (token, expected) in [
        ("garbage!", "consistency_token"),
        (&"x".repeat(10_000), "consistency_token"),
        (other.consistency_token.as_str(), "elsewhere"),
    ] {
        assert_status(
            client
                .render_shortcut(render_by_id(&created.id, token))
                .await,
            Code::InvalidArgument,
            &[expected],
        );
    }
    // A token from this workspace, on a single store: answered at once.
    let started = Instant::now();
    client
        .render_shortcut(render_by_id(&created.id, &created.consistency_token))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}
