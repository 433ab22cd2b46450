//! Audiences (campaigns): a filter over contact data, the scan that walks a workspace's
//! contacts page by page from its data source and decides on each, the preview of what a
//! filter matches, and the resume token that says where a scan stands.
//!
//! A scan holds about two pages of contacts at a time, never the whole list: its memory
//! does not grow with the audience. In a batch, contacts a source lists whole (file, gRPC
//! upstream) are cached as they pass, so that rendering to them fetches nothing; those
//! listed without their custom data (Crisp's people list) are fetched through the cache
//! before the filter reads them.

pub mod filter;
pub mod pushdown;
pub mod token;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use minijinja::Value;
use tokio::sync::Semaphore;

pub use filter::{Decision, Filter, Matcher};
pub use token::{Position, ResumeToken};

use crate::data::{ContactQuery, DataService, FetchOptions, ListedContact, Purpose};
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
/// Contacts fetched whole at once by a preview (those a listing returns without their
/// custom data); a batch's scan holds one of the replica's `--batch-concurrency` permits for
/// each instead.
pub const FETCH_CONCURRENCY: usize = 16;
/// Contacts a scan has under way at once, in order: more than the fetches that may run, so
/// that one slow answer does not leave the permits idle behind it.
const SCAN_WINDOW: usize = 4 * FETCH_CONCURRENCY;

/// One contact a scan reached.
pub struct Scanned {
    pub id: String,
    /// Its scope, or why it could not be read (a failed fetch of a listed contact).
    pub scope: Result<Value>,
    /// Where the scan stands once this contact is done.
    pub after: Position,
}

/// Walks a workspace's contacts from a position, one page in memory at a time.
///
/// Contacts listed without their custom data are fetched whole [`FETCH_CONCURRENCY`] at a
/// time (a batch: within its permits), across page boundaries: the next page is asked for while the last fetches of the
/// one before are still under way, so a slow source is kept busy instead of waited on.
pub struct Scanner {
    contacts: std::pin::Pin<Box<dyn futures::Stream<Item = Result<Scanned>> + Send>>,
    /// The task that reads the pages ahead of the fetches; stopped with the scanner.
    _listing: tokio_util::task::AbortOnDropHandle<()>,
}

/// Listed contacts read ahead of the ones being decided on: about two pages, so the next
/// page is under way while the last contacts of one are fetched.
const LIST_AHEAD: usize = 2 * crate::data::PAGE_SIZE as usize;

/// Where the listing stands, for [`Scanner`]'s stream of listed contacts.
struct Listing {
    data: Arc<DataService>,
    workspace_id: WorkspaceId,
    /// What the source may narrow its listing to (the filter's pushdown).
    query: ContactQuery,
    deadline: Option<Instant>,
    /// The page being read, the cursor it started at, and how many of it are done.
    page: VecDeque<ListedContact>,
    page_cursor: String,
    done_in_page: u32,
    /// Where the next page starts; `None` once the last page was read (or one failed).
    next: Option<String>,
    /// Contacts of the first page to step over (a resumed scan).
    skip: u32,
}

impl Listing {
    /// The next listed contact and the position after it.
    async fn next(&mut self) -> Option<Result<(ListedContact, Position)>> {
        while self.page.is_empty() {
            let cursor = self.next.take()?;
            // A page from the file source is ready at once: let other tasks run between
            // pages all the same.
            tokio::task::yield_now().await;
            let page = match self
                .data
                .list_contacts(&self.workspace_id, &cursor, &self.query, self.deadline)
                .await
            {
                Ok(page) => page,
                Err(err) => return Some(Err(err)),
            };
            self.page_cursor = cursor;
            self.done_in_page = 0;
            self.page = page.contacts.into();
            self.next = page.next.filter(|_| !self.page.is_empty());
            for _ in 0..std::mem::take(&mut self.skip) {
                if self.page.pop_front().is_some() {
                    self.done_in_page += 1;
                }
            }
        }
        let contact = self.page.pop_front()?;
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
        Some(Ok((contact, after)))
    }
}

/// What a scan needs to turn a listed contact into its scope.
#[derive(Clone)]
struct Resolver {
    data: Arc<DataService>,
    workspace_id: WorkspaceId,
    deadline: Option<Instant>,
    permits: Arc<Semaphore>,
    /// Put contacts listed whole into the data cache (a batch, whose renders read them
    /// next); a preview does not, so that scanning a million contacts does not push the
    /// agents' contacts out of the cache.
    cache: bool,
}

impl Resolver {
    /// A contact listed whole is cached as it is; another is fetched whole (through the
    /// cache), holding a permit when the scan shares a bound.
    async fn scope(&self, contact: &ListedContact) -> Result<Value> {
        if contact.complete {
            return Ok(if self.cache {
                self.data.remember(&self.workspace_id, contact).await
            } else {
                crate::data::scope::build(&contact.id, &contact.record)
            });
        }
        let _permit = self.permits.clone().acquire_owned().await.ok();
        let id = ContactId::parse_as("contact_id", &contact.id)?;
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

impl Scanner {
    /// A scan of the contacts that may meet `query` (every contact, to a source that
    /// cannot search), from `start`.
    pub fn new(
        data: Arc<DataService>,
        workspace_id: WorkspaceId,
        query: ContactQuery,
        start: Position,
        deadline: Option<Instant>,
    ) -> Self {
        Self::build(data, workspace_id, query, start, deadline, None)
    }

    /// A batch's scan: its whole-contact fetches each hold a permit of `permits` (the bound
    /// on the upstream calls in flight), and the contacts it lists go into the data cache.
    pub fn with_permits(
        data: Arc<DataService>,
        workspace_id: WorkspaceId,
        query: ContactQuery,
        start: Position,
        permits: Arc<Semaphore>,
    ) -> Self {
        Self::build(data, workspace_id, query, start, None, Some(permits))
    }

    fn build(
        data: Arc<DataService>,
        workspace_id: WorkspaceId,
        query: ContactQuery,
        start: Position,
        deadline: Option<Instant>,
        permits: Option<Arc<Semaphore>>,
    ) -> Self {
        let listing = Listing {
            data: data.clone(),
            workspace_id: workspace_id.clone(),
            query,
            deadline,
            page: VecDeque::new(),
            page_cursor: String::new(),
            done_in_page: 0,
            next: Some(start.cursor),
            skip: start.skip,
        };
        let resolver = Resolver {
            data,
            workspace_id,
            deadline,
            cache: permits.is_some(),
            permits: permits.unwrap_or_else(|| Arc::new(Semaphore::new(FETCH_CONCURRENCY))),
        };
        let (ahead, listed) = tokio::sync::mpsc::channel(LIST_AHEAD);
        let mut listing = listing;
        let reader = tokio::spawn(async move {
            while let Some(item) = listing.next().await {
                let failed = item.is_err();
                // After a failed page, the stream ends with that failure.
                if ahead.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        let listed = tokio_stream::wrappers::ReceiverStream::new(listed);
        let contacts = listed
            .map(move |item| {
                let resolver = resolver.clone();
                async move {
                    let (contact, after) = item?;
                    let scope = resolver.scope(&contact).await;
                    Ok(Scanned {
                        id: contact.id,
                        scope,
                        after,
                    })
                }
            })
            .buffered(SCAN_WINDOW);
        Scanner {
            contacts: Box::pin(contacts),
            _listing: tokio_util::task::AbortOnDropHandle::new(reader),
        }
    }

    /// The next contact, or `None` after the last one. A source failure ends the scan.
    pub async fn next(&mut self) -> Result<Option<Scanned>> {
        self.contacts.next().await.transpose()
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
    /// What the source was asked to narrow its listing to (see [`crate::data::DataSource::pushdown`]).
    pub pushed_down: Option<String>,
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
    let query = filter.contact_query().clone();
    let mut preview = Preview {
        pushed_down: data.pushdown(&workspace_id, &query),
        ..Preview::default()
    };
    let mut scanner = Scanner::new(
        data,
        workspace_id,
        query,
        Position::default(),
        Some(deadline),
    );
    loop {
        if Instant::now() >= deadline {
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
        // One more than the limit was read only to know whether the limit ended the scan.
        if preview.scanned >= limit {
            return Ok(preview);
        }
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
