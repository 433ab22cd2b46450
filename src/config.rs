//! Command-line flags, each with an environment-variable equivalent.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::template::RenderLimits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Renders shortcut replies over gRPC.
#[derive(Debug, Clone, Parser)]
#[command(name = "shortcuts", version, about)]
pub struct Config {
    /// Address the gRPC server listens on (port 0 picks a free port).
    #[arg(long, env = "SHORTCUTS_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Where shortcuts are stored: a SQLite file path (created if missing) or `sqlite:PATH`.
    #[arg(long, env = "SHORTCUTS_STORE", default_value = "shortcuts.db")]
    pub store: String,

    /// JSON file of contacts and sessions; the embedded demo data when not set.
    #[arg(long, env = "SHORTCUTS_DATA_FILE")]
    pub data_file: Option<PathBuf>,

    /// Load the starter shortcuts into the `demo` workspace on the first start of a store.
    #[arg(long, env = "SHORTCUTS_SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// Work budget of one render (template instructions).
    #[arg(long, env = "SHORTCUTS_RENDER_FUEL", default_value_t = RenderLimits::default().fuel)]
    pub render_fuel: u64,

    /// Largest reply a render may produce, in bytes.
    #[arg(long, env = "SHORTCUTS_MAX_OUTPUT_BYTES", default_value_t = RenderLimits::default().max_output_bytes)]
    pub max_output_bytes: usize,

    /// How long in-flight calls may take to finish after SIGTERM/SIGINT (e.g. `10s`, `500ms`).
    #[arg(long, env = "SHORTCUTS_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,

    /// Log format: `text` for people, `json` for log pipelines. Level via `RUST_LOG`.
    #[arg(long, env = "SHORTCUTS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How many BatchRender recipients are fetched and rendered at once, across all batches
    /// of this replica: the bound on the upstream calls that batches make.
    #[arg(long, env = "SHORTCUTS_BATCH_CONCURRENCY", default_value_t = crate::batch::DEFAULT_CONCURRENCY as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_concurrency: u32,
}

impl Config {
    pub fn render_limits(&self) -> RenderLimits {
        RenderLimits {
            fuel: self.render_fuel,
            max_output_bytes: self.max_output_bytes,
            ..RenderLimits::default()
        }
    }
}
