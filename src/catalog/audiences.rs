//! Saved audiences: a named filter (with a description) per workspace, kept in the store.
//!
//! They are read from the store on every use, not held in memory: a batch or an API call
//! reads one at a time, so every replica sees a write at once (a shared PostgreSQL store
//! needs no change announcement for them), and a thousand workspaces' audiences cost no
//! replica memory.

use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A saved audience as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAudience {
    pub workspace_id: String,
    /// As given; unique in the workspace regardless of case (see [`name_key`]).
    pub name: String,
    pub filter: String,
    pub description: String,
    pub version: u64,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
}

/// The persistence of saved audiences.
#[async_trait]
pub trait AudienceStore: Send + Sync + 'static {
    /// `AudienceExists` when the workspace has one of that name (in any case).
    async fn insert_audience(&self, audience: &SavedAudience) -> Result<()>;
    async fn get_audience(&self, workspace_id: &str, name: &str) -> Result<Option<SavedAudience>>;
    /// Ordered by name.
    async fn list_audiences(&self, workspace_id: &str) -> Result<Vec<SavedAudience>>;
    /// Replaces an audience if it is still at `expected_version`.
    async fn update_audience(&self, audience: &SavedAudience, expected_version: u64) -> Result<()>;
    /// Deletes an audience, if it is still at `expected_version` when one is given.
    async fn delete_audience(
        &self,
        workspace_id: &str,
        name: &str,
        expected_version: Option<u64>,
    ) -> Result<()>;
}

/// Checks an audience name: the same rule as a bang (letters, digits, `-`, `_`; 1 to 64).
pub fn name(value: &str) -> Result<&str> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(value)
    } else {
        Err(Error::invalid(
            "name",
            "must be 1 to 64 letters, digits, `-` or `_`",
        ))
    }
}

/// What a name is unique as.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub fn description(value: &str) -> Result<&str> {
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(value)
}

pub fn not_found(workspace_id: &str, name: &str) -> Error {
    Error::AudienceNotFound {
        workspace: workspace_id.to_owned(),
        name: name.to_owned(),
    }
}
