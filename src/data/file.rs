//! A data source read from one JSON file (or the embedded demo file): zero set-up.
//!
//! The file holds, per workspace, contacts (`profile` in Crisp's people-profile shape plus
//! custom `data`) and sessions (`meta` in Crisp's conversation-meta shape). A contact can
//! also be found by its email, as Crisp allows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value as Json;

use super::source::{ContactPage, DataSource, ListedContact, SourceError};
use super::{ContactQuery, Record, ScopeKind, crisp_shape};
use crate::error::Error;

/// The demo data shipped with the service.
pub const DEMO_DATA: &str = include_str!("../../data/demo.json");

#[derive(Deserialize)]
struct FileShape {
    workspaces: HashMap<String, WorkspaceShape>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WorkspaceShape {
    contacts: HashMap<String, ContactShape>,
    sessions: HashMap<String, SessionShape>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContactShape {
    profile: Json,
    data: Json,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SessionShape {
    meta: Json,
}

#[derive(Debug, Default)]
pub struct FileSource {
    contacts: HashMap<(String, String), Arc<Record>>,
    sessions: HashMap<(String, String), Record>,
    /// Each workspace's contacts by id (emails left out), for listing; a cursor is an
    /// index into it.
    listing: HashMap<String, Vec<(String, Arc<Record>)>>,
}

impl FileSource {
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid("data_file", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_json(&text).map_err(|e| match e {
            Error::InvalidField { message, .. } => {
                Error::invalid("data_file", format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    pub fn demo() -> Self {
        Self::from_json(DEMO_DATA).expect("the embedded demo data is valid")
    }

    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: FileShape = serde_json::from_str(text)
            .map_err(|e| Error::invalid("data_file", format!("not a data file: {e}")))?;
        let mut source = FileSource::default();
        for (workspace, ws) in file.workspaces {
            for (id, contact) in ws.contacts {
                let record = Arc::new(crisp_shape::contact(&contact.profile, &contact.data));
                if let Some(email) = record.native.get("email").and_then(Json::as_str) {
                    source
                        .contacts
                        .insert((workspace.clone(), email.to_lowercase()), record.clone());
                }
                source
                    .listing
                    .entry(workspace.clone())
                    .or_default()
                    .push((id.clone(), record.clone()));
                source.contacts.insert((workspace.clone(), id), record);
            }
            for (id, session) in ws.sessions {
                let record = crisp_shape::session(&session.meta);
                source.sessions.insert((workspace.clone(), id), record);
            }
        }
        for contacts in source.listing.values_mut() {
            contacts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(source)
    }
}

#[async_trait]
impl DataSource for FileSource {
    fn name(&self) -> &str {
        "file"
    }

    async fn fetch(
        &self,
        kind: ScopeKind,
        workspace_id: &str,
        id: &str,
        _timeout: Duration,
    ) -> Result<Record, SourceError> {
        let key = (workspace_id.to_string(), id.to_string());
        let found = match kind {
            ScopeKind::Contact => self
                .contacts
                .get(&key)
                .or_else(|| {
                    self.contacts
                        .get(&(workspace_id.to_string(), id.to_lowercase()))
                        .filter(|_| id.contains('@'))
                })
                .map(|record| Record::clone(record)),
            ScopeKind::Session => self.sessions.get(&key).cloned(),
        };
        found.ok_or(SourceError::NotFound)
    }

    async fn list_contacts(
        &self,
        workspace_id: &str,
        cursor: &str,
        page_size: u32,
        _query: &ContactQuery,
        _timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        let start: usize = if cursor.is_empty() {
            0
        } else {
            cursor
                .parse()
                .map_err(|_| SourceError::Fatal(format!("not a file cursor: {cursor:?}")))?
        };
        let all = self
            .listing
            .get(workspace_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let page = all.get(start..).unwrap_or_default();
        let page = &page[..page.len().min(page_size.max(1) as usize)];
        let end = start + page.len();
        Ok(ContactPage {
            contacts: page
                .iter()
                .map(|(id, record)| ListedContact {
                    id: id.clone(),
                    record: record.clone(),
                    complete: true,
                })
                .collect(),
            next: (end < all.len()).then(|| end.to_string()),
        })
    }
}
