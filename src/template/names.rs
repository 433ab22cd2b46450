//! `first_name` / `last_name`: split what a CRM calls a name (a full name, a nickname or
//! even an email address) into the part a greeting needs.

/// Courtesy titles dropped before splitting ("Dr. Jane Doe" greets "Jane").
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "m", "mme", "mlle", "herr", "frau", "sr",
    "sra", "srta", "dott", "dott.ssa", "sig", "sig.ra",
];

/// Lower-case particles that belong to the family name ("Ana da Silva", "Jan van der Berg").
const PARTICLES: &[&str] = &[
    "da", "das", "de", "del", "della", "der", "di", "do", "dos", "du", "la", "le", "van", "von",
    "y", "ten", "ter", "bin", "al",
];

/// The words of a name, without courtesy titles; an email gives its local part.
fn words(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    // "Doe, Jane" is a family name first.
    if let Some((last, first)) = raw.split_once(',')
        && !first.trim().is_empty()
        && !last.trim().is_empty()
    {
        let mut out = plain_words(first);
        out.extend(plain_words(last));
        return out;
    }
    plain_words(raw)
}

/// The words of a name without the "Last, First" rule (further commas are dropped).
fn plain_words(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    let (text, from_email) = match raw.split_once('@') {
        Some((local, _)) if !local.is_empty() => (local, true),
        _ => (raw, false),
    };
    let separators: &[char] = if from_email {
        &['.', '_', '-', '+', ' ']
    } else {
        &[' ', '\t', '\n', ',']
    };
    text.split(separators)
        .filter(|w| !w.is_empty())
        .filter(|w| !TITLES.contains(&w.trim_end_matches('.').to_lowercase().as_str()))
        .filter(|w| !from_email || w.chars().any(char::is_alphabetic))
        .map(|w| {
            let w = w.trim_matches(|c: char| c.is_ascii_digit() && from_email);
            if from_email {
                capitalize(w)
            } else {
                w.to_string()
            }
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The given name: the first word.
pub fn first_name(raw: &str) -> Option<String> {
    words(raw).into_iter().next()
}

/// The family name: the last word with the particles before it, or nothing for a single
/// word.
pub fn last_name(raw: &str) -> Option<String> {
    let words = words(raw);
    if words.len() < 2 {
        return None;
    }
    let mut start = words.len() - 1;
    while start > 1 && PARTICLES.contains(&words[start - 1].to_lowercase().as_str()) {
        start -= 1;
    }
    Some(words[start..].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names() {
        let cases = [
            ("Jane Doe", Some("Jane"), Some("Doe")),
            ("  Luis García  ", Some("Luis"), Some("García")),
            ("Dr. Jane Doe", Some("Jane"), Some("Doe")),
            ("Mme Camille Dubois", Some("Camille"), Some("Dubois")),
            ("Doe, Jane", Some("Jane"), Some("Doe")),
            ("Ana Maria da Silva", Some("Ana"), Some("da Silva")),
            ("Jan van der Berg", Some("Jan"), Some("van der Berg")),
            ("Cher", Some("Cher"), None),
            ("jane.doe@example.com", Some("Jane"), Some("Doe")),
            ("jdoe42@example.com", Some("Jdoe"), None),
            ("", None, None),
            ("Doe, Jane, Jr", Some("Jane"), Some("Doe")),
            ("   ", None, None),
        ];
        for (raw, first, last) in cases {
            assert_eq!(first_name(raw).as_deref(), first, "{raw:?}");
            assert_eq!(last_name(raw).as_deref(), last, "{raw:?}");
        }
    }
}
