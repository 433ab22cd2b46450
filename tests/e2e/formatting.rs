//! The formatting filters over gRPC: numbers and amounts in several locales, dates in
//! several time zones across DST changes, relative dates, names, and what a filter that
//! cannot format its value does to the render.

use chrono::{Duration, Utc};
use serde_json::json;
use tonic::Code;

use crate::harness::TestServer;
use crate::{DEMO, JANE, JANE_SESSION, assert_status, inline, structure};
use shortcuts::pb;

fn with_locale(body: &str, locale: &str, vars: serde_json::Value) -> pb::RenderTemplateRequest {
    let mut request = inline(body, JANE);
    request.session_id = JANE_SESSION.into();
    request.locale = locale.into();
    request.vars = Some(structure(vars));
    request
}

#[tokio::test]
async fn numbers_and_currencies_follow_the_request_locale() {
    let server = TestServer::start();
    let mut client = server.client().await;
    // Jane's lifetime value is 4820.5 and her session's cart total 129.9.
    let body = "<<contact.lifetime_value | number>>|<<contact.lifetime_value | currency(\"EUR\")>>|<<session.cart_total | currency(\"USD\")>>|<<vars.big | number(1)>>|<<vars.yen | currency(\"JPY\")>>|<<contact.company_size | number>>";
    let vars = json!({"big": 1234567.25, "yen": 98765});
    let nbsp = '\u{a0}';
    let nnbsp = '\u{202f}';
    // CLDR's conventions: the symbol, its place and spacing, the grouping (Spanish, Italian,
    // Polish and European Portuguese group from five digits), per locale and region.
    let cases = [
        (
            "en",
            "en",
            "4,820.50|€4,820.50|$129.90|1,234,567.2|¥98,765|250".to_string(),
        ),
        (
            // A region without data of its own formats as its language.
            "fr-BE",
            "fr",
            format!(
                "4{nnbsp}820,50|4{nnbsp}820,50{nbsp}€|129,90{nbsp}$US|1{nnbsp}234{nnbsp}567,2|98{nnbsp}765{nbsp}JP¥|250"
            ),
        ),
        (
            "de",
            "de",
            format!("4.820,50|4.820,50{nbsp}€|129,90{nbsp}$|1.234.567,2|98.765{nbsp}¥|250"),
        ),
        (
            "es",
            "es",
            format!("4820,50|4820,50{nbsp}€|129,90{nbsp}US$|1.234.567,2|98.765{nbsp}JP¥|250"),
        ),
        (
            "es-MX",
            "es-MX",
            "4,820.50|€4,820.50|US$129.90|1,234,567.2|JP¥98,765|250".to_string(),
        ),
        (
            "pt-BR",
            "pt",
            format!("4.820,50|€{nbsp}4.820,50|US${nbsp}129,90|1.234.567,2|JP¥{nbsp}98.765|250"),
        ),
        (
            "pt-PT",
            "pt-PT",
            format!(
                "4820,50|4820,50{nbsp}€|129,90{nbsp}US$|1{nbsp}234{nbsp}567,2|98{nbsp}765{nbsp}JP¥|250"
            ),
        ),
        (
            "it",
            "it",
            format!("4820,50|4820,50{nbsp}€|129,90{nbsp}US$|1.234.567,2|98.765{nbsp}JP¥|250"),
        ),
        (
            "nl",
            "nl",
            format!("4.820,50|€{nbsp}4.820,50|US${nbsp}129,90|1.234.567,2|JP¥{nbsp}98.765|250"),
        ),
        (
            "ja",
            "ja",
            "4,820.50|€4,820.50|$129.90|1,234,567.2|￥98,765|250".to_string(),
        ),
        (
            "sv-SE",
            "sv",
            format!(
                "4{nbsp}820,50|4{nbsp}820,50{nbsp}€|129,90{nbsp}US$|1{nbsp}234{nbsp}567,2|98{nbsp}765{nbsp}JP¥|250"
            ),
        ),
        (
            "pl",
            "pl",
            format!(
                "4820,50|4820,50{nbsp}€|129,90{nbsp}US$|1{nbsp}234{nbsp}567,2|98{nbsp}765{nbsp}JP¥|250"
            ),
        ),
    ];
    for (requested, used, expected) in cases {
        let reply = client
            .render_template(with_locale(body, requested, vars.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, expected, "locale {requested}");
        assert_eq!(reply.format_locale, used, "locale {requested}");
        assert!(reply.missing.is_empty(), "{requested}: {:?}", reply.missing);
    }

    // A language we have no data for formats like the workspace's default (demo: en).
    let reply = client
        .render_template(with_locale(body, "xx-YY", vars.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.format_locale, "en");
    assert!(reply.text.starts_with("4,820.50|"), "{}", reply.text);

    // Numeric text is a number too.
    let reply = client
        .render_template(with_locale(
            "<<vars.n | number(2)>>",
            "de",
            json!({"n": "1234.5"}),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "1.234,50");
}

#[tokio::test]
async fn dates_in_time_zones_across_dst_changes() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let vars = json!({
        // Paris springs forward at 01:00 UTC on 29 March 2026, New York at 07:00 UTC on
        // 8 March; both fall back in the autumn (25 October, 1 November).
        "paris_before": "2026-03-29T00:59:00Z",
        "paris_after": "2026-03-29T01:00:00Z",
        "paris_fall_1": "2026-10-25T00:30:00Z",
        "paris_fall_2": "2026-10-25T01:30:00Z",
        "ny_before": "2026-03-08T06:59:00Z",
        "ny_after": "2026-03-08T07:00:00Z",
        "ny_fall_1": "2026-11-01T05:30:00Z",
        "ny_fall_2": "2026-11-01T06:30:00Z",
        "unix_s": 1772704800,
        "unix_ms": 1772704800000i64,
        "offset": "2026-03-05T11:00:00+01:00",
    });
    let f = "\"%Y-%m-%d %H:%M %Z\"";
    let body = format!(
        "<<vars.paris_before | date({f}, \"Europe/Paris\")>>\n<<vars.paris_after | date({f}, \"Europe/Paris\")>>\n<<vars.paris_fall_1 | date({f}, tz=\"Europe/Paris\")>>\n<<vars.paris_fall_2 | date({f}, tz=\"Europe/Paris\")>>\n<<vars.ny_before | date({f}, \"America/New_York\")>>\n<<vars.ny_after | date({f}, \"America/New_York\")>>\n<<vars.ny_fall_1 | date({f}, \"America/New_York\")>>\n<<vars.ny_fall_2 | date({f}, \"America/New_York\")>>\n<<vars.unix_s | date(\"%d %B %Y %H:%M\", \"UTC\")>>\n<<vars.unix_ms | date(\"%d %B %Y %H:%M\", \"Asia/Tokyo\")>>\n<<vars.offset | date(\"%H:%M %z\", \"UTC\")>>"
    );
    let reply = client
        .render_template(with_locale(&body, "en", vars))
        .await
        .unwrap()
        .into_inner();
    let lines: Vec<&str> = reply.text.lines().collect();
    assert_eq!(
        lines,
        [
            "2026-03-29 01:59 CET",
            "2026-03-29 03:00 CEST",
            "2026-10-25 02:30 CEST",
            "2026-10-25 02:30 CET",
            "2026-03-08 01:59 EST",
            "2026-03-08 03:00 EDT",
            "2026-11-01 01:30 EDT",
            "2026-11-01 01:30 EST",
            "05 March 2026 10:00",
            "05 March 2026 19:00",
            "10:00 +0000",
        ]
    );
    assert!(reply.missing.is_empty(), "{:?}", reply.missing);
}

#[tokio::test]
async fn dates_default_to_the_workspace_zone_and_locale_format() {
    let server = TestServer::start();
    let mut client = server.client().await;
    // The demo workspace is in Europe/Paris; 23:30 UTC on 14 December is the 15th there.
    let vars = json!({"at": "2026-12-14T23:30:00Z"});
    let reply = client
        .render_template(with_locale(
            "<<vars.at | date(\"%Y-%m-%d %H:%M\")>>|<<vars.at | date>>|<<contact.renewal_date | date>>",
            "",
            vars.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    // Jane's renewal_date is the calendar date 2026-12-15: never shifted by a zone.
    assert_eq!(
        reply.text,
        "2026-12-15 00:30|December 15, 2026|December 15, 2026"
    );
    // Without a format: the locale's long date pattern from CLDR.
    for (locale, expected) in [
        ("fr", "15 décembre 2026"),
        ("de", "15. Dezember 2026"),
        ("ja", "2026年12月15日"),
        ("en-GB", "15 December 2026"),
        ("pl", "15 grudnia 2026"),
    ] {
        let reply = client
            .render_template(with_locale("<<vars.at | date>>", locale, vars.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, expected, "{locale}");
    }
}

#[tokio::test]
async fn relative_dates_in_three_locales() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let now = Utc::now();
    // Whole units are rounded down; the margins keep the test independent of how long the
    // render takes.
    let vars = json!({
        "soon": (now + Duration::days(3) + Duration::hours(2)).to_rfc3339(),
        "past": (now - Duration::hours(2) - Duration::minutes(10)).timestamp(),
    });
    let body = "<<vars.soon | date(\"relative\")>>|<<vars.past | date(\"relative\")>>";
    for (locale, expected) in [
        ("en", "in 3 days|2 hours ago"),
        ("fr", "dans 3 jours|il y a 2 heures"),
        ("de", "in 3 Tagen|vor 2 Stunden"),
        ("ja", "3 日後|2 時間前"),
        ("pl", "za 3 dni|2 godziny temu"),
        ("ru", "через 3 дня|2 часа назад"),
        ("tr", "3 gün sonra|2 saat önce"),
    ] {
        let reply = client
            .render_template(with_locale(body, locale, vars.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, expected, "{locale}");
    }
    // CLDR's words for the day before, the day itself and the day after, where the locale
    // has them (calendar dates, counted in the zone given).
    let today = now.date_naive();
    let days = json!({
        "yesterday": (today - Duration::days(1)).to_string(),
        "today": today.to_string(),
        "tomorrow": (today + Duration::days(1)).to_string(),
        "later": (today + Duration::days(5)).to_string(),
    });
    let body = "<<vars.yesterday | date(\"relative\", \"UTC\")>>|<<vars.today | date(\"relative\", \"UTC\")>>|<<vars.tomorrow | date(\"relative\", \"UTC\")>>|<<vars.later | date(\"relative\", \"UTC\")>>";
    for (locale, expected) in [
        ("en", "yesterday|today|tomorrow|in 5 days"),
        ("fr", "hier|aujourd’hui|demain|dans 5 jours"),
        ("de", "gestern|heute|morgen|in 5 Tagen"),
    ] {
        let reply = client
            .render_template(with_locale(body, locale, days.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, expected, "{locale}");
    }
}

#[tokio::test]
async fn month_and_day_names_from_cldr() {
    let server = TestServer::start();
    let mut client = server.client().await;
    // Tuesday 1 December 2026. A month next to a day takes CLDR's format form (Polish and
    // Russian genitive), alone its standalone form.
    let vars = json!({"d": "2026-12-01"});
    let body = "<<vars.d | date(\"%A %d %B\")>>|<<vars.d | date(\"%a %-d %b\")>>|<<vars.d | date(\"%B %Y\")>>";
    for (locale, expected) in [
        ("fr", "mardi 01 décembre|mar. 1 déc.|décembre 2026"),
        ("de", "Dienstag 01 Dezember|Di. 1 Dez.|Dezember 2026"),
        ("ja", "火曜日 01 12月|火 1 12月|12月 2026"),
        ("pl", "wtorek 01 grudnia|wt. 1 gru|grudzień 2026"),
        ("ru", "вторник 01 декабря|вт 1 дек.|декабрь 2026"),
        ("en-GB", "Tuesday 01 December|Tue 1 Dec|December 2026"),
    ] {
        let reply = client
            .render_template(with_locale(body, locale, vars.clone()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, expected, "{locale}");
        assert_eq!(reply.format_locale, locale);
    }
    // `now` in the workspace's zone, in the request's language.
    let reply = client
        .render_template(with_locale("<<now | date(\"%A\")>>", "de", json!({})))
        .await
        .unwrap()
        .into_inner();
    let german_days = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    assert!(german_days.contains(&reply.text.as_str()), "{}", reply.text);
}

#[tokio::test]
async fn names_and_text_filters() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let vars = json!({
        "full": "Dr. Ana Maria da Silva",
        "email": "jean-luc.picard@example.com",
        "long": "Your replacement order has shipped and should arrive within three days",
        "items": ["socks", "shoes"],
    });
    let body = "<<contact.nickname | first_name>>|<<contact.nickname | last_name>>|<<vars.full | first_name>>|<<vars.full | last_name>>|<<vars.email | first_name>>|<<vars.long | truncate(30)>>|<<contact.plan | capitalize>>|<<contact.company.name | upper>>|<<vars.full | lower>>|<<\"the big shop\" | title>>|<<vars.items | join(\", \")>>|<<vars.items | length>>";
    let reply = client
        .render_template(with_locale(body, "en", vars))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.text,
        "Jane|Doe|Ana|da Silva|Jean|Your replacement order has…|Pro|ACME CORP|dr. ana maria da silva|The Big Shop|socks, shoes|2"
    );
}

#[tokio::test]
async fn a_filter_that_cannot_format_its_value_leaves_it_missing() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let vars = json!({"when": "next tuesday", "amount": "lots", "ok": 5});
    let body = "Due <<vars.when | date(\"%d/%m\")>>, total <<vars.amount | currency(\"EUR\")>>, <<vars.ok | number>> items, by <<vars.when | date(\"%d/%m\") | fallback(\"soon\")>>";
    let reply = client
        .render_template(with_locale(body, "en", vars.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Due , total , 5 items, by soon");
    assert_eq!(reply.missing, ["vars.when", "vars.amount"]);
    assert_eq!(reply.defaulted, ["vars.when"]);

    let mut strict = with_locale(body, "en", vars);
    strict.strict = true;
    assert_status(
        client.render_template(strict).await,
        Code::FailedPrecondition,
        &["vars.when", "vars.amount"],
    );
}

#[tokio::test]
async fn filter_mistakes_are_caught_when_the_template_is_written() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Total: <<contact.lifetime_value | curency(\"EUR\")>>\n<<contact.renewal_date | date(\"%d/%m\", \"Europe/Pariss\")>>";
    let status = assert_status(
        client
            .create_shortcut(crate::create(DEMO, "total", body))
            .await,
        Code::InvalidArgument,
        &[
            "body",
            "line 1, column",
            "unknown filter `curency`; did you mean `currency`?",
            "line 2, column",
            "Europe/Pariss",
        ],
    );
    assert!(!status.message().contains("column 0"), "{status:?}");

    let mut request = inline("<<contact.plan>>", JANE);
    request.locale = "not a locale!".into();
    assert_status(
        client.render_template(request).await,
        Code::InvalidArgument,
        &["locale"],
    );
}

#[tokio::test]
async fn present_and_missing_tests_drive_if_chains() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "{% if contact.plan is present %}plan <<contact.plan>>{% elif contact.company is present %}company <<contact.company.name>>{% else %}nothing{% endif %}|{% if vars.blank is missing %}blank{% endif %}";
    let reply = client
        .render_template(with_locale(body, "en", json!({"blank": "  "})))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "plan pro|blank");
    let mut request = with_locale(body, "en", json!({"blank": "x"}));
    request.contact_id = crate::NO_PLAN_CONTACT.into();
    request.session_id = String::new();
    let reply = client.render_template(request).await.unwrap().into_inner();
    assert_eq!(reply.text, "nothing|");
}
