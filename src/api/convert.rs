//! Protobuf <-> domain translations shared by several areas; those of one area live with
//! its handlers.

use std::collections::BTreeMap;
use std::time::SystemTime;

use minijinja::Value;
use prost_types::value::Kind;

use crate::catalog::consistency::ConsistencyToken;
use crate::catalog::{Attachment, Entry, InputType, ShortcutInput, ShortcutKey, Visibility};
use crate::error::{Error, Result};
use crate::ids::{Bang, ShortcutId, WorkspaceId};
use crate::pb;

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
        inputs: inputs(&s.inputs),
        warnings: vec![],
        snippet: s.snippet,
        attachments: attachments(&s.attachments),
        consistency_token: String::new(),
        visibility: visibility_of(s.visibility) as i32,
        owner: s.owner.clone(),
        team_ids: s.team_ids.clone(),
        folder: s.folder.clone(),
        position: s.position,
    }
}

/// A request's visibility; UNSPECIFIED reads as WORKSPACE.
pub fn visibility(value: i32) -> Result<Visibility> {
    match pb::Visibility::try_from(value) {
        Ok(pb::Visibility::Unspecified | pb::Visibility::Workspace) => Ok(Visibility::Workspace),
        Ok(pb::Visibility::Team) => Ok(Visibility::Team),
        Ok(pb::Visibility::Personal) => Ok(Visibility::Personal),
        Err(_) => Err(Error::invalid(
            "visibility",
            format!("{value} is not a Visibility value"),
        )),
    }
}

fn visibility_of(visibility: Visibility) -> pb::Visibility {
    match visibility {
        Visibility::Workspace => pb::Visibility::Workspace,
        Visibility::Team => pb::Visibility::Team,
        Visibility::Personal => pb::Visibility::Personal,
    }
}

pub fn attachments(attachments: &[Attachment]) -> Vec<pb::Attachment> {
    attachments
        .iter()
        .map(|a| pb::Attachment {
            name: a.name.clone(),
            url: a.url.clone(),
            mime_type: a.mime_type.clone(),
            size_bytes: a.size_bytes,
        })
        .collect()
}

/// Attachments as a request declares them (checked by the catalogue).
pub fn attachment_declarations(attachments: Vec<pb::Attachment>) -> Vec<Attachment> {
    attachments
        .into_iter()
        .map(|a| Attachment {
            name: a.name,
            url: a.url,
            mime_type: a.mime_type,
            size_bytes: a.size_bytes,
        })
        .collect()
}

/// A shortcut as a write returns it: with the warnings about what was saved.
pub fn written_shortcut(
    entry: &Entry,
    warnings: Vec<crate::template::TemplateWarning>,
) -> pb::Shortcut {
    let s = &entry.shortcut;
    let token = ConsistencyToken::Shortcut {
        workspace_id: s.workspace_id.clone(),
        id: s.id.clone(),
        version: s.version,
    };
    pb::Shortcut {
        warnings: warnings.into_iter().map(warning).collect(),
        consistency_token: token.encode(),
        ..shortcut(entry)
    }
}

pub fn warning(w: crate::template::TemplateWarning) -> pb::TemplateWarning {
    pb::TemplateWarning {
        field: w.field,
        line: w.line,
        column: w.column,
        message: w.message,
        suggestion: w.suggestion,
    }
}

pub fn inputs(inputs: &[ShortcutInput]) -> Vec<pb::ShortcutInput> {
    inputs
        .iter()
        .map(|i| pb::ShortcutInput {
            name: i.name.clone(),
            label: i.label.clone(),
            r#type: input_type(i.kind) as i32,
            required: i.required,
            choices: i.choices.clone(),
            default_value: i.default_value.clone(),
            help: i.help.clone(),
        })
        .collect()
}

fn input_type(kind: InputType) -> pb::InputType {
    match kind {
        InputType::Text => pb::InputType::Text,
        InputType::Number => pb::InputType::Number,
        InputType::Money => pb::InputType::Money,
        InputType::Date => pb::InputType::Date,
        InputType::Choice => pb::InputType::Choice,
        InputType::Email => pb::InputType::Email,
        InputType::Url => pb::InputType::Url,
    }
}

/// Inputs as a request declares them; only the type is checked here (the catalogue checks
/// the rest), so that an unknown type is named by its field.
pub fn input_declarations(inputs: Vec<pb::ShortcutInput>) -> Result<Vec<ShortcutInput>> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| {
            let kind = match pb::InputType::try_from(input.r#type) {
                Ok(pb::InputType::Text) => InputType::Text,
                Ok(pb::InputType::Number) => InputType::Number,
                Ok(pb::InputType::Money) => InputType::Money,
                Ok(pb::InputType::Date) => InputType::Date,
                Ok(pb::InputType::Choice) => InputType::Choice,
                Ok(pb::InputType::Email) => InputType::Email,
                Ok(pb::InputType::Url) => InputType::Url,
                Ok(pb::InputType::Unspecified) | Err(_) => {
                    return Err(Error::invalid(
                        format!("inputs[{i}].type"),
                        "set the input's type: INPUT_TYPE_TEXT, NUMBER, MONEY, DATE, CHOICE, EMAIL or URL",
                    ));
                }
            };
            Ok(ShortcutInput {
                name: input.name,
                label: input.label,
                kind,
                required: input.required,
                choices: input.choices,
                default_value: input.default_value,
                help: input.help,
            })
        })
        .collect()
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
        consistency_token: String::new(),
    }
}

/// A workspace record as a write's answer: with the token that reads pass to see it.
pub fn written_workspace(w: &crate::workspace::Workspace) -> pb::Workspace {
    let token = ConsistencyToken::Workspace {
        workspace_id: w.id.clone(),
        version: w.version,
    };
    pb::Workspace {
        consistency_token: token.encode(),
        ..workspace(w)
    }
}

/// The token of a delete's answer.
pub fn deleted_shortcut(workspace: &WorkspaceId, id: &ShortcutId) -> pb::DeleteShortcutResponse {
    let token = ConsistencyToken::DeletedShortcut {
        workspace_id: workspace.as_str().to_owned(),
        id: id.as_str().to_owned(),
    };
    pb::DeleteShortcutResponse {
        consistency_token: token.encode(),
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
        Some(pb::get_shortcut_request::Key::Id(id)) => Ok(ShortcutKey::Id(ShortcutId::parse(&id)?)),
        Some(pb::get_shortcut_request::Key::Bang(bang)) => {
            Ok(ShortcutKey::Bang(Bang::parse(&bang)?))
        }
        None => Err(Error::invalid("id", "set either `id` or `bang`")),
    }
}

/// A `google.protobuf.Struct` as a template scope (absent: an empty scope), nesting at most
/// `max_depth` levels of objects and lists.
pub fn struct_scope(
    field: &str,
    value: Option<prost_types::Struct>,
    max_depth: usize,
) -> Result<Value> {
    let fields = value.map(|s| s.fields).unwrap_or_default();
    StructReader { max_depth }.object(field, fields, 1)
}

/// Converts a Struct's values, refusing nesting beyond `max_depth`.
struct StructReader {
    max_depth: usize,
}

impl StructReader {
    fn check_depth(&self, field: &str, depth: usize) -> Result<()> {
        if depth > self.max_depth {
            return Err(Error::invalid(
                field,
                format!("nests deeper than {} levels", self.max_depth),
            ));
        }
        Ok(())
    }

    fn object(
        &self,
        field: &str,
        fields: BTreeMap<String, prost_types::Value>,
        depth: usize,
    ) -> Result<Value> {
        self.check_depth(field, depth)?;
        let mut map = BTreeMap::new();
        for (key, value) in fields {
            let converted = self.value(&|| format!("{field}.{key}"), value, depth)?;
            if !converted.is_none() {
                map.insert(key, converted);
            }
        }
        Ok(Value::from(map))
    }

    /// `depth` is the nesting level of the object or list holding this value; `field` names
    /// it in errors (built only for nested values: scalars cannot fail).
    fn value(
        &self,
        field: &dyn Fn() -> String,
        value: prost_types::Value,
        depth: usize,
    ) -> Result<Value> {
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
                let field = field();
                self.check_depth(&field, depth + 1)?;
                let items: Result<Vec<Value>> = list
                    .values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.value(&|| format!("{field}[{i}]"), v, depth + 1))
                    .collect();
                Value::from(items?)
            }
            Some(Kind::StructValue(s)) => self.object(&field(), s.fields, depth + 1)?,
        })
    }
}

/// The caller's deadline, from the `grpc-timeout` header (`<digits><unit>`, unit one of
/// `H M S m u n`); `None` when absent or malformed.
pub fn deadline(metadata: &tonic::metadata::MetadataMap) -> Option<std::time::Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    grpc_timeout(value).map(|timeout| std::time::Instant::now() + timeout)
}

fn grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod deadline_tests {
    use super::grpc_timeout;
    use std::time::Duration;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(grpc_timeout("10x"), None);
        assert_eq!(grpc_timeout("m"), None);
    }
}
