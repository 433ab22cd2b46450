//! Bounds on the connections of every listener (gRPC, web hooks, metrics): how many may be
//! open at once, how long a new one has to finish its handshake, how long one may sit with
//! no request in flight, and an accept loop that backs off instead of spinning when the
//! process is out of file descriptors. Also the check that the gRPC port answers only gRPC
//! and gRPC-Web content types. The gRPC port speaks HTTP/2 and, for browsers (gRPC-Web,
//! the composer page), HTTP/1.1: both meet the same bounds (see [`Handshake::Http2Preface`]
//! and [`http1`]).
//!
//! Why "idle" is counted in requests, not bytes: our own HTTP/2 keepalive PINGs (and the
//! peer's answers) are traffic too, so a byte clock would never see an idle connection.
//! [`ActivityLayer`] (gRPC) and [`serve_http`] (HTTP/1) count the requests in flight on
//! each connection; the connection's reads ([`transport::Connection`]) enforce the
//! deadlines, so no task per connection is needed.
//!
//! At the connection bound a new connection is let in by closing the one idle the longest
//! (an unfinished handshake counts as idle since the accept): a client that is waiting to
//! connect is worth more than one that has nothing to say, and the closed one reconnects
//! when it needs to. Only when every connection has a call in flight is the new one closed
//! at once, so that it fails fast instead of hanging in the accept queue.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::Stream;
use futures::task::AtomicWaker;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderValue, Request, Response, StatusCode};
use tonic::transport::server::TcpConnectInfo;

pub mod http1;
pub mod transport;

use transport::Connection;

/// SETTINGS_MAX_CONCURRENT_STREAMS announced on the gRPC port unless configured.
pub const DEFAULT_MAX_STREAMS: u32 = 256;

/// Connections each of the web hook and metrics listeners keeps at most: few clients use
/// them, and their descriptors come out of the quarter left beside gRPC connections.
pub const AUX_MAX_CONNECTIONS: usize = 64;

/// The first pause after a failed accept, doubled on each further failure up to
/// [`MAX_BACKOFF`]: short enough that a transient failure costs nothing, and the ceiling
/// keeps a process stuck at its descriptor limit from burning a core.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// At most one log line per this interval and cause for accept failures and refusals.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Parses a duration flag (`60s`, `500ms`), refusing zero: a zero timeout would close every
/// connection at once.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

/// The process's open-files limit (soft), raised to the hard limit first: the soft limit
/// of 1,024 that many systems default to is too low for a server, and raising it is what
/// the hard limit allows any process to do.
pub fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        if limit.rlim_cur == libc::RLIM_INFINITY {
            return u64::MAX;
        }
        limit.rlim_cur
    }
}

/// The default `--max-connections`: three quarters of the open-files limit, leaving the
/// rest for the store, data-source connections, the web hook and metrics listeners and
/// files, so that the gRPC listener reaches its bound before the process runs out.
pub fn default_max_connections(open_files_limit: u64) -> usize {
    let three_quarters = open_files_limit - open_files_limit / 4;
    three_quarters.clamp(16, 1 << 24) as usize
}

/// How a new connection shows that it finished its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Plaintext: the HTTP/2 client preface (the magic string and a SETTINGS frame) has
    /// been read or, on a connection whose first bytes are not that magic (HTTP/1.1), the
    /// first request's headers have been parsed.
    Http2Preface,
    /// TLS, whose handshake tonic bounds (its TLS timeout is set to the same deadline); the
    /// HTTP/2 preface inside it is bounded by the idle timeout.
    Tls,
    /// HTTP/1: the first request's headers have arrived.
    FirstRequest,
}

/// The bounds of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub handshake: Handshake,
}

/// Why a connection was closed by us, as `connections_closed_total` labels it.
#[derive(Debug, Clone, Copy)]
pub enum CloseReason {
    HandshakeTimeout,
    IdleTimeout,
    /// Closed to let a new connection in at the bound.
    Evicted,
    /// A new connection closed at once: the bound was reached and none was idle.
    Refused,
}

impl CloseReason {
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::Refused => "refused",
        }
    }
}

/// What one connection's reads need to know about it; shared with the requests on it.
#[derive(Debug)]
pub struct ConnState {
    id: u64,
    accepted_ms: u64,
    in_flight: AtomicUsize,
    greeted: AtomicBool,
    /// When the last request ended (or the connection was accepted), in ms since the
    /// registry's epoch.
    idle_since_ms: AtomicU64,
    closing: AtomicBool,
    /// The task reading the connection, woken to close it when it is evicted.
    reader: AtomicWaker,
}

impl ConnState {
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn register_reader(&self, cx: &Context<'_>) {
        self.reader.register(cx.waker());
    }

    pub(crate) fn is_greeted(&self) -> bool {
        self.greeted.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_greeted(&self) {
        self.greeted.store(true, Ordering::Relaxed);
    }
}

/// The connections open on one listener.
#[derive(Clone, Debug)]
pub struct Registry(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    listener: &'static str,
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    open_gauge: prometheus::IntGauge,
    refusals: Mutex<RateLimitedLog>,
}

/// The verdict on a connection whose deadline timer fired.
pub(crate) enum Verdict {
    Close,
    CheckAgainAt(tokio::time::Instant),
}

impl Registry {
    pub fn new(listener: &'static str, limits: Limits) -> Self {
        Registry(Arc::new(Shared {
            listener,
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            open_gauge: crate::telemetry::connections_open(listener),
            refusals: Mutex::new(RateLimitedLog::default()),
        }))
    }

    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    fn now_ms(&self) -> u64 {
        self.0.epoch.elapsed().as_millis() as u64
    }

    /// Takes `stream` in, making room at the bound; `None` when it was refused (and closed).
    fn admit(&self, stream: TcpStream) -> Option<Connection> {
        let shared = &self.0;
        let mut open = shared.open.lock().expect("connection registry poisoned");
        if open.len() >= shared.limits.max_connections {
            // Only at the bound: a scan over every connection, to count those already on
            // their way out and to find the one idle the longest.
            let mut live = 0;
            let mut victim: Option<&Arc<ConnState>> = None;
            for conn in open.values() {
                if conn.is_closing() {
                    continue;
                }
                live += 1;
                if conn.in_flight.load(Ordering::Acquire) > 0 {
                    continue;
                }
                // Not "unfinished handshakes first": the newest connection, a client
                // about to send its preface, would be the first to go.
                let key = |c: &ConnState| c.idle_since_ms.load(Ordering::Relaxed);
                if victim.is_none_or(|v| key(conn) < key(v)) {
                    victim = Some(conn);
                }
            }
            if live >= shared.limits.max_connections {
                match victim {
                    Some(victim) => {
                        victim.closing.store(true, Ordering::Release);
                        victim.reader.wake();
                        crate::telemetry::record_connection_closed(
                            shared.listener,
                            CloseReason::Evicted.label(),
                        );
                        tracing::debug!(
                            listener = shared.listener,
                            "closed the longest-idle connection to make room"
                        );
                    }
                    None => {
                        drop(open);
                        drop(stream);
                        crate::telemetry::record_connection_closed(
                            shared.listener,
                            CloseReason::Refused.label(),
                        );
                        let mut log = shared.refusals.lock().expect("log state poisoned");
                        if let Some(more) = log.due() {
                            tracing::warn!(
                                listener = shared.listener,
                                max_connections = shared.limits.max_connections,
                                refused_since_last_report = more,
                                "refusing new connections: every one of --max-connections has a call in flight"
                            );
                        }
                        return None;
                    }
                }
            }
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        let state = Arc::new(ConnState {
            id,
            accepted_ms: now,
            in_flight: AtomicUsize::new(0),
            greeted: AtomicBool::new(shared.limits.handshake == Handshake::Tls),
            idle_since_ms: AtomicU64::new(now),
            closing: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        open.insert(id, state.clone());
        drop(open);
        shared.open_gauge.inc();
        let first_check = tokio::time::Instant::now()
            + if state.is_greeted() {
                shared.limits.idle_timeout
            } else {
                shared.limits.handshake_timeout
            };
        Some(Connection::new(stream, self.clone(), state, first_check))
    }

    pub(crate) fn release(&self, state: &ConnState) {
        self.0
            .open
            .lock()
            .expect("connection registry poisoned")
            .remove(&state.id);
        self.0.open_gauge.dec();
    }

    pub(crate) fn handshake(&self) -> Handshake {
        self.0.limits.handshake
    }

    /// Whether the connection's deadline has passed, or when to look again.
    pub(crate) fn verdict(&self, state: &ConnState) -> Verdict {
        let limits = &self.0.limits;
        let now = self.now_ms();
        let at = |ms: u64| {
            tokio::time::Instant::now() + Duration::from_millis(ms.saturating_sub(now).max(1))
        };
        let reason = if !state.is_greeted() {
            let deadline = state.accepted_ms + limits.handshake_timeout.as_millis() as u64;
            if now < deadline {
                return Verdict::CheckAgainAt(at(deadline));
            }
            CloseReason::HandshakeTimeout
        } else if state.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::CheckAgainAt(at(now + limits.idle_timeout.as_millis() as u64));
        } else {
            let deadline = state.idle_since_ms.load(Ordering::Relaxed)
                + limits.idle_timeout.as_millis() as u64;
            if now < deadline {
                return Verdict::CheckAgainAt(at(deadline));
            }
            CloseReason::IdleTimeout
        };
        state.closing.store(true, Ordering::Release);
        crate::telemetry::record_connection_closed(self.0.listener, reason.label());
        tracing::debug!(
            listener = self.0.listener,
            reason = reason.label(),
            "closing a connection"
        );
        Verdict::Close
    }

    /// Counts a request in flight on the connection until the returned guard drops.
    fn begin(&self, state: &Arc<ConnState>) -> InFlight {
        state.greeted.store(true, Ordering::Relaxed);
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            registry: self.clone(),
            state: state.clone(),
        }
    }
}

/// One request in flight; its drop marks the end of the request.
pub struct InFlight {
    registry: Registry,
    state: Arc<ConnState>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The idle clock starts at the last request's end: stored before the count drops
        // so that a verdict seeing zero in flight also sees this time.
        self.state
            .idle_since_ms
            .store(self.registry.now_ms(), Ordering::Relaxed);
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What requests learn of their connection (tonic and axum put it in their extensions).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub tcp: TcpConnectInfo,
    registry: Registry,
    state: Arc<ConnState>,
}

impl ConnInfo {
    pub(crate) fn new(tcp: TcpConnectInfo, registry: Registry, state: Arc<ConnState>) -> Self {
        ConnInfo {
            tcp,
            registry,
            state,
        }
    }

    fn begin(&self) -> InFlight {
        self.registry.begin(&self.state)
    }
}

/// Logs a repeated condition at most once per [`LOG_EVERY`], with how often it happened
/// in between.
#[derive(Debug, Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    since_last: u64,
}

impl RateLimitedLog {
    /// `Some(occurrences since the last line)` when a line is due now.
    fn due(&mut self) -> Option<u64> {
        self.since_last += 1;
        if self.last.is_some_and(|last| last.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.since_last))
    }
}

/// Accepts connections on one listener within its [`Limits`], backing off on errors.
pub struct Acceptor {
    listener: TcpListener,
    registry: Registry,
    configure: fn(&TcpStream),
    backoff: Option<Pin<Box<Sleep>>>,
    next_backoff: Duration,
    errors: RateLimitedLog,
}

impl Acceptor {
    /// `configure` sets socket options on each accepted stream.
    pub fn new(listener: TcpListener, registry: Registry, configure: fn(&TcpStream)) -> Self {
        Acceptor {
            listener,
            registry,
            configure,
            backoff: None,
            next_backoff: FIRST_BACKOFF,
            errors: RateLimitedLog::default(),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Connection> {
        loop {
            if let Some(backoff) = &mut self.backoff {
                ready!(backoff.as_mut().poll(cx));
                self.backoff = None;
            }
            match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    self.next_backoff = FIRST_BACKOFF;
                    (self.configure)(&stream);
                    if let Some(connection) = self.registry.admit(stream) {
                        return Poll::Ready(connection);
                    }
                }
                Poll::Ready(Err(error)) => self.failed(error),
            }
        }
    }

    fn failed(&mut self, error: io::Error) {
        let kind = accept_error_kind(&error);
        let listener = self.registry.0.listener;
        crate::telemetry::record_accept_error(listener, kind);
        // The peer gave up before we accepted: nothing is wrong with us, take the next.
        if kind == "aborted" {
            return;
        }
        let pause = self.next_backoff;
        self.next_backoff = (pause * 2).min(MAX_BACKOFF);
        self.backoff = Some(Box::pin(tokio::time::sleep(pause)));
        if let Some(more) = self.errors.due() {
            let open = self.registry.0.open.lock().map(|o| o.len()).unwrap_or(0);
            let hint = match kind {
                "fd_limit" => {
                    "raise the open-files limit (ulimit -n, LimitNOFILE=) or lower --max-connections"
                }
                "memory" => "the system is short of memory for sockets",
                _ => "retrying",
            };
            tracing::warn!(
                listener,
                %error,
                kind,
                open_connections = open,
                retry_in = ?pause,
                failures_since_last_report = more,
                "cannot accept connections: {hint}"
            );
        }
    }

    pub fn accept(&mut self) -> impl Future<Output = Connection> + Send + '_ {
        futures::future::poll_fn(|cx| self.poll_accept(cx))
    }
}

impl Stream for Acceptor {
    type Item = io::Result<Connection>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_accept(cx).map(|c| Some(Ok(c)))
    }
}

impl axum::serve::Listener for Acceptor {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let connection = Acceptor::accept(self).await;
        let addr = connection
            .info()
            .tcp
            .remote_addr()
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        (connection, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// The `kind` label of `accept_errors_total`.
fn accept_error_kind(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => "fd_limit",
        Some(libc::ENOBUFS | libc::ENOMEM) => "memory",
        _ => match error.kind() {
            io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused => "aborted",
            _ => "other",
        },
    }
}

/// Counts each gRPC call as in flight on its connection until its response has been sent
/// (or abandoned), which is what keeps a busy connection from being called idle.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityLayer;

impl<S> tower_layer::Layer<S> for ActivityLayer {
    type Service = Activity<S>;

    fn layer(&self, inner: S) -> Activity<S> {
        Activity(inner)
    }
}

#[derive(Clone, Debug)]
pub struct Activity<S>(S);

impl<S, B, R> Service<Request<B>> for Activity<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<Tracked<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let info = request.extensions().get::<ConnInfo>().cloned();
        let guard = info.map(|info| {
            // `tonic::Request::remote_addr` looks for this type.
            request.extensions_mut().insert(info.tcp.clone());
            info.begin()
        });
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        })
    }
}

/// A response body that keeps its call counted as in flight until it is dropped.
pub struct Tracked<B> {
    body: B,
    _guard: Option<InFlight>,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The media types served on the gRPC port, each with its `+codec` forms
/// (`application/grpc+proto`): gRPC, and gRPC-Web in binary and text (base64) mode, which
/// `tonic_web::GrpcWebLayer` translates to gRPC behind this check.
const SERVED_MEDIA_TYPES: &[&str] = &[
    "application/grpc",
    "application/grpc-web",
    "application/grpc-web-text",
];

/// Whether a request's `content-type` is one the gRPC port serves.
pub fn is_served_content_type(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().as_bytes();
    SERVED_MEDIA_TYPES.iter().any(|served| {
        let served = served.as_bytes();
        essence.len() >= served.len()
            && essence[..served.len()].eq_ignore_ascii_case(served)
            && (essence.len() == served.len() || essence[served.len()] == b'+')
    })
}

/// Answers calls whose `content-type` is not gRPC with HTTP 415, as the gRPC over HTTP/2
/// specification asks, instead of treating a JSON or form body as protobuf.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcContentTypeLayer;

impl<S> tower_layer::Layer<S> for GrpcContentTypeLayer {
    type Service = GrpcContentType<S>;

    fn layer(&self, inner: S) -> GrpcContentType<S> {
        GrpcContentType(inner)
    }
}

#[derive(Clone, Debug)]
pub struct GrpcContentType<S>(S);

impl<S, B> Service<Request<B>> for GrpcContentType<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = futures::future::Either<
        S::Future,
        futures::future::Ready<Result<Response<tonic::body::Body>, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let content_type = request.headers().get(http::header::CONTENT_TYPE);
        if is_served_content_type(content_type) {
            return futures::future::Either::Left(self.0.call(request));
        }
        let got = content_type
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "none".into());
        let mut response = Response::new(tonic::body::Body::new(format!(
            "this port serves gRPC and gRPC-Web: content-type must be application/grpc, application/grpc-web or application/grpc-web-text (each optionally +<codec>), not {got:?}\n"
        )));
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        futures::future::Either::Right(futures::future::ready(Ok(response)))
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Acceptor>>
    for ConnInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Acceptor>) -> Self {
        stream.io().info()
    }
}

/// Serves an HTTP/1 `router` (web hooks, metrics) on `acceptor` until `shutdown`: each
/// request counts as activity on its connection, and must arrive whole (headers and
/// body) within the handshake timeout, so a client that trickles bytes cannot hold a
/// connection.
pub async fn serve_http(
    acceptor: Acceptor,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let deadline = acceptor.registry().limits().handshake_timeout;
    let router = router.layer(axum::middleware::from_fn_with_state(deadline, track_http1));
    axum::serve(
        acceptor,
        router.into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn track_http1(
    axum::extract::State(deadline): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let _in_flight = request
        .extensions()
        .get::<axum::extract::ConnectInfo<ConnInfo>>()
        .map(|info| info.0.begin());
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(http::header::CONNECTION, "close")],
            format!(
                "the request was not received and answered within {} (--handshake-timeout)\n",
                humantime::format_duration(deadline)
            ),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types_pass_and_others_do_not() {
        let check = |v: &str| is_served_content_type(Some(&HeaderValue::from_str(v).unwrap()));
        for served in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "Application/GRPC; charset=utf-8",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpc-web-text",
            "application/grpc-web-text+proto",
        ] {
            assert!(check(served), "{served}");
        }
        for refused in [
            "application/json",
            "text/plain",
            "",
            "application/grpcx",
            "application/grpc-webx",
            "application/grpc-web-textual",
        ] {
            assert!(!check(refused), "{refused}");
        }
        assert!(!is_served_content_type(None));
    }

    #[test]
    fn the_default_bound_leaves_a_quarter_of_the_descriptors() {
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(20), 16);
        assert_eq!(default_max_connections(u64::MAX), 1 << 24);
    }

    #[test]
    fn zero_timeouts_are_refused() {
        assert!(parse_timeout("0s").is_err());
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
    }
}
