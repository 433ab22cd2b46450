//! Campaigns on the file source (the demo data): PreviewAudience, BatchRender to an
//! audience (only matched contacts, in order, with a summary, resumable without repeats),
//! and saved audiences (create, read, update, delete, list; used by name) on both stores,
//! and across replicas sharing PostgreSQL.

use tonic::Code;
use tonic::transport::Channel;

use crate::harness::{Backend, PgSchema, TestServer, start_backend};
use crate::{DEMO, JANE, assert_status};
use shortcuts::pb;
use shortcuts::pb::batch_audience::Audience;
use shortcuts::pb::batch_render_request::Template;
use shortcuts::pb::batch_render_result::Outcome;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

const CAMILLE: &str = "e7b3d9f1-4a6c-4e8b-9d2f-6a8c0e2b4d55";
/// Jane (US) and Camille (FR) are on "pro" among the demo's five contacts.
const PRO: &str = r#"contact.plan == "pro""#;

fn preview(filter: &str, limit: u32) -> pb::PreviewAudienceRequest {
    pb::PreviewAudienceRequest {
        workspace_id: DEMO.into(),
        filter: filter.into(),
        limit,
    }
}

fn audience_batch(audience: Audience, resume_token: &str) -> pb::BatchRenderRequest {
    pb::BatchRenderRequest {
        workspace_id: DEMO.into(),
        template: Some(Template::Body(
            "Hi <<contact.first_name>>, your <<contact.plan>> plan".into(),
        )),
        audience: Some(pb::BatchAudience {
            audience: Some(audience),
        }),
        resume_token: resume_token.into(),
        ..Default::default()
    }
}

/// Every result of a batch, then its summary (which must come last, once).
async fn run(
    client: &mut ShortcutServiceClient<Channel>,
    request: pb::BatchRenderRequest,
) -> (Vec<pb::BatchRenderResult>, pb::BatchSummary) {
    let mut stream = client.batch_render(request).await.unwrap().into_inner();
    let mut results = Vec::new();
    let mut summary = None;
    while let Some(result) = stream.message().await.unwrap() {
        assert!(summary.is_none(), "a message after the summary");
        match result.outcome {
            Some(Outcome::Summary(s)) => summary = Some(s),
            _ => results.push(result),
        }
    }
    (results, summary.expect("a summary"))
}

#[tokio::test]
async fn preview_counts_what_a_filter_matches() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let all = client
        .preview_audience(preview(PRO, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.matched, all.scanned, all.complete), (2, 5, true));
    assert_eq!(all.failed, 0);
    let ids: Vec<&str> = all.sample.iter().map(|m| m.contact_id.as_str()).collect();
    assert_eq!(ids, [JANE, CAMILLE], "the source's order (ids sorted)");
    assert_eq!(all.sample[0].values["contact.plan"], "pro");

    // Native attributes, custom data and the derived email domain together.
    let french = client
        .preview_audience(preview(
            r#"contact.country in ["FR", "BE"] and contact.plan == "pro" and contact.email_domain == "example.fr""#,
            0,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(french.matched, 1);
    assert_eq!(french.sample[0].contact_id, CAMILLE);
    assert_eq!(french.sample[0].values["contact.country"], "FR");

    // The limit ends the scan: what it saw is counted, and it says it is not complete.
    // (Luis, the anonymous visitor, then Jane.)
    let first_three = client
        .preview_audience(preview(PRO, 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            first_three.matched,
            first_three.scanned,
            first_three.complete
        ),
        (1, 3, false)
    );
}

#[tokio::test]
async fn bad_filters_are_refused_with_their_position() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let status = assert_status(
        client.preview_audience(preview("contact.plan ==", 0)).await,
        Code::InvalidArgument,
        &["filter", "line 1, column 14"],
    );
    assert!(status.message().contains("syntax error"), "{status:?}");
    assert_status(
        client
            .preview_audience(preview("contact.plan == \"pro\"\nand session.id", 0))
            .await,
        Code::InvalidArgument,
        &["filter", "line 2, column 5", "session.id"],
    );
    assert_status(
        client.preview_audience(preview("  ", 0)).await,
        Code::InvalidArgument,
        &["filter", "must not be empty"],
    );
    assert_status(
        client.preview_audience(preview(PRO, 2_000_000)).await,
        Code::InvalidArgument,
        &["limit"],
    );
    // A typo of a known field is run, with a warning that says what was meant.
    let typo = client
        .preview_audience(preview(r#"contact.contry == "FR""#, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(typo.matched, 0);
    assert_eq!(typo.warnings[0].suggestion, "contact.country");
}

#[tokio::test]
async fn a_batch_renders_to_the_audience_and_resumes_without_repeats() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let (results, summary) = run(
        &mut client,
        audience_batch(Audience::Filter(PRO.into()), ""),
    )
    .await;
    let rendered: Vec<(u32, &str, &str)> = results
        .iter()
        .map(|r| match &r.outcome {
            Some(Outcome::Rendered(reply)) => (r.index, r.contact_id.as_str(), reply.text.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        rendered,
        [
            (0, JANE, "Hi Jane, your pro plan"),
            (1, CAMILLE, "Hi Camille, your pro plan")
        ]
    );
    assert_eq!(
        (summary.matched, summary.skipped, summary.failed),
        (2, 3, 0)
    );

    // Resuming after the first result renders only the second.
    let token = results[0].resume_token.clone();
    assert!(!token.is_empty());
    let (rest, summary) = run(
        &mut client,
        audience_batch(Audience::Filter(PRO.into()), &token),
    )
    .await;
    let rest: Vec<(u32, &str)> = rest
        .iter()
        .map(|r| (r.index, r.contact_id.as_str()))
        .collect();
    assert_eq!(rest, [(1, CAMILLE)]);
    assert_eq!(summary.matched, 1);
    // After the last result, nothing is left.
    let (none, summary) = run(
        &mut client,
        audience_batch(Audience::Filter(PRO.into()), &results[1].resume_token),
    )
    .await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(summary.matched, 0);

    // A token is checked: it must be ours, and for this audience.
    assert_status(
        client
            .batch_render(audience_batch(Audience::Filter(PRO.into()), "garbage"))
            .await,
        Code::InvalidArgument,
        &["resume_token"],
    );
    assert_status(
        client
            .batch_render(audience_batch(
                Audience::Filter(r#"contact.plan == "starter""#.into()),
                &token,
            ))
            .await,
        Code::InvalidArgument,
        &["resume_token", "another"],
    );
    let mut both = audience_batch(Audience::Filter(PRO.into()), "");
    both.recipients.push(pb::BatchRecipient {
        contact_id: JANE.into(),
        ..Default::default()
    });
    assert_status(
        client.batch_render(both).await,
        Code::InvalidArgument,
        &["audience", "recipients"],
    );
}

crate::on_both_backends!(saved_audiences_are_kept_and_used_by_name);

async fn saved_audiences_are_kept_and_used_by_name(backend: Backend) {
    let (server, _schema) = start_backend(backend).await;
    let mut client = server.client().await;
    let created = client
        .create_audience(pb::CreateAudienceRequest {
            workspace_id: DEMO.into(),
            name: "pro-customers".into(),
            filter: PRO.into(),
            description: "Everyone on the pro plan".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.version, 1);
    assert!(created.create_time.is_some());
    assert_status(
        client
            .create_audience(pb::CreateAudienceRequest {
                workspace_id: DEMO.into(),
                name: "PRO-customers".into(),
                filter: PRO.into(),
                description: String::new(),
            })
            .await,
        Code::AlreadyExists,
        &["PRO-customers", "already has an audience"],
    );
    assert_status(
        client
            .create_audience(pb::CreateAudienceRequest {
                workspace_id: DEMO.into(),
                name: "bad name!".into(),
                filter: PRO.into(),
                description: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["name"],
    );
    assert_status(
        client
            .create_audience(pb::CreateAudienceRequest {
                workspace_id: DEMO.into(),
                name: "broken".into(),
                filter: "contact.plan ==".into(),
                description: String::new(),
            })
            .await,
        Code::InvalidArgument,
        &["filter"],
    );

    let (results, _) = run(
        &mut client,
        audience_batch(Audience::Name("pro-customers".into()), ""),
    )
    .await;
    assert_eq!(results.len(), 2);

    let updated = client
        .update_audience(pb::UpdateAudienceRequest {
            workspace_id: DEMO.into(),
            name: "pro-customers".into(),
            version: 1,
            filter: Some(r#"contact.plan == "pro" and contact.country == "FR""#.into()),
            description: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.description, "Everyone on the pro plan");
    assert_status(
        client
            .update_audience(pb::UpdateAudienceRequest {
                workspace_id: DEMO.into(),
                name: "pro-customers".into(),
                version: 1,
                filter: None,
                description: Some("stale".into()),
            })
            .await,
        Code::FailedPrecondition,
        &[],
    );
    let (results, _) = run(
        &mut client,
        audience_batch(Audience::Name("pro-customers".into()), ""),
    )
    .await;
    let ids: Vec<&str> = results.iter().map(|r| r.contact_id.as_str()).collect();
    assert_eq!(ids, [CAMILLE]);

    let listed = client
        .list_audiences(pb::ListAudiencesRequest {
            workspace_id: DEMO.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = listed.audiences.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["pro-customers"]);

    client
        .delete_audience(pb::DeleteAudienceRequest {
            workspace_id: DEMO.into(),
            name: "pro-customers".into(),
            version: Some(2),
        })
        .await
        .unwrap();
    assert_status(
        client
            .get_audience(pb::GetAudienceRequest {
                workspace_id: DEMO.into(),
                name: "pro-customers".into(),
            })
            .await,
        Code::NotFound,
        &["pro-customers"],
    );
    assert_status(
        client
            .batch_render(audience_batch(Audience::Name("pro-customers".into()), ""))
            .await,
        Code::NotFound,
        &["pro-customers"],
    );
}

/// Replicas read saved audiences from the shared store on every use: one written through a
/// replica is used, changed and deleted through another at once.
#[tokio::test]
async fn a_saved_audience_is_shared_by_replicas() {
    let schema = PgSchema::create().await;
    let a = TestServer::start_on(schema.url(), &[]);
    let b = TestServer::start_on(schema.url(), &["--seed-demo=false"]);
    let (mut a, mut b) = (a.client().await, b.client().await);
    a.create_audience(pb::CreateAudienceRequest {
        workspace_id: DEMO.into(),
        name: "pro".into(),
        filter: PRO.into(),
        description: String::new(),
    })
    .await
    .unwrap();
    let (results, _) = run(&mut b, audience_batch(Audience::Name("pro".into()), "")).await;
    assert_eq!(results.len(), 2);
    b.update_audience(pb::UpdateAudienceRequest {
        workspace_id: DEMO.into(),
        name: "pro".into(),
        version: 1,
        filter: Some(r#"contact.country == "FR""#.into()),
        description: None,
    })
    .await
    .unwrap();
    let got = a
        .get_audience(pb::GetAudienceRequest {
            workspace_id: DEMO.into(),
            name: "PRO".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.version, got.filter.as_str()),
        (2, r#"contact.country == "FR""#)
    );
    a.delete_audience(pb::DeleteAudienceRequest {
        workspace_id: DEMO.into(),
        name: "pro".into(),
        version: None,
    })
    .await
    .unwrap();
    assert_status(
        b.batch_render(audience_batch(Audience::Name("pro".into()), ""))
            .await,
        Code::NotFound,
        &["pro"],
    );
}
