//! URL templates (an attachment's `url`): every printed value is percent-encoded, so that
//! data can fill a path segment or a query value but never change the URL's structure.
//!
//! A URL template compiles like a body, with each `<<expr>>` rewritten to
//! `<<(expr)|__url_value>>`. That filter prints the value between two private-use markers
//! (after removing any marker from the value itself), so that after the render
//! [`finish`] can tell the author's text, which is kept as written and decides where each
//! part of the URL starts, from the values, which are percent-encoded as URI components.
//! Whatever a template does with its values on the way (macros, `{% filter %}` blocks,
//! `|safe`), only this filter makes markers, outermost, so no value escapes encoding;
//! markers left unbalanced make the URL invalid rather than let text through unencoded.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::trace;

/// The filter wrapped around every `<<…>>` of a URL template. Double underscore: no author
/// can call it.
pub(crate) const URL_VALUE_FILTER: &str = "__url_value";

/// Where a value starts and ends in a rendered URL (Unicode private-use characters).
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// What a value keeps unencoded: RFC 3986's unreserved characters. Everything that could
/// end a path segment (`/`, `?`, `#`), separate query parameters (`&`, `=`, `+`, `;`) or
/// start an escape (`%`) is encoded, so one set is right for a path segment, a query value,
/// a fragment and a host label alike.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a URL template's source has a marker character (which it may not hold), as a byte
/// offset.
pub(crate) fn marker_in(source: &str) -> Option<usize> {
    source.find([OPEN, CLOSE])
}

/// The `__url_value` filter: a missing value stays missing (so that it is reported like
/// the body's), text, numbers and booleans are marked for encoding, anything else fails.
pub(crate) fn url_value(value: Value) -> Result<Value, Error> {
    if trace::is_missing(&value) {
        // Undefined stays undefined (`missing` then names its path); none and blanks print
        // nothing rather than "none" or spaces.
        return Ok(if value.is_undefined() {
            value
        } else {
            Value::from("")
        });
    }
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        ValueKind::Number | ValueKind::Bool => value.to_string(),
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("a {kind} cannot be printed into a URL; print one of its fields"),
            ));
        }
    };
    let mut marked = String::with_capacity(text.len() + 6);
    marked.push(OPEN);
    marked.extend(text.chars().filter(|c| *c != OPEN && *c != CLOSE));
    marked.push(CLOSE);
    Ok(Value::from(marked))
}

/// Rewrites each printed expression (`start..end` byte ranges of `source`, in order) to
/// pass through [`URL_VALUE_FILTER`].
pub(crate) fn wrap_values(source: &str, emits: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(source.len() + emits.len() * 20);
    let mut cursor = 0;
    for &(start, end) in emits {
        if start < cursor || end > source.len() {
            continue;
        }
        out.push_str(&source[cursor..start]);
        out.push('(');
        out.push_str(&source[start..end]);
        out.push_str(")|");
        out.push_str(URL_VALUE_FILTER);
        cursor = end;
    }
    out.push_str(&source[cursor..]);
    out
}

/// Which part of the URL the author's text has reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Up to and including `://`.
    Scheme,
    Authority,
    Path,
    Query,
    Fragment,
}

/// Turns a rendered URL template into the URL: values percent-encoded, then the whole
/// checked (absolute `http` or `https`, parses, at most `max_bytes`). The error says why
/// the result is not a usable URL.
pub fn finish(rendered: &str, max_bytes: usize) -> Result<String, String> {
    let mut url = String::with_capacity(rendered.len().min(max_bytes) + 16);
    let mut part = Part::Scheme;
    let mut slashes = 0;
    let mut in_value = false;
    // Where the current path segment starts in `url`, and whether a value wrote into it.
    let (mut segment_start, mut segment_has_value) = (0, false);
    let dot_segment = |url: &str, start: usize, has_value: bool| {
        let segment = &url[start..];
        has_value && (segment == "." || segment == "..")
    };
    for c in rendered.chars() {
        match c {
            OPEN if !in_value => {
                in_value = true;
                continue;
            }
            CLOSE if in_value => {
                in_value = false;
                continue;
            }
            OPEN | CLOSE => return Err("the template mixed up its values' text".into()),
            _ => {}
        }
        if in_value {
            let mut buf = [0; 4];
            url.extend(utf8_percent_encode(c.encode_utf8(&mut buf), COMPONENT));
            if part == Part::Path {
                segment_has_value = true;
            }
        } else {
            if part == Part::Path
                && matches!(c, '/' | '?' | '#')
                && dot_segment(&url, segment_start, segment_has_value)
            {
                return Err(dot_message());
            }
            part = match (part, c) {
                (Part::Scheme, '/') => {
                    slashes += 1;
                    if slashes == 2 {
                        Part::Authority
                    } else {
                        Part::Scheme
                    }
                }
                (Part::Authority | Part::Path, '/') => Part::Path,
                (Part::Authority | Part::Path, '?') => Part::Query,
                (Part::Authority | Part::Path | Part::Query, '#') => Part::Fragment,
                (part, _) => part,
            };
            url.push(c);
            if part == Part::Path && c == '/' {
                (segment_start, segment_has_value) = (url.len(), false);
            }
        }
        if url.len() > max_bytes {
            return Err(format!("the URL grew past {max_bytes} bytes"));
        }
    }
    if in_value {
        return Err("the template mixed up its values' text".into());
    }
    if part == Part::Path && dot_segment(&url, segment_start, segment_has_value) {
        return Err(dot_message());
    }
    check(&url)?;
    Ok(url)
}

fn dot_message() -> String {
    "a value made a `.` or `..` path segment, which would change the URL's path".into()
}

/// Whether `text` is an absolute `http` or `https` URL with a host.
pub fn check(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "is a {} URL; attachments are http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> String {
        format!("{OPEN}{text}{CLOSE}")
    }

    #[test]
    fn values_are_encoded_and_cannot_change_the_structure() {
        let hostile = value("../../admin?x=1#");
        let rendered = format!("https://shop.example/orders/{hostile}/invoice.pdf?o={hostile}");
        let url = finish(&rendered, 2048).unwrap();
        assert_eq!(
            url,
            "https://shop.example/orders/..%2F..%2Fadmin%3Fx%3D1%23/invoice.pdf?o=..%2F..%2Fadmin%3Fx%3D1%23"
        );
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(
            parsed.path_segments().unwrap().collect::<Vec<_>>(),
            ["orders", "..%2F..%2Fadmin%3Fx%3D1%23", "invoice.pdf"]
        );
        assert_eq!(parsed.query_pairs().count(), 1);
        assert_eq!(parsed.fragment(), None);
    }

    #[test]
    fn text_and_non_ascii_values() {
        let url = finish(
            &format!("https://x.example/q?name={}&n=1", value("Zoë & co")),
            2048,
        )
        .unwrap();
        assert_eq!(url, "https://x.example/q?name=Zo%C3%AB%20%26%20co&n=1");
    }

    #[test]
    fn a_value_making_a_dot_segment_is_refused() {
        for v in ["..", "."] {
            let err = finish(&format!("https://x.example/a/{}/b", value(v)), 2048).unwrap_err();
            assert!(err.contains("path segment"), "{err}");
            let err = finish(&format!("https://x.example/a/{}", value(v)), 2048).unwrap_err();
            assert!(err.contains("path segment"), "{err}");
        }
        // Dots inside a longer segment, or in the query, are harmless.
        assert!(finish(&format!("https://x.example/a/{}.pdf", value("..")), 2048).is_ok());
        assert!(finish(&format!("https://x.example/a?x={}", value("..")), 2048).is_ok());
    }

    #[test]
    fn unbalanced_markers_and_bad_results_are_errors() {
        assert!(finish(&format!("https://x.example/{CLOSE}a{OPEN}"), 2048).is_err());
        assert!(finish(&format!("https://x.example/{OPEN}a"), 2048).is_err());
        assert!(finish("ftp://x.example/a", 2048).is_err());
        assert!(finish("https://", 2048).is_err());
        assert!(finish(&format!("{}://x.example/", value("javascript")), 2048).is_err());
        let long = format!("https://x.example/{}", value(&"a".repeat(3000)));
        assert!(finish(&long, 2048).unwrap_err().contains("2048 bytes"));
    }

    /// Through the engine: whatever the template does with a value, what it prints is
    /// encoded; missing values are reported as the body's are.
    #[test]
    fn compiled_url_templates_encode_every_printed_value() {
        use crate::template::{Engine, RenderLimits};
        let engine = Engine::new(RenderLimits::default());
        let hostile = "../../admin?x=1#";
        let context = minijinja::context! { contact => minijinja::context! { r => hostile } };
        for source in [
            "https://x.example/o/<<contact.r>>",
            "https://x.example/o/<<contact.r | safe>>",
            "https://x.example/o/{% set v %}<<contact.r>>{% endset %}<<v>>",
            "https://x.example/o/{% macro m(v) %}<<v>>{% endmacro %}<<m(contact.r)>>",
            "https://x.example/o/{% filter upper %}<<contact.r | lower>>{% endfilter %}",
            "https://x.example/o/{% autoescape false %}<<contact.r>>{% endautoescape %}",
        ] {
            let compiled = engine.compile_url(source).unwrap();
            let rendered = engine.render(&compiled, context.clone()).unwrap();
            let url = finish(&rendered.text, 2048).unwrap();
            let parsed = url::Url::parse(&url).unwrap();
            assert_eq!(
                parsed.path_segments().unwrap().count(),
                2,
                "{source}: {url}"
            );
            assert_eq!(
                (parsed.query(), parsed.fragment()),
                (None, None),
                "{source}: {url}"
            );
        }
        let compiled = engine
            .compile_url("https://x.example/<<contact.none>>/a")
            .unwrap();
        let rendered = engine.render(&compiled, context.clone()).unwrap();
        assert_eq!(rendered.missing, ["contact.none"]);
        assert_eq!(
            finish(&rendered.text, 2048).unwrap(),
            "https://x.example//a"
        );
        // Errors keep the author's line and column; the internal filter cannot be named.
        let errors = engine
            .compile_url("https://x.example/<<contact.r")
            .unwrap_err();
        assert_eq!(errors[0].line, 1);
        assert!(
            engine
                .compile_url("https://x.example/<<contact.r | __url_value>>")
                .is_err()
        );
        assert!(engine.compile_url("https://x.example/\u{E000}").is_err());
    }

    #[test]
    fn the_filter_marks_text_and_strips_markers() {
        let v = url_value(Value::from(format!("a{OPEN}b{CLOSE}c"))).unwrap();
        assert_eq!(v.as_str().unwrap(), value("abc"));
        assert_eq!(
            url_value(Value::from(12)).unwrap().as_str().unwrap(),
            value("12")
        );
        assert!(url_value(Value::UNDEFINED).unwrap().is_undefined());
        assert_eq!(url_value(Value::from(())).unwrap().as_str(), Some(""));
        assert!(url_value(Value::from(vec![1, 2])).is_err());
    }
}
