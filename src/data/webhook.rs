//! The Crisp web hook endpoint (`POST /crisp` on `--webhook-listen`): verifies Crisp's
//! signature and invalidates the cached contact or session an event is about.
//!
//! Crisp signs each hook with the website's hook secret: `X-Crisp-Signature` is the hex
//! HMAC-SHA256 of `[{X-Crisp-Request-Timestamp};{body}]`, where `body` is either the raw
//! bytes received or their compact re-serialisation as JavaScript's `JSON.stringify` writes
//! it (what Crisp's Node client verifies, so a pretty-printed body signed that way is
//! accepted too). Events: `people:*` carrying a
//! `people_id` (profile created/updated/removed, synced, bound to a session) invalidate
//! that contact; `session:*` carrying a `session_id` (`session:set_data`, `set_email`,
//! `set_nickname`, ..., `removed`) invalidate that session. A hook whose timestamp is more
//! than [`REPLAY_WINDOW`] away from our clock is refused, and a signature already accepted is
//! refused for as long as its timestamp is fresh, so that a captured hook cannot be replayed
//! (each replica remembers the signatures it accepted; a restart forgets them).
//!
//! Events that mean "an agent is about to need this conversation" also prefetch its data
//! ([`PREFETCH_EVENTS`]): the conversation meta, and the contact when the event names it
//! (`people:bind:session`) or the meta gives its email. See [`DataService::prefetch`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value as Json;
use sha2::Sha256;

use super::sources::HookTarget;
use super::{DataService, ScopeKind};
use crate::error::quote;
use crate::ids::{ContactId, SessionId};

pub const PATH: &str = "/crisp";

/// Crisp events after which an agent is about to render for the conversation: a new
/// conversation, a visitor's message, a contact bound to it, its data changed.
pub const PREFETCH_EVENTS: &[&str] = &[
    "session:request:initiated",
    "message:send",
    "people:bind:session",
    "session:set_data",
];

/// How far a hook's `X-Crisp-Request-Timestamp` may be from our clock, either way (delivery
/// delay and clock skew).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

struct HookState {
    data: Arc<DataService>,
    targets: BTreeMap<String, HookTarget>,
    seen: SeenSignatures,
}

/// Serves web hooks until `shutdown` completes.
pub async fn serve(
    listener: crate::connections::Acceptor,
    data: Arc<DataService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let targets = data.sources().crisp_hook_targets();
    if targets.values().all(|t| t.secret.is_none()) {
        tracing::warn!(
            "web hooks are on but no Crisp source has a `webhook_secret`: every hook will be refused"
        );
    } else {
        for (website, target) in targets.iter().filter(|(_, t)| t.secret.is_none()) {
            tracing::warn!(
                website = %website,
                workspaces = %target.workspaces.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(","),
                "no `webhook_secret` for this Crisp website: its hooks will be refused"
            );
        }
    }
    let state = Arc::new(HookState {
        data,
        targets,
        seen: SeenSignatures::default(),
    });
    let app = Router::new().route(PATH, post(receive)).with_state(state);
    crate::connections::serve_http(listener, app, shutdown).await
}

async fn receive(
    State(state): State<Arc<HookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(payload) = serde_json::from_slice::<Json>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON".into());
    };
    let data = payload.get("data").unwrap_or(&Json::Null);
    let text = |key: &str| {
        payload
            .get(key)
            .or_else(|| data.get(key))
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string()
    };
    let website_id = text("website_id");
    let Some(target) = state.targets.get(&website_id) else {
        return (
            StatusCode::UNAUTHORIZED,
            format!(
                "no Crisp source is configured for website {}",
                quote(&website_id)
            ),
        );
    };
    let Some(secret) = &target.secret else {
        return (
            StatusCode::UNAUTHORIZED,
            format!(
                "no webhook_secret is configured for website {}",
                quote(&website_id)
            ),
        );
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if !signature_valid(
        secret,
        header("x-crisp-request-timestamp"),
        &body,
        header("x-crisp-signature"),
    ) {
        tracing::warn!(website = %website_id, "refused a web hook with a bad signature");
        return (StatusCode::UNAUTHORIZED, "bad signature".into());
    }
    if !timestamp_fresh(header("x-crisp-request-timestamp"), SystemTime::now()) {
        tracing::warn!(website = %website_id, "refused a web hook with a stale timestamp");
        return (
            StatusCode::UNAUTHORIZED,
            format!(
                "the timestamp is more than {} s from this server's clock",
                REPLAY_WINDOW.as_secs()
            ),
        );
    }
    if !state.seen.first_time(
        &website_id,
        header("x-crisp-signature"),
        header("x-crisp-request-timestamp"),
        SystemTime::now(),
    ) {
        tracing::warn!(website = %website_id, "refused a replayed web hook");
        return (
            StatusCode::CONFLICT,
            "this hook (its signature) was already accepted; each hook is accepted once".into(),
        );
    }

    let event = text("event");
    let mut invalidations = Vec::new();
    let people_id = text("people_id");
    if event.starts_with("people:") && !people_id.is_empty() {
        invalidations.push((ScopeKind::Contact, people_id.clone()));
        let email = text("email");
        if !email.is_empty() {
            invalidations.push((ScopeKind::Contact, email));
        }
    }
    let session_id = text("session_id");
    if (event.starts_with("session:") || event == "people:bind:session") && !session_id.is_empty() {
        invalidations.push((ScopeKind::Session, session_id.clone()));
    }
    for workspace in &target.workspaces {
        for (kind, id) in &invalidations {
            if let Err(error) = state.data.invalidate(*kind, workspace, id).await {
                tracing::warn!(%error, event, "web hook names an id we cannot invalidate");
            }
        }
    }
    let mut prefetched = 0;
    if PREFETCH_EVENTS.contains(&event.as_str()) {
        // Ids that are not valid ones are skipped: a hook is no reason to fail.
        let session = SessionId::parse(&session_id).ok().filter(|s| !s.is_empty());
        let contact = (event == "people:bind:session")
            .then(|| ContactId::parse(&people_id).ok())
            .flatten()
            .filter(|c| !c.is_empty());
        for workspace in &target.workspaces {
            if let (Some(session), Some(contact)) = (&session, &contact) {
                state.data.bind(workspace, session, contact).await;
            }
            if let Some(session) = &session {
                state.data.prefetch(workspace, session).await;
                prefetched += 1;
            }
            if let Some(contact) = &contact {
                state.data.prefetch(workspace, contact).await;
                prefetched += 1;
            }
        }
    }
    tracing::info!(website = %website_id, event, invalidated = invalidations.len(), prefetched, "web hook");
    (
        StatusCode::OK,
        format!(
            "invalidated {}, prefetched {prefetched}",
            invalidations.len()
        ),
    )
}

/// Crisp's hook signature: hex HMAC-SHA256 of `[{timestamp};{body}]`, compared in
/// constant time, where `body` is the raw body or, failing that, [`js_compact`] of it.
pub fn signature_valid(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    if timestamp.is_empty() || signature.is_empty() {
        return false;
    }
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let matches = |body: &[u8]| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(b"[");
        mac.update(timestamp.as_bytes());
        mac.update(b";");
        mac.update(body);
        mac.update(b"]");
        mac.verify_slice(&expected).is_ok()
    };
    matches(body) || js_compact(body).is_some_and(|c| c.as_bytes() != body && matches(c.as_bytes()))
}

/// `JSON.stringify(JSON.parse(body))` as JavaScript computes it, which is what Crisp's
/// Node client signs: insignificant whitespace dropped, strings re-escaped and numbers
/// re-spelled the JavaScript way, and the sender's key order kept (it is done token by
/// token, never through a map). One difference remains: JavaScript moves integer-like
/// keys (`"0"`, `"42"`) to the front of an object; such bodies only match raw. `None`
/// when `body` is not JSON.
pub fn js_compact(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let end = string_end(bytes, i)?;
                let value: String = serde_json::from_str(&text[i..end]).ok()?;
                out.push_str(&serde_json::to_string(&value).ok()?);
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&js_number(text[i..end].parse().ok()?));
                i = end;
            }
            // Structure and the letters of true/false/null; anything else is not JSON.
            b @ (b'{' | b'}' | b'[' | b']' | b':' | b',' | b'a'..=b'z') => {
                out.push(b as char);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The index just past the string literal starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// A number as JavaScript's `Number.prototype.toString` spells it: the shortest digits
/// that round-trip, plain between 1e-6 and 1e21, else with an exponent (`1e+21`, `1e-7`).
fn js_number(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    let magnitude = n.abs();
    if (1e-6..1e21).contains(&magnitude) {
        return format!("{n}");
    }
    let text = format!("{n:e}");
    match text.split_once('e') {
        Some((digits, exponent)) if !exponent.starts_with('-') => format!("{digits}e+{exponent}"),
        _ => text,
    }
}

/// Signatures already accepted, each until its timestamp leaves the replay window.
#[derive(Default)]
struct SeenSignatures {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// (website, signature bytes) -> when the signature's timestamp stops being fresh.
    until: HashMap<(String, Vec<u8>), SystemTime>,
    /// Expired entries are swept when the map reaches this size, which then doubles, so
    /// sweeping costs O(1) per hook on average.
    sweep_at: usize,
}

impl SeenSignatures {
    /// Records a (verified, fresh) hook's signature; false when it was recorded before
    /// and its timestamp is still fresh.
    fn first_time(&self, website: &str, signature: &str, timestamp: &str, now: SystemTime) -> bool {
        let (Ok(signature), Ok(millis)) = (
            hex::decode(signature.trim()),
            timestamp.trim().parse::<u64>(),
        ) else {
            return false;
        };
        let until = SystemTime::UNIX_EPOCH + Duration::from_millis(millis) + REPLAY_WINDOW;
        let mut seen = self.inner.lock().expect("replay set lock poisoned");
        if seen.until.len() >= seen.sweep_at.max(1024) {
            seen.until.retain(|_, until| *until >= now);
            seen.sweep_at = seen.until.len() * 2;
        }
        match seen.until.entry((website.to_string(), signature)) {
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                if *entry.get() >= now {
                    return false;
                }
                entry.insert(until);
                true
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(until);
                true
            }
        }
    }
}

/// Whether a hook's timestamp (Unix milliseconds, as Crisp sends it) is within
/// [`REPLAY_WINDOW`] of `now`.
pub fn timestamp_fresh(timestamp: &str, now: SystemTime) -> bool {
    let Ok(millis) = timestamp.trim().parse::<u64>() else {
        return false;
    };
    let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    now.abs_diff(Duration::from_millis(millis)) <= REPLAY_WINDOW
}

/// Signs a hook as Crisp does (for tests and tooling).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("[{timestamp};").as_bytes());
    mac.update(body);
    mac.update(b"]");
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip() {
        let body = br#"{"event":"session:set_data"}"#;
        let signature = sign("s3cret", "1700000000", body);
        assert!(signature_valid("s3cret", "1700000000", body, &signature));
        assert!(!signature_valid("other", "1700000000", body, &signature));
        assert!(!signature_valid("s3cret", "1700000001", body, &signature));
        assert!(!signature_valid("s3cret", "1700000000", b"{}", &signature));
        assert!(!signature_valid("s3cret", "1700000000", body, "zz"));
    }

    #[test]
    fn bodies_signed_as_crisps_node_client_does_are_valid() {
        // What `JSON.stringify(body, null, 2)` sends, and `JSON.stringify(body)` signs.
        let pretty = "{\n  \"website_id\": \"w\",\n  \"event\": \"people:profile:updated\",\n  \"data\": {\n    \"people_id\": \"p\",\n    \"tags\": [\n      \"a b\",\n      1.5\n    ],\n    \"ok\": true,\n    \"none\": null\n  },\n  \"timestamp\": 1700000000123\n}";
        let compact = r#"{"website_id":"w","event":"people:profile:updated","data":{"people_id":"p","tags":["a b",1.5],"ok":true,"none":null},"timestamp":1700000000123}"#;
        assert_eq!(js_compact(pretty.as_bytes()).unwrap(), compact);
        let signature = sign("s3cret", "1700000000", compact.as_bytes());
        assert!(signature_valid(
            "s3cret",
            "1700000000",
            pretty.as_bytes(),
            &signature
        ));
        assert!(!signature_valid(
            "other",
            "1700000000",
            pretty.as_bytes(),
            &signature
        ));
        let tampered = pretty.replace("\"p\"", "\"q\"");
        assert!(!signature_valid(
            "s3cret",
            "1700000000",
            tampered.as_bytes(),
            &signature
        ));
    }

    #[test]
    fn compaction_spells_strings_and_numbers_as_javascript_does() {
        let cases = [
            (
                r#"{ "b" : "caf\u00e9 \/ \u0001" , "a" : [ 1.50, 1E3, -0, 1e21, 0.0000001, 12345678901234 ] }"#,
                r#"{"b":"café / \u0001","a":[1.5,1000,0,1e+21,1e-7,12345678901234]}"#,
            ),
            (
                r#"[ "tab\there", "quote\"s", 0.000001 ]"#,
                r#"["tab\there","quote\"s",0.000001]"#,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(js_compact(input.as_bytes()).unwrap(), expected, "{input}");
        }
        assert_eq!(js_compact(b"{\"a\": \xff}"), None);
    }

    #[test]
    fn a_signature_is_accepted_once_while_fresh() {
        let seen = SeenSignatures::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        assert!(seen.first_time("w", "abcd", "1700000000000", now));
        assert!(!seen.first_time("w", "ABCD", "1700000000000", now));
        assert!(seen.first_time("other", "abcd", "1700000000000", now));
        assert!(seen.first_time("w", "abce", "1700000000000", now));
        // Once its timestamp is stale the freshness check refuses it; the set may forget it.
        let later = now + REPLAY_WINDOW + Duration::from_secs(1);
        assert!(seen.first_time("w", "abcd", "1700000000000", later));
        // Many hooks: expired ones are swept, so the set does not grow without bound.
        for i in 0..5000u32 {
            let at = now + Duration::from_secs(u64::from(i));
            let ts = (1_700_000_000_000u64 + u64::from(i) * 1000).to_string();
            assert!(seen.first_time("w", &format!("{i:08x}"), &ts, at));
        }
        assert!(seen.inner.lock().unwrap().until.len() < 2000);
    }

    #[test]
    fn timestamps_outside_the_replay_window_are_stale() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert!(timestamp_fresh("1700000000123", now));
        assert!(timestamp_fresh("1700000299000", now));
        assert!(timestamp_fresh("1699999701000", now));
        assert!(!timestamp_fresh("1700000301000", now));
        assert!(!timestamp_fresh("1699999600000", now));
        assert!(!timestamp_fresh("", now));
        assert!(!timestamp_fresh("soon", now));
    }
}
