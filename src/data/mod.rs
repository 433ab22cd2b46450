//! Contact and session data: where it comes from and how it becomes a template scope.
//!
//! A [`DataSource`] fetches raw records from the system that owns them; [`DataService`]
//! turns them into render-ready scopes (minijinja values, converted once, not per render).

pub mod crisp_shape;
pub mod file;
pub mod scope;

use std::sync::Arc;

use async_trait::async_trait;
use minijinja::Value;
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// A contact or a conversation as a data source returns it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// The owning system's own fields (email, nickname, device, ...), already flattened to
    /// the names templates use.
    pub native: Map<String, Json>,
    /// Free-form custom data (Crisp "people data" or "session data").
    pub custom: Map<String, Json>,
}

/// Fetches contact and session records. `Ok(None)` means the id is unknown.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    async fn contact(&self, workspace_id: &str, contact_id: &str) -> Result<Option<Record>>;
    async fn session(&self, workspace_id: &str, session_id: &str) -> Result<Option<Record>>;
}

/// Which kind of record a lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    Contact,
    Session,
}

impl ScopeKind {
    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::Contact => "contact",
            ScopeKind::Session => "session",
        }
    }
}

/// Serves render-ready scopes for contacts and sessions.
pub struct DataService {
    source: Arc<dyn DataSource>,
}

impl DataService {
    pub fn new(source: Arc<dyn DataSource>) -> Self {
        Self { source }
    }

    /// The scope for one contact or session; an empty id gives an empty scope.
    pub async fn scope(&self, kind: ScopeKind, workspace_id: &str, id: &str) -> Result<Value> {
        if id.is_empty() {
            return Ok(scope::empty());
        }
        let field = format!("{}_id", kind.name());
        if id.len() > 256 || id.chars().any(char::is_control) {
            return Err(Error::invalid(
                field,
                "must be at most 256 characters without control characters",
            ));
        }
        let record = match kind {
            ScopeKind::Contact => self.source.contact(workspace_id, id).await?,
            ScopeKind::Session => self.source.session(workspace_id, id).await?,
        };
        match record {
            Some(record) => Ok(scope::build(id, &record)),
            None => Err(Error::NotFound(format!(
                "{} {id:?} not found in workspace {workspace_id:?} ({field})",
                kind.name()
            ))),
        }
    }
}
