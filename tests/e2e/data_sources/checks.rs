//! The checks, each run against both upstreams (see `for_both_upstreams!`).

use std::time::{Duration, Instant};

use base64::Engine as _;
use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;
use tonic::Code;

use super::fakes::{self, EMAIL, Mode, PEOPLE_ID, SESSION};
use super::{EXPECTED, HOOK_SECRET, Setup, Upstream, WORKSPACE, origin, render};
use crate::assert_status;
use crate::harness::TestServer;

pub async fn fields_mapped_then_cached(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    let mut client = setup.server.client().await;

    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, EXPECTED);
    assert!(reply.missing.is_empty(), "{:?}", reply.missing);
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    assert_eq!(origin(&reply, "session").0, Origin::Upstream);
    assert!(
        reply
            .data_origins
            .iter()
            .all(|o| o.source == upstream.source_name())
    );

    // Native fields, custom data beside them and raw under `data` (the custom `email`
    // collides with the profile's).
    let mut request = render(PEOPLE_ID, SESSION);
    request.body = "<<contact.email>>|<<contact.data.email>>|<<contact.seats>>|<<session.subject>>|<<session.data.cart_total>>".into();
    let reply = client.render_template(request).await.unwrap().into_inner();
    let expected_custom_email = match upstream {
        Upstream::Crisp => "billing@engines.example.com",
        Upstream::Grpc => "",
    };
    assert_eq!(
        reply.text,
        format!("{EMAIL}|{expected_custom_email}|42|Where is my order?|129.5")
    );
    assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    assert_eq!(origin(&reply, "session").0, Origin::Cache);
    for endpoint in upstream.contact_endpoints() {
        assert_eq!(setup.fake.state.count(endpoint), 1, "{endpoint}");
    }
    assert_eq!(setup.session_calls(), 1);

    // The same contact by its email: the fetch by people id filled that entry too.
    let reply = client
        .render_template(render(EMAIL, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    for endpoint in upstream.contact_endpoints() {
        assert_eq!(setup.fake.state.count(endpoint), 1, "{endpoint}");
    }
    client
        .invalidate_contact(pb::InvalidateContactRequest {
            workspace_id: WORKSPACE.into(),
            id: PEOPLE_ID.into(),
        })
        .await
        .unwrap();

    // The email as people id, as Crisp allows: one path segment, percent-encoded.
    let reply = client
        .render_template(render(EMAIL, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(
        reply
            .text
            .starts_with("Ada|Analytical Engines|GB|enterprise|"),
        "{}",
        reply.text
    );
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    assert_eq!(
        reply.data_origins.len(),
        1,
        "no session id, no session origin"
    );

    if upstream == Upstream::Crisp {
        let calls = setup.fake.state.calls();
        let by_email: Vec<_> = calls
            .iter()
            .filter(|c| c.target.contains("ada%40example.com"))
            .collect();
        assert_eq!(by_email.len(), 2, "{calls:?}");
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            fakes::IDENTIFIER,
            fakes::KEY
        ));
        for call in &calls {
            assert_eq!(call.authorization, format!("Basic {token}"));
            assert_eq!(call.tier, "plugin");
        }
    }
}

pub async fn concurrent_cold_renders_make_one_call(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    // Slow enough that all 100 renders arrive while the first fetch is in flight.
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(300)));
    let channel = setup.server.channel().await;
    let renders = (0..100).map(|_| {
        let mut client = pb::shortcut_service_client::ShortcutServiceClient::new(channel.clone());
        async move { client.render_template(render(PEOPLE_ID, "")).await }
    });
    let started = Instant::now();
    let replies = futures::future::join_all(renders).await;
    eprintln!(
        "{upstream:?}: 100 concurrent cold renders (upstream answers in 300 ms) took {:?}",
        started.elapsed()
    );
    for reply in replies {
        let reply = reply.expect("every render succeeds").into_inner();
        assert!(reply.text.starts_with("Ada|"), "{}", reply.text);
    }
    for endpoint in upstream.contact_endpoints() {
        assert_eq!(
            setup.fake.state.count(endpoint),
            1,
            "{endpoint}: {:?}",
            fakes::tally(&setup.fake.state)
        );
    }
}

pub async fn ttl_expiry_fetches_again(upstream: Upstream) {
    // Cache-aside: refresh-ahead (fresh.rs) would keep the entry being read from expiring.
    let setup = Setup::start(upstream, "ttl = \"300ms\"\nrefresh_ahead = \"0%\"", &[]).await;
    let mut client = setup.server.client().await;
    let first = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&first, "contact").0, Origin::Upstream);
    let started = Instant::now();
    // Renders are served from the cache until the entry expires, then fetched once more.
    loop {
        let reply = client
            .render_template(render(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner();
        match origin(&reply, "contact").0 {
            Origin::Cache => assert_eq!(setup.contact_calls(), 1),
            Origin::Upstream => break,
            other => panic!("unexpected origin {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "expired too early"
    );
    assert_eq!(setup.contact_calls(), 2);
}

pub async fn invalidation_fetches_again(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    let mut client = setup.server.client().await;
    client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap();
    let cached = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&cached, "contact").0, Origin::Cache);
    assert_eq!((setup.contact_calls(), setup.session_calls()), (1, 1));

    client
        .invalidate_contact(pb::InvalidateContactRequest {
            workspace_id: WORKSPACE.into(),
            id: PEOPLE_ID.into(),
        })
        .await
        .unwrap();
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    assert_eq!(origin(&reply, "session").0, Origin::Cache);
    assert_eq!((setup.contact_calls(), setup.session_calls()), (2, 1));

    client
        .invalidate_session(pb::InvalidateSessionRequest {
            workspace_id: WORKSPACE.into(),
            id: SESSION.into(),
        })
        .await
        .unwrap();
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "session").0, Origin::Upstream);
    assert_eq!((setup.contact_calls(), setup.session_calls()), (2, 2));

    // A contact cached under its email is dropped by its people id too (fetched by
    // people id above, so its email's entry came from that one fetch).
    let reply = client
        .render_template(render(EMAIL, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    assert_eq!(setup.contact_calls(), 2);
    client
        .invalidate_contact(pb::InvalidateContactRequest {
            workspace_id: WORKSPACE.into(),
            id: PEOPLE_ID.into(),
        })
        .await
        .unwrap();
    let reply = client
        .render_template(render(EMAIL, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);

    assert_status(
        client
            .invalidate_contact(pb::InvalidateContactRequest {
                workspace_id: WORKSPACE.into(),
                id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["id"],
    );
}

pub async fn invalidation_during_a_fetch_is_not_lost(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(400)));
    let mut client = setup.server.client().await;
    let mut renderer = client.clone();
    let render_task =
        tokio::spawn(async move { renderer.render_template(render(PEOPLE_ID, "")).await });
    // Invalidate while the first fetch is in flight (the fake has seen the call).
    let started = Instant::now();
    while setup.contact_calls() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the fetch never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client
        .invalidate_contact(pb::InvalidateContactRequest {
            workspace_id: WORKSPACE.into(),
            id: PEOPLE_ID.into(),
        })
        .await
        .unwrap();
    let first = render_task.await.unwrap().unwrap().into_inner();
    assert_eq!(origin(&first, "contact").0, Origin::Upstream);
    // The data fetched before the invalidation is not kept as fresh.
    setup.fake.state.set_mode(Mode::Normal);
    let next = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&next, "contact").0, Origin::Upstream);
    assert_eq!(setup.contact_calls(), 2);
}

pub async fn unknown_ids_are_not_found_and_remembered(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    let mut client = setup.server.client().await;
    for _ in 0..3 {
        assert_status(
            client.render_template(render("gone-contact", "")).await,
            Code::NotFound,
            &["contact", "gone-contact"],
        );
    }
    assert_eq!(setup.contact_calls(), 1, "the answer is cached briefly");
    assert_status(
        client.render_template(render("", "session_gone")).await,
        Code::NotFound,
        &["session", "session_gone"],
    );
}

pub async fn rejected_credentials_are_a_configuration_error(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    setup.fake.state.set_mode(Mode::Unauthorized);
    let mut client = setup.server.client().await;
    let status = assert_status(
        client.render_template(render(PEOPLE_ID, "")).await,
        Code::FailedPrecondition,
        &["credentials", upstream.source_name(), "--data-sources"],
    );
    if upstream == Upstream::Crisp {
        assert!(
            status.message().contains("identifier"),
            "{}",
            status.message()
        );
    }
    assert_eq!(setup.contact_calls(), 1, "credentials are not retried");
}

pub async fn rate_limit_is_waited_out(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    setup.fake.state.set_mode(Mode::RateLimited {
        times: 1,
        retry_after_secs: 1,
    });
    let mut client = setup.server.client().await;
    let reply = client
        .render_template(render("", SESSION))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.text.ends_with("|ORD-7|Paris"), "{}", reply.text);
    let calls: Vec<_> = setup
        .fake
        .state
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == upstream.session_endpoint())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    if upstream == Upstream::Crisp {
        let waited = calls[1].at - calls[0].at;
        eprintln!("429 with Retry-After: 1 -> retried after {waited:?}");
        assert!(
            waited >= Duration::from_secs(1),
            "retried after {waited:?}, before Retry-After"
        );
        assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    }
}

pub async fn upstream_down_serves_stale_data(upstream: Upstream) {
    let setup = Setup::start(
        upstream,
        "ttl = \"200ms\"\nstale_grace = \"1m\"\nretries = 1",
        &[],
    )
    .await;
    let mut client = setup.server.client().await;
    let fresh = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.text, EXPECTED);
    setup.fake.state.set_mode(Mode::Down);
    // Let the entries expire (the TTL is what is being tested).
    tokio::time::sleep(Duration::from_millis(250)).await;
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, EXPECTED);
    let (contact, age) = origin(&reply, "contact");
    assert_eq!(contact, Origin::Stale);
    assert!(age >= Duration::from_millis(200), "{age:?}");
    assert_eq!(origin(&reply, "session").0, Origin::Stale);
    // One fetch, then the failed attempts (one retry); under load the retry may be cut short
    // by the attempt budget, which is why one failed attempt is accepted too.
    let calls = setup.contact_calls();
    assert!(
        (2..=3).contains(&calls),
        "one fetch and failed attempts: {calls}"
    );
}

pub async fn upstream_down_with_nothing_cached(upstream: Upstream) {
    let setup = Setup::start(upstream, "retries = 2", &[]).await;
    setup.fake.state.set_mode(Mode::Down);
    let mut client = setup.server.client().await;
    assert_status(
        client.render_template(render(PEOPLE_ID, SESSION)).await,
        Code::Unavailable,
        &[upstream.source_name(), "3 attempt"],
    );

    // Best effort: the scopes are empty and their placeholders reported missing.
    let mut request = render(PEOPLE_ID, SESSION);
    request.best_effort = true;
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert_eq!(reply.text, "|||||");
    assert!(
        reply.missing.contains(&"contact.first_name".to_string()),
        "{:?}",
        reply.missing
    );
    assert!(
        reply.missing.contains(&"session.order_id".to_string()),
        "{:?}",
        reply.missing
    );
    assert_eq!(origin(&reply, "contact").0, Origin::Absent);
    assert_eq!(origin(&reply, "session").0, Origin::Absent);

    // Back up: the next render fetches (failures are not cached).
    setup.fake.state.set_mode(Mode::Normal);
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, EXPECTED);
}

pub async fn slow_upstream_meets_the_callers_deadline(upstream: Upstream) {
    let setup = Setup::start(upstream, "timeout = \"10s\"", &[]).await;
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_secs(5)));
    let mut client = setup.server.client().await;
    // Long enough that the server's margin (a tenth, at most 100 ms) absorbs the scheduling
    // delays of a CI machine running many servers at once.
    let deadline = Duration::from_secs(2);
    let mut request = tonic::Request::new(render(PEOPLE_ID, ""));
    // The deadline travels as `grpc-timeout` without the client enforcing it too, so that
    // what is checked is the server's own answer, not the client's timer racing it.
    request.metadata_mut().insert(
        "grpc-timeout",
        format!("{}m", deadline.as_millis()).parse().unwrap(),
    );
    let started = Instant::now();
    let result = client.render_template(request).await;
    let elapsed = started.elapsed();
    eprintln!("{upstream:?}: DEADLINE_EXCEEDED after {elapsed:?} for a {deadline:?} deadline");
    let status = assert_status(result, Code::DeadlineExceeded, &[]);
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(2500),
        "answered after {elapsed:?} for a {deadline:?} deadline"
    );
    // Our own answer (naming the source), not the transport giving up.
    assert!(
        status.message().contains(upstream.source_name()),
        "{}",
        status.message()
    );

    // With best effort, the same deadline renders without the contact.
    let mut body = render(PEOPLE_ID, "");
    body.best_effort = true;
    let mut request = tonic::Request::new(body);
    // The deadline travels as `grpc-timeout` without the client enforcing it too, so that
    // what is checked is the server's own answer, not the client's timer racing it.
    request.metadata_mut().insert(
        "grpc-timeout",
        format!("{}m", deadline.as_millis()).parse().unwrap(),
    );
    let started = Instant::now();
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert_eq!(origin(&reply, "contact").0, Origin::Absent);
    assert!(reply.missing.contains(&"contact.plan".to_string()));
}

pub async fn web_hooks(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let line = setup
        .server
        .wait_for_log(|l| l.contains("crisp web hooks accepted at "));
    let url = line
        .split("crisp web hooks accepted at ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let mut client = setup.server.client().await;
    client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap();
    assert_eq!((setup.contact_calls(), setup.session_calls()), (1, 1));

    let http = reqwest::Client::new();
    let now_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let timestamp = now_millis.to_string();
    let post_at = |timestamp: String, body: String, signature: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(&url)
                .header("content-type", "application/json")
                .header("x-crisp-request-timestamp", timestamp)
                .header("x-crisp-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let post = |body: String, signature: String| post_at(timestamp.clone(), body, signature);
    let profile_updated = serde_json::json!({
        "website_id": fakes::WEBSITE,
        "event": "people:profile:updated",
        "data": {
            "website_id": fakes::WEBSITE,
            "people_id": PEOPLE_ID,
            "email": EMAIL,
            "update": {"updated_at": 1700000000123u64, "person": {"nickname": "Ada King"}}
        },
        "timestamp": 1700000000123u64
    })
    .to_string();

    let forged =
        shortcuts::data::webhook::sign("not-the-secret", &timestamp, profile_updated.as_bytes());
    assert_eq!(post(profile_updated.clone(), forged).await, 401);
    assert_eq!(post(profile_updated.clone(), "".into()).await, 401);
    // Correctly signed, but ten minutes old: a replay.
    let old = (now_millis - 600_000).to_string();
    let replayed = shortcuts::data::webhook::sign(HOOK_SECRET, &old, profile_updated.as_bytes());
    assert_eq!(post_at(old, profile_updated.clone(), replayed).await, 401);
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        origin(&reply, "contact").0,
        Origin::Cache,
        "a refused hook invalidates nothing"
    );

    let signature =
        shortcuts::data::webhook::sign(HOOK_SECRET, &timestamp, profile_updated.as_bytes());
    assert_eq!(post(profile_updated, signature).await, 200);
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
    assert_eq!(origin(&reply, "session").0, Origin::Cache);

    let session_data = serde_json::json!({
        "website_id": fakes::WEBSITE,
        "event": "session:set_data",
        "data": {"website_id": fakes::WEBSITE, "session_id": SESSION, "inbox_id": null, "data": {"order_id": "ORD-8"}},
        "timestamp": 1700000000456u64
    })
    .to_string();
    let signature =
        shortcuts::data::webhook::sign(HOOK_SECRET, &timestamp, session_data.as_bytes());
    let posted = Instant::now();
    assert_eq!(post(session_data, signature).await, 200);
    // The changed session is dropped and (a conversation event: fresh.rs) fetched again at
    // once, so the render that follows gets the new data without waiting for it.
    let started = Instant::now();
    while setup.session_calls() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    let (from, age) = origin(&reply, "session");
    assert_ne!(from, Origin::Stale);
    assert!(
        age <= posted.elapsed(),
        "data from before the hook: {age:?}"
    );
}

pub async fn file_source_origins() {
    let server = tokio::task::block_in_place(TestServer::start);
    let mut client = server.client().await;
    let request = || crate::inline("<<contact.plan>>", crate::JANE);
    let first = client
        .render_template(request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.text, "pro");
    assert_eq!(first.data_origins.len(), 1);
    assert_eq!(first.data_origins[0].source, "file");
    assert_eq!(origin(&first, "contact").0, Origin::Upstream);
    let second = client
        .render_template(request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&second, "contact").0, Origin::Cache);
}
