//! The root of a render: the five scopes as one object.
//!
//! Building it is one allocation; a map of scopes would cost a tree of them on every render,
//! which is most of what a warm render spends.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

/// The scopes a template reads, by the names in [`super::SCOPES`].
#[derive(Debug, Default)]
pub struct RenderContext {
    pub contact: Value,
    pub session: Value,
    pub agent: Value,
    pub vars: Value,
    pub workspace: Value,
    /// Locale, time zone and clock for the formatting filters, under a name no template can
    /// write (see [`super::SETTINGS_KEY`]).
    pub settings: Value,
}

impl RenderContext {
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for RenderContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let value = match key {
            "contact" => &self.contact,
            "session" => &self.session,
            "agent" => &self.agent,
            "vars" => &self.vars,
            "workspace" => &self.workspace,
            super::SETTINGS_KEY => &self.settings,
            _ => return None,
        };
        Some(value.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["contact", "session", "agent", "vars", "workspace"])
    }
}
