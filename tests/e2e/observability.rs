//! What operators see: Prometheus metrics and structured logs.

use tonic::Code;

use crate::harness::TestServer;
use shortcuts::pb;

use crate::{DEMO, JANE, JANE_SESSION, NO_PLAN_CONTACT, assert_status, create, inline};

/// The value of the sample of `name` carrying every one of `labels` (`key="value"`).
pub(crate) fn sample(exposition: &str, name: &str, labels: &[&str]) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The metrics exposition served at `url`.
pub(crate) async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The metrics endpoint's URL, as the server logs it.
pub(crate) fn metrics_url(server: &TestServer) -> String {
    let line = server.wait_for_log(|l| l.contains("metrics served at "));
    line.split("metrics served at ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

#[tokio::test]
async fn metrics_count_rpcs_renders_and_data_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &["--metrics-listen", "127.0.0.1:0"],
    );
    let url = metrics_url(&server);
    let before = scrape(&url).await;
    assert_eq!(
        sample(
            &before,
            "shortcuts_rpc_requests_total",
            &[r#"method="RenderTemplate""#]
        ),
        0.0
    );
    let library = shortcuts::seed::starter_library().unwrap().len() as f64;
    assert_eq!(
        sample(
            &before,
            "shortcuts_catalog_shortcuts",
            &[r#"workspace="demo""#]
        ),
        library
    );

    let mut client = server.client().await;
    for _ in 0..3 {
        let mut request = inline("<<contact.plan>> <<session.order_id>>", JANE);
        request.session_id = JANE_SESSION.into();
        client.render_template(request).await.unwrap();
    }
    client
        .render_template(inline("<<contact.plan>>", NO_PLAN_CONTACT))
        .await
        .unwrap();
    let mut strict = inline("<<contact.plan>>", NO_PLAN_CONTACT);
    strict.strict = true;
    assert_status(
        client.render_template(strict).await,
        Code::FailedPrecondition,
        &[],
    );
    assert_status(
        client.render_template(inline("x", "nobody")).await,
        Code::NotFound,
        &[],
    );
    assert_status(
        client
            .render_template(inline("{% for i in range(100000000) %}{% endfor %}", JANE))
            .await,
        Code::ResourceExhausted,
        &[],
    );
    client
        .create_shortcut(create(DEMO, "counted", "x"))
        .await
        .unwrap();

    let after = scrape(&url).await;
    let rpcs = |code: &str| {
        sample(
            &after,
            "shortcuts_rpc_requests_total",
            &[r#"method="RenderTemplate""#, &format!(r#"code="{code}""#)],
        )
    };
    assert_eq!(
        (
            rpcs("OK"),
            rpcs("FAILED_PRECONDITION"),
            rpcs("NOT_FOUND"),
            rpcs("RESOURCE_EXHAUSTED")
        ),
        (4.0, 1.0, 1.0, 1.0)
    );
    assert_eq!(
        sample(
            &after,
            "shortcuts_rpc_duration_seconds_count",
            &[r#"method="RenderTemplate""#, r#"code="OK""#]
        ),
        4.0
    );
    let outcome = |o: &str| {
        sample(
            &after,
            "shortcuts_render_outcomes_total",
            &[&format!(r#"outcome="{o}""#)],
        )
    };
    assert_eq!(
        (
            outcome("ok"),
            outcome("missing"),
            outcome("strict_failure"),
            outcome("limit")
        ),
        (3.0, 1.0, 1.0, 1.0)
    );
    let lookups = |scope: &str, origin: &str| {
        sample(
            &after,
            "shortcuts_data_lookups_total",
            &[
                &format!(r#"scope="{scope}""#),
                &format!(r#"origin="{origin}""#),
            ],
        )
    };
    // Jane: fetched once, then from the cache (the limit render reads her too).
    assert_eq!(
        lookups("contact", "upstream"),
        2.0,
        "Jane and the contact without a plan"
    );
    assert!(lookups("contact", "cache") >= 3.0, "{after}");
    assert_eq!(lookups("session", "upstream"), 1.0);
    assert!(
        sample(
            &after,
            "shortcuts_upstream_calls_total",
            &[r#"source="file""#, r#"result="ok""#]
        ) >= 3.0
    );
    assert!(sample(&after, "shortcuts_data_cache_bytes", &[]) > 0.0);
    assert_eq!(
        sample(
            &after,
            "shortcuts_catalog_shortcuts",
            &[r#"workspace="demo""#]
        ),
        library + 1.0
    );
}

#[tokio::test]
async fn the_data_cache_exports_its_size_and_evictions_by_cause() {
    let dir = tempfile::tempdir().unwrap();
    // Room for a few demo contacts (a few KB each), offered ten.
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--data-cache-bytes",
            "8192",
        ],
    );
    let url = metrics_url(&server);
    let evicted = |exposition: &str, cause: &str| {
        sample(
            exposition,
            "shortcuts_data_cache_evictions_total",
            &[&format!(r#"cause="{cause}""#)],
        )
    };
    let entries = |exposition: &str| sample(exposition, "shortcuts_data_cache_entries", &[]);
    // Every demo contact, by id and by email: ten cache entries.
    let demo: serde_json::Value =
        serde_json::from_str(include_str!("../../data/demo.json")).unwrap();
    let contacts: Vec<String> = demo["workspaces"][DEMO]["contacts"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(id, contact)| {
            let email = contact["profile"]["email"].as_str().unwrap();
            [id.clone(), email.to_string()]
        })
        .collect();
    let mut client = server.client().await;
    for contact in &contacts {
        client
            .render_template(inline("<<contact.plan>>", contact))
            .await
            .unwrap();
    }
    let filled = scrape(&url).await;
    let held = entries(&filled);
    assert!(
        (1.0..contacts.len() as f64).contains(&held),
        "entries held: {held}\n{filled}"
    );
    assert!(evicted(&filled, "size") >= 1.0, "{filled}");
    assert_eq!(evicted(&filled, "invalidated"), 0.0);

    for contact in &contacts {
        client
            .invalidate_contact(pb::InvalidateContactRequest {
                workspace_id: DEMO.into(),
                id: contact.clone(),
            })
            .await
            .unwrap();
    }
    let emptied = scrape(&url).await;
    assert_eq!(entries(&emptied), 0.0, "{emptied}");
    assert_eq!(evicted(&emptied, "invalidated"), held, "{emptied}");
}

#[tokio::test]
async fn json_logs_carry_method_status_and_no_customer_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("s.db"), &["--log-format", "json"]);
    let mut client = server.client().await;
    let mut request = inline(
        "Hi <<contact.first_name>> from <<contact.company.name>>",
        JANE,
    );
    request.session_id = JANE_SESSION.into();
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert_eq!(reply.text, "Hi Jane from Acme Corp");
    client
        .create_shortcut(create(DEMO, "!order-status", "dup"))
        .await
        .unwrap_err();

    let done = |method: &'static str, status: &'static str| {
        move |line: &str| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|v| v["span"]["method"] == method && v["status"] == status)
        }
    };
    for (method, status) in [
        ("RenderTemplate", "OK"),
        ("CreateShortcut", "AlreadyExists"),
    ] {
        let line = server.wait_for_log(done(method, status));
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["level"], "INFO");
        assert_eq!(parsed["span"]["workspace"], DEMO);
        assert!(parsed["duration_us"].is_u64(), "{line}");
    }
    for value in ["Acme Corp", "jane.doe@example.com", "Hi Jane"] {
        assert!(
            !server.log_contains(value),
            "customer data {value:?} in the log"
        );
    }
}
