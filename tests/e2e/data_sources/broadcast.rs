//! Invalidations reach every replica sharing a PostgreSQL store; trace context reaches the
//! upstream.

use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;

use super::fakes::{PEOPLE_ID, SESSION};
use super::{Setup, Upstream, WORKSPACE, origin, render};
use crate::harness::{PgSchema, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_on_one_replica_refreshes_the_other() {
    let schema = PgSchema::create().await;
    let a = Setup::start_on(Upstream::Crisp, "", Some(schema.url()), &[]).await;
    let sources = a.sources.to_str().unwrap().to_string();
    let b = tokio::task::block_in_place(|| {
        TestServer::start_on(
            schema.url(),
            &["--data-sources", &sources, "--seed-demo=false"],
        )
    });
    let (mut on_a, mut on_b) = (a.server.client().await, b.client().await);

    for client in [&mut on_a, &mut on_b] {
        client
            .render_template(render(PEOPLE_ID, SESSION))
            .await
            .unwrap();
    }
    let warm = on_b
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&warm, "contact").0, Origin::Cache);
    assert_eq!(a.contact_calls(), 2, "each replica fetched once");

    on_a.invalidate_contact(pb::InvalidateContactRequest {
        workspace_id: WORKSPACE.into(),
        id: PEOPLE_ID.into(),
    })
    .await
    .unwrap();
    b.wait_for_log(|l| l.contains("applied an invalidation") && l.contains(PEOPLE_ID));
    let fresh = on_b
        .render_template(render(PEOPLE_ID, SESSION))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(origin(&fresh, "contact").0, Origin::Upstream);
    assert_eq!(origin(&fresh, "session").0, Origin::Cache);
    assert_eq!(a.contact_calls(), 3);
}

/// An incoming `traceparent` is carried onto the upstream calls made for that render.
async fn trace_context_reaches_the_upstream(upstream: Upstream) {
    let setup = Setup::start(upstream, "", &[]).await;
    let mut client = setup.server.client().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = tonic::Request::new(render(PEOPLE_ID, SESSION));
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    client.render_template(request).await.unwrap();
    let calls = setup.fake.state.calls();
    assert!(!calls.is_empty());
    for call in calls {
        assert_eq!(call.traceparent, traceparent, "{call:?}");
    }
    // A malformed one is not passed on.
    client
        .invalidate_contact(pb::InvalidateContactRequest {
            workspace_id: WORKSPACE.into(),
            id: PEOPLE_ID.into(),
        })
        .await
        .unwrap();
    let mut request = tonic::Request::new(render(PEOPLE_ID, SESSION));
    request
        .metadata_mut()
        .insert("traceparent", "not-a-trace".parse().unwrap());
    client.render_template(request).await.unwrap();
    let last = setup.fake.state.calls().pop().unwrap();
    assert_eq!(last.traceparent, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_reaches_crisp() {
    trace_context_reaches_the_upstream(Upstream::Crisp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_context_reaches_the_grpc_upstream() {
    trace_context_reaches_the_upstream(Upstream::Grpc).await
}
