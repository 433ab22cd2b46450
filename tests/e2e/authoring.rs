//! Authoring help: ValidateTemplate's full error list and scope grouping, and
//! DescribeContext with and without real records.

use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, JANE_SESSION, assert_status};
use shortcuts::pb;

#[tokio::test]
async fn validate_returns_every_error_and_paths_by_scope() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Hi <<contact.first_name | fallback(\"there\")>>,\nyour <<customer.plan>> plan costs <<contact.price | curency(\"EUR\")>>\n{% if session.order_id %}<<session.order_id>> ships <<vars.eta | date(\"%Q\")>>{% endif %} — <<agent.first_name>> at <<workspace.name>>";
    let reply = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.valid);
    let errors: Vec<(u32, u32, &str)> = reply
        .errors
        .iter()
        .map(|e| (e.line, e.column, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!((errors[0].0, errors[0].1), (2, 8));
    assert!(
        errors[0].2.contains("unknown scope `customer`"),
        "{errors:?}"
    );
    assert_eq!(errors[1].0, 2);
    assert!(
        errors[1]
            .2
            .contains("unknown filter `curency`; did you mean `currency`?"),
        "{errors:?}"
    );
    assert_eq!(errors[2].0, 3);
    assert!(errors[2].2.contains("strftime"), "{errors:?}");

    let scopes: Vec<(&str, Vec<&str>)> = reply
        .scopes
        .iter()
        .map(|s| {
            (
                s.scope.as_str(),
                s.paths.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        scopes,
        [
            ("contact", vec!["contact.first_name", "contact.price"]),
            ("session", vec!["session.order_id"]),
            ("agent", vec!["agent.first_name"]),
            ("vars", vec!["vars.eta"]),
            ("workspace", vec!["workspace.name"]),
        ]
    );
    assert_eq!(reply.placeholders.len(), 6, "{:?}", reply.placeholders);
}

#[tokio::test]
async fn describe_context_lists_real_fields_with_samples() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let reply = client
        .describe_context(pb::DescribeContextRequest {
            workspace_id: DEMO.into(),
            contact_id: JANE.into(),
            session_id: JANE_SESSION.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let sample = |path: &str| {
        reply
            .fields
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", reply.fields))
            .clone()
    };
    assert_eq!(sample("contact.plan").sample, "pro");
    assert_eq!(sample("contact.plan").source, "record");
    assert_eq!(sample("contact.company.name").sample, "Acme Corp");
    assert_eq!(sample("contact.data.lifetime_value").sample, "4820.5");
    assert_eq!(sample("contact.segments").sample, "customer, pro, vip");
    assert_eq!(sample("session.order_id").sample, "ORD-48213");
    assert_eq!(sample("workspace.name").sample, "Demo Shop");
    assert_eq!(sample("workspace.time_zone").sample, "Europe/Paris");
    // The supported locales are listed where an editor shows the workspace's.
    let locale = sample("workspace.locale");
    assert_eq!(locale.sample, "en");
    assert!(
        locale
            .description
            .contains("supported: en, en-GB, fr, fr-CA, de, es, es-MX, pt, pt-PT, it, nl, ja, pl, sv, da, nb, fi, tr, ru, zh, zh-Hant, ko, cs"),
        "{}",
        locale.description
    );
    assert_eq!(sample("agent.first_name").source, "convention");
    // Every path it offers is one a template may use.
    for field in &reply.fields {
        let root = field.path.split('.').next().unwrap();
        assert!(
            ["contact", "session", "agent", "vars", "workspace"].contains(&root),
            "{field:?}"
        );
    }

    // Without records: the documented fields.
    let reply = client
        .describe_context(pb::DescribeContextRequest {
            workspace_id: "fresh".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let paths: Vec<&str> = reply.fields.iter().map(|f| f.path.as_str()).collect();
    for expected in [
        "contact.email",
        "contact.first_name",
        "session.subject",
        "vars.KEY",
        "workspace.name",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    let name = reply
        .fields
        .iter()
        .find(|f| f.path == "workspace.name")
        .unwrap();
    assert_eq!(name.sample, "fresh");
    assert!(reply.fields.iter().all(|f| !f.description.is_empty()));

    assert_status(
        client
            .describe_context(pb::DescribeContextRequest {
                workspace_id: DEMO.into(),
                contact_id: "nobody".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &["nobody"],
    );
    assert_status(
        client
            .describe_context(pb::DescribeContextRequest {
                workspace_id: "".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
}
