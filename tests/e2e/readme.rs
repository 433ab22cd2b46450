//! Runs the README's grpcurl session verbatim (only the port differs) with a real grpcurl.

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
}
