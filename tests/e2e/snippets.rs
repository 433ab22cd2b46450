//! Composition (issue 15): snippets included by other shortcuts, refused cycles and bounds,
//! a snippet's change visible in its includers (also after a restart and on another
//! replica), includes within the render's budget; `now` and `urlencode`.

use tonic::Code;

use crate::harness::{PgSchema, TestServer};
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

fn snippet(bang: &str, body: &str) -> pb::CreateShortcutRequest {
    pb::CreateShortcutRequest {
        snippet: true,
        ..create(DEMO, bang, body)
    }
}

fn render(bang: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: JANE.into(),
        ..Default::default()
    }
}

async fn text(client: &mut ShortcutServiceClient<Channel>, bang: &str) -> String {
    client
        .render_shortcut(render(bang))
        .await
        .unwrap()
        .into_inner()
        .text
}

fn set_body(id: &str, version: u64, body: &str) -> pb::UpdateShortcutRequest {
    pb::UpdateShortcutRequest {
        workspace_id: DEMO.into(),
        id: id.into(),
        version,
        body: Some(body.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn snippets_are_included_and_their_changes_show_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("snippets.db");
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let signature = client
        .create_shortcut(snippet(
            "signature",
            "— <<agent.first_name | fallback(\"Support\")>>, plan <<contact.plan>>",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(signature.snippet);
    client
        .create_shortcut(snippet("legal", "Terms apply.{% include \"signature\" %}"))
        .await
        .unwrap();
    client
        .create_shortcut(create(
            DEMO,
            "thanks-sig",
            "Thanks!\n{% include \"signature\" %}\n{%- include 'legal' %}",
        ))
        .await
        .unwrap();
    assert_eq!(
        text(&mut client, "thanks-sig").await,
        "Thanks!\n— Support, plan proTerms apply.— Support, plan pro"
    );
    // The inline preview includes them too, and strict reports the snippet's placeholders.
    let preview = client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: DEMO.into(),
            body: "Hi {% include \"signature\" %} <<contact.nope>>".into(),
            contact_id: JANE.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.text, "Hi — Support, plan pro ");
    assert_eq!(preview.missing, ["contact.nope"]);

    // The snippet changes: every includer shows it at once.
    client
        .update_shortcut(set_body(&signature.id, 1, "Cheers, <<contact.first_name>>"))
        .await
        .unwrap();
    assert_eq!(
        text(&mut client, "thanks-sig").await,
        "Thanks!\nCheers, JaneTerms apply.Cheers, Jane"
    );

    // Snippets are not offered by the typeahead; lists return them.
    let found = client
        .search_shortcuts(pb::SearchShortcutsRequest {
            workspace_id: DEMO.into(),
            query: "signature".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        found.matches.iter().all(|m| m.bang != "signature"),
        "{found:?}"
    );
    let listed = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .shortcuts
            .iter()
            .any(|s| s.bang == "signature" && s.snippet)
    );

    // After a restart, includers loaded before their snippets still include them.
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    assert_eq!(
        text(&mut client, "thanks-sig").await,
        "Thanks!\nCheers, JaneTerms apply.Cheers, Jane"
    );
    // A snippet that other shortcuts include is not deleted, un-marked or renamed: the
    // refusal names every includer (`legal` directly, `thanks-sig` directly and through it).
    let delete = pb::DeleteShortcutRequest {
        workspace_id: DEMO.into(),
        id: signature.id.clone(),
        version: None,
    };
    let status = assert_status(
        client.delete_shortcut(delete.clone()).await,
        Code::FailedPrecondition,
        &["cannot delete snippet !signature", "!legal, !thanks-sig"],
    );
    let details = tonic_types::StatusExt::get_error_details(&status);
    let violations = &details.precondition_failure().unwrap().violations;
    let subjects: Vec<&str> = violations.iter().map(|v| v.subject.as_str()).collect();
    assert_eq!(subjects, ["!legal", "!thanks-sig"]);
    assert_status(
        client
            .update_shortcut(pb::UpdateShortcutRequest {
                snippet: Some(false),
                ..set_body(&signature.id, 2, "Cheers")
            })
            .await,
        Code::FailedPrecondition,
        &["cannot un-mark snippet !signature", "!legal, !thanks-sig"],
    );
    assert_status(
        client
            .update_shortcut(pb::UpdateShortcutRequest {
                bang: Some("sig2".into()),
                ..set_body(&signature.id, 2, "Cheers")
            })
            .await,
        Code::FailedPrecondition,
        &["cannot rename snippet !signature"],
    );
    // Nothing was written: the includers still show it.
    assert_eq!(
        text(&mut client, "thanks-sig").await,
        "Thanks!\nCheers, JaneTerms apply.Cheers, Jane"
    );

    // Should the snippet go anyway (another replica deleting it before it saw a new
    // includer; here, the store changed behind the server's back), its includes render as
    // nothing instead of failing the reply.
    server.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", store.display()))
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM shortcuts WHERE id = ?")
        .bind(&signature.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    pool.close().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    assert_eq!(
        text(&mut client, "thanks-sig").await,
        "Thanks!\nTerms apply."
    );
    // Once nothing includes a snippet, it can be deleted.
    let legal = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("legal".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_shortcut(set_body(&legal.id, legal.version, "Terms apply."))
        .await
        .unwrap();
    let thanks = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("thanks-sig".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_shortcut(set_body(&thanks.id, thanks.version, "Thanks!"))
        .await
        .unwrap();
    client
        .delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: DEMO.into(),
            id: legal.id,
            version: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_includes_are_refused_when_written() {
    let server = TestServer::start();
    let mut client = server.client().await;
    client
        .create_shortcut(create(DEMO, "plain-reply", "Not a snippet"))
        .await
        .unwrap();
    let a = client
        .create_shortcut(snippet("part-a", "A"))
        .await
        .unwrap()
        .into_inner();
    client
        .create_shortcut(snippet("part-b", "B{% include \"part-a\" %}"))
        .await
        .unwrap();
    for (body, needle) in [
        (
            "{% include \"plain-reply\" %}",
            "!plain-reply is not a snippet",
        ),
        ("{% include \"nowhere\" %}", "there is no snippet !nowhere"),
        (
            "{% include contact.plan %}",
            "`include` of anything but a snippet's name",
        ),
        ("{% include \"self-inc\" %}", "cycle"),
    ] {
        assert_status(
            client.create_shortcut(snippet("self-inc", body)).await,
            Code::InvalidArgument,
            &["body", needle],
        );
    }
    // A cycle through another snippet, made by an update.
    assert_status(
        client
            .update_shortcut(set_body(&a.id, 1, "A{% include \"part-b\" %}"))
            .await,
        Code::InvalidArgument,
        &["!part-a → !part-b → !part-a"],
    );
    // Nested deeper than 8.
    for i in (0..10).rev() {
        let body = if i == 9 {
            "end".to_string()
        } else {
            format!("{{% include \"deep-{}\" %}}", i + 1)
        };
        let created = client
            .create_shortcut(snippet(&format!("deep-{i}"), &body))
            .await;
        if i >= 1 {
            created.unwrap();
        } else {
            assert_status(created, Code::InvalidArgument, &["deeper than 8"]);
        }
    }
    // An exponential fan-out stays within 4 times the body limit.
    let big = "x".repeat(15_000);
    client
        .create_shortcut(snippet("big-0", &big))
        .await
        .unwrap();
    client
        .create_shortcut(snippet(
            "big-1",
            "{% include \"big-0\" %}{% include \"big-0\" %}",
        ))
        .await
        .unwrap();
    client
        .create_shortcut(snippet(
            "big-2",
            "{% include \"big-1\" %}{% include \"big-1\" %}",
        ))
        .await
        .unwrap();
    assert_status(
        client
            .create_shortcut(snippet(
                "big-3",
                "{% include \"big-2\" %}{% include \"big-2\" %}",
            ))
            .await,
        Code::InvalidArgument,
        &["expand to more than 65536 bytes"],
    );
    // ValidateTemplate reports the same.
    let reply = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: "{% include \"plain-reply\" %}".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.valid);
    assert!(reply.errors[0].message.contains("not a snippet"));
}

/// An include spends the render's fuel like the includer's own text: a heavy snippet
/// stops the render exactly as the same text inline would.
#[tokio::test]
async fn an_include_spends_the_renders_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("fuel.db"), &["--render-fuel", "20000"]);
    let mut client = server.client().await;
    let heavy = "{% for i in range(5000) %}<<i>>{% endfor %}";
    client
        .create_shortcut(snippet("heavy", heavy))
        .await
        .unwrap();
    client
        .create_shortcut(create(DEMO, "uses-heavy", "Hi {% include \"heavy\" %}"))
        .await
        .unwrap();
    let included = assert_status(
        client.render_shortcut(render("uses-heavy")).await,
        Code::ResourceExhausted,
        &[],
    );
    let inline = assert_status(
        client
            .render_template(pb::RenderTemplateRequest {
                workspace_id: DEMO.into(),
                body: format!("Hi {heavy}"),
                ..Default::default()
            })
            .await,
        Code::ResourceExhausted,
        &[],
    );
    assert_eq!(included.message(), inline.message());
}

#[tokio::test]
async fn a_snippet_change_reaches_includers_on_another_replica() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    crate::replicas::use_demo(&b).await;
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let sig = on_a
        .create_shortcut(snippet("team-sig", "v1"))
        .await
        .unwrap()
        .into_inner();
    let user = on_a
        .create_shortcut(create(DEMO, "signed", "Hello {% include \"team-sig\" %}"))
        .await
        .unwrap()
        .into_inner();
    b.wait_for_log(|l| l.contains("applied a change") && l.contains(&user.id));
    assert_eq!(text(&mut on_b, "signed").await, "Hello v1");
    on_a.update_shortcut(set_body(&sig.id, 1, "v2"))
        .await
        .unwrap();
    b.wait_for_log(|l| {
        l.contains("applied a change") && l.contains(&sig.id) && l.contains("version=2")
    });
    assert_eq!(text(&mut on_b, "signed").await, "Hello v2");
    // The other replica knows the includer: deleting the snippet there is refused too.
    assert_status(
        on_b.delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: DEMO.into(),
            id: sig.id.clone(),
            version: None,
        })
        .await,
        Code::FailedPrecondition,
        &["cannot delete snippet !team-sig", "!signed"],
    );
    assert_eq!(text(&mut on_a, "signed").await, "Hello v2");
    drop(schema);
}

#[tokio::test]
async fn now_and_urlencode() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let reply = client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: DEMO.into(),
            body: "<<now | date(\"%Y\")>>|<<now | date(\"%Z\")>>|<<\"a b&c/é\" | urlencode>>"
                .into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let parts: Vec<&str> = reply.text.split('|').collect();
    let year = parts[0]
        .parse::<i32>()
        .unwrap_or_else(|_| panic!("{}", reply.text));
    assert!((2025..2100).contains(&year), "{}", reply.text);
    // The demo workspace's time zone is Europe/Paris.
    assert!(parts[1] == "CET" || parts[1] == "CEST", "{}", reply.text);
    // minijinja's `urlencode` (as Jinja's) keeps `/`.
    assert_eq!(parts[2], "a%20b%26c/%C3%A9");
    let reply = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: "<<now | date(\"%A %d %B\")>>".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.valid, "{:?}", reply.errors);
}
