//! Conversions between a stored row and a [`Shortcut`], shared by the SQL backends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::catalog::audiences::SavedAudience;
use crate::catalog::{Shortcut, Visibility};
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// A shortcut as the SQL backends store it.
#[derive(Debug, sqlx::FromRow)]
pub struct ShortcutRow {
    pub id: String,
    pub workspace_id: String,
    pub bang: String,
    pub title: String,
    pub body: String,
    /// A JSON array of strings.
    pub tags: String,
    pub disabled: bool,
    /// A JSON object of language tag -> body.
    pub variants: String,
    /// A JSON array of inputs (`catalog::ShortcutInput`).
    pub inputs: String,
    pub snippet: bool,
    /// `workspace`, `team` or `personal`.
    pub visibility: String,
    pub owner: String,
    /// A JSON array of strings.
    pub team_ids: String,
    pub folder: String,
    pub folder_position: i64,
    /// A JSON array of attachments (`catalog::Attachment`).
    pub attachments: String,
    pub version: i64,
    /// Unix milliseconds.
    pub create_time: i64,
    pub update_time: i64,
}

impl TryFrom<ShortcutRow> for Shortcut {
    type Error = Error;

    fn try_from(row: ShortcutRow) -> Result<Self> {
        let tags = serde_json::from_str(&row.tags)
            .map_err(|e| Error::store(format!("shortcut {} has unreadable tags", row.id), e))?;
        let variants = serde_json::from_str(&row.variants)
            .map_err(|e| Error::store(format!("shortcut {} has unreadable variants", row.id), e))?;
        let inputs = serde_json::from_str(&row.inputs)
            .map_err(|e| Error::store(format!("shortcut {} has unreadable inputs", row.id), e))?;
        let team_ids = serde_json::from_str(&row.team_ids)
            .map_err(|e| Error::store(format!("shortcut {} has unreadable team ids", row.id), e))?;
        // An unknown visibility is read as the narrowest, so that nothing is shown by mistake.
        let visibility = Visibility::parse(&row.visibility).unwrap_or_else(|| {
            tracing::error!(shortcut_id = %row.id, visibility = %row.visibility, "unknown stored visibility; read as personal");
            Visibility::Personal
        });
        let attachments = serde_json::from_str(&row.attachments).map_err(|e| {
            Error::store(format!("shortcut {} has unreadable attachments", row.id), e)
        })?;
        Ok(Shortcut {
            id: row.id,
            workspace_id: row.workspace_id,
            bang: row.bang,
            title: row.title,
            body: row.body,
            tags,
            disabled: row.disabled,
            variants,
            inputs,
            snippet: row.snippet,
            visibility,
            owner: row.owner,
            team_ids,
            folder: row.folder,
            position: row.folder_position.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            attachments,
            version: row.version as u64,
            create_time: from_millis(row.create_time),
            update_time: from_millis(row.update_time),
        })
    }
}

pub fn tags_json(shortcut: &Shortcut) -> String {
    serde_json::to_string(&shortcut.tags).expect("a list of strings serialises")
}

pub fn variants_json(shortcut: &Shortcut) -> String {
    serde_json::to_string(&shortcut.variants).expect("a map of strings serialises")
}

pub fn team_ids_json(shortcut: &Shortcut) -> String {
    serde_json::to_string(&shortcut.team_ids).expect("a list of strings serialises")
}

pub fn inputs_json(shortcut: &Shortcut) -> String {
    serde_json::to_string(&shortcut.inputs).expect("a list of plain records serialises")
}

pub fn attachments_json(shortcut: &Shortcut) -> String {
    serde_json::to_string(&shortcut.attachments).expect("a list of plain records serialises")
}

/// A workspace record as the SQL backends store it.
#[derive(Debug, sqlx::FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub display_name: String,
    pub default_locale: String,
    pub time_zone: String,
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}

impl From<WorkspaceRow> for Workspace {
    fn from(row: WorkspaceRow) -> Self {
        Workspace {
            id: row.id,
            display_name: row.display_name,
            default_locale: row.default_locale,
            time_zone: row.time_zone,
            version: row.version as u64,
            create_time: from_millis(row.create_time),
            update_time: from_millis(row.update_time),
        }
    }
}

/// A saved audience as the SQL backends store it.
#[derive(Debug, sqlx::FromRow)]
pub struct AudienceRow {
    pub workspace_id: String,
    pub name: String,
    pub filter: String,
    pub description: String,
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}

impl From<AudienceRow> for SavedAudience {
    fn from(row: AudienceRow) -> Self {
        SavedAudience {
            workspace_id: row.workspace_id,
            name: row.name,
            filter: row.filter,
            description: row.description,
            version: row.version as u64,
            create_time: from_millis(row.create_time),
            update_time: from_millis(row.update_time),
        }
    }
}

pub fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}
