//! The Crisp source: Crisp's REST API v1 with a plugin token.
//!
//! Contact = people profile (`GET website/{website}/people/profile/{people}`) plus people
//! data (`GET website/{website}/people/data/{people}`), fetched concurrently; session =
//! conversation meta (`GET website/{website}/conversation/{session}/meta`). A people id
//! may be the contact's email. Crisp wraps every answer in
//! `{"error": bool, "reason": "...", "data": ...}`; its statuses map to [`SourceError`].

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value as Json;

use super::crisp_search::{self, CrispSearch};
use super::source::{ContactPage, DataSource, ListedContact, SourceError};
use super::{ContactQuery, Record, ScopeKind, crisp_shape};

/// Everything but RFC 3986 unreserved characters is escaped in a path segment, so that an
/// email (`@`, `+`) or a stray `/` stays one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Reasons Crisp gives for an id it does not know.
const NOT_FOUND_REASONS: &[&str] = &[
    "people_not_found",
    "session_not_found",
    "conversation_not_found",
    "not_found",
];

/// Crisp's reason for a token it does not accept (with HTTP 401).
const BAD_TOKEN_REASON: &str = "invalid_session";

/// Crisp's reason for a path that is no API route: a 404 that says nothing about the
/// person, only that our `base_url` (usually its missing `/v1`) is wrong.
const NO_ROUTE_REASON: &str = "route_not_found";

#[derive(Debug, Clone)]
pub struct CrispConfig {
    /// e.g. `https://api.crisp.chat/v1`
    pub base_url: String,
    pub website_id: String,
    /// The plugin token's identifier and key (HTTP Basic).
    pub identifier: String,
    pub key: String,
    /// `X-Crisp-Tier`: `plugin` for plugin tokens.
    pub tier: String,
}

pub struct CrispSource {
    client: reqwest::Client,
    base_url: String,
    website_url: String,
}

impl CrispSource {
    pub fn new(config: CrispConfig) -> Result<Self, String> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "base_url {base:?} must start with http:// or https://"
            ));
        }
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", config.identifier, config.key));
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| "identifier and key must be plain text".to_string())?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            "X-Crisp-Tier",
            HeaderValue::from_str(&config.tier)
                .map_err(|_| "tier must be plain text".to_string())?,
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("shortcuts/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(CrispSource {
            client,
            base_url: base.to_string(),
            website_url: format!(
                "{base}/website/{}",
                utf8_percent_encode(&config.website_id, SEGMENT)
            ),
        })
    }

    /// GETs one resource and unwraps Crisp's envelope; `Ok(None)` when Crisp does not know
    /// the id.
    async fn get(&self, path: &str, timeout: Duration) -> Result<Option<Json>, SourceError> {
        self.get_with(path, "", timeout).await
    }

    /// [`Self::get`] with a query string (`query`: already encoded, without its `?`).
    async fn get_with(
        &self,
        path: &str,
        query: &str,
        timeout: Duration,
    ) -> Result<Option<Json>, SourceError> {
        let url = if query.is_empty() {
            format!("{}/{path}", self.website_url)
        } else {
            format!("{}/{path}?{query}", self.website_url)
        };
        let response = self
            .client
            .get(&url)
            .timeout(timeout)
            .headers(trace_headers())
            .send()
            .await
            .map_err(|e| SourceError::Transient(format!("GET {path}: {}", error_chain(&e))))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body: Option<Json> = response.json().await.ok();
        let reason = body
            .as_ref()
            .and_then(|b| b.get("reason"))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        let describe = || format!("GET {path}: HTTP {} {reason}", status.as_u16());
        // Only Crisp's own reasons say that a person or conversation is unknown; any other
        // 404 (no route, or an answer that is not Crisp's envelope) means that `base_url`
        // does not lead to Crisp's API, and would otherwise pass for "no such contact".
        let misconfigured = || {
            let why = if reason.is_empty() {
                "an answer that is not Crisp's".to_string()
            } else {
                reason.clone()
            };
            SourceError::Misconfigured(format!(
                "GET {path} got HTTP {} ({why}): base_url {} does not lead to Crisp's REST API v1 (it normally ends in /v1, e.g. \"https://api.crisp.chat/v1\"); check `base_url` in the --data-sources file",
                status.as_u16(),
                crate::error::quote(&self.base_url)
            ))
        };
        if status.is_success() {
            let body = body
                .ok_or_else(|| SourceError::Fatal(format!("GET {path}: the answer is not JSON")))?;
            if body.get("error").and_then(Json::as_bool) == Some(true) {
                return if NOT_FOUND_REASONS.contains(&reason.as_str()) {
                    Ok(None)
                } else if reason == NO_ROUTE_REASON {
                    Err(misconfigured())
                } else if reason == BAD_TOKEN_REASON {
                    Err(SourceError::Unauthorized(describe()))
                } else {
                    Err(SourceError::Fatal(describe()))
                };
            }
            return Ok(Some(body.get("data").cloned().unwrap_or(Json::Null)));
        }
        match status {
            StatusCode::NOT_FOUND if NOT_FOUND_REASONS.contains(&reason.as_str()) => Ok(None),
            StatusCode::NOT_FOUND => Err(misconfigured()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SourceError::Unauthorized(describe()))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(SourceError::RateLimited(retry_after)),
            StatusCode::REQUEST_TIMEOUT => Err(SourceError::Transient(describe())),
            s if s.is_server_error() => Err(SourceError::Transient(describe())),
            _ if NOT_FOUND_REASONS.contains(&reason.as_str()) => Ok(None),
            _ if reason == BAD_TOKEN_REASON => Err(SourceError::Unauthorized(describe())),
            _ => Err(SourceError::Fatal(describe())),
        }
    }
}

#[async_trait]
impl DataSource for CrispSource {
    fn name(&self) -> &str {
        "crisp"
    }

    /// A contact is its profile and its people data; a session is its conversation meta.
    fn requests(&self, kind: ScopeKind) -> u32 {
        match kind {
            ScopeKind::Contact => 2,
            ScopeKind::Session => 1,
        }
    }

    /// `GET people/profiles/{page}` (pages numbered from 1, of Crisp's own size), with
    /// Crisp's search parameters for what of `query` they can express: a page that is empty
    /// or answers `people_not_found` is past the last one.
    async fn list_contacts(
        &self,
        _workspace_id: &str,
        cursor: &str,
        _page_size: u32,
        query: &ContactQuery,
        timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        let page: u32 = if cursor.is_empty() {
            1
        } else {
            cursor
                .parse()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| SourceError::Fatal(format!("not a Crisp page: {cursor:?}")))?
        };
        let search = crisp_search::search(query)
            .map(|search| search_parameters(&search))
            .unwrap_or_default();
        let Some(data) = self
            .get_with(&format!("people/profiles/{page}"), &search, timeout)
            .await?
        else {
            return Ok(ContactPage::default());
        };
        let profiles = data.as_array().map(Vec::as_slice).unwrap_or_default();
        if profiles.is_empty() {
            return Ok(ContactPage::default());
        }
        Ok(ContactPage {
            contacts: listed(profiles),
            next: Some((page + 1).to_string()),
        })
    }

    fn pushdown(&self, query: &ContactQuery) -> Option<String> {
        crisp_search::search(query).map(|search| search.describe())
    }

    async fn fetch(
        &self,
        kind: ScopeKind,
        _workspace_id: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<Record, SourceError> {
        let id = utf8_percent_encode(id, SEGMENT).to_string();
        match kind {
            ScopeKind::Contact => {
                let (profile_path, data_path) =
                    (format!("people/profile/{id}"), format!("people/data/{id}"));
                let (profile, data) = tokio::try_join!(
                    self.get(&profile_path, timeout),
                    self.get(&data_path, timeout),
                )?;
                let profile = profile.ok_or(SourceError::NotFound)?;
                let custom = data
                    .as_ref()
                    .and_then(|d| d.get("data"))
                    .unwrap_or(&Json::Null);
                Ok(crisp_shape::contact(&profile, custom))
            }
            ScopeKind::Session => {
                let meta = self
                    .get(&format!("conversation/{id}/meta"), timeout)
                    .await?
                    .ok_or(SourceError::NotFound)?;
                Ok(crisp_shape::session(&meta))
            }
        }
    }
}

/// A people list page's profiles as listed contacts: without their people data, which
/// the list does not carry.
fn listed(profiles: &[Json]) -> Vec<ListedContact> {
    profiles
        .iter()
        .filter_map(|profile| {
            let id = profile.get("people_id").and_then(Json::as_str)?.to_string();
            Some(ListedContact {
                id,
                record: std::sync::Arc::new(crisp_shape::contact(profile, &Json::Null)),
                complete: false,
            })
        })
        .collect()
}

/// `search_operator=...&search_filter=...`, every byte but RFC 3986's unreserved ones
/// percent-encoded (the filter is JSON: quotes, brackets, braces, spaces).
fn search_parameters(search: &CrispSearch) -> String {
    format!(
        "search_operator={}&search_filter={}",
        utf8_percent_encode(search.operator, SEGMENT),
        utf8_percent_encode(&search.filter, SEGMENT)
    )
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The current call's W3C trace context, passed on so that the upstream's traces join ours.
fn trace_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) =
        crate::telemetry::current_traceparent().and_then(|tp| HeaderValue::from_str(&tp).ok())
    {
        headers.insert("traceparent", value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_stay_one_path_segment() {
        let encoded = utf8_percent_encode("jane+vip@example.com/x", SEGMENT).to_string();
        assert_eq!(encoded, "jane%2Bvip%40example.com%2Fx");
    }

    #[test]
    fn search_parameters_are_percent_encoded() {
        let search = CrispSearch {
            operator: "and",
            filter: r#"[{"query":["a b&c=d+é"]}]"#.into(),
        };
        let query = search_parameters(&search);
        assert_eq!(
            query,
            "search_operator=and&search_filter=%5B%7B%22query%22%3A%5B%22a%20b%26c%3Dd%2B%C3%A9%22%5D%7D%5D"
        );
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(decoded[1].1, search.filter);
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }
}
