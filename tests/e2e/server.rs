//! The server as a whole: persistence across restarts, reflection, health.

use prost::Message;
use tokio_stream::StreamExt;

use crate::create;
use crate::harness::{Backend, PgSchema, TestServer};
use shortcuts::pb;

crate::on_both_backends!(writes_survive_a_restart_on_the_same_store);

async fn writes_survive_a_restart_on_the_same_store(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let schema = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgSchema::create().await),
    };
    let store = match &schema {
        None => dir.path().join("persist.db").display().to_string(),
        Some(schema) => schema.url(),
    };
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let created = client
        .create_shortcut(create("team", "kept", "Kept <<contact.plan>>"))
        .await
        .unwrap()
        .into_inner();
    let updated = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: "team".into(),
            id: created.id.clone(),
            version: 1,
            tags: Some(pb::TagList {
                tags: vec!["durable".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let gone = client
        .create_shortcut(create("team", "gone", "x"))
        .await
        .unwrap()
        .into_inner();
    client
        .delete_shortcut(pb::DeleteShortcutRequest {
            workspace_id: "team".into(),
            id: gone.id,
            version: None,
        })
        .await
        .unwrap();
    let demo_count = count(&mut client, "demo").await;
    drop(client);
    let took = server.stop().await;
    assert!(
        took < std::time::Duration::from_secs(5),
        "shutdown took {took:?}"
    );

    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let got = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: "team".into(),
            key: Some(pb::get_shortcut_request::Key::Bang("kept".into())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, crate::as_read(&updated));
    assert_eq!(count(&mut client, "team").await, 1);
    // The demo library is seeded once, not again on every start.
    assert_eq!(count(&mut client, "demo").await, demo_count);
    assert!(demo_count >= 12);
}

async fn count(
    client: &mut pb::shortcut_service_client::ShortcutServiceClient<tonic::transport::Channel>,
    ws: &str,
) -> usize {
    client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: ws.into(),
            include_disabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shortcuts
        .len()
}

#[tokio::test]
async fn reflection_describes_the_service_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let server = TestServer::start();

    let mut client =
        v1::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                "shortcuts.v1.ShortcutService".into(),
            ),
        ),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        response.message_response
    else {
        panic!("unexpected reflection answer: {response:?}");
    };
    assert_service_described(&files.file_descriptor_proto);

    let mut client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                "shortcuts.v1.ShortcutService".into(),
            ),
        ),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        response.message_response
    else {
        panic!("unexpected reflection answer: {response:?}");
    };
    assert_service_described(&files.file_descriptor_proto);
}

fn assert_service_described(files: &[Vec<u8>]) {
    let described = files.iter().any(|bytes| {
        let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap();
        file.package() == "shortcuts.v1"
            && file.service.iter().any(|s| {
                s.name() == "ShortcutService"
                    && s.method.iter().any(|m| m.name() == "RenderShortcut")
            })
    });
    assert!(described, "no descriptor of shortcuts.v1.ShortcutService");
}

#[tokio::test]
async fn every_rpc_is_logged_with_method_workspace_status_and_duration() {
    let server = TestServer::start();
    let mut client = server.client().await;
    client
        .create_shortcut(create("logged", "first", "x"))
        .await
        .unwrap();
    client
        .create_shortcut(create("logged", "first", "x"))
        .await
        .unwrap_err();
    let ok = server.wait_for_log(|l| l.contains("CreateShortcut") && l.contains("status=\"OK\""));
    assert!(
        ok.contains("workspace=logged") && ok.contains("duration_us="),
        "{ok}"
    );
    let refused =
        server.wait_for_log(|l| l.contains("CreateShortcut") && l.contains("status=AlreadyExists"));
    assert!(
        refused.contains("workspace=logged") && refused.contains("!first"),
        "{refused}"
    );
}

/// A SIGTERM sent as soon as the server says it listens is a graceful stop (a clean exit,
/// queued usage written), not the default action that kills the process: the handlers are
/// installed before the port is announced. Several rounds, since the window it closes
/// was a race.
#[tokio::test]
async fn a_sigterm_right_after_listening_is_a_graceful_stop() {
    for _ in 0..3 {
        // `stop` asserts a successful exit status; killed by the signal it would not be.
        TestServer::start().stop().await;
    }
}
