//! Structured error details (`grpc-status-details-bin`), read from a real call: a client can
//! tell which field was wrong, which placeholders were missing, which limit was hit and
//! whether to retry without parsing the message.

use shortcuts::pb;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::harness::TestServer;
use crate::{DEMO, JANE, NO_PLAN_CONTACT, create, inline};

/// The details of a failed call, after checking its code and `ErrorInfo` reason.
#[track_caller]
fn details<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    reason: &str,
) -> ErrorDetails {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("every error carries ErrorInfo");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "shortcuts.v1");
    details
}

#[tokio::test]
async fn errors_carry_their_cause_as_details() {
    let server = TestServer::start();
    let mut client = server.client().await;

    // A template error: the field, and the line and column of each problem.
    let broken = client
        .create_shortcut(create(DEMO, "broken", "Hello\n{% if contact.plan %}"))
        .await;
    let got = details(broken, Code::InvalidArgument, "INVALID_TEMPLATE");
    let info = got.error_info().unwrap();
    assert_eq!(info.metadata["field"], "body");
    assert_eq!(info.metadata["line"], "2");
    let violation = &got.bad_request().expect("BadRequest").field_violations[0];
    assert_eq!(violation.field, "body");
    assert!(
        violation.description.starts_with("line 2, column"),
        "{violation:?}"
    );

    // A malformed field.
    let bad_id = client
        .create_shortcut(create("bad workspace!", "x", "Hi"))
        .await;
    let got = details(bad_id, Code::InvalidArgument, "INVALID_FIELD");
    assert_eq!(
        got.bad_request().unwrap().field_violations[0].field,
        "workspace_id"
    );

    // A taken bang, and a stale version.
    let created = client
        .create_shortcut(create(DEMO, "details-once", "Hi"))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_shortcut(create(DEMO, "details-once", "Hi"))
        .await;
    let got = details(again, Code::AlreadyExists, "BANG_TAKEN");
    assert_eq!(got.error_info().unwrap().metadata["bang"], "details-once");
    let stale = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: created.version + 5,
            title: Some("new".into()),
            ..Default::default()
        })
        .await;
    let got = details(stale, Code::FailedPrecondition, "STALE_VERSION");
    let metadata = &got.error_info().unwrap().metadata;
    assert_eq!(metadata["actual_version"], created.version.to_string());
    assert_eq!(
        metadata["expected_version"],
        (created.version + 5).to_string()
    );

    // A strict render: each missing placeholder.
    let strict = client
        .render_template(pb::RenderTemplateRequest {
            strict: true,
            ..inline("<<contact.plan>> and <<vars.coupon>>", NO_PLAN_CONTACT)
        })
        .await;
    let got = details(strict, Code::FailedPrecondition, "MISSING_DATA");
    let subjects: Vec<&str> = got
        .precondition_failure()
        .expect("PreconditionFailure")
        .violations
        .iter()
        .map(|v| v.subject.as_str())
        .collect();
    assert_eq!(subjects, ["contact.plan", "vars.coupon"]);

    // A render limit, named as the flag that sets it.
    let heavy = client
        .render_template(inline("{% for i in range(1000000) %}x{% endfor %}", JANE))
        .await;
    let got = details(heavy, Code::ResourceExhausted, "RENDER_LIMIT");
    let subject = &got.quota_failure().expect("QuotaFailure").violations[0].subject;
    assert!(subject.starts_with("--"), "{subject}");

    // Unknown data: not retryable, and no RetryInfo.
    let ghost = client
        .render_template(inline("Hi <<contact.first_name>>", "ghost-contact"))
        .await;
    let got = details(ghost, Code::NotFound, "DATA_NOT_FOUND");
    assert!(got.retry_info().is_none());
}
