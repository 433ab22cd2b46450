//! The Crisp web hook endpoint (`POST /crisp` on `--webhook-listen`): verifies Crisp's
//! signature and invalidates the cached contact or session an event is about.
//!
//! Crisp signs each hook with the website's hook secret: `X-Crisp-Signature` is the hex
//! HMAC-SHA256 of `[{X-Crisp-Request-Timestamp};{body}]`. Events: `people:*` carrying a
//! `people_id` (profile created/updated/removed, synced, bound to a session) invalidate
//! that contact; `session:*` carrying a `session_id` (`session:set_data`, `set_email`,
//! `set_nickname`, ..., `removed`) invalidate that session. A hook whose timestamp is more
//! than [`REPLAY_WINDOW`] away from our clock is refused, so that a captured hook cannot be
//! replayed later.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
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

pub const PATH: &str = "/crisp";

/// How far a hook's `X-Crisp-Request-Timestamp` may be from our clock, either way (delivery
/// delay and clock skew).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

struct HookState {
    data: Arc<DataService>,
    targets: HashMap<String, HookTarget>,
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
    }
    let state = Arc::new(HookState { data, targets });
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
            format!("no Crisp source is configured for website {website_id:?}"),
        );
    };
    let Some(secret) = &target.secret else {
        return (
            StatusCode::UNAUTHORIZED,
            format!("no webhook_secret is configured for website {website_id:?}"),
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

    let event = text("event");
    let mut invalidations = Vec::new();
    let people_id = text("people_id");
    if event.starts_with("people:") && !people_id.is_empty() {
        invalidations.push((ScopeKind::Contact, people_id));
        let email = text("email");
        if !email.is_empty() {
            invalidations.push((ScopeKind::Contact, email));
        }
    }
    let session_id = text("session_id");
    if (event.starts_with("session:") || event == "people:bind:session") && !session_id.is_empty() {
        invalidations.push((ScopeKind::Session, session_id));
    }
    for workspace in &target.workspaces {
        for (kind, id) in &invalidations {
            if let Err(error) = state.data.invalidate(*kind, workspace, id).await {
                tracing::warn!(%error, event, "web hook names an id we cannot invalidate");
            }
        }
    }
    tracing::info!(website = %website_id, event, invalidated = invalidations.len(), "web hook");
    (
        StatusCode::OK,
        format!("invalidated {}", invalidations.len()),
    )
}

/// Crisp's hook signature: hex HMAC-SHA256 of `[{timestamp};{body}]`, compared in
/// constant time.
pub fn signature_valid(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    if timestamp.is_empty() || signature.is_empty() {
        return false;
    }
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(b"[");
    mac.update(timestamp.as_bytes());
    mac.update(b";");
    mac.update(body);
    mac.update(b"]");
    mac.verify_slice(&expected).is_ok()
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
