//! Protobuf <-> domain translations.

use std::collections::BTreeMap;
use std::time::SystemTime;

use minijinja::Value;
use prost_types::value::Kind;

use crate::catalog::{Entry, ShortcutKey};
use crate::error::{Error, Result};
use crate::pb;

/// How deeply `agent` and `vars` may nest.
pub const MAX_STRUCT_DEPTH: usize = 32;

pub fn shortcut(entry: &Entry) -> pb::Shortcut {
    let s = &entry.shortcut;
    pb::Shortcut {
        id: s.id.clone(),
        workspace_id: s.workspace_id.clone(),
        bang: s.bang.clone(),
        title: s.title.clone(),
        body: s.body.clone(),
        tags: s.tags.clone(),
        disabled: s.disabled,
        version: s.version,
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        variants: s.variants.clone().into_iter().collect(),
    }
}

pub fn workspace(w: &crate::workspace::Workspace) -> pb::Workspace {
    pb::Workspace {
        workspace_id: w.id.clone(),
        display_name: w.display_name.clone(),
        default_locale: w.default_locale.clone(),
        time_zone: w.time_zone.clone(),
        version: w.version,
        create_time: Some(timestamp(w.create_time)),
        update_time: Some(timestamp(w.update_time)),
    }
}

pub fn scopes(groups: Vec<(&'static str, Vec<String>)>) -> Vec<pb::ScopePlaceholders> {
    groups
        .into_iter()
        .map(|(scope, paths)| pb::ScopePlaceholders {
            scope: scope.to_string(),
            paths,
        })
        .collect()
}

pub fn context_field(field: crate::describe::ContextField) -> pb::ContextField {
    pb::ContextField {
        path: field.path,
        sample: field.sample,
        source: field.source.name().to_string(),
        description: field.description,
    }
}

fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(time)
}

pub fn get_key(key: Option<pb::get_shortcut_request::Key>) -> Result<ShortcutKey> {
    match key {
        Some(pb::get_shortcut_request::Key::Id(id)) => Ok(ShortcutKey::Id(id)),
        Some(pb::get_shortcut_request::Key::Bang(bang)) => Ok(ShortcutKey::Bang(bang)),
        None => Err(Error::invalid("id", "set either `id` or `bang`")),
    }
}

pub fn render_key(key: Option<pb::render_shortcut_request::Shortcut>) -> Result<ShortcutKey> {
    match key {
        Some(pb::render_shortcut_request::Shortcut::Id(id)) => Ok(ShortcutKey::Id(id)),
        Some(pb::render_shortcut_request::Shortcut::Bang(bang)) => Ok(ShortcutKey::Bang(bang)),
        None => Err(Error::invalid(
            "id",
            "set either `id` or `bang` of the shortcut to render",
        )),
    }
}

/// A `google.protobuf.Struct` as a template scope (absent: an empty scope).
pub fn struct_scope(field: &str, value: Option<prost_types::Struct>) -> Result<Value> {
    let fields = value.map(|s| s.fields).unwrap_or_default();
    struct_value(field, fields, 1)
}

fn struct_value(
    field: &str,
    fields: BTreeMap<String, prost_types::Value>,
    depth: usize,
) -> Result<Value> {
    if depth > MAX_STRUCT_DEPTH {
        return Err(Error::invalid(
            field,
            format!("nests deeper than {MAX_STRUCT_DEPTH} levels"),
        ));
    }
    let mut map = BTreeMap::new();
    for (key, value) in fields {
        let path = format!("{field}.{key}");
        let converted = proto_value(&path, value, depth + 1)?;
        if !converted.is_none() {
            map.insert(key, converted);
        }
    }
    Ok(Value::from(map))
}

fn proto_value(field: &str, value: prost_types::Value, depth: usize) -> Result<Value> {
    if depth > MAX_STRUCT_DEPTH {
        return Err(Error::invalid(
            field,
            format!("nests deeper than {MAX_STRUCT_DEPTH} levels"),
        ));
    }
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Value::from(()),
        Some(Kind::BoolValue(b)) => Value::from(b),
        Some(Kind::NumberValue(n)) => {
            // JSON numbers arrive as doubles; whole ones print without ".0".
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            }
        }
        Some(Kind::StringValue(s)) => Value::from(s),
        Some(Kind::ListValue(list)) => {
            let items: Result<Vec<Value>> = list
                .values
                .into_iter()
                .enumerate()
                .map(|(i, v)| proto_value(&format!("{field}[{i}]"), v, depth + 1))
                .collect();
            Value::from(items?)
        }
        Some(Kind::StructValue(s)) => struct_value(field, s.fields, depth + 1)?,
    })
}

pub fn import_format(value: i32) -> Result<crate::import::Format> {
    use crate::import::Format;
    match pb::ImportFormat::try_from(value) {
        Ok(pb::ImportFormat::Crisp) => Ok(Format::Crisp),
        Ok(pb::ImportFormat::Chatwoot) => Ok(Format::Chatwoot),
        Ok(pb::ImportFormat::Zendesk) => Ok(Format::Zendesk),
        Ok(pb::ImportFormat::Intercom) => Ok(Format::Intercom),
        _ => Err(Error::invalid(
            "format",
            "set the export's format: IMPORT_FORMAT_CRISP, IMPORT_FORMAT_CHATWOOT, IMPORT_FORMAT_ZENDESK or IMPORT_FORMAT_INTERCOM",
        )),
    }
}

pub fn import_report(report: crate::import::ImportReport) -> pb::ImportShortcutsResponse {
    let created = report
        .items
        .iter()
        .filter(|i| !i.shortcut_id.is_empty())
        .count() as u32;
    pb::ImportShortcutsResponse {
        committed: report.committed,
        created,
        items: report
            .items
            .into_iter()
            .map(|i| pb::ImportItemResult {
                index: i.index as u32,
                source_name: i.source_name,
                bang: i.bang,
                body: i.body,
                shortcut_id: i.shortcut_id,
                error: i.error,
            })
            .collect(),
    }
}
