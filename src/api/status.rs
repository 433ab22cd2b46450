//! The one place where domain errors become gRPC statuses.

use tonic::{Code, Status};

use crate::error::{Error, bounded};

pub fn code(err: &Error) -> Code {
    match err {
        Error::InvalidArgument { .. } => Code::InvalidArgument,
        Error::NotFound(_) => Code::NotFound,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::FailedPrecondition(_) | Error::MissingData(_) => Code::FailedPrecondition,
        Error::ResourceExhausted(_) => Code::ResourceExhausted,
        Error::Unavailable(_) => Code::Unavailable,
        Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
        Error::Unauthenticated(_) => Code::Unauthenticated,
        Error::PermissionDenied(_) => Code::PermissionDenied,
        Error::Internal(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let code = code(&err);
        let message = match &err {
            // Internal details go to the log, not to the caller.
            Error::Internal(_) => "internal error; the server log has the details".to_string(),
            // `Error`'s text is already bounded; this keeps the status inside the trailer
            // limit even if that ever changes.
            other => bounded(&other.to_string()).into_owned(),
        };
        Status::new(code, message)
    }
}
