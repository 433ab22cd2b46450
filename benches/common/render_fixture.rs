//! The benchmark shortcut and its data, shared by `benches/render.rs` (wall clock) and
//! `examples/render_count.rs` (instruction counts), so that both measure the same render.

use std::collections::BTreeMap;

use minijinja::Value;
use shortcuts::data::file::FileSource;
use shortcuts::data::{DataSource, Record, ScopeKind};
use shortcuts::template::RenderContext;

/// ~300 characters, 5 placeholders, a fallback and a condition.
pub const TEMPLATE: &str = "Hi <<contact.first_name | fallback(\"there\")>>,\n\nthanks for reaching out about your <<contact.plan>> plan. {% if session.order_id %}I can see order <<session.order_id>> in our system and it is being prepared for shipping right now.{% else %}Could you send me your order number?{% endif %} We will write to <<contact.email>> as soon as anything changes.\n\nBest,\n<<agent.first_name>>";
pub const JANE: &str = "8b5f4e1e-3c0a-4c5e-9f3e-2a7d1c0b9e11";
pub const SESSION: &str = "session_4f8a2b6c-1d3e-4a5b-9c7d-8e0f1a2b3c4d";

/// Jane's contact record and her session, from the demo data.
pub fn demo_records() -> (Record, Record) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let source = FileSource::demo();
    let fetch = |kind, id| {
        runtime
            .block_on(source.fetch(kind, "demo", id, std::time::Duration::from_secs(1)))
            .unwrap()
    };
    (
        fetch(ScopeKind::Contact, JANE),
        fetch(ScopeKind::Session, SESSION),
    )
}

/// The render's root: the two scopes and an agent named `agent_name` (none when empty).
pub fn context(contact: Value, session: Value, agent_name: &str) -> Value {
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

/// A bare minijinja environment holding [`TEMPLATE`] as `t`: the reference our engine's
/// bookkeeping (missing placeholders, limits) is measured against.
pub fn bare_environment() -> minijinja::Environment<'static> {
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
    plain
}
