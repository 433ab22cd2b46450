//! Write-time help beyond hard errors: warnings about what a valid template will probably
//! not do as meant (Liquid or Handlebars `{{ … }}` that prints literally, `fallback` on a
//! literal), and recovery after a syntax error so that one answer lists the independent
//! errors of the rest of the body.
//!
//! Only `ValidateTemplate` and shortcut writes run this; a render never does.

use minijinja::Value;

use super::SCOPES;
use super::analysis::FilterUse;
use super::engine::TemplateWarning;

/// How many broken constructs one check steps over before giving up.
pub const MAX_RECOVERIES: usize = 20;
/// The longest `{{ … }}` recognised (a longer run of text is not a placeholder).
const MAX_BRACES_CHARS: usize = 200;

fn warning(line: u32, column: u32, message: String, suggestion: String) -> TemplateWarning {
    TemplateWarning {
        field: "body".to_string(),
        line,
        column,
        message,
        suggestion,
    }
}

/// `<<"x" | fallback("y")>>`: a literal is never empty, so its fallback never shows.
pub fn fallback_on_literal(filter: &FilterUse, position: (u32, u32)) -> Option<TemplateWarning> {
    let input = filter.input.as_ref()?;
    if filter.name != "fallback" || is_empty(input) {
        return None;
    }
    Some(warning(
        position.0,
        position.1,
        format!(
            "`fallback` on the literal {input} never applies: a literal is never empty; put it after a placeholder path (`<<contact.first_name | fallback(\"there\")>>`)"
        ),
        String::new(),
    ))
}

fn is_empty(value: &Value) -> bool {
    value.is_none() || value.is_undefined() || value.as_str().is_some_and(str::is_empty)
}

/// Every `{{ … }}` (Liquid, Handlebars, Mustache) in the text: with `<<…>>` delimiters it
/// prints as written. `line_col` maps a byte offset to a position.
pub fn foreign_braces(
    source: &str,
    line_col: impl Fn(usize) -> (u32, u32),
) -> Vec<TemplateWarning> {
    let mut out = Vec::new();
    let mut cursor = 0;
    while let Some(found) = source[cursor..].find("{{") {
        let start = cursor + found;
        let inner_start = start + 2;
        let Some(close) = source[inner_start..].find("}}") else {
            break;
        };
        let inner = &source[inner_start..inner_start + close];
        cursor = inner_start + close + 2;
        if inner.chars().count() > MAX_BRACES_CHARS || inner.contains("{{") {
            cursor = inner_start;
            continue;
        }
        // `{{{ x }}}` (Handlebars' unescaped form) is the same placeholder.
        let inner = inner.trim_start_matches('{').trim();
        if source[cursor..].starts_with('}') {
            cursor += 1;
        }
        if inner.is_empty() {
            continue;
        }
        let (line, column) = line_col(start);
        let suggestion = translate(inner).unwrap_or_default();
        let mut message = format!(
            "`{{{{{}}}}}` prints literally: placeholders are written `<<…>>` and statements `{{% … %}}`",
            shorten(inner)
        );
        if !suggestion.is_empty() {
            message.push_str(&format!("; did you mean `{suggestion}`?"));
        }
        out.push(warning(line, column, message, suggestion));
    }
    out
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        return format!(" {text} ");
    }
    format!(" {}… ", text.chars().take(MAX).collect::<String>())
}

/// Our spelling of a Liquid or Handlebars construct, when there is an obvious one.
fn translate(inner: &str) -> Option<String> {
    let mut words = inner.split_whitespace();
    let first = words.next()?;
    let rest: Vec<&str> = words.collect();
    let rest = rest.join(" ");
    let path = |text: &str| -> Option<String> { scoped(text.trim()) };
    Some(match first {
        "#if" => format!("{{% if {} %}}", path(&rest)?),
        "#unless" => format!("{{% if not {} %}}", path(&rest)?),
        "/if" | "/unless" => "{% endif %}".to_string(),
        "else" if rest.is_empty() => "{% else %}".to_string(),
        "#each" => format!("{{% for item in {} %}}", path(&rest)?),
        "/each" => "{% endfor %}".to_string(),
        _ => {
            // Liquid filters: `x | default: "y"`, `x | upcase`.
            let mut parts = inner.split('|');
            let mut out = path(parts.next()?)?;
            for filter in parts {
                let filter = filter.trim();
                let (name, args) = match filter.split_once(':') {
                    Some((name, args)) => (name.trim(), Some(args.trim())),
                    None => (filter, None),
                };
                let name = match name {
                    "default" => "fallback",
                    "upcase" => "upper",
                    "downcase" => "lower",
                    "capitalize" => "capitalize",
                    "strip" => "trim",
                    other => other,
                };
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return None;
                }
                match args {
                    Some(args) => out.push_str(&format!(" | {name}({args})")),
                    None => out.push_str(&format!(" | {name}")),
                }
            }
            format!("<<{out}>>")
        }
    })
}

/// A dotted path, under `contact` when it names no scope (Intercom's `{{first_name}}`).
fn scoped(text: &str) -> Option<String> {
    let ok = !text.is_empty()
        && text
            .split('.')
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !ok {
        return None;
    }
    let root = text.split('.').next()?;
    Some(if SCOPES.contains(&root) {
        text.to_string()
    } else {
        format!("contact.{text}")
    })
}

/// Handlebars blocks (`{{#if x}}`) open a comment (`{#`) in our syntax; the resulting
/// "end of comment" errors get a hint saying so.
pub fn explain_braces(source: &str, errors: &mut [crate::error::TemplateDiagnostic]) {
    if !source.contains("{{#") {
        return;
    }
    for error in errors.iter_mut().filter(|e| e.message.contains("comment")) {
        error.message.push_str(
            " (`{{#…}}` is Handlebars: `{#` starts a comment here; write blocks as `{% if … %}`…`{% endif %}`)",
        );
    }
}

/// After a syntax error at `range`, steps over the broken construct (a `<<…>>`, `{% … %}`
/// or `{# … #}`, else the line) and parses again, up to [`MAX_RECOVERIES`] times. Returns the
/// errors found further on (byte offset and message each) and, when the text finally
/// parsed, the repaired text: the same length and line breaks as `source`, so that every
/// position in it is a position in `source`.
pub fn recover(
    source: &str,
    first: std::ops::Range<usize>,
    parse: impl Fn(&str) -> Result<(), minijinja::Error>,
) -> (Vec<minijinja::Error>, Option<String>) {
    let mut text = source.to_string();
    let mut errors = Vec::new();
    let mut at = first.start;
    let mut last = first.start;
    for _ in 0..MAX_RECOVERIES {
        let Some((start, end)) = construct_around(&text, at) else {
            return (errors, None);
        };
        let replacement = repair(&text[start..end]);
        if replacement == text[start..end] {
            return (errors, None);
        }
        text.replace_range(start..end, &replacement);
        match parse(&text) {
            Ok(()) => return (errors, Some(text)),
            Err(err) => {
                let Some(range) = err.range() else {
                    return (errors, None);
                };
                // The same error again (a repair that did not help): stop.
                if range.start == last {
                    return (errors, None);
                }
                last = range.start;
                // An error at the end of the text (an unclosed block) cannot be stepped over.
                if range.start >= text.len() {
                    errors.push(err);
                    return (errors, None);
                }
                // The same place again: an error caused by the repair itself; stop.
                if range.start < end && range.start >= start {
                    return (errors, None);
                }
                at = range.start;
                errors.push(err);
            }
        }
    }
    (errors, None)
}

/// The byte range of the broken construct at `offset`: the nearest `<<…>>`, `{% … %}` or
/// `{# … #}` that reaches past it, or just the opener of one that is never closed (the
/// usual cause of an error at the end of the text); else the line.
fn construct_around(text: &str, offset: usize) -> Option<(usize, usize)> {
    const OPENERS: [(&str, &str); 3] = [("<<", ">>"), ("{%", "%}"), ("{#", "#}")];
    /// How many constructs before the error are looked at.
    const MAX_CANDIDATES: usize = 64;
    let offset = floor_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut candidates: Vec<(usize, &str)> = Vec::new();
    for (open, close) in OPENERS {
        if text[offset..].starts_with(open) {
            candidates.push((offset, close));
        }
        let mut cursor = offset;
        while let Some(i) = text[..cursor].rfind(open) {
            candidates.push((i, close));
            if candidates.len() >= MAX_CANDIDATES * OPENERS.len() {
                break;
            }
            cursor = i;
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (start, close) in candidates.into_iter().take(MAX_CANDIDATES) {
        match text[start + 2..].find(close) {
            None => return Some((start, start + 2)),
            Some(i) => {
                let end = start + 2 + i + 2;
                if end > offset || start == offset {
                    return Some((start, end));
                }
            }
        }
    }
    (line_end > line_start).then_some((line_start, line_end))
}

fn floor_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A broken construct replaced by a valid one of the same byte length and line breaks: a
/// block tag keeps its kind (so that its end tag still matches), anything else is blanked.
fn repair(broken: &str) -> String {
    let blank = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c == '\n' {
                    "\n".to_string()
                } else {
                    " ".repeat(c.len_utf8())
                }
            })
            .collect()
    };
    let keyword = broken
        .strip_prefix("{%")
        .map(|rest| rest.trim_start_matches('-').trim_start())
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphabetic()).next())
        .unwrap_or("");
    let stand_in = match keyword {
        "if" => Some("{%if 1%}"),
        "elif" => Some("{%elif 1%}"),
        "for" => Some("{%for _ in []%}"),
        "with" => Some("{%with%}"),
        "filter" => Some("{%filter upper%}"),
        "macro" => Some("{%macro m()%}"),
        "call" => Some("{%call m()%}"),
        "set" if !broken.contains('=') => Some("{%set _%}"),
        _ => None,
    };
    match stand_in {
        Some(tag) if tag.len() <= broken.len() && !broken.contains('\n') => {
            format!("{tag}{}", " ".repeat(broken.len() - tag.len()))
        }
        _ => blank(broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_are_translated_when_obvious() {
        assert_eq!(translate("contact.name").unwrap(), "<<contact.name>>");
        assert_eq!(
            translate("first_name | default: \"there\"").unwrap(),
            "<<contact.first_name | fallback(\"there\")>>"
        );
        assert_eq!(translate("#if vars.x").unwrap(), "{% if vars.x %}");
        assert_eq!(translate("/if").unwrap(), "{% endif %}");
        assert_eq!(translate("a b c"), None);
    }

    #[test]
    fn repairs_keep_length_and_line_breaks() {
        for broken in [
            "{% if x == %}",
            "<<contact.>>",
            "{% for x in %}",
            "<<a\n+>>",
            "{% é %}",
        ] {
            let fixed = repair(broken);
            assert_eq!(fixed.len(), broken.len(), "{broken}");
            assert_eq!(fixed.matches('\n').count(), broken.matches('\n').count());
        }
        assert!(repair("{% if x == %}").starts_with("{%if 1%}"));
    }
}
