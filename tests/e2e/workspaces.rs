//! Workspace records over gRPC: the seeded demo record, create/get/update/list with their
//! errors, the `workspace` scope, and the record's locale and time zone driving renders.

use serde_json::json;
use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, assert_status, create, inline, structure};
use shortcuts::pb;

fn new_workspace(id: &str, name: &str, locale: &str, zone: &str) -> pb::CreateWorkspaceRequest {
    pb::CreateWorkspaceRequest {
        workspace_id: id.into(),
        display_name: name.into(),
        default_locale: locale.into(),
        time_zone: zone.into(),
    }
}

fn in_workspace(workspace: &str, body: &str) -> pb::RenderTemplateRequest {
    pb::RenderTemplateRequest {
        workspace_id: workspace.into(),
        body: body.into(),
        vars: Some(structure(
            json!({"at": "2026-07-01T22:30:00Z", "n": 1234.5}),
        )),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_demo_workspace_has_a_record_in_its_scope() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let demo = client
        .get_workspace(pb::GetWorkspaceRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(demo.display_name, "Demo Shop");
    assert_eq!(demo.default_locale, "en");
    assert_eq!(demo.time_zone, "Europe/Paris");
    assert_eq!(demo.version, 1);
    let reply = client
        .render_template(inline(
            "<<workspace.name>>|<<workspace.id>>|<<workspace.locale>>|<<workspace.time_zone>>",
            JANE,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Demo Shop|demo|en|Europe/Paris");
}

#[tokio::test]
async fn a_workspace_without_a_record_renders_with_the_defaults() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "<<workspace.name>>|<<workspace.locale>>|<<vars.at | date(\"%H:%M %Z\")>>|<<vars.n | number>>";
    let reply = client
        .render_template(in_workspace("no-record", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "no-record|en|22:30 UTC|1,234.50");
    assert_status(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                workspace_id: "no-record".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &["no-record", "CreateWorkspace"],
    );
}

#[tokio::test]
async fn create_update_and_list_drive_renders_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("shortcuts.db");
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let created = client
        .create_workspace(new_workspace(
            "laden",
            "  Der Laden ",
            "DE-de",
            "America/New_York",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.display_name, "Der Laden");
    assert_eq!(created.default_locale, "de-DE");
    assert_eq!(created.version, 1);
    assert!(created.create_time.is_some());

    let body = "<<workspace.name>>|<<vars.at | date(\"%d.%m. %H:%M %Z\")>>|<<vars.n | number>>";
    let reply = client
        .render_template(in_workspace("laden", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Der Laden|01.07. 18:30 EDT|1.234,50");
    assert_eq!(reply.format_locale, "de");

    assert_status(
        client
            .create_workspace(new_workspace("laden", "", "", ""))
            .await,
        Code::AlreadyExists,
        &["laden"],
    );

    let updated = client
        .update_workspace(pb::UpdateWorkspaceRequest {
            workspace_id: "laden".into(),
            version: 1,
            time_zone: Some("Asia/Tokyo".into()),
            default_locale: Some("ja".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.display_name, "Der Laden");
    let reply = client
        .render_template(in_workspace("laden", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Der Laden|02.07. 07:30 JST|1,234.50");

    assert_status(
        client
            .update_workspace(pb::UpdateWorkspaceRequest {
                workspace_id: "laden".into(),
                version: 1,
                display_name: Some("Stale".into()),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        &["version 2", "not 1"],
    );

    let listed = client
        .list_workspaces(pb::ListWorkspacesRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed
        .workspaces
        .iter()
        .map(|w| w.workspace_id.as_str())
        .collect();
    assert_eq!(ids, ["demo", "laden"]);

    drop(client);
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let after = client
        .get_workspace(pb::GetWorkspaceRequest {
            workspace_id: "laden".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after,
        pb::Workspace {
            consistency_token: String::new(),
            ..updated.clone()
        }
    );
    let reply = client
        .render_template(in_workspace("laden", body))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Der Laden|02.07. 07:30 JST|1,234.50");
}

#[tokio::test]
async fn bad_workspace_input_names_the_field() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let cases = [
        (new_workspace("", "Shop", "en", "UTC"), vec!["workspace_id"]),
        (
            new_workspace("bad id", "Shop", "en", "UTC"),
            vec!["workspace_id"],
        ),
        (
            new_workspace("w1", "Shop", "xx", "UTC"),
            vec!["default_locale", "en, en-GB, fr, fr-CA, de", "pl, sv"],
        ),
        (
            new_workspace("w1", "Shop", "english", "UTC"),
            vec!["default_locale"],
        ),
        (
            new_workspace("w1", "Shop", "en", "Europe/Pariss"),
            vec!["time_zone", "IANA"],
        ),
        (
            new_workspace("w1", &"x".repeat(201), "en", "UTC"),
            vec!["display_name", "200"],
        ),
    ];
    for (request, needles) in cases {
        assert_status(
            client.create_workspace(request).await,
            Code::InvalidArgument,
            &needles,
        );
    }
    assert_status(
        client
            .update_workspace(pb::UpdateWorkspaceRequest {
                workspace_id: DEMO.into(),
                version: 0,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["version"],
    );
    assert_status(
        client
            .update_workspace(pb::UpdateWorkspaceRequest {
                workspace_id: DEMO.into(),
                version: 1,
                time_zone: Some("Nowhere/City".into()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["time_zone"],
    );
    assert_status(
        client
            .update_workspace(pb::UpdateWorkspaceRequest {
                workspace_id: "never-created".into(),
                version: 1,
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &["never-created"],
    );
    // Nothing of the refused writes is visible.
    let demo = client
        .get_workspace(pb::GetWorkspaceRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((demo.version, demo.time_zone.as_str()), (1, "Europe/Paris"));
    // A shortcut in the demo workspace still renders.
    client
        .create_shortcut(create(DEMO, "ws-check", "<<workspace.name>>"))
        .await
        .unwrap();
}
