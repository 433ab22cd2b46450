//! What operators see: Prometheus metrics and the W3C trace context of the current call.
//!
//! Metrics live in one registry scraped over HTTP (`--metrics-listen`). The trace context
//! (`traceparent`) of an incoming call is kept in a task-local, so that data sources called
//! on its behalf pass it on without every signature carrying it.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::ids::{Origin, ScopeKind};

const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

struct Metrics {
    registry: Registry,
    rpcs: IntCounterVec,
    rpc_seconds: HistogramVec,
    renders: IntCounterVec,
    data_lookups: IntCounterVec,
    upstream_calls: IntCounterVec,
    upstream_seconds: HistogramVec,
    catalog_shortcuts: IntGaugeVec,
    catalog_workspaces: IntGauge,
    catalog_bytes: IntGauge,
    catalog_loads: IntCounterVec,
    catalog_load_seconds: Histogram,
    catalog_evictions: IntCounterVec,
    cache_bytes: IntGaugeVec,
    cache_entries: IntGaugeVec,
    cache_evictions: IntCounterVec,
    accept_errors: IntCounterVec,
    connections_open: IntGaugeVec,
    connections_closed: IntCounterVec,
    source_requests: IntCounterVec,
    source_dropped: IntCounterVec,
    source_budget_left: IntGaugeVec,
    background: IntCounterVec,
    store_writable: IntGauge,
    store_writes_refused: IntCounter,
    usage_renders: IntCounterVec,
    usage_write_failures: IntCounter,
    usage_rows_expired: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new_custom(Some("shortcuts".into()), None).expect("a valid prefix");
    let rpcs = IntCounterVec::new(
        Opts::new("rpc_requests_total", "gRPC calls by method and status code"),
        &["method", "code"],
    )
    .expect("valid metric");
    let rpc_seconds = HistogramVec::new(
        HistogramOpts::new(
            "rpc_duration_seconds",
            "gRPC call latency by method and status code",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["method", "code"],
    )
    .expect("valid metric");
    let renders = IntCounterVec::new(
        Opts::new(
            "render_outcomes_total",
            "Renders by outcome: ok, missing (rendered with empty placeholders), strict_failure, limit, error",
        ),
        &["outcome"],
    )
    .expect("valid metric");
    let data_lookups = IntCounterVec::new(
        Opts::new(
            "data_lookups_total",
            "Contact/session data lookups by scope and where the data came from: cache (hit), upstream (miss), stale, absent",
        ),
        &["scope", "origin"],
    )
    .expect("valid metric");
    let upstream_calls = IntCounterVec::new(
        Opts::new(
            "upstream_calls_total",
            "Calls to data sources by source and result",
        ),
        &["source", "result"],
    )
    .expect("valid metric");
    let upstream_seconds = HistogramVec::new(
        HistogramOpts::new(
            "upstream_duration_seconds",
            "Data source call latency by source",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["source"],
    )
    .expect("valid metric");
    let catalog_shortcuts = IntGaugeVec::new(
        Opts::new(
            "catalog_shortcuts",
            "Shortcuts in the in-memory catalogue per workspace",
        ),
        &["workspace"],
    )
    .expect("valid metric");
    let catalog_workspaces = IntGauge::new(
        "catalog_workspaces_loaded",
        "Workspaces whose shortcuts are in memory (loaded on first use, see --catalog-bytes)",
    )
    .expect("valid metric");
    let catalog_bytes = IntGauge::new(
        "catalog_bytes",
        "Estimated bytes of the loaded workspaces, as --catalog-bytes bounds them",
    )
    .expect("valid metric");
    let catalog_loads = IntCounterVec::new(
        Opts::new(
            "catalog_loads_total",
            "Workspaces read from the store on first use, by result: ok, failed (store unreachable, or the caller went away)",
        ),
        &["result"],
    )
    .expect("valid metric");
    let catalog_load_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "catalog_load_duration_seconds",
            "Time to read and compile a workspace on first use",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
    )
    .expect("valid metric");
    let catalog_evictions = IntCounterVec::new(
        Opts::new(
            "catalog_evictions_total",
            "Workspaces dropped from memory by cause: idle (unused for --catalog-idle), size (over --catalog-bytes)",
        ),
        &["cause"],
    )
    .expect("valid metric");
    let cache_bytes = IntGaugeVec::new(
        Opts::new(
            "data_cache_bytes",
            "Approximate bytes held by the data cache",
        ),
        &["cache"],
    )
    .expect("valid metric");
    let cache_entries = IntGaugeVec::new(
        Opts::new(
            "data_cache_entries",
            "Contacts and sessions (and answers \"not found\") held by the data cache",
        ),
        &["cache"],
    )
    .expect("valid metric");
    let cache_evictions = IntCounterVec::new(
        Opts::new(
            "data_cache_evictions_total",
            "Entries leaving the data cache by cause: size (its byte budget), expired (kept past their grace period), invalidated",
        ),
        &["cause"],
    )
    .expect("valid metric");
    let accept_errors = IntCounterVec::new(
        Opts::new(
            "accept_errors_total",
            "Failed accepts by listener (grpc, webhook, metrics) and kind: fd_limit (out of file descriptors), memory, aborted (the peer left first), other",
        ),
        &["listener", "kind"],
    )
    .expect("valid metric");
    let connections_open = IntGaugeVec::new(
        Opts::new("connections_open", "Connections open by listener"),
        &["listener"],
    )
    .expect("valid metric");
    let connections_closed = IntCounterVec::new(
        Opts::new(
            "connections_closed_total",
            "Connections closed by the server by listener and reason: handshake_timeout, idle_timeout, evicted (to let a new one in at --max-connections), refused (a new one at --max-connections with none idle)",
        ),
        &["listener", "reason"],
    )
    .expect("valid metric");
    let source_requests = IntCounterVec::new(
        Opts::new(
            "upstream_requests_total",
            "Requests sent to data sources by the source's table in --data-sources and purpose (render, batch, refresh, prefetch)",
        ),
        &["table", "purpose"],
    )
    .expect("valid metric");
    let source_dropped = IntCounterVec::new(
        Opts::new(
            "upstream_dropped_total",
            "Requests to data sources not sent, by table, purpose and reason: budget (no room in requests_per_minute/burst), paused (after a 429), busy (too much background work in flight)",
        ),
        &["table", "purpose", "reason"],
    )
    .expect("valid metric");
    let source_budget_left = IntGaugeVec::new(
        Opts::new(
            "upstream_budget_remaining",
            "Requests a source's budget could send at once when scraped (sources with requests_per_minute only)",
        ),
        &["table"],
    )
    .expect("valid metric");
    let background = IntCounterVec::new(
        Opts::new(
            "data_background_total",
            "Refresh-ahead and prefetch of cached data by purpose and outcome: started, fresh (nothing to do), in_flight (already being fetched), dropped, ok, failed",
        ),
        &["purpose", "outcome"],
    )
    .expect("valid metric");
    let store_writable = IntGauge::new(
        "store_writable",
        "1 while the shortcut store takes writes, 0 while it is unreachable and writes are refused at once",
    )
    .expect("valid metric");
    store_writable.set(1);
    let store_writes_refused = IntCounter::new(
        "store_writes_refused_total",
        "Writes refused at once because the shortcut store was unreachable (the breaker was open)",
    )
    .expect("valid metric");
    let usage_renders = IntCounterVec::new(
        Opts::new(
            "usage_renders_total",
            "Renders of stored shortcuts for the usage record: written to the store, or dropped because its queue was full",
        ),
        &["outcome"],
    )
    .expect("valid metric");
    let usage_write_failures = IntCounter::new(
        "usage_write_failures_total",
        "Usage batches the store refused (kept in memory and retried at the next flush)",
    )
    .expect("valid metric");
    let usage_rows_expired = IntCounter::new(
        "usage_rows_expired_total",
        "Daily usage rows deleted for being older than --usage-retention",
    )
    .expect("valid metric");
    for metric in [
        Box::new(rpcs.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(rpc_seconds.clone()),
        Box::new(renders.clone()),
        Box::new(data_lookups.clone()),
        Box::new(upstream_calls.clone()),
        Box::new(upstream_seconds.clone()),
        Box::new(catalog_shortcuts.clone()),
        Box::new(catalog_workspaces.clone()),
        Box::new(catalog_bytes.clone()),
        Box::new(catalog_loads.clone()),
        Box::new(catalog_load_seconds.clone()),
        Box::new(catalog_evictions.clone()),
        Box::new(cache_bytes.clone()),
        Box::new(cache_entries.clone()),
        Box::new(cache_evictions.clone()),
        Box::new(accept_errors.clone()),
        Box::new(connections_open.clone()),
        Box::new(connections_closed.clone()),
        Box::new(source_requests.clone()),
        Box::new(source_dropped.clone()),
        Box::new(source_budget_left.clone()),
        Box::new(background.clone()),
        Box::new(store_writable.clone()),
        Box::new(store_writes_refused.clone()),
        Box::new(usage_renders.clone()),
        Box::new(usage_write_failures.clone()),
        Box::new(usage_rows_expired.clone()),
    ] {
        registry.register(metric).expect("metric names are unique");
    }
    Metrics {
        registry,
        rpcs,
        rpc_seconds,
        renders,
        data_lookups,
        upstream_calls,
        upstream_seconds,
        catalog_shortcuts,
        catalog_workspaces,
        catalog_bytes,
        catalog_loads,
        catalog_load_seconds,
        catalog_evictions,
        cache_bytes,
        cache_entries,
        cache_evictions,
        accept_errors,
        connections_open,
        connections_closed,
        source_requests,
        source_dropped,
        source_budget_left,
        background,
        store_writable,
        store_writes_refused,
        usage_renders,
        usage_write_failures,
        usage_rows_expired,
    }
});

/// A gRPC method, named once at its call site (see [`rpc_method!`]), which keeps the metric
/// series of its successful calls: the hot path then counts without hashing and looking up
/// its labels on every call.
pub struct RpcMethod {
    name: &'static str,
    ok: OnceLock<(IntCounter, Histogram)>,
}

impl RpcMethod {
    pub const fn new(name: &'static str) -> Self {
        RpcMethod {
            name,
            ok: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Counts one call and its latency under this method and `code`.
    pub fn record(&self, code: tonic::Code, took: Duration) {
        let other;
        let (calls, seconds) = if code == tonic::Code::Ok {
            self.ok.get_or_init(|| self.series(code))
        } else {
            other = self.series(code);
            &other
        };
        calls.inc();
        seconds.observe(took.as_secs_f64());
    }

    fn series(&self, code: tonic::Code) -> (IntCounter, Histogram) {
        let labels = [self.name, code_name(code)];
        (
            METRICS.rpcs.with_label_values(&labels),
            METRICS.rpc_seconds.with_label_values(&labels),
        )
    }
}

/// A `&'static RpcMethod` for the method named by the literal, made once per call site.
macro_rules! rpc_method {
    ($name:literal) => {{
        static METHOD: $crate::telemetry::RpcMethod = $crate::telemetry::RpcMethod::new($name);
        &METHOD
    }};
}
pub(crate) use rpc_method;

/// The canonical gRPC name of a status code, without allocating on the hot path.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// How a render ended, as `render_outcomes_total` labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderOutcome {
    Ok,
    /// Rendered with empty placeholders.
    Missing,
    StrictFailure,
    Limit,
    Error,
}

impl RenderOutcome {
    const ALL: [RenderOutcome; 5] = [
        RenderOutcome::Ok,
        RenderOutcome::Missing,
        RenderOutcome::StrictFailure,
        RenderOutcome::Limit,
        RenderOutcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            RenderOutcome::Ok => "ok",
            RenderOutcome::Missing => "missing",
            RenderOutcome::StrictFailure => "strict_failure",
            RenderOutcome::Limit => "limit",
            RenderOutcome::Error => "error",
        }
    }
}

/// The series every render touches, resolved once (see [`RpcMethod`]).
struct RenderSeries {
    outcomes: [IntCounter; RenderOutcome::ALL.len()],
    /// By scope, then by origin, in the order of [`ScopeKind::ALL`] and [`Origin::ALL`].
    lookups: [[IntCounter; Origin::ALL.len()]; ScopeKind::ALL.len()],
}

static RENDER_SERIES: LazyLock<RenderSeries> = LazyLock::new(|| RenderSeries {
    outcomes: RenderOutcome::ALL
        .map(|outcome| METRICS.renders.with_label_values(&[outcome.label()])),
    lookups: ScopeKind::ALL.map(|scope| {
        Origin::ALL.map(|origin| {
            METRICS
                .data_lookups
                .with_label_values(&[scope.name(), origin.name()])
        })
    }),
});

pub fn record_render(outcome: RenderOutcome) {
    RENDER_SERIES.outcomes[outcome as usize].inc();
}

pub fn record_data_lookup(scope: ScopeKind, origin: Origin) {
    RENDER_SERIES.lookups[scope as usize][origin as usize].inc();
}

pub fn record_upstream(source: &str, result: &str, took: Duration) {
    METRICS
        .upstream_calls
        .with_label_values(&[source, result])
        .inc();
    METRICS
        .upstream_seconds
        .with_label_values(&[source])
        .observe(took.as_secs_f64());
}

/// Why an entry left the data cache, as `data_cache_evictions_total` labels it.
pub fn record_cache_eviction(cause: &'static str) {
    METRICS.cache_evictions.with_label_values(&[cause]).inc();
}

/// A failed accept on `listener`, as `accept_errors_total` labels it.
pub fn record_accept_error(listener: &'static str, kind: &'static str) {
    METRICS
        .accept_errors
        .with_label_values(&[listener, kind])
        .inc();
}

/// The gauge of connections open on `listener`.
pub fn connections_open(listener: &'static str) -> prometheus::IntGauge {
    METRICS.connections_open.with_label_values(&[listener])
}

/// A connection the server closed, and why.
pub fn record_connection_closed(listener: &'static str, reason: &'static str) {
    METRICS
        .connections_closed
        .with_label_values(&[listener, reason])
        .inc();
}

/// Requests sent to a data source (`table`) for `purpose`.
pub fn record_source_requests(table: &str, purpose: &str, count: u32) {
    METRICS
        .source_requests
        .with_label_values(&[table, purpose])
        .inc_by(u64::from(count));
}

/// A request to a data source that was not sent, and why.
pub fn record_source_drop(table: &str, purpose: &str, reason: &str) {
    METRICS
        .source_dropped
        .with_label_values(&[table, purpose, reason])
        .inc();
}

/// What became of one refresh-ahead or prefetch.
pub fn record_background(purpose: &str, outcome: &str) {
    METRICS
        .background
        .with_label_values(&[purpose, outcome])
        .inc();
}

/// Whether the shortcut store takes writes now.
/// A workspace read from the store on first use (`ok`), or a load that failed.
pub fn record_catalog_load(took: Duration, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    METRICS.catalog_loads.with_label_values(&[result]).inc();
    if ok {
        METRICS.catalog_load_seconds.observe(took.as_secs_f64());
    }
}

/// A workspace dropped from memory (`idle` or `size`).
pub fn record_catalog_eviction(cause: &'static str) {
    METRICS.catalog_evictions.with_label_values(&[cause]).inc();
}

pub fn record_store_writable(writable: bool) {
    METRICS.store_writable.set(i64::from(writable));
}

/// A write refused at once because the store was unreachable.
pub fn record_store_write_refused() {
    METRICS.store_writes_refused.inc();
}

/// Renders of stored shortcuts that the usage record wrote (`written`) or dropped.
pub fn record_usage_renders(outcome: &'static str, count: u64) {
    METRICS
        .usage_renders
        .with_label_values(&[outcome])
        .inc_by(count);
}

/// A usage batch that the store refused.
pub fn record_usage_write_failure() {
    METRICS.usage_write_failures.inc();
}

/// Daily usage rows deleted by the retention.
pub fn record_usage_rows_expired(rows: u64) {
    METRICS.usage_rows_expired.inc_by(rows);
}

/// The data cache's size when scraped.
#[derive(Clone, Copy, Debug)]
pub struct CacheSize {
    pub bytes: u64,
    pub entries: u64,
}

/// The text exposition, with the gauges brought up to date first.
/// `budgets`: each budgeted source's table and the requests it could send at once.
/// `catalog_residency`: the loaded workspaces and their estimated bytes.
pub fn render_metrics(
    catalog_sizes: &[(String, usize)],
    catalog_residency: (usize, u64),
    cache: CacheSize,
    budgets: &[(String, u32)],
) -> String {
    for (table, left) in budgets {
        METRICS
            .source_budget_left
            .with_label_values(&[table])
            .set(i64::from(*left));
    }
    METRICS.catalog_workspaces.set(catalog_residency.0 as i64);
    METRICS.catalog_bytes.set(catalog_residency.1 as i64);
    METRICS.catalog_shortcuts.reset();
    for (workspace, count) in catalog_sizes {
        METRICS
            .catalog_shortcuts
            .with_label_values(&[workspace])
            .set(*count as i64);
    }
    METRICS
        .cache_bytes
        .with_label_values(&["scopes"])
        .set(cache.bytes as i64);
    METRICS
        .cache_entries
        .with_label_values(&["scopes"])
        .set(cache.entries as i64);
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut out)
        .expect("metrics encode");
    String::from_utf8(out).unwrap_or_default()
}

tokio::task_local! {
    static TRACEPARENT: String;
}

/// The `traceparent` of an incoming call if it is well-formed (W3C trace context:
/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), so that nothing else is
/// passed on to upstreams.
pub fn valid_traceparent(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1] != "00000000000000000000000000000000";
    ok.then_some(value)
}

/// Runs `work` with `traceparent` as the current call's trace context.
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: Option<String>,
    work: F,
) -> F::Output {
    match traceparent {
        Some(value) => TRACEPARENT.scope(value, work).await,
        None => work.await,
    }
}

/// The current call's trace context, for upstream requests.
pub fn current_traceparent() -> Option<String> {
    TRACEPARENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pre-resolved series are indexed by `value as usize`: each `ALL` table must list
    /// its enum in declaration order, or a render would count under another label.
    #[test]
    fn label_tables_follow_declaration_order() {
        for (i, outcome) in RenderOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome as usize, i, "{outcome:?}");
        }
        for (i, scope) in ScopeKind::ALL.into_iter().enumerate() {
            assert_eq!(scope as usize, i, "{scope:?}");
        }
        for (i, origin) in Origin::ALL.into_iter().enumerate() {
            assert_eq!(origin as usize, i, "{origin:?}");
        }
    }

    /// Other unit tests render concurrently (counting `ok`, `missing`, cache lookups), so the
    /// counters are only known to have moved by at least one.
    #[test]
    fn each_render_outcome_counts_under_its_own_label() {
        let count = |label: &str| METRICS.renders.with_label_values(&[label]).get();
        for outcome in RenderOutcome::ALL {
            let before = count(outcome.label());
            record_render(outcome);
            assert!(count(outcome.label()) > before, "{outcome:?}");
        }
        let before = METRICS
            .data_lookups
            .with_label_values(&["session", "stale"])
            .get();
        record_data_lookup(ScopeKind::Session, Origin::Stale);
        let after = METRICS
            .data_lookups
            .with_label_values(&["session", "stale"])
            .get();
        assert!(after > before);
    }
}
