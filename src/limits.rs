//! Bounds on what one request may ask of the service, beside the template engine's own
//! ([`crate::template::RenderLimits`]: fuel, output, `range`, template size, variants).
//!
//! Each is configurable (see [`crate::config`]) with a safe default, and each refusal names
//! the field and the limit, so that the caller knows what to change.

use crate::error::{Error, Result};

/// Default for [`RequestLimits::max_struct_depth`]: well below protobuf's own decoding
/// limit (100), so that callers get a message naming the field instead of a parse failure.
pub const DEFAULT_MAX_STRUCT_DEPTH: usize = 16;
/// Default for [`RequestLimits::max_search_query_chars`]: far beyond anything typed.
pub const DEFAULT_MAX_SEARCH_QUERY_CHARS: usize = 256;
/// Default for [`RequestLimits::max_batch_recipients`].
pub const DEFAULT_MAX_BATCH_RECIPIENTS: usize = 10_000;

/// Per-request bounds checked at the API boundary, before any work starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// How deeply `agent` and `vars` may nest (objects and lists within each other).
    pub max_struct_depth: usize,
    /// Characters in a `SearchShortcuts` query.
    pub max_search_query_chars: usize,
    /// Recipients in one `BatchRender`.
    pub max_batch_recipients: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_struct_depth: DEFAULT_MAX_STRUCT_DEPTH,
            max_search_query_chars: DEFAULT_MAX_SEARCH_QUERY_CHARS,
            max_batch_recipients: DEFAULT_MAX_BATCH_RECIPIENTS,
        }
    }
}

impl RequestLimits {
    pub fn check_search_query(&self, query: &str) -> Result<()> {
        let max = self.max_search_query_chars;
        // Counting stops at the limit: a huge query costs no more than a long one.
        if query.chars().nth(max).is_some() {
            return Err(Error::invalid(
                "query",
                format!("is longer than {max} characters"),
            ));
        }
        Ok(())
    }

    pub fn check_batch_recipients(&self, count: usize) -> Result<()> {
        let max = self.max_batch_recipients;
        if count > max {
            return Err(Error::invalid(
                "recipients",
                format!("{count} recipients; a batch takes at most {max}, split it"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_and_message(err: Error) -> (String, String) {
        match err {
            Error::InvalidField { field, message } => (field, message),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn search_query_length_counts_characters_not_bytes() {
        let limits = RequestLimits {
            max_search_query_chars: 4,
            ..RequestLimits::default()
        };
        assert!(limits.check_search_query("éééé").is_ok());
        let (field, message) = field_and_message(limits.check_search_query("ééééé").unwrap_err());
        assert_eq!(field, "query");
        assert!(message.contains('4'), "{message}");
    }

    #[test]
    fn batch_size_names_the_limit() {
        let limits = RequestLimits {
            max_batch_recipients: 3,
            ..RequestLimits::default()
        };
        assert!(limits.check_batch_recipients(3).is_ok());
        let (field, message) = field_and_message(limits.check_batch_recipients(4).unwrap_err());
        assert_eq!(field, "recipients");
        assert!(message.contains("at most 3"), "{message}");
    }
}
