//! Bounds on what one request may ask of the service, beside the template engine's own
//! ([`crate::template::RenderLimits`]: fuel, output, `range`, template size, variants).
//!
//! Each is configurable (see [`crate::config`]) with a safe default, and each refusal names
//! the field and the limit, so that the caller knows what to change. The caller's own bound,
//! its deadline, is kept here for the call's duration ([`call_deadline`]).

use crate::error::{Error, Result};

/// Default for [`RequestLimits::max_struct_depth`]: well below protobuf's own decoding
/// limit (100), so that callers get a message naming the field instead of a parse failure.
pub const DEFAULT_MAX_STRUCT_DEPTH: usize = 16;
/// Default for [`RequestLimits::max_search_query_chars`]: far beyond anything typed.
pub const DEFAULT_MAX_SEARCH_QUERY_CHARS: usize = 256;
/// Default for [`RequestLimits::max_batch_recipients`].
pub const DEFAULT_MAX_BATCH_RECIPIENTS: usize = 10_000;

/// Default for [`RequestLimits::max_import_bytes`]: the generated Zendesk export of 20,000
/// macros (`tests/e2e/zendesk_export.rs`, the fields the API returns) is 12.7 MiB; this
/// leaves room for exports with longer replies.
pub const DEFAULT_MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// Default for [`RequestLimits::max_import_items`].
pub const DEFAULT_MAX_IMPORT_ITEMS: usize = 50_000;

/// Default for [`RequestLimits::consistency_wait`]: the change feed's lag between replicas
/// is a few milliseconds (p99 4.5 ms measured), so this is rarely reached.
pub const DEFAULT_CONSISTENCY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Per-request bounds checked at the API boundary, before any work starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// How deeply `agent` and `vars` may nest (objects and lists within each other).
    pub max_struct_depth: usize,
    /// Characters in a `SearchShortcuts` query.
    pub max_search_query_chars: usize,
    /// Recipients in one `BatchRender`.
    pub max_batch_recipients: usize,
    /// Bytes of the file one `ImportShortcutsStream` may send.
    pub max_import_bytes: usize,
    /// Items in the file of one `ImportShortcutsStream`.
    pub max_import_items: usize,
    /// How long a read with a consistency token waits for this replica to catch up before
    /// it reads the record from the store.
    pub consistency_wait: std::time::Duration,
    /// How long a client stream (ImportShortcutsStream) may send nothing, its first
    /// message included, before its call ends (`--idle-timeout`).
    pub stream_idle: std::time::Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_struct_depth: DEFAULT_MAX_STRUCT_DEPTH,
            max_search_query_chars: DEFAULT_MAX_SEARCH_QUERY_CHARS,
            max_batch_recipients: DEFAULT_MAX_BATCH_RECIPIENTS,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES,
            max_import_items: DEFAULT_MAX_IMPORT_ITEMS,
            consistency_wait: DEFAULT_CONSISTENCY_WAIT,
            stream_idle: std::time::Duration::from_secs(60),
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

/// The current call's deadline, as the caller set it (`grpc-timeout`), for work deep below
/// the API that must answer before it, such as a store write: passing it down every
/// signature in between would thread one value through layers that have no other use for it.
mod call_deadline {
    use std::future::Future;
    use std::time::Instant;

    tokio::task_local! {
        static CALL_DEADLINE: Instant;
    }

    /// Runs `work` with `deadline` as the current call's deadline.
    pub async fn with_call_deadline<F: Future>(deadline: Option<Instant>, work: F) -> F::Output {
        match deadline {
            Some(deadline) => CALL_DEADLINE.scope(deadline, work).await,
            None => work.await,
        }
    }

    /// The current call's deadline, if it has one.
    pub fn call_deadline() -> Option<Instant> {
        CALL_DEADLINE.try_with(|d| *d).ok()
    }
}

pub use call_deadline::{call_deadline, with_call_deadline};

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
