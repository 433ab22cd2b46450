//! Converts the Liquid-style placeholders of other tools (`{{contact.name}}`,
//! `{{ticket.requester.first_name}}`, `{{first_name | fallback: "there"}}`) to ours, and
//! makes every other part of the text print verbatim.

/// How one format's variable names map to our paths. `None` from the mapping: unknown.
pub type PathMap = fn(&str) -> Option<String>;

/// Why an item's text could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "unknown variable `{{{{{0}}}}}`; it has no equivalent here (see the README's import table)"
    )]
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

/// The text with each `{{…}}` converted and everything else escaped.
pub fn convert(text: &str, map: PathMap) -> Result<String, ConvertError> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        escape_into(&rest[..start], &mut out)?;
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(ConvertError::Unclosed)?;
        out.push_str(&variable(after[..end].trim(), map)?);
        rest = &after[end + 2..];
    }
    escape_into(rest, &mut out)?;
    Ok(out)
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

/// `contact.name | default: 'there' | upcase` -> `<<contact.nickname | fallback("there") | upper>>`
fn variable(expression: &str, map: PathMap) -> Result<String, ConvertError> {
    let mut parts = expression.split('|');
    let name = parts.next().unwrap_or_default().trim();
    let path = map(name).ok_or_else(|| ConvertError::UnknownVariable(name.to_string()))?;
    let mut out = format!("<<{path}");
    for filter in parts {
        let (filter_name, argument) = match filter.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (filter.trim(), None),
        };
        let ours = match (filter_name, argument) {
            ("default" | "fallback", Some(arg)) => {
                let text = arg.trim_matches(|c| c == '"' || c == '\'');
                format!("fallback({})", serde_json::Value::from(text))
            }
            ("upcase", None) => "upper".to_string(),
            ("downcase", None) => "lower".to_string(),
            ("capitalize", None) => "capitalize".to_string(),
            _ => {
                return Err(ConvertError::UnknownFilter(
                    filter_name.to_string(),
                    expression.to_string(),
                ));
            }
        };
        out.push_str(" | ");
        out.push_str(&ours);
    }
    out.push_str(">>");
    Ok(out)
}

/// Chatwoot canned responses.
pub fn chatwoot(name: &str) -> Option<String> {
    Some(
        match name {
            "contact.name" => "contact.nickname",
            "contact.first_name" => "contact.first_name",
            "contact.last_name" => "contact.last_name",
            "contact.email" => "contact.email",
            "contact.phone" => "contact.phone",
            "contact.id" => "contact.id",
            "agent.name" => "agent.name",
            "agent.first_name" => "agent.first_name",
            "agent.last_name" => "agent.last_name",
            "agent.email" => "agent.email",
            "conversation.id" | "conversation.display_id" => "session.id",
            "inbox.name" => "vars.inbox_name",
            "account.name" => "workspace.name",
            _ => return custom("contact.custom_attribute.", "contact.", name),
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

/// Intercom attributes: the person's standard ones, anything else is custom data.
pub fn intercom(name: &str) -> Option<String> {
    Some(
        match name {
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

    #[test]
    fn converts_variables_and_filters() {
        assert_eq!(
            convert("Hi {{contact.name}}!", chatwoot).unwrap(),
            "Hi <<contact.nickname>>!"
        );
        assert_eq!(
            convert("Hi {{ first_name | fallback: \"there\" }}", intercom).unwrap(),
            "Hi <<contact.first_name | fallback(\"there\")>>"
        );
        assert_eq!(
            convert(
                "{{ticket.requester.first_name | default: 'you' | upcase}}",
                zendesk
            )
            .unwrap(),
            "<<contact.first_name | fallback(\"you\") | upper>>"
        );
        assert_eq!(
            convert("{{contact.custom_attribute.plan}}", chatwoot).unwrap(),
            "<<contact.plan>>"
        );
    }

    #[test]
    fn literal_text_stays_literal() {
        assert_eq!(
            convert("a << b {% c {# d", crisp).unwrap(),
            "a <<\"<<\">> b <<\"{%\">> c <<\"{#\">> d"
        );
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        assert_eq!(
            convert("{{dc.greeting}}", zendesk),
            Err(ConvertError::UnknownVariable("dc.greeting".into()))
        );
        assert!(matches!(
            convert("{{name | truncate: 5}}", intercom),
            Err(ConvertError::UnknownFilter(..))
        ));
        assert_eq!(
            convert("{% if x %}y{% endif %}", zendesk),
            Err(ConvertError::LiquidTag)
        );
        assert_eq!(convert("{{name", intercom), Err(ConvertError::Unclosed));
    }
}
