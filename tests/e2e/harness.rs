//! Starts the real `shortcuts` binary on a free loopback port, each with its own store.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Every log line the server wrote so far, and a signal for each new one.
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server with a fresh store and the demo data.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("shortcuts.db");
        let mut server = Self::start_on(&store, &[]);
        server._dir = Some(dir);
        server
    }

    /// Keeps `dir` (where the store is) for as long as the server.
    pub fn with_dir(mut self, dir: tempfile::TempDir) -> Self {
        self._dir = Some(dir);
        self
    }

    /// A server on the given store (a file path or a database URL), with extra flags.
    pub fn start_on(store: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Self {
        Self::start_under(&[], store, args)
    }

    /// A server started through `prefix` (e.g. `prlimit --nofile=N:N`, which runs it in
    /// the same process), on the given store, with extra flags.
    pub fn start_under(prefix: &[&str], store: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Self {
        let mut command = match prefix.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(env!("CARGO_BIN_EXE_shortcuts"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_shortcuts")),
        };
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--store"])
            .arg(store.as_ref())
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the shortcuts binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        // Keeps draining the server's log so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    // The address ends where the text or JSON log line goes on.
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
                        .collect();
                    let _ = tx.send(addr);
                }
                lines.0.lock().unwrap().push(line);
                lines.1.notify_all();
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start listening; its log:\n{}",
                    log.0.lock().unwrap().join("\n")
                );
            }
        };
        TestServer {
            child: Some(child),
            addr,
            log,
            _dir: None,
        }
    }

    /// Waits (bounded) until the server logs a line matching `predicate`, and returns it.
    pub fn wait_for_log(&self, predicate: impl Fn(&str) -> bool) -> String {
        let (lines, signal) = &*self.log;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(line) = guard.iter().find(|l| predicate(l)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no such log line; the log:\n{}",
                guard.join("\n")
            );
            guard = signal.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Whether any log line so far contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).unwrap().connect_lazy()
    }

    pub async fn client(&self) -> ShortcutServiceClient<Channel> {
        ShortcutServiceClient::new(self.channel().await)
    }

    /// Kills the server with SIGKILL: no chance to finish anything.
    pub fn kill_hard(mut self) {
        let mut child = self.child.take().expect("a running server");
        child.kill().expect("SIGKILL");
        child.wait().expect("waiting for the killed server");
    }

    /// Sends SIGTERM and waits for a clean exit, while the test's runtime keeps running
    /// (so that clients it dropped can close their connections).
    pub async fn stop(mut self) -> std::time::Duration {
        let mut child = self.child.take().expect("a running server");
        let started = std::time::Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .expect("waiting for the server");
        assert!(exit.success(), "server exited with {exit}");
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A private schema in the test PostgreSQL database, dropped afterwards, so that test runs
/// and parallel tests never see each other's data or change announcements.
pub struct PgSchema {
    base: String,
    pub name: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let base = std::env::var("SHORTCUTS_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {base} is needed for the shared-store tests (scripts/test.sh starts it): {e}")
        });
        for statement in [
            format!("DROP SCHEMA IF EXISTS {name} CASCADE"),
            format!("CREATE SCHEMA {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .expect("creating the test schema");
        }
        pool.close().await;
        PgSchema { base, name }
    }

    /// The store URL a server uses to work in this schema.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }

    /// A direct connection, for the test's own queries.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.base)
            .await
            .expect("connecting to PostgreSQL")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([self.base.as_str(), "-q", "-c"])
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Which store a test server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A server on a fresh store of the given backend; keep the guard alive as long as the server.
pub async fn start_backend(backend: Backend) -> (TestServer, Option<PgSchema>) {
    match backend {
        Backend::Sqlite => (TestServer::start(), None),
        Backend::Postgres => {
            let schema = PgSchema::create().await;
            let server = TestServer::start_on(schema.url(), &[]);
            (server, Some(schema))
        }
    }
}

/// Runs an async test body once per backend, as two separate tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Starts the binary on a fresh store in `dir` with `args`, expecting it to refuse to start:
/// asserts it exits unsuccessfully within 20 s and returns what it wrote to stderr.
pub fn refused_start(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shortcuts"))
        .args(["--listen", "127.0.0.1:0", "--store"])
        .arg(dir.join("s.db"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the shortcuts binary");
    let exit = wait_with_deadline(&mut child, Duration::from_secs(20));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let exit = exit.unwrap_or_else(|| panic!("the server started anyway; its log:\n{stderr}"));
    assert!(
        !exit.success(),
        "the server exited successfully; its log:\n{stderr}"
    );
    stderr
}

/// The child's exit status, or `None` (after killing it) if it is still running at the
/// deadline.
fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
