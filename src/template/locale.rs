//! Locale conventions for the formatting filters, all from CLDR through ICU4X's compiled
//! data: number grouping and decimal marks (`icu_decimal`), currency symbols and their
//! placement, month and day names and the default date pattern (`icu_datetime`), and
//! relative-time phrases (`icu_experimental`'s relative-time formatter).
//!
//! Why ICU4X and not a table: the names and phrases are grammar (Polish and Russian months
//! change case after a day number, German takes the dative after "vor", French has "hier"
//! and "avant-hier"), which a hand-kept table gets wrong one locale at a time. What it
//! costs is paid once per locale: the first render in a locale builds its formatters and
//! name lists into a process-wide `OnceLock`, and every later render borrows them
//! (`&'static Locale`), so a render does a lookup, never a load. The data is compiled in
//! (no files to ship); only the locales' data reached from here is linked.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use fixed_decimal::Decimal;
use icu_calendar::{Date, Gregorian};
use icu_datetime::FixedCalendarDateTimeFormatter;
use icu_datetime::fieldsets::YMD;
use icu_datetime::fieldsets::enums::DateFieldSet;
use icu_datetime::pattern::{DateTimePattern, FixedCalendarDateTimeNames};
use icu_decimal::DecimalFormatter;
use icu_experimental::dimension::currency::CurrencyType;
use icu_experimental::dimension::currency::formatter::CurrencyFormatter;
use icu_experimental::relativetime::options::Numeric;
use icu_experimental::relativetime::{RelativeTimeFormatter, RelativeTimeFormatterOptions};
use writeable::{TryWriteable, Writeable};

/// The locales the formatting filters know. A tag not listed here resolves to its nearest
/// listed ancestor (`fr-BE` to `fr`, `pt-BR` to `pt`, `zh-TW` to `zh-Hant`).
pub const SUPPORTED: &[&str] = &[
    "en", "en-GB", "fr", "fr-CA", "de", "es", "es-MX", "pt", "pt-PT", "it", "nl", "ja", "pl", "sv",
    "da", "nb", "fi", "tr", "ru", "zh", "zh-Hant", "ko", "cs",
];

/// One built locale per entry of [`SUPPORTED`], built on first use (`None`: its data
/// failed to load, which a unit test rules out for every entry).
static BUILT: [OnceLock<Option<Locale>>; SUPPORTED.len()] =
    [const { OnceLock::new() }; SUPPORTED.len()];

/// Currency formatters kept per locale; a template can name any three letters, so the
/// cache is bounded and a code past it is formatted without being kept.
const MAX_CACHED_CURRENCIES: usize = 64;

/// Relative-time units, smallest first: second, minute, hour, day, month, year.
pub const RELATIVE_UNITS: usize = 6;

/// Month and weekday names of one locale (weekdays from Monday).
struct Names {
    /// Format context ("1 grudnia"): used in a pattern that has a day of the month.
    months: [String; 12],
    months_abbr: [String; 12],
    /// Standalone ("grudzień 2026"): used in a pattern without a day of the month.
    months_standalone: [String; 12],
    months_standalone_abbr: [String; 12],
    weekdays: [String; 7],
    weekdays_abbr: [String; 7],
}

/// Month and weekday name widths the `date` filter prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameWidth {
    Wide,
    Abbreviated,
}

/// One locale's formatters, built once.
pub struct Locale {
    /// The supported tag this locale was built for (`fr`, `en-GB`).
    pub tag: &'static str,
    icu: icu_locale_core::Locale,
    names: Names,
    long_date: FixedCalendarDateTimeFormatter<Gregorian, YMD>,
    decimal: DecimalFormatter,
    relative: [RelativeTimeFormatter; RELATIVE_UNITS],
    currencies: RwLock<HashMap<[u8; 3], Arc<CurrencyFormatter<DecimalFormatter>>>>,
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locale").field("tag", &self.tag).finish()
    }
}

/// The supported tag a language tag resolves to: itself, else its parents (`de-AT-x` to
/// `de-AT` to `de`); `no` is Norwegian Bokmål, Chinese of Taiwan, Hong Kong and Macao is
/// traditional.
fn resolve(tag: &str) -> Option<usize> {
    // Every render resolves its tag: the usual case, a supported tag as stored, allocates
    // nothing.
    if let Some(i) = SUPPORTED.iter().position(|s| *s == tag) {
        return Some(i);
    }
    let canonical = canonical_tag(tag.trim());
    let mut parts: Vec<&str> = canonical.split('-').collect();
    let language = match parts.first().copied() {
        Some("no") => "nb",
        Some(l) => l,
        None => return None,
    };
    parts[0] = language;
    if language == "zh"
        && parts
            .iter()
            .skip(1)
            .any(|p| matches!(*p, "Hant" | "TW" | "HK" | "MO"))
    {
        return SUPPORTED.iter().position(|s| *s == "zh-Hant");
    }
    while !parts.is_empty() {
        let candidate = parts.join("-");
        if let Some(i) = SUPPORTED.iter().position(|s| *s == candidate) {
            return Some(i);
        }
        parts.pop();
    }
    None
}

fn build_err(tag: &str, what: &str, err: impl fmt::Display) -> String {
    format!("CLDR data for {tag} ({what}): {err}")
}

/// Names for the twelve months or seven weekdays, printed through a one-field CLDR pattern
/// (`MMMM`, `LLLL`, `EEEE`, ...) so that they are exactly what ICU4X prints in a date.
fn names_of<const N: usize>(
    tag: &str,
    prefs: icu_datetime::DateTimeFormatterPreferences,
    pattern: &str,
    dates: impl Fn(usize) -> Date<Gregorian>,
) -> Result<[String; N], String> {
    let pattern: DateTimePattern = pattern
        .parse()
        .map_err(|e| build_err(tag, pattern, format!("{e:?}")))?;
    let mut names = FixedCalendarDateTimeNames::<Gregorian, DateFieldSet>::try_new(prefs)
        .map_err(|e| build_err(tag, "names", e))?;
    let formatter = names
        .include_for_pattern(&pattern)
        .map_err(|e| build_err(tag, "names", format!("{e:?}")))?;
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = formatter
            .format(&dates(i))
            .try_write_to_string()
            .map_err(|(e, _)| build_err(tag, "names", format!("{e:?}")))?
            .into_owned();
    }
    Ok(out)
}

impl Locale {
    fn build(tag: &'static str) -> Result<Locale, String> {
        let icu: icu_locale_core::Locale = tag.parse().map_err(|e| build_err(tag, "tag", e))?;
        let dt_prefs: icu_datetime::DateTimeFormatterPreferences = (&icu).into();
        // 2026 starts on a Thursday: 5 January is a Monday.
        let month = |i: usize| Date::try_new_gregorian(2026, i as u8 + 1, 1).expect("valid date");
        let weekday = |i: usize| Date::try_new_gregorian(2026, 1, 5 + i as u8).expect("valid date");
        let names = Names {
            months: names_of(tag, dt_prefs, "MMMM", month)?,
            months_abbr: names_of(tag, dt_prefs, "MMM", month)?,
            months_standalone: names_of(tag, dt_prefs, "LLLL", month)?,
            months_standalone_abbr: names_of(tag, dt_prefs, "LLL", month)?,
            weekdays: names_of(tag, dt_prefs, "EEEE", weekday)?,
            weekdays_abbr: names_of(tag, dt_prefs, "EEE", weekday)?,
        };
        let long_date = FixedCalendarDateTimeFormatter::try_new(dt_prefs, YMD::long())
            .map_err(|e| build_err(tag, "date pattern", e))?;
        let decimal = DecimalFormatter::try_new((&icu).into(), Default::default())
            .map_err(|e| build_err(tag, "numbers", e))?;
        let options = RelativeTimeFormatterOptions::default().with_numeric(Numeric::Auto);
        let rt = |f: fn(
            icu_experimental::relativetime::RelativeTimeFormatterPreferences,
            RelativeTimeFormatterOptions,
        ) -> Result<RelativeTimeFormatter, icu_provider::DataError>| {
            f((&icu).into(), options).map_err(|e| build_err(tag, "relative time", e))
        };
        let relative = [
            rt(RelativeTimeFormatter::try_new_long_second)?,
            rt(RelativeTimeFormatter::try_new_long_minute)?,
            rt(RelativeTimeFormatter::try_new_long_hour)?,
            rt(RelativeTimeFormatter::try_new_long_day)?,
            rt(RelativeTimeFormatter::try_new_long_month)?,
            rt(RelativeTimeFormatter::try_new_long_year)?,
        ];
        Ok(Locale {
            tag,
            icu,
            names,
            long_date,
            decimal,
            relative,
            currencies: RwLock::new(HashMap::new()),
        })
    }

    /// The locale for a language tag (`fr-BE` uses `fr`), if its language is supported.
    pub fn find(tag: &str) -> Option<&'static Locale> {
        resolve(tag).and_then(Self::get)
    }

    /// A locale whose data does not load (ruled out by a unit test) is logged and treated
    /// as unsupported, so that a render falls back instead of failing.
    fn get(index: usize) -> Option<&'static Locale> {
        BUILT[index]
            .get_or_init(|| {
                Locale::build(SUPPORTED[index])
                    .inspect_err(|error| tracing::error!(%error, "locale data failed to load"))
                    .ok()
            })
            .as_ref()
    }

    pub fn english() -> &'static Locale {
        // English is the last fallback; its data is compiled in and built by a unit test.
        Self::get(0).expect("English locale data is compiled in")
    }

    /// `value` with `decimals` fraction digits, grouped and with this locale's marks.
    pub fn number(&self, value: f64, decimals: usize) -> String {
        let Some(d) = decimal(value, Some(decimals)) else {
            return String::new();
        };
        self.decimal.format(&d).write_to_string().into_owned()
    }

    /// An amount of a currency (ISO 4217 code) in this locale's layout: CLDR's symbol,
    /// its placement and the currency's usual decimals.
    pub fn currency(&self, value: f64, code: &str) -> String {
        let Some(amount) = decimal(value, None) else {
            return String::new();
        };
        let key: Option<[u8; 3]> = code.as_bytes().try_into().ok();
        let cached = key.and_then(|k| {
            self.currencies
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&k)
                .cloned()
        });
        let formatter = match cached {
            Some(f) => Some(f),
            None => self.currency_formatter(code).map(|f| {
                let f = Arc::new(f);
                let mut map = self.currencies.write().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = key
                    && map.len() < MAX_CACHED_CURRENCIES
                {
                    map.insert(k, f.clone());
                }
                f
            }),
        };
        match formatter {
            Some(f) => f.format_fixed_decimal(&amount).to_string(),
            // No CLDR entry for the code: the code, then the number with two decimals.
            None => format!("{code}\u{a0}{}", self.number(value, 2)),
        }
    }

    fn currency_formatter(&self, code: &str) -> Option<CurrencyFormatter<DecimalFormatter>> {
        let currency = CurrencyType::try_from_str(code).ok()?;
        CurrencyFormatter::try_new_symbol((&self.icu).into(), currency, Default::default()).ok()
    }

    /// A month's name (1 to 12); `standalone` for a pattern without a day of the month.
    pub fn month_name(&self, month: u32, width: NameWidth, standalone: bool) -> &str {
        let names = &self.names;
        let list = match (width, standalone) {
            (NameWidth::Wide, false) => &names.months,
            (NameWidth::Abbreviated, false) => &names.months_abbr,
            (NameWidth::Wide, true) => &names.months_standalone,
            (NameWidth::Abbreviated, true) => &names.months_standalone_abbr,
        };
        list.get(month.wrapping_sub(1) as usize)
            .map_or("", String::as_str)
    }

    /// A weekday's name, counted from Monday (0) to Sunday (6).
    pub fn weekday_name(&self, from_monday: u32, width: NameWidth) -> &str {
        let list = match width {
            NameWidth::Wide => &self.names.weekdays,
            NameWidth::Abbreviated => &self.names.weekdays_abbr,
        };
        list.get(from_monday as usize).map_or("", String::as_str)
    }

    /// A calendar date in the locale's long pattern ("December 15, 2026", "15 décembre
    /// 2026"); `None` for a date CLDR's Gregorian calendar cannot hold.
    pub fn long_date(&self, year: i32, month: u32, day: u32) -> Option<String> {
        let date = Date::try_new_gregorian(year, month as u8, day as u8).ok()?;
        Some(self.long_date.format(&date).write_to_string().into_owned())
    }

    /// "in 3 days", "vor 2 Stunden", "hier": `amount` of `unit` (an index into second,
    /// minute, hour, day, month, year), negative in the past. CLDR's words for a small
    /// amount ("yesterday", "now") win over the number where the locale has them.
    pub fn relative(&self, amount: i64, unit: usize) -> String {
        let formatter = &self.relative[unit.min(RELATIVE_UNITS - 1)];
        formatter
            .format(Decimal::from(amount))
            .write_to_string()
            .into_owned()
    }
}

/// `value` as a decimal with `decimals` fraction digits (all of them when `None`); a
/// value that rounds to zero is zero, not a negative amount.
fn decimal(value: f64, decimals: Option<usize>) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    let text = match decimals {
        Some(d) => format!("{:.*}", d, value),
        None => format!("{value}"),
    };
    let text = if text.starts_with('-') && !text.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        &text[1..]
    } else {
        &text
    };
    Decimal::try_from_str(text).ok()
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
    fn every_supported_locale_builds() {
        for (i, tag) in SUPPORTED.iter().enumerate() {
            let built = Locale::build(tag).unwrap();
            assert_eq!(resolve(tag), Some(i), "{tag}");
            assert!(!built.month_name(12, NameWidth::Wide, false).is_empty());
            assert!(!built.relative(-3, 3).is_empty());
        }
    }

    /// What building every locale costs (once per process):
    /// `cargo test --release --lib build_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn build_cost() {
        let started = std::time::Instant::now();
        for tag in SUPPORTED {
            let one = std::time::Instant::now();
            std::hint::black_box(Locale::build(tag).unwrap());
            println!("{tag}: {:?}", one.elapsed());
        }
        println!("all {}: {:?}", SUPPORTED.len(), started.elapsed());
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
        assert_eq!(l("sv").number(n, 2), "1\u{a0}234\u{a0}567,89");
        assert_eq!(l("pl").number(1234.0, 0), "1234");
    }

    #[test]
    fn currencies_place_symbols() {
        assert_eq!(l("en").currency(1234.5, "USD"), "$1,234.50");
        assert_eq!(l("en").currency(-3.0, "EUR"), "-€3.00");
        assert_eq!(l("fr").currency(1234.5, "EUR"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(l("de").currency(1234.5, "EUR"), "1.234,50\u{a0}€");
        assert_eq!(l("pt").currency(1234.5, "BRL"), "R$\u{a0}1.234,50");
        assert_eq!(l("nl").currency(1234.5, "EUR"), "€\u{a0}1.234,50");
        assert_eq!(l("ja").currency(1234.0, "JPY"), "￥1,234");
        assert_eq!(l("en").currency(12.0, "CHF"), "CHF\u{a0}12.00");
    }

    #[test]
    fn names_come_from_cldr() {
        assert_eq!(l("fr").month_name(12, NameWidth::Wide, false), "décembre");
        assert_eq!(l("de").weekday_name(1, NameWidth::Wide), "Dienstag");
        assert_eq!(l("pl").month_name(12, NameWidth::Wide, false), "grudnia");
        assert_eq!(l("pl").month_name(12, NameWidth::Wide, true), "grudzień");
        assert_eq!(l("en").month_name(3, NameWidth::Abbreviated, false), "Mar");
        assert_eq!(l("en").month_name(13, NameWidth::Wide, false), "");
    }

    #[test]
    fn relative_phrases() {
        assert_eq!(l("en").relative(3, 3), "in 3 days");
        assert_eq!(l("en").relative(-1, 3), "yesterday");
        assert_eq!(l("fr").relative(-3, 3), "il y a 3 jours");
        assert_eq!(l("de").relative(-3, 3), "vor 3 Tagen");
        assert_eq!(l("en").relative(2, 2), "in 2 hours");
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
        assert_eq!(Locale::find("fr-CA").unwrap().tag, "fr-CA");
        assert_eq!(Locale::find("fr-BE").unwrap().tag, "fr");
        assert_eq!(Locale::find("pt-BR").unwrap().tag, "pt");
        assert_eq!(Locale::find("en-gb").unwrap().tag, "en-GB");
        assert_eq!(Locale::find("zh-TW").unwrap().tag, "zh-Hant");
        assert_eq!(Locale::find("no").unwrap().tag, "nb");
        assert!(Locale::find("xx").is_none());
        assert!(Locale::find("").is_none());
    }
}
