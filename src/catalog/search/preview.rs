//! The body preview a typeahead shows: the body's text with whitespace collapsed, and the
//! parts of it that are literal text rather than template markup.
//!
//! Only literal text is searched and highlighted: `<<contact.first_name>>` or `{% if %}`
//! would otherwise make every shortcut match `contact` or `if`.

use std::ops::Range;

use super::fold::{self, Word};

/// How many characters of the body a preview shows.
pub const PREVIEW_CHARS: usize = 120;
/// When the first match lies beyond the start, how much text before it the preview keeps.
const CONTEXT_CHARS: usize = 30;
const ELLIPSIS: &str = "…";

/// Template markup: opening and closing delimiters.
const MARKUP: [(&str, &str); 3] = [("<<", ">>"), ("{%", "%}"), ("{#", "#}")];

/// A body prepared for previews.
#[derive(Debug, Clone)]
pub struct BodyText {
    /// The body with runs of whitespace turned into one space, trimmed.
    text: String,
    /// Byte ranges of `text` outside template markup, in order.
    literal: Vec<Range<usize>>,
}

/// A preview and the byte ranges in it that the query matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub text: String,
    pub matched: Vec<Range<usize>>,
}

impl BodyText {
    pub fn new(body: &str) -> Self {
        let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let literal = literal_ranges(&text);
        Self { text, literal }
    }

    /// The words of the literal text, in order.
    pub fn words(&self) -> impl Iterator<Item = Word<'_>> {
        self.literal.iter().flat_map(|range| {
            fold::words(&self.text[range.clone()]).map(move |mut word| {
                word.start += range.start;
                word
            })
        })
    }

    /// The preview for a query: the start of the body, or, when the first word the query
    /// matches lies further, the passage around it. `matches` gives, for a word, the
    /// byte length of the text it matched (see [`super::highlight`]).
    pub fn preview(&self, matches: impl Fn(&Word<'_>) -> Option<usize>) -> Preview {
        let first_match = self
            .words()
            .find_map(|w| matches(&w).map(|len| (w.start, len)));
        let start = match first_match {
            Some((at, len)) if self.text[..at + len].chars().count() > PREVIEW_CHARS => {
                self.passage_start(at)
            }
            _ => 0,
        };
        let end = self.passage_end(start);
        let lead = if start > 0 { ELLIPSIS } else { "" };
        let tail = if end < self.text.len() { ELLIPSIS } else { "" };
        let shift = lead.len();
        // Only the passage's own words are looked at, not the whole body again.
        let matched = self
            .literal
            .iter()
            .filter(|range| range.end > start && range.start < end)
            .flat_map(|range| {
                let from = range.start.max(start);
                let to = range.end.min(end);
                fold::words(&self.text[from..to]).map(move |w| (from + w.start, w))
            })
            .filter_map(|(at, w)| {
                let at = at - start + shift;
                matches(&w).map(|len| at..at + len)
            })
            .collect();
        Preview {
            text: format!("{lead}{}{tail}", &self.text[start..end]),
            matched,
        }
    }

    /// Where a passage showing the word at `at` begins: some context before it, from the
    /// start of a word.
    fn passage_start(&self, at: usize) -> usize {
        let before = &self.text[..at];
        let back = before
            .char_indices()
            .rev()
            .nth(CONTEXT_CHARS - 1)
            .map_or(0, |(i, _)| i);
        match self.text[back..at].find(' ') {
            Some(space) if back > 0 => back + space + 1,
            _ => back,
        }
    }

    /// Where a passage starting at `start` ends: after [`PREVIEW_CHARS`] characters, at the
    /// end of a word when one ends in its second half.
    fn passage_end(&self, start: usize) -> usize {
        let rest = &self.text[start..];
        let Some((cut, _)) = rest.char_indices().nth(PREVIEW_CHARS) else {
            return self.text.len();
        };
        match rest[..cut].rfind(' ') {
            Some(space) if rest[..space].chars().count() > PREVIEW_CHARS / 2 => start + space,
            _ => start + cut,
        }
    }
}

/// The byte ranges of `text` outside template markup. Unclosed markup runs to the end.
fn literal_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let next_markup = MARKUP
            .iter()
            .filter_map(|(open, close)| text[at..].find(open).map(|i| (at + i, *open, *close)))
            .min_by_key(|(i, _, _)| *i);
        let Some((open_at, open, close)) = next_markup else {
            ranges.push(at..text.len());
            break;
        };
        if open_at > at {
            ranges.push(at..open_at);
        }
        let inner = open_at + open.len();
        at = text[inner..]
            .find(close)
            .map_or(text.len(), |i| inner + i + close.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal_text(body: &str) -> Vec<String> {
        let body = BodyText::new(body);
        body.literal
            .iter()
            .map(|r| body.text[r.clone()].to_string())
            .collect()
    }

    #[test]
    fn markup_is_not_literal_text() {
        assert_eq!(
            literal_text("Hi <<contact.name>>,\n\n{% if x %}yes{% endif %}{# note #} bye <<open"),
            ["Hi ", ", ", "yes", " bye "]
        );
        let words: Vec<String> = BodyText::new("Hi <<contact.plan>> plan")
            .words()
            .map(|w| w.folded)
            .collect();
        assert_eq!(words, ["hi", "plan"]);
    }

    #[test]
    fn short_bodies_are_shown_whole() {
        let preview = BodyText::new("  Thanks   for\nwaiting ")
            .preview(|w| (w.folded == "waiting").then_some(w.source.len()));
        assert_eq!(preview.text, "Thanks for waiting");
        assert_eq!(preview.matched, vec![11..18]);
    }

    #[test]
    fn a_late_match_moves_the_passage() {
        let body = format!(
            "{} the refund is done. {}",
            "word ".repeat(60),
            "tail ".repeat(60)
        );
        let preview = BodyText::new(&body).preview(|w| (w.folded == "refund").then_some(3));
        assert!(preview.text.starts_with("…word"), "{}", preview.text);
        assert!(preview.text.ends_with('…'), "{}", preview.text);
        assert!(preview.text.chars().count() <= PREVIEW_CHARS + 2);
        let range = preview.matched[0].clone();
        assert_eq!(&preview.text[range], "ref");
    }
}
