//! Converts the placeholders of other tools to ours: Liquid-style `{{contact.name}}`,
//! `{{first_name | fallback: "there"}}`, Chatwoot's `{{ contact.first_name || 'there' }}`
//! and Intercom's `<attribute key=… default=…/>` (read by [`super::html`] into
//! [`Piece::Attribute`]). Everything else prints verbatim. A variable that has no equivalent
//! here becomes a declared input (`<<vars.NAME>>`) instead of failing the item.

use crate::catalog::{InputType, ShortcutInput};

/// How one format's variable names map to our paths. `None`: no equivalent here.
pub type PathMap = fn(&str) -> Option<String>;

/// A piece of an item's text: literal text (which may hold `{{…}}` placeholders), or a
/// placeholder the source tool stores as markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// Intercom's `<attribute key="user.first_name" default="there"/>`.
    Attribute {
        key: String,
        fallback: Option<String>,
    },
}

/// An item's text in our template language, with what the conversion had to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub body: String,
    /// One per placeholder without an equivalent, read as `<<vars.NAME>>`.
    pub inputs: Vec<ShortcutInput>,
    /// What a person should check, e.g. which placeholder became which input.
    pub notes: Vec<String>,
}

/// Why an item's text could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("`{{{{{0}}}}}` is not a variable name this import can read")]
    UnknownVariable(String),
    #[error(
        "unsupported filter `{0}` in `{{{{{1}}}}}`; supported: default, fallback, upcase, downcase, capitalize"
    )]
    UnknownFilter(String, String),
    #[error("Liquid tags (`{{% … %}}`) are not converted; rewrite this reply by hand")]
    LiquidTag,
    #[error("a `{{{{` is not closed")]
    Unclosed,
}

/// Longest input name (the catalogue's bound).
const MAX_INPUT_NAME_CHARS: usize = crate::catalog::inputs::MAX_INPUT_NAME_CHARS;

/// The pieces as one template body, each placeholder converted and the rest escaped.
pub fn convert(pieces: &[Piece], map: PathMap) -> Result<Converted, ConvertError> {
    let mut converter = Converter {
        map,
        out: Converted::default(),
    };
    for piece in pieces {
        match piece {
            Piece::Text(text) => converter.text(text)?,
            Piece::Attribute { key, fallback } => {
                let placeholder = converter.placeholder(key.trim(), fallback.as_deref(), &[])?;
                converter.out.body.push_str(&placeholder);
            }
        }
    }
    Ok(converter.out)
}

struct Converter {
    map: PathMap,
    out: Converted,
}

impl Converter {
    fn text(&mut self, text: &str) -> Result<(), ConvertError> {
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            escape_into(&rest[..start], &mut self.out.body)?;
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(ConvertError::Unclosed)?;
            let placeholder = self.expression(after[..end].trim())?;
            self.out.body.push_str(&placeholder);
            rest = &after[end + 2..];
        }
        escape_into(rest, &mut self.out.body)
    }

    /// `name | filter: arg | …` or Chatwoot's `name || 'fallback'`.
    fn expression(&mut self, expression: &str) -> Result<String, ConvertError> {
        let parts = split_outside_quotes(expression, "||");
        if parts.len() == 2 {
            let fallback = literal(parts[1].trim())
                .ok_or_else(|| ConvertError::UnknownVariable(expression.to_owned()))?;
            return self.placeholder(parts[0].trim(), Some(&fallback), &[]);
        }
        let mut parts = split_outside_quotes(expression, "|").into_iter();
        let name = parts.next().unwrap_or_default().trim();
        let mut fallback = None;
        let mut filters = Vec::new();
        for filter in parts {
            let (filter_name, argument) = match filter.split_once(':') {
                Some((n, a)) => (n.trim(), Some(a.trim())),
                None => (filter.trim(), None),
            };
            let unknown =
                || ConvertError::UnknownFilter(filter_name.to_owned(), expression.to_owned());
            match (filter_name, argument) {
                ("default" | "fallback", Some(arg)) => {
                    let text = literal(arg).ok_or_else(unknown)?;
                    // A fallback applies to the value, before the case filters.
                    if fallback.is_none() && filters.is_empty() {
                        fallback = Some(text);
                    } else {
                        filters.push(format!("fallback({})", serde_json::Value::from(text)));
                    }
                }
                ("upcase", None) => filters.push("upper".to_owned()),
                ("downcase", None) => filters.push("lower".to_owned()),
                ("capitalize", None) => filters.push("capitalize".to_owned()),
                _ => return Err(unknown()),
            }
        }
        self.placeholder(name, fallback.as_deref(), &filters)
    }

    /// `<<path | fallback("…") | filters>>`, declaring an input when `name` has no path.
    fn placeholder(
        &mut self,
        name: &str,
        fallback: Option<&str>,
        filters: &[String],
    ) -> Result<String, ConvertError> {
        let path = match (self.map)(name) {
            Some(path) => path,
            None => format!("vars.{}", self.declare_input(name, fallback)?),
        };
        let mut out = format!("<<{path}");
        if let Some(text) = fallback {
            out.push_str(&format!(" | fallback({})", serde_json::Value::from(text)));
        }
        for filter in filters {
            out.push_str(" | ");
            out.push_str(filter);
        }
        out.push_str(">>");
        Ok(out)
    }

    /// The input standing for `name` (declared once per name).
    fn declare_input(
        &mut self,
        name: &str,
        fallback: Option<&str>,
    ) -> Result<String, ConvertError> {
        if !is_path(name) {
            return Err(ConvertError::UnknownVariable(name.to_owned()));
        }
        if let Some(existing) = self.out.inputs.iter().find(|i| i.label == name) {
            return Ok(existing.name.clone());
        }
        let base = input_name(name);
        let mut input = base.clone();
        let mut n = 1;
        while self
            .out
            .inputs
            .iter()
            .any(|i| i.name.eq_ignore_ascii_case(&input))
        {
            n += 1;
            let suffix = format!("_{n}");
            input = format!(
                "{}{suffix}",
                truncate(&base, MAX_INPUT_NAME_CHARS - suffix.len())
            );
        }
        self.out.notes.push(format!(
            "`{{{{{name}}}}}` has no equivalent here: it became the input `{input}` (`<<vars.{input}>>`), asked of the agent"
        ));
        self.out.inputs.push(ShortcutInput {
            name: input.clone(),
            label: name.to_owned(),
            kind: InputType::Text,
            // With a fallback the reply reads well without it.
            required: fallback.is_none(),
            choices: vec![],
            default_value: String::new(),
            help: format!("Imported placeholder {{{{{name}}}}}"),
        });
        Ok(input)
    }
}

/// Literal text, with our delimiters neutralised so that it prints as written.
fn escape_into(literal: &str, out: &mut String) -> Result<(), ConvertError> {
    if literal.contains("{%") && literal.contains("%}") {
        return Err(ConvertError::LiquidTag);
    }
    let mut rest = literal;
    loop {
        let next = ["<<", "{%", "{#"]
            .iter()
            .filter_map(|d| rest.find(d).map(|i| (i, *d)))
            .min();
        match next {
            Some((i, delimiter)) => {
                out.push_str(&rest[..i]);
                out.push_str("<<\"");
                out.push_str(delimiter);
                out.push_str("\">>");
                rest = &rest[i + 2..];
            }
            None => {
                out.push_str(rest);
                return Ok(());
            }
        }
    }
}

/// Splits on `separator` where it is not inside a quoted string.
fn split_outside_quotes<'a>(text: &'a str, separator: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or_default();
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if text[i..].starts_with(separator) => {
                // `|` is not a split of `||`.
                if separator == "|" && text[i + 1..].starts_with('|') {
                    i += 2;
                    continue;
                }
                parts.push(&text[start..i]);
                i += separator.len();
                start = i;
                continue;
            }
            None => {}
        }
        i += c.len_utf8();
    }
    parts.push(&text[start..]);
    parts
}

/// A quoted string's text (`"there"`, `'there'`), or a bare word or number as written.
fn literal(arg: &str) -> Option<String> {
    let arg = arg.trim();
    for q in ['"', '\''] {
        if let Some(inner) = arg.strip_prefix(q) {
            return inner.strip_suffix(q).map(str::to_owned);
        }
    }
    (!arg.is_empty() && !arg.contains(char::is_whitespace)).then(|| arg.to_owned())
}

/// A dotted variable name such as `ticket.ticket_field_360001`.
fn is_path(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `ticket.ticket_field_360001` -> `ticket_field_360001`, `current_user.signature` ->
/// `current_user_signature`: a valid input name (letter or `_` first, at most 64 chars).
fn input_name(path: &str) -> String {
    let trimmed = path.strip_prefix("ticket.").unwrap_or(path);
    let mut name: String = trimmed
        .chars()
        .map(|c| if c == '.' { '_' } else { c })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    truncate(&name, MAX_INPUT_NAME_CHARS).to_owned()
}

fn truncate(text: &str, max: usize) -> &str {
    // Input names are ASCII (see `is_path`), so a byte bound is a character bound.
    &text[..text.len().min(max)]
}

/// Chatwoot canned responses.
pub fn chatwoot(name: &str) -> Option<String> {
    Some(
        match name {
            "contact.name" => "contact.nickname",
            "contact.first_name" => "contact.first_name",
            "contact.last_name" => "contact.last_name",
            "contact.email" => "contact.email",
            "contact.phone" | "contact.phone_number" => "contact.phone",
            "contact.id" => "contact.id",
            "agent.name" => "agent.name",
            "agent.first_name" => "agent.first_name",
            "agent.last_name" => "agent.last_name",
            "agent.email" => "agent.email",
            "conversation.id" | "conversation.display_id" => "session.id",
            "inbox.name" => "vars.inbox_name",
            "account.name" => "workspace.name",
            _ => {
                return custom("contact.custom_attribute.", "contact.", name)
                    .or_else(|| custom("contact.custom_attributes.", "contact.", name))
                    .or_else(|| custom("conversation.custom_attribute.", "session.", name))
                    .or_else(|| custom("conversation.custom_attributes.", "session.", name));
            }
        }
        .to_string(),
    )
}

/// Zendesk macros' comment text.
pub fn zendesk(name: &str) -> Option<String> {
    Some(
        match name {
            "ticket.requester.first_name" => "contact.first_name",
            "ticket.requester.last_name" => "contact.last_name",
            "ticket.requester.name" => "contact.nickname",
            "ticket.requester.email" => "contact.email",
            "ticket.requester.phone" => "contact.phone",
            "ticket.organization.name" => "contact.company.name",
            "ticket.id" => "session.id",
            "ticket.title" => "session.subject",
            "ticket.url" | "ticket.link" => "vars.ticket_url",
            "ticket.assignee.name" | "current_user.name" => "agent.name",
            "ticket.assignee.first_name" | "current_user.first_name" => "agent.first_name",
            "ticket.assignee.email" | "current_user.email" => "agent.email",
            "satisfaction.rating_url" => "vars.satisfaction_url",
            _ => return custom("ticket.requester.custom_fields.", "contact.", name),
        }
        .to_string(),
    )
}

/// Intercom attributes: the person's (`user.` or bare) standard ones, their custom ones, the
/// teammate's; a bare unknown name is the person's custom data.
pub fn intercom(name: &str) -> Option<String> {
    if let Some(key) = name
        .strip_prefix("user.custom_attributes.")
        .or_else(|| name.strip_prefix("custom_attributes."))
    {
        return is_identifier(key).then(|| format!("contact.{key}"));
    }
    let person = name.strip_prefix("user.").unwrap_or(name);
    Some(
        match person {
            "first_name" => "contact.first_name",
            "last_name" => "contact.last_name",
            "name" => "contact.nickname",
            "email" => "contact.email",
            "phone" => "contact.phone",
            "user_id" => "contact.user_id",
            "company.name" | "company_name" => "contact.company.name",
            "city" | "location.city" => "contact.city",
            "country" | "location.country" => "contact.country",
            "teammate.first_name" | "author.first_name" => "agent.first_name",
            "teammate.name" | "author.name" => "agent.name",
            "teammate.email" | "author.email" => "agent.email",
            "app.name" => "workspace.name",
            other if is_identifier(other) => return Some(format!("contact.{other}")),
            _ => return None,
        }
        .to_string(),
    )
}

/// Crisp shortcuts carry plain text; Crisp-style `{{ user.nickname }}` markers found in
/// some exports are mapped too.
pub fn crisp(name: &str) -> Option<String> {
    Some(
        match name {
            "user.nickname" | "nickname" => "contact.nickname",
            "user.first_name" | "first_name" => "contact.first_name",
            "user.email" | "email" => "contact.email",
            "user.phone" | "phone" => "contact.phone",
            "operator.first_name" => "agent.first_name",
            "operator.nickname" => "agent.name",
            "website.name" => "workspace.name",
            _ => return custom("data.", "contact.data.", name),
        }
        .to_string(),
    )
}

/// `prefix.key` -> `ours` + `key` for a custom-attribute namespace.
fn custom(prefix: &str, ours: &str, name: &str) -> Option<String> {
    let key = name.strip_prefix(prefix)?;
    is_identifier(key).then(|| format!("{ours}{key}"))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_text(text: &str, map: PathMap) -> Result<Converted, ConvertError> {
        convert(&[Piece::Text(text.to_owned())], map)
    }

    fn body(text: &str, map: PathMap) -> String {
        convert_text(text, map).unwrap().body
    }

    #[test]
    fn converts_variables_and_filters() {
        assert_eq!(
            body("Hi {{contact.name}}!", chatwoot),
            "Hi <<contact.nickname>>!"
        );
        assert_eq!(
            body("Hi {{ first_name | fallback: \"there\" }}", intercom),
            "Hi <<contact.first_name | fallback(\"there\")>>"
        );
        assert_eq!(
            body(
                "{{ticket.requester.first_name | default: 'you' | upcase}}",
                zendesk
            ),
            "<<contact.first_name | fallback(\"you\") | upper>>"
        );
        assert_eq!(
            body("{{contact.custom_attribute.plan}}", chatwoot),
            "<<contact.plan>>"
        );
    }

    #[test]
    fn intercom_user_keys_and_compact_fallback() {
        // As Intercom's editor writes it: no spaces, the `user.` prefix.
        assert_eq!(
            body("Hi {{user.first_name|fallback:\"there\"}},", intercom),
            "Hi <<contact.first_name | fallback(\"there\")>>,"
        );
        assert_eq!(
            body(
                "{{user.custom_attributes.plan}} at {{user.company.name}}",
                intercom
            ),
            "<<contact.plan>> at <<contact.company.name>>"
        );
        // A fallback holding a `|` or a `:` stays whole.
        assert_eq!(
            body("{{first_name | fallback: \"a|b: c\"}}", intercom),
            "<<contact.first_name | fallback(\"a|b: c\")>>"
        );
    }

    #[test]
    fn intercom_attribute_pieces() {
        let converted = convert(
            &[
                Piece::Text("Hi ".into()),
                Piece::Attribute {
                    key: "user.first_name".into(),
                    fallback: Some("there \"friend\"".into()),
                },
                Piece::Text(", from ".into()),
                Piece::Attribute {
                    key: "app.name".into(),
                    fallback: None,
                },
            ],
            intercom,
        )
        .unwrap();
        assert_eq!(
            converted.body,
            "Hi <<contact.first_name | fallback(\"there \\\"friend\\\"\")>>, from <<workspace.name>>"
        );
        assert!(converted.inputs.is_empty());
    }

    #[test]
    fn chatwoot_double_pipe_fallback_and_conversation_attributes() {
        assert_eq!(
            body("Hi {{ contact.first_name || 'there' }}!", chatwoot),
            "Hi <<contact.first_name | fallback(\"there\")>>!"
        );
        assert_eq!(
            body("Order {{conversation.custom_attribute.order_id}}", chatwoot),
            "Order <<session.order_id>>"
        );
        assert_eq!(
            body("{{ contact.custom_attribute.plan || \"free\" }}", chatwoot),
            "<<contact.plan | fallback(\"free\")>>"
        );
    }

    #[test]
    fn variables_without_equivalent_become_inputs() {
        let converted = convert_text(
            "Field: {{ticket.ticket_field_360001}}\n{{current_user.signature}}\n{{current_user.signature}} {{dc.greeting | default: 'Hello'}}",
            zendesk,
        )
        .unwrap();
        assert_eq!(
            converted.body,
            "Field: <<vars.ticket_field_360001>>\n<<vars.current_user_signature>>\n<<vars.current_user_signature>> <<vars.dc_greeting | fallback(\"Hello\")>>"
        );
        let names: Vec<_> = converted.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ticket_field_360001",
                "current_user_signature",
                "dc_greeting"
            ]
        );
        assert!(converted.inputs[0].required);
        assert!(!converted.inputs[2].required, "it has a fallback");
        assert_eq!(converted.inputs[1].label, "current_user.signature");
        assert_eq!(converted.notes.len(), 3);
        assert!(converted.notes[1].contains("current_user_signature"));
        // Names are bounded and stay distinct.
        let long = format!(
            "{{{{a.{}}}}} {{{{a_{}}}}}",
            "x".repeat(100),
            "x".repeat(100)
        );
        let converted = convert_text(&long, zendesk).unwrap();
        assert_eq!(converted.inputs.len(), 2);
        assert!(converted.inputs.iter().all(|i| i.name.len() <= 64));
        assert_ne!(converted.inputs[0].name, converted.inputs[1].name);
    }

    #[test]
    fn literal_text_stays_literal() {
        assert_eq!(
            body("a << b {% c {# d", crisp),
            "a <<\"<<\">> b <<\"{%\">> c <<\"{#\">> d"
        );
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        assert_eq!(
            convert_text("{{ 'quoted' }}", zendesk),
            Err(ConvertError::UnknownVariable("'quoted'".into()))
        );
        assert!(matches!(
            convert_text("{{name | truncate: 5}}", intercom),
            Err(ConvertError::UnknownFilter(..))
        ));
        assert_eq!(
            convert_text("{% if x %}y{% endif %}", zendesk),
            Err(ConvertError::LiquidTag)
        );
        assert_eq!(
            convert_text("{{name", intercom),
            Err(ConvertError::Unclosed)
        );
    }
}
