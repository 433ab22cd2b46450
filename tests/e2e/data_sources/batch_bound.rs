//! Bounded work towards the data source: a batch of cold contacts stays within the batch
//! concurrency bound, and calls beyond the server's cap are shed at once.

use std::time::Duration;

use tokio_stream::StreamExt;

use super::fakes::Mode;
use super::{Setup, Upstream, WORKSPACE};
use shortcuts::pb;
use shortcuts::pb::batch_render_result::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_fetches_stay_within_the_batch_bound() {
    let setup = Setup::start(Upstream::Grpc, "", &["--batch-concurrency", "4"]).await;
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(20)));
    let mut client = setup.server.client().await;
    let request = pb::BatchRenderRequest {
        workspace_id: WORKSPACE.into(),
        template: Some(pb::batch_render_request::Template::Body(
            "Hi <<contact.first_name>>".into(),
        )),
        recipients: (0..200)
            .map(|i| pb::BatchRecipient {
                contact_id: format!("cold-{i}"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut stream = client.batch_render(request).await.unwrap().into_inner();
    let mut not_found = 0;
    while let Some(result) = stream.next().await {
        match result.unwrap().outcome {
            Some(Outcome::Error(e)) if e.code == tonic::Code::NotFound as i32 => not_found += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(not_found, 200, "every cold contact was looked up");
    assert_eq!(setup.fake.state.count("contact"), 200);
    assert_eq!(
        setup.fake.state.most_in_flight(),
        4,
        "200 cold contacts, at most 4 upstream calls at once"
    );
}

/// Beyond `--max-concurrent-rpcs`, calls fail at once instead of queueing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_cap_are_shed_at_once() {
    let setup = Setup::start(Upstream::Grpc, "", &["--max-concurrent-rpcs", "2"]).await;
    setup
        .fake
        .state
        .set_mode(Mode::Slow(Duration::from_millis(800)));
    let client = setup.server.client().await;
    let slow = |id: &str| {
        let mut client = client.clone();
        let request = super::render(id, "");
        tokio::spawn(async move { client.render_template(request).await })
    };
    let held = [slow("held-1"), slow("held-2")];
    // Both slots are taken once the upstream sees both fetches.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while setup.fake.state.count("contact") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the held calls never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let started = std::time::Instant::now();
    let status = client
        .clone()
        .render_template(super::render("third", ""))
        .await
        .expect_err("no slot left");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limit of 2"), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "refused at once, not queued"
    );
    for call in held {
        let outcome = call.await.unwrap();
        assert_eq!(outcome.unwrap_err().code(), tonic::Code::NotFound);
    }
}
