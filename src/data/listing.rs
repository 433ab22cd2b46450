//! Enumerating a workspace's contacts (audiences): one page at a time from its source,
//! each page paid for in the source's request budget as batch work, retried on transient
//! failures, and paused on a 429 for as long as the source asks. Contacts a listing returns
//! whole go into the data cache, so that rendering to them fetches nothing again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;

use super::cache::CacheKey;
use super::query::ContactQuery;
use super::source::{ContactPage, ListedContact, SourceError};
use super::upstream::{FetchFailure, backoff};
use super::{DataService, Purpose, ScopeKind, cache_entry, failure_error};
use crate::error::Result;
use crate::ids::WorkspaceId;

/// Contacts asked for per page (Crisp pages have their own size).
pub const PAGE_SIZE: u32 = 100;

/// Attempts at one page beyond the policy's retries, for 429s (each waits its Retry-After).
const EXTRA_RATE_LIMITED_ATTEMPTS: u32 = 5;

/// What a listing failure is reported as: the listing of the workspace's contacts.
const LISTING: &str = "(contact list)";

impl DataService {
    /// The page of `workspace_id`'s contacts that starts at `cursor` (empty: the first),
    /// never waiting past `deadline` (default: the source's own budget for one fetch). The
    /// source may leave out contacts that do not meet `query`.
    pub async fn list_contacts(
        &self,
        workspace_id: &WorkspaceId,
        cursor: &str,
        query: &ContactQuery,
        deadline: Option<Instant>,
    ) -> Result<ContactPage> {
        let route = self.sources.route(workspace_id);
        let policy = &route.policy;
        let until = deadline.unwrap_or_else(|| {
            Instant::now() + policy.timeout * (policy.retries + 1) + Duration::from_secs(1)
        });
        let fail = |failure: FetchFailure| {
            failure_error(ScopeKind::Contact, workspace_id, LISTING, route, failure)
        };
        let mut attempt = 0;
        loop {
            let now = Instant::now();
            if now >= until {
                return Err(fail(FetchFailure::DeadlineExceeded(format!(
                    "the {} source did not list the contacts in time",
                    route.source.name()
                ))));
            }
            if let Err(refusal) = route.budget.acquire(Purpose::Batch, 1, until).await {
                return Err(fail(FetchFailure::Dropped(
                    refusal,
                    format!(
                        "the {} source's request budget (or a 429 pause) left no room to list contacts in time",
                        route.source.name()
                    ),
                )));
            }
            let timeout = policy.timeout.min(until.saturating_duration_since(now));
            let result = route
                .source
                .list_contacts(workspace_id, cursor, PAGE_SIZE, query, timeout)
                .await;
            attempt += 1;
            match result {
                Ok(page) => return Ok(page),
                Err(SourceError::NotFound) => return Ok(ContactPage::default()),
                Err(SourceError::RateLimited(retry_after))
                    if attempt <= policy.retries + EXTRA_RATE_LIMITED_ATTEMPTS =>
                {
                    // The budget's next acquire waits out the pause (or refuses past `until`).
                    route
                        .budget
                        .pause(retry_after.unwrap_or_else(|| backoff(attempt)));
                }
                Err(SourceError::Transient(_)) if attempt <= policy.retries => {
                    let wait = backoff(attempt).min(until.saturating_duration_since(now));
                    tokio::time::sleep(wait).await;
                }
                Err(SourceError::RateLimited(_)) => {
                    return Err(fail(FetchFailure::Unavailable(format!(
                        "the {} source kept rate limiting the contact list",
                        route.source.name()
                    ))));
                }
                Err(SourceError::Transient(message) | SourceError::Fatal(message)) => {
                    return Err(fail(FetchFailure::Unavailable(format!(
                        "the {} source failed to list contacts: {message}",
                        route.source.name()
                    ))));
                }
                Err(SourceError::Unauthorized(message)) => {
                    return Err(fail(FetchFailure::Unauthorized(message)));
                }
                Err(SourceError::Misconfigured(message)) => {
                    return Err(fail(FetchFailure::Misconfigured(message)));
                }
            }
        }
    }

    /// What `workspace_id`'s source sends for `query` when it lists contacts (`None`: it
    /// lists everyone).
    pub fn pushdown(&self, workspace_id: &WorkspaceId, query: &ContactQuery) -> Option<String> {
        self.sources.route(workspace_id).source.pushdown(query)
    }

    /// Caches a contact that a listing returned whole and returns its scope: the render
    /// that follows finds it in the cache.
    pub async fn remember(&self, workspace_id: &WorkspaceId, contact: &ListedContact) -> Value {
        let route = self.sources.route(workspace_id);
        let entry = cache_entry(&contact.id, &contact.record, &route.policy);
        let scope = entry.scope.clone().unwrap_or_else(super::scope::empty);
        self.cache
            .insert(
                CacheKey::new(ScopeKind::Contact, workspace_id, &contact.id),
                Arc::new(entry),
            )
            .await;
        scope
    }
}
