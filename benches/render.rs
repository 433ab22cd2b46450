//! Micro-benchmarks of the template engine on the benchmark shortcut (~300 characters,
//! 5 placeholders, a fallback, a condition): compile, render from cached scopes, render when
//! converting JSON on every call (what the cache avoids), and a naive hand-written
//! `<<path>>` substitution as the floor, and the same template in a bare minijinja
//! environment as a reference; and a French reply through every formatting filter (CLDR
//! names, long date, relative date, number, currency); and the benchmark shortcut with
//! three templated attachments against the same without (`attachments_*`: compare as a
//! ratio of the same run).
//!
//! `cargo bench --bench render`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shortcuts::catalog::{Attachment, attachments};
use shortcuts::data::scope;
use shortcuts::template::locale::Locale;
use shortcuts::template::{Engine, RenderContext, RenderLimits, RenderSettings};

#[path = "common/render_fixture.rs"]
mod fixture;
use fixture::{JANE, SESSION, TEMPLATE, bare_environment, demo_records};

fn context(contact: minijinja::Value, session: minijinja::Value) -> minijinja::Value {
    fixture::context(contact, session, "Sam")
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
    let (contact_record, session_record) = demo_records();
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

    // Every formatting filter in one reply, in French: what the locale data costs a render.
    let localised = engine
        .compile("Bonjour <<contact.first_name>>, <<contact.lifetime_value | number>> soit <<contact.lifetime_value | currency(\"EUR\")>>, renouvelé le <<\"2026-12-15T09:30:00Z\" | date(\"%A %d %B %Y\")>> (<<\"2026-12-12T09:30:00Z\" | date(\"relative\")>>), échéance <<\"2026-12-15\" | date>>.")
        .unwrap();
    let settings = RenderSettings {
        locale: Locale::find("fr").unwrap(),
        time_zone: "Europe/Paris".parse().unwrap(),
        now: "2026-12-01T10:00:00Z".parse().unwrap(),
    };
    c.bench_function("render_localised_fr", |b| {
        b.iter(|| {
            let root = RenderContext {
                contact: contact.clone(),
                settings: settings.into_value(),
                ..Default::default()
            };
            engine.render(&localised, root.into_value()).unwrap()
        })
    });

    // A reply with three attachments whose names and URLs are templates, as a render of a
    // stored shortcut does it: the body, then each attachment against the same context.
    let declared = vec![
        Attachment {
            name: "Invoice <<session.order_id>>".into(),
            url: "https://shop.example/orders/<<session.order_id>>/invoice.pdf?email=<<contact.email>>".into(),
            mime_type: "application/pdf".into(),
            size_bytes: 48_213,
        },
        Attachment {
            name: "Plan <<contact.plan>>".into(),
            url: "https://shop.example/plans/<<contact.plan>>.pdf".into(),
            mime_type: "application/pdf".into(),
            size_bytes: 0,
        },
        Attachment {
            name: "Guide".into(),
            url: "https://shop.example/guides/<<contact.plan>>?for=<<contact.first_name>>".into(),
            mime_type: "text/html".into(),
            size_bytes: 0,
        },
    ];
    let compiled_attachments = attachments::compile(&engine, &declared).unwrap();
    c.bench_function("attachments_none", |b| {
        b.iter(|| {
            let root = context(contact.clone(), session.clone());
            engine.render(&compiled, root).unwrap()
        })
    });
    c.bench_function("attachments_three_templated", |b| {
        b.iter(|| {
            let root = context(contact.clone(), session.clone());
            let reply = engine.render(&compiled, root.clone()).unwrap();
            let files = attachments::render(&engine, &declared, &compiled_attachments, &root);
            assert_eq!(files.attachments.len(), 3);
            (reply, files)
        })
    });

    let plain = bare_environment();
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
