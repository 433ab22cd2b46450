//! The layering of the library's top-level modules, checked over `src/`.
//!
//! [`LAYERS`] lists them bottom to top. A module may use modules of lower layers only: not
//! its own layer's (siblings stay independent), not a higher one. That rules out cycles by
//! construction; the cycle search runs anyway, so that a cycle is reported as a cycle.
//!
//! What counts as a use: every `crate::…` and `$crate::…` path in code (`use` lines, paths
//! in expressions, types and attributes, test modules included) and `super::…` paths that
//! climb out of a top-level module. Comments (doc links included) and string literals do
//! not count: they create no dependency of the compiled code. `src/main.rs` is the binary,
//! a crate of its own, and `src/lib.rs` only declares the modules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Bottom to top. Keep docs/architecture.md ("Layers") in step.
const LAYERS: &[&[&str]] = &[
    &["error", "pb"],
    &["ids"],
    &["telemetry", "auth", "limits", "web"],
    &["connections", "template"],
    &["workspace", "data", "usage"],
    &["catalog"],
    &["store", "sync", "import", "describe", "render", "seed"],
    &["audience"],
    &["batch"],
    &["config", "api"],
    &["server"],
];

/// One use of another top-level module: where it is and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Use {
    file: String,
    line: usize,
    target: String,
}

#[test]
fn top_level_modules_form_the_declared_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer_of = layer_table();
    let modules = top_level_modules(&src);

    let mut problems = Vec::new();
    for module in &modules {
        if !layer_of.contains_key(module.as_str()) {
            problems.push(format!(
                "src/{module}: a top-level module missing from LAYERS in tests/layers.rs"
            ));
        }
    }
    for module in layer_of.keys() {
        if !modules.contains(*module) {
            problems.push(format!(
                "LAYERS names `{module}`, which is not a module under src/"
            ));
        }
    }

    let uses = scan_crate(&src);
    for (from, list) in &uses {
        let Some(&from_layer) = layer_of.get(from.as_str()) else {
            continue;
        };
        for u in list {
            match layer_of.get(u.target.as_str()) {
                None => problems.push(format!(
                    "{}:{}: `{from}` uses `crate::{}`, which is not in LAYERS",
                    u.file, u.line, u.target
                )),
                Some(&to_layer) if to_layer >= from_layer => problems.push(format!(
                    "{}:{}: `{from}` (layer {from_layer}) uses `{}` (layer {to_layer}); a module \
                     may only use modules of lower layers (tests/layers.rs, docs/architecture.md)",
                    u.file, u.line, u.target
                )),
                Some(_) => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(&uses) {
        problems.push(cycle);
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n  {}",
        problems.join("\n  ")
    );
}

fn layer_table() -> BTreeMap<&'static str, usize> {
    let mut layer_of = BTreeMap::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            assert!(
                layer_of.insert(*module, i).is_none(),
                "`{module}` appears twice in LAYERS"
            );
        }
    }
    layer_of
}

/// `foo` for `src/foo.rs` and `src/foo/mod.rs`; not `lib` or `main`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("reading src/") {
        let path = entry.expect("reading src/").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if path.join("mod.rs").exists() {
                modules.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
            && stem != "main"
        {
            modules.insert(stem.to_string());
        }
    }
    modules
}

/// Uses of other top-level modules, by the top-level module they are made from.
fn scan_crate(src: &Path) -> BTreeMap<String, Vec<Use>> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let mut uses: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let module_path = module_path(rel);
        let Some(top) = module_path.first().cloned() else {
            continue; // lib.rs
        };
        if top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        let display = format!("src/{}", rel.display());
        for (line, target) in crate_uses(&text, &module_path) {
            if target != top {
                uses.entry(top.clone()).or_default().push(Use {
                    file: display.clone(),
                    line,
                    target,
                });
            }
        }
    }
    uses
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading a source directory") {
        let path = entry.expect("reading a source directory").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `catalog/search/rank.rs` -> `[catalog, search, rank]`; `catalog/mod.rs` -> `[catalog]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap();
    if stem != "mod" && !(parts.is_empty() && stem == "lib") {
        parts.push(stem.to_string());
    }
    parts
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other,
}

/// Tokens of the code with comments and literals left out, each with its line.
fn tokens(text: &str) -> Vec<(usize, Tok)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1, &mut line);
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && matches!(at(i + usize::from(c == 'b') + 1), '"' | '#')
            && raw_string_start(&chars, i + usize::from(c == 'b') + 1).is_some()
        {
            let start = i + usize::from(c == 'b') + 1;
            let hashes = raw_string_start(&chars, start).unwrap();
            i = start + hashes + 1;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                    i += hashes + 1;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
        } else if c == 'b' && at(i + 1) == '"' {
            i = skip_string(&chars, i + 2, &mut line);
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            let q = i + usize::from(c == 'b');
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if at(q + 1) == '\\' {
                let mut j = q + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else if c == 'b' {
                out.push((line, Tok::Ident("b".into())));
                i += 1;
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = if word == "$crate" {
                "crate".into()
            } else {
                word
            };
            out.push((line, Tok::Ident(word)));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((line, Tok::PathSep));
            i += 2;
        } else {
            out.push((
                line,
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    _ => Tok::Other,
                },
            ));
            i += 1;
        }
    }
    out
}

fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// For `r"` / `r#"` starting at `i` (just after the `r`): how many `#`.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let mut hashes = 0;
    while chars.get(i + hashes) == Some(&'#') {
        hashes += 1;
    }
    (chars.get(i + hashes) == Some(&'"')).then_some(hashes)
}

/// The top-level modules a file's code names, with their lines. `module_path` is the
/// file's own module (`[catalog, search]`), for resolving `super::`; inline `mod x { … }`
/// blocks are followed.
fn crate_uses(text: &str, module_path: &[String]) -> Vec<(usize, String)> {
    let toks = tokens(text);
    let mut found = Vec::new();
    // The inline modules we are in, with the brace depth their body opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let prev_is_sep = i > 0 && toks[i - 1].1 == Tok::PathSep;
        match &toks[i].1 {
            Tok::Open => depth += 1,
            Tok::Close => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(word) if word == "mod" => {
                if let (Some((_, Tok::Ident(name))), Some((_, Tok::Open))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            Tok::Ident(word)
                if word == "crate"
                    && !prev_is_sep
                    && toks.get(i + 1).map(|t| &t.1) == Some(&Tok::PathSep) =>
            {
                found.extend(first_segments(&toks, i + 2));
            }
            Tok::Ident(word) if word == "super" && !prev_is_sep => {
                let mut here: Vec<String> = module_path.to_vec();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut j = i;
                let mut climbs = 0;
                while let (Some((_, Tok::Ident(w))), Some((_, Tok::PathSep))) =
                    (toks.get(j), toks.get(j + 1))
                {
                    if w != "super" {
                        break;
                    }
                    climbs += 1;
                    j += 2;
                }
                if climbs > 0 {
                    let remaining = here.len().saturating_sub(climbs);
                    if remaining == 0 {
                        found.extend(first_segments(&toks, j));
                    } else {
                        found.push((toks[i].0, here[0].clone()));
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// After `crate::`: the first segment, or each item's first segment of a `{…}` group.
fn first_segments(toks: &[(usize, Tok)], i: usize) -> Vec<(usize, String)> {
    match toks.get(i) {
        Some((line, Tok::Ident(name))) => vec![(*line, name.clone())],
        Some((_, Tok::Open)) => {
            let mut out = Vec::new();
            let mut depth = 0;
            let mut expect_item = true;
            for (line, tok) in &toks[i..] {
                match tok {
                    Tok::Open => {
                        depth += 1;
                        continue;
                    }
                    Tok::Close => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Comma if depth == 1 => {
                        expect_item = true;
                        continue;
                    }
                    Tok::Ident(name) if depth == 1 && expect_item && name != "self" => {
                        out.push((*line, name.clone()));
                    }
                    _ => {}
                }
                expect_item = false;
            }
            out
        }
        _ => Vec::new(),
    }
}

/// A cycle among the uses, described edge by edge with the first place each edge is made.
fn find_cycle(uses: &BTreeMap<String, Vec<Use>>) -> Option<String> {
    fn visit<'a>(
        node: &'a str,
        uses: &'a BTreeMap<String, Vec<Use>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        state.insert(node, 1);
        stack.push(node);
        for u in uses.get(node).into_iter().flatten() {
            match state.get(u.target.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|n| *n == u.target).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(u.target.as_str());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(u.target.as_str(), uses, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in uses.keys() {
        if state.contains_key(node.as_str()) {
            continue;
        }
        if let Some(cycle) = visit(node, uses, &mut state, &mut Vec::new()) {
            let mut text = format!("cycle: {}", cycle.join(" -> "));
            for pair in cycle.windows(2) {
                let u = uses[pair[0]].iter().find(|u| u.target == pair[1]).unwrap();
                let _ = write!(
                    text,
                    "\n    {} -> {} at {}:{}",
                    pair[0], pair[1], u.file, u.line
                );
            }
            return Some(text);
        }
    }
    None
}

/// The scanner itself, on text where a naive search would be wrong.
#[test]
fn the_scanner_sees_code_only() {
    let text = r##"
//! Doc links do not count: [`crate::server`].
use crate::{error::Result, ids::{self, ScopeKind}};
use crate::data;
/* a block /* nested */ crate::api */
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::render";
    let _ = r#"crate::batch "quoted""#;
    let _ = crate::telemetry::record();
    let _ = super::super::catalog::Catalog::new();
    let _ = super::sibling::thing();
    'x'
}
pub(crate) fn g() {}
#[cfg(test)]
mod tests {
    use super::super::super::config::Config;
    use crate::store;
}
"##;
    let found = crate_uses(text, &["template".into(), "engine".into()]);
    let names: Vec<(usize, &str)> = found.iter().map(|(l, n)| (*l, n.as_str())).collect();
    assert_eq!(
        names,
        [
            (3, "error"),
            (3, "ids"),
            (4, "data"),
            (9, "telemetry"),
            (10, "catalog"),
            (11, "template"),
            (17, "config"),
            (18, "store"),
        ]
    );
}

#[test]
fn an_upward_use_is_reported_with_its_file_and_line() {
    let mut uses = BTreeMap::new();
    uses.insert(
        "ids".to_string(),
        vec![Use {
            file: "src/ids.rs".into(),
            line: 7,
            target: "catalog".into(),
        }],
    );
    uses.insert(
        "catalog".to_string(),
        vec![Use {
            file: "src/catalog/mod.rs".into(),
            line: 3,
            target: "ids".into(),
        }],
    );
    let cycle = find_cycle(&uses).expect("a cycle");
    assert!(cycle.contains("src/ids.rs:7"), "{cycle}");
    assert!(cycle.contains("src/catalog/mod.rs:3"), "{cycle}");
}
