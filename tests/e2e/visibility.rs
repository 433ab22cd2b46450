//! Who sees a shortcut (issue 17): personal, team and workspace shortcuts, as agents with
//! render tokens, a service acting for agents, and admins see them, on both stores.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::harness::{Backend, PgSchema, TestServer};
use crate::{JANE, assert_status, create, structure};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

const WS: &str = "demo";
const ADMIN: &str = "admin-token-visibility-0001";
const ANN: &str = "ann-token-visibility-00002";
const BOB: &str = "bob-token-visibility-00003";
const KIOSK: &str = "kiosk-token-visibility-004";
const BOT: &str = "bot-token-visibility-00005";

fn token_file(dir: &std::path::Path) -> String {
    let path = dir.join("tokens.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[tokens]]
name = "ops"
token = "{ADMIN}"
role = "admin"
workspaces = ["*"]

[[tokens]]
name = "ann"
token = "{ANN}"
role = "render"
workspaces = ["{WS}"]
agent = "ann"
teams = ["billing"]

[[tokens]]
name = "bob"
token = "{BOB}"
role = "render"
workspaces = ["{WS}"]
agent = "bob"
teams = ["sales"]

[[tokens]]
name = "kiosk"
token = "{KIOSK}"
role = "render"
workspaces = ["{WS}"]

[[tokens]]
name = "bot"
token = "{BOT}"
role = "service"
workspaces = ["{WS}"]
"#
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn as_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// A server (and, for PostgreSQL, its schema guard) with the token file, plus the file's path.
async fn start(backend: Backend, dir: &std::path::Path) -> (TestServer, Option<PgSchema>, String) {
    let tokens = token_file(dir);
    let args = ["--auth-tokens", tokens.as_str(), "--seed-demo=false"];
    match backend {
        Backend::Sqlite => (TestServer::start_on(dir.join("s.db"), &args), None, tokens),
        Backend::Postgres => {
            let schema = PgSchema::create().await;
            (
                TestServer::start_on(schema.url(), &args),
                Some(schema),
                tokens,
            )
        }
    }
}

struct Spec {
    bang: &'static str,
    visibility: pb::Visibility,
    owner: &'static str,
    teams: &'static [&'static str],
    folder: &'static str,
}

const SPECS: [Spec; 5] = [
    Spec {
        bang: "shared",
        visibility: pb::Visibility::Unspecified,
        owner: "",
        teams: &[],
        folder: "General",
    },
    Spec {
        bang: "ann-own",
        visibility: pb::Visibility::Personal,
        owner: "ann",
        teams: &[],
        folder: "Billing/Refunds",
    },
    Spec {
        bang: "bob-own",
        visibility: pb::Visibility::Personal,
        owner: "bob",
        teams: &[],
        folder: "Billing/Secret",
    },
    Spec {
        bang: "billing-team",
        visibility: pb::Visibility::Team,
        owner: "zed",
        teams: &["billing"],
        folder: "Billing",
    },
    Spec {
        bang: "sales-team",
        visibility: pb::Visibility::Team,
        owner: "",
        teams: &["sales", "support"],
        folder: "",
    },
];

/// Creates the five shortcuts of [`SPECS`] as admin; returns their ids by bang.
async fn populate(client: &mut ShortcutServiceClient<Channel>) -> Vec<(String, String)> {
    let mut ids = Vec::new();
    for spec in &SPECS {
        let request = pb::CreateShortcutRequest {
            visibility: spec.visibility as i32,
            owner: spec.owner.into(),
            team_ids: spec.teams.iter().map(|t| t.to_string()).collect(),
            folder: spec.folder.into(),
            ..create(
                WS,
                spec.bang,
                &format!("Reply {} for <<contact.plan>>", spec.bang),
            )
        };
        let created = client
            .create_shortcut(as_token(ADMIN, request))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            created.visibility,
            spec.visibility.max(pb::Visibility::Workspace) as i32
        );
        ids.push((spec.bang.to_string(), created.id));
    }
    ids
}

fn listing(agent: Option<serde_json::Value>) -> pb::ListShortcutsRequest {
    pb::ListShortcutsRequest {
        workspace_id: WS.into(),
        agent: agent.map(structure),
        ..Default::default()
    }
}

async fn listed(
    client: &mut ShortcutServiceClient<Channel>,
    token: &str,
    agent: Option<serde_json::Value>,
) -> BTreeSet<String> {
    client
        .list_shortcuts(as_token(token, listing(agent)))
        .await
        .unwrap()
        .into_inner()
        .shortcuts
        .into_iter()
        .map(|s| s.bang)
        .collect()
}

async fn searched(
    client: &mut ShortcutServiceClient<Channel>,
    token: &str,
    query: &str,
) -> BTreeSet<String> {
    let request = pb::SearchShortcutsRequest {
        workspace_id: WS.into(),
        query: query.into(),
        limit: 50,
        ..Default::default()
    };
    client
        .search_shortcuts(as_token(token, request))
        .await
        .unwrap()
        .into_inner()
        .matches
        .into_iter()
        .map(|m| m.bang)
        .collect()
}

fn set(bangs: &[&str]) -> BTreeSet<String> {
    bangs.iter().map(|b| b.to_string()).collect()
}

/// The status of a failed call with `secret` replaced by `stand_in` (in its message and in
/// its details, decoded: their maps have no order), to compare the answer about an invisible
/// shortcut with the one about a missing one.
fn shape(status: tonic::Status, secret: &str, stand_in: &str) -> (Code, String, String) {
    use tonic_types::StatusExt;
    let details = format!("{:?}", status.get_error_details());
    let mut details: Vec<char> = details.replace(secret, stand_in).chars().collect();
    // Debug output of a HashMap lists its entries in any order.
    details.sort_unstable();
    let message = status.message().replace(secret, stand_in);
    (status.code(), message, details.into_iter().collect())
}

/// An id of the same shape as `id` that no shortcut has.
fn missing_like(id: &str) -> String {
    let mut chars: Vec<char> = id.chars().collect();
    let last = chars.last_mut().unwrap();
    *last = if *last == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

async fn who_sees_what(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, schema, _) = start(backend, dir.path()).await;
    let mut client = server.client().await;
    let ids = populate(&mut client).await;
    let id_of = |bang: &str| ids.iter().find(|(b, _)| b == bang).unwrap().1.clone();

    // List: own personal + own teams' + workspace; admin all; no agent: workspace only.
    let ann = set(&["ann-own", "billing-team", "shared"]);
    let bob = set(&["bob-own", "sales-team", "shared"]);
    let all = set(&["ann-own", "billing-team", "bob-own", "sales-team", "shared"]);
    assert_eq!(listed(&mut client, ANN, None).await, ann);
    assert_eq!(listed(&mut client, BOB, None).await, bob);
    assert_eq!(listed(&mut client, KIOSK, None).await, set(&["shared"]));
    assert_eq!(listed(&mut client, ADMIN, None).await, all);
    // A render token cannot borrow another agent's identity through `agent`.
    let as_bob = serde_json::json!({"id": "bob", "team_ids": ["sales"]});
    assert_eq!(listed(&mut client, ANN, Some(as_bob.clone())).await, ann);
    // A service token sees as the agent it names, and as nobody in particular otherwise.
    assert_eq!(listed(&mut client, BOT, Some(as_bob)).await, bob);
    assert_eq!(
        listed(&mut client, BOT, Some(serde_json::json!({"id": "ann"}))).await,
        set(&["ann-own", "shared"])
    );
    assert_eq!(
        listed(&mut client, BOT, Some(serde_json::json!({"id": "zed"}))).await,
        set(&["billing-team", "shared"]),
        "the owner of a team shortcut sees it"
    );
    assert_eq!(listed(&mut client, BOT, None).await, set(&["shared"]));

    // Search (the typeahead), empty query and words.
    assert_eq!(searched(&mut client, ANN, "").await, ann);
    assert_eq!(searched(&mut client, ANN, "reply").await, ann);
    assert_eq!(searched(&mut client, BOB, "!bob").await, set(&["bob-own"]));
    assert!(searched(&mut client, ANN, "!bob").await.is_empty());
    assert_eq!(searched(&mut client, ADMIN, "").await, all);

    // Get: an invisible shortcut answers exactly as a missing one, by id and by bang.
    let bob_id = id_of("bob-own");
    let absent = missing_like(&bob_id);
    let get = |key: pb::get_shortcut_request::Key| pb::GetShortcutRequest {
        workspace_id: WS.into(),
        key: Some(key),
        ..Default::default()
    };
    use pb::get_shortcut_request::Key;
    let hidden = client
        .get_shortcut(as_token(ANN, get(Key::Id(bob_id.clone()))))
        .await
        .unwrap_err();
    let missing = client
        .get_shortcut(as_token(ANN, get(Key::Id(absent.clone()))))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    assert_eq!(shape(hidden, &bob_id, "X"), shape(missing, &absent, "X"));
    let hidden = client
        .get_shortcut(as_token(ANN, get(Key::Bang("bob-own".into()))))
        .await
        .unwrap_err();
    let missing = client
        .get_shortcut(as_token(ANN, get(Key::Bang("bob-not".into()))))
        .await
        .unwrap_err();
    assert_eq!(
        shape(hidden, "bob-own", "X"),
        shape(missing, "bob-not", "X")
    );
    let seen = client
        .get_shortcut(as_token(BOB, get(Key::Id(bob_id.clone()))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (seen.visibility, seen.owner.as_str()),
        (pb::Visibility::Personal as i32, "bob")
    );
    client
        .get_shortcut(as_token(ADMIN, get(Key::Id(bob_id.clone()))))
        .await
        .unwrap();

    // Render and BatchRender: the same.
    use pb::render_shortcut_request::Shortcut;
    let render = |key: Shortcut, agent: Option<serde_json::Value>| pb::RenderShortcutRequest {
        workspace_id: WS.into(),
        shortcut: Some(key),
        contact_id: JANE.into(),
        agent: agent.map(structure),
        ..Default::default()
    };
    let hidden = client
        .render_shortcut(as_token(ANN, render(Shortcut::Id(bob_id.clone()), None)))
        .await
        .unwrap_err();
    let missing = client
        .render_shortcut(as_token(ANN, render(Shortcut::Id(absent.clone()), None)))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(shape(hidden, &bob_id, "X"), shape(missing, &absent, "X"));
    let reply = client
        .render_shortcut(as_token(
            ANN,
            render(Shortcut::Bang("billing-team".into()), None),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Reply billing-team for pro");
    let by_bot = client
        .render_shortcut(as_token(
            BOT,
            render(
                Shortcut::Bang("bob-own".into()),
                Some(serde_json::json!({"id": "bob", "first_name": "Bob"})),
            ),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_bot.text, "Reply bob-own for pro");
    assert_status(
        client
            .render_shortcut(as_token(
                BOT,
                render(
                    Shortcut::Bang("bob-own".into()),
                    Some(serde_json::json!({"id": "ann"})),
                ),
            ))
            .await,
        Code::NotFound,
        &["!bob-own"],
    );
    let batch = pb::BatchRenderRequest {
        workspace_id: WS.into(),
        template: Some(pb::batch_render_request::Template::Id(bob_id.clone())),
        recipients: vec![pb::BatchRecipient {
            contact_id: JANE.into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_status(
        client.batch_render(as_token(ANN, batch.clone())).await,
        Code::NotFound,
        &[&bob_id],
    );
    assert!(client.batch_render(as_token(BOB, batch)).await.is_ok());

    // ListFolders counts only what the caller sees.
    let folders = |token: &'static str| {
        let mut client = client.clone();
        async move {
            let tree = client
                .list_folders(as_token(
                    token,
                    pb::ListFoldersRequest {
                        workspace_id: WS.into(),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            let rows: Vec<(String, u32, u32)> = tree
                .folders
                .into_iter()
                .map(|f| (f.path, f.direct_count, f.total_count))
                .collect();
            (rows, tree.unfiled_count)
        }
    };
    let row = |p: &str, d: u32, t: u32| (p.to_string(), d, t);
    assert_eq!(
        folders(ANN).await,
        (
            vec![
                row("Billing", 1, 2),
                row("Billing/Refunds", 1, 1),
                row("General", 1, 1)
            ],
            0
        )
    );
    assert_eq!(
        folders(BOB).await,
        (
            vec![
                row("Billing", 0, 1),
                row("Billing/Secret", 1, 1),
                row("General", 1, 1)
            ],
            1
        )
    );
    assert_eq!(folders(ADMIN).await.0.len(), 4);

    // The visibility lives in the store: a restarted server (or a replica) agrees.
    drop(client);
    let url = match &schema {
        Some(schema) => schema.url(),
        None => dir.path().join("s.db").to_str().unwrap().to_string(),
    };
    server.stop().await;
    let tokens = dir.path().join("tokens.toml");
    let again = TestServer::start_on(
        &url,
        &[
            "--auth-tokens",
            tokens.to_str().unwrap(),
            "--seed-demo=false",
        ],
    );
    let mut client = again.client().await;
    assert_eq!(listed(&mut client, ANN, None).await, ann);
    assert_eq!(listed(&mut client, BOB, None).await, bob);
    assert_eq!(searched(&mut client, ANN, "").await, ann);
}

async fn writes_are_validated_naming_the_field(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _schema, _) = start(backend, dir.path()).await;
    let mut client = server.client().await;
    let bad = |visibility: pb::Visibility, owner: &str, teams: Vec<String>, folder: &str| {
        as_token(
            ADMIN,
            pb::CreateShortcutRequest {
                visibility: visibility as i32,
                owner: owner.into(),
                team_ids: teams,
                folder: folder.into(),
                ..create(WS, "bad", "x")
            },
        )
    };
    use pb::Visibility::{Personal, Team, Workspace};
    for (request, field) in [
        (bad(Personal, "", vec![], ""), "owner"),
        (bad(Team, "ann", vec![], ""), "team_ids"),
        (
            bad(Team, "", (0..33).map(|i| format!("t{i}")).collect(), ""),
            "team_ids",
        ),
        (
            bad(Team, "", vec!["ok".into(), "".into()], ""),
            "team_ids[1]",
        ),
        (bad(Personal, &"a".repeat(129), vec![], ""), "owner"),
        (bad(Workspace, "", vec![], "/Billing"), "folder"),
        (bad(Workspace, "", vec![], "Billing//Refunds"), "folder"),
        (bad(Workspace, "", vec![], "a/b/c/d/e/f/g/h/i"), "folder"),
        (bad(Workspace, "", vec![], " Billing"), "folder"),
    ] {
        assert_status(
            client.create_shortcut(request).await,
            Code::InvalidArgument,
            &[field],
        );
    }
    let mut request = create(WS, "bad", "x");
    request.visibility = 99;
    assert_status(
        client.create_shortcut(as_token(ADMIN, request)).await,
        Code::InvalidArgument,
        &["visibility"],
    );

    // An update is checked on the result: making a shortcut personal needs an owner.
    let created = client
        .create_shortcut(as_token(ADMIN, create(WS, "fine", "x")))
        .await
        .unwrap()
        .into_inner();
    let update = |visibility: pb::Visibility, owner: Option<&str>| pb::UpdateShortcutRequest {
        workspace_id: WS.into(),
        id: created.id.clone(),
        version: 1,
        visibility: Some(visibility as i32),
        owner: owner.map(str::to_string),
        ..Default::default()
    };
    assert_status(
        client
            .update_shortcut(as_token(ADMIN, update(Personal, None)))
            .await,
        Code::InvalidArgument,
        &["owner"],
    );
    let updated = client
        .update_shortcut(as_token(ADMIN, update(Personal, Some("ann"))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.visibility, updated.owner.as_str(), updated.version),
        (Personal as i32, "ann", 2)
    );
    // Fields left unset keep their value.
    let renamed = client
        .update_shortcut(as_token(
            ADMIN,
            pb::UpdateShortcutRequest {
                workspace_id: WS.into(),
                id: created.id.clone(),
                version: 2,
                title: Some("New title".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (renamed.visibility, renamed.owner.as_str()),
        (Personal as i32, "ann")
    );
    assert_eq!(listed(&mut client, BOB, None).await, BTreeSet::new());

    // A service's named agent is checked too.
    for (agent, field) in [
        (serde_json::json!({"id": ["x"]}), "agent.id"),
        (
            serde_json::json!({"id": "a", "team_ids": "x"}),
            "agent.team_ids",
        ),
        (
            serde_json::json!({"id": "a", "team_ids": [1]}),
            "agent.team_ids[0]",
        ),
    ] {
        assert_status(
            client
                .list_shortcuts(as_token(BOT, listing(Some(agent))))
                .await,
            Code::InvalidArgument,
            &[field],
        );
    }
    // Writes stay admin's: a service token may not create.
    assert_status(
        client
            .create_shortcut(as_token(BOT, create(WS, "nope", "x")))
            .await,
        Code::PermissionDenied,
        &["Admin"],
    );
}

crate::on_both_backends!(who_sees_what, writes_are_validated_naming_the_field);

/// Many shortcuts, few of them visible, the invisible ones ranking higher: the typeahead
/// still fills its page with the best visible ones.
#[tokio::test]
async fn typeahead_returns_the_top_visible_shortcuts_among_many_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _schema, _) = start(Backend::Sqlite, dir.path()).await;
    let mut client = server.client().await;
    // Bangs starting with the query rank above body matches: without filtering before
    // ranking, these would fill every page.
    for i in 0..300 {
        let request = pb::CreateShortcutRequest {
            visibility: pb::Visibility::Personal as i32,
            owner: format!("agent-{}", i % 7),
            ..create(WS, &format!("refund-{i:03}"), "Refund of another agent")
        };
        client
            .create_shortcut(as_token(ADMIN, request))
            .await
            .unwrap();
    }
    for i in 0..12 {
        let request = pb::CreateShortcutRequest {
            visibility: if i % 2 == 0 {
                pb::Visibility::Personal as i32
            } else {
                pb::Visibility::Workspace as i32
            },
            owner: "ann".into(),
            ..create(WS, &format!("mine-{i:02}"), "A refund I can send")
        };
        client
            .create_shortcut(as_token(ADMIN, request))
            .await
            .unwrap();
    }
    let search = |token: &'static str, query: &'static str, limit: i32| {
        let mut client = client.clone();
        async move {
            client
                .search_shortcuts(as_token(
                    token,
                    pb::SearchShortcutsRequest {
                        workspace_id: WS.into(),
                        query: query.into(),
                        limit,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .matches
                .into_iter()
                .map(|m| m.bang)
                .collect::<Vec<_>>()
        }
    };
    let found = search(ANN, "refund", 10).await;
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|b| b.starts_with("mine-")), "{found:?}");
    let found = search(ANN, "", 50).await;
    assert_eq!(found.len(), 12, "{found:?}");
    let found = search(KIOSK, "refund", 50).await;
    assert_eq!(found.len(), 6, "only the workspace ones: {found:?}");
    // The admin's page is full of the higher-ranked bang matches.
    let found = search(ADMIN, "refund", 10).await;
    assert!(found.iter().all(|b| b.starts_with("refund-")), "{found:?}");
    // Listing pages hold only what the caller sees, and the last one says it is the last
    // although 300 invisible shortcuts follow.
    let mut token = String::new();
    let mut sizes = Vec::new();
    loop {
        let page = client
            .list_shortcuts(as_token(
                ANN,
                pb::ListShortcutsRequest {
                    workspace_id: WS.into(),
                    page_size: 5,
                    page_token: token,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.shortcuts.iter().all(|s| s.bang.starts_with("mine-")));
        sizes.push(page.shortcuts.len());
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(sizes, [5, 5, 2]);
}

/// A visibility change made on one replica reaches the other: what an agent sees there
/// follows it, both ways.
#[tokio::test]
async fn replicas_propagate_visibility_changes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let schema = PgSchema::create().await;
    let args = ["--auth-tokens", tokens.as_str(), "--seed-demo=false"];
    let a = TestServer::start_on(schema.url(), &args);
    let b = TestServer::start_on(schema.url(), &args);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    let created = on_a
        .create_shortcut(as_token(
            ADMIN,
            pb::CreateShortcutRequest {
                visibility: pb::Visibility::Personal as i32,
                owner: "bob".into(),
                ..create(WS, "moving", "x")
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let wait_until = |client: &mut ShortcutServiceClient<Channel>, want: bool| {
        let mut client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let seen = listed(&mut client, ANN, None).await.contains("moving");
                if seen == want {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica never showed seen={want}"
                );
                poll_pause().await;
            }
        }
    };
    // B learns of the shortcut (visible to the admin) before the change is made.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed(&mut on_b, ADMIN, None).await.contains("moving") {
        assert!(
            Instant::now() < deadline,
            "replica B never saw the shortcut"
        );
        poll_pause().await;
    }
    assert!(!listed(&mut on_b, ANN, None).await.contains("moving"));
    let update = |version: u64, visibility: pb::Visibility, teams: Vec<String>| {
        as_token(
            ADMIN,
            pb::UpdateShortcutRequest {
                workspace_id: WS.into(),
                id: created.id.clone(),
                version,
                visibility: Some(visibility as i32),
                team_ids: Some(pb::TeamIdList { team_ids: teams }),
                ..Default::default()
            },
        )
    };
    on_a.update_shortcut(update(1, pb::Visibility::Team, vec!["billing".into()]))
        .await
        .unwrap();
    wait_until(&mut on_b, true).await;
    on_a.update_shortcut(update(2, pb::Visibility::Personal, vec![]))
        .await
        .unwrap();
    wait_until(&mut on_b, false).await;
    assert!(listed(&mut on_b, BOB, None).await.contains("moving"));
}

/// The pause between polls of another replica (the change feed is asynchronous).
async fn poll_pause() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// A shortcut's includes are part of its text, whoever may read it; an inline template
/// cannot reach a snippet its caller may not see (it is missing to it).
#[tokio::test]
async fn includes_lend_their_text_but_inline_templates_see_only_visible_snippets() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _schema, _) = start(Backend::Sqlite, dir.path()).await;
    let mut client = server.client().await;
    let signature = pb::CreateShortcutRequest {
        visibility: pb::Visibility::Personal as i32,
        owner: "bob".into(),
        snippet: true,
        ..create(WS, "bob-sig", "Bob, team lead")
    };
    client
        .create_shortcut(as_token(ADMIN, signature))
        .await
        .unwrap();
    let team_reply = pb::CreateShortcutRequest {
        visibility: pb::Visibility::Team as i32,
        team_ids: vec!["billing".into()],
        ..create(WS, "signed", "Thanks! {% include \"bob-sig\" %}")
    };
    client
        .create_shortcut(as_token(ADMIN, team_reply))
        .await
        .unwrap();
    let render = pb::RenderShortcutRequest {
        workspace_id: WS.into(),
        shortcut: Some(pb::render_shortcut_request::Shortcut::Bang("signed".into())),
        ..Default::default()
    };
    let reply = client
        .render_shortcut(as_token(ANN, render))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Thanks! Bob, team lead");
    assert!(!listed(&mut client, ANN, None).await.contains("bob-sig"));

    let inline = |name: &str| pb::RenderTemplateRequest {
        workspace_id: WS.into(),
        body: format!("{{% include \"{name}\" %}}"),
        ..Default::default()
    };
    let hidden = client
        .render_template(as_token(ANN, inline("bob-sig")))
        .await
        .unwrap_err();
    let missing = client
        .render_template(as_token(ANN, inline("bob-nop")))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::InvalidArgument, "{hidden:?}");
    assert_eq!(
        shape(hidden, "bob-sig", "X"),
        shape(missing, "bob-nop", "X")
    );
    let by_bob = client
        .render_template(as_token(BOB, inline("bob-sig")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_bob.text, "Bob, team lead");
    let validate = |token: &str| {
        as_token(
            token,
            pb::ValidateTemplateRequest {
                workspace_id: WS.into(),
                body: "{% include \"bob-sig\" %}".into(),
                ..Default::default()
            },
        )
    };
    let for_ann = client
        .validate_template(validate(ANN))
        .await
        .unwrap()
        .into_inner();
    assert!(!for_ann.valid, "{for_ann:?}");
    let for_bob = client
        .validate_template(validate(BOB))
        .await
        .unwrap()
        .into_inner();
    assert!(for_bob.valid, "{for_bob:?}");
}
