//! Fake upstreams started by the tests on free loopback ports: a Crisp REST API v1 speaking
//! Crisp's JSON shapes, and a `ContactDataSourceService` gRPC server. Both count calls per
//! endpoint and can be told to fail, rate limit or answer slowly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use shortcuts::pb;
use shortcuts::pb::contact_data_source_service_server::{
    ContactDataSourceService, ContactDataSourceServiceServer,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const WEBSITE: &str = "8c842203-7ed8-4e29-a608-7cf78a7d2fcc";
pub const PEOPLE_ID: &str = "0d5d3a84-8a6c-4b8e-9d43-6f1f2a3b4c5d";
pub const EMAIL: &str = "ada@example.com";
pub const SESSION: &str = "session_9df2a21e-f113-41d4-8ed2-bad8b49cafd1";
pub const IDENTIFIER: &str = "e1b8a0a4-6a3a-4cbb-8d6d-0ab4a1c0b0f1";
pub const KEY: &str = "9b1e3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";

/// How a fake answers.
#[derive(Debug, Clone)]
pub enum Mode {
    Normal,
    /// 503 / UNAVAILABLE.
    Down,
    /// 401 / UNAUTHENTICATED.
    Unauthorized,
    /// Answers normally after this long.
    Slow(Duration),
    /// The next `times` calls get 429 with `Retry-After: secs` (gRPC: RESOURCE_EXHAUSTED
    /// with a `RetryInfo` of `secs`).
    RateLimited {
        times: usize,
        retry_after_secs: u64,
    },
}

/// What a fake saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `profile`, `data`, `meta` (Crisp) or `contact`, `session` (gRPC).
    pub endpoint: &'static str,
    /// The raw request path (Crisp) or id (gRPC).
    pub target: String,
    /// The raw query string (Crisp), without its `?`.
    pub query: String,
    pub authorization: String,
    pub tier: String,
    /// The W3C trace context the call carried, if any.
    pub traceparent: String,
    pub at: Instant,
}

#[derive(Default)]
pub struct FakeState {
    mode: Mutex<Option<Mode>>,
    calls: Mutex<Vec<Call>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: std::sync::atomic::AtomicUsize,
    most_in_flight: std::sync::atomic::AtomicUsize,
    /// How many contacts the gRPC fake's `ListContacts` has (see `upstream_contact`).
    pub listed: std::sync::atomic::AtomicUsize,
}

/// Counts one request as in flight until dropped.
pub struct Answering<'a>(&'a FakeState);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl FakeState {
    /// Marks a request as being answered, for [`FakeState::most_in_flight`].
    pub fn answering(&self) -> Answering<'_> {
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        Answering(self)
    }

    /// The most requests this fake was answering at once.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = Some(mode);
    }

    fn mode(&self) -> Mode {
        self.mode.lock().unwrap().clone().unwrap_or(Mode::Normal)
    }

    /// Takes one rate-limit token if the fake is rate limiting.
    fn rate_limited(&self) -> Option<u64> {
        let mut mode = self.mode.lock().unwrap();
        if let Some(Mode::RateLimited {
            times,
            retry_after_secs,
        }) = mode.as_mut()
            && *times > 0
        {
            *times -= 1;
            return Some(*retry_after_secs);
        }
        None
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn count(&self, endpoint: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .count()
    }
}

pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------- Crisp REST API v1

fn envelope(data: Json) -> Json {
    json!({"error": false, "reason": "resolved", "data": data})
}

fn failure(status: StatusCode, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": true, "reason": reason, "data": {}})),
    )
        .into_response()
}

fn profile() -> Json {
    json!({
        "people_id": PEOPLE_ID,
        "email": EMAIL,
        "person": {
            "nickname": "Ada Lovelace",
            "avatar": "https://avatars.example.com/ada.png",
            "gender": "female",
            "phone": "+44 20 7946 0018",
            "address": "12 St James's Square, London",
            "timezone": 0,
            "employment": {"title": "Analyst", "role": "engineering"},
            "geolocation": {
                "country": "GB",
                "region": "England",
                "city": "London",
                "coordinates": {"latitude": 51.5072, "longitude": -0.1276}
            },
            "locales": ["en"]
        },
        "company": {
            "name": "Analytical Engines",
            "domain": "engines.example.com",
            "url": "https://engines.example.com"
        },
        "segments": ["customer", "enterprise"],
        "active": {"now": false, "last": 1700000000000u64},
        "score": 7,
        "created_at": 1600000000000u64,
        "updated_at": 1700000000000u64
    })
}

fn people_data() -> Json {
    json!({"data": {"plan": "enterprise", "seats": 42, "email": "billing@engines.example.com"}})
}

/// The people of the fake's website besides Ada, for its people list: `p-000` to `p-043`.
pub const LISTED_PEOPLE: usize = 44;
/// People per page of the fake's people list (Crisp's own page size).
pub const PEOPLE_PER_PAGE: usize = 20;

/// A listed person's country and plan: countries cycle FR, BE, DE, GB; every third is "pro".
pub fn listed_person(i: usize) -> (String, &'static str, &'static str) {
    let country = ["FR", "BE", "DE", "GB"][i % 4];
    let plan = if i.is_multiple_of(3) { "pro" } else { "free" };
    (format!("p-{i:03}"), country, plan)
}

fn listed_index(id: &str) -> Option<usize> {
    id.strip_prefix("p-")?
        .parse()
        .ok()
        .filter(|i| *i < LISTED_PEOPLE)
}

fn listed_profile(i: usize) -> Json {
    let (id, country, _) = listed_person(i);
    json!({
        "people_id": id,
        "email": format!("{id}@example.com"),
        "person": {
            "nickname": format!("Person {i}"),
            "geolocation": {"country": country, "city": "Somewhere"},
            "locales": ["en"]
        },
        "segments": ["lead"],
        "active": {"now": false, "last": 1700000000000u64},
        "created_at": 1600000000000u64,
        "updated_at": 1700000000000u64
    })
}

/// Crisp's people list: Ada, then `p-000`..., those that `search` admits; page numbers
/// from 1; past the last page, `people_not_found`.
fn people_page(page: usize, search: &PeopleSearch) -> Option<Json> {
    let ada = (profile(), people_data()["data"].clone());
    let everyone: Vec<Json> = std::iter::once(ada)
        .chain((0..LISTED_PEOPLE).map(|i| {
            let (_, _, plan) = listed_person(i);
            (listed_profile(i), json!({"plan": plan}))
        }))
        .filter(|(profile, data)| search.admits(profile, data))
        .map(|(profile, _)| profile)
        .collect();
    let start = page.checked_sub(1)? * PEOPLE_PER_PAGE;
    if start >= everyone.len() {
        return None;
    }
    let end = (start + PEOPLE_PER_PAGE).min(everyone.len());
    Some(Json::Array(everyone[start..end].to_vec()))
}

/// The subset of Crisp's people search (`search_operator`, `search_filter`) that the
/// service may send: criteria `email`, `segments`, `person.geolocation.country` and
/// `data.<key>`, operators `eq` (equal, or an element of a list equal) and `has` (contains,
/// ignoring case), one or more texts each (any of them), combined by `and` (the default)
/// or `or`. Anything else is refused as Crisp refuses a malformed request.
pub struct PeopleSearch {
    any: bool,
    criteria: Vec<(String, String, Vec<String>)>,
}

impl PeopleSearch {
    pub fn parse(query: &str) -> Result<PeopleSearch, String> {
        let mut any = false;
        let mut criteria = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "search_operator" => match value.as_ref() {
                    "and" => any = false,
                    "or" => any = true,
                    other => return Err(format!("search_operator {other:?}")),
                },
                "search_filter" => {
                    let filter: Json =
                        serde_json::from_str(&value).map_err(|e| format!("search_filter: {e}"))?;
                    for item in filter.as_array().ok_or("search_filter is not an array")? {
                        let text = |key: &str| {
                            item.get(key)
                                .and_then(Json::as_str)
                                .map(str::to_string)
                                .ok_or(format!("criterion without {key}: {item}"))
                        };
                        if text("model")? != "people" {
                            return Err(format!("model of {item}"));
                        }
                        let (criterion, operator) = (text("criterion")?, text("operator")?);
                        let known = matches!(
                            criterion.as_str(),
                            "email" | "segments" | "person.geolocation.country"
                        ) || criterion.starts_with("data.");
                        if !known || !matches!(operator.as_str(), "eq" | "has") {
                            return Err(format!("criterion {criterion:?} {operator:?}"));
                        }
                        let values: Option<Vec<String>> = item
                            .get("query")
                            .and_then(Json::as_array)
                            .map(|q| q.iter().map(|v| v.as_str().map(str::to_string)).collect())
                            .unwrap_or_default();
                        criteria.push((criterion, operator, values.ok_or("query")?));
                    }
                }
                _ => {}
            }
        }
        Ok(PeopleSearch { any, criteria })
    }

    fn admits(&self, profile: &Json, data: &Json) -> bool {
        if self.criteria.is_empty() {
            return true;
        }
        let mut holds = self.criteria.iter().map(|(criterion, operator, values)| {
            let field = match criterion.as_str() {
                "email" => &profile["email"],
                "segments" => &profile["segments"],
                "person.geolocation.country" => &profile["person"]["geolocation"]["country"],
                data_key => &data[data_key.trim_start_matches("data.")],
            };
            let items = match field {
                Json::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            items.iter().filter_map(|item| item.as_str()).any(|item| {
                values.iter().any(|value| match operator.as_str() {
                    "eq" => item == value,
                    _ => item.to_lowercase().contains(&value.to_lowercase()),
                })
            })
        });
        if self.any {
            holds.any(|h| h)
        } else {
            holds.all(|h| h)
        }
    }
}

fn conversation_meta() -> Json {
    json!({
        "nickname": "Ada Lovelace",
        "email": EMAIL,
        "phone": "+44 20 7946 0018",
        "address": null,
        "subject": "Where is my order?",
        "ip": "203.0.113.7",
        "data": {"order_id": "ORD-7", "cart_total": 129.5},
        "avatar": null,
        "device": {
            "capabilities": ["browsing", "call"],
            "geolocation": {
                "country": "FR",
                "region": "Île-de-France",
                "city": "Paris",
                "coordinates": {"latitude": 48.8566, "longitude": 2.3522}
            },
            "system": {
                "os": {"version": "14", "name": "macOS"},
                "engine": {"version": "605.1", "name": "WebKit"},
                "browser": {"major": "17", "version": "17.1", "name": "Safari"},
                "useragent": "Mozilla/5.0"
            },
            "timezone": -60,
            "locales": ["fr", "en"]
        },
        "segments": ["order"]
    })
}

/// Starts a fake Crisp API at `http://ADDR/v1`.
pub async fn crisp() -> Fake {
    let state = Arc::new(FakeState::default());
    let handler_state = state.clone();
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let state = handler_state.clone();
        async move {
            let _answering = state.answering();
            crisp_answer(&state, &uri, &headers).await
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Fake {
        addr,
        state,
        stop: Some(stop),
    }
}

async fn crisp_answer(state: &FakeState, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (endpoint, id) = match segments.as_slice() {
        ["v1", "website", website, "people", "profile", id] if *website == WEBSITE => {
            ("profile", *id)
        }
        ["v1", "website", website, "people", "data", id] if *website == WEBSITE => ("data", *id),
        ["v1", "website", website, "people", "profiles", page] if *website == WEBSITE => {
            ("profiles", *page)
        }
        ["v1", "website", website, "conversation", id, "meta"] if *website == WEBSITE => {
            ("meta", *id)
        }
        // What Crisp answers for a path that is no API route (e.g. a base URL without `/v1`).
        _ => return failure(StatusCode::NOT_FOUND, "route_not_found"),
    };
    state.record(Call {
        endpoint,
        target: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        authorization: header("authorization"),
        tier: header("x-crisp-tier"),
        traceparent: header("traceparent"),
        at: Instant::now(),
    });
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .to_string();
    if let Some(secs) = state.rate_limited() {
        let mut response = failure(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
        return response;
    }
    match state.mode() {
        Mode::Down => return failure(StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        Mode::Unauthorized => return failure(StatusCode::UNAUTHORIZED, "invalid_session"),
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        Mode::Normal | Mode::RateLimited { .. } => {}
    }
    let known_person = id == PEOPLE_ID || id == EMAIL;
    let listed = listed_index(&id);
    match endpoint {
        "profiles" => {
            let search = match PeopleSearch::parse(uri.query().unwrap_or_default()) {
                Ok(search) => search,
                Err(_) => return failure(StatusCode::BAD_REQUEST, "invalid_data"),
            };
            match id.parse().ok().and_then(|page| people_page(page, &search)) {
                Some(page) => axum::Json(json!({"error": false, "reason": "listed", "data": page}))
                    .into_response(),
                None => failure(StatusCode::NOT_FOUND, "people_not_found"),
            }
        }
        "profile" if listed.is_some() => {
            axum::Json(envelope(listed_profile(listed.unwrap_or_default()))).into_response()
        }
        "data" if listed.is_some() => {
            let (_, _, plan) = listed_person(listed.unwrap_or_default());
            axum::Json(envelope(json!({"data": {"plan": plan}}))).into_response()
        }
        "profile" if known_person => axum::Json(envelope(profile())).into_response(),
        "data" if known_person => axum::Json(envelope(people_data())).into_response(),
        "profile" | "data" => failure(StatusCode::NOT_FOUND, "people_not_found"),
        _ if id == SESSION => axum::Json(envelope(conversation_meta())).into_response(),
        _ => failure(StatusCode::NOT_FOUND, "session_not_found"),
    }
}

// ---------------------------------------------------------------- ContactDataSourceService (gRPC)

struct UpstreamService {
    state: Arc<FakeState>,
}

fn structure(json: Json) -> Option<prost_types::Struct> {
    Some(crate::structure(json))
}

impl UpstreamService {
    async fn behave(
        &self,
        endpoint: &'static str,
        id: &str,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<(), tonic::Status> {
        let traceparent = metadata
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.state.record(Call {
            endpoint,
            target: id.to_string(),
            query: String::new(),
            authorization: String::new(),
            tier: String::new(),
            traceparent,
            at: Instant::now(),
        });
        if let Some(secs) = self.state.rate_limited() {
            // What a gRPC server says instead of Retry-After.
            return Err(
                <tonic::Status as tonic_types::StatusExt>::with_error_details(
                    tonic::Code::ResourceExhausted,
                    "slow down",
                    tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_secs(secs))),
                ),
            );
        }
        match self.state.mode() {
            Mode::Down => Err(tonic::Status::unavailable("the CRM is down")),
            Mode::Unauthorized => Err(tonic::Status::unauthenticated("bad service token")),
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Mode::Normal | Mode::RateLimited { .. } => Ok(()),
        }
    }
}

/// A contact of the fake upstream's `ListContacts` (workspace `acme`, `FakeState::listed`
/// of them): `g-0000`... with the countries and plans of [`listed_person`]; a cursor is
/// the index of the next one.
fn upstream_contact(i: usize) -> pb::ListContactsResponse {
    let (_, country, plan) = listed_person(i);
    let id = format!("g-{i:04}");
    pb::ListContactsResponse {
        contact: Some(pb::ContactData {
            fields: structure(json!({
                "id": id,
                "email": format!("{id}@example.com"),
                "first_name": format!("G{i}"),
                "country": country
            })),
            data: structure(json!({"plan": plan})),
        }),
        id,
        cursor: (i + 1).to_string(),
    }
}

type ContactStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::ListContactsResponse, tonic::Status>> + Send>,
>;

#[tonic::async_trait]
impl ContactDataSourceService for UpstreamService {
    async fn list_contacts(
        &self,
        request: tonic::Request<pb::ListContactsRequest>,
    ) -> Result<tonic::Response<ContactStream>, tonic::Status> {
        let _answering = self.state.answering();
        let metadata = request.metadata().clone();
        let r = request.into_inner();
        self.behave("list", &r.cursor, &metadata).await?;
        let start: usize = match r.cursor.as_str() {
            "" => 0,
            c => c
                .parse()
                .map_err(|_| tonic::Status::invalid_argument("bad cursor"))?,
        };
        let total = if r.workspace_id == "acme" {
            self.state.listed.load(std::sync::atomic::Ordering::SeqCst)
        } else {
            0
        };
        let items: Vec<_> = (start..total).map(|i| Ok(upstream_contact(i))).collect();
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn get_contact(
        &self,
        request: tonic::Request<pb::GetContactRequest>,
    ) -> Result<tonic::Response<pb::ContactData>, tonic::Status> {
        let _answering = self.state.answering();
        let metadata = request.metadata().clone();
        let r = request.into_inner();
        self.behave("contact", &r.id, &metadata).await?;
        if r.workspace_id != "acme" || (r.id != PEOPLE_ID && r.id != EMAIL) {
            return Err(tonic::Status::not_found("no such contact"));
        }
        Ok(tonic::Response::new(pb::ContactData {
            fields: structure(json!({
                "id": PEOPLE_ID,
                "email": EMAIL,
                "nickname": "Ada Lovelace",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "company": {"name": "Analytical Engines"},
                "country": "GB",
                "city": "London",
                "segments": ["customer", "enterprise"]
            })),
            data: structure(json!({"plan": "enterprise", "seats": 42})),
        }))
    }

    async fn get_session(
        &self,
        request: tonic::Request<pb::GetSessionRequest>,
    ) -> Result<tonic::Response<pb::SessionData>, tonic::Status> {
        let _answering = self.state.answering();
        let metadata = request.metadata().clone();
        let r = request.into_inner();
        self.behave("session", &r.id, &metadata).await?;
        if r.workspace_id != "acme" || r.id != SESSION {
            return Err(tonic::Status::not_found("no such session"));
        }
        Ok(tonic::Response::new(pb::SessionData {
            fields: structure(json!({
                "nickname": "Ada Lovelace",
                "email": EMAIL,
                "subject": "Where is my order?",
                "city": "Paris",
                "country": "FR"
            })),
            data: structure(json!({"order_id": "ORD-7", "cart_total": 129.5})),
        }))
    }
}

/// Starts a fake `ContactDataSourceService` at `http://ADDR`.
pub async fn grpc_upstream() -> Fake {
    let state = Arc::new(FakeState::default());
    let service = ContactDataSourceServiceServer::new(UpstreamService {
        state: state.clone(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });
    Fake {
        addr,
        state,
        stop: Some(stop),
    }
}

/// Counts calls per endpoint, for messages.
pub fn tally(state: &FakeState) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for call in state.calls() {
        *counts.entry(call.endpoint).or_insert(0) += 1;
    }
    counts
}
