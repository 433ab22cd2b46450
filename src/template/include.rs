//! Snippets: `{% include "signature" %}` of another shortcut of the same workspace marked as
//! a snippet. The include is replaced by the snippet's body when the includer is compiled
//! (and compiled again whenever a snippet it uses changes), so a render runs one program:
//! the snippet's instructions spend the render's fuel and output budget like the
//! includer's own, and nothing is looked up while rendering.
//!
//! Bounds, checked when written: includes nest at most [`MAX_INCLUDE_DEPTH`] deep, no cycle
//! (a shortcut including itself, directly or through others), and the expanded text is at
//! most [`EXPANSION_FACTOR`] times the body limit (a snippet included twice by a snippet
//! included twice… cannot grow exponentially).

/// Where snippet bodies come from (the catalogue of the includer's workspace).
pub trait Snippets {
    /// The body of the snippet with this name (a bang, compared without case), or why
    /// there is none to include.
    fn body(&self, name: &str) -> Result<String, String>;
}

/// No snippets at all: every include is an error.
pub struct NoSnippets;

impl Snippets for NoSnippets {
    fn body(&self, name: &str) -> Result<String, String> {
        Err(format!("there is no snippet {name:?} to include here"))
    }
}

pub const MAX_INCLUDE_DEPTH: usize = 8;
pub const EXPANSION_FACTOR: usize = 4;

/// A body with its includes replaced.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    pub text: String,
    /// Every snippet it uses, directly or not, lower-cased, each once.
    pub includes: Vec<String>,
}

/// An include tag found in a text: its byte range (the whole `{% … %}`) and the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeTag {
    pub start: usize,
    pub end: usize,
    pub name: String,
    /// `{%-` / `-%}`: the whitespace before / after the tag is removed, as minijinja does.
    pub trim_before: bool,
    pub trim_after: bool,
}

/// The `{% include "name" %}` tags of a text (also `{%- … -%}` and single quotes).
pub fn include_tags(text: &str) -> Vec<IncludeTag> {
    let mut out = Vec::new();
    let mut cursor = 0;
    while let Some(found) = text[cursor..].find("{%") {
        let start = cursor + found;
        let Some(close) = text[start + 2..].find("%}") else {
            break;
        };
        let end = start + 2 + close + 2;
        cursor = end;
        let raw = &text[start + 2..end - 2];
        let (trim_before, trim_after) = (raw.starts_with('-'), raw.ends_with('-'));
        let inner = raw.trim_start_matches('-').trim_end_matches('-').trim();
        let Some(rest) = inner.strip_prefix("include") else {
            continue;
        };
        let rest = rest.trim();
        let quoted = |q: char| {
            rest.strip_prefix(q)
                .and_then(|r| r.strip_suffix(q))
                .filter(|name| !name.contains(q) && !name.contains('\\'))
        };
        if let Some(name) = quoted('"').or_else(|| quoted('\'')) {
            out.push(IncludeTag {
                start,
                end,
                name: name.to_string(),
                trim_before,
                trim_after,
            });
        }
    }
    out
}

/// Replaces every include of `source` (the body of `own`, a bang, or `None` for an inline
/// body) with the snippet's expanded body. The error says what went wrong, naming the
/// chain of includes.
pub fn expand(
    own: Option<&str>,
    source: &str,
    snippets: &dyn Snippets,
    max_bytes: usize,
) -> Result<Expanded, String> {
    let mut includes = Vec::new();
    let mut chain: Vec<String> = own.map(|o| o.to_lowercase()).into_iter().collect();
    let text = expand_in(source, snippets, &mut chain, &mut includes, max_bytes)?;
    Ok(Expanded { text, includes })
}

fn expand_in(
    text: &str,
    snippets: &dyn Snippets,
    chain: &mut Vec<String>,
    includes: &mut Vec<String>,
    max_bytes: usize,
) -> Result<String, String> {
    let tags = include_tags(text);
    if tags.is_empty() {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for tag in tags {
        let key = tag.name.to_lowercase();
        if chain.contains(&key) {
            let path: Vec<String> = chain
                .iter()
                .chain(std::iter::once(&key))
                .map(|n| format!("!{n}"))
                .collect();
            return Err(format!("the includes form a cycle: {}", path.join(" → ")));
        }
        if chain.len() > MAX_INCLUDE_DEPTH {
            return Err(format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} levels"
            ));
        }
        let body = snippets.body(&tag.name)?;
        if !includes.contains(&key) {
            includes.push(key.clone());
        }
        chain.push(key);
        let inner = expand_in(&body, snippets, chain, includes, max_bytes)?;
        chain.pop();
        let before = &text[cursor..tag.start];
        out.push_str(if tag.trim_before {
            before.trim_end()
        } else {
            before
        });
        out.push_str(&inner);
        cursor = tag.end;
        if tag.trim_after {
            cursor += text[cursor..].len() - text[cursor..].trim_start().len();
        }
        if out.len() > max_bytes {
            return Err(format!(
                "the includes expand to more than {max_bytes} bytes"
            ));
        }
    }
    out.push_str(&text[cursor..]);
    if out.len() > max_bytes {
        return Err(format!(
            "the includes expand to more than {max_bytes} bytes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl Snippets for Map {
        fn body(&self, name: &str) -> Result<String, String> {
            self.0
                .get(name)
                .map(|b| b.to_string())
                .ok_or_else(|| format!("no snippet {name}"))
        }
    }

    #[test]
    fn includes_are_found_and_expanded() {
        let tags = include_tags("a{% include \"sig\" %}b{%- include 'x' -%}{% include name %}");
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["sig", "x"]);
        let snippets = Map([("sig", "S{% include \"x\" %}"), ("x", "X")].into());
        let out = expand(Some("me"), "a{% include \"sig\" %}b", &snippets, 1000).unwrap();
        assert_eq!(out.text, "aSXb");
        assert_eq!(out.includes, ["sig", "x"]);
    }

    #[test]
    fn cycles_depth_and_size_are_refused() {
        let snippets = Map([("a", "{% include \"b\" %}"), ("b", "{% include \"a\" %}")].into());
        let err = expand(Some("a"), "{% include \"b\" %}", &snippets, 1000).unwrap_err();
        assert!(err.contains("!a → !b → !a"), "{err}");
        let err = expand(Some("me"), "{% include \"me\" %}", &snippets, 1000).unwrap_err();
        assert!(err.contains("cycle"), "{err}");
        // Fan-out: each level includes the next twice.
        let levels: HashMap<&'static str, &'static str> = [
            ("l0", "{% include \"l1\" %}{% include \"l1\" %}"),
            ("l1", "{% include \"l2\" %}{% include \"l2\" %}"),
            ("l2", "{% include \"l3\" %}{% include \"l3\" %}"),
            ("l3", "0123456789012345678901234567890123456789"),
        ]
        .into();
        let err = expand(None, "{% include \"l0\" %}", &Map(levels), 200).unwrap_err();
        assert!(err.contains("more than 200 bytes"), "{err}");
        let deep: HashMap<&'static str, &'static str> = [
            ("d0", "{% include \"d1\" %}"),
            ("d1", "{% include \"d2\" %}"),
            ("d2", "{% include \"d3\" %}"),
            ("d3", "{% include \"d4\" %}"),
            ("d4", "{% include \"d5\" %}"),
            ("d5", "{% include \"d6\" %}"),
            ("d6", "{% include \"d7\" %}"),
            ("d7", "{% include \"d8\" %}"),
            ("d8", "{% include \"d9\" %}"),
            ("d9", "end"),
        ]
        .into();
        let err = expand(Some("top"), "{% include \"d0\" %}", &Map(deep), 1000).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
    }
}
