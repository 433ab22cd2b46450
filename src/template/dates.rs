//! The `date` filter: parses ISO-8601 strings and Unix seconds or milliseconds, converts
//! to an IANA time zone and formats with strftime patterns, the locale's long date, or as
//! a relative phrase.
//!
//! chrono does the strftime layout and the arithmetic; every word comes from the locale's
//! CLDR data (`locale.rs`): `%B` `%b` `%A` `%a` are swapped for its names before chrono
//! writes, and relative phrases are CLDR's.

use std::fmt::Write;

use chrono::format::{Fixed, Item, Numeric, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::locale::{Locale, NameWidth};

/// The format name that prints "in 3 days" / "2 hours ago".
pub const RELATIVE: &str = "relative";

/// A value the `date` filter understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A point in time: formatted in the target time zone.
    Instant(DateTime<Utc>),
    /// A calendar date without a time (`2026-03-05`): never shifted by a time zone.
    Day(NaiveDate),
}

/// Unix times at or above this magnitude are taken as milliseconds (1e11 seconds is the
/// year 5138; 1e11 milliseconds is March 1973).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

impl Moment {
    pub fn from_unix(n: i64) -> Option<Moment> {
        let dt = if n.abs() >= MILLIS_THRESHOLD {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        }?;
        Some(Moment::Instant(dt))
    }

    /// ISO-8601 / RFC 3339 text, a date, or Unix seconds/milliseconds written as digits.
    /// A date-time without an offset is read as UTC.
    pub fn parse(text: &str) -> Option<Moment> {
        let text = text.trim();
        if let Ok(n) = text.parse::<i64>() {
            return Moment::from_unix(n);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
            return Some(Moment::Instant(dt.with_timezone(&Utc)));
        }
        for pattern in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
            if let Ok(dt) = DateTime::parse_from_str(text, pattern) {
                return Some(Moment::Instant(dt.with_timezone(&Utc)));
            }
        }
        for pattern in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
                return Some(Moment::Instant(naive.and_utc()));
            }
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(Moment::Day)
    }
}

/// Why a date could not be formatted; the filter turns it into a missing placeholder.
#[derive(Debug, thiserror::Error)]
pub enum DateError {
    #[error("`{0}` is not a strftime format (e.g. \"%B %d, %Y\")")]
    BadFormat(String),
    #[error("`{0}` is not an IANA time zone (e.g. \"Europe/Paris\")")]
    BadZone(String),
    #[error("the date cannot be printed with this format")]
    Unprintable,
}

/// Checks a strftime pattern once, at write time or before formatting.
pub fn parse_format(format: &str) -> Result<Vec<Item<'_>>, DateError> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(DateError::BadFormat(format.to_string()));
    }
    Ok(items)
}

pub fn parse_zone(name: &str) -> Result<Tz, DateError> {
    name.parse::<Tz>()
        .map_err(|_| DateError::BadZone(name.to_string()))
}

/// Formats `moment` in `zone` with a strftime pattern, or relatively to `now`; `None`
/// is the locale's long date.
pub fn format(
    moment: Moment,
    format: Option<&str>,
    zone: Tz,
    locale: &Locale,
    now: DateTime<Utc>,
) -> Result<String, DateError> {
    let day = match moment {
        Moment::Instant(dt) => dt.with_timezone(&zone).date_naive(),
        Moment::Day(day) => day,
    };
    let Some(format) = format else {
        return locale
            .long_date(day.year(), day.month(), day.day())
            .ok_or(DateError::Unprintable);
    };
    if format == RELATIVE {
        return Ok(relative(moment, zone, locale, now));
    }
    let items = localise(parse_format(format)?, locale, day);
    let mut out = String::new();
    let written = match moment {
        Moment::Instant(dt) => write!(
            out,
            "{}",
            dt.with_timezone(&zone).format_with_items(items.iter())
        ),
        Moment::Day(day) => write!(out, "{}", day.format_with_items(items.iter())),
    };
    written.map_err(|_| DateError::Unprintable)?;
    Ok(out)
}

/// The pattern with month and weekday names replaced by the locale's for `day`. A month
/// name takes CLDR's format form ("1 grudnia") in a pattern with a day of the month and
/// its standalone form ("grudzień 2026") in one without.
fn localise<'a>(mut items: Vec<Item<'a>>, locale: &'a Locale, day: NaiveDate) -> Vec<Item<'a>> {
    let standalone = !items
        .iter()
        .any(|i| matches!(i, Item::Numeric(Numeric::Day, _)));
    let month = day.month();
    let weekday = day.weekday().num_days_from_monday();
    for item in &mut items {
        let name = match item {
            Item::Fixed(Fixed::LongMonthName) => {
                locale.month_name(month, NameWidth::Wide, standalone)
            }
            Item::Fixed(Fixed::ShortMonthName) => {
                locale.month_name(month, NameWidth::Abbreviated, standalone)
            }
            Item::Fixed(Fixed::LongWeekdayName) => locale.weekday_name(weekday, NameWidth::Wide),
            Item::Fixed(Fixed::ShortWeekdayName) => {
                locale.weekday_name(weekday, NameWidth::Abbreviated)
            }
            _ => continue,
        };
        *item = Item::Literal(name);
    }
    items
}

/// "in 3 days", "2 hours ago", "yesterday", in the locale's words (CLDR); whole units,
/// rounded down.
fn relative(moment: Moment, zone: Tz, locale: &Locale, now: DateTime<Utc>) -> String {
    let seconds = match moment {
        Moment::Instant(dt) => (dt - now).num_seconds(),
        Moment::Day(day) => {
            // A calendar date counts in whole days from today in the render's time zone.
            let today = now.with_timezone(&zone).date_naive();
            (day - today).num_days() * 86_400
        }
    };
    let abs = seconds.unsigned_abs();
    let (amount, unit) = match abs {
        // Under 45 seconds is "now" (CLDR's word for zero seconds).
        0..=44 if matches!(moment, Moment::Instant(_)) => (0, 0),
        0..=59 => (abs, 0),
        60..=3_599 => (abs / 60, 1),
        3_600..=86_399 => (abs / 3_600, 2),
        86_400..=2_591_999 => (abs / 86_400, 3),
        2_592_000..=31_535_999 => (abs / 2_592_000, 4),
        _ => (abs / 31_536_000, 5),
    };
    // A calendar date that is today: zero days, CLDR's "today".
    let unit = if matches!(moment, Moment::Day(_)) && amount == 0 {
        3
    } else {
        unit
    };
    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
    locale.relative(if seconds < 0 { -amount } else { amount }, unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn en() -> &'static Locale {
        Locale::english()
    }

    fn at(text: &str) -> Moment {
        Moment::parse(text).unwrap()
    }

    fn fmt(text: &str, pattern: &str, zone: &str) -> String {
        format(
            at(text),
            Some(pattern),
            parse_zone(zone).unwrap(),
            en(),
            Utc::now(),
        )
        .unwrap()
    }

    #[test]
    fn parses_iso_and_unix() {
        let expected = Moment::Instant(Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap());
        assert_eq!(at("2026-03-05T10:00:00Z"), expected);
        assert_eq!(at("2026-03-05T11:00:00+01:00"), expected);
        assert_eq!(at("2026-03-05 10:00:00"), expected);
        assert_eq!(at("2026-03-05T10:00"), expected);
        assert_eq!(at("1772704800"), expected);
        assert_eq!(at("1772704800000"), expected);
        assert_eq!(
            at("2026-03-05"),
            Moment::Day(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap())
        );
        for bad in ["soon", "2026-13-01", "", "05/03/2026"] {
            assert!(Moment::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn dst_edges() {
        // Paris springs forward at 01:00 UTC on 29 March 2026 and falls back on 25 October.
        let p = "%Y-%m-%d %H:%M %Z";
        assert_eq!(
            fmt("2026-03-29T00:59:00Z", p, "Europe/Paris"),
            "2026-03-29 01:59 CET"
        );
        assert_eq!(
            fmt("2026-03-29T01:00:00Z", p, "Europe/Paris"),
            "2026-03-29 03:00 CEST"
        );
        assert_eq!(
            fmt("2026-10-25T00:30:00Z", p, "Europe/Paris"),
            "2026-10-25 02:30 CEST"
        );
        assert_eq!(
            fmt("2026-10-25T01:30:00Z", p, "Europe/Paris"),
            "2026-10-25 02:30 CET"
        );
        // New York: 8 March and 1 November 2026.
        assert_eq!(
            fmt("2026-03-08T06:59:00Z", p, "America/New_York"),
            "2026-03-08 01:59 EST"
        );
        assert_eq!(
            fmt("2026-03-08T07:00:00Z", p, "America/New_York"),
            "2026-03-08 03:00 EDT"
        );
        assert_eq!(
            fmt("2026-11-01T05:30:00Z", p, "America/New_York"),
            "2026-11-01 01:30 EDT"
        );
        assert_eq!(
            fmt("2026-11-01T06:30:00Z", p, "America/New_York"),
            "2026-11-01 01:30 EST"
        );
    }

    #[test]
    fn calendar_dates_are_not_shifted() {
        assert_eq!(
            fmt("2026-03-05", "%d/%m/%Y", "Pacific/Auckland"),
            "05/03/2026"
        );
        assert_eq!(
            fmt("2026-03-05", "%d/%m/%Y", "America/Los_Angeles"),
            "05/03/2026"
        );
    }

    #[test]
    fn bad_formats_and_zones_are_errors_not_panics() {
        assert!(parse_format("%Q").is_err());
        assert!(parse_zone("Mars/Olympus").is_err());
        let day = at("2026-03-05");
        assert!(format(day, Some("%Z"), Tz::UTC, en(), Utc::now()).is_err());
    }

    #[test]
    fn relative_phrases() {
        let now = Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap();
        let rel = |text: &str, tag: &str| {
            format(
                at(text),
                Some(RELATIVE),
                Tz::UTC,
                Locale::find(tag).unwrap(),
                now,
            )
            .unwrap()
        };
        assert_eq!(rel("2026-03-08T12:00:00Z", "en"), "in 3 days");
        assert_eq!(rel("2026-03-05T08:00:00Z", "en"), "2 hours ago");
        assert_eq!(rel("2026-03-05T10:00:10Z", "en"), "now");
        assert_eq!(rel("2026-03-06T10:00:00Z", "en"), "tomorrow");
        assert_eq!(rel("2026-03-04", "fr"), "hier");
        assert_eq!(rel("2026-03-05", "de"), "heute");
        assert_eq!(rel("2026-03-02T08:00:00Z", "pl"), "3 dni temu");
        assert_eq!(rel("2026-03-08T12:00:00Z", "fr"), "dans 3 jours");
        assert_eq!(rel("2026-03-05T08:00:00Z", "fr"), "il y a 2 heures");
        assert_eq!(rel("2026-03-08T12:00:00Z", "de"), "in 3 Tagen");
        assert_eq!(rel("2026-03-05T08:00:00Z", "es"), "hace 2 horas");
        assert_eq!(rel("2026-03-08T12:00:00Z", "ja"), "3 日後");
        assert_eq!(rel("2024-03-05T10:00:00Z", "it"), "2 anni fa");
        assert_eq!(rel("2026-03-07", "en"), "in 2 days");
    }

    #[test]
    fn names_in_the_locale() {
        let name = |pattern: &str, tag: &str| {
            format(
                at("2026-12-01T10:00:00Z"),
                Some(pattern),
                Tz::UTC,
                Locale::find(tag).unwrap(),
                Utc::now(),
            )
            .unwrap()
        };
        assert_eq!(name("%A %d %B", "fr"), "mardi 01 décembre");
        assert_eq!(name("%A %d %B", "de"), "Dienstag 01 Dezember");
        assert_eq!(name("%A %d %B", "en"), "Tuesday 01 December");
        assert_eq!(name("%-d %B %Y", "pl"), "1 grudnia 2026");
        assert_eq!(name("%B %Y", "pl"), "grudzień 2026");
        assert_eq!(name("%a %-d %b", "en"), "Tue 1 Dec");
        let long = |tag: &str| {
            format(
                at("2026-12-15"),
                None,
                Tz::UTC,
                Locale::find(tag).unwrap(),
                Utc::now(),
            )
            .unwrap()
        };
        assert_eq!(long("en"), "December 15, 2026");
        assert_eq!(long("en-GB"), "15 December 2026");
        assert_eq!(long("fr"), "15 décembre 2026");
    }
}
