//! Workspace records: display name, default locale and time zone, held in memory.
//!
//! Like shortcuts, a write goes to the store first and then into memory; renders read only
//! memory. A workspace without a record still works, with the defaults (its id as display
//! name, `en`, `UTC`). Each entry carries what renders need already prepared: the parsed
//! time zone, the locale table and the `workspace` scope as a template value.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use chrono_tz::Tz;
use minijinja::Value;

use crate::error::{Error, Result, quote};
use crate::ids::WorkspaceId;
use crate::template::dates;
use crate::template::locale::{self, Locale};

pub const DEFAULT_LOCALE: &str = "en";
pub const DEFAULT_TIME_ZONE: &str = "UTC";
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// A stored workspace record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub display_name: String,
    /// A language tag that resolves to one of [`locale::SUPPORTED`] (e.g. `fr-BE`).
    pub default_locale: String,
    /// An IANA time zone name.
    pub time_zone: String,
    pub version: u64,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
}

/// A workspace to create; empty fields take the defaults.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub id: WorkspaceId,
    pub display_name: String,
    pub default_locale: String,
    pub time_zone: String,
}

/// The fields an update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChanges {
    pub display_name: Option<String>,
    pub default_locale: Option<String>,
    pub time_zone: Option<String>,
}

/// A workspace as renders use it.
#[derive(Debug)]
pub struct WorkspaceEntry {
    pub record: Workspace,
    /// Whether the record was stored (false: the defaults of an unknown workspace).
    pub stored: bool,
    pub zone: Tz,
    pub locale: &'static Locale,
    /// The `workspace` template scope.
    pub scope: Value,
}

impl WorkspaceEntry {
    fn new(record: Workspace, stored: bool) -> Result<Self> {
        let zone = dates::parse_zone(&record.time_zone)
            .map_err(|e| Error::invalid("time_zone", e.to_string()))?;
        let locale = Locale::find(&record.default_locale).unwrap_or(Locale::english());
        let mut scope = BTreeMap::new();
        scope.insert("id", Value::from(record.id.as_str()));
        scope.insert("name", Value::from(record.display_name.as_str()));
        scope.insert("display_name", Value::from(record.display_name.as_str()));
        scope.insert("locale", Value::from(record.default_locale.as_str()));
        scope.insert("time_zone", Value::from(record.time_zone.as_str()));
        Ok(Self {
            record,
            stored,
            zone,
            locale,
            scope: Value::from(scope),
        })
    }

    /// The defaults for a workspace that has no record.
    pub fn defaults(id: &str) -> Self {
        let record = Workspace {
            id: id.to_string(),
            display_name: id.to_string(),
            default_locale: DEFAULT_LOCALE.to_string(),
            time_zone: DEFAULT_TIME_ZONE.to_string(),
            version: 0,
            create_time: SystemTime::UNIX_EPOCH,
            update_time: SystemTime::UNIX_EPOCH,
        };
        Self::new(record, false).expect("the default zone parses")
    }
}

/// The part of the store workspace records need. Declared here, below the catalogue, so
/// that `workspace` does not depend on `catalog`; the catalogue's store provides it.
#[async_trait::async_trait]
pub trait WorkspaceStore: Send + Sync + 'static {
    /// Every workspace record, for the in-memory registry at start.
    async fn load_workspaces(&self) -> Result<Vec<Workspace>>;

    /// Inserts a workspace record; `AlreadyExists` when the workspace has one.
    async fn insert_workspace(&self, workspace: &Workspace) -> Result<()>;

    /// Replaces a workspace record if it is still at `expected_version`.
    async fn update_workspace(&self, workspace: &Workspace, expected_version: u64) -> Result<()>;
}

/// Every workspace record, in memory, backed by the store.
pub struct Workspaces {
    store: Arc<dyn WorkspaceStore>,
    by_id: RwLock<HashMap<String, Arc<WorkspaceEntry>>>,
}

impl Workspaces {
    pub async fn load(store: Arc<dyn WorkspaceStore>) -> Result<Self> {
        let workspaces = Self {
            store,
            by_id: RwLock::new(HashMap::new()),
        };
        workspaces.reload().await?;
        Ok(workspaces)
    }

    /// Replaces the records in memory with what the store holds (records are never
    /// deleted, so nothing else can have changed).
    pub async fn reload(&self) -> Result<()> {
        let mut by_id = HashMap::new();
        for record in self.store.load_workspaces().await? {
            let id = record.id.clone();
            match WorkspaceEntry::new(record, true) {
                Ok(entry) => {
                    by_id.insert(id, Arc::new(entry));
                }
                // A zone name the bundled database no longer knows must not stop the service.
                Err(err) => {
                    tracing::error!(workspace = %id, error = %err, "stored workspace unusable; defaults apply")
                }
            }
        }
        *self.by_id.write().expect("workspace lock poisoned") = by_id;
        Ok(())
    }

    /// The record of a workspace, or its defaults when it has none. Memory only.
    pub fn resolve(&self, id: &str) -> Arc<WorkspaceEntry> {
        let found = self
            .by_id
            .read()
            .expect("workspace lock poisoned")
            .get(id)
            .cloned();
        found.unwrap_or_else(|| Arc::new(WorkspaceEntry::defaults(id)))
    }

    /// A stored record; `NotFound` when the workspace has none.
    pub fn get(&self, id: &WorkspaceId) -> Result<Arc<WorkspaceEntry>> {
        self.by_id
            .read()
            .expect("workspace lock poisoned")
            .get(id.as_str())
            .cloned()
            .ok_or_else(|| Error::WorkspaceNotFound {
                workspace: id.to_string(),
            })
    }

    /// Every stored record, ordered by id.
    pub fn list(&self) -> Vec<Arc<WorkspaceEntry>> {
        let mut all: Vec<_> = self
            .by_id
            .read()
            .expect("workspace lock poisoned")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        all
    }

    pub async fn create(&self, new: NewWorkspace) -> Result<Arc<WorkspaceEntry>> {
        let id = new.id.to_string();
        let now = crate::ids::now();
        let display_name = if new.display_name.trim().is_empty() {
            id.clone()
        } else {
            display_name(&new.display_name)?
        };
        let record = Workspace {
            display_name,
            default_locale: default_locale(or_default(&new.default_locale, DEFAULT_LOCALE))?,
            time_zone: time_zone(or_default(&new.time_zone, DEFAULT_TIME_ZONE))?,
            id,
            version: 1,
            create_time: now,
            update_time: now,
        };
        let entry = WorkspaceEntry::new(record, true)?;
        self.store.insert_workspace(&entry.record).await?;
        Ok(self.apply(entry))
    }

    pub async fn update(
        &self,
        id: &WorkspaceId,
        expected_version: u64,
        changes: WorkspaceChanges,
    ) -> Result<Arc<WorkspaceEntry>> {
        // Unchanged fields come from the version the caller saw; another replica may have
        // written a newer one a moment ago.
        if self.get(id).ok().map(|e| e.record.version) != Some(expected_version) {
            self.reload().await?;
        }
        let current = self.get(id)?;
        if expected_version == 0 {
            return Err(Error::invalid(
                "version",
                "is required: send the version you last read, so that concurrent edits are not lost",
            ));
        }
        let mut record = current.record.clone();
        if let Some(name) = &changes.display_name {
            record.display_name = display_name(name)?;
        }
        if let Some(tag) = &changes.default_locale {
            record.default_locale = default_locale(tag)?;
        }
        if let Some(zone) = &changes.time_zone {
            record.time_zone = time_zone(zone)?;
        }
        record.version = expected_version + 1;
        record.update_time = crate::ids::now();
        let entry = WorkspaceEntry::new(record, true)?;
        self.store
            .update_workspace(&entry.record, expected_version)
            .await?;
        Ok(self.apply(entry))
    }

    fn apply(&self, entry: WorkspaceEntry) -> Arc<WorkspaceEntry> {
        let entry = Arc::new(entry);
        let mut by_id = self.by_id.write().expect("workspace lock poisoned");
        match by_id.get(&entry.record.id) {
            Some(existing) if existing.record.version > entry.record.version => existing.clone(),
            _ => {
                by_id.insert(entry.record.id.clone(), entry.clone());
                entry
            }
        }
    }
}

fn or_default<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.trim().is_empty() {
        default
    } else {
        value.trim()
    }
}

fn display_name(value: &str) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("display_name", "must not be blank"));
    }
    if trimmed.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(Error::invalid(
            "display_name",
            format!("is longer than {MAX_DISPLAY_NAME_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            "display_name",
            "contains a control character",
        ));
    }
    Ok(trimmed.to_string())
}

/// A default locale must be one the formatting filters know, so that numbers and dates
/// come out as the workspace expects.
fn default_locale(tag: &str) -> Result<String> {
    let tag = tag.trim();
    if !locale::is_language_tag(tag) || Locale::find(tag).is_none() {
        return Err(Error::invalid(
            "default_locale",
            format!(
                "{} is not a supported locale; use one of {} or a regional tag of one (e.g. fr-BE)",
                quote(tag),
                locale::SUPPORTED.join(", ")
            ),
        ));
    }
    Ok(locale::canonical_tag(tag))
}

fn time_zone(name: &str) -> Result<String> {
    let zone = dates::parse_zone(name.trim()).map_err(|_| {
        Error::invalid(
            "time_zone",
            format!(
                "{} is not an IANA time zone (e.g. \"Europe/Paris\")",
                quote(name.trim())
            ),
        )
    })?;
    Ok(zone.name().to_string())
}
