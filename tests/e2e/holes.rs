//! Smaller holes: a token listed twice is refused at start, errors quote at most a short
//! piece of the caller's input (in the status and in the log), and a full disk is a clear
//! RESOURCE_EXHAUSTED on writes while reads keep serving.

use std::process::Command;

use tonic::Code;

use crate::harness::{TestServer, refused_start};
use crate::{DEMO, JANE, assert_status, create, inline};
use shortcuts::pb;

#[test]
fn a_token_listed_twice_is_refused_at_start_naming_both_entries() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        r#"
[[tokens]]
name = "chat-frontend"
token = "the-same-token-twice-0001"
role = "render"
workspaces = ["wsa"]

[[tokens]]
name = "ops"
token = "the-same-token-twice-0001"
role = "admin"
workspaces = ["*"]
"#,
    )
    .unwrap();
    let stderr = refused_start(dir.path(), &["--auth-tokens".as_ref(), tokens.as_os_str()]);
    assert!(
        stderr.contains("entries 1 (\"chat-frontend\") and 2 (\"ops\")")
            && stderr.contains("same token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("the-same-token-twice-0001"),
        "the token was printed: {stderr}"
    );
}

/// The most of a status message or log line an error may take with a huge input.
const SMALL: usize = 1024;

#[tokio::test]
async fn errors_quote_only_a_short_piece_of_the_input() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let huge = format!("Europe/{}", "x".repeat(500 * 1024));

    // Quoted at the source.
    let status = assert_status(
        client
            .create_workspace(pb::CreateWorkspaceRequest {
                workspace_id: "tz".into(),
                display_name: String::new(),
                default_locale: String::new(),
                time_zone: huge.clone(),
            })
            .await,
        Code::InvalidArgument,
        &["time_zone", "Europe/xxx", "bytes in all", "IANA"],
    );
    assert!(status.message().len() < SMALL, "{}", status.message().len());
    let line =
        server.wait_for_log(|l| l.contains("CreateWorkspace") && l.contains("InvalidArgument"));
    assert!(line.len() < SMALL + 512, "a {} byte log line", line.len());

    // Where a message does not quote (a `vars` path names the caller's keys), the safety
    // net still keeps it small: a huge key above a value nested past the depth limit.
    let mut nested = serde_json::json!("deep");
    for _ in 0..20 {
        nested = serde_json::json!({ "a": nested });
    }
    let mut request = inline("<<contact.plan>>", JANE);
    request.vars = Some(crate::structure(
        serde_json::json!({ huge.clone(): nested }),
    ));
    let status = assert_status(
        client.render_template(request).await,
        Code::InvalidArgument,
        &["vars.Europe/xxx", "cut"],
    );
    assert!(
        status.message().len() <= shortcuts::error::MAX_MESSAGE_BYTES,
        "{}",
        status.message().len()
    );
    let line =
        server.wait_for_log(|l| l.contains("RenderTemplate") && l.contains("InvalidArgument"));
    assert!(line.len() < 4096, "a {} byte log line", line.len());

    // Nothing else echoed it either.
    let mut get = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang(huge.clone())),
            ..Default::default()
        })
        .await
        .expect_err("no such bang");
    assert!(get.message().len() < SMALL, "{}", get.message().len());
    get = client
        .get_workspace(pb::GetWorkspaceRequest {
            workspace_id: huge.clone(),
            ..Default::default()
        })
        .await
        .expect_err("no such workspace");
    assert_eq!(get.code(), Code::InvalidArgument);
    assert!(get.message().len() < SMALL, "{}", get.message().len());
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            output.status.success(),
            "this test mounts a small tmpfs to fill it up, which needs root (CI runs as root): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let buffer = vec![0u8; chunk];
            while file.write_all(&buffer).is_ok() {}
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_disk_fails_writes_clearly_and_reads_keep_serving() {
    let disk = SmallDisk::mount("24m");
    let server = TestServer::start_on(disk.path().join("shortcuts.db"), &[]);
    let mut client = server.client().await;
    let before = client
        .create_shortcut(create(DEMO, "before", "Hi <<contact.first_name>>"))
        .await
        .unwrap()
        .into_inner();

    let filler = disk.fill();
    let status = assert_status(
        client
            .create_shortcut(create(DEMO, "after", "x".repeat(8000).as_str()))
            .await,
        Code::ResourceExhausted,
        &["store", "out of disk space", "nothing was written"],
    );
    assert!(
        !status.message().contains("internal"),
        "{}",
        status.message()
    );
    assert_status(
        client
            .create_workspace(pb::CreateWorkspaceRequest {
                workspace_id: "full".into(),
                display_name: "Full".into(),
                default_locale: String::new(),
                time_zone: String::new(),
            })
            .await,
        Code::ResourceExhausted,
        &["out of disk space"],
    );
    server.wait_for_log(|l| l.contains("out of disk space") && l.contains("ERROR"));

    // Reads are served from memory meanwhile.
    let got = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Id(before.id.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.body, before.body);
    let reply = client
        .render_shortcut(pb::RenderShortcutRequest {
            workspace_id: DEMO.into(),
            shortcut: Some(pb::render_shortcut_request::Shortcut::Bang("before".into())),
            contact_id: JANE.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Hi Jane");
    let missing = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Bang("after".into())),
            ..Default::default()
        })
        .await;
    assert_eq!(
        missing.unwrap_err().code(),
        Code::NotFound,
        "nothing was written"
    );

    // Once space is freed, writes work again.
    std::fs::remove_file(filler).unwrap();
    client
        .create_shortcut(create(DEMO, "after", "x".repeat(8000).as_str()))
        .await
        .unwrap();
    drop(client);
    server.stop().await;
}
