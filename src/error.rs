//! The library's error type. Every failure a caller can see is one of these; the API layer
//! maps each variant to a gRPC status in one place (`api::status`).

/// A failure with enough context for a person to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names the offending request field.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but the state does not allow it (stale version, disabled
    /// shortcut).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A strict render found placeholders without a value.
    #[error("no value for {}", .0.join(", "))]
    MissingData(Vec<String>),
    /// A render or request limit was hit.
    #[error("{0}")]
    ResourceExhausted(String),
    /// A data source or the store could not be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    /// No valid credentials were presented.
    #[error("{0}")]
    Unauthenticated(String),
    /// The credentials do not allow this call; says nothing about whether the resource exists.
    #[error("{0}")]
    PermissionDenied(String),
    /// A bug or an unexpected store failure; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
