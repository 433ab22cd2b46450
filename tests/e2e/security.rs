//! Access control, TLS and the no-auth mode.

use std::process::{Command, Stdio};

use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create, inline};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

const RENDER_TOKEN: &str = "render-token-for-demo-0001";
const ADMIN_TOKEN: &str = "admin-token-everywhere-0002";

fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tokens.toml");
    let admin_digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(ADMIN_TOKEN.as_bytes()))
    };
    std::fs::write(
        &path,
        format!(
            r#"
[[tokens]]
name = "chat-frontend"
token = "{RENDER_TOKEN}"
role = "render"
workspaces = ["demo"]

[[tokens]]
name = "ops"
sha256 = "{admin_digest}"
role = "admin"
workspaces = ["*"]
"#
        ),
    )
    .unwrap();
    path
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test]
async fn tokens_are_bound_to_workspaces_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &["--auth-tokens", tokens.to_str().unwrap()],
    );
    let mut client = server.client().await;

    assert_status(
        client.render_template(inline("x", JANE)).await,
        Code::Unauthenticated,
        &["authorization"],
    );
    assert_status(
        client
            .render_template(with_token(inline("x", JANE), "Bearer-but-wrong-0000000"))
            .await,
        Code::Unauthenticated,
        &["not valid"],
    );
    let reply = client
        .render_template(with_token(inline("<<contact.plan>>", JANE), RENDER_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "pro");
    assert_status(
        client
            .create_shortcut(with_token(create(DEMO, "nope", "x"), RENDER_TOKEN))
            .await,
        Code::PermissionDenied,
        &["Admin"],
    );

    // Prefetch is a render-role call, checked like every other.
    let prefetch = |workspace: &str| pb::PrefetchRequest {
        workspace_id: workspace.into(),
        contact_id: JANE.into(),
        session_id: String::new(),
    };
    assert_status(
        client.prefetch(prefetch(DEMO)).await,
        Code::Unauthenticated,
        &["authorization"],
    );
    client
        .prefetch(with_token(prefetch(DEMO), RENDER_TOKEN))
        .await
        .unwrap();
    assert_status(
        client
            .prefetch(with_token(prefetch("acme"), RENDER_TOKEN))
            .await,
        Code::PermissionDenied,
        &["acme"],
    );

    // Another workspace: refused the same way whether or not the shortcut exists there.
    let created = client
        .create_shortcut(with_token(create("acme", "exists", "x"), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    let get = |key: pb::get_shortcut_request::Key| pb::GetShortcutRequest {
        workspace_id: "acme".into(),
        key: Some(key),
        ..Default::default()
    };
    let existing = assert_status(
        client
            .get_shortcut(with_token(
                get(pb::get_shortcut_request::Key::Id(created.id)),
                RENDER_TOKEN,
            ))
            .await,
        Code::PermissionDenied,
        &["acme"],
    );
    let missing = assert_status(
        client
            .get_shortcut(with_token(
                get(pb::get_shortcut_request::Key::Id("0123abcd".into())),
                RENDER_TOKEN,
            ))
            .await,
        Code::PermissionDenied,
        &["acme"],
    );
    assert_eq!(existing.message(), missing.message());

    // Health and reflection stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();

    let log = server.wait_for_log(|l| l.contains("authentication is on"));
    assert!(log.contains("tokens=2"), "{log}");
    server.wait_for_log(|l| {
        l.contains("RenderTemplate") && l.contains("status=PermissionDenied")
            || l.contains("CreateShortcut") && l.contains("status=PermissionDenied")
    });
    assert!(
        !server.log_contains(RENDER_TOKEN) && !server.log_contains(ADMIN_TOKEN),
        "a token was logged"
    );
}

#[tokio::test]
async fn without_tokens_only_loopback_or_explicit_no_auth() {
    let server = TestServer::start();
    server.wait_for_log(|l| l.contains("AUTHENTICATION IS OFF"));
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shortcuts"))
        .args(["--listen", "0.0.0.0:0", "--store"])
        .arg(dir.path().join("s.db"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without authentication") && stderr.contains("--no-auth"),
        "{stderr}"
    );
}

#[tokio::test]
async fn tls_serves_with_a_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(generated.cert.pem()))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("a TLS connection");
    let reply = ShortcutServiceClient::new(channel)
        .render_template(inline("<<contact.first_name>>", JANE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Jane");

    // A plaintext client gets no answer from the TLS port.
    let mut plain = server.client().await;
    // (Which transport error it sees depends on timing; that it fails is the point.)
    plain
        .render_template(inline("x", JANE))
        .await
        .expect_err("plaintext to a TLS port fails");
}
