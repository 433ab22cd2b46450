//! Protobuf <-> domain translations.

use std::collections::BTreeMap;
use std::time::SystemTime;

use minijinja::Value;
use prost_types::value::Kind;

use crate::batch::Recipient;
use crate::catalog::search::{MatchKind, SearchHit, TextRange};
use crate::catalog::{Entry, ShortcutKey};
use crate::error::{Error, Result};
use crate::pb;
use crate::render::Target;

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

pub fn shortcut_match(hit: SearchHit) -> pb::ShortcutMatch {
    let s = &hit.entry.shortcut;
    pb::ShortcutMatch {
        id: s.id.clone(),
        bang: s.bang.clone(),
        title: s.title.clone(),
        tags: s.tags.clone(),
        disabled: s.disabled,
        version: s.version,
        preview: hit.preview,
        kind: match_kind(hit.kind) as i32,
        bang_highlights: text_ranges(&hit.bang_highlights),
        title_highlights: text_ranges(&hit.title_highlights),
        tag_highlights: hit
            .tag_highlights
            .iter()
            .map(|(tag_index, ranges)| pb::TagHighlight {
                tag_index: *tag_index,
                ranges: text_ranges(ranges),
            })
            .collect(),
        preview_highlights: text_ranges(&hit.preview_highlights),
    }
}

fn match_kind(kind: MatchKind) -> pb::MatchKind {
    match kind {
        MatchKind::ExactBang => pb::MatchKind::ExactBang,
        MatchKind::BangPrefix => pb::MatchKind::BangPrefix,
        MatchKind::Title => pb::MatchKind::Title,
        MatchKind::Text => pb::MatchKind::Text,
        MatchKind::Any => pb::MatchKind::Any,
    }
}

fn text_ranges(ranges: &[TextRange]) -> Vec<pb::TextRange> {
    ranges
        .iter()
        .map(|r| pb::TextRange {
            start: r.start,
            end: r.end,
        })
        .collect()
}

pub fn batch_target(template: Option<pb::batch_render_request::Template>) -> Result<Target> {
    use pb::batch_render_request::Template;
    match template {
        Some(Template::Id(id)) => Ok(Target::Stored(ShortcutKey::Id(id))),
        Some(Template::Bang(bang)) => Ok(Target::Stored(ShortcutKey::Bang(bang))),
        Some(Template::Body(body)) => Ok(Target::Inline(body)),
        None => Err(Error::invalid(
            "id",
            "set the shortcut to render (`id` or `bang`) or an inline template (`body`)",
        )),
    }
}

/// Each recipient with its vars converted; a recipient whose vars cannot be read keeps
/// that error for its own result.
pub fn recipients(recipients: Vec<pb::BatchRecipient>) -> Vec<Recipient> {
    recipients
        .into_iter()
        .enumerate()
        .map(|(i, r)| Recipient {
            vars: struct_scope(&format!("recipients[{i}].vars"), r.vars),
            contact_id: r.contact_id,
            session_id: r.session_id,
        })
        .collect()
}
