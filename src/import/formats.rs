//! Reads the export files of other tools into neutral items: a name, a bang, a title, a
//! folder, the reply text and tags. Each reader accepts the shape the tool's API or export
//! returns.
//!
//! A file is read one item at a time (each item's JSON is parsed, converted to a
//! [`RawItem`] and dropped), so that a large export costs memory for its items, not for
//! the JSON tree of the whole file.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::html;
use super::placeholders::{self, PathMap, Piece};

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
    /// Intercom saved replies: `{name, body}`, the body HTML with
    /// `<attribute key="user.first_name" default="there"/>` or `{{first_name | fallback: "there"}}`.
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

    /// The keys of the object that may hold the list, when the file is not a bare list.
    fn list_keys(self) -> &'static [&'static str] {
        match self {
            Format::Crisp => &["data", "shortcuts"],
            Format::Chatwoot => &["payload", "canned_responses"],
            Format::Zendesk => &["macros"],
            Format::Intercom => &["saved_replies", "data"],
        }
    }
}

/// Why an item is not imported, found while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nothing to import, on purpose (a Zendesk macro that only sets fields).
    Skip(String),
    /// The item cannot be read.
    Fail(String),
}

/// One reply as read from an export, before conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawItem {
    /// How the source tool names it (for the report).
    pub source_name: String,
    /// What the bang is made from: a bang, a short code or a title (see [`super::bangs`]).
    pub bang: String,
    pub title: String,
    /// Where the source tool filed it, `/`-separated (Zendesk's `A::B::Title` -> `A/B`).
    pub folder: Option<String>,
    /// The reply text, plain or converted from HTML.
    pub pieces: Vec<Piece>,
    pub tags: Vec<String>,
    pub disabled: bool,
    pub problem: Option<Problem>,
}

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Not the format's JSON: the message says why.
    Invalid(String),
    /// More than the given number of items.
    TooManyItems(usize),
}

/// Parses an export file of at most `max_items` items. A file that is not the format's
/// JSON is an error for the whole call; a malformed item is reported on that item.
pub fn read(format: Format, content: &[u8], max_items: usize) -> Result<Vec<RawItem>, ReadError> {
    let too_many = Cell::new(false);
    let seed = Export {
        format,
        max_items,
        too_many: &too_many,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(content);
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|items| deserializer.end().map(|()| items));
    match result {
        Ok(items) => Ok(items),
        Err(_) if too_many.get() => Err(ReadError::TooManyItems(max_items)),
        Err(e) => Err(ReadError::Invalid(format!(
            "is not valid JSON for a {} export: {e}",
            format.name()
        ))),
    }
}

/// The whole file: a bare list, or an object with the list under one of the format's keys.
struct Export<'a> {
    format: Format,
    max_items: usize,
    too_many: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Export<'_> {
    type Value = Vec<RawItem>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Export<'_> {
    type Value = Vec<RawItem>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self
            .format
            .list_keys()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect();
        write!(
            f,
            "a {} export: a JSON list or an object with {}",
            self.format.name(),
            keys.join(" or ")
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Items(&self).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if found.is_none() && self.format.list_keys().contains(&key.as_str()) {
                found = Some(map.next_value_seed(Items(&self))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        found.ok_or_else(|| de::Error::custom(format_args!("expected {}", Expecting(&self))))
    }
}

/// [`Export`]'s `expecting` text, for a custom error.
struct Expecting<'a, 'b>(&'a Export<'b>);

impl fmt::Display for Expecting<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        Visitor::expecting(self.0, f)
    }
}

/// The list of items, each read on its own.
struct Items<'a, 'b>(&'a Export<'b>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = Vec<RawItem>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = Vec<RawItem>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {} items", self.0.format.name())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let export = self.0;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(export.max_items));
        while let Some(json) = seq.next_element::<Json>()? {
            if items.len() == export.max_items {
                export.too_many.set(true);
                return Err(de::Error::custom("too many items"));
            }
            let index = items.len();
            items.push(item(export.format, json).unwrap_or_else(|problem| RawItem {
                source_name: format!("item {index}"),
                problem: Some(Problem::Fail(problem)),
                ..RawItem::default()
            }));
        }
        Ok(items)
    }
}

fn item(format: Format, json: Json) -> Result<RawItem, String> {
    match format {
        Format::Crisp => crisp(json),
        Format::Chatwoot => chatwoot(json),
        Format::Zendesk => zendesk(json),
        Format::Intercom => intercom(json),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(item: Json) -> Result<T, String> {
    serde_json::from_value(item).map_err(|e| format!("unreadable item: {e}"))
}

fn plain(text: String) -> Vec<Piece> {
    vec![Piece::Text(text)]
}

/// A body that may be HTML (Intercom's are; some exports hold plain text).
fn rich(text: &str) -> Vec<Piece> {
    if html::looks_like_html(text) {
        html::to_pieces(text)
    } else {
        plain(text.to_owned())
    }
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
        pieces: plain(s.text),
        tags: s.tag.into_iter().filter(|t| !t.trim().is_empty()).collect(),
        disabled: s.disabled,
        ..RawItem::default()
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
        title: c.short_code.trim().to_owned(),
        bang: c.short_code,
        pieces: plain(c.content),
        tags: vec!["chatwoot".into()],
        ..RawItem::default()
    })
}

fn zendesk(item: Json) -> Result<RawItem, String> {
    #[derive(Deserialize)]
    struct Action {
        field: String,
        #[serde(default)]
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
            .filter(|text| !text.trim().is_empty())
    };
    let pieces = comment("comment_value")
        .map(plain)
        .or_else(|| comment("comment_value_html").map(|h| html::to_pieces(&h)));
    let tags = m
        .actions
        .iter()
        .filter(|a| a.field == "current_tags" || a.field == "set_tags")
        .filter_map(|a| a.value.as_str())
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let (folder, title) = zendesk_title(&m.title);
    Ok(RawItem {
        source_name: m.title.clone(),
        bang: title.clone(),
        title,
        folder,
        problem: pieces
            .is_none()
            .then(|| Problem::Skip("skipped: no reply text (the macro adds no comment)".into())),
        pieces: pieces.unwrap_or_default(),
        tags,
        disabled: !m.active,
    })
}

/// `Billing::Refunds::Full` -> (`Billing/Refunds`, `Full`). Empty parts are dropped, and a
/// `/` inside a part is kept as a character of its name (`A/B::C` -> folder `A-B`).
fn zendesk_title(title: &str) -> (Option<String>, String) {
    let parts: Vec<&str> = title
        .split("::")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match parts.split_last() {
        Some((last, folders)) if !folders.is_empty() => {
            let folder = folders
                .iter()
                .map(|p| p.replace('/', "-"))
                .collect::<Vec<_>>()
                .join("/");
            (Some(folder), (*last).to_owned())
        }
        _ => (None, title.trim().to_owned()),
    }
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
        bang: s.name.clone(),
        title: s.name,
        pieces: rich(&s.body),
        tags: vec!["intercom".into()],
        ..RawItem::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(format: Format, content: &str) -> Vec<RawItem> {
        read(format, content.as_bytes(), 100).unwrap()
    }

    #[test]
    fn zendesk_comment_shapes_folders_and_skips() {
        let items = read_str(
            Format::Zendesk,
            r#"{"macros":[
                {"title":"Billing::Refunds::Full","actions":[{"field":"comment_value","value":["channel:all","Hi {{ticket.requester.first_name}}"]},{"field":"current_tags","value":"refund billing"}]},
                {"title":"Close and tag","actions":[{"field":"status","value":"solved"},{"field":"set_tags","value":"closed"}]},
                {"title":"Rich","active":false,"actions":[{"field":"comment_value_html","value":"<p>A</p><ul><li>b</li></ul>"}]}
            ],"next_page":null,"count":3}"#,
        );
        assert_eq!(items[0].bang, "Full");
        assert_eq!(items[0].title, "Full");
        assert_eq!(items[0].folder.as_deref(), Some("Billing/Refunds"));
        assert_eq!(
            items[0].pieces,
            [Piece::Text("Hi {{ticket.requester.first_name}}".into())]
        );
        assert_eq!(items[0].tags, ["refund", "billing"]);
        assert_eq!(
            items[1].problem,
            Some(Problem::Skip(
                "skipped: no reply text (the macro adds no comment)".into()
            ))
        );
        assert_eq!(items[2].pieces, [Piece::Text("A\n\n- b".into())]);
        assert!(items[2].disabled);
        assert_eq!(items[2].folder, None);
    }

    #[test]
    fn zendesk_titles() {
        assert_eq!(
            zendesk_title("Billing::Refunds::Full"),
            (Some("Billing/Refunds".into()), "Full".into())
        );
        assert_eq!(
            zendesk_title(" A/B :: :: C "),
            (Some("A-B".into()), "C".into())
        );
        assert_eq!(zendesk_title("Plain"), (None, "Plain".into()));
    }

    #[test]
    fn intercom_html_and_plain_bodies() {
        let items = read_str(
            Format::Intercom,
            r#"[{"name":"Hi","body":"<p>Hi <attribute key=\"user.first_name\" default=\"there\"/>,</p><p>See <a href=\"https://x.example/help\">help</a>.</p>"},
                {"name":"Plain","body":"Line 1\n\nLine 2 {{first_name}}"}]"#,
        );
        assert_eq!(
            items[0].pieces,
            [
                Piece::Text("Hi ".into()),
                Piece::Attribute {
                    key: "user.first_name".into(),
                    fallback: Some("there".into())
                },
                Piece::Text(",\n\nSee help (https://x.example/help).".into()),
            ]
        );
        assert_eq!(
            items[1].pieces,
            [Piece::Text("Line 1\n\nLine 2 {{first_name}}".into())]
        );
    }

    #[test]
    fn bad_items_bad_files_and_the_item_bound() {
        let items = read_str(
            Format::Chatwoot,
            r#"[{"short_code":"a","content":"x"},{"nope":1}]"#,
        );
        assert!(items[0].problem.is_none());
        assert!(matches!(items[1].problem, Some(Problem::Fail(_))));
        assert!(matches!(
            read(Format::Zendesk, br#"[{"title":"a"}]  x"#, 10),
            Err(ReadError::Invalid(_))
        ));
        let Err(ReadError::Invalid(message)) = read(Format::Zendesk, br#"{"data":[]}"#, 10) else {
            panic!()
        };
        assert!(message.contains("`macros`"), "{message}");
        assert_eq!(
            read(
                Format::Crisp,
                br#"[{"bang":"a","text":"x"},{"bang":"b","text":"y"}]"#,
                1
            ),
            Err(ReadError::TooManyItems(1))
        );
    }
}
