//! Rendering with the demo data: placeholders, missing values, strict mode, injection,
//! template errors and limits.

use std::time::{Duration, Instant};

use serde_json::json;
use tonic::Code;

use crate::harness::TestServer;
use crate::{
    ACME_CONTACT, DEMO, HOSTILE_CONTACT, JANE, JANE_SESSION, NO_PLAN_CONTACT, assert_status,
    create, inline, structure,
};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

fn render_bang(bang: &str, contact: &str, session: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: contact.into(),
        session_id: session.into(),
        agent: Some(structure(
            json!({"first_name": "Sam", "email": "sam@support.example"}),
        )),
        ..Default::default()
    }
}

#[tokio::test]
async fn starter_shortcut_renders_with_contact_session_and_agent() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let reply = client
        .render_shortcut(render_bang("order-status", JANE, JANE_SESSION))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.text.starts_with("Hi Jane,"), "{}", reply.text);
    assert!(reply.text.contains("order ORD-48213"), "{}", reply.text);
    assert!(
        reply.text.contains("jane.doe@example.com"),
        "{}",
        reply.text
    );
    assert!(reply.text.trim_end().ends_with("Sam"), "{}", reply.text);
    assert!(reply.missing.is_empty(), "{:?}", reply.missing);
    assert!(!reply.shortcut_id.is_empty());
    assert_eq!(reply.shortcut_version, 1);

    // By email, as Crisp allows, and without a session: the else branch.
    let reply = client
        .render_shortcut(render_bang("!order-status", "jane.doe@example.com", ""))
        .await
        .unwrap()
        .into_inner();
    assert!(
        reply.text.contains("Could you share your order number?"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn scopes_custom_data_and_raw_data() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "<<contact.plan>>|<<contact.data.plan>>|<<contact.company.name>>|<<contact.country>>|<<session.order_id>>|<<session.city>>|<<agent.first_name>>|<<vars.code>>|<<vars.n>>|<<workspace.id>>";
    let mut request = inline(body, JANE);
    request.session_id = JANE_SESSION.into();
    request.agent = Some(structure(json!({"first_name": "Sam"})));
    request.vars = Some(structure(json!({"code": "SAVE10", "n": 3})));
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert_eq!(
        reply.text,
        "pro|pro|Acme Corp|US|ORD-48213|San Francisco|Sam|SAVE10|3|demo"
    );
    assert_eq!(reply.shortcut_id, "");
}

#[tokio::test]
async fn missing_values_are_listed_once_in_order_and_strict_fails() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Hi <<contact.first_name | fallback(\"there\")>>, plan <<contact.plan>> (<<contact.plan | upper>>), order <<session.order_id>>, <<contact.email>>{% if contact.segments %} seg{% endif %}";
    let reply = client
        .render_template(inline(body, NO_PLAN_CONTACT))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.missing, ["contact.plan", "session.order_id"]);
    assert_eq!(reply.defaulted, ["contact.first_name"]);
    assert!(
        reply.text.starts_with("Hi there, plan  ()"),
        "{}",
        reply.text
    );

    let mut strict = inline(body, NO_PLAN_CONTACT);
    strict.strict = true;
    assert_status(
        client.render_template(strict).await,
        Code::FailedPrecondition,
        &["contact.plan", "session.order_id"],
    );

    // With every value present, strict renders.
    let mut strict = inline(body, JANE);
    strict.session_id = JANE_SESSION.into();
    strict.strict = true;
    let reply = client.render_template(strict).await.unwrap().into_inner();
    assert!(reply.missing.is_empty());
    assert!(
        reply.text.contains("plan pro (PRO), order ORD-48213"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn data_is_printed_verbatim_never_evaluated() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut request = inline(
        "Hello <<contact.nickname>> / <<contact.plan>> / <<vars.note>>",
        HOSTILE_CONTACT,
    );
    request.agent = Some(structure(json!({"email": "agent-secret@support.example"})));
    request.vars = Some(structure(
        json!({"note": "{{ agent.email }} <<agent.email>>"}),
    ));
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert_eq!(
        reply.text,
        "Hello <<agent.email>> {% if true %}pwned{% endif %} / <<contact.email | upper>> / {{ agent.email }} <<agent.email>>"
    );
    assert!(!reply.text.contains("agent-secret"));
}

#[tokio::test]
async fn template_errors_carry_line_and_column() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body =
        "Hi <<contact.first_name>>,\nyour plan is <<contact.plan | uper>>\n{% if contact.plan %}";
    let report = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!report.valid);
    let first = &report.errors[0];
    assert_eq!(first.line, 3, "{report:?}");
    assert!(first.message.contains("syntax error"), "{report:?}");

    let body = "Hi <<contact.first_name>>,\nyour plan is <<contact.plan | uper>> and <<custmer.x>>";
    let report = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let positions: Vec<_> = report.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(positions, [(2, 31), (2, 44)], "{report:?}");
    assert!(
        report.errors[0].message.contains("did you mean `upper`"),
        "{report:?}"
    );
    assert!(
        report.errors[1].message.contains("unknown scope `custmer`"),
        "{report:?}"
    );

    let ok = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: "{% if session.order_id %}<<session.order_id>>{% endif %} <<contact.plan | fallback(\"x\")>> <<agent.first_name>>".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.valid, "{ok:?}");
    assert_eq!(
        ok.placeholders,
        ["session.order_id", "contact.plan", "agent.first_name"]
    );

    let status = assert_status(
        client
            .create_shortcut(create(DEMO, "broken", "line one\nline <<two"))
            .await,
        Code::InvalidArgument,
        &["body", "line 2, column"],
    );
    assert!(!status.message().contains("__emit"), "{status:?}");
}

#[tokio::test]
async fn runaway_templates_are_stopped_and_the_server_stays_healthy() {
    let server = TestServer::start();
    let mut client = server.client().await;
    for body in [
        "{% for i in range(100000000) %}x{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}<<i>>{% endfor %}{% endfor %}",
        "{% for i in range(10000) %}<<contact.email * 1000>>{% endfor %}",
    ] {
        let started = Instant::now();
        assert_status(
            client.render_template(inline(body, JANE)).await,
            Code::ResourceExhausted,
            &[],
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{body} took {:?}",
            started.elapsed()
        );
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let reply = client
        .render_template(inline("still <<contact.plan>>", JANE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "still pro");
}

#[tokio::test]
async fn unknown_ids_and_other_workspaces_data_are_not_found() {
    let server = TestServer::start();
    let mut client = server.client().await;
    assert_status(
        client.render_template(inline("x", "nobody")).await,
        Code::NotFound,
        &["contact", "nobody"],
    );
    let mut request = inline("x", JANE);
    request.session_id = "session_nope".into();
    assert_status(
        client.render_template(request).await,
        Code::NotFound,
        &["session", "session_nope"],
    );
    // Acme's contact is invisible from the demo workspace, and the reverse.
    assert_status(
        client.render_template(inline("x", ACME_CONTACT)).await,
        Code::NotFound,
        &["contact"],
    );
    let mut request = inline("<<contact.plan>>", JANE);
    request.workspace_id = "acme".into();
    assert_status(
        client.render_template(request).await,
        Code::NotFound,
        &["contact"],
    );
    let mut request = inline("<<contact.plan>>", ACME_CONTACT);
    request.workspace_id = "acme".into();
    assert_eq!(
        client
            .render_template(request)
            .await
            .unwrap()
            .into_inner()
            .text,
        "enterprise"
    );

    assert_status(
        client
            .render_shortcut(render_bang("no-such", JANE, ""))
            .await,
        Code::NotFound,
        &["!no-such"],
    );
    let mut no_target = render_bang("x", JANE, "");
    no_target.shortcut = None;
    assert_status(
        client.render_shortcut(no_target).await,
        Code::InvalidArgument,
        &["id", "bang"],
    );
}

#[tokio::test]
async fn disabled_shortcuts_do_not_render() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut request = create(DEMO, "parked", "Parked <<contact.plan>>");
    request.disabled = true;
    client.create_shortcut(request).await.unwrap();
    assert_status(
        client
            .render_shortcut(render_bang("parked", JANE, ""))
            .await,
        Code::FailedPrecondition,
        &["disabled"],
    );
}
