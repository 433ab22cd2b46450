//! `shortcuts-soak`: a bounded soak test of a running server.
//!
//! Many clients mix writes (create, update, delete), renders, searches and invalidations for
//! a fixed time. Every call's status is counted; the server's resident memory is sampled from
//! `/proc/<pid>/status` so that growth after warm-up shows. `bash bench/soak.sh` starts a
//! server and runs it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use shortcuts::pb;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// The server's process id, for its resident memory.
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds between memory samples.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
}

const CONTACTS: [&str; 3] = [
    "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11",
    "0f9d2c44-6a1b-4f7e-8c3d-5e2b7a9f1c22",
    "5a7c9e11-2b4d-4f6a-8c1e-3d5f7b9a0c33",
];

type Tally = Arc<Mutex<BTreeMap<(&'static str, String), u64>>>;

fn count<T>(tally: &Tally, call: &'static str, result: &Result<T, tonic::Status>) {
    let code = match result {
        Ok(_) => "OK".to_string(),
        Err(status) => format!("{:?}", status.code()),
    };
    *tally.lock().unwrap().entry((call, code)).or_default() += 1;
}

async fn client_loop(id: usize, channel: Channel, deadline: Instant, tally: Tally) {
    let mut client = ShortcutServiceClient::new(channel);
    let mut step: u64 = 0;
    let mut mine: Vec<(String, u64)> = Vec::new();
    while Instant::now() < deadline {
        step += 1;
        let contact = CONTACTS[(step as usize + id) % CONTACTS.len()];
        match step % 10 {
            0 => {
                let request = pb::CreateShortcutRequest {
                    workspace_id: "soak".into(),
                    bang: format!("soak-{id}-{step}"),
                    title: format!("Soak reply {step}"),
                    body: "Hi <<contact.first_name | fallback(\"there\")>>, plan <<contact.plan>>"
                        .into(),
                    tags: vec!["soak".into()],
                    ..Default::default()
                };
                let result = client.create_shortcut(request).await;
                count(&tally, "CreateShortcut", &result);
                if let Ok(created) = result {
                    let created = created.into_inner();
                    mine.push((created.id, created.version));
                }
            }
            1 if !mine.is_empty() => {
                let (shortcut_id, version) = mine[step as usize % mine.len()].clone();
                let request = pb::UpdateShortcutRequest {
                    workspace_id: "soak".into(),
                    id: shortcut_id.clone(),
                    version,
                    body: Some(format!("Updated at step {step} for <<contact.email>>")),
                    ..Default::default()
                };
                let result = client.update_shortcut(request).await;
                count(&tally, "UpdateShortcut", &result);
                if let Ok(updated) = result {
                    let index = step as usize % mine.len();
                    mine[index].1 = updated.into_inner().version;
                }
            }
            2 if mine.len() > 20 => {
                let (shortcut_id, version) = mine.remove(0);
                let request = pb::DeleteShortcutRequest {
                    workspace_id: "soak".into(),
                    id: shortcut_id,
                    version: Some(version),
                };
                let result = client.delete_shortcut(request).await;
                count(&tally, "DeleteShortcut", &result);
            }
            3 => {
                let request = pb::SearchShortcutsRequest {
                    workspace_id: "demo".into(),
                    query: ["or", "ref", "!bye", "pass"][step as usize % 4].into(),
                    ..Default::default()
                };
                let result = client.search_shortcuts(request).await;
                count(&tally, "SearchShortcuts", &result);
            }
            4 => {
                let request = pb::InvalidateContactRequest {
                    workspace_id: "demo".into(),
                    id: contact.into(),
                };
                let result = client.invalidate_contact(request).await;
                count(&tally, "InvalidateContact", &result);
            }
            _ => {
                let request = pb::RenderShortcutRequest {
                    workspace_id: "demo".into(),
                    shortcut: Some(pb::render_shortcut_request::Shortcut::Bang(
                        ["order-status", "refund", "hello", "upgrade"][step as usize % 4].into(),
                    )),
                    contact_id: contact.into(),
                    ..Default::default()
                };
                let result = client.render_shortcut(request).await;
                count(&tally, "RenderShortcut", &result);
            }
        }
    }
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let channel = Channel::from_shared(args.target.clone())?.connect().await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let tally: Tally = Arc::default();
    let clients: Vec<_> = (0..args.clients)
        .map(|id| tokio::spawn(client_loop(id, channel.clone(), deadline, tally.clone())))
        .collect();
    println!("| elapsed | resident KiB | calls so far |");
    println!("| ---: | ---: | ---: |");
    while Instant::now() < deadline {
        let calls: u64 = tally.lock().unwrap().values().sum();
        println!(
            "| {:>3} s | {} | {calls} |",
            started.elapsed().as_secs(),
            resident_kib(args.server_pid)
        );
        tokio::time::sleep(Duration::from_secs(args.sample_every).min(deadline - Instant::now()))
            .await;
    }
    for client in clients {
        client.await?;
    }
    println!(
        "| {:>3} s | {} | {} |",
        started.elapsed().as_secs(),
        resident_kib(args.server_pid),
        tally.lock().unwrap().values().sum::<u64>()
    );
    println!();
    println!("| call | status | count |");
    println!("| --- | --- | ---: |");
    for ((call, code), n) in tally.lock().unwrap().iter() {
        println!("| {call} | {code} | {n} |");
    }
    Ok(())
}
