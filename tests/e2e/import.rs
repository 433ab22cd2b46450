//! ImportShortcuts with the sample exports in `tests/fixtures/import/`: each format's
//! placeholders converted and rendered, the per-item report, all-or-nothing, dry runs.

use serde_json::json;
use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, JANE_SESSION, assert_status, create, structure};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn import(
    workspace: &str,
    format: pb::ImportFormat,
    file: &str,
    dry_run: bool,
) -> pb::ImportShortcutsRequest {
    pb::ImportShortcutsRequest {
        workspace_id: workspace.into(),
        format: format as i32,
        content: fixture(file),
        dry_run,
    }
}

async fn render(
    client: &mut shortcuts::pb::shortcut_service_client::ShortcutServiceClient<
        tonic::transport::Channel,
    >,
    workspace: &str,
    bang: &str,
) -> pb::RenderResponse {
    client
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: workspace.into(),
            shortcut: Some(Shortcut::Bang(bang.into())),
            contact_id: JANE.into(),
            session_id: JANE_SESSION.into(),
            agent: Some(structure(json!({"first_name": "Sam", "name": "Sam Lee"}))),
            vars: Some(structure(json!({"ticket_url": "https://t.example/1"}))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn each_format_imports_and_renders() {
    let server = TestServer::start();
    let mut client = server.client().await;

    // Crisp: plain text, tags and disabled flags kept; our delimiters print verbatim.
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Crisp,
            "crisp_shortcuts.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(report.committed, "{report:?}");
    assert_eq!(report.created, 3);
    assert!(
        report
            .items
            .iter()
            .all(|i| i.error.is_empty() && !i.shortcut_id.is_empty())
    );
    let reply = render(&mut client, DEMO, "shipping-times").await;
    assert!(
        reply.text.contains("and << 10 days >> for"),
        "{}",
        reply.text
    );
    let closing = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("closing".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(closing.disabled);
    let welcome = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("welcome".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(welcome.tags, ["greetings"]);

    // Chatwoot: {{contact.name}}, default:, custom attributes, account name.
    let report = client
        .import_shortcuts(import(
            "support",
            pb::ImportFormat::Chatwoot,
            "chatwoot_canned_responses.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(report.committed, "{report:?}");
    assert_eq!(
        report.items[0].body,
        "Hello <<contact.nickname>>, thanks for contacting us! My name is <<agent.first_name>> and I'll be helping you today."
    );
    // Another workspace: Jane is a demo contact, so render these in demo too.
    client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Chatwoot,
            "chatwoot_canned_responses.json",
            false,
        ))
        .await
        .unwrap();
    let reply = render(&mut client, DEMO, "greet").await;
    assert_eq!(
        reply.text,
        "Hello Jane Doe, thanks for contacting us! My name is Sam and I'll be helping you today."
    );
    let reply = render(&mut client, DEMO, "refund-policy").await;
    assert!(reply.text.starts_with("Hi Jane,\n\n"), "{}", reply.text);
    assert!(
        reply
            .text
            .contains(&format!("(conversation #{JANE_SESSION})")),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("jane.doe@example.com"),
        "{}",
        reply.text
    );
    let reply = render(&mut client, DEMO, "plan-info").await;
    assert_eq!(reply.text, "You are on the PRO plan of Demo Shop.");

    // Zendesk: comment text (plain and HTML), tags, category titles.
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Zendesk,
            "zendesk_macros.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(report.committed, "{report:?}");
    let bangs: Vec<&str> = report.items.iter().map(|i| i.bang.as_str()).collect();
    assert_eq!(bangs, ["customer-not-responding", "downgrade-request"]);
    let reply = render(&mut client, DEMO, "customer-not-responding").await;
    assert!(reply.text.starts_with("Hello Jane,\n\n"), "{}", reply.text);
    assert!(reply.text.trim_end().ends_with("Sam"), "{}", reply.text);
    let reply = render(&mut client, DEMO, "downgrade-request").await;
    assert!(reply.text.contains("Hi Jane Doe,"), "{}", reply.text);
    assert!(reply.text.contains("for Acme Corp at"), "{}", reply.text);

    // Intercom: `fallback:` and bare attribute names.
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Intercom,
            "intercom_saved_replies.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(report.committed, "{report:?}");
    let reply = render(&mut client, DEMO, "plan-upgrade").await;
    assert_eq!(
        reply.text,
        "Great news Jane! Your company Acme Corp is now on the pro plan."
    );
    let reply = render(&mut client, DEMO, "reset-your-password").await;
    assert!(reply.text.starts_with("Hi Jane,\n\n"), "{}", reply.text);
    assert!(
        reply.text.contains("a link to jane.doe@example.com"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn one_bad_item_writes_nothing_and_each_item_is_reported() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Zendesk,
            "zendesk_macros_with_unsupported.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!report.committed);
    assert_eq!(report.created, 0);
    assert_eq!(report.items.len(), 3);
    assert!(report.items[0].error.is_empty(), "{report:?}");
    assert!(
        report.items[1].error.contains("dc.localized_greeting"),
        "{report:?}"
    );
    assert!(report.items[2].error.contains("Liquid tags"), "{report:?}");
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: DEMO.into(),
                key: Some(pb::get_shortcut_request::Key::Bang("thanks".into())),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &[],
    );

    // A bang already taken in the workspace is an item error too.
    client
        .create_shortcut(create(DEMO, "greet", "Hi"))
        .await
        .unwrap();
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Chatwoot,
            "chatwoot_canned_responses.json",
            false,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!report.committed);
    assert!(report.items[0].error.contains("already used"), "{report:?}");
    assert!(report.items[1].error.is_empty());
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: DEMO.into(),
                key: Some(pb::get_shortcut_request::Key::Bang("refund-policy".into())),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &[],
    );
}

#[tokio::test]
async fn dry_runs_and_bad_requests() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let report = client
        .import_shortcuts(import(
            DEMO,
            pb::ImportFormat::Intercom,
            "intercom_saved_replies.json",
            true,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!report.committed);
    assert_eq!(report.items.len(), 2);
    assert!(
        report
            .items
            .iter()
            .all(|i| i.error.is_empty() && i.shortcut_id.is_empty())
    );
    assert_eq!(
        report.items[0].body.lines().next().unwrap(),
        "Hi <<contact.first_name | fallback(\"there\")>>,"
    );
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: DEMO.into(),
                key: Some(pb::get_shortcut_request::Key::Bang(
                    "reset-your-password".into(),
                )),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &[],
    );

    let mut no_format = import(DEMO, pb::ImportFormat::Crisp, "crisp_shortcuts.json", false);
    no_format.format = 0;
    assert_status(
        client.import_shortcuts(no_format).await,
        Code::InvalidArgument,
        &["format"],
    );
    let mut not_json = import(DEMO, pb::ImportFormat::Crisp, "crisp_shortcuts.json", false);
    not_json.content = "bang,text\n!hi,Hello".into();
    assert_status(
        client.import_shortcuts(not_json).await,
        Code::InvalidArgument,
        &["content", "JSON"],
    );
    let mut wrong_shape = import(
        DEMO,
        pb::ImportFormat::Zendesk,
        "crisp_shortcuts.json",
        false,
    );
    wrong_shape.workspace_id = "other".into();
    assert_status(
        client.import_shortcuts(wrong_shape).await,
        Code::InvalidArgument,
        &["content", "macros"],
    );
    let mut bad_ws = import(DEMO, pb::ImportFormat::Crisp, "crisp_shortcuts.json", false);
    bad_ws.workspace_id = "no spaces".into();
    assert_status(
        client.import_shortcuts(bad_ws).await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
}
