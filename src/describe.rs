//! `DescribeContext`: the placeholder paths a template can use, with a sample value each,
//! for an editor's autocompletion; and the paths known in a workspace (documented fields,
//! learned custom keys) for the write-time "did you mean" of unknown paths.
//!
//! With a contact or session id, the paths come from that record's real scope (exactly
//! what a render would see). Without, a documented list of the fields data sources fill
//! stands in, with made-up samples. `workspace.*` comes from the workspace record; `agent`
//! and `vars` are whatever callers send, so only the usual conventions are listed.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::catalog::Catalog;
use crate::catalog::paths::KnownPaths;
use crate::data::{DataService, FetchOptions, ScopeKind};
use crate::error::Result;
use crate::ids::{ContactId, SessionId, WorkspaceId};

/// Where a described path comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldSource {
    /// The contact or session whose id was given.
    Record,
    /// A field data sources usually fill (no record was given).
    Native,
    Workspace,
    /// What callers usually send as `agent` or `vars`.
    Convention,
    /// A custom key the workspace's fetched data has shown (no record was given).
    Learned,
}

impl FieldSource {
    pub fn name(self) -> &'static str {
        match self {
            FieldSource::Record => "record",
            FieldSource::Native => "native",
            FieldSource::Workspace => "workspace",
            FieldSource::Convention => "convention",
            FieldSource::Learned => "learned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextField {
    pub path: String,
    pub sample: String,
    pub source: FieldSource,
    pub description: String,
}

/// How deep into nested objects the description goes, and how many paths one scope
/// contributes at most (custom data can be large).
const MAX_DEPTH: usize = 4;
const MAX_FIELDS_PER_SCOPE: usize = 300;
const MAX_SAMPLE_CHARS: usize = 80;

const CONTACT_FIELDS: &[(&str, &str, &str)] = &[
    (
        "id",
        "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11",
        "the contact's id",
    ),
    ("email", "jane.doe@example.com", "email address"),
    ("nickname", "Jane Doe", "full name as the profile has it"),
    ("first_name", "Jane", "first word of the nickname"),
    ("last_name", "Doe", "rest of the nickname"),
    ("phone", "+1 415 555 0142", "phone number"),
    ("address", "500 Market St, San Francisco", "postal address"),
    ("company.name", "Acme Corp", "employer's name"),
    ("company.domain", "acme.example.com", "employer's domain"),
    ("employment.title", "Head of Operations", "job title"),
    ("segments", "customer, vip", "segments (a list)"),
    ("country", "US", "country code from geolocation"),
    ("region", "California", "region from geolocation"),
    ("city", "San Francisco", "city from geolocation"),
    ("locale", "en", "preferred language"),
    (
        "timezone",
        "480",
        "UTC offset in minutes, as the browser reported it",
    ),
    ("website", "https://janedoe.example.com", "website"),
    (
        "created_at",
        "1700000000000",
        "profile creation time (Unix ms; use `| date`)",
    ),
    (
        "data.KEY",
        "pro",
        "raw custom data; custom keys also appear directly, e.g. contact.plan",
    ),
];

const SESSION_FIELDS: &[(&str, &str, &str)] = &[
    (
        "id",
        "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d",
        "the conversation's id",
    ),
    ("nickname", "Jane Doe", "visitor name in this conversation"),
    (
        "email",
        "jane.doe@example.com",
        "visitor email in this conversation",
    ),
    ("phone", "+1 415 555 0142", "visitor phone"),
    ("subject", "Where is my order?", "conversation subject"),
    ("origin", "chat", "channel the conversation came from"),
    ("segments", "support", "conversation segments (a list)"),
    ("country", "US", "country from the device's geolocation"),
    (
        "city",
        "San Francisco",
        "city from the device's geolocation",
    ),
    ("locale", "en", "the device's language"),
    (
        "data.KEY",
        "ORD-48213",
        "raw session data; keys also appear directly, e.g. session.order_id",
    ),
];

/// The fields of `workspace.*` (see the loop in [`describe`]).
const WORKSPACE_FIELDS: &[&str] = &["id", "name", "locale", "time_zone"];

const AGENT_FIELDS: &[(&str, &str, &str)] = &[
    (
        "first_name",
        "Sam",
        "the operator's first name, as the caller sends it",
    ),
    (
        "email",
        "sam@support.example",
        "the operator's email, as the caller sends it",
    ),
];

const VARS_FIELDS: &[(&str, &str, &str)] = &[(
    "KEY",
    "SAVE10",
    "anything the caller passes in `vars`, e.g. vars.coupon_code",
)];

/// Describes the context of a workspace, optionally with a real contact and session.
pub async fn describe(
    catalog: &Catalog,
    data: &DataService,
    workspace_id: &WorkspaceId,
    contact_id: &ContactId,
    session_id: &SessionId,
) -> Result<Vec<ContextField>> {
    let (contact, session) = tokio::try_join!(
        data.scope(workspace_id, contact_id, FetchOptions::default()),
        data.scope(workspace_id, session_id, FetchOptions::default()),
    )?;
    let learned = if contact_id.as_str().is_empty() || session_id.as_str().is_empty() {
        catalog.custom_keys().of(workspace_id).await?
    } else {
        Default::default()
    };
    let mut fields = Vec::new();
    for (kind, id, scope, documented) in [
        (
            ScopeKind::Contact,
            contact_id.as_str(),
            &contact,
            CONTACT_FIELDS,
        ),
        (
            ScopeKind::Session,
            session_id.as_str(),
            &session,
            SESSION_FIELDS,
        ),
    ] {
        if id.is_empty() {
            fields.extend(documented_fields(
                kind.name(),
                documented,
                FieldSource::Native,
            ));
            let keys = match kind {
                ScopeKind::Contact => &learned.contact,
                ScopeKind::Session => &learned.session,
            };
            fields.extend(keys.iter().map(|key| ContextField {
                path: format!("{}.{key}", kind.name()),
                sample: String::new(),
                source: FieldSource::Learned,
                description: format!("a custom key seen in this workspace's {} data", kind.name()),
            }));
        } else {
            let mut found = Vec::new();
            walk(kind.name(), &scope.value, 0, &mut found);
            fields.extend(found);
        }
    }
    fields.extend(documented_fields(
        "agent",
        AGENT_FIELDS,
        FieldSource::Convention,
    ));
    fields.extend(documented_fields(
        "vars",
        VARS_FIELDS,
        FieldSource::Convention,
    ));
    let workspace = catalog.workspace_records().resolve(workspace_id);
    let record = &workspace.record;
    let locale_description = format!(
        "default locale of replies; supported: {} (another region uses its language's)",
        crate::template::locale::SUPPORTED.join(", ")
    );
    for (key, sample, description) in [
        ("id", record.id.as_str(), "the workspace's id"),
        (
            "name",
            record.display_name.as_str(),
            "the workspace's display name",
        ),
        (
            "locale",
            record.default_locale.as_str(),
            locale_description.as_str(),
        ),
        (
            "time_zone",
            record.time_zone.as_str(),
            "time zone `date` uses by default",
        ),
    ] {
        fields.push(ContextField {
            path: format!("workspace.{key}"),
            sample: sample.to_string(),
            source: FieldSource::Workspace,
            description: description.to_string(),
        });
    }
    Ok(fields)
}

fn documented_fields(
    scope: &str,
    list: &[(&str, &str, &str)],
    source: FieldSource,
) -> Vec<ContextField> {
    list.iter()
        .map(|(key, sample, description)| ContextField {
            path: format!("{scope}.{key}"),
            sample: sample.to_string(),
            source,
            description: description.to_string(),
        })
        .collect()
}

/// Every leaf path of a scope, maps descended, lists shown as one joined sample.
fn walk(path: &str, value: &Value, depth: usize, out: &mut Vec<ContextField>) {
    if out.len() >= MAX_FIELDS_PER_SCOPE {
        return;
    }
    if value.kind() == ValueKind::Map && depth < MAX_DEPTH {
        if let Ok(keys) = value.try_iter() {
            for key in keys {
                let Some(name) = key.as_str() else { continue };
                let child = value.get_attr(name).unwrap_or_default();
                walk(&format!("{path}.{name}"), &child, depth + 1, out);
            }
        }
        return;
    }
    if depth == 0 {
        return;
    }
    let description = match value.kind() {
        ValueKind::Seq => "a list",
        ValueKind::Map => "an object",
        ValueKind::Number => "a number",
        ValueKind::Bool => "true or false",
        _ => "text",
    };
    out.push(ContextField {
        path: path.to_string(),
        sample: sample(value),
        source: FieldSource::Record,
        description: description.to_string(),
    });
}

fn sample(value: &Value) -> String {
    let text = match value.kind() {
        ValueKind::Seq => value
            .try_iter()
            .map(|items| {
                items
                    .take(5)
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        _ => value.to_string(),
    };
    if text.chars().count() > MAX_SAMPLE_CHARS {
        let cut: String = text.chars().take(MAX_SAMPLE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The first-level field names a template can read in a workspace, for write-time typo
/// warnings: the documented fields of contacts and sessions, the workspace record's, and
/// the custom keys the workspace's fetched data has shown.
pub async fn known_paths(catalog: &Catalog, workspace_id: &WorkspaceId) -> Result<KnownPaths> {
    let first = |list: &[(&str, &str, &str)]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (key, _, _) in list {
            let top = key.split('.').next().unwrap_or(key).to_string();
            if top != "data" && !out.contains(&top) {
                out.push(top);
            }
        }
        out
    };
    let mut known = KnownPaths {
        contact: first(CONTACT_FIELDS),
        session: first(SESSION_FIELDS),
        workspace: WORKSPACE_FIELDS.iter().map(|k| k.to_string()).collect(),
    };
    let learned = catalog.custom_keys().of(workspace_id).await?;
    known.contact.extend(learned.contact);
    known.session.extend(learned.session);
    Ok(known)
}
