//! Invalidations reach every replica sharing a PostgreSQL store.

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
