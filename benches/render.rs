//! Micro-benchmarks of the template engine on the benchmark shortcut (~300 characters,
//! 5 placeholders, a fallback, a condition): compile, render from cached scopes, render when
//! converting JSON on every call (what the cache avoids), and a naive hand-written
//! `<<path>>` substitution as the floor, and the same template in a bare minijinja
//! environment as a reference.
//!
//! `cargo bench --bench render`

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use minijinja::Value;
use shortcuts::data::file::FileSource;
use shortcuts::data::{DataSource, ScopeKind, scope};
use shortcuts::template::{Engine, RenderContext, RenderLimits};

const TEMPLATE: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\nthanks for reaching out about your <<contact.plan>> plan. {% if session.order_id %}I can see order <<session.order_id>> in our system and it is being prepared for shipping right now.{% else %}Could you send me your order number?{% endif %} We will write to <<contact.email>> as soon as anything changes.\n\nBest,\n<<agent.first_name>>";
const JANE: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";
const SESSION: &str = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d";

fn context(contact: Value, session: Value) -> Value {
    let mut agent = BTreeMap::new();
    agent.insert("first_name", Value::from("Sam"));
    RenderContext {
        contact,
        session,
        agent: Value::from(agent),
        ..Default::default()
    }
    .into_value()
}

/// Replaces each `<<path>>` by a lookup in a flat map: what a hand-written templater does.
fn naive(template: &str, values: &HashMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(">>") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = after[..end].split('|').next().unwrap_or("").trim();
        if let Some(value) = values.get(path) {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let source = FileSource::demo();
    let fetch = |kind, id| {
        runtime
            .block_on(source.fetch(kind, "demo", id, std::time::Duration::from_secs(1)))
            .unwrap()
    };
    let contact_record = fetch(ScopeKind::Contact, JANE);
    let session_record = fetch(ScopeKind::Session, SESSION);
    let engine = Engine::new(RenderLimits::default());
    let compiled = engine.compile(TEMPLATE).unwrap();

    c.bench_function("compile", |b| {
        b.iter(|| engine.compile(black_box(TEMPLATE)).unwrap())
    });

    let contact = scope::build(JANE, &contact_record);
    let session = scope::build(SESSION, &session_record);
    c.bench_function("render_cached_scopes", |b| {
        b.iter(|| {
            engine
                .render(&compiled, context(contact.clone(), session.clone()))
                .unwrap()
        })
    });

    c.bench_function("render_converting_json_each_time", |b| {
        b.iter(|| {
            let contact = scope::build(JANE, black_box(&contact_record));
            let session = scope::build(SESSION, black_box(&session_record));
            engine.render(&compiled, context(contact, session)).unwrap()
        })
    });

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
    // The same template in a bare minijinja environment: what our instrumentation (missing
    // placeholders, limits) costs on top.
    c.bench_function("reference_bare_minijinja", |b| {
        b.iter(|| t.render(context(contact.clone(), session.clone())).unwrap())
    });

    let flat: HashMap<&str, String> = [
        ("contact.first_name", "Jane".to_string()),
        ("contact.plan", "pro".to_string()),
        ("session.order_id", "ORD-48213".to_string()),
        ("contact.email", "jane.doe@example.com".to_string()),
        ("agent.first_name", "Sam".to_string()),
    ]
    .into();
    c.bench_function("naive_substitution", |b| {
        b.iter(|| naive(black_box(TEMPLATE), &flat))
    });
}

criterion_group!(render, benches);
criterion_main!(render);
