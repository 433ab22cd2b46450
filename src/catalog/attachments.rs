//! A shortcut's attachments (files sent with the reply): the rules for declaring them,
//! their `name` and `url` compiled as templates when the shortcut is written or loaded,
//! and their render beside the reply's.
//!
//! A URL's printed values are percent-encoded (see [`crate::template::url`]); a name's
//! print as they are. Each attachment renders within the quick slice of fuel
//! ([`crate::template::QUICK_FUEL`]), on the async runtime: a URL or a name has no use for
//! more, and so the attachments of a render cost at most `--max-attachments` times that.

use minijinja::Value;

use super::model::Attachment;
use crate::error::{Error, Result};
use crate::template::{CompiledTemplate, Engine, RenderError, RenderLimits, TemplateDiagnostic};

/// The longest `type/subtype` accepted (RFC 6838: 127 characters each side).
pub const MAX_MIME_TYPE_CHARS: usize = 255;

/// An attachment's name and URL, compiled.
#[derive(Debug)]
pub struct CompiledAttachment {
    pub name: CompiledTemplate,
    pub url: CompiledTemplate,
}

/// The request field of one attachment's part, as errors and warnings name it.
pub fn field(i: usize, part: &str) -> String {
    format!("attachments[{i}].{part}")
}

/// Checks declared attachments and returns them normalised (texts trimmed, the MIME type
/// lower-cased). Each failure names its field (`attachments[2].url`). Their templates are
/// checked when compiled ([`compile`]).
pub fn check(attachments: &[Attachment], limits: &RenderLimits) -> Result<Vec<Attachment>> {
    let max = limits.max_attachments;
    if attachments.len() > max {
        return Err(Error::invalid(
            "attachments",
            format!(
                "{} attachments; a shortcut has at most {max} (--max-attachments)",
                attachments.len()
            ),
        ));
    }
    attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(Attachment {
                name: name(i, &a.name, limits.max_attachment_name_chars)?,
                url: url(i, &a.url, limits.max_attachment_url_bytes)?,
                mime_type: mime_type(i, &a.mime_type)?,
                size_bytes: size(i, a.size_bytes, limits.max_attachment_size_bytes)?,
            })
        })
        .collect()
}

fn name(i: usize, value: &str, max_chars: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field(i, "name"), "is required"));
    }
    // Counting stops past the limit: a huge name costs no more than a long one.
    if value.chars().nth(max_chars).is_some() {
        return Err(Error::invalid(
            field(i, "name"),
            format!("is longer than {max_chars} characters (--max-attachment-name-chars)"),
        ));
    }
    no_control(field(i, "name"), value)?;
    Ok(value.to_owned())
}

fn url(i: usize, value: &str, max_bytes: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field(i, "url"), "is required"));
    }
    if value.len() > max_bytes {
        return Err(Error::invalid(
            field(i, "url"),
            format!(
                "is {} bytes; the limit is {max_bytes} (--max-attachment-url-bytes)",
                value.len()
            ),
        ));
    }
    no_control(field(i, "url"), value)?;
    // The scheme and `://` are the author's text, so that no value can choose them.
    let scheme_ok = ["https://", "http://"].iter().any(|scheme| {
        value
            .get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !scheme_ok {
        return Err(Error::invalid(
            field(i, "url"),
            "must start with `https://` or `http://` (placeholders may follow)",
        ));
    }
    // A URL without template syntax is checked whole now; one with placeholders once
    // rendered.
    if !value.contains("<<") && !value.contains("{%") && !value.contains("{#") {
        crate::template::url::check(value).map_err(|why| Error::invalid(field(i, "url"), why))?;
    }
    Ok(value.to_owned())
}

fn no_control(field: String, value: &str) -> Result<()> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        )),
        None => Ok(()),
    }
}

/// `type/subtype`, each an RFC 6838 restricted name; no parameters. Empty: not declared.
fn mime_type(i: usize, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let restricted = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && part.len() <= 127
            && chars.all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    let valid = value.len() <= MAX_MIME_TYPE_CHARS
        && value
            .split_once('/')
            .is_some_and(|(kind, sub)| restricted(kind) && restricted(sub));
    if !valid {
        return Err(Error::invalid(
            field(i, "mime_type"),
            format!(
                "{} is not a MIME type: use `type/subtype` (e.g. `application/pdf`), without parameters",
                crate::error::quote(value)
            ),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

fn size(i: usize, value: i64, max: u64) -> Result<i64> {
    if value < 0 {
        return Err(Error::invalid(
            field(i, "size_bytes"),
            "must not be negative",
        ));
    }
    if value as u64 > max {
        return Err(Error::invalid(
            field(i, "size_bytes"),
            format!("is larger than {max} (--max-attachment-size-bytes)"),
        ));
    }
    Ok(value)
}

/// Compiles checked attachments; a template error names its field with line and column.
pub fn compile(engine: &Engine, attachments: &[Attachment]) -> Result<Vec<CompiledAttachment>> {
    let invalid = |field: String| {
        move |problems: Vec<TemplateDiagnostic>| Error::InvalidTemplate { field, problems }
    };
    attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(CompiledAttachment {
                name: engine.compile(&a.name).map_err(invalid(field(i, "name")))?,
                url: engine
                    .compile_url(&a.url)
                    .map_err(invalid(field(i, "url")))?,
            })
        })
        .collect()
}

/// What rendering a shortcut's attachments gave.
#[derive(Debug, Default)]
pub struct RenderedAttachments {
    /// Those that rendered to a usable name and URL, in the shortcut's order.
    pub attachments: Vec<Attachment>,
    /// Placeholders printed empty, each once (the body's are not repeated here).
    pub missing: Vec<String>,
    pub defaulted: Vec<String>,
    /// The attachments left out: the field (`attachments[1].url`) and why.
    pub problems: Vec<(String, String)>,
}

/// Renders each attachment's name and URL against the reply's context.
pub fn render(
    engine: &Engine,
    declared: &[Attachment],
    compiled: &[CompiledAttachment],
    context: &Value,
) -> RenderedAttachments {
    let limits = engine.limits();
    let mut out = RenderedAttachments::default();
    for (i, (attachment, templates)) in declared.iter().zip(compiled).enumerate() {
        let name = render_one(engine, &templates.name, context, &mut out)
            .and_then(|r| finish_name(&r, limits.max_attachment_name_chars))
            .map_err(|why| (field(i, "name"), why));
        let url = render_one(engine, &templates.url, context, &mut out)
            .and_then(|r| crate::template::url::finish(&r, limits.max_attachment_url_bytes))
            .map_err(|why| (field(i, "url"), why));
        match (name, url) {
            (Ok(name), Ok(url)) => out.attachments.push(Attachment {
                name,
                url,
                mime_type: attachment.mime_type.clone(),
                size_bytes: attachment.size_bytes,
            }),
            (Err(problem), _) | (_, Err(problem)) => out.problems.push(problem),
        }
    }
    out
}

/// One template within the quick slice of fuel; its missing and defaulted paths are added
/// to `out`'s.
fn render_one(
    engine: &Engine,
    template: &CompiledTemplate,
    context: &Value,
    out: &mut RenderedAttachments,
) -> std::result::Result<String, String> {
    let rendered = match engine.render_quick(template, context.clone()) {
        Ok(Some(rendered)) => rendered,
        Ok(None) => {
            return Err(format!(
                "needs more than {} template steps; attachments take no more",
                crate::template::QUICK_FUEL
            ));
        }
        Err(RenderError::Failed { message, .. }) => return Err(message),
        Err(err) => return Err(err.to_string()),
    };
    for (from, into) in [
        (rendered.missing, &mut out.missing),
        (rendered.defaulted, &mut out.defaulted),
    ] {
        for path in from {
            if !into.contains(&path) {
                into.push(path);
            }
        }
    }
    Ok(rendered.text)
}

fn finish_name(rendered: &str, max_chars: usize) -> std::result::Result<String, String> {
    let name = rendered.trim();
    if name.is_empty() {
        return Err("rendered empty".into());
    }
    if name.chars().nth(max_chars).is_some() {
        return Err(format!("rendered longer than {max_chars} characters"));
    }
    // Line breaks and other control characters from data would break a file name.
    Ok(name.replace(|c: char| c.is_control(), " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, url: &str, mime: &str, size: i64) -> Vec<Attachment> {
        vec![Attachment {
            name: name.into(),
            url: url.into(),
            mime_type: mime.into(),
            size_bytes: size,
        }]
    }

    fn refused_field(attachments: Vec<Attachment>) -> String {
        match check(&attachments, &RenderLimits::default()) {
            Err(Error::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_rule_names_its_field() {
        let ok = "https://x.example/<<session.order_id>>.pdf";
        assert_eq!(refused_field(one("", ok, "", 0)), "attachments[0].name");
        assert_eq!(refused_field(one("a", "", "", 0)), "attachments[0].url");
        assert_eq!(
            refused_field(one("a", "ftp://x/", "", 0)),
            "attachments[0].url"
        );
        assert_eq!(
            refused_field(one("a", "<<contact.site>>/x", "", 0)),
            "attachments[0].url"
        );
        assert_eq!(
            refused_field(one("a", "https://", "", 0)),
            "attachments[0].url"
        );
        assert_eq!(
            refused_field(one("a", ok, "pdf", 0)),
            "attachments[0].mime_type"
        );
        assert_eq!(
            refused_field(one("a", ok, "text/plain; charset=utf-8", 0)),
            "attachments[0].mime_type"
        );
        assert_eq!(
            refused_field(one("a", ok, "", -1)),
            "attachments[0].size_bytes"
        );
        assert_eq!(
            refused_field(one("a", ok, "", 1 << 40)),
            "attachments[0].size_bytes"
        );
        let long_url = format!("https://x.example/{}", "a".repeat(3000));
        assert_eq!(
            refused_field(one("a", &long_url, "", 0)),
            "attachments[0].url"
        );
        assert_eq!(
            refused_field(one(&"n".repeat(201), ok, "", 0)),
            "attachments[0].name"
        );
        let many = (0..11).flat_map(|_| one("a", ok, "", 0)).collect();
        assert_eq!(refused_field(many), "attachments");
        let fine = check(
            &one(" a ", ok, "Application/PDF", 10),
            &RenderLimits::default(),
        );
        assert_eq!(fine.unwrap()[0].mime_type, "application/pdf");
    }
}
