//! An audience filter: one expression of the template language over `contact.*` and
//! `workspace.*`, checked like a template when it is written (line and column errors,
//! "did you mean" warnings for unknown paths) and compiled once per scan, then evaluated
//! per contact within the render fuel.

use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object};

use crate::catalog::paths::{self, KnownPaths};
use crate::data::ContactQuery;
use crate::error::{Error, Result, TemplateDiagnostic};
use crate::template::{Engine, RenderError, TemplateWarning};

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;

/// The scopes a filter may read: the contact it decides on and the workspace's record.
const FILTER_SCOPES: &[&str] = &["contact", "workspace"];

/// A checked filter, ready to compile for a scan.
#[derive(Debug, Clone)]
pub struct Filter {
    source: String,
    /// The `contact.*` and `workspace.*` paths it reads, in order of first appearance.
    paths: Vec<String>,
    warnings: Vec<TemplateWarning>,
    /// What every contact it matches satisfies, for the source's listing.
    query: ContactQuery,
}

impl Filter {
    /// Checks `source`; errors are INVALID_ARGUMENT naming `field` with line and column.
    pub fn parse(engine: &Engine, field: &str, source: &str, known: &KnownPaths) -> Result<Self> {
        if source.trim().is_empty() {
            return Err(Error::invalid(
                field,
                "must not be empty: an expression such as `contact.country == \"FR\"`",
            ));
        }
        if source.len() > MAX_FILTER_BYTES {
            return Err(Error::invalid(
                field,
                format!("must be at most {MAX_FILTER_BYTES} bytes"),
            ));
        }
        let validation = engine.validate_expression(source);
        let mut problems = validation.errors.clone();
        for (path, (line, column)) in validation.placeholders.iter().zip(&validation.positions) {
            let scope = path.split('.').next().unwrap_or_default();
            if !FILTER_SCOPES.contains(&scope) {
                problems.push(TemplateDiagnostic {
                    line: *line,
                    column: *column,
                    message: format!(
                        "`{path}`: a filter reads only contact.* and workspace.* (it decides on contacts, before any conversation)"
                    ),
                });
            }
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(Error::InvalidTemplate {
                field: field.to_string(),
                problems,
            });
        }
        let mut known = known.clone();
        known
            .contact
            .extend(DERIVED_FIELDS.iter().map(|f| f.to_string()));
        let warnings = paths::unknown(field, &validation, &known);
        Ok(Filter {
            source: source.to_string(),
            paths: validation.placeholders,
            warnings,
            query: super::pushdown::derive(source),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Conditions every contact the filter matches meets: what a listing may push down to
    /// its source.
    pub fn contact_query(&self) -> &ContactQuery {
        &self.query
    }

    /// Paths that look like typos of known fields (the filter is still accepted).
    pub fn warnings(&self) -> &[TemplateWarning] {
        &self.warnings
    }

    /// Compiles the filter for evaluation: once per scan, not per contact.
    pub fn matcher<'e>(&'e self, engine: &'e Engine, workspace: Value) -> Result<Matcher<'e>> {
        let expression =
            engine
                .expression(&self.source)
                .map_err(|problem| Error::InvalidTemplate {
                    field: "filter".into(),
                    problems: vec![problem],
                })?;
        Ok(Matcher {
            engine,
            expression,
            workspace,
            paths: &self.paths,
        })
    }
}

/// A compiled filter for one scan.
pub struct Matcher<'e> {
    engine: &'e Engine,
    expression: minijinja::Expression<'e, 'e>,
    workspace: Value,
    paths: &'e [String],
}

/// What the filter decided about one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Matched,
    Skipped,
    /// The expression failed on this contact's data (e.g. comparing a number to a text):
    /// not a match, and counted apart.
    Failed,
}

/// The evaluation context: two scopes, without building a map per contact.
#[derive(Debug)]
struct FilterContext {
    contact: Value,
    workspace: Value,
}

/// A contact as a filter sees it: its render scope, plus `email_domain` (lower-cased, the
/// part of `email` after its `@`) unless the data has a field of that name.
#[derive(Debug)]
struct FilterContact(Value);

/// The fields a filter reads besides those of the render scope.
pub const DERIVED_FIELDS: &[&str] = &["email_domain"];

impl Object for FilterContact {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let value = self.0.get_item(key).ok().filter(|v| !v.is_undefined());
        if value.is_some() || key.as_str() != Some("email_domain") {
            return value;
        }
        let email = self.0.get_attr("email").ok()?;
        let (_, domain) = email.as_str()?.rsplit_once('@')?;
        Some(Value::from(domain.trim().to_lowercase()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.0.try_iter() {
            Ok(keys) => Enumerator::Values(keys.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}

impl Object for FilterContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "contact" => Some(self.contact.clone()),
            "workspace" => Some(self.workspace.clone()),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(FILTER_SCOPES)
    }
}

impl Matcher<'_> {
    /// Decides on one contact (its render scope). Running out of fuel ends the scan: the
    /// filter, not the contact, is at fault.
    pub fn decide(&self, contact: &Value) -> Result<Decision> {
        let context = Value::from_object(FilterContext {
            contact: Value::from_object(FilterContact(contact.clone())),
            workspace: self.workspace.clone(),
        });
        match self.expression.eval(context) {
            Ok(value) => Ok(if value.is_true() {
                Decision::Matched
            } else {
                Decision::Skipped
            }),
            Err(err) => match self.engine.expression_error(&err) {
                RenderError::LimitExceeded { limit, message } => Err(Error::RenderLimit {
                    limit,
                    message: format!("the filter {message}"),
                }),
                _ => Ok(Decision::Failed),
            },
        }
    }

    /// The values the filter reads from `contact`, as text (absent ones left out).
    pub fn values(&self, contact: &Value) -> Vec<(String, String)> {
        self.paths
            .iter()
            .filter_map(|path| {
                let (scope, rest) = path.split_once('.')?;
                let mut value = match scope {
                    "contact" => Value::from_object(FilterContact(contact.clone())),
                    "workspace" => self.workspace.clone(),
                    _ => return None,
                };
                for key in rest.split('.') {
                    value = value.get_attr(key).ok()?;
                }
                if value.is_undefined() || value.is_none() {
                    return None;
                }
                Some((path.clone(), value.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::data::{Record, scope};
    use crate::template::RenderLimits;

    fn known() -> KnownPaths {
        KnownPaths {
            contact: vec!["country".into(), "plan".into(), "trial_status".into()],
            session: vec![],
            workspace: vec!["name".into()],
        }
    }

    fn contact(native: serde_json::Value, custom: serde_json::Value) -> Value {
        scope::build(
            "c1",
            &Record {
                native: native.as_object().unwrap().clone(),
                custom: custom.as_object().unwrap().clone(),
            },
        )
    }

    #[test]
    fn matches_native_and_custom_data() {
        let engine = Engine::new(RenderLimits::default());
        let filter = Filter::parse(
            &engine,
            "filter",
            r#"contact.country in ["FR", "BE"] and contact.trial_status == "trialing" and contact.email_domain == "acme.com""#,
            &known(),
        )
        .unwrap();
        let matcher = filter.matcher(&engine, Value::from(())).unwrap();
        let yes = contact(
            json!({"country": "FR", "email": "a@ACME.com"}),
            json!({"trial_status": "trialing"}),
        );
        let no = contact(
            json!({"country": "DE"}),
            json!({"trial_status": "trialing"}),
        );
        let missing = contact(json!({}), json!({}));
        assert_eq!(matcher.decide(&yes).unwrap(), Decision::Matched);
        assert_eq!(matcher.decide(&no).unwrap(), Decision::Skipped);
        assert_eq!(matcher.decide(&missing).unwrap(), Decision::Skipped);
        assert_eq!(
            matcher.values(&yes),
            vec![
                ("contact.country".to_string(), "FR".to_string()),
                ("contact.trial_status".to_string(), "trialing".to_string()),
                ("contact.email_domain".to_string(), "acme.com".to_string()),
            ]
        );
    }

    #[test]
    fn syntax_errors_have_the_filters_line_and_column() {
        let engine = Engine::new(RenderLimits::default());
        let err = Filter::parse(&engine, "filter", "contact.plan ==", &known()).unwrap_err();
        let Error::InvalidTemplate { field, problems } = err else {
            panic!("{err:?}")
        };
        assert_eq!(field, "filter");
        assert_eq!(problems[0].line, 1);
        // minijinja points at the operator left without its right-hand side.
        assert_eq!(problems[0].column, 14, "{problems:?}");
    }

    #[test]
    fn other_scopes_and_unknown_filters_are_refused_where_they_are() {
        let engine = Engine::new(RenderLimits::default());
        let err = Filter::parse(
            &engine,
            "filter",
            "contact.plan == \"pro\"\n and session.id | nope",
            &known(),
        )
        .unwrap_err();
        let Error::InvalidTemplate { problems, .. } = err else {
            panic!("{err:?}")
        };
        assert!(
            problems
                .iter()
                .any(|p| p.line == 2 && p.message.contains("unknown filter `nope`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.line == 2 && p.column == 6 && p.message.contains("session.id")),
            "{problems:?}"
        );
    }

    #[test]
    fn typos_of_known_paths_are_warned_about() {
        let engine = Engine::new(RenderLimits::default());
        let filter =
            Filter::parse(&engine, "filter", "contact.contry == \"FR\"", &known()).unwrap();
        assert_eq!(filter.warnings().len(), 1);
        assert_eq!(filter.warnings()[0].suggestion, "contact.country");
        assert_eq!(filter.warnings()[0].column, 1);
    }

    #[test]
    fn fuel_bounds_each_evaluation() {
        let engine = Engine::new(RenderLimits {
            fuel: 50,
            ..RenderLimits::default()
        });
        let filter = Filter::parse(
            &engine,
            "filter",
            "range(1000) | map('string') | join | length > 3",
            &known(),
        );
        let filter = match filter {
            Ok(f) => f,
            Err(e) => panic!("{e:?}"),
        };
        let matcher = filter.matcher(&engine, Value::from(())).unwrap();
        let err = matcher.decide(&contact(json!({}), json!({}))).unwrap_err();
        assert!(matches!(err, Error::RenderLimit { .. }), "{err:?}");
    }
}
