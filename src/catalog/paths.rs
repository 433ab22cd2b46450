//! Write-time warnings about placeholder paths that are probably typos: a `contact.*`,
//! `session.*` or `workspace.*` field that is neither one the data sources fill nor a
//! custom key known in the workspace, and that is close to one that is
//! (`contact.frist_name` → `contact.first_name`).
//!
//! What is known comes from above (the documented fields and what the workspace's data
//! showed, see `describe::known_paths`); an unknown path with no close known one is not
//! warned about, since it may be a custom key no render has fetched yet.

use crate::template::{TemplateWarning, Validation, closest};

/// The first-level field names known per scope.
#[derive(Debug, Clone, Default)]
pub struct KnownPaths {
    pub contact: Vec<String>,
    pub session: Vec<String>,
    pub workspace: Vec<String>,
}

impl KnownPaths {
    fn of(&self, scope: &str) -> Option<&[String]> {
        match scope {
            "contact" => Some(&self.contact),
            "session" => Some(&self.session),
            "workspace" => Some(&self.workspace),
            _ => None,
        }
    }
}

/// Warnings about the paths of `validation` that look like typos of known ones.
pub fn unknown(field: &str, validation: &Validation, known: &KnownPaths) -> Vec<TemplateWarning> {
    let mut out = Vec::new();
    for (path, (line, column)) in validation.placeholders.iter().zip(&validation.positions) {
        let mut segments = path.split('.');
        let (Some(scope), Some(key)) = (segments.next(), segments.next()) else {
            continue;
        };
        let Some(names) = known.of(scope) else {
            continue;
        };
        // `contact.data.KEY` is the raw custom value: its key is checked instead.
        let (key, prefix) = if key == "data" && scope != "workspace" {
            match segments.next() {
                Some(custom) => (custom, format!("{scope}.data.")),
                None => continue,
            }
        } else {
            (key, format!("{scope}."))
        };
        if names.iter().any(|n| n == key) {
            continue;
        }
        let Some(guess) = closest(key, names.iter().map(String::as_str)) else {
            continue;
        };
        let rest: Vec<&str> = segments.collect();
        let suggestion = if rest.is_empty() {
            format!("{prefix}{guess}")
        } else {
            format!("{prefix}{guess}.{}", rest.join("."))
        };
        out.push(TemplateWarning {
            field: field.to_string(),
            line: *line,
            column: *column,
            message: format!(
                "`{path}` is neither a field the data sources fill nor a custom key seen in this workspace, so it will print empty; did you mean `{suggestion}`?"
            ),
            suggestion,
        });
    }
    out
}
