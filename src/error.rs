//! The library's error type. Every failure a caller can see is one of these; the API layer
//! maps each variant to a gRPC status in one place (`api::status`).
//!
//! Also owns how much of a caller's input a message may repeat: [`quote`] at the source,
//! wherever a message echoes input, and [`bounded`] as the safety net every `Error`'s
//! text goes through (so a status message or log line stays small even where a message
//! forgot to quote).

use std::borrow::Cow;

/// A failure with enough context for a person to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names the offending request field.
    #[error("{}", bounded(&format!("{field}: {message}")))]
    InvalidArgument { field: String, message: String },
    #[error("{}", bounded(.0))]
    NotFound(String),
    #[error("{}", bounded(.0))]
    AlreadyExists(String),
    /// The request is well-formed but the state does not allow it (stale version, disabled
    /// shortcut).
    #[error("{}", bounded(.0))]
    FailedPrecondition(String),
    /// A strict render found placeholders without a value.
    #[error("{}", bounded(&format!("no value for {}", .0.join(", "))))]
    MissingData(Vec<String>),
    /// A render or request limit was hit, or the store is out of space.
    #[error("{}", bounded(.0))]
    ResourceExhausted(String),
    /// A data source or the store could not be reached.
    #[error("{}", bounded(.0))]
    Unavailable(String),
    #[error("{}", bounded(.0))]
    DeadlineExceeded(String),
    /// No valid credentials were presented.
    #[error("{}", bounded(.0))]
    Unauthenticated(String),
    /// The credentials do not allow this call; says nothing about whether the resource exists.
    #[error("{}", bounded(.0))]
    PermissionDenied(String),
    /// A bug or an unexpected store failure; details are logged, not sent.
    #[error("{}", bounded(&format!("internal error: {}", .0)))]
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
            Error::NotFound(huge.clone()),
            Error::MissingData(vec![huge.clone(); 3]),
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
        assert_eq!(Error::NotFound("short".into()).to_string(), "short");
    }
}
