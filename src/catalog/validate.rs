//! Input rules for shortcut fields. Each failure names the request field it is about.

use crate::error::{Error, Result, quote};

// The id rules and the size defaults live at the bottom of the crate (`crate::ids`), where
// every layer can reach them; they are re-exported here, where shortcut writes look for them.
pub use crate::ids::{
    MAX_BANG_CHARS, MAX_BODY_BYTES, MAX_ID_CHARS, MAX_VARIANTS, MAX_WORKSPACE_ID_CHARS, bang,
    shortcut_id, workspace_id,
};
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_CHARS: usize = 64;

/// Refuses control characters other than line breaks and tabs: they are invisible in a chat
/// composer and PostgreSQL cannot store NUL.
fn printable(field: &str, value: &str, allow_line_breaks: bool) -> Result<()> {
    let bad = value
        .chars()
        .find(|c| c.is_control() && !(allow_line_breaks && matches!(c, '\n' | '\r' | '\t')));
    match bad {
        Some(c) => Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        )),
        None => Ok(()),
    }
}

pub fn title(value: &str) -> Result<String> {
    printable("title", value, false)?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("title", "is required"));
    }
    if trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid(
            "title",
            format!("is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// The size and character rules for a template body (at most `max` bytes); its syntax is
/// the template engine's to check.
pub fn body(value: &str, max: usize) -> Result<&str> {
    if value.trim().is_empty() {
        return Err(Error::invalid("body", "is required"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            "body",
            format!(
                "is {} bytes; the limit is {max} bytes ({} KiB)",
                value.len(),
                max / 1024
            ),
        ));
    }
    printable("body", value, true)?;
    Ok(value)
}

/// The field name of one variant in errors: `variants["fr-CA"]`.
pub fn variant_field(tag: &str) -> String {
    format!("variants[{}]", quote(tag))
}

/// Localised bodies with their language tags made canonical (`FR-ca` -> `fr-CA`); each
/// body obeys the same size rule as `body`. Their syntax is the template engine's to check.
pub fn variants(
    values: &std::collections::BTreeMap<String, String>,
    limits: &crate::template::RenderLimits,
) -> Result<std::collections::BTreeMap<String, String>> {
    use crate::template::locale;
    let max_body_bytes = limits.max_template_bytes;
    if values.len() > limits.max_variants {
        return Err(Error::invalid(
            "variants",
            format!("more than {} localised bodies", limits.max_variants),
        ));
    }
    let mut out = std::collections::BTreeMap::new();
    for (tag, text) in values {
        let field = variant_field(tag);
        if !locale::is_language_tag(tag) {
            return Err(Error::invalid(
                field,
                "the key must be a language tag such as \"fr\" or \"fr-CA\"",
            ));
        }
        body(text, max_body_bytes).map_err(|err| err.for_field(field.clone()))?;
        let canonical = locale::canonical_tag(tag);
        if out.insert(canonical.clone(), text.clone()).is_some() {
            return Err(Error::invalid(
                field,
                format!(
                    "{} is given twice (tags are case-insensitive)",
                    quote(&canonical)
                ),
            ));
        }
    }
    Ok(out)
}

/// Tags trimmed, lower-cased and de-duplicated, in the order given.
pub fn tags(values: &[String]) -> Result<Vec<String>> {
    if values.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("more than {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, raw) in values.iter().enumerate() {
        let tag = raw.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::invalid(
                format!("tags[{i}]"),
                format!("must be 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
        if tag.chars().any(char::is_control) {
            return Err(Error::invalid(
                format!("tags[{i}]"),
                "contains a control character",
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised() {
        assert_eq!(
            tags(&[" Billing ".into(), "billing".into(), "vip".into()]).unwrap(),
            ["billing", "vip"]
        );
        assert!(
            tags(&["".into()])
                .unwrap_err()
                .to_string()
                .starts_with("tags[0]")
        );
    }
}
