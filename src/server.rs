//! Wiring: opens the store, loads the catalog, picks the data source and serves gRPC
//! (our service, health, reflection v1 and v1alpha) until the shutdown signal. The same
//! port serves gRPC-Web (HTTP/1.1 and HTTP/2, with CORS when configured) and the composer
//! page, for browsers.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::api::ShortcutApi;
use crate::batch::BatchRenderer;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::connections::{Acceptor, Handshake, Limits, Registry};
use crate::data::file::FileSource;
use crate::data::{DataService, Sources};
use crate::pb::shortcut_service_server::ShortcutServiceServer;
use crate::render::Renderer;
use crate::template::Engine;

/// The service's parts, assembled from configuration.
pub struct App {
    pub catalog: Arc<Catalog>,
    pub renderer: Arc<Renderer>,
    pub data: Arc<DataService>,
    pub batch: Arc<BatchRenderer>,
    /// Whether the store takes writes (see `store::breaker`), for the health service.
    pub writable: tokio::sync::watch::Receiver<bool>,
    /// Writes the usage record; flushed on shutdown.
    pub usage: crate::usage::UsageWriter,
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let engine = Arc::new(Engine::new(config.render_limits()));
        let store = crate::store::open(&config.store, config.store_writes())
            .await
            .with_context(|| format!("opening the store {:?}", config.store))?;
        let writable = store.writable();
        // Listen before loading, so that no change made in between is missed.
        let feed = store
            .subscribe()
            .await
            .context("subscribing to store changes")?;
        // Workspace records only: each workspace's shortcuts are read when first used, so
        // the start does not depend on the size of the store.
        let catalog = Arc::new(
            Catalog::open(store, engine, config.catalog_residency())
                .await
                .context("loading the workspace records")?
                .with_compiled_templates_bytes(config.compiled_templates_bytes),
        );
        catalog.spawn_sweeper();
        if config.seed_demo {
            let created = crate::seed::seed_demo(&catalog)
                .await
                .context("seeding the demo workspace")?;
            if created > 0 {
                tracing::info!(
                    created,
                    workspace = crate::seed::DEMO_WORKSPACE,
                    "seeded the starter shortcuts"
                );
            }
        }
        let sources = match &config.data_sources {
            Some(path) => Sources::load(path, config.data_file.as_deref())?,
            None => Sources::single(match &config.data_file {
                Some(path) => Arc::new(FileSource::from_path(path)?),
                None => Arc::new(FileSource::demo()),
            }),
        };
        tracing::info!(sources = %sources.describe(), "data sources");
        let data = Arc::new(
            DataService::with_sources(sources, config.data_cache_bytes)
                .with_bus(Arc::new(StoreBus(catalog.store().clone()))),
        );
        if let Some(feed) = feed {
            tokio::spawn(crate::sync::follow(catalog.clone(), data.clone(), feed));
        }
        let settings = config.usage_settings();
        let usage_store: Arc<dyn crate::usage::UsageStore> = catalog.store().clone();
        let (recorder, usage) = crate::usage::UsageWriter::start(usage_store.clone(), &settings);
        if settings.enabled {
            // The typeahead's order from the shared counts, from the first search on.
            match crate::catalog::search::shared::refresh(&*usage_store, catalog.search()).await {
                Ok(counted) => {
                    tracing::info!(shortcuts = counted, "usage counts loaded for the typeahead")
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot load the usage counts; the typeahead starts unordered")
                }
            }
            crate::catalog::search::shared::spawn_refresh(
                usage_store,
                catalog.clone(),
                settings.refresh_interval,
            );
        }
        let renderer = Arc::new(Renderer::new(catalog.clone(), data.clone()).with_usage(recorder));
        let batch = Arc::new(BatchRenderer::new(
            renderer.clone(),
            config.batch_concurrency as usize,
        ));
        Ok(App {
            catalog,
            renderer,
            data,
            batch,
            writable,
            usage,
        })
    }
}

/// Serves the Prometheus text exposition until the process ends.
async fn serve_metrics(
    acceptor: crate::connections::Acceptor,
    catalog: Arc<Catalog>,
    data: Arc<DataService>,
) {
    let route = axum::routing::get(move || {
        let (catalog, data) = (catalog.clone(), data.clone());
        async move {
            let body = crate::telemetry::render_metrics(
                &catalog.sizes(),
                catalog.residency(),
                data.cache_size().await,
                &data.budgets_left(),
            );
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4",
                )],
                body,
            )
        }
    });
    let app = axum::Router::new().route("/metrics", route);
    if let Err(error) = crate::connections::serve_http(acceptor, app, std::future::pending()).await
    {
        tracing::error!(%error, "the metrics endpoint stopped");
    }
}

/// The bounds of the web hook and metrics listeners: few clients, plain HTTP/1.
fn aux_limits(config: &Config) -> Limits {
    Limits {
        max_connections: crate::connections::AUX_MAX_CONNECTIONS,
        handshake_timeout: config.handshake_timeout,
        idle_timeout: config.idle_timeout,
        handshake: Handshake::FirstRequest,
    }
}

/// The health service's name for the write path: NOT_SERVING while the store is unreachable
/// and writes are refused, while the service itself (reads, renders) stays SERVING.
pub const WRITES_HEALTH_SERVICE: &str = "shortcuts.v1.ShortcutService/writes";

/// Keeps the write path's health status and metric in step with the store.
async fn report_writes(
    health: tonic_health::server::HealthReporter,
    mut writable: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = *writable.borrow_and_update();
        crate::telemetry::record_store_writable(now);
        let status = if now {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        health
            .set_service_status(WRITES_HEALTH_SERVICE, status)
            .await;
        if writable.changed().await.is_err() {
            return;
        }
    }
}

/// Announces data invalidations through the shortcut store (a no-op for a store used by
/// one process).
struct StoreBus(Arc<dyn crate::catalog::store::ChangeFeed>);

#[async_trait::async_trait]
impl crate::data::InvalidationBus for StoreBus {
    async fn publish(
        &self,
        kind: crate::ids::ScopeKind,
        workspace_id: &str,
        id: &str,
    ) -> crate::error::Result<()> {
        self.0.announce_invalidation(kind, workspace_id, id).await
    }
}

/// The CORS policy for browser pages on other origins; `None` (no CORS headers at all)
/// when no origin is configured. gRPC-Web calls are POSTs with these request headers, and
/// a page needs to read the status headers (trailers of a trailers-only answer).
fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tonic::codegen::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // `config::parse_origin` checked each one.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let names = |names: &[&'static str]| {
        names
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect::<Vec<_>>()
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::POST])
            .allow_headers(names(&[
                "authorization",
                "x-grpc-web",
                "x-user-agent",
                "grpc-timeout",
                "content-type",
            ]))
            .expose_headers(names(&[
                "grpc-status",
                "grpc-message",
                "grpc-status-details-bin",
            ]))
            // Browsers cap it lower (Chromium: 2 hours); one preflight per page load is
            // enough.
            .max_age(std::time::Duration::from_secs(7200)),
    )
}

/// The usage tables of a store (a `--store` value), migrated, for the tools that write
/// usage on days of their choosing through the server's own code: the GetUsage benchmark's
/// bulk fill and the tests of days past.
pub async fn open_usage_store(
    spec: &str,
) -> crate::error::Result<Arc<dyn crate::usage::UsageStore>> {
    let store = crate::store::open(spec, crate::store::BreakerSettings::default()).await?;
    Ok(store)
}

/// Serves until `shutdown` completes, then lets in-flight calls finish.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let open_files = crate::connections::raise_open_files_limit();
    let tokens = config.token_registry()?;
    match &tokens {
        Some(tokens) => tracing::info!(tokens = tokens.len(), "bearer-token authentication is on"),
        None => tracing::warn!(
            "AUTHENTICATION IS OFF: every caller may read and write every workspace. \
             Configure --auth-tokens for anything but local use."
        ),
    }
    let guard = Arc::new(crate::api::guard::Guard::new(
        tokens,
        config.max_concurrent_rpcs.max(1),
    ));
    let app = App::build(&config).await?;
    let service = ShortcutServiceServer::new(
        ShortcutApi::new(app.catalog.clone(), app.renderer.clone(), guard)
            .with_batch(app.batch.clone())
            .with_limits(config.request_limits())
            .with_usage_limits(config.usage_limits()),
    )
    .max_decoding_message_size(config.max_request_bytes);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ShortcutServiceServer<ShortcutApi>>()
        .await;
    tokio::spawn(report_writes(health_reporter.clone(), app.writable.clone()));

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc's error details, so that grpcurl decodes a status's details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    let addr = listener.local_addr()?;
    tracing::info!("listening on {addr}");
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let (hooks_stop_tx, hooks_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = draining_tx.send(());
        let _ = hooks_stop_tx.send(());
    };
    if let Some(metrics_addr) = config.metrics_listen {
        let metrics_listener = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("cannot bind the metrics port {metrics_addr}"))?;
        // Not "listening on": that line announces the gRPC address.
        tracing::info!(
            "metrics served at http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let acceptor = Acceptor::new(
            metrics_listener,
            Registry::new("metrics", aux_limits(&config)),
            |_| {},
        );
        tokio::spawn(serve_metrics(
            acceptor,
            app.catalog.clone(),
            app.data.clone(),
        ));
    }
    if let Some(hooks_addr) = config.webhook_listen {
        let hooks_listener = TcpListener::bind(hooks_addr)
            .await
            .with_context(|| format!("cannot bind the web hook port {hooks_addr}"))?;
        let bound = hooks_listener.local_addr()?;
        // Not "listening on": that line announces the gRPC address.
        tracing::info!(
            "crisp web hooks accepted at http://{bound}{}",
            crate::data::webhook::PATH
        );
        let data = app.data.clone();
        let acceptor = Acceptor::new(
            hooks_listener,
            Registry::new("webhook", aux_limits(&config)),
            |_| {},
        );
        tokio::spawn(async move {
            let stop = async {
                let _ = hooks_stop_rx.await;
            };
            if let Err(error) = crate::data::webhook::serve(acceptor, data, stop).await {
                tracing::error!(%error, "the web hook server stopped");
            }
        });
    }
    let mut builder = Server::builder()
        // HTTP/1.1 too, for browsers: gRPC-Web and the composer page.
        .accept_http1(true)
        .max_concurrent_streams(config.max_streams_per_connection)
        .http2_keepalive_interval(Some(config.http2_keepalive_interval))
        .http2_keepalive_timeout(Some(config.http2_keepalive_timeout));
    let tls = config.tls_cert.is_some() && config.tls_key.is_some();
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let read = |path: &std::path::Path| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(
                tonic::transport::ServerTlsConfig::new()
                    .identity(identity)
                    .timeout(config.handshake_timeout),
            )
            .context("configuring TLS")?;
        tracing::info!(cert = %cert.display(), "TLS is on");
    }
    let limits = Limits {
        max_connections: match config.max_connections {
            Some(max) => max as usize,
            None => crate::connections::default_max_connections(open_files),
        },
        handshake_timeout: config.handshake_timeout,
        idle_timeout: config.idle_timeout,
        handshake: if tls {
            Handshake::Tls
        } else {
            Handshake::Http2Preface
        },
    };
    if limits.max_connections as u64 > open_files {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files_limit = open_files,
            "--max-connections is above the open-files limit: at that limit new clients wait in the accept queue; raise the limit (ulimit -n) or lower --max-connections"
        );
    }
    tracing::info!(
        max_connections = limits.max_connections,
        open_files_limit = open_files,
        max_streams_per_connection = config.max_streams_per_connection,
        idle_timeout = ?limits.idle_timeout,
        handshake_timeout = ?limits.handshake_timeout,
        "connection limits"
    );
    let connections = Registry::new("grpc", limits);
    if config.web {
        let scheme = if tls { "https" } else { "http" };
        let shown = if addr.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        } else {
            addr
        };
        // Not "listening on": that line announces the gRPC address.
        tracing::info!("composer page at {scheme}://{shown}/ (--web=false turns it off)");
    }
    let cors = cors_layer(&config.cors_allowed_origins);
    if cors.is_some() {
        tracing::info!(origins = ?config.cors_allowed_origins, "CORS is on for gRPC-Web");
    }
    // Outermost first: every request counts as activity; a CORS preflight is answered
    // before the content-type check (it has none); the page's GETs, then the gRPC and
    // gRPC-Web content types pass; gRPC-Web is translated to gRPC for the services, and an
    // HTTP/1.1 request's body has the handshake timeout to arrive.
    let mut builder = builder
        .layer(crate::connections::ActivityLayer)
        .layer(tower::util::option_layer(cors))
        .layer(crate::web::PageLayer {
            enabled: config.web,
        })
        .layer(crate::connections::GrpcContentTypeLayer)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(crate::connections::http1::BodyDeadlineLayer {
            limit: config.handshake_timeout,
        });
    let server = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(
            crate::connections::transport::incoming(listener, connections),
            signal,
        );
    // Draining waits for every connection to close, and an idle client that ignores
    // GOAWAY would hold it open forever (hyperium/hyper#4170): in-flight calls get a grace
    // period, then the process stops regardless.
    let grace = config.shutdown_grace;
    tokio::select! {
        served = server => served.context("serving gRPC")?,
        _ = async {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(grace = ?grace, "connections still open after the grace period; stopping anyway"),
    }
    // Renders queued for the usage record are written before the process ends.
    app.usage.shutdown(grace).await;
    tracing::info!("stopped");
    Ok(())
}
