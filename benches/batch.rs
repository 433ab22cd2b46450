//! BatchRender throughput over gRPC: the real server binary on loopback, the file data
//! source with 10,000 contacts, batches of 10,000 recipients read as fast as they come.
//!
//!     cargo bench --bench batch
//!
//! Under `cargo test` it runs once with a small batch as a smoke test.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Gen, full_run};
use serde_json::json;
use shortcuts::pb;
use shortcuts::pb::batch_render_request::Template;
use shortcuts::pb::shortcut_service_client::ShortcutServiceClient;

const WORKSPACE: &str = "bench";
const BODY: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\n{% if session.order_id %}Order <<session.order_id>> is on its way to <<session.city | fallback(\"you\")>>.{% else %}Your <<contact.plan | upper>> plan renews on <<contact.renewal_date>>.{% endif %} We sent the details to <<contact.email>>.\n\nBest,\n<<agent.first_name>>";

fn data_file(contacts: usize) -> serde_json::Value {
    let mut g = Gen::new(7);
    let mut people = serde_json::Map::new();
    let mut sessions = serde_json::Map::new();
    for i in 0..contacts {
        let first = ["Jane", "Luis", "Camille", "Priya", "Ana", "Tomás", "Zoë"][g.below(7)];
        let plan = ["starter", "pro", "team"][g.below(3)];
        people.insert(
            format!("c{i}"),
            json!({
                "profile": {
                    "people_id": format!("c{i}"),
                    "email": format!("person{i}@example.com"),
                    "person": {"nickname": format!("{first} Example{i}"), "geolocation": {"country": "FR", "city": "Lyon"}},
                    "segments": ["customer"],
                },
                "data": {"plan": plan, "renewal_date": "2026-12-15"},
            }),
        );
        if i.is_multiple_of(2) {
            sessions.insert(
                format!("s{i}"),
                json!({"meta": {"nickname": first, "data": {"order_id": format!("ORD-{i}")}}}),
            );
        }
    }
    json!({"workspaces": {WORKSPACE: {"contacts": people, "sessions": sessions}}})
}

fn recipients(count: usize, contacts: usize) -> Vec<pb::BatchRecipient> {
    (0..count)
        .map(|i| {
            let c = i % contacts;
            pb::BatchRecipient {
                contact_id: format!("c{c}"),
                session_id: if c.is_multiple_of(2) {
                    format!("s{c}")
                } else {
                    String::new()
                },
                vars: None,
            }
        })
        .collect()
}

fn main() {
    let full = full_run();
    let (contacts, batch_size, runs) = if full {
        (10_000, 10_000, 5)
    } else {
        (200, 200, 1)
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("contacts.json");
    std::fs::write(&data, data_file(contacts).to_string()).expect("writing the data file");

    let mut server = Command::new(env!("CARGO_BIN_EXE_shortcuts"))
        .args(["--listen", "127.0.0.1:0", "--seed-demo", "false", "--store"])
        .arg(dir.path().join("bench.db"))
        .arg("--data-file")
        .arg(&data)
        .env("RUST_LOG", "warn,shortcuts::server=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the server");
    let mut log = BufReader::new(server.stderr.take().expect("stderr")).lines();
    let addr = log
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on ")
                .nth(1)
                .map(|a| a.trim().to_string())
        })
        .expect("the server to listen");
    std::thread::spawn(move || log.for_each(drop));

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime.block_on(async {
        let mut client = ShortcutServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connecting");
        client
            .create_shortcut(pb::CreateShortcutRequest {
                workspace_id: WORKSPACE.into(),
                bang: "renewal".into(),
                title: "Renewal".into(),
                body: BODY.into(),
                ..Default::default()
            })
            .await
            .expect("creating the shortcut");
        let mut results = Vec::new();
        for (label, template) in [
            ("stored shortcut", Template::Bang("renewal".into())),
            ("inline template", Template::Body(BODY.into())),
        ] {
            let mut rates = Vec::new();
            // One warm-up batch (first-use costs), then the measured ones.
            for run in 0..=runs {
                let request = pb::BatchRenderRequest {
                    workspace_id: WORKSPACE.into(),
                    template: Some(template.clone()),
                    agent: Some(pb_struct(json!({"first_name": "Sam"}))),
                    recipients: recipients(batch_size, contacts),
                    ..Default::default()
                };
                let started = Instant::now();
                let mut stream = client
                    .batch_render(request)
                    .await
                    .expect("batch")
                    .into_inner();
                let mut rendered = 0;
                while let Some(result) = stream.message().await.expect("result") {
                    if matches!(
                        result.outcome,
                        Some(pb::batch_render_result::Outcome::Rendered(_))
                    ) {
                        rendered += 1;
                    }
                }
                let took = started.elapsed();
                assert_eq!(rendered, batch_size, "every recipient renders");
                if run > 0 {
                    rates.push(batch_size as f64 / took.as_secs_f64());
                }
            }
            rates.sort_by(f64::total_cmp);
            results.push((label, rates[rates.len() / 2], rates[0]));
        }
        results
    });
    let _ = server.kill();
    let _ = server.wait();
    for (label, median, slowest) in results {
        println!(
            "batch ({label}): {batch_size} recipients x {runs} runs: median {median:.0} recipients/s, slowest run {slowest:.0} recipients/s"
        );
    }
}

fn pb_struct(value: serde_json::Value) -> prost_types::Struct {
    fn convert(value: serde_json::Value) -> prost_types::Value {
        use prost_types::value::Kind;
        let kind = match value {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            serde_json::Value::String(s) => Kind::StringValue(s),
            serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
                values: a.into_iter().map(convert).collect(),
            }),
            serde_json::Value::Object(_) => Kind::StructValue(pb_struct(value)),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match value {
        serde_json::Value::Object(map) => prost_types::Struct {
            fields: map.into_iter().map(|(k, v)| (k, convert(v))).collect(),
        },
        _ => prost_types::Struct::default(),
    }
}
