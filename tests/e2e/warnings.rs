//! Mistakes caught at write time (issue 15): every independent syntax error in one answer;
//! warnings (never refusals) for Liquid or Handlebars braces that print literally,
//! `fallback` on a literal, and paths that look like typos of a native field or of a
//! custom key the workspace's data has shown — learned from fetched data, kept in the
//! store, seen by every replica, and listed by DescribeContext without a contact.

use crate::harness::{Backend, PgSchema, TestServer};
use crate::{DEMO, JANE, JANE_SESSION, create};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

crate::on_both_backends!(custom_keys_are_learned_kept_and_shared);

async fn validate(
    client: &mut ShortcutServiceClient<Channel>,
    body: &str,
) -> pb::ValidateTemplateResponse {
    client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn positions(warnings: &[pb::TemplateWarning]) -> Vec<(u32, u32, &str)> {
    warnings
        .iter()
        .map(|w| (w.line, w.column, w.suggestion.as_str()))
        .collect()
}

#[tokio::test]
async fn independent_syntax_errors_are_reported_together() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Hi <<contact.first_name | >>\n{% if contact.plan == %}Pro{% else %}Free{% endif %}\nBye <<contact.>>\n<<contact.plan | curency>>";
    let reply = validate(&mut client, body).await;
    assert!(!reply.valid);
    let lines: Vec<u32> = reply.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 3, 4], "{:?}", reply.errors);
    assert!(
        reply.errors[3].message.contains("unknown filter `curency`"),
        "{:?}",
        reply.errors
    );
    // A write refuses the same body with the same list.
    let status = client
        .create_shortcut(create(DEMO, "many-errors", body))
        .await
        .unwrap_err();
    for line in ["line 1", "line 2", "line 3", "line 4"] {
        assert!(status.message().contains(line), "{}", status.message());
    }
    // The worst case: a body made of nothing but broken placeholders stays bounded.
    let hostile = "<<+>>\n".repeat(2000);
    let reply = validate(&mut client, &hostile).await;
    assert!(!reply.valid);
    assert!(reply.errors.len() <= 21, "{}", reply.errors.len());
}

#[tokio::test]
async fn liquid_braces_and_fallback_on_a_literal_are_warned_about() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Hi {{ contact.name }} and {{first_name | default: \"there\"}}\n<<\"Jane\" | fallback(\"there\")>> <<\"\" | fallback(\"ok\")>>";
    let reply = validate(&mut client, body).await;
    assert!(reply.valid, "{:?}", reply.errors);
    assert_eq!(
        positions(&reply.warnings),
        [
            (1, 4, "<<contact.name>>"),
            (1, 27, "<<contact.first_name | fallback(\"there\")>>"),
            (2, 12, ""),
        ]
    );
    assert!(reply.warnings[0].message.contains("prints literally"));
    assert!(
        reply.warnings[2]
            .message
            .contains("`fallback` on the literal")
    );
    assert!(reply.warnings.iter().all(|w| w.field == "body"));

    // Create returns the same warnings beside the saved shortcut; the write is not refused.
    let created = client
        .create_shortcut(create(DEMO, "liquid", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.warnings, reply.warnings);
    let rendered = client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        rendered.text.starts_with("Hi {{ contact.name }}"),
        "{}",
        rendered.text
    );

    // Handlebars blocks open a comment (`{#`) here: an error that says so, and the
    // translations as warnings.
    let reply = validate(&mut client, "{{#if vars.vip}}VIP{{/if}} <<contact.plan>>").await;
    assert!(!reply.valid);
    assert_eq!(reply.errors.len(), 1, "{:?}", reply.errors);
    assert!(
        reply.errors[0].message.contains("Handlebars"),
        "{:?}",
        reply.errors
    );
    assert_eq!(
        positions(&reply.warnings),
        [(1, 1, "{% if vars.vip %}"), (1, 20, "{% endif %}")]
    );
}

#[tokio::test]
async fn native_field_typos_get_a_suggestion() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let reply = validate(
        &mut client,
        "Hi <<contact.frist_name>>, <<session.subjet>> <<workspace.nmae>> <<contact.company.nmae>> <<contact.first_name>> <<contact.some_custom_key>>",
    )
    .await;
    assert!(reply.valid);
    assert_eq!(
        positions(&reply.warnings),
        [
            (1, 6, "contact.first_name"),
            (1, 30, "session.subject"),
            (1, 49, "workspace.name"),
        ]
    );
    assert!(
        reply.warnings[0]
            .message
            .contains("did you mean `contact.first_name`?")
    );
}

/// Polls until `body` gets the suggestion (the keys are recorded in the background).
async fn wait_for_suggestion(
    client: &mut ShortcutServiceClient<Channel>,
    body: &str,
    suggestion: &str,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let reply = validate(client, body).await;
        if reply.warnings.iter().any(|w| w.suggestion == suggestion) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no suggestion {suggestion}: {:?}",
            reply.warnings
        );
        tokio::task::yield_now().await;
    }
}

async fn custom_keys_are_learned_kept_and_shared(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let schema = match backend {
        Backend::Postgres => Some(PgSchema::create().await),
        Backend::Sqlite => None,
    };
    let store = match &schema {
        Some(schema) => schema.url(),
        None => dir.path().join("keys.db").display().to_string(),
    };
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let body = "<<contact.lifetime_valeu>> <<session.ordr_id>> <<contact.data.plna>>";
    // Nothing fetched yet: custom keys are unknown, so no guess.
    assert!(validate(&mut client, body).await.warnings.is_empty());
    let described = client
        .describe_context(pb::DescribeContextRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!described.fields.iter().any(|f| f.source == "learned"));

    // A render fetches Jane and her conversation: their custom keys are learned.
    client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: DEMO.into(),
            body: "<<contact.plan>>".into(),
            contact_id: JANE.into(),
            session_id: JANE_SESSION.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Each scope's keys are written to the store on their own, after the render answered
    // (suggestions are read from the store, so once all three show, all are stored).
    for key in [
        "contact.lifetime_value",
        "session.order_id",
        "contact.data.plan",
    ] {
        wait_for_suggestion(&mut client, body, key).await;
    }
    let reply = validate(&mut client, body).await;
    assert_eq!(
        positions(&reply.warnings),
        [
            (1, 3, "contact.lifetime_value"),
            (1, 30, "session.order_id"),
            (1, 57, "contact.data.plan"),
        ]
    );
    let described = client
        .describe_context(pb::DescribeContextRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let learned: Vec<&str> = described
        .fields
        .iter()
        .filter(|f| f.source == "learned")
        .map(|f| f.path.as_str())
        .collect();
    assert!(learned.contains(&"contact.lifetime_value"), "{learned:?}");
    assert!(learned.contains(&"session.order_id"), "{learned:?}");
    // Another workspace learned nothing.
    let other = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: "elsewhere".into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(other.warnings.is_empty(), "{:?}", other.warnings);

    // Kept in the store: a restarted server (SQLite) or another replica (PostgreSQL)
    // knows them without fetching anything.
    let other_server = match backend {
        Backend::Sqlite => {
            server.stop().await;
            TestServer::start_on(&store, &[])
        }
        Backend::Postgres => TestServer::start_on(&store, &[]),
    };
    let mut other_client = other_server.client().await;
    let reply = validate(&mut other_client, body).await;
    assert_eq!(reply.warnings.len(), 3, "{:?}", reply.warnings);
    drop(schema);
}
