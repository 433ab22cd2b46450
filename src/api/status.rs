//! The one place where domain errors become gRPC statuses: which code each cause is and
//! what of it the caller is told; the machine-readable details that travel with it are
//! [`super::details`]'s.

use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::details::details;
use crate::error::{Error, SourceFailure, bounded};

/// The gRPC code for an error, by its cause.
pub fn code(err: &Error) -> Code {
    match err {
        Error::InvalidField { .. } | Error::InvalidTemplate { .. } => Code::InvalidArgument,
        Error::ShortcutNotFound { .. }
        | Error::WorkspaceNotFound { .. }
        | Error::AudienceNotFound { .. }
        | Error::DataNotFound { .. } => Code::NotFound,
        Error::BangTaken { .. } | Error::WorkspaceExists { .. } | Error::AudienceExists { .. } => {
            Code::AlreadyExists
        }
        Error::StaleVersion { .. }
        | Error::ShortcutDisabled { .. }
        | Error::SnippetInUse { .. }
        | Error::StarterTooLarge { .. }
        | Error::MissingData { .. }
        | Error::MissingInputs { .. }
        | Error::TemplateFailed { .. }
        | Error::AttachmentFailed { .. } => Code::FailedPrecondition,
        Error::SourceFailed { cause, .. } => match **cause {
            SourceFailure::Unavailable(_) => Code::Unavailable,
            SourceFailure::DeadlineExceeded(_) => Code::DeadlineExceeded,
            // Retrying cannot help until an operator fixes the configuration.
            SourceFailure::Unauthorized { .. } | SourceFailure::Misconfigured { .. } => {
                Code::FailedPrecondition
            }
        },
        Error::RenderLimit { .. }
        | Error::RenderTimedOut(_)
        | Error::Overloaded { .. }
        | Error::RequestTooLarge { .. } => Code::ResourceExhausted,
        Error::StoreFull { .. } => Code::ResourceExhausted,
        Error::CallerDeadline | Error::StreamStalled(_) => Code::DeadlineExceeded,
        // A recipient of a cancelled batch: the caller went away, and a retry would work.
        Error::Cancelled | Error::StoreUnavailable { .. } => Code::Unavailable,
        Error::Unauthenticated { .. } => Code::Unauthenticated,
        Error::PermissionDenied { .. } => Code::PermissionDenied,
        Error::StoreFailed { .. } | Error::Internal(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let code = code(&err);
        let message = match code {
            // Internal details go to the log, not to the caller.
            Code::Internal => "internal error; the server log has the details".to_string(),
            // `Error`'s text is already bounded; this keeps the status inside the trailer
            // limit even if that ever changes.
            _ => bounded(&err.to_string()).into_owned(),
        };
        Status::with_error_details(code, message, details(&err))
    }
}
