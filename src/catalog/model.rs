//! The shortcut as the domain knows it, and the shapes of writes to it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::visibility::Visibility;
use crate::ids::{Bang, ShortcutId, WorkspaceId};

/// A stored canned reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortcut {
    pub id: String,
    pub workspace_id: String,
    /// As the author wrote it, without the leading `!`.
    pub bang: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub disabled: bool,
    /// Localised bodies by canonical language tag (`fr`, `fr-CA`).
    pub variants: BTreeMap<String, String>,
    /// What the shortcut asks the agent for, each read as `<<vars.NAME>>`.
    pub inputs: Vec<ShortcutInput>,
    /// A piece other shortcuts include (`{% include "bang" %}`); not offered in the
    /// typeahead.
    pub snippet: bool,
    /// Who sees it (see [`super::visibility`]).
    pub visibility: Visibility,
    /// An agent id; required for [`Visibility::Personal`].
    pub owner: String,
    /// Required (one at least) for [`Visibility::Team`].
    pub team_ids: Vec<String>,
    /// `Billing/Refunds`; empty for none (see [`super::folders`]).
    pub folder: String,
    /// The order within its folder.
    pub position: i32,
    /// Files sent with the reply; `name` and `url` may hold placeholders.
    pub attachments: Vec<Attachment>,
    pub version: u64,
    pub create_time: SystemTime,
    pub update_time: SystemTime,
}

impl Shortcut {
    /// The case-folded bang that uniqueness and lookups use.
    pub fn bang_key(&self) -> String {
        bang_key(&self.bang)
    }
}

/// Case-folds a (valid) bang for comparison.
pub fn bang_key(bang: &str) -> String {
    bang.to_lowercase()
}

/// A shortcut to create; the server assigns id, version and times.
#[derive(Debug, Clone)]
pub struct NewShortcut {
    pub workspace_id: WorkspaceId,
    pub bang: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub disabled: bool,
    /// Localised bodies by language tag.
    pub variants: BTreeMap<String, String>,
    pub inputs: Vec<ShortcutInput>,
    pub snippet: bool,
    pub visibility: Visibility,
    pub owner: String,
    pub team_ids: Vec<String>,
    pub folder: String,
    pub position: i32,
    pub attachments: Vec<Attachment>,
}

/// The fields an update changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ShortcutChanges {
    pub bang: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub disabled: Option<bool>,
    /// A replacement set of localised bodies.
    pub variants: Option<BTreeMap<String, String>>,
    /// A replacement list of inputs.
    pub inputs: Option<Vec<ShortcutInput>>,
    pub snippet: Option<bool>,
    pub visibility: Option<Visibility>,
    pub owner: Option<String>,
    /// A replacement list of team ids.
    pub team_ids: Option<Vec<String>>,
    pub folder: Option<String>,
    pub position: Option<i32>,
    /// A replacement list of attachments.
    pub attachments: Option<Vec<Attachment>>,
}

/// A value the shortcut asks the agent for (stored as JSON, so the field names are part of
/// the stored format).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShortcutInput {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(rename = "type")]
    pub kind: InputType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
}

/// A file sent with the reply (stored as JSON, so the field names are part of the stored
/// format). In a shortcut, `name` and `url` are templates; in a render's answer, their
/// rendered text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
    #[serde(default)]
    pub size_bytes: i64,
}

/// The kind of value an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    Text,
    Number,
    Money,
    Date,
    Choice,
    Email,
    Url,
}

/// How a shortcut is named in a lookup.
#[derive(Debug, Clone)]
pub enum ShortcutKey {
    Id(ShortcutId),
    Bang(Bang),
}

pub use crate::ids::now;
