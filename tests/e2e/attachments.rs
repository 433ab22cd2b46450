//! Attachments (issue 17): declared with a shortcut, checked when written (errors name the
//! field with line and column), carried by every read, persisted by both stores and seen
//! by replicas; a render fills their names and URLs, percent-encoding each value so that
//! contact data cannot change a URL's structure.

use std::path::Path;

use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{Backend, PgSchema, TestServer};
use crate::{DEMO, HOSTILE_CONTACT, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

crate::on_both_backends!(attachments_are_stored_rendered_and_encoded);

/// What the hostile contact's `order_ref` holds: a value that would climb the path, add a
/// query parameter and cut the URL short if it were pasted in as it is.
const HOSTILE_REF: &str = "../../admin?x=1#";

fn attachment(name: &str, url: &str, mime_type: &str, size_bytes: i64) -> pb::Attachment {
    pb::Attachment {
        name: name.into(),
        url: url.into(),
        mime_type: mime_type.into(),
        size_bytes,
    }
}

/// The demo data with values for attachments in the hostile contact's custom data.
fn data_file(dir: &Path, order_ref: &str) -> String {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo.json"))
        .expect("the demo data");
    let mut json: serde_json::Value = serde_json::from_str(&demo).unwrap();
    let data = &mut json["workspaces"]["demo"]["contacts"][HOSTILE_CONTACT]["data"];
    data["order_ref"] = order_ref.into();
    data["dots"] = "..".into();
    let path = dir.join("data.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path.display().to_string()
}

fn render(bang: &str, contact: &str, strict: bool) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: contact.into(),
        strict,
        ..Default::default()
    }
}

fn invoice_attachments() -> Vec<pb::Attachment> {
    vec![
        attachment(
            "Invoice <<contact.data.order_ref>>",
            "https://shop.example/orders/<<contact.data.order_ref>>/invoice.pdf?ref=<<contact.data.order_ref>>&lang=en",
            "Application/PDF",
            48_213,
        ),
        attachment("Terms", "https://shop.example/terms.pdf", "", 0),
        attachment(
            "Guide",
            "https://shop.example/guides/<<contact.data.guide | fallback(\"start\")>>",
            "text/html",
            0,
        ),
    ]
}

async fn attachments_are_stored_rendered_and_encoded(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let schema = match backend {
        Backend::Postgres => Some(PgSchema::create().await),
        Backend::Sqlite => None,
    };
    let store = match &schema {
        Some(schema) => schema.url(),
        None => dir.path().join("attachments.db").display().to_string(),
    };
    let data = data_file(dir.path(), HOSTILE_REF);
    let args = ["--data-file", data.as_str()];
    let server = TestServer::start_on(&store, &args);
    let mut client = server.client().await;

    let created = client
        .create_shortcut(pb::CreateShortcutRequest {
            attachments: invoice_attachments(),
            ..create(
                DEMO,
                "invoice",
                "Here is your invoice, <<contact.first_name>>.",
            )
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.attachments.len(), 3);
    assert_eq!(created.attachments[0].mime_type, "application/pdf");
    assert_eq!(created.attachments[0].size_bytes, 48_213);
    assert_eq!(created.attachments[0].url, invoice_attachments()[0].url);

    // Every read carries them.
    let get = pb::GetShortcutRequest {
        workspace_id: DEMO.into(),
        key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
        ..Default::default()
    };
    let got = client.get_shortcut(get.clone()).await.unwrap().into_inner();
    assert_eq!(got.attachments, created.attachments);
    let listed = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let found = listed
        .shortcuts
        .iter()
        .find(|s| s.id == created.id)
        .unwrap();
    assert_eq!(found.attachments, created.attachments);

    // A render fills them; the hostile value is encoded wherever it lands.
    let reply = client
        .render_shortcut(render("invoice", HOSTILE_CONTACT, false))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.attachment_warnings.is_empty(), "{reply:?}");
    let encoded = "..%2F..%2Fadmin%3Fx%3D1%23";
    assert_eq!(
        reply.attachments,
        [
            attachment(
                &format!("Invoice {HOSTILE_REF}"),
                &format!("https://shop.example/orders/{encoded}/invoice.pdf?ref={encoded}&lang=en"),
                "application/pdf",
                48_213,
            ),
            attachment("Terms", "https://shop.example/terms.pdf", "", 0),
            attachment("Guide", "https://shop.example/guides/start", "text/html", 0),
        ]
    );
    let url = url::Url::parse(&reply.attachments[0].url).unwrap();
    assert_eq!(url.host_str(), Some("shop.example"));
    assert_eq!(
        url.path_segments().unwrap().collect::<Vec<_>>(),
        ["orders", encoded, "invoice.pdf"]
    );
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("ref".to_string(), HOSTILE_REF.to_string()),
            ("lang".to_string(), "en".to_string())
        ]
    );
    assert_eq!(url.fragment(), None);
    assert_eq!(reply.defaulted, ["contact.data.guide"]);

    // Missing values are listed with the body's; a strict render fails on them.
    let reply = client
        .render_shortcut(render("invoice", JANE, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.missing, ["contact.data.order_ref"]);
    assert_eq!(
        reply.attachments[0].url,
        "https://shop.example/orders//invoice.pdf?ref=&lang=en"
    );
    let status = assert_status(
        client.render_shortcut(render("invoice", JANE, true)).await,
        Code::FailedPrecondition,
        &["contact.data.order_ref"],
    );
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "MISSING_DATA"
    );

    // BatchRender carries them too.
    let mut stream = client
        .batch_render(pb::BatchRenderRequest {
            workspace_id: DEMO.into(),
            template: Some(pb::batch_render_request::Template::Bang("invoice".into())),
            recipients: vec![pb::BatchRecipient {
                contact_id: HOSTILE_CONTACT.into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let Some(pb::batch_render_result::Outcome::Rendered(batched)) = first.outcome else {
        panic!("{first:?}");
    };
    assert_eq!(batched.attachments.len(), 3);
    assert!(batched.attachments[0].url.contains(encoded));

    // An update without `attachments` keeps them; a list replaces them.
    let kept = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 1,
            title: Some("Invoice and terms".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.attachments, created.attachments);
    let replaced = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 2,
            attachments: Some(pb::AttachmentList {
                attachments: invoice_attachments()[1..].to_vec(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.attachments.len(), 2);
    assert_eq!(replaced.attachments[0].name, "Terms");

    // Restarted on the same store: persisted.
    server.stop().await;
    let server = TestServer::start_on(&store, &args);
    let mut client = server.client().await;
    let got = client.get_shortcut(get).await.unwrap().into_inner();
    assert_eq!(got.attachments, replaced.attachments);
    let removed = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 3,
            attachments: Some(pb::AttachmentList::default()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.attachments.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn invalid_attachments_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("a.db"), &["--max-attachments", "2"]);
    let mut client = server.client().await;
    let ok = || {
        attachment(
            "Invoice",
            "https://shop.example/<<session.order_id>>.pdf",
            "",
            0,
        )
    };
    let with = |attachments: Vec<pb::Attachment>| pb::CreateShortcutRequest {
        attachments,
        ..create(DEMO, "refused", "Body")
    };

    // A template error: the field, with the line and column.
    let broken = attachment("Invoice", "https://shop.example/<<session.order_id", "", 0);
    let status = assert_status(
        client.create_shortcut(with(vec![ok(), broken])).await,
        Code::InvalidArgument,
        &["attachments[1].url"],
    );
    let details = status.get_error_details();
    let info = details.error_info().unwrap();
    assert_eq!(info.reason, "INVALID_TEMPLATE");
    assert_eq!(info.metadata["field"], "attachments[1].url");
    assert_eq!(info.metadata["line"], "1");
    assert!(
        info.metadata["column"].parse::<u32>().unwrap() > 20,
        "{info:?}"
    );
    let bad_name = attachment("Invoice <<contcat.plan>>", "https://shop.example/x", "", 0);
    let status = assert_status(
        client.create_shortcut(with(vec![bad_name])).await,
        Code::InvalidArgument,
        &["attachments[0].name", "did you mean `contact`"],
    );
    let info = status.get_error_details().error_info().unwrap().clone();
    assert_eq!(
        (
            info.metadata["line"].as_str(),
            info.metadata["column"].as_str()
        ),
        ("1", "11")
    );

    for (attachments, field, needle) in [
        (
            vec![attachment("I", "javascript:alert(1)", "", 0)],
            "attachments[0].url",
            "https://",
        ),
        (
            vec![attachment("I", "<<contact.site>>/x.pdf", "", 0)],
            "attachments[0].url",
            "https://",
        ),
        (
            vec![attachment("I", "https://", "", 0)],
            "attachments[0].url",
            "URL",
        ),
        (
            vec![attachment("", "https://shop.example/x", "", 0)],
            "attachments[0].name",
            "required",
        ),
        (
            vec![ok(), attachment("I", "https://shop.example/x", "pdf", 0)],
            "attachments[1].mime_type",
            "type/subtype",
        ),
        (
            vec![attachment("I", "https://shop.example/x", "", -1)],
            "attachments[0].size_bytes",
            "negative",
        ),
        (
            vec![attachment("I", "https://shop.example/x", "", 1 << 40)],
            "attachments[0].size_bytes",
            "--max-attachment-size-bytes",
        ),
        (
            vec![attachment(
                "I",
                &format!("https://shop.example/{}", "a".repeat(5000)),
                "",
                0,
            )],
            "attachments[0].url",
            "--max-attachment-url-bytes",
        ),
        (vec![ok(), ok(), ok()], "attachments", "--max-attachments"),
    ] {
        let status = assert_status(
            client.create_shortcut(with(attachments)).await,
            Code::InvalidArgument,
            &[field, needle],
        );
        let bad = status.get_error_details();
        let violations = &bad.bad_request().expect("a BadRequest").field_violations;
        assert_eq!(violations[0].field, field, "{status:?}");
    }

    // Unknown paths are warned about, like the body's, naming the field.
    let created = client
        .create_shortcut(with(vec![attachment(
            "Invoice",
            "https://shop.example/<<contact.frist_name>>.pdf",
            "",
            0,
        )]))
        .await
        .unwrap()
        .into_inner();
    let warning = created
        .warnings
        .iter()
        .find(|w| w.field == "attachments[0].url")
        .unwrap_or_else(|| panic!("{:?}", created.warnings));
    assert_eq!((warning.line, warning.column), (1, 24));
    assert!(warning.suggestion.contains("first_name"), "{warning:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_url_that_renders_invalid_is_left_out_or_fails_a_strict_render() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_file(dir.path(), HOSTILE_REF);
    let server = TestServer::start_on(dir.path().join("a.db"), &["--data-file", &data]);
    let mut client = server.client().await;
    client
        .create_shortcut(pb::CreateShortcutRequest {
            attachments: vec![
                attachment(
                    "Climb",
                    "https://shop.example/files/<<contact.data.dots>>/secret",
                    "",
                    0,
                ),
                attachment(
                    "Fine",
                    "https://shop.example/files/<<contact.data.dots>>.pdf",
                    "",
                    0,
                ),
            ],
            ..create(DEMO, "dots", "Files")
        })
        .await
        .unwrap();
    let reply = client
        .render_shortcut(render("dots", HOSTILE_CONTACT, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Files");
    assert_eq!(reply.attachments.len(), 1, "{reply:?}");
    assert_eq!(
        reply.attachments[0].url,
        "https://shop.example/files/...pdf"
    );
    assert_eq!(reply.attachment_warnings.len(), 1);
    assert_eq!(reply.attachment_warnings[0].field, "attachments[0].url");
    assert!(
        reply.attachment_warnings[0]
            .message
            .contains("path segment"),
        "{reply:?}"
    );

    let status = assert_status(
        client
            .render_shortcut(render("dots", HOSTILE_CONTACT, true))
            .await,
        Code::FailedPrecondition,
        &["attachments[0].url", "path segment"],
    );
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "ATTACHMENT_FAILED"
    );
    server.stop().await;
}

/// The worst case: the most attachments, each URL as long as allowed and printing a huge
/// hostile value many times. The render answers, its reply intact, each attachment left
/// out for its size rather than the render failing or running long.
#[tokio::test]
async fn the_largest_attachments_with_a_huge_value_stay_within_the_render_budget() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("{HOSTILE_REF}{}", "é/".repeat(50_000));
    let data = data_file(dir.path(), &huge);
    let server = TestServer::start_on(
        dir.path().join("a.db"),
        &[
            "--data-file",
            &data,
            "--max-attachments",
            "20",
            "--max-attachment-url-bytes",
            "4096",
        ],
    );
    let mut client = server.client().await;
    let placeholder = "<<contact.data.order_ref>>";
    let mut url = "https://shop.example/".to_string();
    while url.len() + placeholder.len() < 4096 {
        url.push_str(placeholder);
        url.push('/');
    }
    let attachments: Vec<_> = (0..20)
        .map(|i| attachment(&format!("File {i} <<contact.data.order_ref>>"), &url, "", 0))
        .collect();
    client
        .create_shortcut(pb::CreateShortcutRequest {
            attachments,
            ..create(DEMO, "worst", "Body for <<contact.email>>")
        })
        .await
        .unwrap();
    let reply = client
        .render_shortcut(render("worst", HOSTILE_CONTACT, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Body for mallory@example.org");
    assert!(
        reply.attachments.is_empty(),
        "{:?}",
        reply.attachments.len()
    );
    assert_eq!(reply.attachment_warnings.len(), 20);
    for warning in &reply.attachment_warnings {
        assert!(
            warning.message.contains("longer than") || warning.message.contains("grew past"),
            "{warning:?}"
        );
        assert!(warning.message.len() < 300, "{warning:?}");
    }
    let status = assert_status(
        client
            .render_shortcut(render("worst", HOSTILE_CONTACT, true))
            .await,
        Code::FailedPrecondition,
        &["attachments[0]"],
    );
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "ATTACHMENT_FAILED"
    );
    server.stop().await;
}

#[tokio::test]
async fn replicas_on_postgres_see_attachments() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let created = on_a
        .create_shortcut(pb::CreateShortcutRequest {
            attachments: vec![attachment(
                "Plan <<contact.plan>>",
                "https://shop.example/plans/<<contact.plan>>.pdf",
                "application/pdf",
                10,
            )],
            ..create(DEMO, "shared-file", "See attached")
        })
        .await
        .unwrap()
        .into_inner();
    let mut get = pb::GetShortcutRequest {
        workspace_id: DEMO.into(),
        key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
        ..Default::default()
    };
    get.consistency_token = created.consistency_token.clone();
    let got = on_b.get_shortcut(get).await.unwrap().into_inner();
    assert_eq!(got.attachments, created.attachments);
    let reply = on_b
        .render_shortcut(pb::RenderShortcutRequest {
            consistency_token: created.consistency_token.clone(),
            ..render("shared-file", JANE, true)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.attachments,
        [attachment(
            "Plan pro",
            "https://shop.example/plans/pro.pdf",
            "application/pdf",
            10
        )]
    );

    // An update on B replaces them on A.
    let updated = on_b
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 1,
            attachments: Some(pb::AttachmentList::default()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let reply = on_a
        .render_shortcut(pb::RenderShortcutRequest {
            consistency_token: updated.consistency_token.clone(),
            ..render("shared-file", JANE, true)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.attachments.is_empty());
    assert_eq!(reply.shortcut_version, 2);
    a.stop().await;
    b.stop().await;
}
