//! The customer's language (issue 15): without a request locale, the conversation's, then
//! the contact's, then the workspace's default choose the variant and the formatting, and
//! the response says which; variant texts are searchable.

use std::collections::HashMap;

use crate::harness::TestServer;
use crate::{DEMO, JANE, NO_PLAN_CONTACT, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

const CAMILLE: &str = "e7b3d9f1-4a6c-4e8b-9d2f-6a8c0e2b4d55";
const CAMILLE_SESSION: &str = "session_9c2e4a6b-8d0f-4b1c-a3e5-7f9b1d3c5e6f";
const LUIS_SESSION: &str = "session_7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4e";

#[tokio::test]
async fn the_locale_comes_from_the_request_session_contact_or_workspace() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut request = create(DEMO, "thanks-intl", "Thanks, <<1234.5 | number>>");
    request.variants = HashMap::from([
        ("fr".to_string(), "Merci, <<1234.5 | number>>".to_string()),
        ("de".to_string(), "Danke, <<1234.5 | number>>".to_string()),
    ]);
    client.create_shortcut(request).await.unwrap();
    use pb::LocaleSource as S;
    for (contact, session, locale, text, variant, format, source) in [
        (
            CAMILLE,
            "",
            "",
            "Merci, 1\u{202f}234,50",
            "fr",
            "fr",
            S::Contact,
        ),
        (
            CAMILLE,
            CAMILLE_SESSION,
            "",
            "Merci, 1\u{202f}234,50",
            "fr",
            "fr",
            S::Session,
        ),
        (
            CAMILLE,
            LUIS_SESSION,
            "",
            "Thanks, 1234,50",
            "",
            "es",
            S::Session,
        ),
        (
            CAMILLE,
            CAMILLE_SESSION,
            "de",
            "Danke, 1.234,50",
            "de",
            "de",
            S::Request,
        ),
        (
            NO_PLAN_CONTACT,
            "",
            "",
            "Thanks, 1,234.50",
            "",
            "en",
            S::Workspace,
        ),
        (JANE, "", "", "Thanks, 1,234.50", "", "en", S::Contact),
    ] {
        let reply = client
            .render_shortcut(pb::RenderShortcutRequest {
                workspace_id: DEMO.into(),
                shortcut: Some(Shortcut::Bang("thanks-intl".into())),
                contact_id: contact.into(),
                session_id: session.into(),
                locale: locale.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let case = format!("{contact} {session} {locale:?}");
        assert_eq!(reply.text, text, "{case}");
        assert_eq!(reply.variant_locale, variant, "{case}");
        assert_eq!(reply.format_locale, format, "{case}");
        assert_eq!(reply.locale_source, source as i32, "{case}");
    }
}

#[tokio::test]
async fn variant_texts_are_searchable() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut request = create(DEMO, "refund-intl", "Your refund is on its way");
    request.variants = HashMap::from([(
        "fr".to_string(),
        "Votre remboursement est en route".to_string(),
    )]);
    client.create_shortcut(request).await.unwrap();
    let found = client
        .search_shortcuts(pb::SearchShortcutsRequest {
            workspace_id: DEMO.into(),
            query: "rembours".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let bangs: Vec<&str> = found.matches.iter().map(|m| m.bang.as_str()).collect();
    assert_eq!(bangs, ["refund-intl"]);
    // The preview shows the variant's text, where the match is, not the default body.
    let hit = &found.matches[0];
    assert_eq!(hit.preview, "Votre remboursement est en route");
    let ranges: Vec<(u32, u32)> = hit
        .preview_highlights
        .iter()
        .map(|r| (r.start, r.end))
        .collect();
    assert_eq!(ranges, [(6, 14)]);
    // A word of the default body still previews the default body.
    let found = client
        .search_shortcuts(pb::SearchShortcutsRequest {
            workspace_id: DEMO.into(),
            query: "refund way".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let hit = found
        .matches
        .iter()
        .find(|m| m.bang == "refund-intl")
        .unwrap();
    assert_eq!(hit.preview, "Your refund is on its way");
}
