//! Reads the export files of other tools into neutral items: a name, a bang, a title, the
//! reply text and tags. Each reader accepts the shape the tool's API or export returns.

use serde::Deserialize;
use serde_json::Value as Json;

use super::placeholders::{self, PathMap};

/// The tools we import from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Crisp website shortcuts: `{bang, text, tag, disabled}` (bare list or the API's
    /// `{"data": [...]}` envelope).
    Crisp,
    /// Chatwoot canned responses: `{short_code, content}`.
    Chatwoot,
    /// Zendesk macros: `{"macros": [{title, active, actions: [{field: "comment_value", value}]}]}`.
    Zendesk,
    /// Intercom saved replies: `{name, body}` with `{{first_name | fallback: "there"}}`.
    Intercom,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Crisp => "crisp",
            Format::Chatwoot => "chatwoot",
            Format::Zendesk => "zendesk",
            Format::Intercom => "intercom",
        }
    }

    pub fn paths(self) -> PathMap {
        match self {
            Format::Crisp => placeholders::crisp,
            Format::Chatwoot => placeholders::chatwoot,
            Format::Zendesk => placeholders::zendesk,
            Format::Intercom => placeholders::intercom,
        }
    }
}

/// One reply as read from an export, before conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawItem {
    /// How the source tool names it (for the report).
    pub source_name: String,
    pub bang: String,
    pub title: String,
    pub text: String,
    pub tags: Vec<String>,
    pub disabled: bool,
    /// A problem found while reading this item.
    pub problem: Option<String>,
}

/// Parses an export file. A file that is not the format's JSON at all is an error for the
/// whole call; a malformed item is reported on that item.
pub fn read(format: Format, content: &str) -> Result<Vec<RawItem>, String> {
    let json: Json = serde_json::from_str(content)
        .map_err(|e| format!("is not valid JSON for a {} export: {e}", format.name()))?;
    let list = |json: &Json, keys: &[&str]| -> Result<Vec<Json>, String> {
        if let Json::Array(items) = json {
            return Ok(items.clone());
        }
        for key in keys {
            if let Some(Json::Array(items)) = json.get(key) {
                return Ok(items.clone());
            }
        }
        Err(format!(
            "a {} export is a JSON list or an object with {}",
            format.name(),
            keys.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    };
    let items = match format {
        Format::Crisp => list(&json, &["data", "shortcuts"])?,
        Format::Chatwoot => list(&json, &["payload", "canned_responses"])?,
        Format::Zendesk => list(&json, &["macros"])?,
        Format::Intercom => list(&json, &["saved_replies", "data"])?,
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            match format {
                Format::Crisp => crisp(item),
                Format::Chatwoot => chatwoot(item),
                Format::Zendesk => zendesk(item),
                Format::Intercom => intercom(item),
            }
            .unwrap_or_else(|problem| RawItem {
                source_name: format!("item {i}"),
                problem: Some(problem),
                ..RawItem::default()
            })
        })
        .collect())
}

fn parse<T: for<'de> Deserialize<'de>>(item: Json) -> Result<T, String> {
    serde_json::from_value(item).map_err(|e| format!("unreadable item: {e}"))
}

fn crisp(item: Json) -> Result<RawItem, String> {
    #[derive(Deserialize)]
    struct Shortcut {
        bang: String,
        text: String,
        #[serde(default)]
        tag: Option<String>,
        #[serde(default)]
        disabled: bool,
    }
    let s: Shortcut = parse(item)?;
    let bare = s.bang.trim().trim_start_matches('!').to_string();
    Ok(RawItem {
        source_name: s.bang.clone(),
        title: bare.clone(),
        bang: bare,
        text: s.text,
        tags: s.tag.into_iter().filter(|t| !t.trim().is_empty()).collect(),
        disabled: s.disabled,
        problem: None,
    })
}

fn chatwoot(item: Json) -> Result<RawItem, String> {
    #[derive(Deserialize)]
    struct Canned {
        short_code: String,
        content: String,
    }
    let c: Canned = parse(item)?;
    Ok(RawItem {
        source_name: c.short_code.clone(),
        title: c.short_code.clone(),
        bang: c.short_code,
        text: c.content,
        tags: vec!["chatwoot".into()],
        disabled: false,
        problem: None,
    })
}

fn zendesk(item: Json) -> Result<RawItem, String> {
    #[derive(Deserialize)]
    struct Action {
        field: String,
        value: Json,
    }
    #[derive(Deserialize)]
    struct Macro {
        title: String,
        #[serde(default = "yes")]
        active: bool,
        #[serde(default)]
        actions: Vec<Action>,
    }
    fn yes() -> bool {
        true
    }
    let m: Macro = parse(item)?;
    // `comment_value` is the text, or `["channel:all", text]`; `comment_value_html` is
    // HTML and only used when there is no plain text.
    let comment = |field: &str| {
        m.actions
            .iter()
            .find(|a| a.field == field)
            .and_then(|a| match &a.value {
                Json::String(s) => Some(s.clone()),
                Json::Array(parts) => parts.last().and_then(Json::as_str).map(str::to_owned),
                _ => None,
            })
    };
    let text = comment("comment_value")
        .or_else(|| comment("comment_value_html").map(|html| strip_html(&html)))
        .ok_or_else(|| format!("macro {:?} adds no comment text", m.title))?;
    let tags = m
        .actions
        .iter()
        .filter(|a| a.field == "current_tags" || a.field == "set_tags")
        .filter_map(|a| a.value.as_str())
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    Ok(RawItem {
        source_name: m.title.clone(),
        bang: slug(m.title.rsplit("::").next().unwrap_or(&m.title)),
        title: m.title.replace("::", " / "),
        text,
        tags,
        disabled: !m.active,
        problem: None,
    })
}

fn intercom(item: Json) -> Result<RawItem, String> {
    #[derive(Deserialize)]
    struct Saved {
        name: String,
        body: String,
    }
    let s: Saved = parse(item)?;
    Ok(RawItem {
        source_name: s.name.clone(),
        bang: slug(&s.name),
        title: s.name,
        text: strip_html(&s.body),
        tags: vec!["intercom".into()],
        disabled: false,
        problem: None,
    })
}

/// A title as a bang: lower-case letters and digits joined by `-`, at most 64 characters.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(64).collect();
    out.trim_end_matches('-').to_string()
}

/// The paragraphs and line breaks of simple rich text as plain text.
fn strip_html(html: &str) -> String {
    let mut text = html
        .replace("</p><p>", "\n\n")
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n");
    for tag in [
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<strong>",
        "</strong>",
        "<i>",
        "</i>",
        "<em>",
        "</em>",
    ] {
        text = text.replace(tag, "");
    }
    text.replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Customer not responding"), "customer-not-responding");
        assert_eq!(slug("  Réponse: délai!  "), "réponse-délai");
        assert_eq!(slug("!!!"), "");
    }

    #[test]
    fn zendesk_comment_shapes() {
        let items = read(
            Format::Zendesk,
            r#"{"macros":[{"title":"Billing::Refund","actions":[{"field":"comment_value","value":["channel:all","Hi {{ticket.requester.first_name}}"]},{"field":"current_tags","value":"refund billing"}]},{"title":"No text","actions":[]}]}"#,
        )
        .unwrap();
        assert_eq!(items[0].bang, "refund");
        assert_eq!(items[0].title, "Billing / Refund");
        assert_eq!(items[0].text, "Hi {{ticket.requester.first_name}}");
        assert_eq!(items[0].tags, ["refund", "billing"]);
        assert!(items[1].problem.is_some());
    }
}
