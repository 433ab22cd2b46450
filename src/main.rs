//! `shortcuts`: the shortcut reply service. Parses configuration, sets up logging, binds
//! the port and serves until SIGINT or SIGTERM.

use clap::Parser;

/// mimalloc returns freed memory to the system and fragments less than the system allocator
/// under the cache's churn of many small values: resident memory tracks live data.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use shortcuts::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_logging(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    shortcuts::server::serve(config, listener, shutdown_signal()).await
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed here, before the server
/// listens, so that a signal sent right after "listening on" is a graceful stop (which
/// writes queued usage) rather than the default action, which kills the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let stopped = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
        let mut terminate =
            signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let stopped = async {
        tokio::signal::ctrl_c().await.ok();
    };
    async move {
        stopped.await;
        tracing::info!("shutting down: finishing in-flight calls");
    }
}
