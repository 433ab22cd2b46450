//! Command-line flags, each with an environment-variable equivalent.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::limits::{self, RequestLimits};
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

    /// Wall-clock time one render may take (e.g. `250ms`), waiting for a render slot
    /// included; the caller's deadline also stops it.
    #[arg(long, env = "SHORTCUTS_RENDER_TIMEOUT", default_value = "250ms", value_parser = parse_render_timeout)]
    pub render_timeout: std::time::Duration,

    /// Largest reply a render may produce, in bytes.
    #[arg(long, env = "SHORTCUTS_MAX_OUTPUT_BYTES", default_value_t = RenderLimits::default().max_output_bytes)]
    pub max_output_bytes: usize,

    /// TOML file of bearer tokens (name, token or sha256, role, workspaces). Without tokens
    /// the service only runs unauthenticated on a loopback address, or with `--no-auth`.
    #[arg(long, env = "SHORTCUTS_AUTH_TOKENS")]
    pub auth_tokens: Option<PathBuf>,

    /// The token file's content itself (for deployments that pass secrets as variables).
    #[arg(
        long,
        env = "SHORTCUTS_AUTH_TOKENS_TOML",
        hide_env_values = true,
        conflicts_with = "auth_tokens"
    )]
    pub auth_tokens_toml: Option<String>,

    /// Serve without authentication even on a non-loopback address (local use only).
    #[arg(long, env = "SHORTCUTS_NO_AUTH", conflicts_with_all = ["auth_tokens", "auth_tokens_toml"])]
    pub no_auth: bool,

    /// PEM certificate chain for TLS on the gRPC port (with `--tls-key`); plaintext without.
    #[arg(long, env = "SHORTCUTS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "SHORTCUTS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Calls of ours handled at once; beyond it calls fail fast with RESOURCE_EXHAUSTED.
    #[arg(long, env = "SHORTCUTS_MAX_CONCURRENT_RPCS", default_value_t = 1024)]
    pub max_concurrent_rpcs: usize,

    /// Largest request message accepted, in bytes (a batch of 10,000 recipients needs room).
    #[arg(long, env = "SHORTCUTS_MAX_REQUEST_BYTES", default_value_t = crate::batch::MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// How long in-flight calls may take to finish after SIGTERM/SIGINT (e.g. `10s`, `500ms`).
    #[arg(long, env = "SHORTCUTS_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,

    /// Largest template body (of a shortcut or an inline render), in bytes.
    #[arg(long, env = "SHORTCUTS_MAX_BODY_BYTES", default_value_t = crate::catalog::validate::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most localised variants one shortcut may have.
    #[arg(long, env = "SHORTCUTS_MAX_VARIANTS", default_value_t = crate::catalog::validate::MAX_VARIANTS as u32, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_variants: u32,

    /// Most attachments one shortcut may have.
    #[arg(long, env = "SHORTCUTS_MAX_ATTACHMENTS", default_value_t = RenderLimits::default().max_attachments as u32, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_attachments: u32,

    /// Longest attachment URL, in bytes: the template as written and the URL it renders.
    #[arg(long, env = "SHORTCUTS_MAX_ATTACHMENT_URL_BYTES", default_value_t = RenderLimits::default().max_attachment_url_bytes as u32, value_parser = clap::value_parser!(u32).range(16..=65_536))]
    pub max_attachment_url_bytes: u32,

    /// Longest attachment name, in characters: as written and as rendered.
    #[arg(long, env = "SHORTCUTS_MAX_ATTACHMENT_NAME_CHARS", default_value_t = RenderLimits::default().max_attachment_name_chars as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_attachment_name_chars: u32,

    /// Largest `size_bytes` an attachment may declare.
    #[arg(long, env = "SHORTCUTS_MAX_ATTACHMENT_SIZE_BYTES", default_value_t = RenderLimits::default().max_attachment_size_bytes, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    pub max_attachment_size_bytes: u64,

    /// Most items one `range(…)` in a template may produce.
    #[arg(long, env = "SHORTCUTS_MAX_RANGE_ITEMS", default_value_t = RenderLimits::default().max_range as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_range_items: u32,

    /// How deeply `agent` and `vars` may nest objects and lists (protobuf itself stops at 100).
    #[arg(long, env = "SHORTCUTS_MAX_STRUCT_DEPTH", default_value_t = limits::DEFAULT_MAX_STRUCT_DEPTH as u32, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_struct_depth: u32,

    /// Longest `SearchShortcuts` query, in characters.
    #[arg(long, env = "SHORTCUTS_MAX_SEARCH_QUERY_CHARS", default_value_t = limits::DEFAULT_MAX_SEARCH_QUERY_CHARS as u32, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_search_query_chars: u32,

    /// Most recipients in one `BatchRender` (keep `--max-request-bytes` large enough for them).
    #[arg(long, env = "SHORTCUTS_MAX_BATCH_RECIPIENTS", default_value_t = limits::DEFAULT_MAX_BATCH_RECIPIENTS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_batch_recipients: u32,

    /// Largest export file one `ImportShortcutsStream` may send, in bytes (default 64 MiB:
    /// five times a generated 20,000-macro Zendesk export).
    #[arg(long, env = "SHORTCUTS_MAX_IMPORT_BYTES", default_value_t = limits::DEFAULT_MAX_IMPORT_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..=(1u64 << 32)))]
    pub max_import_bytes: u64,

    /// Most items in the file of one `ImportShortcutsStream` (`ImportShortcuts` takes 1,000).
    #[arg(long, env = "SHORTCUTS_MAX_IMPORT_ITEMS", default_value_t = limits::DEFAULT_MAX_IMPORT_ITEMS as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_import_items: u32,

    /// TOML file choosing the data source (file, crisp, grpc) per workspace, with cache
    /// and retry settings; every workspace uses the file source when not set.
    #[arg(long, env = "SHORTCUTS_DATA_SOURCES")]
    pub data_sources: Option<PathBuf>,

    /// Memory budget of the contact/session data cache, in bytes.
    #[arg(long, env = "SHORTCUTS_DATA_CACHE_BYTES", default_value_t = crate::data::DEFAULT_CACHE_BYTES)]
    pub data_cache_bytes: u64,

    /// Memory budget of the loaded workspaces' shortcuts (estimated), in bytes: a workspace
    /// is read from the store when first used, and the least recently used are dropped
    /// beyond it.
    #[arg(long, env = "SHORTCUTS_CATALOG_BYTES", default_value_t = crate::catalog::resident::DEFAULT_CATALOG_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub catalog_bytes: u64,

    /// A workspace unused for this long is dropped from memory (read again when next used).
    #[arg(long, env = "SHORTCUTS_CATALOG_IDLE", default_value = "10m", value_parser = crate::connections::parse_timeout)]
    pub catalog_idle: std::time::Duration,

    /// Memory budget of the compiled templates of stored shortcuts, in bytes (an estimate
    /// of each one's size): a shortcut's bodies are compiled on its first render and kept
    /// here, the least used dropped first (and compiled again when next rendered).
    #[arg(long, env = "SHORTCUTS_COMPILED_TEMPLATES_BYTES", default_value_t = crate::catalog::compiled_cache::DEFAULT_BYTES)]
    pub compiled_templates_bytes: u64,

    /// Address of the HTTP endpoint for Crisp web hooks (`POST /crisp`); off when not set.
    #[arg(long, env = "SHORTCUTS_WEBHOOK_LISTEN")]
    pub webhook_listen: Option<SocketAddr>,

    /// Serve the composer page (the reference browser client) on the gRPC port at `/`
    /// over HTTP/1.1; `--web=false` switches it off.
    #[arg(long, env = "SHORTCUTS_WEB", default_value_t = true, action = clap::ArgAction::Set)]
    pub web: bool,

    /// Origins (`https://app.example.com`, comma-separated, or `*`) whose pages may call
    /// the gRPC port with gRPC-Web (CORS); none by default: no CORS headers at all.
    #[arg(long, env = "SHORTCUTS_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Address of the Prometheus metrics endpoint (`GET /metrics`); off when not set. Keep it
    /// on a private interface: it is not authenticated.
    #[arg(long, env = "SHORTCUTS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log format: `text` for people, `json` for log pipelines. Level via `RUST_LOG`.
    #[arg(long, env = "SHORTCUTS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Most calls (HTTP/2 streams) open at once on one connection, announced to clients as
    /// SETTINGS_MAX_CONCURRENT_STREAMS; a stream beyond it is refused (REFUSED_STREAM).
    #[arg(long, env = "SHORTCUTS_MAX_STREAMS_PER_CONNECTION", default_value_t = crate::connections::DEFAULT_MAX_STREAMS, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_streams_per_connection: u32,

    /// Most gRPC connections open at once; at the bound the longest-idle one is closed for
    /// a new one, or the new one is closed at once when none is idle. Default: three
    /// quarters of the open-files limit.
    #[arg(long, env = "SHORTCUTS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: Option<u64>,

    /// A connection with no call in flight for this long is closed (e.g. `60s`).
    #[arg(long, env = "SHORTCUTS_IDLE_TIMEOUT", default_value = "60s", value_parser = crate::connections::parse_timeout)]
    pub idle_timeout: std::time::Duration,

    /// How long a new connection has to finish its TLS handshake and HTTP/2 preface (web
    /// hook and metrics connections: to send a whole request).
    #[arg(long, env = "SHORTCUTS_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = crate::connections::parse_timeout)]
    pub handshake_timeout: std::time::Duration,

    /// How often an HTTP/2 PING checks a connection whose peer has sent nothing.
    #[arg(long, env = "SHORTCUTS_HTTP2_KEEPALIVE_INTERVAL", default_value = "30s", value_parser = crate::connections::parse_timeout)]
    pub http2_keepalive_interval: std::time::Duration,

    /// How long a PING may go unanswered before the connection is closed.
    #[arg(long, env = "SHORTCUTS_HTTP2_KEEPALIVE_TIMEOUT", default_value = "10s", value_parser = crate::connections::parse_timeout)]
    pub http2_keepalive_timeout: std::time::Duration,

    /// How many BatchRender recipients are fetched and rendered at once, across all batches
    /// of this replica: the bound on the upstream calls that batches make.
    #[arg(long, env = "SHORTCUTS_BATCH_CONCURRENCY", default_value_t = crate::batch::DEFAULT_CONCURRENCY as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_concurrency: u32,

    /// Longest a write to the shortcut store may take before the caller is told UNAVAILABLE
    /// (less when the caller's deadline comes first).
    #[arg(long, env = "SHORTCUTS_STORE_WRITE_TIMEOUT", default_value = "3s", value_parser = crate::connections::parse_timeout)]
    pub store_write_timeout: std::time::Duration,

    /// Once a write found the store unreachable, writes are refused at once and the store is
    /// probed this often until it answers again.
    #[arg(long, env = "SHORTCUTS_STORE_PROBE_INTERVAL", default_value = "250ms", value_parser = crate::connections::parse_timeout)]
    pub store_probe_interval: std::time::Duration,

    /// How long a read with a `consistency_token` waits for this replica to receive the
    /// write it names before reading it from the store.
    #[arg(long, env = "SHORTCUTS_CONSISTENCY_WAIT", default_value = "100ms", value_parser = crate::connections::parse_timeout)]
    pub consistency_wait: std::time::Duration,

    /// Record each render of a stored shortcut in the store (GetUsage, the shared typeahead
    /// order). Off: nothing is recorded and each replica orders the typeahead by its own
    /// renders since it started.
    #[arg(long, env = "SHORTCUTS_USAGE", default_value_t = true, action = clap::ArgAction::Set)]
    pub usage: bool,

    /// Renders waiting to be written to the usage record; beyond, they are dropped and
    /// counted (`shortcuts_usage_renders_total{outcome="dropped"}`), never waited for.
    #[arg(long, env = "SHORTCUTS_USAGE_QUEUE", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub usage_queue: u32,

    /// How often queued renders are written to the usage record, in one transaction.
    #[arg(long, env = "SHORTCUTS_USAGE_FLUSH_INTERVAL", default_value = "1s", value_parser = crate::connections::parse_timeout)]
    pub usage_flush_interval: std::time::Duration,

    /// Daily usage rows kept in memory while the store refuses writes (retried at each
    /// flush); beyond, the queue fills and renders are dropped from the record.
    #[arg(long, env = "SHORTCUTS_USAGE_MAX_PENDING_ROWS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub usage_max_pending_rows: u32,

    /// How long usage is kept, in whole days ("400d"); "0" keeps it forever.
    #[arg(long, env = "SHORTCUTS_USAGE_RETENTION", default_value = "400d", value_parser = parse_retention_days)]
    pub usage_retention: u32,

    /// How often each replica reloads the shared usage counts the typeahead ranks by.
    #[arg(long, env = "SHORTCUTS_USAGE_REFRESH_INTERVAL", default_value = "60s", value_parser = crate::connections::parse_timeout)]
    pub usage_refresh_interval: std::time::Duration,

    /// Longest GetUsage range, in days.
    #[arg(long, env = "SHORTCUTS_USAGE_MAX_RANGE_DAYS", default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub usage_max_range_days: u32,

    /// Most counts (and unused shortcuts) in one GetUsage answer.
    #[arg(long, env = "SHORTCUTS_USAGE_MAX_ROWS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub usage_max_rows: u32,
}

/// A `--usage-retention`: "0" (forever) or a duration of at least a day, in whole days
/// (rounded up).
fn parse_retention_days(value: &str) -> Result<u32, String> {
    if value.trim() == "0" {
        return Ok(0);
    }
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    let day = 24 * 60 * 60;
    if duration.as_secs() < day {
        return Err("must be at least a day (e.g. \"400d\"), or 0 to keep usage forever".into());
    }
    u32::try_from(duration.as_secs().div_ceil(day)).map_err(|_| "too long".to_string())
}

/// One `--cors-allowed-origins` entry: `*`, or a scheme, host and optional port with
/// nothing after them (browsers send exactly that in `Origin`, so anything else would
/// never match).
fn parse_origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value == "*" {
        return Ok(value.to_string());
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{value:?} is not an origin: it must start with http:// or https://")
        })?;
    if rest.is_empty()
        || rest.contains(['/', '?', '#', '@', ' '])
        || !rest.is_ascii()
        || value.parse::<tonic::codegen::http::HeaderValue>().is_err()
    {
        return Err(format!(
            "{value:?} is not an origin: write scheme://host[:port], with no path (e.g. https://app.example.com)"
        ));
    }
    Ok(value.to_string())
}

/// A `--render-timeout`: a duration from 1 ms to 1 minute.
fn parse_render_timeout(value: &str) -> Result<std::time::Duration, String> {
    let timeout = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if !(std::time::Duration::from_millis(1)..=std::time::Duration::from_secs(60))
        .contains(&timeout)
    {
        return Err("must be from 1ms to 60s".into());
    }
    Ok(timeout)
}

impl Config {
    /// The token registry, `None` when authentication is off. Refuses to run without
    /// authentication on a reachable address unless `--no-auth` says so.
    pub fn token_registry(&self) -> crate::error::Result<Option<crate::auth::TokenRegistry>> {
        use crate::auth::TokenRegistry;
        let registry = match (&self.auth_tokens, &self.auth_tokens_toml) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    crate::error::Error::invalid(
                        "auth_tokens",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Some(TokenRegistry::from_toml(
                    &text,
                    &path.display().to_string(),
                )?)
            }
            (None, Some(text)) => Some(TokenRegistry::from_toml(
                text,
                "SHORTCUTS_AUTH_TOKENS_TOML",
            )?),
            (None, None) => None,
        };
        if registry.is_none() && !self.no_auth && !self.listen.ip().is_loopback() {
            return Err(crate::error::Error::invalid(
                "auth_tokens",
                format!(
                    "refusing to serve {} without authentication: configure --auth-tokens, or pass --no-auth for local use",
                    self.listen
                ),
            ));
        }
        Ok(registry)
    }

    pub fn render_limits(&self) -> RenderLimits {
        RenderLimits {
            fuel: self.render_fuel,
            max_output_bytes: self.max_output_bytes,
            max_template_bytes: self.max_body_bytes,
            max_range: self.max_range_items as usize,
            max_variants: self.max_variants as usize,
            max_attachments: self.max_attachments as usize,
            max_attachment_url_bytes: self.max_attachment_url_bytes as usize,
            max_attachment_name_chars: self.max_attachment_name_chars as usize,
            max_attachment_size_bytes: self.max_attachment_size_bytes,
            render_timeout: self.render_timeout,
        }
    }

    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            max_struct_depth: self.max_struct_depth as usize,
            max_search_query_chars: self.max_search_query_chars as usize,
            max_batch_recipients: self.max_batch_recipients as usize,
            max_import_bytes: self.max_import_bytes as usize,
            max_import_items: self.max_import_items as usize,
            consistency_wait: self.consistency_wait,
            stream_idle: self.idle_timeout,
        }
    }

    pub fn usage_settings(&self) -> crate::usage::UsageSettings {
        crate::usage::UsageSettings {
            enabled: self.usage,
            queue: self.usage_queue as usize,
            flush_interval: self.usage_flush_interval,
            max_pending_rows: self.usage_max_pending_rows as usize,
            retention_days: self.usage_retention,
            refresh_interval: self.usage_refresh_interval,
        }
    }

    pub fn usage_limits(&self) -> crate::catalog::usage_report::UsageLimits {
        crate::catalog::usage_report::UsageLimits {
            max_days: self.usage_max_range_days,
            max_rows: self.usage_max_rows,
        }
    }

    /// The bounds of the loaded workspaces (see `catalog::resident`).
    pub fn catalog_residency(&self) -> crate::catalog::ResidencySettings {
        crate::catalog::ResidencySettings {
            budget_bytes: self.catalog_bytes,
            idle: self.catalog_idle,
        }
    }

    pub fn store_writes(&self) -> crate::store::BreakerSettings {
        crate::store::BreakerSettings {
            write_timeout: self.store_write_timeout,
            probe_interval: self.store_probe_interval,
        }
    }
}
