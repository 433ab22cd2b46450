//! Hostile input: malformed protobuf, control characters, huge and deeply nested values,
//! templates that try to escape or run away. Every one gets a clear status and the server
//! keeps serving.

use bytes::{Buf, BufMut};
use serde_json::json;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create, inline, structure};
use shortcuts::pb;

/// Sends bytes as they are, to put malformed protobuf on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

async fn still_serving(server: &TestServer) {
    let reply = server
        .client()
        .await
        .render_template(inline("ok <<contact.plan>>", JANE))
        .await
        .expect("the server still answers")
        .into_inner();
    assert_eq!(reply.text, "ok pro");
}

#[tokio::test]
async fn malformed_protobuf_is_refused() {
    let server = TestServer::start();
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    // CreateShortcutRequest{workspace_id: "demo", bang: <invalid UTF-8>}
    let mut message = vec![0x0a, 4];
    message.extend_from_slice(b"demo");
    message.extend_from_slice(&[0x12, 3, 0xff, 0xfe, 0x80]);
    for bytes in [message, vec![0x0a, 200, 1]] {
        grpc.ready().await.unwrap();
        let path =
            http::uri::PathAndQuery::from_static("/shortcuts.v1.ShortcutService/CreateShortcut");
        let status = grpc
            .unary(tonic::Request::new(bytes), path, RawCodec)
            .await
            .expect_err("malformed protobuf is refused");
        // gRPC's status-code table files protobuf parse failures under INTERNAL.
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert!(
            status.message().contains("decode")
                || status.message().contains("UTF-8")
                || status.message().contains("buffer"),
            "{status:?}"
        );
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn control_characters_and_huge_values_are_refused_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("s.db"), &["--max-request-bytes", "3145728"]);
    let mut client = server.client().await;
    let mut request = create(DEMO, "ok-bang", "body");
    request.title = "bad\0title".into();
    assert_status(
        client.create_shortcut(request).await,
        Code::InvalidArgument,
        &["title", "U+0000"],
    );
    assert_status(
        client.create_shortcut(create(DEMO, "nul\0bang", "x")).await,
        Code::InvalidArgument,
        &["bang"],
    );
    assert_status(
        client
            .create_shortcut(create(DEMO, "nul-body", "hi\0there"))
            .await,
        Code::InvalidArgument,
        &["body", "U+0000"],
    );
    let mut request = create(DEMO, "nul-tag", "x");
    request.tags = vec!["fine".into(), "bad\u{1b}tag".into()];
    assert_status(
        client.create_shortcut(request).await,
        Code::InvalidArgument,
        &["tags[1]"],
    );
    assert_status(
        client.render_template(inline("x", "jane\0")).await,
        Code::InvalidArgument,
        &["contact_id"],
    );

    let huge_bang = "b".repeat(1024 * 1024);
    let status = assert_status(
        client.create_shortcut(create(DEMO, &huge_bang, "x")).await,
        Code::InvalidArgument,
        &["bang", "64"],
    );
    assert!(
        status.message().len() < 200,
        "the error does not echo the value"
    );
    let status = client
        .create_shortcut(create(DEMO, "too-big", &"x".repeat(5 * 1024 * 1024)))
        .await
        .expect_err("a 5 MiB request is refused");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );

    // Nesting: refused by our limit, or by protobuf's own decoder beyond it.
    for depth in [20, 120] {
        let mut nested = json!("deep");
        for _ in 0..depth {
            nested = json!({ "x": nested });
        }
        let mut request = inline("<<vars.x>>", JANE);
        request.vars = Some(structure(nested.as_object().unwrap().clone().into()));
        let status = client.render_template(request).await.expect_err("too deep");
        assert!(
            matches!(status.code(), Code::InvalidArgument | Code::Internal),
            "{status:?}"
        );
        if depth == 20 {
            assert!(
                status.message().contains("vars") && status.message().contains("deeper"),
                "{status:?}"
            );
        }
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn templates_cannot_escape_include_themselves_or_run_away() {
    let server = TestServer::start();
    let mut client = server.client().await;
    for body in [
        "{% include \"body\" %}",
        "{% include \"/etc/passwd\" %}",
        "{% import \"body\" as me %}",
        "{% extends \"body\" %}",
        "<<env.PATH>>",
        "<<config>>",
        "<<__emit>>",
    ] {
        assert_status(
            client.create_shortcut(create(DEMO, "escape", body)).await,
            Code::InvalidArgument,
            &["body", "line 1"],
        );
    }
    let secret_path = std::env::var("PATH").unwrap();
    for body in [
        "<<self>>|<<range>>|<<dict()>>|<<namespace()>>|<<\"x\".__class__>>|<<range.__globals__>>|<<contact.__dict__>>",
        "{% set x = contact %}<<x.__init__>><<x.items()>>",
        "{% macro m() %}<<m()>>{% endmacro %}<<m()>>",
    ] {
        match client.render_template(inline(body, JANE)).await {
            Ok(reply) => {
                let text = reply.into_inner().text;
                assert!(
                    !text.contains("root:") && !text.contains(&secret_path),
                    "{body}: {text}"
                );
            }
            Err(status) => assert!(
                matches!(
                    status.code(),
                    Code::ResourceExhausted | Code::FailedPrecondition
                ),
                "{body}: {status:?}"
            ),
        }
    }
    for body in [
        "{% for i in range(-9223372036854775807, 9223372036854775807) %}x{% endfor %}",
        "{% for i in range(0, 100000000000, 1) %}{% endfor %}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "<<\"x\" * 100000000>>",
    ] {
        assert_status(
            client.render_template(inline(body, JANE)).await,
            Code::ResourceExhausted,
            &[],
        );
    }
    still_serving(&server).await;
    let _ = pb::DeleteShortcutResponse::default();
}

/// One body per family of the hostile templates: each built a value minijinja did
/// not charge (or walked one without charging the walk) and ran for seconds or took
/// gigabytes. Each is now refused within its fuel, quickly, and without the memory.
const HOSTILE_FAMILIES: &[&str] = &[
    // Repeated lists, indexed from the end, printed, and their doubling by `+`.
    "<<((range(10000)|list) * 10000)[-1]>>",
    "<<(range(10000)|list) * 10000>>",
    "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}<<ns.l|length>>",
    // sort / unique / reverse of repeated lists.
    "<<((range(10000)|list) * 1000)|sort|first>>",
    "<<((range(1000)|list) * 10000)|unique|list|length>>",
    "<<((range(1000)|list) * 10000)|reverse|first>>",
    // String repetition with indexing, slicing, and strings repeated inside lists.
    "{% set s = \"x\" * 3000000 %}{% for i in range(10000) %}<<s[-1]>>{% endfor %}",
    "{% set s = \"x\" * 1000000 %}<<([s] * 1000)|join|length>>",
    "{% set s = \"x\" * 1000000 %}<<([s] * 1000)|string|length>>",
    "{% set s = \"x\" * 1000000 %}<<([s] * 1000)|sort|length>>",
    "{% set s = \"x\" * 1000000 %}<<(\"x\" ~ ([s] * 1000))|length>>",
    "{% set s = \"x\" * 100000 %}<<([[s] * 100] * 1000)|sum(start=[])|length>>",
    // Nested loops over repeated lists.
    "{% set l = (range(10000)|list) * 10 %}{% for i in range(10000) %}{% for j in l %}{% endfor %}{% endfor %}",
    // Recursive macros, and what they and `{% set %}` blocks capture.
    "{% macro m(n) %}{% for i in range(8) %}{% if n > 0 %}<<m(n - 1)>>{% endif %}{% endfor %}x{% endmacro %}<<m(6)>>",
    "{% set s = \"x\" * 100000 %}{% set t %}<<[s] * 1000>>{% endset %}<<t|length>>",
];

#[tokio::test]
async fn every_hostile_family_is_charged_before_it_builds() {
    let server = TestServer::start();
    let mut client = server.client().await;
    still_serving(&server).await;
    let before = crate::limits::peak_rss_bytes(server.pid());
    for body in HOSTILE_FAMILIES {
        let started = std::time::Instant::now();
        let status = client
            .render_template(inline(body, JANE))
            .await
            .expect_err(body);
        assert_eq!(status.code(), Code::ResourceExhausted, "{body}: {status:?}");
        assert!(
            ["steps", "bytes", "--render-timeout"]
                .iter()
                .any(|bound| status.message().contains(bound)),
            "{body}: {status:?}"
        );
        // Unbounded, each took from 4 s to minutes (debug build); bounded, tens of ms.
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(3),
            "{body} took {took:?}"
        );
    }
    let grown = crate::limits::peak_rss_bytes(server.pid()).saturating_sub(before);
    assert!(
        grown < 80 * 1024 * 1024,
        "peak memory grew by {grown} bytes while refusing the hostile families"
    );
    still_serving(&server).await;
}

/// CPU time (user + system) the server has used, from /proc.
fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports these in USER_HZ, 100 per second on every architecture Rust targets.
    std::time::Duration::from_millis(ticks * 10)
}

/// Waits (up to `within`) for a window of `window` in which the server used less than
/// `quiet` CPU; returns how long that took.
async fn until_quiet(
    pid: u32,
    window: std::time::Duration,
    quiet: std::time::Duration,
    within: std::time::Duration,
) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        let before = cpu_time(pid);
        tokio::time::sleep(window).await;
        if cpu_time(pid) - before < quiet {
            return Some(started.elapsed());
        }
    }
    None
}

/// A render that outgrows its first slice of fuel stops at `--render-timeout`, and at the
/// caller's deadline when that comes first, naming the bound; the server's CPU goes quiet
/// right after.
#[tokio::test]
async fn a_long_render_stops_at_the_timeout_or_the_callers_deadline() {
    let dir = tempfile::tempdir().unwrap();
    // Fuel and output limits large enough that only time can stop this body.
    let long =
        "{% for i in range(10000) %}{% for j in range(1000) %}<<j % 2>>{% endfor %}{% endfor %}";
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--render-fuel",
            "1000000000",
            "--max-output-bytes",
            "100000000",
            "--render-timeout",
            "100ms",
        ],
    );
    let mut client = server.client().await;
    let started = std::time::Instant::now();
    let status = client
        .render_template(inline(long, JANE))
        .await
        .expect_err("stopped");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("--render-timeout 100ms"),
        "{status:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    drop(server);
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--render-fuel",
            "1000000000",
            "--max-output-bytes",
            "100000000",
            "--render-timeout",
            "60s",
        ],
    );
    let mut client = server.client().await;
    let mut request = tonic::Request::new(inline(long, JANE));
    request.set_timeout(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let status = client.render_template(request).await.expect_err("stopped");
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // The render itself stopped too: unbounded, it would run for many seconds more.
    let quiet = until_quiet(
        server.pid(),
        std::time::Duration::from_millis(200),
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(3),
    )
    .await;
    assert!(
        quiet.is_some(),
        "the server kept rendering after the deadline"
    );
    still_serving(&server).await;
}

/// Health checks are answered promptly while hostile renders and a hostile BatchRender
/// run, and cancelling the batch stops its CPU work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_answered_during_a_storm_and_a_cancelled_batch_stops() {
    let server = TestServer::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut storm = Vec::new();
    for i in 0..4 {
        let mut client = server.client().await;
        let stop = stop.clone();
        storm.push(tokio::spawn(async move {
            let body = HOSTILE_FAMILIES[i % 2];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = client.render_template(inline(body, JANE)).await;
                assert!(status.is_err(), "{body}");
            }
        }));
    }
    let mut client = server.client().await;
    let batch = pb::BatchRenderRequest {
        workspace_id: crate::DEMO.into(),
        template: Some(pb::batch_render_request::Template::Body(
            HOSTILE_FAMILIES[0].into(),
        )),
        recipients: (0..10_000)
            .map(|_| pb::BatchRecipient {
                contact_id: JANE.into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut results = client.batch_render(batch).await.unwrap().into_inner();
    results.message().await.unwrap().expect("a first result");

    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..40 {
        let started = std::time::Instant::now();
        health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
    }
    // Unbounded, the renders held the runtime's threads and checks waited 1.5–3.9 s.
    assert!(
        slowest < std::time::Duration::from_millis(500),
        "a health check took {slowest:?} during the storm"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in storm {
        task.await.unwrap();
    }
    drop(results);
    let quiet = until_quiet(
        server.pid(),
        std::time::Duration::from_millis(200),
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(3),
    )
    .await;
    assert!(
        quiet.is_some(),
        "the server kept working after the batch was cancelled"
    );
    still_serving(&server).await;
}

/// The output limit is enforced while writing: template text written in a loop stops at
/// `--max-output-bytes`, with fuel left for far more. Checked only once the render ended,
/// the reply grew until the fuel ran out (~250 MB here) before being refused.
#[tokio::test]
async fn template_text_stops_at_the_output_limit_while_written() {
    let dir = tempfile::tempdir().unwrap();
    // The limit is above what the quick slice of fuel can write (~600 KB), so the render
    // goes on in its slot with the full fuel; a long timeout, so that only the limit or
    // the fuel can stop it.
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--render-fuel",
            "4000000",
            "--max-output-bytes",
            "1000000",
            "--render-timeout",
            "60s",
        ],
    );
    let mut client = server.client().await;
    still_serving(&server).await;
    let before = crate::limits::peak_rss_bytes(server.pid());
    let body = format!(
        "{{% for i in range(10000) %}}{{% for j in range(10000) %}}{}{{% endfor %}}{{% endfor %}}",
        "0123456789".repeat(100)
    );
    let started = std::time::Instant::now();
    assert_status(
        client.render_template(inline(&body, JANE)).await,
        Code::ResourceExhausted,
        &["the reply grew past 1000000 bytes"],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let grown = crate::limits::peak_rss_bytes(server.pid()).saturating_sub(before);
    // Stopped at the limit, the reply takes 1 MB (2 at most while its buffer grows).
    assert!(
        grown < 32 * 1024 * 1024,
        "peak memory grew by {grown} bytes while writing a reply limited to 1 MB"
    );
    still_serving(&server).await;
}
