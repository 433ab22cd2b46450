//! Rich-text reply bodies (Intercom saved replies, Zendesk `comment_value_html`) as clean
//! chat text: paragraphs and `<br>` as line breaks, list items as `- item` (`1. item` in
//! ordered lists) lines, links as `text (url)`, entities decoded, other tags dropped with
//! their text kept (the contents of `<script>` and `<style>` too). Intercom's
//! `<attribute key=… default=…/>` placeholders come out as [`Piece::Attribute`].
//!
//! Tokenizing is html5gum's (WHATWG tokenizer: attribute quoting and order, character
//! references); this module only decides what each tag means as text.

use html5gum::{Token, Tokenizer};

use super::placeholders::Piece;

/// Stands in for an attribute placeholder while the text is tidied, so that the tidying
/// sees where it is without touching it. A private-use character, removed from the input.
const MARK: char = '\u{E000}';

#[derive(Default)]
struct Writer {
    text: String,
    attributes: Vec<Piece>,
    /// Open lists: `None` unordered, `Some(n)` ordered with the next number.
    lists: Vec<Option<u32>>,
    /// Open links: their href and where their text starts in `text`.
    links: Vec<(String, usize)>,
    /// Inside `<script>` or `<style>`: text is dropped.
    hidden: usize,
}

impl Writer {
    fn at_line_start(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }

    fn line_break(&mut self) {
        trim_trailing_spaces(&mut self.text);
        if !self.at_line_start() {
            self.text.push('\n');
        }
    }

    fn paragraph_break(&mut self) {
        self.line_break();
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
    }

    /// Text as HTML shows it: runs of white space as one space.
    fn push_text(&mut self, raw: &str) {
        if self.hidden > 0 {
            return;
        }
        for c in raw.chars() {
            if c == MARK {
                continue;
            }
            if c.is_whitespace() {
                if !self.at_line_start() && !self.text.ends_with(' ') {
                    self.text.push(' ');
                }
            } else {
                self.text.push(c);
            }
        }
    }

    fn start(&mut self, name: &str, attribute: impl Fn(&str) -> Option<String>) {
        match name {
            "br" => {
                trim_trailing_spaces(&mut self.text);
                self.text.push('\n');
            }
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "pre" => {
                self.paragraph_break()
            }
            "div" | "tr" | "hr" => self.line_break(),
            "ul" => {
                self.line_break();
                self.lists.push(None);
            }
            "ol" => {
                self.line_break();
                let first = attribute("start").and_then(|s| s.trim().parse().ok());
                self.lists.push(Some(first.unwrap_or(1)));
            }
            "li" => {
                self.line_break();
                let depth = self.lists.len().max(1);
                self.text.push_str(&"  ".repeat(depth - 1));
                match self.lists.last_mut() {
                    Some(Some(n)) => {
                        self.text.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => self.text.push_str("- "),
                }
            }
            "a" => {
                let href = attribute("href").unwrap_or_default().trim().to_owned();
                self.links.push((href, self.text.len()));
            }
            "attribute" => {
                if let Some(key) = attribute("key") {
                    self.text.push(MARK);
                    self.attributes.push(Piece::Attribute {
                        key: key.trim().to_owned(),
                        fallback: attribute("default"),
                    });
                }
            }
            "script" | "style" => self.hidden += 1,
            _ => {}
        }
    }

    fn end(&mut self, name: &str) {
        match name {
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "pre" => {
                self.paragraph_break()
            }
            "div" | "li" | "tr" => self.line_break(),
            "ul" | "ol" => {
                self.lists.pop();
                self.line_break();
            }
            "a" => {
                if let Some((href, start)) = self.links.pop() {
                    let label = self.text.get(start..).unwrap_or_default().trim();
                    let shown = href.strip_prefix("mailto:").unwrap_or(&href);
                    let (empty, same) = (label.is_empty(), label == shown || label == href);
                    if !href.is_empty() && !same {
                        trim_trailing_spaces(&mut self.text);
                        if empty {
                            self.text.push_str(&href);
                        } else {
                            self.text.push_str(&format!(" ({href})"));
                        }
                    }
                }
            }
            "script" | "style" => self.hidden = self.hidden.saturating_sub(1),
            _ => {}
        }
    }

    /// The text, tidied (no trailing spaces, at most one blank line in a row), split at
    /// the attribute placeholders.
    fn finish(self) -> Vec<Piece> {
        let mut tidy = String::with_capacity(self.text.len());
        let mut blank_lines = 0;
        for line in self.text.trim().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_lines += 1;
                if blank_lines > 1 {
                    continue;
                }
            } else {
                blank_lines = 0;
            }
            tidy.push_str(line);
            tidy.push('\n');
        }
        tidy.truncate(tidy.trim_end().len());
        let mut pieces = Vec::new();
        let mut attributes = self.attributes.into_iter();
        for (i, text) in tidy.split(MARK).enumerate() {
            if i > 0
                && let Some(attribute) = attributes.next()
            {
                pieces.push(attribute);
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text.to_owned()));
            }
        }
        pieces
    }
}

fn trim_trailing_spaces(text: &mut String) {
    let kept = text.trim_end_matches(' ').len();
    text.truncate(kept);
}

/// An HTML body as text pieces.
pub fn to_pieces(html: &str) -> Vec<Piece> {
    let mut writer = Writer::default();
    // Reading a `&str` cannot fail: every item is `Ok`.
    for token in Tokenizer::new(html).flatten() {
        match token {
            Token::String(text) => writer.push_text(&String::from_utf8_lossy(&text)),
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                writer.start(&name, |wanted| {
                    tag.attributes
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(wanted.as_bytes()))
                        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
                });
                if tag.self_closing {
                    writer.end(&name);
                }
            }
            Token::EndTag(tag) => {
                writer.end(&String::from_utf8_lossy(&tag.name).to_ascii_lowercase());
            }
            _ => {}
        }
    }
    writer.finish()
}

/// Whether a body looks like HTML rather than plain text (Intercom bodies are both).
pub fn looks_like_html(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "<p",
        "<br",
        "<div",
        "<ul",
        "<ol",
        "<li",
        "<a ",
        "<b>",
        "<strong",
        "<em",
        "<i>",
        "<span",
        "<attribute",
        "&amp;",
        "&nbsp;",
        "&lt;",
        "&quot;",
        "&#",
    ]
    .iter()
    .any(|tag| lower.contains(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        to_pieces(html)
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Attribute { key, fallback } => format!("[{key}|{fallback:?}]"),
            })
            .collect()
    }

    #[test]
    fn paragraphs_lists_links_entities() {
        // As Zendesk's editor saves a macro's rich comment. `&nbsp;` is a plain space in chat.
        let html = "<p>Hi there,</p><p>To get a refund:</p><ul><li>Open <a href=\"https://shop.example/orders\" target=\"_blank\" rel=\"noopener\">your orders</a></li><li>Pick the order &amp; click <strong>Refund</strong></li></ul><p>Thanks&nbsp;&mdash; the team<br>Acme &lt;support&gt;</p>";
        assert_eq!(
            text(html),
            "Hi there,\n\nTo get a refund:\n\n- Open your orders (https://shop.example/orders)\n- Pick the order & click Refund\n\nThanks — the team\nAcme <support>"
        );
    }

    #[test]
    fn ordered_and_nested_lists() {
        let html = "<ol><li>One<ul><li>a</li><li>b</li></ul></li><li>Two</li></ol>";
        assert_eq!(text(html), "1. One\n  - a\n  - b\n2. Two");
    }

    #[test]
    fn links_that_show_their_url_are_not_repeated() {
        assert_eq!(
            text(
                "<a href=\"https://x.example\">https://x.example</a> or <a href=\"mailto:help@x.example\">help@x.example</a>"
            ),
            "https://x.example or help@x.example"
        );
        assert_eq!(
            text("<a href='https://x.example'></a>"),
            "https://x.example"
        );
    }

    #[test]
    fn other_tags_dropped_text_kept_scripts_dropped() {
        assert_eq!(
            text(
                "<div><span style=\"color:red\">Red</span> <em>text</em></div><script>alert(1)</script><style>p{}</style><div>next</div>"
            ),
            "Red text\nnext"
        );
        // White space as HTML shows it.
        assert_eq!(text("<p>  a\n   b  </p>\n\n<p>c</p>"), "a b\n\nc");
    }

    #[test]
    fn intercom_attributes_any_quoting_and_order() {
        // As Intercom's API returns saved replies: attribute order and quoting vary,
        // values are HTML-escaped, `default` may be missing.
        assert_eq!(
            text("<p>Hi <attribute key=\"user.first_name\" default=\"there\"/>,</p>"),
            "Hi [user.first_name|Some(\"there\")],"
        );
        assert_eq!(
            text(
                "<p>Hi <attribute default='my &quot;friend&quot;' key='user.name'></attribute>!</p>"
            ),
            "Hi [user.name|Some(\"my \\\"friend\\\"\")]!"
        );
        assert_eq!(text("<attribute key=user.email />"), "[user.email|None]");
        // Our placeholder mark in the input is dropped, not taken for a placeholder.
        assert_eq!(text("a\u{E000}b"), "ab");
    }

    #[test]
    fn detects_html() {
        assert!(looks_like_html("<p>Hi</p>"));
        assert!(looks_like_html("Hi <attribute key=\"x\"/>"));
        assert!(!looks_like_html("Hi {{first_name}}, a < b"));
    }
}
