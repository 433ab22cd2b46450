//! A server killed with SIGKILL in the middle of writing loses no acknowledged write and
//! shows nothing half-written after it restarts on the same store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::create;
use crate::harness::TestServer;
use shortcuts::pb;

const WORKSPACE: &str = "crash";
const WRITERS: usize = 6;
const ROUNDS: usize = 4;

#[derive(Default)]
struct Ledger {
    /// Every body ever sent for a bang, acknowledged or not.
    attempted: HashMap<String, HashSet<String>>,
    /// id -> (version, body) of the last acknowledged write.
    acknowledged: HashMap<String, (u64, String)>,
}

/// A small deterministic generator, seeded from the clock and printed so that a failing
/// round can be replayed.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn writer(server_url: String, writer: usize, round: usize, ledger: Arc<Mutex<Ledger>>) {
    let Ok(channel) = tonic::transport::Channel::from_shared(server_url)
        .unwrap()
        .connect()
        .await
    else {
        return;
    };
    let mut client = pb::shortcut_service_client::ShortcutServiceClient::new(channel);
    for seq in 0.. {
        let bang = format!("w{writer}-r{round}-s{seq}");
        let body = format!("created {bang} <<contact.plan>>");
        ledger
            .lock()
            .unwrap()
            .attempted
            .entry(bang.clone())
            .or_default()
            .insert(body.clone());
        let Ok(created) = client
            .create_shortcut(create(WORKSPACE, &bang, &body))
            .await
        else {
            return;
        };
        let created = created.into_inner();
        ledger
            .lock()
            .unwrap()
            .acknowledged
            .insert(created.id.clone(), (1, body));
        for version in 1..4u64 {
            let body = format!("{bang} at version {}", version + 1);
            ledger
                .lock()
                .unwrap()
                .attempted
                .entry(bang.clone())
                .or_default()
                .insert(body.clone());
            let update = pb::UpdateShortcutRequest {
                workspace_id: WORKSPACE.into(),
                id: created.id.clone(),
                version,
                body: Some(body.clone()),
                ..Default::default()
            };
            if client.update_shortcut(update).await.is_err() {
                return;
            }
            ledger
                .lock()
                .unwrap()
                .acknowledged
                .insert(created.id.clone(), (version + 1, body));
        }
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("crash.db");
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    for round in 0..ROUNDS {
        let server = TestServer::start_on(&store, &[]);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(server.url(), w, round, ledger.clone())))
            .collect();
        // Kill once a random number of writes has been acknowledged in this round.
        let target = 20 + (xorshift(&mut seed) % 120) as usize;
        let before = ledger.lock().unwrap().acknowledged.len();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while ledger.lock().unwrap().acknowledged.len() < before + target {
            assert!(
                std::time::Instant::now() < deadline,
                "writers made no progress"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.kill_hard();
        for w in writers {
            w.await.unwrap();
        }

        let server = TestServer::start_on(&store, &["--seed-demo=false"]);
        let stored = server
            .client()
            .await
            .list_shortcuts(pb::ListShortcutsRequest {
                workspace_id: WORKSPACE.into(),
                page_size: 1000,
                include_disabled: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shortcuts;
        assert!(stored.len() < 1000, "the test outgrew one page");
        let ledger = ledger.lock().unwrap();
        let by_id: HashMap<&str, &pb::Shortcut> =
            stored.iter().map(|s| (s.id.as_str(), s)).collect();
        for (id, (version, body)) in &ledger.acknowledged {
            let found = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("round {round}: acknowledged {id} is gone"));
            assert!(
                found.version >= *version,
                "round {round}: {id} went back from {version} to {}",
                found.version
            );
            if found.version == *version {
                assert_eq!(
                    &found.body, body,
                    "round {round}: {id} at version {version}"
                );
            }
        }
        for s in &stored {
            let sent = ledger
                .attempted
                .get(&s.bang)
                .unwrap_or_else(|| panic!("unknown shortcut {s:?}"));
            assert!(
                sent.contains(&s.body),
                "round {round}: {} holds a body never sent: {:?}",
                s.bang,
                s.body
            );
        }
        println!(
            "round {round}: {} acknowledged, {} stored",
            ledger.acknowledged.len(),
            stored.len()
        );
    }
}
