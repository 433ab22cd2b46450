//! Which parts of a text a query matched, in the unit front-ends slice strings with.
//!
//! Ranges are computed in bytes of the Rust string and handed out in UTF-16 code units,
//! the unit of JavaScript string indices, so that `text.slice(start, end)` in a browser
//! bolds exactly the matched characters, emoji and accents included.

use std::ops::Range;

use super::fold::{self, Word};

/// A matched part of a text: `[start, end)` in UTF-16 code units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRange {
    pub start: u32,
    pub end: u32,
}

/// How many bytes of `word` the longest query word that starts it covers, if any does.
pub fn matched_len(word: &Word<'_>, query_words: &[String]) -> Option<usize> {
    query_words
        .iter()
        .filter(|q| word.folded.starts_with(q.as_str()))
        .map(String::len)
        .max()
        .map(|len| fold::source_len_of_prefix(word.source, len))
}

/// The byte ranges of `text` that query words match (each a word's start).
pub fn word_ranges(text: &str, query_words: &[String]) -> Vec<Range<usize>> {
    fold::words(text)
        .filter_map(|w| matched_len(&w, query_words).map(|len| w.start..w.start + len))
        .collect()
}

/// Byte ranges of `text` sorted, merged where they touch, and converted to UTF-16 units.
pub fn to_utf16(text: &str, mut ranges: Vec<Range<usize>>) -> Vec<TextRange> {
    ranges.retain(|r| r.start < r.end && r.end <= text.len());
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    let mut units = 0u32;
    let mut byte = 0usize;
    let mut to_units = |target: usize| {
        units += text[byte..target]
            .chars()
            .map(|c| c.len_utf16() as u32)
            .sum::<u32>();
        byte = target;
        units
    };
    merged
        .into_iter()
        .map(|r| TextRange {
            start: to_units(r.start),
            end: to_units(r.end),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| fold::fold(w)).collect()
    }

    #[test]
    fn matches_word_starts_through_accents() {
        let text = "Le Café du coin, café crème";
        let ranges = word_ranges(text, &words(&["cafe", "cr"]));
        let matched: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(matched, ["Café", "café", "cr"]);
    }

    #[test]
    fn the_longest_query_word_wins() {
        let text = "Refund";
        assert_eq!(word_ranges(text, &words(&["re", "refu"])), vec![0..4]);
    }

    #[test]
    fn offsets_are_utf16_code_units() {
        // "🎉" is two UTF-16 units and four bytes; "é" one unit and two bytes.
        let text = "🎉 Fête";
        let ranges = word_ranges(text, &words(&["fete"]));
        assert_eq!(to_utf16(text, ranges), [TextRange { start: 3, end: 7 }]);
        let js_like: String = text
            .encode_utf16()
            .collect::<Vec<u16>>()
            .get(3..7)
            .map(String::from_utf16_lossy)
            .unwrap();
        assert_eq!(js_like, "Fête");
    }

    #[test]
    fn overlapping_ranges_merge() {
        assert_eq!(
            to_utf16("abcdef", vec![3..5, 0..2, 1..3]),
            [TextRange { start: 0, end: 5 }]
        );
    }
}
