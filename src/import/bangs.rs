//! The bangs of imported items: a source's short code, bang or title made into a valid
//! bang (`refund policy` -> `refund-policy`), distinct within the file (a second
//! `refund-policy` becomes `refund-policy-2`).

use std::collections::HashSet;

use crate::catalog::bang_key;
use crate::ids::MAX_BANG_CHARS;

/// The bangs given so far in one file.
#[derive(Default)]
pub struct Bangs {
    taken: HashSet<String>,
}

/// A bang given to an item, and what a person should know about it.
pub struct Assigned {
    pub bang: String,
    pub note: Option<String>,
}

/// Most suffixes tried for a name used many times in one file.
const MAX_SUFFIX: usize = 10_000;

impl Bangs {
    /// The bang for an item named `wanted`: `wanted` itself when it is a valid bang,
    /// else its slug; suffixed when an earlier item of the file has it.
    pub fn assign(&mut self, wanted: &str) -> Result<Assigned, String> {
        let bare = wanted.trim().trim_start_matches('!');
        let base = if crate::ids::bang("bang", bare).is_ok() {
            bare.to_owned()
        } else {
            slug(bare)
        };
        if base.is_empty() {
            return Err(format!(
                "{wanted:?} has no letter or digit to make a bang from"
            ));
        }
        if self.taken.insert(bang_key(&base)) {
            return Ok(Assigned {
                bang: base,
                note: None,
            });
        }
        for n in 2..=MAX_SUFFIX {
            let suffix = format!("-{n}");
            let stem: String = base.chars().take(MAX_BANG_CHARS - suffix.len()).collect();
            let candidate = format!("{stem}{suffix}");
            if self.taken.insert(bang_key(&candidate)) {
                return Ok(Assigned {
                    note: Some(format!(
                        "an earlier item of this file has the bang !{base}: this one is !{candidate}"
                    )),
                    bang: candidate,
                });
            }
        }
        Err(format!(
            "more than {MAX_SUFFIX} items of this file would have the bang !{base}"
        ))
    }
}

/// A name as a bang: lower-case letters and digits (and `_`), other runs as one `-`, at
/// most [`MAX_BANG_CHARS`] characters.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for c in name.chars() {
        if chars >= MAX_BANG_CHARS {
            break;
        }
        if c.is_alphanumeric() || c == '_' {
            let before = out.len();
            out.extend(c.to_lowercase());
            // A lower-cased character may be several; count what was written.
            chars += out[before..].chars().count();
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
            chars += 1;
        }
    }
    let out: String = out.chars().take(MAX_BANG_CHARS).collect();
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Customer not responding"), "customer-not-responding");
        assert_eq!(slug("  Réponse: délai!  "), "réponse-délai");
        assert_eq!(slug("refund policy"), "refund-policy");
        assert_eq!(slug("keep_under score"), "keep_under-score");
        assert_eq!(slug("!!!"), "");
        let long = slug(&"word ".repeat(100));
        assert!(long.chars().count() <= MAX_BANG_CHARS, "{long}");
        assert!(crate::ids::bang("bang", &long).is_ok());
    }

    #[test]
    fn short_codes_become_distinct_valid_bangs() {
        let mut bangs = Bangs::default();
        // A valid bang is kept as written.
        assert_eq!(bangs.assign("Greet").unwrap().bang, "Greet");
        let first = bangs.assign("refund policy").unwrap();
        assert_eq!((first.bang.as_str(), first.note), ("refund-policy", None));
        let second = bangs.assign("Refund  Policy").unwrap();
        assert_eq!(second.bang, "refund-policy-2");
        assert!(second.note.unwrap().contains("!refund-policy-2"));
        assert_eq!(bangs.assign("greet").unwrap().bang, "greet-2");
        assert!(bangs.assign("  ").is_err());
        // A long name keeps its suffix within the bound.
        let long = "x".repeat(MAX_BANG_CHARS);
        assert_eq!(bangs.assign(&long).unwrap().bang, long);
        let again = bangs.assign(&long).unwrap().bang;
        assert_eq!(again.chars().count(), MAX_BANG_CHARS);
        assert!(again.ends_with("-2"));
    }
}
