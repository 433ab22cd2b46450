//! Compiled templates kept in a bounded cache (issue 20): a stored shortcut is compiled on
//! its first render, a new version or a snippet's change is never served from an older
//! compiled form, a tiny `--compiled-templates-bytes` still renders everything, and a
//! stored body that no longer compiles fails its render with a clear error.

use std::collections::HashMap;

use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

fn render(bang: &str, locale: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: JANE.into(),
        locale: locale.into(),
        ..Default::default()
    }
}

async fn text(client: &mut ShortcutServiceClient<Channel>, bang: &str, locale: &str) -> String {
    client
        .render_shortcut(render(bang, locale))
        .await
        .unwrap()
        .into_inner()
        .text
}

fn update(
    id: &str,
    version: u64,
    body: &str,
    variants: &[(&str, &str)],
) -> pb::UpdateShortcutRequest {
    pb::UpdateShortcutRequest {
        workspace_id: DEMO.into(),
        id: id.into(),
        version,
        body: Some(body.into()),
        variants: Some(pb::VariantMap {
            variants: variants
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_render_after_an_update_never_uses_the_older_compiled_form() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let created = client
        .create_shortcut(create(DEMO, "versioned", "v1 <<contact.first_name>>"))
        .await
        .unwrap()
        .into_inner();
    let mut version = created.version;
    // Each version's default body and variant rendered right after it is written, after
    // the previous version's were rendered (and so compiled and cached).
    for n in 1..=12 {
        assert_eq!(
            text(&mut client, "versioned", "").await,
            format!("v{n} Jane")
        );
        if n > 1 {
            assert_eq!(
                text(&mut client, "versioned", "fr").await,
                format!("fr v{n} Jane")
            );
        }
        let next = n + 1;
        let updated = client
            .update_shortcut(update(
                &created.id,
                version,
                &format!("v{next} <<contact.first_name>>"),
                &[("fr", &format!("fr v{next} <<contact.first_name>>"))],
            ))
            .await
            .unwrap()
            .into_inner();
        version = updated.version;
    }
}

#[tokio::test]
async fn an_includer_already_rendered_shows_its_snippets_change() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let signature = client
        .create_shortcut(pb::CreateShortcutRequest {
            snippet: true,
            ..create(DEMO, "sig-cache", "— first")
        })
        .await
        .unwrap()
        .into_inner();
    client
        .create_shortcut(create(
            DEMO,
            "uses-sig",
            "Hi <<contact.first_name>> {% include \"sig-cache\" %}",
        ))
        .await
        .unwrap();
    assert_eq!(text(&mut client, "uses-sig", "").await, "Hi Jane — first");
    let mut version = signature.version;
    for word in ["second", "third <<contact.plan>>", "fourth"] {
        let updated = client
            .update_shortcut(pb::UpdateShortcutRequest {
                workspace_id: DEMO.into(),
                id: signature.id.clone(),
                version,
                body: Some(format!("— {word}")),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        version = updated.version;
        let expected = format!("Hi Jane — {}", word.replace("<<contact.plan>>", "pro"));
        assert_eq!(text(&mut client, "uses-sig", "").await, expected);
    }
}

#[tokio::test]
async fn a_tiny_compiled_template_budget_still_renders_everything() {
    let dir = tempfile::tempdir().unwrap();
    // Room for about one compiled body: nearly every render evicts another's.
    let server = TestServer::start_on(
        dir.path().join("tiny.db"),
        &["--compiled-templates-bytes", "20000"],
    );
    let mut client = server.client().await;
    let count = 25;
    for i in 0..count {
        client
            .create_shortcut(create(
                DEMO,
                &format!("tiny-{i}"),
                &format!("Reply {i} for <<contact.first_name>>, plan <<contact.plan>>."),
            ))
            .await
            .unwrap();
    }
    for round in 0..3 {
        for i in (0..count).rev().chain(0..count) {
            assert_eq!(
                text(&mut client, &format!("tiny-{i}"), "").await,
                format!("Reply {i} for Jane, plan pro."),
                "round {round}"
            );
        }
    }
    // A budget that is not a number is refused at start.
    let refused = crate::harness::refused_start(
        dir.path(),
        &["--compiled-templates-bytes".as_ref(), "lots".as_ref()],
    );
    assert!(refused.contains("compiled-templates-bytes"), "{refused}");
}

#[tokio::test]
async fn a_stored_body_that_no_longer_compiles_fails_its_render_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("broken.db");
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let created = client
        .create_shortcut(create(DEMO, "soon-broken", "Fine <<contact.first_name>>"))
        .await
        .unwrap()
        .into_inner();
    client
        .create_shortcut(create(DEMO, "still-fine", "Still <<contact.first_name>>"))
        .await
        .unwrap();
    server.stop().await;
    // The store changed behind the server's back (a body the language no longer accepts).
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", store.display()))
        .await
        .unwrap();
    let changed = sqlx::query("UPDATE shortcuts SET body = ? WHERE id = ?")
        .bind("Broken {% if contact.plan %} never closed")
        .bind(&created.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;

    // Loading does not compile: the server starts and serves the rest.
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    assert_eq!(text(&mut client, "still-fine", "").await, "Still Jane");
    assert_status(
        client.render_shortcut(render("soon-broken", "")).await,
        Code::FailedPrecondition,
        &["body no longer compiles", "line 1"],
    );
    server.wait_for_log(|line| line.contains("a stored template no longer compiles"));
}
