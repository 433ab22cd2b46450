//! Folders (issue 17): filing shortcuts under `Billing/Refunds` with a position, listing one
//! folder with or without its sub-folders (by position, then bang, page after page), and
//! the folder tree with its counts, on both stores.

use tonic::Code;

use crate::harness::{Backend, PgSchema, TestServer};
use crate::{assert_status, create};
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

const WS: &str = "fold";

/// (bang, folder, position)
const FILED: [(&str, &str, i32); 8] = [
    ("zeta", "Billing", 1),
    ("alpha", "Billing", 2),
    ("beta", "Billing", 1),
    ("minus", "Billing", -5),
    ("deep", "Billing/Refunds", 0),
    ("deeper", "Billing/Refunds/EU", 0),
    ("other", "Billings", 0),
    ("loose", "", 0),
];

async fn listed(
    client: &mut ShortcutServiceClient<Channel>,
    folder: &str,
    include_subfolders: bool,
    page_size: i32,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: WS.into(),
                folder: folder.into(),
                include_subfolders,
                page_size,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages.push(page.shortcuts.into_iter().map(|s| s.bang).collect());
        token = page.next_page_token;
        if token.is_empty() {
            return pages;
        }
    }
}

fn names(bangs: &[&str]) -> Vec<String> {
    bangs.iter().map(|b| b.to_string()).collect()
}

async fn folders_filter_order_and_page(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _schema) = match backend {
        Backend::Sqlite => (dir.path().join("s.db").to_str().unwrap().to_string(), None),
        Backend::Postgres => {
            let schema = PgSchema::create().await;
            (schema.url(), Some(schema))
        }
    };
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    for (bang, folder, position) in FILED {
        let created = client
            .create_shortcut(pb::CreateShortcutRequest {
                folder: folder.into(),
                position,
                ..create(WS, bang, "x")
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (created.folder.as_str(), created.position),
            (folder, position)
        );
    }

    // One folder: by position, then bang; sub-folders only when asked; `Billings` is
    // another folder, not a sub-folder.
    let direct = names(&["minus", "beta", "zeta", "alpha"]);
    assert_eq!(listed(&mut client, "Billing", false, 0).await, [direct]);
    let below = names(&["minus", "deep", "deeper", "beta", "zeta", "alpha"]);
    assert_eq!(
        listed(&mut client, "Billing", true, 0).await,
        std::slice::from_ref(&below)
    );
    // Paged: the same order, nothing twice, nothing left out.
    let pages = listed(&mut client, "Billing", true, 4).await;
    assert_eq!(pages.len(), 2);
    assert_eq!(pages.concat(), below);
    let pages = listed(&mut client, "Billing", true, 1).await;
    assert_eq!(pages.concat(), below);
    assert_eq!(
        listed(&mut client, "Billing/Refunds", true, 0).await,
        [names(&["deep", "deeper"])]
    );
    // No folder filter: every shortcut by bang, as before.
    let all = listed(&mut client, "", false, 3).await.concat();
    assert_eq!(
        all,
        names(&[
            "alpha", "beta", "deep", "deeper", "loose", "minus", "other", "zeta"
        ])
    );

    // A page token is valid for the kind of listing that made it.
    let first = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: WS.into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_status(
        client
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: WS.into(),
                folder: "Billing".into(),
                page_token: first.next_page_token,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["page_token"],
    );
    assert_status(
        client
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: WS.into(),
                folder: "Billing/".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["folder"],
    );

    // Moving a shortcut: folder and position are updated like any field.
    let deep = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: WS.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("deep".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: WS.into(),
            id: deep.id.clone(),
            version: deep.version,
            folder: Some("Billing".into()),
            position: Some(-10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed(&mut client, "Billing", false, 0).await,
        [names(&["deep", "minus", "beta", "zeta", "alpha"])]
    );

    // The tree, with direct and total counts.
    let tree = client
        .list_folders(pb::ListFoldersRequest {
            workspace_id: WS.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, &str, u32, u32, u32)> = tree
        .folders
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.name.as_str(),
                f.depth,
                f.direct_count,
                f.total_count,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("Billing", "Billing", 1, 5, 6),
            ("Billing/Refunds", "Refunds", 2, 0, 1),
            ("Billing/Refunds/EU", "EU", 3, 1, 1),
            ("Billings", "Billings", 1, 1, 1),
        ]
    );
    assert_eq!((tree.unfiled_count, tree.truncated), (1, false));

    // Folders and positions live in the store: a server started on it again agrees.
    drop(client);
    server.stop().await;
    let again = TestServer::start_on(&store, &["--seed-demo=false"]);
    let mut client = again.client().await;
    assert_eq!(
        listed(&mut client, "Billing", true, 2).await.concat(),
        names(&["deep", "minus", "deeper", "beta", "zeta", "alpha"])
    );
}

crate::on_both_backends!(folders_filter_order_and_page);
