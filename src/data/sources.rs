//! Which data source serves which workspace: the `--data-sources` TOML file, parsed and
//! turned into ready sources with their cache and retry policy.
//!
//! Without the file every workspace uses the file source (`--data-file` or the embedded
//! demo data), as in the first version.

use crate::ids::WorkspaceId;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::budget::{Budget, BudgetSpec};
use super::crisp::{CrispConfig, CrispSource};
use super::file::FileSource;
use super::grpc::GrpcSource;
use super::source::DataSource;
use super::upstream::SourcePolicy;
use crate::error::{Error, Result};

/// A source and how it is called and cached.
pub struct SourceRoute {
    pub source: Arc<dyn DataSource>,
    pub policy: SourcePolicy,
    /// What to check when the source rejects our credentials.
    pub credentials_hint: String,
    /// For a Crisp source: its website and the secret its web hooks are signed with.
    pub crisp_hook: Option<CrispHook>,
    /// Every request to the source takes from this (`requests_per_minute`, `burst`).
    pub budget: Budget,
    /// Whether conversation events and the `Prefetch` RPC fetch data ahead of renders.
    pub prefetch: bool,
}

#[derive(Debug, Clone)]
pub struct CrispHook {
    pub website_id: String,
    pub secret: Option<String>,
}

/// The routing table: one source per configured workspace, and a default.
pub struct Sources {
    default: Arc<SourceRoute>,
    workspaces: HashMap<String, Arc<SourceRoute>>,
    /// Crisp websites whose web hooks we accept, resolved once at load.
    hooks: BTreeMap<String, HookTarget>,
}

/// A Crisp website's web hooks: the secret that signs them and the workspaces it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    pub secret: Option<String>,
    /// Sorted.
    pub workspaces: Vec<WorkspaceId>,
}

impl Sources {
    /// Every workspace served by `source` with the local policy.
    pub fn single(source: Arc<dyn DataSource>) -> Self {
        Sources {
            default: Arc::new(SourceRoute {
                source,
                policy: SourcePolicy::local(),
                credentials_hint: String::new(),
                crisp_hook: None,
                budget: Budget::unlimited("default"),
                prefetch: true,
            }),
            workspaces: HashMap::new(),
            hooks: BTreeMap::new(),
        }
    }

    /// Reads the `--data-sources` file. A `file` source without a `path` uses `data_file`
    /// (or the embedded demo data).
    pub fn load(path: &Path, data_file: Option<&Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                "data_sources",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::parse(&text, data_file)
            .map_err(|e| Error::invalid("data_sources", format!("{}: {e}", path.display())))
    }

    /// Parses the TOML text of a sources file.
    pub fn parse(text: &str, data_file: Option<&Path>) -> std::result::Result<Self, String> {
        let file: SourcesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let default = match file.default {
            Some(spec) => Arc::new(spec.build("default", data_file)?),
            None => Arc::new(file_route(
                data_file,
                SourcePolicy::local(),
                Budget::unlimited("default"),
                true,
            )?),
        };
        let mut workspaces = HashMap::new();
        // Websites' hook secrets and which table set each, in the file's (sorted) order.
        let mut hooks: BTreeMap<String, HookTarget> = BTreeMap::new();
        let mut secret_from: BTreeMap<String, String> = BTreeMap::new();
        for (workspace, spec) in file.workspaces {
            let checked = WorkspaceId::parse(&workspace)
                .map_err(|e| format!("[workspaces.{workspace}]: {e}"))?;
            let table = format!("workspaces.{workspace}");
            let route = spec.build(&table, data_file)?;
            if let Some(hook) = &route.crisp_hook {
                let target = hooks
                    .entry(hook.website_id.clone())
                    .or_insert_with(|| HookTarget {
                        secret: None,
                        workspaces: Vec::new(),
                    });
                target.workspaces.push(checked);
                if let Some(secret) = &hook.secret {
                    match &target.secret {
                        None => {
                            target.secret = Some(secret.clone());
                            secret_from.insert(hook.website_id.clone(), table.clone());
                        }
                        Some(earlier) if earlier != secret => {
                            return Err(format!(
                                "[{}] and [{table}] set different `webhook_secret`s for Crisp website {:?}; Crisp signs a website's hooks with one secret: set the same one in both, or in only one of them",
                                secret_from[&hook.website_id], hook.website_id
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            workspaces.insert(workspace, Arc::new(route));
        }
        Ok(Sources {
            default,
            workspaces,
            hooks,
        })
    }

    pub fn route(&self, workspace_id: &str) -> &Arc<SourceRoute> {
        self.workspaces.get(workspace_id).unwrap_or(&self.default)
    }

    /// Every route (the default first), e.g. for their budgets' gauges.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<SourceRoute>> {
        std::iter::once(&self.default).chain(self.workspaces.values())
    }

    /// Crisp websites whose web hooks we accept, keyed by website id. Only workspaces
    /// listed by name can be targeted: the default source serves workspaces we do not know.
    /// A `webhook_secret` set in any of a website's tables applies to all of them (two
    /// different ones are refused at load).
    pub fn crisp_hook_targets(&self) -> BTreeMap<String, HookTarget> {
        self.hooks.clone()
    }

    /// A one-line description for the start-up log.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("default: {}", self.default.source.name())];
        let mut names: Vec<_> = self.workspaces.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        parts.extend(
            names
                .into_iter()
                .map(|(ws, route)| format!("{ws}: {}", route.source.name())),
        );
        parts.join(", ")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    default: Option<SourceSpec>,
    #[serde(default)]
    workspaces: BTreeMap<String, SourceSpec>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SourceType {
    File,
    Crisp,
    Grpc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    #[serde(rename = "type")]
    kind: SourceType,
    // file
    path: Option<PathBuf>,
    // crisp
    base_url: Option<String>,
    website_id: Option<String>,
    identifier: Option<String>,
    key: Option<String>,
    tier: Option<String>,
    webhook_secret: Option<String>,
    // grpc
    endpoint: Option<String>,
    // policy
    ttl: Option<String>,
    not_found_ttl: Option<String>,
    stale_grace: Option<String>,
    timeout: Option<String>,
    retries: Option<u32>,
    refresh_ahead: Option<String>,
    prefetch: Option<bool>,
    // budget
    requests_per_minute: Option<u32>,
    burst: Option<u32>,
}

impl SourceSpec {
    fn build(
        self,
        table: &str,
        data_file: Option<&Path>,
    ) -> std::result::Result<SourceRoute, String> {
        let defaults = match self.kind {
            SourceType::File => SourcePolicy::local(),
            SourceType::Crisp | SourceType::Grpc => SourcePolicy::remote(),
        };
        let policy = SourcePolicy {
            ttl: duration(table, "ttl", &self.ttl, defaults.ttl)?,
            not_found_ttl: duration(
                table,
                "not_found_ttl",
                &self.not_found_ttl,
                defaults.not_found_ttl,
            )?,
            stale_grace: duration(
                table,
                "stale_grace",
                &self.stale_grace,
                defaults.stale_grace,
            )?,
            timeout: duration(table, "timeout", &self.timeout, defaults.timeout)?,
            retries: self.retries.unwrap_or(defaults.retries),
            refresh_ahead: defaults.refresh_ahead,
        };
        let percent = match &self.refresh_ahead {
            None => DEFAULT_REFRESH_AHEAD_PERCENT,
            Some(text) => percent(table, text)?,
        };
        let policy = SourcePolicy {
            refresh_ahead: policy.ttl * percent / 100,
            ..policy
        };
        let budget = match (self.requests_per_minute, self.burst) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(format!(
                    "[{table}] `burst` needs `requests_per_minute` beside it"
                ));
            }
            (Some(0), _) => {
                return Err(format!(
                    "[{table}] requests_per_minute must be more than zero (leave it out for no budget)"
                ));
            }
            (Some(rate), burst) => {
                let burst = burst.unwrap_or_else(|| BudgetSpec::default_burst(rate));
                if !(2..=100_000).contains(&burst) {
                    return Err(format!(
                        "[{table}] burst must be between 2 and 100000 (a Crisp contact takes 2 requests)"
                    ));
                }
                if rate > 1_000_000 {
                    return Err(format!(
                        "[{table}] requests_per_minute must be at most 1000000"
                    ));
                }
                Some(BudgetSpec {
                    requests_per_minute: rate,
                    burst,
                })
            }
        };
        let budget = Budget::new(table, budget);
        let prefetch = self.prefetch.unwrap_or(true);
        if policy.timeout.is_zero() {
            return Err(format!("[{table}] timeout must be more than zero"));
        }
        if policy.retries > 10 {
            return Err(format!("[{table}] retries must be at most 10"));
        }
        let only = |field: &str, set: bool, kind: &str| {
            if set {
                Err(format!(
                    "[{table}] `{field}` does not apply to a {kind} source"
                ))
            } else {
                Ok(())
            }
        };
        match self.kind {
            SourceType::File => {
                only("endpoint", self.endpoint.is_some(), "file")?;
                only("website_id", self.website_id.is_some(), "file")?;
                let path = self.path.as_deref().or(data_file);
                file_route(path, policy, budget, prefetch)
            }
            SourceType::Grpc => {
                only("path", self.path.is_some(), "grpc")?;
                only("website_id", self.website_id.is_some(), "grpc")?;
                let endpoint = required(table, "endpoint", self.endpoint)?;
                let source = GrpcSource::new(&endpoint)
                    .map_err(|e| format!("[{table}] endpoint {endpoint:?}: {e}"))?;
                Ok(SourceRoute {
                    source: Arc::new(source),
                    policy,
                    credentials_hint: format!(
                        "check what the upstream at {endpoint} (`[{table}]` of --data-sources) expects"
                    ),
                    crisp_hook: None,
                    budget,
                    prefetch,
                })
            }
            SourceType::Crisp => {
                only("path", self.path.is_some(), "crisp")?;
                only("endpoint", self.endpoint.is_some(), "crisp")?;
                let website_id = required(table, "website_id", self.website_id)?;
                let config = CrispConfig {
                    base_url: self
                        .base_url
                        .unwrap_or_else(|| "https://api.crisp.chat/v1".to_string()),
                    website_id: website_id.clone(),
                    identifier: secret(
                        table,
                        "identifier",
                        required(table, "identifier", self.identifier)?,
                    )?,
                    key: secret(table, "key", required(table, "key", self.key)?)?,
                    tier: self.tier.unwrap_or_else(|| "plugin".to_string()),
                };
                let source = CrispSource::new(config).map_err(|e| format!("[{table}]: {e}"))?;
                Ok(SourceRoute {
                    source: Arc::new(source),
                    policy,
                    credentials_hint: format!(
                        "check the plugin token `identifier` and `key` (and `tier`) in `[{table}]` of the --data-sources file"
                    ),
                    crisp_hook: Some(CrispHook {
                        website_id,
                        secret: self
                            .webhook_secret
                            .map(|value| secret(table, "webhook_secret", value))
                            .transpose()?,
                    }),
                    budget,
                    prefetch,
                })
            }
        }
    }
}

fn file_route(
    path: Option<&Path>,
    policy: SourcePolicy,
    budget: Budget,
    prefetch: bool,
) -> std::result::Result<SourceRoute, String> {
    let source = match path {
        Some(path) => FileSource::from_path(path).map_err(|e| e.to_string())?,
        None => FileSource::demo(),
    };
    Ok(SourceRoute {
        source: Arc::new(source),
        policy,
        credentials_hint: String::new(),
        crisp_hook: None,
        budget,
        prefetch,
    })
}

/// Refresh-ahead by default: an entry read in the last fifth of its time to live is
/// refreshed in the background.
pub const DEFAULT_REFRESH_AHEAD_PERCENT: u32 = 10;

/// `refresh_ahead = "20%"`: a whole percentage of the TTL, 0 (off) to 90.
fn percent(table: &str, text: &str) -> std::result::Result<u32, String> {
    text.trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|n| *n <= 90)
        .ok_or_else(|| {
            format!(
                "[{table}] refresh_ahead = {text:?}: a whole percentage of the ttl from \"0%\" (off) to \"90%\", e.g. \"20%\""
            )
        })
}

fn required(
    table: &str,
    field: &str,
    value: Option<String>,
) -> std::result::Result<String, String> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("[{table}] needs `{field}`")),
    }
}

/// A credential written as `env:NAME` is read from that environment variable, so that the
/// file itself need not hold secrets.
fn secret(table: &str, field: &str, value: String) -> std::result::Result<String, String> {
    match value.strip_prefix("env:") {
        Some(name) => match std::env::var(name) {
            Ok(found) if !found.is_empty() => Ok(found),
            _ => Err(format!(
                "[{table}] {field} = \"env:{name}\" but the environment variable {name} is not set"
            )),
        },
        None => Ok(value),
    }
}

fn duration(
    table: &str,
    field: &str,
    value: &Option<String>,
    default: Duration,
) -> std::result::Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            format!("[{table}] {field} = {text:?}: {e} (e.g. \"5m\", \"30s\", \"500ms\")")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workspaces_get_their_own_source_and_policy() {
        let sources = Sources::parse(
            r#"
            [default]
            type = "file"

            [workspaces.acme]
            type = "crisp"
            website_id = "w1"
            identifier = "id"
            key = "secret"
            webhook_secret = "hook"
            ttl = "2s"
            retries = 1

            [workspaces.globex]
            type = "grpc"
            endpoint = "http://127.0.0.1:1"
            "#,
            None,
        )
        .unwrap();
        assert_eq!(sources.route("acme").source.name(), "crisp");
        assert_eq!(sources.route("acme").policy.ttl, Duration::from_secs(2));
        assert_eq!(sources.route("acme").policy.retries, 1);
        assert_eq!(sources.route("globex").source.name(), "grpc");
        assert_eq!(sources.route("other").source.name(), "file");
        let hooks = sources.crisp_hook_targets();
        assert_eq!(
            hooks["w1"].workspaces,
            vec![WorkspaceId::parse("acme").unwrap()]
        );
    }

    fn crisp_table(workspace: &str, website: &str, secret: Option<&str>) -> String {
        let secret = secret
            .map(|s| format!("webhook_secret = \"{s}\"\n"))
            .unwrap_or_default();
        format!(
            "[workspaces.{workspace}]\ntype = \"crisp\"\nwebsite_id = \"{website}\"\nidentifier = \"i\"\nkey = \"k\"\n{secret}\n"
        )
    }

    #[test]
    fn a_websites_secret_applies_to_all_its_workspaces() {
        let text: String = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|ws| crisp_table(ws, "w1", (*ws == "d").then_some("hook")))
            .collect();
        let sources = Sources::parse(&text, None).unwrap();
        let hooks = sources.crisp_hook_targets();
        assert_eq!(
            hooks["w1"],
            HookTarget {
                secret: Some("hook".into()),
                workspaces: ["a", "b", "c", "d", "e"]
                    .map(|w| WorkspaceId::parse(w).unwrap())
                    .to_vec(),
            }
        );
        // The same secret twice is fine.
        let text = crisp_table("a", "w1", Some("s")) + &crisp_table("b", "w1", Some("s"));
        assert!(Sources::parse(&text, None).is_ok());
    }

    #[test]
    fn two_secrets_for_one_website_are_refused() {
        let text = crisp_table("a", "w1", Some("one")) + &crisp_table("b", "w1", Some("two"));
        let err = Sources::parse(&text, None).err().unwrap();
        assert!(
            err.contains("[workspaces.a] and [workspaces.b]") && err.contains("\"w1\""),
            "{err}"
        );
    }

    // The gRPC source's lazy channel needs a runtime, as in the server.
    #[tokio::test]
    async fn the_readme_sample_is_valid() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Data sources")
            .nth(1)
            .expect("a Data sources section");
        let sample = section
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a TOML sample");
        let sources = Sources::parse(sample, None).unwrap();
        assert_eq!(sources.route("acme").source.name(), "crisp");
        assert_eq!(sources.route("globex").source.name(), "grpc");
        assert_eq!(sources.route("anyone").source.name(), "file");
    }

    #[test]
    fn credentials_may_come_from_the_environment() {
        let err = secret(
            "workspaces.a",
            "key",
            "env:SHORTCUTS_TEST_UNSET_VARIABLE".into(),
        )
        .err()
        .unwrap();
        assert!(err.contains("SHORTCUTS_TEST_UNSET_VARIABLE"), "{err}");
        let path = std::env::var("PATH").unwrap();
        assert_eq!(secret("t", "key", "env:PATH".into()).unwrap(), path);
        assert_eq!(secret("t", "key", "plain".into()).unwrap(), "plain");
    }

    #[tokio::test]
    async fn refresh_ahead_and_the_budget_are_read_per_table() {
        let grpc = "[workspaces.a]\ntype = \"grpc\"\nendpoint = \"http://127.0.0.1:1\"\n";
        let sources = Sources::parse(
            &format!("{grpc}ttl = \"10m\"\nrefresh_ahead = \"25%\"\nrequests_per_minute = 600\nburst = 40\nprefetch = false\n"),
            None,
        )
        .unwrap();
        let route = sources.route("a");
        assert_eq!(route.policy.refresh_ahead, Duration::from_secs(150));
        assert!(route.budget.is_limited() && !route.prefetch);
        assert_eq!(route.budget.left(), Some(40));
        assert_eq!(route.budget.table(), "workspaces.a");
        // Defaults: a tenth of the ttl, no budget, prefetch on.
        let route = Sources::parse(grpc, None).unwrap();
        let route = route.route("a");
        assert_eq!(route.policy.refresh_ahead, Duration::from_secs(30));
        assert!(!route.budget.is_limited() && route.prefetch);
        let off = Sources::parse(&format!("{grpc}refresh_ahead = \"0%\"\n"), None).unwrap();
        assert!(off.route("a").policy.refresh_ahead.is_zero());
        for (line, needle) in [
            ("refresh_ahead = \"20\"", "refresh_ahead"),
            ("refresh_ahead = \"95%\"", "90%"),
            ("burst = 10", "requests_per_minute"),
            ("requests_per_minute = 0", "more than zero"),
            ("requests_per_minute = 60\nburst = 1", "burst"),
        ] {
            let err = Sources::parse(&format!("{grpc}{line}\n"), None)
                .err()
                .unwrap();
            assert!(
                err.contains(needle) && err.contains("[workspaces.a]"),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn mistakes_are_named() {
        let err = Sources::parse("[workspaces.a]\ntype = \"crisp\"\n", None)
            .err()
            .unwrap();
        assert!(err.contains("website_id"), "{err}");
        let err = Sources::parse("[default]\ntype = \"file\"\nttl = \"soon\"\n", None)
            .err()
            .unwrap();
        assert!(err.contains("ttl"), "{err}");
        let err = Sources::parse("[default]\ntype = \"ftp\"\n", None)
            .err()
            .unwrap();
        assert!(err.contains("ftp"), "{err}");
    }
}
