//! Input rules for shortcut fields. Each failure names the request field it is about.

use crate::error::{Error, Result, quote};

pub const MAX_BANG_CHARS: usize = 64;
/// The default limit on a template body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_WORKSPACE_ID_CHARS: usize = 128;
pub const MAX_ID_CHARS: usize = 128;

/// A workspace id: 1–128 characters of letters, digits, `-`, `_`, `.`.
pub fn workspace_id(value: &str) -> Result<&str> {
    identifier("workspace_id", value, MAX_WORKSPACE_ID_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })
}

/// A server-assigned id as a caller sends it back.
pub fn shortcut_id<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    identifier(field, value, MAX_ID_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
    })
}

fn identifier<'a>(
    field: &str,
    value: &'a str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<&'a str> {
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(Error::invalid(
            field,
            format!("contains {c:?}; use letters, digits, '-', '_'"),
        ));
    }
    Ok(value)
}

/// A bang with its optional leading `!` removed: letters, digits, `-`, `_`, 1–64 characters.
pub fn bang<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    let bare = value.strip_prefix('!').unwrap_or(value);
    if bare.is_empty() {
        return Err(Error::invalid(
            field,
            "is required (e.g. \"refund\" or \"!refund\")",
        ));
    }
    let chars = bare.chars().count();
    if chars > MAX_BANG_CHARS {
        return Err(Error::invalid(
            field,
            format!("is {chars} characters long; the limit is {MAX_BANG_CHARS}"),
        ));
    }
    if let Some(c) = bare
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(Error::invalid(
            field,
            format!("contains {c:?}; a bang may only use letters, digits, '-' and '_'"),
        ));
    }
    Ok(bare)
}

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

/// Default for [`crate::template::RenderLimits::max_variants`].
pub const MAX_VARIANTS: usize = 32;

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
        body(text, max_body_bytes).map_err(|err| match err {
            Error::InvalidArgument { message, .. } => Error::invalid(field.clone(), message),
            other => other,
        })?;
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
    fn bangs() {
        assert_eq!(bang("bang", "!refund").unwrap(), "refund");
        assert_eq!(bang("bang", "Order_status-2").unwrap(), "Order_status-2");
        for bad in ["", "!", "with space", "a/b", &"x".repeat(65)] {
            let err = bang("bang", bad).unwrap_err().to_string();
            assert!(err.starts_with("bang: "), "{err}");
        }
    }

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
