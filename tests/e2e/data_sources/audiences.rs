//! Audiences over remote sources: Crisp's people list (pages of Crisp's size in its real
//! shape, `people_not_found` past the last, 429 with Retry-After) and an upstream's
//! `ListContacts` stream (pages read off one stream, resumed at a cursor). Contacts listed
//! whole fill the data cache, so rendering to them fetches nothing again.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::fakes::{LISTED_PEOPLE, Mode, PEOPLE_PER_PAGE, PeopleSearch, listed_person};
use super::{Setup, Upstream, WORKSPACE};
use shortcuts::pb;
use shortcuts::pb::batch_audience::Audience;
use shortcuts::pb::batch_render_request::Template;
use shortcuts::pb::batch_render_result::Outcome;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

/// French contacts on "pro": listed people 0, 12, 24 and 36 (see `fakes::listed_person`).
/// Its `contact.plan == "pro"` is pushed down to Crisp's people search.
const FRENCH_PRO: &str = r#"contact.country == "FR" and contact.plan == "pro""#;
/// The same audience in a form that pushes nothing down (an `or`, a `!=`): Crisp lists
/// everyone.
const FRENCH_PRO_UNPUSHED: &str =
    r#"(contact.country == "FR" or contact.country == "XX") and contact.plan != "free""#;

fn preview(filter: &str) -> pb::PreviewAudienceRequest {
    pb::PreviewAudienceRequest {
        workspace_id: WORKSPACE.into(),
        filter: filter.into(),
        limit: 0,
    }
}

fn batch(filter: &str, resume_token: &str) -> pb::BatchRenderRequest {
    pb::BatchRenderRequest {
        workspace_id: WORKSPACE.into(),
        template: Some(Template::Body("<<contact.email>> <<contact.plan>>".into())),
        audience: Some(pb::BatchAudience {
            audience: Some(Audience::Filter(filter.into())),
        }),
        resume_token: resume_token.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_people_list_pages_until_people_not_found() {
    let setup = Setup::start(Upstream::Crisp, "", &[]).await;
    let mut client = setup.server.client().await;
    let reply = client
        .preview_audience(preview(FRENCH_PRO_UNPUSHED))
        .await
        .unwrap()
        .into_inner();
    let everyone = LISTED_PEOPLE as u64 + 1;
    assert_eq!(
        (reply.matched, reply.scanned, reply.complete, reply.failed),
        (4, everyone, true, 0)
    );
    let sample: Vec<&str> = reply.sample.iter().map(|m| m.contact_id.as_str()).collect();
    assert_eq!(sample, ["p-000", "p-012", "p-024", "p-036"]);
    assert_eq!(reply.sample[0].values["contact.plan"], "pro");
    // Pages 1 to 3, then the 4th answers `people_not_found`.
    let pages = LISTED_PEOPLE.div_ceil(PEOPLE_PER_PAGE);
    assert_eq!(setup.fake.state.count("profiles"), pages + 1);
    // The people list has no custom data: each contact was fetched whole once.
    assert_eq!(setup.fake.state.count("data"), LISTED_PEOPLE + 1);

    // Rendering to the audience fetches nothing more: the scan cached every contact.
    let before = setup.fake.state.count("data");
    let mut stream = client
        .batch_render(batch(FRENCH_PRO_UNPUSHED, ""))
        .await
        .unwrap()
        .into_inner();
    let mut texts = Vec::new();
    let mut summary = None;
    while let Some(result) = stream.message().await.unwrap() {
        match result.outcome {
            Some(Outcome::Rendered(r)) => texts.push(r.text),
            Some(Outcome::Summary(s)) => summary = Some(s),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        texts,
        [
            "p-000@example.com pro",
            "p-012@example.com pro",
            "p-024@example.com pro",
            "p-036@example.com pro"
        ]
    );
    let summary = summary.unwrap();
    assert_eq!(
        (summary.matched, summary.skipped, summary.failed),
        (4, everyone - 4, 0)
    );
    assert_eq!(setup.fake.state.count("data"), before);
}

/// The `search_operator` and `search_filter` of every people list request, decoded.
fn searches(setup: &Setup) -> Vec<(String, serde_json::Value)> {
    setup
        .fake
        .state
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == "profiles")
        .map(|c| {
            assert!(PeopleSearch::parse(&c.query).is_ok(), "{:?}", c.query);
            let mut operator = String::new();
            let mut filter = serde_json::Value::Null;
            for (name, value) in url::form_urlencoded::parse(c.query.as_bytes()) {
                match name.as_ref() {
                    "search_operator" => operator = value.into_owned(),
                    "search_filter" => filter = serde_json::from_str(&value).unwrap(),
                    _ => {}
                }
            }
            (operator, filter)
        })
        .collect()
}

async fn preview_on_crisp(filter: &str) -> (pb::PreviewAudienceResponse, Setup) {
    let setup = Setup::start(Upstream::Crisp, "", &[]).await;
    let mut client = setup.server.client().await;
    let reply = client
        .preview_audience(preview(filter))
        .await
        .unwrap()
        .into_inner();
    (reply, setup)
}

fn sample_ids(reply: &pb::PreviewAudienceResponse) -> Vec<String> {
    reply.sample.iter().map(|m| m.contact_id.clone()).collect()
}

/// `contact.plan == "pro"` goes to Crisp as a `data.plan` search: the same audience as the
/// unpushed run, from the 15 "pro" people (one page) instead of everyone (three pages), and
/// a filter with nothing to push down sends no search at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_searches_what_the_filter_requires_and_matches_the_same() {
    let (pushed, pushed_setup) = preview_on_crisp(FRENCH_PRO).await;
    let (unpushed, unpushed_setup) = preview_on_crisp(FRENCH_PRO_UNPUSHED).await;

    assert_eq!(
        (pushed.matched, pushed.complete, pushed.failed),
        (4, true, 0)
    );
    assert_eq!(
        (pushed.matched, sample_ids(&pushed)),
        (unpushed.matched, sample_ids(&unpushed))
    );
    let pro = (0..LISTED_PEOPLE)
        .filter(|i| listed_person(*i).2 == "pro")
        .count();
    assert_eq!(pushed.scanned, pro as u64);
    assert_eq!(unpushed.scanned, LISTED_PEOPLE as u64 + 1);
    let pages = |setup: &Setup| setup.fake.state.count("profiles");
    // One page of "pro" people, then `people_not_found`; against every page of everyone.
    assert_eq!(pages(&pushed_setup), pro.div_ceil(PEOPLE_PER_PAGE) + 1);
    assert_eq!(
        pages(&unpushed_setup),
        LISTED_PEOPLE.div_ceil(PEOPLE_PER_PAGE) + 1
    );
    assert!(pages(&pushed_setup) < pages(&unpushed_setup));
    assert_eq!(pushed_setup.fake.state.count("data"), pro);

    let expected = serde_json::json!([
        {"model": "people", "criterion": "data.plan", "operator": "eq", "query": ["pro"]}
    ]);
    for (operator, filter) in searches(&pushed_setup) {
        assert_eq!((operator.as_str(), &filter), ("and", &expected));
    }
    let reported: serde_json::Value = serde_json::from_str(&pushed.pushed_down_filter).unwrap();
    assert_eq!(reported["search_operator"], "and");
    assert_eq!(reported["search_filter"], expected);

    assert_eq!(unpushed.pushed_down_filter, "");
    for (operator, filter) in searches(&unpushed_setup) {
        assert_eq!((operator.as_str(), &filter), ("", &serde_json::Value::Null));
    }
}

/// A native field is searched together with its custom-data fallback (`contact.country` is
/// the custom key `country` for a contact without a geolocation), so the search is the
/// `or` of both criteria for each value; a batch over the narrowed list resumes at its
/// token across the list's pages and renders every matched contact once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_searches_a_native_field_with_its_fallback_and_a_batch_resumes() {
    let filter = r#"contact.country in ["FR", "BE"]"#;
    let (reply, setup) = preview_on_crisp(filter).await;
    let wanted: Vec<String> = (0..LISTED_PEOPLE)
        .filter(|i| matches!(listed_person(*i).1, "FR" | "BE"))
        .map(|i| listed_person(i).0)
        .collect();
    assert_eq!(
        (reply.matched, reply.scanned, reply.complete),
        (wanted.len() as u64, wanted.len() as u64, true)
    );
    let (operator, sent) = searches(&setup).remove(0);
    assert_eq!(operator, "or");
    let mut criteria: Vec<String> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["criterion"], c["operator"], c["query"]))
        .collect();
    criteria.sort();
    assert_eq!(
        criteria,
        [
            r#""data.country" "eq" ["BE"]"#,
            r#""data.country" "eq" ["FR"]"#,
            r#""person.geolocation.country" "has" ["BE"]"#,
            r#""person.geolocation.country" "has" ["FR"]"#,
        ]
    );

    let mut client = setup.server.client().await;
    let (seen, summary) = batch_resumed(&mut client, filter, PEOPLE_PER_PAGE + 1).await;
    assert_eq!(seen, wanted);
    assert_eq!((summary.skipped, summary.failed), (0, 0));
}

/// A batch of `filter` that breaks off after `first` results and is resumed with the last
/// token it sent: the contacts rendered by both, in order (each result's index checked),
/// and the resumed batch's summary.
async fn batch_resumed(
    client: &mut ShortcutServiceClient<Channel>,
    filter: &str,
    first: usize,
) -> (Vec<String>, pb::BatchSummary) {
    let mut stream = client
        .batch_render(batch(filter, ""))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let mut token = String::new();
    while seen.len() < first {
        let result = stream.message().await.unwrap().unwrap();
        assert!(matches!(result.outcome, Some(Outcome::Rendered(_))));
        assert_eq!(result.index as usize, seen.len());
        seen.push(result.contact_id);
        token = result.resume_token;
    }
    drop(stream);
    let mut stream = client
        .batch_render(batch(filter, &token))
        .await
        .unwrap()
        .into_inner();
    let mut summary = None;
    while let Some(result) = stream.message().await.unwrap() {
        match result.outcome {
            Some(Outcome::Rendered(_)) => {
                assert_eq!(result.index as usize, seen.len());
                seen.push(result.contact_id);
            }
            Some(Outcome::Summary(s)) => summary = Some(s),
            other => panic!("{other:?}"),
        }
    }
    (seen, summary.expect("a summary ends the batch"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_429_pauses_the_listing_for_its_retry_after() {
    let setup = Setup::start(Upstream::Crisp, "", &[]).await;
    setup.fake.state.set_mode(Mode::RateLimited {
        times: 1,
        retry_after_secs: 1,
    });
    let mut client = setup.server.client().await;
    let reply = client
        .preview_audience(preview(FRENCH_PRO))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.matched, reply.complete), (4, true));
    let pages: Vec<_> = setup
        .fake
        .state
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == "profiles")
        .collect();
    assert!(pages[0].target.ends_with("/profiles/1"), "{:?}", pages[0]);
    assert!(
        pages[1].target.ends_with("/profiles/1"),
        "page 1 asked again"
    );
    let waited = pages[1].at.duration_since(pages[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "asked again after {waited:?}, before Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_list_contacts_streams_pages_and_a_batch_resumes_at_its_token() {
    let setup = Setup::start(Upstream::Grpc, "", &["--batch-concurrency", "4"]).await;
    setup.fake.state.listed.store(250, Ordering::SeqCst);
    let mut client = setup.server.client().await;
    let pro = r#"contact.plan == "pro""#;
    let reply = client
        .preview_audience(preview(pro))
        .await
        .unwrap()
        .into_inner();
    let expected = (0..250).filter(|i| i % 3 == 0).count() as u64;
    assert_eq!(
        (reply.matched, reply.scanned, reply.complete),
        (expected, 250, true)
    );
    // Pages of 100 read off the stream, each resumed at the last cursor: 0, 100, 200.
    let cursors: Vec<String> = setup
        .fake
        .state
        .calls()
        .into_iter()
        .filter(|c| c.endpoint == "list")
        .map(|c| c.target)
        .collect();
    assert_eq!(cursors, ["", "100", "200"]);

    // A batch that breaks off after ten results, resumed with the tenth's token: every
    // matched contact once, in order, and none fetched again (the listing cached them).
    let (seen, summary) = batch_resumed(&mut client, pro, 10).await;
    let wanted: Vec<String> = (0..250)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("g-{i:04}"))
        .collect();
    assert_eq!(seen, wanted);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    assert_eq!(summary.matched, expected - 10);
    assert_eq!(
        setup.fake.state.count("contact"),
        0,
        "renders read the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_listing_is_the_sources_failure() {
    let setup = Setup::start(Upstream::Grpc, "retries = 0", &[]).await;
    setup.fake.state.set_mode(Mode::Down);
    let mut client = setup.server.client().await;
    let status = client
        .preview_audience(preview(FRENCH_PRO))
        .await
        .expect_err("the upstream is down");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}

/// An audience batch's whole-contact fetches hold its `--batch-concurrency` permits: with
/// 2, at most two contacts (a profile and a people data request each) and the next page of
/// the people list are asked for at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_batch_stays_within_the_batch_bound() {
    let setup = Setup::start(Upstream::Crisp, "", &["--batch-concurrency", "2"]).await;
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(20)));
    let mut client = setup.server.client().await;
    let mut stream = client
        .batch_render(batch(FRENCH_PRO_UNPUSHED, ""))
        .await
        .unwrap()
        .into_inner();
    let mut rendered = 0;
    while let Some(result) = stream.message().await.unwrap() {
        if let Some(Outcome::Rendered(_)) = result.outcome {
            rendered += 1;
        }
    }
    assert_eq!(rendered, 4);
    assert_eq!(setup.fake.state.count("data"), LISTED_PEOPLE + 1);
    let most = setup.fake.state.most_in_flight();
    assert!(most <= 2 * 2 + 1, "{most} requests at once");
    assert!(most >= 2, "contacts are fetched concurrently: {most}");
}
