//! BatchRender: thousands of recipients with a few bad ones, per-recipient vars and
//! errors, request-level errors up front, back-pressure from a slow reader and
//! cancellation.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use crate::harness::TestServer;
use crate::{DEMO, HOSTILE_CONTACT, JANE, JANE_SESSION, NO_PLAN_CONTACT, assert_status, structure};
use shortcuts::pb;
use shortcuts::pb::batch_render_request::Template;
use shortcuts::pb::batch_render_result::Outcome;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

const LUIS: &str = "0f9d2c44-6a1b-4f7e-8c3d-5e2b7a9f1c22";
const CAMILLE: &str = "e7b3d9f1-4a6c-4e8b-9d2f-6a8c0e2b4d55";

fn recipient(contact_id: &str, session_id: &str) -> pb::BatchRecipient {
    pb::BatchRecipient {
        contact_id: contact_id.into(),
        session_id: session_id.into(),
        vars: None,
    }
}

fn batch(template: Template, recipients: Vec<pb::BatchRecipient>) -> pb::BatchRenderRequest {
    pb::BatchRenderRequest {
        workspace_id: DEMO.into(),
        template: Some(template),
        agent: Some(structure(json!({"first_name": "Sam"}))),
        recipients,
        ..Default::default()
    }
}

/// Reads a whole batch; every index comes exactly once.
async fn collect(
    client: &mut ShortcutServiceClient<Channel>,
    request: pb::BatchRenderRequest,
) -> Vec<Outcome> {
    let total = request.recipients.len();
    let mut stream = client.batch_render(request).await.unwrap().into_inner();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total];
    while let Some(result) = stream.message().await.unwrap() {
        let slot = &mut outcomes[result.index as usize];
        assert!(slot.is_none(), "index {} twice", result.index);
        *slot = result.outcome;
    }
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.unwrap_or_else(|| panic!("no result for index {i}")))
        .collect()
}

/// A `vars` Struct nested deeper than the server accepts.
fn too_deep() -> prost_types::Struct {
    let mut value = json!("bottom");
    for _ in 0..20 {
        value = json!({ "x": value });
    }
    structure(value)
}

#[tokio::test]
async fn ten_thousand_recipients_with_a_few_bad_ones() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let pool = [
        (JANE, JANE_SESSION),
        ("jane.doe@example.com", ""),
        (LUIS, ""),
        (NO_PLAN_CONTACT, ""),
        (HOSTILE_CONTACT, ""),
        (CAMILLE, ""),
        ("camille.dubois@example.fr", ""),
    ];
    // What a single render gives for each recipient of the pool.
    let mut expected = HashMap::new();
    for (contact, session) in pool {
        let single = client
            .render_shortcut(pb::RenderShortcutRequest {
                workspace_id: DEMO.into(),
                shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(
                    "order-status".into(),
                )),
                contact_id: contact.into(),
                session_id: session.into(),
                agent: Some(structure(json!({"first_name": "Sam"}))),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        expected.insert((contact, session), single);
    }

    let mut recipients: Vec<pb::BatchRecipient> = (0..10_000)
        .map(|i| {
            let (contact, session) = pool[i % pool.len()];
            recipient(contact, session)
        })
        .collect();
    let bad: HashMap<usize, (Code, &str)> = HashMap::from([
        (13, (Code::NotFound, "ghost-13")),
        (5_000, (Code::NotFound, "nobody@example.com")),
        (9_999, (Code::NotFound, "session_nope")),
        (777, (Code::InvalidArgument, "recipients[777].vars")),
        (
            4_242,
            (Code::InvalidArgument, "recipients[4242].contact_id"),
        ),
    ]);
    recipients[13] = recipient("ghost-13", "");
    recipients[5_000] = recipient("nobody@example.com", "");
    recipients[9_999] = recipient(JANE, "session_nope");
    recipients[777].vars = Some(too_deep());
    recipients[4_242] = recipient("bell\u{7}", "");

    let request = batch(Template::Bang("!order-status".into()), recipients.clone());
    let outcomes = collect(&mut client, request).await;
    assert_eq!(outcomes.len(), 10_000);
    for (i, outcome) in outcomes.iter().enumerate() {
        match (bad.get(&i), outcome) {
            (Some((code, needle)), Outcome::Error(error)) => {
                assert_eq!(error.code, *code as i32, "index {i}: {error:?}");
                let reason = match code {
                    Code::NotFound => "DATA_NOT_FOUND",
                    _ => "INVALID_FIELD",
                };
                assert_eq!(error.reason, reason, "index {i}");
                assert!(error.message.contains(needle), "index {i}: {error:?}");
            }
            (None, Outcome::Rendered(rendered)) => {
                let r = &recipients[i];
                let single = &expected[&(r.contact_id.as_str(), r.session_id.as_str())];
                // Where the data came from (cache or upstream, and its age) differs by timing.
                let without_origins = |r: &pb::RenderResponse| pb::RenderResponse {
                    data_origins: vec![],
                    ..r.clone()
                };
                assert_eq!(
                    without_origins(rendered),
                    without_origins(single),
                    "index {i}"
                );
            }
            (_, other) => panic!("index {i}: unexpected {other:?}"),
        }
    }
    server.wait_for_log(|l| {
        l.contains("batch done") && l.contains("rendered=9995") && l.contains("failed=5")
    });
}

#[tokio::test]
async fn inline_templates_take_each_recipients_vars_and_strict_fails_only_that_one() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let recipients: Vec<pb::BatchRecipient> = [JANE, CAMILLE, NO_PLAN_CONTACT, LUIS]
        .iter()
        .enumerate()
        .map(|(i, contact)| pb::BatchRecipient {
            vars: Some(structure(json!({"code": format!("CODE-{i}")}))),
            ..recipient(contact, "")
        })
        .collect();
    let mut request = batch(
        Template::Body("<<contact.first_name>>: <<vars.code>> from <<agent.first_name>>".into()),
        recipients,
    );
    request.strict = true;
    request.locale = "fr-FR".into();
    let outcomes = collect(&mut client, request).await;
    let texts: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Rendered(r) => {
                assert_eq!(r.shortcut_id, "");
                r.text.clone()
            }
            Outcome::Error(e) => format!("{} {}", e.code, e.message),
            Outcome::Summary(s) => panic!("a summary in a batch without audience: {s:?}"),
        })
        .collect();
    assert_eq!(texts[0], "Jane: CODE-0 from Sam");
    assert_eq!(texts[1], "Camille: CODE-1 from Sam");
    assert!(
        texts[2].starts_with(&format!("{} ", Code::FailedPrecondition as i32))
            && texts[2].contains("contact.first_name"),
        "{}",
        texts[2]
    );
    assert_eq!(texts[3], "Luis: CODE-3 from Sam");
}

#[tokio::test]
async fn request_level_problems_fail_the_call_up_front() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let one = || vec![recipient(JANE, "")];

    let result = client
        .batch_render(batch(Template::Bang("no-such".into()), one()))
        .await;
    assert_status(result, Code::NotFound, &["no-such"]);

    let result = client
        .batch_render(batch(Template::Body("Hi {% if %}".into()), one()))
        .await;
    assert_status(result, Code::InvalidArgument, &["body", "line 1"]);

    let too_many: Vec<_> = (0..10_001).map(|_| recipient(JANE, "")).collect();
    let result = client
        .batch_render(batch(Template::Bang("hello".into()), too_many))
        .await;
    assert_status(result, Code::InvalidArgument, &["recipients", "10000"]);

    let result = client
        .batch_render(batch(Template::Bang("hello".into()), vec![]))
        .await;
    assert_status(result, Code::InvalidArgument, &["recipients"]);

    let mut no_template = batch(Template::Bang("hello".into()), one());
    no_template.template = None;
    let result = client.batch_render(no_template).await;
    assert_status(result, Code::InvalidArgument, &["body"]);

    let mut bad_locale = batch(Template::Bang("hello".into()), one());
    bad_locale.locale = "fr FR; drop".into();
    let result = client.batch_render(bad_locale).await;
    assert_status(result, Code::InvalidArgument, &["locale"]);

    let hello = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("hello".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: hello.id.clone(),
            version: hello.version,
            disabled: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let result = client
        .batch_render(batch(Template::Id(hello.id), one()))
        .await;
    assert_status(result, Code::FailedPrecondition, &["disabled"]);
}

/// The number after `done=` in a log line.
fn done_count(line: &str) -> usize {
    let digits: String = line
        .split("done=")
        .nth(1)
        .unwrap_or_else(|| panic!("no done= in {line:?}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_pauses_the_batch_and_cancelling_stops_it() {
    let server = TestServer::start();
    // A client that takes at most 64 KiB of results before it reads them.
    let channel = Endpoint::from_shared(server.url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut client = ShortcutServiceClient::new(channel);
    let total = 10_000;
    // About 2 KB per result.
    let body = "<<contact.first_name>> {% for i in range(100) %}0123456789abcdefghij{% endfor %}";
    let request = batch(
        Template::Body(body.into()),
        (0..total).map(|_| recipient(JANE, "")).collect(),
    );
    let mut stream = client.batch_render(request).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().expect("a first result");
    assert!(matches!(first.outcome, Some(Outcome::Rendered(_))));

    // Not reading any more: the server stops rendering instead of buffering the batch.
    let paused =
        tokio::task::block_in_place(|| server.wait_for_log(|l| l.contains("batch paused")));
    let done_when_paused = done_count(&paused);
    assert!(done_when_paused < total / 4, "{paused}");

    drop(stream);
    drop(client);
    let started = std::time::Instant::now();
    let cancelled =
        tokio::task::block_in_place(|| server.wait_for_log(|l| l.contains("batch cancelled")));
    assert!(started.elapsed() < Duration::from_secs(5));
    let done_when_cancelled = done_count(&cancelled);
    assert!(
        done_when_cancelled <= done_when_paused + 16,
        "{paused}\n{cancelled}"
    );
}
