//! SearchShortcuts: ranking tiers and recent use, accent folding, several words, disabled
//! and tag filters, highlights, and an index that follows every write and restart.

use tonic::Code;
use tonic::transport::Channel;

use crate::harness::TestServer;
use crate::{DEMO, assert_status};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

const WS: &str = "search";

type Client = ShortcutServiceClient<Channel>;

struct Fixture<'a> {
    bang: &'a str,
    title: &'a str,
    tags: &'a [&'a str],
    body: &'a str,
    disabled: bool,
}

const fn fixture<'a>(
    bang: &'a str,
    title: &'a str,
    tags: &'a [&'a str],
    body: &'a str,
) -> Fixture<'a> {
    Fixture {
        bang,
        title,
        tags,
        body,
        disabled: false,
    }
}

/// A catalogue where `ref` hits every tier, and some near misses.
const CATALOGUE: &[Fixture<'static>] = &[
    fixture(
        "ref",
        "Reference number",
        &[],
        "Please quote your case number.",
    ),
    fixture(
        "refund",
        "Refund issued",
        &["billing"],
        "Your money is on its way back.",
    ),
    fixture(
        "refund-policy",
        "Our refund policy",
        &["billing"],
        "Refunds within 30 days.",
    ),
    fixture(
        "referral",
        "Invite a friend",
        &["sales"],
        "Share your link.",
    ),
    fixture(
        "money-back",
        "Refund options",
        &["billing"],
        "Three ways to get paid back.",
    ),
    fixture(
        "late-delivery",
        "Late parcel",
        &["shipping"],
        "Sorry it is late; we can refund the shipping.",
    ),
    fixture(
        "billing-issue",
        "Billing problem",
        &["refunds"],
        "Let me look into it.",
    ),
    // Near misses: `ref` inside a word, or only inside template markup.
    fixture(
        "settings",
        "Your preferences",
        &[],
        "Change them in your profile.",
    ),
    fixture("greeting", "Hello", &[], "Hi <<vars.ref>>, welcome!"),
];

async fn create_all(client: &mut Client, fixtures: &[Fixture<'_>]) {
    for f in fixtures {
        client
            .create_shortcut(pb::CreateShortcutRequest {
                workspace_id: WS.into(),
                bang: f.bang.into(),
                title: f.title.into(),
                body: f.body.into(),
                tags: f.tags.iter().map(|t| t.to_string()).collect(),
                disabled: f.disabled,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

fn query(text: &str) -> pb::SearchShortcutsRequest {
    pb::SearchShortcutsRequest {
        workspace_id: WS.into(),
        query: text.into(),
        ..Default::default()
    }
}

async fn search(
    client: &mut Client,
    request: pb::SearchShortcutsRequest,
) -> Vec<pb::ShortcutMatch> {
    client
        .search_shortcuts(request)
        .await
        .unwrap()
        .into_inner()
        .matches
}

fn bangs(matches: &[pb::ShortcutMatch]) -> Vec<&str> {
    matches.iter().map(|m| m.bang.as_str()).collect()
}

/// The text a UTF-16 range covers, sliced the way a JavaScript front-end would.
fn js_slice(text: &str, range: &pb::TextRange) -> String {
    let units: Vec<u16> = text.encode_utf16().collect();
    String::from_utf16(&units[range.start as usize..range.end as usize]).unwrap()
}

fn highlighted(text: &str, ranges: &[pb::TextRange]) -> Vec<String> {
    ranges.iter().map(|r| js_slice(text, r)).collect()
}

async fn render(client: &mut Client, bang: &str) {
    client
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: WS.into(),
            shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(bang.into())),
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn ranks_by_tier_then_recent_use_then_bang() {
    let server = TestServer::start();
    let mut client = server.client().await;
    create_all(&mut client, CATALOGUE).await;

    let found = search(&mut client, query("!ref")).await;
    assert_eq!(
        bangs(&found),
        [
            "ref",
            "referral",
            "refund",
            "refund-policy",
            "money-back",
            "billing-issue",
            "late-delivery"
        ]
    );
    let kinds: Vec<pb::MatchKind> = found.iter().map(|m| m.kind()).collect();
    use pb::MatchKind::*;
    assert_eq!(
        kinds,
        [
            ExactBang, BangPrefix, BangPrefix, BangPrefix, Title, Text, Text
        ]
    );

    // Renders are uses: within a tier, the more used ranks first.
    render(&mut client, "refund-policy").await;
    render(&mut client, "refund-policy").await;
    render(&mut client, "refund").await;
    render(&mut client, "late-delivery").await;
    // Using the exact match does not lift others above it.
    let found = search(&mut client, query("ref")).await;
    assert_eq!(
        bangs(&found),
        [
            "ref",
            "refund-policy",
            "refund",
            "referral",
            "money-back",
            "late-delivery",
            "billing-issue"
        ]
    );

    // The limit keeps the best ones.
    let mut limited = query("ref");
    limited.limit = 3;
    assert_eq!(
        bangs(&search(&mut client, limited).await),
        ["ref", "refund-policy", "refund"]
    );

    // An empty query lists everything, most used first.
    let mut everything = query("!");
    everything.limit = 50;
    let found = search(&mut client, everything).await;
    assert_eq!(found.len(), CATALOGUE.len());
    assert_eq!(
        bangs(&found)[..3],
        ["refund-policy", "late-delivery", "refund"]
    );
    assert!(found.iter().all(|m| m.kind() == Any));
}

#[tokio::test]
async fn folds_case_and_accents() {
    let server = TestServer::start();
    let mut client = server.client().await;
    create_all(
        &mut client,
        &[
            fixture(
                "crème",
                "Café offert",
                &["Événement"],
                "Un CAFÉ crème, offert par la maison.",
            ),
            fixture("tea", "Thé", &[], "Earl Grey."),
        ],
    )
    .await;

    for typed in ["cafe", "CAFÉ", "Cafe\u{301}", "café"] {
        let found = search(&mut client, query(typed)).await;
        assert_eq!(bangs(&found), ["crème"], "query {typed:?}");
        let hit = &found[0];
        assert_eq!(highlighted(&hit.title, &hit.title_highlights), ["Café"]);
        assert_eq!(
            highlighted(&hit.preview, &hit.preview_highlights),
            ["CAFÉ"],
            "{}",
            hit.preview
        );
    }
    let found = search(&mut client, query("!creme")).await;
    assert_eq!(found[0].kind(), pb::MatchKind::ExactBang);
    assert_eq!(
        highlighted(&found[0].bang, &found[0].bang_highlights),
        ["crème"]
    );
    let found = search(&mut client, query("evenem")).await;
    assert_eq!(bangs(&found), ["crème"]);
    assert_eq!(found[0].tag_highlights[0].tag_index, 0);
    assert_eq!(
        highlighted(&found[0].tags[0], &found[0].tag_highlights[0].ranges),
        ["événem"]
    );
    assert_eq!(bangs(&search(&mut client, query("THE")).await), ["tea"]);
}

#[tokio::test]
async fn every_word_has_to_match() {
    let server = TestServer::start();
    let mut client = server.client().await;
    create_all(&mut client, CATALOGUE).await;

    let found = search(&mut client, query("refund pol")).await;
    assert_eq!(bangs(&found), ["refund-policy"]);
    assert_eq!(found[0].kind(), pb::MatchKind::Title);
    assert_eq!(
        highlighted(&found[0].title, &found[0].title_highlights),
        ["refund", "pol"]
    );
    // Words may match in different fields: title and body here.
    let found = search(&mut client, query("late shipp")).await;
    assert_eq!(bangs(&found), ["late-delivery"]);
    assert_eq!(found[0].kind(), pb::MatchKind::Text);
    // Order does not matter; a word that matches nothing empties the result.
    assert_eq!(
        bangs(&search(&mut client, query("pol refund")).await),
        ["refund-policy"]
    );
    assert!(search(&mut client, query("refund zebra")).await.is_empty());
    // A bang typed with its dash is a prefix of the whole bang.
    // Other shortcuts with words starting `refund` and `p` follow it.
    let found = search(&mut client, query("!refund-p")).await;
    assert_eq!(
        bangs(&found),
        [
            "refund-policy",
            "billing-issue",
            "late-delivery",
            "money-back"
        ]
    );
    assert_eq!(found[0].kind(), pb::MatchKind::BangPrefix);
    assert!(found[1..].iter().all(|m| m.kind() == pb::MatchKind::Text));
    assert_eq!(
        highlighted(&found[0].bang, &found[0].bang_highlights),
        ["refund-p"]
    );
}

#[tokio::test]
async fn disabled_shortcuts_and_tags_filter() {
    let server = TestServer::start();
    let mut client = server.client().await;
    create_all(&mut client, CATALOGUE).await;
    create_all(
        &mut client,
        &[Fixture {
            disabled: true,
            ..fixture("refund-old", "Old refund text", &["billing"], "Outdated.")
        }],
    )
    .await;

    let found = search(&mut client, query("refund")).await;
    assert!(
        !bangs(&found).contains(&"refund-old"),
        "{:?}",
        bangs(&found)
    );
    let mut with_disabled = query("refund");
    with_disabled.include_disabled = true;
    let found = search(&mut client, with_disabled).await;
    let old = found
        .iter()
        .find(|m| m.bang == "refund-old")
        .expect("listed");
    assert!(old.disabled);

    let mut billing = query("ref");
    billing.tags = vec!["Billing".into()];
    assert_eq!(
        bangs(&search(&mut client, billing).await),
        ["refund", "refund-policy", "money-back"]
    );
    let mut nothing = query("ref");
    nothing.tags = vec!["billing".into(), "no-such-tag".into()];
    assert!(search(&mut client, nothing).await.is_empty());
}

#[tokio::test]
async fn highlights_are_utf16_ranges_of_what_matched() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let long_intro = "We looked at your account carefully. ".repeat(5);
    create_all(
        &mut client,
        &[
            fixture(
                "party",
                "🎉 Party refund",
                &[],
                "🎉 Good news <<contact.first_name>>: your refund is on its way.",
            ),
            fixture(
                "late-refund",
                "Late",
                &[],
                &format!("{long_intro}The refund was sent today."),
            ),
        ],
    )
    .await;

    let found = search(&mut client, query("refund")).await;
    assert_eq!(bangs(&found), ["party", "late-refund"]);
    let party = &found[0];
    assert_eq!(party.kind(), pb::MatchKind::Title);
    assert_eq!(
        highlighted(&party.title, &party.title_highlights),
        ["refund"]
    );
    assert!(
        party
            .preview
            .starts_with("🎉 Good news <<contact.first_name>>")
    );
    assert_eq!(
        highlighted(&party.preview, &party.preview_highlights),
        ["refund"]
    );
    assert!(party.bang_highlights.is_empty());

    // A match far into a long body: the preview moves to it and says it was cut.
    let late = &found[1];
    assert!(late.preview.starts_with('…'), "{}", late.preview);
    assert!(
        late.preview.contains("The refund was sent today."),
        "{}",
        late.preview
    );
    assert!(late.preview.chars().count() <= 122, "{}", late.preview);
    assert_eq!(
        highlighted(&late.preview, &late.preview_highlights),
        ["refund"]
    );

    // Template markup is never matched.
    assert!(
        search(&mut client, query("first_name contact"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_index_follows_writes_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("search.db");
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    create_all(&mut client, CATALOGUE).await;
    let money_back = search(&mut client, query("money-back")).await.remove(0);
    assert_eq!(money_back.bang, "money-back");

    let renamed = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: WS.into(),
            id: money_back.id.clone(),
            version: money_back.version,
            title: Some("Guarantee".into()),
            bang: Some("guarantee".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // `money` is left only in the body of `refund`.
    assert_eq!(
        bangs(&search(&mut client, query("money")).await),
        ["refund"]
    );
    assert_eq!(
        bangs(&search(&mut client, query("guar")).await),
        ["guarantee"]
    );
    let refunds = search(&mut client, query("refund opt")).await;
    assert!(
        refunds.is_empty(),
        "old title still indexed: {:?}",
        bangs(&refunds)
    );

    client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: WS.into(),
            id: renamed.id.clone(),
            version: renamed.version,
            disabled: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(search(&mut client, query("guar")).await.is_empty());

    let referral = search(&mut client, query("referral")).await.remove(0);
    client
        .delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: WS.into(),
            id: referral.id,
            version: None,
        })
        .await
        .unwrap();
    assert!(search(&mut client, query("referral")).await.is_empty());

    // The starter library of the demo workspace is indexed too, and other workspaces
    // stay apart.
    let mut demo = query("refund");
    demo.workspace_id = DEMO.into();
    assert_eq!(bangs(&search(&mut client, demo.clone()).await), ["refund"]);
    assert!(search(&mut client, query("order-status")).await.is_empty());

    drop(client);
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    assert_eq!(
        bangs(&search(&mut client, query("!ref")).await)[..3],
        ["ref", "refund", "refund-policy"]
    );
    assert!(search(&mut client, query("referral")).await.is_empty());
    let mut with_disabled = query("guar");
    with_disabled.include_disabled = true;
    assert_eq!(
        bangs(&search(&mut client, with_disabled).await),
        ["guarantee"]
    );
    assert_eq!(bangs(&search(&mut client, demo).await), ["refund"]);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut negative = query("x");
    negative.limit = -1;
    assert_status(
        client.search_shortcuts(negative).await,
        Code::InvalidArgument,
        &["limit"],
    );
    assert_status(
        client.search_shortcuts(query(&"x".repeat(300))).await,
        Code::InvalidArgument,
        &["query", "256"],
    );
    let mut no_workspace = query("x");
    no_workspace.workspace_id = String::new();
    assert_status(
        client.search_shortcuts(no_workspace).await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
    let mut bad_tag = query("x");
    bad_tag.tags = vec![" ".into()];
    assert_status(
        client.search_shortcuts(bad_tag).await,
        Code::InvalidArgument,
        &["tags[0]"],
    );
    // More than the maximum is served as the maximum.
    for i in 0..55 {
        client
            .create_shortcut(crate::create(WS, &format!("bulk-{i:02}"), "Bulk reply."))
            .await
            .unwrap();
    }
    let mut huge = query("bulk");
    huge.limit = 1000;
    let found = search(&mut client, huge).await;
    assert_eq!(found.len(), 50);
    assert_eq!(found[0].bang, "bulk-00");
    assert_eq!(
        search(&mut client, query("bulk")).await.len(),
        10,
        "the default limit"
    );
}

#[tokio::test]
async fn a_batch_counts_as_one_use() {
    let server = TestServer::start();
    let mut client = server.client().await;
    create_all(
        &mut client,
        &[
            fixture("alpha-a", "Alpha A", &[], "A."),
            fixture("alpha-b", "Alpha B", &[], "B."),
            fixture("alpha-c", "Alpha C", &[], "C."),
        ],
    )
    .await;
    render(&mut client, "alpha-c").await;
    render(&mut client, "alpha-c").await;
    let batch = pb::BatchRenderRequest {
        workspace_id: WS.into(),
        template: Some(pb::batch_render_request::Template::Bang("alpha-b".into())),
        recipients: vec![pb::BatchRecipient::default(); 5],
        ..Default::default()
    };
    let mut results = client.batch_render(batch).await.unwrap().into_inner();
    let mut rendered = 0;
    while let Some(result) = results.message().await.unwrap() {
        assert!(matches!(
            result.outcome,
            Some(pb::batch_render_result::Outcome::Rendered(_))
        ));
        rendered += 1;
    }
    assert_eq!(rendered, 5);
    // Counted per recipient, alpha-b (5) would lead; not counted, alpha-a would beat it.
    assert_eq!(
        bangs(&search(&mut client, query("alpha")).await),
        ["alpha-c", "alpha-b", "alpha-a"]
    );
}
