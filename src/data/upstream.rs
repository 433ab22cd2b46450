//! Calling a data source within a time budget: per-attempt timeouts below the caller's
//! deadline, retries with jittered exponential backoff on transient failures, and rate
//! limits (429 / Retry-After) honoured when the wait fits the budget.

use std::time::{Duration, Instant};

use super::budget::{Budget, Purpose, Refusal};
use super::source::{DataSource, SourceError};
use super::{Record, ScopeKind};

/// How a source is called and how long its answers are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePolicy {
    /// How long a fetched record is served from the cache.
    pub ttl: Duration,
    /// How long "no such contact/session" is remembered.
    pub not_found_ttl: Duration,
    /// How long after expiry a record may still be served when the source fails.
    pub stale_grace: Duration,
    /// The longest one attempt may take.
    pub timeout: Duration,
    /// Further attempts after a transient failure.
    pub retries: u32,
    /// How long before the end of its time to live a read entry is refreshed in the
    /// background (`refresh_ahead`, a share of `ttl`); zero: never.
    pub refresh_ahead: Duration,
}

impl SourcePolicy {
    /// Defaults for remote sources (Crisp, gRPC).
    pub fn remote() -> Self {
        SourcePolicy {
            ttl: Duration::from_secs(300),
            not_found_ttl: Duration::from_secs(30),
            stale_grace: Duration::from_secs(600),
            timeout: Duration::from_secs(2),
            retries: 2,
            refresh_ahead: Duration::from_secs(60),
        }
    }

    /// Defaults for the in-memory file source: it cannot fail, so keep its scopes long.
    pub fn local() -> Self {
        SourcePolicy {
            ttl: Duration::from_secs(3600),
            not_found_ttl: Duration::from_secs(60),
            stale_grace: Duration::ZERO,
            timeout: Duration::from_secs(1),
            retries: 0,
            refresh_ahead: Duration::from_secs(360),
        }
    }

    /// Without a caller deadline, a fetch gives up after every attempt had its full
    /// timeout, plus one second for backoff and rate-limit waits.
    fn default_budget(&self) -> Duration {
        self.timeout * (self.retries + 1) + Duration::from_secs(1)
    }
}

/// Why a fetch (all attempts included) produced no record.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchFailure {
    NotFound,
    /// The source failed; the message says how.
    Unavailable(String),
    /// The source rejected our credentials.
    Unauthorized(String),
    /// The source says we are configured wrongly; the message says what to fix.
    Misconfigured(String),
    /// The caller's deadline came first.
    DeadlineExceeded(String),
    /// Not sent: the source's request budget had no room, or a 429 paused it.
    Dropped(Refusal, String),
}

const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Fetches one record, retrying as the policy allows, never past `deadline`, each attempt
/// taking its requests from `budget` first. Background work (`purpose`) makes one attempt,
/// already paid for in the budget by the caller.
#[allow(clippy::too_many_arguments)]
pub async fn fetch(
    source: &dyn DataSource,
    policy: &SourcePolicy,
    budget: &Budget,
    purpose: Purpose,
    kind: ScopeKind,
    workspace_id: &str,
    id: &str,
    deadline: Option<Instant>,
) -> Result<Record, FetchFailure> {
    let retries = if purpose.is_background() {
        0
    } else {
        policy.retries
    };
    let started = Instant::now();
    let budget_end = match deadline {
        Some(deadline) => deadline.min(started + policy.default_budget()),
        None => started + policy.default_budget(),
    };
    // Whether running out of time is the caller's deadline (DEADLINE_EXCEEDED) or our own
    // budget for this source (UNAVAILABLE).
    let deadline_binds = deadline.is_some_and(|d| d <= budget_end);
    let out_of_time = |last: &str| {
        if deadline_binds {
            deadline_failure(source, started)
        } else {
            FetchFailure::Unavailable(format!(
                "the {} source failed: {last}; gave up after {}",
                source.name(),
                humantime::format_duration(round_ms(started.elapsed()))
            ))
        }
    };
    let mut attempt: u32 = 0;
    loop {
        let now = Instant::now();
        let remaining = budget_end.saturating_duration_since(now);
        if remaining.is_zero() {
            return Err(out_of_time("no answer"));
        }
        // Background work was paid for by its caller, before it was spawned (so that a
        // refusal is known at once), and makes this one attempt.
        let paid = purpose.is_background() && attempt == 0;
        if !paid
            && let Err(refusal) = budget
                .acquire(purpose, source.requests(kind), budget_end)
                .await
        {
            return Err(FetchFailure::Dropped(
                refusal,
                match refusal {
                    Refusal::Budget => format!(
                        "the {} source's request budget (requests_per_minute in [{}] of --data-sources) had no room in time",
                        source.name(),
                        budget.table()
                    ),
                    Refusal::Paused => format!(
                        "the {} source asked us to slow down (HTTP 429) and its Retry-After has not passed",
                        source.name()
                    ),
                },
            ));
        }
        let now = Instant::now();
        let remaining = budget_end.saturating_duration_since(now);
        if remaining.is_zero() {
            return Err(out_of_time("no answer"));
        }
        let cut_by_deadline = deadline_binds && remaining < policy.timeout;
        let attempt_timeout = policy.timeout.min(remaining);
        let outcome = tokio::time::timeout(
            attempt_timeout,
            source.fetch(kind, workspace_id, id, attempt_timeout),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::Transient(format!(
                "no answer within {}",
                humantime::format_duration(attempt_timeout)
            )))
        });
        crate::telemetry::record_upstream(
            source.name(),
            match &outcome {
                Ok(_) => "ok",
                Err(SourceError::NotFound) => "not_found",
                Err(SourceError::Unauthorized(_)) => "unauthorized",
                Err(SourceError::Misconfigured(_)) => "misconfigured",
                Err(SourceError::RateLimited(_)) => "rate_limited",
                Err(SourceError::Transient(_)) => "transient_error",
                Err(SourceError::Fatal(_)) => "error",
            },
            now.elapsed(),
        );
        let error = match outcome {
            Ok(record) => return Ok(record),
            Err(error) => error,
        };
        let wait = match &error {
            SourceError::NotFound => return Err(FetchFailure::NotFound),
            SourceError::Unauthorized(message) => {
                return Err(FetchFailure::Unauthorized(message.clone()));
            }
            SourceError::Misconfigured(message) => {
                return Err(FetchFailure::Misconfigured(message.clone()));
            }
            SourceError::Fatal(message) => {
                return Err(FetchFailure::Unavailable(format!(
                    "the {} source failed: {message}",
                    source.name()
                )));
            }
            SourceError::Transient(_) if cut_by_deadline => {
                return Err(deadline_failure(source, started));
            }
            SourceError::Transient(message) => {
                if attempt >= retries {
                    return Err(FetchFailure::Unavailable(format!(
                        "the {} source failed after {} attempt(s): {message}",
                        source.name(),
                        attempt + 1
                    )));
                }
                backoff(attempt)
            }
            SourceError::RateLimited(retry_after) => {
                let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                // The whole source slows down, not only this fetch.
                budget.pause(wait);
                if purpose.is_background()
                    || attempt >= retries.max(1)
                    || Instant::now() + wait >= budget_end
                {
                    return Err(FetchFailure::Unavailable(format!(
                        "the {} source is rate limiting us (retry after {}); not waiting that long",
                        source.name(),
                        humantime::format_duration(wait)
                    )));
                }
                wait
            }
        };
        if Instant::now() + wait >= budget_end {
            return Err(out_of_time(&describe(&error)));
        }
        tracing::debug!(source = source.name(), attempt, ?wait, ?error, "retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn describe(error: &SourceError) -> String {
    match error {
        SourceError::NotFound => "not found".into(),
        SourceError::Transient(m)
        | SourceError::Unauthorized(m)
        | SourceError::Misconfigured(m)
        | SourceError::Fatal(m) => m.clone(),
        SourceError::RateLimited(_) => "rate limited".into(),
    }
}

fn deadline_failure(source: &dyn DataSource, started: Instant) -> FetchFailure {
    FetchFailure::DeadlineExceeded(format!(
        "the {} source did not answer within the request's deadline ({} spent)",
        source.name(),
        humantime::format_duration(round_ms(started.elapsed()))
    ))
}

/// Full jitter: a random wait up to an exponentially growing ceiling, so that many
/// callers retrying together spread out instead of arriving in waves.
pub(super) fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(millis / 2 + fastrand::u64(0..=millis / 2))
}

fn round_ms(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 0..40 {
            let wait = backoff(attempt);
            let ceiling = BACKOFF_BASE
                .saturating_mul(1u32 << attempt.min(16))
                .min(BACKOFF_CAP);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
        }
    }
}
