//! Who may call what: bearer tokens bound to workspaces and a role.
//!
//! Tokens are configured in a TOML file (or its text in an environment variable); only
//! their SHA-256 digests are kept in memory. A presented token is hashed and compared with
//! every configured digest in constant time, so neither timing nor logs reveal tokens.
//!
//! A token may also name the agent it is used by (`agent`, `teams`): the shortcuts a call
//! shows depend on it (issue 17). A `service` token names no agent of its own; it is trusted
//! to name, in each request, the agent it acts for.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result, quote};

/// What a token may do. Each role includes everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Render, search, validate, and read shortcuts, as the token's own agent.
    Render,
    /// As `Render`, for whichever agent the request names (`agent.id`): a back-end that
    /// serves many agents.
    Service,
    /// Also write shortcuts and workspaces, and invalidate cached data; sees every shortcut.
    Admin,
}

/// The caller of one RPC, as established from its credentials.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    role: Role,
    /// `None`: every workspace.
    workspaces: Option<Vec<String>>,
    /// The agent the token is used by, if the token file names one.
    agent: Option<String>,
    /// That agent's teams.
    teams: Vec<String>,
}

impl Principal {
    /// The caller when authentication is switched off.
    pub fn unrestricted() -> Self {
        Principal {
            name: "anonymous (no-auth mode)".into(),
            role: Role::Admin,
            workspaces: None,
            agent: None,
            teams: Vec::new(),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The agent the token file names for this token.
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_deref()
    }

    /// The teams the token file names for this token.
    pub fn teams(&self) -> &[String] {
        &self.teams
    }

    /// Checks that this caller may act on `workspace_id` with `needed` rights. The refusal
    /// is the same whether or not anything exists in that workspace.
    pub fn authorize(&self, workspace_id: &str, needed: Role) -> Result<()> {
        let in_scope = self
            .workspaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|w| w == workspace_id));
        if !in_scope {
            return Err(Error::PermissionDenied {
                token: self.name.clone(),
                reason: format!("is not allowed on workspace {}", quote(workspace_id)),
            });
        }
        if self.role < needed {
            return Err(Error::PermissionDenied {
                token: self.name.clone(),
                reason: format!("has the {:?} role; this call needs {needed:?}", self.role),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    /// The token itself (convenient, but then the file is a secret) ...
    token: Option<String>,
    /// ... or the hex SHA-256 of it.
    sha256: Option<String>,
    role: Role,
    /// Workspace ids, or `["*"]` for all.
    workspaces: Vec<String>,
    /// The agent id the token is used by (render tokens): which shortcuts it sees.
    #[serde(default)]
    agent: Option<String>,
    /// That agent's team ids.
    #[serde(default)]
    teams: Vec<String>,
}

struct Registered {
    digest: [u8; 32],
    principal: Principal,
}

/// The configured tokens.
pub struct TokenRegistry {
    tokens: Vec<Registered>,
}

impl TokenRegistry {
    /// Parses a token file's text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let bad = |message: String| Error::invalid("auth_tokens", format!("{source}: {message}"));
        let file: TokenFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if file.tokens.is_empty() {
            return Err(bad("no [[tokens]] configured".into()));
        }
        let mut tokens: Vec<Registered> = Vec::with_capacity(file.tokens.len());
        for (index, entry) in file.tokens.into_iter().enumerate() {
            let digest = match (&entry.token, &entry.sha256) {
                (Some(token), None) if token.len() >= 16 => digest_of(token),
                (Some(_), None) => {
                    return Err(bad(format!(
                        "token {:?} is shorter than 16 characters",
                        entry.name
                    )));
                }
                (None, Some(hex_digest)) => hex::decode(hex_digest.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "token {:?}: sha256 is not 64 hex digits",
                            entry.name
                        ))
                    })?,
                _ => {
                    return Err(bad(format!(
                        "token {:?}: set exactly one of `token` and `sha256`",
                        entry.name
                    )));
                }
            };
            // One token with two entries would get whichever rights were read last: a
            // render token could turn out to be an admin one. Ambiguity is refused.
            if let Some((first, earlier)) = tokens
                .iter()
                .enumerate()
                .find(|(_, r)| bool::from(r.digest.ct_eq(&digest)))
            {
                return Err(bad(format!(
                    "[[tokens]] entries {} ({:?}) and {} ({:?}) are the same token; give each token one entry",
                    first + 1,
                    earlier.principal.name,
                    index + 1,
                    entry.name
                )));
            }
            if entry.workspaces.is_empty() {
                return Err(bad(format!(
                    "token {:?} names no workspaces (use [\"*\"] for all)",
                    entry.name
                )));
            }
            let agent = entry
                .agent
                .as_deref()
                .map(|a| crate::ids::party_id("agent", a))
                .transpose()
                .map_err(|e| bad(format!("token {:?}: {e}", entry.name)))?;
            if entry.teams.len() > crate::ids::MAX_TEAM_IDS {
                return Err(bad(format!(
                    "token {:?}: at most {} teams",
                    entry.name,
                    crate::ids::MAX_TEAM_IDS
                )));
            }
            let teams = entry
                .teams
                .iter()
                .enumerate()
                .map(|(i, t)| crate::ids::party_id(&format!("teams[{i}]"), t))
                .collect::<Result<Vec<String>>>()
                .map_err(|e| bad(format!("token {:?}: {e}", entry.name)))?;
            // A service token acts for the agent each request names; an agent of its own
            // would be ignored, which a reader of the file would not expect.
            if entry.role == Role::Service && (agent.is_some() || !teams.is_empty()) {
                return Err(bad(format!(
                    "token {:?}: a service token names no `agent` or `teams`: each request names the agent it acts for",
                    entry.name
                )));
            }
            let workspaces = if entry.workspaces.iter().any(|w| w == "*") {
                None
            } else {
                Some(entry.workspaces)
            };
            tokens.push(Registered {
                digest,
                principal: Principal {
                    name: entry.name,
                    role: entry.role,
                    workspaces,
                    agent,
                    teams,
                },
            });
        }
        Ok(Self { tokens })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The principal behind an `authorization` header value (`Bearer <token>`).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal> {
        let token = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Unauthenticated {
                reason: "missing credentials: send `authorization: Bearer <token>` metadata",
            })?;
        let presented = digest_of(token);
        // Every digest is compared, whether or not an earlier one matched, so the time taken
        // does not depend on which token (if any) was presented.
        let mut found: Option<&Principal> = None;
        for registered in &self.tokens {
            let equal: bool = registered.digest.ct_eq(&presented).into();
            if equal {
                found = Some(&registered.principal);
            }
        }
        found.cloned().ok_or(Error::Unauthenticated {
            reason: "the bearer token is not valid",
        })
    }
}

fn digest_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[tokens]]
        name = "frontend"
        token = "render-token-0123456789"
        role = "render"
        workspaces = ["demo"]

        [[tokens]]
        name = "ops"
        sha256 = "SHA"
        role = "admin"
        workspaces = ["*"]
    "#;

    fn registry() -> TokenRegistry {
        let sha = hex::encode(digest_of("admin-token-0123456789"));
        TokenRegistry::from_toml(&FILE.replace("SHA", &sha), "test").unwrap()
    }

    #[test]
    fn tokens_map_to_roles_and_workspaces() {
        let r = registry();
        let frontend = r
            .authenticate(Some("Bearer render-token-0123456789"))
            .unwrap();
        assert!(frontend.authorize("demo", Role::Render).is_ok());
        assert!(matches!(
            frontend.authorize("demo", Role::Admin),
            Err(Error::PermissionDenied { .. })
        ));
        assert!(matches!(
            frontend.authorize("acme", Role::Render),
            Err(Error::PermissionDenied { .. })
        ));
        let ops = r
            .authenticate(Some("Bearer admin-token-0123456789"))
            .unwrap();
        assert!(ops.authorize("anything", Role::Admin).is_ok());
        assert!(matches!(
            r.authenticate(None),
            Err(Error::Unauthenticated { .. })
        ));
        assert!(matches!(
            r.authenticate(Some("Bearer nope")),
            Err(Error::Unauthenticated { .. })
        ));
        assert!(matches!(
            r.authenticate(Some("render-token-0123456789")),
            Err(Error::Unauthenticated { .. })
        ));
    }

    #[test]
    fn tokens_carry_their_agent_and_service_tokens_none() {
        let text = r#"
            [[tokens]]
            name = "ann"
            token = "ann-token-0123456789"
            role = "render"
            workspaces = ["demo"]
            agent = "ann"
            teams = ["billing"]

            [[tokens]]
            name = "bot"
            token = "bot-token-0123456789"
            role = "service"
            workspaces = ["demo"]
        "#;
        let r = TokenRegistry::from_toml(text, "t").unwrap();
        let ann = r.authenticate(Some("Bearer ann-token-0123456789")).unwrap();
        assert_eq!(ann.agent(), Some("ann"));
        assert_eq!(ann.teams(), ["billing".to_string()]);
        let bot = r.authenticate(Some("Bearer bot-token-0123456789")).unwrap();
        assert_eq!(bot.role(), Role::Service);
        assert!(bot.authorize("demo", Role::Render).is_ok());
        assert!(bot.authorize("demo", Role::Admin).is_err());
        let with_agent = text.replace("role = \"service\"", "role = \"service\"\nagent = \"x\"");
        let err = TokenRegistry::from_toml(&with_agent, "t")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("service token names no"), "{err}");
        let bad_agent = text.replace("agent = \"ann\"", "agent = \" ann\"");
        let err = TokenRegistry::from_toml(&bad_agent, "t")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("agent"), "{err}");
    }

    #[test]
    fn a_token_listed_twice_is_refused_naming_both_entries() {
        let sha = hex::encode(digest_of("render-token-0123456789"));
        let text = FILE.replace("SHA", &sha);
        let err = TokenRegistry::from_toml(&text, "t.toml")
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("entries 1 (\"frontend\") and 2 (\"ops\")"),
            "{err}"
        );
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for bad in [
            "",
            "[[tokens]]\nname='x'\ntoken='short'\nrole='admin'\nworkspaces=['*']",
        ] {
            let err = TokenRegistry::from_toml(bad, "f.toml")
                .err()
                .unwrap()
                .to_string();
            assert!(err.starts_with("auth_tokens: f.toml"), "{err}");
        }
    }
}
