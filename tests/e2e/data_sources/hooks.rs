//! Crisp web hooks and configuration against the fake Crisp API: each signed hook is
//! accepted once, bodies signed as Crisp's Node client signs them are accepted, a website's
//! secret applies to every workspace on it, and a base URL that leads nowhere is a
//! configuration error rather than "no such contact".

use std::time::{SystemTime, UNIX_EPOCH};

use shortcuts::data::webhook::sign;
use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;
use tonic::Code;

use super::fakes::{self, EMAIL, PEOPLE_ID, SESSION};
use super::{HOOK_SECRET, Setup, Upstream, origin, render};
use crate::assert_status;
use crate::harness::{TestServer, refused_start};

fn hook_url(server: &TestServer) -> String {
    let line = server.wait_for_log(|l| l.contains("crisp web hooks accepted at "));
    line.split("crisp web hooks accepted at ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string()
}

fn now_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

async fn post(url: &str, timestamp: &str, body: &str, signature: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-crisp-request-timestamp", timestamp)
        .header("x-crisp-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn profile_updated() -> String {
    serde_json::json!({
        "website_id": fakes::WEBSITE,
        "event": "people:profile:updated",
        "data": {"website_id": fakes::WEBSITE, "people_id": PEOPLE_ID, "email": EMAIL},
        "timestamp": 1700000000123u64
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_hook_is_accepted_once() {
    let setup = Setup::start(Upstream::Crisp, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let url = hook_url(&setup.server);
    let mut client = setup.server.client().await;
    client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap();
    let timestamp = now_millis();
    let body = profile_updated();
    let signature = sign(HOOK_SECRET, &timestamp, body.as_bytes());
    assert_eq!(post(&url, &timestamp, &body, &signature).await.0, 200);
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    let calls = setup.contact_calls();
    assert_eq!(calls, 2);

    // The same hook again (also with the signature in upper case) changes nothing.
    for i in 0..20 {
        let signature = if i % 2 == 0 {
            signature.clone()
        } else {
            signature.to_uppercase()
        };
        let (status, text) = post(&url, &timestamp, &body, &signature).await;
        assert_eq!(status, 409, "replay {i}: {text}");
        assert!(text.contains("already accepted"), "{text}");
        let reply = client
            .render_template(render(PEOPLE_ID, SESSION))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(origin(&reply, "contact").0, Origin::Cache, "replay {i}");
    }
    assert_eq!(
        setup.contact_calls(),
        calls,
        "replays cost no upstream fetch"
    );
    setup
        .server
        .wait_for_log(|l| l.contains("refused a replayed web hook"));

    // A new hook (new timestamp, so a new signature) is accepted.
    let later = (timestamp.parse::<u64>().unwrap() + 1).to_string();
    let signature = sign(HOOK_SECRET, &later, body.as_bytes());
    assert_eq!(post(&url, &later, &body, &signature).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pretty_printed_body_signed_over_its_compact_form_is_accepted() {
    let setup = Setup::start(Upstream::Crisp, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let url = hook_url(&setup.server);
    let mut client = setup.server.client().await;
    client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap();
    // The sender's key order (not sorted), as `JSON.stringify(body, null, 2)` writes it...
    let pretty = format!(
        "{{\n  \"website_id\": \"{w}\",\n  \"event\": \"people:profile:updated\",\n  \"data\": {{\n    \"website_id\": \"{w}\",\n    \"people_id\": \"{PEOPLE_ID}\",\n    \"email\": \"{EMAIL}\",\n    \"update\": {{\n      \"person\": {{\n        \"nickname\": \"Ada King \\u00e9\"\n      }},\n      \"score\": 7.50\n    }}\n  }},\n  \"timestamp\": 1700000000123\n}}",
        w = fakes::WEBSITE
    );
    // ... and `JSON.stringify(body)`, which Crisp's Node client signs.
    let compact = format!(
        "{{\"website_id\":\"{w}\",\"event\":\"people:profile:updated\",\"data\":{{\"website_id\":\"{w}\",\"people_id\":\"{PEOPLE_ID}\",\"email\":\"{EMAIL}\",\"update\":{{\"person\":{{\"nickname\":\"Ada King é\"}},\"score\":7.5}}}},\"timestamp\":1700000000123}}",
        w = fakes::WEBSITE
    );
    let timestamp = now_millis();
    let signature = sign(HOOK_SECRET, &timestamp, compact.as_bytes());
    let forged = sign("not-the-secret", &timestamp, compact.as_bytes());
    assert_eq!(post(&url, &timestamp, &pretty, &forged).await.0, 401);
    let (status, text) = post(&url, &timestamp, &pretty, &signature).await;
    assert_eq!(status, 200, "{text}");
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    // The raw form keeps working, and is the same hook: its replay is refused.
    assert_eq!(post(&url, &timestamp, &compact, &signature).await.0, 409);
}

/// A sources file with workspaces `ws0`..`wsN` all on the fake's Crisp website.
fn shared_website_sources(
    dir: &std::path::Path,
    base_url: &str,
    secrets: &[Option<&str>],
) -> std::path::PathBuf {
    let mut text = String::from("[default]\ntype = \"file\"\n");
    for (i, secret) in secrets.iter().enumerate() {
        text.push_str(&format!(
            "\n[workspaces.ws{i}]\ntype = \"crisp\"\nbase_url = \"{base_url}\"\nwebsite_id = \"{}\"\nidentifier = \"{}\"\nkey = \"{}\"\n",
            fakes::WEBSITE,
            fakes::IDENTIFIER,
            fakes::KEY
        ));
        if let Some(secret) = secret {
            text.push_str(&format!("webhook_secret = \"{secret}\"\n"));
        }
    }
    let path = dir.join("sources.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn contact_request(workspace: &str) -> pb::RenderTemplateRequest {
    pb::RenderTemplateRequest {
        workspace_id: workspace.into(),
        body: "<<contact.plan>>".into(),
        contact_id: PEOPLE_ID.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websites_secret_applies_to_all_its_workspaces() {
    let fake = fakes::crisp().await;
    let dir = tempfile::tempdir().unwrap();
    // Eight workspaces on one website, the secret set on one of them only: whichever order
    // the tables are read in, that secret signs every one's hooks.
    let mut secrets = vec![None; 8];
    secrets[5] = Some(HOOK_SECRET);
    let sources = shared_website_sources(dir.path(), &format!("http://{}/v1", fake.addr), &secrets);
    // Which table was read first used to decide, so it varied from one start to the next:
    // several starts must all agree.
    for start in 0..4 {
        let server = tokio::task::block_in_place(|| {
            TestServer::start_on(
                dir.path().join("s.db"),
                &[
                    "--data-sources",
                    sources.to_str().unwrap(),
                    "--webhook-listen",
                    "127.0.0.1:0",
                ],
            )
        });
        let url = hook_url(&server);
        assert!(
            !server.log_contains("no Crisp source has a `webhook_secret`"),
            "start {start}: the start log claims no secret is set"
        );
        let mut client = server.client().await;
        for i in 0..8 {
            let reply = client
                .render_template(contact_request(&format!("ws{i}")))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.text, "enterprise");
        }
        let timestamp = now_millis();
        let body = profile_updated();
        let signature = sign(HOOK_SECRET, &timestamp, body.as_bytes());
        let (status, text) = post(&url, &timestamp, &body, &signature).await;
        assert_eq!(status, 200, "start {start}: {text}");
        for i in 0..8 {
            let reply = client
                .render_template(contact_request(&format!("ws{i}")))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                origin(&reply, "contact").0,
                Origin::Upstream,
                "start {start}: ws{i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_secrets_for_one_website_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let sources = shared_website_sources(
        dir.path(),
        "http://127.0.0.1:9/v1",
        &[None, Some("first-secret"), None, Some("second-secret")],
    );
    let stderr = refused_start(
        dir.path(),
        &["--data-sources".as_ref(), sources.as_os_str()],
    );
    assert!(
        stderr.contains("[workspaces.ws1] and [workspaces.ws3]")
            && stderr.contains("webhook_secret")
            && stderr.contains(fakes::WEBSITE),
        "{stderr}"
    );
    assert!(
        !stderr.contains("first-secret") && !stderr.contains("second-secret"),
        "a secret was printed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_without_v1_is_a_configuration_error() {
    let fake = fakes::crisp().await;
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("http://{}", fake.addr);
    let sources = shared_website_sources(dir.path(), &base_url, &[None]);
    let server = tokio::task::block_in_place(|| {
        TestServer::start_on(
            dir.path().join("s.db"),
            &["--data-sources", sources.to_str().unwrap()],
        )
    });
    let mut client = server.client().await;
    let status = assert_status(
        client.render_template(contact_request("ws0")).await,
        Code::FailedPrecondition,
        &[
            "base_url",
            &format!("{base_url:?}"),
            "/v1",
            "route_not_found",
        ],
    );
    assert!(
        !status.message().contains("credentials"),
        "{}",
        status.message()
    );
    let mut session = contact_request("ws0");
    session.contact_id.clear();
    session.session_id = SESSION.into();
    session.body = "<<session.order_id>>".into();
    assert_status(
        client.render_template(session).await,
        Code::FailedPrecondition,
        &["base_url"],
    );
}
