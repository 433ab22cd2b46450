//! The library's error type, by cause. Every failure a caller can see is one of these; the
//! API layer maps each variant to a gRPC status in one place (`api::status`).
//!
//! Also owns how much of a caller's input a message may repeat: [`quote`] at the source,
//! wherever a message echoes input, and [`bounded`] as the safety net every `Error`'s
//! text goes through (so a status message or log line stays small even where a message
//! forgot to quote).

use std::borrow::Cow;

/// Any error, kept as the source of one of ours so that its own cause chain is not lost.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure, named after what happened, with enough context for a person to act on it.
///
/// Variants carry their facts as fields (for the machine-readable details of a status)
/// and keep the error they came from as their `source`. Which gRPC status each becomes is
/// decided in one place, the API's `status` module; nothing below the API names a code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // What the caller sent.
    /// A request field is malformed; `field` names it.
    #[error("{}", bounded(&format!("{field}: {message}")))]
    InvalidField { field: String, message: String },
    /// A template in a request field does not compile; each problem has its line and column.
    #[error("{}", bounded(&format!("{field}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))))]
    InvalidTemplate {
        field: String,
        problems: Vec<TemplateDiagnostic>,
    },

    // The catalogue's state.
    /// No shortcut answers to that id or bang; `key` says which (`id "…"`, `bang "!…"`).
    #[error("{}", bounded(&format!("no shortcut with {key} in workspace {}", quote(workspace))))]
    ShortcutNotFound { workspace: String, key: String },
    /// Another shortcut of the workspace already uses this bang.
    #[error("bang !{bang} is already used in workspace {}", quote(workspace))]
    BangTaken { workspace: String, bang: String },
    /// An update named a version that is no longer current (optimistic concurrency).
    #[error(
        "{record} {id} is at version {actual}, not {expected}: it was changed since you read it; fetch it again and reapply your change"
    )]
    StaleVersion {
        record: Versioned,
        id: String,
        expected: u64,
        actual: u64,
    },
    /// A snippet that other shortcuts include cannot be deleted, un-marked or renamed:
    /// their includes would print nothing. `includers` are their bangs (without `!`).
    #[error("{}", bounded(&format!("cannot {action} snippet !{bang}: {} include it; remove the include from them first", .includers.iter().map(|b| format!("!{b}")).collect::<Vec<_>>().join(", "))))]
    SnippetInUse {
        bang: String,
        action: &'static str,
        includers: Vec<String>,
    },
    /// The shortcut exists but is switched off.
    #[error("shortcut !{bang} is disabled; enable it before rendering")]
    ShortcutDisabled { bang: String },
    /// The workspace works with the defaults but has no stored record to read or change.
    #[error(
        "workspace {} has no record (it works with the defaults); create one with CreateWorkspace",
        quote(workspace)
    )]
    WorkspaceNotFound { workspace: String },
    /// CreateWorkspace for a workspace that has a record.
    #[error(
        "workspace {} already has a record; use UpdateWorkspace",
        quote(workspace)
    )]
    WorkspaceExists { workspace: String },
    /// No saved audience of that name in the workspace.
    #[error("{}", bounded(&format!("no audience named {} in workspace {}", quote(name), quote(workspace))))]
    AudienceNotFound { workspace: String, name: String },
    /// CreateAudience with a name the workspace already uses.
    #[error("{}", bounded(&format!("workspace {} already has an audience named {}; use UpdateAudience", quote(workspace), quote(name))))]
    AudienceExists { workspace: String, name: String },
    /// A starter shortcut does not fit the configured limits (a start-up error).
    #[error(
        "the starter shortcut !{bang} (templates/) has a {bytes}-byte body, over --max-body-bytes {limit}: raise --max-body-bytes to at least {bytes} or start with --seed-demo=false"
    )]
    StarterTooLarge {
        bang: String,
        bytes: usize,
        limit: usize,
    },

    // Customer data.
    /// The data source does not know this contact or session.
    #[error(
        "{scope} {} not found in workspace {} ({scope}_id)",
        quote(id),
        quote(workspace)
    )]
    DataNotFound {
        scope: &'static str,
        workspace: String,
        id: String,
    },
    /// The data source failed, timed out or refused us; `cause` says which.
    #[error("{}", bounded(&format!("cannot fetch {scope} data for {} (workspace {}): {cause}", quote(id), quote(workspace))))]
    SourceFailed {
        scope: &'static str,
        workspace: String,
        id: String,
        /// Boxed: the rarely taken path should not make every `Result` bigger.
        cause: Box<SourceFailure>,
    },

    // Rendering.
    /// A strict render found placeholders without a value.
    #[error("{}", bounded(&format!("no value for {}", .paths.join(", "))))]
    MissingData { paths: Vec<String> },
    /// A strict render of a shortcut whose required inputs were not all supplied in `vars`.
    #[error("{}", bounded(&format!("the shortcut needs the inputs {} in vars", .names.join(", "))))]
    MissingInputs { names: Vec<String> },
    /// A strict render of a shortcut one of whose attachments did not render to a usable
    /// name or URL; `field` names it (`attachments[1].url`).
    #[error("{}", bounded(&format!("{field} {message}")))]
    AttachmentFailed { field: String, message: String },
    /// The template raised an error while running (e.g. a filter given the wrong kind of
    /// value).
    #[error("{}", bounded(&format!("the template failed at line {line}: {message}")))]
    TemplateFailed { line: usize, message: String },
    /// A render bound (fuel, output size, range size) was reached; `limit` names the
    /// setting (`--render-fuel`, …).
    #[error("{}", bounded(message))]
    RenderLimit {
        limit: &'static str,
        message: String,
    },
    /// The render ran longer than `--render-timeout`.
    #[error("the render took longer than --render-timeout {}", humantime::format_duration(*.0))]
    RenderTimedOut(std::time::Duration),
    /// The caller's deadline (`grpc-timeout`) passed during the render.
    #[error("the caller's deadline passed during the render")]
    CallerDeadline,
    /// A client stream sent nothing for this long (`--idle-timeout`): its call ends
    /// rather than holding a task and a slot for a caller that went quiet.
    #[error("the stream sent nothing for {} (--idle-timeout); send the options and the file's chunks without pausing", humantime::format_duration(*.0))]
    StreamStalled(std::time::Duration),
    /// The caller went away (a cancelled BatchRender).
    #[error("the caller cancelled the render")]
    Cancelled,

    // Callers and capacity.
    /// No credentials, or credentials that match no token.
    #[error("{reason}")]
    Unauthenticated { reason: &'static str },
    /// The token may not act on this workspace, or not with this role.
    #[error("{}", bounded(&format!("token {token:?} {reason}")))]
    PermissionDenied { token: String, reason: String },
    /// Every call slot is taken: the caller should back off and retry.
    #[error("the server is handling its limit of {limit} calls; retry with backoff")]
    Overloaded { limit: usize },
    /// A request is larger than a size limit allows (`limit` names the flag); nothing of it
    /// was acted on.
    #[error("{}", bounded(message))]
    RequestTooLarge {
        limit: &'static str,
        message: String,
    },

    // The shortcut store.
    /// The store's disk (or its size limit) is full: nothing was written.
    #[error(
        "the shortcut store is out of disk space: nothing was written; retry once an operator has freed space (reads keep working)"
    )]
    StoreFull {
        #[source]
        cause: BoxError,
    },
    /// The store cannot be reached (pool closed or timed out, connection lost).
    #[error("{}", bounded(&format!("the shortcut store is unavailable: {cause}")))]
    StoreUnavailable {
        #[source]
        cause: BoxError,
    },
    /// The store answered with an error we do not expect, or data we cannot read.
    #[error("{}", bounded(&format!("the shortcut store failed: {context}: {cause}")))]
    StoreFailed {
        context: String,
        #[source]
        cause: BoxError,
    },

    /// A bug: details are logged, not sent.
    #[error("{}", bounded(&format!("internal error: {}", .0)))]
    Internal(String),
}

/// A problem found in a template, at a 1-based line and column of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDiagnostic {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl std::fmt::Display for TemplateDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// What kind of record a [`Error::StaleVersion`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioned {
    Shortcut,
    Workspace,
    Audience,
}

impl std::fmt::Display for Versioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Versioned::Shortcut => "shortcut",
            Versioned::Workspace => "workspace",
            Versioned::Audience => "audience",
        })
    }
}

/// Why a data source gave no record, after every attempt its policy allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceFailure {
    /// The source failed or did not answer within our budget for it; worth retrying later.
    #[error("{0}")]
    Unavailable(String),
    /// The caller's deadline came first.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The source rejected our credentials; `hint` says where they are configured.
    #[error("the {source_name} source rejected our credentials ({message}); {hint}")]
    Unauthorized {
        source_name: String,
        message: String,
        hint: String,
    },
    /// The source says we are configured wrongly; the message says what to fix.
    #[error("the {source_name} source is misconfigured: {message}")]
    Misconfigured {
        source_name: String,
        message: String,
    },
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same refusal about another request field (a rule checked under its usual name,
    /// `bang`, for a field named otherwise, `items[3].bang`); other errors pass unchanged.
    pub fn for_field(self, field: impl Into<String>) -> Self {
        match self {
            Error::InvalidField { message, .. } => Error::invalid(field, message),
            Error::InvalidTemplate { problems, .. } => Error::InvalidTemplate {
                field: field.into(),
                problems,
            },
            other => other,
        }
    }

    /// A database or storage error, classified by what it means for the caller.
    pub fn store(context: impl Into<String>, cause: impl Into<BoxError>) -> Self {
        Error::StoreFailed {
            context: context.into(),
            cause: cause.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many characters of a caller's value a message quotes: enough to recognise it.
pub const QUOTE_CHARS: usize = 100;

/// The longest error text (status message, log field), in bytes. A gRPC status message
/// travels in a trailer that HTTP/2 peers cap at a few KiB (percent-encoding can triple
/// it); past that the client sees a broken stream instead of the status.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `value` quoted and escaped as `{:?}` would, but at most [`QUOTE_CHARS`] characters of
/// it, followed by its full size when it was cut.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes in all)", &value[..cut], value.len()),
    }
}

/// `message` cut to at most [`MAX_MESSAGE_BYTES`] (on a character boundary), saying so.
/// Idempotent: a cut message is short enough to pass again unchanged.
pub fn bounded(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_MESSAGE_BYTES {
        return Cow::Borrowed(message);
    }
    // Room for the note, which is at most ~40 bytes.
    let mut cut = MAX_MESSAGE_BYTES - 64;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!(
        "{}… (message cut: {} bytes in all)",
        &message[..cut],
        message.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_say_how_long_the_value_was() {
        assert_eq!(quote("Europe/Paris"), "\"Europe/Paris\"");
        let long = "é".repeat(500_000);
        let quoted = quote(&long);
        assert!(quoted.chars().count() < QUOTE_CHARS + 40, "{quoted}");
        assert!(quoted.ends_with("(1000000 bytes in all)"), "{quoted}");
        assert_eq!(
            quote(&"x".repeat(QUOTE_CHARS)),
            format!("{:?}", "x".repeat(100))
        );
    }

    #[test]
    fn every_error_text_is_bounded() {
        let huge = "z".repeat(500_000);
        for err in [
            Error::invalid("time_zone", huge.clone()),
            Error::invalid(huge.clone(), "bad"),
            Error::ShortcutNotFound {
                workspace: "w".into(),
                key: huge.clone(),
            },
            Error::MissingData {
                paths: vec![huge.clone(); 3],
            },
            Error::Internal(huge.clone()),
        ] {
            let text = err.to_string();
            assert!(text.len() <= MAX_MESSAGE_BYTES, "{}", text.len());
            assert!(
                text.contains("bytes in all"),
                "{}",
                &text[text.len() - 60..]
            );
            assert_eq!(bounded(&text), text, "bounding twice changes nothing");
        }
        let multibyte = "€".repeat(3000);
        assert!(bounded(&multibyte).len() <= MAX_MESSAGE_BYTES);
        assert_eq!(
            Error::Internal("short".into()).to_string(),
            "internal error: short"
        );
    }

    #[test]
    fn store_errors_keep_their_cause_as_source() {
        let cause = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let err = Error::StoreFull {
            cause: cause.into(),
        };
        let source = std::error::Error::source(&err).expect("the cause is kept");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("as the error it was");
        assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
        let failed = Error::store("reading a row", std::io::Error::other("bad bytes"));
        assert!(
            failed.to_string().contains("reading a row: bad bytes"),
            "{failed}"
        );
        assert!(std::error::Error::source(&failed).is_some());
    }
}
