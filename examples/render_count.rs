//! Renders the benchmark shortcut of `benches/render.rs` N times, for counting instructions
//! with callgrind: wall-clock figures on a shared machine move by ±15% between runs, the
//! instruction count does not.
//!
//! `cargo build --release --example render_count`, then for N = 1000 and N = 11000:
//! `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.N.out target/release/examples/render_count N`
//! and divide the difference of the two totals by 10,000. A second argument picks another
//! case: `bare` renders the same template in a bare minijinja environment (the reference),
//! `missing` renders for an agent without a first name (the last placeholder comes out
//! empty, so the render has to be traced), `fallback` for a contact without a first name
//! (the first placeholder prints its fallback: traced too), `alternate` alternates the
//! agent with and without a first name.

use std::collections::BTreeMap;
use std::hint::black_box;

use minijinja::Value;
use shortcuts::data::file::FileSource;
use shortcuts::data::{DataSource, ScopeKind, scope};
use shortcuts::template::{Engine, RenderContext, RenderLimits};

// The same template, data and context as `benches/render.rs`.
const TEMPLATE: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\nthanks for reaching out about your <<contact.plan>> plan. {% if session.order_id %}I can see order <<session.order_id>> in our system and it is being prepared for shipping right now.{% else %}Could you send me your order number?{% endif %} We will write to <<contact.email>> as soon as anything changes.\n\nBest,\n<<agent.first_name>>";
const JANE: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";
const SESSION: &str = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d";

fn context(contact: Value, session: Value, agent_name: &str) -> Value {
    let mut agent = BTreeMap::new();
    if !agent_name.is_empty() {
        agent.insert("first_name", Value::from(agent_name));
    }
    RenderContext {
        contact,
        session,
        agent: Value::from(agent),
        ..Default::default()
    }
    .into_value()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let case = args.next().unwrap_or_default();
    let agent = |i: usize| match case.as_str() {
        "missing" => "",
        "alternate" if i % 2 == 1 => "",
        _ => "Sam",
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let source = FileSource::demo();
    let fetch = |kind, id| {
        runtime
            .block_on(source.fetch(kind, "demo", id, std::time::Duration::from_secs(1)))
            .unwrap()
    };
    let mut contact_record = fetch(ScopeKind::Contact, JANE);
    if case == "fallback" {
        contact_record.native.remove("first_name");
        contact_record.custom.remove("first_name");
    }
    let contact = scope::build(JANE, &contact_record);
    let session = scope::build(SESSION, &fetch(ScopeKind::Session, SESSION));

    let started = std::time::Instant::now();
    if case == "bare" {
        let mut plain = minijinja::Environment::new();
        plain.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .variable_delimiters("<<", ">>")
                .build()
                .unwrap(),
        );
        plain.add_filter(
            "fallback",
            |v: Value, d: Value| if v.is_undefined() { d } else { v },
        );
        plain.add_template("t", TEMPLATE).unwrap();
        let t = plain.get_template("t").unwrap();
        for i in 0..n {
            black_box(
                t.render(context(contact.clone(), session.clone(), agent(i)))
                    .unwrap(),
            );
        }
    } else {
        let engine = Engine::new(RenderLimits::default());
        let compiled = engine.compile(TEMPLATE).unwrap();
        for i in 0..n {
            black_box(
                engine
                    .render(
                        &compiled,
                        context(contact.clone(), session.clone(), agent(i)),
                    )
                    .unwrap(),
            );
        }
    }
    let elapsed = started.elapsed();
    eprintln!("{n} renders in {elapsed:?}, {:?} each", elapsed / n as u32);
}
