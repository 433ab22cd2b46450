//! Browsers as clients: gRPC-Web (binary and text, over HTTP/1.1 and HTTP/2) with the same
//! authentication as gRPC, CORS only when configured, the composer page served by the
//! binary and driven in headless Chromium, and the Node example run against a server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use prost::Message;

use crate::harness::{TestServer, refused_start};
use crate::{JANE, JANE_SESSION};
use shortcuts::pb;

const RENDER: &str = "/shortcuts.v1.ShortcutService/RenderShortcut";
const CREATE: &str = "/shortcuts.v1.ShortcutService/CreateShortcut";
const RENDER_TOKEN: &str = "frontend-token-for-web-tests-01";
const FRONTEND_ORIGIN: &str = "https://app.example.com";

#[derive(Clone, Copy, Debug)]
enum Http {
    One,
    Two,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Binary,
    Text,
}

fn http_client(http: Http) -> reqwest::Client {
    let builder = reqwest::Client::builder();
    match http {
        Http::One => builder.http1_only(),
        Http::Two => builder.http2_prior_knowledge(),
    }
    .build()
    .unwrap()
}

/// What a gRPC-Web call answered: HTTP status and headers, the messages, and the status
/// (from the trailer frame, or from the headers of a trailers-only answer).
struct WebReply {
    http_status: u16,
    headers: reqwest::header::HeaderMap,
    messages: Vec<Vec<u8>>,
    grpc_status: Option<String>,
    grpc_message: Option<String>,
}

/// One unary gRPC-Web call of `path` with `message`, in `mode`, over `http`.
async fn grpc_web(
    addr: SocketAddr,
    http: Http,
    mode: Mode,
    path: &str,
    message: &impl Message,
    headers: &[(&str, &str)],
) -> WebReply {
    let encoded = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend((encoded.len() as u32).to_be_bytes());
    body.extend(encoded);
    let (content_type, body) = match mode {
        Mode::Binary => ("application/grpc-web+proto", body),
        Mode::Text => (
            "application/grpc-web-text",
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into_bytes(),
        ),
    };
    let mut request = http_client(http)
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("accept", content_type)
        .header("x-grpc-web", "1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.unwrap();
    let http_status = response.status().as_u16();
    let headers = response.headers().clone();
    let raw = response.bytes().await.unwrap().to_vec();
    let frames = match mode {
        Mode::Binary => raw,
        // Each chunk is base64 of its own, padded: decode quad by quad.
        Mode::Text => raw
            .chunks(4)
            .flat_map(|quad| {
                base64::engine::general_purpose::STANDARD
                    .decode(quad)
                    .unwrap()
            })
            .collect(),
    };
    let mut reply = WebReply {
        http_status,
        grpc_status: header(&headers, "grpc-status"),
        grpc_message: header(&headers, "grpc-message"),
        headers,
        messages: Vec::new(),
    };
    let mut at = 0;
    while at + 5 <= frames.len() {
        let flags = frames[at];
        let len = u32::from_be_bytes(frames[at + 1..at + 5].try_into().unwrap()) as usize;
        let payload = &frames[at + 5..at + 5 + len];
        if flags & 0x80 != 0 {
            for line in String::from_utf8_lossy(payload).split("\r\n") {
                if let Some((name, value)) = line.split_once(':') {
                    let value = Some(value.trim().to_string());
                    match name.trim().to_ascii_lowercase().as_str() {
                        "grpc-status" => reply.grpc_status = value,
                        "grpc-message" => reply.grpc_message = value,
                        _ => {}
                    }
                }
            }
        } else {
            reply.messages.push(payload.to_vec());
        }
        at += 5 + len;
    }
    reply
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_string())
}

fn render_jane() -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: "demo".into(),
        shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(
            "order-status".into(),
        )),
        contact_id: JANE.into(),
        session_id: JANE_SESSION.into(),
        agent: Some(crate::structure(serde_json::json!({"first_name": "Sam"}))),
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_web_binary_and_text_over_http1_and_http2() {
    let server = TestServer::start();
    for http in [Http::One, Http::Two] {
        for mode in [Mode::Binary, Mode::Text] {
            let reply = grpc_web(server.addr, http, mode, RENDER, &render_jane(), &[]).await;
            let case = format!("{http:?} {mode:?}");
            assert_eq!(reply.http_status, 200, "{case}");
            assert_eq!(reply.grpc_status.as_deref(), Some("0"), "{case}");
            assert_eq!(reply.messages.len(), 1, "{case}");
            let rendered = pb::RenderResponse::decode(&reply.messages[0][..]).unwrap();
            assert!(
                rendered.text.starts_with("Hi Jane,"),
                "{case}: {rendered:?}"
            );
            assert!(rendered.text.ends_with("Sam"), "{case}: {rendered:?}");
        }
    }
    // An error keeps its code and message.
    let mut unknown = render_jane();
    unknown.shortcut = Some(pb::render_shortcut_request::Shortcut::Bang(
        "no-such-bang".into(),
    ));
    for http in [Http::One, Http::Two] {
        let reply = grpc_web(server.addr, http, Mode::Binary, RENDER, &unknown, &[]).await;
        assert_eq!(reply.grpc_status.as_deref(), Some("5"), "{http:?}");
        let message = reply.grpc_message.unwrap_or_default();
        assert!(message.contains("no-such-bang"), "{http:?}: {message}");
    }
}

fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.toml");
    std::fs::write(
        &path,
        format!(
            "[[tokens]]\nname = \"web-frontend\"\ntoken = \"{RENDER_TOKEN}\"\nrole = \"render\"\nworkspaces = [\"demo\"]\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn grpc_web_calls_are_authenticated_as_grpc_calls_are() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &["--auth-tokens", tokens.to_str().unwrap()],
    );
    let bearer = format!("Bearer {RENDER_TOKEN}");
    for http in [Http::One, Http::Two] {
        let anonymous =
            grpc_web(server.addr, http, Mode::Binary, RENDER, &render_jane(), &[]).await;
        assert_eq!(anonymous.grpc_status.as_deref(), Some("16"), "{http:?}");
        let wrong = [("authorization", "Bearer not-a-token-of-this-server")];
        let wrong = grpc_web(
            server.addr,
            http,
            Mode::Text,
            RENDER,
            &render_jane(),
            &wrong,
        )
        .await;
        assert_eq!(wrong.grpc_status.as_deref(), Some("16"), "{http:?}");

        let with_token = [("authorization", bearer.as_str())];
        let allowed = grpc_web(
            server.addr,
            http,
            Mode::Binary,
            RENDER,
            &render_jane(),
            &with_token,
        )
        .await;
        assert_eq!(allowed.grpc_status.as_deref(), Some("0"), "{http:?}");
        // The render role may not write.
        let create = crate::create("demo", "web-hello", "Hi <<contact.first_name>>");
        let denied = grpc_web(
            server.addr,
            http,
            Mode::Binary,
            CREATE,
            &create,
            &with_token,
        )
        .await;
        assert_eq!(denied.grpc_status.as_deref(), Some("7"), "{http:?}");
        assert!(
            denied.grpc_message.unwrap_or_default().contains("Admin"),
            "{http:?}"
        );
    }
}

/// A CORS preflight for a gRPC-Web call from `origin`.
async fn preflight(addr: SocketAddr, origin: &str) -> reqwest::Response {
    http_client(Http::One)
        .request(reqwest::Method::OPTIONS, format!("http://{addr}{RENDER}"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--cors-allowed-origins",
            &format!("{FRONTEND_ORIGIN},http://localhost:5173"),
        ],
    );
    let answer = preflight(server.addr, FRONTEND_ORIGIN).await;
    assert!(answer.status().is_success(), "{answer:?}");
    let allowed = |name: &str| header(answer.headers(), name).unwrap_or_default();
    assert_eq!(allowed("access-control-allow-origin"), FRONTEND_ORIGIN);
    let headers = allowed("access-control-allow-headers");
    for name in [
        "authorization",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "content-type",
    ] {
        assert!(headers.contains(name), "{name} not allowed: {headers}");
    }
    assert!(allowed("access-control-allow-methods").contains("POST"));

    let call = [("origin", FRONTEND_ORIGIN)];
    let reply = grpc_web(
        server.addr,
        Http::One,
        Mode::Binary,
        RENDER,
        &render_jane(),
        &call,
    )
    .await;
    assert_eq!(reply.grpc_status.as_deref(), Some("0"));
    assert_eq!(
        header(&reply.headers, "access-control-allow-origin").as_deref(),
        Some(FRONTEND_ORIGIN)
    );
    let exposed = header(&reply.headers, "access-control-expose-headers").unwrap_or_default();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }

    // Another origin gets no permission.
    let other = preflight(server.addr, "https://evil.example.net").await;
    assert_eq!(header(other.headers(), "access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let server = TestServer::start();
    let answer = preflight(server.addr, FRONTEND_ORIGIN).await;
    let call = [("origin", FRONTEND_ORIGIN)];
    let reply = grpc_web(
        server.addr,
        Http::One,
        Mode::Binary,
        RENDER,
        &render_jane(),
        &call,
    )
    .await;
    assert_eq!(reply.grpc_status.as_deref(), Some("0"));
    for headers in [answer.headers(), &reply.headers] {
        let cors: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(
            cors.is_empty(),
            "CORS headers without configuration: {cors:?}"
        );
    }
}

#[test]
fn an_allowed_origin_that_is_not_an_origin_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["app.example.com", "https://app.example.com/path"] {
        let stderr = refused_start(
            dir.path(),
            &["--cors-allowed-origins".as_ref(), bad.as_ref()],
        );
        assert!(
            stderr.contains("--cors-allowed-origins") && stderr.contains("not an origin"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn the_composer_page_is_served_unless_switched_off() {
    let server = TestServer::start();
    let line = server.wait_for_log(|l| l.contains("composer page at "));
    assert!(line.contains(&format!("http://{}/", server.addr)), "{line}");
    let client = http_client(Http::One);
    let page = client
        .get(format!("http://{}/", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = header(page.headers(), "content-security-policy").unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<script defer src=\"/composer.js\">"),
        "{html}"
    );
    let script = client
        .get(format!("http://{}/composer.js", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(script.headers(), "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.bytes().await.unwrap().len() > 10_000);

    let dir = tempfile::tempdir().unwrap();
    let off = TestServer::start_on(dir.path().join("s.db"), &["--web=false"]);
    let page = client
        .get(format!("http://{}/", off.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 415);
    assert!(!off.log_contains("composer page at"));
    // gRPC-Web still works without the page.
    let reply = grpc_web(
        off.addr,
        Http::One,
        Mode::Binary,
        RENDER,
        &render_jane(),
        &[],
    )
    .await;
    assert_eq!(reply.grpc_status.as_deref(), Some("0"));
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `node script args…` from the repository root and returns its standard output;
/// panics with its output when it fails.
fn node(script: &str, args: &[&str]) -> String {
    let output = Command::new("node")
        .current_dir(repo())
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running node (scripts/test.sh installs it): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "node {script} failed ({}); run `npm ci` in web/ and examples/node/ (scripts/test.sh does)\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

#[tokio::test]
async fn the_composer_page_works_in_a_real_browser() {
    let server = TestServer::start();
    let screenshot = repo().join("target/composer.png");
    let _ = std::fs::remove_file(&screenshot);
    let url = format!("http://{}/", server.addr);
    let out = tokio::task::spawn_blocking(move || {
        node("web/test/browser.mjs", &[&url, "target/composer.png"])
    })
    .await
    .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let text = |key: &str| seen[key].as_str().unwrap_or_default().to_string();
    // The typeahead found `!refund` for `!ref`, with the typed part highlighted, and the
    // keyboard selected it.
    assert!(text("optionText").starts_with("!refund"), "{seen}");
    assert_eq!(text("highlighted"), "ref", "{seen}");
    assert_eq!(text("selected"), "true", "{seen}");
    // RenderShortcut's reply, shown and put into the message.
    assert!(text("reply").starts_with("Hi Jane,"), "{seen}");
    assert!(text("reply").contains("ORD-48213"), "{seen}");
    assert!(text("inserted").starts_with("Hi Jane,"), "{seen}");
    assert!(text("origins").contains("contact"), "{seen}");
    // The editor's preview, then its syntax error with line and column.
    assert!(text("preview").starts_with("Hi Jane"), "{seen}");
    assert!(text("editorError").starts_with("line 2, column "), "{seen}");
    assert_eq!(
        seen["outside"],
        serde_json::json!([]),
        "external fetches: {seen}"
    );
    assert_eq!(seen["consoleErrors"], serde_json::json!([]), "{seen}");
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
}

/// The Node example (`examples/node/client.mjs`) against a fresh server, over native gRPC
/// and over gRPC-Web: Struct as a plain object, uint64 as bigint, enum names, error codes
/// and their structured details.
#[tokio::test]
async fn the_node_example_runs() {
    let server = TestServer::start();
    for protocol in ["grpc", "grpc-web"] {
        let url = server.url();
        let out = tokio::task::spawn_blocking(move || {
            node("examples/node/client.mjs", &[&url, protocol])
        })
        .await
        .unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(out.lines().last().unwrap_or_default()).expect("a JSON summary");
        let case = format!("{protocol}: {summary}");
        // `agent` and `vars` arrived: the Struct form was right.
        let text = summary["text"].as_str().unwrap();
        assert!(text.starts_with("Hi Jane,"), "{case}");
        assert!(
            text.contains("of $42.00") && text.ends_with("Sam"),
            "{case}"
        );
        assert_eq!(summary["missing"], serde_json::json!([]), "{case}");
        assert_eq!(summary["shortcutVersionType"], "bigint", "{case}");
        assert_eq!(summary["origins"][0]["scope"], "contact", "{case}");
        assert!(
            ["UPSTREAM", "CACHE"].contains(&summary["origins"][0]["origin"].as_str().unwrap()),
            "{case}"
        );
        assert_eq!(summary["search"][0]["kind"], "BANG_PREFIX", "{case}");
        // The update's consistency token, passed to a read.
        assert_eq!(
            summary["readYourWrite"]["title"], "Node example (updated)",
            "{case}"
        );
        assert_eq!(
            summary["readYourWrite"]["version"], summary["versions"][1],
            "{case}"
        );
        assert_eq!(summary["stale"]["code"], "FailedPrecondition", "{case}");
        assert_eq!(summary["notFound"]["code"], "NotFound", "{case}");
        assert_eq!(summary["invalid"]["code"], "InvalidArgument", "{case}");
        assert!(
            summary["invalid"]["message"]
                .as_str()
                .unwrap()
                .contains("line 1, column 10"),
            "{case}"
        );
        // Structured details, decoded by Connect from grpc-status-details-bin.
        assert_eq!(summary["stale"]["reason"], "STALE_VERSION", "{case}");
        assert_eq!(
            summary["notFound"]["reason"], "SHORTCUT_NOT_FOUND",
            "{case}"
        );
        assert_eq!(summary["invalid"]["reason"], "INVALID_TEMPLATE", "{case}");
        assert_eq!(summary["invalid"]["metadata"]["line"], "1", "{case}");
        assert_eq!(summary["invalid"]["fields"][0]["field"], "body", "{case}");
        assert_eq!(summary["strict"]["reason"], "MISSING_DATA", "{case}");
        assert_eq!(
            summary["strict"]["preconditions"],
            serde_json::json!([
                {"type": "MISSING_DATA", "subject": "agent.first_name"},
                {"type": "MISSING_DATA", "subject": "vars.coupon"}
            ]),
            "{case}"
        );
    }
}
