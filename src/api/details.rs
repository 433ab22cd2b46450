//! The machine-readable details of a failed call (`grpc-status-details-bin`, AIP-193):
//! `ErrorInfo` with a stable reason on every error, `BadRequest` for invalid fields
//! (template problems with line and column), `PreconditionFailure` for missing data, a
//! stale version or a disabled shortcut, `QuotaFailure` naming the limit, and `RetryInfo`
//! where retrying later can succeed. Bounded, so that the trailer stays small.

use std::collections::HashMap;
use std::time::Duration;

use tonic_types::ErrorDetails;

use crate::error::{Error, SourceFailure};

/// `ErrorInfo.domain` of every error this service sends.
pub const DOMAIN: &str = "shortcuts.v1";

/// The longest text of one detail field, in bytes: details travel base64-encoded in a
/// trailer beside the message, and a client drops a status whose trailers are too large.
const MAX_DETAIL_BYTES: usize = 160;
/// The most violations one status lists (the message still names every one of them, up
/// to its own bound).
const MAX_VIOLATIONS: usize = 8;

/// How long a caller should wait before retrying an overloaded server.
const OVERLOADED_RETRY: Duration = Duration::from_millis(100);
/// How long a caller should wait before retrying when a data source or the store failed.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

/// The stable, machine-readable name of an error's cause (`ErrorInfo.reason`). Clients
/// branch on these, so they never change meaning; docs/api.md lists them.
pub fn reason(err: &Error) -> &'static str {
    match err {
        Error::InvalidField { .. } => "INVALID_FIELD",
        Error::InvalidTemplate { .. } => "INVALID_TEMPLATE",
        Error::ShortcutNotFound { .. } => "SHORTCUT_NOT_FOUND",
        Error::BangTaken { .. } => "BANG_TAKEN",
        Error::StaleVersion { .. } => "STALE_VERSION",
        Error::ShortcutDisabled { .. } => "SHORTCUT_DISABLED",
        Error::SnippetInUse { .. } => "SNIPPET_IN_USE",
        Error::WorkspaceNotFound { .. } => "WORKSPACE_NOT_FOUND",
        Error::WorkspaceExists { .. } => "WORKSPACE_EXISTS",
        Error::AudienceNotFound { .. } => "AUDIENCE_NOT_FOUND",
        Error::AudienceExists { .. } => "AUDIENCE_EXISTS",
        Error::StarterTooLarge { .. } => "STARTER_TOO_LARGE",
        Error::DataNotFound { .. } => "DATA_NOT_FOUND",
        Error::SourceFailed { cause, .. } => match **cause {
            SourceFailure::Unavailable(_) => "UPSTREAM_UNAVAILABLE",
            SourceFailure::DeadlineExceeded(_) => "UPSTREAM_DEADLINE_EXCEEDED",
            SourceFailure::Unauthorized { .. } => "UPSTREAM_UNAUTHORIZED",
            SourceFailure::Misconfigured { .. } => "UPSTREAM_MISCONFIGURED",
        },
        Error::MissingData { .. } => "MISSING_DATA",
        Error::MissingInputs { .. } => "MISSING_INPUT",
        Error::TemplateFailed { .. } => "TEMPLATE_FAILED",
        Error::AttachmentFailed { .. } => "ATTACHMENT_FAILED",
        Error::RenderLimit { .. } => "RENDER_LIMIT",
        Error::RenderTimedOut(_) => "RENDER_TIMEOUT",
        Error::CallerDeadline => "CALLER_DEADLINE",
        Error::StreamStalled(_) => "STREAM_STALLED",
        Error::Cancelled => "CANCELLED",
        Error::Unauthenticated { .. } => "UNAUTHENTICATED",
        Error::PermissionDenied { .. } => "PERMISSION_DENIED",
        Error::Overloaded { .. } => "OVERLOADED",
        Error::RequestTooLarge { .. } => "REQUEST_TOO_LARGE",
        Error::StoreFull { .. } => "STORE_FULL",
        Error::StoreUnavailable { .. } => "STORE_UNAVAILABLE",
        Error::StoreFailed { .. } | Error::Internal(_) => "INTERNAL",
    }
}

/// The structured details of an error, as AIP-193 describes them.
pub fn details(err: &Error) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    let mut metadata: HashMap<String, String> = HashMap::new();
    let mut put = |key: &str, value: &str| {
        metadata.insert(key.to_owned(), short(value));
    };
    match err {
        Error::InvalidField { field, message } => {
            put("field", field);
            details.add_bad_request_violation(short(field), short(message));
        }
        Error::InvalidTemplate { field, problems } => {
            put("field", field);
            if let Some(first) = problems.first() {
                put("line", &first.line.to_string());
                put("column", &first.column.to_string());
            }
            for problem in problems.iter().take(MAX_VIOLATIONS) {
                details.add_bad_request_violation(short(field), short(&problem.to_string()));
            }
        }
        Error::ShortcutNotFound { workspace, key } => {
            put("workspace_id", workspace);
            put("key", key);
        }
        Error::BangTaken { workspace, bang } => {
            put("workspace_id", workspace);
            put("bang", bang);
        }
        Error::StaleVersion {
            record,
            id,
            expected,
            actual,
        } => {
            put("record", &record.to_string());
            put("id", id);
            put("expected_version", &expected.to_string());
            put("actual_version", &actual.to_string());
            details.add_precondition_failure_violation(
                "STALE_VERSION",
                format!("{record}/{id}"),
                format!("version {actual} is current, not {expected}"),
            );
        }
        Error::ShortcutDisabled { bang } => {
            put("bang", bang);
            details.add_precondition_failure_violation(
                "SHORTCUT_DISABLED",
                format!("!{bang}"),
                "the shortcut is disabled",
            );
        }
        Error::SnippetInUse {
            bang, includers, ..
        } => {
            put("bang", bang);
            put("includer_count", &includers.len().to_string());
            for includer in includers.iter().take(MAX_VIOLATIONS) {
                details.add_precondition_failure_violation(
                    "SNIPPET_IN_USE",
                    short(&format!("!{includer}")),
                    format!("includes the snippet !{}", short(bang)),
                );
            }
        }
        Error::WorkspaceNotFound { workspace } | Error::WorkspaceExists { workspace } => {
            put("workspace_id", workspace);
        }
        Error::AudienceNotFound { workspace, name } | Error::AudienceExists { workspace, name } => {
            put("workspace_id", workspace);
            put("name", name);
        }
        Error::DataNotFound {
            scope,
            workspace,
            id,
        } => {
            put("scope", scope);
            put("workspace_id", workspace);
            put("id", id);
        }
        Error::SourceFailed {
            scope,
            workspace,
            id,
            cause,
        } => {
            put("scope", scope);
            put("workspace_id", workspace);
            put("id", id);
            if let SourceFailure::Unauthorized { source_name, .. }
            | SourceFailure::Misconfigured { source_name, .. } = &**cause
            {
                put("source", source_name);
            }
            if matches!(**cause, SourceFailure::Unavailable(_)) {
                details.set_retry_info(Some(UNAVAILABLE_RETRY));
            }
        }
        Error::MissingData { paths } => {
            put("missing_count", &paths.len().to_string());
            for path in paths.iter().take(MAX_VIOLATIONS) {
                details.add_precondition_failure_violation(
                    "MISSING_DATA",
                    short(path),
                    "no value for this placeholder (strict render)",
                );
            }
        }
        Error::MissingInputs { names } => {
            put("missing_count", &names.len().to_string());
            for name in names.iter().take(MAX_VIOLATIONS) {
                details.add_precondition_failure_violation(
                    "MISSING_INPUT",
                    short(&format!("vars.{name}")),
                    "a required input of the shortcut was not supplied (strict render)",
                );
            }
        }
        Error::TemplateFailed { line, .. } => put("line", &line.to_string()),
        Error::AttachmentFailed { field, message } => {
            put("field", field);
            details.add_precondition_failure_violation(
                "ATTACHMENT_FAILED",
                short(field),
                short(message),
            );
        }
        Error::RenderLimit { limit, message } => {
            put("limit", limit);
            details.add_quota_failure_violation(*limit, short(message));
        }
        Error::RenderTimedOut(timeout) => {
            put("limit", "--render-timeout");
            details.add_quota_failure_violation(
                "--render-timeout",
                format!("a render may take {}", humantime::format_duration(*timeout)),
            );
        }
        Error::Overloaded { limit } => {
            put("limit", "--max-concurrent-rpcs");
            details.add_quota_failure_violation(
                "--max-concurrent-rpcs",
                format!("at most {limit} calls at once"),
            );
            details.set_retry_info(Some(OVERLOADED_RETRY));
        }
        Error::RequestTooLarge { limit, message } => {
            put("limit", limit);
            details.add_quota_failure_violation(*limit, short(message));
        }
        Error::StoreFull { .. } => {
            details.add_quota_failure_violation("store disk space", "the store's disk is full");
        }
        Error::StoreUnavailable { .. } => {
            details.set_retry_info(Some(UNAVAILABLE_RETRY));
        }
        Error::StarterTooLarge { bang, limit, .. } => {
            put("bang", bang);
            put("limit", &limit.to_string());
        }
        Error::PermissionDenied { token, .. } => put("token", token),
        Error::StreamStalled(_) => put("limit", "--idle-timeout"),
        Error::CallerDeadline
        | Error::Cancelled
        | Error::Unauthenticated { .. }
        | Error::StoreFailed { .. }
        | Error::Internal(_) => {}
    }
    details.set_error_info(reason(err), DOMAIN, metadata);
    details
}

/// `value` cut to [`MAX_DETAIL_BYTES`] on a character boundary, marked when cut.
fn short(value: &str) -> String {
    if value.len() <= MAX_DETAIL_BYTES {
        return value.to_owned();
    }
    let mut cut = MAX_DETAIL_BYTES - 3;
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &value[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TemplateDiagnostic;
    use tonic::{Code, Status};
    use tonic_types::StatusExt;

    #[test]
    fn details_travel_with_the_status_and_name_the_cause() {
        let status = Status::from(Error::InvalidTemplate {
            field: "body".into(),
            problems: vec![TemplateDiagnostic {
                line: 2,
                column: 7,
                message: "unexpected end of input".into(),
            }],
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "INVALID_TEMPLATE");
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.metadata["line"], "2");
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations[0].field, "body");
        assert!(violations[0].description.starts_with("line 2, column 7"));

        let status = Status::from(Error::Overloaded { limit: 8 });
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "OVERLOADED");
        assert_eq!(
            details.quota_failure().unwrap().violations[0].subject,
            "--max-concurrent-rpcs"
        );
        assert_eq!(
            details.retry_info().unwrap().retry_delay,
            Some(OVERLOADED_RETRY)
        );
    }

    #[test]
    fn internal_errors_send_no_details_of_their_cause() {
        let status = Status::from(Error::Internal("secret path /etc/x".into()));
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "INTERNAL");
        assert!(details.error_info().unwrap().metadata.is_empty());
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn huge_values_in_details_are_bounded() {
        let status = Status::from(Error::MissingData {
            paths: vec!["é".repeat(100_000); 1000],
        });
        // The encoded google.rpc.Status repeats the (bounded, 2 KiB) message; with the
        // details it stays far below the 16 KiB header lists HTTP/2 peers accept.
        let encoded = status.details().len();
        assert!(encoded < 5000, "{encoded}");
        let details = status.get_error_details();
        let violations = &details.precondition_failure().unwrap().violations;
        assert_eq!(violations.len(), MAX_VIOLATIONS);
        assert!(violations[0].subject.len() <= MAX_DETAIL_BYTES);
        assert_eq!(
            details.error_info().unwrap().metadata["missing_count"],
            "1000"
        );
    }
}
