//! Batch rendering: one template for many recipients, streamed back as each is ready.
//!
//! The template is looked up or compiled once for the whole batch. Each recipient's data
//! fetch and render holds a permit of one semaphore shared by every batch on this replica
//! (`--batch-concurrency`), so 10,000 cold contacts never become 10,000 upstream calls at
//! once. Results pass through a bounded channel: when the caller reads slowly the channel
//! fills and no new recipient starts, so the server never holds the whole batch. When the
//! caller goes away the channel closes and the work still in flight is aborted: tasks
//! waiting are dropped, and renders already running (in a render slot, off the runtime,
//! where aborting a task cannot reach them) see the batch's cancel flag at their next charge.
//!
//! An audience batch has no recipient list: a scan of the workspace's contacts (see
//! [`crate::audience`]) feeds the matched ones to the same renders through a bounded
//! channel, so the scan runs only as far ahead of the renders as the bound allows. Its
//! results keep the source's order (each carries the resume token of its position, which
//! is only true if every result before it was sent) and end with a summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{FutureExt, Stream, StreamExt};
use minijinja::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;

use crate::audience::{Decision, Filter, Position, ResumeToken, Scanner};
use crate::data::{FetchOptions, Purpose};
use crate::error::{Error, Result};
use crate::ids::{ContactId, SessionId, WorkspaceId};
use crate::render::{
    RenderOutcome, RenderRequest, Renderer, ResolvedTemplate, Target, validate_locale,
};

pub const DEFAULT_CONCURRENCY: usize = 16;
/// The largest request a batch may be (10,000 recipients with a few vars each).
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
/// How long the caller may leave results unread before the log says the batch is paused.
const SLOW_READER_NOTICE: Duration = Duration::from_secs(1);

/// One template rendered for many recipients.
#[derive(Debug)]
pub struct BatchRequest {
    pub workspace_id: WorkspaceId,
    pub target: Target,
    pub locale: String,
    pub agent: Value,
    /// Whom the batch is counted for in the shortcut's usage ([`crate::usage::agent_id`]).
    pub counted_agent: String,
    pub strict: bool,
    pub recipients: Recipients,
}

/// Who a batch renders to.
#[derive(Debug)]
pub enum Recipients {
    /// Each recipient, or why it could not be read (reported for that recipient alone).
    Listed(Vec<Result<Recipient>>),
    /// Every contact of the workspace's source that the filter matches, from the start or
    /// from where a resume token says an earlier batch stood.
    Audience {
        filter: Filter,
        resume: Option<ResumeToken>,
    },
}

#[derive(Debug)]
pub struct Recipient {
    pub contact_id: ContactId,
    pub session_id: SessionId,
    pub vars: Value,
}

/// The outcome for the recipient at `index` in the request.
#[derive(Debug)]
pub struct RecipientResult {
    pub index: u32,
    pub outcome: Result<RenderOutcome>,
    /// Audience batches: the contact, and where the scan stands after it.
    pub contact_id: Option<String>,
    pub resume_token: Option<String>,
}

/// What a batch streams back.
#[derive(Debug)]
pub enum BatchEvent {
    /// Boxed: a rendered reply is far larger than the other events.
    Result(Box<RecipientResult>),
    /// The last message of an audience batch that scanned every contact.
    Summary(Summary),
    /// The scan of an audience failed (its source is down): the batch ends here, and the
    /// last result's resume token continues it.
    Stopped(Error),
}

/// How an audience batch went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub matched: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Runs batches with a bound on the recipients in flight across all of them.
pub struct BatchRenderer {
    renderer: Arc<Renderer>,
    permits: Arc<Semaphore>,
    concurrency: usize,
}

impl BatchRenderer {
    pub fn new(renderer: Arc<Renderer>, concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            renderer,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
        }
    }

    /// Checks the request as a whole (template, recipient count, locale) and starts
    /// rendering; results arrive on the returned channel in the order they are ready.
    pub fn start(&self, request: BatchRequest) -> Result<mpsc::Receiver<BatchEvent>> {
        // Their number is bounded at the API boundary, before they are even converted.
        if let Recipients::Listed(list) = &request.recipients
            && list.is_empty()
        {
            return Err(Error::invalid(
                "recipients",
                "at least one is required (or set `audience`)",
            ));
        }
        validate_locale(&request.locale)?;
        let template = self
            .renderer
            .resolve(&request.workspace_id, request.target)?;
        let (results, receiver) = mpsc::channel(self.concurrency);
        let job = Job {
            renderer: self.renderer.clone(),
            permits: self.permits.clone(),
            concurrency: self.concurrency,
            workspace_id: request.workspace_id,
            template,
            locale: request.locale.clone(),
            agent: request.agent,
            counted_agent: request.counted_agent,
            strict: request.strict,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let span = tracing::info_span!(
            "batch",
            workspace = %job.workspace_id,
            shortcut = job.template.shortcut_id().unwrap_or("(inline)"),
            locale = %request.locale,
        );
        tokio::spawn(job.run(request.recipients, results).instrument(span));
        Ok(receiver)
    }
}

/// What every recipient of one batch shares.
struct Job {
    renderer: Arc<Renderer>,
    permits: Arc<Semaphore>,
    concurrency: usize,
    workspace_id: WorkspaceId,
    template: ResolvedTemplate,
    locale: String,
    agent: Value,
    counted_agent: String,
    strict: bool,
    /// Set when the batch ends early; renders in flight stop at their next charge.
    cancel: Arc<AtomicBool>,
}

/// Sets the flag when dropped: however the batch's task ends (the caller went away, the
/// runtime shut down), renders still running stop.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Tally {
    rendered: usize,
    failed: usize,
}

/// What an audience's scan counted besides the matches.
#[derive(Debug, Default)]
struct ScanCounts {
    skipped: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

/// Whether a render holds one of the replica's `--batch-concurrency` permits: those of
/// listed recipients fetch their data; those of an audience find it cached by the scan,
/// which held a permit for each fetch.
#[derive(Debug, Clone, Copy)]
enum NeedsPermit {
    Yes,
    No,
}

/// A matched contact on its way to a render.
struct Matched {
    index: u32,
    contact_id: String,
    token: String,
}

impl Job {
    async fn run(self, recipients: Recipients, results: mpsc::Sender<BatchEvent>) {
        let job = Arc::new(self);
        match recipients {
            Recipients::Listed(list) => {
                let total = list.len();
                let renders = futures::stream::iter(list.into_iter().enumerate())
                    .map(|(index, recipient)| {
                        job.clone()
                            .spawn_render(index as u32, recipient, NeedsPermit::Yes)
                            .map(|result| BatchEvent::Result(Box::new(result)))
                    })
                    .buffer_unordered(job.concurrency);
                job.deliver(renders, &results, Some(total)).await;
            }
            Recipients::Audience { filter, resume } => {
                job.run_audience(filter, resume, results).await;
            }
        }
    }

    /// Scans the audience on its own task, renders the matched contacts in the scan's
    /// order, and ends with the summary (or the scan's failure).
    async fn run_audience(
        self: Arc<Self>,
        filter: Filter,
        resume: Option<ResumeToken>,
        results: mpsc::Sender<BatchEvent>,
    ) {
        let (start, sent) = resume.map_or((Position::default(), 0), |t| (t.position, t.sent));
        let counts = Arc::new(ScanCounts::default());
        let (matched, queue) = mpsc::channel::<Result<Matched>>(self.concurrency);
        let scan = AbortOnDropHandle::new(tokio::spawn(
            self.clone()
                .scan(filter, start, sent, matched, counts.clone())
                .in_current_span(),
        ));
        let job = self.clone();
        let renders = tokio_stream::wrappers::ReceiverStream::new(queue)
            .map(move |next| match next {
                Ok(found) => {
                    let recipient =
                        ContactId::parse_as("contact_id", &found.contact_id).map(|contact_id| {
                            Recipient {
                                contact_id,
                                session_id: SessionId::parse("")
                                    .expect("an empty session id is valid"),
                                vars: Value::from(()),
                            }
                        });
                    // The scan fetched the contact (holding a permit) and cached it: the
                    // render reads the cache, and this batch's renders are bounded by
                    // `buffered` below.
                    job.clone()
                        .spawn_render(found.index, recipient, NeedsPermit::No)
                        .map(move |mut result| {
                            result.contact_id = Some(found.contact_id);
                            result.resume_token = Some(found.token);
                            BatchEvent::Result(Box::new(result))
                        })
                        .left_future()
                }
                Err(err) => futures::future::ready(BatchEvent::Stopped(err)).right_future(),
            })
            .buffered(self.concurrency);
        let delivered = self.deliver(renders, &results, None).await;
        drop(scan);
        if let Some(tally) = delivered {
            let summary = Summary {
                matched: (tally.rendered + tally.failed) as u64,
                skipped: counts.skipped.load(Ordering::Relaxed),
                failed: tally.failed as u64 + counts.failed.load(Ordering::Relaxed),
            };
            tracing::info!(?summary, "audience batch done");
            let _ = results.send(BatchEvent::Summary(summary)).await;
        }
    }

    /// Walks the contacts and queues each one the filter matches, with its index and
    /// resume token; a scan failure is queued last.
    async fn scan(
        self: Arc<Self>,
        filter: Filter,
        start: Position,
        mut sent: u32,
        matched: mpsc::Sender<Result<Matched>>,
        counts: Arc<ScanCounts>,
    ) {
        let catalog = self.renderer.catalog();
        let engine = catalog.engine().clone();
        let workspace = catalog
            .workspace_records()
            .resolve(&self.workspace_id)
            .scope
            .clone();
        let matcher = match filter.matcher(&engine, workspace) {
            Ok(matcher) => matcher,
            Err(err) => {
                let _ = matched.send(Err(err)).await;
                return;
            }
        };
        let data = self.renderer.data().clone();
        let mut scanner = Scanner::with_permits(
            data,
            self.workspace_id.clone(),
            filter.contact_query().clone(),
            start,
            self.permits.clone(),
        );
        loop {
            let contact = match scanner.next().await {
                Ok(Some(contact)) => contact,
                Ok(None) => return,
                Err(err) => {
                    let _ = matched.send(Err(err)).await;
                    return;
                }
            };
            let decision = match &contact.scope {
                Ok(scope) => match matcher.decide(scope) {
                    Ok(decision) => decision,
                    Err(err) => {
                        let _ = matched.send(Err(err)).await;
                        return;
                    }
                },
                Err(Error::DataNotFound { .. }) => Decision::Skipped,
                Err(_) => Decision::Failed,
            };
            match decision {
                Decision::Matched => {
                    let token = ResumeToken::new(
                        &self.workspace_id,
                        filter.source(),
                        contact.after,
                        sent + 1,
                    );
                    let found = Matched {
                        index: sent,
                        contact_id: contact.id,
                        token: token.encode(),
                    };
                    sent += 1;
                    if matched.send(Ok(found)).await.is_err() {
                        return;
                    }
                }
                Decision::Skipped => {
                    counts.skipped.fetch_add(1, Ordering::Relaxed);
                }
                Decision::Failed => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Sends each event to the caller as it is ready, no faster than the caller reads;
    /// the tally when every event was delivered, `None` when the caller went away or the
    /// batch stopped.
    async fn deliver(
        &self,
        renders: impl Stream<Item = BatchEvent>,
        results: &mpsc::Sender<BatchEvent>,
        total: Option<usize>,
    ) -> Option<Tally> {
        let started = Instant::now();
        let job = self;
        let mut renders = std::pin::pin!(renders);
        // Declared after the renders so that it drops, and stops them, first.
        let _cancel = CancelOnDrop(job.cancel.clone());
        let mut tally = Tally::default();
        let mut paused_notice = false;
        let mut stopped = false;
        let finished = loop {
            let next = tokio::select! {
                biased;
                _ = results.closed() => break false,
                next = renders.next() => next,
            };
            let Some(event) = next else { break true };
            let stop = matches!(event, BatchEvent::Stopped(_));
            if let BatchEvent::Result(result) = &event {
                match &result.outcome {
                    Ok(_) => {
                        tally.rendered += 1;
                        if tally.rendered == 1 {
                            job.record_use();
                        }
                    }
                    Err(Error::Internal(message)) => {
                        tally.failed += 1;
                        tracing::error!(index = result.index, error = %message, "recipient failed");
                    }
                    Err(_) => tally.failed += 1,
                }
            }
            // Wait for room in the channel: while the caller is not reading, no new
            // recipient starts.
            let room = match tokio::time::timeout(SLOW_READER_NOTICE, results.reserve()).await {
                Ok(room) => room,
                Err(_) => {
                    if !paused_notice {
                        paused_notice = true;
                        tracing::info!(
                            done = tally.rendered + tally.failed,
                            total = total.unwrap_or_default(),
                            "batch paused: the caller is not reading its results"
                        );
                    }
                    results.reserve().await
                }
            };
            match room {
                Ok(room) => room.send(event),
                Err(_) => break false,
            }
            if stop {
                stopped = true;
                break false;
            }
        };
        let done = tally.rendered + tally.failed;
        let duration_ms = started.elapsed().as_millis() as u64;
        let total = total.unwrap_or(done);
        if finished {
            tracing::info!(
                done,
                rendered = tally.rendered,
                failed = tally.failed,
                total,
                duration_ms,
                "batch done"
            );
            Some(tally)
        } else if stopped {
            tracing::warn!(
                done,
                rendered = tally.rendered,
                failed = tally.failed,
                duration_ms,
                "batch stopped: its audience's scan failed; the last resume_token continues it"
            );
            None
        } else {
            tracing::info!(
                done,
                rendered = tally.rendered,
                failed = tally.failed,
                total,
                duration_ms,
                "batch cancelled by the caller; remaining recipients dropped"
            );
            None
        }
    }

    /// Renders one recipient on its own task (so that a batch uses every core), holding a
    /// permit for the data fetch and the render. Dropping the returned future aborts it.
    fn spawn_render(
        self: Arc<Self>,
        index: u32,
        recipient: Result<Recipient>,
        permit: NeedsPermit,
    ) -> impl Future<Output = RecipientResult> + Send + 'static {
        let task = AbortOnDropHandle::new(tokio::spawn(
            async move {
                let _permit = match permit {
                    NeedsPermit::Yes => match self.permits.clone().acquire_owned().await {
                        Ok(permit) => Some(permit),
                        Err(_) => {
                            return Err(Error::Internal("the batch semaphore was closed".into()));
                        }
                    },
                    NeedsPermit::No => None,
                };
                // A recipient still waiting for a permit when the batch was cancelled.
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let recipient = recipient?;
                self.renderer
                    .render(RenderRequest {
                        workspace_id: self.workspace_id.clone(),
                        target: Target::Resolved(self.template.clone()),
                        contact_id: recipient.contact_id,
                        session_id: recipient.session_id,
                        agent: self.agent.clone(),
                        // A batch is counted once, by `record_use`, not per recipient.
                        counted_agent: String::new(),
                        vars: recipient.vars,
                        strict: self.strict,
                        locale: self.locale.clone(),
                        // Behind renders an agent waits on in the source's request budget.
                        fetch: FetchOptions {
                            purpose: Purpose::Batch,
                            ..FetchOptions::default()
                        },
                        cancel: Some(self.cancel.clone()),
                    })
                    .await
            }
            .in_current_span(),
        ));
        async move {
            let outcome = task
                .await
                .unwrap_or_else(|e| Err(Error::Internal(format!("render task failed: {e}"))));
            RecipientResult {
                index,
                outcome,
                contact_id: None,
                resume_token: None,
            }
        }
    }

    /// A batch counts as one use of its shortcut: it is one decision to send it, and
    /// counting every recipient would bury the shortcuts agents pick by hand.
    fn record_use(&self) {
        if let ResolvedTemplate::Stored(entry) = &self.template {
            self.renderer.record_use(
                &self.workspace_id,
                &entry.shortcut.id,
                entry.shortcut.version,
                &self.counted_agent,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use tokio::sync::{Semaphore, watch};

    use super::*;
    use crate::catalog::Catalog;
    use crate::data::{DataService, DataSource, Record, ScopeKind, SourceError};
    use crate::template::{Engine, RenderLimits};

    /// An upstream that holds every contact fetch until the test opens its gate, and
    /// reports how many fetches are in flight.
    struct GatedSource {
        gate: Semaphore,
        in_flight: AtomicUsize,
        most: AtomicUsize,
        report: watch::Sender<usize>,
    }

    struct InFlight<'a>(&'a GatedSource);

    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            let now = self.0.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
            self.0.report.send_replace(now);
        }
    }

    #[async_trait]
    impl DataSource for GatedSource {
        fn name(&self) -> &str {
            "gated"
        }

        async fn fetch(
            &self,
            kind: ScopeKind,
            _: &str,
            _: &str,
            _: Duration,
        ) -> std::result::Result<Record, SourceError> {
            if kind == ScopeKind::Session {
                return Err(SourceError::NotFound);
            }
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.report.send_replace(now);
            let _counted = InFlight(self);
            drop(self.gate.acquire().await);
            Ok(Record::default())
        }
    }

    /// Batches on a real renderer over the gated source; the store's directory lives as
    /// long as the returned guard.
    async fn setup(
        concurrency: usize,
    ) -> (
        BatchRenderer,
        Arc<GatedSource>,
        watch::Receiver<usize>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(
            dir.path().join("s.db").to_str().unwrap(),
            crate::store::BreakerSettings::default(),
        )
        .await
        .unwrap();
        let engine = Arc::new(Engine::new(RenderLimits::default()));
        let catalog = Arc::new(Catalog::load(store, engine).await.unwrap());
        let (report, watched) = watch::channel(0);
        let source = Arc::new(GatedSource {
            gate: Semaphore::new(0),
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            report,
        });
        let data = Arc::new(DataService::new(source.clone()));
        let renderer = Arc::new(Renderer::new(catalog, data));
        (
            BatchRenderer::new(renderer, concurrency),
            source,
            watched,
            dir,
        )
    }

    fn batch(recipients: usize) -> BatchRequest {
        BatchRequest {
            workspace_id: WorkspaceId::parse("ws").unwrap(),
            target: Target::Inline("Hi <<contact.id>>".into()),
            locale: String::new(),
            agent: Value::from(()),
            counted_agent: String::new(),
            strict: false,
            recipients: Recipients::Listed(
                (0..recipients)
                    .map(|i| {
                        Ok(Recipient {
                            contact_id: ContactId::parse(&format!("c{i}")).unwrap(),
                            session_id: SessionId::parse("").unwrap(),
                            vars: Value::from(()),
                        })
                    })
                    .collect(),
            ),
        }
    }

    async fn wait_until(watched: &mut watch::Receiver<usize>, what: impl Fn(usize) -> bool) {
        tokio::time::timeout(Duration::from_secs(10), watched.wait_for(|n| what(*n)))
            .await
            .expect("in time")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upstream_fetches_are_bounded_across_batches() {
        let (batches, source, mut watched, _dir) = setup(4).await;
        let mut first = batches.start(batch(50)).unwrap();
        let mut second = batches.start(batch(50)).unwrap();
        wait_until(&mut watched, |n| n == 4).await;
        // With the gate shut, 100 recipients are waiting: none beyond the bound may start.
        let exceeded =
            tokio::time::timeout(Duration::from_millis(200), watched.wait_for(|n| *n > 4)).await;
        assert!(exceeded.is_err(), "more than 4 fetches in flight");
        source.gate.add_permits(1_000);
        let mut received = 0;
        while first.recv().await.is_some() {
            received += 1;
        }
        while second.recv().await.is_some() {
            received += 1;
        }
        assert_eq!(received, 100);
        assert_eq!(source.most.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_results_aborts_the_work_in_flight() {
        let (batches, source, mut watched, _dir) = setup(4).await;
        let results = batches.start(batch(50)).unwrap();
        wait_until(&mut watched, |n| n == 4).await;
        drop(results);
        // The gate never opens: only aborting the renders brings the count back to zero.
        wait_until(&mut watched, |n| n == 0).await;
        assert_eq!(source.most.load(Ordering::SeqCst), 4);
    }
}
