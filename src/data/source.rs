//! The contract every data source implements: one attempt at fetching one record, with its
//! failure classified so that the retry loop ([`super::upstream`]) knows what to do next.

use std::time::Duration;

use async_trait::async_trait;

use super::{ContactQuery, Record, ScopeKind};

/// Why one fetch attempt produced no record.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceError {
    /// The source does not know this id (cached briefly, never retried).
    NotFound,
    /// Worth another try: connection refused or reset, 5xx, gRPC UNAVAILABLE, a timeout.
    Transient(String),
    /// The source asked us to slow down, possibly saying for how long.
    RateLimited(Option<Duration>),
    /// The source refused our credentials: a configuration problem, not retried.
    Unauthorized(String),
    /// The source says our configuration is wrong in another way (e.g. a base URL that
    /// names no API route); the message says what to fix. Not retried.
    Misconfigured(String),
    /// Any other refusal (a 4xx we do not expect, a malformed answer): not retried.
    Fatal(String),
}

/// One page of a source's contacts, in the source's own order.
#[derive(Debug, Default)]
pub struct ContactPage {
    pub contacts: Vec<ListedContact>,
    /// Where the next page starts (opaque to the caller); `None` after the last page.
    pub next: Option<String>,
}

/// A contact as a listing returns it.
#[derive(Debug, Clone)]
pub struct ListedContact {
    /// The id a render fetches it by.
    pub id: String,
    pub record: std::sync::Arc<Record>,
    /// Whether `record` is the whole contact (profile and custom data). Crisp's people list
    /// has no custom data: such a contact is fetched whole before a filter reads it.
    pub complete: bool,
}

/// Fetches contact and session records from the system that owns them.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// A short name for messages and responses: `crisp`, `grpc`, `file`.
    fn name(&self) -> &str;

    /// How many requests one fetch of `kind` sends to the source (what it costs in the
    /// source's request budget).
    fn requests(&self, _kind: ScopeKind) -> u32 {
        1
    }

    /// One attempt at fetching a record; `timeout` is how long this attempt may take (the
    /// caller also enforces it).
    async fn fetch(
        &self,
        kind: ScopeKind,
        workspace_id: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<Record, SourceError>;

    /// One attempt at reading the page of contacts that starts at `cursor` (empty: the
    /// first page), about `page_size` long. A source that can search may list only the
    /// contacts that meet `query` (the same query for every page of a listing), or ignore
    /// it. Sources that cannot enumerate say so.
    async fn list_contacts(
        &self,
        _workspace_id: &str,
        _cursor: &str,
        _page_size: u32,
        _query: &ContactQuery,
        _timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        Err(SourceError::Misconfigured(format!(
            "the {} source cannot list its contacts",
            self.name()
        )))
    }

    /// What this source sends for `query` when it lists contacts, as text for callers
    /// (e.g. Crisp's search parameters as JSON); `None` when it lists everyone.
    fn pushdown(&self, _query: &ContactQuery) -> Option<String> {
        None
    }
}
