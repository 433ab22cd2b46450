//! Contact and session data from a Crisp API and from an upstream `ContactDataSourceService`
//! gRPC service (both fakes started by the test on loopback), through the cache: mapping,
//! one upstream call per cold key, TTL, invalidation, errors, stale data, deadlines,
//! best-effort renders and Crisp web hooks.

mod audiences;
mod batch_bound;
mod broadcast;
mod checks;
mod fakes;
mod fresh;
pub mod hooks;

use std::path::PathBuf;
use std::time::Duration;

use shortcuts::pb;
use shortcuts::pb::data_origin::Origin;

use crate::harness::TestServer;
use fakes::Fake;

pub const WORKSPACE: &str = "acme";
pub const HOOK_SECRET: &str = "whsec-4f1c2a9e";
pub const BODY: &str = "<<contact.first_name>>|<<contact.company.name>>|<<contact.country>>|<<contact.plan>>|<<session.order_id>>|<<session.city>>";
pub const EXPECTED: &str = "Ada|Analytical Engines|GB|enterprise|ORD-7|Paris";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Crisp,
    Grpc,
}

impl Upstream {
    pub fn source_name(self) -> &'static str {
        match self {
            Upstream::Crisp => "crisp",
            Upstream::Grpc => "grpc",
        }
    }

    /// The fake's endpoints that one contact fetch calls.
    pub fn contact_endpoints(self) -> &'static [&'static str] {
        match self {
            Upstream::Crisp => &["profile", "data"],
            Upstream::Grpc => &["contact"],
        }
    }

    pub fn session_endpoint(self) -> &'static str {
        match self {
            Upstream::Crisp => "meta",
            Upstream::Grpc => "session",
        }
    }
}

/// A fake upstream and a server whose workspace `acme` reads from it.
pub struct Setup {
    pub upstream: Upstream,
    pub fake: Fake,
    pub server: TestServer,
    /// The `--data-sources` file the server was started with.
    pub sources: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// `policy`: extra TOML lines for the source (ttl, retries, ...).
    pub async fn start(upstream: Upstream, policy: &str, args: &[&str]) -> Setup {
        Self::start_on(upstream, policy, None, args).await
    }

    /// As [`Setup::start`], on the given store instead of a fresh SQLite file.
    pub async fn start_on(
        upstream: Upstream,
        policy: &str,
        store: Option<String>,
        args: &[&str],
    ) -> Setup {
        let fake = match upstream {
            Upstream::Crisp => fakes::crisp().await,
            Upstream::Grpc => fakes::grpc_upstream().await,
        };
        let addr = fake.addr;
        let source = match upstream {
            Upstream::Crisp => format!(
                "type = \"crisp\"\nbase_url = \"http://{addr}/v1\"\nwebsite_id = \"{}\"\nidentifier = \"{}\"\nkey = \"{}\"\nwebhook_secret = \"{HOOK_SECRET}\"",
                fakes::WEBSITE,
                fakes::IDENTIFIER,
                fakes::KEY
            ),
            Upstream::Grpc => format!("type = \"grpc\"\nendpoint = \"http://{addr}\""),
        };
        let dir = tempfile::tempdir().unwrap();
        let sources: PathBuf = dir.path().join("sources.toml");
        std::fs::write(
            &sources,
            format!("[default]\ntype = \"file\"\n\n[workspaces.{WORKSPACE}]\n{source}\n{policy}\n"),
        )
        .unwrap();
        let mut all_args = vec!["--data-sources", sources.to_str().unwrap()];
        all_args.extend_from_slice(args);
        let store = store.unwrap_or_else(|| dir.path().join("shortcuts.db").display().to_string());
        let server = tokio::task::block_in_place(|| TestServer::start_on(&store, &all_args));
        Setup {
            upstream,
            fake,
            server,
            sources,
            _dir: dir,
        }
    }

    pub fn contact_calls(&self) -> usize {
        self.upstream
            .contact_endpoints()
            .iter()
            .map(|e| self.fake.state.count(e))
            .max()
            .unwrap_or(0)
    }

    pub fn session_calls(&self) -> usize {
        self.fake.state.count(self.upstream.session_endpoint())
    }
}

pub fn render(contact: &str, session: &str) -> pb::RenderTemplateRequest {
    pb::RenderTemplateRequest {
        workspace_id: WORKSPACE.into(),
        body: BODY.into(),
        contact_id: contact.into(),
        session_id: session.into(),
        ..Default::default()
    }
}

/// The origin a reply reports for `scope`, and its age.
#[track_caller]
pub fn origin(reply: &pb::RenderResponse, scope: &str) -> (Origin, Duration) {
    let found = reply
        .data_origins
        .iter()
        .find(|o| o.scope == scope)
        .unwrap_or_else(|| panic!("no data origin for {scope}: {:?}", reply.data_origins));
    (
        Origin::try_from(found.origin).expect("a known origin"),
        Duration::from_millis(found.age_ms),
    )
}

macro_rules! for_both_upstreams {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn crisp() {
                    super::checks::$check(super::Upstream::Crisp).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn grpc() {
                    super::checks::$check(super::Upstream::Grpc).await;
                }
            }
        )*
    };
}

for_both_upstreams!(
    fields_mapped_then_cached,
    concurrent_cold_renders_make_one_call,
    ttl_expiry_fetches_again,
    invalidation_fetches_again,
    invalidation_during_a_fetch_is_not_lost,
    unknown_ids_are_not_found_and_remembered,
    rejected_credentials_are_a_configuration_error,
    rate_limit_is_waited_out,
    upstream_down_serves_stale_data,
    upstream_down_with_nothing_cached,
    slow_upstream_meets_the_callers_deadline,
);

/// Issue 19: agents never wait for the source.
macro_rules! fresh_for_both_upstreams {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn crisp() {
                    super::fresh::$check(super::Upstream::Crisp).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn grpc() {
                    super::fresh::$check(super::Upstream::Grpc).await;
                }
            }
        )*
    };
}

fresh_for_both_upstreams!(
    refresh_ahead_keeps_read_entries_warm,
    refresh_ahead_off_waits_at_expiry,
    one_refresh_for_many_readers,
    failed_refresh_is_stated_stale,
    prefetch_rpc_warms_the_cache,
    a_prefetch_storm_stays_within_the_budget,
    a_429_pauses_the_whole_source,
    refresh_ahead_skips_entries_read_once,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_web_hooks_prefetch_conversations() {
    fresh::crisp_web_hooks_prefetch_conversations().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_web_hooks_that_come_together() {
    fresh::crisp_web_hooks_that_come_together().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_reached_by_both_ids_is_fetched_once() {
    fresh::a_contact_reached_by_both_ids_is_fetched_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_can_be_turned_off() {
    fresh::prefetch_can_be_turned_off().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crisp_web_hooks_are_verified_and_invalidate() {
    checks::web_hooks(Upstream::Crisp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_reports_where_data_came_from() {
    checks::file_source_origins().await;
}
