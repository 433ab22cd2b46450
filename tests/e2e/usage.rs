//! The usage record: renders of stored shortcuts counted in the store, read by GetUsage,
//! shared by replicas for the typeahead's order, bounded by the retention and the queue.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::harness::{Backend, PgSchema, TestServer};
use crate::observability::{metrics_url, scrape};
use crate::{assert_status, create, on_both_backends, structure};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use shortcuts::usage::{Rollup, Use};

type Client = ShortcutServiceClient<tonic::transport::Channel>;

const WS: &str = "usage";
const DAY: i64 = 24 * 60 * 60;
/// Writes within a tenth of a second, so that tests wait little.
const FAST_FLUSH: &[&str] = &["--usage-flush-interval", "100ms"];

/// A server and what keeps its store alive (a temporary directory or a PostgreSQL schema).
struct Served {
    server: TestServer,
    store: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<PgSchema>,
}

async fn serve(backend: Backend, args: &[&str]) -> Served {
    let (store, dir, schema) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("usage.db").to_str().unwrap().to_string();
            (store, Some(dir), None)
        }
        Backend::Postgres => {
            let schema = PgSchema::create().await;
            (schema.url(), None, Some(schema))
        }
    };
    Served {
        server: TestServer::start_on(&store, args),
        store,
        _dir: dir,
        schema,
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn usage(group_by: pb::UsageGroupBy) -> pb::GetUsageRequest {
    pb::GetUsageRequest {
        workspace_id: WS.into(),
        from: at(now_secs() - DAY),
        to: at(now_secs() + DAY),
        group_by: group_by.into(),
        ..Default::default()
    }
}

async fn render(client: &mut Client, bang: &str, agent: Option<&str>) {
    client
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: WS.into(),
            shortcut: Some(Shortcut::Bang(bang.into())),
            agent: agent.map(|id| structure(json!({"id": id, "first_name": "Sam"}))),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Polls GetUsage until it counts `total` renders (the writer is asynchronous).
async fn wait_for_total(client: &mut Client, request: pb::GetUsageRequest, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = client
            .get_usage(request.clone())
            .await
            .unwrap()
            .into_inner()
            .total_uses;
        if got == total {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "usage still counts {got} renders, not {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn counts(response: &pb::GetUsageResponse) -> Vec<(String, String, u64)> {
    response
        .counts
        .iter()
        .map(|c| (c.bang.clone(), c.agent_id.clone(), c.uses))
        .collect()
}

fn row(bang: &str, agent: &str, uses: u64) -> (String, String, u64) {
    (bang.into(), agent.into(), uses)
}

async fn renders_are_counted_every_way(backend: Backend) {
    let served = serve(backend, FAST_FLUSH).await;
    let mut client = served.server.client().await;
    for bang in ["alpha", "beta", "gamma"] {
        client
            .create_shortcut(create(
                WS,
                bang,
                &format!("{bang} for <<agent.first_name>>"),
            ))
            .await
            .unwrap();
    }
    for _ in 0..3 {
        render(&mut client, "alpha", Some("ann")).await;
    }
    render(&mut client, "alpha", None).await;
    render(&mut client, "beta", Some("bob")).await;
    // A preview is not a use.
    client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: WS.into(),
            body: "preview".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // A batch is one use, however many recipients.
    let mut results = client
        .batch_render(pb::BatchRenderRequest {
            workspace_id: WS.into(),
            template: Some(pb::batch_render_request::Template::Bang("beta".into())),
            recipients: vec![pb::BatchRecipient::default(); 4],
            agent: Some(structure(json!({"id": "bob"}))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while results.message().await.unwrap().is_some() {}
    wait_for_total(&mut client, usage(pb::UsageGroupBy::Shortcut), 6).await;

    let by_shortcut = client
        .get_usage(usage(pb::UsageGroupBy::Shortcut))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        counts(&by_shortcut),
        [row("alpha", "", 4), row("beta", "", 2)]
    );
    assert!(!by_shortcut.truncated);
    assert!(by_shortcut.counts.iter().all(|c| c.last_version == 1));
    let today = now_secs().div_euclid(DAY) * DAY;
    assert_eq!(by_shortcut.from.unwrap().seconds, today - DAY);

    let mut top = usage(pb::UsageGroupBy::Shortcut);
    top.limit = 1;
    let top = client.get_usage(top).await.unwrap().into_inner();
    assert_eq!(counts(&top), [row("alpha", "", 4)]);
    assert!(top.truncated);
    assert_eq!(top.total_uses, 6);

    let by_day = client
        .get_usage(usage(pb::UsageGroupBy::ShortcutDay))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts(&by_day), [row("alpha", "", 4), row("beta", "", 2)]);
    assert!(
        by_day
            .counts
            .iter()
            .all(|c| c.period_start.unwrap().seconds == today)
    );

    let by_week = client
        .get_usage(usage(pb::UsageGroupBy::ShortcutWeek))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts(&by_week), [row("alpha", "", 4), row("beta", "", 2)]);
    let days = today / DAY;
    let monday = (days - (days + 3).rem_euclid(7)) * DAY;
    assert!(
        by_week
            .counts
            .iter()
            .all(|c| c.period_start.unwrap().seconds == monday)
    );

    let by_agent = client
        .get_usage(usage(pb::UsageGroupBy::Agent))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        counts(&by_agent),
        [row("", "ann", 3), row("", "bob", 2), row("", "", 1)]
    );

    // Not used since today: gamma, never used. Since tomorrow: all, never used first.
    let mut unused = usage(pb::UsageGroupBy::Shortcut);
    unused.unused_since = at(today);
    let unused = client.get_usage(unused).await.unwrap().into_inner().unused;
    assert_eq!(unused.len(), 1);
    assert_eq!(
        (unused[0].bang.as_str(), unused[0].last_used_day),
        ("gamma", None)
    );
    let mut unused = usage(pb::UsageGroupBy::Shortcut);
    unused.unused_since = at(today + DAY);
    let unused = client.get_usage(unused).await.unwrap().into_inner().unused;
    let listed: Vec<(&str, Option<i64>)> = unused
        .iter()
        .map(|u| (u.bang.as_str(), u.last_used_day.map(|t| t.seconds)))
        .collect();
    assert_eq!(
        listed,
        [
            ("gamma", None),
            ("alpha", Some(today)),
            ("beta", Some(today))
        ]
    );

    // Another workspace sees none of it.
    let mut other = usage(pb::UsageGroupBy::Shortcut);
    other.workspace_id = "elsewhere".into();
    let other = client.get_usage(other).await.unwrap().into_inner();
    assert!(other.counts.is_empty() && other.total_uses == 0);
    drop(served.schema);
}

/// Writes `uses` renders of `shortcut` (at `version`) by `agent` on each of `days`, through
/// the server's own store code (what the writer calls), as if rendered on those days.
async fn write_days(store: &str, rows: &[(&str, u64, &str, i64, u64)]) {
    let usage = shortcuts::server::open_usage_store(store).await.unwrap();
    let mut rollup = Rollup::default();
    for &(shortcut, version, agent, day, uses) in rows {
        let one = Use {
            workspace_id: WS.into(),
            shortcut_id: shortcut.into(),
            shortcut_version: version,
            agent_id: agent.into(),
            at_millis: day * DAY * 1000 + 1234,
        };
        rollup.add_many(one, uses);
    }
    usage.add_usage(&rollup).await.unwrap();
}

/// One GetUsage answer.
async fn get(client: &mut Client, request: &pb::GetUsageRequest) -> pb::GetUsageResponse {
    client
        .get_usage(request.clone())
        .await
        .unwrap()
        .into_inner()
}

/// A GetUsage request for the days `[from, to)`.
fn days(group_by: pb::UsageGroupBy, from: i64, to: i64) -> pb::GetUsageRequest {
    pb::GetUsageRequest {
        from: at(from * DAY),
        to: at(to * DAY),
        limit: 10_000,
        ..usage(group_by)
    }
}

/// Counts per (period start in days, shortcut id).
fn per_period(response: &pb::GetUsageResponse) -> Vec<(i64, String, u64, u64)> {
    let mut rows: Vec<_> = response
        .counts
        .iter()
        .map(|c| {
            (
                c.period_start.map_or(0, |t| t.seconds / DAY),
                c.shortcut_id.clone(),
                c.uses,
                c.last_version,
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Old rows are deleted at start, in whole weeks (the days and the per-week rollup alike);
/// recent ones stay.
async fn retention_deletes_old_rows(backend: Backend) {
    let served = serve(backend, &[]).await;
    // Started through (the schema is migrated) before the rows are written; one call
    // first, since a SIGTERM right at start is not yet handled as a graceful stop.
    let mut client = served.server.client().await;
    client
        .get_usage(usage(pb::UsageGroupBy::Shortcut))
        .await
        .unwrap();
    drop(client);
    served.server.stop().await;
    let today = now_secs().div_euclid(DAY);
    // 400 days kept: from the Monday of the week of today - 400, so today - 410 goes
    // (7 to 13 days before that Monday) and today - 399 stays, whatever today is.
    write_days(
        &served.store,
        &[
            ("s", 1, "ann", today - 500, 7),
            ("s", 1, "ann", today - 410, 5),
            ("s", 1, "ann", today - 399, 2),
            ("s", 1, "ann", today - 10, 3),
        ],
    )
    .await;
    let server = TestServer::start_on(
        &served.store,
        &[
            "--usage-retention",
            "400d",
            "--usage-max-range-days",
            "1000",
        ],
    );
    let mut client = server.client().await;
    let (from, to) = (today - 600, today + 1);
    wait_for_total(&mut client, days(pb::UsageGroupBy::Shortcut, from, to), 5).await;
    let left = get(&mut client, &days(pb::UsageGroupBy::ShortcutDay, from, to)).await;
    let left: Vec<i64> = per_period(&left).iter().map(|row| row.0).collect();
    assert_eq!(left, [today - 399, today - 10]);
    // The weeks went with their days: the range and its weeks count what is left.
    let whole = get(&mut client, &days(pb::UsageGroupBy::Shortcut, from, to)).await;
    assert_eq!(counts(&whole), [row("", "", 5)]);
    let weeks = get(&mut client, &days(pb::UsageGroupBy::ShortcutWeek, from, to)).await;
    let weeks: Vec<(i64, u64)> = per_period(&weeks).iter().map(|r| (r.0, r.2)).collect();
    let week = |day: i64| day - (day + 3).rem_euclid(7);
    assert_eq!(weeks, [(week(today - 399), 2), (week(today - 10), 3)]);
}

/// A range read as days at its ends and weeks in between counts what its days count: for
/// ranges starting and ending on every day of the week, per shortcut and per week; the
/// version counted is the highest rendered, and the last day of use is each shortcut's last.
async fn week_rollups_count_what_the_days_count(backend: Backend) {
    let served = serve(backend, &["--usage-max-range-days", "1000"]).await;
    let mut client = served.server.client().await;
    let mut ids = Vec::new();
    for bang in ["alpha", "beta", "gamma"] {
        let created = client
            .create_shortcut(create(WS, bang, "Hi"))
            .await
            .unwrap()
            .into_inner();
        ids.push(created.id);
    }
    let today = now_secs().div_euclid(DAY);
    let start = today - 60;
    // Every day a different count per shortcut; beta at version 2 on odd days; gamma only
    // 40 days ago.
    let mut rows = Vec::new();
    for day in start..today {
        let n = (day - start) as u64;
        rows.push((ids[0].as_str(), 1, "ann", day, 1 + n % 5));
        rows.push((ids[1].as_str(), 1 + n % 2, "bob", day, 1 + n % 3));
    }
    rows.push((ids[2].as_str(), 1, "ann", today - 40, 4));
    write_days(&served.store, &rows).await;
    let by_day = get(
        &mut client,
        &days(pb::UsageGroupBy::ShortcutDay, start, today),
    )
    .await;
    let by_day = per_period(&by_day);
    assert_eq!(by_day.len(), 2 * 60 + 1);
    let week = |day: i64| day - (day + 3).rem_euclid(7);
    for from in start..start + 8 {
        for to in [from + 1, from + 6, from + 13, from + 23, today - 1, today] {
            let in_range = || by_day.iter().filter(move |r| (from..to).contains(&r.0));
            // Per shortcut: the sum and the highest version of the days.
            let mut expected: Vec<(String, u64, u64)> = ids
                .iter()
                .map(|id| {
                    let mine = in_range().filter(|r| &r.1 == id);
                    let uses = mine.clone().map(|r| r.2).sum();
                    (id.clone(), uses, mine.map(|r| r.3).max().unwrap_or(0))
                })
                .filter(|r| r.1 > 0)
                .collect();
            expected.sort();
            let whole = get(&mut client, &days(pb::UsageGroupBy::Shortcut, from, to)).await;
            let mut got: Vec<(String, u64, u64)> = whole
                .counts
                .iter()
                .map(|c| (c.shortcut_id.clone(), c.uses, c.last_version))
                .collect();
            got.sort();
            assert_eq!(got, expected, "per shortcut, days {from}..{to}");
            // Per week: the days' sums per Monday.
            let mut expected: Vec<(i64, String, u64, u64)> = Vec::new();
            for r in in_range() {
                match expected.iter_mut().find(|e| e.0 == week(r.0) && e.1 == r.1) {
                    Some(e) => {
                        e.2 += r.2;
                        e.3 = e.3.max(r.3);
                    }
                    None => expected.push((week(r.0), r.1.clone(), r.2, r.3)),
                }
            }
            expected.sort();
            let weeks = get(&mut client, &days(pb::UsageGroupBy::ShortcutWeek, from, to)).await;
            assert_eq!(per_period(&weeks), expected, "per week, days {from}..{to}");
        }
    }
    // Unused since 30 days ago: gamma, last used 40 days ago.
    let mut unused = usage(pb::UsageGroupBy::Shortcut);
    unused.unused_since = at((today - 30) * DAY);
    let unused = get(&mut client, &unused).await.unused;
    let listed: Vec<(&str, Option<i64>)> = unused
        .iter()
        .map(|u| (u.bang.as_str(), u.last_used_day.map(|t| t.seconds / DAY)))
        .collect();
    assert_eq!(listed, [("gamma", Some(today - 40))]);
    drop(served.schema);
}

on_both_backends!(
    renders_are_counted_every_way,
    retention_deletes_old_rows,
    week_rollups_count_what_the_days_count
);

/// The first shortcut of the empty-query search, once all three are indexed.
async fn first_on(server: &TestServer, request: &pb::SearchShortcutsRequest) -> String {
    let mut client = server.client().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let matches = client
            .search_shortcuts(request.clone())
            .await
            .unwrap()
            .into_inner()
            .matches;
        if matches.len() == 3 {
            return matches[0].bang.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{} shortcuts indexed",
            matches.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn renders_on_one_replica_rank_first_on_another_after_its_restart() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), FAST_FLUSH);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    let mut on_a = a.client().await;
    for bang in ["aa", "mm", "zz"] {
        on_a.create_shortcut(create(WS, bang, "x")).await.unwrap();
    }
    let empty_query = pb::SearchShortcutsRequest {
        workspace_id: WS.into(),
        ..Default::default()
    };
    // Unused, the order is by bang.
    assert_eq!(first_on(&b, &empty_query).await, "aa");
    for _ in 0..3 {
        render(&mut on_a, "zz", Some("ann")).await;
    }
    render(&mut on_a, "mm", Some("ann")).await;
    wait_for_total(&mut on_a, usage(pb::UsageGroupBy::Shortcut), 4).await;
    // B has not rendered anything: its order comes from the store once it reloads.
    b.stop().await;
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    assert_eq!(first_on(&b, &empty_query).await, "zz");
    let mut on_b = b.client().await;
    let order: Vec<String> = on_b
        .search_shortcuts(empty_query.clone())
        .await
        .unwrap()
        .into_inner()
        .matches
        .into_iter()
        .map(|m| m.bang)
        .collect();
    assert_eq!(order, ["zz", "mm", "aa"]);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_renders_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("usage.db");
    // One use waits in the queue and one in the writer's memory; no flush before shutdown.
    let args = [
        "--usage-queue",
        "1",
        "--usage-max-pending-rows",
        "1",
        "--usage-flush-interval",
        "1h",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let server = TestServer::start_on(&store, &args);
    let mut client = server.client().await;
    client
        .create_shortcut(create(WS, "hot", "hot"))
        .await
        .unwrap();
    const RENDERS: u64 = 20;
    for _ in 0..RENDERS {
        render(&mut client, "hot", Some("ann")).await;
    }
    let metrics = scrape(&metrics_url(&server)).await;
    let dropped: u64 = metrics
        .lines()
        .find(|l| l.starts_with("shortcuts_usage_renders_total{outcome=\"dropped\"}"))
        .and_then(|l| l.split_whitespace().last())
        .map_or(0, |n| n.parse().unwrap());
    assert!(
        (RENDERS - 2..RENDERS).contains(&dropped),
        "{dropped} of {RENDERS} dropped"
    );
    // A graceful stop writes what was kept; the rest was dropped, and nothing else lost.
    drop(client);
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let recorded = client
        .get_usage(usage(pb::UsageGroupBy::Shortcut))
        .await
        .unwrap()
        .into_inner()
        .total_uses;
    assert_eq!(recorded + dropped, RENDERS);
}

#[tokio::test]
async fn bad_requests_name_the_field_and_render_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = r#"
[[tokens]]
name = "frontend"
token = "render-token-for-usage-0001"
role = "render"
workspaces = ["usage"]

[[tokens]]
name = "ops"
token = "admin-token-for-usage-0002"
role = "admin"
workspaces = ["*"]
"#;
    let server = TestServer::start_on(
        dir.path().join("s.db"),
        &["--auth-tokens-toml", tokens, "--usage-max-rows", "50"],
    );
    let mut client = server.client().await;
    let admin = |message| as_token("admin-token-for-usage-0002", message);
    assert_status(
        client
            .get_usage(as_token(
                "render-token-for-usage-0001",
                usage(pb::UsageGroupBy::Shortcut),
            ))
            .await,
        Code::PermissionDenied,
        &["Admin"],
    );
    client
        .get_usage(admin(usage(pb::UsageGroupBy::Agent)))
        .await
        .unwrap();

    let mut no_from = usage(pb::UsageGroupBy::Shortcut);
    no_from.from = None;
    assert_status(
        client.get_usage(admin(no_from)).await,
        Code::InvalidArgument,
        &["from"],
    );
    let mut backwards = usage(pb::UsageGroupBy::Shortcut);
    backwards.to = at(now_secs() - 2 * DAY);
    assert_status(
        client.get_usage(admin(backwards)).await,
        Code::InvalidArgument,
        &["to", "after from"],
    );
    let mut too_long = usage(pb::UsageGroupBy::Shortcut);
    too_long.from = at(i64::MIN);
    assert_status(
        client.get_usage(admin(too_long)).await,
        Code::InvalidArgument,
        &["to", "--usage-max-range-days"],
    );
    let mut too_many = usage(pb::UsageGroupBy::Shortcut);
    too_many.limit = 51;
    assert_status(
        client.get_usage(admin(too_many)).await,
        Code::InvalidArgument,
        &["limit", "50"],
    );
    let mut unknown = usage(pb::UsageGroupBy::Shortcut);
    unknown.group_by = 99;
    assert_status(
        client.get_usage(admin(unknown)).await,
        Code::InvalidArgument,
        &["group_by"],
    );
    let mut bad_workspace = usage(pb::UsageGroupBy::Shortcut);
    bad_workspace.workspace_id = "\u{0}".repeat(300);
    assert_status(
        client.get_usage(admin(bad_workspace)).await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
}

/// A render token's own agent is who a render is counted for, whatever the request's agent
/// values say; an admin's render is counted for the agent it names.
#[tokio::test]
async fn a_render_is_counted_for_the_callers_own_agent() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = r#"
[[tokens]]
name = "ann's composer"
token = "render-token-for-ann-0001"
role = "render"
workspaces = ["usage"]
agent = "ann"

[[tokens]]
name = "ops"
token = "admin-token-for-usage-0002"
role = "admin"
workspaces = ["*"]
"#;
    let mut args = vec!["--auth-tokens-toml", tokens];
    args.extend_from_slice(FAST_FLUSH);
    let server = TestServer::start_on(dir.path().join("s.db"), &args);
    let mut client = server.client().await;
    let admin = "admin-token-for-usage-0002";
    client
        .create_shortcut(as_token(admin, create(WS, "alpha", "Hi")))
        .await
        .unwrap();
    let render_as = |agent: &str| pb::RenderShortcutRequest {
        workspace_id: WS.into(),
        shortcut: Some(Shortcut::Bang("alpha".into())),
        agent: Some(structure(json!({ "id": agent }))),
        ..Default::default()
    };
    client
        .render_shortcut(as_token("render-token-for-ann-0001", render_as("mallory")))
        .await
        .unwrap();
    client
        .render_shortcut(as_token(admin, render_as("zed")))
        .await
        .unwrap();
    let by_agent = usage(pb::UsageGroupBy::Agent);
    let deadline = Instant::now() + Duration::from_secs(15);
    let counted = loop {
        let got = client
            .get_usage(as_token(admin, by_agent.clone()))
            .await
            .unwrap()
            .into_inner();
        if got.total_uses == 2 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut agents = counts(&counted);
    agents.sort();
    assert_eq!(agents, vec![row("", "ann", 1), row("", "zed", 1)]);
}

fn as_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}
