//! Case and accent folding, and the words of a text with their positions.
//!
//! Search compares folded words: lower case, accents and other marks dropped, letters of
//! other scripts transliterated to ASCII where `deunicode` knows them (`Café` → `cafe`,
//! `Straße` → `strasse`). Positions stay in the source text, so that a match can be
//! highlighted where the user sees it.

use unicode_normalization::char::is_combining_mark;

/// A word of a text: where it is and how it compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    /// Byte offset of the word in the text.
    pub start: usize,
    pub source: &'a str,
    pub folded: String,
}

/// Whether `c` belongs to a word: letters, digits, and the combining marks that decorate
/// them (a decomposed `é` is one word character plus a mark).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Appends the folded form of one character to `out`.
pub fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if is_combining_mark(c) {
        return;
    }
    match deunicode::deunicode_char(c) {
        Some(ascii) if ascii.bytes().any(|b| b.is_ascii_alphanumeric()) => out.extend(
            ascii
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase()),
        ),
        // Unknown to deunicode (or only punctuation): at least ignore its case.
        _ => out.extend(c.to_lowercase()),
    }
}

/// The folded form of a whole text, punctuation and spaces included.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// The words of `text`, in order.
pub fn words(text: &str) -> Words<'_> {
    Words { text, at: 0 }
}

pub struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = Word<'a>;

    fn next(&mut self) -> Option<Word<'a>> {
        let rest = &self.text[self.at..];
        let offset = rest.find(is_word_char)?;
        let start = self.at + offset;
        let len = self.text[start..]
            .find(|c| !is_word_char(c))
            .unwrap_or(self.text.len() - start);
        let source = &self.text[start..start + len];
        self.at = start + len;
        let mut folded = String::with_capacity(len);
        for c in source.chars() {
            fold_char(c, &mut folded);
        }
        Some(Word {
            start,
            source,
            folded,
        })
    }
}

/// How many bytes of `source` it takes for its folded form to cover `folded_len` bytes:
/// maps a matched folded prefix back onto the text (`Straße` with `stras` → `Straß`).
/// Marks that decorate the last character are included.
pub fn source_len_of_prefix(source: &str, folded_len: usize) -> usize {
    let mut folded = 0;
    let mut end = 0;
    let mut piece = String::new();
    for (at, c) in source.char_indices() {
        if folded >= folded_len && !is_combining_mark(c) {
            break;
        }
        piece.clear();
        fold_char(c, &mut piece);
        folded += piece.len();
        end = at + c.len_utf8();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded_words(text: &str) -> Vec<String> {
        words(text).map(|w| w.folded).collect()
    }

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("CAFE\u{301}"), "cafe");
        assert_eq!(fold("Straße Ærø"), "strasse aero");
        assert_eq!(fold("Order-Status_2"), "order-status_2");
    }

    #[test]
    fn splits_words_and_keeps_positions() {
        let text = "Hi José, «déjà-vu» 42x";
        let found: Vec<_> = words(text).collect();
        assert_eq!(folded_words(text), ["hi", "jose", "deja", "vu", "42x"]);
        for word in &found {
            assert_eq!(
                &text[word.start..word.start + word.source.len()],
                word.source
            );
        }
        assert_eq!(found[1].source, "José");
        assert_eq!(folded_words("e\u{301}te\u{301}"), ["ete"]);
    }

    #[test]
    fn maps_folded_prefixes_back_to_the_source() {
        assert_eq!(&"Café"[..source_len_of_prefix("Café", 4)], "Café");
        assert_eq!(&"Café"[..source_len_of_prefix("Café", 3)], "Caf");
        assert_eq!(&"Straße"[..source_len_of_prefix("Straße", 5)], "Straß");
        let decomposed = "Cafe\u{301}s";
        assert_eq!(
            &decomposed[..source_len_of_prefix(decomposed, 4)],
            "Cafe\u{301}"
        );
    }
}
