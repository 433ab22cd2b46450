//! The custom keys a workspace's contact and session data has shown (`contact.plan`,
//! `session.order_id`): learned from data fetched from its source, kept in the store (so
//! that they survive restarts and every replica sharing the store sees them), and read
//! back at write time for the "did you mean" of unknown paths and by `DescribeContext`.
//!
//! A render learns only from data it fetched upstream (not from the cache), and writes to
//! the store only keys this process has not recorded yet, in the background: the render
//! path pays nothing once a workspace's keys are known.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::Value;

use super::store::CustomKeyStore;
use crate::error::Result;
use crate::ids::{ScopeKind, WorkspaceId};

/// Most keys learned per scope of one workspace; a source with more (generated keys) stops
/// teaching beyond it.
pub const MAX_KEYS_PER_SCOPE: usize = 500;
/// Longer keys are not learned (nobody types them as a path).
pub const MAX_KEY_CHARS: usize = 64;

/// The keys learned per scope of one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearnedKeys {
    pub contact: Vec<String>,
    pub session: Vec<String>,
}

/// The learned custom keys, recorded in the store.
pub struct CustomKeys {
    store: Arc<dyn CustomKeyStore>,
    /// What this process already wrote (or read), per workspace and scope.
    recorded: Mutex<HashMap<(String, ScopeKind), BTreeSet<String>>>,
}

impl CustomKeys {
    pub fn new(store: Arc<dyn CustomKeyStore>) -> Self {
        Self {
            store,
            recorded: Mutex::default(),
        }
    }

    /// Learns the custom keys of a scope just fetched from its source (its `data` map).
    /// New keys are written to the store in the background.
    pub fn learn(&self, workspace_id: &WorkspaceId, kind: ScopeKind, scope: &Value) {
        let Ok(data) = scope.get_attr("data") else {
            return;
        };
        let Ok(keys) = data.try_iter() else {
            return;
        };
        let mut fresh = Vec::new();
        {
            let mut recorded = self.recorded.lock().expect("custom keys lock poisoned");
            let known = recorded
                .entry((workspace_id.to_string(), kind))
                .or_default();
            for key in keys {
                let Some(key) = key.as_str() else { continue };
                if known.len() >= MAX_KEYS_PER_SCOPE {
                    break;
                }
                if is_path_key(key) && !known.contains(key) {
                    known.insert(key.to_string());
                    fresh.push(key.to_string());
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let store = self.store.clone();
        let workspace = workspace_id.to_string();
        let write = async move {
            if let Err(err) = store.record_custom_keys(&workspace, kind, &fresh).await {
                tracing::warn!(workspace_id = %workspace, error = %err, "could not record custom keys");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(write)),
            Err(_) => tracing::debug!("no runtime to record custom keys on"),
        }
    }

    /// The keys recorded for a workspace by any replica, from the store.
    pub async fn of(&self, workspace_id: &WorkspaceId) -> Result<LearnedKeys> {
        let rows = self.store.custom_keys(workspace_id.as_str()).await?;
        let mut learned = LearnedKeys::default();
        for (kind, key) in rows {
            match kind {
                ScopeKind::Contact => learned.contact.push(key),
                ScopeKind::Session => learned.session.push(key),
            }
        }
        Ok(learned)
    }
}

/// A key that can be written as a path segment (`contact.KEY`).
fn is_path_key(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= MAX_KEY_CHARS
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
