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

use std::hint::black_box;

use shortcuts::data::scope;
use shortcuts::template::{Engine, RenderLimits};

#[path = "../benches/common/render_fixture.rs"]
mod fixture;
use fixture::{JANE, SESSION, TEMPLATE, bare_environment, context, demo_records};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let case = args.next().unwrap_or_default();
    let agent = |i: usize| match case.as_str() {
        "missing" => "",
        "alternate" if i % 2 == 1 => "",
        _ => "Sam",
    };

    let (mut contact_record, session_record) = demo_records();
    if case == "fallback" {
        contact_record.native.remove("first_name");
        contact_record.custom.remove("first_name");
    }
    let contact = scope::build(JANE, &contact_record);
    let session = scope::build(SESSION, &session_record);

    let started = std::time::Instant::now();
    if case == "bare" {
        let plain = bare_environment();
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
