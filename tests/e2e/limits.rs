//! Every bound on a request's work is configurable, and each refusal is a clear status
//! naming the field and the configured limit. Templates that try to build huge values run
//! out of fuel before the memory is taken.

use serde_json::json;
use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create, inline, structure};
use shortcuts::pb;

fn vars(json: serde_json::Value) -> Option<prost_types::Struct> {
    Some(structure(json))
}

#[tokio::test]
async fn configured_limits_are_enforced_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--max-variants",
            "1",
            "--max-range-items",
            "5",
            "--max-struct-depth",
            "2",
            "--max-search-query-chars",
            "8",
            "--max-batch-recipients",
            "2",
            "--max-body-bytes",
            "200",
            "--seed-demo",
            "false",
            "--max-output-bytes",
            "100",
            "--render-fuel",
            "2000",
        ],
    );
    let mut client = server.client().await;

    // Variants: one is accepted, two are refused.
    let mut one = create(DEMO, "one-variant", "Hello");
    one.variants = [("fr".to_string(), "Bonjour".to_string())].into();
    client.create_shortcut(one).await.unwrap();
    let mut two = create(DEMO, "two-variants", "Hello");
    two.variants = [("fr", "Bonjour"), ("de", "Hallo")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    assert_status(
        client.create_shortcut(two).await,
        Code::InvalidArgument,
        &["variants", "more than 1 "],
    );

    // Body size.
    assert_status(
        client
            .create_shortcut(create(DEMO, "long", &"x".repeat(201)))
            .await,
        Code::InvalidArgument,
        &["body", "200 bytes"],
    );

    // range(): five items are fine, six are a limit.
    let reply = client
        .render_template(inline("{% for i in range(5) %}<<i>>{% endfor %}", JANE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "01234");
    assert_status(
        client
            .render_template(inline("{% for i in range(6) %}<<i>>{% endfor %}", JANE))
            .await,
        Code::ResourceExhausted,
        &["range", "limit is 5"],
    );

    // Output size and fuel.
    assert_status(
        client.render_template(inline("<<'x' * 101>>", JANE)).await,
        Code::ResourceExhausted,
        &["100 bytes"],
    );
    assert_status(
        client
            .render_template(inline(
                "{% for i in range(5) %}{% for j in range(5) %}{% for k in range(5) %}{% for l in range(5) %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
                JANE,
            ))
            .await,
        Code::ResourceExhausted,
        &["2000 steps"],
    );

    // Nesting of vars (and agent): two levels pass, three are refused.
    let mut request = inline("<<vars.a.b>>", JANE);
    request.vars = vars(json!({"a": {"b": 1}}));
    assert_eq!(
        client
            .render_template(request)
            .await
            .unwrap()
            .into_inner()
            .text,
        "1"
    );
    let mut request = inline("<<vars.a.b.c>>", JANE);
    request.vars = vars(json!({"a": {"b": {"c": 1}}}));
    assert_status(
        client.render_template(request).await,
        Code::InvalidArgument,
        &["vars.a.b", "deeper than 2 levels"],
    );
    let mut request = inline("<<agent.a>>", JANE);
    request.agent = vars(json!({"a": [[1]]}));
    assert_status(
        client.render_template(request).await,
        Code::InvalidArgument,
        &["agent.a", "deeper than 2 levels"],
    );

    // Search query length, in characters.
    let search = |query: &str| pb::SearchShortcutsRequest {
        workspace_id: DEMO.into(),
        query: query.into(),
        ..Default::default()
    };
    client.search_shortcuts(search("éééééééé")).await.unwrap();
    assert_status(
        client.search_shortcuts(search("ééééééééé")).await,
        Code::InvalidArgument,
        &["query", "longer than 8 characters"],
    );

    // Batch size.
    let batch = |recipients: usize| pb::BatchRenderRequest {
        workspace_id: DEMO.into(),
        template: Some(pb::batch_render_request::Template::Body(
            "Hi <<contact.first_name>>".into(),
        )),
        recipients: (0..recipients)
            .map(|_| pb::BatchRecipient {
                contact_id: JANE.into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut stream = client.batch_render(batch(2)).await.unwrap().into_inner();
    let mut results = 0;
    while stream.message().await.unwrap().is_some() {
        results += 1;
    }
    assert_eq!(results, 2);
    assert_status(
        client.batch_render(batch(3)).await,
        Code::InvalidArgument,
        &["recipients", "at most 2"],
    );
}

#[test]
fn a_limit_out_of_range_stops_the_server_at_start_with_the_flag_named() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shortcuts"))
        .args(["--max-struct-depth", "0", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-struct-depth"), "{stderr}");
}

#[tokio::test]
async fn a_body_limit_below_the_starter_library_stops_the_first_start_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    let start = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shortcuts"))
            .args(["--listen", "127.0.0.1:0", "--store"])
            .arg(&store)
            .args(["--max-body-bytes", "200"])
            .args(extra)
            .output()
            .unwrap()
    };
    let output = start(&[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needed in [
        "--max-body-bytes 200",
        "--seed-demo=false",
        "starter shortcut !",
    ] {
        assert!(stderr.contains(needed), "{needed:?} not in: {stderr}");
    }

    // Nothing was half seeded: with the library turned off, the same store starts empty.
    let server = TestServer::start_on(store, &["--max-body-bytes", "200", "--seed-demo=false"]);
    let mut client = server.client().await;
    let listed = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.shortcuts.is_empty(), "{:?}", listed.shortcuts);
}

/// Peak resident memory of a process, from /proc.
pub(crate) fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn templates_building_huge_values_run_out_of_fuel_before_taking_the_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Fuel, not time, is what has to stop these (a debug build on a busy machine can take
    // longer than the default --render-timeout to spend it).
    let server = TestServer::start_on(dir.path().join("s.db"), &["--render-timeout", "60s"]);
    let mut client = server.client().await;
    client
        .render_template(inline("warm <<contact.plan>>", JANE))
        .await
        .unwrap();
    let before = peak_rss_bytes(server.pid());

    // Each would build a value of ~100 MB or more without the bound.
    let templates = [
        "<<\"x\" * 100000000>>",
        "<<([\"x\"] * 100000000)|join>>",
        "{% set ns = namespace(s=\"x\") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}<<ns.s|length>>",
        "{% set ns = namespace(s=\"x\") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}<<ns.s|length>>",
        "<<range(10000)|join(\"x\" * 10000)>>",
        "<<(\"x\" * 1000)|replace(\"x\", \"y\" * 100000)>>",
        "<<\"a\\nb\"|indent(100000000)>>",
        "<<\"%100000000s\"|format(\"x\")>>",
        "{% macro m() %}{% for i in range(10000) %}<<\"x\" * 10000>>{% endfor %}{% endmacro %}<<m()|length>>",
        "{% set s %}{% for i in range(10000) %}<<\"x\" * 10000>>{% endfor %}{% endset %}<<s|length>>",
    ];
    for body in templates {
        assert_status(
            client.render_template(inline(body, JANE)).await,
            Code::ResourceExhausted,
            &["steps"],
        );
    }
    let grown = peak_rss_bytes(server.pid()).saturating_sub(before);
    // Any one of these templates, unbounded, would add 100 MB or more. Bounded, the peak
    // grew by 27–53 MB across runs of this test (the allocator keeps freed pages, and a
    // doubling loop holds its last two values at once), so 80 MiB tells the two apart
    // without failing on the allocator's whims.
    assert!(
        grown < 80 * 1024 * 1024,
        "peak memory grew by {grown} bytes while refusing those templates"
    );
    let reply = client
        .render_template(inline("still <<contact.plan>>", JANE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "still pro");
}
