//! Shortcut CRUD over gRPC, its errors, and workspace isolation.

use tonic::Code;

use crate::harness::{Backend, start_backend};
use crate::{DEMO, as_read, assert_status, create};
use shortcuts::pb;
use shortcuts::pb::get_shortcut_request::Key;

crate::on_both_backends!(
    create_get_update_delete,
    write_errors_name_the_problem_and_write_nothing,
    list_pages_filters_and_hides_disabled,
    workspaces_are_isolated,
);

fn by_bang(workspace: &str, bang: &str) -> pb::GetShortcutRequest {
    pb::GetShortcutRequest {
        workspace_id: workspace.into(),
        key: Some(Key::Bang(bang.into())),
        ..Default::default()
    }
}

fn by_id(workspace: &str, id: &str) -> pb::GetShortcutRequest {
    pb::GetShortcutRequest {
        workspace_id: workspace.into(),
        key: Some(Key::Id(id.into())),
        ..Default::default()
    }
}

async fn create_get_update_delete(backend: Backend) {
    let (server, _schema) = start_backend(backend).await;
    let mut client = server.client().await;

    let mut request = create("team", "!Welcome", "Hi <<contact.first_name>>!");
    request.tags = vec!["Onboarding".into(), "greeting".into()];
    let created = client.create_shortcut(request).await.unwrap().into_inner();
    assert_eq!(created.bang, "Welcome", "the leading ! is stripped");
    assert_eq!(created.tags, ["onboarding", "greeting"]);
    assert_eq!(created.version, 1);
    assert!(!created.id.is_empty());
    assert!(created.create_time.is_some());

    for request in [
        by_id("team", &created.id),
        by_bang("team", "welcome"),
        by_bang("team", "!WELCOME"),
    ] {
        let got = client.get_shortcut(request).await.unwrap().into_inner();
        assert_eq!(got, as_read(&created));
    }

    let updated = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: "team".into(),
            id: created.id.clone(),
            version: 1,
            title: Some("Warm welcome".into()),
            body: Some("Welcome aboard, <<contact.first_name>>.".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.title, "Warm welcome");
    assert_eq!(updated.bang, "Welcome", "unset fields keep their value");
    assert_eq!(updated.tags, ["onboarding", "greeting"]);
    let got = client
        .get_shortcut(by_id("team", &created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, as_read(&updated));

    client
        .delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: "team".into(),
            id: created.id.clone(),
            version: Some(2),
        })
        .await
        .unwrap();
    assert_status(
        client.get_shortcut(by_id("team", &created.id)).await,
        Code::NotFound,
        &[&created.id],
    );
    assert_status(
        client.get_shortcut(by_bang("team", "welcome")).await,
        Code::NotFound,
        &["!welcome"],
    );
    // The bang is free again.
    client
        .create_shortcut(create("team", "welcome", "again"))
        .await
        .unwrap();
}

async fn write_errors_name_the_problem_and_write_nothing(backend: Backend) {
    let (server, _schema) = start_backend(backend).await;
    let mut client = server.client().await;
    let first = client
        .create_shortcut(create("team", "refund", "v1"))
        .await
        .unwrap()
        .into_inner();

    assert_status(
        client
            .create_shortcut(create("team", "REFUND", "other"))
            .await,
        Code::AlreadyExists,
        &["!REFUND"],
    );
    assert_status(
        client
            .create_shortcut(create("team", "has space", "x"))
            .await,
        Code::InvalidArgument,
        &["bang"],
    );
    assert_status(
        client
            .create_shortcut(create("team", &"x".repeat(65), "x"))
            .await,
        Code::InvalidArgument,
        &["bang", "64"],
    );
    assert_status(
        client
            .create_shortcut(create("team", "big", &"a".repeat(16 * 1024 + 1)))
            .await,
        Code::InvalidArgument,
        &["body", "16 KiB"],
    );
    assert_status(
        client.create_shortcut(create("", "x", "x")).await,
        Code::InvalidArgument,
        &["workspace_id"],
    );
    let mut no_title = create("team", "untitled", "x");
    no_title.title.clear();
    assert_status(
        client.create_shortcut(no_title).await,
        Code::InvalidArgument,
        &["title"],
    );
    assert_status(
        client.get_shortcut(by_id("team", "0000")).await,
        Code::NotFound,
        &["0000"],
    );
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: "team".into(),
                key: None,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["id", "bang"],
    );

    // Moving to version 2, then a writer still holding version 1 is refused.
    let update = |version, body: &str| pb::UpdateShortcutRequest {
        workspace_id: "team".into(),
        id: first.id.clone(),
        version,
        body: Some(body.into()),
        ..Default::default()
    };
    client.update_shortcut(update(1, "v2")).await.unwrap();
    assert_status(
        client.update_shortcut(update(1, "stale write")).await,
        Code::FailedPrecondition,
        &["version 2"],
    );
    assert_status(
        client.update_shortcut(update(0, "no version")).await,
        Code::InvalidArgument,
        &["version"],
    );
    assert_status(
        client
            .delete_shortcut(pb::DeleteShortcutRequest {
                workspace_id: "team".into(),
                id: first.id.clone(),
                version: Some(1),
            })
            .await,
        Code::FailedPrecondition,
        &["version 2"],
    );
    let mut taken = create("team", "other", "o");
    taken.bang = "other".into();
    client.create_shortcut(taken).await.unwrap();
    let rename = pb::UpdateShortcutRequest {
        workspace_id: "team".into(),
        id: first.id.clone(),
        version: 2,
        bang: Some("Other".into()),
        ..Default::default()
    };
    assert_status(
        client.update_shortcut(rename).await,
        Code::AlreadyExists,
        &["!Other"],
    );
    let bad_body = pb::UpdateShortcutRequest {
        workspace_id: "team".into(),
        id: first.id.clone(),
        version: 2,
        title: Some("new title".into()),
        body: Some("{% if %}".into()),
        ..Default::default()
    };
    assert_status(
        client.update_shortcut(bad_body).await,
        Code::InvalidArgument,
        &["body", "line 1"],
    );

    let current = client
        .get_shortcut(by_id("team", &first.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            current.version,
            current.body.as_str(),
            current.bang.as_str()
        ),
        (2, "v2", "refund")
    );
    assert_eq!(
        current.title, first.title,
        "a refused update changes nothing"
    );
}

async fn list_pages_filters_and_hides_disabled(backend: Backend) {
    let (server, _schema) = start_backend(backend).await;
    let mut client = server.client().await;
    for i in 0..25 {
        let mut request = create("team", &format!("s{i:02}"), "body");
        request.tags = if i % 5 == 0 {
            vec!["billing".into()]
        } else {
            vec![]
        };
        request.disabled = i == 10;
        client.create_shortcut(request).await.unwrap();
    }
    let list =
        |page_token: String, tags: Vec<String>, include_disabled: bool| pb::ListShortcutsRequest {
            workspace_id: "team".into(),
            page_size: 10,
            page_token,
            tags,
            include_disabled,
            ..Default::default()
        };
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_shortcuts(list(token, vec![], false))
            .await
            .unwrap()
            .into_inner();
        assert!(page.shortcuts.len() <= 10);
        seen.extend(page.shortcuts.into_iter().map(|s| s.bang));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..25)
        .filter(|i| *i != 10)
        .map(|i| format!("s{i:02}"))
        .collect();
    assert_eq!(seen, expected);

    let billing = client
        .list_shortcuts(list(String::new(), vec!["Billing".into()], true))
        .await
        .unwrap()
        .into_inner();
    let bangs: Vec<_> = billing.shortcuts.iter().map(|s| s.bang.as_str()).collect();
    assert_eq!(bangs, ["s00", "s05", "s10", "s15", "s20"]);

    assert_status(
        client
            .list_shortcuts(list("garbage!".into(), vec![], false))
            .await,
        Code::InvalidArgument,
        &["page_token"],
    );
}

async fn workspaces_are_isolated(backend: Backend) {
    let (server, _schema) = start_backend(backend).await;
    let mut client = server.client().await;
    let secret = client
        .create_shortcut(create("alpha", "secret", "alpha only"))
        .await
        .unwrap()
        .into_inner();

    assert_status(
        client.get_shortcut(by_id("beta", &secret.id)).await,
        Code::NotFound,
        &[],
    );
    assert_status(
        client.get_shortcut(by_bang("beta", "secret")).await,
        Code::NotFound,
        &[],
    );
    let update = pb::UpdateShortcutRequest {
        workspace_id: "beta".into(),
        id: secret.id.clone(),
        version: 1,
        title: Some("hijacked".into()),
        ..Default::default()
    };
    assert_status(client.update_shortcut(update).await, Code::NotFound, &[]);
    let delete = pb::DeleteShortcutRequest {
        workspace_id: "beta".into(),
        id: secret.id.clone(),
        version: None,
    };
    assert_status(client.delete_shortcut(delete).await, Code::NotFound, &[]);
    let beta = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: "beta".into(),
            include_disabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(beta.shortcuts.is_empty());
    // The same bang is free in another workspace.
    client
        .create_shortcut(create("beta", "secret", "beta's own"))
        .await
        .unwrap();
    let alpha = client
        .get_shortcut(by_id("alpha", &secret.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alpha, as_read(&secret));

    // The demo library lives in `demo` only.
    client.get_shortcut(by_bang(DEMO, "refund")).await.unwrap();
    assert_status(
        client.get_shortcut(by_bang("alpha", "refund")).await,
        Code::NotFound,
        &[],
    );
}
