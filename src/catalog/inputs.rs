//! A shortcut's inputs (the values it asks the agent for): the rules for declaring them,
//! the check of the values a render supplies in `vars`, and the write-time warnings about
//! `vars.*` read but not declared, or declared but never read.
//!
//! Everything here runs at write time, except [`apply`], which a render of a shortcut with
//! inputs calls once; a shortcut without inputs costs a render nothing.

use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::ValueKind;

use super::model::{InputType, ShortcutInput};
use crate::error::{Error, Result, quote};
use crate::template::{TemplateWarning, Validation, dates::Moment};

pub const MAX_INPUTS: usize = 32;
pub const MAX_INPUT_NAME_CHARS: usize = 64;
pub const MAX_LABEL_CHARS: usize = 200;
pub const MAX_HELP_CHARS: usize = 500;
pub const MAX_CHOICES: usize = 100;
pub const MAX_CHOICE_CHARS: usize = 200;
/// Longer than any sensible value; keeps error messages and forms small.
pub const MAX_DEFAULT_CHARS: usize = 1000;

impl InputType {
    /// The name clients know it by (`MONEY`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            InputType::Text => "TEXT",
            InputType::Number => "NUMBER",
            InputType::Money => "MONEY",
            InputType::Date => "DATE",
            InputType::Choice => "CHOICE",
            InputType::Email => "EMAIL",
            InputType::Url => "URL",
        }
    }
}

fn field(i: usize, name: &str) -> String {
    format!("inputs[{i}].{name}")
}

/// Text of at most `max` characters without control characters, trimmed.
fn short_text(field: String, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(value.to_string())
}

/// Whether `name` can be read as `vars.NAME`: an identifier minijinja accepts after a dot.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks declared inputs and returns them normalised (texts trimmed, an empty label
/// replaced by the name). Each failure names its field (`inputs[2].choices`).
pub fn check(inputs: &[ShortcutInput]) -> Result<Vec<ShortcutInput>> {
    if inputs.len() > MAX_INPUTS {
        return Err(Error::invalid(
            "inputs",
            format!("more than {MAX_INPUTS} inputs"),
        ));
    }
    let mut out: Vec<ShortcutInput> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let name = input.name.trim();
        if name.chars().count() > MAX_INPUT_NAME_CHARS || !is_identifier(name) {
            return Err(Error::invalid(
                field(i, "name"),
                format!(
                    "{} must be a letter or `_` followed by letters, digits or `_`, at most {MAX_INPUT_NAME_CHARS} characters (it is read as `vars.NAME`)",
                    quote(name)
                ),
            ));
        }
        if let Some(j) = out.iter().position(|o| o.name.eq_ignore_ascii_case(name)) {
            return Err(Error::invalid(
                field(i, "name"),
                format!(
                    "{} is already the name of inputs[{j}] (names are case-insensitive)",
                    quote(name)
                ),
            ));
        }
        let label = short_text(field(i, "label"), &input.label, MAX_LABEL_CHARS)?;
        let help = short_text(field(i, "help"), &input.help, MAX_HELP_CHARS)?;
        let choices = choices(i, input)?;
        let default_value = short_text(
            field(i, "default_value"),
            &input.default_value,
            MAX_DEFAULT_CHARS,
        )?;
        let checked = ShortcutInput {
            name: name.to_string(),
            label: if label.is_empty() {
                name.to_string()
            } else {
                label
            },
            kind: input.kind,
            required: input.required,
            choices,
            default_value,
            help,
        };
        if !checked.default_value.is_empty()
            && let Some(problem) = problem(&checked, &Value::from(checked.default_value.as_str()))
        {
            return Err(Error::invalid(field(i, "default_value"), problem));
        }
        out.push(checked);
    }
    Ok(out)
}

fn choices(i: usize, input: &ShortcutInput) -> Result<Vec<String>> {
    let field_name = field(i, "choices");
    if input.kind != InputType::Choice {
        if !input.choices.is_empty() {
            return Err(Error::invalid(
                field_name,
                format!(
                    "only an input of type CHOICE has choices; this one is {}",
                    input.kind.name()
                ),
            ));
        }
        return Ok(vec![]);
    }
    if input.choices.is_empty() || input.choices.len() > MAX_CHOICES {
        return Err(Error::invalid(
            field_name,
            format!("a CHOICE input needs 1 to {MAX_CHOICES} choices"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(input.choices.len());
    for (j, choice) in input.choices.iter().enumerate() {
        let name = format!("{field_name}[{j}]");
        let choice = short_text(name.clone(), choice, MAX_CHOICE_CHARS)?;
        if choice.is_empty() {
            return Err(Error::invalid(name, "is empty"));
        }
        if out.contains(&choice) {
            return Err(Error::invalid(
                name,
                format!("{} is given twice", quote(&choice)),
            ));
        }
        out.push(choice);
    }
    Ok(out)
}

/// Why `value` is not a value of `input`, or `None` when it is.
fn problem(input: &ShortcutInput, value: &Value) -> Option<String> {
    let kind = input.kind;
    let text = value.as_str().map(str::trim);
    let ok = match kind {
        InputType::Text => matches!(
            value.kind(),
            ValueKind::String | ValueKind::Number | ValueKind::Bool
        ),
        InputType::Number | InputType::Money => match value.kind() {
            ValueKind::Number => f64::try_from(value.clone()).is_ok_and(f64::is_finite),
            _ => text
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(f64::is_finite),
        },
        InputType::Date => text.and_then(Moment::parse).is_some(),
        InputType::Choice => text.is_some_and(|t| input.choices.iter().any(|c| c == t)),
        InputType::Email => text.is_some_and(is_email),
        InputType::Url => text.is_some_and(is_web_url),
    };
    if ok {
        return None;
    }
    let shown = match text {
        Some(t) => quote(t),
        None => format!("a {}", value.kind()),
    };
    Some(match kind {
        InputType::Text => format!("{shown} is not text"),
        InputType::Number => format!("{shown} is not a number"),
        InputType::Money => format!("{shown} is not an amount (a number such as 12.50)"),
        InputType::Date => format!("{shown} is not a date (2026-03-01, or RFC 3339)"),
        InputType::Choice => format!(
            "{shown} is not one of the choices ({})",
            input
                .choices
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        InputType::Email => format!("{shown} is not an email address"),
        InputType::Url => format!("{shown} is not an http or https URL"),
    })
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_web_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Whether a `vars` entry counts as supplied: absent, null and empty text do not (an
/// empty form field).
fn supplied(value: &Value) -> bool {
    !(value.is_undefined() || value.is_none() || value.as_str().is_some_and(|s| s.is_empty()))
}

/// Checks the values a render supplies for a shortcut's inputs and fills in defaults.
/// Returns the `vars` to render with and the names of the required inputs still needed
/// (neither supplied nor defaulted). A supplied value of the wrong type is an
/// `INVALID_ARGUMENT` naming `vars.NAME`.
pub fn apply(inputs: &[ShortcutInput], vars: Value) -> Result<(Value, Vec<String>)> {
    let mut needs = Vec::new();
    let mut defaults: Vec<(&str, &str)> = Vec::new();
    for input in inputs {
        let value = vars.get_attr(&input.name).unwrap_or_default();
        if supplied(&value) {
            if let Some(problem) = problem(input, &value) {
                return Err(Error::invalid(
                    format!("vars.{}", input.name),
                    format!(
                        "{problem} (the input {} is of type {})",
                        quote(&input.name),
                        input.kind.name()
                    ),
                ));
            }
        } else if !input.default_value.is_empty() {
            defaults.push((&input.name, &input.default_value));
        } else if input.required {
            needs.push(input.name.clone());
        }
    }
    if defaults.is_empty() {
        return Ok((vars, needs));
    }
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    if let Ok(keys) = vars.try_iter() {
        for key in keys {
            if let (Some(name), Ok(value)) = (key.as_str(), vars.get_item(&key)) {
                map.insert(name.to_string(), value);
            }
        }
    }
    for (name, value) in defaults {
        map.insert(name.to_string(), Value::from(value));
    }
    Ok((Value::from(map), needs))
}

/// Warnings about how a body uses the inputs: `vars.NAME` read but not declared (with the
/// closest declared name as the suggestion). `field` names the body (`body`,
/// `variants["fr"]`).
pub fn undeclared(
    field: &str,
    validation: &Validation,
    inputs: &[ShortcutInput],
) -> Vec<TemplateWarning> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (path, (line, column)) in validation.placeholders.iter().zip(&validation.positions) {
        let Some(name) = input_read(path) else {
            continue;
        };
        if seen.contains(&name) || inputs.iter().any(|i| i.name == name) {
            continue;
        }
        seen.push(name);
        let suggestion = crate::template::closest(name, inputs.iter().map(|i| i.name.as_str()))
            .map(|n| format!("vars.{n}"))
            .unwrap_or_default();
        let message = if suggestion.is_empty() {
            format!(
                "`vars.{name}` is not a declared input: a composer will not ask the agent for it"
            )
        } else {
            format!(
                "`vars.{name}` is not a declared input: a composer will not ask the agent for it; did you mean `{suggestion}`?"
            )
        };
        out.push(TemplateWarning {
            field: field.to_string(),
            line: *line,
            column: *column,
            message,
            suggestion,
        });
    }
    out
}

/// Warnings about declared inputs that none of `validations` (the body and its variants)
/// reads. Nothing is said when a body reads `vars` as a whole (it may read any of them).
pub fn unused(validations: &[&Validation], inputs: &[ShortcutInput]) -> Vec<TemplateWarning> {
    let reads = || validations.iter().flat_map(|v| v.placeholders.iter());
    if reads().any(|p| p == "vars") {
        return vec![];
    }
    inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| !reads().any(|p| input_read(p) == Some(input.name.as_str())))
        .map(|(i, input)| TemplateWarning {
            field: format!("inputs[{i}]"),
            line: 0,
            column: 0,
            message: format!(
                "the input {} is never read: the body has no `vars.{}`",
                quote(&input.name),
                input.name
            ),
            suggestion: String::new(),
        })
        .collect()
}

/// The input a placeholder path reads: `vars.amount.cents` -> `amount`.
fn input_read(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("vars.")?;
    Some(rest.split('.').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, kind: InputType) -> ShortcutInput {
        ShortcutInput {
            name: name.into(),
            label: String::new(),
            kind,
            required: true,
            choices: vec![],
            default_value: String::new(),
            help: String::new(),
        }
    }

    #[test]
    fn declarations_are_checked_field_by_field() {
        let err = |inputs: &[ShortcutInput]| check(inputs).unwrap_err().to_string();
        assert!(err(&[input("1x", InputType::Text)]).starts_with("inputs[0].name"));
        assert!(
            err(&[input("a", InputType::Text), input("A", InputType::Text)])
                .starts_with("inputs[1].name")
        );
        let mut with_choices = input("a", InputType::Text);
        with_choices.choices = vec!["x".into()];
        assert!(err(&[with_choices]).starts_with("inputs[0].choices"));
        assert!(err(&[input("a", InputType::Choice)]).starts_with("inputs[0].choices"));
        let mut bad_default = input("a", InputType::Money);
        bad_default.default_value = "ten".into();
        assert!(err(&[bad_default]).starts_with("inputs[0].default_value"));
        let many: Vec<_> = (0..=MAX_INPUTS)
            .map(|i| input(&format!("i{i}"), InputType::Text))
            .collect();
        assert!(err(&many).starts_with("inputs:"));
        let ok = check(&[input(" amount ", InputType::Money)]).unwrap();
        assert_eq!(ok[0].name, "amount");
        assert_eq!(ok[0].label, "amount");
    }

    #[test]
    fn values_are_checked_by_type() {
        let mut choice = input("c", InputType::Choice);
        choice.choices = vec!["yes".into(), "no".into()];
        for (input, good, bad) in [
            (input("n", InputType::Number), "12.5", "12,5"),
            (input("m", InputType::Money), " 30 ", "thirty"),
            (input("d", InputType::Date), "2026-03-01", "yesterday"),
            (choice, "no", "maybe"),
            (input("e", InputType::Email), "a@b.co", "a@b"),
            (
                input("u", InputType::Url),
                "https://x.io/a?b",
                "javascript:alert(1)",
            ),
        ] {
            assert_eq!(problem(&input, &Value::from(good)), None, "{good}");
            assert!(problem(&input, &Value::from(bad)).is_some(), "{bad}");
        }
        assert_eq!(
            problem(&input("n", InputType::Number), &Value::from(3)),
            None
        );
    }
}
