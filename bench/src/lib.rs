//! What the bench tools share: starting a `shortcuts` server process and learning the
//! addresses it logs when it is ready.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server may take to log every address asked for.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts `command` (a `shortcuts` server) with its log piped, and waits until it has logged
/// a line containing each of `markers` (e.g. `"listening on "`). Returns the process and,
/// for each marker in order, the first word after it (an address or URL). The log keeps
/// being drained, so the server never blocks on a full pipe.
pub fn spawn_server(
    command: &mut Command,
    markers: &[&'static str],
) -> anyhow::Result<(Child, Vec<String>)> {
    let mut child = command.stderr(Stdio::piped()).spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = markers.to_vec();
    // For diagnosis: `SHORTCUTS_BENCH_SERVER_LOG=1` passes the server's log on to ours.
    let echo = std::env::var_os("SHORTCUTS_BENCH_SERVER_LOG").is_some();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if echo {
                eprintln!("{line}");
            }
            for (i, marker) in wanted.iter().enumerate() {
                if let Some(rest) = line.split(marker).nth(1) {
                    let word = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send((i, word.trim_matches('"').to_string()));
                }
            }
        }
    });
    let mut found: Vec<Option<String>> = vec![None; markers.len()];
    while found.iter().any(Option::is_none) {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok((i, value)) => found[i] = Some(value),
            Err(_) => {
                let _ = child.kill();
                anyhow::bail!("the server did not log {markers:?} within {START_TIMEOUT:?}");
            }
        }
    }
    Ok((child, found.into_iter().flatten().collect()))
}
