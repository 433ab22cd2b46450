//! Fuzzes template compile + render with hostile data: the input is split at the first NUL
//! into a template body and a data string that lands in every scope the template can read.
//! Nothing may panic, and every render must end (fuel, output and range limits).

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use minijinja::Value;
use shortcuts::template::{Engine, RenderContext, RenderLimits};

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let (body, data) = text.split_once('\0').unwrap_or((&text, "<<agent.email>> {% if x %}"));
    thread_local! {
        static ENGINE: Engine = Engine::new(RenderLimits { fuel: 20_000, ..RenderLimits::default() });
    }
    ENGINE.with(|engine| {
        let _ = engine.validate(body);
        let Ok(template) = engine.compile(body) else { return };
        let scope = |extra: &str| {
            let mut map = BTreeMap::new();
            for key in ["first_name", "nickname", "plan", "email", "order_id", "data"] {
                map.insert(key.to_string(), Value::from(data));
            }
            map.insert("list".to_string(), Value::from(vec![data.to_string(), extra.to_string()]));
            Value::from(map)
        };
        let context = RenderContext {
            contact: scope("contact"),
            session: scope("session"),
            agent: scope("agent"),
            vars: scope("vars"),
            ..Default::default()
        };
        let _ = engine.render(&template, context.into_value());
    });
});
