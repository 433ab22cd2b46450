//! Audiences (campaigns): a filter over contact data, the scan that walks a workspace's
//! contacts page by page from its data source and decides on each, the preview of what a
//! filter matches, and the resume token that says where a scan stands.
//!
//! A scan holds one page of contacts at a time, never the whole list: its memory does not
//! grow with the audience. Contacts a source lists whole (file, gRPC upstream) are cached
//! as they pass, so that rendering to them fetches nothing; those listed without their
//! custom data (Crisp's people list) are fetched through the cache before the filter reads
//! them.

pub mod filter;
pub mod token;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minijinja::Value;
use tokio::sync::Semaphore;

pub use filter::{Decision, Filter, Matcher};
pub use token::{Position, ResumeToken};

use crate::data::{DataService, FetchOptions, ListedContact, Purpose};
use crate::error::{Error, Result};
use crate::ids::{ContactId, WorkspaceId};
use crate::template::Engine;

/// A preview's scan stops after this many contacts unless the request says otherwise.
pub const DEFAULT_PREVIEW_LIMIT: u64 = 10_000;
/// The most contacts one preview may scan.
pub const MAX_PREVIEW_LIMIT: u64 = 1_000_000;
/// Matched contacts a preview shows, with the values the filter read.
pub const SAMPLE_SIZE: usize = 10;
/// How long a preview scans when the caller set no deadline.
pub const DEFAULT_PREVIEW_TIME: Duration = Duration::from_secs(10);
/// Contacts of one page fetched whole at once (those a listing returns without their
/// custom data); a batch's scan also holds one of its `--batch-concurrency` permits each.
pub const FETCH_CONCURRENCY: usize = 16;

/// One contact a scan reached.
pub struct Scanned {
    pub id: String,
    /// Its scope, or why it could not be read (a failed fetch of a listed contact).
    pub scope: Result<Value>,
    /// Where the scan stands once this contact is done.
    pub after: Position,
}

/// Walks a workspace's contacts from a position, one page in memory at a time.
pub struct Scanner {
    data: Arc<DataService>,
    workspace_id: WorkspaceId,
    deadline: Option<Instant>,
    /// The page being read (each contact's id and scope), the cursor it started at, and
    /// how many of it are done.
    page: VecDeque<(String, Result<Value>)>,
    page_cursor: String,
    done_in_page: u32,
    /// Where the next page starts; `None` once the last page was read.
    next: Option<String>,
    /// Contacts of the first page to step over (a resumed scan).
    skip: u32,
    /// Held by each whole-contact fetch, when the scan shares a bound (a batch's).
    permits: Option<Arc<Semaphore>>,
}

impl Scanner {
    pub fn new(
        data: Arc<DataService>,
        workspace_id: WorkspaceId,
        start: Position,
        deadline: Option<Instant>,
    ) -> Self {
        Scanner {
            data,
            workspace_id,
            deadline,
            page: VecDeque::new(),
            page_cursor: String::new(),
            done_in_page: 0,
            next: Some(start.cursor),
            skip: start.skip,
            permits: None,
        }
    }

    /// Makes each whole-contact fetch hold a permit of `permits` (a batch's bound on the
    /// upstream calls in flight).
    pub fn with_permits(mut self, permits: Arc<Semaphore>) -> Self {
        self.permits = Some(permits);
        self
    }

    /// The next contact, or `None` after the last one. A source failure ends the scan.
    pub async fn next(&mut self) -> Result<Option<Scanned>> {
        while self.page.is_empty() {
            let Some(cursor) = self.next.take() else {
                return Ok(None);
            };
            // A page from the file source is ready at once: let other tasks run between
            // pages all the same.
            tokio::task::yield_now().await;
            let page = self
                .data
                .list_contacts(&self.workspace_id, &cursor, self.deadline)
                .await?;
            self.page_cursor = cursor;
            self.done_in_page = 0;
            let mut contacts: VecDeque<ListedContact> = page.contacts.into();
            self.next = page.next.filter(|_| !contacts.is_empty());
            let skip = std::mem::take(&mut self.skip);
            for _ in 0..skip {
                if contacts.pop_front().is_some() {
                    self.done_in_page += 1;
                }
            }
            self.page = self.scopes(contacts).await;
        }
        let Some((id, scope)) = self.page.pop_front() else {
            return Ok(None);
        };
        self.done_in_page += 1;
        let after = match (&self.next, self.page.is_empty()) {
            (Some(next), true) => Position {
                cursor: next.clone(),
                skip: 0,
            },
            _ => Position {
                cursor: self.page_cursor.clone(),
                skip: self.done_in_page,
            },
        };
        Ok(Some(Scanned { id, scope, after }))
    }

    /// The scopes of a page's contacts, in order: those listed whole are cached as they
    /// are; the others are fetched whole (through the cache), [`FETCH_CONCURRENCY`] at once.
    async fn scopes(&self, contacts: VecDeque<ListedContact>) -> VecDeque<(String, Result<Value>)> {
        let this = self;
        futures::stream::iter(contacts)
            .map(|contact| async move {
                let scope = if contact.complete {
                    Ok(this.data.remember(&this.workspace_id, &contact).await)
                } else {
                    let _permit = match &this.permits {
                        Some(permits) => permits.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    this.fetch_whole(&contact.id).await
                };
                (contact.id, scope)
            })
            .buffered(FETCH_CONCURRENCY)
            .collect()
            .await
    }

    /// A contact listed without its custom data, fetched whole (through the cache).
    async fn fetch_whole(&self, id: &str) -> Result<Value> {
        let id = ContactId::parse_as("contact_id", id)?;
        let options = FetchOptions {
            deadline: self.deadline,
            best_effort: false,
            purpose: Purpose::Batch,
        };
        Ok(self
            .data
            .scope(&self.workspace_id, &id, options)
            .await?
            .value)
    }
}

/// What a filter matches in a workspace, as far as the scan got.
#[derive(Debug, Default)]
pub struct Preview {
    pub matched: u64,
    pub scanned: u64,
    /// Contacts the filter could not decide on (their data failed to load, or the
    /// expression failed on it).
    pub failed: u64,
    /// Every contact was scanned (not stopped by the limit or the deadline).
    pub complete: bool,
    /// The first matched contacts, with the values the filter read.
    pub sample: Vec<(String, Vec<(String, String)>)>,
}

/// Scans up to `limit` contacts until `deadline`, counting what `filter` matches.
pub async fn preview(
    data: Arc<DataService>,
    engine: &Engine,
    workspace_id: WorkspaceId,
    workspace: Value,
    filter: &Filter,
    limit: u64,
    deadline: Instant,
) -> Result<Preview> {
    let matcher = filter.matcher(engine, workspace)?;
    let mut scanner = Scanner::new(data, workspace_id, Position::default(), Some(deadline));
    let mut preview = Preview::default();
    loop {
        if preview.scanned >= limit || Instant::now() >= deadline {
            return Ok(preview);
        }
        let next = match scanner.next().await {
            Ok(next) => next,
            // The deadline ended the scan in a page fetch: what was counted stands.
            Err(_) if Instant::now() >= deadline && preview.scanned > 0 => return Ok(preview),
            Err(err) => return Err(err),
        };
        let Some(contact) = next else {
            preview.complete = true;
            return Ok(preview);
        };
        preview.scanned += 1;
        let decision = match &contact.scope {
            Ok(scope) => matcher.decide(scope)?,
            Err(Error::DataNotFound { .. }) => Decision::Skipped,
            Err(_) => Decision::Failed,
        };
        match decision {
            Decision::Matched => {
                preview.matched += 1;
                if preview.sample.len() < SAMPLE_SIZE
                    && let Ok(scope) = &contact.scope
                {
                    preview.sample.push((contact.id, matcher.values(scope)));
                }
            }
            Decision::Skipped => {}
            Decision::Failed => preview.failed += 1,
        }
    }
}
