//! The documentation's examples, run against the real server with a real grpcurl: the
//! README's first session verbatim (only the port differs), every `checked:` region of the
//! README and docs/ (commands run, shown output compared), the filter table of
//! docs/templates.md; and the pages' consistency with the code: every flag documented,
//! every link between pages resolving.

use std::path::Path;
use std::process::Command;

use crate::harness::TestServer;

/// The README's session sits between these markers, one command per line.
const START: &str = "<!-- grpcurl-session:start -->";
const END: &str = "<!-- grpcurl-session:end -->";
const README_ADDR: &str = "127.0.0.1:50051";

fn grpcurl() -> String {
    std::env::var("GRPCURL").unwrap_or_else(|_| {
        let local = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/grpcurl");
        assert!(
            std::path::Path::new(local).exists(),
            "grpcurl not found: run the suite with scripts/test.sh, which installs it"
        );
        local.to_string()
    })
}

/// The shell commands of the session: code lines, with `\` continuations joined.
fn session_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find(START)
        .expect("README has the grpcurl session start marker");
    let end = readme
        .find(END)
        .expect("README has the grpcurl session end marker");
    let block = &readme[start..end];
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for line in block.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let line = line.trim_end();
        if line.ends_with('\\') {
            current.push_str(line);
            current.push('\n');
        } else {
            current.push_str(line);
            commands.push(std::mem::take(&mut current));
        }
    }
    commands
}

#[tokio::test]
async fn the_readme_grpcurl_session_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let commands = session_commands(&readme);
    assert!(
        commands.len() >= 3,
        "the session has list, create and render: {commands:?}"
    );
    let server = TestServer::start();
    let grpcurl = grpcurl();
    let mut outputs = Vec::new();
    for command in &commands {
        assert!(command.starts_with("grpcurl "), "{command}");
        let command = command.replace(README_ADDR, &server.addr.to_string());
        let output = Command::new("bash")
            .arg("-c")
            .arg(&command)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    std::path::Path::new(&grpcurl).parent().unwrap().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .output()
            .expect("running grpcurl");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{command}\nfailed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push(stdout);
    }
    let all = outputs.join("\n");
    assert!(all.contains("shortcuts.v1.ShortcutService"), "{all}");
    assert!(
        all.contains("\"version\": \"1\""),
        "the session creates a shortcut: {all}"
    );
    let last = outputs.last().unwrap();
    let reply: serde_json::Value = serde_json::from_str(last).expect("the render answer is JSON");
    let text = reply["text"].as_str().expect("a rendered text");
    assert!(
        text.contains("Jane"),
        "rendered for the demo contact: {text}"
    );
    assert!(!text.contains("<<"), "{text}");
    if let Err(difference) = matches_shown(&shown_render_answer(&readme), &reply, "") {
        panic!("the README shows another answer than the render gives: {difference}\n{last}");
    }
}

/// The README's sample answer: the fenced JSON block right after the session's end marker.
fn shown_render_answer(readme: &str) -> serde_json::Value {
    let after = &readme[readme.find(END).expect("end marker")..];
    let blocks = fenced_blocks(after);
    let (lang, body) = blocks.first().expect("a block after the session");
    assert_eq!(lang, "json", "the README shows the render's answer as JSON");
    serde_json::from_str(body).expect("the README's answer is JSON")
}

/// A fenced block: its info string and its text.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((info.trim().to_string(), String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

/// Whether a real answer is what the docs show: the same fields (none more, none fewer),
/// the same values, except that a shown `"…"` stands for any value (ids, times, ages), absence
/// included.
fn matches_shown(
    shown: &serde_json::Value,
    actual: &serde_json::Value,
    path: &str,
) -> Result<(), String> {
    use serde_json::Value;
    match (shown, actual) {
        (Value::String(s), _) if s == "…" => Ok(()),
        (Value::Object(s), Value::Object(a)) => {
            // proto3's JSON mapping leaves out zero values, so a field shown as `"…"`
            // (an age of 0 ms, say) may be absent from the answer.
            let shown_keys: Vec<_> = s
                .iter()
                .filter(|(key, value)| a.contains_key(*key) || value.as_str() != Some("…"))
                .map(|(key, _)| key)
                .collect();
            let actual_keys: Vec<_> = a.keys().collect();
            if shown_keys != actual_keys {
                return Err(format!(
                    "{path}: fields {shown_keys:?} shown, {actual_keys:?} answered"
                ));
            }
            for key in shown_keys {
                matches_shown(&s[key], &a[key], &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(a)) => {
            if s.len() != a.len() {
                return Err(format!(
                    "{path}: {} items shown, {} answered",
                    s.len(),
                    a.len()
                ));
            }
            for (i, (s, a)) in s.iter().zip(a).enumerate() {
                matches_shown(s, a, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if shown == actual => Ok(()),
        _ => Err(format!("{path}: {shown} shown, {actual} answered")),
    }
}

/// Runs one shell command line (grpcurl on PATH), with the docs' address replaced.
fn run_command(command: &str, addr: &str, dir: &Path) -> std::process::Output {
    let grpcurl = grpcurl();
    Command::new("bash")
        .arg("-c")
        .arg(command.replace(README_ADDR, addr))
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                Path::new(&grpcurl).parent().unwrap().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .output()
        .expect("running a documented command")
}

/// The shell commands of a block: non-comment lines, with `\` continuations and lines
/// inside an open single-quoted argument joined.
fn commands_of(block: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.trim_end();
        if current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        current.push_str(line);
        if line.ends_with('\\') || current.matches('\'').count() % 2 == 1 {
            current.push('\n');
        } else {
            commands.push(std::mem::take(&mut current));
        }
    }
    commands
}

/// A `<!-- checked:start NAME key=value key="value with spaces" -->` region of a page.
struct Checked {
    page: String,
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl Checked {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn checked_regions(page: &str, text: &str) -> Vec<Checked> {
    let mut regions = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<!-- checked:start ") {
        let open = &rest[at + "<!-- checked:start ".len()..];
        let close = open.find("-->").expect("checked:start marker closed");
        let mut words = shell_words(&open[..close]);
        assert!(!words.is_empty(), "{page}: a checked region needs a name");
        let name = words.remove(0);
        let attrs = words
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (w, String::new()),
            })
            .collect();
        let body = &open[close + 3..];
        let end_marker = format!("<!-- checked:end {name} -->");
        let end = body
            .find(&end_marker)
            .unwrap_or_else(|| panic!("{page}: no {end_marker}"));
        regions.push(Checked {
            page: page.to_string(),
            name,
            attrs,
            text: body[..end].to_string(),
        });
        rest = &body[end..];
    }
    regions
}

/// Splits on spaces, keeping `key="a b"` together (quotes dropped).
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.trim().chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn docs_pages() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    )];
    let mut names: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        let text = std::fs::read_to_string(root.join("docs").join(&name)).unwrap();
        pages.push((format!("docs/{name}"), text));
    }
    pages
}

/// Runs one checked region against its own server: the `file=` block written to a file,
/// the server started with `server=` flags (file names resolved), each command run, and
/// every output shown after a command compared with what the command printed.
fn run_region(region: &Checked) {
    let label = format!("{} ({})", region.name, region.page);
    let dir = tempfile::tempdir().unwrap();
    let blocks = fenced_blocks(&region.text);
    let mut rest = &blocks[..];
    if let Some(file) = region.attr("file") {
        let (lang, body) = &blocks[0];
        assert!(
            lang == "toml" || lang == "json",
            "{label}: file={file} names the region's first block, a {lang:?} block"
        );
        std::fs::write(dir.path().join(file), body).unwrap();
        rest = &rest[1..];
    }
    let flags: Vec<String> = shell_words(region.attr("server").unwrap_or(""))
        .into_iter()
        .map(|w| {
            if region.attr("file") == Some(w.as_str()) {
                dir.path().join(&w).display().to_string()
            } else {
                w
            }
        })
        .collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // Starting at all is the check for a region that only shows a configuration.
    let server = TestServer::start_on(dir.path().join("shortcuts.db"), &flags);
    let addr = server.addr.to_string();
    let mut ran = 0;
    let mut last: Option<(String, std::process::Output)> = None;
    for (lang, body) in rest {
        match lang.as_str() {
            "sh" => {
                for command in commands_of(body) {
                    let output = run_command(&command, &addr, dir.path());
                    if let Some((previous, output)) = last.take() {
                        assert!(
                            output.status.success(),
                            "{label}: {previous}\nfailed: {}",
                            String::from_utf8_lossy(&output.stderr)
                        );
                    }
                    ran += 1;
                    last = Some((command, output));
                }
            }
            "json" | "text" => {
                let (command, output) = last
                    .take()
                    .unwrap_or_else(|| panic!("{label}: output shown with no command before it"));
                let stdout = String::from_utf8_lossy(&output.stdout);
                let stderr = String::from_utf8_lossy(&output.stderr);
                if lang == "json" {
                    assert!(
                        output.status.success(),
                        "{label}: {command}\nfailed: {stderr}"
                    );
                    let shown: serde_json::Value = serde_json::from_str(body)
                        .unwrap_or_else(|e| panic!("{label}: shown output is not JSON: {e}"));
                    let actual: serde_json::Value = serde_json::from_str(&stdout)
                        .unwrap_or_else(|e| panic!("{label}: {command} answered {stdout}: {e}"));
                    if let Err(difference) = matches_shown(&shown, &actual, "") {
                        panic!("{label}: {command}\n{difference}\nanswered: {stdout}");
                    }
                } else {
                    // Shown text is what grpcurl printed: an error goes to stderr.
                    let printed = if output.status.success() {
                        &stdout
                    } else {
                        &stderr
                    };
                    let lines = |t: &str| -> Vec<String> {
                        t.lines()
                            .map(|l| l.trim_end().to_string())
                            .filter(|l| !l.is_empty())
                            .collect()
                    };
                    assert_eq!(
                        lines(printed),
                        lines(body),
                        "{label}: {command} printed something else than shown"
                    );
                }
            }
            other => panic!("{label}: a checked region holds no {other:?} block"),
        }
    }
    if let Some((command, output)) = last {
        assert!(
            output.status.success(),
            "{label}: {command}\nfailed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(
        ran > 0 || region.attr("file").is_some(),
        "{label}: a checked region runs commands or shows a configuration"
    );
    drop(server);
}

#[test]
fn checked_blocks_in_the_docs_match_a_real_server() {
    let regions: Vec<Checked> = docs_pages()
        .iter()
        .flat_map(|(page, text)| checked_regions(page, text))
        .collect();
    // The pages' checked examples; a region lost in an edit fails here.
    let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    for expected in [
        "readme-data-sources",
        "tokens",
        "data-sources",
        "search",
        "batch",
        "create-workspace",
        "campaign",
    ] {
        assert!(
            names.contains(&expected),
            "no checked region {expected}: {names:?}"
        );
    }
    std::thread::scope(|scope| {
        // Two at a time: each region has its own server, and CI has two cores.
        for pair in regions.chunks(2) {
            let handles: Vec<_> = pair.iter().map(|r| scope.spawn(|| run_region(r))).collect();
            for handle in handles {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    });
}

/// Every flag `shortcuts --help` lists has its row (flag and variable) in operations.md, so
/// a new flag cannot ship undocumented.
#[test]
fn every_flag_has_a_row_in_operations_md() {
    let help = Command::new(env!("CARGO_BIN_EXE_shortcuts"))
        .arg("--help")
        .output()
        .expect("running shortcuts --help");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    let operations =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
            .unwrap();
    let rows: Vec<&str> = operations
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect();
    let mut flags = 0;
    for line in help.lines() {
        let line = line.trim_start();
        let Some(flag) = line.strip_prefix("--") else {
            continue;
        };
        let flag: String = flag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if flag == "help" || flag == "version" {
            continue;
        }
        flags += 1;
        let variable = format!("SHORTCUTS_{}", flag.to_uppercase().replace('-', "_"));
        assert!(
            rows.iter()
                .any(|row| row.contains(&format!("`--{flag}`")) && row.contains(&variable)),
            "docs/operations.md has no table row for --{flag} / {variable}"
        );
    }
    assert!(flags >= 20, "--help lists the flags: {help}");
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every relative link of the README and docs/ reaches a file, and its `#anchor` a heading.
#[test]
fn links_between_the_pages_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = docs_pages();
    let anchors = |page: &str| -> Vec<String> {
        let text = &pages.iter().find(|(p, _)| p == page).unwrap().1;
        let mut in_code = false;
        let mut found = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            } else if !in_code && line.starts_with('#') {
                found.push(anchor(line.trim_start_matches('#')));
            }
        }
        found
    };
    let mut links = 0;
    for (page, text) in &pages {
        let dir = Path::new(page).parent().unwrap();
        for (at, _) in text.match_indices("](") {
            let target = &text[at + 2..];
            let target = &target[..target.find(')').unwrap()];
            if target.starts_with("http") || target.contains(' ') {
                continue;
            }
            links += 1;
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file.is_empty() {
                page.clone()
            } else {
                let path = dir.join(file);
                assert!(
                    root.join(&path).exists(),
                    "{page}: link to missing {target}"
                );
                path.display().to_string()
            };
            if !fragment.is_empty() && linked.ends_with(".md") {
                assert!(
                    anchors(&linked).iter().any(|a| a == fragment),
                    "{page}: link {target}: no such heading in {linked}"
                );
            }
        }
    }
    assert!(links > 20, "the pages link to each other: {links}");
}

/// The filter table of templates.md: each example rendered for Jane in `demo`, with the
/// locale its row names, prints what the row says.
#[tokio::test]
async fn the_filter_examples_print_what_templates_md_says() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/templates.md")).unwrap();
    let table = page
        .split("| filter | does | example | prints |")
        .nth(1)
        .expect("templates.md has the filter table");
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut rows = 0;
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        // Cells split on `|` not escaped as `\|` (the template's own pipes).
        let cells: Vec<String> = row
            .replace("\\|", "\u{1}")
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "|"))
            .collect();
        let (example, prints) = (&cells[3], &cells[4]);
        let code = |cell: &str| -> String {
            let start = cell.find('`').expect("a code span") + 1;
            let end = start + cell[start..].find('`').expect("a closed code span");
            cell[start..end].to_string()
        };
        let body = code(example);
        let expected = code(prints);
        let locale = example
            .split("locale `")
            .nth(1)
            .map(|rest| rest[..rest.find('`').unwrap()].to_string())
            .unwrap_or_default();
        let at = if let Some(rest) = example.split("`at` = `").nth(1) {
            rest[..rest.find('`').unwrap()].to_string()
        } else if example.contains("three days ahead") {
            (chrono::Utc::now() + chrono::Duration::days(3) + chrono::Duration::hours(1))
                .to_rfc3339()
        } else {
            String::new()
        };
        let mut request = crate::inline(&body, crate::JANE);
        request.locale = locale;
        request.vars = Some(crate::structure(serde_json::json!({ "at": at })));
        let reply = client
            .render_template(request)
            .await
            .unwrap_or_else(|e| panic!("{body}: {e:?}"))
            .into_inner();
        // The page writes the locales' no-break spaces as plain ones.
        let printed: String = reply
            .text
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        assert_eq!(printed, expected, "templates.md: {body}");
        rows += 1;
    }
    assert!(rows >= 11, "every row of the filter table checked: {rows}");
}
