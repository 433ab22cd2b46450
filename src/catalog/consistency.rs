//! Read your own writes on any replica: a write's answer carries a consistency token naming
//! what it wrote (a shortcut at a version, a deleted shortcut, a workspace record at a
//! version), and a read that passes the token back sees that write or something newer.
//!
//! A replica that has not yet applied the write waits for the change feed to bring it, up to
//! a short bound, then reads the record from the store itself; it never answers with older
//! data than the token asks for. The token is opaque to callers (URL-safe base64 of a small
//! JSON array), so that its content can change without breaking them.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Catalog;
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;

/// The request field that carries a token.
const FIELD: &str = "consistency_token";
/// Longest a read waits for the store when the announcement did not come in time (less when
/// the caller's deadline is nearer).
const STORE_READ_BOUND: Duration = Duration::from_secs(3);
/// Longer than any token we hand out; a longer one is refused before it is decoded.
const MAX_TOKEN_CHARS: usize = 512;

/// What a write made, as far as a later read must see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsistencyToken {
    Shortcut {
        workspace_id: String,
        id: String,
        version: u64,
    },
    DeletedShortcut {
        workspace_id: String,
        id: String,
    },
    Workspace {
        workspace_id: String,
        version: u64,
    },
}

impl ConsistencyToken {
    /// The token as handed to callers.
    pub fn encode(&self) -> String {
        let parts = match self {
            Self::Shortcut {
                workspace_id,
                id,
                version,
            } => serde_json::json!(["s", workspace_id, id, version]),
            Self::DeletedShortcut { workspace_id, id } => {
                serde_json::json!(["d", workspace_id, id])
            }
            Self::Workspace {
                workspace_id,
                version,
            } => serde_json::json!(["w", workspace_id, version]),
        };
        URL_SAFE_NO_PAD.encode(parts.to_string())
    }

    /// A caller's token for a read in `workspace`; `None` when it sent none.
    pub fn parse(text: &str, workspace: &WorkspaceId) -> Result<Option<Self>> {
        if text.is_empty() {
            return Ok(None);
        }
        let unusable = || {
            Error::invalid(
                FIELD,
                "not a token this service handed out: pass the `consistency_token` of a write's answer unchanged",
            )
        };
        if text.len() > MAX_TOKEN_CHARS {
            return Err(unusable());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| unusable())?;
        let parts: Vec<serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|_| unusable())?;
        let text_at = |i: usize| parts.get(i).and_then(|v| v.as_str()).map(str::to_owned);
        let number_at = |i: usize| parts.get(i).and_then(|v| v.as_u64());
        let token = match (text_at(0).as_deref(), parts.len()) {
            (Some("s"), 4) => Self::Shortcut {
                workspace_id: text_at(1).ok_or_else(unusable)?,
                id: text_at(2).ok_or_else(unusable)?,
                version: number_at(3).ok_or_else(unusable)?,
            },
            (Some("d"), 3) => Self::DeletedShortcut {
                workspace_id: text_at(1).ok_or_else(unusable)?,
                id: text_at(2).ok_or_else(unusable)?,
            },
            (Some("w"), 3) => Self::Workspace {
                workspace_id: text_at(1).ok_or_else(unusable)?,
                version: number_at(2).ok_or_else(unusable)?,
            },
            _ => return Err(unusable()),
        };
        if token.workspace_id() != workspace.as_str() {
            return Err(Error::invalid(
                FIELD,
                format!(
                    "the token is from a write in workspace {:?}, not {:?}",
                    token.workspace_id(),
                    workspace.as_str()
                ),
            ));
        }
        Ok(Some(token))
    }

    fn workspace_id(&self) -> &str {
        match self {
            Self::Shortcut { workspace_id, .. }
            | Self::DeletedShortcut { workspace_id, .. }
            | Self::Workspace { workspace_id, .. } => workspace_id,
        }
    }
}

impl Catalog {
    /// Returns once memory holds what `token` names or something newer: at once when it
    /// already does, after the change feed brings it (up to `wait`), or after reading the
    /// record from the store. Fails rather than let the caller read older data.
    pub async fn catch_up(&self, token: &ConsistencyToken, wait: Duration) -> Result<()> {
        // A workspace not loaded here is read from the store now, which holds the write;
        // the handle keeps it loaded while the token is checked.
        let _loaded = match token {
            ConsistencyToken::Workspace { .. } => None,
            _ => Some(self.workspace(token.workspace_id()).await?),
        };
        if self.has_seen(token) {
            return Ok(());
        }
        let until = Instant::now() + wait;
        let mut changes = self.changes();
        while tokio::time::timeout_at(until.into(), changes.changed())
            .await
            .is_ok_and(|changed| changed.is_ok())
        {
            if self.has_seen(token) {
                return Ok(());
            }
        }
        // Not announced in time (a lagging or lost notification): the store decides, within
        // the caller's deadline.
        let bound = crate::limits::call_deadline()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
            .unwrap_or(STORE_READ_BOUND)
            .min(STORE_READ_BOUND);
        tokio::time::timeout(bound, self.read_from_store(token))
            .await
            .map_err(|_| Error::StoreUnavailable {
                cause: format!(
                    "this replica has not received the write the consistency_token names, and the store did not answer within {} ms",
                    bound.as_millis()
                )
                .into(),
            })?
    }

    /// Reads what `token` names from the store into memory, and checks it is there now.
    async fn read_from_store(&self, token: &ConsistencyToken) -> Result<()> {
        match token {
            ConsistencyToken::Shortcut {
                workspace_id, id, ..
            }
            | ConsistencyToken::DeletedShortcut { workspace_id, id } => {
                self.refresh(workspace_id, id).await?;
                // Gone from the store means deleted since the write: newer still.
                if self.version_of(workspace_id, id).is_none() || self.has_seen(token) {
                    return Ok(());
                }
            }
            ConsistencyToken::Workspace { .. } => {
                self.workspace_records().reload().await?;
                if self.has_seen(token) {
                    return Ok(());
                }
            }
        }
        Err(Error::invalid(
            FIELD,
            "the token names a version the store has never had: pass the token of a write's answer unchanged",
        ))
    }

    /// Whether memory holds what `token` names, or something newer.
    fn has_seen(&self, token: &ConsistencyToken) -> bool {
        match token {
            ConsistencyToken::Shortcut {
                workspace_id,
                id,
                version,
            } => self
                .version_of(workspace_id, id)
                .is_some_and(|held| held >= *version),
            ConsistencyToken::DeletedShortcut { workspace_id, id } => {
                self.version_of(workspace_id, id).is_none()
            }
            ConsistencyToken::Workspace {
                workspace_id,
                version,
            } => {
                self.workspace_records()
                    .resolve(workspace_id)
                    .record
                    .version
                    >= *version
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> WorkspaceId {
        WorkspaceId::parse("acme").unwrap()
    }

    #[test]
    fn tokens_round_trip() {
        for token in [
            ConsistencyToken::Shortcut {
                workspace_id: "acme".into(),
                id: "0123abcd".into(),
                version: 7,
            },
            ConsistencyToken::DeletedShortcut {
                workspace_id: "acme".into(),
                id: "0123abcd".into(),
            },
            ConsistencyToken::Workspace {
                workspace_id: "acme".into(),
                version: 3,
            },
        ] {
            let text = token.encode();
            assert!(text.len() < MAX_TOKEN_CHARS);
            assert_eq!(
                ConsistencyToken::parse(&text, &acme()).unwrap(),
                Some(token)
            );
        }
        assert_eq!(ConsistencyToken::parse("", &acme()).unwrap(), None);
    }

    #[test]
    fn unusable_tokens_name_the_field() {
        let other = ConsistencyToken::Workspace {
            workspace_id: "other".into(),
            version: 1,
        }
        .encode();
        let forged = URL_SAFE_NO_PAD.encode(r#"["s","acme","x",-1]"#);
        for text in [
            "not base64 !",
            "bm90IGpzb24",
            forged.as_str(),
            other.as_str(),
            &"A".repeat(600),
        ] {
            match ConsistencyToken::parse(text, &acme()) {
                Err(Error::InvalidField { field, .. }) => assert_eq!(field, FIELD, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
