//! The file source over a data file of many contacts (`--data-file`): the file is indexed at
//! start and each record read back when it is needed, so rendering finds any contact by id
//! or by email, an audience pages through every contact in id order, and a file edited in
//! place after start fails the render with a clear error instead of serving another contact.

use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, assert_status, inline};
use shortcuts::pb;
use shortcuts::pb::batch_audience::Audience;
use shortcuts::pb::batch_render_request::Template;
use shortcuts::pb::batch_render_result::Outcome;

const CONTACTS: usize = 2_500;

/// `CONTACTS` contacts `c0` .. `c2499` (ids that do not sort as numbers), each with its
/// number in its custom data, and a session of contact 1234; `name` is contact 7's nickname.
fn data_file(name: &str) -> String {
    let contacts: serde_json::Map<String, serde_json::Value> = (0..CONTACTS)
        .map(|i| {
            let nickname = if i == 7 {
                name.to_string()
            } else {
                format!("Person {i}")
            };
            let contact = serde_json::json!({
                "profile": {
                    "people_id": format!("c{i}"),
                    "email": format!("person{i}@example.com"),
                    "person": {"nickname": nickname, "locales": ["en"]},
                },
                "data": {"n": i, "plan": if i % 2 == 0 { "pro" } else { "free" }},
            });
            (format!("c{i}"), contact)
        })
        .collect();
    let sessions = serde_json::json!({"s1234": {"meta": {"email": "person1234@example.com",
        "data": {"order": "ORD-1234"}}}});
    // Pretty-printed: the file's own layout (blanks, new lines) must not matter.
    serde_json::to_string_pretty(&serde_json::json!({
        "workspaces": {DEMO: {"contacts": contacts, "sessions": sessions}}
    }))
    .unwrap()
}

fn render(contact: &str) -> pb::RenderTemplateRequest {
    inline(
        "<<contact.nickname>> #<<contact.data.n>> <<contact.email>>",
        contact,
    )
}

#[tokio::test]
async fn contacts_of_a_large_data_file_are_found_by_id_and_email_and_listed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.json");
    std::fs::write(&path, data_file("Person 7")).unwrap();
    let server = TestServer::start_on(
        dir.path().join("store.db"),
        &["--data-file", path.to_str().unwrap()],
    );
    let mut client = server.client().await;

    let by_id = client.render_template(render("c1873")).await.unwrap();
    assert_eq!(
        by_id.into_inner().text,
        "Person 1873 #1873 person1873@example.com"
    );
    let by_email = client
        .render_template(render("Person2218@EXAMPLE.com"))
        .await
        .unwrap();
    assert_eq!(
        by_email.into_inner().text,
        "Person 2218 #2218 person2218@example.com"
    );
    let mut with_session = inline("<<session.order>> <<contact.data.n>>", "c1234");
    with_session.session_id = "s1234".into();
    let reply = client.render_template(with_session).await.unwrap();
    assert_eq!(reply.into_inner().text, "ORD-1234 1234");
    assert_status(
        client.render_template(render("c2500")).await,
        Code::NotFound,
        &["c2500"],
    );
    assert_status(
        client
            .render_template(render("person2500@example.com"))
            .await,
        Code::NotFound,
        &["person2500@example.com"],
    );

    // An audience pages through every contact (PAGE_SIZE at a time), in id order, once.
    let request = pb::BatchRenderRequest {
        workspace_id: DEMO.into(),
        template: Some(Template::Body("<<contact.data.n>>".into())),
        audience: Some(pb::BatchAudience {
            audience: Some(Audience::Filter(r#"contact.plan == "pro""#.into())),
        }),
        ..Default::default()
    };
    let mut stream = client.batch_render(request).await.unwrap().into_inner();
    let (mut rendered, mut summary) = (Vec::new(), None);
    while let Some(result) = stream.message().await.unwrap() {
        match result.outcome {
            Some(Outcome::Rendered(reply)) => rendered.push((result.contact_id, reply.text)),
            Some(Outcome::Summary(s)) => summary = Some(s),
            other => panic!("{other:?}"),
        }
    }
    let mut expected: Vec<(String, String)> = (0..CONTACTS)
        .filter(|i| i % 2 == 0)
        .map(|i| (format!("c{i}"), i.to_string()))
        .collect();
    expected.sort();
    assert_eq!(rendered.len(), CONTACTS / 2);
    assert_eq!(rendered, expected, "every pro contact once, by id");
    let summary = summary.expect("a summary");
    assert_eq!(
        (summary.matched, summary.skipped, summary.failed),
        (CONTACTS as u64 / 2, CONTACTS as u64 / 2, 0)
    );
}

#[tokio::test]
async fn a_data_file_edited_in_place_after_start_fails_renders_instead_of_serving_another_contact()
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.json");
    std::fs::write(&path, data_file("Person 7")).unwrap();
    let server = TestServer::start_on(
        dir.path().join("store.db"),
        &["--data-file", path.to_str().unwrap()],
    );
    let mut client = server.client().await;
    let before = client.render_template(render("c900")).await.unwrap();
    assert_eq!(
        before.into_inner().text,
        "Person 900 #900 person900@example.com"
    );

    // The same file rewritten: every contact after contact 7 moved.
    std::fs::write(&path, data_file("Someone with a much longer name")).unwrap();
    let status = assert_status(
        client.render_template(render("c901")).await,
        Code::Unavailable,
        &["changed after the server started", "restart the server"],
    );
    assert!(status.message().contains("contacts.json"), "{status:?}");
    // What was cached before the edit is still served (read from the file as it was).
    let cached = client.render_template(render("c900")).await.unwrap();
    assert_eq!(
        cached.into_inner().text,
        "Person 900 #900 person900@example.com"
    );
}
