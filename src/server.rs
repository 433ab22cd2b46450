//! Wiring: opens the store, loads the catalog, picks the data source and serves gRPC
//! (our service, health, reflection v1 and v1alpha) until the shutdown signal.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::api::ShortcutApi;
use crate::batch::BatchRenderer;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::data::file::FileSource;
use crate::data::{DataService, DataSource};
use crate::pb::shortcut_service_server::ShortcutServiceServer;
use crate::render::Renderer;
use crate::template::Engine;

/// The service's parts, assembled from configuration.
pub struct App {
    pub catalog: Arc<Catalog>,
    pub renderer: Arc<Renderer>,
    pub batch: Arc<BatchRenderer>,
}

impl App {
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let engine = Arc::new(Engine::new(config.render_limits()));
        let store = crate::store::open(&config.store)
            .await
            .with_context(|| format!("opening the store {:?}", config.store))?;
        let catalog = Arc::new(
            Catalog::load(store, engine)
                .await
                .context("loading shortcuts")?,
        );
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
        let source: Arc<dyn DataSource> = match &config.data_file {
            Some(path) => Arc::new(FileSource::from_path(path)?),
            None => Arc::new(FileSource::demo()),
        };
        let data = Arc::new(DataService::new(source));
        let renderer = Arc::new(Renderer::new(catalog.clone(), data));
        let batch = Arc::new(BatchRenderer::new(
            renderer.clone(),
            config.batch_concurrency as usize,
        ));
        Ok(App {
            catalog,
            renderer,
            batch,
        })
    }
}

/// Serves until `shutdown` completes, then lets in-flight calls finish.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = App::build(&config).await?;
    let service = ShortcutServiceServer::new(
        ShortcutApi::new(app.catalog.clone(), app.renderer.clone()).with_batch(app.batch.clone()),
    )
    .max_decoding_message_size(crate::batch::MAX_REQUEST_BYTES);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ShortcutServiceServer<ShortcutApi>>()
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    let addr = listener.local_addr()?;
    tracing::info!("listening on {addr}");
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = draining_tx.send(());
    };
    let server = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal);
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
    tracing::info!("stopped");
    Ok(())
}
