//! The per-render settings the formatting filters read: locale, time zone and "now".
//!
//! They travel in the render context under a reserved name, wrapped in a Rust type that a
//! template cannot construct: a template that shadows the name (`{% set __render = … %}`)
//! only gets the defaults (English, UTC), never another workspace's settings, and reading
//! the name is an unknown-scope error at write time.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::State;
use minijinja::value::{Object, Value};

use super::locale::Locale;

/// The reserved context name. Double underscore: not a scope an author can write.
pub const SETTINGS_KEY: &str = "__render";

/// How one render formats numbers, amounts and dates.
#[derive(Debug, Clone, Copy)]
pub struct RenderSettings {
    pub locale: &'static Locale,
    pub time_zone: Tz,
    /// The instant relative dates are measured from, fixed once per render.
    pub now: DateTime<Utc>,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            locale: Locale::english(),
            time_zone: Tz::UTC,
            now: Utc::now(),
        }
    }
}

impl Object for RenderSettings {}

impl RenderSettings {
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }

    /// The settings of the render `state` belongs to (defaults when there are none).
    pub(crate) fn of(state: &State) -> RenderSettings {
        state
            .lookup(SETTINGS_KEY)
            .and_then(|v| v.downcast_object_ref::<RenderSettings>().copied())
            .unwrap_or_default()
    }
}
