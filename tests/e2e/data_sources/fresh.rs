//! Agents never wait for the source (issue 19), against the fake Crisp API and the fake gRPC
//! upstream: refresh-ahead of entries being read, prefetch on Crisp web hooks and through
//! the `Prefetch` RPC, the per-source request budget (renders first, background work
//! dropped, a 429 pausing the whole source) and freshness stated in `data_origins`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shortcuts::data::webhook::sign;
use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;
use tonic::Code;

use super::fakes::{self, EMAIL, Mode, PEOPLE_ID, SESSION};
use super::{HOOK_SECRET, Setup, Upstream, WORKSPACE, origin, render};
use crate::assert_status;

/// Polls `condition` (a fake's call count, a metric) until it holds, for at most 10 s.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn prefetch(contact: &str, session: &str) -> pb::PrefetchRequest {
    pb::PrefetchRequest {
        workspace_id: WORKSPACE.into(),
        contact_id: contact.into(),
        session_id: session.into(),
    }
}

/// Entries read in the last half of their 1 s life are refreshed in the background: a
/// reader keeps getting cached data (never older than the TTL) while the source is called
/// about once per TTL; with `"0%"` the reader waits for the source at each expiry.
pub async fn refresh_ahead_keeps_read_entries_warm(upstream: Upstream) {
    let setup = Setup::start(upstream, "ttl = \"1s\"\nrefresh_ahead = \"50%\"", &[]).await;
    let mut client = setup.server.client().await;
    let first = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&first, "contact").0, Origin::Upstream);
    // A slow source from now on: a reader that waited for it would take 300 ms.
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(300)));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(3500) {
        let asked = Instant::now();
        let reply = client
            .render_template(render(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner();
        slowest = slowest.max(asked.elapsed());
        let (from, age) = origin(&reply, "contact");
        assert_eq!(
            from,
            Origin::Cache,
            "a reader waited, at {:?}",
            started.elapsed()
        );
        assert!(
            age < Duration::from_secs(1),
            "served older than the ttl: {age:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = setup.contact_calls();
    eprintln!("{upstream:?}: 3.5 s of reads, {calls} fetches, slowest render {slowest:?}");
    assert!(
        (3..=8).contains(&calls),
        "about one refresh per ttl: {calls}"
    );
    assert!(
        slowest < Duration::from_millis(280),
        "a reader waited: {slowest:?}"
    );

    // Entries nobody reads are not refreshed: once reads stop, the entry expires.
    setup.fake.state.set_mode(Mode::Normal);
    let idle = setup.contact_calls();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        setup.contact_calls() <= idle + 1,
        "an unread entry was refreshed"
    );
    let reply = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);
}

/// `"0%"` is cache-aside: the same reads wait for the source once the entry expires.
pub async fn refresh_ahead_off_waits_at_expiry(upstream: Upstream) {
    let setup = Setup::start(upstream, "ttl = \"500ms\"\nrefresh_ahead = \"0%\"", &[]).await;
    let mut client = setup.server.client().await;
    client.render_template(render(PEOPLE_ID, "")).await.unwrap();
    let started = Instant::now();
    loop {
        let reply = client
            .render_template(render(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner();
        match origin(&reply, "contact").0 {
            Origin::Cache => assert_eq!(setup.contact_calls(), 1, "refreshed ahead"),
            Origin::Upstream => break,
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Many readers of one entry in its refresh window start one refresh.
pub async fn one_refresh_for_many_readers(upstream: Upstream) {
    let setup = Setup::start(upstream, "ttl = \"1s\"\nrefresh_ahead = \"80%\"", &[]).await;
    let mut client = setup.server.client().await;
    client.render_template(render(PEOPLE_ID, "")).await.unwrap();
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(400)));
    // In the window (after 200 ms of a 1 s life): 100 readers at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let channel = setup.server.channel().await;
    let readers = (0..100).map(|_| {
        let mut client = pb::shortcut_service_client::ShortcutServiceClient::new(channel.clone());
        async move { client.render_template(render(PEOPLE_ID, "")).await }
    });
    for reply in futures::future::join_all(readers).await {
        let reply = reply.unwrap().into_inner();
        assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    }
    until("the refresh reached the source", || {
        setup.contact_calls() == 2
    })
    .await;
    // Its answer arrives; the readers after it get the new entry, younger than the old
    // (which is 700 ms old by then) and not yet due for refresh itself.
    let old_age = Duration::from_millis(200);
    let mut fresher = false;
    let started = Instant::now();
    while !fresher && started.elapsed() < Duration::from_secs(5) {
        let reply = client
            .render_template(render(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner();
        fresher = origin(&reply, "contact").1 < old_age;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresher, "the refreshed entry never replaced the old one");
    assert_eq!(
        setup.contact_calls(),
        2,
        "{:?}",
        fakes::tally(&setup.fake.state)
    );
}

/// A refresh that fails leaves the entry to expire: it is then served as STALE with its
/// age, never as CACHE past its time to live.
pub async fn failed_refresh_is_stated_stale(upstream: Upstream) {
    let setup = Setup::start(
        upstream,
        "ttl = \"600ms\"\nrefresh_ahead = \"50%\"\nstale_grace = \"1m\"\nretries = 0",
        &[],
    )
    .await;
    let mut client = setup.server.client().await;
    client.render_template(render(PEOPLE_ID, "")).await.unwrap();
    setup.fake.state.set_mode(Mode::Down);
    let started = Instant::now();
    loop {
        let reply = client
            .render_template(render(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner();
        let (from, age) = origin(&reply, "contact");
        match from {
            Origin::Cache => assert!(age < Duration::from_millis(600), "{age:?}"),
            Origin::Stale => {
                assert!(age >= Duration::from_millis(600), "{age:?}");
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(setup.contact_calls() >= 2, "no refresh was tried");
}

/// The Prefetch RPC warms both scopes; the first render is then served from the cache.
pub async fn prefetch_rpc_warms_the_cache(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    let mut client = setup.server.client().await;
    let reply = client
        .prefetch(prefetch(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.contact(), pb::PrefetchOutcome::Started);
    assert_eq!(reply.session(), pb::PrefetchOutcome::Started);
    // The contact by its id and the session; not the contact again by the email its meta
    // names: the prefetch bound the conversation to that contact.
    until("both fetched", || {
        setup.contact_calls() == 1 && setup.session_calls() == 1
    })
    .await;
    // Fetched, and (the fetch done) in the cache.
    let mut reply = client
        .prefetch(prefetch(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    let started = Instant::now();
    while reply.contact() != pb::PrefetchOutcome::Cached
        || reply.session() != pb::PrefetchOutcome::Cached
    {
        for outcome in [reply.contact(), reply.session()] {
            assert!(
                matches!(
                    outcome,
                    pb::PrefetchOutcome::InFlight | pb::PrefetchOutcome::Cached
                ),
                "{outcome:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
        reply = client
            .prefetch(prefetch(PEOPLE_ID, SESSION))
            .await
            .unwrap()
            .into_inner();
    }
    let rendered = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&rendered, "contact").0, Origin::Cache);
    assert_eq!(origin(&rendered, "session").0, Origin::Cache);
    assert_eq!((setup.contact_calls(), setup.session_calls()), (1, 1));

    // One scope only: the other says nothing was asked.
    let reply = client
        .prefetch(prefetch("", SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.contact(), pb::PrefetchOutcome::Unspecified);
    assert_eq!(reply.session(), pb::PrefetchOutcome::Cached);

    // Every input checked, each refusal naming its field.
    assert_status(
        client.prefetch(prefetch("", "")).await,
        Code::InvalidArgument,
        &["contact_id"],
    );
    assert_status(
        client
            .prefetch(prefetch(&"c".repeat(100_000), SESSION))
            .await,
        Code::InvalidArgument,
        &["contact_id"],
    );
    assert_status(
        client
            .prefetch(prefetch(PEOPLE_ID, "session\u{7}bell"))
            .await,
        Code::InvalidArgument,
        &["session_id"],
    );
    let mut bad = prefetch(PEOPLE_ID, SESSION);
    bad.workspace_id = "no such/workspace".into();
    assert_status(
        client.prefetch(bad).await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
    assert_eq!((setup.contact_calls(), setup.session_calls()), (1, 1));
}

/// The worst caller: thousands of prefetches of distinct ids at once. The source sees no
/// more than its budget allows, the rest is dropped at once, and a render (which has the
/// reserve) still gets its data.
pub async fn a_prefetch_storm_stays_within_the_budget(upstream: Upstream) {
    // 60 a minute, burst 20: 18 shared with background work, 2 reserved for renders.
    let setup = Setup::start(
        upstream,
        "requests_per_minute = 60\nburst = 20",
        &["--metrics-listen", "127.0.0.1:0"],
    )
    .await;
    let channel = setup.server.channel().await;
    let storm = (0..2000).map(|i| {
        let mut client = pb::shortcut_service_client::ShortcutServiceClient::new(channel.clone());
        async move {
            client
                .prefetch(prefetch(
                    &format!("storm-{i}"),
                    &format!("session_storm-{i}"),
                ))
                .await
        }
    });
    let started = Instant::now();
    let replies = futures::future::join_all(storm).await;
    let took = started.elapsed();
    let mut dropped = 0;
    for reply in replies {
        let reply = reply.expect("every prefetch is answered").into_inner();
        dropped += (reply.contact() == pb::PrefetchOutcome::Dropped) as usize
            + (reply.session() == pb::PrefetchOutcome::Dropped) as usize;
    }
    let sent = setup.fake.state.calls().len();
    eprintln!("{upstream:?}: 2000 prefetches in {took:?}: {sent} requests sent, {dropped} dropped");
    // The shared burst, and what refilled during the storm (54 a minute).
    let allowed = 18 + (took.as_secs_f64() * 0.9).ceil() as usize;
    assert!(
        sent <= allowed,
        "the source got {sent} requests, over {allowed}"
    );
    assert!(dropped >= 4000 - allowed, "{dropped}");
    // A render still gets its contact (from the reserve), at once.
    let mut client = setup.server.client().await;
    let reply = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .expect("the render has the reserve")
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Upstream);

    let metrics = reqwest::get(metrics_url(&setup.server))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = format!("table=\"workspaces.{WORKSPACE}\"");
    for needle in [
        "shortcuts_upstream_requests_total{purpose=\"prefetch\"",
        "shortcuts_upstream_requests_total{purpose=\"render\"",
        "shortcuts_upstream_dropped_total{purpose=\"prefetch\",reason=\"budget\"",
        "shortcuts_upstream_budget_remaining{",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(needle) && l.contains(&table)),
            "no {needle} for {table} in:\n{metrics}"
        );
    }
}

/// A 429 slows the whole source down: for its Retry-After, background work is dropped and
/// nothing reaches the source; then renders go on.
pub async fn a_429_pauses_the_whole_source(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    setup.fake.state.set_mode(Mode::RateLimited {
        times: 1,
        retry_after_secs: 2,
    });
    let mut client = setup.server.client().await;
    let mut renderer = client.clone();
    let render_task =
        tokio::spawn(async move { renderer.render_template(render("", SESSION)).await });
    until("the 429", || setup.session_calls() == 1).await;
    // Meanwhile: prefetches are dropped, not sent (from when the server read the 429).
    let started = Instant::now();
    let mut i = 0;
    let paused_seen = loop {
        i += 1;
        let reply = client
            .prefetch(prefetch(&format!("paused-{i}"), ""))
            .await
            .unwrap()
            .into_inner();
        if reply.contact() == pb::PrefetchOutcome::Dropped {
            break Instant::now();
        }
        assert!(started.elapsed() < Duration::from_secs(1), "never paused");
    };
    for j in 0..20 {
        let reply = client
            .prefetch(prefetch(&format!("paused-more-{j}"), ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.contact(), pb::PrefetchOutcome::Dropped);
    }
    let reply = render_task
        .await
        .unwrap()
        .expect("the render waits the pause out");
    assert!(reply.into_inner().text.ends_with("|ORD-7|Paris"));
    let calls = setup.fake.state.calls();
    let first = calls[0].at;
    let during: Vec<_> = calls
        .iter()
        .filter(|c| c.at > paused_seen && c.at < first + Duration::from_millis(1900))
        .map(|c| (c.endpoint, c.target.clone()))
        .collect();
    assert!(
        during.is_empty(),
        "the source was called during the pause: {during:?}"
    );
    assert!(
        calls.last().unwrap().at >= first + Duration::from_secs(2),
        "the render retried before Retry-After"
    );
}

fn metrics_url(server: &crate::harness::TestServer) -> String {
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

fn now_millis() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

async fn hook(url: &str, event: &str, data: serde_json::Value) -> (u16, String) {
    let body = serde_json::json!({
        "website_id": fakes::WEBSITE,
        "event": event,
        "data": data,
        "timestamp": 1700000000123u64
    })
    .to_string();
    let timestamp = now_millis();
    let signature = sign(HOOK_SECRET, &timestamp, body.as_bytes());
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-crisp-request-timestamp", &timestamp)
        .header("x-crisp-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn hook_url(setup: &Setup) -> String {
    let line = setup
        .server
        .wait_for_log(|l| l.contains("crisp web hooks accepted at "));
    line.split("crisp web hooks accepted at ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string()
}

/// Conversation events prefetch: a new conversation warms its meta and (by the email in
/// the meta) its contact; `people:bind:session` warms the bound contact; a visitor's
/// message and `session:set_data` warm the (changed) conversation. The agent's first
/// render then waits for nothing.
pub async fn crisp_web_hooks_prefetch_conversations() {
    let setup = Setup::start(Upstream::Crisp, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let url = hook_url(&setup);
    let data = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION});
    let (status, text) = hook(&url, "session:request:initiated", data.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("prefetched 1"), "{text}");
    until("meta and the contact by its email", || {
        let calls = setup.fake.state.calls();
        let by_email = |endpoint: &str| {
            calls
                .iter()
                .filter(|c| c.endpoint == endpoint && c.target.contains("ada%40example.com"))
                .count()
        };
        setup.session_calls() == 1 && by_email("profile") == 1 && by_email("data") == 1
    })
    .await;
    let mut client = setup.server.client().await;
    let mut warm = false;
    let started = Instant::now();
    while !warm {
        assert!(started.elapsed() < Duration::from_secs(10));
        // The render may come while the contact's fetch is still being stored.
        let reply = client
            .prefetch(prefetch(EMAIL, SESSION))
            .await
            .unwrap()
            .into_inner();
        warm = reply.contact() == pb::PrefetchOutcome::Cached
            && reply.session() == pb::PrefetchOutcome::Cached;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reply = client
        .render_template(render(EMAIL, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    assert_eq!(origin(&reply, "session").0, Origin::Cache);

    // Bound to a people id: that contact is fetched too.
    let bound = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION, "people_id": PEOPLE_ID});
    assert_eq!(hook(&url, "people:bind:session", bound).await.0, 200);
    until("the bound contact", || {
        setup
            .fake
            .state
            .calls()
            .iter()
            .any(|c| c.endpoint == "profile" && c.target.ends_with(PEOPLE_ID))
    })
    .await;
    // The session was invalidated by the event and fetched again.
    until("the session again", || setup.session_calls() == 2).await;

    // A visitor's message on a conversation just fetched costs nothing more.
    let sessions = setup.session_calls();
    let (status, text) = hook(&url, "message:send", data.clone()).await;
    assert_eq!(status, 200);
    assert!(text.contains("prefetched 1"), "{text}");
    assert_eq!(setup.session_calls(), sessions);
    // session:set_data: the conversation's data changed; it is fetched again at once.
    let changed = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION, "data": {"order_id": "ORD-8"}});
    assert_eq!(hook(&url, "session:set_data", changed).await.0, 200);
    until("the changed session", || {
        setup.session_calls() == sessions + 1
    })
    .await;

    // Other events prefetch nothing.
    let (status, text) = hook(&url, "session:set_nickname", data).await;
    assert_eq!(status, 200);
    assert!(text.contains("prefetched 0"), "{text}");
}

/// `prefetch = false` turns it off for a source: hooks and the RPC fetch nothing.
pub async fn prefetch_can_be_turned_off() {
    let setup = Setup::start(
        Upstream::Crisp,
        "prefetch = false",
        &["--webhook-listen", "127.0.0.1:0"],
    )
    .await;
    let url = hook_url(&setup);
    let data = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION});
    assert_eq!(hook(&url, "session:request:initiated", data).await.0, 200);
    let mut client = setup.server.client().await;
    let reply = client
        .prefetch(prefetch(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.contact(), pb::PrefetchOutcome::Off);
    assert_eq!(reply.session(), pb::PrefetchOutcome::Off);
    // A render goes to the source: nothing was fetched before it.
    let reply = client
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "session").0, Origin::Upstream);
    assert_eq!(setup.session_calls(), 1);
}

/// An entry read once in its refresh-ahead window is not refreshed: a prefetch and one
/// render in the window cost the source one fetch, as cache-aside would; a second read in
/// the window (an entry in use) is refreshed.
pub async fn refresh_ahead_skips_entries_read_once(upstream: Upstream) {
    let setup = Setup::start(upstream, "ttl = \"1s\"\nrefresh_ahead = \"60%\"", &[]).await;
    let mut client = setup.server.client().await;
    client
        .prefetch(prefetch(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    until("the prefetch", || setup.contact_calls() == 1).await;
    let cached = |reply: &pb::RenderResponse| origin(reply, "contact");
    // Into the window (the last 600 ms of the 1 s life): time passing is what is tested.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    let (origin_first, age_first) = cached(&first);
    assert_eq!(origin_first, Origin::Cache);
    assert!(
        age_first >= Duration::from_millis(400),
        "{age_first:?}: not in the window"
    );
    // Let any refresh it started reach the source (it would take a few ms).
    let settled = Instant::now();
    while settled.elapsed() < Duration::from_millis(200) {
        assert_eq!(
            setup.contact_calls(),
            1,
            "an entry read once in its window was refreshed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The second read in its window is refreshed ahead.
    let second = client
        .render_template(render(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner();
    if cached(&second).0 == Origin::Cache {
        until("the refresh of an entry read twice", || {
            setup.contact_calls() == 2
        })
        .await;
    }
}

/// Conversation events that come together fetch each record once: a new conversation and
/// the visitor's first message cost one meta and one contact (by the email in the meta);
/// and when an event that changes the conversation (`people:bind:session`) overtakes the
/// prefetch of an earlier one, the conversation is fetched once more, so the agent's
/// first render still waits for nothing.
pub async fn crisp_web_hooks_that_come_together() {
    let setup = Setup::start(Upstream::Crisp, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let url = hook_url(&setup);
    // Slow enough that the second event always arrives while the first one's fetch is out.
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(700)));
    let data = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION});
    let sent = Instant::now();
    assert_eq!(
        hook(&url, "session:request:initiated", data.clone())
            .await
            .0,
        200
    );
    let (status, text) = hook(&url, "message:send", data.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        sent.elapsed() < Duration::from_millis(700),
        "the hooks took too long for this test"
    );
    let mut client = setup.server.client().await;
    let warm = |client: &mut pb::shortcut_service_client::ShortcutServiceClient<
        tonic::transport::Channel,
    >| {
        let mut client = client.clone();
        async move {
            let started = Instant::now();
            loop {
                let reply = client
                    .prefetch(prefetch(EMAIL, SESSION))
                    .await
                    .unwrap()
                    .into_inner();
                if reply.contact() == pb::PrefetchOutcome::Cached
                    && reply.session() == pb::PrefetchOutcome::Cached
                {
                    break;
                }
                assert!(started.elapsed() < Duration::from_secs(10), "never warm");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    warm(&mut client).await;
    let by = |endpoint: &str, target: &str| {
        setup
            .fake
            .state
            .calls()
            .iter()
            .filter(|c| c.endpoint == endpoint && c.target.contains(target))
            .count()
    };
    assert_eq!(setup.session_calls(), 1, "the meta was fetched twice");
    assert_eq!(by("profile", "ada%40example.com"), 1);
    assert_eq!(by("data", "ada%40example.com"), 1);

    // A visitor's message, and at once the contact bound to the conversation: the bind
    // invalidates the conversation while the message's prefetch of it is out.
    let changed =
        serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION, "data": {"n": 2}});
    assert_eq!(hook(&url, "session:set_data", changed).await.0, 200);
    let bound = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION, "people_id": PEOPLE_ID});
    assert_eq!(hook(&url, "people:bind:session", bound).await.0, 200);
    until("the conversation fetched once more", || {
        setup.session_calls() == 3
    })
    .await;
    // The bound contact first: a prefetch by email while its fetch is out would be a
    // fetch of its own (the email is known to be the same person only from the answer).
    let started = Instant::now();
    while client
        .prefetch(prefetch(PEOPLE_ID, ""))
        .await
        .unwrap()
        .into_inner()
        .contact()
        != pb::PrefetchOutcome::Cached
    {
        assert!(started.elapsed() < Duration::from_secs(10), "never warm");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    warm(&mut client).await;
    let reply = client
        .render_template(render(EMAIL, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&reply, "session").0, Origin::Cache);
    assert_eq!(origin(&reply, "contact").0, Origin::Cache);
    assert_eq!(setup.session_calls(), 3);
    // The bind invalidated the contact (and its entry by email, an alias of the people
    // id): fetched again once, by the bound people id, which fills the email's entry too.
    assert_eq!(by("profile", "ada%40example.com"), 1);
    assert_eq!(by("profile", PEOPLE_ID), 1);
}

/// A contact reached by its people id and by its email is fetched once (issue 19): a
/// conversation bound to a people id (`people:bind:session`) warms that contact, and the
/// meta's email (the same person) joins that fetch instead of making its own; the one
/// fetch answers renders by either id. Renders the other way round (people id first, then
/// email) fetch once too, and an invalidation by either id reaches both.
pub async fn a_contact_reached_by_both_ids_is_fetched_once() {
    let setup = Setup::start(Upstream::Crisp, "", &["--webhook-listen", "127.0.0.1:0"]).await;
    let url = hook_url(&setup);
    // Slow enough that the meta's answer (and with it the email) comes while the bound
    // contact's fetch is still out: the two would overlap.
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(300)));
    let bound = serde_json::json!({"website_id": fakes::WEBSITE, "session_id": SESSION, "people_id": PEOPLE_ID});
    let (status, text) = hook(&url, "people:bind:session", bound).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("prefetched 2"), "{text}");
    let mut client = setup.server.client().await;
    // Polled by the people id and the conversation apart: a prefetch naming both would
    // bind them itself, and one by email alone would start a fetch by email.
    let started = Instant::now();
    loop {
        let contact = client
            .prefetch(prefetch(PEOPLE_ID, ""))
            .await
            .unwrap()
            .into_inner()
            .contact();
        let session = client
            .prefetch(prefetch("", SESSION))
            .await
            .unwrap()
            .into_inner()
            .session();
        if contact == pb::PrefetchOutcome::Cached && session == pb::PrefetchOutcome::Cached {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never warm");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for contact in [EMAIL, PEOPLE_ID] {
        let reply = client
            .render_template(render(contact, SESSION))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(origin(&reply, "contact").0, Origin::Cache, "by {contact}");
        assert_eq!(origin(&reply, "session").0, Origin::Cache, "by {contact}");
    }
    let tally = fakes::tally(&setup.fake.state);
    assert_eq!(
        (tally.get("profile"), tally.get("data"), tally.get("meta")),
        (Some(&1), Some(&1), Some(&1)),
        "requests per endpoint: {tally:?}, calls {:?}",
        setup
            .fake
            .state
            .calls()
            .iter()
            .map(|c| &c.target)
            .collect::<Vec<_>>()
    );

    setup.fake.state.set_mode(Mode::Normal);
    // An invalidation by either id drops the entry by the other too, and the one fetch that
    // follows (by the other id) answers both.
    for (round, (invalidated, fetched_by)) in [(EMAIL, PEOPLE_ID), (PEOPLE_ID, EMAIL)]
        .into_iter()
        .enumerate()
    {
        client
            .invalidate_contact(pb::InvalidateContactRequest {
                workspace_id: WORKSPACE.into(),
                id: invalidated.into(),
            })
            .await
            .unwrap();
        for (id, expected) in [(fetched_by, Origin::Upstream), (invalidated, Origin::Cache)] {
            let reply = client
                .render_template(render(id, ""))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                origin(&reply, "contact").0,
                expected,
                "{id} after invalidating {invalidated}"
            );
        }
        assert_eq!(setup.contact_calls(), 2 + round);
    }
}
