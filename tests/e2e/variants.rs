//! Localised variants: choosing the body for a locale, validation of each variant, updates
//! and persistence.

use std::collections::HashMap;

use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

fn with_variants(bang: &str, variants: &[(&str, &str)]) -> pb::CreateShortcutRequest {
    let mut request = create(DEMO, bang, "Hello <<contact.first_name>>");
    request.variants = variants
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<HashMap<_, _>>();
    request
}

fn render(bang: &str, locale: &str) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: JANE.into(),
        locale: locale.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_best_variant_for_the_locale_is_used_and_reported() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let created = client
        .create_shortcut(with_variants(
            "hello-intl",
            &[
                ("fr", "Bonjour <<contact.first_name>>"),
                ("FR-ca", "Allô <<contact.first_name>>"),
                (
                    "de",
                    "Hallo <<contact.first_name>>, <<contact.lifetime_value | number>>",
                ),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.variants.len(), 3);
    assert!(
        created.variants.contains_key("fr-CA"),
        "{:?}",
        created.variants
    );

    for (locale, text, variant) in [
        ("fr-CA", "Allô Jane", "fr-CA"),
        ("fr-ca", "Allô Jane", "fr-CA"),
        ("fr-BE", "Bonjour Jane", "fr"),
        ("fr", "Bonjour Jane", "fr"),
        ("de-AT", "Hallo Jane, 4.820,50", "de"),
        ("es", "Hello Jane", ""),
        ("", "Hello Jane", ""),
    ] {
        let reply = client
            .render_shortcut(render("hello-intl", locale))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, text, "{locale}");
        assert_eq!(reply.variant_locale, variant, "{locale}");
    }

    // Without a request locale the workspace's default picks the variant — after the
    // contact's own locale (issue 15): Jane's profile says `en`.
    client
        .update_workspace(pb::UpdateWorkspaceRequest {
            workspace_id: DEMO.into(),
            version: 1,
            default_locale: Some("fr".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let reply = client
        .render_shortcut(render("hello-intl", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.text.as_str(), reply.variant_locale.as_str()),
        ("Hello Jane", "")
    );
    assert_eq!(reply.locale_source, pb::LocaleSource::Contact as i32);
    let reply = client
        .render_shortcut(pb::RenderShortcutRequest {
            contact_id: crate::NO_PLAN_CONTACT.into(),
            ..render("hello-intl", "")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.variant_locale, "fr");
    assert_eq!(reply.locale_source, pb::LocaleSource::Workspace as i32);
}

#[tokio::test]
async fn variants_are_checked_like_the_body() {
    let server = TestServer::start();
    let mut client = server.client().await;
    assert_status(
        client
            .create_shortcut(with_variants(
                "bad-variant",
                &[("fr", "Bonjour\n<<contact.first_nme | uper>>")],
            ))
            .await,
        Code::InvalidArgument,
        &["variants[\"fr\"]", "line 2, column", "did you mean `upper`"],
    );
    assert_status(
        client
            .create_shortcut(with_variants("bad-variant", &[("fr", "{% if %}")]))
            .await,
        Code::InvalidArgument,
        &["variants[\"fr\"]", "line 1"],
    );
    assert_status(
        client
            .create_shortcut(with_variants("bad-variant", &[("french!", "Bonjour")]))
            .await,
        Code::InvalidArgument,
        &["variants[\"french!\"]", "language tag"],
    );
    assert_status(
        client
            .create_shortcut(with_variants("bad-variant", &[("de", "  ")]))
            .await,
        Code::InvalidArgument,
        &["variants[\"de\"]", "required"],
    );
    assert_status(
        client
            .create_shortcut(with_variants("bad-variant", &[("fr", "a"), ("FR", "b")]))
            .await,
        Code::InvalidArgument,
        &["given twice"],
    );
    // Nothing was written.
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: DEMO.into(),
                key: Some(pb::get_shortcut_request::Key::Bang("bad-variant".into())),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &[],
    );
}

#[tokio::test]
async fn variants_are_replaced_by_updates_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("shortcuts.db");
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let created = client
        .create_shortcut(with_variants("bye-intl", &[("fr", "Au revoir")]))
        .await
        .unwrap()
        .into_inner();
    // An update without `variants` keeps them.
    let kept = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 1,
            title: Some("Bye".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.variants, created.variants);
    let replaced = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 2,
            variants: Some(pb::VariantMap {
                variants: [("es".to_string(), "Adiós".to_string())].into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.variants.keys().collect::<Vec<_>>(), ["es"]);
    // A bad variant in an update writes nothing.
    assert_status(
        client
            .update_shortcut(pb::UpdateShortcutRequest {
                workspace_id: DEMO.into(),
                id: created.id.clone(),
                version: 3,
                variants: Some(pb::VariantMap {
                    variants: [("it".to_string(), "<<contact.plan | nope>>".to_string())].into(),
                }),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["variants[\"it\"]"],
    );

    drop(client);
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let reply = client
        .render_shortcut(render("bye-intl", "es-MX"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.text.as_str(), reply.variant_locale.as_str()),
        ("Adiós", "es")
    );
    assert_eq!(reply.shortcut_version, 3);
    let reply = client
        .render_shortcut(render("bye-intl", "fr"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Hello Jane");
}
