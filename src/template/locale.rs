//! Locale conventions for the formatting filters: number grouping, decimal marks, currency
//! placement, default date formats and relative-time phrases, for the supported locales.
//!
//! A small static table rather than ICU4X: the service needs eight locales and a handful of
//! conventions, and a table costs nothing per render (a lookup returns a `&'static`), while
//! ICU4X would add megabytes of data and minutes of build time. The values follow CLDR.

/// The locales the formatting filters know, by their language subtag.
pub const SUPPORTED: &[&str] = &["en", "fr", "de", "es", "pt", "it", "nl", "ja"];

/// Where the currency symbol goes relative to the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolPosition {
    /// `$1,234.56`
    Before,
    /// `R$ 1.234,56` (with a no-break space)
    BeforeSpaced,
    /// `1 234,56 €` (with a no-break space)
    AfterSpaced,
}

/// Phrases for relative times ("in 3 days", "2 hours ago").
#[derive(Debug)]
pub struct RelativePhrases {
    /// `{}` is replaced by the amount and unit, e.g. "in {}".
    pub future: &'static str,
    pub past: &'static str,
    /// second, minute, hour, day, month, year: (singular, plural).
    pub units: [(&'static str, &'static str); 6],
    /// Printed for less than a minute either way.
    pub now: &'static str,
}

/// One locale's conventions.
#[derive(Debug)]
pub struct Locale {
    pub tag: &'static str,
    pub group: &'static str,
    pub decimal: &'static str,
    /// Numbers with fewer integer digits than this are not grouped (Spanish: 1234 but 12.345).
    pub min_grouping_digits: usize,
    pub symbol_position: SymbolPosition,
    /// `date()` without a format.
    pub date_format: &'static str,
    pub relative: RelativePhrases,
}

const NBSP: &str = "\u{a0}";
const NNBSP: &str = "\u{202f}";

static EN: Locale = Locale {
    tag: "en",
    group: ",",
    decimal: ".",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::Before,
    date_format: "%B %-d, %Y",
    relative: RelativePhrases {
        future: "in {}",
        past: "{} ago",
        units: [
            ("second", "seconds"),
            ("minute", "minutes"),
            ("hour", "hours"),
            ("day", "days"),
            ("month", "months"),
            ("year", "years"),
        ],
        now: "just now",
    },
};

static FR: Locale = Locale {
    tag: "fr",
    group: NNBSP,
    decimal: ",",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::AfterSpaced,
    date_format: "%d/%m/%Y",
    relative: RelativePhrases {
        future: "dans {}",
        past: "il y a {}",
        units: [
            ("seconde", "secondes"),
            ("minute", "minutes"),
            ("heure", "heures"),
            ("jour", "jours"),
            ("mois", "mois"),
            ("an", "ans"),
        ],
        now: "à l’instant",
    },
};

static DE: Locale = Locale {
    tag: "de",
    group: ".",
    decimal: ",",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::AfterSpaced,
    date_format: "%d.%m.%Y",
    relative: RelativePhrases {
        // German takes the dative after "in" and "vor": "in 3 Tagen", "vor 3 Tagen".
        future: "in {}",
        past: "vor {}",
        units: [
            ("Sekunde", "Sekunden"),
            ("Minute", "Minuten"),
            ("Stunde", "Stunden"),
            ("Tag", "Tagen"),
            ("Monat", "Monaten"),
            ("Jahr", "Jahren"),
        ],
        now: "gerade eben",
    },
};

static ES: Locale = Locale {
    tag: "es",
    group: ".",
    decimal: ",",
    min_grouping_digits: 2,
    symbol_position: SymbolPosition::AfterSpaced,
    date_format: "%d/%m/%Y",
    relative: RelativePhrases {
        future: "dentro de {}",
        past: "hace {}",
        units: [
            ("segundo", "segundos"),
            ("minuto", "minutos"),
            ("hora", "horas"),
            ("día", "días"),
            ("mes", "meses"),
            ("año", "años"),
        ],
        now: "ahora mismo",
    },
};

/// Portuguese as CLDR's `pt` (Brazil).
static PT: Locale = Locale {
    tag: "pt",
    group: ".",
    decimal: ",",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::BeforeSpaced,
    date_format: "%d/%m/%Y",
    relative: RelativePhrases {
        future: "em {}",
        past: "há {}",
        units: [
            ("segundo", "segundos"),
            ("minuto", "minutos"),
            ("hora", "horas"),
            ("dia", "dias"),
            ("mês", "meses"),
            ("ano", "anos"),
        ],
        now: "agora mesmo",
    },
};

static IT: Locale = Locale {
    tag: "it",
    group: ".",
    decimal: ",",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::AfterSpaced,
    date_format: "%d/%m/%Y",
    relative: RelativePhrases {
        future: "tra {}",
        past: "{} fa",
        units: [
            ("secondo", "secondi"),
            ("minuto", "minuti"),
            ("ora", "ore"),
            ("giorno", "giorni"),
            ("mese", "mesi"),
            ("anno", "anni"),
        ],
        now: "proprio ora",
    },
};

static NL: Locale = Locale {
    tag: "nl",
    group: ".",
    decimal: ",",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::BeforeSpaced,
    date_format: "%d-%m-%Y",
    relative: RelativePhrases {
        future: "over {}",
        past: "{} geleden",
        units: [
            ("seconde", "seconden"),
            ("minuut", "minuten"),
            ("uur", "uur"),
            ("dag", "dagen"),
            ("maand", "maanden"),
            ("jaar", "jaar"),
        ],
        now: "zojuist",
    },
};

static JA: Locale = Locale {
    tag: "ja",
    group: ",",
    decimal: ".",
    min_grouping_digits: 1,
    symbol_position: SymbolPosition::Before,
    date_format: "%Y/%m/%d",
    relative: RelativePhrases {
        future: "{}後",
        past: "{}前",
        units: [
            (" 秒", " 秒"),
            (" 分", " 分"),
            (" 時間", " 時間"),
            (" 日", " 日"),
            (" か月", " か月"),
            (" 年", " 年"),
        ],
        now: "たった今",
    },
};

impl Locale {
    /// The table for a language tag (`fr-CA` uses `fr`), if it is one we support.
    pub fn find(tag: &str) -> Option<&'static Locale> {
        let language = tag.split(['-', '_']).next().unwrap_or_default();
        [&EN, &FR, &DE, &ES, &PT, &IT, &NL, &JA]
            .into_iter()
            .find(|l| l.tag.eq_ignore_ascii_case(language))
    }

    pub fn english() -> &'static Locale {
        &EN
    }

    /// `value` with `decimals` fraction digits, grouped and with this locale's marks.
    pub fn number(&self, value: f64, decimals: usize) -> String {
        let fixed = format!("{:.*}", decimals, value.abs());
        let (int_part, frac_part) = match fixed.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (fixed.as_str(), None),
        };
        let mut out = String::with_capacity(fixed.len() + 8);
        // `-0.00` is zero, not a negative amount.
        if value < 0.0 && fixed.bytes().any(|b| matches!(b, b'1'..=b'9')) {
            out.push('-');
        }
        let digits = int_part.len();
        if digits >= 4 && digits >= 3 + self.min_grouping_digits {
            for (i, c) in int_part.chars().enumerate() {
                if i > 0 && (digits - i) % 3 == 0 {
                    out.push_str(self.group);
                }
                out.push(c);
            }
        } else {
            out.push_str(int_part);
        }
        if let Some(frac) = frac_part {
            out.push_str(self.decimal);
            out.push_str(frac);
        }
        out
    }

    /// An amount of a currency (ISO 4217 code) in this locale's layout.
    pub fn currency(&self, value: f64, code: &str) -> String {
        let (symbol, decimals) = currency_symbol(code);
        let amount = self.number(value.abs(), decimals);
        let sign = if value < 0.0 && amount.bytes().any(|b| matches!(b, b'1'..=b'9')) {
            "-"
        } else {
            ""
        };
        // A code without a symbol is spaced from the number in every locale: "CHF 12.00".
        let spaced_before = symbol == code;
        match self.symbol_position {
            SymbolPosition::Before if !spaced_before => format!("{sign}{symbol}{amount}"),
            SymbolPosition::Before | SymbolPosition::BeforeSpaced => {
                format!("{sign}{symbol}{NBSP}{amount}")
            }
            SymbolPosition::AfterSpaced => format!("{sign}{amount}{NBSP}{symbol}"),
        }
    }
}

/// The symbol and usual number of decimals of an ISO 4217 code; unknown codes print as
/// the code itself with two decimals.
fn currency_symbol(code: &str) -> (&str, usize) {
    match code {
        "USD" => ("$", 2),
        "EUR" => ("€", 2),
        "GBP" => ("£", 2),
        "JPY" => ("¥", 0),
        "CNY" => ("CN¥", 2),
        "INR" => ("₹", 2),
        "BRL" => ("R$", 2),
        "CAD" => ("CA$", 2),
        "AUD" => ("A$", 2),
        "MXN" => ("MX$", 2),
        "KRW" => ("₩", 0),
        "CHF" => ("CHF", 2),
        "SEK" | "NOK" | "DKK" | "PLN" | "CZK" => (code, 2),
        "HUF" => ("HUF", 2),
        _ => (code, 2),
    }
}

/// Whether `code` looks like an ISO 4217 code (three upper-case ASCII letters).
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Whether `tag` is a well-formed language tag such as `fr`, `fr-CA`, `pt-BR`, `zh-Hant-TW`.
pub fn is_language_tag(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > 35 {
        return false;
    }
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A language tag in its usual case: `FR-ca` becomes `fr-CA`, `zh-hant` `zh-Hant`.
pub fn canonical_tag(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    for (i, part) in tag.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        if i == 0 {
            out.push_str(&part.to_ascii_lowercase());
        } else if part.len() == 2 {
            out.push_str(&part.to_ascii_uppercase());
        } else if part.len() == 4 {
            let lower = part.to_ascii_lowercase();
            out.push_str(&lower[..1].to_ascii_uppercase());
            out.push_str(&lower[1..]);
        } else {
            out.push_str(&part.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(tag: &str) -> &'static Locale {
        Locale::find(tag).unwrap()
    }

    #[test]
    fn numbers_follow_each_locale() {
        let n = 1_234_567.891;
        assert_eq!(l("en").number(n, 2), "1,234,567.89");
        assert_eq!(l("fr").number(n, 2), "1\u{202f}234\u{202f}567,89");
        assert_eq!(l("de").number(n, 2), "1.234.567,89");
        assert_eq!(l("es").number(n, 2), "1.234.567,89");
        assert_eq!(l("es").number(1234.5, 1), "1234,5");
        assert_eq!(l("es").number(12345.0, 0), "12.345");
        assert_eq!(l("pt-BR").number(n, 0), "1.234.568");
        assert_eq!(l("it").number(-0.5, 1), "-0,5");
        assert_eq!(l("nl").number(999.0, 0), "999");
        assert_eq!(l("ja").number(n, 1), "1,234,567.9");
        assert_eq!(l("en").number(-0.001, 2), "0.00");
    }

    #[test]
    fn currencies_place_symbols() {
        assert_eq!(l("en").currency(1234.5, "USD"), "$1,234.50");
        assert_eq!(l("en").currency(-3.0, "EUR"), "-€3.00");
        assert_eq!(l("fr").currency(1234.5, "EUR"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(l("de").currency(1234.5, "EUR"), "1.234,50\u{a0}€");
        assert_eq!(l("pt").currency(1234.5, "BRL"), "R$\u{a0}1.234,50");
        assert_eq!(l("nl").currency(1234.5, "EUR"), "€\u{a0}1.234,50");
        assert_eq!(l("ja").currency(1234.0, "JPY"), "¥1,234");
        assert_eq!(l("en").currency(12.0, "CHF"), "CHF\u{a0}12.00");
    }

    #[test]
    fn tags() {
        assert!(is_language_tag("fr-CA"));
        assert!(is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("f"));
        assert!(!is_language_tag("fr_CA"));
        assert!(!is_language_tag("fr-"));
        assert_eq!(canonical_tag("FR-ca"), "fr-CA");
        assert_eq!(canonical_tag("zh-hant-tw"), "zh-Hant-TW");
        assert_eq!(Locale::find("fr-CA").unwrap().tag, "fr");
        assert!(Locale::find("sv").is_none());
    }
}
